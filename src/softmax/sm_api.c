/*
 * sm_api.c — the public face of the softmax model (include/
 * mfrec_softmax.h): a trainer over a dataset's training ratings, and the
 * model it hands out, an mfr_model of kind softmax whose user vectors are
 * the users' embeddings and whose item vectors are V (so every command
 * built on mfr_model ranks with it), carrying the network for fold-in and
 * the model file.
 */
#include <math.h>
#include <string.h>

#include "dataset_priv.h"
#include "model_priv.h"
#include "softmax_priv.h"

struct mfr_softmax_trainer {
    mfr_sm_trainer *tr;
    int32_t n_users, n_items;
    int64_t *user_ids, *item_ids;
    char *split_spec, *data_dir;
    /* a rating file named by the load (NULL: a directory), and how it was
     * read: the model's data source record, as matrix factorization's */
    char *data_file;
    int32_t data_format, data_sep, data_header;
    uint64_t fingerprint, split_pin;
    double last_loss; /* of the last epoch */
};

mfr_sm_trainer *mfr_softmax_trainer_core(mfr_softmax_trainer *t) { return t->tr; }

int mfr_softmax_trainer_keep_source(mfr_softmax_trainer *t, const mfr_model *src, mfr_error *err)
{
    char *dir = mfr_strdup(src->data_dir ? src->data_dir : "");
    char *file = src->data_file ? mfr_strdup(src->data_file) : NULL;
    if (!dir || (src->data_file && !file)) {
        free(dir);
        free(file);
        return mfr_seterr(err, MFR_ERR_NOMEM, "softmax trainer: out of memory");
    }
    free(t->data_dir);
    free(t->data_file);
    t->data_dir = dir;
    t->data_file = file;
    t->data_format = src->data_format;
    t->data_sep = src->data_sep;
    t->data_header = src->data_header;
    return MFR_OK;
}
const mfr_sm_trainer *mfr_softmax_trainer_core_const(const mfr_softmax_trainer *t) { return t->tr; }
void mfr_softmax_trainer_set_last_loss(mfr_softmax_trainer *t, double loss) { t->last_loss = loss; }
double mfr_softmax_trainer_last_loss(const mfr_softmax_trainer *t) { return t ? t->last_loss : NAN; }

void mfr_softmax_trainer_destroy(mfr_softmax_trainer *t)
{
    if (!t) return;
    mfr_sm_trainer_destroy(t->tr);
    free(t->user_ids);
    free(t->item_ids);
    free(t->split_spec);
    free(t->data_dir);
    free(t->data_file);
    free(t);
}

/* The dataset's per-item genres and years as feature ids. */
static int dataset_items(const mfr_dataset *ds, struct mfr_sm_items *out, mfr_error *err)
{
    int32_t M = ds->n_items;
    uint32_t *bits = mfr_malloc(sizeof(uint32_t) * (size_t)M);
    int32_t *years = mfr_malloc(sizeof(int32_t) * (size_t)M);
    int st = MFR_OK;
    if (!bits || !years) {
        st = mfr_seterr(err, MFR_ERR_NOMEM, "softmax trainer: out of memory");
    } else {
        for (int32_t i = 0; i < M; i++) bits[i] = ds->items[i].genres, years[i] = ds->items[i].year;
        st = mfr_sm_items_build(M, ds->n_genres, bits, years, out, err);
    }
    free(bits);
    free(years);
    return st;
}

/* What a softmax run holds beside its trainer, in bytes: the dataset's
 * ratings (20 bytes each with the timestamp; mapped from the cache, its
 * pages count once read), the split's copies of its training and test
 * ratings, the ids and metadata with the trainer's copies of the ids, the
 * model a ranking makes (its parameters and every user's and movie's
 * vector), and the process itself. */
static double beside_trainer(const mfr_softmax_config *cfg, const mfr_dataset *ds, const mfr_ratings *train)
{
    const double N = ds->n_users, M = ds->n_items, rating = 20.0;
    const double n_all = ds->ratings ? (double)ds->ratings->n : (double)train->n;
    double b = n_all * rating;
    if (!train->borrowed && !train->skip) /* the training part and the test part, copied */
        b += (double)train->n * rating + (n_all > (double)train->n ? n_all - (double)train->n : 0.0) * rating;
    b += N * (16.0 + sizeof(struct mfr_user_meta)) + M * (24.0 + sizeof(struct mfr_item_meta));
    const double k = cfg->k, widest = cfg->dim_movie > cfg->k ? cfg->dim_movie : cfg->k;
    b += 4.0 * (2.0 * M * widest + (N + M) * k); /* the model's tables and vectors, about */
    return b + 32.0 * 1048576.0;
}

