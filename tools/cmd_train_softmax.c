/*
 * cmd_train_softmax.c — `mfrec train --kind softmax`: trains the softmax
 * (deep retrieval) model of include/mfrec_softmax.h on the training part of
 * a split, prints the loss and, with a test part, the ranking metrics
 * beside the popularity baseline, and saves an mfr_model of kind softmax
 * that recommend, similar, eval, export and project read like any model.
 * Matrix-factorization flags are refused by name (cmd_train.c routes here).
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mfrec_softmax.h"
#include "output.h"
#include "plot.h"

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
    "(--all-pairs). With --negatives unrated the softmax leaves out the user's\n"
    "other rated movies, which are not negatives. --feature-dropout P leaves\n"
    "each rated movie out of its user's features with probability P in each\n"
    "epoch (seeded; never at inference). The model ranks movies; it\n"
    "predicts no ratings. The saved model is the same for every thread count.\n"
    "\n";

static const char softmax_help_end[] =
    "\n"
    "Matrix-factorization flags (--l2, --bias, --preset ndcg, ...) are refused.\n"
    "Exit status: 0 ok, 1 runtime error, 2 usage error.\n";

static const char softmax_train_help_end[] =
    "\n"
    "Matrix-factorization flags (--l2, --bias, --preset ndcg, ...) are refused.\n"
    "SIGINT or SIGTERM: the current epoch finishes, a checkpoint is written\n"
    "(with --checkpoint) and mfrec exits with status 3; a second signal exits\n"
    "at once. --resume FILE alone continues the run (docs/CHECKPOINTS.md).\n"
    "Exit status: 0 ok, 1 runtime error, 2 usage error, 3 interrupted.\n";

struct sm_opts {
    mfr_softmax_config cfg;
    const char *kind, *preset, *data, *split, *out, *hidden, *features, *optimizer, *kernels;
    const char *hidden_init, *negatives, *checkpoint, *resume, *log_json, *plot;
    int64_t epochs, log_every, checkpoint_every;
    int32_t threads, top;
    bool all_pairs, quiet, folds, json; /* json: eval --folds only */
    bool tie, dim_movie_given;          /* --tie; --dim-movie in argv */
    struct ease_baseline ease;          /* eval --folds --baseline; lambda 0: none */
};

/* "35", "64,32" or "none" (no hidden layer) into cfg. */
static bool parse_hidden(const char *flag, const char *s, mfr_softmax_config *c)
{
    c->n_hidden = 0;
    if (!strcmp(s, "none")) return true;
    const char *p = s;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10); /* digits only: strtol would take a blank or a sign */
        if (*p < '0' || *p > '9' || v < 1 || v > 4096 || (*end && *end != ',') ||
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
        if (p[-1] == ',' && !*p) {
            usage_error("%s: '%s' ends with a comma", flag, s);
            return false;
        }
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
    static const char *const mf_only[] = {"--init-from", "--early-stop", "--target-rmse", "--no-train-eval"};
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
    if (strcmp(o->kind, "softmax") != 0) /* only --preset softmax brings a run here */
        return usage_error("--kind %s does not go with --preset softmax, the softmax model's preset "
                           "(it implies --kind softmax)",
                           o->kind);
    if (o->preset && strcmp(o->preset, "softmax") != 0)
        return usage_error("--preset %s does not apply to --kind softmax (its preset: softmax)",
                           o->preset);
    if (o->plot && o->epochs == 0) /* refused before anything is written */
        return usage_error("--plot needs at least one epoch (--epochs 0 only saves the initial weights)");
    mfr_softmax_config *c = &o->cfg;
    data_set_memory_budget(c->max_memory); /* --max-memory covers a text parse too */
    if (o->hidden && !parse_hidden("--hidden", o->hidden, c)) return EXIT_USAGE;
    if (o->features && !parse_features("--features", o->features, c)) return EXIT_USAGE;
    /* flags that would change nothing but the recorded configuration */
    if (cli_flag_given("--shards") && !o->resume) /* (a resume notes it: resume_command) */
        return usage_error("--shards does not apply to --kind softmax (its steps are not sharded)");
    if (cli_flag_given("--checkpoint-every") && !o->checkpoint && !o->resume)
        return usage_error("--checkpoint-every needs --checkpoint FILE");
    if (cli_flag_given("--dim-genre") && !(c->features & MFR_SOFTMAX_FEAT_GENRES))
        return usage_error("--dim-genre sizes the genre table: it needs genres in --features");
    if (cli_flag_given("--dim-year") && !(c->features & MFR_SOFTMAX_FEAT_YEARS))
        return usage_error("--dim-year sizes the year table: it needs years in --features");
    if (o->optimizer) {
        if (!strcmp(o->optimizer, "adagrad")) c->optimizer = MFR_SOFTMAX_OPT_ADAGRAD;
        else if (!strcmp(o->optimizer, "adam")) c->optimizer = MFR_SOFTMAX_OPT_ADAM;
        else return usage_error("--optimizer: expected adagrad or adam, got '%s'", o->optimizer);
    }
    c->all_pairs = o->all_pairs;
    c->tie_tables = o->tie;
    if (o->tie && !o->dim_movie_given) c->dim_movie = c->k; /* the movie table is V */
    if (o->hidden_init) {
        if (!strcmp(o->hidden_init, "colab")) c->hidden_init = MFR_SOFTMAX_INIT_COLAB;
        else if (!strcmp(o->hidden_init, "he")) c->hidden_init = MFR_SOFTMAX_INIT_HE;
        else return usage_error("--hidden-init: expected colab or he, got '%s'", o->hidden_init);
    }
    if (o->negatives) {
        if (!strcmp(o->negatives, "all")) c->negatives = MFR_SOFTMAX_NEG_ALL;
        else if (!strcmp(o->negatives, "unrated")) c->negatives = MFR_SOFTMAX_NEG_UNRATED;
        else return usage_error("--negatives: expected all or unrated, got '%s'", o->negatives);
    }
    if (o->kernels) {
        static const char *const names[4] = {"auto", "ref", "avx2", "avx512"};
        int32_t v = -1;
        for (int x = 0; x < 4; x++)
            if (!strcmp(o->kernels, names[x])) v = x; /* enum mfr_kernels order */
        if (v < 0) /* worded as matrix factorization's --kernels (config.c) */
            return usage_error("--kernels must be auto, ref, avx2 or avx512, got '%s'", o->kernels);
        c->kernels = v;
    }
    mfr_error err = {0};
    if (mfr_softmax_config_validate(c, &err) != MFR_OK) return usage_error("%s", err.message);
    return EXIT_OK;
}

static const char *const sm_charts[] = {"softmax_loss", "softmax_ranking", NULL};

/* The outputs checked against the inputs before the training (and again
 * on --resume once the checkpoint has named its data). A resumed run may
 * write its checkpoint over the one it resumed from (the default). */
static int check_paths(const struct sm_opts *o)
{
    int rc = io_input_data(default_data_dir(o->data));
    if (rc == EXIT_OK && o->resume) rc = io_input(o->resume);
    if (rc == EXIT_OK) rc = io_output_checkpoint(o->checkpoint, o->resume);
    if (rc == EXIT_OK && o->out) rc = io_output("--out", o->out);
    if (rc == EXIT_OK && o->log_json) rc = io_output("--log-json", o->log_json);
    if (rc == EXIT_OK && o->plot) rc = plot_preflight();
    if (rc == EXIT_OK && o->plot) rc = plot_outputs_check(o->plot, sm_charts);
    return rc;
}

/* One logged epoch, for --plot. */
struct sm_point {
    double epoch, loss, precision, ndcg;
};

/* One training run: what it loaded, made and logged. */
struct sm_run {
    const struct sm_opts *o;
    mfr_dataset *ds;
    mfr_split *sp;
    mfr_softmax_trainer *tr;
    mfr_model *model;   /* the last ranking's */
    mfr_checkpoint *ck; /* --resume */
    bool has_test;
    int64_t start;      /* epochs done before this process (--resume) */
    int64_t ck_epoch;   /* the epoch --checkpoint FILE holds (0: none; resumed: see run_resume) */
    double t_start;     /* when the run started, its earlier processes' time included */
    double train_s;     /* seconds inside the epochs, earlier processes' included */
    double elapsed0;    /* the earlier processes' wall seconds */
    struct json_log jl; /* the --log-json records (kept in checkpoints) */
    struct sm_point *curve;
    int n_curve, cap_curve;
    mfr_ranking rm, rp;
};

