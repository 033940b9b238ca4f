/*
 * test_split.c — the Mersenne Twister and NumPy legacy permutation against
 * golden values from NumPy itself, and mfr_split_create for every kind of
 * spec (sklearn, canonical files, random) and for bad specs, on tiny
 * datasets written into a temporary directory.
 *
 * Golden values: the reference MT19937 outputs for seed 5489 (mt19937ar.c,
 * and C++'s std::mt19937 10000th-output requirement), NumPy's
 * RandomState(SEED).permutation(n) for small n (inlined below) and for
 * seed 300, n = 100000 (tests/data/sklearn_perm_300_100000.txt).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dataset_priv.h"
#include "mfrec.h"
#include "mt19937_priv.h"
#include "rng_priv.h"
#include "test_util.h"

/* ------------------------------------------------------------------ */
/* MT19937 and the permutation                                          */
/* ------------------------------------------------------------------ */

static void test_mt19937_reference_outputs(void **state)
{
    (void)state;
    static const uint32_t first[] = {3499211612u, 581869302u, 3890346734u, 3586334585u,
                                     545404204u};
    struct mfr_mt19937 mt;
    mfr_mt19937_seed(&mt, 5489);
    for (size_t k = 0; k < sizeof first / sizeof *first; k++)
        assert_int_equal(mfr_mt19937_next32(&mt), first[k]);
    /* std::mt19937: the 10000th output of the default seed is 4123659995. */
    mfr_mt19937_seed(&mt, 5489);
    uint32_t v = 0;
    for (int k = 0; k < 10000; k++) v = mfr_mt19937_next32(&mt);
    assert_int_equal(v, 4123659995u);
    /* next64 is two next32 words, the first one high. */
    mfr_mt19937_seed(&mt, 5489);
    assert_true(mfr_mt19937_next64(&mt) ==
                ((uint64_t)3499211612u << 32 | (uint64_t)581869302u));
}

static void test_mt19937_interval(void **state)
{
    (void)state;
    struct mfr_mt19937 mt;
    mfr_mt19937_seed(&mt, 1);
    assert_true(mfr_mt19937_interval(&mt, 0) == 0);
    for (uint64_t max = 1; max < 300; max += 7)
        for (int k = 0; k < 50; k++) assert_true(mfr_mt19937_interval(&mt, max) <= max);
    uint64_t big = UINT64_C(0x1ffffffff);
    for (int k = 0; k < 50; k++) assert_true(mfr_mt19937_interval(&mt, big) <= big);
}

static void check_perm(uint32_t seed, const int64_t *want, int64_t n)
{
    int64_t got[16];
    assert_true(n <= 16);
    mfr_mt19937_permutation(seed, got, n);
    for (int64_t k = 0; k < n; k++) assert_int_equal(got[k], want[k]);
}

static void test_permutation_small_golden(void **state)
{
    (void)state;
    /* np.random.RandomState(SEED).permutation(n), NumPy 1.24.2. */
    static const int64_t p300[] = {0, 3, 7, 4, 8, 6, 2, 5, 9, 1};
    static const int64_t p7[] = {8, 5, 0, 2, 1, 9, 7, 3, 6, 4};
    static const int64_t pmax[] = {11, 8, 5, 9, 1, 10, 6, 0, 4, 7, 2, 3};
    static const int64_t p0[] = {0};
    check_perm(300, p300, 10);
    check_perm(7, p7, 10);
    check_perm(4294967295u, pmax, 12);
    check_perm(0, p0, 1);
    mfr_mt19937_permutation(0, NULL, 0);
}

/* The permutation draws its words in blocks and rejects without a branch;
 * it must still be NumPy's loop: perm = 0..n-1, then for i = n-1 down to 1
 * swap with interval(i), one word at a time. Sizes cross the 624-word
 * blocks, the 256-partner blocks and the masks' powers of two. */
