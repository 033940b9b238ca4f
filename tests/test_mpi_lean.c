/*
 * test_mpi_lean.c — the MPI trainer refuses a lean split's training part
 * (mfr_split_create_lean: a view whose arrays hold the test rows too), as
 * mfr_model_ranking and the other readers of the arrays do: it read the
 * first n rows, test rows included, and trained and evaluated on them with
 * MFR_OK. One process, MPI's singleton start (no mpirun).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mfrec_mpi.h"
#include "test_util.h"

static void test_lean_split_refused(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), *data = tu_path(dir, "data");
    mfr_dataset *ds = NULL;
    assert_int_equal(tu_synth(data, 60, 40, 1200, 3, &ds), 0);
    mfr_error err = {0};
    mfr_split *lean = NULL, *copy = NULL;
    assert_int_equal(mfr_split_create_lean(ds, "random:0.3", 1, &lean, &err), MFR_OK);
    assert_int_equal(mfr_split_create(ds, "random:0.3", 1, &copy, &err), MFR_OK);
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 2;
    cfg.n_threads = 1;
    mfr_mpi_trainer *mt = NULL;
    assert_int_equal(mfr_mpi_trainer_create(&cfg, ds, mfr_split_train(lean), NULL, MPI_COMM_WORLD, &mt, &err),
                     MFR_ERR_UNSUPPORTED);
    assert_null(mt);
    tu_expect_in(err.message, "mfr_mpi_trainer_create: a lean split's training part is a view");
    assert_int_equal(mfr_mpi_trainer_create(&cfg, ds, mfr_split_train(copy), NULL, MPI_COMM_WORLD, &mt, &err),
                     MFR_OK);
    mfr_metrics mv;
    assert_int_equal(mfr_mpi_trainer_evaluate(mt, mfr_split_train(lean), &mv, &err), MFR_ERR_UNSUPPORTED);
    tu_expect_in(err.message, "mfr_mpi_trainer_evaluate: a lean split's training part is a view");
    assert_int_equal(mfr_mpi_trainer_evaluate(mt, mfr_split_train(copy), &mv, &err), MFR_OK);
    mfr_mpi_trainer_destroy(mt);
    mfr_split_destroy(copy);
    mfr_split_destroy(lean);
    mfr_dataset_destroy(ds);
    tu_rmtree(dir);
    free(data);
    free(dir);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lean_split_refused),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    MPI_Finalize();
    return rc;
}
