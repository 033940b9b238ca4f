/*
 * test_sklearn_split.c — integration test: the "sklearn:SEED[:FRACTION]"
 * split of ML-100K must hold exactly the rows, in exactly the order, that
 * scikit-learn's own train_test_split returns (run through
 * tools/sklearn-split.py with /usr/bin/python3).
 *
 * Needs MFREC_DATA pointing at ML-100K, MFREC_TEST_SRCDIR pointing at tests/
 * and a python3 with scikit-learn; without them it prints why and exits 77
 * (meson: skipped).
 */
#include <inttypes.h>
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

#define PYTHON "/usr/bin/python3"

static const char *data_dir;
static char *script;

/* One line of the reference output: "user\titem\trating\tts". */
struct row {
    int64_t user, item, rating, ts;
};

static int setup(void **state)
{
    mfr_dataset *ds = NULL;
    mfr_error err = {0};
    if (mfr_dataset_load(data_dir, NULL, &ds, &err) != MFR_OK) {
        fprintf(stderr, "mfr_dataset_load(%s): %s\n", data_dir, err.message);
        return -1;
    }
    *state = ds;
    return 0;
}

static int teardown(void **state)
{
    mfr_dataset_destroy(*state);
    return 0;
}

/* Reads one file of the script's output: `n` lines, each parsed into
 * idx[k] (for .idx files) or rows[k] (for .data files). */
static int64_t read_lines(const char *path, int64_t *idx, struct row *rows, int64_t cap)
{
    char *text = tu_read_file(path, NULL);
    if (!text) fail_msg("cannot read %s", path);
    int64_t n = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (n >= cap) fail_msg("%s: more than %" PRId64 " lines", path, cap);
        if (idx) {
            if (sscanf(line, "%" SCNd64, &idx[n]) != 1) fail_msg("%s: bad line %s", path, line);
        } else {
            struct row *r = &rows[n];
            if (sscanf(line, "%" SCNd64 "\t%" SCNd64 "\t%" SCNd64 "\t%" SCNd64, &r->user,
                       &r->item, &r->rating, &r->ts) != 4)
                fail_msg("%s: bad line %s", path, line);
        }
        n++;
    }
    free(text);
    return n;
}

/* Compares one part of our split with sklearn's rows and row indices. */
static void compare_part(const mfr_dataset *ds, const mfr_ratings *ours, const char *dir,
                         const char *name)
{
    const mfr_ratings *all = mfr_dataset_ratings(ds);
    int64_t n_all = mfr_ratings_count(all);
    int64_t *idx = malloc((size_t)n_all * sizeof *idx);
    struct row *rows = malloc((size_t)n_all * sizeof *rows);
    assert_non_null(idx);
    assert_non_null(rows);
    char file[64];
    snprintf(file, sizeof file, "%s.idx", name);
    char *path = tu_path(dir, file);
    int64_t n_idx = read_lines(path, idx, NULL, n_all);
    free(path);
    snprintf(file, sizeof file, "%s.data", name);
    path = tu_path(dir, file);
    int64_t n_rows = read_lines(path, NULL, rows, n_all);
    free(path);

    int64_t n = mfr_ratings_count(ours);
    if (n != n_idx || n != n_rows)
        fail_msg("%s: we have %" PRId64 " rows, sklearn %" PRId64 " (%" PRId64 " indices)",
                 name, n, n_rows, n_idx);
    for (int64_t k = 0; k < n; k++) {
        int32_t u, i, u_all, i_all;
        float r, r_all;
        int64_t ts, ts_all;
        mfr_ratings_get(ours, k, &u, &i, &r, &ts, NULL);
        const struct row *want = &rows[k];
        if (mfr_dataset_user_id(ds, u) != want->user || mfr_dataset_item_id(ds, i) != want->item ||
            r != (float)want->rating || ts != want->ts)
            fail_msg("%s row %" PRId64 ": ours %" PRId64 " %" PRId64 " %g %" PRId64
                     ", sklearn %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64,
                     name, k, mfr_dataset_user_id(ds, u), mfr_dataset_item_id(ds, i),
                     (double)r, ts, want->user, want->item, want->rating, want->ts);
        /* Same row of u.data, not only an equal-looking one. */
        assert_true(idx[k] >= 0 && idx[k] < n_all);
        mfr_ratings_get(all, idx[k], &u_all, &i_all, &r_all, &ts_all, NULL);
        if (u != u_all || i != i_all || r != r_all || ts != ts_all)
            fail_msg("%s row %" PRId64 ": sklearn's index %" PRId64 " is another u.data row",
                     name, k, idx[k]);
    }
    free(rows);
    free(idx);
}

/* Runs the reference script and our split for one spec and compares. */
static void check_spec(const mfr_dataset *ds, const char *spec, unsigned seed,
                       const char *test_size, int64_t want_test)
{
    char *out = tu_mkdtemp();
    size_t cap = strlen(script) + strlen(data_dir) + strlen(out) + 256;
    char *cmd = malloc(cap);
    assert_non_null(cmd);
    snprintf(cmd, cap, "'%s' '%s' --data '%s' --seed %u --test-size %s --out '%s'", PYTHON,
             script, data_dir, seed, test_size, out);
    int status = system(cmd);
    if (status != 0) fail_msg("reference script failed (status %d): %s", status, cmd);
    free(cmd);

    mfr_split *s = NULL;
    mfr_error err = {0};
    if (mfr_split_create(ds, spec, 12345, &s, &err) != MFR_OK)
        fail_msg("mfr_split_create(%s): %s", spec, err.message);
    assert_int_equal(mfr_ratings_count(mfr_split_test(s)), want_test);
    assert_int_equal(mfr_ratings_count(mfr_split_train(s)),
                     mfr_ratings_count(mfr_dataset_ratings(ds)) - want_test);
    compare_part(ds, mfr_split_train(s), out, "train");
    compare_part(ds, mfr_split_test(s), out, "test");
    mfr_split_destroy(s);
    tu_rmtree(out);
    free(out);
}

static void test_seed_300_default(void **state)
{
    check_spec(*state, "sklearn:300", 300, "0.25", 25000);
}

static void test_seed_7_fraction_02(void **state)
{
    check_spec(*state, "sklearn:7:0.2", 7, "0.2", 20000);
}

/* 0.07 * 100000 is 7000.000000000001 in double, so sklearn's ceil gives
 * 7001 test rows: the size must follow the same double arithmetic. */
static void test_seed_0_fraction_007(void **state)
{
    check_spec(*state, "sklearn:0:0.07", 0, "0.07", 7001);
}

int main(void)
{
    data_dir = tu_ml100k_dir();
    if (!data_dir) tu_skip_all("MFREC_DATA does not point at an ML-100K directory (u.data)");
    const char *src = getenv("MFREC_TEST_SRCDIR");
    if (!src || !*src) tu_skip_all("MFREC_TEST_SRCDIR (the tests/ directory) is not set");
    script = tu_path(src, "../tools/sklearn-split.py");
    if (!tu_exists(script)) tu_skip_all("tools/sklearn-split.py not found next to tests/");
    if (system(PYTHON " -c 'import sklearn, numpy' >/dev/null 2>&1") != 0)
        tu_skip_all(PYTHON " cannot import sklearn and numpy");

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_300_default),
        cmocka_unit_test(test_seed_7_fraction_02),
        cmocka_unit_test(test_seed_0_fraction_007),
    };
    int failed = cmocka_run_group_tests_name("sklearn_split", tests, setup, teardown);
    free(script);
    return failed ? 1 : 0;
}
