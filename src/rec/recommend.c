/*
 * recommend.c — what a trained model is for: scoring every item against a
 * query vector (dot or cosine), bounded top-k selection, recommendations
 * for a user, the nearest items of an item, and folding a new user in
 * without retraining (ridge least squares with the item embeddings fixed).
 *
 * Why in the library: these are the model's read-only uses; the tool
 * (tools/cmd_recommend.c) only maps titles and raw ids to dense indices.
 *
 * Biases: on a model trained with cfg.bias, rows carry two extra lanes,
 * (b_u, 1) in U and (1, b_i) in V. A user's dot score keeps them (it is
 * the predicted rating b_u + b_i + <u, v_i>); cosine scores and item-item
 * scores use the k embedding lanes only.
 *
 * Numerics and determinism: every score is one kernel dot product (the
 * float lane order documented in kern_priv.h, identical for the reference
 * and AVX2 sets); cosine divides it by norms summed in double in index
 * order (as mfr_model_norms does). Items are scored
 * one after another in index order on the calling thread, and the top-k
 * order is total (score, then index), so results never depend on threads
 * or timing. Fold-in accumulates its normal equations in double in rating
 * order and solves them with an unpivoted Cholesky factorization.
 *
 * Memory: top-k uses the caller's output arrays as its heap; the only
 * allocations are a padded copy of the query and the d x d system of a
 * fold-in, once per call, never inside a loop.
 */
#include <math.h>
#include <string.h>

#include "kern_priv.h"
#include "model_priv.h"
#include "softmax_priv.h"
#include "topk_priv.h"

/* ------------------------------------------------------------------ */
/* Top-k selection                                                      */
/* ------------------------------------------------------------------ */

/* The smaller of a and b. */
static int32_t min_i32(int32_t a, int32_t b) { return a < b ? a : b; }

int mfr_scores_top_k(const float *scores, int32_t n, int32_t n_top, const uint8_t *exclude,
                     int32_t *idx_out, float *scores_out, int32_t *n_out, mfr_error *err)
{
    if (!n_out || !idx_out || (!scores && n > 0))
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_scores_top_k: %s is NULL",
                          !n_out ? "n_out" : !idx_out ? "idx_out" : "scores");
    *n_out = 0;
    if (n < 0) return mfr_seterr(err, MFR_ERR_INVALID, "top-k: n must be >= 0, got %d", (int)n);
    if (n_top < 1)
        return mfr_seterr(err, MFR_ERR_INVALID, "top-k: n_top (the list length) must be >= 1, got %d",
                          (int)n_top);
    if (n == 0) return MFR_OK;

    struct mfr_topk t;
    int rc = mfr_topk_begin(&t, idx_out, scores_out, min_i32(n_top, n), err);
    if (rc != MFR_OK) return rc;
    for (int32_t i = 0; i < n; i++)
        if (!exclude || !exclude[i]) mfr_topk_offer(&t, scores[i], i);
    *n_out = mfr_topk_end(&t);
    return MFR_OK;
}

/* ------------------------------------------------------------------ */
/* Scoring                                                              */
/* ------------------------------------------------------------------ */

/* One query against the model's item rows, through a padded, aligned copy
 * q of the query (k_pad floats, owned): lanes [0, k) hold the embedding;
 * for a dot score on a model with biases lanes k and k + 1 hold (b_u, 1),
 * so <q, V_i> = <u, v_i> + b_u + b_i is the predicted rating; otherwise
 * every lane from k on is zero and the dot covers the embedding only. */
struct scorer {
    float *q;
    const float *V;
    int32_t k, k_pad;
    int measure;
    double q_norm; /* |u| over the k embedding lanes; cosine only */
    void (*dot_rows)(const float *restrict q, const float *restrict rows, int32_t k_pad, int64_t n,
                     float *restrict out);
};

/* Items are scored this many at a time into a buffer on the stack. */
enum { SCORE_BLOCK = 256 };

int mfr_measure_check(int measure, mfr_error *err)
{
    if (measure == MFR_MEASURE_DOT || measure == MFR_MEASURE_COSINE) return MFR_OK;
    return mfr_seterr(err, MFR_ERR_INVALID, "measure must be %d (dot) or %d (cosine), got %d",
                      MFR_MEASURE_DOT, MFR_MEASURE_COSINE, measure);
}

