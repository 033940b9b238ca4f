/*
 * mfrec_mpi.h — data-parallel training over MPI (docs/MPI.md). Installed
 * and built only with meson -Dmpi=enabled; the default build has no MPI.
 *
 * Rank r of P owns the contiguous shards [r S / P, (r+1) S / P) of the
 * single-process shard cut (which depends on the data and configuration
 * only) and holds a trainer of their users alone: their rows, optimizer
 * state, ratings and shard buffers; the item rows are replicated. The item
 * gradients are summed in shard order (or, with item owners, in each
 * column's user order) by a pipelined ring (rank 0 -> 1 -> ... -> P-1) and
 * broadcast, so every rank updates identical item rows, and the factors
 * are bit-identical to one process's. Rank 0 also holds the whole model,
 * for output: the gathers fill it. Collective: every rank calls every
 * function, in the same order, unless it says otherwise.
 */
#ifndef MFREC_MPI_H
#define MFREC_MPI_H

#include <mpi.h>

#include "mfrec.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mfr_mpi_trainer mfr_mpi_trainer;

/* This rank's part of the trainer mfr_trainer_create(cfg, ds, train,
 * split_spec) would make, for the ranks of `comm`: either reduction,
 * implicit feedback. `train` is the whole training set; the rank keeps
 * only its users' ratings. Rank r takes shards [r S / P, (r+1) S / P), or,
 * when some shards of the cut are empty, a contiguous range holding users.
 * Refuses, with a message, what the ranks cannot run: ALS, more ranks than
 * shards (or than shards that hold users). */
MFR_API int mfr_mpi_trainer_create(const mfr_config *cfg, const mfr_dataset *ds, const mfr_ratings *train,
                                   const char *split_spec, MPI_Comm comm, mfr_mpi_trainer **out, mfr_error *err);
/* mfr_checkpoint_load for the ranks of `comm` (collective), each of which
 * will keep only its users' rows: rank 0 reads the whole file, verifying
 * its checksums and every value as mfr_checkpoint_load does without keeping
 * the user rows, and broadcasts the verdict (a failure is every rank's,
 * with rank 0's message) and what names the file (size, inode, time,
 * stored checksum); every rank then reads the file's run state, log, ids
 * and item rows (the user rows stay in the file, held open) and refuses a
 * file that is not the one rank 0 verified. The models of such a
 * checkpoint (mfr_checkpoint_model, the run state's best) hold no user
 * rows: give it to mfr_mpi_trainer_resume or _create_read, which read
 * each rank's rows (checked for finite values), and
 * mfr_mpi_trainer_part_best; use its model for its configuration, ids and
 * provenance only (never save, evaluate or copy it). */
MFR_API int mfr_mpi_checkpoint_load(const char *path, MPI_Comm comm, mfr_checkpoint **out, mfr_error *err);
/* mfr_trainer_resume's checks and state, for this rank's part: from a
 * checkpoint c of mfr_mpi_checkpoint_load each rank reads its users' rows
 * from the file; from one of mfr_checkpoint_load (whole on every rank) it
 * copies them. Every item row comes from c. */
MFR_API int mfr_mpi_trainer_resume(const mfr_checkpoint *c, const mfr_config *cfg, const mfr_dataset *ds,
                                   const mfr_ratings *train, const char *split_spec, MPI_Comm comm,
                                   mfr_mpi_trainer **out, mfr_error *err);
/* mfr_mpi_trainer_create (c NULL) or _resume (c: a checkpoint) where each
 * rank reads only its own users' ratings (docs/MPI.md, "Reading only a
 * rank's users"), from the user-ordered dataset cache beside the dataset
 * cache of mfr_dataset_load(dir, opt), which rank 0 writes first when it is
 * absent or stale; the split (spec, split_seed: mfr_split_create's) is made
 * on every rank from positions alone. MFR_ERR_UNSUPPORTED, on every rank,
 * when the data must be read whole instead (a canonical split, opt's cache
 * off, a cache that cannot be written or read on some rank): the caller
 * then loads it and calls mfr_mpi_trainer_create. */
MFR_API int mfr_mpi_trainer_create_read(const mfr_checkpoint *c, const mfr_config *cfg, const char *dir,
                                        const mfr_load_options *opt, const char *split_spec, uint64_t split_seed,
                                        MPI_Comm comm, mfr_mpi_trainer **out, mfr_error *err);
/* Of a trainer made by mfr_mpi_trainer_create_read (NULL or -1 otherwise):
 * the dataset (ids, options, provenance; no ratings, no metadata), the
 * normalized split spec, and counts (which: 0 every rating, 1 training, 2
 * validation, 3 the ratings this rank read). which 4, of any trainer: the
 * users whose rows (of the trainer model) this rank read from a checkpoint
 * of mfr_mpi_checkpoint_load, -1 when it resumed none so. Not collective. */
MFR_API const mfr_dataset *mfr_mpi_trainer_dataset(const mfr_mpi_trainer *mt);
MFR_API const char *mfr_mpi_trainer_split_spec(const mfr_mpi_trainer *mt);
MFR_API int64_t mfr_mpi_trainer_data_count(const mfr_mpi_trainer *mt, int which);
/* The metrics of a part-shaped model m (NULL: the trainer's) over the whole
 * training (which 0) or validation (1) part, on every rank, with the bits
 * of mfr_model_evaluate on the whole model: each rank's errors of its own
 * users' ratings at their positions, reduced exactly a chunk at a time to
 * rank 0, summed there in rating order and broadcast. */
