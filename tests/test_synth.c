/*
 * test_synth.c — the synthetic dataset generator (mfr_synth_write): file
 * layout, rating counts and ranges, coverage of users and items, no
 * duplicate pairs, determinism, popularity skew, option validation and the
 * dense and steep-Zipf corner cases. u.data is parsed here, independently
 * of the dataset loader, so the generator is checked on its own.
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
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mfrec.h"
#include "test_util.h"

/* One parsed rating of u.data (ids as in the file, 1-based). */
typedef struct row {
    int32_t user, item, rating;
    int64_t ts;
} row;

typedef struct parsed {
    row *rows;
    int64_t n;
} parsed;

/* Parses dir/u.data strictly ("u\ti\tr\tts\n" per line, integers only);
 * fails the test on any malformed line. */
static parsed parse_data(const char *dir)
{
    char *path = tu_path(dir, "u.data");
    size_t len = 0;
    char *text = tu_read_file(path, &len);
    assert_non_null(text);
    parsed out = {NULL, 0};
    size_t cap = 1024;
    out.rows = malloc(cap * sizeof *out.rows);
    char *p = text, *end = text + len;
    while (p < end) {
        long long v[4];
        for (int f = 0; f < 4; f++) {
            char *q;
            assert_true(*p >= '0' && *p <= '9');
            v[f] = strtoll(p, &q, 10);
            assert_true(q > p);
            assert_int_equal(*q, f < 3 ? '\t' : '\n');
            p = q + 1;
        }
        if ((size_t)out.n == cap) out.rows = realloc(out.rows, (cap *= 2) * sizeof *out.rows);
        out.rows[out.n++] = (row){(int32_t)v[0], (int32_t)v[1], (int32_t)v[2], v[3]};
    }
    free(text);
    free(path);
    return out;
}

/* Checks the invariants every generated u.data must satisfy and returns the
 * mean rating. */
static double check_data(const char *dir, const mfr_synth_options *o)
{
    parsed d = parse_data(dir);
    assert_int_equal(d.n, o->n_ratings);
    int64_t n_pairs = (int64_t)o->n_users * o->n_items;
    unsigned char *seen = calloc((size_t)n_pairs, 1);
    int64_t *user_count = calloc((size_t)o->n_users, sizeof *user_count);
    int64_t *item_count = calloc((size_t)o->n_items, sizeof *item_count);
    int64_t hist[6] = {0};
    double sum = 0.0;
    for (int64_t k = 0; k < d.n; k++) {
        row r = d.rows[k];
        assert_in_range(r.user, 1, o->n_users);
        assert_in_range(r.item, 1, o->n_items);
        assert_in_range(r.rating, 1, 5);
        /* ML-100K's time range. */
        assert_true(r.ts >= 874724710 && r.ts <= 893286638);
        int64_t pair = (int64_t)(r.user - 1) * o->n_items + (r.item - 1);
        assert_int_equal(seen[pair], 0); /* no duplicate (user, item) */
        seen[pair] = 1;
        user_count[r.user - 1]++;
        item_count[r.item - 1]++;
        hist[r.rating]++;
        sum += r.rating;
    }
    if (o->n_ratings >= o->n_users)
        for (int32_t u = 0; u < o->n_users; u++) assert_true(user_count[u] >= 1);
    if (o->n_ratings >= o->n_items)
        for (int32_t i = 0; i < o->n_items; i++) assert_true(item_count[i] >= 1);
    for (int32_t u = 0; u < o->n_users; u++) assert_true(user_count[u] <= o->n_items);
    free(seen);
    free(user_count);
    free(item_count);
    free(d.rows);
    return sum / (double)o->n_ratings;
}

/* Number of '|'-separated fields of each line of dir/name must be `fields`;
 * returns the line count. */
static int64_t count_lines_with_fields(const char *dir, const char *name, int fields)
{
    char *path = tu_path(dir, name);
    size_t len = 0;
    char *text = tu_read_file(path, &len);
    assert_non_null(text);
    assert_true(len > 0);
    assert_int_equal(text[len - 1], '\n');
    int64_t lines = 0;
    int f = 1;
    for (size_t k = 0; k < len; k++) {
        unsigned char c = (unsigned char)text[k];
        assert_true(c < 128); /* ASCII only */
        if (c == '|') f++;
        if (c == '\n') {
            assert_int_equal(f, fields);
            f = 1;
            lines++;
        }
    }
    free(text);
    free(path);
    return lines;
}

static mfr_synth_options small_options(void)
{
    mfr_synth_options o;
    mfr_synth_options_default(&o);
    o.n_users = 50;
    o.n_items = 40;
    o.n_ratings = 600;
    o.rank = 4;
    o.seed = 7;
    return o;
}

