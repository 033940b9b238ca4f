/*
 * test_cli_recommend.c — `mfrec recommend`, `mfrec similar` and `mfrec
 * norms` end to end: exit codes (0 ok, 1 runtime, 2 usage), messages that
 * name the flag, the title or file:line, and the output's content (ids and
 * titles of the dataset, exclusions, k past the catalogue, ordering, the
 * same output for any thread count). Runs on a synthetic dataset and on a
 * tiny hand-made one whose titles exercise exact, substring, ambiguous,
 * duplicate and comma-containing matches.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "mfrec.h"
#include "test_util.h"

static char *g_dir;            /* scratch directory */
static char *g_data, *g_model; /* synthetic dataset and a model trained on it */
static char *g_hm, *g_hm_model; /* hand-made dataset and its model */
static const char *g_bin;
static char *g_out, *g_err; /* last command's stdout and stderr */

/* Runs `ENV mfrec ARGS` (shell fragments; env may be ""); returns the exit
 * status and keeps stdout and stderr in g_out and g_err. */
#define run_env(env, ...) tu_run_clif(g_bin, g_dir, env, &g_out, &g_err, __VA_ARGS__)

#define run(...) run_env("", __VA_ARGS__)

static void expect_not_in(const char *hay, const char *needle)
{
    if (hay && strstr(hay, needle)) fail_msg("did not expect '%s' in:\n%s", needle, hay);
}

/* Lines of text that are table rows: they start with blanks and a rank. */
static int count_rows(const char *text)
{
    int n = 0;
    for (const char *p = text; p && *p;) {
        int rank;
        long long id;
        double score;
        if (sscanf(p, "%d %lld %lf", &rank, &id, &score) == 3 && rank == n + 1) n++;
        const char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : NULL;
    }
    return n;
}

/* The ratings of u.data in `dir` by user `user` (raw ids): item flags. */
static int rated_by(const char *dir, long user, unsigned char *flags, int n_flags)
{
    char *path = tu_path(dir, "u.data");
    char *text = tu_read_file(path, NULL);
    free(path);
    int n = 0;
    for (const char *p = text; p && *p;) {
        long u, i;
        if (sscanf(p, "%ld %ld", &u, &i) == 2 && u == user && i > 0 && i <= n_flags && !flags[i - 1]) {
            flags[i - 1] = 1;
            n++;
        }
        const char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : NULL;
    }
    free(text);
    return n;
}

/* Ratings per movie (raw ids 1..n_flags) in the rating file dir/name. */
static void count_ratings(const char *dir, const char *name, long *counts, int n_flags)
{
    char *path = tu_path(dir, name);
    char *text = tu_read_file(path, NULL);
    free(path);
    for (const char *p = text; p && *p;) {
        long u, i;
        if (sscanf(p, "%ld %ld", &u, &i) == 2 && i > 0 && i <= n_flags) counts[i - 1]++;
        const char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : NULL;
    }
    free(text);
}

/* The hand-made dataset: titles for the matching rules, 12 users. */
static const char *const hm_titles[] = {
    "Heat (1995)",                /* 1: exact beats the substring "heat" */
    "Heat Wave (1990)",           /* 2 */
    "Usual Suspects, The (1995)", /* 3: a comma in the title */
    "Chasing Amy (1997)",         /* 4: duplicate title */
    "Chasing Amy (1997)",         /* 5 */
    "Fargo (1996)",               /* 6 */
    "Star Wars (1977)",           /* 7 */
    "Return of the Jedi (1983)",  /* 8 */
    "Aladdin (1992)",             /* 9 */
    "Aladdin and the King of Thieves (1996)", /* 10 */
};
#define HM_ITEMS 10
#define HM_USERS 12

/* The hand-made dataset; u.item lists the first n_titled movies only. */
static void write_handmade_titled(const char *dir, int n_titled)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    assert_int_equal(system(cmd), 0);
    char buf[8192];
    size_t len = 0;
    for (int i = 0; i < n_titled; i++) {
        len += (size_t)snprintf(buf + len, sizeof buf - len,
                                "%d|%s|01-Jan-1995||http://example.invalid/%d", i + 1,
                                hm_titles[i], i + 1);
        for (int g = 0; g < 19; g++)
            len += (size_t)snprintf(buf + len, sizeof buf - len, "|%d", g == 1 + i % 5 || g == 8);
        len += (size_t)snprintf(buf + len, sizeof buf - len, "\n");
    }
    tu_write_file(dir, "u.item", buf, len);
    len = 0;
    for (int u = 1; u <= HM_USERS; u++)
        for (int i = 1; i <= HM_ITEMS; i++)
            if ((u * 3 + i) % 4 != 0)
                len += (size_t)snprintf(buf + len, sizeof buf - len, "%d\t%d\t%d\t%d\n", u, i,
                                        1 + (u * i + u) % 5, 880000000 + u * 100 + i);
    tu_write_file(dir, "u.data", buf, len);
}

static void write_handmade(const char *dir) { write_handmade_titled(dir, HM_ITEMS); }

