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
#include "plot.h"

static const char project_help[] =
    "Usage: mfrec project --model MODEL [--data DIR] [--plot DIR] [--genre NAME]\n"
    "                     [--min-ratings N] [--out FILE] [--top N] [--bins N]\n"
    "                     [--method pca|tsne] [--perplexity P] [--iterations N] [--seed S]\n"
    "\n"
    "Projects the movie embeddings of a model on their two principal axes (PCA\n"
    "of the k x k covariance, computed exactly and deterministically) and prints\n"
    "the variance each axis explains, the movies at both ends of each axis and\n"
    "a summary of the embedding norms.\n"
    "\n"
    "  --model MODEL   trained model file (required)\n"
    "  --data DIR      dataset for titles and genres (default: the directory\n"
    "                  recorded in the model; its fingerprint must match)\n"
    "  --plot DIR      write DIR/projection.png and .svg (the movies in the plane\n"
    "                  of the two axes, coloured by their first genre) and\n"
    "                  DIR/embedding_norms.png and .svg (histogram); needs gnuplot\n"
    "  --genre NAME    colour NAME against all other movies instead\n"
    "  --min-ratings N only movies with at least N ratings in the dataset (default\n"
    "                  0: all); rarely rated movies keep embeddings near their\n"
    "                  random start and can dominate the picture\n"
    "  --out FILE      write the coordinates as TSV: item_id, title, genre,\n"
    "                  pc1, pc2, norm (one line per movie, with a header)\n"
    "  --top N         movies listed at each end of each axis (default 5)\n"
    "  --bins N        bins of the norm histogram (default 30)\n"
    "  --method M      pca (default) or tsne: exact t-SNE into the plane (O(n^2);\n"
    "                  at most 8000 movies: use --min-ratings on bigger catalogues)\n"
    "  --perplexity P  t-SNE's effective number of neighbours (default 30)\n"
    "  --iterations N  t-SNE's gradient steps (default 1000)\n"
    "  --seed S        t-SNE's random start (default 1); the same seed gives the\n"
    "                  same picture\n"
    "\n"
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

static const char *title_of(const mfr_dataset *ds, int32_t i, char *buf, size_t cap)
{
    const char *t = mfr_dataset_item_title(ds, i);
    if (*t) return t;
    snprintf(buf, cap, "item %lld", (long long)mfr_dataset_item_id(ds, i));
    return buf;
}

/* Prints the `top` movies with the lowest and the highest key; key and
 * order are over the n selected movies, items[] maps them to item indices. */
static void print_ends(const mfr_dataset *ds, const char *what, const double *key,
                       const int32_t *items, int32_t *order, int32_t n, int top)
{
    char buf[64];
    for (int32_t x = 0; x < n; x++) order[x] = x;
    g_key = key;
    qsort(order, (size_t)n, sizeof *order, cmp_by_key);
    if (top > n) top = n;
    printf("\n%s, lowest:\n", what);
    for (int x = 0; x < top; x++)
        printf("  %9.4f  %s\n", key[order[x]], title_of(ds, items[order[x]], buf, sizeof buf));
    printf("%s, highest:\n", what);
    for (int x = 0; x < top; x++) {
        int32_t o = order[n - 1 - x];
        printf("  %9.4f  %s\n", key[o], title_of(ds, items[o], buf, sizeof buf));
    }
}

/* Writes the coordinate table (TSV with a header) to path. */
static int write_coords(const char *path, const mfr_dataset *ds, int32_t n, const int32_t *items,
                        const double *x, const double *y, const double *norm,
                        const int32_t *genre_of, bool tsne)
{
    struct json_log t = {0};
    char buf[64];
    jlog_printf(&t, "item_id\ttitle\tgenre\t%s\tnorm\n", tsne ? "tsne1\ttsne2" : "pc1\tpc2");
    for (int32_t row = 0; row < n; row++) {
        int32_t i = items[row];
        jlog_printf(&t, "%lld\t", (long long)mfr_dataset_item_id(ds, i));
        for (const char *s = title_of(ds, i, buf, sizeof buf); *s; s++)
            jlog_printf(&t, "%c", *s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s);
        jlog_printf(&t, "\t%s\t%.9g\t%.9g\t%.9g\n",
                    genre_of[i] >= 0 ? mfr_dataset_genre_name(ds, genre_of[i]) : "",
                    x[row], y[row], norm[i]);
    }
    int rc = t.buf ? write_file_atomic(path, t.buf, t.len) : runtime_error("out of memory");
    if (rc == EXIT_OK) { /* the temporary file was private (0600) */
        mode_t mask = umask(0);
        umask(mask);
        (void)chmod(path, 0666 & ~mask);
    }
    free(t.buf);
    return rc;
}

