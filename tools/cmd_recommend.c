/*
 * cmd_recommend.c — `mfrec recommend`, `mfrec similar` and `mfrec norms`:
 * the uses of a trained model. Top-k movies for a user of the dataset or
 * for a new user folded in from a few ratings (no retraining), the nearest
 * neighbours of a movie found by title, and the movies with the largest
 * embedding norms beside their rating counts, with the norm histogram.
 *
 * Users and movies are named by the dataset's own ids (as in u.data) and by
 * titles; dense indices never appear. Titles and genres come from the
 * dataset (--data, default: the directory recorded in the model), which
 * must be the one the model was trained on (its fingerprint is checked).
 * The scoring, top-k and fold-in are the library's (mfr_model_recommend,
 * mfr_model_similar_items, mfr_model_fold_in); they are single-threaded and
 * deterministic, so the output is the same for every thread count.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "output.h"
#include "plot.h"

/* At most this many candidate titles are listed in an error or a note. */
#define MAX_LISTED 20

/* ------------------------------------------------------------------ */
/* Shared helpers                                                       */
/* ------------------------------------------------------------------ */

/* Parses --measure into an int; false after a usage error. */
static bool parse_measure(const char *flag, const char *v, void *dst)
{
    int *out = dst;
    if (!strcmp(v, "dot")) *out = MFR_MEASURE_DOT;
    else if (!strcmp(v, "cosine")) *out = MFR_MEASURE_COSINE;
    else {
        usage_error("%s must be dot or cosine, got '%s'", flag, v);
        return false;
    }
    return true;
}

static bool model_has_bias(const mfr_model *m)
{
    mfr_config cfg;
    mfr_model_config(m, &cfg, NULL);
    return cfg.bias != 0;
}

static const char *measure_name(int measure)
{
    return measure == MFR_MEASURE_COSINE ? "cosine" : "dot";
}

/* ASCII lower case of one byte (UTF-8 continuation bytes are unchanged). */
static int lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static bool equal_ci(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (lower((unsigned char)*a) != lower((unsigned char)*b)) return false;
    return *a == *b;
}

/* True when `needle` occurs in `hay`, ignoring ASCII case. */
static bool contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t j = 0;
        while (j < n && hay[j] && lower((unsigned char)hay[j]) == lower((unsigned char)needle[j]))
            j++;
        if (j == n) return true;
    }
    return n == 0;
}

/* Room for item_title's fallback text. */
enum { TITLE_BUF = 64 };

static void print_table_header(const char *score_name)
{
    printf("%4s  %7s  %9s  %s\n", "rank", "movie", score_name, "title  [genres]");
}

/* One row of a result table: rank, raw movie id, score, title, genres. */
static void print_movie_row(const mfr_dataset *ds, int rank, int32_t item, double score)
{
    char g[512], t[TITLE_BUF];
    printf("%4d  %7lld  %9.4f  %s  [%s]\n", rank, (long long)mfr_dataset_item_id(ds, item), score,
           item_title(ds, item, t, sizeof t), item_genres(ds, item, "-", g, sizeof g));
}

/* Prints up to MAX_LISTED movies of `items` (n of them) as "id  title" to f. */
static void list_movies(FILE *f, const mfr_dataset *ds, const int32_t *items, int32_t n)
{
    char t[TITLE_BUF];
    for (int32_t x = 0; x < n && x < MAX_LISTED; x++)
        fprintf(f, "  %7lld  %s\n", (long long)mfr_dataset_item_id(ds, items[x]),
                item_title(ds, items[x], t, sizeof t));
    if (n > MAX_LISTED) fprintf(f, "  ... and %d more\n", (int)(n - MAX_LISTED));
}

/* Dense indices of the movies whose title contains `text` (ignoring ASCII
 * case), in index order, into out (n_items entries); returns the count. */
static int32_t find_titles(const mfr_dataset *ds, const char *text, int32_t *out)
{
    int32_t n = 0;
    for (int32_t i = 0; i < mfr_dataset_n_items(ds); i++)
        if (contains_ci(mfr_dataset_item_title(ds, i), text)) out[n++] = i;
    return n;
}

/* ------------------------------------------------------------------ */
/* Ratings of a new user: --rate and --ratings-file                     */
/* ------------------------------------------------------------------ */

struct new_ratings {
    int32_t n, cap;
    int32_t *items;
    float *values;
};

