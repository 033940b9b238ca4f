/*
 * test_cli_explore.c — `mfrec stats`, `mfrec project` and `mfrec export`
 * end to end on synthetic data: text tables (UTF-8 titles aligned by code
 * points), JSON, pictures (PNG and SVG written and non-empty; the file
 * checks are skipped, with a message, when gnuplot is not on PATH), .npy
 * and TSV exports read back, usage errors (exit 2) and a model/dataset
 * mismatch (exit 1).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "mfrec.h"
#include "test_util.h"

static char *g_dir;   /* scratch directory */
static char *g_data;  /* synthetic dataset the model is trained on */
static char *g_other; /* same shape, other seed: a different fingerprint */
static char *g_model;
static const char *g_bin;
static int g_gnuplot;       /* gnuplot is on PATH */
static char *g_out, *g_err; /* last command's stdout and stderr */

/* Runs `ENV mfrec ARGS` (shell fragments; env may be ""); returns the exit
 * status and keeps stdout and stderr in g_out and g_err. */
#define run_env(env, ...) tu_run_clif(g_bin, g_dir, env, &g_out, &g_err, __VA_ARGS__)

#define run(...) run_env("", __VA_ARGS__)

/* Lines of a file (0 when it does not exist). */
static int count_lines(const char *path)
{
    size_t n;
    char *s = tu_read_file(path, &n);
    if (!s) return 0;
    int lines = 0;
    for (size_t x = 0; x < n; x++) lines += s[x] == '\n';
    free(s);
    return lines;
}

static void expect_not_in(const char *hay, const char *needle)
{
    if (hay && strstr(hay, needle)) fail_msg("did not expect '%s' in:\n%s", needle, hay);
}

/* Fails unless dir/name exists and is not empty. */
static void expect_file(const char *dir, const char *name)
{
    char *p = tu_path(dir, name);
    struct stat st;
    if (stat(p, &st) != 0 || st.st_size == 0) fail_msg("%s is missing or empty", p);
    free(p);
}

