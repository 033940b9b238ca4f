/*
 * plot.c — gnuplot charts for the mfrec tool: histograms, scatter plots by
 * category and line charts (learning curves), each written as PNG and SVG
 * together with its data file and script (see plot.h for the contract).
 *
 * Why gnuplot through files rather than a pipe: the script and data stay
 * next to the pictures, so a chart can be restyled and re-rendered without
 * rerunning mfrec, and a failing script can be read. gnuplot runs once per
 * chart, in DIR (fork, chdir, exec), with only relative names in the script.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "output.h"
#include "plot.h"

/* Colours made to be told apart: Okabe and Ito's eight (Okabe & Ito 2008,
 * "Color Universal Design", readable with any colour vision; their pale
 * yellow left out, points in it vanish on white), the strongest first,
 * then twelve more of Kelly's 22 colours of maximum contrast (Kelly 1965;
 * its white, greys and the near twins of the first seven left out), so
 * that every one of MovieLens' 19 genres gets a colour of its own. Callers
 * give the biggest categories the first styles. Categories past nineteen
 * reuse the colours with another point type. */
static const char *const palette[] = {
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
    "#875692", "#BE0032", "#8DB600", "#882D17", "#A1CAF1", "#F99379", "#604E97",
    "#DCD300", "#2B3D26", "#C2B280", "#B3446C", "#654522",
};
#define N_PALETTE (sizeof palette / sizeof *palette)
/* Filled circle, square, triangle, diamond, inverted triangle (gnuplot's
 * pt numbers): style c gets palette[c % 19] and point_types[c / 19]. */
static const int point_types[] = {7, 5, 9, 13, 11};
#define N_POINT_TYPES (sizeof point_types / sizeof *point_types)
#define OTHER_COLOUR "#b0b0b0"

/* One size for every chart, whichever command draws it (PNG pixels, SVG
 * points), so that pictures put side by side match: histograms, lines,
 * scatter plots and bars (these grow taller only past 26 bars, 24 pixels
 * each); wide enough for the long titles that name a model. Small
 * multiples are PANEL_W x PANEL_H a panel, four to a row: a full row is
 * CHART_W wide too. */
#define CHART_W 1100
#define CHART_H 750
#define BAR_ROW_H 24
#define PANEL_W ((CHART_W - 40) / 4)
#define PANEL_H 230

/* The MovieLens genres by their number of movies in ML-100K (the biggest
 * get the most distinct colours): genre_order[s] has style s, so a genre's
 * colour does not depend on which movies a chart shows, and `stats` and
 * `project` agree. IMAX (ML-10M on) takes the last colour, which
 * "unknown" (ML-100K's genre of a movie whose genres are not known: no
 * genre, plot_genre_is_none) would have had. */
static const char *const genre_order[] = {
    "Drama",   "Comedy",      "Action",    "Thriller",  "Romance", "Adventure", "Children's",
    "Crime",   "Sci-Fi",      "Horror",    "War",       "Mystery", "Musical",   "Documentary",
    "Animation", "Western",   "Film-Noir", "Fantasy",   "unknown",
};
#define N_GENRE_ORDER ((int)(sizeof genre_order / sizeof *genre_order))

/* ------------------------------------------------------------------ */
/* Finding and running gnuplot                                          */
/* ------------------------------------------------------------------ */

/* Looks for an executable gnuplot in $PATH; fills path (cap bytes). */
static bool find_gnuplot(char *path, size_t cap)
{
    const char *env = getenv("PATH");
    if (!env || !*env) return false;
    const char *p = env;
    for (;;) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        /* An empty PATH entry means the current directory. */
        int n = len ? snprintf(path, cap, "%.*s/gnuplot", (int)len, p)
                    : snprintf(path, cap, "./gnuplot");
        struct stat st;
        if (n > 0 && (size_t)n < cap && stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
            access(path, X_OK) == 0)
            return true;
        if (!colon) return false;
        p = colon + 1;
    }
}

bool plot_available(void)
{
    char path[4096];
    return find_gnuplot(path, sizeof path);
}

/* The child of run_gnuplot: gnuplot in its own process group, in dir, its
 * stdout dropped and its stderr into fd[1]; never returns. */
static _Noreturn void exec_gnuplot(const char *gnuplot, const char *dir, const char *script, const int fd[2],
                                   const int *held, size_t n_held, const sigset_t *was, pid_t parent)
{
    (void)setpgid(0, 0);
    /* mfrec killed by SIGKILL (no handler runs) ends gnuplot too */
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);
    for (size_t k = 0; k < n_held; k++) signal(held[k], SIG_DFL);
    sigprocmask(SIG_SETMASK, was, NULL);
    if (chdir(dir) != 0) _exit(126);
    /* no stdio between fork and exec (a worker thread may have held its
     * lock at the fork); stdin too, as a background group reading the
     * terminal would be stopped (SIGTTIN) */
    const int null_in = open("/dev/null", O_RDONLY), null_out = open("/dev/null", O_WRONLY);
    if (null_in < 0 || null_out < 0 || dup2(null_in, STDIN_FILENO) < 0 || dup2(null_out, STDOUT_FILENO) < 0)
        _exit(126);
    if (dup2(fd[1], STDERR_FILENO) < 0) _exit(126);
    close(fd[0]), close(fd[1]);
    char *argv[] = {(char *)"gnuplot", (char *)script, NULL};
    execv(gnuplot, argv);
    _exit(127);
}

/* Runs `gnuplot NAME.gp` inside dir, stdout to /dev/null and stderr read
 * through a pipe: its warnings ("empty y range", ...) are dropped when it
 * succeeds, and its last words end the error when it fails. EXIT_OK when
 * it exits 0. The error names the chart, not the script: a failed run's
 * files are removed with its stage, so no path would be there to see. */
