/*
 * stop_signal.c — SIGINT, SIGTERM, SIGHUP and SIGQUIT; SIGBUS from an input
 * cut short.
 *
 * During training (`train`, both model kinds; docs/CHECKPOINTS.md): the
 * first lets the current epoch finish so that the command can write a
 * checkpoint and exit with EXIT_INTERRUPTED (in `sweep`, it kills the run
 * under way, and the sweep reports its completed repeats and exits with
 * EXIT_INTERRUPTED); a second exits at once,
 * except during a save, which it lets complete, or while an output is
 * being made and registered (exit_signals_defer), which it waits for.
 *
 * Every other command, and every command on SIGHUP (a closed terminal)
 * or SIGQUIT (Ctrl-\),
 * dies of the signal as usual, but first removes the temporary file or
 * staging directory it is writing (registered with signal_cleanup_file /
 * signal_cleanup_dir), so an interrupted output leaves nothing behind.
 * An input file that another program truncates while mfrec has it mapped
 * (a large rating file during its parse, the dataset cache during the run)
 * raises SIGBUS at the first read past its new end: reported as an error
 * (exit 1) after the same cleanup, instead of a bare "Bus error".
 *
 * The handlers use async-signal-safe calls only.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* syscall */
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

volatile sig_atomic_t g_stop_signal;
static void cleanup_registered(void);
static bool defer_signal(int sig, bool stop);
/* Whether a file is being saved; a second signal received during it. */
static volatile sig_atomic_t g_saving, g_exit_after_save;
/* A forked child running for this process (sweep's runs), which must not
 * outlive it: killed (and reaped) by a signal. */
static volatile sig_atomic_t g_cleanup_child;
/* gnuplot drawing a chart: not stopped by the first stop signal */
static volatile sig_atomic_t g_cleanup_helper;

/* Runs on any thread (OpenMP's workers included, so masking signals in
 * the main thread would not defer it): it only sets flags (and kills
 * sweep's run under way), or ends the
 * process at once on a second signal when no save is under way and no
 * output is being made and registered (exit_signals_defer: a --plot
 * stage's directories, its renames, a temporary file's creation). */
static void on_stop_signal(int sig)
{
    if (!g_stop_signal) {
        g_stop_signal = sig;
        /* sweep's run under way ends now (fork_run reaps it); its
         * completed repeats are reported */
        if (g_cleanup_child > 0) (void)kill((pid_t)g_cleanup_child, SIGKILL);
    } else if (g_saving)
        g_exit_after_save = sig; /* the save completes, then we exit */
    else if (!defer_signal(sig, true)) {
        cleanup_registered(); /* a --plot stage or --log-json file under way */
        _exit(128 + sig);     /* the second: at once, nothing written */
    }
}

void stop_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    /* a signal the parent ignores stays ignored, as in the other commands
     * (exit_signals_install): a shell's `mfrec train ... &` is not stopped
     * by the Ctrl-C meant for the shell's foreground */
    const int sigs[] = {SIGINT, SIGTERM};
    for (size_t k = 0; k < sizeof sigs / sizeof *sigs; k++) {
        struct sigaction old;
        if (sigaction(sigs[k], NULL, &old) == 0 && old.sa_handler != SIG_IGN) sigaction(sigs[k], &sa, NULL);
    }
}

void stop_signals_saving(bool begin)
{
    g_saving = begin;
    if (!begin && g_exit_after_save) {
        cleanup_registered();
        _exit(128 + g_exit_after_save);
    }
}

const char *stop_signal_name(void)
{
    return g_stop_signal == SIGINT ? "SIGINT" : "SIGTERM";
}

/* Whether the signal had come when the epoch loop ended (during the last
 * epoch, which the run finishes: no checkpoint, no exit 3), not after. */
static bool g_stop_in_epochs;
void stop_signal_epochs_ended(void) { g_stop_in_epochs = g_stop_signal != 0; }

