/*
 * test_softmax_grad.c — the softmax model's math: its gradient (every
 * block: movie, genre and year tables, each hidden layer's W and b, the
 * final layer and V) against central finite differences of an independent
 * double-precision forward pass written here; the loss against the same
 * pass; the log-sum-exp on logits that overflow a naive exp. With tied
 * tables (tie_tables), the double pass pools the rows of V itself, so the
 * gradient of V must hold both its uses. With negatives "unrated" the
 * double pass leaves the feature movies out of its softmax sum. With a
 * feature-dropout mask, mfr_sm_example and the double pass pool only the
 * kept feature movies (an example with none: the empty mean), while the
 * softmax still leaves out all of them.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kern_priv.h"
#include "rng_priv.h"
#include "sm_kern_priv.h"
#include "softmax_priv.h"

enum { M = 7, NG = 3, MAXW = 64 };
/* Genre bits and years of the 7 test movies (movie 5 has no genre, movie 6
 * no year). */
static const uint32_t GENRES[M] = {1, 2, 3, 4, 5, 0, 7};
static const int32_t YEARS[M] = {1990, 1995, 1990, 1970, 1999, 1981, 0};

/* Examples: (label, features). */
static const int32_t EX_LABEL[3] = {2, 0, 6};
static const int32_t EX_NF[3] = {3, 1, 4};
static const int32_t EX_F[3][4] = {{0, 4, 5}, {6}, {1, 2, 3, 5}};
/* A dropout mask over each example's features (g_masked): example 1 keeps
 * nothing. */
static const uint8_t EX_KEEP[3][4] = {{1, 0, 1}, {0}, {0, 1, 1, 1}};

/* ---- the independent double forward pass ---- */

static int g_tied; /* the configuration under test ties the movie table to V */
static int g_unrated; /* ... normalizes over the movies outside the features only */
static int g_masked;  /* the examples' features are pooled through EX_KEEP */

static void pool_d(double *out, const double *table, int dim, const int32_t *idx, int n)
{
    for (int c = 0; c < dim; c++) out[c] = 0.0;
    for (int j = 0; j < n; j++)
        for (int c = 0; c < dim; c++) out[c] += table[idx[j] * dim + c] / n;
}

static double loss_d(const struct mfr_sm_layout *lay, const struct mfr_sm_items *it,
                     uint32_t feats, const double *th, const int32_t *F_all, int n_all,
                     const uint8_t *keep, int label)
{
    double h[MAXW], z[MAXW];
    int col = 0;
    int32_t F[4]; /* the pooled movies: F_all's kept ones */
    int n_f = 0;
    for (int j = 0; j < n_all; j++)
        if (!keep || keep[j]) F[n_f++] = F_all[j];
    /* tied: the movie features are V's rows (k columns) */
    if (g_tied) pool_d(h, th + lay->V.offset, lay->V.cols, F, n_f);
    else pool_d(h, th + lay->movie.offset, lay->movie.cols, F, n_f);
    col += g_tied ? lay->V.cols : lay->movie.cols;
    if (feats & MFR_SOFTMAX_FEAT_GENRES) {
        int32_t g[4 * NG];
        int n = 0;
        for (int j = 0; j < n_f; j++)
            for (int b = 0; b < NG; b++)
                if (GENRES[F[j]] >> b & 1) g[n++] = b;
        pool_d(h + col, th + lay->genre.offset, lay->genre.cols, g, n);
        col += lay->genre.cols;
    }
    if (feats & MFR_SOFTMAX_FEAT_YEARS) {
        int32_t y[4];
        for (int j = 0; j < n_f; j++) y[j] = YEARS[F[j]] ? YEARS[F[j]] - 1970 + 1 : 0;
        pool_d(h + col, th + lay->year.offset, lay->year.cols, y, n_f);
    }
    for (int l = 0; l < lay->n_layers; l++) {
        int no = lay->width[l + 1], ni = lay->width[l];
        for (int o = 0; o < no; o++) {
            z[o] = th[lay->b[l].offset + o];
            for (int i = 0; i < ni; i++) z[o] += th[lay->W[l].offset + o * ni + i] * h[i];
        }
        for (int o = 0; o < no; o++) h[o] = l + 1 < lay->n_layers ? fmax(z[o], 0.0) : z[o];
    }
    int k = lay->V.cols;
    double s[M], mx = -INFINITY, Z = 0;
    int in_sum[M];
    for (int i = 0; i < M; i++) {
        in_sum[i] = 1;
        for (int j = 0; j < n_all && g_unrated; j++) in_sum[i] &= F_all[j] != i;
    }
    for (int i = 0; i < M; i++) {
        s[i] = 0;
        for (int c = 0; c < k; c++) s[i] += h[c] * th[lay->V.offset + i * k + c];
        if (in_sum[i]) mx = fmax(mx, s[i]);
    }
    for (int i = 0; i < M; i++)
        if (in_sum[i]) Z += exp(s[i] - mx);
    return mx + log(Z) - s[label];
}

