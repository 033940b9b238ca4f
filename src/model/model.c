/*
 * model.c — the in-memory model: allocation, accessors, prediction,
 * evaluation, the factor checksum and the model/dataset consistency check.
 *
 * The model keeps its factor rows padded to k_pad floats (a multiple of the
 * SIMD width, see common_priv.h) in 64-byte aligned memory with the padding
 * lanes zero; everything public speaks in the user's k only. Reading and
 * writing model files lives in model_io.c (docs/MODEL_FORMAT.md).
 *
 * Numerics: a prediction is the kernels' dot product of a user row and an
 * item row (the embedding, then with biases b_u*1 + 1*b_i; zero padding),
 * in the lane order of kern_priv.h: what the epochs and `recommend` compute.
 * Evaluation sums squared and absolute errors in double, by fixed chunks
 * of ratings (model_priv.h), so the metrics are identical on every run and
 * for every thread count.
 */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "dataset_priv.h"
#include "kern_priv.h"
#include "model_priv.h"
#include "softmax_priv.h"

/* Largest embedding dimension, as documented for mfr_config.k. */
#define MODEL_MAX_K MFR_MAX_K

/* Bytes of one aligned factor array of n rows of k_pad floats, rounded up to
 * the 64-byte granule mfr_aligned_calloc really allocates; 0 on overflow. */
static size_t factor_bytes(int32_t n, int32_t k_pad)
{
    size_t bytes;
    if (!mfr_mul_size((size_t)n, (size_t)k_pad, &bytes)) return 0;
    if (!mfr_mul_size(bytes, sizeof(float), &bytes)) return 0;
    if (!mfr_add_size(bytes, 63, &bytes)) return 0;
    return bytes / 64 * 64;
}

size_t mfr_model_bytes(int32_t k, int32_t bias, int implicit, int32_t n_state, int32_t n_users,
                       int32_t n_items)
{
    if (k < 1 || k > MODEL_MAX_K || n_users < 1 || n_items < 1 || bias < 0 || bias > 1 || n_state < 0 ||
        n_state > MFR_MODEL_MAX_STATE)
        return 0;
    int32_t k_pad = mfr_pad_k(k + 2 * bias);
    size_t fu = factor_bytes(n_users, k_pad), fi = factor_bytes(n_items, k_pad);
    if (fu == 0 || fi == 0) return 0;
    /* arrays per side: the parameters and their state; implicit feedback
     * adds P (users) and Y with its state (items) */
    size_t per_user = 1 + (size_t)n_state + (implicit ? 1 : 0);
    size_t per_item = (1 + (size_t)n_state) * (implicit ? 2 : 1);
    size_t total = 0, part;
    if (!mfr_mul_size(fu, per_user, &part) || !mfr_add_size(total, part, &total)) return 0;
    if (!mfr_mul_size(fi, per_item, &part) || !mfr_add_size(total, part, &total)) return 0;
    /* the two raw id maps */
    if (!mfr_mul_size((size_t)n_users + (size_t)n_items, sizeof(int64_t), &part) ||
        !mfr_add_size(total, part, &total))
        return 0;
    return total;
}

int32_t mfr_model_state_count(int32_t optimizer)
{
    switch (optimizer) {
    case MFR_OPTIMIZER_ADAM: return 2;
    case MFR_OPTIMIZER_SGD: return 0;
    case MFR_OPTIMIZER_ALS: return 0;
    default: return -1;
    }
}

