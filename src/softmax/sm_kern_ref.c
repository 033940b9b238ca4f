/*
 * sm_kern_ref.c — the portable reference kernels of the softmax model, in
 * the accumulation order sm_kern_priv.h documents.
 */
#include <math.h>
#include <string.h>

#include "sm_kern_priv.h"

void mfr_sm_pool_ref(float *restrict out, const float *restrict table, int32_t dim,
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

void mfr_sm_pool_back_ref(float *restrict gtable, int32_t dim, const int32_t *restrict idx,
                          int32_t n, const float *restrict d)
{
    if (n == 0) return;
    float inv = 1.0f / (float)n;
    for (int32_t j = 0; j < n; j++) {
        float *row = gtable + (size_t)idx[j] * (size_t)dim;
        for (int32_t c = 0; c < dim; c++) row[c] = fmaf(d[c], inv, row[c]);
    }
}

void mfr_sm_linear_ref(float *restrict y, const float *restrict W, const float *restrict b,
                       const float *restrict x, int32_t n_out, int32_t n_in)
{
    for (int32_t o = 0; o < n_out; o++) {
        const float *w = W + (size_t)o * (size_t)n_in;
        float acc = b[o];
        for (int32_t i = 0; i < n_in; i++) acc = fmaf(w[i], x[i], acc);
        y[o] = acc;
    }
}

void mfr_sm_linear_back_ref(float *restrict dx, float *restrict gW, float *restrict gb,
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

void mfr_sm_relu_ref(float *restrict h, const float *restrict z, int32_t n)
{
    for (int32_t i = 0; i < n; i++) h[i] = z[i] > 0.0f ? z[i] : 0.0f;
}

void mfr_sm_relu_back_ref(float *restrict dz, const float *restrict z, const float *restrict dh,
                          int32_t n)
{
    for (int32_t i = 0; i < n; i++) dz[i] = z[i] > 0.0f ? dh[i] : 0.0f;
}

void mfr_sm_logits_ref(float *restrict s, const float *restrict u, const float *restrict V,
                       int32_t M, int32_t k)
{
    for (int32_t i = 0; i < M; i++) {
        const float *v = V + (size_t)i * (size_t)k;
        float acc = 0.0f;
        for (int32_t c = 0; c < k; c++) acc = fmaf(u[c], v[c], acc);
        s[i] = acc;
    }
}

double mfr_sm_xent_ref(float *restrict s, int32_t M, int32_t y, float weight)
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

void mfr_sm_logits_back_ref(float *restrict du, float *restrict gV, const float *restrict ds,
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

void mfr_sm_adagrad_ref(float *restrict p, float *restrict acc, const float *restrict g,
                        int64_t n, float lr)
{
    for (int64_t x = 0; x < n; x++) {
        float a = acc[x] + g[x] * g[x];
        acc[x] = a;
        if (a > 0.0f) p[x] -= lr * (g[x] / sqrtf(a)); /* torch: p + (-lr) (g / std) */
    }
}
