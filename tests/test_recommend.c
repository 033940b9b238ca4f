/*
 * test_recommend.c — the recommender library (src/rec/recommend.c): bounded
 * top-k against a full sort (ties by index, NaN last, exclusions, k larger
 * than the catalogue), the dot and cosine measures on hand-made rows (a
 * zero-norm row scores 0), recommendations and nearest items, fold-in
 * against a Gaussian-elimination solve in the test, argument errors, and
 * the quality of fold-in on synthetic data: for every user of a trained
 * model, folding in from the user's training ratings must give a
 * validation RMSE within 5% of the trained user vectors'.
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

#include "model_priv.h"
#include "test_util.h"

static float *row_u(const mfr_model *m, int32_t u) { return m->U + (size_t)u * m->k_pad; }
static float *row_i(const mfr_model *m, int32_t i) { return m->V + (size_t)i * m->k_pad; }
static float *row_y(const mfr_model *m, int32_t i) { return m->Y + (size_t)i * m->k_pad; }

/* A model of k dims whose rows are given row-major (k floats each). */
static mfr_model *make_model(int32_t k, int32_t n_users, int32_t n_items, const float *U,
                             const float *V)
{
    mfr_model *m = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_model_alloc(k, 0, n_users, n_items, &m, &err), MFR_OK);
    for (int32_t u = 0; u < n_users; u++) memcpy(row_u(m, u), U + u * k, (size_t)k * 4);
    for (int32_t i = 0; i < n_items; i++) memcpy(row_i(m, i), V + i * k, (size_t)k * 4);
    return m;
}

