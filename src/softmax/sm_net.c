/*
 * sm_net.c — the trained softmax network inside a model: copies, the
 * model file's softmax section (written and read here, framed by
 * model_io.c) and the fold-in of a new user (one forward pass).
 *
 * Section layout (little-endian, docs/MODEL_FORMAT.md):
 *   u32 version: 1, 2 when a field of version 2 is set, 3 when the
 *             field of version 3 is, 4 when that of version 4 is, 5 when
 *             that of version 5 is (so a model without them keeps the
 *             bytes it had before they existed)
 *   i32 x 15: k, features, dim_movie, dim_genre, dim_year, n_hidden,
 *             hidden[0..3], optimizer, batch_users, n_shards, all_pairs,
 *             items' n_genres
 *   i32 x 3:  items' n_years, year_min; hidden_init
 *   version 2 and up: i32 tie_tables
 *   f64 x 5:  lr, beta1, beta2, eps, adagrad_init
 *   version 2 and up: f64 weight_decay
 *   version 3 and up: f64 label_min_rating
 *   version 4 and up: i32 negatives
 *   version 5: f64 feature_dropout
 *   u64 seed, i64 epochs, i64 n_params
 *   per item: i32 year bucket, u32 genre bits
 *   f32 x n_params: the parameter vector (layout of softmax_priv.h)
 */
#include <math.h>
#include <string.h>

#include "bytes_priv.h"
#include "softmax_priv.h"

enum { SM_N_I32 = 18, SM_N_I32_V2 = 19, SM_N_F64 = 5 };

/* The section version a configuration needs, and the fixed part's bytes. */
static uint32_t sm_version(const mfr_softmax_config *c)
{
    if (c->feature_dropout != 0.0) return 5u;
    if (c->negatives != MFR_SOFTMAX_NEG_ALL) return 4u;
    if (c->label_min_rating != 0.0) return 3u;
    return c->tie_tables || c->weight_decay != 0.0 ? 2u : 1u;
}
static uint64_t sm_fixed(uint32_t version)
{
    if (version >= 5) return sm_fixed(4) + 8u;
    if (version >= 4) return sm_fixed(3) + 4u;
    return version >= 2 ? 4u + 4u * SM_N_I32_V2 + 8u * (SM_N_F64 + version - 1) + 24u
                        : 4u + 4u * SM_N_I32 + 8u * SM_N_F64 + 24u;
}

void mfr_sm_net_free(struct mfr_sm_net *net)
{
    if (!net) return;
    mfr_sm_items_free(&net->items);
    mfr_aligned_free(net->theta);
    free(net);
}

/* Genre bits of item i from its id list. */
static uint32_t genre_bits(const struct mfr_sm_items *it, int32_t i)
{
    uint32_t b = 0;
    for (int32_t p = it->genre_ptr[i]; p < it->genre_ptr[i + 1]; p++) b |= 1u << it->genre[p];
    return b;
}

/* Items from (bits, bucket) pairs with the given bucket count. */
static int items_from(int32_t n_items, int32_t n_genres, int32_t n_years, int32_t year_min,
                      const uint32_t *bits, const int32_t *bucket, struct mfr_sm_items *out,
                      mfr_error *err)
{
    /* mfr_sm_items_build takes years: bucket b > 0 is year year_min + b - 1. */
    int32_t *years = mfr_malloc(sizeof(int32_t) * (size_t)n_items);
    if (!years) return mfr_seterr(err, MFR_ERR_NOMEM, "softmax model: out of memory");
    for (int32_t i = 0; i < n_items; i++) years[i] = bucket[i] ? year_min + bucket[i] - 1 : 0;
    int st = mfr_sm_items_build(n_items, n_genres, bits, years, out, err);
    free(years);
    if (st) return st;
    /* The stored bucket count wins (a bucket range wider than the items'
     * years, from the training data, is kept). */
    out->n_years = n_years;
    out->year_min = year_min;
    for (int32_t i = 0; i < n_items; i++) out->year_bucket[i] = bucket[i];
    return MFR_OK;
}