static void sm_run_free(struct sm_run *r)
{
    free(r->curve);
    free(r->jl.buf);
    mfr_model_destroy(r->model);
    mfr_checkpoint_destroy(r->ck);
    mfr_softmax_trainer_destroy(r->tr);
    mfr_split_destroy(r->sp);
    mfr_dataset_destroy(r->ds);
}

/* The model as trained so far and, with a test part, its ranking metrics
 * and the popularity baseline's. */
static int ranking(struct sm_run *r)
{
    mfr_error err = {0};
    mfr_model_destroy(r->model);
    r->model = NULL;
    if (mfr_softmax_trainer_model(r->tr, &r->model, &err) != MFR_OK) return lib_error(&err);
    if (!r->has_test) return EXIT_OK;
    if (mfr_model_ranking(r->model, mfr_split_train(r->sp), mfr_split_test(r->sp), r->o->top,
                          &r->rm, &r->rp, &err) != MFR_OK)
        return lib_error(&err);
    return EXIT_OK;
}

static int add_point(struct sm_run *r, struct sm_point p)
{
    if (r->n_curve == r->cap_curve) {
        r->cap_curve = r->cap_curve ? 2 * r->cap_curve : 64;
        struct sm_point *nc = realloc(r->curve, sizeof *nc * (size_t)r->cap_curve);
        if (!nc) return runtime_error("out of memory");
        r->curve = nc;
    }
    r->curve[r->n_curve++] = p;
    return EXIT_OK;
}

/* --log-json's records of epoch e (kept in checkpoints, so that a resumed
 * run writes the uninterrupted run's log): one per optimizer step (its
 * loss to 17 digits, what tools/softmax-reference.py writes too), then the
 * epoch's: its mean loss, at logged epochs the test metrics (null without
 * a test part) and k, then the times (epoch_s: its
 * mfr_softmax_trainer_epoch call; elapsed_s since the run started, earlier
 * processes included; wall_s since this process started). */
/* A logged epoch's part of its record: the last ranking's test metrics
 * (null: no test part, or no test user with a relevant movie) and k. */
static void log_json_metrics(const struct sm_run *r, struct json_log *jl)
{
    const double m[3] = {r->rm.precision, r->rm.recall, r->rm.ndcg};
    static const char *const names[3] = {"test_precision", "test_recall", "test_ndcg"};
    for (int x = 0; x < 3; x++) {
        char v[32];
        jlog_printf(jl, ",\"%s\":%s", names[x], r->has_test ? num_exact(m[x], v) : "null");
    }
    jlog_printf(jl, ",\"top\":%d", r->o->top);
}

static int log_json_epoch(struct sm_run *r, int64_t e, double loss, double seconds, bool logged)
{
    int32_t n = mfr_softmax_trainer_steps(r->tr, NULL, 0);
    mfr_softmax_step *st = malloc(sizeof *st * (size_t)(n > 0 ? n : 1));
    if (!st) return runtime_error("out of memory");
    n = mfr_softmax_trainer_steps(r->tr, st, n);
    char v[32];
    for (int32_t x = 0; x < n; x++)
        jlog_printf(&r->jl, "{\"epoch\":%lld,\"step\":%lld,\"group\":%d,\"examples\":%lld,"
                            "\"loss\":%s}\n",
                    (long long)e, (long long)st[x].step, (int)st[x].group,
                    (long long)st[x].examples, num_exact(st[x].loss, v));
    free(st);
    jlog_printf(&r->jl, "{\"epoch\":%lld,\"loss\":%s", (long long)e, num_exact(loss, v));
    if (logged) log_json_metrics(r, &r->jl);
    jlog_printf(&r->jl, ",\"epoch_s\":%.6f,\"elapsed_s\":%.6f,\"wall_s\":%.6f}\n", seconds,
                now_seconds() - r->t_start, process_seconds());
    /* stop here: a later checkpoint would keep the log without it */
    return r->jl.failed ? runtime_error("out of memory holding the log of epoch %lld", (long long)e) : EXIT_OK;
}

/* A logged epoch: its ranking, the line and the --plot point. */
static int log_epoch(struct sm_run *r, int64_t e, double loss, double t0)
{
    const struct sm_opts *o = r->o;
    int rc = ranking(r);
    if (rc != EXIT_OK) return rc;
    double p = r->has_test ? r->rm.precision : NAN, ndcg = r->has_test ? r->rm.ndcg : NAN;
    if (!o->quiet) {
        printf("epoch %6lld  loss %.5f", (long long)e, loss);
        if (r->has_test && r->rm.users > 0)
            printf("  test P@%d %.4f  NDCG@%d %.4f", o->top, p, o->top, ndcg);
        else if (r->has_test) /* no test user has a relevant movie: nothing to rank */
            printf("  test P@%d n/a  NDCG@%d n/a", o->top, o->top);
        printf("  (%.1f ms/epoch)\n", e > r->start ? 1000.0 * (now_seconds() - t0) / (double)(e - r->start) : 0.0);
        if ((rc = stdout_flush()) != EXIT_OK) return rc; /* a closed stdout stops the run */
    }
    if (o->plot && (rc = add_point(r, (struct sm_point){(double)e, loss, p, ndcg})) != EXIT_OK)
        return rc;
    return EXIT_OK;
}

static int write_checkpoint(struct sm_run *r, int64_t e)
{
    const struct sm_opts *o = r->o;
    mfr_run_state run = {.epochs = o->epochs, .log_every = o->log_every,
                         .checkpoint_every = o->checkpoint_every,
                         .elapsed_s = now_seconds() - r->t_start, .train_s = r->train_s,
                         .log = r->jl.buf, .log_len = r->jl.len};
    mfr_error err = {0};
    stop_signals_saving(true);
    int st = mfr_softmax_trainer_save_checkpoint(r->tr, &run, o->checkpoint, &err);
    stop_signals_saving(false);
    if (st != MFR_OK) return lib_error(&err);
    r->ck_epoch = e;
    return EXIT_OK;
}

/* After epoch e, on the first SIGINT/SIGTERM: a checkpoint (if asked
 * for and not just written) and how to go on. */
static int interrupted(struct sm_run *r, int64_t e)
{
    const struct sm_opts *o = r->o;
    int rc;
    if (o->checkpoint && e % o->checkpoint_every != 0 && (rc = write_checkpoint(r, e)) != EXIT_OK)
        return rc;
    if (o->checkpoint) {
        fprintf(stderr,
                "%s: interrupted by %s after epoch %lld of %lld; checkpoint written to %s\n", g_cmd,
                stop_signal_name(), (long long)e, (long long)o->epochs, printable(o->checkpoint));
        print_resume_hint(o->checkpoint);
    } else {
        fprintf(stderr,
                "%s: interrupted by %s after epoch %lld of %lld; nothing saved (train with "
                "--checkpoint FILE to be able to resume)\n",
                g_cmd, stop_signal_name(), (long long)e, (long long)o->epochs);
    }
    return EXIT_INTERRUPTED;
}

/* A run resumed with --epochs at the epochs done trains none, but its last
 * epoch is logged as every run's is: when the checkpoint was written at
 * an epoch that was not logged (an interrupted run finished there, or one
 * cut short to a checkpoint's epoch), its ranking, line and --plot point
 * now, and its record in the log gets the metrics its times are followed
 * by in a logged epoch's. */
