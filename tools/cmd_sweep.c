/*
 * cmd_sweep.c — `mfrec sweep`: the scaling harness. Trains every
 * combination of threads x dims x reduce x kernels x shards, each point
 * repeated, writes one CSV row per run and draws the charts (docs/SWEEP.md).
 *
 * DESIGN
 *
 * Points and runs. A *config* is (dim, reduce, kernels, shards, threads);
 * a *point* is a config without the thread count. Every (config, repeat)
 * is one *run*: a fresh trainer that trains `warmup` untimed epochs, then
 * `epochs` timed ones. Only the mfr_trainer_step calls are timed
 * (CLOCK_MONOTONIC, now_seconds); a run's ms/epoch is the median of its
 * timed epochs, its spread their min, max and interquartile range.
 * Repeats are interleaved (repeat 1 of every config, then repeat 2, ...),
 * so slow drift of the machine spreads over all configs instead of
 * biasing the last ones.
 *
 * One process per run. The parent loads the dataset and the split once,
 * then forks a child per run; the child inherits both, trains and sends a
 * fixed-size `struct run_result` back through a pipe, then _exit()s. So
 * each run's peak RSS (VmHWM of the child: dataset and split plus the
 * trainer, what `mfrec train` would hold) is its own, and a crash or an
 * OOM kill of one run is reported with its point. The parent never starts
 * an OpenMP thread: libgomp's thread pool does not survive fork (a child
 * would wait for the parent's workers forever), so the parent loads and
 * splits on one thread (mfr_set_threads(1): the library's setup regions,
 * and the first team's spread over the CPUs, then stay on this thread)
 * and each child takes its run's thread count, as `mfrec train --threads`.
 *
 * Determinism. The library promises identical factors for every thread
 * count; within one point, every run (all thread counts, all repeats) must
 * report the same mfr_model_checksum. A difference is printed naming the
 * point and makes the command exit 1, after the CSV and charts are written.
 *
 * Kinds. --kind softmax sweeps the softmax model (include/mfrec_softmax.h)
 * instead: round 1's --preset softmax settings (one label per user and
 * epoch, Adam lr 0.01, batches of 16 users, He's init), a dim setting k, the movie
 * embedding width and the hidden width together; the reduce axis and the
 * matrix-factorization flags do not apply and are refused. Only the
 * mfr_softmax_trainer_epoch calls are timed.
 *
 * Aggregates. A config's ms/epoch is the median over its repeats of the
 * runs' medians; speedup(t) = ms(threads 1) / ms(t) for the same point,
 * efficiency = speedup / t; both are empty when 1 is not in --threads.
 * The aggregates are repeated on each of the config's rows, so the CSV
 * stays one table.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "mfrec_softmax.h"
#include "output.h"
#include "plot.h"

static const char sweep_help[] =
    "Usage: mfrec sweep --out FILE [options]\n"
    "\n"
    "Trains every combination of the listed thread counts, dimensions,\n"
    "reductions, kernel sets and shard counts, each repeated, one forked\n"
    "process per run, and writes one CSV row per run (docs/SWEEP.md). Lists\n"
    "are comma separated. Checksums of the final factors must agree across\n"
    "thread counts and repeats: a difference is an error (exit 1).\n"
    "--kind softmax sweeps the softmax model with fixed settings (one label\n"
    "per user and epoch, Adam lr 0.01, batches of 16 users, He's init: the\n"
    "first --preset softmax); a dim sets k, the movie embedding and the\n"
    "hidden width.\n"
    "\n";

static const char sweep_help_end[] =
    "\n"
    "ms/epoch of a run is the median of its timed epochs; a combination's is the\n"
    "median over its repeats. speedup = ms/epoch at 1 thread / ms/epoch.\n"
    "SIGINT or SIGTERM ends the run under way; the summary, the CSV and the\n"
    "charts then hold the repeats that every combination completed (none\n"
    "written when the first repeat was not complete). A second one exits at once.\n"
    "A run that fails (a child killed, a memory refusal) fails the sweep, exit 1,\n"
    "after the same report of the repeats that every combination completed.\n"
    "\n"
    "Exit status: 0 ok, 1 runtime error or checksums that differ, 2 usage error,\n"
    "3 stopped by SIGINT or SIGTERM (what was complete reported as above),\n"
    "130 or 143 when a second signal ended it at once (nothing written, or, when\n"
    "it came as the CSV and the charts went into place, once both were).\n";

enum { MAX_LIST = 64 };

static const char *const reduce_names[] = {"auto", "shard", "owner"};
static const char *const kernels_names[] = {"auto", "ref", "avx2", "avx512"};

struct int_list {
    int n;
    int32_t v[MAX_LIST];
};

struct sweep_opts {
    const char *data, *split, *csv, *plot_dir;
    struct int_list threads, dims, shards, reduce, kernels;
    int64_t epochs, warmup, repeat;
    mfr_config train; /* the training flags, the same for every run */
    bool bias;
    bool quiet;
    const char *kind; /* "mf" or "softmax" */
    bool softmax;
    mfr_softmax_config sm; /* --kind softmax: round 1's --preset softmax */
};

/* The reduce column of a point: none for the softmax model. */
static const char *reduce_text(const struct sweep_opts *o, int32_t reduce)
{
    return o->softmax ? "none" : reduce_names[reduce];
}

/* A point: the configuration minus the thread count. */
struct point {
    int32_t dim, reduce, kernels, shards; /* shards 0: auto */
};

/* What a child sends back through its pipe (same binary: plain bytes). */
struct run_result {
    int32_t status; /* MFR_OK or the failing status */
    char message[512];
    int32_t n_shards, n_threads;
    char kernels_name[16], reduce_name[16];
    uint64_t memory_bytes, checksum;
    double ms_median, ms_min, ms_max, ms_iqr; /* over the timed epochs */
    double peak_rss_mib;
    double final_loss; /* loss of the last step (before its update) */
    double trainer_s, epochs_s; /* trainer creation; every epoch, warm-up included */
};

/* Per config (point x threads): aggregates over the repeats. */
struct config_agg {
    double ms, ms_min, ms_max; /* median, min, max of the runs' medians */
    double process_s, setup_fraction; /* medians of the runs' CSV process_s, setup_fraction */
    double speedup, efficiency; /* NaN when threads 1 is not swept */
};

/* ------------------------------------------------------------------ */
/* Flags                                                                */
/* ------------------------------------------------------------------ */

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* --threads auto: train's default, the measured count (cfg.n_threads 0:
 * one thread or all of them, whichever is faster; src/train/threads.c). */
#define THREADS_AUTO 0

/* The thread counts of a --threads list, without its "auto" (always last). */
static int n_counts(const struct int_list *t) { return t->n - (t->n > 0 && t->v[t->n - 1] == THREADS_AUTO); }

/* Parses a comma-separated list into l. Numbers in lo..hi, or (names
 * non-NULL) indices of names[0..n_names); "auto" maps to 0 when auto_ok.
 * Duplicates are dropped; numeric lists are sorted ascending, named ones
 * keep their order. Prints a usage error naming the flag on failure. */
static bool parse_list(const char *flag, const char *s, int32_t lo, int32_t hi, bool auto_ok,
                       const char *const *names, int n_names, const char *choices,
                       struct int_list *l)
{
    l->n = 0;
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char tok[64];
        if (len == 0) {
            usage_error("%s: empty item in '%s'", flag, s);
            return false;
        }
        if (len >= sizeof tok) {
            usage_error("%s: item too long in '%s'", flag, s);
            return false;
        }
        memcpy(tok, p, len);
        tok[len] = 0;
        int32_t v = -1;
        if (names) {
            for (int c = 0; c < n_names; c++)
                if (names[c] && !strcmp(tok, names[c])) v = c;
            if (v < 0) {
                usage_error("%s must be a list of %s, got '%s'", flag, choices, tok);
                return false;
            }
        } else if (auto_ok && !strcmp(tok, "auto")) {
            v = 0;
        } else if (auto_ok) { /* its own message: the list takes auto too */
            int64_t x;
            if (!scan_i64(tok, lo, hi, &x)) {
                usage_error("%s must be an integer in %d..%d or auto, got '%s'", flag, (int)lo, (int)hi, tok);
                return false;
            }
            v = (int32_t)x;
        } else if (!parse_i32(flag, tok, lo, hi, &v)) {
            return false;
        }
        bool dup = false;
        for (int x = 0; x < l->n; x++) dup = dup || l->v[x] == v;
        if (!dup) {
            if (l->n == MAX_LIST) {
                usage_error("%s: at most %d values, got more in '%s'", flag, MAX_LIST, s);
                return false;
            }
            l->v[l->n++] = v;
        }
        if (!comma) break;
        p = comma + 1;
    }
    if (!names) qsort(l->v, (size_t)l->n, sizeof *l->v, cmp_i32);
    return true;
}

