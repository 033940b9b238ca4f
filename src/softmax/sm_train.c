/*
 * sm_train.c — training the softmax model: batches of users, gradients in
 * parallel, a reduction in fixed order and the optimizer (Adagrad, Adam).
 *
 * DESIGN (ownership and order; the model bytes depend on the seed, the
 * data, the configuration and the shard count, never on the thread count):
 *  - every parameter is shared by all users (the movie tables, the MLP, V),
 *    so each step's gradient is a sum over the batch's examples. The batch's
 *    users are cut into S contiguous shards (S = n_shards, or 16, capped by
 *    the batch's users); shard s runs its examples in user order, each
 *    adding into the shard's own dense gradient buffer gbuf[s]. Threads take
 *    shards dynamically: a shard's result does not depend on who ran it.
 *  - region 2 walks the parameter vector in fixed chunks, each owned by one
 *    thread: g = ((gbuf[0] + gbuf[1]) + gbuf[2]) + ... in shard order, then
 *    the optimizer's elementwise update of the chunk.
 *  - the loss is a double per shard, summed in shard order; a non-finite
 *    sum cancels the step before region 2 runs.
 */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "bytes_priv.h"
#include "kern_priv.h"
#include "rng_priv.h"
#include "softmax_priv.h"

enum { SM_DEFAULT_SHARDS = 16, SM_CHUNK = 4096 };

struct mfr_sm_trainer {
    mfr_softmax_config cfg;
    struct mfr_sm_layout lay;
    struct mfr_sm_items items;
    int32_t n_users;
    int64_t *row_ptr; /* n_users + 1: training movies by user, ascending */
    int32_t *movie;
    int32_t max_nf;   /* longest feature list (a user's n_u - 1) */
    float *theta, *state[2];
    float *gbuf;      /* n_shards x n_params */
    float *scratch;   /* n_shards x scratch_floats */
    int32_t *ids;     /* n_shards x ids_per_shard */
    int32_t *feat;    /* n_shards x max_nf */
    double *loss_part; /* n_shards */
    int32_t n_shards, n_groups, group_users;
    int32_t *order;   /* n_groups */
    mfr_softmax_step *steps; /* n_groups: the last epoch's steps */
    int32_t n_steps;
    int64_t scratch_floats, ids_per_shard;
    int64_t epoch, t; /* epochs done, optimizer steps done */
    int n_threads;
    const struct mfr_kernel_set *kern;
    const struct mfr_sm_kern *sm_kern;
};

int32_t mfr_sm_label_index(uint64_t seed, int64_t epoch, int32_t u, int64_t n_u)
{
    uint64_t r = mfr_rng_u64(seed, MFR_RNG_SM_LABEL, (uint64_t)epoch << 32 | (uint32_t)u);
    return (int32_t)(r % (uint64_t)n_u);
}

const struct mfr_sm_layout *mfr_sm_trainer_layout(const mfr_sm_trainer *tr) { return &tr->lay; }
const float *mfr_sm_trainer_params(const mfr_sm_trainer *tr) { return tr->theta; }
int32_t mfr_sm_trainer_n_groups(const mfr_sm_trainer *tr) { return tr->n_groups; }
int32_t mfr_sm_trainer_n_shards(const mfr_sm_trainer *tr) { return tr->n_shards; }

void mfr_sm_trainer_destroy(mfr_sm_trainer *tr)
{
    if (!tr) return;
    mfr_sm_items_free(&tr->items);
    free(tr->row_ptr);
    free(tr->movie);
    mfr_aligned_free(tr->theta);
    mfr_aligned_free(tr->state[0]);
    mfr_aligned_free(tr->state[1]);
    mfr_aligned_free(tr->gbuf);
    mfr_aligned_free(tr->scratch);
    free(tr->ids);
    free(tr->feat);
    free(tr->loss_part);
    free(tr->order);
    free(tr->steps);
    free(tr);
}

