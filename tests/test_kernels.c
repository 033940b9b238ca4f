/*
 * test_kernels.c — every AVX2 kernel, and the AVX-512 set's passes where
 * the CPU has AVX-512F, against the portable reference on random inputs,
 * k = 1..70 (odd sizes, one and several vector widths), empty and
 * single-rating users. The documented tolerance between the two
 * sets is zero: they follow the same accumulation order, so results must be
 * bit-identical. The reference itself is checked against double math.
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kern_priv.h"
#include "rng_priv.h"

static float *rand_rows(int32_t rows, int32_t k, int32_t k_pad, uint64_t stream)
{
    float *p = mfr_aligned_calloc((size_t)rows * (size_t)k_pad * sizeof(float));
    for (int32_t r = 0; r < rows; r++)
        for (int32_t c = 0; c < k; c++)
            p[(size_t)r * k_pad + c] = (float)mfr_rng_normal(42, stream, (uint64_t)r * 1000 + c);
    return p;
}

static void assert_bits_equal(const float *a, const float *b, size_t n)
{
    for (size_t x = 0; x < n; x++) {
        if (memcmp(&a[x], &b[x], sizeof(float)) != 0)
            fail_msg("element %zu differs: %.9g vs %.9g", x, (double)a[x], (double)b[x]);
    }
}

static void skip_without_avx2(void)
{
    if (!mfr_cpu_has_avx2()) skip();
}

static void test_dot_matches_reference_and_double(void **state)
{
    (void)state;
    skip_without_avx2();
    for (int32_t k = 1; k <= 70; k++) {
        int32_t k_pad = mfr_pad_k(k);
        float *a = rand_rows(1, k, k_pad, 1), *b = rand_rows(1, k, k_pad, 2);
        float r = mfr_kernels_ref.dot(a, b, k_pad);
        float v = mfr_kernels_avx2.dot(a, b, k_pad);
        assert_memory_equal(&r, &v, sizeof r);
        double exact = 0, mag = 0;
        for (int32_t c = 0; c < k; c++) {
            exact += (double)a[c] * b[c];
            mag += fabs((double)a[c] * b[c]);
        }
        assert_true(fabs(r - exact) <= 1e-6 * mag + 1e-30);
        mfr_aligned_free(a);
        mfr_aligned_free(b);
    }
}

/* Runs user_grad of one set over `n_users` users into fresh buffers. */
static void run_user_grad(const struct mfr_kernel_set *ks, int32_t k_pad, const float *U,
                          const float *V, int32_t n_users, const int64_t *row_ptr,
                          const int32_t *items, const float *ratings, float *gU, float *gV,
                          float *resid, int far, double *loss)
{
    *loss = 0;
    for (int32_t u = 0; u < n_users; u++) {
        int64_t b = row_ptr[u], e = row_ptr[u + 1];
        *loss += ks->user_grad(U + (size_t)u * k_pad, V, k_pad, items + b, ratings + b, e - b,
                               0.01f, gU + (size_t)u * k_pad, gV, resid ? resid + b : NULL, far);
    }
}