int mfr_sm_net_make(const mfr_softmax_config *cfg, const struct mfr_sm_items *items,
                    const float *theta, int64_t epochs, struct mfr_sm_net **out, mfr_error *err)
{
    *out = NULL;
    struct mfr_sm_net *net = mfr_calloc(1, sizeof *net);
    if (!net) return mfr_seterr(err, MFR_ERR_NOMEM, "softmax model: out of memory");
    net->cfg = *cfg;
    net->epochs = epochs;
    int32_t M = items->n_items;
    uint32_t *bits = mfr_malloc(sizeof(uint32_t) * (size_t)M);
    int st = bits ? MFR_OK : mfr_seterr(err, MFR_ERR_NOMEM, "softmax model: out of memory");
    for (int32_t i = 0; st == MFR_OK && i < M; i++) bits[i] = genre_bits(items, i);
    if (st == MFR_OK)
        st = items_from(M, items->n_genres, items->n_years, items->year_min, bits,
                        items->year_bucket, &net->items, err);
    free(bits);
    if (st == MFR_OK)
        st = mfr_sm_layout_make(cfg, M, items->n_genres, items->n_years, &net->lay, err);
    if (st == MFR_OK) {
        net->theta = mfr_aligned_calloc(sizeof(float) * (size_t)net->lay.n_params);
        if (!net->theta) st = mfr_seterr(err, MFR_ERR_NOMEM, "softmax model: out of memory");
    }
    if (st) {
        mfr_sm_net_free(net);
        return st;
    }
    memcpy(net->theta, theta, sizeof(float) * (size_t)net->lay.n_params);
    *out = net;
    return MFR_OK;
}

int mfr_sm_net_copy(const struct mfr_sm_net *src, struct mfr_sm_net **out, mfr_error *err)
{
    return mfr_sm_net_make(&src->cfg, &src->items, src->theta, src->epochs, out, err);
}

uint64_t mfr_sm_net_bytes(const struct mfr_sm_net *net)
{
    return sm_fixed(sm_version(&net->cfg)) + 8u * (uint64_t)net->items.n_items +
           4u * (uint64_t)net->lay.n_params;
}

void mfr_sm_net_encode(const struct mfr_sm_net *net, unsigned char *b)
{
    const mfr_softmax_config *c = &net->cfg;
    const struct mfr_sm_items *it = &net->items;
    int32_t iv[SM_N_I32_V2] = {c->k, (int32_t)c->features, c->dim_movie, c->dim_genre,
                               c->dim_year, c->n_hidden, c->hidden[0], c->hidden[1],
                               c->hidden[2], c->hidden[3], c->optimizer, c->batch_users,
                               c->n_shards, c->all_pairs, it->n_genres, it->n_years,
                               it->year_min, c->hidden_init, c->tie_tables};
    double dv[SM_N_F64] = {c->lr, c->beta1, c->beta2, c->eps, c->adagrad_init};
    uint32_t version = sm_version(c);
    mfr_put_le32(b, version), b += 4;
    for (int x = 0; x < (version >= 2 ? SM_N_I32_V2 : SM_N_I32); x++)
        mfr_put_le32(b, (uint32_t)iv[x]), b += 4;
    for (int x = 0; x < SM_N_F64; x++) mfr_put_le64(b, mfr_f64_bits(dv[x])), b += 8;
    if (version >= 2) mfr_put_le64(b, mfr_f64_bits(c->weight_decay)), b += 8;
    if (version >= 3) mfr_put_le64(b, mfr_f64_bits(c->label_min_rating)), b += 8;
    if (version >= 4) mfr_put_le32(b, (uint32_t)c->negatives), b += 4;
    if (version >= 5) mfr_put_le64(b, mfr_f64_bits(c->feature_dropout)), b += 8;
    mfr_put_le64(b, c->seed), b += 8;
    mfr_put_le64(b, (uint64_t)net->epochs), b += 8;
    mfr_put_le64(b, (uint64_t)net->lay.n_params), b += 8;
    for (int32_t i = 0; i < it->n_items; i++) {
        mfr_put_le32(b, (uint32_t)it->year_bucket[i]), b += 4;
        mfr_put_le32(b, genre_bits(it, i)), b += 4;
    }
    for (int64_t x = 0; x < net->lay.n_params; x++) mfr_put_le32(b, mfr_f32_bits(net->theta[x])), b += 4;
}

