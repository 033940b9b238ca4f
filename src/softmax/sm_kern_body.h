/*
 * sm_kern_body.h — the bodies of the softmax kernels, in the accumulation
 * order sm_kern_priv.h documents. Included by the two kernel sets:
 * sm_kern_ref.c (portable: fmaf is a libm call without FMA hardware) and
 * sm_kern_avx2.c (compiled with -mavx2 -mfma: fmaf is one instruction and
 * the loops without a reduction vectorize; with -fno-trapping-math, which
 * changes no value, the selects of sm_expf do too; the lane max of the
 * log-sum-exp is written with _mm256_max_ps, whose lanes compute exactly
 * the scalar code's a > b ? a : b). fmaf is correctly rounded
 * either way and the compiler may not reassociate (no -ffast-math), so both
 * sets give the same bits (tests/test_softmax_grad.c compares them).
 */
#ifndef MFR_SM_KERN_BODY_H
#define MFR_SM_KERN_BODY_H

#include <math.h>
#include <string.h>
#ifdef __AVX2__
#include <immintrin.h>
#endif

#include "sm_kern_priv.h"

#ifdef __AVX2__
static inline __m256i sm_mask(int32_t r)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(r), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#endif

static inline void sm_pool_body(float *restrict out, const float *restrict table, int32_t dim,
                     const int32_t *restrict idx, int32_t n)
{
    memset(out, 0, sizeof(float) * (size_t)dim);
    if (n == 0) return;
#ifdef __AVX2__ /* the same sums, 16 columns at a time in registers */
    for (int32_t c = 0; c < dim; c += 16) {
        const int32_t r = dim - c < 16 ? dim - c : 16;
        const __m256i m0 = sm_mask(r), m1 = sm_mask(r - 8);
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        for (int32_t j = 0; j < n; j++) {
            const float *row = table + (size_t)idx[j] * (size_t)dim + c;
            a0 = _mm256_add_ps(a0, _mm256_maskload_ps(row, m0));
            a1 = _mm256_add_ps(a1, _mm256_maskload_ps(row + 8, m1));
        }
        _mm256_maskstore_ps(out + c, m0, a0);
        _mm256_maskstore_ps(out + c + 8, m1, a1);
    }
#else
    for (int32_t j = 0; j < n; j++) {
        const float *row = table + (size_t)idx[j] * (size_t)dim;
        for (int32_t c = 0; c < dim; c++) out[c] += row[c];
    }
#endif
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
    /* eight outputs at a time: eight independent chains over i */
    int32_t o = 0;
    for (; o + 8 <= n_out; o += 8) {
        float acc[8];
        for (int q = 0; q < 8; q++) acc[q] = b[o + q];
        for (int32_t i = 0; i < n_in; i++)
            for (int q = 0; q < 8; q++)
                acc[q] = fmaf(W[(size_t)(o + q) * (size_t)n_in + i], x[i], acc[q]);
        for (int q = 0; q < 8; q++) y[o + q] = acc[q];
    }
    for (; o < n_out; o++) {
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
        float *gw = gW ? gW + (size_t)o * (size_t)n_in : NULL;
        const float *w = W + (size_t)o * (size_t)n_in;
        if (gW) {
            gb[o] += g;
            for (int32_t i = 0; i < n_in; i++) gw[i] = fmaf(g, x[i], gw[i]);
        }
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

/* e^x for x <= 0, in float (Cephes' expf: x = n ln2 + r, e^r by a
 * degree-6 polynomial, 2^n put into the exponent bits), about 1 ulp; 0
 * below -87 (where 2^n would leave the normal range); NaN stays NaN.
 * Straight-line fmaf with no branch or call, so the AVX2 build vectorizes
 * the loop around it and both sets give the same bits. */
static inline float sm_expf(float x)
{
    const float xc = x > -87.0f ? x : -87.0f;
    const float n = fmaf(xc, 1.44269504088896341f, 12582912.0f) - 12582912.0f; /* rint */
    float r = fmaf(n, -0.693359375f, x);
    r = fmaf(n, 2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = fmaf(p, r, 1.3981999507e-3f);
    p = fmaf(p, r, 8.3334519073e-3f);
    p = fmaf(p, r, 4.1665795894e-2f);
    p = fmaf(p, r, 1.6666665459e-1f);
    p = fmaf(p, r, 5.0000001201e-1f);
    p = fmaf(p, r * r, r) + 1.0f;
    const int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return x < -87.0f ? 0.0f : p * scale;
}

static inline double sm_xent_body(float *restrict s, int32_t M, int32_t y, float weight)
{
    /* the max and Z in eight lanes (i mod 8), then a fixed tree: the max
     * is exact in any order; Z's lanes cut its dependency chain */
    float mq[8];
    for (int q = 0; q < 8; q++) mq[q] = s[0];
    int32_t M8 = M / 8 * 8;
#ifdef __AVX2__ /* maxps(a, b) is a > b ? a : b, lane by lane: the loop below */
    __m256 mv = _mm256_loadu_ps(mq);
    for (int32_t i = 0; i < M8; i += 8) mv = _mm256_max_ps(_mm256_loadu_ps(s + i), mv);
    _mm256_storeu_ps(mq, mv);
#else
    for (int32_t i = 0; i < M8; i += 8)
        for (int q = 0; q < 8; q++) mq[q] = s[i + q] > mq[q] ? s[i + q] : mq[q];
#endif
    float m = mq[0];
    for (int q = 1; q < 8; q++) m = mq[q] > m ? mq[q] : m;
    for (int32_t i = M8; i < M; i++) m = s[i] > m ? s[i] : m;
    const double sy = (double)s[y] - (double)m;
    for (int32_t i = 0; i < M; i++) s[i] = sm_expf(s[i] - m);
    const float ey = s[y];
    double zq[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int32_t i = 0; i < M8; i += 8)
        for (int q = 0; q < 8; q++) zq[q] += (double)s[i + q];
    double Z = ((zq[0] + zq[1]) + (zq[2] + zq[3])) + ((zq[4] + zq[5]) + (zq[6] + zq[7]));
    for (int32_t i = M8; i < M; i++) Z += (double)s[i];
    const double c = (double)weight / Z;
    for (int32_t i = 0; i < M; i++) s[i] = (float)((double)s[i] * c);
    s[y] = (float)((double)ey * c - (double)weight); /* p_y - 1 without float cancellation */
    return log(Z) - sy;
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

#ifdef __AVX2__
/* The AVX2 forms of the three batch kernels: the same fmaf chains as the
 * portable forms below, lane by lane (_mm256_fmadd_ps(a, b, c) is
 * fmaf(a, b, c) in each lane), with the accumulators held in registers
 * (four examples or four rows by 16 floats; du4 four examples by 24
 * columns where 24 remain), which GCC's vectorizer does
 * not manage from the portable loops. A partial block of r < 8 floats is
 * read and written with masks, so nothing past an array is touched. */
/* out[b][0..r) = sum over p < n_p of A[b][p] * B[p][0..r), for the four
 * rows b (r <= 16 columns, masked below 16; rows lda / ldb / ldo floats
 * apart): the 4 x 16 register block both logits_t4 (p over k) and du4's
 * last columns (p over the movies) are made of, with p in order. */
static inline void sm_gemm4x16(float *restrict out, int64_t ldo, const float *restrict A,
                               int64_t lda, const float *restrict B, int64_t ldb, int32_t n_p,
                               int32_t r)
{
    const __m256i m0 = sm_mask(r), m1 = sm_mask(r - 8);
    __m256 a[4][2];
    for (int b = 0; b < 4; b++) a[b][0] = a[b][1] = _mm256_setzero_ps();
    for (int32_t p = 0; p < n_p; p++) {
        const float *v = B + (size_t)p * (size_t)ldb;
        const __m256 v0 = r == 16 ? _mm256_loadu_ps(v) : _mm256_maskload_ps(v, m0);
        const __m256 v1 = r == 16 ? _mm256_loadu_ps(v + 8) : _mm256_maskload_ps(v + 8, m1);
        for (int b = 0; b < 4; b++) {
            const __m256 g = _mm256_broadcast_ss(A + (size_t)b * (size_t)lda + (size_t)p);
            a[b][0] = _mm256_fmadd_ps(g, v0, a[b][0]);
            a[b][1] = _mm256_fmadd_ps(g, v1, a[b][1]);
        }
    }
    for (int b = 0; b < 4; b++) {
        float *o = out + (size_t)b * (size_t)ldo;
        _mm256_maskstore_ps(o, m0, a[b][0]);
        _mm256_maskstore_ps(o + 8, m1, a[b][1]);
    }
}

static inline void sm_logits_t4_body(float *restrict s, int64_t lds, const float *restrict U,
                                     int64_t ldu, const float *restrict Vt, int64_t ldt,
                                     int32_t M, int32_t k)
{
    for (int32_t i = 0; i < M; i += 16)
        sm_gemm4x16(s + i, lds, U, ldu, Vt + i, ldt, k, M - i < 16 ? M - i : 16);
}

/* du4 over the 24 columns [c, c + 24) (c + 24 <= k): twelve chains in
 * registers, so that the FMA latency (4 cycles, 2 a cycle) is covered
 * with room for the loads; the accumulators are named variables (GCC
 * kept an array of twelve on the stack, storing it at each row). */
static inline void sm_du4_cols24(float *restrict du, int64_t lddu, const float *restrict ds,
                                 int64_t lds, const float *restrict V, int32_t M, int32_t c,
                                 int32_t k)
{
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00;
    __m256 a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
    for (int32_t i = 0; i < M; i++) {
        const float *v = V + (size_t)i * (size_t)k + c, *d = ds + (size_t)i;
        const __m256 v0 = _mm256_loadu_ps(v), v1 = _mm256_loadu_ps(v + 8);
        const __m256 v2 = _mm256_loadu_ps(v + 16);
        __m256 g = _mm256_broadcast_ss(d);
        a00 = _mm256_fmadd_ps(g, v0, a00), a01 = _mm256_fmadd_ps(g, v1, a01);
        a02 = _mm256_fmadd_ps(g, v2, a02);
        g = _mm256_broadcast_ss(d + lds);
        a10 = _mm256_fmadd_ps(g, v0, a10), a11 = _mm256_fmadd_ps(g, v1, a11);
        a12 = _mm256_fmadd_ps(g, v2, a12);
        g = _mm256_broadcast_ss(d + 2 * lds);
        a20 = _mm256_fmadd_ps(g, v0, a20), a21 = _mm256_fmadd_ps(g, v1, a21);
        a22 = _mm256_fmadd_ps(g, v2, a22);
        g = _mm256_broadcast_ss(d + 3 * lds);
        a30 = _mm256_fmadd_ps(g, v0, a30), a31 = _mm256_fmadd_ps(g, v1, a31);
        a32 = _mm256_fmadd_ps(g, v2, a32);
    }
    float *o = du + (size_t)c;
    _mm256_storeu_ps(o, a00), _mm256_storeu_ps(o + 8, a01), _mm256_storeu_ps(o + 16, a02);
    o += lddu;
    _mm256_storeu_ps(o, a10), _mm256_storeu_ps(o + 8, a11), _mm256_storeu_ps(o + 16, a12);
    o += lddu;
    _mm256_storeu_ps(o, a20), _mm256_storeu_ps(o + 8, a21), _mm256_storeu_ps(o + 16, a22);
    o += lddu;
    _mm256_storeu_ps(o, a30), _mm256_storeu_ps(o + 8, a31), _mm256_storeu_ps(o + 16, a32);
}

static inline void sm_logits_du4_body(float *restrict du, int64_t lddu, const float *restrict ds,
                                      int64_t lds, const float *restrict V, int32_t M, int32_t k)
{
    /* groups of 24 columns while 24 remain, then of at most 16 (k = 35:
     * 24 + 11, two passes over V instead of three) */
    int32_t c = 0;
    for (; c + 24 <= k; c += 24) sm_du4_cols24(du, lddu, ds, lds, V, M, c, k);
    for (; c < k; c += 16) sm_gemm4x16(du + c, lddu, ds, lds, V + c, k, M, k - c < 16 ? k - c : 16);
}

/* NR (4 or 1) rows from i, columns [c, c + min(16, k - c)). */
static inline void sm_outer_block(float *restrict gV, const float *restrict ds, int64_t lds,
                                  const float *restrict U, int64_t ldu, int32_t nb, int32_t i,
                                  int32_t c, int32_t k, int add, int NR)
{
    const int32_t r = k - c < 16 ? k - c : 16;
    const __m256i m0 = sm_mask(r), m1 = sm_mask(r - 8);
    __m256 a[4][2];
    for (int x = 0; x < NR; x++) {
        const float *g = gV + (size_t)(i + x) * (size_t)k + c;
        a[x][0] = add ? _mm256_maskload_ps(g, m0) : _mm256_setzero_ps();
        a[x][1] = add ? _mm256_maskload_ps(g + 8, m1) : _mm256_setzero_ps();
    }
    const float *u = U + c, *dsi = ds + i; /* pointer steps: no counter on the stack */
    for (int32_t b = 0; b < nb; b++, u += ldu, dsi += lds) {
        const __m256 u0 = r == 16 ? _mm256_loadu_ps(u) : _mm256_maskload_ps(u, m0);
        const __m256 u1 = r == 16 ? _mm256_loadu_ps(u + 8) : _mm256_maskload_ps(u + 8, m1);
        for (int x = 0; x < NR; x++) {
            const __m256 d = _mm256_broadcast_ss(dsi + x);
            a[x][0] = _mm256_fmadd_ps(d, u0, a[x][0]);
            a[x][1] = _mm256_fmadd_ps(d, u1, a[x][1]);
        }
    }
    for (int x = 0; x < NR; x++) {
        float *g = gV + (size_t)(i + x) * (size_t)k + c;
        _mm256_maskstore_ps(g, m0, a[x][0]);
        _mm256_maskstore_ps(g + 8, m1, a[x][1]);
    }
}

/* NR (8 or 1) rows from i, the last columns [c, k), k - c <= 8. */
static inline void sm_outer_tail(float *restrict gV, const float *restrict ds, int64_t lds,
                                 const float *restrict U, int64_t ldu, int32_t nb, int32_t i,
                                 int32_t c, int32_t k, int add, int NR)
{
    const __m256i m0 = sm_mask(k - c);
    __m256 a[8];
    for (int x = 0; x < NR; x++)
        a[x] = add ? _mm256_maskload_ps(gV + (size_t)(i + x) * (size_t)k + c, m0)
                   : _mm256_setzero_ps();
    for (int32_t b = 0; b < nb; b++) {
        const __m256 u0 = _mm256_maskload_ps(U + (size_t)b * (size_t)ldu + c, m0);
        for (int x = 0; x < NR; x++)
            a[x] = _mm256_fmadd_ps(
                _mm256_broadcast_ss(ds + (size_t)b * (size_t)lds + (size_t)(i + x)), u0, a[x]);
    }
    for (int x = 0; x < NR; x++) _mm256_maskstore_ps(gV + (size_t)(i + x) * (size_t)k + c, m0, a[x]);
}

/* Four rows from i, the 24 columns [c, c + 24) (c + 24 <= k): twelve
 * chains in named registers (as sm_du4_cols24) and one pointer step per
 * example, so that no loop counter lives on the stack. */
static inline void sm_outer_block24(float *restrict gV, const float *restrict ds, int64_t lds,
                                    const float *restrict U, int64_t ldu, int32_t nb, int32_t i,
                                    int32_t c, int32_t k, int add)
{
    float *g0 = gV + (size_t)i * (size_t)k + c, *g1 = g0 + k, *g2 = g1 + k, *g3 = g2 + k;
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00;
    __m256 a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
    if (add) {
        a00 = _mm256_loadu_ps(g0), a01 = _mm256_loadu_ps(g0 + 8), a02 = _mm256_loadu_ps(g0 + 16);
        a10 = _mm256_loadu_ps(g1), a11 = _mm256_loadu_ps(g1 + 8), a12 = _mm256_loadu_ps(g1 + 16);
        a20 = _mm256_loadu_ps(g2), a21 = _mm256_loadu_ps(g2 + 8), a22 = _mm256_loadu_ps(g2 + 16);
        a30 = _mm256_loadu_ps(g3), a31 = _mm256_loadu_ps(g3 + 8), a32 = _mm256_loadu_ps(g3 + 16);
    }
    const float *u = U + c, *d = ds + i;
    for (int32_t b = 0; b < nb; b++, u += ldu, d += lds) {
        const __m256 u0 = _mm256_loadu_ps(u), u1 = _mm256_loadu_ps(u + 8);
        const __m256 u2 = _mm256_loadu_ps(u + 16);
        __m256 e = _mm256_broadcast_ss(d);
        a00 = _mm256_fmadd_ps(e, u0, a00), a01 = _mm256_fmadd_ps(e, u1, a01);
        a02 = _mm256_fmadd_ps(e, u2, a02);
        e = _mm256_broadcast_ss(d + 1);
        a10 = _mm256_fmadd_ps(e, u0, a10), a11 = _mm256_fmadd_ps(e, u1, a11);
        a12 = _mm256_fmadd_ps(e, u2, a12);
        e = _mm256_broadcast_ss(d + 2);
        a20 = _mm256_fmadd_ps(e, u0, a20), a21 = _mm256_fmadd_ps(e, u1, a21);
        a22 = _mm256_fmadd_ps(e, u2, a22);
        e = _mm256_broadcast_ss(d + 3);
        a30 = _mm256_fmadd_ps(e, u0, a30), a31 = _mm256_fmadd_ps(e, u1, a31);
        a32 = _mm256_fmadd_ps(e, u2, a32);
    }
    _mm256_storeu_ps(g0, a00), _mm256_storeu_ps(g0 + 8, a01), _mm256_storeu_ps(g0 + 16, a02);
    _mm256_storeu_ps(g1, a10), _mm256_storeu_ps(g1 + 8, a11), _mm256_storeu_ps(g1 + 16, a12);
    _mm256_storeu_ps(g2, a20), _mm256_storeu_ps(g2 + 8, a21), _mm256_storeu_ps(g2 + 16, a22);
    _mm256_storeu_ps(g3, a30), _mm256_storeu_ps(g3 + 8, a31), _mm256_storeu_ps(g3 + 16, a32);
}

/* Rows [i0, i1), the columns [cs, k): blocks of 16 columns four rows at
 * a time, a last block of at most 8 columns eight rows at a time (eight
 * chains either way). */
static inline void sm_outer_cols(float *restrict gV, const float *restrict ds, int64_t lds,
                                 const float *restrict U, int64_t ldu, int32_t nb, int32_t i0,
                                 int32_t i1, int32_t cs, int32_t k, int add)
{
    const int32_t w = k - cs, c16 = cs + w - w % 16 + (w % 16 > 8 ? 16 : 0);
    int32_t i = i0;
    for (; i + 4 <= i1; i += 4)
        for (int32_t c = cs; c < c16; c += 16) sm_outer_block(gV, ds, lds, U, ldu, nb, i, c, k, add, 4);
    for (; i < i1; i++)
        for (int32_t c = cs; c < c16; c += 16) sm_outer_block(gV, ds, lds, U, ldu, nb, i, c, k, add, 1);
    if (c16 < k) {
        i = i0;
        for (; i + 8 <= i1; i += 8) sm_outer_tail(gV, ds, lds, U, ldu, nb, i, c16, k, add, 8);
        for (; i < i1; i++) sm_outer_tail(gV, ds, lds, U, ldu, nb, i, c16, k, add, 1);
    }
}

static inline void sm_outer_rows_body(float *restrict gV, const float *restrict ds, int64_t lds,
                                      const float *restrict U, int64_t ldu, int32_t nb,
                                      int32_t i0, int32_t i1, int32_t k, int add)
{
    /* four rows at a time: blocks of 24 columns while 24 remain, then
     * sm_outer_cols for the rest (k = 35: 24 + 11); the last i1 - i0 mod
     * 4 rows all through sm_outer_cols */
    const int32_t c24 = k / 24 * 24, n4 = i0 + (i1 - i0) / 4 * 4;
    for (int32_t i = i0; i < n4; i += 4)
        for (int32_t c = 0; c < c24; c += 24) sm_outer_block24(gV, ds, lds, U, ldu, nb, i, c, k, add);
    sm_outer_cols(gV, ds, lds, U, ldu, nb, i0, n4, c24, k, add);
    sm_outer_cols(gV, ds, lds, U, ldu, nb, n4, i1, 0, k, add);
}
#else
/* The portable forms: the specification of the chains, plainly. */
static inline void sm_logits_t4_body(float *restrict s, int64_t lds, const float *restrict U,
                                     int64_t ldu, const float *restrict Vt, int64_t ldt,
                                     int32_t M, int32_t k)
{
    for (int b = 0; b < 4; b++) {
        const float *u = U + (size_t)b * (size_t)ldu;
        for (int32_t i = 0; i < M; i++) {
            float acc = 0.0f;
            for (int32_t c = 0; c < k; c++) acc = fmaf(u[c], Vt[(size_t)c * (size_t)ldt + (size_t)i], acc);
            s[(size_t)b * (size_t)lds + (size_t)i] = acc;
        }
    }
}

static inline void sm_logits_du4_body(float *restrict du, int64_t lddu, const float *restrict ds,
                                      int64_t lds, const float *restrict V, int32_t M, int32_t k)
{
    for (int b = 0; b < 4; b++) {
        float *d = du + (size_t)b * (size_t)lddu;
        const float *g = ds + (size_t)b * (size_t)lds;
        memset(d, 0, sizeof(float) * (size_t)k);
        for (int32_t i = 0; i < M; i++)
            for (int32_t c = 0; c < k; c++) d[c] = fmaf(g[i], V[(size_t)i * (size_t)k + c], d[c]);
    }
}

static inline void sm_outer_rows_body(float *restrict gV, const float *restrict ds, int64_t lds,
                                      const float *restrict U, int64_t ldu, int32_t nb,
                                      int32_t i0, int32_t i1, int32_t k, int add)
{
    for (int32_t i = i0; i < i1; i++) {
        float *g = gV + (size_t)i * (size_t)k;
        if (!add) memset(g, 0, sizeof(float) * (size_t)k);
        for (int32_t b = 0; b < nb; b++) {
            const float d = ds[(size_t)b * (size_t)lds + (size_t)i];
            const float *u = U + (size_t)b * (size_t)ldu;
            for (int32_t c = 0; c < k; c++) g[c] = fmaf(d, u[c], g[c]);
        }
    }
}
#endif

static inline void sm_transpose_body(float *restrict Vt, int64_t ldt, const float *restrict V,
                                     int32_t i0, int32_t i1, int32_t k)
{
    int32_t i = i0;
#ifdef __AVX2__ /* 8 x 8 tiles through registers */
    for (; i + 8 <= i1; i += 8) {
        int32_t c = 0;
        for (; c + 8 <= k; c += 8) {
            __m256 r[8], t[8];
            for (int x = 0; x < 8; x++) r[x] = _mm256_loadu_ps(V + (size_t)(i + x) * (size_t)k + c);
            for (int x = 0; x < 8; x += 2) {
                t[x] = _mm256_unpacklo_ps(r[x], r[x + 1]);
                t[x + 1] = _mm256_unpackhi_ps(r[x], r[x + 1]);
            }
            for (int x = 0; x < 8; x += 4) {
                r[x] = _mm256_shuffle_ps(t[x], t[x + 2], 0x44);
                r[x + 1] = _mm256_shuffle_ps(t[x], t[x + 2], 0xEE);
                r[x + 2] = _mm256_shuffle_ps(t[x + 1], t[x + 3], 0x44);
                r[x + 3] = _mm256_shuffle_ps(t[x + 1], t[x + 3], 0xEE);
            }
            for (int x = 0; x < 4; x++) {
                t[x] = _mm256_permute2f128_ps(r[x], r[x + 4], 0x20);
                t[x + 4] = _mm256_permute2f128_ps(r[x], r[x + 4], 0x31);
            }
            for (int x = 0; x < 8; x++) /* t[x] is column c + x of the tile */
                _mm256_storeu_ps(Vt + (size_t)(c + x) * (size_t)ldt + (size_t)i, t[x]);
        }
        for (; c < k; c++)
            for (int x = 0; x < 8; x++)
                Vt[(size_t)c * (size_t)ldt + (size_t)(i + x)] = V[(size_t)(i + x) * (size_t)k + c];
    }
#endif
    for (int32_t c = 0; c < k; c++)
        for (int32_t x = i; x < i1; x++) Vt[(size_t)c * (size_t)ldt + (size_t)x] = V[(size_t)x * (size_t)k + c];
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

#ifdef __AVX512F__
/* The AVX-512 forms of the three batch kernels (sm_kern_avx512.c): the
 * same fmaf chains lane by lane (_mm512_fmadd_ps is fmaf in each lane),
 * four examples or four rows by 48 floats (twelve accumulators in
 * registers: FMA latency 4 at 2 a cycle), partial vectors read and
 * written with masks (masked-out lanes neither fault nor store). At k 35
 * du4 and outer_rows take the 35 columns in one pass (AVX2: 24 + 11). */
static inline __mmask16 sm_kmask(int32_t r)
{
    return r >= 16 ? (__mmask16)0xFFFF : r <= 0 ? (__mmask16)0 : (__mmask16)((1u << r) - 1u);
}

/* Stores four rows of 48 accumulated floats (row r at p + r ld), each
 * row's three vectors under the masks m0, m1, m2. */
static inline void sm512_store_4x48(float *restrict p, int64_t ld, __mmask16 m0, __mmask16 m1, __mmask16 m2,
                                    __m512 a00, __m512 a01, __m512 a02, __m512 a10, __m512 a11, __m512 a12,
                                    __m512 a20, __m512 a21, __m512 a22, __m512 a30, __m512 a31, __m512 a32)
{
    _mm512_mask_storeu_ps(p, m0, a00);
    _mm512_mask_storeu_ps(p + 16, m1, a01);
    _mm512_mask_storeu_ps(p + 32, m2, a02);
    _mm512_mask_storeu_ps(p + ld, m0, a10);
    _mm512_mask_storeu_ps(p + ld + 16, m1, a11);
    _mm512_mask_storeu_ps(p + ld + 32, m2, a12);
    _mm512_mask_storeu_ps(p + 2 * ld, m0, a20);
    _mm512_mask_storeu_ps(p + 2 * ld + 16, m1, a21);
    _mm512_mask_storeu_ps(p + 2 * ld + 32, m2, a22);
    _mm512_mask_storeu_ps(p + 3 * ld, m0, a30);
    _mm512_mask_storeu_ps(p + 3 * ld + 16, m1, a31);
    _mm512_mask_storeu_ps(p + 3 * ld + 32, m2, a32);
}

static inline void sm512_logits_t4_body(float *restrict s, int64_t lds, const float *restrict U,
                                        int64_t ldu, const float *restrict Vt, int64_t ldt,
                                        int32_t M, int32_t k)
{
    for (int32_t i = 0; i < M; i += 48) {
        const __mmask16 m0 = sm_kmask(M - i), m1 = sm_kmask(M - i - 16), m2 = sm_kmask(M - i - 32);
        __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00;
        __m512 a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
        const float *v = Vt + i;
        for (int32_t c = 0; c < k; c++, v += ldt) {
            const __m512 v0 = _mm512_maskz_loadu_ps(m0, v), v1 = _mm512_maskz_loadu_ps(m1, v + 16);
            const __m512 v2 = _mm512_maskz_loadu_ps(m2, v + 32);
            __m512 g = _mm512_set1_ps(U[c]);
            a00 = _mm512_fmadd_ps(g, v0, a00), a01 = _mm512_fmadd_ps(g, v1, a01);
            a02 = _mm512_fmadd_ps(g, v2, a02);
            g = _mm512_set1_ps(U[ldu + c]);
            a10 = _mm512_fmadd_ps(g, v0, a10), a11 = _mm512_fmadd_ps(g, v1, a11);
            a12 = _mm512_fmadd_ps(g, v2, a12);
            g = _mm512_set1_ps(U[2 * ldu + c]);
            a20 = _mm512_fmadd_ps(g, v0, a20), a21 = _mm512_fmadd_ps(g, v1, a21);
            a22 = _mm512_fmadd_ps(g, v2, a22);
            g = _mm512_set1_ps(U[3 * ldu + c]);
            a30 = _mm512_fmadd_ps(g, v0, a30), a31 = _mm512_fmadd_ps(g, v1, a31);
            a32 = _mm512_fmadd_ps(g, v2, a32);
        }
        sm512_store_4x48(s + i, lds, m0, m1, m2, a00, a01, a02, a10, a11, a12, a20, a21, a22, a30, a31, a32);
    }
}

/* A column block of 32 + r columns, r in 1..4 (k 35: the whole row): the
 * r last columns of the four examples packed into one vector (lane 4b + q
 * is example b's column c + 32 + q), so that an item costs 9 FMAs instead
 * of 12 (the block of 48 would spend 16 lanes on 3 columns). The lane's
 * chain is the same: d_b[i] * V[i][c + 32 + q] added for i ascending. */
static inline __mmask16 sm_tailmask(int32_t r) /* lanes 4b + q, q < r */
{
    return (__mmask16)(0x1111u * ((1u << r) - 1u));
}

static inline void sm512_du4_32t(float *restrict du, int64_t lddu, const float *restrict ds,
                                 int64_t lds, const float *restrict V, int32_t M, int32_t c,
                                 int32_t r, int32_t k)
{
    const __mmask16 mr = sm_kmask(r);
    __m512 a00 = _mm512_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00;
    __m512 a30 = a00, a31 = a00, at = a00;
    const float *v = V + c, *d = ds;
    for (int32_t i = 0; i < M; i++, v += k, d++) {
        const __m512 v0 = _mm512_loadu_ps(v), v1 = _mm512_loadu_ps(v + 16);
        const __m512 vt = _mm512_maskz_loadu_ps(mr, v + 32);
        const __m512 g0 = _mm512_set1_ps(d[0]), g1 = _mm512_set1_ps(d[lds]);
        const __m512 g2 = _mm512_set1_ps(d[2 * lds]), g3 = _mm512_set1_ps(d[3 * lds]);
        a00 = _mm512_fmadd_ps(g0, v0, a00), a01 = _mm512_fmadd_ps(g0, v1, a01);
        a10 = _mm512_fmadd_ps(g1, v0, a10), a11 = _mm512_fmadd_ps(g1, v1, a11);
        a20 = _mm512_fmadd_ps(g2, v0, a20), a21 = _mm512_fmadd_ps(g2, v1, a21);
        a30 = _mm512_fmadd_ps(g3, v0, a30), a31 = _mm512_fmadd_ps(g3, v1, a31);
        __m512 gp = _mm512_mask_blend_ps(0x00F0, g0, g1); /* d0 x4, d1 x4, d2 x4, d3 x4 */
        gp = _mm512_mask_blend_ps(0x0F00, gp, g2);
        gp = _mm512_mask_blend_ps(0xF000, gp, g3);
        at = _mm512_fmadd_ps(gp, _mm512_shuffle_f32x4(vt, vt, 0), at);
    }
    float *o = du + c;
    _mm512_storeu_ps(o, a00), _mm512_storeu_ps(o + 16, a01);
    o += lddu;
    _mm512_storeu_ps(o, a10), _mm512_storeu_ps(o + 16, a11);
    o += lddu;
    _mm512_storeu_ps(o, a20), _mm512_storeu_ps(o + 16, a21);
    o += lddu;
    _mm512_storeu_ps(o, a30), _mm512_storeu_ps(o + 16, a31);
    const __mmask16 mt = sm_tailmask(r);
    for (int b = 0; b < 4; b++) /* lanes 4b.. to du[b][c + 32..) */
        _mm512_mask_storeu_ps(du + (size_t)b * (size_t)lddu + c + 32 - 4 * b,
                              (__mmask16)(mt & (0xFu << (4 * b))), at);
}

static inline void sm512_logits_du4_body(float *restrict du, int64_t lddu, const float *restrict ds,
                                         int64_t lds, const float *restrict V, int32_t M,
                                         int32_t k)
{
    for (int32_t c = 0; c < k; c += 48) {
        if (k - c > 32 && k - c <= 36) {
            sm512_du4_32t(du, lddu, ds, lds, V, M, c, k - c - 32, k);
            break;
        }
        const __mmask16 m0 = sm_kmask(k - c), m1 = sm_kmask(k - c - 16), m2 = sm_kmask(k - c - 32);
        __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00;
        __m512 a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
        const float *v = V + c, *d = ds;
        for (int32_t i = 0; i < M; i++, v += k, d++) {
            const __m512 v0 = _mm512_maskz_loadu_ps(m0, v), v1 = _mm512_maskz_loadu_ps(m1, v + 16);
            const __m512 v2 = _mm512_maskz_loadu_ps(m2, v + 32);
            __m512 g = _mm512_set1_ps(d[0]);
            a00 = _mm512_fmadd_ps(g, v0, a00), a01 = _mm512_fmadd_ps(g, v1, a01);
            a02 = _mm512_fmadd_ps(g, v2, a02);
            g = _mm512_set1_ps(d[lds]);
            a10 = _mm512_fmadd_ps(g, v0, a10), a11 = _mm512_fmadd_ps(g, v1, a11);
            a12 = _mm512_fmadd_ps(g, v2, a12);
            g = _mm512_set1_ps(d[2 * lds]);
            a20 = _mm512_fmadd_ps(g, v0, a20), a21 = _mm512_fmadd_ps(g, v1, a21);
            a22 = _mm512_fmadd_ps(g, v2, a22);
            g = _mm512_set1_ps(d[3 * lds]);
            a30 = _mm512_fmadd_ps(g, v0, a30), a31 = _mm512_fmadd_ps(g, v1, a31);
            a32 = _mm512_fmadd_ps(g, v2, a32);
        }
        sm512_store_4x48(du + c, lddu, m0, m1, m2, a00, a01, a02, a10, a11, a12, a20, a21, a22, a30, a31, a32);
    }
}

/* Four rows i.. of gV, columns [c, c + 48) masked to k. */
static inline void sm512_outer4(float *restrict gV, const float *restrict ds, int64_t lds,
                                const float *restrict U, int64_t ldu, int32_t nb, int32_t i,
                                int32_t c, int32_t k, int add)
{
    const __mmask16 m0 = sm_kmask(k - c), m1 = sm_kmask(k - c - 16), m2 = sm_kmask(k - c - 32);
    float *g0 = gV + (size_t)i * (size_t)k + c, *g1 = g0 + k, *g2 = g1 + k, *g3 = g2 + k;
    __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00;
    __m512 a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
    if (add) {
        a00 = _mm512_maskz_loadu_ps(m0, g0), a01 = _mm512_maskz_loadu_ps(m1, g0 + 16);
        a02 = _mm512_maskz_loadu_ps(m2, g0 + 32);
        a10 = _mm512_maskz_loadu_ps(m0, g1), a11 = _mm512_maskz_loadu_ps(m1, g1 + 16);
        a12 = _mm512_maskz_loadu_ps(m2, g1 + 32);
        a20 = _mm512_maskz_loadu_ps(m0, g2), a21 = _mm512_maskz_loadu_ps(m1, g2 + 16);
        a22 = _mm512_maskz_loadu_ps(m2, g2 + 32);
        a30 = _mm512_maskz_loadu_ps(m0, g3), a31 = _mm512_maskz_loadu_ps(m1, g3 + 16);
        a32 = _mm512_maskz_loadu_ps(m2, g3 + 32);
    }
    const float *u = U + c, *d = ds + i;
    for (int32_t b = 0; b < nb; b++, u += ldu, d += lds) {
        const __m512 v0 = _mm512_maskz_loadu_ps(m0, u), v1 = _mm512_maskz_loadu_ps(m1, u + 16);
        const __m512 v2 = _mm512_maskz_loadu_ps(m2, u + 32);
        __m512 e = _mm512_set1_ps(d[0]);
        a00 = _mm512_fmadd_ps(e, v0, a00), a01 = _mm512_fmadd_ps(e, v1, a01);
        a02 = _mm512_fmadd_ps(e, v2, a02);
        e = _mm512_set1_ps(d[1]);
        a10 = _mm512_fmadd_ps(e, v0, a10), a11 = _mm512_fmadd_ps(e, v1, a11);
        a12 = _mm512_fmadd_ps(e, v2, a12);
        e = _mm512_set1_ps(d[2]);
        a20 = _mm512_fmadd_ps(e, v0, a20), a21 = _mm512_fmadd_ps(e, v1, a21);
        a22 = _mm512_fmadd_ps(e, v2, a22);
        e = _mm512_set1_ps(d[3]);
        a30 = _mm512_fmadd_ps(e, v0, a30), a31 = _mm512_fmadd_ps(e, v1, a31);
        a32 = _mm512_fmadd_ps(e, v2, a32);
    }
    _mm512_mask_storeu_ps(g0, m0, a00);
    _mm512_mask_storeu_ps(g0 + 16, m1, a01);
    _mm512_mask_storeu_ps(g0 + 32, m2, a02);
    _mm512_mask_storeu_ps(g1, m0, a10);
    _mm512_mask_storeu_ps(g1 + 16, m1, a11);
    _mm512_mask_storeu_ps(g1 + 32, m2, a12);
    _mm512_mask_storeu_ps(g2, m0, a20);
    _mm512_mask_storeu_ps(g2 + 16, m1, a21);
    _mm512_mask_storeu_ps(g2 + 32, m2, a22);
    _mm512_mask_storeu_ps(g3, m0, a30);
    _mm512_mask_storeu_ps(g3 + 16, m1, a31);
    _mm512_mask_storeu_ps(g3 + 32, m2, a32);
}

/* One row i of gV, columns [c, c + 48) masked to k. */
static inline void sm512_outer1(float *restrict gV, const float *restrict ds, int64_t lds,
                                const float *restrict U, int64_t ldu, int32_t nb, int32_t i,
                                int32_t c, int32_t k, int add)
{
    const __mmask16 m0 = sm_kmask(k - c), m1 = sm_kmask(k - c - 16), m2 = sm_kmask(k - c - 32);
    float *g0 = gV + (size_t)i * (size_t)k + c;
    __m512 a00 = add ? _mm512_maskz_loadu_ps(m0, g0) : _mm512_setzero_ps();
    __m512 a01 = add ? _mm512_maskz_loadu_ps(m1, g0 + 16) : _mm512_setzero_ps();
    __m512 a02 = add ? _mm512_maskz_loadu_ps(m2, g0 + 32) : _mm512_setzero_ps();
    const float *u = U + c, *d = ds + i;
    for (int32_t b = 0; b < nb; b++, u += ldu, d += lds) {
        const __m512 v0 = _mm512_maskz_loadu_ps(m0, u), v1 = _mm512_maskz_loadu_ps(m1, u + 16);
        const __m512 v2 = _mm512_maskz_loadu_ps(m2, u + 32);
        const __m512 e = _mm512_set1_ps(d[0]);
        a00 = _mm512_fmadd_ps(e, v0, a00), a01 = _mm512_fmadd_ps(e, v1, a01);
        a02 = _mm512_fmadd_ps(e, v2, a02);
    }
    _mm512_mask_storeu_ps(g0, m0, a00);
    _mm512_mask_storeu_ps(g0 + 16, m1, a01);
    _mm512_mask_storeu_ps(g0 + 32, m2, a02);
}

/* Four rows i.. of gV, a column block of 32 + r columns (r in 1..4): the
 * r last columns of the four rows packed into one vector (lane 4x + q is
 * row i + x's column c + 32 + q), 9 FMAs an example instead of 12; each
 * lane the same chain over the examples b ascending. */
static inline void sm512_outer4_32t(float *restrict gV, const float *restrict ds, int64_t lds,
                                    const float *restrict U, int64_t ldu, int32_t nb, int32_t i,
                                    int32_t c, int32_t r, int32_t k, int add)
{
    const __mmask16 mr = sm_kmask(r), mt = sm_tailmask(r);
    float *g0 = gV + (size_t)i * (size_t)k + c, *g1 = g0 + k, *g2 = g1 + k, *g3 = g2 + k;
    /* lanes 4x.. at row i + x's column c + 32 */
    float *gt[4] = {g0 + 32, g1 + 32 - 4, g2 + 32 - 8, g3 + 32 - 12};
    __m512 a00 = _mm512_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00;
    __m512 a30 = a00, a31 = a00, at = a00;
    if (add) {
        a00 = _mm512_loadu_ps(g0), a01 = _mm512_loadu_ps(g0 + 16);
        a10 = _mm512_loadu_ps(g1), a11 = _mm512_loadu_ps(g1 + 16);
        a20 = _mm512_loadu_ps(g2), a21 = _mm512_loadu_ps(g2 + 16);
        a30 = _mm512_loadu_ps(g3), a31 = _mm512_loadu_ps(g3 + 16);
        for (int x = 0; x < 4; x++)
            at = _mm512_mask_loadu_ps(at, (__mmask16)(mt & (0xFu << (4 * x))), gt[x]);
    }
    const __m512i spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    const float *u = U + c, *d = ds + i;
    for (int32_t b = 0; b < nb; b++, u += ldu, d += lds) {
        const __m512 v0 = _mm512_loadu_ps(u), v1 = _mm512_loadu_ps(u + 16);
        const __m512 ut = _mm512_maskz_loadu_ps(mr, u + 32);
        const __m512 e0 = _mm512_set1_ps(d[0]), e1 = _mm512_set1_ps(d[1]);
        const __m512 e2 = _mm512_set1_ps(d[2]), e3 = _mm512_set1_ps(d[3]);
        a00 = _mm512_fmadd_ps(e0, v0, a00), a01 = _mm512_fmadd_ps(e0, v1, a01);
        a10 = _mm512_fmadd_ps(e1, v0, a10), a11 = _mm512_fmadd_ps(e1, v1, a11);
        a20 = _mm512_fmadd_ps(e2, v0, a20), a21 = _mm512_fmadd_ps(e2, v1, a21);
        a30 = _mm512_fmadd_ps(e3, v0, a30), a31 = _mm512_fmadd_ps(e3, v1, a31);
        const __m512 ep = _mm512_permutexvar_ps(spread, _mm512_maskz_loadu_ps(0x000F, d));
        at = _mm512_fmadd_ps(ep, _mm512_shuffle_f32x4(ut, ut, 0), at);
    }
    _mm512_storeu_ps(g0, a00), _mm512_storeu_ps(g0 + 16, a01);
    _mm512_storeu_ps(g1, a10), _mm512_storeu_ps(g1 + 16, a11);
    _mm512_storeu_ps(g2, a20), _mm512_storeu_ps(g2 + 16, a21);
    _mm512_storeu_ps(g3, a30), _mm512_storeu_ps(g3 + 16, a31);
    for (int x = 0; x < 4; x++)
        _mm512_mask_storeu_ps(gt[x], (__mmask16)(mt & (0xFu << (4 * x))), at);
}

static inline void sm512_outer_rows_body(float *restrict gV, const float *restrict ds, int64_t lds,
                                         const float *restrict U, int64_t ldu, int32_t nb,
                                         int32_t i0, int32_t i1, int32_t k, int add)
{
    int32_t i = i0;
    for (; i + 4 <= i1; i += 4)
        for (int32_t c = 0; c < k; c += 48) {
            if (k - c > 32 && k - c <= 36) {
                sm512_outer4_32t(gV, ds, lds, U, ldu, nb, i, c, k - c - 32, k, add);
                break;
            }
            sm512_outer4(gV, ds, lds, U, ldu, nb, i, c, k, add);
        }
    for (; i < i1; i++)
        for (int32_t c = 0; c < k; c += 48) sm512_outer1(gV, ds, lds, U, ldu, nb, i, c, k, add);
}

/* Adam (kern_priv.h's formulas, no FMA: the same operations as the AVX2
 * and reference sets' adam, 16 floats at a time, the last partial vector
 * masked; any n, unaligned). The square root and the division take the
 * same time for 16 floats as for 8 on the machines that have AVX-512F at
 * full width, and they bound the update. */
static inline void sm512_adam_body(float *restrict p, float *restrict m, float *restrict v,
                                   const float *restrict g, int64_t n,
                                   const struct mfr_adam_coef *c)
{
    const __m512 b1 = _mm512_set1_ps(c->beta1), w1 = _mm512_set1_ps(c->w1);
    const __m512 b2 = _mm512_set1_ps(c->beta2), w2 = _mm512_set1_ps(c->w2);
    const __m512 step = _mm512_set1_ps(c->step), inv_bc2 = _mm512_set1_ps(c->inv_bc2);
    const __m512 eps = _mm512_set1_ps(c->eps);
    for (int64_t x = 0; x < n; x += 16) {
        const __mmask16 k = sm_kmask((int32_t)(n - x < 16 ? n - x : 16));
        const __m512 gx = _mm512_maskz_loadu_ps(k, g + x);
        const __m512 mx = _mm512_add_ps(_mm512_mul_ps(b1, _mm512_maskz_loadu_ps(k, m + x)),
                                        _mm512_mul_ps(w1, gx));
        const __m512 vx = _mm512_add_ps(_mm512_mul_ps(b2, _mm512_maskz_loadu_ps(k, v + x)),
                                        _mm512_mul_ps(w2, _mm512_mul_ps(gx, gx)));
        const __m512 denom = _mm512_add_ps(_mm512_mul_ps(_mm512_sqrt_ps(vx), inv_bc2), eps);
        _mm512_mask_storeu_ps(m + x, k, mx);
        _mm512_mask_storeu_ps(v + x, k, vx);
        const __m512 px = _mm512_sub_ps(_mm512_maskz_loadu_ps(k, p + x),
                                        _mm512_mul_ps(step, _mm512_div_ps(mx, denom)));
        _mm512_mask_storeu_ps(p + x, k, px);
    }
}

/* sm_expf on 16 floats: the scalar function's operations lane by lane
 * (maxps(x, -87) is x > -87 ? x : -87, NaN included; the conversion
 * truncates an integral float, as the scalar cast does). */
static inline __m512 sm512_expf(__m512 x)
{
    const __m512 lo = _mm512_set1_ps(-87.0f), big = _mm512_set1_ps(12582912.0f);
    const __m512 xc = _mm512_max_ps(x, lo);
    const __m512 l2e = _mm512_set1_ps(1.44269504088896341f);
    const __m512 n = _mm512_sub_ps(_mm512_fmadd_ps(xc, l2e, big), big); /* rint */
    __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-0.693359375f), x);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    const __m512i bits = _mm512_slli_epi32(
        _mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127)), 23);
    const __m512 e = _mm512_mul_ps(p, _mm512_castsi512_ps(bits));
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ), e, _mm512_setzero_ps());
}

