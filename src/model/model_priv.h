/*
 * model_priv.h — the in-memory model: padded, 64-byte aligned factor rows,
 * Adam moments, the configuration and the id maps. The trainer owns one
 * and updates it in place; model_io.c reads and writes the file format
 * (docs/MODEL_FORMAT.md).
 */
#ifndef MFR_MODEL_PRIV_H
#define MFR_MODEL_PRIV_H

#include "common_priv.h"

/* The parameter groups an optimizer keeps state for. */
enum mfr_model_group { MFR_MODEL_USERS, MFR_MODEL_ITEMS, MFR_MODEL_IMPLICIT, MFR_MODEL_N_GROUPS };
#define MFR_MODEL_MAX_STATE 2
/* Longest split spec / data dir a model file may hold (model_io.c); the
 * trainers refuse a longer split spec when they are made, not at the save. */
#define MFR_MODEL_MAX_STRING 65536u
/* MFR_ERR_INVALID naming `who` when split_spec (may be NULL) is longer than
 * a model file holds: its model could never be saved. */
int mfr_model_check_split_spec(const char *who, const char *split_spec, mfr_error *err);

struct mfr_model {
    mfr_config cfg;       /* n_threads and max_memory are zeroed: not model state */
    int32_t k;            /* user-visible dimension */
    /* Floats of state per row: k, or k + 2 with cfg.bias, where lanes k and
     * k + 1 hold (b_u, 1) in U's rows and (1, b_i) in V's rows, so that the
     * dot product over the row is b_u + b_i + <U_u, V_i>. */
    int32_t k_row;
    int32_t k_pad;        /* row stride in floats, a multiple of MFR_LANES >= k_row */
    int32_t n_users, n_items;
    int64_t epochs;       /* Adam steps taken */
    float *U, *V;         /* n_users x k_pad, n_items x k_pad; padding lanes zero */
    /* Implicit feedback (cfg.implicit > 0, else NULL): U_u = P_u +
     * |R(u)|^-1/2 Σ_{j in R(u)} Y_j is derived, P holds the users' free
     * parameters (same layout as U), Y the items' implicit factors (k lanes
     * used, bias lanes zero). */
    float *P, *Y;
    /* The optimizer's state: n_state arrays per parameter group, each laid
     * out like the group's parameters (the users' U, or P with implicit
     * feedback; V; Y). Adam keeps its first and second moments, SGD none. */
    int32_t n_state;
    float *state[MFR_MODEL_N_GROUPS][MFR_MODEL_MAX_STATE];
    int64_t *user_ids;    /* dense -> raw id */
    int64_t *item_ids;
    char *split_spec;     /* "" when unknown */
    char *data_dir;       /* "" when unknown */
    uint64_t data_fingerprint;
    /* The rating file the data was read from when the load named a file
     * (a delimited file, or any format's rating file given directly), and
     * how it was read (enum mfr_format, separator byte, enum mfr_header);
     * NULL when the data was a directory in its format's own layout. */
    char *data_file;
    int32_t data_format, data_sep, data_header;
    /* The training ratings' split_pin (dataset_priv.h) when the model was
     * trained on a canonical split, else 0: a later use that recreates the
     * split from changed files is refused (mfr_model_check_split). */
    uint64_t split_pin;
    /* The softmax network (src/softmax) of a model of kind softmax, NULL
     * for matrix factorization. U then holds the users' embeddings, V the
     * output embeddings; the file carries the network in its own section. */
    struct mfr_sm_net *sm;
    /* With cfg.rank_prior > 0, once mfr_model_set_item_counts has run:
     * the n_items ranking offsets (rank_prior ln(1 + n_i)), else NULL. */
    float *rank_offset;
};

/* A movie's ranking offset: (float)(prior ln(1 + count)). */
float mfr_rank_offset(double prior, int64_t count);

/* MFR_OK for a known enum mfr_measure, else MFR_ERR_INVALID naming it. */
int mfr_measure_check(int measure, mfr_error *err);

/* The dot kernel's scores out[0..n) of q against the n rows of v (k_pad
 * floats each), where a float dot overflowed (inf, or NaN from inf - inf,
 * of finite rows), taken again in double in index order and rounded: +-inf
 * by the true sign, never NaN (recommend.c). Finite scores are unchanged. */