static int log_resumed_last(struct sm_run *r, double t0)
{
    char head[64];
    int n = snprintf(head, sizeof head, "{\"epoch\":%lld,\"loss\":", (long long)r->start);
    const char *rec = NULL;
    for (const char *p = r->jl.buf, *end = r->jl.buf + r->jl.len; p && p < end;) {
        if (!strncmp(p, head, (size_t)n)) rec = p;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : end;
    }
    const char *nl = rec ? memchr(rec, '\n', r->jl.len - (size_t)(rec - r->jl.buf)) : NULL;
    const char *times = rec ? strstr(rec, ",\"epoch_s\":") : NULL;
    const char *top = rec ? strstr(rec, ",\"top\":") : NULL;
    if (rec && top && (!nl || top < nl)) return EXIT_OK; /* a logged epoch's record */
    if (!rec || !times || (nl && times > nl))
        return runtime_error("%s: the checkpoint's log has no record of epoch %lld", r->o->resume,
                             (long long)r->start);
    double loss = strtod(rec + n, NULL);
    int rc = log_epoch(r, r->start, loss, t0);
    if (rc != EXIT_OK) return rc;
    struct json_log jl = {0};
    jlog_printf(&jl, "%.*s", (int)(times - r->jl.buf), r->jl.buf);
    log_json_metrics(r, &jl);
    jlog_printf(&jl, "%.*s", (int)(r->jl.buf + r->jl.len - times), times);
    if (!jl.buf || jl.len <= r->jl.len) {
        free(jl.buf);
        return runtime_error("out of memory");
    }
    free(r->jl.buf);
    r->jl = jl;
    return EXIT_OK;
}

static int train_epochs(struct sm_run *r)
{
    const struct sm_opts *o = r->o;
    mfr_error err = {0};
    double t0 = now_seconds();
    r->t_start = t0 - r->elapsed0;
    /* The ranking of a logged epoch is computed only when something uses it. */
    bool wanted = !o->quiet || o->plot || o->log_json || o->checkpoint;
    int rc;
    if (r->start > 0 && r->start == o->epochs && wanted) return log_resumed_last(r, t0);
    for (int64_t e = r->start + 1; e <= o->epochs; e++) {
        double loss, t1 = now_seconds();
        int st = mfr_softmax_trainer_epoch(r->tr, &loss, &err);
        r->train_s += now_seconds() - t1;
        if (st != MFR_OK) return runtime_error("epoch %lld: %s", (long long)e, err.message);
        /* as matrix factorization's: the first and the last epoch always */
        bool logged = (o->log_every > 0 && e % o->log_every == 0) || e == 1 || e == o->epochs;
        if (logged && wanted && (rc = log_epoch(r, e, loss, t0)) != EXIT_OK) return rc;
        /* a checkpoint keeps the log for a resumed --log-json */
        if ((o->log_json || o->checkpoint) &&
            (rc = log_json_epoch(r, e, loss, now_seconds() - t1, logged)) != EXIT_OK)
            return rc;
        if (o->checkpoint && e % o->checkpoint_every == 0 && (rc = write_checkpoint(r, e)) != EXIT_OK)
            return rc;
        if (g_stop_signal && e < o->epochs) return interrupted(r, e);
    }
    stop_signal_epochs_ended();
    return EXIT_OK;
}

static int plot_run(const struct sm_run *r)
{
    const struct sm_opts *o = r->o;
    int n = r->n_curve, rc = ensure_dir(o->plot);
    double *x = malloc(sizeof *x * (size_t)(4 * n + 1));
    if (!x) return runtime_error("out of memory");
    double *loss = x + n, *p = x + 2 * n, *ndcg = x + 3 * n;
    for (int i = 0; i < n; i++)
        x[i] = r->curve[i].epoch, loss[i] = r->curve[i].loss, p[i] = r->curve[i].precision,
        ndcg[i] = r->curve[i].ndcg;
    /* a resume with nothing left to train whose last epoch was logged at
     * another k (resume_curve): the final ranking, at --top, is that epoch's */
    if (n > 0 && x[n - 1] == (double)o->epochs && r->has_test && isnan(p[n - 1]))
        p[n - 1] = r->rm.precision, ndcg[n - 1] = r->rm.ndcg;
    /* the titles name the model as matrix factorization's do: file,
     * preset, k, epochs (and the split) */
    char who[512], title[700], pl[32], nl[32];
    snprintf(who, sizeof who, "softmax model%s%s (%s%s%sk %d, %lld epoch%s, split %s)", o->out ? " " : "",
             o->out ? o->out : "", o->preset ? "preset " : "", o->preset ? o->preset : "",
             o->preset ? ", " : "", o->cfg.k, (long long)o->epochs, PL(o->epochs), mfr_split_spec(r->sp));
    snprintf(title, sizeof title, "Training loss of the %s", who);
    struct plot_labels lab = {title, "epoch", "mean cross-entropy (nats)"};
    struct plot_series ls = {.name = "training loss", .y = loss};
    if (rc == EXIT_OK) rc = plot_lines(o->plot, "softmax_loss", &lab, n, x, 1, &ls, false);
    if (rc == EXIT_OK && r->has_test && r->rm.users == 0)
        fprintf(stderr, "%s: note: no softmax_ranking chart: no test user has a relevant movie\n",
                g_cmd);
    else if (rc == EXIT_OK && r->has_test) {
        snprintf(title, sizeof title, "Test ranking of the %s", who);
        snprintf(pl, sizeof pl, "precision@%d", o->top);
        snprintf(nl, sizeof nl, "NDCG@%d", o->top);
        struct plot_labels rl = {title, "epoch", "test metric (relevant: rating >= 4)"};
        struct plot_series rs[2] = {{.name = pl, .y = p}, {.name = nl, .y = ndcg}};
        rc = plot_lines(o->plot, "softmax_ranking", &rl, n, x, 2, rs, false);
    }
    free(x);
    return rc;
}

static int draw_outputs(void *ctx)
{
    return plot_run(ctx);
}

/* After the epochs: the final lines, the model and the logs. */
static int train_finish(struct sm_run *r)
{
    const struct sm_opts *o = r->o;
    int rc = ranking(r);
    if (rc != EXIT_OK) return rc;
    if (o->epochs == 0)
        printf("no epochs: the initial weights (%.2f s)\n", now_seconds() - r->t_start);
    else
        printf("final loss %.6f after %lld epoch%s (%.2f s)\n", mfr_softmax_trainer_last_loss(r->tr),
               (long long)o->epochs, PL(o->epochs), now_seconds() - r->t_start);
    if (r->has_test && r->rm.users > 0)
        printf("test ranking @%d over %lld user%s: precision %.4f recall %.4f NDCG %.4f "
               "(popularity: %.4f %.4f %.4f)\n",
               o->top, (long long)r->rm.users, PL(r->rm.users), r->rm.precision, r->rm.recall, r->rm.ndcg,
               r->rp.precision, r->rp.recall, r->rp.ndcg);
    else if (r->has_test)
        printf("test ranking @%d: n/a (no test user has a relevant movie: a test rating >= 4)\n",
               o->top);
    print_memory_line("parameters, optimizer state, training rows, buffers",
                      mfr_softmax_trainer_memory_bytes(r->tr), mfr_softmax_trainer_peak_bytes(r->tr));
    /* before any file: a stdout that cannot be written (--quiet prints
     * nothing earlier) fails the run with nothing written */
    if ((rc = stdout_flush()) != EXIT_OK) return rc;
    /* the charts, the model and the log, all or none, as matrix
     * factorization's */
    struct train_outputs out = {.model = r->model, .out = o->out, .plot = o->plot, .log_json = o->log_json,
                                .jl = &r->jl, .ctx = r, .draw = draw_outputs};
    rc = train_outputs_commit(&out);
    if (rc != EXIT_OK) return rc;
    /* once the files are written, as matrix factorization's report (also
     * under --quiet): a failed save is not reported as "saved to" */
    if (o->out)
        printf("checksum %016llx, saved to %s\n", (unsigned long long)mfr_model_checksum(r->model),
               printable(o->out));
    else
        printf("checksum %016llx, not saved: the model is discarded (--out MODEL keeps it)\n",
               (unsigned long long)mfr_model_checksum(r->model));
    checkpoint_report(o->checkpoint, o->checkpoint_every, r->ck_epoch, o->epochs);
    stop_signal_note_finished();
    return EXIT_OK;
}

