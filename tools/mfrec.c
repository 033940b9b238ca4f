/*
 * mfrec.c — the `mfrec` command: dispatches to the subcommands (cmd_*.c),
 * which use the public API only (include/mfrec.h).
 *
 * Exit codes: 0 success, 1 runtime error (bad data, I/O, divergence),
 * 2 usage error (unknown flag, bad flag value).
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* sbrk, MADV_HUGEPAGE */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* One line per subcommand: name, entry point, summary for --help. */
static const struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"train", cmd_train, "train a model (the notebook's experiment by default)"},
    {"eval", cmd_eval, "MSE/RMSE/MAE and ranking metrics of a model; --folds for u1..u5"},
    {"split", cmd_split, "write the parts of a split as rating files"},
    {"synth", cmd_synth, "write a synthetic dataset in the ML-100K layout"},
    {"recommend", cmd_recommend, "top-k movies for a user, a new user (a few ratings), or every user"},
    {"similar", cmd_similar, "the nearest neighbours of a movie found by title"},
    {"norms", cmd_norms, "movies with the largest embedding norms, and the norm histogram"},
    {"stats", cmd_stats, "describe a dataset: users, ratings, movies, genres"},
    {"project", cmd_project, "PCA or t-SNE picture of the movie embeddings, embedding norms"},
    {"export", cmd_export, "write embeddings as .npy, or TSV for the Embedding Projector"},
    {"sweep", cmd_sweep, "time threads x dims x reductions; CSV with speedups, and charts"},
};

static void print_help(FILE *f)
{
    fputs("Usage: mfrec COMMAND [options]\n\n"
          "A fast, deterministic, multithreaded matrix-factorization trainer and\n"
          "movie recommender.\n\nCommands:\n",
          f);
    for (size_t c = 0; c < sizeof commands / sizeof *commands; c++)
        fprintf(f, "  %-10s %s\n", commands[c].name, commands[c].summary);
    fputs("\n'mfrec COMMAND --help' describes each command. 'mfrec --version' prints\n"
          "the version and build. Exit status: 0 ok, 1 runtime error, 2 usage error,\n"
          "3 train or sweep stopped by SIGINT or SIGTERM (see their --help).\n",
          f);
}

/*
 * A standard descriptor closed by the caller (`mfrec stats >&-`) would be
 * reused by the first file the command opens, and the table meant for
 * stdout would land in a model's temporary file. Occupy each closed one
 * with /dev/null opened in the wrong direction, so that writing to stdout
 * fails (EBADF) and finish_stdout reports it.
 */
static void guard_std_fds(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
        int nfd = open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
        if (nfd >= 0 && nfd != fd) close(nfd); /* a lower descriptor was free: cannot happen */
    }
}

/* A command's exit status after the last write to stdout: a write that
 * failed on the way (disk full, closed stdout) turns success into exit 1
 * with a message, since the output the caller asked for is incomplete. */
static int finish_stdout(int rc)
{
    return stdout_close() == EXIT_OK || rc != EXIT_OK ? rc : EXIT_RUNTIME;
}

/*
 * On a virtual machine with shadow paging, the first touch of each 4 KiB
 * page traps to the hypervisor: 11-16 us a page on this project's VM (1 GiB
 * touched in 4.5 s, against 0.07-0.5 s in 2 MiB pages), which was most of
 * an ML-100K run's setup (~3000 faults). So the heap grows in one step
 * advised to use transparent huge pages, blocks under 32 MiB come from it
 * (and are reused after free, not faulted in again), and the library
 * advises its own larger buffers (mfr_malloc). Advice only: nothing
 * changes but the faults (and peak RSS, rounded up to 2 MiB pages).
 *
 * A 2 MiB range gets a huge page only if none of its 4 KiB pages was
 * touched before the advice: the kernel then already holds a page table
 * for it. Growing the heap writes the top chunk's header just past the
 * growing block, before the advice can be given; that 2 MiB range and the
 * part below it are then filled by a block that is kept (never touched:
 * address space only), so every block after it starts in a huge page.
 * (With the header in the second 2 MiB, an ML-100K run took 512 faults
 * there.) The heap grows by at least 256 MiB at a time, advised only the
 * first time: a 10M run's small blocks outgrew a 32 MiB step, and the
 * growth took ~9,000 small-page faults.
 */
/* Kept for the whole run, reachable for leak checkers; volatile, or the
 * compiler drops the malloc whose result is never read. */
static void *volatile heap_filler;

