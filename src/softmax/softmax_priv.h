/*
 * softmax_priv.h — the softmax (deep retrieval) model of the Colab that
 * mfrec rebuilds: a user is described by what they rated, an MLP maps that
 * description to a user embedding u (dim k), and a softmax over every movie
 * (logits s_i = <u, V_i>) predicts one movie the user rated.
 *
 * Names used in this module:
 *   M = n_items, k = the user/movie output dimension, F = a user's feature
 *   movies (their training movies less the label), D0 = the input width
 *   (dim_movie + dim_genre + dim_year of the active features),
 *   L = n_hidden (hidden ReLU layers), layer L is the final linear layer.
 *
 * One example (user u, label y, features F):
 *   x_m = mean_{j in F} E_movie[j]                       (dim_movie)
 *   x_g = mean over the genres of the movies in F, one entry per
 *         (movie, genre) pair as in the Colab       E_genre (dim_genre)
 *   x_y = mean_{j in F} E_year[bucket(year_j)]            (dim_year)
 *   h_0 = [x_m, x_g, x_y];  h_{l+1} = relu(W_l h_l + b_l) for l < L
 *   u   = W_L h_L + b_L                                   (k)
 *   s_i = <u, V_i>, loss = logsumexp(s) - s_y
 * A feature whose list is empty (no genre bits) contributes zeros.
 *
 * Parameters live in one flat float array (struct mfr_sm_layout gives each
 * block's offset, rows and columns; every block starts on a 16-float
 * boundary and the padding stays zero), so that the gradient and the
 * optimizers treat the model as one vector.
 */
#ifndef MFR_SOFTMAX_PRIV_H
#define MFR_SOFTMAX_PRIV_H

#include <stdint.h>

#include "common_priv.h"
#include "mfrec_softmax.h"
#include "sm_kern_priv.h"

/* The configuration, feature bits and optimizers are public
 * (include/mfrec_softmax.h). */
enum { MFR_SM_MAX_WIDTH = 4096 };

/* One block of the flat parameter vector: rows x cols floats at offset. */
struct mfr_sm_block {
    int64_t offset;
    int32_t rows, cols;
};

/* Blocks of the flat parameter vector. W[l] is out x in (row o holds the
 * weights into output o), b[l] is 1 x out. */
struct mfr_sm_layout {
    /* rows 0 when the feature is off; with tie_tables, movie is V's block */
    struct mfr_sm_block movie, genre, year;
    struct mfr_sm_block W[MFR_SOFTMAX_MAX_HIDDEN + 1], b[MFR_SOFTMAX_MAX_HIDDEN + 1];
    struct mfr_sm_block V; /* M x k, the output embeddings */
    int32_t n_layers;      /* n_hidden + 1 */
    int32_t width[MFR_SOFTMAX_MAX_HIDDEN + 2]; /* width[0] = D0, width[n_layers] = k */
    int32_t max_width;
    int64_t n_params;      /* the vector's length, a multiple of 16 */
};

/* The layout for a configuration and data shape; MFR_ERR_INVALID when a
 * size overflows. n_genres / n_years are the bucket counts. */
int mfr_sm_layout_make(const mfr_softmax_config *c, int32_t n_items, int32_t n_genres,
                       int32_t n_years, struct mfr_sm_layout *out, mfr_error *err);

/* What the features of one dataset are: per item, its genre ids and its
 * year bucket (0: unknown, else year - year_min + 1). */
struct mfr_sm_items {
    int32_t n_items, n_genres, n_years, year_min;
    int32_t max_genres;    /* most genres of one item, at least 1 */
    int32_t *year_bucket;  /* n_items */
    int32_t *genre_ptr;    /* n_items + 1 */
    int32_t *genre;        /* genre ids of item i at genre_ptr[i] .. genre_ptr[i+1] */
};

/* Builds from per-item genre bits and years (0 unknown). */
int mfr_sm_items_build(int32_t n_items, int32_t n_genres, const uint32_t *genre_bits,
                       const int32_t *years, struct mfr_sm_items *out, mfr_error *err);
void mfr_sm_items_free(struct mfr_sm_items *it);

/* Per-example scratch: activations of every layer and the logits. Sized
 * by mfr_sm_scratch_floats for a layout. */
