/*
 * sm_model.c — the softmax model's shape and math: its configuration
 * (defaults, validation), the flat parameter layout, the per-item feature
 * ids, the seeded initialization and one example's forward and backward
 * pass (built from the kernel set in the scratch, sm_kern_priv.h). No threads here: the
 * trainer (sm_train.c) runs examples in parallel, each into its own slot,
 * and sums their gradients in example order.
 */
#include <math.h>
#include <string.h>

#include "rng_priv.h"
#include "softmax_priv.h"

/* The Colab's construction (movie 35, genre 3, year 2, one hidden layer of
 * 35, Adagrad) with the ReLU hidden layers and the separate output table
 * the issue asks for; lr and batch are the values tuned on ML-100K
 * (docs/SOFTMAX.md). */
void mfr_softmax_config_default(mfr_softmax_config *c)
{
    if (!c) return;
    memset(c, 0, sizeof *c);
    c->k = 35;
    c->features = MFR_SOFTMAX_FEAT_MOVIES;
    c->dim_movie = 35;
    c->dim_genre = 3;
    c->dim_year = 2;
    c->n_hidden = 1;
    c->hidden[0] = 35;
    c->optimizer = MFR_SOFTMAX_OPT_ADAGRAD;
    c->lr = 0.1;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->eps = 1e-8;
    c->adagrad_init = 0.1;
    c->batch_users = 0;
    c->n_shards = 0;
    c->all_pairs = 0;
    c->seed = 300;
}

static int range_i(mfr_error *err, const char *name, int64_t v, int64_t lo, int64_t hi)
{
    if (v < lo || v > hi)
        return mfr_seterr(err, MFR_ERR_INVALID, "softmax %s must be in %lld..%lld, got %lld", name,
                          (long long)lo, (long long)hi, (long long)v);
    return MFR_OK;
}

static int range_d(mfr_error *err, const char *name, double v, double lo, double hi, bool open_lo)
{
    if (!isfinite(v) || v < lo || v > hi || (open_lo && v == lo))
        return open_lo ? mfr_seterr(err, MFR_ERR_INVALID,
                                    "softmax %s must be above %g and at most %g, got %g", name, lo,
                                    hi, v)
                       : mfr_seterr(err, MFR_ERR_INVALID, "softmax %s must be in %g..%g, got %g",
                                    name, lo, hi, v);
    return MFR_OK;
}

