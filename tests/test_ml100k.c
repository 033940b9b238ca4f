/*
 * test_ml100k.c — integration checks on the real MovieLens 100K files
 * (MFREC_DATA; skipped with exit 77 when absent): loader counts, ids and
 * metadata, the canonical splits, the reference experiment's first
 * epochs being identical across thread counts, and the accuracy goal of
 * `--preset accurate` on u1 through the command-line tool.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mfrec.h"
#include "test_util.h"

static mfr_dataset *g_ds;

static int setup(void **state)
{
    (void)state;
    const char *dir = tu_ml100k_dir();
    if (!dir) tu_skip_all("ML-100K not found: set MFREC_DATA to the ml-100k directory");
    mfr_error err = {0};
    if (mfr_dataset_load(dir, NULL, &g_ds, &err) != MFR_OK) {
        fprintf(stderr, "load failed: %s\n", err.message);
        return -1;
    }
    return 0;
}

/* Runs `mfrec ARGS` (MFREC_BIN) in dir; returns the exit status. */
__attribute__((format(printf, 4, 5))) static int run_cli(const char *dir, char **out, char **err,
                                                         const char *fmt, ...)
{
    const char *bin = getenv("MFREC_BIN");
    if (!bin) fail_msg("MFREC_BIN is not set (run through meson test)");
    va_list ap;
    va_start(ap, fmt);
    int st = tu_run_cli(bin, dir, "", out, err, fmt, ap);
    va_end(ap);
    return st;
}

/* The goal, as the README states it: `train --split u1 --preset
 * accurate`, then `eval --test u1.test`, test RMSE <= 0.915. */
static void test_accuracy_goal_on_u1(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    char *model = tu_path(dir, "u1.model");
    char *out = NULL, *err = NULL;
    const char *data = tu_ml100k_dir();
    if (run_cli(dir, &out, &err, "train --data '%s' --split u1 --preset accurate --quiet --out '%s'", data,
                model) != 0)
        fail_msg("train failed: %s", err);
    if (run_cli(dir, &out, &err, "eval --data '%s' --model '%s' --test u1.test --json", data, model) != 0)
        fail_msg("eval failed: %s", err);
    const char *p = strstr(out, "\"rmse\":");
    if (!p) fail_msg("no rmse in: %s", out);
    double rmse = strtod(p + strlen("\"rmse\":"), NULL);
    print_message("u1 test RMSE of --preset accurate: %.4f (goal <= 0.915)\n", rmse);
    assert_true(rmse > 0.5 && rmse <= 0.915);
    free(out);
    free(err);
    tu_rmtree(dir);
    free(model);
    free(dir);
}

/* recommend's note on an unregularized model quotes the notebook
 * model's NDCG@10 on u1: it must be what `eval` measures for that model
 * (it said 0.006, a number of the replaced Box-Muller initialization). */
static void test_poor_ranker_note_quotes_u1_ndcg(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    char *model = tu_path(dir, "nb.model");
    char *out = NULL, *err = NULL;
    const char *data = tu_ml100k_dir();
    if (run_cli(dir, &out, &err, "train --data '%s' --split u1 --quiet --out '%s'", data, model) != 0)
        fail_msg("train failed: %s", err);
    if (run_cli(dir, &out, &err, "eval --data '%s' --model '%s' --test u1.test --json", data, model) != 0)
        fail_msg("eval failed: %s", err);
    const char *p = strstr(out, "\"ranking\":{\"model\":");
    p = p ? strstr(p, "\"ndcg\":") : NULL;
    if (!p) fail_msg("no model ndcg in: %s", out);
    char want[64];
    snprintf(want, sizeof want, "NDCG@10 %.3f,", strtod(p + strlen("\"ndcg\":"), NULL));
    if (run_cli(dir, &out, &err, "recommend --data '%s' --model '%s' --user 1 --top 1", data, model) != 0)
        fail_msg("recommend failed: %s", err);
    tu_expect_in(err, "is unregularized");
    tu_expect_in(err, want);
    free(out);
    free(err);
    tu_rmtree(dir);
    free(model);
    free(dir);
}

/* The report's final train MSE is the kept model's data term, as the
 * logged epochs' are: here (a run found by a review) the old exact
 * evaluation printed 52.159655 where the logged epoch 14, the best one,
 * prints 52.159656. The same with --quiet, which logs nothing, and with
 * --no-train-eval, which logs no training MSE. */