/* Deterministic pseudo-random numbers for the tests (xorshift64*). */
static uint64_t g_rng = 88172645463325252ull;
static double urand(void)
{
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return (double)((g_rng * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

/* ------------------------------------------------------------------ */
/* Top-k                                                                */
/* ------------------------------------------------------------------ */

static const float *g_sort_scores;
/* Full-sort reference order: score descending, NaN last, ties by index. */
static int cmp_rank(const void *a, const void *b)
{
    int32_t ia = *(const int32_t *)a, ib = *(const int32_t *)b;
    float sa = g_sort_scores[ia], sb = g_sort_scores[ib];
    int na = isnan(sa), nb = isnan(sb);
    if (na != nb) return na ? 1 : -1;
    if (!na && sa != sb) return sa > sb ? -1 : 1;
    return ia < ib ? -1 : ia > ib;
}

static void test_top_k_matches_full_sort(void **state)
{
    (void)state;
    enum { N = 300 };
    float scores[N];
    uint8_t excl[N];
    int32_t order[N], idx[N + 5];
    float out[N + 5];
    for (int round = 0; round < 6; round++) {
        int32_t n = round == 0 ? 1 : round == 1 ? 7 : N;
        for (int32_t i = 0; i < n; i++) {
            /* few distinct values: many ties; some NaN */
            scores[i] = (float)(int)(urand() * 6) - 2.0f;
            if (round >= 4 && urand() < 0.05) scores[i] = NAN;
            excl[i] = round >= 3 && urand() < 0.3;
        }
        const uint8_t *ex = round >= 3 ? excl : NULL;
        int32_t avail = 0;
        for (int32_t i = 0; i < n; i++)
            if (!ex || !ex[i]) order[avail++] = i;
        g_sort_scores = scores;
        qsort(order, (size_t)avail, sizeof *order, cmp_rank);
        const int32_t ks[] = {1, 2, 3, 10, 64, n - 1 > 0 ? n - 1 : 1, n, n + 5};
        for (size_t t = 0; t < sizeof ks / sizeof *ks; t++) {
            int32_t k = ks[t], got = -1;
            mfr_error err = {0};
            assert_int_equal(mfr_scores_top_k(scores, n, k, ex, idx, out, &got, &err), MFR_OK);
            int32_t want = k < avail ? k : avail;
            assert_int_equal(got, want);
            for (int32_t r = 0; r < got; r++) {
                assert_int_equal(idx[r], order[r]);
                assert_memory_equal(&out[r], &scores[order[r]], sizeof(float));
            }
            /* without a score output: same indices (local and heap buffers) */
            int32_t idx2[N + 5];
            assert_int_equal(mfr_scores_top_k(scores, n, k, ex, idx2, NULL, &got, &err), MFR_OK);
            assert_int_equal(got, want);
            assert_memory_equal(idx2, idx, (size_t)got * sizeof *idx);
        }
    }
}

static void test_top_k_ties_by_index_and_bad_arguments(void **state)
{
    (void)state;
    const float s[6] = {1.0f, 3.0f, 3.0f, -0.0f, 0.0f, 3.0f};
    int32_t idx[10], n = -1;
    float out[10];
    mfr_error err = {0};
    assert_int_equal(mfr_scores_top_k(s, 6, 10, NULL, idx, out, &n, &err), MFR_OK);
    assert_int_equal(n, 6);
    const int32_t want[6] = {1, 2, 5, 0, 3, 4};
    assert_memory_equal(idx, want, sizeof want);
    assert_int_equal(mfr_scores_top_k(s, 6, 2, NULL, idx, out, &n, &err), MFR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(idx[0], 1);
    assert_int_equal(idx[1], 2);
    /* everything excluded, and an empty input */
    const uint8_t all[6] = {1, 1, 1, 1, 1, 1};
    assert_int_equal(mfr_scores_top_k(s, 6, 3, all, idx, out, &n, &err), MFR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(mfr_scores_top_k(NULL, 0, 3, NULL, idx, out, &n, &err), MFR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(mfr_scores_top_k(s, 6, 0, NULL, idx, out, &n, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "n_top (the list length) must be >= 1, got 0"));
    assert_int_equal(mfr_scores_top_k(s, -1, 3, NULL, idx, out, &n, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "n must be >= 0"));
    assert_int_equal(mfr_scores_top_k(s, 6, 3, NULL, NULL, out, &n, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "idx_out"));
}

/* ------------------------------------------------------------------ */
/* Measures, recommend, similar                                         */
/* ------------------------------------------------------------------ */

/* 2 users, 6 items, k = 3. Item 3 is zero; item 4 = 2 x item 0. */
static const float U2[2 * 3] = {1.0f, 0.5f, -1.0f, 0.0f, 0.0f, 0.0f};
static const float V6[6 * 3] = {
    1.0f, 0.0f, 0.0f,   /* 0 */
    0.0f, 2.0f, 0.0f,   /* 1 */
    0.0f, 0.0f, -3.0f,  /* 2 */
    0.0f, 0.0f, 0.0f,   /* 3: zero norm */
    2.0f, 0.0f, 0.0f,   /* 4 */
    1.0f, 1.0f, 1.0f,   /* 5 */
};

static void test_measures_dot_and_cosine(void **state)
{
    (void)state;
    mfr_model *m = make_model(3, 2, 6, U2, V6);
    mfr_error err = {0};
    float sc[6];
    const float *q = U2;
    assert_int_equal(mfr_model_score_items(m, q, MFR_MEASURE_DOT, sc, &err), MFR_OK);
    const float dot_want[6] = {1.0f, 1.0f, 3.0f, 0.0f, 2.0f, 0.5f};
    for (int i = 0; i < 6; i++) assert_float_equal(sc[i], dot_want[i], 1e-6);
    assert_int_equal(mfr_model_score_items(m, q, MFR_MEASURE_COSINE, sc, &err), MFR_OK);
    double qn = sqrt(1.0 + 0.25 + 1.0);
    const double vn[6] = {1, 2, 3, 0, 2, sqrt(3.0)};
    for (int i = 0; i < 6; i++) {
        double want = vn[i] > 0 ? dot_want[i] / (qn * vn[i]) : 0.0;
        assert_float_equal(sc[i], want, 1e-6);
        assert_true(sc[i] >= -1.0f && sc[i] <= 1.0f);
    }
    assert_float_equal(sc[3], 0.0, 0.0); /* zero-norm row */
    /* the zero user scores 0 everywhere under cosine (and dot) */
    assert_int_equal(mfr_model_score_items(m, U2 + 3, MFR_MEASURE_COSINE, sc, &err), MFR_OK);
    for (int i = 0; i < 6; i++) assert_float_equal(sc[i], 0.0, 0.0);
    /* bad measure, NULL pointers */
    assert_int_equal(mfr_model_score_items(m, q, 7, sc, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "measure"));
    assert_non_null(strstr(err.message, "got 7"));
    assert_int_equal(mfr_model_score_items(m, NULL, 0, sc, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "query"));
    mfr_model_destroy(m);
}

/* Finite rows of huge values: their norms are finite (in double), their
 * float dot is not (2e40 overflows; 1e40 - 1e40 is inf - inf, NaN). The
 * cosine is still the cosine, in [-1, 1]: it scored +-inf and NaN. */
static void test_cosine_of_huge_finite_rows(void **state)
{
    (void)state;
    const float big = 1e20f;
    const float U[2] = {big, big};
    const float V[4 * 2] = {big, big, -big, -big, 1.0f, 0.0f, big, -big};
    mfr_model *m = make_model(2, 1, 4, U, V);
    mfr_error err = {0};
    float sc[4];
    assert_int_equal(mfr_model_score_items(m, U, MFR_MEASURE_COSINE, sc, &err), MFR_OK);
    const float want[4] = {1.0f, -1.0f, (float)(1.0 / sqrt(2.0)), 0.0f};
    for (int i = 0; i < 4; i++) assert_float_equal(sc[i], want[i], 1e-6);
    /* the same through the rankings: item 0's neighbours, the user's list */
    int32_t items[4], n = 0;
    assert_int_equal(mfr_model_similar_items(m, 0, 3, MFR_MEASURE_COSINE, items, sc, &n, &err), MFR_OK);
    assert_int_equal(n, 3);
    const int32_t want_similar[3] = {2, 3, 1};
    assert_memory_equal(items, want_similar, sizeof want_similar);
    assert_float_equal(sc[2], -1.0, 1e-6);
    assert_int_equal(mfr_model_recommend(m, 0, 4, MFR_MEASURE_COSINE, NULL, items, sc, &n, &err), MFR_OK);
    assert_int_equal(items[0], 0);
    assert_float_equal(sc[0], 1.0, 1e-6);
    mfr_model_destroy(m);
}

/* Rows near FLT_MAX, whose float dot overflows though they and their
 * norms are finite: the cosine is the true one (in [-1, 1]: it was inf,
 * or NaN from inf - inf), the dot +-inf by its true sign (never NaN);
 * a finite dot keeps the kernel's bits. */
static void test_measures_of_huge_rows(void **state)
{
    (void)state;
    const float a = 0x3p126f, b = 3e38f;
    const float U1[3] = {a, b, b};
    const float V4[4 * 3] = {
        a, b, b,   /* 0: the query itself: inf */
        a, -b, b,  /* 1: a^2 - b^2 + b^2 overflows, then inf - inf */
        -a, -b, b, /* 2: -a^2 - b^2 + b^2: -inf */
        1, 0, 0,   /* 3: finite dot a */
    };
    mfr_model *m = make_model(3, 1, 4, U1, V4);
    mfr_error err = {0};
    float sc[4];
    assert_int_equal(mfr_model_score_items(m, U1, MFR_MEASURE_COSINE, sc, &err), MFR_OK);
    const double aa = (double)a * a, bb = (double)b * b, nn = aa + 2 * bb;
    const double want[4] = {1.0, aa / nn, -aa / nn, a / sqrt(nn)};
    for (int i = 0; i < 4; i++) { /* a NaN passes assert_float_equal */
        assert_true(sc[i] >= -1.0f && sc[i] <= 1.0f);
        assert_float_equal(sc[i], want[i], 1e-6);
    }
    assert_int_equal(mfr_model_score_items(m, U1, MFR_MEASURE_DOT, sc, &err), MFR_OK);
    assert_true(isinf(sc[0]) && sc[0] > 0);
    assert_true(isinf(sc[1]) && sc[1] > 0);
    assert_true(isinf(sc[2]) && sc[2] < 0);
    assert_float_equal(sc[3], a, 0.0);
    mfr_model_destroy(m);
}

static void test_recommend_and_similar(void **state)
{
    (void)state;
    mfr_model *m = make_model(3, 2, 6, U2, V6);
    mfr_error err = {0};
    int32_t items[8], n = -1;
    float sc[8];
    /* dot: 2 (3), 4 (2), then 0 and 1 tie at 1 -> lower index first, 5, 3 */
    assert_int_equal(mfr_model_recommend(m, 0, 10, MFR_MEASURE_DOT, NULL, items, sc, &n, &err),
                     MFR_OK);
    assert_int_equal(n, 6);
    const int32_t want_dot[6] = {2, 4, 0, 1, 5, 3};
    assert_memory_equal(items, want_dot, sizeof want_dot);
    assert_float_equal(sc[0], 3.0, 1e-6);
    /* exclusions */
    const uint8_t ex[6] = {0, 0, 1, 0, 1, 0};
    assert_int_equal(mfr_model_recommend(m, 0, 2, MFR_MEASURE_DOT, ex, items, sc, &n, &err),
                     MFR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(items[0], 0);
    assert_int_equal(items[1], 1);
    /* recommend_vector with the same vector gives the same answer */
    int32_t items2[8], n2;
    float sc2[8];
    assert_int_equal(mfr_model_recommend_vector(m, U2, 0.0f, 10, MFR_MEASURE_COSINE, NULL, items2, sc2,
                                                &n2, &err),
                     MFR_OK);
    assert_int_equal(mfr_model_recommend(m, 0, 10, MFR_MEASURE_COSINE, NULL, items, sc, &n, &err),
                     MFR_OK);
    assert_int_equal(n, n2);
    assert_memory_equal(items, items2, (size_t)n * sizeof *items);
    assert_memory_equal(sc, sc2, (size_t)n * sizeof *sc);
    /* cosine: items 0, 2 and 4 tie exactly at 2/3 -> by index */
    assert_int_equal(items[0], 0);
    assert_int_equal(items[1], 2);
    assert_int_equal(items[2], 4);
    assert_float_equal(sc[0], 2.0 / 3.0, 1e-7);

    /* similar: item 0's cosine neighbours: 4 (1.0), 5, then 1/2/3 at 0 */
    assert_int_equal(mfr_model_similar_items(m, 0, 10, MFR_MEASURE_COSINE, items, sc, &n, &err),
                     MFR_OK);
    assert_int_equal(n, 5); /* never itself */
    const int32_t want_sim[5] = {4, 5, 1, 2, 3};
    assert_memory_equal(items, want_sim, sizeof want_sim);
    assert_float_equal(sc[0], 1.0, 1e-6);
    assert_float_equal(sc[1], 1.0 / sqrt(3.0), 1e-6);
    /* dot: 4 (2), 5 (1), then zeros */
    assert_int_equal(mfr_model_similar_items(m, 0, 2, MFR_MEASURE_DOT, items, NULL, &n, &err),
                     MFR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(items[0], 4);
    assert_int_equal(items[1], 5);

    /* errors name the argument */
    assert_int_equal(mfr_model_recommend(m, 2, 3, MFR_MEASURE_DOT, NULL, items, sc, &n, &err),
                     MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "user index 2"));
    assert_int_equal(mfr_model_recommend(m, 0, 0, MFR_MEASURE_DOT, NULL, items, sc, &n, &err),
                     MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "n_top (the list length) must be >= 1"));
    assert_int_equal(mfr_model_recommend(m, 0, 3, 9, NULL, items, sc, &n, &err),
                     MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "measure"));
    assert_int_equal(mfr_model_similar_items(m, -1, 3, MFR_MEASURE_DOT, items, sc, &n, &err),
                     MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "item index -1"));
    assert_int_equal(mfr_model_recommend_vector(m, NULL, 0.0f, 3, 0, NULL, items, sc, &n, &err),
                     MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "user_vec"));
    assert_int_equal(mfr_model_recommend(NULL, 0, 3, 0, NULL, items, sc, &n, &err),
                     MFR_ERR_INVALID);
    mfr_model_destroy(m);
}

/* A large catalogue with k above the local-buffer size and no score output
 * agrees with the scored call, and with a full sort of score_items. */
static void test_recommend_large_catalogue(void **state)
{
    (void)state;
    enum { K = 5, NI = 2000 };
    float *V = malloc(NI * K * sizeof *V), u[K];
    for (int x = 0; x < NI * K; x++) V[x] = (float)(urand() * 2 - 1);
    for (int x = 0; x < K; x++) u[x] = (float)(urand() * 2 - 1);
    mfr_model *m = make_model(K, 1, NI, u, V);
    mfr_error err = {0};
    float *all = malloc(NI * sizeof *all), *sc = malloc(NI * sizeof *sc);
    int32_t *order = malloc(NI * sizeof *order), *items = malloc(NI * sizeof *items);
    int32_t *items2 = malloc(NI * sizeof *items2);
    for (int measure = 0; measure < 2; measure++) {
        assert_int_equal(mfr_model_score_items(m, u, measure, all, &err), MFR_OK);
        for (int32_t i = 0; i < NI; i++) order[i] = i;
        g_sort_scores = all;
        qsort(order, NI, sizeof *order, cmp_rank);
        int32_t n, n2;
        assert_int_equal(mfr_model_recommend(m, 0, 700, measure, NULL, items, sc, &n, &err), MFR_OK);
        assert_int_equal(n, 700);
        assert_memory_equal(items, order, 700 * sizeof *items);
        assert_int_equal(mfr_model_recommend(m, 0, 700, measure, NULL, items2, NULL, &n2, &err),
                         MFR_OK);
        assert_memory_equal(items, items2, 700 * sizeof *items);
        for (int32_t r = 0; r < n; r++) assert_memory_equal(&sc[r], &all[items[r]], sizeof(float));
    }
    free(V);
    free(all);
    free(sc);
    free(order);
    free(items);
    free(items2);
    mfr_model_destroy(m);
}

/* ------------------------------------------------------------------ */
/* Fold-in                                                              */
/* ------------------------------------------------------------------ */

/* Solves the d x d system a x = b by Gaussian elimination with partial
 * pivoting (a and b are overwritten). */
static void gauss_solve(double *a, double *b, int d, double *x)
{
    for (int c = 0; c < d; c++) {
        int p = c;
        for (int r = c + 1; r < d; r++)
            if (fabs(a[r * d + c]) > fabs(a[p * d + c])) p = r;
        for (int j = 0; j < d; j++) {
            double t = a[c * d + j];
            a[c * d + j] = a[p * d + j];
            a[p * d + j] = t;
        }
        double t = b[c];
        b[c] = b[p];
        b[p] = t;
        for (int r = c + 1; r < d; r++) {
            double f = a[r * d + c] / a[c * d + c];
            for (int j = c; j < d; j++) a[r * d + j] -= f * a[c * d + j];
            b[r] -= f * b[c];
        }
    }
    for (int r = d - 1; r >= 0; r--) {
        double s = b[r];
        for (int j = r + 1; j < d; j++) s -= a[r * d + j] * x[j];
        x[r] = s / a[r * d + r];
    }
}

/* The fold-in of (items, ratings) by the direct solve in the test. */
static void direct_fold_in(const float *V, int d, const int32_t *items, const float *r, int n,
                           double lambda, double *x)
{
    double a[64], b[8];
    for (int i = 0; i < d; i++) {
        b[i] = 0;
        for (int j = 0; j < d; j++) a[i * d + j] = i == j ? lambda : 0.0;
    }
    for (int t = 0; t < n; t++) {
        const float *v = V + items[t] * d;
        for (int i = 0; i < d; i++) {
            b[i] += (double)r[t] * v[i];
            for (int j = 0; j < d; j++) a[i * d + j] += (double)v[i] * v[j];
        }
    }
    gauss_solve(a, b, d, x);
}

static void test_fold_in_matches_direct_solve(void **state)
{
    (void)state;
    enum { D = 4, NI = 7 };
    const float V[NI * D] = {
        1.0f,  0.5f,  -0.2f, 0.3f,  -0.4f, 1.2f, 0.1f,  0.0f,  0.3f, -0.3f,
        0.9f,  -1.1f, 0.05f, 0.7f,  0.6f,  0.2f, -1.0f, -0.5f, 0.4f, 1.5f,
        0.25f, 0.25f, 0.25f, 0.25f, 2.0f,  0.0f, 0.0f,  -1.0f,
    };
    float u0[D] = {0};
    mfr_model *m = make_model(D, 1, NI, u0, V);
    mfr_error err = {0};
    const int32_t items[6] = {0, 2, 3, 5, 6, 2};
    const float r[6] = {4.0f, 3.0f, 5.0f, 1.0f, 2.0f, 4.0f};
    const double lambdas[3] = {0.0, MFR_FOLD_IN_LAMBDA_DEFAULT, 2.5};
    for (int l = 0; l < 3; l++) {
        for (int n = 4; n <= 6; n++) {
            float got[D];
            double want[D];
            assert_int_equal(mfr_model_fold_in(m, items, r, n, lambdas[l], got, NULL, &err), MFR_OK);
            direct_fold_in(V, D, items, r, n, lambdas[l], want);
            for (int x = 0; x < D; x++)
                assert_float_equal(got[x], want[x], 1e-5 * (1.0 + fabs(want[x])));
        }
    }
    /* with lambda = 0 and 4 independent rows the fit interpolates */
    float u[D];
    assert_int_equal(mfr_model_fold_in(m, items, r, 4, 0.0, u, NULL, &err), MFR_OK);
    for (int t = 0; t < 4; t++) {
        double p = 0;
        for (int x = 0; x < D; x++) p += (double)u[x] * V[items[t] * D + x];
        assert_float_equal(p, r[t], 1e-4);
    }
    /* no ratings: the zero vector */
    for (int x = 0; x < D; x++) u[x] = 9.0f;
    assert_int_equal(mfr_model_fold_in(m, NULL, NULL, 0, 0.1, u, NULL, &err), MFR_OK);
    for (int x = 0; x < D; x++) assert_float_equal(u[x], 0.0, 0.0);

    /* singular: lambda 0 with fewer ratings than dimensions; errors */
    assert_int_equal(mfr_model_fold_in(m, items, r, 2, 0.0, u, NULL, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "singular"));
    assert_int_equal(mfr_model_fold_in(m, items, r, 3, -1.0, u, NULL, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "lambda"));
    assert_int_equal(mfr_model_fold_in(m, items, r, 3, NAN, u, NULL, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "lambda"));
    const int32_t bad_items[2] = {1, 7};
    assert_int_equal(mfr_model_fold_in(m, bad_items, r, 2, 0.1, u, NULL, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "rating 1 names item index 7"));
    const float bad_r[2] = {3.0f, INFINITY};
    assert_int_equal(mfr_model_fold_in(m, items, bad_r, 2, 0.1, u, NULL, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "rating 1"));
    assert_int_equal(mfr_model_fold_in(m, items, r, -1, 0.1, u, NULL, &err), MFR_ERR_INVALID);
    assert_int_equal(mfr_model_fold_in(m, NULL, r, 2, 0.1, u, NULL, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "items"));
    assert_int_equal(mfr_model_fold_in(m, items, r, 2, 0.1, NULL, NULL, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "user_vec_out"));
    mfr_model_destroy(m);
}

/* A user's dot scores are mfr_model_predict's values bit for bit (one
 * definition: the kernels' dot), on rows where the order of the sum
 * matters: a sequential sum differs from it for some pairs. */
static void test_dot_scores_are_predictions(void **state)
{
    (void)state;
    enum { NU = 20, NI = 40, K = 30 };
    mfr_model *m = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_model_alloc(K, 0, NU, NI, &m, &err), MFR_OK);
    uint32_t x = 12345;
    for (int32_t u = 0; u < NU; u++)
        for (int32_t j = 0; j < K; j++) row_u(m, u)[j] = (float)((x = x * 1664525u + 1013904223u) >> 8) / 16777216.0f - 0.5f;
    for (int32_t i = 0; i < NI; i++)
        for (int32_t j = 0; j < K; j++) row_i(m, i)[j] = (float)((x = x * 1664525u + 1013904223u) >> 8) / 8388608.0f - 1.0f;
    int sequential_differs = 0;
    for (int32_t u = 0; u < NU; u++) {
        int32_t items[NI], n = 0;
        float sc[NI];
        assert_int_equal(mfr_model_recommend(m, u, NI, MFR_MEASURE_DOT, NULL, items, sc, &n, &err), MFR_OK);
        assert_int_equal(n, NI);
        for (int32_t r = 0; r < n; r++) {
            const float p = mfr_model_predict(m, u, items[r]);
            assert_memory_equal(&sc[r], &p, sizeof p);
            volatile float s = 0.0f;
            for (int32_t j = 0; j < K; j++) {
                volatile float t = row_u(m, u)[j] * row_i(m, items[r])[j];
                s = s + t;
            }
            sequential_differs += s != p;
        }
    }
    assert_true(sequential_differs > 0);
    mfr_model_destroy(m);
}

/* test_bias_model: the scores of `m`, the model with biases `bu` (users')
 * and `plain`, the same factors without: dot scores are the predictions,
 * cosine and item-item scores those of `plain`. */
static void check_bias_scores(const mfr_model *m, const mfr_model *plain, const float *bu)
{
    mfr_error err = {0};
    int32_t items[6], items2[6], n, n2;
    float sc[6], sc2[6];
    for (int32_t u = 0; u < 2; u++) {
        assert_int_equal(mfr_model_recommend(m, u, 6, MFR_MEASURE_DOT, NULL, items, sc, &n, &err),
                         MFR_OK);
        assert_int_equal(n, 6);
        for (int r = 0; r < 6; r++)
            assert_memory_equal(&sc[r], &(float){mfr_model_predict(m, u, items[r])}, sizeof(float));
        /* the same user given as a vector and a bias */
        assert_int_equal(mfr_model_recommend_vector(m, U2 + u * 3, bu[u], 6, MFR_MEASURE_DOT, NULL,
                                                    items2, sc2, &n2, &err),
                         MFR_OK);
        assert_memory_equal(items, items2, sizeof items);
        assert_memory_equal(sc, sc2, sizeof sc);
        /* cosine: exactly the scores of the model without biases */
        assert_int_equal(mfr_model_recommend(m, u, 6, MFR_MEASURE_COSINE, NULL, items, sc, &n, &err),
                         MFR_OK);
        assert_int_equal(mfr_model_recommend(plain, u, 6, MFR_MEASURE_COSINE, NULL, items2, sc2, &n2,
                                             &err),
                         MFR_OK);
        assert_memory_equal(items, items2, sizeof items);
        assert_memory_equal(sc, sc2, sizeof sc);
    }
    for (int measure = 0; measure < 2; measure++) {
        assert_int_equal(mfr_model_similar_items(m, 5, 6, measure, items, sc, &n, &err), MFR_OK);
        assert_int_equal(mfr_model_similar_items(plain, 5, 6, measure, items2, sc2, &n2, &err),
                         MFR_OK);
        assert_int_equal(n, 5);
        assert_memory_equal(items, items2, 5 * sizeof *items);
        assert_memory_equal(sc, sc2, 5 * sizeof *sc);
    }
}

/* A model with biases: rows (u, b_u, 1) and (v, 1, b_i). A user's dot
 * score is the prediction; cosine and item-item scores ignore the biases;
 * fold-in solves for (u, b_u) with targets r - b_i. */
static void test_bias_model(void **state)
{
    (void)state;
    mfr_model *plain = make_model(3, 2, 6, U2, V6);
    mfr_model *m = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_model_alloc(3, 1, 2, 6, &m, &err), MFR_OK);
    const float bu[2] = {0.25f, -0.5f}, bi[6] = {3.0f, 3.5f, 2.0f, 4.0f, 3.25f, 1.0f};
    for (int32_t u = 0; u < 2; u++) {
        memcpy(row_u(m, u), U2 + u * 3, 12);
        row_u(m, u)[3] = bu[u];
    }
    for (int32_t i = 0; i < 6; i++) {
        memcpy(row_i(m, i), V6 + i * 3, 12);
        row_i(m, i)[4] = bi[i];
    }
    assert_float_equal(row_u(m, 0)[4], 1.0, 0.0); /* constant lanes set by alloc */
    assert_float_equal(row_i(m, 0)[3], 1.0, 0.0);
    check_bias_scores(m, plain, bu);
    /* fold-in: unknowns (u - ū, b_u), design rows (v, 1), targets
     * r - b_i - <ū, v>, ū the mean user vector */
    const int32_t fi[5] = {0, 1, 2, 4, 5};
    const float fr[5] = {4.0f, 5.0f, 2.0f, 3.0f, 1.0f};
    const double ubar[3] = {0.5, 0.25, -0.5};
    for (int l = 0; l < 2; l++) {
        double lambda = l ? 0.5 : 0.0;
        double a[16] = {0}, b[4] = {0}, want[4];
        for (int x = 0; x < 4; x++) a[x * 4 + x] = lambda;
        for (int t = 0; t < 5; t++) {
            double xr[4] = {V6[fi[t] * 3], V6[fi[t] * 3 + 1], V6[fi[t] * 3 + 2], 1.0};
            double target = fr[t] - (double)bi[fi[t]] -
                            (ubar[0] * xr[0] + ubar[1] * xr[1] + ubar[2] * xr[2]);
            for (int x = 0; x < 4; x++) {
                b[x] += target * xr[x];
                for (int y = 0; y < 4; y++) a[x * 4 + y] += xr[x] * xr[y];
            }
        }
        gauss_solve(a, b, 4, want);
        float got[3], gb = -99.0f;
        assert_int_equal(mfr_model_fold_in(m, fi, fr, 5, lambda, got, &gb, &err), MFR_OK);
        for (int x = 0; x < 3; x++)
            assert_float_equal(got[x], want[x] + ubar[x], 1e-5 * (1 + fabs(want[x] + ubar[x])));
        assert_float_equal(gb, want[3], 1e-5 * (1 + fabs(want[3])));
    }
    /* implicit feedback: u = p + o, o = 5^-1/2 sum of the rated movies' Y
     * rows plus the mean training P (a copy of U here: ū), and the targets
     * lose <o, v_j> */
    assert_int_equal(mfr_model_alloc_implicit(m, &err), MFR_OK);
    for (int32_t i = 0; i < 6; i++)
        for (int x = 0; x < 3; x++) row_y(m, i)[x] = 0.1f * (float)(i + 1) - 0.2f * (float)x;
    {
        double o[3] = {0}, a[16] = {0}, b[4] = {0}, want[4], lambda = 0.5;
        for (int t = 0; t < 5; t++)
            for (int x = 0; x < 3; x++) o[x] += row_y(m, fi[t])[x] / sqrt(5.0);
        for (int x = 0; x < 3; x++) o[x] += ubar[x];
        for (int x = 0; x < 4; x++) a[x * 4 + x] = lambda;
        for (int t = 0; t < 5; t++) {
            double xr[4] = {V6[fi[t] * 3], V6[fi[t] * 3 + 1], V6[fi[t] * 3 + 2], 1.0};
            double target = fr[t] - (double)bi[fi[t]] - (o[0] * xr[0] + o[1] * xr[1] + o[2] * xr[2]);
            for (int x = 0; x < 4; x++) {
                b[x] += target * xr[x];
                for (int y = 0; y < 4; y++) a[x * 4 + y] += xr[x] * xr[y];
            }
        }
        gauss_solve(a, b, 4, want);
        float got[3], gb;
        assert_int_equal(mfr_model_fold_in(m, fi, fr, 5, lambda, got, &gb, &err), MFR_OK);
        for (int x = 0; x < 3; x++)
            assert_float_equal(got[x], want[x] + o[x], 1e-5 * (1 + fabs(want[x] + o[x])));
        assert_float_equal(gb, want[3], 1e-5 * (1 + fabs(want[3])));
        assert_true(fabs(o[0] - ubar[0]) > 0.1); /* the offset is really there */
        /* no ratings: the mean training P (no offset) */
        assert_int_equal(mfr_model_fold_in(m, NULL, NULL, 0, 0.1, got, &gb, &err), MFR_OK);
        for (int x = 0; x < 3; x++) assert_float_equal(got[x], ubar[x], 1e-6);
    }
    /* the bias makes 4 unknowns: 3 ratings and lambda 0 are singular */
    float got[3], gb;
    assert_int_equal(mfr_model_fold_in(m, fi, fr, 3, 0.0, got, &gb, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "singular"));
    /* a model without biases reports a zero bias */
    gb = 7.0f;
    assert_int_equal(mfr_model_fold_in(plain, fi, fr, 5, 0.1, got, &gb, &err), MFR_OK);
    assert_float_equal(gb, 0.0, 0.0);
    /* the default lambda follows the model's L2 terms */
    assert_float_equal(mfr_model_fold_in_lambda(m, 1000, 4), MFR_FOLD_IN_LAMBDA_DEFAULT, 0.0);
    m->cfg.l2 = 0.5;
    m->cfg.l2_freq = 0.25;
    assert_float_equal(mfr_model_fold_in_lambda(m, 1000, 4),
                       MFR_FOLD_IN_LAMBDA_DEFAULT + 0.5 * 1000 / 2 + 0.25 * 4, 1e-12);
    assert_float_equal(mfr_model_fold_in_lambda(m, 0, 0), MFR_FOLD_IN_LAMBDA_DEFAULT, 0.0);
    assert_float_equal(mfr_model_fold_in_lambda(NULL, 10, 10), MFR_FOLD_IN_LAMBDA_DEFAULT, 0.0);
    mfr_model_destroy(m);
    mfr_model_destroy(plain);
}

/* test_fold_in_range_on_a_ranking_model: what mfr_model_fold_in_range and
 * mfr_model_fold_in refuse (`got`: a user vector of `m`). */
static void check_fold_in_range_refusals(const mfr_model *m, const int32_t *fi, const float *fr,
                                         double lambda, float *got)
{
    mfr_error err = {0};
    /* a range must be finite with lo < hi */
    assert_int_equal(mfr_model_fold_in_range(m, fi, fr, 5, lambda, 5.0f, 5.0f, got, NULL, &err),
                     MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "rating range"));
    assert_int_equal(mfr_model_fold_in_range(m, fi, fr, 5, lambda, 1.0f, INFINITY, got, NULL, &err),
                     MFR_ERR_INVALID);
    assert_int_equal(mfr_model_fold_in_range(m, fi, fr, 5, lambda, NAN, 5.0f, got, NULL, &err),
                     MFR_ERR_INVALID);
    /* messages name the function called (they said mfr_model_fold_in) */
    assert_int_equal(mfr_model_fold_in_range(m, fi, NULL, 5, lambda, 1.0f, 5.0f, got, NULL, &err),
                     MFR_ERR_INVALID);
    assert_string_equal(err.message, "mfr_model_fold_in_range: ratings is NULL");
    assert_int_equal(mfr_model_fold_in(m, fi, fr, 5, lambda, NULL, NULL, &err), MFR_ERR_INVALID);
    assert_string_equal(err.message, "mfr_model_fold_in: user_vec_out is NULL");
}

