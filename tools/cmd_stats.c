/*
 * cmd_stats.c — `mfrec stats`: a first look at a dataset before training.
 * Users (age summary, sex and occupation counts), ratings per user and mean
 * rating per user, the most rated and best rated movies, ratings per movie
 * and genre counts, as aligned text tables, as JSON (--json) or as
 * histogram pictures (--plot DIR, through plot.h).
 *
 * Conventions (those of pandas' describe(), so numbers can be checked in a
 * notebook): std is the sample standard deviation (divisor n - 1); the
 * quartiles interpolate linearly between order statistics. Ties in the
 * movie rankings are broken by the other key, then by dense index, so the
 * output is the same on every run. Titles are UTF-8 and columns are aligned
 * by code points, not bytes.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "plot.h"

static const char stats_help[] =
    "Usage: mfrec stats [--data DIR] [--json] [--plot DIR] [--bins N] [--top N]\n"
    "                   [--min-ratings N]\n"
    "\n"
    "Describes a dataset: users (count, age summary, sex and occupation counts),\n"
    "ratings per user and mean rating per user (summary and histogram), the most\n"
    "rated movies, the best rated movies among those with more than N ratings,\n"
    "ratings per movie (summary and histogram) and how many movies have each genre.\n"
    "\n"
    "  --data DIR         dataset directory (default: $MFREC_DATA, else data/ml-100k)\n"
    "  --json             print one JSON object instead of text tables\n"
    "  --plot DIR         also write the histograms to DIR as PNG and SVG (gnuplot):\n"
    "                     ratings_per_user, mean_rating_per_user, ratings_per_movie\n"
    "  --bins N           histogram bins (default 20)\n"
    "  --top N            rows of the movie rankings (default 10)\n"
    "  --min-ratings N    best rated movies need more than N ratings (default 20)\n"
    "\n"
    "std is the sample standard deviation; quartiles interpolate linearly.\n"
    "Exit status: 0 ok, 1 runtime error, 2 usage error.\n";

/* ------------------------------------------------------------------ */
/* Numbers                                                              */
/* ------------------------------------------------------------------ */

