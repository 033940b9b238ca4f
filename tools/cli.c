/*
 * cli.c — what every mfrec subcommand shares: error reporting with the exit
 * codes, flag parsing (`--name value` or `--name=value`) with range-checked
 * numbers, the table-driven opening of every command (cli_start: --help,
 * the flag table, the dataset flags, the training flags), and small file
 * helpers. See cli.h.
 *
 * One parser for every command, so a flag means the same thing wherever it
 * is accepted: an unknown "-x" or "--x" is "unknown option", a word that is
 * not a flag is "unexpected argument" (or the command's positional
 * argument), a switch given "=value" is an error, and a flag without its
 * value is "option --x needs a value".
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdio_ext.h> /* __fpending */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sched.h>
#include <time.h>
#include <limits.h> /* PIPE_BUF */
#include <unistd.h>

#include "cli.h"

const char *g_cmd = "mfrec";

/* Messages echo what the user gave and what files hold: control bytes
 * (a terminal escape sequence in a title) are printed as \xHH and a
 * message is cut to MESSAGE_MAX bytes (a megabyte-long title), so that an
 * error can neither drive the terminal nor flood it. */
enum { MESSAGE_MAX = 4096, MESSAGE_TAIL = 1024 };

/* While a stage is open (stage_open), its temporary directory and the
 * directory the user named: messages say the latter, the path the files
 * will have, not the temporary one they are written to. */
static const char *g_stage_dir, *g_stage_out;
/* The same for a file written under its temporary name by the library
 * (pending_model): messages name the final path. */
static const char *g_tmp_name, *g_tmp_final;

void cli_stage_names(const char *dir, const char *out)
{
    g_stage_dir = dir;
    g_stage_out = out;
}

void cli_tmp_names(const char *tmp, const char *path)
{
    g_tmp_name = tmp;
    g_tmp_final = path;
}

/* msg with every "STAGED" replaced by "OUT", in place; returns the
 * bytes it removed. STAGED (a stage directory, or a temporary file) is OUT
 * followed by its own name ("/.mfrec-stage-XXXXXX", ".tmpXXXXXX"), and
 * that name is what goes: also where the library cut the start of a long
 * path off a message ("... (N bytes cut) ...ut/.mfrec-stage-XXXXXX/U.npy:
 * File too large"). */
static size_t unstage_one(char *msg, const char *staged, const char *out)
{
    if (!staged || !out) return 0;
    const size_t ol = strlen(out);
    if (strncmp(staged, out, ol) != 0 || !staged[ol]) return 0;
    const char *own = staged + ol;
    const size_t sl = strlen(own);
    size_t removed = 0;
    for (char *p = strstr(msg, own); p; p = strstr(p, own)) {
        memmove(p, p + sl, strlen(p + sl) + 1);
        removed += sl;
    }
    return removed;
}

/* The input standard output was found to be (stdout_is_input), or NULL;
 * whether the shell's redirect had emptied it (`>`, not `>>`: the file
 * was empty and not opened to append), and whether the first runtime
 * error has said so (runtime_error). */
static char *g_stdout_input;
static bool g_stdout_emptied, g_stdout_hinted;

/* The error lines written or held so far (cli_errors), and whether they
 * are held: written by cli_errors_release, not by put_line. */
static char g_errors[CLI_ERRORS_MAX];
static size_t g_errors_len, g_errors_held;
static bool g_hold;

void cli_errors_hold(bool hold) { g_hold = hold; }
const char *cli_errors(void) { return g_errors; }

void cli_errors_release(const char *printed)
{
    /* line by line: one that `printed` holds as a whole line is left out */
    const char *p = g_errors + g_errors_len - g_errors_held;
    while (*p) {
        const char *nl = strchr(p, '\n');
        const size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);
        bool seen = false;
        for (const char *q = printed; q && *q && !seen;) {
            seen = !strncmp(q, p, n) && (p[n - 1] == '\n' || q[n] == '\0' || q[n] == '\n');
            q = strchr(q, '\n');
            if (q) q++;
        }
        if (!seen) fwrite(p, 1, n, stderr);
        p += n;
    }
    g_errors_held = 0;
}

/* Records a line put_line made; held, it is written only by
 * cli_errors_release (lines past the record's room are written now). */
static void record_line(const char *line)
{
    const size_t len = strlen(line);
    if (g_errors_len + len >= sizeof g_errors) {
        fputs(line, stderr);
        return;
    }
    memcpy(g_errors + g_errors_len, line, len + 1);
    g_errors_len += len;
    if (g_hold) g_errors_held += len;
    else fputs(line, stderr);
}

/* Appends msg[0..len) to line at *at, control bytes as \xHH: a newline
 * too (no message holds one of its own), so that a path or a value with
 * one in it cannot make a message look like two, or its end like a line
 * of the program's own. */
static bool is_escaped(unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; }

/* How many bytes of s put_escaped shows as \xHH. */
static size_t escaped_count(const char *s)
{
    size_t n = 0;
    for (; *s; s++) n += is_escaped((unsigned char)*s);
    return n;
}

static void put_escaped(char *line, size_t *at, const char *msg, size_t len)
{
    for (size_t k = 0; k < len; k++) {
        unsigned char c = (unsigned char)msg[k];
        if (is_escaped(c)) *at += (size_t)snprintf(line + *at, 5, "\\x%02X", c);
        else line[(*at)++] = (char)c;
    }
}

const char *printable(const char *s)
{
    static char *ring[4];
    static unsigned next;
    if (!s) return "";
    const size_t n = escaped_count(s), len = strlen(s);
    if (!n) return s;
    char *buf = malloc(len + 3 * n + 1); /* "\xHH" for one byte */
    if (!buf) return "?";
    size_t at = 0;
    put_escaped(buf, &at, s, len);
    buf[at] = '\0';
    free(ring[next % 4]);
    ring[next++ % 4] = buf;
    return buf;
}

/* One message line: the prefix, the message (escaped, cut) and the
 * suffix, built in one buffer and written with one fputs. stderr is
 * unbuffered, so writing it a byte at a time made one write() per byte,
 * and under mpirun Open MPI's own abort notice could land in the middle
 * of a rank's message. A message over the cut keeps its start and its
 * last MESSAGE_TAIL bytes: the reason after a long path ("...: No such
 * file or directory") is what the reader needs. */
static void put_line(const char *prefix, const char *suffix, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static void put_line(const char *prefix, const char *suffix, const char *fmt, va_list ap)
{
    /* formatted whole (up to twice the cut, or whole in a heap buffer)
     * before the staging directory is renamed, so that neither the cut
     * nor the count after it sees the temporary name */
    char small[2 * MESSAGE_MAX + 1];
    /* each byte may become \xHH; room for the cut notice and the ends */
    char line[4 * MESSAGE_MAX + 1024]; /* and runtime_error's suffix */
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap2);
    va_end(ap2);
    if (n < 0) n = 0, small[0] = '\0';
    char *msg = small, *whole = NULL;
    if ((size_t)n >= sizeof small && (whole = malloc((size_t)n + 1))) {
        va_copy(ap2, ap);
        vsnprintf(whole, (size_t)n + 1, fmt, ap2);
        va_end(ap2);
        msg = whole;
    }
    n -= (int)(unstage_one(msg, g_stage_dir, g_stage_out) + unstage_one(msg, g_tmp_name, g_tmp_final));
    const size_t len = strlen(msg); /* n, unless the heap buffer was not to be had */
    size_t at = (size_t)snprintf(line, 256, "%s", prefix);
    if (at > 255) at = 255;
    if (len <= MESSAGE_MAX) {
        put_escaped(line, &at, msg, len);
    } else if (len == (size_t)n) {
        put_escaped(line, &at, msg, MESSAGE_MAX - MESSAGE_TAIL);
        at += (size_t)snprintf(line + at, 64, "... (%zu bytes cut) ...", len - MESSAGE_MAX);
        put_escaped(line, &at, msg + len - MESSAGE_TAIL, MESSAGE_TAIL);
    } else {
        put_escaped(line, &at, msg, MESSAGE_MAX);
        at += (size_t)snprintf(line + at, 64, "... (%zu more bytes)", (size_t)n - MESSAGE_MAX);
    }
    snprintf(line + at, sizeof line - at, "%s", suffix);
    record_line(line);
    free(whole);
}