static int setup(void **state)
{
    (void)state;
    g_bin = getenv("MFREC_BIN");
    if (!g_bin) tu_skip_all("MFREC_BIN is not set (run through meson test)");
    g_dir = tu_mkdtemp();
    g_data = tu_path(g_dir, "data");
    g_model = tu_path(g_dir, "m.bin");
    g_hm = tu_path(g_dir, "hm");
    g_hm_model = tu_path(g_dir, "hm.bin");
    if (run("synth --users 120 --items 80 --ratings 3000 --rank 4 --seed 3 --out '%s'", g_data) != 0 ||
        run("train --data '%s' --split random:0.2 --dim 6 --epochs 60 --lr 0.05 --quiet --out '%s'",
            g_data, g_model) != 0) {
        fprintf(stderr, "setup failed: %s\n", g_err);
        return -1;
    }
    write_handmade(g_hm);
    if (run("train --data '%s' --split random:0.2 --dim 3 --epochs 40 --lr 0.05 --quiet --out '%s'",
            g_hm, g_hm_model) != 0) {
        fprintf(stderr, "setup failed: %s\n", g_err);
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
    free(g_model);
    free(g_hm);
    free(g_hm_model);
    free(g_out);
    free(g_err);
    return 0;
}

static void test_help_and_usage_errors(void **state)
{
    (void)state;
    assert_int_equal(run("--help"), 0);
    tu_expect_in(g_out, "recommend");
    tu_expect_in(g_out, "similar");
    tu_expect_in(g_out, "norms");
    for (const char *c = "recommend\0similar\0norms\0"; *c; c += strlen(c) + 1) {
        assert_int_equal(run("%s --help", c), 0);
        tu_expect_in(g_out, "Usage: mfrec");
        assert_int_equal(run("%s --bogus 1", c), 2);
        tu_expect_in(g_err, "unknown option --bogus");
        assert_int_equal(run("%s", c), 2);
        tu_expect_in(g_err, "--model is required");
    }
    assert_int_equal(run("recommend --model '%s'", g_model), 2);
    tu_expect_in(g_err, "one of --user, --rate, --ratings-file or --all-users is required");
    assert_int_equal(run("recommend --model '%s' --user 1 --rate 'a=5'", g_model), 2);
    tu_expect_in(g_err, "exclude each other");
    assert_int_equal(run("recommend --model '%s' --rate 'a=5' --include-rated", g_model), 2);
    tu_expect_in(g_err, "--include-rated goes with --user");
    assert_int_equal(run("recommend --model '%s' --user 1 --json --csv", g_model), 2);
    tu_expect_in(g_err, "--json and --csv exclude each other");
    assert_int_equal(run("recommend --model '%s' --all-users", g_model), 2);
    tu_expect_in(g_err, "--all-users needs --out FILE");
    assert_int_equal(run("recommend --model '%s' --user 1 --out x.csv", g_model), 2);
    tu_expect_in(g_err, "--out goes with --all-users");
    assert_int_equal(run("recommend --model '%s' --user 1 --top 0", g_model), 2);
    tu_expect_in(g_err, "--top must be an integer in 1..1000000, got '0'");
    assert_int_equal(run("norms --model '%s' --min-ratings -1", g_model), 2);
    tu_expect_in(g_err, "--min-ratings must be an integer");
    assert_int_equal(run("recommend --model '%s' --user 1 -k 0", g_model), 2);
    tu_expect_in(g_err, "-k must be an integer in 1..1000000, got '0'");
    assert_int_equal(run("recommend --model '%s' --user abc", g_model), 2);
    tu_expect_in(g_err, "--user must be a user id (an integer, as in the dataset), got 'abc'");
    expect_not_in(g_err, "9223372036854775807");
    assert_int_equal(run("recommend --model '%s' --user 1 --measure euclid", g_model), 2);
    tu_expect_in(g_err, "--measure must be dot or cosine, got 'euclid'");
    assert_int_equal(run("recommend --model '%s' --rate 'a=5' --lambda -1", g_model), 2);
    tu_expect_in(g_err, "--lambda");
    assert_int_equal(run("recommend --model '%s' --user", g_model), 2);
    tu_expect_in(g_err, "--user needs a value");
    assert_int_equal(run("similar --model '%s'", g_model), 2);
    tu_expect_in(g_err, "--movie is required");
    assert_int_equal(run("similar --model '%s' --movie x --measure l1", g_model), 2);
    tu_expect_in(g_err, "--measure must be dot or cosine");
    assert_int_equal(run("norms --model '%s' --bins 0", g_model), 2);
    tu_expect_in(g_err, "--bins must be an integer in 1..1000, got '0'");
    /* --csv prints the list alone: a --bins there would change nothing
     * (as project's --bins without --plot, refused), but with --plot it
     * shapes item_norms */
    assert_int_equal(run("norms --model '%s' --csv --bins 5", g_model), 2);
    tu_expect_in(g_err, "--bins only changes the histogram, which --csv leaves out");
}

/* "-h" as a flag's value is the value, as "-1" is: the command runs or
 * fails on it, never prints its help and exits 0 without its output (a
 * program passing a user's text to --movie, or a file name to --out). */
static void test_help_flag_as_a_value(void **state)
{
    (void)state;
    assert_int_equal(run("similar --model '%s' --movie -h --json", g_hm_model), 1);
    tu_expect_in(g_err, "--movie: no movie title matches '-h'");
    expect_not_in(g_out, "Usage:");
    assert_int_equal(run("recommend --model '%s' --rate -h --json", g_hm_model), 2);
    tu_expect_in(g_err, "--rate: '-h' has no '=RATING'");
    char *out = tu_path(g_dir, "-h");
    remove(out);
    assert_int_equal(run("recommend --model '%s' --all-users --out '%s' -k 2", g_hm_model, out), 0);
    struct stat sb;
    assert_int_equal(stat(out, &sb), 0);
    remove(out);
    free(out);
    /* a flag's "-h" after a switch or a '=' value is still the help */
    assert_int_equal(run("similar --model '%s' --json -h", g_hm_model), 0);
    tu_expect_in(g_out, "Usage: mfrec similar");
    assert_int_equal(run("similar --model='%s' -h", g_hm_model), 0);
    tu_expect_in(g_out, "Usage: mfrec similar");
    assert_int_equal(run("similar --movie --help"), 0);
    tu_expect_in(g_out, "Usage: mfrec similar");
}

static void test_runtime_errors(void **state)
{
    (void)state;
    assert_int_equal(run("recommend --model '%s/missing.bin' --user 1", g_dir), 1);
    tu_expect_in(g_err, "missing.bin");
    assert_int_equal(run("recommend --model '%s' --user 9999", g_model), 1);
    tu_expect_in(g_err, "--user: no user has id 9999");
    /* the model's dataset is checked: another dataset is refused */
    assert_int_equal(run("recommend --model '%s' --data '%s' --user 1", g_model, g_hm), 1);
    tu_expect_in(g_err, "--data");
    tu_expect_in(g_err, "model has");
    assert_int_equal(run("similar --model '%s' --data '%s' --movie heat", g_model, g_hm), 1);
    assert_int_equal(run("norms --model '%s' --data '%s/nowhere'", g_model, g_dir), 1);
    tu_expect_in(g_err, "nowhere");
}

static void test_recommend_user(void **state)
{
    (void)state;
    /* the data directory recorded in the model is the default */
    assert_int_equal(run("recommend --model '%s' --user 5", g_model), 0);
    tu_expect_in(g_out, "user 5 (");
    tu_expect_in(g_out, "top 10 by dot");
    tu_expect_in(g_out, "Synthetic Movie ");
    tu_expect_in(g_out, "[");
    assert_int_equal(count_rows(g_out), 10);
    char *plain = strdup(g_out);

    /* same output for any thread count */
    assert_int_equal(run_env("OMP_NUM_THREADS=3", "recommend --model '%s' --data '%s' --user 5",
                             g_model, g_data),
                     0);
    assert_string_equal(g_out, plain);
    free(plain);

    /* the rated movies are left out by default: asking for more than the
     * catalogue lists every unrated movie once, best first */
    unsigned char rated[80] = {0};
    int n_rated = rated_by(g_data, 5, rated, 80);
    assert_true(n_rated > 0);
    assert_int_equal(run("recommend --model '%s' --user 5 --top 500", g_model), 0);
    char want[128];
    snprintf(want, sizeof want, "user 5 (%d ratings, ", n_rated);
    tu_expect_in(g_out, want);
    tu_expect_in(g_out, " in the model's training split): top 500 by dot");
    snprintf(want, sizeof want, "(only %d movies qualify)", 80 - n_rated);
    tu_expect_in(g_out, want);
    assert_int_equal(count_rows(g_out), 80 - n_rated);
    double prev = 1e300;
    for (const char *p = g_out; p && *p;) {
        int rank;
        long long id;
        double score;
        if (sscanf(p, "%d %lld %lf", &rank, &id, &score) == 3) {
            assert_true(id >= 1 && id <= 80);
            assert_false(rated[id - 1]);
            assert_true(score <= prev); /* best first */
            assert_true(score >= 1.0 && score <= 5.0); /* a predicted rating, clamped */
            prev = score;
        }
        const char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : NULL;
    }
    /* --include-rated: the whole catalogue, the rated movies marked */
    assert_int_equal(run("recommend --model '%s' --user 5 -k 500 --measure cosine --include-rated",
                         g_model),
                     0);
    assert_int_equal(count_rows(g_out), 80);
    int marked = 0;
    for (const char *p = strstr(g_out, "* rated "); p; p = strstr(p + 1, "* rated ")) marked++;
    assert_int_equal(marked, n_rated);
}

static void test_similar(void **state)
{
    (void)state;
    /* "movie 7" is in Synthetic Movie 7 and 70..79: ambiguous, listed */
    assert_int_equal(run("similar --model '%s' --movie 'MOVIE 7'", g_model), 1);
    tu_expect_in(g_err, "--movie: 'MOVIE 7' is ambiguous: 11 movies have titles containing it");
    tu_expect_in(g_err, "Synthetic Movie 70 (");
    tu_expect_in(g_err, "Synthetic Movie 79 (");
    /* the whole title without its year is exact */
    assert_int_equal(run("similar --model '%s' --movie 'synthetic movie 7' --measure cosine --json", g_model),
                     0);
    tu_expect_json(g_out);
    /* the query's genres, as the table's header shows them */
    tu_expect_in(g_out, "\"title\":\"Synthetic Movie 7 (");
    assert_true(strstr(g_out, "\"genres\":[") < strstr(g_out, "\"items\":"));
    /* nothing qualifies: a line, no table of headers only; norms too (it
     * was an error, exit 1), with empty lists in --json and a header alone
     * in --csv, as when it lists movies; its --plot has nothing to draw */
    assert_int_equal(run("similar --model '%s' --movie 'synthetic movie 7' --min-ratings 100000", g_model), 0);
    tu_expect_in(g_out, "no other movie qualifies\n");
    expect_not_in(g_out, "rank ");
    assert_int_equal(run("norms --model '%s' --min-ratings 100000", g_model), 0);
    tu_expect_in(g_out, "item embedding norms (k 6, 80 movies, those with fewer than 100000 training ratings "
                        "left out)\nno movie qualifies\n");
    expect_not_in(g_out, "rank ");
    expect_not_in(g_out, "histogram");
    assert_string_equal(g_err, "");
    assert_int_equal(run("norms --model '%s' --min-ratings 100000 --json", g_model), 0);
    tu_expect_json(g_out);
    tu_expect_in(g_out, ",\"dim\":6,\"movies\":80,\"top\":10,\"min_ratings\":100000,\"items\":[],\"histogram\":{\"edges\":[],\"counts\":[],"
                        "\"last_bin_closed\":false}}\n");
    assert_int_equal(run("norms --model '%s' --min-ratings 100000 --csv", g_model), 0);
    assert_string_equal(g_out, "rank,movie,score,norm,ratings,rated,title,genres\n");
    char *nothing = tu_path(g_dir, "no-norms-plot");
    assert_int_equal(run("norms --model '%s' --min-ratings 100000 --plot '%s'", g_model, nothing), 1);
    if (system("command -v gnuplot >/dev/null 2>&1") == 0)
        tu_expect_in(g_err, "no movie has at least 100000 training ratings (--min-ratings; the model's split): "
                            "--plot has no norms to draw");
    expect_not_in(g_out, "no movie qualifies");
    assert_false(tu_exists(nothing));
    free(nothing);
    assert_int_equal(run("similar --model '%s' --movie 'synthetic movie 7' --measure cosine", g_model), 0);
    tu_expect_in(g_out, "movie 7: Synthetic Movie 7 (");
    tu_expect_in(g_out, "nearest 10 by cosine");
    assert_int_equal(count_rows(g_out), 10);
    /* the movie itself is never its own neighbour; cosines are in [-1, 1] */
    const char *table = strstr(g_out, "rank");
    assert_non_null(table);
    for (const char *p = table; p && *p;) {
        int rank;
        long long id;
        double score;
        if (sscanf(p, "%d %lld %lf", &rank, &id, &score) == 3) {
            assert_true(id != 7);
            assert_true(score >= -1.0 && score <= 1.0);
        }
        const char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : NULL;
    }
    assert_int_equal(run("similar --model '%s' --movie 'Synthetic Movie 12 (' -k 100 --measure dot",
                         g_model),
                     0);
    expect_not_in(g_out, "match");
    tu_expect_in(g_out, "(only 79 other movies qualify)");
    assert_int_equal(count_rows(g_out), 79);
    assert_int_equal(run("similar --model '%s' --movie 'no such film'", g_model), 1);
    tu_expect_in(g_err, "--movie: no movie title matches 'no such film'");

    /* hand-made titles: exact beats substring; the article typed in front;
     * a near miss suggests the closest titles; #ID */
    assert_int_equal(run("similar --model '%s' --movie aladdin -k 3", g_hm_model), 0);
    tu_expect_in(g_out, "movie 9: Aladdin (1992)");
    assert_int_equal(run("similar --model '%s' --movie 'The Usual Suspects' -k 3", g_hm_model), 0);
    tu_expect_in(g_out, "movie 3: Usual Suspects, The (1995)");
    assert_int_equal(run("similar --model '%s' --movie '#8' -k 3", g_hm_model), 0);
    tu_expect_in(g_out, "movie 8: Return of the Jedi (1983)");
    assert_int_equal(run("similar --model '%s' --movie 'Star Warz'", g_hm_model), 1);
    tu_expect_in(g_err, "no movie title matches 'Star Warz'; the closest titles:");
    tu_expect_in(g_err, "Star Wars (1977)");
    assert_int_equal(run("similar --model '%s' --movie hea", g_hm_model), 1);
    tu_expect_in(g_err, "'hea' is ambiguous: 2 movies have titles containing it");
}

/* An ambiguous title's candidates: the two movies of one title told apart
 * by their training ratings, counted as the lists count them (norms
 * --csv's column), which a half split makes fewer than the data's
 * (write_handmade: user u rates movie i when (3u + i) % 4 != 0). */
static void test_similar_ambiguous_counts(void **state)
{
    (void)state;
    int64_t train_n[2] = {-1, -1};
    char *half = tu_path(g_dir, "hm-half.bin");
    assert_int_equal(
        run("train --data '%s' --split random:0.5 --dim 3 --epochs 1 --quiet --out '%s'", g_hm, half), 0);
    assert_int_equal(run("norms --model '%s' --csv --top 1000", half), 0);
    for (const char *line = strchr(g_out, '\n'); line; line = strchr(line + 1, '\n')) {
        long long id, cnt;
        if (sscanf(line + 1, "%*d,%lld,%*[^,],%*[^,],%lld,", &id, &cnt) == 2 && (id == 4 || id == 5))
            train_n[id - 4] = cnt;
    }
    assert_int_equal(run("similar --model '%s' --movie 'Chasing Amy'", half), 1);
    free(half);
    tu_expect_in(g_err, "    movie  ratings  title\n");
    for (int i = 4; i <= 5; i++) {
        int n = 0;
        for (int u = 1; u <= HM_USERS; u++) n += (u * 3 + i) % 4 != 0;
        assert_true(train_n[i - 4] > 0 && train_n[i - 4] < n);
        char want[64];
        snprintf(want, sizeof want, "  %7d  %7lld  Chasing Amy (1997)\n", i, (long long)train_n[i - 4]);
        tu_expect_in(g_err, want);
    }
}

/* norms --plot's norm_vs_ratings.dat: one "ratings norm" point per movie
 * with training ratings, the same pairs as the --csv list of every movie. */
static void check_norm_scatter(const char *plots)
{
    enum { MAX = 200 };
    double dat[2 * MAX], csv[2 * MAX];
    char *path = tu_path(plots, "norm_vs_ratings.dat");
    int n_dat = tu_read_dat(path, 2, dat, MAX, NULL);
    free(path);
    assert_int_equal(run("norms --model '%s' --top 1000 --csv", g_model), 0);
    int n_csv = 0;
    const char *p = strchr(g_out, '\n');
    while (p && p[1] && n_csv < MAX) {
        int rank, id;
        double score, norm, count;
        if (sscanf(p + 1, "%d,%d,%lf,%lf,%lf", &rank, &id, &score, &norm, &count) == 5 && count > 0) {
            csv[2 * n_csv] = count;
            csv[2 * n_csv + 1] = norm;
            n_csv++;
        }
        p = strchr(p + 1, '\n');
    }
    assert_true(n_csv > 10);
    assert_int_equal(n_dat, n_csv);
    /* the CSV is by norm, largest first; the chart's file in item order */
    for (int a = 0; a < n_csv; a++) {
        int found = 0;
        for (int b = 0; b < n_dat && !found; b++)
            found = dat[2 * b] == csv[2 * a] && fabs(dat[2 * b + 1] - csv[2 * a + 1]) <=
                                                    1e-7 * csv[2 * a + 1];
        if (!found) fail_msg("no point (%g, %.9g) in norm_vs_ratings.dat", csv[2 * a], csv[2 * a + 1]);
    }
}

/* norm_vs_ratings' log x axis labels at least two values in the range of
 * the points: gnuplot labels only powers of ten, and movies with 20 to 45
 * training ratings sat between 10 and 100 with no label at all. */
static void check_norm_scatter_x_labels(const char *plots)
{
    enum { MAX = 200 };
    double dat[2 * MAX], xmax = 0;
    char *path = tu_path(plots, "norm_vs_ratings.dat"), *gp = tu_path(plots, "norm_vs_ratings.gp");
    int n = tu_read_dat(path, 2, dat, MAX, NULL);
    for (int r = 0; r < n; r++) xmax = dat[2 * r] > xmax ? dat[2 * r] : xmax;
    char *script = tu_read_file(gp, NULL);
    assert_non_null(script);
    const char *xr = strstr(script, "\nset xrange [");
    double lo, hi = xmax;
    assert_non_null(xr);
    assert_int_equal(sscanf(xr, "\nset xrange [%lf", &lo), 1);
    if (sscanf(xr, "\nset xrange [%*f:%lf]", &hi) == 1) assert_true(hi >= xmax);
    int labels = 0;
    const char *tics = strstr(script, "\nset xtics (");
    if (tics) {
        for (const char *q = tics + strlen("\nset xtics ("); *q && *q != ')';) {
            char *end;
            double v = strtod(q, &end);
            if (end == q) break;
            labels += v >= lo && v <= hi;
            q = end + strspn(end, ", ");
        }
    } else {
        /* the axis runs to the power of ten at or above the largest x */
        for (int e = -3; e <= 9; e++) labels += pow(10, e) >= lo && pow(10, e) <= pow(10, ceil(log10(xmax)));
    }
    if (labels < 2) fail_msg("norm_vs_ratings: %d labelled x tic(s) between %g and %g:\n%s", labels, lo, xmax, script);
    free(script), free(gp), free(path);
}

/* norms --json: the outer edges hold every norm, as "items" prints them
 * and as norm_vs_ratings.dat has them; the first was written at 9 digits,
 * which could lie above the smallest norm (stats writes them in full). */
static void check_norms_json_edges(void)
{
    assert_int_equal(run("norms --model '%s' --top 1000 --bins 7 --json", g_model), 0);
    tu_expect_json(g_out);
    double lo = 1e300, hi = -1e300;
    for (const char *p = strstr(g_out, "\"norm\":"); p; p = strstr(p + 1, "\"norm\":")) {
        const double v = strtod(p + strlen("\"norm\":"), NULL);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    const char *e = strstr(g_out, "\"edges\":[");
    assert_non_null(e);
    const double first = strtod(e + strlen("\"edges\":["), NULL);
    const char *last = strchr(e, ']');
    while (last[-1] != ',') last--;
    if (!(first <= lo && strtod(last, NULL) >= hi))
        fail_msg("edges [%.17g, %.17g] leave out a norm of [%.17g, %.17g]", first, strtod(last, NULL), lo, hi);
}

static void test_norms(void **state)
{
    (void)state;
    long counts[80] = {0};
    /* the column counts training ratings: those of the model's split */
    char *split = tu_path(g_dir, "split");
    assert_int_equal(run("split --data '%s' --split random:0.2 --out '%s'", g_data, split), 0);
    count_ratings(split, "train.data", counts, 80);
    free(split);
    assert_int_equal(run("norms --model '%s' -k 5 --bins 8", g_model), 0);
    tu_expect_in(g_out, "item embedding norms (k 6, 80 movies)");
    tu_expect_in(g_out, "largest 5 norms");
    tu_expect_in(g_out, "histogram of 80 norms (8 bins)");
    double prev = 1e300;
    int rows = 0;
    for (const char *p = g_out; p && *p;) {
        int rank;
        long long id, n;
        double norm;
        if (sscanf(p, "%d %lld %lf %lld", &rank, &id, &norm, &n) == 4 && rank == rows + 1) {
            assert_true(id >= 1 && id <= 80);
            assert_int_equal(n, counts[id - 1]);
            assert_true(norm <= prev && norm >= 0);
            prev = norm;
            rows++;
        }
        const char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : NULL;
    }
    assert_int_equal(rows, 5);
    /* 8 histogram lines whose counts add up to 80 */
    long total = 0;
    int bins = 0;
    for (const char *p = strstr(g_out, "histogram"); p && *p;) {
        double lo, hi;
        long c;
        char close;
        if (sscanf(p, " [%lf, %lf%c %ld", &lo, &hi, &close, &c) == 4) {
            total += c;
            bins++;
        }
        const char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : NULL;
    }
    assert_int_equal(bins, 8);
    assert_int_equal(total, 80);
    check_norms_json_edges();

    /* --plot: pictures with gnuplot, a clear error without it */
    char *plots = tu_path(g_dir, "plots");
    int have_gnuplot = system("command -v gnuplot >/dev/null 2>&1") == 0;
    int rc = run("norms --model '%s' --plot '%s'", g_model, plots);
    if (have_gnuplot) {
        assert_int_equal(rc, 0);
        char *png = tu_path(plots, "item_norms.png"), *svg = tu_path(plots, "item_norms.svg");
        assert_true(tu_exists(png));
        assert_true(tu_exists(svg));
        free(png);
        free(svg);
        check_norm_scatter(plots);
        check_norm_scatter_x_labels(plots);
        /* --json and --csv name the charts on stderr, as stats --json does */
        assert_int_equal(run("norms --model '%s' --json --plot '%s'", g_model, plots), 0);
        tu_expect_json(g_out);
        tu_expect_in(g_err, "/item_norms.png and .svg, ");
        assert_int_equal(run("norms --model '%s' --csv --plot '%s'", g_model, plots), 0);
        tu_expect_in(g_err, "/norm_vs_ratings.png and .svg\n");
        expect_not_in(g_out, "item_norms");
        /* movies with 20 to 95 training ratings: no power of ten but 100 */
        char *p3 = tu_path(g_dir, "plots-narrow");
        assert_int_equal(run("norms --model '%s' --min-ratings 20 --plot '%s'", g_model, p3), 0);
        check_norm_scatter_x_labels(p3);
        free(p3);
        /* the titles say which movies --min-ratings kept, as the report does */
        char *p2 = tu_path(g_dir, "plots-min");
        assert_int_equal(run("norms --model '%s' --min-ratings 3 --plot '%s'", g_model, p2), 0);
        const char *charts[2] = {"item_norms.gp", "norm_vs_ratings.gp"};
        for (int x = 0; x < 2; x++) {
            char *gp = tu_path(p2, charts[x]);
            char *text = tu_read_file(gp, NULL);
            /* the title's last part (a long title breaks after a ", ") */
            tu_expect_in(text, "3 training ratings or more' noenhanced\n");
            free(text), free(gp);
        }
        char *gp = tu_path(plots, "item_norms.gp");
        char *text = tu_read_file(gp, NULL);
        expect_not_in(text, "training ratings or more");
        free(text), free(gp), free(p2);
    } else {
        assert_int_equal(rc, 1);
        tu_expect_in(g_err, "gnuplot");
    }
    free(plots);
}

/* A rated movie that u.item does not list: shown as "#ID (untitled)",
 * which is how it is typed back; null in JSON, empty in CSV and TSV. */
static void test_untitled_movie(void **state)
{
    (void)state;
    char *dir = tu_path(g_dir, "untitled"), *model = tu_path(g_dir, "untitled.bin");
    write_handmade_titled(dir, HM_ITEMS - 1); /* movie 10 has no title */
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 3 --epochs 40 --lr 0.05 --quiet --out '%s'",
                         dir, model), 0);
    assert_int_equal(run("similar --model '%s' --movie '#10' -k 2", model), 0);
    tu_expect_in(g_out, "movie 10: #10 (untitled)");
    assert_int_equal(run("similar --model '%s' --movie '#10' -k 2 --json", model), 0);
    tu_expect_json(g_out);
    tu_expect_in(g_out, "\"movie\":10,\"title\":null,");
    assert_int_equal(run("recommend --model '%s' --rate '#10=5' -k 1", model), 0);
    tu_expect_in(g_out, "     10       5");
    tu_expect_in(g_out, "#10 (untitled)\n");
    assert_int_equal(run("recommend --model '%s' --user 1 --include-rated -k 10 --csv", model), 0);
    tu_expect_in(g_out, "rank,movie,");
    int found = 0;
    for (const char *p = strchr(g_out, '\n'); p && p[1]; p = strchr(p + 1, '\n')) {
        int rank;
        long long mid;
        if (sscanf(p + 1, "%d,%lld,", &rank, &mid) == 2 && mid == 10) {
            size_t len = strcspn(p + 1, "\n");
            assert_true(len >= 2 && !strncmp(p + 1 + len - 2, ",,", 2)); /* title and genres empty */
            found = 1;
        }
    }
    assert_true(found);
    char *exp = tu_path(g_dir, "untitled-export");
    assert_int_equal(run("export --model '%s' --as tsv --out '%s'", model, exp), 0);
    char *meta = tu_path(exp, "metadata.tsv");
    char *text = tu_read_file(meta, NULL);
    assert_non_null(text);
    tu_expect_in(text, "\n10\t\t\t");
    free(text);
    /* project --out's TSV: the same empty title as metadata.tsv, and the
     * note says so (it said only "#ID (untitled)") */
    char *coords = tu_path(g_dir, "untitled-coords.tsv");
    assert_int_equal(run("project --model '%s' --out '%s'", model, coords), 0);
    text = tu_read_file(coords, NULL);
    assert_non_null(text);
    tu_expect_in(text, "\n10\t\t");
    free(text);
    free(coords);
    /* no title at all (no u.item): said */
    char *bare = tu_path(g_dir, "untitled-all");
    write_handmade_titled(bare, 0);
    char *item = tu_path(bare, "u.item");
    assert_int_equal(remove(item), 0); /* an empty one is an error of its own */
    free(item);
    assert_int_equal(run("stats --data '%s'", bare), 0);
    tu_expect_in(g_err, "has a title (u.item missing or empty): no titles, genres or years; movies are shown as #ID "
                        "(untitled); their title is empty in CSV and TSV, null in JSON\n");
    assert_int_equal(run("stats --data '%s'", dir), 0); /* some titles: the others counted */
    expect_not_in(g_err, "note: no movie");
    tu_expect_in(g_err, "/untitled has no title (not in u.item, or an empty title there); they are shown "
                        "as #ID (untitled); their title is empty in CSV and TSV, null in JSON\n");
    tu_expect_in(g_err, "note: 1 of the 10 movies of ");
    assert_int_equal(run("recommend --model '%s' --user 1 -k 2", model), 0); /* said once */
    const char *note = strstr(g_err, "note: 1 of the 10 movies of ");
    assert_non_null(note);
    assert_null(strstr(note + 1, "note: 1 of the 10 movies of "));
    /* a title looked up in data without any: said why, and that #ID works */
    char *bare_model = tu_path(g_dir, "untitled-all.bin");
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 3 --epochs 2 --quiet --out '%s'", bare,
                         bare_model),
                     0);
    assert_int_equal(run("similar --model '%s' --movie 'Fargo'", bare_model), 1);
    tu_expect_in(g_err, "--movie: no movie title matches 'Fargo': ");
    tu_expect_in(g_err, "has no movie titles; name a movie by id, as #ID\n");
    assert_int_equal(run("recommend --model '%s' --rate 'Fargo=5'", bare_model), 1);
    tu_expect_in(g_err, "has no movie titles");
    assert_int_equal(run("similar --model '%s' --movie '#2' -k 1", bare_model), 0);
    free(bare_model);
    free(bare);
    free(meta);
    free(exp);
    free(dir);
    free(model);
}

