/*
 * test_fast.c — issue 10's fast-job features: the trainer's parallel
 * evaluation (the same figures for any thread count, the serial
 * evaluation's within one block), `mfrec train --target-rmse`, the
 * --log-json records' wall_s and --no-train-eval.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <omp.h>

#include "mfrec.h"
#include "test_util.h"

static char *g_dir;  /* scratch directory */
static char *g_data; /* synthetic dataset, 300 x 200, 9000 ratings */
static mfr_dataset *g_ds;
static const char *g_bin;
static char *g_out, *g_err;

__attribute__((format(printf, 1, 2))) static int run(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int st = tu_run_cli(g_bin, g_dir, "", &g_out, &g_err, fmt, ap);
    va_end(ap);
    return st;
}

static int setup(void **state)
{
    (void)state;
    g_bin = getenv("MFREC_BIN");
    g_dir = tu_mkdtemp();
    g_data = tu_path(g_dir, "data");
    return tu_synth(g_data, 300, 200, 9000, 11, &g_ds);
}

static int teardown(void **state)
{
    (void)state;
    mfr_dataset_destroy(g_ds);
    tu_rmtree(g_dir);
    free(g_dir);
    free(g_data);
    free(g_out);
    free(g_err);
    return 0;
}

static mfr_trainer *trained(const mfr_dataset *ds, const mfr_ratings *train, int threads, int epochs)
{
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 13;
    cfg.bias = 1;
    cfg.lr = 0.01;
    cfg.n_threads = threads;
    mfr_trainer *tr = NULL;
    mfr_error err = {0};
    if (mfr_trainer_create(&cfg, ds, train, NULL, &tr, &err) != MFR_OK) fail_msg("%s", err.message);
    for (int e = 0; e < epochs; e++) assert_int_equal(mfr_trainer_step(tr, NULL, &err), MFR_OK);
    return tr;
}

/* The trainer's evaluation is the model's on the trainer's threads: the
 * same bits (small sets). */
static void test_evaluate_one_block_equals_serial(void **state)
{
    (void)state;
    mfr_split *sp = NULL;
    assert_int_equal(mfr_split_create(g_ds, "random:0.2", 5, &sp, NULL), MFR_OK);
    mfr_trainer *tr = trained(g_ds, mfr_split_train(sp), 3, 4);
    const mfr_ratings *sets[2] = {mfr_split_train(sp), mfr_split_test(sp)};
    for (int s = 0; s < 2; s++) {
        mfr_metrics a, b;
        assert_int_equal(mfr_trainer_evaluate(tr, sets[s], &a, NULL), MFR_OK);
        assert_int_equal(mfr_model_evaluate(mfr_trainer_model(tr), sets[s], &b, NULL), MFR_OK);
        assert_true(a.n == b.n && a.mse == b.mse && a.rmse == b.rmse && a.mae == b.mae);
    }
    mfr_metrics m;
    assert_int_equal(mfr_trainer_evaluate(NULL, sets[0], &m, NULL), MFR_ERR_INVALID);
    mfr_trainer_destroy(tr);
    mfr_split_destroy(sp);
}

/* Many blocks of predictions on 1 to 4 threads: the bits of the serial
 * rating-order sum every time. */
static void test_evaluate_blocks_independent_of_threads(void **state)
{
    (void)state;
    char *path = tu_path(g_dir, "big");
    mfr_dataset *ds = NULL;
    assert_int_equal(tu_synth(path, 8000, 300, 600000, 4, &ds), 0);
    const mfr_ratings *all = mfr_dataset_ratings(ds);
    mfr_metrics ref = {0}, serial;
    for (int t = 1; t <= 4; t++) {
        mfr_trainer *tr = trained(ds, all, t, 3);
        mfr_metrics got;
        assert_int_equal(mfr_trainer_evaluate(tr, all, &got, NULL), MFR_OK);
        if (t == 1) {
            ref = got;
            assert_int_equal(mfr_model_evaluate(mfr_trainer_model(tr), all, &serial, NULL), MFR_OK);
            assert_true(got.mse == serial.mse && got.mae == serial.mae);
        }
        assert_true(got.mse == ref.mse && got.mae == ref.mae && got.n == 600000);
        mfr_trainer_destroy(tr);
    }
    mfr_dataset_destroy(ds);
    free(path);
}

