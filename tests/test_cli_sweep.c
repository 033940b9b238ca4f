/*
 * test_cli_sweep.c — `mfrec sweep` end to end on a tiny synthetic dataset:
 * one CSV row per (combination, repeat), the documented columns, checksums
 * equal across thread counts, speedup 1 at one thread (empty without it),
 * usage errors naming the flag (exit 2), the charts of --plot (or a
 * clear error, with the CSV still written, when gnuplot is missing), and
 * SIGINT/SIGTERM: the completed repeats reported, exit 3.
 */
#include <math.h>
#include <setjmp.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "mfrec.h"
#include "test_util.h"

static char *g_dir;  /* scratch directory */
static char *g_data; /* synthetic dataset */
static const char *g_bin;
static char *g_out, *g_err; /* last command's stdout and stderr */


/* Runs `ENV mfrec ARGS` (shell fragments; env may be ""); returns the exit
 * status and keeps stdout and stderr in g_out and g_err. */
#define run_env(env, ...) tu_run_clif(g_bin, g_dir, env, &g_out, &g_err, __VA_ARGS__)
#define run(...) run_env("", __VA_ARGS__)

/* ------------------------------------------------------------------ */
/* A small CSV reader: quoted fields with "" for a quote, \n rows        */
/* ------------------------------------------------------------------ */

enum { MAX_COLS = 64, MAX_ROWS = 256 };

struct csv {
    int n_rows; /* including the header */
    int n_cols[MAX_ROWS];
    char *f[MAX_ROWS][MAX_COLS];
};

static void csv_free(struct csv *c)
{
    for (int r = 0; r < c->n_rows; r++)
        for (int k = 0; k < c->n_cols[r]; k++) free(c->f[r][k]);
    free(c);
}

static struct csv *csv_read(const char *path)
{
    char *text = tu_read_file(path, NULL);
    if (!text) fail_msg("cannot read %s", path);
    struct csv *c = calloc(1, sizeof *c);
    const char *p = text;
    while (*p) {
        assert_true(c->n_rows < MAX_ROWS);
        int r = c->n_rows++;
        for (;;) {
            assert_true(c->n_cols[r] < MAX_COLS);
            char *field = malloc(strlen(p) + 1);
            size_t n = 0;
            if (*p == '"') {
                for (p++; *p && !(*p == '"' && p[1] != '"'); p++) {
                    if (*p == '"') p++; /* "" */
                    field[n++] = *p;
                }
                assert_int_equal(*p, '"');
                p++;
            } else {
                while (*p && *p != ',' && *p != '\n') field[n++] = *p++;
            }
            field[n] = 0;
            c->f[r][c->n_cols[r]++] = field;
            if (*p == ',') {
                p++;
                continue;
            }
            if (*p == '\n') p++;
            break;
        }
    }
    free(text);
    return c;
}

/* The index of header column `name`; fails the test when absent. */
static int col(const struct csv *c, const char *name)
{
    for (int k = 0; k < c->n_cols[0]; k++)
        if (!strcmp(c->f[0][k], name)) return k;
    fail_msg("no column '%s' in the CSV header", name);
    return -1;
}

/* ------------------------------------------------------------------ */

