/*
 * cmd_train.c — `mfrec train`: the training loop around the library's
 * trainer, logging, the progress bar and the final report.
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
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "plot.h"

/* ------------------------------------------------------------------ */
/* mfrec train                                                          */
/* ------------------------------------------------------------------ */

static const char train_help[] =
    "Usage: mfrec train [options]\n"
    "\n"
    "Trains U·Vᵀ on the training part of a split with full-batch Adam (or\n"
    "gradient descent) and prints train/validation MSE every --log-every epochs.\n"
    "\n"
    "Presets (flags given beside a preset override it):\n"
    "  --preset NAME        notebook (default): the teaching notebook's experiment\n"
    "                       accurate: biased MF tuned for test RMSE (see README)\n"
    "                       ndcg: gravity-regularized, tuned for NDCG@10 (see README)\n"
    "Data:\n"
    "  --data DIR           dataset directory (default: $MFREC_DATA, else data/ml-100k)\n"
    "  --split SPEC         sklearn:SEED[:FRAC] | u1..u5 | ua | ub | random:FRAC\n"
    "                       (default sklearn:300, the notebook's split)\n"
    "Model and optimizer:\n"
    "  --dim K              embedding dimension (default 30)\n"
    "  --epochs N           full-batch epochs (default 1000)\n"
    "  --lr X               Adam learning rate (default 0.001)\n"
    "  --beta1 X, --beta2 X, --eps X   Adam constants (0.9, 0.999, 1e-8)\n"
    "  --init-std X         std of the N(0, X^2) initialization (default 1)\n"
    "  --init-from U.npy,V.npy   start from these float32 arrays\n"
    "  --seed S             initialization (and random: split) seed (default 300)\n"
    "  --optimizer adam|sgd Adam (default) or plain full-batch gradient descent\n"
    "                       (the notebook's first optimizer, with lr such as 10 or 20)\n"
    "  --l2 X               L2 weight: X (1/N sum |U_u|^2 + 1/M sum |V_i|^2) (default 0)\n"
    "  --l2-freq X          rating-weighted L2: X/|R| sum over training ratings of\n"
    "                       |U_u|^2 + |V_i|^2 (what SGD-trained MF applies) (default 0)\n"
    "  --gravity X          gravity weight: X/(M N) sum_u sum_i <U_u, V_i>^2 (default 0)\n"
    "  --bias               learn user and movie biases (prediction b_u + b_i + <U_u, V_i>)\n"
    "  --l2-bias X          bias L2 (with --bias): X (1/N sum b_u^2 + 1/M sum (b_i - mu)^2),\n"
    "                       mu the training mean (default 0)\n"
    "  --implicit X         implicit feedback (SVD++): U_u = P_u + |R(u)|^-1/2 sum of Y_j\n"
    "                       over the movies u rated in training; X weighs the L2 term\n"
    "                       X/M sum |Y_j|^2, and --l2/--l2-freq then weigh P (default 0: off)\n"
    "  --early-stop P       stop when validation MSE has not improved for P epochs\n"
    "                       (checked every epoch) and keep the best epoch's model\n"
    "Execution (never changes the result):\n"
    "  --threads N          worker threads (default: $OMP_NUM_THREADS, else all cores)\n"
    "Execution (part of the configuration; recorded in the model):\n"
    "  --shards N           user shards (default: derived from the data)\n"
    "  --reduce shard|owner item-gradient reduction (default owner)\n"
    "  --kernels auto|ref|avx2   kernel set (default auto; results are identical)\n"
    "  --max-memory SIZE    refuse configurations needing more (default: RAM)\n"
    "Output:\n"
    "  --log-every N        log every N epochs (default 100; 0: only the last)\n"
    "  --out MODEL          write the trained model file\n"
    "  --log-json FILE      one JSON record per logged epoch (JSON Lines)\n"
    "                       with the loss parts (mse, l2, gravity, total)\n"
    "  --plot DIR           learning curves (train/validation MSE at the logged epochs)\n"
    "                       and the loss components, as PNG and SVG (gnuplot)\n"
    "  --quiet              no progress bar and no per-epoch lines\n"
    "\n"
    "Exit status: 0 ok, 1 runtime error, 2 usage error.\n";

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

