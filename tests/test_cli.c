/*
 * test_cli.c — the mfrec command end to end on synthetic data: exit codes
 * (0 ok, 1 runtime, 2 usage), messages that name the flag or file:line,
 * files written or, on failure, not written.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "test_util.h"

static char *g_dir;  /* scratch directory */
static char *g_data; /* synthetic dataset */
static const char *g_bin;
static char *g_out, *g_err; /* last command's stdout and stderr */

/* Runs `ENV mfrec ARGS` (shell fragments; env may be ""); returns the exit
 * status and keeps stdout and stderr in g_out and g_err. */
#define run_env(env, ...) tu_run_clif(g_bin, g_dir, env, &g_out, &g_err, __VA_ARGS__)
#define run(...) run_env("", __VA_ARGS__)

static int setup(void **state)
{
    (void)state;
    g_bin = getenv("MFREC_BIN");
    if (!g_bin) tu_skip_all("MFREC_BIN is not set (run through meson test)");
    g_dir = tu_mkdtemp();
    g_data = tu_path(g_dir, "data");
    if (run("synth --users 120 --items 80 --ratings 3000 --rank 4 --seed 3 --out '%s'", g_data) != 0) {
        fprintf(stderr, "synth failed: %s\n", g_err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(g_dir);
    free(g_dir);
    free(g_data);
    free(g_out);
    free(g_err);
    return 0;
}

static void test_help_and_usage_errors(void **state)
{
    (void)state;
    assert_int_equal(run("--help"), 0);
    tu_expect_in(g_out, "train");
    tu_expect_in(g_out, "3 train or sweep stopped by SIGINT or SIGTERM"); /* not only 0, 1, 2 */
    for (const char *c = "train\0eval\0split\0synth\0"; *c; c += strlen(c) + 1) {
        assert_int_equal(run("%s --help", c), 0);
        tu_expect_in(g_out, "Usage: mfrec");
        tu_expect_in(g_out, "Exit status: 0 ok, 1 runtime error"); /* split, synth had none */
    }
    /* the table's help lines, as train prints them: --threads is measured
     * when not given (the header says "threads measured, 1 or N") */
    assert_int_equal(run("train --help"), 0);
    tu_expect_in(g_out, "(default: measured: 1 or $OMP_NUM_THREADS");
    tu_expect_in(g_out, "initialization (and random: split) seed");
    /* a letter or digit is no SEP (delimited:x is refused); '::' is no
     * delimited separator, only eval's test files detect it */
    tu_expect_in(g_out, "another punctuation character that no number holds");
    assert_int_equal(run("eval --help"), 0);
    tu_expect_in(g_out, "the separator detected from line 1: tab, '::',");
    assert_int_equal(run("stats --data '%s/u.data' --format delimited:x", g_data), 2);
    tu_expect_in(g_err, "SEP must be a space, tab or punctuation character");
    assert_int_equal(run("--version"), 0);
    tu_expect_in(g_out, "mfrec ");
    assert_int_equal(run("%s", ""), 2);
    assert_int_equal(run("bogus"), 2);
    tu_expect_in(g_err, "unknown command 'bogus'");
    assert_int_equal(run("train --bogus 3"), 2);
    tu_expect_in(g_err, "unknown option --bogus");
    assert_int_equal(run("train --dim 0"), 2);
    tu_expect_in(g_err, "--dim must be an integer in 1..4096, got '0'");
    assert_int_equal(run("train --lr abc"), 2);
    tu_expect_in(g_err, "--lr");
    assert_int_equal(run("train --epochs"), 2);
    tu_expect_in(g_err, "--epochs needs a value");
    assert_int_equal(run("train --reduce fast"), 2);
    tu_expect_in(g_err, "--reduce must be auto, shard or owner");
    assert_int_equal(run("train --data '%s' --split nope", g_data), 2);
    tu_expect_in(g_err, "--split");
    assert_int_equal(run("eval --test x"), 2);
    tu_expect_in(g_err, "--model is required");
}

/* Flags the chosen optimizer would ignore (and record in the model) are
 * refused; the rules between flags are usage errors naming flags. A
 * preset's own flags are not the user's: --preset ndcg sets --lr, and
 * --optimizer als beside it is fine. */
static void test_train_flags_that_would_do_nothing(void **state)
{
    (void)state;
    static const struct {
        const char *flags, *message;
    } cases[] = {
        {"--optimizer sgd --beta1 0.5", "--beta1 is Adam's: it does not apply to --optimizer sgd"},
        {"--optimizer sgd --eps 0.001", "--eps is Adam's: it does not apply to --optimizer sgd"},
        {"--optimizer als --l2 0.1 --beta2 0.5", "--beta2 is Adam's: it does not apply to --optimizer als"},
        {"--optimizer als --l2 0.1 --lr 0.5", "--lr does not apply to --optimizer als"},
        {"--preset fast --lr 0.1", "--lr does not apply to --optimizer als"},
        {"--als-cg 3", "--als-cg 3 applies to --optimizer als only"},
        {"--bias --item-prior-drop 1", "--item-prior-drop 1 moves where --l2-bias pulls the movie biases"},
        {"--optimizer als", "--optimizer als needs --l2 or --l2-freq > 0"},
        {"--optimizer als --l2 0.1 --gravity 1", "--gravity (1) must be 0"},
        {"--optimizer als --l2 0.1 --reduce owner", "--reduce chooses the item gradients' reduction: --optimizer als has none"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        if (run("train --data '%s' --split random:0.2 --epochs 2 --threads 1 --quiet %s", g_data,
                cases[c].flags) != 2)
            fail_msg("train %s: not a usage error\n%s", cases[c].flags, g_err);
        tu_expect_in(g_err, cases[c].message);
        assert_int_equal(run("eval --folds --data '%s' --epochs 2 %s", g_data, cases[c].flags), 2);
        tu_expect_in(g_err, cases[c].message);
    }
    assert_int_equal(run("train --data '%s' --split random:0.2 --epochs 2 --threads 1 --quiet --preset ndcg "
                         "--optimizer als --gravity 0 --implicit 0",
                         g_data),
                     0);
    assert_int_equal(run("train --data '%s' --split random:0.2 --epochs 2 --threads 1 --quiet --optimizer sgd "
                         "--lr 0.01",
                         g_data),
                     0);
    /* --init-from replaces what --init-std and --seed draw, unless --implicit's
     * Y or a random: split still use them */
    char *m = tu_path(g_dir, "init.bin"), *e = tu_path(g_dir, "init_npy");
    assert_int_equal(run("train --data '%s' --dim 4 --epochs 2 --threads 1 --quiet --out '%s'", g_data, m), 0);
    assert_int_equal(run("export --model '%s' --as npy --out '%s'", m, e), 0);
#define INIT_FROM "train --data '%s' --dim 4 --epochs 2 --threads 1 --quiet --init-from '%s/U.npy,%s/V.npy'"
    assert_int_equal(run(INIT_FROM " --init-std 0.5", g_data, e, e), 2);
    tu_expect_in(g_err, "--init-std draws the initial vectors, which --init-from replaces");
    assert_int_equal(run(INIT_FROM " --seed 7", g_data, e, e), 2);
    tu_expect_in(g_err, "--seed draws the initial vectors and a random: split: with --init-from and --split "
                        "sklearn:300 it would change nothing");
    assert_int_equal(run(INIT_FROM " --seed 7 --split random:0.2", g_data, e, e), 0);
    assert_int_equal(run(INIT_FROM " --init-std 0.5 --implicit 1", g_data, e, e), 0);
    /* starting vectors whose loss overflows: said so, not "lower the
     * learning rate" (no update has run) */
    char *u = tu_path(e, "U.npy");
    size_t n;
    unsigned char *b = (unsigned char *)tu_read_file(u, &n);
    assert_non_null(b);
    const size_t data = 10 + (size_t)(b[8] | b[9] << 8); /* npy 1.0: the header's length */
    const float huge = 3e38f;
    for (size_t x = data; x + 4 <= n; x += 4) memcpy(b + x, &huge, 4);
    tu_write_file(e, "U.npy", (const char *)b, n);
    free(b), free(u);
    assert_int_equal(run(INIT_FROM, g_data, e, e), 1);
    tu_expect_in(g_err, "training loss is non-finite (NaN) at the starting factors, before any update: "
                        "they are too large");
    /* factors of 1e15: a finite loss, but Adam's first gradient overflows
     * whatever the learning rate; it blamed the learning rate, not the
     * files (the optimizer state too, at 1e8) */
    for (float big = 1e15f; big > 1; big = big > 1e9f ? 1e8f : 0) {
        for (int a = 0; a < 2; a++) {
            char *path = tu_path(e, a ? "V.npy" : "U.npy");
            b = (unsigned char *)tu_read_file(path, &n);
            assert_non_null(b);
            for (size_t x = 10 + (size_t)(b[8] | b[9] << 8); x + 4 <= n; x += 4) memcpy(b + x, &big, 4);
            tu_write_file(e, a ? "V.npy" : "U.npy", (const char *)b, n);
            free(b), free(path);
        }
        assert_int_equal(run(INIT_FROM, g_data, e, e), 1);
        char want[512];
        snprintf(want, sizeof want, "mfrec train: error: --init-from: %s/U.npy,%s/V.npy: the ", e, e);
        tu_expect_in(g_err, want);
        tu_expect_in(g_err, " in the first update although the loss was finite");
        tu_expect_in(g_err, "the starting factors are too large");
        assert_null(strstr(g_err, "lower the learning rate"));
    }
    /* all-zero factors never move: the run trained nothing and exited 0 */
    for (int a = 0; a < 2; a++) {
        char *path = tu_path(e, a ? "V.npy" : "U.npy");
        b = (unsigned char *)tu_read_file(path, &n);
        assert_non_null(b);
        memset(b + 10 + (size_t)(b[8] | b[9] << 8), 0, n - 10 - (size_t)(b[8] | b[9] << 8));
        tu_write_file(e, a ? "V.npy" : "U.npy", (const char *)b, n);
        free(b), free(path);
    }
    assert_int_equal(run(INIT_FROM, g_data, e, e), 1);
    tu_expect_in(g_err, "mfrec train: error: --init-from: the starting U and V are all zero: zero factors have "
                        "zero gradients and never move");
    assert_int_equal(run(INIT_FROM " --implicit 1", g_data, e, e), 0);
#undef INIT_FROM
    /* split's --seed is a random: split's */
    assert_int_equal(run("split --data '%s' --split sklearn:300 --seed 5 --out '%s/sp'", g_data, g_dir), 2);
    tu_expect_in(g_err, "--seed applies to random: splits only");
    free(m), free(e);
}

/* A logged epoch's training MSE is the next step's loss data term, or, when
 * no step follows (the last epoch, a checkpoint), a pass of the same
 * kernels: the same bits either way, so a run that checkpoints after every
 * epoch (every value from that pass) logs what a plain run logs (every
 * value but the last from the next step), at any thread count. */
static void test_train_mse_from_next_step(void **state)
{
    (void)state;
    enum { E = 12 };
    char *a = tu_path(g_dir, "steps.jsonl"), *b = tu_path(g_dir, "passes.jsonl"), *ck = tu_path(g_dir, "ms.ck");
    const char *common = "--split random:0.2 --dim 6 --epochs 12 --lr 0.05 --l2 0.1 --bias --log-every 1";
    assert_int_equal(run("train --data '%s' %s --threads 2 --log-json '%s'", g_data, common, a), 0);
    assert_int_equal(run("train --data '%s' %s --threads 1 --log-json '%s' --checkpoint '%s' --checkpoint-every 1",
                         g_data, common, b, ck),
                     0);
    long ea[E + 1], eb[E + 1];
    double ta[E + 1], tb[E + 1], va[E + 1], vb[E + 1];
    assert_int_equal(tu_read_trajectory(a, E + 1, ea, ta, va), E);
    assert_int_equal(tu_read_trajectory(b, E + 1, eb, tb, vb), E);
    assert_memory_equal(ta, tb, sizeof(double) * E);
    assert_memory_equal(va, vb, sizeof(double) * E);
    /* the next record's loss_mse is this epoch's training MSE */
    size_t n;
    char *j = tu_read_file(a, &n), *rec = j;
    for (int e = 0; e + 1 < E; e++) {
        rec = strchr(rec, '\n') + 1;
        assert_true(tu_json_num(rec, "loss_mse") == ta[e]);
    }
    free(j);
    /* the final report repeats the last logged epoch's value */
    char want[64];
    snprintf(want, sizeof want, "final: train MSE %.6f ", ta[E - 1]);
    tu_expect_in(g_out, want);
    /* a step that diverges still completes the line of the epoch before it */
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 6 --epochs 50 --lr 1e5 --optimizer sgd "
                         "--log-every 1",
                         g_data),
                     1);
    tu_expect_in(g_out, "epoch      1  train MSE ");
    tu_expect_in(g_err, "became non-finite");
    char *line = strstr(g_err, "at epoch ");
    assert_non_null(line);
    long bad = strtol(line + 9, NULL, 10);
    assert_true(bad > 1);
    snprintf(want, sizeof want, "epoch %6ld  train MSE ", bad - 1);
    tu_expect_in(g_out, want);
    /* NaN and inf are named so, never printf's "-nan", and huge values
     * come in exponent form, not 40 digits */
    assert_null(strstr(g_out, "000000000000000."));
    char *nan_ck = tu_path(g_dir, "nan.ckpt");
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 6 --epochs 50 --lr 1000 --optimizer sgd "
                         "--log-every 1 --checkpoint '%s' --checkpoint-every 1",
                         g_data, nan_ck),
                     1);
    tu_expect_in(g_out, "train MSE NaN  validation MSE NaN\n");
    tu_expect_in(g_err, "training loss became non-finite (NaN) at epoch ");
    assert_null(strstr(g_out, "nan"));
    /* the checkpoint of the NaN epoch keeps its log record as JSON: null,
     * not printf's nan (which no JSON reader takes) */
    size_t ck_len;
    char *ck_bytes = tu_read_file(nan_ck, &ck_len);
    assert_non_null(ck_bytes);
    const char *nulls = "\"train_mse\":null,\"val_mse\":null";
    assert_non_null(memmem(ck_bytes, ck_len, nulls, strlen(nulls)));
    assert_null(memmem(ck_bytes, ck_len, "nan", 3));
    free(ck_bytes);
    free(nan_ck);

    /* the final line's train MSE is the kept model's data term: the kept
     * epoch's logged value, with --early-stop (best epoch last, earlier and
     * stopped early, earlier after all epochs) and without output (--quiet) */
    const char *es[] = {"--lr 0.2 --epochs 60 --early-stop 100", "--lr 0.2 --epochs 200 --early-stop 5",
                        "--lr 0.5 --epochs 60 --early-stop 100"};
    for (int c = 0; c < 3; c++) {
        const char *flags = "--split random:0.2 --dim 12 --log-every 1 --threads 2";
        assert_int_equal(run("train --data '%s' %s %s --log-json '%s'", g_data, flags, es[c], a), 0);
        const char *keep = strstr(g_out, "keeping epoch ");
        long kept = keep ? strtol(keep + 14, NULL, 10) : 0;
        if (!keep) {
            keep = strstr(g_out, "the last epoch, ");
            assert_non_null(keep);
            kept = strtol(keep + 16, NULL, 10);
        }
        long ep[201];
        double tm[201], vm[201];
        int n_rec = tu_read_trajectory(a, 201, ep, tm, vm);
        assert_true(kept >= 1 && kept <= n_rec && ep[kept - 1] == kept);
        char fin[128];
        snprintf(fin, sizeof fin, "final: train MSE %.6f RMSE %.6f | validation MSE %.6f", tm[kept - 1],
                 sqrt(tm[kept - 1]), vm[kept - 1]);
        tu_expect_in(g_out, fin);
        assert_int_equal(run("train --data '%s' %s %s --quiet", g_data, flags, es[c]), 0);
        tu_expect_in(g_out, fin);
    }
    free(a), free(b), free(ck);
}

