/*
 * test_analysis.c — embedding analysis (src/rec/analysis.c): PCA on hand-made
 * matrices whose principal axes and variances are known exactly, the sign
 * convention, degenerate inputs, eigen-equation residuals on a random
 * matrix, bit-identical repeats, the model entry points (padded rows) and
 * embedding norms. Tiny data built in the test; no data set needed.
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

/* Fails the test (at the caller's line) when |got - want| > tol; cmocka
 * 1.1.5 has no double comparison. */
static void near_at(double got, double want, double tol, const char *expr, const char *file,
                    int line)
{
    if (!(fabs(got - want) <= tol)) {
        print_error("%s = %.17g, want %.17g (tolerance %g)\n", expr, got, want, tol);
        _fail(file, line);
    }
}
#define assert_near(got, want, tol) near_at((got), (want), (tol), #got, __FILE__, __LINE__)

/*
 * 16 points x = mean + a u1 + b u2 + c u3 + d u4 with a, b, c, d = +-4, +-2,
 * +-1, +-0.5 (full factorial) and the orthonormal basis below: the sample
 * covariance is sum_i s_i^2 (16/15) u_i u_i^T, so the principal axes are
 * u1..u4 with variances 16 * 16/15, 4 * 16/15, 16/15 and 0.25 * 16/15.
 */
static const double basis[4][4] = {
    {0.6, 0.8, 0, 0},
    {0, 0, 0.28, 0.96},
    {-0.8, 0.6, 0, 0},   /* largest magnitude negative: flipped by the PCA */
    {0, 0, -0.96, 0.28}, /* likewise */
};
static const double scale[4] = {4, 2, 1, 0.5};
static const double center[4] = {1, -2, 0.5, 3};

static float *known_matrix(double coef[16][4])
{
    float *x = malloc(16 * 4 * sizeof *x);
    assert_non_null(x);
    for (int r = 0; r < 16; r++) {
        for (int c = 0; c < 4; c++) coef[r][c] = (r >> c) & 1 ? scale[c] : -scale[c];
        for (int j = 0; j < 4; j++) {
            double v = center[j];
            for (int c = 0; c < 4; c++) v += coef[r][c] * basis[c][j];
            x[r * 4 + j] = (float)v;
        }
    }
    return x;
}

static void test_pca_known_axes(void **state)
{
    (void)state;
    double coef[16][4];
    float *x = known_matrix(coef);
    mfr_pca *p = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_pca_compute(x, 16, 4, 4, &p, &err), MFR_OK);
    assert_non_null(p);
    assert_int_equal(p->n, 16);
    assert_int_equal(p->k, 4);
    assert_int_equal(p->n_comp, 4);
    const double tol = 1e-5; /* the inputs were rounded to float */
    double total = 0;
    for (int c = 0; c < 4; c++) total += scale[c] * scale[c] * 16.0 / 15.0;
    assert_near(p->total_variance, total, tol);
    for (int j = 0; j < 4; j++) assert_near(p->mean[j], center[j], tol);
    for (int c = 0; c < 4; c++) {
        double want_var = scale[c] * scale[c] * 16.0 / 15.0;
        assert_near(p->variance[c], want_var, tol);
        assert_near(p->explained[c], want_var / total, tol);
        double sign = c >= 2 ? -1.0 : 1.0; /* the sign convention flips u3, u4 */
        for (int j = 0; j < 4; j++) assert_near(p->axes[c * 4 + j], sign * basis[c][j], tol);
        for (int r = 0; r < 16; r++)
            assert_near(p->coords[r * 4 + c], sign * coef[r][c], tol);
    }
    /* Variances decrease and the explained fractions sum to 1 with all axes. */
    double sum = 0;
    for (int c = 0; c < 4; c++) sum += p->explained[c];
    assert_near(sum, 1.0, 1e-12);
    mfr_pca_destroy(p);

    /* Two components: the same first two axes and coordinates, bit for bit. */
    mfr_pca *full = NULL, *two = NULL;
    assert_int_equal(mfr_pca_compute(x, 16, 4, 4, &full, &err), MFR_OK);
    assert_int_equal(mfr_pca_compute(x, 16, 4, 2, &two, &err), MFR_OK);
    assert_int_equal(two->n_comp, 2);
    assert_memory_equal(two->axes, full->axes, 2 * 4 * sizeof(double));
    for (int r = 0; r < 16; r++)
        assert_memory_equal(two->coords + r * 2, full->coords + r * 4, 2 * sizeof(double));
    mfr_pca_destroy(full);
    mfr_pca_destroy(two);
    free(x);
}

