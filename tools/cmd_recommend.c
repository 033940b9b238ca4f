/*
 * cmd_recommend.c — `mfrec recommend`, `mfrec similar` and `mfrec norms`:
 * the uses of a trained model. Top-k movies for a user of the dataset or
 * for a new user folded in from a few ratings (no retraining), the nearest
 * neighbours of a movie found by title, and the movies with the largest
 * embedding norms beside their rating counts, with the norm histogram.
 *
 * Users and movies are named by the dataset's own ids (as in u.data) and by
 * titles; dense indices never appear. Titles and genres come from the
 * dataset (--data, default: the data recorded in the model, its directory
 * or rating file), which must be the one the model was trained on (its
 * fingerprint is checked).
 * The scoring, top-k and fold-in are the library's (mfr_model_recommend,
 * mfr_model_similar_items, mfr_model_fold_in); they are single-threaded and
 * deterministic, so the output is the same for every thread count.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "output.h"
#include "mfrec_softmax.h"
#include "movie_list.h"

static bool model_has_bias(const mfr_model *m)
{
    mfr_config cfg;
    mfr_model_config(m, &cfg, NULL);
    return cfg.bias != 0;
}

/* Room for item_title's fallback text. */
enum { TITLE_BUF = 64 };

/* ------------------------------------------------------------------ */
/* Ratings of a new user: --rate and --ratings-file                     */
/* ------------------------------------------------------------------ */

struct new_ratings {
    int32_t n, cap;
    int32_t *items;
    float *values;
    long *lines; /* each rating's line of --ratings-file (0: from --rate) */
};

/* Adds one rating (`line`: its line of --ratings-file, 0 for --rate); a
 * movie rated twice is an error naming both places. */
static int add_rating(struct new_ratings *r, const mfr_dataset *ds, const char *where, long line,
                      int32_t item, float value)
{
    char t[TITLE_BUF];
    for (int32_t x = 0; x < r->n; x++)
        if (r->items[x] == item) {
            if (r->lines[x] > 0) /* the first one in the file: its line too */
                return runtime_error("%s: '%s' is rated twice (also on line %ld)", where,
                                     item_title(ds, item, t, sizeof t), r->lines[x]);
            return runtime_error("%s: '%s' is rated twice", where, item_title(ds, item, t, sizeof t));
        }
    if (r->n == r->cap) {
        int32_t cap = r->cap ? 2 * r->cap : 16;
        int32_t *ni = realloc(r->items, (size_t)cap * sizeof *ni);
        if (!ni) return runtime_error("out of memory");
        r->items = ni;
        float *nv = realloc(r->values, (size_t)cap * sizeof *nv);
        if (!nv) return runtime_error("out of memory");
        r->values = nv;
        long *nl = realloc(r->lines, (size_t)cap * sizeof *nl);
        if (!nl) return runtime_error("out of memory");
        r->lines = nl;
        r->cap = cap;
    }
    r->items[r->n] = item;
    r->values[r->n] = value;
    r->lines[r->n] = line;
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
    const size_t len = (size_t)(end - s);
    while (*end == ' ' || *end == '\t' || *end == '\r') end++;
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi || !mfr_text_is_decimal(s, len))
        return false;
    *out = (float)v;
    return true;
}

/* Whether title names one movie, as resolve_movie would take it (quietly). */
static bool names_one_movie(const mfr_dataset *ds, const char *title)
{
    int32_t item, n = 0;
    int match = MFR_TITLE_NONE;
    mfr_error err = {0};
    return mfr_dataset_find_title(ds, title, &item, 1, &n, &match, &err) == MFR_OK &&
           match != MFR_TITLE_NONE && n == 1;
}

/* The entry of --rate at p whose '=' is eq and whose end is *comma when
 * its value is no rating: a title holding '=' before one of its commas
 * ("E=mc2, The (1993)=4") goes on to a later '=' whose value is a rating
 * and whose title names a movie; *eq and *comma move there. Otherwise
 * they stay, and the entry's error is the one the first split gives. */
static void rate_entry_past_comma(const mfr_dataset *ds, const char *p, const char **eq,
                                  const char **comma)
{
    for (const char *e = *comma ? strchr(*comma + 1, '=') : NULL; e; e = strchr(e + 1, '=')) {
        const char *c = strchr(e + 1, ',');
        const size_t n = c ? (size_t)(c - e - 1) : strlen(e + 1);
        if (memchr(e + 1, '=', n)) continue; /* not the last '=' before that ',' */
        char *title = trimmed(p, (size_t)(e - p)), *value = trimmed(e + 1, n);
        float v;
        const bool found = title && value && parse_rating(ds, value, &v) && names_one_movie(ds, title);
        free(title);
        free(value);
        if (found) {
            *eq = e;
            *comma = c;
            return;
        }
    }
}

/* --rate "TITLE=R,TITLE=R,...": each entry ends at the first ',' after its
 * '=' so titles may contain commas ("Usual Suspects, The (1995)=5"); the
 * entry's '=' is the last one before that ',', so titles may contain '='
 * too ("A=B (1990)=5"), as in --ratings-file, whose lines end in =RATING;
 * when that '=' is followed by no rating, a comma after an '=' of the
 * title is passed (rate_entry_past_comma). */
static int parse_rate(const struct movie_ctx *c, const char *spec, struct new_ratings *r)
{
    const mfr_dataset *ds = c->ds;
    float lo, hi;
    mfr_dataset_rating_range(ds, &lo, &hi);
    const int32_t n_before = r->n;
    const char *p = spec;
    while (*p) {
        if (*p == ',')
            return usage_error("--rate: an empty entry at character %zu of '%s' (two commas, or "
                               "a comma at the start or end)",
                               (size_t)(p - spec) + 1, spec);
        const char *eq = strchr(p, '=');
        if (!eq)
            return usage_error("--rate: '%s' has no '=RATING' (expected \"TITLE=RATING,...\")", p);
        const char *comma = strchr(eq, ',');
        for (const char *next = strchr(eq + 1, '='); next && (!comma || next < comma);
             next = strchr(eq + 1, '='))
            eq = next;
        if (comma) {
            char *first = trimmed(eq + 1, (size_t)(comma - eq - 1));
            float v;
            if (first && !parse_rating(ds, first, &v)) rate_entry_past_comma(ds, p, &eq, &comma);
            free(first);
        }
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
        else if ((rc = resolve_movie(c, "--rate", title, &item)) == EXIT_OK)
            rc = add_rating(r, ds, "--rate", 0, item, v);
        free(title);
        free(value);
        if (rc != EXIT_OK) return rc;
        p = comma ? comma + 1 : eq + 1 + vlen;
        while (*p == ' ') p++;
        if (comma && !*p)
            return usage_error("--rate: an empty entry after the last comma of '%s'", spec);
    }
    if (r->n == n_before) return usage_error("--rate '%s': no ratings given", spec);
    return EXIT_OK;
}

/* Whether s is "#DIGITS" (an optional sign too), then blanks and '=', or
 * blanks holding a tab and then a number: a movie named by id, as --rate
 * takes it ("#50=5"), or in the MOVIE_ID<TAB>RATING form ("#50<TAB>5"),
 * not a comment. A comment may start "#2024<TAB>" when words follow.
 * *spaced: "#DIGITS", spaces alone and a number ("#50 5"), which is
 * neither: a rating one tab short, refused rather than skipped. */
static bool hash_id_rating(const char *s, bool *spaced)
{
    const char *p = s + 1;
    *spaced = false;
    if (*p == '+' || *p == '-') p++;
    if (*p < '0' || *p > '9') return false;
    while (*p >= '0' && *p <= '9') p++;
    bool tab = false;
    const char *gap = p;
    for (; *p == ' ' || *p == '\t'; p++) tab = tab || *p == '\t';
    if (*p == '=') return true;
    if (p == gap || !*p) return false;
    char *end;
    (void)strtod(p, &end);
    const size_t len = (size_t)(end - p);
    while (end != p && (*end == ' ' || *end == '\t')) end++;
    const bool number = end != p && !*end;
    /* "#50 5": a rating one tab short; "#7 inf" or "#2024 1e3" stay comments */
    *spaced = number && !tab && mfr_text_is_decimal(p, len);
    return number && tab;
}

