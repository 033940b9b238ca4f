/*
 * output.h — output helpers the mfrec commands share (tools/ only): JSON
 * values, quantiles of sorted samples, movie titles and genres for tables,
 * and TSV fields. One definition each, so two commands never print the
 * same thing two ways.
 */
#ifndef MFR_OUTPUT_H
#define MFR_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"

/* The length of the well-formed UTF-8 character at s (1-4), or 0 when
 * the bytes there are not one (a stray continuation byte, a truncated
 * sequence, an overlong form, a surrogate, a value past U+10FFFF: a
 * Latin-1 path's). The text files mfrec writes (JSON, the sweep's CSV,
 * the charts' scripts and so their SVG) are UTF-8: such a byte is written
 * as U+FFFD. */
int utf8_char_len(const char *s);
/* U+FFFD, the replacement character, in UTF-8. */
#define UTF8_REPLACEMENT "\xef\xbf\xbd"

/* Writes s to stdout as a JSON string literal ('"', '\\' and control
 * characters escaped, a byte that is not UTF-8 as \ufffd; other bytes,
 * UTF-8 included, as they are). */
void json_str(const char *s);
/* The same to f. */
void json_fstr(FILE *f, const char *s);
/* json_num's digits for an exact double: the shortest decimal that reads
 * back as the same double (mfr_format_double: "0.1", where %.17g writes
 * 0.10000000000000001). */
enum { JSON_EXACT = 17 };
/* x as that shortest decimal in buf, or "null" when it is not finite. */
const char *num_exact(double x, char buf[static 32]);
/* Writes x to stdout with `digits` significant digits (%.*g; JSON_EXACT or
 * more: num_exact), or null when it is not finite. Each command keeps its
 * own digits: eval JSON_EXACT (exact doubles), stats 10 (readable
 * summaries). */
void json_num(double x, int digits);

/* v in a table's column of 4 decimals (the %9.4f of every list): %.4f
 * while that stays short (|v| below 1e6), else 4 significant digits with
 * an exponent ("3e+38"), and inf, -inf or nan as printf spells them. One
 * definition for the lists of recommend, similar and norms, norms'
 * histogram and project's ends, which printed a finite value near FLT_MAX
 * (factors near overflow) with some 40 digits. Print it with %9s. */
const char *table_num(double v, char buf[static 32]);

/* An outer edge e of a histogram as --json writes it (in full): e itself,
 * or, when a value printed with `digits` significant digits (%.*g) parses
 * past it, that value (fmin for the low edge, fmax for the high one), so
 * that the values the output prints beside the histogram (a summary's
 * min and max, a list's) fall inside its edges too. */
double json_outer_edge(double e, bool low, int digits);

/* The rankers of an evaluation, in their JSON order and names. */
enum { RANKER_MODEL, RANKER_POPULARITY, RANKER_EASE, N_RANKERS };
/* A ranking's four metrics, in their JSON order: precision, recall, ndcg,
 * coverage. */
enum { N_RANKING_METRICS = 4 };
/* The rankers' results as eval's JSON gives them (exact doubles):
 * "ranking":{"model":{"users":N,"precision":..,"recall":..,"ndcg":..,
 * "coverage":..},"popularity":{...}[,"ease":{...}]}; r[RANKER_EASE] may be
 * NULL (no --baseline). */
void json_rankings(const mfr_ranking *const r[N_RANKERS]);
/* The rankers' metrics of one fold, as a summary over folds reads them:
 * into v, each ranker's four metrics in the order above (r[RANKER_EASE]'s
 * too: zeroed without --baseline), NaN for a ranker that ranked no user
 * (no test rating of MFR_RANKING_RELEVANT or more; its coverage of 0
 * included), so that mean_std leaves the fold out instead of its null
 * mean hiding the other folds'. */
void ranking_values(const mfr_ranking *const r[N_RANKERS], double v[N_RANKERS * N_RANKING_METRICS]);
/* The same shape for a summary over folds (their means, or their standard
 * deviations), without "users": v holds each ranker's four metrics in the
 * order above, n_rankers of them (2: no EASE). */
void json_ranking_summary(const double *v, int n_rankers);

/* Mean and sample standard deviation (n - 1; 0 for n 1) of x[0],
 * x[stride], .. (n values; a column of a row-major table): one definition,
 * so that every command's summary over folds agrees to the bit. A NaN (a
 * metric a fold leaves undefined: no test user to rank) is left out: the
 * summary is over the other values (NaN when none is left; the std NaN
 * when one of several is). Returns how many values were used. */
int mean_std(const double *x, int n, int stride, double *mean, double *std);

/* The folds u1..un of which only some rank a user (ranked[f]: a test user
 * with a relevant rating, MFR_RANKING_RELEVANT or more): into buf, "over
 * the 4 folds that rank a user (u3: no test rating of 4 or more)", the
 * note beside a summary whose ranking means and stds leave the others
 * out; "" when every fold ranks. Returns the folds that rank. */
int folds_ranked_note(const bool *ranked, int n, char *buf, size_t size);

/* ,"ranked_folds":["u1",...] (the folds the ranking summaries are over),
 * only when some fold ranks no user: nothing otherwise, so that the JSON
 * of folds that all rank keeps its shape. */
void json_ranked_folds(const bool *ranked, int n);

/* qsort comparator for doubles, ascending. */
int cmp_double(const void *a, const void *b);
/* The quantile q in [0, 1] of sorted[0..n), n >= 1, interpolating linearly
 * between order statistics (pandas' default). */
double quantile_sorted(const double *sorted, int64_t n, double q);
/* The median of sorted[0..n), n >= 1: the middle value, or the mean of the
 * two middle values. */
double median_sorted(const double *sorted, int64_t n);

/* A movie's title, or "#ID (untitled)" (its raw id, as typed in --movie
 * and --rate) when the dataset has none (JSON: null, CSV and TSV: empty);
 * buf (cap bytes) holds the fallback. */
const char *item_title(const mfr_dataset *ds, int32_t item, char *buf, size_t cap);
/* The title as a JSON string, or null for a movie without one (stdout). */
void json_title(const mfr_dataset *ds, int32_t item);
/* The movie's genres joined by '|' into buf, or `none` when it has none;
 * for display: a list longer than buf ends at the last genre that fits
 * (tsv_genres and csv_genres write them all). */
const char *item_genres(const mfr_dataset *ds, int32_t item, const char *none, char *buf,
                        size_t size);
/* Appends s to t with tabs and line breaks replaced by spaces (they would
 * break a TSV layout). */
void tsv_field(struct json_log *t, const char *s);
/* Appends the movie's genres joined by '|' (none: nothing), each as
 * tsv_field, however long the list. */
void tsv_genres(struct json_log *t, const mfr_dataset *ds, int32_t item);

#endif
