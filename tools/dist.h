/*
 * dist.h — `mfrec train` across MPI ranks (docs/MPI.md). dist_mpi.c in a
 * build with -Dmpi=enabled, dist_none.c (one process, no MPI) otherwise.
 * Under mpirun every rank runs the same command; rank 0 alone prints and
 * writes files. Every function but dist_rank is collective.
 */
#ifndef MFREC_DIST_H
#define MFREC_DIST_H

#include <stdbool.h>

#include "mfrec.h"

/* Starts MPI when mpirun launched this process: EXIT_OK or a printed error. */
int dist_begin(void);
/* Launched by mpirun (any rank count, 1 included). */
bool dist_on(void);
int dist_rank(void);
int dist_size(void);
/* Splits the trainer's shards over the ranks; a printed error when the
 * run needs what the ranks cannot do yet. */
int dist_attach(mfr_trainer *tr);
/* One step: mfr_trainer_step, across the ranks under mpirun. */
int dist_step(mfr_trainer *tr, double *loss, mfr_error *err);
/* Rank 0's model gets every rank's user rows (before evaluating or saving). */
int dist_gather(void);
/* Rank 0's `m` (a copy of the trainer's model: --early-stop's best epoch)
 * gets every rank's rows of its own users, from each rank's own copy. */
int dist_gather_model(mfr_model *m);
/* The metrics of `model` (the trainer's) over r, on every rank: under mpirun
 * from the ranks' own users without gathering them (the bits of
 * mfr_model_evaluate on the whole model), else mfr_model_evaluate. */
int dist_evaluate(const mfr_model *model, const mfr_ratings *r, mfr_metrics *out, mfr_error *err);
/* At the end of every epoch under mpirun: the ranks agree on stopping.
 * *stop (rank 0's early-stop or --target-rmse decision) and *sig (a
 * SIGINT/SIGTERM received by this rank, 0: none) become the largest over
 * the ranks, so every rank leaves the loop after the same epoch. */
int dist_agree(bool *stop, int *sig);
/* Under mpirun, rank 0 prints (when `print`) the ranks' seconds per epoch
 * inside the steps' MPI calls and outside them (computing) against its
 * step time, over `epochs` epochs that took `train_seconds` (collective). */
void dist_report(bool print, int64_t epochs, double train_seconds);
/* Ends MPI: finalize after success or an agreed interruption (EXIT_OK,
 * EXIT_INTERRUPTED: every rank got there together), abort the whole job
 * after an error (so the other ranks cannot wait forever on this one).
 * Returns rc. */
int dist_end(int rc);

#endif
