/*
 * test_cli_eval.c — `mfrec eval` end to end on synthetic data: the rating
 * errors and the ranking table (model vs popularity), -k, --json, --train
 * against the model's recorded split, users without relevant items, the
 * five-fold mode on u1..u5 files this test writes by splitting u.data
 * (rows, mean ± sample std, identical results for 1 and 2 threads), and
 * usage errors (exit 2, naming the flag) and runtime errors (exit 1);
 * --baseline ease[:LAMBDA] for one model and for the folds of both kinds
 * (the same EASE numbers from either, whatever the thread count), and
 * `eval --folds --kind softmax --json`.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "test_util.h"

static char *g_dir;   /* scratch directory */
static char *g_data;  /* synthetic dataset with u1..u5 .base/.test */
static char *g_plain; /* synthetic dataset without fold files */
static char *g_model; /* trained on g_data, split random:0.2 */
static const char *g_bin;
static char *g_out, *g_err; /* last command's stdout and stderr */

/* Runs `mfrec ARGS` (a shell fragment); returns the exit status. */
__attribute__((format(printf, 1, 2))) static int run(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int st = tu_run_cli(g_bin, g_dir, "", &g_out, &g_err, fmt, ap);
    va_end(ap);
    return st;
}

/* Writes u1..u5 .base/.test into dir: line x of u.data goes to the test
 * part of fold x % 5 + 1 and to the base part of the four others. */
static void write_folds(const char *dir)
{
    char *path = tu_path(dir, "u.data");
    size_t len;
    char *text = tu_read_file(path, &len);
    free(path);
    if (!text) abort();
    FILE *base[5], *test[5];
    for (int f = 0; f < 5; f++) {
        char name[16];
        snprintf(name, sizeof name, "u%d.base", f + 1);
        path = tu_path(dir, name);
        base[f] = fopen(path, "w");
        free(path);
        snprintf(name, sizeof name, "u%d.test", f + 1);
        path = tu_path(dir, name);
        test[f] = fopen(path, "w");
        free(path);
        if (!base[f] || !test[f]) abort();
    }
    long x = 0;
    for (char *line = text; *line; x++) {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) + 1 : strlen(line);
        for (int f = 0; f < 5; f++) fwrite(line, 1, n, x % 5 == f ? test[f] : base[f]);
        line += n;
    }
    for (int f = 0; f < 5; f++) {
        fclose(base[f]);
        fclose(test[f]);
    }
    free(text);
}

