/*
 * cmd_project.c — `mfrec project`: pictures of a trained model's movie
 * space. The movie embeddings are projected on their first two principal
 * axes (mfr_pca_compute: exact and deterministic, see src/rec/analysis.c), or
 * mapped by t-SNE (--method tsne), and drawn coloured by genre, with a
 * histogram of the embedding norms; for PCA the text output names the
 * variance each axis explains and the movies at both ends of each axis,
 * which is how one reads what an axis means (t-SNE's axes mean nothing).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cli.h"
#include "movie_list.h"
#include "output.h"
#include "plot.h"

static const char project_help[] =
    "Usage: mfrec project --model MODEL [--data DIR] [--plot DIR] [--genre NAME]\n"
    "                     [--min-ratings N] [--out FILE] [--top N] [--bins N]\n"
    "                     [--method pca|tsne] [--perplexity P] [--iterations N] [--seed S]\n"
    "\n"
    "Projects the movie embeddings of a model on their two principal axes (PCA\n"
    "of the k x k covariance, computed exactly and deterministically) and prints\n"
    "the variance each axis explains, the movies at both ends of each axis (id,\n"
    "training ratings and title, as every list of movies) and a summary of the\n"
    "embedding norms.\n"
    "\n";

static const char project_help_end[] =
    "\n"
    "A projection needs two or more movies: fewer with --min-ratings N\n"
    "training ratings is an error (exit 1), where the lists of recommend,\n"
    "similar and norms say \"no movie qualifies\" (similar: \"no other movie\n"
    "qualifies\").\n"
    "Each end lists at most half of the movies, so that the lowest and highest\n"
    "lists never share one (said when --top is cut). An axis along which the\n"
    "movies do not vary (identical embeddings, or all on a line: PC2) has no\n"
    "ends to list, and neither do norms that are all equal: the report says so.\n"
    "A norm that overflows a float (inf, as norms lists it) is left out of\n"
    "the summary's mean, min and max and counted there; when no norm is\n"
    "finite, --plot is an error (no histogram to draw), as in norms.\n"
    "Exit status: 0 ok, 1 runtime error, 2 usage error.\n";

/* Index of the lowest set genre bit, or -1 without genres. */
static int32_t first_genre(uint32_t bits, int32_t n_genres)
{
    for (int32_t g = 0; g < n_genres; g++)
        if ((bits >> g) & 1u) return g;
    return -1;
}

/* Sorts item indices by a coordinate (ties by index, so stable output). */
static const double *g_key; /* qsort has no context argument in C17 */
static int cmp_by_key(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (g_key[x] != g_key[y]) return g_key[x] < g_key[y] ? -1 : 1;
    return (x > y) - (x < y);
}

/* Prints the `top` movies with the lowest and the highest key; key and
 * order are over the n selected movies, items[] maps them to item indices.
 * Each row gives the key (column `col`), the movie's id and its training
 * ratings (counts, by item), as every list of movies does, then the title. */
static void print_ends(const mfr_dataset *ds, const char *what, const char *col, const double *key,
                       const int32_t *items, const int64_t *counts, int32_t *order, int32_t n, int top)
{
    char buf[64], num[32];
    for (int32_t x = 0; x < n; x++) order[x] = x;
    g_key = key;
    qsort(order, (size_t)n, sizeof *order, cmp_by_key);
    if (top > n) top = n;
    for (int side = 0; side < 2; side++) {
        printf(side ? "%s, highest:\n" : "\n%s, lowest:\n", what);
        printf("  %9s  %7s  %7s  %s\n", col, "movie", "ratings", "title");
        for (int x = 0; x < top; x++) {
            int32_t o = side ? order[n - 1 - x] : order[x], i = items[o];
            printf("  %9s  %7lld  %7lld  %s\n", table_num(key[o], num), (long long)mfr_dataset_item_id(ds, i),
                   (long long)counts[i], item_title(ds, i, buf, sizeof buf));
        }
    }
}

/* A tab, then v with 9 significant digits, or nothing when v is not
 * finite: a norm that overflowed is an empty field, as in norms --csv and
 * every list's CSV (a reader takes it as missing; "inf" it was). */
static void tsv_num(struct json_log *t, double v)
{
    if (isfinite(v)) jlog_printf(t, "\t%.9g", v);
    else jlog_printf(t, "\t");
}

/* Writes the coordinate table (TSV with a header) to path's temporary
 * file f, committed with the charts (plot_stage_end_files). */
