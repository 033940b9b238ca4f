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

/* Starts MPI when mpirun launched this process: EXIT_OK or a printed error.
 * argv: train's arguments, which every rank must have alike (collective). */
int dist_begin(int argc, char **argv);
/* Launched by mpirun (any rank count, 1 included). */
bool dist_on(void);
int dist_rank(void);
int dist_size(void);
/* The trainer (MFR_OK or the library's status, err set): under mpirun
 * this rank's part (mfrec_mpi.h: its users only, owned by the MPI
 * trainer; refuses what the ranks cannot run), else mfr_trainer_create's
 * or mfr_trainer_resume's (collective). */
int dist_trainer_create(const mfr_config *cfg, const mfr_dataset *ds, const mfr_ratings *train, const char *spec,
                        mfr_trainer **tr, mfr_error *err);
int dist_trainer_resume(const mfr_checkpoint *c, const mfr_config *cfg, const mfr_dataset *ds,
                        const mfr_ratings *train, const char *spec, mfr_trainer **tr, mfr_error *err);
/* Under mpirun: the trainer of this rank's users, each rank reading only
 * its users' ratings of the data at `dir` (mfr_mpi_trainer_create_read;
 * c: a checkpoint to resume, or NULL); MFR_ERR_UNSUPPORTED when the data
 * must be loaded whole (then dist_trainer_create/_resume), always without
 * mpirun. */
int dist_trainer_read(const mfr_checkpoint *c, const mfr_config *cfg, const char *dir, const char *spec,
                      uint64_t seed, mfr_trainer **tr, mfr_error *err);
/* After dist_trainer_read: its dataset (ids, no ratings), the normalized
 * split spec, the counts (0 all, 1 training, 2 validation, 3 read here). */
const mfr_dataset *dist_dataset(void);
const char *dist_split_spec(void);
int64_t dist_data_count(int which);
/* After dist_trainer_read: the metrics of a part-shaped model (NULL: the
 * trainer's) over the training (0) or validation (1) part, on every rank
 * (collective; the bits of mfr_model_evaluate on the whole model). */
int dist_evaluate_own(int which, const mfr_model *m, mfr_metrics *out, mfr_error *err);
/* Frees what dist_trainer_create made (under mpirun: at dist_end). */
void dist_trainer_free(mfr_trainer *tr);
/* --init-from U.npy,V.npy: under mpirun each rank reads its users' rows
 * of U only (mfr_npy_read_f32_rows), else the whole files. */
int dist_init_from(mfr_trainer *tr, const char *upath, const char *vpath, mfr_error *err);
/* One step: mfr_trainer_step, across the ranks under mpirun. */
int dist_step(mfr_trainer *tr, double *loss, mfr_error *err);
/* mfr_trainer_data_mse of the trainer's model (m NULL) or of a copy of
 * it (under mpirun this rank's part), across the ranks under mpirun (the
 * same bits; every rank gets it). */
int dist_data_mse(mfr_trainer *tr, const mfr_model *m, double *mse, mfr_error *err);
/* Rank 0's whole model gets every rank's user rows (before evaluating or
 * saving). */
int dist_gather(void);
/* The model rank 0 logs and saves: under mpirun the whole model of the
 * last dist_gather (rank 0 only), else the trainer's. */
const mfr_model *dist_model(const mfr_trainer *tr);
/* mfr_trainer_evaluate of dist_model's model (rank 0). */
int dist_trainer_evaluate(const mfr_trainer *tr, const mfr_ratings *r, mfr_metrics *out, mfr_error *err);
/* `m`, a copy of the trainer's model (--early-stop's best epoch): under
 * mpirun rank 0 gets a new whole model *whole from every rank's copy (the
 * caller destroys it), else *whole is NULL (m is whole already). */
int dist_gather_model(const mfr_model *m, mfr_model **whole);
/* --resume's checkpoint: under mpirun mfr_mpi_checkpoint_load (rank 0
 * verifies the file, each rank keeps only its users' rows, read when its
 * trainer is made), else mfr_checkpoint_load (collective). */
int dist_checkpoint_load(const char *path, mfr_checkpoint **c, mfr_error *err);
/* The copy of c's best epoch this rank keeps (*out NULL: none): its
 * users' part under mpirun, else all of it. */
int dist_part_best(const mfr_checkpoint *c, mfr_model **out, mfr_error *err);
/* Rank 0, after dist_gather: mfr_trainer_save_checkpoint's file. */
int dist_save_checkpoint(const mfr_trainer *tr, const mfr_run_state *run, const char *path, mfr_error *err);
/* The metrics of `model` (the trainer's) over r, on every rank: under mpirun
 * from the ranks' own users without gathering them (the bits of
 * mfr_model_evaluate on the whole model), else mfr_model_evaluate. */
int dist_evaluate(const mfr_model *model, const mfr_ratings *r, mfr_metrics *out, mfr_error *err);
/* The status of a check that rank 0 alone makes (its outputs' paths,
 * which may exist on its node only), on every rank: the largest over the
 * ranks (collective). A refusal then ends every rank at once with rank 0's
 * message (dist_end), where the others ran on into a collective rank 0
 * never joined and mpirun aborted the job 5 s later. Without mpirun, rc. */
int dist_same_status(int rc);
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