/* mfr_model_alloc, or (user_rows false) mfr_model_alloc_shell. */
static int model_alloc(int32_t k, int32_t bias, int32_t n_users, int32_t n_items, bool user_rows,
                       mfr_model **out, mfr_error *err)
{
    if (!out) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_model_alloc: out is NULL");
    *out = NULL;
    if (k < 1 || k > MODEL_MAX_K)
        return mfr_seterr(err, MFR_ERR_INVALID, "k must be in 1..%d, got %d", MODEL_MAX_K,
                          (int)k);
    if (n_users < 1)
        return mfr_seterr(err, MFR_ERR_INVALID, "n_users must be at least 1, got %d",
                          (int)n_users);
    if (n_items < 1)
        return mfr_seterr(err, MFR_ERR_INVALID, "n_items must be at least 1, got %d",
                          (int)n_items);
    if (bias != 0 && bias != 1)
        return mfr_seterr(err, MFR_ERR_INVALID, "bias must be 0 or 1, got %d", (int)bias);
    size_t need = mfr_model_bytes(k, bias, 0, 0, n_users, n_items);
    if (need == 0)
        return mfr_seterr(err, MFR_ERR_TOO_LARGE,
                          "model of k=%d, %d users, %d items overflows size_t", (int)k,
                          (int)n_users, (int)n_items);

    int32_t k_row = k + 2 * bias;
    int32_t k_pad = mfr_pad_k(k_row);
    /* Both products are known not to overflow: mfr_model_bytes checked them. */
    size_t ubytes = (size_t)n_users * (size_t)k_pad * sizeof(float);
    size_t ibytes = (size_t)n_items * (size_t)k_pad * sizeof(float);

    mfr_model *m = mfr_calloc(1, sizeof *m);
    if (!m) goto nomem;
    mfr_config_default(&m->cfg);
    m->cfg.k = k;
    m->cfg.n_threads = 0;  /* not model state */
    m->cfg.max_memory = 0; /* not model state */
    m->cfg.bias = bias;
    m->k = k;
    m->k_row = k_row;
    m->k_pad = k_pad;
    m->n_users = n_users;
    m->n_items = n_items;
    m->epochs = 0;
    m->data_fingerprint = 0;

    m->U = user_rows ? mfr_aligned_calloc(ubytes) : NULL;
    m->V = mfr_aligned_calloc(ibytes);
    m->user_ids = mfr_malloc((size_t)n_users * sizeof(int64_t));
    m->item_ids = mfr_malloc((size_t)n_items * sizeof(int64_t));
    m->split_spec = mfr_strdup("");
    m->data_dir = mfr_strdup("");
    if ((user_rows && !m->U) || !m->V || !m->user_ids || !m->item_ids || !m->split_spec || !m->data_dir)
        goto nomem;
    for (int32_t u = 0; u < n_users; u++) m->user_ids[u] = (int64_t)u + 1;
    for (int32_t i = 0; i < n_items; i++) m->item_ids[i] = (int64_t)i + 1;
    if (bias) {
        for (int32_t u = 0; u < n_users && m->U; u++)
            m->U[(size_t)u * (size_t)k_pad + (size_t)mfr_lane_user_one(k)] = 1.0f;
        for (int32_t i = 0; i < n_items; i++) m->V[(size_t)i * (size_t)k_pad + (size_t)mfr_lane_item_one(k)] = 1.0f;
    }
    *out = m;
    return MFR_OK;

nomem:
    mfr_model_destroy(m);
    return mfr_seterr(err, MFR_ERR_NOMEM,
                      "out of memory allocating a model of %zu bytes (k=%d, %d users, %d items)",
                      need, (int)k, (int)n_users, (int)n_items);
}

int mfr_model_alloc(int32_t k, int32_t bias, int32_t n_users, int32_t n_items, mfr_model **out,
                    mfr_error *err)
{
    return model_alloc(k, bias, n_users, n_items, true, out, err);
}

int mfr_model_alloc_shell(int32_t k, int32_t bias, int32_t n_users, int32_t n_items, mfr_model **out,
                          mfr_error *err)
{
    return model_alloc(k, bias, n_users, n_items, false, out, err);
}