static int write_coords(const char *path, const mfr_dataset *ds, int32_t n, const int32_t *items,
                        const double *x, const double *y, const double *norm,
                        const int32_t *genre_of, const int64_t *n_ratings, bool tsne, struct pending_file *f)
{
    struct json_log t = {0};
    /* "movie" and "ratings" (training ratings) as in every other list */
    jlog_printf(&t, "movie\ttitle\tgenre\t%s\tnorm\tratings\n", tsne ? "tsne1\ttsne2" : "pc1\tpc2");
    for (int32_t row = 0; row < n; row++) {
        int32_t i = items[row];
        jlog_printf(&t, "%lld\t", (long long)mfr_dataset_item_id(ds, i));
        tsv_field(&t, mfr_dataset_item_title(ds, i)); /* empty: untitled */
        jlog_printf(&t, "\t%s", genre_of[i] >= 0 ? mfr_dataset_genre_name(ds, genre_of[i]) : "");
        tsv_num(&t, x[row]);
        tsv_num(&t, y[row]);
        tsv_num(&t, norm[i]);
        jlog_printf(&t, "\t%lld\n", (long long)n_ratings[i]);
    }
    int rc = jlog_pending(f, path, &t);
    free(t.buf);
    return rc;
}

struct project_opts {
    const char *model_path, *data, *plot_dir, *genre, *out, *method;
    int32_t top, bins;
    int64_t min_ratings; /* at least this many training ratings */
    mfr_tsne_options topt;
    bool tsne;
    bool perplexity_given; /* --perplexity was given (not its default) */
};

/* The selected movies and their picture. Arrays of n entries are indexed
 * by item; those of n_sel entries by selected movie (items[] maps them). */
struct projection {
    int32_t n, k, n_genres, n_sel, n_comp, n_categories;
    int32_t chosen; /* --genre's index, or -1 */
    double *norm, *sel_norm, *x, *y, *edges, *coords;
    int64_t *counts, *n_ratings;
    int32_t *category, *genre_of, *order, *items;
    int32_t *style; /* each genre's colour (plot_scatter's style): by size */
    float *vectors;
    const char **names; /* category names */
    mfr_pca *pca;       /* PCA only; coords then point into it */
    double kl, seconds; /* t-SNE only */
    double explained2;  /* PC2's share of the variance (0 without it) */
};

static void projection_free(struct projection *p)
{
    free(p->norm);
    free(p->sel_norm);
    free(p->n_ratings);
    free(p->items);
    free(p->vectors);
    free(p->x);
    free(p->y);
    free(p->edges);
    free(p->counts);
    free(p->category);
    free(p->genre_of);
    free(p->style);
    free(p->order);
    free(p->names);
    if (!p->pca || p->coords != p->pca->coords) free(p->coords);
    mfr_pca_destroy(p->pca);
}

/* --genre NAME's index into *chosen (-1 without --genre), or an error
 * listing the dataset's genres: a runtime error (exit 1), as for an
 * unknown --user or --movie, since the names come from the data. */
static int find_genre(const mfr_dataset *ds, const char *genre, int32_t *chosen)
{
    const int32_t n_genres = mfr_dataset_n_genres(ds);
    *chosen = -1;
    if (!genre) return EXIT_OK;
    for (int32_t g = 0; g < n_genres && *chosen < 0; g++)
        if (!strcasecmp(genre, mfr_dataset_genre_name(ds, g))) *chosen = g;
    if (*chosen >= 0) return EXIT_OK;
    if (n_genres == 0) /* no list of genres to offer: a rating file without movie data */
        return runtime_error("--genre: %s has no genres (no movie data with genres)", data_name(ds));
    /* one line: the genres known are part of the error */
    size_t len = 1;
    for (int32_t g = 0; g < n_genres; g++) len += strlen(mfr_dataset_genre_name(ds, g)) + 4;
    char *known = malloc(len);
    if (!known) return runtime_error("out of memory");
    size_t at = 0;
    for (int32_t g = 0; g < n_genres; g++)
        at += (size_t)snprintf(known + at, len - at, "%s'%s'", g ? ", " : "", mfr_dataset_genre_name(ds, g));
    int rc = runtime_error("--genre: no genre named '%s' in %s; known genres: %s", genre, data_name(ds), known);
    free(known);
    return rc;
}

