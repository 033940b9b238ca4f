/*
 * kern_gram.h — the ALS normal-equation kernel's body, included by
 * kern_ref.c and kern_avx2.c. It is plain C with a separate multiply and
 * add per term (the build has -ffp-contract=off): every element of A and
 * rhs goes through the same operations in the same order whatever the
 * vector width the compiler picks, so every kernel set gives the same bits.
 */
#ifndef MFR_KERN_GRAM_H
#define MFR_KERN_GRAM_H

#include <math.h>
#include <stddef.h>

#include "kern_priv.h"

/* Four rows x_q (kp floats each, q < 4, a zero row for a missing rating:
 * adding a zero product leaves a sum that is not -0 unchanged, and these
 * sums start at +0) with targets t_q, in q order:
 *   A[a][b] += x_q[a] * x_q[b]  for a < k1, b from a's lane block to kp
 *   rhs[b]  += t_q * x_q[b]     for b < kp */
static inline void mfr_gram4_body(float *restrict A, float *restrict rhs, const float *restrict x,
                                  const float *restrict t, int32_t k1, int32_t kp)
{
    const float *x0 = x, *x1 = x + kp, *x2 = x + 2 * (size_t)kp, *x3 = x + 3 * (size_t)kp;
    for (int32_t a = 0; a < k1; a++) {
        const float a0 = x0[a], a1 = x1[a], a2 = x2[a], a3 = x3[a];
        float *restrict row = A + (size_t)a * (size_t)kp;
        for (int32_t b = a & ~(MFR_LANES - 1); b < kp; b++) {
            float s = row[b];
            s = s + a0 * x0[b];
            s = s + a1 * x1[b];
            s = s + a2 * x2[b];
            s = s + a3 * x3[b];
            row[b] = s;
        }
    }
    for (int32_t b = 0; b < kp; b++) {
        float s = rhs[b];
        s = s + t[0] * x0[b];
        s = s + t[1] * x1[b];
        s = s + t[2] * x2[b];
        s = s + t[3] * x3[b];
        rhs[b] = s;
    }
}

/* Solves M y = y for M (n x n, symmetric positive definite, upper
 * triangle read, rows `ld` doubles apart) by an upper Cholesky factor R
 * (Rᵀ R = M, written over the upper triangle), right-looking so that every
 * inner loop is an elementwise update of a contiguous row (the same bits at
 * any vector width). Returns 0 when M is not positive definite. */
static inline int mfr_chol_body(double *restrict M, double *restrict y, int32_t n, int32_t ld)
{
    for (int32_t j = 0; j < n; j++) {
        double *restrict rj = M + (size_t)j * (size_t)ld;
        const double d = rj[j];
        if (!(d > 0.0)) return 0;
        const double l = sqrt(d);
        rj[j] = l;
        for (int32_t c = j + 1; c < n; c++) rj[c] = rj[c] / l;
        for (int32_t i = j + 1; i < n; i++) {
            double *restrict ri = M + (size_t)i * (size_t)ld;
            const double f = rj[i];
            for (int32_t c = i; c < n; c++) ri[c] = ri[c] - f * rj[c];
        }
    }
    for (int32_t p = 0; p < n; p++) { /* Rᵀ z = y */
        const double *restrict rp = M + (size_t)p * (size_t)ld;
        const double z = y[p] / rp[p];
        y[p] = z;
        for (int32_t i = p + 1; i < n; i++) y[i] = y[i] - rp[i] * z;
    }
    for (int32_t i = n - 1; i >= 0; i--) { /* R x = z */
        const double x = y[i] / M[(size_t)i * (size_t)ld + (size_t)i];
        y[i] = x;
        for (int32_t p = 0; p < i; p++) y[p] = y[p] - M[(size_t)p * (size_t)ld + (size_t)i] * x;
    }
    return 1;
}

/* <a, b> over kp floats (a multiple of MFR_LANES): eight lane sums, then
 * ((0+4)+(2+6))+((1+5)+(3+7)). Plain C in a fixed order: the same bits at
 * any vector width. */
static inline float mfr_dot8_body(const float *restrict a, const float *restrict b, int32_t kp)
{
    float acc[MFR_LANES] = {0};
    for (int32_t x = 0; x < kp; x += MFR_LANES)
        for (int l = 0; l < MFR_LANES; l++) acc[l] = acc[l] + a[x + l] * b[x + l];
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

/* Rows this many ratings ahead are prefetched: an item's raters are users
 * spread over all of U (a cache miss each without it). No effect on bits. */
#define MFR_CG_PREFETCH 8

static inline void mfr_cg_prefetch(const float *base, int32_t kp, const int32_t *idx, int64_t j,
                                   int64_t n)
{
    if (j + MFR_CG_PREFETCH >= n) return;
    const char *row = (const char *)(base + (size_t)idx[j + MFR_CG_PREFETCH] * (size_t)kp);
    for (size_t off = 0; off < (size_t)kp * sizeof(float); off += 64) __builtin_prefetch(row + off);
}

/* The conjugate-gradient ALS passes over one row's n ratings; the feature
 * rows are the other side's rows x_j = base + idx[j] * kp, read whole (the
 * caller masks the lanes that are not unknowns out of `out`).
 * resid: q_j = t_j - <x_j, w> with t_j = rating_j - x_j[bias_lane] (no
 * bias: bias_lane < 0), out += q_j x_j in j order; returns Σ q_j² in
 * double. rating_j = rating[pos ? pos[j] : j]. */
static inline double mfr_cg_resid_body(const float *restrict w, const float *restrict base,
                                       int32_t kp, const int32_t *restrict idx,
                                       const float *restrict rating, const int64_t *restrict pos,
                                       int64_t n, int32_t bias_lane, float *restrict out)
{
    double loss = 0.0;
    for (int64_t j = 0; j < n; j++) {
        mfr_cg_prefetch(base, kp, idx, j, n);
        const float *restrict x = base + (size_t)idx[j] * (size_t)kp;
        const float r = rating[pos ? pos[j] : j];
        const float q = (bias_lane >= 0 ? r - x[bias_lane] : r) - mfr_dot8_body(x, w, kp);
        loss += (double)q * (double)q;
        for (int32_t c = 0; c < kp; c++) out[c] = out[c] + q * x[c];
    }
    return loss;
}

/* out += Σ_j <x_j, p> x_j in j order. */
static inline void mfr_cg_apply_body(const float *restrict p, const float *restrict base, int32_t kp,
                                     const int32_t *restrict idx, int64_t n, float *restrict out)
{
    for (int64_t j = 0; j < n; j++) {
        mfr_cg_prefetch(base, kp, idx, j, n);
        const float *restrict x = base + (size_t)idx[j] * (size_t)kp;
        const float d = mfr_dot8_body(x, p, kp);
        for (int32_t c = 0; c < kp; c++) out[c] = out[c] + d * x[c];
    }
}

#endif