int mfr_model_alloc_implicit(mfr_model *m, mfr_error *err)
{
    if (!m) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_model_alloc_implicit: model is NULL");
    if (m->Y) return MFR_OK;
    size_t ubytes = (size_t)m->n_users * (size_t)m->k_pad * sizeof(float);
    size_t ibytes = (size_t)m->n_items * (size_t)m->k_pad * sizeof(float);
    float *P = m->U ? mfr_aligned_calloc(ubytes) : NULL, *Y = mfr_aligned_calloc(ibytes);
    float *state[MFR_MODEL_MAX_STATE] = {NULL, NULL};
    bool ok = (P || !m->U) && Y; /* a shell has no user rows: no P either */
    for (int s = 0; s < m->n_state && ok; s++) ok = (state[s] = mfr_aligned_calloc(ibytes)) != NULL;
    if (!ok) {
        mfr_aligned_free(P);
        mfr_aligned_free(Y);
        for (int s = 0; s < MFR_MODEL_MAX_STATE; s++) mfr_aligned_free(state[s]);
        return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory allocating the implicit factors (%zu bytes)",
                          ubytes + (size_t)(1 + m->n_state) * ibytes);
    }
    if (P) memcpy(P, m->U, ubytes);
    m->P = P;
    m->Y = Y;
    for (int s = 0; s < m->n_state; s++) m->state[MFR_MODEL_IMPLICIT][s] = state[s];
    return MFR_OK;
}

int mfr_model_alloc_state(mfr_model *m, int32_t n_state, mfr_error *err)
{
    if (!m) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_model_alloc_state: model is NULL");
    if (n_state < 0 || n_state > MFR_MODEL_MAX_STATE)
        return mfr_seterr(err, MFR_ERR_INVALID, "optimizer state arrays must be 0..%d, got %d",
                          MFR_MODEL_MAX_STATE, (int)n_state);
    MFR_ASSERT(m->n_state == 0);
    const int32_t rows[MFR_MODEL_N_GROUPS] = {m->U ? m->n_users : 0, m->n_items, m->Y ? m->n_items : 0};
    for (int g = 0; g < MFR_MODEL_N_GROUPS; g++)
        for (int s = 0; s < n_state && rows[g]; s++)
            if (!(m->state[g][s] = mfr_aligned_calloc((size_t)rows[g] * (size_t)m->k_pad * sizeof(float))))
                goto nomem;
    m->n_state = n_state;
    return MFR_OK;
nomem:
    for (int g = 0; g < MFR_MODEL_N_GROUPS; g++)
        for (int s = 0; s < MFR_MODEL_MAX_STATE; s++) {
            mfr_aligned_free(m->state[g][s]);
            m->state[g][s] = NULL;
        }
    return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory allocating the optimizer state");
}

int mfr_model_arrays(const mfr_model *m, struct mfr_model_array out[MFR_MODEL_MAX_ARRAYS])
{
    static const char *const names[MFR_MODEL_N_GROUPS][MFR_MODEL_MAX_STATE] = {
        {"mU", "vU"}, {"mV", "vV"}, {"mY", "vY"}};
    const int32_t rows[MFR_MODEL_N_GROUPS] = {m->n_users, m->n_items, m->n_items};
    int n = 0;
    out[n++] = (struct mfr_model_array){"U", m->U, m->n_users, 0, 1};
    out[n++] = (struct mfr_model_array){"V", m->V, m->n_items, 0, 0};
    for (int g = 0; g < MFR_MODEL_N_GROUPS; g++) {
        if (g == MFR_MODEL_IMPLICIT) {
            if (!m->Y) break;
            out[n++] = (struct mfr_model_array){"P", m->P, m->n_users, 0, 1};
            out[n++] = (struct mfr_model_array){"Y", m->Y, m->n_items, 0, 0};
        }
        for (int s = 0; s < m->n_state; s++)
            out[n++] = (struct mfr_model_array){names[g][s], m->state[g][s], rows[g], s == 1,
                                                g == MFR_MODEL_USERS};
    }
    return n;
}