static bool projection_alloc(struct projection *p, size_t n, size_t k, size_t n_genres, size_t bins)
{
    p->norm = calloc(n, sizeof *p->norm);
    p->sel_norm = calloc(n, sizeof *p->sel_norm);
    p->n_ratings = calloc(n, sizeof *p->n_ratings);
    p->x = calloc(n, sizeof *p->x);
    p->y = calloc(n, sizeof *p->y);
    p->category = calloc(n, sizeof *p->category);
    p->genre_of = calloc(n, sizeof *p->genre_of);
    p->order = calloc(n, sizeof *p->order);
    p->items = calloc(n, sizeof *p->items);
    p->vectors = calloc(n * k, sizeof *p->vectors);
    p->names = calloc(n_genres + 2, sizeof *p->names);
    p->style = calloc(n_genres + 2, sizeof *p->style);
    p->edges = calloc(bins + 1, sizeof *p->edges);
    p->counts = calloc(bins, sizeof *p->counts);
    return p->norm && p->sel_norm && p->n_ratings && p->x && p->y && p->category &&
           p->genre_of && p->order && p->items && p->vectors && p->names && p->edges && p->counts &&
           p->style;
}

/* The movies with at least --min-ratings training ratings (the model's
 * split, counted as recommend, similar and norms count them), their vectors
 * gathered. */
static int select_movies(struct projection *p, const mfr_model *m, const mfr_dataset *ds,
                         const struct project_opts *o)
{
    mfr_error err = {0};
    if (mfr_model_norms(m, MFR_FACTORS_ITEMS, p->norm, &err) != MFR_OK) return lib_error(&err);
    /* the float norms that norms lists: one that overflows a float (factors
     * near FLT_MAX) is inf there and here, not a 40-digit double */
    for (int32_t i = 0; i < p->n; i++) p->norm[i] = (double)(float)p->norm[i];
    struct movie_ctx c;
    int rc = movie_ctx_init(&c, m, ds, o->min_ratings);
    if (rc == EXIT_OK) memcpy(p->n_ratings, c.counts, sizeof *p->n_ratings * (size_t)p->n);
    movie_ctx_free(&c);
    if (rc != EXIT_OK) return rc;
    p->n_sel = 0;
    for (int32_t i = 0; i < p->n; i++) {
        if (p->n_ratings[i] < o->min_ratings) continue;
        mfr_model_item_vector(m, i, p->vectors + (size_t)p->n_sel * (size_t)p->k, NULL);
        p->sel_norm[p->n_sel] = p->norm[i];
        p->items[p->n_sel++] = i;
    }
    if (p->n_sel < 2 && o->min_ratings == 0)
        return runtime_error("the model has %s movie, and a projection needs two or more to find its axes",
                             p->n_sel ? "only one" : "no");
    if (p->n_sel < 2) /* a plane through one point explains nothing */
        return runtime_error("%s movie has at least %lld training rating%s (--min-ratings; the model's "
                             "split), and a projection needs two or more movies to find its axes",
                             p->n_sel ? "only one" : "no", (long long)o->min_ratings, PL(o->min_ratings));
    return EXIT_OK;
}

/* The selected movies mapped into the plane: p->coords, n_sel x n_comp. */
static int map_movies(struct projection *p, const struct project_opts *o)
{
    mfr_error err = {0};
    /* k = 1 has a single axis: the picture puts every movie at pc2 = 0. */
    p->n_comp = o->tsne ? 2 : p->k >= 2 ? 2 : 1;
    if (!o->tsne) {
        if (mfr_pca_compute(p->vectors, p->n_sel, p->k, p->n_comp, &p->pca, &err) != MFR_OK)
            return lib_error(&err);
        p->coords = p->pca->coords;
        p->explained2 = p->n_comp > 1 ? p->pca->explained[1] : 0;
        return EXIT_OK;
    }
    if (p->n_sel > MFR_TSNE_MAX_ROWS)
        return usage_error("--method tsne maps at most %d movies, and %d are selected: raise "
                           "--min-ratings",
                           MFR_TSNE_MAX_ROWS, (int)p->n_sel);
    if (!(o->topt.perplexity < (double)p->n_sel)) /* the default too: it is said so */
        return usage_error("%s--perplexity %g must be below the number of movies mapped (%d)%s",
                           o->perplexity_given ? "" : "the default ", o->topt.perplexity, (int)p->n_sel,
                           o->perplexity_given ? "" : ": give a smaller --perplexity");
    p->coords = calloc((size_t)p->n_sel * 2, sizeof *p->coords);
    if (!p->coords) return runtime_error("out of memory");
    double t0 = now_seconds();
    if (mfr_tsne_compute(p->vectors, p->n_sel, p->k, &o->topt, p->coords, &p->kl, &err) != MFR_OK)
        return lib_error(&err);
    p->seconds = now_seconds() - t0;
    return EXIT_OK;
}

