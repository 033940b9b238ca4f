/*
 * test_torch_softmax.c — the softmax model against its PyTorch version
 * (tools/softmax-reference.py, Debian's python3-torch): both start from the
 * weights of `mfrec train --kind softmax --epochs 0 --out` on a small
 * synthetic set and train the same examples (PyTorch draws the labels and
 * the group order itself, from the documented generator); the loss of every
 * one of the first 50 optimizer steps must agree to 1e-5 relative, with the
 * same groups and example counts. PyTorch runs in double, so the difference
 * is mfrec's float32 rounding (docs/SOFTMAX.md, "The PyTorch version").
 * Skipped (exit 77) when /usr/bin/python3 lacks torch or numpy.
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

enum { N_STEPS = 50 };

static char *g_dir;
static const char *g_bin, *g_src;

/* The synthetic data and the split's training part, which the PyTorch
 * version reads (mfrec train makes the same split itself). */
static int setup(void **state)
{
    (void)state;
    g_bin = getenv("MFREC_BIN"), g_src = getenv("MFREC_TEST_SRCDIR");
    if (!g_bin || !g_src) tu_skip_all("MFREC_BIN / MFREC_TEST_SRCDIR not set (run through meson test)");
    if (system("/usr/bin/python3 -c 'import torch, numpy' >/dev/null 2>&1") != 0)
        tu_skip_all("/usr/bin/python3 has no torch or numpy (Debian: python3-torch)");
    g_dir = tu_mkdtemp();
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "'%s' synth --users 150 --items 90 --ratings 3000 --seed 8 --out '%s/data' "
             ">/dev/null && '%s' split --data '%s/data' --split random:0.1 --seed 300 "
             "--out '%s/parts' >/dev/null",
             g_bin, g_dir, g_bin, g_dir, g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(g_dir);
    free(g_dir);
    return 0;
}

/* Trains `flags` both ways (mfrec for `epochs` epochs, at least 50 steps,
 * on 2 threads) and compares the first 50 steps. */
static void compare(const char *name, const char *flags, int epochs)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' train --kind softmax --data data --split random:0.1 %s --epochs 0 "
             "--quiet --out %s.mfr >/dev/null && "
             "'%s' train --kind softmax --data data --split random:0.1 %s --epochs %d --quiet "
             "--threads 2 --log-json %s.mfrec.jsonl >/dev/null && "
             "/usr/bin/python3 '%s/../tools/softmax-reference.py' --model %s.mfr "
             "--train parts/train.data --steps %d --threads 1 --quiet --json %s.torch.jsonl "
             ">/dev/null",
             g_dir, g_bin, flags, name, g_bin, flags, epochs, name, g_src, name, N_STEPS, name);
    assert_int_equal(system(cmd), 0);
    char want[256], got[256];
    snprintf(want, sizeof want, "%s.torch.jsonl", name);
    snprintf(got, sizeof got, "%s.mfrec.jsonl", name);
    char *w = tu_path(g_dir, want), *g = tu_path(g_dir, got);
    tu_compare_steps(w, g, N_STEPS, 1e-5);
    free(w);
    free(g);
}

static void test_adam_full_batch(void **state)
{
    (void)state;
    compare("adam_full", "--optimizer adam --lr 0.05 --dim 8 --hidden 12", 50);
}

/* 8 groups of 20 users: 56 steps in 7 epochs. */
static void test_adagrad_mini_batches(void **state)
{
    (void)state;
    compare("adagrad_mini", "--optimizer adagrad --lr 0.5 --batch-users 20 --dim 8 --hidden 12",
            7);
}

static void test_genres_years_two_hidden(void **state)
{
    (void)state;
    compare("features", "--features movies,genres,years --hidden 16,12 --optimizer adam "
                        "--lr 0.02 --batch-users 40 --dim 8 --hidden-init he",
            13);
}

static void test_all_pairs(void **state)
{
    (void)state;
    compare("all_pairs", "--all-pairs --optimizer adam --lr 0.01 --batch-users 50 --dim 8 "
                         "--hidden 12",
            17);
}

/* The current --preset softmax (all pairs, batches of 16 users, He init,
 * Adam lr 0.003 with decoupled weight decay 0.1, no hidden layer, labels
 * from the movies rated 4 or more, softmaxes over the unrated movies) at
 * k 8. */
static void test_preset_softmax(void **state)
{
    (void)state;
    compare("preset", "--preset softmax --dim 8", 6);
}

/* One label per user drawn among the movies rated 3.5 or more. */
static void test_min_label_rating(void **state)
{
    (void)state;
    compare("labels", "--min-label-rating 3.5 --optimizer adam --lr 0.02 --batch-users 40 "
                      "--dim 8 --hidden 12",
            13);
}

/* Each softmax over the movies the user did not rate (and the label),
 * all pairs, genres beside the movies, a hidden layer. */
static void test_negatives_unrated(void **state)
{
    (void)state;
    compare("negatives", "--negatives unrated --all-pairs --features movies,genres --optimizer "
                         "adam --lr 0.01 --batch-users 50 --dim 8 --hidden 12",
            17);
}

/* Feature dropout 0.3 (each epoch's draws, the labels' bags without the
 * dropped movies, all of a user's rated movies still out of the softmax),
 * all pairs, every feature table, a hidden layer. */
static void test_feature_dropout(void **state)
{
    (void)state;
    compare("feature_dropout", "--feature-dropout 0.3 --negatives unrated --all-pairs --features "
                               "movies,genres,years --optimizer adam --lr 0.01 --batch-users 50 "
                               "--dim 8 --hidden 12",
            17);
}

/* Tied tables (the movie bag reads V) with Adagrad and weight decay. */
static void test_tied_adagrad_decay(void **state)
{
    (void)state;
    compare("tied", "--tie --weight-decay 0.05 --optimizer adagrad --lr 0.5 --batch-users 20 "
                    "--dim 8 --hidden 12",
            7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adam_full_batch),
        cmocka_unit_test(test_adagrad_mini_batches),
        cmocka_unit_test(test_genres_years_two_hidden),
        cmocka_unit_test(test_all_pairs),
        cmocka_unit_test(test_preset_softmax),
        cmocka_unit_test(test_tied_adagrad_decay),
        cmocka_unit_test(test_min_label_rating),
        cmocka_unit_test(test_negatives_unrated),
        cmocka_unit_test(test_feature_dropout),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
