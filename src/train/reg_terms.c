/*
 * reg_terms.c — the table of regularizer terms (reg_priv.h). Each term is
 * one row: whether it is on, the partial sums it needs per user shard and
 * per item block, its loss part and its gradient coefficients. The trainer
 * sizes its buffers from the table and loops over the active terms; adding
 * a term is a row here, its configuration field and its tests.
 *
 * Two sums are shared rather than taken twice: with gravity on, the Gram
 * matrices' traces are the squared norms that L2 needs (of U, so of P
 * unless implicit feedback makes them differ), and L2 reads them instead of
 * a pass of its own.
 */
#include <math.h>
#include <string.h>

#include "common_priv.h"
#include "reg_priv.h"

static inline const float *row_of(const float *a, const struct mfr_reg_ctx *x, int32_t r)
{
    return a + (size_t)r * (size_t)x->k_pad;
}

static double trace(const double *G, int32_t k)
{
    double s = 0.0;
    for (int32_t a = 0; a < k; a++) s += G[(size_t)a * (size_t)k + (size_t)a];
    return s;
}

/* ---- L2 on P and V ---- */

static bool l2_active(const mfr_config *c) { return c->l2 > 0.0; }
static bool gravity_active(const mfr_config *c) { return c->gravity > 0.0; }

static size_t l2_user_len(const mfr_config *c, int32_t k)
{
    (void)k; /* the Gram's trace is U's sum; with implicit feedback P differs */
    return l2_active(c) && (!gravity_active(c) || c->implicit > 0.0) ? 1 : 0;
}
static size_t l2_item_len(const mfr_config *c, int32_t k)
{
    (void)k;
    return l2_active(c) && !gravity_active(c) ? 1 : 0;
}
static void l2_user_partial(const struct mfr_reg_ctx *x, int32_t first, int32_t end, double *out)
{
    out[0] = mfr_reg_sq_norms(row_of(x->P, x, first), end - first, x->k_pad, x->k);
}
static void l2_item_partial(const struct mfr_reg_ctx *x, int32_t first, int32_t end, double *out)
{
    out[0] = mfr_reg_sq_norms(row_of(x->V, x, first), end - first, x->k_pad, x->k);
}
static double l2_loss(const struct mfr_reg_ctx *x)
{
    const double *gu = x->user_sum[MFR_REG_GRAVITY], *gv = x->item_sum[MFR_REG_GRAVITY];
    double su = x->user_sum[MFR_REG_L2] ? x->user_sum[MFR_REG_L2][0] : trace(gu, x->k);
    double sv = x->item_sum[MFR_REG_L2] ? x->item_sum[MFR_REG_L2][0] : trace(gv, x->k);
    return x->cfg->l2 * (su / x->n_users + sv / x->n_items);
}
static void l2_coef(const struct mfr_reg_ctx *x, struct mfr_reg_coef c[MFR_REG_N_ROWS])
{
    c[MFR_REG_ROW_P].diag += 2.0 * x->cfg->l2 / x->n_users;
    c[MFR_REG_ROW_V].diag += 2.0 * x->cfg->l2 / x->n_items;
}

/* ---- L2 weighted by each row's rating count ---- */

static bool freq_active(const mfr_config *c) { return c->l2_freq > 0.0; }
static size_t freq_len(const mfr_config *c, int32_t k)
{
    (void)k;
    return freq_active(c) ? 1 : 0;
}
static void freq_user_partial(const struct mfr_reg_ctx *x, int32_t first, int32_t end, double *out)
{
    double f = 0.0;
    for (int32_t u = first; u < end; u++)
        f += (double)(x->row_ptr[u + 1] - x->row_ptr[u]) *
             mfr_reg_sq_norms(row_of(x->P, x, u), 1, x->k_pad, x->k);
    out[0] = f;
}
static void freq_item_partial(const struct mfr_reg_ctx *x, int32_t first, int32_t end, double *out)
{
    double f = 0.0;
    for (int32_t i = first; i < end; i++)
        f += (double)x->item_count[i] * mfr_reg_sq_norms(row_of(x->V, x, i), 1, x->k_pad, x->k);
    out[0] = f;
}
static double freq_loss(const struct mfr_reg_ctx *x)
{
    return x->cfg->l2_freq * (x->user_sum[MFR_REG_L2_FREQ][0] + x->item_sum[MFR_REG_L2_FREQ][0]) /
           (double)x->nnz;
}
static void freq_coef(const struct mfr_reg_ctx *x, struct mfr_reg_coef c[MFR_REG_N_ROWS])
{
    const double per_rating = 2.0 * x->cfg->l2_freq / (double)x->nnz;
    c[MFR_REG_ROW_P].per_rating += per_rating;
    c[MFR_REG_ROW_V].per_rating += per_rating;
}

