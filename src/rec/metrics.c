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
 *   in a bounded heap of min(k, n_items) entries: O(n_items log k) per
 *   user, and the catalogue is never sorted. The heap's root is the kept
 *   candidate that ranks last; the order is a total order (higher score
 *   first, then lower item index, NaN below every number), so the lists
 *   do not depend on the scan order or on the heap's shape. The popularity
 *   baseline uses the same heap with training-rating counts as scores.
 *
 *   Single-threaded: ML-100K (943 users x 1682 items x k 30) is about 50M
 *   multiply-adds, a few tens of milliseconds. Per-user values are summed
 *   in double in user order, so the results are deterministic.
 *
 * Names: u user, i item, k list length, kk = min(k, n_items) heap size,
 * p 0-based list position.
 */
#include <math.h>
#include <string.h>

#include "dataset_priv.h"

/* One candidate in the top-k heap. */
struct cand {
    double score; /* NaN already mapped to -inf */
    int32_t item;
};

/* True when a ranks strictly before b: higher score, or the same score and
 * a lower item index. A total order on distinct items. */
static inline bool ranks_before(struct cand a, struct cand b)
{
    if (a.score != b.score) return a.score > b.score;
    return a.item < b.item;
}

/* Restores the heap property below `pos` in h[0..n): every parent ranks
 * after (is worse than) its children, so h[0] is the worst kept candidate. */
static void heap_sift_down(struct cand *h, int32_t n, int32_t pos)
{
    for (;;) {
        int32_t worst = pos, l = 2 * pos + 1, r = l + 1;
        if (l < n && ranks_before(h[worst], h[l])) worst = l;
        if (r < n && ranks_before(h[worst], h[r])) worst = r;
        if (worst == pos) return;
        struct cand t = h[pos];
        h[pos] = h[worst];
        h[worst] = t;
        pos = worst;
    }
}

static void heap_sift_up(struct cand *h, int32_t pos)
{
    while (pos > 0) {
        int32_t parent = (pos - 1) / 2;
        if (!ranks_before(h[parent], h[pos])) return;
        struct cand t = h[pos];
        h[pos] = h[parent];
        h[parent] = t;
        pos = parent;
    }
}

/* Selects the best min(kk, candidates) items of score[0..n_items), skipping
 * items with excluded[i] == stamp, into list[] best first; returns the list
 * length. heap has room for kk entries. NaN scores rank as -inf. */
