/*
 * test_metrics.c — mfr_model_ranking on tiny hand-built models whose
 * precision@k, recall@k, NDCG@k and coverage are worked out by hand in the
 * comments: the popularity baseline and its tie order, equal model scores
 * (lower item index first), users without relevant items, relevant items
 * that are training items, duplicate test ratings, k larger than the
 * catalogue, argument errors, and a comparison with a full-sort reference
 * on a random model with many ties.
 *
 * Models are built through the public trainer (mfr_trainer_set_factors on
 * a dataset written to a scratch directory), so the test does not depend on
 * the model's private row layout; rating sets are built directly.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dataset_priv.h"
#include "model_priv.h"
#include "test_util.h"

/* log2(3) and log2(4) discounts: positions 2 and 3. */
#define D2 (1.0 / log2(3.0))
#define D3 0.5

/* A model of n_users x n_items with row-major factors U (n_users x dim) and
 * V (n_items x dim). Owns a scratch dataset and the trainer. */
struct fixture {
    char *dir;
    mfr_dataset *ds;
    mfr_trainer *tr;
};

static const mfr_model *fixture_model(struct fixture *f, int32_t n_users, int32_t n_items,
                                      int32_t dim, const float *U, const float *V)
{
    memset(f, 0, sizeof *f);
    f->dir = tu_mkdtemp();
    /* every user and every item rated once, so the dense indices are id - 1 */
    int32_t n = n_users > n_items ? n_users : n_items;
    size_t cap = (size_t)n * 40 + 1, len = 0;
    char *text = malloc(cap);
    if (!text) abort();
    for (int32_t x = 0; x < n; x++)
        len += (size_t)snprintf(text + len, cap - len, "%d\t%d\t3\t0\n", (int)(x % n_users) + 1,
                                (int)(x % n_items) + 1);
    tu_write_file(f->dir, "u.data", text, (size_t)-1);
    free(text);
    mfr_error err = {0};
    assert_int_equal(mfr_dataset_load(f->dir, NULL, &f->ds, &err), MFR_OK);
    assert_int_equal(mfr_dataset_n_users(f->ds), n_users);
    assert_int_equal(mfr_dataset_n_items(f->ds), n_items);
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = dim;
    cfg.n_threads = 1;
    assert_int_equal(mfr_trainer_create(&cfg, f->ds, mfr_dataset_ratings(f->ds), NULL, &f->tr, &err),
                     MFR_OK);
    assert_int_equal(mfr_trainer_set_factors(f->tr, U, n_users, dim, V, n_items, dim, &err), MFR_OK);
    return mfr_trainer_model(f->tr);
}

static void fixture_free(struct fixture *f)
{
    mfr_trainer_destroy(f->tr);
    mfr_dataset_destroy(f->ds);
    tu_rmtree(f->dir);
    free(f->dir);
}

/* Ratings from n (user, item, rating) triples in dense indices. */
static mfr_ratings *ratings(int64_t n, const int32_t (*t)[3])
{
    mfr_ratings *r = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_ratings_alloc(n, &r, &err), MFR_OK);
    for (int64_t x = 0; x < n; x++) {
        r->user[x] = t[x][0];
        r->item[x] = t[x][1];
        r->rating[x] = (float)t[x][2];
        r->ts[x] = 0;
    }
    return r;
}

/* |got - want| <= tol (cmocka 1.1 has no double assertion). */
static void expect_close(double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol)) fail_msg("got %.17g, expected %.17g (tolerance %g)", got, want, tol);
}

/* Field by field (the struct has padding), exactly. */
static void expect_same(const mfr_ranking *a, const mfr_ranking *b)
{
    assert_int_equal(a->n_top, b->n_top);
    assert_int_equal(a->users, b->users);
    assert_true(a->precision == b->precision && a->recall == b->recall && a->ndcg == b->ndcg &&
                a->coverage == b->coverage);
}

