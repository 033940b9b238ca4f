/*
 * cmd_eval.c — `mfrec eval`: how good a model is on held-out ratings.
 * Rating error (MSE, RMSE, MAE) and top-k ranking quality (precision@k,
 * recall@k, NDCG@k, coverage) beside a most-popular baseline, for one
 * trained model, or for the five canonical ML-100K folds (u1..u5), each
 * trained here with the library, reported as mean ± sample std.
 * The metric definitions live with mfr_model_ranking in include/mfrec.h.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char eval_help[] =
    "Usage: mfrec eval --model MODEL [--data DIR] --test FILE [-k N] [--train FILE] [--json]\n"
    "       mfrec eval --folds [--data DIR] [-k N] [--preset NAME] [training flags] [--json]\n"
    "\n"
    "Prints MSE, RMSE and MAE of a trained model on a rating file in u.data\n"
    "format, then ranking metrics at k for the model and for a most-popular\n"
    "baseline (items ranked by their number of training ratings):\n"
    "  precision@k  hits / k\n"
    "  recall@k     hits / number of relevant items (not min(k, relevant))\n"
    "  NDCG@k       binary gains, log2 discount, ideal DCG over min(k, relevant)\n"
    "  coverage     distinct items in the evaluated users' top-k / all items\n"
    "A test rating >= 4 is relevant. A user's training items are never\n"
    "recommended (and do not count as relevant); every other item is scored.\n"
    "Users without a relevant test item are skipped; the number of users\n"
    "evaluated is printed. Equal scores rank the lower item index first.\n"
    "\n"
    "One model:\n"
    "  --model MODEL   a model written by `mfrec train --out`\n"
    "  --data DIR      dataset (default: the directory recorded in the model);\n"
    "                  it must be the one the model was trained on\n"
    "  --test FILE     held-out ratings; looked up as given, then in DIR\n"
    "  --train FILE    training ratings to exclude and to count popularity\n"
    "                  (default: the model's recorded split, recreated)\n"
    "Five folds:\n"
    "  --folds         train on uN.base and evaluate on uN.test for N = 1..5\n"
    "  --data DIR      dataset with u1.base .. u5.test (default: $MFREC_DATA,\n"
    "                  else data/ml-100k)\n"
    "  --preset NAME, --dim, --epochs, --lr, --beta1, --beta2, --eps, --init-std,\n"
    "  --seed, --threads, --shards, --l2, --l2-freq, --l2-bias, --implicit,\n"
    "  --gravity, --bias,\n"
    "  --optimizer, --reduce, --kernels, --max-memory   as for `mfrec train`\n"
    "Both:\n"
    "  -k N            list length (default 10)\n"
    "  --json          one JSON object on stdout instead of the tables\n"
    "\n"
    "Exit status: 0 ok, 1 runtime error, 2 usage error.\n";

#define N_FOLDS 5

struct eval_opts {
    const char *model_path, *data, *test_path, *train_path;
    int32_t k;
    bool json, folds;
    struct train_opts train; /* --folds only */
    const char *train_flag; /* first training flag seen, for the usage error */
};

/* ------------------------------------------------------------------ */
/* Output helpers                                                       */
/* ------------------------------------------------------------------ */

/* Writes s as a JSON string literal. */
static void json_str(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if (*p < 0x20) printf("\\u%04x", *p);
        else putchar(*p);
    }
    putchar('"');
}

/* A JSON number, or null when it is not finite (metrics of no users). */
static void json_num(double x)
{
    if (isfinite(x)) printf("%.17g", x);
    else fputs("null", stdout);
}

static void json_ranking(const mfr_ranking *r)
{
    printf("{\"users\":%lld,\"precision\":", (long long)r->users);
    json_num(r->precision);
    fputs(",\"recall\":", stdout);
    json_num(r->recall);
    fputs(",\"ndcg\":", stdout);
    json_num(r->ndcg);
    fputs(",\"coverage\":", stdout);
    json_num(r->coverage);
    putchar('}');
}