/* Whether s, a line starting with '#' that is no "#ID" rating, is
 * "TITLE=RATING" for a title that itself starts with '#' ("#Horror
 * (2015)=4" in MovieLens' latest datasets; the year may be left out): the
 * text before its last '=' is exactly a movie's title (its rating is then
 * checked as any line's; a title two movies have, as an ambiguous one). A commented-out rating ("#Fargo=4") names
 * no title: still a comment. */
static bool hash_title_rating(const mfr_dataset *ds, const char *s)
{
    const char *eq = strrchr(s, '=');
    if (!eq) return false;
    char *key = trimmed(s, (size_t)(eq - s));
    int32_t n = 0;
    int match = MFR_TITLE_NONE;
    mfr_error err = {0};
    /* no suggestions (max_out 0): a comment is no near miss to look for */
    /* titles matched exactly by more than one: a rating the lookup then
     * names as ambiguous, never one skipped as a comment */
    const bool yes = key && mfr_dataset_find_title(ds, key, NULL, 0, &n, &match, &err) == MFR_OK &&
                     match == MFR_TITLE_EXACT && n >= 1;
    free(key);
    return yes;
}

/* Whether some movie's title starts with '#': only then can a comment line
 * be a hash_title_rating (a title search per comment line otherwise). */
static bool has_hash_titles(const mfr_dataset *ds)
{
    for (int32_t i = 0; i < mfr_dataset_n_items(ds); i++)
        if (mfr_dataset_item_title(ds, i)[0] == '#') return true;
    return false;
}

/* --ratings-file FILE: lines "TITLE=RATING", "#ID=RATING" or
 * "MOVIE_ID<TAB>RATING" (the id with or without '#'); blank lines and other
 * lines starting with '#' (comments) are skipped. Errors name FILE:LINE. */
/* A --ratings-file line as read (len bytes, its newline included) checked
 * for what no parser takes (a NUL, a byte-order mark, a bare carriage
 * return), its line ending cut. EXIT_OK or a printed error. */
static int ratings_line_checked(const char *path, long lineno, char *line, ssize_t len)
{
    if (strlen(line) != (size_t)len)
        return runtime_error("%s:%ld: a NUL byte in the line (a binary file, or UTF-16 text?)", path, lineno);
    if (lineno == 1 && !strncmp(line, "\xEF\xBB\xBF", 3))
        return runtime_error("%s:1: the file starts with a UTF-8 byte-order mark; save it "
                             "without one",
                             path);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
    if (memchr(line, '\r', (size_t)len)) /* as every parser: named, never a puzzling title */
        return runtime_error("%s:%ld: lines end with a bare carriage return (old Mac line endings); "
                             "convert them to \\n",
                             path, lineno);
    return EXIT_OK;
}

/* One rating of a --ratings-file, s (its leading blanks skipped; not a
 * comment): TITLE=RATING, #ID=RATING or MOVIE_ID<TAB>RATING, added to r.
 * where: FILE:LINE, for the messages. */
static int parse_rating_line(const struct movie_ctx *c, const char *where, long lineno, const char *s,
                             struct new_ratings *r)
{
    const mfr_dataset *ds = c->ds;
    float lo, hi;
    mfr_dataset_rating_range(ds, &lo, &hi);
    const char *tab = strchr(s, '\t'), *eq = strrchr(s, '=');
    if (!tab && !eq)
        return runtime_error("%s: expected TITLE=RATING or MOVIE_ID<TAB>RATING, got '%s'", where, s);
    const bool by_id = tab && !eq;
    const char *sep = by_id ? tab : eq;
    char *key = trimmed(s, (size_t)(sep - s)), *value = trimmed(sep + 1, strlen(sep + 1));
    float v = 0;
    int32_t item = -1;
    int rc = EXIT_OK;
    if (!key || !value) rc = runtime_error("out of memory");
    else if (!*key) rc = runtime_error("%s: no movie before the rating", where);
    else if (by_id && strchr(value, '\t')) /* "196<TAB>242<TAB>3<TAB>881250949": u.data, say */
        rc = runtime_error("%s: expected MOVIE_ID<TAB>RATING, got more tab-separated fields (a rating "
                           "file such as u.data, USER<TAB>MOVIE<TAB>RATING, is not a --ratings-file)",
                           where);
    else if (!parse_rating(ds, value, &v))
        rc = runtime_error("%s: the rating must be a number in [%g, %g], got '%s'", where, (double)lo,
                           (double)hi, value);
    else if (by_id && key[0] != '#') {
        long long id;
        if (!parse_raw_id(key, &id)) /* "Star Wars<TAB>5": a title where the id goes */
            rc = runtime_error("%s: '%s' is not a movie id: MOVIE_ID<TAB>RATING takes the id's "
                               "digits; a title is written TITLE=RATING",
                               where, key);
        else if ((item = mfr_dataset_item_index(ds, id)) < 0)
            rc = runtime_error("%s: no movie has id '%s'", where, key);
    } else { /* a title, or "#ID" (in either form) as --rate reads it */
        rc = resolve_movie(c, where, key, &item);
    }
    if (rc == EXIT_OK) rc = add_rating(r, ds, where, lineno, item, v);
    free(key);
    free(value);
    return rc;
}

static int parse_ratings_file(const struct movie_ctx *c, const char *path, struct new_ratings *r)
{
    const mfr_dataset *ds = c->ds;
    FILE *f = io_open_input("--ratings-file", path);
    if (!f) return EXIT_RUNTIME;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = EXIT_OK;
    long lineno = 0;
    /* FILE:LINE for any path: a fixed buffer cut a long path's ":LINE" */
    const size_t where_size = strlen(path) + 24;
    char *where = malloc(where_size);
    if (!where) {
        fclose(f);
        return runtime_error("out of memory");
    }
    const bool hash_titles = has_hash_titles(ds);
    while (rc == EXIT_OK && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if ((rc = ratings_line_checked(path, lineno, line, len)) != EXIT_OK) break;
        snprintf(where, where_size, "%s:%ld", path, lineno);
        const char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        /* '#' starts a comment, except "#ID=R" and "#ID<TAB>R" (a movie by id, as in --rate)
         * and "#TITLE=R" for a title starting with '#' */
        bool spaced = false;
        const bool id_rating = *s == '#' && hash_id_rating(s, &spaced);
        if (spaced) { /* never a rating lost as a comment */
            rc = runtime_error("%s: '%s' is an id and a number apart by spaces: write \"#ID=RATING\" or "
                               "\"#ID<TAB>RATING\" for a rating, or words after \"#ID\" for a comment",
                               where, s);
            break;
        }
        if (!*s || (*s == '#' && !id_rating && !(hash_titles && hash_title_rating(ds, s)))) continue;
        rc = parse_rating_line(c, where, lineno, s, r);
    }
    if (rc == EXIT_OK && ferror(f)) rc = runtime_error("--ratings-file %s: read error", path);
    free(line);
    free(where);
    fclose(f);
    if (rc == EXIT_OK && r->n == 0)
        rc = runtime_error("--ratings-file %s: no ratings in the file", path);
    return rc;
}

/* ------------------------------------------------------------------ */
/* mfrec recommend                                                      */
/* ------------------------------------------------------------------ */