/* A number after "key": in a JSON line, or NAN. */
static double json_num(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(line, pat);
    return p ? strtod(p + strlen(pat), NULL) : NAN;
}

/* The n-th line (0-based) of text into buf. */
static void nth_line(const char *text, int n, char *buf, size_t cap)
{
    for (int i = 0; i < n && text; i++) {
        text = strchr(text, '\n');
        if (text) text++;
    }
    assert_non_null(text);
    size_t len = strcspn(text, "\n");
    assert_true(len < cap);
    memcpy(buf, text, len);
    buf[len] = 0;
}

static void test_target_rmse_stops_at_first_logged_epoch(void **state)
{
    (void)state;
    if (!g_bin) skip();
    /* the validation RMSE of each epoch, without a target */
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 8 --lr 0.02 --init-std 0.3 "
                         "--epochs 30 --log-every 1 --quiet --threads 2 --log-json '%s/full.jsonl'",
                         g_data, g_dir), 0);
    char *path = tu_path(g_dir, "full.jsonl");
    char *full = tu_read_file(path, NULL);
    free(path);
    char line[1024];
    nth_line(full, 9, line, sizeof line);
    double rmse10 = json_num(line, "val_rmse");
    assert_true(json_num(line, "epoch") == 10);
    /* wall_s: seconds since the start, at least the epochs' elapsed_s */
    assert_true(json_num(line, "wall_s") >= json_num(line, "elapsed_s"));
    nth_line(full, 8, line, sizeof line);
    double rmse9 = json_num(line, "val_rmse");
    assert_true(rmse10 < rmse9); /* still improving there, so the target is first met at 10 */
    free(full);
    /* a target between epoch 9's and 10's RMSE: stops after epoch 10 */
    double target = 0.5 * (rmse9 + rmse10);
    for (int threads = 1; threads <= 3; threads += 2) {
        assert_int_equal(run("train --data '%s' --split random:0.2 --dim 8 --lr 0.02 --init-std 0.3 "
                             "--epochs 30 --log-every 1 --threads %d --target-rmse %.17g "
                             "--log-json '%s/t%d.jsonl' --out '%s/t%d.mfr'",
                             g_data, threads, target, g_dir, threads, g_dir, threads), 0);
        tu_expect_in(g_out, "reached at epoch 10 ");
        path = tu_path(g_dir, threads == 1 ? "t1.jsonl" : "t3.jsonl");
        char *log = tu_read_file(path, NULL);
        free(path);
        nth_line(log, 10, line, sizeof line);
        tu_expect_in(line, "{\"target\":{");
        tu_expect_in(line, "\"reached\":true,\"epoch\":10,");
        assert_true(json_num(line, "val_rmse") == rmse10);
        free(log);
    }
    char *a = tu_path(g_dir, "t1.mfr"), *b = tu_path(g_dir, "t3.mfr");
    size_t la, lb;
    char *ba = tu_read_file(a, &la), *bb = tu_read_file(b, &lb);
    assert_true(la == lb && memcmp(ba, bb, la) == 0); /* the same model for any thread count */
    free(a), free(b), free(ba), free(bb);
    /* never reached */
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 8 --epochs 3 --threads 1 "
                         "--target-rmse 1e-9",
                         g_data), 0);
    tu_expect_in(g_out, "target validation RMSE 1e-09 not reached at the 2 logged epochs of 3 (checked only "
                        "there: --log-every 100;");
    /* every epoch logged, so every epoch checked */
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 8 --epochs 3 --threads 1 "
                         "--target-rmse 1e-9 --log-every 1",
                         g_data), 0);
    tu_expect_in(g_out, "target validation RMSE 1e-09 not reached in 3 epochs (final RMSE");
    /* --log-every 0: epochs 1 and 3 only; epoch 2 was never checked */
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 8 --epochs 3 --threads 1 "
                         "--target-rmse 1e-9 --log-every 0",
                         g_data), 0);
    tu_expect_in(g_out, "not reached at the 2 logged epochs of 3 (checked only there: --log-every 0;");
    assert_null(strstr(g_out, "not reached in 3 epochs"));
}