static int setup(void **state)
{
    (void)state;
    g_bin = getenv("MFREC_BIN");
    if (!g_bin) tu_skip_all("MFREC_BIN is not set (run through meson test)");
    g_dir = tu_mkdtemp();
    g_data = tu_path(g_dir, "data");
    g_other = tu_path(g_dir, "other");
    g_model = tu_path(g_dir, "m.bin");
    g_gnuplot = system("command -v gnuplot >/dev/null 2>&1") == 0;
    if (!g_gnuplot)
        fprintf(stderr, "NOTE: gnuplot is not on PATH: the picture files are not checked, only "
                        "that --plot fails with a clear error (exit 1)\n");
    const char *synth = "synth --users 120 --items 80 --ratings 3000 --rank 4";
    if (run("%s --seed 3 --out '%s'", synth, g_data) != 0 ||
        run("%s --seed 4 --out '%s'", synth, g_other) != 0 ||
        run("train --data '%s' --split random:0.2 --dim 6 --epochs 30 --lr 0.05 --threads 1 "
            "--quiet --out '%s'",
            g_data, g_model) != 0) {
        fprintf(stderr, "set-up failed: %s\n", g_err);
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
    free(g_other);
    free(g_model);
    free(g_out);
    free(g_err);
    return 0;
}

static void test_usage_errors(void **state)
{
    (void)state;
    for (const char *c = "stats\0project\0export\0"; *c; c += strlen(c) + 1) {
        assert_int_equal(run("%s --help", c), 0);
        tu_expect_in(g_out, "Usage: mfrec ");
        tu_expect_in(g_out, c);
    }
    assert_int_equal(run("--help"), 0);
    tu_expect_in(g_out, "stats");
    tu_expect_in(g_out, "project");
    tu_expect_in(g_out, "export");
    assert_int_equal(run("stats --bogus"), 2);
    tu_expect_in(g_err, "unknown option --bogus");
    assert_int_equal(run("stats --bins 0"), 2);
    tu_expect_in(g_err, "--bins must be an integer in 1..1000, got '0'");
    assert_int_equal(run("stats --top"), 2);
    tu_expect_in(g_err, "--top needs a value");
    assert_int_equal(run("stats --json=yes"), 2);
    assert_int_equal(run("project --plot x"), 2);
    tu_expect_in(g_err, "--model is required");
    assert_int_equal(run("project --model '%s' --top -1", g_model), 2);
    tu_expect_in(g_err, "--top");
    /* --top's default is a list's length in every command: 10 movies at
     * each end of an axis (it was 5 in project alone) */
    assert_int_equal(run("project --model '%s'", g_model), 0);
    {
        const char *lo = strstr(g_out, "PC1, lowest:\n"), *hi = lo ? strstr(lo, "PC1, highest:") : NULL;
        assert_non_null(hi);
        int lines = 0;
        for (const char *c = lo + strlen("PC1, lowest:\n"); c < hi; c++) lines += *c == '\n';
        assert_int_equal(lines, 11); /* the column names, then 10 movies */
    }
    /* options that would change nothing are refused: the pictures' without
     * --plot, t-SNE's without --method tsne */
    assert_int_equal(run("project --model '%s' --genre Drama", g_model), 2);
    tu_expect_in(g_err, "--genre only changes the pictures: it needs --plot DIR");
    assert_int_equal(run("project --model '%s' --bins 4 --out '%s/p.tsv'", g_model, g_dir), 2);
    tu_expect_in(g_err, "--bins only changes the pictures: it needs --plot DIR");
    for (const char *f = "--perplexity 5\0--iterations 9\0--seed 4\0"; *f; f += strlen(f) + 1) {
        assert_int_equal(run("project --model '%s' %s", g_model, f), 2);
        tu_expect_in(g_err, "is t-SNE's: it needs --method tsne");
    }
    assert_int_equal(run("project --model '%s' --method pca --seed 4", g_model), 2);
    assert_int_equal(run("export '%s/x'", g_dir), 2);
    tu_expect_in(g_err, "--model is required");
    assert_int_equal(run("export --model '%s'", g_model), 2);
    tu_expect_in(g_err, "output directory is required");
    assert_int_equal(run("export --model '%s' --as xml --out '%s/x'", g_model, g_dir), 2);
    tu_expect_in(g_err, "--as must be npy, tsv or both, got 'xml'");
    assert_int_equal(run("export --model '%s' --format tsv --out '%s/x'", g_model, g_dir), 2);
    tu_expect_in(g_err, "--format names the dataset format, as in every command; the export "
                        "format is --as tsv");
    assert_int_equal(run("export --model '%s' '%s/x' '%s/y'", g_model, g_dir, g_dir), 2);
    tu_expect_in(g_err, "only one output directory");
    char *x = tu_path(g_dir, "x");
    assert_false(tu_exists(x));
    free(x);
}

/* Every command that reads data takes --threads (its load and split run in
 * parallel; recommend's --all-users and eval's EASE too): the same output
 * for 1 and 3 threads, 0 refused, listed in --help. Whether the count is
 * kept is test_setup_threads' (library) part. */
/* One name for a list's length in every command that lists movies: --top,
 * with -k and --k as aliases (eval's --k once stood alone) */
static void test_every_list_takes_top_and_its_aliases(void **state)
{
    (void)state;
    char cmds[6][512];
    snprintf(cmds[0], sizeof cmds[0], "stats --data '%s' --json", g_data);
    snprintf(cmds[1], sizeof cmds[1], "project --model '%s' --data '%s'", g_model, g_data);
    snprintf(cmds[2], sizeof cmds[2], "similar --model '%s' --data '%s' --movie '#3' --json", g_model, g_data);
    snprintf(cmds[3], sizeof cmds[3], "norms --model '%s' --data '%s' --json", g_model, g_data);
    snprintf(cmds[4], sizeof cmds[4], "recommend --model '%s' --data '%s' --user 5 --json", g_model, g_data);
    snprintf(cmds[5], sizeof cmds[5], "eval --model '%s' --data '%s' --test '%s/u.data' --allow-overlap --json",
             g_model, g_data, g_data);
    for (int c = 0; c < 6; c++) {
        if (run("%s --top 3", cmds[c]) != 0) fail_msg("%s --top 3: %s", cmds[c], g_err);
        char *top = strdup(g_out);
        if (run("%s --top 4", cmds[c]) != 0) fail_msg("%s --top 4: %s", cmds[c], g_err);
        if (!strcmp(g_out, top)) fail_msg("%s: --top 3 and --top 4 print the same", cmds[c]);
        for (const char *alias = "-k\0--k\0--k=\0"; *alias; alias += strlen(alias) + 1) {
            const bool eq = alias[strlen(alias) - 1] == '=';
            int rc = run("%s %s%s3", cmds[c], alias, eq ? "" : " ");
            if (rc != 0) fail_msg("%s %s 3: exit %d: %s", cmds[c], alias, rc, g_err);
            /* eval's JSON holds its seconds */
            if (c < 5) assert_string_equal(g_out, top);
            else tu_expect_in(g_out, "\"top\":3,");
        }
        free(top);
    }
}

static void test_every_data_command_takes_threads(void **state)
{
    (void)state;
    char cmds[7][512];
    char *held_out = tu_path(g_dir, "thr1/test.data"); /* the split's, written first */
    snprintf(cmds[0], sizeof cmds[0], "split --data '%s' --split random:0.2", g_data);
    snprintf(cmds[1], sizeof cmds[1], "stats --data '%s'", g_data);
    snprintf(cmds[2], sizeof cmds[2], "project --model '%s' --data '%s'", g_model, g_data);
    snprintf(cmds[3], sizeof cmds[3], "similar --model '%s' --data '%s' --movie '#3'", g_model, g_data);
    snprintf(cmds[4], sizeof cmds[4], "norms --model '%s' --data '%s'", g_model, g_data);
    snprintf(cmds[5], sizeof cmds[5], "recommend --model '%s' --data '%s' --user 5", g_model, g_data);
    snprintf(cmds[6], sizeof cmds[6], "eval --model '%s' --data '%s' --test '%s' --baseline ease", g_model,
             g_data, held_out);
    for (int c = 0; c < 7; c++) {
        char name[32];
        snprintf(name, sizeof name, "%.*s", (int)strcspn(cmds[c], " "), cmds[c]);
        assert_int_equal(run("%s --help", name), 0);
        tu_expect_in(g_out, "--threads N");
        const bool split = c == 0;
        char *out[2];
        for (int t = 0; t < 2; t++) {
            char *dir = tu_path(g_dir, t ? "thr3" : "thr1");
            int rc = split ? run("%s --threads %d --out '%s'", cmds[c], t ? 3 : 1, dir)
                           : run("%s --threads %d", cmds[c], t ? 3 : 1);
            if (rc != 0) fail_msg("%s --threads %d: exit %d\n%s", cmds[c], t ? 3 : 1, rc, g_err);
            if (split) {
                char *f = tu_path(dir, "train.data");
                size_t n;
                out[t] = tu_read_file(f, &n);
                free(f);
                assert_non_null(out[t]);
            } else {
                out[t] = strdup(g_out);
            }
            free(dir);
        }
        if (strcmp(out[0], out[1]) != 0) fail_msg("%s: another output with 3 threads", cmds[c]);
        free(out[0]), free(out[1]);
        assert_int_equal(run("%s --threads 0", cmds[c]), 2);
        tu_expect_in(g_err, "--threads must be an integer in 1..1024, got '0'");
    }
    free(held_out);
}

static void test_stats_text_and_json(void **state)
{
    (void)state;
    assert_int_equal(run("stats --data '%s'", g_data), 0);
    tu_expect_in(g_out, "120 users, 80 movies, 3000 ratings");
    tu_expect_in(g_out, "user age");
    tu_expect_in(g_out, "ratings per user");
    tu_expect_in(g_out, "mean rating per user");
    tu_expect_in(g_out, "Users by sex");
    tu_expect_in(g_out, "Users by occupation");
    tu_expect_in(g_out, "Most rated movies");
    tu_expect_in(g_out, "Best rated movies (at least 20 ratings)");
    /* -k is --top's alias here too */
    char *with_top = strdup(g_out);
    assert_int_equal(run("stats --data '%s' -k 10", g_data), 0);
    assert_string_equal(g_out, with_top);
    free(with_top);
    tu_expect_in(g_out, "Movies by genre");
    /* --data defaults to $MFREC_DATA */
    char env[4096];
    snprintf(env, sizeof env, "MFREC_DATA='%s'", g_data);
    assert_int_equal(run_env(env, "stats --top 3"), 0);
    tu_expect_in(g_out, "120 users, 80 movies, 3000 ratings");
    tu_expect_in(g_out, "\n   3  ");
    assert_null(strstr(g_out, "\n   4  "));

    /* --top in the JSON as in recommend's and similar's, and the list that long */
    assert_int_equal(run("stats --data '%s' --json --top 2", g_data), 0);
    tu_expect_in(g_out, ",\"top\":2,\"users\":");
    const char *most = strstr(g_out, "\"most_rated\":");
    assert_non_null(most);
    assert_non_null(strstr(most, "{\"rank\":2,"));
    assert_null(strstr(most, "{\"rank\":3,"));
    assert_int_equal(run("stats --data '%s' --json --bins 5", g_data), 0);
    tu_expect_in(g_out, ",\"top\":10,\"users\":");
    assert_true(g_out[0] == '{');
    assert_int_equal(g_out[strlen(g_out) - 2], '}');
    tu_expect_in(g_out, "\"users\":{\"count\":120,\"age\":{\"count\":120,\"mean\":");
    tu_expect_in(g_out, "\"ratings\":{\"count\":3000,");
    tu_expect_in(g_out, "\"ratings_per_user\":{\"summary\":{\"count\":120,");
    tu_expect_in(g_out, "\"most_rated\":[{\"rank\":1,\"movie\":");
    tu_expect_in(g_out, "\"best_rated\":{\"min_ratings\":20,");
    tu_expect_in(g_out, "\"genres\":[{\"name\":");
    /* 5 bins: 6 edges, 5 counts, and the per-user counts add up to 120 */
    const char *h = strstr(g_out, "\"ratings_per_user\"");
    assert_non_null(h);
    h = strstr(h, "\"counts\":[");
    assert_non_null(h);
    long total = 0;
    int n = 0;
    for (const char *p = h + 10; *p != ']'; n++) {
        char *end;
        total += strtol(p, &end, 10);
        p = *end == ',' ? end + 1 : end;
    }
    assert_int_equal(n, 5);
    assert_int_equal(total, 120);

    assert_int_equal(run("stats --data '%s/missing'", g_dir), 1);
    tu_expect_in(g_err, "missing");
}

/* Histogram bins hold the values on their lower edge, as the printed
 * edges [a, b) say: movie means of exactly 1.4, 2.4, 2.8 and 3.8 (sums
 * over 5 ratings) fall on 0.2-wide edges between the extremes 1 and 5,
 * and each one's bin is the one that edge opens (the rounded division put
 * them one bin lower). */
static void test_stats_histogram_edges(void **state)
{
    (void)state;
    /* movie: its ratings (one user each) */
    static const int movie_ratings[][6] = {{1, 1},          {2, 5},          {3, 2, 2, 3, 3, 2},
                                           {4, 1, 1, 1, 2, 2}, {5, 3, 3, 3, 3, 2}, {6, 4, 4, 4, 4, 3}};
    char text[1024];
    size_t len = 0;
    int user = 1;
    for (int m = 0; m < 6; m++)
        for (int x = 1; x < 6 && movie_ratings[m][x]; x++)
            len += (size_t)snprintf(text + len, sizeof text - len, "%d,%d,%d\n", user++, movie_ratings[m][0],
                                    movie_ratings[m][x]);
    tu_write_file(g_dir, "edges.csv", text, len);
    assert_int_equal(run("stats --data '%s/edges.csv' --format delimited:comma:noheader --json --bins 20", g_dir), 0);
    const char *h = strstr(g_out, "\"mean_rating_per_movie\"");
    assert_non_null(h);
    tu_expect_in(h, "\"edges\":[1,1.2,1.4,1.6,1.8,2,2.2,2.4,2.6,2.8,3,3.2,3.4,3.6,3.8,4,4.2,4.4,4.6,4.8,5]");
    tu_expect_in(h, "\"counts\":[1,0,1,0,0,0,0,1,0,1,0,0,0,0,1,0,0,0,0,1]");
}

/* Ratings far from 1..5 (any finite value is a rating in a delimited
 * file): one value's histogram still has distinct edges, however large
 * (adding 0.5 to 1e20 changes nothing), so that --plot draws it, and the
 * table's columns stay apart. */
static void test_stats_huge_values(void **state)
{
    (void)state;
    tu_write_file(g_dir, "e20.csv", "1,1,1e20\n2,2,1e20\n", (size_t)-1);
    assert_int_equal(run("stats --data '%s/e20.csv' --json --bins 4", g_dir), 0);
    const char *h = strstr(g_out, "\"mean_rating_per_user\"");
    assert_non_null(h);
    h = strstr(h, "\"edges\":[");
    assert_non_null(h);
    double first = strtod(h + 9, NULL);
    const char *last = strchr(h, ']');
    while (last > h && last[-1] != ',') last--;
    assert_true(first < 1e20 && strtod(last, NULL) > 1e20);
    tu_write_file(g_dir, "h.csv", "1,1,3e38\n1,2,3e38\n2,1,-3e38\n2,2,3e38\n", (size_t)-1);
    assert_int_equal(run("stats --data '%s/h.csv'", g_dir), 0);
    tu_expect_in(g_out, "mean rating per user        2  1.5e+38 2.12e+38    0.00 7.5e+37 1.5e+38 2.3e+38   3e+38");
    if (g_gnuplot) {
        char *pl = tu_path(g_dir, "e20_plots");
        assert_int_equal(run("stats --data '%s/e20.csv' --plot '%s'", g_dir, pl), 0);
        free(pl);
    }
}

/* One mean rating for every user and movie (an implicit-feedback file,
 * every rating 1): the mean histograms span the range around it, as for
 * any single value; they ran in whole-number bins from 1 to 21, as if the
 * means were counts, far off the rating scale. */
static void test_stats_one_whole_mean(void **state)
{
    (void)state;
    tu_write_file(g_dir, "implicit.csv", "1,1,1\n2,2,1\n", (size_t)-1);
    assert_int_equal(run("stats --data '%s/implicit.csv' --format delimited:comma:noheader --json --bins 4", g_dir),
                     0);
    const char *h = strstr(g_out, "\"mean_rating_per_user\"");
    assert_non_null(h);
    tu_expect_in(h, "\"histogram\":{\"edges\":[0.5,0.75,1,1.25,1.5],\"counts\":[0,0,2,0],\"last_bin_closed\":false}");
    h = strstr(g_out, "\"mean_rating_per_movie\"");
    assert_non_null(h);
    tu_expect_in(h, "\"histogram\":{\"edges\":[0.5,0.75,1,1.25,1.5],\"counts\":[0,0,2,0],\"last_bin_closed\":false}");
    /* a count of one value keeps its one whole-number bin, open at its
     * top as every whole-number bin is (it read [1, 2], as if 2 were in it) */
    assert_int_equal(run("stats --data '%s/implicit.csv' --format delimited:comma:noheader", g_dir), 0);
    tu_expect_in(g_out, "Ratings per movie\n  [1, 2)                     2  ");
    assert_null(strstr(g_out, "[4, 5]"));
    /* one bin too: a mean of 1 is centred in it, not its lower edge */
    assert_int_equal(run("stats --data '%s/implicit.csv' --format delimited:comma:noheader --json --bins 1", g_dir),
                     0);
    h = strstr(g_out, "\"mean_rating_per_user\"");
    assert_non_null(h);
    tu_expect_in(h, "\"histogram\":{\"edges\":[0.5,1.5],\"counts\":[2],\"last_bin_closed\":false}");
}

/* --json says whether each histogram's last bin holds its upper edge, as
 * the text's closing bracket does: ']' when the edge is the largest value,
 * ')' when it lies past it (whole-number bins of counts); a program could
 * not tell from the edges and counts alone. Each histogram's
 * last_bin_closed is the text's bracket: true when the last edge is the
 * summary's max, false when it lies above it; the count histograms of the test data
 * end past their largest count, the mean histograms at their largest mean. */
static void test_stats_json_last_bin_closed(void **state)
{
    (void)state;
    static const char *const keys[] = {"ratings_per_user", "mean_rating_per_user", "ratings_per_movie",
                                       "mean_rating_per_movie"};
    static const char *const titles[] = {"\nRatings per user\n", "\nMean rating per user\n",
                                         "\nRatings per movie\n", "\nMean rating per movie\n"};
    static const bool want[] = {false, true, false, true};
    for (int bins = 1; bins <= 20; bins += 19) {
        assert_int_equal(run("stats --data '%s' --bins %d", g_data, bins), 0);
        char *text = strdup(g_out);
        assert_int_equal(run("stats --data '%s' --bins %d --json", g_data, bins), 0);
        tu_expect_json(g_out);
        for (int x = 0; x < 4; x++) {
            /* the text: the bracket that ends the section's last bin line */
            const char *t = strstr(text, titles[x]);
            assert_non_null(t);
            t += strlen(titles[x]);
            const char *end = strstr(t, "\n\n");
            if (!end) end = t + strlen(t);
            const char *br = NULL;
            for (const char *p = t; p < end; p++)
                if (*p == ']' || *p == ')') br = p;
            assert_non_null(br);
            /* the JSON: the object's summary max, last edge and the field */
            char key[64];
            snprintf(key, sizeof key, "\"%s\":{\"summary\":", keys[x]);
            const char *j = strstr(g_out, key);
            assert_non_null(j);
            const double max = tu_json_num(j, "max");
            const char *edges = strstr(j, "\"edges\":[");
            assert_non_null(edges);
            const char *close = strchr(edges, ']');
            const char *last = close;
            while (last[-1] != ',' && last[-1] != '[') last--;
            const double hi = strtod(last, NULL);
            const char *f = strstr(j, "\"last_bin_closed\":");
            assert_non_null(f);
            assert_true(f > close && f < strchr(close, '}')); /* in this histogram */
            f += strlen("\"last_bin_closed\":");
            const bool closed = strncmp(f, "true", 4) == 0;
            if (!closed && strncmp(f, "false", 5) != 0) fail_msg("%s: last_bin_closed is %.8s", keys[x], f);
            if (closed != (*br == ']'))
                fail_msg("%s (%d bins): last_bin_closed %d, the text's bracket '%c'", keys[x], bins, closed, *br);
            /* the summary's max has 10 digits, the outer edge all 17: a
             * reader comparing them could not tell (hence the field) */
            if (closed) assert_true(fabs(hi - max) <= 1e-9 * fabs(max));
            else assert_true(hi > max);
            assert_int_equal(closed, want[x]);
        }
        free(text);
    }
}

/* ML-1M's users.dat holds age groups' codes (1 = under 18, 56 = 56+):
 * stats counts the groups instead of averaging the codes as ages. */
static void test_stats_ml1m_age_groups(void **state)
{
    (void)state;
    char *d = tu_path(g_dir, "ml1m_ages");
    assert_int_equal(mkdir(d, 0755), 0);
    tu_write_file(d, "ratings.dat", "1::10::5::978300760\n2::10::4::978301968\n3::20::2::978824291\n", (size_t)-1);
    tu_write_file(d, "movies.dat", "10::Foo (1999)::Comedy\n20::Bar (2000)::Action\n", (size_t)-1);
    tu_write_file(d, "users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n3::M::1::15::55117\n", (size_t)-1);
    assert_int_equal(run("stats --data '%s'", d), 0);
    assert_null(strstr(g_out, "user age "));
    tu_expect_in(g_out, "Users by age group (ML-1M's users.dat gives groups, not ages)\n"
                        "  age group    count   share\n"
                        "  under 18         2   66.7%\n"
                        "  56+              1   33.3%\n");
    /* ratings per movie are 1 and 2: one bin for each, not 20 between them */
    tu_expect_in(g_out, "Ratings per movie\n  [1, 2)                     1  ");
    tu_expect_in(g_out, "\n  [2, 3)                     1  ");
    assert_int_equal(run("stats --data '%s' --json", d), 0);
    tu_expect_in(g_out, "\"age\":null,\"age_group\":[{\"name\":\"under 18\",\"count\":2},{\"name\":\"56+\",\"count\":1}]");
    /* ML-10M's layout has no users.dat: no ages, and no empty group table */
    char *d10 = tu_path(g_dir, "ml10m_ages");
    assert_int_equal(mkdir(d10, 0755), 0);
    tu_write_file(d10, "ratings.dat", "1::10::5::978300760\n2::20::4::978301968\n", (size_t)-1);
    tu_write_file(d10, "movies.dat", "10::Foo (1999)::Comedy\n20::Bar (2000)::Action\n", (size_t)-1);
    assert_int_equal(run("stats --data '%s'", d10), 0);
    /* every user rated one movie: one bin [1, 2], not 20 fractional ones */
    tu_expect_in(g_out, "Ratings per user\n  [1, 2)                     2  ");
    assert_null(strstr(g_out, "[0.5"));
    assert_null(strstr(g_out, "age group"));
    tu_expect_in(g_out, "user age                    0   (no data)");
    free(d10);
    free(d);
}

/* The number after `key` in text, at or after `from`. */
static double json_value_after(const char *from, const char *key)
{
    const char *p = strstr(from, key);
    if (!p) fail_msg("no %s in %s", key, from);
    return strtod(p + strlen(key), NULL);
}

/* A histogram's outer edges in --json hold the smallest and largest value
 * (a program re-binning from them must not lose one): a user's mean of
 * 130/87 = 1.4942528735632183 printed with 10 digits is 1.494252874, above
 * it; norms printed its largest bin's edge from the double norm, 1e-7
 * below the list's float norm. */
static void test_json_histograms_hold_their_values(void **state)
{
    (void)state;
    char text[4096];
    size_t len = 0;
    for (int x = 0; x < 87; x++) /* user 1: 43 ratings of 2 and 44 of 1, a mean of 130/87 */
        len += (size_t)snprintf(text + len, sizeof text - len, "1,%d,%d\n", x + 1, x < 43 ? 2 : 1);
    len += (size_t)snprintf(text + len, sizeof text - len, "2,1,5\n");
    tu_write_file(g_dir, "means.csv", text, len);
    assert_int_equal(run("stats --data '%s/means.csv' --format delimited:comma:noheader --json --bins 7", g_dir),
                     0);
    const char *h = strstr(g_out, "\"mean_rating_per_user\"");
    assert_non_null(h);
    const double lo = json_value_after(h, "\"edges\":[");
    assert_true(lo <= 130.0 / 87.0);
    assert_float_equal(lo, 130.0 / 87.0, 0.0);
    /* and the 10-digit values printed beside them: movie 1's mean of 38/11
     * is 3.454545455 in the summary's max and in best_rated, above the
     * edge in full, 3.4545454545454546, which a program re-binning them
     * lost; the edge is now the printed value */
    len = 0;
    for (int x = 0; x < 11; x++) /* 5 fives, a three and 5 twos: 38 */
        len += (size_t)snprintf(text + len, sizeof text - len, "%d,1,%d\n", x + 1, x < 5 ? 5 : x == 5 ? 3 : 2);
    len += (size_t)snprintf(text + len, sizeof text - len, "1,2,1\n");
    tu_write_file(g_dir, "edge.csv", text, len);
    assert_int_equal(
        run("stats --data '%s/edge.csv' --format delimited:comma:noheader --json --bins 4 --min-ratings 1", g_dir),
        0);
    tu_expect_json(g_out);
    h = strstr(g_out, "\"mean_rating_per_movie\"");
    assert_non_null(h);
    const double max = json_value_after(h, "\"max\":");
    const char *edges = strstr(h, "\"edges\":[");
    assert_non_null(edges);
    const char *last_edge = strstr(edges, "],");
    while (last_edge[-1] != ',') last_edge--;
    const double top = strtod(last_edge, NULL);
    assert_true(max == 3.454545455 && top >= max);
    assert_true(json_value_after(strstr(g_out, "\"best_rated\""), "\"mean_rating\":") <= top);
    tu_expect_in(h, "\"last_bin_closed\":true}");
    /* every movie's norm (the list has them all) within the outer edges */
    assert_int_equal(run("norms --model '%s' --data '%s' --bins 5 --top 100000 --json", g_model, g_data), 0);
    /* the list length asked for, "top" as in every JSON output (more than the list holds here) */
    tu_expect_in(g_out, "\"top\":100000,\"min_ratings\":0,");
    /* stats' histogram form: 6 edges, 5 counts, the last bin closed */
    const char *hist = strstr(g_out, "\"histogram\":{\"edges\":[");
    assert_non_null(hist);
    const double first = json_value_after(hist, "\"edges\":[");
    const char *edges_end = strstr(hist, "],\"counts\":[");
    assert_non_null(edges_end);
    const char *last = edges_end;
    while (last > hist && last[-1] != ',') last--; /* the last edge */
    const double hi = strtod(last, NULL);
    int commas = 0;
    for (const char *p = hist; p < edges_end; p++) commas += *p == ',';
    assert_int_equal(commas, 5);
    tu_expect_in(hist, "\"last_bin_closed\":true}}");
    int n = 0;
    for (const char *p = g_out; (p = strstr(p, "\"norm\":")) && p < hist; p++, n++) {
        const double v = strtod(p + strlen("\"norm\":"), NULL);
        if (!(v >= first && v <= hi)) fail_msg("norm %.9g outside the edges [%.9g, %.9g]", v, first, hi);
    }
    assert_true(n > 50);
}

/* A sample standard deviation of one value is undefined: "-" in the
 * table, null in --json (it printed 0.00). */
static void test_stats_std_of_one_value(void **state)
{
    (void)state;
    tu_write_file(g_dir, "one.csv", "1,1,4\n", (size_t)-1);
    assert_int_equal(run("stats --data '%s/one.csv' --format delimited:comma:noheader", g_dir), 0);
    tu_expect_in(g_out, "  ratings per user            1     1.00        -       1");
    assert_int_equal(run("stats --data '%s/one.csv' --format delimited:comma:noheader --json", g_dir), 0);
    tu_expect_json(g_out);
    tu_expect_in(g_out, "\"ratings_per_user\":{\"summary\":{\"count\":1,\"mean\":1,\"std\":null,");
}

/* Without u.item the movies' genres are unknown (u.genre alone names
 * them): stats listed every genre with 0 movies, in the table, --json and
 * a genres chart of empty bars; now it says the genres are unknown, as a
 * dataset without genres has none (an empty "genres", no chart). */
static void test_stats_genres_unknown_without_movie_data(void **state)
{
    (void)state;
    char *d = tu_path(g_dir, "no_item");
    assert_int_equal(mkdir(d, 0755), 0);
    tu_write_file(d, "u.data", "1\t1\t4\t1\n2\t1\t3\t2\n2\t2\t5\t3\n", (size_t)-1);
    tu_write_file(d, "u.genre", "unknown|0\nAction|1\nComedy|2\n", (size_t)-1);
    assert_int_equal(run("stats --data '%s'", d), 0);
    tu_expect_in(g_out, "Movies by genre: unknown (no movie has a genre listed");
    assert_null(strstr(g_out, "Action"));
    assert_int_equal(run("stats --data '%s' --json", d), 0);
    tu_expect_json(g_out);
    tu_expect_in(g_out, "\"genres\":[],\"movies_without_genres\":0}");
    free(d);
}

/* Whole mean ratings (one rating a user) get bins over their range, not
 * the whole-number bins of counts, which ran past the ratings: means of 1
 * to 5 in 4 bins were [1, 3), [3, 5), [5, 7), [7, 9). */
static void test_stats_whole_means_keep_their_range(void **state)
{
    (void)state;
    tu_write_file(g_dir, "whole_means.csv", "1,1,1\n2,1,2\n3,2,3\n4,2,4\n5,3,5\n", (size_t)-1);
    assert_int_equal(run("stats --data '%s/whole_means.csv' --format delimited:comma:noheader --bins 4 --json",
                         g_dir), 0);
    tu_expect_json(g_out);
    tu_expect_in(g_out, "\"mean_rating_per_user\":{\"summary\":{\"count\":5,\"mean\":3,\"std\":1.58113883,"
                        "\"min\":1,\"25%\":2,\"50%\":3,\"75%\":4,\"max\":5},\"histogram\":{\"edges\":[1,2,3,4,5],"
                        "\"counts\":[1,1,1,2],\"last_bin_closed\":true}}");
    /* counts keep their whole-number bins: [1, 2) of ratings per user */
    tu_expect_in(g_out, "\"ratings_per_user\":{\"summary\":{\"count\":5,\"mean\":1,");
}

/* The genres chart's labels are the genres' names: gnuplot reads a data
 * file's "string" with backslash escapes, so a name's backslash is doubled
 * in genres.dat (a genre "A\\B" was labelled "A\B", "x\ny" in two lines). */
static void test_stats_genre_names_with_backslashes(void **state)
{
    (void)state;
    if (!g_gnuplot) skip();
    char *d = tu_path(g_dir, "odd_genres"), *pl = tu_path(g_dir, "odd_genres_plots");
    assert_int_equal(mkdir(d, 0755), 0);
    const char *titles[] = {"A (1995)", "B (1996)"};
    tu_write_titled_dataset(d, titles, 2, 3); /* genre 8 for both */
    char genres[1024];
    size_t len = 0;
    for (int g = 0; g < 19; g++) {
        char name[32];
        snprintf(name, sizeof name, "G%c", 'a' + g);
        len += (size_t)snprintf(genres + len, sizeof genres - len, "%s|%d\n",
                                g == 8 ? "A\\B \"x\\ny\"" : g == 0 ? "unknown" : name, g);
    }
    tu_write_file(d, "u.genre", genres, len);
    assert_int_equal(run("stats --data '%s' --plot '%s'", d, pl), 0);
    char *dat_path = tu_path(pl, "genres.dat");
    char *dat = tu_read_file(dat_path, NULL);
    assert_non_null(dat);
    tu_expect_in(dat, "\"A\\\\B 'x\\\\ny'\"\n");
    free(dat), free(dat_path), free(d), free(pl);
}

/* norms' last bin is [lo, hi] only when hi is the largest norm, as stats'
 * histograms say it: one norm gets a range around it, whose last edge lies
 * past it (it said "]" and "last_bin_closed":true). */
static void test_norms_last_bin_of_one_norm(void **state)
{
    (void)state;
    char *d = tu_path(g_dir, "one_norm"), *m = tu_path(g_dir, "one_norm.mfr");
    assert_int_equal(mkdir(d, 0755), 0);
    tu_write_file(d, "r.tsv", "1\t1\t4\t1\n2\t1\t3\t2\n3\t1\t5\t3\n3\t2\t1\t4\n", (size_t)-1);
    assert_int_equal(run("train --data '%s/r.tsv' --split none --epochs 1 --quiet --out '%s'", d, m), 0);
    assert_int_equal(run("norms --model '%s' --min-ratings 3 --bins 2 --json", m), 0);
    tu_expect_json(g_out);
    tu_expect_in(g_out, "\"last_bin_closed\":false}");
    assert_int_equal(run("norms --model '%s' --min-ratings 3 --bins 2", m), 0);
    assert_null(strstr(g_out, "]      0"));
    assert_null(strstr(g_out, "]      1"));
    /* two norms: the last edge is the largest, closed */
    assert_int_equal(run("norms --model '%s' --bins 2 --json", m), 0);
    tu_expect_in(g_out, "\"last_bin_closed\":true}");
    free(d), free(m);
}

/* A tiny dataset with Latin-1 titles (converted to UTF-8 by the loader) of
 * different byte and code point lengths: the columns after the titles must
 * line up by code points. */
static void test_stats_aligns_utf8_titles(void **state)
{
    (void)state;
    char *d = tu_path(g_dir, "utf8");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", d);
    assert_int_equal(system(cmd), 0);
    const char *flags = "|0|0|0|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0\n";
    char item[1024];
    snprintf(item, sizeof item,
             "1|Mis\xe9rables, Les (1995)|01-Jan-1995||http://x%s"
             "2|Plain (1990)|01-Jan-1990||http://x%s"
             "3|\xc9t\xe9 \xe0 \xc9vreux (1999)|01-Jan-1999||http://x%s",
             flags, flags, flags);
    tu_write_file(d, "u.item", item, (size_t)-1);
    tu_write_file(d, "u.data",
                  "1\t1\t5\t1\n2\t1\t4\t1\n3\t1\t3\t1\n1\t2\t2\t1\n2\t2\t2\t1\n1\t3\t4\t1\n",
                  (size_t)-1);
    assert_int_equal(run("stats --data '%s' --min-ratings 0", d), 0);
    tu_expect_in(g_out, "Mis\xc3\xa9rables, Les (1995)");
    const char *t = strstr(g_out, "Most rated movies");
    assert_non_null(t);
    /* The display column (code points) where "ratings"/the count ends must
     * be the same on the header and the three rows. */
    int cols[4], rows = 0;
    const char *line = strchr(t, '\n') + 1;
    while (rows < 4 && *line && *line != '\n') {
        const char *eol = strchr(line, '\n');
        /* Scan back over the last field (the mean) and the gap before it. */
        const char *p = eol;
        while (p > line && p[-1] != ' ') p--;
        while (p > line && p[-1] == ' ') p--;
        int w = 0;
        for (const char *q = line; q < p; q++) w += ((unsigned char)*q & 0xC0) != 0x80;
        cols[rows++] = w;
        line = eol + 1;
    }
    assert_int_equal(rows, 4);
    for (int r = 1; r < 4; r++)
        if (cols[r] != cols[0]) fail_msg("row %d ends its count at column %d, header at %d:\n%s", r, cols[r], cols[0], t);
    free(d);
}

static char g_genre_path[4096];

/* The genre flags of the synthetic u.item: flags[item * 32 + g]; returns
 * the item count (at most 1000) and sets *n_genres from u.genre. */
static int read_genres(uint8_t *flags, int *n_genres)
{
    snprintf(g_genre_path, sizeof g_genre_path, "%s/u.genre", g_data);
    *n_genres = count_lines(g_genre_path);
    char *item = tu_path(g_data, "u.item");
    char *text = tu_read_file(item, NULL);
    assert_non_null(text);
    int n = 0;
    for (char *line = strtok(text, "\n"); line && n < 1000; line = strtok(NULL, "\n"), n++) {
        int fields = 0;
        for (char *c = line; *c; c++) fields += *c == '|';
        /* the last n_genres fields are the flags */
        char *c = line;
        for (int f = 0; f < fields + 1 - *n_genres; c++)
            if (*c == '|') f++;
        for (int g = 0; g < *n_genres; g++) {
            flags[n * 32 + g] = (uint8_t)(*c == '1');
            c = strchr(c, '|');
            if (c) c++;
        }
    }
    free(text);
    free(item);
    return n;
}

/* How many genres some movie of the synthetic data has. */
static int genres_with_movies(void)
{
    static uint8_t flags[1000 * 32];
    int n_genres, n = read_genres(flags, &n_genres), with = 0;
    for (int g = 0; g < n_genres; g++) {
        int any = 0;
        for (int i = 0; i < n; i++) any |= flags[i * 32 + g];
        with += any;
    }
    return with;
}

/* stats --plot's new charts hold the data's numbers: movies per genre
 * (from u.item) and the histogram of the movies' mean ratings (from
 * u.data; a mean on a bin edge may fall on either side). */
static void check_stats_plot_data(const char *sp)
{
    static uint8_t flags[1000 * 32];
    int n_genres, n_items = read_genres(flags, &n_genres);
    char *gd = tu_path(sp, "genres.dat");
    char *text = tu_read_file(gd, NULL);
    assert_non_null(text);
    char *gf = tu_read_file(g_genre_path, NULL);
    int g = 0;
    for (char *line = strtok(gf, "\n"); line && g < n_genres; line = strtok(NULL, "\n"), g++) {
        *strchr(line, '|') = 0;
        int count = 0;
        for (int i = 0; i < n_items; i++) count += flags[i * 32 + g];
        char want[96];
        snprintf(want, sizeof want, " %d \"%s\"\n", count, line);
        /* "unknown" is no genre: not a bar (test_plots_unknown_genre) */
        if (strcmp(line, "unknown") != 0) tu_expect_in(text, want);
        else if (strstr(text, want)) fail_msg("'unknown' charted as a genre:\n%s", text);
    }
    free(gf);
    free(text);
    /* the x axis reaches past the longest bar, so that its label (" 725")
     * stays in the picture: an axis autoscaled to that bar cut it off */
    double bars[3 * 40], longest = 0, top = 0;
    int n_bars = tu_read_dat(gd, 2, bars, 40, NULL);
    assert_true(n_bars > 0);
    for (int b = 0; b < n_bars; b++) longest = fmax(longest, bars[2 * b + 1]);
    char *gp = tu_path(sp, "genres.gp"), *script = tu_read_file(gp, NULL);
    assert_non_null(script);
    const char *xr = strstr(script, "set xrange [0:");
    if (!xr || sscanf(xr, "set xrange [0:%lf]", &top) != 1 || top < longest * 1.04)
        fail_msg("genres.gp leaves no room for the label of its longest bar (%g):\n%s", longest, script);
    free(script);
    free(gp);
    free(gd);

    static double sum[1001], cnt[1001];
    memset(sum, 0, sizeof sum);
    memset(cnt, 0, sizeof cnt);
    char *ud = tu_path(g_data, "u.data");
    text = tu_read_file(ud, NULL);
    assert_non_null(text);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        int u, i;
        double r;
        if (sscanf(line, "%d %d %lf", &u, &i, &r) == 3 && i >= 1 && i <= 1000) {
            sum[i] += r;
            cnt[i] += 1;
        }
    }
    free(text);
    free(ud);
    double bins[3 * 20];
    char *md = tu_path(sp, "mean_rating_per_movie.dat");
    assert_int_equal(tu_read_dat(md, 3, bins, 20, NULL), 20);
    long total = 0, rated = 0;
    for (int b = 0; b < 20; b++) {
        double lo = bins[3 * b], hi = bins[3 * b + 1];
        long inside = 0, near = 0;
        for (int i = 1; i <= 1000; i++) {
            if (!cnt[i]) continue;
            double m = sum[i] / cnt[i];
            if (fabs(m - lo) < 1e-9 || fabs(m - hi) < 1e-9) near++;
            else if (m > lo && m < hi) inside++;
        }
        long got = (long)bins[3 * b + 2];
        if (got < inside || got > inside + near)
            fail_msg("bin [%g, %g) holds %ld movies, the data %ld (+%ld on its edges)", lo, hi, got,
                     inside, near);
        total += got;
    }
    for (int i = 1; i <= 1000; i++) rated += cnt[i] > 0;
    assert_int_equal(total, rated);
    free(md);
    const char *names[] = {"mean_rating_per_movie", "genres"};
    for (int n = 0; n < 2; n++)
        for (int e = 0; e < 2; e++) {
            char f[128];
            snprintf(f, sizeof f, "%s.%s", names[n], e ? "svg" : "png");
            expect_file(sp, f);
        }
}

