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
#include "output.h"
#include "plot.h"

static const char stats_help[] =
    "Usage: mfrec stats [--data DIR] [--json] [--plot DIR] [--bins N] [--top N]\n"
    "                   [--min-ratings N]\n"
    "\n"
    "Describes a dataset: users (count, age summary, or age-group counts for\n"
    "ML-1M, whose users.dat gives groups; sex and occupation counts),\n"
    "ratings per user and mean rating per user (summary and histogram), the most\n"
    "rated movies, the best rated movies among those with at least N ratings,\n"
    "ratings and mean rating per movie (summaries and histograms) and how many\n"
    "movies have each genre.\n"
    "\n";

static const char stats_help_end[] =
    "\n"
    "std is the sample standard deviation; quartiles interpolate linearly.\n"
    "Histogram bins are [lo, hi), holding their lower edge; the last one is\n"
    "[lo, hi] when it ends at the largest value and [lo, hi) when its edge\n"
    "lies past it (whole-number bins of counts). --json gives each histogram\n"
    "as {\"edges\": [B + 1 numbers], \"counts\": [B], \"last_bin_closed\":\n"
    "true|false}, the last bin's bracket.\n"
    "Exit status: 0 ok, 1 runtime error, 2 usage error.\n";

/* ------------------------------------------------------------------ */
/* Numbers                                                              */
/* ------------------------------------------------------------------ */

struct summary {
    int64_t n;
    double mean, std, min, q1, median, q3, max;
};

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
    s->std = n > 1 ? sqrt(ss / (double)(n - 1)) : NAN; /* undefined for one value: "-", JSON null */
    s->min = sorted[0];
    s->max = sorted[n - 1];
    s->q1 = quantile_sorted(sorted, n, 0.25);
    s->median = quantile_sorted(sorted, n, 0.5);
    s->q3 = quantile_sorted(sorted, n, 0.75);
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
    double max;      /* the largest value: the last bin is closed only when its edge is this */
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

/* v with `decimals` decimals in a field of `width`, or, when that would
 * not fit with a space before it (a rating of 3e38), in %g's short form,
 * so that the columns stay apart. */
static void put_fixed(double v, int width, int decimals)
{
    char buf[400];
    int n = snprintf(buf, sizeof buf, "%.*f", decimals, v);
    if (n < 0 || n >= width) snprintf(buf, sizeof buf, "%.*g", width > 8 ? 3 : 2, v);
    printf(" %*s", width - 1, buf);
}

/* A number in a fixed-width field: integers without decimals. */
static void put_num(double v, int width)
{
    put_fixed(v, width, v == floor(v) && fabs(v) < 1e15 ? 0 : 2);
}

/* `means`: a row of mean ratings, every cell with two decimals (a min of
 * 1 beside a quartile of 2.66 read as a count); rows of counts and ages
 * keep whole values whole. */
static void print_summary_row(const char *label, const struct summary *s, bool means)
{
    printf("  ");
    put_padded(label, 22);
    printf("%7lld", (long long)s->n);
    if (s->n == 0) {
        printf("   (no data)\n");
        return;
    }
    put_fixed(s->mean, 9, 2);
    if (isnan(s->std)) printf("%9s", "-");
    else put_fixed(s->std, 9, 2);
    const double cells[] = {s->min, s->q1, s->median, s->q3, s->max};
    for (size_t c = 0; c < sizeof cells / sizeof *cells; c++)
        if (means) put_fixed(cells[c], 8, 2);
        else put_num(cells[c], 8);
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

/* Whether the last bin holds its upper edge, [a, b] (a range's bins end
 * at its largest value), or ends before it, [a, b) (whole-number bins of
 * counts end past the largest count: [704, 740) holds 737 at most; one
 * count 4 is [4, 5)). The text's bracket and --json's last_bin_closed. */
static bool last_bin_closed(const struct histogram *h)
{
    return h->edges[h->n_bins] <= h->max;
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
                 b + 1 == h->n_bins && last_bin_closed(h) ? ']' : ')');
        printf("  %-20s %7lld  ", range, (long long)h->counts[b]);
        for (int x = 0; x < bar; x++) putchar('#');
        putchar('\n');
    }
}