int mfr_softmax_config_validate(const mfr_softmax_config *c, mfr_error *err)
{
    int st;
    if (!c) return mfr_seterr(err, MFR_ERR_INVALID, "softmax config is NULL");
    if ((st = range_i(err, "k", c->k, 1, MFR_SM_MAX_WIDTH))) return st;
    if (!(c->features & MFR_SOFTMAX_FEAT_MOVIES) || (c->features & ~7u))
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "softmax features must include movies (bits 1|2|4), got %u", c->features);
    if ((st = range_i(err, "dim_movie", c->dim_movie, 1, MFR_SM_MAX_WIDTH))) return st;
    if ((c->features & MFR_SOFTMAX_FEAT_GENRES) &&
        (st = range_i(err, "dim_genre", c->dim_genre, 1, MFR_SM_MAX_WIDTH)))
        return st;
    if ((c->features & MFR_SOFTMAX_FEAT_YEARS) &&
        (st = range_i(err, "dim_year", c->dim_year, 1, MFR_SM_MAX_WIDTH)))
        return st;
    if ((st = range_i(err, "hidden layer count", c->n_hidden, 0, MFR_SOFTMAX_MAX_HIDDEN))) return st;
    for (int l = 0; l < c->n_hidden; l++)
        if ((st = range_i(err, "hidden width", c->hidden[l], 1, MFR_SM_MAX_WIDTH))) return st;
    if ((st = range_i(err, "optimizer", c->optimizer, 0, 1))) return st;
    if ((st = range_d(err, "lr", c->lr, 0.0, 1e6, true))) return st;
    if ((st = range_d(err, "beta1", c->beta1, 0.0, 0.999999, false))) return st;
    if ((st = range_d(err, "beta2", c->beta2, 0.0, 0.999999, false))) return st;
    if ((st = range_d(err, "eps", c->eps, 0.0, 1.0, true))) return st;
    if ((st = range_d(err, "adagrad_init", c->adagrad_init, 0.0, 1e6, false))) return st;
    if ((st = range_i(err, "batch_users", c->batch_users, 0, INT32_MAX))) return st;
    if ((st = range_i(err, "n_shards", c->n_shards, 0, 4096))) return st;
    if ((st = range_i(err, "all_pairs", c->all_pairs, 0, 1))) return st;
    if ((st = range_i(err, "kernels", c->kernels, MFR_KERNELS_AUTO, MFR_KERNELS_AVX512))) return st;
    if ((st = range_i(err, "hidden_init", c->hidden_init, MFR_SOFTMAX_INIT_COLAB,
                      MFR_SOFTMAX_INIT_HE)))
        return st;
    if ((st = range_i(err, "tie_tables", c->tie_tables, 0, 1))) return st;
    if ((st = range_d(err, "weight_decay", c->weight_decay, 0.0, 1e6, false))) return st;
    if ((st = range_d(err, "label_min_rating", c->label_min_rating, 0.0, 1e9, false))) return st;
    if ((st = range_i(err, "negatives", c->negatives, MFR_SOFTMAX_NEG_ALL,
                      MFR_SOFTMAX_NEG_UNRATED)))
        return st;
    if (!isfinite(c->feature_dropout) || c->feature_dropout < 0.0 || c->feature_dropout >= 1.0)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "softmax feature_dropout (--feature-dropout) must be at least 0 and "
                          "below 1, got %g",
                          c->feature_dropout);
    if (c->lr * c->weight_decay >= 1.0)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "softmax --lr * --weight-decay must be below 1 (each step scales the "
                          "parameters by 1 - lr * weight_decay), got %g * %g",
                          c->lr, c->weight_decay);
    if (c->tie_tables && c->dim_movie != c->k)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "softmax --tie needs --dim-movie equal to --dim (the movie table is V), "
                          "got --dim-movie %d and --dim %d",
                          (int)c->dim_movie, (int)c->k);
    return MFR_OK;
}

/* Appends a rows x cols block at *off, rounded up to 16 floats. */
static bool put_block(struct mfr_sm_block *b, int64_t *off, int32_t rows, int32_t cols)
{
    int64_t n;
    if (__builtin_mul_overflow((int64_t)rows, (int64_t)cols, &n)) return false;
    n = (n + 15) / 16 * 16;
    *b = (struct mfr_sm_block){.offset = *off, .rows = rows, .cols = cols};
    return !__builtin_add_overflow(*off, n, off) && *off < (INT64_C(1) << 40);
}

int mfr_sm_layout_make(const mfr_softmax_config *c, int32_t n_items, int32_t n_genres,
                       int32_t n_years, struct mfr_sm_layout *out, mfr_error *err)
{
    struct mfr_sm_layout L;
    memset(&L, 0, sizeof L);
    int64_t off = 0;
    /* tied: the movie block is V's, placed below */
    bool ok = c->tie_tables || put_block(&L.movie, &off, n_items, c->dim_movie);
    int32_t d0 = c->dim_movie;
    if (c->features & MFR_SOFTMAX_FEAT_GENRES) {
        ok = ok && put_block(&L.genre, &off, n_genres, c->dim_genre);
        d0 += c->dim_genre;
    }
    if (c->features & MFR_SOFTMAX_FEAT_YEARS) {
        ok = ok && put_block(&L.year, &off, n_years, c->dim_year);
        d0 += c->dim_year;
    }
    L.n_layers = c->n_hidden + 1;
    L.width[0] = d0;
    for (int l = 0; l < c->n_hidden; l++) L.width[l + 1] = c->hidden[l];
    L.width[L.n_layers] = c->k;
    L.max_width = 0;
    for (int l = 0; l <= L.n_layers; l++)
        if (L.width[l] > L.max_width) L.max_width = L.width[l];
    for (int l = 0; l < L.n_layers; l++) {
        ok = ok && put_block(&L.W[l], &off, L.width[l + 1], L.width[l]);
        ok = ok && put_block(&L.b[l], &off, 1, L.width[l + 1]);
    }
    ok = ok && put_block(&L.V, &off, n_items, c->k);
    if (c->tie_tables) L.movie = L.V;
    if (!ok)
        return mfr_seterr(err, MFR_ERR_TOO_LARGE,
                          "softmax model: %d items x the configured widths overflow", n_items);
    L.n_params = off;
    *out = L;
    return MFR_OK;
}