static void generate(const mfr_synth_options *o, const char *dir)
{
    mfr_error err = {0};
    int rc = mfr_synth_write(o, dir, &err);
    if (rc != MFR_OK) fprintf(stderr, "mfr_synth_write: %s\n", err.message);
    assert_int_equal(rc, MFR_OK);
}

static void test_defaults(void **state)
{
    (void)state;
    mfr_synth_options o;
    memset(&o, 0xff, sizeof o);
    mfr_synth_options_default(&o);
    assert_int_equal(o.n_users, 943);
    assert_int_equal(o.n_items, 1682);
    assert_int_equal(o.n_ratings, 100000);
    assert_int_equal(o.rank, 8);
    assert_true(o.noise == 0.5f);
    assert_int_equal(o.seed, 1);
    assert_true(o.item_zipf == 1.0);
    assert_true(o.user_zipf == 0.8);
}

static void test_small(void **state)
{
    (void)state;
    char *base = tu_mkdtemp();
    char *dir = tu_path(base, "synth"); /* created by the generator */
    mfr_synth_options o = small_options();
    generate(&o, dir);

    static const char *const names[] = {"u.data", "u.item", "u.user", "u.genre",
                                        "u.occupation"};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        char *p = tu_path(dir, names[k]);
        assert_true(tu_exists(p));
        free(p);
    }

    double mean = check_data(dir, &o);
    assert_true(mean > 2.8 && mean < 4.2);

    assert_int_equal(count_lines_with_fields(dir, "u.item", 24), o.n_items);
    assert_int_equal(count_lines_with_fields(dir, "u.user", 5), o.n_users);
    assert_int_equal(count_lines_with_fields(dir, "u.genre", 2), 19);
    assert_int_equal(count_lines_with_fields(dir, "u.occupation", 1), 21);

    /* u.item: id, title with year, date, empty video date, URL, genres. */
    char *ip = tu_path(dir, "u.item");
    char *items = tu_read_file(ip, NULL);
    int32_t id = 0;
    for (char *line = items; *line; line = strchr(line, '\n') + 1) {
        id++;
        char title[128], date[32];
        int got_id = 0, year = 0;
        assert_int_equal(sscanf(line, "%d|%127[^|]|%31[^|]", &got_id, title, date), 3);
        assert_int_equal(got_id, id);
        char want[64];
        snprintf(want, sizeof want, "Synthetic Movie %d (", id);
        assert_memory_equal(title, want, strlen(want));
        assert_int_equal(sscanf(date + 7, "%d", &year), 1);
        assert_in_range(year, 1900, 1999);
        char url[64];
        snprintf(url, sizeof url, "||http://example.invalid/%d|", id);
        char *genres = strstr(line, url);
        assert_true(genres && genres < strchr(line, '\n'));
        genres += strlen(url);
        int set = 0;
        for (int g = 0; g < 19; g++) {
            assert_true(genres[2 * g] == '0' || genres[2 * g] == '1');
            set += genres[2 * g] == '1';
        }
        assert_true(set >= 1);
    }
    free(items);
    free(ip);

    /* u.user: age 7..73, sex M/F, a known occupation, 5-digit zip. */
    char *op = tu_path(dir, "u.occupation");
    char *occ_file = tu_read_file(op, NULL);
    char *occupations = malloc(strlen(occ_file) + 2);
    sprintf(occupations, "\n%s", occ_file); /* every name between newlines */
    char *up = tu_path(dir, "u.user");
    char *users = tu_read_file(up, NULL);
    id = 0;
    for (char *line = users; *line; line = strchr(line, '\n') + 1) {
        id++;
        int got_id = 0, age = 0;
        char sex = 0, occ[64], zip[16];
        assert_int_equal(sscanf(line, "%d|%d|%c|%63[^|]|%15[^\n]", &got_id, &age, &sex, occ, zip),
                         5);
        assert_int_equal(got_id, id);
        assert_in_range(age, 7, 73);
        assert_true(sex == 'M' || sex == 'F');
        char needle[80];
        snprintf(needle, sizeof needle, "\n%s\n", occ);
        assert_non_null(strstr(occupations, needle));
        assert_int_equal(strlen(zip), 5);
        for (int k = 0; k < 5; k++) assert_true(zip[k] >= '0' && zip[k] <= '9');
    }
    assert_int_equal(id, o.n_users);
    free(users);
    free(up);
    free(occupations);
    free(occ_file);
    free(op);

    char *gp = tu_path(dir, "u.genre");
    char *genres = tu_read_file(gp, NULL);
    assert_memory_equal(genres, "unknown|0\nAction|1\n", 19);
    assert_non_null(strstr(genres, "\nChildren's|4\n"));
    assert_non_null(strstr(genres, "\nWestern|18\n"));
    free(genres);
    free(gp);

    free(dir);
    tu_rmtree(base);
    free(base);
}

