/*
 * fault_malloc.c — an LD_PRELOAD shim for the CLI tests (test_cli_explore):
 * the MFREC_FAULT_MALLOC_AT-th call of malloc, calloc, realloc, strdup or
 * strndup made by the mfrec executable itself (its caller's address lies
 * in the executable, not in the library or the C library) returns NULL
 * with errno ENOMEM; every other call is the C library's. With
 * MFREC_FAULT_MALLOC_COUNT=FILE the number of the executable's calls is
 * written to FILE at exit, so that a test can fail each in turn. Other
 * programs the run starts (gnuplot) are left alone. Not for a sanitizer
 * build, whose allocator the C library's cannot stand in for.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);

static int g_active;
static long g_fail_at, g_count;
static uintptr_t g_lo = UINTPTR_MAX, g_hi;

/* The executable's address range: the first object dl_iterate_phdr lists. */
static int exe_range(struct dl_phdr_info *info, size_t size, void *first)
{
    (void)size;
    if (!*(int *)first) return 1;
    *(int *)first = 0;
    for (int k = 0; k < info->dlpi_phnum; k++) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[k];
        if (p->p_type != PT_LOAD) continue;
        const uintptr_t a = info->dlpi_addr + p->p_vaddr;
        if (a < g_lo) g_lo = a;
        if (a + p->p_memsz > g_hi) g_hi = a + p->p_memsz;
    }
    return 0;
}

__attribute__((constructor)) static void fault_init(void)
{
    char exe[4096];
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return;
    exe[n] = 0;
    const char *base = strrchr(exe, '/');
    if (strcmp(base ? base + 1 : exe, "mfrec") != 0) return;
    const char *at = getenv("MFREC_FAULT_MALLOC_AT");
    g_fail_at = at ? atol(at) : 0;
    int first = 1;
    dl_iterate_phdr(exe_range, &first);
    g_active = 1;
}

__attribute__((destructor)) static void fault_fini(void)
{
    const char *path = g_active ? getenv("MFREC_FAULT_MALLOC_COUNT") : NULL;
    const int fd = path ? open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;
    if (fd < 0) return;
    char buf[32];
    const int len = snprintf(buf, sizeof buf, "%ld\n", g_count);
    if (write(fd, buf, (size_t)len) != len) {}
    close(fd);
}

/* Whether this call, from caller, is the one that fails. */
static int fails(void *caller)
{
    const uintptr_t r = (uintptr_t)caller;
    if (!g_active || r < g_lo || r >= g_hi) return 0;
    if (__atomic_add_fetch(&g_count, 1, __ATOMIC_RELAXED) != g_fail_at) return 0;
    errno = ENOMEM;
    return 1;
}

void *malloc(size_t n) { return fails(__builtin_return_address(0)) ? NULL : __libc_malloc(n); }

void *calloc(size_t a, size_t b) { return fails(__builtin_return_address(0)) ? NULL : __libc_calloc(a, b); }

void *realloc(void *p, size_t n) { return fails(__builtin_return_address(0)) ? NULL : __libc_realloc(p, n); }

char *strdup(const char *s)
{
    if (fails(__builtin_return_address(0))) return NULL;
    const size_t n = strlen(s) + 1;
    char *d = __libc_malloc(n);
    return d ? memcpy(d, s, n) : NULL;
}

char *strndup(const char *s, size_t max)
{
    if (fails(__builtin_return_address(0))) return NULL;
    const size_t n = strnlen(s, max);
    char *d = __libc_malloc(n + 1);
    if (d) memcpy(d, s, n), d[n] = 0;
    return d;
}