static double total_d(const struct mfr_sm_layout *lay, const struct mfr_sm_items *it,
                      uint32_t feats, const double *th)
{
    double t = 0;
    for (int e = 0; e < 3; e++)
        t += loss_d(lay, it, feats, th, EX_F[e], EX_NF[e], g_masked ? EX_KEEP[e] : NULL,
                    EX_LABEL[e]);
    return t;
}

static void check_config(const mfr_softmax_config *cfg)
{
    mfr_error err = {0};
    struct mfr_sm_items it;
    assert_int_equal(mfr_sm_items_build(M, NG, GENRES, YEARS, &it, &err), MFR_OK);
    assert_int_equal(it.year_min, 1970);
    assert_int_equal(it.n_years, 31);
    assert_int_equal(it.max_genres, 3);
    struct mfr_sm_layout lay;
    assert_int_equal(mfr_sm_layout_make(cfg, M, it.n_genres, it.n_years, &lay, &err), MFR_OK);
    int64_t P = lay.n_params;
    g_tied = cfg->tie_tables;
    g_unrated = cfg->negatives == MFR_SOFTMAX_NEG_UNRATED;
    if (g_tied) { /* one table fewer than the same network untied */
        mfr_softmax_config u = *cfg;
        u.tie_tables = 0;
        struct mfr_sm_layout lu;
        assert_int_equal(mfr_sm_layout_make(&u, M, it.n_genres, it.n_years, &lu, &err), MFR_OK);
        assert_int_equal(lu.n_params - P, (M * cfg->k + 15) / 16 * 16);
        assert_true(lay.movie.offset == lay.V.offset);
    }
    float *th = calloc((size_t)P, sizeof(float)), *g = calloc((size_t)P, sizeof(float));
    double *thd = calloc((size_t)P, sizeof(double));
    mfr_sm_init(&lay, 11, MFR_SOFTMAX_INIT_COLAB, th);
    /* Larger hidden weights than the Colab's /10 so the ReLUs and every
     * layer matter to the loss. */
    for (int l = 0; l < lay.n_layers; l++) {
        for (int64_t x = 0; x < (int64_t)lay.W[l].rows * lay.W[l].cols; x++)
            th[lay.W[l].offset + x] *= 10.0f;
        for (int o = 0; o < lay.b[l].cols; o++)
            th[lay.b[l].offset + o] = (float)(0.3 * mfr_rng_normal(5, 9, (uint64_t)(l * 64 + o)));
    }
    for (int64_t x = 0; x < P; x++) thd[x] = th[x];

    struct mfr_sm_scratch sc;
    float *buf = calloc((size_t)mfr_sm_scratch_floats(&lay), sizeof(float));
    int32_t ids[4 * NG];
    mfr_sm_scratch_bind(&sc, &lay, buf);
    sc.ids = ids;
    double lf = 0;
    for (int e = 0; e < 3; e++)
        lf += mfr_sm_example(&lay, &it, cfg->features, cfg->negatives, th, EX_F[e], EX_NF[e],
                             g_masked ? EX_KEEP[e] : NULL, EX_LABEL[e], 1.0f, g, &sc);
    double ld = total_d(&lay, &it, cfg->features, thd);
    assert_true(fabs(lf - ld) <= 1e-5 * fabs(ld));
    if (g_unrated) { /* fewer terms in each softmax sum: a smaller loss than over every movie */
        g_unrated = 0;
        double all = total_d(&lay, &it, cfg->features, thd);
        g_unrated = 1;
        assert_true(ld < all - 1e-3);
    }
    if (g_masked) { /* the mask changes the loss: a pass that ignored it would differ */
        g_masked = 0;
        double all = total_d(&lay, &it, cfg->features, thd);
        g_masked = 1;
        assert_true(fabs(ld - all) > 1e-3);
    }

    /* Every parameter of every block, finite differences in double. */
    const double h = 1e-6;
    int n_checked = 0, n_nonzero = 0;
    for (int64_t x = 0; x < P; x++) {
        double keep = thd[x];
        thd[x] = keep + h;
        double lp = total_d(&lay, &it, cfg->features, thd);
        thd[x] = keep - h;
        double lm = total_d(&lay, &it, cfg->features, thd);
        thd[x] = keep;
        double fd = (lp - lm) / (2 * h);
        if (fabs(g[x] - fd) > 2e-4 + 2e-3 * fabs(fd))
            fail_msg("parameter %lld: gradient %.8g, finite difference %.8g", (long long)x,
                     (double)g[x], fd);
        n_checked++;
        n_nonzero += fabs(fd) > 1e-4;
    }
    /* The check has something to find in every block. */
    const struct mfr_sm_block *blocks[] = {&lay.movie, &lay.genre, &lay.year, &lay.V};
    for (int b = 0; b < 4; b++) {
        double mx = 0;
        for (int64_t x = 0; x < (int64_t)blocks[b]->rows * blocks[b]->cols; x++)
            mx = fmax(mx, fabs(g[blocks[b]->offset + x]));
        if (blocks[b]->rows > 0) assert_true(mx > 1e-3);
    }
    for (int l = 0; l < lay.n_layers; l++) {
        double mw = 0, mb = 0;
        for (int64_t x = 0; x < (int64_t)lay.W[l].rows * lay.W[l].cols; x++)
            mw = fmax(mw, fabs(g[lay.W[l].offset + x]));
        for (int o = 0; o < lay.b[l].cols; o++) mb = fmax(mb, fabs(g[lay.b[l].offset + o]));
        assert_true(mw > 1e-3 && mb > 1e-3);
    }
    assert_true(n_nonzero > n_checked / 4);
    free(th), free(g), free(thd), free(buf);
    mfr_sm_items_free(&it);
}

