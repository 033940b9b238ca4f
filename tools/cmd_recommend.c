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
#include "plot.h"

/* At most this many candidate titles are listed in an error or a note. */
#define MAX_LISTED 20

/* ------------------------------------------------------------------ */
/* Shared helpers                                                       */
/* ------------------------------------------------------------------ */

/* Parses --measure; false after a usage error. */
static bool parse_measure(const char *flag, const char *v, int *out)
{
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
    mfr_model_config(m, &cfg);
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

/* The movie's genres joined by '|' ("-" when it has none) into buf. */
static const char *genres_text(const mfr_dataset *ds, int32_t item, char *buf, size_t size)
{
    uint32_t g = mfr_dataset_item_genres(ds, item);
    size_t len = 0;
    buf[0] = 0;
    for (int32_t b = 0; b < mfr_dataset_n_genres(ds) && b < 32; b++) {
        if (!(g >> b & 1u)) continue;
        int w = snprintf(buf + len, size - len, "%s%s", len ? "|" : "",
                         mfr_dataset_genre_name(ds, b));
        if (w < 0 || (size_t)w >= size - len) break;
        len += (size_t)w;
    }
    if (!len) snprintf(buf, size, "-");
    return buf;
}

/* The movie's title, or "(no title)" when the dataset has none. */
static const char *title_of(const mfr_dataset *ds, int32_t item)
{
    const char *t = mfr_dataset_item_title(ds, item);
    return *t ? t : "(no title)";
}

static void print_table_header(const char *score_name)
{
    printf("%4s  %7s  %9s  %s\n", "rank", "movie", score_name, "title  [genres]");
}

/* One row of a result table: rank, raw movie id, score, title, genres. */
static void print_movie_row(const mfr_dataset *ds, int rank, int32_t item, double score)
{
    char g[512];
    printf("%4d  %7lld  %9.4f  %s  [%s]\n", rank, (long long)mfr_dataset_item_id(ds, item), score,
           title_of(ds, item), genres_text(ds, item, g, sizeof g));
}

/* Prints up to MAX_LISTED movies of `items` (n of them) as "id  title". */
static void list_movies(const mfr_dataset *ds, const int32_t *items, int32_t n)
{
    for (int32_t x = 0; x < n && x < MAX_LISTED; x++)
        fprintf(stderr, "  %7lld  %s\n", (long long)mfr_dataset_item_id(ds, items[x]),
                title_of(ds, items[x]));
    if (n > MAX_LISTED) fprintf(stderr, "  ... and %d more\n", (int)(n - MAX_LISTED));
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
    list_movies(ds, scratch, n);
    return EXIT_RUNTIME;
}

/* Adds one rating; a movie rated twice is an error naming both places. */
static int add_rating(struct new_ratings *r, const mfr_dataset *ds, const char *where,
                      int32_t item, float value)
{
    for (int32_t x = 0; x < r->n; x++)
        if (r->items[x] == item)
            return runtime_error("%s: '%s' is rated twice", where, title_of(ds, item));
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
    mfr_model_config(m, &cfg);
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
    "\n"
    "  --model MODEL       a model written by `mfrec train --out`\n"
    "  --data DIR          dataset for titles and genres (default: the directory\n"
    "                      recorded in the model); it must be the one the model\n"
    "                      was trained on\n"
    "  --user ID           a user of the dataset\n"
    "  --exclude-rated     with --user: leave out the movies the user rated\n"
    "  --rate LIST         \"Star Wars=5,Fargo=4\": a title matches exactly\n"
    "                      (ignoring case) first, else by substring, which must\n"
    "                      then be unique; \"#ID=5\" names a movie by id\n"
    "  --ratings-file FILE lines \"TITLE=RATING\" or \"MOVIE_ID<TAB>RATING\"\n"
    "                      (blank lines and '#' comments are skipped)\n"
    "  --lambda L          ridge strength of the fold-in (default: 0.1 plus the\n"
    "                      model's own L2 terms, --l2 x training ratings / users\n"
    "                      + --l2-freq x the new user's ratings, so the fold-in\n"
    "                      solves the problem training solved for each user)\n"
    "  -k N                how many movies (default 10)\n"
    "  --measure M         dot (default: the predicted rating) or cosine (the\n"
    "                      movie embeddings normalized; biases left out)\n"
    "\n"
    "Equal scores list the lower movie index first. The output is the same\n"
    "for every thread count.\n"
    "Exit status: 0 ok, 1 runtime error (unknown user or title, ambiguous\n"
    "title, bad data), 2 usage error.\n";

int cmd_recommend(int argc, char **argv)
{
    g_cmd = "mfrec recommend";
    if (want_help(argc, argv)) {
        print_data_command_help(recommend_help);
        return EXIT_OK;
    }
    const char *model_path = NULL, *data = NULL, *rate = NULL, *rfile = NULL;
    int64_t user_id = -1;
    bool have_user = false, exclude_rated = false;
    int32_t k = 10;
    int measure = MFR_MEASURE_DOT;
    double lambda = -1.0; /* -1: mfr_model_fold_in_lambda */
    struct args a = {.argc = argc, .argv = argv, .pos = 0};
    int flag_error = 0;
    while (next_data_flag(&a, &flag_error)) {
        const char *v;
        if (flag_is(&a, "--exclude-rated")) { exclude_rated = true; continue; }
        if (a.flag[0] != '-') return usage_error("unexpected argument '%s'", a.flag);
        if (!(flag_is(&a, "--model") || flag_is(&a, "--data") || flag_is(&a, "--user") ||
              flag_is(&a, "--rate") || flag_is(&a, "--ratings-file") || flag_is(&a, "--lambda") ||
              flag_is(&a, "-k") || flag_is(&a, "--measure")))
            return usage_error("unknown option %s", a.flag);
        if (!(v = flag_value(&a))) return EXIT_USAGE;
        bool ok = true;
        if (flag_is(&a, "--model")) model_path = v;
        else if (flag_is(&a, "--data")) data = v;
        else if (flag_is(&a, "--rate")) rate = v;
        else if (flag_is(&a, "--ratings-file")) rfile = v;
        else if (flag_is(&a, "--user"))
            ok = have_user = parse_i64(a.flag, v, INT64_MIN, INT64_MAX, &user_id);
        else if (flag_is(&a, "--lambda")) ok = parse_double(a.flag, v, 0, 1e9, &lambda);
        else if (flag_is(&a, "-k")) ok = parse_i32(a.flag, v, 1, 1000000, &k);
        else ok = parse_measure(a.flag, v, &measure);
        if (!ok) return EXIT_USAGE;
    }
    if (flag_error) return EXIT_USAGE;
    if (!model_path) return usage_error("--model is required");
    int modes = have_user + (rate != NULL) + (rfile != NULL);
    if (modes == 0) return usage_error("one of --user, --rate or --ratings-file is required");
    if (modes > 1) return usage_error("--user, --rate and --ratings-file exclude each other");
    if (exclude_rated && !have_user)
        return usage_error("--exclude-rated goes with --user (a new user's rated movies are "
                           "always excluded)");

    mfr_error err = {0};
    mfr_model *m = NULL;
    mfr_dataset *ds = NULL;
    int32_t *scratch = NULL, *items = NULL;
    float *scores = NULL, *vec = NULL;
    uint8_t *exclude = NULL;
    struct new_ratings nr = {0};
    int rc = load_model_and_data(model_path, data, &m, &ds, NULL);
    if (rc != EXIT_OK) return rc;
    int32_t n_items = mfr_model_n_items(m), want = k < n_items ? k : n_items;
    scratch = malloc((size_t)n_items * sizeof *scratch);
    items = malloc((size_t)want * sizeof *items);
    scores = malloc((size_t)want * sizeof *scores);
    exclude = calloc((size_t)n_items, 1);
    vec = malloc((size_t)mfr_model_k(m) * sizeof *vec);
    if (!scratch || !items || !scores || !exclude || !vec) {
        rc = runtime_error("out of memory");
        goto done;
    }
    int32_t n_out = 0, n_excluded = 0;
    if (have_user) {
        int32_t u = mfr_dataset_user_index(ds, user_id);
        if (u < 0) {
            rc = runtime_error("--user: no user has id %lld in %s", (long long)user_id,
                               mfr_dataset_dir(ds));
            goto done;
        }
        const mfr_ratings *all = mfr_dataset_ratings(ds);
        int32_t n_rated = 0;
        for (int64_t x = 0; x < mfr_ratings_count(all); x++) {
            int32_t ru, ri;
            mfr_ratings_get(all, x, &ru, &ri, NULL, NULL);
            if (ru == u && !exclude[ri]) exclude[ri] = 1, n_rated++;
        }
        if (exclude_rated) n_excluded = n_rated;
        if (mfr_model_recommend(m, u, k, measure, exclude_rated ? exclude : NULL, items, scores,
                                &n_out, &err) != MFR_OK) {
            rc = lib_error(&err);
            goto done;
        }
        printf("user %lld (%d ratings): top %d by %s%s\n", (long long)user_id, (int)n_rated,
               (int)k, measure_name(measure), exclude_rated ? ", rated movies excluded" : "");
    } else {
        rc = rate ? parse_rate(ds, rate, scratch, &nr)
                  : parse_ratings_file(ds, rfile, scratch, &nr);
        if (rc != EXIT_OK) goto done;
        if (lambda < 0.0 && (rc = default_lambda(m, ds, nr.n, &lambda)) != EXIT_OK) goto done;
        float bias = 0.0f;
        if (mfr_model_fold_in(m, nr.items, nr.values, nr.n, lambda, vec, &bias, &err) != MFR_OK) {
            rc = lib_error(&err);
            goto done;
        }
        for (int32_t x = 0; x < nr.n; x++) exclude[nr.items[x]] = 1;
        n_excluded = nr.n;
        /* the fitted values of the rated movies, as a check of the fold-in */
        float *fit = malloc((size_t)n_items * sizeof *fit);
        if (!fit || mfr_model_score_items(m, vec, MFR_MEASURE_DOT, fit, &err) != MFR_OK) {
            free(fit);
            rc = fit ? lib_error(&err) : runtime_error("out of memory");
            goto done;
        }
        printf("new user folded in from %d ratings (lambda %g%s):\n", (int)nr.n, lambda,
               model_has_bias(m) ? ", with a fitted user bias" : "");
        printf("%7s  %6s  %6s  %s\n", "movie", "rating", "fit", "title");
        for (int32_t x = 0; x < nr.n; x++) {
            int32_t i = nr.items[x];
            double f = (double)fit[i] + (double)bias + (double)mfr_model_item_bias(m, i);
            printf("%7lld  %6g  %6.2f  %s\n", (long long)mfr_dataset_item_id(ds, i),
                   (double)nr.values[x], f, title_of(ds, i));
        }
        free(fit);
        if (mfr_model_recommend_vector(m, vec, bias, k, measure, exclude, items, scores, &n_out,
                                       &err) != MFR_OK) {
            rc = lib_error(&err);
            goto done;
        }
        printf("top %d by %s, the %d rated movies excluded\n", (int)k, measure_name(measure),
               (int)n_excluded);
    }
    if (n_out < k)
        printf("(only %d movies %s)\n", (int)n_out,
               n_excluded ? "are left after the exclusions" : "in the catalogue");
    print_table_header(measure_name(measure));
    for (int32_t r = 0; r < n_out; r++) print_movie_row(ds, (int)r + 1, items[r], scores[r]);
done:
    free(nr.items);
    free(nr.values);
    free(scratch);
    free(items);
    free(scores);
    free(exclude);
    free(vec);
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
    "\n"
    "  --model MODEL   a model written by `mfrec train --out`\n"
    "  --data DIR      dataset for titles and genres (default: the directory\n"
    "                  recorded in the model)\n"
    "  --movie TEXT    part of a title, e.g. \"aladdin\"\n"
    "  -k N            how many neighbours (default 6)\n"
    "  --measure M     cosine (default) or dot, over the embeddings (biases\n"
    "                  left out); a zero embedding scores 0 under cosine\n"
    "\n"
    "Equal scores list the lower movie index first. The output is the same\n"
    "for every thread count.\n"
    "Exit status: 0 ok, 1 runtime error (no title matches, bad data), 2 usage\n"
    "error.\n";

int cmd_similar(int argc, char **argv)
{
    g_cmd = "mfrec similar";
    if (want_help(argc, argv)) {
        print_data_command_help(similar_help);
        return EXIT_OK;
    }
    const char *model_path = NULL, *data = NULL, *movie = NULL;
    int32_t k = 6;
    int measure = MFR_MEASURE_COSINE;
    struct args a = {.argc = argc, .argv = argv, .pos = 0};
    int flag_error = 0;
    while (next_data_flag(&a, &flag_error)) {
        const char *v;
        if (a.flag[0] != '-') return usage_error("unexpected argument '%s'", a.flag);
        if (!(flag_is(&a, "--model") || flag_is(&a, "--data") || flag_is(&a, "--movie") ||
              flag_is(&a, "-k") || flag_is(&a, "--measure")))
            return usage_error("unknown option %s", a.flag);
        if (!(v = flag_value(&a))) return EXIT_USAGE;
        bool ok = true;
        if (flag_is(&a, "--model")) model_path = v;
        else if (flag_is(&a, "--data")) data = v;
        else if (flag_is(&a, "--movie")) movie = v;
        else if (flag_is(&a, "-k")) ok = parse_i32(a.flag, v, 1, 1000000, &k);
        else ok = parse_measure(a.flag, v, &measure);
        if (!ok) return EXIT_USAGE;
    }
    if (flag_error) return EXIT_USAGE;
    if (!model_path) return usage_error("--model is required");
    if (!movie) return usage_error("--movie is required");
    if (!*movie) return usage_error("--movie must not be empty");

    mfr_error err = {0};
    mfr_model *m = NULL;
    mfr_dataset *ds = NULL;
    int32_t *matches = NULL, *items = NULL;
    float *scores = NULL;
    int rc = load_model_and_data(model_path, data, &m, &ds, NULL);
    if (rc != EXIT_OK) return rc;
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
        for (int32_t x = 1; x < n_match && x <= MAX_LISTED; x++)
            printf("  %7lld  %s\n", (long long)mfr_dataset_item_id(ds, matches[x]),
                   title_of(ds, matches[x]));
        if (n_match - 1 > MAX_LISTED)
            printf("  ... and %d more\n", (int)(n_match - 1 - MAX_LISTED));
    }
    if (mfr_model_similar_items(m, q, k, measure, items, scores, &n_out, &err) != MFR_OK) {
        rc = lib_error(&err);
        goto done;
    }
    char g[512];
    printf("movie %lld: %s  [%s]\n", (long long)mfr_dataset_item_id(ds, q), title_of(ds, q),
           genres_text(ds, q, g, sizeof g));
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
    "\n"
    "  --model MODEL   a model written by `mfrec train --out`\n"
    "  --data DIR      dataset for titles and rating counts (default: the\n"
    "                  directory recorded in the model)\n"
    "  -k N            how many movies to list (default 10)\n"
    "  --bins B        histogram bins, equal width from the smallest to the\n"
    "                  largest norm (default 20)\n"
    "  --plot DIR      also draw the histogram with gnuplot: DIR/item_norms.png\n"
    "                  and .svg (plus .dat and .gp)\n"
    "\n"
    "Equal norms list the lower movie index first.\n"
    "Exit status: 0 ok, 1 runtime error, 2 usage error.\n";

int cmd_norms(int argc, char **argv)
{
    g_cmd = "mfrec norms";
    if (want_help(argc, argv)) {
        print_data_command_help(norms_help);
        return EXIT_OK;
    }
    const char *model_path = NULL, *data = NULL, *plot_dir = NULL;
    int32_t k = 10, bins = 20;
    struct args a = {.argc = argc, .argv = argv, .pos = 0};
    int flag_error = 0;
    while (next_data_flag(&a, &flag_error)) {
        const char *v;
        if (a.flag[0] != '-') return usage_error("unexpected argument '%s'", a.flag);
        if (!(flag_is(&a, "--model") || flag_is(&a, "--data") || flag_is(&a, "-k") ||
              flag_is(&a, "--bins") || flag_is(&a, "--plot")))
            return usage_error("unknown option %s", a.flag);
        if (!(v = flag_value(&a))) return EXIT_USAGE;
        bool ok = true;
        if (flag_is(&a, "--model")) model_path = v;
        else if (flag_is(&a, "--data")) data = v;
        else if (flag_is(&a, "--plot")) plot_dir = v;
        else if (flag_is(&a, "-k")) ok = parse_i32(a.flag, v, 1, 1000000, &k);
        else ok = parse_i32(a.flag, v, 1, 1000, &bins);
        if (!ok) return EXIT_USAGE;
    }
    if (flag_error) return EXIT_USAGE;
    if (!model_path) return usage_error("--model is required");

    mfr_error err = {0};
    mfr_model *m = NULL;
    mfr_dataset *ds = NULL;
    double *norms = NULL, *edges = NULL;
    float *fnorms = NULL, *top_sc = NULL;
    int64_t *counts = NULL, *hist = NULL;
    int32_t *top = NULL;
    int rc = load_model_and_data(model_path, data, &m, &ds, NULL);
    if (rc != EXIT_OK) return rc;
    int32_t n_items = mfr_model_n_items(m), want = k < n_items ? k : n_items;
    norms = malloc((size_t)n_items * sizeof *norms);
    fnorms = malloc((size_t)n_items * sizeof *fnorms);
    counts = calloc((size_t)n_items, sizeof *counts);
    top = malloc((size_t)want * sizeof *top);
    top_sc = malloc((size_t)want * sizeof *top_sc);
    edges = malloc(((size_t)bins + 1) * sizeof *edges);
    hist = malloc((size_t)bins * sizeof *hist);
    if (!norms || !fnorms || !counts || !top || !top_sc || !edges || !hist) {
        rc = runtime_error("out of memory");
        goto done;
    }
    if (mfr_model_norms(m, MFR_FACTORS_ITEMS, norms, &err) != MFR_OK) {
        rc = lib_error(&err);
        goto done;
    }
    count_item_ratings(ds, counts);
    /* rank by the double norm: floats only order, the printed value is the
     * double; ties after rounding go to the lower index */
    for (int32_t i = 0; i < n_items; i++) fnorms[i] = (float)norms[i];
    int32_t n_top = 0;
    if (mfr_scores_top_k(fnorms, n_items, k, NULL, top, top_sc, &n_top, &err) != MFR_OK) {
        rc = lib_error(&err);
        goto done;
    }
    printf("model %s: item embedding norms (k %d, %d movies)\n", model_path, (int)mfr_model_k(m),
           (int)n_items);
    printf("largest %d norms\n", (int)n_top);
    printf("%4s  %7s  %9s  %7s  %s\n", "rank", "movie", "norm", "ratings", "title  [genres]");
    char g[512];
    for (int32_t r = 0; r < n_top; r++) {
        int32_t i = top[r];
        printf("%4d  %7lld  %9.4f  %7lld  %s  [%s]\n", (int)r + 1,
               (long long)mfr_dataset_item_id(ds, i), norms[i], (long long)counts[i],
               title_of(ds, i), genres_text(ds, i, g, sizeof g));
    }

    int64_t counted = hist_bins(n_items, norms, bins, edges, hist);
    int64_t peak = 1;
    for (int32_t b = 0; b < bins; b++)
        if (hist[b] > peak) peak = hist[b];
    printf("histogram of %lld norms (%d bins)\n", (long long)counted, (int)bins);
    for (int32_t b = 0; b < bins; b++) {
        int bar = (int)((hist[b] * 50 + peak - 1) / peak);
        printf("  [%9.4f, %9.4f%c %6lld%s", edges[b], edges[b + 1], b + 1 == bins ? ']' : ')',
               (long long)hist[b], bar ? "  " : "");
        for (int c = 0; c < bar; c++) putchar('#');
        putchar('\n');
    }
    if (plot_dir) {
        struct plot_labels lab = {"Item embedding norms", "norm |v|", "movies"};
        if ((rc = ensure_dir(plot_dir)) != EXIT_OK ||
            (rc = plot_histogram(plot_dir, "item_norms", &lab, bins, edges, hist)) != EXIT_OK)
            goto done;
        printf("plot: %s/item_norms.png, %s/item_norms.svg\n", plot_dir, plot_dir);
    }
done:
    free(norms);
    free(fnorms);
    free(counts);
    free(top);
    free(top_sc);
    free(edges);
    free(hist);
    mfr_dataset_destroy(ds);
    mfr_model_destroy(m);
    return rc;
}