/* A split written by `mfrec split` beside u.item is read as a delimited
 * file, without that metadata: said (it went unsaid, and every movie was
 * "(untitled)"), with --format ml-100k, which reads the titles. */
static void test_split_beside_u_item(void **state)
{
    (void)state;
    char *dir = tu_path(g_dir, "split_titles"), *model = tu_path(g_dir, "split_titles.bin");
    write_handmade(dir);
    assert_int_equal(run("split --data '%s' --split random:0.2 --out '%s'", dir, dir), 0);
    assert_int_equal(run("train --data '%s/train.data' --split none --dim 3 --epochs 2 --quiet --out '%s'", dir,
                         model),
                     0);
    tu_expect_in(g_err, "/train.data is read as a delimited rating file, without the u.item beside it (its "
                        "name is not ML-100K's); --format ml-100k reads it as ML-100K");
    /* a table of such a model's movies says why they are #IDs, and how to
     * keep the titles; once, and not in the machine outputs */
    assert_int_equal(run("recommend --model '%s' --user 1 -k 3", model), 0);
    tu_expect_in(g_out, "(untitled)");
    tu_expect_in(g_err, "/train.data is a rating file alone, without movie titles: movies are shown as #ID (untitled); a "
                        "MovieLens split keeps them when written into the dataset's directory and read with "
                        "--format ml-100k");
    assert_null(strstr(strstr(g_err, "rating file alone") + 1, "rating file alone"));
    assert_int_equal(run("similar --model '%s' --movie '#1' -k 3", model), 0);
    tu_expect_in(g_err, "is a rating file alone");
    assert_int_equal(run("recommend --model '%s' --user 1 -k 3 --json", model), 0);
    expect_not_in(g_err, "rating file alone");
    assert_int_equal(run("train --data '%s/train.data' --format ml-100k --split none --dim 3 --epochs 2 --quiet "
                         "--out '%s'",
                         dir, model),
                     0);
    expect_not_in(g_err, "note:");
    assert_int_equal(run("recommend --model '%s' --user 1 --include-rated -k 10", model), 0);
    expect_not_in(g_out, "(untitled)");
    expect_not_in(g_err, "rating file alone");
    tu_expect_in(g_out, "Usual Suspects, The (1995)");
    tu_expect_in(g_out, "Star Wars (1977)");
    free(model);
    free(dir);
}

/* Outputs written into the data directory: the same command runs again
 * (an earlier output there is not one of the data's files), while the
 * data's own files stay inputs. */
static void test_outputs_in_the_data_dir(void **state)
{
    (void)state;
    char *dir = tu_path(g_dir, "outdir_data");
    write_handmade(dir);
    char *model = tu_path(dir, "m.bin"), *recs = tu_path(dir, "recs.csv");
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(run("train --data '%s' --split random:0.2 --dim 3 --epochs 5 --quiet --out '%s'", dir, model), 0);
        assert_int_equal(run("recommend --model '%s' --all-users -k 2 --out '%s'", model, recs), 0);
    }
    assert_int_equal(run("train --data '%s' --epochs 5 --quiet --out '%s/u.item'", dir, dir), 1);
    tu_expect_in(g_err, "u.item is one of this run's inputs");
    free(model);
    free(recs);
    free(dir);
}