static int load_init_from(mfr_trainer *tr, const char *spec)
{
    const char *comma = strchr(spec, ',');
    if (!comma || comma == spec || !comma[1])
        return usage_error("--init-from must be U.npy,V.npy, got '%s'", spec);
    char *upath = strndup(spec, (size_t)(comma - spec));
    const char *vpath = comma + 1;
    mfr_error err = {0};
    int64_t ur = 0, uc = 0, vr = 0, vc = 0;
    float *U = NULL, *V = NULL;
    int rc = EXIT_OK;
    if (mfr_npy_read_f32(upath, &ur, &uc, &U, &err) != MFR_OK ||
        mfr_npy_read_f32(vpath, &vr, &vc, &V, &err) != MFR_OK ||
        mfr_trainer_set_factors(tr, U, ur, uc, V, vr, vc, &err) != MFR_OK)
        rc = runtime_error("--init-from: %s", err.message);
    mfr_free(U);
    mfr_free(V);
    free(upath);
    return rc;
}

/* One logged epoch, for --plot. */
struct curve {
    long epoch;
    double train, val, total, mse, l2, gravity;
};

/* Writes DIR/learning_curve.{png,svg} and DIR/loss_components.{png,svg}. */
static int plot_training(const char *dir, int n, const struct curve *c, bool has_test,
                         const mfr_config *cfg)
{
    int rc = ensure_dir(dir);
    if (rc != EXIT_OK) return rc;
    long *epoch = malloc(sizeof(long) * (size_t)(n ? n : 1));
    double *x = malloc(sizeof(double) * 6 * (size_t)(n ? n : 1));
    if (!epoch || !x) {
        free(epoch);
        free(x);
        return runtime_error("out of memory");
    }
    double *train = x + n, *val = x + 2 * n, *total = x + 3 * n, *l2 = x + 4 * n, *grav = x + 5 * n;
    for (int j = 0; j < n; j++) {
        epoch[j] = c[j].epoch;
        x[j] = (double)c[j].epoch;
        train[j] = c[j].train;
        val[j] = c[j].val;
        total[j] = c[j].total;
        l2[j] = c[j].l2;
        grav[j] = c[j].gravity;
    }
    rc = plot_learning_curves(dir, n, epoch, train, has_test ? val : NULL, NULL);
    if (rc == EXIT_OK) {
        /* The loss the optimizer sees at the logged epochs (before that step). */
        struct plot_series parts[4] = {{"total loss", total}, {"observed MSE", NULL}, {"L2", l2}, {"gravity", grav}};
        double *mse = malloc(sizeof(double) * (size_t)(n ? n : 1));
        if (!mse) rc = runtime_error("out of memory");
        else {
            for (int j = 0; j < n; j++) mse[j] = c[j].mse;
            parts[1].y = mse;
            int n_series = 2;
            if (cfg->l2 > 0 || cfg->l2_freq > 0 || cfg->l2_bias > 0 || cfg->implicit > 0)
                parts[n_series++] = parts[2];
            if (cfg->gravity > 0) parts[n_series++] = parts[3];
            struct plot_labels lab = {"Loss components", "epoch", "loss"};
            rc = plot_lines(dir, "loss_components", &lab, n, x, n_series, parts, true);
            free(mse);
        }
    }
    free(epoch);
    free(x);
    return rc;
}

