/*
 * optim.c — the table of optimizers (optim_priv.h).
 */
#include "optim_priv.h"

static const struct mfr_optim *const optimizers[] = {&mfr_optim_adam, &mfr_optim_sgd};

const struct mfr_optim *mfr_optim_find(int32_t id)
{
    for (size_t o = 0; o < sizeof optimizers / sizeof *optimizers; o++)
        if (optimizers[o]->id == id) return optimizers[o];
    return NULL;
}
