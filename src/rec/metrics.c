/*
 * metrics.c — top-k ranking metrics of a model on held-out ratings
 * (precision@k, recall@k, NDCG@k, catalogue coverage) and the same metrics
 * for a most-popular baseline, so `mfrec eval` can say how well the model
 * recommends, not only how well it predicts ratings. The definitions are
 * documented with mfr_model_ranking in include/mfrec.h.
 *
 * DESIGN
 *   Per-user item sets come from two small CSR copies built here: the
 *   training items (excluded from the candidates) and the relevant test
 *   items. Membership is tested with "stamp" arrays over items that hold the
 *   last user who marked them, so no array is cleared between users.
 *
 *   Each evaluated user scores every candidate item (mfr_model_predict's
 *   value, so the ranking agrees with the predictions) and keeps the k best
 *   in the shared bounded heap of topk_priv.h, min(k, n_items) entries:
 *   O(n_items log k) per user, and the catalogue is never sorted. Its order
 *   is total (higher score first, then lower item index; NaN scores enter
 *   as -inf), so the lists do not depend on the scan order or on the heap's
 *   shape. The popularity baseline uses the same heap with training-rating
 *   counts as scores.
 *
 *   Single-threaded: ML-100K (943 users x 1682 items x k 30) is about 50M
 *   multiply-adds, a few tens of milliseconds. Per-user values are summed
 *   in double in user order, so the results are deterministic.
 *
 * Names: u user, i item, n_top list length (the k of precision@k),
 * kk = min(n_top, n_items) heap size, p 0-based list position.
 */
#include <math.h>
#include <string.h>

#include "dataset_priv.h"
#include "kern_priv.h"
#include "model_priv.h"
#include "ranking_priv.h"
#include "topk_priv.h"

/* Selects the best min(kk, candidates) items of score[0..n_items), skipping
 * items with excluded[i] == stamp, into list[] best first through the
 * shared top-k heap (heap_sc: kk floats of scratch); returns the list
 * length. NaN scores rank as -inf (then by item index). */
static int32_t topk_select(const float *score, const int32_t *excluded, int32_t stamp,
                           int32_t n_items, int32_t kk, float *heap_sc, int32_t *list)
{
    struct mfr_topk t;
    int rc = mfr_topk_begin(&t, list, heap_sc, kk, NULL);
    MFR_ASSERT(rc == MFR_OK); /* the scores live in heap_sc: nothing to allocate */
    for (int32_t i = 0; i < n_items; i++) {
        if (excluded[i] == stamp) continue;
        mfr_topk_push(&t, isnan(score[i]) ? -INFINITY : score[i], i);
    }
    return mfr_topk_end(&t);
}

/* Items of `r` grouped by user (counting sort, rating order kept within a
 * user); with relevant_only, only ratings >= MFR_RANKING_RELEVANT. */
struct by_user {
    int64_t *off; /* n_users + 1 */
    int32_t *item;
};

static void by_user_free(struct by_user *b)
{
    free(b->off);
    free(b->item);
}

static int by_user_build(const mfr_ratings *r, int32_t n_users, bool relevant_only,
                         struct by_user *b, mfr_error *err)
{
    size_t off_bytes, item_bytes;
    b->off = NULL;
    b->item = NULL;
    if (!mfr_mul_size((size_t)n_users + 1, sizeof *b->off, &off_bytes) ||
        !mfr_mul_size((size_t)r->n, sizeof *b->item, &item_bytes))
        return mfr_seterr(err, MFR_ERR_TOO_LARGE, "ranking: %lld ratings are too many",
                          (long long)r->n);
    b->off = mfr_calloc(1, off_bytes);
    b->item = mfr_malloc(item_bytes ? item_bytes : 1);
    if (!b->off || !b->item) {
        by_user_free(b);
        return mfr_seterr(err, MFR_ERR_NOMEM, "ranking: out of memory for %lld ratings",
                          (long long)r->n);
    }
    for (int64_t x = 0; x < r->n; x++)
        if (!relevant_only || r->rating[x] >= MFR_RANKING_RELEVANT) b->off[r->user[x] + 1]++;
    for (int32_t u = 0; u < n_users; u++) b->off[u + 1] += b->off[u];
    /* fill through a cursor per user: reuse off[u] shifted, then restore */
    for (int64_t x = 0; x < r->n; x++)
        if (!relevant_only || r->rating[x] >= MFR_RANKING_RELEVANT)
            b->item[b->off[r->user[x]]++] = r->item[x];
    for (int32_t u = n_users; u > 0; u--) b->off[u] = b->off[u - 1];
    b->off[0] = 0;
    return MFR_OK;
}

