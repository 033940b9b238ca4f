/*
 * test_adam.c — the Adam step against values computed independently:
 * three steps of torch.optim.Adam (lr 1e-3, default betas and eps) on a
 * 4-element float32 parameter, recorded as exact hex floats from PyTorch
 * 1.13 (Debian's python3-torch) with:
 *   p = Parameter([1, -2, 0.5, 0]); grads [.5,-1,3,0], [-1,-1,.25,2], [.1,4,-.5,1e-3]
 * plus the closed form of the first step (|Δp| = lr for every nonzero g).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kern_priv.h"

static const float torch_p[3][4] = {
    {0x1.ff7ceep-1f, -0x1.ffbe76p+0f, 0x1.fef9dcp-2f, 0.0f},
    {0x1.ffaceap-1f, -0x1.ff7cecp+0f, 0x1.fe3a9cp-2f, -0x1.86245ap-11f},
    {0x1.ffca66p-1f, -0x1.ff9386p+0f, 0x1.fdc43cp-2f, -0x1.59f1f8p-10f},
};
static const float grads[3][4] = {
    {0.5f, -1.0f, 3.0f, 0.0f}, {-1.0f, -1.0f, 0.25f, 2.0f}, {0.1f, 4.0f, -0.5f, 1e-3f}};

static void run_set(const struct mfr_kernel_set *ks)
{
    /* 8 lanes: the 4 values, then zero padding which must stay zero. */
    _Alignas(64) float p[8] = {1.0f, -2.0f, 0.5f, 0.0f};
    _Alignas(64) float m[8] = {0}, v[8] = {0}, g[8] = {0};
    for (int t = 0; t < 3; t++) {
        memcpy(g, grads[t], sizeof grads[t]);
        struct mfr_adam_coef c = mfr_adam_coef_make(1e-3, 0.9, 0.999, 1e-8, t + 1);
        ks->adam(p, m, v, g, 8, &c);
        for (int x = 0; x < 4; x++) {
            double rel = fabs((double)p[x] - torch_p[t][x]) / fmax(fabs((double)torch_p[t][x]), 1e-3);
            if (rel > 2e-7)
                fail_msg("%s step %d element %d: %.9g, torch %.9g", ks->name, t + 1, x,
                         (double)p[x], (double)torch_p[t][x]);
        }
        for (int x = 4; x < 8; x++) assert_true(p[x] == 0.0f && m[x] == 0.0f && v[x] == 0.0f);
    }
    /* Moments after three steps, from torch's optimizer state. */
    const float m_want[4] = {-0.039500001817941666f, 0.2290000170469284f, 0.21550001204013824f,
                             0.1800999939441681f};
    const float v_want[4] = {0.00125850026961416f, 0.017997002229094505f, 0.009294445626437664f,
                             0.003996001090854406f};
    for (int x = 0; x < 4; x++) {
        assert_true(fabs((double)m[x] - m_want[x]) <= 1e-7 * fabs((double)m_want[x]) + 1e-12);
        assert_true(fabs((double)v[x] - v_want[x]) <= 1e-6 * fabs((double)v_want[x]) + 1e-12);
    }
}

static void test_adam_ref_matches_torch(void **state)
{
    (void)state;
    run_set(&mfr_kernels_ref);
}

static void test_adam_avx2_matches_torch(void **state)
{
    (void)state;
    if (!mfr_cpu_has_avx2()) skip();
    run_set(&mfr_kernels_avx2);
}

static void test_first_step_closed_form(void **state)
{
    (void)state;
    /* Step 1: m = (1-b1) g, v = (1-b2) g^2, so m_hat / sqrt(v_hat) = sign(g). */
    struct mfr_adam_coef c = mfr_adam_coef_make(0.01, 0.9, 0.999, 1e-8, 1);
    assert_true(fabs(c.step - 0.1) < 1e-7);               /* lr / (1 - 0.9) */
    assert_true(fabs(c.inv_bc2 - 1 / sqrt(0.001)) < 1e-5);   /* 1 / sqrt(1 - 0.999) */
    _Alignas(64) float p[8] = {0}, m[8] = {0}, v[8] = {0}, g[8] = {2, -3, 1e-2f, 7, 0, 0, 0, 0};
    mfr_kernels_ref.adam(p, m, v, g, 8, &c);
    for (int x = 0; x < 4; x++) assert_true(fabs(fabs(p[x]) - 0.01) < 1e-6);
    assert_true(p[0] < 0 && p[1] > 0 && p[2] < 0 && p[3] < 0);
    /* Step 100 coefficients. */
    c = mfr_adam_coef_make(1e-3, 0.9, 0.999, 1e-8, 100);
    assert_true(fabs(c.step - 1e-3 / (1 - pow(0.9, 100))) < 1e-9);
    assert_true(fabs(c.inv_bc2 - 1 / sqrt(1 - pow(0.999, 100))) < 1e-5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adam_ref_matches_torch),
        cmocka_unit_test(test_adam_avx2_matches_torch),
        cmocka_unit_test(test_first_step_closed_form),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