static void print_movies(const char *title, const mfr_dataset *ds, const struct movie *mv, int n)
{
    char buf[64];
    int w = 5;
    for (int x = 0; x < n; x++) {
        int tw = utf8_width(item_title(ds, mv[x].i, buf, sizeof buf));
        if (tw > w) w = tw;
    }
    if (w > 60) w = 60;
    printf("\n%s\n   #  ", title);
    put_padded("title", w);
    printf("  ratings   mean\n");
    for (int x = 0; x < n; x++) {
        printf("  %2d  ", x + 1);
        put_padded(item_title(ds, mv[x].i, buf, sizeof buf), w);
        printf("  %7lld", (long long)mv[x].count);
        if (isnan(mv[x].mean)) printf("      -\n");
        else printf("  %5.2f\n", mv[x].mean);
    }
}

/* ------------------------------------------------------------------ */
/* JSON output                                                          */
/* ------------------------------------------------------------------ */

/* Digits of the JSON numbers (output.h's json_num). */
enum { JSON_DIGITS = 10 };

static void json_summary(const struct summary *s)
{
    printf("{\"count\":%lld", (long long)s->n);
    if (s->n > 0) {
        const char *keys[] = {"mean", "std", "min", "25%", "50%", "75%", "max"};
        const double vals[] = {s->mean, s->std, s->min, s->q1, s->median, s->q3, s->max};
        for (int x = 0; x < 7; x++) {
            printf(",\"%s\":", keys[x]);
            json_num(vals[x], JSON_DIGITS);
        }
    }
    putchar('}');
}

