/*
 * test_ease.c — the EASE baseline (src/rec/ease.c) against results worked
 * out independently of its Cholesky route:
 *   - two items by hand: G = [[3,1],[1,2]] (λ 1), so P = [[2,-1],[-1,3]]/5
 *     and B_01 = 1/3, B_10 = 1/2 (also the ridge regressions of each item on
 *     the other: 1/(2+1) and 1/(1+1));
 *   - EASE's column j is the ridge regression of item j on the others
 *     (Steck 2019, eq. 3-4), so for i != j
 *       Σ_k G_ik B_kj = (XᵀX)_ij   (G = XᵀX + λI, B_jj = 0),
 *     checked on a random 50 x 30 matrix with X built here;
 *   - the weights' bytes for 1, 2, 3 and 7 threads;
 *   - the scores (row sums of B, repeats once) and a hand-ranked list;
 *   - EASE on ratings (X holds the ratings, the last of a repeated pair):
 *     two items by hand (X = [[2,1],[1,0]], λ 1: G = [[6,2],[2,2]], so
 *     B_01 = 2/6 = 1/3, B_10 = 2/2 = 1), the same ridge identity and
 *     thread-count bytes with non-integer ratings, and two users who rated
 *     the same movies differently getting different lists;
 *   - argument errors.
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
#include "test_util.h"

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

static void expect_close(double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("got %.17g, expected %.17g (tolerance %g)", got, want, tol);
}

static void test_two_items_by_hand(void **state)
{
    (void)state;
    /* user 0 rated items 0 and 1 (item 1 twice: counts once), user 1 item 0 */
    static const int32_t t[][3] = {{0, 0, 5}, {0, 1, 1}, {1, 0, 3}, {0, 1, 4}};
    mfr_ratings *r = ratings(4, t);
    mfr_ease *e = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_ease_fit(r, 2, 2, 1.0, 1, &e, &err), MFR_OK);
    assert_int_equal(mfr_ease_n_items(e), 2);
    const double *B = mfr_ease_weights(e);
    assert_true(B[0] == 0.0 && B[3] == 0.0);
    expect_close(B[1], 1.0 / 3.0, 1e-14);
    expect_close(B[2], 1.0 / 2.0, 1e-14);
    double s[2];
    int32_t items[] = {1, 1};
    assert_int_equal(mfr_ease_scores(e, items, 2, s, &err), MFR_OK);
    assert_true(s[0] == B[2] && s[1] == 0.0);
    mfr_ease_destroy(e);
    mfr_ratings_destroy(r);
}

/* A seeded random 0/1 matrix of n_u x n_i with about density p, as ratings
 * (in a shuffled order, with some repeats); X gets the same matrix. */
static mfr_ratings *random_matrix(int32_t n_u, int32_t n_i, double p, uint64_t seed, uint8_t *X)
{
    uint64_t s = seed;
    int32_t (*t)[3] = malloc(sizeof *t * (size_t)n_u * (size_t)n_i * 2);
    assert_non_null(t);
    int64_t n = 0;
    memset(X, 0, (size_t)n_u * (size_t)n_i);
    for (int32_t i = n_i - 1; i >= 0; i--) /* item-major, descending: not the CSR's order */
        for (int32_t u = 0; u < n_u; u++) {
            s = s * 6364136223846793005u + 1442695040888963407u;
            double x = (double)(s >> 11) / 9007199254740992.0;
            if (x < p) {
                X[(size_t)u * (size_t)n_i + i] = 1;
                t[n][0] = u, t[n][1] = i, t[n][2] = 1 + (int32_t)(s >> 60) % 5, n++;
                if (x < p / 10) t[n][0] = u, t[n][1] = i, t[n][2] = 2, n++; /* a repeat */
            }
        }
    mfr_ratings *r = ratings(n, (const int32_t(*)[3])t);
    free(t);
    return r;
}

/* Σ_k G_ik B_kj = C_ij for i != j (G = C + λI), B's diagonal 0, and B
 * not zero; C is XᵀX (ni x ni), counted by the test. */