/* The colour ("#RRGGBB") a chart's script gives the clause titled NAME
 * (or "NAME (count)", a panel's), into out[8]; "" when none is. */
static void colour_of(const char *dir, const char *chart, const char *name, char *out)
{
    char *gp = tu_path(dir, chart), *script = tu_read_file(gp, NULL);
    assert_non_null(script);
    char want[96] = "' title '";
    for (size_t n = strlen(want); *name && n + 3 < sizeof want; name++) {
        if (*name == '\'') want[n++] = '\''; /* gnuplot's '' in a quoted string */
        want[n++] = *name;
        want[n] = 0;
    }
    out[0] = 0;
    for (const char *at = strstr(script, want); at; at = strstr(at + 1, want)) {
        char next = at[strlen(want)];
        if ((next == '\'' || next == ' ') && at - script >= 7 && at[-7] == '#') {
            memcpy(out, at - 7, 7);
            out[7] = 0;
            break;
        }
    }
    free(script);
    free(gp);
}

/* A genre has one colour in stats' genre bars, project's picture and its
 * panels, fixed by its name: Drama and Comedy, the biggest in MovieLens,
 * the two most distinct whatever the data (the synthetic movies' biggest
 * genres are others). */
static void check_genre_colours(const char *sp, const char *pp)
{
    char *gf = tu_read_file(g_genre_path, NULL);
    assert_non_null(gf);
    int compared = 0;
    for (char *line = strtok(gf, "\n"); line; line = strtok(NULL, "\n")) {
        *strchr(line, '|') = 0;
        if (!strcmp(line, "unknown")) continue; /* no genre: no bar (test_plots_unknown_genre) */
        char bar[8], point[8], panel[8];
        colour_of(sp, "genres.gp", line, bar);
        colour_of(pp, "projection.gp", line, point);
        colour_of(pp, "projection_genres.gp", line, panel);
        if (!bar[0]) fail_msg("genres.gp gives %s no colour", line);
        if ((point[0] && strcmp(point, bar)) || (panel[0] && strcmp(panel, bar)))
            fail_msg("%s: %s in genres.gp, %s in projection.gp, %s in projection_genres.gp", line,
                     bar, point, panel);
        compared += point[0] != 0;
        if (!strcmp(line, "Drama")) assert_string_equal(bar, "#0072B2");
        if (!strcmp(line, "Comedy")) assert_string_equal(bar, "#D55E00");
    }
    assert_true(compared > 1);
    free(gf);
}

/* The PNG and SVG sizes a chart's script sets: w and h, or a failure when
 * the two differ. */
static void chart_size(const char *dir, const char *chart, int *w, int *h)
{
    char *gp = tu_path(dir, chart), *script = tu_read_file(gp, NULL);
    assert_non_null(script);
    const char *png = strstr(script, "pngcairo size "), *svg = strstr(script, "svg size ");
    int sw = 0, sh = 0;
    if (!png || !svg || sscanf(png, "pngcairo size %d,%d", w, h) != 2 ||
        sscanf(svg, "svg size %d,%d", &sw, &sh) != 2 || sw != *w || sh != *h)
        fail_msg("%s/%s: no size, or the PNG's and the SVG's differ:\n%s", dir, chart, script);
    free(script);
    free(gp);
}

/* A histogram's x labels are plain numbers ("0.5", not gnuplot's
 * "0.50000000" for a range that starts at 4.5e-08): its script sets %g. */
static void expect_plain_x_labels(const char *dir, const char *chart)
{
    char *gp = tu_path(dir, chart), *script = tu_read_file(gp, NULL);
    assert_non_null(script);
    if (!strstr(script, "set format x '%g'\n"))
        fail_msg("%s/%s: no plain x labels:\n%s", dir, chart, script);
    free(script);
    free(gp);
}

/* projection_genres' panels share one range that leaves the data a band
 * at the top for the panel's name (autoscaled, the names sat on points)
 * and a margin at each side (points sat on the border): block 0 of its
 * .dat holds every point. */
static void expect_panel_headroom(const char *pp)
{
    char *gp = tu_path(pp, "projection_genres.gp"), *script = tu_read_file(gp, NULL);
    char *dp = tu_path(pp, "projection_genres.dat"), *dat = tu_read_file(dp, NULL);
    assert_non_null(script);
    assert_non_null(dat);
    double x0, x1, y0, y1;
    const char *xr = strstr(script, "\nset xrange ["), *yr = strstr(script, "\nset yrange [");
    if (!xr || !yr || sscanf(xr, "\nset xrange [%lf:%lf]", &x0, &x1) != 2 ||
        sscanf(yr, "\nset yrange [%lf:%lf]", &y0, &y1) != 2)
        fail_msg("projection_genres.gp sets no ranges:\n%s", script);
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    int points = 0;
    for (const char *q = dat; *q && strncmp(q, "\n\n\n", 3); q = strchr(q, '\n') ? strchr(q, '\n') + 1 : "") {
        double x, y;
        if (*q == '#' || sscanf(q, "%lf %lf", &x, &y) != 2) continue;
        xlo = fmin(xlo, x), xhi = fmax(xhi, x), ylo = fmin(ylo, y), yhi = fmax(yhi, y), points++;
    }
    assert_true(points > 10 && xlo < xhi && ylo < yhi);
    if (!(x0 < xlo && x1 > xhi && y0 < ylo && y1 >= yhi + 0.15 * (yhi - ylo)))
        fail_msg("ranges [%g:%g] x [%g:%g] for points in [%g:%g] x [%g:%g]", x0, x1, y0, y1, xlo, xhi, ylo, yhi);
    free(script), free(gp), free(dat), free(dp);
}

/* One size for every chart of every command: each kind alike, and the
 * small multiples as wide as the rest. */
static void check_chart_sizes(const char *sp, const char *pp, const char *lp)
{
    const char *charts[][2] = {{sp, "ratings_per_user.gp"},   {sp, "mean_rating_per_movie.gp"},
                               {sp, "genres.gp"},             {pp, "projection.gp"},
                               {pp, "embedding_norms.gp"},    {lp, "learning_curve.gp"},
                               {lp, "loss_components.gp"}};
    int w0 = 0, h0 = 0;
    for (size_t c = 0; c < sizeof charts / sizeof *charts; c++) {
        int w, h;
        chart_size(charts[c][0], charts[c][1], &w, &h);
        if (c == 0) w0 = w, h0 = h;
        else if (w != w0 || h != h0)
            fail_msg("%s is %dx%d, %s %dx%d", charts[c][1], w, h, charts[0][1], w0, h0);
    }
    int w, h;
    chart_size(pp, "projection_genres.gp", &w, &h);
    assert_int_equal(w, w0); /* four panels to a row */
    expect_panel_headroom(pp);
}

/* "(no genres listed)" (movies.csv of ML-20M on) is no genre: not a bar of
 * stats' genre chart nor a panel of project's, its count said in their
 * titles; in the projection its movies are grey, "no genres". */
static void test_plots_no_genres(void **state)
{
    (void)state;
    if (!g_gnuplot) {
        fprintf(stderr, "SKIPPED: gnuplot is not on PATH\n");
        return;
    }
    char *d = tu_path(g_dir, "nogenres"), *sp = tu_path(g_dir, "nogenres_stats"),
         *pp = tu_path(g_dir, "nogenres_project"), *m = tu_path(g_dir, "nogenres.bin");
    assert_int_equal(mkdir(d, 0755), 0);
    static const char *const genres[] = {"Drama", "Comedy|Romance", "(no genres listed)", "Action|Biography"};
    char movies[4096] = "movieId,title,genres\n", ratings[65536] = "userId,movieId,rating,timestamp\n";
    for (int i = 1; i <= 24; i++)
        snprintf(movies + strlen(movies), sizeof movies - strlen(movies), "%d,Film %d (2001),%s\n", i,
                 i, genres[i % 4]);
    for (int u = 1; u <= 40; u++)
        for (int i = 1; i <= 24; i++)
            if ((u * 7 + i * 3) % 5 < 3)
                snprintf(ratings + strlen(ratings), sizeof ratings - strlen(ratings), "%d,%d,%d,1000\n", u,
                         i, 1 + (u * i) % 5);
    tu_write_file(d, "movies.csv", movies, (size_t)-1);
    tu_write_file(d, "ratings.csv", ratings, (size_t)-1);
    assert_int_equal(run("stats --data '%s' --plot '%s'", d, sp), 0);
    char *gd = tu_path(sp, "genres.dat"), *gg = tu_path(sp, "genres.gp");
    char *dat = tu_read_file(gd, NULL), *script = tu_read_file(gg, NULL);
    assert_non_null(dat);
    assert_non_null(script);
    tu_expect_in(dat, "\"Drama\"");
    if (strstr(dat, "no genres") || strstr(script, "title '(no genres listed)'"))
        fail_msg("'(no genres listed)' charted as a genre:\n%s", dat);
    tu_expect_in(script, "6 movies with no genres listed, not shown");
    /* a genre of the dataset's own shares a colour with a MovieLens one
     * past the palette: hatched, not drawn as that genre's bar */
    const char *bio = strstr(script, "title 'Biography'");
    assert_non_null(bio);
    const char *clause = bio;
    while (clause > script && strncmp(clause, "'genres.dat'", 12) != 0) clause--;
    char *hatch = strstr(clause, "fs pattern ");
    assert_true(hatch && hatch < bio);
    free(dat), free(script), free(gd), free(gg);

    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 3 --epochs 5 --threads 1 --quiet "
                         "--out '%s'",
                         d, m),
                     0);
    assert_int_equal(run("project --model '%s' --data '%s' --plot '%s'", m, d, pp), 0);
    char *pg = tu_path(pp, "projection.gp");
    script = tu_read_file(pg, NULL);
    assert_non_null(script);
    tu_expect_in(script, "lc rgb '#b0b0b0' title 'no genres'");
    assert_null(strstr(script, "(no genres listed)"));
    free(script), free(pg);
    pg = tu_path(pp, "projection_genres.gp");
    script = tu_read_file(pg, NULL);
    assert_non_null(script);
    tu_expect_in(script, "title 'Drama (6)'");
    assert_null(strstr(script, "title '(no genres listed)"));
    tu_expect_in(script, "6 movies with no genres listed: no panel");
    free(script), free(pg);
    free(d), free(sp), free(pp), free(m);
}

/* A model of a rating file without movie data: no movie has a genre, so
 * project draws no projection_genres and its report does not claim one;
 * --genre says that the data has no genres instead of an empty list. */
static void test_project_without_genres(void **state)
{
    (void)state;
    if (!g_gnuplot) {
        fprintf(stderr, "SKIPPED: gnuplot is not on PATH\n");
        return;
    }
    char *src = tu_path(g_data, "u.data"), *r = tu_path(g_dir, "plain.tsv"), *m = tu_path(g_dir, "plain.bin"),
         *pp = tu_path(g_dir, "plain_project");
    char *text = tu_read_file(src, NULL);
    assert_non_null(text);
    tu_write_file(g_dir, "plain.tsv", text, (size_t)-1);
    free(text);
    assert_int_equal(run("train --data '%s' --dim 3 --epochs 3 --threads 1 --quiet --out '%s'", r, m), 0);
    assert_int_equal(run("project --model '%s' --plot '%s' --top 1", m, pp), 0);
    expect_file(pp, "projection.png");
    expect_file(pp, "embedding_norms.png");
    char *pg = tu_path(pp, "projection_genres.png");
    assert_false(tu_exists(pg));
    expect_not_in(g_out, "projection_genres and");
    tu_expect_in(g_out, "no projection_genres: no movie shown has a genre");
    /* nor does the picture's title send the reader to the chart not drawn */
    char *gp = tu_path(pp, "projection.gp"), *script = tu_read_file(gp, NULL);
    assert_non_null(script);
    expect_not_in(script, "projection_genres");
    tu_expect_in(script, "one colour: no movie shown has a genre");
    free(gp), free(script);
    assert_int_equal(run("project --model '%s' --plot '%s' --genre Drama", m, pp), 1);
    tu_expect_in(g_err, "--genre: ");
    tu_expect_in(g_err, "has no genres");
    expect_not_in(g_err, "known genres:");
    free(src), free(r), free(m), free(pp), free(pg);
}

/* ML-100K's "unknown" genre (its movies' genres are not known) is no
 * genre either; and a genre chart of small counts has whole-number tics,
 * not gnuplot's 0.5 steps. */