static int setup(void **state)
{
    (void)state;
    g_bin = getenv("MFREC_BIN");
    if (!g_bin) tu_skip_all("MFREC_BIN is not set (run through meson test)");
    g_dir = tu_mkdtemp();
    g_data = tu_path(g_dir, "data");
    if (run("synth --users 120 --items 80 --ratings 3000 --rank 4 --seed 3 --out '%s'", g_data) != 0) {
        fprintf(stderr, "synth failed: %s\n", g_err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(g_dir);
    free(g_dir);
    free(g_data);
    free(g_out);
    free(g_err);
    return 0;
}

static bool gnuplot_on_path(void)
{
    return system("command -v gnuplot >/dev/null 2>&1") == 0;
}

static void test_help(void **state)
{
    (void)state;
    assert_int_equal(run("--help"), 0);
    tu_expect_in(g_out, "sweep");
    assert_int_equal(run("sweep --help"), 0);
    tu_expect_in(g_out, "Usage: mfrec sweep");
    tu_expect_in(g_out, "--threads LIST");
}

/* Runs are forked children: the parent must start no OpenMP thread,
 * whatever the environment allows (libgomp's pool does not survive fork,
 * and a 2-thread run then waited forever; the suite's OMP_NUM_THREADS=1
 * hid it). `timeout` turns a hang into a failure. */
static void test_forked_runs_with_threads_allowed(void **state)
{
    (void)state;
    char *csv = tu_path(g_dir, "forked.csv");
    int rc = run_env("OMP_NUM_THREADS=2 timeout -s KILL 90",
                     "sweep --data '%s' --split random:0.2 --threads 1,2 --dims 4 --epochs 2 "
                     "--warmup 1 --repeat 1 --csv '%s'",
                     g_data, csv);
    if (rc != 0) fail_msg("sweep exited with %d (137: killed after hanging):\n%s", rc, g_err);
    tu_expect_in(g_out, "wrote 2 rows");
    struct csv *c = csv_read(csv);
    assert_int_equal(c->n_rows, 1 + 2);
    csv_free(c);
    free(csv);
}

/* A --csv path of many newlines, each shown as \x0A (4 bytes), still
 * ends the report line: the line was cut short of its newline. */
static void test_report_of_an_escaped_path(void **state)
{
    (void)state;
    char dir[4096], nl[201], *csv;
    memset(nl, '\n', 200);
    nl[200] = '\0';
    int at = snprintf(dir, sizeof dir, "%s", g_dir);
    for (int d = 0; d < 8; d++) {
        at += snprintf(dir + at, sizeof dir - (size_t)at, "/%s", nl);
        assert_int_equal(mkdir(dir, 0755), 0);
    }
    csv = tu_path(dir, "r.csv");
    assert_int_equal(run("sweep --data '%s' --split random:0.2 --dims 4 --epochs 1 --warmup 0 --repeat 1 "
                         "--csv '%s'",
                         g_data, csv),
                     0);
    tu_expect_in(g_out, "\\x0A/r.csv\n");
    free(csv);
}

/* The summary gives each point's whole process and setup share beside its
 * epochs (issue 10 §4): the medians of its two repeats' CSV values, on
 * `want_rows` lines. */
static void expect_summary_matches_csv(const struct csv *c, const char *out, int want_rows)
{
    const int c_dim = col(c, "dim"), c_thr = col(c, "threads"), c_red = col(c, "reduce");
    const int c_proc = col(c, "process_s"), c_frac = col(c, "setup_fraction");
    const char *line = strstr(out, "process s  setup %");
    assert_non_null(line);
    int rows = 0;
    for (line = strchr(line, '\n'); line && line[1] && line[1] != '\n';
         line = strchr(line + 1, '\n')) {
        int d, sh, t;
        char red[8], ker[8];
        double proc, pct;
        if (sscanf(line + 1, "%d %7s %7s %d %d %*f [%*f..%*f] %*s %*s %lf %lf", &d, red, ker,
                   &sh, &t, &proc, &pct) != 7)
            break;
        double want_p = 0, want_f = 0;
        for (int r = 1; r < c->n_rows; r++)
            if (atoi(c->f[r][c_dim]) == d && atoi(c->f[r][c_thr]) == t &&
                !strcmp(c->f[r][c_red], red)) {
                want_p += atof(c->f[r][c_proc]) / 2;
                want_f += atof(c->f[r][c_frac]) / 2;
            }
        assert_true(fabs(proc - want_p) <= 1e-3);
        assert_true(fabs(pct - 100 * want_f) <= 0.1);
        rows++;
    }
    assert_int_equal(rows, want_rows);
}

static void test_rows_columns_checksums_speedup(void **state)
{
    (void)state;
    char *csv = tu_path(g_dir, "sweep.csv");
    assert_int_equal(run("sweep --data '%s' --split random:0.2 --threads 2,1 --dims 4,8 "
                         "--reduce shard,owner --epochs 3 --warmup 1 --repeat 2 --csv '%s'",
                         g_data, csv),
                     0);
    tu_expect_in(g_out, "= 8 combinations x 2 repeats = 16 runs");
    tu_expect_in(g_out, "wrote 16 rows");
    struct csv *c = csv_read(csv);
    /* 2 threads x 2 dims x 2 reduce = 8 combinations, x 2 repeats */
    assert_int_equal(c->n_rows, 1 + 16);
    static const char *const columns[] = {
        "dataset", "split", "n_users", "n_items", "n_train", "epochs", "warmup", "seed",
        "threads", "dim", "reduce", "kernels", "kernels_used", "shards", "repeat",
        "ms_per_epoch_median", "ms_per_epoch_min", "ms_per_epoch_max", "ms_per_epoch_iqr",
        "ratings_per_s", "point_ms_per_epoch", "speedup", "efficiency", "peak_rss_mib",
        "memory_bytes", "final_loss", "checksum", "compiler_flags", "cpu_model", "cores",
        "setup_s", "process_s", "setup_fraction", "kind", "shards_requested", "reduce_used",
        "threads_used", "commit"};
    for (size_t k = 0; k < sizeof columns / sizeof *columns; k++) col(c, columns[k]);
    int c_thr = col(c, "threads"), c_dim = col(c, "dim"), c_red = col(c, "reduce");
    int c_ck = col(c, "checksum"), c_sp = col(c, "speedup"), c_ef = col(c, "efficiency");
    int c_rep = col(c, "repeat"), c_ms = col(c, "ms_per_epoch_median");
    int c_min = col(c, "ms_per_epoch_min"), c_max = col(c, "ms_per_epoch_max");
    int c_rss = col(c, "peak_rss_mib"), c_users = col(c, "n_users"), c_ep = col(c, "epochs");
    int c_flags = col(c, "compiler_flags"), c_sh = col(c, "shards");
    int c_setup = col(c, "setup_s"), c_proc = col(c, "process_s"), c_frac = col(c, "setup_fraction");
    int c_ru = col(c, "reduce_used"), c_sr = col(c, "shards_requested"), c_commit = col(c, "commit");
    int seen[2][2][2][2] = {{{{0}}}}; /* threads, dim, reduce, repeat */
    for (int r = 1; r < c->n_rows; r++) {
        assert_int_equal(c->n_cols[r], c->n_cols[0]);
        char **f = c->f[r];
        int t = atoi(f[c_thr]), d = atoi(f[c_dim]), rep = atoi(f[c_rep]);
        assert_true(t == 1 || t == 2);
        assert_true(d == 4 || d == 8);
        assert_true(rep == 1 || rep == 2);
        int red = !strcmp(f[c_red], "owner");
        assert_true(red || !strcmp(f[c_red], "shard"));
        assert_string_equal(f[c_ru], f[c_red]); /* given, so what ran */
        assert_string_equal(f[c_sr], "auto");
        seen[t - 1][d == 8][red][rep - 1]++;
        assert_int_equal(atoi(f[c_users]), 120);
        assert_int_equal(atoi(f[c_ep]), 3);
        assert_true(atoi(f[c_sh]) >= 1);
        assert_int_equal(strlen(f[c_ck]), 16);
        double ms = atof(f[c_ms]);
        assert_true(ms > 0 && atof(f[c_min]) <= ms && ms <= atof(f[c_max]));
        assert_true(atof(f[c_rss]) > 0);
        /* whole process: setup plus at least the timed epochs */
        double setup = atof(f[c_setup]), proc = atof(f[c_proc]);
        assert_true(setup > 0 && proc >= setup + 3 * ms * 1e-3 * 0.999);
        /* the columns are rounded to 1e-6 s */
        assert_true(fabs(atof(f[c_frac]) - setup / proc) <= 1e-6 + 2e-6 / proc);
        tu_expect_in(f[c_flags], "flags:");
        assert_string_equal(f[c_commit], mfr_build_commit()); /* which build made the row */
        if (t == 1) {
            assert_string_equal(f[c_sp], "1.000000");
            assert_string_equal(f[c_ef], "1.000000");
        } else {
            assert_true(atof(f[c_sp]) > 0);
            double want = atof(f[c_sp]) / 2, got = atof(f[c_ef]);
            assert_true(got > want - 1e-5 && got < want + 1e-5);
        }
        /* the same point has the same checksum at every thread count and repeat */
        for (int q = 1; q < c->n_rows; q++)
            if (!strcmp(c->f[q][c_dim], f[c_dim]) && !strcmp(c->f[q][c_red], f[c_red]))
                assert_string_equal(c->f[q][c_ck], f[c_ck]);
    }
    for (int a = 0; a < 16; a++) assert_int_equal((&seen[0][0][0][0])[a], 1);
    /* different points train different models */
    for (int q = 2; q < c->n_rows; q++)
        if (strcmp(c->f[q][c_dim], c->f[1][c_dim]) || strcmp(c->f[q][c_red], c->f[1][c_red]))
            assert_string_not_equal(c->f[q][c_ck], c->f[1][c_ck]);
    expect_summary_matches_csv(c, g_out, 8);
    csv_free(c);
    free(csv);
}

/* Checksums that differ within a point (tests/fault_checksum.c: another in
 * every forked run) are exit 1, each run's checksum named on stderr, the
 * CSV still written with every run's own checksum. Nothing else reached
 * this check: the library's results do not depend on the thread count. */
static void test_checksums_that_differ(void **state)
{
    (void)state;
    const char *lib = getenv("MFREC_FAULT_CHECKSUM_LIB");
    if (!lib) skip();
    char *csv = tu_path(g_dir, "differ.csv"), env[4096];
    snprintf(env, sizeof env,
             "ASAN_OPTIONS=\"${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0\" LD_PRELOAD='%s'", lib);
    assert_int_equal(run_env(env, "sweep --data '%s' --split random:0.2 --threads 1,2 --dims 4 --epochs 2 "
                                  "--repeat 2 --quiet --out '%s'",
                             g_data, csv),
                     1);
    tu_expect_in(g_err, "checksums differ across thread counts or repeats for the point dim 4");
    tu_expect_in(g_err, "  threads 1 repeat 1: ");
    tu_expect_in(g_err, "  threads 1 repeat 2: ");
    tu_expect_in(g_err, "  threads 2 repeat 1: ");
    tu_expect_in(g_err, "  threads 2 repeat 2: ");
    tu_expect_in(g_err, "results depend on the thread count or the repeat");
    struct csv *c = csv_read(csv);
    assert_int_equal(c->n_rows, 1 + 4);
    int c_ck = col(c, "checksum");
    for (int r = 1; r < c->n_rows; r++) {
        tu_expect_in(g_err, c->f[r][c_ck]); /* named on stderr */
        for (int q = 1; q < r; q++) assert_string_not_equal(c->f[q][c_ck], c->f[r][c_ck]);
    }
    csv_free(c);
    free(csv);
}

/* The summary's shards column: with several --shards values, one that ran as
 * another count is ASKED(N) (auto and a count ran alike as two lines "1"). */
static void test_summary_names_shards_asked(void **state)
{
    (void)state;
    char *csv = tu_path(g_dir, "shsum.csv");
    assert_int_equal(run("sweep --data '%s' --split random:0.2 --dims 4 --shards auto,2,65536 "
                         "--epochs 1 --repeat 1 --csv '%s'",
                         g_data, csv),
                     0);
    const char *table = strstr(g_out, "process s  setup %");
    assert_non_null(table);
    tu_expect_in(table, " auto(");
    tu_expect_in(table, " 65536(");
    tu_expect_in(table, " owner  auto            2       1 ");
    free(csv);
}

static void test_without_one_thread_and_with_shards(void **state)
{
    (void)state;
    char *csv = tu_path(g_dir, "no1.csv");
    assert_int_equal(run("sweep --data '%s' --split random:0.2 --threads 2,3 --dims 5 "
                         "--shards 3,auto --kernels ref,auto --epochs 2 --repeat 1 --quiet "
                         "--csv '%s'",
                         g_data, csv),
                     0);
    assert_string_equal(g_out, "");
    struct csv *c = csv_read(csv);
    assert_int_equal(c->n_rows, 1 + 2 * 2 * 2);
    int c_sp = col(c, "speedup"), c_ef = col(c, "efficiency"), c_sh = col(c, "shards");
    int c_k = col(c, "kernels"), c_ku = col(c, "kernels_used"), c_sr = col(c, "shards_requested");
    int c_thr = col(c, "threads");
    int three = 0, asked_three = 0;
    for (int r = 1; r < c->n_rows; r++) {
        assert_string_equal(c->f[r][c_sp], "");
        assert_string_equal(c->f[r][c_ef], "");
        three += atoi(c->f[r][c_sh]) == 3;
        asked_three += !strcmp(c->f[r][c_sr], "3");
        assert_true(!strcmp(c->f[r][c_sr], "3") || !strcmp(c->f[r][c_sr], "auto"));
        if (!strcmp(c->f[r][c_k], "ref")) assert_string_equal(c->f[r][c_ku], "ref");
        /* no two rows alike in what was asked (threads, kernels, shards) */
        for (int q = 1; q < r; q++)
            assert_false(!strcmp(c->f[q][c_thr], c->f[r][c_thr]) && !strcmp(c->f[q][c_k], c->f[r][c_k]) &&
                         !strcmp(c->f[q][c_sr], c->f[r][c_sr]));
    }
    assert_int_equal(three, 4);
    assert_int_equal(asked_three, 4);
    csv_free(c);
    free(csv);
}

/* The settings columns rerun the sweep: lr and l2 were written with %g's
 * six digits, so --lr 0.00123456789 and --lr 0.00123457 gave one row value
 * and two checksums. The default lr stays "0.001". */
static void test_settings_recorded_exactly(void **state)
{
    (void)state;
    char *csv = tu_path(g_dir, "lr.csv");
    assert_int_equal(run("sweep --data '%s' --threads 1 --dims 4 --epochs 1 --repeat 1 --quiet "
                         "--lr 0.00123456789 --l2 0.1 --out '%s'",
                         g_data, csv),
                     0);
    struct csv *c = csv_read(csv);
    assert_string_equal(c->f[1][col(c, "lr")], "0.00123456789");
    assert_string_equal(c->f[1][col(c, "l2")], "0.1");
    csv_free(c);
    assert_int_equal(run("sweep --data '%s' --threads 1 --dims 4 --epochs 1 --repeat 1 --quiet --out '%s'",
                         g_data, csv),
                     0);
    c = csv_read(csv);
    assert_string_equal(c->f[1][col(c, "lr")], "0.001");
    assert_string_equal(c->f[1][col(c, "l2")], "0");
    csv_free(c);
    free(csv);
}

/* --threads auto runs train's default (the measured count) beside the
 * fixed counts: "auto" in the threads column, the count of its last epoch
 * in threads_used, a speedup against 1 thread but no efficiency, the same
 * model bytes; the summary names it. */
static void test_threads_auto(void **state)
{
    (void)state;
    char *csv = tu_path(g_dir, "tauto.csv");
    /* two threads for auto to measure against one (the suite's
     * OMP_NUM_THREADS=1 would make it a fixed single thread) */
    assert_int_equal(run_env("OMP_NUM_THREADS=2 timeout -s KILL 90",
                             "sweep --data '%s' --split random:0.2 --threads auto,1 --dims 4 --epochs 3 --repeat 1 "
                             "--out '%s'",
                             g_data, csv),
                     0);
    tu_expect_in(g_out, "threads auto, dim 4");
    tu_expect_in(g_out, " auto(");
    struct csv *c = csv_read(csv);
    assert_int_equal(c->n_rows, 3);
    const int c_thr = col(c, "threads"), c_used = col(c, "threads_used"), c_sp = col(c, "speedup");
    const int c_ef = col(c, "efficiency"), c_ck = col(c, "checksum");
    /* the counts first, auto last, whatever the order given */
    assert_string_equal(c->f[1][c_thr], "1");
    assert_string_equal(c->f[1][c_used], "1");
    assert_string_equal(c->f[2][c_thr], "auto");
    const int used = atoi(c->f[2][c_used]);
    assert_true(used >= 1 && used <= 2);
    assert_true(strcmp(c->f[2][c_sp], "") != 0);
    assert_string_equal(c->f[2][c_ef], "");
    assert_string_equal(c->f[1][c_ck], c->f[2][c_ck]);
    csv_free(c);
    free(csv);
}

/* reduce auto records auto as asked and, in reduce_used, the reduction it
 * chose: the one train's header names for the same data and dim. */
static void test_reduce_auto_names_its_choice(void **state)
{
    (void)state;
    char *csv = tu_path(g_dir, "auto.csv");
    assert_int_equal(run("sweep --data '%s' --split random:0.2 --threads 1 --dims 4 --reduce auto --epochs 1 "
                         "--repeat 1 --quiet --csv '%s'",
                         g_data, csv),
                     0);
    struct csv *c = csv_read(csv);
    assert_int_equal(c->n_rows, 2);
    assert_string_equal(c->f[1][col(c, "reduce")], "auto");
    const char *used = c->f[1][col(c, "reduce_used")];
    assert_true(!strcmp(used, "shard") || !strcmp(used, "owner"));
    assert_int_equal(run("train --data '%s' --split random:0.2 --threads 1 --dim 4 --epochs 1", g_data), 0);
    char want[64];
    snprintf(want, sizeof want, ", reduce %s (auto: ", used);
    tu_expect_in(g_out, want);
    csv_free(c);
    free(csv);
}

/* Under taskset the cores column counts the CPUs the process may use, and
 * a thread count above them gets a note (it counted online CPUs: 2). */
static void test_cores_are_the_allowed_cpus(void **state)
{
    (void)state;
    if (system("command -v taskset >/dev/null 2>&1") != 0) skip();
    char *csv = tu_path(g_dir, "aff.csv");
    assert_int_equal(run_env("taskset -c 0", "sweep --data '%s' --split random:0.2 --threads 1,2 --dims 4 "
                                             "--epochs 1 --repeat 1 --quiet --csv '%s'",
                             g_data, csv),
                     0);
    tu_expect_in(g_err, "note: --threads 2 is more than the 1 CPU this process may run on");
    struct csv *c = csv_read(csv);
    const int c_cores = col(c, "cores");
    for (int r = 1; r < c->n_rows; r++) assert_string_equal(c->f[r][c_cores], "1");
    csv_free(c);
    free(csv);
}

static void test_usage_errors(void **state)
{
    (void)state;
    static const struct {
        const char *args, *msg;
    } cases[] = {
        {"--threads 1", "--out FILE is required (the results, as CSV)"},
        {"--csv x.csv --bogus 3", "unknown option --bogus"},
        {"--csv x.csv --threads 0", "--threads must be an integer in 1..1024 or auto, got '0'"},
        {"--csv x.csv --threads 1,,2", "--threads: empty item in '1,,2'"},
        {"--csv x.csv --threads 1,x", "--threads must be an integer in 1..1024 or auto, got 'x'"},
        {"--csv x.csv --dims 0", "--dims must be an integer in 1..4096, got '0'"},
        {"--csv x.csv --reduce fast", "--reduce must be a list of auto, shard, owner, got 'fast'"},
        {"--csv x.csv --reduce default", "--reduce must be a list of auto, shard, owner"},
        {"--csv x.csv --kernels sse", "--kernels must be a list of auto, ref, avx2, avx512, got 'sse'"},
        {"--csv x.csv --shards 0", "--shards must be an integer in 1..65536 or auto, got '0'"},
        {"--csv x.csv --epochs 0", "--epochs must be an integer"},
        {"--csv x.csv --repeat 0", "--repeat must be an integer"},
        {"--csv x.csv --warmup -1", "--warmup must be an integer"},
        {"--csv x.csv --lr abc", "--lr"},
        {"--csv x.csv --epochs", "--epochs needs a value"},
        {"--csv x.csv extra", "unexpected argument 'extra'"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        assert_int_equal(run("sweep --data '%s' %s", g_data, cases[k].args), 2);
        tu_expect_in(g_err, cases[k].msg);
    }
    assert_int_equal(run("sweep --data '%s' --split nope --csv '%s/x.csv'", g_data, g_dir), 2);
    tu_expect_in(g_err, "--split");
    /* runtime errors: missing data, an unwritable CSV */
    assert_int_equal(run("sweep --data '%s/missing' --csv '%s/x.csv'", g_dir, g_dir), 1);
    tu_expect_in(g_err, "missing");
    assert_int_equal(run("sweep --data '%s' --split random:0.2 --dims 2 --epochs 1 --repeat 1 "
                         "--quiet --csv '%s/no/such/dir/x.csv'",
                         g_data, g_dir),
                     1);
    tu_expect_in(g_err, "x.csv");
}

/* --kind softmax: the softmax model's runs, one checksum per point across
 * thread counts (the sweep checks it too: exit 1 otherwise), another per
 * dim; the flags that only apply to matrix factorization are refused. */
static void test_softmax_kind(void **state)
{
    (void)state;
    char *csv = tu_path(g_dir, "softmax.csv");
    assert_int_equal(run("sweep --kind softmax --data '%s' --split random:0.2 --threads 1,2 "
                         "--dims 4,8 --kernels ref,auto --epochs 2 --warmup 0 --repeat 1 "
                         "--csv '%s'",
                         g_data, csv),
                     0);
    tu_expect_in(g_out, "dim 4, softmax, kernels ref");
    struct csv *c = csv_read(csv);
    assert_int_equal(c->n_rows, 1 + 2 * 2 * 2);
    int c_kind = col(c, "kind"), c_red = col(c, "reduce"), c_dim = col(c, "dim");
    int c_ck = col(c, "checksum"), c_ku = col(c, "kernels_used"), c_loss = col(c, "final_loss");
    int c_lr = col(c, "lr");
    for (int r = 1; r < c->n_rows; r++) {
        char **f = c->f[r];
        assert_string_equal(f[c_kind], "softmax");
        assert_string_equal(f[c_red], "none");
        assert_true(atof(f[c_lr]) == 0.01); /* round 1's --preset softmax */
        assert_true(atof(f[c_loss]) > 0);
        assert_true(!strcmp(f[c_ku], "ref") || !strcmp(f[c_ku], "avx2") ||
                    !strcmp(f[c_ku], "avx512"));
        /* the kernel sets give the same bits: one checksum per dim */
        for (int q = 1; q < c->n_rows; q++) {
            bool same_dim = !strcmp(c->f[q][c_dim], f[c_dim]);
            assert_true(same_dim == !strcmp(c->f[q][c_ck], f[c_ck]));
        }
    }
    csv_free(c);
    free(csv);
    static const char *const refused[] = {"--reduce shard", "--lr 0.1", "--l2 1", "--bias"};
    for (size_t k = 0; k < sizeof refused / sizeof *refused; k++) {
        assert_int_equal(run("sweep --kind softmax --data '%s' %s --csv '%s/x.csv'", g_data,
                             refused[k], g_dir),
                         2);
        tu_expect_in(g_err, "does not apply to --kind softmax");
    }
    assert_int_equal(run("sweep --kind softmax --data '%s' --threads 1,auto --csv '%s/x.csv'", g_data, g_dir), 2);
    tu_expect_in(g_err, "--threads auto is matrix factorization's measured thread count");
    assert_int_equal(run("sweep --kind other --data '%s' --csv '%s/x.csv'", g_data, g_dir), 2);
    tu_expect_in(g_err, "--kind: expected mf or softmax, got 'other'");
}

static void expect_nonempty(const char *dir, const char *name)
{
    char *p = tu_path(dir, name);
    struct stat st;
    if (stat(p, &st) != 0 || st.st_size == 0) fail_msg("%s is missing or empty", p);
    free(p);
}

/* Expects `want` in DIR/CHART.gp, the gnuplot script of a chart. */
static void expect_in_chart(const char *dir, const char *chart, const char *want)
{
    char name[64];
    snprintf(name, sizeof name, "%s.gp", chart);
    char *gp = tu_path(dir, name);
    char *text = tu_read_file(gp, NULL);
    tu_expect_in(text, want);
    free(text);
    free(gp);
}

/* A legend names which "auto" is which when the kernels vary too: "k=4
 * auto reduce (shard), auto kernels", not "k=4 auto auto", and what the
 * auto reduction picked (the CSV's reduce_used). The ideal speedup is a
 * dashed grey reference line, the only one (it was a palette colour, gold
 * beside an orange series). */
static void test_legend_names_each_auto(void **state)
{
    (void)state;
    if (!gnuplot_on_path()) skip(); /* reported as skipped, not as a pass that checked nothing */
    char *csv = tu_path(g_dir, "legend.csv"), *dir = tu_path(g_dir, "legend");
    assert_int_equal(run("sweep --data '%s' --split random:0.2 --threads 1,2 --dims 4 --reduce auto,owner "
                         "--kernels ref,auto --epochs 2 --repeat 1 --quiet --csv '%s' --plot '%s'",
                         g_data, csv, dir),
                     0);
    struct csv *c = csv_read(csv);
    const int used = col(c, "reduce_used"), asked = col(c, "reduce");
    char want[128] = "";
    for (int k = 1; k < c->n_rows; k++)
        if (!strcmp(c->f[k][asked], "auto"))
            snprintf(want, sizeof want, "title 'k=4 auto reduce (%s), auto kernels'", c->f[k][used]);
    csv_free(c);
    assert_true(want[0] != 0);
    expect_in_chart(dir, "reduce_vs_threads", want);
    expect_in_chart(dir, "reduce_vs_threads", "title 'k=4 owner, ref kernels'");
    expect_in_chart(dir, "speedup_vs_threads", "with lines lw 2 dt 2 lc rgb '#404040' title 'ideal (speedup = threads)'");
    char *gp = tu_path(dir, "reduce_vs_threads.gp"), *text = tu_read_file(gp, NULL);
    assert_non_null(text);
    assert_null(strstr(text, " dt 2 ")); /* no reference line there */
    free(text);
    free(gp);
    free(csv);
    free(dir);
}

static void test_plot(void **state)
{
    (void)state;
    char *csv = tu_path(g_dir, "plot.csv"), *dir = tu_path(g_dir, "charts");
    const char *flags = "--split random:0.2 --threads 1,2 --dims 4,6 --reduce shard,owner "
                        "--epochs 2 --repeat 1 --quiet";
    /* Without gnuplot on PATH: a clear error before the sweep runs, nothing
     * written (the sweep used to run whole and fail at its charts). The
     * shell finds mfrec by its full path. */
    assert_int_equal(run_env("PATH=/nonexistent", "sweep --data '%s' %s --csv '%s' --plot '%s'",
                             g_data, flags, csv, dir),
                     1);
    tu_expect_in(g_err, "--plot needs gnuplot");
    assert_false(tu_exists(csv));
    assert_false(tu_exists(dir));
    if (!gnuplot_on_path()) {
        fprintf(stderr, "gnuplot is not on PATH: the charts are not checked\n");
        goto done;
    }
    assert_int_equal(run("sweep --data '%s' %s --csv '%s' --plot '%s'", g_data, flags, csv, dir), 0);
    static const char *const charts[] = {"speedup_vs_threads", "ms_per_epoch_vs_dim",
                                         "reduce_vs_threads"};
    for (size_t k = 0; k < 3; k++) {
        char name[64];
        snprintf(name, sizeof name, "%s.png", charts[k]);
        expect_nonempty(dir, name);
        snprintf(name, sizeof name, "%s.svg", charts[k]);
        expect_nonempty(dir, name);
    }
    /* the speedup chart holds the ideal line */
    expect_in_chart(dir, "speedup_vs_threads", "ideal");
    /* each chart's title says the cores its thread counts ran on (the
     * chart against k, whose lines are thread counts, did not) */
    expect_in_chart(dir, "ms_per_epoch_vs_dim", " cores' noenhanced");
    /* a shard count above what the data allows runs as fewer: the legend
     * says what ran beside what was asked */
    {
        char *csv2 = tu_path(g_dir, "plot2.csv"), *dir2 = tu_path(g_dir, "charts2");
        assert_int_equal(run("sweep --data '%s' --split random:0.2 --threads 1,2 --shards 2,65536 --epochs 1 "
                             "--repeat 1 --quiet --csv '%s' --plot '%s'",
                             g_data, csv2, dir2),
                         0);
        expect_in_chart(dir2, "speedup_vs_threads", " 2 shards'");
        expect_in_chart(dir2, "speedup_vs_threads", " 65536 shards (ran ");
        free(csv2), free(dir2);
    }
done:
    free(csv);
    free(dir);
}

/* Starts `mfrec sweep ARGV...` (stdout into a pipe read through *out,
 * stderr into ERR_PATH), with SIGINT and SIGTERM acting as from a
 * terminal even where this test was started ignoring them. */
static pid_t start_sweep(const char *const *args, const char *err_path, FILE **out)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGINT, SIG_DFL), signal(SIGTERM, SIG_DFL);
        dup2(fds[1], 1);
        close(fds[0]), close(fds[1]);
        if (!freopen(err_path, "w", stderr)) _exit(99);
        const char *argv[48] = {g_bin, "sweep"};
        int n = 2;
        for (int k = 0; args[k] && n < 47; k++) argv[n++] = args[k];
        argv[n] = NULL;
        execv(g_bin, (char *const *)argv);
        _exit(98);
    }
    close(fds[1]);
    *out = fdopen(fds[0], "r");
    assert_non_null(*out);
    return pid;
}