void stop_signal_note_finished(void)
{
    if (g_stop_signal)
        fprintf(stderr, "%s: note: %s came %s the last epoch; the run finished and its outputs are complete\n",
                g_cmd, stop_signal_name(), g_stop_in_epochs ? "during" : "after");
}

/* The path being written (a temporary file) or the staging directory:
 * copied into static storage, so the handler reads no heap. */
enum { CLEANUP_PATH_MAX = 4096 };
static char g_cleanup_file[CLEANUP_PATH_MAX], g_cleanup_dir[CLEANUP_PATH_MAX], g_cleanup_out[CLEANUP_PATH_MAX];
static volatile sig_atomic_t g_have_file, g_have_dir, g_have_out;

static void set_path(char *dst, volatile sig_atomic_t *have, const char *path)
{
    *have = 0; /* the handler never reads a half-copied path */
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (!path || strlen(path) >= CLEANUP_PATH_MAX) return;
    memcpy(dst, path, strlen(path) + 1);
    __atomic_signal_fence(__ATOMIC_SEQ_CST); /* the copy is done before the flag is set */
    *have = 1;
}

/* "" (the library's notice that it is about to create a temporary file,
 * mfr_set_tmp_observer): a signal waits until the file's name (or NULL)
 * follows. */
void signal_cleanup_file(const char *path)
{
    static bool announced;
    if (path && !*path) {
        if (!announced) exit_signals_defer(true);
        announced = true;
        return;
    }
    set_path(g_cleanup_file, &g_have_file, path);
    if (announced) exit_signals_defer(false);
    announced = false;
}
void signal_cleanup_dir(const char *dir, const char *made_out)
{
    set_path(g_cleanup_dir, &g_have_dir, dir);
    set_path(g_cleanup_out, &g_have_out, dir ? made_out : NULL);
}

/* The files directly inside dir, then dir: getdents64 and unlinkat, which
 * a signal handler may call (opendir/readdir may not). */
void remove_dir_files(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    char buf[4096] __attribute__((aligned(8)));
    long n;
    while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0)
        for (long at = 0; at < n;) {
            /* struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name */
            unsigned short reclen;
            memcpy(&reclen, buf + at + 16, sizeof reclen);
            const char *name = buf + at + 19;
            if (strcmp(name, ".") && strcmp(name, "..")) (void)unlinkat(fd, name, 0);
            at += reclen;
        }
    close(fd);
    (void)rmdir(dir);
}

void signal_cleanup_child(pid_t pid) { g_cleanup_child = pid > 0 ? (sig_atomic_t)pid : 0; }
void signal_cleanup_helper(pid_t pid) { g_cleanup_helper = pid > 0 ? (sig_atomic_t)pid : 0; }

static void cleanup_registered(void)
{
    /* before the stage is removed: gnuplot would write into it again */
    const pid_t child = (pid_t)g_cleanup_child, helper = (pid_t)g_cleanup_helper;
    if (child > 0) {
        (void)kill(child, SIGKILL);
        (void)waitpid(child, NULL, 0);
    }
    if (helper > 0) { /* its whole group: what it started too */
        if (kill(-helper, SIGKILL) != 0) (void)kill(helper, SIGKILL);
        (void)waitpid(helper, NULL, 0);
    }
    if (g_have_file) (void)unlink(g_cleanup_file);
    if (g_have_dir) remove_dir_files(g_cleanup_dir);
    if (g_have_out) (void)rmdir(g_cleanup_out); /* made for the output: only if still empty */
}

/* How many exit_signals_defer brackets are open (signals wait while one
 * is), written by the bracketing thread alone; the signal that came
 * meanwhile, with STOP_DEFERRED when it was train's second stop signal
 * (which exits with 128 + sig rather than dying of the signal). The
 * handler may run on another thread while the bracket closes: the
 * deferred signal is taken with an atomic exchange, by exactly one of
 * them, so it is never lost nor acted on twice. */