static void test_plots_unknown_genre(void **state)
{
    (void)state;
    if (!g_gnuplot) {
        fprintf(stderr, "SKIPPED: gnuplot is not on PATH\n");
        return;
    }
    char *d = tu_path(g_dir, "unknowngenre"), *sp = tu_path(g_dir, "unknowngenre_stats");
    assert_int_equal(mkdir(d, 0755), 0);
    /* the 19 flags: unknown, Action, Adventure, Animation, Children's, Comedy, ... Drama (8) */
    static const char *const flags[] = {"|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n",
                                        "|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n",
                                        "|0|0|0|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0\n"};
    char item[2048] = "", data[4096] = "";
    for (int i = 1; i <= 4; i++)
        snprintf(item + strlen(item), sizeof item - strlen(item), "%d|Film %d (2001)|01-Jan-2001||http://x%s",
                 i, i, flags[i == 1 ? 0 : i == 2 ? 1 : 2]);
    for (int u = 1; u <= 5; u++)
        for (int i = 1; i <= 4; i++)
            snprintf(data + strlen(data), sizeof data - strlen(data), "%d\t%d\t%d\t1\n", u, i, 1 + (u + i) % 5);
    tu_write_file(d, "u.item", item, (size_t)-1);
    tu_write_file(d, "u.data", data, (size_t)-1);
    assert_int_equal(run("stats --data '%s' --plot '%s'", d, sp), 0);
    char *gd = tu_path(sp, "genres.dat"), *gg = tu_path(sp, "genres.gp");
    char *dat = tu_read_file(gd, NULL), *script = tu_read_file(gg, NULL);
    assert_non_null(dat);
    assert_non_null(script);
    tu_expect_in(dat, "1 \"Comedy\"");
    tu_expect_in(dat, "2 \"Drama\"");
    if (strstr(dat, "unknown") || strstr(script, "title 'unknown'"))
        fail_msg("'unknown' charted as a genre:\n%s", dat);
    tu_expect_in(script, "1 movie with no genres listed, not shown");
    tu_expect_in(script, "set xtics 1\n");
    /* the text and JSON count it apart from the genres, as the chart does */
    assert_int_equal(run("stats --data '%s'", d), 0);
    tu_expect_in(g_out, "  1 movie with no genres listed (\"unknown\" in the data)\n");
    const char *genre_table = strstr(g_out, "Movies by genre");
    assert_non_null(genre_table);
    tu_expect_in(genre_table, "  Comedy ");
    if (strstr(genre_table, "  unknown ")) fail_msg("'unknown' tallied as a genre:\n%s", genre_table);
    assert_int_equal(run("stats --data '%s' --json", d), 0);
    tu_expect_in(g_out, "{\"name\":\"Western\",\"count\":0}],\"movies_without_genres\":1}");
    assert_non_null(strstr(g_out, "\"genres\":"));
    assert_null(strstr(strstr(g_out, "\"genres\":"), "\"unknown\""));
    free(dat), free(script), free(gd), free(gg);
    free(d), free(sp);
}

/* A chart the run does not draw (a dataset without genres) leaves no
 * earlier run's chart of that name beside the new ones; files of that
 * name that mfrec did not write are not the run's to remove. */
static void test_plots_remove_undrawn_chart(void **state)
{
    (void)state;
    if (!g_gnuplot) {
        fprintf(stderr, "SKIPPED: gnuplot is not on PATH\n");
        return;
    }
    char *sp = tu_path(g_dir, "undrawn_stats"), *csv = tu_path(g_dir, "undrawn.csv");
    tu_write_file(g_dir, "undrawn.csv", "1,1,4\n1,2,3\n2,1,5\n2,3,2\n3,2,4\n", (size_t)-1);
    assert_int_equal(run("stats --data '%s' --plot '%s'", g_data, sp), 0);
    char *png = tu_path(sp, "genres.png"), *gp = tu_path(sp, "genres.gp"), *hist = tu_path(sp, "ratings_per_user.png");
    struct stat st;
    assert_int_equal(stat(png, &st), 0);
    assert_int_equal(run("stats --data '%s' --format delimited:comma:noheader --plot '%s'", csv, sp), 0);
    if (stat(png, &st) == 0 || stat(gp, &st) == 0) fail_msg("the earlier run's genres chart is still in %s", sp);
    assert_int_equal(stat(hist, &st), 0);
    tu_expect_in(g_err, "genres.* from an earlier run: this run draws no genres chart");
    /* files of that name that mfrec did not write are the user's: kept */
    tu_write_file(sp, "genres.gp", "set term dumb\n", (size_t)-1);
    tu_write_file(sp, "genres.png", "not a chart\n", (size_t)-1);
    assert_int_equal(run("stats --data '%s' --format delimited:comma:noheader --plot '%s'", csv, sp), 0);
    assert_int_equal(stat(png, &st), 0);
    assert_int_equal(stat(gp, &st), 0);
    assert_null(strstr(g_err, "removed"));
    assert_int_equal(unlink(png), 0);
    /* a symbolic link named as the chart is refused as an output, as
     * always (before anything is drawn or removed), and stays */
    assert_int_equal(symlink(csv, png), 0);
    assert_int_equal(run("stats --data '%s' --format delimited:comma:noheader --plot '%s'", csv, sp), 1);
    tu_expect_in(g_err, "genres.png");
    assert_int_equal(lstat(png, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    free(sp), free(csv), free(png), free(gp), free(hist);
}

/* A chart of more points than MFREC_SVG_MAX_POINTS gets no SVG (the
 * script draws it on request, an earlier run's goes, stdout and a note say
 * so); one of exactly that many keeps it; a bad value is a usage error
 * before any work. */
static void test_plots_large_chart_svg_on_request(void **state)
{
    (void)state;
    if (!g_gnuplot) {
        fprintf(stderr, "SKIPPED: gnuplot is not on PATH\n");
        return;
    }
    char *pp = tu_path(g_dir, "svg_left_out"), *gsvg = tu_path(pp, "projection_genres.svg");
    char *psvg = tu_path(pp, "projection.svg"), *dat = tu_path(pp, "projection.dat");
    char *fresh = tu_path(g_dir, "svg_bad");
    char env[64], note[64], cmd[4200];
    assert_int_equal(run("project --model '%s' --data '%s' --plot '%s'", g_model, g_data, pp), 0);
    expect_file(pp, "projection_genres.svg");
    tu_expect_in(g_out, "(.png and .svg)\n");
    /* projection draws each movie once (a data line each): the limit at
     * its count keeps its SVG */
    char *text = tu_read_file(dat, NULL);
    assert_non_null(text);
    int points = 0;
    for (const char *q = text; *q; q = strchr(q, '\n') ? strchr(q, '\n') + 1 : "")
        points += *q != '#' && *q != '\n';
    free(text);
    assert_true(points > 10);
    snprintf(env, sizeof env, "MFREC_SVG_MAX_POINTS=%d", points);
    assert_int_equal(run_env(env, "project --model '%s' --data '%s' --plot '%s'", g_model, g_data, pp), 0);
    expect_file(pp, "projection.svg");
    expect_file(pp, "projection_genres.png");
    struct stat st;
    if (stat(gsvg, &st) == 0) fail_msg("the earlier run's %s is still there", gsvg);
    tu_expect_in(g_out, "(.png and .svg; no .svg for projection_genres)");
    tu_expect_in(g_err, "note: no ");
    tu_expect_in(g_err, "projection_genres.svg: its ");
    snprintf(note, sizeof note, "(MFREC_SVG_MAX_POINTS: %d)", points);
    tu_expect_in(g_err, note);
    expect_not_in(g_err, "projection.svg");
    /* the script draws it when asked, complete */
    snprintf(cmd, sizeof cmd, "cd '%s' && gnuplot -e svg=1 projection_genres.gp 2>/dev/null", pp);
    assert_int_equal(system(cmd), 0);
    char *svg = tu_read_file(gsvg, NULL);
    assert_non_null(svg);
    tu_expect_in(svg, "</svg>");
    free(svg);
    /* one point fewer: projection loses its SVG too */
    snprintf(env, sizeof env, "MFREC_SVG_MAX_POINTS=%d", points - 1);
    assert_int_equal(run_env(env, "project --model '%s' --data '%s' --plot '%s'", g_model, g_data, pp), 0);
    if (stat(psvg, &st) == 0 || stat(gsvg, &st) == 0) fail_msg("an SVG over the limit is in %s", pp);
    tu_expect_in(g_out, "no .svg for projection and projection_genres)");
    /* a bad limit: exit 2 naming it, before anything is made */
    for (const char *bad = "-1\0" "12x\0" "1e3\0"; *bad; bad += strlen(bad) + 1) {
        snprintf(env, sizeof env, "MFREC_SVG_MAX_POINTS='%s'", bad);
        assert_int_equal(run_env(env, "project --model '%s' --data '%s' --plot '%s'", g_model, g_data, fresh), 2);
        tu_expect_in(g_err, "MFREC_SVG_MAX_POINTS");
        tu_expect_in(g_err, bad);
        if (stat(fresh, &st) == 0) fail_msg("%s was made by a refused run", fresh);
    }
    /* norms: the scatter loses its SVG, the histogram (bars) keeps its */
    assert_int_equal(run_env("MFREC_SVG_MAX_POINTS=0", "norms --model '%s' --data '%s' --plot '%s'", g_model,
                             g_data, pp),
                     0);
    tu_expect_in(g_out, "norm_vs_ratings.png (no .svg: see the note)");
    expect_file(pp, "item_norms.svg");
    expect_file(pp, "norm_vs_ratings.png");
    free(pp), free(gsvg), free(psvg), free(dat), free(fresh);
}

/* stats --plot's charts: their files, data, scales and labels, and a
 * stdout of pure JSON with --json. */
static void check_stats_plots_drawn(const char *sp)
{
    assert_int_equal(run("stats --data '%s' --plot '%s'", g_data, sp), 0);
    const char *names[] = {"ratings_per_user", "mean_rating_per_user", "ratings_per_movie"};
    for (int n = 0; n < 3; n++) {
        char f[128];
        for (int e = 0; e < 4; e++) {
            snprintf(f, sizeof f, "%s.%s", names[n], (const char *[]){"png", "svg", "dat", "gp"}[e]);
            expect_file(sp, f);
        }
    }
    check_stats_plot_data(sp);
    /* the counts of ratings (a long tail) on a log axis, said in its
     * label; the mean ratings on a linear one */
    const char *scales[][2] = {{"ratings_per_user.gp", "users (log scale)"},
                               {"ratings_per_movie.gp", "movies (log scale)"},
                               {"mean_rating_per_user.gp", NULL},
                               {"mean_rating_per_movie.gp", NULL}};
    for (int h = 0; h < 4; h++) {
        char *gp = tu_path(sp, scales[h][0]), *script = tu_read_file(gp, NULL);
        assert_non_null(script);
        if (scales[h][1]) {
            tu_expect_in(script, "\nset logscale y\n");
            tu_expect_in(script, scales[h][1]);
            tu_expect_in(script, "($3 > 0 ? $3 : NaN)"); /* an empty bin: no bar */
        } else if (strstr(script, "logscale")) {
            fail_msg("%s has a log axis:\n%s", scales[h][0], script);
        }
        free(script);
        free(gp);
    }
    /* --json keeps stdout pure JSON */
    assert_int_equal(run("stats --data '%s' --json --plot '%s'", g_data, sp), 0);
    assert_null(strstr(g_out, "wrote"));
    tu_expect_in(g_err, "wrote");
}

/* The charts of stats, project and train with gnuplot on PATH: their
 * files, data, scales, labels and sizes. */
static void check_plots_drawn(const char *sp, const char *pp)
{
    check_stats_plots_drawn(sp);
    /* a runtime error, as an unknown --user or --movie: the names are the data's */
    assert_int_equal(run("project --model '%s' --genre Nope --plot '%s'", g_model, pp), 1);
    tu_expect_in(g_err, "no genre named 'Nope'");
    /* the known genres are listed, in the error's one line */
    const char *line = strstr(g_err, "no genre named 'Nope'");
    const char *nl = strchr(line, '\n');
    const char *drama = strstr(line, "'Drama'");
    assert_non_null(drama);
    assert_true(nl && drama < nl);
    assert_ptr_equal(strstr(g_err, "mfrec project: "), strstr(g_err, "mfrec project: error: --genre"));
    assert_int_equal(run("project --model '%s' --plot '%s'", g_model, pp), 0);
    tu_expect_in(g_out, "PC1 explains");
    expect_file(pp, "projection.png");
    expect_file(pp, "projection.svg");
    expect_file(pp, "embedding_norms.png");
    expect_file(pp, "embedding_norms.svg");
    char *png = tu_path(pp, "projection.png");
    size_t len;
    char *bytes = tu_read_file(png, &len);
    assert_true(len > 8 && !memcmp(bytes, "\x89PNG\r\n\x1a\n", 8));
    free(bytes);
    free(png);
    char *svg = tu_path(pp, "projection.svg");
    bytes = tu_read_file(svg, &len);
    tu_expect_in(bytes, "<svg");
    tu_expect_in(bytes, "PCA"); /* the title */
    free(bytes);
    free(svg);
    /* t-SNE: the same files, titled as such */
    char *tp = tu_path(g_dir, "tsne_plots");
    assert_int_equal(run("project --model '%s' --method tsne --perplexity 10 --iterations 300 "
                         "--plot '%s'",
                         g_model, tp),
                     0);
    expect_file(tp, "projection.png");
    expect_file(tp, "projection.svg");
    char *tsvg = tu_path(tp, "projection.svg");
    bytes = tu_read_file(tsvg, &len);
    tu_expect_in(bytes, "t-SNE");
    free(bytes);
    free(tsvg);
    free(tp);
    /* every genre: one block of all movies, then one per genre that some movie has */
    char *pg = tu_path(pp, "projection_genres.dat");
    static double xy[2 * 4000];
    int blocks = 0, rows = tu_read_dat(pg, 2, xy, 4000, &blocks);
    int n_genres = count_lines(g_genre_path), with_movies = genres_with_movies();
    assert_true(with_movies > 1 && with_movies <= n_genres);
    assert_int_equal(blocks, 1 + with_movies);
    assert_true(rows > 80); /* 80 movies, then each again per genre it has */
    free(pg);
    expect_file(pp, "projection_genres.png");
    expect_file(pp, "projection_genres.svg");
    check_genre_colours(sp, pp);
    /* one genre against the rest */
    assert_int_equal(run("project --model '%s' --plot '%s' --genre drama", g_model, pp), 0);
    char *gp = tu_path(pp, "projection.gp");
    bytes = tu_read_file(gp, &len);
    tu_expect_in(bytes, "'Drama'");
    tu_expect_in(bytes, "'other genres'");
    /* the genre in its own colour, the rest in grey */
    tu_expect_in(bytes, "lc rgb '#0072B2' title 'Drama'");
    tu_expect_in(bytes, "lc rgb '#b0b0b0' title 'other genres'");
    free(bytes);
    free(gp);
    /* The learning curves, once `mfrec train` has --plot. */
    assert_int_equal(run("train --help"), 0);
    if (strstr(g_out, "--plot")) {
        char *lp = tu_path(g_dir, "train_plots");
        assert_int_equal(run("train --data '%s' --split random:0.2 --dim 4 --epochs 10 "
                             "--log-every 1 --threads 1 --quiet --plot '%s'",
                             g_data, lp),
                         0);
        expect_file(lp, "learning_curve.png");
        expect_file(lp, "learning_curve.svg");
        check_chart_sizes(sp, pp, lp);
        expect_plain_x_labels(sp, "ratings_per_user.gp");
        expect_plain_x_labels(sp, "mean_rating_per_movie.gp");
        expect_plain_x_labels(pp, "embedding_norms.gp");
        free(lp);
    } else {
        fprintf(stderr, "SKIPPED learning-curve check: `mfrec train` has no --plot yet\n");
    }
}

static void test_plots(void **state)
{
    (void)state;
    char *sp = tu_path(g_dir, "stats_plots"), *pp = tu_path(g_dir, "project_plots");
    if (!g_gnuplot) {
        fprintf(stderr, "SKIPPED picture file checks: gnuplot is not on PATH\n");
        assert_int_equal(run("stats --data '%s' --plot '%s'", g_data, sp), 1);
        tu_expect_in(g_err, "gnuplot");
        assert_int_equal(run("project --model '%s' --plot '%s'", g_model, pp), 1);
        tu_expect_in(g_err, "gnuplot");
    } else {
        check_plots_drawn(sp, pp);
    }
    /* Without gnuplot on PATH: a clear error and exit 1 (sh is found by
     * its absolute path in system()). */
    char *np = tu_path(g_dir, "no_gnuplot");
    assert_int_equal(run_env("PATH=/nonexistent", "stats --data '%s' --plot '%s'", g_data, np), 1);
    tu_expect_in(g_err, "gnuplot, which is not on PATH");
    assert_int_equal(run_env("PATH=/nonexistent", "project --model '%s' --plot '%s'", g_model, np), 1);
    tu_expect_in(g_err, "gnuplot, which is not on PATH");
    assert_false(tu_exists(np));
    /* A gnuplot that fails, or exits 0 without pictures (a full disk): the
     * error names the chart and says nothing was written, not a script
     * that the failed run removed; the directory is not made. */
    char *fake = tu_path(g_dir, "fakebin");
    char *fg = tu_path(fake, "gnuplot");
    assert_int_equal(mkdir(fake, 0755), 0);
    static const char fails[] = "#!/bin/sh\necho 'line 3: boom' >&2\nexit 1\n";
    static const char silent[] = "#!/bin/sh\nexit 0\n";
    /* gnuplot's own layout: a blank line first, the caret under the fault */
    static const char blank[] = "#!/bin/sh\nprintf '\\n  plot x\\n \\t\\n       ^\\n\\n  line 3: boom\\n\\n' >&2\nexit 1\n";
    const char *scripts[3] = {fails, silent, blank};
    const char *want[3] = {"gnuplot failed (exit status 1) drawing the chart ratings_per_user; "
                           "no --plot file was written. gnuplot said:\n  line 3: boom",
                           "gnuplot exited 0 but did not write ",
                           "was written. gnuplot said:\n    plot x\n         ^\n    line 3: boom\n"};
    char env[4200];
    snprintf(env, sizeof env, "PATH=%s:/usr/bin:/bin", fake);
    for (int x = 0; x < 3; x++) {
        FILE *f = fopen(fg, "w");
        assert_non_null(f);
        fputs(scripts[x], f);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(chmod(fg, 0755), 0);
        assert_int_equal(run_env(env, "stats --data '%s' --plot '%s'", g_data, np), 1);
        tu_expect_in(g_err, want[x]);
        assert_null(strstr(g_err, ".gp"));
        assert_false(tu_exists(np));
        /* the charts are drawn before anything else is printed or saved:
         * a failed chart leaves stdout empty (the JSON or the tables were
         * printed first) and the old model and log in place (train had
         * replaced them) */
        assert_int_equal(run_env(env, "stats --data '%s' --json --plot '%s'", g_data, np), 1);
        assert_string_equal(g_out, "");
        assert_int_equal(run_env(env, "norms --model '%s' --json --plot '%s'", g_model, np), 1);
        assert_string_equal(g_out, "");
        char *old_model = tu_path(g_dir, "kept.mfr"), *old_log = tu_path(g_dir, "kept.jsonl");
        tu_write_file(g_dir, "kept.mfr", "OLD MODEL", (size_t)-1);
        tu_write_file(g_dir, "kept.jsonl", "OLD LOG", (size_t)-1);
        assert_int_equal(run_env(env, "train --data '%s' --epochs 3 --dim 4 --quiet --out '%s' --log-json '%s' --plot '%s'",
                                 g_data, old_model, old_log, np),
                         1);
        tu_expect_in(g_err, "--plot failed, so the model was not saved: ");
        char *kept = tu_read_file(old_model, NULL), *kept_log = tu_read_file(old_log, NULL);
        assert_string_equal(kept, "OLD MODEL");
        assert_string_equal(kept_log, "OLD LOG");
        assert_false(tu_exists(np));
        free(kept), free(kept_log);
        /* the softmax model's outputs go the same way */
        assert_int_equal(run_env(env, "train --kind softmax --data '%s' --epochs 2 --dim 4 --quiet --out '%s' --log-json '%s' --plot '%s'",
                                 g_data, old_model, old_log, np),
                         1);
        tu_expect_in(g_err, "--plot failed, so the model was not saved: ");
        kept = tu_read_file(old_model, NULL), kept_log = tu_read_file(old_log, NULL);
        assert_string_equal(kept, "OLD MODEL");
        assert_string_equal(kept_log, "OLD LOG");
        assert_false(tu_exists(np));
        free(kept), free(kept_log), free(old_model), free(old_log);
    }
    free(fg);
    free(fake);
    free(np);
    free(sp);
    free(pp);
}

/* The first field of each line after the header (a movie id) of a TSV or
 * CSV table, into ids[] (sorted); returns how many. field: 0-based column. */
static int table_ids(const char *text, char sep, int field, long *ids, int max)
{
    int n = 0;
    const char *line = strchr(text, '\n');
    while (line && line[1] && n < max) {
        const char *f = line + 1;
        for (int c = 0; c < field && f; c++) {
            f = strchr(f, sep);
            if (f) f++;
        }
        assert_non_null(f);
        ids[n++] = strtol(f, NULL, 10);
        line = strchr(line + 1, '\n');
    }
    for (int a = 1; a < n; a++) /* insertion sort: a few dozen ids */
        for (int b = a; b > 0 && ids[b - 1] > ids[b]; b--) {
            long t = ids[b];
            ids[b] = ids[b - 1];
            ids[b - 1] = t;
        }
    return n;
}

/* project --min-ratings counts training ratings, as recommend, similar and
 * norms do: the model holds out 20% of the ratings, so the most rated
 * movie's total is more than its training count, and the movies selected
 * are exactly those norms --min-ratings lists. */
static void test_project_min_ratings_counts_training_ratings(void **state)
{
    (void)state;
    char *udata = tu_path(g_data, "u.data");
    char *text = tu_read_file(udata, NULL);
    assert_non_null(text);
    long total[81] = {0}, most = 0;
    int n_total40 = 0;
    for (const char *l = text; *l;) {
        long u, i;
        assert_int_equal(sscanf(l, "%ld %ld", &u, &i), 2);
        assert_true(i >= 1 && i <= 80);
        total[i]++;
        l = strchr(l, '\n');
        l = l ? l + 1 : "";
    }
    free(text);
    free(udata);
    for (int i = 1; i <= 80; i++) {
        if (total[i] > most) most = total[i];
        n_total40 += total[i] >= 40;
    }
    assert_int_equal(run("project --model '%s' --min-ratings %ld", g_model, most), 1);
    char want[96];
    snprintf(want, sizeof want, "no movie has at least %ld training ratings", most);
    tu_expect_in(g_err, want);

    char *tsv = tu_path(g_dir, "min40.tsv");
    long proj[81], listed[81];
    assert_int_equal(run("project --model '%s' --min-ratings 40 --out '%s'", g_model, tsv), 0);
    tu_expect_in(g_out, "the movies with at least 40 training ratings");
    char *coords = tu_read_file(tsv, NULL);
    int n_proj = table_ids(coords, '\t', 0, proj, 81);
    free(coords);
    free(tsv);
    assert_int_equal(run("norms --model '%s' --min-ratings 40 --top 1000 --csv", g_model), 0);
    int n_listed = table_ids(g_out, ',', 1, listed, 81);
    assert_int_equal(n_proj, n_listed);
    for (int x = 0; x < n_proj; x++) assert_int_equal(proj[x], listed[x]);
    assert_true(n_proj > 0);
    assert_true(n_proj < n_total40); /* counting every rating would select more */
}

static void test_project_text_and_coordinates(void **state)
{
    (void)state;
    char *tsv = tu_path(g_dir, "coords.tsv");
    assert_int_equal(run("project --model '%s' --out '%s' --top 2", g_model, tsv), 0);
    tu_expect_in(g_out, "PCA of 80 movie embeddings (k 6)");
    tu_expect_in(g_out, "PC1 explains");
    tu_expect_in(g_out, "PC2, highest:");
    tu_expect_in(g_out, "Embedding norm, lowest:");
    assert_int_equal(count_lines(tsv), 81);
    char *text = tu_read_file(tsv, NULL);
    assert_true(!strncmp(text, "movie\ttitle\tgenre\tpc1\tpc2\tnorm\tratings\n", 39));
    free(text);
    /* The same output twice: deterministic. */
    char *first = strdup(g_out);
    assert_int_equal(run("project --model '%s' --out '%s' --top 2", g_model, tsv), 0);
    assert_string_equal(first, g_out);
    free(first);
    /* a model of dimension 1 has one principal axis: no "PC2 0.00%" */
    char *k1 = tu_path(g_dir, "k1.mfr");
    assert_int_equal(run("train --data '%s' --dim 1 --epochs 3 --threads 1 --quiet --out '%s'", g_data, k1), 0);
    assert_int_equal(run("project --model '%s' --top 2", k1), 0);
    tu_expect_in(g_out, "(k 1: there is no PC2;");
    assert_null(strstr(g_out, "PC2 0.00%"));
    assert_null(strstr(g_out, "PC2, highest:"));
    free(k1);
    /* A subset by rating count. */
    assert_int_equal(run("project --model '%s' --min-ratings 40 --out '%s'", g_model, tsv), 0);
    tu_expect_in(g_out, "the movies with at least 40 training ratings");
    assert_true(count_lines(tsv) < 81);
    { /* the ratings column (the last) holds each movie's training ratings */
        char *t2 = tu_read_file(tsv, NULL);
        int rows = 0;
        for (const char *line = strchr(t2, '\n') + 1; *line; line = strchr(line, '\n') + 1, rows++) {
            const char *nl = strchr(line, '\n'), *tab = line;
            for (const char *q = line; q < nl; q++)
                if (*q == '\t') tab = q;
            assert_true(atoll(tab + 1) >= 40);
        }
        assert_int_equal(rows, count_lines(tsv) - 1);
        free(t2);
    }
    /* the movies at the ends of the axes are listed as every list lists
     * movies: with their id and training ratings, here all 40 or more */
    tu_expect_in(g_out, "PC1, lowest:\n        pc1    movie  ratings  title\n");
    tu_expect_in(g_out, "Embedding norm, highest:\n       norm    movie  ratings  title\n");
    {
        int rows = 0;
        for (const char *line = g_out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
            double v;
            long long id, ratings;
            if (sscanf(line, " %lf %lld %lld", &v, &id, &ratings) == 3) {
                assert_true(id >= 1 && id <= 80);
                assert_true(ratings >= 40);
                rows++;
            }
        }
        assert_true(rows >= 6 * 2);
    }
    assert_int_equal(run("project --model '%s' --min-ratings 100000", g_model), 1);
    tu_expect_in(g_err, "no movie has at least 100000 training ratings");

    /* t-SNE: its own columns and text, the same map for the same seed, another
     * for another seed; bad settings name the flag */
    assert_int_equal(run("project --model '%s' --method tsne --perplexity 10 --iterations 300 "
                         "--top 2 --out '%s'",
                         g_model, tsv),
                     0);
    tu_expect_in(g_out, "t-SNE of 80 movie embeddings (k 6)");
    tu_expect_in(g_out, "perplexity 10, 300 iterations, seed 1: KL divergence");
    tu_expect_in(g_out, "Embedding norm, lowest:");
    if (strstr(g_out, "PC1")) fail_msg("t-SNE output names principal axes:\n%s", g_out);
    assert_int_equal(count_lines(tsv), 81);
    char *t1 = tu_read_file(tsv, NULL);
    assert_true(!strncmp(t1, "movie\ttitle\tgenre\ttsne1\ttsne2\tnorm\tratings\n", 43));
    assert_int_equal(run("project --model '%s' --method tsne --perplexity 10 --iterations 300 "
                         "--out '%s'",
                         g_model, tsv),
                     0);
    char *t2 = tu_read_file(tsv, NULL);
    assert_string_equal(t1, t2);
    free(t2);
    assert_int_equal(run("project --model '%s' --method tsne --perplexity 10 --iterations 300 "
                         "--seed 7 --out '%s'",
                         g_model, tsv),
                     0);
    t2 = tu_read_file(tsv, NULL);
    assert_true(strcmp(t1, t2) != 0);
    free(t1);
    free(t2);
    assert_int_equal(run("project --model '%s' --method umap", g_model), 2);
    tu_expect_in(g_err, "--method must be pca or tsne, got 'umap'");
    assert_int_equal(run("project --model '%s' --method tsne --perplexity 80", g_model), 2);
    tu_expect_in(g_err, "--perplexity 80 must be below the number of movies mapped (80)");
    assert_int_equal(run("project --model '%s' --method tsne --iterations 0", g_model), 2);
    tu_expect_in(g_err, "--iterations");
    free(tsv);
}

/* One iteration, one training rating: singular words. */
static void test_project_singular_words(void **state)
{
    (void)state;
    assert_int_equal(run("project --model '%s' --method tsne --perplexity 10 --iterations 1 --min-ratings 1",
                         g_model),
                     0);
    tu_expect_in(g_out, "the movies with at least 1 training rating\n");
    tu_expect_in(g_out, "perplexity 10, 1 iteration, seed 1: KL divergence");
}

/* A model trained one epoch at a learning rate of 1e-12 from U and a V
 * whose row i is row(i) (k 4): in float, the factors do not move. */
static char *model_with_items(const char *name, void (*row)(int32_t i, float v[4]))
{
    char *d = tu_path(g_dir, name), *m = NULL;
    assert_int_equal(mkdir(d, 0755), 0);
    float U[120 * 4], V[80 * 4];
    for (int x = 0; x < 120 * 4; x++) U[x] = 0.1f;
    for (int32_t i = 0; i < 80; i++) row(i, V + 4 * i);
    char *up = tu_path(d, "U.npy"), *vp = tu_path(d, "V.npy");
    mfr_error err = {0};
    assert_int_equal(mfr_npy_write_f32(up, 120, 4, U, &err), MFR_OK);
    assert_int_equal(mfr_npy_write_f32(vp, 80, 4, V, &err), MFR_OK);
    m = tu_path(d, "m.bin");
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 4 --epochs 1 --lr 1e-12 --threads 1 --quiet "
                         "--init-from '%s,%s' --out '%s'", g_data, up, vp, m), 0);
    free(up), free(vp), free(d);
    return m;
}

