/*
 * kern_avx512.c — the user and item passes of kern_pass_body.h compiled
 * with AVX-512F as well (gradient rows in 512-bit halves, the same bits),
 * for the "avx512" kernel set of kern_avx2.c; called only after
 * mfr_cpu_has_avx512f().
 */
#include "kern_pass_body.h"

double mfr_avx512_user_grad(const float *restrict u_row, const float *restrict V, int32_t k_pad,
                            const int32_t *restrict items, const float *restrict ratings, int64_t n,
                            float scale, float *restrict gu, float *restrict gV, float *restrict resid,
                            int far)
{
    return pass_user_grad(u_row, V, k_pad, items, ratings, n, scale, gu, gV, resid, far);
}

void mfr_avx512_item_grad(float *restrict gv, const float *restrict U, int32_t k_pad,
                          const int32_t *restrict users, const int64_t *restrict pos,
                          const float *restrict resid, int64_t n)
{
    pass_item_grad(gv, U, k_pad, users, pos, resid, n);
}
