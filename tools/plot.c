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
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "plot.h"

/* 20 distinguishable colours (matplotlib's tab10, then its light tab20 half). */
static const char *const palette[] = {
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    "#7f7f7f", "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896",
    "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
};
#define N_PALETTE (sizeof palette / sizeof *palette)
#define OTHER_COLOUR "#b0b0b0"

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

/* Runs `gnuplot NAME.gp` inside dir, stdout to /dev/null (its errors go to
 * our stderr). EXIT_OK when it exits 0. */
static int run_gnuplot(const char *gnuplot, const char *dir, const char *script)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return runtime_error("cannot start gnuplot: %s", strerror(errno));
    if (pid == 0) {
        if (chdir(dir) != 0) _exit(126);
        FILE *devnull = freopen("/dev/null", "w", stdout);
        (void)devnull;
        char *argv[] = {(char *)"gnuplot", (char *)script, NULL};
        execv(gnuplot, argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return runtime_error("waiting for gnuplot: %s", strerror(errno));
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return EXIT_OK;
    if (WIFEXITED(st))
        return runtime_error("gnuplot failed (exit status %d) on %s/%s", WEXITSTATUS(st), dir,
                             script);
    return runtime_error("gnuplot was killed by signal %d on %s/%s", WTERMSIG(st), dir, script);
}

/* ------------------------------------------------------------------ */
/* One chart: its four files                                            */
/* ------------------------------------------------------------------ */

struct chart {
    const char *dir;
    char gnuplot[4096];
    char *dat, *gp, *png, *svg; /* full paths */
    char *gp_name;              /* "NAME.gp", relative to dir */
    FILE *df, *sf;              /* data and script while being written */
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

/* Writes a gnuplot single-quoted string: '' is a quote, control
 * characters become spaces. */
static void put_str(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; s && *s; s++) {
        if (*s == '\'') fputs("''", f);
        else fputc((unsigned char)*s < 0x20 ? ' ' : *s, f);
    }
    fputc('\'', f);
}

/* Checks for gnuplot, opens DIR/NAME.dat and DIR/NAME.gp and writes the
 * script's preamble: encoding, labels, grid, the PNG terminal and output. */
static int chart_open(struct chart *c, const char *dir, const char *name,
                      const struct plot_labels *lab, int width, int height)
{
    memset(c, 0, sizeof *c);
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
    c->df = fopen(c->dat, "w");
    if (!c->df) return runtime_error("cannot write %s: %s", c->dat, strerror(errno));
    c->sf = fopen(c->gp, "w");
    if (!c->sf) return runtime_error("cannot write %s: %s", c->gp, strerror(errno));
    /* A stale picture must not pass for a fresh one. */
    unlink(c->png);
    unlink(c->svg);

    FILE *f = c->sf;
    fprintf(f, "# %s.gp: written by mfrec; re-render with `gnuplot %s.gp` in this directory.\n",
            name, name);
    fputs("set encoding utf8\n", f);
    fprintf(f, "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
               "    set terminal pngcairo size %d,%d font 'Sans,11' noenhanced\n"
               "} else {\n"
               "    set terminal png size %d,%d noenhanced\n"
               "}\n",
            width, height, width, height);
    fprintf(f, "set output '%s.png'\n", name);
    if (lab && lab->title) { fputs("set title ", f); put_str(f, lab->title); fputs(" noenhanced\n", f); }
    if (lab && lab->xlabel) { fputs("set xlabel ", f); put_str(f, lab->xlabel); fputs(" noenhanced\n", f); }
    if (lab && lab->ylabel) { fputs("set ylabel ", f); put_str(f, lab->ylabel); fputs(" noenhanced\n", f); }
    fputs("set grid lc rgb '#d0d0d0'\nset border lc rgb '#404040'\n", f);
    return EXIT_OK;
}

/* Finishes the script (the SVG copy of the plot), runs gnuplot and checks
 * that both pictures exist and are not empty. */
static int chart_render(struct chart *c, const char *name, int width, int height)
{
    FILE *f = c->sf;
    fprintf(f, "set terminal svg size %d,%d font 'Sans,12' background rgb 'white' noenhanced\n",
            width, height);
    fprintf(f, "set output '%s.svg'\nreplot\nunset output\n", name);
    bool dat_ok = !ferror(c->df), gp_ok = !ferror(c->sf);
    dat_ok = fclose(c->df) == 0 && dat_ok;
    gp_ok = fclose(c->sf) == 0 && gp_ok;
    c->df = c->sf = NULL;
    if (!dat_ok) return runtime_error("cannot write %s", c->dat);
    if (!gp_ok) return runtime_error("cannot write %s", c->gp);
    int rc = run_gnuplot(c->gnuplot, c->dir, c->gp_name);
    if (rc != EXIT_OK) return rc;
    const char *pics[2] = {c->png, c->svg};
    for (int p = 0; p < 2; p++) {
        struct stat st;
        if (stat(pics[p], &st) != 0 || st.st_size == 0)
            return runtime_error("gnuplot did not write %s (see %s)", pics[p], c->gp);
    }
    return EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* Chart types                                                          */
/* ------------------------------------------------------------------ */

int64_t hist_bins(int64_t n, const double *values, int n_bins, double *edges, int64_t *counts)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t r = 0; r < n; r++)
        if (isfinite(values[r])) {
            if (values[r] < lo) lo = values[r];
            if (values[r] > hi) hi = values[r];
        }
    if (lo > hi) {
        lo = 0;
        hi = 1;
    } else if (lo == hi) {
        lo -= 0.5;
        hi += 0.5;
    }
    /* Whole numbers (counts) get whole-number bins [lo + bw, lo + (b+1)w)
     * when there are enough of them, so that no bin straddles a value. */
    bool whole = true;
    for (int64_t r = 0; r < n && whole; r++)
        if (isfinite(values[r]) && values[r] != floor(values[r])) whole = false;
    if (whole && hi - lo + 1 >= n_bins && hi - lo < 1e15)
        hi = lo + ceil((hi - lo + 1) / n_bins) * n_bins;
    double width = (hi - lo) / n_bins;
    for (int b = 0; b <= n_bins; b++) edges[b] = b == n_bins ? hi : lo + width * b;
    for (int b = 0; b < n_bins; b++) counts[b] = 0;
    int64_t counted = 0;
    for (int64_t r = 0; r < n; r++) {
        if (!isfinite(values[r])) continue;
        int64_t b = (int64_t)((values[r] - lo) / width);
        if (b >= n_bins) b = n_bins - 1;
        if (b < 0) b = 0;
        counts[b]++;
        counted++;
    }
    return counted;
}