int mfr_softmax_trainer_create(const mfr_softmax_config *cfg, const mfr_dataset *ds,
                               const mfr_ratings *train, const char *split_spec, int n_threads,
                               mfr_softmax_trainer **out, mfr_error *err)
{
    if (!out) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_softmax_trainer_create: out is NULL");
    *out = NULL;
    if (!cfg || !ds || !train)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_softmax_trainer_create: %s is NULL",
                          !cfg ? "cfg" : !ds ? "dataset" : "ratings");
    int rc = mfr_model_check_split_spec("mfr_softmax_trainer_create", split_spec, err);
    if (rc == MFR_OK) rc = mfr_check_threads("mfr_softmax_trainer_create", n_threads, err);
    if (rc == MFR_OK) rc = mfr_ratings_refuse_view(train, "mfr_softmax_trainer_create", err);
    if (rc != MFR_OK) return rc;
    /* a feature the data does not have: one constant "none" entry that
     * would only add parameters */
    bool any_genre = false, any_year = false;
    for (int32_t i = 0; i < ds->n_items && !(any_genre && any_year); i++)
        any_genre |= ds->items[i].genres != 0, any_year |= ds->items[i].year != 0;
    if ((cfg->features & MFR_SOFTMAX_FEAT_GENRES) && !any_genre)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "softmax features: genres, but no movie of %s has a genre (no movies file, "
                          "or no genres in it)",
                          ds->file ? ds->file : ds->dir ? ds->dir : "the data");
    if ((cfg->features & MFR_SOFTMAX_FEAT_YEARS) && !any_year)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "softmax features: years, but no movie of %s has a release year (no movies "
                          "file, or no years in it)",
                          ds->file ? ds->file : ds->dir ? ds->dir : "the data");
    mfr_softmax_trainer *t = mfr_calloc(1, sizeof *t);
    if (!t) return mfr_seterr(err, MFR_ERR_NOMEM, "softmax trainer: out of memory");
    struct mfr_sm_items items = {0};
    int st = dataset_items(ds, &items, err);
    if (st == MFR_OK)
        st = mfr_sm_trainer_create_beside(cfg, ds->n_users, &items, train->user, train->item,
                                          train->rating, train->n, NULL, n_threads,
                                          beside_trainer(cfg, ds, train), &t->tr, err);
    mfr_sm_items_free(&items);
    if (st) goto fail;
    t->n_users = ds->n_users, t->n_items = ds->n_items, t->fingerprint = ds->fingerprint;
    t->split_pin = train->split_pin;
    t->user_ids = mfr_malloc(sizeof(int64_t) * (size_t)ds->n_users);
    t->item_ids = mfr_malloc(sizeof(int64_t) * (size_t)ds->n_items);
    t->split_spec = mfr_strdup(split_spec ? split_spec : "");
    t->data_dir = mfr_strdup(ds->dir ? ds->dir : "");
    if (ds->file) {
        t->data_file = mfr_strdup(ds->file);
        t->data_format = ds->opt.format;
        t->data_sep = (unsigned char)ds->opt.sep;
        t->data_header = ds->opt.header;
    }
    if (!t->user_ids || !t->item_ids || !t->split_spec || !t->data_dir || (ds->file && !t->data_file)) {
        st = mfr_seterr(err, MFR_ERR_NOMEM, "softmax trainer: out of memory");
        goto fail;
    }
    memcpy(t->user_ids, ds->user_ids, sizeof(int64_t) * (size_t)ds->n_users);
    memcpy(t->item_ids, ds->item_ids, sizeof(int64_t) * (size_t)ds->n_items);
    *out = t;
    return MFR_OK;
fail:
    mfr_softmax_trainer_destroy(t);
    return st;
}

int mfr_softmax_trainer_epoch(mfr_softmax_trainer *t, double *loss, mfr_error *err)
{
    if (!t) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_softmax_trainer_epoch: trainer is NULL");
    double l = 0.0;
    int st = mfr_sm_trainer_epoch(t->tr, &l, err);
    if (st == MFR_OK) t->last_loss = l;
    if (loss) *loss = l;
    return st;
}

uint64_t mfr_softmax_trainer_memory_bytes(const mfr_softmax_trainer *t)
{
    return t ? mfr_sm_trainer_memory_bytes(t->tr) : 0;
}

uint64_t mfr_softmax_trainer_peak_bytes(const mfr_softmax_trainer *t)
{
    return t ? mfr_sm_trainer_peak_bytes(t->tr) : 0;
}

int64_t mfr_softmax_trainer_n_params(const mfr_softmax_trainer *t)
{
    return t ? mfr_sm_trainer_layout(t->tr)->n_params : -1;
}