/* Resolves a movie named by `text` for a rating: "#ID" is a raw movie id;
 * otherwise an exact title (ignoring case) first, then a unique title
 * containing the text. `where` names the source in messages ("--rate" or
 * "FILE:LINE"). Prints the error (listing the candidates) and returns
 * EXIT_RUNTIME when the movie is unknown or ambiguous. `scratch` holds
 * n_items entries. */
static int resolve_movie(const mfr_dataset *ds, const char *where, const char *text,
                         int32_t *scratch, int32_t *item)
{
    if (text[0] == '#') {
        char *end;
        errno = 0;
        long long id = strtoll(text + 1, &end, 10);
        int32_t i = (errno || end == text + 1 || *end) ? -1 : mfr_dataset_item_index(ds, id);
        if (i < 0) return runtime_error("%s: no movie has id '%s'", where, text + 1);
        *item = i;
        return EXIT_OK;
    }
    int32_t n_exact = 0;
    for (int32_t i = 0; i < mfr_dataset_n_items(ds); i++)
        if (equal_ci(mfr_dataset_item_title(ds, i), text)) scratch[n_exact++] = i;
    if (n_exact == 1) {
        *item = scratch[0];
        return EXIT_OK;
    }
    int32_t n = n_exact ? n_exact : find_titles(ds, text, scratch);
    if (n == 1) {
        *item = scratch[0];
        return EXIT_OK;
    }
    if (n == 0) return runtime_error("%s: no movie title matches '%s'", where, text);
    runtime_error("%s: '%s' is ambiguous: %d movies %s it (name one exactly, or as #ID):",
                  where, text, (int)n, n_exact ? "are titled" : "have titles containing");
    list_movies(stderr, ds, scratch, n);
    return EXIT_RUNTIME;
}

/* Adds one rating; a movie rated twice is an error naming both places. */
static int add_rating(struct new_ratings *r, const mfr_dataset *ds, const char *where,
                      int32_t item, float value)
{
    char t[TITLE_BUF];
    for (int32_t x = 0; x < r->n; x++)
        if (r->items[x] == item)
            return runtime_error("%s: '%s' is rated twice", where, item_title(ds, item, t, sizeof t));
    if (r->n == r->cap) {
        int32_t cap = r->cap ? 2 * r->cap : 16;
        int32_t *ni = realloc(r->items, (size_t)cap * sizeof *ni);
        if (!ni) return runtime_error("out of memory");
        r->items = ni;
        float *nv = realloc(r->values, (size_t)cap * sizeof *nv);
        if (!nv) return runtime_error("out of memory");
        r->values = nv;
        r->cap = cap;
    }
    r->items[r->n] = item;
    r->values[r->n] = value;
    r->n++;
    return EXIT_OK;
}

/* Copies s[0..len) without surrounding blanks into a malloc'd string. */
static char *trimmed(const char *s, size_t len)
{
    while (len && (*s == ' ' || *s == '\t')) s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r')) len--;
    char *t = malloc(len + 1);
    if (t) {
        memcpy(t, s, len);
        t[len] = 0;
    }
    return t;
}

/* Parses a rating value within the dataset's rating range; false when it
 * is not a number in range. */
static bool parse_rating(const mfr_dataset *ds, const char *s, float *out)
{
    float lo, hi;
    mfr_dataset_rating_range(ds, &lo, &hi);
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    while (*end == ' ' || *end == '\t' || *end == '\r') end++;
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) return false;
    *out = (float)v;
    return true;
}

/* --rate "TITLE=R,TITLE=R,...": each entry ends at the first ',' after its
 * '=' so titles may contain commas ("Usual Suspects, The (1995)=5"). */
static int parse_rate(const mfr_dataset *ds, const char *spec, int32_t *scratch,
                      struct new_ratings *r)
{
    float lo, hi;
    mfr_dataset_rating_range(ds, &lo, &hi);
    const char *p = spec;
    while (*p) {
        const char *eq = strchr(p, '=');
        if (!eq)
            return usage_error("--rate: '%s' has no '=RATING' (expected \"TITLE=RATING,...\")", p);
        const char *comma = strchr(eq, ',');
        size_t vlen = comma ? (size_t)(comma - eq - 1) : strlen(eq + 1);
        char *title = trimmed(p, (size_t)(eq - p)), *value = trimmed(eq + 1, vlen);
        int rc = EXIT_OK;
        float v = 0;
        int32_t item = -1;
        if (!title || !value) rc = runtime_error("out of memory");
        else if (!*title) rc = usage_error("--rate: an entry has no title before '=%s'", value);
        else if (!parse_rating(ds, value, &v))
            rc = usage_error("--rate: the rating of '%s' must be a number in [%g, %g], got '%s'",
                             title, (double)lo, (double)hi, value);
        else if ((rc = resolve_movie(ds, "--rate", title, scratch, &item)) == EXIT_OK)
            rc = add_rating(r, ds, "--rate", item, v);
        free(title);
        free(value);
        if (rc != EXIT_OK) return rc;
        p = comma ? comma + 1 : eq + 1 + vlen;
        while (*p == ' ') p++;
    }
    if (r->n == 0) return usage_error("--rate: no ratings given");
    return EXIT_OK;
}

