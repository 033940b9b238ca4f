/*
 * test_torch_golden.c — mfrec against a PyTorch trajectory recorded in
 * tests/data/torch_golden (tools/make-torch-golden): the same tiny
 * synthetic data, the same initial embeddings (--init-from), the notebook's
 * model and Adam; train and validation MSE must match to 1e-4 relative at
 * every logged epoch. Needs no Python.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"

static void test_matches_torch_trajectory(void **state)
{
    (void)state;
    const char *bin = getenv("MFREC_BIN"), *src = getenv("MFREC_TEST_SRCDIR");
    if (!bin || !src) tu_skip_all("MFREC_BIN / MFREC_TEST_SRCDIR not set (run through meson test)");
    char *dir = tu_mkdtemp();
    char cmd[8192];
    for (int threads = 1; threads <= 2; threads++) {
        snprintf(cmd, sizeof cmd,
                 "'%s' synth --users 40 --items 30 --ratings 400 --rank 3 --seed 5 --out '%s/data' >/dev/null && "
                 "'%s' train --data '%s/data' --dim 4 --epochs 300 --lr 0.01 --log-every 25 --quiet "
                 "--threads %d --init-from '%s/data/torch_golden/U.npy,%s/data/torch_golden/V.npy' "
                 "--log-json '%s/got.jsonl' >/dev/null",
                 bin, dir, bin, dir, threads, src, src, dir);
        assert_int_equal(system(cmd), 0);
        char *want = tu_path(src, "data/torch_golden/trajectory.jsonl");
        char *got = tu_path(dir, "got.jsonl");
        tu_compare_trajectories(want, got, 1e-4);
        free(want);
        free(got);
    }
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_matches_torch_trajectory)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
