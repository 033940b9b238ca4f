/*
 * movie_list.c — the list flags, movie lookup, training rating counts and
 * list printers shared by `recommend`, `similar` and `norms` (see
 * movie_list.h).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mfrec_softmax.h"
#include "movie_list.h"
#include "output.h"

/* At most this many candidate titles are listed in an error. */
enum { MAX_LISTED = 20, CLOSEST = 5 };

bool parse_measure(const char *flag, const char *v, void *dst)
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

const char *measure_name(int measure)
{
    return measure == MFR_MEASURE_COSINE ? "cosine" : "dot";
}

int list_opts_check(const struct list_opts *o)
{
    if (o->json && o->csv) return usage_error("--json and --csv exclude each other");
    return EXIT_OK;
}

int movie_ctx_init(struct movie_ctx *c, const mfr_model *m, const mfr_dataset *ds,
                   int64_t min_ratings)
{
    mfr_error err = {0};
    int32_t n = mfr_dataset_n_items(ds);
    *c = (struct movie_ctx){.m = m, .ds = ds};
    mfr_dataset_rating_range(ds, &c->lo, &c->hi);
    c->counts = calloc((size_t)n + 1, sizeof *c->counts);
    c->user_counts = calloc((size_t)mfr_dataset_n_users(ds) + 1, sizeof *c->user_counts);
    c->too_few = calloc((size_t)n + 1, 1);
    if (!c->counts || !c->user_counts || !c->too_few) return runtime_error("out of memory");
    const mfr_ratings *train = mfr_dataset_ratings(ds);
    mfr_split *sp = NULL;
    const char *spec = mfr_model_split_spec(m);
    if (*spec) {
        mfr_config cfg;
        mfr_model_config(m, &cfg, NULL);
        /* only counted: the lean split reads the training part in place
         * (a copy of every rating was a third of a listing's memory at 10M) */
        if (mfr_split_create_lean(ds, spec, cfg.seed, &sp, &err) != MFR_OK)
            return runtime_error("cannot recreate the model's split %s: %s", spec, err.message);
        if (mfr_model_check_split(m, sp, &err) != MFR_OK) {
            mfr_split_destroy(sp);
            return lib_error(&err);
        }
        train = mfr_split_train(sp);
    }
    c->n_train = mfr_ratings_count(train);
    for (int64_t x = 0; x < c->n_train; x++) {
        int32_t u, i;
        mfr_ratings_get(train, x, &u, &i, NULL, NULL, NULL);
        c->counts[i]++;
        c->user_counts[u]++;
    }
    mfr_split_destroy(sp);
    for (int32_t i = 0; i < n; i++) {
        c->too_few[i] = c->counts[i] < min_ratings;
        c->n_eligible += !c->too_few[i];
    }
    return EXIT_OK;
}

void movie_ctx_free(struct movie_ctx *c)
{
    free(c->counts);
    free(c->user_counts);
    free(c->too_few);
}

void warn_if_poor_ranker(const mfr_model *m, const char *model_path)
{
    mfr_config cfg;
    if (mfr_model_kind(m) != MFR_MODEL_KIND_MF) return; /* a softmax model is a ranker */
    if (mfr_model_config(m, &cfg, NULL) != MFR_OK) return;
    if (cfg.l2 > 0 || cfg.l2_freq > 0 || cfg.gravity > 0 || cfg.bias || cfg.implicit > 0 ||
        cfg.l1_items > 0)
        return;
    fprintf(stderr,
            "%s: note: %s is unregularized (the notebook's experiment), which ranks movies "
            "poorly (on MovieLens 100K's u1 split, NDCG@10 0.008, below a most-popular list); for "
            "recommendations train `mfrec train --preset ndcg --out MODEL`.\n",
            g_cmd, printable(model_path));
}

bool vector_is_zero(const float *v, int32_t k)
{
    for (int32_t d = 0; d < k; d++)
        if (v[d] != 0.0f) return false;
    return true;
}

/* Prints up to MAX_LISTED movies of items[0..n) as "id  ratings  title"
 * to stderr, the ratings counted as every list of the commands counts them
 * (the model's training split): they tell apart two movies of one title
 * (ML-100K's two "Chasing Amy (1997)"). */
static void list_movies(const struct movie_ctx *c, const int32_t *items, int32_t n, int32_t total)
{
    char t[64];
    const int32_t shown = n < MAX_LISTED ? n : MAX_LISTED;
    if (shown > 0) fprintf(stderr, "  %7s  %7s  %s\n", "movie", "ratings", "title");
    for (int32_t x = 0; x < shown; x++)
        fprintf(stderr, "  %7lld  %7lld  %s\n", (long long)mfr_dataset_item_id(c->ds, items[x]),
                (long long)c->counts[items[x]], item_title(c->ds, items[x], t, sizeof t));
    if (total > MAX_LISTED) fprintf(stderr, "  ... and %d more\n", (int)(total - MAX_LISTED));
}

