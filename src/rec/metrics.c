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
 *   shape. The popularity baseline's list is the same as that heap would
 *   keep of the training-rating counts: the first k items, not rated by the
 *   user in training, of the catalogue sorted once by count (then index),
 *   O(k + the user's training items) a user.
 *
 *   The model scores users in groups of MFR_RANKING_GROUP, a block of V
 *   for each user of the group before the next block, so V is read from
 *   memory once a group rather than once a user (each user's scores are
 *   the same bits as alone).
 *
 *   Users run in parallel (the model's scorer; EASE's keeps one scratch
 *   row, so one thread): each thread has its own stamps, scores and
 *   coverage flags, and writes one user's terms into that user's slot of
 *   a block of users; the terms are then summed in double in user order,
 *   so the results are the same bits for every thread count (50k users x
 *   200k items is 10^10 dot products: minutes on one core).
 *
 * Names: u user, i item, n_top list length (the k of precision@k),
 * kk = min(n_top, n_items) heap size, p 0-based list position.
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    enum { BLOCK = 256 };
    int32_t pos[BLOCK];
    for (int32_t i0 = 0; i0 < n_items; i0 += BLOCK) {
        const int32_t n = n_items - i0 < BLOCK ? n_items - i0 : BLOCK;
        const int32_t n_cand = mfr_topk_candidates(&t, score + i0, n, pos);
        for (int32_t c = 0; c < n_cand; c++) {
            const int32_t i = i0 + pos[c];
            if (excluded[i] == stamp) continue;
            mfr_topk_offer(&t, isnan(score[i]) ? -INFINITY : score[i], i);
        }
    }
    return mfr_topk_end(&t);
}

/* Items of `r` grouped by user (counting sort, rating order kept within a
 * user); with relevant_only, only ratings >= MFR_RANKING_RELEVANT. */
struct by_user {
    int64_t *off; /* n_users + 1 */
    int32_t *item;
};

/* Frees and forgets: by_user_build frees a half-made one on a failed
 * allocation, and ranking_ws_free frees whatever it holds after that */
