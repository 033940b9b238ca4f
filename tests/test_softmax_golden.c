/*
 * test_softmax_golden.c — mfrec's softmax model against PyTorch trajectories
 * recorded in tests/data/softmax_golden (tools/make-softmax-golden): the
 * same synthetic data, the same initial weights (their checksum is
 * recorded and checked first), the same examples; the loss of each of the
 * first 50 optimizer steps must match PyTorch's to 1e-5 relative. Needs no
 * Python (tests/test_torch_softmax.c runs PyTorch itself).
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

/* Trains one case of cases.txt at `threads` and compares. */
static void check_case(const char *bin, const char *golden, const char *dir, const char *name,
                       int epochs, const char *flags, int threads)
{
    char cmd[8192], path[1024];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' train --kind softmax --data data --split random:0.1 %s --epochs 0 "
             "--quiet > %s.init",
             dir, bin, flags, name);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof path, "%s/%s.init", golden, name);
    char *want = tu_read_file(path, NULL);
    snprintf(path, sizeof path, "%s/%s.init", dir, name);
    char *got = tu_read_file(path, NULL);
    assert_non_null(want);
    assert_non_null(got);
    /* "checksum X": what follows it on the line (saved or not) does not matter */
    want[strcspn(want, "\n")] = '\0';
    if (!strstr(got, want))
        fail_msg("case %s: the initial model's %s is not the recorded %s: the initialization "
                 "changed, so the trajectory no longer applies (tools/make-softmax-golden)",
                 name, got, want);
    free(want);
    free(got);
    snprintf(cmd, sizeof cmd,
             "cd '%s' && '%s' train --kind softmax --data data --split random:0.1 %s "
             "--epochs %d --quiet --threads %d --log-json %s.jsonl >/dev/null",
             dir, bin, flags, epochs, threads, name);
    assert_int_equal(system(cmd), 0);
    char wp[1024], gp[1024];
    snprintf(wp, sizeof wp, "%s/%s.jsonl", golden, name);
    snprintf(gp, sizeof gp, "%s/%s.jsonl", dir, name);
    tu_compare_steps(wp, gp, N_STEPS, 1e-5);
}

static void test_matches_torch_trajectories(void **state)
{
    (void)state;
    const char *bin = getenv("MFREC_BIN"), *src = getenv("MFREC_TEST_SRCDIR");
    if (!bin || !src) tu_skip_all("MFREC_BIN / MFREC_TEST_SRCDIR not set (run through meson test)");
    char *dir = tu_mkdtemp(), *golden = tu_path(src, "data/softmax_golden");
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "'%s' synth --users 150 --items 90 --ratings 3000 --seed 8 --out '%s/data' >/dev/null",
             bin, dir);
    assert_int_equal(system(cmd), 0);
    char *cases = tu_path(golden, "cases.txt");
    char *text = tu_read_file(cases, NULL);
    assert_non_null(text);
    int n = 0;
    for (char *line = text, *next; line && *line; line = next) {
        /* not strtok: tu_compare_steps uses it */
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        if (line[0] == '#' || line[0] == 0) continue;
        char *bar1 = strchr(line, '|'), *bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL;
        if (!bar2) fail_msg("%s: line '%s' is not name|epochs|flags", cases, line);
        *bar1 = *bar2 = 0;
        for (int threads = 1; threads <= 2; threads++)
            check_case(bin, golden, dir, line, atoi(bar1 + 1), bar2 + 1, threads);
        n++;
    }
    assert_true(n >= 2);
    free(text);
    free(cases);
    free(golden);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_matches_torch_trajectories)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
