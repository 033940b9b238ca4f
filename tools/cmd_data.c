/*
 * cmd_data.c — `mfrec split` and `mfrec synth`: commands that write rating
 * files (`mfrec eval` lives in cmd_eval.c).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* ------------------------------------------------------------------ */
/* mfrec split                                                          */
/* ------------------------------------------------------------------ */

static const char split_help[] =
    "Usage: mfrec split [--data DIR] [--split SPEC] [--seed S] --out DIR\n"
    "\n"
    "Writes the two parts of a split as rating files in u.data format:\n"
    "OUT/train.data and OUT/test.data (raw ids; each rating's timestamp as\n"
    "read, 0 for a rating whose line had none: a dataset keeps no difference\n"
    "between the two), so other tools can be run on exactly the same split.\n"
    "\n";

static const char split_help_end[] =
    "\n"
    "Exit status: 0 ok, 1 runtime error, 2 usage error.\n";

int cmd_split(int argc, char **argv)
{
    const char *data = NULL, *spec = "sklearn:300", *out = NULL;
    uint64_t seed = 300;
    const struct flag_spec flags[] = {
        {.name = "--data", .value = "DIR", .kind = FLAG_STR, .dst = &data,
         .help = "dataset directory (default: $MFREC_DATA, else data/ml-100k)"},
        {.name = "--split", .value = "SPEC", .kind = FLAG_STR, .dst = &spec,
         .help = "as for `mfrec train`, but not none (default sklearn:300)"},
        {.name = "--seed", .value = "S", .kind = FLAG_U64, .dst = &seed,
         .help = "seed of a random: split (default 300)"},
        {.name = "--out", .value = "DIR", .kind = FLAG_STR, .dst = &out,
         .help = "where train.data and test.data are written (required)"},
    };
    struct command_spec cmd = {.name = "mfrec split", .help = split_help,
                               .help_end = split_help_end, .help_width = 13,
                               .flags = flags, .n_flags = sizeof flags / sizeof *flags,
                               .data_flags = true, .threads_flag = true};
    int rc;
    if (!cli_start(&cmd, argc, argv, &rc)) return rc;
    if (!out) return usage_error("--out is required");
    if (!strcmp(spec, "none"))
        return usage_error("--split none has no test part: nothing to split (train with --split none "
                           "on the rating file itself)");
    if (cli_flag_given("--seed") && strncmp(spec, "random:", 7) != 0)
        return usage_error("--seed applies to random: splits only (--split %s has its own order)", spec);
    if ((rc = io_input_data(default_data_dir(data))) != EXIT_OK) return rc;
    if ((rc = io_output_dir("--out", out)) != EXIT_OK) return rc;
    mfr_error err = {0};
    mfr_dataset *ds = NULL;
    mfr_split *sp = NULL;
    struct stage st = {0};
    char *ptrain = NULL, *ptest = NULL;
    if (load_dataset(default_data_dir(data), &ds, &err) != MFR_OK) {
        rc = lib_error(&err);
        goto done;
    }
    if (mfr_split_create(ds, spec, seed, &sp, &err) != MFR_OK) {
        rc = err.status == MFR_ERR_INVALID ? usage_error("--split: %s", err.message) : lib_error(&err);
        goto done;
    }
    /* both parts appear together or not at all (never a new test.data
     * beside an old train.data) */
    if ((rc = stage_open(&st, "--out", out)) != EXIT_OK) goto done;
    size_t plen = strlen(st.dir) + 16;
    ptrain = malloc(plen);
    ptest = malloc(plen);
    if (!ptrain || !ptest) {
        rc = runtime_error("out of memory");
    } else {
        snprintf(ptrain, plen, "%s/train.data", st.dir);
        snprintf(ptest, plen, "%s/test.data", st.dir);
        if (mfr_ratings_write(mfr_split_train(sp), ds, ptrain, &err) != MFR_OK ||
            mfr_ratings_write(mfr_split_test(sp), ds, ptest, &err) != MFR_OK)
            rc = lib_error(&err);
    }
    struct json_log report = {0};
    const long long n_train = mfr_ratings_count(mfr_split_train(sp)), n_test = mfr_ratings_count(mfr_split_test(sp));
    if (rc == EXIT_OK)
        jlog_printf(&report, "split %s: %lld train rating%s -> %s/train.data, %lld test rating%s -> %s/test.data\n",
                    printable(mfr_split_spec(sp)), n_train, n_train == 1 ? "" : "s", printable(out), n_test,
                    n_test == 1 ? "" : "s", printable(out));
    if (rc == EXIT_OK) rc = jlog_check(&report, "this run's report");
    rc = stage_commit(&st, rc, report.buf);
    free(report.buf);
done:
    free(ptrain);
    free(ptest);
    mfr_split_destroy(sp);
    mfr_dataset_destroy(ds);
    return rc;
}

