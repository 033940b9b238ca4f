/*
 * test_api.c — misuse of the public API: NULL handles, bad configuration
 * (the right code and a message naming the field), calls in the wrong
 * order, the memory budget, and the status table.
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

static void test_status_strings(void **state)
{
    (void)state;
    for (int s = 0; s >= -11; s--) {
        const char *msg = mfr_status_str(s);
        assert_non_null(msg);
        assert_true(strlen(msg) > 0);
        assert_string_not_equal(msg, "unknown status");
    }
    assert_string_equal(mfr_status_str(1), "unknown status");
    assert_string_equal(mfr_status_str(-1000), "unknown status");
    assert_string_equal(mfr_status_str(MFR_ERR_PARSE), "parse error");
}

static void test_destroy_accepts_null(void **state)
{
    (void)state;
    mfr_dataset_destroy(NULL);
    mfr_ratings_destroy(NULL);
    mfr_split_destroy(NULL);
    mfr_model_destroy(NULL);
    mfr_trainer_destroy(NULL);
    mfr_free(NULL);
    assert_null(mfr_trainer_model(NULL));
    assert_string_equal(mfr_trainer_errmsg(NULL), "");
}

static void expect_bad(mfr_config cfg, const char *field)
{
    mfr_error err = {0};
    assert_int_equal(mfr_config_validate(&cfg, &err), MFR_ERR_INVALID);
    assert_int_equal(err.status, MFR_ERR_INVALID);
    if (strncmp(err.message, field, strlen(field)) != 0)
        fail_msg("message '%s' does not name field %s", err.message, field);
}

static void test_config_validation_names_field(void **state)
{
    (void)state;
    mfr_config d;
    mfr_config_default(&d);
    mfr_error err = {0};
    assert_int_equal(mfr_config_validate(&d, &err), MFR_OK);
    assert_int_equal(d.k, 30);
    assert_true(d.lr == 1e-3 && d.beta1 == 0.9 && d.beta2 == 0.999 && d.eps == 1e-8);
    mfr_config c = d;
    c.k = 0;
    expect_bad(c, "k must be in 1..4096, got 0");
    c = d, c.k = 5000, expect_bad(c, "k");
    c = d, c.lr = -1, expect_bad(c, "lr");
    c = d, c.lr = 0.0 / 0.0, expect_bad(c, "lr");
    c = d, c.beta1 = 1.0, expect_bad(c, "beta1");
    c = d, c.beta2 = -0.1, expect_bad(c, "beta2");
    c = d, c.eps = 0, expect_bad(c, "eps");
    c = d, c.init_std = -1, expect_bad(c, "init_std");
    c = d, c.n_shards = -2, expect_bad(c, "n_shards");
    c = d, c.reduce = 7, expect_bad(c, "reduce");
    c = d, c.kernels = -1, expect_bad(c, "kernels");
    c = d, c.n_threads = -1, expect_bad(c, "n_threads");
    assert_int_equal(mfr_config_validate(NULL, &err), MFR_ERR_INVALID);
}

struct fixture {
    char *dir;
    mfr_dataset *ds;
    mfr_split *split;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = tu_mkdtemp();
    tu_write_file(f->dir, "u.data", "1\t1\t5\t0\n1\t2\t3\t0\n2\t1\t4\t0\n2\t3\t1\t0\n3\t2\t2\t0\n3\t3\t5\t0\n", (size_t)-1);
    mfr_error err = {0};
    if (mfr_dataset_load(f->dir, NULL, &f->ds, &err) != MFR_OK ||
        mfr_split_create(f->ds, "random:0.34", 1, &f->split, &err) != MFR_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    mfr_split_destroy(f->split);
    mfr_dataset_destroy(f->ds);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void test_trainer_misuse(void **state)
{
    struct fixture *f = *state;
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 4;
    mfr_error err = {0};
    mfr_trainer *tr = NULL;
    assert_int_equal(mfr_trainer_create(&cfg, NULL, mfr_split_train(f->split), NULL, &tr, &err),
                     MFR_ERR_INVALID);
    assert_null(tr);
    assert_int_equal(mfr_trainer_create(&cfg, f->ds, mfr_split_train(f->split), NULL, NULL, &err),
                     MFR_ERR_INVALID);
    cfg.k = -3;
    assert_int_equal(mfr_trainer_create(&cfg, f->ds, mfr_split_train(f->split), NULL, &tr, &err),
                     MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "k must be"));
    assert_null(tr);
    cfg.k = 4;
    assert_int_equal(mfr_trainer_step(NULL, NULL), MFR_ERR_INVALID);

    assert_int_equal(mfr_trainer_create(&cfg, f->ds, mfr_split_train(f->split), "random:0.34", &tr, &err),
                     MFR_OK);
    /* set_factors: wrong shape, non-finite, then after a step: wrong order */
    float U[3 * 4] = {0}, V[3 * 4] = {0};
    assert_int_equal(mfr_trainer_set_factors(tr, U, 3, 5, V, 3, 4, &err), MFR_ERR_MISMATCH);
    assert_non_null(strstr(err.message, "U has shape (3, 5), expected (3, 4)"));
    V[5] = 1.0f / 0.0f;
    assert_int_equal(mfr_trainer_set_factors(tr, U, 3, 4, V, 3, 4, &err), MFR_ERR_INVALID);
    V[5] = 0.5f;
    assert_int_equal(mfr_trainer_set_factors(tr, U, 3, 4, V, 3, 4, &err), MFR_OK);
    float got[4];
    assert_int_equal(mfr_model_item_vector(mfr_trainer_model(tr), 1, got), MFR_OK);
    assert_true(got[1] == 0.5f);
    assert_int_equal(mfr_trainer_step(tr, NULL), MFR_OK);
    assert_int_equal(mfr_model_epochs(mfr_trainer_model(tr)), 1);
    assert_int_equal(mfr_trainer_set_factors(tr, U, 3, 4, V, 3, 4, &err), MFR_ERR_STATE);
    assert_string_equal(mfr_model_split_spec(mfr_trainer_model(tr)), "random:0.34");
    mfr_trainer_destroy(tr);
}

