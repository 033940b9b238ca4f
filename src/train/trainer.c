/*
 * trainer.c — the trainer's life: planning and allocating every buffer a
 * step needs (so that a gradient step allocates nothing; an ALS step
 * allocates its solvers' scratch, als.c), the initial factors, and
 * the accessors. The step itself is in step.c.
 *
 * Memory is planned before anything is allocated: plan_buffers lists every
 * scratch buffer with its size, the total (with the model, the CSR and the
 * CSC) is compared with the memory budget, and the same list is then
 * allocated. Buffer sizes therefore cannot drift from the budget check.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "dataset_priv.h"
#include "rng_priv.h"
#include "train_priv.h"

/* One scratch buffer of the plan: where its pointer goes and its size. */
struct buffer {
    void **dst;
    size_t bytes;
};
#define MAX_BUFFERS 16

struct plan {
    struct buffer buf[MAX_BUFFERS];
    int n;
    bool overflow;
};

/* Adds a buffer of a x b x c bytes (0 bytes: none). */
static void plan_add(struct plan *p, void *dst, size_t a, size_t b, size_t c)
{
    size_t bytes;
    MFR_ASSERT(p->n < MAX_BUFFERS);
    if (!mfr_mul_size(a, b, &bytes) || !mfr_mul_size(bytes, c, &bytes)) p->overflow = true;
    p->buf[p->n++] = (struct buffer){(void **)dst, bytes};
}

/* The regularizer terms' partial-sum layout, from the term table. */
static void plan_reg_layout(mfr_trainer *tr)
{
    const int32_t k = tr->cfg.k;
    for (int t = 0; t < MFR_REG_N_TERMS; t++) {
        const struct mfr_reg_term *term = &mfr_reg_terms[t];
        bool on = term->active(&tr->cfg);
        tr->reg_user_off[t] = tr->reg_user_stride;
        tr->reg_item_off[t] = tr->reg_item_stride;
        tr->reg_user_stride += on ? term->user_len(&tr->cfg, k) : 0;
        tr->reg_item_stride += on ? term->item_len(&tr->cfg, k) : 0;
    }
}

/* Every scratch buffer of a trainer whose sizes are set (tr->cfg, shards,
 * reduction, model shape). */
static void plan_buffers(mfr_trainer *tr, int32_t n_users, int32_t n_items, int32_t k_pad, int64_t nnz,
                         int32_t n_buffers, struct plan *p)
{
    const size_t S = (size_t)tr->n_shards, N = (size_t)n_users, M = (size_t)n_items, K = (size_t)k_pad;
    const size_t R = (size_t)nnz, f = sizeof(float), d = sizeof(double);
    plan_add(p, &tr->shard_first, S + 1, sizeof(int32_t), 1);
    plan_add(p, &tr->shard_loss, S, MFR_TRAIN_LOSS_STRIDE, d);
    const bool grad = !tr->als; /* ALS keeps no gradients */
    plan_add(p, &tr->gU, grad ? N : 0, K, f);
    plan_add(p, &tr->gV, grad ? M : 0, K, f);
    plan_add(p, &tr->resid, grad && tr->reduce == MFR_REDUCE_OWNER ? R : 0, f, 1);
    plan_add(p, &tr->shard_gV, grad && tr->reduce == MFR_REDUCE_SHARD ? (size_t)n_buffers : 0, M * K, f);
    if (tr->reg) {
        plan_add(p, &tr->reg_user_part, S, tr->reg_user_stride, d);
        plan_add(p, &tr->reg_item_part, (size_t)tr->n_item_blocks, tr->reg_item_stride, d);
        plan_add(p, &tr->reg_user_sum, tr->reg_user_stride, d, 1);
        plan_add(p, &tr->reg_item_sum, tr->reg_item_stride, d, 1);
        plan_add(p, &tr->item_count, M, sizeof(int64_t), 1);
    }
    plan_add(p, &tr->csc_rating, tr->als ? R : 0, f, 1);
    if (tr->implicit) {
        plan_add(p, &tr->gZ, N, K, f);
        plan_add(p, &tr->gY, M, K, f);
        plan_add(p, &tr->imp_w, R, f, 1);
    }
}

/* Item owners, implicit feedback and ALS's item solves walk the CSC. */
static bool mfr_trainer_needs_csc(const mfr_trainer *tr)
{
    return tr->reduce == MFR_REDUCE_OWNER || tr->implicit || tr->als;
}

