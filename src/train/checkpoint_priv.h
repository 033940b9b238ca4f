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

/* Checks run and the parts as the loader checks them (a file it would
 * refuse is not written: MFR_ERR_INVALID), refuses a non-finite last loss
 * (a rejected step: MFR_ERR_STATE), and writes the checkpoint atomically
 * (as mfr_trainer_save_checkpoint documents). */
int mfr_ckpt_save(const struct mfr_ckpt_parts *p, const mfr_run_state *run, const char *path,
                  mfr_error *err);
/* MFR_ERR_STATE, naming path, when tr diverged in a step that wrote its
 * parameters (broken_epoch): they are no state to save, finite or not. */
int mfr_ckpt_refuse_broken(const struct mfr_trainer *tr, const char *path, mfr_error *err);
/* The parts of a loaded checkpoint (pointers owned by it). */
void mfr_ckpt_parts_of(const mfr_checkpoint *c, struct mfr_ckpt_parts *out);

/* The differences found between a run and a checkpoint, "; "-separated,
 * whole entries only: those past the buffer (which fits an mfr_error
 * message) are counted in "; and N more". n counts them all. */
struct mfr_ckpt_diffs {
    char buf[440];
    size_t len; /* of the whole entries (the "and N more" follows) */
    int n, dropped;
    /* a shard count or reduction given where the checkpoint's is derived
     * from the data (0, auto) and equal to what it derives: the trainer is
     * made with the checkpoint's, as the run was */
    bool derived_shards, derived_reduce;
};
void mfr_ckpt_diff_add(struct mfr_ckpt_diffs *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A switch that differs, by name as typed: "--bias here, no --bias in the
 * checkpoint". */
void mfr_ckpt_diff_switch(struct mfr_ckpt_diffs *d, const char *flag, bool here, bool in_checkpoint);
/* Adds the dataset's and the split's differences from the checkpoint's
 * (train: the split's training part, whose split_pin tells a canonical
 * split's changed files; NULL: not compared); returns whether the dataset
 * is the checkpoint's. */
bool mfr_ckpt_check_data(const mfr_checkpoint *c, const mfr_dataset *ds, const mfr_ratings *train,
                         const char *split_spec, struct mfr_ckpt_diffs *d);

/* mfr_trainer_resume in two pieces around the trainer's creation, for a
 * trainer made elsewhere (an MPI rank's part, src/mpi/). begin: the
 * configuration's and data's differences from the checkpoint's (*d), and
 * the configuration `made` to create the trainer with (when *data_ok).
 * end: adds a difference of the training ratings (the trainer's whole
 * data's count, `train_hash` their fingerprint: mfr_ckpt_hash_*), refuses
 * any difference, else restores the trainer's rows from the checkpoint.
 * tr NULL (the data differs): only the refusal. */
int mfr_ckpt_resume_begin(const mfr_checkpoint *c, const mfr_config *cfg, const mfr_dataset *ds,
                          const mfr_ratings *train, const char *split_spec, mfr_config *made,
                          struct mfr_ckpt_diffs *d, bool *data_ok, mfr_error *err);
struct mfr_trainer;
int mfr_ckpt_resume_end(struct mfr_trainer *tr, const mfr_checkpoint *c, struct mfr_ckpt_diffs *d,
                        uint64_t train_hash, mfr_error *err);
/* The training ratings' fingerprint, FNV-1a from h: the CSR's n row
 * offsets (the whole data's), then its (item, rating) pairs in order; a
 * chain of ranks' parts continues one h. */
struct mfr_csr;
uint64_t mfr_ckpt_hash_offsets(uint64_t h, const int64_t *row_ptr, int64_t n);
uint64_t mfr_ckpt_hash_ratings(uint64_t h, const struct mfr_csr *c);

/* A checkpoint whose models' user rows are read per part (an MPI rank's
 * users, docs/MPI.md "Checkpoints"): mfr_ckpt_load_shell loads everything
 * else (run state, log, every id and item row; its models are shells,
 * mfr_model_alloc_shell) and keeps the file open; mfr_trainer_resume's
 * restore and mfr_ckpt_read_part read a part's rows from it. verify: the
 * whole file's checksum and the models' are checked (and every user row
 * read for them, not kept) as mfr_checkpoint_load does; else neither (the
 * caller has the file verified elsewhere and compares mfr_ckpt_shell_id). */
int mfr_ckpt_load_shell(const char *path, bool verify, mfr_checkpoint **out, mfr_error *err);
/* What names the loaded file: its size, inode, modification time and
 * stored checksum. False (id untouched) for a checkpoint loaded whole. */
struct mfr_ckpt_id {
    uint64_t size, ino, mtime_s, mtime_ns, sum;
};
bool mfr_ckpt_shell_id(const mfr_checkpoint *c, struct mfr_ckpt_id *id);
/* dst (a part's model: users [user_lo, user_lo + dst->n_users)) gets the
 * trainer model's (best: the best model's) rows as mfr_model_copy_part
 * gives them; of a shell they are read from the file, which must not have
 * changed since it was loaded, and each value is checked. */
int mfr_ckpt_read_part(const mfr_checkpoint *c, bool best, mfr_model *dst, int32_t user_lo, mfr_error *err);
/* User rows of the trainer model read into parts (a shell), else -1. */
int64_t mfr_ckpt_rows_read(const mfr_checkpoint *c);

#endif