MFR_API int mfr_mpi_trainer_evaluate_own(mfr_mpi_trainer *mt, int which, const mfr_model *m, mfr_metrics *out,
                                         mfr_error *err);
/* The rank's trainer (owned by mt): its model holds the part's users
 * only; the names, shard count, last loss and memory are the trainer's. */
MFR_API mfr_trainer *mfr_mpi_trainer_part(const mfr_mpi_trainer *mt);
/* mfr_trainer_set_factors with the whole U (all users) and V; each rank
 * takes its users' rows. Not collective. */
MFR_API int mfr_mpi_trainer_set_factors(mfr_mpi_trainer *mt, const float *U, int64_t u_rows, int64_t u_cols,
                                        const float *V, int64_t v_rows, int64_t v_cols, mfr_error *err);
/* The users this rank holds, [*lo, *hi) of the whole data. Not collective. */
MFR_API void mfr_mpi_trainer_user_range(const mfr_mpi_trainer *mt, int32_t *lo, int32_t *hi);
/* mfr_mpi_trainer_set_factors with this rank's rows of U only (U_mine:
 * rows [lo, hi) of mfr_mpi_trainer_user_range; u_rows and u_cols the whole
 * U's shape, checked as there), so that a rank reads only its rows
 * (mfr_npy_read_f32_rows). Not collective. */
MFR_API int mfr_mpi_trainer_set_factors_rows(mfr_mpi_trainer *mt, const float *U_mine, int64_t u_rows,
                                             int64_t u_cols, const float *V, int64_t v_rows, int64_t v_cols,
                                             mfr_error *err);
/* One training step across the ranks; the loss is the same on every rank.
 * Divergences as mfr_trainer_step's: after a step that left the parameters
 * non-finite, every rank refuses every later step alike (MFR_ERR_DIVERGED). */
MFR_API int mfr_mpi_trainer_step(mfr_mpi_trainer *mt, double *loss_out, mfr_error *err);
/* mfr_trainer_data_mse across the ranks: each rank's shards, their loss
 * slots gathered and summed in shard order on every rank (the bits one
 * process gets, and the next step's mse). m: NULL (the part's trainer
 * model) or a model of the part's shape (its best-epoch copy). Collective. */
MFR_API int mfr_mpi_trainer_data_mse(mfr_mpi_trainer *mt, const mfr_model *m, double *mse, mfr_error *err);
/* Copies every rank's user rows and their optimizer state, and rank 0's
 * item rows, into rank 0's whole model (mfr_mpi_trainer_model), which is
 * then the single-process model (evaluate, save). */
MFR_API int mfr_mpi_trainer_gather(mfr_mpi_trainer *mt, mfr_error *err);
/* Rank 0: the whole model as of the last gather (owned by mt); NULL on
 * the other ranks. Not collective. */
MFR_API const mfr_model *mfr_mpi_trainer_model(const mfr_mpi_trainer *mt);
/* The same for a model of the part's shape (each rank's copy of its
 * model: the best epoch's under --early-stop): rank 0 gets a new whole
 * model in *whole (the caller destroys it), the other ranks NULL. */
MFR_API int mfr_mpi_trainer_gather_model(mfr_mpi_trainer *mt, const mfr_model *m, mfr_model **whole,
                                         mfr_error *err);
/* The rank's part of a whole model (a resumed checkpoint's best epoch):
 * a new model of the part's shape. Not collective. */
MFR_API int mfr_mpi_trainer_part_model(const mfr_mpi_trainer *mt, const mfr_model *whole, mfr_model **out,
                                       mfr_error *err);
/* The rank's part of c's best model (mfr_mpi_trainer_part_model of it; a
 * checkpoint of mfr_mpi_checkpoint_load: its rows read from the file), or
 * *out NULL when c has none. Not collective. */
MFR_API int mfr_mpi_trainer_part_best(const mfr_mpi_trainer *mt, const mfr_checkpoint *c, mfr_model **out,
                                      mfr_error *err);
/* Rank 0, after mfr_mpi_trainer_gather: mfr_trainer_save_checkpoint of the
 * whole trainer, the bytes one process writes. Not collective. */
MFR_API int mfr_mpi_trainer_save_checkpoint(const mfr_mpi_trainer *mt, const mfr_run_state *run, const char *path,
                                            mfr_error *err);
/* The trainer model's metrics over r, on every rank, with the bits of
 * mfr_model_evaluate on the whole model, without gathering it: each rank
 * computes the errors of its own users' ratings, the errors are
 * sum-reduced (exact: one non-zero per rating), and every rank sums them in
 * rating order. 8 bytes per rating of r in the reduction. */
MFR_API int mfr_mpi_trainer_evaluate(mfr_mpi_trainer *mt, const mfr_ratings *r, mfr_metrics *out,
                                     mfr_error *err);
/* This rank's seconds inside the steps' MPI calls (transfers, and waits
 * for the other ranks); not the user-row gathers. */
MFR_API double mfr_mpi_trainer_mpi_seconds(const mfr_mpi_trainer *mt);
MFR_API void mfr_mpi_trainer_destroy(mfr_mpi_trainer *mt);

#ifdef __cplusplus
}
#endif
#endif