static void test_fold_in_titles(void **state)
{
    (void)state;
    /* an exact title wins over substring matches; a plain substring works */
    assert_int_equal(run("recommend --model '%s' --rate 'heat (1995)=5, fargo=4' -k 20", g_hm_model), 0);
    tu_expect_in(g_out, "new user folded in from 2 ratings (lambda 0.1)");
    tu_expect_in(g_out, "Heat (1995)");
    tu_expect_in(g_out, "Fargo (1996)");
    tu_expect_in(g_out, "predicted");
    const char *top = strstr(g_out, "left out\n");
    assert_non_null(top);
    tu_expect_in(top, "(only 8 movies qualify)");
    expect_not_in(top, "Fargo (1996)");
    expect_not_in(top, "Heat (1995)  [");
    assert_int_equal(count_rows(top), 8);

    /* several substring matches: ambiguous, candidates listed */
    assert_int_equal(run("recommend --model '%s' --rate 'hea=5'", g_hm_model), 1);
    tu_expect_in(g_err, "--rate: 'hea' is ambiguous: 2 movies have titles containing it");
    tu_expect_in(g_err, "Heat (1995)");
    tu_expect_in(g_err, "Heat Wave (1990)");
    /* two movies with the same title: ambiguous; #ID picks one */
    assert_int_equal(run("recommend --model '%s' --rate 'chasing amy (1997)=4'", g_hm_model), 1);
    tu_expect_in(g_err, "2 movies are titled it (name one as #ID)"); /* no exact name tells them apart */
    /* one of a thing is singular */
    assert_int_equal(run("recommend --model '%s' --rate '#5=4' --top 1", g_hm_model), 0);
    tu_expect_in(g_out, "the 1 rated movie left out\n");
    assert_int_equal(run("norms --model '%s' --top 1 --bins 1 --min-ratings 1", g_hm_model), 0);
    tu_expect_in(g_out, "those with fewer than 1 training rating left out)\nlargest 1 norm\n");
    tu_expect_in(g_out, " norms (1 bin)\n");
    /* spaces around a title do not count, in --movie as in --rate; only
     * spaces are no title */
    assert_int_equal(run("similar --model '%s' --movie '   '", g_hm_model), 2);
    tu_expect_in(g_err, "--movie must not be empty");
    assert_int_equal(run("similar --model '%s' --movie '  Heat Wave  ' --top 1", g_hm_model), 0);
    tu_expect_in(g_out, "Heat Wave (1990)");
    assert_int_equal(run("recommend --model '%s' --rate '#5=4,Star Wars=5'", g_hm_model), 0);
    tu_expect_in(g_out, "      5       4");
    /* unknown title or id */
    assert_int_equal(run("recommend --model '%s' --rate 'Casablanca=5'", g_hm_model), 1);
    tu_expect_in(g_err, "--rate: no movie title matches 'Casablanca'");
    assert_int_equal(run("recommend --model '%s' --rate '#77=5'", g_hm_model), 1);
    tu_expect_in(g_err, "no movie has id '77'");
    /* a comma inside a title */
    assert_int_equal(run("recommend --model '%s' --rate 'Usual Suspects, The (1995)=5,Jedi=4'",
                         g_hm_model),
                     0);
    tu_expect_in(g_out, "from 2 ratings");
    tu_expect_in(g_out, "Return of the Jedi (1983)");
    /* malformed lists are usage errors naming --rate */
    assert_int_equal(run("recommend --model '%s' --rate 'Fargo'", g_hm_model), 2);
    tu_expect_in(g_err, "--rate: 'Fargo' has no '=RATING'");
    assert_int_equal(run("recommend --model '%s' --rate 'Fargo=9'", g_hm_model), 2);
    tu_expect_in(g_err, "--rate: the rating of 'Fargo' must be a number in [1, 5], got '9'");
    assert_int_equal(run("recommend --model '%s' --rate '=3'", g_hm_model), 2);
    tu_expect_in(g_err, "no title");
    assert_int_equal(run("recommend --model '%s' --rate 'Fargo=5,fargo (1996)=3'", g_hm_model), 1);
    tu_expect_in(g_err, "'Fargo (1996)' is rated twice");
    /* a repeated --rate adds its ratings to the earlier ones (it used to
     * replace them silently), so a movie in two of them is rated twice */
    assert_int_equal(run("recommend --model '%s' --rate 'Fargo=5' --rate 'Heat (1995)=2,Jedi=4' -k 1",
                         g_hm_model),
                     0);
    tu_expect_in(g_out, "new user folded in from 3 ratings");
    tu_expect_in(g_out, "Fargo (1996)");
    tu_expect_in(g_out, "Heat (1995)");
    tu_expect_in(g_out, "Return of the Jedi (1983)");
    char *joined = strdup(g_out);
    assert_int_equal(run("recommend --model '%s' --rate 'Fargo=5,Heat (1995)=2,Jedi=4' -k 1", g_hm_model), 0);
    assert_string_equal(g_out, joined);
    free(joined);
    assert_int_equal(run("recommend --model '%s' --rate 'Fargo=5' --rate 'fargo (1996)=3'", g_hm_model), 1);
    tu_expect_in(g_err, "'Fargo (1996)' is rated twice");
    assert_int_equal(run("recommend --model '%s' --rate 'Fargo=5' --rate ''", g_hm_model), 2);
    tu_expect_in(g_err, "--rate '': no ratings given");
    /* --lambda is used as given */
    assert_int_equal(run("recommend --model '%s' --rate 'Fargo=5' --lambda 2.5 --measure cosine",
                         g_hm_model),
                     0);
    tu_expect_in(g_out, "(lambda 2.5)");
    tu_expect_in(g_out, "by cosine");
}

static void test_fold_in_ratings_file(void **state)
{
    (void)state;
    tu_write_file(g_dir, "mine.txt", "# my ratings\nStar Wars=5\n6\t4\n\n  aladdin (1992) = 3\r\n",
                  (size_t)-1);
    char *mine = tu_path(g_dir, "mine.txt");
    assert_int_equal(run("recommend --model '%s' --ratings-file '%s' -k 3", g_hm_model, mine), 0);
    tu_expect_in(g_out, "from 3 ratings");
    tu_expect_in(g_out, "Star Wars (1977)");
    tu_expect_in(g_out, "Fargo (1996)");
    tu_expect_in(g_out, "Aladdin (1992)");
    const char *top = strstr(g_out, "left out\n");
    assert_non_null(top);
    assert_int_equal(count_rows(top), 3);
    expect_not_in(top, "Star Wars (1977)");
    /* the same ratings through --rate give the same output */
    char *from_file = strdup(g_out);
    assert_int_equal(run("recommend --model '%s' --rate 'Star Wars=5,#6=4,Aladdin (1992)=3' -k 3",
                         g_hm_model),
                     0);
    assert_string_equal(g_out, from_file);
    free(from_file);

    tu_write_file(g_dir, "bad.txt", "Star Wars=5\nnot a rating line\n", (size_t)-1);
    char *bad = tu_path(g_dir, "bad.txt");
    assert_int_equal(run("recommend --model '%s' --ratings-file '%s'", g_hm_model, bad), 1);
    tu_expect_in(g_err, "bad.txt:2: expected TITLE=RATING or MOVIE_ID<TAB>RATING");
    tu_write_file(g_dir, "bad.txt", "Star Wars=5\n99\t4\n", (size_t)-1);
    assert_int_equal(run("recommend --model '%s' --ratings-file '%s'", g_hm_model, bad), 1);
    tu_expect_in(g_err, "bad.txt:2: no movie has id '99'");
    tu_write_file(g_dir, "bad.txt", "Star Wars=0.5\n", (size_t)-1);
    assert_int_equal(run("recommend --model '%s' --ratings-file '%s'", g_hm_model, bad), 1);
    tu_expect_in(g_err, "bad.txt:1: the rating must be a number in [1, 5], got '0.5'");
    tu_write_file(g_dir, "bad.txt", "hea=4\n", (size_t)-1);
    assert_int_equal(run("recommend --model '%s' --ratings-file '%s'", g_hm_model, bad), 1);
    tu_expect_in(g_err, "bad.txt:1: 'hea' is ambiguous");
    tu_write_file(g_dir, "bad.txt", "# nothing\n", (size_t)-1);
    assert_int_equal(run("recommend --model '%s' --ratings-file '%s'", g_hm_model, bad), 1);
    tu_expect_in(g_err, "no ratings in the file");
    assert_int_equal(run("recommend --model '%s' --ratings-file '%s/absent.txt'", g_hm_model, g_dir), 1);
    tu_expect_in(g_err, "absent.txt");
    free(bad);
    free(mine);

    /* a file deep in directories (a path of some 1,300 bytes) is named
     * with its line too: a fixed buffer for FILE:LINE cut the ":2" */
    char deep[1400] = "";
    size_t n = (size_t)snprintf(deep, sizeof deep, "%s", g_dir);
    for (int d = 0; d < 6; d++) {
        n += (size_t)snprintf(deep + n, sizeof deep - n, "/%0200d", d);
        assert_int_equal(mkdir(deep, 0755), 0);
    }
    tu_write_file(deep, "r.txt", "Star Wars=5\nnot a rating line\n", (size_t)-1);
    assert_int_equal(run("recommend --model '%s' --ratings-file '%s/r.txt'", g_hm_model, deep), 1);
    tu_expect_in(g_err, "/r.txt:2: expected TITLE=RATING or MOVIE_ID<TAB>RATING");
}

/* A title holding '=' is named in --rate as in --ratings-file: the entry's
 * rating follows its last '=' (--rate took the first, so "A=B (1990)=5"
 * was the rating "B (1990)=5" of a movie 'A', refused). */
static void test_fold_in_title_with_equals(void **state)
{
    (void)state;
    char *dir = tu_path(g_dir, "eq"), *model = tu_path(g_dir, "eq.bin");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    assert_int_equal(system(cmd), 0);
    static const char *const t[] = {"A=B (1990)", "Heat (1995)", "E=mc2, The (1993)", "Fargo (1996)"};
    tu_write_titled_dataset(dir, t, 4, 8);
    assert_int_equal(run("train --data '%s' --dim 2 --epochs 5 --quiet --out '%s'", dir, model), 0);

    assert_int_equal(run("recommend --model '%s' --rate 'A=B (1990)=5,Heat=2' -k 1", model), 0);
    tu_expect_in(g_out, "from 2 ratings");
    tu_expect_in(g_out, "      1       5");
    tu_expect_in(g_out, "      2       2");
    char *from_rate = strdup(g_out);
    tu_write_file(g_dir, "eq.txt", "A=B (1990)=5\nHeat=2\n", (size_t)-1);
    char *file = tu_path(g_dir, "eq.txt");
    assert_int_equal(run("recommend --model '%s' --ratings-file '%s' -k 1", model, file), 0);
    assert_string_equal(g_out, from_rate);
    free(from_rate);
    /* the year left out, the article moved, '=' after a comma of the title */
    assert_int_equal(run("recommend --model '%s' --rate 'heat=2, a=b=5' -k 1", model), 0);
    tu_expect_in(g_out, "from 2 ratings");
    tu_expect_in(g_out, "      1       5");
    assert_int_equal(run("recommend --model '%s' --rate 'The E=mc2=4,Fargo=1' -k 1", model), 0);
    tu_expect_in(g_out, "      3       4");
    tu_expect_in(g_out, "      4       1");
    /* the title as written, an '=' before its comma: the rating follows
     * its last '=' (it read a movie 'E' rated 'mc2') */
    assert_int_equal(run("recommend --model '%s' --rate 'E=mc2, The (1993)=4,Fargo=1' -k 1", model), 0);
    tu_expect_in(g_out, "from 2 ratings");
    tu_expect_in(g_out, "      3       4");
    tu_expect_in(g_out, "      4       1");
    assert_int_equal(run("recommend --model '%s' --rate 'Fargo=1,E=mc2, The (1993)=4' -k 1", model), 0);
    tu_expect_in(g_out, "      3       4");
    /* a bad rating before a comma is still the entry's error, not a title
     * that runs on to the next entry's '=' */
    assert_int_equal(run("recommend --model '%s' --rate 'Heat=x,Fargo=1'", model), 2);
    tu_expect_in(g_err, "--rate: the rating of 'Heat' must be a number in [1, 5], got 'x'");
    /* a rating that is not one is still named as the entry's rating */
    assert_int_equal(run("recommend --model '%s' --rate 'A=B=x'", model), 2);
    tu_expect_in(g_err, "--rate: the rating of 'A=B' must be a number in [1, 5], got 'x'");
    /* a title where MOVIE_ID<TAB>RATING takes an id is named as such, not
     * as an id no movie has */
    tu_write_file(g_dir, "eq.txt", "Heat\t2\n", (size_t)-1);
    assert_int_equal(run("recommend --model '%s' --ratings-file '%s'", model, file), 1);
    tu_expect_in(g_err, "eq.txt:1: 'Heat' is not a movie id: MOVIE_ID<TAB>RATING takes the id's digits; "
                        "a title is written TITLE=RATING");
    free(file);
    free(model);
    free(dir);
}

/* --json and --csv parse, with one row per listed movie, and agree with
 * the table; --min-ratings leaves out every movie under N training ratings. */