/* A small deterministic generator for test data (xorshift64*). */
static double rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (double)((*s * UINT64_C(2685821657736338717)) >> 11) / 9007199254740992.0 - 0.5;
}

static void test_pca_random_eigen_equation(void **state)
{
    (void)state;
    enum { N = 200, K = 12 };
    float *x = malloc(N * K * sizeof *x);
    assert_non_null(x);
    uint64_t s = 42;
    for (int r = 0; r < N; r++)
        for (int j = 0; j < K; j++) {
            const double a = rnd(&s), b = rnd(&s); /* in this order on every compiler */
            x[r * K + j] = (float)(a * (1 + j) + (j % 3) * b);
        }
    mfr_pca *p = NULL, *q = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_pca_compute(x, N, K, K, &p, &err), MFR_OK);
    /* The covariance, independently and the slow way. */
    static double cov[K][K];
    for (int a = 0; a < K; a++)
        for (int b = 0; b < K; b++) {
            double acc = 0;
            for (int r = 0; r < N; r++)
                acc += ((double)x[r * K + a] - p->mean[a]) * ((double)x[r * K + b] - p->mean[b]);
            cov[a][b] = acc / (N - 1);
        }
    double trace = 0, sum = 0;
    for (int a = 0; a < K; a++) trace += cov[a][a];
    assert_near(p->total_variance, trace, 1e-12 * trace);
    for (int c = 0; c < K; c++) {
        const double *v = p->axes + c * K;
        sum += p->variance[c];
        if (c > 0) assert_true(p->variance[c] <= p->variance[c - 1]);
        for (int a = 0; a < K; a++) { /* C v = lambda v */
            double cv = 0;
            for (int b = 0; b < K; b++) cv += cov[a][b] * v[b];
            assert_near(cv, p->variance[c] * v[a], 1e-10);
        }
        for (int d = 0; d < K; d++) { /* orthonormal */
            double dot = 0;
            for (int j = 0; j < K; j++) dot += v[j] * p->axes[d * K + j];
            assert_near(dot, c == d ? 1.0 : 0.0, 1e-12);
        }
        int arg = 0;
        for (int j = 1; j < K; j++)
            if (fabs(v[j]) > fabs(v[arg])) arg = j;
        assert_true(v[arg] > 0);
    }
    assert_near(sum, trace, 1e-10 * trace);
    /* Repeats are bit-identical. */
    assert_int_equal(mfr_pca_compute(x, N, K, K, &q, &err), MFR_OK);
    assert_memory_equal(p->coords, q->coords, N * K * sizeof(double));
    assert_memory_equal(p->axes, q->axes, K * K * sizeof(double));
    mfr_pca_destroy(p);
    mfr_pca_destroy(q);
    free(x);
}

/* The covariance's cross products run on mfr_set_threads's threads, each
 * over a band of its rows: the same bits for every count, with more
 * threads than rows of the covariance too. */
static void test_pca_threads_same_bits(void **state)
{
    (void)state;
    enum { N = 301, K = 37 };
    float *x = malloc(N * K * sizeof *x);
    assert_non_null(x);
    uint64_t s = 7;
    for (int r = 0; r < N; r++)
        for (int j = 0; j < K; j++) {
            const double a = rnd(&s), b = rnd(&s); /* in this order on every compiler */
            x[r * K + j] = (float)(a * (1 + j % 5) + 3.0 * b);
        }
    mfr_error err = {0};
    mfr_pca *one = NULL;
    mfr_set_threads(1);
    assert_int_equal(mfr_pca_compute(x, N, K, 4, &one, &err), MFR_OK);
    const int counts[] = {2, 3, 5, 8, 64};
    for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
        mfr_set_threads(counts[c]);
        mfr_pca *p = NULL;
        assert_int_equal(mfr_pca_compute(x, N, K, 4, &p, &err), MFR_OK);
        assert_memory_equal(p->mean, one->mean, K * sizeof(double));
        assert_memory_equal(p->axes, one->axes, 4 * K * sizeof(double));
        assert_memory_equal(p->variance, one->variance, 4 * sizeof(double));
        assert_memory_equal(p->coords, one->coords, N * 4 * sizeof(double));
        assert_true(p->total_variance == one->total_variance);
        mfr_pca_destroy(p);
    }
    /* k = 2 with 8 threads: at most one thread per covariance row */
    mfr_pca *a = NULL, *b = NULL;
    assert_int_equal(mfr_pca_compute(x, N, 2, 2, &a, &err), MFR_OK);
    mfr_set_threads(1);
    assert_int_equal(mfr_pca_compute(x, N, 2, 2, &b, &err), MFR_OK);
    assert_memory_equal(a->coords, b->coords, N * 2 * sizeof(double));
    mfr_set_threads(0);
    mfr_pca_destroy(a);
    mfr_pca_destroy(b);
    mfr_pca_destroy(one);
    free(x);
}

