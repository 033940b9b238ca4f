/*
 * kern_avx2.c — the AVX2 + FMA kernels (compiled with -mavx2 -mfma, called
 * only after mfr_cpu_has_avx2()). Same accumulation order as kern_ref.c, so
 * results are bit-identical to the reference.
 *
 * user_grad computes the dot products of four ratings at once: each dot is
 * a chain of dependent FMAs, and four independent chains hide the FMA
 * latency. The gradient updates are then applied one rating at a time, in
 * order, exactly as the reference does. Short rows stay in registers.
 */
#include <immintrin.h>
#include <string.h>

#include "kern_priv.h"

static inline float hsum(__m256 acc)
{
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_shuffle_ps(x, x, 1));
    return _mm_cvtss_f32(x);
}

static float avx2_dot(const float *a, const float *b, int32_t k_pad)
{
    __m256 acc = _mm256_setzero_ps();
    for (int32_t c = 0; c < k_pad; c += MFR_LANES)
        acc = _mm256_fmadd_ps(_mm256_load_ps(a + c), _mm256_load_ps(b + c), acc);
    return hsum(acc);
}

static inline void avx2_axpy(float *restrict y, float a, const float *restrict x, int32_t k_pad)
{
    __m256 va = _mm256_set1_ps(a);
    for (int32_t c = 0; c < k_pad; c += MFR_LANES)
        _mm256_store_ps(y + c,
                        _mm256_fmadd_ps(va, _mm256_load_ps(x + c), _mm256_load_ps(y + c)));
}

/* Rows of up to MAX_RC vectors (k_pad <= 32, which covers the reference
 * experiment's k = 30) are kept in registers: the user row, its gradient
 * and, in the item pass, the item gradient. With RC a compile-time constant
 * the loops below unroll fully. */
#define MAX_RC 4

static inline __attribute__((always_inline)) double
user_grad_rc(const int RC, const float *restrict u_row, const float *restrict V, int32_t k_pad,
             const int32_t *restrict items, const float *restrict ratings, int64_t n,
             float scale, float *restrict gu, float *restrict gV, float *restrict resid)
{
    __m256 u[MAX_RC], g[MAX_RC];
    for (int c = 0; c < RC; c++) {
        u[c] = _mm256_load_ps(u_row + 8 * c);
        g[c] = _mm256_load_ps(gu + 8 * c);
    }
    double loss = 0.0;
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
        const float *vs[4];
        __m256 acc[4];
        for (int q = 0; q < 4; q++) {
            vs[q] = V + (size_t)items[j + q] * (size_t)k_pad;
            acc[q] = _mm256_setzero_ps();
        }
        for (int c = 0; c < RC; c++)
            for (int q = 0; q < 4; q++)
                acc[q] = _mm256_fmadd_ps(u[c], _mm256_load_ps(vs[q] + 8 * c), acc[q]);
        for (int q = 0; q < 4; q++) {
            float e = hsum(acc[q]) - ratings[j + q];
            loss += (double)e * (double)e;
            float gs = scale * e;
            __m256 vg = _mm256_set1_ps(gs);
            for (int c = 0; c < RC; c++)
                g[c] = _mm256_fmadd_ps(vg, _mm256_load_ps(vs[q] + 8 * c), g[c]);
            if (gV) avx2_axpy(gV + (size_t)items[j + q] * (size_t)k_pad, gs, u_row, k_pad);
            if (resid) resid[j + q] = gs;
        }
    }
    for (; j < n; j++) {
        const float *v_row = V + (size_t)items[j] * (size_t)k_pad;
        __m256 acc = _mm256_setzero_ps();
        for (int c = 0; c < RC; c++) acc = _mm256_fmadd_ps(u[c], _mm256_load_ps(v_row + 8 * c), acc);
        float e = hsum(acc) - ratings[j];
        loss += (double)e * (double)e;
        float gs = scale * e;
        __m256 vg = _mm256_set1_ps(gs);
        for (int c = 0; c < RC; c++) g[c] = _mm256_fmadd_ps(vg, _mm256_load_ps(v_row + 8 * c), g[c]);
        if (gV) avx2_axpy(gV + (size_t)items[j] * (size_t)k_pad, gs, u_row, k_pad);
        if (resid) resid[j] = gs;
    }
    for (int c = 0; c < RC; c++) _mm256_store_ps(gu + 8 * c, g[c]);
    return loss;
}

