/*
 * checkpoint_priv.h — the checkpoint format's writer, reader and resume
 * checks (checkpoint.c), shared with the softmax trainer's checkpoints
 * (src/softmax/sm_checkpoint.c), so that one file format and one verifier
 * serve both model kinds.
 */
#ifndef MFR_CHECKPOINT_PRIV_H
#define MFR_CHECKPOINT_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "mfrec.h"

/* What a checkpoint holds beside the run state. n_state 0: no softmax
 * optimizer section (matrix factorization keeps its optimizer state in the
 * model); 1 or 2: that many arrays of n_params floats and the step count. */
struct mfr_ckpt_parts {
    const mfr_model *model; /* the trainer section */
    int64_t train_nnz;      /* the training ratings (pairs) and their fingerprint */
    uint64_t train_hash;
    double loss[4];         /* the last loss: total, mse, l2, gravity (softmax: total) */
    int32_t n_state;
    int64_t steps, n_params;
    const float *state[2];
};

/* Checks run and writes the checkpoint atomically (as
 * mfr_trainer_save_checkpoint documents). */
int mfr_ckpt_save(const struct mfr_ckpt_parts *p, const mfr_run_state *run, const char *path,
                  mfr_error *err);
/* The parts of a loaded checkpoint (pointers owned by it). */
void mfr_ckpt_parts_of(const mfr_checkpoint *c, struct mfr_ckpt_parts *out);

/* The differences found between a run and a checkpoint, "; "-separated. */
struct mfr_ckpt_diffs {
    char buf[480];
    size_t len;
    int n;
};
void mfr_ckpt_diff_add(struct mfr_ckpt_diffs *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Adds the dataset's and the split's differences from the checkpoint's;
 * returns whether the dataset is the checkpoint's. */
bool mfr_ckpt_check_data(const mfr_checkpoint *c, const mfr_dataset *ds, const char *split_spec,
                         struct mfr_ckpt_diffs *d);

/* mfr_trainer_resume in two pieces around the trainer's creation, for a
 * trainer made elsewhere (an MPI rank's part, src/mpi/). begin: the
 * configuration's and data's differences from the checkpoint's (*d), and
 * the configuration `made` to create the trainer with (when *data_ok).
 * end: adds a difference of the training ratings (the trainer's whole
 * data's count, `train_hash` their fingerprint: mfr_ckpt_hash_*), refuses
 * any difference, else restores the trainer's rows from the checkpoint.
 * tr NULL (the data differs): only the refusal. */
int mfr_ckpt_resume_begin(const mfr_checkpoint *c, const mfr_config *cfg, const mfr_dataset *ds,
                          const char *split_spec, mfr_config *made, struct mfr_ckpt_diffs *d, bool *data_ok,
                          mfr_error *err);
struct mfr_trainer;
int mfr_ckpt_resume_end(struct mfr_trainer *tr, const mfr_checkpoint *c, struct mfr_ckpt_diffs *d,
                        uint64_t train_hash, mfr_error *err);
/* The training ratings' fingerprint, FNV-1a from h: the CSR's n row
 * offsets (the whole data's), then its (item, rating) pairs in order; a
 * chain of ranks' parts continues one h. */
struct mfr_csr;
uint64_t mfr_ckpt_hash_offsets(uint64_t h, const int64_t *row_ptr, int64_t n);
uint64_t mfr_ckpt_hash_ratings(uint64_t h, const struct mfr_csr *c);

#endif