/* The user and item passes of `ks` against the reference. */
static void check_gradient_kernels(const struct mfr_kernel_set *ks)
{
    enum { NNZ = 53 };
    const int32_t n_users = 8, n_items = 9;
    /* user 0: empty, user 1: a single rating, others 2..16 ratings (exercises
     * the 4-way groups, the pipelined next group and prefetches, and the
     * tail). */
    int64_t row_ptr[9] = {0, 0, 1, 3, 8, 17, 24, 37, 53};
    int32_t items[NNZ];
    float ratings[NNZ];
    for (int j = 0; j < NNZ; j++) {
        items[j] = (int32_t)(mfr_rng_u64(7, 1, j) % n_items);
        ratings[j] = (float)(1 + mfr_rng_u64(7, 2, j) % 5);
    }
    for (int32_t k = 1; k <= 70; k++) {
        int32_t k_pad = mfr_pad_k(k);
        size_t un = (size_t)n_users * k_pad, vn = (size_t)n_items * k_pad;
        float *U = rand_rows(n_users, k, k_pad, 3), *V = rand_rows(n_items, k, k_pad, 4);
        float *gU1 = mfr_aligned_calloc(un * 4), *gU2 = mfr_aligned_calloc(un * 4);
        float *gV1 = mfr_aligned_calloc(vn * 4), *gV2 = mfr_aligned_calloc(vn * 4);
        float r1[NNZ], r2[NNZ];
        double l1, l2;
        /* shard mode (item buffer), rows near and far (fetched ahead) */
        run_user_grad(&mfr_kernels_ref, k_pad, U, V, n_users, row_ptr, items, ratings, gU1, gV1,
                      NULL, 0, &l1);
        for (int far = 0; far <= 1; far++) {
            memset(gU2, 0, un * 4);
            memset(gV2, 0, vn * 4);
            run_user_grad(ks, k_pad, U, V, n_users, row_ptr, items, ratings, gU2, gV2,
                          NULL, far, &l2);
            assert_memory_equal(&l1, &l2, sizeof l1);
            assert_bits_equal(gU1, gU2, un);
            assert_bits_equal(gV1, gV2, vn);
        }
        /* owner mode (residuals) and the item pass */
        memset(gU1, 0, un * 4);
        run_user_grad(&mfr_kernels_ref, k_pad, U, V, n_users, row_ptr, items, ratings, gU1, NULL,
                      r1, 0, &l1);
        for (int far = 0; far <= 1; far++) {
            memset(gU2, 0, un * 4);
            memset(r2, 0, sizeof r2);
            run_user_grad(ks, k_pad, U, V, n_users, row_ptr, items, ratings, gU2,
                          NULL, r2, far, &l2);
            assert_memory_equal(&l1, &l2, sizeof l1);
            assert_bits_equal(r1, r2, NNZ);
            assert_bits_equal(gU1, gU2, un);
        }
        int32_t users[NNZ];
        int64_t pos[NNZ];
        for (int32_t u = 0; u < n_users; u++)
            for (int64_t j = row_ptr[u]; j < row_ptr[u + 1]; j++) users[j] = u, pos[j] = j;
        float *gv1 = mfr_aligned_calloc(k_pad * 4), *gv2 = mfr_aligned_calloc(k_pad * 4);
        for (int64_t n = 0; n <= NNZ; n += 5) {
            mfr_kernels_ref.item_grad(gv1, U, k_pad, users, pos, r1, n);
            ks->item_grad(gv2, U, k_pad, users, pos, r1, n);
            assert_bits_equal(gv1, gv2, (size_t)k_pad);
        }
        /* padding lanes stay zero */
        for (int32_t u = 0; u < n_users; u++)
            for (int32_t c = k; c < k_pad; c++) assert_true(gU2[(size_t)u * k_pad + c] == 0.0f);
        mfr_aligned_free(gv1);
        mfr_aligned_free(gv2);
        mfr_aligned_free(U);
        mfr_aligned_free(V);
        mfr_aligned_free(gU1);
        mfr_aligned_free(gU2);
        mfr_aligned_free(gV1);
        mfr_aligned_free(gV2);
    }
}

/* Rows of 16 and 32 floats take the AVX-512 set's 512-bit halves, the
 * others its 256-bit code: both against the reference. */
static void test_gradient_kernels_match_reference(void **state)
{
    (void)state;
    skip_without_avx2();
    check_gradient_kernels(&mfr_kernels_avx2);
    if (mfr_cpu_has_avx512f()) check_gradient_kernels(&mfr_kernels_avx512);
    else print_message("the AVX-512 set not checked: this CPU lacks AVX-512F\n");
}