static int setup(void **state)
{
    (void)state;
    g_bin = getenv("MFREC_BIN");
    if (!g_bin) tu_skip_all("MFREC_BIN is not set (run through meson test)");
    g_dir = tu_mkdtemp();
    g_data = tu_path(g_dir, "data");
    g_plain = tu_path(g_dir, "plain");
    g_model = tu_path(g_dir, "m.bin");
    if (run("synth --users 120 --items 80 --ratings 3000 --rank 4 --seed 3 --out '%s'", g_data) != 0 ||
        run("synth --users 30 --items 20 --ratings 200 --seed 4 --out '%s'", g_plain) != 0) {
        fprintf(stderr, "synth failed: %s\n", g_err);
        return -1;
    }
    write_folds(g_data);
    if (run("train --data '%s' --split random:0.2 --dim 6 --epochs 30 --lr 0.05 --quiet --out '%s'",
            g_data, g_model) != 0) {
        fprintf(stderr, "train failed: %s\n", g_err);
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
    free(g_plain);
    free(g_model);
    free(g_out);
    free(g_err);
    return 0;
}

/* The number after `key` in text (e.g. "\"rmse\":"), searching from *from
 * and moving *from past it. */
static double number_after(const char **from, const char *key)
{
    const char *p = strstr(*from, key);
    if (!p) fail_msg("'%s' not found in:\n%s", key, *from);
    p += strlen(key);
    char *end;
    double v = strtod(p, &end);
    if (end == p) fail_msg("no number after '%s'", key);
    *from = end;
    return v;
}

/* In eval --folds --json's "mean" (or "std") object, which has the folds'
 * shape: metric of ranker ("model", "popularity", "ease"). */
static double summary_metric(const char *out, const char *summary, const char *ranker, const char *metric)
{
    char key[32];
    snprintf(key, sizeof key, "\"%s\":{", summary);
    const char *p = strstr(out, key);
    if (!p) fail_msg("'%s' not found in:\n%s", key, out);
    snprintf(key, sizeof key, "\"%s\":{", ranker);
    p = strstr(p, key);
    if (!p) fail_msg("no %s in the %s", key, summary);
    snprintf(key, sizeof key, "\"%s\":", metric);
    return number_after(&p, key);
}

static void test_help(void **state)
{
    (void)state;
    assert_int_equal(run("eval --help"), 0);
    tu_expect_in(g_out, "Usage: mfrec eval --model MODEL");
    tu_expect_in(g_out, "--folds");
    tu_expect_in(g_out, "-k N");
    tu_expect_in(g_out, "recall@k     hits / number of relevant items");
    /* the flags of train's run are refused by name, not as unknown */
    assert_int_equal(run("eval --folds --epochs 2 --early-stop 3"), 2);
    tu_expect_in(g_err, "mfrec eval: --early-stop is a flag of `mfrec train`'s run, not of eval");
    assert_int_equal(run("eval --folds --epochs 2 --quiet"), 2);
    tu_expect_in(g_err, "--quiet is a flag of `mfrec train`'s run");
    /* the same with the softmax model's folds */
    assert_int_equal(run("eval --folds --kind softmax --epochs 1 --out m.mfr"), 2);
    tu_expect_in(g_err, "mfrec eval: --out is a flag of `mfrec train`'s run, not of eval");
    assert_int_equal(run("eval --folds --preset softmax --epochs 1 --split u1"), 2);
    tu_expect_in(g_err, "--split is a flag of `mfrec train`'s run");
    tu_expect_in(g_err, "--folds trains uN.base");
    /* without --folds the message does not explain --folds */
    assert_int_equal(run("eval --model m.mfr --test u1.test --split u1"), 2);
    tu_expect_in(g_err, "--split is a flag of `mfrec train`'s run, not of eval (eval scores a saved --model");
    assert_null(strstr(g_err, "--folds"));
}

static void test_model_table(void **state)
{
    (void)state;
    /* u.data holds the model's training ratings: refused, or a loud
     * warning with --allow-overlap */
    assert_int_equal(run("eval --model '%s' --data '%s' --test u.data", g_model, g_data), 1);
    tu_expect_in(g_err, "2400 of the 3000 test ratings in ");
    tu_expect_in(g_err, "are training ratings of the model (split random:0.2)");
    tu_expect_in(g_err, "--allow-overlap");
    /* how to get the held-out part: a random split is its seed's (the model's, 300 by default),
     * of the data evaluated (without --data, `mfrec split` splits $MFREC_DATA or data/ml-100k) */
    char want[1024];
    snprintf(want, sizeof want,
             "(the other part of the model's split: `mfrec split --data %s --split random:0.2 --seed 300 "
             "--out DIR` writes it as DIR/test.data)",
             g_data);
    tu_expect_in(g_err, want);
    /* a path the shell would split is one quoted word of the command */
    char *spaced = tu_path(g_dir, "da ta's");
    assert_int_equal(symlink(g_data, spaced), 0);
    assert_int_equal(run("eval --model '%s' --data \"%s\" --test u.data", g_model, spaced), 1);
    snprintf(want, sizeof want, "`mfrec split --data '%.*s/da ta'\\''s' --split random:0.2 --seed 300 --out DIR`",
             (int)strlen(g_dir), g_dir);
    tu_expect_in(g_err, want);
    free(spaced);
    /* --train naming other ratings to exclude does not lift the check
     * against the model's own training ratings */
    char *one = tu_path(g_dir, "one.data"), *udata = tu_path(g_data, "u.data");
    char *all = tu_read_file(udata, NULL);
    tu_write_file(g_dir, "one.data", all, (size_t)(strchr(all, '\n') + 1 - all));
    free(all), free(udata);
    assert_int_equal(run("eval --model '%s' --data '%s' --test u.data --train '%s'", g_model, g_data, one), 1);
    tu_expect_in(g_err, "2400 of the 3000 test ratings in ");
    tu_expect_in(g_err, "are training ratings of the model (split random:0.2)");
    free(one);
    assert_int_equal(run("eval --model '%s' --data '%s' --test u.data --allow-overlap", g_model, g_data), 0);
    tu_expect_in(g_err, "WARNING: 2400 of the 3000 test ratings are training ratings");
    tu_expect_in(g_out, "RMSE ");
    tu_expect_in(g_out, "MAE ");
    tu_expect_in(g_out, "train (excluded, popularity): split random:0.2, 2400 ratings");
    tu_expect_in(g_out, "ranking at k=10");
    tu_expect_in(g_out, "model   popularity");
    tu_expect_in(g_out, "precision@10 ");
    tu_expect_in(g_out, "recall@10 ");
    tu_expect_in(g_out, "NDCG@10 ");
    tu_expect_in(g_out, "coverage ");
    tu_expect_in(g_out, "users evaluated ");
    assert_int_equal(run("eval --model '%s' --test u.data --allow-overlap --top 3", g_model), 0);
    tu_expect_in(g_out, "precision@3 ");
    tu_expect_in(g_out, "NDCG@3 ");
    assert_int_equal(run("eval --model '%s' --test u.data --allow-overlap --k=4", g_model), 0);
    tu_expect_in(g_out, "recall@4 ");
}

static void test_json_and_train_file(void **state)
{
    (void)state;
    /* the split's parts as files; a model trained on the same split */
    char *parts = tu_path(g_dir, "parts"), *model = tu_path(g_dir, "s.bin");
    assert_int_equal(run("split --data '%s' --split sklearn:1 --out '%s'", g_data, parts), 0);
    assert_int_equal(run("train --data '%s' --split sklearn:1 --dim 4 --epochs 20 --lr 0.05 --quiet "
                         "--out '%s'", g_data, model), 0);
    assert_int_equal(run("eval --model '%s' --test '%s/test.data' -k 5 --json", model, parts), 0);
    assert_true(g_out[0] == '{');
    tu_expect_in(g_out, "\"train\":\"split sklearn:1:0.25\",\"train_ratings\":2250,\"test_ratings\":750");
    tu_expect_in(g_out, "\"overlap\":{\"model_train\":0,\"train\":null,\"allowed\":false},\"top\":5,"
                        "\"ranking\":{\"model\":{\"users\":");
    tu_expect_in(g_out, "\"popularity\":{\"users\":");
    assert_null(strstr(strstr(g_out, "\"top\":"), "null")); /* every metric is a number */
    char *from_split = strdup(strstr(g_out, "\"top\":"));
    /* --train with the same ratings gives the same metrics */
    assert_int_equal(run("eval --model '%s' --test '%s/test.data' -k 5 --json --train '%s/train.data'",
                         model, parts, parts), 0);
    tu_expect_in(g_out, "train.data\",\"train_ratings\":2250");
    assert_string_equal(strstr(g_out, "\"top\":"), from_split);
    /* a --train path of some 650 bytes is given whole in "train" (a
     * 512-byte copy cut it) */
    char deep[1024] = "";
    size_t n = (size_t)snprintf(deep, sizeof deep, "%s", parts);
    for (int d = 0; d < 3; d++) {
        n += (size_t)snprintf(deep + n, sizeof deep - n, "/%0200d", d);
        assert_int_equal(mkdir(deep, 0755), 0);
    }
    char want[1100];
    snprintf(want, sizeof want, "cp '%s/train.data' '%s/train.data'", parts, deep);
    assert_int_equal(system(want), 0);
    assert_int_equal(run("eval --model '%s' --test '%s/test.data' -k 5 --json --train '%s/train.data'", model,
                         parts, deep), 0);
    snprintf(want, sizeof want, "\"train\":\"%s/train.data\",\"train_ratings\":2250", deep);
    tu_expect_in(g_out, want);
    /* excluding every rated item leaves no relevant test item */
    assert_int_equal(run("eval --model '%s' --test u.data --train u.data --json --allow-overlap", model), 0);
    tu_expect_in(g_out, "\"users\":0,\"precision\":null,\"recall\":null,\"ndcg\":null,\"coverage\":0}");
    /* the scores are not held out, and the JSON says so */
    tu_expect_in(g_out, "\"overlap\":{\"model_train\":2250,\"train\":3000,\"allowed\":true}");
    /* --train overlapping the test ratings is refused on its own too */
    assert_int_equal(run("eval --model '%s' --test '%s/test.data' --train u.data", model, parts), 1);
    tu_expect_in(g_err, "750 of the 750 test ratings in ");
    tu_expect_in(g_err, "are also in --train ");
    /* --threads (the evaluation and EASE run in parallel) changes nothing */
    assert_int_equal(run("eval --model '%s' --test '%s/test.data' -k 5 --json --threads 1 --baseline ease", model,
                         parts), 0);
    char *one_thread = strdup(g_out);
    assert_int_equal(run("eval --model '%s' --test '%s/test.data' -k 5 --json --threads 2 --baseline ease", model,
                         parts), 0);
    assert_string_equal(g_out, one_thread);
    free(one_thread);
    assert_int_equal(run("eval --model '%s' --test u.data --train u.data --allow-overlap", model), 0);
    tu_expect_in(g_out, "n/a");
    tu_expect_in(g_out, "users evaluated           0            0");
    free(from_split);
    free(parts);
    free(model);
}

/* The summaries of eval --folds --json in g_out have the folds' shape,
 * rating metrics first (the folds' "mse" was missing from them): the mean's
 * mse is the folds' mean. */
static void expect_summaries_mse(void)
{
    tu_expect_in(g_out, "\"mean\":{\"mse\":");
    tu_expect_in(g_out, "\"std\":{\"mse\":");
    const char *p = g_out;
    double mse = 0;
    for (int f = 0; f < 5; f++) mse += number_after(&p, "\"mse\":") / 5;
    const char *pm = strstr(g_out, "\"mean\":{");
    assert_true(fabs(number_after(&pm, "\"mse\":") - mse) < 1e-12);
}

static void test_folds(void **state)
{
    (void)state;
    assert_int_equal(run("eval --folds --data '%s' --dim 4 --epochs 8 --lr 0.05 --init-std 0.3 "
                         "-k 5 --threads 1", g_data), 0);
    tu_expect_in(g_out, "folds u1..u5 of ");
    tu_expect_in(g_out, "dim 4, epochs 8, Adam lr 0.05, init N(0, 0.3^2), seed 300, threads 1, k 5");
    /* the optimizer that trains the folds, named; --kind mf is the default's name */
    assert_int_equal(run("eval --folds --data '%s' --dim 4 --epochs 2 --optimizer sgd --lr 0.5 --kind mf "
                         "--threads 1", g_data), 0);
    tu_expect_in(g_out, "dim 4, epochs 2, gradient descent lr 0.5, init");
    assert_int_equal(run("eval --folds --data '%s' --dim 4 --epochs 2 --optimizer als --l2 0.1 --threads 1",
                         g_data), 0);
    tu_expect_in(g_out, "dim 4, epochs 2, alternating least squares, init");
    /* every regularizer of the folds' training, as train's header names them:
     * accurate's ranking terms on their own line */
    assert_int_equal(run("eval --folds --data '%s' --preset accurate --dim 4 --epochs 2 --threads 1", g_data), 0);
    tu_expect_in(g_out, "preset accurate with --epochs 2 --dim 4 | l2 0.12, l2-freq 0.05, gravity 0, biases on "
                        "(l2-bias 0.05), implicit 1\n"
                        "l1-items 0, gravity-bias 0.025, item-prior-drop 1, rank-prior 0.3 (lists only)\n");
    assert_int_equal(run("eval --folds --data '%s' --epochs 2 --kind forest", g_data), 2);
    tu_expect_in(g_err, "--kind must be mf or softmax, got 'forest'");
    /* the default's note on the first call's output was checked above */
    assert_int_equal(run("eval --folds --data '%s' --dim 4 --epochs 8 --lr 0.05 --init-std 0.3 "
                         "-k 5 --threads 1", g_data), 0);
    for (int f = 1; f <= 5; f++) {
        char row[32];
        snprintf(row, sizeof row, "\nu%d      2400    600 ", f);
        tu_expect_in(g_out, row);
    }
    tu_expect_in(g_out, "mean ± sample std over 5 folds\n"); /* no note: every fold ranks */
    tu_expect_in(g_out, "\nRMSE ");
    tu_expect_in(g_out, "\nprecision@5 ");
    tu_expect_in(g_out, "\nNDCG@5 ");

    assert_int_equal(run("eval --folds --data '%s' --dim 4 --epochs 8 --lr 0.05 --init-std 0.3 "
                         "-k 5 --threads 1 --json", g_data), 0);
    assert_true(g_out[0] == '{');
    tu_expect_in(g_out, "\"folds\":[{\"fold\":\"u1\",\"train_ratings\":2400,\"test_ratings\":600");
    /* the whole training configuration, for programs comparing runs */
    tu_expect_in(g_out, "\"preset\":\"notebook\",\"config\":{\"k\":4,\"lr\":0.05,\"beta1\":0.9,");
    /* "top" the cutoff, as the flag; the shortest decimals that read back
     * (%.17g wrote 0.050000000000000003 and 0.29999999999999999) */
    tu_expect_in(g_out, ",\"dim\":4,\"epochs\":8,\"lr\":0.05,\"init_std\":0.3,\"seed\":300,\"top\":5,");
    tu_expect_in(g_out, ",\"top\":5,");
    tu_expect_in(g_out, "\"init_std\":0.3,");
    tu_expect_in(g_out, "\"bias\":false,");
    tu_expect_in(g_out, "\"optimizer\":\"adam\",");
    tu_expect_in(g_out, "{\"fold\":\"u5\"");
    /* mean and sample std of the five RMSEs */
    const char *p = g_out;
    double rmse[5], mean = 0, q = 0;
    for (int f = 0; f < 5; f++) mean += rmse[f] = number_after(&p, "\"rmse\":");
    mean /= 5;
    for (int f = 0; f < 5; f++) q += (rmse[f] - mean) * (rmse[f] - mean);
    const char *pm = strstr(g_out, "\"mean\":{"), *ps = strstr(g_out, "\"std\":{");
    assert_non_null(pm);
    assert_non_null(ps);
    assert_true(fabs(number_after(&pm, "\"rmse\":") - mean) < 1e-12);
    assert_true(fabs(number_after(&ps, "\"rmse\":") - sqrt(q / 4)) < 1e-12);
    assert_true(rmse[0] != rmse[1]); /* the folds differ */
    expect_summaries_mse();
    pm = strstr(g_out, "\"mean\":{");
    tu_expect_in(pm, ",\"ranking\":{\"model\":{\"precision\":");
    tu_expect_in(pm, "},\"popularity\":{\"precision\":");
    assert_null(strstr(g_out, "pop_"));
    double pop = 0;
    for (const char *f = g_out; (f = strstr(f, "\"popularity\":{\"users\":")) != NULL;)
        pop += number_after(&f, "\"ndcg\":") / 5;
    assert_true(fabs(summary_metric(g_out, "mean", "popularity", "ndcg") - pop) < 1e-12);
    char *one = strdup(strstr(g_out, "\"mean\":"));
    assert_null(strstr(g_out, "ranked_folds")); /* every fold ranks: the shape as it was */
    tu_expect_in(g_out, "}],\"mean\":{\"mse\":");

    /* the thread count changes nothing */
    assert_int_equal(run("eval --folds --data '%s' --dim 4 --epochs 8 --lr 0.05 --init-std 0.3 "
                         "-k 5 --threads 2 --json", g_data), 0);
    assert_string_equal(strstr(g_out, "\"mean\":"), one);
    free(one);

    /* a dataset without the fold files */
    assert_int_equal(run("eval --folds --data '%s' --epochs 1", g_plain), 1);
    tu_expect_in(g_err, "u1.base");
}

/* Folds without a relevant test rating (every rating 1): each fold's row
 * says n/a, as the summary does, never "nan". */
static void test_folds_without_ranking(void **state)
{
    (void)state;
    char *ones = tu_path(g_dir, "ones");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "mkdir '%s' && awk -F'\\t' -v OFS='\\t' '{$3 = 1; print}' '%s/u.data' > '%s/u.data'",
             ones, g_data, ones);
    assert_int_equal(system(cmd), 0);
    write_folds(ones);
    assert_int_equal(run("eval --folds --data '%s' --dim 4 --epochs 2 --baseline ease:5 --threads 1", ones), 0);
    tu_expect_in(g_out, "\nu1 ");
    tu_expect_in(g_out, "    n/a     n/a      n/a |     n/a     n/a      n/a      0 ");
    assert_null(strstr(g_out, "nan"));
    tu_expect_in(g_out, "; the ranking metrics over no fold (u1, u2, u3, u4, u5: no test rating of 4 or more)\n");
    char cov[64]; /* the folds' 0 coverage is no coverage: none ranked */
    snprintf(cov, sizeof cov, "\n%-16s %19s ", "coverage", "n/a");
    tu_expect_in(g_out, cov);
    free(ones);
}