static void test_permutation_matches_interval_loop(void **state)
{
    (void)state;
    static const uint32_t seeds[] = {0, 1, 300, 4294967295u};
    static const int64_t sizes[] = {2, 3, 257, 624, 625, 1025, 4097, 70001};
    int64_t *got = malloc(70001 * sizeof *got), *want = malloc(70001 * sizeof *want);
    uint32_t *got32 = malloc(70001 * sizeof *got32);
    assert_non_null(got);
    assert_non_null(want);
    assert_non_null(got32);
    for (size_t a = 0; a < sizeof seeds / sizeof *seeds; a++)
        for (size_t b = 0; b < sizeof sizes / sizeof *sizes; b++) {
            const int64_t n = sizes[b];
            struct mfr_mt19937 mt;
            mfr_mt19937_seed(&mt, seeds[a]);
            for (int64_t i = 0; i < n; i++) want[i] = i;
            for (int64_t i = n - 1; i >= 1; i--) {
                const int64_t j = (int64_t)mfr_mt19937_interval(&mt, (uint64_t)i), t = want[i];
                want[i] = want[j], want[j] = t;
            }
            mfr_mt19937_permutation(seeds[a], got, n);
            mfr_mt19937_permutation32(seeds[a], got32, n);
            for (int64_t i = 0; i < n; i++) {
                assert_int_equal(got[i], want[i]);
                assert_int_equal(got32[i], want[i]);
            }
        }
    free(got), free(want), free(got32);
}

static char *srcdir_path(const char *rel)
{
    const char *src = getenv("MFREC_TEST_SRCDIR");
    if (!src || !*src) fail_msg("MFREC_TEST_SRCDIR is not set (it must point at tests/)");
    return tu_path(src, rel);
}

static void test_permutation_golden_fixture(void **state)
{
    (void)state;
    char *path = srcdir_path("data/sklearn_perm_300_100000.txt");
    char *text = tu_read_file(path, NULL);
    if (!text) fail_msg("cannot read %s", path);
    int64_t want[40];
    int count = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#' || line[0] == '\0') continue;
        assert_true(count < 40);
        want[count++] = strtoll(line, NULL, 10);
    }
    assert_int_equal(count, 40);

    const int64_t n = 100000;
    int64_t *perm = malloc((size_t)n * sizeof *perm);
    unsigned char *seen = calloc((size_t)n, 1);
    assert_non_null(perm);
    assert_non_null(seen);
    mfr_mt19937_permutation(300, perm, n);
    for (int k = 0; k < 20; k++) assert_int_equal(perm[k], want[k]);
    for (int k = 0; k < 20; k++) assert_int_equal(perm[n - 20 + k], want[20 + k]);
    for (int64_t k = 0; k < n; k++) {
        assert_true(perm[k] >= 0 && perm[k] < n);
        assert_int_equal(seen[perm[k]], 0);
        seen[perm[k]] = 1;
    }
    /* the 32-bit variant (the lean split's) is the same permutation */
    uint32_t *perm32 = malloc((size_t)n * sizeof *perm32);
    assert_non_null(perm32);
    mfr_mt19937_permutation32(300, perm32, n);
    for (int64_t k = 0; k < n; k++) assert_int_equal(perm32[k], perm[k]);
    free(perm32);
    free(seen);
    free(perm);
    free(text);
    free(path);
}

/* ------------------------------------------------------------------ */
/* A tiny dataset                                                       */
/* ------------------------------------------------------------------ */

struct fixture {
    char *dir;
    mfr_dataset *ds;
};

#define N_ROWS 10

/* Row r: user 1 + r % 4, item 10 + r, rating 1 + r % 5, timestamp 1000 + r,
 * so a rating's timestamp names its row. */
static int setup_dataset(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    if (!fx) return -1;
    fx->dir = tu_mkdtemp();
    char text[1024];
    size_t len = 0;
    for (int r = 0; r < N_ROWS; r++)
        len += (size_t)snprintf(text + len, sizeof text - len, "%d\t%d\t%d\t%d\n", 1 + r % 4,
                                10 + r, 1 + r % 5, 1000 + r);
    tu_write_file(fx->dir, "u.data", text, (size_t)-1);
    /* Canonical u1: rows 0..6 train (reordered), rows 7..9 test. */
    tu_write_file(fx->dir, "u1.base",
                  "1\t10\t1\t1000\n2\t11\t2\t1001\n3\t12\t3\t1002\n4\t13\t4\t1003\n"
                  "1\t14\t5\t1004\n3\t16\t2\t1006\n2\t15\t1\t1005\n",
                  (size_t)-1);
    tu_write_file(fx->dir, "u1.test", "4\t17\t3\t1007\n1\t18\t4\t1008\n2\t19\t5\t1009\n",
                  (size_t)-1);
    mfr_error err = {0};
    int rc = mfr_dataset_load(fx->dir, NULL, &fx->ds, &err);
    if (rc != MFR_OK) {
        fprintf(stderr, "mfr_dataset_load(%s): %s\n", fx->dir, err.message);
        return -1;
    }
    *state = fx;
    return 0;
}