static void expect_ridge_identity(const double *B, int ni, const double *C, double lambda)
{
    double max_b = 0;
    for (int j = 0; j < ni; j++) {
        assert_true(B[j * ni + j] == 0.0);
        for (int i = 0; i < ni; i++) {
            if (i == j) continue;
            double lhs = 0;
            for (int k = 0; k < ni; k++) lhs += (C[i * ni + k] + (i == k ? lambda : 0)) * B[k * ni + j];
            expect_close(lhs, C[i * ni + j], 1e-9 * (1 + fabs(C[i * ni + j])));
            if (fabs(B[i * ni + j]) > max_b) max_b = fabs(B[i * ni + j]);
        }
    }
    assert_true(max_b > 0.01); /* the identity is not met by a zero B */
}

/* The weights of fits with 2, 3 and 7 threads are those of 1 thread. */
static void expect_thread_bytes(const mfr_ratings *r, int nu, int ni, double lambda, bool on_ratings)
{
    mfr_error err = {0};
    mfr_ease *e[2] = {NULL, NULL};
    static const int counts[] = {1, 2, 3, 7};
    for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
        mfr_ease **out = &e[c > 0];
        assert_int_equal(on_ratings ? mfr_ease_fit_ratings(r, nu, ni, lambda, counts[c], out, &err)
                                    : mfr_ease_fit(r, nu, ni, lambda, counts[c], out, &err),
                         MFR_OK);
        if (c > 0 && memcmp(mfr_ease_weights(e[1]), mfr_ease_weights(e[0]),
                            sizeof(double) * (size_t)ni * (size_t)ni) != 0)
            fail_msg("EASE%s weights differ between 1 and %d threads", on_ratings ? " on ratings" : "",
                     counts[c]);
        if (c > 0) mfr_ease_destroy(e[1]);
    }
    mfr_ease_destroy(e[0]);
}

static void test_ridge_regression_identity(void **state)
{
    (void)state;
    enum { NU = 50, NI = 30 };
    const double lambda = 2.5;
    uint8_t X[NU * NI];
    mfr_ratings *r = random_matrix(NU, NI, 0.2, 7, X);
    mfr_ease *e = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_ease_fit(r, NU, NI, lambda, 1, &e, &err), MFR_OK);
    static double C[NI * NI]; /* XᵀX from X, independently of ease.c */
    for (int a = 0; a < NI; a++)
        for (int b = 0; b < NI; b++) {
            int c = 0;
            for (int u = 0; u < NU; u++) c += X[u * NI + a] & X[u * NI + b];
            C[a * NI + b] = c;
        }
    expect_ridge_identity(mfr_ease_weights(e), NI, C, lambda);
    mfr_ease_destroy(e);
    mfr_ratings_destroy(r);
}

static void test_threads_byte_identical(void **state)
{
    (void)state;
    enum { NU = 120, NI = 97 };
    static uint8_t X[NU * NI];
    mfr_ratings *r = random_matrix(NU, NI, 0.15, 11, X);
    expect_thread_bytes(r, NU, NI, 3.0, false);
    mfr_ratings_destroy(r);
}

/* Three items; users 0 and 1 rated items 0 and 1, user 2 items 1 and 2.
 * With λ 1, G = [[3,2,0],[2,4,1],[0,1,2]]; the ridge regressions give
 * B_02 = -1/10... worked out: column 2 regresses x2 = (0,0,1) on x0, x1:
 * [[3,2],[2,4]] w = (0, 1), w = (-2, 3)/8, so B_02 = -1/4, B_12 = 3/8.
 * Column 1 regresses x1 = (1,1,1) on x0, x2: [[3,0],[0,2]] w = (2, 1), so
 * B_01 = 2/3, B_21 = 1/2. User 3 has rated item 0 only: scores
 * (0, 2/3, -1/4), so item 1 tops the list; as test, item 2 relevant for
 * user 3 (missed at k 1: precision 0, NDCG 0) and item 1 relevant for user
 * 4, who rated item 2 (scores (B_20, 1/2, 0): B_20 regresses x0 = (1,1,0)
 * on x1, x2: [[4,1],[1,2]] w = (2, 0), w = (4, -2)/7, B_20 = -2/7 < 1/2,
 * so item 1 is first: precision 1, NDCG 1). */