int usage_error(const char *fmt, ...)
{
    /* a run that reports several refusals (synth) points to --help once */
    static bool hinted;
    char prefix[128], suffix[160] = "\n";
    snprintf(prefix, sizeof prefix, "%s: ", g_cmd);
    if (!hinted) snprintf(suffix, sizeof suffix, "\nTry '%s --help'.\n", g_cmd);
    hinted = true;
    va_list ap;
    va_start(ap, fmt);
    put_line(prefix, suffix, fmt, ap);
    va_end(ap);
    return EXIT_USAGE;
}

int runtime_error(const char *fmt, ...)
{
    char prefix[128], suffix[1200] = "\n";
    snprintf(prefix, sizeof prefix, "%s: error: ", g_cmd);
    /* The first error once standard output is an input says so: after
     * `mfrec stats --data d > d/u.data` the load's "d/u.data:1: file is
     * empty" alone hid that the shell had emptied the data. (Standard
     * error on an input refuses the run before this: stderr_input_refusal.)
     * The path is escaped here, not by printable, whose four buffers may
     * hold the caller's arguments. */
    if (g_stdout_input && !g_stdout_hinted) {
        g_stdout_hinted = true;
        const size_t len = strlen(g_stdout_input), shown = len > 200 ? 200 : len;
        size_t at = (size_t)snprintf(suffix, sizeof suffix, " (");
        put_escaped(suffix, &at, g_stdout_input, shown); /* at most 4 bytes each */
        snprintf(suffix + at, sizeof suffix - at, "%s is also this run's standard output%s)\n",
                 shown < len ? "..." : "",
                 g_stdout_emptied ? ": the shell's redirect emptied it before mfrec started; redirect the "
                                    "output to another file"
                                  : ", which takes no write");
    }
    va_list ap;
    va_start(ap, fmt);
    put_line(prefix, suffix, fmt, ap);
    va_end(ap);
    return EXIT_RUNTIME;
}

static void detail_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void detail_line(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    put_line("  ", "\n", fmt, ap);
    va_end(ap);
}

void error_detail(const char *text)
{
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        const int len = end ? (int)(end - line) : (int)strlen(line);
        /* gnuplot starts its messages with a blank line: no empty detail lines */
        if ((int)strspn(line, " \t\r") < len) detail_line("%.*s", len, line);
        line += len + (end != NULL);
    }
}

int lib_error(const mfr_error *err) { return runtime_error("%s", err->message); }

/* "WHO: KIND: MSG", escaped and cut like an error line (put_line), but not
 * one: cli_errors does not hold it. */
static void put_warning(const char *who, const char *kind, const char *msg)
{
    char line[4 * MESSAGE_MAX + 256];
    size_t at = (size_t)snprintf(line, 192, "%s: %s: ", who, kind);
    if (at > 191) at = 191;
    const size_t len = strnlen(msg, MESSAGE_MAX);
    put_escaped(line, &at, msg, len);
    snprintf(line + at, sizeof line - at, "%s\n", msg[len] ? "..." : "");
    fputs(line, stderr);
}

static void warning_va(const char *kind, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void warning_va(const char *kind, const char *fmt, va_list ap)
{
    char msg[MESSAGE_MAX + 2]; /* one byte past the cut: put_warning marks it */
    vsnprintf(msg, sizeof msg, fmt, ap);
    put_warning(g_cmd, kind, msg);
}

void cli_warning(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    warning_va("warning", fmt, ap);
    va_end(ap);
}

void cli_warning_loud(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    warning_va("WARNING", fmt, ap);
    va_end(ap);
}

/* Set once "cannot write standard output" has been printed. */
static bool g_stdout_reported;
/* The same for standard error (stderr_is_input), and whether its refusal
 * has been printed. */
static char *g_stderr_input;
static bool g_stderr_emptied, g_stderr_refused;

/* Whether fd, a regular file, was emptied by a truncating redirect: it is
 * empty and was opened to write only, not to append (`cmd > f`; `cmd >> f`
 * keeps f, and so does `cmd 1<> f`, opened to read and write, which said
 * an empty f had been emptied by the shell). */
static bool redirect_emptied(int fd)
{
    struct stat st;
    const int fl = fcntl(fd, F_GETFL);
    return fstat(fd, &st) == 0 && st.st_size == 0 && fl != -1 && (fl & O_ACCMODE) == O_WRONLY && !(fl & O_APPEND);
}

/* Puts a descriptor that takes no write in fd's place: every write,
 * stdio's own flushes of a full buffer included, fails from now on. */
static void deaden_fd(int fd)
{
    const int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, fd);
        close(null);
    }
}

/* Takes standard output or error (fd) off an input: keeps its name for
 * the messages, whether a redirect emptied it, and makes it take no more
 * writes, whatever writes them (the library's log, gnuplot's words). */
static void stream_is_input(int fd, const char *path, char **name, bool *emptied)
{
    if (*name) return;
    *name = strdup(path);
    if (!*name) *name = (char *)"(an input)";
    *emptied = redirect_emptied(fd);
    deaden_fd(fd);
}

void stdout_is_input(const char *path) { stream_is_input(STDOUT_FILENO, path, &g_stdout_input, &g_stdout_emptied); }
void stderr_is_input(const char *path) { stream_is_input(STDERR_FILENO, path, &g_stderr_input, &g_stderr_emptied); }

int stderr_input_refusal(void)
{
    if (!g_stderr_input) return EXIT_OK;
    if (g_stderr_refused) return EXIT_RUNTIME;
    g_stderr_refused = true;
    /* said on standard output, the only stream left, unless it is an
     * input too (`>> f 2>&1`): then nowhere, and the exit status tells */
    if (g_stdout_input) return EXIT_RUNTIME;
    const char *p = printable(g_stderr_input);
    printf("%s: error: cannot write standard error: it is %.*s, one of this run's inputs (written into, it "
           "would change what the run reads)%s; the run is refused: redirect standard error to another file\n",
           g_cmd, MESSAGE_MAX, p,
           g_stderr_emptied ? ", and the shell's redirect emptied it before mfrec started" : "");
    stdout_flush();
    return EXIT_RUNTIME;
}

static int stdout_failed(int e)
{
    /* a signal came while a report waited for a reader (EINTR), or just
     * before its write, which then failed on the descriptor the handler
     * put in stdout's place (EBADF, defer_signal): the run undoes its
     * outputs and dies of it, with nothing to say */
    if (exit_signal_waiting()) return EXIT_RUNTIME;
    g_stdout_hinted = true; /* this error names the file itself */
    if (!g_stdout_reported && g_stdout_input)
        runtime_error("cannot write standard output: it is %s, one of this run's inputs (written into, "
                      "it would change what the run reads); redirect the output to another file",
                      printable(g_stdout_input));
    else if (!g_stdout_reported)
        runtime_error("cannot write standard output: %s", strerror(e ? e : EIO));
    g_stdout_reported = true;
    return EXIT_RUNTIME;
}

int stdout_flush(void)
{
    /* a signal that came earlier in an output's bracket (during its
     * renames, or an fsync) waits: a report that a full pipe would block
     * fails now, silently, and the bracket puts everything back; without
     * SA_RESTART only a signal that comes during the write interrupts it,
     * so one that came before waited until the reader read */
    if (__fpending(stdout) > 0 && exit_signal_waiting()) return stdout_failed(EINTR);
    errno = 0;
    /* one that came in the instant between the check and the write made
     * the write fail (defer_signal): reported as one that came before */
    if (fflush(stdout) == 0 && !ferror(stdout)) return EXIT_OK;
    return stdout_failed(errno);
}

