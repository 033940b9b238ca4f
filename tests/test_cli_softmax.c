/*
 * test_cli_softmax.c — `mfrec train --kind softmax` and the commands that
 * read its model: the same model bytes for 1 and 3 threads, eval with
 * ranking metrics equal to the training run's and no rating metrics,
 * recommend (dataset user and fold-in), similar, export; flags that do not
 * apply to a kind are refused by name.
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
#include <unistd.h>

#include <cmocka.h>

#include "mfrec.h"
#include "test_util.h"

static char *g_dir, *g_data;
static const char *g_bin;
static char *g_out, *g_err;

__attribute__((format(printf, 1, 2))) static int run(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int st = tu_run_cli(g_bin, g_dir, "OMP_NUM_THREADS=2", &g_out, &g_err, fmt, ap);
    va_end(ap);
    return st;
}

/* The training command of every model here (a format string: --data). */
#define TRAIN                                                                              \
    "train --kind softmax --data %s --split random:0.1 --epochs 6 --dim 8 --hidden 12 "    \
    "--features movies,genres,years --optimizer adam --lr 0.01 --batch-users 40 "          \
    "--log-every 3"

static int setup(void **state)
{
    (void)state;
    g_bin = getenv("MFREC_BIN");
    if (!g_bin) tu_skip_all("MFREC_BIN is not set (run through meson test)");
    g_dir = tu_mkdtemp();
    g_data = tu_path(g_dir, "data");
    return tu_synth(g_data, 150, 90, 3000, 8, NULL);
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(g_dir);
    free(g_dir), free(g_data), free(g_out), free(g_err);
    return 0;
}

static bool same_file_bytes(const char *name_a, const char *name_b);

static void train_model(const char *name, int threads, const char *kernels)
{
    int st = run(TRAIN " --threads %d --kernels %s --out %s/%s", g_data, threads, kernels, g_dir,
                 name);
    if (st != 0) fail_msg("train exited %d: %s", st, g_err);
}

static void test_train_threads_same_bytes(void **state)
{
    (void)state;
    train_model("a.mfr", 1, "auto");
    tu_expect_in(g_out, "test ranking @10");
    tu_expect_in(g_out, "epoch      3  loss");
    train_model("b.mfr", 3, "ref"); /* and the other kernel set */
    char *a = tu_path(g_dir, "a.mfr"), *b = tu_path(g_dir, "b.mfr");
    size_t la, lb;
    char *ba = tu_read_file(a, &la), *bb = tu_read_file(b, &lb);
    assert_non_null(ba);
    assert_int_equal(la, lb);
    assert_memory_equal(ba, bb, la);
    free(a), free(b), free(ba), free(bb);
    /* each set asked for by name gives the same bytes too */
    train_model("c.mfr", 2, "avx2");
    assert_true(same_file_bytes("a.mfr", "c.mfr"));
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        train_model("d.mfr", 2, "avx512");
        assert_true(same_file_bytes("a.mfr", "d.mfr"));
    }
}

static bool same_file_bytes(const char *name_a, const char *name_b)
{
    char *a = tu_path(g_dir, name_a), *b = tu_path(g_dir, name_b);
    size_t la, lb;
    char *ba = tu_read_file(a, &la), *bb = tu_read_file(b, &lb);
    assert_non_null(ba);
    assert_non_null(bb);
    const bool same = la == lb && memcmp(ba, bb, la) == 0;
    free(a), free(b), free(ba), free(bb);
    return same;
}

/* --feature-dropout: the same model bytes for 1, 2 and 3 threads and
 * other bytes than without it; said in the report; refused for --kind mf
 * (train, eval --folds), by eval --model, and outside 0 <= P < 1; a resume
 * with another value is refused naming it, and a resume without the flag
 * continues with the checkpoint's value to the uninterrupted run's model. */
static void test_feature_dropout(void **state)
{
    (void)state;
    for (int threads = 1; threads <= 3; threads++) {
        char name[32];
        snprintf(name, sizeof name, "drop%d.mfr", threads);
        if (run(TRAIN " --threads %d --feature-dropout 0.3 --out %s/%s", g_data, threads, g_dir,
                name) != 0)
            fail_msg("train exited: %s", g_err);
    }
    tu_expect_in(g_out, "feature dropout: each rated movie is out of its user's features with "
                        "probability 0.3 in each epoch");
    assert_true(same_file_bytes("drop1.mfr", "drop2.mfr"));
    assert_true(same_file_bytes("drop1.mfr", "drop3.mfr"));
    assert_int_equal(run(TRAIN " --threads 2 --feature-dropout 0 --out %s/drop0.mfr", g_data, g_dir),
                     0);
    assert_null(strstr(g_out, "feature dropout"));
    train_model("nodrop.mfr", 2, "auto");
    assert_true(same_file_bytes("drop0.mfr", "nodrop.mfr")); /* 0: off, the same bytes */
    assert_false(same_file_bytes("drop1.mfr", "nodrop.mfr"));

    assert_int_equal(run("train --data %s --feature-dropout 0.3", g_data), 2);
    tu_expect_in(g_err, "mfrec train: --feature-dropout applies to --kind softmax only");
    assert_int_equal(run("train --kind mf --data %s --feature-dropout 0.3", g_data), 2);
    tu_expect_in(g_err, "--feature-dropout applies to --kind softmax only");
    assert_int_equal(run("eval --folds --data %s --feature-dropout 0.3", g_data), 2);
    tu_expect_in(g_err, "mfrec eval: --feature-dropout applies to --kind softmax only");
    assert_int_equal(run("eval --model any.mfr --test any.data --feature-dropout 0.3"), 2);
    tu_expect_in(g_err, "mfrec eval: --feature-dropout is a softmax training flag, only used "
                        "with --folds --kind softmax");
    static const char *const bad[] = {"1", "-0.1", "nan", "abc", "1.5", "inf", "0x0.8"};
    for (size_t x = 0; x < sizeof bad / sizeof *bad; x++) {
        assert_int_equal(run("train --kind softmax --data %s --epochs 1 --feature-dropout %s",
                             g_data, bad[x]),
                         2);
        char want[96];
        snprintf(want, sizeof want, "--feature-dropout must be a number at least 0 and below 1, "
                                    "got '%s'", bad[x]);
        tu_expect_in(g_err, want);
    }
    assert_int_equal(run("train --kind softmax --help"), 0);
    tu_expect_in(g_out, "--feature-dropout P");

    char *ck = tu_path(g_dir, "drop.ck");
    assert_int_equal(run(TRAIN " --feature-dropout 0.3 --checkpoint %s --checkpoint-every 3 "
                               "--epochs 3 --quiet",
                         g_data, ck),
                     0);
    assert_int_equal(run("train --resume %s --epochs 6 --feature-dropout 0.2 --quiet", ck), 2);
    tu_expect_in(g_err, "--feature-dropout is 0.2, the checkpoint's 0.3");
    assert_int_equal(run("train --resume %s --epochs 6 --quiet --threads 3 --out %s/dropres.mfr",
                         ck, g_dir),
                     0);
    assert_true(same_file_bytes("dropres.mfr", "drop1.mfr"));
    free(ck);
}

