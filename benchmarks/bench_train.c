/*
 * bench_train.c — the training step and its phases on synthetic datasets.
 * Every workload runs the trainer's own code: a trainer is created through
 * the public API and the phase functions of train_priv.h are timed, so no
 * loop of the step is copied here.
 *
 *   train/shard_grad/SET/KERNELS/MODE  mfr_shard_user_grads for shard 0
 *       (the user pass of one shard: owner mode writes residuals, shard
 *       mode the shard's item buffer, zeroed first); single-threaded, the
 *       AVX2 case checked bit for bit against the reference first.
 *   train/reduce/SET/MODE  mfr_phase_loss_items over `threads` OpenMP threads:
 *       item owners (each item's gradient over the CSC, its regularizer
 *       terms and its optimizer update) or shard buffers (their sum in
 *       shard order; the update of V then runs in the update phase).
 *   train/epoch/SET/MODE  one full epoch, mfr_trainer_step through the
 *       public API (every phase), with cfg.reduce = MODE.
 *
 * Sets (mfr_synth_write into a temporary directory, then loaded once per
 * process and cached):
 *   ml100k    943 users x 1,682 items, 75,000 ratings (an ML-100K training
 *             split's shape): k = 16..256, threads 1..2 x cores
 *   synth10m  70,000 users x 10,700 items, 10,000,000 ratings: k = 32,
 *             threads 1, 2, 4 (MFREC_BENCH_FULL=1: the full k and thread
 *             sweep). Generating it takes a few seconds, loading it a few
 *             more; MFREC_BENCH_DATA_DIR=DIR keeps both sets in DIR/<set>
 *             across runs instead of a temporary directory.
 *
 * A temporary set directory is removed at a normal exit and at SIGINT,
 * SIGTERM and SIGHUP too (a Ctrl-C left it, and for synth10m about 400 MB,
 * in $TMPDIR): the handler empties and removes it with system calls alone
 * (async-signal-safe), then the signal's default action ends the process.
 * A MFREC_BENCH_DATA_DIR is the user's and is never removed.
 *
 * Amounts per pass (k = k_pad, n = ratings, S = shards, N = users,
 * M = items), on top of the kernel formulas of bench_kernels.c:
 *   shard_grad  owner: flops n (4k + 4), bytes n (4k + 12) + 8k N_s
 *               shard: flops n (6k + 4), bytes n (12k + 8) + 8k N_s + 4k M
 *   reduce      owner: flops 2k n + 13k M, bytes n (4k + 16) + 4k M + 28k M
 *               (the gradient, then Adam: 13 flops and 28 bytes a float)
 *               shard: flops (S - 1) k M, bytes 4 (S + 1) k M
 *   epoch       gradients (as shard_grad over every shard) + reduce +
 *               Adam: 13 flops and 28 bytes per parameter, (N + M) k.
 * ratings_per_second counts the ratings a pass covers (for shard-mode reduction,
 * the ratings whose gradients it reduces).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_util.h"
#include "dataset_priv.h"
#include "train_priv.h"

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
};

static struct bench_set sets[N_SETS] = {
    {.name = "ml100k", .n_users = 943, .n_items = 1682, .n_ratings = 75000},
    {.name = "synth10m", .n_users = 70000, .n_items = 10700, .n_ratings = 10000000},
};

/* sets[w].dir is a complete temporary directory's path (set once mkdtemp
 * has filled it in, cleared once the normal cleanup has removed it): what
 * the signal handler removes. */
static volatile sig_atomic_t tmp_live[N_SETS];

/* Removes the entries of the directory open as fd, and below them up to
 * `depth` levels of subdirectories, with system calls alone (getdents64,
 * unlinkat, openat): async-signal-safe, no allocation. The listing starts
 * over after each pass, since removing entries moves the ones still there. */