static int copy_items(const struct mfr_sm_items *src, struct mfr_sm_items *dst, mfr_error *err)
{
    *dst = *src;
    size_t n = (size_t)src->n_items, np = (size_t)src->genre_ptr[src->n_items];
    dst->year_bucket = mfr_malloc(sizeof(int32_t) * n);
    dst->genre_ptr = mfr_malloc(sizeof(int32_t) * (n + 1));
    dst->genre = mfr_malloc(sizeof(int32_t) * (np ? np : 1));
    if (!dst->year_bucket || !dst->genre_ptr || !dst->genre)
        return mfr_seterr(err, MFR_ERR_NOMEM, "softmax trainer: out of memory");
    memcpy(dst->year_bucket, src->year_bucket, sizeof(int32_t) * n);
    memcpy(dst->genre_ptr, src->genre_ptr, sizeof(int32_t) * (n + 1));
    memcpy(dst->genre, src->genre, sizeof(int32_t) * np);
    return MFR_OK;
}

/* The training movies by user (counting sort, then each row sorted). */
static int build_rows(mfr_sm_trainer *tr, const int32_t *users, const int32_t *items, int64_t n,
                      mfr_error *err)
{
    int32_t N = tr->n_users, M = tr->items.n_items;
    tr->row_ptr = mfr_calloc((size_t)N + 1, sizeof(int64_t));
    tr->movie = mfr_malloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
    if (!tr->row_ptr || !tr->movie)
        return mfr_seterr(err, MFR_ERR_NOMEM, "softmax trainer: out of memory");
    for (int64_t x = 0; x < n; x++) {
        if (users[x] < 0 || users[x] >= N || items[x] < 0 || items[x] >= M)
            return mfr_seterr(err, MFR_ERR_MISMATCH,
                              "softmax trainer: pair %lld (%d, %d) outside %d users x %d items",
                              (long long)x, users[x], items[x], N, M);
        tr->row_ptr[users[x] + 1]++;
    }
    for (int32_t u = 0; u < N; u++) tr->row_ptr[u + 1] += tr->row_ptr[u];
    int64_t *fill = mfr_malloc(sizeof(int64_t) * ((size_t)N + 1));
    if (!fill) return mfr_seterr(err, MFR_ERR_NOMEM, "softmax trainer: out of memory");
    memcpy(fill, tr->row_ptr, sizeof(int64_t) * ((size_t)N + 1));
    for (int64_t x = 0; x < n; x++) tr->movie[fill[users[x]]++] = items[x];
    free(fill);
    tr->max_nf = 1;
    for (int32_t u = 0; u < N; u++) {
        int32_t *row = tr->movie + tr->row_ptr[u];
        int64_t len = tr->row_ptr[u + 1] - tr->row_ptr[u];
        for (int64_t a = 1; a < len; a++) /* insertion sort: rows are short */
            for (int64_t b = a; b > 0 && row[b - 1] > row[b]; b--) {
                int32_t t = row[b];
                row[b] = row[b - 1];
                row[b - 1] = t;
            }
        if (len > tr->max_nf) tr->max_nf = (int32_t)len;
    }
    return MFR_OK;
}