int stdout_report(const char *report)
{
    int rc = stdout_flush(); /* what came before: one stdio buffer */
    /* then the report in pieces of PIPE_BUF, which a pipe takes whole or
     * not at all (a signal during a longer write returns a short count,
     * and stdio wrote the rest at once, waiting again), with the check
     * before each: through fputs, a report over stdio's buffer blocked
     * in fputs itself, before stdout_flush could look */
    for (const char *p = report ? report : ""; rc == EXIT_OK && *p;) {
        if (exit_signal_waiting()) return stdout_failed(EINTR);
        const size_t left = strlen(p);
        const ssize_t w = write(STDOUT_FILENO, p, left < PIPE_BUF ? left : PIPE_BUF);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return stdout_failed(errno);
        p += w;
    }
    /* a signal between a check and its write made that write fail
     * (defer_signal); one after the last write came once the report was
     * out, and the files it names stay */
    return rc;
}

int stdout_close(void)
{
    int rc = stdout_flush();
    errno = 0;
    if (fclose(stdout) != 0 && rc == EXIT_OK) rc = stdout_failed(errno);
    return rc;
}

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double g_t_start;

void cli_mark_start(void) { g_t_start = now_seconds(); }

double process_seconds(void) { return now_seconds() - g_t_start; }


bool next_flag(struct args *a)
{
    if (a->pos >= a->argc) return false;
    const char *s = a->argv[a->pos++];
    const char *eq = strchr(s, '=');
    if (s[0] == '-' && s[1] == '-' && eq && (size_t)(eq - s) < sizeof a->name_buf) {
        memcpy(a->name_buf, s, (size_t)(eq - s));
        a->name_buf[eq - s] = 0;
        a->flag = a->name_buf;
        a->inline_value = eq + 1;
    } else {
        a->flag = s;
        a->inline_value = NULL;
    }
    return true;
}

bool flag_is(const struct args *a, const char *name) { return strcmp(a->flag, name) == 0; }

/* Returns the flag's value, or NULL after printing a usage error. */
const char *flag_value(struct args *a)
{
    if (a->inline_value) return a->inline_value;
    if (a->pos >= a->argc) {
        usage_error("option %s needs a value", a->flag);
        return NULL;
    }
    /* `synth --out --users 5`: the next flag is not the value (a directory
     * named "--users" would be written); such a value is spelled --out=--x */
    const char *v = a->argv[a->pos];
    if (v[0] == '-' && v[1] == '-' && v[2] && v[2] != '-') {
        usage_error("option %s needs a value, got the option %s (a value that starts with '--' is "
                    "written %s=VALUE)",
                    a->flag, v, a->flag);
        return NULL;
    }
    a->pos++;
    return v;
}

bool scan_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi || isspace((unsigned char)s[0])) return false;
    *out = v;
    return true;
}

bool parse_i64(const char *flag, const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    if (!scan_i64(s, lo, hi, out)) {
        /* a count without a bound of its own: no int64 range to quote */
        if (hi == INT64_MAX)
            usage_error("%s must be an integer, %lld or more, got '%s'", flag, (long long)lo, s);
        else
            usage_error("%s must be an integer in %lld..%lld, got '%s'", flag, (long long)lo,
                        (long long)hi, s);
        return false;
    }
    return true;
}

const char *path_extension(const char *path)
{
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    return dot && (!slash || dot > slash) ? dot + 1 : "";
}

bool parse_i32(const char *flag, const char *s, int32_t lo, int32_t hi, int32_t *out)
{
    int64_t v;
    if (!parse_i64(flag, s, lo, hi, &v)) return false;
    *out = (int32_t)v;
    return true;
}

bool cli_threads_allowed(const char *flag, int32_t n)
{
    const int32_t limit = mfr_thread_limit();
    if (n <= limit) return true;
    usage_error("%s %d: OMP_THREAD_LIMIT=%d lets OpenMP start at most %d thread%s", flag, (int)n, (int)limit,
                (int)limit, limit == 1 ? "" : "s");
    return false;
}

bool parse_u64(const char *flag, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (s[0] == '-' || isspace((unsigned char)s[0])) {
        usage_error("%s must be a non-negative integer, got '%s'", flag, s);
        return false;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE && end != s && !*end) {
        usage_error("%s must be an integer in 0..%llu, got '%s'", flag, (unsigned long long)UINT64_MAX, s);
        return false;
    }
    if (errno || end == s || *end) {
        usage_error("%s must be a non-negative integer, got '%s'", flag, s);
        return false;
    }
    *out = v;
    return true;
}

bool decimal_value(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || !mfr_text_is_decimal(s, strlen(s))) return false;
    *out = v + 0.0; /* -0 is 0: the same run, recorded and compared as one */
    return true;
}

bool decimal_underflows(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    return errno == ERANGE && v == 0.0 && end != s && !*end && mfr_text_is_decimal(s, strlen(s));
}

/* A range's bound as a reader writes it: a whole number of up to ten
 * digits in full ("1000000000", not "1e+09"), else the shortest %g text
 * that reads back as it (no bound rounded). */
static const char *bound_text(double d, char buf[32])
{
    if (d == floor(d) && fabs(d) < 1e10) {
        snprintf(buf, 32, "%.0f", d);
        return buf;
    }
    for (int digits = 6; digits <= 17; digits++) {
        snprintf(buf, 32, "%.*g", digits, d);
        if (strtod(buf, NULL) == d) break;
    }
    return buf;
}

bool parse_double(const char *flag, const char *s, double lo, double hi, double *out)
{
    double v;
    char a[32], b[32];
    if (decimal_underflows(s)) {
        usage_error("%s must be a number in [%s, %s], got '%s', which is too small for a double (it "
                    "underflows to 0)",
                    flag, bound_text(lo, a), bound_text(hi, b), s);
        return false;
    }
    if (!decimal_value(s, &v) || v < lo || v > hi) {
        usage_error("%s must be a number in [%s, %s], got '%s'", flag, bound_text(lo, a), bound_text(hi, b), s);
        return false;
    }
    *out = v;
    return true;
}

bool parse_float(const char *flag, const char *s, double lo, double hi, float *out)
{
    double v;
    if (!parse_double(flag, s, lo, hi, &v)) return false;
    *out = (float)v;
    return true;
}

/* Sizes like 512M, 4G, 1048576: the library's rule for --max-memory, so
 * every size flag reads sizes the same way. */
bool parse_bytes(const char *flag, const char *s, uint64_t *out)
{
    mfr_config c;
    mfr_config_default(&c);
    if (!s[0] || isspace((unsigned char)s[0])) { /* the library's wording (mfr_config_set) */
        usage_error("%s: a value may not be empty or start with a blank, got '%s'", flag, s);
        return false;
    }
    if (mfr_config_set(&c, "--max-memory", s, NULL) != MFR_OK) {
        usage_error("%s must be a size such as 512M or 4G, got '%s'", flag, s);
        return false;
    }
    *out = c.max_memory;
    return true;
}

bool parse_size_flag(const char *flag, const char *v, void *dst) { return parse_bytes(flag, v, dst); }

const char *default_data_dir(const char *flag_value_or_null)
{
    if (flag_value_or_null) return flag_value_or_null;
    static char *env_raw, *env_dir; /* MFREC_DATA, and it trimmed of trailing slashes as --data DIR is */
    const char *env = getenv("MFREC_DATA");
    if (!env || !*env) return "data/ml-100k";
    if (!env_raw || strcmp(env_raw, env) != 0) {
        free(env_raw), free(env_dir);
        env_raw = strdup(env), env_dir = strdup(env);
        if (!env_raw || !env_dir) {
            free(env_raw), free(env_dir);
            env_raw = env_dir = NULL;
            return env;
        }
        trim_slashes(env_dir);
    }
    return env_dir;
}

/* ------------------------------------------------------------------ */
/* Dataset flags (--format, --data-cache)                               */
/* ------------------------------------------------------------------ */

static bool g_load_opts_set;
/* --format was given: it then overrides the format a model recorded. */
static bool g_format_given;
static mfr_load_options g_load_opts;

