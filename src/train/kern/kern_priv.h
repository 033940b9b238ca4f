/*
 * kern_priv.h — the compute kernels: pure functions on contiguous float
 * rows, with no threads, no allocation and no hidden state.
 *
 * Names: k_pad = row stride in floats (a multiple of MFR_LANES = 8), rows
 * are 64-byte aligned and their padding lanes are zero. U is n_users x
 * k_pad, V is n_items x k_pad.
 *
 * Accumulation order (identical in every kernel set, so the portable
 * reference and the AVX2 set give bit-identical results):
 *  - dot: 8 lane partials, acc[l] = fma(a[8c+l], b[8c+l], acc[l]) for chunk
 *    c = 0, 1, ...; then combined pairwise: (l, l+4), then (l, l+2), then
 *    (0, 1).
 *  - gradient rows (a user's gradient over its ratings, an item's over its
 *    users): ratings are taken in groups of four in the given order, then
 *    a tail of up to three one at a time. A group (weights g0..g3, rows
 *    r0..r3) adds a pairwise tree, so the running row sees one dependent
 *    add per four ratings instead of four dependent FMAs:
 *      row[x] = row[x] + (fma(g1, r1[x], g0 * r0[x]) + fma(g3, r3[x], g2 * r2[x]))
 *    a tail rating: row[x] = fma(g, r[x], row[x]).
 *  - per-rating item rows in shard mode: gV[i][x] = fma(g, u[x], gV[i][x]),
 *    rating by rating in order.
 *  - the loss of a user: (double)e * (double)e, rating 4m + q of the groups
 *    into lane q (in order), the tail into a fifth sum; the result is
 *    ((lane0 + lane1) + (lane2 + lane3)) + tail.
 *  - Adam: no FMA; the formulas of struct mfr_adam_coef below, elementwise.
 * The reference uses fmaf() where the AVX2 set uses vfmadd, and the build
 * passes -ffp-contract=off so the compiler fuses nothing on its own.
 */
#ifndef MFR_KERN_PRIV_H
#define MFR_KERN_PRIV_H

#include <stdint.h>

#include "common_priv.h"

/* Per-step Adam coefficients, computed once per step in double from the
 * double hyper-parameters, like PyTorch's Adam (single-tensor path), and
 * rounded to float:
 *   m = beta1 * m + w1 * g            (w1 = 1 - beta1)
 *   v = beta2 * v + w2 * (g * g)      (w2 = 1 - beta2)
 *   p = p - step * (m / (sqrt(v) * inv_bc2 + eps))
 * with step = lr / (1 - beta1^t), inv_bc2 = 1 / sqrt(1 - beta2^t).
 * PyTorch divides sqrt(v) by sqrt(1 - beta2^t); multiplying by the
 * reciprocal (computed in double) differs by at most one rounding and saves
 * a division per element, which is 4% of an ML-100K epoch (perf). */
struct mfr_adam_coef {
    float beta1, w1, beta2, w2, step, inv_bc2, eps;
};

/* Coefficients for step t (1-based). */
struct mfr_adam_coef mfr_adam_coef_make(double lr, double beta1, double beta2, double eps,
                                        int64_t t);

/* The optimizer kernels' non-finite outputs: bit a for output array a
 * (the parameters, then the state arrays in order). */
#define MFR_NONFINITE_BIT(a) (1u << (a))

/* Whether a user pass over n_items rows of k_pad floats (twice that with a
 * shard buffer) should fetch its rows ahead: above 1 MiB, this project's
 * machine's L2. Below it, as on ML-100K at k 64 (0.8 MiB), the fetches
 * cost the epoch 7-11%; above it, as at 10M ratings and k 64, they saved
 * a quarter. */
static inline int mfr_rows_far(int32_t n_items, int32_t k_pad, int with_buffer)
{
    const size_t rows = (size_t)n_items * (size_t)k_pad * sizeof(float);
    return (with_buffer ? 2 * rows : rows) > ((size_t)1 << 20);
}

struct mfr_kernel_set {
    const char *name;

    /* <a, b> over k_pad floats, in the documented lane order. */
    float (*dot)(const float *a, const float *b, int32_t k_pad);

    /* One user's ratings, in the given order. For each j < n:
     *   e = dot(u_row, V[items[j]]) - ratings[j];  loss += e*e (double)
     *   g = scale * e;  gu += g * V[items[j]]
     *   gV (may be NULL): gV[items[j]] += g * u_row   (shard buffers)
     *   resid (may be NULL): resid[j] = g             (item owners)
     * gu must hold k_pad floats (the caller zeroes it). Returns the loss.
     * far (mfr_rows_far): V's rows, and gV's, are too many to stay near the
     * core, so the kernel fetches them ahead; only a hint, the results
     * are the same. (AVX2's rows of up to 32 floats are fetched ahead
     * either way: measured no slower in cache.) */
    double (*user_grad)(const float *restrict u_row, const float *restrict V, int32_t k_pad,
                        const int32_t *restrict items, const float *restrict ratings,
                        int64_t n, float scale, float *restrict gu, float *restrict gV,
                        float *restrict resid, int far);