static void expect_ranking(const mfr_ranking *r, int32_t k, int64_t users, double precision,
                           double recall, double ndcg, double coverage)
{
    assert_int_equal(r->n_top, k);
    assert_int_equal(r->users, users);
    expect_close(r->precision, precision, 1e-12);
    expect_close(r->recall, recall, 1e-12);
    expect_close(r->ndcg, ndcg, 1e-12);
    expect_close(r->coverage, coverage, 1e-12);
}

/* Two users, five items, dim 1. U = (1, -1), V = (5, 4, 3, 2, 1): user 0
 * prefers items 0 > 1 > 2 > 3 > 4, user 1 the reverse.
 * train: user 0 rated item 0, user 1 item 4 (popularity: items 0 and 4 have
 * one rating, the rest none). test: user 0 rates 1 (5), 3 (4), 4 (2) ->
 * relevant {1, 3}; user 1 rates 0 (4), 2 (3) -> relevant {0}. */
static const float hand_U[] = {1.0f, -1.0f};
static const float hand_V[] = {5.0f, 4.0f, 3.0f, 2.0f, 1.0f};
static const int32_t hand_train[][3] = {{0, 0, 3}, {1, 4, 3}};
static const int32_t hand_test[][3] = {{0, 1, 5}, {0, 3, 4}, {0, 4, 2}, {1, 0, 4}, {1, 2, 3}};

static void test_hand_computed_k2(void **state)
{
    (void)state;
    struct fixture f;
    const mfr_model *m = fixture_model(&f, 2, 5, 1, hand_U, hand_V);
    mfr_ratings *train = ratings(2, hand_train), *test = ratings(5, hand_test);
    mfr_ranking rm, rp;
    mfr_error err = {0};
    assert_int_equal(mfr_model_ranking(m, train, test, 2, &rm, &rp, &err), MFR_OK);
    /* model: user 0 list [1, 2]: one hit at position 1 of 2 relevant:
     *   P 1/2, R 1/2, NDCG 1 / (1 + D2).
     * user 1 (candidates 3, 2, 1, 0 by score) list [3, 2]: no hit.
     * coverage {1, 2, 3} = 3/5. */
    expect_ranking(&rm, 2, 2, 0.25, 0.25, 0.5 / (1.0 + D2), 0.6);
    /* popularity order 0, 4 (tie: lower index), 1, 2, 3.
     * user 0 (0 excluded): [4, 1]: hit at position 2: P 1/2, R 1/2,
     *   NDCG D2 / (1 + D2). user 1 (4 excluded): [0, 1]: hit at position 1
     *   of 1 relevant: P 1/2, R 1, NDCG 1. coverage {0, 1, 4} = 3/5. */
    expect_ranking(&rp, 2, 2, 0.5, 0.75, (D2 / (1.0 + D2) + 1.0) / 2.0, 0.6);
    /* either output may be skipped; the other is unchanged */
    mfr_ranking only;
    assert_int_equal(mfr_model_ranking(m, train, test, 2, NULL, &only, &err), MFR_OK);
    expect_same(&only, &rp);
    assert_int_equal(mfr_model_ranking(m, train, test, 2, &only, NULL, &err), MFR_OK);
    expect_same(&only, &rm);
    mfr_ratings_destroy(train);
    mfr_ratings_destroy(test);
    fixture_free(&f);
}

/* A dot that overflows in float (inf - inf: NaN) of finite rows ranks as
 * recommend ranks it, by its true sign: item 0's true score a^2 is the
 * largest, so it leads user 0's list of one (a hit: NDCG 1). */
static void test_overflowed_dot_ranks_by_its_sign(void **state)
{
    (void)state;
    const float a = 0x3p126f, b = 3e38f;
    const float U[3] = {a, b, b};
    const float V[4 * 3] = {a, -b, b, 1, 0, 0, -1, 0, 0, 0, 0, 0};
    static const int32_t train_r[][3] = {{0, 3, 3}};
    static const int32_t test_r[][3] = {{0, 0, 5}, {0, 2, 1}};
    struct fixture f;
    const mfr_model *m = fixture_model(&f, 1, 4, 3, U, V);
    mfr_ratings *train = ratings(1, train_r), *test = ratings(2, test_r);
    mfr_ranking rm;
    mfr_error err = {0};
    assert_int_equal(mfr_model_ranking(m, train, test, 1, &rm, NULL, &err), MFR_OK);
    expect_ranking(&rm, 1, 1, 1.0, 1.0, 1.0, 0.25);
    mfr_ratings_destroy(train);
    mfr_ratings_destroy(test);
    fixture_free(&f);
}