/* Bytes of the plan plus the model, CSR and CSC; 0 on overflow. */
static size_t plan_total(const mfr_trainer *tr, const struct plan *p, const mfr_config *cfg,
                         int32_t n_users, int32_t n_items, int64_t nnz)
{
    size_t total = mfr_model_bytes(cfg->k, cfg->bias, tr->implicit, tr->opt->n_state, n_users, n_items);
    size_t csr = mfr_csr_bytes(n_users, nnz);
    if (!total || !csr || p->overflow || !mfr_add_size(total, csr, &total)) return 0;
    if (mfr_trainer_needs_csc(tr)) {
        size_t csc = mfr_csc_bytes(n_items, nnz);
        if (!csc || !mfr_add_size(total, csc, &total)) return 0;
    }
    for (int b = 0; b < p->n; b++)
        if (!mfr_add_size(total, p->buf[b].bytes, &total)) return 0;
    return total;
}

static int plan_alloc(const struct plan *p)
{
    for (int b = 0; b < p->n; b++)
        if (p->buf[b].bytes && !(*p->buf[b].dst = mfr_aligned_calloc(p->buf[b].bytes))) return MFR_ERR_NOMEM;
    return MFR_OK;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = mfr_malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

/* Bytes of shard buffers per training rating up to which --reduce auto
 * picks them: measured crossover between 16 (shard 2x faster) and 45
 * (owner 1.6x faster) on ML-100K and synthetic sets of 0.3M-9M ratings
 * (docs/PERFORMANCE.md, "Choosing the reduction"). */
#define MFR_REDUCE_AUTO_BYTES_PER_RATING 32.0

/* --reduce auto: shard buffers when zeroing and summing them each epoch
 * (S x M x k_pad floats) costs little per rating, item owners otherwise.
 * From the data's shape and the configuration only: the two reductions
 * give different model bytes, so the thread count must not enter. */
static int32_t reduce_auto(mfr_trainer *tr, const mfr_config *cfg, const mfr_dataset *ds, int64_t nnz)
{
    const int32_t k_pad = mfr_pad_k(cfg->k + 2 * cfg->bias);
    const int32_t s = mfr_shards_count(cfg->n_shards, 1, ds->n_users, ds->n_items, k_pad, nnz);
    const double bytes = (double)s * (double)ds->n_items * (double)k_pad * sizeof(float);
    const double per = bytes / (double)(nnz > 0 ? nnz : 1);
    const bool shard = per <= MFR_REDUCE_AUTO_BYTES_PER_RATING;
    mfr_format_c(tr->reduce_reason, sizeof tr->reduce_reason,
             "auto: %d shard buffer%s of %d item%s x %d floats = %.1f MiB, %.1f B per training rating %s %g",
             (int)s, s == 1 ? "" : "s", (int)ds->n_items, ds->n_items == 1 ? "" : "s", (int)k_pad, bytes / 1048576.0, per, shard ? "<=" : ">",
             MFR_REDUCE_AUTO_BYTES_PER_RATING);
    return shard ? MFR_REDUCE_SHARD : MFR_REDUCE_OWNER;
}

/* The reduction (and why) and the shard count of (cfg, ds, nnz). */
static int32_t shard_plan(mfr_trainer *tr, const mfr_config *cfg, const mfr_dataset *ds, int64_t nnz)
{
    tr->reduce = cfg->reduce != MFR_REDUCE_AUTO ? cfg->reduce : reduce_auto(tr, cfg, ds, nnz);
    if (cfg->reduce != MFR_REDUCE_AUTO) snprintf(tr->reduce_reason, sizeof tr->reduce_reason, "given");
    return mfr_shards_count(cfg->n_shards, tr->reduce == MFR_REDUCE_SHARD, ds->n_users, ds->n_items,
                            mfr_pad_k(cfg->k + 2 * cfg->bias), nnz);
}

int32_t mfr_trainer_plan_shards(const mfr_config *cfg, const mfr_dataset *ds, int64_t nnz, int32_t *reduce)
{
    mfr_trainer t = {.n_shards = 0};
    const int32_t s = shard_plan(&t, cfg, ds, nnz);
    if (reduce) *reduce = t.reduce;
    return s;
}

/* Shapes and choices that depend on the configuration and the whole
 * data's shape only (nnz: its training ratings). */
static void trainer_shape(mfr_trainer *tr, const mfr_config *cfg, const mfr_dataset *ds, int64_t nnz)
{
    tr->cfg = *cfg;
    tr->implicit = cfg->implicit > 0.0;
    tr->als = cfg->optimizer == MFR_OPTIMIZER_ALS;
    tr->reg = mfr_reg_any_active(cfg);
    tr->n_shards = shard_plan(tr, cfg, ds, nnz);
    tr->nnz_all = nnz;
    tr->n_users_all = ds->n_users;
    tr->n_item_blocks = (int32_t)(((int64_t)ds->n_items + MFR_TRAIN_ITEM_BLOCK - 1) / MFR_TRAIN_ITEM_BLOCK);
    mfr_threads_init(tr, cfg->n_threads);
    plan_reg_layout(tr);
}

/* What is resident beside the training buffers while a run trains on
 * train (of the dataset ds) with n_threads threads: the ratings (a copy's
 * arrays; a lean split's test-row marks and test copy, dataset_priv.h),
 * the dataset's ids and metadata, the CSR build's histograms and row-sort
 * scratch, the evaluation's blocks, and the pages of a mapped input that a
 * pass holds before releasing them. The run's peak is the buffers plus
 * this (docs/PERFORMANCE.md, "Memory at 100M"). */
static double beside_buffers(const mfr_dataset *ds, const mfr_ratings *train, int32_t n_users, int n_threads)
{
    const double T = n_threads > 0 ? n_threads : 1, n = (double)train->n, rating = 20.0;
    /* a lean split's marks and test copy (no timestamps: 12 bytes a rating) */
    double b = train->skip ? (double)train->base_n + ((double)train->base_n - n) * 12.0
               : train->borrowed ? 0.0 : n * rating;
    if (!ds->map && ds->ratings) /* the dataset's parsed arrays, the timestamps perhaps in a file */
        b += (double)ds->ratings->n * (ds->ratings->ts_spill_len ? 12.0 : rating);
    if (!train->mapped) /* a mapped cache under the release size, resident since the load read it */
        b += (double)mfr_dataset_resident_map_bytes(ds);
    b += (double)ds->n_users * (8.0 + sizeof(struct mfr_user_meta)) +
         (double)ds->n_items * (8.0 + sizeof(struct mfr_item_meta));
    const double row_max = (double)ds->n_items < n ? (double)ds->n_items : n; /* a user's distinct items */
    b += T * ((double)n_users + 1) * 8.0 + T * row_max * 8.0; /* CSR histograms, row sorts */
    if (train->n <= MFR_CSR_TWO_PASS_MAX)
        b += n * 12.0 + T * (double)ds->n_items * 8.0; /* a small set's by-item copy (csr_priv.h) */
    b += 262144.0 * 28.0;                                        /* evaluation blocks */
    if (train->mapped) { /* a small mapping stays resident; a large one's pages not yet released */
        const double whole = (double)mfr_ratings_rows(train) * rating;
        b += whole < (double)MFR_RELEASE_MIN_BYTES ? whole : T * (double)((int64_t)1 << 20) * rating;
    }
    return b + 32.0 * 1048576.0; /* the process: code, libraries, stacks, mfrec's first 32 MiB of heap */
}

/* Checks the plan of n_users users' nnz ratings and n_buffers shard
 * buffers, with what the run holds beside them, against the memory
 * budget, then allocates it. */
static int trainer_alloc(mfr_trainer *tr, const mfr_dataset *ds, const mfr_ratings *train, int32_t n_users,
                         int32_t n_items, int64_t nnz, int32_t n_buffers, mfr_error *err)
{
    const mfr_config *cfg = &tr->cfg;
    struct plan p = {.n = 0};
    plan_buffers(tr, n_users, n_items, mfr_pad_k(cfg->k + 2 * cfg->bias), nnz, n_buffers, &p);
    size_t need = plan_total(tr, &p, cfg, n_users, n_items, nnz);
    uint64_t budget = cfg->max_memory ? cfg->max_memory : mfr_physical_memory();
    if (need == 0)
        return mfr_seterr(err, MFR_ERR_TOO_LARGE,
                          "training buffers for %d users x %d items x k=%d overflow the address space",
                          (int)n_users, (int)n_items, (int)cfg->k);
    const double beside = ceil(beside_buffers(ds, train, n_users, tr->n_threads));
    /* saturating: a sum past 2^64 must not wrap below the budget */
    const uint64_t peak =
        beside < 0x1p63 && (uint64_t)beside <= UINT64_MAX - need ? (uint64_t)need + (uint64_t)beside : UINT64_MAX;
    char a[16], b[16], c[16];
    if (budget && peak > budget)
        return mfr_seterr(err, MFR_ERR_TOO_LARGE,
                          "training needs %s (factors, optimizer state, CSR and %s) and "
                          "%s beside them (ratings, dataset, scratch), more than the memory budget "
                          "of %s (%s)",
                          mfr_size_text((double)need, a),
                          tr->als ? "the item solves' CSC" : tr->reduce == MFR_REDUCE_SHARD ? "shard buffers" : "owner buffers",
                          mfr_size_text(beside, b), mfr_size_text((double)budget, c),
                          cfg->max_memory ? "max_memory, --max-memory" : "the physical memory; --max-memory sets another");
    tr->mem_bytes = need;
    tr->peak_bytes = peak;
    if (plan_alloc(&p) != MFR_OK)
        return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory allocating %.1f MiB of training buffers",
                          (double)need / 1048576.0);
    return MFR_OK;
}

