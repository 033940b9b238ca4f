/*
 * optim_priv.h — optimizers as data. A parameter group is one parameter
 * array with its rows and the optimizer's state arrays of the same layout
 * (the users' U or P, the items' V, the implicit factors Y). An optimizer
 * declares how many state arrays it keeps per group (what a model file
 * stores and a resume needs), the constants it computes once per step and
 * its elementwise update, which runs on any slice of a group: the trainer
 * hands out slices to threads (train/step.c). Adding an optimizer is one
 * module (its row, its kernel in kern_*.c) and its tests.
 */
#ifndef MFR_OPTIM_PRIV_H
#define MFR_OPTIM_PRIV_H

#include <stdint.h>

#include "kern_priv.h"

/* State arrays per group, at most (Adam's two moments). */
#define MFR_OPT_MAX_STATE 2

struct mfr_param_group {
    const char *name;
    float *param; /* rows x k_pad */
    float *state[MFR_OPT_MAX_STATE];
    int32_t rows;
};

/* One step's constants, computed once by the optimizer's `begin`. */
struct mfr_opt_step {
    const struct mfr_kernel_set *kern;
    struct mfr_adam_coef adam; /* Adam */
    float lr;                  /* SGD */
};

struct mfr_optim {
    const char *name;
    int32_t id;   /* enum mfr_optimizer */
    int n_state;  /* state arrays per parameter group */
    /* The constants of step t (1-based). */
    void (*begin)(const mfr_config *cfg, int64_t t, struct mfr_opt_step *s);
    /* Updates n floats (a multiple of MFR_LANES) of p from the gradient g,
     * with state[0..n_state) at the same offset; returns the kernel's
     * MFR_NONFINITE_BIT mask of the arrays written (p, then the state). */
    unsigned (*update)(const struct mfr_opt_step *s, float *restrict p, float *const *state,
                   const float *restrict g, int64_t n);
};

extern const struct mfr_optim mfr_optim_adam;
extern const struct mfr_optim mfr_optim_sgd;
extern const struct mfr_optim mfr_optim_als;

/* The optimizer for enum mfr_optimizer `id`, or NULL. */
const struct mfr_optim *mfr_optim_find(int32_t id);

/* Updates floats [off, off + n) of group g from grad (indexed like g->param);
 * returns update's non-finite mask. */
static inline unsigned mfr_opt_update(const struct mfr_optim *o, const struct mfr_opt_step *s,
                                  const struct mfr_param_group *g, int64_t off, const float *grad,
                                  int64_t n)
{
    float *state[MFR_OPT_MAX_STATE] = {NULL, NULL};
    for (int x = 0; x < o->n_state; x++) state[x] = g->state[x] + off;
    return o->update(s, g->param + off, state, grad + off, n);
}

#endif
