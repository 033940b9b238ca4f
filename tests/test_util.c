/*
 * test_util.c — see test_util.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "test_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/wait.h>

#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        abort();
    }
    return p;
}

char *tu_mkdtemp(void)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    char *p = xmalloc(strlen(base) + 32);
    sprintf(p, "%s/mfrec-test-XXXXXX", base);
    if (!mkdtemp(p)) {
        perror("mkdtemp");
        abort();
    }
    return p;
}

void tu_rmtree(const char *dir)
{
    char *cmd = xmalloc(strlen(dir) + 32);
    sprintf(cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", dir);
    free(cmd);
}

char *tu_path(const char *dir, const char *name)
{
    if (!dir || !name) abort();
    char *p = xmalloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

void tu_write_file(const char *dir, const char *name, const char *text, size_t len)
{
    char *p = tu_path(dir, name);
    FILE *f = fopen(p, "wb");
    if (!f) {
        perror(p);
        abort();
    }
    if (len == (size_t)-1) len = strlen(text);
    if (fwrite(text, 1, len, f) != len) abort();
    fclose(f);
    free(p);
}

void tu_write_titled_dataset(const char *dir, const char *const *titles, int n_items, int n_users)
{
    char buf[16384];
    size_t len = 0;
    for (int i = 0; i < n_items; i++) {
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%d|%s|01-Jan-1995||", i + 1, titles[i]);
        for (int g = 0; g < 19; g++) len += (size_t)snprintf(buf + len, sizeof buf - len, "|%d", g == 8);
        len += (size_t)snprintf(buf + len, sizeof buf - len, "\n");
    }
    if (len >= sizeof buf) abort();
    tu_write_file(dir, "u.item", buf, len);
    len = 0;
    for (int u = 1; u <= n_users; u++)
        for (int i = 1; i <= n_items; i++)
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%d\t%d\t%d\t88000000%d\n", u, i,
                                    1 + (u + i) % 5, i);
    if (len >= sizeof buf) abort();
    tu_write_file(dir, "u.data", buf, len);
}

char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = xmalloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n < 2) {
            buf = realloc(buf, cap *= 2);
            if (!buf) abort();
        }
    }
    fclose(f);
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

int tu_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

void tu_age_file(const char *path)
{
    struct timespec old[2];
    clock_gettime(CLOCK_REALTIME, &old[0]);
    old[0].tv_sec -= 120;
    old[1] = old[0];
    assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
}

static char *g_locale_dir; /* tu_comma_locale's LOCPATH */

static void remove_locale_dir(void)
{
    tu_rmtree(g_locale_dir);
    free(g_locale_dir);
}

const char *tu_comma_locale(void)
{
    static const char *const names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8"};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++)
        if (setlocale(LC_NUMERIC, names[k])) return names[k];
    if (!g_locale_dir) { /* built once per process, removed at its exit */
        g_locale_dir = tu_mkdtemp();
        atexit(remove_locale_dir);
        char cmd[4096];
        snprintf(cmd, sizeof cmd, "localedef -i de_DE -f UTF-8 '%s/de_DE.UTF-8' >/dev/null 2>&1", g_locale_dir);
        /* exit status 1: warnings, the locale made all the same (setlocale says) */
        const int st = system(cmd);
        if (!WIFEXITED(st) || WEXITSTATUS(st) > 1) return NULL;
        setenv("LOCPATH", g_locale_dir, 1);
    }
    return setlocale(LC_NUMERIC, "de_DE.UTF-8") ? "de_DE.UTF-8" : NULL;
}

int tu_process_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

const char *tu_ml100k_dir(void)
{
    const char *d = getenv("MFREC_DATA");
    if (!d || !*d) return NULL;
    char *p = tu_path(d, "u.data");
    int ok = tu_exists(p);
    free(p);
    return ok ? d : NULL;
}

void tu_skip_all(const char *why)
{
    printf("SKIP: %s\n", why);
    fflush(stdout);
    exit(77);
}