static int run_epochs(struct sm_run *r)
{
    const struct sm_opts *o = r->o;
    r->has_test = mfr_ratings_count(mfr_split_test(r->sp)) > 0;
    if (!o->quiet) {
        printf("softmax model: k %d, %lld parameters, %lld training ratings, split %s\n",
               o->cfg.k, (long long)mfr_softmax_trainer_n_params(r->tr),
               (long long)mfr_ratings_count(mfr_split_train(r->sp)), printable(mfr_split_spec(r->sp)));
        if (o->cfg.label_min_rating > 0)
            printf("labels: the movies each user rated %.9g or more (features: every rated "
                   "movie)\n",
                   (double)(float)o->cfg.label_min_rating); /* the trainer's float threshold */
        if (o->cfg.negatives == MFR_SOFTMAX_NEG_UNRATED)
            printf("negatives: the movies each user did not rate (their other rated movies "
                   "are out of the softmax)\n");
        if (o->cfg.feature_dropout > 0)
            printf("feature dropout: each rated movie is out of its user's features with "
                   "probability %g in each epoch (labels and negatives unchanged)\n",
                   o->cfg.feature_dropout);
        if (r->ck)
            printf("resumed from %s after epoch %lld of %lld\n", printable(o->resume), (long long)r->start,
                   (long long)o->epochs);
    }
    int rc = stdout_flush();
    stop_signals_install();
    if (rc == EXIT_OK) rc = train_epochs(r);
    return rc == EXIT_OK ? train_finish(r) : rc;
}

static int run(const struct sm_opts *o)
{
    mfr_error err = {0};
    struct sm_run r = {.o = o};
    int rc = check_paths(o);
    if (rc != EXIT_OK) return rc;
    if (load_dataset(default_data_dir(o->data), &r.ds, &err) != MFR_OK) return lib_error(&err);
    if (mfr_split_create(r.ds, o->split, o->cfg.seed, &r.sp, &err) != MFR_OK)
        rc = err.status == MFR_ERR_INVALID ? usage_error("--split: %s", err.message)
                                           : lib_error(&err);
    else if (mfr_softmax_trainer_create(&o->cfg, r.ds, mfr_split_train(r.sp), mfr_split_spec(r.sp),
                                        o->threads, &r.tr, &err) != MFR_OK)
        rc = lib_error(&err);
    if (rc == EXIT_OK) rc = run_epochs(&r);
    sm_run_free(&r);
    return rc;
}

/* The logged epochs measured at another k, for resume_curve's note: runs
 * of consecutive logged epochs ("1..3, 9..12"); an epoch drawn between
 * two of them splits the run (one range said 6, drawn, was left out). */
struct other_k {
    char text[160];
    long long n, first, last; /* epochs in all; the open run's ends */
    bool open;
};

static void other_k_close(struct other_k *g)
{
    size_t len = strlen(g->text);
    if (!g->open || len + 1 >= sizeof g->text) return;
    char run[64];
    if (g->first == g->last) snprintf(run, sizeof run, "%lld", g->first);
    else snprintf(run, sizeof run, "%lld..%lld", g->first, g->last);
    /* past its room the list ends in "..." */
    if (len + strlen(run) + 8 < sizeof g->text)
        snprintf(g->text + len, sizeof g->text - len, "%s%s", len ? ", " : "", run);
    else snprintf(g->text + len, sizeof g->text - len, ", ...");
    g->open = false;
}

/* The --plot points of the logged epochs, from the checkpoint's log. An
 * epoch whose metrics were taken at another k than this run's --top
 * keeps its loss and leaves a gap in the ranking chart (whose series are
 * "precision@TOP" and "NDCG@TOP"), with a note. */
static int resume_curve(struct sm_run *r)
{
    const char *p = r->jl.buf, *end = r->jl.buf + r->jl.len;
    struct other_k other = {.n = 0};
    while (p && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        long long e;
        double loss;
        const char *tp = strstr(p, "\"test_precision\":"), *tn = strstr(p, "\"test_ndcg\":");
        const char *top = strstr(p, "\"top\":");
        if (!top || (nl && top > nl)) { /* a step record or an epoch that was not logged */
            p = nl ? nl + 1 : end;
            continue;
        }
        if (sscanf(p, "{\"epoch\":%lld,\"loss\":%lg", &e, &loss) != 2 || !tp || !tn ||
            (nl && (tp > nl || tn > nl)))
            return runtime_error("%s: the checkpoint's log is not a softmax run's",
                                 r->o->resume);
        tp += strlen("\"test_precision\":"), tn += strlen("\"test_ndcg\":");
        double prec = strncmp(tp, "null", 4) ? strtod(tp, NULL) : NAN;
        double ndcg = strncmp(tn, "null", 4) ? strtod(tn, NULL) : NAN;
        const long long k = strtoll(top + strlen("\"top\":"), NULL, 10);
        if (k != r->o->top) prec = ndcg = NAN;
        if (k != r->o->top && e != r->o->epochs) { /* the last epoch: plot_run draws this run's final ranking */
            if (!other.open) other.first = e, other.open = true;
            other.last = e, other.n++;
        } else {
            other_k_close(&other);
        }
        int rc = add_point(r, (struct sm_point){(double)e, loss, prec, ndcg});
        if (rc != EXIT_OK) return rc;
        p = nl ? nl + 1 : end;
    }
    other_k_close(&other);
    if (other.n && r->o->plot)
        fprintf(stderr,
                "%s: note: --plot: the ranking chart leaves out the checkpoint's logged epoch%s %s, "
                "measured at another k than --top %d\n",
                g_cmd, other.n == 1 ? "" : "s", other.text, r->o->top);
    return EXIT_OK;
}

/* --resume: o holds the checkpoint's configuration with the flags given
 * applied over it (resume_opts); the data, the split and a trainer that
 * goes on where the checkpoint stopped. */
static int run_resume(struct sm_opts *o, mfr_checkpoint *ck, const mfr_run_state *run)
{
    mfr_error err = {0};
    struct sm_run r = {.o = o, .ck = ck};
    const mfr_model *m = mfr_checkpoint_model(ck);
    int rc = EXIT_OK;
    if (load_dataset_recorded(o->data ? o->data : model_data_source(m), o->data ? NULL : o->resume, &r.ds, &err) !=
        MFR_OK)
        rc = lib_error(&err);
    else
        rc = check_paths(o); /* the data is an input now known */
    if (rc == EXIT_OK &&
        mfr_split_create(r.ds, o->split ? o->split : mfr_model_split_spec(m), o->cfg.seed, &r.sp,
                         &err) != MFR_OK)
        rc = usage_error("cannot resume from %s: split: %s", o->resume, err.message);
    int st = rc != EXIT_OK ? MFR_OK
                           : mfr_softmax_trainer_resume(ck, &o->cfg, r.ds, mfr_split_train(r.sp),
                                                        mfr_split_spec(r.sp), o->threads, &r.tr,
                                                        &err);
    if (st == MFR_ERR_MISMATCH) rc = usage_error("cannot resume from %s: %s", o->resume, err.message);
    else if (st != MFR_OK) rc = lib_error(&err);
    if (rc == EXIT_OK) {
        r.start = mfr_model_epochs(m);
        if (io_same_file(o->checkpoint, o->resume)) r.ck_epoch = r.start; /* until one is written */
        r.elapsed0 = run->elapsed_s;
        r.train_s = run->train_s;
        rc = resume_log_append(&r.jl, o->resume, run);
    }
    if (rc == EXIT_OK && o->plot) rc = resume_curve(&r);
    if (rc == EXIT_OK) rc = run_epochs(&r);
    sm_run_free(&r); /* destroys ck */
    return rc;
}
/* The flags of `train --kind softmax` (and, less --out and --log-every,
 * of `eval --folds --kind softmax`) into out; returns how many. */