static int32_t topk_select(const double *score, const int32_t *excluded, int32_t stamp,
                           int32_t n_items, int32_t kk, struct cand *heap, int32_t *list)
{
    int32_t n = 0;
    for (int32_t i = 0; i < n_items; i++) {
        if (excluded[i] == stamp) continue;
        struct cand c = {isnan(score[i]) ? -INFINITY : score[i], i};
        if (n < kk) {
            heap[n] = c;
            heap_sift_up(heap, n++);
        } else if (ranks_before(c, heap[0])) {
            heap[0] = c;
            heap_sift_down(heap, n, 0);
        }
    }
    /* Heap sort: the worst goes to the end each time, leaving best first. */
    for (int32_t len = n; len > 1; len--) {
        struct cand t = heap[0];
        heap[0] = heap[len - 1];
        heap[len - 1] = t;
        heap_sift_down(heap, len - 1, 0);
    }
    for (int32_t p = 0; p < n; p++) list[p] = heap[p].item;
    return n;
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
    b->off = calloc(1, off_bytes);
    b->item = malloc(item_bytes ? item_bytes : 1);
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

/* MFR_OK when every index of r is inside the model; `what` names r. */
static int check_indices(const mfr_model *m, const mfr_ratings *r, const char *what,
                         mfr_error *err)
{
    const int32_t n_users = mfr_model_n_users(m), n_items = mfr_model_n_items(m);
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
                    int32_t u, int32_t n_rel, int32_t k, const double *discount,
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
    int32_t n_ideal = n_rel < k ? n_rel : k;
    a->precision += (double)hits / (double)k;
    a->recall += (double)hits / (double)n_rel;
    a->ndcg += dcg / ideal[n_ideal];
}

static void acc_finish(const struct acc *a, int32_t k, int64_t users, int32_t n_items,
                       mfr_ranking *out)
{
    int64_t n_covered = 0;
    for (int32_t i = 0; i < n_items; i++) n_covered += a->covered[i];
    out->k = k;
    out->users = users;
    out->precision = users ? a->precision / (double)users : NAN;
    out->recall = users ? a->recall / (double)users : NAN;
    out->ndcg = users ? a->ndcg / (double)users : NAN;
    out->coverage = n_items ? (double)n_covered / (double)n_items : 0.0;
}

int mfr_model_ranking(const mfr_model *m, const mfr_ratings *train, const mfr_ratings *test,
                      int32_t k, mfr_ranking *model_out, mfr_ranking *popularity_out,
                      mfr_error *err)
{
    if (!m || !train || !test)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_model_ranking: %s is NULL",
                          !m ? "model" : !train ? "train" : "test");
    if (k < 1) return mfr_seterr(err, MFR_ERR_INVALID, "k must be at least 1, got %d", (int)k);
    int rc = check_indices(m, train, "train", err);
    if (rc == MFR_OK) rc = check_indices(m, test, "test", err);
    if (rc != MFR_OK) return rc;
    if (!model_out && !popularity_out) return MFR_OK;

    const int32_t n_users = mfr_model_n_users(m), n_items = mfr_model_n_items(m);
    const int32_t kk = k < n_items ? k : n_items;
    struct by_user tr = {0}, rel = {0};
    int32_t *train_mark = NULL, *rel_mark = NULL, *list = NULL;
    double *score = NULL, *pop = NULL, *discount = NULL, *ideal = NULL;
    struct cand *heap = NULL;
    struct acc am = {0}, ap = {0};

    if ((rc = by_user_build(train, n_users, false, &tr, err)) != MFR_OK) goto fail;
    if ((rc = by_user_build(test, n_users, true, &rel, err)) != MFR_OK) goto fail;
    size_t ni = (size_t)n_items + 1, nk = (size_t)kk + 1; /* +1: never malloc(0) */
    train_mark = malloc(ni * sizeof *train_mark);
    rel_mark = malloc(ni * sizeof *rel_mark);
    score = malloc(ni * sizeof *score);
    pop = calloc(ni, sizeof *pop);
    list = malloc(nk * sizeof *list);
    heap = malloc(nk * sizeof *heap);
    discount = malloc(nk * sizeof *discount);
    ideal = malloc(nk * sizeof *ideal);
    am.covered = calloc(ni, 1);
    ap.covered = calloc(ni, 1);
    if (!train_mark || !rel_mark || !score || !pop || !list || !heap || !discount || !ideal ||
        !am.covered || !ap.covered) {
        rc = mfr_seterr(err, MFR_ERR_NOMEM, "ranking: out of memory for %d items, k %d",
                        (int)n_items, (int)k);
        goto fail;
    }
    for (int32_t i = 0; i < n_items; i++) train_mark[i] = rel_mark[i] = -1;
    for (int64_t x = 0; x < train->n; x++) pop[train->item[x]] += 1.0;
    /* discount[p] = 1 / log2(p + 2) for 0-based position p; ideal[c] sums
     * the first c discounts (the IDCG of c relevant items, c <= kk). */
    ideal[0] = 0.0;
    for (int32_t p = 0; p < kk; p++) {
        discount[p] = 1.0 / log2((double)p + 2.0);
        ideal[p + 1] = ideal[p] + discount[p];
    }

    int64_t users = 0;
    for (int32_t u = 0; u < n_users; u++) {
        for (int64_t x = tr.off[u]; x < tr.off[u + 1]; x++) train_mark[tr.item[x]] = u;
        int32_t n_rel = 0;
        for (int64_t x = rel.off[u]; x < rel.off[u + 1]; x++) {
            int32_t i = rel.item[x];
            if (train_mark[i] != u && rel_mark[i] != u) {
                rel_mark[i] = u;
                n_rel++;
            }
        }
        if (n_rel == 0) continue;
        users++;
        if (model_out) {
            /* Exactly mfr_model_predict's value, whatever the row layout. */
            for (int32_t i = 0; i < n_items; i++)
                if (train_mark[i] != u) score[i] = (double)mfr_model_predict(m, u, i);
            int32_t len = topk_select(score, train_mark, u, n_items, kk, heap, list);
            acc_add(&am, list, len, rel_mark, u, n_rel, k, discount, ideal);
        }
        if (popularity_out) {
            int32_t len = topk_select(pop, train_mark, u, n_items, kk, heap, list);
            acc_add(&ap, list, len, rel_mark, u, n_rel, k, discount, ideal);
        }
    }
    if (model_out) acc_finish(&am, k, users, n_items, model_out);
    if (popularity_out) acc_finish(&ap, k, users, n_items, popularity_out);
    rc = MFR_OK;

fail:
    by_user_free(&tr);
    by_user_free(&rel);
    free(train_mark);
    free(rel_mark);
    free(score);
    free(pop);
    free(list);
    free(heap);
    free(discount);
    free(ideal);
    free(am.covered);
    free(ap.covered);
    return rc;
}