struct summary {
    int64_t n;
    double mean, std, min, q1, median, q3, max;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The value at quantile q of sorted[0..n) (linear interpolation). */
static double quantile(const double *sorted, int64_t n, double q)
{
    double pos = q * (double)(n - 1);
    int64_t lo = (int64_t)floor(pos);
    if (lo >= n - 1) return sorted[n - 1];
    double frac = pos - (double)lo;
    return sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
}

/* Summarizes v[0..n) (sums in double, in order); false when out of memory. */
static bool summarize(const double *v, int64_t n, struct summary *s)
{
    memset(s, 0, sizeof *s);
    s->n = n;
    if (n == 0) return true;
    double *sorted = malloc((size_t)n * sizeof *sorted);
    if (!sorted) return false;
    memcpy(sorted, v, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_double);
    double sum = 0;
    for (int64_t r = 0; r < n; r++) sum += v[r];
    s->mean = sum / (double)n;
    double ss = 0;
    for (int64_t r = 0; r < n; r++) ss += (v[r] - s->mean) * (v[r] - s->mean);
    s->std = n > 1 ? sqrt(ss / (double)(n - 1)) : 0;
    s->min = sorted[0];
    s->max = sorted[n - 1];
    s->q1 = quantile(sorted, n, 0.25);
    s->median = quantile(sorted, n, 0.5);
    s->q3 = quantile(sorted, n, 0.75);
    free(sorted);
    return true;
}

/* A histogram of one quantity, as computed by hist_bins. */
struct histogram {
    const char *name;  /* chart and JSON name */
    const char *title; /* human title */
    const char *xlabel;
    int n_bins;
    double *edges;   /* n_bins + 1 */
    int64_t *counts; /* n_bins */
};

/* A label and how many have it (sex, occupation, genre). */
struct tally {
    const char *label;
    int64_t count;
};

static int cmp_tally(const void *a, const void *b)
{
    const struct tally *x = a, *y = b;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    return strcmp(x->label, y->label);
}

/* Adds one occurrence of label to the list (labels are few: linear search). */
static bool tally_add(struct tally **list, int *n, const char *label)
{
    for (int t = 0; t < *n; t++)
        if (!strcmp((*list)[t].label, label)) {
            (*list)[t].count++;
            return true;
        }
    struct tally *nl = realloc(*list, (size_t)(*n + 1) * sizeof *nl);
    if (!nl) return false;
    *list = nl;
    nl[*n].label = label;
    nl[*n].count = 1;
    (*n)++;
    return true;
}

struct movie {
    int32_t i;
    int64_t count;
    double mean; /* NaN without ratings */
};

/* Higher mean first; NaN (no ratings) after every number. */
static int cmp_mean_desc(double x, double y)
{
    if (isnan(x) || isnan(y)) return isnan(x) - isnan(y);
    return (x < y) - (x > y);
}

/* Most rated: count, then mean, then index. */
static int cmp_most_rated(const void *a, const void *b)
{
    const struct movie *x = a, *y = b;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    int c = cmp_mean_desc(x->mean, y->mean);
    if (c) return c;
    return (x->i > y->i) - (x->i < y->i);
}

/* Best rated: mean, then count, then index. */
static int cmp_best_rated(const void *a, const void *b)
{
    const struct movie *x = a, *y = b;
    int c = cmp_mean_desc(x->mean, y->mean);
    if (c) return c;
    if (x->count != y->count) return x->count < y->count ? 1 : -1;
    return (x->i > y->i) - (x->i < y->i);
}

/* ------------------------------------------------------------------ */
/* Text output                                                          */
/* ------------------------------------------------------------------ */

/* Display width of UTF-8 text: its code points (continuation bytes do not
 * count). East Asian wide characters would need wcwidth; MovieLens titles
 * are Latin. */
static int utf8_width(const char *s)
{
    int w = 0;
    for (; *s; s++) w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

/* Prints s left-aligned in `width` code points, cut with "…" when longer. */
static void put_padded(const char *s, int width)
{
    int w = utf8_width(s);
    if (w <= width) {
        fputs(s, stdout);
        for (; w < width; w++) fputc(' ', stdout);
        return;
    }
    int shown = 0;
    const char *p = s;
    while (*p) {
        if (((unsigned char)*p & 0xC0) != 0x80) {
            if (shown == width - 1) break;
            shown++;
        }
        fputc(*p++, stdout);
    }
    fputs("…", stdout);
}

/* A number in a fixed-width field: integers without decimals. */
static void put_num(double v, int width)
{
    if (v == floor(v) && fabs(v) < 1e15) printf("%*.0f", width, v);
    else printf("%*.2f", width, v);
}

static void print_summary_row(const char *label, const struct summary *s)
{
    printf("  ");
    put_padded(label, 22);
    printf("%7lld", (long long)s->n);
    if (s->n == 0) {
        printf("   (no data)\n");
        return;
    }
    printf("%9.2f%9.2f", s->mean, s->std);
    put_num(s->min, 8);
    put_num(s->q1, 8);
    put_num(s->median, 8);
    put_num(s->q3, 8);
    put_num(s->max, 8);
    putchar('\n');
}

static void print_tallies(const char *title, const char *what, const struct tally *t, int n,
                          int64_t total)
{
    printf("\n%s\n", title);
    int w = utf8_width(what);
    for (int x = 0; x < n; x++)
        if (utf8_width(t[x].label) > w) w = utf8_width(t[x].label);
    printf("  ");
    put_padded(what, w);
    printf("  %7s  %6s\n", "count", "share");
    for (int x = 0; x < n; x++) {
        printf("  ");
        put_padded(t[x].label, w);
        printf("  %7lld  %5.1f%%\n", (long long)t[x].count,
               total ? 100.0 * (double)t[x].count / (double)total : 0.0);
    }
}

static void print_histogram(const struct histogram *h)
{
    int64_t max = 0;
    for (int b = 0; b < h->n_bins; b++)
        if (h->counts[b] > max) max = h->counts[b];
    printf("\n%s\n", h->title);
    for (int b = 0; b < h->n_bins; b++) {
        int bar = max ? (int)((h->counts[b] * 40 + max - 1) / max) : 0;
        char range[64];
        snprintf(range, sizeof range, "[%.4g, %.4g%c", h->edges[b], h->edges[b + 1],
                 b + 1 == h->n_bins ? ']' : ')');
        printf("  %-20s %7lld  ", range, (long long)h->counts[b]);
        for (int x = 0; x < bar; x++) putchar('#');
        putchar('\n');
    }
}

/* A movie's display title ("item ID" when the dataset has none). */
static const char *movie_title(const mfr_dataset *ds, int32_t i, char *buf, size_t cap)
{
    const char *t = mfr_dataset_item_title(ds, i);
    if (*t) return t;
    snprintf(buf, cap, "item %lld", (long long)mfr_dataset_item_id(ds, i));
    return buf;
}

static void print_movies(const char *title, const mfr_dataset *ds, const struct movie *mv, int n)
{
    char buf[64];
    int w = 5;
    for (int x = 0; x < n; x++) {
        int tw = utf8_width(movie_title(ds, mv[x].i, buf, sizeof buf));
        if (tw > w) w = tw;
    }
    if (w > 60) w = 60;
    printf("\n%s\n   #  ", title);
    put_padded("title", w);
    printf("  ratings   mean\n");
    for (int x = 0; x < n; x++) {
        printf("  %2d  ", x + 1);
        put_padded(movie_title(ds, mv[x].i, buf, sizeof buf), w);
        printf("  %7lld", (long long)mv[x].count);
        if (isnan(mv[x].mean)) printf("      -\n");
        else printf("  %5.2f\n", mv[x].mean);
    }
}

/* ------------------------------------------------------------------ */
/* JSON output                                                          */
/* ------------------------------------------------------------------ */

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') printf("\\%c", ch);
        else if (ch < 0x20) printf("\\u%04x", ch);
        else putchar(ch);
    }
    putchar('"');
}