/* --threads LIST: counts ascending, then THREADS_AUTO ("auto") last. */
static bool parse_threads(const char *flag, const char *v, void *dst)
{
    if (!parse_list(flag, v, 1, CLI_THREADS_MAX, true, NULL, 0, NULL, dst)) return false;
    struct int_list *l = dst;
    if (l->v[0] == THREADS_AUTO) { /* sorted first: moved last */
        memmove(l->v, l->v + 1, sizeof *l->v * (size_t)(l->n - 1));
        l->v[l->n - 1] = THREADS_AUTO;
    }
    for (int x = 0; x < n_counts(l); x++)
        if (!cli_threads_allowed(flag, l->v[x])) return false;
    return true;
}

static bool parse_dims(const char *flag, const char *v, void *dst)
{
    const mfr_config_field *dim = mfr_config_field_find("--dim");
    return parse_list(flag, v, (int32_t)dim->lo, (int32_t)dim->hi, false, NULL, 0, NULL, dst);
}

/* A training flag, parsed and range-checked by the library's table. */
static bool parse_config_flag(const char *flag, const char *v, void *dst)
{
    mfr_error err = {0};
    if (mfr_config_set(dst, flag, v, &err) == MFR_OK) return true;
    usage_error("%s", err.message);
    return false;
}

static bool parse_shards(const char *flag, const char *v, void *dst)
{
    return parse_list(flag, v, 1, 65536, true, NULL, 0, NULL, dst);
}

static bool parse_reduce(const char *flag, const char *v, void *dst)
{
    return parse_list(flag, v, 0, 0, false, reduce_names, 3, "auto, shard, owner", dst);
}

static bool parse_kernels(const char *flag, const char *v, void *dst)
{
    return parse_list(flag, v, 0, 0, false, kernels_names, 4, "auto, ref, avx2, avx512", dst);
}

/* --kind: mf, or softmax without the flags that only apply to matrix
 * factorization. */
static int check_kind(struct sweep_opts *o, int argc, char **argv)
{
    if (strcmp(o->kind, "mf") != 0 && strcmp(o->kind, "softmax") != 0)
        return usage_error("--kind: expected mf or softmax, got '%s'", o->kind);
    o->softmax = !strcmp(o->kind, "softmax");
    if (!o->softmax) return EXIT_OK;
    static const char *const mf_only[] = {"--reduce", "--lr", "--l2", "--bias"};
    const char *given = cli_first_named_flag(argc, argv, mf_only, sizeof mf_only / sizeof *mf_only);
    if (given)
        return usage_error("%s does not apply to --kind softmax (its runs use fixed settings: Adam, lr 0.01)",
                           given);
    if (n_counts(&o->threads) < o->threads.n)
        return usage_error("--threads auto is matrix factorization's measured thread count; --kind softmax "
                           "runs a fixed count");
    static const char *const sharded[] = {"--shards"}; /* as train says */
    if (cli_first_named_flag(argc, argv, sharded, 1))
        return usage_error("--shards does not apply to --kind softmax (its steps are not sharded)");
    mfr_softmax_config_default(&o->sm);
    /* Round 1's --preset softmax, the settings of the timings in
     * docs/PERFORMANCE.md and docs/SOFTMAX.md: one label per user and epoch
     * (the current preset's all pairs cost about 80x per epoch). */
    o->sm.optimizer = MFR_SOFTMAX_OPT_ADAM;
    o->sm.lr = 0.01;
    o->sm.batch_users = 16;
    o->sm.hidden_init = MFR_SOFTMAX_INIT_HE;
    o->sm.seed = o->train.seed;
    return EXIT_OK;
}

/* Parses flags into o; false with *rc set when the command stops (after
 * --help or a usage error). */
static bool parse_sweep_flags(int argc, char **argv, struct sweep_opts *o, int *rc)
{
    const struct flag_spec flags[] = {
        {.name = "--data", .value = "DIR", .kind = FLAG_STR, .dst = &o->data, .section = "Data:",
         .help = "dataset directory (default: $MFREC_DATA, else data/ml-100k)"},
        {.name = "--split", .value = "SPEC", .kind = FLAG_STR, .dst = &o->split,
         .help = "sklearn:SEED[:FRAC] | u1..u5 | ua | ub | random:FRAC | none\n"
                 "(default sklearn:300); only the training part is used"},
        {.name = "--threads", .value = "LIST", .kind = FLAG_CUSTOM, .dst = &o->threads,
         .parse = parse_threads, .section = "Sweep:",
         .help = "thread counts (default 1); include 1 for speedups;\n"
                 "auto: train's default, measured (1 thread or all,\n"
                 "whichever is faster), as a run without --threads"},
        {.name = "--dims", .value = "LIST", .kind = FLAG_CUSTOM, .dst = &o->dims,
         .parse = parse_dims, .help = "embedding dimensions (default 30)"},
        {.name = "--reduce", .value = "LIST", .kind = FLAG_CUSTOM, .dst = &o->reduce,
         .parse = parse_reduce, .help = "auto, shard and/or owner (default owner)"},
        {.name = "--kernels", .value = "LIST", .kind = FLAG_CUSTOM, .dst = &o->kernels,
         .parse = parse_kernels, .help = "auto, ref, avx2 and/or avx512 (default auto: avx512\n"
                 "with AVX-512F, else avx2, else ref)"},
        {.name = "--shards", .value = "LIST", .kind = FLAG_CUSTOM, .dst = &o->shards,
         .parse = parse_shards,
         .help = "shard counts, or auto: derived from the data (default auto)"},
        {.name = "--epochs", .value = "N", .kind = FLAG_I64, .dst = &o->epochs, .lo = 1,
         .hi = 10000000, .help = "timed epochs per run (default 20)"},
        {.name = "--warmup", .value = "N", .kind = FLAG_I64, .dst = &o->warmup, .lo = 0,
         .hi = 10000000, .help = "untimed epochs before timing (default 1)"},
        {.name = "--repeat", .value = "R", .kind = FLAG_I64, .dst = &o->repeat, .lo = 1,
         .hi = 1000, .help = "fresh trainers per combination (default 3)"},
        {.name = "--kind", .value = "mf|softmax", .kind = FLAG_STR, .dst = &o->kind,
         .help = "the model swept (default mf); softmax: fixed settings (see\n"
                  "above), no --reduce, --shards, --lr, --l2, --bias or\n"
                  "--threads auto"},
        /* Training flags: the help lines are the library table's. */
        {.name = "--lr", .value = "X", .kind = FLAG_CUSTOM, .dst = &o->train,
         .parse = parse_config_flag, .section = "Training (the same for every run):",
         .print_help = train_opts_print_flag_help},
        {.name = "--seed", .value = "S", .kind = FLAG_CUSTOM, .dst = &o->train,
         .parse = parse_config_flag, .print_help = train_opts_print_flag_help},
        {.name = "--l2", .value = "X", .kind = FLAG_CUSTOM, .dst = &o->train,
         .parse = parse_config_flag, .print_help = train_opts_print_flag_help},
        {.name = "--bias", .kind = FLAG_SWITCH, .dst = &o->bias,
         .print_help = train_opts_print_flag_help},
        /* each run's memory budget, as train's: a run refused by it names
         * the flag, which the sweep did not take */
        {.name = "--max-memory", .value = "SIZE", .kind = FLAG_CUSTOM, .dst = &o->train,
         .parse = parse_config_flag, .section = "Execution (every run; never changes a result):",
         .print_help = train_opts_print_flag_help},
        {.name = "--out", .value = "FILE", .kind = FLAG_STR, .dst = &o->csv, .section = "Output:",
         .help = "the results as CSV, one row per run (required; --csv FILE\n"
                 "is an alias, the flag's old name)"},
        {.name = "--csv", .value = "FILE", .kind = FLAG_STR, .dst = &o->csv},
        {.name = "--plot", .value = "DIR", .kind = FLAG_STR, .dst = &o->plot_dir,
         .help = "also draw speedup_vs_threads, ms_per_epoch_vs_dim and\n"
                 "reduce_vs_threads (.png, .svg, .dat, .gp) with gnuplot"},
        {.name = "--quiet", .kind = FLAG_SWITCH, .dst = &o->quiet,
         .help = "no per-run lines and no summary table"},
    };
    struct command_spec cmd = {.name = "mfrec sweep", .help = sweep_help,
                               .help_end = sweep_help_end, .help_width = 20, .flags = flags,
                               .n_flags = sizeof flags / sizeof *flags, .data_flags = true};
    if (!cli_start(&cmd, argc, argv, rc)) return false;
    /* --out FILE as in every command; --csv FILE, its old name, still works */
    const char *out_flag = cli_flag_given("--csv") ? "--csv" : "--out";
    if (cli_flag_given("--csv") && cli_flag_given("--out"))
        *rc = usage_error("--csv FILE is the old name of --out FILE: give one");
    else if (!o->csv)
        *rc = usage_error("--out FILE is required (the results, as CSV)");
    if (*rc == EXIT_OK) *rc = check_kind(o, argc, argv);
    for (int d = 0; *rc == EXIT_OK && d < o->dims.n; d++)
        *rc = check_dim_with_bias("--dims", o->dims.v[d], o->bias, NULL);
    if (*rc == EXIT_OK) {
        *rc = io_input_data(default_data_dir(o->data));
        if (*rc == EXIT_OK) *rc = io_output(out_flag, o->csv);
    }
    static const char *const charts[] = {"speedup_vs_threads", "reduce_vs_threads",
                                         "ms_per_epoch_vs_dim", NULL};
    /* gnuplot before the work, as every command's --plot (the sweep used to
     * run whole and fail at its charts) */
    if (*rc == EXIT_OK && o->plot_dir && n_counts(&o->threads) < 2 && o->dims.n < 2)
        *rc = usage_error("--plot draws charts against threads or dims: give --threads two counts or "
                          "--dims two values or more");
    if (*rc == EXIT_OK && o->plot_dir) *rc = plot_preflight();
    if (*rc == EXIT_OK && o->plot_dir) *rc = plot_outputs_check(o->plot_dir, charts);
    return *rc == EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* One run, in a child process                                          */
/* ------------------------------------------------------------------ */

/* Peak resident set of this process in MiB: VmHWM, else ru_maxrss. */
static double peak_rss_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f) {
        char line[256];
        long long kib = -1;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "VmHWM: %lld kB", &kib) == 1) break;
        fclose(f);
        if (kib >= 0) return (double)kib / 1024.0;
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) return (double)ru.ru_maxrss / 1024.0;
    return NAN;
}

