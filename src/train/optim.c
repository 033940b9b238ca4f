/*
 * optim.c — the table of optimizers (optim_priv.h).
 */
#include "optim_priv.h"

static void als_begin(const mfr_config *cfg, int64_t t, struct mfr_opt_step *s)
{
    (void)cfg, (void)t, (void)s;
}

/* ALS (als.c) solves rows instead of stepping along gradients: no state,
 * no elementwise update; mfr_trainer_step hands its steps to mfr_als_step. */
const struct mfr_optim mfr_optim_als = {
    .name = "als",
    .id = MFR_OPTIMIZER_ALS,
    .n_state = 0,
    .begin = als_begin,
    .update = NULL,
};

static const struct mfr_optim *const optimizers[] = {&mfr_optim_adam, &mfr_optim_sgd, &mfr_optim_als};

const struct mfr_optim *mfr_optim_find(int32_t id)
{
    for (size_t o = 0; o < sizeof optimizers / sizeof *optimizers; o++)
        if (optimizers[o]->id == id) return optimizers[o];
    return NULL;
}
