/*
 * sm_kern_body.h — the bodies of the softmax kernels, in the accumulation
 * order sm_kern_priv.h documents. Included by the two kernel sets:
 * sm_kern_ref.c (portable: fmaf is a libm call without FMA hardware) and
 * sm_kern_avx2.c (compiled with -mavx2 -mfma: fmaf is one instruction and
 * the loops without a reduction vectorize). fmaf is correctly rounded
 * either way and the compiler may not reassociate (no -ffast-math), so both
 * sets give the same bits (tests/test_softmax_grad.c compares them).
 */
#ifndef MFR_SM_KERN_BODY_H
#define MFR_SM_KERN_BODY_H

#include <math.h>
#include <string.h>

#include "sm_kern_priv.h"

static inline void sm_pool_body(float *restrict out, const float *restrict table, int32_t dim,
                     const int32_t *restrict idx, int32_t n)
{
    memset(out, 0, sizeof(float) * (size_t)dim);
    if (n == 0) return;
    for (int32_t j = 0; j < n; j++) {
        const float *row = table + (size_t)idx[j] * (size_t)dim;
        for (int32_t c = 0; c < dim; c++) out[c] += row[c];
    }
    float inv = 1.0f / (float)n;
    for (int32_t c = 0; c < dim; c++) out[c] *= inv;
}

static inline void sm_pool_back_body(float *restrict gtable, int32_t dim, const int32_t *restrict idx,
                          int32_t n, const float *restrict d)
{
    if (n == 0) return;
    float inv = 1.0f / (float)n;
    for (int32_t j = 0; j < n; j++) {
        float *row = gtable + (size_t)idx[j] * (size_t)dim;
        for (int32_t c = 0; c < dim; c++) row[c] = fmaf(d[c], inv, row[c]);
    }
}

static inline void sm_linear_body(float *restrict y, const float *restrict W, const float *restrict b,
                       const float *restrict x, int32_t n_out, int32_t n_in)
{
    for (int32_t o = 0; o < n_out; o++) {
        const float *w = W + (size_t)o * (size_t)n_in;
        float acc = b[o];
        for (int32_t i = 0; i < n_in; i++) acc = fmaf(w[i], x[i], acc);
        y[o] = acc;
    }
}

static inline void sm_linear_back_body(float *restrict dx, float *restrict gW, float *restrict gb,
                            const float *restrict W, const float *restrict x,
                            const float *restrict dy, int32_t n_out, int32_t n_in)
{
    if (dx) memset(dx, 0, sizeof(float) * (size_t)n_in);
    for (int32_t o = 0; o < n_out; o++) {
        float g = dy[o];
        float *gw = gW + (size_t)o * (size_t)n_in;
        const float *w = W + (size_t)o * (size_t)n_in;
        gb[o] += g;
        for (int32_t i = 0; i < n_in; i++) gw[i] = fmaf(g, x[i], gw[i]);
        if (dx)
            for (int32_t i = 0; i < n_in; i++) dx[i] = fmaf(w[i], g, dx[i]);
    }
}

static inline void sm_relu_body(float *restrict h, const float *restrict z, int32_t n)
{
    for (int32_t i = 0; i < n; i++) h[i] = z[i] > 0.0f ? z[i] : 0.0f;
}

static inline void sm_relu_back_body(float *restrict dz, const float *restrict z, const float *restrict dh,
                          int32_t n)
{
    for (int32_t i = 0; i < n; i++) dz[i] = z[i] > 0.0f ? dh[i] : 0.0f;
}

static inline void sm_logits_body(float *restrict s, const float *restrict u,
                                  const float *restrict V, int32_t M, int32_t k)
{
    /* Eight items at a time, each its own chain over c (the order of one
     * item's sum is unchanged; the chains only overlap in time). */
    int32_t i = 0;
    for (; i + 8 <= M; i += 8) {
        float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        const float *v = V + (size_t)i * (size_t)k;
        for (int32_t c = 0; c < k; c++)
            for (int q = 0; q < 8; q++) acc[q] = fmaf(u[c], v[(size_t)q * (size_t)k + c], acc[q]);
        for (int q = 0; q < 8; q++) s[i + q] = acc[q];
    }
    for (; i < M; i++) {
        const float *v = V + (size_t)i * (size_t)k;
        float acc = 0.0f;
        for (int32_t c = 0; c < k; c++) acc = fmaf(u[c], v[c], acc);
        s[i] = acc;
    }
}

static inline double sm_xent_body(float *restrict s, int32_t M, int32_t y, float weight)
{
    float m = s[0];
    for (int32_t i = 1; i < M; i++)
        if (s[i] > m) m = s[i];
    double Z = 0.0;
    for (int32_t i = 0; i < M; i++) Z += exp((double)s[i] - (double)m);
    double loss = (double)m + log(Z) - (double)s[y];
    for (int32_t i = 0; i < M; i++) {
        double p = exp((double)s[i] - (double)m) / Z;
        s[i] = (float)((double)weight * (p - (i == y ? 1.0 : 0.0)));
    }
    return loss;
}

static inline void sm_logits_back_body(float *restrict du, float *restrict gV, const float *restrict ds,
                            const float *restrict u, const float *restrict V, int32_t M,
                            int32_t k)
{
    memset(du, 0, sizeof(float) * (size_t)k);
    for (int32_t i = 0; i < M; i++) {
        float g = ds[i];
        const float *v = V + (size_t)i * (size_t)k;
        float *gv = gV + (size_t)i * (size_t)k;
        for (int32_t c = 0; c < k; c++) {
            gv[c] = fmaf(g, u[c], gv[c]);
            du[c] = fmaf(g, v[c], du[c]);
        }
    }
}

static inline void sm_adagrad_body(float *restrict p, float *restrict acc, const float *restrict g,
                        int64_t n, float lr)
{
    for (int64_t x = 0; x < n; x++) {
        float a = acc[x] + g[x] * g[x];
        acc[x] = a;
        if (a > 0.0f) p[x] -= lr * (g[x] / sqrtf(a)); /* torch: p + (-lr) (g / std) */
    }
}

#endif
