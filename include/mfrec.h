/*
 * mfrec.h — the public API of mfrec, a deterministic multithreaded
 * matrix-factorization trainer and movie recommender.
 *
 * This is the only installed header. Every exported name starts with `mfr_`,
 * every macro and enum value with `MFR_`. Long-lived objects are opaque
 * handles; destroy functions accept NULL.
 *
 * Errors: functions that can fail return an `int` status (`MFR_OK` = 0,
 * errors negative, see `enum mfr_status`) and, when given a non-NULL
 * `mfr_error *err`, fill it with the status and a message that names the
 * cause (file and line for parse errors, field and value for bad
 * configuration). The library never prints and never calls exit().
 *
 * Thread-safety: handles are not internally locked. Const accessors on a
 * handle may be called from several threads at once; anything that takes a
 * non-const handle must not run concurrently with other calls on it.
 *
 * Determinism: for one build, one dataset, one seed and one configuration,
 * training produces bit-identical factors and model files for every thread
 * count (see docs/DETERMINISM.md).
 */
#ifndef MFREC_H
#define MFREC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define MFR_API
#else
#define MFR_API __attribute__((visibility("default")))
#endif

#define MFR_VERSION_STRING "0.1.0"

/* ------------------------------------------------------------------ */
/* Status codes and errors                                              */
/* ------------------------------------------------------------------ */

/** Status codes. Values are never reused. */
enum mfr_status {
    MFR_OK = 0,
    MFR_ERR_INVALID = -1,     /**< bad argument or configuration value */
    MFR_ERR_IO = -2,          /**< a file could not be opened, read or written */
    MFR_ERR_PARSE = -3,       /**< malformed input file (message names file:line) */
    MFR_ERR_NOMEM = -4,       /**< an allocation failed */
    MFR_ERR_TOO_LARGE = -5,   /**< a size overflows or exceeds the memory budget */
    MFR_ERR_CORRUPT = -6,     /**< model file truncated, corrupted or foreign */
    MFR_ERR_DIVERGED = -7,    /**< the loss became non-finite */
    MFR_ERR_MISMATCH = -8,    /**< model and dataset (or arrays) do not match */
    MFR_ERR_UNSUPPORTED = -9, /**< feature not available on this CPU or build */
    MFR_ERR_NOT_FOUND = -10,  /**< a named entity (id, title, file) does not exist */
    MFR_ERR_STATE = -11,      /**< call made in the wrong order */
};

/**
 * Returns a static, human-readable name for a status code; never NULL
 * ("unknown status" for values that are not codes).
 */
MFR_API const char *mfr_status_str(int status);

/** Filled by functions that fail; `message` is always NUL-terminated. */
typedef struct mfr_error {
    int status;
    char message[512];
} mfr_error;

/* ------------------------------------------------------------------ */
/* Ratings and datasets                                                 */
/* ------------------------------------------------------------------ */

/**
 * A set of ratings in dense 0-based indices: user u in [0, n_users),
 * item i in [0, n_items), a float rating and the file's timestamp.
 */
typedef struct mfr_ratings mfr_ratings;

/** A dataset: ratings, dense id maps, movie and user metadata. */
typedef struct mfr_dataset mfr_dataset;

/** Options for reading rating files. */
typedef struct mfr_load_options {
    float min_rating; /**< smallest accepted rating (default 1) */
    float max_rating; /**< largest accepted rating (default 5) */
} mfr_load_options;

/** Fills `opt` with the defaults documented above. */
MFR_API void mfr_load_options_default(mfr_load_options *opt);

/**
 * Loads a dataset in the MovieLens 100K layout from directory `dir`:
 * `u.data` (required, tab separated: user, item, rating, timestamp),
 * `u.item` (optional, pipe separated, latin-1 titles converted to UTF-8)
 * and `u.user` (optional, pipe separated). Raw ids are re-indexed densely
 * from 0 in ascending id order over the union of the ids of all three files.
 * `opt` may be NULL for the defaults. On failure *out is NULL and nothing
 * is allocated.
 */
MFR_API int mfr_dataset_load(const char *dir, const mfr_load_options *opt,
                             mfr_dataset **out, mfr_error *err);
MFR_API void mfr_dataset_destroy(mfr_dataset *ds);

MFR_API int32_t mfr_dataset_n_users(const mfr_dataset *ds);
MFR_API int32_t mfr_dataset_n_items(const mfr_dataset *ds);
/** All ratings of u.data, in file order. Owned by the dataset. */
MFR_API const mfr_ratings *mfr_dataset_ratings(const mfr_dataset *ds);
/** The directory the dataset was loaded from (absolute when possible). */
MFR_API const char *mfr_dataset_dir(const mfr_dataset *ds);
/** A 64-bit fingerprint of the id maps and all ratings. */
MFR_API uint64_t mfr_dataset_fingerprint(const mfr_dataset *ds);