static void test_grad_all_features_two_hidden(void **state)
{
    (void)state;
    mfr_softmax_config cfg;
    mfr_softmax_config_default(&cfg);
    cfg.k = 3, cfg.dim_movie = 4, cfg.dim_genre = 2, cfg.dim_year = 2;
    cfg.features = MFR_SOFTMAX_FEAT_MOVIES | MFR_SOFTMAX_FEAT_GENRES | MFR_SOFTMAX_FEAT_YEARS;
    cfg.n_hidden = 2, cfg.hidden[0] = 6, cfg.hidden[1] = 5;
    check_config(&cfg);
}

static void test_grad_movies_no_hidden(void **state)
{
    (void)state;
    mfr_softmax_config cfg;
    mfr_softmax_config_default(&cfg);
    cfg.k = 5, cfg.dim_movie = 3, cfg.n_hidden = 0;
    check_config(&cfg);
}

static void test_grad_tied_genres_one_hidden(void **state)
{
    (void)state;
    mfr_softmax_config cfg;
    mfr_softmax_config_default(&cfg);
    cfg.k = 4, cfg.dim_movie = 4, cfg.dim_genre = 2, cfg.tie_tables = 1;
    cfg.features = MFR_SOFTMAX_FEAT_MOVIES | MFR_SOFTMAX_FEAT_GENRES;
    cfg.n_hidden = 1, cfg.hidden[0] = 6;
    check_config(&cfg);
    cfg.n_hidden = 0; /* and the linear model */
    check_config(&cfg);
}