static int teardown_dataset(void **state)
{
    struct fixture *fx = *state;
    if (!fx) return 0;
    mfr_dataset_destroy(fx->ds);
    tu_rmtree(fx->dir);
    free(fx->dir);
    free(fx);
    return 0;
}

/* Row index (by timestamp) of every rating of r, into rows[]. */
static void rows_of(const mfr_ratings *r, int64_t *rows, int64_t cap)
{
    int64_t n = mfr_ratings_count(r);
    assert_true(n <= cap);
    for (int64_t k = 0; k < n; k++) {
        int64_t ts = -1;
        mfr_ratings_get(r, k, NULL, NULL, NULL, &ts, NULL);
        rows[k] = ts - 1000;
    }
}

/* Every rating of the split equals the dataset's row with its timestamp,
 * and train + test together hold every row exactly once. */
static void check_partition(const mfr_dataset *ds, const mfr_split *s)
{
    const mfr_ratings *all = mfr_dataset_ratings(ds);
    const mfr_ratings *parts[2] = {mfr_split_train(s), mfr_split_test(s)};
    int seen[N_ROWS] = {0};
    assert_int_equal(mfr_ratings_count(parts[0]) + mfr_ratings_count(parts[1]), N_ROWS);
    for (int p = 0; p < 2; p++) {
        for (int64_t k = 0; k < mfr_ratings_count(parts[p]); k++) {
            int32_t u, i, u2, i2;
            float r, r2;
            int64_t ts, ts2;
            mfr_ratings_get(parts[p], k, &u, &i, &r, &ts, NULL);
            int64_t row = ts - 1000;
            assert_true(row >= 0 && row < N_ROWS);
            mfr_ratings_get(all, row, &u2, &i2, &r2, &ts2, NULL);
            assert_int_equal(u, u2);
            assert_int_equal(i, i2);
            assert_true(r == r2);
            assert_int_equal(seen[row], 0);
            seen[row] = 1;
        }
    }
}

