/*
 * cmd_train_softmax.c — `mfrec train --kind softmax`: trains the softmax
 * (deep retrieval) model of include/mfrec_softmax.h on the training part of
 * a split, prints the loss and, with a test part, the ranking metrics
 * beside the popularity baseline, and saves an mfr_model of kind softmax
 * that recommend, similar, eval, export and project read like any model.
 * Matrix-factorization flags are refused by name (cmd_train.c routes here).
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mfrec_softmax.h"

static const char softmax_help[] =
    "Usage: mfrec train --kind softmax [--data DIR] [--split SPEC] [--epochs N] [--dim K]\n"
    "                   [--hidden LIST] [--features LIST] [--optimizer adagrad|adam]\n"
    "                   [--lr X] [--batch-users N] [--all-pairs] [--out FILE] ...\n"
    "\n"
    "Trains the Colab's softmax model: a user is the mean embedding of the\n"
    "movies they rated in training (and of those movies' genres and release\n"
    "years, with --features), passed through hidden ReLU layers and a linear\n"
    "layer to a user embedding u; a softmax over every movie (logits <u, V_i>)\n"
    "predicts one of the user's movies, the label, from the others. Each epoch\n"
    "draws one label per user (seeded), or takes every leave-one-out pair\n"
    "(--all-pairs). The model ranks movies; it predicts no ratings. The saved\n"
    "model is the same for every thread count.\n"
    "\n";

static const char softmax_help_end[] =
    "\n"
    "Matrix-factorization flags (--l2, --bias, --preset, ...) are refused.\n"
    "Exit status: 0 ok, 1 runtime error, 2 usage error.\n";

struct sm_opts {
    mfr_softmax_config cfg;
    const char *kind, *preset, *data, *split, *out, *hidden, *features, *optimizer, *kernels;
    const char *hidden_init, *log_json;
    int64_t epochs, log_every;
    int32_t threads, top;
    bool all_pairs, quiet, folds;
};

/* "35", "64,32" or "none" (no hidden layer) into cfg. */
static bool parse_hidden(const char *flag, const char *s, mfr_softmax_config *c)
{
    c->n_hidden = 0;
    if (!strcmp(s, "none")) return true;
    const char *p = s;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 4096 || (*end && *end != ',') ||
            c->n_hidden == MFR_SOFTMAX_MAX_HIDDEN) {
            usage_error("%s: expected up to %d widths in 1..4096 separated by commas, or none; "
                        "got '%s'", flag, MFR_SOFTMAX_MAX_HIDDEN, s);
            return false;
        }
        c->hidden[c->n_hidden++] = (int32_t)v;
        p = *end ? end + 1 : end;
        if (*end && !*p) {
            usage_error("%s: '%s' ends with a comma", flag, s);
            return false;
        }
    }
    if (c->n_hidden == 0) {
        usage_error("%s must not be empty (none: no hidden layer)", flag);
        return false;
    }
    return true;
}

/* "movies,genres,years" (movies required) into cfg.features. */
static bool parse_features(const char *flag, const char *s, mfr_softmax_config *c)
{
    static const char *const names[3] = {"movies", "genres", "years"};
    uint32_t bits = 0;
    const char *p = s;
    while (*p) {
        size_t n = strcspn(p, ",");
        int f = -1;
        for (int x = 0; x < 3; x++)
            if (strlen(names[x]) == n && !strncmp(p, names[x], n)) f = x;
        if (f < 0 || (bits >> f & 1u)) {
            usage_error("%s: expected a list of movies, genres, years (each once), got '%s'", flag,
                        s);
            return false;
        }
        bits |= 1u << f;
        p += n + (p[n] == ',');
    }
    if (!(bits & MFR_SOFTMAX_FEAT_MOVIES)) {
        usage_error("%s must include movies (got '%s')", flag, s);
        return false;
    }
    c->features = bits;
    return true;
}

/* MF training flags given with --kind softmax: the first one, or NULL.
 * Flags of the softmax table are allowed whatever their name. */
