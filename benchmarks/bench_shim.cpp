// bench_shim.cpp — the only C++ file of the benchmarks: exposes Google
// Benchmark's state loop, arguments, counters and registration to the C
// workloads (bench_shim.h), and runs them.
//
// Environment:
//   MFREC_BENCH_MIN_TIME  appended as --benchmark_min_time=VALUE, so it
//                         overrides the short default meson passes.
// Exit status 1 when a case failed (mfr_bench_fail), so meson reports it.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "bench_shim.h"

struct mfr_bench_state {
    benchmark::State *s;
};

namespace {
bool g_failed = false; // some case called mfr_bench_fail
}

extern "C" {

bool mfr_bench_keep_running(struct mfr_bench_state *st) { return st->s->KeepRunning(); }

int64_t mfr_bench_arg(const struct mfr_bench_state *st, int index)
{
    return st->s->range(static_cast<std::size_t>(index));
}

int64_t mfr_bench_iterations(const struct mfr_bench_state *st)
{
    return static_cast<int64_t>(st->s->iterations());
}

void mfr_bench_set_counter(struct mfr_bench_state *st, const char *name, double value,
                           int flags)
{
    int f = benchmark::Counter::kDefaults;
    if (flags & MFR_BENCH_COUNTER_RATE) f |= benchmark::Counter::kIsRate;
    if (flags & MFR_BENCH_COUNTER_AVG_THREADS) f |= benchmark::Counter::kAvgThreads;
    st->s->counters[name] = benchmark::Counter(
        value, static_cast<benchmark::Counter::Flags>(f),
        (flags & MFR_BENCH_COUNTER_1024) ? benchmark::Counter::kIs1024
                                         : benchmark::Counter::kIs1000);
}

void mfr_bench_set_items_processed(struct mfr_bench_state *st, int64_t items)
{
    st->s->SetItemsProcessed(items);
}

void mfr_bench_set_bytes_processed(struct mfr_bench_state *st, int64_t bytes)
{
    st->s->SetBytesProcessed(bytes);
}

void mfr_bench_set_label(struct mfr_bench_state *st, const char *label)
{
    st->s->SetLabel(label);
}

void mfr_bench_skip(struct mfr_bench_state *st, const char *msg)
{
#ifdef MFR_BENCH_HAVE_SKIP_MESSAGE
    st->s->SkipWithMessage(msg);
#else
    st->s->SkipWithError(msg); // Google Benchmark < 1.8 has only this one
#endif
}

void mfr_bench_fail(struct mfr_bench_state *st, const char *msg)
{
    g_failed = true;
    st->s->SkipWithError(msg);
}

void mfr_bench_pause_timing(struct mfr_bench_state *st) { st->s->PauseTiming(); }
void mfr_bench_resume_timing(struct mfr_bench_state *st) { st->s->ResumeTiming(); }

void mfr_bench_register(const char *name, mfr_bench_fn fn, const void *ctx,
                        const char *const *arg_names, int n_args, const int64_t *cases,
                        int n_cases, int flags)
{
    benchmark::internal::Benchmark *b =
        benchmark::RegisterBenchmark(name, [fn, ctx](benchmark::State &s) {
            mfr_bench_state st{&s};
            fn(&st, ctx);
        });
    if (arg_names && n_args > 0)
        b->ArgNames(std::vector<std::string>(arg_names, arg_names + n_args));
    for (int c = 0; c < n_cases; c++)
        b->Args(std::vector<int64_t>(cases + static_cast<std::size_t>(c) * n_args,
                                     cases + static_cast<std::size_t>(c + 1) * n_args));
    if (flags & MFR_BENCH_REAL_TIME) b->UseRealTime();
    b->Unit(benchmark::kMicrosecond);
}

void mfr_bench_add_context(const char *key, const char *value)
{
    benchmark::AddCustomContext(key, value);
}

} // extern "C"

int main(int argc, char **argv)
{
    std::vector<char *> args(argv, argv + argc);
    std::string min_time;
    if (const char *e = std::getenv("MFREC_BENCH_MIN_TIME")) {
        min_time = std::string("--benchmark_min_time=") + e;
        args.push_back(&min_time[0]);
    }
    int n = static_cast<int>(args.size());
    args.push_back(nullptr);
    benchmark::Initialize(&n, args.data());
    if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
    mfr_bench_register_all();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    mfr_bench_cleanup_all();
    return g_failed ? 1 : 0;
}