static void test_target_rmse_refused(void **state)
{
    (void)state;
    if (!g_bin) skip();
    assert_int_equal(run("train --data '%s' --split random:0.2 --epochs 3 --target-rmse 0.5 "
                         "--early-stop 4", g_data), 2);
    tu_expect_in(g_err, "--target-rmse and --early-stop");
    /* a checkpoint does not record the target: a resumed run would go on past it */
    assert_int_equal(run("train --data '%s' --split random:0.2 --epochs 3 --target-rmse 0.5 --checkpoint "
                         "'%s/never.ckpt'",
                         g_data, g_dir),
                     2);
    tu_expect_in(g_err, "--target-rmse cannot be combined with --checkpoint");
    assert_int_equal(run("train --data '%s' --epochs 3 --target-rmse -1", g_data), 2);
    tu_expect_in(g_err, "--target-rmse");
    /* split none keeps no validation ratings to stop at */
    assert_int_equal(run("train --data '%s' --split none --epochs 3 --target-rmse 1", g_data), 2);
    tu_expect_in(g_err, "--target-rmse needs a split with validation ratings (split none has none)");
    assert_int_equal(run("train --data '%s' --split none --epochs 3 --early-stop 1", g_data), 2);
    tu_expect_in(g_err, "--early-stop needs a split with validation ratings (split none has none)");
}

static void test_no_train_eval(void **state)
{
    (void)state;
    if (!g_bin) skip();
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 8 --epochs 3 --log-every 1 "
                         "--threads 2 --no-train-eval --log-json '%s/n.jsonl'",
                         g_data, g_dir), 0);
    tu_expect_in(g_out, "epoch      2  validation MSE ");
    char *path = tu_path(g_dir, "n.jsonl");
    char *log = tu_read_file(path, NULL);
    free(path);
    tu_expect_in(log, "\"epoch\":2,\"train_mse\":null,");
    tu_expect_in(log, "\"log_eval_s\":");
    free(log);
    assert_int_equal(run("train --data '%s' --epochs 3 --no-train-eval --plot '%s/p'", g_data, g_dir), 2);
    tu_expect_in(g_err, "--no-train-eval");
    /* with split none nothing is evaluated: a logged epoch says so, with
     * the time, instead of a bare "epoch 2" */
    assert_int_equal(run("train --data '%s' --split none --dim 8 --epochs 3 --log-every 1 --no-train-eval",
                         g_data), 0);
    tu_expect_in(g_out, "epoch      2  elapsed ");
    tu_expect_in(g_out, " s (nothing evaluated: --no-train-eval, split none)\n");
}

/* --reduce auto: shard buffers when S x M x k_pad floats (S: the shard
 * reduction's shard count) come to at most 32 bytes per training rating. */
static void check_auto(const mfr_dataset *ds, const mfr_ratings *train, int k, const char *want)
{
    mfr_config cfg;
    mfr_config_default(&cfg);
    assert_int_equal(cfg.reduce, MFR_REDUCE_AUTO); /* the default */
    cfg.k = k;
    cfg.n_threads = 1;
    mfr_trainer *tr = NULL;
    cfg.reduce = MFR_REDUCE_SHARD;
    assert_int_equal(mfr_trainer_create(&cfg, ds, train, NULL, &tr, NULL), MFR_OK);
    assert_string_equal(mfr_trainer_reduce_reason(tr), "given");
    double bytes = (double)mfr_trainer_n_shards(tr) * mfr_dataset_n_items(ds) * k * 4.0;
    mfr_trainer_destroy(tr);
    const char *rule = bytes <= 32.0 * (double)mfr_ratings_count(train) ? "shard" : "owner";
    assert_string_equal(rule, want); /* the case is on the intended side */
    cfg.reduce = MFR_REDUCE_AUTO;
    uint64_t sum = 0;
    for (int t = 1; t <= 3; t++) {
        cfg.n_threads = t;
        assert_int_equal(mfr_trainer_create(&cfg, ds, train, NULL, &tr, NULL), MFR_OK);
        assert_string_equal(mfr_trainer_reduce_name(tr), want);
        tu_expect_in(mfr_trainer_reduce_reason(tr), "auto: ");
        assert_int_equal(mfr_trainer_step(tr, NULL, NULL), MFR_OK);
        uint64_t c = mfr_model_checksum(mfr_trainer_model(tr));
        if (t == 1) sum = c;
        assert_true(c == sum); /* the choice and the bytes do not depend on threads */
        mfr_trainer_destroy(tr);
    }
    /* ALS reduces nothing, whatever the plan says */
    cfg.optimizer = MFR_OPTIMIZER_ALS;
    cfg.l2 = 0.1; /* ALS needs a ridge */
    mfr_error err = {0};
    if (mfr_trainer_create(&cfg, ds, train, NULL, &tr, &err) != MFR_OK) fail_msg("%s", err.message);
    assert_string_equal(mfr_trainer_reduce_name(tr), "none (als)");
    assert_string_equal(mfr_trainer_reduce_reason(tr), "each row solved in place, no gradient to reduce");
    mfr_trainer_destroy(tr);
}

