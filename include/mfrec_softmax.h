/*
 * mfrec_softmax.h — the softmax (deep retrieval) model of the Colab that
 * mfrec rebuilds, beside matrix factorization (docs/SOFTMAX.md).
 *
 * A user is the mean of learned embeddings of the movies they rated in
 * training (optionally also of those movies' genres and release years, each
 * its own table); the concatenation goes through hidden ReLU layers and a
 * final linear layer to a user embedding u of dimension k; the logits of
 * every movie are <u, V_i> and the loss is the softmax cross-entropy of one
 * rated movie, the label, given the others. Training is deterministic: the
 * parameters are byte-identical for any thread count.
 *
 * The trained model is an mfr_model of kind MFR_MODEL_KIND_SOFTMAX: its
 * user vectors are the users' embeddings computed from all their training
 * movies, its item vectors are V, so recommending, similar movies, ranking
 * metrics, export and projections work as for matrix factorization; it does
 * not predict ratings. Include after mfrec.h.
 */
#ifndef MFREC_SOFTMAX_H
#define MFREC_SOFTMAX_H

#include <stdint.h>

#include "mfrec.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Input features (mfr_softmax_config.features bits). */
enum mfr_softmax_feature {
    MFR_SOFTMAX_FEAT_MOVIES = 1, /**< the rated movies (required) */
    MFR_SOFTMAX_FEAT_GENRES = 2, /**< their genres, one entry per (movie, genre) */
    MFR_SOFTMAX_FEAT_YEARS = 4,  /**< their release years, one bucket per year */
};

enum mfr_softmax_optimizer {
    MFR_SOFTMAX_OPT_ADAGRAD = 0, /**< the Colab's: TF1 Adagrad, accumulator starts at adagrad_init */
    MFR_SOFTMAX_OPT_ADAM = 1,    /**< PyTorch's Adam (lr, beta1, beta2, eps) */
};

/** How the hidden layers' weights start (mfr_softmax_config.hidden_init). */
enum mfr_softmax_init {
    MFR_SOFTMAX_INIT_COLAB = 0, /**< truncated N(0, 1/out) / 10, the Colab's */
    MFR_SOFTMAX_INIT_HE = 1,    /**< truncated N(0, 2/in), He's (for ReLU layers) */
};

/** Which movies a training example's softmax normalizes over
 *  (mfr_softmax_config.negatives). */
enum mfr_softmax_negatives {
    MFR_SOFTMAX_NEG_ALL = 0,     /**< every movie (the Colab's) */
    /** every movie but the user's other training movies: they are not
     *  negatives, and at recommendation time they are left out anyway */
    MFR_SOFTMAX_NEG_UNRATED = 1,
};

#define MFR_SOFTMAX_MAX_HIDDEN 4

/** What a model is (mfr_model_kind). */
enum mfr_model_kind {
    MFR_MODEL_KIND_MF = 0,      /**< matrix factorization: predicts ratings */
    MFR_MODEL_KIND_SOFTMAX = 1, /**< softmax retrieval: ranks movies, no ratings */
};

