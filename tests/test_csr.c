/*
 * test_csr.c — CSR, CSC and shard invariants on random ratings, with empty
 * users, single-rating users and items nobody rated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "csr_priv.h"
#include "dataset_priv.h"
#include "rng_priv.h"

struct triples {
    int64_t n;
    int32_t *u, *i;
    float *r;
};

/* Random distinct (u, i) pairs; users 0 and n_users-1 get none, user 1 one. */
static struct triples make(int32_t n_users, int32_t n_items, int64_t n, uint64_t seed)
{
    struct triples t = {0, malloc(sizeof(int32_t) * n), malloc(sizeof(int32_t) * n),
                        malloc(sizeof(float) * n)};
    char *seen = calloc((size_t)n_users * n_items, 1);
    t.u[0] = 1, t.i[0] = 3, t.r[0] = 4, seen[1 * n_items + 3] = 1, t.n = 1;
    for (uint64_t q = 0; t.n < n; q++) {
        int32_t u = 2 + (int32_t)(mfr_rng_u64(seed, 1, q) % (uint64_t)(n_users - 3));
        int32_t i = (int32_t)(mfr_rng_u64(seed, 2, q) % (uint64_t)(n_items - 1)); /* last item unrated */
        if (seen[(size_t)u * n_items + i]) continue;
        seen[(size_t)u * n_items + i] = 1;
        t.u[t.n] = u, t.i[t.n] = i, t.r[t.n] = (float)(1 + q % 5), t.n++;
    }
    free(seen);
    return t;
}

static void free_triples(struct triples *t)
{
    free(t->u);
    free(t->i);
    free(t->r);
}

static void test_csr_invariants(void **state)
{
    (void)state;
    const int32_t nu = 40, ni = 25;
    struct triples t = make(nu, ni, 300, 5);
    struct mfr_csr csr;
    mfr_error err = {0};
    assert_int_equal(mfr_csr_build(nu, ni, t.n, t.u, t.i, t.r, 0, &csr, &err), MFR_OK);
    assert_int_equal(csr.row_ptr[0], 0);
    assert_int_equal(csr.row_ptr[nu], t.n);
    assert_int_equal(csr.row_ptr[1] - csr.row_ptr[0], 0); /* empty user 0 */
    assert_int_equal(csr.row_ptr[2] - csr.row_ptr[1], 1); /* single rating */
    assert_int_equal(csr.row_ptr[nu] - csr.row_ptr[nu - 1], 0);
    for (int32_t u = 0; u < nu; u++) {
        assert_true(csr.row_ptr[u] <= csr.row_ptr[u + 1]);
        for (int64_t j = csr.row_ptr[u] + 1; j < csr.row_ptr[u + 1]; j++)
            assert_true(csr.item[j - 1] < csr.item[j]); /* items ascending */
    }
    /* every input rating appears exactly once, with its value */
    for (int64_t q = 0; q < t.n; q++) {
        int found = 0;
        for (int64_t j = csr.row_ptr[t.u[q]]; j < csr.row_ptr[t.u[q] + 1]; j++)
            if (csr.item[j] == t.i[q]) {
                found++;
                assert_true(csr.rating[j] == t.r[q]);
            }
        assert_int_equal(found, 1);
    }

    struct mfr_csc csc;
    assert_int_equal(mfr_csc_build(&csr, 0, &csc, &err), MFR_OK);
    assert_int_equal(csc.col_ptr[ni], t.n);
    assert_int_equal(csc.col_ptr[ni] - csc.col_ptr[ni - 1], 0); /* unrated item */
    for (int32_t i = 0; i < ni; i++) {
        for (int64_t q = csc.col_ptr[i]; q < csc.col_ptr[i + 1]; q++) {
            if (q > csc.col_ptr[i]) assert_true(csc.user[q - 1] < csc.user[q]);
            int64_t j = csc.pos[q];
            assert_int_equal(csr.item[j], i);
            assert_true(j >= csr.row_ptr[csc.user[q]] && j < csr.row_ptr[csc.user[q] + 1]);
        }
    }
    mfr_csc_free(&csc);
    mfr_csr_free(&csr);
    free_triples(&t);
}