/* negatives "unrated": each example's feature movies are out of its
 * softmax (the double pass skips them), with and without a hidden layer,
 * with genres pooled beside the movies. */
static void test_grad_negatives_unrated(void **state)
{
    (void)state;
    mfr_softmax_config cfg;
    mfr_softmax_config_default(&cfg);
    cfg.k = 4, cfg.dim_movie = 3, cfg.dim_genre = 2;
    cfg.features = MFR_SOFTMAX_FEAT_MOVIES | MFR_SOFTMAX_FEAT_GENRES;
    cfg.n_hidden = 1, cfg.hidden[0] = 6;
    cfg.negatives = MFR_SOFTMAX_NEG_UNRATED;
    check_config(&cfg);
    cfg.n_hidden = 0;
    check_config(&cfg);
    cfg.tie_tables = 1, cfg.dim_movie = cfg.k;
    check_config(&cfg);
}

/* A feature-dropout mask (mfr_sm_example's keep): the dropped movies add
 * nothing to the pooling of any table and get no gradient, an example
 * that keeps none pools the empty mean; with negatives "unrated" every
 * feature movie, kept or not, stays out of the softmax. */
static void test_grad_dropout_mask(void **state)
{
    (void)state;
    mfr_softmax_config cfg;
    mfr_softmax_config_default(&cfg);
    cfg.k = 3, cfg.dim_movie = 4, cfg.dim_genre = 2, cfg.dim_year = 2;
    cfg.features = MFR_SOFTMAX_FEAT_MOVIES | MFR_SOFTMAX_FEAT_GENRES | MFR_SOFTMAX_FEAT_YEARS;
    cfg.n_hidden = 1, cfg.hidden[0] = 6;
    g_masked = 1;
    check_config(&cfg);
    cfg.negatives = MFR_SOFTMAX_NEG_UNRATED;
    check_config(&cfg);
    cfg.n_hidden = 0, cfg.tie_tables = 1, cfg.dim_movie = cfg.k;
    check_config(&cfg);
    g_masked = 0;
}

static void test_grad_years_one_hidden(void **state)
{
    (void)state;
    mfr_softmax_config cfg;
    mfr_softmax_config_default(&cfg);
    cfg.k = 4, cfg.dim_movie = 2, cfg.dim_year = 3;
    cfg.features = MFR_SOFTMAX_FEAT_MOVIES | MFR_SOFTMAX_FEAT_YEARS;
    cfg.n_hidden = 1, cfg.hidden[0] = 7;
    check_config(&cfg);
}

/* Logits of 1e4 overflow exp() in float and double alike; the stable
 * log-sum-exp gives lse = max + log(sum exp(s - max)). The exponentials
 * are floats (sm_expf, within 2 ulp = 2.4e-7 relative), so Z and with it
 * the loss log(Z) - (s_y - max) are exact to 2.4e-7 (absolute, for the
 * loss), not to double precision. */