static int run_gnuplot(const char *gnuplot, const char *dir, const char *script)
{
    /* stdout first, through the check that names a failed write's cause
     * (a later flush finds only the error flag: the errno is gone) */
    (void)stdout_flush();
    fflush(NULL);
    int fd[2];
    if (pipe(fd) != 0) return runtime_error("cannot start gnuplot: %s", strerror(errno));
    /* The signals wait while gnuplot is made and registered, so that the
     * handler that kills it knows its pid. gnuplot gets a process group of
     * its own: a terminal's Ctrl-C reaches mfrec alone, which decides
     * (train's and sweep's first one lets the chart finish; gnuplot killed
     * by it failed, or crashed while starting), and kills gnuplot when it
     * dies of a signal itself. */
    sigset_t sigs, was;
    sigemptyset(&sigs);
    const int held[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    for (size_t k = 0; k < sizeof held / sizeof *held; k++) sigaddset(&sigs, held[k]);
    sigprocmask(SIG_BLOCK, &sigs, &was);
    const pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        sigprocmask(SIG_SETMASK, &was, NULL);
        close(fd[0]), close(fd[1]);
        return runtime_error("cannot start gnuplot: %s", strerror(e));
    }
    if (pid == 0) exec_gnuplot(gnuplot, dir, script, fd, held, sizeof held / sizeof *held, &was, parent);
    /* the group made here too, not only by gnuplot: a signal right after
     * the unblock would otherwise find no group of that pid to kill (the
     * child not yet at its setpgid) and wait for the whole chart. EACCES
     * (gnuplot already exec'd) means the child made it. */
    (void)setpgid(pid, pid);
    signal_cleanup_helper(pid);
    sigprocmask(SIG_SETMASK, &was, NULL);
    close(fd[1]);
    /* the last 1 KiB of what it says is enough to name a failure */
    char said[1024], buf[512];
    size_t n_said = 0;
    for (;;) {
        ssize_t r = read(fd[0], buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        for (ssize_t x = 0; x < r; x++) {
            if (n_said == sizeof said - 1) memmove(said, said + 512, n_said -= 512);
            said[n_said++] = buf[x];
        }
    }
    close(fd[0]);
    while (n_said && (said[n_said - 1] == '\n' || said[n_said - 1] == ' ')) n_said--;
    said[n_said] = 0;
    /* Waited for without reaping (its pid stays gnuplot's), then
     * unregistered and reaped with the signals held on this thread. A
     * handler on another thread (train's OpenMP workers) that read the pid
     * just before it was cleared could still send its kill after the reap:
     * a window of microseconds, in which the pid would have to be taken
     * again to matter. */
    siginfo_t info;
    while (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
    }
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    signal_cleanup_helper(0);
    int st, wrc;
    while ((wrc = waitpid(pid, &st, 0)) < 0 && errno == EINTR) {
    }
    const int we = errno;
    sigprocmask(SIG_SETMASK, &was, NULL);
    if (wrc < 0) return runtime_error("waiting for gnuplot: %s", strerror(we));
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return EXIT_OK;
    const int name_len = (int)(strlen(script) - 3); /* "NAME.gp" */
    int rc;
    if (WIFEXITED(st))
        rc = runtime_error("gnuplot failed (exit status %d) drawing the chart %.*s; no --plot file "
                           "was written%s",
                           WEXITSTATUS(st), name_len, script, n_said ? ". gnuplot said:" : "");
    else
        rc = runtime_error("gnuplot was killed by signal %d drawing the chart %.*s; no --plot file "
                           "was written%s",
                           WTERMSIG(st), name_len, script, n_said ? ". gnuplot said:" : "");
    error_detail(said);
    return rc;
}

/* ------------------------------------------------------------------ */
/* One chart: its four files                                            */
/* ------------------------------------------------------------------ */

/* The stage of plot_stage_begin: charts asked for in g_stage.out go to
 * g_stage.dir (NULL: none open). */
static struct stage g_stage;

/* The command's whole set of charts (plot_outputs_check) and which of them
 * this run drew (chart_run), so that plot_stage_end can take away the
 * files of the others. */
#define MAX_CHARTS 8
/* What every script says after "# NAME.gp: " on its first line (chart_open). */
#define GP_MARK "written by mfrec;"
static char *join3(const char *dir, const char *name, const char *ext);
static const char *const *g_charts;
static bool g_drawn[MAX_CHARTS];
/* An SVG holds each point as an element of about 110 bytes (measured on
 * ML-100K's projection charts). Above SVG_MAX_POINTS points (11 MB) a
 * chart's SVG is too large to open comfortably and most of gnuplot's time
 * (the genre panels of a 200k-movie catalogue: 3.8M points, 415 MB), so
 * its script draws the SVG only when asked (`gnuplot -e svg=1 NAME.gp`);
 * the PNG shows every point. g_svg_left_out[k]: chart k's points when its
 * SVG was left out this run, else 0. */
#define SVG_MAX_POINTS 100000
#define SVG_BYTES_PER_POINT 110
static int64_t g_svg_left_out[MAX_CHARTS];
/* SVG_MAX_POINTS, or MFREC_SVG_MAX_POINTS when set (svg_max_from_env) */
static int64_t g_svg_max = SVG_MAX_POINTS;

/* The index of chart NAME (its first name_len bytes) in g_charts, or -1. */
static int chart_index(const char *name, size_t name_len)
{
    for (int k = 0; g_charts && g_charts[k] && k < MAX_CHARTS; k++)
        if (strlen(g_charts[k]) == name_len && !strncmp(g_charts[k], name, name_len)) return k;
    return -1;
}

/* Records chart gp_name ("NAME.gp") as drawn, with svg_left_out points
 * when its SVG was left out (else 0). */
static void mark_drawn(const char *gp_name, int64_t svg_left_out)
{
    const int k = chart_index(gp_name, strlen(gp_name) - 3);
    if (k < 0) return;
    g_drawn[k] = true;
    g_svg_left_out[k] = svg_left_out;
}

/* The charts this run did not draw whose earlier files the commit removed
 * (retire_undrawn), noted once the commit is done. */
static const char *g_notes[MAX_CHARTS];
static int g_n_notes;

bool plot_svg_drawn(const char *name)
{
    const int k = chart_index(name, strlen(name));
    return k < 0 || g_svg_left_out[k] == 0;
}

int plot_stage_begin(const char *dir)
{
    g_n_notes = 0;
    memset(g_drawn, 0, sizeof g_drawn);
    memset(g_svg_left_out, 0, sizeof g_svg_left_out);
    return stage_open(&g_stage, "--plot", dir);
}

/* Whether DIR/NAME.gp is a regular file that mfrec wrote: its first line
 * is chart_open's "# NAME.gp: written by mfrec". */
static bool written_by_mfrec(const char *dir, const char *name)
{
    char *gp = join3(dir, name, ".gp");
    struct stat st;
    bool ours = false;
    if (gp && lstat(gp, &st) == 0 && S_ISREG(st.st_mode)) {
        FILE *f = fopen(gp, "r");
        char want[128], got[128];
        snprintf(want, sizeof want, "# %s.gp: " GP_MARK, name);
        ours = f && fgets(got, sizeof got, f) && !strncmp(got, want, strlen(want));
        if (f) fclose(f);
    }
    free(gp);
    return ours;
}

/* A chart of the set that this run did not draw (a dataset without
 * genres, a sweep of one thread count, no relevant test user) but an
 * earlier mfrec run did (its script says so) would sit beside this run's
 * as if it were one of them. Its files go with the commit (stage_retire:
 * removed only when this run's charts move in), regular files only (what
 * drawing the chart would have replaced); *n_notes of them are said on
 * standard error once they are gone (notes[k]: the chart). Files of that
 * name that mfrec did not write are the user's: left alone. */
static int retire_undrawn(const char *dir, const char **notes, int *n_notes)
{
    static const char *const ext[] = {".png", ".svg", ".dat", ".gp"};
    int rc = EXIT_OK;
    *n_notes = 0;
    for (int k = 0; g_charts && g_charts[k] && k < MAX_CHARTS && rc == EXIT_OK; k++) {
        if (g_drawn[k] || !written_by_mfrec(dir, g_charts[k])) continue;
        for (int x = 0; x < 4 && rc == EXIT_OK; x++) {
            char *path = join3(dir, g_charts[k], ext[x]), *name = join3(NULL, g_charts[k], ext[x]);
            struct stat st;
            if (!path || !name) rc = runtime_error("out of memory");
            else if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) rc = stage_retire(&g_stage, name);
            free(path);
            free(name);
        }
        notes[(*n_notes)++] = g_charts[k];
    }
    return rc;
}