static void test_csr_input_order_irrelevant(void **state)
{
    (void)state;
    const int32_t nu = 30, ni = 20;
    struct triples t = make(nu, ni, 200, 9);
    struct mfr_csr a, b;
    mfr_error err = {0};
    assert_int_equal(mfr_csr_build(nu, ni, t.n, t.u, t.i, t.r, 0, &a, &err), MFR_OK);
    /* reverse the input order */
    for (int64_t x = 0, y = t.n - 1; x < y; x++, y--) {
        int32_t tu = t.u[x]; t.u[x] = t.u[y]; t.u[y] = tu;
        int32_t ti = t.i[x]; t.i[x] = t.i[y]; t.i[y] = ti;
        float tr = t.r[x]; t.r[x] = t.r[y]; t.r[y] = tr;
    }
    assert_int_equal(mfr_csr_build(nu, ni, t.n, t.u, t.i, t.r, 0, &b, &err), MFR_OK);
    assert_memory_equal(a.row_ptr, b.row_ptr, sizeof(int64_t) * (nu + 1));
    assert_memory_equal(a.item, b.item, sizeof(int32_t) * t.n);
    assert_memory_equal(a.rating, b.rating, sizeof(float) * t.n);
    mfr_csr_free(&a);
    mfr_csr_free(&b);
    free_triples(&t);
}

static void test_csr_rejects_out_of_range(void **state)
{
    (void)state;
    int32_t u[2] = {0, 5}, i[2] = {0, 1};
    float r[2] = {1, 2};
    struct mfr_csr c;
    mfr_error err = {0};
    assert_int_equal(mfr_csr_build(5, 3, 2, u, i, r, 0, &c, &err), MFR_ERR_MISMATCH);
    assert_non_null(strstr(err.message, "rating 1 has (user 5, item 1) outside 5 x 3"));
    /* both paths, over a view whose skipped row does not count: the same
     * message */
    int32_t vu[3] = {0, 1, 5}, vi[3] = {0, 1, 1};
    float vr[3] = {1, 2, 3};
    const unsigned char skip[3] = {0, 1, 0};
    const struct mfr_ratings view = {.n = 2, .user = vu, .item = vi, .rating = vr, .borrowed = true,
                                     .skip = skip, .base_n = 3};
    for (int two = 0; two < 2; two++) {
        assert_int_equal(mfr_csr_build_path(5, 3, &view, 0, two, &c, &err), MFR_ERR_MISMATCH);
        assert_non_null(strstr(err.message, "rating 1 has (user 5, item 1) outside 5 x 3"));
    }
}

static void test_shards_balanced_and_contiguous(void **state)
{
    (void)state;
    const int32_t nu = 200, ni = 50;
    struct triples t = make(nu, ni, 3000, 11);
    struct mfr_csr csr;
    mfr_error err = {0};
    assert_int_equal(mfr_csr_build(nu, ni, t.n, t.u, t.i, t.r, 0, &csr, &err), MFR_OK);
    int64_t max_row = 0;
    for (int32_t u = 0; u < nu; u++)
        if (csr.row_ptr[u + 1] - csr.row_ptr[u] > max_row) max_row = csr.row_ptr[u + 1] - csr.row_ptr[u];
    for (int32_t s_count = 1; s_count <= 64; s_count = s_count * 2 + 1) {
        int32_t first[130];
        mfr_shards_cut(&csr, s_count, first);
        assert_int_equal(first[0], 0);
        assert_int_equal(first[s_count], nu);
        int64_t covered = 0;
        for (int32_t s = 0; s < s_count; s++) {
            assert_true(first[s] <= first[s + 1]);
            int64_t cnt = csr.row_ptr[first[s + 1]] - csr.row_ptr[first[s]];
            covered += cnt;
            /* within one user of the ideal share */
            assert_true(cnt <= t.n / s_count + max_row + 1);
        }
        assert_int_equal(covered, t.n);
    }
    mfr_csr_free(&csr);
    free_triples(&t);
}

static void test_default_shards_depend_on_data_only(void **state)
{
    (void)state;
    assert_int_equal(mfr_shards_default(943, 75000), 19);
    assert_int_equal(mfr_shards_default(943, 10), 1);
    assert_int_equal(mfr_shards_default(5, 1000000), 5);
    assert_int_equal(mfr_shards_default(1000000, 100000000), 128);
}

/* Big enough for 7 counting-sort chunks (MFR_SETUP_PAR_MIN ratings each
 * at least). Pairs may repeat: the CSR then keeps input order. */