static void test_machine_outputs_and_min_ratings(void **state)
{
    (void)state;
    const char *verbs[3] = {"recommend", "similar", "norms"};
    const char *args[3] = {"--user 5", "--movie 'Synthetic Movie 12'", ""};
    for (int c = 0; c < 3; c++) {
        const char *list = "--top 7 --min-ratings 30";
        assert_int_equal(run("%s --model '%s' %s %s --json", verbs[c], g_model, args[c], list), 0);
        tu_expect_json(g_out);
        int n_json = 0;
        for (const char *p = strstr(g_out, "\"rank\":"); p; p = strstr(p + 1, "\"rank\":")) {
            assert_true(tu_json_num(p, "ratings") >= 30);
            n_json++;
        }
        assert_int_equal(n_json, 7);
        assert_int_equal(run("%s --model '%s' %s %s --csv", verbs[c], g_model, args[c], list), 0);
        int cols = 0;
        assert_int_equal(tu_expect_csv(g_out, &cols), 8);
        assert_int_equal(cols, 8);
        tu_expect_in(g_out, "rank,movie,score,");
        /* the table: the same rows, the ratings column at least 30 */
        assert_int_equal(run("%s --model '%s' %s %s", verbs[c], g_model, args[c], list), 0);
        if (c < 2) /* every list's header says what --min-ratings left out */
            tu_expect_in(g_out, "with fewer than 30 training ratings left out");
        const char *table = strstr(g_out, "rank ");
        assert_non_null(table);
        int rows = 0;
        for (const char *p = table; p && *p;) {
            int rank;
            long long id, n;
            double v;
            if (sscanf(p, "%d %lld %lf %lld", &rank, &id, &v, &n) == 4 && rank == rows + 1) {
                assert_true(n >= 30);
                rows++;
            }
            const char *nl = strchr(p, '\n');
            p = nl ? nl + 1 : NULL;
        }
        assert_int_equal(rows, 7);
    }
    /* nothing qualifies: a line, no table of headers only (as similar),
     * for a user of the dataset and a new user alike */
    assert_int_equal(run("recommend --model '%s' --user 5 --min-ratings 100000", g_model), 0);
    tu_expect_in(g_out, "no movie qualifies\n");
    expect_not_in(g_out, "(only 0");
    expect_not_in(g_out, "rank ");
    assert_int_equal(run("recommend --model '%s' --rate '#4=2' --min-ratings 100000", g_model), 0);
    tu_expect_in(g_out, "no movie qualifies\n");
    expect_not_in(g_out, "rank ");
    /* a new user's JSON; the stats JSON */
    assert_int_equal(run("recommend --model '%s' --rate 'Synthetic Movie 3=1,#4=2' --json", g_model), 0);
    tu_expect_json(g_out);
    tu_expect_in(g_out, "\"user\":null,\"rated_movies\":2");
    expect_not_in(g_out, "\"rated\":2,"); /* the count has its own name */
    assert_int_equal(run("stats --data '%s' --json", g_data), 0);
    tu_expect_json(g_out);
    tu_expect_in(g_out, "\"users\":{\"count\":120,");
}

/* --all-users: every user's list, CSV or JSON lines, equal to --user's
 * list, the same bytes for any thread count; the model is never replaced. */
/* chmod and stat out of line: gcc's UBSan build took a path passed to
 * chmod (nonnull) for a possible NULL in the run() after it
 * (-Werror=format-overflow). */
__attribute__((noinline)) static void set_mode(const char *path, mode_t mode)
{
    assert_int_equal(chmod(path, mode), 0);
}

__attribute__((noinline)) static mode_t mode_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

static void test_all_users(void **state)
{
    (void)state;
    char *csv = tu_path(g_dir, "all.csv"), *jl = tu_path(g_dir, "all.jsonl");
    assert_int_equal(run("recommend --model '%s' --all-users --top 4 --out '%s' --threads 1", g_model,
                         csv),
                     0);
    tu_expect_in(g_out, "users/s");
    /* each user's list, not "the top 4 of 120 users" (four users, as it read) */
    tu_expect_in(g_out, "wrote the top-4 lists of 120 users to ");
    char *one = tu_read_file(csv, NULL);
    int cols = 0, want_rows = 1;
    for (long u = 1; u <= 120; u++) {
        unsigned char rated[80] = {0};
        int left = 80 - rated_by(g_data, u, rated, 80);
        want_rows += left < 4 ? left : 4;
    }
    assert_int_equal(tu_expect_csv(one, &cols), want_rows);
    assert_int_equal(cols, 7);
    /* the report counts what it wrote (a --min-ratings run may list few) */
    char said[96];
    snprintf(said, sizeof said, "(CSV; %d movies listed", want_rows - 1);
    tu_expect_in(g_out, said);
    /* --csv beside --all-users names the default: the same file */
    char *csv2 = tu_path(g_dir, "all_csv.csv");
    assert_int_equal(run("recommend --model '%s' --all-users --top 4 --csv --out '%s' --threads 1", g_model, csv2), 0);
    char *same = tu_read_file(csv2, NULL);
    assert_string_equal(one, same);
    free(same);
    free(csv2);
    assert_int_equal(run("recommend --model '%s' --all-users --top 4 --out '%s' --threads 3", g_model,
                         csv),
                     0);
    char *three = tu_read_file(csv, NULL);
    assert_string_equal(one, three);
    /* user 5's rows are --user 5's list */
    assert_int_equal(run("recommend --model '%s' --user 5 --top 4 --csv", g_model), 0);
    const char *row = strstr(one, "\n5,1,");
    assert_non_null(row);
    for (int r = 1; r <= 4; r++) {
        long long u, mid, mid2;
        int rank;
        char score[64], score2[64];
        assert_int_equal(sscanf(row + 1, "%lld,%d,%lld,%63[^,]", &u, &rank, &mid, score), 4);
        const char *line = g_out;
        for (int x = 0; x < r; x++) line = strchr(line, '\n') + 1;
        assert_int_equal(sscanf(line, "%d,%lld,%63[^,]", &rank, &mid2, score2), 3);
        assert_int_equal(mid, mid2);
        assert_string_equal(score, score2); /* the same digits as the single list */
        row = strchr(row + 1, '\n');
    }
    assert_int_equal(run("recommend --model '%s' --all-users --top 4 --json --out '%s'", g_model, jl), 0);
    char *lines = tu_read_file(jl, NULL);
    assert_int_equal(tu_expect_json_lines(lines), 120);
    tu_expect_in(lines, "{\"user\":5,\"items\":[{\"rank\":1,\"movie\":");
    /* after --json, standard output is JSON too: the report, one object */
    assert_int_equal(tu_expect_json_lines(g_out), 1);
    assert_true(tu_json_num(g_out, "users") == 120);
    int listed = 0, shorter = 0;
    for (const char *l = lines; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        int n = 0;
        for (const char *p = strstr(l, "\"rank\":"); p && p < strchr(l, '\n'); p = strstr(p + 1, "\"rank\":")) n++;
        listed += n;
        shorter += n < 4;
    }
    assert_true(tu_json_num(g_out, "movies_listed") == listed); /* the file's own counts */
    assert_true(tu_json_num(g_out, "users_with_shorter_lists") == shorter);
    assert_true(shorter > 0 && listed > 400);
    tu_expect_in(g_out, "\"format\":\"jsonl\"");
    /* the lists are formatted by --threads threads, each a share of the
     * users (at least 32): 1, 3 and 4 threads write the same lines */
    for (int t = 1; t <= 4; t += t == 1 ? 2 : 1) {
        assert_int_equal(run("recommend --model '%s' --all-users --top 4 --json --out '%s' --threads %d", g_model,
                             jl, t),
                         0);
        char *again = tu_read_file(jl, NULL);
        assert_string_equal(again, lines);
        free(again);
    }
    /* a file replaced keeps its mode (it became 0600 less the umask, a
     * private file made public by being rewritten) */
    set_mode(jl, 0604);
    assert_int_equal(run("recommend --model '%s' --all-users --top 4 --json --out '%s'", g_model, jl), 0);
    assert_int_equal(mode_of(jl), 0604);
    /* the output never replaces the model */
    assert_int_equal(run("recommend --model '%s' --all-users --out '%s'", g_model, g_model), 1);
    tu_expect_in(g_err, "is one of this run's inputs");
    assert_int_equal(run("recommend --model '%s' --all-users --out '%s'", g_model, g_dir), 1);
    tu_expect_in(g_err, "is a directory; mfrec replaces only regular files");
    free(one);
    free(three);
    free(lines);
    free(csv);
    free(jl);
}

/* test_rank_prior: --include-rated in the batch file `csv` of the model
 * `pm` gives each user's rating as the --user list does. */
static void check_rank_prior_include_rated(const char *pm, const char *csv)
{
    /* --include-rated: rated movies are listed and the rated column gives
     * the user's rating, as the single user's list does */
    assert_int_equal(run("recommend --model '%s' --all-users --include-rated --top 80 --out '%s'", pm, csv), 0);
    char *text = tu_read_file(csv, NULL);
    assert_int_equal(run("recommend --model '%s' --user 5 --include-rated --top 80 --csv", pm), 0);
    int marked = 0;
    for (const char *p = strstr(text, "\n5,"); p && !strncmp(p, "\n5,", 3); p = strchr(p + 1, '\n')) {
        int rank;
        long long mid;
        assert_int_equal(sscanf(p + 3, "%d,%lld", &rank, &mid), 2);
        const char *rated = p;
        for (int comma = 0; comma < 6; comma++) rated = strchr(rated + 1, ',');
        size_t len = strcspn(rated + 1, "\n");
        char want[96]; /* the --user list's row: rank,movie,score,predicted,ratings,rated,... */
        snprintf(want, sizeof want, "\n%d,%lld,", rank, mid);
        const char *q = strstr(g_out, want);
        assert_non_null(q);
        for (int comma = 0; comma < 5; comma++) q = strchr(q + 1, ',');
        if (strncmp(q + 1, rated + 1, len) != 0 || q[1 + len] != ',')
            fail_msg("user 5, movie %lld: rated '%.*s' in the batch file, not as --user says", mid, (int)len, rated + 1);
        marked += len > 0;
    }
    assert_true(marked > 0);
    free(text);
}

/* Runs the shell command `cmd` in a child of its own; returns its exit
 * status and sets *peak_kib to the largest peak RSS of it and what it ran
 * (wait4's, so no earlier command's peak counts). */
static int run_measured(const char *cmd, long *peak_kib)
{
    const pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    assert_true(pid > 0);
    int st = 0;
    struct rusage ru = {0};
    assert_int_equal(wait4(pid, &st, 0, &ru), pid);
    *peak_kib = ru.ru_maxrss;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* --all-users on several threads writes its file as it goes, as on one:
 * each thread's share of the lists is held only until written, so the
 * peak is far below the file (it once held a whole batch of 16384 users'
 * lines, on one thread too: 240 MiB for these 84 MB), and the bytes are
 * those of one thread. */
static void test_all_users_memory(void **state)
{
    (void)state;
#ifdef SANITIZED
    skip();
#endif
    char *data = tu_path(g_dir, "wide_users"), *model = tu_path(g_dir, "wide_users.bin");
    char *one = tu_path(g_dir, "wide1.jsonl"), *two = tu_path(g_dir, "wide2.jsonl"), cmd[8192];
    assert_int_equal(run("synth --users 3000 --items 300 --ratings 30000 --rank 4 --seed 5 --out '%s'", data), 0);
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 6 --epochs 5 --quiet --out '%s'", data, model),
                     0);
    long peak[2];
    for (int t = 1; t <= 2; t++) {
        snprintf(cmd, sizeof cmd,
                 "'%s' recommend --model '%s' --data '%s' --all-users --top 300 --json --include-rated --threads %d "
                 "--out '%s' >/dev/null 2>&1",
                 g_bin, model, data, t, t == 1 ? one : two);
        assert_int_equal(run_measured(cmd, &peak[t - 1]), 0);
    }
    size_t l1, l2;
    char *b1 = tu_read_file(one, &l1), *b2 = tu_read_file(two, &l2);
    assert_true(l1 > 80u << 20); /* 3000 users x 300 movies: ~90 bytes a movie */
    assert_int_equal(l1, l2);
    assert_memory_equal(b1, b2, l1);
    /* about 13 MiB at 1 thread and 30 MiB at 2 (the shares' texts); 240
     * MiB when each batch was held whole */
    for (int t = 1; t <= 2; t++)
        if (peak[t - 1] > (long)(l1 >> 11)) /* half the file, in KiB */
            fail_msg("--all-users --threads %d: peak RSS %ld KiB for a file of %zu bytes", t, peak[t - 1], l1);
    free(b1);
    free(b2);
    free(data);
    free(model);
    free(one);
    free(two);
}

/* --rank-prior: the model records it; a user's list ranks by score =
 * predicted rating + X ln(1 + training ratings), shown beside the
 * predicted rating (clamped to the rating range) in every output. */