static const char *mf_flag_given(int argc, char **argv, const struct flag_spec *flags, size_t n)
{
    static const char *const mf_only[] = {"--init-from", "--checkpoint",
                                          "--checkpoint-every", "--resume", "--early-stop",
                                          "--plot"};
    for (int i = 0; i < argc; i++) {
        char name[64];
        if (strncmp(argv[i], "--", 2) != 0) continue;
        snprintf(name, sizeof name, "%s", argv[i]);
        char *eq = strchr(name, '=');
        if (eq) *eq = 0;
        bool ours = false;
        for (size_t f = 0; f < n; f++) ours |= flags[f].name && !strcmp(flags[f].name, name);
        if (ours) continue;
        if (mfr_config_field_find(name)) return argv[i];
        for (size_t x = 0; x < sizeof mf_only / sizeof *mf_only; x++)
            if (!strcmp(name, mf_only[x])) return argv[i];
    }
    return NULL;
}

static int check_opts(struct sm_opts *o)
{
    if (strcmp(o->kind, "softmax") != 0) return usage_error("--kind: expected softmax here");
    if (o->preset && strcmp(o->preset, "softmax") != 0)
        return usage_error("--preset %s does not apply to --kind softmax (its preset: softmax)",
                           o->preset);
    mfr_softmax_config *c = &o->cfg;
    if (o->hidden && !parse_hidden("--hidden", o->hidden, c)) return EXIT_USAGE;
    if (o->features && !parse_features("--features", o->features, c)) return EXIT_USAGE;
    if (o->optimizer) {
        if (!strcmp(o->optimizer, "adagrad")) c->optimizer = MFR_SOFTMAX_OPT_ADAGRAD;
        else if (!strcmp(o->optimizer, "adam")) c->optimizer = MFR_SOFTMAX_OPT_ADAM;
        else return usage_error("--optimizer: expected adagrad or adam, got '%s'", o->optimizer);
    }
    c->all_pairs = o->all_pairs;
    if (o->hidden_init) {
        if (!strcmp(o->hidden_init, "colab")) c->hidden_init = MFR_SOFTMAX_INIT_COLAB;
        else if (!strcmp(o->hidden_init, "he")) c->hidden_init = MFR_SOFTMAX_INIT_HE;
        else return usage_error("--hidden-init: expected colab or he, got '%s'", o->hidden_init);
    }
    if (o->kernels) {
        static const char *const names[3] = {"auto", "ref", "avx2"};
        int32_t v = -1;
        for (int x = 0; x < 3; x++)
            if (!strcmp(o->kernels, names[x])) v = x; /* enum mfr_kernels order */
        if (v < 0) return usage_error("--kernels: expected auto, ref or avx2, got '%s'", o->kernels);
        c->kernels = v;
    }
    mfr_error err = {0};
    if (mfr_softmax_config_validate(c, &err) != MFR_OK) return usage_error("%s", err.message);
    if (o->out && io_output("--out", o->out) != EXIT_OK) return EXIT_USAGE;
    if (o->log_json && io_output("--log-json", o->log_json) != EXIT_OK) return EXIT_USAGE;
    return EXIT_OK;
}

/* The model's ranking metrics on the test part (and the baseline's). */
static int ranking(const mfr_softmax_trainer *tr, const mfr_split *sp, int32_t top,
                   mfr_model **model, mfr_ranking *rm, mfr_ranking *rp)
{
    mfr_error err = {0};
    mfr_model_destroy(*model);
    *model = NULL;
    if (mfr_softmax_trainer_model(tr, model, &err) != MFR_OK) return lib_error(&err);
    if (mfr_ratings_count(mfr_split_test(sp)) == 0) return EXIT_OK;
    if (mfr_model_ranking(*model, mfr_split_train(sp), mfr_split_test(sp), top, rm, rp, &err) !=
        MFR_OK)
        return lib_error(&err);
    return EXIT_OK;
}

/* --log-json's records of epoch e: one per optimizer step (its loss to
 * 17 digits, what tools/softmax-reference.py writes too), then the epoch's
 * mean loss and the seconds its mfr_softmax_trainer_epoch call took. */