/* Any k_pad: the same order with rows in memory. */
static double user_grad_any(const float *restrict u_row, const float *restrict V, int32_t k_pad,
                            const int32_t *restrict items, const float *restrict ratings,
                            int64_t n, float scale, float *restrict gu, float *restrict gV,
                            float *restrict resid)
{
    double loss = 0.0;
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
        const float *v0 = V + (size_t)items[j] * (size_t)k_pad;
        const float *v1 = V + (size_t)items[j + 1] * (size_t)k_pad;
        const float *v2 = V + (size_t)items[j + 2] * (size_t)k_pad;
        const float *v3 = V + (size_t)items[j + 3] * (size_t)k_pad;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        for (int32_t c = 0; c < k_pad; c += MFR_LANES) {
            __m256 u = _mm256_load_ps(u_row + c);
            a0 = _mm256_fmadd_ps(u, _mm256_load_ps(v0 + c), a0);
            a1 = _mm256_fmadd_ps(u, _mm256_load_ps(v1 + c), a1);
            a2 = _mm256_fmadd_ps(u, _mm256_load_ps(v2 + c), a2);
            a3 = _mm256_fmadd_ps(u, _mm256_load_ps(v3 + c), a3);
        }
        const float *vs[4] = {v0, v1, v2, v3};
        float e[4] = {hsum(a0) - ratings[j], hsum(a1) - ratings[j + 1],
                      hsum(a2) - ratings[j + 2], hsum(a3) - ratings[j + 3]};
        for (int q = 0; q < 4; q++) {
            loss += (double)e[q] * (double)e[q];
            float g = scale * e[q];
            avx2_axpy(gu, g, vs[q], k_pad);
            if (gV) avx2_axpy(gV + (size_t)items[j + q] * (size_t)k_pad, g, u_row, k_pad);
            if (resid) resid[j + q] = g;
        }
    }
    for (; j < n; j++) {
        const float *v_row = V + (size_t)items[j] * (size_t)k_pad;
        float e = avx2_dot(u_row, v_row, k_pad) - ratings[j];
        loss += (double)e * (double)e;
        float g = scale * e;
        avx2_axpy(gu, g, v_row, k_pad);
        if (gV) avx2_axpy(gV + (size_t)items[j] * (size_t)k_pad, g, u_row, k_pad);
        if (resid) resid[j] = g;
    }
    return loss;
}

static double avx2_user_grad(const float *restrict u_row, const float *restrict V,
                             int32_t k_pad, const int32_t *restrict items,
                             const float *restrict ratings, int64_t n, float scale,
                             float *restrict gu, float *restrict gV, float *restrict resid)
{
    switch (k_pad / MFR_LANES) {
    case 1: return user_grad_rc(1, u_row, V, k_pad, items, ratings, n, scale, gu, gV, resid);
    case 2: return user_grad_rc(2, u_row, V, k_pad, items, ratings, n, scale, gu, gV, resid);
    case 3: return user_grad_rc(3, u_row, V, k_pad, items, ratings, n, scale, gu, gV, resid);
    case 4: return user_grad_rc(4, u_row, V, k_pad, items, ratings, n, scale, gu, gV, resid);
    default: return user_grad_any(u_row, V, k_pad, items, ratings, n, scale, gu, gV, resid);
    }
}

