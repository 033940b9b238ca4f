/*
 * sgd.c — plain full-batch gradient descent, p = p - lr * g: the notebook's
 * first optimizer. It keeps no state, so its models store none.
 */
#include "optim_priv.h"

static void sgd_begin(const mfr_config *c, int64_t t, struct mfr_opt_step *s)
{
    (void)t;
    s->lr = (float)c->lr;
}

static unsigned sgd_update(const struct mfr_opt_step *s, float *restrict p, float *const *state,
                           const float *restrict g, int64_t n)
{
    (void)state;
    return s->kern->sgd(p, g, n, s->lr);
}

const struct mfr_optim mfr_optim_sgd = {
    .name = "sgd",
    .id = MFR_OPTIMIZER_SGD,
    .n_state = 0,
    .begin = sgd_begin,
    .update = sgd_update,
};