/** The softmax model's configuration; fill with mfr_softmax_config_default. */
typedef struct mfr_softmax_config {
    int32_t k;           /**< output dimension (user and movie embeddings), default 35 */
    uint32_t features;   /**< enum mfr_softmax_feature bits, default movies */
    int32_t dim_movie;   /**< movie feature embedding width, default 35 */
    int32_t dim_genre;   /**< genre embedding width, default 3 */
    int32_t dim_year;    /**< year embedding width, default 2 */
    int32_t n_hidden;    /**< hidden ReLU layers, 0..MFR_SOFTMAX_MAX_HIDDEN, default 1 */
    int32_t hidden[MFR_SOFTMAX_MAX_HIDDEN]; /**< their widths, default {35} */
    int32_t optimizer;   /**< enum mfr_softmax_optimizer, default Adagrad */
    double lr;           /**< learning rate */
    double beta1, beta2, eps; /**< Adam's */
    double adagrad_init; /**< Adagrad's initial accumulator, default 0.1 (TF1) */
    int32_t batch_users; /**< users per mini-batch step; 0: one full-batch step per epoch */
    /** kept for model files and checkpoints; 0: 16. Since the trainer lost
     *  its per-shard buffers it changes neither the model nor the speed */
    int32_t n_shards;
    int32_t all_pairs;   /**< 1: every leave-one-out pair per epoch; 0: one label per user */
    uint64_t seed;       /**< initialization, labels and batch order, default 300 */
    /** enum mfr_kernels: the kernel set (the same bits either way; not
     *  recorded in model files), default MFR_KERNELS_AUTO */
    int32_t kernels;
    /** enum mfr_softmax_init for the weights of every layer of the MLP
     *  (recorded in model files), default MFR_SOFTMAX_INIT_COLAB */
    int32_t hidden_init;
    /** 1: the movie input table is the output table V (the Colab's tied
     *  embeddings; needs dim_movie == k); 0: two tables (default) */
    int32_t tie_tables;
    /** decoupled weight decay (AdamW's, for either optimizer): before each
     *  step every parameter is multiplied by 1 - lr * weight_decay; 0: none
     *  (default) */
    double weight_decay;
    /** labels only from the movies a user rated at least this (the
     *  features stay every rated movie): ranking counts ratings of 4 and
     *  up as relevant, and training on such labels ranks better; 0: every
     *  rated movie (default). Compared in the ratings' float precision, so
     *  a rating read as 3.3 reaches a threshold of 3.3 */
    double label_min_rating;
    /** enum mfr_softmax_negatives: MFR_SOFTMAX_NEG_UNRATED gives the logits
     *  of the example's feature movies (the user's training movies but the
     *  label) minus infinity, so the loss pushes down only movies the user
     *  did not rate; default MFR_SOFTMAX_NEG_ALL (recorded in model files) */
    int32_t negatives;
    /** input dropout (Mult-DAE's): in each epoch each of a user's training
     *  movies is left out of that user's features (every table: its movie
     *  row, genres and year bucket) with this probability, drawn once per
     *  (user, movie, epoch) from the seed; labels, the softmax and
     *  negatives are unchanged, and nothing is dropped at inference. In
     *  [0, 1); 0: off (default; recorded in model files when set) */
    double feature_dropout;
    /** bytes the run may hold: the trainer's parameters, optimizer state,
     *  training rows and buffers, with the training ratings and the
     *  dataset beside them; checked before they are allocated
     *  (MFR_ERR_TOO_LARGE naming the need). 0: the machine's physical
     *  memory (default). Describes the machine: never recorded in model
     *  files or checkpoints, and free to change on resume */
    uint64_t max_memory;
} mfr_softmax_config;

MFR_API void mfr_softmax_config_default(mfr_softmax_config *cfg);
/** MFR_OK or MFR_ERR_INVALID with a message that names the field and value. */
MFR_API int mfr_softmax_config_validate(const mfr_softmax_config *cfg, mfr_error *err);

typedef struct mfr_softmax_trainer mfr_softmax_trainer;

/**
 * A trainer for the training ratings `train` (a rating is a movie the
 * user watched; its value matters only to label_min_rating) of dataset ds, whose genres and
 * release years give the optional features. n_threads 0: OMP_NUM_THREADS
 * or the core count; at most MFR_MAX_THREADS (MFR_ERR_INVALID); it never
 * changes the result. split_spec (may be NULL; at most 65536 bytes, what
 * a model file holds) is recorded in the model. Errors: MFR_ERR_INVALID, MFR_ERR_NOMEM,
 * MFR_ERR_TOO_LARGE, MFR_ERR_MISMATCH (ratings of another dataset).
 */
MFR_API int mfr_softmax_trainer_create(const mfr_softmax_config *cfg, const mfr_dataset *ds,
                                       const mfr_ratings *train, const char *split_spec,
                                       int n_threads, mfr_softmax_trainer **out,
                                       mfr_error *err);
MFR_API void mfr_softmax_trainer_destroy(mfr_softmax_trainer *tr);
/** One epoch; *loss (may be NULL) is the mean cross-entropy (nats) of its
 *  examples. MFR_ERR_DIVERGED when a step's loss is not finite. */
MFR_API int mfr_softmax_trainer_epoch(mfr_softmax_trainer *tr, double *loss, mfr_error *err);
/** The model as trained so far (a new mfr_model the caller destroys). */
MFR_API int mfr_softmax_trainer_model(const mfr_softmax_trainer *tr, mfr_model **out,
                                      mfr_error *err);
/** Parameters in the model, and the configured shard count (n_shards, 0
 *  as 16, capped by the batch's users; no longer used by the trainer). */
MFR_API int64_t mfr_softmax_trainer_n_params(const mfr_softmax_trainer *tr);
/** The trainer's bytes (parameters, optimizer state, training rows and
 *  buffers), and the run's estimated peak with the ratings and dataset
 *  beside them (what cfg.max_memory is compared with); 0 for NULL. */