static void test_split_sklearn(void **state)
{
    struct fixture *fx = *state;
    mfr_error err = {0};
    mfr_split *s = NULL;
    assert_int_equal(mfr_split_create(fx->ds, "sklearn:300", 0, &s, &err), MFR_OK);
    assert_string_equal(mfr_split_spec(s), "sklearn:300:0.25");
    /* sklearn: train_test_split(range(10), test_size=0.25, random_state=300)
     * = [4, 8, 6, 2, 5, 9, 1], [0, 3, 7]. */
    static const int64_t want_train[] = {4, 8, 6, 2, 5, 9, 1};
    static const int64_t want_test[] = {0, 3, 7};
    int64_t rows[N_ROWS];
    assert_int_equal(mfr_ratings_count(mfr_split_train(s)), 7);
    assert_int_equal(mfr_ratings_count(mfr_split_test(s)), 3);
    rows_of(mfr_split_train(s), rows, N_ROWS);
    for (int k = 0; k < 7; k++) assert_int_equal(rows[k], want_train[k]);
    rows_of(mfr_split_test(s), rows, N_ROWS);
    for (int k = 0; k < 3; k++) assert_int_equal(rows[k], want_test[k]);
    check_partition(fx->ds, s);
    /* The seed argument does not matter for sklearn specs. */
    mfr_split *s2 = NULL;
    assert_int_equal(mfr_split_create(fx->ds, "sklearn:300:0.250", 99, &s2, &err), MFR_OK);
    assert_string_equal(mfr_split_spec(s2), "sklearn:300:0.25");
    rows_of(mfr_split_test(s2), rows, N_ROWS);
    for (int k = 0; k < 3; k++) assert_int_equal(rows[k], want_test[k]);
    mfr_split_destroy(s2);
    mfr_split_destroy(s);

    /* train_test_split(range(10), test_size=0.2, random_state=7)
     * = [0, 2, 1, 9, 7, 3, 6, 4], [8, 5]. */
    static const int64_t want7_train[] = {0, 2, 1, 9, 7, 3, 6, 4};
    static const int64_t want7_test[] = {8, 5};
    assert_int_equal(mfr_split_create(fx->ds, "sklearn:7:0.2", 0, &s, &err), MFR_OK);
    assert_string_equal(mfr_split_spec(s), "sklearn:7:0.2");
    assert_int_equal(mfr_ratings_count(mfr_split_train(s)), 8);
    assert_int_equal(mfr_ratings_count(mfr_split_test(s)), 2);
    rows_of(mfr_split_train(s), rows, N_ROWS);
    for (int k = 0; k < 8; k++) assert_int_equal(rows[k], want7_train[k]);
    rows_of(mfr_split_test(s), rows, N_ROWS);
    for (int k = 0; k < 2; k++) assert_int_equal(rows[k], want7_test[k]);
    check_partition(fx->ds, s);
    mfr_split_destroy(s);

    /* The largest seed and a fraction that leaves one training row. */
    assert_int_equal(mfr_split_create(fx->ds, "sklearn:4294967295:0.9", 0, &s, &err), MFR_OK);
    assert_string_equal(mfr_split_spec(s), "sklearn:4294967295:0.9");
    assert_int_equal(mfr_ratings_count(mfr_split_train(s)), 1);
    assert_int_equal(mfr_ratings_count(mfr_split_test(s)), 9);
    check_partition(fx->ds, s);
    mfr_split_destroy(s);

    /* ceil(0.95 * 10) = 10 leaves no training row: sklearn refuses too. */
    s = (mfr_split *)(void *)&err; /* must be reset to NULL */
    assert_int_equal(mfr_split_create(fx->ds, "sklearn:1:0.95", 0, &s, &err),
                     MFR_ERR_DATA);
    assert_null(s);
    assert_non_null(strstr(err.message, "empty"));
}

static void test_split_canonical(void **state)
{
    struct fixture *fx = *state;
    mfr_error err = {0};
    mfr_split *s = NULL;
    int rc = mfr_split_create(fx->ds, "u1", 0, &s, &err);
    if (rc != MFR_OK) fail_msg("u1: %s", err.message);
    assert_string_equal(mfr_split_spec(s), "u1");
    static const int64_t want_train[] = {0, 1, 2, 3, 4, 6, 5};
    static const int64_t want_test[] = {7, 8, 9};
    int64_t rows[N_ROWS];
    assert_int_equal(mfr_ratings_count(mfr_split_train(s)), 7);
    assert_int_equal(mfr_ratings_count(mfr_split_test(s)), 3);
    rows_of(mfr_split_train(s), rows, N_ROWS);
    for (int k = 0; k < 7; k++) assert_int_equal(rows[k], want_train[k]);
    rows_of(mfr_split_test(s), rows, N_ROWS);
    for (int k = 0; k < 3; k++) assert_int_equal(rows[k], want_test[k]);
    check_partition(fx->ds, s);
    mfr_split_destroy(s);

    /* u2 files do not exist: an I/O error naming the path. */
    s = NULL;
    assert_int_equal(mfr_split_create(fx->ds, "u2", 0, &s, &err), MFR_ERR_IO);
    assert_null(s);
    assert_int_equal(err.status, MFR_ERR_IO);
    assert_non_null(strstr(err.message, "u2.base"));

    /* A malformed test file: the parse error passes through with file:line. */
    tu_write_file(fx->dir, "ua.base", "1\t10\t1\t1000\n", (size_t)-1);
    tu_write_file(fx->dir, "ua.test", "1\t10\t1\t1000\nnot a rating line\n", (size_t)-1);
    assert_int_equal(mfr_split_create(fx->ds, "ua", 0, &s, &err), MFR_ERR_PARSE);
    assert_null(s);
    assert_non_null(strstr(err.message, "ua.test:2"));
}

/* The pin of a canonical split: on both parts, the same for the same
 * ratings in another line order, another for another rating; none for a
 * split made from the data; a model trained on it refuses other files and
 * other splits (mfr_model_check_split). */