/* The default (ML-100K sized) options: MovieLens-like rating statistics,
 * every value 1..5 present. */
static void test_default_statistics(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    mfr_synth_options o;
    mfr_synth_options_default(&o);
    generate(&o, dir);
    double mean = check_data(dir, &o);
    assert_true(mean > 3.3 && mean < 3.8);
    parsed d = parse_data(dir);
    int64_t hist[6] = {0};
    for (int64_t k = 0; k < d.n; k++) hist[d.rows[k].rating]++;
    for (int r = 1; r <= 5; r++) assert_true(hist[r] > d.n / 100);
    free(d.rows);
    tu_rmtree(dir);
    free(dir);
}

static int files_equal(const char *a, const char *b, const char *name)
{
    char *pa = tu_path(a, name), *pb = tu_path(b, name);
    size_t la = 0, lb = 0;
    char *ta = tu_read_file(pa, &la), *tb = tu_read_file(pb, &lb);
    assert_non_null(ta);
    assert_non_null(tb);
    int eq = la == lb && memcmp(ta, tb, la) == 0;
    free(ta);
    free(tb);
    free(pa);
    free(pb);
    return eq;
}

static void test_determinism(void **state)
{
    (void)state;
    char *a = tu_mkdtemp(), *b = tu_mkdtemp(), *c = tu_mkdtemp();
    mfr_synth_options o = small_options();
    generate(&o, a);
    generate(&o, b);
    o.seed++;
    generate(&o, c);
    static const char *const names[] = {"u.data", "u.item", "u.user", "u.genre",
                                        "u.occupation"};
    for (size_t k = 0; k < sizeof names / sizeof *names; k++)
        assert_true(files_equal(a, b, names[k]));
    assert_false(files_equal(a, c, "u.data"));
    assert_false(files_equal(a, c, "u.item"));
    /* Regenerating into an existing directory replaces the files. */
    generate(&o, a);
    assert_true(files_equal(a, c, "u.data"));
    tu_rmtree(a);
    tu_rmtree(b);
    tu_rmtree(c);
    free(a);
    free(b);
    free(c);
}

/* Runs mfr_synth_write with one bad field and expects MFR_ERR_INVALID and a
 * message containing `needle`. */
static void expect_invalid(const mfr_synth_options *o, const char *dir, const char *needle)
{
    mfr_error err = {0};
    int rc = mfr_synth_write(o, dir, &err);
    assert_int_equal(rc, MFR_ERR_INVALID);
    assert_int_equal(err.status, MFR_ERR_INVALID);
    if (!strstr(err.message, needle))
        fail_msg("message \"%s\" lacks \"%s\"", err.message, needle);
}

static void test_invalid(void **state)
{
    (void)state;
    char *base = tu_mkdtemp();
    char *dir = tu_path(base, "never");
    mfr_synth_options o;

    o = small_options(); o.n_users = 0;
    expect_invalid(&o, dir, "n_users");
    o = small_options(); o.n_items = -3;
    expect_invalid(&o, dir, "n_items must be >= 1, got -3");
    o = small_options(); o.n_ratings = 0;
    expect_invalid(&o, dir, "n_ratings must be in 1..2000, got 0");
    o = small_options(); o.n_ratings = 2001;
    expect_invalid(&o, dir, "n_ratings must be in 1..2000, got 2001");
    o = small_options(); o.rank = 0;
    expect_invalid(&o, dir, "rank must be in 1..1024, got 0");
    o = small_options(); o.rank = 1025;
    expect_invalid(&o, dir, "rank");
    o = small_options(); o.noise = -0.1f;
    expect_invalid(&o, dir, "noise");
    o = small_options(); o.noise = NAN;
    expect_invalid(&o, dir, "noise");
    o = small_options(); o.noise = INFINITY;
    expect_invalid(&o, dir, "noise");
    o = small_options(); o.item_zipf = -0.5;
    expect_invalid(&o, dir, "item_zipf");
    o = small_options(); o.item_zipf = 5.5;
    expect_invalid(&o, dir, "item_zipf");
    o = small_options(); o.user_zipf = NAN;
    expect_invalid(&o, dir, "user_zipf");
    o = small_options(); o.user_zipf = 6;
    expect_invalid(&o, dir, "user_zipf");
    /* n_users * n_items far beyond int32: the bound must not overflow. */
    o = small_options(); o.n_users = INT32_MAX; o.n_items = INT32_MAX; o.n_ratings = -1;
    expect_invalid(&o, dir, "n_ratings must be in 1..4611686014132420609, got -1");
    o = small_options();
    expect_invalid(&o, NULL, "dir");
    expect_invalid(&o, "", "dir");
    assert_false(tu_exists(dir)); /* nothing created on invalid input */

    /* A missing parent directory is an I/O error. */
    char *deep = tu_path(dir, "child");
    mfr_error err = {0};
    assert_int_equal(mfr_synth_write(&o, deep, &err), MFR_ERR_IO);
    assert_non_null(strstr(err.message, deep));
    free(deep);

    /* err may be NULL. */
    o.rank = 0;
    assert_int_equal(mfr_synth_write(&o, dir, NULL), MFR_ERR_INVALID);

    free(dir);
    tu_rmtree(base);
    free(base);
}