int mfr_model_copy_part(mfr_model *dst, const mfr_model *src, int32_t user_lo, mfr_error *err)
{
    struct mfr_model_array to[MFR_MODEL_MAX_ARRAYS], from[MFR_MODEL_MAX_ARRAYS];
    const int n = mfr_model_arrays(dst, to);
    if (mfr_model_arrays(src, from) != n || dst->k_pad != src->k_pad || dst->n_items != src->n_items ||
        user_lo < 0 || (int64_t)user_lo + dst->n_users > src->n_users)
        return mfr_seterr(err, MFR_ERR_MISMATCH,
                          "a model of %d users x %d items (%d arrays) is not users %d.. of one of %d x %d (%d)",
                          (int)dst->n_users, (int)dst->n_items, n, (int)user_lo, (int)src->n_users,
                          (int)src->n_items, mfr_model_arrays(src, from));
    /* the provenance first: its copy is the only step that can fail, and
     * leaves dst unchanged when it does */
    int rc = mfr_model_copy_provenance(dst, src, err);
    if (rc != MFR_OK) return rc;
    const size_t row = sizeof(float) * (size_t)dst->k_pad;
    for (int a = 0; a < n; a++)
        if (from[a].a) /* a shell's user rows are absent: the caller reads them */
            memcpy(to[a].a, from[a].a + (to[a].users ? (size_t)user_lo * (size_t)dst->k_pad : 0),
                   row * (size_t)to[a].rows);
    dst->cfg = src->cfg;
    dst->epochs = src->epochs;
    dst->data_fingerprint = src->data_fingerprint;
    return MFR_OK;
}

void mfr_model_destroy(mfr_model *m)
{
    if (!m) return;
    mfr_aligned_free(m->P);
    mfr_aligned_free(m->Y);
    mfr_aligned_free(m->U);
    mfr_aligned_free(m->V);
    for (int g = 0; g < MFR_MODEL_N_GROUPS; g++)
        for (int s = 0; s < MFR_MODEL_MAX_STATE; s++) mfr_aligned_free(m->state[g][s]);
    free(m->user_ids);
    free(m->item_ids);
    free(m->split_spec);
    free(m->data_dir);
    free(m->data_file);
    mfr_sm_net_free(m->sm);
    free(m->rank_offset);
    free(m);
}

float mfr_rank_offset(double prior, int64_t count)
{
    return (float)(prior * log1p((double)count));
}

int mfr_model_set_item_counts(mfr_model *m, const int64_t *counts, mfr_error *err)
{
    if (!m || !counts)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_model_set_item_counts: %s is NULL", !m ? "model" : "counts");
    if (!(m->cfg.rank_prior > 0.0)) return MFR_OK;
    for (int32_t i = 0; i < m->n_items; i++)
        if (counts[i] < 0)
            return mfr_seterr(err, MFR_ERR_INVALID, "mfr_model_set_item_counts: movie %d has a negative count (%lld)",
                              (int)i, (long long)counts[i]);
    float *o = m->rank_offset ? m->rank_offset : mfr_malloc(sizeof *o * ((size_t)m->n_items + 1));
    if (!o) return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory for %d ranking offsets", (int)m->n_items);
    for (int32_t i = 0; i < m->n_items; i++) o[i] = mfr_rank_offset(m->cfg.rank_prior, counts[i]);
    o[m->n_items] = 0.0f; /* the slot that keeps a model without movies off mfr_malloc(0); copies read it too */
    m->rank_offset = o;
    return MFR_OK;
}

const float *mfr_model_rank_offsets(const mfr_model *m) { return m ? m->rank_offset : NULL; }

/* ------------------------------------------------------------------ */
/* Accessors. A NULL model or an index out of range reads as a value no  */
/* model has (-1, NULL, NaN), never as a plausible one.                 */
/* ------------------------------------------------------------------ */