/* "0.1234" or "n/a" into buf. */
static const char *fmt_metric(char *buf, size_t size, double x)
{
    if (isfinite(x)) snprintf(buf, size, "%.4f", x);
    else snprintf(buf, size, "n/a");
    return buf;
}

/* The table: metric | model | popularity. */
static void print_ranking_table(const mfr_ranking *rm, const mfr_ranking *rp)
{
    char name[32], a[32], b[32];
    int k = (int)rm->k;
    printf("ranking at k=%d (relevant: test rating >= %g; training items excluded)\n", k,
           (double)MFR_RANKING_RELEVANT);
    printf("%-16s %10s %12s\n", "metric", "model", "popularity");
    snprintf(name, sizeof name, "precision@%d", k);
    printf("%-16s %10s %12s\n", name, fmt_metric(a, sizeof a, rm->precision),
           fmt_metric(b, sizeof b, rp->precision));
    snprintf(name, sizeof name, "recall@%d", k);
    printf("%-16s %10s %12s\n", name, fmt_metric(a, sizeof a, rm->recall),
           fmt_metric(b, sizeof b, rp->recall));
    snprintf(name, sizeof name, "NDCG@%d", k);
    printf("%-16s %10s %12s\n", name, fmt_metric(a, sizeof a, rm->ndcg),
           fmt_metric(b, sizeof b, rp->ndcg));
    printf("%-16s %10s %12s\n", "coverage", fmt_metric(a, sizeof a, rm->coverage),
           fmt_metric(b, sizeof b, rp->coverage));
    printf("%-16s %10lld %12lld\n", "users evaluated", (long long)rm->users, (long long)rp->users);
}

/* path as given when it exists or is absolute, else dir/path when that
 * exists, else as given (the reader then names it in its error). The
 * result is malloc'd; NULL when out of memory. */
static char *resolve_path(const char *dir, const char *path)
{
    if (access(path, F_OK) == 0 || path[0] == '/') return strdup(path);
    size_t n = strlen(dir) + strlen(path) + 2;
    char *joined = malloc(n);
    if (!joined) return NULL;
    snprintf(joined, n, "%s/%s", dir, path);
    if (access(joined, F_OK) == 0) return joined;
    free(joined);
    return strdup(path);
}

/* ------------------------------------------------------------------ */
/* One model                                                            */
/* ------------------------------------------------------------------ */

