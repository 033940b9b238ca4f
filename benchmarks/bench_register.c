/*
 * bench_register.c — registers every workload file's benchmarks (called by
 * bench_shim.cpp's main before the run) and frees their caches after it.
 */
#include <stdio.h>

#include "bench_util.h"
#include "kern_priv.h"

void mfr_bench_register_all(void)
{
    char cores[32];
    snprintf(cores, sizeof cores, "%d", bench_cores());
    mfr_bench_add_context("mfrec_version", MFR_VERSION_STRING);
    mfr_bench_add_context("mfrec_build", mfr_build_info());
    mfr_bench_add_context("mfrec_commit", mfr_build_commit());
    mfr_bench_add_context("mfrec_avx2", mfr_cpu_has_avx2() ? "yes" : "no");
    mfr_bench_add_context("mfrec_cores", cores);

    bench_probe_register();
    bench_kernels_register();
    bench_softmax_register();
    bench_train_register();
}

void mfr_bench_cleanup_all(void) { bench_train_cleanup(); }
