/*
 * bench_probe.c — the machine's roofline: peak FMA rate and memory
 * bandwidth, measured by small probes of our own over 1..2 x cores
 * threads, so the kernels' GFLOP/s and bytes/s can be read against them.
 *
 *   probe/fma_peak   every thread runs FMA_CHAINS independent AVX2 FMA
 *                    chains held in registers (a = a * x + y, 8 floats per
 *                    vector), FMA_STEPS steps per iteration:
 *                      flops = threads x FMA_STEPS x FMA_CHAINS x 8 x 2.
 *                    Twelve chains cover a 4-cycle FMA latency on two
 *                    ports (8 needed) with margin. Skipped without AVX2.
 *   probe/mem_read   streaming read (a sum) of a 256 MiB float buffer:
 *                      bytes = 256 MiB, flops = 64 Mi adds.
 *   probe/mem_triad  STREAM's triad a[i] = b[i] + s * c[i] over three
 *                    64 MiB double arrays (no FMA: -ffp-contract=off):
 *                      bytes = 24 per element (two reads, one write;
 *                      write-allocate traffic not counted, as in STREAM),
 *                      flops = 2 per element.
 * Buffers are first touched by the threads that later read them (same
 * static split), and split into fixed chunks whose partial sums are added
 * in chunk order.
 */
#include <immintrin.h>
#include <omp.h>
#include <string.h>

#include "bench_util.h"
#include "kern_priv.h"

#define FMA_CHAINS 12
#define FMA_STEPS (1 << 18)
#define READ_BYTES ((size_t)256 << 20)
#define TRIAD_LEN ((size_t)8 << 20) /* doubles per array: 64 MiB */
#define N_CHUNKS 256

__attribute__((target("avx2,fma"))) static float fma_chains(int64_t steps, float seed)
{
    /* a -> a * x + y has the fixed point y / (1 - x) = 1: values stay normal. */
    const __m256 x = _mm256_set1_ps(0.99999988f), y = _mm256_set1_ps(1.2e-7f);
    __m256 a[FMA_CHAINS];
    for (int c = 0; c < FMA_CHAINS; c++) a[c] = _mm256_set1_ps(seed + 1e-3f * (float)c);
    for (int64_t s = 0; s < steps; s++) {
        a[0] = _mm256_fmadd_ps(a[0], x, y);
        a[1] = _mm256_fmadd_ps(a[1], x, y);
        a[2] = _mm256_fmadd_ps(a[2], x, y);
        a[3] = _mm256_fmadd_ps(a[3], x, y);
        a[4] = _mm256_fmadd_ps(a[4], x, y);
        a[5] = _mm256_fmadd_ps(a[5], x, y);
        a[6] = _mm256_fmadd_ps(a[6], x, y);
        a[7] = _mm256_fmadd_ps(a[7], x, y);
        a[8] = _mm256_fmadd_ps(a[8], x, y);
        a[9] = _mm256_fmadd_ps(a[9], x, y);
        a[10] = _mm256_fmadd_ps(a[10], x, y);
        a[11] = _mm256_fmadd_ps(a[11], x, y);
    }
    __m256 s = a[0];
    for (int c = 1; c < FMA_CHAINS; c++) s = _mm256_add_ps(s, a[c]);
    float out[8];
    _mm256_storeu_ps(out, s);
    return out[0];
}

static void bm_fma_peak(struct mfr_bench_state *st, const void *ctx)
{
    (void)ctx;
    const int threads = (int)mfr_bench_arg(st, 0);
    if (!mfr_cpu_has_avx2()) {
        mfr_bench_skip(st, "this CPU lacks AVX2/FMA");
        return;
    }
    float part[1024] = {0};
    while (mfr_bench_keep_running(st)) {
#pragma omp parallel num_threads(threads)
        {
            int t = omp_get_thread_num();
            part[t & 1023] = fma_chains(FMA_STEPS, 1.0f);
        }
    }
    bench_report(st, 0, 0, (double)threads * FMA_STEPS * FMA_CHAINS * 8 * 2);
    bench_sink = part[0];
}