/* eval on the split's test part gives the NDCG the training run printed. */
static void test_eval_ranking_only(void **state)
{
    (void)state;
    train_model("m.mfr", 2, "auto");
    const char *p = strstr(g_out, "test ranking @10");
    assert_non_null(p);
    const char *nd = strstr(p, "NDCG ");
    assert_non_null(nd);
    double want = atof(nd + 5);
    assert_int_equal(run("split --data %s --split random:0.1 --seed 300 --out %s/parts", g_data, g_dir), 0);
    assert_int_equal(run("eval --model %s/m.mfr --test %s/parts/test.data --json", g_dir, g_dir), 0);
    tu_expect_in(g_out, "\"mse\":null");
    const char *q = strstr(g_out, "\"model\":{");
    assert_non_null(q);
    const char *qn = strstr(q, "\"ndcg\":");
    assert_non_null(qn);
    double got = atof(qn + 7);
    assert_true(fabs(got - want) < 1e-4);
    assert_int_equal(run("eval --model %s/m.mfr --test %s/parts/test.data", g_dir, g_dir), 0);
    tu_expect_in(g_out, "predicts no ratings");
}

static void test_readers(void **state)
{
    (void)state;
    train_model("r.mfr", 2, "auto");
    assert_int_equal(run("recommend --model %s/r.mfr --user 3 --top 4", g_dir), 0);
    tu_expect_in(g_out, "rank");
    assert_int_equal(run("recommend --model %s/r.mfr --rate \"#1=5,#2=4\" --top 4", g_dir), 0);
    tu_expect_in(g_out, "rank");
    assert_int_equal(run("similar --model %s/r.mfr --movie \"#1\" --top 3", g_dir), 0);
    assert_null(strstr(g_err, "unregularized"));
    assert_int_equal(run("export --model %s/r.mfr --out %s/ex", g_dir, g_dir), 0);
    char *v = tu_path(g_dir, "ex/V.npy");
    assert_true(tu_exists(v));
    free(v);
}

/* A new user's rating values matter: only movies rated in the top quarter
 * of the scale are features, so three movies rated 1 star give the list of
 * a user with no features, and rated 5 stars another one; the value column
 * is the logit ("dot"), never a "predicted" rating; --lambda is refused. */
static void test_fold_in_ratings_matter(void **state)
{
    (void)state;
    train_model("f.mfr", 2, "auto");
    assert_int_equal(run("recommend --model %s/f.mfr --rate \"#1=1,#2=1,#3=1\" --top 5", g_dir), 0);
    tu_expect_in(g_out, "features = the 0 of 3 rated movies rated 4 or more");
    tu_expect_in(g_out, "dot (the softmax logit)");
    assert_null(strstr(g_out, "predicted"));
    char *low = strdup(strstr(g_out, "rank"));
    assert_int_equal(run("recommend --model %s/f.mfr --rate \"#1=5,#2=5,#3=5\" --top 5", g_dir), 0);
    tu_expect_in(g_out, "features = the 3 of 3 rated movies");
    const char *high = strstr(g_out, "rank");
    assert_non_null(high);
    assert_string_not_equal(low, high);
    free(low);
    assert_int_equal(run("recommend --model %s/f.mfr --rate \"#1=5,#2=1\" --top 3", g_dir), 0);
    tu_expect_in(g_out, "features = the 1 of 2");
    assert_int_equal(run("recommend --model %s/f.mfr --rate \"#1=5\" --top 3 --json", g_dir), 0);
    tu_expect_in(g_out, "\"dot\":");
    assert_null(strstr(g_out, "predicted_rating"));
    /* the JSON says which rated movies are features, as the table does (a
     * matrix factorization fold-in gives its fitted values there) */
    assert_int_equal(run("recommend --model %s/f.mfr --rate \"#1=5,#2=1\" --top 3 --json", g_dir), 0);
    tu_expect_in(g_out, ",\"fold_in\":{\"feature_min_rating\":4,\"features\":1,\"ratings\":["
                        "{\"movie\":1,\"rating\":5,\"feature\":true},"
                        "{\"movie\":2,\"rating\":1,\"feature\":false}]}");
    /* a user of the dataset's table says what its dot column is, as a new
     * user's header does */
    assert_int_equal(run("recommend --model %s/f.mfr --user 3 --top 3", g_dir), 0);
    tu_expect_in(g_out, "dot: the softmax model's logit, a ranking score, not a rating\n");
    assert_int_equal(run("recommend --model %s/f.mfr --user 3 --top 3 --csv", g_dir), 0);
    tu_expect_in(g_out, ",dot,");
    assert_int_equal(run("recommend --model %s/f.mfr --rate \"#1=5\" --lambda 0.5", g_dir), 2);
    tu_expect_in(g_err, "--lambda");
}