static void test_pca_degenerate_and_errors(void **state)
{
    (void)state;
    mfr_pca *p = NULL;
    mfr_error err = {0};
    /* Identical rows: no variance, coordinates zero, explained 0, unit axes. */
    const float same[3 * 2] = {1, 2, 1, 2, 1, 2};
    assert_int_equal(mfr_pca_compute(same, 3, 2, 2, &p, &err), MFR_OK);
    assert_true(p->total_variance == 0);
    for (int c = 0; c < 2; c++) {
        assert_true(p->variance[c] == 0 && p->explained[c] == 0);
        assert_near(hypot(p->axes[c * 2], p->axes[c * 2 + 1]), 1.0, 1e-15);
    }
    for (int r = 0; r < 6; r++) assert_true(p->coords[r] == 0);
    mfr_pca_destroy(p);
    /* One row and k = 1 are fine. */
    const float one[1] = {7};
    assert_int_equal(mfr_pca_compute(one, 1, 1, 1, &p, &err), MFR_OK);
    assert_true(p->coords[0] == 0 && p->axes[0] == 1.0 && p->mean[0] == 7.0);
    mfr_pca_destroy(p);
    /* k = 1 with spread: the axis is +1 and the coordinates are centered. */
    const float line[3] = {1, 2, 6};
    assert_int_equal(mfr_pca_compute(line, 3, 1, 1, &p, &err), MFR_OK);
    assert_near(p->coords[0], -2.0, 1e-12);
    assert_near(p->coords[2], 3.0, 1e-12);
    assert_near(p->variance[0], 7.0, 1e-12); /* (4 + 1 + 9) / 2 */
    mfr_pca_destroy(p);

    p = (mfr_pca *)(void *)&err; /* must be reset to NULL on failure */
    assert_int_equal(mfr_pca_compute(same, 3, 2, 3, &p, &err), MFR_ERR_INVALID);
    assert_null(p);
    assert_non_null(strstr(err.message, "n_comp must be in 1..2"));
    assert_int_equal(mfr_pca_compute(same, 0, 2, 1, &p, &err), MFR_ERR_INVALID);
    assert_int_equal(mfr_pca_compute(same, 3, 0, 1, &p, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "k must be"));
    assert_int_equal(mfr_pca_compute(NULL, 3, 2, 1, &p, &err), MFR_ERR_INVALID);
    assert_int_equal(mfr_pca_compute(same, 3, 2, 1, NULL, &err), MFR_ERR_INVALID);
    assert_int_equal(mfr_pca_compute(same, 3, 2, 0, &p, NULL), MFR_ERR_INVALID);
    /* n x n_comp doubles past SIZE_MAX: a size that overflows, not an
     * allocation that failed (it was MFR_ERR_NOMEM, "out of memory") */
    assert_int_equal(mfr_pca_compute(same, INT64_MAX, 2, 2, &p, &err), MFR_ERR_TOO_LARGE);
    assert_null(p);
    assert_non_null(strstr(err.message, "size overflows"));
    /* a value that is not finite is named, as t-SNE names it (PCA returned
     * NaN coordinates for every row) */
    const float bad[3][2] = {{1, 2}, {3, NAN}, {5, 6}};
    assert_int_equal(mfr_pca_compute(&bad[0][0], 3, 2, 1, &p, &err), MFR_ERR_INVALID);
    assert_null(p);
    tu_expect_in(err.message, "PCA: x[1][1] is not finite");
    const float inf[2][2] = {{INFINITY, 0}, {1, 1}};
    assert_int_equal(mfr_pca_compute(&inf[0][0], 2, 2, 1, &p, &err), MFR_ERR_INVALID);
    tu_expect_in(err.message, "PCA: x[0][0] is not finite");
    mfr_pca_destroy(NULL);
}