static void test_rank_prior(void **state)
{
    (void)state;
    char *pm = tu_path(g_dir, "prior.bin");
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 6 --epochs 60 --lr 0.05 --rank-prior -1 "
                         "--quiet --out '%s'", g_data, pm), 2);
    tu_expect_in(g_err, "--rank-prior");
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 6 --epochs 60 --lr 0.05 --rank-prior 0.5 "
                         "--quiet --out '%s'", g_data, pm), 0);
    assert_int_equal(run("recommend --model '%s' --user 5 --top 10 --json", pm), 0);
    tu_expect_json(g_out);
    tu_expect_in(g_out, "\"rank_prior\":0.5,"); /* what a program needs to take the prior off */
    double prev = INFINITY;
    int n = 0;
    for (const char *p = strstr(g_out, "\"rank\":"); p; p = strstr(p + 1, "\"rank\":"), n++) {
        double score = tu_json_num(p, "score"), pred = tu_json_num(p, "predicted_rating");
        double cnt = tu_json_num(p, "ratings"), want = score - 0.5 * log1p(cnt);
        want = want < 1.0 ? 1.0 : want > 5.0 ? 5.0 : want;
        if (!(fabs(pred - want) <= 1e-5)) fail_msg("rank %d: predicted %.9g, score %.9g, %g ratings", n + 1, pred, score, cnt);
        assert_true(score <= prev);
        prev = score;
    }
    assert_int_equal(n, 10);
    /* a fold-in's fitted values: predicted ratings, clamped as shown, and
     * the unclamped value beside them (--lambda 0.001: fitted close to the
     * ratings given, so 1 and 5 fall outside the range about as often) */
    assert_int_equal(run("recommend --model '%s' --rate '#1=5,#2=1,#3=5,#4=1' --lambda 0.001 --json", pm), 0);
    tu_expect_json(g_out);
    int fits = 0;
    for (const char *p = strstr(g_out, "\"fitted\":"); p; p = strstr(p + 1, "\"fitted\":"), fits++) {
        double shown = tu_json_num(p, "fitted"), raw = tu_json_num(p, "fitted_raw");
        assert_float_equal(shown, raw < 1.0 ? 1.0 : raw > 5.0 ? 5.0 : raw, 0.0);
    }
    assert_int_equal(fits, 4);
    /* the table shows both columns and says how it ranks */
    assert_int_equal(run("recommend --model '%s' --user 5 --top 3", pm), 0);
    tu_expect_in(g_out, "ranked by score = predicted rating + 0.5 ln(1 + training ratings)");
    tu_expect_in(g_out, "    score  predicted  ratings");
    /* the batch file: its score and predicted_rating columns agree likewise */
    char *csv = tu_path(g_dir, "prior.csv");
    assert_int_equal(run("recommend --model '%s' --all-users --top 2 --out '%s'", pm, csv), 0);
    char *text = tu_read_file(csv, NULL);
    tu_expect_in(text, "user,rank,movie,score,predicted_rating,ratings,rated\n");
    int rows = 0;
    for (const char *p = strchr(text, '\n') + 1; *p; p = strchr(p, '\n') + 1, rows++) {
        long long u, mid, cnt;
        int rank;
        double score, pred;
        assert_int_equal(sscanf(p, "%lld,%d,%lld,%lf,%lf,%lld", &u, &rank, &mid, &score, &pred, &cnt), 6);
        assert_true(!strncmp(strchr(strchr(strchr(strchr(strchr(strchr(p, ',') + 1, ',') + 1, ',') + 1, ',') + 1, ',') + 1, ',') + 1, "\n", 1)); /* rated: empty */
        double want = score - 0.5 * log1p((double)cnt);
        want = want < 1.0 ? 1.0 : want > 5.0 ? 5.0 : want;
        assert_true(fabs(pred - want) <= 1e-5);
    }
    assert_true(rows >= 200);
    free(text);
    /* cosine lists take no prior: their value column is the score itself */
    assert_int_equal(run("recommend --model '%s' --all-users --top 2 --measure cosine --out '%s'", pm, csv), 0);
    text = tu_read_file(csv, NULL);
    tu_expect_in(text, "user,rank,movie,score,cosine,ratings,rated\n");
    for (const char *p = strchr(text, '\n') + 1; *p; p = strchr(p, '\n') + 1) {
        long long u, mid, cnt;
        int rank;
        double score, cosv;
        assert_int_equal(sscanf(p, "%lld,%d,%lld,%lf,%lf,%lld", &u, &rank, &mid, &score, &cosv, &cnt), 6);
        assert_true(score == cosv && fabs(score) <= 1.0 + 1e-6);
    }
    free(text);
    check_rank_prior_include_rated(pm, csv);
    /* without the prior the lists differ: the prior moves well-rated movies up */
    assert_int_equal(run("recommend --model '%s' --user 5 --top 10 --csv", pm), 0);
    char *with = strdup(g_out);
    assert_int_equal(run("recommend --model '%s' --user 5 --top 10 --csv", g_model), 0);
    assert_true(strcmp(with, g_out) != 0);
    free(with);
    free(csv);
    free(pm);
}

/* The unregularized notebook model says which preset to train. */
static void test_poor_ranker_note(void **state)
{
    (void)state;
    assert_int_equal(run("recommend --model '%s' --user 5", g_model), 0);
    tu_expect_in(g_err, "--preset ndcg");
    assert_int_equal(run("similar --model '%s' --movie '#3'", g_model), 0);
    tu_expect_in(g_err, "--preset ndcg");
    char *reg = tu_path(g_dir, "reg.bin");
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 6 --epochs 5 --l2 0.1 --quiet "
                         "--out '%s'",
                         g_data, reg),
                     0);
    assert_int_equal(run("recommend --model '%s' --user 5", reg), 0);
    expect_not_in(g_err, "--preset ndcg");
    free(reg);
}

/* Gravity without biases pulls every score towards 0, so such a model's
 * scores are ranking scores, not ratings: no column or key calls them
 * "predicted", and nothing clamps them to the rating range (where they
 * would all read as the lowest rating). */
static void test_ranking_scores_are_not_ratings(void **state)
{
    (void)state;
    char *grav = tu_path(g_dir, "grav.bin"), *batch = tu_path(g_dir, "grav.csv");
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 6 --epochs 60 --lr 0.05 --gravity 15 "
                         "--l2 0.3 --quiet --out '%s'",
                         g_data, grav),
                     0);
    assert_int_equal(run("recommend --model '%s' --user 5 -k 5", grav), 0);
    expect_not_in(g_out, "predicted");
    tu_expect_in(g_out, "dot: the model's ranking score, not a rating");
    tu_expect_in(g_out, "rank    movie        dot  ratings");
    int below_lowest = 0;
    for (const char *p = strstr(g_out, "rank    movie"); p && *p;) {
        int rank;
        long long id;
        double score;
        if (sscanf(p, "%d %lld %lf", &rank, &id, &score) == 3) below_lowest += score < 1.0;
        const char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : NULL;
    }
    assert_true(below_lowest > 0); /* shown as they are, not clamped to 1 */
    /* a new user: the fitted values of the rated movies are scores too */
    assert_int_equal(run("recommend --model '%s' --rate '#1=1,#2=5' -k 3", grav), 0);
    tu_expect_in(g_out, "  movie  rating      score  title\n");
    expect_not_in(g_out, "predicted");
    /* --json gives the fold-in too: its lambda, the middle its ratings
     * count from, and each rated movie's rating and fitted score */
    assert_int_equal(run("recommend --model '%s' --rate '#1=1,#2=5' -k 3 --json --lambda 0.5", grav), 0);
    const char *fold = strstr(g_out, "\"fold_in\":{");
    assert_non_null(fold);
    assert_float_equal(tu_json_num(fold, "lambda"), 0.5, 0.0);
    float lo, hi;
    mfr_dataset *ds = tu_load_ok(g_data, NULL);
    mfr_dataset_rating_range(ds, &lo, &hi);
    mfr_dataset_destroy(ds);
    assert_float_equal(tu_json_num(fold, "middle"), ((double)lo + hi) / 2, 1e-9);
    const char *r1 = strstr(fold, "{\"movie\":1,\"rating\":1,\"fitted\":");
    const char *r2 = strstr(fold, "{\"movie\":2,\"rating\":5,\"fitted\":");
    assert_non_null(r1);
    assert_non_null(r2);
    assert_true(tu_json_num(r1, "fitted") < tu_json_num(r2, "fitted"));
    /* a score is not clamped: its raw value is the same number */
    assert_float_equal(tu_json_num(r1, "fitted_raw"), tu_json_num(r1, "fitted"), 0.0);
    tu_expect_in(g_out, "\"rank_prior\":0,"); /* a list of scores: no prior to take off */
    assert_int_equal(run("recommend --model '%s' --user 5 -k 3 --json", grav), 0);
    expect_not_in(g_out, "predicted_rating");
    tu_expect_in(g_out, "\"dot\":");
    assert_int_equal(run("recommend --model '%s' --all-users -k 2 --out '%s'", grav, batch), 0);
    char *text = tu_read_file(batch, NULL);
    assert_non_null(text);
    tu_expect_in(text, "user,rank,movie,score,dot,ratings,rated\n");
    free(text);
    /* with biases the same gravity leaves predicted ratings */
    assert_int_equal(run("train --data '%s' --split random:0.2 --dim 6 --epochs 60 --lr 0.05 --gravity 15 "
                         "--bias --quiet --out '%s'",
                         g_data, grav),
                     0);
    assert_int_equal(run("recommend --model '%s' --user 5 -k 3", grav), 0);
    tu_expect_in(g_out, "predicted");
    expect_not_in(g_out, "ranking score, not a rating");
    free(grav), free(batch);
}

/* A model of dim 8 trained on `data` from the factors of a first one whose
 * V row of `movie` is set to `huge` in every lane (--init-from): 3e38
 * makes the movie's norm overflow, 1e30 a finite norm near 2.8e30;
 * written to `out`, with dir/m1.mfr and dir/e/ beside it. */
static void train_with_huge_movie(const char *dir, const char *data, long movie, float huge, const char *out)
{
    char *m1 = tu_path(dir, "m1.mfr"), *emb = tu_path(dir, "e");
    assert_int_equal(run("train --data '%s' --split none --dim 8 --epochs 1 --quiet --out '%s'", data, m1), 0);
    assert_int_equal(run("export --model '%s' --out '%s'", m1, emb), 0);
    /* item_ids.txt gives the rows' order */
    char *ids_path = tu_path(emb, "item_ids.txt"), *v_path = tu_path(emb, "V.npy");
    char *ids = tu_read_file(ids_path, NULL);
    int row = 0;
    for (const char *p = ids; *p && strtol(p, NULL, 10) != movie; p = strchr(p, '\n') + 1) row++;
    size_t len;
    char *npy = tu_read_file(v_path, &len);
    const size_t header = 10 + (size_t)(unsigned char)npy[8] + 256u * (unsigned char)npy[9];
    for (int c = 0; c < 8; c++) memcpy(npy + header + ((size_t)row * 8 + (size_t)c) * 4, &huge, 4);
    tu_write_file(emb, "V.npy", npy, len);
    assert_int_equal(run("train --data '%s' --split none --dim 8 --epochs 1 --quiet --init-from '%s/U.npy,%s/V.npy' "
                         "--out '%s'",
                         data, emb, emb, out),
                     0);
    free(npy), free(ids), free(ids_path), free(v_path), free(m1), free(emb);
}

/* A score that overflows (a movie without ratings whose factors, given
 * by --init-from, are huge) is an empty CSV field in every list and in the
 * batch file, and null in JSON: the single lists printed "inf", the batch
 * an empty field. A rating's value keeps 9 digits everywhere (the batch
 * and the CSV list had %g's 6). */
