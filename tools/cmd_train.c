/*
 * cmd_train.c — `mfrec train`: the training loop around the library's
 * trainer, logging, the progress bar and the final report.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
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
#include "dist.h"
#include "output.h"
#include "plot.h"

/* ------------------------------------------------------------------ */
/* mfrec train                                                          */
/* ------------------------------------------------------------------ */

static const char train_help[] =
    "Usage: mfrec train [options]\n"
    "\n"
    "Trains U·Vᵀ on the training part of a split with full-batch Adam (or\n"
    "gradient descent, or alternating least squares) and prints train/validation\n"
    "MSE every --log-every epochs.\n"
    "\n"
    "Presets (flags given beside a preset override it; with another --optimizer,\n"
    "the preset's values for its own optimizer, and with als the terms ALS does\n"
    "not minimize, are left out, with a note, but --optimizer sgd keeps a\n"
    "preset's --lr, tuned for Adam, as its step, noted):\n"
    "  --preset NAME        notebook (default): the teaching notebook's experiment\n"
    "                       accurate: biased MF tuned for test RMSE (see README)\n"
    "                       ndcg: gravity-regularized, tuned for NDCG@10 (see README)\n"
    "                       fast: ALS for large data, tuned for time to accuracy\n";

static const char train_help_end[] =
    "\n"
    "Resuming (docs/CHECKPOINTS.md): --resume FILE takes the configuration, the\n"
    "data directory, the split, --epochs, --early-stop, --log-every,\n"
    "--checkpoint-every and --no-train-eval from the checkpoint, and keeps\n"
    "checkpointing to FILE unless --checkpoint is given. Flags given beside it\n"
    "may change only what never changes the result: --threads, --max-memory,\n"
    "--kernels, --data (the same data elsewhere), the output and logging flags\n"
    "(--out, --log-json, --plot, --quiet, --log-every, --no-train-eval: from\n"
    "the resume on; a run begun with it keeps it), --checkpoint,\n"
    "--checkpoint-every, and --epochs to extend the run; a flag restating the\n"
    "checkpoint's value (or the shard count and reduction it derived) is no\n"
    "difference. Any other difference is refused, naming them (the first\n"
    "ones, and how many more). The final model file is byte-identical to an\n"
    "uninterrupted run's, for any thread count before and after; so is\n"
    "--log-json, but for its times (elapsed_s, wall_s and the timing record).\n"
    "\n"
    "SIGINT or SIGTERM: the current epoch finishes, a checkpoint is written\n"
    "(with --checkpoint) and mfrec exits with status 3; a second signal exits\n"
    "at once (status 128 + signal) without writing anything.\n"
    "\n"
    "Exit status: 0 ok, 1 runtime error, 2 usage error, 3 interrupted.\n";

static void progress_draw(int64_t epoch, int64_t epochs, double loss, double ms_per_epoch)
{
    const int width = 30;
    int filled = epochs ? (int)(width * epoch / epochs) : width;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\r[%s] epoch %lld/%lld  loss %.4f  %.3f ms/epoch ", bar, (long long)epoch,
            (long long)epochs, loss, ms_per_epoch);
    fflush(stderr);
}

/* --init-from U.npy,V.npy: *upath (a new string) and *vpath (in spec);
 * a usage error unless spec names two files (a third one was read as part
 * of V's name: "cannot open b,c"). */
static int init_from_paths(const char *spec, char **upath, const char **vpath)
{
    const char *comma = strchr(spec, ',');
    if (!comma || comma == spec || !comma[1])
        return usage_error("--init-from must be U.npy,V.npy, got '%s'", spec);
    if (strchr(comma + 1, ','))
        return usage_error("--init-from takes two files, U.npy,V.npy, got more: '%s'", spec);
    *upath = strndup(spec, (size_t)(comma - spec));
    *vpath = comma + 1;
    return *upath ? EXIT_OK : runtime_error("out of memory");
}

static int load_init_from(mfr_trainer *tr, const char *spec)
{
    char *upath = NULL;
    const char *vpath = NULL;
    int rc = init_from_paths(spec, &upath, &vpath);
    if (rc != EXIT_OK) return rc;
    mfr_error err = {0};
    /* under mpirun each rank reads its users' rows of U only */
    if (dist_init_from(tr, upath, vpath, &err) != MFR_OK) {
        /* the reader's errors name the file; the trainer's shape and value
         * checks name the array ("U has shape ...", "V[3][1] is not
         * finite"): name its file too */
        const char *m = err.message;
        const bool arr = (m[0] == 'U' || m[0] == 'V') && (m[1] == ' ' || m[1] == '[');
        if (arr) rc = runtime_error("--init-from: %s: %s", m[0] == 'U' ? upath : vpath, m);
        else rc = runtime_error("--init-from: %s", m);
    }
    free(upath);
    return rc;
}

/* One logged epoch, for --plot. */
struct curve {
    long epoch;
    double train, val, total, mse, l2, gravity;
};

/* True when some y[0..n) is not zero (a loss part that is on). */
static bool any_nonzero(int n, const double *y)
{
    for (int j = 0; j < n; j++)
        if (y[j] != 0) return true;
    return false;
}

/* DIR/loss_components: the loss the optimizer sees at the logged epochs
 * (before that epoch's step). Only the parts that are on are drawn; without
 * any regularizer the total is the observed MSE, drawn once and titled so. */
static int plot_loss_parts(const char *dir, int n, const double *x, const double *y,
                           const char *about)
{
    const double *total = y, *mse = y + n, *l2 = y + 2 * n, *grav = y + 3 * n;
    struct plot_series parts[4] = {{.name = "total loss", .y = total}, {.name = "observed MSE", .y = mse}};
    int n_series = 2;
    if (any_nonzero(n, l2)) parts[n_series++] = (struct plot_series){.name = "L2", .y = l2};
    if (any_nonzero(n, grav)) parts[n_series++] = (struct plot_series){.name = "gravity", .y = grav};
    char title[512];
    if (n_series == 2) {
        parts[0] = (struct plot_series){.name = "observed MSE (no regularizer: the total loss)", .y = mse};
        n_series = 1;
    }
    snprintf(title, sizeof title, "Loss components before each epoch's step, %s", about);
    struct plot_labels lab = {title, "epoch", "loss at the factors the epoch began with"};
    return plot_lines(dir, "loss_components", &lab, n, x, n_series, parts, true);
}

/* Writes DIR/learning_curve.{png,svg} and DIR/loss_components.{png,svg};
 * `about` names the run in the titles. */
static int plot_training(const char *dir, int n, const struct curve *c, bool has_test,
                         const char *about)
{
    int rc = ensure_dir(dir);
    if (rc != EXIT_OK) return rc;
    long *epoch = malloc(sizeof(long) * (size_t)(n ? n : 1));
    double *x = malloc(sizeof(double) * 7 * (size_t)(n ? n : 1));
    if (!epoch || !x) {
        free(epoch);
        free(x);
        return runtime_error("out of memory");
    }
    /* x, then train and validation MSE, then the loss parts (total, mse,
     * l2, gravity) as plot_loss_parts reads them. */
    double *train = x + n, *val = x + 2 * n, *parts = x + 3 * n;
    for (int j = 0; j < n; j++) {
        epoch[j] = c[j].epoch;
        x[j] = (double)c[j].epoch;
        train[j] = c[j].train;
        val[j] = c[j].val;
        parts[j] = c[j].total;
        parts[n + j] = c[j].mse;
        parts[2 * n + j] = c[j].l2;
        parts[3 * n + j] = c[j].gravity;
    }
    char title[512];
    snprintf(title, sizeof title, "Learning curves, %s", about);
    rc = plot_learning_curves(dir, n, epoch, train, has_test ? val : NULL, title);
    if (rc == EXIT_OK) rc = plot_loss_parts(dir, n, x, parts, about);
    free(epoch);
    free(x);
    return rc;
}

/* The training flags' help lines (train_opts.c), in the flag table. */
static void print_training_flags(FILE *f, const char *name)
{
    (void)name;
    train_opts_print_help(f);
}

static void print_presets(FILE *f, const char *name)
{
    (void)name;
    train_opts_print_presets(f);
}

/* The outputs, which rank 0 alone checks under mpirun (it writes them,
 * given as paths on its node, README "Running on a cluster": on another
 * rank's node they may not exist, nor gnuplot). */
static int train_check_outputs(const struct train_opts *o)
{
    int rc = io_output_checkpoint(o->checkpoint, o->resume);
    if (rc == EXIT_OK && o->out) rc = io_output("--out", o->out);
    if (rc == EXIT_OK && o->log_json) rc = io_output("--log-json", o->log_json);
    static const char *const charts[] = {"learning_curve", "loss_components", NULL};
    if (rc == EXIT_OK && o->plot) rc = plot_preflight();
    if (rc == EXIT_OK && o->plot) rc = plot_outputs_check(o->plot, charts);
    return rc;
}