/* A model with a ranking prior ranks by prediction + α ln(1 + n_i), n_i
 * counted in the training set given: U = (1, -1), V = (5, 4, 3, 2, 1);
 * user 0 trained on item 0, user 1 on items 3 and 4 (n = 1, 0, 0, 1, 1
 * for items 0..4); the only relevant test item is user 0's item 3.
 * Plain scores of user 0's candidates: 4, 3, 2, 1 (items 1..4), so its top
 * 1 is item 1 (P@1 0). With α = 3, item 3 scores 2 + 3 ln 2 = 4.08 and
 * item 4 1 + 3 ln 2 = 3.08: the top 1 is item 3 (P@1 = NDCG@1 = 1). */
static void test_rank_prior_uses_training_counts(void **state)
{
    (void)state;
    struct fixture f;
    const mfr_model *base = fixture_model(&f, 2, 5, 1, hand_U, hand_V);
    mfr_model *m = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_model_copy(base, &m, &err), MFR_OK);
    static const int32_t tr[][3] = {{0, 0, 3}, {1, 3, 3}, {1, 4, 3}};
    static const int32_t te[][3] = {{0, 3, 5}};
    mfr_ratings *train = ratings(3, tr), *test = ratings(1, te);
    mfr_ranking plain, prior, pop_plain, pop_prior;
    assert_int_equal(mfr_model_ranking(m, train, test, 1, &plain, &pop_plain, &err), MFR_OK);
    expect_ranking(&plain, 1, 1, 0.0, 0.0, 0.0, 0.2);
    m->cfg.rank_prior = 3.0;
    assert_int_equal(mfr_model_ranking(m, train, test, 1, &prior, &pop_prior, &err), MFR_OK);
    expect_ranking(&prior, 1, 1, 1.0, 1.0, 1.0, 0.2);
    expect_same(&pop_plain, &pop_prior); /* the baseline is the counts alone */
    /* a prior too small to lift item 3 over item 1 changes nothing */
    m->cfg.rank_prior = 1.0; /* 2 + ln 2 = 2.69 < 4 */
    assert_int_equal(mfr_model_ranking(m, train, test, 1, &prior, NULL, &err), MFR_OK);
    expect_same(&plain, &prior);
    mfr_ratings_destroy(train);
    mfr_ratings_destroy(test);
    mfr_model_destroy(m);
    fixture_free(&f);
}

static void test_k_larger_than_catalogue(void **state)
{
    (void)state;
    struct fixture f;
    const mfr_model *m = fixture_model(&f, 2, 5, 1, hand_U, hand_V);
    mfr_ratings *train = ratings(2, hand_train), *test = ratings(5, hand_test);
    mfr_ranking rm, rp;
    mfr_error err = {0};
    assert_int_equal(mfr_model_ranking(m, train, test, 10, &rm, &rp, &err), MFR_OK);
    /* Every list holds all four candidates, precision still divides by 10.
     * model user 0 [1, 2, 3, 4]: hits at 1 and 3: P 2/10, R 1,
     *   NDCG (1 + D3) / (1 + D2). user 1 [3, 2, 1, 0]: hit at 4: P 1/10,
     *   R 1, NDCG 1/log2(5). coverage: all 5 items. */
    expect_ranking(&rm, 10, 2, 0.15, 1.0, ((1.0 + D3) / (1.0 + D2) + 1.0 / log2(5.0)) / 2.0, 1.0);
    /* popularity user 0 [4, 1, 2, 3]: hits at 2 and 4; user 1 [0, 1, 2, 3]:
     * hit at 1. */
    expect_ranking(&rp, 10, 2, 0.15, 1.0, ((D2 + 1.0 / log2(5.0)) / (1.0 + D2) + 1.0) / 2.0, 1.0);
    /* k = n_items and k = INT32_MAX give the same lists */
    mfr_ranking a, b;
    assert_int_equal(mfr_model_ranking(m, train, test, 5, &a, NULL, &err), MFR_OK);
    assert_int_equal(mfr_model_ranking(m, train, test, INT32_MAX, &b, NULL, &err), MFR_OK);
    expect_close(a.recall, 1.0, 0);
    expect_close(b.recall, 1.0, 0);
    expect_close(a.ndcg, rm.ndcg, 1e-15);
    expect_close(b.ndcg, rm.ndcg, 1e-15);
    expect_close(b.precision * INT32_MAX, 1.5, 1e-6);
    mfr_ratings_destroy(train);
    mfr_ratings_destroy(test);
    fixture_free(&f);
}