static void test_train_writes_model_and_log(void **state)
{
    (void)state;
    char *model = tu_path(g_dir, "m.bin"), *log = tu_path(g_dir, "log.jsonl");
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 6 --epochs 20 --lr 0.05 "
                         "--log-every 5 --threads 2 --out '%s' --log-json '%s'",
                         g_data, model, log),
                     0);
    tu_expect_in(g_out, "epoch      1  train MSE");
    tu_expect_in(g_out, "epoch      5  train MSE");
    tu_expect_in(g_out, "epoch     20  train MSE");
    tu_expect_in(g_out, "final: train MSE");
    tu_expect_in(g_out, "ms/epoch");
    tu_expect_in(g_out, "ratings/s");
    tu_expect_in(g_out, "threads 2");
    tu_expect_in(g_out, "model checksum");
    assert_true(tu_exists(model));
    size_t n;
    char *j = tu_read_file(log, &n);
    int lines = 0;
    for (size_t x = 0; x < n; x++) lines += j[x] == '\n';
    assert_int_equal(lines, 6); /* epoch 1 (always logged), 5, 10, 15, 20, then the phase times */
    tu_expect_in(j, "{\"epoch\":1,\"train_mse\":");
    tu_expect_in(j, "{\"epoch\":20,\"train_mse\":");
    tu_expect_in(j, "}\n{\"timing\":{\"load_s\":");
    tu_expect_in(g_out, "setup time: load ");
    free(j);

    /* eval on the training data's own file, allowed explicitly, prints the metrics */
    assert_int_equal(run("eval --model '%s' --data '%s' --test u.data --allow-overlap", model, g_data), 0);
    tu_expect_in(g_out, "RMSE ");
    tu_expect_in(g_out, "MAE ");
    /* a corrupted model is refused */
    size_t len;
    char *bytes = tu_read_file(model, &len);
    bytes[len / 2] ^= 0x40;
    FILE *f = fopen(model, "wb");
    fwrite(bytes, 1, len, f);
    fclose(f);
    free(bytes);
    assert_int_equal(run("eval --model '%s' --data '%s' --test u.data", model, g_data), 1);
    tu_expect_in(g_err, model);
    free(model);
    free(log);
}