static void test_refusals(void **state)
{
    (void)state;
    assert_int_equal(run("train --kind softmax --data %s --l2 0.1", g_data), 2);
    tu_expect_in(g_err, "--l2 does not apply to --kind softmax");
    assert_int_equal(run("train --kind softmax --data %s --preset ndcg", g_data), 2);
    tu_expect_in(g_err, "--preset ndcg does not apply to --kind softmax");
    /* -k is --top only where --top is a list's length (eval --folds), not
     * in training, where it would read as the dimension */
    assert_int_equal(run("train --kind softmax --data %s -k 5 --epochs 1", g_data), 2);
    tu_expect_in(g_err, "unknown option -k");
    assert_int_equal(run("train --data %s --hidden 8", g_data), 2);
    tu_expect_in(g_err, "--hidden applies to --kind softmax only");
    assert_int_equal(run("train --kind other --data %s", g_data), 2);
    tu_expect_in(g_err, "expected mf or softmax");
    /* repeated --kind: the last one wins, as for every flag */
    assert_int_equal(run("train --kind softmax --kind mf --data %s --epochs 1 --dim 3", g_data), 0);
    tu_expect_in(g_out, "train MSE");
    assert_int_equal(run("train --kind mf --kind softmax --data %s --epochs 1 --quiet", g_data), 0);
    tu_expect_in(g_out, "checksum");
    assert_int_equal(run("train --kind softmax --data %s --hidden 8,,3", g_data), 2);
    tu_expect_in(g_err, "--hidden");
    assert_int_equal(run("train --kind softmax --data %s --features genres", g_data), 2);
    tu_expect_in(g_err, "must include movies");
    assert_int_equal(run("train --kind softmax --data %s --hidden-init xavier", g_data), 2);
    tu_expect_in(g_err, "colab or he");
    assert_int_equal(run("train --data %s --tie", g_data), 2);
    tu_expect_in(g_err, "--tie applies to --kind softmax only");
    assert_int_equal(run("train --data %s --hidden-init he", g_data), 2);
    tu_expect_in(g_err, "--hidden-init applies to --kind softmax only");
    /* MF's stopping and evaluation flags are named, not "unknown" */
    assert_int_equal(run("train --kind softmax --data %s --target-rmse 1", g_data), 2);
    tu_expect_in(g_err, "--target-rmse does not apply to --kind softmax");
    assert_int_equal(run("train --kind softmax --data %s --no-train-eval", g_data), 2);
    tu_expect_in(g_err, "--no-train-eval does not apply to --kind softmax");
    assert_int_equal(run("train --kind softmax --data %s --tie --dim 8 --dim-movie 4", g_data), 2);
    tu_expect_in(g_err, "--tie needs --dim-movie equal to --dim");
    assert_int_equal(run("train --kind softmax --data %s --tie --dim 8 --epochs 1 --quiet", g_data),
                     0); /* --dim-movie follows --dim */
    assert_int_equal(run("train --kind softmax --data %s --optimizer sgd", g_data), 2);
    tu_expect_in(g_err, "adagrad or adam");
    /* flags that would change nothing but the recorded configuration */
    assert_int_equal(run("train --kind softmax --data %s --epochs 1 --shards 4", g_data), 2);
    tu_expect_in(g_err, "--shards does not apply to --kind softmax");
    assert_int_equal(run("eval --model x.bin --test u1.test --kind softmax --data %s", g_data), 2);
    tu_expect_in(g_err, "--kind is a training flag, only used with --folds");
    assert_int_equal(run("train --kind softmax --data %s --epochs 1 --checkpoint-every 5", g_data), 2);
    tu_expect_in(g_err, "--checkpoint-every needs --checkpoint FILE");
    assert_int_equal(run("train --kind softmax --data %s --epochs 1 --dim-genre 9", g_data), 2);
    tu_expect_in(g_err, "--dim-genre sizes the genre table: it needs genres in --features");
    assert_int_equal(run("train --kind softmax --data %s --epochs 1 --features movies,genres --dim-year 7", g_data),
                     2);
    tu_expect_in(g_err, "--dim-year sizes the year table: it needs years in --features");
    assert_int_equal(run("train --kind softmax --data %s --epochs 1 --features movies,genres,years --dim-genre 9 "
                         "--dim-year 7 --quiet",
                         g_data),
                     0);
    assert_int_equal(run("train --kind mf --data %s --epochs 1 --quiet", g_data), 0);
}

/* --min-label-rating's refusals; training data that leaves no examples, or
 * features no movie has, is refused rather than trained. */