static void test_ranking_by_hand(void **state)
{
    (void)state;
    static const int32_t tr[][3] = {{0, 0, 5}, {0, 1, 5}, {1, 0, 5}, {1, 1, 5},
                                    {2, 1, 5}, {2, 2, 5}, {3, 0, 5}, {4, 2, 5}};
    static const int32_t te[][3] = {{3, 2, 5}, {4, 1, 4}};
    /* users 3 and 4 also enter the Gram matrix: use a fit on users 0..2 only */
    mfr_ratings *fit = ratings(6, tr), *train = ratings(8, tr), *test = ratings(2, te);
    mfr_ease *e = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_ease_fit(fit, 5, 3, 1.0, 1, &e, &err), MFR_OK);
    const double *B = mfr_ease_weights(e);
    expect_close(B[0 * 3 + 2], -0.25, 1e-14);
    expect_close(B[1 * 3 + 2], 0.375, 1e-14);
    expect_close(B[0 * 3 + 1], 2.0 / 3.0, 1e-14);
    expect_close(B[2 * 3 + 1], 0.5, 1e-14);
    expect_close(B[2 * 3 + 0], -2.0 / 7.0, 1e-14);
    mfr_ranking rk;
    /* the one output may not be NULL (it was MFR_OK with nothing computed) */
    assert_int_equal(mfr_ease_ranking(e, train, test, 1, NULL, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "out is NULL"));
    assert_int_equal(mfr_ease_ranking(e, train, test, 1, &rk, &err), MFR_OK);
    assert_int_equal(rk.users, 2);
    expect_close(rk.precision, 0.5, 1e-14);
    expect_close(rk.ndcg, 0.5, 1e-14);
    expect_close(rk.coverage, 1.0 / 3.0, 1e-14); /* item 1 twice */
    mfr_ease_destroy(e);
    mfr_ratings_destroy(fit);
    mfr_ratings_destroy(train);
    mfr_ratings_destroy(test);
}

static void test_ratings_two_items_by_hand(void **state)
{
    (void)state;
    /* user 0: item 0 = 2, item 1 = 3 and later 1 (the last counts); user 1: item 0 = 1 */
    static const int32_t t[][3] = {{0, 0, 2}, {0, 1, 3}, {1, 0, 1}, {0, 1, 1}};
    mfr_ratings *r = ratings(4, t);
    mfr_ease *e = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_ease_fit_ratings(r, 2, 2, 1.0, 1, &e, &err), MFR_OK);
    assert_int_equal(mfr_ease_uses_ratings(e), 1);
    const double *B = mfr_ease_weights(e);
    assert_true(B[0] == 0.0 && B[3] == 0.0);
    expect_close(B[1], 1.0 / 3.0, 1e-14);
    expect_close(B[2], 1.0, 1e-14);
    /* someone who gave item 0 a 3 and item 1 a 4, then a 2: 3 B_0 + 2 B_1 */
    int32_t items[] = {0, 1, 1};
    float rated[] = {3.0f, 4.0f, 2.0f};
    double s[2];
    assert_int_equal(mfr_ease_scores_rated(e, items, rated, 3, s, &err), MFR_OK);
    expect_close(s[0], 2.0 * B[2], 1e-14);
    expect_close(s[1], 3.0 * B[1], 1e-14);
    /* without the ratings a ratings EASE cannot score */
    assert_int_equal(mfr_ease_scores(e, items, 3, s, &err), MFR_ERR_INVALID);
    tu_expect_in(err.message, "mfr_ease_scores_rated");
    mfr_ease_destroy(e);
    /* a binary EASE ignores the ratings: its B is the count matrix's */
    assert_int_equal(mfr_ease_fit(r, 2, 2, 1.0, 1, &e, &err), MFR_OK);
    assert_int_equal(mfr_ease_uses_ratings(e), 0);
    double sb[2];
    assert_int_equal(mfr_ease_scores_rated(e, items, rated, 3, s, &err), MFR_OK);
    assert_int_equal(mfr_ease_scores(e, items, 3, sb, &err), MFR_OK);
    assert_memory_equal(s, sb, sizeof s);
    mfr_ease_destroy(e);
    mfr_ratings_destroy(r);
}

/* A seeded random matrix of n_u x n_i with about density p and
 * non-integer ratings in (0, 5], as ratings in a shuffled order with some
 * repeats (the later rating counts); X gets the matrix EASE should see. */
