/*
 * test_softmax_kern.c — the softmax trainer's batch kernels and its float
 * exp (sm_kern_body.h):
 *  - sm_expf against libm's double exp over [-87, 0] (2 ulp), its zero
 *    below -87 and its NaN;
 *  - transpose against a plain loop;
 *  - logits_t4, logits_du4 and outer_rows against the per-example kernels
 *    (logits, logits_back) that mfr_sm_example uses and test_softmax_grad
 *    checks against finite differences: bit for bit, since each output is
 *    the same fmaf chain (sm_kern_priv.h), for every kernel set the CPU
 *    runs (ref, avx2, avx512), widths 1..56 (AVX2 du4's 24- and 16-column
 *    groups, AVX-512's 48-column blocks, and their masked ends) and item
 *    counts around the 16-, 48-item and 4-row blocks; the row
 *    ranges of outer_rows cut anywhere give the same bits (threads own
 *    row blocks), and add = 1 continues the chain across chunks.
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
#include "sm_kern_body.h"

/* 2 ulp of a float in [2^-126, 1]: 2^-22 relative. */
static void test_expf_accuracy(void **state)
{
    (void)state;
    double worst = 0.0;
    for (int32_t j = 0; j <= 870000; j++) {
        float x = -(float)j * 1e-4f;
        double want = exp((double)x), got = (double)sm_expf(x);
        double rel = fabs(got - want) / want;
        if (rel > worst) worst = rel;
    }
    print_message("sm_expf: worst relative error %.3g on [-87, 0]\n", worst);
    assert_true(worst <= 0x1p-22);
    assert_true(sm_expf(0.0f) == 1.0f);
    assert_true(sm_expf(-87.5f) == 0.0f);
    assert_true(sm_expf(-1e30f) == 0.0f);
    assert_true(sm_expf(-INFINITY) == 0.0f);
    assert_true(isnan(sm_expf(NAN)));
}

static void fill(float *x, int64_t n, uint64_t seed)
{
    for (int64_t j = 0; j < n; j++) x[j] = (float)(4.0 * mfr_rng_uniform(seed, 78, (uint64_t)j) - 2.0);
}

enum { MM = 100, KK = 56, LDU = KK + 3, LDS = MM + 5 };

/* The batch kernels of set `kern` against its per-example kernels. */
static void check_batch(const struct mfr_sm_kern *kern, int32_t M, int32_t k)
{
    static float V[MM * KK], Vt[KK * (MM + 2)], U[4 * LDU], ds[4 * LDS], s[4 * LDS];
    static float one[MM], du[4 * LDU], du1[KK], gV[MM * KK], g1[MM * KK], g2[MM * KK];
    const int64_t ldt = M + 2;
    uint64_t seed = (uint64_t)(k * 1000 + M);
    fill(V, (int64_t)M * k, seed), fill(U, 4 * LDU, seed + 1), fill(ds, 4 * LDS, seed + 2);
    for (int32_t i = 0; i < M; i++)
        for (int32_t c = 0; c < k; c++) Vt[(size_t)c * (size_t)ldt + (size_t)i] = V[i * k + c];
    static float Vt2[KK * (MM + 2)];
    memset(Vt2, 0, sizeof Vt2);
    int32_t part = M / 2 + 3 < M ? M / 2 + 3 : M; /* two row ranges, as two threads */
    kern->transpose(Vt2, ldt, V, 0, part, k);
    kern->transpose(Vt2, ldt, V, part, M, k);
    for (int32_t c = 0; c < k; c++)
        assert_memory_equal(Vt2 + (size_t)c * (size_t)ldt, Vt + (size_t)c * (size_t)ldt,
                            sizeof(float) * (size_t)M);
    kern->logits_t4(s, LDS, U, LDU, Vt, ldt, M, k);
    for (int b = 0; b < 4; b++) {
        kern->logits(one, U + b * LDU, V, M, k);
        assert_memory_equal(one, s + b * LDS, sizeof(float) * (size_t)M);
    }
    kern->logits_du4(du, LDU, ds, LDS, V, M, k);
    memset(g1, 0, sizeof g1);
    for (int b = 0; b < 4; b++) { /* logits_back on each example in turn: gV's chains over b */
        kern->logits_back(du1, g1, ds + b * LDS, U + b * LDU, V, M, k);
        assert_memory_equal(du1, du + b * LDU, sizeof(float) * (size_t)k);
    }
    memset(gV, 0x7f, sizeof gV); /* add = 0 must overwrite */
    kern->outer_rows(gV, ds, LDS, U, LDU, 4, 0, M, k, 0);
    assert_memory_equal(gV, g1, sizeof(float) * (size_t)(M * k));
    /* two chunks of two examples, the rows cut at an odd place */
    memset(g2, 0x7f, sizeof g2);
    int32_t cut = M / 3 + 1 < M ? M / 3 + 1 : M;
    kern->outer_rows(g2, ds, LDS, U, LDU, 2, 0, cut, k, 0);
    kern->outer_rows(g2, ds, LDS, U, LDU, 2, cut, M, k, 0);
    kern->outer_rows(g2, ds + 2 * LDS, LDS, U + 2 * LDU, LDU, 2, 0, M, k, 1);
    assert_memory_equal(g2, g1, sizeof(float) * (size_t)(M * k));
}