bool parse_raw_id(const char *s, long long *out)
{
    const char *d = s + (*s == '-');
    if (!*d || strspn(d, "0123456789") != strlen(d)) return false;
    char *end;
    errno = 0;
    *out = strtoll(s, &end, 10);
    return !errno && !*end;
}

/* Whether some movie of ds has a title (a rating file alone has none). */
static bool has_titles(const mfr_dataset *ds)
{
    for (int32_t i = 0; i < mfr_dataset_n_items(ds); i++)
        if (*mfr_dataset_item_title(ds, i)) return true;
    return false;
}

/* Whether one of the n closest titles found starts with '#' (a near miss
 * of "#Horror (2015)", not "M (1931)" for a malformed "#x"). */
static bool hash_title_near(const mfr_dataset *ds, const int32_t *found, int32_t n)
{
    for (int32_t x = 0; x < n && x < CLOSEST; x++)
        if (mfr_dataset_item_title(ds, found[x])[0] == '#') return true;
    return false;
}

/* Whether the n movies that text matched, found[] the first MAX_LISTED of
 * them, all have the very same title: every match is compared, those past
 * found[] looked up again (found[] holds no more). */
static bool titles_all_same(const mfr_dataset *ds, const char *text, const int32_t *found, int32_t n)
{
    int32_t *all = n > MAX_LISTED ? malloc((size_t)n * sizeof *all) : NULL, n_all = 0;
    int match = MFR_TITLE_NONE;
    mfr_error err = {0};
    if (all && (mfr_dataset_find_title(ds, text, all, n, &n_all, &match, &err) != MFR_OK || n_all != n)) {
        free(all);
        all = NULL;
    }
    const int32_t *items = all ? all : found, m = all ? n : n < MAX_LISTED ? n : MAX_LISTED;
    bool same = true;
    for (int32_t x = 1; x < m && same; x++)
        same = !strcmp(mfr_dataset_item_title(ds, items[0]), mfr_dataset_item_title(ds, items[x]));
    free(all);
    return same;
}

int resolve_movie(const struct movie_ctx *c, const char *where, const char *given, int32_t *item)
{
    const mfr_dataset *ds = c->ds;
    mfr_error err = {0};
    int32_t found[MAX_LISTED], n = 0;
    int match = MFR_TITLE_NONE;
    long long id;
    /* "  Fargo " is Fargo, as in --rate's list */
    while (*given == ' ' || *given == '\t') given++;
    size_t len = strlen(given);
    while (len && (given[len - 1] == ' ' || given[len - 1] == '\t' || given[len - 1] == '\r')) len--;
    if (len == 0) return usage_error("%s must not be empty", where);
    char *text = strndup(given, len);
    if (!text) return runtime_error("out of memory");
    int rc = mfr_dataset_find_title(ds, text, found, MAX_LISTED, &n, &match, &err) != MFR_OK ? lib_error(&err) : EXIT_OK;
    if (rc != EXIT_OK) {
        free(text);
        return rc;
    }
    /* "#ID"; other text starting with '#' is looked up as a title ("#Horror
     * (2015)" in MovieLens' latest datasets) */
    const bool id_text = text[0] == '#' && parse_raw_id(text + 1, &id);
    if (match != MFR_TITLE_NONE && n == 1) {
        *item = found[0];
    } else if (text[0] == '#' && !id_text && match == MFR_TITLE_NONE && !hash_title_near(ds, found, n)) {
        /* a malformed id, not near a title that starts with '#' either: a
         * usage error in a flag, as --user abc is; a data error in a file
         * (`where` is FILE:LINE) */
#define NOT_AN_ID "%s: '%s' is not a movie id (# and an integer, such as #50)"
        rc = where[0] == '-' && where[1] == '-' ? usage_error(NOT_AN_ID, where, text)
                                                : runtime_error(NOT_AN_ID, where, text);
#undef NOT_AN_ID
    } else if (match == MFR_TITLE_ID || (id_text && match == MFR_TITLE_NONE)) {
        rc = runtime_error("%s: no movie has id '%s'", where, text + 1);
    } else if (match == MFR_TITLE_NONE) {
        /* a bare number where no title matched: the id, if a movie has it
         * (written as '#' takes it: "+50" is no id, and '#+50' is refused) */
        const bool is_id = parse_raw_id(text, &id) && mfr_dataset_item_index(ds, id) >= 0;
        if (is_id) {
            rc = runtime_error("%s: no movie title matches '%s'; movie id %s is written '#%s'", where, text, text,
                               text);
        } else if (!has_titles(ds)) { /* no closest titles to offer: why, and what works */
            rc = runtime_error("%s: no movie title matches '%s': %s has no movie titles; name a "
                               "movie by id, as #ID",
                               where, text, data_name(ds));
        } else {
            rc = runtime_error("%s: no movie title matches '%s'%s", where, text,
                               n ? "; the closest titles:"
                                 : ", nor comes close to one (a part of a title names a movie, as #ID does)");
            list_movies(c, found, n < CLOSEST ? n : CLOSEST, n < CLOSEST ? n : CLOSEST);
        }
    } else {
        /* movies with the very same title can only be told apart by id;
         * titles matched without their years by the years too */
        const bool same = titles_all_same(ds, text, found, n);
        rc = runtime_error("%s: '%s' is ambiguous: %d movies %s it (name one %s):", where, text, (int)n,
                           match == MFR_TITLE_EXACT ? "are titled" : "have titles containing",
                           match != MFR_TITLE_EXACT ? "exactly, or as #ID"
                           : same                  ? "as #ID"
                                                   : "by its whole title, with the year, or as #ID");
        list_movies(c, found, n, n);
    }
    free(text);
    return rc;
}