#define BIG_N 1000000
#define BIG_USERS 70001
#define BIG_ITEMS 5003

static const int32_t *g_u, *g_i;
static int cmp_user_item_index(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    if (g_u[x] != g_u[y]) return g_u[x] < g_u[y] ? -1 : 1;
    if (g_i[x] != g_i[y]) return g_i[x] < g_i[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

static const int32_t *g_key;
static int cmp_key_index(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    if (g_key[x] != g_key[y]) return g_key[x] < g_key[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* The parallel counting sorts give, for 1, 2, 3 and 7 threads, exactly
 * what a comparison sort by (user, item, input position) gives, and the
 * CSC exactly the CSR positions sorted by (item, user). */
static void test_csr_csc_same_bytes_any_threads(void **state)
{
    (void)state;
    int32_t *u = malloc(sizeof(int32_t) * BIG_N), *i = malloc(sizeof(int32_t) * BIG_N);
    float *r = malloc(sizeof(float) * BIG_N);
    int64_t *ord = malloc(sizeof(int64_t) * BIG_N);
    for (int64_t q = 0; q < BIG_N; q++) {
        /* skewed users (a few heavy rows), uniform items, some repeats */
        uint64_t x = mfr_rng_u64(3, 1, (uint64_t)q);
        u[q] = (int32_t)((x % 7 == 0 ? x % 97 : x % (BIG_USERS - 1)));
        i[q] = (int32_t)(mfr_rng_u64(3, 2, (uint64_t)q) % BIG_ITEMS);
        r[q] = (float)q;
        ord[q] = q;
    }
    g_u = u, g_i = i;
    qsort(ord, BIG_N, sizeof *ord, cmp_user_item_index);
    const int threads[] = {1, 2, 3, 7};
    for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
        struct mfr_csr csr;
        struct mfr_csc csc;
        mfr_error err = {0};
        assert_int_equal(mfr_csr_build(BIG_USERS, BIG_ITEMS, BIG_N, u, i, r, threads[t], &csr, &err),
                         MFR_OK);
        assert_int_equal(mfr_csc_build(&csr, threads[t], &csc, &err), MFR_OK);
        /* The path of large sets (sorted by user, then each row by item;
         * csr_priv.h), here over a view that skips nothing: the same bytes
         * as the small sets' two passes. */
        unsigned char *none = calloc(BIG_N, 1);
        const struct mfr_ratings view = {.n = BIG_N, .user = u, .item = i, .rating = r, .borrowed = true,
                                         .skip = none, .base_n = BIG_N};
        struct mfr_csr rows;
        assert_int_equal(mfr_csr_build_path(BIG_USERS, BIG_ITEMS, &view, threads[t], false, &rows, &err), MFR_OK);
        assert_memory_equal(rows.row_ptr, csr.row_ptr, sizeof(int64_t) * (BIG_USERS + 1));
        assert_memory_equal(rows.item, csr.item, sizeof(int32_t) * BIG_N);
        assert_memory_equal(rows.rating, csr.rating, sizeof(float) * BIG_N);
        mfr_csr_free(&rows);
        /* a view that skips every tenth row: both paths, the same bytes */
        int64_t kept = 0;
        for (int64_t q = 0; q < BIG_N; q++) kept += !(none[q] = (unsigned char)(q % 10 == 3));
        const struct mfr_ratings part = {.n = kept, .user = u, .item = i, .rating = r, .borrowed = true,
                                         .skip = none, .base_n = BIG_N};
        struct mfr_csr two;
        assert_int_equal(mfr_csr_build_path(BIG_USERS, BIG_ITEMS, &part, threads[t], true, &two, &err), MFR_OK);
        assert_int_equal(mfr_csr_build_path(BIG_USERS, BIG_ITEMS, &part, threads[t], false, &rows, &err), MFR_OK);
        assert_int_equal(two.nnz, kept);
        assert_memory_equal(rows.row_ptr, two.row_ptr, sizeof(int64_t) * (BIG_USERS + 1));
        assert_memory_equal(rows.item, two.item, sizeof(int32_t) * (size_t)kept);
        assert_memory_equal(rows.rating, two.rating, sizeof(float) * (size_t)kept);
        mfr_csr_free(&two);
        mfr_csr_free(&rows);
        free(none);
        for (int64_t j = 0; j < BIG_N; j++) {
            assert_true(csr.item[j] == i[ord[j]] && csr.rating[j] == r[ord[j]]);
            assert_true(j >= csr.row_ptr[u[ord[j]]] && j < csr.row_ptr[u[ord[j]] + 1]);
        }
        assert_int_equal(csr.row_ptr[BIG_USERS], BIG_N);
        assert_int_equal(csr.row_ptr[BIG_USERS - 1], BIG_N); /* the last user rated nothing */
        /* the CSC: the CSR positions sorted by (item, position) */
        int64_t *pos = malloc(sizeof(int64_t) * BIG_N);
        for (int64_t j = 0; j < BIG_N; j++) pos[j] = j;
        g_key = csr.item;
        qsort(pos, BIG_N, sizeof *pos, cmp_key_index);
        for (int64_t q = 0; q < BIG_N; q++) {
            assert_int_equal(csc.pos[q], pos[q]);
            assert_true(pos[q] >= csr.row_ptr[csc.user[q]] && pos[q] < csr.row_ptr[csc.user[q] + 1]);
            assert_true(q >= csc.col_ptr[csr.item[pos[q]]] && q < csc.col_ptr[csr.item[pos[q]] + 1]);
        }
        free(pos);
        mfr_csc_free(&csc);
        mfr_csr_free(&csr);
    }
    free(u), free(i), free(r), free(ord);
}

/* The large sets' path sorts each row by its items' bytes (1 to 4 radix
 * passes by the item count) or by insertion (short rows): for item counts
 * of each width, with rows on both sides of the insertion limit and
 * repeated items, the rows equal a comparison sort by (user, item, input
 * position). */
static void test_csr_row_sort_every_item_width(void **state)
{
    (void)state;
    enum { N = 60000, USERS = 400 };
    static const int32_t widths[] = {1, 200, 256, 257, 5003, 65536, 65537, 70001, 16777217, INT32_MAX};
    int32_t *u = malloc(sizeof(int32_t) * N), *i = malloc(sizeof(int32_t) * N);
    float *r = malloc(sizeof(float) * N);
    int64_t *ord = malloc(sizeof(int64_t) * N);
    unsigned char *none = calloc(N, 1);
    assert_non_null(u);
    assert_non_null(i);
    assert_non_null(r);
    assert_non_null(ord);
    assert_non_null(none);
    for (size_t w = 0; w < sizeof widths / sizeof *widths; w++) {
        const int32_t n_items = widths[w];
        for (int64_t q = 0; q < N; q++) {
            /* row lengths from 1 to about 600; every 50th item from a
             * handful of values, so that rows repeat items */
            const uint64_t x = mfr_rng_u64(9, 1, (uint64_t)q), y = mfr_rng_u64(9, 2, (uint64_t)q);
            u[q] = (int32_t)(x % 3 == 0 ? x % 40 : x % USERS);
            i[q] = (int32_t)(y % 50 == 0 ? y % (uint64_t)(n_items < 3 ? n_items : 3) : y % (uint64_t)n_items);
            r[q] = (float)q;
            ord[q] = q;
        }
        g_u = u, g_i = i;
        qsort(ord, N, sizeof *ord, cmp_user_item_index);
        const struct mfr_ratings view = {.n = N, .user = u, .item = i, .rating = r, .borrowed = true,
                                         .skip = none, .base_n = N};
        for (int t = 1; t <= 2; t++) {
            struct mfr_csr rows;
            mfr_error err = {0};
            if (mfr_csr_build_path(USERS, n_items, &view, t, false, &rows, &err) != MFR_OK)
                fail_msg("%d items: %s", (int)n_items, err.message);
            for (int64_t j = 0; j < N; j++) {
                assert_int_equal(rows.item[j], i[ord[j]]);
                assert_true(rows.rating[j] == r[ord[j]]);
            }
            mfr_csr_free(&rows);
        }
    }
    free(u), free(i), free(r), free(ord), free(none);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csr_invariants),
        cmocka_unit_test(test_csr_input_order_irrelevant),
        cmocka_unit_test(test_csr_rejects_out_of_range),
        cmocka_unit_test(test_shards_balanced_and_contiguous),
        cmocka_unit_test(test_default_shards_depend_on_data_only),
        cmocka_unit_test(test_csr_csc_same_bytes_any_threads),
        cmocka_unit_test(test_csr_row_sort_every_item_width),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