/* The library never prints: its warnings (a dataset cache that cannot be
 * written) come here and go to stderr, named for the command as its own
 * warnings are ("mfrec stats: warning: ..."). */
static void print_library_warning(void *user, int level, const char *msg)
{
    (void)user;
    put_warning(g_cmd, level == MFR_LOG_WARN ? "warning" : "note", msg);
}

static mfr_load_options *load_opts(void)
{
    if (!g_load_opts_set) {
        mfr_load_options_default(&g_load_opts);
        g_load_opts.log = print_library_warning;
        g_load_opts_set = true;
    }
    return &g_load_opts;
}

/* "delimited[:SEP[:header|:noheader|:auto]]" into o: 1 when read, 0 when
 * malformed, -1 for a separator that may occur in a number (a usage error,
 * said here). */
static int parse_delimited_spec(const char *flag, const char *spec, mfr_load_options *o)
{
    static const struct {
        const char *name;
        char sep;
    } names[] = {{"tab", '\t'},  {"space", ' '}, {"comma", ','},
                 {"semicolon", ';'}, {"pipe", '|'},  {"colon", ':'}};
    o->format = MFR_FORMAT_DELIMITED;
    o->sep = 0;
    o->header = MFR_HEADER_AUTO;
    if (!*spec) return 1;
    if (*spec++ != ':' || !*spec) return 0;
    const char *end = strchr(spec + 1, ':'); /* spec[0] may itself be ':' */
    size_t n = end ? (size_t)(end - spec) : strlen(spec);
    if (n == 1) {
        o->sep = spec[0];
        if (!mfr_separator_ok(o->sep)) {
            usage_error("%s delimited:SEP: SEP must be a space, tab or punctuation character that cannot occur "
                        "in a number (or tab, space, comma, semicolon, pipe, colon), got '%c' (0x%02X)",
                        flag, (unsigned char)o->sep >= 0x20 && (unsigned char)o->sep < 0x7f ? o->sep : '?',
                        (unsigned char)o->sep);
            return -1;
        }
    } else {
        size_t k = 0;
        while (k < sizeof names / sizeof *names &&
               !(strlen(names[k].name) == n && !strncmp(spec, names[k].name, n)))
            k++;
        if (k == sizeof names / sizeof *names) return 0;
        o->sep = names[k].sep;
    }
    if (!end) return 1;
    if (!strcmp(end, ":header")) o->header = MFR_HEADER_YES;
    else if (!strcmp(end, ":noheader")) o->header = MFR_HEADER_NO;
    else if (strcmp(end, ":auto") != 0) return 0;
    return 1;
}

/* --format / --data-format into the process-wide load options. */
static bool parse_data_format(const char *flag, const char *v, void *dst)
{
    (void)dst;
    static const struct {
        const char *name;
        int32_t format;
    } formats[] = {
        {"auto", MFR_FORMAT_AUTO},    {"ml-100k", MFR_FORMAT_ML100K}, {"ml-1m", MFR_FORMAT_ML1M},
        {"ml-10m", MFR_FORMAT_ML1M},  {"dat", MFR_FORMAT_ML1M},       {"csv", MFR_FORMAT_CSV},
        {"ml-20m", MFR_FORMAT_CSV},   {"ml-25m", MFR_FORMAT_CSV},     {"ml-32m", MFR_FORMAT_CSV},
        {"ml-latest", MFR_FORMAT_CSV},
    };
    mfr_load_options *o = load_opts();
    g_format_given = true;
    for (size_t k = 0; k < sizeof formats / sizeof *formats; k++) {
        if (!strcmp(v, formats[k].name)) {
            o->format = formats[k].format;
            o->sep = 0;
            o->header = MFR_HEADER_AUTO;
            return true;
        }
    }
    if (!strncmp(v, "delimited", 9)) {
        const int got = parse_delimited_spec(flag, v + 9, o);
        if (got != 0) return got > 0;
    }
    usage_error("%s must be auto, ml-100k, ml-1m, ml-10m, dat, csv, ml-20m, ml-25m, ml-32m, "
                "ml-latest or delimited[:SEP[:header|:noheader]], got '%s'",
                flag, v);
    return false;
}

/* --data-cache into the process-wide load options. */
static bool parse_data_cache(const char *flag, const char *v, void *dst)
{
    (void)dst;
    mfr_load_options *o = load_opts();
    if (!strcmp(v, "auto")) o->cache = MFR_CACHE_AUTO;
    else if (!strcmp(v, "never")) o->cache = MFR_CACHE_NEVER;
    else if (!strcmp(v, "always")) o->cache = MFR_CACHE_ALWAYS;
    else {
        usage_error("%s must be auto, never or always, got '%s'", flag, v);
        return false;
    }
    return true;
}

/* The dataset flags every command that reads --data accepts. */
static const struct flag_spec data_flags[] = {
    {.name = "--format", .value = "FMT", .kind = FLAG_CUSTOM, .parse = parse_data_format,
     .help = "dataset format: auto (a directory by the u.data,\n"
             "ratings.dat or ratings.csv it holds; a rating file by its\n"
             "name, ML-100K's uN.base and uN.test too), ml-100k,\n"
             "ml-1m, ml-10m or dat (ML-1M/10M .dat, one format: whole\n"
             "stars with a users.dat, half stars without), csv,\n"
             "ml-20m, ml-25m, ml-32m or ml-latest\n"
             "(ML-20M/25M/32M/latest),\n"
             "delimited[:SEP[:header|:noheader]] (--data then names the\n"
             "file; SEP tab, comma, semicolon, pipe, space, colon or\n"
             "another punctuation character that no number holds;\n"
             "detected if omitted); --data-format FMT is an alias"},
    {.name = "--data-format", .value = "FMT", .kind = FLAG_CUSTOM, .parse = parse_data_format},
    {.name = "--data-cache", .value = "MODE", .kind = FLAG_CUSTOM, .parse = parse_data_cache,
     .help = "binary dataset cache DIR/.mfrec-cache: auto (files of\n"
             "1 MiB or more: ML-100K and up), never, always"},
};
enum { DATA_FLAGS_WIDTH = 20 };

/* --threads of the commands whose only parallel work is the library's
 * setup (loading the data, the split) and project's PCA:
 * command_spec.threads_flag. */
static int32_t g_setup_threads_flag;
static const struct flag_spec threads_flag[] = {
    {.name = "--threads", .value = "N", .kind = FLAG_THREADS, .dst = &g_setup_threads_flag,
     .help = "threads for loading the data (the parse, the dataset\n"
             "cache's checks), making a split where the command makes\n"
             "one (a model's split, `split`) and the PCA's covariance\n"
             "(`project`); default $OMP_NUM_THREADS, else all cores;\n"
             "never changes the output"},
};

const mfr_load_options *data_load_options(void) { return load_opts(); }

void data_set_memory_budget(uint64_t bytes) { load_opts()->max_memory = bytes; }

/* The last dataset load_dataset loaded, and its path as the user named it. */
static const mfr_dataset *g_named_ds;
static char *g_named;

const char *data_name(const mfr_dataset *ds)
{
    return ds && ds == g_named_ds && g_named ? g_named : mfr_dataset_dir(ds);
}

/* How a movie without a title is shown: as a table or message shows it
 * (item_title); its title field is empty in CSV and TSV (every list's
 * --csv, export's metadata.tsv, project --out) and null in JSON. */
#define UNTITLED_SHOWN "shown as #ID (untitled); their title is empty in CSV and TSV, null in JSON"

/* A MovieLens layout without its movies file (optional to the loader)
 * gives no titles, genres or years: said once, as a misnamed or missing
 * u.item would otherwise go unnoticed; so is a movies file that titles
 * only some of the movies (one cut short), with the count of the others. */
