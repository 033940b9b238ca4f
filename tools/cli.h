/*
 * cli.h — shared pieces of the mfrec command-line tool (tools/ only; the
 * tool uses the public API of include/mfrec.h and nothing private).
 */
#ifndef MFR_CLI_H
#define MFR_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdint.h>

#include "mfrec.h"

/* The most threads any command takes, from --threads or OMP_NUM_THREADS
 * (the configuration's n_threads limit). */
#define CLI_THREADS_MAX MFR_MAX_THREADS
/* False after a usage error when n threads exceed what OpenMP will start
 * (OMP_THREAD_LIMIT): the run would take fewer and report the count asked
 * for, and a sweep's points would all be the same count. */
bool cli_threads_allowed(const char *flag, int32_t n);
/* The CPUs this process may run on (taskset, a cgroup's cpuset), which
 * bound what more threads can buy; the online count where unknown. */
long cli_usable_cpus(void);

/* EXIT_OK, or a usage error when OMP_NUM_THREADS is set but is not a list
 * of positive integers whose first is at most CLI_THREADS_MAX (libgomp
 * would crash, stop, or ignore it with a warning). */
int cli_check_omp_env(void);

/* EXIT_INTERRUPTED: `mfrec train` stopped by SIGINT/SIGTERM after finishing
 * an epoch (docs/CHECKPOINTS.md); `mfrec sweep` stopped by one, its
 * completed repeats reported (docs/SWEEP.md). */
enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_INTERRUPTED = 3 };

struct train_opts; /* train_opts.c, below */

/* SIGINT/SIGTERM during training (stop_signal.c): g_stop_signal is the
 * first one received (0: none); a second exits at once (128 + signal)
 * unless a save is under way, which stop_signals_saving brackets so that
 * the file at its path is the old one or the new one and no temporary file
 * stays. */
extern volatile sig_atomic_t g_stop_signal;
void stop_signals_install(void);
void stop_signals_saving(bool begin);
/* "SIGINT" or "SIGTERM": the signal that stopped the run. */
const char *stop_signal_name(void);
/* Called when the epoch loop has run its last epoch: a signal seen by
 * then came during it (the note says so), not after. */
void stop_signal_epochs_ended(void);
/* At the end of a run that finished its epochs: a note on stderr when a
 * stop signal came during or after the last one (nothing was left to
 * stop; exit 0). */
void stop_signal_note_finished(void);
/* The other commands, and SIGHUP and SIGQUIT in train: a signal removes the temporary
 * file and the staging directory registered here (NULL: none) before the
 * process dies of it. */
void exit_signals_install(void);
void signal_cleanup_file(const char *path);
void signal_cleanup_dir(const char *dir, const char *made_out); /* made_out: rmdir'd too when empty */
/* The files directly inside dir, then dir itself (async-signal-safe). */
void remove_dir_files(const char *dir);
/* Brackets the making of an output and its registration above (and a
 * stage's renames into place): a signal then waits until the end, which
 * cleans up what is registered by then and dies of it, so that nothing
 * made in between stays behind. Brackets nest. signal_cleanup_file("")
 * opens one that the next signal_cleanup_file call closes. */
void exit_signals_defer(bool begin);
/* Whether a signal waits for an open bracket: a call it interrupted
 * (EINTR) gives up, and the bracket ends in failure, silently. */
bool exit_signal_waiting(void);
/* A forked child (0: none) that a signal kills and reaps before the process dies. */
void signal_cleanup_child(pid_t pid);
/* A helper program under way (gnuplot; 0: none), in its own process
 * group: killed and reaped only when the process dies of a signal, so that
 * train's and sweep's first stop signal lets it finish its chart. */
void signal_cleanup_helper(pid_t pid);
/* SIGBUS from a mapped input that another program cut short: an error
 * naming the data noted last (signal_note_data), after the same cleanup. */
void fault_signals_install(void);
void signal_note_data(const char *path);
/* The library's mfr_set_map_observer: the input mapped at a SIGBUS's address is named. */
void signal_note_mapped(const char *path, const void *addr, size_t len);
/* The running command's name for messages ("mfrec train"). */
extern const char *g_cmd;

/* Print "CMD: message" plus a hint and return EXIT_USAGE. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* FLAG's dimension k with biases: at most MFR_MAX_K - 2 (two of a row's
 * lanes hold the biases); a usage error naming FLAG otherwise, and the
 * preset the biases came from when not NULL. */
