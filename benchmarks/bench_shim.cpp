// bench_shim.cpp — the only C++ file of the benchmarks: exposes Google
// Benchmark's state loop, arguments, counters and registration to the C
// workloads (bench_shim.h), and runs them.
//
// Environment:
//   MFREC_BENCH_MIN_TIME  appended as --benchmark_min_time=VALUE, so it
//                         overrides the short default meson passes.
// Exit status 1 when a case failed (mfr_bench_fail), so meson reports it,
// when --benchmark_filter selects no benchmark, and when standard output or
// the --benchmark_out file cannot be written.
#include <benchmark/benchmark.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
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

namespace {
bool g_out_failed = false; // a write to the --benchmark_out file failed

// R writing the --benchmark_out file, flushed at the end of the run while
// Google Benchmark's stream is still open, so that a failed write (a full
// disk) is seen: the library ignores its stream's state and exited 0.
template <class R> class checked_file_reporter : public R {
public:
    using R::R;
    void Finalize() override
    {
        R::Finalize();
        std::ostream &out = this->GetOutputStream();
        out.flush();
        if (out.fail()) g_out_failed = true;
    }
};

// The environment variable that sets flag `name` (benchmark_out: BENCHMARK_OUT).
std::string env_name(const char *name)
{
    std::string env;
    for (const char *c = name; *c; c++) env += static_cast<char>(std::toupper(static_cast<unsigned char>(*c)));
    return env;
}

// A flag's value as Google Benchmark takes it: the last --name=VALUE in
// args ("true" for a bare --name), else the environment variable of its
// name in capitals (BENCHMARK_OUT), else `none`. Read here rather than from
// the library's FLAGS_ variables, which its header does not declare (and
// newer versions need not export).
std::string flag_value(const std::vector<char *> &args, const char *name, const char *none)
{
    const char *e = std::getenv(env_name(name).c_str());
    std::string v = e ? e : none;
    const std::string flag = std::string("--") + name;
    for (std::size_t k = 1; k < args.size(); k++) {
        if (!args[k] || std::strncmp(args[k], flag.c_str(), flag.size()) != 0) continue;
        if (args[k][flag.size()] == '=') v = args[k] + flag.size() + 1;
        else if (!args[k][flag.size()]) v = "true";
    }
    return v;
}

// The library's reading of a boolean flag's value.
bool truthy(const std::string &v)
{
    if (v.empty()) return false;
    std::string l;
    for (char c : v) l += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return !(l == "0" || l == "f" || l == "false" || l == "n" || l == "no" || l == "off");
}

// The file reporter for --benchmark_out_format (the library's default,
// nullptr, for a format it will refuse itself).
std::unique_ptr<benchmark::BenchmarkReporter> file_reporter(const std::string &out, const std::string &f,
                                                            bool tabular)
{
    if (out.empty()) return nullptr;
    if (f == "json") return std::make_unique<checked_file_reporter<benchmark::JSONReporter>>();
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations" // still the library's csv
    if (f == "csv") return std::make_unique<checked_file_reporter<benchmark::CSVReporter>>();
#pragma GCC diagnostic pop
    if (f == "console")
        return std::make_unique<checked_file_reporter<benchmark::ConsoleReporter>>(
            tabular ? benchmark::ConsoleReporter::OO_Tabular : benchmark::ConsoleReporter::OO_None);
    return nullptr;
}

// False, said on stderr, when a --benchmark_format or --benchmark_out_format
// names no format: Google Benchmark printed its usage and exited 0, having
// run nothing.
bool formats_ok(const std::vector<char *> &args)
{
    for (const char *name : {"benchmark_format", "benchmark_out_format"}) {
        const std::string v = flag_value(args, name, "console");
        if (v == "console" || v == "json" || v == "csv") continue;
        std::fprintf(stderr, "%s: error: --%s (or %s) must be console, json or csv, got '%s'\n", args[0], name,
                     env_name(name).c_str(), v.c_str());
        return false;
    }
    return true;
}

// Standard output still writable after the run (the console or JSON
// report): false after a failed write, said on stderr.
bool stdout_ok(const char *argv0)
{
    std::cout.flush();
    if (std::fflush(stdout) == 0 && !std::ferror(stdout) && !std::cout.fail()) return true;
    std::fprintf(stderr, "%s: error: cannot write standard output\n", argv0);
    return false;
}
} // namespace

int main(int argc, char **argv)
{
    std::vector<char *> args(argv, argv + argc);
    std::string min_time;
    if (const char *e = std::getenv("MFREC_BENCH_MIN_TIME")) {
        min_time = std::string("--benchmark_min_time=") + e;
        args.push_back(&min_time[0]);
    }
    if (!formats_ok(args)) return 1;
    // before Initialize, which takes its flags out of args
    const std::string out = flag_value(args, "benchmark_out", "");
    const std::string out_format = flag_value(args, "benchmark_out_format", "json");
    const bool tabular = truthy(flag_value(args, "benchmark_counters_tabular", "false"));
    int n = static_cast<int>(args.size());
    args.push_back(nullptr);
    benchmark::Initialize(&n, args.data());
    if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
    mfr_bench_register_all();
    std::unique_ptr<benchmark::BenchmarkReporter> file = file_reporter(out, out_format, tabular);
    // A filter that matches nothing (or does not compile) ran nothing: an
    // error, not an empty success (the library only says so on stderr)
    const std::size_t ran = benchmark::RunSpecifiedBenchmarks(nullptr, file.get());
    benchmark::Shutdown();
    mfr_bench_cleanup_all();
    const bool out_ok = stdout_ok(argv[0]);
    if (ran == 0)
        std::fprintf(stderr, "%s: error: --benchmark_filter='%s' selects no benchmark\n", argv[0],
                     benchmark::GetBenchmarkFilter().c_str());
    if (g_out_failed)
        std::fprintf(stderr, "%s: error: cannot write --benchmark_out=%s\n", argv[0],
                     out.c_str());
    return g_failed || ran == 0 || g_out_failed || !out_ok ? 1 : 0;
}