static void json_histogram(const struct histogram *h)
{
    printf("{\"edges\":[");
    for (int b = 0; b <= h->n_bins; b++) {
        if (b) putchar(',');
        /* the outer edges bound the smallest and largest values (whole-number
         * bins of counts end past the largest, which the summary's max
         * gives): in full, so that they hold them (1.491954023 was above a
         * mean of 1.4919540229885), and widened to the summary's and the
         * movie lists' 10 digits, so that those hold too (a largest mean
         * of 38/11 printed as 3.454545455, above the edge 3.4545454545454546) */
        if (b == 0 || b == h->n_bins) json_num(json_outer_edge(h->edges[b], b == 0, JSON_DIGITS), JSON_EXACT);
        else json_num(h->edges[b], JSON_DIGITS);
    }
    printf("],\"counts\":[");
    for (int b = 0; b < h->n_bins; b++) printf("%s%lld", b ? "," : "", (long long)h->counts[b]);
    /* every bin is [lo, hi); the last one [lo, hi] when this is true */
    printf("],\"last_bin_closed\":%s}", last_bin_closed(h) ? "true" : "false");
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

/* A movie list with the keys of every command's lists (rank, movie,
 * title, ratings), and the movie's mean rating. */
static void json_movies(const mfr_dataset *ds, const struct movie *mv, int n)
{
    putchar('[');
    for (int x = 0; x < n; x++) {
        printf("%s{\"rank\":%d,\"movie\":%lld,\"title\":", x ? "," : "", x + 1,
               (long long)mfr_dataset_item_id(ds, mv[x].i));
        json_title(ds, mv[x].i);
        printf(",\"ratings\":%lld,\"mean_rating\":", (long long)mv[x].count);
        json_num(mv[x].mean, JSON_DIGITS);
        putchar('}');
    }
    putchar(']');
}

/* ------------------------------------------------------------------ */
/* mfrec stats                                                          */
/* ------------------------------------------------------------------ */

struct stats_opts {
    const char *data, *plot_dir;
    bool json;
    int32_t bins, top;
    int64_t min_ratings; /* as everywhere: at least N ratings (int64, the same range) */
};

/* The histograms, in the order stats_alloc names them. */
enum { H_PER_USER, H_USER_MEAN, H_PER_MOVIE, H_MOVIE_MEAN, N_HISTS };

/* What `mfrec stats` computes from a dataset. */
struct stats {
    int32_t n_users, n_items;
    int64_t nnz, n_ages, n_rated_users;
    double mean_rating, density;
    double *ages, *per_user, *user_mean, *per_movie, *user_sum;
    struct movie *movies, *best; /* most rated order; best rated (enough ratings) */
    int n_best, n_top, n_top_best;
    struct tally *sexes, *occupations, *genres, *age_groups;
    int n_sexes, n_occupations, n_genres, n_age_groups;
    /* movies of a "no genre" label (ML-100K's "unknown", the CSV releases'
     * "(no genres listed)", plot_genre_is_none), and those with no genre
     * at all where others have some (n_bare: not in u.item, or listed
     * there without a genre): not among `genres` */
    int64_t n_no_genres, n_bare;
    const char *no_genres_label;
    bool genres_unknown; /* genres named (u.genre) but no movie has one: no counts */
    bool age_codes; /* ML-1M: users.dat's ages are group codes, tallied as groups */
    double *movie_mean; /* mean rating of each rated movie */
    int64_t n_rated_movies;
    struct summary s_age, s_user, s_umean, s_movie, s_mmean;
    struct histogram hists[N_HISTS];
};

static void stats_free(struct stats *st)
{
    for (int h = 0; h < N_HISTS; h++) {
        free(st->hists[h].edges);
        free(st->hists[h].counts);
    }
    free(st->ages);
    free(st->per_user);
    free(st->user_sum);
    free(st->user_mean);
    free(st->per_movie);
    free(st->movie_mean);
    free(st->movies);
    free(st->best);
    free(st->sexes);
    free(st->age_groups);
    free(st->occupations);
    free(st->genres);
}

/* Allocates st's arrays for ds; false when out of memory. */
static bool stats_alloc(struct stats *st, const mfr_dataset *ds, int32_t bins)
{
    static const struct histogram names[N_HISTS] = {
        {"ratings_per_user", "Ratings per user", "ratings per user", 0, NULL, NULL, 0.0},
        {"mean_rating_per_user", "Mean rating per user", "mean rating of a user", 0, NULL, NULL, 0.0},
        {"ratings_per_movie", "Ratings per movie", "ratings per movie", 0, NULL, NULL, 0.0},
        {"mean_rating_per_movie", "Mean rating per movie",
         "mean rating of a movie (movies with at least one rating)", 0, NULL, NULL, 0.0},
    };
    st->n_users = mfr_dataset_n_users(ds);
    st->n_items = mfr_dataset_n_items(ds);
    st->nnz = mfr_ratings_count(mfr_dataset_ratings(ds));
    size_t nu = (size_t)st->n_users + 1, ni = (size_t)st->n_items + 1;
    st->ages = calloc(nu, sizeof *st->ages);
    st->per_user = calloc(nu, sizeof *st->per_user);
    st->user_sum = calloc(nu, sizeof *st->user_sum);
    st->user_mean = calloc(nu, sizeof *st->user_mean);
    st->per_movie = calloc(ni, sizeof *st->per_movie);
    st->movie_mean = calloc(ni, sizeof *st->movie_mean);
    st->movies = calloc(ni, sizeof *st->movies);
    st->best = calloc(ni, sizeof *st->best);
    bool ok = st->ages && st->per_user && st->user_sum && st->user_mean && st->per_movie &&
              st->movie_mean && st->movies && st->best;
    for (int h = 0; h < N_HISTS; h++) {
        st->hists[h] = names[h];
        st->hists[h].n_bins = bins;
        st->hists[h].edges = calloc((size_t)bins + 1, sizeof *st->hists[h].edges);
        st->hists[h].counts = calloc((size_t)bins, sizeof *st->hists[h].counts);
        ok = ok && st->hists[h].edges && st->hists[h].counts;
    }
    return ok;
}

/* ML-1M's users.dat gives an age group's code, not an age (its README):
 * the group's name, or NULL for a value that is no code. */
static const char *ml1m_age_group(int32_t code)
{
    switch (code) {
    case 1: return "under 18";
    case 18: return "18-24";
    case 25: return "25-34";
    case 35: return "35-44";
    case 45: return "45-49";
    case 50: return "50-55";
    case 56: return "56+";
    default: return NULL;
    }
}

/* Age groups in age order (values that are no code, then unknown, last). */
static int age_rank(const char *label)
{
    static const char *const order[] = {"under 18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+"};
    for (int k = 0; k < 7; k++)
        if (!strcmp(label, order[k])) return k;
    return strcmp(label, "unknown") ? 7 : 8;
}

static int cmp_age_group(const void *a, const void *b)
{
    const struct tally *x = a, *y = b;
    int rx = age_rank(x->label), ry = age_rank(y->label);
    return rx != ry ? (rx > ry) - (rx < ry) : strcmp(x->label, y->label);
}

/* Users: ages (ML-1M: age groups), sexes and occupations. */
static bool tally_users(struct stats *st, const mfr_dataset *ds)
{
    st->age_codes = mfr_dataset_format(ds) == MFR_FORMAT_ML1M;
    for (int32_t u = 0; u < st->n_users; u++) {
        int32_t age = mfr_dataset_user_age(ds, u);
        if (st->age_codes) {
            const char *g = age > 0 ? ml1m_age_group(age) : "unknown"; /* tally keeps the pointer: static strings */
            if (!tally_add(&st->age_groups, &st->n_age_groups, g ? g : "not a group code")) return false;
        } else if (age > 0) {
            st->ages[st->n_ages++] = age;
        }
        char sex = mfr_dataset_user_sex(ds, u);
        const char *occ = mfr_dataset_user_occupation(ds, u);
        if (!tally_add(&st->sexes, &st->n_sexes, sex == 'M' ? "M" : sex == 'F' ? "F" : "unknown") ||
            !tally_add(&st->occupations, &st->n_occupations, *occ ? occ : "unknown"))
            return false;
    }
    qsort(st->sexes, (size_t)st->n_sexes, sizeof *st->sexes, cmp_tally);
    if (st->age_codes && (st->n_age_groups == 0 || (st->n_age_groups == 1 && !strcmp(st->age_groups[0].label, "unknown")))) {
        /* no users.dat (ML-10M): no ages at all, as for any data without them */
        st->age_codes = false;
        free(st->age_groups);
        st->age_groups = NULL;
        st->n_age_groups = 0;
    }
    if (st->age_groups) qsort(st->age_groups, (size_t)st->n_age_groups, sizeof *st->age_groups, cmp_age_group);
    qsort(st->occupations, (size_t)st->n_occupations, sizeof *st->occupations, cmp_tally);
    return true;
}

/* Ratings per user and per movie, sums in rating order; the movie rankings. */
static void count_ratings(struct stats *st, const mfr_dataset *ds, const struct stats_opts *o)
{
    const mfr_ratings *r = mfr_dataset_ratings(ds);
    double rating_sum = 0;
    for (int32_t i = 0; i < st->n_items; i++) st->movies[i] = (struct movie){i, 0, 0};
    for (int64_t x = 0; x < st->nnz; x++) {
        int32_t u, i;
        float rating;
        mfr_ratings_get(r, x, &u, &i, &rating, NULL, NULL);
        st->per_user[u] += 1;
        st->user_sum[u] += rating;
        st->movies[i].count++;
        st->movies[i].mean += rating;
        rating_sum += rating;
    }
    for (int32_t u = 0; u < st->n_users; u++)
        if (st->per_user[u] > 0) st->user_mean[st->n_rated_users++] = st->user_sum[u] / st->per_user[u];
    for (int32_t i = 0; i < st->n_items; i++) {
        struct movie *mv = &st->movies[i];
        mv->mean = mv->count ? mv->mean / (double)mv->count : NAN;
        st->per_movie[i] = (double)mv->count;
        if (mv->count) st->movie_mean[st->n_rated_movies++] = mv->mean;
        if (mv->count >= o->min_ratings && mv->count > 0) st->best[st->n_best++] = *mv; /* a mean needs a rating */
    }
    qsort(st->movies, (size_t)st->n_items, sizeof *st->movies, cmp_most_rated);
    qsort(st->best, (size_t)st->n_best, sizeof *st->best, cmp_best_rated);
    st->n_top = o->top < st->n_items ? o->top : st->n_items;
    st->n_top_best = o->top < st->n_best ? o->top : st->n_best;
    st->mean_rating = st->nnz ? rating_sum / (double)st->nnz : NAN;
    st->density = (double)st->nnz / ((double)st->n_users * (double)st->n_items);
}

/* Genres: movies having each (u.genre order, then by count). A dataset
 * whose movies have no genre at all (u.item missing: u.genre alone names
 * the genres) has no genre counts: listing every genre with 0 movies, in
 * the table, --json and a chart of empty bars, said the catalogue had no
 * movie of any genre where its genres are unknown. */
static bool tally_genres(struct stats *st, const mfr_dataset *ds)
{
    uint32_t any = 0;
    int64_t bare = 0;
    for (int32_t i = 0; i < st->n_items; i++) {
        any |= mfr_dataset_item_genres(ds, i);
        bare += mfr_dataset_item_genres(ds, i) == 0;
    }
    st->genres_unknown = any == 0 && mfr_dataset_n_genres(ds) > 0;
    /* a movie without any genre where others have some (a rated movie
     * that u.item does not list) has no genre listed, as a list's "-"
     * says: counted with the "no genre" label's movies, not left out */
    if (any) st->n_bare = bare;
    st->n_no_genres = st->n_bare;
    for (int32_t g = 0; any && g < mfr_dataset_n_genres(ds); g++) {
        const char *name = mfr_dataset_genre_name(ds, g);
        int64_t count = 0;
        for (int32_t i = 0; i < st->n_items; i++) count += (mfr_dataset_item_genres(ds, i) >> g) & 1u;
        if (plot_genre_is_none(name)) {
            st->n_no_genres += count;
            st->no_genres_label = name;
            continue;
        }
        struct tally *ng = realloc(st->genres, (size_t)(st->n_genres + 1) * sizeof *ng);
        if (!ng) return false;
        st->genres = ng;
        ng[st->n_genres++] = (struct tally){.label = name, .count = count};
    }
    if (st->n_genres > 1) /* with none, genres is NULL, which qsort may not be given */
        qsort(st->genres, (size_t)st->n_genres, sizeof *st->genres, cmp_tally);
    return true;
}

/* The bins of a histogram of counts (whole numbers): --bins, or one bin
 * for each whole number when they span fewer (a single value: one bin).
 * hist_bins then makes the bins [v, v + 1), so that none lies between
 * two counts. */
static int count_bins(int64_t n, const double *values, int bins)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t r = 0; r < n; r++) {
        lo = fmin(lo, values[r]);
        hi = fmax(hi, values[r]);
    }
    return lo <= hi && hi - lo + 1 < bins ? (int)(hi - lo + 1) : bins;
}