/* x, y, the colour category of each selected movie and the category names. */
static void place_movies(struct projection *p, const mfr_dataset *ds)
{
    for (int32_t s = 0; s < p->n_sel; s++) {
        int32_t i = p->items[s];
        p->x[s] = p->coords[(size_t)s * (size_t)p->n_comp];
        p->y[s] = p->n_comp > 1 ? p->coords[(size_t)s * (size_t)p->n_comp + 1] : 0;
        uint32_t bits = mfr_dataset_item_genres(ds, i);
        p->genre_of[i] = first_genre(bits, p->n_genres);
        /* With --genre: category 0 "other genres" is drawn first, the chosen
         * genre on top of it. */
        p->category[s] = p->chosen >= 0 ? (int32_t)((bits >> p->chosen) & 1u) : p->genre_of[i];
    }
    /* Each genre in its own colour, the same in the main picture, the
     * panels and stats' genre chart, whichever movies are selected. */
    for (int32_t g = 0; g < p->n_genres; g++) p->names[g] = mfr_dataset_genre_name(ds, g);
    plot_genre_styles(p->n_genres, p->names, p->style);
    /* the movies of "(no genres listed)" have no genre: grey, said so */
    for (int32_t g = 0; g < p->n_genres; g++)
        if (plot_genre_is_none(p->names[g])) p->names[g] = "no genres";
    if (p->chosen >= 0) {
        /* --genre: the rest in grey, the genre in its colour (the first
         * one for --genre '(no genres listed)') */
        p->style[p->n_genres] = PLOT_STYLE_OTHER;
        p->style[p->n_genres + 1] = p->style[p->chosen] < 0 ? 0 : p->style[p->chosen];
        p->names[0] = "other genres";
        p->names[1] = mfr_dataset_genre_name(ds, p->chosen);
        p->n_categories = 2;
    } else {
        p->n_categories = p->n_genres;
    }
}

/* An axis that explains no variance (all movies on a line: PC2; below
 * 1e-12 of it, rounding) orders the movies by their index: no ends. */
static bool axis_orders(const struct projection *p, double explained)
{
    return p->pca->total_variance > 0 && explained > 1e-12;
}

/* The lists of the movies at both ends of each axis and of the norms: at
 * most half of the selected movies at each end, so that the lowest and
 * the highest never share a movie (--top at least half listed some in
 * both, in opposite orders); said when --top is cut. */
static void print_all_ends(const struct projection *p, const mfr_dataset *ds, const struct project_opts *o,
                           bool norms_differ)
{
    const bool pc1 = !o->tsne && axis_orders(p, p->pca->explained[0]);
    const bool pc2 = !o->tsne && p->n_comp > 1 && axis_orders(p, p->explained2);
    if (!o->tsne && p->pca->total_variance > 0 && p->n_comp > 1 && !pc2)
        printf("  PC2 explains none of the variance (the movies lie on a line): no lists of its ends\n");
    if (!pc1 && !pc2 && !norms_differ) return;
    int top = o->top;
    if (top > p->n_sel / 2) {
        top = p->n_sel / 2;
        printf("  --top %d: %d movie%s at each end, half of the %d movies, so that the lowest and highest "
               "lists do not overlap%s\n",
               (int)o->top, top, PL(top), (int)p->n_sel, p->n_sel % 2 ? " (the middle one is in neither)" : "");
    }
    if (pc1) print_ends(ds, "PC1", "pc1", p->x, p->items, p->n_ratings, p->order, p->n_sel, top);
    if (pc2) print_ends(ds, "PC2", "pc2", p->y, p->items, p->n_ratings, p->order, p->n_sel, top);
    if (norms_differ)
        print_ends(ds, "Embedding norm", "norm", p->sel_norm, p->items, p->n_ratings, p->order, p->n_sel, top);
}

/* The mean, min and max of the selected movies' norms, as norms shows
 * them: one that overflowed (inf) is left out of them and counted, as
 * norms leaves it out of its histogram. Returns whether the norms differ
 * (an inf beside a finite norm does): whether their ends are listed. */
