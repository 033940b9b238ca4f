/*
 * setup_threads.c — the thread count of the library's setup work, and the
 * parallel zeroing of large fresh blocks. The one OpenMP file of core/.
 */
#include <omp.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "common_priv.h"

static _Thread_local int32_t g_setup_threads;

void mfr_set_threads(int32_t n)
{
    /* libgomp puts a team's bookkeeping on the stack: 100000 threads
     * overflowed it in the first parallel region */
    g_setup_threads = n > MFR_MAX_THREADS ? MFR_MAX_THREADS : n > 0 ? n : 0;
}

int mfr_check_threads(const char *fn, int64_t n, mfr_error *err)
{
    if (n < 0 || n > MFR_MAX_THREADS)
        return mfr_seterr(err, MFR_ERR_INVALID, "%s: n_threads must be in 0..%d (0: the default), got %lld",
                          fn, MFR_MAX_THREADS, (long long)n);
    return MFR_OK;
}

int32_t mfr_thread_limit(void)
{
    const int limit = omp_get_thread_limit();
    return limit > 0 && limit < INT32_MAX ? (int32_t)limit : INT32_MAX;
}

int mfr_default_threads(void)
{
    const int n = omp_get_max_threads();
    return n < mfr_thread_limit() ? n : (int)mfr_thread_limit();
}

int mfr_setup_threads(void)
{
    const int n = g_setup_threads > 0 ? g_setup_threads : mfr_default_threads();
    mfr_threads_spread(n);
    return n;
}

/*
 * Linux starts a new thread on its creator's CPU when it does not see
 * another CPU as idle, as on a VM whose idle vCPU the host has descheduled
 * (this project's 2-vCPU VM, every time). OpenMP's team then shares one
 * CPU: each thread spins at the barriers through the other's time slice,
 * and the first regions took 4-8 ms each until the load balancer moved a
 * thread, 10-25 ms in all, most of a 2-thread ML-100K run's setup. So the
 * first team of n threads moves each worker to its own CPU at once:
 * worker t to the t-th CPU of its allowed set (the master's first), by
 * narrowing its affinity to that CPU and restoring the set it had (it is
 * not pinned; nothing but the CPU it runs on changes). The master sleeps
 * meanwhile, so that a worker on its CPU runs at once. A worker bound to a
 * single CPU (OMP_PROC_BIND, taskset) is left where it is.
 *
 * Before that, libgomp's master waits in its team-start barrier for the
 * new threads, spinning for 300,000 rounds while the workers queued behind
 * it on its CPU cannot start: 1.3-3.3 ms (up to 10) before a 2-thread
 * team's worker first ran, against 0.15 ms after a plain pthread_create.
 * libgomp spins only ~100 rounds when it manages more threads than there
 * are CPUs, so a team that fills every CPU is first started with one
 * thread more, which does nothing (libgomp ends it when the next, smaller
 * team starts): the worker ran after 0.5 ms every time, and the 2-thread
 * ML-100K run's split (where the spread happens) took 2.0 ms instead of
 * 4.3 (medians of 16 runs; docs/PERFORMANCE.md).
 */
static _Atomic int32_t g_spread_for; /* the largest team spread so far */

static void spread_worker(int t, int master_cpu)
{
    cpu_set_t mine;
    if (sched_getaffinity(0, sizeof mine, &mine) != 0 || CPU_COUNT(&mine) < 2) return;
    int order[CPU_SETSIZE], m = 0;
    if (master_cpu >= 0 && master_cpu < CPU_SETSIZE && CPU_ISSET(master_cpu, &mine)) order[m++] = master_cpu;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &mine) && c != master_cpu) order[m++] = c;
    const int want = order[t % m];
    if (want == sched_getcpu()) return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(want, &one);
    if (sched_setaffinity(0, sizeof one, &one) == 0) (void)sched_setaffinity(0, sizeof mine, &mine);
}

void mfr_threads_spread(int32_t n)
{
    int32_t done = atomic_load_explicit(&g_spread_for, memory_order_relaxed);
    if (n < 2 || n <= done || omp_in_parallel()) return;
    while (done < n && !atomic_compare_exchange_weak(&g_spread_for, &done, n)) {
    }
    if (done >= n) return; /* another caller spread as many */
    const int master_cpu = sched_getcpu();
    const int extra = n == omp_get_num_procs(); /* libgomp's short spins (above) */
    atomic_int arrived = 0;
#pragma omp parallel num_threads(n + extra)
    {
        const int t = omp_get_thread_num(), team = omp_get_num_threads();
        if (t == 0) {
            const struct timespec nap = {0, 20000};
            while (atomic_load(&arrived) < team - 1) nanosleep(&nap, NULL);
        } else {
            if (t < n) spread_worker(t, master_cpu);
            atomic_fetch_add(&arrived, 1);
        }
    }
}

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