static void same_row(int32_t i, float v[4])
{
    (void)i;
    for (int c = 0; c < 4; c++) v[c] = 0.1f * (float)(c + 1);
}

static void row_on_a_line(int32_t i, float v[4])
{
    for (int c = 0; c < 4; c++) v[c] = (float)(1 + i % 7) * (c % 2 ? 0.5f : 0.25f);
}

/* project with nothing to order: identical movie vectors printed "PC1
 * explains 0.00%" and lowest and highest lists in index order, vectors on
 * a line PC2's lists; and --top at least half the movies listed some movies
 * as both lowest and highest. */
static void test_project_degenerate(void **state)
{
    (void)state;
    char *m = model_with_items("same-items", same_row);
    assert_int_equal(run("project --model '%s' --data '%s' --top 3", m, g_data), 0);
    tu_expect_in(g_out, "  the 80 movie embeddings are identical: no variance, no principal axis to order them "
                        "(no lists of axis ends)\n");
    tu_expect_in(g_out, "(all equal: no lists of their ends)\n");
    assert_null(strstr(g_out, "explains"));
    assert_null(strstr(g_out, "lowest"));
    free(m);
    m = model_with_items("line-items", row_on_a_line);
    assert_int_equal(run("project --model '%s' --data '%s' --top 3", m, g_data), 0);
    tu_expect_in(g_out, "  PC2 explains none of the variance (the movies lie on a line): no lists of its ends\n");
    tu_expect_in(g_out, "PC1, lowest:");
    assert_null(strstr(g_out, "PC2, lowest:"));
    free(m);
    /* the few movies with 70 or more training ratings: half at each end, never 4 */
    assert_int_equal(run("project --model '%s' --data '%s' --top 4 --min-ratings 70", g_model, g_data), 0);
    const char *n = strstr(g_out, "PCA of ");
    assert_non_null(n);
    int sel = atoi(n + strlen("PCA of "));
    assert_true(sel >= 2 && sel < 8);
    char want[160];
    snprintf(want, sizeof want, "  --top 4: %d movie%s at each end, half of the %d movies, so that the lowest and "
             "highest lists do not overlap", sel / 2, sel / 2 == 1 ? "" : "s", sel);
    tu_expect_in(g_out, want);
    const char *lo = strstr(g_out, "PC1, lowest:\n"), *hi = lo ? strstr(lo, "PC1, highest:") : NULL;
    assert_non_null(hi);
    int lines = 0;
    for (const char *c = lo + strlen("PC1, lowest:\n"); c < hi; c++) lines += *c == '\n';
    assert_int_equal(lines, 1 + sel / 2);
}

static void test_export(void **state)
{
    (void)state;
    char *out = tu_path(g_dir, "export");
    /* a new directory given with a trailing slash, named without it in
     * what is printed: the final paths, not the staging directory's */
    assert_int_equal(run("export --model '%s' --as npy --out '%s/'", g_model, out), 0);
    char *up = tu_path(out, "U.npy"), *vp = tu_path(out, "V.npy");
    char said[4096];
    snprintf(said, sizeof said, "wrote %s (120 x 6), %s (80 x 6), %s/user_ids.txt, %s/item_ids.txt\n", up, vp,
             out, out);
    assert_string_equal(g_out, said);
    int64_t rows, cols;
    float *U = NULL, *V = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_npy_read_f32(up, &rows, &cols, &U, &err), MFR_OK);
    assert_int_equal(rows, 120);
    assert_int_equal(cols, 6);
    assert_int_equal(mfr_npy_read_f32(vp, &rows, &cols, &V, &err), MFR_OK);
    assert_int_equal(rows, 80);
    assert_int_equal(cols, 6);
    /* The arrays are the model's factors. */
    mfr_model *m = NULL;
    assert_int_equal(mfr_model_load(g_model, &m, &err), MFR_OK);
    float row[6];
    assert_int_equal(mfr_model_item_vector(m, 79, row, NULL), MFR_OK);
    assert_memory_equal(row, V + 79 * 6, sizeof row);
    assert_int_equal(mfr_model_user_vector(m, 5, row, NULL), MFR_OK);
    assert_memory_equal(row, U + 5 * 6, sizeof row);
    char *ui = tu_path(out, "user_ids.txt"), *ii = tu_path(out, "item_ids.txt");
    assert_int_equal(count_lines(ui), 120);
    assert_int_equal(count_lines(ii), 80);
    char *vt = tu_path(out, "vectors.tsv");
    assert_false(tu_exists(vt)); /* npy only */

    assert_int_equal(run("export --model '%s' --as tsv --out '%s'", g_model, out), 0);
    char *mt = tu_path(out, "metadata.tsv");
    snprintf(said, sizeof said, "wrote %s (80 x 6) and %s (movie, title, genres, ratings)\n", vt, mt);
    assert_string_equal(g_out, said);
    assert_int_equal(count_lines(vt), 80);
    assert_int_equal(count_lines(mt), 81);
    char *meta = tu_read_file(mt, NULL);
    assert_true(!strncmp(meta, "movie\ttitle\tgenres\tratings\n", 26));
    /* Each row starts with the movie's raw id (titles may repeat), and the
     * rating counts add up to the model's training ratings (its split
     * random:0.2 of 3000), as every list's ratings column. */
    assert_true(!strncmp(strchr(meta, '\n') + 1, "1\t", 2));
    long total = 0;
    for (const char *l = strchr(meta, '\n') + 1; *l; l = strchr(l, '\n') + 1) {
        const char *eol = strchr(l, '\n'), *tab = eol;
        assert_non_null(eol);
        while (tab > l && *tab != '\t') tab--;
        assert_true(*tab == '\t');
        total += strtol(tab + 1, NULL, 10);
    }
    assert_int_equal(total, 2400);
    free(meta);
    /* vectors.tsv row 80 is V's last row, to float precision. */
    char *vec = tu_read_file(vt, NULL);
    const char *last = vec;
    for (int l = 0; l < 79; l++) last = strchr(last, '\n') + 1;
    for (int j = 0; j < 6; j++) {
        char *end;
        float v = strtof(last, &end);
        assert_true(v == V[79 * 6 + j]);
        last = end;
    }
    free(vec);

    mfr_model_destroy(m);
    mfr_free(U);
    mfr_free(V);
    free(up);
    free(vp);
    free(ui);
    free(ii);
    free(vt);
    free(mt);
    free(out);
}

/* An export into a directory that holds an earlier export: both formats at
 * once; arrays that would pass for this model's are removed, files of the
 * other format named, a file in the way refused. */
