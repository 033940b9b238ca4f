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
 *  - log-sum-exp: m = max s; Z = sum over i ascending of exp((double)s[i]
 *    - m) in double; lse = m + log(Z); p_i = exp(s_i - m) / Z in double.
 *  - every gradient add: g = fmaf(a, x, g), over the summed index
 *    ascending (items i for du, outputs o for dx).
 */
#ifndef MFR_SM_KERN_PRIV_H
#define MFR_SM_KERN_PRIV_H

#include <stdint.h>

#include "kern_priv.h"

/* out[0..dim) = mean of rows table[idx[j]] (row stride dim), j < n. */
void mfr_sm_pool_ref(float *restrict out, const float *restrict table, int32_t dim,
                     const int32_t *restrict idx, int32_t n);
/* gtable[idx[j]][c] += d[c] / n for j < n (the pool's gradient). */
void mfr_sm_pool_back_ref(float *restrict gtable, int32_t dim, const int32_t *restrict idx,
                          int32_t n, const float *restrict d);
/* y = W x + b, W n_out x n_in row-major. */
void mfr_sm_linear_ref(float *restrict y, const float *restrict W, const float *restrict b,
                       const float *restrict x, int32_t n_out, int32_t n_in);
/* gW += dy x^T, gb += dy, and (dx not NULL) dx = W^T dy. */
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
};

extern const struct mfr_sm_kern mfr_sm_kern_ref;
extern const struct mfr_sm_kern mfr_sm_kern_avx2;
/* The AVX2 set when the CPU has AVX2 and FMA, else the reference. */
const struct mfr_sm_kern *mfr_sm_kern_best(void);

#endif