/* The flags only `train --kind softmax` has, appended at out. */
static size_t softmax_train_flags(struct sm_opts *o, struct flag_spec *out)
{
    const struct flag_spec train_only[] = {
        {.name = "--split", .value = "SPEC", .kind = FLAG_STR, .dst = &o->split,
         .help = "as for matrix factorization (default sklearn:300)"},
        {.name = "--log-every", .value = "N", .kind = FLAG_I64, .dst = &o->log_every, .lo = 0,
         .hi = INT64_MAX,
         .help = "print loss and test metrics every N epochs (default 10;\n"
                 "0: only the first and the last)"},
        {.name = "--out", .value = "FILE", .kind = FLAG_STR, .dst = &o->out,
         .help = "write the model here (--epochs 0: the initial weights)"},
        {.name = "--quiet", .kind = FLAG_SWITCH, .dst = &o->quiet,
         .help = "print only the final lines"},
        {.name = "--log-json", .value = "FILE", .kind = FLAG_STR, .dst = &o->log_json,
         .help = "JSON Lines: every optimizer step's loss, each epoch's mean\n"
                 "loss and seconds, and at logged epochs the test metrics"},
        {.name = "--plot", .value = "DIR", .kind = FLAG_STR, .dst = &o->plot,
         .help = "draw the training loss and the test ranking against the\n"
                 "epoch into DIR (gnuplot: softmax_loss, softmax_ranking)"},
        {.name = "--checkpoint", .value = "FILE", .kind = FLAG_STR, .dst = &o->checkpoint,
         .help = "write the whole training state to FILE every\n--checkpoint-every "
                 "epochs and on SIGINT/SIGTERM (atomically)"},
        {.name = "--checkpoint-every", .value = "N", .kind = FLAG_I64, .dst = &o->checkpoint_every,
         .lo = 1, .hi = 1000000000, .help = "epochs between checkpoints (default 100)"},
        {.name = "--resume", .value = "FILE", .kind = FLAG_STR, .dst = &o->resume,
         .help = "continue the run saved in checkpoint FILE: its configuration,\n"
                 "data and split; flags beside it may change --threads,\n"
                 "--max-memory, --kernels, --epochs (not below the epochs\n"
                 "done), the logging and the outputs"},
    };
    memcpy(out, train_only, sizeof train_only);
    return sizeof train_only / sizeof *train_only;
}

/* The flags only `eval --folds --kind softmax` has, appended at out. */
static size_t softmax_folds_flags(struct sm_opts *o, struct flag_spec *out)
{
    const struct flag_spec folds_only[] = {
        {.name = "--folds", .kind = FLAG_SWITCH, .dst = &o->folds,
         .help = "train and evaluate on u1..u5 (required)"},
        {.name = "--baseline", .value = "ease[:LAMBDA]", .kind = FLAG_CUSTOM,
         .dst = &o->ease, .parse = parse_baseline,
         .help = "also rank with EASE (as for matrix factorization)"},
        {.name = "--json", .kind = FLAG_SWITCH, .dst = &o->json,
         .help = "one JSON object on stdout instead of the tables"},
        /* as in `eval`; not in training, where k would read as the dimension */
        LIST_LENGTH_ALIAS_ROWS(&o->top, 100000),
    };
    memcpy(out, folds_only, sizeof folds_only);
    return sizeof folds_only / sizeof *folds_only;
}

/* --feature-dropout P: a probability below 1 (a decimal number; the
 * library refuses the same values, this names the flag). */
static bool parse_dropout(const char *flag, const char *value, void *dst)
{
    double v;
    if (decimal_underflows(value)) {
        usage_error("%s must be a number at least 0 and below 1, got '%s', which is too small for a double "
                    "(it underflows to 0)",
                    flag, value);
        return false;
    }
    if (!decimal_value(value, &v) || v < 0 || v >= 1) {
        usage_error("%s must be a number at least 0 and below 1, got '%s'", flag, value);
        return false;
    }
    *(double *)dst = v;
    return true;
}

static size_t softmax_flags(struct sm_opts *o, bool train, struct flag_spec *out)
{
    mfr_softmax_config *c = &o->cfg;
    const struct flag_spec common[] = {
        {.name = "--kind", .value = "softmax", .kind = FLAG_STR, .dst = &o->kind,
         .help = "the softmax model (mf: matrix factorization, the default)"},
        {.name = "--preset", .value = "softmax", .kind = FLAG_STR, .dst = &o->preset,
         .help = "the best settings found (docs/SOFTMAX.md): --all-pairs\n"
                 "--optimizer adam --lr 0.003 --batch-users 16 --hidden-init he\n"
                 "--hidden none --weight-decay 0.1 --min-label-rating 4\n"
                 "--negatives unrated --feature-dropout 0.3 --epochs 48;\n"
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
         .hi = 4096, .help = "genre embedding width (default 3; with genres in\n--features)"},
        {.name = "--dim-year", .value = "N", .kind = FLAG_I32, .dst = &c->dim_year, .lo = 1,
         .hi = 4096, .help = "release-year embedding width (default 2; with\nyears in --features)"},
        {.name = "--hidden-init", .value = "colab|he", .kind = FLAG_STR, .dst = &o->hidden_init,
         .help = "MLP weights: N(0, 1/out)/10 (the Colab's, default) or\nHe's N(0, 2/in)"},
        {.name = "--optimizer", .value = "adagrad|adam", .kind = FLAG_STR, .dst = &o->optimizer,
         .help = "TF1's Adagrad, the Colab's (default), or Adam"},
        {.name = "--lr", .value = "X", .kind = FLAG_DOUBLE, .dst = &c->lr, .min = 1e-12,
         .max = 1e6, .help = "learning rate (default 0.1)"},
        {.name = "--batch-users", .value = "N", .kind = FLAG_I32, .dst = &c->batch_users, .lo = 0,
         .hi = INT32_MAX, .help = "users per step, fixed groups in a seeded order;\n0: one "
                                  "full-batch step per epoch (default 0)"},
        {.name = "--tie", .kind = FLAG_SWITCH, .dst = &o->tie,
         .help = "the movie input table is V, the output table (the Colab's\n"
                 "tied embeddings; --dim-movie is --dim)"},
        {.name = "--weight-decay", .value = "X", .kind = FLAG_DOUBLE, .dst = &c->weight_decay,
         .min = 0, .max = 1e6,
         .help = "decoupled weight decay (AdamW's): each step scales every\n"
                 "parameter by 1 - lr X first (default 0)"},
        {.name = "--all-pairs", .kind = FLAG_SWITCH, .dst = &o->all_pairs,
         .help = "every leave-one-out pair each epoch (default: one label per user)"},
        {.name = "--min-label-rating", .value = "R", .kind = FLAG_DOUBLE,
         .dst = &c->label_min_rating, .min = 0, .max = 1e9,
         .help = "labels only from movies the user rated R or more (every\n"
                 "rated movie stays a feature); 0: all (default 0)"},
        {.name = "--negatives", .value = "all|unrated", .kind = FLAG_STR, .dst = &o->negatives,
         .help = "what each softmax normalizes over: every movie (the\n"
                 "Colab's, default) or the movies the user did not rate (the\n"
                 "user's other rated movies are not negatives)"},
        {.name = "--feature-dropout", .value = "P", .kind = FLAG_CUSTOM,
         .dst = &c->feature_dropout, .parse = parse_dropout,
         .help = "input dropout: in each epoch each rated movie is left out\n"
                 "of its user's features with probability P, 0 <= P < 1\n"
                 "(labels and negatives unchanged; nothing is dropped at\n"
                 "inference); 0: off (default 0)"},
        {.name = "--seed", .value = "S", .kind = FLAG_U64, .dst = &c->seed,
         .help = "initialization, labels, batch order and split seed (default 300)"},
        {.name = "--shards", .value = "N", .kind = FLAG_I32, .dst = &c->n_shards, .lo = 1,
         .hi = 4096,
         .help = "refused: the steps are not sharded; on --resume (an older\n"
                 "checkpoint records a count) noted and ignored"},
        {.name = "--threads", .value = "N", .kind = FLAG_THREADS, .dst = &o->threads,
         .help = "threads (default OMP_NUM_THREADS, else the cores)"},
        {.name = "--max-memory", .value = "SIZE", .kind = FLAG_CUSTOM, .dst = &c->max_memory,
         .parse = parse_size_flag,
         .help = "memory the run may use, such as 512M, checked before\n"
                 "training (and, under eval --folds, EASE's with\n"
                 "--baseline); default: the physical memory"},
        {.name = "--kernels", .value = "auto|ref|avx2|avx512", .kind = FLAG_STR, .dst = &o->kernels,
         .help = "kernel set (the same bits); auto: AVX-512 where the CPU\n"
                 "has it, else AVX2, else ref (default auto)"},
        {.name = "--top", .value = "N", .kind = FLAG_I32, .dst = &o->top, .lo = 1, .hi = 100000,
         .help = "k of the ranking metrics (default 10; under eval\n"
                 "--folds -k N and --k N are aliases, as in eval)"},
    };
    size_t n = sizeof common / sizeof *common;
    memcpy(out, common, sizeof common);
    return n + (train ? softmax_train_flags(o, out + n) : softmax_folds_flags(o, out + n));
}