/* The model of users [user_lo, user_lo + n_users) with its id maps and
 * provenance. */
static int trainer_model(mfr_trainer *tr, const mfr_dataset *ds, const mfr_ratings *train, int32_t n_users,
                         const char *split_spec, mfr_error *err)
{
    int rc = mfr_model_alloc(tr->cfg.k, tr->cfg.bias, n_users, ds->n_items, &tr->model, err);
    if (rc != MFR_OK) return rc;
    mfr_model *m = tr->model;
    m->cfg = tr->cfg;
    m->cfg.n_threads = 0;
    m->cfg.max_memory = 0;
    memcpy(m->user_ids, ds->user_ids + tr->user_lo, sizeof(int64_t) * (size_t)n_users);
    memcpy(m->item_ids, ds->item_ids, sizeof(int64_t) * (size_t)ds->n_items);
    free(m->split_spec);
    free(m->data_dir);
    m->split_spec = dup_str(split_spec ? split_spec : "");
    m->data_dir = dup_str(ds->dir ? ds->dir : "");
    m->data_fingerprint = ds->fingerprint;
    m->split_pin = train->split_pin;
    if (!m->split_spec || !m->data_dir) return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory");
    if (ds->file) { /* a rating file named by the load: where later uses find the data */
        if (!(m->data_file = dup_str(ds->file))) return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory");
        m->data_format = ds->opt.format;
        m->data_sep = (unsigned char)ds->opt.sep;
        m->data_header = ds->opt.header;
    }
    if (tr->implicit && (rc = mfr_model_alloc_implicit(m, err)) != MFR_OK) return rc; /* P, Y */
    return mfr_model_alloc_state(m, tr->opt->n_state, err);
}