/* Ratings per item, most popular first. */
static int64_t *item_counts_sorted(const char *dir, const mfr_synth_options *o)
{
    parsed d = parse_data(dir);
    int64_t *cnt = calloc((size_t)o->n_items, sizeof *cnt);
    for (int64_t k = 0; k < d.n; k++) cnt[d.rows[k].item - 1]++;
    free(d.rows);
    /* Insertion sort, descending: n_items is small here. */
    for (int32_t a = 1; a < o->n_items; a++) {
        int64_t v = cnt[a];
        int32_t b = a;
        for (; b > 0 && cnt[b - 1] < v; b--) cnt[b] = cnt[b - 1];
        cnt[b] = v;
    }
    return cnt;
}

static void test_popularity_skew(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    mfr_synth_options o;
    mfr_synth_options_default(&o);
    o.n_users = 300;
    o.n_items = 500;
    o.n_ratings = 20000;
    generate(&o, dir);
    check_data(dir, &o);
    int64_t *cnt = item_counts_sorted(dir, &o);
    int64_t top = 0;
    for (int32_t k = 0; k < o.n_items / 10; k++) top += cnt[k];
    /* Zipf(1) over 500 items puts ~50% of the weight on the top 10%. */
    assert_true(top > o.n_ratings * 3 / 10);
    free(cnt);

    /* User activity is skewed too: the busiest user has far more than the
     * average of ~67 ratings. */
    parsed d = parse_data(dir);
    int64_t *uc = calloc((size_t)o.n_users, sizeof *uc);
    int64_t max_u = 0;
    for (int64_t k = 0; k < d.n; k++) uc[d.rows[k].user - 1]++;
    for (int32_t u = 0; u < o.n_users; u++) max_u = uc[u] > max_u ? uc[u] : max_u;
    assert_true(max_u > 3 * o.n_ratings / o.n_users);
    free(uc);
    free(d.rows);

    /* With both exponents 0 popularity is flat. */
    o.item_zipf = 0.0;
    o.user_zipf = 0.0;
    generate(&o, dir);
    check_data(dir, &o);
    cnt = item_counts_sorted(dir, &o);
    top = 0;
    for (int32_t k = 0; k < o.n_items / 10; k++) top += cnt[k];
    assert_true(top < o.n_ratings * 2 / 10);
    free(cnt);

    tu_rmtree(dir);
    free(dir);
}

/* Every (user, item) pair rated once; also a nearly dense case. */
static void test_dense(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    mfr_synth_options o = small_options();
    o.n_users = 13;
    o.n_items = 17;
    o.n_ratings = 13 * 17;
    generate(&o, dir);
    check_data(dir, &o);
    o.n_ratings = 13 * 17 - 5;
    generate(&o, dir);
    check_data(dir, &o);
    tu_rmtree(dir);
    free(dir);
}

/* Corner cases: one user, one item, fewer ratings than users or items,
 * the steepest Zipf exponents (the top item holds ~96% of the weight, so
 * duplicate rejection alone would crawl), rank 1 and 1024, no noise. */
static void test_corners(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    mfr_synth_options o = small_options();

    o.n_users = 1; o.n_items = 1; o.n_ratings = 1;
    generate(&o, dir);
    check_data(dir, &o);

    o = small_options(); o.n_ratings = 20; /* < n_users and < n_items */
    generate(&o, dir);
    check_data(dir, &o);

    o = small_options(); o.n_ratings = 45; /* n_items <= n_ratings < n_users */
    generate(&o, dir);
    check_data(dir, &o);

    o = small_options(); o.n_users = 1; o.n_items = 300; o.n_ratings = 250;
    generate(&o, dir);
    check_data(dir, &o);

    o = small_options(); o.n_users = 200; o.n_items = 300; o.n_ratings = 30000;
    o.item_zipf = 5.0; o.user_zipf = 5.0;
    generate(&o, dir);
    check_data(dir, &o);

    o = small_options(); o.rank = 1; o.noise = 0.0f;
    generate(&o, dir);
    check_data(dir, &o);

    o = small_options(); o.rank = 1024; o.noise = 3.0f;
    generate(&o, dir);
    check_data(dir, &o);

    tu_rmtree(dir);
    free(dir);
}

/* Largest eigenvalue of the symmetric n x n matrix g by power iteration;
 * its unit eigenvector goes to v. */