static void test_min_label_rating_and_no_examples(void **state)
{
    (void)state;
    /* --min-label-rating: softmax only, a number, one some rating reaches */
    assert_int_equal(run("train --data %s --min-label-rating 4", g_data), 2);
    tu_expect_in(g_err, "--min-label-rating applies to --kind softmax only");
    assert_int_equal(run("train --kind softmax --data %s --epochs 1 --min-label-rating -1", g_data), 2);
    tu_expect_in(g_err, "--min-label-rating");
    assert_int_equal(run("train --kind softmax --data %s --epochs 1 --min-label-rating 6", g_data), 1);
    tu_expect_in(g_err, "--min-label-rating) 6 leaves no examples");
    /* one rating a user: no examples at all, refused rather than saved
     * as the random start with exit 0 */
    char *one = tu_path(g_dir, "one_each.csv"), *one_model = tu_path(g_dir, "one_each.bin");
    FILE *f = fopen(one, "w");
    assert_non_null(f);
    for (int u = 1; u <= 30; u++) fprintf(f, "%d,%d,%d\n", u, 1 + u % 7, 1 + u % 5);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(run("train --kind softmax --data %s --format delimited --epochs 3 --out %s", one, one_model), 1);
    tu_expect_in(g_err, "no examples: no user has two rated movies");
    assert_false(tu_exists(one_model));
    /* genres or years of a rating file without a movies file: refused,
     * not trained as one constant "none" entry */
    f = fopen(one, "w");
    assert_non_null(f);
    for (int u = 1; u <= 30; u++) fprintf(f, "%d,%d,%d\n%d,%d,%d\n", u, 1 + u % 7, 1 + u % 5, u, 8 + u % 3, 4);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(run("train --kind softmax --data %s --format delimited --epochs 1 --quiet --out %s", one, one_model), 0);
    remove(one_model);
    assert_int_equal(run("train --kind softmax --data %s --format delimited --features movies,genres --epochs 1 --out %s",
                         one, one_model),
                     1);
    tu_expect_in(g_err, "softmax features: genres, but no movie of");
    assert_int_equal(run("train --kind softmax --data %s --format delimited --features movies,years --epochs 1 --out %s",
                         one, one_model),
                     1);
    tu_expect_in(g_err, "softmax features: years, but no movie of");
    assert_false(tu_exists(one_model));
    free(one);
    free(one_model);
}

/* --min-label-rating and --negatives: reported by train, compared on
 * --resume. */
static void test_label_flags_resume(void **state)
{
    (void)state;
    /* -0 is 0: a run trained with it resumes with 0 (and the reverse) */
    char *ck = tu_path(g_dir, "zero.ck");
    assert_int_equal(run("train --kind softmax --data %s --epochs 1 --min-label-rating -0 --quiet "
                         "--checkpoint %s --checkpoint-every 1",
                         g_data, ck),
                     0);
    assert_int_equal(run("train --resume %s --epochs 2 --min-label-rating 0 --quiet", ck), 0);
    free(ck);
    assert_int_equal(run("train --kind softmax --data %s --epochs 1 --min-label-rating 4", g_data), 0);
    tu_expect_in(g_out, "labels: the movies each user rated 4 or more");
    assert_null(strstr(g_out, "negatives:"));
    /* --negatives: softmax only, one of two words, said in the report,
     * compared on --resume */
    assert_int_equal(run("train --data %s --negatives unrated", g_data), 2);
    tu_expect_in(g_err, "--negatives applies to --kind softmax only");
    assert_int_equal(run("train --kind softmax --data %s --epochs 1 --negatives rated", g_data), 2);
    tu_expect_in(g_err, "--negatives: expected all or unrated, got 'rated'");
    ck = tu_path(g_dir, "neg.ck");
    assert_int_equal(run("train --kind softmax --data %s --epochs 1 --negatives unrated "
                         "--checkpoint %s --checkpoint-every 1",
                         g_data, ck),
                     0);
    tu_expect_in(g_out, "negatives: the movies each user did not rate");
    assert_int_equal(run("train --resume %s --epochs 2 --negatives all --quiet", ck), 2);
    tu_expect_in(g_err, "--negatives is all, the checkpoint's unrated");
    assert_int_equal(run("train --resume %s --epochs 2 --quiet", ck), 0);
    free(ck);
}

/* eval names the softmax training flags it does not take. */
static void test_eval_refuses_softmax_flags(void **state)
{
    (void)state;
    /* eval refuses them by name too, without --kind softmax (not "unknown option") */
    assert_int_equal(run("eval --folds --data %s --negatives unrated", g_data), 2);
    tu_expect_in(g_err, "mfrec eval: --negatives applies to --kind softmax only");
    assert_int_equal(run("eval --folds --data %s --min-label-rating 4", g_data), 2);
    tu_expect_in(g_err, "mfrec eval: --min-label-rating applies to --kind softmax only");
    assert_int_equal(run("eval --model any.mfr --test any.data --negatives unrated"), 2);
    tu_expect_in(g_err, "mfrec eval: --negatives is a softmax training flag, only used with --folds "
                        "--kind softmax");
    assert_int_equal(run("eval --help --hidden 3"), 0); /* the help, not a refusal */
    assert_int_equal(run("eval --kind softmax --data %s", g_data), 2);
    tu_expect_in(g_err, "--kind is a training flag, only used with --folds (a saved model records its kind)");
    assert_int_equal(run("eval --folds --kind softmax --data %s --l2 1", g_data), 2);
    tu_expect_in(g_err, "--l2 does not apply to --kind softmax");
}