static int eval_model(const struct eval_opts *o)
{
    mfr_error err = {0};
    mfr_model *m = NULL;
    mfr_dataset *ds = NULL;
    mfr_ratings *test = NULL, *train_file = NULL;
    mfr_split *sp = NULL;
    char *test_path = NULL, *train_path = NULL;
    int rc = EXIT_OK;
    const char *dir = NULL;
    if ((rc = load_model_and_data(o->model_path, o->data, &m, &ds, &dir)) != EXIT_OK) goto done;
    test_path = resolve_path(dir, o->test_path);
    if (!test_path) {
        rc = runtime_error("out of memory");
        goto done;
    }
    mfr_metrics mt;
    if (mfr_dataset_read_ratings(ds, test_path, &test, &err) != MFR_OK ||
        mfr_model_evaluate(m, test, &mt, &err) != MFR_OK) {
        rc = lib_error(&err);
        goto done;
    }

    /* The training ratings: excluded from the candidates, counted for
     * popularity. */
    const mfr_ratings *train;
    char train_desc[512];
    if (o->train_path) {
        train_path = resolve_path(dir, o->train_path);
        if (!train_path) {
            rc = runtime_error("out of memory");
            goto done;
        }
        if (mfr_dataset_read_ratings(ds, train_path, &train_file, &err) != MFR_OK) {
            rc = runtime_error("--train: %s", err.message);
            goto done;
        }
        train = train_file;
        snprintf(train_desc, sizeof train_desc, "%s", train_path);
    } else {
        const char *spec = mfr_model_split_spec(m);
        if (!*spec) {
            rc = usage_error("model %s records no split; pass its training ratings with --train FILE",
                             o->model_path);
            goto done;
        }
        mfr_config cfg;
        mfr_model_config(m, &cfg);
        if (mfr_split_create(ds, spec, cfg.seed, &sp, &err) != MFR_OK) {
            rc = runtime_error("recreating the model's split %s: %s", spec, err.message);
            goto done;
        }
        train = mfr_split_train(sp);
        snprintf(train_desc, sizeof train_desc, "split %s", mfr_split_spec(sp));
    }
    mfr_ranking rm, rp;
    if (mfr_model_ranking(m, train, test, o->k, &rm, &rp, &err) != MFR_OK) {
        rc = lib_error(&err);
        goto done;
    }

    if (o->json) {
        fputs("{\"model\":", stdout);
        json_str(o->model_path);
        fputs(",\"test\":", stdout);
        json_str(test_path);
        fputs(",\"train\":", stdout);
        json_str(train_desc);
        printf(",\"train_ratings\":%lld,\"test_ratings\":%lld,\"mse\":",
               (long long)mfr_ratings_count(train), (long long)mt.n);
        json_num(mt.mse);
        fputs(",\"rmse\":", stdout);
        json_num(mt.rmse);
        fputs(",\"mae\":", stdout);
        json_num(mt.mae);
        printf(",\"k\":%d,\"ranking\":{\"model\":", (int)o->k);
        json_ranking(&rm);
        fputs(",\"popularity\":", stdout);
        json_ranking(&rp);
        fputs("}}\n", stdout);
        goto done;
    }
    printf("model %s (k %d, %lld epochs, split %s)\n", o->model_path, mfr_model_k(m),
           (long long)mfr_model_epochs(m), mfr_model_split_spec(m));
    printf("test %s: %lld ratings\n", test_path, (long long)mt.n);
    printf("MSE %.6f\nRMSE %.6f\nMAE %.6f\n", mt.mse, mt.rmse, mt.mae);
    printf("train (excluded, popularity): %s, %lld ratings\n", train_desc,
           (long long)mfr_ratings_count(train));
    print_ranking_table(&rm, &rp);
done:
    free(test_path);
    free(train_path);
    mfr_split_destroy(sp);
    mfr_ratings_destroy(train_file);
    mfr_ratings_destroy(test);
    mfr_dataset_destroy(ds);
    mfr_model_destroy(m);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Five folds                                                           */
/* ------------------------------------------------------------------ */

struct fold_result {
    mfr_metrics mt;
    mfr_ranking rm, rp;
    int64_t n_train;
    double seconds;
};

/* Trains on fold `spec`'s base part with o->cfg for o->train.epochs epochs and
 * evaluates on its test part. */
static int run_fold(const struct eval_opts *o, const mfr_dataset *ds, const char *spec,
                    struct fold_result *fr, int32_t *n_threads)
{
    mfr_error err = {0};
    mfr_split *sp = NULL;
    mfr_trainer *tr = NULL;
    int rc = EXIT_OK;
    double t0 = now_seconds();
    if (mfr_split_create(ds, spec, o->train.cfg.seed, &sp, &err) != MFR_OK ||
        mfr_trainer_create(&o->train.cfg, ds, mfr_split_train(sp), mfr_split_spec(sp), &tr, &err) !=
            MFR_OK) {
        rc = runtime_error("fold %s: %s", spec, err.message);
        goto done;
    }
    *n_threads = mfr_trainer_n_threads(tr);
    for (int64_t e = 0; e < o->train.epochs; e++) {
        if (mfr_trainer_step(tr, NULL) != MFR_OK) {
            rc = runtime_error("fold %s, epoch %lld: %s", spec, (long long)e + 1,
                               mfr_trainer_errmsg(tr));
            goto done;
        }
    }
    const mfr_model *m = mfr_trainer_model(tr);
    if (mfr_model_evaluate(m, mfr_split_test(sp), &fr->mt, &err) != MFR_OK ||
        mfr_model_ranking(m, mfr_split_train(sp), mfr_split_test(sp), o->k, &fr->rm, &fr->rp,
                          &err) != MFR_OK) {
        rc = runtime_error("fold %s: %s", spec, err.message);
        goto done;
    }
    fr->n_train = mfr_ratings_count(mfr_split_train(sp));
    fr->seconds = now_seconds() - t0;
done:
    mfr_trainer_destroy(tr);
    mfr_split_destroy(sp);
    return rc;
}

/* Mean and sample standard deviation (n - 1) of x[0..n). */
static void mean_std(const double *x, int n, double *mean, double *std)
{
    double s = 0.0;
    for (int f = 0; f < n; f++) s += x[f];
    *mean = s / n;
    double q = 0.0;
    for (int f = 0; f < n; f++) q += (x[f] - *mean) * (x[f] - *mean);
    *std = n > 1 ? sqrt(q / (n - 1)) : 0.0;
}

/* The summarized quantities, in table order. */
enum { S_RMSE, S_MAE, S_P, S_R, S_NDCG, S_COV, S_POP_P, S_POP_R, S_POP_NDCG, S_POP_COV, S_N };

static void fold_values(const struct fold_result *fr, double *v)
{
    v[S_RMSE] = fr->mt.rmse;
    v[S_MAE] = fr->mt.mae;
    v[S_P] = fr->rm.precision;
    v[S_R] = fr->rm.recall;
    v[S_NDCG] = fr->rm.ndcg;
    v[S_COV] = fr->rm.coverage;
    v[S_POP_P] = fr->rp.precision;
    v[S_POP_R] = fr->rp.recall;
    v[S_POP_NDCG] = fr->rp.ndcg;
    v[S_POP_COV] = fr->rp.coverage;
}

/* "0.1234 ± 0.0056" (or n/a) into buf. */
static const char *fmt_mean_std(char *buf, size_t size, double mean, double std)
{
    if (isfinite(mean)) snprintf(buf, size, "%.4f ± %.4f", mean, std);
    else snprintf(buf, size, "n/a");
    return buf;
}

static void print_folds_summary(int k, const double *mean, const double *std)
{
    static const struct {
        const char *name;
        int model, pop;
        bool at_k;
    } rows[] = {
        {"RMSE", S_RMSE, -1, false},      {"MAE", S_MAE, -1, false},
        {"precision", S_P, S_POP_P, true}, {"recall", S_R, S_POP_R, true},
        {"NDCG", S_NDCG, S_POP_NDCG, true}, {"coverage", S_COV, S_POP_COV, false},
    };
    char name[32], a[64], b[64];
    printf("mean ± sample std over %d folds\n", N_FOLDS);
    printf("%-16s %18s %18s\n", "metric", "model", "popularity");
    for (size_t r = 0; r < sizeof rows / sizeof *rows; r++) {
        if (rows[r].at_k) snprintf(name, sizeof name, "%s@%d", rows[r].name, k);
        else snprintf(name, sizeof name, "%s", rows[r].name);
        int pm = rows[r].model, pp = rows[r].pop;
        /* "±" is two bytes but one column: pad by one more. */
        printf("%-16s %19s ", name, fmt_mean_std(a, sizeof a, mean[pm], std[pm]));
        if (pp < 0) printf("%18s\n", "-");
        else printf("%19s\n", fmt_mean_std(b, sizeof b, mean[pp], std[pp]));
    }
}

static void json_folds(const struct eval_opts *o, const char *dir, const struct fold_result *fr,
                       const double *mean, const double *std)
{
    static const char *const keys[S_N] = {
        "rmse", "mae", "precision", "recall", "ndcg", "coverage",
        "pop_precision", "pop_recall", "pop_ndcg", "pop_coverage",
    };
    fputs("{\"data\":", stdout);
    json_str(dir);
    printf(",\"dim\":%d,\"epochs\":%lld,\"lr\":%.17g,\"init_std\":%.17g,\"seed\":%llu,\"k\":%d,"
           "\"folds\":[",
           (int)o->train.cfg.k, (long long)o->train.epochs, o->train.cfg.lr, o->train.cfg.init_std,
           (unsigned long long)o->train.cfg.seed, (int)o->k);
    for (int f = 0; f < N_FOLDS; f++) {
        printf("%s{\"fold\":\"u%d\",\"train_ratings\":%lld,\"test_ratings\":%lld,\"mse\":",
               f ? "," : "", f + 1, (long long)fr[f].n_train, (long long)fr[f].mt.n);
        json_num(fr[f].mt.mse);
        fputs(",\"rmse\":", stdout);
        json_num(fr[f].mt.rmse);
        fputs(",\"mae\":", stdout);
        json_num(fr[f].mt.mae);
        fputs(",\"ranking\":{\"model\":", stdout);
        json_ranking(&fr[f].rm);
        fputs(",\"popularity\":", stdout);
        json_ranking(&fr[f].rp);
        printf("},\"seconds\":%.3f}", fr[f].seconds);
    }
    fputs("],\"mean\":{", stdout);
    for (int s = 0; s < S_N; s++) {
        printf("%s\"%s\":", s ? "," : "", keys[s]);
        json_num(mean[s]);
    }
    fputs("},\"std\":{", stdout);
    for (int s = 0; s < S_N; s++) {
        printf("%s\"%s\":", s ? "," : "", keys[s]);
        json_num(std[s]);
    }
    fputs("}}\n", stdout);
}

static int eval_folds(const struct eval_opts *o)
{
    mfr_error err = {0};
    mfr_dataset *ds = NULL;
    struct fold_result fr[N_FOLDS];
    int rc = EXIT_OK;
    const char *dir = default_data_dir(o->data);
    if (load_dataset(dir, &ds, &err) != MFR_OK) {
        rc = lib_error(&err);
        goto done;
    }
    char kp[16], kr[16], kn[16];
    snprintf(kp, sizeof kp, "P@%d", (int)o->k);
    snprintf(kr, sizeof kr, "R@%d", (int)o->k);
    snprintf(kn, sizeof kn, "NDCG@%d", (int)o->k);
    double t_start = now_seconds();
    for (int f = 0; f < N_FOLDS; f++) {
        char spec[8];
        int32_t n_threads = 0;
        snprintf(spec, sizeof spec, "u%d", f + 1);
        if ((rc = run_fold(o, ds, spec, &fr[f], &n_threads)) != EXIT_OK) goto done;
        if (o->json) continue;
        if (f == 0) {
            printf("folds u1..u%d of %s: dim %d, epochs %lld, Adam lr %g, init N(0, %g^2), "
                   "seed %llu, threads %d, k %d\n",
                   N_FOLDS, mfr_dataset_dir(ds), (int)o->train.cfg.k, (long long)o->train.epochs,
                   o->train.cfg.lr, o->train.cfg.init_std, (unsigned long long)o->train.cfg.seed, (int)n_threads,
                   (int)o->k);
            const mfr_config *c = &o->train.cfg;
            printf("preset %s | l2 %g, l2-freq %g, gravity %g, biases %s (l2-bias %g), implicit %g\n",
                   o->train.preset, c->l2, c->l2_freq, c->gravity, c->bias ? "on" : "off", c->l2_bias,
                   c->implicit);
            printf("%-4s %7s %6s %7s %7s %7s %7s %8s | %7s %7s %8s %6s %7s\n", "fold", "train",
                   "test", "RMSE", "MAE", kp, kr, kn, kp, kr, kn, "users", "seconds");
        }
        printf("u%-3d %7lld %6lld %7.4f %7.4f %7.4f %7.4f %8.4f | %7.4f %7.4f %8.4f %6lld %7.2f\n",
               f + 1, (long long)fr[f].n_train, (long long)fr[f].mt.n, fr[f].mt.rmse,
               fr[f].mt.mae, fr[f].rm.precision, fr[f].rm.recall, fr[f].rm.ndcg,
               fr[f].rp.precision, fr[f].rp.recall, fr[f].rp.ndcg, (long long)fr[f].rm.users,
               fr[f].seconds);
        fflush(stdout);
    }
    double v[N_FOLDS][S_N], col[N_FOLDS], mean[S_N], std[S_N];
    for (int f = 0; f < N_FOLDS; f++) fold_values(&fr[f], v[f]);
    for (int s = 0; s < S_N; s++) {
        for (int f = 0; f < N_FOLDS; f++) col[f] = v[f][s];
        mean_std(col, N_FOLDS, &mean[s], &std[s]);
    }
    if (o->json) {
        json_folds(o, mfr_dataset_dir(ds), fr, mean, std);
    } else {
        printf("(model left of |, popularity right; %.2f s in all)\n", now_seconds() - t_start);
        print_folds_summary((int)o->k, mean, std);
    }
done:
    mfr_dataset_destroy(ds);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Flags                                                                */
/* ------------------------------------------------------------------ */

/* Parses argv into o; EXIT_OK or EXIT_USAGE (after the message). */
static int parse_eval_flags(int argc, char **argv, struct eval_opts *o)
{
    struct args a = {.argc = argc, .argv = argv, .pos = 0};
    int flag_error = 0;
    while (next_data_flag(&a, &flag_error)) {
        const char *v;
        if (flag_is(&a, "--json")) { o->json = true; continue; }
        if (flag_is(&a, "--folds")) { o->folds = true; continue; }
        if (a.flag[0] != '-') return usage_error("unexpected argument '%s'", a.flag);
        bool known = flag_is(&a, "--model") || flag_is(&a, "--data") || flag_is(&a, "--test") ||
                     flag_is(&a, "--train") || flag_is(&a, "-k") || flag_is(&a, "--k");
        if (!known) {
            const char *flag_arg = argv[a.pos - 1];
            int shared = train_opts_flag(&a, &o->train);
            if (shared < 0) return EXIT_USAGE;
            if (shared == 0) return usage_error("unknown option %s", a.flag);
            if (!o->train_flag) o->train_flag = flag_arg;
            continue;
        }
        if (!(v = flag_value(&a))) return EXIT_USAGE;
        bool ok = true;
        if (flag_is(&a, "--model")) o->model_path = v;
        else if (flag_is(&a, "--data")) o->data = v;
        else if (flag_is(&a, "--test")) o->test_path = v;
        else if (flag_is(&a, "--train")) o->train_path = v;
        else ok = parse_i32(a.flag, v, 1, 1000000, &o->k);
        if (!ok) return EXIT_USAGE;
    }
    if (flag_error) return EXIT_USAGE;
    if (o->folds) {
        if (o->model_path) return usage_error("--model cannot be used with --folds");
        if (o->test_path) return usage_error("--test cannot be used with --folds (uN.test is used)");
        if (o->train_path) return usage_error("--train cannot be used with --folds (uN.base is used)");
        return EXIT_OK;
    }
    if (o->train_flag) {
        /* name only the flag, not its inline value */
        char name[64];
        snprintf(name, sizeof name, "%s", o->train_flag);
        char *eq = strchr(name, '=');
        if (eq) *eq = 0;
        return usage_error("%s is a training flag, only used with --folds", name);
    }
    if (!o->model_path) return usage_error("--model is required");
    if (!o->test_path) return usage_error("--test is required");
    return EXIT_OK;
}

int cmd_eval(int argc, char **argv)
{
    g_cmd = "mfrec eval";
    if (want_help(argc, argv)) {
        print_data_command_help(eval_help);
        return EXIT_OK;
    }
    struct eval_opts o = {.k = 10};
    train_opts_init(&o.train);
    int rc = train_opts_preset(argc, argv, &o.train);
    if (rc == EXIT_OK) rc = parse_eval_flags(argc, argv, &o);
    if (rc == EXIT_OK) rc = train_opts_check(&o.train);
    if (rc != EXIT_OK) return rc;
    return o.folds ? eval_folds(&o) : eval_model(&o);
}
