/*
 * train_priv.h — the trainer's state and the phases of one training step,
 * shared by trainer.c (creation, buffers, initialization), step.c (the
 * phases) and the benchmarks, which time the same phase functions.
 *
 * Names: N = n_users, M = n_items, S = n_shards, B = item blocks, nnz =
 * training ratings, k = the embedding dimension, k_pad = the row stride.
 */
#ifndef MFR_TRAIN_PRIV_H
#define MFR_TRAIN_PRIV_H

#include <stdbool.h>

#include "csr_priv.h"
#include "kern_priv.h"
#include "model_priv.h"
#include "optim_priv.h"
#include "reg_priv.h"

/* Floats per update work chunk (a multiple of MFR_LANES). */
#define MFR_TRAIN_CHUNK 4096
/* Loss slots sit a cache line apart: shards on different cores must not
 * write the same line (a line shared by two cores cost up to 0.5 ms per
 * ML-100K epoch in measurements on a 2-vCPU VM, docs/PERFORMANCE.md). */
#define MFR_TRAIN_LOSS_STRIDE 8
/* Items per regularizer block: the item partials' summation unit. */
#define MFR_TRAIN_ITEM_BLOCK 256

/* The parameter groups the optimizer updates. */
enum mfr_group { MFR_GROUP_USERS, MFR_GROUP_ITEMS, MFR_GROUP_Y, MFR_N_GROUPS };

/* The measured default thread count (threads.c). */
struct mfr_thread_tuner {
    bool on;       /* cfg.n_threads was 0 and more than one thread is available */
    int32_t max;   /* the thread count given, or all of them */
    int64_t steps; /* steps timed so far */
    int cur;       /* the candidate of the current step: 0 one thread, 1 max */
    double est[2]; /* seconds per step of each candidate (-1: not measured) */
    int64_t interval, next_try; /* steps between tries of the other count; the next */
};

struct mfr_trainer {
    mfr_config cfg;
    mfr_model *model;
    const struct mfr_kernel_set *kern;
    const struct mfr_optim *opt;
    /* the users' U (or P with implicit feedback), V, and Y when implicit */
    struct mfr_param_group group[MFR_N_GROUPS];
    int32_t reduce; /* MFR_REDUCE_SHARD or MFR_REDUCE_OWNER */
    char reduce_reason[160]; /* mfr_trainer_reduce_reason */
    int implicit;
    bool als;             /* --optimizer als: no gradients, the CSC for the item solves */
    struct mfr_csr csr;
    struct mfr_csc csc;   /* owner mode and implicit feedback */
    int32_t n_shards;
    int32_t *shard_first; /* S + 1: shard s holds users [first[s], first[s+1]) */
    double *shard_loss;   /* S slots, MFR_TRAIN_LOSS_STRIDE doubles apart */
    /* A part (struct mfr_train_part; 0, S, 0 and the CSR's counts in one
     * process): the model's user 0 is user_lo of the whole data, shard_gV
     * holds shards [shard_lo, shard_lo + its count), and the step scales by
     * the whole data's rating count and user count. */
    int32_t user_lo, shard_lo, n_users_all;
    int64_t nnz_all;
    float *gU, *gV;       /* gradients, model layout (gU is P's with implicit) */
    float *resid;         /* owner mode: nnz scaled residuals */
    float *shard_gV;      /* shard mode: S x M x k_pad item-gradient buffers */
    float *gZ;            /* implicit: N x k_pad, dLoss/dU before P's own terms */
    float *gY;            /* implicit: M x k_pad */
    float *imp_w;         /* implicit: c_u of each rating's user, in CSR order */
    float *csc_rating;    /* ALS: the ratings in CSC order (the item solves read them in turn) */
    /* Regularizers (reg_priv.h): per-shard and per-block partial sums,
     * every active term's slice at its offset, and their reduced sums. */
    bool reg;             /* any term active */
    struct mfr_reg_ctx reg_ctx;
    int32_t n_item_blocks;
    size_t reg_user_off[MFR_REG_N_TERMS], reg_item_off[MFR_REG_N_TERMS];
    size_t reg_user_stride, reg_item_stride; /* doubles per shard / block */
    double *reg_user_part, *reg_item_part;   /* S x stride, B x stride */
    double *reg_user_sum, *reg_item_sum;
    int64_t *item_count;  /* training ratings per item (with regularizers) */
    float bias_mean;      /* μ: the training mean, where every b_i starts */
    mfr_loss last;        /* the last step's loss parts */
    /* The epoch whose step diverged after writing parameters (a non-finite
     * row, or an ALS solve that failed halfway), 0 when none did: the
     * factors are then no state a run goes on from, so later steps refuse
     * rather than report a misleading loss. */
    int64_t broken_epoch;
    int32_t n_threads;    /* of the current (or last) step */
    struct mfr_thread_tuner tuner;
    uint64_t mem_bytes;
    uint64_t peak_bytes; /* mem_bytes and what the run holds beside them: the budget's check */
};