static int log_epoch_json(const mfr_softmax_trainer *tr, int64_t e, double loss, double seconds,
                          struct json_log *jl)
{
    int32_t n = mfr_softmax_trainer_steps(tr, NULL, 0);
    mfr_softmax_step *st = malloc(sizeof *st * (size_t)(n > 0 ? n : 1));
    if (!st) return runtime_error("out of memory");
    n = mfr_softmax_trainer_steps(tr, st, n);
    for (int32_t x = 0; x < n; x++)
        jlog_printf(jl, "{\"epoch\":%lld,\"step\":%lld,\"group\":%d,\"examples\":%lld,"
                        "\"loss\":%.17g}\n",
                    (long long)e, (long long)st[x].step, (int)st[x].group,
                    (long long)st[x].examples, st[x].loss);
    free(st);
    jlog_printf(jl, "{\"epoch\":%lld,\"loss\":%.17g,\"epoch_s\":%.6f}\n", (long long)e, loss,
                seconds);
    return EXIT_OK;
}

static int train_loop(const struct sm_opts *o, mfr_softmax_trainer *tr, const mfr_split *sp,
                      mfr_model **model, struct json_log *jl)
{
    mfr_error err = {0};
    bool has_test = mfr_ratings_count(mfr_split_test(sp)) > 0;
    double t0 = now_seconds(), loss = 0;
    mfr_ranking rm, rp;
    for (int64_t e = 1; e <= o->epochs; e++) {
        double te = now_seconds();
        if (mfr_softmax_trainer_epoch(tr, &loss, &err) != MFR_OK) {
            fprintf(stderr, "%s: epoch %lld: ", g_cmd, (long long)e);
            return lib_error(&err);
        }
        if (o->log_json && log_epoch_json(tr, e, loss, now_seconds() - te, jl) != EXIT_OK)
            return EXIT_RUNTIME;
        bool log = !o->quiet && o->log_every > 0 && (e % o->log_every == 0 || e == o->epochs);
        if (!log) continue;
        int rc = ranking(tr, sp, o->top, model, &rm, &rp);
        if (rc != EXIT_OK) return rc;
        printf("epoch %6lld  loss %.5f", (long long)e, loss);
        if (has_test) printf("  test P@%d %.4f  NDCG@%d %.4f", o->top, rm.precision, o->top, rm.ndcg);
        printf("  (%.1f ms/epoch)\n", 1000.0 * (now_seconds() - t0) / (double)e);
        fflush(stdout);
    }
    int rc = ranking(tr, sp, o->top, model, &rm, &rp);
    if (rc != EXIT_OK) return rc;
    printf("final loss %.6f after %lld epochs (%.2f s)\n", loss, (long long)o->epochs,
           now_seconds() - t0);
    if (has_test)
        printf("test ranking @%d over %lld users: precision %.4f recall %.4f NDCG %.4f "
               "(popularity: %.4f %.4f %.4f)\n",
               o->top, (long long)rm.users, rm.precision, rm.recall, rm.ndcg, rp.precision,
               rp.recall, rp.ndcg);
    return EXIT_OK;
}

static int run(const struct sm_opts *o)
{
    mfr_error err = {0};
    mfr_dataset *ds = NULL;
    mfr_split *sp = NULL;
    mfr_softmax_trainer *tr = NULL;
    mfr_model *model = NULL;
    struct json_log jl = {0};
    int rc = EXIT_OK;
    if (load_dataset(default_data_dir(o->data), &ds, &err) != MFR_OK) return lib_error(&err);
    if (mfr_split_create(ds, o->split, o->cfg.seed, &sp, &err) != MFR_OK) {
        rc = err.status == MFR_ERR_INVALID ? usage_error("--split: %s", err.message)
                                           : lib_error(&err);
        goto done;
    }
    if (mfr_softmax_trainer_create(&o->cfg, ds, mfr_split_train(sp), mfr_split_spec(sp),
                                   o->threads, &tr, &err) != MFR_OK) {
        rc = lib_error(&err);
        goto done;
    }
    if (!o->quiet)
        printf("softmax model: k %d, %lld parameters, %lld training ratings, split %s, "
               "%d shards\n",
               o->cfg.k, (long long)mfr_softmax_trainer_n_params(tr),
               (long long)mfr_ratings_count(mfr_split_train(sp)), mfr_split_spec(sp),
               (int)mfr_softmax_trainer_n_shards(tr));
    if ((rc = train_loop(o, tr, sp, &model, &jl)) != EXIT_OK) goto done;
    printf("checksum %016llx\n", (unsigned long long)mfr_model_checksum(model));
    if (o->out) {
        if (mfr_model_save(model, o->out, &err) != MFR_OK) rc = lib_error(&err);
        else if (!o->quiet) printf("saved %s\n", o->out);
    }
    if (rc == EXIT_OK && o->log_json) rc = write_file_atomic(o->log_json, jl.buf, jl.len);
done:
    free(jl.buf);
    mfr_model_destroy(model);
    mfr_softmax_trainer_destroy(tr);
    mfr_split_destroy(sp);
    mfr_dataset_destroy(ds);
    return rc;
}