/* Euclidean norm of the first k floats of x, summed in double in index
 * order (as mfr_model_norms does). */
static double emb_norm(const float *x, int32_t k)
{
    double s = 0.0;
    for (int32_t j = 0; j < k; j++) s += (double)x[j] * (double)x[j];
    return sqrt(s);
}

/* Prepares s for query embedding `emb` (k floats); `with_bias` (a dot score
 * on a model with biases) adds the lanes (user_bias, 1). Checks the measure
 * first; MFR_ERR_NOMEM when the copy cannot be allocated. */
static int scorer_begin(struct scorer *s, const mfr_model *m, const float *emb, bool with_bias,
                        float user_bias, int measure, mfr_error *err)
{
    int rc = mfr_measure_check(measure, err);
    if (rc != MFR_OK) return rc;
    const struct mfr_kernel_set *ks = mfr_kernels_select(MFR_KERNELS_AUTO, NULL);
    MFR_ASSERT(ks != NULL); /* AUTO always has a set */
    s->q = mfr_aligned_calloc((size_t)m->k_pad * sizeof *s->q);
    if (!s->q)
        return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory for a %d-float query",
                          (int)m->k_pad);
    memcpy(s->q, emb, (size_t)m->k * sizeof *s->q);
    if (with_bias && measure == MFR_MEASURE_DOT && m->cfg.bias) {
        s->q[mfr_lane_user_bias(m->k)] = user_bias;
        s->q[mfr_lane_user_one(m->k)] = 1.0f;
    }
    s->V = m->V;
    s->k = m->k;
    s->k_pad = m->k_pad;
    s->measure = measure;
    s->dot_rows = ks->dot_rows;
    s->q_norm = measure == MFR_MEASURE_COSINE ? emb_norm(s->q, m->k) : 0.0;
    return MFR_OK;
}

static void scorer_end(struct scorer *s)
{
    mfr_aligned_free(s->q);
    s->q = NULL;
}

/* <x, y> over the first k floats, in double in index order: the dot where
 * the float one overflowed. */
static double emb_dot(const float *x, const float *y, int32_t k)
{
    double s = 0.0;
    for (int32_t j = 0; j < k; j++) s += (double)x[j] * (double)y[j];
    return s;
}

void mfr_dot_scores_fix_overflow(const float *q, const float *v, int32_t k_pad, int32_t n, float *out)
{
    for (int32_t j = 0; j < n; j++) /* the padding lanes are zero */
        if (!isfinite(out[j])) out[j] = (float)emb_dot(q, v + (size_t)j * (size_t)k_pad, k_pad);
}

/* The scores of items [first, first + n) into out: the kernel's <q, V_i>
 * for dot (the dot kernel's bits, eight rows at a time); for cosine that
 * dot (embedding lanes only) / (|u| |v_i|) in double, rounded to float, and
 * 0 when either norm is zero or not finite. Finite rows of huge values
 * (1e20) have finite norms but a float dot of inf or NaN, which scored
 * +-inf or NaN instead of a cosine: such a dot is taken in double. A dot
 * score is then that value rounded, +-inf by its true sign (NaN ranked it
 * last). Every finite float dot keeps its bits. */
static void scorer_items(const struct scorer *s, int32_t first, int32_t n, float *out)
{
    const float *v = s->V + (size_t)first * (size_t)s->k_pad;
    s->dot_rows(s->q, v, s->k_pad, n, out);
    if (s->measure == MFR_MEASURE_DOT) {
        mfr_dot_scores_fix_overflow(s->q, v, s->k_pad, n, out);
        return;
    }
    const bool q_ok = s->q_norm > 0.0 && isfinite(s->q_norm);
    for (int32_t j = 0; j < n; j++, v += s->k_pad) {
        double vn = emb_norm(v, s->k);
        if (!q_ok || !(vn > 0.0) || !isfinite(vn)) {
            out[j] = 0.0f;
            continue;
        }
        const double dot = isfinite(out[j]) ? (double)out[j] : emb_dot(s->q, v, s->k);
        out[j] = (float)(dot / (s->q_norm * vn));
    }
}