/* Everything `mfrec stats` prints; false when out of memory. */
static bool stats_compute(struct stats *st, const mfr_dataset *ds, const struct stats_opts *o)
{
    if (!stats_alloc(st, ds, o->bins) || !tally_users(st, ds)) return false;
    count_ratings(st, ds, o);
    if (!summarize(st->ages, st->n_ages, &st->s_age) ||
        !summarize(st->per_user, st->n_users, &st->s_user) ||
        !summarize(st->user_mean, st->n_rated_users, &st->s_umean) ||
        !summarize(st->per_movie, st->n_items, &st->s_movie) ||
        !summarize(st->movie_mean, st->n_rated_movies, &st->s_mmean))
        return false;
    struct histogram *h = st->hists;
    /* counts spanning fewer whole numbers than --bins: one bin a number */
    h[H_PER_USER].n_bins = count_bins(st->n_users, st->per_user, o->bins);
    h[H_PER_MOVIE].n_bins = count_bins(st->n_items, st->per_movie, o->bins);
    hist_bins(st->n_users, st->per_user, h[H_PER_USER].n_bins, true, h[H_PER_USER].edges, h[H_PER_USER].counts);
    hist_bins(st->n_rated_users, st->user_mean, o->bins, false, h[H_USER_MEAN].edges,
              h[H_USER_MEAN].counts);
    hist_bins(st->n_items, st->per_movie, h[H_PER_MOVIE].n_bins, true, h[H_PER_MOVIE].edges, h[H_PER_MOVIE].counts);
    hist_bins(st->n_rated_movies, st->movie_mean, o->bins, false, h[H_MOVIE_MEAN].edges,
              h[H_MOVIE_MEAN].counts);
    h[H_PER_USER].max = st->s_user.max;
    h[H_USER_MEAN].max = st->s_umean.max;
    h[H_PER_MOVIE].max = st->s_movie.max;
    h[H_MOVIE_MEAN].max = st->s_mmean.max;
    return tally_genres(st, ds);
}