/* The flags of `train --kind softmax` (and, less --out and --log-every,
 * of `eval --folds --kind softmax`) into out; returns how many. */
static size_t softmax_flags(struct sm_opts *o, bool train, struct flag_spec *out)
{
    mfr_softmax_config *c = &o->cfg;
    const struct flag_spec common[] = {
        {.name = "--kind", .value = "softmax", .kind = FLAG_STR, .dst = &o->kind,
         .help = "the softmax model (mf: matrix factorization, the default)"},
        {.name = "--preset", .value = "softmax", .kind = FLAG_STR, .dst = &o->preset,
         .help = "the best settings found (docs/SOFTMAX.md): --optimizer adam\n"
                 "--lr 0.01 --batch-users 16 --hidden-init he --epochs 100;\n"
                 "implies --kind softmax"},
        {.name = "--data", .value = "DIR", .kind = FLAG_STR, .dst = &o->data,
         .help = "dataset directory (default: $MFREC_DATA, else data/ml-100k)"},
        {.name = "--epochs", .value = "N", .kind = FLAG_I64, .dst = &o->epochs, .lo = 0,
         .hi = 100000000, .help = "epochs (default 100)"},
        {.name = "--dim", .value = "K", .kind = FLAG_I32, .dst = &c->k, .lo = 1, .hi = 4096,
         .help = "user and movie output embedding dimension (default 35)"},
        {.name = "--hidden", .value = "LIST", .kind = FLAG_STR, .dst = &o->hidden,
         .help = "hidden ReLU layer widths, \"35\" or \"64,32\", or none\n(default 35)"},
        {.name = "--features", .value = "LIST", .kind = FLAG_STR, .dst = &o->features,
         .help = "movies[,genres][,years] (default movies)"},
        {.name = "--dim-movie", .value = "N", .kind = FLAG_I32, .dst = &c->dim_movie, .lo = 1,
         .hi = 4096, .help = "movie feature embedding width (default 35)"},
        {.name = "--dim-genre", .value = "N", .kind = FLAG_I32, .dst = &c->dim_genre, .lo = 1,
         .hi = 4096, .help = "genre embedding width (default 3)"},
        {.name = "--dim-year", .value = "N", .kind = FLAG_I32, .dst = &c->dim_year, .lo = 1,
         .hi = 4096, .help = "release-year embedding width (default 2)"},
        {.name = "--hidden-init", .value = "colab|he", .kind = FLAG_STR, .dst = &o->hidden_init,
         .help = "MLP weights: N(0, 1/out)/10 (the Colab's, default) or\nHe's N(0, 2/in)"},
        {.name = "--optimizer", .value = "adagrad|adam", .kind = FLAG_STR, .dst = &o->optimizer,
         .help = "TF1's Adagrad, the Colab's (default), or Adam"},
        {.name = "--lr", .value = "X", .kind = FLAG_DOUBLE, .dst = &c->lr, .min = 1e-12,
         .max = 1e6, .help = "learning rate (default 0.1)"},
        {.name = "--batch-users", .value = "N", .kind = FLAG_I32, .dst = &c->batch_users, .lo = 0,
         .hi = INT32_MAX, .help = "users per step, fixed groups in a seeded order;\n0: one "
                                  "full-batch step per epoch (default 0)"},
        {.name = "--all-pairs", .kind = FLAG_SWITCH, .dst = &o->all_pairs,
         .help = "every leave-one-out pair each epoch (default: one label per user)"},
        {.name = "--seed", .value = "S", .kind = FLAG_U64, .dst = &c->seed,
         .help = "initialization, labels, batch order and split seed (default 300)"},
        {.name = "--shards", .value = "N", .kind = FLAG_I32, .dst = &c->n_shards, .lo = 1,
         .hi = 4096, .help = "gradient buffers per step (default 16; never the threads)"},
        {.name = "--threads", .value = "N", .kind = FLAG_I32, .dst = &o->threads, .lo = 1,
         .hi = 4096, .help = "threads (default OMP_NUM_THREADS, else the cores)"},
        {.name = "--kernels", .value = "auto|ref|avx2", .kind = FLAG_STR, .dst = &o->kernels,
         .help = "kernel set (the same bits) (default auto)"},
        {.name = "--top", .value = "N", .kind = FLAG_I32, .dst = &o->top, .lo = 1, .hi = 100000,
         .help = "k of the ranking metrics (default 10)"},
    };
    const struct flag_spec train_only[] = {
        {.name = "--split", .value = "SPEC", .kind = FLAG_STR, .dst = &o->split,
         .help = "as for matrix factorization (default sklearn:300)"},
        {.name = "--log-every", .value = "N", .kind = FLAG_I64, .dst = &o->log_every, .lo = 0,
         .hi = INT64_MAX, .help = "print loss and test metrics every N epochs (default 10)"},
        {.name = "--out", .value = "FILE", .kind = FLAG_STR, .dst = &o->out,
         .help = "write the model here (--epochs 0: the initial weights)"},
        {.name = "--log-json", .value = "FILE", .kind = FLAG_STR, .dst = &o->log_json,
         .help = "JSON Lines: every optimizer step's loss, each epoch's\nmean loss and seconds"},
        {.name = "--quiet", .kind = FLAG_SWITCH, .dst = &o->quiet,
         .help = "print only the final lines"},
    };
    const struct flag_spec folds_only[] = {
        {.name = "--folds", .kind = FLAG_SWITCH, .dst = &o->folds,
         .help = "train and evaluate on u1..u5 (required)"},
    };
    size_t n = sizeof common / sizeof *common;
    memcpy(out, common, sizeof common);
    if (train) {
        memcpy(out + n, train_only, sizeof train_only);
        n += sizeof train_only / sizeof *train_only;
    } else {
        memcpy(out + n, folds_only, sizeof folds_only);
        n += sizeof folds_only / sizeof *folds_only;
    }
    return n;
}