static void heap_huge_pages(void)
{
#if defined(M_TOP_PAD) && defined(MADV_HUGEPAGE)
    const uintptr_t pad = (uintptr_t)256 << 20, huge = (uintptr_t)2 << 20;
    const size_t grow = (size_t)4 << 20, mmap_min = (size_t)32 << 20; /* glibc's ceiling */
    if (!mallopt(M_TOP_PAD, (int)pad) || !mallopt(M_TRIM_THRESHOLD, (int)(2 * pad)) ||
        !mallopt(M_MMAP_THRESHOLD, (int)mmap_min))
        return;
    char *p = malloc(grow); /* more than the heap holds yet: grows it by grow + pad */
    void *end = sbrk(0);
    const uintptr_t start = (uintptr_t)p, header = 2 * sizeof(size_t);
    if (!p || end == (void *)-1 || (uintptr_t)end < start || (uintptr_t)end - start < pad) {
        /* the heap could not grow so far (ulimit -d or -v): glibc's own
         * pad and trim threshold, or every later growth would ask for the
         * 256 MiB and fail */
        free(p);
        (void)mallopt(M_TOP_PAD, 0);
        (void)mallopt(M_TRIM_THRESHOLD, 128 * 1024);
        return;
    }
    const uintptr_t a = (start + huge - 1) & ~(huge - 1), e = (uintptr_t)end & ~(huge - 1);
    /* the first 2 MiB boundary past the page the top's header was written to */
    const uintptr_t clean = (start + grow + header + huge - 1) & ~(huge - 1);
    if (e > a) (void)madvise((void *)a, e - a, MADV_HUGEPAGE);
    free(p); /* back into the top chunk, which now starts where p did */
    /* The filler's chunk (from p's header on) ends at clean - 16: the next
     * block's header fills that, and its memory starts on the boundary. */
    if (clean < e) heap_filler = malloc(clean - start - header);
#endif
}

/* Launched by mpirun with several ranks, only train runs across them
 * (docs/MPI.md); any other command would run whole on every rank, each
 * printing the same lines and writing the same files at once. Refused on
 * every rank (exit 2), the message printed by rank 0 alone. */
static int refuse_under_mpirun(const char *cmd)
{
    const char *n = cli_mpirun_ranks();
    const bool other = cli_other_rank();
    if (!strcmp(cmd, "train") || (!n && !other)) return EXIT_OK;
    if (n && other) return EXIT_USAGE;
    if (!n) /* a PMIx launcher gives no count: rank 0 cannot tell it is not alone */
        return usage_error("'%s' runs as one process: launched as rank %s of a parallel job (its launcher gives "
                           "no rank count), only 'train' runs across the ranks (docs/MPI.md); every rank would "
                           "run it whole and write the same outputs",
                           cmd, cli_launch_rank());
    return usage_error("'%s' runs as one process: under mpirun (%s ranks) only 'train' runs across the ranks "
                       "(docs/MPI.md); every rank would run it whole and write the same outputs",
                       cmd, n);
}

static int run_command(int argc, char **argv)
{
    /* under mpirun rank 0 alone prints the help, the version and a usage error */
    const bool quiet = cli_other_rank();
    if (argc < 2) {
        if (!quiet) print_help(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        if (!quiet) print_help(stdout);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "--version")) {
        if (quiet) return EXIT_OK;
        /* the library's release, which a replaced shared library changes */
        printf("mfrec %s (commit %s; %s)\n", mfr_version(), mfr_build_commit(), mfr_build_info());
        if (strcmp(mfr_version(), MFR_VERSION_STRING) != 0)
            printf("note: this mfrec was built against the %s header; the library it runs is %s\n",
                   MFR_VERSION_STRING, mfr_version());
        return EXIT_OK;
    }
    for (size_t c = 0; c < sizeof commands / sizeof *commands; c++)
        if (!strcmp(cmd, commands[c].name)) {
            int rc = refuse_under_mpirun(cmd);
            return rc != EXIT_OK ? rc : commands[c].run(argc - 2, argv + 2);
        }
    return quiet ? EXIT_USAGE : usage_error("unknown command '%s'", cmd);
}

int main(int argc, char **argv)
{
    cli_mark_start();
    heap_huge_pages();
    guard_std_fds();
    /* A file size limit (ulimit -f) makes a write fail with EFBIG, which
     * every writer reports and cleans up after; the default SIGXFSZ would
     * kill the process silently with a temporary file left behind. */
    signal(SIGXFSZ, SIG_IGN);
    /* A reader that went away (`| head`) makes a write fail with EPIPE,
     * reported as a failed write to standard output (exit 1, nothing
     * half-written, docs/RELIABILITY.md); the default SIGPIPE killed the
     * process silently (status 141). */
    signal(SIGPIPE, SIG_IGN);
    exit_signals_install(); /* train replaces it with its own */
    fault_signals_install();
    mfr_set_tmp_observer(signal_cleanup_file); /* the library's temporary files too */
    mfr_set_map_observer(signal_note_mapped);  /* the file a SIGBUS names */
    return finish_stdout(run_command(argc, argv));
}