static void json_num(double v)
{
    if (isfinite(v)) printf("%.10g", v);
    else fputs("null", stdout);
}

static void json_summary(const struct summary *s)
{
    printf("{\"count\":%lld", (long long)s->n);
    if (s->n > 0) {
        const char *keys[] = {"mean", "std", "min", "25%", "50%", "75%", "max"};
        const double vals[] = {s->mean, s->std, s->min, s->q1, s->median, s->q3, s->max};
        for (int x = 0; x < 7; x++) {
            printf(",\"%s\":", keys[x]);
            json_num(vals[x]);
        }
    }
    putchar('}');
}

static void json_histogram(const struct histogram *h)
{
    printf("{\"edges\":[");
    for (int b = 0; b <= h->n_bins; b++) {
        if (b) putchar(',');
        json_num(h->edges[b]);
    }
    printf("],\"counts\":[");
    for (int b = 0; b < h->n_bins; b++) printf("%s%lld", b ? "," : "", (long long)h->counts[b]);
    printf("]}");
}

static void json_tallies(const struct tally *t, int n)
{
    putchar('[');
    for (int x = 0; x < n; x++) {
        printf("%s{\"name\":", x ? "," : "");
        json_str(t[x].label);
        printf(",\"count\":%lld}", (long long)t[x].count);
    }
    putchar(']');
}

static void json_movies(const mfr_dataset *ds, const struct movie *mv, int n)
{
    char buf[64];
    putchar('[');
    for (int x = 0; x < n; x++) {
        printf("%s{\"id\":%lld,\"title\":", x ? "," : "", (long long)mfr_dataset_item_id(ds, mv[x].i));
        json_str(movie_title(ds, mv[x].i, buf, sizeof buf));
        printf(",\"count\":%lld,\"mean\":", (long long)mv[x].count);
        json_num(mv[x].mean);
        putchar('}');
    }
    putchar(']');
}