/* An earlier run's DIR/NAME.svg beside a chart of this run that leaves its
 * SVG out goes with the commit (stage_retire), as drawing it would have
 * replaced it (plot_outputs_check checked it is a regular file); looked
 * for under the stage's lock, so another run's committed meanwhile is
 * seen. */
static int retire_left_out_svgs(const char *dir)
{
    int rc = EXIT_OK;
    for (int k = 0; g_charts && g_charts[k] && k < MAX_CHARTS && rc == EXIT_OK; k++) {
        if (g_svg_left_out[k] == 0) continue;
        char *path = join3(dir, g_charts[k], ".svg"), *name = join3(NULL, g_charts[k], ".svg");
        struct stat st;
        if (!path || !name) rc = runtime_error("out of memory");
        else if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) rc = stage_retire(&g_stage, name);
        free(path);
        free(name);
    }
    return rc;
}

int plot_stage_swap(int rc)
{
    if (rc == EXIT_OK && g_stage.dir && !g_stage.swapped) {
        rc = stage_lock(&g_stage); /* another run's charts committed meanwhile are seen */
        if (rc == EXIT_OK) rc = retire_undrawn(g_stage.out, g_notes, &g_n_notes);
        if (rc == EXIT_OK) rc = retire_left_out_svgs(g_stage.out);
    }
    return stage_swap(&g_stage, rc);
}

/* What the command printed before its charts is flushed first: a standard
 * output that cannot be written fails the run with no chart moved. */
int plot_stage_end(int rc) { return plot_stage_end_report(rc, NULL); }

int plot_stage_end_report(int rc, const char *report)
{
    const char *dir = g_stage.out;
    rc = stage_commit(&g_stage, plot_stage_swap(rc), report);
    for (int k = 0; rc == EXIT_OK && k < g_n_notes; k++)
        fprintf(stderr, "%s: note: removed %s/%s.* from an earlier run: this run draws no %s chart\n", g_cmd,
                printable(dir), g_notes[k], g_notes[k]);
    g_n_notes = 0;
    for (int k = 0; rc == EXIT_OK && g_charts && g_charts[k] && k < MAX_CHARTS; k++) {
        char size[32];
        if (g_svg_left_out[k] > 0)
            fprintf(stderr,
                    "%s: note: no %s/%s.svg: its %lld points would make an SVG of about %s "
                    "(MFREC_SVG_MAX_POINTS: %lld); %s.png shows them all, and `gnuplot -e svg=1 "
                    "%s.gp` in that directory draws the SVG\n",
                    g_cmd, printable(dir), g_charts[k], (long long)g_svg_left_out[k],
                    size_text((uint64_t)g_svg_left_out[k] * SVG_BYTES_PER_POINT, size), (long long)g_svg_max,
                    g_charts[k], g_charts[k]);
    }
    g_charts = NULL;
    return rc;
}

int plot_stage_check(void) { return stage_check(&g_stage); }

int plot_stage_end_files(int rc, const char *report, struct pending_file *files, int n)
{
    /* a signal among the commits waits until all are kept or undone */
    exit_signals_defer(true);
    /* with no charts, the report first, as write_file_reported's: on a
     * file system that can neither exchange files nor link them, a commit
     * is for good, and a standard output that failed after it would have
     * replaced the previous file */
    const bool report_first = !g_stage.dir;
    if (report_first && rc == EXIT_OK) rc = stdout_report(report);
    rc = plot_stage_swap(rc);
    for (int k = 0; k < n && rc == EXIT_OK; k++) rc = pending_commit(&files[k]);
    if (rc == EXIT_OK) rc = stdout_report(report_first ? NULL : report);
    for (int k = n - 1; k >= 0; k--) rc = pending_end(&files[k], rc);
    rc = plot_stage_end(rc);
    exit_signals_defer(false);
    return rc;
}

int train_outputs_commit(struct train_outputs *t)
{
    int rc = EXIT_OK;
    bool staged = false;
    const double t0 = now_seconds();
    if (t->plot && (rc = plot_stage_begin(t->plot)) == EXIT_OK) {
        staged = true;
        rc = t->draw(t->ctx);
    }
    t->plots_s = now_seconds() - t0;
    const bool charts_failed = t->plot && rc != EXIT_OK;
    const double t1 = now_seconds();
    stop_signals_saving(true); /* a second signal now waits until the files are complete */
    exit_signals_defer(true);  /* and any signal, so no temporary file stays */
    /* every slot ended (pending_end), also one whose writer failed before
     * opening it: after_save's last records can run out of memory */
    struct pending_file files[2] = {{.fd = -1}, {.fd = -1}};
    int n = 0;
    if (rc == EXIT_OK && t->log_json) rc = jlog_check(t->jl, t->log_json); /* before the model: neither is written */
    if (rc == EXIT_OK && t->out)
        rc = save_trained_model(t->model, t->out, staged || t->log_json, &files[n++]);
    t->save_s = now_seconds() - t1;
    if (rc == EXIT_OK && t->after_save) rc = t->after_save(t->ctx, t);
    if (rc == EXIT_OK && t->log_json) rc = jlog_pending(&files[n++], t->log_json, t->jl);
    if (staged || n > 0) rc = plot_stage_end_files(rc, NULL, files, n);
    exit_signals_defer(false);
    stop_signals_saving(false);
    if (charts_failed && t->out) /* a long run's model is lost: say so */
        fprintf(stderr, "%s: --plot failed, so the model was not saved: %s is as before the run\n", g_cmd,
                printable(t->out));
    return rc;
}

struct chart {
    const char *dir;
    char gnuplot[4096];
    char *dat, *gp, *png, *svg; /* full paths */
    char *gp_name;              /* "NAME.gp", relative to dir */
    FILE *df, *sf;              /* data and script while being written */
    int64_t points;             /* the points drawn (scatter charts; else 0) */
    bool svg_left_out;          /* more than g_svg_max points: drawn only with svg=1 */
};

static char *join3(const char *dir, const char *name, const char *ext)
{
    size_t len = (dir ? strlen(dir) + 1 : 0) + strlen(name) + strlen(ext) + 1;
    char *s = malloc(len);
    if (s) snprintf(s, len, "%s%s%s%s", dir ? dir : "", dir ? "/" : "", name, ext);
    return s;
}

static void chart_free(struct chart *c)
{
    if (c->df) fclose(c->df);
    if (c->sf) fclose(c->sf);
    free(c->dat);
    free(c->gp);
    free(c->png);
    free(c->svg);
    free(c->gp_name);
}

/* Writes a gnuplot single-quoted string: '' is a quote, a newline starts
 * a new line of text (joined as 'a' . "\n" . 'b'), other control
 * characters become spaces. */
static void put_str(FILE *f, const char *s)
{
    fputc('\'', f);
    for (int n; s && *s; s += n) {
        n = utf8_char_len(s);
        /* a byte that is not UTF-8 (a Latin-1 data path's in a title) is
         * U+FFFD: the script says `set encoding utf8`, and the byte made
         * the SVG, which is XML, unreadable */
        if (n == 0) fputs(UTF8_REPLACEMENT, f), n = 1;
        else if (*s == '\'') fputs("''", f);
        else if (*s == '\n') fputs("' . \"\\n\" . '", f);
        else if ((unsigned char)*s < 0x20) fputc(' ', f);
        else fwrite(s, 1, (size_t)n, f);
    }
    fputc('\'', f);
}