static volatile sig_atomic_t g_exit_defer;
static int g_exit_deferred;
enum { STOP_DEFERRED = 0x100 };

static void die_of(int sig, bool stop)
{
    cleanup_registered();
    if (stop) _exit(128 + sig);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* /dev/null opened for reading, at exit_signals_install (-1: none): a
 * write(2) to it fails (EBADF). */
static int g_no_write_fd = -1;

/* In a handler: whether sig waits for the open bracket (noted for its end).
 * A waiting signal ends the run at the bracket's end, so the run's standard
 * output has nothing more to say: it becomes a descriptor that takes no
 * write, for a write about to start (between its exit_signal_waiting check
 * and the system call) would otherwise wait for good on a reader that
 * stopped reading, where the handler could not interrupt it. That write
 * fails, and a failed write is the writer's sign that its bytes went
 * nowhere; a write that returned before the handler ran delivered them
 * (its report is out: the files it names are kept). The signal is noted
 * first, so a writer that sees the failure on another thread finds it
 * waiting (stdout_failed: no "cannot write standard output"). */
static bool defer_signal(int sig, bool stop)
{
    if (!g_exit_defer) return false;
    int none = 0;
    __atomic_compare_exchange_n(&g_exit_deferred, &none, sig | (stop ? STOP_DEFERRED : 0), false,
                                __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); /* the first one that came */
    if (g_no_write_fd >= 0) {
        const int saved = errno;
        (void)dup2(g_no_write_fd, STDOUT_FILENO);
        errno = saved;
    }
    if (__atomic_load_n(&g_exit_defer, __ATOMIC_SEQ_CST)) return true;
    /* the bracket closed meanwhile and may have missed it: whoever takes it acts */
    const int taken = __atomic_exchange_n(&g_exit_deferred, 0, __ATOMIC_SEQ_CST);
    if (taken) die_of(taken & 0xff, taken & STOP_DEFERRED);
    return true;
}

static void on_exit_signal(int sig)
{
    if (defer_signal(sig, false)) return; /* a directory or file exists that is not registered yet */
    die_of(sig, false);
}

bool exit_signal_waiting(void) { return __atomic_load_n(&g_exit_deferred, __ATOMIC_SEQ_CST) != 0; }

void exit_signals_defer(bool begin)
{
    __atomic_signal_fence(__ATOMIC_SEQ_CST); /* what was registered is in place first */
    __atomic_store_n(&g_exit_defer, g_exit_defer + (begin ? 1 : -1), __ATOMIC_SEQ_CST);
    if (begin || g_exit_defer) return;
    const int taken = __atomic_exchange_n(&g_exit_deferred, 0, __ATOMIC_SEQ_CST);
    if (taken) die_of(taken & 0xff, taken & STOP_DEFERRED); /* cleans up and dies of it */
}

void exit_signals_install(void)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_exit_signal;
    /* no SA_RESTART: a deferred signal's handler returns, and a call that
     * could wait for good (a report written to a pipe nobody reads,
     * another run's lock) fails with EINTR, so the bracket undoes its
     * work and the signal is acted on (exit_signal_waiting) */
    sa.sa_flags = 0;
    /* SIGHUP and SIGQUIT too: a closed terminal or ssh session, or a
     * Ctrl-\ typed, ends the command as surely as SIGTERM, and must not leave a
     * temporary file behind (SIGQUIT's core dump, where enabled, follows) */
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    sigemptyset(&sa.sa_mask); /* one cleanup at a time */
    if (g_no_write_fd < 0) g_no_write_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    const size_t n_sigs = sizeof sigs / sizeof *sigs;
    for (size_t k = 0; k < n_sigs; k++) sigaddset(&sa.sa_mask, sigs[k]);
    /* a signal the parent ignores (a shell's `cmd &`, nohup) stays ignored */
    for (size_t k = 0; k < n_sigs; k++)
        if (sigaction(sigs[k], NULL, &old) == 0 && old.sa_handler != SIG_IGN) sigaction(sigs[k], &sa, NULL);
}