int32_t mfr_model_k(const mfr_model *m) { return m ? m->k : -1; }
int32_t mfr_model_n_users(const mfr_model *m) { return m ? m->n_users : -1; }
int32_t mfr_model_n_items(const mfr_model *m) { return m ? m->n_items : -1; }
int64_t mfr_model_epochs(const mfr_model *m) { return m ? m->epochs : -1; }
const char *mfr_model_split_spec(const mfr_model *m) { return m ? m->split_spec : NULL; }
const char *mfr_model_data_dir(const mfr_model *m) { return m ? m->data_dir : NULL; }
uint64_t mfr_model_data_fingerprint(const mfr_model *m) { return m ? m->data_fingerprint : 0; }

const char *mfr_model_data_source(const mfr_model *m, mfr_load_options *opt)
{
    if (!m) return NULL;
    if (opt) {
        opt->format = m->data_file ? m->data_format : MFR_FORMAT_AUTO;
        opt->sep = m->data_file ? (char)m->data_sep : 0;
        opt->header = m->data_file ? m->data_header : MFR_HEADER_AUTO;
        opt->ratings_file = NULL;
    }
    return m->data_file ? m->data_file : m->data_dir;
}

int mfr_model_copy_provenance(mfr_model *m, const mfr_model *src, mfr_error *err)
{
    char *spec = mfr_strdup(src->split_spec), *dir = mfr_strdup(src->data_dir);
    char *file = src->data_file ? mfr_strdup(src->data_file) : NULL;
    if (!spec || !dir || (src->data_file && !file)) {
        free(spec);
        free(dir);
        free(file);
        return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory copying a model's provenance");
    }
    free(m->split_spec);
    free(m->data_dir);
    free(m->data_file);
    m->split_spec = spec;
    m->data_dir = dir;
    m->data_file = file;
    m->data_format = src->data_format;
    m->data_sep = src->data_sep;
    m->data_header = src->data_header;
    m->split_pin = src->split_pin;
    return MFR_OK;
}

/* Copies m->cfg (n_threads and max_memory are 0: they are not model state). */
int mfr_model_config(const mfr_model *m, mfr_config *cfg, mfr_error *err)
{
    if (!m || !cfg)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_model_config: %s is NULL", !m ? "model" : "cfg");
    *cfg = m->cfg;
    return MFR_OK;
}

/* MFR_OK when m and out are set and 0 <= r < n_rows, else MFR_ERR_INVALID
 * naming the argument (`fn` the caller, `what` the index's name). */
static int check_row(const char *fn, const mfr_model *m, const float *out, const char *what,
                     int32_t r, int32_t n_rows, mfr_error *err)
{
    if (!m || !out)
        return mfr_seterr(err, MFR_ERR_INVALID, "%s: %s is NULL", fn, !m ? "model" : "out");
    if (r < 0 || r >= n_rows)
        return mfr_seterr(err, MFR_ERR_INVALID, "%s: %s index %d is outside the model's 0..%d",
                          fn, what, (int)r, (int)n_rows - 1);
    return MFR_OK;
}

int mfr_model_user_vector(const mfr_model *m, int32_t u, float *out, mfr_error *err)
{
    int rc = check_row("mfr_model_user_vector", m, out, "user", u, m ? m->n_users : 0, err);
    if (rc != MFR_OK) return rc;
    memcpy(out, m->U + (size_t)u * (size_t)m->k_pad, (size_t)m->k * sizeof(float));
    return MFR_OK;
}

int mfr_model_item_vector(const mfr_model *m, int32_t i, float *out, mfr_error *err)
{
    int rc = check_row("mfr_model_item_vector", m, out, "item", i, m ? m->n_items : 0, err);
    if (rc != MFR_OK) return rc;
    memcpy(out, m->V + (size_t)i * (size_t)m->k_pad, (size_t)m->k * sizeof(float));
    return MFR_OK;
}

int mfr_model_implicit_vector(const mfr_model *m, int32_t i, float *out, mfr_error *err)
{
    int rc = check_row("mfr_model_implicit_vector", m, out, "item", i, m ? m->n_items : 0, err);
    if (rc != MFR_OK) return rc;
    if (!m->Y)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "mfr_model_implicit_vector: the model has no implicit factors "
                          "(trained with implicit 0)");
    memcpy(out, m->Y + (size_t)i * (size_t)m->k_pad, (size_t)m->k * sizeof(float));
    return MFR_OK;
}