static const char recommend_help[] =
    "Usage: mfrec recommend --model MODEL [--data DIR] --user ID [--include-rated]\n"
    "                       [--top N] [--measure dot|cosine] [--min-ratings N] [--json|--csv]\n"
    "       mfrec recommend --model MODEL [--data DIR] (--rate \"TITLE=R,...\"... |\n"
    "                       --ratings-file FILE) [--lambda L] [--top N] ...\n"
    "       mfrec recommend --model MODEL [--data DIR] --all-users --out FILE\n"
    "                       [--top N] [--json] [--threads N] ...\n"
    "\n"
    "The top movies for a user of the dataset (--user, the id of u.data), for\n"
    "a new user described by a few ratings, or for every user (--all-users).\n"
    "A new user is folded into the model without retraining: with the movie\n"
    "embeddings fixed, the user's embedding solves a ridge problem over the\n"
    "rated movies (Cholesky, in double), shrunk towards the average user, so\n"
    "low ratings push the list away from the rated movies (with biases the\n"
    "user's bias is fitted too). On a ranking model (gravity without biases,\n"
    "--preset ndcg) a rating below the middle of the data's rating range\n"
    "counts as a dislike (the movie is fitted below where the average user\n"
    "has it), one at or above it as a liked movie. Movies the user rated are\n"
    "never listed unless --include-rated (then they are marked).\n"
    "\n"
    "Scores: with dot, the model's predicted rating (biases included),\n"
    "shown clamped to the data's rating range; JSON and CSV also give the\n"
    "unclamped score the list is ranked by (\"score\"), and the fold-in's\n"
    "JSON each rated movie's \"fitted\" (clamped) and \"fitted_raw\" value.\n"
    "A ranking model's dot product is no rating: it is shown as it is,\n"
    "column \"dot\" (the fold-in's fitted values: \"score\").\n"
    "A model trained with --rank-prior X (--preset accurate)\n"
    "ranks by score = predicted rating + X ln(1 + training ratings), a\n"
    "popularity prior, and shows the score beside the predicted rating\n"
    "(the unclamped predicted rating: score - X ln(1 + ratings); the JSON\n"
    "gives X as \"rank_prior\", 0 without a prior).\n"
    "With cosine, the cosine of the embeddings. A softmax model\n"
    "(train --kind softmax) predicts no ratings: its dot score is the logit,\n"
    "column \"dot\", and a new user's features are the movies rated in the\n"
    "top quarter of the rating scale (4 or more on 1..5). The ratings\n"
    "column counts each movie's training ratings.\n"
    "\n";

static const char recommend_help_end[] =
    "\n"
    "Equal scores list the lower movie index first. The output is the same\n"
    "for every thread count (--all-users runs users in parallel).\n"
    "Exit status: 0 ok, 1 runtime error (unknown user or title, ambiguous\n"
    "title, bad data), 2 usage error.\n";

enum { MAX_RATE_FLAGS = 64 };

struct recommend_opts {
    const char *model_path, *data, *rfile, *out;
    const char *rate[MAX_RATE_FLAGS]; /* each --rate, in order: they add up */
    int n_rate;
    int64_t user_id;
    bool have_user, include_rated, exclude_rated, all_users;
    struct list_opts list;
    int32_t threads;
    double lambda; /* -1: mfr_model_fold_in_lambda */
};

/* --user ID into a struct recommend_opts: a dataset id, an integer. */
static bool parse_user(const char *flag, const char *v, void *dst)
{
    struct recommend_opts *o = dst;
    long long id;
    if (!parse_raw_id(v, &id)) {
        usage_error("%s must be a user id (an integer, as in the dataset), got '%s'", flag, v);
        return false;
    }
    o->user_id = id;
    o->have_user = true;
    return true;
}

/* --rate LIST into a struct recommend_opts: a repeated --rate adds its
 * ratings to the earlier ones' instead of replacing them. */
static bool add_rate_flag(const char *flag, const char *v, void *dst)
{
    struct recommend_opts *o = dst;
    if (o->n_rate == MAX_RATE_FLAGS) {
        usage_error("%s: at most %d of them (put more ratings in --ratings-file)", flag, MAX_RATE_FLAGS);
        return false;
    }
    o->rate[o->n_rate++] = v;
    return true;
}

/* --ratings-file FILE into a struct recommend_opts: one file. Several
 * --rate flags add up, so a second --ratings-file silently replacing the
 * first would drop its ratings: refused. */
static bool set_ratings_file(const char *flag, const char *v, void *dst)
{
    struct recommend_opts *o = dst;
    if (o->rfile) {
        usage_error("%s is given twice ('%s' and '%s'): one file holds every rating of the new user",
                    flag, o->rfile, v);
        return false;
    }
    if (!*v) {
        usage_error("%s needs a file name, got ''", flag);
        return false;
    }
    o->rfile = v;
    return true;
}

/* Usage rules between the flags, once all are parsed. */
static int check_recommend_flags(const struct recommend_opts *o)
{
    int modes = o->have_user + (o->n_rate > 0) + (o->rfile != NULL) + o->all_users;
    if (!o->model_path) return usage_error("--model is required");
    if (modes == 0)
        return usage_error("one of --user, --rate, --ratings-file or --all-users is required");
    if (modes > 1)
        return usage_error("--user, --rate, --ratings-file and --all-users exclude each other");
    if (o->include_rated && !o->have_user && !o->all_users)
        return usage_error("--include-rated goes with --user or --all-users (a new user's rated "
                           "movies are always left out)");
    if (o->include_rated && o->exclude_rated)
        return usage_error("--include-rated and --exclude-rated exclude each other");
    if (o->all_users && !o->out)
        return usage_error("--all-users needs --out FILE (CSV, or JSON lines with --json)");
    if (o->out && !o->all_users) return usage_error("--out goes with --all-users");
    if (o->out) { /* the format is --json's: a name that says the other one is a mistake */
        const char *ext = path_extension(o->out);
        const bool json_name = !strcasecmp(ext, "json") || !strcasecmp(ext, "jsonl") || !strcasecmp(ext, "ndjson");
        if (json_name && !o->list.json)
            return usage_error("--out %s names a JSON file, but without --json --all-users writes CSV; add "
                               "--json (JSON lines) or name a .csv file",
                               o->out);
        if (!strcasecmp(ext, "csv") && o->list.json)
            return usage_error("--out %s names a CSV file, but with --json --all-users writes JSON lines; "
                               "drop --json or name a .jsonl file",
                               o->out);
    }
    if (o->lambda >= 0.0 && !o->n_rate && !o->rfile)
        return usage_error("--lambda is the fold-in's ridge strength: it goes with --rate or "
                           "--ratings-file");
    return list_opts_check(&o->list);
}

/* Parses the flags into o; false with *rc set when the command stops. */
static bool parse_recommend_flags(int argc, char **argv, struct recommend_opts *o, int *rc)
{
    const struct flag_spec flags[] = {
        {.name = "--model", .value = "MODEL", .kind = FLAG_STR, .dst = &o->model_path,
         .help = "a model written by `mfrec train --out`"},
        {.name = "--data", .value = "DIR", .kind = FLAG_STR, .dst = &o->data,
         .help = "dataset for titles and genres (default: the data\n"
                 "recorded in the model: its directory, or the rating\n"
                 "file it was trained from); it must be the one the model\n"
                 "was trained on"},
        {.name = "--user", .value = "ID", .kind = FLAG_CUSTOM, .dst = o, .parse = parse_user,
         .help = "a user of the dataset"},
        {.name = "--include-rated", .kind = FLAG_SWITCH, .dst = &o->include_rated,
         .help = "with --user or --all-users: list the movies the user\n"
                 "rated too (marked with the rating under --user)"},
        {.name = "--exclude-rated", .kind = FLAG_SWITCH, .dst = &o->exclude_rated,
         .help = "the default (kept for old scripts)"},
        {.name = "--rate", .value = "LIST", .kind = FLAG_CUSTOM, .dst = o, .parse = add_rate_flag,
         .help = "\"Star Wars=5,Fargo=4\": each title as --movie of\n"
                 "`mfrec similar` (exact, then a unique substring; the\n"
                 "article may go in front or be left out; \"#ID=5\" names\n"
                 "a movie by id; the rating follows the entry's last\n"
                 "'=', as in \"A=B (1990)=5\"); repeated (up to 64\n"
                 "times), the lists add up"},
        {.name = "--ratings-file", .value = "FILE", .kind = FLAG_CUSTOM, .dst = o, .parse = set_ratings_file,
         .help = "lines \"TITLE=RATING\", \"#ID=RATING\" or\n"
                 "\"MOVIE_ID<TAB>RATING\" (#ID<TAB>RATING too; blank lines\n"
                 "and other lines starting with '#', comments, are\n"
                 "skipped: \"#2024<TAB>my ratings\" is a comment, but\n"
                 "\"#Horror (2015)=4\" rates a title starting with '#',\n"
                 "and \"#50 5\", an id and a rating apart by spaces, is\n"
                 "refused)"},
        {.name = "--lambda", .value = "L", .kind = FLAG_DOUBLE, .dst = &o->lambda, .min = 0,
         .max = 1e9,
         .help = "ridge strength of the fold-in (default: 0.1 plus the\n"
                 "model's L2 terms on a user's row, --l2 x training\n"
                 "ratings / users + --l2-freq x the new user's ratings;\n"
                 "one strength for the vector and, with --bias, the user\n"
                 "bias; the model's gravity term is not part of the\n"
                 "fold-in)"},
        {.name = "--all-users", .kind = FLAG_SWITCH, .dst = &o->all_users,
         .help = "the list of every user of the dataset, into --out"},
        {.name = "--out", .value = "FILE", .kind = FLAG_STR, .dst = &o->out,
         .help = "with --all-users: the output file (CSV rows user,rank,\n"
                 "movie,score,VALUE,ratings,rated, VALUE predicted_rating,\n"
                 "dot or cosine, rated the user's rating under\n"
                 "--include-rated, else empty; JSON lines with --json),\n"
                 "written atomically; a .json, .jsonl or .ndjson name\n"
                 "needs --json, a .csv name is refused with it"},
        {.name = "--threads", .value = "N", .kind = FLAG_THREADS, .dst = &o->threads,
         .help = "threads for loading the data and for --all-users\n"
                 "(default $OMP_NUM_THREADS, else all cores; never\n"
                 "changes the output)"},
        LIST_FLAG_ROWS(&o->list),
        LIST_MEASURE_ROW(&o->list),
    };
    struct command_spec cmd = {.name = "mfrec recommend", .help = recommend_help,
                               .help_end = recommend_help_end, .help_width = 19, .flags = flags,
                               .n_flags = sizeof flags / sizeof *flags, .data_flags = true};
    if (!cli_start(&cmd, argc, argv, rc)) return false;
    *rc = check_recommend_flags(o);
    if (*rc == EXIT_OK && o->threads > 0) mfr_set_threads(o->threads); /* the load and split too */
    return *rc == EXIT_OK;
}