enum { SM_MAX_FLAGS = 40 };

/* The best five-fold settings found (docs/SOFTMAX.md, round 2, session
 * 18: no hidden layer, weight decay 0.1, and session 19: labels from
 * movies rated 4 or more, the ratings the ranking counts as relevant, and
 * session 23: softmaxes over the movies a user did not rate, and session
 * 24: feature dropout 0.3 over 48 epochs). */
void softmax_preset_apply(mfr_softmax_config *c)
{
    c->optimizer = MFR_SOFTMAX_OPT_ADAM;
    c->lr = 0.003;
    c->batch_users = 16;
    c->hidden_init = MFR_SOFTMAX_INIT_HE;
    c->weight_decay = 0.1;
    c->n_hidden = 0;
    c->all_pairs = 1;
    c->label_min_rating = 4.0;
    c->negatives = MFR_SOFTMAX_NEG_UNRATED;
    c->feature_dropout = 0.3; /* session 24: a third of the features left out each epoch */
}

/* Defaults (or, on --resume, the checkpoint's configuration `base` with
 * the run options unset, -1 or NULL, to be taken from the checkpoint when
 * no flag gives them), then --preset softmax when argv has it (flags
 * override it). */
static void softmax_opts_init(struct sm_opts *o, int argc, char **argv,
                              const mfr_softmax_config *base)
{
    *o = (struct sm_opts){.kind = "softmax", .split = "sklearn:300", .epochs = 100,
                          .log_every = 10, .checkpoint_every = 100, .top = 10};
    mfr_softmax_config_default(&o->cfg);
    if (base) {
        o->cfg = *base;
        o->all_pairs = base->all_pairs;
        o->tie = base->tie_tables;
        o->split = NULL;
        o->epochs = o->log_every = o->checkpoint_every = -1;
    }
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--dim-movie") || !strncmp(argv[i], "--dim-movie=", 12))
            o->dim_movie_given = true;
    for (int i = 0; i < argc; i++)
        if ((!strcmp(argv[i], "--preset") && i + 1 < argc && !strcmp(argv[i + 1], "softmax")) ||
            !strcmp(argv[i], "--preset=softmax")) {
            softmax_preset_apply(&o->cfg);
            o->all_pairs = true;
            if (!base) o->epochs = 48;
        }
}

/* --resume: the checkpoint's configuration and run options with the flags
 * of argv applied over them into o (a second parse of argv), then the
 * run. Flags that change results must restate the checkpoint's values
 * (mfr_softmax_trainer_resume names each difference). */
static int resume_command(int argc, char **argv, const char *path)
{
    mfr_error err = {0};
    mfr_checkpoint *ck = NULL;
    /* noted before it is read: standard error on it (`2>> ck`) took its
     * load error or the notes below (--shards) before check_paths */
    if (io_input(path) != EXIT_OK) return EXIT_RUNTIME;
    if (mfr_checkpoint_load(path, &ck, &err) != MFR_OK) return lib_error(&err);
    const mfr_model *m = mfr_checkpoint_model(ck);
    mfr_softmax_config base;
    if (mfr_model_softmax_config(m, &base, NULL) != MFR_OK) {
        mfr_checkpoint_destroy(ck);
        return usage_error("cannot resume from %s with --kind softmax: it is a checkpoint of a "
                           "matrix factorization run", path);
    }
    mfr_run_state run;
    MFR_CLI_ASSERT(mfr_checkpoint_run(ck, &run, NULL) == MFR_OK);
    struct sm_opts o;
    softmax_opts_init(&o, argc, argv, &base);
    struct flag_spec flags[SM_MAX_FLAGS];
    size_t n_flags = softmax_flags(&o, true, flags);
    struct command_spec cmd = {.name = "mfrec train", .help = softmax_help,
                               .help_end = softmax_train_help_end, .help_width = 22, .flags = flags,
                               .n_flags = n_flags, .data_flags = true};
    int rc = EXIT_OK;
    int64_t done = mfr_model_epochs(m);
    if (!cli_start(&cmd, argc, argv, &rc) || (rc = check_opts(&o)) != EXIT_OK) {
        mfr_checkpoint_destroy(ck);
        return rc;
    }
    if (o.epochs >= 0 && o.epochs < done) {
        mfr_checkpoint_destroy(ck);
        return usage_error("cannot resume from %s: --epochs %lld is fewer than the %lld epoch%s "
                           "already done", path, (long long)o.epochs, (long long)done, PL(done));
    }
    /* The library keeps the checkpoint's shard count (it changes nothing
     * for this trainer); say so rather than drop the flag silently. */
    if (o.cfg.n_shards != base.n_shards)
        fprintf(stderr,
                "%s: note: --shards %d is ignored on resume: it changes nothing for --kind "
                "softmax, and the model keeps the checkpoint's shard count\n",
                g_cmd, (int)o.cfg.n_shards);
    if (o.epochs < 0) o.epochs = run.epochs;
    if (o.log_every < 0) o.log_every = run.log_every;
    if (o.checkpoint_every < 0) o.checkpoint_every = run.checkpoint_every;
    rc = resume_checkpoint_every_check(path, o.checkpoint_every);
    if (rc != EXIT_OK) {
        mfr_checkpoint_destroy(ck);
        return rc;
    }
    if (!o.checkpoint) o.checkpoint = o.resume;
    return run_resume(&o, ck, &run);
}

int cmd_train_softmax(int argc, char **argv)
{
    struct sm_opts o;
    softmax_opts_init(&o, argc, argv, NULL);
    struct flag_spec flags[SM_MAX_FLAGS];
    size_t n_flags = softmax_flags(&o, true, flags);
    struct command_spec cmd = {.name = "mfrec train", .help = softmax_help,
                               .help_end = softmax_train_help_end, .help_width = 22, .flags = flags,
                               .n_flags = n_flags, .data_flags = true};
    const char *mf = mf_flag_given(argc, argv, flags, n_flags);
    if (mf) {
        g_cmd = "mfrec train";
        return usage_error("%s does not apply to --kind softmax", mf);
    }
    int rc;
    if (!cli_start(&cmd, argc, argv, &rc)) return rc;
    if (o.resume) return resume_command(argc, argv, o.resume);
    if ((rc = check_opts(&o)) != EXIT_OK) return rc;
    return run(&o);
}

/* The value of flag `name` in argv ("NAME X" or "NAME=X"; the last one
 * given), or NULL: read before the flags are parsed, to route the command. */
static const char *argv_value(int argc, char **argv, const char *name)
{
    size_t n = strlen(name);
    const char *v = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], name) && i + 1 < argc) v = argv[i + 1];
        else if (!strncmp(argv[i], name, n) && argv[i][n] == '=') v = argv[i] + n + 1;
    }
    return v;
}

static const char *kind_value(int argc, char **argv) { return argv_value(argc, argv, "--kind"); }
static const char *preset_value(int argc, char **argv) { return argv_value(argc, argv, "--preset"); }

bool train_kind_is_softmax(int argc, char **argv)
{
    const char *kind = kind_value(argc, argv), *preset = preset_value(argc, argv);
    return (kind && !strcmp(kind, "softmax")) || (preset && !strcmp(preset, "softmax"));
}

const char *train_resumes_softmax(int argc, char **argv)
{
    const char *ck = argv_value(argc, argv, "--resume");
    int32_t kind = 0;
    return ck && !kind_value(argc, argv) && mfr_checkpoint_kind(ck, &kind, NULL) == MFR_OK &&
                   kind == MFR_MODEL_KIND_SOFTMAX
               ? ck
               : NULL;
}

/* The softmax model's own flags, which a matrix-factorization train or
 * eval refuses by name (`--top` too for train: eval has its own). */
static const char *const softmax_only[] = {"--hidden",       "--features",    "--dim-movie",
                                           "--dim-genre",    "--dim-year",    "--batch-users",
                                           "--all-pairs",    "--tie",         "--weight-decay",
                                           "--hidden-init",  "--min-label-rating",
                                           "--negatives",    "--feature-dropout", "--top"};
enum { N_SOFTMAX_ONLY = sizeof softmax_only / sizeof *softmax_only };