/* The timing record's log_eval_s is a part of eval_s: each logged epoch's
 * evaluation was added to the two from two clock readings, so over many
 * logged epochs the part outgrew the whole (eval_s - log_eval_s, the final
 * evaluations, came out negative). */
static void test_log_eval_is_part_of_eval(void **state)
{
    (void)state;
    char *log = tu_path(g_dir, "le.jsonl");
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 6 --epochs 3000 --log-every 1 "
                         "--threads 1 --quiet --log-json '%s'",
                         g_data, log),
                     0);
    size_t n;
    char *j = tu_read_file(log, &n);
    const char *timing = strstr(j, "{\"timing\":");
    assert_non_null(timing);
    double eval = tu_json_num(timing, "eval_s"), log_eval = tu_json_num(timing, "log_eval_s");
    if (!(log_eval > 0 && log_eval <= eval)) fprintf(stderr, "eval_s %.6f, log_eval_s %.6f\n", eval, log_eval);
    assert_true(log_eval > 0 && log_eval <= eval);
    free(j);
    free(log);
}

/* Every key a --log-json record holds is named in README.md (the timing
 * record's threads, reduce and reduce_reason, log_eval_s, run_epochs_s and
 * the target record's keys were documented nowhere). */
static void test_log_json_keys_documented(void **state)
{
    (void)state;
    const char *src = getenv("MFREC_TEST_SRCDIR");
    if (!src || !*src) skip();
    char *readme_path = tu_path(src, "../README.md"), *log = tu_path(g_dir, "keys.jsonl");
    char *readme = tu_read_file(readme_path, NULL);
    assert_non_null(readme);
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 4 --epochs 4 --log-every 2 --bias "
                         "--l2 0.1 --gravity 0.1 --target-rmse 0.1 --quiet --log-json '%s'",
                         g_data, log),
                     0);
    char *j = tu_read_file(log, NULL);
    int n_keys = 0;
    for (const char *p = j; (p = strchr(p, '"'));) {
        const char *end = strchr(p + 1, '"');
        assert_non_null(end);
        if (end[1] == ':') { /* a key, not a string value */
            char key[64];
            snprintf(key, sizeof key, "`%.*s`", (int)(end - p - 1), p + 1);
            if (!strstr(readme, key)) fail_msg("--log-json key %s is not in README.md", key);
            n_keys++;
        }
        p = end + 1;
    }
    assert_true(n_keys > 20);
    free(j);
    free(readme);
    free(readme_path);
    free(log);
}

/* Digits of a JSON number token up to its exponent, leading zeros left
 * out: those a reader sees ("0.050" has 2). */
static int significant_digits(const char *tok, size_t len)
{
    int d = 0;
    bool lead = true;
    for (size_t i = 0; i < len && tok[i] != 'e' && tok[i] != 'E'; i++) {
        if (tok[i] < '0' || tok[i] > '9') continue;
        if (lead && tok[i] == '0') continue;
        lead = false;
        d++;
    }
    return d;
}

/* --log-json's exact numbers are the shortest decimals that read back as
 * the same doubles: "rmse":0.1, not 0.10000000000000001 (%.17g). The
 * timings (keys ending in _s) are seconds to the microsecond. */
static void test_log_json_numbers_shortest(void **state)
{
    (void)state;
    char *log = tu_path(g_dir, "shortest.jsonl");
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 4 --epochs 4 --log-every 2 --lr 0.1 "
                         "--l2 0.3 --target-rmse 0.1 --quiet --log-json '%s'", g_data, log), 0);
    char *j = tu_read_file(log, NULL);
    assert_non_null(j);
    tu_expect_json_lines(j);
    tu_expect_in(j, "{\"target\":{\"rmse\":0.1,\"reached\":false,");
    int n_checked = 0;
    for (const char *p = j; (p = strstr(p, "\":"));) {
        const char *key_end = p, *v = p + 2;
        p = v;
        if (!strchr("-0123456789", *v) || (key_end - j >= 2 && !strncmp(key_end - 2, "_s", 2))) continue;
        const size_t len = strspn(v, "-+.0123456789eE");
        char *end;
        const double x = strtod(v, &end);
        assert_ptr_equal(end, v + len);
        const int d = significant_digits(v, len);
        char shorter[512];
        snprintf(shorter, sizeof shorter, "%.*g", d > 1 ? d - 1 : 1, x);
        if (d > 1 && strtod(shorter, NULL) == x)
            fail_msg("%.*s has %d digits where %s reads back the same", (int)len, v, d, shorter);
        n_checked++;
    }
    assert_true(n_checked > 15);
    free(j);
    free(log);
}

/* With --early-stop the log says which epoch's model the run kept (the
 * report did, the log not: its last epoch record is the stopping epoch's),
 * in keys that README.md documents. */
static void test_log_json_names_the_kept_epoch(void **state)
{
    (void)state;
    const char *src = getenv("MFREC_TEST_SRCDIR");
    char *log = tu_path(g_dir, "es.jsonl");
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 4 --epochs 200 --lr 0.5 --early-stop 2 "
                         "--log-every 50 --threads 1 --quiet --log-json '%s'",
                         g_data, log),
                     0);
    long ran = 0, kept = 0;
    double val = 0;
    const char *line = strstr(g_out, "early stop after epoch ");
    assert_non_null(line);
    assert_int_equal(sscanf(line, "early stop after epoch %ld: keeping epoch %ld (validation MSE %lf)", &ran, &kept,
                            &val),
                     3);
    char *j = tu_read_file(log, NULL), want[160];
    snprintf(want, sizeof want, "{\"early_stop\":{\"patience\":2,\"stopped\":true,\"epochs_run\":%ld,"
             "\"kept_epoch\":%ld,\"val_mse\":", ran, kept);
    tu_expect_in(j, want);
    assert_true(fabs(tu_json_num(strstr(j, "{\"early_stop\""), "val_mse") - val) < 1e-6);
    char *readme_path = src && *src ? tu_path(src, "../README.md") : NULL;
    char *readme = readme_path ? tu_read_file(readme_path, NULL) : NULL;
    const char *const keys[] = {"`early_stop`", "`patience`", "`stopped`", "`epochs_run`", "`kept_epoch`"};
    for (size_t k = 0; readme && k < sizeof keys / sizeof *keys; k++)
        if (!strstr(readme, keys[k])) fail_msg("--log-json key %s is not in README.md", keys[k]);
    free(readme);
    free(readme_path);
    free(j);
    free(log);
}