/* A diverging softmax run fails with one message and saves no model. */
static void test_diverging_run(void **state)
{
    (void)state;
    /* a diverging run: one message, with one prefix, naming the epoch; no model */
    char *model = tu_path(g_dir, "diverged.bin");
    assert_int_equal(run("train --kind softmax --data %s --epochs 3 --optimizer adam --lr 1e6 --hidden 35,35,35,35 "
                         "--quiet --out %s",
                         g_data, model),
                     1);
    tu_expect_in(g_err, "mfrec train: error: epoch ");
    tu_expect_in(g_err, ": softmax step ");
    tu_expect_in(g_err, "the loss is not finite (lower --lr)");
    assert_null(strstr(strstr(g_err, "mfrec train:") + 1, "mfrec train:"));
    assert_int_equal(access(model, F_OK), -1);
    free(model);
}

/* --preset softmax implies --kind softmax, and its values are those flags:
 * the same model bytes as spelling them out. */
static void test_preset(void **state)
{
    (void)state;
    assert_int_equal(run("train --preset softmax --data %s --split random:0.1 --epochs 3 "
                         "--quiet --out %s/p1.mfr", g_data, g_dir), 0);
    assert_int_equal(run("train --kind softmax --optimizer adam --lr 0.003 --batch-users 16 "
                         "--hidden-init he --all-pairs --hidden none --weight-decay 0.1 "
                         "--min-label-rating 4 --negatives unrated --feature-dropout 0.3 --data %s --split random:0.1 --epochs 3 "
                         "--quiet "
                         "--out %s/p2.mfr",
                         g_data, g_dir), 0);
    char *a = tu_path(g_dir, "p1.mfr"), *b = tu_path(g_dir, "p2.mfr");
    size_t la, lb;
    char *ba = tu_read_file(a, &la), *bb = tu_read_file(b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(ba, bb, la);
    free(a), free(b), free(ba), free(bb);
}

/* --log-json's epoch records hold the test metrics at the logged epochs
 * (1, 3, 6) only, and the last NDCG is the final line's; --plot draws the two charts (or, without gnuplot,
 * fails before training naming it); outputs that clash are refused before
 * any training. */
static void test_logs_and_plots(void **state)
{
    (void)state;
    int gnuplot = system("command -v gnuplot >/dev/null 2>&1") == 0;
    int st = run(TRAIN " --out %s/l.mfr --log-json %s/l.jsonl --plot %s/charts", g_data, g_dir,
                 g_dir, g_dir);
    if (!gnuplot) {
        assert_int_equal(st, 1);
        tu_expect_in(g_err, "gnuplot");
        printf("gnuplot is not on PATH: checked the error instead of the pictures\n");
        assert_int_equal(run(TRAIN " --log-json %s/l.jsonl", g_data, g_dir), 0);
    } else {
        if (st != 0) fail_msg("train exited %d: %s", st, g_err);
        const char *const charts[] = {"softmax_loss.png", "softmax_loss.svg",
                                      "softmax_ranking.png", "softmax_ranking.svg"};
        for (size_t c = 0; c < 4; c++) {
            char name[64];
            snprintf(name, sizeof name, "charts/%s", charts[c]);
            char *p = tu_path(g_dir, name);
            if (!tu_exists(p)) fail_msg("%s is missing", name);
            free(p);
        }
    }
    char *path = tu_path(g_dir, "l.jsonl");
    char *log = tu_read_file(path, NULL);
    assert_non_null(log);
    int logged = 0; /* epoch records with the test metrics */
    for (const char *p = log; (p = strstr(p, ",\"top\":10,")); p++) logged++;
    assert_int_equal(logged, 3);
    const char *e1 = strstr(log, "{\"epoch\":1,\"loss\":"), *e3 = strstr(log, "{\"epoch\":3,\"loss\":");
    assert_non_null(e1);
    assert_non_null(e3);
    assert_true(strstr(e1, "\"test_ndcg\":") < strchr(e1, '\n'));
    assert_true(strstr(e3, "\"test_ndcg\":") < strchr(e3, '\n'));
    const char *e2 = strstr(log, "{\"epoch\":2,\"loss\":"); /* not logged: no metrics */
    assert_non_null(e2);
    assert_true(strstr(e2, "\"test_ndcg\":") > strchr(e2, '\n'));
    const char *last = strstr(log, "{\"epoch\":6,\"loss\":");
    assert_non_null(last);
    const char *nd = strstr(last, "\"test_ndcg\":");
    assert_non_null(nd);
    const char *fin = strstr(g_out, "test ranking @10");
    assert_non_null(fin);
    assert_true(fabs(atof(nd + 12) - atof(strstr(fin, "NDCG ") + 5)) < 1e-4);
    free(log);
    free(path);
    /* no test rating of 4 or more (every rating cut to 3): the logged
     * metrics are null, and the file is still JSON */
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "rm -rf %s/low && cp -r %s %s/low && rm -rf %s/low/.mfrec-cache && "
             "awk 'BEGIN{OFS=\"\\t\"} {if ($3 > 3) $3 = 3; print}' %s/u.data > %s/low/u.data",
             g_dir, g_data, g_dir, g_dir, g_data, g_dir);
    assert_int_equal(system(cmd), 0);
    char *low = tu_path(g_dir, "low");
    assert_int_equal(run(TRAIN " --quiet --log-json %s/low.jsonl", low, g_dir), 0);
    path = tu_path(g_dir, "low.jsonl");
    log = tu_read_file(path, NULL);
    assert_true(tu_expect_json_lines(log) > 0);
    tu_expect_in(log, "\"test_ndcg\":null");
    assert_null(strstr(log, "nan"));
    free(log), free(path), free(low);
    /* --log-every 0, as matrix factorization's: the first and the last
     * epoch logged and drawn (it used to log none, and --plot then failed
     * after the model was saved) */
    if (gnuplot) {
        assert_int_equal(run(TRAIN " --log-every 0 --out %s/z.mfr --plot %s/zero", g_data, g_dir, g_dir), 0);
        tu_expect_in(g_out, "epoch      1  loss");
        tu_expect_in(g_out, "epoch      6  loss");
        assert_null(strstr(g_out, "epoch      3  loss"));
        char *dat = tu_path(g_dir, "zero/softmax_loss.dat"), *gp = tu_path(g_dir, "zero/softmax_loss.gp");
        char *text = tu_read_file(dat, NULL), *script = tu_read_file(gp, NULL);
        assert_non_null(text);
        int rows = 0;
        for (const char *q = text; *q; q++) rows += *q == '\n' && q[1] && q[1] != '#' && q[1] != '\n';
        assert_int_equal(rows, 2);
        /* the title names the model as matrix factorization's charts do */
        tu_expect_in(script, "z.mfr (");
        tu_expect_in(script, "k 8, 6 epochs");
        free(dat), free(gp), free(text), free(script);
    }
    /* clashing outputs: nothing trained, nothing written */
    assert_int_equal(run(TRAIN " --out %s/same --log-json %s/same", g_data, g_dir, g_dir), 2);
    tu_expect_in(g_err, "--log-json");
    assert_int_equal(run(TRAIN " --checkpoint %s/u.data", g_data, g_data), 1);
    tu_expect_in(g_err, "one of this run's inputs");
    tu_expect_in(g_err, "--checkpoint");
    assert_null(strstr(g_out, "epoch"));
    char *same = tu_path(g_dir, "same");
    assert_false(tu_exists(same));
    free(same);
}