/* mfr_model_fold_in_range: on a ranking model (no biases, gravity) a
 * rating r is fitted to r + MFR_FOLD_IN_STRETCH (r - c), c the middle of
 * the rating range, and only the movies rated c or more enter the implicit
 * offset; a model that predicts ratings folds in as mfr_model_fold_in. */
static void test_fold_in_range_on_a_ranking_model(void **state)
{
    (void)state;
    enum { D = 3, NI = 6 };
    const float V[NI * D] = {1.0f, 0.5f, -0.2f, -0.4f, 1.2f, 0.1f, 0.3f, -0.3f, 0.9f,
                             -1.1f, 0.05f, 0.7f, 0.6f, 0.2f, -1.0f, 0.25f, 0.8f, 0.4f};
    const float U[2 * D] = {0.5f, 0.5f, -1.0f, 0.5f, 0.0f, 0.0f}; /* mean (0.5, 0.25, -0.5) */
    mfr_model *m = make_model(D, 2, NI, U, V);
    mfr_error err = {0};
    const int32_t fi[5] = {0, 1, 2, 4, 5};
    const float fr[5] = {4.0f, 5.0f, 2.0f, 3.0f, 1.0f};
    const double lambda = 0.5, mid = 3.0;
    float plain[D], got[D], gb = 7.0f;

    /* a model with little gravity predicts ratings: the range changes nothing */
    m->cfg.gravity = 0.9 * MFR_RANKING_GRAVITY;
    assert_int_equal(mfr_model_predicts_ratings(m), 1);
    assert_int_equal(mfr_model_fold_in(m, fi, fr, 5, lambda, plain, NULL, &err), MFR_OK);
    assert_int_equal(mfr_model_fold_in_range(m, fi, fr, 5, lambda, 1.0f, 5.0f, got, &gb, &err), MFR_OK);
    assert_memory_equal(got, plain, sizeof got);
    assert_float_equal(gb, 0.0, 0.0);
    m->cfg.gravity = 0.0;
    m->cfg.gravity_bias = MFR_RANKING_GRAVITY; /* without biases it is gravity itself */
    assert_int_equal(mfr_model_predicts_ratings(m), 0);
    m->cfg.bias = 1; /* with biases it pulls the biased scores: still ratings */
    assert_int_equal(mfr_model_predicts_ratings(m), 1);
    m->cfg.bias = 0;
    m->cfg.gravity_bias = 0.0;
    m->cfg.gravity = 15.0;
    assert_int_equal(mfr_model_predicts_ratings(m), 0);
    assert_int_equal(mfr_model_predicts_ratings(NULL), 0);
    /* an unknown range (mfr_model_fold_in) keeps the ratings as they are */
    assert_int_equal(mfr_model_fold_in(m, fi, fr, 5, lambda, got, NULL, &err), MFR_OK);
    assert_memory_equal(got, plain, sizeof got);

    /* with implicit feedback: o = mean P + 3^-1/2 (Y_0 + Y_1 + Y_4), the
     * movies rated 4, 5 and 3; the targets less <o, v>: r + 0.5 (r - 3)
     * from 3 up, and -0.5 (3 - r) below (the prior's score less that) */
    assert_int_equal(mfr_model_alloc_implicit(m, &err), MFR_OK);
    for (int32_t i = 0; i < NI; i++)
        for (int x = 0; x < D; x++) row_y(m, i)[x] = 0.1f * (float)(i + 1) - 0.2f * (float)x;
    for (int liked = 1; liked >= 0; liked--) {
        /* liked 0: every rating below the middle, so no offset at all */
        const float lo_r[5] = {2.0f, 1.0f, 2.0f, 2.5f, 1.0f};
        const float *r = liked ? fr : lo_r;
        double o[D] = {0.5, 0.25, -0.5}, y[D] = {0}, a[D * D] = {0}, b[D] = {0}, want[D];
        int n_liked = 0;
        for (int t = 0; t < 5; t++) {
            if (r[t] < mid) continue;
            n_liked++;
            for (int x = 0; x < D; x++) y[x] += row_y(m, fi[t])[x];
        }
        assert_int_equal(n_liked, liked ? 3 : 0);
        for (int x = 0; x < D && n_liked; x++) o[x] += y[x] / sqrt((double)n_liked);
        for (int x = 0; x < D; x++) a[x * D + x] = lambda;
        for (int t = 0; t < 5; t++) {
            const float *v = V + fi[t] * D;
            double target = r[t] < mid ? -MFR_FOLD_IN_STRETCH * (mid - r[t])
                                       : r[t] + MFR_FOLD_IN_STRETCH * (r[t] - mid) -
                                             (o[0] * v[0] + o[1] * v[1] + o[2] * v[2]);
            for (int x = 0; x < D; x++) {
                b[x] += target * v[x];
                for (int z = 0; z < D; z++) a[x * D + z] += (double)v[x] * v[z];
            }
        }
        gauss_solve(a, b, D, want);
        assert_int_equal(mfr_model_fold_in_range(m, fi, r, 5, lambda, 1.0f, 5.0f, got, &gb, &err), MFR_OK);
        for (int x = 0; x < D; x++)
            assert_float_equal(got[x], want[x] + o[x], 1e-5 * (1 + fabs(want[x] + o[x])));
    }
    /* the fitted score follows the rating: one movie rated 1 scores below
     * the same movie rated 5 */
    const int32_t one[1] = {3};
    const float r1[1] = {1.0f}, r5[1] = {5.0f};
    float g1[D], g5[D];
    assert_int_equal(mfr_model_fold_in_range(m, one, r1, 1, lambda, 1.0f, 5.0f, g1, NULL, &err), MFR_OK);
    assert_int_equal(mfr_model_fold_in_range(m, one, r5, 1, lambda, 1.0f, 5.0f, g5, NULL, &err), MFR_OK);
    const float *v3 = V + 3 * D;
    double s1 = 0, s5 = 0;
    for (int x = 0; x < D; x++) s1 += (double)g1[x] * v3[x], s5 += (double)g5[x] * v3[x];
    assert_true(s1 < s5);
    /* rated below the middle, it scores below where the average user (the
     * mean P, no offset) has it: the low rating pushes away */
    const double s0 = 0.5 * v3[0] + 0.25 * v3[1] - 0.5 * v3[2];
    assert_true(s1 < s0 - 1e-3);

    check_fold_in_range_refusals(m, fi, fr, lambda, got);
    mfr_model_destroy(m);
}