/* The mean of metric ("ndcg") of ranker ("model") over the folds of eval
 * --folds --json in g_out whose flag in use[] is set. */
static double folds_mean(const char *ranker, const char *metric, const bool *use)
{
    const char *p = strstr(g_out, "\"folds\":[");
    assert_non_null(p);
    char rk[32], mk[32];
    snprintf(rk, sizeof rk, "\"%s\":{", ranker);
    snprintf(mk, sizeof mk, "\"%s\":", metric);
    double s = 0;
    int n = 0;
    for (int f = 0; f < 5; f++) {
        p = strstr(p, rk);
        assert_non_null(p);
        p += strlen(rk);
        if (!use[f]) continue; /* its metrics are null */
        s += number_after(&p, mk);
        n++;
    }
    return s / n;
}

/* A fold whose test part has no relevant rating (u3: every one 1) ranks
 * no user: its ranking metrics are undefined, and the folds' mean and std
 * of them came out n/a (null in JSON), the coverage's dragged down by its
 * 0. They are over the 4 other folds, and the output says which it left
 * out (text, JSON "ranked_folds"), for both kinds of model; with every
 * fold ranked the output keeps its shape (test_folds). */
static void test_folds_one_without_relevant_ratings(void **state)
{
    (void)state;
    char *dir = tu_path(g_dir, "u3low");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "mkdir '%s' && awk -F'\\t' -v OFS='\\t' 'NR %% 5 == 3 {$3 = 1} {print}' '%s/u.data' > '%s/u.data'",
             dir, g_data, dir);
    assert_int_equal(system(cmd), 0);
    write_folds(dir); /* line x of u.data (NR x + 1) in u(x % 5 + 1).test */
    const bool use[5] = {true, true, false, true, true};
    const char *note = "over the 4 folds that rank a user (u3: no test rating of 4 or more)";
    assert_int_equal(run("eval --folds --data '%s' --dim 4 --epochs 4 --lr 0.05 --threads 1", dir), 0);
    tu_expect_in(g_out, "\nu3 ");
    char want[256];
    snprintf(want, sizeof want, "\nmean ± sample std over 5 folds; the ranking metrics %s\n", note);
    tu_expect_in(g_out, want);
    assert_null(strstr(strstr(g_out, "\nmean ±"), "n/a"));
    assert_int_equal(run("eval --folds --data '%s' --dim 4 --epochs 4 --lr 0.05 --threads 1 --json", dir), 0);
    tu_expect_json(g_out);
    tu_expect_in(g_out, "],\"ranked_folds\":[\"u1\",\"u2\",\"u4\",\"u5\"],\"mean\":{\"mse\":");
    static const char *const metrics[] = {"precision", "recall", "ndcg", "coverage"};
    for (int m = 0; m < 4; m++) {
        const double want_m = folds_mean("model", metrics[m], use);
        const double want_p = folds_mean("popularity", metrics[m], use);
        assert_true(fabs(summary_metric(g_out, "mean", "model", metrics[m]) - want_m) < 1e-12);
        assert_true(fabs(summary_metric(g_out, "mean", "popularity", metrics[m]) - want_p) < 1e-12);
        assert_true(summary_metric(g_out, "std", "model", metrics[m]) > 0);
    }
    expect_summaries_mse(); /* the rating metrics are over every fold */
    assert_int_equal(run("eval --folds --kind softmax --data '%s' --epochs 1 --dim 4 --hidden none --threads 1",
                         dir), 0);
    snprintf(want, sizeof want, "\nmean and std %s\n", note);
    tu_expect_in(g_out, want);
    assert_null(strstr(g_out, "))")); /* no parentheses inside parentheses */
    assert_null(strstr(strstr(g_out, "\nmean "), "n/a"));
    assert_int_equal(run("eval --folds --kind softmax --data '%s' --epochs 1 --dim 4 --hidden none --threads 1 "
                         "--json", dir), 0);
    tu_expect_json(g_out);
    tu_expect_in(g_out, "],\"ranked_folds\":[\"u1\",\"u2\",\"u4\",\"u5\"],\"mean\":{\"ranking\":");
    assert_true(fabs(summary_metric(g_out, "mean", "model", "ndcg") - folds_mean("model", "ndcg", use)) < 1e-12);
    free(dir);
}