/* The outputs checked against the inputs before anything is loaded, so a
 * bad --out fails at once, not after the training; a resume checks them
 * again once the checkpoint has named its data. A resumed run may write
 * its checkpoint over the one it resumed from (the default). Under mpirun
 * every rank gets rank 0's verdict (collective: every rank calls this at
 * the same points), so a refused output ends them all at once. */
static int train_check_paths(const struct train_opts *o)
{
    char *u = NULL;
    const char *v = NULL;
    int rc = o->init_from ? init_from_paths(o->init_from, &u, &v) : EXIT_OK;
    if (rc == EXIT_OK) rc = io_input_data(default_data_dir(o->data));
    if (u && rc == EXIT_OK && (rc = io_input(u)) == EXIT_OK) rc = io_input(v);
    /* one array for both (by device and inode: a link too) starts every
     * user and movie alike where the shapes let it load */
    if (u && rc == EXIT_OK && io_same_file(u, v))
        rc = runtime_error("--init-from: %s and %s are the same file; give U's array (users x k) and V's "
                           "(movies x k)",
                           u, v);
    free(u);
    if (o->resume && rc == EXIT_OK) rc = io_input(o->resume);
    if (rc == EXIT_OK && dist_rank() == 0) rc = train_check_outputs(o);
    return dist_same_status(rc);
}

/* Parses `mfrec train`'s flags into o; false with *rc set when the command
 * stops (after --help or a usage error). */
static bool parse_train_flags(int argc, char **argv, struct train_opts *o, int *rc)
{
    const struct flag_spec flags[] = {
        {.name = "--data", .value = "DIR", .kind = FLAG_STR, .dst = &o->data, .section = "Data:",
         .help = "dataset directory (default: $MFREC_DATA, else data/ml-100k)"},
        {.name = "--split", .value = "SPEC", .kind = FLAG_STR, .dst = &o->split,
         .help = "sklearn:SEED[:FRAC] | u1..u5 | ua | ub | random:FRAC, or\n"
                 "none: every rating trains, no validation (a final\n"
                 "model; the train file of another tool's split)\n"
                 "(default sklearn:300, the notebook's split)"},
        {.name = "--kind", .value = "mf|softmax", .kind = FLAG_CUSTOM, .parse = parse_kind_mf,
         .help = "mf (default) or the softmax model\n(`mfrec train --kind softmax --help`)"},
        {.kind = FLAG_TEXT, .print_help = print_training_flags},
        {.name = "--init-from", .value = "U.npy,V.npy", .kind = FLAG_STR, .dst = &o->init_from,
         .section = "Training:", .help = "start from these float32 arrays"},
        {.name = "--early-stop", .value = "P", .kind = FLAG_I64, .dst = &o->early_stop, .lo = 1,
         .hi = 1000000000,
         .help = "stop when validation MSE has not improved for P epochs\n"
                 "(checked every epoch) and keep the best epoch's model"},
        {.name = "--target-rmse", .value = "X", .kind = FLAG_DOUBLE, .dst = &o->target_rmse,
         .min = 1e-12, .max = 1e12,
         .help = "stop at the first logged epoch whose validation RMSE is <= X\n"
                 "and keep that epoch's model (needs validation ratings)"},
        {.name = "--checkpoint", .value = "FILE", .kind = FLAG_STR, .dst = &o->checkpoint,
         .section = "Checkpoints:",
         .help = "write the whole training state to FILE every --checkpoint-every\n"
                 "epochs and on SIGINT/SIGTERM (atomically; the previous one\n"
                 "stays valid until the new one is complete)"},
        {.name = "--checkpoint-every", .value = "N", .kind = FLAG_I64, .dst = &o->checkpoint_every,
         .lo = 1, .hi = 1000000000, .help = "epochs between checkpoints (default 100)"},
        {.name = "--resume", .value = "FILE", .kind = FLAG_STR, .dst = &o->resume,
         .help = "continue the run saved in checkpoint FILE (see below)"},
        {.name = "--log-every", .value = "N", .kind = FLAG_I64, .dst = &o->log_every, .lo = 0,
         .hi = 1000000000, .section = "Output:",
         .help = "log every N epochs (default 100; 0: only the first and\n"
                 "the last); the first and the last are always logged"},
        {.name = "--out", .value = "MODEL", .kind = FLAG_STR, .dst = &o->out,
         .help = "write the trained model file"},
        {.name = "--log-json", .value = "FILE", .kind = FLAG_STR, .dst = &o->log_json,
         .help = "one JSON record per logged epoch (JSON Lines)\n"
                 "with the loss parts (mse, l2, gravity, total)"},
        {.name = "--plot", .value = "DIR", .kind = FLAG_STR, .dst = &o->plot,
         .help = "learning curves (train/validation MSE at the logged epochs)\n"
                 "and the loss components, as PNG and SVG (gnuplot)"},
        {.name = "--quiet", .kind = FLAG_SWITCH, .dst = &o->quiet,
         .help = "only the final report: no header, progress bar or\n"
                 "per-epoch lines"},
        {.name = "--no-train-eval", .kind = FLAG_SWITCH, .dst = &o->no_train_eval,
         .help = "logged epochs evaluate the validation set only (their train\n"
                 "MSE is left out: null in --log-json). With Adam or gradient\n"
                 "descent the train MSE is the next step's loss term and costs\n"
                 "nothing; with ALS each logged epoch evaluates the training set"},
        {.kind = FLAG_TEXT, .section = "Presets:", .print_help = print_presets},
    };
    struct command_spec cmd = {.name = "mfrec train", .help = train_help,
                               .help_end = train_help_end, .help_width = 20, .flags = flags,
                               .n_flags = sizeof flags / sizeof *flags, .data_flags = true,
                               .train = o};
    if (!cli_start(&cmd, argc, argv, rc)) return false;
    /* On --resume the flags given restate or change the checkpoint's
     * configuration: the rules between fields (--l2-bias needs --bias) hold
     * for the merged one, which mfr_trainer_resume compares field by field. */
    *rc = o->resume ? EXIT_OK : train_opts_check(o);
    if (*rc == EXIT_OK) *rc = train_check_paths(o);
    if (*rc == EXIT_OK) train_opts_notes(o);
    return *rc == EXIT_OK;
}

/* Wall seconds of each phase outside the epochs, measured around the
 * library calls, for the report and --log-json (the library never prints).
 * `load` is the dataset (parse or cache, id maps, fingerprint); `trainer`
 * the CSR/CSC, shards, buffers and initialization (--init-from included);
 * `eval` every evaluation (logged epochs, early stopping, the final one). */
struct setup_times {
    double load, split, trainer, eval, save, total;
    double checkpoints; /* writing --checkpoint files during the run */
    double plots;       /* drawing --plot's charts (gnuplot) */
    double log_eval; /* of eval: the logged epochs' evaluations */
};

/* One training run: what it loaded, made and logged. */
struct train_run {
    const struct train_opts *o;
    mfr_dataset *ds;
    mfr_split *sp;
    mfr_trainer *tr;
    /* the trainer's (under mpirun: this rank's users); for the output
     * (train_finish) the whole model, or `best` after early stopping */
    const mfr_model *model;
    mfr_model *best;        /* the best epoch's copy (--early-stop) */
    uint64_t best_bytes;    /* its arrays' bytes, counted in the estimated peak */
    const mfr_ratings *train, *test; /* NULL when `own` */
    bool bar, has_test;
    /* Under mpirun with each rank reading only its users (dist_trainer_read):
     * the evaluations are collective (dist_evaluate_own), the whole sets
     * exist nowhere. */
    bool own;
    bool log_wanted;        /* a logged epoch evaluates (rank 0's flags: the same on every rank) */
    const mfr_dataset *pds; /* the dataset: r->ds, or the per-rank reading's */
    const char *spec;       /* the normalized split spec */
    int64_t n_all, n_train, n_test;
    mfr_metrics fin_t, fin_v; /* `own`: the final metrics, computed by every rank */
    /* The last logged epoch's metrics: the final report's when no other
     * model is kept (the same model and sets, the same sums) */
    int64_t logged_epoch;
    /* the epoch --checkpoint FILE holds: this process's last checkpoint,
     * else the one resumed when FILE is --resume's (0: none) */
    int64_t ck_epoch;
    mfr_metrics logged_t, logged_v;
    /* A logged epoch's training MSE is the next step's data term (its
     * loss's mse: the same model, one pass fewer; mfr_trainer_data_mse
     * when no step follows): `mse_from_step` (not ALS; with
     * --no-train-eval the final line's only). The epoch's other values
     * wait in `rec` until then (rank 0's, or every rank's when `own`);
     * every rank knows `pending` (the epoch, or 0), for the collective
     * pass. */
    bool mse_from_step;
    int64_t pending;
    /* the last data term known on every rank (its epoch, 0: none), and
     * the final model's (train_final_mse) */
    int64_t data_mse_epoch;
    double data_mse, fin_train_mse;
    struct logged_rec {
        int64_t e;
        mfr_metrics mt, mv;
        mfr_loss lp;
        double elapsed, wall;
    } rec;
    struct json_log jl;
    struct curve *curve; /* the logged epochs, for --plot */
    int n_curve, cap_curve;
    double best_val, train_seconds, t_start, last_draw;
    int64_t best_epoch, ran;
    int64_t target_epoch; /* --target-rmse: the epoch that reached it, or 0 */
    int64_t target_checks; /* --target-rmse: the logged epochs that checked it */
    double target_val, target_wall;
    double final_val_rmse; /* the kept model's, for --log-json's last records */
    mfr_checkpoint *ck; /* --resume: during resume_setup only */
    int64_t start;      /* epochs done before this process (--resume) */
    bool start_logged;  /* the checkpoint's log ends with epoch `start`'s record */
    double elapsed0;    /* their wall seconds */
    double train_s0;    /* their seconds inside the steps */
    struct setup_times times;
};