enum { SM_MAX_FLAGS = 32 };

void softmax_preset_apply(mfr_softmax_config *c)
{
    c->optimizer = MFR_SOFTMAX_OPT_ADAM;
    c->lr = 0.01;
    c->batch_users = 16;
    c->hidden_init = MFR_SOFTMAX_INIT_HE;
}

/* Defaults, then --preset softmax when argv has it (flags override it). */
static void softmax_opts_init(struct sm_opts *o, int argc, char **argv)
{
    *o = (struct sm_opts){.kind = "softmax", .split = "sklearn:300", .epochs = 100,
                          .log_every = 10, .top = 10};
    mfr_softmax_config_default(&o->cfg);
    for (int i = 0; i < argc; i++)
        if ((!strcmp(argv[i], "--preset") && i + 1 < argc && !strcmp(argv[i + 1], "softmax")) ||
            !strcmp(argv[i], "--preset=softmax")) {
            softmax_preset_apply(&o->cfg);
            o->epochs = 100;
        }
}

int cmd_train_softmax(int argc, char **argv)
{
    struct sm_opts o;
    softmax_opts_init(&o, argc, argv);
    struct flag_spec flags[SM_MAX_FLAGS];
    size_t n_flags = softmax_flags(&o, true, flags);
    struct command_spec cmd = {.name = "mfrec train", .help = softmax_help,
                               .help_end = softmax_help_end, .help_width = 22, .flags = flags,
                               .n_flags = n_flags, .data_flags = true};
    const char *mf = mf_flag_given(argc, argv, flags, n_flags);
    if (mf) {
        g_cmd = "mfrec train";
        return usage_error("%s does not apply to --kind softmax", mf);
    }
    int rc;
    if (!cli_start(&cmd, argc, argv, &rc)) return rc;
    if ((rc = check_opts(&o)) != EXIT_OK) return rc;
    return run(&o);
}

