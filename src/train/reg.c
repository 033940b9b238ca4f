/*
 * reg.c — the regularizers' building blocks (see reg_priv.h). Double
 * accumulation keeps the Gram matrices accurate for large user counts; the
 * loops are simple enough for the compiler to vectorize in order.
 */
#include "reg_priv.h"

#include <stddef.h>

double mfr_reg_sq_norms(const float *rows, int64_t n_rows, int32_t k_pad, int32_t k)
{
    double s = 0.0;
    for (int64_t r = 0; r < n_rows; r++) {
        const float *x = rows + (size_t)r * (size_t)k_pad;
        for (int32_t a = 0; a < k; a++) s += (double)x[a] * (double)x[a];
    }
    return s;
}

void mfr_reg_gram_accum(double *G, const float *rows, int64_t n_rows, int32_t k_pad, int32_t k)
{
    for (int64_t r = 0; r < n_rows; r++) {
        const float *x = rows + (size_t)r * (size_t)k_pad;
        for (int32_t a = 0; a < k; a++) {
            double xa = x[a];
            double *Ga = G + (size_t)a * (size_t)k;
            for (int32_t b = 0; b < k; b++) Ga[b] += xa * (double)x[b];
        }
    }
}

void mfr_reg_row_grad(float *g, const float *x, int32_t k, double c_l2, double c_grav,
                      const double *G)
{
    for (int32_t a = 0; a < k; a++) {
        double t = c_l2 * (double)x[a];
        if (G) {
            const double *Ga = G + (size_t)a * (size_t)k;
            double s = 0.0;
            for (int32_t b = 0; b < k; b++) s += Ga[b] * (double)x[b];
            t += c_grav * s;
        }
        g[a] = g[a] + (float)t;
    }
}

void mfr_reg_apply(float *g, const float *x, int32_t k, const struct mfr_reg_coef *c, int64_t n)
{
    mfr_reg_row_grad(g, x, k, c->diag + c->per_rating * (double)n, c->grav, c->gram);
    if (c->bias > 0.0) {
        const int32_t b = c->bias_lane;
        g[b] = g[b] + (float)(c->bias * ((double)x[b] - (double)c->center));
    }
    if (c->sign > 0.0)
        for (int32_t a = 0; a < k; a++)
            g[a] = g[a] + (float)(c->sign * (double)((x[a] > 0.0f) - (x[a] < 0.0f)));
    if (c->gram_bias) mfr_reg_row_grad(g, x, c->k_row, 0.0, c->grav_bias, c->gram_bias);
}

bool mfr_reg_coef_any(const struct mfr_reg_coef *c)
{
    return c->diag != 0.0 || c->per_rating != 0.0 || c->grav != 0.0 || c->bias != 0.0 || c->sign != 0.0 ||
           c->grav_bias != 0.0;
}

struct mfr_reg_coef mfr_reg_coef_merge(struct mfr_reg_coef a, const struct mfr_reg_coef *b)
{
    a.diag += b->diag;
    a.per_rating += b->per_rating;
    a.grav += b->grav;
    a.sign += b->sign;
    a.grav_bias += b->grav_bias;
    if (b->gram_bias) {
        a.gram_bias = b->gram_bias;
        a.k_row = b->k_row;
    }
    if (b->gram) a.gram = b->gram;
    a.bias += b->bias;
    if (b->bias != 0.0) {
        a.center = b->center;
        a.bias_lane = b->bias_lane;
    }
    return a;
}