static void test_final_line_repeats_logged_epoch(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    char *out = NULL, *err = NULL;
    const char *data = tu_ml100k_dir();
    const char *flags = "--split sklearn:300 --epochs 14 --log-every 1 --dim 40 --gravity 1 --l2 0.05 "
                        "--threads 1 --early-stop 5 --data-cache never";
    if (run_cli(dir, &out, &err, "train --data '%s' %s", data, flags) != 0) fail_msg("train failed: %s", err);
    const char *last = strstr(out, "epoch     14  train MSE ");
    assert_non_null(last);
    tu_expect_in(out, "the last epoch, 14, has the best");
    char want[64];
    snprintf(want, sizeof want, "final: train MSE %.9s", last + strlen("epoch     14  train MSE "));
    tu_expect_in(out, want);
    char *loud = out; /* run_cli frees what *out held */
    out = NULL;
    if (run_cli(dir, &out, &err, "train --data '%s' %s --quiet", data, flags) != 0) fail_msg("train failed: %s", err);
    tu_expect_in(out, want);
    if (run_cli(dir, &out, &err, "train --data '%s' %s --no-train-eval", data, flags) != 0)
        fail_msg("train failed: %s", err);
    tu_expect_in(out, want);
    tu_expect_in(loud, "final: train MSE 52.159656");
    free(loud);
    free(out);
    free(err);
    tu_rmtree(dir);
    free(dir);
}

/* The movie ids of a `recommend --csv` list (rank,movie,...), in order. */
static int csv_movies(const char *csv, long *ids, int max)
{
    int n = 0;
    const char *p = strchr(csv, '\n'); /* past the header */
    while (p && n < max) {
        p++;
        if (!*p) break;
        const char *comma = strchr(p, ',');
        if (!comma) break;
        ids[n++] = strtol(comma + 1, NULL, 10);
        p = strchr(p, '\n');
    }
    return n;
}

/* Issue 11 §2 on the preset meant for recommending: a new user who rates
 * four movies 1 or 2 stars is not recommended more of the same, while one
 * who rates them 5 is. With --preset ndcg's implicit feedback, the fold-in
 * once shrank the free part towards zero, and the offset of which movies
 * were rated (the same for both) decided alone: the two top 10s were the
 * same movies in the same order. Then the ratings only reordered the list
 * (gravity fits any rated movie above the unrated ones); now a rating
 * below the middle of the range counts as a dislike
 * (mfr_model_fold_in_range). */
static void test_ndcg_fold_in_follows_rating_values(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    char *model = tu_path(dir, "ndcg.model");
    char *out = NULL, *err = NULL;
    const char *data = tu_ml100k_dir();
    if (run_cli(dir, &out, &err, "train --data '%s' --preset ndcg --quiet --out '%s'", data, model) != 0)
        fail_msg("train failed: %s", err);
    /* four movies (Star Wars, Empire, Raiders, Jedi) rated 1, 2 and 5 */
    const int stars[3] = {1, 2, 5};
    long ids[3][10];
    for (int v = 0; v < 3; v++) {
        const int r = stars[v];
        if (run_cli(dir, &out, &err,
                    "recommend --data '%s' --model '%s' --top 10 --csv --rate '#50=%d,#172=%d,#174=%d,#181=%d'",
                    data, model, r, r, r, r) != 0)
            fail_msg("recommend failed: %s", err);
        assert_int_equal(csv_movies(out, ids[v], 10), 10);
    }
    for (int v = 0; v < 2; v++) {
        int shared = 0, sequel = 0;
        for (int x = 0; x < 10; x++) {
            for (int y = 0; y < 10; y++) shared += ids[v][x] == ids[2][y];
            sequel += ids[v][x] == 210; /* Indiana Jones and the Last Crusade */
        }
        print_message("--preset ndcg fold-in: the %d-star and 5-star top 10s share %d movies\n", stars[v],
                      shared);
        /* rated low, the movies are not recommended more of the same: the
         * lists barely meet, and Raiders' sequel is left out */
        assert_true(shared <= 3);
        assert_int_equal(sequel, 0);
    }
    int sequel5 = 0;
    for (int x = 0; x < 10; x++) sequel5 += ids[2][x] == 210;
    assert_int_equal(sequel5, 1);
    free(out);
    free(err);
    tu_rmtree(dir);
    free(model);
    free(dir);
}

static int teardown(void **state)
{
    (void)state;
    mfr_dataset_destroy(g_ds);
    return 0;
}