static void test_batch_kernels(void **state)
{
    (void)state;
    const int32_t items[] = {1, 3, 4, 15, 16, 17, 31, 33, 37, 47, 48, 49, 64, 70, 97, 100};
    for (int32_t k = 1; k <= KK; k++)
        for (size_t j = 0; j < sizeof items / sizeof items[0]; j++) {
            check_batch(&mfr_sm_kern_ref, items[j], k);
            if (mfr_cpu_has_avx2()) check_batch(&mfr_sm_kern_avx2, items[j], k);
            if (mfr_cpu_has_avx512f()) check_batch(&mfr_sm_kern_avx512, items[j], k);
        }
}

/* The AVX-512 set's Adam gives the reference Adam's bits (parameters and
 * both moments) for every length 1..100 (its masked last vector) and
 * several steps' coefficients, with zero gradients (a row no example
 * touched) among them. */
static void test_adam_avx512(void **state)
{
    (void)state;
    if (!mfr_cpu_has_avx512f()) skip();
    assert_non_null(mfr_sm_kern_avx512.adam);
    assert_null(mfr_sm_kern_avx2.adam); /* the trainer's Adam */
    enum { N = 100 };
    static float p[2][N + 16], m[2][N + 16], v[2][N + 16], g[N + 16];
    for (int64_t n = 1; n <= N; n++) {
        fill(p[0], N + 16, (uint64_t)n), fill(m[0], N + 16, (uint64_t)n + 1);
        fill(v[0], N + 16, (uint64_t)n + 2), fill(g, N + 16, (uint64_t)n + 3);
        for (int j = 0; j < N + 16; j++) v[0][j] *= v[0][j];
        for (int j = 0; j < N; j += 7) g[j] = 0.0f;
        memcpy(p[1], p[0], sizeof p[0]), memcpy(m[1], m[0], sizeof m[0]);
        memcpy(v[1], v[0], sizeof v[0]);
        for (int64_t t = 1; t <= 3; t++) {
            struct mfr_adam_coef c = mfr_adam_coef_make(0.01, 0.9, 0.999, 1e-8, t * 10 - 9);
            mfr_kernels_ref.adam(p[0], m[0], v[0], g, n, &c);
            mfr_sm_kern_avx512.adam(p[1], m[1], v[1], g, n, &c);
        }
        /* the floats past n untouched too */
        assert_memory_equal(p[0], p[1], sizeof p[0]);
        assert_memory_equal(m[0], m[1], sizeof m[0]);
        assert_memory_equal(v[0], v[1], sizeof v[0]);
    }
}

/* The AVX-512 cross-entropy (two passes) against the reference's (four):
 * the loss and the gradient bit for bit, for 1..100 logits (the 16-float
 * vectors, the 8-lane double sums and their tails), with ties at the max,
 * +0 and -0 both the max, logits far below the max (exp 0) and large
 * ones. */
static void test_xent_avx512(void **state)
{
    (void)state;
    if (!mfr_cpu_has_avx512f()) skip();
    enum { N = 100 };
    static float s1[N], s2[N];
    for (int32_t M = 1; M <= N; M++)
        for (int v = 0; v < 4; v++) {
            fill(s1, M, (uint64_t)(M * 10 + v));
            for (int32_t i = 0; i < M; i++) {
                if (v == 1) s1[i] = (float)(i % 3) - 2.0f;          /* ties of the max, 0 */
                if (v == 2) s1[i] = i % 2 ? -0.0f : (i % 5 ? -3.0f : 0.0f); /* +0 and -0 */
                if (v == 3) s1[i] *= i % 4 ? 60.0f : 1.0f;          /* e^(s - m) underflows */
            }
            memcpy(s2, s1, sizeof s1);
            const int32_t y = (M * 7 + v) % M;
            double l1 = mfr_sm_xent_ref(s1, M, y, 0.125f);
            double l2 = mfr_sm_kern_avx512.xent(s2, M, y, 0.125f);
            assert_memory_equal(&l1, &l2, sizeof l1);
            assert_memory_equal(s1, s2, sizeof(float) * (size_t)M);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expf_accuracy),
        cmocka_unit_test(test_batch_kernels),
        cmocka_unit_test(test_adam_avx512),
        cmocka_unit_test(test_xent_avx512),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