/* --log-json: every optimizer step's record (numbered on across epochs,
 * each epoch visiting every group once), then the epoch's record whose
 * loss is the example-weighted mean of its steps'. */
/* A softmax model (and its checkpoint) trained from a rating file records
 * the file, so that every command and a resume find the data without
 * --data, as a matrix-factorization model does. */
static void test_rating_file_recorded(void **state)
{
    (void)state;
    char *dir = tu_path(g_dir, "colon"), cmd[4096];
    char *file = tu_colon_ratings(dir, g_data), *model = tu_path(dir, "s.mfr"), *ck = tu_path(dir, "s.ck");
    assert_int_equal(run("train --kind softmax --hidden none --data '%s' --format delimited:colon:header "
                         "--split random:0.2 --dim 4 --epochs 2 --out '%s' --checkpoint '%s' "
                         "--checkpoint-every 1 --quiet",
                         file, model, ck),
                     0);
    assert_int_equal(run("recommend --model '%s' --user 1 -k 3", model), 0);
    assert_int_equal(run("similar --model '%s' --movie '#1' -k 3", model), 0);
    assert_int_equal(run("export --model '%s' --out '%s/ex'", model, dir), 0);
    assert_int_equal(run("train --resume '%s' --epochs 3 --quiet", ck), 0);
    snprintf(cmd, sizeof cmd, "mv '%s' '%s.moved'", file, file);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(run("recommend --model '%s' --user 1", model), 1);
    tu_expect_in(g_err, "r.txt"); /* the file, not only its directory */
    free(dir), free(file), free(model), free(ck);
}

static void test_log_json(void **state)
{
    (void)state;
    assert_int_equal(run(TRAIN " --epochs 2 --quiet --log-json %s/log.jsonl", g_data, g_dir), 0);
    char *path = tu_path(g_dir, "log.jsonl");
    char *text = tu_read_file(path, NULL);
    assert_int_equal(tu_expect_json_lines(text), 10); /* 2 x (4 groups of 40 users + epoch) */
    struct tu_step st[16];
    assert_int_equal(tu_read_steps(path, 16, st), 8);
    for (int e = 0; e < 2; e++) {
        int seen = 0;
        double sum = 0;
        long n = 0;
        for (int x = 4 * e; x < 4 * e + 4; x++) {
            assert_int_equal(st[x].step, x + 1);
            assert_int_equal(st[x].epoch, e + 1);
            seen |= 1 << st[x].group;
            sum += st[x].loss * (double)st[x].examples;
            n += st[x].examples;
        }
        assert_int_equal(seen, 15);
        char key[32];
        snprintf(key, sizeof key, "{\"epoch\":%d,\"loss\":", e + 1);
        const char *rec = strstr(text, key);
        assert_non_null(rec);
        assert_true(fabs(atof(rec + strlen(key)) - sum / (double)n) < 1e-12);
        assert_non_null(strstr(rec, "\"epoch_s\":"));
    }
    free(text);
    free(path);
    assert_int_equal(run(TRAIN " --epochs 1 --quiet --out %s/same --log-json %s/same", g_data,
                         g_dir, g_dir), 2);
    tu_expect_in(g_err, "--log-json");
}

/* Data whose every rating is 1 has no relevant test movie: the ranking
 * is "n/a", never "nan"; a run without --out says the model is discarded. */
