/*
 * movie_list.h — what `recommend`, `similar` and `norms` share (tools/
 * only): one set of list flags (--top, --min-ratings, --measure, --json,
 * --csv), one movie lookup (mfr_dataset_find_title with the messages), the
 * training rating counts of the model's split, and one printer of a ranked
 * list of movies as a table, JSON or CSV. One definition each, so the
 * three commands name, filter and print movies the same way.
 */
#ifndef MFR_MOVIE_LIST_H
#define MFR_MOVIE_LIST_H

#include <stdbool.h>
#include <stdint.h>

#include "cli.h"

/* The list flags' values. */
struct list_opts {
    int32_t top;         /* --top N (alias -k), default 10 */
    int64_t min_ratings; /* --min-ratings N: at least N training ratings */
    int measure;         /* --measure dot|cosine (default dot), where it applies */
    bool json, csv;
};
#define LIST_OPTS_DEFAULT {.top = 10, .min_ratings = 0, .measure = MFR_MEASURE_DOT}

bool parse_measure(const char *flag, const char *v, void *dst);
const char *measure_name(int measure);

/* The flag-table rows of --top (and its aliases -k and --k), --min-ratings, --json
 * and --csv, and of --measure. */
#define LIST_FLAG_ROWS(o)                                                                    \
    {.name = "--top", .value = "N", .kind = FLAG_I32, .dst = &(o)->top, .lo = 1,             \
     .hi = 1000000, .help = "list length (default 10; -k N and --k N are aliases)"},        \
    LIST_LENGTH_ALIAS_ROWS(&(o)->top, 1000000),                                               \
    {.name = "--min-ratings", .value = "N", .kind = FLAG_I64, .dst = &(o)->min_ratings,     \
     .lo = 0, .hi = INT64_MAX,                                                               \
     .help = "list only movies with at least N training ratings\n"                          \
             "(the model's split; default 0)"},                                              \
    {.name = "--json", .kind = FLAG_SWITCH, .dst = &(o)->json,                               \
     .help = "print one JSON object instead of the table"},                                  \
    {.name = "--csv", .kind = FLAG_SWITCH, .dst = &(o)->csv,                                 \
     .help = "print the list as CSV (a header row, then one row per\n"                     \
             "movie) instead of the table"}
#define LIST_MEASURE_ROW(o)                                                                  \
    {.name = "--measure", .value = "M", .kind = FLAG_CUSTOM, .dst = &(o)->measure,           \
     .parse = parse_measure,                                                                 \
     .help = "dot (default) or cosine (embeddings normalized, biases\n"                    \
             "left out; a zero embedding scores 0)"}

/* Usage checks shared by the three commands (--json with --csv). */
int list_opts_check(const struct list_opts *o);

/* What a list needs from the model and its data. */
struct movie_ctx {
    const mfr_model *m;
    const mfr_dataset *ds;
    int64_t n_train;      /* ratings in the model's training split */
    int64_t *counts;      /* training ratings per movie */
    int64_t *user_counts; /* training ratings per user */
    uint8_t *too_few;     /* movies below --min-ratings (all 0 without it) */
    int32_t n_eligible;   /* movies with at least --min-ratings */
    float lo, hi;         /* the dataset's rating range */
};
/* Counts the training ratings of the model's recorded split (all the
 * dataset's ratings when it records none) and marks the movies below
 * min_ratings. EXIT_OK or a printed error. */
int movie_ctx_init(struct movie_ctx *c, const mfr_model *m, const mfr_dataset *ds,
                   int64_t min_ratings);
void movie_ctx_free(struct movie_ctx *c);

/* Prints, to stderr, which preset to train for recommendations when the
 * model's configuration is the notebook's unregularized experiment (its
 * rankings are poor: NDCG@10 0.008 on u1, as the note says). */
void warn_if_poor_ranker(const mfr_model *m, const char *model_path);

/* Whether the k floats of v are all zero: a factor row that training
 * solved from no rating (ALS), where a gradient step keeps the random
 * start of a row without ratings. */
bool vector_is_zero(const float *v, int32_t k);

/* Resolves `text` to one movie of c's dataset (mfr_dataset_find_title).
 * `where` names the source in messages ("--movie", "--rate", "FILE:LINE").
 * Unknown: an error with the closest titles; ambiguous: an error listing
 * the candidates, each with its training ratings (c->counts).
 * EXIT_OK or EXIT_RUNTIME after the message. */
int resolve_movie(const struct movie_ctx *c, const char *where, const char *text, int32_t *item);
/* A user or movie id as the rating files write it: [-]DIGITS (no '+', no
 * blanks), within long long; what "#ID" takes too. */
bool parse_raw_id(const char *s, long long *out);

/* What the list's value is. */
enum list_value {
    VALUE_PREDICTED, /* a user's dot score on a rating model: the predicted rating */
    VALUE_COSINE,
    VALUE_DOT,       /* a dot product that is no rating: item-item, or a softmax
                        model's logit for a user */
    VALUE_NORM,
};
/* Chooses the value kind of a scored list of model m: a user's dot score
 * is a predicted rating only on a model that predicts ratings
 * (mfr_model_predicts_ratings). */
enum list_value list_value_of(const mfr_model *m, int measure, bool user_query);
/* The model's ranking prior (0: none), and the predicted rating behind a
 * user's dot score of `item` (the score less the item's ranking offset). */
double rank_prior_of(const mfr_model *m);
double predicted_of(const struct movie_ctx *c, int32_t item, double score);

/* A ranked list: items[0..n) with their values; rated (n_items floats,
 * NaN where not rated, may be NULL) marks the user's own ratings. */
struct movie_list {
    const int32_t *items;
    const float *values;
    int32_t n;
    enum list_value kind;
    const float *rated;
};
/* The table: a header row, then rank, movie id, value, training ratings,
 * title and genres (and the user's rating, marked, when rated). */
void print_list_table(const struct movie_ctx *c, const struct movie_list *l);
/* A JSON array of the rows (keys rank, movie, title, genres, score,
 * predicted_rating or cosine or dot or norm, ratings, rated). */
void print_list_json(const struct movie_ctx *c, const struct movie_list *l);
/* Opens a command's JSON object: '{"model":"PATH"'. */
/* The genres of item i as a JSON array (its names, in genre order). */
void json_genres(const mfr_dataset *ds, int32_t i);
void json_open_model(const char *model_path);
/* A header row and one CSV row per movie (RFC 4180 quoting). */
void print_list_csv(const struct movie_ctx *c, const struct movie_list *l);
/* One CSV field with RFC 4180 quoting, to f. */
void csv_field(FILE *f, const char *s);

#endif