static void test_overflowed_scores_and_rated_digits(void **state)
{
    (void)state;
    char *dir = tu_path(g_dir, "ovf"), *data = tu_path(dir, "d");
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(mkdir(data, 0755), 0);
    char text[4096];
    int n = 0;
    for (int i = 1; i <= 6; i++)
        n += snprintf(text + n, sizeof text - (size_t)n,
                      "%d|%s %d (1995)|01-Jan-1995||http://x|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n", i,
                      i == 6 ? "Unrated" : "Movie", i);
    tu_write_file(data, "u.item", text, (size_t)-1);
    n = 0; /* movie 6 has no rating */
    for (int u = 1; u <= 6; u++)
        for (int i = 1; i <= 5; i++)
            n += snprintf(text + n, sizeof text - (size_t)n, "%d\t%d\t%d\t%d\n", u, i, 1 + (u + i) % 5,
                          880000000 + i);
    tu_write_file(data, "u.data", text, (size_t)-1);
    char *inf = tu_path(dir, "inf.mfr");
    train_with_huge_movie(dir, data, 6, 3e38f, inf);
    assert_int_equal(run("recommend --model '%s' --user 2 --csv", inf), 0);
    tu_expect_in(g_out, "\n1,6,,,0,,Unrated 6 (1995),Comedy\n");
    assert_null(strstr(g_out, "inf"));
    assert_int_equal(run("norms --model '%s' --csv", inf), 0);
    tu_expect_in(g_out, "\n1,6,,,0,,Unrated 6 (1995),Comedy\n");
    /* its norm is in no bin: the title counts the norms binned (it said 6,
     * above counts adding up to 5) */
    assert_int_equal(run("norms --model '%s'", inf), 0);
    tu_expect_in(g_out, "\nhistogram of 5 norms (20 bins; 1 not finite, left out)\n");
    assert_int_equal(run("recommend --model '%s' --user 2 --json", inf), 0);
    tu_expect_in(g_out, "\"movie\":6,\"title\":\"Unrated 6 (1995)\",\"genres\":[\"Comedy\"],\"score\":null,");
    /* project: the norm summary over the 5 finite norms, the inf one
     * counted (test_project_overflowed_norms: none finite) and listed
     * highest, as norms lists it */
    assert_int_equal(run("project --model '%s'", inf), 0);
    tu_expect_in(g_out, "\n  embedding norms: mean 2.7520, min 1.4395, max 4.8953 (of the 5 finite; 1 overflowed: inf, "
                        "left out)\n");
    tu_expect_in(g_out, "Embedding norm, highest:\n       norm    movie  ratings  title\n        inf        6");
    char *batch = tu_path(dir, "all.csv");
    assert_int_equal(run("recommend --model '%s' --all-users --out '%s'", inf, batch), 0);
    char *b = tu_read_file(batch, NULL);
    tu_expect_in(b, "\n2,1,6,,,0,");
    free(b);
    /* user 1's own rating of movie 1, 9 digits in the list and the batch
     * (a delimited file: any rating in range) */
    tu_write_file(dir, "frac.txt", "1,1,3.98119307\n1,2,2\n2,1,4\n2,3,1\n3,2,5\n3,3,3\n", (size_t)-1);
    char *frac = tu_path(dir, "frac.mfr");
    assert_int_equal(run("train --data '%s/frac.txt' --split none --dim 4 --epochs 1 --quiet --out '%s'", dir, frac),
                     0);
    assert_int_equal(run("recommend --model '%s' --user 1 --include-rated --csv", frac), 0);
    tu_expect_in(g_out, ",3.98119307,,\n");
    char *jl = tu_path(dir, "all.jsonl");
    assert_int_equal(run("recommend --model '%s' --all-users --include-rated --json --out '%s'", frac, jl), 0);
    b = tu_read_file(jl, NULL);
    tu_expect_in(b, "\"rated\":3.98119307");
    free(b);
    free(jl), free(frac), free(batch), free(inf), free(data), free(dir);
}

/* norms: an overflowed norm ("inf", in no bin) is not the largest norm
 * its last bin is closed at: beside one finite norm (a range around it,
 * its last edge past it) the last bin said "]" and last_bin_closed true. */
static void test_norms_overflowed_last_bin_open(void **state)
{
    (void)state;
    char *dir = tu_path(g_dir, "ovfbin"), *data = tu_path(dir, "d");
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(mkdir(data, 0755), 0);
    tu_write_file(data, "u.item",
                  "1|Movie 1 (1995)|01-Jan-1995||http://x|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
                  "2|Movie 2 (1995)|01-Jan-1995||http://x|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n",
                  (size_t)-1);
    char text[512];
    int n = 0; /* movie 2 has no rating */
    for (int u = 1; u <= 6; u++)
        n += snprintf(text + n, sizeof text - (size_t)n, "%d\t1\t%d\t880000001\n", u, 1 + u % 5);
    tu_write_file(data, "u.data", text, (size_t)-1);
    char *inf = tu_path(dir, "inf.mfr");
    train_with_huge_movie(dir, data, 2, 3e38f, inf);
    assert_int_equal(run("norms --model '%s' --bins 4", inf), 0);
    tu_expect_in(g_out, "\nhistogram of 1 norm (4 bins; 1 not finite, left out)\n");
    tu_expect_in(g_out, ")      0\n");
    expect_not_in(g_out, "]      0\n"); /* the last bin, empty: [lo, hi) */
    assert_int_equal(run("norms --model '%s' --bins 4 --json", inf), 0);
    tu_expect_json(g_out);
    tu_expect_in(g_out, "\"norm\":null,");
    tu_expect_in(g_out, "\"last_bin_closed\":false}");
    free(inf), free(data), free(dir);
}

/* Sets every float of the .npy file at path (rows x 8, C order) to
 * fill(row, col). */
static void fill_npy8(const char *path, float (*fill)(int row, int col))
{
    size_t len;
    char *npy = tu_read_file(path, &len);
    const size_t header = 10 + (size_t)(unsigned char)npy[8] + 256u * (unsigned char)npy[9];
    for (size_t f = 0; f < (len - header) / 4; f++) {
        const float v = fill((int)(f / 8), (int)(f % 8));
        memcpy(npy + header + f * 4, &v, 4);
    }
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(npy, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
    free(npy);
}

/* Every user (1, 0, ..., 0) * 2^-126 and every movie (3 * 2^126, +-3e38,
 * 3e38, ...): each prediction is exactly 3 (the only rating), so training
 * from them leaves them as they are, and every movie's norm overflows a
 * float. Movie 2 (row 1) has lane 1 negative: its dot product with movie 1
 * is inf - inf, its cosine (a^2 + 5 b^2) / (a^2 + 7 b^2) = 0.7410... */
static float huge_user(int row, int col) { return (void)row, col == 0 ? 0x1p-126f : 0.0f; }
static float huge_movie(int row, int col)
{
    return col == 0 ? 0x3p126f : row == 1 && col == 1 ? -3e38f : 3e38f;
}

/* A model of two movies (movie 2 unrated) whose norms all overflowed,
 * trained in a new directory g_dir/NAME: the path of NAME/inf.mfr. */
static char *train_every_movie_overflowed(const char *name)
{
    char *dir = tu_path(g_dir, name), *data = tu_path(dir, "d"), *out = tu_path(dir, "inf.mfr");
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(mkdir(data, 0755), 0);
    tu_write_file(data, "u.item",
                  "1|Movie 1 (1995)|01-Jan-1995||http://x|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
                  "2|Movie 2 (1995)|01-Jan-1995||http://x|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n",
                  (size_t)-1);
    tu_write_file(data, "u.data", "1\t1\t3\t880000001\n2\t1\t3\t880000001\n3\t1\t3\t880000001\n", (size_t)-1);
    char *m1 = tu_path(dir, "m1.mfr"), *emb = tu_path(dir, "e");
    assert_int_equal(run("train --data '%s' --split none --dim 8 --epochs 1 --quiet --out '%s'", data, m1), 0);
    assert_int_equal(run("export --model '%s' --out '%s'", m1, emb), 0);
    char *u_path = tu_path(emb, "U.npy"), *v_path = tu_path(emb, "V.npy");
    fill_npy8(u_path, huge_user);
    fill_npy8(v_path, huge_movie);
    assert_int_equal(run("train --data '%s' --split none --dim 8 --epochs 1 --quiet --init-from '%s,%s' "
                         "--out '%s'",
                         data, u_path, v_path, out),
                     0);
    free(u_path), free(v_path), free(m1), free(emb), free(data), free(dir);
    return out;
}

/* norms when no norm is finite: the histogram says there is none to bin
 * (it printed 20 empty bins over [0, 1], a range of no norm), --json
 * has empty edges and counts, --plot has nothing to draw (exit 1, no
 * chart). */
static void test_norms_every_norm_overflowed(void **state)
{
    (void)state;
    char *inf = train_every_movie_overflowed("allinf");
    assert_int_equal(run("norms --model '%s' --bins 4", inf), 0);
    tu_expect_in(g_out, "\n   2        2        inf        0  Movie 2 (1995)  [Comedy]\n"
                        "histogram: no finite norm to bin (2 not finite, left out)\n");
    expect_not_in(g_out, "  [ "); /* no bin */
    assert_int_equal(run("norms --model '%s' --min-ratings 1", inf), 0);
    tu_expect_in(g_out, "histogram: no finite norm to bin (1 not finite, left out)\n");
    assert_int_equal(run("norms --model '%s' --json", inf), 0);
    tu_expect_json(g_out);
    tu_expect_in(g_out, "\"histogram\":{\"edges\":[],\"counts\":[],\"last_bin_closed\":false}}\n");
    assert_int_equal(run("norms --model '%s' --csv", inf), 0);
    tu_expect_in(g_out, "\n1,1,,,3,,Movie 1 (1995),Comedy\n2,2,,,0,,Movie 2 (1995),Comedy\n");
    char *plot = tu_path(g_dir, "allinf/plot");
    assert_int_equal(run("norms --model '%s' --plot '%s'", inf, plot), 1);
    tu_expect_in(g_err, "every listed movie's norm overflowed (inf: factors too large for a float): "
                        "--plot has no finite norm to draw");
    assert_string_equal(g_out, "");
    char *chart = tu_path(plot, "item_norms.dat");
    assert_false(tu_exists(chart));
    free(chart), free(plot), free(inf);
}

/* project's norm summary reads the float norms norms lists: one that
 * overflows is inf, left out of the mean, min and max and counted (it
 * printed the double's 40 digits, "mean 8337463957973359079404802..."). */
static void test_project_overflowed_norms(void **state)
{
    (void)state;
    char *inf = train_every_movie_overflowed("projinf");
    assert_int_equal(run("project --model '%s'", inf), 0);
    tu_expect_in(g_out, "\n  embedding norms: none finite (2 overflowed: inf, factors too large for a float; "
                        "no lists of their ends)\n");
    expect_not_in(g_out, "00000.0000, min");
    expect_not_in(g_out, "Embedding norm");
    /* the axis ends as every list's values (table_num): the movies lie
     * at -+3e38 on PC1, which %9.4f spelled in 40 digits */
    tu_expect_in(g_out, "PC1, lowest:\n        pc1    movie  ratings  title\n     -3e+38        2        0  Movie 2");
    tu_expect_in(g_out, "PC1, highest:\n        pc1    movie  ratings  title\n      3e+38        1        3  Movie 1");
    expect_not_in(g_out, "00000000");
    /* --out: an overflowed norm is an empty field, as norms --csv leaves
     * it (it wrote "inf") */
    char *tsv = tu_path(g_dir, "projinf/c.tsv");
    assert_int_equal(run("project --model '%s' --out '%s'", inf, tsv), 0);
    char *t = tu_read_file(tsv, NULL);
    tu_expect_in(t, "\n1\tMovie 1 (1995)\tComedy\t3.00000001e+38\t0\t\t3\n");
    tu_expect_in(t, "\n2\tMovie 2 (1995)\tComedy\t-3.00000001e+38\t0\t\t0\n");
    expect_not_in(t, "inf");
    free(t), free(tsv);
    /* --plot: no finite norm for embedding_norms, refused as norms --plot
     * refuses it (it drew an empty histogram over 0..1), before any output */
    if (system("command -v gnuplot >/dev/null 2>&1") == 0) {
        char *plot = tu_path(g_dir, "projinf/plot");
        assert_int_equal(run("project --model '%s' --plot '%s'", inf, plot), 1);
        tu_expect_in(g_err, "every selected movie's norm overflowed (inf: factors too large for a float): "
                            "--plot has no finite norm to draw");
        assert_string_equal(g_out, "");
        char *chart = tu_path(plot, "embedding_norms.dat"), *proj = tu_path(plot, "projection.dat");
        assert_false(tu_exists(chart));
        assert_false(tu_exists(proj));
        free(proj), free(chart), free(plot);
    }
    free(inf);
}

/* A finite norm too large for 4 decimals in a column (a movie's factors
 * all 1e30: 2.828e30) is shown with an exponent in norms' list and
 * histogram and in project's ends and norm summary, as table_num prints
 * it; they printed %.4f's 31 digits. */
static void test_huge_finite_norm_digits(void **state)
{
    (void)state;
    char *dir = tu_path(g_dir, "hugenorm"), *data = tu_path(dir, "d");
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(mkdir(data, 0755), 0);
    tu_write_file(data, "u.item",
                  "1|Movie 1 (1995)|01-Jan-1995||http://x|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
                  "2|Movie 2 (1995)|01-Jan-1995||http://x|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
                  "3|Movie 3 (1995)|01-Jan-1995||http://x|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n",
                  (size_t)-1);
    char text[512];
    int n = 0; /* movie 3 has no rating */
    for (int u = 1; u <= 6; u++)
        n += snprintf(text + n, sizeof text - (size_t)n, "%d\t1\t%d\t880000001\n%d\t2\t%d\t880000002\n", u,
                      1 + u % 5, u, 1 + (u + 2) % 5);
    tu_write_file(data, "u.data", text, (size_t)-1);
    char *big = tu_path(dir, "big.mfr");
    train_with_huge_movie(dir, data, 3, 1e30f, big);
    assert_int_equal(run("norms --model '%s' --bins 2", big), 0);
    tu_expect_in(g_out, "\n   1        3  2.828e+30        0  Movie 3 (1995)  [Comedy]\n");
    tu_expect_in(g_out, "e+30]      1  ");
    expect_not_in(g_out, "00000000");
    assert_int_equal(run("project --model '%s'", big), 0);
    tu_expect_in(g_out, "Embedding norm, highest:\n       norm    movie  ratings  title\n  2.828e+30        3");
    tu_expect_in(g_out, "\n  embedding norms: mean 9.428e+29, min ");
    tu_expect_in(g_out, ", max 2.828e+30\n");
    expect_not_in(g_out, "00000000");
    free(big), free(data), free(dir);
}

/* similar from a movie whose norm overflowed (factors near FLT_MAX):
 * the cosine is the true one (it was "nan" from the float dot's inf -
 * inf, an empty CSV field, JSON null), and a dot that overflows is inf by
 * its true sign, shown as recommend shows one (null, an empty field). */
static void test_similar_overflowed_query(void **state)
{
    (void)state;
    char *inf = train_every_movie_overflowed("siminf");
    assert_int_equal(run("similar --model '%s' --movie '#1' --measure cosine", inf), 0);
    tu_expect_in(g_out, "\n   1        2     0.7411        0  Movie 2 (1995)  [Comedy]\n");
    assert_int_equal(run("similar --model '%s' --movie '#1' --measure cosine --json", inf), 0);
    tu_expect_in(g_out, "\"score\":0.74105674,\"cosine\":0.74105674,");
    assert_int_equal(run("similar --model '%s' --movie '#1' --measure cosine --csv", inf), 0);
    tu_expect_in(g_out, "\n1,2,0.74105674,0.74105674,0,,Movie 2 (1995),Comedy\n");
    assert_int_equal(run("similar --model '%s' --movie '#1' --measure dot", inf), 0);
    tu_expect_in(g_out, "\n   1        2        inf        0  Movie 2 (1995)  [Comedy]\n");
    assert_int_equal(run("similar --model '%s' --movie '#1' --measure dot --json", inf), 0);
    tu_expect_in(g_out, "\"score\":null,\"dot\":null,");
    assert_int_equal(run("similar --model '%s' --movie '#1' --measure dot --csv", inf), 0);
    tu_expect_in(g_out, "\n1,2,,,0,,Movie 2 (1995),Comedy\n");
    free(inf);
}

/* A movie's genres are written whole in --csv lists and export's
 * metadata.tsv however long their names (a dataset's own u.genre): the
 * '|'-joined list went through a 512-byte buffer and lost its last genres,
 * ending in a cut name or a bare '|', where --json listed them all. */
static void test_long_genre_lists_whole(void **state)
{
    (void)state;
    char *dir = tu_path(g_dir, "longgenres"), *data = tu_path(dir, "d"), *emb = tu_path(dir, "e");
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(mkdir(data, 0755), 0);
    char text[8192];
    int n = snprintf(text, sizeof text, "unknown|0\n");
    for (int g = 1; g <= 18; g++) /* 18 names of 60 bytes, one with a comma and a quote */
        n += snprintf(text + n, sizeof text - (size_t)n, "Genre %02d of a long name%s, padded to sixty bytes here ....|%d\n",
                      g, g == 18 ? " \"Z\"" : " zzz", g);
    tu_write_file(data, "u.genre", text, (size_t)-1);
    n = 0; /* movie 1 has every genre */
    for (int i = 1; i <= 5; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, "%d|Movie %d (1995)|01-Jan-1995||http://x|0|%s\n", i, i,
                      i == 1 ? "1|1|1|1|1|1|1|1|1|1|1|1|1|1|1|1|1|1" : "0|0|0|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0");
    tu_write_file(data, "u.item", text, (size_t)-1);
    n = 0;
    for (int u = 1; u <= 6; u++)
        for (int i = 1; i <= 5; i++)
            n += snprintf(text + n, sizeof text - (size_t)n, "%d\t%d\t%d\t%d\n", u, i, 1 + (u + i) % 5,
                          880000000 + i);
    tu_write_file(data, "u.data", text, (size_t)-1);
    char *m = tu_path(dir, "m.mfr");
    assert_int_equal(run("train --data '%s' --split none --dim 4 --epochs 1 --quiet --out '%s'", data, m), 0);
    const char *last = "Genre 18 of a long name \"Z\", padded to sixty bytes here ....";
    assert_int_equal(run("similar --model '%s' --movie '#2' --csv", m), 0);
    tu_expect_in(g_out, "here ....|Genre 18 of a long name \"\"Z\"\", padded to sixty bytes here ....\"\n");
    assert_int_equal(run("norms --model '%s' --csv", m), 0);
    tu_expect_in(g_out, ",Movie 1 (1995),\"Genre 01 of a long name zzz, padded");
    tu_expect_in(g_out, "here ....|Genre 18 of a long name \"\"Z\"\", padded to sixty bytes here ....\"\n");
    assert_int_equal(run("export --model '%s' --as tsv --out '%s'", m, emb), 0);
    char *meta_path = tu_path(emb, "metadata.tsv");
    char *meta = tu_read_file(meta_path, NULL);
    char want[256];
    snprintf(want, sizeof want, "here ....|%s\t", last);
    tu_expect_in(meta, want);
    free(meta), free(meta_path), free(m), free(emb), free(data), free(dir);
}

/* A copy of the data in g_dir/name whose split u1 tests every rating of
 * user 7 (field 1) or of movie 7 (field 2) and trains on the rest. */
static char *data_split_out(int field, const char *name)
{
    char *dir = tu_path(g_dir, name);
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s' && cp '%s'/u.* '%s'/ && awk '$%d != 7' '%s/u.data' > '%s/u1.base' && "
             "awk '$%d == 7' '%s/u.data' > '%s/u1.test'",
             dir, g_data, dir, field, g_data, dir, field, g_data, dir);
    assert_int_equal(system(cmd), 0);
    return dir;
}