/* A chart's title names a switch such as --bias as it is typed: "--bias"
 * when on, "no --bias" when the nearest preset has it on; never the
 * field's value glued to the flag ("--bias1", "--bias0"). */
static void test_plot_title_names_switches(void **state)
{
    (void)state;
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) skip();
    char *plots = tu_path(g_dir, "switch-plots");
    char *gp = tu_path(plots, "learning_curve.gp");
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 4 --epochs 3 --bias --quiet --plot '%s'",
                         g_data, plots),
                     0);
    char *script = tu_read_file(gp, NULL);
    assert_non_null(script);
    tu_expect_in(script, "preset notebook with --dim 4 --bias,");
    free(script);
    /* the fast preset but for its --bias */
    assert_int_equal(run("train --data '%s' --split random:0.2 --optimizer als --als-cg 3 --l2-freq 0.04 "
                         "--init-std 0.1 --dim 12 --epochs 3 --quiet --plot '%s'",
                         g_data, plots),
                     0);
    script = tu_read_file(gp, NULL);
    assert_non_null(script);
    tu_expect_in(script, "preset fast with no --bias,");
    free(script);
    free(gp);
    free(plots);
}

/* A chart's title holds the data path as given; a byte of it that is not
 * UTF-8 (a Latin-1 directory name) is U+FFFD there: the script says `set
 * encoding utf8`, and the raw byte made the SVG, which is XML, unreadable
 * (a browser shows a parse error, not the chart). */
static void test_plot_title_of_a_latin1_path(void **state)
{
    (void)state;
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) skip();
    char *data = tu_path(g_dir, "lat\xe9"), *plots = tu_path(g_dir, "latin1-plots");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s' && rm -f '%s'/.mfrec-cache*", data, g_data, data,
             data);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 4 --epochs 2 --quiet --plot '%s'", data, plots),
                     0);
    const char *const files[] = {"learning_curve.gp", "learning_curve.svg", "loss_components.svg"};
    for (int f = 0; f < 3; f++) {
        char *p = tu_path(plots, files[f]);
        char *text = tu_read_file(p, NULL);
        assert_non_null(text);
        tu_expect_in(text, "lat\xef\xbf\xbd");
        if (strstr(text, "lat\xe9")) fail_msg("%s holds the path's byte 0xE9, which is not UTF-8", p);
        free(text);
        free(p);
    }
    free(data);
    free(plots);
}

/* The parts of the report's "setup time:" line add up to the time outside
 * the epochs it ends with: --plot's gnuplot runs (hundreds of ms) and
 * --early-stop's copies of the best model were in the total but in no part. */
static void test_setup_time_parts_add_up(void **state)
{
    (void)state;
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) skip();
    char *plots = tu_path(g_dir, "setup-plots");
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 4 --epochs 5 --early-stop 2 --quiet "
                         "--plot '%s'",
                         g_data, plots),
                     0);
    const char *line = strstr(g_out, "setup time: ");
    assert_non_null(line);
    double sum = 0, outside = -1;
    for (const char *p = line; *p && *p != '\n'; p++) {
        double v;
        int n = 0;
        if (sscanf(p, " %lf ms%n", &v, &n) == 1 && n > 0 && (p[-1] == ' ')) {
            if (!strncmp(p + n, " of ", 4)) outside = v; /* "X ms of Y s outside the epochs" */
            else sum += v;
            p += n - 1;
        }
    }
    if (!(outside > 0 && fabs(sum - outside) <= 1.0)) fprintf(stderr, "parts %.1f ms, outside %.1f ms: %.300s\n", sum, outside, line);
    assert_true(outside > 0 && fabs(sum - outside) <= 1.0);
    /* gnuplot's time is its own part, not "other" (it was most of it) */
    const char *pl = strstr(line, ", plots ");
    assert_true(pl && pl < strchr(line, '\n') && atof(pl + strlen(", plots ")) > 0);
    const char *other = strstr(line, ", other ");
    if (other && other < strchr(line, '\n')) assert_true(atof(other + strlen(", other ")) < atof(pl + strlen(", plots ")));
    free(plots);
}

static void test_threads_give_identical_models(void **state)
{
    (void)state;
    char *m1 = tu_path(g_dir, "t1.bin"), *m3 = tu_path(g_dir, "t3.bin");
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 10 --epochs 15 --threads 1 --quiet --out '%s'", g_data, m1), 0);
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 10 --epochs 15 --threads 3 --quiet --out '%s'", g_data, m3), 0);
    size_t l1, l3;
    char *b1 = tu_read_file(m1, &l1), *b3 = tu_read_file(m3, &l3);
    assert_int_equal(l1, l3);
    assert_memory_equal(b1, b3, l1);
    free(b1);
    free(b3);
    free(m1);
    free(m3);
}

/* A thread count above OMP_THREAD_LIMIT would run on fewer threads while
 * the report (and a sweep's table) named the count asked for: refused,
 * naming the flag and the limit, in every command that takes --threads.
 * The default is capped instead (OMP_NUM_THREADS 4 under a limit of 2:
 * the trainer measures 1 against 2). */
static void test_threads_within_the_thread_limit(void **state)
{
    (void)state;
    static const char *const cmds[] = {
        "train --epochs 2 --threads 2", "train --kind softmax --epochs 1 --threads 3", "eval --model m --threads 2",
        "recommend --model m --user 1 --threads 2", "stats --threads 2", "sweep --threads 1,2 --dims 4 --epochs 1",
    };
    for (size_t c = 0; c < sizeof cmds / sizeof *cmds; c++) {
        assert_int_equal(run_env("OMP_THREAD_LIMIT=1", "%s --data '%s'", cmds[c], g_data), 2);
        tu_expect_in(g_err, "OMP_THREAD_LIMIT=1 lets OpenMP start at most 1 thread");
        tu_expect_in(g_err, "--threads ");
    }
    assert_int_equal(run_env("OMP_THREAD_LIMIT=2", "train --data '%s' --epochs 2 --threads 2", g_data), 0);
    tu_expect_in(g_out, "threads 2, shards");
    assert_int_equal(run_env("OMP_THREAD_LIMIT=2 OMP_NUM_THREADS=4", "train --data '%s' --epochs 2", g_data), 0);
    tu_expect_in(g_out, "threads measured, 1 or 2,");
}

/* A budget below a MiB is shown as what it is, not "0.0 MiB". */
static void test_small_memory_budget_named(void **state)
{
    (void)state;
    assert_int_equal(run("train --data '%s' --max-memory 1K --epochs 1", g_data), 1);
    tu_expect_in(g_err, "more than the memory budget of 1.0 KiB");
    tu_expect_in(g_err, "(--max-memory, else the physical memory)"); /* the flag is named */
}

/* The peak RSS a run reports stays within its estimated peak (what
 * --max-memory checks before allocating) with many users, from the text
 * (the cache written) and from the cache: 100k users x 10k movies x 1M
 * ratings. The estimate left out a mapped cache under 64 MiB (resident
 * since its load read it) and a parsed set's freed arrays stayed in the
 * heap: 2.6 MiB short of the text run's peak here, 43 MiB at 2M ratings. */
static void test_peak_within_the_estimate(void **state)
{
    (void)state;
#ifdef SANITIZED
    skip();
#endif
    char *data = tu_path(g_dir, "many_users"), *cache = tu_path(data, ".mfrec-cache");
    assert_int_equal(run("synth --users 100000 --items 10000 --ratings 1000000 --seed 3 --out '%s'", data), 0);
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(tu_exists(cache), pass); /* the text first, then the cache it wrote */
        assert_int_equal(run("train --data '%s' --epochs 2 --dim 32 --threads 2", data), 0);
        const char *m = strstr(g_out, "memory: peak RSS "), *e = m ? strstr(m, "estimated peak ") : NULL;
        assert_non_null(e);
        const double rss = atof(m + strlen("memory: peak RSS ")), est = atof(e + strlen("estimated peak "));
        if (!(rss > 50.0 && rss <= est))
            fail_msg("%s: peak RSS %.1f MiB, estimated peak %.1f MiB", pass ? "from the cache" : "from the text",
                     rss, est);
    }
    free(data);
    free(cache);
}

