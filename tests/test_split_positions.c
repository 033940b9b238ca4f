/*
 * test_split_positions.c — what a rank of an MPI run reads instead of the
 * whole data (docs/MPI.md, "Reading only a rank's users"): the split's
 * positions (mfr_split_positions) against the parts mfr_split_create
 * copies, the 4-byte permutation against NumPy's (the 8-byte one), and the
 * user-ordered dataset cache: written from a loaded dataset, opened with
 * the load's key, every user's slice equal to the dataset's ratings; a
 * damaged record block or a changed source refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "dataset_priv.h"
#include "mfrec.h"
#include "mt19937_priv.h"
#include "test_util.h"
#include "users_cache_priv.h"

struct fixture {
    char *dir;
    mfr_dataset *ds;
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    if (!fx) return -1;
    fx->dir = tu_mkdtemp();
    if (tu_synth(fx->dir, 300, 90, 7001, 11, &fx->ds) != 0) return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    mfr_dataset_destroy(fx->ds);
    tu_rmtree(fx->dir);
    free(fx->dir);
    free(fx);
    return 0;
}

static void test_permutation32(void **state)
{
    (void)state;
    const int64_t n = 10007;
    int64_t *p64 = malloc(sizeof *p64 * (size_t)n);
    uint32_t *p32 = malloc(sizeof *p32 * (size_t)n);
    assert_non_null(p64);
    assert_non_null(p32);
    for (uint32_t seed = 0; seed < 3; seed++) {
        mfr_mt19937_permutation(seed * 1000 + 300, p64, n);
        mfr_mt19937_permutation32(seed * 1000 + 300, p32, n);
        for (int64_t k = 0; k < n; k++) assert_int_equal(p64[k], (int64_t)p32[k]);
    }
    free(p64);
    free(p32);
}

/* Every rating f of the file is where pos[f] says in the split's parts. */
static void check_positions(const mfr_dataset *ds, const char *spec, uint64_t seed)
{
    const mfr_ratings *all = mfr_dataset_ratings(ds);
    const int64_t n = mfr_ratings_count(all);
    mfr_split *s = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_split_create(ds, spec, seed, &s, &err), MFR_OK);
    uint32_t *pos = malloc(sizeof *pos * (size_t)n);
    assert_non_null(pos);
    int64_t n_test = -1;
    char *norm = NULL;
    assert_int_equal(mfr_split_positions(spec, seed, n, pos, &n_test, &norm, &err), MFR_OK);
    assert_string_equal(norm, mfr_split_spec(s));
    assert_int_equal(n_test, mfr_ratings_count(mfr_split_test(s)));
    char *seen = calloc((size_t)n, 1);
    assert_non_null(seen);
    for (int64_t f = 0; f < n; f++) {
        const mfr_ratings *part = pos[f] < n_test ? mfr_split_test(s) : mfr_split_train(s);
        const int64_t k = pos[f] < n_test ? pos[f] : pos[f] - n_test;
        assert_true(pos[f] < n);
        assert_int_equal(seen[pos[f]], 0);
        seen[pos[f]] = 1;
        int32_t u, i, u2, i2;
        float r, r2;
        mfr_ratings_get(all, f, &u, &i, &r, NULL, NULL);
        mfr_ratings_get(part, k, &u2, &i2, &r2, NULL, NULL);
        assert_int_equal(u, u2);
        assert_int_equal(i, i2);
        assert_true(r == r2);
    }
    free(seen);
    free(norm);
    free(pos);
    mfr_split_destroy(s);
}

static void test_positions(void **state)
{
    struct fixture *fx = *state;
    check_positions(fx->ds, "sklearn:300", 0);
    check_positions(fx->ds, "sklearn:7:0.1", 0);
    check_positions(fx->ds, "random:0.2", 42);
    check_positions(fx->ds, "random:0.5", 3);
    check_positions(fx->ds, "none", 0); /* every rating trains, at its own place */
    uint32_t pos[4];
    int64_t n_test;
    assert_int_equal(mfr_split_positions("u1", 0, 4, pos, &n_test, NULL, NULL), MFR_ERR_UNSUPPORTED);
    assert_int_equal(mfr_split_positions("bogus", 0, 4, pos, &n_test, NULL, NULL), MFR_ERR_INVALID);
    assert_int_equal(mfr_split_positions("sklearn:1:0.9", 0, 1, pos, &n_test, NULL, NULL), MFR_ERR_DATA);
}