static bool print_norm_summary(const struct projection *p)
{
    double nsum = 0, nmin = INFINITY, nmax = -INFINITY;
    int32_t n_fin = 0;
    for (int32_t s = 0; s < p->n_sel; s++) {
        if (!isfinite(p->sel_norm[s])) continue;
        n_fin++;
        nsum += p->sel_norm[s];
        nmin = fmin(nmin, p->sel_norm[s]);
        nmax = fmax(nmax, p->sel_norm[s]);
    }
    const int32_t n_inf = p->n_sel - n_fin;
    if (n_fin == 0) {
        printf("  embedding norms: none finite (%d overflowed: inf, factors too large for a float; "
               "no lists of their ends)\n", (int)n_inf);
        return false;
    }
    char mean[32], lo[32], hi[32]; /* as the lists of their ends show them */
    printf("  embedding norms: mean %s, min %s, max %s", table_num(nsum / n_fin, mean), table_num(nmin, lo),
           table_num(nmax, hi));
    if (n_inf > 0)
        printf(" (of the %d finite; %d overflowed: inf, left out)\n", (int)n_fin, (int)n_inf);
    else
        printf("%s\n", nmin == nmax ? " (all equal: no lists of their ends)" : "");
    return nmin < nmax || n_inf > 0;
}

static void print_projection(const struct projection *p, const mfr_dataset *ds,
                             const struct project_opts *o)
{
    printf("%s of %d movie embeddings (k %d) from %s", o->tsne ? "t-SNE" : "PCA", (int)p->n_sel,
           (int)p->k, printable(o->model_path));
    if (o->min_ratings > 0)
        printf(": the movies with at least %lld training rating%s", (long long)o->min_ratings,
               PL(o->min_ratings));
    putchar('\n');
    if (o->tsne)
        printf("  perplexity %g, %d iteration%s, seed %llu: KL divergence %.4f (%.2f s)\n",
               o->topt.perplexity, (int)o->topt.iterations, PL(o->topt.iterations),
               (unsigned long long)o->topt.seed, p->kl, p->seconds);
    else if (!(p->pca->total_variance > 0)) /* "explains 0.00%" of nothing, and ends in index order */
        printf("  the %d movie embeddings are identical: no variance, no principal axis to order them "
               "(no lists of axis ends)\n", (int)p->n_sel);
    else if (p->n_comp > 1)
        printf("  PC1 explains %.2f%% of the variance, PC2 %.2f%% (together %.2f%%; total variance %.6g)\n",
               100 * p->pca->explained[0], 100 * p->explained2,
               100 * (p->pca->explained[0] + p->explained2), p->pca->total_variance);
    else /* a model of dimension 1: no second axis */
        printf("  PC1 explains %.2f%% of the variance (k 1: there is no PC2; total variance %.6g)\n",
               100 * p->pca->explained[0], p->pca->total_variance);
    print_all_ends(p, ds, o, print_norm_summary(p));
}

/* DIR/projection_genres: one panel per genre that some selected movie has,
 * every genre of a movie counted (the main picture shows one colour per
 * movie). *drawn: whether there was a panel to draw (none when no selected
 * movie has a genre, e.g. a rating file without movie data). */
static int plot_genre_panels(const struct projection *p, const mfr_dataset *ds,
                             const struct project_opts *o, const char *title, bool *drawn)
{
    size_t n = (size_t)p->n_sel;
    uint8_t *member = calloc((size_t)(p->n_genres ? p->n_genres : 1) * (n ? n : 1), 1);
    const char **names = calloc((size_t)p->n_genres + 1, sizeof *names);
    int32_t *styles = calloc((size_t)p->n_genres + 1, sizeof *styles);
    int rc = member && names && styles ? EXIT_OK : runtime_error("out of memory");
    int n_panels = 0;
    int64_t n_none = 0; /* movies of "(no genres listed)": no panel, a count in the title */
    for (int32_t g = 0; rc == EXIT_OK && g < p->n_genres; g++) {
        uint8_t *row = member + (size_t)n_panels * n;
        bool any = false, none = plot_genre_is_none(mfr_dataset_genre_name(ds, g));
        for (size_t s = 0; s < n; s++) {
            row[s] = (mfr_dataset_item_genres(ds, p->items[s]) >> g) & 1u;
            any = any || row[s];
            n_none += none && row[s];
        }
        if (any && !none) styles[n_panels] = p->style[g], names[n_panels++] = mfr_dataset_genre_name(ds, g);
    }
    char full[1000];
    if (n_none > 0) {
        snprintf(full, sizeof full, "%s\n%lld movie%s with no genres listed: no panel (grey in projection.png)",
                 title, (long long)n_none, n_none == 1 ? "" : "s");
        title = full;
    }
    *drawn = n_panels > 0;
    if (rc == EXIT_OK && n_panels > 0) {
        struct plot_labels lab = {title, NULL, NULL};
        rc = plot_scatter_panels(o->plot_dir, "projection_genres", &lab, p->n_sel, p->x, p->y,
                                 n_panels, member, names, styles);
    }
    free(member);
    free(names);
    free(styles);
    return rc;
}