struct mfr_sm_scratch {
    float *h[MFR_SOFTMAX_MAX_HIDDEN + 2]; /* h[0] input .. h[n_layers] = u; pre-activation kept in z */
    float *z[MFR_SOFTMAX_MAX_HIDDEN + 2];
    float *dh, *dz;                  /* max_width each */
    float *s;                        /* M logits, then their gradient */
    int32_t *ids;                    /* the caller's: max_genres x (most features) ids */
    const struct mfr_sm_kern *kern;  /* mfr_sm_kern_best() after bind; may be replaced */
};
int64_t mfr_sm_scratch_floats(const struct mfr_sm_layout *lay);
/* Points the float arrays into buf (mfr_sm_scratch_floats floats); the
 * caller sets sc->ids (items.max_genres times the longest feature list). */
void mfr_sm_scratch_bind(struct mfr_sm_scratch *sc, const struct mfr_sm_layout *lay, float *buf);

/* The user embedding of a feature list (feature movies F[0..n_f)):
 * forward through the pooling and the MLP; the result is sc->h[n_layers]
 * (k floats). Pure: reads theta, writes only sc. */
void mfr_sm_forward(const struct mfr_sm_layout *lay, const struct mfr_sm_items *it,
                    uint32_t features, const float *theta, const int32_t *F, int32_t n_f,
                    struct mfr_sm_scratch *sc);

/* The MLP alone, from the pooled input sc->h[0] (width[0] floats, filled
 * by the caller) to sc->h[n_layers]; mfr_sm_forward's second half. */
void mfr_sm_mlp_forward(const struct mfr_sm_layout *lay, const float *theta,
                        struct mfr_sm_scratch *sc);

/* One example's loss (natural log, double) and, when grad is not NULL,
 * its gradient times `weight` added into grad (same layout as theta).
 * Pools the movies F[j] with keep[j] != 0 (keep NULL: every one; a
 * feature dropout's mask, sm_train.c), then the MLP. negatives
 * MFR_SOFTMAX_NEG_UNRATED: the logits of all of F's movies, kept or not,
 * are minus infinity (out of the softmax; F must not hold the label). */
double mfr_sm_example(const struct mfr_sm_layout *lay, const struct mfr_sm_items *it,
                      uint32_t features, int32_t negatives, const float *theta,
                      const int32_t *F, int32_t n_f, const uint8_t *keep, int32_t label,
                      float weight, float *grad, struct mfr_sm_scratch *sc);
/* Feature dropout: is position p of the trainer's rows (row_ptr[u] + j)
 * kept in the features of epoch e (1-based)? Dropped iff
 * mfr_rng_uniform(seed, MFR_RNG_SM_DROPOUT, e << 40 | p) < rate; rate 0
 * keeps everything. */
int mfr_sm_dropout_keep(uint64_t seed, double rate, int64_t e, int64_t p);
/* Leaves the listed movies out of a softmax: s[list[j]] = -infinity, whose
 * exponential the cross-entropy kernels take as exactly 0 (so their
 * gradient is 0 too). */
void mfr_sm_mask_logits(float *s, const int32_t *list, int32_t n);

/* Initializes theta (n_params floats, zeroed by the caller): embedding
 * tables and V ~ truncated N(0, 1/dim) (the Colab's embedding columns),
 * the MLP's weights ~ truncated N(0, 1/out) / 10 (the Colab's hidden
 * layers; hidden_init MFR_SOFTMAX_INIT_COLAB) or N(0, 2/in) (He's, for
 * ReLU layers; MFR_SOFTMAX_INIT_HE), truncated at 2 std,
 * biases 0; each value a pure function of (seed, block, index). */
void mfr_sm_init(const struct mfr_sm_layout *lay, uint64_t seed, int32_t hidden_init,
                 float *theta);

/* A trained network as a model holds it (struct mfr_model.sm): what the
 * fold-in of a new user and the model file need. */
struct mfr_sm_net {
    mfr_softmax_config cfg;
    struct mfr_sm_layout lay;
    struct mfr_sm_items items;
    float *theta;   /* lay.n_params floats, aligned */
    int64_t epochs; /* softmax epochs trained */
};