static void test_counts_and_metadata(void **state)
{
    (void)state;
    assert_int_equal(mfr_dataset_n_users(g_ds), 943);
    assert_int_equal(mfr_dataset_n_items(g_ds), 1682);
    assert_int_equal(mfr_ratings_count(mfr_dataset_ratings(g_ds)), 100000);
    /* dense = raw - 1 for ML-100K */
    assert_int_equal(mfr_dataset_item_index(g_ds, 1), 0);
    assert_int_equal(mfr_dataset_user_id(g_ds, 942), 943);
    assert_string_equal(mfr_dataset_item_title(g_ds, 0), "Toy Story (1995)");
    assert_int_equal(mfr_dataset_item_year(g_ds, 0), 1995);
    assert_int_equal(mfr_dataset_n_genres(g_ds), 19);
    assert_string_equal(mfr_dataset_genre_name(g_ds, 3), "Animation");
    assert_true(mfr_dataset_item_genres(g_ds, 0) & (1u << 3));
    assert_int_equal(mfr_dataset_user_age(g_ds, 0), 24);
    assert_int_equal(mfr_dataset_user_sex(g_ds, 0), 'M');
    assert_string_equal(mfr_dataset_user_occupation(g_ds, 0), "technician");
    /* first line of u.data: 196 242 3 881250949 */
    int32_t u, i;
    float r;
    int64_t ts;
    mfr_ratings_get(mfr_dataset_ratings(g_ds), 0, &u, &i, &r, &ts, NULL);
    assert_int_equal(mfr_dataset_user_id(g_ds, u), 196);
    assert_int_equal(mfr_dataset_item_id(g_ds, i), 242);
    assert_true(r == 3.0f);
    assert_int_equal(ts, 881250949);
    /* titles are UTF-8 after the latin-1 conversion */
    int found = 0;
    for (int32_t x = 0; x < 1682; x++)
        if (strstr(mfr_dataset_item_title(g_ds, x), "Mis\xc3\xa9rables")) found = 1;
    assert_true(found);
}

static void test_canonical_and_sklearn_splits(void **state)
{
    (void)state;
    mfr_error err = {0};
    const char *specs[] = {"u1", "u5", "ua", "sklearn:300"};
    const int64_t train_n[] = {80000, 80000, 90570, 75000};
    for (int s = 0; s < 4; s++) {
        mfr_split *sp = NULL;
        assert_int_equal(mfr_split_create(g_ds, specs[s], 0, &sp, &err), MFR_OK);
        assert_int_equal(mfr_ratings_count(mfr_split_train(sp)), train_n[s]);
        assert_int_equal(mfr_ratings_count(mfr_split_train(sp)) + mfr_ratings_count(mfr_split_test(sp)), 100000);
        mfr_split_destroy(sp);
    }
}

/* The reference experiment (sklearn:300, the defaults) trained `epochs`
 * epochs on `threads` threads: its model checksum; the first and last
 * step's losses when asked. */
static uint64_t reference_checksum(int threads, int epochs, double *first, double *last)
{
    mfr_error err = {0};
    mfr_split *sp = NULL;
    assert_int_equal(mfr_split_create(g_ds, "sklearn:300", 0, &sp, &err), MFR_OK);
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.n_threads = threads;
    mfr_trainer *tr = NULL;
    assert_int_equal(mfr_trainer_create(&cfg, g_ds, mfr_split_train(sp), "sklearn:300", &tr, &err), MFR_OK);
    double loss = 0;
    for (int e = 0; e < epochs; e++) {
        assert_int_equal(mfr_trainer_step(tr, &loss, NULL), MFR_OK);
        if (e == 0 && first) *first = loss;
    }
    if (last) *last = loss;
    const uint64_t sum = mfr_model_checksum(mfr_trainer_model(tr));
    mfr_trainer_destroy(tr);
    mfr_split_destroy(sp);
    return sum;
}

static void test_reference_experiment_thread_invariant(void **state)
{
    (void)state;
    uint64_t sums[4];
    double first = 0, last = 0;
    for (int t = 1; t <= 4; t++) sums[t - 1] = reference_checksum(t, 50, &first, &last);
    for (int t = 1; t < 4; t++) assert_true(sums[t] == sums[0]);
    /* N(0, 1) init with k = 30: the initial MSE is around 30 + the rating spread */
    assert_true(first > 25 && first < 50);
    assert_true(last < first);
}

/* The reference experiment as the README states it (tools/reference:
 * `mfrec train` with its defaults, 1000 epochs): the model checksum
 * 8b33fd4ead1c40b6, in every build that runs this suite (the -Werror
 * build's gcc -O3 and the ASan + UBSan build's): the libm-free
 * initialization and fixed sum orders make the bytes the same.
 * tests/test_model_bytes.c does the same for small data in more builds. */
static void test_reference_experiment_bytes(void **state)
{
    (void)state;
    const uint64_t sum = reference_checksum(2, 1000, NULL, NULL);
    if (sum != UINT64_C(0x8b33fd4ead1c40b6))
        fail_msg("the reference experiment's model checksum is %016llx, not the README's 8b33fd4ead1c40b6",
                 (unsigned long long)sum);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_and_metadata),
        cmocka_unit_test(test_canonical_and_sklearn_splits),
        cmocka_unit_test(test_reference_experiment_thread_invariant),
        cmocka_unit_test(test_reference_experiment_bytes),
        cmocka_unit_test(test_accuracy_goal_on_u1),
        cmocka_unit_test(test_final_line_repeats_logged_epoch),
        cmocka_unit_test(test_poor_ranker_note_quotes_u1_ndcg),
        cmocka_unit_test(test_ndcg_fold_in_follows_rating_values),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
