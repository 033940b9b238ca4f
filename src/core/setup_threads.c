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

/* Zeroing a fresh block is mostly its first touches (page faults, the
 * kernel clearing pages), and ran on the calling thread alone: at 10M
 * ratings 150 MiB of factors, optimizer state and shard buffers while the
 * other cores waited. A large block is cleared in 2 MiB pieces (a huge
 * page each) on the setup threads instead. */
#define ZERO_PIECE ((size_t)2 << 20)
#define ZERO_PAR_MIN (4 * ZERO_PIECE)

void mfr_zero_parallel(void *p, size_t n)
{
    const int nt = n >= ZERO_PAR_MIN && !omp_in_parallel() ? mfr_setup_threads() : 1;
    if (nt <= 1) {
        memset(p, 0, n);
        return;
    }
    const int64_t pieces = (int64_t)((n + ZERO_PIECE - 1) / ZERO_PIECE);
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t c = 0; c < pieces; c++) {
        const size_t lo = (size_t)c * ZERO_PIECE;
        memset((char *)p + lo, 0, n - lo < ZERO_PIECE ? n - lo : ZERO_PIECE);
    }
}