static void test_reduce_auto_by_shape(void **state)
{
    (void)state;
    /* 200 items, 3 shards: 77 KB for 9000 ratings, 8.5 B each: shard */
    check_auto(g_ds, mfr_dataset_ratings(g_ds), 32, "shard");
    /* 3000 items x 32 floats, 16 shards: 6 MiB for 60000 ratings: owner */
    char *path = tu_path(g_dir, "wide");
    mfr_dataset *ds = NULL;
    assert_int_equal(tu_synth(path, 2000, 3000, 60000, 4, &ds), 0);
    check_auto(ds, mfr_dataset_ratings(ds), 32, "owner");
    mfr_dataset_destroy(ds);
    free(path);
}

/* The measured thread count: steps switch between one thread and all of
 * them, and the model is the one a fixed count gives. */
static void test_measured_threads_same_model(void **state)
{
    (void)state;
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 8;
    cfg.lr = 0.01;
    const mfr_ratings *all = mfr_dataset_ratings(g_ds);
    mfr_trainer *fixed = NULL, *meas = NULL;
    cfg.n_threads = 1;
    assert_int_equal(mfr_trainer_create(&cfg, g_ds, all, NULL, &fixed, NULL), MFR_OK);
    assert_int_equal(mfr_trainer_threads_auto(fixed), 0);
    omp_set_num_threads(3);
    cfg.n_threads = 0;
    assert_int_equal(mfr_trainer_create(&cfg, g_ds, all, NULL, &meas, NULL), MFR_OK);
    assert_int_equal(mfr_trainer_threads_auto(meas), 1);
    assert_int_equal(mfr_trainer_n_threads(meas), 3);
    int seen[4] = {0};
    for (int e = 0; e < 80; e++) {
        assert_int_equal(mfr_trainer_step(fixed, NULL, NULL), MFR_OK);
        assert_int_equal(mfr_trainer_step(meas, NULL, NULL), MFR_OK);
        int t = mfr_trainer_n_threads(meas);
        assert_true(t == 1 || t == 3);
        seen[t]++;
    }
    assert_true(seen[1] >= 2 && seen[3] >= 1); /* both were measured */
    assert_true(mfr_model_checksum(mfr_trainer_model(fixed)) == mfr_model_checksum(mfr_trainer_model(meas)));
    mfr_trainer_destroy(fixed);
    mfr_trainer_destroy(meas);
    omp_set_num_threads(1);
}

static void test_preset_fast(void **state)
{
    (void)state;
    if (!g_bin) skip();
    assert_int_equal(run("train --data '%s' --split random:0.2 --preset fast --epochs 4 --threads 2 "
                         "--log-every 1", g_data), 0);
    tu_expect_in(g_out, "preset fast");
    tu_expect_in(g_out, "alternating least squares");
    tu_expect_in(g_out, "reduce none (als)");
    assert_int_equal(run("train --help"), 0);
    tu_expect_in(g_out, "--optimizer als --als-cg 3");
    /* the preset's flags are overridden by the command line's, and als's rules hold */
    assert_int_equal(run("train --data '%s' --preset fast --gravity 1 --epochs 2", g_data), 2);
    tu_expect_in(g_err, "gravity");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evaluate_one_block_equals_serial),
        cmocka_unit_test(test_evaluate_blocks_independent_of_threads),
        cmocka_unit_test(test_target_rmse_stops_at_first_logged_epoch),
        cmocka_unit_test(test_target_rmse_refused),
        cmocka_unit_test(test_no_train_eval),
        cmocka_unit_test(test_reduce_auto_by_shape),
        cmocka_unit_test(test_measured_threads_same_model),
        cmocka_unit_test(test_preset_fast),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