/* The CSR, the shard cut and, for item owners or implicit feedback, the CSC. */
static int trainer_index(mfr_trainer *tr, const mfr_ratings *train, mfr_error *err)
{
    const mfr_model *m = tr->model;
    int rc = mfr_csr_build_ratings(m->n_users, m->n_items, train, tr->n_threads, &tr->csr, err);
    if (rc != MFR_OK) return rc;
    if (mfr_trainer_needs_csc(tr))
        if ((rc = mfr_csc_build(&tr->csr, tr->n_threads, &tr->csc, err)) != MFR_OK) return rc;
    if (tr->als) {
        /* a cache miss per rating when the item solves read them through pos */
        const int64_t nnz = tr->csr.nnz;
#pragma omp parallel for schedule(static) num_threads(tr->n_threads)
        for (int64_t j = 0; j < nnz; j++) tr->csc_rating[j] = tr->csr.rating[tr->csc.pos[j]];
    }
    return MFR_OK;
}

/* Rows [first_row, first_row + n_rows) of the factors, F's row 0 being
 * first_row (a part's users). */
static void init_factors(float *F, int32_t first_row, int32_t n_rows, int32_t k, int32_t k_pad, double std,
                         uint64_t seed, uint64_t stream, int32_t n_threads)
{
    /* Each value is a pure function of (seed, stream, row * k + col); the
     * two draws of a polar pair are taken together where both are in the
     * row (half the logarithms and square roots), a batch of pairs at a
     * time; a row's odd first or last value is its pair's half. */
    enum { PAIRS = 128 };
#pragma omp parallel for schedule(static) num_threads(n_threads)
    for (int32_t r = 0; r < n_rows; r++) {
        float *row = F + (size_t)r * (size_t)k_pad;
        const uint64_t idx0 = ((uint64_t)first_row + (uint64_t)r) * (uint64_t)k;
        int32_t c = 0;
        if (idx0 & 1) row[c++] = (float)(std * mfr_rng_normal(seed, stream, idx0));
        while (k - c >= 2) {
            double z[2 * PAIRS];
            const int32_t np = (k - c) / 2 < PAIRS ? (k - c) / 2 : PAIRS;
            mfr_rng_normal_pairs(seed, stream, (idx0 + (uint64_t)c) >> 1, np, z);
            for (int32_t q = 0; q < 2 * np; q++) row[c + q] = (float)(std * z[q]);
            c += 2 * np;
        }
        if (c < k) row[c] = (float)(std * mfr_rng_normal(seed, stream, idx0 + (uint64_t)c));
    }
}

static void derive_all_users(mfr_trainer *tr)
{
#pragma omp parallel num_threads(tr->n_threads)
    mfr_derive_users(tr);
}

/* The parameter groups over the model's arrays and optimizer state. */
static void trainer_groups(mfr_trainer *tr)
{
    mfr_model *m = tr->model;
    float *const param[MFR_N_GROUPS] = {tr->implicit ? m->P : m->U, m->V, m->Y};
    const int32_t rows[MFR_N_GROUPS] = {m->n_users, m->n_items, m->n_items};
    static const char *const names[MFR_N_GROUPS] = {"users", "items", "implicit"};
    _Static_assert((int)MFR_N_GROUPS == (int)MFR_MODEL_N_GROUPS, "one state slot per group");
    for (int g = 0; g < MFR_N_GROUPS; g++) {
        tr->group[g] = (struct mfr_param_group){names[g], param[g], {NULL, NULL}, rows[g]};
        for (int s = 0; s < m->n_state; s++) tr->group[g].state[s] = m->state[g][s];
    }
}