int check_dim_with_bias(const char *flag, int32_t k, bool bias, const char *bias_preset);
/* Print "CMD: error: message" and return EXIT_RUNTIME. */
int runtime_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Flushes stdout: EXIT_OK, or EXIT_RUNTIME after printing "cannot write
 * standard output" (once per process) when this or an earlier write to it
 * failed (a full disk, a closed stdout). A command that prints progress
 * calls it after each line, so a long run stops at the first failed write
 * instead of training on and failing at exit. */
int stdout_flush(void);
/* stdout_flush, then report (NULL: none) written and checked the same
 * way; an exit signal that waits for the open bracket stops it between
 * pieces of PIPE_BUF bytes (EXIT_RUNTIME, silently). For the reports of
 * commits, which a reader that stopped reading must not hold up. */
int stdout_report(const char *report);
/* Standard output is the file of an input, path (a `>>` into the data):
 * from now on every write to it fails, with "cannot write standard
 * output: it is PATH, one of this run's inputs", so the file is never
 * written into and the run fails as for a full disk (nothing committed). */
void stdout_is_input(const char *path);
/* Standard error is the file of an input, path (`2>> d/u.item`): from now
 * on every write to it fails, so no message goes into the file, and
 * stderr_input_refusal refuses the run. */
void stderr_is_input(const char *path);
/* EXIT_OK while standard error is no input; else EXIT_RUNTIME, the first
 * time after printing "cannot write standard error: it is PATH, one of
 * this run's inputs" to standard output (nowhere when standard output is
 * an input too). io_input's and io_open_input's callers stop on it,
 * before anything is read or written. */
int stderr_input_refusal(void);
/* stdout_flush, then fclose(stdout) checked the same way (main's last call). */
int stdout_close(void);
/* s with control bytes shown as \xHH, as in error lines (put_escaped): a
 * path or name printed in a report on stdout, so that a newline in it
 * cannot make a line of the report look like two. s itself when it has
 * none ("" for NULL); else a copy that stays valid for the next three
 * calls. */
const char *printable(const char *s);
/* After an error line: another program's words (gnuplot's), each of
 * their lines indented by two spaces, control bytes escaped; blank lines
 * left out. */
void error_detail(const char *text);
/* "COMMAND: warning: ..." on stderr, one line escaped and cut as an
 * error line is; not an error line (cli_errors). */