/* ---- gravity, through the k x k Gram matrices of U and V ---- */

static size_t gravity_len(const mfr_config *c, int32_t k)
{
    return gravity_active(c) ? (size_t)k * (size_t)k : 0;
}
static void gravity_user_partial(const struct mfr_reg_ctx *x, int32_t first, int32_t end, double *out)
{
    /* of U itself: gravity acts on the predictions */
    memset(out, 0, sizeof(double) * (size_t)x->k * (size_t)x->k);
    mfr_reg_gram_accum(out, row_of(x->U, x, first), end - first, x->k_pad, x->k);
}
static void gravity_item_partial(const struct mfr_reg_ctx *x, int32_t first, int32_t end, double *out)
{
    memset(out, 0, sizeof(double) * (size_t)x->k * (size_t)x->k);
    mfr_reg_gram_accum(out, row_of(x->V, x, first), end - first, x->k_pad, x->k);
}
static double gravity_loss(const struct mfr_reg_ctx *x)
{
    const double *gu = x->user_sum[MFR_REG_GRAVITY], *gv = x->item_sum[MFR_REG_GRAVITY];
    double gg = 0.0;
    for (size_t e = 0; e < (size_t)x->k * (size_t)x->k; e++) gg += gu[e] * gv[e];
    return x->cfg->gravity / ((double)x->n_users * (double)x->n_items) * gg;
}
static void gravity_coef(const struct mfr_reg_ctx *x, struct mfr_reg_coef c[MFR_REG_N_ROWS])
{
    const double g = 2.0 * x->cfg->gravity / ((double)x->n_users * (double)x->n_items);
    c[MFR_REG_ROW_U].grav += g;
    c[MFR_REG_ROW_U].gram = x->item_sum[MFR_REG_GRAVITY];
    c[MFR_REG_ROW_V].grav += g;
    c[MFR_REG_ROW_V].gram = x->user_sum[MFR_REG_GRAVITY];
}

/* ---- L2 on the biases (b_i pulled towards μ - item_prior_drop) ---- */

static bool bias_active(const mfr_config *c) { return c->bias && c->l2_bias > 0.0; }
/* Where the movie biases are pulled: the training mean, less the drop. */
static double item_prior(const struct mfr_reg_ctx *x) { return (double)x->mu - x->cfg->item_prior_drop; }
static size_t bias_len(const mfr_config *c, int32_t k)
{
    (void)k;
    return bias_active(c) ? 1 : 0;
}
static void bias_user_partial(const struct mfr_reg_ctx *x, int32_t first, int32_t end, double *out)
{
    double s = 0.0;
    for (int32_t u = first; u < end; u++) {
        double b = row_of(x->P, x, u)[mfr_lane_user_bias(x->k)];
        s += b * b;
    }
    out[0] = s;
}
static void bias_item_partial(const struct mfr_reg_ctx *x, int32_t first, int32_t end, double *out)
{
    double s = 0.0;
    const double prior = item_prior(x);
    for (int32_t i = first; i < end; i++) {
        double d = (double)row_of(x->V, x, i)[mfr_lane_item_bias(x->k)] - prior;
        s += d * d;
    }
    out[0] = s;
}
static double bias_loss(const struct mfr_reg_ctx *x)
{
    return x->cfg->l2_bias *
           (x->user_sum[MFR_REG_L2_BIAS][0] / x->n_users + x->item_sum[MFR_REG_L2_BIAS][0] / x->n_items);
}
static void bias_coef(const struct mfr_reg_ctx *x, struct mfr_reg_coef c[MFR_REG_N_ROWS])
{
    struct mfr_reg_coef *p = &c[MFR_REG_ROW_P], *v = &c[MFR_REG_ROW_V];
    p->bias += 2.0 * x->cfg->l2_bias / x->n_users;
    p->center = 0.0f;
    p->bias_lane = mfr_lane_user_bias(x->k);
    v->bias += 2.0 * x->cfg->l2_bias / x->n_items;
    v->center = (float)item_prior(x);
    v->bias_lane = mfr_lane_item_bias(x->k);
}