/* MFR_OK when every index of r is inside n_users x n_items; `what` names r. */
static int check_indices(int32_t n_users, int32_t n_items, const mfr_ratings *r, const char *what,
                         mfr_error *err)
{
    for (int64_t x = 0; x < r->n; x++) {
        if (r->user[x] < 0 || r->user[x] >= n_users)
            return mfr_seterr(err, MFR_ERR_MISMATCH,
                              "%s rating %lld: user index %d is outside the model's 0..%d", what,
                              (long long)x, (int)r->user[x], (int)n_users - 1);
        if (r->item[x] < 0 || r->item[x] >= n_items)
            return mfr_seterr(err, MFR_ERR_MISMATCH,
                              "%s rating %lld: item index %d is outside the model's 0..%d", what,
                              (long long)x, (int)r->item[x], (int)n_items - 1);
    }
    return MFR_OK;
}

/* Running sums of one recommender over the evaluated users. */
struct acc {
    double precision, recall, ndcg;
    uint8_t *covered; /* n_items flags */
};

/* Adds one user's list: hits against rel_mark == u, DCG by position. */
static void acc_add(struct acc *a, const int32_t *list, int32_t len, const int32_t *rel_mark,
                    int32_t u, int32_t n_rel, int32_t n_top, const double *discount,
                    const double *ideal)
{
    int32_t hits = 0;
    double dcg = 0.0;
    for (int32_t p = 0; p < len; p++) {
        a->covered[list[p]] = 1;
        if (rel_mark[list[p]] == u) {
            hits++;
            dcg += discount[p];
        }
    }
    int32_t n_ideal = n_rel < n_top ? n_rel : n_top;
    a->precision += (double)hits / (double)n_top;
    a->recall += (double)hits / (double)n_rel;
    a->ndcg += dcg / ideal[n_ideal];
}

static void acc_finish(const struct acc *a, int32_t n_top, int64_t users, int32_t n_items,
                       mfr_ranking *out)
{
    int64_t n_covered = 0;
    for (int32_t i = 0; i < n_items; i++) n_covered += a->covered[i];
    out->n_top = n_top;
    out->users = users;
    out->precision = users ? a->precision / (double)users : NAN;
    out->recall = users ? a->recall / (double)users : NAN;
    out->ndcg = users ? a->ndcg / (double)users : NAN;
    out->coverage = n_items ? (double)n_covered / (double)n_items : 0.0;
}

/* Everything one ranking evaluation allocates, freed by ranking_ws_free. */
struct ranking_ws {
    struct by_user tr, rel;   /* training items, relevant test items, by user */
    int32_t *train_mark;      /* n_items: last user whose training items hold i */
    int32_t *rel_mark;        /* n_items: last user for whom i is relevant */
    float *score, *pop;       /* n_items: model scores, training-rating counts */
    int32_t *list;            /* kk: one user's list, best first */
    float *heap_sc;           /* kk: the top-k heap's scores */
    double *discount, *ideal; /* kk, kk + 1: see ranking_ws_init */
    struct acc am, ap;        /* the model's and the baseline's sums */
};

static void ranking_ws_free(struct ranking_ws *w)
{
    by_user_free(&w->tr);
    by_user_free(&w->rel);
    free(w->train_mark);
    free(w->rel_mark);
    free(w->score);
    free(w->pop);
    free(w->list);
    free(w->heap_sc);
    free(w->discount);
    free(w->ideal);
    free(w->am.covered);
    free(w->ap.covered);
}