static mfr_ratings *random_rated(int32_t n_u, int32_t n_i, double p, uint64_t seed, double *X)
{
    uint64_t s = seed;
    mfr_ratings *r = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_ratings_alloc((int64_t)n_u * n_i * 2, &r, &err), MFR_OK);
    int64_t n = 0;
    memset(X, 0, sizeof *X * (size_t)n_u * (size_t)n_i);
    for (int32_t i = n_i - 1; i >= 0; i--)
        for (int32_t u = 0; u < n_u; u++) {
            s = s * 6364136223846793005u + 1442695040888963407u;
            double x = (double)(s >> 11) / 9007199254740992.0;
            if (x >= p) continue;
            for (int rep = 0; rep < (x < p / 10 ? 2 : 1); rep++) {
                s = s * 6364136223846793005u + 1442695040888963407u;
                float v = (float)(1 + (s >> 40)) / (float)(1 << 24) * 5.0f;
                r->user[n] = u, r->item[n] = i, r->rating[n] = v, r->ts[n] = 0, n++;
                X[(size_t)u * (size_t)n_i + i] = v;
            }
        }
    r->n = n;
    return r;
}

static void test_ratings_ridge_identity_and_threads(void **state)
{
    (void)state;
    enum { NU = 60, NI = 40 };
    const double lambda = 7.5;
    static double X[NU * NI], C[NI * NI];
    mfr_ratings *r = random_rated(NU, NI, 0.2, 5, X);
    mfr_ease *e = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_ease_fit_ratings(r, NU, NI, lambda, 1, &e, &err), MFR_OK);
    for (int a = 0; a < NI; a++) /* XᵀX from X, independently of ease.c */
        for (int b = 0; b < NI; b++) {
            double c = 0;
            for (int u = 0; u < NU; u++) c += X[u * NI + a] * X[u * NI + b];
            C[a * NI + b] = c;
        }
    expect_ridge_identity(mfr_ease_weights(e), NI, C, lambda);
    mfr_ease_destroy(e);
    /* sums of products of non-integer ratings: their order is fixed */
    expect_thread_bytes(r, NU, NI, lambda, true);
    mfr_ratings_destroy(r);
}

/* Users 0-3 tie items 0 and 2 (5 and 5), and 1 and 3 (5 and 5), with weak
 * cross ratings. Users 4 and 5 rated items 0 and 1, 4 with 5 and 1 stars,
 * 5 with 1 and 5: on ratings EASE ranks item 2 first for user 4 and item
 * 3 for user 5 (checked from the scores); a binary EASE gives both the
 * same list. */
static void test_ratings_change_the_list(void **state)
{
    (void)state;
    static const int32_t tr[][3] = {{0, 0, 5}, {0, 2, 5}, {1, 1, 5}, {1, 3, 5}, {2, 0, 1}, {2, 3, 1},
                                    {3, 1, 1}, {3, 2, 1}, {4, 0, 5}, {4, 1, 1}, {5, 0, 1}, {5, 1, 5}};
    mfr_ratings *fit = ratings(8, tr), *train = ratings(12, tr);
    mfr_ease *e = NULL, *eb = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_ease_fit_ratings(fit, 6, 4, 1.0, 1, &e, &err), MFR_OK);
    assert_int_equal(mfr_ease_fit(fit, 6, 4, 1.0, 1, &eb, &err), MFR_OK);
    int32_t items[] = {0, 1};
    float r4[] = {5.0f, 1.0f}, r5[] = {1.0f, 5.0f};
    double s4[4], s5[4];
    assert_int_equal(mfr_ease_scores_rated(e, items, r4, 2, s4, &err), MFR_OK);
    assert_int_equal(mfr_ease_scores_rated(e, items, r5, 2, s5, &err), MFR_OK);
    assert_true(s4[2] > s4[3]);
    assert_true(s5[3] > s5[2]);
    /* the lists at k 1: item 2 relevant for user 4, item 3 for user 5 */
    static const int32_t te[][3] = {{4, 2, 5}, {5, 3, 5}};
    mfr_ratings *test = ratings(2, te);
    mfr_ranking rk, rb;
    assert_int_equal(mfr_ease_ranking(e, train, test, 1, &rk, &err), MFR_OK);
    assert_int_equal(mfr_ease_ranking(eb, train, test, 1, &rb, &err), MFR_OK);
    assert_int_equal(rk.users, 2);
    expect_close(rk.precision, 1.0, 1e-14);
    expect_close(rk.ndcg, 1.0, 1e-14);
    expect_close(rb.precision, 0.5, 1e-14); /* one list for both */
    mfr_ease_destroy(e);
    mfr_ease_destroy(eb);
    mfr_ratings_destroy(fit);
    mfr_ratings_destroy(train);
    mfr_ratings_destroy(test);
}