/* Equal scores rank the lower item index first, whatever the scan order. */
static void test_ties_lower_index_first(void **state)
{
    (void)state;
    struct fixture f;
    const float U[] = {1.0f, 1.0f};
    const float V[] = {2.0f, 2.0f, 2.0f, 2.0f, 2.0f, 2.0f};
    const mfr_model *m = fixture_model(&f, 2, 6, 1, U, V);
    /* user 0: train {1}, relevant {3}. user 1: train {0}, relevant {5}. */
    const int32_t tr[][3] = {{0, 1, 5}, {1, 0, 5}};
    const int32_t te[][3] = {{0, 3, 4}, {1, 5, 5}};
    mfr_ratings *train = ratings(2, tr), *test = ratings(2, te);
    mfr_ranking rm, rp;
    mfr_error err = {0};
    /* k 2: user 0 [0, 2], user 1 [1, 2]: no hits; coverage {0, 1, 2}. */
    assert_int_equal(mfr_model_ranking(m, train, test, 2, &rm, NULL, &err), MFR_OK);
    expect_ranking(&rm, 2, 2, 0.0, 0.0, 0.0, 0.5);
    /* k 3: user 0 [0, 2, 3]: hit at 3: P 1/3, R 1, NDCG D3.
     * user 1 [1, 2, 3]: none. coverage {0, 1, 2, 3}. */
    assert_int_equal(mfr_model_ranking(m, train, test, 3, &rm, NULL, &err), MFR_OK);
    expect_ranking(&rm, 3, 2, 1.0 / 6.0, 0.5, D3 / 2.0, 4.0 / 6.0);
    /* popularity: items 0 and 1 have one rating; user 0 (1 excluded)
     * [0, 2, 3] hit at 3; user 1 (0 excluded) [1, 2, 3] none. */
    assert_int_equal(mfr_model_ranking(m, train, test, 3, NULL, &rp, &err), MFR_OK);
    expect_ranking(&rp, 3, 2, 1.0 / 6.0, 0.5, D3 / 2.0, 4.0 / 6.0);
    mfr_ratings_destroy(train);
    mfr_ratings_destroy(test);
    fixture_free(&f);
}

/* Users with nothing relevant are skipped; relevant items that are training
 * items do not count; a relevant item rated twice counts once. */