    /* One item's gradient from its ratings in CSC (user) order:
     *   gv = sum_j resid[pos[j]] * U[users[j]], gv zeroed by the kernel. */
    void (*item_grad)(float *restrict gv, const float *restrict U, int32_t k_pad,
                      const int32_t *restrict users, const int64_t *restrict pos,
                      const float *restrict resid, int64_t n);

    /* out[x] = bufs[0][x] + bufs[1][x] + ... in buffer order, x < n
     * (bufs[s] = base + s * stride). */
    void (*sum_buffers)(float *restrict out, const float *restrict base, int64_t stride,
                        int32_t n_bufs, int64_t n);

    /* Adam update of n floats (n a multiple of MFR_LANES). Returns which
     * outputs hold an inf or NaN: MFR_NONFINITE_BIT(0) p, (1) m, (2) v, so
     * that the step need not read every array again to check them. */
    unsigned (*adam)(float *restrict p, float *restrict m, float *restrict v,
                     const float *restrict g, int64_t n, const struct mfr_adam_coef *c);

    /* Plain gradient descent on n floats: p = p - lr * g (no FMA);
     * MFR_NONFINITE_BIT(0) when the new p holds an inf or NaN. */
    unsigned (*sgd)(float *restrict p, const float *restrict g, int64_t n, float lr);

    /* ALS normal equations (kern_gram.h): four rows x (4 x kp floats) and
     * their targets t added to the upper lane blocks of A (k1 rows of kp
     * floats) and to rhs (kp floats). */
    void (*gram4)(float *restrict A, float *restrict rhs, const float *restrict x,
                  const float *restrict t, int32_t k1, int32_t kp);

    /* Solves M y = y by Cholesky in double (kern_gram.h; M n x n, rows ld
     * doubles apart, upper triangle read and overwritten); 0 when M is not
     * positive definite. */
    int (*chol_solve)(double *restrict M, double *restrict y, int32_t n, int32_t ld);

    /* Conjugate-gradient ALS (kern_gram.h): an 8-lane dot, the residual
     * pass and the matrix-vector pass over one row's ratings. */
    float (*dot8)(const float *restrict a, const float *restrict b, int32_t kp);
    double (*cg_resid)(const float *restrict w, const float *restrict base, int32_t kp,
                       const int32_t *restrict idx, const float *restrict rating,
                       const int64_t *restrict pos, int64_t n, int32_t bias_lane,
                       float *restrict out);
    void (*cg_apply)(const float *restrict p, const float *restrict base, int32_t kp,
                     const int32_t *restrict idx, int64_t n, float *restrict out);

    /* Evaluation (model_eval.c): the errors of n ratings, e[x] =
     * (double)dot(U[user[x]], V[item[x]], k_pad) - (double)rating[x], the
     * dot above (mfr_model_predict_unchecked's definition). The AVX2 set
     * reduces the partials of eight ratings together, and with `far` (U
     * and V larger than the caches keep near) fetches rows ahead. */
    void (*eval_errors)(const float *restrict U, const float *restrict V, int32_t k_pad,
                        const int32_t *restrict user, const int32_t *restrict item,
                        const float *restrict rating, int64_t n, int far, double *restrict e);

    /* Scoring (recommend.c, metrics.c): out[j] = dot(q, rows + j k_pad)
     * for j < n, each exactly the dot above, over n contiguous rows. The
     * AVX2 set takes eight rows side by side (eight independent chains
     * where a loop of dot calls waits on one) reduced together. */
    void (*dot_rows)(const float *restrict q, const float *restrict rows, int32_t k_pad, int64_t n,
                     float *restrict out);
};

extern const struct mfr_kernel_set mfr_kernels_ref;
extern const struct mfr_kernel_set mfr_kernels_avx2;
/* The AVX2 set with its user and item passes compiled with AVX-512F as
 * well (kern_avx512.c): the same bits. */
extern const struct mfr_kernel_set mfr_kernels_avx512;
double mfr_avx512_user_grad(const float *restrict u_row, const float *restrict V, int32_t k_pad,
                            const int32_t *restrict items, const float *restrict ratings, int64_t n,
                            float scale, float *restrict gu, float *restrict gV, float *restrict resid,
                            int far);
void mfr_avx512_item_grad(float *restrict gv, const float *restrict U, int32_t k_pad,
                          const int32_t *restrict users, const int64_t *restrict pos,
                          const float *restrict resid, int64_t n);

/* True when the CPU supports the AVX2 + FMA set. */
bool mfr_cpu_has_avx2(void);
/* AVX2, FMA and AVX-512F (the widest kernel sets, "avx512"). */
bool mfr_cpu_has_avx512f(void);
/* Picks the set for enum mfr_kernels; NULL (with err) when unsupported. */
const struct mfr_kernel_set *mfr_kernels_select(int which, mfr_error *err);

#endif