/* The buffers of one recommendation. */
/* ", movies with fewer than N training ratings left out" under
 * --min-ratings N > 0, else "" (a static buffer: one use per printf). */
static const char *min_ratings_note(const struct list_opts *l)
{
    static char note[96];
    if (l->min_ratings <= 0) return "";
    snprintf(note, sizeof note, ", movies with fewer than %lld training rating%s left out",
             (long long)l->min_ratings, l->min_ratings == 1 ? "" : "s");
    return note;
}

struct rec_state {
    int32_t n_items, n_out, n_excluded;
    int32_t *items;
    float *scores, *vec, *rated;
    uint8_t *exclude;
    struct new_ratings nr;
    /* a matrix-factorization fold-in: its ridge, the fitted user bias, the
     * middle of the range its ratings count from (NaN: as they are), and
     * the fitted value of each rated movie as shown (nr.n doubles; a
     * predicted rating clamped to the range) and unclamped (fit_raw) */
    double lambda, middle;
    float bias;
    double *fit, *fit_raw;
    /* a softmax fold-in: the rating from which a rated movie is a feature
     * (NaN: no softmax fold-in) */
    double feature_min;
};

static bool rec_alloc(struct rec_state *st, const mfr_model *m, int32_t k)
{
    st->n_items = mfr_model_n_items(m);
    int32_t want = k < st->n_items ? k : st->n_items;
    st->items = malloc((size_t)want * sizeof *st->items);
    st->scores = malloc((size_t)want * sizeof *st->scores);
    st->exclude = calloc((size_t)st->n_items, 1);
    st->rated = malloc((size_t)st->n_items * sizeof *st->rated);
    st->vec = malloc((size_t)mfr_model_k(m) * sizeof *st->vec);
    if (st->rated)
        for (int32_t i = 0; i < st->n_items; i++) st->rated[i] = NAN;
    return st->items && st->scores && st->exclude && st->vec && st->rated;
}

static void rec_free(struct rec_state *st)
{
    free(st->nr.items);
    free(st->nr.values);
    free(st->nr.lines);
    free(st->items);
    free(st->scores);
    free(st->exclude);
    free(st->rated);
    free(st->vec);
    free(st->fit);
    free(st->fit_raw);
}

/*
 * Says that user u (id user_id), without a rating in the model's training
 * split, gets a list that is not the user's taste, and what it is: a
 * gradient step moves such a user's vector only through a regularizer, so
 * it keeps its random start, but ALS solves it from no rating to zero, and
 * a softmax model makes a user of the movies rated in training: then every
 * such user gets the same list. vec: k floats of scratch.
 */
static void note_untrained_user(const mfr_model *m, int32_t u, int64_t user_id, float *vec)
{
    mfr_error err = {0};
    const bool mf = mfr_model_kind(m) == MFR_MODEL_KIND_MF;
    const bool zero = mf && mfr_model_user_vector(m, u, vec, &err) == MFR_OK &&
                      vector_is_zero(vec, mfr_model_k(m));
    const char *what = !mf   ? "a softmax model makes a user of the movies rated in training, so the "
                               "list is the same for every such user"
                       : zero ? "the model's vector for the user is zero (training solved it from no "
                               "rating), so the list is the same for every such user"
                              : "the list comes from the vector's random start";
    fprintf(stderr,
            "%s: note: user %lld has no rating in the model's training split: %s, not the user's "
            "taste; fold the user in with --rate or --ratings-file instead\n",
            g_cmd, (long long)user_id, what);
}

/* Top-k for a user of the dataset. */
static int recommend_user(const struct recommend_opts *o, const mfr_model *m,
                          const struct movie_ctx *c, struct rec_state *st)
{
    mfr_error err = {0};
    const mfr_dataset *ds = c->ds;
    int32_t u = mfr_dataset_user_index(ds, o->user_id);
    if (u < 0)
        return runtime_error("--user: no user has id %lld in %s", (long long)o->user_id,
                             data_name(ds));
    const mfr_ratings *all = mfr_dataset_ratings(ds);
    int32_t n_rated = 0;
    for (int64_t x = 0; x < mfr_ratings_count(all); x++) {
        int32_t ru, ri;
        float r;
        mfr_ratings_get(all, x, &ru, &ri, &r, NULL, NULL);
        if (ru == u && isnan(st->rated[ri])) st->rated[ri] = r, n_rated++;
    }
    for (int32_t i = 0; i < st->n_items; i++)
        st->exclude[i] = c->too_few[i] || (!o->include_rated && !isnan(st->rated[i]));
    if (mfr_model_recommend(m, u, o->list.top, o->list.measure, st->exclude, st->items,
                            st->scores, &st->n_out, &err) != MFR_OK)
        return lib_error(&err);
    const long long trained = (long long)c->user_counts[u];
    if (trained == 0) note_untrained_user(m, u, o->user_id, st->vec);
    if (!o->list.json && !o->list.csv)
        printf("user %lld (%d rating%s, %lld in the model's training split): top %d by %s%s%s\n",
               (long long)o->user_id, (int)n_rated, n_rated == 1 ? "" : "s", trained, (int)o->list.top,
               measure_name(o->list.measure),
               o->include_rated ? ", rated movies included (marked)" : ", rated movies left out",
               min_ratings_note(&o->list));
    return EXIT_OK;
}

/* The fitted values of the new user's rated movies, as a check of the
 * fold-in, into st->fit: predicted ratings, clamped to the rating range as
 * the list's, or the ranking scores of a model that does not predict
 * ratings. */
static int fold_in_fit(const mfr_model *m, const struct movie_ctx *c, struct rec_state *st)
{
    mfr_error err = {0};
    float *all = malloc((size_t)st->n_items * sizeof *all);
    st->fit = malloc((size_t)st->nr.n * sizeof *st->fit + 1);
    st->fit_raw = malloc((size_t)st->nr.n * sizeof *st->fit_raw + 1);
    if (!all || !st->fit || !st->fit_raw) {
        free(all);
        return runtime_error("out of memory");
    }
    if (mfr_model_score_items(m, st->vec, MFR_MEASURE_DOT, all, &err) != MFR_OK) {
        free(all);
        return lib_error(&err);
    }
    const bool ratings = mfr_model_predicts_ratings(m);
    for (int32_t x = 0; x < st->nr.n; x++) {
        int32_t i = st->nr.items[x];
        double f = (double)all[i] + (double)st->bias + (double)mfr_model_item_bias(m, i);
        st->fit_raw[x] = f;
        if (ratings) f = f < c->lo ? c->lo : f > c->hi ? c->hi : f;
        st->fit[x] = f;
    }
    free(all);
    return EXIT_OK;
}

