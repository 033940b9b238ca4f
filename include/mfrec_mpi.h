/*
 * mfrec_mpi.h — data-parallel training over MPI (docs/MPI.md). Installed
 * and built only with meson -Dmpi=enabled; the default build has no MPI.
 *
 * Every rank creates the same trainer (mfr_trainer_create on the same data
 * and configuration, so the same shard layout), then wraps it: rank r of P
 * owns the contiguous shards [r S / P, (r+1) S / P) and computes only their
 * users' gradients; the item gradients are summed in shard order (or,
 * with item owners, in each column's user order) by a pipelined ring
 * (rank 0 -> 1 -> ... -> P-1) and broadcast, so every rank
 * updates identical item rows, and the factors are bit-identical to one
 * process's. Collective: every rank calls every function, in the same order.
 */
#ifndef MFREC_MPI_H
#define MFREC_MPI_H

#include <mpi.h>

#include "mfrec.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mfr_mpi_trainer mfr_mpi_trainer;

/* Wraps `tr` (not owned) for the ranks of `comm`: either reduction,
 * implicit feedback. Refuses, with a message, what the ranks cannot run:
 * ALS, more ranks than shards. */
MFR_API int mfr_mpi_trainer_create(mfr_trainer *tr, MPI_Comm comm, mfr_mpi_trainer **out, mfr_error *err);
/* One training step across the ranks; the loss is the same on every rank. */
MFR_API int mfr_mpi_trainer_step(mfr_mpi_trainer *mt, double *loss_out, mfr_error *err);
/* Copies every rank's user rows and their optimizer state to rank 0, whose
 * trainer model is then the single-process model (evaluate, save). */
MFR_API int mfr_mpi_trainer_gather(mfr_mpi_trainer *mt, mfr_error *err);
/* The same for a model of the trainer's shape, such as a copy of its model
 * (each rank's rows of its own users go to rank 0's m): the best epoch's
 * model kept by every rank under --early-stop. */
MFR_API int mfr_mpi_trainer_gather_model(mfr_mpi_trainer *mt, mfr_model *m, mfr_error *err);
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
