/*
 * adam.c — the Adam optimizer (two moments per parameter). The per-step
 * coefficients (bias corrections) are computed once per step in double
 * exactly as PyTorch's Adam computes them (torch 1.13, single-tensor path:
 * m.mul_(beta1).add_(g, alpha=1-beta1)), then rounded to float for the
 * elementwise kernels (kern_*.c, `adam`).
 */
#include <math.h>

#include "optim_priv.h"

struct mfr_adam_coef mfr_adam_coef_make(double lr, double beta1, double beta2, double eps,
                                        int64_t t)
{
    double td = (double)t;
    return (struct mfr_adam_coef){
        .beta1 = (float)beta1,
        .w1 = (float)(1.0 - beta1),
        .beta2 = (float)beta2,
        .w2 = (float)(1.0 - beta2),
        .step = (float)(lr / (1.0 - pow(beta1, td))),
        .inv_bc2 = (float)(1.0 / sqrt(1.0 - pow(beta2, td))),
        .eps = (float)eps,
    };
}

static void adam_begin(const mfr_config *c, int64_t t, struct mfr_opt_step *s)
{
    s->adam = mfr_adam_coef_make(c->lr, c->beta1, c->beta2, c->eps, t);
}

static unsigned adam_update(const struct mfr_opt_step *s, float *restrict p, float *const *state,
                            const float *restrict g, int64_t n)
{
    return s->kern->adam(p, state[0], state[1], g, n, &s->adam);
}

const struct mfr_optim mfr_optim_adam = {
    .name = "adam",
    .id = MFR_OPTIMIZER_ADAM,
    .n_state = 2, /* first and second moments */
    .begin = adam_begin,
    .update = adam_update,
};