static void test_users_cache(void **state)
{
    struct fixture *fx = *state;
    mfr_error err = {0};
    struct mfr_load_id id;
    assert_int_equal(mfr_dataset_load_id(fx->dir, NULL, &id, &err), MFR_OK);
    char *path = mfr_users_cache_path(id.cache_path);
    struct mfr_users_cache uc;
    assert_int_equal(mfr_users_cache_open(path, &id, &uc), MFR_ERR_NOT_FOUND); /* absent */
    assert_int_equal(mfr_users_cache_write(path, &id.key, fx->ds, &err), MFR_OK);
    assert_int_equal(mfr_users_cache_open(path, &id, &uc), MFR_OK);
    const mfr_ratings *all = mfr_dataset_ratings(fx->ds);
    assert_int_equal(uc.n, mfr_ratings_count(all));
    assert_int_equal(uc.ds->n_users, mfr_dataset_n_users(fx->ds));
    assert_int_equal(uc.ds->fingerprint, fx->ds->fingerprint);
    assert_string_equal(uc.ds->dir, fx->ds->dir);
    /* every rating once, at its user's slice, in file order */
    const int32_t N = uc.ds->n_users;
    int64_t *count = calloc((size_t)N, sizeof *count);
    assert_non_null(count);
    for (int64_t f = 0; f < uc.n; f++) count[all->user[f]]++;
    int64_t prev = -1;
    for (int32_t lo = 0; lo < N; lo += 37) {
        const int32_t hi = lo + 37 < N ? lo + 37 : N;
        const struct mfr_urec *rec;
        assert_int_equal(mfr_users_cache_slice(&uc, path, lo, hi, &rec, &err), MFR_OK);
        for (int32_t u = lo; u < hi; u++) {
            assert_int_equal(uc.offsets[u + 1] - uc.offsets[u], count[u]);
            for (int64_t x = uc.offsets[u]; x < uc.offsets[u + 1]; x++) {
                const struct mfr_urec *q = &rec[x - uc.offsets[lo]];
                assert_int_equal(all->user[q->index], u);
                assert_int_equal(all->item[q->index], q->item);
                assert_true(all->rating[q->index] == q->rating);
                assert_true((int64_t)q->index > (x == uc.offsets[u] ? -1 : prev));
                prev = q->index;
            }
        }
    }
    free(count);
    const int64_t rec_at = (const unsigned char *)uc.recs - uc.map, last = uc.offsets[N];
    mfr_users_cache_close(&uc);
    /* a damaged record (the last one's rating): the open still works (the
     * records are checked per slice), a slice in its 1 MiB block (here
     * every one: 84 KB of records) is refused */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    float bad = 1e9f;
    assert_int_equal(fseek(f, (long)(rec_at + (last - 1) * 12 + 4), SEEK_SET), 0);
    assert_int_equal(fwrite(&bad, 4, 1, f), 1);
    fclose(f);
    assert_int_equal(mfr_users_cache_open(path, &id, &uc), MFR_OK);
    const struct mfr_urec *rec;
    assert_int_equal(mfr_users_cache_slice(&uc, path, 0, 10, &rec, &err), MFR_ERR_DATA);
    assert_int_equal(mfr_users_cache_slice(&uc, path, N - 1, N, &rec, &err), MFR_ERR_DATA);
    tu_expect_in(err.message, ".users is damaged");
    mfr_users_cache_close(&uc);
    /* another key (the rating file rewritten): not this load's cache */
    struct mfr_load_id id2;
    char *data = tu_path(fx->dir, "u.data");
    assert_int_equal(truncate(data, 100), 0);
    assert_int_equal(mfr_dataset_load_id(fx->dir, NULL, &id2, &err), MFR_OK);
    assert_int_equal(mfr_users_cache_open(path, &id2, &uc), MFR_ERR_NOT_FOUND);
    mfr_load_options never;
    mfr_load_options_default(&never);
    never.cache = MFR_CACHE_NEVER;
    struct mfr_load_id id3;
    assert_int_equal(mfr_dataset_load_id(fx->dir, &never, &id3, &err), MFR_ERR_UNSUPPORTED);
    mfr_load_id_free(&id2);
    mfr_load_id_free(&id);
    free(data);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_permutation32),
        cmocka_unit_test(test_positions),
        cmocka_unit_test(test_users_cache),
    };
    return cmocka_run_group_tests_name("split_positions", tests, setup, teardown);
}