/* Each file of the chart obeys the output rules (io_check.c): never an
 * input or another output of the run, only a regular file replaced (a
 * symbolic link or FIFO there is refused, not followed or opened). */
static int chart_files_check(const struct chart *c)
{
    const char *files[4] = {c->dat, c->gp, c->png, c->svg};
    int rc = EXIT_OK;
    for (int x = 0; x < 4 && rc == EXIT_OK; x++) rc = io_output("--plot", files[x]);
    return rc;
}

/* MFREC_SVG_MAX_POINTS into g_svg_max: a usage error unless unset, empty
 * or a whole number */
static int svg_max_from_env(void)
{
    const char *max = getenv("MFREC_SVG_MAX_POINTS");
    g_svg_max = SVG_MAX_POINTS;
    if (max && *max && !scan_i64(max, 0, INT64_MAX, &g_svg_max))
        return usage_error("MFREC_SVG_MAX_POINTS (the most points a chart's SVG is drawn with) must "
                           "be digits only, a whole number from 0 to %lld, got '%s'",
                           (long long)INT64_MAX, max);
    return EXIT_OK;
}

int plot_preflight(void)
{
    if (!plot_available())
        return runtime_error("--plot needs gnuplot, which is not on PATH "
                             "(install it, e.g. apt-get install gnuplot-nox)");
    return svg_max_from_env();
}

int plot_outputs_check(const char *dir, const char *const *charts)
{
    g_charts = charts;
    int rc = io_output_dir("--plot", dir);
    struct stat st;
    if (rc == EXIT_OK && stat(dir, &st) != 0) return EXIT_OK; /* a new directory: new files */
    for (int x = 0; charts[x] && rc == EXIT_OK; x++) {
        struct chart c = {.dat = join3(dir, charts[x], ".dat"), .gp = join3(dir, charts[x], ".gp"),
                          .png = join3(dir, charts[x], ".png"), .svg = join3(dir, charts[x], ".svg")};
        rc = c.dat && c.gp && c.png && c.svg ? chart_files_check(&c) : runtime_error("out of memory");
        chart_free(&c);
    }
    return rc;
}

/* Checks for gnuplot, opens DIR/NAME.dat and DIR/NAME.gp and writes the
 * script's preamble: encoding, labels, grid, the PNG terminal and output. */
static int chart_open(struct chart *c, const char *dir, const char *name,
                      const struct plot_labels *lab, int width, int height)
{
    memset(c, 0, sizeof *c);
    if (g_stage.dir && !strcmp(dir, g_stage.out)) dir = g_stage.dir; /* moved into place at the end */
    c->dir = dir;
    if (!find_gnuplot(c->gnuplot, sizeof c->gnuplot))
        return runtime_error("cannot draw %s/%s.png: gnuplot is not on PATH "
                             "(install it, e.g. apt-get install gnuplot-nox)",
                             dir, name);
    c->dat = join3(dir, name, ".dat");
    c->gp = join3(dir, name, ".gp");
    c->png = join3(dir, name, ".png");
    c->svg = join3(dir, name, ".svg");
    c->gp_name = join3(NULL, name, ".gp");
    if (!c->dat || !c->gp || !c->png || !c->svg || !c->gp_name) return runtime_error("out of memory");
    int rc = chart_files_check(c);
    if (rc != EXIT_OK) return rc;
    c->df = fopen(c->dat, "w");
    if (!c->df) return runtime_error("cannot write %s: %s", c->dat, strerror(errno));
    c->sf = fopen(c->gp, "w");
    if (!c->sf) return runtime_error("cannot write %s: %s", c->gp, strerror(errno));
    /* A stale picture must not pass for a fresh one. */
    unlink(c->png);
    unlink(c->svg);

    FILE *f = c->sf;
    fprintf(f, "# %s.gp: " GP_MARK " re-render with `gnuplot %s.gp` in this directory.\n",
            name, name);
    fputs("set encoding utf8\n", f);
    fprintf(f, "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
               "    set terminal pngcairo size %d,%d font 'Sans,11' noenhanced\n"
               "} else {\n"
               "    set terminal png size %d,%d noenhanced\n"
               "}\n",
            width, height, width, height);
    fprintf(f, "set output '%s.png'\n", name);
    if (lab && lab->title) {
        /* A line of the title longer than the chart is wide (about 7.6
         * pixels a character at Sans 11) was cut off at both edges (a
         * preset with flags overriding it): such a line breaks after the
         * last ", " that keeps it within the width. */
        const size_t max = (size_t)(width - 80) / 8;
        char *t = strdup(lab->title);
        if (!t) return runtime_error("out of memory");
        for (char *line = t; *line;) {
            char *nl = strchr(line, '\n');
            size_t len = nl ? (size_t)(nl - line) : strlen(line);
            char *cut = NULL;
            for (char *q = line; len > max && q + 1 < line + max; q++)
                if (q[0] == ',' && q[1] == ' ') cut = q + 1;
            if (cut) *cut = '\n', nl = cut;
            if (!nl) break;
            line = nl + 1;
        }
        fputs("set title ", f);
        put_str(f, t);
        fputs(" noenhanced\n", f);
        free(t);
    }
    if (lab && lab->xlabel) { fputs("set xlabel ", f); put_str(f, lab->xlabel); fputs(" noenhanced\n", f); }
    if (lab && lab->ylabel) { fputs("set ylabel ", f); put_str(f, lab->ylabel); fputs(" noenhanced\n", f); }
    fputs("set grid lc rgb '#d0d0d0'\nset border lc rgb '#404040'\n", f);
    return EXIT_OK;
}

/* Ends the script with the SVG copy: `body` (NULL: replot) drawn on the
 * svg terminal. A chart of more than g_svg_max points gets it in a
 * block that runs only when svg=1 is set (`gnuplot -e svg=1 NAME.gp`). */
static void put_svg_copy(struct chart *c, const char *name, int width, int height, const char *body)
{
    FILE *f = c->sf;
    c->svg_left_out = c->points > g_svg_max;
    if (c->svg_left_out) {
        char size[32];
        fprintf(f,
                "# The SVG copy of these %lld points (about %s) is drawn only when asked:\n"
                "# gnuplot -e svg=1 %s.gp\nif (exists('svg') && svg) {\n",
                (long long)c->points, size_text((uint64_t)c->points * SVG_BYTES_PER_POINT, size), name);
    }
    fprintf(f, "set terminal svg size %d,%d font 'Sans,12' background rgb 'white' noenhanced\n",
            width, height);
    fprintf(f, "set output '%s.svg'\n", name);
    fputs(body ? body : "replot\n", f);
    fputs("unset output\n", f);
    if (c->svg_left_out) fputs("}\n", f);
}

/* Closes f; false (errno set) when a write to it or the close failed. */
static bool close_ok(FILE *f)
{
    int e = ferror(f) ? (errno ? errno : EIO) : 0;
    if (fclose(f) != 0) return false;
    if (e) errno = e;
    return e == 0;
}