static void test_xent_large_logits(void **state)
{
    (void)state;
    float s[4] = {10000.0f, 9999.0f, -10000.0f, 10000.0f};
    double want = 10000.0 + log(2.0 + exp(-1.0)) - 9999.0;
    double got = mfr_sm_xent_ref(s, 4, 1, 0.5f);
    assert_true(fabs(got - want) < 2.4e-7);
    double Z = 2.0 + exp(-1.0);
    assert_true(fabs(s[0] - 0.5 / Z) < 1e-7);
    assert_true(fabs(s[1] - 0.5 * (exp(-1.0) / Z - 1.0)) < 1e-7);
    assert_true(s[2] == 0.0f);
    float sum = s[0] + s[1] + s[2] + s[3];
    assert_true(fabs(sum) < 1e-6); /* softmax - onehot sums to 0 */

    /* A logit of minus infinity (a movie left out) is out of Z and gets a
     * gradient of exactly 0: the same loss as the softmax of the others. */
    float t[5] = {1.0f, -INFINITY, 2.0f, 0.5f, -INFINITY}, o[3] = {1.0f, 2.0f, 0.5f};
    double lt = mfr_sm_xent_ref(t, 5, 2, 1.0f), lo = mfr_sm_xent_ref(o, 3, 1, 1.0f);
    assert_true(fabs(lt - lo) < 1e-12);
    assert_true(t[1] == 0.0f && t[4] == 0.0f && !signbit(t[1]) && !signbit(t[4]));
    assert_true(t[0] == o[0] && t[2] == o[1] && t[3] == o[2]);
}

/* Random floats in [-2, 2) from (seed, stream 77, index). */
static void fill(float *x, int64_t n, uint64_t seed)
{
    for (int64_t j = 0; j < n; j++) x[j] = (float)(4.0 * mfr_rng_uniform(seed, 77, (uint64_t)j) - 2.0);
}

/* Every kernel of the AVX2 set (and of the AVX-512 one, where the CPU
 * has it) gives the reference's bits, for widths
 * 1..40 (past two vector widths) and item counts around the 8-item
 * blocks of the logits. */