/* Under a data-size limit far below the CLI's 256 MiB heap step (ulimit
 * -d), a small job still runs and writes the same model: the heap step
 * falls back to glibc's when the heap cannot grow so far (it once stayed,
 * and every later allocation failed). Sanitizers reserve more address
 * space than any such limit allows. */

static void test_train_under_a_data_limit(void **state)
{
    (void)state;
#ifdef SANITIZED
    skip();
#endif
    char *free_run = tu_path(g_dir, "nolimit.bin"), *limited = tu_path(g_dir, "limited.bin");
#define LIMIT_ARGS "train --data '%s' --split random:0.2 --dim 10 --epochs 5 --threads 1 --quiet --out '%s'"
    assert_int_equal(run(LIMIT_ARGS, g_data, free_run), 0);
    const int st = run_env("ulimit -d 100000 &&", LIMIT_ARGS, g_data, limited);
#undef LIMIT_ARGS
    if (st != 0) fail_msg("under ulimit -d 100000: exit %d: %s", st, g_err);
    size_t l1, l2;
    char *b1 = tu_read_file(free_run, &l1), *b2 = tu_read_file(limited, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(b1, b2, l1);
    free(b1), free(b2), free(free_run), free(limited);
}

/* A model with implicit feedback and bias L2 through every command that
 * reads a model; its file is the same for any thread count. */
static void test_implicit_model_end_to_end(void **state)
{
    (void)state;
    char *m1 = tu_path(g_dir, "imp1.bin"), *m2 = tu_path(g_dir, "imp2.bin");
    char *ex = tu_path(g_dir, "imp_export");
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 6 --epochs 40 --lr 0.02 --bias "
                         "--l2-bias 0.05 --implicit 0.5 --l2 0.05 --threads 1 --out '%s'",
                         g_data, m1),
                     0);
    tu_expect_in(g_out, "biases on (l2-bias 0.05), implicit 0.5");
    tu_expect_in(g_out, "| loss before the step ");
    /* the loss parts are the step's, at the factors the epoch began with:
     * epoch 3's observed part is epoch 2's training MSE */
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 6 --epochs 3 --log-every 1 --l2 0.05",
                         g_data), 0);
    const char *e2 = strstr(g_out, "epoch      2  train MSE "), *e3 = strstr(g_out, "epoch      3  train MSE ");
    assert_non_null(e2);
    assert_non_null(e3);
    const char *obs = strstr(e3, "= observed ");
    assert_non_null(obs);
    assert_memory_equal(e2 + strlen("epoch      2  train MSE "), obs + strlen("= observed "), 9);
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 6 --epochs 40 --lr 0.02 --bias "
                         "--l2-bias 0.05 --implicit 0.5 --l2 0.05 --threads 3 --quiet --out '%s'",
                         g_data, m2),
                     0);
    size_t l1, l2;
    char *b1 = tu_read_file(m1, &l1), *b2 = tu_read_file(m2, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(b1, b2, l1);
    assert_int_equal(run("eval --model '%s' --test '%s/u.data' --allow-overlap", m1, g_data), 0);
    tu_expect_in(g_out, "RMSE");
    assert_int_equal(run("recommend --model '%s' --user 1 -k 3", m1), 0);
    assert_int_equal(run("recommend --model '%s' --rate '#1=5,#2=1,#3=4' -k 3", m1), 0);
    tu_expect_in(g_out, "new user folded in from 3 ratings");
    assert_int_equal(run("export --model '%s' --as npy --out '%s'", m1, ex), 0);
    tu_expect_in(g_out, "Y.npy (80 x 6)");
    char *y = tu_path(ex, "Y.npy");
    size_t ylen = 0;
    char *yb = tu_read_file(y, &ylen);
    assert_non_null(yb);
    assert_true(ylen == 128 + 80 * 6 * 4);
    /* --l2-bias regularizes biases: without --bias it is a usage error */
    assert_int_equal(run("train --data '%s' --l2-bias 0.1 --epochs 1", g_data), 2);
    tu_expect_in(g_err, "--l2-bias 0.1 regularizes the biases: it needs --bias");
    assert_int_equal(run("train --data '%s' --implicit -1", g_data), 2);
    tu_expect_in(g_err, "--implicit");
    free(yb);
    free(y);
    free(b1);
    free(b2);
    free(ex);
    free(m1);
    free(m2);
}

/* The epoch lines show the loss's parts whenever it has a regularizer:
 * --l1-items (its l2 part) and --gravity-bias (its gravity part) alone
 * too, whose totals were printed nowhere but --log-json. */
static void test_loss_parts_for_every_regularizer(void **state)
{
    (void)state;
    const char *const flags[] = {"--l1-items 0.5", "--gravity-bias 2", "--bias --gravity-bias 2"};
    for (size_t f = 0; f < sizeof flags / sizeof *flags; f++) {
        assert_int_equal(run("train --data '%s' --split random:0.2 --dim 4 --epochs 2 --log-every 1 --threads 1 %s",
                             g_data, flags[f]),
                         0);
        tu_expect_in(g_out, "| loss before the step ");
    }
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 4 --epochs 2 --threads 1", g_data), 0);
    assert_null(strstr(g_out, "| loss before the step "));
}

static void test_bad_data_reports_file_line_and_writes_nothing(void **state)
{
    (void)state;
    char *bad = tu_path(g_dir, "bad");
    char *cmd = malloc(strlen(bad) + 16);
    sprintf(cmd, "mkdir -p '%s'", bad);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    tu_write_file(bad, "u.data", "1\t1\t5\t0\n1\t2\tx\t0\n", (size_t)-1);
    char *model = tu_path(g_dir, "never.bin");
    assert_int_equal(run("train --data '%s' --epochs 2 --out '%s'", bad, model), 1);
    tu_expect_in(g_err, "u.data:2");
    assert_false(tu_exists(model));
    assert_int_equal(run("train --data '%s/missing' --epochs 2", g_dir), 1);
    tu_expect_in(g_err, "missing");
    /* --init-from with the wrong shape */
    assert_int_equal(run("train --data '%s' --epochs 2 --init-from /nonexistent/U.npy,/nonexistent/V.npy --out '%s'",
                         g_data, model), 1);
    tu_expect_in(g_err, "--init-from");
    assert_false(tu_exists(model));
    free(model);
    free(bad);
}

static void test_split_writes_both_parts(void **state)
{
    (void)state;
    char *out = tu_path(g_dir, "parts");
    assert_int_equal(run("split --data '%s' --split sklearn:1 --out '%s'", g_data, out), 0);
    char *tr = tu_path(out, "train.data"), *te = tu_path(out, "test.data");
    size_t a, b;
    char *ta = tu_read_file(tr, &a), *tb = tu_read_file(te, &b);
    int la = 0, lb = 0;
    for (size_t x = 0; x < a; x++) la += ta[x] == '\n';
    for (size_t x = 0; x < b; x++) lb += tb[x] == '\n';
    assert_int_equal(la + lb, 3000);
    assert_int_equal(lb, 750);
    /* the parts are valid rating files: eval accepts them */
    char *model = tu_path(g_dir, "s.bin");
    assert_int_equal(run("train --data '%s' --split sklearn:1 --dim 4 --epochs 3 --quiet --out '%s'", g_data, model), 0);
    assert_int_equal(run("eval --model '%s' --test '%s'", model, te), 0);
    tu_expect_in(g_out, "750 ratings");
    free(model);
    free(ta);
    free(tb);
    free(tr);
    free(te);
    free(out);
}

/* The data behind `train --plot`: the curve starts at epoch 1, the loss
 * parts add up, and an unregularized run draws its loss once. */
