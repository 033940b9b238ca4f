/*
 * setup_threads.c — the thread count of the library's setup work, and the
 * parallel zeroing of large fresh blocks. The one OpenMP file of core/.
 */
#include <omp.h>
#include <string.h>

#include "common_priv.h"

static _Thread_local int32_t g_setup_threads;

void mfr_set_threads(int32_t n) { g_setup_threads = n > 0 ? n : 0; }

int mfr_setup_threads(void) { return g_setup_threads > 0 ? g_setup_threads : omp_get_max_threads(); }

/* The thread count of a call that takes its own (a trainer's), while it
 * allocates on this thread; 0: none, mfr_setup_threads() zeroes. */
static _Thread_local int32_t g_zero_threads;

int32_t mfr_zero_threads_set(int32_t n)
{
    const int32_t was = g_zero_threads;
    g_zero_threads = n > 0 ? n : 0;
    return was;
}

/* Zeroing a fresh block is mostly its first touches (page faults, the
 * kernel clearing pages), and ran on the calling thread alone: at 10M
 * ratings 150 MiB of factors, optimizer state and shard buffers (16 of
 * 2.5 MiB) while the other cores waited. A block of 1 MiB or more is
 * cleared in pieces on the setup threads instead: 2 MiB pieces (a huge
 * page each, as advised for blocks of 4 MiB and more: common.c) from 4 MiB
 * on, else 256 KiB pieces of small pages. */
#define ZERO_PAR_MIN ((size_t)1 << 20)
#define ZERO_HUGE_MIN ((size_t)4 << 20)

void mfr_zero_parallel(void *p, size_t n)
{
    const int nt = n < ZERO_PAR_MIN || omp_in_parallel() ? 1 : g_zero_threads > 0 ? g_zero_threads : mfr_setup_threads();
    if (nt <= 1) {
        memset(p, 0, n);
        return;
    }
    const size_t piece = n >= ZERO_HUGE_MIN ? (size_t)2 << 20 : (size_t)256 << 10;
    const int64_t pieces = (int64_t)((n + piece - 1) / piece);
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t c = 0; c < pieces; c++) {
        const size_t lo = (size_t)c * piece;
        memset((char *)p + lo, 0, n - lo < piece ? n - lo : piece);
    }
}