/* Parses `mfrec train`'s flags into o; EXIT_OK or EXIT_USAGE. */
static int parse_train_flags(int argc, char **argv, struct train_opts *o)
{
    struct args a = {.argc = argc, .argv = argv, .pos = 0};
    int flag_error = 0;
    while (next_data_flag(&a, &flag_error)) {
        int shared = train_opts_flag(&a, o);
        if (shared < 0) return EXIT_USAGE;
        if (shared > 0) continue;
        if (flag_is(&a, "--quiet")) {
            o->quiet = true;
            continue;
        }
        if (a.flag[0] != '-' || a.flag[1] != '-') return usage_error("unexpected argument '%s'", a.flag);
        bool known = flag_is(&a, "--data") || flag_is(&a, "--split") || flag_is(&a, "--init-from") ||
                     flag_is(&a, "--early-stop") || flag_is(&a, "--log-every") ||
                     flag_is(&a, "--out") || flag_is(&a, "--log-json") || flag_is(&a, "--plot");
        if (!known) return usage_error("unknown option %s", a.flag);
        const char *v = flag_value(&a);
        if (!v) return EXIT_USAGE;
        bool ok = true;
        if (flag_is(&a, "--data")) o->data = v;
        else if (flag_is(&a, "--split")) o->split = v;
        else if (flag_is(&a, "--init-from")) o->init_from = v;
        else if (flag_is(&a, "--early-stop")) ok = parse_i64(a.flag, v, 1, 1000000000, &o->early_stop);
        else if (flag_is(&a, "--log-every")) ok = parse_i64(a.flag, v, 0, 1000000000, &o->log_every);
        else if (flag_is(&a, "--out")) o->out = v;
        else if (flag_is(&a, "--plot")) o->plot = v;
        else o->log_json = v;
        if (!ok) return EXIT_USAGE;
    }
    if (flag_error) return EXIT_USAGE;
    return EXIT_OK;
}