/* DIR/projection, DIR/projection_genres and DIR/embedding_norms (.png,
 * .svg), staged; what was drawn is said into `say`, printed by the
 * caller before the charts move. */
static int plot_projection(struct projection *p, const mfr_dataset *ds, const mfr_model *m,
                           const struct project_opts *o, struct json_log *say)
{
    int rc = ensure_dir(o->plot_dir);
    if (rc != EXIT_OK) return rc;
    char model[512], title[800], xl[64], yl[64];
    char subset[64] = "";
    model_describe(m, o->model_path, model, sizeof model);
    if (o->min_ratings > 0)
        snprintf(subset, sizeof subset, ", %lld training ratings or more", (long long)o->min_ratings);
    if (o->tsne) {
        snprintf(xl, sizeof xl, "t-SNE 1 (perplexity %g)", o->topt.perplexity);
        snprintf(yl, sizeof yl, "t-SNE 2");
    } else {
        snprintf(xl, sizeof xl, "PC1 (%.1f%% of variance)", 100 * p->pca->explained[0]);
        if (p->n_comp > 1) snprintf(yl, sizeof yl, "PC2 (%.1f%% of variance)", 100 * p->explained2);
        else snprintf(yl, sizeof yl, "0 (k 1: no PC2)");
    }
    /* the panels first: the main picture's title names them only when
     * they are drawn (a rating file without movie data has no genre) */
    snprintf(title, sizeof title,
             "%s of the movie embeddings of %s%s\none panel per genre, every genre of a movie "
             "shown (x: %s, y: %s)",
             o->tsne ? "t-SNE" : "PCA", model, subset, xl, yl);
    bool panels = false;
    if ((rc = plot_genre_panels(p, ds, o, title, &panels)) != EXIT_OK) return rc;
    const char *by = p->chosen >= 0 ? p->names[1]
                     : panels       ? "first genre (every genre: projection_genres.png)"
                                    : NULL;
    snprintf(title, sizeof title, "%s of the movie embeddings of %s%s\n%s%s",
             o->tsne ? "t-SNE" : "PCA", model, subset, by ? "coloured by " : "",
             by ? by : "one colour: no movie shown has a genre");
    struct plot_labels lab = {title, xl, yl};
    rc = plot_scatter(o->plot_dir, "projection", &lab, p->n_sel, p->x, p->y, p->category,
                      p->n_categories, p->names, p->style + (p->chosen >= 0 ? p->n_genres : 0), false);
    if (rc != EXIT_OK) return rc;
    hist_bins(p->n_sel, p->sel_norm, o->bins, false, p->edges, p->counts);
    snprintf(title, sizeof title, "Norms of the movie embeddings of %s%s", model, subset);
    struct plot_labels nlab = {title, "Euclidean norm of the embedding", "movies"};
    rc = plot_histogram(o->plot_dir, "embedding_norms", &nlab, o->bins, p->edges, p->counts, false);
    if (rc != EXIT_OK) return rc;
    const char *d = printable(o->plot_dir);
    if (panels)
        jlog_printf(say, "\nwrote %s/projection, %s/projection_genres and %s/embedding_norms (.png and .svg", d, d,
                    d);
    else
        jlog_printf(say, "\nwrote %s/projection and %s/embedding_norms (.png and .svg", d, d);
    /* the charts whose SVG was left out are named, and noted at the end */
    static const char *const drawn[] = {"projection", "projection_genres"};
    int left_out = 0;
    for (int x = 0; x < 2; x++)
        if (!plot_svg_drawn(drawn[x]))
            jlog_printf(say, "%s%s", left_out++ ? " and " : "; no .svg for ", drawn[x]);
    jlog_printf(say, ")%s\n", panels ? "" : "; no projection_genres: no movie shown has a genre");
    return EXIT_OK;
}

/* The extension of a name that says another format than --out's TSV (an
 * image, JSON, CSV, an array), or NULL. */
static const char *other_format_name(const char *path)
{
    static const char *const others[] = {"png", "svg", "pdf", "jpg", "jpeg", "gif", "json",
                                         "jsonl", "ndjson", "csv", "npy"};
    const char *ext = path_extension(path);
    for (size_t k = 0; k < sizeof others / sizeof *others; k++)
        if (!strcasecmp(ext, others[k])) return others[k];
    return NULL;
}