static void note_missing_titles(const mfr_dataset *ds)
{
    static bool said;
    const int32_t format = mfr_dataset_format(ds);
    const char *file = format == MFR_FORMAT_ML100K ? "u.item"
                       : format == MFR_FORMAT_ML1M ? "movies.dat"
                       : format == MFR_FORMAT_CSV  ? "movies.csv"
                                                   : NULL;
    if (said || !file) return;
    const int32_t n = mfr_dataset_n_items(ds);
    int32_t untitled = 0;
    bool meta = false; /* genres or years: the file is there, its titles empty */
    for (int32_t i = 0; i < n; i++) {
        if (*mfr_dataset_item_title(ds, i)) continue;
        untitled++;
        meta = meta || mfr_dataset_item_genres(ds, i) || mfr_dataset_item_year(ds, i) > 0;
    }
    if (untitled == 0) return;
    said = true;
    if (untitled < n)
        fprintf(stderr, "%s: note: %d of the %d movies of %s %s no title (not in %s, "
                        "or an empty title there); they are " UNTITLED_SHOWN "\n",
                g_cmd, (int)untitled, (int)n, printable(mfr_dataset_dir(ds)), untitled == 1 ? "has" : "have",
                printable(file));
    else if (meta)
        fprintf(stderr, "%s: note: no movie of %s has a title (every title in %s is empty); "
                        "movies are " UNTITLED_SHOWN "\n",
                g_cmd, printable(mfr_dataset_dir(ds)), printable(file));
    else
        fprintf(stderr, "%s: note: no movie of %s has a title (%s missing or empty): no titles, "
                        "genres or years; movies are " UNTITLED_SHOWN "\n",
                g_cmd, printable(mfr_dataset_dir(ds)), printable(file));
}

int load_dataset(const char *dir, mfr_dataset **out, mfr_error *err)
{
    return load_dataset_recorded(dir, NULL, out, err);
}

int load_dataset_recorded(const char *dir, const char *recorded_in, mfr_dataset **out, mfr_error *err)
{
    struct stat st;
    if (io_input_data(dir) != EXIT_OK) { /* refused (and said): standard error is one of the files */
        snprintf(err->message, sizeof err->message, "standard error is one of this run's inputs");
        err->status = MFR_ERR_IO;
        return MFR_ERR_IO;
    }
    if (load_opts()->format == MFR_FORMAT_DELIMITED && !load_opts()->ratings_file && stat(dir, &st) == 0 &&
        S_ISDIR(st.st_mode)) {
        snprintf(err->message, sizeof err->message,
                 "--format delimited reads one rating file: pass it as --data FILE, not the directory %s", dir);
        err->status = MFR_ERR_INVALID;
        return MFR_ERR_INVALID;
    }
    signal_note_data(dir);
    int rc = mfr_dataset_load(dir, load_opts(), out, err);
    if (rc == MFR_OK) {
        free(g_named);
        g_named = strdup(dir);
        g_named_ds = *out;
        note_missing_titles(*out);
    }
    if (rc == MFR_ERR_INVALID && err && strstr(err->message, "holds two rating files")) {
        size_t n = strlen(err->message);
        snprintf(err->message + n, sizeof err->message - n, " with --format ml-100k, ml-1m or csv");
    }
    if (rc != MFR_OK && err && stat(dir, &st) != 0 && errno == ENOENT) {
        size_t n = strlen(err->message);
        if (recorded_in) /* MFREC_DATA does not apply: the file names its data */
            snprintf(err->message + n, sizeof err->message - n,
                     " (the data recorded in %s, a directory or a rating file; if it has moved, pass --data "
                     "with its new place)",
                     recorded_in);
        else if (getenv("MFREC_DATA") && *getenv("MFREC_DATA") && !strcmp(dir, default_data_dir(NULL)))
            snprintf(err->message + n, sizeof err->message - n,
                     " (no dataset there, where MFREC_DATA points: set it to the dataset's place, pass --data "
                     "DIR, or download MovieLens 100K with tools/fetch-movielens)");
        else /* the usual first-run problem: say where the data comes from */
            snprintf(err->message + n, sizeof err->message - n,
                     " (no dataset there: pass --data DIR, set MFREC_DATA, or download MovieLens "
                     "100K with tools/fetch-movielens)");
    }
    return rc;
}

const char *model_data_source(const mfr_model *m)
{
    const char *src = mfr_model_data_source(m, g_format_given ? NULL : load_opts());
    return *src ? src : default_data_dir(NULL);
}

int note_model_inputs(const char *model_path, const char *data)
{
    /* --data before the model is read: standard error on one of its files
     * (`2>> d/u.item`) took the model's load error before the refusal (the
     * data a model records is known only once it is read) */
    if (data && io_input_data(data) != EXIT_OK) return EXIT_RUNTIME;
    return io_input(model_path);
}

int load_model_and_data(const char *model_path, const char *data, mfr_model **m,
                        mfr_dataset **ds, const char **dir_out)
{
    mfr_error err = {0};
    *m = NULL;
    *ds = NULL;
    if (note_model_inputs(model_path, data) != EXIT_OK) return EXIT_RUNTIME;
    /* the read-only commands: the optimizer state stays in the file */
    if (mfr_model_load_weights(model_path, m, &err) != MFR_OK) return lib_error(&err);
    const char *dir = data ? data : model_data_source(*m);
    if (load_dataset_recorded(dir, data ? NULL : model_path, ds, &err) != MFR_OK ||
        mfr_model_check_dataset(*m, *ds, &err) != MFR_OK) {
        /* Other data in the recorded directory: a model of a rating file
         * written before models recorded the file (4055e85) names its
         * directory alone, whose own data is read instead. */
        const bool dir_only = !data && err.status == MFR_ERR_MISMATCH &&
                              !strcmp(mfr_model_data_source(*m, NULL), mfr_model_data_dir(*m));
        int rc = data ? runtime_error("--data %s: %s", dir, err.message)
                 : dir_only
                     ? runtime_error("data %s (recorded in %s): %s; if it was trained on a rating file "
                                     "there (a model of mfrec before December 2 2026 records only the "
                                     "file's directory), pass --data FILE, with --format delimited "
                                     "when the file lies beside u.item (whose movies it adds)",
                                     dir, model_path, err.message)
                     : runtime_error("data %s (recorded in %s): %s", dir, model_path, err.message);
        mfr_dataset_destroy(*ds);
        mfr_model_destroy(*m);
        *ds = NULL;
        *m = NULL;
        return rc;
    }
    if (dir_out) *dir_out = mfr_dataset_dir(*ds);
    return EXIT_OK;
}


int ensure_dir(const char *dir)
{
    if (mkdir(dir, 0755) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) return EXIT_OK;
        return runtime_error("%s exists and is not a directory", dir);
    }
    return runtime_error("cannot create directory %s: %s", dir, strerror(errno));
}


void jlog_printf(struct json_log *j,
                                                              const char *fmt, ...)
{
    va_list ap;
    while (!j->failed) {
        va_start(ap, fmt);
        size_t room = j->cap - j->len;
        int n = vsnprintf(j->buf ? j->buf + j->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < room) {
            j->len += (size_t)n;
            return;
        }
        size_t ncap = j->cap ? j->cap * 2 : 4096;
        while (n >= 0 && ncap - j->len <= (size_t)n) ncap *= 2;
        char *nb = n >= 0 ? realloc(j->buf, ncap) : NULL;
        if (!nb) { /* the whole text goes: a piece missing would be written as if complete */
            free(j->buf);
            *j = (struct json_log){.failed = true};
            return;
        }
        j->buf = nb;
        j->cap = ncap;
    }
}

int jlog_check(const struct json_log *j, const char *what)
{
    return j->failed ? runtime_error("out of memory writing %s", what) : EXIT_OK;
}

int jlog_write(const char *path, const struct json_log *j, const char *report)
{
    int rc = jlog_check(j, path);
    return rc == EXIT_OK ? write_file_reported(path, j->buf ? j->buf : "", j->len, report) : rc;
}

int jlog_pending(struct pending_file *p, const char *path, const struct json_log *j)
{
    int rc = jlog_check(j, path);
    return rc == EXIT_OK ? pending_write(p, path, j->buf ? j->buf : "", j->len) : rc;
}