static void rm_entries_signal_safe(int fd, int depth)
{
    char buf[2048] __attribute__((aligned(8)));
    for (int pass = 0; pass < 64; pass++) {
        int removed = 0;
        if (lseek(fd, 0, SEEK_SET) != 0) return;
        ssize_t n;
        while ((n = getdents64(fd, buf, sizeof buf)) > 0) {
            for (ssize_t off = 0; off < n;) {
                const struct dirent64 *d = (const struct dirent64 *)(buf + off);
                off += d->d_reclen;
                const char *nm = d->d_name;
                if (nm[0] == '.' && (nm[1] == '\0' || (nm[1] == '.' && nm[2] == '\0'))) continue;
                if (unlinkat(fd, nm, 0) == 0) {
                    removed = 1;
                } else if ((errno == EISDIR || errno == EPERM) && depth > 0) {
                    int sub = openat(fd, nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                    if (sub >= 0) {
                        rm_entries_signal_safe(sub, depth - 1);
                        close(sub);
                    }
                    if (unlinkat(fd, nm, AT_REMOVEDIR) == 0) removed = 1;
                }
            }
        }
        if (!removed) return;
    }
}

static void on_fatal_signal(int sig)
{
    const int saved = errno;
    for (int w = 0; w < N_SETS; w++) {
        if (!tmp_live[w]) continue;
        int fd = open(sets[w].dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) {
            rm_entries_signal_safe(fd, 4);
            close(fd);
        }
        rmdir(sets[w].dir);
        tmp_live[w] = 0;
    }
    errno = saved;
    /* the default action, once the handler returns and the signal (blocked
     * while it runs) is unblocked: the process ends as killed by it */
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Once, before the first temporary directory is made: SIGINT, SIGTERM and
 * SIGHUP remove it. A signal the process was started with ignored (SIGINT
 * in a background job of a script) stays ignored. */
static void install_signal_cleanup(void)
{
    static int done;
    if (done) return;
    done = 1;
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaddset(&sa.sa_mask, sigs[i]);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old;
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue;
        sigaction(sigs[i], &sa, NULL);
    }
}

static int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Whether the loaded set has the shape its name stands for. A
 * MFREC_BENCH_DATA_DIR's set is reused whatever it holds: another dataset,
 * or one an older bench_train.c generated in other sizes, was timed under
 * this set's name. false with errmsg set (and the set dropped) if not. */
static bool set_shape_ok(struct bench_set *s)
{
    const int32_t users = mfr_dataset_n_users(s->ds), items = mfr_dataset_n_items(s->ds);
    const int64_t ratings = mfr_ratings_count(mfr_dataset_ratings(s->ds));
    if (users == s->n_users && items == s->n_items && ratings == s->n_ratings) return true;
    char msg[sizeof s->errmsg]; /* not s->errmsg: s->dir is in the same struct (-Wrestrict) */
    snprintf(msg, sizeof msg,
             "%s: %.300s holds %d users x %d items, %lld ratings, not this set's %d x %d, %lld "
             "(another dataset, or an older benchmark's set: remove it to regenerate)",
             s->name, s->dir, users, items, (long long)ratings, s->n_users, s->n_items,
             (long long)s->n_ratings);
    memcpy(s->errmsg, msg, sizeof msg);
    mfr_dataset_destroy(s->ds);
    s->ds = NULL;
    return false;
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
        install_signal_cleanup();
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
        tmp_live[which] = 1;
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
    if (!set_shape_ok(s)) return NULL;
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
        if (s->tmp_dir) nftw(s->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        tmp_live[w] = 0;
        s->ds = NULL;
        s->tmp_dir = 0;
    }
}

/* A trainer over a whole set (every rating trains), with the step's
 * constants; NULL after mfr_bench_skip / mfr_bench_fail. */
static mfr_trainer *trainer_for(struct mfr_bench_state *st, const struct bench_set *s, int32_t k,
                                int32_t threads, int kernels, int reduce, struct mfr_step *step)
{
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = k;
    cfg.n_threads = threads;
    cfg.kernels = kernels;
    cfg.reduce = reduce;
    mfr_error err = {0};
    mfr_trainer *tr = NULL;
    if (mfr_trainer_create(&cfg, s->ds, mfr_dataset_ratings(s->ds), NULL, &tr, &err) != MFR_OK) {
        /* the AVX2 set on a CPU without it, or too large for this machine */
        if (err.status == MFR_ERR_UNSUPPORTED || err.status == MFR_ERR_TOO_LARGE)
            mfr_bench_skip(st, err.message);
        else
            mfr_bench_fail(st, err.message);
        return NULL;
    }
    mfr_step_begin(tr, step);
    step->finite = 1;
    return tr;
}

/* ------------------------------------------------------------------ */
/* One shard's gradient pass                                            */
/* ------------------------------------------------------------------ */

struct shard_bench {
    int set;
    int kernels; /* MFR_KERNELS_REF, _AVX2 or _AVX512 */
    int shard_mode;
};

/* Shard 0's outputs of a and b are the same bits: loss slot, gradient
 * rows, and the residuals or the item buffer. */
static int same_shard0(const mfr_trainer *a, const mfr_trainer *b)
{
    const size_t k_pad = (size_t)a->model->k_pad;
    const int32_t u0 = a->shard_first[0], u1 = a->shard_first[1];
    const int64_t r0 = a->csr.row_ptr[u0], r1 = a->csr.row_ptr[u1];
    if (memcmp(&a->shard_loss[0], &b->shard_loss[0], sizeof(double)) != 0) return 0;
    if (memcmp(a->gU + u0 * k_pad, b->gU + u0 * k_pad, sizeof(float) * (size_t)(u1 - u0) * k_pad)) return 0;
    if (a->resid && memcmp(a->resid + r0, b->resid + r0, sizeof(float) * (size_t)(r1 - r0))) return 0;
    if (a->shard_gV && memcmp(a->shard_gV, b->shard_gV, sizeof(float) * (size_t)a->model->n_items * k_pad))
        return 0;
    return 1;
}

static void bm_shard_grad(struct mfr_bench_state *st, const void *ctx)
{
    const struct shard_bench *sb = ctx;
    const int32_t k = (int32_t)mfr_bench_arg(st, 0);
    const int reduce = sb->shard_mode ? MFR_REDUCE_SHARD : MFR_REDUCE_OWNER;
    /* before set_get: no 10M-rating set generated for a case that skips */
    if (sb->kernels == MFR_KERNELS_AVX512 && !mfr_cpu_has_avx512f()) {
        mfr_bench_skip(st, "this CPU lacks AVX-512F");
        return;
    }
    struct bench_set *s = set_get(sb->set);
    if (!s) {
        mfr_bench_fail(st, sets[sb->set].errmsg);
        return;
    }
    struct mfr_step step, ref_step;
    mfr_trainer *tr = trainer_for(st, s, k, 1, sb->kernels, reduce, &step);
    if (!tr) return;
    if (sb->kernels != MFR_KERNELS_REF) {
        mfr_trainer *ref = trainer_for(st, s, k, 1, MFR_KERNELS_REF, reduce, &ref_step);
        if (!ref) {
            mfr_trainer_destroy(tr);
            return;
        }
        mfr_shard_user_grads(ref, &ref_step, 0);
        mfr_shard_user_grads(tr, &step, 0);
        int same = same_shard0(ref, tr);
        mfr_trainer_destroy(ref);
        if (!same) {
            mfr_bench_fail(st, "shard pass: the kernels differ from ref");
            mfr_trainer_destroy(tr);
            return;
        }
    }
    mfr_shard_user_grads(tr, &step, 0); /* warm the caches */
    while (mfr_bench_keep_running(st)) mfr_shard_user_grads(tr, &step, 0);

    const double kk = tr->model->k_pad, nu = tr->shard_first[1] - tr->shard_first[0];
    const double n = (double)(tr->csr.row_ptr[tr->shard_first[1]] - tr->csr.row_ptr[tr->shard_first[0]]);
    if (sb->shard_mode)
        bench_report(st, n, n * (12 * kk + 8) + 8 * kk * nu + 4 * kk * tr->model->n_items, n * (6 * kk + 4));
    else
        bench_report(st, n, n * (4 * kk + 12) + 8 * kk * nu, n * (4 * kk + 4));
    mfr_bench_set_counter(st, "ratings", n, 0);
    bench_sink = tr->shard_loss[0];
    mfr_trainer_destroy(tr);
}

/* ------------------------------------------------------------------ */
/* The item-gradient phase                                              */
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
    struct bench_set *s = set_get(sm->set);
    if (!s) {
        mfr_bench_fail(st, sets[sm->set].errmsg);
        return;
    }
    struct mfr_step step;
    mfr_trainer *tr = trainer_for(st, s, k, threads, MFR_KERNELS_AUTO, sm->reduce, &step);
    if (!tr) return;
    /* the residuals or shard buffers the item phase reads */
#pragma omp parallel num_threads(threads)
    mfr_phase_user_grads(tr, &step);
    while (mfr_bench_keep_running(st)) {
#pragma omp parallel num_threads(threads)
        mfr_phase_loss_items(tr, &step); /* the loss is n_shards adds */
    }
    const double kk = tr->model->k_pad, n = (double)tr->csr.nnz, m = tr->model->n_items;
    const double S = tr->n_shards;
    if (sm->reduce == MFR_REDUCE_OWNER)
        bench_report(st, n, n * (4 * kk + 16) + 4 * kk * m + 28 * kk * m, 2 * kk * n + 13 * kk * m);
    else
        bench_report(st, n, 4.0 * (S + 1) * kk * m, (S - 1) * kk * m);
    mfr_bench_set_counter(st, "shards", S, 0);
    mfr_bench_set_label(st, tr->kern->name);
    bench_sink = tr->gV[0];
    mfr_trainer_destroy(tr);
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
    int rc = mfr_trainer_step(tr, &loss, &err); /* warm-up */
    if (rc != MFR_OK) {
        mfr_bench_fail(st, err.message);
        mfr_trainer_destroy(tr);
        return;
    }
    while (mfr_bench_keep_running(st)) {
        if ((rc = mfr_trainer_step(tr, &loss, &err)) != MFR_OK) {
            mfr_bench_fail(st, err.message);
            break;
        }
    }
    if (rc == MFR_OK) {
        const double kk = mfr_pad_k(cfg.k), n = (double)tr->csr.nnz;
        const double N = tr->model->n_users, M = tr->model->n_items, S = mfr_trainer_n_shards(tr);
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
    {SET_ML100K, MFR_KERNELS_REF, 0},   {SET_ML100K, MFR_KERNELS_AVX2, 0},   {SET_ML100K, MFR_KERNELS_AVX512, 0},
    {SET_ML100K, MFR_KERNELS_REF, 1},   {SET_ML100K, MFR_KERNELS_AVX2, 1},   {SET_ML100K, MFR_KERNELS_AVX512, 1},
    {SET_SYNTH10M, MFR_KERNELS_AVX2, 0}, {SET_SYNTH10M, MFR_KERNELS_AVX2, 1},
    {SET_SYNTH10M, MFR_KERNELS_AVX512, 0}, {SET_SYNTH10M, MFR_KERNELS_AVX512, 1},
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
                 sb->kernels == MFR_KERNELS_REF    ? "ref"
                 : sb->kernels == MFR_KERNELS_AVX2 ? "avx2"
                                                   : "avx512",
                 sb->shard_mode ? "shard" : "owner");
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