static void print_stats_json(const struct stats *st, const mfr_dataset *ds, int64_t top, int64_t min_ratings)
{
    printf("{\"data\":");
    json_str(data_name(ds));
    printf(",\"top\":%lld", (long long)top); /* the rankings' length, as every command's --top */
    printf(",\"users\":{\"count\":%d,\"age\":", (int)st->n_users);
    if (st->age_codes) { /* ML-1M: groups, not ages (no mean of codes) */
        printf("null,\"age_group\":");
        json_tallies(st->age_groups, st->n_age_groups);
    } else {
        json_summary(&st->s_age);
    }
    printf(",\"sex\":");
    json_tallies(st->sexes, st->n_sexes);
    printf(",\"occupation\":");
    json_tallies(st->occupations, st->n_occupations);
    printf("},\"ratings\":{\"count\":%lld,\"mean\":", (long long)st->nnz);
    json_num(st->mean_rating, JSON_DIGITS);
    printf(",\"density\":");
    json_num(st->density, JSON_DIGITS);
    printf("},\"ratings_per_user\":{\"summary\":");
    json_summary(&st->s_user);
    printf(",\"histogram\":");
    json_histogram(&st->hists[0]);
    printf("},\"mean_rating_per_user\":{\"summary\":");
    json_summary(&st->s_umean);
    printf(",\"histogram\":");
    json_histogram(&st->hists[1]);
    printf("},\"movies\":{\"count\":%d,\"most_rated\":", (int)st->n_items);
    json_movies(ds, st->movies, st->n_top);
    printf(",\"best_rated\":{\"min_ratings\":%lld,\"movies\":", (long long)min_ratings);
    json_movies(ds, st->best, st->n_top_best);
    printf("}},\"ratings_per_movie\":{\"summary\":");
    json_summary(&st->s_movie);
    printf(",\"histogram\":");
    json_histogram(&st->hists[H_PER_MOVIE]);
    printf("},\"mean_rating_per_movie\":{\"summary\":");
    json_summary(&st->s_mmean);
    printf(",\"histogram\":");
    json_histogram(&st->hists[H_MOVIE_MEAN]);
    printf("},\"genres\":");
    json_tallies(st->genres, st->n_genres);
    printf(",\"movies_without_genres\":%lld}\n", (long long)st->n_no_genres);
}