/* sm_net.c. Builds a net from its parts (copies items and theta). */
int mfr_sm_net_make(const mfr_softmax_config *cfg, const struct mfr_sm_items *items,
                    const float *theta, int64_t epochs, struct mfr_sm_net **out, mfr_error *err);
void mfr_sm_net_free(struct mfr_sm_net *net);
int mfr_sm_net_copy(const struct mfr_sm_net *src, struct mfr_sm_net **out, mfr_error *err);
/* The model file's softmax section (docs/MODEL_FORMAT.md): its length,
 * its bytes (into buf of that length), and the reader, which trusts
 * nothing (n_items and k must match the model's; path names the file). */
uint64_t mfr_sm_net_bytes(const struct mfr_sm_net *net);
void mfr_sm_net_encode(const struct mfr_sm_net *net, unsigned char *buf);
int mfr_sm_net_decode(const unsigned char *buf, uint64_t len, int32_t n_items, int32_t k,
                      const char *path, struct mfr_sm_net **out, mfr_error *err);
/* The user embedding (k floats) of the movies F[0..n_f): one forward pass
 * with scratch allocated here. MFR_ERR_INVALID for a bad index. */
int mfr_sm_net_user(const struct mfr_sm_net *net, const int32_t *F, int32_t n_f, float *out,
                    mfr_error *err);

/* The trainer (sm_train.c, the module's only OpenMP code).
 *
 * Examples: each epoch, every user with at least two training movies gives
 * one example whose label is their movie number
 * rng(seed, MFR_RNG_SM_LABEL, epoch << 32 | u) mod n_u (a fresh draw per
 * epoch, as the Colab's select_random draws per batch), the rest being the
 * features; with all_pairs, every one of the user's n_u leave-one-out pairs.
 * Users are cut into fixed groups of batch_users consecutive users (one
 * group: full batch); each epoch visits the groups in a seeded order
 * (rng(seed, MFR_RNG_SM_ORDER, epoch << 32 | i), Fisher-Yates), one
 * optimizer step per group, on the mean loss of its examples. With
 * feature_dropout, each epoch leaves some of each user's movies out of
 * the user's features (mfr_sm_dropout_keep with the 1-based epoch). */
typedef struct mfr_sm_trainer mfr_sm_trainer;

/* Copies what it needs: the configuration, the training pairs (users[x],
 * items[x]) for x < n (duplicates are the caller's concern), which of them
 * may be labels (ratings[x] >= label_min_rating; ratings may be NULL when
 * that is 0), the items' feature ids. MFR_ERR_INVALID when no user has an
 * example. theta0 (may be NULL: mfr_sm_init) is the starting vector of
 * mfr_sm_trainer_layout(tr)->n_params floats. n_threads 0: OpenMP's
 * default. */
int mfr_sm_trainer_create(const mfr_softmax_config *cfg, int32_t n_users,
                          const struct mfr_sm_items *items, const int32_t *users,
                          const int32_t *items_of, const float *ratings, int64_t n,
                          const float *theta0, int n_threads, mfr_sm_trainer **out,
                          mfr_error *err);
/* The same, with `beside` bytes the caller holds through the run (its
 * ratings and dataset) counted against cfg->max_memory: before anything
 * large is allocated, MFR_ERR_TOO_LARGE when they and the trainer's own
 * bytes exceed it. */
int mfr_sm_trainer_create_beside(const mfr_softmax_config *cfg, int32_t n_users,
                                 const struct mfr_sm_items *items, const int32_t *users,
                                 const int32_t *items_of, const float *ratings, int64_t n,
                                 const float *theta0, int n_threads, double beside,
                                 mfr_sm_trainer **out, mfr_error *err);
/* The trainer's bytes and, with `beside`, the run's estimated peak. */
uint64_t mfr_sm_trainer_memory_bytes(const mfr_sm_trainer *tr);
uint64_t mfr_sm_trainer_peak_bytes(const mfr_sm_trainer *tr);
void mfr_sm_trainer_destroy(mfr_sm_trainer *tr);
/* One epoch; *loss (may be NULL) is the mean cross-entropy of its
 * examples (before each step's update). MFR_ERR_DIVERGED when a batch's
 * loss is not finite (that step's update is not applied). */
