/*
 * plot.h — charts for the mfrec tool, drawn by gnuplot (tools/ only).
 *
 * Every chart NAME is written into a directory DIR as four files:
 * DIR/NAME.png and DIR/NAME.svg (the pictures), DIR/NAME.dat (the data)
 * and DIR/NAME.gp (the gnuplot script, which re-renders both pictures with
 * `cd DIR && gnuplot NAME.gp`, e.g. after editing a colour or a label).
 * A scatter chart of more points than MFREC_SVG_MAX_POINTS (100,000 unless
 * set) draws its SVG only when asked (`gnuplot -e svg=1 NAME.gp`).
 * PNG uses the pngcairo terminal when gnuplot has it, else png; SVG uses
 * svg. Numbers are printed with %.17g, so the data files are exact and the
 * same under any locale (the tool never calls setlocale).
 *
 * Errors: every function returns EXIT_OK, or prints "mfrec CMD: error: ..."
 * and returns EXIT_RUNTIME (cli.h) when gnuplot is not on PATH, a file
 * cannot be written, gnuplot fails, or a picture is missing or empty
 * afterwards. DIR must exist (ensure_dir).
 */
#ifndef MFR_PLOT_H
#define MFR_PLOT_H

#include <stdbool.h>
#include <stdint.h>

/* Texts of a chart; any field may be NULL for none. UTF-8, shown verbatim
 * (no gnuplot "enhanced" markup: underscores stay underscores); '\n'
 * starts a new line; a byte that is not UTF-8 (a Latin-1 path's) is
 * drawn as U+FFFD, since the scripts and SVG files are UTF-8. */
struct plot_labels {
    const char *title;
    const char *xlabel;
    const char *ylabel;
};

/* True when an executable `gnuplot` is on PATH. */
bool plot_available(void);

/* What --plot needs before the command loads anything: gnuplot on PATH
 * and a valid MFREC_SVG_MAX_POINTS. EXIT_OK or a printed error. */
int plot_preflight(void);

/* The output checks of `--plot DIR` (io_check.c), before the command's
 * work: DIR is a writable directory (or can be made in
 * one), and each file of the charts named in the NULL-terminated list
 * (NAME.dat, .gp, .png, .svg) is new or a regular file that is neither an
 * input nor another output of the run. EXIT_OK or a printed error. Each
 * chart checks its files again when it is drawn. After plot_preflight,
 * which read MFREC_SVG_MAX_POINTS. */
int plot_outputs_check(const char *dir, const char *const *charts);

/* A command's charts appear together or not at all: after
 * plot_stage_begin(DIR), the charts drawn in DIR are written into a
 * temporary directory inside it (stage_open), and plot_stage_end(rc) moves
 * them into DIR when rc is EXIT_OK, else removes them (and DIR, if it was
 * made for them); it returns the final status. A failed write then leaves
 * no truncated data file, script or picture, and no older chart replaced. */
int plot_stage_begin(const char *dir);
int plot_stage_end(int rc);
/* plot_stage_end with `report` (NULL: none) printed to standard output, with
 * all printed before, once the charts' paths are checked and before they
 * move (stage_commit): a failed write of either leaves no chart. */
int plot_stage_end_report(int rc, const char *report);
/* The first half of plot_stage_end (stage_swap): the charts move into
 * DIR, the files they replace kept aside, so that the command can commit
 * its other outputs (pending_commit) before plot_stage_end keeps the set,
 * or puts DIR back when rc is not EXIT_OK, with no allocation. */
int plot_stage_swap(int rc);
/* The end of a run whose charts go with other outputs (pending_file, in
 * cli.h), all or none: the charts move in (plot_stage_swap), then each
 * file, then `report` (NULL: none) is printed and flushed; when any step
 * fails, the files and the charts are put back as they were. With no
 * stage open, the files alone. Brackets itself with exit_signals_defer;
 * returns the final status. */
