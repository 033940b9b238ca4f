/*
 * fault_rename.c — an LD_PRELOAD shim for the CLI tests (test_cli_explore):
 * rename(2) fails with EBUSY, as it does for a file bind-mounted over the
 * target (a container's `-v host/file:/out/file`), for the first
 * MFREC_FAULT_RENAME_TIMES (default 1) calls whose destination ends with
 * MFREC_FAULT_RENAME_TO; every other call is the C library's. With
 * MFREC_FAULT_RENAME_RAISE=SIG the last refused call also raises SIG, a
 * signal that arrives at that very moment.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rename(const char *from, const char *to)
{
    static int (*real)(const char *, const char *);
    static int failed;
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "rename");
    const char *want = getenv("MFREC_FAULT_RENAME_TO"), *times = getenv("MFREC_FAULT_RENAME_TIMES");
    const int max = times ? atoi(times) : 1;
    const size_t n = want ? strlen(want) : 0, m = strlen(to);
    if (want && failed < max && m >= n && !strcmp(to + m - n, want)) {
        const char *sig = getenv("MFREC_FAULT_RENAME_RAISE");
        if (++failed == max && sig) raise(atoi(sig));
        errno = EBUSY;
        return -1;
    }
    return real(from, to);
}