static int json_number(const char *line, const char *key, double *out)
{
    const char *p = strstr(line, key);
    if (!p) return 0;
    p += strlen(key);
    while (*p == ' ' || *p == ':') p++;
    char *end;
    *out = strtod(p, &end);
    return end != p;
}

int tu_read_trajectory(const char *path, int max, long *epoch, double *train_mse, double *val_mse)
{
    size_t len;
    char *text = tu_read_file(path, &len);
    if (!text) return -1;
    int n = 0;
    for (char *line = strtok(text, "\n"); line && n < max; line = strtok(NULL, "\n")) {
        double e, t, v;
        if (json_number(line, "\"epoch\"", &e) && json_number(line, "\"train_mse\"", &t) &&
            json_number(line, "\"val_mse\"", &v)) {
            epoch[n] = (long)e, train_mse[n] = t, val_mse[n] = v;
            n++;
        }
    }
    free(text);
    return n;
}

int tu_read_steps(const char *path, int max, struct tu_step *out)
{
    char *text = tu_read_file(path, NULL);
    if (!text) return -1;
    int n = 0;
    for (char *line = strtok(text, "\n"); line && n < max; line = strtok(NULL, "\n")) {
        double e, t, g, x, l;
        if (json_number(line, "\"epoch\"", &e) && json_number(line, "\"step\"", &t) &&
            json_number(line, "\"group\"", &g) && json_number(line, "\"examples\"", &x) &&
            json_number(line, "\"loss\"", &l))
            out[n++] = (struct tu_step){(long)e, (long)t, (long)g, (long)x, l};
    }
    free(text);
    return n;
}

void tu_compare_steps(const char *want_path, const char *got_path, int n, double rel)
{
    struct tu_step *w = calloc((size_t)n, sizeof *w), *g = calloc((size_t)n, sizeof *g);
    if (!w || !g) abort();
    int nw = tu_read_steps(want_path, n, w), ng = tu_read_steps(got_path, n, g);
    if (nw != n || ng != n)
        fail_msg("%s has %d step records, %s has %d; %d wanted", want_path, nw, got_path, ng, n);
    double worst = 0;
    for (int x = 0; x < n; x++) {
        double r = fabs(g[x].loss - w[x].loss) / fabs(w[x].loss);
        if (g[x].step != w[x].step || g[x].group != w[x].group ||
            g[x].examples != w[x].examples || g[x].epoch != w[x].epoch || !(r <= rel))
            fail_msg("step %ld (epoch %ld, group %ld, %ld examples): loss %.17g, reference "
                     "step %ld (epoch %ld, group %ld, %ld examples) %.17g, relative %.3g, "
                     "limit %.3g",
                     g[x].step, g[x].epoch, g[x].group, g[x].examples, g[x].loss, w[x].step,
                     w[x].epoch, w[x].group, w[x].examples, w[x].loss, r, rel);
        if (r > worst) worst = r;
    }
    printf("%d steps match %s to %.3g relative (limit %.3g)\n", n, want_path, worst, rel);
    free(w);
    free(g);
}

