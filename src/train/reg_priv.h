/*
 * reg_priv.h — the regularizers: pure building blocks on k_pad-strided
 * float rows with double accumulators (reg.c), and the table of terms that
 * the trainer loops over (reg_terms.c). No threads and no allocation here:
 * the trainer calls the partial sums per shard and per item block, sums them
 * in shard / block order, then asks each active term for its loss part and
 * its gradient coefficients (train/step.c).
 *
 *   L2:       λr (1/N Σ_u |P_u|² + 1/M Σ_i |V_i|²)
 *             ∂/∂P_u = 2 λr / N · P_u
 *   l2_freq:  λf / |R| Σ_(u,i)∈R (|P_u|² + |V_i|²)
 *             ∂/∂P_u = 2 λf / |R| · n_u P_u   (n_u: u's training ratings)
 *   gravity:  λg / (M N) Σ_u Σ_i <U_u, V_i>² = λg / (M N) Σ_ab G_U[a][b] G_V[a][b]
 *             with G_U = UᵀU, G_V = VᵀV (k x k), never the dense N x M product;
 *             ∂/∂U_u = 2 λg / (M N) · G_V U_u   (and symmetrically for V_i)
 *   l2_bias:  λb (1/N Σ_u b_u² + 1/M Σ_i (b_i - c)²), c = μ - δ: μ the
 *             training mean, δ item_prior_drop (0 unless set)
 *   l2_y:     λy / M Σ_j |Y_j|²  (implicit feedback)
 *   l1_items: λ1 / M Σ_i |V_i|_1
 *             ∂/∂V_i = λ1 / M · sign(V_i)
 *   gravity_bias: gravity on the ranking scores, the item bias included:
 *             λs / (M N) Σ_u Σ_i (b_i + <U_u, V_i>)², through k_row x k_row
 *             Gram matrices whose user-bias lane (b_u in U, 1 in V) is zero,
 *             so b_u takes no part; the constant lanes' gradients are
 *             dropped by the trainer like every constant lane's
 * P is the users' free parameters: U itself, or with implicit feedback the
 * P of U_u = P_u + c_u Σ Y_j. Only the k embedding lanes take part, except
 * for l2_bias, which acts on the bias lanes alone.
 */
#ifndef MFR_REG_PRIV_H
#define MFR_REG_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mfrec.h"

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

/* The rows a gradient coefficient applies to. */
enum mfr_reg_row {
    MFR_REG_ROW_U, /* the users' prediction rows U: terms on predictions (gravity) */
    MFR_REG_ROW_P, /* the users' free parameters (P, or U without implicit) */
    MFR_REG_ROW_V, /* the items */
    MFR_REG_ROW_Y, /* the implicit item factors */
    MFR_REG_N_ROWS
};

/* The combined regularizer gradient of one kind of row, for a row x with
 * n ratings (mfr_reg_apply):
 *   g[a] += (float)((diag + per_rating n) x[a] + grav Σ_b gram[a][b] x[b]), a < k
 *   g[bias_lane] += (float)(bias (x[bias_lane] - center))     when bias > 0
 *   g[a] += (float)(sign sign(x[a])), a < k                    when sign > 0
 *   g[a] += (float)(grav_bias Σ_b gram_bias[a][b] x[b]), a < k_row   when gram_bias */
struct mfr_reg_coef {
    double diag, per_rating, grav, sign, grav_bias;
    const double *gram;      /* k x k; NULL when grav is 0 */
    const double *gram_bias; /* k_row x k_row; NULL when grav_bias is 0 */
    int32_t k_row;
    double bias;
    float center;
    int32_t bias_lane;
};

void mfr_reg_apply(float *g, const float *x, int32_t k, const struct mfr_reg_coef *c, int64_t n);
/* Whether c adds anything at all. */
bool mfr_reg_coef_any(const struct mfr_reg_coef *c);
/* a + b, field by field (one gram at most may be set). */
struct mfr_reg_coef mfr_reg_coef_merge(struct mfr_reg_coef a, const struct mfr_reg_coef *b);

/* The terms, in table order (the L2 loss part is summed pairwise in this
 * order, see mfr_reg_loss_l2). */
enum mfr_reg_term_id {
    MFR_REG_L2,
    MFR_REG_L2_FREQ,
    MFR_REG_GRAVITY,
    MFR_REG_L2_BIAS,
    MFR_REG_L2_Y,
    MFR_REG_L1_ITEMS,
    MFR_REG_GRAVITY_BIAS,
    MFR_REG_N_TERMS
};

/* Which part of mfr_loss a term's loss goes to. */
enum mfr_reg_part { MFR_REG_PART_L2, MFR_REG_PART_GRAVITY };

/* What the terms read: the configuration, the sizes, the parameters and,
 * once the trainer has reduced them, every term's sums (NULL where a term
 * keeps none). Built once per trainer; the arrays are updated in place. */
struct mfr_reg_ctx {
    const mfr_config *cfg;
    int32_t k, k_row, k_pad, n_users, n_items;
    int64_t nnz;
    int implicit;
    const float *U, *P, *V, *Y; /* P == U without implicit feedback */
    const int64_t *row_ptr;     /* CSR offsets: user u has row_ptr[u+1] - row_ptr[u] ratings */
    const int64_t *item_count;  /* training ratings per item */
    float mu;                   /* the training mean, where every b_i starts */
    const double *user_sum[MFR_REG_N_TERMS], *item_sum[MFR_REG_N_TERMS];
};

/*
 * One regularizer term. Partial sums are doubles: user_len(cfg, k) per user
 * shard over users [first, end), item_len per item block over items
 * [first, end); the trainer sums them in shard / block order into the
 * term's user_sum / item_sum. A term whose length is 0 on a side has no
 * partial there (its function may be NULL).
 */
struct mfr_reg_term {
    const char *name;
    enum mfr_reg_part part;
    bool (*active)(const mfr_config *cfg);
    size_t (*user_len)(const mfr_config *cfg, int32_t k);
    size_t (*item_len)(const mfr_config *cfg, int32_t k);
    void (*user_partial)(const struct mfr_reg_ctx *x, int32_t first, int32_t end, double *out);
    void (*item_partial)(const struct mfr_reg_ctx *x, int32_t first, int32_t end, double *out);
    /* The term's part of the loss, from the reduced sums. */
    double (*loss)(const struct mfr_reg_ctx *x);
    /* Adds the term's gradient coefficients for each kind of row. */
    void (*coef)(const struct mfr_reg_ctx *x, struct mfr_reg_coef coef[MFR_REG_N_ROWS]);
};

extern const struct mfr_reg_term mfr_reg_terms[MFR_REG_N_TERMS];

/* Whether any term is active for cfg. */
bool mfr_reg_any_active(const mfr_config *cfg);

/* The loss parts of the active terms from the reduced sums: the L2 part is
 * the pairwise sum of the L2-part terms in table order, inactive terms
 * counting 0; the gravity part likewise. */
void mfr_reg_loss(const struct mfr_reg_ctx *x, double *l2, double *gravity);

/* Every active term's gradient coefficients for each kind of row, summed in
 * table order (bias lanes: users k, items k + 1). */
void mfr_reg_coefs(const struct mfr_reg_ctx *x, struct mfr_reg_coef coef[MFR_REG_N_ROWS]);

#endif