/* Whether the file at path ends with the n bytes of tail, ignoring
 * trailing white space when skip_space. */
static bool ends_with(const char *path, const char *tail, size_t n, bool skip_space)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char buf[64];
    size_t got = 0;
    if (fseek(f, -(long)sizeof buf, SEEK_END) != 0) rewind(f);
    got = fread(buf, 1, sizeof buf, f);
    fclose(f);
    while (skip_space && got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == ' ' || buf[got - 1] == '\r'))
        got--;
    return got >= n && !memcmp(buf + got - n, tail, n);
}

/* Closes the files, runs gnuplot and checks that both pictures are
 * complete: gnuplot exits 0 even when a write failed (a full disk). */
static int chart_run(struct chart *c)
{
    bool dat_ok = close_ok(c->df);
    int dat_errno = errno;
    bool gp_ok = close_ok(c->sf);
    int gp_errno = errno;
    c->df = c->sf = NULL;
    if (!dat_ok) return runtime_error("cannot write %s: %s", c->dat, strerror(dat_errno));
    if (!gp_ok) return runtime_error("cannot write %s: %s", c->gp, strerror(gp_errno));
    int rc = run_gnuplot(c->gnuplot, c->dir, c->gp_name);
    if (rc != EXIT_OK) return rc;
    static const char png_end[] = "IEND\xAE\x42\x60\x82", svg_end[] = "</svg>";
    const char *pics[2] = {c->png, c->svg};
    for (int p = 0; p < (c->svg_left_out ? 1 : 2); p++) {
        struct stat st;
        if (stat(pics[p], &st) != 0 || st.st_size == 0)
            return runtime_error("gnuplot exited 0 but did not write %s (is the disk full, or "
                                 "its pngcairo or svg terminal missing?); no --plot file was "
                                 "written",
                                 pics[p]);
        if (!(p == 0 ? ends_with(pics[p], png_end, sizeof png_end - 1, false)
                     : ends_with(pics[p], svg_end, sizeof svg_end - 1, true)))
            return runtime_error("gnuplot wrote an incomplete %s (is the disk full?); no --plot "
                                 "file was written",
                                 pics[p]);
    }
    mark_drawn(c->gp_name, c->svg_left_out ? c->points : 0);
    return EXIT_OK;
}

/* Finishes the script (the SVG copy of the plot) and runs it. */
static int chart_render(struct chart *c, const char *name, int width, int height)
{
    put_svg_copy(c, name, width, height, NULL);
    return chart_run(c);
}

/* ------------------------------------------------------------------ */
/* Chart types                                                          */
/* ------------------------------------------------------------------ */

int plot_norms_check(int64_t n, const double *norms, const char *which)
{
    for (int64_t r = 0; r < n; r++)
        if (isfinite(norms[r])) return EXIT_OK;
    return runtime_error("every %s movie's norm overflowed (inf: factors too large for a float): "
                         "--plot has no finite norm to draw",
                         which);
}

int64_t hist_bins(int64_t n, const double *values, int n_bins, bool of_counts, double *edges, int64_t *counts)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t r = 0; r < n; r++)
        if (isfinite(values[r])) {
            if (values[r] < lo) lo = values[r];
            if (values[r] > hi) hi = values[r];
        }
    const double mag = fmax(fabs(lo), fabs(hi));
    bool whole = true;
    for (int64_t r = 0; r < n && whole; r++)
        if (isfinite(values[r]) && values[r] != floor(values[r])) whole = false;
    /* One count v: the bin [v, v + 1) (below). Not for other whole
     * values: a mean rating of 1 for every user was drawn from 1 to 21,
     * far off any rating scale; they get the range around them, as
     * fractional ones. */
    const bool one_count = of_counts && whole && lo == hi && mag < 1e15;
    if (lo > hi) {
        lo = 0;
        hi = 1;
    } else if (!one_count && hi - lo <= mag * 1e-6) {
        /* one value (or values the printed edges could not tell apart):
         * a range around it wide enough for the edges to differ, also for
         * a value so large that adding 0.5 changes nothing */
        const double mid = lo / 2 + hi / 2, half = fmax(0.5, mag * 1e-3);
        lo = mid - half;
        hi = mid + half;
    }
    /* Whole numbers (counts) get whole-number bins [lo + bw, lo + (b+1)w)
     * when there are enough of them, so that no bin straddles a value (not
     * one value's range around it, whose edges are halves). Counts only:
     * whole mean ratings of 1 to 5 in 4 bins ran to 9, [7, 9) past any
     * rating, with [5, 7) open at the largest mean. */
    const bool int_edges = of_counts && whole && lo == floor(lo) && hi - lo + 1 >= n_bins && hi - lo < 1e15;
    if (int_edges) hi = lo + ceil((hi - lo + 1) / n_bins) * n_bins;
    double width = (hi - lo) / n_bins;
    for (int b = 0; b <= n_bins; b++) edges[b] = b == n_bins ? hi : lo + width * b;
    for (int b = 0; b < n_bins; b++) counts[b] = 0;
    /* A value on an edge belongs to the bin that edge opens, as the
     * printed edges say ([2.2, 2.4) then [2.4, 2.6)). The division and the
     * edges round (a mean of exactly 2.4 gave (2.4 - 1) / 0.2 = 6.99...),
     * so a value within a few ulps of an edge counts as on it: also one
     * truly below it by less than that, far below the printed precision.
     * Whole-number edges are exact (no tolerance), and the tolerance stays
     * a small part of a bin however narrow the range. */
    const double tol = int_edges ? 0.0 : fmin(16 * DBL_EPSILON * fmax(fmax(fabs(lo), fabs(hi)), width), width / 64);
    int64_t counted = 0;
    for (int64_t r = 0; r < n; r++) {
        const double v = values[r];
        if (!isfinite(v)) continue;
        int64_t b = (int64_t)((v - lo) / width);
        if (b >= n_bins) b = n_bins - 1;
        if (b < 0) b = 0;
        while (b + 1 < n_bins && v >= edges[b + 1] - tol) b++;
        while (b > 0 && v < edges[b] - tol) b--;
        counts[b]++;
        counted++;
    }
    return counted;
}

int plot_histogram(const char *dir, const char *name, const struct plot_labels *lab, int n_bins,
                   const double *edges, const int64_t *counts, bool log_y)
{
    const int w = CHART_W, h = CHART_H;
    struct chart c;
    int rc = chart_open(&c, dir, name, lab, w, h);
    if (rc != EXIT_OK) goto done;
    fputs("# bin_lo bin_hi count\n", c.df);
    int64_t most = 0;
    for (int b = 0; b < n_bins; b++) {
        fprintf(c.df, "%.17g %.17g %lld\n", edges[b], edges[b + 1], (long long)counts[b]);
        if (counts[b] > most) most = counts[b];
    }
    /* plain labels: a range from 4.5e-08 got gnuplot's "0.50000000" */
    fprintf(c.sf, "set xrange [%.17g:%.17g]\nset format x '%%g'\n", edges[0], edges[n_bins]);
    /* A long tail (a few users with hundreds of ratings) is bars of 1 or 2
     * beside one of 900: invisible on a linear axis. On a log axis the
     * bars rise from 0.5, so that a bin of one is seen; an empty bin is
     * left out (log 0). */
    if (log_y)
        fprintf(c.sf, "set logscale y\nset format y '%%g'\nset yrange [0.5:%.17g]\n",
                most > 1 ? pow(10, ceil(log10((double)most) + 0.05)) : 10.0);
    else
        fputs("set yrange [0:*]\n", c.sf);
    fprintf(c.sf,
            "set style fill solid 0.75 border lc rgb '#1f4e79'\n"
            "plot '%s.dat' using (($1+$2)/2):%s:($2-$1) with boxes lc rgb '#4c78a8' notitle\n",
            name, log_y ? "($3 > 0 ? $3 : NaN)" : "3");
    rc = chart_render(&c, name, w, h);
done:
    chart_free(&c);
    return rc;
}