static double top_eigen(const double *g, int n, double *v)
{
    double *t = malloc((size_t)n * sizeof *t);
    for (int a = 0; a < n; a++) v[a] = 1.0 + 0.01 * a;
    double lambda = 0.0;
    for (int it = 0; it < 2000; it++) {
        double norm = 0.0;
        for (int a = 0; a < n; a++) {
            t[a] = 0.0;
            for (int b = 0; b < n; b++) t[a] += g[a * n + b] * v[b];
            norm += t[a] * t[a];
        }
        norm = sqrt(norm);
        if (norm == 0.0) break;
        lambda = norm;
        for (int a = 0; a < n; a++) v[a] = t[a] / norm;
    }
    free(t);
    return lambda;
}

/* The planted low-rank structure: on a dense, noise-free matrix with the
 * user and item means removed (which removes the biases), the top `rank`
 * principal components hold most of the variance (~85%); unstructured
 * ratings of this shape would give them ~20%. */
static void test_planted_structure(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    mfr_synth_options o = small_options();
    o.n_users = 60;
    o.n_items = 40;
    o.n_ratings = 60 * 40;
    o.rank = 3;
    o.noise = 0.0f;
    generate(&o, dir);
    parsed d = parse_data(dir);
    const int nu = o.n_users, ni = o.n_items;
    double *m = calloc((size_t)nu * ni, sizeof *m);
    for (int64_t k = 0; k < d.n; k++)
        m[(d.rows[k].user - 1) * ni + d.rows[k].item - 1] = d.rows[k].rating;
    double *row_mean = calloc((size_t)nu, sizeof *row_mean);
    double *col_mean = calloc((size_t)ni, sizeof *col_mean);
    double grand = 0.0;
    for (int u = 0; u < nu; u++)
        for (int i = 0; i < ni; i++) {
            row_mean[u] += m[u * ni + i] / ni;
            col_mean[i] += m[u * ni + i] / nu;
            grand += m[u * ni + i] / ((double)nu * ni);
        }
    for (int u = 0; u < nu; u++)
        for (int i = 0; i < ni; i++) m[u * ni + i] += grand - row_mean[u] - col_mean[i];
    /* Gram matrix over items; its trace is the total variance. */
    double *g = calloc((size_t)ni * ni, sizeof *g);
    for (int a = 0; a < ni; a++)
        for (int b = 0; b < ni; b++)
            for (int u = 0; u < nu; u++) g[a * ni + b] += m[u * ni + a] * m[u * ni + b];
    double trace = 0.0;
    for (int a = 0; a < ni; a++) trace += g[a * ni + a];
    double *v = malloc((size_t)ni * sizeof *v), top = 0.0;
    for (int c = 0; c < o.rank; c++) {
        double lambda = top_eigen(g, ni, v);
        top += lambda;
        for (int a = 0; a < ni; a++) /* deflate */
            for (int b = 0; b < ni; b++) g[a * ni + b] -= lambda * v[a] * v[b];
    }
    if (!(top > 0.6 * trace)) fail_msg("top %d components hold %.3f of the variance", o.rank, top / trace);
    free(v);
    free(g);
    free(row_mean);
    free(col_mean);
    free(m);
    free(d.rows);
    tu_rmtree(dir);
    free(dir);
}

static int cmp_double_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* Compares observed counts with expected probabilities (n draws) as
 * multisets: both sorted, since the id of each popularity rank is random.
 * Allows 5 standard deviations plus 3. */
static void expect_counts(double *counts, double *prob, int k, double n)
{
    qsort(counts, (size_t)k, sizeof *counts, cmp_double_desc);
    qsort(prob, (size_t)k, sizeof *prob, cmp_double_desc);
    for (int j = 0; j < k; j++) {
        double want = n * prob[j], sd = sqrt(n * prob[j] * (1.0 - prob[j]));
        if (fabs(counts[j] - want) > 5.0 * sd + 3.0)
            fail_msg("count %d: got %.0f, want %.1f +- %.1f", j, counts[j], want, 5 * sd + 3);
    }
}

/* Sampling follows the popularity law, without replacement. 10 items with
 * weights 1/r^2 (the top one holds 65%, so after drawing it a user's second
 * draw comes from the exact, tree-based sampler; otherwise from the alias
 * table with rejection); every user rates 2 items. Per user, the first
 * draw has P(a) = p_a and the second P(b) = sum_{a != b} p_a p_b / (1 - p_a).
 * Users 1..10 start with an item handed out for coverage and are skipped
 * (white box: the coverage blocks go to the first users by id). */