/* The cross-entropy of sm_xent_body in two passes instead of four: the
 * max (exact in any order: a tie of +0 and -0 changes no output, and a
 * NaN makes the loss NaN either way), then the exponentials and Z's eight
 * double lanes in one pass (lane q still adds items q, q + 8, ... in
 * order: a vector of 16 is two steps of the eight lanes), the same tree
 * and tail, then the scaling. */
static inline double sm512_xent_body(float *restrict s, int32_t M, int32_t y, float weight)
{
    const int32_t M8 = M / 8 * 8, M16 = M / 16 * 16;
    __m512 mv = _mm512_set1_ps(s[0]);
    for (int32_t i = 0; i < M16; i += 16) mv = _mm512_max_ps(_mm512_loadu_ps(s + i), mv);
    float m = _mm512_reduce_max_ps(mv);
    for (int32_t i = M16; i < M; i++) m = s[i] > m ? s[i] : m;
    const double sy = (double)s[y] - (double)m;
    const __m512 mm = _mm512_set1_ps(m);
    __m512d z = _mm512_setzero_pd();
    int32_t i = 0;
    for (; i < M16; i += 16) {
        const __m512 e = sm512_expf(_mm512_sub_ps(_mm512_loadu_ps(s + i), mm));
        _mm512_storeu_ps(s + i, e);
        const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1));
        z = _mm512_add_pd(z, _mm512_cvtps_pd(_mm512_castps512_ps256(e))); /* items i.. */
        z = _mm512_add_pd(z, _mm512_cvtps_pd(hi));                        /* items i + 8.. */
    }
    if (i < M) { /* the last M - M16 < 16 items, masked; their first 8 are lanes' last step */
        const __mmask16 k = sm_kmask(M - i);
        const __m512 e = sm512_expf(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + i), mm));
        _mm512_mask_storeu_ps(s + i, k, e);
        if (M8 > i) z = _mm512_add_pd(z, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
    }
    double zq[8];
    _mm512_storeu_pd(zq, z);
    double Z = ((zq[0] + zq[1]) + (zq[2] + zq[3])) + ((zq[4] + zq[5]) + (zq[6] + zq[7]));
    for (int32_t j = M8; j < M; j++) Z += (double)s[j];
    const float ey = s[y];
    const double c = (double)weight / Z;
    const __m512d cv = _mm512_set1_pd(c);
    for (i = 0; i + 8 <= M; i += 8) {
        const __m512d x = _mm512_cvtps_pd(_mm256_loadu_ps(s + i));
        _mm256_storeu_ps(s + i, _mm512_cvtpd_ps(_mm512_mul_pd(x, cv)));
    }
    for (; i < M; i++) s[i] = (float)((double)s[i] * c);
    s[y] = (float)((double)ey * c - (double)weight);
    return log(Z) - sy;
}
#endif

#endif