/* ------------------------------------------------------------------ */
/* Fold-in quality on synthetic data                                    */
/* ------------------------------------------------------------------ */

/* Prediction of a k-float vector for item i, summed in double. */
static double predict_vec(const mfr_model *m, const float *u, int32_t i)
{
    const float *v = m->V + (size_t)i * m->k_pad;
    double s = 0;
    for (int32_t x = 0; x < m->k; x++) s += (double)u[x] * v[x];
    return s;
}

/* Trains on a synthetic planted-rank dataset (with or without biases),
 * folds every user in from its training ratings, and compares the
 * validation RMSE of the folded-in users with the trained user vectors'
 * over users that have training ratings. */
/* A model trained on a synthetic planted-rank dataset (300 users, 200
 * items, rank 8) with a 20% random split. */
struct synth_fixture {
    char *dir, *data;
    mfr_dataset *ds;
    mfr_split *sp;
    mfr_trainer *tr;
};

static const mfr_model *synth_train(struct synth_fixture *f, int32_t bias, double l2,
                                    double implicit)
{
    f->dir = tu_mkdtemp();
    f->data = tu_path(f->dir, "data");
    mfr_error err = {0};
    mfr_synth_options o;
    mfr_synth_options_default(&o);
    o.n_users = 300;
    o.n_items = 200;
    o.n_ratings = 15000;
    o.rank = 8;
    o.seed = 11;
    f->ds = NULL;
    f->sp = NULL;
    f->tr = NULL;
    assert_int_equal(mfr_synth_write(&o, f->data, &err), MFR_OK);
    assert_int_equal(mfr_dataset_load(f->data, NULL, &f->ds, &err), MFR_OK);
    assert_int_equal(mfr_split_create(f->ds, "random:0.2", 7, &f->sp, &err), MFR_OK);
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 8;
    cfg.lr = 0.02;
    cfg.n_threads = 1;
    cfg.bias = bias;
    cfg.l2 = l2;
    cfg.implicit = implicit;
    assert_int_equal(mfr_trainer_create(&cfg, f->ds, mfr_split_train(f->sp), "random:0.2",
                                        &f->tr, &err),
                     MFR_OK);
    for (int e = 0; e < 300; e++) assert_int_equal(mfr_trainer_step(f->tr, NULL, NULL), MFR_OK);
    return mfr_trainer_model(f->tr);
}