static void print_stats_text(const struct stats *st, const mfr_dataset *ds, int64_t min_ratings)
{
    printf(fabs(st->mean_rating) < 1e9 ? "Dataset %s: %d user%s, %d movie%s, %lld rating%s (density %.2f%%, mean rating %.3f)\n"
                                       : "Dataset %s: %d user%s, %d movie%s, %lld rating%s (density %.2f%%, mean rating %.4g)\n",
           printable(data_name(ds)), (int)st->n_users, PL(st->n_users), (int)st->n_items, PL(st->n_items),
           (long long)st->nnz, PL(st->nnz), 100 * st->density, st->mean_rating);
    printf("\n  %-22s%7s%9s%9s%8s%8s%8s%8s%8s\n", "", "count", "mean", "std", "min", "25%", "50%",
           "75%", "max");
    if (!st->age_codes) print_summary_row("user age", &st->s_age, false);
    print_summary_row("ratings per user", &st->s_user, false);
    print_summary_row("mean rating per user", &st->s_umean, true);
    print_summary_row("ratings per movie", &st->s_movie, false);
    print_summary_row("mean rating per movie", &st->s_mmean, true);
    if (st->age_codes)
        print_tallies("Users by age group (ML-1M's users.dat gives groups, not ages)", "age group",
                      st->age_groups, st->n_age_groups, st->n_users);
    print_tallies("Users by sex", "sex", st->sexes, st->n_sexes, st->n_users);
    print_tallies("Users by occupation", "occupation", st->occupations, st->n_occupations,
                  st->n_users);
    for (int h = 0; h < N_HISTS; h++) print_histogram(&st->hists[h]);
    print_movies("Most rated movies", ds, st->movies, st->n_top);
    char title[96];
    snprintf(title, sizeof title, "Best rated movies (at least %lld rating%s)", (long long)min_ratings, PL(min_ratings));
    if (st->n_top_best > 0) print_movies(title, ds, st->best, st->n_top_best);
    else printf("\n%s: none (no movie has that many; --min-ratings)\n", title);
    if (st->n_genres > 0)
        print_tallies("Movies by genre (a movie can have several)", "genre", st->genres, st->n_genres,
                      st->n_items);
    else if (st->n_no_genres > 0)
        printf("\nMovies by genre\n");
    else if (st->genres_unknown)
        printf("\nMovies by genre: unknown (no movie has a genre listed: no movie data, or none with genres)\n");
    const int64_t labelled = st->n_no_genres - st->n_bare;
    if (st->n_no_genres > 0)
        printf("  %lld movie%s with no genres listed (", (long long)st->n_no_genres, PL(st->n_no_genres));
    if (labelled > 0 && st->n_bare > 0)
        printf("%lld \"%s\" in the data, %lld without a genre in the movie data)\n", (long long)labelled,
               st->no_genres_label, (long long)st->n_bare);
    else if (labelled > 0)
        printf("\"%s\" in the data)\n", st->no_genres_label);
    else if (st->n_bare > 0)
        printf("without a genre in the movie data)\n");
}