static void copy_name(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* The run's spread from its timed epochs t[0..n) (ms; sorted here). */
static void summarize_epochs(double *t, int64_t n, struct run_result *r)
{
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    r->ms_median = median_sorted(t, n);
    r->ms_min = t[0];
    r->ms_max = t[n - 1];
    r->ms_iqr = quantile_sorted(t, n, 0.75) - quantile_sorted(t, n, 0.25);
}

/* A failed run: its status and message. */
static void run_failed(struct run_result *r, int status, const char *msg)
{
    r->status = status;
    copy_name(r->message, sizeof r->message, msg);
}

/* One epoch of either kind's trainer (the loss into *loss). */
typedef int (*epoch_fn)(void *trainer, double *loss, mfr_error *err);

static int mf_epoch(void *tr, double *loss, mfr_error *err)
{
    return mfr_trainer_step(tr, loss, err);
}

static int softmax_epoch(void *tr, double *loss, mfr_error *err)
{
    return mfr_softmax_trainer_epoch(tr, loss, err);
}

/* The warm-up and timed epochs of a run: the timed epochs' milliseconds
 * into t, their seconds into r->epochs_s, the last loss into *loss. false
 * with r's status and message set when an epoch fails. */
static bool time_epochs(const struct sweep_opts *o, epoch_fn epoch, void *tr, double *t,
                        double *loss, struct run_result *r)
{
    mfr_error err = {0};
    for (int64_t e = 0; e < o->warmup + o->epochs; e++) {
        double t0 = now_seconds();
        int st = epoch(tr, loss, &err);
        double dt = now_seconds() - t0;
        if (st != MFR_OK) {
            r->status = st;
            snprintf(r->message, sizeof r->message, "epoch %lld: %.480s", (long long)e + 1, err.message);
            return false;
        }
        if (e >= o->warmup) t[e - o->warmup] = dt * 1e3;
        r->epochs_s += dt;
    }
    return true;
}

/* --kind softmax: one run of the softmax model; fills r. */
static void train_run_softmax(const struct sweep_opts *o, const mfr_dataset *ds,
                              const mfr_split *sp, const struct point *p, int32_t threads,
                              double *t, struct run_result *r)
{
    mfr_softmax_config c = o->sm;
    c.k = c.dim_movie = c.hidden[0] = p->dim;
    c.kernels = p->kernels;
    c.n_shards = p->shards;
    c.max_memory = o->train.max_memory;
    mfr_error err = {0};
    mfr_softmax_trainer *tr = NULL;
    mfr_model *m = NULL;
    double t_create = now_seconds();
    if (mfr_softmax_trainer_create(&c, ds, mfr_split_train(sp), mfr_split_spec(sp), threads, &tr,
                                   &err) != MFR_OK)
    {
        run_failed(r, err.status, err.message);
        return;
    }
    r->trainer_s = now_seconds() - t_create;
    double loss = NAN;
    if (!time_epochs(o, softmax_epoch, tr, t, &loss, r)) goto done;
    if (mfr_softmax_trainer_model(tr, &m, &err) != MFR_OK) {
        run_failed(r, err.status, err.message);
        goto done;
    }
    summarize_epochs(t, o->epochs, r);
    r->status = MFR_OK;
    r->final_loss = loss;
    r->n_shards = mfr_softmax_trainer_n_shards(tr);
    r->n_threads = threads;
    copy_name(r->kernels_name, sizeof r->kernels_name, mfr_softmax_trainer_kernels_name(tr));
    copy_name(r->reduce_name, sizeof r->reduce_name, "none");
    r->memory_bytes = 0; /* not estimated for softmax; peak_rss_mib covers it */
    r->checksum = mfr_model_checksum(m);
    r->peak_rss_mib = peak_rss_mib();
done:
    mfr_model_destroy(m);
    mfr_softmax_trainer_destroy(tr);
}

/* Trains one run and fills r; runs in the child. */
static void train_run(const struct sweep_opts *o, const mfr_dataset *ds, const mfr_split *sp,
                      const struct point *p, int32_t threads, struct run_result *r)
{
    memset(r, 0, sizeof *r); /* the times too: run() may return before setting them */
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = p->dim;
    cfg.reduce = p->reduce;
    cfg.kernels = p->kernels;
    cfg.n_shards = p->shards;
    cfg.n_threads = threads;
    cfg.seed = o->train.seed;
    cfg.lr = o->train.lr;
    cfg.l2 = o->train.l2;
    cfg.bias = o->bias;
    cfg.max_memory = o->train.max_memory;
    mfr_error err = {0};
    mfr_trainer *tr = NULL;
    double *t = malloc((size_t)o->epochs * sizeof *t);
    if (!t) {
        run_failed(r, MFR_ERR_NOMEM, "out of memory for the epoch times");
        return;
    }
    if (o->softmax) {
        train_run_softmax(o, ds, sp, p, threads, t, r);
        free(t);
        return;
    }
    double t_create = now_seconds();
    if (mfr_trainer_create(&cfg, ds, mfr_split_train(sp), mfr_split_spec(sp), &tr, &err) != MFR_OK) {
        r->status = err.status;
        copy_name(r->message, sizeof r->message, err.message);
        free(t);
        return;
    }
    r->trainer_s = now_seconds() - t_create;
    double loss = NAN;
    if (!time_epochs(o, mf_epoch, tr, t, &loss, r)) goto done;
    summarize_epochs(t, o->epochs, r);
    r->status = MFR_OK;
    r->final_loss = loss;
    r->n_shards = mfr_trainer_n_shards(tr);
    r->n_threads = mfr_trainer_n_threads(tr);
    copy_name(r->kernels_name, sizeof r->kernels_name, mfr_trainer_kernels_name(tr));
    copy_name(r->reduce_name, sizeof r->reduce_name, mfr_trainer_reduce_name(tr));
    r->memory_bytes = mfr_trainer_memory_bytes(tr);
    r->checksum = mfr_model_checksum(mfr_trainer_model(tr));
    r->peak_rss_mib = peak_rss_mib();
done:
    mfr_trainer_destroy(tr);
    free(t);
}

static bool write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Reads up to len bytes (fewer at EOF); returns the count read. */
static size_t read_all(int fd, void *buf, size_t len)
{
    char *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, p + got, len - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    return got;
}

/* Runs one (config, repeat) in a forked child. Returns EXIT_OK with *r
 * filled, EXIT_INTERRUPTED when a stop signal came before the run
 * completed, or prints an error naming the run (`what`) and returns
 * EXIT_RUNTIME. */
static int fork_run(const struct sweep_opts *o, const mfr_dataset *ds, const mfr_split *sp,
                    const struct point *p, int32_t threads, const char *what,
                    struct run_result *r)
{
    int fds[2];
    if (pipe(fds) != 0) return runtime_error("%s: cannot create a pipe: %s", what, strerror(errno));
    fflush(NULL); /* the child must not flush our buffered output again */
    /* INT and TERM wait while the child is made and registered, so that
     * the handler that kills it (signal_cleanup_child) knows its pid */
    sigset_t stop, was;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigprocmask(SIG_BLOCK, &stop, &was);
    if (g_stop_signal) { /* came since run_all looked, when no run was registered to kill */
        sigprocmask(SIG_SETMASK, &was, NULL);
        close(fds[0]);
        close(fds[1]);
        return EXIT_INTERRUPTED;
    }
    const pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        sigprocmask(SIG_SETMASK, &was, NULL);
        close(fds[0]);
        close(fds[1]);
        return runtime_error("%s: cannot fork: %s", what, strerror(e));
    }
    if (pid == 0) {
        /* a sweep killed by SIGKILL (no handler runs) ends its run too */
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(4);
        signal_cleanup_child(0);
        sigprocmask(SIG_SETMASK, &was, NULL);
        close(fds[0]);
        mfr_set_threads(threads); /* the parent's 1 was for itself */
        struct run_result res;
        train_run(o, ds, sp, p, threads, &res);
        _exit(write_all(fds[1], &res, sizeof res) ? 0 : 3);
    }
    signal_cleanup_child(pid); /* a signal to the sweep ends its run too */
    sigprocmask(SIG_SETMASK, &was, NULL);
    close(fds[1]);
    size_t got = read_all(fds[0], r, sizeof *r);
    close(fds[0]);
    /* Waited for without reaping (WNOWAIT: its pid stays this child's),
     * then unregistered and reaped with the signals held, so that the
     * handler never kills a pid that another process may have taken. */
    siginfo_t info;
    while (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT) < 0)
        if (errno != EINTR) break;
    sigprocmask(SIG_BLOCK, &stop, NULL);
    signal_cleanup_child(0);
    int st = 0, wrc;
    while ((wrc = waitpid(pid, &st, 0)) < 0 && errno == EINTR) {
    }
    const int we = errno;
    sigprocmask(SIG_SETMASK, &was, NULL);
    if (wrc < 0) return runtime_error("%s: waiting for the run: %s", what, strerror(we));
    const bool complete = got == sizeof *r && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    if (g_stop_signal && !complete) return EXIT_INTERRUPTED; /* killed by the handler */
    if (WIFSIGNALED(st))
        return runtime_error("%s: the run was killed by signal %d (%s)", what, WTERMSIG(st),
                             WTERMSIG(st) == SIGKILL ? "out of memory?" : strsignal(WTERMSIG(st)));
    if (!complete)
        return runtime_error("%s: the run exited with status %d without a result", what,
                             WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    r->message[sizeof r->message - 1] = 0;
    r->kernels_name[sizeof r->kernels_name - 1] = 0;
    r->reduce_name[sizeof r->reduce_name - 1] = 0;
    if (r->status != MFR_OK) return runtime_error("%s: %s", what, r->message);
    return EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* Machine description, CSV                                             */
/* ------------------------------------------------------------------ */

/* The "model name" (x86) or "Hardware"/"Processor" line of /proc/cpuinfo. */
static void cpu_model(char *out, size_t cap)
{
    snprintf(out, cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        bool model = !strncmp(line, "model name", 10);
        if (!model && strncmp(line, "Hardware", 8) && strncmp(line, "Processor", 9)) continue;
        char *colon = strchr(line, ':');
        if (!colon) continue;
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t') v++;
        size_t n = strcspn(v, "\r\n");
        while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
        if (n == 0) continue;
        snprintf(out, cap, "%.*s", (int)n, v);
        if (model) break;
    }
    fclose(f);
}

/* A CSV field: quoted (with "" for ") when it has a comma, quote or
 * line break, else verbatim; a byte that is not UTF-8 (a Latin-1 data
 * path's) as U+FFFD, as in JSON: the file is UTF-8 text, which a raw
 * byte made unreadable to tools/sweep-compare and to pandas. */
static void csv_str(struct json_log *j, const char *s)
{
    const bool quoted = strpbrk(s, ",\"\r\n") != NULL;
    if (quoted) jlog_printf(j, "\"");
    for (int n; *s; s += n) {
        n = utf8_char_len(s);
        if (n == 0) jlog_printf(j, "%s", UTF8_REPLACEMENT), n = 1;
        else if (*s == '"') jlog_printf(j, "\"\"");
        else jlog_printf(j, "%.*s", n, s);
    }
    if (quoted) jlog_printf(j, "\"");
}

/* A --threads value as given: the count, or "auto". */
static const char *threads_text(int32_t threads, char out[16])
{
    if (threads == THREADS_AUTO) return "auto";
    snprintf(out, 16, "%d", threads);
    return out;
}

/* "%.6f" of v, or an empty field when v is not finite. */
static void csv_num(struct json_log *j, double v)
{
    if (isfinite(v)) jlog_printf(j, "%.6f", v);
}

/* The lr and l2 a row records as the shortest text that reads back as the
 * value (num_exact), so that the row reruns as it ran (%g's six digits
 * made --lr 0.00123456789 and 0.00123457 one row value with two
 * checksums). Both were checked finite when the options were read. */
static void csv_settings(struct json_log *j, double lr, double l2)
{
    char a[32], b[32];
    jlog_printf(j, "%s,%s", num_exact(lr, a), num_exact(l2, b));
}

static const char csv_header[] =
    "dataset,split,n_users,n_items,n_train,epochs,warmup,seed,lr,l2,bias,threads,dim,reduce,"
    "kernels,kernels_used,shards,repeat,ms_per_epoch_median,ms_per_epoch_min,ms_per_epoch_max,"
    "ms_per_epoch_iqr,ratings_per_s,point_ms_per_epoch,point_ms_per_epoch_min,"
    "point_ms_per_epoch_max,speedup,efficiency,peak_rss_mib,memory_bytes,final_loss,checksum,"
    "compiler_flags,cpu_model,cores,setup_s,process_s,setup_fraction,kind,shards_requested,"
    "reduce_used,threads_used,commit\n";

/* ------------------------------------------------------------------ */
/* Charts                                                               */
/* ------------------------------------------------------------------ */

struct sweep {
    const struct sweep_opts *o;
    struct point *points;
    int n_points;
    int n_threads;             /* o->threads.n */
    struct run_result *runs;   /* [(point * n_threads + thread) * repeat + rep] */
    struct config_agg *agg;    /* [point * n_threads + thread] */
    const char *dataset_name;  /* basename of the data directory */
    int64_t n_train;
    long cores;
    double load_s; /* the parent's load and split, once for every run */
    int64_t repeats_done; /* every combination's, when a stop signal came */
    int64_t runs_done;    /* runs completed, of every repeat */
    bool run_failed;      /* run_all stopped at a run that failed */
};

/* A series name: the point's dim and reduce, plus kernels and shards when
 * the sweep varies them; threads >= 1 prepends the thread count,
 * THREADS_AUTO "auto threads" (-1: neither), with_dim false leaves the dim
 * out. */
static void series_name(const struct sweep *s, const struct point *p, int32_t threads,
                        bool with_dim, char *out, size_t cap)
{
    int n = 0;
    out[0] = 0;
    if (threads >= 1) n += snprintf(out + n, cap - (size_t)n, "%d thread%s ", threads, threads == 1 ? "" : "s");
    else if (threads == THREADS_AUTO) n += snprintf(out + n, cap - (size_t)n, "auto threads ");
    if (with_dim) n += snprintf(out + n, cap - (size_t)n, "k=%d ", p->dim);
    /* "auto" alone could be the reduction's or the kernels': each says which */
    const char *reduce = s->o->softmax ? "softmax" : reduce_names[p->reduce];
    const struct run_result *first = &s->runs[(int64_t)(p - s->points) * s->n_threads * s->o->repeat];
    if (!strcmp(reduce, "auto")) /* what it picked: by the data's shape, the same for every run */
        n += snprintf(out + n, cap - (size_t)n, "auto reduce (%s)", first->reduce_name);
    else
        n += snprintf(out + n, cap - (size_t)n, "%s", reduce);
    if (s->o->kernels.n > 1) n += snprintf(out + n, cap - (size_t)n, ", %s kernels", kernels_names[p->kernels]);
    if (s->o->shards.n > 1) {
        /* what ran beside what was asked: two counts above what the data
         * allows run as the same count (one user at least in each shard) */
        const int32_t ran = first->n_shards;
        if (!p->shards) snprintf(out + n, cap - (size_t)n, ", auto shards (%d)", ran);
        else if (ran != p->shards) snprintf(out + n, cap - (size_t)n, ", %d shards (ran %d)", p->shards, ran);
        else snprintf(out + n, cap - (size_t)n, ", %d shards", p->shards);
    }
}

enum { NAME_LEN = 96 };

/* The buffers of a line chart: nx x values, ns series of nx y values. */
struct line_chart {
    double *x, *y;
    char (*names)[NAME_LEN];
    struct plot_series *series;
};

static void line_chart_free(struct line_chart *c)
{
    free(c->x);
    free(c->y);
    free(c->names);
    free(c->series);
}

/* EXIT_OK, or a runtime error (out of memory) with c freed. */
static int line_chart_alloc(struct line_chart *c, int nx, int ns)
{
    c->x = malloc((size_t)nx * sizeof *c->x);
    c->y = malloc((size_t)nx * (size_t)ns * sizeof *c->y);
    c->names = malloc((size_t)ns * sizeof *c->names);
    c->series = malloc((size_t)ns * sizeof *c->series);
    if (c->x && c->y && c->names && c->series) return EXIT_OK;
    line_chart_free(c);
    return runtime_error("out of memory");
}

/* speedup_vs_threads and reduce_vs_threads: x = the thread counts ("auto"
 * has no place on the axis), one series per point; `speedup` picks the y
 * values (and adds the ideal line). */
static int chart_vs_threads(const struct sweep *s, bool speedup)
{
    int nt = n_counts(&s->o->threads), ns = s->n_points + (speedup ? 1 : 0);
    struct line_chart c;
    int rc = line_chart_alloc(&c, nt, ns);
    if (rc != EXIT_OK) return rc;
    double *x = c.x, *y = c.y;
    char (*names)[NAME_LEN] = c.names;
    struct plot_series *series = c.series;
    for (int t = 0; t < nt; t++) x[t] = s->o->threads.v[t];
    /* Series in the order dim, then reduce (adjacent in the legend). */
    int k = 0;
    for (int d = 0; d < s->o->dims.n; d++)
        for (int p = 0; p < s->n_points; p++) {
            if (s->points[p].dim != s->o->dims.v[d]) continue;
            series_name(s, &s->points[p], -1, true, names[k], NAME_LEN);
            for (int t = 0; t < nt; t++) {
                const struct config_agg *g = &s->agg[p * s->n_threads + t];
                y[k * nt + t] = speedup ? g->speedup : g->ms;
            }
            series[k].name = names[k];
            series[k].reference = false;
            series[k].y = y + k * nt;
            k++;
        }
    if (speedup) {
        snprintf(names[k], NAME_LEN, "ideal (speedup = threads)");
        for (int t = 0; t < nt; t++) y[k * nt + t] = x[t];
        series[k].name = names[k];
        series[k].y = y + k * nt;
        series[k].reference = true;
        k++;
    }
    char title[384];
    snprintf(title, sizeof title, "%s: %s, %lld timed epochs, %ld cores",
             speedup ? "Speedup vs threads" : "ms/epoch by reduction strategy",
             s->dataset_name, (long long)s->o->epochs, s->cores);
    struct plot_labels lab = {title, "threads",
                              speedup ? "speedup (ms/epoch at 1 thread / ms/epoch)"
                                      : "ms/epoch (median)"};
    rc = plot_lines(s->o->plot_dir, speedup ? "speedup_vs_threads" : "reduce_vs_threads", &lab, nt,
                    x, k, series, false);
    line_chart_free(&c);
    return rc;
}

/* ms_per_epoch_vs_dim: x = dims, one series per (threads, point minus dim). */
static int chart_vs_dim(const struct sweep *s)
{
    int nd = s->o->dims.n, nt = s->n_threads;
    int per_dim = s->n_points / nd; /* points sharing one dim */
    int ns = nt * per_dim;
    struct line_chart c;
    int rc = line_chart_alloc(&c, nd, ns);
    if (rc != EXIT_OK) return rc;
    double *x = c.x, *y = c.y;
    char (*names)[NAME_LEN] = c.names;
    struct plot_series *series = c.series;
    for (int d = 0; d < nd; d++) x[d] = s->o->dims.v[d];
    /* Points are laid out dim-major (see run_sweep), so point d * per_dim + q
     * is the q-th (reduce, kernels, shards) combination at dim d. */
    int k = 0;
    for (int t = 0; t < nt; t++)
        for (int q = 0; q < per_dim; q++) {
            series_name(s, &s->points[q], s->o->threads.v[t], false, names[k], NAME_LEN);
            for (int d = 0; d < nd; d++) y[k * nd + d] = s->agg[(d * per_dim + q) * nt + t].ms;
            series[k].name = names[k];
            series[k].reference = false;
            series[k].y = y + k * nd;
            k++;
        }
    char title[384];
    snprintf(title, sizeof title, "ms/epoch vs embedding dimension: %s, %lld timed epochs, %ld cores",
             s->dataset_name, (long long)s->o->epochs, s->cores);
    struct plot_labels lab = {title, "embedding dimension k", "ms/epoch (median)"};
    rc = plot_lines(s->o->plot_dir, "ms_per_epoch_vs_dim", &lab, nd, x, k, series, false);
    line_chart_free(&c);
    return rc;
}

/* Draws the charts that have at least two x values; notes the others. */
static int draw_charts(const struct sweep *s)
{
    int rc = ensure_dir(s->o->plot_dir);
    if (rc != EXIT_OK) return rc;
    const int counts = n_counts(&s->o->threads);
    if (counts < 2)
        fprintf(stderr, "%s: note: no charts against threads: --threads has fewer than two counts (auto is "
                        "not one)\n",
                g_cmd);
    else if (s->o->threads.v[0] != 1)
        fprintf(stderr, "%s: note: no speedup chart: --threads does not include 1\n", g_cmd);
    else if ((rc = chart_vs_threads(s, true)) != EXIT_OK)
        return rc;
    if (s->o->dims.n < 2)
        fprintf(stderr, "%s: note: no ms_per_epoch_vs_dim chart: --dims has one value\n", g_cmd);
    else if ((rc = chart_vs_dim(s)) != EXIT_OK)
        return rc;
    return counts < 2 ? EXIT_OK : chart_vs_threads(s, false);
}

/* ------------------------------------------------------------------ */
/* The sweep                                                            */
/* ------------------------------------------------------------------ */

static void point_text(const struct sweep_opts *o, const struct point *p, char *out, size_t cap)
{
    char sh[24];
    if (p->shards) snprintf(sh, sizeof sh, "%d", p->shards);
    else snprintf(sh, sizeof sh, "auto");
    snprintf(out, cap, "dim %d, %s%s, kernels %s, shards %s", p->dim,
             o->softmax ? "softmax" : "reduce ", o->softmax ? "" : reduce_names[p->reduce],
             kernels_names[p->kernels], sh);
}

/* The whole process a run stands for: load and split (the parent's, once),
 * trainer creation, every epoch (the CSV's setup_s and process_s). */
static double run_setup_s(const struct sweep *s, const struct run_result *x)
{
    return s->load_s + x->trainer_s;
}

static double run_process_s(const struct sweep *s, const struct run_result *x)
{
    return run_setup_s(s, x) + x->epochs_s;
}

static int median_of_runs(const struct sweep *s, int c, struct config_agg *g)
{
    int64_t R = s->o->repeat;
    double *m = malloc((size_t)R * sizeof *m);
    if (!m) return runtime_error("out of memory");
    for (int64_t r = 0; r < R; r++) m[r] = s->runs[c * R + r].ms_median;
    qsort(m, (size_t)R, sizeof *m, cmp_double);
    g->ms = median_sorted(m, R);
    g->ms_min = m[0];
    g->ms_max = m[R - 1];
    for (int64_t r = 0; r < R; r++) m[r] = run_process_s(s, &s->runs[c * R + r]);
    qsort(m, (size_t)R, sizeof *m, cmp_double);
    g->process_s = median_sorted(m, R);
    for (int64_t r = 0; r < R; r++) {
        const double proc = run_process_s(s, &s->runs[c * R + r]);
        m[r] = proc > 0 ? run_setup_s(s, &s->runs[c * R + r]) / proc : 0.0;
    }
    qsort(m, (size_t)R, sizeof *m, cmp_double);
    g->setup_fraction = median_sorted(m, R);
    free(m);
    return EXIT_OK;
}

/* Compares every run's checksum with the point's first; prints each
 * difference. Returns true when all agree. */
static bool check_checksums(const struct sweep *s)
{
    bool all_ok = true;
    int64_t R = s->o->repeat;
    for (int p = 0; p < s->n_points; p++) {
        const struct run_result *ref = &s->runs[(int64_t)p * s->n_threads * R];
        bool ok = true;
        for (int t = 0; t < s->n_threads; t++)
            for (int64_t r = 0; r < R; r++)
                ok = ok && s->runs[((int64_t)p * s->n_threads + t) * R + r].checksum == ref->checksum;
        if (ok) continue;
        all_ok = false;
        char pt[160];
        point_text(s->o, &s->points[p], pt, sizeof pt);
        runtime_error("checksums differ across thread counts or repeats for the point %s:", pt);
        char tt[16];
        for (int t = 0; t < s->n_threads; t++)
            for (int64_t r = 0; r < R; r++)
                fprintf(stderr, "  threads %s repeat %lld: %016llx\n", threads_text(s->o->threads.v[t], tt),
                        (long long)r + 1,
                        (unsigned long long)s->runs[((int64_t)p * s->n_threads + t) * R + r].checksum);
    }
    return all_ok;
}

/* Writes the CSV; `report` is printed (with what was printed before) once
 * its temporary file is complete, before it takes its name. */
static int write_csv(const struct sweep *s, const mfr_dataset *ds, const mfr_split *sp, const char *report)
{
    const struct sweep_opts *o = s->o;
    char cpu[256], seed[32], ck[24], tt[16];
    cpu_model(cpu, sizeof cpu);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->train.seed);
    struct json_log j = {0};
    jlog_printf(&j, "%s", csv_header);
    int64_t R = o->repeat;
    for (int p = 0; p < s->n_points; p++)
        for (int t = 0; t < s->n_threads; t++) {
            int c = p * s->n_threads + t;
            const struct point *pt = &s->points[p];
            const struct config_agg *g = &s->agg[c];
            for (int64_t r = 0; r < R; r++) {
                const struct run_result *x = &s->runs[c * R + r];
                csv_str(&j, mfr_dataset_dir(ds));
                jlog_printf(&j, ",");
                csv_str(&j, mfr_split_spec(sp));
                jlog_printf(&j, ",%d,%d,%lld,%lld,%lld,%s,", mfr_dataset_n_users(ds), mfr_dataset_n_items(ds),
                            (long long)s->n_train, (long long)o->epochs, (long long)o->warmup, seed);
                csv_settings(&j, o->softmax ? o->sm.lr : o->train.lr, o->softmax ? 0.0 : o->train.l2);
                jlog_printf(&j, ",%d,%s,%d,%s,%s,", o->bias, threads_text(o->threads.v[t], tt), pt->dim,
                            reduce_text(o, pt->reduce), kernels_names[pt->kernels]);
                csv_str(&j, x->kernels_name);
                jlog_printf(&j, ",%d,%lld,%.6f,%.6f,%.6f,%.6f,%.0f,%.6f,%.6f,%.6f,", x->n_shards,
                            (long long)r + 1, x->ms_median, x->ms_min, x->ms_max, x->ms_iqr,
                            (double)s->n_train / (x->ms_median * 1e-3), g->ms, g->ms_min,
                            g->ms_max);
                csv_num(&j, g->speedup);
                jlog_printf(&j, ",");
                csv_num(&j, g->efficiency);
                jlog_printf(&j, ",");
                csv_num(&j, x->peak_rss_mib);
                snprintf(ck, sizeof ck, "%016llx", (unsigned long long)x->checksum);
                jlog_printf(&j, ",%llu,%.9g,%s,", (unsigned long long)x->memory_bytes,
                            x->final_loss, ck);
                csv_str(&j, mfr_build_info());
                jlog_printf(&j, ",");
                csv_str(&j, cpu);
                double setup = run_setup_s(s, x), process = run_process_s(s, x);
                jlog_printf(&j, ",%ld,%.6f,%.6f,%.6f,%s,", s->cores, setup, process,
                            process > 0 ? setup / process : 0.0, o->softmax ? "softmax" : "mf");
                /* what was asked beside what ran (shards, kernels_used),
                 * so that --shards auto,1 stay two rows apart */
                if (pt->shards) jlog_printf(&j, "%d,", pt->shards);
                else jlog_printf(&j, "auto,");
                csv_str(&j, x->reduce_name);
                jlog_printf(&j, ",%d,", x->n_threads);
                csv_str(&j, mfr_build_commit());
                jlog_printf(&j, "\n");
            }
        }
    int rc = jlog_write(o->csv, &j, report);
    free(j.buf);
    return rc;
}