/* The EASE column: in the table, in JSON, the same for 1 and 2 threads,
 * and the same folds give the same EASE numbers under either model kind. */
static void test_softmax_folds_settings(void **state)
{
    (void)state;
    /* the header names every setting that changes the results, as the
     * JSON does: weight decay, the hidden layers and their init, the
     * features and their widths were left out, two runs alike */
    assert_int_equal(run("eval --folds --kind softmax --data '%s' --epochs 1 --dim 4 --hidden 3,2 "
                         "--hidden-init he --dim-movie 4 --features movies,genres --dim-genre 2 "
                         "--weight-decay 0.5 --seed 7", g_data), 0);
    tu_expect_in(g_out, "softmax folds u1..u5: k 4, hidden 3,2 (He init), feature widths movies 4, genres 2, "
                        "1 epoch, Adagrad lr 0.1, batch users 0, weight decay 0.5, seed 7, top 10\n");
    /* --json too: the widths were missing, so runs that differed in
     * --dim-genre wrote the same configuration */
    assert_int_equal(run("eval --folds --kind softmax --data '%s' --epochs 1 --dim 4 --hidden none "
                         "--dim-movie 4 --features movies,genres,years --dim-genre 2 --dim-year 3 --json",
                         g_data), 0);
    tu_expect_json(g_out);
    tu_expect_in(g_out, ",\"top\":10,\"feature_widths\":{\"movies\":4,\"genres\":2,\"years\":3},\"folds\":[");
    assert_int_equal(run("eval --folds --kind softmax --data '%s' --epochs 1 --dim 4 --hidden none --tie --json",
                         g_data), 0);
    tu_expect_in(g_out, ",\"feature_widths\":{\"movies\":4},");
}