static void test_sampling_distribution(void **state)
{
    (void)state;
    enum { K = 10 };
    char *dir = tu_mkdtemp();
    mfr_synth_options o = small_options();
    o.n_users = 20010;
    o.n_items = K;
    o.n_ratings = 2 * (int64_t)o.n_users;
    o.item_zipf = 2.0;
    o.user_zipf = 0.0;
    generate(&o, dir);
    parsed d = parse_data(dir);
    assert_int_equal(d.n, o.n_ratings);
    double first[K] = {0}, second[K] = {0};
    int64_t n = 0;
    for (int64_t k = 0; k + 1 < d.n; k += 2) {
        assert_int_equal(d.rows[k].user, d.rows[k + 1].user); /* grouped by user */
        if (d.rows[k].user <= K) continue;
        first[d.rows[k].item - 1]++;
        second[d.rows[k + 1].item - 1]++;
        n++;
    }
    assert_int_equal(n, o.n_users - K);
    double p[K], h = 0.0, p2[K];
    for (int r = 0; r < K; r++) h += 1.0 / ((r + 1.0) * (r + 1.0));
    for (int r = 0; r < K; r++) p[r] = 1.0 / ((r + 1.0) * (r + 1.0)) / h;
    for (int b = 0; b < K; b++) {
        p2[b] = 0.0;
        for (int a = 0; a < K; a++)
            if (a != b) p2[b] += p[a] * p[b] / (1.0 - p[a]);
    }
    expect_counts(first, p, K, (double)n);
    expect_counts(second, p2, K, (double)n);
    free(d.rows);
    tu_rmtree(dir);
    free(dir);
}

/* A file that cannot be put in place fails cleanly: no temporary file is
 * left behind and the files written before it are complete. */
/* planted.txt holds the noise-free planted score's RMSE against the
 * ratings: about sqrt(noise² + 1/12) from the noise and the rounding to
 * whole stars, plus what clamping scores above 5.5 or below 0.5 adds. */
static double planted_rmse_for(float noise)
{
    mfr_synth_options o;
    mfr_synth_options_default(&o);
    o.n_users = 200, o.n_items = 100, o.n_ratings = 8000, o.noise = noise;
    char *dir = tu_mkdtemp();
    mfr_error err = {0};
    assert_int_equal(mfr_synth_write(&o, dir, &err), MFR_OK);
    char *path = tu_path(dir, "planted.txt");
    char *text = tu_read_file(path, NULL);
    assert_non_null(text);
    char *p = strstr(text, "planted_rmse ");
    assert_non_null(p);
    double v = strtod(p + 13, NULL);
    free(text);
    free(path);
    tu_rmtree(dir);
    free(dir);
    return v;
}

static void test_planted_rmse_file(void **state)
{
    (void)state;
    double quiet = planted_rmse_for(0.0f), noisy = planted_rmse_for(0.5f);
    assert_true(quiet > sqrt(1.0 / 12.0) - 0.03 && quiet < 0.45);
    assert_true(noisy > quiet + 0.1);
    assert_true(noisy > sqrt(0.25 + 1.0 / 12.0) - 0.03 && noisy < 0.75);
}

static void test_write_failure(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    mfr_synth_options o = small_options();
    mfr_error err = {0};
    /* an earlier synth's directory, so that the u.data below is synth's to replace */
    assert_int_equal(mfr_synth_write(&o, dir, &err), MFR_OK);
    char *blocker = tu_path(dir, "u.data");
    assert_int_equal(unlink(blocker), 0);
    assert_int_equal(mkdir(blocker, 0755), 0); /* rename onto it fails */
    o.seed = 2;
    assert_int_equal(mfr_synth_write(&o, dir, &err), MFR_ERR_IO);
    assert_non_null(strstr(err.message, "u.data"));
    assert_null(strstr(err.message, "did not write"));
    DIR *dh = opendir(dir);
    assert_non_null(dh);
    struct dirent *e;
    while ((e = readdir(dh)))
        if (strstr(e->d_name, ".tmp")) fail_msg("left behind: %s", e->d_name);
    closedir(dh);
    assert_int_equal(count_lines_with_fields(dir, "u.item", 24), o.n_items);
    /* the run cut short left its mark: a second run may replace its files */
    assert_int_equal(rmdir(blocker), 0);
    assert_int_equal(mfr_synth_write(&o, dir, &err), MFR_OK);
    free(blocker);
    tu_rmtree(dir);
    free(dir);
}

/* A write cut short in a fresh directory (u.data past a file size limit:
 * EFBIG, as a full disk) leaves the files completed before it with
 * planted.txt's mark, written first, so a second run may replace them;
 * with the mark written last the second run was refused as another
 * dataset's directory. */