static void train_run_free(struct train_run *r)
{
    free(r->curve);
    free(r->jl.buf);
    mfr_model_destroy(r->best);
    mfr_checkpoint_destroy(r->ck);
    dist_trainer_free(r->tr);
    mfr_split_destroy(r->sp);
    mfr_dataset_destroy(r->ds);
}

/* The split the run trains on: one process reads a random split's
 * training part from the dataset in place (the trainer and the
 * evaluations read it; a 100M-rating run then holds no copy of it); under
 * mpirun the ranks' code takes mfr_split_create's copies. */
static int split_for_training(const mfr_dataset *ds, const char *spec, uint64_t seed, mfr_split **sp,
                              mfr_error *err)
{
    return dist_on() ? mfr_split_create(ds, spec, seed, sp, err) : mfr_split_create_lean(ds, spec, seed, sp, err);
}

/* Loads the data, makes the split and the trainer (and --init-from). */
static int train_setup(struct train_run *r)
{
    const struct train_opts *o = r->o;
    mfr_error err = {0};
    double t0 = now_seconds();
    if (dist_on()) { /* each rank reads its users only, unless the data must be read whole */
        const char *dir = default_data_dir(o->data);
        if (io_input_data(dir) != EXIT_OK) return EXIT_RUNTIME;
        int st = dist_trainer_read(NULL, &o->cfg, dir, o->split, o->cfg.seed, &r->tr, &err);
        if (st != MFR_ERR_UNSUPPORTED) {
            if (st != MFR_OK) return lib_error(&err);
            r->own = true;
            int rc = o->init_from ? load_init_from(r->tr, o->init_from) : EXIT_OK;
            r->times.trainer = now_seconds() - t0;
            return rc;
        }
        err = (mfr_error){0};
    }
    data_set_memory_budget(o->cfg.max_memory); /* --max-memory covers a text parse too */
    if (load_dataset(default_data_dir(o->data), &r->ds, &err) != MFR_OK) return lib_error(&err);
    double t1 = now_seconds();
    r->times.load = t1 - t0;
    if (split_for_training(r->ds, o->split, o->cfg.seed, &r->sp, &err) != MFR_OK)
        return err.status == MFR_ERR_INVALID ? usage_error("--split: %s", err.message)
                                             : lib_error(&err);
    double t2 = now_seconds();
    r->times.split = t2 - t1;
    if (dist_trainer_create(&o->cfg, r->ds, mfr_split_train(r->sp), mfr_split_spec(r->sp), &r->tr,
                            &err) != MFR_OK)
        return lib_error(&err);
    /* a shard holds at least one user: say so rather than run fewer quietly
     * (the configuration, and so the file, keeps the count asked for) */
    if (o->cfg.n_shards > 0 && mfr_trainer_n_shards(r->tr) < o->cfg.n_shards)
        fprintf(stderr, "%s: note: --shards %d is more than the training data allows: %d shards (one "
                        "user at least in each)\n",
                g_cmd, (int)o->cfg.n_shards, (int)mfr_trainer_n_shards(r->tr));
    int rc = o->init_from ? load_init_from(r->tr, o->init_from) : EXIT_OK;
    r->times.trainer = now_seconds() - t2;
    return rc;
}

/* ------------------------------------------------------------------ */
/* Checkpoints, resume and signals (docs/CHECKPOINTS.md)                */
/* ------------------------------------------------------------------ */

/* Collective under mpirun: every rank sends its users' rows and optimizer
 * state to rank 0, which alone writes, so the file holds the bytes one
 * process would write. The bracket is on every rank: a second signal to any
 * rank waits for the file. */
static int write_checkpoint(struct train_run *r)
{
    const struct train_opts *o = r->o;
    const double t0 = now_seconds();
    stop_signals_saving(true);
    mfr_model *whole_best = NULL; /* under mpirun, rank 0's whole copy of r->best */
    int rc = dist_gather();
    if (rc == EXIT_OK && r->best) rc = dist_gather_model(r->best, &whole_best); /* every rank has one, or none */
    if (rc != EXIT_OK || dist_rank() != 0) {
        stop_signals_saving(false);
        return rc;
    }
    mfr_run_state run = {.epochs = o->epochs, .early_stop = o->early_stop,
                         .best_epoch = r->best ? r->best_epoch : 0, .best_val = r->best_val,
                         .log_every = o->log_every, .checkpoint_every = o->checkpoint_every,
                         .elapsed_s = now_seconds() - r->t_start, .train_s = r->train_seconds,
                         .best = whole_best ? whole_best : r->best, .log = r->jl.buf, .log_len = r->jl.len,
                         .no_train_eval = o->no_train_eval};
    mfr_error err = {0};
    int st = dist_save_checkpoint(r->tr, &run, o->checkpoint, &err);
    mfr_model_destroy(whole_best);
    stop_signals_saving(false);
    r->times.checkpoints += now_seconds() - t0;
    if (st != MFR_OK) return lib_error(&err);
    r->ck_epoch = r->ran;
    return EXIT_OK;
}

/* After epoch e, on the first SIGINT/SIGTERM (signal `signo`; under
 * mpirun, received by any rank): a checkpoint (if asked for and not just
 * written) and how to go on. */
static int train_interrupted(struct train_run *r, int64_t e, int signo)
{
    const struct train_opts *o = r->o;
    const char *sig = signo == SIGINT ? "SIGINT" : "SIGTERM";
    int rc;
    if (r->bar) fputs("\r\033[K", stderr);
    if (o->checkpoint && e % o->checkpoint_every != 0 && (rc = write_checkpoint(r)) != EXIT_OK)
        return rc;
    if (dist_rank() != 0) return EXIT_INTERRUPTED;
    if (o->checkpoint) {
        fprintf(stderr,
                "%s: interrupted by %s after epoch %lld of %lld; checkpoint written to %s\n", g_cmd, sig,
                (long long)e, (long long)o->epochs, printable(o->checkpoint));
        print_resume_hint(o->checkpoint);
    } else {
        fprintf(stderr,
                "%s: interrupted by %s after epoch %lld of %lld; nothing saved (train with "
                "--checkpoint FILE to be able to resume)\n",
                g_cmd, sig, (long long)e, (long long)o->epochs);
    }
    return EXIT_INTERRUPTED;
}

/* The checkpoint's configuration with the fields given on the command line
 * (mfr_trainer_resume refuses those that change results). */
static void resume_config(const struct train_opts *o, const mfr_model *m, mfr_config *cfg)
{
    mfr_error err = {0};
    MFR_CLI_ASSERT(mfr_model_config(m, cfg, &err) == MFR_OK);
    MFR_CLI_ASSERT(mfr_config_field_count() <= 64); /* one bit of given_fields each */
    for (int i = 0; i < mfr_config_field_count(); i++) {
        if (!(o->given_fields >> i & 1u)) continue;
        const mfr_config_field *f = mfr_config_field_at(i);
        char v[64];
        int rc = mfr_config_format(&o->cfg, f, v, sizeof v, &err);
        if (rc == MFR_OK) rc = mfr_config_set(cfg, f->flag, v, &err);
        MFR_CLI_ASSERT(rc == MFR_OK); /* a value parsed from a flag reads back */
    }
}

/* The run options: given ones are checked against the checkpoint's (into
 * diffs), the others taken from it. */
static void resume_run_opts(struct train_opts *o, const mfr_run_state *run, int64_t done,
                            struct json_log *diffs)
{
    if (o->init_from)
        jlog_printf(diffs, "; --init-from cannot be combined with --resume");
    if (o->early_stop >= 0 && o->early_stop != run->early_stop)
        jlog_printf(diffs, "; --early-stop is %lld, the checkpoint's %lld", (long long)o->early_stop,
                    (long long)run->early_stop);
    if (o->epochs_given && o->epochs < done)
        jlog_printf(diffs, "; --epochs %lld is fewer than the %lld epoch%s already done",
                    (long long)o->epochs, (long long)done, PL(done));
    if (!o->epochs_given) o->epochs = run->epochs;
    o->early_stop = run->early_stop;
    if (o->log_every < 0) o->log_every = run->log_every;
    if (run->no_train_eval) o->no_train_eval = true; /* logged as the run began */
    if (o->no_train_eval && o->plot)
        jlog_printf(diffs, "; --plot draws the training MSE, which this run leaves out "
                           "(--no-train-eval, recorded in the checkpoint)");
    if (o->checkpoint_every < 0) o->checkpoint_every = run->checkpoint_every;
    if (!o->checkpoint) o->checkpoint = o->resume;
}