/* ------------------------------------------------------------------ */
/* mfrec synth                                                          */
/* ------------------------------------------------------------------ */

static const char synth_help[] =
    "Usage: mfrec synth --out DIR [--users N] [--items M] [--ratings R] [--rank K]\n"
    "                   [--noise SIGMA] [--seed S] [--item-zipf A] [--user-zipf B]\n"
    "\n"
    "Writes a synthetic dataset in the ML-100K layout (u.data, u.item, u.user,\n"
    "u.genre, u.occupation): planted rank-K ratings 1..5 with Gaussian noise,\n"
    "Zipf-like item popularity and user activity. The same options always give\n"
    "the same files. DIR is new, or holds no dataset but an earlier synth\n"
    "output: a dataset synth did not write (no planted.txt of synth, or other\n"
    "datasets' files such as u1.base or ratings.csv) is never replaced nor\n"
    "added to, nor is a planted.txt synth did not write; other files there\n"
    "are left as they are.\n"
    "\n"
    "Before anything is allocated or written, the memory it needs is compared\n"
    "with --max-memory and an upper bound of the bytes it writes with --max-disk\n"
    "and the free space of DIR's filesystem; every user and every item needs a\n"
    "rating (--users and --items at most --ratings). Every refusal that applies\n"
    "is said, not only the first.\n"
    "\n";

static const char synth_help_end[] =
    "\n"
    "Exit status: 0 ok, 1 runtime error (a refused directory, too little memory\n"
    "or disk, I/O), 2 usage error (also beside refusals of status 1).\n";

/* The bytes free to an unprivileged writer on the filesystem of dir, or
 * of its parent when dir does not exist yet; false when unknown. */
static bool free_bytes(const char *dir, uint64_t *out)
{
    struct statvfs fs;
    int rc = statvfs(dir, &fs);
    if (rc != 0) {
        const char *slash = strrchr(dir, '/');
        char *parent = slash ? strndup(dir, slash == dir ? 1 : (size_t)(slash - dir)) : strdup(".");
        rc = parent ? statvfs(parent, &fs) : -1;
        free(parent);
    }
    if (rc != 0) return false;
    double b = (double)fs.f_bavail * (double)fs.f_frsize;
    *out = b >= 0x1p64 ? UINT64_MAX : (uint64_t)b;
    return true;
}

/* Two sizes for "needs A, more than B": in bytes when rounding would
 * print them alike ("1.0 MiB, more than 1.0 MiB"). */
static void two_sizes(uint64_t need, uint64_t limit, char a[32], char b[32])
{
    size_text(need, a);
    size_text(limit, b);
    if (!strcmp(a, b)) {
        snprintf(a, 32, "%llu bytes", (unsigned long long)need);
        snprintf(b, 32, "%llu bytes", (unsigned long long)limit);
    }
}

/* The status of two refusals together: a usage error, when either is one
 * (the command line is wrong whatever the disk holds), else the other
 * failure, else EXIT_OK. */
static int refusals(int rc, int next) { return rc == EXIT_USAGE || next == EXIT_OK ? rc : next; }

/* synth's counts: users or items without a rating, or more ratings than
 * (user, item) pairs. EXIT_OK, or a usage error that names every count
 * at fault. */