static void print_fold_in(const mfr_model *m, const struct movie_ctx *c, const struct rec_state *st)
{
    const bool ratings = mfr_model_predicts_ratings(m);
    printf("new user folded in from %d rating%s (lambda %g%s", (int)st->nr.n, st->nr.n == 1 ? "" : "s",
           st->lambda, model_has_bias(m) ? ", with a fitted user bias" : "");
    if (!isnan(st->middle))
        printf("; ratings below %g, the middle of the range, count as dislikes", st->middle);
    printf("):\n");
    printf("%7s  %6s  %9s  %s\n", "movie", "rating", ratings ? "predicted" : "score", "title");
    char t[TITLE_BUF];
    for (int32_t x = 0; x < st->nr.n; x++) {
        int32_t i = st->nr.items[x];
        double f = st->fit[x];
        if (!ratings && fabs(f) < 5e-5) f = 0.0; /* no "-0.0000" */
        printf("%7lld  %6g  %9.*f  %s\n", (long long)mfr_dataset_item_id(c->ds, i),
               (double)st->nr.values[x], ratings ? 2 : 4, f, item_title(c->ds, i, t, sizeof t));
    }
}

/* The fold-in as JSON: ,"fold_in":{...} after the query's keys. */
static void json_fold_in(const struct movie_ctx *c, const struct rec_state *st)
{
    printf(",\"fold_in\":{\"lambda\":");
    json_num(st->lambda, JSON_EXACT);
    printf(",\"middle\":");
    if (isnan(st->middle)) fputs("null", stdout);
    else json_num(st->middle, 9);
    printf(",\"user_bias\":");
    json_num(st->bias, 9);
    printf(",\"ratings\":[");
    for (int32_t x = 0; x < st->nr.n; x++) {
        printf("%s{\"movie\":%lld,\"rating\":", x ? "," : "",
               (long long)mfr_dataset_item_id(c->ds, st->nr.items[x]));
        json_num(st->nr.values[x], 9);
        printf(",\"fitted\":");
        json_num(st->fit[x], 9);
        printf(",\"fitted_raw\":");
        json_num(st->fit_raw[x], 9);
        putchar('}');
    }
    printf("]}");
}

/* A softmax fold-in as JSON: ,"fold_in":{...} after the query's keys, the
 * counterpart of json_fold_in: the rating from which a rated movie is a
 * feature, and each rated movie's rating and whether it is one. */
static void json_fold_in_softmax(const struct movie_ctx *c, const struct rec_state *st)
{
    printf(",\"fold_in\":{\"feature_min_rating\":");
    json_num(st->feature_min, 9);
    int32_t n_features = 0;
    for (int32_t x = 0; x < st->nr.n; x++) n_features += (double)st->nr.values[x] >= st->feature_min;
    printf(",\"features\":%d,\"ratings\":[", (int)n_features);
    for (int32_t x = 0; x < st->nr.n; x++) {
        printf("%s{\"movie\":%lld,\"rating\":", x ? "," : "",
               (long long)mfr_dataset_item_id(c->ds, st->nr.items[x]));
        json_num(st->nr.values[x], 9);
        printf(",\"feature\":%s}", (double)st->nr.values[x] >= st->feature_min ? "true" : "false");
    }
    printf("]}");
}

/* The rating at or above which a new user's movie is a feature of a
 * softmax model: the top quarter of the data's rating scale (4 on 1..5),
 * so that movies rated low do not bring more of the same; -inf when the
 * scale is unknown. */
static double liked_threshold(const struct movie_ctx *c)
{
    if (!isfinite(c->lo) || !isfinite(c->hi) || c->hi <= c->lo) return -INFINITY;
    return (double)c->lo + 0.75 * ((double)c->hi - (double)c->lo);
}

/* A softmax model's fold-in: the movies rated at or above liked_threshold
 * are the features (one forward pass, no solve); the others are only left
 * out of the list. Prints which are which. */
static int fold_in_softmax(const struct recommend_opts *o, const mfr_model *m,
                           const struct movie_ctx *c, struct rec_state *st)
{
    mfr_error err = {0};
    if (o->lambda >= 0.0)
        return usage_error("--lambda is the ridge strength of a matrix factorization fold-in; a "
                           "softmax model folds a new user in without a solve");
    double thr = liked_threshold(c);
    st->feature_min = thr;
    /* the features with their own ratings, in the same order */
    int32_t *liked = malloc(((size_t)st->nr.n + 1) * sizeof *liked), n_liked = 0;
    float *liked_values = malloc(((size_t)st->nr.n + 1) * sizeof *liked_values);
    if (!liked || !liked_values) {
        free(liked);
        free(liked_values);
        return runtime_error("out of memory");
    }
    for (int32_t x = 0; x < st->nr.n; x++)
        if ((double)st->nr.values[x] >= thr) {
            liked_values[n_liked] = st->nr.values[x];
            liked[n_liked++] = st->nr.items[x];
        }
    int st_ = mfr_model_fold_in(m, liked, liked_values, n_liked, 0.0, st->vec, NULL, &err);
    free(liked);
    free(liked_values);
    if (st_ != MFR_OK) return lib_error(&err);
    if (o->list.json || o->list.csv) return EXIT_OK;
    if (isfinite(thr))
        printf("new user: softmax model, features = the %d of %d rated movies rated %g or more "
               "(the top quarter of the %g..%g scale; %s)\n",
               (int)n_liked, (int)st->nr.n, thr, (double)c->lo, (double)c->hi,
               n_liked ? "one forward pass" : "none: the model's list for a user with no features");
    else /* ratings of one value (implicit data, every rating 1): no "-inf or more" */
        printf("new user: softmax model, features = every rated movie, %d (the data's ratings have "
               "one value: no top quarter of a scale to keep; one forward pass)\n",
               (int)st->nr.n);
    printf("%7s  %6s  %7s  %s\n", "movie", "rating", "feature", "title");
    char t[TITLE_BUF];
    for (int32_t x = 0; x < st->nr.n; x++) {
        int32_t i = st->nr.items[x];
        printf("%7lld  %6g  %7s  %s\n", (long long)mfr_dataset_item_id(c->ds, i),
               (double)st->nr.values[x], (double)st->nr.values[x] >= thr ? "yes" : "no",
               item_title(c->ds, i, t, sizeof t));
    }
    return EXIT_OK;
}

/* Says which of the new user's rated movies have no rating in the model's
 * training split (a split's test part holds every one of theirs): the
 * model learned nothing of them, so their ratings tell the fold-in little
 * (a random start, or ALS's zero). */
static void note_untrained_rated(const struct movie_ctx *c, const struct new_ratings *nr)
{
    int32_t n = 0;
    char ids[96] = "";
    size_t used = 0;
    for (int32_t x = 0; x < nr->n; x++) {
        if (c->counts[nr->items[x]] != 0) continue;
        if (n++ < 4 && used < sizeof ids)
            used += (size_t)snprintf(ids + used, sizeof ids - used, "%s#%lld", n > 1 ? ", " : "",
                                     (long long)mfr_dataset_item_id(c->ds, nr->items[x]));
    }
    if (n == 0) return;
    char more[32] = "";
    if (n > 4) snprintf(more, sizeof more, " and %d more", (int)(n - 4));
    fprintf(stderr,
            "%s: note: rated movie%s %s%s %s no rating in the model's training split: the model "
            "learned nothing of %s, so %s rating%s tell%s the fold-in little\n",
            g_cmd, PL(n), ids, more, n == 1 ? "has" : "have", n == 1 ? "it" : "them",
            n == 1 ? "its" : "their", PL(n), n == 1 ? "s" : "");
}