int mfr_sm_items_build(int32_t n_items, int32_t n_genres, const uint32_t *genre_bits,
                       const int32_t *years, struct mfr_sm_items *out, mfr_error *err)
{
    memset(out, 0, sizeof *out);
    if (n_items < 1 || n_genres < 0 || n_genres > 32)
        return mfr_seterr(err, MFR_ERR_INVALID, "softmax items: %d items, %d genres", n_items,
                          n_genres);
    int32_t ymin = 0, ymax = 0;
    for (int32_t i = 0; i < n_items; i++) {
        if (years[i] <= 0) continue;
        if (ymin == 0 || years[i] < ymin) ymin = years[i];
        if (years[i] > ymax) ymax = years[i];
    }
    if (ymax - ymin > 10000)
        return mfr_seterr(err, MFR_ERR_DATA, "softmax years: release years span %d..%d", ymin,
                          ymax);
    int64_t n_pairs = 0;
    for (int32_t i = 0; i < n_items; i++) n_pairs += __builtin_popcount(genre_bits[i]);
    out->year_bucket = mfr_malloc(sizeof(int32_t) * (size_t)n_items);
    out->genre_ptr = mfr_malloc(sizeof(int32_t) * ((size_t)n_items + 1));
    out->genre = mfr_malloc(sizeof(int32_t) * (size_t)(n_pairs > 0 ? n_pairs : 1));
    if (!out->year_bucket || !out->genre_ptr || !out->genre) {
        mfr_sm_items_free(out);
        return mfr_seterr(err, MFR_ERR_NOMEM, "softmax items: out of memory");
    }
    out->n_items = n_items;
    out->n_genres = n_genres > 0 ? n_genres : 1;
    out->year_min = ymin;
    out->n_years = ymin ? ymax - ymin + 2 : 1;
    int32_t p = 0;
    for (int32_t i = 0; i < n_items; i++) {
        out->year_bucket[i] = years[i] > 0 ? years[i] - ymin + 1 : 0;
        out->genre_ptr[i] = p;
        for (int32_t g = 0; g < n_genres; g++)
            if (genre_bits[i] >> g & 1u) out->genre[p++] = g;
    }
    out->genre_ptr[n_items] = p;
    out->max_genres = 1;
    for (int32_t i = 0; i < n_items; i++)
        if (out->genre_ptr[i + 1] - out->genre_ptr[i] > out->max_genres)
            out->max_genres = out->genre_ptr[i + 1] - out->genre_ptr[i];
    return MFR_OK;
}

void mfr_sm_items_free(struct mfr_sm_items *it)
{
    if (!it) return;
    free(it->year_bucket);
    free(it->genre_ptr);
    free(it->genre);
    memset(it, 0, sizeof *it);
}

int64_t mfr_sm_scratch_floats(const struct mfr_sm_layout *lay)
{
    int64_t w = (lay->max_width + 15) / 16 * 16;
    int64_t m = ((int64_t)lay->V.rows + 15) / 16 * 16;
    /* h and z for every level, dh, dz, then the logits. */
    return 2 * w * (lay->n_layers + 1) + 2 * w + m;
}