/* Checks the shared arguments of the top-k entry points. */
static int check_topk_args(const char *fn, const mfr_model *m, int32_t n_top,
                           const int32_t *items_out, const int32_t *n_out, mfr_error *err)
{
    if (!m || !items_out || !n_out)
        return mfr_seterr(err, MFR_ERR_INVALID, "%s: %s is NULL", fn,
                          !m ? "model" : !items_out ? "items_out" : "n_out");
    if (n_top < 1)
        return mfr_seterr(err, MFR_ERR_INVALID, "%s: n_top (the list length) must be >= 1, got %d", fn,
                          (int)n_top);
    return MFR_OK;
}

/* One query of rank_group: its embedding (k floats), its bias (a user's
 * dot ranking on a model with biases) and its outputs. */
struct rank_query {
    const float *emb;
    float user_bias;
    int32_t *items_out;
    float *scores_out;
    int32_t *n_out;
};

/* Streams every item's score into a bounded heap over each query's outputs,
 * for n_q <= MFR_RANK_GROUP queries at once: V is scored a block of items
 * at a time, each block for every query before the next, so the block is
 * read from memory once for the group rather than once per query. Each
 * query is offered the same scores in the same order as alone, so its list
 * is the same. Item `skip` (or -1) is left out, and item i for query g
 * when exclude && (exclude[i] & masks[g]). A user's dot ranking
 * (with_bias) on a model with a ranking prior adds each item's offset. */
static int rank_group(const mfr_model *m, const struct rank_query *qs, int32_t n_q, bool with_bias,
                      int32_t n_top, int measure, const uint8_t *exclude, const uint8_t *masks,
                      int32_t skip, mfr_error *err)
{
    MFR_ASSERT(n_q >= 1 && n_q <= MFR_RANK_GROUP);
    const float *offset = NULL;
    if (with_bias && measure == MFR_MEASURE_DOT && m->cfg.rank_prior > 0.0 && !m->sm) {
        if (!m->rank_offset)
            return mfr_seterr(err, MFR_ERR_INVALID,
                              "the model ranks with a popularity prior (rank_prior %g) and needs its "
                              "movies' training-rating counts first (mfr_model_set_item_counts)",
                              m->cfg.rank_prior);
        offset = m->rank_offset;
    }
    struct scorer s[MFR_RANK_GROUP];
    struct mfr_topk t[MFR_RANK_GROUP];
    int rc = MFR_OK;
    int32_t begun = 0;
    for (; begun < n_q; begun++) {
        const struct rank_query *q = &qs[begun];
        if ((rc = scorer_begin(&s[begun], m, q->emb, with_bias, q->user_bias, measure, err)) != MFR_OK) break;
        rc = mfr_topk_begin(&t[begun], q->items_out, q->scores_out, min_i32(n_top, m->n_items), err);
        if (rc != MFR_OK) {
            scorer_end(&s[begun]);
            break;
        }
    }
    float sc[SCORE_BLOCK];
    int32_t pos[SCORE_BLOCK];
    for (int32_t i0 = 0; rc == MFR_OK && i0 < m->n_items; i0 += SCORE_BLOCK) {
        const int32_t n = min_i32(SCORE_BLOCK, m->n_items - i0);
        for (int32_t g = 0; g < n_q; g++) {
            scorer_items(&s[g], i0, n, sc);
            if (offset)
                for (int32_t j = 0; j < n; j++) sc[j] += offset[i0 + j];
            const int32_t n_cand = mfr_topk_candidates(&t[g], sc, n, pos);
            for (int32_t c = 0; c < n_cand; c++) {
                const int32_t i = i0 + pos[c];
                if (i == skip || (exclude && (exclude[i] & masks[g]))) continue;
                mfr_topk_offer(&t[g], sc[pos[c]], i);
            }
        }
    }
    for (int32_t g = 0; g < begun; g++) {
        const int32_t kept = mfr_topk_end(&t[g]);
        if (rc == MFR_OK) *qs[g].n_out = kept;
        scorer_end(&s[g]);
    }
    return rc;
}

/* rank_group for one query; any nonzero exclude[i] leaves item i out. */
static int rank_items(const mfr_model *m, const float *emb, bool with_bias, float user_bias,
                      int32_t n_top, int measure, const uint8_t *exclude, int32_t skip,
                      int32_t *items_out, float *scores_out, int32_t *n_out, mfr_error *err)
{
    const struct rank_query q = {emb, user_bias, items_out, scores_out, n_out};
    const uint8_t any = 0xff;
    return rank_group(m, &q, 1, with_bias, n_top, measure, exclude, &any, skip, err);
}