/* The value of --kind in argv ("--kind X" or "--kind=X"), or NULL. */
static const char *kind_value(int argc, char **argv)
{
    const char *v = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--kind") && i + 1 < argc) v = argv[i + 1];
        else if (!strncmp(argv[i], "--kind=", 7)) v = argv[i] + 7;
    }
    return v;
}

/* The value of --preset in argv, or NULL. */
static const char *preset_value(int argc, char **argv)
{
    const char *v = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--preset") && i + 1 < argc) v = argv[i + 1];
        else if (!strncmp(argv[i], "--preset=", 9)) v = argv[i] + 9;
    }
    return v;
}

bool train_kind_is_softmax(int argc, char **argv)
{
    const char *kind = kind_value(argc, argv), *preset = preset_value(argc, argv);
    return (kind && !strcmp(kind, "softmax")) || (preset && !strcmp(preset, "softmax"));
}

bool train_kind_route(int argc, char **argv, int *rc)
{
    if (train_kind_is_softmax(argc, argv)) {
        *rc = cmd_train_softmax(argc, argv);
        return true;
    }
    static const char *const softmax_only[] = {"--hidden", "--features", "--dim-movie",
                                               "--dim-genre", "--dim-year", "--batch-users",
                                               "--all-pairs", "--top"};
    for (int i = 0; i < argc; i++)
        for (size_t x = 0; x < sizeof softmax_only / sizeof *softmax_only; x++) {
            size_t n = strlen(softmax_only[x]);
            if (!strncmp(argv[i], softmax_only[x], n) && (argv[i][n] == 0 || argv[i][n] == '=')) {
                g_cmd = "mfrec train";
                *rc = usage_error("%s applies to --kind softmax only", softmax_only[x]);
                return true;
            }
        }
    return false;
}

bool parse_kind_mf(const char *flag, const char *value, void *dst)
{
    if (!strcmp(value, "mf")) return true;
    usage_error("%s: expected mf or softmax, got '%s'", flag, value);
    (void)dst;
    return false;
}

/* ------------------------------------------------------------------ */
/* mfrec eval --folds --kind softmax                                    */
/* ------------------------------------------------------------------ */

static const char softmax_folds_help[] =
    "Usage: mfrec eval --folds --kind softmax [--data DIR] [--top N] [softmax training flags]\n"
    "\n"
    "Trains the softmax model on each canonical ML-100K fold uN.base (N = 1..5)\n"
    "and prints its ranking metrics on uN.test beside the popularity baseline,\n"
    "then their mean and sample standard deviation (definitions: mfrec eval\n"
    "--help). A softmax model predicts no ratings: there are no RMSE/MAE rows.\n"
    "\n";

enum { N_SM_FOLDS = 5, N_SM_STATS = 6 }; /* P, R, NDCG, popularity P, R, NDCG */

static int run_softmax_fold(const struct sm_opts *o, const mfr_dataset *ds, int fold,
                            double stats[N_SM_STATS])
{
    char spec[8];
    snprintf(spec, sizeof spec, "u%d", fold);
    mfr_error err = {0};
    mfr_split *sp = NULL;
    mfr_softmax_trainer *tr = NULL;
    mfr_model *m = NULL;
    int rc = EXIT_OK;
    mfr_ranking rm, rp;
    if (mfr_split_create(ds, spec, o->cfg.seed, &sp, &err) != MFR_OK ||
        mfr_softmax_trainer_create(&o->cfg, ds, mfr_split_train(sp), spec, o->threads, &tr,
                                   &err) != MFR_OK) {
        rc = runtime_error("fold %s: %s", spec, err.message);
        goto done;
    }
    for (int64_t e = 0; e < o->epochs && rc == EXIT_OK; e++)
        if (mfr_softmax_trainer_epoch(tr, NULL, &err) != MFR_OK)
            rc = runtime_error("fold %s, epoch %lld: %s", spec, (long long)e + 1, err.message);
    if (rc == EXIT_OK && (mfr_softmax_trainer_model(tr, &m, &err) != MFR_OK ||
                          mfr_model_ranking(m, mfr_split_train(sp), mfr_split_test(sp), o->top,
                                            &rm, &rp, &err) != MFR_OK))
        rc = runtime_error("fold %s: %s", spec, err.message);
    if (rc == EXIT_OK) {
        double v[N_SM_STATS] = {rm.precision, rm.recall, rm.ndcg, rp.precision, rp.recall, rp.ndcg};
        memcpy(stats, v, sizeof v);
        printf("%-5s %9.4f %9.4f %9.4f %9.4f %9.4f %9.4f\n", spec, v[0], v[1], v[2], v[3], v[4],
               v[5]);
        fflush(stdout);
    }
done:
    mfr_model_destroy(m);
    mfr_softmax_trainer_destroy(tr);
    mfr_split_destroy(sp);
    return rc;
}

