/*
 * mfrec.c — the `mfrec` command: subcommands over the public API only
 * (train, eval, split, synth). Argument parsing, progress display and
 * tables live here; the library does the work.
 *
 * Exit codes: 0 success, 1 runtime error (bad data, I/O, divergence),
 * 2 usage error (unknown flag, bad flag value).
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

#include "mfrec.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* ------------------------------------------------------------------ */
/* Small utilities                                                      */
/* ------------------------------------------------------------------ */

static const char *g_cmd = "mfrec";

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", g_cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help'.\n", g_cmd);
    return EXIT_USAGE;
}

__attribute__((format(printf, 1, 2))) static int runtime_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: error: ", g_cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return EXIT_RUNTIME;
}

static int lib_error(const mfr_error *err) { return runtime_error("%s", err->message); }

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Flag parsing: `--name value` or `--name=value`. */
struct args {
    int argc;
    char **argv;
    int pos;
    const char *flag;  /* current flag name, without value */
    const char *inline_value;
    char name_buf[64];
};

static bool next_flag(struct args *a)
{
    if (a->pos >= a->argc) return false;
    const char *s = a->argv[a->pos++];
    const char *eq = strchr(s, '=');
    if (s[0] == '-' && s[1] == '-' && eq && (size_t)(eq - s) < sizeof a->name_buf) {
        memcpy(a->name_buf, s, (size_t)(eq - s));
        a->name_buf[eq - s] = 0;
        a->flag = a->name_buf;
        a->inline_value = eq + 1;
    } else {
        a->flag = s;
        a->inline_value = NULL;
    }
    return true;
}

static bool flag_is(const struct args *a, const char *name) { return strcmp(a->flag, name) == 0; }

/* Returns the flag's value, or NULL after printing a usage error. */
static const char *flag_value(struct args *a)
{
    if (a->inline_value) return a->inline_value;
    if (a->pos >= a->argc) {
        usage_error("option %s needs a value", a->flag);
        return NULL;
    }
    return a->argv[a->pos++];
}

static bool parse_i64(const char *flag, const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        usage_error("%s must be an integer in %lld..%lld, got '%s'", flag, (long long)lo,
                    (long long)hi, s);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_i32(const char *flag, const char *s, int32_t lo, int32_t hi, int32_t *out)
{
    int64_t v;
    if (!parse_i64(flag, s, lo, hi, &v)) return false;
    *out = (int32_t)v;
    return true;
}

static bool parse_u64(const char *flag, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (s[0] == '-') {
        usage_error("%s must be a non-negative integer, got '%s'", flag, s);
        return false;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end) {
        usage_error("%s must be a non-negative integer, got '%s'", flag, s);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_double(const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
        usage_error("%s must be a number in [%g, %g], got '%s'", flag, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_float(const char *flag, const char *s, double lo, double hi, float *out)
{
    double v;
    if (!parse_double(flag, s, lo, hi, &v)) return false;
    *out = (float)v;
    return true;
}

/* Sizes like 512M, 4G, 1048576. */
static bool parse_bytes(const char *flag, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    double mult = 1;
    if (end != s) {
        switch (*end) {
        case 'k': case 'K': mult = 1024.0; end++; break;
        case 'm': case 'M': mult = 1048576.0; end++; break;
        case 'g': case 'G': mult = 1073741824.0; end++; break;
        case 't': case 'T': mult = 1099511627776.0; end++; break;
        default: break;
        }
        if (*end == 'B' || *end == 'b') end++;
    }
    if (errno || end == s || *end || !(v > 0) || v * mult > 1.8e19) {
        usage_error("%s must be a size such as 512M or 4G, got '%s'", flag, s);
        return false;
    }
    *out = (uint64_t)(v * mult);
    return true;
}

static const char *default_data_dir(const char *flag_value_or_null)
{
    if (flag_value_or_null) return flag_value_or_null;
    const char *env = getenv("MFREC_DATA");
    if (env && *env) return env;
    return "data/ml-100k";
}

static bool want_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return true;
    return false;
}

static int ensure_dir(const char *dir)
{
    if (mkdir(dir, 0755) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) return EXIT_OK;
        return runtime_error("%s exists and is not a directory", dir);
    }
    return runtime_error("cannot create directory %s: %s", dir, strerror(errno));
}

/* ------------------------------------------------------------------ */
/* mfrec train                                                          */
/* ------------------------------------------------------------------ */

static const char train_help[] =
    "Usage: mfrec train [options]\n"
    "\n"
    "Trains U·Vᵀ on the training part of a split with full-batch Adam and\n"
    "prints train/validation MSE every --log-every epochs.\n"
    "\n"
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
    "  --quiet              no progress bar and no per-epoch lines\n"
    "\n"
    "Exit status: 0 ok, 1 runtime error, 2 usage error.\n";

struct json_log {
    char *buf;
    size_t len, cap;
};

__attribute__((format(printf, 2, 3))) static void jlog_printf(struct json_log *j,
                                                              const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        size_t room = j->cap - j->len;
        int n = vsnprintf(j->buf ? j->buf + j->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if ((size_t)n < room) {
            j->len += (size_t)n;
            return;
        }
        size_t ncap = j->cap ? j->cap * 2 : 4096;
        while (ncap - j->len <= (size_t)n) ncap *= 2;
        char *nb = realloc(j->buf, ncap);
        if (!nb) return;
        j->buf = nb;
        j->cap = ncap;
    }
}

static int write_file_atomic(const char *path, const char *data, size_t len)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) return runtime_error("out of memory");
    snprintf(tmp, plen + 16, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return runtime_error("cannot create %s: %s", path, strerror(e));
    }
    FILE *f = fdopen(fd, "w");
    bool ok = f && fwrite(data, 1, len, f) == len && fflush(f) == 0 && fsync(fd) == 0;
    if (f) ok = (fclose(f) == 0) && ok;
    else close(fd);
    if (ok && rename(tmp, path) != 0) ok = false;
    if (!ok) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        return runtime_error("cannot write %s: %s", path, strerror(e));
    }
    free(tmp);
    return EXIT_OK;
}

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