static int alloc_buffers(mfr_sm_trainer *tr, mfr_error *err)
{
    int64_t P = tr->lay.n_params, S = tr->n_shards;
    tr->scratch_floats = (mfr_sm_scratch_floats(&tr->lay) + 15) / 16 * 16;
    tr->ids_per_shard = (int64_t)tr->items.max_genres * tr->max_nf;
    size_t gb, sb;
    if (!mfr_mul_size((size_t)S, (size_t)P * sizeof(float), &gb) ||
        !mfr_mul_size((size_t)S, (size_t)tr->scratch_floats * sizeof(float), &sb))
        return mfr_seterr(err, MFR_ERR_TOO_LARGE, "softmax trainer: buffer sizes overflow");
    tr->theta = mfr_aligned_calloc((size_t)P * sizeof(float));
    tr->state[0] = mfr_aligned_calloc((size_t)P * sizeof(float));
    if (tr->cfg.optimizer == MFR_SOFTMAX_OPT_ADAM)
        tr->state[1] = mfr_aligned_calloc((size_t)P * sizeof(float));
    tr->gbuf = mfr_aligned_calloc(gb);
    tr->scratch = mfr_aligned_calloc(sb);
    tr->ids = mfr_malloc(sizeof(int32_t) * (size_t)(S * tr->ids_per_shard));
    tr->feat = mfr_malloc(sizeof(int32_t) * (size_t)(S * tr->max_nf));
    tr->loss_part = mfr_calloc((size_t)S, sizeof(double));
    tr->order = mfr_malloc(sizeof(int32_t) * (size_t)tr->n_groups);
    tr->steps = mfr_malloc(sizeof(mfr_softmax_step) * (size_t)tr->n_groups);
    if (!tr->theta || !tr->state[0] || (tr->cfg.optimizer == MFR_SOFTMAX_OPT_ADAM && !tr->state[1]) ||
        !tr->gbuf || !tr->scratch || !tr->ids || !tr->feat || !tr->loss_part || !tr->order ||
        !tr->steps)
        return mfr_seterr(err, MFR_ERR_NOMEM,
                          "softmax trainer: out of memory (%lld parameters x %lld shards)",
                          (long long)P, (long long)S);
    if (tr->cfg.optimizer == MFR_SOFTMAX_OPT_ADAGRAD)
        for (int64_t x = 0; x < P; x++) tr->state[0][x] = (float)tr->cfg.adagrad_init;
    return MFR_OK;
}

int mfr_sm_trainer_create(const mfr_softmax_config *cfg, int32_t n_users,
                          const struct mfr_sm_items *items, const int32_t *users,
                          const int32_t *items_of, int64_t n, const float *theta0,
                          int n_threads, mfr_sm_trainer **out, mfr_error *err)
{
    *out = NULL;
    int st = mfr_softmax_config_validate(cfg, err);
    if (st) return st;
    if (n_users < 1 || !items || n < 0 || (n > 0 && (!users || !items_of)))
        return mfr_seterr(err, MFR_ERR_INVALID, "softmax trainer: no users or no pairs");
    mfr_sm_trainer *tr = mfr_calloc(1, sizeof *tr);
    if (!tr) return mfr_seterr(err, MFR_ERR_NOMEM, "softmax trainer: out of memory");
    tr->cfg = *cfg;
    tr->n_users = n_users;
    tr->n_threads = n_threads > 0 ? n_threads : omp_get_max_threads();
    if ((st = copy_items(items, &tr->items, err))) goto fail;
    if ((st = mfr_sm_layout_make(cfg, items->n_items, items->n_genres, items->n_years, &tr->lay,
                                 err)))
        goto fail;
    if ((st = build_rows(tr, users, items_of, n, err))) goto fail;
    tr->group_users = cfg->batch_users > 0 && cfg->batch_users < n_users ? cfg->batch_users
                                                                          : n_users;
    tr->n_groups = (int32_t)((n_users + (int64_t)tr->group_users - 1) / tr->group_users);
    tr->n_shards = cfg->n_shards > 0 ? cfg->n_shards : SM_DEFAULT_SHARDS;
    if (tr->n_shards > tr->group_users) tr->n_shards = tr->group_users;
    if ((st = alloc_buffers(tr, err))) goto fail;
    tr->kern = mfr_kernels_select(cfg->kernels, err);
    tr->sm_kern = tr->kern == &mfr_kernels_avx2 ? &mfr_sm_kern_avx2 : &mfr_sm_kern_ref;
    if (!tr->kern) {
        st = MFR_ERR_UNSUPPORTED;
        goto fail;
    }
    if (theta0)
        memcpy(tr->theta, theta0, sizeof(float) * (size_t)tr->lay.n_params);
    else
        mfr_sm_init(&tr->lay, cfg->seed, cfg->hidden_init, tr->theta);
    *out = tr;
    return MFR_OK;
fail:
    mfr_sm_trainer_destroy(tr);
    return st;
}