/* A user without a training rating in the model's split: a list from the
 * vector's random start, which the command says, with the counts; ALS
 * solves such a user's vector to zero and a softmax model makes a user of
 * the training ratings, so every such user gets one list, said instead. */
static void test_user_without_training_ratings(void **state)
{
    (void)state;
    char *cold = data_split_out(1, "cold"), *model = tu_path(g_dir, "cold.bin");
    unsigned char rated[80] = {0};
    int n_rated = rated_by(g_data, 7, rated, 80);
    assert_true(n_rated > 0);
    assert_int_equal(run("train --data '%s' --split u1 --dim 4 --epochs 3 --threads 1 --quiet --out '%s'", cold,
                         model),
                     0);
    assert_int_equal(run("recommend --model '%s' --user 7 --top 3", model), 0);
    tu_expect_in(g_err, "note: user 7 has no rating in the model's training split");
    char want[128];
    snprintf(want, sizeof want, "user 7 (%d ratings, 0 in the model's training split)", n_rated);
    tu_expect_in(g_out, want);
    tu_expect_in(g_err, "the list comes from the vector's random start");
    assert_int_equal(run("recommend --model '%s' --user 8 --top 3", model), 0);
    assert_null(strstr(g_err, "has no rating in the model's training split"));
    static const char *const other[][2] = {
        {"--optimizer als --l2 0.1", "the model's vector for the user is zero"},
        {"--kind softmax", "a softmax model makes a user of the movies rated in training"},
    };
    for (size_t x = 0; x < sizeof other / sizeof *other; x++) {
        assert_int_equal(run("train --data '%s' --split u1 --dim 4 --epochs 3 --threads 1 --quiet %s --out '%s'",
                             cold, other[x][0], model),
                         0);
        assert_int_equal(run("recommend --model '%s' --user 7 --top 3", model), 0);
        tu_expect_in(g_err, "note: user 7 has no rating in the model's training split");
        tu_expect_in(g_err, other[x][1]);
        tu_expect_in(g_err, "so the list is the same for every such user");
        assert_null(strstr(g_err, "random start"));
    }
    free(cold), free(model);
}

/* A movie without a training rating in the model's split: similar says
 * that its neighbours tell nothing of it (a random start; ALS: a zero
 * vector, against which every movie ties; a softmax model trains every
 * movie's row as a negative: no note), and a fold-in that it is in, of
 * any model, says that its rating tells little. */
static void test_movie_without_training_ratings(void **state)
{
    (void)state;
    char *cold = data_split_out(2, "cold_movie"), *model = tu_path(g_dir, "cold_movie.bin");
    static const char *const kinds[][2] = {
        {"", "they come from its vector's random start"},
        {"--optimizer als --l2 0.1", "its vector is zero (training solved it from no rating), every "
                                     "movie scores 0"},
        {"--kind softmax", NULL},
    };
    for (size_t x = 0; x < sizeof kinds / sizeof *kinds; x++) {
        assert_int_equal(run("train --data '%s' --split u1 --dim 4 --epochs 3 --threads 1 --quiet %s --out '%s'",
                             cold, kinds[x][0], model),
                         0);
        assert_int_equal(run("similar --model '%s' --movie '#7' --top 3", model), 0);
        if (kinds[x][1]) {
            tu_expect_in(g_err, "note: movie 7 has no rating in the model's training split, so its "
                                "neighbours say nothing of it: ");
            tu_expect_in(g_err, kinds[x][1]);
        } else {
            assert_null(strstr(g_err, "has no rating in the model's training split"));
        }
        assert_int_equal(run("similar --model '%s' --movie '#8' --top 3", model), 0);
        assert_null(strstr(g_err, "has no rating in the model's training split"));
        /* a new user who rated it: the fold-in learns little from it (any kind) */
        assert_int_equal(run("recommend --model '%s' --rate '#8=4,#7=5' --top 3", model), 0);
        tu_expect_in(g_err, "note: rated movie #7 has no rating in the model's training split: the "
                            "model learned nothing of it, so its rating tells the fold-in little");
        assert_int_equal(run("recommend --model '%s' --rate '#8=4' --top 3", model), 0);
        assert_null(strstr(g_err, "no rating in the model's training split"));
    }
    free(cold), free(model);
}

/* A model whose --l2 no `mfrec train` accepts (the library's config takes
 * any finite value): the default fold-in ridge overflows, and recommend
 * --rate says so and asks for --lambda instead of blaming a --lambda the
 * user did not give. */
static void test_fold_in_ridge_overflow(void **state)
{
    (void)state;
    char *model = tu_path(g_dir, "huge_l2.bin");
    mfr_error err = {0};
    mfr_dataset *ds = NULL;
    mfr_split *sp = NULL;
    mfr_trainer *tr = NULL;
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 3;
    cfg.l2 = 1e308;
    assert_int_equal(mfr_dataset_load(g_hm, NULL, &ds, &err), MFR_OK);
    assert_int_equal(mfr_split_create(ds, "random:0.2", cfg.seed, &sp, &err), MFR_OK);
    assert_int_equal(mfr_trainer_create(&cfg, ds, mfr_split_train(sp), "random:0.2", &tr, &err), MFR_OK);
    assert_int_equal(mfr_model_save(mfr_trainer_model(tr), model, &err), MFR_OK);
    mfr_trainer_destroy(tr);
    mfr_split_destroy(sp);
    mfr_dataset_destroy(ds);
    assert_int_equal(run("recommend --model '%s' --rate '#1=5' -k 2", model), 1);
    tu_expect_in(g_err, "the default fold-in ridge (from the model's --l2 and --l2-freq) overflows to "
                        "infinity; give --lambda");
    assert_int_equal(run("recommend --model '%s' --rate '#1=5' -k 2 --lambda 1", model), 0);
    free(model);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_and_usage_errors),
        cmocka_unit_test(test_help_flag_as_a_value),
        cmocka_unit_test(test_runtime_errors),
        cmocka_unit_test(test_recommend_user),
        cmocka_unit_test(test_user_without_training_ratings),
        cmocka_unit_test(test_movie_without_training_ratings),
        cmocka_unit_test(test_overflowed_scores_and_rated_digits),
        cmocka_unit_test(test_norms_overflowed_last_bin_open),
        cmocka_unit_test(test_norms_every_norm_overflowed),
        cmocka_unit_test(test_similar_overflowed_query),
        cmocka_unit_test(test_long_genre_lists_whole),
        cmocka_unit_test(test_similar),
        cmocka_unit_test(test_similar_ambiguous_counts),
        cmocka_unit_test(test_norms),
        cmocka_unit_test(test_fold_in_titles),
        cmocka_unit_test(test_untitled_movie),
        cmocka_unit_test(test_split_beside_u_item),
        cmocka_unit_test(test_outputs_in_the_data_dir),
        cmocka_unit_test(test_fold_in_ratings_file),
        cmocka_unit_test(test_fold_in_title_with_equals),
        cmocka_unit_test(test_machine_outputs_and_min_ratings),
        cmocka_unit_test(test_all_users),
        cmocka_unit_test(test_all_users_memory),
        cmocka_unit_test(test_rank_prior),
        cmocka_unit_test(test_poor_ranker_note),
        cmocka_unit_test(test_ranking_scores_are_not_ratings),
        cmocka_unit_test(test_fold_in_ridge_overflow),
        cmocka_unit_test(test_project_overflowed_norms),
        cmocka_unit_test(test_huge_finite_norm_digits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
