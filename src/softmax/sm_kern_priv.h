/*
 * sm_kern_priv.h — the dense kernels of the softmax model: pure functions
 * on contiguous float arrays (no threads, no allocation, no state).
 *
 * Accumulation order (the contract an optimized set must reproduce bit for
 * bit; every multiply-add is an explicit fmaf, the build fuses nothing):
 *  - pool: out[c] = sum of the listed rows in list order (float), then
 *    out[c] *= 1/n (the float reciprocal); n = 0 gives zeros.
 *  - linear: y[o] = b[o], then y[o] = fmaf(W[o][i], x[i], y[o]) for i
 *    ascending.
 *  - logits: s[i] = fmaf over c ascending of u[c] V[i][c], from 0.
 *  - logits_t4: the same chains as logits, from the transposed table.
 *  - log-sum-exp: m = max s; e_i = sm_expf(s_i - m) in float (one exp per
 *    logit, sm_kern_body.h); Z = sum of (double)e_i in eight lanes
 *    (lane q: i = q mod 8 ascending, over the first floor(M/8)*8 items),
 *    combined ((z0+z1)+(z2+z3))+((z4+z5)+(z6+z7)), then the remaining
 *    items ascending; lse = m + log(Z); the gradient
 *    weight * (e_i * (weight / Z) / weight - onehot) is computed as
 *    (float)((double)e_i * c) with c = weight / Z in double, and for the
 *    label (float)((double)e_y * c - weight). A logit of minus infinity
 *    (a movie left out of the softmax) gets e_i = 0 exactly, so it adds
 *    nothing to Z and its gradient is 0; the label's must be finite.
 *  - every gradient add: g = fmaf(a, x, g), over the summed index
 *    ascending (items i for du, outputs o for dx, examples b for
 *    outer_rows).
 */
#ifndef MFR_SM_KERN_PRIV_H
#define MFR_SM_KERN_PRIV_H

#include <stdint.h>

#include "kern_priv.h"

/* out[0..dim) = mean of rows table[idx[j]] (row stride dim), j < n. */
void mfr_sm_pool_ref(float *restrict out, const float *restrict table, int32_t dim,
                     const int32_t *restrict idx, int32_t n);
/* gtable[idx[j]][c] += d[c] / n for j < n (the pool's gradient), in
 * order j. */
void mfr_sm_pool_back_ref(float *restrict gtable, int32_t dim, const int32_t *restrict idx,
                          int32_t n, const float *restrict d);
/* y = W x + b, W n_out x n_in row-major. */
void mfr_sm_linear_ref(float *restrict y, const float *restrict W, const float *restrict b,
                       const float *restrict x, int32_t n_out, int32_t n_in);
/* (gW not NULL) gW += dy x^T, gb += dy, and (dx not NULL) dx = W^T dy. */
void mfr_sm_linear_back_ref(float *restrict dx, float *restrict gW, float *restrict gb,
                            const float *restrict W, const float *restrict x,
                            const float *restrict dy, int32_t n_out, int32_t n_in);
/* h = max(z, 0). */
void mfr_sm_relu_ref(float *restrict h, const float *restrict z, int32_t n);
/* dz = z > 0 ? dh : 0. */
void mfr_sm_relu_back_ref(float *restrict dz, const float *restrict z, const float *restrict dh,
                          int32_t n);
/* s[i] = <u, V_i> for i < M (V is M x k). */
void mfr_sm_logits_ref(float *restrict s, const float *restrict u, const float *restrict V,
                       int32_t M, int32_t k);
/* The cross-entropy of label y under softmax(s): returns lse(s) - s[y]
 * (double); s is replaced by weight * (softmax(s) - onehot(y)), the
 * gradient of weight * loss with respect to the logits. */
double mfr_sm_xent_ref(float *restrict s, int32_t M, int32_t y, float weight);
/* Four examples' logits: row b < 4 of s (stride lds) gets <U_b, V_i>
 * for i < M, U's rows of stride ldu, from Vt, the table transposed (k rows
 * of stride ldt >= M: Vt[c][i] = V[i][c]); the
 * same bits as logits on each example. */
void mfr_sm_logits_t4_ref(float *restrict s, int64_t lds, const float *restrict U, int64_t ldu,
                          const float *restrict Vt, int64_t ldt, int32_t M, int32_t k);
/* Rows i0 <= i < i1 of V (M x k) into the columns of Vt (k rows of stride
 * ldt): Vt[c][i] = V[i][c]. */
void mfr_sm_transpose_ref(float *restrict Vt, int64_t ldt, const float *restrict V, int32_t i0,
                          int32_t i1, int32_t k);