MFR_API uint64_t mfr_softmax_trainer_memory_bytes(const mfr_softmax_trainer *tr);
MFR_API uint64_t mfr_softmax_trainer_peak_bytes(const mfr_softmax_trainer *tr);
MFR_API int32_t mfr_softmax_trainer_n_shards(const mfr_softmax_trainer *tr);

/** The mean cross-entropy of the last epoch (0 before the first; a
 *  resumed trainer's is the checkpoint's); NaN for NULL, which no trainer's
 *  loss is. */
MFR_API double mfr_softmax_trainer_last_loss(const mfr_softmax_trainer *tr);

/**
 * Checkpoints (docs/CHECKPOINTS.md): as mfr_trainer_save_checkpoint for a
 * softmax trainer. The file holds the model (mfr_softmax_trainer_model),
 * the optimizer state and its step count, the last loss, a fingerprint of
 * the training pairs and `run` (its best_epoch must be 0: a softmax run has
 * no early stopping). Atomic, and the same bytes for any thread count
 * except the run's times.
 */
MFR_API int mfr_softmax_trainer_save_checkpoint(const mfr_softmax_trainer *tr,
                                                const mfr_run_state *run, const char *path,
                                                mfr_error *err);
/**
 * A softmax trainer that continues the run saved in `c`: later epochs give
 * the bits the uninterrupted run would have, for any n_threads. `cfg` must
 * equal the checkpoint's configuration in every field but `kernels` and
 * `n_shards` (which change nothing; the trainer keeps the checkpoint's
 * n_shards, so its models record what the uninterrupted run's do), `ds`
 * be its dataset, `split_spec` its split (as the run wrote it or spelled
 * otherwise: "random:.1" is "random:0.1"; the model keeps the run's
 * spelling) and `train` give the same training pairs; otherwise MFR_ERR_MISMATCH naming every difference
 * ("--lr is 0.1, the checkpoint's 0.01; ..."), also for a checkpoint of a
 * matrix-factorization run. Other errors as mfr_softmax_trainer_create.
 */
MFR_API int mfr_softmax_trainer_resume(const mfr_checkpoint *c, const mfr_softmax_config *cfg,
                                       const mfr_dataset *ds, const mfr_ratings *train,
                                       const char *split_spec, int n_threads,
                                       mfr_softmax_trainer **out, mfr_error *err);

/** The kernel set in use: "avx512", "avx2" or "ref" (static; cfg.kernels
 *  MFR_KERNELS_AUTO: the widest set this CPU has), NULL for NULL. */
MFR_API const char *mfr_softmax_trainer_kernels_name(const mfr_softmax_trainer *tr);

/** One optimizer step of an epoch (mfr_softmax_trainer_steps). */
typedef struct mfr_softmax_step {
    int64_t step;     /**< optimizer steps taken since creation, this one included (1-based) */
    int64_t examples; /**< examples of the step (its loss is their mean) */
    int32_t group;    /**< the user group (users group*batch_users ..), 0 for full batch */
    double loss;      /**< mean cross-entropy (nats) of the examples, before the update */
} mfr_softmax_step;

/**
 * The optimizer steps of the last epoch, in the order they ran (groups
 * without an example take no step and are not listed): writes the first
 * min(count, cap) into out (may be NULL when cap is 0) and returns count,
 * at most the number of user groups; 0 before the first epoch, -1 for a
 * NULL trainer. For per-step logs and the PyTorch comparison
 * (docs/SOFTMAX.md). Not thread-safe against a running epoch.
 */
MFR_API int32_t mfr_softmax_trainer_steps(const mfr_softmax_trainer *tr, mfr_softmax_step *out,
                                          int32_t cap);

/** The kind of a model (enum mfr_model_kind), -1 for NULL. */
MFR_API int32_t mfr_model_kind(const mfr_model *m);
/** A softmax model's configuration; MFR_ERR_INVALID for another kind. */
MFR_API int mfr_model_softmax_config(const mfr_model *m, mfr_softmax_config *out,
                                     mfr_error *err);
/**
 * The user embedding (k floats into out) of someone who watched the movies
 * items[0..n) (dense indices): the softmax model's fold-in, one forward
 * pass, no solve. MFR_ERR_INVALID for another kind or a bad index.
 */
MFR_API int mfr_model_softmax_user(const mfr_model *m, const int32_t *items, int32_t n,
                                   float *out, mfr_error *err);

#ifdef __cplusplus
}
#endif

#endif