/* Top-k for a new user folded in from --rate or --ratings-file. */
static int recommend_new_user(const struct recommend_opts *o, const mfr_model *m,
                              const struct movie_ctx *c, struct rec_state *st)
{
    mfr_error err = {0};
    int rc = EXIT_OK;
    for (int x = 0; x < o->n_rate && rc == EXIT_OK; x++) rc = parse_rate(c, o->rate[x], &st->nr);
    if (!o->n_rate) rc = parse_ratings_file(c, o->rfile, &st->nr);
    if (rc != EXIT_OK) return rc;
    note_untrained_rated(c, &st->nr);
    if (mfr_model_kind(m) == MFR_MODEL_KIND_SOFTMAX) {
        if ((rc = fold_in_softmax(o, m, c, st)) != EXIT_OK) return rc;
        memcpy(st->exclude, c->too_few, (size_t)st->n_items);
        for (int32_t x = 0; x < st->nr.n; x++) st->exclude[st->nr.items[x]] = 1;
        if (mfr_model_recommend_vector(m, st->vec, 0.0f, o->list.top, o->list.measure,
                                       st->exclude, st->items, st->scores, &st->n_out,
                                       &err) != MFR_OK)
            return lib_error(&err);
        if (!o->list.json && !o->list.csv)
            printf("top %d by %s, the %d rated movie%s left out%s\n", (int)o->list.top,
                   o->list.measure == MFR_MEASURE_DOT ? "dot (the softmax logit)"
                                                      : measure_name(o->list.measure),
                   (int)st->nr.n, PL(st->nr.n), min_ratings_note(&o->list));
        return EXIT_OK;
    }
    double lambda = o->lambda;
    if (lambda < 0.0) lambda = mfr_model_fold_in_lambda(m, c->n_train, st->nr.n);
    if (!isfinite(lambda)) /* only a model whose l2 no mfrec train accepts, written by another program */
        return runtime_error("%s: the default fold-in ridge (from the model's --l2 and --l2-freq) "
                             "overflows to infinity; give --lambda",
                             o->model_path);
    float bias = 0.0f;
    /* the range makes a ranking model's low ratings count as dislikes */
    const bool range = isfinite(c->lo) && isfinite(c->hi) && c->lo < c->hi;
    if (mfr_model_fold_in_range(m, st->nr.items, st->nr.values, st->nr.n, lambda,
                                range ? (float)c->lo : NAN, range ? (float)c->hi : NAN, st->vec,
                                &bias, &err) != MFR_OK)
        return lib_error(&err);
    st->lambda = lambda;
    st->bias = bias;
    st->middle = range && !mfr_model_predicts_ratings(m) ? ((double)c->lo + (double)c->hi) / 2 : NAN;
    if ((rc = fold_in_fit(m, c, st)) != EXIT_OK) return rc;
    memcpy(st->exclude, c->too_few, (size_t)st->n_items);
    for (int32_t x = 0; x < st->nr.n; x++) st->exclude[st->nr.items[x]] = 1;
    if (!o->list.json && !o->list.csv) print_fold_in(m, c, st);
    if (mfr_model_recommend_vector(m, st->vec, bias, o->list.top, o->list.measure, st->exclude,
                                   st->items, st->scores, &st->n_out, &err) != MFR_OK)
        return lib_error(&err);
    if (!o->list.json && !o->list.csv)
        printf("top %d by %s, the %d rated movie%s left out%s\n", (int)o->list.top,
               measure_name(o->list.measure), (int)st->nr.n, PL(st->nr.n), min_ratings_note(&o->list));
    return EXIT_OK;
}

/* Prints the list of a --user or new-user recommendation. */
static void print_recommendation(const struct recommend_opts *o, const struct movie_ctx *c,
                                 const struct rec_state *st)
{
    struct movie_list l = {.items = st->items, .values = st->scores, .n = st->n_out,
                           .kind = list_value_of(c->m, o->list.measure, true),
                           .rated = o->have_user ? st->rated : NULL};
    if (o->list.csv) {
        print_list_csv(c, &l);
        return;
    }
    if (o->list.json) {
        json_open_model(o->model_path);
        if (o->have_user) printf(",\"user\":%lld", (long long)o->user_id);
        else printf(",\"user\":null,\"rated_movies\":%d", (int)st->nr.n); /* items[].rated is a rating */
        if (st->fit) json_fold_in(c, st);
        else if (!isnan(st->feature_min)) json_fold_in_softmax(c, st);
        printf(",\"measure\":\"%s\",\"top\":%d,\"min_ratings\":%lld,\"include_rated\":%s,",
               measure_name(o->list.measure), (int)o->list.top, (long long)o->list.min_ratings,
               o->include_rated ? "true" : "false");
        printf("\"rank_prior\":");
        json_num(l.kind == VALUE_PREDICTED ? rank_prior_of(c->m) : 0.0, 9);
        printf(",\"items\":");
        print_list_json(c, &l);
        printf("}\n");
        return;
    }
    if (st->n_out == 0) { /* no table of headers only, as similar */
        printf("no movie qualifies\n");
        return;
    }
    if (st->n_out < o->list.top)
        printf("(only %d movie%s)\n", (int)st->n_out, st->n_out == 1 ? " qualifies" : "s qualify");
    if (l.kind == VALUE_PREDICTED && mfr_model_rank_offsets(c->m))
        printf("ranked by score = predicted rating + %g ln(1 + training ratings): the model's popularity "
               "prior (--rank-prior)\n",
               rank_prior_of(c->m));
    else if (l.kind == VALUE_DOT && mfr_model_kind(c->m) == MFR_MODEL_KIND_MF)
        printf("dot: the model's ranking score, not a rating (gravity without biases pulls scores "
               "towards 0)\n");
    else if (l.kind == VALUE_DOT && o->have_user) /* a new user's header says it already */
        printf("dot: the softmax model's logit, a ranking score, not a rating\n");
    print_list_table(c, &l);
}

/* ------------------------------------------------------------------ */
/* mfrec recommend --all-users                                          */
/* ------------------------------------------------------------------ */

/* Users per library call: bounds the output buffers (users x top). */
enum { BATCH_USERS = 16384 };

/* A file written through a temporary name in its directory and renamed
 * over `path` only when complete, so a failure leaves nothing half-written. */
struct atomic_file {
    FILE *f;
    char *tmp;
    const char *path;
};

static int atomic_open(struct atomic_file *a, const char *path)
{
    /* the model and the data were noted as inputs by load_model_and_data */
    int rc = io_output("--out", path); /* never an input, only a regular file */
    if (rc != EXIT_OK) return rc;
    a->path = path;
    int fd = tmp_file_create(path, &a->tmp);
    a->f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!a->f) {
        int e = errno;
        if (fd >= 0) {
            close(fd), unlink(a->tmp);
            signal_cleanup_file(NULL);
            free(a->tmp);
        } else if (e == ENOMEM && !a->tmp) {
            return runtime_error("out of memory");
        }
        return runtime_error("--out %s: cannot create a file there: %s", path, strerror(e));
    }
    return EXIT_OK;
}

/* Renames the complete file into place (ok) or removes it. `report` (NULL:
 * none) is printed, with what was printed before, once the file is complete
 * and before the rename: a standard output that cannot be written fails
 * the run with nothing in place. */
static int atomic_close(struct atomic_file *a, bool ok, const char *report)
{
    int e = 0, rc = EXIT_OK;
    if (ok && (ferror(a->f) || fflush(a->f) != 0 || fsync(fileno(a->f)) != 0)) ok = false, e = errno;
    if (fclose(a->f) != 0 && ok) ok = false, e = errno;
    if (ok && (rc = stdout_report(report)) != EXIT_OK) ok = false;
    if (ok && rename(a->tmp, a->path) != 0) ok = false, e = errno;
    if (!ok) unlink(a->tmp);
    signal_cleanup_file(NULL);
    free(a->tmp);
    if (!ok && e) return runtime_error("--out %s: cannot write: %s", a->path, strerror(e));
    return ok ? EXIT_OK : EXIT_RUNTIME;
}

/* Every user's ratings in the dataset, by user, each row sorted by item
 * (a movie rated twice: its first rating, as --user shows): the `rated`
 * column of --all-users --include-rated. */
struct rated_rec {
    int32_t item;
    float rating;
    int64_t order; /* file order: of a repeated pair the first sorts first */
};

struct user_rows {
    int64_t *off; /* n_users + 1 */
    struct rated_rec *rec;
};

static int cmp_rated_rec(const void *a, const void *b)
{
    const struct rated_rec *x = a, *y = b;
    if (x->item != y->item) return (x->item > y->item) - (x->item < y->item);
    return (x->order > y->order) - (x->order < y->order);
}

static void user_rows_free(struct user_rows *u)
{
    free(u->off);
    free(u->rec);
}