void cli_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same as "CMD: WARNING: ...": results that are not what they look
 * like (eval's test ratings that the model trained on). */
void cli_warning_loud(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* runtime_error with a library error's message. */
int lib_error(const mfr_error *err);
/* The error lines (usage_error, runtime_error) this process wrote or
 * held, up to CLI_ERRORS_MAX bytes: under mpirun a rank other than 0
 * holds them (cli_errors_hold), and dist_end prints those that rank 0 did
 * not print itself (one message per job, not one per rank). */
enum { CLI_ERRORS_MAX = 8192 };
void cli_errors_hold(bool hold);
const char *cli_errors(void);
/* Writes the held lines to stderr, but those that `printed` (NULL: none)
 * holds as whole lines, and forgets them. */
void cli_errors_release(const char *printed);
double now_seconds(void);
/* Seconds since main() started (cli_mark_start). */
void cli_mark_start(void);
double process_seconds(void);

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

/* A whole decimal integer in lo..hi (no blanks, no other characters),
 * quietly: false leaves the message to the caller. */
bool scan_i64(const char *s, int64_t lo, int64_t hi, int64_t *out);
/* The file name's extension after its last '.' ("" without one): "csv" of
 * "out/top.csv", "" of "out.d/top". */
const char *path_extension(const char *path);

/* Range-checked parsers; on failure they print a usage error naming the
 * flag and the value, and return false. */
bool parse_i64(const char *flag, const char *s, int64_t lo, int64_t hi, int64_t *out);
bool parse_i32(const char *flag, const char *s, int32_t lo, int32_t hi, int32_t *out);
bool parse_u64(const char *flag, const char *s, uint64_t *out);
bool parse_double(const char *flag, const char *s, double lo, double hi, double *out);
/* s as a finite plain decimal number (no hex, no inf/nan, no blanks), -0 as
 * 0; false, printing nothing, otherwise (parse_double's syntax, for flags
 * whose range parse_double cannot say). */
bool decimal_value(const char *s, double *out);
/* Whether s is a decimal number too small for a double (strtod gives 0
 * and ERANGE), which decimal_value reads as 0. */
bool decimal_underflows(const char *s);
bool parse_float(const char *flag, const char *s, double lo, double hi, float *out);
/* Sizes such as 512M or 4G. */
bool parse_bytes(const char *flag, const char *s, uint64_t *out);
/* parse_bytes as a FLAG_CUSTOM parser (dst: a uint64_t). */
bool parse_size_flag(const char *flag, const char *v, void *dst);

/*
 * Flag tables. A command declares its flags once, as rows of a table; the
 * same rows drive the parsing (cli_start) and the flag lines of --help.
 * Numbers are range-checked by the parse_* functions below, so a bad value
 * is a usage error naming the flag and the value.
 */
enum flag_kind {
    FLAG_SWITCH, /* no value: dst is a bool *, set to true; "--x=v" is an error */
    FLAG_STR,    /* dst is a const char **: the value as given */
    FLAG_I32,    /* dst is an int32_t *, value in lo..hi */
    FLAG_THREADS, /* dst is an int32_t *: a thread count, 1..CLI_THREADS_MAX and
                     within OMP_THREAD_LIMIT (cli_threads_allowed) */
    FLAG_I64,    /* dst is an int64_t *, value in lo..hi */
    FLAG_U64,    /* dst is a uint64_t * */
    FLAG_DOUBLE, /* dst is a double *, value in [min, max] */
    FLAG_FLOAT,  /* dst is a float *, value in [min, max] */
    FLAG_CUSTOM, /* parse(flag, value, dst): false after printing a usage error */
    FLAG_TEXT,   /* not a flag: `help` (or print_help) goes verbatim into --help */
};

struct flag_spec {
    const char *name;  /* "--model", "-k" */
    const char *value; /* the value's name in --help ("MODEL"); NULL for a switch */
    enum flag_kind kind;
    void *dst;
    int64_t lo, hi;   /* FLAG_I32, FLAG_I64 */
    double min, max;  /* FLAG_DOUBLE, FLAG_FLOAT */
    bool (*parse)(const char *flag, const char *value, void *dst); /* FLAG_CUSTOM */
    const char *section; /* printed as a heading line before this row, or NULL */
    /* Prints the row's --help lines instead of `help` (lines made elsewhere,
     * such as the training flags' own), or NULL. */
    void (*print_help)(FILE *f, const char *name);
    /* The --help text; '\n' starts a continuation line, indented to the
     * text's column. NULL: the flag is accepted but not listed (aliases). */
    const char *help;
};

/* The unlisted aliases -k N and --k N of a list-length flag (--top), so that
 * every command that takes a list length takes the same three names. */
#define LIST_LENGTH_ALIAS_ROWS(dst_, hi_)                                              \
    {.name = "-k", .value = "N", .kind = FLAG_I32, .dst = (dst_), .lo = 1, .hi = (hi_)}, \
    {.name = "--k", .value = "N", .kind = FLAG_I32, .dst = (dst_), .lo = 1, .hi = (hi_)}

/* A command's flags and help (one per command, filled by the command). */
struct command_spec {
    const char *name;       /* "mfrec norms", for g_cmd */
    const char *help;       /* usage and description, before the flag lines */
    const char *help_end;   /* after the flag lines, or NULL */
    int help_width;         /* width of the "--flag VALUE" column */
    const struct flag_spec *flags;
    size_t n_flags;
    bool data_flags;        /* also the dataset flags (--format, --data-cache) */
    bool threads_flag;      /* also --threads N: mfr_set_threads for the command's
                             * parallel setup work (a command without its own) */
    struct train_opts *train; /* non-NULL: also the training flags (train_opts_flag) */
    /* A non-flag argument: EXIT_OK, or a printed usage error. NULL: every
     * such argument is "unexpected". */
    int (*positional)(void *ctx, const char *arg);
    void *ctx;
    /* Output: the first training flag given, as written, or NULL. */
    const char *train_flag;
};

/*
 * The opening of every command: sets g_cmd; with -h or --help anywhere
 * but as a flag's value ("--movie -h" names the movie "-h"),
 * prints the help (help, the flag lines, help_end, the dataset flags when
 * data_flags) and sets *rc = EXIT_OK; otherwise applies the training
 * preset (when train is set) and parses argv with the table, then the
 * dataset flags, then the training flags. Returns true when the command
 * should run; false with *rc set (EXIT_OK after --help, EXIT_USAGE after a
 * printed usage error).
 */
bool cli_start(struct command_spec *c, int argc, char **argv, int *rc);
/* Whether the last cli_start parsed the table flag `name` (as named in its
 * row: an alias has a row of its own). Training flags: train_opts. */
bool cli_flag_given(const char *name);
/* The first of names[0..n) that argv[0..argc) holds as a flag ("--x" or
 * "--x=VALUE"), or NULL: for flags a command refuses by name before its
 * parser would call them unknown. */
const char *cli_first_named_flag(int argc, char **argv, const char *const *names, size_t n);
/* Prints the flag lines of flags[0..n) (what cli_start's --help does). */
void print_flag_help(FILE *f, const struct flag_spec *flags, size_t n, int width);

/* --data's value, else $MFREC_DATA, else data/ml-100k. */
const char *default_data_dir(const char *flag_value_or_null);

/* mfr_dataset_load with the options of the dataset flags (--format,
 * --data-cache), which every command with data_flags accepts (cli_start). */
int load_dataset(const char *dir, mfr_dataset **out, mfr_error *err);
/* load_dataset of the directory a model or checkpoint file recorded
 * (recorded_in: that file, named in the hint when the directory is gone;
 * NULL: the hint of a --data, MFREC_DATA or default directory). */
int load_dataset_recorded(const char *dir, const char *recorded_in, mfr_dataset **out, mfr_error *err);
/* Where a model's training data is loaded from when --data is not given:
 * the rating file or directory the model recorded (mfr_model_data_source),
 * else default_data_dir. A recorded rating file's format, separator and
 * header rule go into the load options unless --format was given. */
const char *model_data_source(const mfr_model *m);
/* Notes the model and a --data given (not the data the model records,
 * known once it is read) as inputs: EXIT_OK, or EXIT_RUNTIME when standard
 * error is one of them (io_input). load_model_and_data does it first; a
 * command that may print before its load (--plot's checks) calls it
 * before them. */
int note_model_inputs(const char *model_path, const char *data) __attribute__((warn_unused_result));
/* Loads a model and the dataset it was trained on (`data`, else
 * model_data_source) and checks that they match. `dir_out` (may be NULL)
 * receives the dataset's directory (valid while *ds lives). EXIT_OK, or a
 * printed error (naming the data when the dataset is the problem) with *m
 * and *ds NULL. */
int load_model_and_data(const char *model_path, const char *data, mfr_model **m,
                        mfr_dataset **ds, const char **dir_out);
/* Removes trailing '/' from a directory argument ("/" stays), so paths
 * joined to it are printed with one '/'. */
void trim_slashes(char *path);
/* "DIR/NAME", malloc'd; NULL when out of memory. */
char *path_join(const char *dir, const char *name);
/* mkdir -p for one level; EXIT_OK or a runtime error. */
int ensure_dir(const char *dir);

/* A growable text buffer (JSON Lines logs, tables). */
/* Text built by jlog_printf. A text that could not grow (out of memory)
 * is dropped whole: buf NULL from then on, `failed` set, later appends
 * ignored, so that a writer's `buf ? ... : out of memory` check fails the
 * output instead of writing it with a piece missing. */
struct json_log {
    char *buf;
    size_t len, cap;
    bool failed;
};
void jlog_printf(struct json_log *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* EXIT_OK, or "out of memory writing WHAT" when j's text was lost: a
 * report left unprinted or a file short of a piece would pass for whole. */
int jlog_check(const struct json_log *j, const char *what);
/* j's text written to path by write_file_reported (report: NULL for none);
 * out of memory naming path, and no file, when the text was lost. */
int jlog_write(const char *path, const struct json_log *j, const char *report);
/* "512.0 MiB": bytes in the largest binary unit that keeps the number at
 * least 1; "16 EiB (or more)" for UINT64_MAX. buf: 32 bytes. */
const char *size_text(uint64_t bytes, char *buf);
/* Writes "resume with: mfrec train --resume PATH (...)" to stderr, PATH
 * quoted for a POSIX shell ('...', a quote inside as '\''), so that the
 * line can be pasted whatever the name holds. */
void print_resume_hint(const char *checkpoint);
/* s as one word for the shell to paste, malloc'd (NULL when out of memory):
 * as it is when `bare` and it holds only characters no shell treats
 * specially; else in single quotes ('\'' for a quote), or as $'...' when it
 * holds a control byte or a tab. */
char *shell_word(const char *s, bool bare);
/* The final report's line on --checkpoint FILE (none without it): the
 * epoch FILE holds (ck_epoch: this process's last checkpoint, or the
 * resumed one when FILE is --resume's) and the epochs run after it, or,
 * ck_epoch 0, that the run wrote none and when the next was due
 * (--checkpoint-every N), so that a run that ends before it does not pass
 * in silence. */
void checkpoint_report(const char *checkpoint, int64_t every, int64_t ck_epoch, int64_t ran);
/* The memory budget: max_memory (--max-memory) when given, else the
 * machine's physical memory (0 when unknown). */
uint64_t memory_budget(uint64_t max_memory);
/* The report's "memory:" line: the peak RSS so far beside a trainer's
 * buffers (`parts` names what they hold) and its estimated peak. */
void print_memory_line(const char *parts, uint64_t buffers, uint64_t peak);
/* Writes data to path atomically (temp file, fsync, rename). */
int write_file_atomic(const char *path, const char *data, size_t len);
/* The same, printing `report` (NULL: none) and whatever was printed before
 * to standard output once the temporary file is complete, before the
 * rename: a report that cannot be written, or a file that cannot, leaves
 * no file and no "wrote" line for a file that is not there. */
int write_file_reported(const char *path, const char *data, size_t len, const char *report);
/* An output written whole under its temporary name PATH.tmpXXXXXX, then
 * committed with the run's other outputs, so that they appear together or
 * not at all: pending_open creates it (registered as tmp_file_create's),
 * pending_write writes data into it, pending_model saves a model there;
 * pending_commit moves it into place with no allocation, exchanging it
 * with the previous file (renameat2), which keeps the temporary name;
 * pending_end(rc) removes that, or with rc not EXIT_OK puts the previous
 * file back (or removes the new one); it returns rc. Callers bracket the
 * whole with exit_signals_defer. Where the file system cannot exchange
 * files the previous file first takes a second name (keep: a hard link,
 * else a rename) and comes back from it; only where that fails too does
 * the commit replace it for good (said if a later output fails). */
struct pending_file {
    const char *path;
    char *tmp;
    int fd; /* the temporary file's, holding its lock; -1 */
    /* the previous file's, locked while it waits under the temporary name
     * (else a stale-file scan may take it for a killed run's); when locked */
    int old_fd;
    bool old_locked;
    /* a name for the previous file where the file system cannot exchange
     * two (malloc'd by pending_open, so that the commit needs no memory) */
    char *keep;
    /* in_place: committed; exchanged: the previous file is at tmp (it can
     * come back); kept: it is at keep (no exchange); replaced: it is gone
     * (no exchange, and no second name either) */
    bool in_place, exchanged, kept, replaced;
};
int pending_open(struct pending_file *p, const char *path);
int pending_write(struct pending_file *p, const char *path, const char *data, size_t len);
int pending_model(struct pending_file *p, const mfr_model *m, const char *path);
/* A trained model saved to path: in place by the library when it is the
 * run's only output, else (with_others) under its temporary name in *slot
 * (pending_model), to be committed with the others. */
int save_trained_model(const mfr_model *m, const char *path, bool with_others, struct pending_file *slot);
/* pending_write of j's text; out of memory naming path when it was lost. */
int jlog_pending(struct pending_file *p, const char *path, const struct json_log *j);
int pending_commit(struct pending_file *p);
int pending_end(struct pending_file *p, int rc);
/* Messages name path where they would name tmp (both NULL: none). */
void cli_tmp_names(const char *tmp, const char *path);
/* Creates PATH.tmpXXXXXX (in *tmp, malloc'd) with the usual output mode,
 * registered for removal on a signal (signal_cleanup_file) with no window
 * between, after removing those a killed run left (mfr_remove_stale_tmps);
 * its descriptor, or -1 with errno set (*tmp NULL). */
int tmp_file_create(const char *path, char **tmp);
/* The rank count when a launcher started several ranks and says how many
 * (Open MPI's mpirun: OMPI_COMM_WORLD_SIZE; Hydra: PMI_SIZE), else NULL. */
const char *cli_mpirun_ranks(void);
/* This process's rank as its launcher gives it (OMPI_COMM_WORLD_RANK,
 * PMI_RANK, or a PMIx launcher's PMIX_RANK, which comes without a
 * count), else NULL. */
const char *cli_launch_rank(void);
/* True on a rank other than 0 of several: such a rank prints no help,
 * version or usage error that rank 0 prints too. */
bool cli_other_rank(void);

/*
 * Output paths (io_check.c). A command notes every file or directory it
 * reads with io_input, then checks each output with io_output (a file) or
 * io_output_dir (a directory it writes into) before its work: an output is
 * never an input, never another output of the run, never anything but a
 * regular file (symbolic links, directories, devices and FIFOs are
 * refused), and its directory exists and is writable. EXIT_OK, or a
 * printed error (EXIT_USAGE for an empty name or two outputs on one file).
 * io_input itself fails (EXIT_RUNTIME, refusal printed) when standard
 * error is one of the files noted (stderr_input_refusal): the caller
 * returns it before reading anything.
 */
int io_input(const char *path) __attribute__((warn_unused_result));
/* io_input for the data (--data): a rating file also with the dataset
 * files beside it, which the load reads (DIR/u.data: DIR/u.item). */
int io_input_data(const char *path) __attribute__((warn_unused_result));
/* The dataset load options of the --format and --data-cache flags (what
 * load_dataset uses). */
const mfr_load_options *data_load_options(void);
/* The budget of a text parse (--max-memory; mfr_load_options.max_memory). */
void data_set_memory_budget(uint64_t bytes);
/* Forgets the inputs and outputs noted so far (cli_start calls it, so each
 * command starts afresh even when several run in one process, as in the
 * fuzzers). */
void io_reset(void);
int io_output(const char *flag, const char *path);
/* The checks of a training run's checkpoint path (--checkpoint, else a
 * resume's own file, which it keeps writing): io_output's, but for the
 * file --resume names, which is also an input; before any training, not
 * when the first checkpoint is due. */
int io_output_checkpoint(const char *checkpoint, const char *resume);
/* True when a and b name the same existing file. */
bool io_same_file(const char *a, const char *b);
/* True when path names a file noted as one of the run's inputs (io_input,
 * io_input_data: the model, the data and the dataset files beside it). */
bool io_is_input(const char *path);
/* Whether a command may remove path, by io_output's rules for a file it
 * replaces: nothing there, or a regular file that is none of the run's
 * inputs and not immutable; otherwise an error naming flag and path
 * followed by `why` (" (the reason)", or ""). */
int io_removable(const char *flag, const char *path, const char *why);
int io_output_dir(const char *flag, const char *dir);
/* fopen(path, "r") for an input named by flag, which must be a regular
 * file (a FIFO or device is refused without blocking); NULL after a
 * printed error. Notes the file as an input. */
FILE *io_open_input(const char *flag, const char *path);
/* Every fold's uN.base and uN.test (N = 1..n_folds) in dir is a regular
 * file that opens: checked before any fold trains, so that a missing u3
 * fails the run before u1's results are printed. A dir that is not a
 * directory passes (the loader reports it). */
int io_check_fold_files(const char *dir, int n_folds);
/* "s" unless n is 1: "%d rating%s", n, PL(n). */
#define PL(n) ((n) == 1 ? "" : "s")

/* The data's path for messages: as the user named it (--data, MFREC_DATA,
 * the default, or the model's recorded source) for the dataset
 * load_dataset loaded, else mfr_dataset_dir. */
const char *data_name(const mfr_dataset *ds);

/* A set of files written together: stage_open creates OUT (one level) and
 * a temporary directory s->dir inside it; the caller writes its files into
 * s->dir, then stage_commit moves them into OUT together. */
struct stage {
    const char *flag, *out;
    char *dir;
    bool made_out; /* stage_open created OUT: removed again on failure */
    char **retire; /* names in OUT that the commit removes (stage_retire) */
    size_t n_retire;
    int lock; /* OUT's lock (stage_lock) until the commit ends, else -1 */
    /* the commit's files (stage_swap), listed and their paths made before
     * the first rename; swapped: they are in OUT, the previous ones kept
     * in DIR until stage_commit ends; keep: a previous one could not be
     * put back, so DIR stays */
    struct commit_file *files;
    size_t n_files, n_names;
    char **names;
    bool swapped, keep;
};
/* Messages name OUT where they would name the stage's directory DIR
 * (both NULL: none); set by stage_open, cleared by stage_commit. */
void cli_stage_names(const char *dir, const char *out);
int stage_open(struct stage *s, const char *flag, const char *out);
/* OUT/name (a file an earlier run left, which this set replaces by
 * nothing) goes with the commit: removed when the staged files move in,
 * kept when the commit fails. Not one of the staged names. */
int stage_retire(struct stage *s, const char *name);
/* Takes OUT's lock, which another run's commit into OUT waits for, until
 * this stage's commit ends (stage_commit takes it too): called before
 * what decides the files to retire, so that another run's set committed
 * meanwhile is seen (its files were left beside this run's). EXIT_OK
 * (also where OUT cannot be locked), or EXIT_RUNTIME, silently, when an
 * exit signal waits for the open bracket (exit_signal_waiting) instead of
 * another run's lock. */
int stage_lock(struct stage *s);
/* The checks of every final path with io_output, alone (nothing moves),
 * so that a command may refuse before work that comes later. */
int stage_check(struct stage *s);
/* Ends the stage. When rc is EXIT_OK: stage_check; then the files of OUT
 * that the staged ones replace, and the retired ones, are moved into the
 * stage directory, and the staged files into OUT; then `report` (NULL:
 * none) and whatever was printed before are flushed to standard output.
 * If any of that fails (a refused path, a rename, a standard output that
 * cannot be written: a full disk, /dev/full, a closed stdout), OUT is put
 * back as it was, so a failed run never leaves a mix of old and new files
 * nor reports files it did not write. The stage directory goes in every
 * case; returns the final status. After stage_swap, only the report and
 * the end (or, rc not EXIT_OK, OUT put back): nothing that allocates. */
int stage_commit(struct stage *s, int rc, const char *report);
/* The first half of stage_commit: when rc is EXIT_OK, the checks and
 * every allocation, then the renames (OUT put back if one fails); returns
 * the status. The files are in OUT but the previous ones still in the
 * stage: stage_commit then keeps the set (rc EXIT_OK) or puts OUT back,
 * needing no memory, so that a run with other outputs can commit them in
 * between and undo all when one of them fails. */
int stage_swap(struct stage *s, int rc);

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
    /* Bit i: configuration field i (mfr_config_field_at) was set by a flag
     * or the preset's flags; epochs_given: --epochs was. A resume compares
     * only what was given with the checkpoint. */
    uint64_t given_fields;
    uint64_t user_fields; /* the bits of given_fields set by the user's own flags */
    bool epochs_given;
    /* `mfrec train` only */
    const char *data, *split, *out, *log_json, *init_from, *plot;
    const char *checkpoint, *resume;
    int64_t log_every, early_stop, checkpoint_every;
    double target_rmse; /* --target-rmse; 0: none */
    bool quiet, no_train_eval;
    /* train_opts_check's notes, held until train_opts_notes: printed
     * before the inputs are noted, they went into an input that standard
     * error is (`2>> d/u.item`), which refuses the run only then */
    char notes[1024];
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
int train_opts_check(struct train_opts *o);
/* Prints the notes train_opts_check held (a preset's values left out for
 * another --optimizer), once the run's inputs are noted and standard
 * error is known to be none of them. */
void train_opts_notes(const struct train_opts *o);
/* Whether the user's own flags (not a preset's) set the field of `flag`. */
bool train_opts_user_gave(const struct train_opts *o, const char *flag);
/* The preset of o and the flags given that changed its values, as
 * config_describe writes them ("preset accurate with --epochs 2 --dim 4"):
 * what the header of a run says it trains. */
void train_opts_describe(const struct train_opts *o, char *buf, size_t cap);
/* Names a model's configuration for titles: "preset ndcg" when it is a
 * preset's, else the nearest preset and up to four flags that differ from
 * it ("preset notebook with --dim 8 --lr 0.05"). Execution fields (threads,
 * shards, kernels, reduction) are left out; --epochs is not configuration. */
void config_describe(const mfr_config *cfg, char *buf, size_t cap);
/* "PATH (preset ndcg, k 32, 300 epochs)": a model as chart titles name it. */
void model_describe(const mfr_model *m, const char *path, char *buf, size_t cap);
/* Lists the presets and their flags (for --help). */
void train_opts_print_presets(FILE *f);
/* The --help lines of the training flags, made from the library's table of
 * configuration fields, under the headings "Model and optimizer:" (with
 * --epochs) and two "Execution (...):" ones. */
void train_opts_print_help(FILE *f);
/* The optimizer as the reports name it: "gradient descent lr X",
 * "alternating least squares" or "Adam lr X (beta1 .., beta2 .., eps ..)"
 * (with_betas false: "Adam lr X"); into buf, which is returned. */
const char *train_optimizer_text(const mfr_config *c, bool with_betas, char *buf, size_t cap);
/* The reports' regularizer lines: "l2 .., l2-freq .., gravity .., biases ..
 * (l2-bias ..), implicit .." then `tail` and a line break, and a second line
 * of l1-items, gravity-bias, item-prior-drop and rank-prior when any is set
 * (train's header, eval --folds'). */
void train_print_regularizers(const mfr_config *c, const char *tail);
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
/* `--baseline ease[:LAMBDA]` or `ease-ratings[:LAMBDA]` of `mfrec eval`
 * (baseline.c): lambda 0 when none was asked for. */
struct ease_baseline {
    double lambda;
    bool ratings; /* X holds the training ratings, not 1s */
};
/* FLAG_CUSTOM parser into a struct ease_baseline * (the default λ of its
 * kind when none is given). */
bool parse_baseline(const char *flag, const char *value, void *dst);
/* EASE fitted on train (n_users x n_items) ranked on test at k; a printed
 * runtime error on failure. */
int ease_ranking(const struct ease_baseline *b, const mfr_ratings *train, const mfr_ratings *test,
                 int32_t n_users, int32_t n_items, int32_t k, mfr_ranking *out);
/* EASE's two n_items x n_items matrices of doubles against max_memory
 * (0: the physical memory): checked before anything trains; a printed
 * runtime error naming the budget when they do not fit. */
int ease_fits_memory(const struct ease_baseline *b, int32_t n_items, uint64_t max_memory);
/* The tables' line about the baseline: "EASE: lambda 400" or "EASE on
 * ratings: lambda 5000". */
void ease_baseline_say(const struct ease_baseline *b, const char *fitted_on);
/* Its JSON members: ,"ease_lambda":X,"ease_input":"binary"|"ratings". */
void ease_baseline_json(const struct ease_baseline *b);

/* `mfrec train --kind softmax` (cmd_train_softmax.c). train_kind_route:
 * true with *rc set when argv asks for the softmax model (then it ran) or
 * gives a softmax-only flag without it (a usage error); false: train
 * matrix factorization. parse_kind_mf: the MF table's --kind (mf only). */
int cmd_train_softmax(int argc, char **argv);
bool train_kind_route(int argc, char **argv, int *rc);
/* --preset softmax's training settings into c (its epochs, 48, are the
 * caller's): all leave-one-out pairs, Adam, lr 0.003, batches of 16 users,
 * He's initialization, no hidden layer, weight decay 0.1, labels rated 4
 * or more, the unrated movies as negatives, feature dropout 0.3. */
struct mfr_softmax_config;
void softmax_preset_apply(struct mfr_softmax_config *c);
/* Whether the flags ask for a softmax model (--kind or --preset softmax). */
bool train_kind_is_softmax(int argc, char **argv);
/* The --resume checkpoint when it holds a softmax run and argv gives no
 * --kind (train_kind_route then resumes it as one), else NULL; an
 * unreadable file is left to the loader's message. */
const char *train_resumes_softmax(int argc, char **argv);
/* A resumed run's checkpoint interval (the file's unless given), both
 * kinds: EXIT_OK, or a runtime error naming `path` below 1 (a library
 * caller's or forged file), which mfrec train would divide by. */
int resume_checkpoint_every_check(const char *path, int64_t every);
/* Appends the run state's log (checkpoint `path`'s) to jl, both kinds:
 * EXIT_OK, or a runtime error for a log holding a NUL byte (the library
 * keeps any bytes; "%.*s" would stop at it) or out of memory. */
int resume_log_append(struct json_log *jl, const char *path, const mfr_run_state *run);
bool parse_kind_mf(const char *flag, const char *value, void *dst);
/* `mfrec eval --folds --kind softmax` (or --preset softmax): true with *rc
 * set when argv asks for it (then it ran); false: eval as before. */
bool eval_kind_route(int argc, char **argv, int *rc);
/* eval's refusal, by name, of the flags of `mfrec train`'s run (--out,
 * --plot, --checkpoint, --split...): EXIT_USAGE with the message, or
 * EXIT_OK (cmd_eval.c). */
int eval_refuse_train_run_flags(int argc, char **argv);

#endif