static void synth_free(struct synth_fixture *f)
{
    mfr_trainer_destroy(f->tr);
    mfr_split_destroy(f->sp);
    mfr_dataset_destroy(f->ds);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f->data);
}

static void fold_in_quality(int32_t bias, double l2, double implicit)
{
    struct synth_fixture fx;
    const mfr_model *m = synth_train(&fx, bias, l2, implicit);
    mfr_split *sp = fx.sp;
    mfr_error err = {0};

    /* each user's training ratings, grouped (counting sort by user) */
    const mfr_ratings *train = mfr_split_train(sp), *test = mfr_split_test(sp);
    int32_t nu = mfr_model_n_users(m), d = mfr_model_k(m);
    int64_t nt = mfr_ratings_count(train);
    int64_t *start = calloc((size_t)nu + 1, sizeof *start);
    int32_t *items = malloc((size_t)nt * sizeof *items);
    float *vals = malloc((size_t)nt * sizeof *vals);
    int64_t *fill = calloc((size_t)nu, sizeof *fill);
    for (int64_t x = 0; x < nt; x++) {
        int32_t u;
        mfr_ratings_get(train, x, &u, NULL, NULL, NULL, NULL);
        start[u + 1]++;
    }
    for (int32_t u = 0; u < nu; u++) start[u + 1] += start[u];
    for (int64_t x = 0; x < nt; x++) {
        int32_t u, i;
        float r;
        mfr_ratings_get(train, x, &u, &i, &r, NULL, NULL);
        int64_t p = start[u] + fill[u]++;
        items[p] = i;
        vals[p] = r;
    }
    /* fold every user in from its training ratings */
    float *folded = malloc((size_t)nu * (size_t)d * sizeof *folded);
    float *fbias = malloc((size_t)nu * sizeof *fbias);
    for (int32_t u = 0; u < nu; u++) {
        int32_t n = (int32_t)(start[u + 1] - start[u]);
        assert_int_equal(mfr_model_fold_in(m, items + start[u], vals + start[u], n,
                                           mfr_model_fold_in_lambda(m, nt, n), folded + (size_t)u * d,
                                           &fbias[u], &err),
                         MFR_OK);
    }
    /* validation RMSE over users that have training ratings */
    double se_fold = 0, se_train = 0;
    int64_t cnt = 0;
    for (int64_t x = 0; x < mfr_ratings_count(test); x++) {
        int32_t u, i;
        float r;
        mfr_ratings_get(test, x, &u, &i, &r, NULL, NULL);
        if (start[u + 1] == start[u]) continue;
        double pf = predict_vec(m, folded + (size_t)u * d, i);
        if (bias) pf += (double)fbias[u] + (double)mfr_model_item_bias(m, i);
        double ef = pf - r;
        double et = (double)mfr_model_predict(m, u, i) - r;
        se_fold += ef * ef;
        se_train += et * et;
        cnt++;
    }
    double rmse_fold = sqrt(se_fold / (double)cnt), rmse_train = sqrt(se_train / (double)cnt);
    print_message("bias %d, l2 %g, implicit %g: fold-in validation RMSE %.4f vs trained %.4f (ratio %.3f, "
                  "%lld ratings, lambda %g)\n",
                  (int)bias, l2, implicit, rmse_fold, rmse_train, rmse_fold / rmse_train, (long long)cnt,
                  mfr_model_fold_in_lambda(m, nt, 0));
    assert_true(cnt > 1000);
    assert_true(rmse_fold <= 1.05 * rmse_train);

    free(start);
    free(items);
    free(vals);
    free(fill);
    free(folded);
    free(fbias);
    synth_free(&fx);
}

