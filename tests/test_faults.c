/*
 * test_faults.c — allocation failures. The library's allocations all go
 * through one hook (common_priv.h); each test walks N over every
 * allocation of one operation (loading a dataset, creating a trainer and
 * training, saving, loading a model, recommending, folding in) and makes
 * the Nth fail: the operation must then fail with MFR_ERR_NOMEM, write no
 * file and leak nothing (the ASan build's leak checker watches the last
 * part), until N passes the operation's allocation count and it succeeds.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "common_priv.h"
#include "mfrec.h"
#include "test_util.h"

struct fixture {
    char *dir, *data;
    mfr_dataset *ds;
    mfr_model *model;
    mfr_split *sp; /* a split of ds, for the ranking metrics */
};

static mfr_config small_config(void)
{
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 4;
    cfg.bias = 1;
    cfg.implicit = 0.5f;
    cfg.n_threads = 2;
    return cfg;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = tu_mkdtemp();
    f->data = tu_path(f->dir, "data");
    mfr_synth_options o;
    mfr_synth_options_default(&o);
    o.n_users = 40, o.n_items = 30, o.n_ratings = 500, o.seed = 3;
    mfr_error err = {0};
    mfr_trainer *tr = NULL;
    mfr_config cfg = small_config();
    /* loaded by its rating file, so the trainer, the model and its file
     * carry the data source record too */
    char *file = tu_path(f->data, "u.data");
    int rc = mfr_synth_write(&o, f->data, &err);
    if (rc == MFR_OK) rc = mfr_dataset_load(file, NULL, &f->ds, &err);
    free(file);
    if (rc != MFR_OK ||
        mfr_trainer_create(&cfg, f->ds, mfr_dataset_ratings(f->ds), NULL, &tr, &err) != MFR_OK ||
        mfr_trainer_step(tr, NULL, &err) != MFR_OK ||
        mfr_model_copy(mfr_trainer_model(tr), &f->model, &err) != MFR_OK ||
        mfr_split_create(f->ds, "random:0.3", 5, &f->sp, &err) != MFR_OK ||
        !strstr(mfr_model_data_source(f->model, NULL), "u.data")) {
        fprintf(stderr, "setup failed: %s\n", err.message);
        return -1;
    }
    mfr_trainer_destroy(tr);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    mfr_model_destroy(f->model);
    mfr_split_destroy(f->sp);
    mfr_dataset_destroy(f->ds);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f->data);
    free(f);
    return 0;
}

/* One operation under test: returns its status and frees what it made. */
typedef int (*op_fn)(struct fixture *f, mfr_error *err);

/* Fails allocation n = 1, 2, ... of op until op succeeds without reaching
 * the failure; every failure must be MFR_ERR_NOMEM. Returns the number of
 * allocations op makes. */
static int64_t walk_allocations(struct fixture *f, op_fn op)
{
    for (int64_t n = 1;; n++) {
        mfr_error err = {0};
        mfr_fault_alloc_at(n);
        int rc = op(f, &err);
        int64_t made = mfr_fault_alloc_count();
        mfr_fault_alloc_at(0);
        if (made < n) {
            assert_int_equal(rc, MFR_OK);
            return made;
        }
        if (rc != MFR_ERR_NOMEM)
            fail_msg("allocation %lld of %lld: status %d (%s), expected MFR_ERR_NOMEM",
                     (long long)n, (long long)made, rc, err.message);
        assert_true(err.message[0] != '\0');
        assert_int_equal(err.status, MFR_ERR_NOMEM);
    }
}

static int op_load(struct fixture *f, mfr_error *err)
{
    mfr_load_options o;
    mfr_load_options_default(&o);
    o.cache = MFR_CACHE_NEVER;
    mfr_dataset *ds = NULL;
    int rc = mfr_dataset_load(f->data, &o, &ds, err);
    mfr_dataset_destroy(ds);
    return rc;
}

/* The same dataset named by its rating file (the path is kept). */
static int op_load_file(struct fixture *f, mfr_error *err)
{
    mfr_load_options o;
    mfr_load_options_default(&o);
    o.cache = MFR_CACHE_NEVER;
    mfr_dataset *ds = NULL;
    char *file = tu_path(f->data, "u.data");
    int rc = mfr_dataset_load(file, &o, &ds, err);
    free(file);
    mfr_dataset_destroy(ds);
    return rc;
}

static int op_train(struct fixture *f, mfr_error *err)
{
    mfr_config cfg = small_config();
    mfr_trainer *tr = NULL;
    mfr_split *sp = NULL;
    int rc = mfr_split_create(f->ds, "random:0.2", 7, &sp, err);
    if (rc == MFR_OK)
        rc = mfr_trainer_create(&cfg, f->ds, mfr_split_train(sp), mfr_split_spec(sp), &tr, err);
    for (int e = 0; rc == MFR_OK && e < 2; e++) rc = mfr_trainer_step(tr, NULL, err);
    mfr_trainer_destroy(tr);
    mfr_split_destroy(sp);
    return rc;
}

/* The directory holds only what setup wrote (no model, no temporary). */
static void assert_only_data(const struct fixture *f)
{
    DIR *d = opendir(f->dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "data"))
            fail_msg("left behind: %s", e->d_name);
    closedir(d);
}