void mfr_dot_scores_fix_overflow(const float *q, const float *v, int32_t k_pad, int32_t n, float *out);

/* Users ranked together by mfr_model_recommend_group: at most 7, so that
 * one byte flags the items each has rated (bit g) and the items excluded
 * for all (bit 7). */
#define MFR_RANK_GROUP 7
/* mfr_model_recommend for users[0..n_users) (n_users <= MFR_RANK_GROUP,
 * indices the caller has checked) at once, each one's list the same as
 * alone: item i is left out for users[g] when exclude && (exclude[i] &
 * masks[g]); user g's outputs are items_out[g], scores_out[g] (scores_out
 * may be NULL) and n_out[g]. V is read once for the group (recommend.c). */
int mfr_model_recommend_group(const mfr_model *m, const int32_t *users, int32_t n_users, int32_t n_top,
                              int measure, const uint8_t *exclude, const uint8_t *masks,
                              int32_t *const *items_out, float *const *scores_out, int32_t *n_out,
                              mfr_error *err);

/* Copies src's data provenance (split spec, data directory, data file and
 * how it was read) into m, replacing m's; MFR_ERR_NOMEM leaves m's. */
int mfr_model_copy_provenance(mfr_model *m, const mfr_model *src, mfr_error *err);

/* The prediction for in-range (u, i): the kernels' dot product of U's row
 * u and V's row i over k_pad floats, in kern_priv.h's lane order (eight FMA
 * partials combined pairwise), the same bits in every kernel set. It is
 * the value the epochs compute for a rating and `recommend` scores; with
 * biases two lanes hold b_u * 1 and 1 * b_i, and the padding lanes are
 * zero. */
float mfr_model_predict_unchecked(const mfr_model *m, int32_t u, int32_t i);

/* The metrics' sums, by definition: the errors (double)prediction -
 * (double)rating in consecutive chunks of MFR_EVAL_SUM_CHUNK ratings; in
 * each chunk, rating x's square and absolute value go to lane x % 8, the
 * lanes summed in rating order and combined as a tree ((0+4)+(2+6)) +
 * ((1+5)+(3+7)); the chunks' sums added in chunk order. Every chunk is
 * independent, so any thread count (or MPI rank count) gets these bits,
 * and no thread waits on one long chain of additions. */
#define MFR_EVAL_SUM_CHUNK 4096
/* Adds chunk e[0..n) (n <= MFR_EVAL_SUM_CHUNK) to *sq and *ab, as above. */
void mfr_eval_chunk_sums(const double *e, int64_t n, double *sq, double *ab);

/* mfr_model_evaluate on n_threads threads (0: mfr_set_threads's count);
 * the result does not depend on it. */
int mfr_model_evaluate_threads(const mfr_model *m, const mfr_ratings *r, int n_threads, mfr_metrics *out,
                               mfr_error *err);

/* Allocates a model with zeroed factors, no optimizer state and 1-based
 * identity id maps; bias (0 or 1) adds the two bias lanes (k_row = k +
 * 2 bias) and sets their constant lanes to 1. */
int mfr_model_alloc(int32_t k, int32_t bias, int32_t n_users, int32_t n_items, mfr_model **out,
                    mfr_error *err);
/* mfr_model_alloc without the user arrays: U, P and the users' optimizer
 * state stay NULL (also through mfr_model_alloc_implicit and
 * mfr_model_alloc_state), the ids are there for every user. Only a
 * checkpoint's model read without its users' rows (mfr_model_read_shell)
 * is such a shell; nothing but mfr_model_copy_part (which then copies the
 * item arrays only) may read its user arrays. */
int mfr_model_alloc_shell(int32_t k, int32_t bias, int32_t n_users, int32_t n_items, mfr_model **out,
                          mfr_error *err);
/* Allocates P (a copy of U), Y (zero) and Y's optimizer state (zero, as
 * many arrays as the other groups have) for cfg.implicit > 0. */
int mfr_model_alloc_implicit(mfr_model *m, mfr_error *err);
/* Allocates n_state zeroed state arrays (0..MFR_MODEL_MAX_STATE) for each
 * of the model's groups (Y's only with implicit feedback); once, on a model
 * that has none. */