/* The number after `key` in the record at *p (null, a value the run left
 * out, as NaN), moving *p past it; false when the record is not mfrec's. */
static bool record_num(const char **p, const char *key, double *v)
{
    const size_t n = strlen(key);
    if (strncmp(*p, key, n)) return false;
    *p += n;
    if (!strncmp(*p, "null", 4)) {
        *v = NAN;
        *p += 4;
        return true;
    }
    char *end;
    *v = strtod(*p, &end);
    if (end == *p) return false;
    *p = end;
    return true;
}

/* The --plot points of the logged epochs, from the log's JSON records. */
static int resume_curve(struct train_run *r)
{
    const char *p = r->jl.buf, *end = r->jl.buf + r->jl.len;
    while (p && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        struct curve c;
        double epoch, trmse, vrmse;
        const char *q = p;
        if (!record_num(&q, "{\"epoch\":", &epoch) || !record_num(&q, ",\"train_mse\":", &c.train) ||
            !record_num(&q, ",\"val_mse\":", &c.val) || !record_num(&q, ",\"train_rmse\":", &trmse) ||
            !record_num(&q, ",\"val_rmse\":", &vrmse) || !record_num(&q, ",\"loss\":", &c.total) ||
            !record_num(&q, ",\"loss_mse\":", &c.mse) || !record_num(&q, ",\"loss_l2\":", &c.l2) ||
            !record_num(&q, ",\"loss_gravity\":", &c.gravity) || !(epoch >= 1 && epoch < 1e18))
            return runtime_error("%s: the checkpoint's log is not mfrec's", r->o->resume);
        c.epoch = (long)epoch;
        if (r->n_curve == r->cap_curve) {
            r->cap_curve = r->cap_curve ? 2 * r->cap_curve : 64;
            struct curve *nc = realloc(r->curve, sizeof *nc * (size_t)r->cap_curve);
            if (!nc) return runtime_error("out of memory");
            r->curve = nc;
        }
        r->curve[r->n_curve++] = c;
        p = nl ? nl + 1 : end;
    }
    return EXIT_OK;
}

/* The epoch of the last epoch record of a log (0: none); buf ends in a NUL. */
static int64_t log_last_epoch(const char *buf, size_t len)
{
    int64_t last = 0;
    for (const char *p = buf, *end = buf + len; p && p < end;) {
        long long e;
        if (sscanf(p, "{\"epoch\":%lld", &e) == 1) last = e;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : end;
    }
    return last;
}

/* What the loop keeps beside the trainer, from the checkpoint. */
static int resume_run_state(struct train_run *r, const mfr_run_state *run)
{
    mfr_error err = {0};
    r->start = mfr_model_epochs(mfr_trainer_model(r->tr));
    r->ran = r->start;
    r->best_epoch = run->best_epoch;
    r->best_val = run->best_val;
    r->elapsed0 = run->elapsed_s;
    r->train_seconds = r->train_s0 = run->train_s;
    if (dist_part_best(r->ck, &r->best, &err) != MFR_OK) return lib_error(&err);
    const int rc = resume_log_append(&r->jl, r->o->resume, run);
    if (rc != EXIT_OK) return rc;
    r->start_logged = r->start > 0 && log_last_epoch(r->jl.buf, r->jl.len) == r->start;
    if (io_same_file(r->o->checkpoint, r->o->resume)) r->ck_epoch = r->start; /* until one is written */
    return r->o->plot ? resume_curve(r) : EXIT_OK;
}

/* --resume: the checkpoint, its data and split, and a trainer that goes on
 * where it stopped. */
static int resume_setup(struct train_run *r, struct train_opts *o)
{
    mfr_error err = {0};
    const double t0 = now_seconds();
    if (dist_checkpoint_load(o->resume, &r->ck, &err) != MFR_OK) return lib_error(&err);
    const mfr_model *m = mfr_checkpoint_model(r->ck);
    mfr_run_state run;
    MFR_CLI_ASSERT(mfr_checkpoint_run(r->ck, &run, NULL) == MFR_OK);
    struct json_log diffs = {0};
    resume_run_opts(o, &run, mfr_model_epochs(m), &diffs);
    int rc = resume_checkpoint_every_check(o->resume, o->checkpoint_every);
    if (rc != EXIT_OK) {
        free(diffs.buf);
        return rc;
    }
    mfr_config cfg;
    resume_config(o, m, &cfg);
    o->cfg = cfg;
    const char *dir = o->data ? o->data : model_data_source(m);
    int st = MFR_ERR_UNSUPPORTED;
    if (dist_on()) { /* each rank reads its users only, unless the data must be read whole */
        if (io_input_data(dir) != EXIT_OK) {
            free(diffs.buf);
            return EXIT_RUNTIME;
        }
        st = dist_trainer_read(r->ck, &o->cfg, dir, o->split ? o->split : mfr_model_split_spec(m), o->cfg.seed,
                               &r->tr, &err);
        r->own = st != MFR_ERR_UNSUPPORTED;
        if (r->own) rc = train_check_paths(o);
        else err = (mfr_error){0};
    }
    data_set_memory_budget(o->cfg.max_memory);
    if (r->own) {
    } else if (load_dataset_recorded(dir, o->data ? NULL : o->resume, &r->ds, &err) != MFR_OK) rc = lib_error(&err);
    else rc = train_check_paths(o); /* the data is an input now known */
    const double t1 = now_seconds(); /* the load: the checkpoint's and the data's */
    if (rc == EXIT_OK && !r->own && split_for_training(r->ds, o->split ? o->split : mfr_model_split_spec(m),
                                                         o->cfg.seed, &r->sp, &err) != MFR_OK)
        rc = usage_error("cannot resume from %s: split: %s", o->resume, err.message);
    const double t2 = now_seconds();
    if (rc != EXIT_OK) {
        free(diffs.buf);
        return rc;
    }
    if (!r->own)
        st = dist_trainer_resume(r->ck, &o->cfg, r->ds, mfr_split_train(r->sp), mfr_split_spec(r->sp), &r->tr,
                                 &err);
    if (diffs.failed) /* the comparison itself was lost: no run may pass it */
        rc = runtime_error("out of memory comparing the flags with %s", o->resume);
    else if (st == MFR_ERR_MISMATCH || (st == MFR_OK && diffs.len))
        rc = usage_error("cannot resume from %s: %s%s", o->resume,
                         st == MFR_OK ? "the run differs from the checkpoint's:" : err.message,
                         diffs.buf ? diffs.buf + (st == MFR_OK) : "");
    else if (st != MFR_OK)
        rc = lib_error(&err);
    free(diffs.buf);
    if (r->own) r->times.trainer = now_seconds() - t0; /* under mpirun one step reads and builds */
    else r->times = (struct setup_times){.load = t1 - t0, .split = t2 - t1, .trainer = now_seconds() - t2,
                                         .total = r->times.total};
    if (rc == EXIT_OK) rc = resume_run_state(r, &run);
    /* what the run needs of the checkpoint is copied now: its model (under
     * mpirun its shell) would otherwise stay beside the trainer's */
    mfr_checkpoint_destroy(r->ck);
    r->ck = NULL;
    return rc;
}

static int print_train_header(const struct train_run *r)
{
    const struct train_opts *o = r->o;
    const mfr_config *cfg = &o->cfg;
    const mfr_dataset *ds = r->pds;
    printf("mfrec %s | data %s (%d user%s, %d item%s, %lld rating%s)\n", MFR_VERSION_STRING,
           printable(data_name(ds)), mfr_dataset_n_users(ds), PL(mfr_dataset_n_users(ds)), mfr_dataset_n_items(ds),
           PL(mfr_dataset_n_items(ds)), (long long)r->n_all, PL(r->n_all));
    printf("split %s: %lld train, %lld validation\n", printable(r->spec), (long long)r->n_train, (long long)r->n_test);
    /* a resumed run's configuration is the checkpoint's, whatever --preset
     * (the default's "notebook" included) says: named by the nearest preset */
    char about[400];
    if (o->resume)
        config_describe(cfg, about, sizeof about);
    else
        train_opts_describe(o, about, sizeof about);
    printf("%s | dim %d, epochs %lld, ", about, cfg->k, (long long)o->epochs);
    char opt[160];
    printf("%s", train_optimizer_text(cfg, true, opt, sizeof opt));
    printf(", init N(0, %g^2)%s, seed %llu\n", cfg->init_std,
           o->init_from ? " replaced by --init-from" : "", (unsigned long long)cfg->seed);
    train_print_regularizers(cfg, o->early_stop ? ", early stopping on validation MSE" : "");
    printf("threads %s%d, shards %d, reduce %s (%s), kernels %s, memory %.1f MiB\n",
           mfr_trainer_threads_auto(r->tr) ? "measured, 1 or " : "", mfr_trainer_n_threads(r->tr),
           mfr_trainer_n_shards(r->tr), mfr_trainer_reduce_name(r->tr),
           mfr_trainer_reduce_reason(r->tr), mfr_trainer_kernels_name(r->tr),
           (double)mfr_trainer_memory_bytes(r->tr) / 1048576.0);
    printf("build: %s, commit %s\n", mfr_build_info(), mfr_build_commit());
    if (o->resume)
        printf("resumed from %s after epoch %lld of %lld\n", printable(o->resume), (long long)r->start,
               (long long)o->epochs);
    return stdout_flush();
}