/* The fixed part (of sm_fixed(version) bytes, checked by the caller) into
 * cfg and the item shape; MFR_ERR_CORRUPT naming path. */
static int decode_fixed(const unsigned char *b, uint32_t version, const char *path,
                        mfr_softmax_config *c, int32_t shape[3], int64_t *epochs,
                        int64_t *n_params, mfr_error *err)
{
    b += 4;
    int32_t iv[SM_N_I32_V2] = {0};
    double dv[SM_N_F64];
    for (int x = 0; x < (version >= 2 ? SM_N_I32_V2 : SM_N_I32); x++)
        iv[x] = (int32_t)mfr_get_le32(b), b += 4;
    for (int x = 0; x < SM_N_F64; x++) dv[x] = mfr_bits_f64(mfr_get_le64(b)), b += 8;
    double wd = 0.0, lmr = 0.0, drop = 0.0;
    int32_t neg = MFR_SOFTMAX_NEG_ALL;
    if (version >= 2) wd = mfr_bits_f64(mfr_get_le64(b)), b += 8;
    if (version >= 3) lmr = mfr_bits_f64(mfr_get_le64(b)), b += 8;
    if (version >= 4) neg = (int32_t)mfr_get_le32(b), b += 4;
    if (version >= 5) drop = mfr_bits_f64(mfr_get_le64(b)), b += 8;
    mfr_softmax_config_default(c);
    c->feature_dropout = drop;
    c->weight_decay = wd;
    c->label_min_rating = lmr;
    c->negatives = neg;
    c->k = iv[0], c->features = (uint32_t)iv[1], c->dim_movie = iv[2], c->dim_genre = iv[3];
    c->dim_year = iv[4], c->n_hidden = iv[5];
    for (int l = 0; l < 4; l++) c->hidden[l] = iv[6 + l];
    c->optimizer = iv[10], c->batch_users = iv[11], c->n_shards = iv[12], c->all_pairs = iv[13];
    shape[0] = iv[14], shape[1] = iv[15], shape[2] = iv[16];
    c->hidden_init = iv[17];
    c->tie_tables = iv[18];
    c->lr = dv[0], c->beta1 = dv[1], c->beta2 = dv[2], c->eps = dv[3], c->adagrad_init = dv[4];
    c->seed = mfr_get_le64(b), b += 8;
    *epochs = (int64_t)mfr_get_le64(b), b += 8;
    *n_params = (int64_t)mfr_get_le64(b);
    mfr_error v = {0};
    if (mfr_softmax_config_validate(c, &v))
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s: softmax section: %s", path, v.message);
    if (sm_version(c) != version) /* version 2 to 5 only when a field of it is set */
        return mfr_seterr(err, MFR_ERR_CORRUPT,
                          "%s: softmax section version %u with tie_tables %d, weight_decay %g, "
                          "label_min_rating %g, negatives %d, feature_dropout %g",
                          path, version, (int)c->tie_tables, c->weight_decay, c->label_min_rating,
                          (int)c->negatives, c->feature_dropout);
    if (shape[0] < 1 || shape[0] > 32 || shape[1] < 1 || shape[1] > 10002 || shape[2] < 0 ||
        shape[2] > 1000000 || *epochs < 0)
        return mfr_seterr(err, MFR_ERR_CORRUPT,
                          "%s: softmax section: %d genres, %d year buckets from year %d, %lld "
                          "epochs",
                          path, shape[0], shape[1], shape[2], (long long)*epochs);
    return MFR_OK;
}