static void test_users_without_relevant_items(void **state)
{
    (void)state;
    struct fixture f;
    const float U[] = {1.0f, 1.0f, 1.0f, 1.0f};
    const float V[] = {4.0f, 3.0f, 2.0f, 1.0f};
    const mfr_model *m = fixture_model(&f, 4, 4, 1, U, V);
    /* user 0: only low test ratings. user 1: its 5 is on a training item.
     * user 2: item 2 rated 4 twice, item 3 rated 5. user 3: no test rating. */
    const int32_t tr[][3] = {{1, 0, 5}, {2, 0, 1}};
    const int32_t te[][3] = {{0, 0, 3}, {0, 1, 1}, {1, 0, 5}, {2, 2, 4}, {2, 2, 4}, {2, 3, 5}};
    mfr_ratings *train = ratings(2, tr), *test = ratings(6, te);
    mfr_ranking rm, rp;
    mfr_error err = {0};
    assert_int_equal(mfr_model_ranking(m, train, test, 1, &rm, &rp, &err), MFR_OK);
    /* only user 2: candidates 1, 2, 3 (0 excluded), list [1]: no hit;
     * popularity order 0, 1, 2, 3 -> [1]. coverage 1/4. */
    expect_ranking(&rm, 1, 1, 0.0, 0.0, 0.0, 0.25);
    expect_ranking(&rp, 1, 1, 0.0, 0.0, 0.0, 0.25);
    /* k 3: [1, 2, 3], hits at 2 and 3 of 2 relevant: P 2/3, R 1,
     * NDCG (D2 + D3) / (1 + D2). */
    assert_int_equal(mfr_model_ranking(m, train, test, 3, &rm, NULL, &err), MFR_OK);
    expect_ranking(&rm, 3, 1, 2.0 / 3.0, 1.0, (D2 + D3) / (1.0 + D2), 0.75);

    /* no relevant item anywhere (and an empty test set): 0 users, NaN
     * means, nothing covered */
    const int32_t low[][3] = {{0, 1, 3}};
    mfr_ratings *none = ratings(1, low), *empty = ratings(0, low);
    for (int c = 0; c < 2; c++) {
        assert_int_equal(mfr_model_ranking(m, train, c ? empty : none, 5, &rm, &rp, &err), MFR_OK);
        assert_int_equal(rm.users, 0);
        assert_true(isnan(rm.precision) && isnan(rm.recall) && isnan(rm.ndcg));
        assert_true(isnan(rp.precision) && isnan(rp.recall) && isnan(rp.ndcg));
        expect_close(rm.coverage, 0.0, 0);
        expect_close(rp.coverage, 0.0, 0);
    }
    mfr_ratings_destroy(none);
    mfr_ratings_destroy(empty);
    mfr_ratings_destroy(train);
    mfr_ratings_destroy(test);
    fixture_free(&f);
}

static void test_argument_errors(void **state)
{
    (void)state;
    struct fixture f;
    const mfr_model *m = fixture_model(&f, 2, 5, 1, hand_U, hand_V);
    mfr_ratings *train = ratings(2, hand_train), *test = ratings(5, hand_test);
    mfr_ranking rm, rp;
    memset(&rm, 0x5a, sizeof rm);
    mfr_ranking untouched;
    memcpy(&untouched, &rm, sizeof rm); /* padding bytes included */
    mfr_error err = {0};
    assert_int_equal(mfr_model_ranking(m, train, test, 0, &rm, &rp, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "n_top (the list length) must be at least 1, got 0"));
    assert_memory_equal(&rm, &untouched, sizeof rm);
    assert_int_equal(mfr_model_ranking(NULL, train, test, 2, &rm, &rp, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "model"));
    assert_int_equal(mfr_model_ranking(m, NULL, test, 2, &rm, &rp, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "train"));
    assert_int_equal(mfr_model_ranking(m, train, NULL, 2, &rm, &rp, NULL), MFR_ERR_INVALID);
    /* indices outside the model */
    const int32_t bad_item[][3] = {{0, 5, 4}};
    const int32_t bad_user[][3] = {{2, 0, 4}};
    mfr_ratings *bi = ratings(1, bad_item), *bu = ratings(1, bad_user);
    assert_int_equal(mfr_model_ranking(m, train, bi, 2, &rm, &rp, &err), MFR_ERR_MISMATCH);
    assert_non_null(strstr(err.message, "test rating 0: item index 5"));
    assert_int_equal(mfr_model_ranking(m, bu, test, 2, &rm, &rp, &err), MFR_ERR_MISMATCH);
    assert_non_null(strstr(err.message, "train rating 0: user index 2"));
    assert_memory_equal(&rm, &untouched, sizeof rm);
    /* nothing asked: fine */
    assert_int_equal(mfr_model_ranking(m, train, test, 2, NULL, NULL, &err), MFR_OK);
    mfr_ratings_destroy(bi);
    mfr_ratings_destroy(bu);
    mfr_ratings_destroy(train);
    mfr_ratings_destroy(test);
    fixture_free(&f);
}