/* ---- L2 on the implicit factors Y ---- */

static bool y_active(const mfr_config *c) { return c->implicit > 0.0; }
static size_t y_item_len(const mfr_config *c, int32_t k)
{
    (void)k;
    return y_active(c) ? 1 : 0;
}
static size_t no_len(const mfr_config *c, int32_t k)
{
    (void)c;
    (void)k;
    return 0;
}
static void y_item_partial(const struct mfr_reg_ctx *x, int32_t first, int32_t end, double *out)
{
    out[0] = mfr_reg_sq_norms(row_of(x->Y, x, first), end - first, x->k_pad, x->k);
}
static double y_loss(const struct mfr_reg_ctx *x)
{
    return x->cfg->implicit * x->item_sum[MFR_REG_L2_Y][0] / x->n_items;
}
static void y_coef(const struct mfr_reg_ctx *x, struct mfr_reg_coef c[MFR_REG_N_ROWS])
{
    c[MFR_REG_ROW_Y].diag += 2.0 * x->cfg->implicit / x->n_items;
}

/* ---- L1 on the item vectors ---- */

static bool l1_active(const mfr_config *c) { return c->l1_items > 0.0; }
static size_t l1_item_len(const mfr_config *c, int32_t k)
{
    (void)k;
    return l1_active(c) ? 1 : 0;
}
static void l1_item_partial(const struct mfr_reg_ctx *x, int32_t first, int32_t end, double *out)
{
    double s = 0.0;
    for (int32_t i = first; i < end; i++)
        for (int32_t a = 0; a < x->k; a++) s += fabs((double)row_of(x->V, x, i)[a]);
    out[0] = s;
}
static double l1_loss(const struct mfr_reg_ctx *x)
{
    return x->cfg->l1_items * x->item_sum[MFR_REG_L1_ITEMS][0] / x->n_items;
}
static void l1_coef(const struct mfr_reg_ctx *x, struct mfr_reg_coef c[MFR_REG_N_ROWS])
{
    c[MFR_REG_ROW_V].sign += x->cfg->l1_items / x->n_items;
}

/* ---- gravity on the ranking scores, the item bias included ---- */

static bool gbias_active(const mfr_config *c) { return c->gravity_bias > 0.0; }
static size_t gbias_len(const mfr_config *c, int32_t k)
{
    size_t k_row = (size_t)k + 2 * (size_t)c->bias;
    return gbias_active(c) ? k_row * k_row : 0;
}
static void gbias_partial(const float *rows, const struct mfr_reg_ctx *x, int32_t first, int32_t end,
                          double *out)
{
    const size_t n = (size_t)x->k_row, ub = (size_t)mfr_lane_user_bias(x->k);
    memset(out, 0, sizeof(double) * n * n);
    mfr_reg_gram_accum(out, row_of(rows, x, first), end - first, x->k_pad, x->k_row);
    if (x->k_row == x->k) return; /* no bias lanes: plain gravity */
    for (size_t a = 0; a < n; a++) out[a * n + ub] = out[ub * n + a] = 0.0; /* b_u takes no part */
}
static void gbias_user_partial(const struct mfr_reg_ctx *x, int32_t first, int32_t end, double *out)
{
    gbias_partial(x->U, x, first, end, out);
}
static void gbias_item_partial(const struct mfr_reg_ctx *x, int32_t first, int32_t end, double *out)
{
    gbias_partial(x->V, x, first, end, out);
}
static double gbias_loss(const struct mfr_reg_ctx *x)
{
    const double *gu = x->user_sum[MFR_REG_GRAVITY_BIAS], *gv = x->item_sum[MFR_REG_GRAVITY_BIAS];
    double gg = 0.0;
    for (size_t e = 0; e < (size_t)x->k_row * (size_t)x->k_row; e++) gg += gu[e] * gv[e];
    return x->cfg->gravity_bias / ((double)x->n_users * (double)x->n_items) * gg;
}
static void gbias_coef(const struct mfr_reg_ctx *x, struct mfr_reg_coef c[MFR_REG_N_ROWS])
{
    const double g = 2.0 * x->cfg->gravity_bias / ((double)x->n_users * (double)x->n_items);
    c[MFR_REG_ROW_U].grav_bias += g;
    c[MFR_REG_ROW_U].gram_bias = x->item_sum[MFR_REG_GRAVITY_BIAS];
    c[MFR_REG_ROW_U].k_row = x->k_row;
    c[MFR_REG_ROW_V].grav_bias += g;
    c[MFR_REG_ROW_V].gram_bias = x->user_sum[MFR_REG_GRAVITY_BIAS];
    c[MFR_REG_ROW_V].k_row = x->k_row;
}