struct pending_file;
int plot_stage_end_files(int rc, const char *report, struct pending_file *files, int n);
/* A training run's outputs, all or none: --plot's charts (draw, into a
 * stage opened first, so that a chart gnuplot cannot draw fails the run
 * with nothing written), the model (--out) and --log-json (jl's text),
 * written under temporary names and committed together
 * (plot_stage_end_files), under stop_signals_saving and exit_signals_defer
 * so that no signal leaves a temporary file. after_save, when not NULL,
 * runs once the model is written and before the log is: it reads the
 * times spent (plots_s, save_s) and may add the log's last records. When
 * the charts fail, a model left unsaved is said on stderr. Returns the
 * final status. */
struct json_log;
struct train_outputs {
    const struct mfr_model *model;
    const char *out, *plot, *log_json;
    struct json_log *jl;
    void *ctx;
    int (*draw)(void *ctx);
    int (*after_save)(void *ctx, const struct train_outputs *t);
    double plots_s, save_s; /* set before after_save runs */
};
int train_outputs_commit(struct train_outputs *t);
/* The open stage's final paths checked (stage_check), nothing moved. */
int plot_stage_check(void);

/* False when chart NAME, drawn in this stage, has more points than an SVG
 * holds comfortably (100,000: about 11 MB): its script draws the SVG only
 * when asked (`gnuplot -e svg=1 NAME.gp`), an earlier run's NAME.svg goes
 * with the commit, and plot_stage_end notes it on standard error. */
bool plot_svg_drawn(const char *name);

/*
 * Counts the finite values among values[0..n) into n_bins >= 1 equal-width
 * bins spanning their minimum to their maximum; a bin holds the values
 * from its lower edge up to (excluding) its upper edge, the maximum falls
 * into the last bin. When the values are counts (`of_counts`), every one
 * a whole number, and the range has at least n_bins of them, the bins are
 * whole numbers wide and the last edge may pass the maximum. When all values are equal the range is
 * value -+ 0.5, or [value, value + 1] for `of_counts` (the values are
 * counts, such as ratings per user: a count's bin starts at it); when
 * there is no finite value, 0..1. Fills edges[0..n_bins] and
 * counts[0..n_bins); returns the number of values counted.
 */
int64_t hist_bins(int64_t n, const double *values, int n_bins, bool of_counts, double *edges, int64_t *counts);

/* What norms --plot and project --plot refuse alike: a histogram of the
 * movies' embedding norms[0..n), n >= 1, of which none is finite (every
 * one overflowed a float), where hist_bins would invent the bins 0..1 and
 * count nothing. EXIT_OK when one is finite, else a printed error naming
 * the movies as `which` ("listed", "selected"). */
int plot_norms_check(int64_t n, const double *norms, const char *which);

/* A histogram as bars: bin b spans edges[b]..edges[b+1] with height
 * counts[b]. With log_y the count axis is logarithmic (for long-tailed
 * counts: its label should say so), empty bins drawn as nothing. */
int plot_histogram(const char *dir, const char *name, const struct plot_labels *lab, int n_bins,
                   const double *edges, const int64_t *counts, bool log_y);

/* A style drawn in the light grey of "other" (points, bars), not a colour
 * of the palette: the movies outside --genre's. */
#define PLOT_STYLE_OTHER (-1)

/*
 * The style of each genre names[g], g < n, for plot_scatter, its panels and
 * plot_bars: the same in every chart and every command, whatever the
 * movies shown. The MovieLens genres have fixed styles, the biggest first
 * (ML-100K's sizes: Drama 0, Comedy 1, Action 2, Thriller 3, Romance 4,
 * ...), "Children" as "Children's", IMAX (ML-10M on) the nineteenth.
 * "(no genres listed)" and ML-100K's "unknown" are no genre:
 * PLOT_STYLE_OTHER (plot_genre_is_none). Other names (a dataset's own
 * genres) follow from style 19 in the order given.
 */
void plot_genre_styles(int n, const char *const *names, int32_t *styles);

