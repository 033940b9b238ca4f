/*
 * test_grad.c — the training gradient (kernels + both item reductions)
 * against central finite differences of the MSE, computed in double on a
 * tiny problem: L(U, V) = 1/N sum_(u,i) (<U_u, V_i> - r_ui)^2.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "csr_priv.h"
#include "kern_priv.h"
#include "rng_priv.h"

enum { NU = 5, NI = 6, K_MAX = 30, NNZ = 14 };
/* The dimension of the check in progress: 3, 13 and 30 (k_pad 8, 16, 32),
 * so the AVX-512 set's 512-bit rows (k_pad 16, 32) are checked as well as
 * its 256-bit ones. */
static int K = 3;

static const int32_t R_USER[NNZ] = {0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 4, 4, 4, 4};
static const int32_t R_ITEM[NNZ] = {0, 2, 5, 1, 2, 0, 1, 3, 4, 5, 0, 2, 3, 4};
static const float R_VAL[NNZ] = {5, 3, 1, 4, 2, 1, 5, 4, 3, 2, 4, 4, 1, 5};

static double loss_d(const double *U, const double *V)
{
    double s = 0;
    for (int j = 0; j < NNZ; j++) {
        double p = 0;
        for (int c = 0; c < K; c++) p += U[R_USER[j] * K + c] * V[R_ITEM[j] * K + c];
        s += (p - R_VAL[j]) * (p - R_VAL[j]);
    }
    return s / NNZ;
}

static void check_set_k(const struct mfr_kernel_set *ks, int owner)
{
    int32_t kp = mfr_pad_k(K);
    float *U = mfr_aligned_calloc(sizeof(float) * NU * kp), *V = mfr_aligned_calloc(sizeof(float) * NI * kp);
    double Ud[NU * K_MAX], Vd[NI * K_MAX];
    for (int u = 0; u < NU; u++)
        for (int c = 0; c < K; c++) Ud[u * K + c] = U[u * kp + c] = (float)mfr_rng_normal(3, 1, u * K + c);
    for (int i = 0; i < NI; i++)
        for (int c = 0; c < K; c++) Vd[i * K + c] = V[i * kp + c] = (float)mfr_rng_normal(3, 2, i * K + c);

    struct mfr_csr csr;
    struct mfr_csc csc;
    mfr_error err = {0};
    assert_int_equal(mfr_csr_build(NU, NI, NNZ, R_USER, R_ITEM, R_VAL, 0, &csr, &err), MFR_OK);
    assert_int_equal(mfr_csc_build(&csr, 0, &csc, &err), MFR_OK);
    float *gU = mfr_aligned_calloc(sizeof(float) * NU * kp), *gV = mfr_aligned_calloc(sizeof(float) * NI * kp);
    float resid[NNZ];
    float scale = (float)(2.0 / NNZ);
    double loss = 0;
    for (int u = 0; u < NU; u++) {
        int64_t b = csr.row_ptr[u], e = csr.row_ptr[u + 1];
        loss += ks->user_grad(U + u * kp, V, kp, csr.item + b, csr.rating + b, e - b, scale,
                              gU + u * kp, owner ? NULL : gV, owner ? resid + b : NULL, 0);
    }
    if (owner)
        for (int i = 0; i < NI; i++)
            ks->item_grad(gV + i * kp, U, kp, csc.user + csc.col_ptr[i], csc.pos + csc.col_ptr[i],
                          resid, csc.col_ptr[i + 1] - csc.col_ptr[i]);
    assert_true(fabs(loss / NNZ - loss_d(Ud, Vd)) < 1e-5 * loss_d(Ud, Vd));

    const double h = 1e-5;
    for (int which = 0; which < 2; which++) {
        double *P = which ? Vd : Ud;
        float *G = which ? gV : gU;
        int rows = which ? NI : NU;
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < K; c++) {
                double keep = P[r * K + c];
                P[r * K + c] = keep + h;
                double lp = loss_d(Ud, Vd);
                P[r * K + c] = keep - h;
                double lm = loss_d(Ud, Vd);
                P[r * K + c] = keep;
                double fd = (lp - lm) / (2 * h);
                double got = G[r * kp + c];
                if (fabs(got - fd) > 1e-4 * fmax(1.0, fabs(fd)))
                    fail_msg("%s k %d %s[%d][%d]: kernel %.8g, finite difference %.8g", ks->name, K,
                             which ? "V" : "U", r, c, got, fd);
            }
    }
    mfr_csc_free(&csc);
    mfr_csr_free(&csr);
    mfr_aligned_free(U);
    mfr_aligned_free(V);
    mfr_aligned_free(gU);
    mfr_aligned_free(gV);
}

static void check_set(const struct mfr_kernel_set *ks, int owner)
{
    static const int dims[] = {3, 13, 30};
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
        K = dims[d];
        check_set_k(ks, owner);
    }
}

static void test_gradient_owner_ref(void **state) { (void)state; check_set(&mfr_kernels_ref, 1); }
static void test_gradient_shard_ref(void **state) { (void)state; check_set(&mfr_kernels_ref, 0); }
static void test_gradient_owner_avx2(void **state)
{
    (void)state;
    if (!mfr_cpu_has_avx2()) skip();
    check_set(&mfr_kernels_avx2, 1);
}
static void test_gradient_shard_avx2(void **state)
{
    (void)state;
    if (!mfr_cpu_has_avx2()) skip();
    check_set(&mfr_kernels_avx2, 0);
}
static void test_gradient_owner_avx512(void **state)
{
    (void)state;
    if (!mfr_cpu_has_avx512f()) skip();
    check_set(&mfr_kernels_avx512, 1);
}
static void test_gradient_shard_avx512(void **state)
{
    (void)state;
    if (!mfr_cpu_has_avx512f()) skip();
    check_set(&mfr_kernels_avx512, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradient_owner_ref),
        cmocka_unit_test(test_gradient_shard_ref),
        cmocka_unit_test(test_gradient_owner_avx2),
        cmocka_unit_test(test_gradient_shard_avx2),
        cmocka_unit_test(test_gradient_owner_avx512),
        cmocka_unit_test(test_gradient_shard_avx512),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