bool plot_genre_is_none(const char *name)
{
    return !strcmp(name, "(no genres listed)") || !strcmp(name, "unknown");
}

void plot_genre_styles(int n, const char *const *names, int32_t *styles)
{
    int32_t next = N_GENRE_ORDER; /* a dataset's own genres */
    for (int g = 0; g < n; g++) {
        if (plot_genre_is_none(names[g])) {
            styles[g] = PLOT_STYLE_OTHER;
            continue;
        }
        const char *name = !strcmp(names[g], "Children") ? "Children's"
                           : !strcmp(names[g], "IMAX")   ? "unknown"
                                                         : names[g];
        int s = 0;
        while (s < N_GENRE_ORDER && strcmp(name, genre_order[s])) s++;
        styles[g] = s < N_GENRE_ORDER ? s : next++;
    }
}

/* The colour of style c, PLOT_STYLE_OTHER's grey included. */
static const char *style_colour(int c)
{
    return c < 0 ? OTHER_COLOUR : palette[(size_t)c % N_PALETTE];
}

/* The plot clause of scatter category c ("pt 7 ps 0.7 lc rgb '#0072B2'"). */
static void put_point_style(FILE *f, int c)
{
    if (c < 0) {
        fputs("pt 7 ps 0.6 lc rgb '" OTHER_COLOUR "'", f);
        return;
    }
    fprintf(f, "pt %d ps %s lc rgb '%s'", point_types[(size_t)c / N_PALETTE % N_POINT_TYPES],
            (size_t)c / N_PALETTE % N_POINT_TYPES == 0 ? "0.7" : "0.8", palette[(size_t)c % N_PALETTE]);
}

/* Writes the finite points (x[r], y[r]) with in(r) true as one data block
 * headed by "# name"; returns how many (no block when none). With log_x,
 * points with x <= 0 are left out (a log axis cannot show them). */
static int64_t put_block(FILE *df, const char *name, int64_t n, const double *x, const double *y,
                         bool log_x, const int32_t *key, int32_t want, int32_t n_keys)
{
    int64_t count = 0;
    for (int64_t r = 0; r < n; r++) {
        bool in = want < 0 ? (key[r] < 0 || key[r] >= n_keys) : key[r] == want;
        if (!in || !isfinite(x[r]) || !isfinite(y[r]) || (log_x && x[r] <= 0)) continue;
        if (count == 0) fprintf(df, "# %s\n", name);
        fprintf(df, "%.17g %.17g\n", x[r], y[r]);
        count++;
    }
    if (count) fputs("\n\n", df);
    return count;
}

/* The tics m[k] * 10^e (e0 <= e <= e1) within [lo, hi], ascending, into
 * tic; returns their count. */
static int log_tics(double lo, double hi, int e0, int e1, const int *m, int nm, double *tic)
{
    int n = 0;
    for (int e = e0; e <= e1; e++)
        for (int k = 0; k < nm; k++) {
            const double t = m[k] * pow(10, e);
            if (t >= lo && t <= hi) tic[n++] = t;
        }
    return n;
}

/* The x range of a log axis from lo to hi (lo > 0). gnuplot labels only
 * the powers of ten on it: when fewer than two of them lie in the range
 * (x from 200 to 438 showed one label, 1000, far right of the points), the
 * range ends at hi and the tics are 1, 2, 5 (or 1 to 9) times a power of
 * ten, labelled; otherwise the axis runs to gnuplot's next decade. */