/* The examples of users [u0, u1): their count for the batch weight. */
static int64_t count_examples(const mfr_sm_trainer *tr, int32_t u0, int32_t u1)
{
    int64_t c = 0;
    for (int32_t u = u0; u < u1; u++) {
        int64_t n_u = tr->row_ptr[u + 1] - tr->row_ptr[u];
        if (n_u >= 2) c += tr->cfg.all_pairs ? n_u : 1;
    }
    return c;
}

/* Shard s of the batch: users [u0, u1) into gbuf[s], loss into loss_part[s]. */
static void shard_grad(mfr_sm_trainer *tr, int32_t s, int32_t u0, int32_t u1, int64_t epoch,
                       float weight)
{
    const struct mfr_sm_layout *lay = &tr->lay;
    float *g = tr->gbuf + (size_t)s * (size_t)lay->n_params;
    int32_t *F = tr->feat + (size_t)s * (size_t)tr->max_nf;
    struct mfr_sm_scratch sc;
    mfr_sm_scratch_bind(&sc, lay, tr->scratch + (size_t)s * (size_t)tr->scratch_floats);
    sc.ids = tr->ids + (size_t)s * (size_t)tr->ids_per_shard;
    sc.kern = tr->sm_kern;
    memset(g, 0, sizeof(float) * (size_t)lay->n_params);
    double loss = 0.0;
    for (int32_t u = u0; u < u1; u++) {
        const int32_t *row = tr->movie + tr->row_ptr[u];
        int64_t n_u = tr->row_ptr[u + 1] - tr->row_ptr[u];
        if (n_u < 2) continue;
        int64_t j0 = tr->cfg.all_pairs ? 0 : mfr_sm_label_index(tr->cfg.seed, epoch, u, n_u);
        int64_t j1 = tr->cfg.all_pairs ? n_u : j0 + 1;
        for (int64_t j = j0; j < j1; j++) {
            int32_t n_f = 0;
            for (int64_t x = 0; x < n_u; x++)
                if (x != j) F[n_f++] = row[x];
            loss += mfr_sm_example(lay, &tr->items, tr->cfg.features, tr->theta, F, n_f, row[j],
                                   weight, g, &sc);
        }
    }
    tr->loss_part[s] = loss;
}

/* Region 2 for the floats [x0, x0 + n): sum the shard buffers in order
 * into gbuf[0], then the optimizer's update. */
static void reduce_update(mfr_sm_trainer *tr, int32_t S, int64_t x0, int64_t n,
                          const struct mfr_adam_coef *ac)
{
    int64_t P = tr->lay.n_params;
    float *g = tr->gbuf + x0;
    for (int32_t s = 1; s < S; s++) {
        const float *b = tr->gbuf + (size_t)s * (size_t)P + x0;
        for (int64_t x = 0; x < n; x++) g[x] += b[x];
    }
    if (tr->cfg.weight_decay > 0.0) { /* decoupled (AdamW): p *= 1 - lr wd, before the step */
        const float keep = (float)(1.0 - tr->cfg.lr * tr->cfg.weight_decay);
        float *p = tr->theta + x0;
        for (int64_t x = 0; x < n; x++) p[x] *= keep;
    }
    if (tr->cfg.optimizer == MFR_SOFTMAX_OPT_ADAM)
        tr->kern->adam(tr->theta + x0, tr->state[0] + x0, tr->state[1] + x0, g, n, ac);
    else
        tr->sm_kern->adagrad(tr->theta + x0, tr->state[0] + x0, g, n, (float)tr->cfg.lr);
}

