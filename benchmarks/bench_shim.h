/*
 * bench_shim.h — the C face of Google Benchmark.
 *
 * The workloads (benchmarks/bench_*.c) are plain C. They see only this
 * header: an opaque state with Google Benchmark's loop, arguments,
 * counters and skip, and a registration call. bench_shim.cpp, the only C++
 * file, implements it over benchmark::State and benchmark::RegisterBenchmark.
 *
 * A workload function does its own setup, then times its loop, then tears
 * down:
 *
 *     static void bm_thing(struct mfr_bench_state *st, const void *ctx)
 *     {
 *         int64_t k = mfr_bench_arg(st, 0);
 *         ... setup; on failure: mfr_bench_skip(st, "why"); return;
 *         while (mfr_bench_keep_running(st)) { ... timed work ... }
 *         ... counters from mfr_bench_iterations(st); teardown
 *     }
 *
 * Google Benchmark calls the function several times (first to estimate
 * an iteration count, then for each repetition), so setup is repeated;
 * expensive inputs (datasets) are cached by the workload file and freed in
 * its cleanup function.
 */
#ifndef MFR_BENCH_SHIM_H
#define MFR_BENCH_SHIM_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct mfr_bench_state;

/* A workload: the state, and the context pointer given at registration. */
typedef void (*mfr_bench_fn)(struct mfr_bench_state *st, const void *ctx);

/* True while the timed loop should run another iteration. After a skip,
 * do not enter (or leave) the loop and return. */
bool mfr_bench_keep_running(struct mfr_bench_state *st);

/* Argument `index` of the running case (0-based, as registered). */
int64_t mfr_bench_arg(const struct mfr_bench_state *st, int index);

/* Iterations the loop ran (valid after keep_running returned false). */
int64_t mfr_bench_iterations(const struct mfr_bench_state *st);

/* Counter flags (combine with |). */
enum {
    MFR_BENCH_COUNTER_RATE = 1 << 0,        /* value / elapsed seconds */
    MFR_BENCH_COUNTER_AVG_THREADS = 1 << 1, /* value / benchmark threads */
    MFR_BENCH_COUNTER_1024 = 1 << 2,        /* print with binary prefixes */
};

/* A user counter, e.g. ("flops_per_second", flops * iterations, RATE). */
void mfr_bench_set_counter(struct mfr_bench_state *st, const char *name, double value,
                           int flags);
/* Google Benchmark's own items_per_second / bytes_per_second (totals over
 * all iterations). */
void mfr_bench_set_items_processed(struct mfr_bench_state *st, int64_t items);
void mfr_bench_set_bytes_processed(struct mfr_bench_state *st, int64_t bytes);
/* A free-text label printed after the counters. */
void mfr_bench_set_label(struct mfr_bench_state *st, const char *label);

/* Skips the case with a message (reported in the output and the JSON),
 * e.g. when the CPU lacks an instruction set. */
void mfr_bench_skip(struct mfr_bench_state *st, const char *msg);
/* Skips the case as an error (a result that disagrees with the reference,
 * a failed setup): reported like a skip, and the program then exits with
 * status 1, so `meson test --benchmark` fails. */
void mfr_bench_fail(struct mfr_bench_state *st, const char *msg);

/* Stops / restarts the clock inside the loop (costs about a microsecond). */
void mfr_bench_pause_timing(struct mfr_bench_state *st);
void mfr_bench_resume_timing(struct mfr_bench_state *st);

/* Registration flags. */
enum {
    /* Time by the wall clock (multithreaded work: the default CPU timer
     * counts only the calling thread). Rates then use wall seconds. */
    MFR_BENCH_REAL_TIME = 1 << 0,
};

/* Registers `name` once per case: cases[c * n_args + a] is argument a of
 * case c, shown in the name as arg_names[a]:value (arg_names may be NULL).
 * n_cases = 0 registers one case without arguments. */
void mfr_bench_register(const char *name, mfr_bench_fn fn, const void *ctx,
                        const char *const *arg_names, int n_args, const int64_t *cases,
                        int n_cases, int flags);

/* Adds a key/value line to the output's context (JSON "context"). */
void mfr_bench_add_context(const char *key, const char *value);

/* Defined in bench_register.c: registers every workload, and frees what
 * the workloads cached once the run is over. */
void mfr_bench_register_all(void);
void mfr_bench_cleanup_all(void);

#ifdef __cplusplus
}
#endif

#endif