static void test_split_pin(void **state)
{
    struct fixture *fx = *state;
    mfr_error err = {0};
    mfr_split *s = NULL, *t = NULL, *k = NULL;
    assert_int_equal(mfr_split_create(fx->ds, "u1", 0, &s, &err), MFR_OK);
    const uint64_t pin = mfr_split_train(s)->split_pin;
    assert_true(pin != 0);
    assert_true(mfr_split_test(s)->split_pin == pin);
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 2;
    mfr_trainer *tr = NULL;
    assert_int_equal(mfr_trainer_create(&cfg, fx->ds, mfr_split_train(s), mfr_split_spec(s), &tr, &err), MFR_OK);
    const mfr_model *m = mfr_trainer_model(tr);
    assert_int_equal(mfr_model_check_split(m, s, &err), MFR_OK);
    /* the same ratings, lines reordered: the same pin */
    char *base = tu_path(fx->dir, "u1.base");
    size_t n = 0;
    char *orig = tu_read_file(base, &n);
    tu_write_file(fx->dir, "u1.base",
                  "3\t16\t2\t1006\n2\t15\t1\t1005\n1\t10\t1\t1000\n2\t11\t2\t1001\n3\t12\t3\t1002\n"
                  "4\t13\t4\t1003\n1\t14\t5\t1004\n",
                  (size_t)-1);
    assert_int_equal(mfr_split_create(fx->ds, "u1", 0, &t, &err), MFR_OK);
    assert_true(mfr_split_train(t)->split_pin == pin);
    assert_int_equal(mfr_model_check_split(m, t, &err), MFR_OK);
    mfr_split_destroy(t);
    /* a rating moved from the training file to the test file */
    tu_write_file(fx->dir, "u1.base",
                  "1\t10\t1\t1000\n2\t11\t2\t1001\n3\t12\t3\t1002\n4\t13\t4\t1003\n"
                  "1\t14\t5\t1004\n3\t16\t2\t1006\n",
                  (size_t)-1);
    tu_write_file(fx->dir, "u1.test", "4\t17\t3\t1007\n1\t18\t4\t1008\n2\t19\t5\t1009\n2\t15\t1\t1005\n",
                  (size_t)-1);
    assert_int_equal(mfr_split_create(fx->ds, "u1", 0, &t, &err), MFR_OK);
    assert_true(mfr_split_train(t)->split_pin != pin);
    assert_int_equal(mfr_model_check_split(m, t, &err), MFR_ERR_MISMATCH);
    tu_expect_in(err.message, "split u1: u1.base or u1.test is not what the model was trained with");
    mfr_split_destroy(t);
    /* a split of the data itself: no pin, and not the model's split */
    assert_int_equal(mfr_split_create(fx->ds, "random:0.3", 1, &k, &err), MFR_OK);
    assert_true(mfr_split_train(k)->split_pin == 0);
    assert_int_equal(mfr_model_check_split(m, k, &err), MFR_ERR_MISMATCH);
    tu_expect_in(err.message, "is not the model's split (u1)");
    mfr_split_destroy(k);
    tu_write_file(fx->dir, "u1.base", orig, n);
    tu_write_file(fx->dir, "u1.test", "4\t17\t3\t1007\n1\t18\t4\t1008\n2\t19\t5\t1009\n", (size_t)-1);
    free(orig);
    free(base);
    mfr_trainer_destroy(tr);
    mfr_split_destroy(s);
}