/** Raw (file) id of dense user index u, or -1 when out of range. */
MFR_API int64_t mfr_dataset_user_id(const mfr_dataset *ds, int32_t u);
MFR_API int64_t mfr_dataset_item_id(const mfr_dataset *ds, int32_t i);
/** Dense index of a raw id, or -1 when the id is unknown. */
MFR_API int32_t mfr_dataset_user_index(const mfr_dataset *ds, int64_t raw_id);
MFR_API int32_t mfr_dataset_item_index(const mfr_dataset *ds, int64_t raw_id);

/** UTF-8 title of item i ("" when u.item is absent or lists no title). */
MFR_API const char *mfr_dataset_item_title(const mfr_dataset *ds, int32_t i);
/** Release date text as in u.item ("" when unknown). */
MFR_API const char *mfr_dataset_item_date(const mfr_dataset *ds, int32_t i);
/** Release year, or 0 when unknown. */
MFR_API int32_t mfr_dataset_item_year(const mfr_dataset *ds, int32_t i);
/** Bit g set when item i has genre g (g < mfr_dataset_n_genres). */
MFR_API uint32_t mfr_dataset_item_genres(const mfr_dataset *ds, int32_t i);
MFR_API int32_t mfr_dataset_n_genres(const mfr_dataset *ds);
MFR_API const char *mfr_dataset_genre_name(const mfr_dataset *ds, int32_t g);
/** User metadata from u.user; age 0, sex '?', "" when absent. */
MFR_API int32_t mfr_dataset_user_age(const mfr_dataset *ds, int32_t u);
MFR_API char mfr_dataset_user_sex(const mfr_dataset *ds, int32_t u);
MFR_API const char *mfr_dataset_user_occupation(const mfr_dataset *ds, int32_t u);
MFR_API const char *mfr_dataset_user_zip(const mfr_dataset *ds, int32_t u);

/**
 * Reads a rating file in u.data format (`path`), mapping raw ids through the
 * dataset's id maps. An unknown id, a malformed line or a rating outside the
 * dataset's range is an error naming the file and line.
 */
MFR_API int mfr_dataset_read_ratings(const mfr_dataset *ds, const char *path,
                                     mfr_ratings **out, mfr_error *err);

MFR_API int64_t mfr_ratings_count(const mfr_ratings *r);
/** Reads rating `idx` (0 <= idx < count); any output pointer may be NULL. */
MFR_API void mfr_ratings_get(const mfr_ratings *r, int64_t idx, int32_t *user,
                             int32_t *item, float *rating, int64_t *timestamp);
/**
 * Writes `r` in u.data format with the dataset's raw ids, atomically
 * (temporary file, fsync, rename): on failure nothing is left at `path`.
 */
MFR_API int mfr_ratings_write(const mfr_ratings *r, const mfr_dataset *ds,
                              const char *path, mfr_error *err);
MFR_API void mfr_ratings_destroy(mfr_ratings *r);

/* ------------------------------------------------------------------ */
/* Splits                                                               */
/* ------------------------------------------------------------------ */

typedef struct mfr_split mfr_split;

/**
 * Splits a dataset into a training and a test (validation) part.
 * `spec` is one of:
 *   "sklearn:SEED[:TEST_FRACTION]"  exactly the rows of scikit-learn's
 *        train_test_split(ratings, test_size=FRACTION (0.25),
 *        random_state=SEED), in the order sklearn returns them;
 *   "u1".."u5", "ua", "ub"  the canonical files of the dataset directory;
 *   "random:FRACTION"  the project's own seeded holdout (uses `seed`).
 * The default of the command-line tool is "sklearn:300".
 */
MFR_API int mfr_split_create(const mfr_dataset *ds, const char *spec, uint64_t seed,
                             mfr_split **out, mfr_error *err);
MFR_API const mfr_ratings *mfr_split_train(const mfr_split *s);
MFR_API const mfr_ratings *mfr_split_test(const mfr_split *s);
/** The normalized spec string, e.g. "sklearn:300:0.25". */
MFR_API const char *mfr_split_spec(const mfr_split *s);
MFR_API void mfr_split_destroy(mfr_split *s);

/* ------------------------------------------------------------------ */
/* Synthetic data                                                       */
/* ------------------------------------------------------------------ */

typedef struct mfr_synth_options {
    int32_t n_users;     /**< default 943 */
    int32_t n_items;     /**< default 1682 */
    int64_t n_ratings;   /**< default 100000; at most n_users * n_items */
    int32_t rank;        /**< planted rank, default 8 */
    float noise;         /**< std of Gaussian noise added before rounding, default 0.5 */
    uint64_t seed;       /**< default 1 */
    double item_zipf;    /**< Zipf exponent of item popularity, default 1.0 */
    double user_zipf;    /**< Zipf exponent of user activity, default 0.8 */
} mfr_synth_options;