/* --early-stop keeps the best epoch's model beside the trainer's: its
 * arrays count in the run's estimated peak and are checked against the
 * memory budget before the first epoch, as the trainer's buffers were. */
static int early_stop_budget(struct train_run *r)
{
    r->best_bytes = mfr_model_memory_bytes(r->model);
    const uint64_t trainer = mfr_trainer_peak_bytes(r->tr), peak = trainer + r->best_bytes;
    const uint64_t max = r->o->cfg.max_memory, budget = memory_budget(max);
    if (!budget || peak <= budget) return EXIT_OK;
    char a[32], b[32], c[32], d[32];
    return runtime_error("training with --early-stop needs %s: the trainer's estimated peak %s and %s for the copy "
                         "of the best epoch's model, more than the memory budget of %s (%s)",
                         size_text(peak, a), size_text(trainer, b), size_text(r->best_bytes, c), size_text(budget, d),
                         max ? "--max-memory" : "the physical memory; --max-memory sets another");
}

/* --early-stop after epoch e: keeps a copy of the best model so far; sets
 * *stop when P epochs passed without improvement. Under mpirun every rank
 * gets the same metrics (dist_evaluate), so every rank decides alike and
 * keeps its own copy, whose users' rows reach rank 0's copy when it is
 * written (dist_gather_model). */
static int early_stop_check(struct train_run *r, int64_t e, bool *stop)
{
    mfr_error err = {0};
    mfr_metrics mv;
    double t0 = now_seconds();
    if ((r->own ? dist_evaluate_own(1, NULL, &mv, &err) : dist_evaluate(r->model, r->test, &mv, &err)) != MFR_OK)
        return lib_error(&err);
    r->times.eval += now_seconds() - t0;
    if (mv.mse < r->best_val) {
        r->best_val = mv.mse;
        r->best_epoch = e;
        /* into the copy kept so far: a new copy each time grew the memory */
        if ((r->best ? mfr_model_copy_into(r->best, r->model, &err) : mfr_model_copy(r->model, &r->best, &err)) !=
            MFR_OK)
            return lib_error(&err);
    } else if (e - r->best_epoch >= r->o->early_stop) {
        *stop = true;
    }
    return EXIT_OK;
}

/* Training metrics from a data term (mfr_trainer_data_mse): no MAE. */
static mfr_metrics train_metrics(const struct train_run *r, double mse)
{
    return (mfr_metrics){.n = r->n_train, .mse = mse, .rmse = sqrt(mse), .mae = NAN};
}

/* An MSE for an epoch line: "%.6f", but a diverging run's NaN and inf
 * without printf's sign ("-nan"), and its huge values in "%.6e" rather
 * than 40 digits. */
static const char *mse_text(double v, char buf[static 32])
{
    if (isnan(v)) return "NaN";
    if (isinf(v)) return v > 0 ? "inf" : "-inf";
    snprintf(buf, 32, fabs(v) < 1e12 ? "%.6f" : "%.6e", v);
    return buf;
}

/* v for a JSON record, exact (num_exact); null when not `have` or not finite. */
static const char *json_val(bool have, double v, char buf[static 32])
{
    return have ? num_exact(v, buf) : "null";
}

/* A logged epoch's record: the line, the --plot point and the --log-json
 * record, from r->rec. */
static int emit_epoch(struct train_run *r)
{
    const struct train_opts *o = r->o;
    const mfr_config *cfg = &o->cfg;
    const struct logged_rec *g = &r->rec;
    const int64_t e = g->e;
    const mfr_metrics mt = g->mt, mv = g->mv;
    const mfr_loss lp = g->lp;
    r->logged_epoch = e, r->logged_t = mt, r->logged_v = mv;
    if (dist_rank() != 0) return EXIT_OK; /* the same decision as rank 0's; rank 0 logs */
    if (!o->quiet) {
        if (r->bar) fputs("\r\033[K", stderr);
        printf("epoch %6lld", (long long)e);
        char b1[32], b2[32];
        if (!o->no_train_eval) printf("  train MSE %s", mse_text(mt.mse, b1));
        if (r->has_test && o->no_train_eval)
            printf("  validation MSE %s RMSE %s", mse_text(mv.mse, b1), mse_text(mv.rmse, b2));
        else if (r->has_test) printf("  validation MSE %s", mse_text(mv.mse, b1));
        else if (o->no_train_eval) /* a bare "epoch N" would look cut off */
            printf("  elapsed %.3f s (nothing evaluated: --no-train-eval, split none)", g->elapsed);
        /* every regularizer the loss has: --l1-items is in its l2 part,
         * --gravity-bias in its gravity part (mfr_loss) */
        if (cfg->l2 > 0 || cfg->l2_freq > 0 || cfg->l2_bias > 0 || cfg->implicit > 0 ||
            cfg->gravity > 0 || cfg->l1_items > 0 || cfg->gravity_bias > 0)
            /* the step's loss: at the factors the epoch began with (its
             * observed part is the previous epoch's training MSE) */
            printf("  | loss before the step %.6f = observed %.6f + l2 %.6f + gravity %.6f", lp.total,
                   lp.mse, lp.l2, lp.gravity);
        putchar('\n');
        int rc = stdout_flush(); /* a full or closed stdout stops the run here */
        if (rc != EXIT_OK) return rc;
    }
    if (o->plot) {
        if (r->n_curve == r->cap_curve) {
            r->cap_curve = r->cap_curve ? 2 * r->cap_curve : 64;
            struct curve *nc = realloc(r->curve, sizeof *nc * (size_t)r->cap_curve);
            if (!nc) return runtime_error("out of memory");
            r->curve = nc;
        }
        r->curve[r->n_curve++] =
            (struct curve){(long)e, mt.mse, mv.mse, lp.total, lp.mse, lp.l2, lp.gravity};
    }
    if (o->log_json || o->checkpoint) { /* a checkpoint keeps the log for a resumed --log-json */
        /* a value left out, or a diverging run's NaN or inf, is null:
         * JSON has no token for them (resume_curve reads null back) */
        char tm[32], tr[32], vm[32], vr[32], l0[32], l1[32], l2[32], l3[32];
        const bool te = !o->no_train_eval;
        jlog_printf(&r->jl,
                    "{\"epoch\":%lld,\"train_mse\":%s,\"val_mse\":%s,"
                    "\"train_rmse\":%s,\"val_rmse\":%s,\"loss\":%s,"
                    "\"loss_mse\":%s,\"loss_l2\":%s,\"loss_gravity\":%s,"
                    "\"elapsed_s\":%.6f,\"wall_s\":%.6f}\n",
                    (long long)e, json_val(te, mt.mse, tm), json_val(r->has_test, mv.mse, vm),
                    json_val(te, mt.rmse, tr), json_val(r->has_test, mv.rmse, vr), json_val(true, lp.total, l0),
                    json_val(true, lp.mse, l1), json_val(true, lp.l2, l2), json_val(true, lp.gravity, l3),
                    g->elapsed, g->wall);
        /* stop here: a later checkpoint would keep the log without it */
        if (r->jl.failed) return runtime_error("out of memory holding the log of epoch %lld", (long long)e);
    }
    return EXIT_OK;
}

/* A logged epoch's evaluations and --target-rmse's check; the record is
 * emitted now, or by finish_logged_epoch once its training MSE is known
 * (mse_from_step). */
static int log_epoch(struct train_run *r, int64_t e)
{
    const struct train_opts *o = r->o;
    mfr_error err = {0};
    mfr_metrics mt = {.mse = NAN, .rmse = NAN, .mae = NAN}, mv = {0};
    mfr_loss lp;
    mfr_trainer_last_loss(r->tr, &lp, NULL);
    const bool train_eval = !o->no_train_eval && !r->mse_from_step;
    double t0 = now_seconds();
    /* the trainer's threads; the same sums for any thread count. `own`:
     * every rank evaluates its users (collective), rank 0 logs */
    if (r->own ? (train_eval && dist_evaluate_own(0, NULL, &mt, &err) != MFR_OK) ||
                     (r->has_test && dist_evaluate_own(1, NULL, &mv, &err) != MFR_OK)
               : (train_eval && dist_trainer_evaluate(r->tr, r->train, &mt, &err) != MFR_OK) ||
                     (r->has_test && dist_trainer_evaluate(r->tr, r->test, &mv, &err) != MFR_OK))
        return lib_error(&err);
    const double dt = now_seconds() - t0; /* one reading: log_eval is part of eval */
    r->times.eval += dt;
    r->times.log_eval += dt;
    double wall = process_seconds();
    if (o->target_rmse > 0 && !r->target_epoch) r->target_checks++;
    if (o->target_rmse > 0 && !r->target_epoch && mv.rmse <= o->target_rmse) {
        r->target_epoch = e;
        r->target_val = mv.rmse;
        r->target_wall = wall;
    }
    r->rec = (struct logged_rec){e, mt, mv, lp, now_seconds() - r->t_start, wall};
    return r->mse_from_step && !o->no_train_eval ? EXIT_OK : emit_epoch(r);
}