int mfr_sm_net_decode(const unsigned char *buf, uint64_t len, int32_t n_items, int32_t k,
                      const char *path, struct mfr_sm_net **out, mfr_error *err)
{
    *out = NULL;
    mfr_softmax_config c;
    int32_t shape[3] = {0, 0, 0};
    int64_t epochs = 0, n_params = 0;
    uint32_t version = len >= 4 ? mfr_get_le32(buf) : 0;
    if (len >= 4 && version > 5) /* the model's checksum held: a newer mfrec wrote it */
        return mfr_seterr(err, MFR_ERR_CORRUPT,
                          "%s: softmax section version %u is newer than this build reads (1 to 5): "
                          "the model was written by a newer mfrec",
                          path, version);
    if (len >= 4 && version < 1)
        return mfr_seterr(err, MFR_ERR_CORRUPT,
                          "%s: softmax section version %u is not 1, 2, 3, 4 or 5", path, version);
    if (len < 4 || len < sm_fixed(version))
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s: softmax section of %llu bytes is too short",
                          path, (unsigned long long)len);
    const uint64_t fixed = sm_fixed(version);
    int st = decode_fixed(buf, version, path, &c, shape, &epochs, &n_params, err);
    if (st) return st;
    struct mfr_sm_layout lay;
    if (c.k != k || mfr_sm_layout_make(&c, n_items, shape[0], shape[1], &lay, err) ||
        lay.n_params != n_params ||
        len != fixed + 8u * (uint64_t)n_items + 4u * (uint64_t)n_params)
        return mfr_seterr(err, MFR_ERR_CORRUPT,
                          "%s: softmax section (k %d, %lld parameters, %llu bytes) does not fit "
                          "the model (k %d, %d items)",
                          path, c.k, (long long)n_params, (unsigned long long)len, k, n_items);
    const unsigned char *b = buf + fixed;
    uint32_t *bits = mfr_malloc(sizeof(uint32_t) * (size_t)n_items);
    int32_t *bucket = mfr_malloc(sizeof(int32_t) * (size_t)n_items);
    float *theta = mfr_aligned_calloc(sizeof(float) * (size_t)n_params);
    st = bits && bucket && theta ? MFR_OK : mfr_seterr(err, MFR_ERR_NOMEM, "out of memory reading %s", path);
    for (int32_t i = 0; st == MFR_OK && i < n_items; i++, b += 8) {
        bucket[i] = (int32_t)mfr_get_le32(b), bits[i] = mfr_get_le32(b + 4);
        if (bucket[i] < 0 || bucket[i] >= shape[1] || (shape[0] < 32 && bits[i] >> shape[0]))
            st = mfr_seterr(err, MFR_ERR_CORRUPT,
                            "%s: softmax section: item %d has year bucket %d, genre bits %#x", path,
                            i, bucket[i], bits[i]);
    }
    for (int64_t x = 0; st == MFR_OK && x < n_params; x++, b += 4) {
        theta[x] = mfr_bits_f32(mfr_get_le32(b));
        if (!isfinite(theta[x]))
            st = mfr_seterr(err, MFR_ERR_CORRUPT, "%s: softmax parameter %lld is not finite", path,
                            (long long)x);
    }
    struct mfr_sm_items it;
    if (st == MFR_OK && (st = items_from(n_items, shape[0], shape[1], shape[2], bits, bucket, &it,
                                         err)) == MFR_OK) {
        st = mfr_sm_net_make(&c, &it, theta, epochs, out, err);
        mfr_sm_items_free(&it);
    }
    free(bits);
    free(bucket);
    mfr_aligned_free(theta);
    return st;
}

int mfr_sm_net_user(const struct mfr_sm_net *net, const int32_t *F, int32_t n_f, float *out,
                    mfr_error *err)
{
    for (int32_t j = 0; j < n_f; j++)
        if (F[j] < 0 || F[j] >= net->items.n_items)
            return mfr_seterr(err, MFR_ERR_INVALID, "softmax user: movie index %d not in 0..%d",
                              F[j], net->items.n_items - 1);
    int64_t nf = mfr_sm_scratch_floats(&net->lay);
    float *buf = mfr_aligned_calloc(sizeof(float) * (size_t)nf);
    int32_t *ids = mfr_malloc(sizeof(int32_t) * (size_t)(net->items.max_genres * (n_f > 0 ? n_f : 1)));
    if (!buf || !ids) {
        mfr_aligned_free(buf);
        free(ids);
        return mfr_seterr(err, MFR_ERR_NOMEM, "softmax user: out of memory");
    }
    struct mfr_sm_scratch sc;
    mfr_sm_scratch_bind(&sc, &net->lay, buf);
    sc.ids = ids;
    mfr_sm_forward(&net->lay, &net->items, net->cfg.features, net->theta, F, n_f, &sc);
    memcpy(out, sc.h[net->lay.n_layers], sizeof(float) * (size_t)net->cfg.k);
    mfr_aligned_free(buf);
    free(ids);
    return MFR_OK;
}