/* Parses the flags into o; false with *rc set when the command stops. */
static bool parse_project_flags(int argc, char **argv, struct project_opts *o, int *rc)
{
    const struct flag_spec flags[] = {
        {.name = "--model", .value = "MODEL", .kind = FLAG_STR, .dst = &o->model_path,
         .help = "trained model file (required)"},
        {.name = "--data", .value = "DIR", .kind = FLAG_STR, .dst = &o->data,
         .help = "dataset for titles and genres (default: the data\n"
                 "recorded in the model: its directory, or the rating\n"
                 "file it was trained from; its fingerprint must match)"},
        {.name = "--plot", .value = "DIR", .kind = FLAG_STR, .dst = &o->plot_dir,
         .help = "write DIR/projection.png and .svg (the movies in the plane\n"
                 "of the two axes, coloured by their first genre),\n"
                 "DIR/projection_genres (one panel per genre, every genre\n"
                 "of a movie shown) and DIR/embedding_norms (histogram);\n"
                 "needs gnuplot. A chart of more than 100,000 points\n"
                 "(MFREC_SVG_MAX_POINTS) gets its .svg only on request"},
        {.name = "--genre", .value = "NAME", .kind = FLAG_STR, .dst = &o->genre,
         .help = "with --plot: colour NAME against all other movies\n"
                 "instead"},
        {.name = "--min-ratings", .value = "N", .kind = FLAG_I64, .dst = &o->min_ratings,
         .lo = 0, .hi = INT64_MAX,
         .help = "only movies with at least N training ratings (the model's\n"
                 "split, as in recommend, similar and norms; default 0: all);\n"
                 "rarely rated movies keep embeddings near their random\n"
                 "start and can dominate the picture"},
        {.name = "--out", .value = "FILE", .kind = FLAG_STR, .dst = &o->out,
         .help = "write the coordinates as TSV: movie, title (empty for\n"
                 "a movie without one, as in export's metadata.tsv),\n"
                 "genre, pc1, pc2 (tsne1, tsne2), norm, ratings (training\n"
                 "ratings; one line per movie, with a header); pc2 is 0\n"
                 "for a model of dimension 1, which has one axis; a norm\n"
                 "that overflowed (inf) is an empty field, as in norms\n"
                 "--csv; a name ending in .png, .svg, .json, .csv and the\n"
                 "like is refused"},
        {.name = "--top", .value = "N", .kind = FLAG_I32, .dst = &o->top, .lo = 1, .hi = 1000000,
         .help = "movies listed at each end of each axis (default 10,\n"
                 "a list's length as in every command;\n"
                 "-k N and --k N are aliases)"},
        LIST_LENGTH_ALIAS_ROWS(&o->top, 1000000),
        {.name = "--bins", .value = "N", .kind = FLAG_I32, .dst = &o->bins, .lo = 1, .hi = 1000,
         .help = "with --plot: bins of the norm histogram (default 20,\n"
                 "as in norms)"},
        {.name = "--method", .value = "M", .kind = FLAG_STR, .dst = &o->method,
         .help = "pca (default) or tsne: exact t-SNE into the plane (O(n^2);\n"
                 "at most 8000 movies: use --min-ratings on bigger catalogues)"},
        {.name = "--perplexity", .value = "P", .kind = FLAG_DOUBLE, .dst = &o->topt.perplexity,
         .min = 1, .max = 1e6,
         .help = "with --method tsne: the effective number of neighbours\n"
                 "(default 30)"},
        {.name = "--iterations", .value = "N", .kind = FLAG_I32, .dst = &o->topt.iterations,
         .lo = 1, .hi = 100000, .help = "with --method tsne: gradient steps (default 1000)"},
        {.name = "--seed", .value = "S", .kind = FLAG_U64, .dst = &o->topt.seed,
         .help = "with --method tsne: the random start (default 1); the\n"
                 "same seed gives the same picture"},
    };
    struct command_spec cmd = {.name = "mfrec project", .help = project_help,
                               .help_end = project_help_end, .help_width = 15, .flags = flags,
                               .n_flags = sizeof flags / sizeof *flags, .data_flags = true, .threads_flag = true};
    if (!cli_start(&cmd, argc, argv, rc)) return false;
    if (!o->model_path) *rc = usage_error("--model is required");
    else if (strcmp(o->method, "pca") && strcmp(o->method, "tsne"))
        *rc = usage_error("--method must be pca or tsne, got '%s'", o->method);
    else if (strcmp(o->method, "tsne") && (cli_flag_given("--perplexity") || cli_flag_given("--iterations") ||
                                           cli_flag_given("--seed")))
        *rc = usage_error("--%s is t-SNE's: it needs --method tsne",
                          cli_flag_given("--perplexity") ? "perplexity"
                          : cli_flag_given("--iterations") ? "iterations" : "seed");
    else if (o->out && other_format_name(o->out))
        *rc = usage_error("--out %s names a .%s file, but --out writes the coordinates as tab-separated text; "
                          "name a .tsv file (--plot DIR draws the pictures)",
                          o->out, other_format_name(o->out));
    else if (!o->plot_dir && (o->genre || cli_flag_given("--bins")))
        *rc = usage_error("%s only changes the pictures: it needs --plot DIR", o->genre ? "--genre" : "--bins");
    else if (o->plot_dir && (*rc = note_model_inputs(o->model_path, o->data)) == EXIT_OK &&
             (*rc = plot_preflight()) == EXIT_OK) /* its errors into no input (`2>> m.mfr`) */
        *rc = io_output_dir("--plot", o->plot_dir); /* its files once the inputs are known */
    o->tsne = !strcmp(o->method, "tsne");
    o->perplexity_given = cli_flag_given("--perplexity");
    return *rc == EXIT_OK;
}