char *shell_word(const char *s, bool bare)
{
    if (bare && *s &&
        strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./:=+,-") == strlen(s))
        return strdup(s);
    /* '...', or $'...' where a control byte would otherwise break the line
     * (a newline) or act when pasted (a tab asks an interactive shell for
     * completions) */
    const bool dollar = escaped_count(s) > 0 || strchr(s, '\t');
    char *w = malloc(4 * strlen(s) + 4), *at = w;
    if (!w) return NULL;
    if (dollar) *at++ = '$';
    *at++ = '\'';
    for (const char *c = s; *c; c++) {
        if (*c == '\'') at += sprintf(at, "%s", dollar ? "\\'" : "'\\''");
        else if (dollar && *c == '\\') at += sprintf(at, "\\\\");
        else if (dollar && *c == '\t') at += sprintf(at, "\\t");
        else if (dollar && is_escaped((unsigned char)*c)) at += sprintf(at, "\\x%02X", (unsigned char)*c);
        else *at++ = *c;
    }
    *at++ = '\'';
    *at = '\0';
    return w;
}

void print_resume_hint(const char *checkpoint)
{
    char *w = shell_word(checkpoint, false);
    fprintf(stderr, "resume with: mfrec train --resume %s (with the same --out, --log-json, --plot)\n",
            w ? w : checkpoint);
    free(w);
}

void checkpoint_report(const char *checkpoint, int64_t every, int64_t ck_epoch, int64_t ran)
{
    if (!checkpoint) return;
    if (ck_epoch <= 0) {
        printf("no checkpoint written to %s: the next was due at epoch %lld (--checkpoint-every %lld)\n",
               printable(checkpoint), (long long)((ran / every + 1) * every), (long long)every);
        return;
    }
    printf("checkpoint of epoch %lld in %s", (long long)ck_epoch, printable(checkpoint));
    if (ran == ck_epoch + 1)
        printf("; epoch %lld is not in it", (long long)ran);
    else if (ran > ck_epoch)
        printf("; epochs %lld-%lld are not in it", (long long)(ck_epoch + 1), (long long)ran);
    if (ran > ck_epoch) printf(" (--checkpoint-every %lld)", (long long)every);
    putchar('\n');
}

int check_dim_with_bias(const char *flag, int32_t k, bool bias, const char *bias_preset)
{
    if (!bias || k <= MFR_MAX_K - 2) return EXIT_OK;
    return usage_error("%s %d with --bias%s%s%s: at most %d (the biases take two of the %d lanes)", flag, (int)k,
                       bias_preset ? " (from --preset " : "", bias_preset ? bias_preset : "", bias_preset ? ")" : "",
                       MFR_MAX_K - 2, MFR_MAX_K);
}

uint64_t memory_budget(uint64_t max_memory)
{
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return max_memory ? max_memory : pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
}

void print_memory_line(const char *parts, uint64_t buffers, uint64_t peak)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        printf("memory: peak RSS %.1f MiB; training buffers %.1f MiB (%s); estimated peak %.1f MiB "
               "(--max-memory)\n",
               (double)ru.ru_maxrss / 1024.0, (double)buffers / 1048576.0, parts, (double)peak / 1048576.0);
}

/* "512.0 MiB": bytes in the largest binary unit that keeps the number at
 * least 1; "16 EiB (or more)" for a size past uint64. buf: 32 bytes. */
const char *size_text(uint64_t bytes, char *buf)
{
    static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes == UINT64_MAX) {
        snprintf(buf, 32, "16 EiB (or more)");
        return buf;
    }
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 6) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, 32, u ? "%.1f %s" : "%.0f %s", v, u || bytes != 1 ? units[u] : "byte");
    return buf;
}

/* The first of the launchers' variables that is set: Open MPI's mpirun,
 * then MPICH's and Intel MPI's Hydra, then (rank only) any PMIx launcher
 * such as srun --mpi=pmix or prterun. */
static const char *launch_var(const char *ompi, const char *hydra, const char *pmix)
{
    const char *names[3] = {ompi, hydra, pmix};
    for (int k = 0; k < 3 && names[k]; k++) {
        const char *v = getenv(names[k]);
        if (v && *v) return v; /* set but empty: not a launch */
    }
    return NULL;
}

/* The launcher's rank count as given, "1" included; NULL when none is. */
static const char *launch_size(void) { return launch_var("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", NULL); }

const char *cli_mpirun_ranks(void)
{
    const char *n = launch_size();
    return n && strcmp(n, "1") != 0 ? n : NULL;
}

const char *cli_launch_rank(void) { return launch_var("OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"); }

bool cli_other_rank(void)
{
    const char *rank = cli_launch_rank(), *n = launch_size();
    /* a rank past 0 means several even where the count is not given */
    return rank && strcmp(rank, "0") != 0 && (!n || strcmp(n, "1") != 0);
}

int write_file_atomic(const char *path, const char *data, size_t len) { return write_file_reported(path, data, len, NULL); }

int tmp_file_create(const char *path, char **tmp)
{
    const size_t n = strlen(path) + 16;
    if (!(*tmp = malloc(n))) {
        errno = ENOMEM;
        return -1;
    }
    snprintf(*tmp, n, "%s.tmpXXXXXX", path);
    /* the library's rule for what a killed run left, as its own writes do */
    mfr_remove_stale_tmps(path);
    signal_cleanup_file(""); /* a signal waits for the file's registration */
    int fd = mkstemp(*tmp);
    if (fd < 0) {
        int e = errno;
        signal_cleanup_file(NULL);
        free(*tmp);
        *tmp = NULL;
        errno = e;
        return -1;
    }
    signal_cleanup_file(*tmp);
    /* in use until its close: the library's writers remove a temporary file
     * of the same name only once its writer's lock is gone (src/core/common.c) */
    (void)flock(fd, LOCK_EX | LOCK_NB);
    /* mkstemp creates the file 0600: give it the usual mode of a new
     * output file, or the permission bits of the file it replaces (a
     * private file stays private; never setuid, setgid or sticky) */
    struct stat st;
    mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(fd, lstat(path, &st) == 0 && S_ISREG(st.st_mode) ? st.st_mode & 0777 : 0666 & ~mask);
    return fd;
}

int write_file_reported(const char *path, const char *data, size_t len, const char *report)
{
    struct pending_file f;
    int rc = pending_write(&f, path, data, len);
    /* the file is complete: its report, before it takes its name */
    if (rc == EXIT_OK && report) rc = stdout_report(report);
    if (rc == EXIT_OK) rc = pending_commit(&f);
    return pending_end(&f, rc);
}

int pending_open(struct pending_file *p, const char *path)
{
    *p = (struct pending_file){.path = path, .fd = -1};
    struct stat st; /* as write_file_reported: replace regular files only */
    if (!*path || (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)))
        return runtime_error("%s is not a regular file; not replacing it", path);
    p->fd = tmp_file_create(path, &p->tmp);
    if (p->fd < 0)
        return errno == ENOMEM && !p->tmp ? runtime_error("out of memory writing %s", path)
                                          : runtime_error("cannot create %s: %s", path, strerror(errno));
    if (!(p->keep = strdup(p->tmp))) return runtime_error("out of memory writing %s", path);
    return EXIT_OK;
}

int pending_write(struct pending_file *p, const char *path, const char *data, size_t len)
{
    int rc = pending_open(p, path);
    if (rc != EXIT_OK) return rc;
    /* write(2), not stdio: no buffer to allocate */
    for (size_t at = 0; at < len;) {
        ssize_t w = write(p->fd, data + at, len - at);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return runtime_error("cannot write %s: %s", path, strerror(w < 0 ? errno : EIO));
        at += (size_t)w;
    }
    if (fsync(p->fd) != 0) return runtime_error("cannot write %s: %s", path, strerror(errno));
    return EXIT_OK;
}

/* A descriptor that can hold an exclusive flock on path: read-write first,
 * as the library's stale-file scan opens (NFS emulates flock with POSIX
 * locks, whose exclusive kind needs a descriptor open for writing); -1. */