/* A ranking prior (rank_prior α): a user's dot ranking scores movie i as
 * the predicted rating + (float)(α ln(1 + n_i)); without the counts it
 * is refused, cosine and nearest items ignore it, copies keep it. */
static void test_rank_prior(void **state)
{
    (void)state;
    mfr_model *m = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_model_alloc(3, 1, 2, 6, &m, &err), MFR_OK);
    const float bi[6] = {3.0f, 3.5f, 2.0f, 4.0f, 3.25f, 1.0f};
    for (int32_t u = 0; u < 2; u++) memcpy(row_u(m, u), U2 + u * 3, 12);
    for (int32_t i = 0; i < 6; i++) {
        memcpy(row_i(m, i), V6 + i * 3, 12);
        row_i(m, i)[4] = bi[i];
    }
    int32_t items[6], items2[6], n, n2;
    float sc[6], sc2[6];
    /* without a prior the call changes nothing */
    const int64_t counts[6] = {0, 400, 3, 1, 60, 1000};
    assert_int_equal(mfr_model_set_item_counts(m, counts, &err), MFR_OK);
    assert_null(mfr_model_rank_offsets(m));
    assert_int_equal(mfr_model_recommend(m, 0, 6, MFR_MEASURE_DOT, NULL, items2, sc2, &n2, &err), MFR_OK);
    m->cfg.rank_prior = 0.75;
    assert_int_equal(mfr_model_recommend(m, 0, 6, MFR_MEASURE_DOT, NULL, items, sc, &n, &err), MFR_ERR_INVALID);
    tu_expect_in(err.message, "popularity prior (rank_prior 0.75)");
    const int64_t bad[6] = {0, 1, -1, 0, 0, 0};
    assert_int_equal(mfr_model_set_item_counts(m, bad, &err), MFR_ERR_INVALID);
    tu_expect_in(err.message, "movie 2 has a negative count (-1)");
    assert_int_equal(mfr_model_set_item_counts(m, counts, &err), MFR_OK);
    const float *off = mfr_model_rank_offsets(m);
    assert_non_null(off);
    for (int32_t i = 0; i < 6; i++) assert_true(off[i] == (float)(0.75 * log1p((double)counts[i])));
    for (int32_t u = 0; u < 2; u++) {
        assert_int_equal(mfr_model_recommend(m, u, 6, MFR_MEASURE_DOT, NULL, items, sc, &n, &err), MFR_OK);
        assert_int_equal(n, 6);
        /* the scores are prediction + offset, best first, ties by index */
        float want[6];
        for (int32_t i = 0; i < 6; i++) want[i] = mfr_model_predict(m, u, i) + off[i];
        for (int r = 0; r < 6; r++) {
            assert_true(sc[r] == want[items[r]]);
            if (r) assert_true(sc[r - 1] > sc[r] || (sc[r - 1] == sc[r] && items[r - 1] < items[r]));
        }
        /* fold-in ranks alike */
        assert_int_equal(mfr_model_recommend_vector(m, U2 + u * 3, 0.0f, 6, MFR_MEASURE_DOT, NULL, items2, sc2,
                                                    &n2, &err),
                         MFR_OK);
        assert_memory_equal(items, items2, sizeof items);
        assert_memory_equal(sc, sc2, sizeof sc);
    }
    /* the prior moves the most-rated movie (5, lowest bias) up for user 0 */
    int32_t plain_rank = -1, prior_rank = -1;
    m->cfg.rank_prior = 0.0;
    assert_int_equal(mfr_model_recommend(m, 0, 6, MFR_MEASURE_DOT, NULL, items2, sc2, &n2, &err), MFR_OK);
    m->cfg.rank_prior = 0.75;
    assert_int_equal(mfr_model_recommend(m, 0, 6, MFR_MEASURE_DOT, NULL, items, sc, &n, &err), MFR_OK);
    for (int r = 0; r < 6; r++) {
        if (items2[r] == 5) plain_rank = r;
        if (items[r] == 5) prior_rank = r;
    }
    assert_true(prior_rank < plain_rank);
    /* cosine and nearest items: no prior */
    assert_int_equal(mfr_model_recommend(m, 0, 6, MFR_MEASURE_COSINE, NULL, items, sc, &n, &err), MFR_OK);
    for (int r = 0; r < 6; r++) assert_true(fabsf(sc[r]) <= 1.0f + 1e-6f);
    /* a copy keeps the offsets */
    mfr_model *c = NULL;
    assert_int_equal(mfr_model_copy(m, &c, &err), MFR_OK);
    assert_non_null(mfr_model_rank_offsets(c));
    assert_memory_equal(mfr_model_rank_offsets(c), off, 6 * sizeof *off);
    mfr_model_destroy(c);
    mfr_model_destroy(m);
}