/* The histograms and the genre chart as pictures in o->plot_dir. */
static int plot_stats(const struct stats *st, const mfr_dataset *ds, const struct stats_opts *o)
{
    int rc = EXIT_OK;
    char title[160];
    for (int h = 0; h < N_HISTS && rc == EXIT_OK; h++) {
        const struct histogram *hg = &st->hists[h];
        snprintf(title, sizeof title, "%s (%s)", hg->title, data_name(ds));
        /* The counts of ratings have a long tail (most users rate a few
         * dozen movies, some hundreds): a log count axis shows it. */
        const bool of_counts = h == H_PER_USER || h == H_PER_MOVIE;
        const bool movies = h == H_PER_MOVIE || h == H_MOVIE_MEAN;
        struct plot_labels lab = {title, hg->xlabel,
                                  of_counts ? (movies ? "movies (log scale)" : "users (log scale)")
                                            : (movies ? "movies" : "users")};
        rc = plot_histogram(o->plot_dir, hg->name, &lab, hg->n_bins, hg->edges, hg->counts, of_counts);
    }
    if (rc != EXIT_OK || st->n_genres == 0) return rc;
    const char **names = malloc((size_t)st->n_genres * sizeof *names);
    double *counts = malloc((size_t)st->n_genres * sizeof *counts);
    int32_t *styles = malloc((size_t)st->n_genres * sizeof *styles);
    if (!names || !counts || !styles) rc = runtime_error("out of memory");
    /* a "no genre" label is not a bar (tally_genres): its count in the title */
    const int n_bars = st->n_genres;
    const int64_t n_none = st->n_no_genres;
    for (int g = 0; rc == EXIT_OK && g < n_bars; g++) {
        names[g] = st->genres[g].label;
        counts[g] = (double)st->genres[g].count;
    }
    /* each bar in its genre's colour, as in project's charts */
    if (rc == EXIT_OK) plot_genre_styles(n_bars, names, styles);
    int len = snprintf(title, sizeof title, "Movies by genre, a movie can have several (%s)",
                       data_name(ds));
    if (n_none > 0 && len > 0 && (size_t)len < sizeof title)
        snprintf(title + len, sizeof title - (size_t)len, "\n%lld movie%s with no genres listed, not shown",
                 (long long)n_none, PL(n_none));
    struct plot_labels lab = {title, "movies", NULL};
    if (rc == EXIT_OK && n_bars > 0) rc = plot_bars(o->plot_dir, "genres", &lab, n_bars, names, counts, styles);
    free(names);
    free(counts);
    free(styles);
    return rc;
}

/* The charts' names, once all are in place (stdout stays JSON under --json). */
static void say_stats_plots(const struct stats *st, const struct stats_opts *o, struct json_log *say)
{
    for (int h = 0; h < N_HISTS; h++)
        jlog_printf(say, "%swrote %s/%s.png and .svg\n", h == 0 ? "\n" : "", printable(o->plot_dir),
                    st->hists[h].name);
    if (st->n_genres > 0) jlog_printf(say, "wrote %s/genres.png and .svg\n", printable(o->plot_dir));
}