static int cmd_train(int argc, char **argv)
{
    g_cmd = "mfrec train";
    if (want_help(argc, argv)) {
        fputs(train_help, stdout);
        return EXIT_OK;
    }
    mfr_config cfg;
    mfr_config_default(&cfg);
    const char *data = NULL, *split = "sklearn:300", *out = NULL, *log_json = NULL;
    const char *init_from = NULL;
    int64_t epochs = 1000, log_every = 100;
    bool quiet = false;

    struct args a = {.argc = argc, .argv = argv, .pos = 0};
    while (next_flag(&a)) {
        const char *v;
        if (flag_is(&a, "--quiet")) {
            quiet = true;
            continue;
        }
        if (a.flag[0] != '-' || a.flag[1] != '-') return usage_error("unexpected argument '%s'", a.flag);
#define VALUE() \
    if (!(v = flag_value(&a))) return EXIT_USAGE
        if (flag_is(&a, "--data")) { VALUE(); data = v; }
        else if (flag_is(&a, "--split")) { VALUE(); split = v; }
        else if (flag_is(&a, "--dim")) { VALUE(); if (!parse_i32(a.flag, v, 1, 4096, &cfg.k)) return EXIT_USAGE; }
        else if (flag_is(&a, "--epochs")) { VALUE(); if (!parse_i64(a.flag, v, 0, 1000000000, &epochs)) return EXIT_USAGE; }
        else if (flag_is(&a, "--lr")) { VALUE(); if (!parse_double(a.flag, v, 1e-12, 1e6, &cfg.lr)) return EXIT_USAGE; }
        else if (flag_is(&a, "--beta1")) { VALUE(); if (!parse_double(a.flag, v, 0, 0.999999, &cfg.beta1)) return EXIT_USAGE; }
        else if (flag_is(&a, "--beta2")) { VALUE(); if (!parse_double(a.flag, v, 0, 0.9999999, &cfg.beta2)) return EXIT_USAGE; }
        else if (flag_is(&a, "--eps")) { VALUE(); if (!parse_double(a.flag, v, 1e-30, 1, &cfg.eps)) return EXIT_USAGE; }
        else if (flag_is(&a, "--init-std")) { VALUE(); if (!parse_double(a.flag, v, 0, 1e6, &cfg.init_std)) return EXIT_USAGE; }
        else if (flag_is(&a, "--init-from")) { VALUE(); init_from = v; }
        else if (flag_is(&a, "--seed")) { VALUE(); if (!parse_u64(a.flag, v, &cfg.seed)) return EXIT_USAGE; }
        else if (flag_is(&a, "--threads")) { VALUE(); if (!parse_i32(a.flag, v, 1, 1024, &cfg.n_threads)) return EXIT_USAGE; }
        else if (flag_is(&a, "--shards")) { VALUE(); if (!parse_i32(a.flag, v, 1, 65536, &cfg.n_shards)) return EXIT_USAGE; }
        else if (flag_is(&a, "--max-memory")) { VALUE(); if (!parse_bytes(a.flag, v, &cfg.max_memory)) return EXIT_USAGE; }
        else if (flag_is(&a, "--reduce")) {
            VALUE();
            if (!strcmp(v, "shard")) cfg.reduce = MFR_REDUCE_SHARD;
            else if (!strcmp(v, "owner")) cfg.reduce = MFR_REDUCE_OWNER;
            else return usage_error("--reduce must be shard or owner, got '%s'", v);
        } else if (flag_is(&a, "--kernels")) {
            VALUE();
            if (!strcmp(v, "auto")) cfg.kernels = MFR_KERNELS_AUTO;
            else if (!strcmp(v, "ref")) cfg.kernels = MFR_KERNELS_REF;
            else if (!strcmp(v, "avx2")) cfg.kernels = MFR_KERNELS_AVX2;
            else return usage_error("--kernels must be auto, ref or avx2, got '%s'", v);
        }
        else if (flag_is(&a, "--log-every")) { VALUE(); if (!parse_i64(a.flag, v, 0, 1000000000, &log_every)) return EXIT_USAGE; }
        else if (flag_is(&a, "--out")) { VALUE(); out = v; }
        else if (flag_is(&a, "--log-json")) { VALUE(); log_json = v; }
        else return usage_error("unknown option %s", a.flag);
#undef VALUE
    }

    mfr_error err = {0};
    mfr_dataset *ds = NULL;
    mfr_split *sp = NULL;
    mfr_trainer *tr = NULL;
    struct json_log jl = {0};
    int rc = EXIT_OK;
    const char *dir = default_data_dir(data);

    if (mfr_dataset_load(dir, NULL, &ds, &err) != MFR_OK) {
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
        printf("dim %d, epochs %lld, Adam lr %g (beta1 %g, beta2 %g, eps %g), init N(0, %g^2)%s, "
               "seed %llu\n",
               cfg.k, (long long)epochs, (double)cfg.lr, (double)cfg.beta1, (double)cfg.beta2,
               (double)cfg.eps, (double)cfg.init_std, init_from ? " replaced by --init-from" : "",
               (unsigned long long)cfg.seed);
        printf("threads %d, shards %d, reduce %s, kernels %s, memory %.1f MiB\n",
               mfr_trainer_n_threads(tr), mfr_trainer_n_shards(tr), mfr_trainer_reduce_name(tr),
               mfr_trainer_kernels_name(tr), (double)mfr_trainer_memory_bytes(tr) / 1048576.0);
        printf("build: %s\n", mfr_build_info());
        fflush(stdout);
    }

    bool bar = !quiet && isatty(STDERR_FILENO);
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
        bool logged = (log_every > 0 && e % log_every == 0) || e == epochs;
        if (logged) {
            mfr_metrics mt, mv = {0};
            if (mfr_model_evaluate(model, train, &mt, &err) != MFR_OK ||
                (mfr_ratings_count(test) > 0 && mfr_model_evaluate(model, test, &mv, &err) != MFR_OK)) {
                rc = lib_error(&err);
                goto done;
            }
            if (!quiet) {
                if (bar) fputs("\r\033[K", stderr);
                printf("epoch %6lld  train MSE %.6f  validation MSE %.6f\n", (long long)e, mt.mse,
                       mv.mse);
                fflush(stdout);
            }
            if (log_json)
                jlog_printf(&jl,
                            "{\"epoch\":%lld,\"train_mse\":%.17g,\"val_mse\":%.17g,"
                            "\"train_rmse\":%.17g,\"val_rmse\":%.17g,\"loss_before_step\":%.17g,"
                            "\"elapsed_s\":%.6f}\n",
                            (long long)e, mt.mse, mv.mse, mt.rmse, mv.rmse, loss,
                            now_seconds() - t_start);
        }
        if (bar && (now_seconds() - last_draw > 0.1 || e == epochs)) {
            last_draw = now_seconds();
            progress_draw(e, epochs, loss, 1e3 * train_seconds / (double)e);
        }
    }
    if (bar) fputs("\r\033[K", stderr);
    double wall = now_seconds() - t_start;

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

    double ms = epochs ? 1e3 * train_seconds / (double)epochs : 0.0;
    printf("final: train MSE %.6f RMSE %.6f | validation MSE %.6f RMSE %.6f\n", mt.mse, mt.rmse,
           mv.mse, mv.rmse);
    printf("time: %.3f s wall, %.4f ms/epoch, %.3g ratings/s, threads %d, shards %d, reduce %s, "
           "kernels %s\n",
           wall, ms, ms > 0 ? (double)n_train / (ms * 1e-3) : 0.0, mfr_trainer_n_threads(tr),
           mfr_trainer_n_shards(tr), mfr_trainer_reduce_name(tr), mfr_trainer_kernels_name(tr));
    printf("model checksum %016llx%s%s\n", (unsigned long long)mfr_model_checksum(model),
           out ? ", saved to " : "", out ? out : "");