static void print_summary(const struct sweep *s)
{
    printf("\n%-5s %-6s %-7s %9s %7s  %10s  %21s  %7s  %6s  %9s  %7s  %8s  %-16s\n", "dim",
           "reduce", "kernels", "shards", "threads", "ms/epoch", "[min..max of repeats]",
           "speedup", "effic.", "process s", "setup %", "RSS MiB", "checksum");
    int64_t R = s->o->repeat;
    for (int p = 0; p < s->n_points; p++)
        for (int t = 0; t < s->n_threads; t++) {
            int c = p * s->n_threads + t;
            const struct point *pt = &s->points[p];
            const struct config_agg *g = &s->agg[c];
            const struct run_result *x = &s->runs[c * R];
            double rss = 0;
            for (int64_t r = 0; r < R; r++)
                if (s->runs[c * R + r].peak_rss_mib > rss) rss = s->runs[c * R + r].peak_rss_mib;
            char sp[16] = "-", ef[16] = "-";
            if (isfinite(g->speedup)) snprintf(sp, sizeof sp, "%.2f", g->speedup);
            if (isfinite(g->efficiency)) snprintf(ef, sizeof ef, "%.2f", g->efficiency);
            /* with several --shards values, one that ran as another count
             * (auto; one above the data's limit) is ASKED(N): apart from a
             * value N asked for (the CSV's shards_requested) */
            char sh[24];
            if (s->o->shards.n > 1 && pt->shards != x->n_shards) {
                if (pt->shards) snprintf(sh, sizeof sh, "%d(%d)", pt->shards, x->n_shards);
                else snprintf(sh, sizeof sh, "auto(%d)", x->n_shards);
            } else
                snprintf(sh, sizeof sh, "%d", x->n_shards);
            char tt[24];
            threads_text(s->o->threads.v[t], tt);
            if (s->o->threads.v[t] == THREADS_AUTO) { /* and the counts it settled on */
                int32_t lo = x->n_threads, hi = x->n_threads;
                for (int64_t r = 1; r < R; r++) {
                    const int32_t n = s->runs[c * R + r].n_threads;
                    lo = n < lo ? n : lo, hi = n > hi ? n : hi;
                }
                if (lo == hi) snprintf(tt, sizeof tt, "auto(%d)", lo);
                else snprintf(tt, sizeof tt, "auto(%d-%d)", lo, hi);
            }
            printf("%-5d %-6s %-7s %9s %7s  %10.4f  [%9.4f..%9.4f]  %7s  %6s  %9.3f  %7.1f  %8.1f  "
                   "%016llx\n",
                   pt->dim, reduce_text(s->o, pt->reduce), kernels_names[pt->kernels], sh,
                   tt, g->ms, g->ms_min, g->ms_max, sp, ef, g->process_s,
                   100.0 * g->setup_fraction, rss, (unsigned long long)x->checksum);
        }
}