int32_t mfr_softmax_trainer_n_shards(const mfr_softmax_trainer *t)
{
    return t ? mfr_sm_trainer_n_shards(t->tr) : -1;
}

const char *mfr_softmax_trainer_kernels_name(const mfr_softmax_trainer *t)
{
    return t ? mfr_sm_trainer_kernels_name(t->tr) : NULL;
}

int32_t mfr_softmax_trainer_steps(const mfr_softmax_trainer *t, mfr_softmax_step *out,
                                  int32_t cap)
{
    return t ? mfr_sm_trainer_steps(t->tr, out, out ? cap : 0) : -1;
}

/* The model's MF-side configuration: the defaults with the softmax k and
 * SGD, whose state count 0 means no moment arrays in the file. */
static mfr_config model_config(int32_t k)
{
    mfr_config c;
    mfr_config_default(&c);
    c.k = k;
    c.optimizer = MFR_OPTIMIZER_SGD;
    c.n_threads = 0;
    c.max_memory = 0;
    return c;
}

int mfr_softmax_trainer_model(const mfr_softmax_trainer *t, mfr_model **out, mfr_error *err)
{
    if (!out) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_softmax_trainer_model: out is NULL");
    *out = NULL;
    if (!t) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_softmax_trainer_model: trainer is NULL");
    const struct mfr_sm_layout *lay = mfr_sm_trainer_layout(t->tr);
    int32_t k = lay->V.cols;
    mfr_model *m = NULL;
    int st = mfr_model_alloc(k, 0, t->n_users, t->n_items, &m, err);
    if (st) return st;
    m->cfg = model_config(k);
    m->epochs = mfr_sm_trainer_epochs(t->tr);
    m->data_fingerprint = t->fingerprint;
    m->split_pin = t->split_pin;
    memcpy(m->user_ids, t->user_ids, sizeof(int64_t) * (size_t)t->n_users);
    memcpy(m->item_ids, t->item_ids, sizeof(int64_t) * (size_t)t->n_items);
    free(m->split_spec);
    free(m->data_dir);
    m->split_spec = mfr_strdup(t->split_spec);
    m->data_dir = mfr_strdup(t->data_dir);
    if (t->data_file) {
        m->data_file = mfr_strdup(t->data_file);
        m->data_format = t->data_format;
        m->data_sep = t->data_sep;
        m->data_header = t->data_header;
    }
    const float *theta = mfr_sm_trainer_params(t->tr);
    for (int32_t i = 0; i < t->n_items; i++)
        memcpy(m->V + (size_t)i * (size_t)m->k_pad, theta + lay->V.offset + (int64_t)i * k,
               sizeof(float) * (size_t)k);
    if (!m->split_spec || !m->data_dir || (t->data_file && !m->data_file))
        st = mfr_seterr(err, MFR_ERR_NOMEM, "softmax model: out of memory");
    if (st == MFR_OK) st = mfr_sm_trainer_user_vectors(t->tr, m->U, m->k_pad, err);
    if (st == MFR_OK) {
        mfr_softmax_config c = *mfr_sm_trainer_config(t->tr);
        c.max_memory = 0; /* the machine's: not part of the model */
        st = mfr_sm_net_make(&c, mfr_sm_trainer_items(t->tr), theta, m->epochs, &m->sm, err);
    }
    if (st) {
        mfr_model_destroy(m);
        return st;
    }
    *out = m;
    return MFR_OK;
}

int32_t mfr_model_kind(const mfr_model *m)
{
    if (!m) return -1;
    return m->sm ? MFR_MODEL_KIND_SOFTMAX : MFR_MODEL_KIND_MF;
}

int mfr_model_softmax_config(const mfr_model *m, mfr_softmax_config *out, mfr_error *err)
{
    if (!m || !out)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_model_softmax_config: %s is NULL", !m ? "model" : "out");
    if (!m->sm)
        return mfr_seterr(err, MFR_ERR_INVALID, "the model is a matrix factorization model, not softmax");
    *out = m->sm->cfg;
    return MFR_OK;
}

int mfr_model_softmax_user(const mfr_model *m, const int32_t *items, int32_t n, float *out,
                           mfr_error *err)
{
    if (!m || !out || (n > 0 && !items))
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_model_softmax_user: %s is NULL",
                          !m ? "model" : !out ? "out" : "items");
    if (n < 0) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_model_softmax_user: n must be >= 0, got %d", (int)n);
    if (!m->sm)
        return mfr_seterr(err, MFR_ERR_INVALID, "the model is a matrix factorization model, not softmax");
    return mfr_sm_net_user(m->sm, items, n, out, err);
}