int tu_read_dat(const char *path, int n_cols, double *out, int max_rows, int *n_blocks)
{
    size_t len;
    char *text = tu_read_file(path, &len);
    if (!text) return -1;
    int rows = 0, blocks = 0;
    bool in_block = false;
    for (char *line = text; line && *line && rows < max_rows;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        if (*line == 0) {
            in_block = false;
        } else if (*line != '#') {
            char *p = line;
            for (int c = 0; c < n_cols; c++) out[rows * n_cols + c] = strtod(p, &p);
            rows++;
            if (!in_block) blocks++;
            in_block = true;
        }
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    if (n_blocks) *n_blocks = blocks;
    return rows;
}

void tu_compare_trajectories(const char *want_path, const char *got_path, double rel)
{
    enum { MAX = 4096 };
    static long we[MAX], ge[MAX];
    static double wt[MAX], wv[MAX], gt[MAX], gv[MAX];
    int nw = tu_read_trajectory(want_path, MAX, we, wt, wv);
    int ng = tu_read_trajectory(got_path, MAX, ge, gt, gv);
    /* mfrec also logs epoch 1, which a reference may lack: compare the
     * reference's epochs only, each of which must be logged. */
    int kept = 0;
    for (int x = 0, w = 0; x < ng; x++) {
        while (w < nw && we[w] < ge[x]) w++;
        if (w < nw && we[w] == ge[x]) {
            ge[kept] = ge[x], gt[kept] = gt[x], gv[kept] = gv[x];
            kept++;
        }
    }
    if (nw <= 0 || nw != kept) {
        fprintf(stderr, "trajectory %s has %d records, %s has %d of their epochs\n", want_path, nw,
                got_path, kept);
        abort();
    }
    double worst = 0;
    for (int x = 0; x < nw; x++) {
        double rt = fabs(gt[x] - wt[x]) / fabs(wt[x]), rv = fabs(gv[x] - wv[x]) / fabs(wv[x]);
        if (we[x] != ge[x] || rt > rel || rv > rel) {
            fprintf(stderr,
                    "epoch %ld: train MSE %.9g vs reference %.9g (rel %.2g), validation %.9g vs "
                    "%.9g (rel %.2g), limit %.2g\n",
                    ge[x], gt[x], wt[x], rt, gv[x], wv[x], rv, rel);
            abort();
        }
        if (rt > worst) worst = rt;
        if (rv > worst) worst = rv;
    }
    printf("%d logged epochs match to %.3g relative (limit %.3g)\n", nw, worst, rel);
}

int tu_run_cli(const char *bin, const char *dir, const char *env, char **out, char **err,
               const char *fmt, va_list ap)
{
    char args[16384], cmd[20480]; /* room for a path near PATH_MAX */
    if (!bin || !dir || !env) abort();
    vsnprintf(args, sizeof args, fmt, ap);
    snprintf(cmd, sizeof cmd, "%s '%s' %s >'%s/out.txt' 2>'%s/err.txt' </dev/null", env, bin,
             args, dir, dir);
    int st = system(cmd);
    free(*out);
    free(*err);
    char *po = tu_path(dir, "out.txt"), *pe = tu_path(dir, "err.txt");
    *out = tu_read_file(po, NULL);
    *err = tu_read_file(pe, NULL);
    free(po);
    free(pe);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int tu_run_clif(const char *bin, const char *dir, const char *env, char **out, char **err,
                const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const int st = tu_run_cli(bin, dir, env, out, err, fmt, ap);
    va_end(ap);
    return st;
}

double tu_json_num(const char *from, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(from, pat);
    if (!p) fail_msg("no %s in %s", pat, from);
    return strtod(p + strlen(pat), NULL);
}

void tu_expect_in(const char *hay, const char *needle)
{
    if (!hay || !strstr(hay, needle)) fail_msg("expected '%s' in:\n%s", needle, hay ? hay : "(null)");
}

mfr_dataset *tu_load_ok(const char *dir, const mfr_load_options *opt)
{
    mfr_dataset *ds = NULL;
    mfr_error err = {0};
    int rc = mfr_dataset_load(dir, opt, &ds, &err);
    if (rc != MFR_OK) fail_msg("load %s failed (%d): %s", dir, rc, err.message);
    assert_non_null(ds);
    return ds;
}

int tu_synth(const char *path, int32_t n_users, int32_t n_items, int64_t n_ratings, uint64_t seed,
             mfr_dataset **ds)
{
    mfr_synth_options o;
    mfr_synth_options_default(&o);
    o.n_users = n_users, o.n_items = n_items, o.n_ratings = n_ratings, o.seed = seed;
    mfr_error err = {0};
    if (mfr_synth_write(&o, path, &err) != MFR_OK ||
        (ds && mfr_dataset_load(path, NULL, ds, &err) != MFR_OK)) {
        fprintf(stderr, "synthetic data %s: %s\n", path, err.message);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* A strict JSON syntax checker (RFC 8259) and a CSV row counter        */
/* ------------------------------------------------------------------ */

static const char *json_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    return p;
}

static const char *json_value(const char *p, int depth);

static const char *json_string(const char *p)
{
    if (*p++ != '"') return NULL;
    for (; *p != '"'; p++) {
        if ((unsigned char)*p < 0x20) return NULL;
        if (*p == '\\') {
            p++;
            if (*p == 'u') {
                for (int k = 1; k <= 4; k++)
                    if (!isxdigit((unsigned char)p[k])) return NULL;
                p += 4;
            } else if (!*p || !strchr("\"\\/bfnrt", *p)) {
                return NULL;
            }
        }
    }
    return p + 1;
}

static const char *json_number_syntax(const char *p)
{
    if (*p == '-') p++;
    if (*p == '0') p++;
    else if (isdigit((unsigned char)*p)) while (isdigit((unsigned char)*p)) p++;
    else return NULL;
    if (*p == '.') {
        if (!isdigit((unsigned char)*++p)) return NULL;
        while (isdigit((unsigned char)*p)) p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!isdigit((unsigned char)*p)) return NULL;
        while (isdigit((unsigned char)*p)) p++;
    }
    return p;
}

/* An object or array: members separated by ',' up to `close`. */
static const char *json_container(const char *p, char close, int depth)
{
    p = json_ws(p + 1);
    if (*p == close) return p + 1;
    for (;;) {
        if (close == '}') {
            p = json_string(p);
            if (!p || *(p = json_ws(p)) != ':') return NULL;
            p = json_ws(p + 1);
        }
        p = json_value(p, depth + 1);
        if (!p) return NULL;
        p = json_ws(p);
        if (*p == close) return p + 1;
        if (*p != ',') return NULL;
        p = json_ws(p + 1);
    }
}

static const char *json_value(const char *p, int depth)
{
    if (depth > 64) return NULL;
    p = json_ws(p);
    if (*p == '{') return json_container(p, '}', depth);
    if (*p == '[') return json_container(p, ']', depth);
    if (*p == '"') return json_string(p);
    if (!strncmp(p, "true", 4)) return p + 4;
    if (!strncmp(p, "false", 5)) return p + 5;
    if (!strncmp(p, "null", 4)) return p + 4;
    return json_number_syntax(p);
}

void tu_expect_json(const char *text)
{
    const char *end = text ? json_value(text, 0) : NULL;
    if (!end || *json_ws(end)) fail_msg("not one JSON value:\n%s", text ? text : "(null)");
}

int tu_expect_json_lines(const char *text)
{
    int n = 0;
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        if (!nl) fail_msg("JSON lines: the last line has no newline");
        const char *end = json_value(p, 0);
        if (!end || json_ws(end) < nl + 1 || end > nl)
            fail_msg("JSON lines: line %d is not one JSON value", n + 1);
        n++;
        p = nl + 1;
    }
    return n;
}

int tu_expect_csv(const char *text, int *n_cols)
{
    int rows = 0, cols = 0, want = -1;
    bool quoted = false, at_start = true;
    for (const char *p = text; p && *p; p++) {
        if (quoted) {
            if (*p == '"' && p[1] == '"') p++;
            else if (*p == '"') quoted = false;
            continue;
        }
        if (*p == '"') {
            if (!at_start) fail_msg("CSV row %d: a quote inside an unquoted field", rows + 1);
            quoted = true;
            at_start = false;
        } else if (*p == ',') {
            cols++;
            at_start = true;
        } else if (*p == '\n') {
            cols++;
            if (want < 0) want = cols;
            else if (cols != want) fail_msg("CSV row %d has %d fields, the header %d", rows + 1, cols, want);
            rows++;
            cols = 0;
            at_start = true;
        } else {
            at_start = false;
        }
    }
    if (quoted || cols) fail_msg("CSV: the text ends inside a row");
    if (n_cols) *n_cols = want;
    return rows;
}

char *tu_colon_ratings(const char *dir, const char *data)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s' && awk 'BEGIN{print \"user:item:rating\"} {printf \"%%d:%%d:%%d\\n\", "
             "$1, $2, $3}' '%s/u.data' > '%s/r.txt'",
             dir, data, dir);
    if (system(cmd) != 0) fail_msg("cannot write %s/r.txt from %s/u.data", dir, data);
    return tu_path(dir, "r.txt");
}