/* Raw id of dense index u (i), or -1 when out of range. */
int64_t mfr_model_user_id(const mfr_model *m, int32_t u)
{
    if (!m || u < 0 || u >= m->n_users) return -1;
    return m->user_ids[u];
}

int64_t mfr_model_item_id(const mfr_model *m, int32_t i)
{
    if (!m || i < 0 || i >= m->n_items) return -1;
    return m->item_ids[i];
}

/* The dot of the CPU's kernel set (every set gives the same bits), picked
 * once: the MPI evaluation calls this for every rating. */
static float (*predict_dot(void))(const float *, const float *, int32_t)
{
    static _Atomic(float (*)(const float *, const float *, int32_t)) dot;
    float (*d)(const float *, const float *, int32_t) = atomic_load_explicit(&dot, memory_order_relaxed);
    if (!d) {
        d = mfr_kernels_select(MFR_KERNELS_AUTO, NULL)->dot;
        atomic_store_explicit(&dot, d, memory_order_relaxed);
    }
    return d;
}

float mfr_model_predict_unchecked(const mfr_model *m, int32_t u, int32_t i)
{
    return predict_dot()(m->U + (size_t)u * (size_t)m->k_pad, m->V + (size_t)i * (size_t)m->k_pad, m->k_pad);
}

/* Prediction for dense (u, i); NaN (never a plausible rating) when m is
 * NULL or an index is out of range. */
float mfr_model_predict(const mfr_model *m, int32_t u, int32_t i)
{
    if (!m || u < 0 || u >= m->n_users || i < 0 || i >= m->n_items) return NAN;
    return mfr_model_predict_unchecked(m, u, i);
}

/* FNV-1a 64 over the bytes of U's rows (users in order) then V's rows (then
 * P's and Y's with implicit feedback), only
 * the k_row state floats of each row (embedding, then biases), each float as its 4 little-endian IEEE-754
 * bytes, so the value is the same on every host and ignores the padding. */
uint64_t mfr_model_checksum(const mfr_model *m)
{
    if (!m) return 0;
    uint64_t h = MFR_FNV_INIT;
    /* with implicit feedback also P and Y (U is derived from them) */
    const float *arrays[4] = {m->U, m->V, m->P, m->Y};
    const int32_t rows[4] = {m->n_users, m->n_items, m->n_users, m->n_items};
    for (int a = 0; a < (m->Y ? 4 : 2); a++) {
        for (int32_t r = 0; r < rows[a]; r++) {
            const float *row = arrays[a] + (size_t)r * (size_t)m->k_pad;
            for (int32_t j = 0; j < m->k_row; j++) {
                uint32_t bits;
                memcpy(&bits, &row[j], sizeof bits);
                unsigned char b[4] = {(unsigned char)bits, (unsigned char)(bits >> 8),
                                      (unsigned char)(bits >> 16),
                                      (unsigned char)(bits >> 24)};
                h = mfr_fnv1a(h, b, sizeof b);
            }
        }
    }
    return h;
}

/* A canonical split's files changed since the model's training: its pin
 * (model_priv.h) differs from the recreated split's. Another split than
 * the model's is a caller's error, named as such. */
int mfr_model_check_split(const mfr_model *m, const mfr_split *sp, mfr_error *err)
{
    if (!m || !sp)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_model_check_split: %s is NULL", !m ? "model" : "split");
    if (!mfr_split_specs_same(m->split_spec, sp->spec))
        return mfr_seterr(err, MFR_ERR_MISMATCH, "split %s is not the model's split (%s)", sp->spec,
                          *m->split_spec ? m->split_spec : "none recorded");
    if (!m->split_pin || sp->train->split_pin == m->split_pin) return MFR_OK;
    return mfr_seterr(err, MFR_ERR_MISMATCH,
                      "split %s: %s.base or %s.test is not what the model was trained with (the files "
                      "changed since); train the model again, or restore the files",
                      sp->spec, sp->spec, sp->spec);
}