done:
    free(jl.buf);
    mfr_trainer_destroy(tr);
    mfr_split_destroy(sp);
    mfr_dataset_destroy(ds);
    return rc;
}

/* ------------------------------------------------------------------ */
/* mfrec eval                                                           */
/* ------------------------------------------------------------------ */

static const char eval_help[] =
    "Usage: mfrec eval --model MODEL [--data DIR] --test FILE\n"
    "\n"
    "Prints MSE, RMSE and MAE of a trained model on a rating file in u.data\n"
    "format. FILE is looked up as given, then inside the data directory.\n"
    "--data defaults to the directory recorded in the model; the dataset must\n"
    "be the one the model was trained on (its fingerprint is checked).\n";

static int cmd_eval(int argc, char **argv)
{
    g_cmd = "mfrec eval";
    if (want_help(argc, argv)) {
        fputs(eval_help, stdout);
        return EXIT_OK;
    }
    const char *model_path = NULL, *data = NULL, *test_path = NULL;
    struct args a = {.argc = argc, .argv = argv, .pos = 0};
    while (next_flag(&a)) {
        const char *v;
        if (flag_is(&a, "--model")) { if (!(v = flag_value(&a))) return EXIT_USAGE; model_path = v; }
        else if (flag_is(&a, "--data")) { if (!(v = flag_value(&a))) return EXIT_USAGE; data = v; }
        else if (flag_is(&a, "--test")) { if (!(v = flag_value(&a))) return EXIT_USAGE; test_path = v; }
        else if (a.flag[0] == '-') return usage_error("unknown option %s", a.flag);
        else return usage_error("unexpected argument '%s'", a.flag);
    }
    if (!model_path) return usage_error("--model is required");
    if (!test_path) return usage_error("--test is required");

    mfr_error err = {0};
    mfr_model *m = NULL;
    mfr_dataset *ds = NULL;
    mfr_ratings *r = NULL;
    char *joined = NULL;
    int rc = EXIT_OK;
    if (mfr_model_load(model_path, &m, &err) != MFR_OK) {
        rc = lib_error(&err);
        goto done;
    }
    const char *dir = data ? data : mfr_model_data_dir(m);
    if (!*dir) dir = default_data_dir(NULL);
    if (mfr_dataset_load(dir, NULL, &ds, &err) != MFR_OK ||
        mfr_model_check_dataset(m, ds, &err) != MFR_OK) {
        rc = lib_error(&err);
        goto done;
    }
    const char *path = test_path;
    if (access(path, F_OK) != 0 && test_path[0] != '/') {
        joined = malloc(strlen(dir) + strlen(test_path) + 2);
        if (!joined) { rc = runtime_error("out of memory"); goto done; }
        sprintf(joined, "%s/%s", dir, test_path);
        if (access(joined, F_OK) == 0) path = joined;
    }
    mfr_metrics mt;
    if (mfr_dataset_read_ratings(ds, path, &r, &err) != MFR_OK ||
        mfr_model_evaluate(m, r, &mt, &err) != MFR_OK) {
        rc = lib_error(&err);
        goto done;
    }
    printf("model %s (k %d, %lld epochs, split %s)\n", model_path, mfr_model_k(m),
           (long long)mfr_model_epochs(m), mfr_model_split_spec(m));
    printf("test %s: %lld ratings\n", path, (long long)mt.n);
    printf("MSE %.6f\nRMSE %.6f\nMAE %.6f\n", mt.mse, mt.rmse, mt.mae);
done:
    free(joined);
    mfr_ratings_destroy(r);
    mfr_dataset_destroy(ds);
    mfr_model_destroy(m);
    return rc;
}

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