static void by_user_free(struct by_user *b)
{
    free(b->off);
    free(b->item);
    b->off = NULL;
    b->item = NULL;
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

/* One evaluated user's terms of the three sums. */
struct user_terms {
    double precision, recall, ndcg;
};

/* One user's list: hits against rel_mark == u, DCG by position; its items
 * are flagged in covered. */
static struct user_terms list_terms(const int32_t *list, int32_t len, const int32_t *rel_mark,
                                    int32_t u, int32_t n_rel, int32_t n_top,
                                    const double *discount, const double *ideal, uint8_t *covered)
{
    int32_t hits = 0;
    double dcg = 0.0;
    for (int32_t p = 0; p < len; p++) {
        covered[list[p]] = 1;
        if (rel_mark[list[p]] == u) {
            hits++;
            dcg += discount[p];
        }
    }
    int32_t n_ideal = n_rel < n_top ? n_rel : n_top;
    return (struct user_terms){(double)hits / (double)n_top, (double)hits / (double)n_rel,
                               dcg / ideal[n_ideal]};
}

/* Adds one user's terms, users in ascending order: the same sums, bit for
 * bit, whatever thread computed the terms. */
static void acc_add(struct acc *a, struct user_terms t)
{
    a->precision += t.precision;
    a->recall += t.recall;
    a->ndcg += t.ndcg;
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

/* One thread's scratch: stamps, scores, a list and coverage flags. */
struct ranking_thread {
    int32_t *train_mark;   /* n_items: last user whose training items hold i */
    int32_t *rel_mark;     /* n_items: last user for whom i is relevant */
    float *score;          /* group x n_items: model scores, a user a row */
    int32_t *list;         /* kk: one user's list, best first */
    float *heap_sc;        /* kk: the top-k heap's scores */
    uint8_t *covered[2];   /* n_items: items in the model's, the baseline's lists */
};

/* Everything one ranking evaluation allocates, freed by ranking_ws_free. */
struct ranking_ws {
    struct by_user tr, rel;   /* training items, relevant test items, by user */
    int32_t *by_pop;          /* n_items: items by training ratings, most first,
                                 then by index (the baseline's order) */
    double *discount, *ideal; /* kk, kk + 1: see ranking_ws_init */
    struct ranking_thread *th; /* n_threads */
    int n_threads;
    int group;                /* users scored at once: MFR_RANKING_GROUP, or 1 */
    /* a block of users' terms (model, baseline), summed in user order */
    struct user_terms *terms[2];
    int32_t *n_rel;           /* the block's users' relevant items (0: skipped) */
    struct acc am, ap;        /* the model's and the baseline's sums */
};

/* Users whose terms are held at once: bounds that memory (48 bytes a user)
 * whatever the user count. */
#define RANK_BLOCK_USERS 65536

static void ranking_ws_free(struct ranking_ws *w)
{
    by_user_free(&w->tr);
    by_user_free(&w->rel);
    free(w->by_pop);
    free(w->discount);
    free(w->ideal);
    for (int t = 0; w->th && t < w->n_threads; t++) {
        struct ranking_thread *h = &w->th[t];
        free(h->train_mark);
        free(h->rel_mark);
        free(h->score);
        free(h->list);
        free(h->heap_sc);
        free(h->covered[0]);
        free(h->covered[1]);
    }
    free(w->th);
    free(w->terms[0]);
    free(w->terms[1]);
    free(w->n_rel);
    free(w->am.covered);
    free(w->ap.covered);
}

/* Training-rating counts, for sorting the baseline's order. */
static _Thread_local const int64_t *g_pop_count;

/* More training ratings first, then the lower index: the top-k heap's order
 * on the counts (which are never NaN). */
static int cmp_by_pop(const void *a, const void *b)
{
    const int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    const int64_t cx = g_pop_count[x], cy = g_pop_count[y];
    if (cx != cy) return cx > cy ? -1 : 1;
    return (x > y) - (x < y);
}

/* Allocates and fills the workspace: per-user item lists, the items in
 * the popularity baseline's order, discount[p] = 1 / log2(p + 2) for
 * 0-based position p and ideal[c] = the sum of the first c discounts (the
 * IDCG of c relevant items, c <= kk), and each thread's unmarked stamps.
 * On failure the caller still calls ranking_ws_free. */
static int ranking_ws_init(struct ranking_ws *w, const mfr_ratings *train,
                           const mfr_ratings *test, int32_t n_users, int32_t n_items, int32_t n_top,
                           int32_t kk, int n_threads, int group, mfr_error *err)
{
    int rc;
    if ((rc = by_user_build(train, n_users, false, &w->tr, err)) != MFR_OK) return rc;
    if ((rc = by_user_build(test, n_users, true, &w->rel, err)) != MFR_OK) return rc;
    size_t ni = (size_t)n_items + 1, nk = (size_t)kk + 1; /* +1: never mfr_malloc(0) */
    const size_t block = n_users < RANK_BLOCK_USERS ? (size_t)n_users + 1 : RANK_BLOCK_USERS;
    int64_t *count = mfr_calloc(ni, sizeof *count);
    w->by_pop = mfr_malloc(ni * sizeof *w->by_pop);
    w->discount = mfr_malloc(nk * sizeof *w->discount);
    w->ideal = mfr_malloc(nk * sizeof *w->ideal);
    w->th = mfr_calloc((size_t)n_threads, sizeof *w->th);
    w->n_threads = w->th ? n_threads : 0;
    w->group = group;
    w->terms[0] = mfr_malloc(block * sizeof *w->terms[0]);
    w->terms[1] = mfr_malloc(block * sizeof *w->terms[1]);
    w->n_rel = mfr_malloc(block * sizeof *w->n_rel);
    w->am.covered = mfr_calloc(ni, 1);
    w->ap.covered = mfr_calloc(ni, 1);
    bool ok = count && w->by_pop && w->discount && w->ideal && w->th && w->terms[0] && w->terms[1] &&
              w->n_rel && w->am.covered && w->ap.covered;
    for (int t = 0; ok && t < n_threads; t++) {
        struct ranking_thread *h = &w->th[t];
        h->train_mark = mfr_malloc(ni * sizeof *h->train_mark);
        h->rel_mark = mfr_malloc(ni * sizeof *h->rel_mark);
        h->score = mfr_malloc((size_t)group * ni * sizeof *h->score);
        h->list = mfr_malloc(nk * sizeof *h->list);
        h->heap_sc = mfr_malloc(nk * sizeof *h->heap_sc);
        h->covered[0] = mfr_calloc(ni, 1);
        h->covered[1] = mfr_calloc(ni, 1);
        ok = h->train_mark && h->rel_mark && h->score && h->list && h->heap_sc && h->covered[0] &&
             h->covered[1];
        for (int32_t i = 0; ok && i < n_items; i++) h->train_mark[i] = h->rel_mark[i] = -1;
    }
    if (!ok) {
        free(count);
        return mfr_seterr(err, MFR_ERR_NOMEM, "ranking: out of memory for %d items, n_top %d, %d threads",
                          (int)n_items, (int)n_top, n_threads);
    }
    for (int64_t x = 0; x < train->n; x++) count[train->item[x]]++;
    for (int32_t i = 0; i < n_items; i++) w->by_pop[i] = i;
    g_pop_count = count;
    qsort(w->by_pop, (size_t)n_items, sizeof *w->by_pop, cmp_by_pop);
    g_pop_count = NULL;
    free(count);
    w->ideal[0] = 0.0;
    for (int32_t p = 0; p < kk; p++) {
        w->discount[p] = 1.0 / log2((double)p + 2.0);
        w->ideal[p + 1] = w->ideal[p] + w->discount[p];
    }
    return MFR_OK;
}

/* Stamps user u's training items in h->train_mark and its distinct
 * relevant test items (those not among the training items) in h->rel_mark;
 * returns how many are relevant. */
static int32_t ranking_mark_user(const struct ranking_ws *w, struct ranking_thread *h, int32_t u)
{
    for (int64_t x = w->tr.off[u]; x < w->tr.off[u + 1]; x++) h->train_mark[w->tr.item[x]] = u;
    int32_t n_rel = 0;
    for (int64_t x = w->rel.off[u]; x < w->rel.off[u + 1]; x++) {
        int32_t i = w->rel.item[x];
        if (h->train_mark[i] != u && h->rel_mark[i] != u) {
            h->rel_mark[i] = u;
            n_rel++;
        }
    }
    return n_rel;
}

/* The baseline's list for user u: the first kk items of by_pop that are
 * not u's training items, the list the top-k heap keeps of the counts, in
 * O(kk + u's training items) instead of O(n_items log kk). */
static int32_t popular_select(const int32_t *by_pop, const int32_t *train_mark, int32_t u,
                              int32_t n_items, int32_t kk, int32_t *list)
{
    int32_t len = 0;
    for (int32_t x = 0; x < n_items && len < kk; x++)
        if (train_mark[by_pop[x]] != u) list[len++] = by_pop[x];
    return len;
}

/* Users first + b0 .. first + b0 + n_g - 1 of a block (one thread): each
 * one's relevant count into w->n_rel, and for those with any, the model's
 * and the baseline's terms into their slots. A group scorer scores them at
 * once, else each is scored alone. Marking a user stamps its items over
 * the group's earlier users', so in a group each user is marked again
 * before its lists (the count of the first marking stands). */
static void rank_users(struct ranking_ws *w, struct ranking_thread *h, const struct mfr_ranking_scorer *sc,
                       int32_t first, int32_t b0, int32_t n_g, int32_t n_items, int32_t kk, int32_t n_top,
                       bool model, bool popularity)
{
    int32_t users[MFR_RANKING_GROUP];
    float *rows[MFR_RANKING_GROUP];
    int n_scored = 0;
    for (int32_t b = b0; b < b0 + n_g; b++) {
        const int32_t u = first + b;
        w->n_rel[b] = ranking_mark_user(w, h, u);
        if (w->n_rel[b] > 0 && model) {
            rows[n_scored] = h->score + (size_t)n_scored * ((size_t)n_items + 1);
            users[n_scored++] = u;
        }
    }
    if (sc->group && n_scored > 0) sc->group(sc->ctx, users, n_scored, rows);
    int s = 0;
    for (int32_t b = b0; b < b0 + n_g; b++) {
        const int32_t u = first + b, n_rel = w->n_rel[b];
        if (n_rel == 0) continue;
        if (n_g > 1) (void)ranking_mark_user(w, h, u);
        if (model) {
            float *score = rows[s++];
            if (!sc->group)
                sc->one(sc->ctx, u, w->tr.item + w->tr.off[u], w->tr.off[u + 1] - w->tr.off[u], h->train_mark,
                        score);
            int32_t len = topk_select(score, h->train_mark, u, n_items, kk, h->heap_sc, h->list);
            w->terms[0][b] = list_terms(h->list, len, h->rel_mark, u, n_rel, n_top, w->discount, w->ideal,
                                        h->covered[0]);
        }
        if (popularity) {
            int32_t len = popular_select(w->by_pop, h->train_mark, u, n_items, kk, h->list);
            w->terms[1][b] = list_terms(h->list, len, h->rel_mark, u, n_rel, n_top, w->discount, w->ideal,
                                        h->covered[1]);
        }
    }
}

int mfr_ranking_run(const mfr_ratings *train, const mfr_ratings *test, int32_t n_users,
                    int32_t n_items, int32_t n_top, const struct mfr_ranking_scorer *scorer,
                    int n_threads, mfr_ranking *model_out, mfr_ranking *popularity_out,
                    mfr_error *err)
{
    if (n_top < 1)
        return mfr_seterr(err, MFR_ERR_INVALID, "n_top (the list length) must be at least 1, got %d", (int)n_top);
    int rc = check_indices(n_users, n_items, train, "train", err);
    if (rc == MFR_OK) rc = check_indices(n_users, n_items, test, "test", err);
    if (rc != MFR_OK) return rc;
    if (!model_out && !popularity_out) return MFR_OK;

    const int32_t kk = n_top < n_items ? n_top : n_items;
    if (n_threads < 1) n_threads = 1;
    if (n_threads > n_users) n_threads = n_users > 0 ? n_users : 1;
    const int group = scorer->group ? MFR_RANKING_GROUP : 1;
    struct ranking_ws w = {0};
    rc = ranking_ws_init(&w, train, test, n_users, n_items, n_top, kk, n_threads, group, err);
    if (rc != MFR_OK) goto done;

    int64_t users = 0;
    for (int32_t first = 0; first < n_users; first += RANK_BLOCK_USERS) {
        const int32_t count = n_users - first < RANK_BLOCK_USERS ? n_users - first : RANK_BLOCK_USERS;
        const int32_t n_groups = (count + group - 1) / group;
        /* each user's terms by one thread from read-only inputs into its
         * own slots; the sums below add them in user order */
#pragma omp parallel for schedule(dynamic, group > 1 ? 2 : 16) num_threads(n_threads) if (n_threads > 1)
        for (int32_t gi = 0; gi < n_groups; gi++) {
            const int32_t b0 = gi * group, n_g = count - b0 < group ? count - b0 : group;
            rank_users(&w, &w.th[omp_get_thread_num()], scorer, first, b0, n_g, n_items, kk, n_top,
                       model_out != NULL, popularity_out != NULL);
        }
        for (int32_t b = 0; b < count; b++) {
            if (w.n_rel[b] == 0) continue;
            users++;
            if (model_out) acc_add(&w.am, w.terms[0][b]);
            if (popularity_out) acc_add(&w.ap, w.terms[1][b]);
        }
    }
    for (int t = 0; t < n_threads; t++)
        for (int32_t i = 0; i < n_items; i++) {
            w.am.covered[i] |= w.th[t].covered[0][i];
            w.ap.covered[i] |= w.th[t].covered[1][i];
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

/* Exactly mfr_model_predict's value for every item of users[0..n) (the
 * dot kernel's bits, eight rows at a time; a dot that overflowed is
 * recommend's +-inf, not NaN), plus the item's ranking offset
 * when the model has a prior (mfr_model_recommend's score; a training
 * item's score is never read), whatever the row layout. V is read a block
 * of rows at a time for the whole group, not once per user. */
static void model_scores(const void *ctx, const int32_t *users, int n, float *const *scores)
{
    const struct model_rank_ctx *c = ctx;
    const mfr_model *m = c->m;
    const struct mfr_kernel_set *kern = mfr_kernels_select(MFR_KERNELS_AUTO, NULL);
    enum { BLOCK = 256 };
    for (int32_t i0 = 0; i0 < m->n_items; i0 += BLOCK) {
        const int32_t nb = m->n_items - i0 < BLOCK ? m->n_items - i0 : BLOCK;
        const float *v = m->V + (size_t)i0 * (size_t)m->k_pad;
        for (int g = 0; g < n; g++) {
            float *out = scores[g] + i0;
            const float *u = m->U + (size_t)users[g] * (size_t)m->k_pad;
            kern->dot_rows(u, v, m->k_pad, nb, out);
            mfr_dot_scores_fix_overflow(u, v, m->k_pad, nb, out); /* as recommend ranks */
            if (c->offset)
                for (int32_t j = 0; j < nb; j++) out[j] += c->offset[i0 + j];
        }
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
    /* model_scores reads only the model and its arguments: users run in
     * parallel (the threads of mfr_set_threads, as the data's load), at
     * most one a CPU: each thread keeps scratch of 42 bytes an item (the
     * scores of a group of 8 users: 32), 8.6 GB at 200k items for
     * --threads 1024, and the bits do not depend on it */
    int threads = mfr_setup_threads();
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus > 0 && threads > cpus) threads = (int)cpus;
    const struct mfr_ranking_scorer scorer = {NULL, model_scores, &c};
    int rc = mfr_ranking_run(train, test, mfr_model_n_users(m), mfr_model_n_items(m), n_top, &scorer, threads,
                             model_out, popularity_out, err);
    free(c.offset);
    return rc;
}
