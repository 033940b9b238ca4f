/*
 * cmd_eval.c — `mfrec eval`: how good a model is on held-out ratings.
 * Rating error (MSE, RMSE, MAE) and top-k ranking quality (precision@k,
 * recall@k, NDCG@k, coverage) beside a most-popular baseline, for one
 * trained model, or for the five canonical ML-100K folds (u1..u5), each
 * trained here with the library, reported as mean ± sample std.
 * The metric definitions live with mfr_model_ranking in include/mfrec.h.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "mfrec_softmax.h"
#include "output.h"

static const char eval_help[] =
    "Usage: mfrec eval --model MODEL [--data DIR] --test FILE [--top N] [--train FILE] [--json]\n"
    "       mfrec eval --folds [--data DIR] [--top N] [--preset NAME] [training flags] [--json]\n"
    "\n"
    "Prints MSE, RMSE and MAE of a trained model on a rating file (user, movie,\n"
    "rating [, timestamp]; the separator detected from line 1: tab, '::',\n"
    "comma, semicolon, pipe or space; a header line skipped), then ranking\n"
    "metrics at k for the model and for a most-popular\n"
    "baseline (items ranked by their number of training ratings):\n"
    "  precision@k  hits / k\n"
    "  recall@k     hits / number of relevant items (not min(k, relevant))\n"
    "  NDCG@k       binary gains, log2 discount, ideal DCG over min(k, relevant)\n"
    "  coverage     distinct items in the evaluated users' top-k / all items\n"
    "A test rating >= 4 is relevant. A user's training items are never\n"
    "recommended (and do not count as relevant); every other item is scored.\n"
    "Users without a relevant test item are skipped; the number of users\n"
    "evaluated is printed. Equal scores rank the lower item index first.\n"
    "--baseline ease[:LAMBDA] adds the EASE baseline (Steck 2019: closed form\n"
    "on the binary training matrix) as a third column, also in --json;\n"
    "--baseline ease-ratings[:LAMBDA] fits it to the training ratings instead.\n"
    "With --folds, a fold without a relevant test rating has no ranking metric\n"
    "(n/a; null in --json): the ranking means and stds are over the other\n"
    "folds, and the summary names those left out (--json: \"ranked_folds\",\n"
    "the folds used, present only then).\n"
    "\n";

static const char eval_help_end[] =
    "\n"
    "Exit status: 0 ok, 1 runtime error, 2 usage error.\n";

#define N_FOLDS 5

struct eval_opts {
    const char *model_path, *data, *test_path, *train_path;
    const char *kind; /* --kind mf (the default; softmax: eval_kind_route) */
    int32_t k;
    bool json, folds, allow_overlap;
    struct ease_baseline ease; /* --baseline; lambda 0: none */
    struct train_opts train; /* --folds only */
};

/* ------------------------------------------------------------------ */
/* Output helpers                                                       */
/* ------------------------------------------------------------------ */

/* Digits of the JSON numbers (output.h's json_num): exact doubles. */
enum { JSON_DIGITS = JSON_EXACT };

/* "0.1234" or "n/a" into buf. */
static const char *fmt_metric(char *buf, size_t size, double x)
{
    if (isfinite(x)) snprintf(buf, size, "%.4f", x);
    else snprintf(buf, size, "n/a");
    return buf;
}

/* One row of the table: name | model | popularity [| EASE]. */
static void print_ranking_row(const char *name, double m, double p, const double *e)
{
    char a[32], b[32], c[32];
    printf("%-16s %10s %12s", name, fmt_metric(a, sizeof a, m), fmt_metric(b, sizeof b, p));
    if (e) printf(" %12s", fmt_metric(c, sizeof c, *e));
    putchar('\n');
}

/* The table: metric | model | popularity, and EASE when re is not NULL. */
static void print_ranking_table(const mfr_ranking *rm, const mfr_ranking *rp,
                                const mfr_ranking *re)
{
    char name[32];
    int k = (int)rm->n_top;
    printf("ranking at k=%d (relevant: test rating >= %g; training items excluded)\n", k,
           (double)MFR_RANKING_RELEVANT);
    printf("%-16s %10s %12s", "metric", "model", "popularity");
    printf(re ? " %12s\n" : "\n", "EASE");
    snprintf(name, sizeof name, "precision@%d", k);
    print_ranking_row(name, rm->precision, rp->precision, re ? &re->precision : NULL);
    snprintf(name, sizeof name, "recall@%d", k);
    print_ranking_row(name, rm->recall, rp->recall, re ? &re->recall : NULL);
    snprintf(name, sizeof name, "NDCG@%d", k);
    print_ranking_row(name, rm->ndcg, rp->ndcg, re ? &re->ndcg : NULL);
    print_ranking_row("coverage", rm->coverage, rp->coverage, re ? &re->coverage : NULL);
    printf("%-16s %10lld %12lld", "users evaluated", (long long)rm->users, (long long)rp->users);
    if (re) printf(" %12lld", (long long)re->users);
    putchar('\n');
}