/* The data the command loaded (signal_note_data), named in the SIGBUS
 * report; the previous SIGBUS disposition, for the faults that are not an
 * input cut short (a sanitizer's handler, or the default's core dump). */
static char g_fault_data[CLEANUP_PATH_MAX];
static volatile sig_atomic_t g_have_fault_data;
/* The inputs mapped now (the library's mfr_set_map_observer: a text file
 * during its parse, a dataset cache while its dataset lives): the file cut
 * short is the one whose mapping holds the fault's address, which is not
 * always in the data (eval --test FILE, a fold-in's --ratings-file) nor the
 * data's rating file (its cache) */
enum { MAPPED_SLOTS = 4 };
static struct {
    char path[CLEANUP_PATH_MAX];
    uintptr_t addr;
    size_t len;
    volatile sig_atomic_t used;
} g_mapped[MAPPED_SLOTS];
static struct sigaction g_bus_old;

/* stored as messages show paths (control bytes as \xHH): the handler
 * writes them as they are, and a newline in a name must not make two
 * lines of one error */
void signal_note_data(const char *path) { set_path(g_fault_data, &g_have_fault_data, path ? printable(path) : NULL); }
void signal_note_mapped(const char *path, const void *addr, size_t len)
{
    for (int k = 0; k < MAPPED_SLOTS; k++)
        if (g_mapped[k].used && g_mapped[k].addr == (uintptr_t)addr) g_mapped[k].used = 0;
    if (!path) return;
    for (int k = 0; k < MAPPED_SLOTS; k++)
        if (!g_mapped[k].used) {
            g_mapped[k].addr = (uintptr_t)addr;
            g_mapped[k].len = len;
            set_path(g_mapped[k].path, &g_mapped[k].used, printable(path));
            return;
        }
}

static const char *mapped_at(const void *addr)
{
    for (int k = 0; k < MAPPED_SLOTS; k++)
        if (g_mapped[k].used && (uintptr_t)addr - g_mapped[k].addr < g_mapped[k].len) return g_mapped[k].path;
    return NULL;
}

static void on_bus(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    if (si->si_code != BUS_ADRERR) {
        sigaction(sig, &g_bus_old, NULL);
        /* sent (kill): raised again, delivered on return; a fault: the
         * instruction runs again on return and faults under the old one */
        if (si->si_code <= 0) raise(sig);
        return;
    }
    /* the threads of a parallel phase that read the file fault together:
     * the first reports and exits, the others wait for that, so that the
     * report is one line, once */
    static int taken;
    if (__atomic_exchange_n(&taken, 1, __ATOMIC_SEQ_CST))
        for (;;) pause();
    /* one write(2), which nothing else writing to stderr can split */
    static char msg[3 * CLEANUP_PATH_MAX];
    size_t n = 0;
    const char *file = mapped_at(si->si_addr);
    const char *parts[] = {g_cmd ? g_cmd : "mfrec",
                           ": error: an input file was cut short while mfrec read it (SIGBUS: another program "
                           "truncated or rewrote ",
                           file ? file : "it",
                           !file && g_have_fault_data ? "; the data: " : "",
                           !file && g_have_fault_data ? g_fault_data : "",
                           "); the command stopped and left no output half-written: run it again once the file "
                           "is complete\n"};
    for (size_t k = 0; k < sizeof parts / sizeof *parts; k++)
        for (const char *c = parts[k]; *c && n < sizeof msg; c++) msg[n++] = *c;
    ssize_t r = write(STDERR_FILENO, msg, n);
    (void)r; /* nothing more to do if stderr is gone */
    cleanup_registered();
    _exit(1);
}

void fault_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_bus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    const int exits[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT}; /* one cleanup at a time */
    for (size_t k = 0; k < sizeof exits / sizeof *exits; k++) sigaddset(&sa.sa_mask, exits[k]);
    sigaction(SIGBUS, &sa, &g_bus_old);
}