MFR_API void mfr_synth_options_default(mfr_synth_options *opt);
/**
 * Writes a planted low-rank dataset in the ML-100K layout (u.data, u.item,
 * u.user) into directory `dir` (created if missing). Ratings are integers
 * 1..5; every user and every item gets at least one rating when
 * n_ratings >= max(n_users, n_items). Deterministic in the options.
 */
MFR_API int mfr_synth_write(const mfr_synth_options *opt, const char *dir, mfr_error *err);

/* ------------------------------------------------------------------ */
/* NumPy arrays                                                         */
/* ------------------------------------------------------------------ */

/**
 * Reads a 2-D little-endian float32 (`<f4`) C-order NumPy .npy file.
 * On success *data is malloc'd (free with mfr_free).
 */
MFR_API int mfr_npy_read_f32(const char *path, int64_t *rows, int64_t *cols,
                             float **data, mfr_error *err);
/** Writes a 2-D float32 .npy file atomically. */
MFR_API int mfr_npy_write_f32(const char *path, int64_t rows, int64_t cols,
                              const float *data, mfr_error *err);
/** Frees memory returned by the library (NULL is fine). */
MFR_API void mfr_free(void *p);

/* ------------------------------------------------------------------ */
/* Configuration                                                        */
/* ------------------------------------------------------------------ */

enum mfr_reduce {
    MFR_REDUCE_DEFAULT = 0, /**< the measured faster strategy (item owners) */
    MFR_REDUCE_SHARD = 1,   /**< per-shard item buffers summed in shard order */
    MFR_REDUCE_OWNER = 2,   /**< residuals, then per-item sums over a CSC copy */
};

enum mfr_kernels {
    MFR_KERNELS_AUTO = 0, /**< AVX2/FMA when the CPU has it, else portable */
    MFR_KERNELS_REF = 1,  /**< portable scalar reference */
    MFR_KERNELS_AVX2 = 2, /**< AVX2 + FMA (error when unsupported) */
};

/**
 * Training configuration. Fill with mfr_config_default() first; new fields
 * are only ever added at the end.
 */
typedef struct mfr_config {
    int32_t k;           /**< embedding dimension, 1..4096, default 30 */
    double lr;           /**< Adam learning rate, default 1e-3 */
    double beta1;        /**< default 0.9 */
    double beta2;        /**< default 0.999 */
    double eps;          /**< default 1e-8 */
    double init_std;     /**< std of the N(0, std^2) init, default 1.0 */
    uint64_t seed;       /**< initialization seed, default 300 */
    int32_t n_shards;    /**< 0: derived from the data (never from threads) */
    int32_t reduce;      /**< enum mfr_reduce, default MFR_REDUCE_DEFAULT */
    int32_t kernels;     /**< enum mfr_kernels, default MFR_KERNELS_AUTO */
    int32_t n_threads;   /**< 0: OMP_NUM_THREADS, else the core count */
    uint64_t max_memory; /**< bytes; 0: the machine's physical memory */
} mfr_config;

MFR_API void mfr_config_default(mfr_config *cfg);
/** Checks every field; the message names the field and the value. */
MFR_API int mfr_config_validate(const mfr_config *cfg, mfr_error *err);

/* ------------------------------------------------------------------ */
/* Models                                                               */
/* ------------------------------------------------------------------ */

/** Embeddings, optimizer state, configuration and id maps. */
typedef struct mfr_model mfr_model;

typedef struct mfr_metrics {
    int64_t n;    /**< ratings evaluated */
    double mse;
    double rmse;
    double mae;
} mfr_metrics;

/**
 * Loads a model file, verifying magic, version, sizes and checksum; a
 * truncated, corrupted or foreign file is MFR_ERR_CORRUPT.
 */
MFR_API int mfr_model_load(const char *path, mfr_model **out, mfr_error *err);
/** Writes the model atomically (temporary file, fsync, rename). */
MFR_API int mfr_model_save(const mfr_model *m, const char *path, mfr_error *err);
MFR_API void mfr_model_destroy(mfr_model *m);