static void put_log_x_range(FILE *f, double lo, double hi)
{
    int decades = 0;
    const int e0 = (int)floor(log10(lo)), e1 = (int)floor(log10(hi));
    for (int e = e0; e <= e1; e++) decades += pow(10, e) >= lo;
    if (decades >= 2) {
        fprintf(f, "set xrange [%.17g:*]\n", lo);
        return;
    }
    fprintf(f, "set xrange [%.17g:%.17g]\n", lo, hi);
    /* fewer than two decades: e1 <= e0 + 1, at most 18 tics */
    static const int coarse[] = {1, 2, 5}, fine[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    double tic[18];
    int n = log_tics(lo, hi, e0, e1, coarse, 3, tic);
    if (n < 3) n = log_tics(lo, hi, e0, e1, fine, 9, tic);
    fputs("set xtics (", f);
    for (int k = 0; k < n; k++) fprintf(f, "%s%.17g", k ? ", " : "", tic[k]);
    fputs(")\n", f);
}

int plot_scatter(const char *dir, const char *name, const struct plot_labels *lab, int64_t n,
                 const double *x, const double *y, const int32_t *category, int n_categories,
                 const char *const *category_names, const int32_t *styles, bool log_x)
{
    const int w = CHART_W, h = CHART_H;
    struct chart c;
    int rc = chart_open(&c, dir, name, lab, w, h);
    if (rc != EXIT_OK) goto done;
    /* One data block per non-empty category (gnuplot's `index`), then the
     * points of no listed category as "other". */
    int block = 0;
    if (log_x) {
        /* Room left of the smallest x, so its points do not sit on the border. */
        double lo = INFINITY, hi = 0;
        for (int64_t r = 0; r < n; r++)
            if (isfinite(x[r]) && isfinite(y[r]) && x[r] > 0) {
                if (x[r] < lo) lo = x[r];
                if (x[r] > hi) hi = x[r];
            }
        fputs("set logscale x\nset format x '%g'\n", c.sf);
        if (isfinite(lo)) put_log_x_range(c.sf, lo / 1.3, hi * 1.3);
    }
    fputs(n_categories > 1 ? "set key outside right top vertical Left reverse samplen 1\n"
                           : "unset key\n",
          c.sf);
    /* Grey categories ("other genres", "no genres") first, under the
     * coloured ones, then the rest in index order. */
    for (int step = 0; step <= 2 * n_categories; step++) {
        const int cat = step < n_categories ? step : step - n_categories;
        const bool other = cat == n_categories, grey = !other && styles && styles[cat] < 0;
        if (grey != (step < n_categories)) continue;
        const char *title = other ? "other" : category_names[cat];
        const int64_t k = put_block(c.df, title, n, x, y, log_x, category, other ? -1 : cat, n_categories);
        if (!k) continue;
        c.points += k;
        fputs(block == 0 ? "plot " : ", \\\n     ", c.sf);
        fprintf(c.sf, "'%s.dat' index %d using 1:2 with points ", name, block);
        put_point_style(c.sf, other ? PLOT_STYLE_OTHER : styles ? styles[cat] : cat);
        fputs(" title ", c.sf);
        put_str(c.sf, title);
        block++;
    }
    if (block == 0) {
        rc = runtime_error("nothing to draw in %s/%s: no finite points", dir, name);
        goto done;
    }
    fputc('\n', c.sf);
    rc = chart_render(&c, name, w, h);
done:
    chart_free(&c);
    return rc;
}

int plot_scatter_panels(const char *dir, const char *name, const struct plot_labels *lab, int64_t n,
                        const double *x, const double *y, int n_panels, const uint8_t *member,
                        const char *const *panel_names, const int32_t *styles)
{
    const int cols = n_panels < 4 ? n_panels : 4, rows = (n_panels + cols - 1) / cols;
    /* room above the panels for every line of the title (a fixed share of
     * the height let a 3-line title run into the first row) */
    int title_lines = lab && lab->title ? 1 : 0;
    for (const char *q = lab && lab->title ? lab->title : ""; *q; q++) title_lines += *q == '\n';
    const int head = 24 + 18 * title_lines;
    const int w = PANEL_W * cols + 40, h = PANEL_H * rows + head + 20;
    struct chart c = {0};
    int32_t *key = malloc((size_t)(n ? n : 1) * sizeof *key);
    int rc = key ? chart_open(&c, dir, name, NULL, w, h) : runtime_error("out of memory");
    if (rc != EXIT_OK) goto done;
    /* Block 0: every point (the grey background of each panel); block
     * p + 1: panel p's members (empty panels get a one-point NaN block so
     * that block numbers stay p + 1). */
    for (int64_t r = 0; r < n; r++) key[r] = 0;
    const int64_t n_all = put_block(c.df, "all", n, x, y, false, key, 0, 1);
    if (!n_all) {
        rc = runtime_error("nothing to draw in %s/%s: no finite points", dir, name);
        goto done;
    }
    char *body = NULL;
    size_t body_len = 0;
    FILE *f = open_memstream(&body, &body_len);
    if (!f) {
        rc = runtime_error("out of memory");
        goto done;
    }
    fputs("unset xlabel\nunset ylabel\nunset title\nset format x ''\nset format y ''\n"
          "set key top left samplen 0 font ',10'\n",
          f);
    /* One range for every panel, with room: a band at the top for the
     * panel's name (autoscaled to the tics, the name sat on the points
     * there) and a margin at the sides (points at the extremes sat on the
     * border). */
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int64_t r = 0; r < n; r++)
        if (isfinite(x[r]) && isfinite(y[r]))
            xlo = fmin(xlo, x[r]), xhi = fmax(xhi, x[r]), ylo = fmin(ylo, y[r]), yhi = fmax(yhi, y[r]);
    const double dx = xhi > xlo ? xhi - xlo : 1, dy = yhi > ylo ? yhi - ylo : 1;
    fprintf(f, "set xrange [%.17g:%.17g]\nset yrange [%.17g:%.17g]\n", xlo - 0.04 * dx, xhi + 0.04 * dx,
            ylo - 0.04 * dy, yhi + 0.2 * dy);
    fprintf(f, "set multiplot layout %d,%d title ", rows, cols);
    put_str(f, lab && lab->title ? lab->title : "");
    fprintf(f, " noenhanced margins 0.02,0.98,%.4f,%.4f spacing 0.01,0.03\n", 10.0 / h,
            1 - (double)head / h);
    for (int p = 0; p < n_panels; p++) {
        for (int64_t r = 0; r < n; r++) key[r] = member[(size_t)p * (size_t)n + (size_t)r];
        int64_t k = put_block(c.df, panel_names[p], n, x, y, false, key, 1, 2);
        c.points += n_all + k; /* each panel draws every point grey, then its members */
        if (!k) fputs("# none\nNaN NaN\n\n\n", c.df);
        char t[160];
        snprintf(t, sizeof t, "%s (%lld)", panel_names[p], (long long)k);
        fprintf(f, "plot '%s.dat' index 0 using 1:2 with points pt 7 ps 0.3 lc rgb '#d8d8d8' "
                   "notitle, \\\n     '%s.dat' index %d using 1:2 with points ",
                name, name, p + 1);
        put_point_style(f, styles ? styles[p] : p);
        fputs(" title ", f);
        put_str(f, t);
        fputc('\n', f);
    }
    fputs("unset multiplot\n", f);
    if (fclose(f) != 0 || !body) {
        free(body);
        rc = runtime_error("out of memory");
        goto done;
    }
    /* `replot` would redraw only the last panel: the SVG copy repeats the
     * multiplot instead. */
    fputs(body, c.sf);
    put_svg_copy(&c, name, w, h, body);
    free(body);
    rc = chart_run(&c);
done:
    free(key);
    chart_free(&c);
    return rc;
}

/* Whether every value is a whole number that a double holds exactly
 * (epochs, thread counts, counts): such an axis gets whole_tic_step. */
static bool all_whole(int64_t n, const double *v)
{
    for (int64_t r = 0; r < n; r++)
        if (v[r] != floor(v[r]) || !(fabs(v[r]) < 1e15)) return false;
    return true;
}

/* A tic step of 1, 2, 5, 10, 20, 50 ... giving at most about ten tics
 * over span: gnuplot's own steps go down to 0.5 or 0.2 on a short range,
 * which an axis of whole numbers (epochs, counts) must not show. */
static double whole_tic_step(double span)
{
    double step = 1;
    for (int m = 0; span / step > 10; m = (m + 1) % 3) step *= m == 1 ? 2.5 : 2;
    return step;
}