static int cmd_split(int argc, char **argv)
{
    g_cmd = "mfrec split";
    if (want_help(argc, argv)) {
        fputs(split_help, stdout);
        return EXIT_OK;
    }
    const char *data = NULL, *spec = "sklearn:300", *out = NULL;
    uint64_t seed = 300;
    struct args a = {.argc = argc, .argv = argv, .pos = 0};
    while (next_flag(&a)) {
        const char *v;
        if (flag_is(&a, "--data")) { if (!(v = flag_value(&a))) return EXIT_USAGE; data = v; }
        else if (flag_is(&a, "--split")) { if (!(v = flag_value(&a))) return EXIT_USAGE; spec = v; }
        else if (flag_is(&a, "--out")) { if (!(v = flag_value(&a))) return EXIT_USAGE; out = v; }
        else if (flag_is(&a, "--seed")) { if (!(v = flag_value(&a)) || !parse_u64(a.flag, v, &seed)) return EXIT_USAGE; }
        else if (a.flag[0] == '-') return usage_error("unknown option %s", a.flag);
        else return usage_error("unexpected argument '%s'", a.flag);
    }
    if (!out) return usage_error("--out is required");
    mfr_error err = {0};
    mfr_dataset *ds = NULL;
    mfr_split *sp = NULL;
    char *ptrain = NULL, *ptest = NULL;
    int rc = EXIT_OK;
    if (mfr_dataset_load(default_data_dir(data), NULL, &ds, &err) != MFR_OK) {
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

static int cmd_synth(int argc, char **argv)
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

/* ------------------------------------------------------------------ */
/* main                                                                 */
/* ------------------------------------------------------------------ */

static const char main_help[] =
    "Usage: mfrec COMMAND [options]\n"
    "\n"
    "A fast, deterministic, multithreaded matrix-factorization trainer.\n"
    "\n"
    "Commands:\n"
    "  train    train a model (the notebook's experiment by default)\n"
    "  eval     MSE, RMSE and MAE of a model on a rating file\n"
    "  split    write the parts of a split as rating files\n"
    "  synth    write a synthetic dataset in the ML-100K layout\n"
    "\n"
    "'mfrec COMMAND --help' describes each command. 'mfrec --version' prints\n"
    "the version and build. Exit status: 0 ok, 1 runtime error, 2 usage error.\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(main_help, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(main_help, stdout);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "--version")) {
        printf("mfrec %s (%s)\n", MFR_VERSION_STRING, mfr_build_info());
        return EXIT_OK;
    }
    if (!strcmp(cmd, "train")) return cmd_train(argc - 2, argv + 2);
    if (!strcmp(cmd, "eval")) return cmd_eval(argc - 2, argv + 2);
    if (!strcmp(cmd, "split")) return cmd_split(argc - 2, argv + 2);
    if (!strcmp(cmd, "synth")) return cmd_synth(argc - 2, argv + 2);
    return usage_error("unknown command '%s'", cmd);
}