int mfr_sm_trainer_step_group(mfr_sm_trainer *tr, int64_t epoch, int32_t grp, double *loss,
                              mfr_error *err)
{
    if (grp < 0 || grp >= tr->n_groups)
        return mfr_seterr(err, MFR_ERR_INVALID, "softmax step: group %d not in 0..%d", grp,
                          tr->n_groups - 1);
    int32_t u0 = grp * tr->group_users;
    int32_t u1 = u0 + tr->group_users < tr->n_users ? u0 + tr->group_users : tr->n_users;
    int64_t n_ex = count_examples(tr, u0, u1);
    if (loss) *loss = 0.0;
    if (n_ex == 0) return MFR_OK;
    int32_t S = tr->n_shards < u1 - u0 ? tr->n_shards : u1 - u0;
    float weight = (float)(1.0 / (double)n_ex);
#pragma omp parallel for num_threads(tr->n_threads) schedule(dynamic, 1)
    for (int32_t s = 0; s < S; s++)
        shard_grad(tr, s, u0 + (int32_t)((int64_t)(u1 - u0) * s / S),
                   u0 + (int32_t)((int64_t)(u1 - u0) * (s + 1) / S), epoch, weight);
    double sum = 0.0;
    for (int32_t s = 0; s < S; s++) sum += tr->loss_part[s];
    if (!isfinite(sum))
        return mfr_seterr(err, MFR_ERR_DIVERGED,
                          "softmax step %lld: the loss is not finite (lower --lr)",
                          (long long)tr->t + 1);
    tr->t++;
    struct mfr_adam_coef ac = {0};
    if (tr->cfg.optimizer == MFR_SOFTMAX_OPT_ADAM)
        ac = mfr_adam_coef_make(tr->cfg.lr, tr->cfg.beta1, tr->cfg.beta2, tr->cfg.eps, tr->t);
    int64_t P = tr->lay.n_params, n_chunks = (P + SM_CHUNK - 1) / SM_CHUNK;
#pragma omp parallel for num_threads(tr->n_threads) schedule(static)
    for (int64_t c = 0; c < n_chunks; c++) {
        int64_t x0 = c * SM_CHUNK;
        reduce_update(tr, S, x0, P - x0 < SM_CHUNK ? P - x0 : SM_CHUNK, &ac);
    }
    if (loss) *loss = sum / (double)n_ex;
    return MFR_OK;
}

int mfr_sm_trainer_epoch(mfr_sm_trainer *tr, double *loss, mfr_error *err)
{
    int32_t G = tr->n_groups;
    for (int32_t i = 0; i < G; i++) tr->order[i] = i;
    for (int32_t i = G - 1; i > 0; i--) { /* Fisher-Yates, seeded by (seed, epoch, i) */
        uint64_t r = mfr_rng_u64(tr->cfg.seed, MFR_RNG_SM_ORDER, (uint64_t)tr->epoch << 32 | (uint32_t)i);
        int32_t j = (int32_t)(r % (uint64_t)(i + 1)), t = tr->order[i];
        tr->order[i] = tr->order[j];
        tr->order[j] = t;
    }
    double total = 0.0;
    int64_t n_ex = 0;
    tr->n_steps = 0;
    for (int32_t i = 0; i < G; i++) {
        int32_t grp = tr->order[i];
        int32_t u0 = grp * tr->group_users;
        int32_t u1 = u0 + tr->group_users < tr->n_users ? u0 + tr->group_users : tr->n_users;
        double l;
        int st = mfr_sm_trainer_step_group(tr, tr->epoch, grp, &l, err);
        if (st) return st;
        int64_t c = count_examples(tr, u0, u1);
        total += l * (double)c;
        n_ex += c;
        if (c > 0)
            tr->steps[tr->n_steps++] = (mfr_softmax_step){
                .step = tr->t, .group = grp, .examples = c, .loss = l};
    }
    tr->epoch++;
    if (loss) *loss = n_ex ? total / (double)n_ex : 0.0;
    return MFR_OK;
}