static const char *base_name(const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--; /* trailing slashes */
    const char *end = path + n, *b = end;
    while (b > path && b[-1] != '/') b--;
    static char buf[256];
    snprintf(buf, sizeof buf, "%.*s", (int)(end - b), b);
    return buf;
}

/* Runs every (config, repeat), repeats interleaved; fills s->runs and
 * s->repeats_done. EXIT_INTERRUPTED when a stop signal came first. */
static int run_all(struct sweep *s, const mfr_dataset *ds, const mfr_split *sp)
{
    const struct sweep_opts *o = s->o;
    int64_t R = o->repeat, total = (int64_t)s->n_points * s->n_threads * R, done = 0;
    for (int64_t r = 0; r < R; s->repeats_done = ++r)
        for (int p = 0; p < s->n_points; p++)
            for (int t = 0; t < s->n_threads; t++) {
                if (g_stop_signal) return EXIT_INTERRUPTED;
                int c = p * s->n_threads + t;
                int32_t threads = o->threads.v[t];
                char pt[160], what[256], tt[16];
                point_text(o, &s->points[p], pt, sizeof pt);
                snprintf(what, sizeof what, "threads %s, %s, repeat %lld", threads_text(threads, tt), pt,
                         (long long)r + 1);
                struct run_result *x = &s->runs[c * R + r];
                int rc = fork_run(o, ds, sp, &s->points[p], threads, what, x);
                if (rc != EXIT_OK) {
                    s->run_failed = rc == EXIT_RUNTIME;
                    return rc;
                }
                s->runs_done = ++done;
                if (!o->quiet) {
                    printf("[%*lld/%lld] %s: %.4f ms/epoch (%.4f..%.4f), %.1f MiB, checksum "
                           "%016llx\n",
                           (int)snprintf(NULL, 0, "%lld", (long long)total), (long long)done,
                           (long long)total, what, x->ms_median, x->ms_min, x->ms_max,
                           x->peak_rss_mib, (unsigned long long)x->checksum);
                    if ((rc = stdout_flush()) != EXIT_OK) return rc;
                }
            }
    return EXIT_OK;
}