static void test_no_relevant_movie(void **state)
{
    (void)state;
    char *dir = tu_path(g_dir, "ones");
    char line[64], *text = NULL;
    size_t len = 0;
    for (int u = 1; u <= 30; u++)
        for (int i = 1; i <= 20; i++) {
            if ((u * 7 + i * 3) % 5 >= 3) continue;
            int n = snprintf(line, sizeof line, "%d\t%d\t1\t881250%03d\n", u, i, i);
            text = realloc(text, len + (size_t)n + 1);
            assert_non_null(text);
            memcpy(text + len, line, (size_t)n + 1);
            len += (size_t)n;
        }
    assert_int_equal(mkdir(dir, 0755), 0);
    tu_write_file(dir, "u.data", text, len);
    free(text);
    assert_int_equal(run("train --kind softmax --data %s --epochs 3 --log-every 1", dir), 0);
    tu_expect_in(g_out, "test P@10 n/a  NDCG@10 n/a");
    tu_expect_in(g_out, "test ranking @10: n/a (no test user has a relevant movie");
    tu_expect_in(g_out, "not saved: the model is discarded");
    assert_null(strstr(g_out, "nan"));
    /* --quiet still says where the model went, as matrix factorization's does */
    assert_int_equal(run("train --kind softmax --data %s --epochs 1 --quiet --out %s/ones.mfr", dir, dir), 0);
    tu_expect_in(g_out, ", saved to ");
    tu_expect_in(g_out, "/ones.mfr\n");
    /* the loss is charted; the ranking chart, with nothing in it, is not */
    char *plot = tu_path(g_dir, "ones-plot");
    assert_int_equal(run("train --kind softmax --data %s --epochs 3 --log-every 1 --plot %s", dir,
                         plot), 0);
    tu_expect_in(g_err, "no softmax_ranking chart");
    char *loss = tu_path(plot, "softmax_loss.dat"), *rank = tu_path(plot, "softmax_ranking.dat");
    assert_true(tu_exists(loss));
    assert_false(tu_exists(rank));
    free(loss), free(rank), free(plot);
    /* the folds' table says n/a too */
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cd '%s' && for f in 1 2 3 4 5; do awk -v f=$f 'NR %% 5 == f - 1' u.data > u$f.test && "
             "awk -v f=$f 'NR %% 5 != f - 1' u.data > u$f.base || exit 1; done", dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(run("eval --folds --kind softmax --data %s --epochs 1 --threads 1", dir), 0);
    tu_expect_in(g_out, "\nmean        n/a       n/a       n/a       n/a       n/a       n/a\n");
    assert_null(strstr(g_out, "nan"));
    /* a rating file alone has the scale of its ratings, here 1..1: a new
     * user's every rated movie is a feature, said so, never "rated -inf
     * or more (the top quarter of the 1..1 scale)" */
    snprintf(cmd, sizeof cmd, "cd '%s' && awk '{print $1 \",\" $2 \",\" $3}' u.data > ones.csv", dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(run("train --kind softmax --data %s/ones.csv --epochs 1 --quiet --out %s/ones-csv.mfr", dir,
                         g_dir), 0);
    assert_int_equal(run("recommend --model %s/ones-csv.mfr --rate \"#1=1,#2=1\" --top 3", g_dir), 0);
    tu_expect_in(g_out, "features = every rated movie, 2 (the data's ratings have one value");
    assert_null(strstr(g_out, "inf"));
    free(dir);
}

/* --max-memory: a budget below the run's estimate is refused before
 * training, naming the need, with nothing written; one above it trains
 * the same model as no budget (it describes the machine), and the run
 * reports its estimated peak (eval --folds: test_cli_eval). */
static void test_max_memory(void **state)
{
    (void)state;
    assert_int_equal(run(TRAIN " --threads 1 --max-memory 1M --out %s/mm.mfr --log-json %s/mm.json",
                         g_data, g_dir, g_dir), 1);
    tu_expect_in(g_err, "softmax training needs ");
    tu_expect_in(g_err, "more than the memory budget of 1.0 MiB (max_memory, --max-memory)");
    char *out = tu_path(g_dir, "mm.mfr"), *log = tu_path(g_dir, "mm.json");
    assert_false(tu_exists(out));
    assert_false(tu_exists(log));
    assert_int_equal(run(TRAIN " --threads 1 --max-memory 8G --out %s/mm.mfr", g_data, g_dir), 0);
    tu_expect_in(g_out, "estimated peak ");
    const char *peak = strstr(g_out, "estimated peak ");
    assert_true(atof(peak + strlen("estimated peak ")) > 32.0); /* MiB: the process at least */
    train_model("nomm.mfr", 1, "auto");
    char *nomm = tu_path(g_dir, "nomm.mfr");
    size_t la, lb;
    char *a = tu_read_file(out, &la), *b = tu_read_file(nomm, &lb);
    assert_non_null(a);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    free(a), free(b), free(nomm), free(out), free(log);
    /* a malformed size names the flag */
    assert_int_equal(run(TRAIN " --max-memory lots", g_data), 2);
    tu_expect_in(g_err, "--max-memory must be a size such as 512M or 4G, got 'lots'");
}

/* A model save that fails after the training (rename(2) refused, as for
 * a file bind-mounted over the target; a full disk is the same) ends the
 * run with exit 1, and the report does not say "saved to" the file: it
 * printed the checksum line before the save, so the output claimed a
 * model that was never written. */
static void test_failed_save_is_not_reported_saved(void **state)
{
    (void)state;
    const char *lib = getenv("MFREC_FAULT_RENAME_LIB");
    if (!lib) skip();
    char env[4096];
    snprintf(env, sizeof env,
             "ASAN_OPTIONS=\"${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0\" OMP_NUM_THREADS=2 "
             "LD_PRELOAD='%s' MFREC_FAULT_RENAME_TO='failed.mfr'",
             lib);
    char *out = tu_path(g_dir, "failed.mfr");
    unlink(out);
    const char *kinds[] = {"softmax", "mf"};
    for (int k = 0; k < 2; k++) {
        int st = tu_run_clif(g_bin, g_dir, env, &g_out, &g_err,
                             "train --kind %s --data '%s' --epochs 2 --quiet --out '%s'", kinds[k], g_data, out);
        assert_int_equal(st, 1);
        tu_expect_in(g_err, "failed.mfr");
        tu_expect_in(g_err, "Device or resource busy");
        assert_null(strstr(g_out, "saved to"));
        assert_false(tu_exists(out));
    }
    free(out);
}

/* The text of a file the test's --plot wrote, under g_dir. */
static char *plot_data(const char *name)
{
    char *path = tu_path(g_dir, name);
    char *text = tu_read_file(path, NULL);
    if (!text) fail_msg("%s was not written", path);
    free(path);
    return text;
}

/* A resume with another --top than the checkpoint's run: the ranking
 * chart's series are "precision@5" and "NDCG@5", so the epochs the
 * checkpoint's log measured at k 10 are gaps in it (their losses stay in
 * the loss chart), with a note; before, their P@10 and NDCG@10 were drawn
 * as P@5 and NDCG@5. A resume with nothing left to train draws its final
 * ranking as the last epoch's point. */
static void test_resume_plot_other_top(void **state)
{
    (void)state;
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        printf("gnuplot is not on PATH: nothing to draw\n");
        return;
    }
    char *ck = tu_path(g_dir, "topck");
    assert_int_equal(run(TRAIN " --epochs 3 --checkpoint %s --checkpoint-every 3 --quiet", g_data, ck), 0);
    int st = run("train --resume %s --epochs 6 --top 5 --plot %s/topplot --quiet", ck, g_dir);
    if (st != 0) fail_msg("resume exited %d: %s", st, g_err);
    tu_expect_in(g_err, "leaves out the checkpoint's logged epochs 1..3, measured at another k than --top 5");
    char *text = plot_data("topplot/softmax_ranking.dat");
    tu_expect_in(text, "precision@5");
    tu_expect_in(text, "\n1 NaN NaN\n3 NaN NaN\n6 ");
    free(text);
    text = plot_data("topplot/softmax_loss.dat");
    assert_null(strstr(text, "NaN"));
    free(text);
    /* the checkpoint (now of epoch 6, logged at k 5) resumed at --top 10
     * to epoch 9 (a checkpoint there): epochs 1 and 3 drawn again, 6 a gap */
    assert_int_equal(run("train --resume %s --epochs 9 --plot %s/topplot2 --quiet", ck, g_dir), 0);
    tu_expect_in(g_err, "leaves out the checkpoint's logged epoch 6, measured at another k than --top 10");
    text = plot_data("topplot2/softmax_ranking.dat");
    tu_expect_in(text, "precision@10");
    tu_expect_in(text, "\n6 NaN NaN\n9 ");
    assert_null(strstr(text, "\n1 NaN"));
    free(text);
    /* nothing left to train, the last epoch (9) logged at k 10, --top 5:
     * the final ranking at k 5 is that epoch's point (it failed with
     * "nothing to draw" when every point was a gap) */
    assert_int_equal(run("train --resume %s --top 5 --plot %s/topplot3 --quiet", ck, g_dir), 0);
    tu_expect_in(g_err, "leaves out the checkpoint's logged epochs 1..3, measured at another k than --top 5");
    text = plot_data("topplot3/softmax_ranking.dat");
    tu_expect_in(text, "\n3 NaN NaN\n6 ");
    assert_null(strstr(text, "\n9 NaN"));
    tu_expect_in(text, "\n9 ");
    free(text);
    /* resumed at --top 5 past epoch 9: 1 and 3 left out, 6 (k 5) drawn, 9
     * left out; the note said "epochs 1..9", 6 among them */
    assert_int_equal(run("train --resume %s --epochs 12 --top 5 --plot %s/topplot4 --quiet", ck, g_dir), 0);
    tu_expect_in(g_err, "leaves out the checkpoint's logged epochs 1..3, 9, measured at another k than --top 5");
    text = plot_data("topplot4/softmax_ranking.dat");
    tu_expect_in(text, "\n3 NaN NaN\n6 ");
    tu_expect_in(text, "\n9 NaN NaN\n");
    free(text), free(ck);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_threads_same_bytes),
        cmocka_unit_test(test_eval_ranking_only),
        cmocka_unit_test(test_readers),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_min_label_rating_and_no_examples),
        cmocka_unit_test(test_label_flags_resume),
        cmocka_unit_test(test_eval_refuses_softmax_flags),
        cmocka_unit_test(test_diverging_run),
        cmocka_unit_test(test_feature_dropout),
        cmocka_unit_test(test_fold_in_ratings_matter),
        cmocka_unit_test(test_preset),
        cmocka_unit_test(test_logs_and_plots),
        cmocka_unit_test(test_resume_plot_other_top),
        cmocka_unit_test(test_log_json),
        cmocka_unit_test(test_rating_file_recorded),
        cmocka_unit_test(test_no_relevant_movie),
        cmocka_unit_test(test_max_memory),
        cmocka_unit_test(test_failed_save_is_not_reported_saved),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