/* A usage error (true, *rc set) when argv gives one of the softmax flags
 * to command cmd of kind mf; n: how many of the list apply; folds: the
 * command trains (train, eval --folds), else it reads a saved model,
 * whose kind its file records (--help is left to the command). */
static bool refuse_softmax_flags(const char *cmd, int argc, char **argv, size_t n, bool folds,
                                 int *rc)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return false;
    const char *given = cli_first_named_flag(argc, argv, softmax_only, n);
    if (!given) return false;
    g_cmd = cmd;
    *rc = folds ? usage_error("%s applies to --kind softmax only", given)
                : usage_error("%s is a softmax training flag, only used with --folds --kind "
                              "softmax (a saved model records how it was trained)",
                              given);
    return true;
}

bool train_kind_route(int argc, char **argv, int *rc)
{
    if (train_kind_is_softmax(argc, argv) || train_resumes_softmax(argc, argv)) {
        *rc = cmd_train_softmax(argc, argv);
        return true;
    }
    /* --resume with a softmax flag, of a checkpoint not read as softmax:
     * one that cannot be read (missing, truncated, corrupt) gets its own
     * error, not the flag's refusal as if it were a matrix-factorization
     * run's */
#ifndef MFR_CLI_PARSE_ONLY /* fuzz/fuzz_cli.c: parsing reads no file */
    const char *ck = argv_value(argc, argv, "--resume");
    mfr_checkpoint *c = NULL;
    mfr_error err = {0};
    if (ck && !kind_value(argc, argv) && cli_first_named_flag(argc, argv, softmax_only, N_SOFTMAX_ONLY) &&
        mfr_checkpoint_load(ck, &c, &err) != MFR_OK) {
        g_cmd = "mfrec train";
        *rc = lib_error(&err);
        return true;
    }
    mfr_checkpoint_destroy(c);
#endif
    return refuse_softmax_flags("mfrec train", argc, argv, N_SOFTMAX_ONLY, true, rc);
}

bool parse_kind_mf(const char *flag, const char *value, void *dst)
{
    /* softmax: an earlier --kind that a later --kind mf overrides (the
     * last one routed the command here) */
    if (!strcmp(value, "mf") || !strcmp(value, "softmax")) return true;
    usage_error("%s: expected mf or softmax, got '%s'", flag, value);
    (void)dst;
    return false;
}

/* ------------------------------------------------------------------ */
/* mfrec eval --folds --kind softmax                                    */
/* ------------------------------------------------------------------ */

static const char softmax_folds_help[] =
    "Usage: mfrec eval --folds --kind softmax [--data DIR] [--top N] [softmax training flags]\n"
    "                  [--baseline ease[:LAMBDA]] [--json]\n"
    "\n"
    "Trains the softmax model on each canonical ML-100K fold uN.base (N = 1..5)\n"
    "and prints its ranking metrics on uN.test beside the popularity baseline,\n"
    "then their mean and sample standard deviation (definitions: mfrec eval\n"
    "--help). A softmax model predicts no ratings: there are no RMSE/MAE rows.\n"
    "A fold without a relevant test rating is left out of the mean and std,\n"
    "as mfrec eval --folds says (\"ranked_folds\" in --json).\n"
    "\n";

enum { N_SM_FOLDS = 5 };

/* One fold's rankings: the model's, popularity's and (with --baseline)
 * EASE's, and its training time. */
struct sm_fold {
    mfr_ranking rm, rp, re;
    int64_t n_train, n_test;
    double seconds;
};

static int run_softmax_fold(const struct sm_opts *o, const mfr_dataset *ds, int fold,
                            struct sm_fold *out)
{
    char spec[8];
    snprintf(spec, sizeof spec, "u%d", fold);
    mfr_error err = {0};
    mfr_split *sp = NULL;
    mfr_softmax_trainer *tr = NULL;
    mfr_model *m = NULL;
    int rc = EXIT_OK;
    double t0 = now_seconds();
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
                                            &out->rm, &out->rp, &err) != MFR_OK))
        rc = runtime_error("fold %s: %s", spec, err.message);
    if (rc == EXIT_OK && o->ease.lambda > 0)
        rc = ease_ranking(&o->ease, mfr_split_train(sp), mfr_split_test(sp),
                          mfr_model_n_users(m), mfr_model_n_items(m), o->top, &out->re);
    if (rc == EXIT_OK) {
        out->n_train = mfr_ratings_count(mfr_split_train(sp));
        out->n_test = mfr_ratings_count(mfr_split_test(sp));
        out->seconds = now_seconds() - t0;
    }
done:
    mfr_model_destroy(m);
    mfr_softmax_trainer_destroy(tr);
    mfr_split_destroy(sp);
    return rc;
}

/* The summarized values, in table order; the EASE ones only with --baseline. */
enum { SM_P, SM_R, SM_NDCG, SM_COV, SM_POP_P, SM_POP_R, SM_POP_NDCG, SM_POP_COV,
       SM_EASE_P, SM_EASE_R, SM_EASE_NDCG, SM_EASE_COV, SM_N };
/* ranking_values writes, and json_ranking_summary reads, each ranker's four
 * metrics side by side */
_Static_assert(SM_POP_P == SM_P + N_RANKING_METRICS && SM_EASE_P == SM_POP_P + N_RANKING_METRICS &&
                   SM_N == SM_EASE_P + N_RANKING_METRICS && SM_R == SM_P + 1 && SM_NDCG == SM_P + 2 &&
                   SM_COV == SM_P + 3,
               "the SM_ metrics in json_ranking_summary's order");

/* One cell: the value, or n/a (no test user with a relevant movie). */
static void sm_print_cell(double v)
{
    if (isfinite(v)) printf(" %9.4f", v);
    else printf(" %9s", "n/a");
}

static void sm_print_fold_line(const char *name, const double *v, bool ease)
{
    static const int cols[] = {SM_P, SM_R, SM_NDCG, SM_POP_P, SM_POP_R, SM_POP_NDCG, SM_EASE_P, SM_EASE_R,
                               SM_EASE_NDCG};
    printf("%-5s", name);
    for (int c = 0; c < (ease ? 9 : 6); c++) sm_print_cell(v[cols[c]]);
    putchar('\n');
}

/* The shape of `mfrec eval --folds --json` (matrix factorization), with
 * the softmax configuration and no rating metrics. */
static void sm_json(const struct sm_opts *o, const char *dir, const struct sm_fold *fr, const bool *ranked,
                    const double *mean, const double *sd)
{
    const bool ease = o->ease.lambda > 0;
    char hidden[64] = "";
    for (int l = 0; l < o->cfg.n_hidden; l++)
        snprintf(hidden + strlen(hidden), sizeof hidden - strlen(hidden), "%s%d", l ? "," : "",
                 (int)o->cfg.hidden[l]);
    char lr[32], wd[32], lm[32], fd[32];
    fputs("{\"kind\":\"softmax\",\"data\":", stdout);
    json_str(dir);
    printf(",\"dim\":%d,\"hidden\":\"%s\",\"features\":\"movies%s%s\",\"optimizer\":\"%s\",\"lr\":%s,"
           "\"batch_users\":%d,\"all_pairs\":%s,\"tie_tables\":%s,\"weight_decay\":%s,"
           "\"min_label_rating\":%s,\"negatives\":\"%s\",\"feature_dropout\":%s,"
           "\"hidden_init\":\"%s\",\"epochs\":%lld,"
           "\"seed\":%llu,\"top\":%d",
           (int)o->cfg.k, o->cfg.n_hidden ? hidden : "none", o->cfg.features & MFR_SOFTMAX_FEAT_GENRES ? ",genres" : "",
           o->cfg.features & MFR_SOFTMAX_FEAT_YEARS ? ",years" : "",
           o->cfg.optimizer == MFR_SOFTMAX_OPT_ADAM ? "adam" : "adagrad", num_exact(o->cfg.lr, lr),
           (int)o->cfg.batch_users, o->cfg.all_pairs ? "true" : "false",
           o->cfg.tie_tables ? "true" : "false", num_exact(o->cfg.weight_decay, wd),
           num_exact(o->cfg.label_min_rating, lm), o->cfg.negatives == MFR_SOFTMAX_NEG_UNRATED ? "unrated" : "all",
           num_exact(o->cfg.feature_dropout, fd), o->cfg.hidden_init == MFR_SOFTMAX_INIT_HE ? "he" : "colab", (long long)o->epochs,
           (unsigned long long)o->cfg.seed, (int)o->top);
    /* the features' embedding widths, as the table's header names them
     * (the movies' is k with tied tables) */
    printf(",\"feature_widths\":{\"movies\":%d", (int)(o->cfg.tie_tables ? o->cfg.k : o->cfg.dim_movie));
    if (o->cfg.features & MFR_SOFTMAX_FEAT_GENRES) printf(",\"genres\":%d", (int)o->cfg.dim_genre);
    if (o->cfg.features & MFR_SOFTMAX_FEAT_YEARS) printf(",\"years\":%d", (int)o->cfg.dim_year);
    putchar('}');
    if (ease) ease_baseline_json(&o->ease);
    fputs(",\"folds\":[", stdout);
    for (int f = 0; f < N_SM_FOLDS; f++) {
        printf("%s{\"fold\":\"u%d\",\"train_ratings\":%lld,\"test_ratings\":%lld,",
               f ? "," : "", f + 1, (long long)fr[f].n_train, (long long)fr[f].n_test);
        json_rankings((const mfr_ranking *const[N_RANKERS]){&fr[f].rm, &fr[f].rp, ease ? &fr[f].re : NULL});
        printf(",\"seconds\":%.3f}", fr[f].seconds);
    }
    putchar(']');
    json_ranked_folds(ranked, N_SM_FOLDS);
    for (int pass = 0; pass < 2; pass++) {
        fputs(pass ? "},\"std\":{" : ",\"mean\":{", stdout);
        json_ranking_summary(pass ? sd : mean, ease ? N_RANKERS : N_RANKERS - 1);
    }
    fputs("}}\n", stdout);
}