/* The sweep's points, dim-major, then reduce, kernels, shards
 * (chart_vs_dim relies on this order). */
static void make_points(struct sweep *s)
{
    const struct sweep_opts *o = s->o;
    int np = 0;
    for (int d = 0; d < o->dims.n; d++)
        for (int r = 0; r < o->reduce.n; r++)
            for (int k = 0; k < o->kernels.n; k++)
                for (int h = 0; h < o->shards.n; h++)
                    s->points[np++] = (struct point){o->dims.v[d], o->reduce.v[r], o->kernels.v[k],
                                                     o->shards.v[h]};
}

static int print_sweep_header(const struct sweep *s, const mfr_dataset *ds, const mfr_split *sp,
                               int64_t n_configs)
{
    const struct sweep_opts *o = s->o;
    printf("mfrec sweep | data %s (%d user%s, %d item%s), split %s: %lld training rating%s\n",
           printable(data_name(ds)), mfr_dataset_n_users(ds), PL(mfr_dataset_n_users(ds)), mfr_dataset_n_items(ds),
           PL(mfr_dataset_n_items(ds)), printable(mfr_split_spec(sp)), (long long)s->n_train, PL(s->n_train));
    const long long runs = (long long)(n_configs * o->repeat);
    printf("%d thread count%s x %d dim%s x %d reduce x %d kernel set%s x %d shard count%s = %lld "
           "combination%s x %lld repeat%s = %lld run%s of %lld+%lld epochs (warmup+timed)\n",
           o->threads.n, PL(o->threads.n), o->dims.n, PL(o->dims.n), o->reduce.n, o->kernels.n,
           PL(o->kernels.n), o->shards.n, PL(o->shards.n), (long long)n_configs, PL(n_configs),
           (long long)o->repeat, PL(o->repeat), runs, PL(runs), (long long)o->warmup,
           (long long)o->epochs);
    printf("build: %s, commit %s | %ld cores\n", mfr_build_info(), mfr_build_commit(), s->cores);
    return stdout_flush();
}