/* ------------------------------------------------------------------ */
/* Random model against a full-sort reference                           */
/* ------------------------------------------------------------------ */

static uint64_t g_rng = 0x9e3779b97f4a7c15u;
static uint32_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 16);
}

static const float *g_scores; /* for the qsort comparator */
static int by_score_then_index(const void *pa, const void *pb)
{
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    if (g_scores[a] != g_scores[b]) return g_scores[a] > g_scores[b] ? -1 : 1;
    return (a > b) - (a < b);
}

/* Sorts every user's whole candidate list; same definitions as the header.
 * The model's scores get each item's ranking offset when its rank_prior is
 * set (mfr_model_recommend's score). */
static void reference_ranking(const mfr_model *m, const mfr_ratings *train,
                              const mfr_ratings *test, int32_t k, bool popularity,
                              mfr_ranking *out)
{
    const double prior = m->cfg.rank_prior;
    int32_t nu = mfr_model_n_users(m), ni = mfr_model_n_items(m);
    float *score = malloc(sizeof(float) * (size_t)ni);
    int32_t *cand = malloc(sizeof(int32_t) * (size_t)ni);
    char *in_train = malloc((size_t)ni), *rel = malloc((size_t)ni), *cov = calloc((size_t)ni, 1);
    float *pop = calloc((size_t)ni, sizeof(float));
    for (int64_t x = 0; x < train->n; x++) pop[train->item[x]] += 1.0f;
    double sp = 0, sr = 0, sn = 0;
    int64_t users = 0;
    for (int32_t u = 0; u < nu; u++) {
        memset(in_train, 0, (size_t)ni);
        memset(rel, 0, (size_t)ni);
        for (int64_t x = 0; x < train->n; x++)
            if (train->user[x] == u) in_train[train->item[x]] = 1;
        int32_t n_rel = 0;
        for (int64_t x = 0; x < test->n; x++)
            if (test->user[x] == u && test->rating[x] >= 4.0f && !in_train[test->item[x]] &&
                !rel[test->item[x]])
                rel[test->item[x]] = 1, n_rel++;
        if (!n_rel) continue;
        users++;
        int32_t nc = 0;
        for (int32_t i = 0; i < ni; i++) {
            score[i] = popularity ? pop[i] : mfr_model_predict(m, u, i);
            if (!popularity && prior > 0) score[i] += mfr_rank_offset(prior, (int64_t)pop[i]);
            if (!in_train[i]) cand[nc++] = i;
        }
        g_scores = score;
        qsort(cand, (size_t)nc, sizeof *cand, by_score_then_index);
        int32_t len = nc < k ? nc : k, hits = 0;
        double dcg = 0, idcg = 0;
        for (int32_t p = 0; p < len; p++) {
            cov[cand[p]] = 1;
            if (rel[cand[p]]) hits++, dcg += 1.0 / log2(p + 2.0);
        }
        for (int32_t p = 0; p < (n_rel < k ? n_rel : k); p++) idcg += 1.0 / log2(p + 2.0);
        sp += (double)hits / k;
        sr += (double)hits / n_rel;
        sn += dcg / idcg;
    }
    int32_t nc = 0;
    for (int32_t i = 0; i < ni; i++) nc += cov[i];
    *out = (mfr_ranking){k, users, sp / (double)users, sr / (double)users, sn / (double)users,
                         (double)nc / ni};
    free(score);
    free(cand);
    free(in_train);
    free(rel);
    free(cov);
    free(pop);
}