/*
 * A trainer (public API only, so the test does not depend on the model's
 * private constructor) over a tiny synthetic dataset of 3 users and
 * n_items items, whose factors are replaced by the known matrix (items) and
 * three simple user rows. The model is the trainer's.
 */
static const float users[3][4] = {{3, 4, 0, 0}, {0, 0, 0, 0}, {1, -1, 1, -1}};
static char *g_tmp;

static mfr_trainer *make_trainer(const float *items, int32_t n_items, int32_t k)
{
    mfr_error err = {0};
    mfr_synth_options so;
    mfr_synth_options_default(&so);
    so.n_users = 3;
    so.n_items = n_items;
    so.n_ratings = 3 * n_items;
    so.rank = 2;
    assert_int_equal(mfr_synth_write(&so, g_tmp, &err), MFR_OK);
    mfr_dataset *ds = NULL;
    assert_int_equal(mfr_dataset_load(g_tmp, NULL, &ds, &err), MFR_OK);
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = k;
    cfg.n_threads = 1;
    mfr_trainer *tr = NULL;
    assert_int_equal(mfr_trainer_create(&cfg, ds, mfr_dataset_ratings(ds), NULL, &tr, &err), MFR_OK);
    float u[3 * 4];
    for (int r = 0; r < 3; r++) memcpy(u + r * k, users[r], (size_t)k * sizeof(float));
    assert_int_equal(mfr_trainer_set_factors(tr, u, 3, k, items, n_items, k, &err), MFR_OK);
    mfr_dataset_destroy(ds);
    return tr;
}

static void test_model_pca_matches_matrix_pca(void **state)
{
    (void)state;
    double coef[16][4];
    float *x = known_matrix(coef);
    mfr_trainer *tr = make_trainer(x, 16, 4);
    const mfr_model *m = mfr_trainer_model(tr);
    assert_true(m->k_pad > m->k); /* the padded layout is exercised */
    mfr_pca *a = NULL, *b = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_model_pca(m, MFR_FACTORS_ITEMS, 2, &a, &err), MFR_OK);
    assert_int_equal(mfr_pca_compute(x, 16, 4, 2, &b, &err), MFR_OK);
    assert_memory_equal(a->coords, b->coords, 16 * 2 * sizeof(double));
    assert_memory_equal(a->axes, b->axes, 2 * 4 * sizeof(double));
    assert_memory_equal(a->variance, b->variance, 2 * sizeof(double));
    mfr_pca_destroy(a);
    mfr_pca_destroy(b);
    assert_int_equal(mfr_model_pca(m, MFR_FACTORS_USERS, 2, &a, &err), MFR_OK);
    assert_int_equal(a->n, 3);
    mfr_pca_destroy(a);
    assert_int_equal(mfr_model_pca(m, 7, 2, &a, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "got 7"));
    assert_int_equal(mfr_model_pca(m, MFR_FACTORS_ITEMS, 5, &a, &err), MFR_ERR_INVALID);
    assert_int_equal(mfr_model_pca(NULL, MFR_FACTORS_ITEMS, 2, &a, &err), MFR_ERR_INVALID);
    mfr_trainer_destroy(tr);
    free(x);
}