int plot_bars(const char *dir, const char *name, const struct plot_labels *lab, int n,
              const char *const *names, const double *values, const int32_t *styles)
{
    const int w = CHART_W, h = 120 + BAR_ROW_H * n > CHART_H ? 120 + BAR_ROW_H * n : CHART_H;
    struct chart c;
    int rc = chart_open(&c, dir, name, lab, w, h);
    if (rc != EXIT_OK) goto done;
    /* Horizontal bars, the first name on top, so long names stay readable.
     * gnuplot reads a data file's "string" with backslash escapes (\\ is
     * one backslash, \n a new line): a name's own backslashes are doubled,
     * so that the label is the name (a genre "A\\B" was labelled "A\B",
     * and "x\ny" in two lines); a quote, which would end the string (\"
     * too, before some characters), becomes an apostrophe. */
    fputs("# row value name\n", c.df);
    for (int b = 0; b < n; b++) {
        fprintf(c.df, "%d %.17g \"", n - 1 - b, values[b]);
        for (const char *q = names[b]; *q; q++) {
            if (*q == '\\') fputc('\\', c.df);
            fputc(*q == '"' ? '\'' : (unsigned char)*q < 0x20 ? ' ' : *q, c.df);
        }
        fputs("\"\n", c.df);
    }
    /* Room right of each bar for its label: an autoscaled axis can end at
     * the longest bar (1000 on an axis to 1000), whose label then fell
     * off the picture. A label's character is about 1/110 of the axis. */
    double top = 0;
    for (int b = 0; b < n; b++) {
        char label[64];
        int chars = snprintf(label, sizeof label, " %g", values[b]);
        if (isfinite(values[b]) && values[b] > 0) top = fmax(top, values[b] / (1 - (chars + 2) / 110.0));
    }
    fprintf(c.sf, "set yrange [-0.6:%d.4]\nset xrange [0:%.17g]\nunset ytics\nset ytics scale 0\n"
                  "set grid noytics\nset style fill solid 0.8 border lc rgb '#1f4e79'\nunset key\n",
            n - 1, top > 0 ? top : 1);
    /* counts: whole-number tics (bars of 1 and 2 were ticked 0.5, 1, 1.5) */
    if (all_whole(n, values)) fprintf(c.sf, "set xtics %.17g\n", whole_tic_step(top > 0 ? top : 1));
    /* One clause per bar, titled with its name (no key is drawn), so that
     * each bar has its category's colour, as in the scatter plots. */
    for (int b = 0; b < (styles ? n : 1); b++) {
        fprintf(c.sf, "%s'%s.dat' ", b ? ", \\\n     " : "plot ", name);
        if (styles) fprintf(c.sf, "every ::%d::%d ", b, b);
        fprintf(c.sf, "using (0.5*$2):1:(0.5*$2):(0.38):ytic(3) with boxxyerror lc rgb '%s' ",
                style_colour(styles ? styles[b] : 0));
        /* past the palette a colour repeats (a dataset's own genres): a
         * hatch tells the bar from the first one of that colour, as a
         * point type does in the scatter plots */
        if (styles && styles[b] >= (int32_t)N_PALETTE)
            fprintf(c.sf, "fs pattern %d border lc rgb '#1f4e79' ", 4 + (int)((size_t)styles[b] / N_PALETTE - 1) % 4);
        fputs("title ", c.sf);
        put_str(c.sf, styles ? names[b] : "");
    }
    fputs(", \\\n     '' using 2:1:(sprintf(' %g', $2)) with labels left font ',9' notitle\n", c.sf);
    rc = chart_render(&c, name, w, h);
done:
    chart_free(&c);
    return rc;
}

int plot_lines(const char *dir, const char *name, const struct plot_labels *lab, int64_t n,
               const double *x, int n_series, const struct plot_series *series, bool log_y)
{
    const int w = CHART_W, h = CHART_H;
    bool positive = true;
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int64_t r = 0; r < n; r++) {
        xlo = fmin(xlo, x[r]), xhi = fmax(xhi, x[r]);
        for (int s = 0; s < n_series; s++) {
            const double v = series[s].y[r];
            if (!isfinite(v)) continue;
            positive = positive && v > 0;
            ylo = fmin(ylo, v), yhi = fmax(yhi, v);
        }
    }
    if (!(ylo <= yhi)) return runtime_error("nothing to draw in %s/%s: no finite values", dir, name);
    /* a log axis only where the values span a decade or more (the y label
     * then says so): gnuplot widens a log axis to whole decades, which
     * drew MSEs of 6.8-13.5 on 1-100, flat across the chart's bottom half */
    log_y = log_y && positive && yhi >= 10 * ylo;
    char ylabel[256];
    struct plot_labels with_scale = lab ? *lab : (struct plot_labels){0};
    if (log_y && with_scale.ylabel) {
        snprintf(ylabel, sizeof ylabel, "%s (log scale)", with_scale.ylabel);
        with_scale.ylabel = ylabel;
    }
    struct chart c;
    int rc = chart_open(&c, dir, name, &with_scale, w, h);
    if (rc != EXIT_OK) goto done;
    fputs("# x", c.df);
    for (int s = 0; s < n_series; s++) fprintf(c.df, "\t%s", series[s].name);
    fputc('\n', c.df);
    for (int64_t r = 0; r < n; r++) {
        fprintf(c.df, "%.17g", x[r]);
        for (int s = 0; s < n_series; s++) {
            const double v = series[s].y[r];
            /* NaN is undefined for gnuplot: a gap in the line */
            if (isfinite(v)) fprintf(c.df, " %.17g", v);
            else fputs(" NaN", c.df);
        }
        fputc('\n', c.df);
    }
    if (log_y) fputs("set logscale y\nset format y '%g'\n", c.sf);
    /* one x or one y value (a single logged epoch): a range around it,
     * which gnuplot would otherwise widen itself with a warning */
    if (xlo == xhi) fprintf(c.sf, "set xrange [%.17g:%.17g]\n", xlo - 1, xhi + 1);
    /* Whole-number x (epochs, threads, dimensions): whole-number tics, at
     * most about ten; gnuplot's own steps go down to 0.5 or 0.2 on a short
     * range (epochs 1..3 were ticked 1, 1.5, 2, 2.5, 3). */
    if (all_whole(n, x)) {
        fprintf(c.sf, "set xtics %.17g\n", whole_tic_step(xlo == xhi ? 2 : xhi - xlo));
    }
    if (ylo == yhi) {
        const double d = ylo != 0 ? fabs(ylo) / 2 : 1;
        fprintf(c.sf, "set yrange [%.17g:%.17g]\n", ylo - d, yhi + d);
    }
    /* the key under the plot, where no line runs: inside it, a corner
     * chosen by where the lines end was crossed by a line that ended low
     * beside one that ended high (accurate's loss components, the sweep's
     * speedup against its ideal line) */
    /* each line's sample before its title (`reverse`): in a row of them a
     * sample sat between two titles, as near to the next as its own */
    fputs("set key below horizontal Left reverse samplen 2 width 2\nset xlabel offset 0,-0.3\n", c.sf);
    for (int s = 0, colour = 0; s < n_series; s++) {
        fputs(s == 0 ? "plot " : ", \\\n     ", c.sf);
        /* Few points (logged epochs): mark each one. */
        if (series[s].reference)
            fprintf(c.sf, "'%s.dat' using 1:%d with lines lw 2 dt 2 lc rgb '#404040' title ", name, s + 2);
        else
            fprintf(c.sf, "'%s.dat' using 1:%d with %s lw 2 lc rgb '%s' title ", name, s + 2,
                    n <= 40 ? "linespoints pt 7 ps 0.8" : "lines", palette[colour++ % N_PALETTE]);
        put_str(c.sf, series[s].name);
    }
    fputc('\n', c.sf);
    rc = chart_render(&c, name, w, h);
done:
    chart_free(&c);
    return rc;
}

int plot_learning_curves(const char *dir, int n, const long *epoch, const double *train_mse,
                         const double *val_mse, const char *title)
{
    if (n < 1) return runtime_error("no learning-curve points to draw in %s", dir);
    int rc = ensure_dir(dir);
    if (rc != EXIT_OK) return rc;
    double *x = malloc((size_t)n * sizeof *x);
    if (!x) return runtime_error("out of memory");
    for (int e = 0; e < n; e++) x[e] = (double)epoch[e];
    struct plot_series series[2] = {{.name = "train MSE", .y = train_mse}, {.name = "validation MSE", .y = val_mse}};
    struct plot_labels lab = {title ? title : "Learning curves", "epoch", "MSE"};
    rc = plot_lines(dir, "learning_curve", &lab, n, x, val_mse ? 2 : 1, series, true);
    free(x);
    return rc;
}