static void test_ease_baseline(void **state)
{
    (void)state;
    assert_int_equal(run("eval --model '%s' --data '%s' --test u.data --allow-overlap "
                         "--baseline ease:5", g_model, g_data), 0);
    tu_expect_in(g_out, "EASE: lambda 5, fitted on these training ratings");
    tu_expect_in(g_out, "popularity         EASE\n");
    assert_int_equal(run("eval --model '%s' --data '%s' --test u.data --allow-overlap --json "
                         "--baseline ease", g_model, g_data), 0);
    tu_expect_json(g_out);
    tu_expect_in(g_out, "\"ease_lambda\":400,\"ease_input\":\"binary\"}");
    const char *p = strstr(g_out, "\"ease\":{");
    assert_non_null(p);
    double nd = number_after(&p, "\"ndcg\":");
    assert_true(nd >= 0 && nd <= 1);

    const char *flags = "--dim 4 --epochs 2 --lr 0.05 -k 5 --baseline ease:5 --json";
    assert_int_equal(run("eval --folds --data '%s' %s --threads 1", g_data, flags), 0);
    tu_expect_json(g_out);
    tu_expect_in(g_out, "\"ease_lambda\":5,\"ease_input\":\"binary\",\"folds\":[");
    /* the summary's EASE NDCG is the mean of the folds' */
    const char *q = g_out;
    double sum = 0;
    for (int f = 0; f < 5; f++) {
        q = strstr(q, "\"ease\":{");
        assert_non_null(q);
        sum += number_after(&q, "\"ndcg\":");
    }
    double mf_mean = summary_metric(g_out, "mean", "ease", "ndcg");
    assert_true(fabs(mf_mean - sum / 5) < 1e-12);
    const double mf_pop = summary_metric(g_out, "mean", "popularity", "ndcg");
    const double mf_pop_sd = summary_metric(g_out, "std", "popularity", "ndcg");
    char *one = strdup(strstr(g_out, "\"mean\":"));
    assert_null(strstr(g_out, "ranked_folds")); /* every fold ranks: the shape as it was */
    tu_expect_in(g_out, "}],\"mean\":{\"mse\":");
    assert_int_equal(run("eval --folds --data '%s' %s --threads 2", g_data, flags), 0);
    assert_string_equal(strstr(g_out, "\"mean\":"), one);
    free(one);

    /* the softmax folds: JSON, and EASE as above */
    assert_int_equal(run("eval --folds --kind softmax --data '%s' --epochs 2 --dim 4 --hidden 4 "
                         "--dim-movie 4 --top 5 --baseline ease:5 --json --threads 1", g_data), 0);
    tu_expect_json(g_out);
    tu_expect_in(g_out, "{\"kind\":\"softmax\",");
    tu_expect_in(g_out, "\"hidden\":\"4\",\"features\":\"movies\",");
    /* the cutoff is "top", as the flag, beside "dim" ("k" was the cutoff
     * here and the dimension in norms) */
    tu_expect_in(g_out, "{\"kind\":\"softmax\",\"data\":");
    tu_expect_in(g_out, ",\"dim\":4,");
    tu_expect_in(g_out, ",\"top\":5");
    assert_null(strstr(g_out, "\"k\":"));
    tu_expect_in(g_out, "{\"fold\":\"u5\",\"train_ratings\":2400,\"test_ratings\":600,");
    /* one summary for both kinds: the same rankers give the same bits */
    assert_true(summary_metric(g_out, "mean", "ease", "ndcg") == mf_mean);
    assert_true(summary_metric(g_out, "mean", "popularity", "ndcg") == mf_pop);
    assert_true(summary_metric(g_out, "std", "popularity", "ndcg") == mf_pop_sd);
    tu_expect_in(g_out, "\"mean\":{\"ranking\":{\"model\":{\"precision\":");
    /* EASE on the ratings: its own default λ, named in the table and the
     * JSON, other lists than the binary one's, the same for both kinds */
    assert_int_equal(run("eval --model '%s' --data '%s' --test u.data --allow-overlap "
                         "--baseline ease-ratings", g_model, g_data), 0);
    tu_expect_in(g_out, "EASE on ratings: lambda 5000, fitted on these training ratings");
    const char *rflags = "--dim 4 --epochs 2 --lr 0.05 -k 5 --baseline ease-ratings:5 --json";
    assert_int_equal(run("eval --folds --data '%s' %s --threads 2", g_data, rflags), 0);
    tu_expect_json(g_out);
    tu_expect_in(g_out, "\"ease_lambda\":5,\"ease_input\":\"ratings\",\"folds\":[");
    double rated_mean = summary_metric(g_out, "mean", "ease", "ndcg");
    assert_true(rated_mean >= 0 && rated_mean <= 1 && rated_mean != mf_mean);
    assert_int_equal(run("eval --folds --kind softmax --data '%s' --epochs 1 --dim 4 --hidden none "
                         "--dim-movie 4 --top 5 --baseline ease-ratings:5 --json --threads 1", g_data), 0);
    tu_expect_in(g_out, "\"ease_input\":\"ratings\"");
    assert_true(fabs(summary_metric(g_out, "mean", "ease", "ndcg") - rated_mean) < 1e-12);
    /* without --baseline: no EASE keys */
    assert_int_equal(run("eval --folds --kind softmax --data '%s' --epochs 1 --dim 4 --hidden none "
                         "--dim-movie 4 --json", g_data), 0);
    tu_expect_json(g_out);
    assert_null(strstr(g_out, "ease"));
    tu_expect_in(g_out, "\"popularity\":{\"precision\":");
    tu_expect_in(g_out, "\"feature_dropout\":0,");
    /* --feature-dropout: taken, recorded in the JSON and said in the table (--k: eval's --top) */
    assert_int_equal(run("eval --folds --kind softmax --data '%s' --epochs 1 --dim 4 --hidden none "
                         "--dim-movie 4 --feature-dropout 0.25 --json", g_data), 0);
    tu_expect_json(g_out);
    tu_expect_in(g_out, "\"feature_dropout\":0.25,");
    assert_int_equal(run("eval --folds --kind softmax --data '%s' --epochs 1 --dim 4 --hidden none "
                         "--dim-movie 4 --feature-dropout 0.25 --k 5", g_data), 0);
    tu_expect_in(g_out, ", feature dropout 0.25, seed 300, top 5");
    tu_expect_in(g_out, "softmax folds u1..u5: k 4, no hidden layer, feature widths movies 4, 1 epoch, ");
    /* --max-memory reaches EASE's check, before any fold trains */
    assert_int_equal(run("eval --folds --kind softmax --data '%s' --epochs 2 --dim 4 --hidden 4 "
                         "--baseline ease:5 --max-memory 90K --threads 1", g_data), 1);
    tu_expect_in(g_err, "--baseline ease needs ");
    tu_expect_in(g_err, "more than --max-memory 90.0 KiB");
}