/* What the regularizer terms read (reg_priv.h). */
static void trainer_reg_ctx(mfr_trainer *tr)
{
    const mfr_model *m = tr->model;
    struct mfr_reg_ctx *x = &tr->reg_ctx;
    *x = (struct mfr_reg_ctx){.cfg = &tr->cfg, .k = m->k, .k_row = m->k_row, .k_pad = m->k_pad,
                              .n_users = tr->n_users_all, .n_items = m->n_items, .nnz = tr->nnz_all,
                              .implicit = tr->implicit, .U = m->U, .P = tr->implicit ? m->P : m->U, .V = m->V, .Y = m->Y,
                              .row_ptr = tr->csr.row_ptr, .item_count = tr->item_count,
                              .mu = tr->bias_mean};
    if (!tr->reg) return;
    for (int t = 0; t < MFR_REG_N_TERMS; t++) {
        const struct mfr_reg_term *term = &mfr_reg_terms[t];
        if (!term->active(&tr->cfg)) continue;
        if (term->user_len(&tr->cfg, m->k)) x->user_sum[t] = tr->reg_user_sum + tr->reg_user_off[t];
        if (term->item_len(&tr->cfg, m->k)) x->item_sum[t] = tr->reg_item_sum + tr->reg_item_off[t];
    }
}

/* With regularizers: the items' training rating counts, the whole data's. */
static void trainer_item_count(mfr_trainer *tr, const struct mfr_train_part *part)
{
    const int32_t n_items = tr->model->n_items;
    if (!tr->reg) return;
    if (part) {
        memcpy(tr->item_count, part->item_count, sizeof(int64_t) * (size_t)n_items);
        return;
    }
    if (tr->csc.col_ptr) {
        for (int32_t i = 0; i < n_items; i++) tr->item_count[i] = tr->csc.col_ptr[i + 1] - tr->csc.col_ptr[i];
        return;
    }
    for (int64_t j = 0; j < tr->csr.nnz; j++) tr->item_count[tr->csr.item[j]]++;
}

/* The sum of r's ratings in rating order (a view's rows skipping its
 * test rows; a mapped input's pages released behind). */
static double rating_sum(const mfr_ratings *r)
{
    const int64_t rows = mfr_ratings_rows(r), step = (int64_t)1 << 20;
    double sum = 0.0;
    for (int64_t f0 = 0; f0 < rows; f0 += step) {
        const int64_t f1 = f0 + step < rows ? f0 + step : rows;
        mfr_ratings_populate_rows(r, f0, f1, MFR_ROWS_RATING);
        if (r->skip) {
            for (int64_t f = f0; f < f1; f++)
                if (!r->skip[f]) sum += r->rating[f];
        } else {
            for (int64_t f = f0; f < f1; f++) sum += r->rating[f];
        }
        mfr_ratings_release_rows(r, f0, f1);
    }
    return sum;
}

/* Initial values: N(0, init_std²) factors, b_i at the training mean (a
 * part's: the whole data's), the implicit weights c_u, and U derived from
 * P and Y. */
static void trainer_init(mfr_trainer *tr, const mfr_ratings *train, const struct mfr_train_part *part)
{
    mfr_model *m = tr->model;
    const mfr_config *c = &tr->cfg;
    init_factors(m->U, tr->user_lo, m->n_users, m->k, m->k_pad, c->init_std, c->seed, MFR_RNG_INIT_U,
                 tr->n_threads);
    init_factors(m->V, 0, m->n_items, m->k, m->k_pad, c->init_std, c->seed, MFR_RNG_INIT_V, tr->n_threads);
    if (c->bias) {
        /* b_u = 0 (alloc), b_i = the training mean, summed in rating order */
        double mean = 0.0;
        if (!part) mean = rating_sum(train);
        tr->bias_mean = part ? part->bias_mean : (float)(mean / (double)train->n);
        for (int32_t i = 0; i < m->n_items; i++)
            m->V[(size_t)i * (size_t)m->k_pad + (size_t)mfr_lane_item_bias(m->k)] = tr->bias_mean;
    }
    if (!tr->implicit) return;
    memcpy(m->P, m->U, sizeof(float) * (size_t)m->n_users * (size_t)m->k_pad);
#pragma omp parallel for schedule(static) num_threads(tr->n_threads)
    for (int32_t u = 0; u < m->n_users; u++) {
        int64_t b = tr->csr.row_ptr[u], e = tr->csr.row_ptr[u + 1];
        float w = e > b ? (float)(1.0 / sqrt((double)(e - b))) : 0.0f;
        for (int64_t j = b; j < e; j++) tr->imp_w[j] = w;
    }
    init_factors(m->Y, 0, m->n_items, m->k, m->k_pad, c->init_std, c->seed, MFR_RNG_INIT_Y, tr->n_threads);
    derive_all_users(tr);
}