const struct mfr_reg_term mfr_reg_terms[MFR_REG_N_TERMS] = {
    [MFR_REG_L2] = {"l2", MFR_REG_PART_L2, l2_active, l2_user_len, l2_item_len, l2_user_partial,
                    l2_item_partial, l2_loss, l2_coef},
    [MFR_REG_L2_FREQ] = {"l2_freq", MFR_REG_PART_L2, freq_active, freq_len, freq_len,
                         freq_user_partial, freq_item_partial, freq_loss, freq_coef},
    [MFR_REG_GRAVITY] = {"gravity", MFR_REG_PART_GRAVITY, gravity_active, gravity_len, gravity_len,
                         gravity_user_partial, gravity_item_partial, gravity_loss, gravity_coef},
    [MFR_REG_L2_BIAS] = {"l2_bias", MFR_REG_PART_L2, bias_active, bias_len, bias_len,
                         bias_user_partial, bias_item_partial, bias_loss, bias_coef},
    [MFR_REG_L2_Y] = {"l2_y", MFR_REG_PART_L2, y_active, no_len, y_item_len, NULL, y_item_partial,
                      y_loss, y_coef},
    [MFR_REG_L1_ITEMS] = {"l1_items", MFR_REG_PART_L2, l1_active, no_len, l1_item_len, NULL,
                          l1_item_partial, l1_loss, l1_coef},
    [MFR_REG_GRAVITY_BIAS] = {"gravity_bias", MFR_REG_PART_GRAVITY, gbias_active, gbias_len, gbias_len,
                              gbias_user_partial, gbias_item_partial, gbias_loss, gbias_coef},
};

bool mfr_reg_any_active(const mfr_config *cfg)
{
    for (int t = 0; t < MFR_REG_N_TERMS; t++)
        if (mfr_reg_terms[t].active(cfg)) return true;
    return false;
}

/* Pairwise sum of v[0..n): halves split at the largest power of two below
 * n, so four parts add as ((v0 + v1) + (v2 + v3)). */
static double pairwise(const double *v, int n)
{
    if (n == 1) return v[0];
    int h = 1;
    while (h * 2 < n) h *= 2;
    return pairwise(v, h) + pairwise(v + h, n - h);
}

void mfr_reg_loss(const struct mfr_reg_ctx *x, double *l2, double *gravity)
{
    double part[2][MFR_REG_N_TERMS];
    int n[2] = {0, 0};
    for (int t = 0; t < MFR_REG_N_TERMS; t++) {
        const struct mfr_reg_term *term = &mfr_reg_terms[t];
        part[term->part][n[term->part]++] = term->active(x->cfg) ? term->loss(x) : 0.0;
    }
    *l2 = n[MFR_REG_PART_L2] ? pairwise(part[MFR_REG_PART_L2], n[MFR_REG_PART_L2]) : 0.0;
    *gravity = n[MFR_REG_PART_GRAVITY] ? pairwise(part[MFR_REG_PART_GRAVITY], n[MFR_REG_PART_GRAVITY]) : 0.0;
}

void mfr_reg_coefs(const struct mfr_reg_ctx *x, struct mfr_reg_coef coef[MFR_REG_N_ROWS])
{
    memset(coef, 0, sizeof(struct mfr_reg_coef) * MFR_REG_N_ROWS);
    for (int t = 0; t < MFR_REG_N_TERMS; t++)
        if (mfr_reg_terms[t].active(x->cfg)) mfr_reg_terms[t].coef(x, coef);
}