enum list_value list_value_of(const mfr_model *m, int measure, bool user_query)
{
    if (measure == MFR_MEASURE_COSINE) return VALUE_COSINE;
    return user_query && mfr_model_predicts_ratings(m) ? VALUE_PREDICTED : VALUE_DOT;
}

static const char *value_name(enum list_value k)
{
    static const char *const names[] = {"predicted_rating", "cosine", "dot", "norm"};
    return names[k];
}

double rank_prior_of(const mfr_model *m)
{
    mfr_config cfg;
    mfr_model_config(m, &cfg, NULL);
    return cfg.rank_prior;
}

double predicted_of(const struct movie_ctx *c, int32_t item, double score)
{
    const float *off = mfr_model_rank_offsets(c->m);
    return off ? score - (double)off[item] : score;
}

/* The value shown: a predicted rating (the score less the item's ranking
 * offset, if any) is clamped to the rating range. A score that overflowed
 * (+-inf: factors near FLT_MAX) is shown as overflowed ("inf", null, an
 * empty field), not as the range's end. */
static double shown_value(const struct movie_ctx *c, const struct movie_list *l, int32_t r)
{
    double v = l->values[r];
    if (l->kind != VALUE_PREDICTED) return v;
    v = predicted_of(c, l->items[r], v);
    if (isfinite(v) && isfinite(c->lo) && isfinite(c->hi)) v = v < c->lo ? c->lo : v > c->hi ? c->hi : v;
    return v;
}

static bool is_rated(const struct movie_list *l, int32_t item)
{
    return l->rated && !isnan(l->rated[item]);
}

/* A rating file alone (a split's train.data) has no titles: said once
 * beside a table of #IDs, with the way to keep them. */
static void note_rating_file_titles(const mfr_dataset *ds)
{
    if (mfr_dataset_format(ds) != MFR_FORMAT_DELIMITED || has_titles(ds)) return;
    fprintf(stderr,
            "%s: note: %s is a rating file alone, without movie titles: movies are shown as #ID (untitled); "
            "a MovieLens split keeps them when written into the dataset's directory and read with "
            "--format ml-100k (README, mfrec split)\n",
            g_cmd, printable(data_name(ds)));
}

void print_list_table(const struct movie_ctx *c, const struct movie_list *l)
{
    if (l->n > 0) note_rating_file_titles(c->ds);
    /* with a ranking prior the score that ranks is no rating: both shown */
    const bool both = l->kind == VALUE_PREDICTED && mfr_model_rank_offsets(c->m);
    printf("%4s  %7s  ", "rank", "movie");
    if (both) printf("%9s  ", "score");
    printf("%9s  %7s  %s\n", l->kind == VALUE_PREDICTED ? "predicted" : value_name(l->kind), "ratings",
           "title  [genres]");
    char g[512], t[64], num[32];
    for (int32_t r = 0; r < l->n; r++) {
        int32_t i = l->items[r];
        printf("%4d  %7lld  ", (int)r + 1, (long long)mfr_dataset_item_id(c->ds, i));
        if (both) printf("%9s  ", table_num((double)l->values[r], num));
        printf("%9s  %7lld  %s  [%s]", table_num(shown_value(c, l, r), num),
               (long long)c->counts[i], item_title(c->ds, i, t, sizeof t),
               item_genres(c->ds, i, "-", g, sizeof g));
        if (is_rated(l, i)) printf("  * rated %g", (double)l->rated[i]);
        putchar('\n');
    }
}