int cmd_train(int argc, char **argv)
{
    g_cmd = "mfrec train";
    if (want_help(argc, argv)) {
        print_data_command_help(train_help);
        fputs("\nPresets:\n", stdout);
        train_opts_print_presets(stdout);
        return EXIT_OK;
    }
    struct train_opts o;
    train_opts_init(&o);
    o.split = "sklearn:300";
    o.log_every = 100;
    int prc;
    if ((prc = train_opts_preset(argc, argv, &o)) != EXIT_OK ||
        (prc = parse_train_flags(argc, argv, &o)) != EXIT_OK ||
        (prc = train_opts_check(&o)) != EXIT_OK)
        return prc;
    mfr_config cfg = o.cfg;
    const char *data = o.data, *split = o.split, *out = o.out, *log_json = o.log_json;
    const char *init_from = o.init_from;
    int64_t epochs = o.epochs, log_every = o.log_every;
    bool quiet = o.quiet;

    mfr_error err = {0};
    mfr_dataset *ds = NULL;
    mfr_split *sp = NULL;
    mfr_trainer *tr = NULL;
    mfr_model *best = NULL;
    struct json_log jl = {0};
    struct curve *curve = NULL; /* the logged epochs, for --plot */
    int n_curve = 0, cap_curve = 0;
    int rc = EXIT_OK;
    const char *dir = default_data_dir(data);

    if (load_dataset(dir, &ds, &err) != MFR_OK) {
        rc = lib_error(&err);
        goto done;
    }
    if (mfr_split_create(ds, split, cfg.seed, &sp, &err) != MFR_OK) {
        rc = err.status == MFR_ERR_INVALID ? usage_error("--split: %s", err.message) : lib_error(&err);
        goto done;
    }
    if (mfr_trainer_create(&cfg, ds, mfr_split_train(sp), mfr_split_spec(sp), &tr, &err) != MFR_OK) {
        rc = lib_error(&err);
        goto done;
    }
    if (init_from && (rc = load_init_from(tr, init_from)) != EXIT_OK) goto done;

    const mfr_model *model = mfr_trainer_model(tr);
    const mfr_ratings *train = mfr_split_train(sp), *test = mfr_split_test(sp);
    int64_t n_train = mfr_ratings_count(train);
    if (!quiet) {
        printf("mfrec %s | data %s (%d users, %d items, %lld ratings)\n", MFR_VERSION_STRING,
               mfr_dataset_dir(ds), mfr_dataset_n_users(ds), mfr_dataset_n_items(ds),
               (long long)mfr_ratings_count(mfr_dataset_ratings(ds)));
        printf("split %s: %lld train, %lld validation\n", mfr_split_spec(sp), (long long)n_train,
               (long long)mfr_ratings_count(test));
        printf("preset %s | dim %d, epochs %lld, ", o.preset, cfg.k, (long long)epochs);
        if (cfg.optimizer == MFR_OPTIMIZER_SGD)
            printf("gradient descent lr %g", cfg.lr);
        else
            printf("Adam lr %g (beta1 %g, beta2 %g, eps %g)", cfg.lr, cfg.beta1, cfg.beta2, cfg.eps);
        printf(", init N(0, %g^2)%s, seed %llu\n", cfg.init_std,
               init_from ? " replaced by --init-from" : "", (unsigned long long)cfg.seed);
        printf("l2 %g, l2-freq %g, gravity %g, biases %s (l2-bias %g), implicit %g%s\n", cfg.l2,
               cfg.l2_freq, cfg.gravity, cfg.bias ? "on" : "off", cfg.l2_bias, cfg.implicit,
               o.early_stop ? ", early stopping on validation MSE" : "");
        printf("threads %d, shards %d, reduce %s, kernels %s, memory %.1f MiB\n",
               mfr_trainer_n_threads(tr), mfr_trainer_n_shards(tr), mfr_trainer_reduce_name(tr),
               mfr_trainer_kernels_name(tr), (double)mfr_trainer_memory_bytes(tr) / 1048576.0);
        printf("build: %s\n", mfr_build_info());
        fflush(stdout);
    }

    bool bar = !quiet && isatty(STDERR_FILENO);
    bool has_test = mfr_ratings_count(test) > 0;
    if (o.plot && !plot_available()) {
        rc = runtime_error("--plot needs gnuplot on PATH (Debian package gnuplot-nox)");
        goto done;
    }
    if (o.early_stop && !has_test) {
        rc = usage_error("--early-stop needs a split with validation ratings");
        goto done;
    }
    double best_val = INFINITY;
    int64_t best_epoch = 0, ran = 0;
    double train_seconds = 0.0, t_start = now_seconds(), last_draw = 0.0;
    for (int64_t e = 1; e <= epochs; e++) {
        double loss;
        double t0 = now_seconds();
        int st = mfr_trainer_step(tr, &loss);
        train_seconds += now_seconds() - t0;
        if (st != MFR_OK) {
            if (bar) fputc('\n', stderr);
            rc = runtime_error("%s", mfr_trainer_errmsg(tr));
            goto done;
        }
        ran = e;
        bool stop = false;
        if (o.early_stop) {
            mfr_metrics mv;
            if (mfr_model_evaluate(model, test, &mv, &err) != MFR_OK) {
                rc = lib_error(&err);
                goto done;
            }
            if (mv.mse < best_val) {
                best_val = mv.mse;
                best_epoch = e;
                mfr_model_destroy(best);
                best = NULL;
                if (mfr_model_copy(model, &best, &err) != MFR_OK) {
                    rc = lib_error(&err);
                    goto done;
                }
            } else if (e - best_epoch >= o.early_stop) {
                stop = true;
            }
        }
        bool logged = (log_every > 0 && e % log_every == 0) || e == epochs || stop;
        if (logged) {
            mfr_metrics mt, mv = {0};
            mfr_loss lp;
            mfr_trainer_last_loss(tr, &lp);
            if (mfr_model_evaluate(model, train, &mt, &err) != MFR_OK ||
                (has_test && mfr_model_evaluate(model, test, &mv, &err) != MFR_OK)) {
                rc = lib_error(&err);
                goto done;
            }
            if (!quiet) {
                if (bar) fputs("\r\033[K", stderr);
                printf("epoch %6lld  train MSE %.6f  validation MSE %.6f", (long long)e, mt.mse,
                       mv.mse);
                if (cfg.l2 > 0 || cfg.l2_freq > 0 || cfg.l2_bias > 0 || cfg.implicit > 0 ||
                    cfg.gravity > 0)
                    printf("  | loss %.6f = observed %.6f + l2 %.6f + gravity %.6f", lp.total,
                           lp.mse, lp.l2, lp.gravity);
                putchar('\n');
                fflush(stdout);
            }
            if (o.plot) {
                if (n_curve == cap_curve) {
                    cap_curve = cap_curve ? 2 * cap_curve : 64;
                    struct curve *nc = realloc(curve, sizeof *curve * (size_t)cap_curve);
                    if (!nc) {
                        rc = runtime_error("out of memory");
                        goto done;
                    }
                    curve = nc;
                }
                curve[n_curve++] = (struct curve){(long)e, mt.mse, mv.mse, lp.total, lp.mse, lp.l2, lp.gravity};
            }
            if (log_json)
                jlog_printf(&jl,
                            "{\"epoch\":%lld,\"train_mse\":%.17g,\"val_mse\":%.17g,"
                            "\"train_rmse\":%.17g,\"val_rmse\":%.17g,\"loss\":%.17g,"
                            "\"loss_mse\":%.17g,\"loss_l2\":%.17g,\"loss_gravity\":%.17g,"
                            "\"elapsed_s\":%.6f}\n",
                            (long long)e, mt.mse, mv.mse, mt.rmse, mv.rmse, lp.total, lp.mse,
                            lp.l2, lp.gravity, now_seconds() - t_start);
        }
        if (bar && (now_seconds() - last_draw > 0.1 || e == epochs)) {
            last_draw = now_seconds();
            progress_draw(e, epochs, loss, 1e3 * train_seconds / (double)e);
        }
        if (stop) break;
    }
    if (bar) fputs("\r\033[K", stderr);
    double wall = now_seconds() - t_start;
    if (best) {
        model = best;
        if (!quiet)
            printf("early stop after epoch %lld: keeping epoch %lld (validation MSE %.6f)\n",
                   (long long)ran, (long long)best_epoch, best_val);
    }

    mfr_metrics mt = {0}, mv = {0};
    if (mfr_model_evaluate(model, train, &mt, &err) != MFR_OK ||
        (mfr_ratings_count(test) > 0 && mfr_model_evaluate(model, test, &mv, &err) != MFR_OK)) {
        rc = lib_error(&err);
        goto done;
    }
    if (out) {
        if (mfr_model_save(model, out, &err) != MFR_OK) {
            rc = lib_error(&err);
            goto done;
        }
    }
    if (log_json && (rc = write_file_atomic(log_json, jl.buf ? jl.buf : "", jl.len)) != EXIT_OK)
        goto done;
    if (o.plot && (rc = plot_training(o.plot, n_curve, curve, has_test, &cfg)) != EXIT_OK) goto done;

    double ms = ran ? 1e3 * train_seconds / (double)ran : 0.0;
    printf("final: train MSE %.6f RMSE %.6f | validation MSE %.6f RMSE %.6f\n", mt.mse, mt.rmse,
           mv.mse, mv.rmse);
    printf("time: %.3f s wall, %.4f ms/epoch, %.3g ratings/s, threads %d, shards %d, reduce %s, "
           "kernels %s\n",
           wall, ms, ms > 0 ? (double)n_train / (ms * 1e-3) : 0.0, mfr_trainer_n_threads(tr),
           mfr_trainer_n_shards(tr), mfr_trainer_reduce_name(tr), mfr_trainer_kernels_name(tr));
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        printf("memory: peak RSS %.1f MiB; training buffers %.1f MiB (factors, optimizer state, "
               "CSR, reduction)\n",
               (double)ru.ru_maxrss / 1024.0, (double)mfr_trainer_memory_bytes(tr) / 1048576.0);
    printf("model checksum %016llx%s%s\n", (unsigned long long)mfr_model_checksum(model),
           out ? ", saved to " : "", out ? out : "");
done:
    free(curve);
    free(jl.buf);
    mfr_model_destroy(best);
    mfr_trainer_destroy(tr);
    mfr_split_destroy(sp);
    mfr_dataset_destroy(ds);
    return rc;
}