/* The file `flag` names (path) in *out, malloc'd: as given when it exists
 * or is absolute, else dir/path when that exists. Neither: an error naming
 * both places (the reader would name only the first, where the help says
 * DIR is tried too), or DIR/path's own reason when it is not a missing
 * file; as given when only that lookup failed otherwise (the reader then
 * names it in its error). */
static int resolve_path(const char *flag, const char *dir, const char *path, char **out)
{
    *out = NULL;
    if (path[0] == '/' || access(path, F_OK) == 0)
        return (*out = strdup(path)) ? EXIT_OK : runtime_error("out of memory");
    const int e_given = errno;
    char *joined = path_join(dir, path);
    if (!joined) return runtime_error("out of memory");
    if (access(joined, F_OK) == 0) {
        *out = joined;
        return EXIT_OK;
    }
    const int e = errno;
    int rc = e_given != ENOENT ? ((*out = strdup(path)) ? EXIT_OK : runtime_error("out of memory"))
             : e == ENOENT
                 ? runtime_error("%s %s: no such file, neither as given nor in the data's directory %s", flag, path, dir)
                 : runtime_error("%s %s: no such file as given, and %s: %s", flag, path, joined, strerror(e));
    free(joined);
    return rc;
}

/* resolve_path, the file then noted as an input: standard output appended
 * to it (`eval --test t.data >> t.data`) is never written into it. */
static int resolve_input(const char *flag, const char *dir, const char *path, char **out)
{
    const int rc = resolve_path(flag, dir, path, out);
    return rc == EXIT_OK ? io_input(*out) : rc;
}

/* path (--test or --train) noted as an input before the model and its
 * data are loaded, where resolve_path will find it without them: as given,
 * or in a --data directory. Standard error on it (`eval --test t.data 2>>
 * t.data`) then refuses the run before the load, whose notes and errors
 * went into the file; resolve_input notes it again once resolved. */
static int note_input_early(const char *data, const char *path)
{
    struct stat st;
    if (!path) return EXIT_OK;
    if (path[0] == '/' || access(path, F_OK) == 0) return io_input(path);
    if (!data || stat(data, &st) != 0 || !S_ISDIR(st.st_mode)) return EXIT_OK;
    char *joined = path_join(data, path);
    if (!joined) return runtime_error("out of memory");
    const int rc = io_input(joined);
    free(joined);
    return rc;
}

/* ------------------------------------------------------------------ */
/* One model                                                            */
/* ------------------------------------------------------------------ */

/* The ratings `mfrec eval` reads beside the model. */
struct eval_data {
    mfr_ratings *test, *train_file;
    mfr_split *sp;
    const mfr_ratings *train; /* train_file, or the recreated split's part */
    const mfr_ratings *model_train; /* the model's recorded split's part, or NULL */
    char *test_path, *train_path;
    const char *train_desc; /* train_path, or model_train_desc: a copy cut a long --train path */
    char model_train_desc[128];
    char split_cmd[4352]; /* the `mfrec split` that writes the model's split (its test part held out) */
    int64_t overlap_model, overlap_train; /* test ratings also in model_train, in train_file */
    mfr_unknown_ratings unknown; /* test ratings left out: user or movie not in the model */
};

static void eval_data_free(struct eval_data *d)
{
    free(d->test_path);
    free(d->train_path);
    mfr_split_destroy(d->sp);
    mfr_ratings_destroy(d->train_file);
    mfr_ratings_destroy(d->test);
}

/* The training ratings, excluded from the candidates and counted for
 * popularity: --train FILE, else the model's recorded split, recreated. */
static int load_eval_train(const struct eval_opts *o, const mfr_model *m, const mfr_dataset *ds,
                           const char *dir, struct eval_data *d)
{
    mfr_error err = {0};
    /* The model's own training ratings, whenever it records its split:
     * test ratings among them are refused even when --train names other
     * ratings to exclude. */
    const char *spec = mfr_model_split_spec(m);
    if (*spec) {
        mfr_config cfg;
        mfr_model_config(m, &cfg, NULL);
        /* files changed since the training: their ratings are not the
         * model's (the overlap check would pass a lie), as if the split
         * could not be recreated */
        if (mfr_split_create(ds, spec, cfg.seed, &d->sp, &err) == MFR_OK &&
            mfr_model_check_split(m, d->sp, &err) != MFR_OK) {
            mfr_split_destroy(d->sp);
            d->sp = NULL;
        }
        if (d->sp) {
            d->model_train = mfr_split_train(d->sp);
            /* a random: split is its seed's: named, so that `mfrec split` can write the same one */
            const bool seeded = !strncmp(mfr_split_spec(d->sp), "random:", 7);
            snprintf(d->model_train_desc, sizeof d->model_train_desc, "split %s", mfr_split_spec(d->sp));
            /* --data too: without it `mfrec split` splits $MFREC_DATA or data/ml-100k */
            char *data = shell_word(o->data ? o->data : model_data_source(m), true);
            if (data && strcmp(mfr_split_spec(d->sp), "none") != 0 && /* none has no held-out part */
                snprintf(d->split_cmd, sizeof d->split_cmd,
                         seeded ? "mfrec split --data %s --split %s --seed %llu --out DIR"
                                : "mfrec split --data %s --split %s --out DIR",
                         data, mfr_split_spec(d->sp), (unsigned long long)cfg.seed) >= (int)sizeof d->split_cmd)
                d->split_cmd[0] = '\0'; /* cut: no command rather than a wrong one */
            free(data);
        } else if (!o->train_path) {
            return runtime_error("recreating the model's split %s: %s", spec, err.message);
        } else { /* --train is the way round a split that is gone or changed (u1.base moved, say) */
            cli_warning("the model's split %s cannot be recreated (%s); the test ratings are checked "
                        "against --train only",
                        spec, err.message);
            err = (mfr_error){0};
        }
    }
    if (o->train_path) {
        int rc = resolve_input("--train", dir, o->train_path, &d->train_path);
        if (rc != EXIT_OK) return rc;
        if (mfr_dataset_read_ratings(ds, d->train_path, &d->train_file, &err) != MFR_OK)
            return runtime_error("--train: %s", err.message);
        d->train = d->train_file;
        d->train_desc = d->train_path;
        return EXIT_OK;
    }
    if (!d->model_train)
        return usage_error("model %s records no split; pass its training ratings with --train FILE",
                           o->model_path);
    d->train = d->model_train;
    d->train_desc = d->model_train_desc;
    return EXIT_OK;
}