/* One step's constants and results, computed once and shared by every
 * thread of the step's parallel region. */
struct mfr_step {
    float scale;                   /* 2 / nnz: dMSE / dprediction per residual */
    struct mfr_opt_step opt;       /* the optimizer's constants */
    struct mfr_reg_coef coef[MFR_REG_N_ROWS];
    struct mfr_reg_coef user_coef; /* without implicit feedback: U's and P's merged */
    mfr_loss parts;
    int finite;                    /* the loss is finite: the update may run */
    int bad_array;                 /* mfr_phase_check: the first non-finite array, or -1 */
    /* Set by a step whose optimizer updates write every array the check
     * covers (no implicit feedback, not ALS): the updates' MFR_NONFINITE_BIT
     * masks per group then replace the check's pass over the arrays, read
     * once the parallel region has ended (no barrier of its own). */
    int masks_only;
    unsigned bad_mask[MFR_N_GROUPS];
    /* Users [user_first, user_end) are updated, derived and checked: all
     * of them in one process; under MPI a rank's own (the others' rows
     * there are unused), so no rank pays for all users. */
    int32_t user_first, user_end;
};

/* A rank's part of the trainer of the whole data (src/mpi/): the users
 * [user_lo, user_hi) of the shards [shard_lo, shard_hi) of the whole
 * data's cut `shard_first` (n_shards + 1 users), their training ratings
 * alone (user ids counted from user_lo), and what the step needs of the
 * whole data: its training rating count, the items' rating counts (with
 * regularizers) and the training mean (with biases, summed in the whole
 * data's rating order). Model rows, optimizer state, gradients, CSR, CSC,
 * residuals and shard buffers are then allocated for the part only; the
 * O(shards) slots and every item array stay whole. */
struct mfr_train_part {
    int32_t user_lo, user_hi, shard_lo, shard_hi, n_shards;
    const int32_t *shard_first;
    int64_t nnz;
    const int64_t *item_count;
    float bias_mean;
};

/* mfr_trainer_create for a part: `train` holds the part's ratings only. */
int mfr_trainer_create_part(const mfr_config *cfg, const mfr_dataset *ds, const mfr_ratings *train,
                            const char *split_spec, const struct mfr_train_part *part, mfr_trainer **out,
                            mfr_error *err);
/* The shard count and reduction the trainer of (cfg, ds) with nnz training
 * ratings uses (what mfr_trainer_create decides, before any allocation). */
int32_t mfr_trainer_plan_shards(const mfr_config *cfg, const mfr_dataset *ds, int64_t nnz, int32_t *reduce);

/* The step's constants; no parallel region needed. */
void mfr_step_begin(const mfr_trainer *tr, struct mfr_step *st);

/*
 * The phases, in order. Each is called by every thread of one parallel
 * region (or outside any, by one thread) and splits its work with orphaned
 * `omp for` loops, whose ends are the barriers between phases.
 */
/* The regularizers' partial sums per shard and per item block, their
 * reduction in shard / block order and the regularizer loss parts. */
void mfr_phase_reg_sums(mfr_trainer *tr, struct mfr_step *st);
/* Shard by shard: residuals, loss slots, user gradients with their
 * regularizer terms, and the shard's item buffer (shard mode) or the
 * residuals (owner mode). */
void mfr_phase_user_grads(mfr_trainer *tr, struct mfr_step *st);
/* The loss: shard slots summed in shard order; a non-finite loss cancels
 * every update below. */
void mfr_phase_loss(mfr_trainer *tr, struct mfr_step *st);
/* The item gradients in an order fixed by the data: item owners sum their
 * ratings in CSC order and update V at once; shard buffers are summed in
 * shard order. Then the items' regularizer terms. */