/* Sum of x[0..n) (n a multiple of 32): four vector accumulators. */
__attribute__((target("avx2"))) static float sum_avx2(const float *x, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = 0; i < n; i += 32) {
        s0 = _mm256_add_ps(s0, _mm256_load_ps(x + i));
        s1 = _mm256_add_ps(s1, _mm256_load_ps(x + i + 8));
        s2 = _mm256_add_ps(s2, _mm256_load_ps(x + i + 16));
        s3 = _mm256_add_ps(s3, _mm256_load_ps(x + i + 24));
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
    float out[8];
    _mm256_storeu_ps(out, s);
    return ((out[0] + out[1]) + (out[2] + out[3])) + ((out[4] + out[5]) + (out[6] + out[7]));
}

/* Portable: eight scalar accumulators (no vectorized float reduction
 * without -ffast-math, so independent chains instead). */
static float sum_portable(const float *x, size_t n)
{
    float s[8] = {0};
    for (size_t i = 0; i < n; i += 8)
        for (int l = 0; l < 8; l++) s[l] += x[i + l];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

static void bm_mem_read(struct mfr_bench_state *st, const void *ctx)
{
    (void)ctx;
    const int threads = (int)mfr_bench_arg(st, 0);
    const size_t n = READ_BYTES / sizeof(float), chunk = n / N_CHUNKS;
    const int avx2 = mfr_cpu_has_avx2();
    float *x = bench_alloc_floats(n);
    if (!x) {
        mfr_bench_fail(st, "setup failed: out of memory (256 MiB)");
        return;
    }
    float part[N_CHUNKS];
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int c = 0; c < N_CHUNKS; c++)
        for (size_t i = 0; i < chunk; i++) x[(size_t)c * chunk + i] = (float)(i & 7) * 0.125f;
    while (mfr_bench_keep_running(st)) {
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int c = 0; c < N_CHUNKS; c++)
            part[c] = avx2 ? sum_avx2(x + (size_t)c * chunk, chunk)
                           : sum_portable(x + (size_t)c * chunk, chunk);
    }
    double s = 0.0;
    for (int c = 0; c < N_CHUNKS; c++) s += part[c];
    bench_report(st, 0, (double)READ_BYTES, (double)n);
    mfr_bench_set_label(st, avx2 ? "avx2" : "portable");
    bench_sink = s;
    bench_free(x);
}

static void bm_mem_triad(struct mfr_bench_state *st, const void *ctx)
{
    (void)ctx;
    const int threads = (int)mfr_bench_arg(st, 0);
    const size_t n = TRIAD_LEN, chunk = n / N_CHUNKS;
    /* doubles in 64-byte aligned float storage */
    double *a = (double *)(void *)bench_alloc_floats(2 * n);
    double *b = (double *)(void *)bench_alloc_floats(2 * n);
    double *c = (double *)(void *)bench_alloc_floats(2 * n);
    if (!a || !b || !c) {
        mfr_bench_fail(st, "setup failed: out of memory (192 MiB)");
    } else {
#pragma omp parallel for schedule(static) num_threads(threads)
        for (int ch = 0; ch < N_CHUNKS; ch++)
            for (size_t i = (size_t)ch * chunk; i < (size_t)(ch + 1) * chunk; i++) {
                a[i] = 0.0;
                b[i] = 1.0;
                c[i] = 2.0;
            }
        const double s = 3.0;
        while (mfr_bench_keep_running(st)) {
#pragma omp parallel for schedule(static) num_threads(threads)
            for (int ch = 0; ch < N_CHUNKS; ch++) {
                double *restrict ap = a + (size_t)ch * chunk;
                const double *restrict bp = b + (size_t)ch * chunk;
                const double *restrict cp = c + (size_t)ch * chunk;
                for (size_t i = 0; i < chunk; i++) ap[i] = bp[i] + s * cp[i];
            }
        }
        bench_report(st, 0, 24.0 * (double)n, 2.0 * (double)n);
        bench_sink = a[n - 1];
    }
    bench_free(a);
    bench_free(b);
    bench_free(c);
}

void bench_probe_register(void)
{
    static const char *const names[] = {"threads"};
    int64_t threads[64];
    int n = bench_thread_list(threads, 64);
    mfr_bench_register("probe/fma_peak", bm_fma_peak, NULL, names, 1, threads, n,
                       MFR_BENCH_REAL_TIME);
    mfr_bench_register("probe/mem_read", bm_mem_read, NULL, names, 1, threads, n,
                       MFR_BENCH_REAL_TIME);
    mfr_bench_register("probe/mem_triad", bm_mem_triad, NULL, names, 1, threads, n,
                       MFR_BENCH_REAL_TIME);
}