int cmd_stats(int argc, char **argv)
{
    struct stats_opts o = {.bins = 20, .top = 10, .min_ratings = 20};
    const struct flag_spec flags[] = {
        {.name = "--data", .value = "DIR", .kind = FLAG_STR, .dst = &o.data,
         .help = "dataset directory (default: $MFREC_DATA, else data/ml-100k)"},
        {.name = "--json", .kind = FLAG_SWITCH, .dst = &o.json,
         .help = "print one JSON object instead of text tables"},
        {.name = "--plot", .value = "DIR", .kind = FLAG_STR, .dst = &o.plot_dir,
         .help = "also write the charts to DIR as PNG and SVG (gnuplot):\n"
                 "ratings_per_user, mean_rating_per_user, ratings_per_movie,\n"
                 "mean_rating_per_movie (histograms) and genres (bars)"},
        {.name = "--bins", .value = "N", .kind = FLAG_I32, .dst = &o.bins, .lo = 1, .hi = 1000,
         .help = "histogram bins (default 20; a histogram of counts\n"
                 "spanning fewer whole numbers has one bin for each)"},
        {.name = "--top", .value = "N", .kind = FLAG_I32, .dst = &o.top, .lo = 1, .hi = 1000000,
         .help = "rows of the movie rankings (default 10; -k N and\n"
                 "--k N are aliases)"},
        LIST_LENGTH_ALIAS_ROWS(&o.top, 1000000),
        {.name = "--min-ratings", .value = "N", .kind = FLAG_I64, .dst = &o.min_ratings, .lo = 0,
         .hi = INT64_MAX,
         .help = "best rated movies need at least N ratings (all of the\n"
                 "dataset's: stats has no model split, where the other\n"
                 "commands count training ratings; default 20)"},
    };
    struct command_spec cmd = {.name = "mfrec stats", .help = stats_help,
                               .help_end = stats_help_end, .help_width = 18, .flags = flags,
                               .n_flags = sizeof flags / sizeof *flags, .data_flags = true, .threads_flag = true};
    int rc;
    if (!cli_start(&cmd, argc, argv, &rc)) return rc;
    static const char *const charts[] = {"ratings_per_user", "mean_rating_per_user",
                                         "ratings_per_movie", "mean_rating_per_movie", "genres",
                                         NULL};
    if ((rc = io_input_data(default_data_dir(o.data))) != EXIT_OK) return rc;
    if (o.plot_dir && ((rc = plot_preflight()) != EXIT_OK ||
                       (rc = plot_outputs_check(o.plot_dir, charts)) != EXIT_OK))
        return rc;
    mfr_error err = {0};
    mfr_dataset *ds = NULL;
    struct stats st = {0};
    if (load_dataset(default_data_dir(o.data), &ds, &err) != MFR_OK) {
        rc = lib_error(&err);
    } else if (!stats_compute(&st, ds, &o)) {
        rc = runtime_error("out of memory");
    } else {
        /* the charts are drawn (staged) before anything is printed, so a
         * chart that gnuplot cannot draw fails the run with nothing on
         * stdout; their report goes with the tables (on stdout) or after
         * them (--json: on stderr, stdout holding one JSON object); a
         * standard output that cannot be written fails the run before the
         * charts move into place */
        struct json_log say = {0};
        bool staged = false;
        if (o.plot_dir && (rc = plot_stage_begin(o.plot_dir)) == EXIT_OK) {
            staged = true;
            rc = plot_stats(&st, ds, &o);
            if (rc == EXIT_OK) say_stats_plots(&st, &o, &say);
        }
        if (rc == EXIT_OK) {
            if (o.json) print_stats_json(&st, ds, o.top, o.min_ratings);
            else print_stats_text(&st, ds, o.min_ratings);
        }
        if (staged) {
            if (rc == EXIT_OK) rc = jlog_check(&say, "this run's report");
            rc = plot_stage_end_report(rc, o.json ? NULL : say.buf);
            if (rc == EXIT_OK && o.json && say.buf) fputs(say.buf, stderr);
        }
        free(say.buf);
    }
    stats_free(&st);
    mfr_dataset_destroy(ds);
    return rc;
}