static void test_sum_buffers_and_adam_match_reference(void **state)
{
    (void)state;
    skip_without_avx2();
    for (int32_t n = 8; n <= 72; n += 8) {
        float *base = rand_rows(5, n, n, 9);
        float *o1 = mfr_aligned_calloc(n * 4), *o2 = mfr_aligned_calloc(n * 4);
        for (int32_t bufs = 1; bufs <= 5; bufs++) {
            mfr_kernels_ref.sum_buffers(o1, base, n, bufs, n);
            mfr_kernels_avx2.sum_buffers(o2, base, n, bufs, n);
            assert_bits_equal(o1, o2, (size_t)n);
            for (int32_t x = 0; x < n; x++) {
                float s = base[x];
                for (int32_t b = 1; b < bufs; b++) s += base[b * n + x];
                assert_true(s == o1[x]);
            }
        }
        float *p1 = rand_rows(1, n, n, 10), *g = rand_rows(1, n, n, 11);
        float *p2 = mfr_aligned_calloc(n * 4);
        memcpy(p2, p1, n * 4);
        float *m1 = mfr_aligned_calloc(n * 4), *v1 = mfr_aligned_calloc(n * 4);
        float *m2 = mfr_aligned_calloc(n * 4), *v2 = mfr_aligned_calloc(n * 4);
        for (int64_t t = 1; t <= 5; t++) {
            struct mfr_adam_coef c = mfr_adam_coef_make(1e-3, 0.9, 0.999, 1e-8, t);
            mfr_kernels_ref.adam(p1, m1, v1, g, n, &c);
            mfr_kernels_avx2.adam(p2, m2, v2, g, n, &c);
        }
        assert_bits_equal(p1, p2, (size_t)n);
        assert_bits_equal(m1, m2, (size_t)n);
        assert_bits_equal(v1, v2, (size_t)n);
        mfr_aligned_free(base);
        mfr_aligned_free(o1);
        mfr_aligned_free(o2);
        mfr_aligned_free(p1);
        mfr_aligned_free(p2);
        mfr_aligned_free(g);
        mfr_aligned_free(m1);
        mfr_aligned_free(v1);
        mfr_aligned_free(m2);
        mfr_aligned_free(v2);
    }
}

/* The optimizer kernels' non-finite masks: 0 on a finite update; an inf
 * gradient in one lane (any lane of any block) makes m, v and p non-finite
 * (bits 0-2); an inf p alone flags p only; a huge v makes v overflow and
 * nothing else. SGD flags its p. Both kernel sets agree. */
static void test_optimizer_nonfinite_masks(void **state)
{
    (void)state;
    skip_without_avx2();
    const struct mfr_kernel_set *sets[2] = {&mfr_kernels_ref, &mfr_kernels_avx2};
    const int32_t n = 24;
    struct mfr_adam_coef c = mfr_adam_coef_make(1e-3, 0.9, 0.999, 1e-8, 3);
    for (int s = 0; s < 2; s++)
        for (int32_t lane = 0; lane < n; lane += 5) {
            float *p = rand_rows(1, n, n, 12), *g = rand_rows(1, n, n, 13);
            float *m = mfr_aligned_calloc(n * 4), *v = mfr_aligned_calloc(n * 4);
            assert_int_equal(sets[s]->adam(p, m, v, g, n, &c), 0);
            assert_int_equal(sets[s]->sgd(p, g, n, 0.01f), 0);
            g[lane] = INFINITY;
            assert_int_equal(sets[s]->adam(p, m, v, g, n, &c), 7u);
            mfr_aligned_free(p), mfr_aligned_free(m), mfr_aligned_free(v);
            p = rand_rows(1, n, n, 12), m = mfr_aligned_calloc(n * 4), v = mfr_aligned_calloc(n * 4);
            g[lane] = 0.5f;
            p[lane] = -INFINITY;
            assert_int_equal(sets[s]->adam(p, m, v, g, n, &c), MFR_NONFINITE_BIT(0));
            p[lane] = 1.0f;
            v[lane] = 3e38f; /* beta2 * v + w2 g^2 stays finite: 0 */
            assert_int_equal(sets[s]->adam(p, m, v, g, n, &c), 0);
            v[lane] = FLT_MAX, g[lane] = 1e30f; /* g^2 overflows: v and m/denom */
            unsigned bad = sets[s]->adam(p, m, v, g, n, &c);
            assert_true(bad & MFR_NONFINITE_BIT(2));
            assert_false(bad & MFR_NONFINITE_BIT(1)); /* m = 0.9 m + 0.1 * 1e30 is finite */
            g[lane] = NAN;
            assert_int_equal(sets[s]->sgd(p, g, n, 0.01f), MFR_NONFINITE_BIT(0));
            mfr_aligned_free(p), mfr_aligned_free(m), mfr_aligned_free(v), mfr_aligned_free(g);
        }
}