static void test_norms(void **state)
{
    (void)state;
    double coef[16][4];
    float *x = known_matrix(coef);
    mfr_trainer *tr = make_trainer(x, 16, 4);
    const mfr_model *m = mfr_trainer_model(tr);
    double un[3], in[16];
    mfr_error err = {0};
    assert_int_equal(mfr_model_norms(m, MFR_FACTORS_USERS, un, &err), MFR_OK);
    assert_near(un[0], 5.0, 0);
    assert_near(un[1], 0.0, 0);
    assert_near(un[2], 2.0, 0);
    assert_int_equal(mfr_model_norms(m, MFR_FACTORS_ITEMS, in, &err), MFR_OK);
    for (int i = 0; i < 16; i++) {
        double s = 0;
        for (int j = 0; j < 4; j++) s += (double)x[i * 4 + j] * (double)x[i * 4 + j];
        assert_near(in[i], sqrt(s), 1e-15 * sqrt(s));
    }
    assert_int_equal(mfr_model_norms(m, -1, in, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "factors"));
    /* the message names the NULL argument (the caller cannot tell otherwise) */
    assert_int_equal(mfr_model_norms(m, MFR_FACTORS_ITEMS, NULL, &err), MFR_ERR_INVALID);
    assert_string_equal(err.message, "mfr_model_norms: out is NULL");
    assert_int_equal(mfr_model_norms(NULL, MFR_FACTORS_ITEMS, in, &err), MFR_ERR_INVALID);
    assert_string_equal(err.message, "mfr_model_norms: model is NULL");
    assert_int_equal(mfr_model_norms(NULL, MFR_FACTORS_ITEMS, NULL, &err), MFR_ERR_INVALID);
    assert_string_equal(err.message, "mfr_model_norms: model is NULL");
    mfr_trainer_destroy(tr);
    free(x);
}

static int group_setup(void **state)
{
    (void)state;
    g_tmp = tu_mkdtemp();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    tu_rmtree(g_tmp);
    free(g_tmp);
    return 0;
}

/* Three well-separated Gaussian clusters in 8-D: t-SNE's map keeps every
 * point next to its own cluster, is bit-identical for the same seed and
 * differs for another; the conditional affinities hit the perplexity. */
enum { TS_CLUSTERS = 3, TS_PER = 40, TS_N = TS_CLUSTERS * TS_PER, TS_K = 8 };

