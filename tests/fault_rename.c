/*
 * fault_rename.c — an LD_PRELOAD shim for the CLI tests (test_cli_explore):
 * rename(2) fails with EBUSY, as it does for a file bind-mounted over the
 * target (a container's `-v host/file:/out/file`), for the first
 * MFREC_FAULT_RENAME_TIMES (default 1) calls whose destination ends with
 * MFREC_FAULT_RENAME_TO; every other call is the C library's. With
 * MFREC_FAULT_RENAME_RAISE=SIG the last refused call also raises SIG, a
 * signal that arrives at that very moment. renameat2(2), which moves a
 * run's single files into place beside its charts (tools/cli.c,
 * pending_commit), is refused the same way, the calls of both counted
 * together; with MFREC_FAULT_RENAME_NO_EXCHANGE set, each of its calls
 * with flags fails with EINVAL, as on a file system without them. With
 * MFREC_FAULT_NO_LINK set, link(2) fails with EPERM, as on a file system
 * without hard links (vfat, some FUSE). With MFREC_FAULT_WRITE_RAISE=SIG,
 * the first write(2) to the standard output fills the pipe behind it, as
 * a reader that stopped reading, raises SIG, then writes: a signal in the
 * instant between a check for one and the write. With
 * MFREC_FAULT_WRITE_RAISE_AFTER=SIG, the first write(2) to the standard
 * output is made, then SIG raised: a signal in the instant after a write
 * that delivered its bytes, before the writer looks again. With
 * MFREC_FAULT_SETPGID_SIG=SIG, setpgid(0, 0) (a forked helper making its
 * own process group) first sends SIG to its parent, then waits 1 s before
 * the call: a signal in the instant between the fork and the new group.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Whether this call to `to` is refused (errno set, the signal raised). */
static int refused(const char *to)
{
    static int failed;
    const char *want = getenv("MFREC_FAULT_RENAME_TO"), *times = getenv("MFREC_FAULT_RENAME_TIMES");
    const int max = times ? atoi(times) : 1;
    const size_t n = want ? strlen(want) : 0, m = strlen(to);
    if (!want || failed >= max || m < n || strcmp(to + m - n, want) != 0) return 0;
    const char *sig = getenv("MFREC_FAULT_RENAME_RAISE");
    if (++failed == max && sig) raise(atoi(sig));
    errno = EBUSY;
    return 1;
}

int rename(const char *from, const char *to)
{
    static int (*real)(const char *, const char *);
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "rename");
    return refused(to) ? -1 : real(from, to);
}

int link(const char *from, const char *to)
{
    static int (*real)(const char *, const char *);
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "link");
    if (getenv("MFREC_FAULT_NO_LINK")) {
        errno = EPERM;
        return -1;
    }
    return real(from, to);
}

int renameat2(int from_dir, const char *from, int to_dir, const char *to, unsigned int flags)
{
    static int (*real)(int, const char *, int, const char *, unsigned int);
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "renameat2");
    if (refused(to)) return -1;
    /* MFREC_FAULT_RENAME_NO_EXCHANGE: a file system without renameat2's
     * flags (NFS), which refuses them as EINVAL */
    if (flags && getenv("MFREC_FAULT_RENAME_NO_EXCHANGE")) {
        errno = EINVAL;
        return -1;
    }
    return real(from_dir, from, to_dir, to, flags);
}

ssize_t write(int fd, const void *buf, size_t n)
{
    static ssize_t (*real)(int, const void *, size_t);
    static int raised;
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "write");
    const char *sig = getenv("MFREC_FAULT_WRITE_RAISE");
    if (fd == STDOUT_FILENO && sig && !raised++) {
        /* through a descriptor of its own: O_NONBLOCK belongs to the open file */
        const int fill = open("/proc/self/fd/1", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        static const char junk[512];
        while (fill >= 0 && real(fill, junk, sizeof junk) > 0) {}
        if (fill >= 0) close(fill);
        raise(atoi(sig));
    }
    const char *after = getenv("MFREC_FAULT_WRITE_RAISE_AFTER");
    static int raised_after;
    if (fd == STDOUT_FILENO && after && !raised_after++) {
        const ssize_t w = real(fd, buf, n);
        const int e = errno;
        raise(atoi(after));
        errno = e;
        return w;
    }
    return real(fd, buf, n);
}

int setpgid(pid_t pid, pid_t pgid)
{
    static int (*real)(pid_t, pid_t);
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "setpgid");
    const char *sig = getenv("MFREC_FAULT_SETPGID_SIG");
    if (pid == 0 && pgid == 0 && sig) {
        (void)kill(getppid(), atoi(sig));
        sleep(1);
    }
    return real(pid, pgid);
}