int mfr_model_alloc_state(mfr_model *m, int32_t n_state, mfr_error *err);
/* The state arrays a model file holds for an optimizer (enum
 * mfr_optimizer): its own count (train/optim_priv.h; a test checks they
 * agree), or -1 for an unknown optimizer. */
int32_t mfr_model_state_count(int32_t optimizer);
/* Bytes mfr_model_alloc, mfr_model_alloc_implicit (with implicit) and
 * mfr_model_alloc_state(n_state) would allocate, or 0 on overflow. */
size_t mfr_model_bytes(int32_t k, int32_t bias, int implicit, int32_t n_state, int32_t n_users,
                       int32_t n_items);

/* One factor or moment array of the model. */
struct mfr_model_array {
    const char *name;
    float *a;     /* rows x k_pad */
    int32_t rows;
    int nonneg;   /* a second moment: must be >= 0 */
    int users;    /* a user array (n_users rows), else an item array */
};
#define MFR_MODEL_MAX_ARRAYS (4 + MFR_MODEL_N_GROUPS * MFR_MODEL_MAX_STATE)
/* The model's arrays in file order: U, V, the users' and the items' state
 * arrays, then with implicit feedback P, Y and Y's state arrays. A state
 * array is named for its slot and group: mU, vU, mV, vV, mY, vY (Adam's
 * first and second moments; the second, "v", is never negative). Returns
 * how many. */
int mfr_model_arrays(const mfr_model *m, struct mfr_model_array out[MFR_MODEL_MAX_ARRAYS]);
/* dst (the model of users [user_lo, user_lo + dst->n_users) of src's,
 * with src's items: an MPI rank's part) gets those rows of src's user
 * arrays (none when src is a shell), all of its item arrays, its
 * configuration, step count and provenance. MFR_ERR_MISMATCH when the
 * shapes are not a part of src. */
int mfr_model_copy_part(mfr_model *dst, const mfr_model *src, int32_t user_lo, mfr_error *err);

/* The model file inside other files (a checkpoint holds whole model files,
 * train/checkpoint.c). */
/* Checks m as mfr_model_save does, then writes its model file's bytes to f;
 * folds every byte into *outer too when outer is not NULL. `path` names
 * the file in messages. */
int mfr_model_write(const mfr_model *m, FILE *f, const char *path, uint64_t *outer,
                    mfr_error *err);
/* The bytes mfr_model_write writes for a saveable m. */
uint64_t mfr_model_file_size(const mfr_model *m);
/* Reads and verifies (as mfr_model_load) a model file of exactly `len`
 * bytes from f's position; bytes after it are the caller's. */
int mfr_model_read(FILE *f, const char *path, uint64_t len, mfr_model **out, mfr_error *err);
/* mfr_model_read without the user arrays' rows: *out is a shell
 * (mfr_model_alloc_shell) with every id, the item arrays and the header's
 * configuration and provenance; user_off[a] is where array a's first row
 * lies from the model file's first byte (for every array a of
 * mfr_model_arrays). verify: the user rows are read, hashed and checked as
 * mfr_model_read does, but not kept, so the model's checksum and every
 * value are verified; else they are skipped (a seek) and the checksum is
 * not checked: the caller has the file verified elsewhere (an MPI rank:
 * rank 0 verified it). */
int mfr_model_read_shell(FILE *f, const char *path, uint64_t len, bool verify, mfr_model **out,
                         uint64_t user_off[MFR_MODEL_MAX_ARRAYS], mfr_error *err);
/* Reads the rows [user_lo, user_lo + dst->n_users) of every user array of
 * the model file that starts at byte `base` of f (user_off: from
 * mfr_model_read_shell of that file) into dst, a model of those users
 * with the same arrays, each value checked as mfr_model_read checks it
 * (finite; second moments >= 0). Leaves f's position anywhere. */
int mfr_model_read_user_rows(FILE *f, const char *path, uint64_t base,
                             const uint64_t user_off[MFR_MODEL_MAX_ARRAYS], mfr_model *dst, int32_t user_lo,
                             mfr_error *err);
/* The checksum the n bytes of a model file before its last 8 should end
 * with, by the format version they name (tests and fuzzers reseal edited
 * files with it). */
uint64_t mfr_model_file_sum(const unsigned char *file, size_t n);

#endif
