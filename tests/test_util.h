/*
 * test_util.h — helpers shared by the cmocka tests: temporary directories,
 * writing small files, and finding the MovieLens data for the tests that
 * need it (they exit 77, which meson counts as skipped, when it is absent).
 */
#ifndef MFR_TEST_UTIL_H
#define MFR_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>

#include "mfrec.h"

/* Makes a fresh directory under $TMPDIR (or /tmp); returns a malloc'd path. */
char *tu_mkdtemp(void);
/* Removes a directory tree (rm -rf). */
void tu_rmtree(const char *dir);
/* Joins dir and name into a malloc'd path. */
char *tu_path(const char *dir, const char *name);
/* Writes `text` (len bytes, or strlen when len is (size_t)-1) to dir/name. */
void tu_write_file(const char *dir, const char *name, const char *text, size_t len);
/* Writes a small ML-100K dataset into dir (which exists): u.item with
 * movies 1..n_items titled titles[0..n_items) (Comedy, 01-Jan-1995), and
 * u.data where every user 1..n_users rates every movie i, 1 + (u + i) % 5
 * at time 88000000i. */
void tu_write_titled_dataset(const char *dir, const char *const *titles, int n_items, int n_users);
/* Reads a whole file; returns malloc'd bytes (NUL-terminated) and its size. */
char *tu_read_file(const char *path, size_t *len);
/* True when the path exists. */
int tu_exists(const char *path);
/* Sets the file's times two minutes back: a killed writer's temporary file,
 * old enough for the stale-file scans (a minute). */
void tu_age_file(const char *path);
/* Sets LC_NUMERIC to a locale with a decimal comma: an installed one, else
 * one built with localedef (the `locales` package's sources) into a
 * temporary directory named by LOCPATH; its name, or NULL (neither). */
const char *tu_comma_locale(void);
/* The process's OS threads (entries of /proc/self/task), or -1. */
int tu_process_threads(void);
/* The ML-100K directory from MFREC_DATA, or NULL when it is absent. */
const char *tu_ml100k_dir(void);
/* Prints `why` and exits 77 (meson: skipped). */
_Noreturn void tu_skip_all(const char *why);

/* Runs `ENV BIN ARGS` through the shell (ENV and ARGS are shell fragments,
 * ENV may be ""; ARGS is formatted from fmt/ap), stdin from /dev/null,
 * stdout and stderr captured via files in `dir` into *out and *err (freed
 * and replaced on every call). Returns the exit status, -1 when killed. */
int tu_run_cli(const char *bin, const char *dir, const char *env, char **out, char **err,
               const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));
/* tu_run_cli with the arguments inline: what every CLI test's run_env is
 * (a macro over its own binary, scratch directory and output buffers). */
int tu_run_clif(const char *bin, const char *dir, const char *env, char **out, char **err,
                const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Fails the current cmocka test unless `needle` occurs in `hay`. */
void tu_expect_in(const char *hay, const char *needle);
/* The number after "key": in a JSON text from `from` on (fails the test
 * when the key is absent). */
double tu_json_num(const char *from, const char *key);
/* Loads a dataset (mfr_dataset_load); fails the current cmocka test with
 * the library's message when it does not load. */
mfr_dataset *tu_load_ok(const char *dir, const mfr_load_options *opt);

/* Writes a synthetic dataset (mfr_synth_write with these sizes and seed)
 * to path and, when ds is not NULL, loads it; 0, or -1 after printing the
 * library's message (for group setups, which cannot fail a test). */
int tu_synth(const char *path, int32_t n_users, int32_t n_items, int64_t n_ratings, uint64_t seed,
             mfr_dataset **ds);

/* DIR/r.txt (DIR made if missing): DATA/u.data's user, item and rating as
 * a ':'-separated file with the header "user:item:rating" (for
 * --format delimited:colon:header); the file's path (free it). */
char *tu_colon_ratings(const char *dir, const char *data);

/* Reads a JSON Lines trajectory (records with "epoch", "train_mse" and
 * "val_mse"; other lines are ignored) into the arrays; returns the count. */
int tu_read_trajectory(const char *path, int max, long *epoch, double *train_mse, double *val_mse);
/* Compares two trajectories epoch by epoch to `rel` relative; fails the
 * current cmocka test with the first difference. */
void tu_compare_trajectories(const char *want_path, const char *got_path, double rel);

/* One optimizer step of a softmax --log-json file (records with "step"). */
struct tu_step {
    long epoch, step, group, examples;
    double loss;
};
/* Reads the step records of a softmax JSON Lines log (`mfrec train --kind
 * softmax --log-json`, tools/softmax-reference.py --json) into out; returns
 * the count (at most max), -1 when the file cannot be read. */
int tu_read_steps(const char *path, int max, struct tu_step *out);
/* Compares the first n steps of two such logs: the same step numbers,
 * groups and example counts, losses to `rel` relative; fails the current
 * cmocka test with the first difference, else prints the worst. */
void tu_compare_steps(const char *want_path, const char *got_path, int n, double rel);

/* Reads the numeric rows of a gnuplot data file written by tools/plot.c
 * ("#" lines and blank lines skipped; a row's first n_cols numbers, NaN
 * included) into out[row * n_cols + col]; returns the rows read (at most
 * max_rows), -1 when the file cannot be read. *n_blocks (may be NULL)
 * counts the data blocks (runs of rows between blank lines). */
int tu_read_dat(const char *path, int n_cols, double *out, int max_rows, int *n_blocks);

/* Fails the current cmocka test unless text is exactly one JSON value
 * (strict RFC 8259 syntax, surrounding white space allowed). */
void tu_expect_json(const char *text);
/* Fails unless every line of text is one JSON value; returns the count. */
int tu_expect_json_lines(const char *text);
/* Fails unless text is CSV (RFC 4180 quoting) whose rows all have the
 * header's number of fields; returns the rows (header included) and the
 * field count in *n_cols (may be NULL). */
int tu_expect_csv(const char *text, int *n_cols);

/* SANITIZED: defined in an ASan or TSan build, whose memory figures and
 * address-space limits are not a release build's. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif

#endif