static void make_clusters(float *x)
{
    uint64_t s = 12345;
    for (int i = 0; i < TS_N; i++)
        for (int c = 0; c < TS_K; c++) {
            /* uniform noise in [-1, 1) around a centre 10 apart per cluster */
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            double u = (double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0;
            x[i * TS_K + c] = (float)((c == i / TS_PER ? 10.0 : 0.0) + u);
        }
}

/* Share of points whose nearest other point in the 2-D map is in their own
 * cluster. */
static double nn_agreement(const double *y)
{
    int same = 0;
    for (int i = 0; i < TS_N; i++) {
        int best = -1;
        double bd = INFINITY;
        for (int j = 0; j < TS_N; j++) {
            if (j == i) continue;
            double d = (y[2 * i] - y[2 * j]) * (y[2 * i] - y[2 * j]) +
                       (y[2 * i + 1] - y[2 * j + 1]) * (y[2 * i + 1] - y[2 * j + 1]);
            if (d < bd) {
                bd = d;
                best = j;
            }
        }
        same += best / TS_PER == i / TS_PER;
    }
    return (double)same / TS_N;
}

static void test_tsne_separates_clusters(void **state)
{
    (void)state;
    float *x = malloc(sizeof(float) * TS_N * TS_K);
    double *y1 = malloc(sizeof(double) * 2 * TS_N), *y2 = malloc(sizeof(double) * 2 * TS_N);
    make_clusters(x);
    mfr_tsne_options o;
    mfr_tsne_options_default(&o);
    assert_float_equal(o.perplexity, 30.0, 0.0);
    o.perplexity = 15;
    o.iterations = 500; /* the automatic learning rate: 50 here */
    mfr_error err = {0};
    double kl1 = -1, kl2 = -1;
    assert_int_equal(mfr_tsne_compute(x, TS_N, TS_K, &o, y1, &kl1, &err), MFR_OK);
    assert_int_equal(mfr_tsne_compute(x, TS_N, TS_K, &o, y2, &kl2, &err), MFR_OK);
    assert_memory_equal(y1, y2, sizeof(double) * 2 * TS_N); /* same seed: same bits */
    assert_true(kl1 == kl2 && kl1 > 0.0 && kl1 < 2.0);
    double agree = nn_agreement(y1);
    print_message("t-SNE: nearest neighbour in the own cluster for %.3f of the points, KL %.4f\n",
                  agree, kl1);
    assert_true(agree >= 0.99);
    /* the clusters are apart in the plane: every centroid distance exceeds
     * twice the largest spread around a centroid */
    double cx[TS_CLUSTERS] = {0}, cy[TS_CLUSTERS] = {0}, spread = 0;
    for (int i = 0; i < TS_N; i++) {
        cx[i / TS_PER] += y1[2 * i] / TS_PER;
        cy[i / TS_PER] += y1[2 * i + 1] / TS_PER;
    }
    for (int i = 0; i < TS_N; i++)
        spread = fmax(spread, hypot(y1[2 * i] - cx[i / TS_PER], y1[2 * i + 1] - cy[i / TS_PER]));
    for (int a = 0; a < TS_CLUSTERS; a++)
        for (int b = a + 1; b < TS_CLUSTERS; b++)
            assert_true(hypot(cx[a] - cx[b], cy[a] - cy[b]) > 2 * spread);
    /* centred */
    double m0 = 0, m1 = 0;
    for (int i = 0; i < TS_N; i++) {
        m0 += y1[2 * i];
        m1 += y1[2 * i + 1];
    }
    assert_true(fabs(m0 / TS_N) < 1e-9 && fabs(m1 / TS_N) < 1e-9);
    /* another seed: another picture */
    o.seed = 2;
    assert_int_equal(mfr_tsne_compute(x, TS_N, TS_K, &o, y2, NULL, &err), MFR_OK);
    assert_true(memcmp(y1, y2, sizeof(double) * 2 * TS_N) != 0);
    free(x);
    free(y1);
    free(y2);
}

static void test_tsne_errors(void **state)
{
    (void)state;
    float x[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    double y[8];
    mfr_tsne_options o;
    mfr_tsne_options_default(&o);
    mfr_error err = {0};
    /* perplexity 30 with 4 rows */
    assert_int_equal(mfr_tsne_compute(x, 4, 3, &o, y, NULL, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "perplexity"));
    o.perplexity = 2;
    assert_int_equal(mfr_tsne_compute(x, 4, 3, &o, y, NULL, &err), MFR_OK);
    assert_int_equal(mfr_tsne_compute(x, 1, 3, &o, y, NULL, &err), MFR_ERR_INVALID);
    assert_int_equal(mfr_tsne_compute(x, MFR_TSNE_MAX_ROWS + 1, 3, &o, y, NULL, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "rows"));
    assert_int_equal(mfr_tsne_compute(x, 4, 0, &o, y, NULL, &err), MFR_ERR_INVALID);
    assert_int_equal(mfr_tsne_compute(NULL, 4, 3, &o, y, NULL, &err), MFR_ERR_INVALID);
    assert_int_equal(mfr_tsne_compute(x, 4, 3, NULL, y, NULL, &err), MFR_ERR_INVALID);
    assert_int_equal(mfr_tsne_compute(x, 4, 3, &o, NULL, NULL, &err), MFR_ERR_INVALID);
    o.iterations = 0;
    assert_int_equal(mfr_tsne_compute(x, 4, 3, &o, y, NULL, &err), MFR_ERR_INVALID);
    o.iterations = 10;
    o.learning_rate = NAN;
    assert_int_equal(mfr_tsne_compute(x, 4, 3, &o, y, NULL, &err), MFR_ERR_INVALID);
    o.learning_rate = -1;
    assert_int_equal(mfr_tsne_compute(x, 4, 3, &o, y, NULL, &err), MFR_ERR_INVALID);
    /* a finite rate far too large: MFR_ERR_DIVERGED (as mfrec.h now says;
     * its list of errors left it out), the output untouched */
    o.learning_rate = 1e308;
    y[0] = 42;
    assert_int_equal(mfr_tsne_compute(x, 4, 3, &o, y, NULL, &err), MFR_ERR_DIVERGED);
    assert_non_null(strstr(err.message, "diverged"));
    assert_true(y[0] == 42);
    o.learning_rate = 0;
    x[5] = INFINITY;
    assert_int_equal(mfr_tsne_compute(x, 4, 3, &o, y, NULL, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "x[1][2]"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pca_known_axes),
        cmocka_unit_test(test_pca_random_eigen_equation),
        cmocka_unit_test(test_pca_threads_same_bits),
        cmocka_unit_test(test_pca_degenerate_and_errors),
        cmocka_unit_test(test_model_pca_matches_matrix_pca),
        cmocka_unit_test(test_norms),
        cmocka_unit_test(test_tsne_separates_clusters),
        cmocka_unit_test(test_tsne_errors),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