int64_t mfr_sm_trainer_epochs(const mfr_sm_trainer *tr) { return tr->epoch; }
const char *mfr_sm_trainer_kernels_name(const mfr_sm_trainer *tr) { return tr->sm_kern->name; }
int32_t mfr_sm_trainer_steps(const mfr_sm_trainer *tr, mfr_softmax_step *out, int32_t cap)
{
    for (int32_t x = 0; x < tr->n_steps && x < cap; x++) out[x] = tr->steps[x];
    return tr->n_steps;
}
void mfr_sm_trainer_set_kernels(mfr_sm_trainer *tr, const struct mfr_sm_kern *kern)
{
    tr->sm_kern = kern;
}
const mfr_softmax_config *mfr_sm_trainer_config(const mfr_sm_trainer *tr) { return &tr->cfg; }
const struct mfr_sm_items *mfr_sm_trainer_items(const mfr_sm_trainer *tr) { return &tr->items; }

int mfr_sm_trainer_user_vectors(const mfr_sm_trainer *tr, float *U, int32_t k_pad,
                                mfr_error *err)
{
    /* Each thread binds the scratch of one shard slot: slot = thread
     * number, at most n_shards threads. A user's vector depends on the
     * user alone, so the result does not depend on the thread count. */
    int nt = tr->n_threads < tr->n_shards ? tr->n_threads : tr->n_shards;
    int32_t k = tr->lay.V.cols;
#pragma omp parallel num_threads(nt)
    {
        int tid = omp_get_thread_num();
        struct mfr_sm_scratch sc;
        mfr_sm_scratch_bind(&sc, &tr->lay, tr->scratch + (size_t)tid * (size_t)tr->scratch_floats);
        sc.ids = tr->ids + (size_t)tid * (size_t)tr->ids_per_shard;
        sc.kern = tr->sm_kern;
#pragma omp for schedule(dynamic, 16)
        for (int32_t u = 0; u < tr->n_users; u++) {
            const int32_t *row = tr->movie + tr->row_ptr[u];
            int32_t n_u = (int32_t)(tr->row_ptr[u + 1] - tr->row_ptr[u]);
            mfr_sm_forward(&tr->lay, &tr->items, tr->cfg.features, tr->theta, row, n_u, &sc);
            memcpy(U + (size_t)u * (size_t)k_pad, sc.h[tr->lay.n_layers], sizeof(float) * (size_t)k);
        }
    }
    (void)err;
    return MFR_OK;
}

int32_t mfr_sm_trainer_state(const mfr_sm_trainer *tr, const float *state[2], int64_t *steps)
{
    state[0] = tr->state[0];
    state[1] = tr->state[1];
    *steps = tr->t;
    return tr->cfg.optimizer == MFR_SOFTMAX_OPT_ADAM ? 2 : 1;
}

void mfr_sm_trainer_restore(mfr_sm_trainer *tr, const float *theta, const float *const state[2],
                            int64_t epoch, int64_t steps)
{
    size_t bytes = sizeof(float) * (size_t)tr->lay.n_params;
    memcpy(tr->theta, theta, bytes);
    memcpy(tr->state[0], state[0], bytes);
    if (tr->state[1]) memcpy(tr->state[1], state[1], bytes);
    tr->epoch = epoch;
    tr->t = steps;
}

uint64_t mfr_sm_trainer_pairs_hash(const mfr_sm_trainer *tr, int64_t *n_pairs)
{
    uint64_t h = MFR_FNV_INIT;
    unsigned char b[8];
    for (int32_t u = 0; u <= tr->n_users; u++) {
        mfr_put_le64(b, (uint64_t)tr->row_ptr[u]);
        h = mfr_fnv1a(h, b, 8);
    }
    *n_pairs = tr->row_ptr[tr->n_users];
    for (int64_t j = 0; j < *n_pairs; j++) {
        mfr_put_le32(b, (uint32_t)tr->movie[j]);
        h = mfr_fnv1a(h, b, 4);
    }
    return h;
}