static void print_eval_json(const struct eval_opts *o, const struct eval_data *d,
                            const mfr_metrics *mt, const mfr_ranking *rm, const mfr_ranking *rp,
                            const mfr_ranking *re)
{
    fputs("{\"model\":", stdout);
    json_str(o->model_path);
    fputs(",\"test\":", stdout);
    json_str(d->test_path);
    fputs(",\"train\":", stdout);
    json_str(d->train_desc);
    printf(",\"train_ratings\":%lld,\"test_ratings\":%lld,", (long long)mfr_ratings_count(d->train),
           (long long)mt->n);
    /* test ratings not counted above: their user or movie is not the model's */
    printf("\"left_out\":{\"ratings\":%lld,\"unknown_user\":%lld,\"unknown_movie\":%lld},\"mse\":",
           (long long)d->unknown.n, (long long)d->unknown.n_user, (long long)d->unknown.n_item);
    json_num(mt->mse, JSON_DIGITS);
    fputs(",\"rmse\":", stdout);
    json_num(mt->rmse, JSON_DIGITS);
    fputs(",\"mae\":", stdout);
    json_num(mt->mae, JSON_DIGITS);
    /* null: not checked (no recorded split to recreate; no --train) */
    fputs(",\"overlap\":{\"model_train\":", stdout);
    if (d->model_train) printf("%lld", (long long)d->overlap_model);
    else fputs("null", stdout);
    fputs(",\"train\":", stdout);
    if (d->train_file) printf("%lld", (long long)d->overlap_train);
    else fputs("null", stdout);
    printf(",\"allowed\":%s}", o->allow_overlap ? "true" : "false");
    printf(",\"top\":%d,", (int)o->k);
    json_rankings((const mfr_ranking *const[N_RANKERS]){rm, rp, re});
    if (re) ease_baseline_json(&o->ease);
    fputs("}\n", stdout);
}

static void print_eval_text(const struct eval_opts *o, const mfr_model *m,
                            const struct eval_data *d, const mfr_metrics *mt,
                            const mfr_ranking *rm, const mfr_ranking *rp, const mfr_ranking *re)
{
    printf("model %s (k %d, %lld epoch%s, split %s)\n", printable(o->model_path), mfr_model_k(m),
           (long long)mfr_model_epochs(m), PL(mfr_model_epochs(m)), printable(mfr_model_split_spec(m)));
    printf("test %s: %lld rating%s", printable(d->test_path), (long long)mt->n, PL(mt->n));
    if (d->unknown.n)
        printf(" (%lld more left out: user or movie not in the model)", (long long)d->unknown.n);
    putchar('\n');
    if (isnan(mt->mse)) /* a softmax model (eval_model) */
        printf("MSE, RMSE, MAE: none (a softmax model ranks movies and predicts no ratings)\n");
    else
        printf("MSE %.6f\nRMSE %.6f\nMAE %.6f\n", mt->mse, mt->rmse, mt->mae);
    printf("train (excluded, popularity): %s, %lld rating%s\n", printable(d->train_desc),
           (long long)mfr_ratings_count(d->train), PL(mfr_ratings_count(d->train)));
    if (re) ease_baseline_say(&o->ease, "these training ratings");
    print_ranking_table(rm, rp, re);
}

/* The number of test ratings whose (user, movie) pair is also a training
 * rating: a model scored on ratings it was trained on looks far better
 * than it is (RMSE 0.688 against a true 1.164 on one leaked split). */
static int count_overlap(const mfr_ratings *train, const mfr_ratings *test, int64_t *out)
{
    int64_t first;
    mfr_error err = {0};
    return mfr_ratings_overlap(test, train, out, &first, &err) == MFR_OK ? EXIT_OK : lib_error(&err);
}

/* "3 of the 10 test ratings", or "the test rating" when there is one:
 * the subject of an overlap message, whose verb agrees with k (is / are). */
