/*
 * train.c — the trainer: full-batch epochs over the training CSR, threads,
 * the deterministic item-gradient reduction and the Adam step.
 *
 * DESIGN
 * One OpenMP parallel region per epoch, in phases separated by barriers:
 *
 *  0. (only with --l2 / --l2-freq / --gravity) squared norms or Gram
 *                  matrices: partials per user shard and per fixed block of
 *                  items (double), then summed in shard / block order by one
 *     barrier      thread.
 *  1. gradients  — threads take shards (contiguous user ranges) round-robin.
 *                  A shard writes only its own users' gradient rows (gU, with
 *                  their regularizer terms and the constant bias lane zeroed),
 *                  its loss slot and, depending on the reduction, its own
 *                  item-gradient buffer (shard mode) or the residuals of its
 *     barrier      own ratings (owner mode).
 *     single     — the loss: shard partials (double) summed in shard order,
 *                  plus the regularizers' terms; a non-finite loss cancels
 *     barrier      every update below.
 *  2. reduction  — owner mode: each item sums its ratings' residual * U[user]
 *                  in CSC (user) order, adds its regularizer gradients, and
 *                  is updated at once (threads own disjoint items; nothing
 *                  later reads V). Shard mode: gV = sum of the shard buffers
 *                  in shard order, threads owning disjoint ranges of gV; then
 *     barrier      per item the regularizer gradients.
 *  3. update     — Adam or SGD, elementwise, threads own disjoint ranges of
 *                  U (and, in shard mode, V) and their moments.
 *
 * Biases (--bias) live in two extra lanes of each row: U_u = [.., b_u, 1],
 * V_i = [.., 1, b_i], so the kernels' dot product already adds b_u + b_i;
 * the gradient of the constant lanes is zeroed before the update, so they
 * stay exactly 1. b_i starts at the training mean.
 *
 * Implicit feedback (cfg.implicit, SVD++): the parameters are P and Y and
 * the model's U is derived, U_u = P_u + c_u Σ_{j in R(u)} Y_j with
 * c_u = |R(u)|^-1/2, so every pass above reads U unchanged. Phase 1 keeps
 * each user's dLoss/dU_u (data and gravity terms) in gZ before P's own L2
 * terms are added; phase 2 adds an owner pass over the CSC for
 *   dLoss/dY_j = Σ_{u rated j} c_u gZ_u  (+ Y's L2 term)
 * that updates Y (in either reduction mode, so it needs the CSC in both);
 * phase 3 updates P; phase 4 recomputes U from P and Y, user by user with
 * the items in CSR order.
 *
 * No float sum depends on which thread ran what: every sum has a fixed
 * order given by the data (shard index, user order, rating order), so the
 * factors are bit-identical for any thread count. The shard count comes
 * from the configuration or the data, never from the thread count. All
 * scratch memory is sized and allocated at creation; a step allocates
 * nothing.
 */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "csr_priv.h"
#include "dataset_priv.h"
#include "kern_priv.h"
#include "model_priv.h"
#include "reg_priv.h"
#include "rng_priv.h"

/* Floats per Adam work chunk (a multiple of MFR_LANES). */
#define ADAM_CHUNK 4096
/* Loss slots sit a cache line apart: shards on different cores must not
 * write the same line (on this 2-vCPU VM a shared line costs up to 0.5 ms
 * per epoch in the phases when its cores are far apart). */
#define LOSS_STRIDE 8
/* Items per regularizer block: the item partials' summation unit. */
#define ITEM_BLOCK 256

struct mfr_trainer {
    mfr_config cfg;
    mfr_model *model;
    const struct mfr_kernel_set *kern;
    int32_t reduce; /* MFR_REDUCE_SHARD or MFR_REDUCE_OWNER */
    struct mfr_csr csr;
    struct mfr_csc csc; /* owner mode */
    int32_t n_shards;
    int32_t *shard_first; /* n_shards + 1 */
    double *shard_loss;   /* n_shards slots, LOSS_STRIDE doubles apart */
    float *gU, *gV;       /* model layout */
    float *resid;         /* owner mode: nnz */
    float *shard_gV;      /* shard mode: n_shards x n_items x k_pad */
    int reg;              /* l2, l2_freq or gravity on */
    int64_t *item_count;  /* ratings per item (l2_freq) */
    double *freq_U, *freq_V; /* per shard / item block: Σ n |row|² (l2_freq) */
    int32_t n_item_blocks;
    double *part_U, *part_V; /* per shard / item block: |.|² (1) or Gram (k x k) */
    double *gram_U, *gram_V; /* reduced Grams (gravity only) */
    double *sqP_U;        /* per shard: Σ|P_u|² (implicit with gravity) */
    double *bsq_U, *bsq_V; /* per shard / item block: Σ b_u², Σ (b_i - μ)² (l2_bias) */
    double *sq_Y;         /* per item block: Σ|Y_j|² (implicit) */
    float bias_mean;      /* μ: the training mean, where every b_i starts */
    float *gZ;            /* implicit: users x k_pad, dLoss/dU before P's L2 terms */
    float *gY;            /* implicit: items x k_pad */
    float *imp_w;         /* implicit: c_u of each rating's user, in CSR order */
    mfr_loss last;        /* the last step's loss parts */
    int32_t n_threads;
    uint64_t mem_bytes;
    char errmsg[512];
};