static void check_train_plot_data(const char *plots)
{
    double v[40 * 5];
    char *lc = tu_path(plots, "learning_curve.dat"), *lp = tu_path(plots, "loss_components.dat");
    /* --epochs 30 --log-every 5: epochs 1, 5, 10, ..., 30 */
    int n = tu_read_dat(lc, 3, v, 40, NULL);
    assert_int_equal(n, 7);
    assert_true(v[0] == 1 && v[3] == 5 && v[18] == 30);
    /* the title says how many epochs ran */
    char *gp = tu_path(plots, "learning_curve.gp"), *script = tu_read_file(gp, NULL);
    assert_non_null(script);
    tu_expect_in(script, ", 30 epochs, ");
    /* epochs are whole numbers: so are the tics (1..30: every 5th) */
    tu_expect_in(script, "\nset xtics 5\n");
    free(gp), free(script);
    /* ndcg: total, observed MSE, L2, gravity; total = the sum of the parts */
    char *text = tu_read_file(lp, NULL);
    tu_expect_in(text, "# x\ttotal loss\tobserved MSE\tL2\tgravity\n");
    free(text);
    assert_int_equal(tu_read_dat(lp, 5, v, 40, NULL), 7);
    for (int r = 0; r < 7; r++) {
        const double *row = v + 5 * r;
        assert_true(row[3] > 0 && row[4] > 0);
        if (fabs(row[1] - (row[2] + row[3] + row[4])) > 1e-9 * row[1])
            fail_msg("epoch %g: total %.17g is not %.17g + %.17g + %.17g", row[0], row[1], row[2],
                     row[3], row[4]);
    }
    /* the notebook's unregularized model, --log-every 0: the first and the
     * last epoch, one loss line, and a note about the short curve */
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 3 --epochs 12 --log-every 0 "
                         "--plot '%s'",
                         g_data, plots),
                     0);
    tu_expect_in(g_err, "the learning curves have 2 points");
    n = tu_read_dat(lc, 3, v, 40, NULL);
    assert_int_equal(n, 2);
    assert_true(v[0] == 1 && v[3] == 12);
    assert_true(v[4] < v[1]); /* training lowered the training MSE */
    text = tu_read_file(lp, NULL);
    tu_expect_in(text, "# x\tobserved MSE (no regularizer: the total loss)\n");
    free(text);
    char *svg = tu_path(plots, "learning_curve.svg");
    text = tu_read_file(svg, NULL);
    tu_expect_in(text, "preset notebook with --dim 3");
    free(text);
    free(svg);
    free(lc);
    free(lp);
}

/* DIR/NAME.gp draws its key under the plot, and a log y axis (with
 * "(log scale)" in its label) exactly when log_y; DIR/NAME.dat's values
 * span a decade or more exactly then. */
static void expect_y_scale(const char *dir, const char *name, bool log_y)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.gp", dir, name);
    char *gp = tu_read_file(path, NULL);
    assert_non_null(gp);
    /* the key under the plot, each line's sample before its title */
    tu_expect_in(gp, "\nset key below horizontal Left reverse ");
    if (log_y != (strstr(gp, "\nset logscale y\n") != NULL)) fail_msg("%s: log y axis %s expected", name, log_y ? "" : "not");
    if (log_y != (strstr(gp, "(log scale)' noenhanced") != NULL)) fail_msg("%s: the y label's scale is wrong", name);
    free(gp);
    snprintf(path, sizeof path, "%s/%s.dat", dir, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[1024];
    double lo = INFINITY, hi = -INFINITY;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        char *e = line, *end;
        (void)strtod(e, &end); /* the x column */
        for (e = end;; e = end) {
            const double v = strtod(e, &end);
            if (end == e) break;
            if (isfinite(v)) lo = fmin(lo, v), hi = fmax(hi, v);
        }
    }
    fclose(f);
    assert_true(lo > 0 && lo <= hi);
    if (log_y != (hi >= 10 * lo)) fail_msg("%s: values %g..%g, log axis %d", name, lo, hi, (int)log_y);
}

/* An accurate run with flags overriding the preset, logged every epoch:
 * its charts' long title, keys and y scales. */
static void check_long_title_and_scales(void)
{
    char *low = tu_path(g_dir, "plots_low");
    assert_int_equal(run("train --data '%s' --split random:0.2 --preset accurate --gravity-bias 0.0002 "
                         "--dim 6 --epochs 30 --lr 0.05 --log-every 1 --threads 1 --quiet --plot '%s'",
                         g_data, low),
                     0);
    /* its title, long with the flags that override the preset, is
     * broken into lines that fit the chart's 1100 pixels (it was cut
     * off at both edges) */
    char *lc_gp = tu_path(low, "loss_components.gp"), *lc = tu_read_file(lc_gp, NULL);
    assert_non_null(lc);
    const char *title = strstr(lc, "\nset title '");
    assert_non_null(title);
    tu_expect_in(title, "--gravity-bias 0.0002, k 6, 30 epochs,' . \"\\n\" . '");
    for (const char *q = title + strlen("\nset title '"), *end = strchr(q, '\n'), *seg = q; q <= end; q++) {
        if (q == end || !strncmp(q, "' . \"\\n\"", 8)) {
            if (q - seg > 130) fail_msg("a title line of %d characters: %.*s", (int)(q - seg), (int)(q - seg), seg);
            seg = q;
        }
    }
    free(lc_gp), free(lc);
    /* the keys sit under the plots, where no line runs (inside, one
     * was drawn over a line ending low beside one ending high); a log
     * axis, named in the y label, only where the values span a decade
     * (MSEs of 6.8-13.5 were drawn flat on 1-100): here the loss
     * components do (gravity 0.002, total 0.6), the MSEs do not */
    expect_y_scale(low, "loss_components", true);
    expect_y_scale(low, "learning_curve", false);
    free(low);
}