/* The table's header: every setting that changes the folds' results, as
 * the JSON records them, so that runs that differ say so (weight decay,
 * the hidden layers, their initialization, the features and their widths
 * and the seed were left out). */
static void sm_print_header(const struct sm_opts *o)
{
    const mfr_softmax_config *c = &o->cfg;
    printf("softmax folds u1..u%d: k %d, ", N_SM_FOLDS, c->k);
    if (c->n_hidden == 0) fputs("no hidden layer", stdout);
    for (int l = 0; l < c->n_hidden; l++) printf("%s%d", l ? "," : "hidden ", (int)c->hidden[l]);
    if (c->n_hidden > 0 && c->hidden_init == MFR_SOFTMAX_INIT_HE) fputs(" (He init)", stdout);
    printf(", feature widths movies %d", (int)(c->tie_tables ? c->k : c->dim_movie));
    if (c->features & MFR_SOFTMAX_FEAT_GENRES) printf(", genres %d", (int)c->dim_genre);
    if (c->features & MFR_SOFTMAX_FEAT_YEARS) printf(", years %d", (int)c->dim_year);
    printf(", %lld epoch%s, %s lr %g, batch users %d%s%s", (long long)o->epochs, PL(o->epochs),
           c->optimizer == MFR_SOFTMAX_OPT_ADAM ? "Adam" : "Adagrad", c->lr, c->batch_users,
           c->all_pairs ? ", all pairs" : "", c->tie_tables ? ", tied tables" : "");
    if (c->weight_decay > 0) printf(", weight decay %g", c->weight_decay);
    if (c->label_min_rating > 0) printf(", labels rated %.9g or more", (double)(float)c->label_min_rating);
    if (c->negatives == MFR_SOFTMAX_NEG_UNRATED) fputs(", negatives: unrated movies", stdout);
    if (c->feature_dropout > 0) printf(", feature dropout %g", c->feature_dropout);
    printf(", seed %llu, top %d\n", (unsigned long long)c->seed, o->top);
}

static int softmax_folds(const struct sm_opts *o)
{
    mfr_error err = {0};
    mfr_dataset *ds = NULL;
    const bool ease = o->ease.lambda > 0;
    if (load_dataset(default_data_dir(o->data), &ds, &err) != MFR_OK) return lib_error(&err);
    int frc = io_check_fold_files(default_data_dir(o->data), N_SM_FOLDS);
    if (frc == EXIT_OK) frc = ease_fits_memory(&o->ease, mfr_dataset_n_items(ds), o->cfg.max_memory);
    if (frc != EXIT_OK) {
        mfr_dataset_destroy(ds);
        return frc;
    }
    if (!o->json) {
        sm_print_header(o);
        if (ease) ease_baseline_say(&o->ease, "each uN.base");
        printf("%-5s %9s %9s %9s %9s %9s %9s", "fold", "P", "R", "NDCG", "pop P", "pop R",
               "pop NDCG");
        printf(ease ? " %9s %9s %9s\n" : "\n", "EASE P", "EASE R", "EASE NDCG");
    }
    struct sm_fold fr[N_SM_FOLDS];
    double v[N_SM_FOLDS][SM_N];
    int rc = EXIT_OK;
    for (int f = 0; f < N_SM_FOLDS && rc == EXIT_OK; f++) {
        memset(&fr[f], 0, sizeof fr[f]);
        if ((rc = run_softmax_fold(o, ds, f + 1, &fr[f])) != EXIT_OK) break;
        ranking_values((const mfr_ranking *const[N_RANKERS]){&fr[f].rm, &fr[f].rp, &fr[f].re}, v[f] + SM_P);
        if (o->json) continue;
        char name[8];
        snprintf(name, sizeof name, "u%d", f + 1);
        sm_print_fold_line(name, v[f], ease);
        rc = stdout_flush();
    }
    if (rc == EXIT_OK) {
        double mean[SM_N], sd[SM_N];
        bool ranked[N_SM_FOLDS];
        char note[160];
        for (int f = 0; f < N_SM_FOLDS; f++) ranked[f] = fr[f].rm.users > 0;
        for (int x = 0; x < SM_N; x++) mean_std((const double *)v + x, N_SM_FOLDS, SM_N, &mean[x], &sd[x]);
        folds_ranked_note(ranked, N_SM_FOLDS, note, sizeof note);
        if (o->json) {
            sm_json(o, data_name(ds), fr, ranked, mean, sd);
        } else {
            sm_print_fold_line("mean", mean, ease);
            sm_print_fold_line("std", sd, ease);
            /* a line of its own, as eval's MF summary words it: the note
             * carries its own parentheses (the folds left out) */
            if (*note) printf("mean and std %s\n", note);
        }
    }
    mfr_dataset_destroy(ds);
    return rc;
}

bool eval_kind_route(int argc, char **argv, int *rc)
{
    const char *kind = kind_value(argc, argv), *preset = preset_value(argc, argv);
    bool folds = false, help = false;
    for (int i = 0; i < argc; i++) {
        folds |= !strcmp(argv[i], "--folds");
        help |= !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h");
    }
    if (!(kind && !strcmp(kind, "softmax")) && !(preset && !strcmp(preset, "softmax")))
        return refuse_softmax_flags("mfrec eval", argc, argv, N_SOFTMAX_ONLY - 1, folds, rc);
    struct sm_opts o;
    softmax_opts_init(&o, argc, argv, NULL);
    struct flag_spec flags[SM_MAX_FLAGS];
    size_t n_flags = softmax_flags(&o, false, flags);
    struct command_spec cmd = {.name = "mfrec eval", .help = softmax_folds_help,
                               .help_end = softmax_help_end, .help_width = 22, .flags = flags,
                               .n_flags = n_flags, .data_flags = true};
    if (!folds && !help) { /* one model: its file records its kind (before "unknown option --model") */
        g_cmd = "mfrec eval";
        *rc = usage_error("%s is a training flag, only used with --folds (a saved model records its kind)",
                          kind ? "--kind" : "--preset");
        return true;
    }
    const char *mf = mf_flag_given(argc, argv, flags, n_flags);
    if (mf) {
        g_cmd = "mfrec eval";
        *rc = usage_error("%s does not apply to --kind softmax", mf);
        return true;
    }
    g_cmd = "mfrec eval";
    if ((*rc = eval_refuse_train_run_flags(argc, argv)) != EXIT_OK) return true;
    if (!cli_start(&cmd, argc, argv, rc)) return true;
    if ((*rc = check_opts(&o)) != EXIT_OK) return true;
    *rc = softmax_folds(&o);
    return true;
}