int mfr_model_score_items(const mfr_model *m, const float *query, int measure,
                          float *scores_out, mfr_error *err)
{
    if (!m || !query || !scores_out)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_model_score_items: %s is NULL",
                          !m ? "model" : !query ? "query" : "scores_out");
    struct scorer s;
    int rc = scorer_begin(&s, m, query, false, 0.0f, measure, err);
    if (rc != MFR_OK) return rc;
    scorer_items(&s, 0, m->n_items, scores_out);
    scorer_end(&s);
    return MFR_OK;
}

/* The query of user `user`'s ranking: the row of U and its bias lane. */
static struct rank_query user_query(const mfr_model *m, int32_t user, int32_t *items_out,
                                    float *scores_out, int32_t *n_out)
{
    const float *row = m->U + (size_t)user * (size_t)m->k_pad;
    return (struct rank_query){row, m->cfg.bias ? row[mfr_lane_user_bias(m->k)] : 0.0f, items_out,
                               scores_out, n_out};
}

int mfr_model_recommend(const mfr_model *m, int32_t user, int32_t n_top, int measure,
                        const uint8_t *exclude, int32_t *items_out, float *scores_out,
                        int32_t *n_out, mfr_error *err)
{
    int rc = check_topk_args("mfr_model_recommend", m, n_top, items_out, n_out, err);
    if (rc != MFR_OK) return rc;
    *n_out = 0;
    if (user < 0 || user >= m->n_users)
        return mfr_seterr(err, MFR_ERR_INVALID, "user index %d is outside the model's 0..%d",
                          (int)user, (int)m->n_users - 1);
    const struct rank_query q = user_query(m, user, items_out, scores_out, n_out);
    return rank_items(m, q.emb, true, q.user_bias, n_top, measure, exclude, -1, items_out,
                      scores_out, n_out, err);
}

int mfr_model_recommend_group(const mfr_model *m, const int32_t *users, int32_t n_users, int32_t n_top,
                              int measure, const uint8_t *exclude, const uint8_t *masks,
                              int32_t *const *items_out, float *const *scores_out, int32_t *n_out,
                              mfr_error *err)
{
    struct rank_query q[MFR_RANK_GROUP];
    for (int32_t g = 0; g < n_users; g++) {
        MFR_ASSERT(users[g] >= 0 && users[g] < m->n_users);
        n_out[g] = 0;
        q[g] = user_query(m, users[g], items_out[g], scores_out ? scores_out[g] : NULL, &n_out[g]);
    }
    return rank_group(m, q, n_users, true, n_top, measure, exclude, masks, -1, err);
}

int mfr_model_recommend_vector(const mfr_model *m, const float *user_vec, float user_bias,
                               int32_t n_top, int measure, const uint8_t *exclude,
                               int32_t *items_out, float *scores_out, int32_t *n_out,
                               mfr_error *err)
{
    int rc = check_topk_args("mfr_model_recommend_vector", m, n_top, items_out, n_out, err);
    if (rc != MFR_OK) return rc;
    *n_out = 0;
    if (!user_vec)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_model_recommend_vector: user_vec is NULL");
    return rank_items(m, user_vec, true, user_bias, n_top, measure, exclude, -1, items_out,
                      scores_out, n_out, err);
}

int mfr_model_similar_items(const mfr_model *m, int32_t item, int32_t n_top, int measure,
                            int32_t *items_out, float *scores_out, int32_t *n_out,
                            mfr_error *err)
{
    int rc = check_topk_args("mfr_model_similar_items", m, n_top, items_out, n_out, err);
    if (rc != MFR_OK) return rc;
    *n_out = 0;
    if (item < 0 || item >= m->n_items)
        return mfr_seterr(err, MFR_ERR_INVALID, "item index %d is outside the model's 0..%d",
                          (int)item, (int)m->n_items - 1);
    const float *row = m->V + (size_t)item * (size_t)m->k_pad;
    return rank_items(m, row, false, 0.0f, n_top, measure, NULL, item, items_out, scores_out,
                      n_out, err);
}

/* ------------------------------------------------------------------ */
/* Fold-in                                                              */
/* ------------------------------------------------------------------ */

/* Factors the symmetric d x d matrix whose lower triangle is in a (row
 * major) into L L^T in place (lower triangle). Returns the first column
 * whose pivot is not positive relative to the original diagonal (1e-12),
 * or -1 on success. */
