/*
 * test_first_team.c — the process's first OpenMP team, when it fills every
 * CPU, is started by mfr_threads_spread with one thread more, which only
 * arrives (setup_threads.c: libgomp's master then spins for ~100 rounds
 * instead of 300,000 while its workers wait behind it). A process of its
 * own, so that the spread's team is the first one.
 *
 * Checked: the spread returns (every thread of its team, the extra one
 * included, arrived); the master's affinity is what it was; later teams of
 * that size have that size and keep their OS threads; and no thread is left
 * beside them under libgomp, where the extra thread ends when the next,
 * smaller team starts (LLVM's runtime keeps a pool and threads of its own).
 */
#include <omp.h>
#include <sched.h>
#include <sys/types.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common_priv.h"
#include "test_util.h"

/* The OS thread ids of a team of n (checked to have n threads). */
static void team_tids(int n, pid_t *tid)
{
    int team = 0;
#pragma omp parallel num_threads(n)
    {
        tid[omp_get_thread_num()] = gettid();
#pragma omp single
        team = omp_get_num_threads();
    }
    assert_int_equal(team, n);
}

static void test_cpu_filling_first_team(void **state)
{
    (void)state;
    const int p = omp_get_num_procs();
    if (p < 2) tu_skip_all("one CPU: mfr_threads_spread starts no team");
    const int before = tu_process_threads();
    assert_true(before >= 1);
    cpu_set_t mask0, mask1;
    assert_int_equal(sched_getaffinity(0, sizeof mask0, &mask0), 0);

    mfr_threads_spread(p); /* the process's first team: p + 1 threads */

    assert_int_equal(sched_getaffinity(0, sizeof mask1, &mask1), 0);
    assert_true(CPU_EQUAL(&mask0, &mask1));
    pid_t *a = calloc((size_t)p, sizeof *a), *b = calloc((size_t)p, sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    team_tids(p, a);
    team_tids(p, b);
    for (int t = 0; t < p; t++) {
        assert_int_equal(a[t], b[t]); /* the pool kept its threads */
        for (int u = 0; u < t; u++) assert_true(a[t] != a[u]);
    }
    assert_int_equal(a[0], gettid());
    int added = tu_process_threads() - before;
#if defined(__GNUC__) && !defined(__clang__)
    /* libgomp: the extra thread is gone once it has run to its end, which
     * a loaded machine may delay (up to 5 s here) */
    for (int wait = 0; added > p - 1 && wait < 5000; wait++) {
        const struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
        added = tu_process_threads() - before;
    }
    if (added != p - 1)
        fail_msg("%d threads beside the master after teams of %d (expected %d)", added, p, p - 1);
#else
    /* LLVM's runtime keeps its pool and may add threads of its own (and
     * TSan its background thread) */
    if (added < p - 1) fail_msg("%d threads beside the master after teams of %d", added, p);
#endif
    mfr_threads_spread(p); /* a repeat starts nothing */
    assert_int_equal(tu_process_threads() - before, added);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_filling_first_team),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