/* Fills s->agg: each config's median over its repeats, and the speedups. */
static int aggregate(struct sweep *s)
{
    const struct sweep_opts *o = s->o;
    int rc;
    for (int p = 0; p < s->n_points; p++)
        for (int t = 0; t < s->n_threads; t++)
            if ((rc = median_of_runs(s, p * s->n_threads + t, &s->agg[p * s->n_threads + t])) !=
                EXIT_OK)
                return rc;
    for (int p = 0; p < s->n_points; p++)
        for (int t = 0; t < s->n_threads; t++) {
            struct config_agg *g = &s->agg[p * s->n_threads + t];
            g->speedup = g->efficiency = NAN;
            if (o->threads.v[0] != 1) continue; /* sorted: 1 is first when present */
            g->speedup = s->agg[p * s->n_threads].ms / g->ms;
            /* auto: no fixed count to divide by */
            if (o->threads.v[t] != THREADS_AUTO) g->efficiency = g->speedup / o->threads.v[t];
        }
    return EXIT_OK;
}

/* Loads the dataset and makes the split (once, in the parent). */
static int sweep_load(const struct sweep_opts *o, mfr_dataset **ds, mfr_split **sp)
{
    mfr_error err = {0};
    mfr_set_threads(1); /* no OpenMP thread in the parent of fork() (file comment) */
    data_set_memory_budget(o->train.max_memory); /* --max-memory covers a text parse too, as train's */
    if (load_dataset(default_data_dir(o->data), ds, &err) != MFR_OK) return lib_error(&err);
    if (mfr_split_create(*ds, o->split, o->train.seed, sp, &err) != MFR_OK)
        return err.status == MFR_ERR_INVALID ? usage_error("--split: %s", err.message)
                                             : lib_error(&err);
    return EXIT_OK;
}

/* After the runs: aggregates, the checksum check, the CSV, the summary
 * and the charts. */