/* eval --model --baseline ease checks EASE's memory before any work: a
 * 120k-item catalogue's EASE (two 120k x 120k matrices of doubles,
 * 215 GiB) is refused against this machine's memory at once, where the
 * fit came only after the model's ranking and then allocated them
 * unchecked. */
static void test_ease_memory_with_model(void **state)
{
    (void)state;
    char *wide = tu_path(g_dir, "wide-catalogue"), *wide_model = tu_path(g_dir, "wide.mfr");
    assert_int_equal(run("synth --users 30 --items 120000 --ratings 120000 --out '%s'", wide), 0);
    assert_int_equal(run("train --data '%s' --split none --epochs 1 --dim 2 --quiet --out '%s'", wide,
                         wide_model), 0);
    assert_int_equal(run("eval --model '%s' --test u.data --allow-overlap --baseline ease", wide_model), 1);
    tu_expect_in(g_err, "--baseline ease needs 214.6 GiB for its 120000 x 120000 matrices");
    tu_expect_in(g_err, "more than this machine's memory");
    assert_null(strstr(g_out, "precision"));
    tu_rmtree(wide);
    unlink(wide_model);
    free(wide);
    free(wide_model);
}

static void test_usage_errors(void **state)
{
    (void)state;
    static const struct {
        const char *args, *message;
    } cases[] = {
        {"--model M --test T -k 0", "-k must be an integer in 1..1000000, got '0'"},
        {"--model M --test T --k abc", "--k must be an integer"},
        {"--model M --test T -k", "-k needs a value"},
        {"--model M --test T --dim 3", "--dim is a training flag, only used with --folds"},
        {"--folds --allow-overlap", "--allow-overlap cannot be used with --folds"},
        {"--model M --test T --epochs=3", "--epochs is a training flag"},
        {"--model M", "--test is required"},
        {"--test T", "--model is required"},
        {"--model M --test T --bogus", "unknown option --bogus"},
        {"--model M --test T extra", "unexpected argument 'extra'"},
        {"--folds --dim 0", "--dim must be an integer in 1..4096, got '0'"},
        {"--folds --epochs -1", "--epochs must be an integer"},
        {"--folds --lr x", "--lr must be a number"},
        {"--folds --init-std -1", "--init-std"},
        {"--folds --seed -3", "--seed must be a non-negative integer"},
        {"--folds --threads 0", "--threads must be an integer in 1..1024"},
        {"--folds --model M", "--model cannot be used with --folds"},
        {"--folds --test T", "--test cannot be used with --folds"},
        {"--folds --train T", "--train cannot be used with --folds"},
        {"--folds --baseline knn", "--baseline: expected ease[:LAMBDA] or ease-ratings[:LAMBDA], got 'knn'"},
        {"--folds --baseline ease-rating", "got 'ease-rating'"},
        {"--folds --baseline ease-ratings:-1", "--baseline"},
        {"--folds --baseline ease:0", "--baseline"},
        {"--folds --kind softmax --baseline ease:x", "--baseline"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        int rc = run("eval %s", cases[c].args);
        if (rc != 2) fail_msg("eval %s: exit %d, expected 2\n%s", cases[c].args, rc, g_err);
        tu_expect_in(g_err, cases[c].message);
    }
}

static void test_runtime_errors(void **state)
{
    (void)state;
    assert_int_equal(run("eval --model '%s' --test nonexistent.data", g_model), 1);
    /* looked up as given, then in the data's directory: the error says both were tried */
    tu_expect_in(g_err, "--test nonexistent.data: no such file, neither as given nor in the data's directory ");
    assert_int_equal(run("eval --model '%s' --test u.data --train missing.base", g_model), 1);
    tu_expect_in(g_err, "--train missing.base: no such file, neither as given nor in the data's directory ");
    /* in the data's directory for another reason than a missing file: that reason */
    assert_int_equal(run("eval --model '%s' --test u.data/x", g_model), 1);
    tu_expect_in(g_err, "--test u.data/x: no such file as given, and ");
    tu_expect_in(g_err, "/u.data/x: Not a directory");
    assert_int_equal(run("eval --model '%s/nothing.bin' --test u.data", g_dir), 1);
    tu_expect_in(g_err, "nothing.bin");
    /* a model of another dataset */
    assert_int_equal(run("eval --model '%s' --data '%s' --test u.data", g_model, g_plain), 1);
}

/* Whether raw id `id` is among ids[0..n). */
static bool has_id(const long *ids, int n, long id)
{
    for (int k = 0; k < n; k++)
        if (ids[k] == id) return true;
    return false;
}

/* The round trip of a split made for another tool: `mfrec split`, a
 * model trained on every rating of train.data (--split none), eval on
 * test.data. Its ratings of users or movies that only test.data has
 * cannot be scored: they are left out, counted and warned about (eval
 * refused the whole file: "unknown item id"). */
static void test_split_file_round_trip(void **state)
{
    (void)state;
    char *parts = tu_path(g_dir, "rt"), *model = tu_path(g_dir, "rt.mfr");
    assert_int_equal(run("split --data '%s' --split random:0.5 --seed 9 --out '%s'", g_plain, parts), 0);
    /* a staged output that replaces a file takes its permission bits, as a
     * single file does (they came back 0666 less the umask) */
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "chmod 600 '%s/train.data' && chmod 640 '%s/test.data'", parts, parts);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(run("split --data '%s' --split random:0.5 --seed 9 --out '%s'", g_plain, parts), 0);
    snprintf(cmd, sizeof cmd, "test \"$(stat -c %%a '%s/train.data' '%s/test.data' | tr '\\n' ' ')\" = '600 640 '",
             parts, parts);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(run("train --data '%s/train.data' --split none --dim 4 --epochs 10 --lr 0.05 --quiet "
                         "--log-json '%s/log.json' --out '%s'", parts, parts, model), 0);
    tu_expect_in(g_out, "| no validation ratings (split none)");
    /* one rating more of a user, and one of a movie, that no file has */
    snprintf(cmd, sizeof cmd, "printf '424242\\t%s\\t3\\t1\\n' >> '%s/test.data' && "
             "printf '%s\\t424243\\t5\\t1\\n' >> '%s/test.data'", "1", parts, "1", parts);
    assert_int_equal(system(cmd), 0);
    /* what should be left out, from the files themselves */
    long users[200], items[200];
    int nu = 0, ni = 0;
    long long n_test = 0, unknown = 0, unknown_user = 0, unknown_item = 0;
    for (int part = 0; part < 2; part++) {
        snprintf(cmd, sizeof cmd, "%s/%s", parts, part ? "test.data" : "train.data");
        size_t len;
        char *text = tu_read_file(cmd, &len);
        assert_non_null(text);
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
            long u, i;
            assert_int_equal(sscanf(line, "%ld\t%ld", &u, &i), 2);
            if (part == 0) {
                if (!has_id(users, nu, u)) users[nu++] = u;
                if (!has_id(items, ni, i)) items[ni++] = i;
                assert_true(nu < 200 && ni < 200);
                continue;
            }
            n_test++;
            const bool no_u = !has_id(users, nu, u), no_i = !has_id(items, ni, i);
            unknown += no_u || no_i;
            unknown_user += no_u;
            unknown_item += no_i;
        }
        free(text);
    }
    assert_true(unknown_user >= 1 && unknown_item >= 1);
    assert_int_equal(run("eval --model '%s' --test '%s/test.data' --json", model, parts), 0);
    snprintf(cmd, sizeof cmd,
             "\"test_ratings\":%lld,\"left_out\":{\"ratings\":%lld,\"unknown_user\":%lld,\"unknown_movie\":%lld},",
             n_test - unknown, unknown, unknown_user, unknown_item);
    tu_expect_in(g_out, cmd);
    tu_expect_in(g_out, "\"train\":\"split none\"");
    snprintf(cmd, sizeof cmd, "warning: left out %lld of the %lld test ratings in ", unknown, n_test);
    tu_expect_in(g_err, cmd);
    snprintf(cmd, sizeof cmd, "every figure below is over the other %lld\n", n_test - unknown);
    tu_expect_in(g_err, cmd);
    assert_int_equal(run("eval --model '%s' --test '%s/test.data'", model, parts), 0);
    snprintf(cmd, sizeof cmd, "%lld more left out: user or movie not in the model)\n", unknown);
    tu_expect_in(g_out, cmd);
    /* a file of nothing but unknown ids is an error naming its line */
    snprintf(cmd, sizeof cmd, "printf '424242\\t1\\t3\\t1\\n' > '%s/alien.data'", parts);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(run("eval --model '%s' --test '%s/alien.data'", model, parts), 1);
    tu_expect_in(g_err, "alien.data:1: the file's one rating names a user or an item that the dataset does not have");
    /* the model has no held-out part: every rating of train.data overlaps */
    assert_int_equal(run("eval --model '%s' --test '%s/train.data'", model, parts), 1);
    tu_expect_in(g_err, "a model trained with --split none has none");
    /* and no validation: its log says null, early stopping is refused */
    snprintf(cmd, sizeof cmd, "%s/log.json", parts);
    size_t len;
    char *log = tu_read_file(cmd, &len);
    assert_non_null(log);
    tu_expect_in(log, "\"val_mse\":null,\"train_rmse\":");
    free(log);
    assert_int_equal(run("train --data '%s/train.data' --split none --epochs 3 --early-stop 2", parts), 2);
    tu_expect_in(g_err, "--early-stop needs a split with validation ratings (split none has none)");
    /* `mfrec split --split none` would write an empty test file */
    assert_int_equal(run("split --data '%s' --split none --out '%s/none'", g_plain, parts), 2);
    tu_expect_in(g_err, "--split none has no test part");
    free(parts);
    free(model);
}