/* Bytes of every buffer the trainer allocates, or 0 on overflow. */
static size_t trainer_bytes(int32_t k_pad, int32_t n_users, int32_t n_items, int64_t nnz,
                            int32_t n_shards, int32_t reduce, int implicit, size_t model_bytes,
                            size_t reg_bytes)
{
    size_t total = model_bytes, part, rows;
    if (!model_bytes) return 0;
    size_t csr = mfr_csr_bytes(n_users, nnz);
    if (!csr || !mfr_add_size(total, csr, &total)) return 0;
    /* gU and gV */
    if (!mfr_add_size((size_t)n_users, (size_t)n_items, &rows)) return 0;
    if (!mfr_mul_size(rows, (size_t)k_pad * sizeof(float), &part)) return 0;
    if (!mfr_add_size(total, part, &total)) return 0;
    if (!mfr_add_size(total, ((size_t)n_shards + 1) * (sizeof(int32_t) + LOSS_STRIDE * sizeof(double)),
                      &total))
        return 0;
    if (!mfr_add_size(total, reg_bytes, &total)) return 0;
    if (reduce == MFR_REDUCE_OWNER || implicit) {
        size_t csc = mfr_csc_bytes(n_items, nnz);
        if (!csc || !mfr_add_size(total, csc, &total)) return 0;
        /* the residuals (owner mode) and the c_u weights (implicit) */
        if (!mfr_mul_size((size_t)nnz, sizeof(float) * (size_t)(1 + (reduce == MFR_REDUCE_OWNER && implicit)),
                          &part))
            return 0;
        if (!mfr_add_size(total, part, &total)) return 0;
    }
    if (implicit) { /* gZ and gY */
        if (!mfr_mul_size(rows, (size_t)k_pad * sizeof(float), &part)) return 0;
        if (!mfr_add_size(total, part, &total)) return 0;
    }
    if (reduce == MFR_REDUCE_SHARD) {
        if (!mfr_mul_size((size_t)n_shards, (size_t)n_items, &part)) return 0;
        if (!mfr_mul_size(part, (size_t)k_pad * sizeof(float), &part)) return 0;
        if (!mfr_add_size(total, part, &total)) return 0;
    }
    return total;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

static void init_factors(float *F, int32_t n_rows, int32_t k, int32_t k_pad, double std,
                         uint64_t seed, uint64_t stream, int32_t n_threads)
{
    /* Each value is a pure function of (seed, stream, row * k + col). */
#pragma omp parallel for schedule(static) num_threads(n_threads)
    for (int32_t r = 0; r < n_rows; r++) {
        float *row = F + (size_t)r * (size_t)k_pad;
        for (int32_t c = 0; c < k; c++)
            row[c] = (float)(std * mfr_rng_normal(seed, stream, (uint64_t)r * (uint64_t)k + (uint64_t)c));
    }
}

/* Implicit feedback: U_u = P_u + c_u Σ_{j in R(u)} Y_j, the Y rows summed in
 * CSR order lane by lane in float (then scaled and added to P once), using
 * `acc` (k_pad floats) as scratch. The bias lanes of Y are zero, so U's
 * bias lanes equal P's. */
static void derive_user(mfr_trainer *tr, int32_t u, float *acc)
{
    const mfr_model *m = tr->model;
    const size_t k_pad = (size_t)m->k_pad;
    int64_t b = tr->csr.row_ptr[u], e = tr->csr.row_ptr[u + 1];
    const float *p = m->P + (size_t)u * k_pad;
    float *out = m->U + (size_t)u * k_pad;
    if (b == e) {
        memcpy(out, p, sizeof(float) * k_pad);
        return;
    }
    memset(acc, 0, sizeof(float) * k_pad);
    for (int64_t j = b; j < e; j++) {
        const float *y = m->Y + (size_t)tr->csr.item[j] * k_pad;
        for (size_t x = 0; x < k_pad; x++) acc[x] += y[x];
    }
    const float c = tr->imp_w[b];
    for (size_t x = 0; x < k_pad; x++) out[x] = p[x] + c * acc[x];
}

/* derive_user for every user; gZ rows serve as the scratch. */
static void derive_all_users(mfr_trainer *tr)
{
#pragma omp parallel for schedule(static, 16) num_threads(tr->n_threads)
    for (int32_t u = 0; u < tr->model->n_users; u++)
        derive_user(tr, u, tr->gZ + (size_t)u * (size_t)tr->model->k_pad);
}

int mfr_trainer_create(const mfr_config *cfg_in, const mfr_dataset *ds,
                       const mfr_ratings *train, const char *split_spec, mfr_trainer **out,
                       mfr_error *err)
{
    int rc;
    mfr_trainer *tr = NULL;
    if (!out) return mfr_seterr(err, MFR_ERR_INVALID, "trainer output pointer is NULL");
    *out = NULL;
    if (!ds || !train) return mfr_seterr(err, MFR_ERR_INVALID, "dataset or ratings is NULL");
    if ((rc = mfr_config_validate(cfg_in, err)) != MFR_OK) return rc;
    if (train->n < 1) return mfr_seterr(err, MFR_ERR_INVALID, "the training set has no ratings");

    const struct mfr_kernel_set *kern = mfr_kernels_select(cfg_in->kernels, err);
    if (!kern) return err ? err->status : MFR_ERR_UNSUPPORTED;

    mfr_config cfg = *cfg_in;
    int32_t n_users = ds->n_users, n_items = ds->n_items, k = cfg.k;
    int32_t k_pad = mfr_pad_k(k + 2 * cfg.bias);
    int32_t reduce = cfg.reduce == MFR_REDUCE_SHARD ? MFR_REDUCE_SHARD : MFR_REDUCE_OWNER;
    int32_t n_shards = cfg.n_shards ? cfg.n_shards : mfr_shards_default(n_users, train->n);
    if (!cfg.n_shards && reduce == MFR_REDUCE_SHARD) {
        /* Every shard zeroes and the reduction sums a whole n_items x k_pad
         * buffer per epoch: keep the buffers near 32 MiB, rounded up to a
         * multiple of 16 shards (which 1, 2, 4, 8 and 16 threads share
         * evenly). 10M ratings, k 32: 128 -> 32 shards; 48 shards gave
         * 61.7 / 32.6 ms/epoch at 1 / 2 threads, 32 give 58.7 / 30.4.
         * Depends on data and config only. */
        size_t row_bytes = (size_t)n_items * (size_t)k_pad * sizeof(float);
        size_t cap = row_bytes ? ((size_t)32 << 20) / row_bytes : (size_t)n_shards;
        cap = (cap + 15) / 16 * 16;
        if (cap < 16) cap = 16;
        if ((size_t)n_shards > cap) n_shards = (int32_t)cap;
    }
    if (n_shards > n_users) n_shards = n_users;
    if (n_shards < 1) n_shards = 1;

    const int implicit = cfg.implicit > 0.0;
    int reg = cfg.l2 > 0.0 || cfg.gravity > 0.0 || cfg.l2_freq > 0.0 || cfg.l2_bias > 0.0 || implicit;
    int32_t n_item_blocks = (n_items + ITEM_BLOCK - 1) / ITEM_BLOCK;
    /* one double per partial for L2 alone, a k x k Gram each with gravity */
    size_t part_len = cfg.gravity > 0.0 ? (size_t)k * (size_t)k : 1;
    /* partials, Grams, the four per-shard / per-block sums, item counts */
    size_t reg_bytes = reg ? ((size_t)n_shards + (size_t)n_item_blocks + 2) * (part_len + 1) * sizeof(double) +
                                 ((size_t)n_shards + (size_t)n_item_blocks) * 2 * sizeof(double) +
                                 (size_t)n_items * sizeof(int64_t)
                           : 0;
    uint64_t budget = cfg.max_memory ? cfg.max_memory : mfr_physical_memory();
    size_t need = trainer_bytes(k_pad, n_users, n_items, train->n, n_shards, reduce, implicit,
                                mfr_model_bytes(k, cfg.bias, implicit, n_users, n_items), reg_bytes);
    if (need == 0)
        return mfr_seterr(err, MFR_ERR_TOO_LARGE,
                          "training buffers for %d users x %d items x k=%d overflow the address space",
                          (int)n_users, (int)n_items, (int)k);
    if (budget && need > budget)
        return mfr_seterr(err, MFR_ERR_TOO_LARGE,
                          "training needs %.1f MiB (factors, Adam state, CSR and %s buffers), "
                          "more than the memory budget of %.1f MiB",
                          (double)need / 1048576.0, reduce == MFR_REDUCE_SHARD ? "shard" : "owner",
                          (double)budget / 1048576.0);

    tr = calloc(1, sizeof *tr);
    if (!tr) return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory");
    tr->cfg = cfg;
    tr->kern = kern;
    tr->reduce = reduce;
    tr->n_shards = n_shards;
    tr->n_threads = cfg.n_threads > 0 ? cfg.n_threads : omp_get_max_threads();
    tr->mem_bytes = need;

    if ((rc = mfr_model_alloc(k, cfg.bias, n_users, n_items, &tr->model, err)) != MFR_OK) goto fail;
    mfr_model *m = tr->model;
    m->cfg = cfg;
    m->cfg.n_threads = 0;
    m->cfg.max_memory = 0;
    memcpy(m->user_ids, ds->user_ids, sizeof(int64_t) * (size_t)n_users);
    memcpy(m->item_ids, ds->item_ids, sizeof(int64_t) * (size_t)n_items);
    free(m->split_spec);
    free(m->data_dir);
    m->split_spec = dup_str(split_spec ? split_spec : "");
    m->data_dir = dup_str(ds->dir ? ds->dir : "");
    m->data_fingerprint = ds->fingerprint;
    if (!m->split_spec || !m->data_dir) goto nomem;

    if ((rc = mfr_csr_build(n_users, n_items, train->n, train->user, train->item,
                            train->rating, &tr->csr, err)) != MFR_OK)
        goto fail;
    tr->shard_first = malloc(sizeof(int32_t) * ((size_t)n_shards + 1));
    tr->shard_loss = mfr_aligned_calloc((size_t)n_shards * LOSS_STRIDE * sizeof(double));
    tr->gU = mfr_aligned_calloc((size_t)n_users * (size_t)k_pad * sizeof(float));
    tr->gV = mfr_aligned_calloc((size_t)n_items * (size_t)k_pad * sizeof(float));
    if (!tr->shard_first || !tr->shard_loss || !tr->gU || !tr->gV) goto nomem;
    mfr_shards_cut(&tr->csr, n_shards, tr->shard_first);
    if (reduce == MFR_REDUCE_OWNER || implicit)
        if ((rc = mfr_csc_build(&tr->csr, &tr->csc, err)) != MFR_OK) goto fail;
    if (reduce == MFR_REDUCE_OWNER) {
        tr->resid = mfr_aligned_calloc((size_t)train->n * sizeof(float));
        if (!tr->resid) goto nomem;
    } else {
        tr->shard_gV = mfr_aligned_calloc((size_t)n_shards * (size_t)n_items * (size_t)k_pad *
                                          sizeof(float));
        if (!tr->shard_gV) goto nomem;
    }
    tr->reg = reg;
    tr->n_item_blocks = n_item_blocks;
    if (reg) {
        tr->part_U = calloc((size_t)n_shards * part_len, sizeof(double));
        tr->part_V = calloc((size_t)n_item_blocks * part_len, sizeof(double));
        tr->gram_U = calloc(part_len, sizeof(double));
        tr->gram_V = calloc(part_len, sizeof(double));
        tr->freq_U = calloc((size_t)n_shards, sizeof(double));
        tr->freq_V = calloc((size_t)n_item_blocks, sizeof(double));
        tr->sqP_U = calloc((size_t)n_shards, sizeof(double));
        tr->bsq_U = calloc((size_t)n_shards, sizeof(double));
        tr->bsq_V = calloc((size_t)n_item_blocks, sizeof(double));
        tr->sq_Y = calloc((size_t)n_item_blocks, sizeof(double));
        tr->item_count = calloc((size_t)n_items, sizeof(int64_t));
        if (!tr->part_U || !tr->part_V || !tr->gram_U || !tr->gram_V || !tr->freq_U ||
            !tr->freq_V || !tr->sqP_U || !tr->bsq_U || !tr->bsq_V || !tr->sq_Y || !tr->item_count)
            goto nomem;
        for (int64_t j = 0; j < tr->csr.nnz; j++) tr->item_count[tr->csr.item[j]]++;
    }

    init_factors(m->U, n_users, k, k_pad, cfg.init_std, cfg.seed, MFR_RNG_INIT_U, tr->n_threads);
    init_factors(m->V, n_items, k, k_pad, cfg.init_std, cfg.seed, MFR_RNG_INIT_V, tr->n_threads);
    if (cfg.bias) {
        /* b_u = 0 (alloc), b_i = the training mean, summed in rating order */
        double mean = 0.0;
        for (int64_t j = 0; j < train->n; j++) mean += train->rating[j];
        mean /= (double)train->n;
        tr->bias_mean = (float)mean;
        for (int32_t i = 0; i < n_items; i++) m->V[(size_t)i * (size_t)k_pad + (size_t)k + 1] = tr->bias_mean;
    }
    if (implicit) {
        if ((rc = mfr_model_alloc_implicit(m, err)) != MFR_OK) goto fail; /* P = the U above */
        tr->gZ = mfr_aligned_calloc((size_t)n_users * (size_t)k_pad * sizeof(float));
        tr->gY = mfr_aligned_calloc((size_t)n_items * (size_t)k_pad * sizeof(float));
        tr->imp_w = mfr_aligned_calloc((size_t)train->n * sizeof(float));
        if (!tr->gZ || !tr->gY || !tr->imp_w) goto nomem;
        for (int32_t u = 0; u < n_users; u++) {
            int64_t b = tr->csr.row_ptr[u], e = tr->csr.row_ptr[u + 1];
            float c = e > b ? (float)(1.0 / sqrt((double)(e - b))) : 0.0f;
            for (int64_t j = b; j < e; j++) tr->imp_w[j] = c;
        }
        init_factors(m->Y, n_items, k, k_pad, cfg.init_std, cfg.seed, MFR_RNG_INIT_Y, tr->n_threads);
        derive_all_users(tr);
    }
    *out = tr;
    return MFR_OK;
nomem:
    rc = mfr_seterr(err, MFR_ERR_NOMEM, "out of memory allocating %.1f MiB of training buffers",
                    (double)need / 1048576.0);
fail:
    mfr_trainer_destroy(tr);
    return rc;
}

void mfr_trainer_destroy(mfr_trainer *tr)
{
    if (!tr) return;
    mfr_model_destroy(tr->model);
    mfr_csr_free(&tr->csr);
    mfr_csc_free(&tr->csc);
    free(tr->shard_first);
    mfr_aligned_free(tr->shard_loss);
    mfr_aligned_free(tr->gU);
    mfr_aligned_free(tr->gV);
    mfr_aligned_free(tr->resid);
    mfr_aligned_free(tr->shard_gV);
    free(tr->part_U);
    free(tr->part_V);
    free(tr->gram_U);
    free(tr->gram_V);
    free(tr->freq_U);
    free(tr->freq_V);
    free(tr->sqP_U);
    free(tr->bsq_U);
    free(tr->bsq_V);
    free(tr->sq_Y);
    mfr_aligned_free(tr->gZ);
    mfr_aligned_free(tr->gY);
    mfr_aligned_free(tr->imp_w);
    free(tr->item_count);
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

int mfr_trainer_set_factors(mfr_trainer *tr, const float *U, int64_t u_rows, int64_t u_cols,
                            const float *V, int64_t v_rows, int64_t v_cols, mfr_error *err)
{
    if (!tr) return mfr_seterr(err, MFR_ERR_INVALID, "trainer is NULL");
    mfr_model *m = tr->model;
    if (m->epochs != 0)
        return mfr_seterr(err, MFR_ERR_STATE, "factors can only be set before the first step");
    int rc;
    if ((rc = check_factors(U, u_rows, u_cols, m->n_users, m->k, "U", err)) != MFR_OK ||
        (rc = check_factors(V, v_rows, v_cols, m->n_items, m->k, "V", err)) != MFR_OK)
        return rc;
    /* Only the k embedding lanes: bias lanes and padding keep their values.
     * With implicit feedback U gives P, and U is derived again. */
    float *dst_U = m->P ? m->P : m->U;
    for (int32_t r = 0; r < m->n_users; r++)
        memcpy(dst_U + (size_t)r * (size_t)m->k_pad, U + (size_t)r * (size_t)m->k,
               sizeof(float) * (size_t)m->k);
    for (int32_t r = 0; r < m->n_items; r++)
        memcpy(m->V + (size_t)r * (size_t)m->k_pad, V + (size_t)r * (size_t)m->k,
               sizeof(float) * (size_t)m->k);
    if (m->P) derive_all_users(tr);
    return MFR_OK;
}

/* One optimizer step on n floats of a parameter array and its moments. */
static inline void update(const struct mfr_kernel_set *kern, const mfr_config *c, float *p, float *m,
                          float *v, const float *g, int64_t n, const struct mfr_adam_coef *coef)
{
    if (c->optimizer == MFR_OPTIMIZER_SGD)
        kern->sgd(p, g, n, (float)c->lr);
    else
        kern->adam(p, m, v, g, n, coef);
}

/* The item-side regularizer coefficients of a step (reg_priv.h). */
struct item_reg {
    double l2;      /* 2 λr / M */
    double freq;    /* 2 λf / |R|, times the item's rating count */
    double grav;    /* 2 λg / (M N) */
    double bias;    /* 2 λb / M (0: no bias L2) */
    float mu;       /* where every b_i starts */
};

/* Adds item i's regularizer gradient terms to gv (the item's row v) and
 * zeroes the constant bias lane. */
static inline void item_reg_grad(const mfr_trainer *tr, const struct item_reg *r, int32_t i,
                                 float *gv, const float *v)
{
    const int32_t k = tr->model->k;
    if (tr->reg)
        mfr_reg_row_grad(gv, v, k, r->l2 + r->freq * (double)tr->item_count[i], r->grav,
                         tr->cfg.gravity > 0.0 ? tr->gram_U : NULL);
    if (r->bias > 0.0) gv[k + 1] = gv[k + 1] + (float)(r->bias * ((double)v[k + 1] - r->mu));
    if (tr->cfg.bias) gv[k] = 0.0f; /* the constant lane */
}

int mfr_trainer_step(mfr_trainer *tr, double *loss_out)
{
    if (!tr) return MFR_ERR_INVALID;
    mfr_model *m = tr->model;
    const struct mfr_kernel_set *kern = tr->kern;
    const mfr_config *c = &tr->cfg;
    const int32_t k = m->k, k_pad = m->k_pad, n_items = m->n_items, n_shards = tr->n_shards;
    const int32_t n_users = m->n_users, n_blocks = tr->n_item_blocks;
    const int64_t nnz = tr->csr.nnz;
    const float scale = (float)(2.0 / (double)nnz);
    const int bias = c->bias, gravity = c->gravity > 0.0;
    const size_t part_len = gravity ? (size_t)k * (size_t)k : 1;
    /* Regularizer gradient coefficients (reg_priv.h). */
    const double cl2_u = 2.0 * c->l2 / n_users, cl2_v = 2.0 * c->l2 / n_items;
    const double cgrav = 2.0 * c->gravity / ((double)n_users * (double)n_items);
    const double cfreq = 2.0 * c->l2_freq / (double)nnz; /* times the row's rating count */
    const double cb_u = 2.0 * c->l2_bias / n_users, cb_v = 2.0 * c->l2_bias / n_items;
    const double cimp = 2.0 * c->implicit / n_items;
    const int implicit = m->P != NULL, l2_bias = bias && c->l2_bias > 0.0;
    const float mu = tr->bias_mean;
    const struct item_reg ireg = {cl2_v, cfreq, cgrav, l2_bias ? cb_v : 0.0, mu};
    /* the users' L2-regularized parameters: P with implicit feedback */
    float *const pU = implicit ? m->P : m->U;
    const struct mfr_adam_coef coef =
        mfr_adam_coef_make(c->lr, c->beta1, c->beta2, c->eps, m->epochs + 1);
    const int64_t u_len = (int64_t)n_users * k_pad, v_len = (int64_t)n_items * k_pad;
    const int64_t u_chunks = (u_len + ADAM_CHUNK - 1) / ADAM_CHUNK;
    /* In owner mode V is updated in phase 2; phase 3 covers U only. */
    const int64_t n_chunks =
        u_chunks + (tr->reduce == MFR_REDUCE_SHARD ? (v_len + ADAM_CHUNK - 1) / ADAM_CHUNK : 0);
    mfr_loss parts = {0};
    int finite = 1;

#pragma omp parallel num_threads(tr->n_threads)
    {
        /* Phase 0: the regularizers' sums, per shard and per item block. */
        if (tr->reg) {
#pragma omp for schedule(dynamic, 1) nowait
            for (int32_t s = 0; s < n_shards; s++) {
                double *p = tr->part_U + (size_t)s * part_len;
                size_t first = (size_t)tr->shard_first[s] * (size_t)k_pad;
                int64_t n = tr->shard_first[s + 1] - tr->shard_first[s];
                if (gravity) { /* of U itself: gravity acts on the predictions */
                    memset(p, 0, sizeof(double) * part_len);
                    mfr_reg_gram_accum(p, m->U + first, n, k_pad, k);
                    if (implicit) tr->sqP_U[s] = mfr_reg_sq_norms(pU + first, n, k_pad, k);
                } else {
                    p[0] = mfr_reg_sq_norms(pU + first, n, k_pad, k);
                }
                double f = 0.0, bs = 0.0;
                for (int32_t u = tr->shard_first[s]; u < tr->shard_first[s + 1]; u++) {
                    const float *row = pU + (size_t)u * (size_t)k_pad;
                    f += (double)(tr->csr.row_ptr[u + 1] - tr->csr.row_ptr[u]) *
                         mfr_reg_sq_norms(row, 1, k_pad, k);
                    if (l2_bias) bs += (double)row[k] * (double)row[k];
                }
                tr->freq_U[s] = f;
                tr->bsq_U[s] = bs;
            }
#pragma omp for schedule(dynamic, 1)
            for (int32_t b = 0; b < n_blocks; b++) {
                double *p = tr->part_V + (size_t)b * part_len;
                int32_t first = b * ITEM_BLOCK;
                int32_t n = n_items - first < ITEM_BLOCK ? n_items - first : ITEM_BLOCK;
                const float *rows = m->V + (size_t)first * (size_t)k_pad;
                if (gravity) {
                    memset(p, 0, sizeof(double) * part_len);
                    mfr_reg_gram_accum(p, rows, n, k_pad, k);
                } else {
                    p[0] = mfr_reg_sq_norms(rows, n, k_pad, k);
                }
                double f = 0.0, bs = 0.0;
                for (int32_t i = first; i < first + n; i++) {
                    const float *row = m->V + (size_t)i * (size_t)k_pad;
                    f += (double)tr->item_count[i] * mfr_reg_sq_norms(row, 1, k_pad, k);
                    if (l2_bias) bs += ((double)row[k + 1] - mu) * ((double)row[k + 1] - mu);
                }
                tr->freq_V[b] = f;
                tr->bsq_V[b] = bs;
                tr->sq_Y[b] = implicit ? mfr_reg_sq_norms(m->Y + (size_t)first * (size_t)k_pad, n, k_pad, k)
                                       : 0.0;
            }
#pragma omp single
            {
                /* Sum the partials in shard / block order. */
                memset(tr->gram_U, 0, sizeof(double) * part_len);
                memset(tr->gram_V, 0, sizeof(double) * part_len);
                for (int32_t s = 0; s < n_shards; s++)
                    for (size_t x = 0; x < part_len; x++) tr->gram_U[x] += tr->part_U[(size_t)s * part_len + x];
                for (int32_t b = 0; b < n_blocks; b++)
                    for (size_t x = 0; x < part_len; x++) tr->gram_V[x] += tr->part_V[(size_t)b * part_len + x];
                double su = 0.0, sv = 0.0, gg = 0.0;
                if (gravity) {
                    for (int32_t a = 0; a < k; a++) {
                        su += tr->gram_U[(size_t)a * (size_t)k + (size_t)a];
                        sv += tr->gram_V[(size_t)a * (size_t)k + (size_t)a];
                    }
                    for (size_t x = 0; x < part_len; x++) gg += tr->gram_U[x] * tr->gram_V[x];
                    if (implicit) { /* the L2 term weighs P, not U */
                        su = 0.0;
                        for (int32_t s = 0; s < n_shards; s++) su += tr->sqP_U[s];
                    }
                } else {
                    su = tr->gram_U[0];
                    sv = tr->gram_V[0];
                }
                double fu = 0.0, fv = 0.0;
                for (int32_t s = 0; s < n_shards; s++) fu += tr->freq_U[s];
                for (int32_t b = 0; b < n_blocks; b++) fv += tr->freq_V[b];
                parts.l2 = c->l2 * (su / n_users + sv / n_items) + c->l2_freq * (fu + fv) / (double)nnz;
                if (l2_bias || implicit) {
                    double bu = 0.0, bv = 0.0, sy = 0.0;
                    for (int32_t s = 0; s < n_shards; s++) bu += tr->bsq_U[s];
                    for (int32_t b = 0; b < n_blocks; b++) {
                        bv += tr->bsq_V[b];
                        sy += tr->sq_Y[b];
                    }
                    parts.l2 += c->l2_bias * (bu / n_users + bv / n_items) + c->implicit * sy / n_items;
                }
                parts.gravity = c->gravity / ((double)n_users * (double)n_items) * gg;
            }
        }

        /* Phase 1: gradients, shard by shard. */
#pragma omp for schedule(static, 1)
        for (int32_t s = 0; s < n_shards; s++) {
            float *gVs = tr->shard_gV ? tr->shard_gV + (size_t)s * (size_t)v_len : NULL;
            if (gVs) memset(gVs, 0, sizeof(float) * (size_t)v_len);
            double loss = 0.0;
            for (int32_t u = tr->shard_first[s]; u < tr->shard_first[s + 1]; u++) {
                float *gu = tr->gU + (size_t)u * (size_t)k_pad;
                const float *u_row = m->U + (size_t)u * (size_t)k_pad;
                memset(gu, 0, sizeof(float) * (size_t)k_pad);
                int64_t b = tr->csr.row_ptr[u], e = tr->csr.row_ptr[u + 1];
                loss += kern->user_grad(u_row, m->V, k_pad, tr->csr.item + b, tr->csr.rating + b,
                                        e - b, scale, gu, gVs, tr->resid ? tr->resid + b : NULL);
                if (implicit) {
                    /* dLoss/dU_u feeds Y; P then adds its own L2 terms */
                    if (gravity) mfr_reg_row_grad(gu, u_row, k, 0.0, cgrav, tr->gram_V);
                    memcpy(tr->gZ + (size_t)u * (size_t)k_pad, gu, sizeof(float) * (size_t)k_pad);
                    mfr_reg_row_grad(gu, pU + (size_t)u * (size_t)k_pad, k,
                                     cl2_u + cfreq * (double)(e - b), 0.0, NULL);
                } else if (tr->reg) {
                    mfr_reg_row_grad(gu, u_row, k, cl2_u + cfreq * (double)(e - b), cgrav,
                                     gravity ? tr->gram_V : NULL);
                }
                if (l2_bias) gu[k] = gu[k] + (float)(cb_u * (double)u_row[k]);
                if (bias) gu[k + 1] = 0.0f; /* the constant lane */
            }
            tr->shard_loss[(size_t)s * LOSS_STRIDE] = loss;
        }

        /* The loss is complete once every shard is done: known before any
         * update, so the owner pass below can update V as it goes. */
#pragma omp single
        {
            double sq = 0.0;
            for (int32_t s = 0; s < n_shards; s++) sq += tr->shard_loss[(size_t)s * LOSS_STRIDE];
            parts.mse = sq / (double)nnz;
            parts.total = parts.mse + parts.l2 + parts.gravity;
            finite = isfinite(parts.total);
        }

        /* Phase 2: the item gradients, in an order fixed by the data. */
        if (tr->reduce == MFR_REDUCE_OWNER) {
            /* Each item's gradient, regularizer terms and update, while its
             * rows are in L1: nothing later in the step reads V (the user
             * pass is done, and the Grams were taken in phase 0). */
#pragma omp for schedule(static, 16)
            for (int32_t i = 0; i < n_items; i++) {
                int64_t b = tr->csc.col_ptr[i], e = tr->csc.col_ptr[i + 1];
                size_t off = (size_t)i * (size_t)k_pad;
                float *gv = tr->gV + off;
                kern->item_grad(gv, m->U, k_pad, tr->csc.user + b, tr->csc.pos + b, tr->resid, e - b);
                item_reg_grad(tr, &ireg, i, gv, m->V + off);
                if (finite) update(kern, c, m->V + off, m->mV + off, m->vV + off, gv, k_pad, &coef);
            }
        } else {
#pragma omp for schedule(static)
            for (int64_t ch = 0; ch < (v_len + ADAM_CHUNK - 1) / ADAM_CHUNK; ch++) {
                int64_t off = ch * ADAM_CHUNK;
                int64_t len = v_len - off < ADAM_CHUNK ? v_len - off : ADAM_CHUNK;
                kern->sum_buffers(tr->gV + off, tr->shard_gV + off, v_len, n_shards, len);
            }
        }
        if (tr->reduce == MFR_REDUCE_SHARD && (tr->reg || bias)) {
#pragma omp for schedule(static)
            for (int32_t i = 0; i < n_items; i++)
                item_reg_grad(tr, &ireg, i, tr->gV + (size_t)i * (size_t)k_pad, m->V + (size_t)i * (size_t)k_pad);
        }
        if (implicit) {
            /* Y's gradient and update, item by item over the CSC: gZ is
             * complete (phase 1), and nothing later in the step reads Y
             * before phase 4. */
#pragma omp for schedule(static, 16)
            for (int32_t i = 0; i < n_items; i++) {
                int64_t b = tr->csc.col_ptr[i], e = tr->csc.col_ptr[i + 1];
                size_t off = (size_t)i * (size_t)k_pad;
                float *gy = tr->gY + off;
                kern->item_grad(gy, tr->gZ, k_pad, tr->csc.user + b, tr->csc.pos + b, tr->imp_w, e - b);
                mfr_reg_row_grad(gy, m->Y + off, k, cimp, 0.0, NULL);
                for (int32_t x = k; x < m->k_row; x++) gy[x] = 0.0f; /* Y has no bias lanes */
                if (finite) update(kern, c, m->Y + off, m->mY + off, m->vY + off, gy, k_pad, &coef);
            }
        }

        /* Phase 3: the update, elementwise over U (and V in shard mode). */
        if (finite) {
#pragma omp for schedule(static)
            for (int64_t ch = 0; ch < n_chunks; ch++) {
                int is_u = ch < u_chunks;
                int64_t off = (is_u ? ch : ch - u_chunks) * ADAM_CHUNK;
                int64_t len = (is_u ? u_len : v_len) - off;
                if (len > ADAM_CHUNK) len = ADAM_CHUNK;
                if (is_u)
                    update(kern, c, pU + off, m->mU + off, m->vU + off, tr->gU + off, len, &coef);
                else
                    update(kern, c, m->V + off, m->mV + off, m->vV + off, tr->gV + off, len, &coef);
            }
            /* Phase 4: U from the updated P and Y (gZ rows as scratch). */
            if (implicit) {
#pragma omp for schedule(static, 16)
                for (int32_t u = 0; u < n_users; u++)
                    derive_user(tr, u, tr->gZ + (size_t)u * (size_t)k_pad);
            }
        }
    }

    tr->last = parts;
    if (loss_out) *loss_out = parts.total;
    if (!finite) {
        snprintf(tr->errmsg, sizeof tr->errmsg,
                 "training loss became non-finite (%g) at epoch %lld; lower the learning rate",
                 parts.total, (long long)m->epochs + 1);
        return MFR_ERR_DIVERGED;
    }
    m->epochs++;
    return MFR_OK;
}

int mfr_trainer_last_loss(const mfr_trainer *tr, mfr_loss *out)
{
    if (!tr || !out) return MFR_ERR_INVALID;
    *out = tr->last;
    return MFR_OK;
}

const mfr_model *mfr_trainer_model(const mfr_trainer *tr) { return tr ? tr->model : NULL; }
const char *mfr_trainer_errmsg(const mfr_trainer *tr) { return tr ? tr->errmsg : ""; }
int32_t mfr_trainer_n_shards(const mfr_trainer *tr) { return tr ? tr->n_shards : 0; }
int32_t mfr_trainer_n_threads(const mfr_trainer *tr) { return tr ? tr->n_threads : 0; }
const char *mfr_trainer_kernels_name(const mfr_trainer *tr) { return tr ? tr->kern->name : ""; }
const char *mfr_trainer_reduce_name(const mfr_trainer *tr)
{
    return !tr ? "" : tr->reduce == MFR_REDUCE_SHARD ? "shard" : "owner";
}
uint64_t mfr_trainer_memory_bytes(const mfr_trainer *tr) { return tr ? tr->mem_bytes : 0; }