MFR_API int32_t mfr_model_k(const mfr_model *m);
MFR_API int32_t mfr_model_n_users(const mfr_model *m);
MFR_API int32_t mfr_model_n_items(const mfr_model *m);
/** Completed training epochs (Adam steps). */
MFR_API int64_t mfr_model_epochs(const mfr_model *m);
/** Copies the configuration the model was trained with. */
MFR_API void mfr_model_config(const mfr_model *m, mfr_config *cfg);
/** Split spec and data directory recorded at training time. */
MFR_API const char *mfr_model_split_spec(const mfr_model *m);
MFR_API const char *mfr_model_data_dir(const mfr_model *m);
MFR_API uint64_t mfr_model_data_fingerprint(const mfr_model *m);
/** Checksum of the factors (FNV-1a 64 over U then V, k floats per row). */
MFR_API uint64_t mfr_model_checksum(const mfr_model *m);
/** Copies user u's (item i's) k-float embedding into out. */
MFR_API int mfr_model_user_vector(const mfr_model *m, int32_t u, float *out);
MFR_API int mfr_model_item_vector(const mfr_model *m, int32_t i, float *out);
MFR_API int64_t mfr_model_user_id(const mfr_model *m, int32_t u);
MFR_API int64_t mfr_model_item_id(const mfr_model *m, int32_t i);
/** Prediction for dense (u, i). */
MFR_API float mfr_model_predict(const mfr_model *m, int32_t u, int32_t i);
/**
 * MSE, RMSE and MAE of the model on `r` (summed in double, in rating
 * order). Returns MFR_ERR_MISMATCH when an index is out of range.
 */
MFR_API int mfr_model_evaluate(const mfr_model *m, const mfr_ratings *r,
                               mfr_metrics *out, mfr_error *err);
/** MFR_OK when the dataset's id maps and fingerprint match the model's. */
MFR_API int mfr_model_check_dataset(const mfr_model *m, const mfr_dataset *ds,
                                    mfr_error *err);

/* ------------------------------------------------------------------ */
/* Training                                                             */
/* ------------------------------------------------------------------ */

typedef struct mfr_trainer mfr_trainer;

/**
 * Creates a trainer for `train` (ratings of `ds`), recording `split_spec`
 * (may be NULL) in the model. Validates the configuration, computes every
 * buffer size with overflow checks and refuses (MFR_ERR_TOO_LARGE, with the
 * needed size) before allocating when they exceed cfg->max_memory.
 * Initializes the factors from the seed.
 */
MFR_API int mfr_trainer_create(const mfr_config *cfg, const mfr_dataset *ds,
                               const mfr_ratings *train, const char *split_spec,
                               mfr_trainer **out, mfr_error *err);
MFR_API void mfr_trainer_destroy(mfr_trainer *tr);

/**
 * Replaces the initial factors (before the first step) with row-major
 * arrays U (n_users x k) and V (n_items x k). Shapes must match.
 */
MFR_API int mfr_trainer_set_factors(mfr_trainer *tr, const float *U, int64_t u_rows,
                                    int64_t u_cols, const float *V, int64_t v_rows,
                                    int64_t v_cols, mfr_error *err);

/**
 * Runs one full-batch epoch: gradients, deterministic reduction, one Adam
 * step. `loss` (may be NULL) receives the training MSE before the step.
 * MFR_ERR_DIVERGED when it is not finite (the step is not applied).
 */
MFR_API int mfr_trainer_step(mfr_trainer *tr, double *loss);

/** The model being trained (owned by the trainer, valid until destroy). */
MFR_API const mfr_model *mfr_trainer_model(const mfr_trainer *tr);

/** Details of the trainer's last failure ("" when none). */
MFR_API const char *mfr_trainer_errmsg(const mfr_trainer *tr);

MFR_API int32_t mfr_trainer_n_shards(const mfr_trainer *tr);
MFR_API int32_t mfr_trainer_n_threads(const mfr_trainer *tr);
/** "avx2" or "ref". */
MFR_API const char *mfr_trainer_kernels_name(const mfr_trainer *tr);
/** "shard" or "owner". */
MFR_API const char *mfr_trainer_reduce_name(const mfr_trainer *tr);
/** Bytes of data, factors, optimizer state and scratch allocated. */
MFR_API uint64_t mfr_trainer_memory_bytes(const mfr_trainer *tr);

/* ------------------------------------------------------------------ */
/* Recommendations: scores, top-k, neighbours, fold-in (recommend.c)    */
/* ------------------------------------------------------------------ */

/* (section owned by src/recommend.c) */

/* ------------------------------------------------------------------ */
/* Ranking metrics (metrics.c)                                          */
/* ------------------------------------------------------------------ */

/* (section owned by src/metrics.c) */

/* ------------------------------------------------------------------ */
/* Embedding analysis: norms, PCA projection (analysis.c)               */
/* ------------------------------------------------------------------ */

/* (section owned by src/analysis.c) */

/** Compiler and flags the library was built with. */
MFR_API const char *mfr_build_info(void);

#ifdef __cplusplus
}
#endif

#endif /* MFREC_H */
