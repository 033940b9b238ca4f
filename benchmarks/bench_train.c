/*
 * bench_train.c — the training step and its parts on synthetic datasets:
 *
 *   train/shard_grad/SET/KERNELS/MODE  one shard's gradient pass (shard 0
 *       of the default cut): phase 1 of train.c for one shard, owner mode
 *       (residuals) or shard mode (the shard's item buffer, zeroed first);
 *       single-threaded, the AVX2 case checked bit for bit against the
 *       reference first.
 *   train/reduce/SET/MODE  the item-gradient reduction alone, phase 2 of
 *       train.c over `threads` OpenMP threads: shard buffers (sum_buffers
 *       over ADAM_CHUNK-float chunks, static schedule) or item owners
 *       (item_grad per item over the CSC, dynamic schedule of 32 items).
 *       Keep these loops in step with train.c.
 *   train/epoch/SET/MODE  one full epoch, mfr_trainer_step through the
 *       public API (gradients, reduction, Adam), with cfg.reduce = MODE.
 *
 * Sets (mfr_synth_write into a temporary directory, then loaded once per
 * process and cached with their CSR, CSC and shard cut):
 *   ml100k    943 users x 1,682 items, 75,000 ratings (an ML-100K training
 *             split's shape): k = 16..256, threads 1..2 x cores
 *   synth10m  70,000 users x 10,700 items, 10,000,000 ratings: k = 32,
 *             threads 1, 2, 4 (MFREC_BENCH_FULL=1: the full k and thread
 *             sweep). Generating it takes a few seconds, loading it a few
 *             more; MFREC_BENCH_DATA_DIR=DIR keeps both sets in DIR/<set>
 *             across runs instead of a temporary directory.
 *
 * Amounts per pass (k = k_pad, n = ratings, S = shards, N = users,
 * M = items), on top of the kernel formulas of bench_kernels.c:
 *   shard_grad  owner: flops n (4k + 4), bytes n (4k + 12) + 8k N_s
 *               shard: flops n (6k + 4), bytes n (12k + 8) + 8k N_s + 4k M
 *   reduce      owner: flops 2k n, bytes n (4k + 16) + 4k M
 *               shard: flops (S - 1) k M, bytes 4 (S + 1) k M
 *   epoch       gradients (as shard_grad over every shard) + reduce +
 *               Adam: 13 flops and 28 bytes per parameter, (N + M) k.
 * ratings_per_second counts the ratings a pass covers (for shard-mode reduction,
 * the ratings whose gradients it reduces).
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_util.h"
#include "csr_priv.h"
#include "dataset_priv.h"
#include "kern_priv.h"

/* Must match train.c's chunk of the shard-buffer sum. */
#define REDUCE_CHUNK 4096

enum { SET_ML100K, SET_SYNTH10M, N_SETS };

struct bench_set {
    const char *name;
    int32_t n_users, n_items;
    int64_t n_ratings;
    char dir[PATH_MAX];
    int tmp_dir;     /* we created dir and remove it at cleanup */
    int tried;       /* load attempted (ok or failed) */
    char errmsg[600];
    mfr_dataset *ds;
    struct mfr_csr csr;
    struct mfr_csc csc;
    int32_t n_shards;
    int32_t *first;  /* n_shards + 1 */
};

static struct bench_set sets[N_SETS] = {
    {.name = "ml100k", .n_users = 943, .n_items = 1682, .n_ratings = 75000},
    {.name = "synth10m", .n_users = 70000, .n_items = 10700, .n_ratings = 10000000},
};

static int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Generates (unless already there), loads and indexes a set; NULL with
 * errmsg set on failure. Later calls return the cached result. */