static void test_export_over_earlier_export(void **state)
{
    (void)state;
    char said[4096];
    /* both formats at once (the default) */
    char *both = tu_path(g_dir, "export_both");
    assert_int_equal(run("export --model '%s' '%s'", g_model, both), 0);
    const char *files[] = {"U.npy", "V.npy", "user_ids.txt", "item_ids.txt", "vectors.tsv", "metadata.tsv"};
    for (int f = 0; f < 6; f++) expect_file(both, files[f]);
    /* Arrays an earlier npy export of another model (with biases, implicit
     * factors) left there would pass for this model's: an npy export
     * removes them and says so; a tsv export and other files leave them.
     * A file of that name that is no NumPy array is the user's: the export
     * is refused and removes nothing. */
    char *u_npy = tu_path(both, "U.npy");
    size_t u_len = 0;
    char *u_bytes = tu_read_file(u_npy, &u_len);
    assert_non_null(u_bytes);
    {
        /* a bias array as an export writes it: one float32 column */
        const float b[3] = {0.5f, -1.0f, 2.0f};
        char *ub_path = tu_path(both, "user_bias.npy");
        mfr_error e = {0};
        assert_int_equal(mfr_npy_write_f32(ub_path, 3, 1, b, &e), MFR_OK);
        free(ub_path);
    }
    tu_write_file(both, "Y.npy", u_bytes, u_len);
    tu_write_file(both, "item_bias.npy", "my notes", (size_t)-1);
    tu_write_file(both, "notes.txt", "mine", (size_t)-1);
    assert_int_equal(run("export --model '%s' --as npy --out '%s'", g_model, both), 1);
    tu_expect_in(g_err, "item_bias.npy is in the way: this model has no item_bias.npy, and the file there is not "
                        "a NumPy array");
    {
        char *ib = tu_path(both, "item_bias.npy"), *text = tu_read_file(ib, NULL);
        assert_string_equal(text, "my notes");
        char *y = tu_path(both, "Y.npy");
        assert_true(tu_exists(y)); /* refused before anything was removed */
        free(text), free(ib), free(y);
    }
    char *ib_path = tu_path(both, "item_bias.npy");
    assert_int_equal(unlink(ib_path), 0);
    free(ib_path), free(u_npy), free(u_bytes);
    assert_int_equal(run("export --model '%s' --as tsv --out '%s'", g_model, both), 0);
    expect_file(both, "user_bias.npy");
    /* the other format's files of an earlier export are named, not removed */
    tu_expect_in(g_err, "also holds U.npy, V.npy, user_ids.txt, item_ids.txt, user_bias.npy, Y.npy from an earlier "
                        "export, which this --as tsv export did not rewrite");
    assert_int_equal(run("export --model '%s' --as npy --out '%s'", g_model, both), 0);
    char *ub = tu_path(both, "user_bias.npy"), *yp = tu_path(both, "Y.npy"), *notes = tu_path(both, "notes.txt");
    assert_false(tu_exists(ub));
    assert_false(tu_exists(yp));
    assert_true(tu_exists(notes));
    snprintf(said, sizeof said, "removed %s: an earlier export's, which this model does not have\n", ub);
    tu_expect_in(g_out, said);
    assert_null(strstr(g_out, "item_bias.npy")); /* there was none */
    free(ub), free(yp), free(notes);
    free(both);
}

/* A write that fails half-way (here a file size limit: EFBIG, the signal
 * ignored) leaves nothing: no truncated data file, script, picture or
 * array, not even the directory made for them; the error names the
 * user's path and the cause, never the temporary directory. */
static void expect_nothing_left(int rc, const char *dir, const char *cause)
{
    assert_int_equal(rc, 1);
    tu_expect_in(g_err, dir);
    tu_expect_in(g_err, cause);
    assert_null(strstr(g_err, ".mfrec-stage"));
    assert_false(tu_exists(dir));
}

/* A standard output that cannot be written fails the run before any
 * output changes: export's directory, project's --out file and stats'
 * charts stay as they were (they were replaced, then the run failed). */