/* True for "(no genres listed)", which MovieLens' CSV releases give a
 * movie without genres, and for "unknown", ML-100K's genre of the movies
 * whose genres are not known (movies 267 and 1373): the genre charts
 * leave it out or draw it grey as "no genres", never as a genre. */
bool plot_genre_is_none(const char *name);

/*
 * A scatter plot of the points (x[r], y[r]), r < n, coloured by
 * category[r] in 0..n_categories-1 (a point with another value is drawn in
 * grey as "other"), with a legend of category_names (none for a single
 * category). Category c is drawn in style styles[c] (NULL: style c):
 * style s has the s % 19-th colour of a palette made for categories
 * (Okabe-Ito without its yellow, then Kelly's colours of maximum
 * contrast) and, past nineteen, another point type; PLOT_STYLE_OTHER is
 * grey. Give the biggest categories the first styles (genres:
 * plot_genre_styles). Categories are drawn in index order, so later ones
 * lie on top, those in PLOT_STYLE_OTHER first, under all others; empty
 * ones get no legend entry. With log_x the x axis is logarithmic and points with
 * x <= 0 are left out. DIR/NAME.dat holds one block per drawn category,
 * headed "# NAME", of "x y" lines.
 */
int plot_scatter(const char *dir, const char *name, const struct plot_labels *lab, int64_t n,
                 const double *x, const double *y, const int32_t *category, int n_categories,
                 const char *const *category_names, const int32_t *styles, bool log_x);

/*
 * Small multiples: one panel per p < n_panels (four to a row), each
 * showing every point in light grey and, on top, the points r with
 * member[p * n + r] != 0 in panel p's colour (style styles[p], NULL:
 * style p, as plot_scatter's), titled "panel_names[p]
 * (count)". lab->title heads the whole picture; the axes are shared in
 * meaning but not labelled (the panels are small). DIR/NAME.dat holds the
 * block of all points, then one block per panel ("NaN NaN" when empty).
 */
int plot_scatter_panels(const char *dir, const char *name, const struct plot_labels *lab, int64_t n,
                        const double *x, const double *y, int n_panels, const uint8_t *member,
                        const char *const *panel_names, const int32_t *styles);

/*
 * Horizontal bars, names[0] on top, each labelled with its value (the x
 * axis reaches past the longest bar far enough for its label), bar b in
 * the colour of style styles[b] (as plot_scatter's; NULL: all in the
 * first colour). DIR/NAME.dat has one "row value \"name\"" line per bar
 * (row n-1 first).
 */
int plot_bars(const char *dir, const char *name, const struct plot_labels *lab, int n,
              const char *const *names, const double *values, const int32_t *styles);

/* One curve of a line chart: y[0..n) against the chart's shared x. */
struct plot_series {
    const char *name; /* legend entry */
    const double *y;  /* non-finite values leave a gap */
    bool reference;   /* a line to compare with (an ideal): dashed dark grey, no palette colour */
};

/*
 * A line chart of n_series curves over the shared x[0..n), its key under
 * the plot. With log_y the y axis is logarithmic when every finite y value
 * is positive and they span a decade or more (else linear: gnuplot widens a
 * log axis to whole decades); the y label then ends in " (log scale)".
 * When every x is a whole number (epochs, threads) the x tics are too.
 */
int plot_lines(const char *dir, const char *name, const struct plot_labels *lab, int64_t n,
               const double *x, int n_series, const struct plot_series *series, bool log_y);

/*
 * The learning curves of `mfrec train --plot DIR`: DIR/learning_curve.png
 * and .svg (plus .dat and .gp), training MSE and, when val_mse is not
 * NULL, validation MSE against epoch[0..n), on a logarithmic MSE axis
 * where the MSEs span a decade (as plot_lines). `title` may be NULL
 * ("Learning curves").
 * Creates DIR when missing (one level).
 */
int plot_learning_curves(const char *dir, int n, const long *epoch, const double *train_mse,
                         const double *val_mse, const char *title);

#endif