/* Allocates and fills the workspace: per-user item lists, unmarked stamps,
 * popularity counts (counted in float: exact up to 2^24 ratings of one
 * item), discount[p] = 1 / log2(p + 2) for 0-based position p and ideal[c]
 * = the sum of the first c discounts (the IDCG of c relevant items,
 * c <= kk). On failure the caller still calls ranking_ws_free. */
static int ranking_ws_init(struct ranking_ws *w, const mfr_ratings *train,
                           const mfr_ratings *test, int32_t n_users, int32_t n_items, int32_t n_top,
                           int32_t kk, mfr_error *err)
{
    int rc;
    if ((rc = by_user_build(train, n_users, false, &w->tr, err)) != MFR_OK) return rc;
    if ((rc = by_user_build(test, n_users, true, &w->rel, err)) != MFR_OK) return rc;
    size_t ni = (size_t)n_items + 1, nk = (size_t)kk + 1; /* +1: never mfr_malloc(0) */
    w->train_mark = mfr_malloc(ni * sizeof *w->train_mark);
    w->rel_mark = mfr_malloc(ni * sizeof *w->rel_mark);
    w->score = mfr_malloc(ni * sizeof *w->score);
    w->pop = mfr_calloc(ni, sizeof *w->pop);
    w->list = mfr_malloc(nk * sizeof *w->list);
    w->heap_sc = mfr_malloc(nk * sizeof *w->heap_sc);
    w->discount = mfr_malloc(nk * sizeof *w->discount);
    w->ideal = mfr_malloc(nk * sizeof *w->ideal);
    w->am.covered = mfr_calloc(ni, 1);
    w->ap.covered = mfr_calloc(ni, 1);
    if (!w->train_mark || !w->rel_mark || !w->score || !w->pop || !w->list || !w->heap_sc ||
        !w->discount || !w->ideal || !w->am.covered || !w->ap.covered)
        return mfr_seterr(err, MFR_ERR_NOMEM, "ranking: out of memory for %d items, n_top %d",
                          (int)n_items, (int)n_top);
    for (int32_t i = 0; i < n_items; i++) w->train_mark[i] = w->rel_mark[i] = -1;
    for (int64_t x = 0; x < train->n; x++) w->pop[train->item[x]] += 1.0f;
    w->ideal[0] = 0.0;
    for (int32_t p = 0; p < kk; p++) {
        w->discount[p] = 1.0 / log2((double)p + 2.0);
        w->ideal[p + 1] = w->ideal[p] + w->discount[p];
    }
    return MFR_OK;
}

/* Stamps user u's training items in train_mark and its distinct relevant
 * test items (those not among the training items) in rel_mark; returns how
 * many are relevant. */
static int32_t ranking_mark_user(struct ranking_ws *w, int32_t u)
{
    for (int64_t x = w->tr.off[u]; x < w->tr.off[u + 1]; x++) w->train_mark[w->tr.item[x]] = u;
    int32_t n_rel = 0;
    for (int64_t x = w->rel.off[u]; x < w->rel.off[u + 1]; x++) {
        int32_t i = w->rel.item[x];
        if (w->train_mark[i] != u && w->rel_mark[i] != u) {
            w->rel_mark[i] = u;
            n_rel++;
        }
    }
    return n_rel;
}