void mfr_phase_loss_items(mfr_trainer *tr, struct mfr_step *st);
/* Implicit feedback: Y's gradient over the CSC, and its update. */
void mfr_phase_implicit(mfr_trainer *tr, struct mfr_step *st);
/* The implicit phase after gY holds every item's data gradient (summed
 * elsewhere: across MPI ranks): regularizer terms and Y's update. */
void mfr_phase_implicit_finish(mfr_trainer *tr, struct mfr_step *st);
/* The optimizer over the users' rows (and V in shard mode). */
void mfr_phase_update(mfr_trainer *tr, struct mfr_step *st);
/* Implicit feedback: U from the updated P and Y. */
void mfr_phase_derive(mfr_trainer *tr, struct mfr_step *st);
/* After the update: every parameter and optimizer-state array checked for
 * inf/NaN (a finite loss does not prove them finite: Adam's moments or a
 * row no rating reads can overflow first), so the step that produced them
 * reports the divergence. Sets st->bad_array (the lowest index among the
 * arrays of mfr_check_arrays, whatever the thread count). */
void mfr_phase_check(mfr_trainer *tr, struct mfr_step *st);

/* The loss parts and status of a finished step. */
int mfr_step_end(mfr_trainer *tr, const struct mfr_step *st, double *loss_out, mfr_error *err);
/* MFR_ERR_DIVERGED naming tr->broken_epoch: a step after one that left the
 * parameters unusable (mfr_trainer_step, mfr_mpi_trainer_step). */
int mfr_step_refuse_broken(const mfr_trainer *tr, mfr_error *err);

/* One ALS step (als.c): every user's row solved with V fixed, then every
 * item's with the new U; the loss at the factors before the step. */
int mfr_als_step(mfr_trainer *tr, double *loss_out, mfr_error *err);

/* The thread count (threads.c): init from cfg.n_threads (0: measured);
 * pick before a step sets tr->n_threads; done after it with its seconds. */
void mfr_threads_init(mfr_trainer *tr, int32_t requested);
int32_t mfr_threads_pick(mfr_trainer *tr);
void mfr_threads_done(mfr_trainer *tr, double seconds);
double mfr_threads_now(void);

/* Phase pieces the benchmarks time alone. */
/* Shard s's part of mfr_phase_user_grads. */
void mfr_shard_user_grads(mfr_trainer *tr, const struct mfr_step *st, int32_t s);
/* Whether the data pass below can run for `fn`: not for an ALS trainer
 * (no gradient rows), and m (NULL: the trainer's model) must have the
 * trainer model's shape, as a copy of it (--early-stop's best epoch) has. */
int mfr_data_pass_ok(const mfr_trainer *tr, const mfr_model *m, const char *fn, mfr_error *err);
/* The data term alone (mfr_trainer_data_mse) of m, the trainer's model or
 * a model of its shape: the loss slots of shards [s_lo, s_hi), each as
 * mfr_shard_user_grads sets it (a parallel region of its own), and the
 * mean of every slot summed in shard order, as the step's loss phase sums
 * them. */
void mfr_data_loss_slots(mfr_trainer *tr, const mfr_model *m, int32_t s_lo, int32_t s_hi);
double mfr_data_mse_of_slots(const mfr_trainer *tr);
/* mfr_phase_reg_sums in two pieces (src/mpi/ gathers the user partials
 * of every rank's shards between them): the partial sums of shards
 * [s_lo, s_hi) and of every item block (orphaned `omp for`), then their
 * reduction in shard / block order and the loss parts (`omp single`). */
void mfr_reg_partials(mfr_trainer *tr, int32_t s_lo, int32_t s_hi);
void mfr_reg_reduce(mfr_trainer *tr, struct mfr_step *st);
/* Shard mode, once gV holds the summed shard buffers: the items'
 * regularizer terms and the zeroed constant lane (orphaned `omp for`;
 * src/mpi/ calls it after its ordered reduction across ranks). */
void mfr_items_reg_terms(mfr_trainer *tr, const struct mfr_step *st);
/* U_u = P_u + c_u Σ_{j in R(u)} Y_j for every user (orphaned `omp for`). */
void mfr_derive_users(mfr_trainer *tr);

#endif