static void test_train_plot_and_presets(void **state)
{
    (void)state;
    char *plots = tu_path(g_dir, "plots");
    int gnuplot = system("command -v gnuplot >/dev/null 2>&1") == 0;
    int rc = run("train --data '%s' --split random:0.2 --preset ndcg --epochs 30 --log-every 5 "
                 "--plot '%s'", g_data, plots);
    if (!gnuplot) {
        assert_int_equal(rc, 1);
        tu_expect_in(g_err, "gnuplot");
        printf("gnuplot is not on PATH: checked the error instead of the pictures\n");
    } else {
        assert_int_equal(rc, 0);
        tu_expect_in(g_out, "preset ndcg with --epochs 30 | dim 48, epochs 30");
        tu_expect_in(g_out, "gravity 15");
        const char *files[] = {"learning_curve.png", "learning_curve.svg", "loss_components.png",
                               "loss_components.svg"};
        for (int f = 0; f < 4; f++) {
            char *p = tu_path(plots, files[f]);
            size_t len = 0;
            char *b = tu_read_file(p, &len);
            if (!b || len < 1000) fail_msg("%s missing or too small (%zu bytes)", p, len);
            free(b);
            free(p);
        }
        check_train_plot_data(plots);
        /* one logged epoch: one point, said in the singular, and no gnuplot
         * warning about an empty range */
        char *one = tu_path(g_dir, "plots_one");
        assert_int_equal(run("train --data '%s' --split random:0.2 --epochs 1 --quiet --plot '%s'", g_data, one), 0);
        tu_expect_in(g_err, "the learning curves have 1 point (the logged epochs)");
        if (strstr(g_err, "Warning")) fail_msg("gnuplot warned:\n%s", g_err);
        /* 0..2 around the point: tics 0, 1, 2, not gnuplot's 0.2 steps */
        char *one_gp = tu_path(one, "learning_curve.gp"), *one_script = tu_read_file(one_gp, NULL);
        assert_non_null(one_script);
        tu_expect_in(one_script, "\nset xtics 1\n");
        free(one_gp), free(one_script);
        free(one);
        check_long_title_and_scales();
    }
    /* a flag beside a preset overrides it, and the header names the
     * flags that did (it once said only "with the flags given overriding
     * it"); one restating the preset's value overrides nothing */
    assert_int_equal(run("train --data '%s' --split random:0.2 --preset accurate --dim 4 --epochs 2 --lr 0.01 "
                         "--seed 7",
                         g_data), 0);
    tu_expect_in(g_out, "preset accurate with --epochs 2 --dim 4 --seed 7 | dim 4, epochs 2");
    tu_expect_in(g_out, "biases on (l2-bias 0.05), implicit 1");
    /* another optimizer beside a preset leaves out the preset's values for
     * its own optimizer, with a note; the user's own are still refused */
    assert_int_equal(run("train --data '%s' --split random:0.2 --preset fast --optimizer adam --epochs 2",
                         g_data), 0);
    tu_expect_in(g_err, "note: --preset fast's --als-cg 3 does not apply to --optimizer adam: left out");
    assert_int_equal(run("train --data '%s' --split random:0.2 --preset accurate --optimizer als --epochs 2",
                         g_data), 0);
    tu_expect_in(g_err, "--preset accurate's --lr 0.01, --gravity-bias 0.025, --implicit 1 do not apply to "
                        "--optimizer als: left out");
    tu_expect_in(g_out, "alternating least squares");
    /* plain descent keeps a preset's step, tuned for Adam, and says so */
    assert_int_equal(run("train --data '%s' --split random:0.2 --preset ndcg --optimizer sgd --epochs 2", g_data), 0);
    tu_expect_in(g_err, "note: --preset ndcg's --lr 0.01 was tuned for Adam: --optimizer sgd takes it as its step");
    tu_expect_in(g_out, "gradient descent lr 0.01");
    assert_int_equal(run("train --data '%s' --split random:0.2 --preset ndcg --optimizer sgd --lr 0.02 --epochs 2",
                         g_data), 0);
    assert_null(strstr(g_err, "tuned for Adam"));
    assert_int_equal(run("train --data '%s' --preset fast --optimizer adam --als-cg 3 --epochs 2", g_data), 2);
    tu_expect_in(g_err, "--als-cg 3 applies to --optimizer als only");
    /* flags that never change the model override nothing */
    assert_int_equal(run("train --data '%s' --split random:0.2 --preset accurate --threads 1 --kernels ref "
                         "--max-memory 1G --log-every 0", g_data), 0);
    tu_expect_in(g_out, "preset accurate | dim ");
    /* flags alone: the notebook's defaults, overridden */
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 3 --log-every 0", g_data), 0);
    tu_expect_in(g_out, "preset notebook with --dim 3 | dim 3");
    tu_expect_in(g_out, "not saved: the model is discarded (--out MODEL keeps it)");
    assert_int_equal(run("train --data '%s' --epochs 0", g_data), 2);
    tu_expect_in(g_err, "--epochs must be an integer in 1..");
    assert_int_equal(run("train --data '%s/none' --epochs 1", g_dir), 1);
    tu_expect_in(g_err, "pass --data DIR, set MFREC_DATA, or download MovieLens 100K with "
                        "tools/fetch-movielens");
    assert_int_equal(run("train --preset fastest"), 2);
    tu_expect_in(g_err, "--preset must be notebook, accurate, ndcg, fast or softmax, got 'fastest'");
    free(plots);
}

/* Every command that takes --data reads the other formats too. */
static void test_other_formats(void **state)
{
    (void)state;
    char *csv = tu_path(g_dir, "ml20m"), *dat = tu_path(g_dir, "ml1m"), *del = tu_path(g_dir, "del");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' '%s' '%s'", csv, dat, del);
    assert_int_equal(system(cmd), 0);
    /* the synthetic u.data, rewritten as ratings.csv (half stars), ratings.dat and a ';' file */
    snprintf(cmd, sizeof cmd,
             "awk 'BEGIN{print \"userId,movieId,rating,timestamp\"} {printf \"%%d,%%d,%%s,%%d\\n\", "
             "$1*1000003, $2+7, ($3==5?\"4.5\":$3), $4}' '%s/u.data' > '%s/ratings.csv' && "
             "printf 'movieId,title,genres\\n8,\"Movie, The (1999)\",Comedy|Drama\\n' > '%s/movies.csv' && "
             "awk '{printf \"%%d::%%d::%%d::%%d\\n\", $1, $2, $3, $4}' '%s/u.data' > '%s/ratings.dat' && "
             "awk 'BEGIN{print \"user;item;rating\"} {printf \"%%d;%%d;%%d\\n\", $1, $2, $3}' '%s/u.data' > '%s/r.txt'",
             g_data, csv, csv, g_data, dat, g_data, del);
    assert_int_equal(system(cmd), 0);
    char *model = tu_path(g_dir, "fmt.bin");
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 4 --epochs 3 --out '%s'", csv, model), 0);
    tu_expect_in(g_out, "120 users, 80 items, 3000 ratings");
    assert_int_equal(run("train --data '%s' --format csv --split random:0.2 --dim 4 --epochs 3", csv), 0);
    assert_int_equal(run("similar --model '%s' --movie 'movie, the' -k 3", model), 0);
    tu_expect_in(g_out, "Movie, The (1999)");
    assert_int_equal(run("stats --data '%s'", dat), 0);
    tu_expect_in(g_out, "120 users");
    char *file = tu_path(del, "r.txt");
    assert_int_equal(run("train --data '%s' --format delimited:semicolon --split random:0.2 --dim 4 --epochs 2", file), 0);
    tu_expect_in(g_out, "3000 ratings");
    /* the data is named as given: the file, not its directory */
    char said[4200];
    snprintf(said, sizeof said, "| data %s (120 users,", file);
    tu_expect_in(g_out, said);
    /* the delimited format wants the file, and says so in CLI terms */
    assert_int_equal(run("train --data '%s' --format delimited --epochs 1", del), 1);
    tu_expect_in(g_err, "--format delimited reads one rating file: pass it as --data FILE");
    assert_int_equal(run("train --data '%s' --format nonsense", csv), 2);
    tu_expect_in(g_err, "--format");
    /* a malformed line in another format names its file and line */
    tu_write_file(csv, "ratings.csv", "userId,movieId,rating,timestamp\n1,2,4.5,0\n1,x,3,0\n", (size_t)-1);
    assert_int_equal(run("train --data '%s' --epochs 1", csv), 1);
    tu_expect_in(g_err, "ratings.csv:3");
    free(file);
    free(model);
    free(csv);
    free(dat);
    free(del);
}

/* The progress bar is drawn on a terminal only, and never with --quiet. */
/* A model trained from a generic delimited file records the file and how
 * it was read (':' as separator, which detection would not find, and a
 * header line), so eval, recommend, norms and a resume reopen the data
 * without --data; a data file that moved away is named in the error. */
static void test_delimited_model_finds_its_data(void **state)
{
    (void)state;
    char *dir = tu_path(g_dir, "colon"), cmd[4096];
    char *file = tu_colon_ratings(dir, g_data), *model = tu_path(dir, "m.mfr"), *ck = tu_path(dir, "ck");
    assert_int_equal(run("train --data '%s' --format delimited:colon:header --split random:0.2 "
                         "--dim 4 --epochs 2 --out '%s' --checkpoint '%s' --checkpoint-every 1 "
                         "--quiet",
                         file, model, ck),
                     0);
    assert_int_equal(run("eval --model '%s' --test '%s' --allow-overlap", model, file), 0);
    tu_expect_in(g_out, "RMSE");
    assert_int_equal(run("recommend --model '%s' --user 1 -k 3", model), 0);
    assert_int_equal(run("norms --model '%s'", model), 0);
    assert_int_equal(run("train --resume '%s' --epochs 3 --quiet", ck), 0);
    snprintf(cmd, sizeof cmd, "mv '%s' '%s.moved'", file, file);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(run("recommend --model '%s' --user 1", model), 1);
    tu_expect_in(g_err, "r.txt");
    free(dir);
    free(file);
    free(model);
    free(ck);
}