static int run_to_full(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run_to_full(const char *fmt, ...)
{
    char args[8192], cmd[12288];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "'%s' %s >/dev/full 2>'%s/err.txt' </dev/null", g_bin, args, g_dir);
    int st = system(cmd);
    free(g_err);
    char *pe = tu_path(g_dir, "err.txt");
    g_err = tu_read_file(pe, NULL);
    free(pe);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_stdout_failure_changes_no_output(void **state)
{
    (void)state;
    if (access("/dev/full", W_OK) != 0) skip();
    char *other = tu_path(g_dir, "other2.mfr"), *ex = tu_path(g_dir, "ex_full"), *u = tu_path(ex, "U.npy");
    assert_int_equal(run("train --data '%s' --epochs 2 --dim 3 --quiet --out '%s'", g_data, other), 0);
    assert_int_equal(run("export --model '%s' --out '%s' --as npy", g_model, ex), 0);
    size_t n0 = 0, n1 = 0;
    char *before = tu_read_file(u, &n0);
    assert_int_equal(run_to_full("export --model '%s' --out '%s' --as npy", other, ex), 1);
    tu_expect_in(g_err, "cannot write standard output");
    char *after = tu_read_file(u, &n1);
    assert_int_equal(n1, n0);
    assert_memory_equal(after, before, n0);
    free(before), free(after);

    char *tsv = tu_path(g_dir, "proj_full.tsv");
    tu_write_file(g_dir, "proj_full.tsv", "old", (size_t)-1);
    assert_int_equal(run_to_full("project --model '%s' --out '%s'", g_model, tsv), 1);
    char *text = tu_read_file(tsv, NULL);
    assert_string_equal(text, "old");
    free(text);

    if (g_gnuplot) {
        char *pl = tu_path(g_dir, "stats_full");
        assert_int_equal(run_to_full("stats --data '%s' --plot '%s'", g_data, pl), 1);
        tu_expect_in(g_err, "cannot write standard output");
        assert_false(tu_exists(pl));
        /* the same for the charts of a model command */
        assert_int_equal(run_to_full("norms --model '%s' --plot '%s'", g_model, pl), 1);
        tu_expect_in(g_err, "cannot write standard output");
        assert_false(tu_exists(pl));
        free(pl);
    }
    /* the files of split, synth and recommend --all-users neither */
    char *sp = tu_path(g_dir, "split_full"), *sy = tu_path(g_dir, "synth_full"),
         *csv = tu_path(g_dir, "all_full.csv");
    assert_int_equal(run_to_full("split --data '%s' --out '%s'", g_data, sp), 1);
    tu_expect_in(g_err, "cannot write standard output");
    assert_false(tu_exists(sp));
    assert_int_equal(run_to_full("synth --users 20 --items 15 --ratings 200 --out '%s'", sy), 1);
    tu_expect_in(g_err, "cannot write standard output");
    assert_false(tu_exists(sy));
    assert_int_equal(run_to_full("recommend --model '%s' --all-users --out '%s'", g_model, csv), 1);
    tu_expect_in(g_err, "cannot write standard output");
    assert_false(tu_exists(csv));
    free(sp), free(sy), free(csv);
    free(other), free(ex), free(u), free(tsv);
}

/* An export whose target cannot be replaced says so before any "wrote":
 * the final paths are checked before the report (stage_commit). */
static void test_export_refusal_reports_nothing(void **state)
{
    (void)state;
    char *ex = tu_path(g_dir, "ex_fifo"), *v = tu_path(ex, "V.npy"), *u = tu_path(ex, "U.npy");
    assert_int_equal(mkdir(ex, 0755), 0);
    assert_int_equal(mkfifo(v, 0644), 0);
    assert_int_equal(run("export --model '%s' --out '%s'", g_model, ex), 1);
    tu_expect_in(g_err, "is a FIFO");
    assert_null(strstr(g_out, "wrote"));
    assert_false(tu_exists(u));
    free(ex), free(v), free(u);
    /* recommend's --out is checked before the model's note (g_model is
     * unregularized: recommend notes that it ranks poorly) */
    char *csv = tu_path(g_dir, "no_such_dir/all.csv");
    assert_int_equal(run("recommend --model '%s' --all-users --out '%s'", g_model, csv), 1);
    tu_expect_in(g_err, "no_such_dir");
    assert_null(strstr(g_err, "note:"));
    assert_int_equal(run("recommend --model '%s' --user 1", g_model), 0);
    tu_expect_in(g_err, "note:"); /* the note itself is still given */
    free(csv);
}

/* A one-format export into the data's directory: a file of the other
 * format's name that is one of the run's inputs (the rating file named
 * vectors.tsv, the model saved as metadata.tsv) is not called an earlier
 * export's, and an export never rewrites an input. */
static void test_export_beside_its_inputs(void **state)
{
    (void)state;
    static const char ratings[] = "1\t1\t5\n1\t2\t3\n2\t1\t4\n2\t2\t2\n3\t1\t1\n3\t3\t5\n";
    char *dir = tu_path(g_dir, "xin"), *data = tu_path(dir, "vectors.tsv"), *model = tu_path(dir, "m.bin");
    assert_int_equal(mkdir(dir, 0755), 0);
    tu_write_file(dir, "vectors.tsv", ratings, (size_t)-1);
    assert_int_equal(run("train --data '%s' --split random:0.3 --epochs 2 --quiet --out '%s'", data, model), 0);
    assert_int_equal(run("export --model '%s' --out '%s' --as npy", model, dir), 0);
    tu_expect_in(g_out, "/U.npy (3 x ");
    expect_not_in(g_err, "earlier export");
    assert_int_equal(run("export --model '%s' --out '%s' --as tsv", model, dir), 1);
    tu_expect_in(g_err, "vectors.tsv is one of this run's inputs");
    char *text = tu_read_file(data, NULL);
    assert_string_equal(text, ratings);
    free(text);
    /* a file that is no input is still named; the model saved under a tsv
     * export's name is not */
    tu_write_file(dir, "metadata.tsv", "movie\ttitle\tgenres\tratings\n", (size_t)-1);
    assert_int_equal(run("export --model '%s' --out '%s' --as npy", model, dir), 0);
    tu_expect_in(g_err, "also holds metadata.tsv from an earlier export");
    expect_not_in(g_err, "vectors.tsv");
    char *as_meta = tu_path(dir, "metadata.tsv");
    assert_int_equal(run("train --data '%s' --split random:0.3 --epochs 2 --quiet --out '%s'", data, as_meta), 0);
    assert_int_equal(run("export --model '%s' --out '%s' --as npy", as_meta, dir), 0);
    expect_not_in(g_err, "earlier export");
    assert_true(tu_exists(as_meta));
    free(as_meta);
    free(model);
    free(data);
    free(dir);
}

/* The entries of dir, sorted: "name mode size\n", then a file's SHA-256. */
static char *dir_snapshot(const char *dir)
{
    char cmd[4096];
    /* each file's name, mode, size and digest: its bytes, which may hold
     * NULs (a model), would end the snapshot's string early */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && for f in $(ls -A | LC_ALL=C sort); do stat -c '%%n %%a %%s' \"$f\"; "
             "if [ -f \"$f\" ]; then sha256sum <\"$f\"; fi; done",
             dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (size_t got; (got = fread(buf + n, 1, cap - n, p)) > 0;)
        if ((n += got) == cap) buf = realloc(buf, cap *= 2);
    assert_int_equal(pclose(p), 0);
    buf[n < cap ? n : cap - 1] = 0;
    return buf;
}

/* The shim's environment: ASan, which wants its runtime first, is told to
 * accept a preloaded library (the test's own ASAN_OPTIONS kept). */
#define FAULT_ENV "ASAN_OPTIONS=\"${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0\" "

/* A multi-file output whose commit fails partway (a rename refused, as
 * for a file bind-mounted over a target; tests/fault_rename.c) or whose
 * report cannot be written leaves the previous set as it was: no mix of
 * old and new files, no "wrote" or "removed" said, nothing staged left.
 * A previous file that cannot be put back is kept and named. */
static void test_failed_commit_puts_back_the_previous_set(void **state)
{
    (void)state;
    const char *lib = getenv("MFREC_FAULT_RENAME_LIB");
    if (!lib) skip();
    char *ex = tu_path(g_dir, "ex_commit"), *mb = tu_path(g_dir, "biased.bin");
    assert_int_equal(run("train --data '%s' --epochs 2 --bias --quiet --out '%s'", g_data, mb), 0);
    assert_int_equal(run("export --model '%s' --out '%s'", mb, ex), 0);
    char *before = dir_snapshot(ex);
    /* g_model has no biases: its export replaces four files, adds none and
     * removes user_bias.npy and item_bias.npy */
    const char *faults[] = {
        "/.prev-vectors.tsv",   /* setting a previous file aside */
        "/.prev-item_bias.npy", /* setting aside a file to remove */
        "ex_commit/vectors.tsv", /* moving a new file in, after others did */
        "ex_commit/U.npy",
    };
    char env[4096];
    for (size_t k = 0; k < sizeof faults / sizeof *faults; k++) {
        snprintf(env, sizeof env, FAULT_ENV "LD_PRELOAD='%s' MFREC_FAULT_RENAME_TO='%s'",
                 lib, faults[k]);
        assert_int_equal(run_env(env, "export --model '%s' --out '%s'", g_model, ex), 1);
        tu_expect_in(g_err, "Device or resource busy");
        assert_null(strstr(g_out, "wrote"));
        assert_null(strstr(g_out, "removed"));
        char *after = dir_snapshot(ex);
        assert_string_equal(after, before); /* stage directory included: none */
        free(after);
    }
    /* the report cannot be written once the files are in: put back too */
    assert_int_equal(run_to_full("export --model '%s' --out '%s'", g_model, ex), 1);
    tu_expect_in(g_err, "cannot write standard output");
    char *after = dir_snapshot(ex);
    assert_string_equal(after, before);
    free(after);
    /* the same for a --plot set (a chart's script) */
    if (g_gnuplot) {
        char *pl = tu_path(g_dir, "plots_commit");
        assert_int_equal(run("stats --data '%s' --plot '%s'", g_data, pl), 0);
        char *pl_before = dir_snapshot(pl);
        snprintf(env, sizeof env, FAULT_ENV "LD_PRELOAD='%s' MFREC_FAULT_RENAME_TO='%s'",
                 lib, "plots_commit/genres.gp");
        assert_int_equal(run_env(env, "stats --data '%s' --plot '%s'", g_other, pl), 1);
        assert_null(strstr(g_out, "wrote"));
        char *pl_after = dir_snapshot(pl);
        assert_string_equal(pl_after, pl_before);
        free(pl_before), free(pl_after), free(pl);
        /* norms' charts: its "plot:" line, printed before the list, stayed
         * when the charts were put back; now it follows them in */
        char *np = tu_path(g_dir, "norms_commit");
        assert_int_equal(run("norms --model '%s' --plot '%s'", g_model, np), 0);
        tu_expect_in(g_out, "plot: ");
        assert_non_null(strstr(strstr(g_out, "histogram of"), "plot: "));
        char *np_before = dir_snapshot(np);
        snprintf(env, sizeof env, FAULT_ENV "LD_PRELOAD='%s' MFREC_FAULT_RENAME_TO='%s'", lib,
                 "norms_commit/norm_vs_ratings.png");
        assert_int_equal(run_env(env, "norms --model '%s' --plot '%s' --min-ratings 1", g_model, np), 1);
        tu_expect_in(g_err, "Device or resource busy");
        assert_null(strstr(g_out, "plot: "));
        char *np_after = dir_snapshot(np);
        assert_string_equal(np_after, np_before);
        free(np_before), free(np_after), free(np);
    }
    /* the move in and the move back both refused: the previous file stays
     * in the kept stage directory, which the error names */
    snprintf(env, sizeof env,
             FAULT_ENV "LD_PRELOAD='%s' MFREC_FAULT_RENAME_TO='%s' MFREC_FAULT_RENAME_TIMES=2",
             lib, "ex_commit/vectors.tsv");
    assert_int_equal(run_env(env, "export --model '%s' --out '%s'", g_model, ex), 1);
    tu_expect_in(g_err, "cannot put back the previous");
    const char *kept = strstr(g_err, "(it is kept as ");
    assert_non_null(kept);
    char path[4096];
    assert_int_equal(sscanf(kept, "(it is kept as %4095[^)])", path), 1);
    char *old_tsv = tu_path(ex, "vectors.tsv");
    assert_false(tu_exists(old_tsv)); /* not put back: where the error says */
    assert_true(tu_exists(path));
    /* the same with a signal arriving among the renames (it waits for
     * them): the previous file the error names is still there */
    tu_rmtree(ex);
    assert_int_equal(run("export --model '%s' --out '%s'", mb, ex), 0);
    char *old_bytes = tu_read_file(old_tsv, NULL);
    assert_non_null(old_bytes);
    snprintf(env, sizeof env,
             FAULT_ENV "LD_PRELOAD='%s' MFREC_FAULT_RENAME_TO='%s' MFREC_FAULT_RENAME_TIMES=2 "
                       "MFREC_FAULT_RENAME_RAISE=15",
             lib, "ex_commit/vectors.tsv");
    assert_int_equal(run_env(env, "export --model '%s' --out '%s'", g_model, ex), 128 + 15);
    kept = strstr(g_err, "(it is kept as ");
    assert_non_null(kept);
    assert_int_equal(sscanf(kept, "(it is kept as %4095[^)])", path), 1);
    char *kept_bytes = tu_read_file(path, NULL);
    assert_non_null(kept_bytes);
    assert_string_equal(kept_bytes, old_bytes);
    free(kept_bytes), free(old_bytes);
    free(old_tsv);
    free(before), free(ex), free(mb);
}

/* The file systems expect_all_or_none emulates (tests/fault_rename.c). */
enum fs_kind {
    FS_LOCAL,       /* renameat2's exchange */
    FS_NO_EXCHANGE, /* none (NFS): the previous file keeps a hard link */
    FS_NO_LINK,     /* no hard links either: it is renamed aside */
};

/* Runs `cmd` with a rename to each of faults[0..n) refused in turn
 * (tests/fault_rename.c) on a file system of kind fs: each fails with
 * every file of dir and of pl (NULL: none) as it was. */
static void expect_all_or_none(const char *lib, enum fs_kind fs, const char *const *faults, int n, const char *dir,
                               const char *pl, const char *cmd)
{
    char *before = dir_snapshot(dir), *pl_before = pl ? dir_snapshot(pl) : NULL, env[4096];
    static const char *const fs_env[] = {"", " MFREC_FAULT_RENAME_NO_EXCHANGE=1",
                                         " MFREC_FAULT_RENAME_NO_EXCHANGE=1 MFREC_FAULT_NO_LINK=1"};
    for (int k = 0; k < n; k++) {
        snprintf(env, sizeof env, FAULT_ENV "LD_PRELOAD='%s' MFREC_FAULT_RENAME_TO='%s'%s", lib, faults[k],
                 fs_env[fs]);
        assert_int_equal(run_env(env, "%s", cmd), 1);
        tu_expect_in(g_err, "Device or resource busy");
        expect_not_in(g_out, "wrote");
        char *after = dir_snapshot(dir);
        assert_string_equal(after, before);
        free(after);
        if (pl) {
            after = dir_snapshot(pl);
            assert_string_equal(after, pl_before);
            free(after);
        }
    }
    free(before), free(pl_before);
}

/* The files a run writes beside its charts (train's --out and --log-json,
 * project's --out) are committed with them, all or none: a chart, the
 * model or the log that cannot move in leaves every output as it was
 * (before, the model and the log were in place before the charts'
 * commit, which could still fail, and the model before the log). A
 * replaced model keeps its mode. */
#define TRAIN_TOGETHER "train --data '%s' --epochs 2 --quiet --out '%s' --log-json '%s' %s --seed %d"
static void test_outputs_commit_with_charts(void **state)
{
    (void)state;
    const char *lib = getenv("MFREC_FAULT_RENAME_LIB");
    if (!lib) skip();
    char *dir = tu_path(g_dir, "together"), *pl = tu_path(g_dir, "together_p");
    char *m = tu_path(dir, "m.bin"), *log = tu_path(dir, "log.json"), *tsv = tu_path(dir, "c.tsv");
    assert_int_equal(mkdir(dir, 0777), 0);
    char plot[4200] = "", cmd[16384];
    if (g_gnuplot) snprintf(plot, sizeof plot, "--plot '%s'", pl);
    assert_int_equal(run(TRAIN_TOGETHER, g_data, m, log, plot, 1), 0);
    assert_int_equal(chmod(m, 0600), 0);
    const char *faults[] = {"together/m.bin", "together/log.json", "together_p/learning_curve.png",
                            "together_p/loss_components.gp"};
    snprintf(cmd, sizeof cmd, TRAIN_TOGETHER, g_data, m, log, plot, 2);
    expect_all_or_none(lib, FS_LOCAL, faults, g_gnuplot ? 4 : 2, dir, g_gnuplot ? pl : NULL, cmd);
    /* on a file system that cannot exchange two files, the previous model
     * waits under a second name (a hard link, else renamed aside) and
     * comes back: before, it was replaced for good when the log or a
     * chart failed after it */
    expect_all_or_none(lib, FS_NO_EXCHANGE, faults, g_gnuplot ? 4 : 2, dir, g_gnuplot ? pl : NULL, cmd);
    expect_all_or_none(lib, FS_NO_LINK, faults, g_gnuplot ? 4 : 2, dir, g_gnuplot ? pl : NULL, cmd);
    /* the same with no earlier files: none is made */
    char *fresh = tu_path(g_dir, "together_new"), *fm = tu_path(fresh, "m.bin"), *fl = tu_path(fresh, "log.json");
    assert_int_equal(mkdir(fresh, 0777), 0);
    const char *fresh_faults[] = {"together_new/log.json"};
    snprintf(cmd, sizeof cmd, TRAIN_TOGETHER, g_data, fm, fl, "", 2);
    expect_all_or_none(lib, FS_LOCAL, fresh_faults, 1, fresh, NULL, cmd);
    assert_false(tu_exists(fm));
    /* committed: the model replaced, private as it was */
    assert_int_equal(run(TRAIN_TOGETHER, g_data, m, log, plot, 2), 0);
    struct stat st;
    assert_int_equal(stat(m, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* project: the TSV and the charts */
    if (g_gnuplot) snprintf(plot, sizeof plot, "--plot '%s'", pl);
    assert_int_equal(run("project --model '%s' --out '%s' %s --min-ratings 5", g_model, tsv, plot), 0);
    const char *p_faults[] = {"together/c.tsv", "together_p/projection.png", "together_p/embedding_norms.dat"};
    snprintf(cmd, sizeof cmd, "project --model '%s' --out '%s' %s", g_model, tsv, plot);
    expect_all_or_none(lib, FS_LOCAL, p_faults, g_gnuplot ? 3 : 1, dir, g_gnuplot ? pl : NULL, cmd);
    expect_all_or_none(lib, FS_NO_EXCHANGE, p_faults, g_gnuplot ? 3 : 1, dir, g_gnuplot ? pl : NULL, cmd);
    free(fresh), free(fm), free(fl);
    free(dir), free(pl), free(m), free(log), free(tsv);
}

/* The temporary files of a run killed while it wrote a model and a log
 * committed together (SIGKILL: no handler ran) go at a later run's write
 * of the same names, as the library's writes remove their own (aged a
 * minute, unlocked); they stayed for good. */
static void test_killed_runs_temporaries_go(void **state)
{
    (void)state;
    char *dir = tu_path(g_dir, "killed"), *m = tu_path(dir, "m.bin"), *log = tu_path(dir, "log.json");
    char *left[] = {tu_path(dir, "m.bin.tmpAbC123"), tu_path(dir, "log.json.tmpXyZ789")};
    assert_int_equal(mkdir(dir, 0777), 0);
    tu_write_file(dir, "m.bin.tmpAbC123", "half", (size_t)-1);
    tu_write_file(dir, "log.json.tmpXyZ789", "half", (size_t)-1);
    for (int k = 0; k < 2; k++) tu_age_file(left[k]);
    assert_int_equal(run(TRAIN_TOGETHER, g_data, m, log, "", 1), 0);
    for (int k = 0; k < 2; k++) {
        assert_false(tu_exists(left[k]));
        free(left[k]);
    }
    assert_true(tu_exists(m) && tu_exists(log));
    free(dir), free(m), free(log);
}

/* dir and pl copied from base and base_pl afresh, modes kept. */
static void restore(const char *base, const char *dir, const char *base_pl, const char *pl)
{
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s' && cp -a '%s' '%s' && cp -a '%s' '%s'", dir, pl, base, dir, base_pl,
             pl);
    assert_int_equal(system(cmd), 0);
}

/* Every allocation of the executable failing in turn (tests/fault_malloc.c)
 * under `cmd`, which writes into dir and its charts into pl over an
 * earlier run's files (made private): each run either succeeds (exit 0)
 * and leaves nothing stray, or fails with exit 1 and every file of both
 * as it was, modes included (a temporary file or stage left would show
 * in the snapshot). Before, a failure in the charts' commit left train's
 * model and log, or project's TSV, written (exit 1), and one in a
 * commit's renames a stage directory or a chart's mode lost (exit 0). */
static void walk_allocations(const char *lib, const char *dir, const char *pl, const char *cmd)
{
    char *base = tu_path(g_dir, "oom_base"), *base_pl = tu_path(g_dir, "oom_base_p");
    char *count = tu_path(g_dir, "oom_count"), sh[16384], env[8192];
    snprintf(sh, sizeof sh, "chmod 600 '%s'/* '%s'/* && rm -rf '%s' '%s' && cp -a '%s' '%s' && cp -a '%s' '%s'",
             dir, pl, base, base_pl, dir, base, pl, base_pl);
    assert_int_equal(system(sh), 0);
    snprintf(sh, sizeof sh, "cd '%s' && stat -c '%%n %%a' * && cd '%s' && stat -c '%%n %%a' *", dir, pl);
    char *before = dir_snapshot(dir), *pl_before = dir_snapshot(pl);
    snprintf(env, sizeof env, FAULT_ENV "LD_PRELOAD='%s' MFREC_FAULT_MALLOC_COUNT='%s'", lib, count);
    assert_int_equal(run_env(env, "%s", cmd), 0);
    char *text = tu_read_file(count, NULL);
    assert_non_null(text);
    const long n = atol(text);
    assert_true(n > 50); /* the shim counted the executable's calls */
    for (long at = 1; at <= n; at++) {
        restore(base, dir, base_pl, pl);
        snprintf(env, sizeof env, FAULT_ENV "LD_PRELOAD='%s' MFREC_FAULT_MALLOC_AT=%ld", lib, at);
        const int rc = run_env(env, "%s", cmd);
        if (rc != 0 && rc != 1) fail_msg("allocation %ld of %ld failing: exit %d: %s", at, n, rc, g_err);
        char *after = dir_snapshot(dir), *pl_after = dir_snapshot(pl);
        if (rc == 1 && (strcmp(after, before) != 0 || strcmp(pl_after, pl_before) != 0))
            fail_msg("allocation %ld of %ld failing: exit 1 with outputs changed: %s", at, n, g_err);
        if (rc == 0 && (strstr(after, ".tmp") || strstr(pl_after, ".mfrec-stage")))
            fail_msg("allocation %ld of %ld failing: exit 0 with a temporary file left", at, n);
        free(after), free(pl_after);
        FILE *p = popen(sh, "r");
        assert_non_null(p);
        char line[4096];
        while (fgets(line, sizeof line, p))
            if (!strstr(line, " 600\n")) fail_msg("allocation %ld of %ld failing: exit %d, mode lost: %s", at, n, rc, line);
        pclose(p);
    }
    free(before), free(pl_before), free(text);
    tu_rmtree(base), tu_rmtree(base_pl);
    free(base), free(base_pl), free(count);
}

static void test_out_of_memory_changes_all_or_nothing(void **state)
{
    (void)state;
#ifdef SANITIZED
    skip(); /* the shim's allocator is not the sanitizer's */
#endif
    const char *lib = getenv("MFREC_FAULT_MALLOC_LIB");
    if (!lib || !g_gnuplot) skip();
    char *dir = tu_path(g_dir, "oom"), *pl = tu_path(g_dir, "oom_p"), cmd[16384];
    char *m = tu_path(dir, "m.bin"), *log = tu_path(dir, "log.json"), *tsv = tu_path(dir, "c.tsv");
    assert_int_equal(mkdir(dir, 0777), 0);
    char plot[4200];
    snprintf(plot, sizeof plot, "--plot '%s'", pl);
    assert_int_equal(run(TRAIN_TOGETHER, g_data, m, log, plot, 1), 0);
    snprintf(cmd, sizeof cmd, TRAIN_TOGETHER, g_data, m, log, plot, 2);
    walk_allocations(lib, dir, pl, cmd);
    tu_rmtree(dir), tu_rmtree(pl);
    assert_int_equal(mkdir(dir, 0777), 0);
    assert_int_equal(run("project --model '%s' --out '%s' %s --min-ratings 5", g_model, tsv, plot), 0);
    snprintf(cmd, sizeof cmd, "project --model '%s' --out '%s' %s", g_model, tsv, plot);
    walk_allocations(lib, dir, pl, cmd);
    free(dir), free(pl), free(m), free(log), free(tsv);
}

/* An allocation failing in --log-json's last records (the timing,
 * written after the model's temporary file): train fails cleanly (exit 1,
 * no temporary file left). The log's buffer doubles at 4096 bytes, and a
 * logged epoch adds about 250 of them, the last records about 375: one of
 * these epoch counts grows it there. Before, the log's pending file was
 * never opened yet still ended (an uninitialized pointer freed: exit 139). */
#define TAIL_TRAIN "train --data '%s' --epochs %d --log-every 1 --quiet --out '%s' --log-json '%s'"
static void test_out_of_memory_in_the_logs_tail(void **state)
{
    (void)state;
#ifdef SANITIZED
    skip();
#endif
    const char *lib = getenv("MFREC_FAULT_MALLOC_LIB");
    if (!lib) skip();
    char *dir = tu_path(g_dir, "oom_tail"), *m = tu_path(dir, "m.bin"), *log = tu_path(dir, "log.json");
    char *count = tu_path(g_dir, "oom_tail_count"), env[8192];
    assert_int_equal(mkdir(dir, 0777), 0);
    for (int epochs = 12; epochs <= 18; epochs++) {
        snprintf(env, sizeof env, FAULT_ENV "LD_PRELOAD='%s' MFREC_FAULT_MALLOC_COUNT='%s'", lib, count);
        assert_int_equal(run_env(env, TAIL_TRAIN, g_data, epochs, m, log), 0);
        char *text = tu_read_file(count, NULL);
        assert_non_null(text);
        const long n = atol(text);
        free(text);
        for (long at = n > 12 ? n - 12 : 1; at <= n; at++) {
            snprintf(env, sizeof env, FAULT_ENV "LD_PRELOAD='%s' MFREC_FAULT_MALLOC_AT=%ld", lib, at);
            const int rc = run_env(env, TAIL_TRAIN, g_data, epochs, m, log);
            if (rc != 0 && rc != 1) fail_msg("%d epochs, allocation %ld of %ld failing: exit %d", epochs, at, n, rc);
            char *after = dir_snapshot(dir);
            if (strstr(after, ".tmp")) fail_msg("%d epochs, allocation %ld: a temporary file left", epochs, at);
            free(after);
        }
    }
    tu_rmtree(dir);
    free(dir), free(m), free(log), free(count);
}

/* project --out alone on a file system that cannot exchange two files
 * (tests/fault_rename.c's MFREC_FAULT_RENAME_NO_EXCHANGE), its standard
 * output full: the previous TSV stays, as its report is printed before
 * the file moves. Before, the file moved first, for good, and the failed
 * report then left it replaced (exit 1, "cannot put back"). */
static void test_report_first_without_exchange(void **state)
{
    (void)state;
    const char *lib = getenv("MFREC_FAULT_RENAME_LIB");
    if (!lib || access("/dev/full", W_OK) != 0) skip();
    char *tsv = tu_path(g_dir, "noexch.tsv"), cmd[16384];
    tu_write_file(g_dir, "noexch.tsv", "old", (size_t)-1);
    snprintf(cmd, sizeof cmd,
             FAULT_ENV "LD_PRELOAD='%s' MFREC_FAULT_RENAME_NO_EXCHANGE=1 '%s' project --model '%s' --out '%s' "
                       ">/dev/full 2>/dev/null </dev/null",
             lib, g_bin, g_model, tsv);
    const int st = system(cmd);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    char *text = tu_read_file(tsv, NULL);
    assert_string_equal(text, "old");
    free(text);
    /* with charts, the report comes after the commit: the previous TSV,
     * which waited under a second name (a hard link), comes back (before,
     * it was replaced for good: "cannot put back") */
    char *pl = tu_path(g_dir, "noexch_p");
    if (g_gnuplot) {
        snprintf(cmd, sizeof cmd,
                 FAULT_ENV "LD_PRELOAD='%s' MFREC_FAULT_RENAME_NO_EXCHANGE=1 '%s' project --model '%s' --out '%s' "
                           "--plot '%s' >/dev/full 2>/dev/null </dev/null",
                 lib, g_bin, g_model, tsv, pl);
        const int st2 = system(cmd);
        assert_true(WIFEXITED(st2));
        assert_int_equal(WEXITSTATUS(st2), 1);
        text = tu_read_file(tsv, NULL);
        assert_string_equal(text, "old");
        free(text);
        assert_false(tu_exists(pl));
        DIR *d = opendir(g_dir); /* no second name left */
        assert_non_null(d);
        for (struct dirent *e; (e = readdir(d));) assert_null(strstr(e->d_name, "noexch.tsv.tmp"));
        closedir(d);
    }
    free(pl), free(tsv);
}

/* The system call pid waits in and its first argument (/proc/PID/syscall);
 * false where that cannot be read (nr -1 while it runs). */
static bool proc_syscall(pid_t pid, long *nr, unsigned long *arg0)
{
    char path[64], line[256] = "";
    snprintf(path, sizeof path, "/proc/%d/syscall", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    const bool got = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    *nr = -1, *arg0 = 0;
    if (got) (void)sscanf(line, "%ld %lx", nr, arg0);
    return true;
}

/* Whether pid waits in write(2) or writev(2) on its standard output; -1
 * where that cannot be read. */
static int waits_on_stdout(pid_t pid)
{
    long nr;
    unsigned long fd;
    if (!proc_syscall(pid, &nr, &fd)) return -1;
    return (nr == SYS_write || nr == SYS_writev) && fd == 1;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {}
}

/* A pipe whose buffer is full (its reader never reads): [0] read, [1] write. */
static void full_pipe(int fds[2])
{
    assert_int_equal(pipe(fds), 0);
    (void)fcntl(fds[1], F_SETPIPE_SZ, 4096);
    const int fl = fcntl(fds[1], F_GETFL);
    assert_int_equal(fcntl(fds[1], F_SETFL, fl | O_NONBLOCK), 0);
    char junk[512];
    memset(junk, 'x', sizeof junk);
    while (write(fds[1], junk, sizeof junk) > 0) {}
    assert_int_equal(errno, EAGAIN);
    assert_int_equal(fcntl(fds[1], F_SETFL, fl), 0);
}

/* pid, a `project --out TSV` that was sent SIGTERM (or raised it), dies of
 * it within 20 s (else it is killed and the test fails with hang_msg),
 * with TSV as before ("old") and no temporary file named with tmp_part
 * left; read_fd, the pipe's reader, is closed after. */
static void expect_died_undone(pid_t pid, int read_fd, const char *tsv, const char *tmp_part, const char *hang_msg)
{
    int st = 0, waited = 0;
    pid_t done = 0;
    for (; (done = waitpid(pid, &st, WNOHANG)) == 0 && waited < 200; waited++) sleep_ms(100);
    if (done == 0) { /* still waiting, 20 s on */
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        fail_msg("%s", hang_msg);
    }
    close(read_fd);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGTERM);
    char *text = tu_read_file(tsv, NULL);
    assert_string_equal(text, "old");
    free(text);
    DIR *d = opendir(g_dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));) assert_null(strstr(e->d_name, tmp_part));
    closedir(d);
}

/* project --out whose report waits for a reader that never reads, then
 * SIGTERM: the run puts everything back and dies of the signal. Before,
 * the signal waited for the commit's end (the report is part of it), so
 * the run hung until the reader read, and a SIGKILL then left the
 * temporary TSV. (With --plot, a pipe full from the start blocks the run
 * before its commit, where any signal kills it: that case is
 * test_signal_before_report_waits.) */