void mfr_sm_scratch_bind(struct mfr_sm_scratch *sc, const struct mfr_sm_layout *lay, float *buf)
{
    int64_t w = (lay->max_width + 15) / 16 * 16;
    memset(sc, 0, sizeof *sc);
    for (int l = 0; l <= lay->n_layers; l++) {
        sc->h[l] = buf;
        sc->z[l] = buf + w;
        buf += 2 * w;
    }
    sc->dh = buf;
    sc->dz = buf + w;
    sc->s = buf + 2 * w;
    sc->kern = mfr_sm_kern_best();
}

/* The genre ids of the movies in F (those with keep[j] != 0 when keep is
 * not NULL), one per (movie, genre) pair, written to out (which holds
 * max_genres n_f ids); returns the count. */
static int32_t gather_genres(const struct mfr_sm_items *it, const int32_t *F, int32_t n_f,
                             const uint8_t *keep, int32_t *out)
{
    int32_t n = 0;
    for (int32_t j = 0; j < n_f; j++)
        if (!keep || keep[j])
            for (int32_t p = it->genre_ptr[F[j]]; p < it->genre_ptr[F[j] + 1]; p++)
                out[n++] = it->genre[p];
    return n;
}

/* Pools feature blocks in [movies | genres | years] order into h0 (or,
 * backward, spreads d into the tables' gradients), over the movies F[j]
 * with keep[j] != 0 (keep NULL: all of F). The lists (the kept movies
 * when some are dropped, their genres, their year buckets) are built on
 * the fly into `ids` (max_genres n_f ints), one table at a time. */
static void pool_features(const struct mfr_sm_layout *lay, const struct mfr_sm_items *it,
                          uint32_t features, const float *theta, const int32_t *F, int32_t n_f,
                          const uint8_t *keep, float *h0, float *grad, const float *d,
                          int32_t *ids, const struct mfr_sm_kern *kern)
{
    int32_t col = 0;
    const struct mfr_sm_block *blk[3] = {&lay->movie, &lay->genre, &lay->year};
    for (int f = 0; f < 3; f++) {
        if (!(features & (1u << f))) continue;
        const int32_t *list = F;
        int32_t n = n_f;
        if (f == 1) {
            n = gather_genres(it, F, n_f, keep, ids);
            list = ids;
        } else if (f == 2 || keep) {
            n = 0;
            for (int32_t j = 0; j < n_f; j++)
                if (!keep || keep[j]) ids[n++] = f == 2 ? it->year_bucket[F[j]] : F[j];
            list = ids;
        }
        int32_t dim = blk[f]->cols;
        if (grad)
            kern->pool_back(grad + blk[f]->offset, dim, list, n, d + col);
        else
            kern->pool(h0 + col, theta + blk[f]->offset, dim, list, n);
        col += dim;
    }
}

void mfr_sm_forward(const struct mfr_sm_layout *lay, const struct mfr_sm_items *it,
                    uint32_t features, const float *theta, const int32_t *F, int32_t n_f,
                    struct mfr_sm_scratch *sc)
{
    pool_features(lay, it, features, theta, F, n_f, NULL, sc->h[0], NULL, NULL, sc->ids,
                  sc->kern);
    mfr_sm_mlp_forward(lay, theta, sc);
}

void mfr_sm_mlp_forward(const struct mfr_sm_layout *lay, const float *theta,
                        struct mfr_sm_scratch *sc)
{
    for (int l = 0; l < lay->n_layers; l++) {
        int32_t n_out = lay->width[l + 1], n_in = lay->width[l];
        bool last = l + 1 == lay->n_layers;
        float *z = last ? sc->h[l + 1] : sc->z[l + 1];
        sc->kern->linear(z, theta + lay->W[l].offset, theta + lay->b[l].offset, sc->h[l], n_out,
                          n_in);
        if (!last) sc->kern->relu(sc->h[l + 1], z, n_out);
    }
}