static void test_cut_short_write_can_be_redone(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    mfr_synth_options o = small_options();
    fflush(NULL);
    const pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        const struct rlimit rl = {8192, 8192}; /* u.item and u.user fit, u.data (600 ratings) does not */
        mfr_error err = {0};
        _exit(setrlimit(RLIMIT_FSIZE, &rl) == 0 && mfr_synth_write(&o, dir, &err) == MFR_ERR_IO &&
                      strstr(err.message, "u.data")
                  ? 0
                  : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *item = tu_path(dir, "u.item"), *data = tu_path(dir, "u.data"), *planted = tu_path(dir, "planted.txt");
    struct stat st;
    assert_int_equal(stat(item, &st), 0); /* completed before the failure */
    assert_int_not_equal(stat(data, &st), 0);
    char *mark = tu_read_file(planted, NULL);
    assert_non_null(mark);
    assert_int_equal(strncmp(mark, "# mfrec synth", 13), 0);
    free(mark);
    mfr_error err = {0};
    assert_int_equal(mfr_synth_write(&o, dir, &err), MFR_OK);
    assert_int_equal(count_lines_with_fields(dir, "u.data", 1), o.n_ratings); /* tab-separated: no | */
    free(item);
    free(data);
    free(planted);
    tu_rmtree(dir);
    free(dir);
}

/* mfr_synth_write never replaces a dataset it did not write, nor leaves
 * another dataset's files beside its own (mfr_synth_check_dir): refused
 * before anything is written, the files as they were. */
static void test_refuses_other_datasets(void **state)
{
    (void)state;
    mfr_synth_options o = small_options();
    mfr_error err = {0};
    assert_int_equal(mfr_synth_check_dir(NULL, &err), MFR_ERR_INVALID);
    char *dir = tu_mkdtemp();
    char *fresh = tu_path(dir, "fresh");
    assert_int_equal(mfr_synth_check_dir(fresh, &err), MFR_OK); /* not there yet */
    /* a path synth's mkdir cannot use: a file, or a missing parent; refused
     * by the check (which once said OK) as by the write, naming it */
    static const char *const unusable[] = {"plain", "plain/sub", "gone/sub"};
    tu_write_file(dir, "plain", "x", 1);
    for (size_t u = 0; u < sizeof unusable / sizeof *unusable; u++) {
        char *bad = tu_path(dir, unusable[u]);
        memset(&err, 0, sizeof err);
        assert_int_equal(mfr_synth_check_dir(bad, &err), MFR_ERR_IO);
        assert_non_null(strstr(err.message, bad));
        assert_int_equal(mfr_synth_write(&o, bad, &err), MFR_ERR_IO);
        free(bad);
    }
    char *plain = tu_path(dir, "plain");
    assert_int_equal(unlink(plain), 0);
    free(plain);
    /* a user's own ratings, no planted.txt: refused, kept */
    static const char mine[] = "1\t2\t3\t881250949\n";
    tu_write_file(dir, "u.data", mine, sizeof mine - 1);
    assert_int_equal(mfr_synth_write(&o, dir, &err), MFR_ERR_IO);
    assert_non_null(strstr(err.message, "/u.data) that synth did not write"));
    char *data = tu_path(dir, "u.data"), *item = tu_path(dir, "u.item");
    char *text = tu_read_file(data, NULL);
    assert_string_equal(text, mine);
    free(text);
    struct stat st;
    assert_int_not_equal(stat(item, &st), 0);
    /* a FIFO named planted.txt is no mark, and the check does not block on it */
    char *planted = tu_path(dir, "planted.txt");
    assert_int_equal(mkfifo(planted, 0600), 0);
    assert_int_equal(mfr_synth_check_dir(dir, &err), MFR_ERR_IO);
    assert_int_equal(unlink(planted), 0);
    assert_int_equal(unlink(data), 0);
    /* a planted.txt of the user's own, no dataset: refused, kept (it was
     * replaced) */
    static const char notes[] = "my notes\n";
    tu_write_file(dir, "planted.txt", notes, sizeof notes - 1);
    assert_int_equal(mfr_synth_write(&o, dir, &err), MFR_ERR_IO);
    tu_expect_in(err.message, "/planted.txt, a file that synth did not write");
    text = tu_read_file(planted, NULL);
    assert_string_equal(text, notes);
    free(text);
    assert_int_not_equal(stat(data, &st), 0);
    assert_int_equal(unlink(planted), 0);
    /* another dataset's fold beside where synth's files would go */
    tu_write_file(dir, "u1.base", mine, sizeof mine - 1);
    assert_int_equal(mfr_synth_write(&o, dir, &err), MFR_ERR_IO);
    assert_non_null(strstr(err.message, "/u1.base, a file of another dataset"));
    assert_int_not_equal(stat(data, &st), 0);
    char *fold = tu_path(dir, "u1.base");
    assert_int_equal(unlink(fold), 0);
    /* an empty directory, then synth's own: written, then written again */
    assert_int_equal(mfr_synth_write(&o, dir, &err), MFR_OK);
    o.seed = 7;
    assert_int_equal(mfr_synth_write(&o, dir, &err), MFR_OK);
    /* one of its files made a directory: refused before planted.txt's early
     * mark replaced the finished one (which then lost its RMSE line) */
    char *planted_text = tu_read_file(planted, NULL);
    char *genre = tu_path(dir, "u.genre");
    assert_int_equal(unlink(genre), 0);
    assert_int_equal(mkdir(genre, 0755), 0);
    o.seed = 8;
    assert_int_equal(mfr_synth_check_dir(dir, &err), MFR_ERR_IO);
    tu_expect_in(err.message, "/u.genre, a directory where synth writes a regular file: not replacing it");
    assert_int_equal(mfr_synth_write(&o, dir, &err), MFR_ERR_IO);
    char *after = tu_read_file(planted, NULL);
    assert_string_equal(after, planted_text);
    free(after);
    free(planted_text);
    assert_int_equal(rmdir(genre), 0);
    /* planted.txt made a directory beside synth's dataset: said as what it
     * is, not as "a dataset that synth did not write (no planted.txt)" */
    assert_int_equal(unlink(planted), 0);
    assert_int_equal(mkdir(planted, 0755), 0);
    assert_int_equal(mfr_synth_check_dir(dir, &err), MFR_ERR_IO);
    tu_expect_in(err.message, "/planted.txt, a directory where synth writes a regular file: not replacing it");
    assert_int_equal(rmdir(planted), 0);
    free(genre);
    free(fold);
    free(planted);
    free(data);
    free(item);
    free(fresh);
    tu_rmtree(dir);
    free(dir);
}

/* The bytes of the files synth wrote into dir. */
static uint64_t dir_bytes(const char *dir)
{
    static const char *const names[] = {"u.data", "u.item", "u.user", "u.genre", "u.occupation",
                                        "planted.txt"};
    uint64_t total = 0;
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        char *p = tu_path(dir, names[k]);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        total += (uint64_t)st.st_size;
        free(p);
    }
    return total;
}