static void check_set_bitwise(const struct mfr_sm_kern *a)
{
    const struct mfr_sm_kern *r = &mfr_sm_kern_ref;
    enum { MM = 37, KK = 40 };
    static float V[MM * KK], u[KK], s1[MM], s2[MM], g1[MM * KK], g2[MM * KK], d1[KK], d2[KK];
    static float W[KK * KK], b[KK], y1[KK], y2[KK], acc1[MM * KK], acc2[MM * KK];
    int32_t idx[5] = {3, 0, 3, 36, 11};
    for (int32_t k = 1; k <= KK; k++)
        for (int32_t n_it = 1; n_it <= MM; n_it += 6) {
            uint64_t seed = (uint64_t)(k * 100 + n_it);
            fill(V, MM * KK, seed), fill(u, KK, seed + 1), fill(g1, MM * KK, seed + 2);
            memcpy(g2, g1, sizeof g1);
            r->logits(s1, u, V, n_it, k), a->logits(s2, u, V, n_it, k);
            assert_memory_equal(s1, s2, sizeof(float) * (size_t)n_it);
            double l1 = r->xent(s1, n_it, n_it / 2, 0.25f), l2 = a->xent(s2, n_it, n_it / 2, 0.25f);
            assert_memory_equal(&l1, &l2, sizeof l1);
            assert_memory_equal(s1, s2, sizeof(float) * (size_t)n_it);
            /* with every third movie but the label left out (minus infinity) */
            r->logits(s1, u, V, n_it, k), a->logits(s2, u, V, n_it, k);
            for (int32_t i = 0; i < n_it; i += 3)
                if (i != n_it / 2) s1[i] = s2[i] = -INFINITY;
            l1 = r->xent(s1, n_it, n_it / 2, 0.25f), l2 = a->xent(s2, n_it, n_it / 2, 0.25f);
            assert_memory_equal(&l1, &l2, sizeof l1);
            assert_memory_equal(s1, s2, sizeof(float) * (size_t)n_it);
            assert_true(isfinite(l1) && (n_it / 2 == 0 || s1[0] == 0.0f));
            r->logits_back(d1, g1, s1, u, V, n_it, k), a->logits_back(d2, g2, s2, u, V, n_it, k);
            assert_memory_equal(d1, d2, sizeof(float) * (size_t)k);
            assert_memory_equal(g1, g2, sizeof(float) * (size_t)(n_it * k));
            fill(W, KK * KK, seed + 3), fill(b, KK, seed + 4);
            int32_t n_out = 1 + n_it % 30; /* <= MM: s1, s2 hold gb */
            r->linear(y1, W, b, u, n_out, k), a->linear(y2, W, b, u, n_out, k);
            assert_memory_equal(y1, y2, sizeof(float) * (size_t)n_out);
            r->linear_back(d1, g1, s1, W, u, y1, n_out, k);
            a->linear_back(d2, g2, s2, W, u, y2, n_out, k);
            assert_memory_equal(d1, d2, sizeof(float) * (size_t)k);
            assert_memory_equal(g1, g2, sizeof(float) * (size_t)(n_out * k));
            r->relu(y1, u, k), a->relu(y2, u, k);
            assert_memory_equal(y1, y2, sizeof(float) * (size_t)k);
            if (n_it >= 37) {
                r->pool(y1, V, k, idx, 5), a->pool(y2, V, k, idx, 5);
                assert_memory_equal(y1, y2, sizeof(float) * (size_t)k);
                memcpy(g2, g1, sizeof g1);
                r->pool_back(g1, k, idx, 5, u), a->pool_back(g2, k, idx, 5, u);
                assert_memory_equal(g1, g2, sizeof(float) * (size_t)(n_it * k));
            }
            fill(acc1, MM * KK, seed + 5);
            for (int j = 0; j < MM * KK; j++) acc1[j] = acc1[j] * acc1[j];
            memcpy(acc2, acc1, sizeof acc1);
            memcpy(g2, g1, sizeof g1);
            float p1[MM * KK], p2[MM * KK];
            fill(p1, MM * KK, seed + 6);
            memcpy(p2, p1, sizeof p1);
            r->adagrad(p1, acc1, g1, n_it * k, 0.5f), a->adagrad(p2, acc2, g2, n_it * k, 0.5f);
            assert_memory_equal(p1, p2, sizeof(float) * (size_t)(n_it * k));
            assert_memory_equal(acc1, acc2, sizeof(float) * (size_t)(n_it * k));
        }
}

static void test_kernel_sets_bitwise(void **state)
{
    (void)state;
    if (!mfr_cpu_has_avx2()) skip();
    check_set_bitwise(&mfr_sm_kern_avx2);
    if (mfr_cpu_has_avx512f()) check_set_bitwise(&mfr_sm_kern_avx512);
}

/* The MLP's initial weights have the standard deviation each scheme names:
 * a normal truncated at 2 std keeps 0.87962 of its std (the truncated
 * normal's variance 1 - 4 phi(2) / (2 Phi(2) - 1) = 0.77373). 512 inputs,
 * 256 outputs: 131,072 draws, so 2% is many standard errors. */
static void test_hidden_init(void **state)
{
    (void)state;
    mfr_softmax_config cfg;
    mfr_softmax_config_default(&cfg);
    cfg.dim_movie = 512, cfg.n_hidden = 1, cfg.hidden[0] = 256;
    uint32_t bits[4] = {0};
    int32_t years[4] = {0};
    struct mfr_sm_items it;
    struct mfr_sm_layout lay;
    mfr_error err = {0};
    assert_int_equal(mfr_sm_items_build(4, 1, bits, years, &it, &err), MFR_OK);
    assert_int_equal(mfr_sm_layout_make(&cfg, 4, it.n_genres, it.n_years, &lay, &err), MFR_OK);
    float *th = calloc((size_t)lay.n_params, sizeof(float));
    const double want[2] = {0.1 / sqrt(256.0), sqrt(2.0 / 512.0)};
    for (int scheme = 0; scheme < 2; scheme++) {
        memset(th, 0, sizeof(float) * (size_t)lay.n_params);
        mfr_sm_init(&lay, 3, scheme, th);
        double ss = 0, mx = 0;
        int64_t n = (int64_t)lay.W[0].rows * lay.W[0].cols;
        for (int64_t x = 0; x < n; x++) {
            double w = th[lay.W[0].offset + x];
            ss += w * w;
            mx = fmax(mx, fabs(w));
        }
        double sd = sqrt(ss / (double)n), expect = 0.87962 * want[scheme];
        if (fabs(sd - expect) > 0.02 * expect)
            fail_msg("scheme %d: std %.6g, expected %.6g", scheme, sd, expect);
        assert_true(mx <= 2.0 * want[scheme] * (1 + 1e-6)); /* truncated at 2 std */
    }
    free(th);
    mfr_sm_items_free(&it);
}