/* MFR_OK when ds has the model's user and item counts, the same raw id at
 * every dense index, and (unless the model's fingerprint is 0, meaning
 * "unknown") the same data fingerprint; otherwise MFR_ERR_MISMATCH with a
 * message naming the first difference. */
int mfr_model_check_dataset(const mfr_model *m, const mfr_dataset *ds, mfr_error *err)
{
    if (!m || !ds)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_model_check_dataset: %s is NULL",
                          !m ? "model" : "dataset");
    if (m->n_users != ds->n_users)
        return mfr_seterr(err, MFR_ERR_MISMATCH,
                          "the model has %d users but the dataset has %d", (int)m->n_users,
                          (int)ds->n_users);
    if (m->n_items != ds->n_items)
        return mfr_seterr(err, MFR_ERR_MISMATCH,
                          "the model has %d items but the dataset has %d", (int)m->n_items,
                          (int)ds->n_items);
    for (int32_t u = 0; u < m->n_users; u++)
        if (m->user_ids[u] != ds->user_ids[u])
            return mfr_seterr(err, MFR_ERR_MISMATCH,
                              "user index %d is raw id %lld in the model but %lld in the "
                              "dataset",
                              (int)u, (long long)m->user_ids[u], (long long)ds->user_ids[u]);
    for (int32_t i = 0; i < m->n_items; i++)
        if (m->item_ids[i] != ds->item_ids[i])
            return mfr_seterr(err, MFR_ERR_MISMATCH,
                              "item index %d is raw id %lld in the model but %lld in the "
                              "dataset",
                              (int)i, (long long)m->item_ids[i], (long long)ds->item_ids[i]);
    if (m->data_fingerprint != 0 && m->data_fingerprint != ds->fingerprint)
        return mfr_seterr(err, MFR_ERR_MISMATCH,
                          "data fingerprint differs: the model was trained on data "
                          "%016llx, the dataset is %016llx (another dataset of the same shape, or its "
                          "ratings changed since)",
                          (unsigned long long)m->data_fingerprint,
                          (unsigned long long)ds->fingerprint);
    return MFR_OK;
}

uint64_t mfr_model_memory_bytes(const mfr_model *m)
{
    if (!m) return 0;
    const uint64_t offsets = m->rank_offset ? ((uint64_t)m->n_items + 1) * sizeof(float) : 0;
    return mfr_model_bytes(m->k, m->cfg.bias, m->Y != NULL, m->n_state, m->n_users, m->n_items) + offsets;
}

int mfr_model_copy(const mfr_model *src, mfr_model **out, mfr_error *err)
{
    if (!out) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_model_copy: out is NULL");
    *out = NULL;
    if (!src) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_model_copy: model is NULL");
    mfr_model *m = NULL;
    int rc = mfr_model_alloc(src->k, src->cfg.bias, src->n_users, src->n_items, &m, err);
    if (rc != MFR_OK) return rc;
    if ((src->Y && (rc = mfr_model_alloc_implicit(m, err)) != MFR_OK) ||
        (rc = mfr_model_alloc_state(m, src->n_state, err)) != MFR_OK) {
        mfr_model_destroy(m);
        return rc;
    }
    struct mfr_model_array from[MFR_MODEL_MAX_ARRAYS], to[MFR_MODEL_MAX_ARRAYS];
    int n = mfr_model_arrays(src, from);
    MFR_ASSERT(mfr_model_arrays(m, to) == n);
    for (int a = 0; a < n; a++)
        memcpy(to[a].a, from[a].a, (size_t)from[a].rows * (size_t)src->k_pad * sizeof(float));
    memcpy(m->user_ids, src->user_ids, (size_t)src->n_users * sizeof(int64_t));
    memcpy(m->item_ids, src->item_ids, (size_t)src->n_items * sizeof(int64_t));
    m->cfg = src->cfg;
    m->epochs = src->epochs;
    m->data_fingerprint = src->data_fingerprint;
    if ((rc = mfr_model_copy_provenance(m, src, err)) != MFR_OK ||
        (src->sm && (rc = mfr_sm_net_copy(src->sm, &m->sm, err)) != MFR_OK)) {
        mfr_model_destroy(m);
        return rc;
    }
    if (src->rank_offset) {
        const size_t bytes = sizeof(float) * ((size_t)src->n_items + 1);
        if (!(m->rank_offset = mfr_malloc(bytes))) {
            mfr_model_destroy(m);
            return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory copying the model");
        }
        memcpy(m->rank_offset, src->rank_offset, bytes);
    }
    *out = m;
    return MFR_OK;
}

