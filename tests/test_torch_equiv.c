/*
 * test_torch_equiv.c — the notebook equivalence on ML-100K: PyTorch
 * (tools/notebook-reference.py, Debian's python3-torch) and mfrec start from
 * the same initial embeddings on the sklearn:300 split and train 1000
 * epochs; train and validation MSE must agree to 1e-4 relative at every
 * logged epoch. Skipped (exit 77) when the data or torch is absent.
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

static void test_ml100k_matches_torch(void **state)
{
    (void)state;
    const char *bin = getenv("MFREC_BIN"), *src = getenv("MFREC_TEST_SRCDIR");
    const char *data = tu_ml100k_dir();
    if (!bin || !src) tu_skip_all("MFREC_BIN / MFREC_TEST_SRCDIR not set (run through meson test)");
    if (!data) tu_skip_all("ML-100K not found: set MFREC_DATA to the ml-100k directory");
    if (system("/usr/bin/python3 -c 'import torch, sklearn' >/dev/null 2>&1") != 0)
        tu_skip_all("python3-torch or python3-sklearn is not installed");
    char *dir = tu_mkdtemp();
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 '%s/../tools/notebook-reference.py' --data '%s' --epochs 1000 "
             "--threads 1 --init-out '%s' --json '%s/torch.jsonl' >/dev/null",
             src, data, dir, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd,
             "'%s' train --data '%s' --split sklearn:300 --epochs 1000 --quiet --threads 2 "
             "--init-from '%s/U.npy,%s/V.npy' --log-json '%s/mfrec.jsonl' >/dev/null",
             bin, data, dir, dir, dir);
    assert_int_equal(system(cmd), 0);
    char *want = tu_path(dir, "torch.jsonl"), *got = tu_path(dir, "mfrec.jsonl");
    tu_compare_trajectories(want, got, 1e-4);
    free(want);
    free(got);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_ml100k_matches_torch)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