/* mfr_synth_estimate: the disk bound holds the files written, and is close
 * to them (it counts every id at the largest id's width and every
 * occupation at the longest, so most lines are at most a few bytes
 * shorter: within a quarter here); the memory figure is exactly what the
 * budget is compared with; sizes past uint64 saturate; options are
 * validated. */
static void test_estimate(void **state)
{
    (void)state;
    mfr_synth_options sets[2] = {small_options(), small_options()};
    sets[1].n_users = sets[1].n_items = 9;
    sets[1].n_ratings = 81;
    mfr_error err = {0};
    for (int x = 0; x < 2; x++) {
        uint64_t memory = 0, disk = 0;
        assert_int_equal(mfr_synth_estimate(&sets[x], &memory, &disk, &err), MFR_OK);
        char *dir = tu_mkdtemp();
        generate(&sets[x], dir);
        uint64_t real = dir_bytes(dir);
        if (real > disk || (double)disk > 1.25 * (double)real)
            fail_msg("set %d: wrote %llu bytes, estimated %llu", x, (unsigned long long)real,
                     (unsigned long long)disk);
        tu_rmtree(dir);
        free(dir);
        char *dir2 = tu_mkdtemp();
        mfr_synth_options o = sets[x];
        o.max_memory = memory - 1;
        assert_int_equal(mfr_synth_write(&o, dir2, &err), MFR_ERR_TOO_LARGE);
        o.max_memory = memory;
        assert_int_equal(mfr_synth_write(&o, dir2, &err), MFR_OK);
        tu_rmtree(dir2);
        free(dir2);
    }
    mfr_synth_options huge = small_options();
    huge.n_users = huge.n_items = INT32_MAX;
    huge.n_ratings = (int64_t)INT32_MAX * INT32_MAX;
    uint64_t memory = 0, disk = 0;
    assert_int_equal(mfr_synth_estimate(&huge, &memory, &disk, &err), MFR_OK);
    assert_true(disk == UINT64_MAX);
    assert_true(memory > (uint64_t)INT32_MAX * 50);
    huge.n_users = 0;
    assert_int_equal(mfr_synth_estimate(&huge, NULL, NULL, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "n_users"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_small),
        cmocka_unit_test(test_default_statistics),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_popularity_skew),
        cmocka_unit_test(test_dense),
        cmocka_unit_test(test_corners),
        cmocka_unit_test(test_planted_structure),
        cmocka_unit_test(test_sampling_distribution),
        cmocka_unit_test(test_planted_rmse_file),
        cmocka_unit_test(test_write_failure),
        cmocka_unit_test(test_refuses_other_datasets),
        cmocka_unit_test(test_cut_short_write_can_be_redone),
        cmocka_unit_test(test_estimate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