int cmd_project(int argc, char **argv)
{
    struct project_opts o = {.top = 10, .bins = 20, .method = "pca"};
    mfr_tsne_options_default(&o.topt);
    int rc;
    if (!parse_project_flags(argc, argv, &o, &rc)) return rc;
    mfr_model *m = NULL;
    mfr_dataset *ds = NULL;
    struct projection p = {0};
    if ((rc = load_model_and_data(o.model_path, o.data, &m, &ds, NULL)) != EXIT_OK) goto done;
    /* After the model and its data are noted as inputs, before the work. */
    static const char *const charts[] = {"projection", "projection_genres", "embedding_norms",
                                         NULL};
    if (o.out && (rc = io_output("--out", o.out)) != EXIT_OK) goto done;
    if (o.plot_dir && (rc = plot_outputs_check(o.plot_dir, charts)) != EXIT_OK) goto done;
    p.n = mfr_model_n_items(m);
    p.k = mfr_model_k(m);
    p.n_genres = mfr_dataset_n_genres(ds);
    if ((rc = find_genre(ds, o.genre, &p.chosen)) != EXIT_OK) goto done;
    if (!projection_alloc(&p, (size_t)p.n, (size_t)p.k, (size_t)p.n_genres, (size_t)o.bins)) {
        rc = runtime_error("out of memory");
        goto done;
    }
    if ((rc = select_movies(&p, m, ds, &o)) != EXIT_OK)
        goto done;
    /* no finite norm to bin: refused before any output, as norms --plot */
    if (o.plot_dir && (rc = plot_norms_check(p.n_sel, p.sel_norm, "selected")) != EXIT_OK) goto done;
    if ((rc = map_movies(&p, &o)) != EXIT_OK) goto done;
    place_movies(&p, ds);
    print_projection(&p, ds, &o);
    /* The charts are drawn (staged) first, then --out is written to its
     * temporary file; then the charts and --out move in, the report of
     * every file is printed and flushed, and all is put back if any of it
     * fails: a standard output that cannot be written, a chart that cannot
     * be drawn, an --out that cannot be written or memory that runs out
     * leaves no file in place and no "wrote" line (before, --out was in
     * place before the charts' commit, which could still fail). */
    struct json_log say = {0};
    if (o.out) jlog_printf(&say, "\nwrote %s\n", printable(o.out));
    if (o.plot_dir && (rc = plot_stage_begin(o.plot_dir)) == EXIT_OK) {
        rc = plot_projection(&p, ds, m, &o, &say);
        if (rc == EXIT_OK) rc = plot_stage_check();
    }
    struct pending_file tsv = {.fd = -1};
    exit_signals_defer(true); /* the temporary file goes with the rest */
    if (rc == EXIT_OK) rc = jlog_check(&say, "this run's report");
    if (rc == EXIT_OK && o.out)
        rc = write_coords(o.out, ds, p.n_sel, p.items, p.x, p.y, p.norm, p.genre_of, p.n_ratings, o.tsne, &tsv);
    rc = plot_stage_end_files(rc, say.buf, &tsv, 1);
    exit_signals_defer(false);
    free(say.buf);
done:
    projection_free(&p);
    mfr_dataset_destroy(ds);
    mfr_model_destroy(m);
    return rc;
}