static void test_memory_budget_refused_before_allocating(void **state)
{
    struct fixture *f = *state;
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.max_memory = 1000; /* bytes */
    mfr_error err = {0};
    mfr_trainer *tr = NULL;
    assert_int_equal(mfr_trainer_create(&cfg, f->ds, mfr_split_train(f->split), NULL, &tr, &err),
                     MFR_ERR_TOO_LARGE);
    assert_null(tr);
    assert_non_null(strstr(err.message, "MiB"));
    assert_non_null(strstr(err.message, "memory budget"));
}

static void test_divergence_is_a_status(void **state)
{
    struct fixture *f = *state;
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 4;
    mfr_error err = {0};
    mfr_trainer *tr = NULL;
    assert_int_equal(mfr_trainer_create(&cfg, f->ds, mfr_split_train(f->split), NULL, &tr, &err), MFR_OK);
    float U[3 * 4], V[3 * 4];
    for (int x = 0; x < 12; x++) U[x] = V[x] = 1e30f; /* predictions overflow to inf */
    assert_int_equal(mfr_trainer_set_factors(tr, U, 3, 4, V, 3, 4, &err), MFR_OK);
    double loss;
    assert_int_equal(mfr_trainer_step(tr, &loss), MFR_ERR_DIVERGED);
    assert_non_null(strstr(mfr_trainer_errmsg(tr), "non-finite"));
    assert_int_equal(mfr_model_epochs(mfr_trainer_model(tr)), 0); /* step not applied */
    mfr_trainer_destroy(tr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_strings),
        cmocka_unit_test(test_destroy_accepts_null),
        cmocka_unit_test(test_config_validation_names_field),
        cmocka_unit_test(test_trainer_misuse),
        cmocka_unit_test(test_memory_budget_refused_before_allocating),
        cmocka_unit_test(test_divergence_is_a_status),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
