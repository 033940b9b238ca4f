/*
 * bench_util.c — helpers shared by the workloads (bench_util.h).
 */
#include "bench_util.h"

#include <omp.h>

#include "common_priv.h"

volatile double bench_sink;

const int64_t bench_kernel_dims[] = {8, 16, 32, 64, 128, 256};
const int bench_n_kernel_dims = (int)(sizeof bench_kernel_dims / sizeof bench_kernel_dims[0]);
const int64_t bench_train_dims[] = {16, 32, 64, 128, 256};
const int bench_n_train_dims = (int)(sizeof bench_train_dims / sizeof bench_train_dims[0]);

void bench_report(struct mfr_bench_state *st, double ratings, double bytes, double flops)
{
    double it = (double)mfr_bench_iterations(st);
    if (ratings > 0)
        mfr_bench_set_counter(st, "ratings_per_second", ratings * it, MFR_BENCH_COUNTER_RATE);
    if (bytes > 0)
        mfr_bench_set_counter(st, "bytes_per_second", bytes * it, MFR_BENCH_COUNTER_RATE);
    if (flops > 0)
        mfr_bench_set_counter(st, "flops_per_second", flops * it, MFR_BENCH_COUNTER_RATE);
}

int bench_cores(void)
{
    int n = omp_get_num_procs();
    return n > 0 ? n : 1;
}

int bench_thread_list(int64_t *out, int max)
{
    /* powers of two below 2 x cores, then cores and 2 x cores, ascending */
    int64_t cores = bench_cores(), cand[64];
    int n_cand = 0, n = 0;
    for (int64_t t = 1; t < 2 * cores && n_cand < 62; t *= 2) cand[n_cand++] = t;
    cand[n_cand++] = cores;
    cand[n_cand++] = 2 * cores;
    for (int i = 1; i < n_cand; i++) /* insertion sort */
        for (int j = i; j > 0 && cand[j - 1] > cand[j]; j--) {
            int64_t t = cand[j];
            cand[j] = cand[j - 1];
            cand[j - 1] = t;
        }
    for (int i = 0; i < n_cand && n < max; i++)
        if (n == 0 || cand[i] != out[n - 1]) out[n++] = cand[i];
    return n;
}

float *bench_alloc_floats(size_t n)
{
    size_t bytes;
    if (!mfr_mul_size(n ? n : 1, sizeof(float), &bytes)) return NULL;
    return mfr_aligned_calloc(bytes);
}

void bench_free(void *p) { mfr_aligned_free(p); }

uint64_t bench_rand(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

void bench_fill(float *x, size_t n, uint64_t seed, float lo, float hi)
{
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        double u = (double)(bench_rand(&s) >> 11) * 0x1.0p-53;
        x[i] = lo + (float)u * (hi - lo);
    }
}
