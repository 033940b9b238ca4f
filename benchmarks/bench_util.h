/*
 * bench_util.h — helpers shared by the C workloads: the counters every
 * workload reports, the thread and k lists, aligned random buffers, and
 * each workload file's registration entry point.
 */
#ifndef MFR_BENCH_UTIL_H
#define MFR_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "bench_shim.h"

/* Sets the standard counters from per-iteration amounts (0 leaves one
 * out): "ratings_per_second", "bytes_per_second" and "flops_per_second",
 * rates over the benchmark's clock (wall time for MFR_BENCH_REAL_TIME).
 * The console prints them with decimal prefixes (flops_per_second=45.2G/s
 * is 45.2 GFLOP/s, bytes_per_second=12G/s is 12 GB/s); the JSON holds the
 * plain numbers per second. */
void bench_report(struct mfr_bench_state *st, double ratings, double bytes, double flops);

/* Cores this process may use (OpenMP's view, at least 1). */
int bench_cores(void);

/* Thread counts 1, 2, 4, ... up to 2 x cores, plus cores and 2 x cores
 * themselves; returns how many were written (at most max). */
int bench_thread_list(int64_t *out, int max);

/* The dimensions swept by the kernels (8..256) and the trainer (16..256). */
extern const int64_t bench_kernel_dims[];
extern const int bench_n_kernel_dims;
extern const int64_t bench_train_dims[];
extern const int bench_n_train_dims;

/* 64-byte aligned, zeroed floats (NULL on failure); free with bench_free. */
float *bench_alloc_floats(size_t n);
void bench_free(void *p);
/* Fills x[0..n) with uniform values in [lo, hi) from a seeded generator. */
void bench_fill(float *x, size_t n, uint64_t seed, float lo, float hi);
/* A seeded 64-bit generator (splitmix64) for index data. */
uint64_t bench_rand(uint64_t *state);

/* Keeps results alive so the compiler cannot drop the timed work. */
extern volatile double bench_sink;

/* Workload files. */
void bench_kernels_register(void);
void bench_train_register(void);
void bench_train_cleanup(void);
void bench_probe_register(void);
void bench_softmax_register(void);

#endif