static struct bench_set *set_get(int which)
{
    struct bench_set *s = &sets[which];
    if (s->tried) return s->ds ? s : NULL;
    s->tried = 1;
    mfr_error err = {0};
    const char *keep = getenv("MFREC_BENCH_DATA_DIR");
    if (keep && *keep) {
        snprintf(s->dir, sizeof s->dir, "%s/%s", keep, s->name);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(s->dir, sizeof s->dir, "%s/mfrec-bench-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp",
                 s->name);
        if (!mkdtemp(s->dir)) {
            int e = errno;
            char tmpl[sizeof s->dir];
            memcpy(tmpl, s->dir, sizeof tmpl);
            snprintf(s->errmsg, sizeof s->errmsg, "mkdtemp %s: %s", tmpl, strerror(e));
            return NULL;
        }
        s->tmp_dir = 1;
    }
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/u.data", s->dir);
    if (!file_exists(path)) {
        mfr_synth_options opt;
        mfr_synth_options_default(&opt);
        opt.n_users = s->n_users;
        opt.n_items = s->n_items;
        opt.n_ratings = s->n_ratings;
        fprintf(stderr, "mfrec_bench: generating %s (%lld ratings) in %s\n", s->name,
                (long long)s->n_ratings, s->dir);
        if (mfr_synth_write(&opt, s->dir, &err) != MFR_OK) goto fail;
    }
    if (mfr_dataset_load(s->dir, NULL, &s->ds, &err) != MFR_OK) goto fail;
    const mfr_ratings *r = mfr_dataset_ratings(s->ds);
    if (mfr_csr_build(s->ds->n_users, s->ds->n_items, r->n, r->user, r->item, r->rating,
                      &s->csr, &err) != MFR_OK ||
        mfr_csc_build(&s->csr, &s->csc, &err) != MFR_OK)
        goto fail;
    s->n_shards = mfr_shards_default(s->ds->n_users, s->csr.nnz);
    s->first = malloc(sizeof(int32_t) * ((size_t)s->n_shards + 1));
    if (!s->first) {
        snprintf(err.message, sizeof err.message, "out of memory");
        goto fail;
    }
    mfr_shards_cut(&s->csr, s->n_shards, s->first);
    return s;
fail:
    snprintf(s->errmsg, sizeof s->errmsg, "%s: %s", s->name, err.message);
    mfr_dataset_destroy(s->ds);
    s->ds = NULL;
    return NULL;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void bench_train_cleanup(void)
{
    for (int w = 0; w < N_SETS; w++) {
        struct bench_set *s = &sets[w];
        mfr_dataset_destroy(s->ds);
        mfr_csr_free(&s->csr);
        mfr_csc_free(&s->csc);
        free(s->first);
        if (s->tmp_dir) nftw(s->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        s->ds = NULL;
        s->first = NULL;
        s->tmp_dir = 0;
    }
}

/* Random factors of a plausible scale for n rows of k_pad (= k) floats. */
static float *factors(int64_t n_rows, int32_t k, uint64_t seed)
{
    float *f = bench_alloc_floats((size_t)n_rows * (size_t)k);
    if (f) bench_fill(f, (size_t)n_rows * (size_t)k, seed, 0.0f, 2.0f / sqrtf((float)k));
    return f;
}

/* ------------------------------------------------------------------ */
/* One shard's gradient pass                                            */
/* ------------------------------------------------------------------ */

struct shard_bench {
    int set;
    int kernels; /* MFR_KERNELS_REF or MFR_KERNELS_AVX2 */
    int shard_mode;
};

struct shard_buf {
    float *gU, *gV, *resid;
    double loss;
};

/* Phase 1 of train.c for shard 0: the timed unit. */
static void shard_pass(const struct mfr_kernel_set *ks, const struct bench_set *s,
                       const float *U, const float *V, int32_t k, struct shard_buf *b)
{
    const float scale = (float)(2.0 / (double)s->csr.nnz);
    const int32_t u0 = s->first[0];
    if (b->gV) memset(b->gV, 0, sizeof(float) * (size_t)s->csr.n_items * (size_t)k);
    double loss = 0.0;
    for (int32_t u = s->first[0]; u < s->first[1]; u++) {
        float *gu = b->gU + (size_t)(u - u0) * (size_t)k;
        memset(gu, 0, sizeof(float) * (size_t)k);
        int64_t lo = s->csr.row_ptr[u], hi = s->csr.row_ptr[u + 1];
        loss += ks->user_grad(U + (size_t)u * (size_t)k, V, k, s->csr.item + lo,
                              s->csr.rating + lo, hi - lo, scale, gu, b->gV,
                              b->resid ? b->resid + (lo - s->csr.row_ptr[u0]) : NULL);
    }
    b->loss = loss;
}

static void shard_buf_free(struct shard_buf *b)
{
    bench_free(b->gU);
    bench_free(b->gV);
    bench_free(b->resid);
    memset(b, 0, sizeof *b);
}

static int shard_buf_make(struct shard_buf *b, const struct bench_set *s, int32_t k, int shard_mode)
{
    int32_t nu = s->first[1] - s->first[0];
    int64_t n = s->csr.row_ptr[s->first[1]] - s->csr.row_ptr[s->first[0]];
    memset(b, 0, sizeof *b);
    b->gU = bench_alloc_floats((size_t)nu * (size_t)k);
    if (shard_mode) b->gV = bench_alloc_floats((size_t)s->csr.n_items * (size_t)k);
    else b->resid = bench_alloc_floats((size_t)n);
    if (!b->gU || !(shard_mode ? (void *)b->gV : (void *)b->resid)) {
        shard_buf_free(b);
        return -1;
    }
    return 0;
}

static int same_floats(const float *x, const float *y, size_t n)
{
    return !x || memcmp(x, y, sizeof(float) * n) == 0;
}

static void bm_shard_grad(struct mfr_bench_state *st, const void *ctx)
{
    const struct shard_bench *sb = ctx;
    const int32_t k = (int32_t)mfr_bench_arg(st, 0);
    mfr_error err = {0};
    const struct mfr_kernel_set *ks = mfr_kernels_select(sb->kernels, &err);
    if (!ks) { /* the AVX2 set on a CPU without it */
        mfr_bench_skip(st, err.message);
        return;
    }
    struct bench_set *s = set_get(sb->set);
    if (!s) {
        mfr_bench_fail(st, sets[sb->set].errmsg);
        return;
    }
    float *U = factors(s->csr.n_users, k, 1), *V = factors(s->csr.n_items, k, 2);
    struct shard_buf b = {0}, r = {0};
    int ok = U && V && shard_buf_make(&b, s, k, sb->shard_mode) == 0;
    if (ok && ks != &mfr_kernels_ref) {
        ok = shard_buf_make(&r, s, k, sb->shard_mode) == 0;
        if (ok) {
            shard_pass(&mfr_kernels_ref, s, U, V, k, &r);
            shard_pass(ks, s, U, V, k, &b);
            int32_t nu = s->first[1] - s->first[0];
            int64_t n = s->csr.row_ptr[s->first[1]] - s->csr.row_ptr[s->first[0]];
            if (memcmp(&r.loss, &b.loss, sizeof r.loss) != 0 ||
                !same_floats(r.gU, b.gU, (size_t)nu * (size_t)k) ||
                !same_floats(r.gV, b.gV, (size_t)s->csr.n_items * (size_t)k) ||
                !same_floats(r.resid, b.resid, (size_t)n)) {
                mfr_bench_fail(st, "shard pass: avx2 differs from ref");
                ok = -1;
            }
        }
        shard_buf_free(&r);
    }
    if (ok == 0) mfr_bench_fail(st, "setup failed: out of memory");
    if (ok == 1) {
        shard_pass(ks, s, U, V, k, &b); /* warm the caches */
        while (mfr_bench_keep_running(st)) shard_pass(ks, s, U, V, k, &b);

        const double kk = k, nu = s->first[1] - s->first[0];
        const double n = (double)(s->csr.row_ptr[s->first[1]] - s->csr.row_ptr[s->first[0]]);
        if (sb->shard_mode)
            bench_report(st, n, n * (12 * kk + 8) + 8 * kk * nu + 4 * kk * s->csr.n_items,
                         n * (6 * kk + 4));
        else
            bench_report(st, n, n * (4 * kk + 12) + 8 * kk * nu, n * (4 * kk + 4));
        mfr_bench_set_counter(st, "ratings", n, 0);
        bench_sink = b.loss;
    }
    shard_buf_free(&b);
    bench_free(U);
    bench_free(V);
}

/* ------------------------------------------------------------------ */
/* The item-gradient reduction                                          */
/* ------------------------------------------------------------------ */

struct set_mode {
    int set;
    int reduce; /* MFR_REDUCE_SHARD or MFR_REDUCE_OWNER */
};

static void bm_reduce(struct mfr_bench_state *st, const void *ctx)
{
    const struct set_mode *sm = ctx;
    const int32_t k = (int32_t)mfr_bench_arg(st, 0);
    const int threads = (int)mfr_bench_arg(st, 1);
    const struct mfr_kernel_set *ks = mfr_kernels_select(MFR_KERNELS_AUTO, NULL);
    struct bench_set *s = set_get(sm->set);
    if (!s) {
        mfr_bench_fail(st, sets[sm->set].errmsg);
        return;
    }
    const int32_t n_items = s->csr.n_items, S = s->n_shards;
    const int64_t v_len = (int64_t)n_items * k, nnz = s->csr.nnz;
    const int64_t n_chunks = (v_len + REDUCE_CHUNK - 1) / REDUCE_CHUNK;
    const int owner = sm->reduce == MFR_REDUCE_OWNER;
    float *gV = bench_alloc_floats((size_t)v_len);
    float *U = NULL, *resid = NULL, *bufs = NULL;
    if (owner) {
        U = factors(s->csr.n_users, k, 1);
        resid = bench_alloc_floats((size_t)nnz);
        if (resid) bench_fill(resid, (size_t)nnz, 3, -1e-7f, 1e-7f);
    } else {
        bufs = bench_alloc_floats((size_t)S * (size_t)v_len);
        if (bufs) bench_fill(bufs, (size_t)S * (size_t)v_len, 4, -1e-4f, 1e-4f);
    }
    if (!gV || (owner ? !U || !resid : !bufs)) {
        mfr_bench_fail(st, "setup failed: out of memory");
    } else {
        while (mfr_bench_keep_running(st)) {
#pragma omp parallel num_threads(threads)
            {
                if (owner) {
#pragma omp for schedule(dynamic, 32)
                    for (int32_t i = 0; i < n_items; i++) {
                        int64_t b = s->csc.col_ptr[i], e = s->csc.col_ptr[i + 1];
                        ks->item_grad(gV + (size_t)i * (size_t)k, U, k, s->csc.user + b,
                                      s->csc.pos + b, resid, e - b);
                    }
                } else {
#pragma omp for schedule(static)
                    for (int64_t ch = 0; ch < n_chunks; ch++) {
                        int64_t off = ch * REDUCE_CHUNK;
                        int64_t len = v_len - off < REDUCE_CHUNK ? v_len - off : REDUCE_CHUNK;
                        ks->sum_buffers(gV + off, bufs + off, v_len, S, len);
                    }
                }
            }
        }
        const double kk = k, n = (double)nnz, m = n_items;
        if (owner)
            bench_report(st, n, n * (4 * kk + 16) + 4 * kk * m, 2 * kk * n);
        else
            bench_report(st, n, 4.0 * (S + 1) * kk * m, (S - 1) * kk * m);
        mfr_bench_set_counter(st, "shards", S, 0);
        mfr_bench_set_label(st, ks->name);
        bench_sink = gV[0];
    }
    bench_free(gV);
    bench_free(U);
    bench_free(resid);
    bench_free(bufs);
}

/* ------------------------------------------------------------------ */
/* A full epoch through the public API                                  */
/* ------------------------------------------------------------------ */

static void bm_epoch(struct mfr_bench_state *st, const void *ctx)
{
    const struct set_mode *sm = ctx;
    struct bench_set *s = set_get(sm->set);
    if (!s) {
        mfr_bench_fail(st, sets[sm->set].errmsg);
        return;
    }
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = (int32_t)mfr_bench_arg(st, 0);
    cfg.n_threads = (int32_t)mfr_bench_arg(st, 1);
    cfg.reduce = sm->reduce;
    mfr_error err = {0};
    mfr_trainer *tr = NULL;
    if (mfr_trainer_create(&cfg, s->ds, mfr_dataset_ratings(s->ds), NULL, &tr, &err) != MFR_OK) {
        /* too large for this machine's memory: skip; anything else fails */
        if (err.status == MFR_ERR_TOO_LARGE) mfr_bench_skip(st, err.message);
        else mfr_bench_fail(st, err.message);
        return;
    }
    double loss = 0.0;
    int rc = mfr_trainer_step(tr, &loss); /* warm-up */
    if (rc != MFR_OK) {
        mfr_bench_fail(st, mfr_trainer_errmsg(tr));
        mfr_trainer_destroy(tr);
        return;
    }
    while (mfr_bench_keep_running(st)) {
        if ((rc = mfr_trainer_step(tr, &loss)) != MFR_OK) {
            mfr_bench_fail(st, mfr_trainer_errmsg(tr));
            break;
        }
    }
    if (rc == MFR_OK) {
        const double kk = mfr_pad_k(cfg.k), n = (double)s->csr.nnz;
        const double N = s->csr.n_users, M = s->csr.n_items, S = mfr_trainer_n_shards(tr);
        const double P = (N + M) * kk;
        double flops = 13 * P, bytes = 28 * P;
        if (sm->reduce == MFR_REDUCE_OWNER) {
            flops += n * (4 * kk + 4) + 2 * kk * n;
            bytes += n * (4 * kk + 12) + 8 * kk * N + n * (4 * kk + 16) + 4 * kk * M;
        } else {
            flops += n * (6 * kk + 4) + (S - 1) * kk * M;
            bytes += n * (12 * kk + 8) + 8 * kk * N + 4 * kk * M * S + 4 * (S + 1) * kk * M;
        }
        bench_report(st, n, bytes, flops);
        mfr_bench_set_counter(st, "shards", S, 0);
        mfr_bench_set_counter(st, "MiB", (double)mfr_trainer_memory_bytes(tr) / 1048576.0, 0);
        mfr_bench_set_label(st, mfr_trainer_kernels_name(tr));
        bench_sink = loss;
    }
    mfr_trainer_destroy(tr);
}

/* ------------------------------------------------------------------ */
/* Registration                                                         */
/* ------------------------------------------------------------------ */

static const struct shard_bench shard_benches[] = {
    {SET_ML100K, MFR_KERNELS_REF, 0},   {SET_ML100K, MFR_KERNELS_AVX2, 0},
    {SET_ML100K, MFR_KERNELS_REF, 1},   {SET_ML100K, MFR_KERNELS_AVX2, 1},
    {SET_SYNTH10M, MFR_KERNELS_AVX2, 0}, {SET_SYNTH10M, MFR_KERNELS_AVX2, 1},
};

static const struct set_mode set_modes[] = {
    {SET_ML100K, MFR_REDUCE_SHARD},
    {SET_ML100K, MFR_REDUCE_OWNER},
    {SET_SYNTH10M, MFR_REDUCE_SHARD},
    {SET_SYNTH10M, MFR_REDUCE_OWNER},
};

void bench_train_register(void)
{
    static const char *const k_name[] = {"k"};
    static const char *const kt_names[] = {"k", "threads"};
    const char *full_env = getenv("MFREC_BENCH_FULL");
    const int full = full_env && *full_env && strcmp(full_env, "0") != 0;
    char name[128];

    /* (k, threads) grids: the full sweep, and the 10M default. */
    int64_t threads[64], grid[2 * 64 * 8], small[2 * 3];
    const int n_threads = bench_thread_list(threads, 64);
    int n_grid = 0;
    for (int a = 0; a < bench_n_train_dims; a++)
        for (int t = 0; t < n_threads; t++) {
            grid[2 * n_grid] = bench_train_dims[a];
            grid[2 * n_grid + 1] = threads[t];
            n_grid++;
        }
    static const int64_t small_threads[] = {1, 2, 4};
    for (int t = 0; t < 3; t++) {
        small[2 * t] = 32;
        small[2 * t + 1] = small_threads[t];
    }
    static const int64_t k32[] = {32};

    for (size_t b = 0; b < sizeof shard_benches / sizeof shard_benches[0]; b++) {
        const struct shard_bench *sb = &shard_benches[b];
        int big = sb->set == SET_SYNTH10M;
        snprintf(name, sizeof name, "train/shard_grad/%s/%s/%s", sets[sb->set].name,
                 sb->kernels == MFR_KERNELS_REF ? "ref" : "avx2", sb->shard_mode ? "shard" : "owner");
        mfr_bench_register(name, bm_shard_grad, sb, k_name, 1,
                           big && !full ? k32 : bench_train_dims,
                           big && !full ? 1 : bench_n_train_dims, 0);
    }
    for (int what = 0; what < 2; what++)
        for (size_t b = 0; b < sizeof set_modes / sizeof set_modes[0]; b++) {
            const struct set_mode *sm = &set_modes[b];
            int big = sm->set == SET_SYNTH10M;
            snprintf(name, sizeof name, "train/%s/%s/%s", what ? "epoch" : "reduce",
                     sets[sm->set].name, sm->reduce == MFR_REDUCE_SHARD ? "shard" : "owner");
            mfr_bench_register(name, what ? bm_epoch : bm_reduce, sm, kt_names, 2,
                               big && !full ? small : grid, big && !full ? 3 : n_grid,
                               MFR_BENCH_REAL_TIME);
        }
}