int mfr_sm_trainer_epoch(mfr_sm_trainer *tr, double *loss, mfr_error *err);
/* One optimizer step on group g (for tests and the PyTorch comparison):
 * labels drawn for epoch `epoch` (0-based: the epochs done before it),
 * feature dropout for epoch + 1 (1-based). */
int mfr_sm_trainer_step_group(mfr_sm_trainer *tr, int64_t epoch, int32_t g, double *loss,
                              mfr_error *err);
const struct mfr_sm_layout *mfr_sm_trainer_layout(const mfr_sm_trainer *tr);
const float *mfr_sm_trainer_params(const mfr_sm_trainer *tr);
int32_t mfr_sm_trainer_n_groups(const mfr_sm_trainer *tr);
int32_t mfr_sm_trainer_n_shards(const mfr_sm_trainer *tr); /* configured; unused */
int64_t mfr_sm_trainer_epochs(const mfr_sm_trainer *tr);
const mfr_softmax_config *mfr_sm_trainer_config(const mfr_sm_trainer *tr);
const struct mfr_sm_items *mfr_sm_trainer_items(const mfr_sm_trainer *tr);
/* The users' embeddings from all their training movies, into U (n_users
 * rows of stride k_pad, the first k floats of each written); in parallel,
 * one user per iteration. */
int mfr_sm_trainer_user_vectors(const mfr_sm_trainer *tr, float *U, int32_t k_pad,
                                mfr_error *err);
/* The label of user u in epoch e (its index into the user's training
 * movies in ascending order), n_u >= 1. */
int32_t mfr_sm_label_index(uint64_t seed, int64_t epoch, int32_t u, int64_t n_u);
/* Checkpoints (checkpoint.c). The optimizer state: its arrays (1 for
 * Adagrad's accumulator, 2 for Adam's moments; n_params floats each, into
 * state[0..n)) as the return value, and the steps taken. */
int32_t mfr_sm_trainer_state(const mfr_sm_trainer *tr, const float *state[2], int64_t *steps);
/* Replaces the parameters, the optimizer state (as mfr_sm_trainer_state
 * gives it), the epochs done and the steps taken: the trainer then goes on
 * exactly as the one they were taken from. */
void mfr_sm_trainer_restore(mfr_sm_trainer *tr, const float *theta, const float *const state[2],
                            int64_t epoch, int64_t steps);
/* FNV-1a of the training pairs by user (row offsets, then the movies in
 * row order, little-endian), and their count: another split differs. */
uint64_t mfr_sm_trainer_pairs_hash(const mfr_sm_trainer *tr, int64_t *n_pairs);
/* The kernel set's name ("avx512", "avx2" or "ref"). */
const char *mfr_sm_trainer_kernels_name(const mfr_sm_trainer *tr);
/* The steps of the last epoch (see mfr_softmax_trainer_steps). */
int32_t mfr_sm_trainer_steps(const mfr_sm_trainer *tr, mfr_softmax_step *out, int32_t cap);
/* Replaces the kernel set (tests: the reference against the AVX2 set). */
void mfr_sm_trainer_set_kernels(mfr_sm_trainer *tr, const struct mfr_sm_kern *kern);
/* fuse = 0: V's rows are updated in the separate pass even in a step of
 * one chunk (tests: the fused update against the separate one). */
void mfr_sm_trainer_set_fuse(mfr_sm_trainer *tr, int fuse);

/* sm_api.c, for sm_checkpoint.c: the public trainer's core, and its last
 * epoch's loss as a resumed run restores it. */
mfr_sm_trainer *mfr_softmax_trainer_core(mfr_softmax_trainer *t);
/* Records src's data source (directory, rating file and how it was read)
 * instead of the dataset's the trainer was made from: a resume from data
 * in another place writes the model the uninterrupted run would. */
int mfr_softmax_trainer_keep_source(mfr_softmax_trainer *t, const mfr_model *src, mfr_error *err);
const mfr_sm_trainer *mfr_softmax_trainer_core_const(const mfr_softmax_trainer *t);
void mfr_softmax_trainer_set_last_loss(mfr_softmax_trainer *t, double loss);

#endif