/* start_sweep with MFREC_TEST_SLOW_STAGE=ms: each stage held that long. */
static pid_t start_slow_sweep(const char *const *args, const char *err_path, const char *ms, FILE **out)
{
    setenv("MFREC_TEST_SLOW_STAGE", ms, 1);
    pid_t pid = start_sweep(args, err_path, out);
    unsetenv("MFREC_TEST_SLOW_STAGE");
    return pid;
}

/* The exit status of a started sweep (stdout read to its end). */
static int finish_sweep(pid_t pid, FILE *out)
{
    char line[1024];
    while (fgets(line, sizeof line, out)) {
    }
    fclose(out);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A stopped sweep's CSV (2 combinations, 60 repeats): some complete
 * repeats, each with both combinations' rows, and nothing of the rest. */
static void expect_complete_repeats(const char *csv)
{
    struct csv *c = csv_read(csv);
    const int rows = c->n_rows - 1;
    assert_true(rows >= 2 && rows < 120 && rows % 2 == 0);
    int rep = col(c, "repeat");
    for (int k = 1; k <= rows; k++) /* each repeat's two rows: both combinations */
        assert_int_equal(atoi(c->f[k][rep]), (k - 1) % (rows / 2) + 1);
    csv_free(c);
}

/* SIGINT once the first repeat of both combinations is done: the run
 * under way is killed, and the summary and the CSV hold the repeats that
 * both completed (the same count for each), exit 3. SIGTERM during the
 * first repeat: nothing written, exit 3. */
static void test_stop_signal_reports_completed_repeats(void **state)
{
    (void)state;
    char *csv = tu_path(g_dir, "stopped.csv"), *err = tu_path(g_dir, "stopped.err");
    const char *args[] = {"--data", g_data, "--split", "random:0.2", "--threads", "1,2", "--dims", "4",
                          "--epochs", "3000", "--repeat", "60", "--out", csv, NULL};
    FILE *out;
    pid_t pid = start_sweep(args, err, &out);
    char line[1024];
    bool sent = false;
    while (!sent && fgets(line, sizeof line, out))
        if (!strncmp(line, "[  2/120]", 9)) sent = kill(pid, SIGINT) == 0;
    assert_true(sent);
    assert_int_equal(finish_sweep(pid, out), 3);
    char *text = tu_read_file(err, NULL);
    tu_expect_in(text, "mfrec sweep: interrupted by SIGINT during repeat ");
    tu_expect_in(text, " of 60 (");
    tu_expect_in(text, " of the 2 combinations had run it: left out); reporting the ");
    free(text);
    expect_complete_repeats(csv);

    char *csv2 = tu_path(g_dir, "stopped2.csv");
    const char *args2[] = {"--data", g_data, "--split", "random:0.2", "--threads", "1,2", "--dims", "4",
                           "--epochs", "10000000", "--repeat", "2", "--out", csv2, NULL};
    pid = start_sweep(args2, err, &out);
    sent = false;
    while (!sent && fgets(line, sizeof line, out))
        if (!strncmp(line, "build:", 6)) sent = kill(pid, SIGTERM) == 0;
    assert_true(sent);
    assert_int_equal(finish_sweep(pid, out), 3);
    text = tu_read_file(err, NULL);
    tu_expect_in(text, "interrupted by SIGTERM during the first repeat, which 0 of the 2 combinations had run; "
                       "nothing written");
    free(text);
    assert_false(tu_exists(csv2));
    free(csv2), free(csv), free(err);
}

/* The first child process of pid that /proc lists, or 0 for none. */
static pid_t first_child(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
    FILE *f = fopen(path, "r");
    int child = 0;
    if (f) {
        if (fscanf(f, "%d", &child) != 1) child = 0;
        fclose(f);
    }
    return (pid_t)child;
}

/* A run that fails once both combinations completed a repeat (here: one
 * killed with SIGKILL, as the OOM killer does) fails the sweep, exit 1,
 * but the repeats every combination completed before it are reported, as
 * after SIGINT: nothing was written, the complete repeats thrown away. */
static void test_failed_run_reports_completed_repeats(void **state)
{
    (void)state;
    char *csv = tu_path(g_dir, "failed.csv"), *err = tu_path(g_dir, "failed.err");
    const char *args[] = {"--data", g_data, "--split", "random:0.2", "--threads", "1,2", "--dims", "4",
                          "--epochs", "3000", "--repeat", "60", "--out", csv, NULL};
    FILE *out;
    pid_t pid = start_sweep(args, err, &out), child = 0;
    char line[1024];
    while (fgets(line, sizeof line, out) && strncmp(line, "[  2/120]", 9)) {
    }
    for (int k = 0; k < 2000 && !(child = first_child(pid)); k++) usleep(1000);
    if (!child) fail_msg("no run of the sweep found to kill");
    assert_int_equal(kill(child, SIGKILL), 0);
    assert_int_equal(finish_sweep(pid, out), 1);
    char *text = tu_read_file(err, NULL);
    tu_expect_in(text, "the run was killed by signal 9 (out of memory?)");
    tu_expect_in(text, "mfrec sweep: the run failed in repeat ");
    tu_expect_in(text, " of the 2 combinations had run it: left out); reporting the ");
    free(text);
    expect_complete_repeats(csv);
    free(csv), free(err);
}

/* Whether dir holds a file whose name has `part` in it. */
static bool has_name_with(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    bool found = false;
    for (struct dirent *e; d && !found && (e = readdir(d));) found = strstr(e->d_name, part) != NULL;
    if (d) closedir(d);
    return found;
}

/* Whether dir holds a file whose name has ".tmp" in it. */
static bool has_tmp_file(const char *dir) { return has_name_with(dir, ".tmp"); }

/* A SIGINT during the dataset load (here: its cache's temporary file,
 * held open by MFREC_TEST_SLOW_TMP) ends the sweep of the signal, its
 * temporary file removed, as in the other commands: there is nothing to
 * report yet. It was taken as a stop signal, so the whole load and split
 * ran on (minutes for ML-32M) before "interrupted during the first
 * repeat", exit 3. */
static void test_stop_signal_during_load(void **state)
{
    (void)state;
    char *data = tu_path(g_dir, "data_load"), *csv = tu_path(g_dir, "load.csv"),
         *err = tu_path(g_dir, "load.err");
    assert_int_equal(run("synth --users 50 --items 40 --ratings 800 --rank 2 --seed 5 --out '%s'", data), 0);
    const char *args[] = {"--data", data, "--data-cache", "always", "--split", "random:0.2", "--epochs", "2",
                          "--repeat", "1", "--out", csv, NULL};
    setenv("MFREC_TEST_SLOW_TMP", "1000", 1);
    FILE *out;
    pid_t pid = start_sweep(args, err, &out);
    unsetenv("MFREC_TEST_SLOW_TMP");
    bool seen = false;
    for (int k = 0; k < 3000 && !(seen = has_tmp_file(data)); k++) usleep(10000);
    assert_true(seen);
    assert_int_equal(kill(pid, SIGINT), 0);
    assert_int_equal(finish_sweep(pid, out), 128 + SIGINT);
    char *text = tu_read_file(err, NULL);
    assert_null(strstr(text, "interrupted"));
    free(text);
    assert_false(has_tmp_file(data));
    assert_false(tu_exists(csv));
    free(data), free(csv), free(err);
}

/* A first SIGINT once every run is done (here: while the charts are
 * staged, held open by MFREC_TEST_SLOW_STAGE) stops nothing: the report
 * is complete, exit 0, and a note says why, as train's does after its
 * last epoch. The sweep exited 0 without a word about the signal. */
static void test_stop_signal_after_the_last_run(void **state)
{
    (void)state;
    if (!gnuplot_on_path()) skip();
    char *csv = tu_path(g_dir, "late.csv"), *err = tu_path(g_dir, "late.err"), *plots = tu_path(g_dir, "late_plots");
    const char *args[] = {"--data", g_data, "--split", "random:0.2", "--epochs", "2", "--repeat", "1",
                          "--threads", "1,2", "--out", csv, "--plot", plots, NULL};
    FILE *out;
    pid_t pid = start_slow_sweep(args, err, "500", &out);
    char line[1024];
    bool sent = false;
    while (!sent && fgets(line, sizeof line, out))
        if (!strncmp(line, "wrote 2 rows to ", 16)) sent = kill(pid, SIGINT) == 0;
    assert_true(sent);
    assert_int_equal(finish_sweep(pid, out), 0);
    char *text = tu_read_file(err, NULL);
    tu_expect_in(text, "mfrec sweep: note: SIGINT came after the last run; the sweep finished and its outputs are complete");
    free(text);
    char *chart = tu_path(plots, "speedup_vs_threads.svg");
    assert_true(tu_exists(chart));
    free(chart), free(plots), free(csv), free(err);
}

/* A second SIGINT while the report is under way (here: while the charts'
 * stage is made, held open by MFREC_TEST_SLOW_STAGE) exits 130 with
 * nothing written: an earlier run's CSV and charts stay, as a pair. The
 * CSV was written before the charts were drawn, so it was the new run's
 * beside the earlier run's charts. */
static void test_second_signal_keeps_csv_and_charts_a_pair(void **state)
{
    (void)state;
    if (!gnuplot_on_path()) skip();
    char *csv = tu_path(g_dir, "pair.csv"), *err = tu_path(g_dir, "pair.err"), *plots = tu_path(g_dir, "pair_plots");
    char *dat = tu_path(plots, "speedup_vs_threads.dat");
    assert_int_equal(run("sweep --data '%s' --split random:0.2 --epochs 2 --repeat 1 --threads 1,2 --out '%s' "
                         "--plot '%s'",
                         g_data, csv, plots),
                     0);
    char *csv_before = tu_read_file(csv, NULL), *dat_before = tu_read_file(dat, NULL);
    assert_non_null(csv_before);
    assert_non_null(dat_before);
    const char *args[] = {"--data", g_data, "--split", "random:0.2", "--epochs", "3", "--repeat", "1",
                          "--threads", "1,2", "--out", csv, "--plot", plots, NULL};
    FILE *out;
    pid_t pid = start_slow_sweep(args, err, "1500", &out);
    char line[1024];
    bool sent = false;
    while (!sent && fgets(line, sizeof line, out))
        if (!strncmp(line, "[2/2]", 5)) { /* the last run is done: the report begins */
            sent = kill(pid, SIGINT) == 0;
            usleep(300000);
            sent = sent && kill(pid, SIGINT) == 0;
        }
    assert_true(sent);
    assert_int_equal(finish_sweep(pid, out), 128 + SIGINT);
    char *csv_after = tu_read_file(csv, NULL), *dat_after = tu_read_file(dat, NULL);
    assert_non_null(csv_after);
    assert_non_null(dat_after);
    assert_string_equal(csv_after, csv_before);
    assert_string_equal(dat_after, dat_before);
    assert_false(has_name_with(plots, "mfrec-stage"));
    assert_false(has_tmp_file(g_dir));
    free(csv_before), free(dat_before), free(csv_after), free(dat_after);
    free(dat), free(plots), free(csv), free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_second_signal_keeps_csv_and_charts_a_pair),
        cmocka_unit_test(test_forked_runs_with_threads_allowed),
        cmocka_unit_test(test_threads_auto),
        cmocka_unit_test(test_rows_columns_checksums_speedup),
        cmocka_unit_test(test_checksums_that_differ),
        cmocka_unit_test(test_without_one_thread_and_with_shards),
        cmocka_unit_test(test_summary_names_shards_asked),
        cmocka_unit_test(test_settings_recorded_exactly),
        cmocka_unit_test(test_reduce_auto_names_its_choice),
        cmocka_unit_test(test_cores_are_the_allowed_cpus),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_plot),
        cmocka_unit_test(test_legend_names_each_auto),
        cmocka_unit_test(test_softmax_kind),
        cmocka_unit_test(test_report_of_an_escaped_path),
        cmocka_unit_test(test_stop_signal_reports_completed_repeats),
        cmocka_unit_test(test_failed_run_reports_completed_repeats),
        cmocka_unit_test(test_stop_signal_during_load),
        cmocka_unit_test(test_stop_signal_after_the_last_run),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