/* A warning is one line, as an error is: the path in eval's "split cannot
 * be recreated" warning (a data directory with a newline in its name) is
 * shown with \x0A. It was printed raw, its end a line of its own. */
static void test_warning_is_one_line(void **state)
{
    (void)state;
    char *dir = tu_path(g_dir, "new\nline"), cmd[8192];
    char *model = tu_path(g_dir, "nl.mfr"), *moved = tu_path(g_dir, "moved.base");
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s' && rm -f '%s'/.mfrec-cache*", dir, g_data,
             dir, dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(run("train --data '%s' --split u1 --dim 4 --epochs 1 --quiet --out '%s'", dir, model), 0);
    snprintf(cmd, sizeof cmd, "mv '%s'/u1.base '%s'", dir, moved);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(
        run("eval --model '%s' --data '%s' --test '%s'/u1.test --train '%s'", model, dir, dir, moved), 0);
    tu_expect_in(g_err, "mfrec eval: warning: the model's split u1 cannot be recreated (cannot open ");
    tu_expect_in(g_err, "new\\x0Aline/u1.base: No such file or directory); the test ratings are checked "
                        "against --train only\n");
    assert_null(strstr(g_err, "\nline/u1.base"));
    tu_rmtree(dir);
    free(dir);
    free(model);
    free(moved);
}

/* True when no line of text starts with s: a newline of a path printed
 * raw would start one with the path's tail. */