/* ------------------------------------------------------------------ */
/* mfrec stats                                                          */
/* ------------------------------------------------------------------ */

int cmd_stats(int argc, char **argv)
{
    g_cmd = "mfrec stats";
    if (want_help(argc, argv)) {
        print_data_command_help(stats_help);
        return EXIT_OK;
    }
    const char *data = NULL, *plot_dir = NULL;
    bool json = false;
    int32_t bins = 20, top = 10, min_ratings = 20;
    struct args a = {.argc = argc, .argv = argv, .pos = 0};
    int flag_error = 0;
    while (next_data_flag(&a, &flag_error)) {
        const char *v;
        if (flag_is(&a, "--json")) {
            if (a.inline_value) return usage_error("--json takes no value");
            json = true;
        } else if (flag_is(&a, "--data")) { if (!(v = flag_value(&a))) return EXIT_USAGE; data = v; }
        else if (flag_is(&a, "--plot")) { if (!(v = flag_value(&a))) return EXIT_USAGE; plot_dir = v; }
        else if (flag_is(&a, "--bins")) { if (!(v = flag_value(&a)) || !parse_i32(a.flag, v, 1, 1000, &bins)) return EXIT_USAGE; }
        else if (flag_is(&a, "--top")) { if (!(v = flag_value(&a)) || !parse_i32(a.flag, v, 1, 1000000, &top)) return EXIT_USAGE; }
        else if (flag_is(&a, "--min-ratings")) { if (!(v = flag_value(&a)) || !parse_i32(a.flag, v, 0, INT32_MAX, &min_ratings)) return EXIT_USAGE; }
        else if (a.flag[0] == '-') return usage_error("unknown option %s", a.flag);
        else return usage_error("unexpected argument '%s'", a.flag);
    }
    if (flag_error) return EXIT_USAGE;
    if (plot_dir && !plot_available())
        return runtime_error("--plot needs gnuplot, which is not on PATH "
                             "(install it, e.g. apt-get install gnuplot-nox)");

    mfr_error err = {0};
    mfr_dataset *ds = NULL;
    int rc = EXIT_OK;
    double *ages = NULL, *per_user = NULL, *user_mean = NULL, *per_movie = NULL, *user_sum = NULL;
    struct movie *movies = NULL, *best = NULL;
    struct tally *sexes = NULL, *occupations = NULL, *genres = NULL;
    int n_sexes = 0, n_occupations = 0, n_genres = 0, n_best = 0;
    struct histogram hists[3] = {
        {"ratings_per_user", "Ratings per user", "ratings per user", 0, NULL, NULL},
        {"mean_rating_per_user", "Mean rating per user", "mean rating of a user", 0, NULL, NULL},
        {"ratings_per_movie", "Ratings per movie", "ratings per movie", 0, NULL, NULL},
    };
    if (load_dataset(default_data_dir(data), &ds, &err) != MFR_OK) {
        rc = lib_error(&err);
        goto done;
    }
    const int32_t n_users = mfr_dataset_n_users(ds), n_items = mfr_dataset_n_items(ds);
    const mfr_ratings *r = mfr_dataset_ratings(ds);
    const int64_t nnz = mfr_ratings_count(r);
    ages = calloc((size_t)n_users + 1, sizeof *ages);
    per_user = calloc((size_t)n_users + 1, sizeof *per_user);
    user_sum = calloc((size_t)n_users + 1, sizeof *user_sum);
    user_mean = calloc((size_t)n_users + 1, sizeof *user_mean);
    per_movie = calloc((size_t)n_items + 1, sizeof *per_movie);
    movies = calloc((size_t)n_items + 1, sizeof *movies);
    best = calloc((size_t)n_items + 1, sizeof *best);
    for (int h = 0; h < 3; h++) {
        hists[h].n_bins = bins;
        hists[h].edges = calloc((size_t)bins + 1, sizeof *hists[h].edges);
        hists[h].counts = calloc((size_t)bins, sizeof *hists[h].counts);
        if (!hists[h].edges || !hists[h].counts) goto nomem;
    }
    if (!ages || !per_user || !user_sum || !user_mean || !per_movie || !movies || !best) goto nomem;

    /* Users: metadata. */
    int64_t n_ages = 0;
    for (int32_t u = 0; u < n_users; u++) {
        int32_t age = mfr_dataset_user_age(ds, u);
        if (age > 0) ages[n_ages++] = age;
        char sex = mfr_dataset_user_sex(ds, u);
        const char *occ = mfr_dataset_user_occupation(ds, u);
        if (!tally_add(&sexes, &n_sexes, sex == 'M' ? "M" : sex == 'F' ? "F" : "unknown") ||
            !tally_add(&occupations, &n_occupations, *occ ? occ : "unknown"))
            goto nomem;
    }
    qsort(sexes, (size_t)n_sexes, sizeof *sexes, cmp_tally);
    qsort(occupations, (size_t)n_occupations, sizeof *occupations, cmp_tally);

    /* Ratings per user and per movie, sums in rating order. */
    double rating_sum = 0;
    for (int32_t i = 0; i < n_items; i++) movies[i] = (struct movie){i, 0, 0};
    for (int64_t x = 0; x < nnz; x++) {
        int32_t u, i;
        float rating;
        mfr_ratings_get(r, x, &u, &i, &rating, NULL);
        per_user[u] += 1;
        user_sum[u] += rating;
        movies[i].count++;
        movies[i].mean += rating;
        rating_sum += rating;
    }
    int64_t n_rated_users = 0;
    for (int32_t u = 0; u < n_users; u++)
        if (per_user[u] > 0) user_mean[n_rated_users++] = user_sum[u] / per_user[u];
    for (int32_t i = 0; i < n_items; i++) {
        movies[i].mean = movies[i].count ? movies[i].mean / (double)movies[i].count : NAN;
        per_movie[i] = (double)movies[i].count;
        if (movies[i].count > min_ratings) best[n_best++] = movies[i];
    }
    qsort(movies, (size_t)n_items, sizeof *movies, cmp_most_rated);
    qsort(best, (size_t)n_best, sizeof *best, cmp_best_rated);
    int n_top = top < n_items ? top : n_items;
    int n_top_best = top < n_best ? top : n_best;

    struct summary s_age, s_user, s_umean, s_movie;
    if (!summarize(ages, n_ages, &s_age) || !summarize(per_user, n_users, &s_user) ||
        !summarize(user_mean, n_rated_users, &s_umean) || !summarize(per_movie, n_items, &s_movie))
        goto nomem;
    hist_bins(n_users, per_user, bins, hists[0].edges, hists[0].counts);
    hist_bins(n_rated_users, user_mean, bins, hists[1].edges, hists[1].counts);
    hist_bins(n_items, per_movie, bins, hists[2].edges, hists[2].counts);

    /* Genres: movies having each (u.genre order, then by count). */
    for (int32_t g = 0; g < mfr_dataset_n_genres(ds); g++) {
        struct tally *ng = realloc(genres, (size_t)(n_genres + 1) * sizeof *ng);
        if (!ng) goto nomem;
        genres = ng;
        genres[n_genres].label = mfr_dataset_genre_name(ds, g);
        genres[n_genres].count = 0;
        for (int32_t i = 0; i < n_items; i++)
            genres[n_genres].count += (mfr_dataset_item_genres(ds, i) >> g) & 1u;
        n_genres++;
    }
    qsort(genres, (size_t)n_genres, sizeof *genres, cmp_tally);

    const double mean_rating = nnz ? rating_sum / (double)nnz : NAN;
    const double density = (double)nnz / ((double)n_users * (double)n_items);
    if (json) {
        printf("{\"data\":");
        json_str(mfr_dataset_dir(ds));
        printf(",\"users\":{\"count\":%d,\"age\":", (int)n_users);
        json_summary(&s_age);
        printf(",\"sex\":");
        json_tallies(sexes, n_sexes);
        printf(",\"occupation\":");
        json_tallies(occupations, n_occupations);
        printf("},\"ratings\":{\"count\":%lld,\"mean\":", (long long)nnz);
        json_num(mean_rating);
        printf(",\"density\":");
        json_num(density);
        printf("},\"ratings_per_user\":{\"summary\":");
        json_summary(&s_user);
        printf(",\"histogram\":");
        json_histogram(&hists[0]);
        printf("},\"mean_rating_per_user\":{\"summary\":");
        json_summary(&s_umean);
        printf(",\"histogram\":");
        json_histogram(&hists[1]);
        printf("},\"movies\":{\"count\":%d,\"most_rated\":", (int)n_items);
        json_movies(ds, movies, n_top);
        printf(",\"best_rated\":{\"min_ratings_exclusive\":%d,\"movies\":", (int)min_ratings);
        json_movies(ds, best, n_top_best);
        printf("}},\"ratings_per_movie\":{\"summary\":");
        json_summary(&s_movie);
        printf(",\"histogram\":");
        json_histogram(&hists[2]);
        printf("},\"genres\":");
        json_tallies(genres, n_genres);
        printf("}\n");
    } else {
        printf("Dataset %s: %d users, %d movies, %lld ratings (density %.2f%%, mean rating %.3f)\n",
               mfr_dataset_dir(ds), (int)n_users, (int)n_items, (long long)nnz, 100 * density,
               mean_rating);
        printf("\n  %-22s%7s%9s%9s%8s%8s%8s%8s%8s\n", "", "count", "mean", "std", "min", "25%",
               "50%", "75%", "max");
        print_summary_row("user age", &s_age);
        print_summary_row("ratings per user", &s_user);
        print_summary_row("mean rating per user", &s_umean);
        print_summary_row("ratings per movie", &s_movie);
        print_tallies("Users by sex", "sex", sexes, n_sexes, n_users);
        print_tallies("Users by occupation", "occupation", occupations, n_occupations, n_users);
        for (int h = 0; h < 3; h++) print_histogram(&hists[h]);
        print_movies("Most rated movies", ds, movies, n_top);
        char title[96];
        snprintf(title, sizeof title, "Best rated movies (more than %d ratings)", (int)min_ratings);
        print_movies(title, ds, best, n_top_best);
        print_tallies("Movies by genre (a movie can have several)", "genre", genres, n_genres,
                      n_items);
    }

    if (plot_dir) {
        if ((rc = ensure_dir(plot_dir)) != EXIT_OK) goto done;
        for (int h = 0; h < 3; h++) {
            char title[160];
            snprintf(title, sizeof title, "%s (%s)", hists[h].title, mfr_dataset_dir(ds));
            struct plot_labels lab = {title, hists[h].xlabel, h == 2 ? "movies" : "users"};
            rc = plot_histogram(plot_dir, hists[h].name, &lab, bins, hists[h].edges, hists[h].counts);
            if (rc != EXIT_OK) goto done;
            /* Keep stdout machine-readable under --json. */
            fprintf(json ? stderr : stdout, "%swrote %s/%s.png and .svg\n", h == 0 ? "\n" : "",
                    plot_dir, hists[h].name);
        }
    }
    goto done;
nomem:
    rc = runtime_error("out of memory");
done:
    for (int h = 0; h < 3; h++) {
        free(hists[h].edges);
        free(hists[h].counts);
    }
    free(ages);
    free(per_user);
    free(user_sum);
    free(user_mean);
    free(per_movie);
    free(movies);
    free(best);
    free(sexes);
    free(occupations);
    free(genres);
    mfr_dataset_destroy(ds);
    return rc;
}