/* --ratings-file FILE: lines "TITLE=RATING" or "MOVIE_ID<TAB>RATING";
 * blank lines and lines starting with '#' are skipped. Errors name
 * FILE:LINE. */
static int parse_ratings_file(const mfr_dataset *ds, const char *path, int32_t *scratch,
                              struct new_ratings *r)
{
    float lo, hi;
    mfr_dataset_rating_range(ds, &lo, &hi);
    FILE *f = fopen(path, "r");
    if (!f) return runtime_error("--ratings-file %s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = EXIT_OK;
    long lineno = 0;
    char where[1100];
    while (rc == EXIT_OK && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        snprintf(where, sizeof where, "%s:%ld", path, lineno);
        const char *s = line;
        while (*s == ' ') s++;
        if (!*s || *s == '#') continue;
        const char *tab = strchr(s, '\t'), *eq = strrchr(s, '=');
        char *key = NULL, *value = NULL;
        bool by_id = false;
        if (tab && !eq) {
            key = trimmed(s, (size_t)(tab - s));
            value = trimmed(tab + 1, strlen(tab + 1));
            by_id = true;
        } else if (eq) {
            key = trimmed(s, (size_t)(eq - s));
            value = trimmed(eq + 1, strlen(eq + 1));
        } else {
            rc = runtime_error("%s: expected TITLE=RATING or MOVIE_ID<TAB>RATING, got '%s'",
                               where, s);
            break;
        }
        float v = 0;
        int32_t item = -1;
        if (!key || !value) rc = runtime_error("out of memory");
        else if (!*key) rc = runtime_error("%s: no movie before the rating", where);
        else if (!parse_rating(ds, value, &v))
            rc = runtime_error("%s: the rating must be a number in [%g, %g], got '%s'", where,
                               (double)lo, (double)hi, value);
        else if (by_id) {
            char *end;
            errno = 0;
            long long id = strtoll(key, &end, 10);
            item = (errno || end == key || *end) ? -1 : mfr_dataset_item_index(ds, id);
            if (item < 0) rc = runtime_error("%s: no movie has id '%s'", where, key);
        } else {
            rc = resolve_movie(ds, where, key, scratch, &item);
        }
        if (rc == EXIT_OK) rc = add_rating(r, ds, where, item, v);
        free(key);
        free(value);
    }
    if (rc == EXIT_OK && ferror(f)) rc = runtime_error("--ratings-file %s: read error", path);
    free(line);
    fclose(f);
    if (rc == EXIT_OK && r->n == 0)
        rc = runtime_error("--ratings-file %s: no ratings in the file", path);
    return rc;
}

/* The default fold-in lambda (mfr_model_fold_in_lambda) for a new user
 * with n ratings; the number of training ratings comes from the model's
 * recorded split, recreated, and only matters for a model trained with L2. */
static int default_lambda(const mfr_model *m, const mfr_dataset *ds, int32_t n, double *out)
{
    mfr_config cfg;
    mfr_model_config(m, &cfg, NULL);
    int64_t n_train = mfr_ratings_count(mfr_dataset_ratings(ds));
    const char *spec = mfr_model_split_spec(m);
    if (cfg.l2 > 0.0 && *spec) {
        mfr_error err = {0};
        mfr_split *sp = NULL;
        if (mfr_split_create(ds, spec, cfg.seed, &sp, &err) != MFR_OK)
            return runtime_error("cannot recreate the model's split %s for the default "
                                 "--lambda: %s", spec, err.message);
        n_train = mfr_ratings_count(mfr_split_train(sp));
        mfr_split_destroy(sp);
    }
    *out = mfr_model_fold_in_lambda(m, n_train, n);
    return EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* mfrec recommend                                                      */
/* ------------------------------------------------------------------ */

static const char recommend_help[] =
    "Usage: mfrec recommend --model MODEL [--data DIR] --user ID [--exclude-rated]\n"
    "                       [-k N] [--measure dot|cosine]\n"
    "       mfrec recommend --model MODEL [--data DIR] (--rate \"TITLE=R,...\" |\n"
    "                       --ratings-file FILE) [--lambda L] [-k N] [--measure dot|cosine]\n"
    "\n"
    "The top-k movies for a user of the dataset (--user, the id of u.data), or\n"
    "for a new user described by a few ratings, folded into the model without\n"
    "retraining: with the movie embeddings fixed, the user's embedding solves\n"
    "the ridge problem (V^T V + lambda I) u = V^T r over the rated movies\n"
    "(Cholesky, in double; with a model trained with biases the user's bias\n"
    "is fitted too). The rated movies are then never recommended.\n"
    "\n";

static const char recommend_help_end[] =
    "\n"
    "Equal scores list the lower movie index first. The output is the same\n"
    "for every thread count.\n"
    "Exit status: 0 ok, 1 runtime error (unknown user or title, ambiguous\n"
    "title, bad data), 2 usage error.\n";

struct recommend_opts {
    const char *model_path, *data, *rate, *rfile;
    int64_t user_id;
    bool have_user, exclude_rated;
    int32_t k;
    int measure;
    double lambda; /* -1: mfr_model_fold_in_lambda */
};

/* --user ID into a struct recommend_opts. */
static bool parse_user(const char *flag, const char *v, void *dst)
{
    struct recommend_opts *o = dst;
    o->have_user = parse_i64(flag, v, INT64_MIN, INT64_MAX, &o->user_id);
    return o->have_user;
}

/* Parses the flags into o; false with *rc set when the command stops. */
static bool parse_recommend_flags(int argc, char **argv, struct recommend_opts *o, int *rc)
{
    const struct flag_spec flags[] = {
        {.name = "--model", .value = "MODEL", .kind = FLAG_STR, .dst = &o->model_path,
         .help = "a model written by `mfrec train --out`"},
        {.name = "--data", .value = "DIR", .kind = FLAG_STR, .dst = &o->data,
         .help = "dataset for titles and genres (default: the directory\n"
                 "recorded in the model); it must be the one the model\n"
                 "was trained on"},
        {.name = "--user", .value = "ID", .kind = FLAG_CUSTOM, .dst = o, .parse = parse_user,
         .help = "a user of the dataset"},
        {.name = "--exclude-rated", .kind = FLAG_SWITCH, .dst = &o->exclude_rated,
         .help = "with --user: leave out the movies the user rated"},
        {.name = "--rate", .value = "LIST", .kind = FLAG_STR, .dst = &o->rate,
         .help = "\"Star Wars=5,Fargo=4\": a title matches exactly\n"
                 "(ignoring case) first, else by substring, which must\n"
                 "then be unique; \"#ID=5\" names a movie by id"},
        {.name = "--ratings-file", .value = "FILE", .kind = FLAG_STR, .dst = &o->rfile,
         .help = "lines \"TITLE=RATING\" or \"MOVIE_ID<TAB>RATING\"\n"
                 "(blank lines and '#' comments are skipped)"},
        {.name = "--lambda", .value = "L", .kind = FLAG_DOUBLE, .dst = &o->lambda, .min = 0,
         .max = 1e9,
         .help = "ridge strength of the fold-in (default: 0.1 plus the\n"
                 "model's own L2 terms, --l2 x training ratings / users\n"
                 "+ --l2-freq x the new user's ratings, so the fold-in\n"
                 "solves the problem training solved for each user)"},
        {.name = "-k", .value = "N", .kind = FLAG_I32, .dst = &o->k, .lo = 1, .hi = 1000000,
         .help = "how many movies (default 10)"},
        {.name = "--measure", .value = "M", .kind = FLAG_CUSTOM, .dst = &o->measure,
         .parse = parse_measure,
         .help = "dot (default: the predicted rating) or cosine (the\n"
                 "movie embeddings normalized; biases left out)"},
    };
    struct command_spec cmd = {.name = "mfrec recommend", .help = recommend_help,
                               .help_end = recommend_help_end, .help_width = 19, .flags = flags,
                               .n_flags = sizeof flags / sizeof *flags, .data_flags = true};
    if (!cli_start(&cmd, argc, argv, rc)) return false;
    int modes = o->have_user + (o->rate != NULL) + (o->rfile != NULL);
    if (!o->model_path) *rc = usage_error("--model is required");
    else if (modes == 0) *rc = usage_error("one of --user, --rate or --ratings-file is required");
    else if (modes > 1) *rc = usage_error("--user, --rate and --ratings-file exclude each other");
    else if (o->exclude_rated && !o->have_user)
        *rc = usage_error("--exclude-rated goes with --user (a new user's rated movies are "
                          "always excluded)");
    return *rc == EXIT_OK;
}

/* The buffers of one recommendation. */
struct rec_state {
    int32_t n_items, n_out, n_excluded;
    int32_t *scratch, *items;
    float *scores, *vec;
    uint8_t *exclude;
    struct new_ratings nr;
};

static bool rec_alloc(struct rec_state *st, const mfr_model *m, int32_t k)
{
    st->n_items = mfr_model_n_items(m);
    int32_t want = k < st->n_items ? k : st->n_items;
    st->scratch = malloc((size_t)st->n_items * sizeof *st->scratch);
    st->items = malloc((size_t)want * sizeof *st->items);
    st->scores = malloc((size_t)want * sizeof *st->scores);
    st->exclude = calloc((size_t)st->n_items, 1);
    st->vec = malloc((size_t)mfr_model_k(m) * sizeof *st->vec);
    return st->scratch && st->items && st->scores && st->exclude && st->vec;
}

static void rec_free(struct rec_state *st)
{
    free(st->nr.items);
    free(st->nr.values);
    free(st->scratch);
    free(st->items);
    free(st->scores);
    free(st->exclude);
    free(st->vec);
}

/* Top-k for a user of the dataset. */
static int recommend_user(const struct recommend_opts *o, const mfr_model *m,
                          const mfr_dataset *ds, struct rec_state *st)
{
    mfr_error err = {0};
    int32_t u = mfr_dataset_user_index(ds, o->user_id);
    if (u < 0)
        return runtime_error("--user: no user has id %lld in %s", (long long)o->user_id,
                             mfr_dataset_dir(ds));
    const mfr_ratings *all = mfr_dataset_ratings(ds);
    int32_t n_rated = 0;
    for (int64_t x = 0; x < mfr_ratings_count(all); x++) {
        int32_t ru, ri;
        mfr_ratings_get(all, x, &ru, &ri, NULL, NULL, NULL);
        if (ru == u && !st->exclude[ri]) st->exclude[ri] = 1, n_rated++;
    }
    if (o->exclude_rated) st->n_excluded = n_rated;
    if (mfr_model_recommend(m, u, o->k, o->measure, o->exclude_rated ? st->exclude : NULL,
                            st->items, st->scores, &st->n_out, &err) != MFR_OK)
        return lib_error(&err);
    printf("user %lld (%d ratings): top %d by %s%s\n", (long long)o->user_id, (int)n_rated,
           (int)o->k, measure_name(o->measure), o->exclude_rated ? ", rated movies excluded" : "");
    return EXIT_OK;
}

/* The fitted values of the new user's rated movies, as a check of the fold-in. */
static int print_fold_in(const mfr_model *m, const mfr_dataset *ds, const struct rec_state *st,
                         double lambda, float bias)
{
    mfr_error err = {0};
    float *fit = malloc((size_t)st->n_items * sizeof *fit);
    if (!fit || mfr_model_score_items(m, st->vec, MFR_MEASURE_DOT, fit, &err) != MFR_OK) {
        free(fit);
        return fit ? lib_error(&err) : runtime_error("out of memory");
    }
    printf("new user folded in from %d ratings (lambda %g%s):\n", (int)st->nr.n, lambda,
           model_has_bias(m) ? ", with a fitted user bias" : "");
    printf("%7s  %6s  %6s  %s\n", "movie", "rating", "fit", "title");
    char t[TITLE_BUF];
    for (int32_t x = 0; x < st->nr.n; x++) {
        int32_t i = st->nr.items[x];
        double f = (double)fit[i] + (double)bias + (double)mfr_model_item_bias(m, i);
        printf("%7lld  %6g  %6.2f  %s\n", (long long)mfr_dataset_item_id(ds, i),
               (double)st->nr.values[x], f, item_title(ds, i, t, sizeof t));
    }
    free(fit);
    return EXIT_OK;
}

/* Top-k for a new user folded in from --rate or --ratings-file. */
static int recommend_new_user(const struct recommend_opts *o, const mfr_model *m,
                              const mfr_dataset *ds, struct rec_state *st)
{
    mfr_error err = {0};
    int rc = o->rate ? parse_rate(ds, o->rate, st->scratch, &st->nr)
                     : parse_ratings_file(ds, o->rfile, st->scratch, &st->nr);
    if (rc != EXIT_OK) return rc;
    double lambda = o->lambda;
    if (lambda < 0.0 && (rc = default_lambda(m, ds, st->nr.n, &lambda)) != EXIT_OK) return rc;
    float bias = 0.0f;
    if (mfr_model_fold_in(m, st->nr.items, st->nr.values, st->nr.n, lambda, st->vec, &bias,
                          &err) != MFR_OK)
        return lib_error(&err);
    for (int32_t x = 0; x < st->nr.n; x++) st->exclude[st->nr.items[x]] = 1;
    st->n_excluded = st->nr.n;
    if ((rc = print_fold_in(m, ds, st, lambda, bias)) != EXIT_OK) return rc;
    if (mfr_model_recommend_vector(m, st->vec, bias, o->k, o->measure, st->exclude, st->items,
                                   st->scores, &st->n_out, &err) != MFR_OK)
        return lib_error(&err);
    printf("top %d by %s, the %d rated movies excluded\n", (int)o->k, measure_name(o->measure),
           (int)st->n_excluded);
    return EXIT_OK;
}

int cmd_recommend(int argc, char **argv)
{
    struct recommend_opts o = {.user_id = -1, .k = 10, .measure = MFR_MEASURE_DOT, .lambda = -1.0};
    int rc;
    if (!parse_recommend_flags(argc, argv, &o, &rc)) return rc;
    mfr_model *m = NULL;
    mfr_dataset *ds = NULL;
    struct rec_state st = {0};
    if ((rc = load_model_and_data(o.model_path, o.data, &m, &ds, NULL)) != EXIT_OK) return rc;
    if (!rec_alloc(&st, m, o.k)) rc = runtime_error("out of memory");
    else rc = o.have_user ? recommend_user(&o, m, ds, &st) : recommend_new_user(&o, m, ds, &st);
    if (rc == EXIT_OK) {
        if (st.n_out < o.k)
            printf("(only %d movies %s)\n", (int)st.n_out,
                   st.n_excluded ? "are left after the exclusions" : "in the catalogue");
        print_table_header(measure_name(o.measure));
        for (int32_t r = 0; r < st.n_out; r++)
            print_movie_row(ds, (int)r + 1, st.items[r], st.scores[r]);
    }
    rec_free(&st);
    mfr_dataset_destroy(ds);
    mfr_model_destroy(m);
    return rc;
}

/* ------------------------------------------------------------------ */
/* mfrec similar                                                        */
/* ------------------------------------------------------------------ */

static const char similar_help[] =
    "Usage: mfrec similar --model MODEL [--data DIR] --movie TEXT [-k N]\n"
    "                     [--measure cosine|dot]\n"
    "\n"
    "The nearest neighbours of a movie in the model's embedding space. The\n"
    "movie is the first (lowest index) whose title contains TEXT, ignoring\n"
    "case; the other matching titles are listed before the result.\n"
    "\n";

static const char similar_help_end[] =
    "\n"
    "Equal scores list the lower movie index first. The output is the same\n"
    "for every thread count.\n"
    "Exit status: 0 ok, 1 runtime error (no title matches, bad data), 2 usage\n"
    "error.\n";

int cmd_similar(int argc, char **argv)
{
    const char *model_path = NULL, *data = NULL, *movie = NULL;
    int32_t k = 6;
    int measure = MFR_MEASURE_COSINE;
    const struct flag_spec flags[] = {
        {.name = "--model", .value = "MODEL", .kind = FLAG_STR, .dst = &model_path,
         .help = "a model written by `mfrec train --out`"},
        {.name = "--data", .value = "DIR", .kind = FLAG_STR, .dst = &data,
         .help = "dataset for titles and genres (default: the directory\n"
                 "recorded in the model)"},
        {.name = "--movie", .value = "TEXT", .kind = FLAG_STR, .dst = &movie,
         .help = "part of a title, e.g. \"aladdin\""},
        {.name = "-k", .value = "N", .kind = FLAG_I32, .dst = &k, .lo = 1, .hi = 1000000,
         .help = "how many neighbours (default 6)"},
        {.name = "--measure", .value = "M", .kind = FLAG_CUSTOM, .dst = &measure,
         .parse = parse_measure,
         .help = "cosine (default) or dot, over the embeddings (biases\n"
                 "left out); a zero embedding scores 0 under cosine"},
    };
    struct command_spec cmd = {.name = "mfrec similar", .help = similar_help,
                               .help_end = similar_help_end, .help_width = 15, .flags = flags,
                               .n_flags = sizeof flags / sizeof *flags, .data_flags = true};
    int rc;
    if (!cli_start(&cmd, argc, argv, &rc)) return rc;
    if (!model_path) return usage_error("--model is required");
    if (!movie) return usage_error("--movie is required");
    if (!*movie) return usage_error("--movie must not be empty");

    mfr_error err = {0};
    mfr_model *m = NULL;
    mfr_dataset *ds = NULL;
    int32_t *matches = NULL, *items = NULL;
    float *scores = NULL;
    if ((rc = load_model_and_data(model_path, data, &m, &ds, NULL)) != EXIT_OK) return rc;
    int32_t n_items = mfr_model_n_items(m), want = k < n_items ? k : n_items;
    matches = malloc((size_t)n_items * sizeof *matches);
    items = malloc((size_t)want * sizeof *items);
    scores = malloc((size_t)want * sizeof *scores);
    if (!matches || !items || !scores) {
        rc = runtime_error("out of memory");
        goto done;
    }
    int32_t n_match = find_titles(ds, movie, matches);
    if (n_match == 0) {
        rc = runtime_error("--movie: no movie title contains '%s'", movie);
        goto done;
    }
    int32_t q = matches[0], n_out = 0;
    if (n_match > 1) {
        printf("%d movies match '%s'; using the first. The others:\n", (int)n_match, movie);
        list_movies(stdout, ds, matches + 1, n_match - 1);
    }
    if (mfr_model_similar_items(m, q, k, measure, items, scores, &n_out, &err) != MFR_OK) {
        rc = lib_error(&err);
        goto done;
    }
    char g[512], t[TITLE_BUF];
    printf("movie %lld: %s  [%s]\n", (long long)mfr_dataset_item_id(ds, q),
           item_title(ds, q, t, sizeof t), item_genres(ds, q, "-", g, sizeof g));
    printf("nearest %d by %s\n", (int)k, measure_name(measure));
    if (n_out < k) printf("(only %d other movies in the catalogue)\n", (int)n_out);
    print_table_header(measure_name(measure));
    for (int32_t r = 0; r < n_out; r++) print_movie_row(ds, (int)r + 1, items[r], scores[r]);
done:
    free(matches);
    free(items);
    free(scores);
    mfr_dataset_destroy(ds);
    mfr_model_destroy(m);
    return rc;
}

/* ------------------------------------------------------------------ */
/* mfrec norms                                                          */
/* ------------------------------------------------------------------ */

static const char norms_help[] =
    "Usage: mfrec norms --model MODEL [--data DIR] [-k N] [--bins B] [--plot DIR]\n"
    "\n"
    "The movies with the largest embedding norms |v| (over the k embedding\n"
    "components, biases left out), with their number of ratings in the\n"
    "dataset, then the histogram of all the movies' norms.\n"
    "\n";

static const char norms_help_end[] =
    "\n"
    "Equal norms list the lower movie index first.\n"
    "Exit status: 0 ok, 1 runtime error, 2 usage error.\n";

struct norms_opts {
    const char *model_path, *data, *plot_dir;
    int32_t k, bins;
};

/* The norms, their ranking and their histogram. */
struct norms_state {
    int32_t n_items, n_top;
    double *norms, *edges;
    float *fnorms, *top_sc;
    int64_t *counts, *hist;
    int32_t *top;
};

static void norms_free(struct norms_state *st)
{
    free(st->norms);
    free(st->fnorms);
    free(st->counts);
    free(st->top);
    free(st->top_sc);
    free(st->edges);
    free(st->hist);
}

/* Fills st: every movie's norm and rating count, the k largest norms. */
static int norms_compute(struct norms_state *st, const mfr_model *m, const mfr_dataset *ds,
                         const struct norms_opts *o)
{
    mfr_error err = {0};
    int32_t n = st->n_items = mfr_model_n_items(m), want = o->k < n ? o->k : n;
    st->norms = malloc((size_t)n * sizeof *st->norms);
    st->fnorms = malloc((size_t)n * sizeof *st->fnorms);
    st->counts = calloc((size_t)n, sizeof *st->counts);
    st->top = malloc((size_t)want * sizeof *st->top);
    st->top_sc = malloc((size_t)want * sizeof *st->top_sc);
    st->edges = malloc(((size_t)o->bins + 1) * sizeof *st->edges);
    st->hist = malloc((size_t)o->bins * sizeof *st->hist);
    if (!st->norms || !st->fnorms || !st->counts || !st->top || !st->top_sc || !st->edges ||
        !st->hist)
        return runtime_error("out of memory");
    if (mfr_model_norms(m, MFR_FACTORS_ITEMS, st->norms, &err) != MFR_OK) return lib_error(&err);
    count_item_ratings(ds, st->counts);
    /* rank by the double norm: floats only order, the printed value is the
     * double; ties after rounding go to the lower index */
    for (int32_t i = 0; i < n; i++) st->fnorms[i] = (float)st->norms[i];
    if (mfr_scores_top_k(st->fnorms, n, o->k, NULL, st->top, st->top_sc, &st->n_top, &err) !=
        MFR_OK)
        return lib_error(&err);
    return EXIT_OK;
}

static void print_norms(const struct norms_state *st, const mfr_model *m, const mfr_dataset *ds,
                        const struct norms_opts *o)
{
    printf("model %s: item embedding norms (k %d, %d movies)\n", o->model_path,
           (int)mfr_model_k(m), (int)st->n_items);
    printf("largest %d norms\n", (int)st->n_top);
    printf("%4s  %7s  %9s  %7s  %s\n", "rank", "movie", "norm", "ratings", "title  [genres]");
    char g[512], t[TITLE_BUF];
    for (int32_t r = 0; r < st->n_top; r++) {
        int32_t i = st->top[r];
        printf("%4d  %7lld  %9.4f  %7lld  %s  [%s]\n", (int)r + 1,
               (long long)mfr_dataset_item_id(ds, i), st->norms[i], (long long)st->counts[i],
               item_title(ds, i, t, sizeof t), item_genres(ds, i, "-", g, sizeof g));
    }
    int64_t counted = hist_bins(st->n_items, st->norms, o->bins, st->edges, st->hist);
    int64_t peak = 1;
    for (int32_t b = 0; b < o->bins; b++)
        if (st->hist[b] > peak) peak = st->hist[b];
    printf("histogram of %lld norms (%d bins)\n", (long long)counted, (int)o->bins);
    for (int32_t b = 0; b < o->bins; b++) {
        int bar = (int)((st->hist[b] * 50 + peak - 1) / peak);
        printf("  [%9.4f, %9.4f%c %6lld%s", st->edges[b], st->edges[b + 1],
               b + 1 == o->bins ? ']' : ')', (long long)st->hist[b], bar ? "  " : "");
        for (int c = 0; c < bar; c++) putchar('#');
        putchar('\n');
    }
}

int cmd_norms(int argc, char **argv)
{
    struct norms_opts o = {.k = 10, .bins = 20};
    const struct flag_spec flags[] = {
        {.name = "--model", .value = "MODEL", .kind = FLAG_STR, .dst = &o.model_path,
         .help = "a model written by `mfrec train --out`"},
        {.name = "--data", .value = "DIR", .kind = FLAG_STR, .dst = &o.data,
         .help = "dataset for titles and rating counts (default: the\n"
                 "directory recorded in the model)"},
        {.name = "-k", .value = "N", .kind = FLAG_I32, .dst = &o.k, .lo = 1, .hi = 1000000,
         .help = "how many movies to list (default 10)"},
        {.name = "--bins", .value = "B", .kind = FLAG_I32, .dst = &o.bins, .lo = 1, .hi = 1000,
         .help = "histogram bins, equal width from the smallest to the\n"
                 "largest norm (default 20)"},
        {.name = "--plot", .value = "DIR", .kind = FLAG_STR, .dst = &o.plot_dir,
         .help = "also draw the histogram with gnuplot: DIR/item_norms.png\n"
                 "and .svg (plus .dat and .gp)"},
    };
    struct command_spec cmd = {.name = "mfrec norms", .help = norms_help,
                               .help_end = norms_help_end, .help_width = 15, .flags = flags,
                               .n_flags = sizeof flags / sizeof *flags, .data_flags = true};
    int rc;
    if (!cli_start(&cmd, argc, argv, &rc)) return rc;
    if (!o.model_path) return usage_error("--model is required");
    mfr_model *m = NULL;
    mfr_dataset *ds = NULL;
    struct norms_state st = {0};
    if ((rc = load_model_and_data(o.model_path, o.data, &m, &ds, NULL)) != EXIT_OK) return rc;
    if ((rc = norms_compute(&st, m, ds, &o)) == EXIT_OK) {
        print_norms(&st, m, ds, &o);
        if (o.plot_dir) {
            struct plot_labels lab = {"Item embedding norms", "norm |v|", "movies"};
            if ((rc = ensure_dir(o.plot_dir)) == EXIT_OK &&
                (rc = plot_histogram(o.plot_dir, "item_norms", &lab, o.bins, st.edges, st.hist)) ==
                    EXIT_OK)
                printf("plot: %s/item_norms.png, %s/item_norms.svg\n", o.plot_dir, o.plot_dir);
        }
    }
    norms_free(&st);
    mfr_dataset_destroy(ds);
    mfr_model_destroy(m);
    return rc;
}
