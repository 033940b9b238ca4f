/*
 * cli.c — what every mfrec subcommand shares: error reporting with the exit
 * codes, flag parsing (`--name value` or `--name=value`) with range-checked
 * numbers, and small file helpers. See cli.h.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

const char *g_cmd = "mfrec";

int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", g_cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help'.\n", g_cmd);
    return EXIT_USAGE;
}

int runtime_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: error: ", g_cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return EXIT_RUNTIME;
}

int lib_error(const mfr_error *err) { return runtime_error("%s", err->message); }

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}


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
    return a->argv[a->pos++];
}

bool parse_i64(const char *flag, const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        usage_error("%s must be an integer in %lld..%lld, got '%s'", flag, (long long)lo,
                    (long long)hi, s);
        return false;
    }
    *out = v;
    return true;
}

bool parse_i32(const char *flag, const char *s, int32_t lo, int32_t hi, int32_t *out)
{
    int64_t v;
    if (!parse_i64(flag, s, lo, hi, &v)) return false;
    *out = (int32_t)v;
    return true;
}

bool parse_u64(const char *flag, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (s[0] == '-') {
        usage_error("%s must be a non-negative integer, got '%s'", flag, s);
        return false;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end) {
        usage_error("%s must be a non-negative integer, got '%s'", flag, s);
        return false;
    }
    *out = v;
    return true;
}

bool parse_double(const char *flag, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
        usage_error("%s must be a number in [%g, %g], got '%s'", flag, lo, hi, s);
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

/* Sizes like 512M, 4G, 1048576. */
bool parse_bytes(const char *flag, const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    double mult = 1;
    if (end != s) {
        switch (*end) {
        case 'k': case 'K': mult = 1024.0; end++; break;
        case 'm': case 'M': mult = 1048576.0; end++; break;
        case 'g': case 'G': mult = 1073741824.0; end++; break;
        case 't': case 'T': mult = 1099511627776.0; end++; break;
        default: break;
        }
        if (*end == 'B' || *end == 'b') end++;
    }
    if (errno || end == s || *end || !(v > 0) || v * mult > 1.8e19) {
        usage_error("%s must be a size such as 512M or 4G, got '%s'", flag, s);
        return false;
    }
    *out = (uint64_t)(v * mult);
    return true;
}

const char *default_data_dir(const char *flag_value_or_null)
{
    if (flag_value_or_null) return flag_value_or_null;
    const char *env = getenv("MFREC_DATA");
    if (env && *env) return env;
    return "data/ml-100k";
}

bool want_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return true;
    return false;
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
    for (;;) {
        va_start(ap, fmt);
        size_t room = j->cap - j->len;
        int n = vsnprintf(j->buf ? j->buf + j->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if ((size_t)n < room) {
            j->len += (size_t)n;
            return;
        }
        size_t ncap = j->cap ? j->cap * 2 : 4096;
        while (ncap - j->len <= (size_t)n) ncap *= 2;
        char *nb = realloc(j->buf, ncap);
        if (!nb) return;
        j->buf = nb;
        j->cap = ncap;
    }
}

int write_file_atomic(const char *path, const char *data, size_t len)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) return runtime_error("out of memory");
    snprintf(tmp, plen + 16, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return runtime_error("cannot create %s: %s", path, strerror(e));
    }
    /* mkstemp creates the file 0600; give it the usual mode for output files */
    mode_t mask = umask(0);
    umask(mask);
    (void)fchmod(fd, 0666 & ~mask);
    FILE *f = fdopen(fd, "w");
    bool ok = f && fwrite(data, 1, len, f) == len && fflush(f) == 0 && fsync(fd) == 0;
    if (f) ok = (fclose(f) == 0) && ok;
    else close(fd);
    if (ok && rename(tmp, path) != 0) ok = false;
    if (!ok) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        return runtime_error("cannot write %s: %s", path, strerror(e));
    }
    free(tmp);
    return EXIT_OK;
}