static int synth_counts(const mfr_synth_options *o)
{
    const bool users = o->n_users > o->n_ratings, items = o->n_items > o->n_ratings;
    if (users && items)
        return usage_error("--users %d and --items %d are more than --ratings %lld: every user and every "
                           "item needs a rating",
                           (int)o->n_users, (int)o->n_items, (long long)o->n_ratings);
    if (users || items)
        return usage_error("--%s %lld is more than --ratings %lld: every %s needs a rating",
                           users ? "users" : "items", (long long)(users ? o->n_users : o->n_items),
                           (long long)o->n_ratings, users ? "user" : "item");
    int64_t pairs = (int64_t)o->n_users * (int64_t)o->n_items; /* int32 x int32 fits */
    if (o->n_ratings > pairs)
        return usage_error("--ratings %lld is more than the %lld (user, item) pairs of --users "
                           "%d and --items %d",
                           (long long)o->n_ratings, (long long)pairs, (int)o->n_users,
                           (int)o->n_items);
    return EXIT_OK;
}

/* synth's sizes, before anything is allocated or written: the memory
 * against --max-memory, else the physical memory (the library's own check
 * of it comes only once the output directory is made),
 * and the bytes written against --max-disk and the free space of out's
 * filesystem (out NULL: not checked). Every budget exceeded is said, not
 * only the first. EXIT_OK, or the refusals' status. */
static int synth_sizes(const mfr_synth_options *o, uint64_t max_disk, const char *out)
{
    mfr_error err = {0};
    uint64_t memory, disk, avail;
    char a[32], b[32];
    if (mfr_synth_estimate(o, &memory, &disk, &err) != MFR_OK) return usage_error("%s", err.message);
    int rc = EXIT_OK;
    const uint64_t budget = memory_budget(o->max_memory); /* the physical memory by default */
    if (budget && memory > budget) {
        two_sizes(memory, budget, a, b);
        rc = runtime_error("synthetic data of %d user%s and %d item%s needs %s of memory, more "
                           "than %s%s%s",
                           (int)o->n_users, PL(o->n_users), (int)o->n_items, PL(o->n_items), a,
                           o->max_memory ? "--max-memory " : "the ", b,
                           o->max_memory ? "" : " of physical memory (--max-memory sets another budget)");
    }
    if (max_disk && disk > max_disk) {
        two_sizes(disk, max_disk, a, b);
        rc = runtime_error("synthetic data of %lld rating%s needs up to %s on disk, more than "
                           "--max-disk %s",
                           (long long)o->n_ratings, PL(o->n_ratings), a, b);
    }
    if (out && free_bytes(out, &avail) && disk > avail) {
        two_sizes(disk, avail, a, b);
        rc = runtime_error("synthetic data of %lld rating%s needs up to %s on disk, more than "
                           "the %s free on the filesystem of %s (--ratings, --users and --items "
                           "set the size)",
                           (long long)o->n_ratings, PL(o->n_ratings), a, b, out);
    }
    return rc;
}

/* The directory synth may write into (mfr_synth_check_dir): new, without a
 * dataset, or one that synth wrote. It never replaces a real dataset's
 * u.data, nor leaves another dataset's files beside new ones. */
static int synth_target_check(const char *out)
{
    mfr_error err = {0};
    if (mfr_synth_check_dir(out, &err) == MFR_OK) return EXIT_OK;
    return err.status == MFR_ERR_IO ? runtime_error("--out %s", err.message) : lib_error(&err);
}