void mfr_sm_mask_logits(float *s, const int32_t *list, int32_t n)
{
    for (int32_t j = 0; j < n; j++) s[list[j]] = -INFINITY;
}

double mfr_sm_example(const struct mfr_sm_layout *lay, const struct mfr_sm_items *it,
                      uint32_t features, int32_t negatives, const float *theta,
                      const int32_t *F, int32_t n_f, const uint8_t *keep, int32_t label,
                      float weight, float *grad, struct mfr_sm_scratch *sc)
{
    int32_t L = lay->n_layers, M = lay->V.rows, k = lay->V.cols;
    pool_features(lay, it, features, theta, F, n_f, keep, sc->h[0], NULL, NULL, sc->ids,
                  sc->kern);
    mfr_sm_mlp_forward(lay, theta, sc);
    const float *u = sc->h[L];
    sc->kern->logits(sc->s, u, theta + lay->V.offset, M, k);
    if (negatives == MFR_SOFTMAX_NEG_UNRATED) mfr_sm_mask_logits(sc->s, F, n_f);
    double loss = sc->kern->xent(sc->s, M, label, weight);
    if (!grad) return loss;
    /* a holds dL/dh_{l+1} going down; b is the free buffer. */
    float *a = sc->dh, *b = sc->dz, *t;
    sc->kern->logits_back(a, grad + lay->V.offset, sc->s, u, theta + lay->V.offset, M, k);
    for (int l = L - 1; l >= 0; l--) {
        int32_t n_out = lay->width[l + 1], n_in = lay->width[l];
        if (l + 1 < L) {
            sc->kern->relu_back(b, sc->z[l + 1], a, n_out);
            t = a, a = b, b = t;
        }
        sc->kern->linear_back(b, grad + lay->W[l].offset, grad + lay->b[l].offset,
                               theta + lay->W[l].offset, sc->h[l], a, n_out, n_in);
        t = a, a = b, b = t;
    }
    pool_features(lay, it, features, theta, F, n_f, keep, NULL, grad, a, sc->ids, sc->kern);
    return loss;
}

/* A truncated N(0, 1) draw (|z| <= 2, as TF's truncated_normal): draws
 * (index, t) for t = 0, 1, ... until one falls inside; a pure function of
 * (seed, stream, index). */
static double trunc_normal(uint64_t seed, uint64_t stream, uint64_t index)
{
    for (uint64_t t = 0; t < 64; t++) {
        double z = mfr_rng_normal(seed, stream, index * 128 + 2 * t);
        if (fabs(z) <= 2.0) return z;
    }
    return 0.0; /* probability 0.0455^64 */
}

static void init_block(const struct mfr_sm_block *b, uint64_t seed, uint64_t which, double std,
                       float *theta)
{
    int64_t n = (int64_t)b->rows * b->cols;
    for (int64_t x = 0; x < n; x++)
        theta[b->offset + x] =
            (float)(std * trunc_normal(seed, MFR_RNG_SM_INIT, which << 40 | (uint64_t)x));
}

void mfr_sm_init(const struct mfr_sm_layout *lay, uint64_t seed, int32_t hidden_init,
                 float *theta)
{
    const struct mfr_sm_block *emb[4] = {&lay->movie, &lay->genre, &lay->year, &lay->V};
    /* a tied movie table is V: drawn once, as V */
    bool tied = lay->movie.offset == lay->V.offset;
    for (int e = tied ? 1 : 0; e < 4; e++)
        if (emb[e]->rows > 0) init_block(emb[e], seed, (uint64_t)e, 1.0 / sqrt(emb[e]->cols), theta);
    for (int l = 0; l < lay->n_layers; l++)
        init_block(&lay->W[l], seed, (uint64_t)(8 + l),
                   hidden_init == MFR_SOFTMAX_INIT_HE ? sqrt(2.0 / lay->W[l].cols)
                                                      : 0.1 / sqrt(lay->W[l].rows),
                   theta);
}