static int32_t cholesky_lower(double *a, int32_t d)
{
    for (int32_t j = 0; j < d; j++) {
        double *rj = a + (size_t)j * (size_t)d;
        double diag = rj[j];
        double s = diag;
        for (int32_t p = 0; p < j; p++) s -= rj[p] * rj[p];
        if (!(s > 1e-12 * fabs(diag)) || !isfinite(s)) return j;
        double l = sqrt(s);
        rj[j] = l;
        for (int32_t i = j + 1; i < d; i++) {
            double *ri = a + (size_t)i * (size_t)d;
            double t = ri[j];
            for (int32_t p = 0; p < j; p++) t -= ri[p] * rj[p];
            ri[j] = t / l;
        }
    }
    return -1;
}

/* Checks the arguments of a fold-in: pointers, n, lambda, then every
 * (item, rating) pair in order, naming the first bad one. */
static int fold_in_check(const char *fn, const mfr_model *m, const int32_t *items,
                         const float *ratings, int32_t n, double lambda, const float *user_vec_out,
                         mfr_error *err)
{
    if (!m || !user_vec_out || (n > 0 && (!items || !ratings)))
        return mfr_seterr(err, MFR_ERR_INVALID, "%s: %s is NULL", fn,
                          !m ? "model" : !user_vec_out ? "user_vec_out"
                                         : !items     ? "items"
                                                      : "ratings");
    if (n < 0)
        return mfr_seterr(err, MFR_ERR_INVALID, "fold-in: n must be >= 0, got %d", (int)n);
    if (!isfinite(lambda) || lambda < 0.0)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "fold-in: lambda must be a finite number >= 0, got %g", lambda);
    for (int32_t j = 0; j < n; j++) {
        if (items[j] < 0 || items[j] >= m->n_items)
            return mfr_seterr(err, MFR_ERR_INVALID,
                              "fold-in: rating %d names item index %d, outside the model's "
                              "0..%d",
                              (int)j, (int)items[j], (int)m->n_items - 1);
        if (!isfinite(ratings[j]))
            return mfr_seterr(err, MFR_ERR_INVALID, "fold-in: rating %d (item index %d) is %g",
                              (int)j, (int)items[j], (double)ratings[j]);
    }
    return MFR_OK;
}

/* Implicit feedback: the fixed offset o = n^-1/2 sum_j Y_items[j] (k
 * doubles, zeroed on entry) over the n rated movies whose rating is at
 * least min_rating (-inf: all), summed in double in rating order. */
static void fold_in_offset(const mfr_model *m, const int32_t *items, const float *ratings, int32_t n,
                           double min_rating, double *o)
{
    const int32_t k = m->k;
    int32_t used = 0;
    for (int32_t j = 0; j < n; j++) {
        if (!((double)ratings[j] >= min_rating)) continue;
        used++;
        const float *y = m->Y + (size_t)items[j] * (size_t)m->k_pad;
        for (int32_t x = 0; x < k; x++) o[x] += (double)y[x];
    }
    if (used == 0) return;
    double c = 1.0 / sqrt((double)used);
    for (int32_t x = 0; x < k; x++) o[x] *= c;
}

/* The mean of the training users' free parameters, U (P with implicit
 * feedback), added to o (k doubles), summed in double in user order. The
 * fold-in shrinks towards it rather than towards zero: a model without
 * biases keeps the mean rating in its vectors, and with a zero prior the
 * vector of a user who rates everything 1 is that of one who rates it 5,
 * scaled, which ranks the catalogue the same way. */
static void fold_in_mean_user(const mfr_model *m, double *o)
{
    const int32_t k = m->k;
    const float *rows = m->Y ? m->P : m->U;
    double *mean = o + k; /* scratch: the k doubles after o */
    for (int32_t x = 0; x < k; x++) mean[x] = 0.0;
    for (int32_t u = 0; u < m->n_users; u++) {
        const float *row = rows + (size_t)u * (size_t)m->k_pad;
        for (int32_t x = 0; x < k; x++) mean[x] += (double)row[x];
    }
    if (m->n_users > 0)
        for (int32_t x = 0; x < k; x++) o[x] += mean[x] / (double)m->n_users;
}

