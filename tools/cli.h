/*
 * cli.h — shared pieces of the mfrec command-line tool (tools/ only; the
 * tool uses the public API of include/mfrec.h and nothing private).
 */
#ifndef MFR_CLI_H
#define MFR_CLI_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdint.h>

#include "mfrec.h"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* The running command's name for messages ("mfrec train"). */
extern const char *g_cmd;

/* Print "CMD: message" plus a hint and return EXIT_USAGE. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "CMD: error: message" and return EXIT_RUNTIME. */
int runtime_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* runtime_error with a library error's message. */
int lib_error(const mfr_error *err);
double now_seconds(void);

/* Flag iteration over argv: `--name value` or `--name=value`. */
struct args {
    int argc;
    char **argv;
    int pos;
    const char *flag; /* current flag name, without value */
    const char *inline_value;
    char name_buf[64];
};
bool next_flag(struct args *a);
bool flag_is(const struct args *a, const char *name);
/* The current flag's value, or NULL after printing a usage error. */
const char *flag_value(struct args *a);

/* Range-checked parsers; on failure they print a usage error naming the
 * flag and the value, and return false. */
bool parse_i64(const char *flag, const char *s, int64_t lo, int64_t hi, int64_t *out);
bool parse_i32(const char *flag, const char *s, int32_t lo, int32_t hi, int32_t *out);
bool parse_u64(const char *flag, const char *s, uint64_t *out);
bool parse_double(const char *flag, const char *s, double lo, double hi, double *out);
bool parse_float(const char *flag, const char *s, double lo, double hi, float *out);
/* Sizes such as 512M or 4G. */
bool parse_bytes(const char *flag, const char *s, uint64_t *out);

/* --data's value, else $MFREC_DATA, else data/ml-100k. */
const char *default_data_dir(const char *flag_value_or_null);

/*
 * Dataset flags every command that takes --data accepts (process-wide):
 *   --format FMT (or --data-format FMT)  auto (default), ml-100k, ml-1m
 *       (also ml-10m, dat), csv (also ml-20m, ml-25m, ml-32m, ml-latest),
 *       delimited[:SEP[:header|:noheader]] with SEP one byte or tab, space,
 *       comma, semicolon, pipe, colon (detected when left out);
 *   --data-cache auto|never|always  the binary dataset cache.
 * handle_common_flag parses the current flag of `a` when it is one of
 * these: returns 1, or -1 after a usage error; 0 for any other flag.
 * load_dataset is mfr_dataset_load with those options.
 */
int handle_common_flag(struct args *a);
/* next_flag that consumes the dataset flags above on the way: returns true
 * with the next flag for the command, false at the end of argv or after a
 * usage error in a dataset flag (then *error is set). */
bool next_data_flag(struct args *a, int *error);
int load_dataset(const char *dir, mfr_dataset **out, mfr_error *err);
/* Loads a model and the dataset it was trained on (`data`, else the
 * directory recorded in the model, else default_data_dir) and checks that
 * they match. `dir_out` (may be NULL) receives the directory used (valid
 * while *m lives). EXIT_OK, or a printed error (naming the directory when
 * the dataset is the problem) with *m and *ds NULL. */
int load_model_and_data(const char *model_path, const char *data, mfr_model **m,
                        mfr_dataset **ds, const char **dir_out);
/* counts[i] += the number of the dataset's ratings of item i (counts holds
 * mfr_dataset_n_items(ds) zeroed entries). */
void count_item_ratings(const mfr_dataset *ds, int64_t *counts);
/* Help lines describing the flags above, for --help texts. */
extern const char common_flags_help[];
/* Prints a command's --help text followed by the dataset flags above. */
void print_data_command_help(const char *help);
bool want_help(int argc, char **argv);
/* mkdir -p for one level; EXIT_OK or a runtime error. */
int ensure_dir(const char *dir);

/* A growable text buffer (JSON Lines logs, tables). */
struct json_log {
    char *buf;
    size_t len, cap;
};
void jlog_printf(struct json_log *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes data to path atomically (temp file, fsync, rename). */
int write_file_atomic(const char *path, const char *data, size_t len);

/* Aborts on a broken invariant of the tool itself (never on user input). */
#define MFR_CLI_ASSERT(x)                                                                    \
    do {                                                                                     \
        if (!(x)) {                                                                          \
            fprintf(stderr, "mfrec: internal error: %s at %s:%d\n", #x, __FILE__, __LINE__); \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

/* Training flags shared by `train` and `eval --folds` (train_opts.c). */
struct train_opts {
    mfr_config cfg;
    int64_t epochs;
    const char *preset; /* the preset applied ("notebook" by default) */
    /* `mfrec train` only */
    const char *data, *split, *out, *log_json, *init_from, *plot;
    int64_t log_every, early_stop;
    bool quiet;
};
void train_opts_init(struct train_opts *o);
/* Applies the --preset found anywhere in argv (default notebook) to o;
 * call before parsing the flags so that they override it. */
int train_opts_preset(int argc, char **argv, struct train_opts *o);
/* Parses the current flag of `a` into o when it is a model/optimizer flag
 * (--dim, --epochs, --lr, --beta1, --beta2, --eps, --init-std, --seed,
 * --threads, --shards, --max-memory, --l2, --l2-freq, --l2-bias, --implicit,
 * --gravity, --bias, --optimizer, --reduce, --kernels, --preset): returns 1,
 * or -1 after a usage error; returns 0 for any other flag. */
int train_opts_flag(struct args *a, struct train_opts *o);
/* Flags that only make sense together, checked once all are parsed:
 * EXIT_OK or a usage error naming them. */
int train_opts_check(const struct train_opts *o);
/* Lists the presets and their flags (for --help). */
void train_opts_print_presets(FILE *f);
/* The --help lines of the training flags, made from the library's table of
 * configuration fields, under the headings "Model and optimizer:" (with
 * --epochs) and two "Execution (...):" ones. */
void train_opts_print_help(FILE *f);
/* The --help line of one configuration flag ("--lr"), for commands that take
 * only some of them. */
void train_opts_print_flag_help(FILE *f, const char *flag);

/* The subcommands: argc/argv start after the command name. */
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_split(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_recommend(int argc, char **argv);
int cmd_similar(int argc, char **argv);
int cmd_norms(int argc, char **argv);
int cmd_stats(int argc, char **argv);   /* cmd_stats.c */
int cmd_project(int argc, char **argv); /* cmd_project.c */
int cmd_export(int argc, char **argv);  /* cmd_export.c */
int cmd_sweep(int argc, char **argv);   /* cmd_sweep.c */

#endif