static void test_fold_in_quality_on_synthetic_data(void **state)
{
    (void)state;
    fold_in_quality(0, 0.0, 0.0);
}

static void test_fold_in_quality_with_biases(void **state)
{
    (void)state;
    fold_in_quality(1, 0.0, 0.0);
}

/* A regularized model: the default lambda follows the model's L2. */
static void test_fold_in_quality_regularized(void **state)
{
    (void)state;
    fold_in_quality(1, 0.2, 0.0);
}

/* Implicit feedback: the fold-in solves for P_u with the Y offset of the
 * user's rated movies, the model's own parameterization. */
static void test_fold_in_quality_implicit(void **state)
{
    (void)state;
    fold_in_quality(1, 0.2, 0.5);
}

/* Without implicit feedback the fold-in shrinks towards the mean user
 * vector: u = ū + the direct solve of the ratings less <ū, v_j>; no
 * ratings give ū. */
static void test_fold_in_mean_user_prior(void **state)
{
    (void)state;
    enum { D = 3, NI = 5 };
    const float V[NI * D] = {1.0f, 0.5f, -0.2f, -0.4f, 1.2f, 0.1f, 0.3f, -0.3f,
                             0.9f, 0.7f, 0.6f,  0.2f,  -1.0f, 0.4f, 1.5f};
    const float U[2 * D] = {1.0f, 2.0f, 0.0f, 3.0f, 0.0f, 1.0f}; /* mean (2, 1, 0.5) */
    const double ubar[D] = {2.0, 1.0, 0.5};
    mfr_model *m = make_model(D, 2, NI, U, V);
    mfr_error err = {0};
    const int32_t items[2] = {1, 3};
    const float r[2] = {1.0f, 5.0f};
    float shifted[2];
    for (int t = 0; t < 2; t++) {
        double p = 0;
        for (int x = 0; x < D; x++) p += ubar[x] * V[items[t] * D + x];
        shifted[t] = (float)(r[t] - p);
    }
    float got[D];
    double want[D];
    assert_int_equal(mfr_model_fold_in(m, items, r, 2, 0.5, got, NULL, &err), MFR_OK);
    direct_fold_in(V, D, items, shifted, 2, 0.5, want);
    for (int x = 0; x < D; x++)
        assert_float_equal(got[x], ubar[x] + want[x], 1e-5 * (1.0 + fabs(want[x])));
    assert_int_equal(mfr_model_fold_in(m, NULL, NULL, 0, 0.1, got, NULL, &err), MFR_OK);
    for (int x = 0; x < D; x++) assert_float_equal(got[x], ubar[x], 1e-6);
    mfr_model_destroy(m);
}

/* The mean dot score of the n items of `set` for the user vector u. */
static double mean_score(const mfr_model *m, const float *u, float b_u, const int32_t *set, int n)
{
    double s = 0;
    for (int x = 0; x < n; x++)
        s += predict_vec(m, u, set[x]) + (double)b_u + (double)mfr_model_item_bias(m, set[x]);
    return s / n;
}

/* A new user who rates three movies 1 must get another list than one who
 * rates them 5, and the rated movies' nearest neighbours must score lower
 * for the first: low ratings never recommend more of the same. */