/* The normal equations of the d unknowns: A = lambda I + sum_j x_j x_j^T
 * (lower triangle of a, d x d, zeroed on entry) and b = sum_j t_j x_j, in
 * rating order. x_j is item j's embedding, plus a constant 1 when d > k
 * (the b_u column). The solution is shifted by o, so t_j is the target
 * less <o, v_j>: r_j, less b_i when d > k. Centred (a ranking model, mid
 * the middle of the rating range): r_j + s (r_j - mid) when r_j >= mid,
 * and <o, v_j> - s (mid - r_j) below it, s = MFR_FOLD_IN_STRETCH. xr: d
 * doubles of scratch. */
static void fold_in_normal_equations(const mfr_model *m, const int32_t *items,
                                     const float *ratings, int32_t n, double lambda,
                                     bool centred, double mid, int32_t d, const double *o,
                                     double *a, double *b, double *xr)
{
    const int32_t k = m->k;
    for (int32_t x = 0; x < d; x++) a[(size_t)x * (size_t)d + (size_t)x] = lambda;
    for (int32_t j = 0; j < n; j++) {
        const float *v = m->V + (size_t)items[j] * (size_t)m->k_pad;
        const double r = (double)ratings[j];
        for (int32_t x = 0; x < k; x++) xr[x] = (double)v[x];
        double t;
        if (centred && r < mid) { /* below where the average user has it */
            t = -MFR_FOLD_IN_STRETCH * (mid - r);
        } else {
            t = centred ? r + MFR_FOLD_IN_STRETCH * (r - mid) : r;
            for (int32_t x = 0; x < k; x++) t -= o[x] * xr[x];
        }
        if (d > k) {
            xr[k] = 1.0;
            t -= (double)v[mfr_lane_item_bias(k)];
        }
        for (int32_t x = 0; x < d; x++) {
            double *row = a + (size_t)x * (size_t)d;
            b[x] += t * xr[x];
            for (int32_t y = 0; y <= x; y++) row[y] += xr[x] * xr[y];
        }
    }
}

/* Solves L L^T u = b in place in b, L the lower triangle of a (d x d):
 * L y = b forward, then L^T u = y backward. */
static void cholesky_solve(const double *a, int32_t d, double *b)
{
    for (int32_t x = 0; x < d; x++) {
        const double *row = a + (size_t)x * (size_t)d;
        double t = b[x];
        for (int32_t p = 0; p < x; p++) t -= row[p] * b[p];
        b[x] = t / row[x];
    }
    for (int32_t x = d - 1; x >= 0; x--) {
        double t = b[x];
        for (int32_t p = x + 1; p < d; p++) t -= a[(size_t)p * (size_t)d + (size_t)x] * b[p];
        b[x] = t / a[(size_t)x * (size_t)d + (size_t)x];
    }
}

int mfr_model_predicts_ratings(const mfr_model *m)
{
    if (!m || m->sm) return 0;
    return m->cfg.bias ||
           (m->cfg.gravity < MFR_RANKING_GRAVITY && m->cfg.gravity_bias < MFR_RANKING_GRAVITY);
}

static int fold_in(const char *fn, const mfr_model *m, const int32_t *items, const float *ratings,
                   int32_t n, double lambda, float rating_lo, float rating_hi,
                   float *user_vec_out, float *user_bias_out, mfr_error *err);

int mfr_model_fold_in(const mfr_model *m, const int32_t *items, const float *ratings,
                      int32_t n, double lambda, float *user_vec_out, float *user_bias_out,
                      mfr_error *err)
{
    return fold_in("mfr_model_fold_in", m, items, ratings, n, lambda, NAN, NAN, user_vec_out,
                   user_bias_out, err);
}

int mfr_model_fold_in_range(const mfr_model *m, const int32_t *items, const float *ratings,
                            int32_t n, double lambda, float rating_lo, float rating_hi,
                            float *user_vec_out, float *user_bias_out, mfr_error *err)
{
    return fold_in("mfr_model_fold_in_range", m, items, ratings, n, lambda, rating_lo, rating_hi,
                   user_vec_out, user_bias_out, err);
}

/* rating_lo and rating_hi NaN (from mfr_model_fold_in): the range is
 * unknown and every model folds in the ratings as they are. fn names the
 * public function in messages about its pointers. */