/* The kernel dot written out on its own: eight lane partials, one fmaf
 * per element, then lane l + l + 4, l + l + 2, 0 + 1. */
static float lane_order_dot(const float *a, const float *b, int32_t k_pad)
{
    float acc[8] = {0};
    for (int32_t c = 0; c < k_pad; c += 8)
        for (int l = 0; l < 8; l++) acc[l] = fmaf(a[c + l], b[c + l], acc[l]);
    const float s0 = acc[0] + acc[4], s1 = acc[1] + acc[5], s2 = acc[2] + acc[6], s3 = acc[3] + acc[7];
    return (s0 + s2) + (s1 + s3);
}

/* eval_errors: both sets give (double)dot - (double)rating with the
 * kernels' dot (mfr_model_predict_unchecked's definition) bit for bit, for
 * k 1..70, n not a multiple of 8 (the scalar tail), repeated and random
 * rows; and the lane order matters: the sequential sum differs somewhere. */
static void test_eval_errors_match_dot(void **state)
{
    (void)state;
    const bool avx2 = mfr_cpu_has_avx2(); /* the reference half runs everywhere */
    const int32_t n_users = 13, n_items = 11;
    const int64_t n = 53;
    int32_t user[53], item[53];
    float rating[53];
    for (int64_t x = 0; x < n; x++) {
        user[x] = (int32_t)(mfr_rng_u64(7, 1, (uint64_t)x) % n_users);
        item[x] = (int32_t)(mfr_rng_u64(7, 2, (uint64_t)x) % n_items);
        rating[x] = (float)(1 + mfr_rng_u64(7, 3, (uint64_t)x) % 5);
    }
    int64_t differs_from_sequential = 0;
    for (int32_t k = 1; k <= 70; k++) {
        int32_t k_pad = mfr_pad_k(k);
        float *U = rand_rows(n_users, k, k_pad, 3), *V = rand_rows(n_items, k, k_pad, 4);
        double want[53], e_ref[53], e_avx[53];
        for (int64_t x = 0; x < n; x++) {
            const float *pu = U + (size_t)user[x] * k_pad, *pi = V + (size_t)item[x] * k_pad;
            want[x] = (double)lane_order_dot(pu, pi, k_pad) - (double)rating[x];
            volatile float s = 0.0f; /* the sequential multiply-then-add sum */
            for (int32_t j = 0; j < k; j++) {
                volatile float p = pu[j] * pi[j];
                s = s + p;
            }
            differs_from_sequential += (double)s - (double)rating[x] != want[x];
        }
        for (int64_t len = 0; len <= n; len += (len < 17 ? 1 : 9)) {
            for (int far = 0; far <= 1; far++) {
                mfr_kernels_ref.eval_errors(U, V, k_pad, user, item, rating, len, far, e_ref);
                if (avx2) mfr_kernels_avx2.eval_errors(U, V, k_pad, user, item, rating, len, far, e_avx);
                if (len > 0) {
                    assert_memory_equal(e_ref, want, (size_t)len * sizeof(double));
                    if (avx2) assert_memory_equal(e_avx, want, (size_t)len * sizeof(double));
                }
            }
        }
        mfr_aligned_free(U);
        mfr_aligned_free(V);
    }
    assert_true(differs_from_sequential > 0);
}