/* Four examples' du: row b < 4 of du (stride lddu) = sum_i ds_b[i] V_i
 * (ds's rows of stride lds); the same bits as logits_back's du. */
void mfr_sm_logits_du4_ref(float *restrict du, int64_t lddu, const float *restrict ds, int64_t lds,
                           const float *restrict V, int32_t M, int32_t k);
/* For rows i0 <= i < i1 of gV (M x k): gV[i] = (add ? gV[i] : 0) +
 * sum over b < nb ascending of ds[b][i] U[b] (ds rows of stride lds, U
 * rows of stride ldu): the logits'
 * gradient of a whole batch, row by row, so that the rows can be split
 * among threads; the same bits as logits_back on each example in turn. */
void mfr_sm_outer_rows_ref(float *restrict gV, const float *restrict ds, int64_t lds,
                           const float *restrict U, int64_t ldu, int32_t nb, int32_t i0,
                           int32_t i1, int32_t k, int add);
/* gV[i] += ds[i] u and du = sum_i ds[i] V_i (du overwritten). */
void mfr_sm_logits_back_ref(float *restrict du, float *restrict gV, const float *restrict ds,
                            const float *restrict u, const float *restrict V, int32_t M,
                            int32_t k);
/* Adagrad (TF1's update, no epsilon): acc += g^2; p -= lr g / sqrt(acc). */
void mfr_sm_adagrad_ref(float *restrict p, float *restrict acc, const float *restrict g,
                        int64_t n, float lr);

/* A kernel set: the functions above, chosen once per trainer or model
 * use. Both sets give the same bits (sm_kern_body.h). */
struct mfr_sm_kern {
    const char *name;
    void (*pool)(float *restrict out, const float *restrict table, int32_t dim,
                 const int32_t *restrict idx, int32_t n);
    void (*pool_back)(float *restrict gtable, int32_t dim, const int32_t *restrict idx,
                      int32_t n, const float *restrict d);
    void (*linear)(float *restrict y, const float *restrict W, const float *restrict b,
                   const float *restrict x, int32_t n_out, int32_t n_in);
    void (*linear_back)(float *restrict dx, float *restrict gW, float *restrict gb,
                        const float *restrict W, const float *restrict x,
                        const float *restrict dy, int32_t n_out, int32_t n_in);
    void (*relu)(float *restrict h, const float *restrict z, int32_t n);
    void (*relu_back)(float *restrict dz, const float *restrict z, const float *restrict dh,
                      int32_t n);
    void (*logits)(float *restrict s, const float *restrict u, const float *restrict V,
                   int32_t M, int32_t k);
    double (*xent)(float *restrict s, int32_t M, int32_t y, float weight);
    void (*logits_back)(float *restrict du, float *restrict gV, const float *restrict ds,
                        const float *restrict u, const float *restrict V, int32_t M, int32_t k);
    void (*adagrad)(float *restrict p, float *restrict acc, const float *restrict g, int64_t n,
                    float lr);
    /* Adam, the same bits as the trainers' (struct mfr_kernel_set's adam);
     * NULL: use that one (the AVX-512 set alone has its own). */
    void (*adam)(float *restrict p, float *restrict m, float *restrict v, const float *restrict g,
                 int64_t n, const struct mfr_adam_coef *c);
    void (*logits_t4)(float *restrict s, int64_t lds, const float *restrict U, int64_t ldu,
                      const float *restrict Vt, int64_t ldt, int32_t M, int32_t k);
    void (*logits_du4)(float *restrict du, int64_t lddu, const float *restrict ds, int64_t lds,
                       const float *restrict V, int32_t M, int32_t k);
    void (*transpose)(float *restrict Vt, int64_t ldt, const float *restrict V, int32_t i0,
                      int32_t i1, int32_t k);
    void (*outer_rows)(float *restrict gV, const float *restrict ds, int64_t lds,
                       const float *restrict U, int64_t ldu, int32_t nb, int32_t i0, int32_t i1,
                       int32_t k, int add);
};

extern const struct mfr_sm_kern mfr_sm_kern_ref;
extern const struct mfr_sm_kern mfr_sm_kern_avx2;
/* The AVX2 set whose batch kernels use AVX-512F (the same bits). */
extern const struct mfr_sm_kern mfr_sm_kern_avx512;
/* The AVX-512 set when the CPU has AVX-512F, else the AVX2 set when it
 * has AVX2 and FMA, else the reference. */
const struct mfr_sm_kern *mfr_sm_kern_best(void);

#endif