static int fold_in(const char *fn, const mfr_model *m, const int32_t *items, const float *ratings,
                   int32_t n, double lambda, float rating_lo, float rating_hi,
                   float *user_vec_out, float *user_bias_out, mfr_error *err)
{
    int rc = fold_in_check(fn, m, items, ratings, n, lambda, user_vec_out, err);
    if (rc != MFR_OK) return rc;
    const bool ranged = !isnan(rating_lo) || !isnan(rating_hi);
    if (ranged && !(isfinite(rating_lo) && isfinite(rating_hi) && rating_lo < rating_hi))
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "fold-in: the rating range [%g, %g] is not finite with lo < hi",
                          (double)rating_lo, (double)rating_hi);
    /* a ranking model: the ratings count from the middle of the range */
    const bool centred = ranged && !mfr_model_predicts_ratings(m);
    const double mid = centred ? ((double)rating_lo + (double)rating_hi) / 2.0 : 0.0;
    if (m->sm) { /* softmax: the watched movies are the features, no solve */
        rc = mfr_sm_net_user(m->sm, items, n, user_vec_out, err);
        if (rc == MFR_OK && user_bias_out) *user_bias_out = 0.0f; /* outputs only on success */
        return rc;
    }

    /* Unknowns: the k embedding floats, plus b_u on a model with biases,
     * whose design column is the constant 1 and whose target is r - b_i. */
    const int32_t k = m->k, d = k + (m->cfg.bias ? 1 : 0);
    size_t cells;
    if (!mfr_mul_size((size_t)d, (size_t)d + 4, &cells) ||
        !mfr_mul_size(cells, sizeof(double), &cells))
        return mfr_seterr(err, MFR_ERR_TOO_LARGE, "fold-in: a %d x %d system overflows",
                          (int)d, (int)d);
    /* d x d matrix, the d-vector b, one design row x, the offset o (and k
     * doubles of scratch after it): d + 4 rows of d */
    double *a = mfr_calloc(1, cells);
    if (!a)
        return mfr_seterr(err, MFR_ERR_NOMEM, "fold-in: out of memory for a %d x %d system",
                          (int)d, (int)d);
    double *b = a + (size_t)d * (size_t)d;
    double *xr = b + d;
    double *o = xr + d;

    /* u = o + p, the ridge on p, the targets less <o, v_j>. o is the mean
     * training user's free parameters (P with implicit feedback, U
     * otherwise), so that the rating values, not only their scale, decide
     * the ranking; with implicit feedback plus the part fixed by which
     * movies were rated (training's own parameterization). */
    if (m->Y && n > 0) fold_in_offset(m, items, ratings, n, centred ? mid : -INFINITY, o);
    fold_in_mean_user(m, o);
    fold_in_normal_equations(m, items, ratings, n, lambda, centred, mid, d, o, a, b, xr);

    int32_t bad = cholesky_lower(a, d);
    if (bad >= 0) {
        rc = mfr_seterr(err, MFR_ERR_INVALID,
                        "fold-in: the normal equations are singular (pivot %d of %d) with %d "
                        "rating%s and lambda %g; use %s or rate more movies",
                        (int)bad, (int)d, (int)n, n == 1 ? "" : "s", lambda,
                        lambda > 0 ? "a larger lambda" : "lambda > 0");
        goto done;
    }
    cholesky_solve(a, d, b);
    for (int32_t x = 0; x < k; x++) b[x] += o[x];
    for (int32_t x = 0; x < d; x++) {
        if (!isfinite((float)b[x])) {
            rc = mfr_seterr(err, MFR_ERR_INVALID,
                            "fold-in: the solution is not finite in float (component %d = %g)",
                            (int)x, b[x]);
            goto done;
        }
    }
    for (int32_t x = 0; x < k; x++) user_vec_out[x] = (float)b[x];
    if (user_bias_out) *user_bias_out = d > k ? (float)b[k] : 0.0f;
done:
    free(a);
    return rc;
}

double mfr_model_fold_in_lambda(const mfr_model *m, int64_t n_train, int32_t n_user_ratings)
{
    double lambda = MFR_FOLD_IN_LAMBDA_DEFAULT;
    if (!m) return lambda;
    if (n_train > 0 && m->cfg.l2 > 0.0)
        lambda += m->cfg.l2 * (double)n_train / (double)m->n_users;
    if (n_user_ratings > 0 && m->cfg.l2_freq > 0.0)
        lambda += m->cfg.l2_freq * (double)n_user_ratings;
    return lambda;
}