static void test_signal_while_report_waits(void **state)
{
    (void)state;
    if (waits_on_stdout(getpid()) < 0) {
        print_message("skipped: /proc/PID/syscall cannot be read here\n");
        skip();
    }
    char *tsv = tu_path(g_dir, "waits.tsv");
    tu_write_file(g_dir, "waits.tsv", "old", (size_t)-1);
    int fds[2];
    full_pipe(fds);
    const pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const int null = open("/dev/null", O_RDWR);
        dup2(fds[1], 1), dup2(null, 0), dup2(null, 2);
        /* --top 1: what is printed before the commit stays in stdio's
         * buffer (4 KiB on a pipe) whatever the length of TMPDIR; with
         * the default --top 10 a long TMPDIR made the run block there,
         * outside the bracket, where any signal kills it, and the test
         * passed with SA_RESTART back */
        execl(g_bin, g_bin, "project", "--model", g_model, "--out", tsv, "--top", "1", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    int waited = 0, st = 0;
    while (waits_on_stdout(pid) != 1 && waitpid(pid, &st, WNOHANG) == 0 && waited++ < 600) sleep_ms(100);
    assert_int_equal(waits_on_stdout(pid), 1); /* the report waits */
    /* ... inside the commit's bracket: the temporary TSV exists */
    bool tmp_made = false;
    DIR *dt = opendir(g_dir);
    assert_non_null(dt);
    for (struct dirent *e; (e = readdir(dt));) tmp_made |= strstr(e->d_name, "waits.tsv.tmp") != NULL;
    closedir(dt);
    assert_true(tmp_made);
    assert_int_equal(kill(pid, SIGTERM), 0);
    expect_died_undone(pid, fds[0], tsv, "waits.tsv.tmp", "project --out ignored SIGTERM while its report waited");
    free(tsv);
}

/* The system call pid waits in, -1 where that cannot be read. */
static long waiting_syscall(pid_t pid)
{
    long nr;
    unsigned long arg0;
    return proc_syscall(pid, &nr, &arg0) ? nr : -1;
}

/* project --out --plot: SIGTERM while its charts move in (held open by
 * MFREC_TEST_SLOW_STAGE), then the report meets a pipe that is full. The
 * signal waited for the commit, and no later signal came to interrupt the
 * write: the run hung until the reader read, and a SIGKILL then left the
 * new TSV with the previous one as NAME.tmpXXXXXX and the stage directory
 * holding the previous charts. Now the report gives up, everything is put
 * back, and the run dies of the signal. */
static void signal_before_report_waits(const char *plot)
{
    if (!g_gnuplot || waiting_syscall(getpid()) < 0) {
        print_message("skipped: needs gnuplot and /proc/PID/syscall\n");
        skip();
    }
    char *tsv = tu_path(g_dir, "before.tsv"), *pl = tu_path(g_dir, plot);
    assert_int_equal(run("project --model '%s' --out '%s' --plot '%s'", g_model, tsv, pl), 0);
    tu_write_file(g_dir, "before.tsv", "old", (size_t)-1);
    char *pl_before = dir_snapshot(pl);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    (void)fcntl(fds[1], F_SETPIPE_SZ, 4096);
    const pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const int null = open("/dev/null", O_RDWR);
        dup2(fds[1], 1), dup2(null, 0), dup2(null, 2);
        close(fds[0]);
        setenv("MFREC_TEST_SLOW_STAGE", "300", 1);
        execl(g_bin, g_bin, "project", "--model", g_model, "--out", tsv, "--plot", pl, (char *)NULL);
        _exit(127);
    }
    /* the output before the commit is read (it is written as gnuplot
     * starts, after the stage's own pause); then the run sleeps after its
     * first chart moved in */
    assert_int_equal(fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK), 0);
    size_t got = 0;
    int waited = 0, st = 0;
    for (;; sleep_ms(20)) {
        char buf[4096];
        ssize_t n;
        while ((n = read(fds[0], buf, sizeof buf)) > 0) got += (size_t)n;
        const long nr = waiting_syscall(pid);
        if (got > 0 && (nr == SYS_nanosleep || nr == SYS_clock_nanosleep)) break;
        assert_int_equal(waitpid(pid, &st, WNOHANG), 0);
        assert_true(waited++ < 1500);
    }
    /* the pipe full, through a descriptor of its own (O_NONBLOCK is the
     * open file's, which the run shares through fds[1]) */
    char self[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", fds[1]);
    const int fill = open(self, O_WRONLY | O_NONBLOCK);
    assert_true(fill >= 0);
    while (write(fill, "x", 1) == 1) {}
    assert_int_equal(errno, EAGAIN);
    close(fill), close(fds[1]);
    assert_int_equal(kill(pid, SIGTERM), 0);
    pid_t done = 0;
    for (waited = 0; (done = waitpid(pid, &st, WNOHANG)) == 0 && waited < 300; waited++) sleep_ms(100);
    if (done == 0) {
        const long nr = waiting_syscall(pid);
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        fail_msg("project ignored a SIGTERM that came during its commit (waits in syscall %ld)", nr);
    }
    close(fds[0]);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGTERM);
    char *text = tu_read_file(tsv, NULL), *pl_after = dir_snapshot(pl);
    assert_string_equal(text, "old");
    assert_string_equal(pl_after, pl_before);
    DIR *d = opendir(g_dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));) assert_null(strstr(e->d_name, "before.tsv.tmp"));
    closedir(d);
    free(text), free(pl_after), free(pl_before), free(tsv), free(pl);
}

/* gnuplot runs in a process group of its own, so that a terminal's Ctrl-C
 * reaches mfrec alone, which decides: train's and sweep's first one lets
 * the chart finish (a gnuplot killed by it, or crashed while starting,
 * had failed a sweep's charts after all its runs). Its stdin is
 * /dev/null: a background group reading the terminal would be stopped.
 * The fake gnuplot fails when its group is its parent's or its stdin is
 * not /dev/null, else runs the real one. */
static void test_gnuplot_in_its_own_process_group(void **state)
{
    (void)state;
    if (!g_gnuplot) skip();
    char real[4096] = "";
    FILE *w = popen("command -v gnuplot", "r");
    assert_non_null(w);
    assert_non_null(fgets(real, sizeof real, w));
    pclose(w);
    real[strcspn(real, "\n")] = 0;
    char *fake = tu_path(g_dir, "pgid_bin"), *out = tu_path(g_dir, "pgid_plots");
    assert_int_equal(mkdir(fake, 0755), 0);
    char script[8192];
    snprintf(script, sizeof script,
             "#!/bin/sh\n"
             "me=$(cut -d' ' -f5 /proc/$$/stat); parent=$(cut -d' ' -f5 /proc/$PPID/stat)\n"
             "[ \"$me\" != \"$parent\" ] || { echo 'gnuplot is in mfrec'\\''s process group' >&2; exit 1; }\n"
             "[ \"$(readlink /proc/$$/fd/0)\" = /dev/null ] || { echo 'stdin is not /dev/null' >&2; exit 1; }\n"
             "exec '%s' \"$@\"\n",
             real);
    tu_write_file(fake, "gnuplot", script, (size_t)-1);
    char *fg = tu_path(fake, "gnuplot");
    assert_int_equal(chmod(fg, 0755), 0);
    char env[4200];
    snprintf(env, sizeof env, "PATH=%s:/usr/bin:/bin", fake);
    assert_int_equal(run_env(env, "stats --data '%s' --plot '%s'", g_data, out), 0);
    char *png = tu_path(out, "ratings_per_user.png");
    assert_true(tu_exists(png));
    free(png), free(fg), free(out), free(fake);
}

/* A signal in the instant between gnuplot's fork and its own setpgid
 * (tests/fault_rename.c's MFREC_FAULT_SETPGID_SIG): the handler killed
 * the group of gnuplot's pid, which was none yet (ESRCH), then waited for
 * gnuplot, which drew on: the dying run took as long as the chart. The
 * parent makes the group too, so the handler finds it. The fake gnuplot
 * notes that it ran, then takes 10 s. */
static void test_signal_before_gnuplot_group_kills_it(void **state)
{
    (void)state;
    const char *lib = getenv("MFREC_FAULT_RENAME_LIB");
    if (!lib) skip();
    char *fake = tu_path(g_dir, "slow_gp_bin"), *out = tu_path(g_dir, "slow_gp_plots");
    char *ran = tu_path(g_dir, "slow_gp_ran");
    assert_int_equal(mkdir(fake, 0755), 0);
    char script[8192];
    snprintf(script, sizeof script, "#!/bin/sh\n: >'%s'\nsleep 10\n", ran);
    tu_write_file(fake, "gnuplot", script, (size_t)-1);
    char *fg = tu_path(fake, "gnuplot");
    assert_int_equal(chmod(fg, 0755), 0);
    char env[8192];
    snprintf(env, sizeof env, FAULT_ENV "LD_PRELOAD='%s' MFREC_FAULT_SETPGID_SIG=%d PATH='%s':/usr/bin:/bin",
             lib, SIGTERM, fake);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_not_equal(run_env(env, "stats --data '%s' --plot '%s'", g_data, out), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    const double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    assert_false(tu_exists(ran)); /* killed before it ran */
    assert_true(s < 8.0);
    assert_false(tu_exists(out)); /* the stage and the new directory removed */
    free(ran), free(fg), free(out), free(fake);
}

static void test_signal_before_report_waits(void **state)
{
    (void)state;
    signal_before_report_waits("before_p");
}

/* The same with a report over stdio's 4 KiB (a --plot path of 1.8 KB,
 * named three times): fputs wrote it, and blocked on the full pipe,
 * before stdout_flush looked for the waiting signal, so the run hung. */
static void test_signal_before_long_report_waits(void **state)
{
    (void)state;
    char rel[2048] = "long_p";
    for (int k = 0; k < 9; k++) {
        char *dir = tu_path(g_dir, rel);
        (void)mkdir(dir, 0777);
        free(dir);
        strcat(rel, "/");
        memset(rel + strlen(rel), 'p', 200);
        rel[strlen("long_p") + (size_t)(k + 1) * 201] = '\0';
    }
    signal_before_report_waits(rel);
}

/* `project --model g_model --out TSV --top 1`, TSV (*tsv: g_dir/name,
 * made holding "old") replaced, started with tests/fault_rename.c and its
 * fault `var` set to SIGTERM, its standard output a pipe whose reader is
 * fds[0] (fds[1] closed here). Skips the test without the fault library. */
static pid_t project_with_write_fault(const char *var, const char *name, char **tsv, int fds[2])
{
    const char *lib = getenv("MFREC_FAULT_RENAME_LIB");
    if (!lib) skip();
    *tsv = tu_path(g_dir, name);
    tu_write_file(g_dir, name, "old", (size_t)-1);
    assert_int_equal(pipe(fds), 0);
    const pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const int null = open("/dev/null", O_RDWR);
        dup2(fds[1], 1), dup2(null, 0), dup2(null, 2);
        close(fds[0]);
        setenv("LD_PRELOAD", lib, 1);
        setenv(var, "15", 1);
        const char *asan = getenv("ASAN_OPTIONS");
        char opts[1024];
        snprintf(opts, sizeof opts, "%s%sverify_asan_link_order=0", asan ? asan : "", asan ? ":" : "");
        setenv("ASAN_OPTIONS", opts, 1);
        execl(g_bin, g_bin, "project", "--model", g_model, "--out", *tsv, "--top", "1", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    return pid;
}

/* project --out, with a signal in the instant between the report's check
 * for one and its write (tests/fault_rename.c's MFREC_FAULT_WRITE_RAISE:
 * the first write(2) to standard output fills its pipe, raises SIGTERM,
 * then writes). The handler had already returned, so nothing interrupted
 * the write, which waited for good on the full pipe; now the standard
 * output takes no write from the signal on (the write fails), and the run
 * puts the TSV back and dies of the signal. */
static void test_signal_just_before_report_write(void **state)
{
    (void)state;
    char *tsv = NULL;
    int fds[2];
    const pid_t pid = project_with_write_fault("MFREC_FAULT_WRITE_RAISE", "instant.tsv", &tsv, fds);
    expect_died_undone(pid, fds[0], tsv, "instant.tsv.tmp",
                       "project --out waited on a full pipe after a SIGTERM that came just before its write");
    free(tsv);
}

/* project --out, with a signal in the instant after the report's write
 * delivered it, before the run looked again (tests/fault_rename.c's
 * MFREC_FAULT_WRITE_RAISE_AFTER): the report said "wrote FILE", so FILE
 * is the new one, and the run dies of the signal. Before, the check after
 * the last piece took the delivered report for one sent to /dev/null and
 * put the previous TSV back under a report that named it as written. */
static void test_signal_just_after_report_write(void **state)
{
    (void)state;
    char *tsv = NULL;
    int fds[2];
    const pid_t pid = project_with_write_fault("MFREC_FAULT_WRITE_RAISE_AFTER", "after.tsv", &tsv, fds);
    /* the pipe is read after the death: its 64 KiB hold the whole output */
    int st = 0, waited = 0;
    pid_t done = 0;
    for (; (done = waitpid(pid, &st, WNOHANG)) == 0 && waited < 200; waited++) sleep_ms(100);
    if (done == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        fail_msg("project --out hung after a SIGTERM that came just after its report");
    }
    char out[65536];
    size_t got = 0;
    for (ssize_t r; got < sizeof out - 1 && (r = read(fds[0], out + got, sizeof out - 1 - got)) > 0;) got += (size_t)r;
    out[got] = '\0';
    close(fds[0]);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGTERM);
    tu_expect_in(out, "wrote ");
    char *text = tu_read_file(tsv, NULL);
    assert_string_not_equal(text, "old"); /* the file the report named as written */
    free(text);
    DIR *d = opendir(g_dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));) assert_null(strstr(e->d_name, "after.tsv.tmp"));
    closedir(d);
    free(tsv);
}

static void test_failed_writes_leave_nothing(void **state)
{
    (void)state;
    const char *limit = "ulimit -f 4;"; /* 2 KiB (512-byte blocks); mfrec ignores SIGXFSZ itself */
    char *ex = tu_path(g_dir, "ex_limited"), *pl = tu_path(g_dir, "plots_limited");
    expect_nothing_left(run_env(limit, "export --model '%s' --out '%s'", g_model, ex), ex, "File too large");
    if (g_gnuplot) {
        /* the data and script fit; gnuplot's pictures do not, and gnuplot
         * exits 0 all the same */
        expect_nothing_left(run_env(limit, "stats --data '%s' --plot '%s'", g_data, pl), pl, "incomplete");
        assert_null(strstr(g_out, "wrote")); /* nothing said to be written */
        expect_nothing_left(run_env(limit, "norms --model '%s' --plot '%s'", g_model, pl), pl, "incomplete");
    }
    /* a message longer than the cut: the cut counts after the temporary
     * directory's name is replaced, which never shows, nor do stale bytes;
     * the middle is cut, so the reason at the end shows (it was cut off) */
    if (g_gnuplot) {
        char deep[4200];
        int at = snprintf(deep, sizeof deep, "%s", g_dir);
        while (at < 3800) {
            at += snprintf(deep + at, sizeof deep - (size_t)at, "/%0199d", 0);
            assert_int_equal(mkdir(deep, 0755), 0);
        }
        /* the --plot directory's name brings the path to 4060 bytes: the
         * staged files' names would then be too long (refused before the
         * work, naming the directory), and the message passes the
         * 4096-byte cut */
        deep[at++] = '/';
        while (at < 4060) deep[at++] = 'p';
        deep[at] = 0;
        assert_int_equal(run("stats --data '%s' --plot '%s'", g_data, deep), 1); /* no size limit: it would cut stderr too */
        assert_null(strstr(g_err, ".mfrec-sta"));
        assert_null(strstr(g_err, "\\x00"));
        tu_expect_in(g_err, "bytes cut) ...");
        tu_expect_in(g_err, "choose a path of at most 4032 bytes\n"); /* the cut keeps the reason at the end */
    }
    free(ex);
    free(pl);
}

static void test_model_data_mismatch(void **state)
{
    (void)state;
    char *out = tu_path(g_dir, "never");
    assert_int_equal(run("project --model '%s' --data '%s'", g_model, g_other), 1);
    tu_expect_in(g_err, "fingerprint");
    /* another dataset of the model's shape (here a synth of another seed), not only "the ratings changed" */
    tu_expect_in(g_err, "(another dataset of the same shape, or its ratings changed since)");
    assert_int_equal(run("export --model '%s' --data '%s' '%s'", g_model, g_other, out), 1);
    tu_expect_in(g_err, "fingerprint");
    assert_false(tu_exists(out));
    assert_int_equal(run("export --model '%s/none.bin' '%s'", g_dir, out), 1);
    tu_expect_in(g_err, "none.bin");
    assert_false(tu_exists(out));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_every_data_command_takes_threads),
        cmocka_unit_test(test_every_list_takes_top_and_its_aliases),
        cmocka_unit_test(test_stats_text_and_json),
        cmocka_unit_test(test_stats_aligns_utf8_titles),
        cmocka_unit_test(test_stats_histogram_edges),
        cmocka_unit_test(test_stats_json_last_bin_closed),
        cmocka_unit_test(test_json_histograms_hold_their_values),
        cmocka_unit_test(test_stats_std_of_one_value),
        cmocka_unit_test(test_stats_genres_unknown_without_movie_data),
        cmocka_unit_test(test_norms_last_bin_of_one_norm),
        cmocka_unit_test(test_stats_genre_names_with_backslashes),
        cmocka_unit_test(test_stats_whole_means_keep_their_range),
        cmocka_unit_test(test_plots),
        cmocka_unit_test(test_plots_no_genres),
        cmocka_unit_test(test_project_without_genres),
        cmocka_unit_test(test_plots_unknown_genre),
        cmocka_unit_test(test_plots_remove_undrawn_chart),
        cmocka_unit_test(test_plots_large_chart_svg_on_request),
        cmocka_unit_test(test_project_text_and_coordinates),
        cmocka_unit_test(test_project_singular_words),
        cmocka_unit_test(test_project_min_ratings_counts_training_ratings),
        cmocka_unit_test(test_project_degenerate),
        cmocka_unit_test(test_export),
        cmocka_unit_test(test_export_over_earlier_export),
        cmocka_unit_test(test_failed_writes_leave_nothing),
        cmocka_unit_test(test_stats_huge_values),
        cmocka_unit_test(test_stats_one_whole_mean),
        cmocka_unit_test(test_stats_ml1m_age_groups),
        cmocka_unit_test(test_stdout_failure_changes_no_output),
        cmocka_unit_test(test_export_refusal_reports_nothing),
        cmocka_unit_test(test_export_beside_its_inputs),
        cmocka_unit_test(test_failed_commit_puts_back_the_previous_set),
        cmocka_unit_test(test_outputs_commit_with_charts),
        cmocka_unit_test(test_killed_runs_temporaries_go),
        cmocka_unit_test(test_out_of_memory_changes_all_or_nothing),
        cmocka_unit_test(test_out_of_memory_in_the_logs_tail),
        cmocka_unit_test(test_report_first_without_exchange),
        cmocka_unit_test(test_signal_while_report_waits),
        cmocka_unit_test(test_gnuplot_in_its_own_process_group),
        cmocka_unit_test(test_signal_before_gnuplot_group_kills_it),
        cmocka_unit_test(test_signal_before_report_waits),
        cmocka_unit_test(test_signal_before_long_report_waits),
        cmocka_unit_test(test_signal_just_before_report_write),
        cmocka_unit_test(test_signal_just_after_report_write),
        cmocka_unit_test(test_model_data_mismatch),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