/* The genres of item i as a JSON array. */
void json_genres(const mfr_dataset *ds, int32_t i)
{
    uint32_t bits = mfr_dataset_item_genres(ds, i);
    putchar('[');
    for (int32_t g = 0, first = 1; g < mfr_dataset_n_genres(ds) && g < 32; g++) {
        if (!(bits >> g & 1u)) continue;
        if (!first) putchar(',');
        json_str(mfr_dataset_genre_name(ds, g));
        first = 0;
    }
    putchar(']');
}

void print_list_json(const struct movie_ctx *c, const struct movie_list *l)
{
    putchar('[');
    for (int32_t r = 0; r < l->n; r++) {
        int32_t i = l->items[r];
        printf("%s{\"rank\":%d,\"movie\":%lld,\"title\":", r ? "," : "", (int)r + 1,
               (long long)mfr_dataset_item_id(c->ds, i));
        json_title(c->ds, i);
        fputs(",\"genres\":", stdout);
        json_genres(c->ds, i);
        fputs(",\"score\":", stdout);
        json_num(l->values[r], 9);
        printf(",\"%s\":", value_name(l->kind));
        json_num(shown_value(c, l, r), 9);
        printf(",\"ratings\":%lld,\"rated\":", (long long)c->counts[i]);
        if (is_rated(l, i)) json_num(l->rated[i], 9);
        else fputs("null", stdout);
        putchar('}');
    }
    putchar(']');
}

void json_open_model(const char *model_path)
{
    fputs("{\"model\":", stdout);
    json_str(model_path);
}

/* RFC 4180: a field holding a comma, a quote or a line break is quoted,
 * its quotes doubled. */
static bool csv_needs_quotes(const char *s) { return strpbrk(s, ",\"\n\r") != NULL; }

static void csv_put(FILE *f, const char *s, bool quoted)
{
    for (; *s; s++) {
        if (quoted && *s == '"') fputc('"', f);
        fputc(*s, f);
    }
}

void csv_field(FILE *f, const char *s)
{
    const bool quoted = csv_needs_quotes(s);
    if (quoted) fputc('"', f);
    csv_put(f, s, quoted);
    if (quoted) fputc('"', f);
}

/* A CSV number: 9 digits (a float read back exactly); empty when not
 * finite (a score that overflowed: the factors of a huge model), as --json
 * writes null and the batch file an empty field. */
static void csv_num9(double v, char end)
{
    if (isfinite(v)) printf("%.9g", v);
    putchar(end);
}

/* The movie's genres joined by '|' as one CSV field (empty: none),
 * however long the list (item_genres' buffer would cut it). */
static void csv_genres(FILE *f, const mfr_dataset *ds, int32_t item)
{
    const uint32_t g = mfr_dataset_item_genres(ds, item);
    const int32_t n = mfr_dataset_n_genres(ds) < 32 ? mfr_dataset_n_genres(ds) : 32;
    bool quoted = false;
    for (int32_t b = 0; b < n; b++)
        if (g >> b & 1u && csv_needs_quotes(mfr_dataset_genre_name(ds, b))) quoted = true;
    if (quoted) fputc('"', f);
    for (int32_t b = 0, first = 1; b < n; b++) {
        if (!(g >> b & 1u)) continue;
        if (!first) fputc('|', f);
        csv_put(f, mfr_dataset_genre_name(ds, b), quoted);
        first = 0;
    }
    if (quoted) fputc('"', f);
}

void print_list_csv(const struct movie_ctx *c, const struct movie_list *l)
{
    printf("rank,movie,score,%s,ratings,rated,title,genres\n", value_name(l->kind));
    for (int32_t r = 0; r < l->n; r++) {
        int32_t i = l->items[r];
        printf("%d,%lld,", (int)r + 1, (long long)mfr_dataset_item_id(c->ds, i));
        csv_num9((double)l->values[r], ',');
        csv_num9(shown_value(c, l, r), ',');
        printf("%lld,", (long long)c->counts[i]);
        if (is_rated(l, i)) printf("%.9g", (double)l->rated[i]);
        putchar(',');
        csv_field(stdout, mfr_dataset_item_title(c->ds, i)); /* empty: untitled */
        putchar(',');
        csv_genres(stdout, c->ds, i);
        putchar('\n');
    }
}
