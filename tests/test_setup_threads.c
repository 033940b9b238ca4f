/*
 * test_setup_threads.c — library calls given n_threads 0 (EASE, batch
 * recommendations) run on mfr_set_threads's count, the count the
 * command-line tool's --threads sets, not on OpenMP's default.
 *
 * Counted as the process's threads in /proc/self/task: libgomp keeps the
 * workers of its largest team alive, so the count after a call is the
 * largest team any call used so far. Hence a process of its own, and the
 * one-thread call first. The suite runs with OMP_NUM_THREADS=1
 * (tests/meson.build), so the 3-thread call fails unless the library
 * follows mfr_set_threads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dataset_priv.h"
#include "model_priv.h"
#include "test_util.h"

enum { NU = 40, NI = 30, K = 4 };

static mfr_ratings *some_ratings(void)
{
    mfr_ratings *r = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_ratings_alloc(NU * 5, &r, &err), MFR_OK);
    for (int64_t x = 0; x < NU * 5; x++) {
        r->user[x] = (int32_t)(x / 5);
        r->item[x] = (int32_t)((x * 7 + x / 5) % NI);
        r->rating[x] = (float)(1 + x % 5);
        r->ts[x] = 0;
    }
    return r;
}

/* One EASE fit and one batch of recommendations, both with n_threads 0. */
static void calls_with_default_threads(const mfr_ratings *r, const mfr_model *m)
{
    mfr_error err = {0};
    mfr_ease *e = NULL;
    assert_int_equal(mfr_ease_fit(r, NU, NI, 10.0, 0, &e, &err), MFR_OK);
    mfr_ease_destroy(e);
    int32_t items[NU * 3], n_out[NU];
    assert_int_equal(mfr_model_recommend_users(m, 0, NU, 3, MFR_MEASURE_DOT, r, NULL, 0, items, NULL,
                                               n_out, &err),
                     MFR_OK);
}

static void test_zero_threads_follow_set_threads(void **state)
{
    (void)state;
    assert_int_equal(tu_process_threads(), 1); /* no OpenMP team yet */
    mfr_ratings *r = some_ratings();
    mfr_model *m = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_model_alloc(K, 0, NU, NI, &m, &err), MFR_OK);
    for (int32_t u = 0; u < NU; u++)
        for (int c = 0; c < K; c++) m->U[(size_t)u * m->k_pad + c] = (float)((u + c) % 5) - 2.0f;
    for (int32_t i = 0; i < NI; i++)
        for (int c = 0; c < K; c++) m->V[(size_t)i * m->k_pad + c] = (float)((i * 3 + c) % 7) - 3.0f;

    mfr_set_threads(1);
    calls_with_default_threads(r, m);
    assert_int_equal(tu_process_threads(), 1);

    mfr_set_threads(3);
    calls_with_default_threads(r, m);
    assert_int_equal(tu_process_threads(), 3);

    mfr_set_threads(0);
    mfr_model_destroy(m);
    mfr_ratings_destroy(r);
}

/* A thread count past MFR_MAX_THREADS is refused (or, for mfr_set_threads,
 * capped) before any parallel region: libgomp keeps a team's bookkeeping on
 * the stack, and 100000 threads overflowed it (a crash, not an error). A
 * negative count was taken as 0. After the test above: it starts threads. */
static void test_thread_counts_out_of_range(void **state)
{
    (void)state;
    mfr_ratings *r = some_ratings();
    mfr_model *m = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_model_alloc(K, 0, NU, NI, &m, &err), MFR_OK);
    const int32_t bad[] = {-1, MFR_MAX_THREADS + 1, 100000};
    for (size_t b = 0; b < sizeof bad / sizeof *bad; b++) {
        mfr_ease *e = NULL;
        char want[64];
        snprintf(want, sizeof want, "got %d", (int)bad[b]);
        assert_int_equal(mfr_ease_fit(r, NU, NI, 10.0, bad[b], &e, &err), MFR_ERR_INVALID);
        assert_null(e);
        assert_non_null(strstr(err.message, "mfr_ease_fit: n_threads"));
        assert_non_null(strstr(err.message, want));
        assert_int_equal(mfr_ease_fit_ratings(r, NU, NI, 10.0, bad[b], &e, &err), MFR_ERR_INVALID);
        assert_non_null(strstr(err.message, "mfr_ease_fit_ratings: n_threads"));
        int32_t items[NU * 3], n_out[NU];
        assert_int_equal(mfr_model_recommend_users(m, 0, NU, 3, MFR_MEASURE_DOT, r, NULL, bad[b],
                                                   items, NULL, n_out, &err),
                         MFR_ERR_INVALID);
        assert_non_null(strstr(err.message, "n_threads"));
        assert_non_null(strstr(err.message, want));
    }
    /* count < 0 and a range past INT32_MAX: named as such, no overflow */
    int32_t items[6], n_out[2];
    assert_int_equal(mfr_model_recommend_users(m, 0, -1, 3, MFR_MEASURE_DOT, NULL, NULL, 1, items,
                                               NULL, n_out, &err),
                     MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "count must be >= 0, got -1"));
    assert_int_equal(mfr_model_recommend_users(m, INT32_MAX, 2, 3, MFR_MEASURE_DOT, NULL, NULL, 1,
                                               items, NULL, n_out, &err),
                     MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "users 2147483647..2147483648 are outside"));
    /* mfr_set_threads takes a larger count as MFR_MAX_THREADS */
    mfr_set_threads(100000);
    calls_with_default_threads(r, m);
    assert_true(tu_process_threads() <= MFR_MAX_THREADS);
    mfr_set_threads(0);
    mfr_model_destroy(m);
    mfr_ratings_destroy(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_threads_follow_set_threads),
        cmocka_unit_test(test_thread_counts_out_of_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