static inline __attribute__((always_inline)) void
item_grad_rc(const int RC, float *restrict gv, const float *restrict U, int32_t k_pad,
             const int32_t *restrict users, const int64_t *restrict pos,
             const float *restrict resid, int64_t n)
{
    __m256 acc[MAX_RC];
    for (int c = 0; c < RC; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t j = 0; j < n; j++) {
        __m256 r = _mm256_set1_ps(resid[pos[j]]);
        const float *u_row = U + (size_t)users[j] * (size_t)k_pad;
        for (int c = 0; c < RC; c++) acc[c] = _mm256_fmadd_ps(r, _mm256_load_ps(u_row + 8 * c), acc[c]);
    }
    for (int c = 0; c < RC; c++) _mm256_store_ps(gv + 8 * c, acc[c]);
}

static void avx2_item_grad(float *restrict gv, const float *restrict U, int32_t k_pad,
                           const int32_t *restrict users, const int64_t *restrict pos,
                           const float *restrict resid, int64_t n)
{
    switch (k_pad / MFR_LANES) {
    case 1: item_grad_rc(1, gv, U, k_pad, users, pos, resid, n); return;
    case 2: item_grad_rc(2, gv, U, k_pad, users, pos, resid, n); return;
    case 3: item_grad_rc(3, gv, U, k_pad, users, pos, resid, n); return;
    case 4: item_grad_rc(4, gv, U, k_pad, users, pos, resid, n); return;
    default: break;
    }
    memset(gv, 0, sizeof(float) * (size_t)k_pad);
    for (int64_t j = 0; j < n; j++)
        avx2_axpy(gv, resid[pos[j]], U + (size_t)users[j] * (size_t)k_pad, k_pad);
}

static void avx2_sum_buffers(float *restrict out, const float *restrict base, int64_t stride,
                             int32_t n_bufs, int64_t n)
{
    for (int64_t x = 0; x < n; x += MFR_LANES) {
        __m256 s = _mm256_load_ps(base + x);
        for (int32_t b = 1; b < n_bufs; b++)
            s = _mm256_add_ps(s, _mm256_load_ps(base + (size_t)b * (size_t)stride + (size_t)x));
        _mm256_store_ps(out + x, s);
    }
}

static void avx2_adam(float *restrict p, float *restrict m, float *restrict v,
                      const float *restrict g, int64_t n, const struct mfr_adam_coef *c)
{
    const __m256 b1 = _mm256_set1_ps(c->beta1), w1 = _mm256_set1_ps(c->w1);
    const __m256 b2 = _mm256_set1_ps(c->beta2);
    const __m256 w2 = _mm256_set1_ps(c->w2), step = _mm256_set1_ps(c->step);
    const __m256 bc2 = _mm256_set1_ps(c->bc2_sqrt), eps = _mm256_set1_ps(c->eps);
    for (int64_t x = 0; x < n; x += MFR_LANES) {
        __m256 gx = _mm256_load_ps(g + x);
        __m256 mx = _mm256_load_ps(m + x);
        __m256 vx = _mm256_load_ps(v + x);
        mx = _mm256_add_ps(_mm256_mul_ps(b1, mx), _mm256_mul_ps(w1, gx));
        vx = _mm256_add_ps(_mm256_mul_ps(b2, vx), _mm256_mul_ps(w2, _mm256_mul_ps(gx, gx)));
        __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vx), bc2), eps);
        _mm256_store_ps(m + x, mx);
        _mm256_store_ps(v + x, vx);
        __m256 px = _mm256_load_ps(p + x);
        _mm256_store_ps(p + x, _mm256_sub_ps(px, _mm256_mul_ps(step, _mm256_div_ps(mx, denom))));
    }
}

const struct mfr_kernel_set mfr_kernels_avx2 = {
    .name = "avx2",
    .dot = avx2_dot,
    .user_grad = avx2_user_grad,
    .item_grad = avx2_item_grad,
    .sum_buffers = avx2_sum_buffers,
    .adam = avx2_adam,
};