/* A part's shard cut: the whole data's, its users counted from user_lo
 * (the other shards empty). */
static void part_cut(mfr_trainer *tr, const struct mfr_train_part *part)
{
    const int32_t n = tr->model->n_users;
    for (int32_t s = 0; s <= tr->n_shards; s++) {
        const int32_t u = part->shard_first[s] - part->user_lo;
        tr->shard_first[s] = u < 0 ? 0 : u > n ? n : u;
    }
}

/* The checks of mfr_trainer_create (nnz: the whole data's training
 * ratings; the pointers trainer_build checked), then a trainer with its
 * kernels and optimizer (nothing allocated but the struct). */
static int trainer_new(const mfr_config *cfg, int64_t nnz, mfr_trainer **out, mfr_error *err)
{
    int rc;
    *out = NULL;
    if ((rc = mfr_config_validate(cfg, err)) != MFR_OK) return rc;
    if (nnz < 1) return mfr_seterr(err, MFR_ERR_INVALID, "the training set has no ratings");
    const struct mfr_kernel_set *kern = mfr_kernels_select(cfg->kernels, err);
    if (!kern) return err ? err->status : MFR_ERR_UNSUPPORTED;
    const struct mfr_optim *opt = mfr_optim_find(cfg->optimizer);
    if (!opt) return mfr_seterr(err, MFR_ERR_INVALID, "optimizer %d is unknown", (int)cfg->optimizer);
    MFR_ASSERT(opt->n_state == mfr_model_state_count(opt->id)); /* what model files store */
    mfr_trainer *tr = mfr_calloc(1, sizeof *tr);
    if (!tr) return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory");
    tr->kern = kern;
    tr->opt = opt;
    *out = tr;
    return MFR_OK;
}

/* The trainer of the whole data (part NULL) or of a part. */
static int trainer_build(const mfr_config *cfg, const mfr_dataset *ds, const mfr_ratings *train,
                         const char *split_spec, const struct mfr_train_part *part, mfr_trainer **out,
                         mfr_error *err)
{
    const char *fn = part ? "mfr_trainer_create_part" : "mfr_trainer_create";
    if (!out) return mfr_seterr(err, MFR_ERR_INVALID, "%s: out is NULL", fn);
    *out = NULL;
    if (!cfg || !ds || !train)
        return mfr_seterr(err, MFR_ERR_INVALID, "%s: %s is NULL", fn, !cfg ? "cfg" : !ds ? "dataset" : "ratings");
    int rc = mfr_model_check_split_spec(fn, split_spec, err);
    if (rc != MFR_OK) return rc;
    mfr_trainer *tr;
    rc = trainer_new(cfg, part ? part->nnz : train->n, &tr, err);
    if (rc != MFR_OK) return rc;
    trainer_shape(tr, cfg, ds, part ? part->nnz : train->n);
    if (part && (part->n_shards != tr->n_shards || part->user_lo < 0 || part->user_hi > ds->n_users))
        rc = mfr_seterr(err, MFR_ERR_MISMATCH, "a trainer part of %d shards, the data's cut has %d",
                        (int)part->n_shards, (int)tr->n_shards);
    tr->user_lo = part ? part->user_lo : 0;
    tr->shard_lo = part ? part->shard_lo : 0;
    const int32_t n_users = part ? part->user_hi - part->user_lo : ds->n_users;
    const int32_t n_buffers = part ? part->shard_hi - part->shard_lo : tr->n_shards;
    mfr_threads_spread(tr->n_threads);
    const int32_t zero_was = mfr_zero_threads_set(tr->n_threads); /* its buffers: its threads */
    if (rc != MFR_OK || (rc = trainer_alloc(tr, ds, train, n_users, ds->n_items, train->n, n_buffers, err)) != MFR_OK ||
        (rc = trainer_model(tr, ds, train, n_users, split_spec, err)) != MFR_OK ||
        (rc = trainer_index(tr, train, err)) != MFR_OK) {
        mfr_zero_threads_set(zero_was);
        mfr_trainer_destroy(tr);
        return rc;
    }
    mfr_zero_threads_set(zero_was);
    if (part)
        part_cut(tr, part);
    else
        mfr_shards_cut(&tr->csr, tr->n_shards, tr->shard_first);
    trainer_groups(tr);
    trainer_item_count(tr, part);
    trainer_init(tr, train, part);
    trainer_reg_ctx(tr);
    *out = tr;
    return MFR_OK;
}