static int user_rows_build(const mfr_ratings *r, int32_t n_users, struct user_rows *u)
{
    const int64_t n = mfr_ratings_count(r);
    u->off = calloc((size_t)n_users + 1, sizeof *u->off);
    u->rec = malloc(((size_t)n + 1) * sizeof *u->rec);
    int64_t *next = malloc(((size_t)n_users + 1) * sizeof *next);
    if (!u->off || !u->rec || !next) {
        free(next);
        return runtime_error("out of memory");
    }
    int32_t v, i;
    float x;
    for (int64_t k = 0; k < n; k++)
        if (mfr_ratings_get(r, k, &v, NULL, NULL, NULL, NULL) == MFR_OK && v >= 0 && v < n_users) u->off[v + 1]++;
    for (int32_t w = 0; w < n_users; w++) u->off[w + 1] += u->off[w];
    memcpy(next, u->off, (size_t)n_users * sizeof *next);
    for (int64_t k = 0; k < n; k++)
        if (mfr_ratings_get(r, k, &v, &i, &x, NULL, NULL) == MFR_OK && v >= 0 && v < n_users)
            u->rec[next[v]++] = (struct rated_rec){i, x, k};
    free(next);
    for (int32_t w = 0; w < n_users; w++)
        qsort(u->rec + u->off[w], (size_t)(u->off[w + 1] - u->off[w]), sizeof *u->rec, cmp_rated_rec);
    return EXIT_OK;
}

/* User v's (first) rating of item i, or NAN. */
static float user_rating(const struct user_rows *u, int32_t v, int32_t i)
{
    const struct rated_rec key = {.item = i, .order = -1}, *lo = u->rec + u->off[v];
    size_t n = (size_t)(u->off[v + 1] - u->off[v]);
    /* the first record at or after (i, -1): i's first rating, if any */
    size_t a = 0, b = n;
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        if (cmp_rated_rec(&lo[mid], &key) < 0) a = mid + 1;
        else b = mid;
    }
    return a < n && lo[a].item == i ? lo[a].rating : NAN;
}

/* Writes the lists of users first..first+count as CSV rows or JSON lines;
 * `rows` (NULL unless --include-rated) fills the rated column. */
static void write_batch(FILE *f, const struct recommend_opts *o, const struct movie_ctx *c,
                        int32_t first, int32_t count, int32_t width, const int32_t *items,
                        const float *scores, const int32_t *n_out, const struct user_rows *rows)
{
    bool pred = list_value_of(c->m, o->list.measure, true) == VALUE_PREDICTED;
    const char *name = pred ? "predicted_rating" : o->list.measure == MFR_MEASURE_DOT ? "dot" : "cosine";
    for (int32_t r = 0; r < count; r++) {
        long long uid = (long long)mfr_dataset_user_id(c->ds, first + r);
        const int32_t *it = items + (size_t)r * (size_t)width;
        const float *sc = scores + (size_t)r * (size_t)width;
        if (o->list.json) fprintf(f, "{\"user\":%lld,\"items\":[", uid);
        for (int32_t x = 0; x < n_out[r]; x++) {
            double v = sc[x], shown = v;
            if (pred) { /* the predicted rating: the score less its ranking offset, clamped;
                         * an overflowed score stays overflowed (not the range's end) */
                shown = predicted_of(c, it[x], v);
                if (isfinite(shown)) shown = shown < c->lo ? c->lo : shown > c->hi ? c->hi : shown;
            }
            long long mid = (long long)mfr_dataset_item_id(c->ds, it[x]);
            const float rated = rows ? user_rating(rows, first + r, it[x]) : NAN;
            char rs[32] = "";
            if (!isnan(rated)) snprintf(rs, sizeof rs, "%.9g", (double)rated);
            /* 9 digits, as the single lists: a float's value read back
             * exactly; a score that overflowed (factors of a huge model)
             * is null in JSON and an empty CSV field, as in the single lists */
            char vs[32] = "", ss[32] = "";
            if (isfinite(v)) snprintf(vs, sizeof vs, "%.9g", v);
            if (isfinite(shown)) snprintf(ss, sizeof ss, "%.9g", shown);
            if (o->list.json)
                fprintf(f, "%s{\"rank\":%d,\"movie\":%lld,\"score\":%s,\"%s\":%s,\"ratings\":%lld,"
                           "\"rated\":%s}",
                        x ? "," : "", (int)x + 1, mid, *vs ? vs : "null", name, *ss ? ss : "null",
                        (long long)c->counts[it[x]], *rs ? rs : "null");
            else
                fprintf(f, "%lld,%d,%lld,%s,%s,%lld,%s\n", uid, (int)x + 1, mid, vs, ss,
                        (long long)c->counts[it[x]], rs);
        }
        if (o->list.json) fputs("]}\n", f);
    }
}

/* One thread's share of a batch: its users lo .. hi - 1, formatted by
 * write_batch into its own text. */
struct batch_part {
    const struct recommend_opts *o;
    const struct movie_ctx *c;
    const struct user_rows *rows;
    const int32_t *items, *n_out;
    const float *scores;
    int32_t first, width, lo, hi;
    char *text;
    size_t len;
    bool ok;
};

static void *format_part(void *arg)
{
    struct batch_part *p = arg;
    FILE *f = open_memstream(&p->text, &p->len);
    if (!f) return NULL;
    const size_t off = (size_t)p->lo * (size_t)p->width;
    write_batch(f, p->o, p->c, p->first + p->lo, p->hi - p->lo, p->width, p->items + off, p->scores + off,
                p->n_out + p->lo, p->rows);
    const bool written = !ferror(f);
    p->ok = fclose(f) == 0 && written;
    return NULL;
}

/* The threads that format the lists: --threads, else OMP_NUM_THREADS' first
 * count, else the CPUs this process may use, as the library's default. */
static int format_threads(const struct recommend_opts *o)
{
    if (o->threads > 0) return o->threads;
    const char *env = getenv("OMP_NUM_THREADS");
    const int n = env ? atoi(env) : 0; /* checked by cli_check_omp_env */
    const long cpus = cli_usable_cpus();
    return n > 0 ? n : cpus > 0 ? (int)cpus : 1;
}

/* The formatting threads' shares: at most MAX_PARTS of them, each of at
 * least MIN_USERS users (a thread's start would cost more than fewer
 * users' lines), of about SHARE_ENTRIES list entries when lists are short
 * (some 4 MB of JSON lines: each share's text is held until written). */
enum { MAX_PARTS = 64, MIN_USERS = 32, SHARE_ENTRIES = 1 << 15 };

/* write_batch of users lo .. hi - 1 of a batch on up to n threads, each a
 * contiguous share of at least MIN_USERS users into its own text, the
 * texts written to f in user order: the same bytes for any n. */
static int write_round(FILE *f, const struct batch_part *tmpl, int32_t lo, int32_t hi, int n)
{
    if (n > (hi - lo) / MIN_USERS) n = (hi - lo) / MIN_USERS;
    if (n < 1) n = 1;
    struct batch_part parts[MAX_PARTS];
    pthread_t th[MAX_PARTS];
    bool started[MAX_PARTS] = {false};
    for (int k = 0; k < n; k++) {
        parts[k] = *tmpl;
        parts[k].lo = lo + (int32_t)((int64_t)(hi - lo) * k / n);
        parts[k].hi = lo + (int32_t)((int64_t)(hi - lo) * (k + 1) / n);
        parts[k].text = NULL, parts[k].len = 0, parts[k].ok = false;
    }
    for (int k = 1; k < n; k++) started[k] = pthread_create(&th[k], NULL, format_part, &parts[k]) == 0;
    format_part(&parts[0]);
    for (int k = 1; k < n; k++) {
        if (started[k]) pthread_join(th[k], NULL);
        else format_part(&parts[k]); /* no thread to be had: this one formats it */
    }
    int rc = EXIT_OK;
    for (int k = 0; k < n; k++) {
        if (rc == EXIT_OK && !parts[k].ok) rc = runtime_error("out of memory formatting the lists");
        if (rc == EXIT_OK) fwrite(parts[k].text, 1, parts[k].len, f); /* a failure: atomic_close */
        free(parts[k].text);
    }
    return rc;
}