static int op_save(struct fixture *f, mfr_error *err)
{
    char *path = tu_path(f->dir, "m.mfr");
    int rc = mfr_model_save(f->model, path, err);
    if (rc != MFR_OK) assert_only_data(f);
    remove(path);
    free(path);
    return rc;
}

static int op_recommend(struct fixture *f, mfr_error *err)
{
    int32_t items[10], n = 0;
    float scores[10], vec[4], bias = 0;
    const int32_t rated[3] = {0, 1, 2};
    const float r[3] = {5, 3, 4};
    int rc = mfr_model_recommend(f->model, 1, 10, MFR_MEASURE_DOT, NULL, items, scores, &n, err);
    if (rc == MFR_OK)
        rc = mfr_model_similar_items(f->model, 2, 10, MFR_MEASURE_COSINE, items, scores, &n, err);
    if (rc == MFR_OK) rc = mfr_model_fold_in(f->model, rated, r, 3, 0.5, vec, &bias, err);
    return rc;
}

/* Every user at once, on one thread so the allocations come in one order:
 * the users are ranked in groups of seven, each with a query copy per user,
 * so a failure inside a group must free the copies its earlier users made. */
static int op_recommend_users(struct fixture *f, mfr_error *err)
{
    enum { USERS = 40, TOP = 5 };
    int32_t items[USERS * TOP], n_out[USERS];
    float scores[USERS * TOP];
    uint8_t mask[30] = {[3] = 1, [17] = 1};
    int rc = mfr_model_recommend_users(f->model, 0, USERS, TOP, MFR_MEASURE_DOT, mfr_dataset_ratings(f->ds), mask,
                                       1, items, scores, n_out, err);
    if (rc == MFR_OK)
        rc = mfr_model_recommend_users(f->model, 3, USERS - 3, TOP, MFR_MEASURE_COSINE, NULL, NULL, 1, items,
                                       NULL, n_out, err);
    return rc;
}

/* The ranking metrics (eval's): the training and the relevant items grouped
 * by user, the popularity order, each thread's scratch, on one thread so the
 * allocations come in one order. A failure in the grouping freed its
 * half-made arrays, which the workspace freed again (a double free, helper
 * 144). */
static int op_ranking(struct fixture *f, mfr_error *err)
{
    mfr_ranking rm, rp;
    mfr_set_threads(1);
    int rc = mfr_model_ranking(f->model, mfr_split_train(f->sp), mfr_split_test(f->sp), 5, &rm, &rp, err);
    mfr_set_threads(0);
    return rc;
}

/* The rating metrics of a small set (one thread): the chunk's errors, the
 * chunk sums and the thread's buffer table. The table came from malloc,
 * which the hook does not see, so its failure path was never taken. */
static int op_evaluate(struct fixture *f, mfr_error *err)
{
    mfr_metrics met;
    return mfr_model_evaluate(f->model, mfr_dataset_ratings(f->ds), &met, err);
}

static void test_alloc_evaluate(void **state) { assert_int_equal(walk_allocations(*state, op_evaluate), 3); }
static void test_alloc_load(void **state) { assert_true(walk_allocations(*state, op_load) > 5); }
static void test_alloc_ranking(void **state) { assert_true(walk_allocations(*state, op_ranking) > 4); }
static void test_alloc_load_file(void **state)
{
    assert_true(walk_allocations(*state, op_load_file) > 5);
}
static void test_alloc_train(void **state) { assert_true(walk_allocations(*state, op_train) > 5); }
static void test_alloc_save(void **state) { assert_true(walk_allocations(*state, op_save) >= 1); }
static void test_alloc_recommend(void **state) { walk_allocations(*state, op_recommend); }
static void test_alloc_recommend_users(void **state)
{
    assert_true(walk_allocations(*state, op_recommend_users) > 2 * 7);
}

/* The model is saved before each try with the hook off, so only the
 * load's allocations are failed. */
static void test_alloc_model_load(void **state)
{
    struct fixture *f = *state;
    for (int64_t n = 1;; n++) {
        char *path = tu_path(f->dir, "load.mfr");
        mfr_error err = {0};
        assert_int_equal(mfr_model_save(f->model, path, &err), MFR_OK);
        mfr_model *m = NULL;
        mfr_fault_alloc_at(n);
        int rc = mfr_model_load(path, &m, &err);
        int64_t made = mfr_fault_alloc_count();
        mfr_fault_alloc_at(0);
        mfr_model_destroy(m);
        remove(path);
        free(path);
        if (made < n) {
            assert_int_equal(rc, MFR_OK);
            assert_true(n > 2);
            return;
        }
        if (rc != MFR_ERR_NOMEM) fail_msg("allocation %lld: status %d (%s)", (long long)n, rc, err.message);
        assert_null(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_load),
        cmocka_unit_test(test_alloc_load_file),
        cmocka_unit_test(test_alloc_train),
        cmocka_unit_test(test_alloc_save),
        cmocka_unit_test(test_alloc_model_load),
        cmocka_unit_test(test_alloc_recommend),
        cmocka_unit_test(test_alloc_recommend_users),
        cmocka_unit_test(test_alloc_ranking),
        cmocka_unit_test(test_alloc_evaluate),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