static int softmax_folds(const struct sm_opts *o)
{
    mfr_error err = {0};
    mfr_dataset *ds = NULL;
    if (load_dataset(default_data_dir(o->data), &ds, &err) != MFR_OK) return lib_error(&err);
    printf("softmax folds u1..u%d: k %d, %lld epochs, %s lr %g, batch users %d%s, top %d\n",
           N_SM_FOLDS, o->cfg.k, (long long)o->epochs,
           o->cfg.optimizer == MFR_SOFTMAX_OPT_ADAM ? "Adam" : "Adagrad", o->cfg.lr,
           o->cfg.batch_users, o->cfg.all_pairs ? ", all pairs" : "", o->top);
    printf("%-5s %9s %9s %9s %9s %9s %9s\n", "fold", "P", "R", "NDCG", "pop P", "pop R",
           "pop NDCG");
    double st[N_SM_FOLDS][N_SM_STATS];
    int rc = EXIT_OK;
    for (int f = 0; f < N_SM_FOLDS && rc == EXIT_OK; f++)
        rc = run_softmax_fold(o, ds, f + 1, st[f]);
    mfr_dataset_destroy(ds);
    if (rc != EXIT_OK) return rc;
    printf("%-5s", "mean");
    double sd[N_SM_STATS];
    for (int x = 0; x < N_SM_STATS; x++) {
        double mean = 0, ss = 0;
        for (int f = 0; f < N_SM_FOLDS; f++) mean += st[f][x] / N_SM_FOLDS;
        for (int f = 0; f < N_SM_FOLDS; f++) ss += (st[f][x] - mean) * (st[f][x] - mean);
        sd[x] = sqrt(ss / (N_SM_FOLDS - 1));
        printf(" %9.4f", mean);
    }
    printf("\n%-5s", "std");
    for (int x = 0; x < N_SM_STATS; x++) printf(" %9.4f", sd[x]);
    printf("\n");
    return EXIT_OK;
}

bool eval_kind_route(int argc, char **argv, int *rc)
{
    const char *kind = kind_value(argc, argv), *preset = preset_value(argc, argv);
    if (!(kind && !strcmp(kind, "softmax")) && !(preset && !strcmp(preset, "softmax")))
        return false;
    struct sm_opts o;
    softmax_opts_init(&o, argc, argv);
    struct flag_spec flags[SM_MAX_FLAGS];
    size_t n_flags = softmax_flags(&o, false, flags);
    struct command_spec cmd = {.name = "mfrec eval", .help = softmax_folds_help,
                               .help_end = softmax_help_end, .help_width = 22, .flags = flags,
                               .n_flags = n_flags, .data_flags = true};
    const char *mf = mf_flag_given(argc, argv, flags, n_flags);
    if (mf) {
        g_cmd = "mfrec eval";
        *rc = usage_error("%s does not apply to --kind softmax", mf);
        return true;
    }
    if (!cli_start(&cmd, argc, argv, rc)) return true;
    if (!o.folds) {
        *rc = usage_error("--kind softmax is for --folds (a saved model records its kind)");
        return true;
    }
    if ((*rc = check_opts(&o)) != EXIT_OK) return true;
    *rc = softmax_folds(&o);
    return true;
}