/* write_batch of a whole batch (`tmpl` with lo, hi unset) on up to
 * n_threads threads (on one thread the formatting was a quarter of
 * --all-users' time), in rounds of one share a thread: a whole batch's
 * texts at once held 16384 users' lists (420 MiB for ML-100K's 943 users
 * at --top 1682 --json --include-rated, a file written as it goes). One
 * thread writes straight to f, holding nothing. */
static int write_batch_parallel(FILE *f, const struct batch_part *tmpl, int32_t count, int n_threads)
{
    if (n_threads <= 1) {
        write_batch(f, tmpl->o, tmpl->c, tmpl->first, count, tmpl->width, tmpl->items, tmpl->scores, tmpl->n_out,
                    tmpl->rows);
        return EXIT_OK;
    }
    const int n = n_threads < MAX_PARTS ? n_threads : MAX_PARTS;
    const int32_t width = tmpl->width > 0 ? tmpl->width : 1;
    const int32_t share = SHARE_ENTRIES / width > MIN_USERS ? SHARE_ENTRIES / width : MIN_USERS;
    const int32_t round = share * n;
    int rc = EXIT_OK;
    for (int32_t lo = 0; lo < count && rc == EXIT_OK; lo += round)
        rc = write_round(f, tmpl, lo, count - lo < round ? count : lo + round, n);
    return rc;
}

/* --all-users --json's report on standard output, one JSON object, so that
 * a program reading the command's output after --json gets JSON there too
 * (the lists are in the file). */
static int batch_report_json(struct json_log *report, const struct recommend_opts *o, int32_t n_users, int64_t n_rows,
                             int64_t short_lists, double wall, double t_rec)
{
    char *path = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&path, &len);
    if (!f) return runtime_error("out of memory");
    json_fstr(f, o->out);
    if (fclose(f) != 0) {
        free(path);
        return runtime_error("out of memory");
    }
    jlog_printf(report,
                "{\"out\":%s,\"format\":\"jsonl\",\"top\":%d,\"users\":%d,\"movies_listed\":%lld,"
                "\"users_with_shorter_lists\":%lld,\"seconds\":%.6f,\"users_per_s\":%.0f,"
                "\"users_per_s_without_writing\":%.0f}\n",
                path, (int)o->list.top, (int)n_users, (long long)n_rows, (long long)short_lists, wall,
                wall > 0 ? n_users / wall : 0.0, t_rec > 0 ? n_users / t_rec : 0.0);
    free(path);
    return EXIT_OK;
}

static int recommend_all(const struct recommend_opts *o, const mfr_model *m,
                         const struct movie_ctx *c)
{
    mfr_error err = {0};
    int32_t n_users = mfr_model_n_users(m), n_items = mfr_model_n_items(m);
    int32_t width = o->list.top < n_items ? o->list.top : n_items;
    int32_t chunk = n_users < BATCH_USERS ? n_users : BATCH_USERS;
    int32_t *items = malloc((size_t)chunk * (size_t)width * sizeof *items + 1);
    float *scores = malloc((size_t)chunk * (size_t)width * sizeof *scores + 1);
    int32_t *n_out = malloc((size_t)chunk * sizeof *n_out + 1);
    struct atomic_file af = {0};
    struct user_rows rows = {0};
    int rc = items && scores && n_out ? EXIT_OK : runtime_error("out of memory");
    if (rc == EXIT_OK && o->include_rated) rc = user_rows_build(mfr_dataset_ratings(c->ds), n_users, &rows);
    if (rc == EXIT_OK) rc = atomic_open(&af, o->out);
    if (rc != EXIT_OK) goto done;
    if (!o->list.json)
        fprintf(af.f, "user,rank,movie,score,%s,ratings,rated\n",
                list_value_of(m, o->list.measure, true) == VALUE_PREDICTED ? "predicted_rating"
                : o->list.measure == MFR_MEASURE_DOT                      ? "dot"
                                                                          : "cosine");
    const mfr_ratings *rated = o->include_rated ? NULL : mfr_dataset_ratings(c->ds);
    double t0 = now_seconds(), t_rec = 0;
    int64_t n_rows = 0, short_lists = 0; /* --min-ratings or few unrated movies shorten lists */
    for (int32_t first = 0; first < n_users && rc == EXIT_OK; first += chunk) {
        int32_t count = n_users - first < chunk ? n_users - first : chunk;
        double t1 = now_seconds();
        if (mfr_model_recommend_users(m, first, count, o->list.top, o->list.measure, rated,
                                      c->too_few, o->threads, items, scores, n_out,
                                      &err) != MFR_OK) {
            rc = lib_error(&err);
            break;
        }
        t_rec += now_seconds() - t1;
        for (int32_t x = 0; x < count; x++) {
            n_rows += n_out[x];
            short_lists += n_out[x] < o->list.top;
        }
        const struct batch_part batch = {.o = o, .c = c, .rows = o->include_rated ? &rows : NULL, .items = items,
                                         .n_out = n_out, .scores = scores, .first = first, .width = width};
        rc = write_batch_parallel(af.f, &batch, count, format_threads(o));
    }
    struct json_log report = {0};
    if (rc == EXIT_OK && o->list.json) {
        rc = batch_report_json(&report, o, n_users, n_rows, short_lists, now_seconds() - t0, t_rec);
    } else if (rc == EXIT_OK) {
        double wall = now_seconds() - t0;
        /* "the top 10 of 943 users" read as ten users of them */
        jlog_printf(&report, "wrote the top-%d lists of %d user%s to %s (%s; %lld movie%s listed",
                    (int)o->list.top, (int)n_users, PL(n_users), printable(o->out),
                    "CSV", (long long)n_rows, PL(n_rows));
        if (short_lists)
            jlog_printf(&report, ", %lld user%s with fewer than %d", (long long)short_lists,
                        short_lists == 1 ? "" : "s", (int)o->list.top);
        jlog_printf(&report, ") in %.3f s: %.0f users/s, %.0f users/s without the writing\n", wall,
                    wall > 0 ? n_users / wall : 0.0, t_rec > 0 ? n_users / t_rec : 0.0);
    }
    if (rc == EXIT_OK) rc = jlog_check(&report, "this run's report");
    rc = atomic_close(&af, rc == EXIT_OK, report.buf) != EXIT_OK && rc == EXIT_OK ? EXIT_RUNTIME : rc;
    free(report.buf);
done:
    user_rows_free(&rows);
    free(items);
    free(scores);
    free(n_out);
    return rc;
}

int cmd_recommend(int argc, char **argv)
{
    struct recommend_opts o = {.user_id = -1, .list = LIST_OPTS_DEFAULT, .lambda = -1.0};
    int rc;
    if (!parse_recommend_flags(argc, argv, &o, &rc)) return rc;
    mfr_model *m = NULL;
    mfr_dataset *ds = NULL;
    struct rec_state st = {.feature_min = NAN};
    struct movie_ctx c = {0};
    /* noted before the load's notes and the poor-ranker note, which
     * standard error on the ratings file (`2>> r.txt`) took before its
     * refusal at the file's opening */
    if (o.rfile && (rc = io_input(o.rfile)) != EXIT_OK) return rc;
    if ((rc = load_model_and_data(o.model_path, o.data, &m, &ds, NULL)) != EXIT_OK) return rc;
    /* --out once the model and its data are noted as inputs, before any
     * note or work */
    if (o.out && (rc = io_output("--out", o.out)) != EXIT_OK) {
        mfr_dataset_destroy(ds);
        mfr_model_destroy(m);
        return rc;
    }
    warn_if_poor_ranker(m, o.model_path);
    mfr_error err = {0};
    if ((rc = movie_ctx_init(&c, m, ds, o.list.min_ratings)) != EXIT_OK) {
    } else if (mfr_model_set_item_counts(m, c.counts, &err) != MFR_OK) {
        rc = lib_error(&err);
    } else if (o.all_users) {
        rc = recommend_all(&o, m, &c);
    } else if (!rec_alloc(&st, m, o.list.top)) {
        rc = runtime_error("out of memory");
    } else {
        rc = o.have_user ? recommend_user(&o, m, &c, &st) : recommend_new_user(&o, m, &c, &st);
        if (rc == EXIT_OK) print_recommendation(&o, &c, &st);
    }
    rec_free(&st);
    movie_ctx_free(&c);
    mfr_dataset_destroy(ds);
    mfr_model_destroy(m);
    return rc;
}