static void rating_values_matter(int32_t bias, double l2, double implicit)
{
    struct synth_fixture fx;
    const mfr_model *m = synth_train(&fx, bias, l2, implicit);
    mfr_error err = {0};
    const int32_t rated[3] = {0, 1, 2};
    int32_t near[30];
    int n_near = 0;
    uint8_t excl[200] = {0};
    for (int x = 0; x < 3; x++) excl[rated[x]] = 1;
    for (int x = 0; x < 3; x++) {
        int32_t nb[10], got;
        assert_int_equal(mfr_model_similar_items(m, rated[x], 10, MFR_MEASURE_COSINE, nb, NULL,
                                                 &got, &err),
                         MFR_OK);
        for (int32_t y = 0; y < got; y++)
            if (!excl[nb[y]]) near[n_near++] = nb[y];
    }
    int32_t k = mfr_model_k(m), top[2][10], n_top[2];
    float *u = malloc(2 * (size_t)k * sizeof *u), b[2];
    double near_score[2];
    for (int v = 0; v < 2; v++) {
        const float r[3] = {v ? 5.0f : 1.0f, v ? 5.0f : 1.0f, v ? 5.0f : 1.0f};
        float *uv = u + (size_t)v * k;
        assert_int_equal(mfr_model_fold_in(m, rated, r, 3, mfr_model_fold_in_lambda(m, 12000, 3),
                                           uv, &b[v], &err),
                         MFR_OK);
        assert_int_equal(mfr_model_recommend_vector(m, uv, b[v], 10, MFR_MEASURE_DOT, excl,
                                                    top[v], NULL, &n_top[v], &err),
                         MFR_OK);
        near_score[v] = mean_score(m, uv, b[v], near, n_near);
    }
    print_message("bias %d implicit %g: neighbours of the rated movies score %.3f (rated 1) vs "
                  "%.3f (rated 5)\n",
                  (int)bias, implicit, near_score[0], near_score[1]);
    assert_true(n_near > 10);
    assert_true(near_score[0] < near_score[1]);
    assert_true(mean_score(m, u, b[0], rated, 3) < mean_score(m, u + k, b[1], rated, 3));
    assert_memory_not_equal(top[0], top[1], sizeof top[0]);
    free(u);
    synth_free(&fx);
}

static void test_rating_values_matter_without_biases(void **state)
{
    (void)state;
    rating_values_matter(0, 0.1, 0.0);
}

static void test_rating_values_matter_with_biases(void **state)
{
    (void)state;
    rating_values_matter(1, 0.1, 0.0);
    rating_values_matter(1, 0.2, 0.5);
}

/* Implicit feedback without biases (--preset ndcg's shape): the offset of
 * which movies were rated is the same for both users; the prior on P, its
 * training mean, lets the values decide (with a zero prior, a 1-star user
 * got the 5-star user's list). */
static void test_rating_values_matter_with_implicit_feedback(void **state)
{
    (void)state;
    rating_values_matter(0, 0.2, 0.5);
    rating_values_matter(0, 0.1, 2.0);
}

/* Batch recommendations equal one mfr_model_recommend per user with the
 * user's rated items and the masked items excluded, for any thread count,
 * both measures, with and without scores: the batch ranks users in groups
 * of MFR_RANK_GROUP (150 users: 21 groups and a tail of 3), one flag bit
 * per user of a group. */
static void recommend_users_matches_single(const mfr_model *m, const mfr_ratings *train, int measure)
{
    mfr_error err = {0};
    enum { K = 7, FIRST = 20, COUNT = 150, NI = 200 };
    uint8_t mask[NI] = {0};
    for (int i = 0; i < NI; i += 9) mask[i] = 1;
    int32_t *items[3], n_out[3][COUNT];
    float *scores[2];
    for (int t = 0; t < 3; t++) {
        items[t] = malloc(COUNT * K * sizeof *items[t]);
        if (t < 2) scores[t] = malloc(COUNT * K * sizeof *scores[t]);
        assert_int_equal(mfr_model_recommend_users(m, FIRST, COUNT, K, measure, train, mask, t ? 3 : 1,
                                                   items[t], t < 2 ? scores[t] : NULL, n_out[t], &err),
                         MFR_OK);
    }
    assert_memory_equal(items[0], items[1], COUNT * K * sizeof *items[0]);
    assert_memory_equal(items[0], items[2], COUNT * K * sizeof *items[0]);
    assert_memory_equal(scores[0], scores[1], COUNT * K * sizeof *scores[0]);
    int64_t excluded_rated = 0;
    for (int32_t r = 0; r < COUNT; r++) {
        uint8_t excl[NI];
        memcpy(excl, mask, NI);
        for (int64_t x = 0; x < mfr_ratings_count(train); x++) {
            int32_t u, i;
            mfr_ratings_get(train, x, &u, &i, NULL, NULL, NULL);
            if (u == FIRST + r) excluded_rated += !excl[i], excl[i] = 1;
        }
        int32_t want[K], n;
        float ws[K];
        assert_int_equal(mfr_model_recommend(m, FIRST + r, K, measure, excl, want, ws, &n, &err), MFR_OK);
        assert_int_equal(n_out[0][r], n);
        assert_int_equal(n_out[2][r], n);
        assert_memory_equal(items[0] + r * K, want, (size_t)n * sizeof *want);
        assert_memory_equal(scores[0] + r * K, ws, (size_t)n * sizeof *ws);
        for (int32_t j = 0; j < n; j++) assert_int_equal(excl[want[j]], 0);
    }
    assert_true(excluded_rated > COUNT); /* the users' own flags did exclude */
    for (int t = 0; t < 3; t++) {
        free(items[t]);
        if (t < 2) free(scores[t]);
    }
}

static void test_recommend_users_matches_single(void **state)
{
    (void)state;
    struct synth_fixture fx;
    const mfr_model *m = synth_train(&fx, 1, 0.1, 0.0);
    const mfr_ratings *train = mfr_split_train(fx.sp);
    recommend_users_matches_single(m, train, MFR_MEASURE_DOT);
    recommend_users_matches_single(m, train, MFR_MEASURE_COSINE);
    mfr_error err = {0};
    int32_t items[100 * 7], n_out[100];
    assert_int_equal(mfr_model_recommend_users(m, 250, 100, 7, MFR_MEASURE_DOT, NULL, NULL, 1, items, NULL,
                                               n_out, &err),
                     MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "outside the model"));
    /* an unknown measure is refused for any count: with none to rank it
     * was MFR_OK, with some each group's ranking said so */
    for (int32_t count = 0; count <= 1; count++) {
        memset(&err, 0, sizeof err);
        assert_int_equal(mfr_model_recommend_users(m, 0, count, 7, 7, NULL, NULL, 1, items, NULL, n_out, &err),
                         MFR_ERR_INVALID);
        assert_non_null(strstr(err.message, "measure must be"));
    }
    synth_free(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_top_k_matches_full_sort),
        cmocka_unit_test(test_top_k_ties_by_index_and_bad_arguments),
        cmocka_unit_test(test_measures_dot_and_cosine),
        cmocka_unit_test(test_measures_of_huge_rows),
        cmocka_unit_test(test_cosine_of_huge_finite_rows),
        cmocka_unit_test(test_recommend_and_similar),
        cmocka_unit_test(test_recommend_large_catalogue),
        cmocka_unit_test(test_fold_in_matches_direct_solve),
        cmocka_unit_test(test_fold_in_range_on_a_ranking_model),
        cmocka_unit_test(test_dot_scores_are_predictions),
        cmocka_unit_test(test_bias_model),
        cmocka_unit_test(test_rank_prior),
        cmocka_unit_test(test_fold_in_quality_on_synthetic_data),
        cmocka_unit_test(test_fold_in_quality_with_biases),
        cmocka_unit_test(test_fold_in_quality_regularized),
        cmocka_unit_test(test_fold_in_quality_implicit),
        cmocka_unit_test(test_fold_in_mean_user_prior),
        cmocka_unit_test(test_rating_values_matter_without_biases),
        cmocka_unit_test(test_rating_values_matter_with_biases),
        cmocka_unit_test(test_rating_values_matter_with_implicit_feedback),
        cmocka_unit_test(test_recommend_users_matches_single),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