static const char *overlap_subject(char *buf, size_t len, long long k, long long total)
{
    if (total == 1) snprintf(buf, len, "the test rating");
    else snprintf(buf, len, "%lld of the %lld test ratings", k, total);
    return buf;
}

/* Refuses test ratings that the model was trained on (its recorded
 * split) or that --train excludes from the lists, or warns loudly with
 * --allow-overlap; the counts go into the JSON. */
static int check_overlap(const struct eval_opts *o, struct eval_data *d)
{
    int rc = d->model_train ? count_overlap(d->model_train, d->test, &d->overlap_model) : EXIT_OK;
    if (rc == EXIT_OK && d->train_file) rc = count_overlap(d->train_file, d->test, &d->overlap_train);
    if (rc != EXIT_OK) return rc;
    const long long total = (long long)mfr_ratings_count(d->test);
    const long long in_model = d->overlap_model, in_train = d->overlap_train;
    char subj[96];
    if (in_model && !o->allow_overlap)
        return runtime_error("%s in %s %s of the model (%s): its %s would flatter it. "
                             "Evaluate on held-out ratings (%s%s%s%s), or pass --allow-overlap to score %s anyway",
                             overlap_subject(subj, sizeof subj, in_model, total), d->test_path,
                             in_model == 1 ? "is a training rating" : "are training ratings",
                             d->model_train_desc, in_model == 1 ? "score on it" : "scores on them",
                             d->sp && !strcmp(mfr_split_spec(d->sp), "none")
                                 ? "a model trained with --split none has none: train one on a split"
                                 : "the other part of the model's split",
                             *d->split_cmd ? ": `" : "", *d->split_cmd ? d->split_cmd : "",
                             *d->split_cmd ? "` writes it as DIR/test.data" : "", in_model == 1 ? "it" : "them");
    if (in_train && !o->allow_overlap)
        return runtime_error("%s in %s %s also in --train %s, whose movies are left out of each "
                             "user's list: %s could never be recommended. Pass the ratings the "
                             "model was trained on, or --allow-overlap to score %s anyway",
                             overlap_subject(subj, sizeof subj, in_train, total), d->test_path,
                             in_train == 1 ? "is" : "are", d->train_path, in_train == 1 ? "it" : "they",
                             in_train == 1 ? "it" : "them");
    if (in_model)
        cli_warning_loud("%s %s of the model (%s); the results below are not held-out results.",
                         overlap_subject(subj, sizeof subj, in_model, total),
                         in_model == 1 ? "is a training rating" : "are training ratings", d->model_train_desc);
    if (in_train)
        cli_warning_loud("%s %s also in --train %s.", overlap_subject(subj, sizeof subj, in_train, total),
                         in_train == 1 ? "is" : "are", d->train_path);
    return EXIT_OK;
}

/* A model scores only the users and movies of its dataset: the test part
 * of a split made by `mfrec split` holds movies (and users) that its
 * training part, the dataset of a model trained on it, lacks. Said, since
 * the figures then cover fewer ratings than the file. */
static void warn_unknown(const struct eval_data *d)
{
    const mfr_unknown_ratings *u = &d->unknown;
    const long long n = u->n, total = n + (long long)mfr_ratings_count(d->test);
    char why[128];
    if (u->n_user && u->n_item)
        snprintf(why, sizeof why, "%lld of them have a user and %lld a movie that the model does not have",
                 (long long)u->n_user, (long long)u->n_item);
    else
        snprintf(why, sizeof why, "%s %s not in the model", n == 1 ? "its" : "their",
                 u->n_user ? (n == 1 ? "user is" : "users are") : (n == 1 ? "movie is" : "movies are"));
    cli_warning("left out %lld of the %lld test ratings in %s (the first on line %lld): %s; "
                "every figure below is over the other %lld",
                n, total, printable(d->test_path), (long long)u->first_line, why, total - n);
}