int mfr_trainer_create(const mfr_config *cfg, const mfr_dataset *ds, const mfr_ratings *train,
                       const char *split_spec, mfr_trainer **out, mfr_error *err)
{
    return trainer_build(cfg, ds, train, split_spec, NULL, out, err);
}

int mfr_trainer_create_part(const mfr_config *cfg, const mfr_dataset *ds, const mfr_ratings *train,
                            const char *split_spec, const struct mfr_train_part *part, mfr_trainer **out,
                            mfr_error *err)
{
    if (!part) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_trainer_create_part: part is NULL");
    return trainer_build(cfg, ds, train, split_spec, part, out, err);
}

void mfr_trainer_destroy(mfr_trainer *tr)
{
    if (!tr) return;
    mfr_model_destroy(tr->model);
    mfr_csr_free(&tr->csr);
    mfr_csc_free(&tr->csc);
    void *bufs[] = {tr->shard_first, tr->shard_loss, tr->gU, tr->gV, tr->resid, tr->shard_gV,
                    tr->reg_user_part, tr->reg_item_part, tr->reg_user_sum, tr->reg_item_sum,
                    tr->item_count, tr->gZ, tr->gY, tr->imp_w, tr->csc_rating};
    for (size_t b = 0; b < sizeof bufs / sizeof *bufs; b++) mfr_aligned_free(bufs[b]);
    free(tr);
}

/* Checks a row-major (rows x cols) array against the model's shape. */
static int check_factors(const float *src, int64_t rows, int64_t cols, int32_t want_rows,
                         int32_t k, const char *name, mfr_error *err)
{
    if (!src) return mfr_seterr(err, MFR_ERR_INVALID, "%s is NULL", name);
    if (rows != want_rows || cols != k)
        return mfr_seterr(err, MFR_ERR_MISMATCH, "%s has shape (%lld, %lld), expected (%d, %d)",
                          name, (long long)rows, (long long)cols, (int)want_rows, (int)k);
    for (int64_t x = 0; x < rows * cols; x++)
        if (!isfinite(src[x]))
            return mfr_seterr(err, MFR_ERR_INVALID, "%s[%lld][%lld] is not finite", name,
                              (long long)(x / cols), (long long)(x % cols));
    return MFR_OK;
}

/* Whether a[0..n) holds only zeros (-0 included). */
static bool all_zero(const float *a, int64_t n)
{
    for (int64_t x = 0; x < n; x++)
        if (a[x] != 0.0f) return false;
    return true;
}

/* Starting factors that can never move: with U and V all zero every
 * gradient is zero (Adam, sgd: the run logs one MSE throughout), and ALS
 * solves the users from V first, so a zero V gives zero users, then zero
 * movies. --implicit's Y, drawn from the seed, makes the user vectors
 * non-zero. A part of an MPI trainer sees its own users only: a rank's
 * zero rows say nothing of the others', so it is not checked. */
static int check_factors_move(const mfr_trainer *tr, const float *U, int64_t u_n, const float *V,
                              int64_t v_n, mfr_error *err)
{
    if (tr->implicit || tr->model->n_users != tr->n_users_all || !all_zero(V, v_n)) return MFR_OK;
    if (tr->als)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "V is all zero: ALS solves the users from V first, so every factor would stay 0");
    if (!all_zero(U, u_n)) return MFR_OK;
    return mfr_seterr(err, MFR_ERR_INVALID,
                      "the starting U and V are all zero: zero factors have zero gradients and never move "
                      "(start from small random values)");
}

int mfr_trainer_set_factors(mfr_trainer *tr, const float *U, int64_t u_rows, int64_t u_cols,
                            const float *V, int64_t v_rows, int64_t v_cols, mfr_error *err)
{
    if (!tr) return mfr_seterr(err, MFR_ERR_INVALID, "trainer is NULL");
    mfr_model *m = tr->model;
    /* a first step that diverged in its update was applied (to the factors
     * and the optimizer state) without counting an epoch */
    if (m->epochs != 0 || tr->broken_epoch > 0)
        return mfr_seterr(err, MFR_ERR_STATE, "factors can only be set before the first step");
    int rc;
    if ((rc = check_factors(U, u_rows, u_cols, m->n_users, m->k, "U", err)) != MFR_OK ||
        (rc = check_factors(V, v_rows, v_cols, m->n_items, m->k, "V", err)) != MFR_OK ||
        (rc = check_factors_move(tr, U, u_rows * u_cols, V, v_rows * v_cols, err)) != MFR_OK)
        return rc;
    /* Only the k embedding lanes: bias lanes and padding keep their values.
     * With implicit feedback U gives P, and U is derived again. */
    float *dst_U = tr->group[MFR_GROUP_USERS].param;
    for (int32_t r = 0; r < m->n_users; r++)
        memcpy(dst_U + (size_t)r * (size_t)m->k_pad, U + (size_t)r * (size_t)m->k,
               sizeof(float) * (size_t)m->k);
    for (int32_t r = 0; r < m->n_items; r++)
        memcpy(m->V + (size_t)r * (size_t)m->k_pad, V + (size_t)r * (size_t)m->k,
               sizeof(float) * (size_t)m->k);
    if (tr->implicit) derive_all_users(tr);
    return MFR_OK;
}