static int report_sweep(struct sweep *s, const mfr_dataset *ds, const mfr_split *sp,
                        int64_t n_configs)
{
    const struct sweep_opts *o = s->o;
    int rc = aggregate(s);
    if (rc != EXIT_OK) return rc;
    bool same = check_checksums(s);
    /* The charts are drawn into their stage first; then the CSV (its
     * temporary file complete before its report, as every output) and the
     * charts go into place, a second stop signal waiting for both
     * (stop_signals_saving): a second Ctrl-C while gnuplot drew left the
     * new CSV beside an earlier run's charts. The runs' measurements,
     * possibly hours of them, are kept even when a chart fails; the charts
     * move together, or none does. */
    char report[4 * 4096 + 64] = ""; /* a path's control bytes print as \xHH: 4 bytes each */
    if (!o->quiet) {
        print_summary(s);
        snprintf(report, sizeof report, "wrote %lld row%s to %s\n", (long long)(n_configs * o->repeat),
                 PL(n_configs * o->repeat), printable(o->csv));
    }
    int plot_rc = EXIT_OK;
    if (o->plot_dir && (plot_rc = plot_stage_begin(o->plot_dir)) == EXIT_OK) plot_rc = draw_charts(s);
    stop_signals_saving(true);
    rc = write_csv(s, ds, sp, report);
    if (o->plot_dir) plot_rc = plot_stage_end(rc != EXIT_OK ? rc : plot_rc);
    stop_signals_saving(false); /* a second signal meanwhile exits now, with both in place */
    if (rc != EXIT_OK) return rc;
    if (o->plot_dir && plot_rc != EXIT_OK) {
        fprintf(stderr,
                "%s: the CSV %s is complete and kept; its charts were not drawn (any in %s are an earlier "
                "run's)\n",
                g_cmd, printable(o->csv), printable(o->plot_dir));
        return plot_rc;
    }
    if (o->plot_dir && !o->quiet) printf("charts in %s\n", printable(o->plot_dir));
    if (!same) return runtime_error("results depend on the thread count or the repeat (see above)");
    return EXIT_OK;
}

/* The repeats every combination completed (each one's first repeats_done,
 * moved to the front of s->runs: runs[c * kept + r]) reported as a sweep
 * of that many, once `why` ("interrupted by SIGINT during", "the run
 * failed in") ended the next; status: the exit status after the report.
 * A sweep reports whole repeats, so that every combination's rows stand
 * on the same number of runs. */
static int report_completed(struct sweep *s, const mfr_dataset *ds, const mfr_split *sp, int64_t n_configs,
                            const char *why, int status)
{
    struct sweep_opts *o = (struct sweep_opts *)s->o; /* cmd_sweep's own */
    const int64_t R = o->repeat, kept = s->repeats_done, partial = s->runs_done - kept * n_configs;
    fprintf(stderr,
            "%s: %s repeat %lld of %lld (%lld of the %lld combinations had run it: left out); reporting the "
            "%lld completed repeat%s of every combination\n",
            g_cmd, why, (long long)kept + 1, (long long)R, (long long)partial, (long long)n_configs,
            (long long)kept, PL(kept));
    for (int64_t c = 0; c < n_configs; c++)
        memmove(&s->runs[c * kept], &s->runs[c * R], (size_t)kept * sizeof *s->runs);
    o->repeat = kept;
    const int rc = report_sweep(s, ds, sp, n_configs);
    return rc == EXIT_OK ? status : rc;
}

/* After a stop signal: the completed repeats; nothing without one. */
static int report_interrupted(struct sweep *s, const mfr_dataset *ds, const mfr_split *sp,
                              int64_t n_configs)
{
    if (s->repeats_done == 0) {
        fprintf(stderr,
                "%s: interrupted by %s during the first repeat, which %lld of the %lld combinations had "
                "run; nothing written (a sweep reports whole repeats of every combination)\n",
                g_cmd, stop_signal_name(), (long long)s->runs_done, (long long)n_configs);
        return EXIT_INTERRUPTED;
    }
    char why[64];
    snprintf(why, sizeof why, "interrupted by %s during", stop_signal_name());
    return report_completed(s, ds, sp, n_configs, why, EXIT_INTERRUPTED);
}

/* After a failed run (its error printed): the repeats every combination
 * completed before it are reported, as after a stop signal, and the sweep
 * still fails. A run killed in a late repeat (the kernel's OOM killer,
 * made to act by another job) threw away hours of complete repeats. A
 * failure of the first repeat (a configuration that cannot run: every
 * repeat of it would fail) leaves nothing to report. */
static int report_failed(struct sweep *s, const mfr_dataset *ds, const mfr_split *sp, int64_t n_configs)
{
    return s->repeats_done == 0 ? EXIT_RUNTIME
                                : report_completed(s, ds, sp, n_configs, "the run failed in", EXIT_RUNTIME);
}

int cmd_sweep(int argc, char **argv)
{
    struct sweep_opts o = {.split = "sklearn:300", .epochs = 20, .warmup = 1, .repeat = 3,
                           .kind = "mf"};
    mfr_config_default(&o.train);
    o.threads = (struct int_list){1, {1}};
    o.dims = (struct int_list){1, {o.train.k}};
    o.reduce = (struct int_list){1, {MFR_REDUCE_OWNER}};
    o.kernels = (struct int_list){1, {MFR_KERNELS_AUTO}};
    o.shards = (struct int_list){1, {0}};
    int rc;
    if (!parse_sweep_flags(argc, argv, &o, &rc)) return rc;

    struct sweep s = {.o = &o, .n_threads = o.threads.n};
    s.cores = cli_usable_cpus();
    const int32_t most = n_counts(&o.threads) ? o.threads.v[n_counts(&o.threads) - 1] : 0;
    if (most > s.cores)
        fprintf(stderr, "%s: note: --threads %d is more than the %ld CPU%s this process may run on "
                        "(taskset, cgroup): such runs share CPUs\n",
                g_cmd, most, s.cores, PL(s.cores));
    s.n_points = o.dims.n * o.reduce.n * o.kernels.n * o.shards.n;
    int64_t n_configs = (int64_t)s.n_points * s.n_threads;
    s.points = calloc((size_t)s.n_points, sizeof *s.points);
    s.runs = calloc((size_t)(n_configs * o.repeat), sizeof *s.runs);
    s.agg = calloc((size_t)n_configs, sizeof *s.agg);
    mfr_dataset *ds = NULL;
    mfr_split *sp = NULL;
    if (!s.points || !s.runs || !s.agg) {
        rc = runtime_error("out of memory");
        goto done;
    }
    make_points(&s);
    double t_load = now_seconds();
    if ((rc = sweep_load(&o, &ds, &sp)) != EXIT_OK) goto done;
    s.load_s = now_seconds() - t_load;
    s.n_train = mfr_ratings_count(mfr_split_train(sp));
    s.dataset_name = base_name(mfr_dataset_dir(ds));
    /* from here the first SIGINT/SIGTERM reports what is complete; during
     * the load (minutes for ML-32M) there is nothing to report, and the
     * signal ends the command at once, as in the other commands */
    stop_signals_install();
    if (!o.quiet && (rc = print_sweep_header(&s, ds, sp, n_configs)) != EXIT_OK) goto done;
    if ((rc = run_all(&s, ds, sp)) == EXIT_OK) {
        rc = report_sweep(&s, ds, sp, n_configs);
        if (rc == EXIT_OK && g_stop_signal) /* as train's: an exit 0 with the signal unexplained is puzzling */
            fprintf(stderr, "%s: note: %s came after the last run; the sweep finished and its outputs are "
                            "complete\n",
                    g_cmd, stop_signal_name());
    } else if (rc == EXIT_INTERRUPTED) {
        rc = report_interrupted(&s, ds, sp, n_configs);
    } else if (s.run_failed) {
        rc = report_failed(&s, ds, sp, n_configs);
    }
done:
    mfr_split_destroy(sp);
    mfr_dataset_destroy(ds);
    free(s.points);
    free(s.runs);
    free(s.agg);
    return rc;
}