static int open_to_lock(const char *path)
{
    const int fd = open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    return fd >= 0 ? fd : open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
}

int pending_model(struct pending_file *p, const mfr_model *m, const char *path)
{
    int rc = pending_open(p, path);
    mfr_error err = {0};
    /* the library's messages name the final path, not the temporary one */
    cli_tmp_names(p->tmp, path);
    if (rc == EXIT_OK && mfr_model_save(m, p->tmp, &err) != MFR_OK) rc = lib_error(&err);
    cli_tmp_names(NULL, NULL);
    /* the library renamed its file over the temporary name: the lock goes
     * to that file, or a stale-file scan could take it for a killed run's */
    const int fd = rc == EXIT_OK ? open_to_lock(p->tmp) : -1;
    if (fd >= 0) {
        (void)flock(fd, LOCK_EX | LOCK_NB);
        close(p->fd);
        p->fd = fd;
    }
    return rc;
}

int save_trained_model(const mfr_model *m, const char *path, bool with_others, struct pending_file *slot)
{
    if (with_others) return pending_model(slot, m, path);
    mfr_error err = {0};
    return mfr_model_save(m, path, &err) == MFR_OK ? EXIT_OK : lib_error(&err);
}

/* On a file system that cannot exchange two files: the previous file
 * takes a second name, p->keep (PATH.tmpXXXXXX, as a killed run's
 * temporary files, and locked with it through p->old_fd), so that it can
 * come back. A hard link leaves path in place all along; where the file
 * system has none, a rename leaves no path for a moment. 0 or errno. */
static int keep_previous(struct pending_file *p)
{
    const size_t n = strlen(p->keep);
    memcpy(p->keep + n - 6, "XXXXXX", 6);
    const int fd = mkstemp(p->keep); /* a fresh name; no memory needed */
    if (fd < 0) return errno;
    close(fd);
    if (unlink(p->keep) == 0 && link(p->path, p->keep) == 0) return 0;
    return rename(p->path, p->keep) == 0 ? 0 : errno;
}

/* The new file did not move in: the second name goes (a hard link), or
 * the previous file goes back to its name (a rename). */
static void forget_previous(struct pending_file *p)
{
    struct stat st;
    if (p->kept && lstat(p->path, &st) == 0) unlink(p->keep);
    else if (p->kept && rename(p->keep, p->path) != 0)
        runtime_error("cannot put back the previous %s (it is kept as %s): %s", p->path, p->keep, strerror(errno));
    p->kept = p->replaced = false;
}

int pending_commit(struct pending_file *p)
{
    if (!p->tmp || p->in_place) return EXIT_OK;
    struct stat st;
    const bool old = lstat(p->path, &st) == 0;
    if (old && !S_ISREG(st.st_mode)) return runtime_error("%s is not a regular file; not replacing it", p->path);
    /* the previous file takes the temporary name, so that it can come back */
    if (old) {
        p->old_fd = open_to_lock(p->path);
        p->old_locked = p->old_fd >= 0;
        if (p->old_locked) (void)flock(p->old_fd, LOCK_EX | LOCK_NB);
    }
    int e = renameat2(AT_FDCWD, p->tmp, AT_FDCWD, p->path, old ? RENAME_EXCHANGE : RENAME_NOREPLACE) == 0 ? 0 : errno;
    if (e == EINVAL || e == ENOSYS || e == EOPNOTSUPP) { /* a file system without them */
        p->kept = old && keep_previous(p) == 0;
        p->replaced = old && !p->kept;
        e = rename(p->tmp, p->path) == 0 ? 0 : errno;
        if (e != 0) forget_previous(p);
    } else {
        p->exchanged = e == 0 && old;
    }
    if (e != 0) return runtime_error("cannot write %s: %s", p->path, strerror(e));
    p->in_place = true;
    return EXIT_OK;
}

int pending_end(struct pending_file *p, int rc)
{
    /* the temporary name holds the new file that never moved, or the previous one */
    bool drop_tmp = !p->in_place || p->exchanged, drop_keep = p->kept;
    if (p->in_place && rc != EXIT_OK) {
        if (p->exchanged && renameat2(AT_FDCWD, p->tmp, AT_FDCWD, p->path, RENAME_EXCHANGE) != 0) {
            drop_tmp = false; /* the user's previous file stays there */
            runtime_error("cannot put back the previous %s (it is kept as %s): %s", p->path, p->tmp, strerror(errno));
        } else if (p->kept && rename(p->keep, p->path) != 0) {
            drop_keep = false;
            runtime_error("cannot put back the previous %s (it is kept as %s): %s", p->path, p->keep, strerror(errno));
        } else if (p->kept) {
            drop_keep = false; /* back under its name */
        } else if (p->replaced) {
            runtime_error("cannot put back the previous %s: its file system can neither exchange two files "
                          "(renameat2) nor give one a second name", p->path);
        } else if (!p->exchanged && unlink(p->path) != 0) {
            runtime_error("cannot take back %s, which this failed run wrote: %s", p->path, strerror(errno));
        }
    }
    if (p->tmp && drop_tmp) unlink(p->tmp);
    if (drop_keep) unlink(p->keep);
    if (p->fd >= 0) close(p->fd);
    if (p->old_locked) close(p->old_fd);
    if (p->tmp) signal_cleanup_file(NULL);
    free(p->tmp);
    free(p->keep);
    *p = (struct pending_file){.fd = -1};
    return rc;
}

/* ------------------------------------------------------------------ */
/* Flag tables                                                          */
/* ------------------------------------------------------------------ */

static const struct flag_spec *find_flag(const struct flag_spec *flags, size_t n, const char *name)
{
    for (size_t r = 0; r < n; r++)
        if (flags[r].kind != FLAG_TEXT && !strcmp(flags[r].name, name)) return &flags[r];
    return NULL;
}

void trim_slashes(char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') path[--n] = 0;
}

