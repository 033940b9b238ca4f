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
    "OUT/train.data and OUT/test.data (raw ids, original timestamps), so other\n"
    "tools can be run on exactly the same split. SPEC as for `mfrec train`\n"
    "(default sklearn:300).\n";

int cmd_split(int argc, char **argv)
{
    g_cmd = "mfrec split";
    if (want_help(argc, argv)) {
        print_data_command_help(split_help);
        return EXIT_OK;
    }
    const char *data = NULL, *spec = "sklearn:300", *out = NULL;
    uint64_t seed = 300;
    struct args a = {.argc = argc, .argv = argv, .pos = 0};
    int flag_error = 0;
    while (next_data_flag(&a, &flag_error)) {
        const char *v;
        if (flag_is(&a, "--data")) { if (!(v = flag_value(&a))) return EXIT_USAGE; data = v; }
        else if (flag_is(&a, "--split")) { if (!(v = flag_value(&a))) return EXIT_USAGE; spec = v; }
        else if (flag_is(&a, "--out")) { if (!(v = flag_value(&a))) return EXIT_USAGE; out = v; }
        else if (flag_is(&a, "--seed")) { if (!(v = flag_value(&a)) || !parse_u64(a.flag, v, &seed)) return EXIT_USAGE; }
        else if (a.flag[0] == '-') return usage_error("unknown option %s", a.flag);
        else return usage_error("unexpected argument '%s'", a.flag);
    }
    if (flag_error) return EXIT_USAGE;
    if (!out) return usage_error("--out is required");
    mfr_error err = {0};
    mfr_dataset *ds = NULL;
    mfr_split *sp = NULL;
    char *ptrain = NULL, *ptest = NULL;
    int rc = EXIT_OK;
    if (load_dataset(default_data_dir(data), &ds, &err) != MFR_OK) {
        rc = lib_error(&err);
        goto done;
    }
    if (mfr_split_create(ds, spec, seed, &sp, &err) != MFR_OK) {
        rc = err.status == MFR_ERR_INVALID ? usage_error("--split: %s", err.message) : lib_error(&err);
        goto done;
    }
    if ((rc = ensure_dir(out)) != EXIT_OK) goto done;
    ptrain = malloc(strlen(out) + 16);
    ptest = malloc(strlen(out) + 16);
    if (!ptrain || !ptest) { rc = runtime_error("out of memory"); goto done; }
    sprintf(ptrain, "%s/train.data", out);
    sprintf(ptest, "%s/test.data", out);
    if (mfr_ratings_write(mfr_split_train(sp), ds, ptrain, &err) != MFR_OK ||
        mfr_ratings_write(mfr_split_test(sp), ds, ptest, &err) != MFR_OK) {
        rc = lib_error(&err);
        unlink(ptrain);
        goto done;
    }
    printf("split %s: %lld train ratings -> %s, %lld test ratings -> %s\n", mfr_split_spec(sp),
           (long long)mfr_ratings_count(mfr_split_train(sp)), ptrain,
           (long long)mfr_ratings_count(mfr_split_test(sp)), ptest);
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
    "Zipf-like item popularity and user activity. Defaults: 943 users, 1682\n"
    "items, 100000 ratings, rank 8, noise 0.5, seed 1, item-zipf 1.0,\n"
    "user-zipf 0.8. The same options always give the same files.\n";

int cmd_synth(int argc, char **argv)
{
    g_cmd = "mfrec synth";
    if (want_help(argc, argv)) {
        fputs(synth_help, stdout);
        return EXIT_OK;
    }
    mfr_synth_options o;
    mfr_synth_options_default(&o);
    const char *out = NULL;
    struct args a = {.argc = argc, .argv = argv, .pos = 0};
    while (next_flag(&a)) {
        const char *v;
        if (a.flag[0] != '-') return usage_error("unexpected argument '%s'", a.flag);
        if (!(flag_is(&a, "--out") || flag_is(&a, "--users") || flag_is(&a, "--items") ||
              flag_is(&a, "--ratings") || flag_is(&a, "--rank") || flag_is(&a, "--noise") ||
              flag_is(&a, "--seed") || flag_is(&a, "--item-zipf") || flag_is(&a, "--user-zipf")))
            return usage_error("unknown option %s", a.flag);
        if (!(v = flag_value(&a))) return EXIT_USAGE;
        bool ok = true;
        if (flag_is(&a, "--out")) out = v;
        else if (flag_is(&a, "--users")) ok = parse_i32(a.flag, v, 1, INT32_MAX, &o.n_users);
        else if (flag_is(&a, "--items")) ok = parse_i32(a.flag, v, 1, INT32_MAX, &o.n_items);
        else if (flag_is(&a, "--ratings")) ok = parse_i64(a.flag, v, 1, INT64_MAX, &o.n_ratings);
        else if (flag_is(&a, "--rank")) ok = parse_i32(a.flag, v, 1, 1024, &o.rank);
        else if (flag_is(&a, "--noise")) ok = parse_float(a.flag, v, 0, 100, &o.noise);
        else if (flag_is(&a, "--seed")) ok = parse_u64(a.flag, v, &o.seed);
        else if (flag_is(&a, "--item-zipf")) ok = parse_double(a.flag, v, 0, 5, &o.item_zipf);
        else ok = parse_double(a.flag, v, 0, 5, &o.user_zipf);
        if (!ok) return EXIT_USAGE;
    }
    if (!out) return usage_error("--out is required");
    mfr_error err = {0};
    double t0 = now_seconds();
    if (mfr_synth_write(&o, out, &err) != MFR_OK) {
        if (err.status == MFR_ERR_INVALID) return usage_error("%s", err.message);
        return lib_error(&err);
    }
    printf("wrote %lld ratings (%d users x %d items, rank %d, noise %g, seed %llu) to %s in %.2f s\n",
           (long long)o.n_ratings, o.n_users, o.n_items, o.rank, (double)o.noise,
           (unsigned long long)o.seed, out, now_seconds() - t0);
    return EXIT_OK;
}