/* The pending logged epoch (r->pending), if any: its training MSE from
 * the step that has just run (`after_step`: its loss's data term, taken at
 * the same factors) or, when no step follows (the run ends or stops, a
 * checkpoint is written), from dist_data_mse (the same bits), then its
 * record. Collective under mpirun (every rank knows `pending`). */
static int finish_logged_epoch(struct train_run *r, bool after_step)
{
    if (!r->pending) return EXIT_OK;
    double mse;
    if (after_step) {
        mfr_loss lp;
        mfr_trainer_last_loss(r->tr, &lp, NULL);
        mse = lp.mse;
    } else {
        mfr_error err = {0};
        double t0 = now_seconds();
        if (dist_data_mse(r->tr, NULL, &mse, &err) != MFR_OK) return lib_error(&err);
        const double dt = now_seconds() - t0;
        r->times.eval += dt;
        r->times.log_eval += dt;
    }
    r->data_mse_epoch = r->pending, r->data_mse = mse;
    r->pending = 0;
    if (dist_rank() != 0 && !r->own) return EXIT_OK; /* rank 0 alone holds the record */
    r->rec.mt = train_metrics(r, mse);
    return emit_epoch(r);
}

/* The final model's training MSE as the logged epochs have theirs
 * (mse_from_step): the trainer's data term of that model, so that the
 * report's `final:` line repeats the last logged epoch's value. The last
 * logged epoch's when that is the final model, else a pass (of the best
 * epoch's copy under --early-stop). Collective under mpirun. */
static int train_final_mse(struct train_run *r)
{
    if (!r->mse_from_step) return EXIT_OK;
    const int64_t final_epoch = r->best ? r->best_epoch : r->ran;
    if (r->data_mse_epoch > 0 && r->data_mse_epoch == final_epoch) {
        r->fin_train_mse = r->data_mse;
        return EXIT_OK;
    }
    mfr_error err = {0};
    double t0 = now_seconds();
    if (dist_data_mse(r->tr, r->best, &r->fin_train_mse, &err) != MFR_OK) return lib_error(&err);
    r->times.eval += now_seconds() - t0;
    return EXIT_OK;
}

/* The epochs: steps, early stopping, logging and the progress bar.
 * Under mpirun rank 0 alone logs and writes, from the model dist_gather
 * completes; every rank makes the same collective calls (the gathers
 * depend on the epoch, the flags and the early-stop decision, which every
 * rank makes alike), and all agree at the end of each epoch whether to
 * stop: rank 0's --target-rmse, any rank's signal (docs/MPI.md). */
static int train_epochs(struct train_run *r)
{
    const struct train_opts *o = r->o;
    const bool lead = dist_rank() == 0;
    int rc = EXIT_OK;
    r->t_start = now_seconds() - r->elapsed0;
    /* A checkpoint written at the epoch where early stopping fired (the
     * last one before the final save): the uninterrupted run trained no
     * further. The stop is exactly this state: no improvement for the
     * patience's epochs, checked after every epoch. */
    if (o->early_stop && r->best_epoch > 0 && r->best_epoch < r->start &&
        r->start - r->best_epoch >= o->early_stop)
        return EXIT_OK;
    /* A run resumed with --epochs at the epochs done trains none, but its
     * last epoch is logged as every run's is, unless the checkpoint was
     * written at a logged epoch (its log holds the record): an interrupted
     * run finished there, or one cut short to a checkpoint's epoch */
    if (r->start > 0 && r->start == o->epochs && !r->start_logged) {
        if (!r->own && (rc = dist_gather()) != EXIT_OK) return rc;
        if (r->log_wanted && (lead || r->own) && (rc = log_epoch(r, r->start)) != EXIT_OK) return rc;
        if (r->log_wanted && r->mse_from_step && !o->no_train_eval) r->pending = r->start;
        return finish_logged_epoch(r, false);
    }
    for (int64_t e = r->start + 1; e <= o->epochs; e++) {
        double loss;
        double t0 = now_seconds();
        mfr_error err = {0};
        int st = dist_step(r->tr, &loss, &err);
        r->train_seconds += now_seconds() - t0;
        /* a step that diverged still computed its loss, at the pending epoch's factors */
        if ((st == MFR_OK || err.status == MFR_ERR_DIVERGED) && (rc = finish_logged_epoch(r, true)) != EXIT_OK)
            return rc;
        if (st != MFR_OK) {
            if (r->bar) fputc('\n', stderr);
            /* the first step blames the starting factors: name the files
             * they came from (the message names no learning rate then) */
            if (o->init_from && e == 1 && err.status == MFR_ERR_DIVERGED && strstr(err.message, "starting factors"))
                return runtime_error("--init-from: %s: %s", o->init_from,
                                     err.message);
            return lib_error(&err);
        }
        r->ran = e;
        bool stop = false;
        if (o->early_stop && (rc = early_stop_check(r, e, &stop)) != EXIT_OK) return rc;
        /* The first epoch too, so that curves start at epoch 1. */
        bool logged = (o->log_every > 0 && e % o->log_every == 0) || e == 1 || e == o->epochs || stop;
        /* With nothing to print, plot or log, a logged epoch's evaluation is
         * skipped (and its training MSE: see finish_logged_epoch). */
        bool wanted = r->log_wanted;
        /* under mpirun every rank sends its users to rank 0, which logs;
         * with `own` data every rank evaluates its users instead */
        if (logged && !r->own && (rc = dist_gather()) != EXIT_OK) return rc;
        if (logged && wanted && (lead || r->own) && (rc = log_epoch(r, e)) != EXIT_OK) return rc;
        if (logged && wanted && r->mse_from_step && !o->no_train_eval) r->pending = e;
        if (r->target_epoch) stop = true; /* --target-rmse reached at this logged epoch */
        if (r->bar && (now_seconds() - r->last_draw > 0.1 || e == o->epochs)) {
            r->last_draw = now_seconds();
            progress_draw(e, o->epochs, loss, 1e3 * r->train_seconds / (double)e);
        }
        /* a checkpoint's log holds this epoch's record */
        if (o->checkpoint && e % o->checkpoint_every == 0 &&
            ((rc = finish_logged_epoch(r, false)) != EXIT_OK || (rc = write_checkpoint(r)) != EXIT_OK))
            return rc;
        int sig = g_stop_signal;
        if ((rc = dist_agree(&stop, &sig)) != EXIT_OK) return rc;
        /* no step follows: the pending epoch's training MSE from a pass of its own */
        if ((stop || sig || e == o->epochs) && (rc = finish_logged_epoch(r, false)) != EXIT_OK) return rc;
        if (stop) break;
        if (sig && e < o->epochs) return train_interrupted(r, e, sig);
    }
    stop_signal_epochs_ended();
    if (r->bar) fputs("\r\033[K", stderr);
    return EXIT_OK;
}

/* --plot's charts, drawn into the stage that plot_stage_begin opened,
 * titled with the configuration, the split and the model file; a note when
 * the curve has too few points to show a trend. */
static int train_plots(const struct train_run *r)
{
    const struct train_opts *o = r->o;
    char cfg[200], about[400];
    config_describe(&o->cfg, cfg, sizeof cfg);
    /* the epochs run, and the data, so that a chart without --out still
     * says what it shows */
    const char *data = r->pds ? data_name(r->pds) : NULL;
    snprintf(about, sizeof about, "%s, k %d, %lld epoch%s, %s%ssplit %s%s%s", cfg, o->cfg.k, (long long)r->ran, PL(r->ran),
             data ? data : "", data ? ", " : "", r->spec, o->out ? ": " : "", o->out ? o->out : "");
    if (r->n_curve < 3)
        fprintf(stderr,
                "%s: note: the learning curves have %d point%s (the logged epochs); "
                "--log-every N logs every N epochs\n",
                g_cmd, r->n_curve, r->n_curve == 1 ? "" : "s");
    return plot_training(o->plot, r->n_curve, r->curve, r->has_test, about);
}

/* Once the model is written (train_outputs_commit): the times of the
 * charts and the save, the process's total, and --log-json's last records
 * (--early-stop's and --target-rmse's outcomes, the timing and the
 * execution choices), which go into the file committed with the others. */