static void test_argument_errors(void **state)
{
    (void)state;
    static const int32_t t[][3] = {{0, 0, 5}, {1, 2, 4}};
    mfr_ratings *r = ratings(2, t);
    mfr_ease *e = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_ease_fit(r, 2, 3, 0.0, 1, &e, &err), MFR_ERR_INVALID);
    tu_expect_in(err.message, "lambda");
    assert_int_equal(mfr_ease_fit(r, 2, 3, NAN, 1, &e, &err), MFR_ERR_INVALID);
    assert_int_equal(mfr_ease_fit(r, 2, 2, 1.0, 1, &e, &err), MFR_ERR_MISMATCH);
    tu_expect_in(err.message, "item 2");
    assert_int_equal(mfr_ease_fit(NULL, 2, 3, 1.0, 1, &e, &err), MFR_ERR_INVALID);
    assert_null(e);
    /* 2^30 items: two 8 EiB matrices, refused before any allocation */
    assert_int_equal(mfr_ease_fit(r, 2, 1 << 30, 1.0, 1, &e, &err), MFR_ERR_TOO_LARGE);
    tu_expect_in(err.message, "do not fit in this machine's");
    assert_null(e);
    assert_int_equal(mfr_ease_fit(r, 2, 3, 1.0, 1, &e, &err), MFR_OK);
    double s[3];
    int32_t bad = 3;
    assert_int_equal(mfr_ease_scores(e, &bad, 1, s, &err), MFR_ERR_INVALID);
    mfr_ranking rk;
    static const int32_t far[][3] = {{5, 0, 5}};
    mfr_ratings *test = ratings(1, far);
    assert_int_equal(mfr_ease_ranking(e, r, test, 10, &rk, &err), MFR_ERR_MISMATCH);
    assert_int_equal(mfr_ease_ranking(e, r, r, 0, &rk, &err), MFR_ERR_INVALID);
    mfr_ratings_destroy(test);
    mfr_ease_destroy(e);
    mfr_ease_destroy(NULL);
    /* on ratings: a rating that is not a number, when fitting and scoring */
    assert_int_equal(mfr_ease_fit_ratings(r, 2, 3, 1.0, 1, &e, &err), MFR_OK);
    int32_t two[] = {0, 2};
    float nan_rated[] = {4.0f, NAN};
    assert_int_equal(mfr_ease_scores_rated(e, two, nan_rated, 2, s, &err), MFR_ERR_INVALID);
    tu_expect_in(err.message, "not finite");
    assert_int_equal(mfr_ease_scores_rated(e, two, NULL, 2, s, &err), MFR_ERR_INVALID);
    /* named as called: it said mfr_ease_scores when ratings was NULL */
    assert_string_equal(err.message, "mfr_ease_scores_rated: ratings is NULL");
    assert_int_equal(mfr_ease_scores_rated(e, two, nan_rated, -1, s, &err), MFR_ERR_INVALID);
    assert_string_equal(err.message, "mfr_ease_scores_rated: n must be >= 0, got -1");
    assert_int_equal(mfr_ease_scores(e, two, 2, NULL, &err), MFR_ERR_INVALID);
    tu_expect_in(err.message, "mfr_ease_scores: ");
    mfr_ease_destroy(e);
    e = NULL;
    r->rating[1] = NAN;
    assert_int_equal(mfr_ease_fit_ratings(r, 2, 3, 1.0, 1, &e, &err), MFR_ERR_DATA);
    tu_expect_in(err.message, "rating 1");
    assert_null(e);
    mfr_ratings_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_items_by_hand),
        cmocka_unit_test(test_ridge_regression_identity),
        cmocka_unit_test(test_threads_byte_identical),
        cmocka_unit_test(test_ranking_by_hand),
        cmocka_unit_test(test_ratings_two_items_by_hand),
        cmocka_unit_test(test_ratings_ridge_identity_and_threads),
        cmocka_unit_test(test_ratings_change_the_list),
        cmocka_unit_test(test_argument_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