int mfr_ranking_run(const mfr_ratings *train, const mfr_ratings *test, int32_t n_users,
                    int32_t n_items, int32_t n_top, mfr_ranking_score_fn score, const void *ctx,
                    mfr_ranking *model_out, mfr_ranking *popularity_out, mfr_error *err)
{
    if (n_top < 1)
        return mfr_seterr(err, MFR_ERR_INVALID, "n_top (the list length) must be at least 1, got %d", (int)n_top);
    int rc = check_indices(n_users, n_items, train, "train", err);
    if (rc == MFR_OK) rc = check_indices(n_users, n_items, test, "test", err);
    if (rc != MFR_OK) return rc;
    if (!model_out && !popularity_out) return MFR_OK;

    const int32_t kk = n_top < n_items ? n_top : n_items;
    struct ranking_ws w = {0};
    rc = ranking_ws_init(&w, train, test, n_users, n_items, n_top, kk, err);
    if (rc != MFR_OK) goto done;

    int64_t users = 0;
    for (int32_t u = 0; u < n_users; u++) {
        int32_t n_rel = ranking_mark_user(&w, u);
        if (n_rel == 0) continue;
        users++;
        if (model_out) {
            score(ctx, u, w.tr.item + w.tr.off[u], w.tr.off[u + 1] - w.tr.off[u], w.train_mark,
                  w.score);
            int32_t len = topk_select(w.score, w.train_mark, u, n_items, kk, w.heap_sc, w.list);
            acc_add(&w.am, w.list, len, w.rel_mark, u, n_rel, n_top, w.discount, w.ideal);
        }
        if (popularity_out) {
            int32_t len = topk_select(w.pop, w.train_mark, u, n_items, kk, w.heap_sc, w.list);
            acc_add(&w.ap, w.list, len, w.rel_mark, u, n_rel, n_top, w.discount, w.ideal);
        }
    }
    if (model_out) acc_finish(&w.am, n_top, users, n_items, model_out);
    if (popularity_out) acc_finish(&w.ap, n_top, users, n_items, popularity_out);

done:
    ranking_ws_free(&w);
    return rc;
}

/* The model and, with a ranking prior, its offsets from the training
 * set's counts (as mfr_model_set_item_counts computes them). */
struct model_rank_ctx {
    const mfr_model *m;
    float *offset;
};

/* Exactly mfr_model_predict's value for every candidate (items that are not
 * u's training items, train_mark[i] != u), whatever the row layout, plus
 * the item's ranking offset when the model has a prior (mfr_model_recommend's
 * score). */
static void model_scores(const void *ctx, int32_t u, const int32_t *items, int64_t n,
                         const int32_t *train_mark, float *score)
{
    const struct model_rank_ctx *c = ctx;
    (void)items;
    (void)n;
    const mfr_model *m = c->m;
    const struct mfr_kernel_set *kern = mfr_kernels_select(MFR_KERNELS_AUTO, NULL);
    const float *pu = m->U + (size_t)u * (size_t)m->k_pad;
    for (int32_t i = 0; i < m->n_items; i++)
        if (train_mark[i] != u) {
            const float s = kern->dot(pu, m->V + (size_t)i * (size_t)m->k_pad, m->k_pad);
            score[i] = c->offset ? s + c->offset[i] : s;
        }
}

int mfr_model_ranking(const mfr_model *m, const mfr_ratings *train, const mfr_ratings *test,
                      int32_t n_top, mfr_ranking *model_out, mfr_ranking *popularity_out,
                      mfr_error *err)
{
    if (!m || !train || !test)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_model_ranking: %s is NULL",
                          !m ? "model" : !train ? "train" : "test");
    int view = mfr_ratings_refuse_view(train, "mfr_model_ranking", err);
    if (view == MFR_OK) view = mfr_ratings_refuse_view(test, "mfr_model_ranking", err);
    if (view != MFR_OK) return view;
    struct model_rank_ctx c = {m, NULL};
    if (m->cfg.rank_prior > 0.0 && !m->sm && model_out) {
        const int32_t n_items = mfr_model_n_items(m);
        int64_t *count = mfr_calloc((size_t)n_items + 1, sizeof *count);
        c.offset = mfr_malloc(sizeof *c.offset * ((size_t)n_items + 1));
        if (!count || !c.offset) {
            free(count), free(c.offset);
            return mfr_seterr(err, MFR_ERR_NOMEM, "ranking: out of memory for %d items", (int)n_items);
        }
        int rc = check_indices(mfr_model_n_users(m), n_items, train, "train", err);
        if (rc != MFR_OK) {
            free(count), free(c.offset);
            return rc;
        }
        for (int64_t x = 0; x < train->n; x++) count[train->item[x]]++;
        for (int32_t i = 0; i < n_items; i++) c.offset[i] = mfr_rank_offset(m->cfg.rank_prior, count[i]);
        free(count);
    }
    int rc = mfr_ranking_run(train, test, mfr_model_n_users(m), mfr_model_n_items(m), n_top, model_scores, &c,
                             model_out, popularity_out, err);
    free(c.offset);
    return rc;
}