int mfr_trainer_last_loss(const mfr_trainer *tr, mfr_loss *out, mfr_error *err)
{
    if (!tr || !out)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_trainer_last_loss: %s is NULL", !tr ? "trainer" : "out");
    *out = tr->last;
    return MFR_OK;
}

int mfr_data_pass_ok(const mfr_trainer *tr, const mfr_model *m, const char *fn, mfr_error *err)
{
    if (!tr->gU)
        return mfr_seterr(err, MFR_ERR_UNSUPPORTED, "%s: an ALS trainer has no gradient pass (use mfr_trainer_evaluate)",
                          fn);
    if (!m) return MFR_OK;
    if (m->sm) /* its dot products are logits: mfr_model_evaluate refuses it too */
        return mfr_seterr(err, MFR_ERR_MISMATCH,
                          "%s: the model is a softmax model, which does not predict ratings", fn);
    const mfr_model *t = tr->model;
    if (m->n_users != t->n_users || m->n_items != t->n_items || m->k != t->k || m->k_pad != t->k_pad ||
        m->cfg.bias != t->cfg.bias)
        return mfr_seterr(err, MFR_ERR_MISMATCH,
                          "%s: the model (%d users, %d items, dim %d%s) is not of the trainer's shape (%d, %d, %d%s)", fn,
                          m->n_users, m->n_items, m->k, m->cfg.bias ? ", biases" : "", t->n_users, t->n_items, t->k,
                          t->cfg.bias ? ", biases" : "");
    return MFR_OK;
}

int mfr_trainer_data_mse(mfr_trainer *tr, const mfr_model *m, double *mse, mfr_error *err)
{
    if (!tr || !mse)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_trainer_data_mse: %s is NULL", !tr ? "trainer" : "mse");
    if (tr->model->n_users != tr->n_users_all)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "mfr_trainer_data_mse: the trainer holds one MPI rank's users (use mfr_mpi_trainer_data_mse)");
    const int rc = mfr_data_pass_ok(tr, m, "mfr_trainer_data_mse", err);
    if (rc != MFR_OK) return rc;
    mfr_data_loss_slots(tr, m ? m : tr->model, 0, tr->n_shards);
    *mse = mfr_data_mse_of_slots(tr);
    return MFR_OK;
}

/* The logged epochs' evaluation: the model's own, on the trainer's threads. */
int mfr_trainer_evaluate(const mfr_trainer *tr, const mfr_ratings *r, mfr_metrics *out, mfr_error *err)
{
    if (!tr || !r || !out)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_trainer_evaluate: %s is NULL",
                          !tr ? "trainer" : !r ? "ratings" : "out");
    return mfr_model_evaluate_threads(tr->model, r, tr->n_threads, out, err);
}

const mfr_model *mfr_trainer_model(const mfr_trainer *tr) { return tr ? tr->model : NULL; }
int32_t mfr_trainer_n_shards(const mfr_trainer *tr) { return tr ? tr->n_shards : 0; }
int32_t mfr_trainer_n_threads(const mfr_trainer *tr) { return tr ? tr->n_threads : 0; }
int mfr_trainer_threads_auto(const mfr_trainer *tr) { return tr ? tr->tuner.on : 0; }
/* NULL for a NULL trainer, as mfrec.h's rule for pointers says ("" read as a name) */
const char *mfr_trainer_kernels_name(const mfr_trainer *tr) { return tr ? tr->kern->name : NULL; }
const char *mfr_trainer_reduce_name(const mfr_trainer *tr)
{
    return !tr ? NULL : tr->als ? "none (als)" : tr->reduce == MFR_REDUCE_SHARD ? "shard" : "owner";
}
uint64_t mfr_trainer_memory_bytes(const mfr_trainer *tr) { return tr ? tr->mem_bytes : 0; }
uint64_t mfr_trainer_peak_bytes(const mfr_trainer *tr) { return tr ? tr->peak_bytes : 0; }
const char *mfr_trainer_reduce_reason(const mfr_trainer *tr)
{
    /* ALS solves each row in place: no gradient is reduced, whatever the plan */
    return !tr ? NULL : tr->als ? "each row solved in place, no gradient to reduce" : tr->reduce_reason;
}