static void test_random_model_matches_full_sort(void **state)
{
    (void)state;
    enum { NU = 43, NI = 150, DIM = 3, NTR = 900, NTE = 600 }; /* 43 users: groups of 8 and a tail */
    float U[NU * DIM], V[NI * DIM];
    /* small integers: many exactly equal scores; a few identical item rows */
    for (int x = 0; x < NU * DIM; x++) U[x] = (float)((int)(rnd() % 5) - 2);
    for (int x = 0; x < NI * DIM; x++) V[x] = (float)((int)(rnd() % 5) - 2);
    memcpy(V + 7 * DIM, V + 100 * DIM, sizeof(float) * DIM);
    struct fixture f;
    const mfr_model *m = fixture_model(&f, NU, NI, DIM, U, V);
    static int32_t tr[NTR][3], te[NTE][3];
    for (int x = 0; x < NTR; x++) {
        tr[x][0] = (int32_t)(rnd() % NU);
        /* skewed popularity; two statements: the order of two calls in one
         * expression is the compiler's, and the data must not depend on it */
        const uint32_t span = rnd() % NI + 1;
        tr[x][1] = (int32_t)(rnd() % span);
        tr[x][2] = (int32_t)(rnd() % 5) + 1;
    }
    for (int x = 0; x < NTE; x++) {
        te[x][0] = (int32_t)(rnd() % NU);
        te[x][1] = (int32_t)(rnd() % NI);
        te[x][2] = (int32_t)(rnd() % 5) + 1;
    }
    mfr_ratings *train = ratings(NTR, (const int32_t(*)[3])tr);
    mfr_ratings *test = ratings(NTE, (const int32_t(*)[3])te);
    const int32_t ks[] = {1, 2, 5, 10, 30, 149, 150, 400};
    for (size_t c = 0; c < sizeof ks / sizeof *ks; c++) {
        mfr_ranking rm, rp, wm, wp;
        mfr_error err = {0};
        assert_int_equal(mfr_model_ranking(m, train, test, ks[c], &rm, &rp, &err), MFR_OK);
        reference_ranking(m, train, test, ks[c], false, &wm);
        reference_ranking(m, train, test, ks[c], true, &wp);
        assert_true(wm.users > 20);
        expect_ranking(&rm, ks[c], wm.users, wm.precision, wm.recall, wm.ndcg, wm.coverage);
        expect_ranking(&rp, ks[c], wp.users, wp.precision, wp.recall, wp.ndcg, wp.coverage);
        /* deterministic: the same call gives the same bytes */
        mfr_ranking again;
        assert_int_equal(mfr_model_ranking(m, train, test, ks[c], &again, NULL, &err), MFR_OK);
        expect_same(&again, &rm);
        /* users run in parallel: the same bytes for every thread count
         * (more threads than users too) */
        const int32_t threads[] = {1, 2, 3, 64};
        for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
            mfr_ranking tm, tp;
            mfr_set_threads(threads[t]);
            assert_int_equal(mfr_model_ranking(m, train, test, ks[c], &tm, &tp, &err), MFR_OK);
            expect_same(&tm, &rm);
            expect_same(&tp, &rp);
        }
        mfr_set_threads(0);
    }
    /* with a ranking prior, every user of a group gets the offsets */
    mfr_model *mp = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_model_copy(m, &mp, &err), MFR_OK);
    mp->cfg.rank_prior = 0.7;
    bool changed = false;
    for (size_t c = 0; c < 4; c++) {
        mfr_ranking rm, wm, plain;
        assert_int_equal(mfr_model_ranking(mp, train, test, ks[c], &rm, NULL, &err), MFR_OK);
        assert_int_equal(mfr_model_ranking(m, train, test, ks[c], &plain, NULL, &err), MFR_OK);
        reference_ranking(mp, train, test, ks[c], false, &wm);
        expect_ranking(&rm, ks[c], wm.users, wm.precision, wm.recall, wm.ndcg, wm.coverage);
        changed = changed || rm.ndcg != plain.ndcg || rm.coverage != plain.coverage;
    }
    assert_true(changed); /* the prior moved some lists */
    mfr_model_destroy(mp);
    mfr_ratings_destroy(train);
    mfr_ratings_destroy(test);
    fixture_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_computed_k2),
        cmocka_unit_test(test_overflowed_dot_ranks_by_its_sign),
        cmocka_unit_test(test_rank_prior_uses_training_counts),
        cmocka_unit_test(test_k_larger_than_catalogue),
        cmocka_unit_test(test_ties_lower_index_first),
        cmocka_unit_test(test_users_without_relevant_items),
        cmocka_unit_test(test_argument_errors),
        cmocka_unit_test(test_random_model_matches_full_sort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
