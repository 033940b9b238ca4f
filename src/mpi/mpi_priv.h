/*
 * mpi_priv.h — the MPI trainer's state, shared by mpi_part.c (a rank's
 * part: creation, resume, gathers to rank 0, checkpoints) and mpi_train.c
 * (the step across the ranks). docs/MPI.md.
 */
#ifndef MFR_MPI_PRIV_H
#define MFR_MPI_PRIV_H

#include <mpi.h>

#include "mfrec_mpi.h"
#include "train_priv.h"

struct mfr_mpi_trainer {
    mfr_trainer *tr;      /* this rank's part (owned): its users, every item */
    mfr_model *full;      /* rank 0: the whole model, filled by the gathers */
    MPI_Comm comm;
    int rank, size;
    int32_t s_lo, s_hi;   /* this rank's shards */
    int32_t u_lo, u_hi;   /* their users, of the whole data */
    int32_t n_users;      /* the whole data's */
    int32_t *first;       /* the whole data's shard cut (S + 1) */
    int32_t *rank_first;  /* rank r's shards: [rank_first[r], rank_first[r+1]) */
    uint64_t train_hash;  /* the whole training set's fingerprint (checkpoints) */
    int64_t chunk;        /* floats per ring message */
    int *slot_count, *slot_disp; /* loss slots per rank (doubles) */
    int *row_count, *row_disp;   /* user-row floats per rank, in the whole model */
    int *reg_count, *reg_disp;   /* regularizer user partials per rank (doubles) */
    double mpi_seconds;          /* inside MPI calls: transfers and waits */
    /* --reduce owner, implicit feedback: item i's column of the whole data
     * holds col_len[i] ratings, this rank's users at its positions
     * [col_lo[i], col_hi[i]) (its own CSC's column i), and the column
     * ring's slots. */
    int64_t *col_lo, *col_hi, *col_len;
    float *col_buf, *col_msg; /* working slots; compact messages (chunk by chunk) */
    struct mfr_mpi_data *data;    /* the rank's own data (mpi_data.c), or NULL: the caller's whole sets */
    int64_t ckpt_rows;            /* user rows this rank read of a resumed checkpoint (-1: none read) */
};

/* mpi_data.c: the rank's ratings read from the user-ordered cache.
 * _open (after the communicator's setup): the cache, the split's positions
 * and every user's training count (*row_ptr, the whole training CSR's
 * offsets, malloc'd); MFR_ERR_UNSUPPORTED when the data must be read
 * whole (a canonical split, the cache off, a cache no rank can use).
 * _part (after the cut): this rank's own ratings, the items' training
 * counts (item_count zeroed by the caller), the training mean (need_mean:
 * with biases; else left alone) and the
 * trainer's ratings *mine (users from u_lo; the caller destroys them). */
struct mfr_mpi_data;
int mfr_mpi_data_open(mfr_mpi_trainer *mt, const char *dir, const mfr_load_options *opt, const char *spec,
                      uint64_t seed, int64_t **row_ptr, mfr_error *err);
int mfr_mpi_data_part(mfr_mpi_trainer *mt, const int64_t *row_ptr, int64_t *item_count, bool need_mean,
                      float *mean, mfr_ratings **mine, mfr_error *err);
const mfr_dataset *mfr_mpi_data_dataset(const struct mfr_mpi_data *d);
const char *mfr_mpi_data_spec(const struct mfr_mpi_data *d);
void mfr_mpi_data_counts(const struct mfr_mpi_data *d, int64_t *n_all, int64_t *n_train, int64_t *n_test,
                         int64_t *n_read);
int mfr_mpi_data_evaluate(mfr_mpi_trainer *mt, int which, const mfr_model *m, mfr_metrics *out, mfr_error *err);
void mfr_mpi_data_free(struct mfr_mpi_data *d);

int mfr_mpi_err(mfr_error *err, int rc, const char *what);
/* The first user whose ratings start at or after rating `at` (off: the
 * users' offsets, n_users + 1). */
int32_t mfr_mpi_user_at(const int64_t *off, int32_t n_users, int64_t at);

/* mpi_load.c: the user-ordered cache at `path` for load `id` made by every
 * rank of comm from its slice of the rating file (docs/MPI.md, "Each rank
 * parsing its slice of a text file"). Errors are one process's load
 * errors, the same on every rank, and leave no file; MFR_ERR_UNSUPPORTED
 * when the cache cannot be written (the caller reads the data whole). */
struct mfr_load_id;
int mfr_mpi_users_cache_build(MPI_Comm comm, const char *dir, const mfr_load_options *opt,
                              const struct mfr_load_id *id, const char *path, mfr_error *err);
/* Floats per ring message, the gathers' counts and the column positions
 * (mpi_train.c), once the part exists. */
int mfr_mpi_plan(mfr_mpi_trainer *mt, mfr_error *err);

#endif