int mfr_model_copy_into(mfr_model *dst, const mfr_model *src, mfr_error *err)
{
    if (!dst || !src)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_model_copy_into: %s is NULL", !dst ? "dst" : "src");
    if (dst == src) return MFR_OK;
    /* same shapes told apart by what differs, not as "k 3 is not ... k 3" */
    if (dst->sm || src->sm)
        return mfr_seterr(err, MFR_ERR_MISMATCH,
                          "mfr_model_copy_into: %s is a softmax model (mfr_model_copy copies one)",
                          dst->sm ? "dst" : "src");
    if (!dst->rank_offset != !src->rank_offset)
        return mfr_seterr(err, MFR_ERR_MISMATCH,
                          "mfr_model_copy_into: the ranking prior's item counts are set on %s but not on %s "
                          "(mfr_model_set_item_counts)",
                          dst->rank_offset ? "dst" : "src", dst->rank_offset ? "src" : "dst");
    /* a weights-only model (mfr_model_load_weights) or another optimizer's
     * keeps other state arrays, an implicit model its P and Y: said so,
     * not as "users 0.. of one of 3 x 3 (2)" (a part's message) */
    if (dst->n_state != src->n_state)
        return mfr_seterr(err, MFR_ERR_MISMATCH,
                          "mfr_model_copy_into: dst keeps %d optimizer state arrays per group and src %d "
                          "(a model of mfr_model_load_weights keeps none)",
                          (int)dst->n_state, (int)src->n_state);
    if (!dst->Y != !src->Y)
        return mfr_seterr(err, MFR_ERR_MISMATCH,
                          "mfr_model_copy_into: %s has implicit-feedback factors and %s has none",
                          dst->Y ? "dst" : "src", dst->Y ? "src" : "dst");
    if (dst->k != src->k || dst->k_row != src->k_row || dst->n_users != src->n_users)
        return mfr_seterr(err, MFR_ERR_MISMATCH,
                          "mfr_model_copy_into: a model of %d users x %d items, k %d is not a copy of one of "
                          "%d x %d, k %d",
                          (int)dst->n_users, (int)dst->n_items, (int)dst->k, (int)src->n_users, (int)src->n_items,
                          (int)src->k);
    int rc = mfr_model_copy_part(dst, src, 0, err); /* checks the items and the arrays */
    if (rc == MFR_OK && src->rank_offset)
        memcpy(dst->rank_offset, src->rank_offset, sizeof(float) * ((size_t)src->n_items + 1));
    return rc;
}

float mfr_model_user_bias(const mfr_model *m, int32_t u)
{
    if (!m || u < 0 || u >= m->n_users) return NAN;
    if (!m->cfg.bias) return 0.0f; /* no bias term: predictions add nothing */
    return m->U[(size_t)u * (size_t)m->k_pad + (size_t)mfr_lane_user_bias(m->k)];
}

float mfr_model_item_bias(const mfr_model *m, int32_t i)
{
    if (!m || i < 0 || i >= m->n_items) return NAN;
    if (!m->cfg.bias) return 0.0f;
    return m->V[(size_t)i * (size_t)m->k_pad + (size_t)mfr_lane_item_bias(m->k)];
}
