/*
 * fault_checksum.c — an LD_PRELOAD shim for the CLI tests (test_cli_sweep):
 * mfr_model_checksum returns the library's checksum XOR the process id, so
 * that every forked sweep run reports another checksum, as a build whose
 * results depended on the thread count or the run would. The sweep's
 * determinism check is otherwise unreachable: the library keeps its promise.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdint.h>
#include <unistd.h>

struct mfr_model;

uint64_t mfr_model_checksum(const struct mfr_model *m);

uint64_t mfr_model_checksum(const struct mfr_model *m)
{
    static uint64_t (*real)(const struct mfr_model *);
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "mfr_model_checksum");
    return real(m) ^ (uint64_t)getpid();
}