int plot_histogram(const char *dir, const char *name, const struct plot_labels *lab, int n_bins,
                   const double *edges, const int64_t *counts)
{
    const int w = 900, h = 600;
    struct chart c;
    int rc = chart_open(&c, dir, name, lab, w, h);
    if (rc != EXIT_OK) goto done;
    fputs("# bin_lo bin_hi count\n", c.df);
    for (int b = 0; b < n_bins; b++)
        fprintf(c.df, "%.17g %.17g %lld\n", edges[b], edges[b + 1], (long long)counts[b]);
    fprintf(c.sf, "set xrange [%.17g:%.17g]\nset yrange [0:*]\n", edges[0], edges[n_bins]);
    fprintf(c.sf,
            "set style fill solid 0.75 border lc rgb '#1f4e79'\n"
            "plot '%s.dat' using (($1+$2)/2):3:($2-$1) with boxes lc rgb '#4c78a8' notitle\n",
            name);
    rc = chart_render(&c, name, w, h);
done:
    chart_free(&c);
    return rc;
}

int plot_scatter(const char *dir, const char *name, const struct plot_labels *lab, int64_t n,
                 const double *x, const double *y, const int32_t *category, int n_categories,
                 const char *const *category_names)
{
    const int w = 1100, h = 750;
    struct chart c;
    int rc = chart_open(&c, dir, name, lab, w, h);
    if (rc != EXIT_OK) goto done;
    /* One data block per non-empty category (gnuplot's `index`), then the
     * points of no listed category as "other". */
    int block = 0;
    fputs("set key outside right top vertical Left reverse samplen 1\n", c.sf);
    for (int cat = 0; cat <= n_categories; cat++) {
        bool other = cat == n_categories;
        int64_t count = 0;
        for (int64_t r = 0; r < n; r++) {
            bool in = other ? (category[r] < 0 || category[r] >= n_categories) : category[r] == cat;
            if (!in || !isfinite(x[r]) || !isfinite(y[r])) continue;
            if (count == 0) fprintf(c.df, "# %s\n", other ? "other" : category_names[cat]);
            fprintf(c.df, "%.17g %.17g\n", x[r], y[r]);
            count++;
        }
        if (count == 0) continue;
        fputs("\n\n", c.df);
        fputs(block == 0 ? "plot " : ", \\\n     ", c.sf);
        fprintf(c.sf, "'%s.dat' index %d using 1:2 with points pt 7 ps 0.6 lc rgb '%s' title ", name,
                block, other ? OTHER_COLOUR : palette[cat % N_PALETTE]);
        put_str(c.sf, other ? "other" : category_names[cat]);
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

int plot_lines(const char *dir, const char *name, const struct plot_labels *lab, int64_t n,
               const double *x, int n_series, const struct plot_series *series, bool log_y)
{
    const int w = 900, h = 600;
    struct chart c;
    int rc = chart_open(&c, dir, name, lab, w, h);
    if (rc != EXIT_OK) goto done;
    bool positive = true, any = false;
    fputs("# x", c.df);
    for (int s = 0; s < n_series; s++) fprintf(c.df, "\t%s", series[s].name);
    fputc('\n', c.df);
    for (int64_t r = 0; r < n; r++) {
        fprintf(c.df, "%.17g", x[r]);
        for (int s = 0; s < n_series; s++) {
            double v = series[s].y[r];
            if (isfinite(v)) {
                fprintf(c.df, " %.17g", v);
                positive = positive && v > 0;
                any = true;
            } else {
                fputs(" NaN", c.df); /* undefined for gnuplot: a gap in the line */
            }
        }
        fputc('\n', c.df);
    }
    if (!any) {
        rc = runtime_error("nothing to draw in %s/%s: no finite values", dir, name);
        goto done;
    }
    if (log_y && positive) fputs("set logscale y\nset format y '%g'\n", c.sf);
    fputs("set key top right\n", c.sf);
    for (int s = 0; s < n_series; s++) {
        fputs(s == 0 ? "plot " : ", \\\n     ", c.sf);
        fprintf(c.sf, "'%s.dat' using 1:%d with lines lw 2 lc rgb '%s' title ", name, s + 2,
                palette[s % N_PALETTE]);
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
    struct plot_series series[2] = {{"train MSE", train_mse}, {"validation MSE", val_mse}};
    struct plot_labels lab = {title ? title : "Learning curves", "epoch", "MSE (log scale)"};
    bool positive = true;
    for (int e = 0; e < n; e++) {
        if (isfinite(train_mse[e]) && train_mse[e] <= 0) positive = false;
        if (val_mse && isfinite(val_mse[e]) && val_mse[e] <= 0) positive = false;
    }
    if (!positive) lab.ylabel = "MSE";
    rc = plot_lines(dir, "learning_curve", &lab, n, x, val_mse ? 2 : 1, series, true);
    free(x);
    return rc;
}