static void test_progress_bar_only_on_a_terminal(void **state)
{
    (void)state;
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 4 --epochs 30", g_data), 0);
    if (strstr(g_err, "[#")) fail_msg("progress bar drawn without a terminal:\n%s", g_err);
    if (system("command -v script >/dev/null 2>&1") != 0) {
        printf("util-linux `script` is missing: only the no-terminal half was checked\n");
        return;
    }
    /* script(1) gives the command a pseudo-terminal */
    char inner[2048];
    snprintf(inner, sizeof inner, "'%s' train --data '%s' --split random:0.2 --dim 4 --epochs 30",
             g_bin, g_data);
    char *log = tu_path(g_dir, "tty.txt");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "script -qec \"%s\" /dev/null > '%s' 2>&1 </dev/null", inner, log);
    assert_int_equal(system(cmd), 0);
    char *tty = tu_read_file(log, NULL);
    tu_expect_in(tty, "] epoch 30/30");
    tu_expect_in(tty, "[##############################]");
    free(tty);
    snprintf(cmd, sizeof cmd, "script -qec \"%s --quiet\" /dev/null > '%s' 2>&1 </dev/null", inner, log);
    assert_int_equal(system(cmd), 0);
    tty = tu_read_file(log, NULL);
    if (strstr(tty, "[#")) fail_msg("progress bar drawn with --quiet:\n%s", tty);
    free(tty);
    free(log);
}

/* --quiet leaves out the header, the progress bar and the epoch lines,
 * not the final report: which epoch early stopping kept is part of it (a
 * quiet run left it out, so its report did not say which model it kept),
 * as the target's outcome is. */
static void test_quiet_keeps_the_final_report(void **state)
{
    (void)state;
#define QUIET_RUN "train --data '%s' --split random:0.2 --dim 4 --bias --lr 0.05 --init-std 0.1 --quiet "
    assert_int_equal(run(QUIET_RUN "--epochs 400 --early-stop 3", g_data), 0);
    tu_expect_in(g_out, "early stop after epoch ");
    tu_expect_in(g_out, "final: train MSE");
    if (strstr(g_out, "epoch      1 ") || strstr(g_out, "preset notebook"))
        fail_msg("--quiet printed the header or an epoch line:\n%s", g_out);
    assert_int_equal(run(QUIET_RUN "--epochs 2 --early-stop 5", g_data), 0);
    tu_expect_in(g_out, "no early stop: the last epoch, 2, has the best validation MSE");
#undef QUIET_RUN
}

static void test_synth_rejects_bad_options(void **state)
{
    (void)state;
    assert_int_equal(run("synth --users 0 --out '%s/x'", g_dir), 2);
    tu_expect_in(g_err, "--users");
    assert_int_equal(run("synth --users 3 --items 3 --ratings 10 --out '%s/x'", g_dir), 2);
    tu_expect_in(g_err, "--ratings 10 is more than the 9 (user, item) pairs");
    assert_int_equal(run("synth --users 3"), 2);
    tu_expect_in(g_err, "--out is required");
}

/* synth rewrites its own output, never a dataset it did not write, and
 * never leaves another dataset's files beside new ones. */
static void test_synth_never_replaces_a_real_dataset(void **state)
{
    (void)state;
    char *real = tu_path(g_dir, "real"), *udata = tu_path(real, "u.data");
    const char rating[] = "1\t1\t5\t881250949\n";
    assert_int_equal(run("synth --users 5 --items 4 --ratings 20 --out '%s'", real), 0);
    char *planted = tu_path(real, "planted.txt");
    assert_int_equal(unlink(planted), 0); /* now a dataset synth did not write */
    tu_write_file(real, "u.data", rating, sizeof rating - 1);
    assert_int_equal(run("synth --users 5 --items 4 --ratings 20 --out '%s'", real), 1);
    tu_expect_in(g_err, "/u.data) that synth did not write (no planted.txt of mfrec synth)");
    size_t n;
    char *kept = tu_read_file(udata, &n);
    assert_int_equal(n, sizeof rating - 1);
    assert_memory_equal(kept, rating, n);
    free(kept);
    assert_false(tu_exists(planted));

    /* its own output is rewritten, unless another dataset's files lie beside it */
    char *own = tu_path(g_dir, "own");
    assert_int_equal(run("synth --users 5 --items 4 --ratings 20 --out '%s'", own), 0);
    assert_int_equal(run("synth --users 6 --items 4 --ratings 21 --seed 2 --out '%s'", own), 0);
    tu_expect_in(g_out, "wrote 21 ratings");
    tu_write_file(own, "u1.base", rating, sizeof rating - 1);
    assert_int_equal(run("synth --users 5 --items 4 --ratings 20 --out '%s'", own), 1);
    tu_expect_in(g_err, "/u1.base, a file of another dataset that synth would leave beside its new files");
    char *own_data = tu_path(own, "u.data");
    kept = tu_read_file(own_data, &n);
    int lines = 0;
    for (size_t x = 0; x < n; x++) lines += kept[x] == '\n';
    assert_int_equal(lines, 21); /* the second run's file, untouched */
    free(kept);
    free(own_data), free(own), free(planted), free(udata), free(real);
}

/* An append-only directory (chattr +a) takes new files but no rename or
 * removal: an output there is refused before the work, since its
 * temporary file (or staging directory) could neither be renamed into
 * place nor removed (train left x.mfr.tmpXXXXXX and exit 1, export a
 * .mfrec-stage-XXXXXX and exit 0). Skipped where chattr +a is not
 * allowed (not root, or a filesystem without attributes). */
static void test_append_only_directory_refused(void **state)
{
    (void)state;
    char *ap = tu_path(g_dir, "append-only");
    char cmd[4096];
    assert_int_equal(run("train --data '%s' --epochs 1 --quiet --out '%s/ap.mfr'", g_data, g_dir), 0);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && chattr +a '%s' 2>/dev/null", ap, ap);
    if (system(cmd) != 0) {
        free(ap);
        skip();
    }
    const int train_rc = run("train --data '%s' --epochs 1 --quiet --out '%s/x.mfr'", g_data, ap);
    char *train_err = strdup(g_err);
    const int export_rc = run("export --model '%s/ap.mfr' --out '%s'", g_dir, ap);
    char *export_err = strdup(g_err);
    snprintf(cmd, sizeof cmd, "ls -A '%s' | grep -q .", ap);
    const bool left = system(cmd) == 0;
    snprintf(cmd, sizeof cmd, "chattr -a '%s'", ap); /* before any assert, so teardown can remove it */
    assert_int_equal(system(cmd), 0);
    assert_int_equal(train_rc, 1);
    tu_expect_in(train_err, "/x.mfr: directory ");
    tu_expect_in(train_err, "is append-only (chattr +a)");
    assert_int_equal(export_rc, 1);
    tu_expect_in(export_err, "is append-only (chattr +a)");
    assert_false(left);
    free(train_err), free(export_err), free(ap);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_and_usage_errors),
        cmocka_unit_test(test_train_writes_model_and_log),
        cmocka_unit_test(test_train_mse_from_next_step),
        cmocka_unit_test(test_small_memory_budget_named),
        cmocka_unit_test(test_peak_within_the_estimate),
        cmocka_unit_test(test_log_eval_is_part_of_eval),
        cmocka_unit_test(test_log_json_keys_documented),
        cmocka_unit_test(test_log_json_numbers_shortest),
        cmocka_unit_test(test_log_json_names_the_kept_epoch),
        cmocka_unit_test(test_setup_time_parts_add_up),
        cmocka_unit_test(test_plot_title_names_switches),
        cmocka_unit_test(test_plot_title_of_a_latin1_path),
        cmocka_unit_test(test_threads_give_identical_models),
        cmocka_unit_test(test_threads_within_the_thread_limit),
        cmocka_unit_test(test_train_under_a_data_limit),
        cmocka_unit_test(test_implicit_model_end_to_end),
        cmocka_unit_test(test_loss_parts_for_every_regularizer),
        cmocka_unit_test(test_bad_data_reports_file_line_and_writes_nothing),
        cmocka_unit_test(test_split_writes_both_parts),
        cmocka_unit_test(test_train_plot_and_presets),
        cmocka_unit_test(test_other_formats),
        cmocka_unit_test(test_delimited_model_finds_its_data),
        cmocka_unit_test(test_progress_bar_only_on_a_terminal),
        cmocka_unit_test(test_quiet_keeps_the_final_report),
        cmocka_unit_test(test_synth_rejects_bad_options),
        cmocka_unit_test(test_train_flags_that_would_do_nothing),
        cmocka_unit_test(test_synth_never_replaces_a_real_dataset),
        cmocka_unit_test(test_append_only_directory_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