static void test_split_random(void **state)
{
    struct fixture *fx = *state;
    mfr_error err = {0};
    mfr_split *a = NULL, *b = NULL;
    assert_int_equal(mfr_split_create(fx->ds, "random:0.3", 42, &a, &err), MFR_OK);
    assert_int_equal(mfr_split_create(fx->ds, "random:.30", 42, &b, &err), MFR_OK);
    assert_string_equal(mfr_split_spec(a), "random:0.3");
    assert_string_equal(mfr_split_spec(b), "random:0.3");
    assert_int_equal(mfr_ratings_count(mfr_split_test(a)), 3);
    assert_int_equal(mfr_ratings_count(mfr_split_train(a)), 7);
    check_partition(fx->ds, a);
    int64_t ra[N_ROWS], rb[N_ROWS];
    for (int p = 0; p < 2; p++) {
        const mfr_ratings *pa = p ? mfr_split_test(a) : mfr_split_train(a);
        const mfr_ratings *pb = p ? mfr_split_test(b) : mfr_split_train(b);
        assert_int_equal(mfr_ratings_count(pa), mfr_ratings_count(pb));
        rows_of(pa, ra, N_ROWS);
        rows_of(pb, rb, N_ROWS);
        for (int64_t k = 0; k < mfr_ratings_count(pa); k++) {
            assert_int_equal(ra[k], rb[k]); /* same seed, same split */
            if (k > 0) assert_true(ra[k] > ra[k - 1]); /* file order */
        }
    }
    mfr_split_destroy(b);

    /* Another seed gives another test set (checked over several seeds so
     * that one coincidence among the C(10, 3) = 120 sets cannot fail it). */
    int64_t ta[N_ROWS];
    rows_of(mfr_split_test(a), ta, N_ROWS);
    int differ = 0;
    for (uint64_t seed = 43; seed < 48; seed++) {
        assert_int_equal(mfr_split_create(fx->ds, "random:0.3", seed, &b, &err), MFR_OK);
        check_partition(fx->ds, b);
        rows_of(mfr_split_test(b), rb, N_ROWS);
        if (memcmp(ta, rb, 3 * sizeof *ta) != 0) differ++;
        mfr_split_destroy(b);
    }
    assert_true(differ >= 4);
    mfr_split_destroy(a);

    /* round(0.01 * 10) = 0 test rows: refused. */
    b = NULL;
    assert_int_equal(mfr_split_create(fx->ds, "random:0.01", 1, &b, &err), MFR_ERR_DATA);
    assert_null(b);
}

/* "none": every rating in the training part, in file order (also in the
 * lean split's view), and an empty test part. */
static void test_split_none(void **state)
{
    struct fixture *fx = *state;
    mfr_error err = {0};
    for (int lean = 0; lean < 2; lean++) {
        mfr_split *s = NULL;
        assert_int_equal(lean ? mfr_split_create_lean(fx->ds, "none", 5, &s, &err)
                              : mfr_split_create(fx->ds, "none", 5, &s, &err),
                         MFR_OK);
        assert_string_equal(mfr_split_spec(s), "none");
        assert_int_equal(mfr_ratings_count(mfr_split_test(s)), 0);
        assert_int_equal(mfr_ratings_count(mfr_split_train(s)), N_ROWS);
        int64_t rows[N_ROWS];
        rows_of(mfr_split_train(s), rows, N_ROWS);
        for (int64_t k = 0; k < N_ROWS; k++) assert_int_equal(rows[k], k);
        check_partition(fx->ds, s);
        mfr_split_destroy(s);
    }
}

/* The random split as the plain sequential Fisher-Yates of the file
 * comment (every step run, rejections included): the test rows' indices in
 * file order into test_rows, their count returned. */
static int64_t reference_random_split(int64_t n, double fraction, uint64_t seed, int64_t *test_rows)
{
    int64_t n_test = (int64_t)round(fraction * (double)n), *perm = malloc(sizeof(int64_t) * n);
    unsigned char *mark = calloc((size_t)n, 1);
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    uint64_t step = 0;
    for (int64_t i = n - 1; i >= 1; i--) {
        uint64_t bound = (uint64_t)i + 1, min = (0 - bound) % bound, x;
        do x = mfr_rng_u64(seed, MFR_RNG_SPLIT, step++);
        while (x < min);
        int64_t j = (int64_t)(x % bound), t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
    for (int64_t k = 0; k < n_test; k++) mark[perm[k]] = 1;
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++)
        if (mark[i]) test_rows[c++] = i;
    free(perm), free(mark);
    return c;
}

static void assert_same_ratings(const mfr_ratings *a, const mfr_ratings *b)
{
    assert_int_equal(a->n, b->n);
    assert_memory_equal(a->user, b->user, sizeof(int32_t) * (size_t)a->n);
    assert_memory_equal(a->item, b->item, sizeof(int32_t) * (size_t)a->n);
    assert_memory_equal(a->rating, b->rating, sizeof(float) * (size_t)a->n);
    assert_memory_equal(a->ts, b->ts, sizeof(int64_t) * (size_t)a->n);
}

/* The lean split of the same spec and seed as `copy` (at the current
 * thread count): its training view reads the copy's ratings, timestamps
 * included, row by row (every view block start); its test part is the
 * copy's without timestamps (read as 0). */