static bool no_line_starts(const char *text, const char *s)
{
    for (const char *l = text; l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (!strncmp(l, s, strlen(s))) return false;
    return true;
}

/* The reports on stdout show a path's control bytes as \xHH, as the
 * error lines do: a newline in a name cannot make a line of a report look
 * like two (or forge one of mfrec's own). */
static void test_reports_escape_paths(void **state)
{
    (void)state;
    char *dir = tu_path(g_dir, "da\nta"), cmd[8192];
    char *model = tu_path(dir, "m\nodel.mfr"), *ex = tu_path(dir, "ex\nport");
    char *syn = tu_path(g_dir, "sy\nnth"), *parts = tu_path(g_dir, "sp\nlit");
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s' && rm -f '%s'/.mfrec-cache*", dir, g_data,
             dir, dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(run("train --data '%s' --split u1 --dim 4 --epochs 1 --out '%s'", dir, model), 0);
    tu_expect_in(g_out, "da\\x0Ata (");
    tu_expect_in(g_out, "m\\x0Aodel.mfr\n");
    assert_true(no_line_starts(g_out, "ta") && no_line_starts(g_out, "odel"));
    assert_int_equal(run("eval --model '%s' --data '%s' --test '%s/u1.test'", model, dir, dir), 0);
    tu_expect_in(g_out, "m\\x0Aodel.mfr (k 4");
    tu_expect_in(g_out, "da\\x0Ata/u1.test: ");
    assert_true(no_line_starts(g_out, "ta") && no_line_starts(g_out, "odel"));
    assert_int_equal(run("eval --model '%s' --data '%s' --test '%s/u1.test' --train '%s/u1.base'", model, dir, dir,
                         dir),
                     0);
    tu_expect_in(g_out, "da\\x0Ata/u1.base, ");
    assert_true(no_line_starts(g_out, "ta"));
    /* notes on stderr too: the unregularized model's, and export's note
     * on the other format's files left in --out */
    assert_int_equal(run("recommend --model '%s' --data '%s' --user 1", model, dir), 0);
    tu_expect_in(g_err, "m\\x0Aodel.mfr is unregularized");
    assert_true(no_line_starts(g_err, "odel"));
    assert_int_equal(run("export --model '%s' --out '%s'", model, ex), 0);
    tu_expect_in(g_out, "ex\\x0Aport/U.npy");
    assert_true(no_line_starts(g_out, "port"));
    assert_int_equal(run("export --model '%s' --out '%s' --as tsv", model, ex), 0);
    tu_expect_in(g_err, "ex\\x0Aport also holds U.npy");
    assert_true(no_line_starts(g_err, "port"));
    /* a softmax run resumed from a checkpoint named with a newline */
    assert_int_equal(run("train --kind softmax --data '%s' --split u1 --dim 4 --epochs 1 --checkpoint-every 1 "
                         "--checkpoint '%s/c\nk'",
                         dir, dir),
                     0);
    assert_int_equal(run("train --resume '%s/c\nk' --epochs 2", dir), 0);
    tu_expect_in(g_out, "resumed from ");
    tu_expect_in(g_out, "da\\x0Ata/c\\x0Ak after epoch 1");
    assert_true(no_line_starts(g_out, "ta") && no_line_starts(g_out, "k after"));
    assert_int_equal(run("stats --data '%s'", dir), 0);
    tu_expect_in(g_out, "da\\x0Ata: ");
    assert_true(no_line_starts(g_out, "ta"));
    assert_int_equal(run("split --data '%s' --split random:0.2 --out '%s'", dir, parts), 0);
    tu_expect_in(g_out, "sp\\x0Alit/train.data");
    assert_true(no_line_starts(g_out, "lit"));
    assert_int_equal(run("synth --users 20 --items 10 --ratings 100 --out '%s'", syn), 0);
    tu_expect_in(g_out, "sy\\x0Anth in");
    assert_true(no_line_starts(g_out, "nth"));
    tu_rmtree(dir);
    tu_rmtree(syn);
    tu_rmtree(parts);
    free(dir);
    free(model);
    free(ex);
    free(syn);
    free(parts);
}

/* A model and a checkpoint trained on a canonical split (u1) pin its
 * files: a changed u1.base or u1.test is refused by every later use (the
 * overlap check would otherwise pass training ratings as test ratings),
 * and restoring the files makes them usable again. */
static void test_changed_split_files_refused(void **state)
{
    (void)state;
    char *dir = tu_path(g_dir, "pinned"), cmd[8192];
    snprintf(cmd, sizeof cmd,
             "rm -rf '%s' && cp -r '%s' '%s' && cd '%s' && rm -f .mfrec-cache* && "
             "awk 'NR %% 5 == 0' u.data > u1.test && awk 'NR %% 5 != 0' u.data > u1.base && "
             "cp u1.base base.orig && cp u1.test test.orig",
             dir, g_data, dir, dir);
    assert_int_equal(system(cmd), 0);
    char *model = tu_path(dir, "m.mfr"), *sm = tu_path(dir, "s.mfr"), *ck = tu_path(dir, "c.ck");
    assert_int_equal(run("train --data '%s' --split u1 --dim 4 --epochs 3 --quiet --out '%s' "
                         "--checkpoint '%s' --checkpoint-every 3",
                         dir, model, ck),
                     0);
    assert_int_equal(run("train --kind softmax --hidden none --data '%s' --split u1 --dim 4 --epochs 1 "
                         "--quiet --out '%s'",
                         dir, sm),
                     0);
    assert_int_equal(run("eval --model '%s' --test u1.test", model), 0);
    /* user 1's training ratings moved into the test file */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && awk -F'\t' '$1 == 1' base.orig >> u1.test && awk -F'\t' '$1 != 1' base.orig > u1.base",
             dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(run("eval --model '%s' --test u1.test", model), 1);
    tu_expect_in(g_err, "split u1: u1.base or u1.test is not what the model was trained with");
    assert_int_equal(run("recommend --model '%s' --user 1", model), 1);
    tu_expect_in(g_err, "is not what the model was trained with");
    assert_int_equal(run("recommend --model '%s' --user 1", sm), 1);
    tu_expect_in(g_err, "is not what the model was trained with");
    /* --train names the training ratings instead, as for a split that is gone */
    char *orig = tu_path(dir, "base.orig");
    assert_int_equal(run("eval --model '%s' --test u1.test --train '%s'", model, orig), 1);
    tu_expect_in(g_err, "warning: the model's split u1 cannot be recreated");
    tu_expect_in(g_err, "of the 620 test ratings in "); /* then the overlap with --train refused */
    free(orig);
    /* the same ratings in another line order train the same model: accepted */
    snprintf(cmd, sizeof cmd, "cd '%s' && cp test.orig u1.test && sort -r base.orig > u1.base", dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(run("recommend --model '%s' --user 1", model), 0);
    /* one rating swapped between the parts: the resume is refused */
    snprintf(cmd, sizeof cmd,
             "cd '%s' && (head -n 1 test.orig; tail -n +2 base.orig) > u1.base && "
             "(head -n 1 base.orig; tail -n +2 test.orig) > u1.test", dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(run("train --resume '%s' --epochs 4 --quiet", ck), 2);
    tu_expect_in(g_err, "split u1: u1.base or u1.test changed since the checkpoint");
    /* a truncated file: the two no longer hold every rating */
    snprintf(cmd, sizeof cmd, "cd '%s' && cp base.orig u1.base && head -n 10 test.orig > u1.test", dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(run("train --data '%s' --split u1 --epochs 1 --quiet", dir), 1);
    tu_expect_in(g_err, "u1.test hold 2400 + 10 ratings, the data 3000: a MovieLens split's two files "
                        "hold every rating once");
    assert_int_equal(run("train --resume '%s' --epochs 4 --quiet", ck), 2);
    tu_expect_in(g_err, "hold 2400 + 10 ratings, the data 3000");
    snprintf(cmd, sizeof cmd, "cd '%s' && cp test.orig u1.test", dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(run("recommend --model '%s' --user 1", model), 0);
    assert_int_equal(run("train --resume '%s' --epochs 4 --quiet", ck), 0);
    free(dir), free(model), free(sm), free(ck);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_model_table),
        cmocka_unit_test(test_json_and_train_file),
        cmocka_unit_test(test_folds),
        cmocka_unit_test(test_folds_without_ranking),
        cmocka_unit_test(test_folds_one_without_relevant_ratings),
        cmocka_unit_test(test_ease_baseline),
        cmocka_unit_test(test_softmax_folds_settings),
        cmocka_unit_test(test_ease_memory_with_model),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_runtime_errors),
        cmocka_unit_test(test_changed_split_files_refused),
        cmocka_unit_test(test_split_file_round_trip),
        cmocka_unit_test(test_warning_is_one_line),
        cmocka_unit_test(test_reports_escape_paths),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