int cmd_synth(int argc, char **argv)
{
    mfr_synth_options o;
    mfr_synth_options_default(&o);
    const char *out = NULL;
    uint64_t max_disk = 0;
    const struct flag_spec flags[] = {
        {.name = "--out", .value = "DIR", .kind = FLAG_STR, .dst = &out,
         .help = "output directory (required)"},
        {.name = "--users", .value = "N", .kind = FLAG_I32, .dst = &o.n_users, .lo = 1,
         .hi = INT32_MAX, .help = "users (default 943)"},
        {.name = "--items", .value = "M", .kind = FLAG_I32, .dst = &o.n_items, .lo = 1,
         .hi = INT32_MAX, .help = "items (default 1682)"},
        {.name = "--ratings", .value = "R", .kind = FLAG_I64, .dst = &o.n_ratings, .lo = 1,
         .hi = INT64_MAX, .help = "ratings (default 100000)"},
        {.name = "--rank", .value = "K", .kind = FLAG_I32, .dst = &o.rank, .lo = 1, .hi = 1024,
         .help = "rank of the planted factors (default 8)"},
        {.name = "--noise", .value = "SIGMA", .kind = FLAG_FLOAT, .dst = &o.noise, .min = 0,
         .max = 100, .help = "std of the Gaussian noise (default 0.5)"},
        {.name = "--seed", .value = "S", .kind = FLAG_U64, .dst = &o.seed,
         .help = "random seed (default 1)"},
        {.name = "--item-zipf", .value = "A", .kind = FLAG_DOUBLE, .dst = &o.item_zipf,
         .min = 0, .max = 5, .help = "Zipf exponent of item popularity (default 1.0)"},
        {.name = "--user-zipf", .value = "B", .kind = FLAG_DOUBLE, .dst = &o.user_zipf,
         .min = 0, .max = 5, .help = "Zipf exponent of user activity (default 0.8)"},
        {.name = "--max-memory", .value = "SIZE", .kind = FLAG_CUSTOM, .dst = &o.max_memory,
         .parse = parse_size_flag,
         .help = "memory the generator may use, such as 512M (default: the\n"
                 "physical memory)"},
        {.name = "--max-disk", .value = "SIZE", .kind = FLAG_CUSTOM, .dst = &max_disk,
         .parse = parse_size_flag,
         .help = "bytes the files may take, such as 2G (default: the free\n"
                 "space of DIR's filesystem, always a limit too)"},
    };
    struct command_spec cmd = {.name = "mfrec synth", .help = synth_help,
                               .help_end = synth_help_end, .help_width = 15,
                               .flags = flags, .n_flags = sizeof flags / sizeof *flags};
    int rc;
    if (!cli_start(&cmd, argc, argv, &rc)) return rc;
    /* Every refusal that applies is said in one run, not one a run (a user
     * who fixed one was then told of the next): --out, the counts, then the
     * sizes of a dataset that can be made (no more ratings than pairs), the
     * free space of --out's filesystem once its path passed io_output_dir. */
    int refused = out ? io_output_dir("--out", out) : usage_error("--out is required");
    const bool out_ok = out && refused == EXIT_OK;
    if (out_ok) refused = synth_target_check(out);
    refused = refusals(refused, synth_counts(&o));
    if (o.n_ratings <= (int64_t)o.n_users * (int64_t)o.n_items)
        refused = refusals(refused, synth_sizes(&o, max_disk, out_ok ? out : NULL));
    if (refused != EXIT_OK) return refused;
    mfr_error err = {0};
    double t0 = now_seconds();
    /* the files appear together or not at all: never new u.item and u.user
     * beside an old u.data */
    struct stage st;
    if ((rc = stage_open(&st, "--out", out)) != EXIT_OK) return rc;
    if (mfr_synth_write(&o, st.dir, &err) != MFR_OK) {
        if (err.status == MFR_ERR_INVALID) rc = usage_error("%s", err.message);
        else if (err.status == MFR_ERR_TOO_LARGE) /* the physical memory, or an overflow */
            rc = runtime_error("%s (--max-memory sets the budget)", err.message);
        else rc = lib_error(&err);
    }
    struct json_log report = {0};
    if (rc == EXIT_OK)
        jlog_printf(&report, "wrote %lld rating%s (%d user%s x %d item%s, rank %d, noise %g, seed %llu) to %s in %.2f s\n",
                    (long long)o.n_ratings, PL(o.n_ratings), o.n_users, PL(o.n_users), o.n_items, PL(o.n_items), o.rank, (double)o.noise,
                    (unsigned long long)o.seed, printable(out), now_seconds() - t0);
    if (rc == EXIT_OK) rc = jlog_check(&report, "this run's report");
    rc = stage_commit(&st, rc, report.buf);
    free(report.buf);
    return rc;
}
