/*
 * reg_priv.h — the regularizers' building blocks, pure functions on
 * k_pad-strided float rows with double accumulators (no threads, no
 * allocation): squared norms, d x d Gram matrices, and the per-row
 * gradient terms. The trainer sums the per-shard / per-block partials in a
 * fixed order (train.c).
 *
 *   L2:      λr (1/N Σ_u |U_u|² + 1/M Σ_i |V_i|²)
 *            ∂/∂U_u = 2 λr / N · U_u
 *   gravity: λg / (M N) Σ_u Σ_i <U_u, V_i>² = λg / (M N) Σ_ab G_U[a][b] G_V[a][b]
 *            with G_U = UᵀU, G_V = VᵀV (k x k), never the dense N x M product;
 *            ∂/∂U_u = 2 λg / (M N) · G_V U_u   (and symmetrically for V_i)
 * Only the k embedding lanes take part; bias lanes do not.
 */
#ifndef MFR_REG_PRIV_H
#define MFR_REG_PRIV_H

#include <stdint.h>

/* sum += Σ_r Σ_{a<k} rows[r][a]², in double, rows in order. */
double mfr_reg_sq_norms(const float *rows, int64_t n_rows, int32_t k_pad, int32_t k);

/* G[a][b] += Σ_r rows[r][a] rows[r][b] for a, b < k (G is k x k, row-major,
 * both triangles written), in double, rows in order. */
void mfr_reg_gram_accum(double *G, const float *rows, int64_t n_rows, int32_t k_pad, int32_t k);

/* The regularizers' gradient for one row x (k lanes used):
 *   g[a] = g[a] + (float)(c_l2 * x[a] + c_grav * Σ_b G[a][b] x[b])
 * G may be NULL when c_grav is 0. */
void mfr_reg_row_grad(float *g, const float *x, int32_t k, double c_l2, double c_grav,
                      const double *G);

#endif