static void test_config_refusals(void **state)
{
    (void)state;
    mfr_softmax_config cfg;
    mfr_error err = {0};
    mfr_softmax_config_default(&cfg);
    assert_int_equal(mfr_softmax_config_validate(&cfg, &err), MFR_OK);
    cfg.features = MFR_SOFTMAX_FEAT_GENRES;
    assert_int_equal(mfr_softmax_config_validate(&cfg, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "movies"));
    mfr_softmax_config_default(&cfg);
    cfg.n_hidden = 5;
    assert_int_equal(mfr_softmax_config_validate(&cfg, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "got 5"));
    mfr_softmax_config_default(&cfg);
    cfg.lr = 0;
    assert_int_equal(mfr_softmax_config_validate(&cfg, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "softmax lr must be above 0 and at most 1e+06, got 0"));
    mfr_softmax_config_default(&cfg);
    cfg.negatives = 2;
    assert_int_equal(mfr_softmax_config_validate(&cfg, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "softmax negatives must be in 0..1, got 2"));
    mfr_softmax_config_default(&cfg);
    cfg.tie_tables = 1, cfg.k = 8;
    assert_int_equal(mfr_softmax_config_validate(&cfg, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "--dim-movie 35 and --dim 8"));
    cfg.tie_tables = 2, cfg.k = 35;
    assert_int_equal(mfr_softmax_config_validate(&cfg, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "tie_tables"));
    mfr_softmax_config_default(&cfg);
    cfg.weight_decay = -1;
    assert_int_equal(mfr_softmax_config_validate(&cfg, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "weight_decay"));
    cfg.weight_decay = 10, cfg.lr = 0.1;
    assert_int_equal(mfr_softmax_config_validate(&cfg, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "must be below 1"));
    const double bad_dropout[] = {1.0, -0.1, 1.5, NAN, INFINITY};
    for (size_t x = 0; x < sizeof bad_dropout / sizeof *bad_dropout; x++) {
        mfr_softmax_config_default(&cfg);
        cfg.feature_dropout = bad_dropout[x];
        assert_int_equal(mfr_softmax_config_validate(&cfg, &err), MFR_ERR_INVALID);
        assert_non_null(strstr(err.message, "softmax feature_dropout (--feature-dropout) must be "
                                            "at least 0 and below 1, got "));
    }
    cfg.feature_dropout = 0.999;
    assert_int_equal(mfr_softmax_config_validate(&cfg, &err), MFR_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grad_all_features_two_hidden),
        cmocka_unit_test(test_grad_movies_no_hidden),
        cmocka_unit_test(test_grad_years_one_hidden),
        cmocka_unit_test(test_grad_tied_genres_one_hidden),
        cmocka_unit_test(test_grad_negatives_unrated),
        cmocka_unit_test(test_grad_dropout_mask),
        cmocka_unit_test(test_xent_large_logits),
        cmocka_unit_test(test_kernel_sets_bitwise),
        cmocka_unit_test(test_hidden_init),
        cmocka_unit_test(test_config_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