static int outputs_saved(void *ctx, const struct train_outputs *out)
{
    struct train_run *r = ctx;
    const struct train_opts *o = r->o;
    struct setup_times *t = &r->times;
    t->plots = out->plots_s;
    t->save = out->save_s;
    t->total = now_seconds() - t->total; /* from the process's start (cmd_train) */
    if (!o->log_json) return EXIT_OK;
    const double final_val_rmse = r->final_val_rmse;
    char bv[32], tg[32], tv[32];
    if (o->early_stop > 0 && r->best) /* which epoch's model the files hold, as the report says */
        jlog_printf(&r->jl,
                    "{\"early_stop\":{\"patience\":%lld,\"stopped\":%s,\"epochs_run\":%lld,"
                    "\"kept_epoch\":%lld,\"val_mse\":%s}}\n",
                    (long long)o->early_stop, r->ran < o->epochs ? "true" : "false", (long long)r->ran,
                    (long long)r->best_epoch, json_val(true, r->best_val, bv));
    if (o->target_rmse > 0)
        jlog_printf(&r->jl,
                    "{\"target\":{\"rmse\":%s,\"reached\":%s,\"epoch\":%lld,"
                    "\"val_rmse\":%s,\"wall_s\":%.6f}}\n",
                    num_exact(o->target_rmse, tg), r->target_epoch ? "true" : "false", (long long)r->target_epoch,
                    num_exact(r->target_epoch ? r->target_val : final_val_rmse, tv),
                    r->target_epoch ? r->target_wall : process_seconds());
    jlog_printf(&r->jl,
                "{\"timing\":{\"load_s\":%.6f,\"split_s\":%.6f,\"trainer_s\":%.6f,"
                "\"epochs_s\":%.6f,\"eval_s\":%.6f,\"log_eval_s\":%.6f,\"save_s\":%.6f,"
                "\"checkpoints_s\":%.6f,\"plots_s\":%.6f,\"total_s\":%.6f,\"run_epochs_s\":%.6f},\"threads\":%d,"
                "\"reduce\":\"%s\",\"reduce_reason\":\"%s\"}\n",
                t->load, t->split, t->trainer, r->train_seconds - r->train_s0, t->eval, t->log_eval, t->save,
                t->checkpoints, t->plots, t->total, r->train_seconds, mfr_trainer_n_threads(r->tr), mfr_trainer_reduce_name(r->tr),
                mfr_trainer_reduce_reason(r->tr));
    return EXIT_OK;
}

/* The target's outcome, in the report. */
static void report_target(const struct train_run *r, double final_val_rmse)
{
    const struct train_opts *o = r->o;
    if (o->target_rmse > 0 && r->target_epoch)
        printf("target validation RMSE %g reached at epoch %lld (RMSE %.6f), %.3f s after the "
               "start; training stopped there\n",
               o->target_rmse, (long long)r->target_epoch, r->target_val, r->target_wall);
    else if (o->target_rmse > 0 && r->target_checks < r->ran) /* epochs between logs are not checked */
        printf("target validation RMSE %g not reached at the %lld logged epoch%s of %lld (checked only "
               "there: --log-every %lld; final RMSE %.6f)\n",
               o->target_rmse, (long long)r->target_checks, PL(r->target_checks), (long long)r->ran,
               (long long)o->log_every, final_val_rmse);
    else if (o->target_rmse > 0)
        printf("target validation RMSE %g not reached in %lld epoch%s (final RMSE %.6f)\n",
               o->target_rmse, (long long)r->ran, PL(r->ran), final_val_rmse);
}

/* With early stopping: which epoch's model is kept (part of the final
 * report, --quiet too). */
static void report_kept_epoch(const struct train_run *r)
{
    const struct train_opts *o = r->o;
    if (r->ran < o->epochs) {
        printf("early stop after epoch %lld: keeping epoch %lld (validation MSE %.6f)\n",
               (long long)r->ran, (long long)r->best_epoch, r->best_val);
    } else if (r->best_epoch < r->ran) {
        printf("no early stop (all %lld epochs ran); keeping epoch %lld, the best validation "
               "MSE %.6f\n",
               (long long)r->ran, (long long)r->best_epoch, r->best_val);
    } else {
        printf("no early stop: the last epoch, %lld, has the best validation MSE %.6f\n",
               (long long)r->ran, r->best_val);
    }
}

/* The kept model's training and validation metrics: those every rank
 * computed (final_metrics), the last logged epoch's, or a pass. */
static int final_model_metrics(struct train_run *r, mfr_metrics *mt, mfr_metrics *mv)
{
    const struct train_opts *o = r->o;
    mfr_error err = {0};
    const double t0 = now_seconds();
    if (r->own) {
        *mt = r->fin_t;
        *mv = r->fin_v;
    } else {
        /* the model the last epoch logged: its metrics, not a second pass */
        const bool last_logged = !r->best && r->logged_epoch > 0 && r->logged_epoch == r->ran;
        if (r->mse_from_step)
            *mt = train_metrics(r, r->fin_train_mse);
        else if (last_logged && !o->no_train_eval)
            *mt = r->logged_t;
        else if (mfr_model_evaluate(r->model, r->train, mt, &err) != MFR_OK)
            return lib_error(&err);
        if (last_logged)
            *mv = r->logged_v;
        else if (r->has_test && mfr_model_evaluate(r->model, r->test, mv, &err) != MFR_OK)
            return lib_error(&err);
    }
    r->times.eval += now_seconds() - t0;
    return EXIT_OK;
}

/* The files: the charts, the model and the log, all or none
 * (train_outputs_commit). */
static int draw_outputs(void *ctx)
{
    return train_plots(ctx);
}

static int save_outputs(struct train_run *r, double final_val_rmse)
{
    const struct train_opts *o = r->o;
    r->final_val_rmse = final_val_rmse;
    struct train_outputs out = {.model = r->model, .out = o->out, .plot = o->plot, .log_json = o->log_json,
                                .jl = &r->jl, .ctx = r, .draw = draw_outputs, .after_save = outputs_saved};
    return train_outputs_commit(&out);
}

/* The report's last lines: time, the target's outcome, setup, memory, the
 * model's checksum and file, the checkpoint. */
static void report_run(const struct train_run *r, double wall, double final_val_rmse)
{
    const struct train_opts *o = r->o;
    const mfr_trainer *tr = r->tr;
    int64_t n_train = r->n_train;
    /* this process's epochs, beside this process's thread count (a resumed
     * run's earlier epochs may have run with another) */
    const int64_t here = r->ran - r->start;
    double ms = here > 0 ? 1e3 * (r->train_seconds - r->train_s0) / (double)here : 0.0;
    if (r->start > 0 && here == 0) /* a finished run's checkpoint: no epoch to time ("0.0000 ms/epoch") */
        printf("time: %.3f s wall in this process (resumed at epoch %lld, the run's last: no epoch ran; "
               "%.3f s in the whole run's epoch loop, its evaluations and checkpoints included)",
               r->times.total, (long long)r->start, wall);
    else if (r->start > 0) /* resumed: this process, then the epoch loop of all the run's processes */
        printf("time: %.3f s wall in this process (resumed at epoch %lld; %.3f s in the whole run's "
               "epoch loop, its evaluations and checkpoints included; ms/epoch below: this process's "
               "epochs)",
               r->times.total, (long long)r->start, wall);
    else
        printf("time: %.3f s wall", wall);
    if (here > 0 || r->start == 0)
        printf(", %.4f ms/epoch, %.3g ratings/s", ms, ms > 0 ? (double)n_train / (ms * 1e-3) : 0.0);
    printf(", threads %d, shards %d, reduce %s, kernels %s\n", mfr_trainer_n_threads(tr), mfr_trainer_n_shards(tr),
           mfr_trainer_reduce_name(tr), mfr_trainer_kernels_name(tr));
    report_target(r, final_val_rmse);
    const struct setup_times *t = &r->times;
    printf("setup time: load %.1f ms, split %.1f ms, trainer %.1f ms (CSR, CSC, init), evaluation "
           "%.1f ms, save %.1f ms", 1e3 * t->load, 1e3 * t->split, 1e3 * t->trainer, 1e3 * t->eval, 1e3 * t->save);
    if (t->checkpoints > 0) printf(", checkpoints %.1f ms", 1e3 * t->checkpoints);
    if (r->o->plot) printf(", plots %.1f ms", 1e3 * t->plots);
    /* the rest (--early-stop's copies of the best model, the log): the
     * parts then add up to the total they are of */
    const double outside = t->total - (r->train_seconds - r->train_s0),
                 other = outside - (t->load + t->split + t->trainer + t->eval + t->save + t->checkpoints + t->plots);
    if (other >= 0.5e-3) printf(", other %.1f ms", 1e3 * other);
    printf("; %.1f ms of %.3f s outside the epochs\n", 1e3 * outside, t->total);
    print_memory_line(r->best_bytes ? "factors, optimizer state, CSR, reduction; the best epoch's copy beside them"
                                    : "factors, optimizer state, CSR, reduction",
                      mfr_trainer_memory_bytes(tr), mfr_trainer_peak_bytes(tr) + r->best_bytes);
    if (o->out)
        printf("model checksum %016llx, saved to %s\n",
               (unsigned long long)mfr_model_checksum(r->model), printable(o->out));
    else
        printf("model checksum %016llx, not saved: the model is discarded (--out MODEL keeps "
               "it)\n",
               (unsigned long long)mfr_model_checksum(r->model));
    checkpoint_report(o->checkpoint, o->checkpoint_every, r->ck_epoch, r->ran);
}