/* dot_rows: every set gives each row's kernel dot bit for bit (the lane
 * order written out above), for k 1..70 and row counts around the AVX2
 * set's groups of eight (its scalar tail), with rows that repeat. */
static void test_dot_rows_match_dot(void **state)
{
    (void)state;
    const struct mfr_kernel_set *sets[3] = {&mfr_kernels_ref, NULL, NULL};
    if (mfr_cpu_has_avx2()) sets[1] = &mfr_kernels_avx2; /* the reference runs everywhere */
    if (mfr_cpu_has_avx512f()) sets[2] = &mfr_kernels_avx512;
    const int32_t n_rows = 43;
    for (int32_t k = 1; k <= 70; k++) {
        const int32_t k_pad = mfr_pad_k(k);
        float *q = rand_rows(1, k, k_pad, 5), *V = rand_rows(n_rows, k, k_pad, 6);
        memcpy(V + 9 * (size_t)k_pad, V + 2 * (size_t)k_pad, sizeof(float) * (size_t)k_pad);
        float want[43], got[44];
        for (int32_t j = 0; j < n_rows; j++) want[j] = lane_order_dot(q, V + (size_t)j * k_pad, k_pad);
        assert_true(memcmp(&want[2], &want[9], sizeof(float)) == 0);
        for (int x = 0; x < 3; x++) {
            if (!sets[x]) continue;
            for (int32_t first = 0; first <= 3; first++)
                for (int64_t len = 0; first + len <= n_rows; len += (len < 17 ? 1 : 5)) {
                    got[len] = -1.0f; /* nothing written past the n-th */
                    sets[x]->dot_rows(q, V + (size_t)first * k_pad, k_pad, len, got);
                    assert_bits_equal(got, want + first, (size_t)len);
                    assert_true(got[len] == -1.0f);
                }
        }
        mfr_aligned_free(q);
        mfr_aligned_free(V);
    }
}

static void test_kernel_selection(void **state)
{
    (void)state;
    mfr_error err = {0};
    assert_ptr_equal(mfr_kernels_select(MFR_KERNELS_REF, &err), &mfr_kernels_ref);
    const struct mfr_kernel_set *a = mfr_kernels_select(MFR_KERNELS_AUTO, &err);
    assert_ptr_equal(a, mfr_cpu_has_avx512f() ? &mfr_kernels_avx512
                        : mfr_cpu_has_avx2()  ? &mfr_kernels_avx2
                                              : &mfr_kernels_ref);
    if (mfr_cpu_has_avx2()) assert_ptr_equal(mfr_kernels_select(MFR_KERNELS_AVX2, &err), &mfr_kernels_avx2);
    /* avx512 by name: the set, or an error naming what the CPU lacks */
    const struct mfr_kernel_set *z = mfr_kernels_select(MFR_KERNELS_AVX512, &err);
    if (mfr_cpu_has_avx512f()) {
        assert_ptr_equal(z, &mfr_kernels_avx512);
    } else {
        assert_null(z);
        assert_int_equal(err.status, MFR_ERR_UNSUPPORTED);
        assert_non_null(strstr(err.message, "lacks AVX-512F"));
    }
    assert_null(mfr_kernels_select(99, &err));
    assert_int_equal(err.status, MFR_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dot_matches_reference_and_double),
        cmocka_unit_test(test_gradient_kernels_match_reference),
        cmocka_unit_test(test_sum_buffers_and_adam_match_reference),
        cmocka_unit_test(test_optimizer_nonfinite_masks),
        cmocka_unit_test(test_kernel_selection),
        cmocka_unit_test(test_eval_errors_match_dot),
        cmocka_unit_test(test_dot_rows_match_dot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