char *path_join(const char *dir, const char *name)
{
    const size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Parses the current flag of `a` (a row of f's table) into f->dst; false
 * after a usage error. */
static bool apply_flag(struct args *a, const struct flag_spec *f)
{
    if (f->kind == FLAG_SWITCH) {
        if (a->inline_value) {
            usage_error("%s takes no value", a->flag);
            return false;
        }
        *(bool *)f->dst = true;
        return true;
    }
    const char *v = flag_value(a);
    if (!v) return false;
    /* a path flag given '' (an unset shell variable, say) names nothing */
    const bool path = f->kind == FLAG_STR && f->value &&
                      (strstr(f->value, "DIR") || strstr(f->value, "FILE") || strstr(f->value, "MODEL") ||
                       strstr(f->value, "PATH"));
    if (path && !*v) {
        usage_error("%s needs a %s name, got ''", a->flag, strstr(f->value, "DIR") ? "directory" : "file");
        return false;
    }
    /* "plots/" names the directory "plots": joined paths get one '/' */
    if (f->kind == FLAG_STR && f->value && strstr(f->value, "DIR")) trim_slashes((char *)v);
    switch (f->kind) {
    case FLAG_STR: *(const char **)f->dst = v; return true;
    case FLAG_I32: return parse_i32(a->flag, v, (int32_t)f->lo, (int32_t)f->hi, f->dst);
    case FLAG_THREADS:
        return parse_i32(a->flag, v, 1, CLI_THREADS_MAX, f->dst) && cli_threads_allowed(a->flag, *(int32_t *)f->dst);
    case FLAG_I64: return parse_i64(a->flag, v, f->lo, f->hi, f->dst);
    case FLAG_U64: return parse_u64(a->flag, v, f->dst);
    case FLAG_DOUBLE: return parse_double(a->flag, v, f->min, f->max, f->dst);
    case FLAG_FLOAT: return parse_float(a->flag, v, f->min, f->max, f->dst);
    case FLAG_CUSTOM: return f->parse(a->flag, v, f->dst);
    case FLAG_SWITCH:
    case FLAG_TEXT: break;
    }
    MFR_CLI_ASSERT(!"a flag row of an unknown kind");
    return false;
}

/* The rows of the table flags given to the last cli_start (cli_flag_given). */
static const struct flag_spec *g_given[64];
static size_t g_n_given;

const char *cli_first_named_flag(int argc, char **argv, const char *const *names, size_t n)
{
    for (int a = 0; a < argc; a++)
        for (size_t x = 0; x < n; x++) {
            size_t len = strlen(names[x]);
            if (!strncmp(argv[a], names[x], len) && (argv[a][len] == 0 || argv[a][len] == '='))
                return names[x];
        }
    return NULL;
}

bool cli_flag_given(const char *name)
{
    for (size_t x = 0; x < g_n_given; x++)
        if (!strcmp(g_given[x]->name, name)) return true;
    return false;
}

/* One argument of the command line (the current flag of `a`): EXIT_OK or
 * EXIT_USAGE after the message. */
static int parse_arg(struct command_spec *c, struct args *a)
{
    const struct flag_spec *f = find_flag(c->flags, c->n_flags, a->flag);
    if (!f && c->data_flags) f = find_flag(data_flags, sizeof data_flags / sizeof *data_flags, a->flag);
    if (!f && c->threads_flag) f = find_flag(threads_flag, 1, a->flag);
    if (f && !cli_flag_given(f->name) && g_n_given < sizeof g_given / sizeof *g_given) g_given[g_n_given++] = f;
    if (f) return apply_flag(a, f) ? EXIT_OK : EXIT_USAGE;
    if (c->train) {
        const char *as_written = a->argv[a->pos - 1];
        int r = train_opts_flag(a, c->train);
        if (r < 0) return EXIT_USAGE;
        if (r > 0) {
            if (!c->train_flag) c->train_flag = as_written;
            return EXIT_OK;
        }
    }
    if (a->flag[0] == '-' && a->flag[1]) return usage_error("unknown option %s", a->flag);
    if (c->positional) return c->positional(c->ctx, a->flag);
    return usage_error("unexpected argument '%s'", a->flag);
}

/* Prints text with every line after the first indented by `indent`. */
static void put_indented(FILE *f, const char *text, int indent)
{
    for (const char *p = text; *p; p++) {
        fputc(*p, f);
        if (*p == '\n' && p[1]) fprintf(f, "%*s", indent, "");
    }
    fputc('\n', f);
}

void print_flag_help(FILE *f, const struct flag_spec *flags, size_t n, int width)
{
    for (size_t r = 0; r < n; r++) {
        const struct flag_spec *x = &flags[r];
        if (x->section) fprintf(f, "%s\n", x->section);
        if (x->print_help) {
            x->print_help(f, x->name);
            continue;
        }
        if (x->kind == FLAG_TEXT) {
            fputs(x->help, f);
            continue;
        }
        if (!x->help) continue;
        char left[96];
        snprintf(left, sizeof left, "%s%s%s", x->name, x->value ? " " : "",
                 x->value ? x->value : "");
        fprintf(f, "  %-*s ", width, left);
        put_indented(f, x->help, 2 + width + 1);
    }
}

static void print_command_help(const struct command_spec *c)
{
    fputs(c->help, stdout);
    print_flag_help(stdout, c->flags, c->n_flags, c->help_width);
    if (c->threads_flag) print_flag_help(stdout, threads_flag, 1, c->help_width);
    if (c->help_end) fputs(c->help_end, stdout);
    if (c->data_flags) {
        fputs("\nDataset format (every command that reads --data):\n", stdout);
        print_flag_help(stdout, data_flags, sizeof data_flags / sizeof *data_flags,
                        DATA_FLAGS_WIDTH);
    }
}

/* Whether argv[i] is a flag of c that takes the next argument as its value
 * (written without '='), and that argument is one flag_value takes: not
 * "--x". */
static bool takes_next_as_value(const struct command_spec *c, int argc, char **argv, int i)
{
    const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v || (v[0] == '-' && v[1] == '-' && v[2] && v[2] != '-') || s[0] != '-' || strchr(s, '='))
        return false;
    const struct flag_spec *f = find_flag(c->flags, c->n_flags, s);
    if (!f && c->data_flags) f = find_flag(data_flags, sizeof data_flags / sizeof *data_flags, s);
    if (!f && c->threads_flag) f = find_flag(threads_flag, 1, s);
    if (f) return f->kind != FLAG_SWITCH;
    if (!c->train || s[1] != '-') return false;
    const mfr_config_field *t = mfr_config_field_find(s);
    return (t && t->type != MFR_CONFIG_FLAG) || !strcmp(s, "--preset") || !strcmp(s, "--epochs");
}

bool cli_start(struct command_spec *c, int argc, char **argv, int *rc)
{
    g_cmd = c->name;
    io_reset();
    g_format_given = false;
    g_setup_threads_flag = 0;
    g_n_given = 0;
    for (int i = 0; i < argc; i++) {
        /* "-h" as a flag's value ("--movie -h", "--out -h") is that value,
         * as "-1" is: the command runs, or fails, instead of printing the
         * help and exiting 0 without its output */
        if (takes_next_as_value(c, argc, argv, i)) {
            i++;
            continue;
        }
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            if (!cli_other_rank()) print_command_help(c); /* once per job under mpirun */
            *rc = EXIT_OK;
            return false;
        }
    }
    /* after the help, which a malformed OMP_NUM_THREADS must not hide */
    if ((*rc = cli_check_omp_env()) != EXIT_OK) return false; /* the default of every --threads */
    *rc = c->train ? train_opts_preset(argc, argv, c->train) : EXIT_OK;
    struct args a = {.argc = argc, .argv = argv, .pos = 0};
    while (*rc == EXIT_OK && next_flag(&a)) *rc = parse_arg(c, &a);
    if (*rc == EXIT_OK && g_setup_threads_flag > 0) mfr_set_threads(g_setup_threads_flag);
#ifdef MFR_CLI_PARSE_ONLY
    /* fuzz/fuzz_cli.c: the flags are parsed, the command never runs (it
     * could write wherever a mutated --out points). */
    return false;
#endif
    return *rc == EXIT_OK;
}

/* v for a message: at most 40 bytes, control bytes as '?'. */
static const char *shown_env(const char *v, char buf[48])
{
    const size_t len = strnlen(v, 41), k = len < 40 ? len : 40;
    for (size_t x = 0; x < k; x++) buf[x] = iscntrl((unsigned char)v[x]) ? '?' : v[x];
    strcpy(buf + k, len > 40 ? "..." : "");
    return buf;
}

int cli_check_omp_env(void)
{
    const char *v = getenv("OMP_NUM_THREADS");
    if (!v) return EXIT_OK;
    const char *p = v;
    while (isspace((unsigned char)*p)) p++;
    if (!*p) return EXIT_OK; /* empty: libgomp warns and takes the cores, as if unset */
    long first = -1;
    bool ok = true;
    for (;;) { /* libgomp's syntax: [+]digits, blanks around, commas between */
        while (isspace((unsigned char)*p)) p++;
        if (*p == '+') p++;
        if (*p < '0' || *p > '9') {
            ok = false;
            break;
        }
        long n = 0; /* stops growing past the limit: no overflow */
        for (; *p >= '0' && *p <= '9'; p++) n = n > CLI_THREADS_MAX ? n : n * 10 + (*p - '0');
        if (n < 1) ok = false;
        if (first < 0) first = n;
        while (isspace((unsigned char)*p)) p++;
        if (!ok || *p != ',') break;
        p++;
    }
    char shown[48];
    if (!ok || *p)
        return usage_error("OMP_NUM_THREADS='%s' is not a list of positive thread counts (such as 2 or 4,2)",
                           shown_env(v, shown));
    if (first > CLI_THREADS_MAX)
        return usage_error("OMP_NUM_THREADS=%s: at most %d threads (the limit of --threads)", shown_env(v, shown),
                           CLI_THREADS_MAX);
    return EXIT_OK;
}

long cli_usable_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    return sysconf(_SC_NPROCESSORS_ONLN);
}