/* The final model: saved, logged, plotted and reported. */
static int train_finish(struct train_run *r)
{
    int rc;
    const double wall = now_seconds() - r->t_start;
    r->model = dist_model(r->tr); /* under mpirun the whole model, gathered */
    if (r->best) {
        r->model = r->best;
        report_kept_epoch(r);
    }
    mfr_metrics mt = {0}, mv = {0};
    if ((rc = final_model_metrics(r, &mt, &mv)) != EXIT_OK) return rc;
    /* before any file: a stdout that cannot be written (--quiet prints
     * nothing earlier) fails the run with nothing written */
    if (r->has_test)
        printf("final: train MSE %.6f RMSE %.6f | validation MSE %.6f RMSE %.6f\n", mt.mse, mt.rmse,
               mv.mse, mv.rmse);
    else
        printf("final: train MSE %.6f RMSE %.6f | no validation ratings (split %s)\n", mt.mse, mt.rmse,
               printable(r->spec));
    if ((rc = stdout_flush()) != EXIT_OK || (rc = save_outputs(r, mv.rmse)) != EXIT_OK) return rc;
    report_run(r, wall, mv.rmse);
    stop_signal_note_finished();
    return EXIT_OK;
}

/* `own` data: the final model's metrics (the best epoch's with
 * --early-stop, each rank's copy), computed by every rank. */
static int final_metrics(struct train_run *r)
{
    mfr_error err = {0};
    double t0 = now_seconds();
    if ((!r->mse_from_step && dist_evaluate_own(0, r->best, &r->fin_t, &err) != MFR_OK) ||
        (r->has_test && dist_evaluate_own(1, r->best, &r->fin_v, &err) != MFR_OK))
        return lib_error(&err);
    if (r->mse_from_step) r->fin_t = train_metrics(r, r->fin_train_mse);
    r->times.eval += now_seconds() - t0;
    return EXIT_OK;
}

/* Defaults of the run options a resume takes from the checkpoint when
 * they are not given, and the checks between them. */
static int train_run_opts(struct train_opts *o)
{
    if (o->checkpoint_every >= 0 && !o->checkpoint && !o->resume)
        return usage_error("--checkpoint-every needs --checkpoint FILE");
    const char *outs[2] = {o->out, o->log_json};
    for (int x = 0; x < 2; x++)
        if (o->checkpoint && outs[x] && !strcmp(o->checkpoint, outs[x]))
            return usage_error("--checkpoint %s is also the %s file", o->checkpoint,
                               x ? "--log-json" : "--out");
    if (o->target_rmse > 0 && (o->resume || o->checkpoint))
        return usage_error("--target-rmse cannot be combined with --%s (checkpoints do not record it, so "
                           "a resumed run would not stop where this one does)",
                           o->resume ? "resume" : "checkpoint");
    if (o->target_rmse > 0 && o->early_stop > 0)
        return usage_error("--target-rmse and --early-stop both choose where to stop: give one");
    if (o->no_train_eval && o->plot)
        return usage_error("--plot draws the training MSE, which --no-train-eval leaves out");
    if (o->resume) return EXIT_OK;
    if (!o->split) o->split = "sklearn:300";
    /* --init-from replaces the drawn U and V: only --implicit's Y and a
     * random: split still draw from the seed */
    if (o->init_from && !(o->cfg.implicit > 0) && train_opts_user_gave(o, "--init-std"))
        return usage_error("--init-std draws the initial vectors, which --init-from replaces (only "
                           "--implicit's Y would still be drawn)");
    if (o->init_from && !(o->cfg.implicit > 0) && strncmp(o->split, "random:", 7) != 0 &&
        train_opts_user_gave(o, "--seed"))
        return usage_error("--seed draws the initial vectors and a random: split: with --init-from and "
                           "--split %s it would change nothing",
                           o->split);
    if (o->log_every < 0) o->log_every = 100;
    if (o->early_stop < 0) o->early_stop = 0;
    if (o->checkpoint_every < 0) o->checkpoint_every = 100;
    return EXIT_OK;
}

/* Under mpirun ranks other than 0 print and write nothing (docs/MPI.md);
 * what the ranks cannot run is refused by dist_trainer_create (the library) and,
 * for --kind softmax, by train_command. */
static int train_dist_opts(struct train_opts *o)
{
    if (!dist_on()) return EXIT_OK;
    if (dist_rank() != 0) { /* it still reads --resume and gathers for --checkpoint */
        o->out = o->log_json = o->plot = NULL;
        o->quiet = true;
    }
    return EXIT_OK;
}

static int train_command(int argc, char **argv)
{
    int rc;
    if (dist_on() && train_kind_is_softmax(argc, argv))
        return usage_error("--kind softmax is not supported under mpirun (docs/MPI.md)");
    const char *sm_ck = dist_on() ? train_resumes_softmax(argc, argv) : NULL;
    if (sm_ck) /* else every rank would run the whole softmax training and write its outputs */
        return usage_error("--resume %s holds a softmax run: --kind softmax is not supported under mpirun "
                           "(docs/MPI.md)",
                           sm_ck);
    if (train_kind_route(argc, argv, &rc)) return rc; /* --kind softmax */
    struct train_opts o;
    train_opts_init(&o);
    o.log_every = o.early_stop = o.checkpoint_every = -1; /* not given */
    if (!parse_train_flags(argc, argv, &o, &rc)) return rc;
    if ((rc = train_run_opts(&o)) != EXIT_OK) return rc;
    /* rank 0's output flags (which train_dist_opts clears on the other
     * ranks) decide the (collective, with `own` data) evaluations; a resume
     * sets --checkpoint later (resume_run_opts) */
    const bool prints = !o.quiet || o.plot || o.log_json;
    if ((rc = train_dist_opts(&o)) != EXIT_OK) return rc;
    mfr_set_threads(o.cfg.n_threads); /* the load, split, evaluations and save too */
    struct train_run r = {.o = &o, .best_val = INFINITY,
                          .times.total = now_seconds()};
    if ((rc = o.resume ? resume_setup(&r, &o) : train_setup(&r)) != EXIT_OK) goto done;
    r.model = mfr_trainer_model(r.tr);
    r.log_wanted = prints || o.checkpoint || o.target_rmse > 0;
    r.mse_from_step = o.cfg.optimizer != MFR_OPTIMIZER_ALS; /* the final line's too with --no-train-eval */
    if (r.own) {
        r.pds = dist_dataset();
        r.spec = dist_split_spec();
        r.n_all = dist_data_count(0);
        r.n_train = dist_data_count(1);
        r.n_test = dist_data_count(2);
    } else {
        r.pds = r.ds;
        r.spec = mfr_split_spec(r.sp);
        r.train = mfr_split_train(r.sp);
        r.test = mfr_split_test(r.sp);
        r.n_all = mfr_ratings_count(mfr_dataset_ratings(r.ds));
        r.n_train = mfr_ratings_count(r.train);
        r.n_test = mfr_ratings_count(r.test);
    }
    r.has_test = r.n_test > 0;
    if (o.early_stop && !r.has_test) { /* before the header, which would announce it */
        rc = usage_error("--early-stop needs a split with validation ratings (split %s has none)", r.spec);
        goto done;
    }
    if (o.early_stop && (rc = early_stop_budget(&r)) != EXIT_OK) goto done;
    if (o.target_rmse > 0 && !r.has_test) {
        rc = usage_error("--target-rmse needs a split with validation ratings (split %s has none)", r.spec);
        goto done;
    }
    if (!o.quiet && (rc = print_train_header(&r)) != EXIT_OK) goto done;
    r.bar = !o.quiet && isatty(STDERR_FILENO);
    stop_signals_install();
    if ((rc = train_epochs(&r)) == EXIT_OK) /* this process's epochs, not a checkpoint's */
        dist_report(!o.quiet, r.ran - r.start, r.train_seconds - r.train_s0);
    if (rc == EXIT_OK) rc = train_final_mse(&r); /* collective, like the next */
    if (rc == EXIT_OK && r.own) rc = final_metrics(&r); /* collective: before rank 0's best becomes whole */
    if (rc == EXIT_OK) rc = dist_gather(); /* also when no epoch ran here (a finished run resumed) */
    if (rc == EXIT_OK && r.best) { /* the model train_finish keeps: under mpirun rank 0's whole copy */
        mfr_model *whole = NULL;
        rc = dist_gather_model(r.best, &whole);
        if (whole) {
            mfr_model_destroy(r.best);
            r.best = whole;
        }
    }
    if (rc == EXIT_OK && dist_rank() == 0) rc = train_finish(&r);
done:
    train_run_free(&r);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    int rc = dist_begin(argc, argv);
    return dist_end(rc == EXIT_OK ? train_command(argc, argv) : rc);
}