static int eval_model(const struct eval_opts *o)
{
    mfr_error err = {0};
    mfr_model *m = NULL;
    mfr_dataset *ds = NULL;
    struct eval_data d = {0};
    const char *dir = NULL;
    mfr_metrics mt;
    mfr_ranking rm, rp, re;
    int rc = note_input_early(o->data, o->test_path);
    if (rc == EXIT_OK) rc = note_input_early(o->data, o->train_path);
    if (rc == EXIT_OK) rc = load_model_and_data(o->model_path, o->data, &m, &ds, &dir);
    if (rc != EXIT_OK) goto done;
    /* EASE's two n_items^2 matrices against this machine's memory before
     * any work, as --folds does: after the model's ranking (minutes on a
     * large catalogue) the fit allocated them, or failed, unchecked */
    if ((rc = ease_fits_memory(&o->ease, mfr_model_n_items(m), o->train.cfg.max_memory)) != EXIT_OK) goto done;
    if ((rc = resolve_input("--test", dir, o->test_path, &d.test_path)) != EXIT_OK) goto done;
    /* A softmax model predicts no ratings: its rating metrics are NaN
     * (printed as "none", null in JSON), its ranking metrics as usual. */
    bool ranks_only = mfr_model_kind(m) == MFR_MODEL_KIND_SOFTMAX;
    if (mfr_dataset_read_known_ratings(ds, d.test_path, &d.test, &d.unknown, &err) != MFR_OK ||
        (!ranks_only && mfr_model_evaluate(m, d.test, &mt, &err) != MFR_OK)) {
        rc = lib_error(&err);
        goto done;
    }
    if (d.unknown.n) warn_unknown(&d);
    if (ranks_only)
        mt = (mfr_metrics){.n = mfr_ratings_count(d.test), .mse = NAN, .rmse = NAN, .mae = NAN};
    if ((rc = load_eval_train(o, m, ds, dir, &d)) != EXIT_OK ||
        (rc = check_overlap(o, &d)) != EXIT_OK)
        goto done;
    if (mfr_model_ranking(m, d.train, d.test, o->k, &rm, &rp, &err) != MFR_OK) {
        rc = lib_error(&err);
        goto done;
    }
    const mfr_ranking *pe = o->ease.lambda > 0 ? &re : NULL;
    if (pe && (rc = ease_ranking(&o->ease, d.train, d.test, mfr_model_n_users(m),
                                 mfr_model_n_items(m), o->k, &re)) != EXIT_OK)
        goto done;
    if (o->json) print_eval_json(o, &d, &mt, &rm, &rp, pe);
    else print_eval_text(o, m, &d, &mt, &rm, &rp, pe);
done:
    eval_data_free(&d);
    mfr_dataset_destroy(ds);
    mfr_model_destroy(m);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Five folds                                                           */
/* ------------------------------------------------------------------ */

struct fold_result {
    mfr_metrics mt;
    mfr_ranking rm, rp, re; /* re: EASE, with --baseline */
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
        if (mfr_trainer_step(tr, NULL, &err) != MFR_OK) {
            rc = runtime_error("fold %s, epoch %lld: %s", spec, (long long)e + 1, err.message);
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
    if (o->ease.lambda > 0 &&
        (rc = ease_ranking(&o->ease, mfr_split_train(sp), mfr_split_test(sp),
                           mfr_model_n_users(m), mfr_model_n_items(m), o->k, &fr->re)) != EXIT_OK)
        goto done;
    fr->n_train = mfr_ratings_count(mfr_split_train(sp));
    fr->seconds = now_seconds() - t0;
done:
    mfr_trainer_destroy(tr);
    mfr_split_destroy(sp);
    return rc;
}

/* The summarized quantities, in table order. */
enum {
    S_MSE, S_RMSE, S_MAE, S_P, S_R, S_NDCG, S_COV, S_POP_P, S_POP_R, S_POP_NDCG, S_POP_COV,
    S_EASE_P, S_EASE_R, S_EASE_NDCG, S_EASE_COV, S_N
};
/* ranking_values writes, and json_ranking_summary reads, each ranker's four
 * metrics side by side */
_Static_assert(S_POP_P == S_P + N_RANKING_METRICS && S_EASE_P == S_POP_P + N_RANKING_METRICS &&
                   S_N == S_EASE_P + N_RANKING_METRICS && S_R == S_P + 1 && S_NDCG == S_P + 2 && S_COV == S_P + 3,
               "the S_ metrics in json_ranking_summary's order");

static void fold_values(const struct fold_result *fr, double *v)
{
    v[S_MSE] = fr->mt.mse;
    v[S_RMSE] = fr->mt.rmse;
    v[S_MAE] = fr->mt.mae;
    ranking_values((const mfr_ranking *const[N_RANKERS]){&fr->rm, &fr->rp, &fr->re}, v + S_P);
}

/* "0.1234 ± 0.0056" (or n/a) into buf. */
static const char *fmt_mean_std(char *buf, size_t size, double mean, double std)
{
    if (isfinite(mean) && isfinite(std)) snprintf(buf, size, "%.4f ± %.4f", mean, std);
    else if (isfinite(mean)) snprintf(buf, size, "%.4f ± n/a", mean); /* one fold ranked */
    else snprintf(buf, size, "n/a");
    return buf;
}

static void print_folds_summary(int k, bool ease, const double *mean, const double *std, const char *note)
{
    static const struct {
        const char *name;
        int model, pop, ease;
        bool at_k;
    } rows[] = {
        {"RMSE", S_RMSE, -1, -1, false},
        {"MAE", S_MAE, -1, -1, false},
        {"precision", S_P, S_POP_P, S_EASE_P, true},
        {"recall", S_R, S_POP_R, S_EASE_R, true},
        {"NDCG", S_NDCG, S_POP_NDCG, S_EASE_NDCG, true},
        {"coverage", S_COV, S_POP_COV, S_EASE_COV, false},
    };
    char name[32], a[64], b[64];
    printf("mean ± sample std over %d folds%s%s\n", N_FOLDS, *note ? "; the ranking metrics " : "", note);
    printf("%-16s %18s %18s", "metric", "model", "popularity");
    printf(ease ? " %18s\n" : "\n", "EASE");
    for (size_t r = 0; r < sizeof rows / sizeof *rows; r++) {
        if (rows[r].at_k) snprintf(name, sizeof name, "%s@%d", rows[r].name, k);
        else snprintf(name, sizeof name, "%s", rows[r].name);
        int pm = rows[r].model, pp = rows[r].pop;
        /* "±" is two bytes but one column: pad by one more. */
        printf("%-16s %19s ", name, fmt_mean_std(a, sizeof a, mean[pm], std[pm]));
        if (pp < 0) printf("%18s", "-");
        else printf("%19s", fmt_mean_std(b, sizeof b, mean[pp], std[pp]));
        int pe = rows[r].ease;
        if (ease && pe < 0) printf(" %18s", "-");
        else if (ease) printf(" %19s", fmt_mean_std(b, sizeof b, mean[pe], std[pe]));
        putchar('\n');
    }
}

/* ,"preset":NAME,"config":{member: value, ...}: every model and optimizer
 * field of the folds' training configuration (not the execution ones,
 * which change no result), numbers as numbers, enums and sizes as text,
 * flags as booleans. */
static void json_training_config(const struct train_opts *t)
{
    fputs(",\"preset\":", stdout);
    json_str(t->preset ? t->preset : "notebook");
    fputs(",\"config\":{", stdout);
    bool first = true;
    for (int i = 0; i < mfr_config_field_count(); i++) {
        const mfr_config_field *f = mfr_config_field_at(i);
        char v[64];
        if (f->group == MFR_CONFIG_GROUP_EXECUTION || mfr_config_format(&t->cfg, f, v, sizeof v, NULL) != MFR_OK)
            continue;
        printf("%s\"%s\":", first ? "" : ",", f->name);
        first = false;
        if (f->type == MFR_CONFIG_ENUM || f->type == MFR_CONFIG_BYTES) json_str(v);
        else if (f->type == MFR_CONFIG_FLAG) fputs(strcmp(v, "0") ? "true" : "false", stdout);
        else fputs(v, stdout);
    }
    fputs("}", stdout);
}

static void json_folds(const struct eval_opts *o, const char *dir, const struct fold_result *fr,
                       const bool *ranked, const double *mean, const double *std)
{
    const bool ease = o->ease.lambda > 0;
    fputs("{\"data\":", stdout);
    json_str(dir);
    char lr[32], init_std[32];
    printf(",\"dim\":%d,\"epochs\":%lld,\"lr\":%s,\"init_std\":%s,\"seed\":%llu,\"top\":%d",
           (int)o->train.cfg.k, (long long)o->train.epochs, num_exact(o->train.cfg.lr, lr),
           num_exact(o->train.cfg.init_std, init_std), (unsigned long long)o->train.cfg.seed, (int)o->k);
    json_training_config(&o->train);
    if (ease) ease_baseline_json(&o->ease);
    fputs(",\"folds\":[", stdout);
    for (int f = 0; f < N_FOLDS; f++) {
        printf("%s{\"fold\":\"u%d\",\"train_ratings\":%lld,\"test_ratings\":%lld,\"mse\":",
               f ? "," : "", f + 1, (long long)fr[f].n_train, (long long)fr[f].mt.n);
        json_num(fr[f].mt.mse, JSON_DIGITS);
        fputs(",\"rmse\":", stdout);
        json_num(fr[f].mt.rmse, JSON_DIGITS);
        fputs(",\"mae\":", stdout);
        json_num(fr[f].mt.mae, JSON_DIGITS);
        putchar(',');
        json_rankings((const mfr_ranking *const[N_RANKERS]){&fr[f].rm, &fr[f].rp, ease ? &fr[f].re : NULL});
        printf(",\"seconds\":%.3f}", fr[f].seconds);
    }
    putchar(']');
    json_ranked_folds(ranked, N_FOLDS);
    /* the folds' shape: rating metrics, then "ranking" by ranker */
    for (int pass = 0; pass < 2; pass++) {
        const double *v = pass ? std : mean;
        fputs(pass ? "},\"std\":{\"mse\":" : ",\"mean\":{\"mse\":", stdout);
        json_num(v[S_MSE], JSON_DIGITS);
        fputs(",\"rmse\":", stdout);
        json_num(v[S_RMSE], JSON_DIGITS);
        fputs(",\"mae\":", stdout);
        json_num(v[S_MAE], JSON_DIGITS);
        putchar(',');
        json_ranking_summary(v + S_P, ease ? N_RANKERS : N_RANKERS - 1);
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
    train_opts_notes(&o->train); /* the data is noted: no input takes them */
    if ((rc = io_check_fold_files(dir, N_FOLDS)) != EXIT_OK ||
        (rc = ease_fits_memory(&o->ease, mfr_dataset_n_items(ds), o->train.cfg.max_memory)) != EXIT_OK)
        goto done;
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
            char opt[160];
            printf("folds u1..u%d of %s: dim %d, epochs %lld, %s, init N(0, %g^2), "
                   "seed %llu, threads %d, k %d\n",
                   N_FOLDS, printable(data_name(ds)), (int)o->train.cfg.k, (long long)o->train.epochs,
                   train_optimizer_text(&o->train.cfg, false, opt, sizeof opt), o->train.cfg.init_std,
                   (unsigned long long)o->train.cfg.seed, (int)n_threads, (int)o->k);
            char about[400];
            train_opts_describe(&o->train, about, sizeof about);
            printf("%s | ", about);
            train_print_regularizers(&o->train.cfg, "");
            printf("%-4s %7s %6s %7s %7s %7s %7s %8s | %7s %7s %8s %6s %7s", "fold", "train",
                   "test", "RMSE", "MAE", kp, kr, kn, kp, kr, kn, "users", "seconds");
            if (o->ease.lambda > 0) printf(" | %7s %7s %8s", kp, kr, kn);
            putchar('\n');
        }
        /* a fold without a relevant test rating ranks nothing: "n/a", as
         * the summary below and the tables of one model say, never "nan" */
        char m[3][32], p[3][32], e[3][32];
        printf("u%-3d %7lld %6lld %7.4f %7.4f %7s %7s %8s | %7s %7s %8s %6lld %7.2f",
               f + 1, (long long)fr[f].n_train, (long long)fr[f].mt.n, fr[f].mt.rmse,
               fr[f].mt.mae, fmt_metric(m[0], sizeof m[0], fr[f].rm.precision),
               fmt_metric(m[1], sizeof m[1], fr[f].rm.recall), fmt_metric(m[2], sizeof m[2], fr[f].rm.ndcg),
               fmt_metric(p[0], sizeof p[0], fr[f].rp.precision), fmt_metric(p[1], sizeof p[1], fr[f].rp.recall),
               fmt_metric(p[2], sizeof p[2], fr[f].rp.ndcg), (long long)fr[f].rm.users, fr[f].seconds);
        if (o->ease.lambda > 0)
            printf(" | %7s %7s %8s", fmt_metric(e[0], sizeof e[0], fr[f].re.precision),
                   fmt_metric(e[1], sizeof e[1], fr[f].re.recall), fmt_metric(e[2], sizeof e[2], fr[f].re.ndcg));
        putchar('\n');
        if ((rc = stdout_flush()) != EXIT_OK) goto done; /* a full or closed stdout: stop */
    }
    double v[N_FOLDS][S_N], mean[S_N], std[S_N];
    bool ranked[N_FOLDS];
    for (int f = 0; f < N_FOLDS; f++) fold_values(&fr[f], v[f]), ranked[f] = fr[f].rm.users > 0;
    for (int s = 0; s < S_N; s++) mean_std((const double *)v + s, N_FOLDS, S_N, &mean[s], &std[s]);
    char note[160];
    folds_ranked_note(ranked, N_FOLDS, note, sizeof note);
    if (o->json) {
        json_folds(o, data_name(ds), fr, ranked, mean, std);
    } else {
        printf("(model left of |, popularity right%s; %.2f s in all)\n",
               o->ease.lambda > 0 ? ", then EASE" : "", now_seconds() - t_start);
        print_folds_summary((int)o->k, o->ease.lambda > 0, mean, std, note);
    }
done:
    mfr_dataset_destroy(ds);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Flags                                                                */
/* ------------------------------------------------------------------ */

/* The training flags' help lines (train_opts.c), in the flag table. */
static void print_training_flags(FILE *f, const char *name)
{
    (void)name;
    train_opts_print_help(f);
}

/* The flags of `mfrec train`'s run rather than of its model: eval
 * --folds trains each fold for the configured epochs and keeps no file,
 * so they are refused by name instead of as unknown options (for either
 * kind: eval_kind_route calls it too). */
int eval_refuse_train_run_flags(int argc, char **argv)
{
    static const char *const run_only[] = {"--early-stop", "--target-rmse", "--init-from", "--no-train-eval",
                                           "--quiet", "--out", "--plot", "--log-json", "--log-every",
                                           "--checkpoint", "--checkpoint-every", "--resume", "--split"};
    const char *given = cli_first_named_flag(argc, argv, run_only, sizeof run_only / sizeof *run_only);
    if (!given) return EXIT_OK;
    static const char *const folds[] = {"--folds"};
    if (cli_first_named_flag(argc, argv, folds, 1))
        return usage_error("%s is a flag of `mfrec train`'s run, not of eval (--folds trains "
                           "uN.base for the configured epochs and keeps no file)",
                           given);
    return usage_error("%s is a flag of `mfrec train`'s run, not of eval (eval scores a saved --model on "
                       "--test FILE; the ratings it excludes are the model's recorded split or --train FILE)",
                       given);
}

/* Parses argv into o; false with *rc set when the command stops (after
 * --help or a usage error). */
static bool parse_eval_flags(int argc, char **argv, struct eval_opts *o, int *rc)
{
    g_cmd = "mfrec eval"; /* the messages' prefix and help pointer before cli_start */
    if ((*rc = eval_refuse_train_run_flags(argc, argv)) != EXIT_OK) return false;
    const struct flag_spec flags[] = {
        {.name = "--model", .value = "MODEL", .kind = FLAG_STR, .dst = &o->model_path,
         .section = "One model:", .help = "a model written by `mfrec train --out`"},
        {.name = "--test", .value = "FILE", .kind = FLAG_STR, .dst = &o->test_path,
         .help = "held-out ratings; looked up as given, then in DIR;\n"
                 "ratings of users or movies the model does not have\n"
                 "are left out, counted in a warning and in the JSON's\n"
                 "left_out"},
        {.name = "--train", .value = "FILE", .kind = FLAG_STR, .dst = &o->train_path,
         .help = "training ratings to exclude and to count popularity\n"
                 "(default: the model's recorded split, recreated)"},
        {.name = "--folds", .kind = FLAG_SWITCH, .dst = &o->folds, .section = "Five folds:",
         .help = "train on uN.base and evaluate on uN.test for N = 1..5"},
        {.name = "--kind", .value = "mf|softmax", .kind = FLAG_STR, .dst = &o->kind,
         .help = "the model trained on each fold: matrix factorization\n"
                 "(default) or softmax (`mfrec eval --folds --kind softmax\n"
                 "--help`)"},
        {.kind = FLAG_TEXT,
         .help = "  --preset NAME   as for `mfrec train`, and the training flags that follow\n"},
        {.kind = FLAG_TEXT, .print_help = print_training_flags},
        {.name = "--data", .value = "DIR", .kind = FLAG_STR, .dst = &o->data, .section = "Both:",
         .help = "dataset: with --model, the one the model was trained on\n"
                 "(default: the data recorded in the model: its directory,\n"
                 "or the rating file it was trained from); with\n"
                 "--folds, ML-100K's u.data with u1.base .. u5.test (default:\n"
                 "$MFREC_DATA, else data/ml-100k)"},
        {.name = "--top", .value = "N", .kind = FLAG_I32, .dst = &o->k, .lo = 1, .hi = 1000000,
         .help = "list length, the k of precision@k (default 10; -k N\n"
                 "and --k N are aliases)"},
        LIST_LENGTH_ALIAS_ROWS(&o->k, 1000000),
        {.name = "--threads", .value = "N", .kind = FLAG_THREADS, .dst = &o->train.cfg.n_threads,
         .help = "threads for the evaluation and EASE (default\n"
                 "$OMP_NUM_THREADS, else all cores) and for --folds\n"
                 "training (default measured, as under Execution above);\n"
                 "never changes a result"},
        {.name = "--allow-overlap", .kind = FLAG_SWITCH, .dst = &o->allow_overlap,
         .help = "with --model: score test ratings that are also training\n"
                 "ratings, with a warning (refused by default)"},
        {.name = "--baseline", .value = "ease[:LAMBDA]", .kind = FLAG_CUSTOM,
         .dst = &o->ease, .parse = parse_baseline,
         .help = "also rank with EASE of ridge strength LAMBDA (default\n"
                 "400); ease-ratings[:LAMBDA]: EASE on the ratings, not a\n"
                 "binary matrix (default 5000; docs/RANKING.md)"},
        {.name = "--json", .kind = FLAG_SWITCH, .dst = &o->json,
         .help = "one JSON object on stdout instead of the tables"},
    };
    struct command_spec cmd = {.name = "mfrec eval", .help = eval_help, .help_end = eval_help_end,
                               .help_width = 15, .flags = flags,
                               .n_flags = sizeof flags / sizeof *flags, .data_flags = true,
                               .train = &o->train};
    if (!cli_start(&cmd, argc, argv, rc)) return false;
    if (o->kind && strcmp(o->kind, "mf") != 0) /* softmax never comes here */
        *rc = usage_error("--kind must be mf or softmax, got '%s'", o->kind);
    else if (o->kind && !o->folds)
        *rc = usage_error("--kind is a training flag, only used with --folds (a saved model records its kind)");
    else if (o->folds) {
        if (o->model_path) *rc = usage_error("--model cannot be used with --folds");
        else if (o->test_path)
            *rc = usage_error("--test cannot be used with --folds (uN.test is used)");
        else if (o->train_path)
            *rc = usage_error("--train cannot be used with --folds (uN.base is used)");
        else if (o->allow_overlap)
            *rc = usage_error("--allow-overlap cannot be used with --folds (uN.test never overlaps uN.base)");
    } else if (cmd.train_flag) {
        /* name only the flag, not its inline value */
        char name[64];
        snprintf(name, sizeof name, "%s", cmd.train_flag);
        char *eq = strchr(name, '=');
        if (eq) *eq = 0;
        *rc = usage_error("%s is a training flag, only used with --folds", name);
    } else if (!o->model_path) {
        *rc = usage_error("--model is required");
    } else if (!o->test_path) {
        *rc = usage_error("--test is required");
    }
    if (*rc == EXIT_OK) *rc = train_opts_check(&o->train);
    return *rc == EXIT_OK;
}

int cmd_eval(int argc, char **argv)
{
    int rc;
    if (eval_kind_route(argc, argv, &rc)) return rc; /* --folds --kind softmax */
    struct eval_opts o = {.k = 10};
    train_opts_init(&o.train);
    if (!parse_eval_flags(argc, argv, &o, &rc)) return rc;
    /* the library's own default for what runs outside the trainer (the
     * evaluation, EASE, the ranking) */
    if (o.train.cfg.n_threads > 0) mfr_set_threads(o.train.cfg.n_threads);
    return o.folds ? eval_folds(&o) : eval_model(&o);
}