int cmd_project(int argc, char **argv)
{
    g_cmd = "mfrec project";
    if (want_help(argc, argv)) {
        print_data_command_help(project_help);
        return EXIT_OK;
    }
    const char *model_path = NULL, *data = NULL, *plot_dir = NULL, *genre = NULL, *out = NULL;
    int32_t top = 5, bins = 30, min_ratings = 0;
    const char *method = "pca";
    mfr_tsne_options topt;
    mfr_tsne_options_default(&topt);
    struct args a = {.argc = argc, .argv = argv, .pos = 0};
    int flag_error = 0;
    while (next_data_flag(&a, &flag_error)) {
        const char *v;
        if (flag_is(&a, "--model")) { if (!(v = flag_value(&a))) return EXIT_USAGE; model_path = v; }
        else if (flag_is(&a, "--data")) { if (!(v = flag_value(&a))) return EXIT_USAGE; data = v; }
        else if (flag_is(&a, "--plot")) { if (!(v = flag_value(&a))) return EXIT_USAGE; plot_dir = v; }
        else if (flag_is(&a, "--genre")) { if (!(v = flag_value(&a))) return EXIT_USAGE; genre = v; }
        else if (flag_is(&a, "--out")) { if (!(v = flag_value(&a))) return EXIT_USAGE; out = v; }
        else if (flag_is(&a, "--top")) { if (!(v = flag_value(&a)) || !parse_i32(a.flag, v, 0, 1000000, &top)) return EXIT_USAGE; }
        else if (flag_is(&a, "--min-ratings")) { if (!(v = flag_value(&a)) || !parse_i32(a.flag, v, 0, INT32_MAX, &min_ratings)) return EXIT_USAGE; }
        else if (flag_is(&a, "--bins")) { if (!(v = flag_value(&a)) || !parse_i32(a.flag, v, 1, 1000, &bins)) return EXIT_USAGE; }
        else if (flag_is(&a, "--method")) { if (!(v = flag_value(&a))) return EXIT_USAGE; method = v; }
        else if (flag_is(&a, "--perplexity")) { if (!(v = flag_value(&a)) || !parse_double(a.flag, v, 1, 1e6, &topt.perplexity)) return EXIT_USAGE; }
        else if (flag_is(&a, "--iterations")) { if (!(v = flag_value(&a)) || !parse_i32(a.flag, v, 1, 100000, &topt.iterations)) return EXIT_USAGE; }
        else if (flag_is(&a, "--seed")) { if (!(v = flag_value(&a)) || !parse_u64(a.flag, v, &topt.seed)) return EXIT_USAGE; }
        else if (a.flag[0] == '-') return usage_error("unknown option %s", a.flag);
        else return usage_error("unexpected argument '%s'", a.flag);
    }
    if (flag_error) return EXIT_USAGE;
    if (!model_path) return usage_error("--model is required");
    if (strcmp(method, "pca") && strcmp(method, "tsne"))
        return usage_error("--method must be pca or tsne, got '%s'", method);
    const bool tsne = !strcmp(method, "tsne");
    if (plot_dir && !plot_available())
        return runtime_error("--plot needs gnuplot, which is not on PATH "
                             "(install it, e.g. apt-get install gnuplot-nox)");

    mfr_error err = {0};
    mfr_model *m = NULL;
    mfr_dataset *ds = NULL;
    mfr_pca *pca = NULL;
    double *norm = NULL, *sel_norm = NULL, *x = NULL, *y = NULL, *edges = NULL;
    int64_t *counts = NULL, *n_ratings = NULL;
    int32_t *category = NULL, *genre_of = NULL, *order = NULL, *items = NULL;
    float *vectors = NULL;
    double *coords = NULL;
    const char **names = NULL;
    int rc = load_model_and_data(model_path, data, &m, &ds, NULL);
    if (rc != EXIT_OK) goto done;

    const int32_t n = mfr_model_n_items(m), k = mfr_model_k(m), n_genres = mfr_dataset_n_genres(ds);
    int32_t chosen = -1;
    if (genre) {
        for (int32_t g = 0; g < n_genres && chosen < 0; g++)
            if (!strcasecmp(genre, mfr_dataset_genre_name(ds, g))) chosen = g;
        if (chosen < 0) {
            fprintf(stderr, "%s: known genres:", g_cmd);
            for (int32_t g = 0; g < n_genres; g++)
                fprintf(stderr, "%s '%s'", g ? "," : "", mfr_dataset_genre_name(ds, g));
            fputc('\n', stderr);
            rc = usage_error("--genre: no genre named '%s' in %s", genre, mfr_dataset_dir(ds));
            goto done;
        }
    }
    norm = calloc((size_t)n, sizeof *norm);
    sel_norm = calloc((size_t)n, sizeof *sel_norm);
    n_ratings = calloc((size_t)n, sizeof *n_ratings);
    x = calloc((size_t)n, sizeof *x);
    y = calloc((size_t)n, sizeof *y);
    category = calloc((size_t)n, sizeof *category);
    genre_of = calloc((size_t)n, sizeof *genre_of);
    order = calloc((size_t)n, sizeof *order);
    items = calloc((size_t)n, sizeof *items);
    vectors = calloc((size_t)n * (size_t)k, sizeof *vectors);
    names = calloc((size_t)n_genres + 2, sizeof *names);
    edges = calloc((size_t)bins + 1, sizeof *edges);
    counts = calloc((size_t)bins, sizeof *counts);
    if (!norm || !sel_norm || !n_ratings || !x || !y || !category || !genre_of || !order ||
        !items || !vectors || !names || !edges || !counts) {
        rc = runtime_error("out of memory");
        goto done;
    }
    if (mfr_model_norms(m, MFR_FACTORS_ITEMS, norm, &err) != MFR_OK) {
        rc = lib_error(&err);
        goto done;
    }
    /* The selected movies (by rating count), their vectors gathered. */
    count_item_ratings(ds, n_ratings);
    int32_t n_sel = 0;
    for (int32_t i = 0; i < n; i++) {
        if (n_ratings[i] < min_ratings) continue;
        mfr_model_item_vector(m, i, vectors + (size_t)n_sel * (size_t)k);
        sel_norm[n_sel] = norm[i];
        items[n_sel++] = i;
    }
    if (n_sel == 0) {
        rc = runtime_error("no movie has at least %d ratings (--min-ratings)", (int)min_ratings);
        goto done;
    }
    /* k = 1 has a single axis: the picture puts every movie at pc2 = 0. */
    const int32_t n_comp = tsne ? 2 : k >= 2 ? 2 : 1;
    double kl = 0.0, seconds = 0.0;
    if (tsne) {
        if (n_sel > MFR_TSNE_MAX_ROWS) {
            rc = usage_error("--method tsne maps at most %d movies, and %d are selected: raise "
                             "--min-ratings",
                             MFR_TSNE_MAX_ROWS, (int)n_sel);
            goto done;
        }
        if (!(topt.perplexity < (double)n_sel)) {
            rc = usage_error("--perplexity %g must be below the number of movies mapped (%d)",
                             topt.perplexity, (int)n_sel);
            goto done;
        }
        coords = calloc((size_t)n_sel * 2, sizeof *coords);
        if (!coords) {
            rc = runtime_error("out of memory");
            goto done;
        }
        double t0 = now_seconds();
        if (mfr_tsne_compute(vectors, n_sel, k, &topt, coords, &kl, &err) != MFR_OK) {
            rc = lib_error(&err);
            goto done;
        }
        seconds = now_seconds() - t0;
    } else {
        if (mfr_pca_compute(vectors, n_sel, k, n_comp, &pca, &err) != MFR_OK) {
            rc = lib_error(&err);
            goto done;
        }
        coords = pca->coords;
    }
    for (int32_t s = 0; s < n_sel; s++) {
        int32_t i = items[s];
        x[s] = coords[(size_t)s * (size_t)n_comp];
        y[s] = n_comp > 1 ? coords[(size_t)s * (size_t)n_comp + 1] : 0;
        uint32_t bits = mfr_dataset_item_genres(ds, i);
        genre_of[i] = first_genre(bits, n_genres);
        /* With --genre: category 0 "other genres" is drawn first, the chosen
         * genre on top of it. */
        category[s] = chosen >= 0 ? (int32_t)((bits >> chosen) & 1u) : genre_of[i];
    }
    int n_categories;
    if (chosen >= 0) {
        names[0] = "other genres";
        names[1] = mfr_dataset_genre_name(ds, chosen);
        n_categories = 2;
    } else {
        for (int32_t g = 0; g < n_genres; g++) names[g] = mfr_dataset_genre_name(ds, g);
        n_categories = n_genres;
    }

    double explained2 = !tsne && n_comp > 1 ? pca->explained[1] : 0;
    printf("%s of %d movie embeddings (k %d) from %s", tsne ? "t-SNE" : "PCA", (int)n_sel, (int)k,
           model_path);
    if (min_ratings > 0) printf(": the movies with at least %d ratings", (int)min_ratings);
    putchar('\n');
    if (tsne)
        printf("  perplexity %g, %d iterations, seed %llu: KL divergence %.4f (%.2f s)\n",
               topt.perplexity, (int)topt.iterations, (unsigned long long)topt.seed, kl, seconds);
    else
        printf("  PC1 explains %.2f%% of the variance, PC2 %.2f%% (together %.2f%%; total variance %.6g)\n",
               100 * pca->explained[0], 100 * explained2, 100 * (pca->explained[0] + explained2),
               pca->total_variance);
    double nsum = 0, nmin = INFINITY, nmax = -INFINITY;
    for (int32_t s = 0; s < n_sel; s++) {
        nsum += sel_norm[s];
        nmin = fmin(nmin, sel_norm[s]);
        nmax = fmax(nmax, sel_norm[s]);
    }
    printf("  embedding norms: mean %.4f, min %.4f, max %.4f\n", nsum / n_sel, nmin, nmax);
    if (top > 0) {
        if (!tsne) print_ends(ds, "PC1", x, items, order, n_sel, top);
        if (!tsne && n_comp > 1) print_ends(ds, "PC2", y, items, order, n_sel, top);
        print_ends(ds, "Embedding norm", sel_norm, items, order, n_sel, top);
    }

    if (out) {
        if ((rc = write_coords(out, ds, n_sel, items, x, y, norm, genre_of, tsne)) != EXIT_OK) goto done;
        printf("\nwrote %s\n", out);
    }
    if (plot_dir) {
        if ((rc = ensure_dir(plot_dir)) != EXIT_OK) goto done;
        char title[512], xl[64], yl[64];
        char subset[64] = "";
        if (min_ratings > 0) snprintf(subset, sizeof subset, ", %d ratings or more", (int)min_ratings);
        snprintf(title, sizeof title, "Movie embeddings of %s (k %d%s), %s, coloured by %s",
                 model_path, (int)k, subset, tsne ? "t-SNE" : "PCA",
                 chosen >= 0 ? names[1] : "first genre");
        if (tsne) {
            snprintf(xl, sizeof xl, "t-SNE 1 (perplexity %g)", topt.perplexity);
            snprintf(yl, sizeof yl, "t-SNE 2");
        } else {
            snprintf(xl, sizeof xl, "PC1 (%.1f%% of variance)", 100 * pca->explained[0]);
            snprintf(yl, sizeof yl, "PC2 (%.1f%% of variance)", 100 * explained2);
        }
        struct plot_labels lab = {title, xl, yl};
        rc = plot_scatter(plot_dir, "projection", &lab, n_sel, x, y, category, n_categories, names);
        if (rc != EXIT_OK) goto done;
        hist_bins(n_sel, sel_norm, bins, edges, counts);
        snprintf(title, sizeof title, "Norms of the movie embeddings of %s (k %d%s)", model_path,
                 (int)k, subset);
        struct plot_labels nlab = {title, "Euclidean norm of the embedding", "movies"};
        rc = plot_histogram(plot_dir, "embedding_norms", &nlab, bins, edges, counts);
        if (rc != EXIT_OK) goto done;
        printf("\nwrote %s/projection.png and .svg, %s/embedding_norms.png and .svg\n", plot_dir,
               plot_dir);
    }
done:
    free(norm);
    free(sel_norm);
    free(n_ratings);
    free(items);
    free(vectors);
    free(x);
    free(y);
    free(edges);
    free(counts);
    free(category);
    free(genre_of);
    free(order);
    free(names);
    if (!pca || coords != pca->coords) free(coords);
    mfr_pca_destroy(pca);
    mfr_dataset_destroy(ds);
    mfr_model_destroy(m);
    return rc;
}