/* A lean part copied without timestamps: the copy's ratings, ts 0. */
static void assert_same_without_ts(const mfr_ratings *lt, const mfr_ratings *t)
{
    mfr_error err = {0};
    assert_int_equal(lt->n, t->n);
    assert_memory_equal(lt->user, t->user, sizeof(int32_t) * (size_t)t->n);
    assert_memory_equal(lt->item, t->item, sizeof(int32_t) * (size_t)t->n);
    assert_memory_equal(lt->rating, t->rating, sizeof(float) * (size_t)t->n);
    assert_null(lt->ts);
    assert_non_null(t->ts);
    int64_t ts = -1;
    assert_int_equal(mfr_ratings_get(lt, t->n - 1, NULL, NULL, NULL, &ts, &err), MFR_OK);
    assert_int_equal(ts, 0);
}

/* random: the test part copied without timestamps, the training part a
 * view of the same rows; sklearn: both parts copied without timestamps. */
static void assert_lean_same(const mfr_dataset *ds, const char *spec, const mfr_split *copy)
{
    mfr_split *lean = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_split_create_lean(ds, spec, 77, &lean, &err), MFR_OK);
    const mfr_ratings *t = copy->test, *lt = lean->test, *v = lean->train, *c = copy->train;
    assert_same_without_ts(lt, t);
    if (!strncmp(spec, "sklearn:", 8)) {
        assert_null(v->skip);
        assert_same_without_ts(v, c);
        mfr_split_destroy(lean);
        return;
    }
    assert_non_null(v->skip);
    assert_int_equal(v->n, c->n);
    assert_true(v->n > 2 * MFR_VIEW_BLOCK);
    int64_t row = mfr_ratings_row(v, 0);
    for (int64_t x = 0; x < v->n; x++, row++) {
        while (v->skip[row]) row++;
        if (x % MFR_VIEW_BLOCK == 0) assert_int_equal(v->block_base[x / MFR_VIEW_BLOCK], row);
        assert_true(v->user[row] == c->user[x] && v->item[row] == c->item[x] && v->rating[row] == c->rating[x] &&
                    v->ts[row] == c->ts[x]);
    }
    /* mfr_ratings_get in order (a row after the last one found), backwards
     * and by jumps (from a block's start), and with another view read in
     * between: the copy's ratings every time */
    mfr_split *other = NULL;
    assert_int_equal(mfr_split_create_lean(ds, spec, 78, &other, &err), MFR_OK);
    const int64_t walks[][3] = {{0, 1, v->n}, {v->n - 1, -1, 500}, {5, 7919, v->n}}; /* first, step, reads */
    for (size_t w = 0; w < sizeof walks / sizeof *walks; w++)
        for (int64_t x = walks[w][0], k = 0; x >= 0 && x < v->n && k < walks[w][2]; x += walks[w][1], k++) {
            int32_t u, i;
            float r;
            assert_int_equal(mfr_ratings_get(v, x, &u, &i, &r, NULL, &err), MFR_OK);
            assert_true(u == c->user[x] && i == c->item[x] && r == c->rating[x]);
            if (k < 1000 && x % 3 == 0) /* each then costs this view a scan from its block's start */
                assert_int_equal(mfr_ratings_get(other->train, x % other->train->n, &u, &i, &r, NULL, &err), MFR_OK);
        }
    mfr_split_destroy(other);
    mfr_split_destroy(lean);
}

/* The parallel split (draws, partition, copies) gives the same bytes for
 * 1, 2, 3 and 7 threads, the random split exactly the sequential
 * Fisher-Yates's test rows, its lean form the same parts; enough ratings
 * for several view blocks. */
static void test_split_same_bytes_any_threads(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), *data = tu_path(dir, "data");
    mfr_dataset *ds = NULL;
    assert_int_equal(tu_synth(data, 3000, 500, 200000, 4, &ds), 0);
    const mfr_ratings *all = mfr_dataset_ratings(ds);
    int64_t *rows = malloc(sizeof(int64_t) * (size_t)all->n);
    int64_t n_test = reference_random_split(all->n, 0.1, 77, rows);
    const char *specs[] = {"random:0.1", "sklearn:300"};
    const int threads[] = {1, 2, 3, 7};
    for (int sp = 0; sp < 2; sp++) {
        mfr_split *first = NULL;
        for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
            mfr_split *s = NULL;
            mfr_error err = {0};
            mfr_set_threads(threads[t]);
            assert_int_equal(mfr_split_create(ds, specs[sp], 77, &s, &err), MFR_OK);
            assert_lean_same(ds, specs[sp], s);
            if (!first) {
                first = s;
                continue;
            }
            assert_same_ratings(s->train, first->train);
            assert_same_ratings(s->test, first->test);
            mfr_split_destroy(s);
        }
        if (sp == 0) {
            assert_int_equal(first->test->n, n_test);
            for (int64_t k = 0; k < n_test; k++) {
                assert_int_equal(first->test->user[k], all->user[rows[k]]);
                assert_int_equal(first->test->item[k], all->item[rows[k]]);
            }
        }
        mfr_split_destroy(first);
    }
    mfr_set_threads(0);
    free(rows);
    mfr_dataset_destroy(ds);
    tu_rmtree(dir);
    free(dir), free(data);
}

static void test_split_bad_specs(void **state)
{
    struct fixture *fx = *state;
    static const char *const bad[] = {
        "sklearn:",       "sklearn:abc",     "sklearn:300:1.5", "sklearn:300:0",
        "sklearn:300:",   "sklearn:-1",      "sklearn:4294967296", "sklearn:300:nan",
        "sklearn:300:0.2x", "sklearn: 300",  "sklearn:300:-0.5", "u9",
        "u",              "U1",              "u1 ",             "random:0",
        "random:1",       "random:",         "random:abc",      "random:inf",
        "bogus",          "",                "none:0.2",        "None",
        "none ",
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        mfr_error err = {0};
        mfr_split *s = (mfr_split *)(void *)&err;
        int rc = mfr_split_create(fx->ds, bad[k], 1, &s, &err);
        if (rc != MFR_ERR_INVALID) fail_msg("spec \"%s\": got %d", bad[k], rc);
        assert_null(s);
        assert_int_equal(err.status, MFR_ERR_INVALID);
        char quoted[64];
        snprintf(quoted, sizeof quoted, "\"%s\"", bad[k]);
        if (!strstr(err.message, quoted) || !strstr(err.message, "expected"))
            fail_msg("spec \"%s\": message \"%s\"", bad[k], err.message);
    }
    mfr_error err = {0};
    mfr_split *s = NULL;
    assert_int_equal(mfr_split_create(fx->ds, NULL, 1, &s, &err), MFR_ERR_INVALID);
    assert_null(s);
    assert_non_null(strstr(err.message, "NULL"));
    assert_non_null(strstr(err.message, "expected"));
    assert_int_equal(mfr_split_create(NULL, "sklearn:300", 1, &s, &err), MFR_ERR_INVALID);
    assert_int_equal(mfr_split_create(fx->ds, "sklearn:300", 1, NULL, NULL), MFR_ERR_INVALID);
    /* NULL error pointer is fine. */
    assert_int_equal(mfr_split_create(fx->ds, "bogus", 1, &s, NULL), MFR_ERR_INVALID);
    /* Accessors and destroy accept NULL. */
    assert_null(mfr_split_train(NULL));
    assert_null(mfr_split_test(NULL));
    assert_null(mfr_split_spec(NULL));
    mfr_split_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest rng_tests[] = {
        cmocka_unit_test(test_mt19937_reference_outputs),
        cmocka_unit_test(test_mt19937_interval),
        cmocka_unit_test(test_permutation_small_golden),
        cmocka_unit_test(test_permutation_matches_interval_loop),
        cmocka_unit_test(test_permutation_golden_fixture),
    };
    const struct CMUnitTest split_tests[] = {
        cmocka_unit_test(test_split_sklearn),
        cmocka_unit_test(test_split_canonical),
        cmocka_unit_test(test_split_pin),
        cmocka_unit_test(test_split_random),
        cmocka_unit_test(test_split_none),
        cmocka_unit_test(test_split_bad_specs),
        cmocka_unit_test(test_split_same_bytes_any_threads),
    };
    int failed = cmocka_run_group_tests_name("mt19937", rng_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("split", split_tests, setup_dataset,
                                          teardown_dataset);
    return failed ? 1 : 0;
}
