/*
 * test_model.c — the in-memory model (accessors, predict, evaluate,
 * checksum, dataset check), the model file format (round trip, byte
 * identity, every truncation and every flipped byte rejected, forward
 * compatible configuration records) and the .npy reader and writer.
 *
 * Everything is built in the test from tiny hand-made values; no data set
 * is needed.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common_priv.h"
#include "dataset_priv.h"
#include "model_priv.h"
#include "test_util.h"

static char *tmp_dir;

static int group_setup(void **state)
{
    (void)state;
    tmp_dir = tu_mkdtemp();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    tu_rmtree(tmp_dir);
    free(tmp_dir);
    return 0;
}

/* Writes len bytes to a file in the temporary directory; returns its path. */
static char *put_bytes(const char *name, const void *bytes, size_t len)
{
    tu_write_file(tmp_dir, name, bytes, len);
    return tu_path(tmp_dir, name);
}

static float *row_u(const mfr_model *m, int32_t u) { return m->U + (size_t)u * m->k_pad; }
static float *row_i(const mfr_model *m, int32_t i) { return m->V + (size_t)i * m->k_pad; }

/* A small model whose every field differs from the defaults. */
static mfr_model *make_model(int32_t k, int32_t n_users, int32_t n_items)
{
    mfr_model *m = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_model_alloc(k, 0, n_users, n_items, &m, &err), MFR_OK);
    assert_int_equal(mfr_model_alloc_state(m, 2, &err), MFR_OK); /* Adam's moments */
    m->cfg.lr = 0.0123456789012345; /* needs all of a double's bits */
    m->cfg.beta1 = 0.85;
    m->cfg.beta2 = 0.995;
    m->cfg.eps = 1e-7;
    m->cfg.init_std = 0.25;
    m->cfg.seed = UINT64_C(0xfedcba9876543210);
    m->cfg.n_shards = 7;
    m->cfg.reduce = MFR_REDUCE_SHARD;
    m->cfg.kernels = MFR_KERNELS_REF;
    m->epochs = 17;
    m->data_fingerprint = UINT64_C(0x0123456789abcdef);
    free(m->split_spec);
    free(m->data_dir);
    m->split_spec = strdup("sklearn:300:0.25");
    m->data_dir = strdup("/data/ml-100k");
    for (int32_t u = 0; u < n_users; u++) m->user_ids[u] = 100 + 3 * (int64_t)u;
    for (int32_t i = 0; i < n_items; i++) m->item_ids[i] = -5 + 2 * (int64_t)i;
    float *arrays[6] = {m->U, m->V, m->state[MFR_MODEL_USERS][0], m->state[MFR_MODEL_USERS][1], m->state[MFR_MODEL_ITEMS][0], m->state[MFR_MODEL_ITEMS][1]};
    int32_t rows[6] = {n_users, n_items, n_users, n_users, n_items, n_items};
    for (int a = 0; a < 6; a++)
        for (int32_t r = 0; r < rows[a]; r++)
            for (int32_t j = 0; j < k; j++) {
                float v = (float)(a + 1) * 0.1f + (float)r * 0.37f - (float)j * 0.011f;
                if (a == 3 || a == 5) v = fabsf(v); /* second moments are >= 0 */
                if (a == 2 && r == 0 && j == 0) v = -0.0f; /* a sign bit must survive */
                arrays[a][(size_t)r * m->k_pad + j] = v;
            }
    return m;
}

static void assert_models_equal(const mfr_model *a, const mfr_model *b)
{
    assert_int_equal(a->k, b->k);
    assert_int_equal(a->k_pad, b->k_pad);
    assert_int_equal(a->n_users, b->n_users);
    assert_int_equal(a->n_items, b->n_items);
    assert_int_equal(a->epochs, b->epochs);
    assert_true(a->data_fingerprint == b->data_fingerprint);
    assert_true(a->split_pin == b->split_pin);
    assert_string_equal(a->split_spec, b->split_spec);
    assert_string_equal(a->data_dir, b->data_dir);
    assert_int_equal(a->cfg.k, b->cfg.k);
    assert_memory_equal(&a->cfg.lr, &b->cfg.lr, sizeof(double));
    assert_memory_equal(&a->cfg.beta1, &b->cfg.beta1, sizeof(double));
    assert_memory_equal(&a->cfg.beta2, &b->cfg.beta2, sizeof(double));
    assert_memory_equal(&a->cfg.eps, &b->cfg.eps, sizeof(double));
    assert_memory_equal(&a->cfg.init_std, &b->cfg.init_std, sizeof(double));
    assert_true(a->cfg.seed == b->cfg.seed);
    assert_int_equal(a->cfg.n_shards, b->cfg.n_shards);
    assert_int_equal(a->cfg.reduce, b->cfg.reduce);
    assert_int_equal(a->cfg.kernels, b->cfg.kernels);
    assert_memory_equal(a->user_ids, b->user_ids, a->n_users * sizeof(int64_t));
    assert_memory_equal(a->item_ids, b->item_ids, a->n_items * sizeof(int64_t));
    /* Every bit, padding lanes included (they must be zero in both). */
    size_t ub = (size_t)a->n_users * a->k_pad * sizeof(float);
    size_t ib = (size_t)a->n_items * a->k_pad * sizeof(float);
    assert_memory_equal(a->U, b->U, ub);
    assert_memory_equal(a->state[MFR_MODEL_USERS][0], b->state[MFR_MODEL_USERS][0], ub);
    assert_memory_equal(a->state[MFR_MODEL_USERS][1], b->state[MFR_MODEL_USERS][1], ub);
    assert_memory_equal(a->V, b->V, ib);
    assert_memory_equal(a->state[MFR_MODEL_ITEMS][0], b->state[MFR_MODEL_ITEMS][0], ib);
    assert_memory_equal(a->state[MFR_MODEL_ITEMS][1], b->state[MFR_MODEL_ITEMS][1], ib);
    assert_memory_equal(&a->cfg.l2_bias, &b->cfg.l2_bias, sizeof(double));
    assert_memory_equal(&a->cfg.implicit, &b->cfg.implicit, sizeof(double));
    assert_int_equal(a->Y != NULL, b->Y != NULL);
    if (a->Y) {
        assert_memory_equal(a->P, b->P, ub);
        assert_memory_equal(a->Y, b->Y, ib);
        assert_memory_equal(a->state[MFR_MODEL_IMPLICIT][0], b->state[MFR_MODEL_IMPLICIT][0], ib);
        assert_memory_equal(a->state[MFR_MODEL_IMPLICIT][1], b->state[MFR_MODEL_IMPLICIT][1], ib);
    }
}

/* make_model with implicit feedback: P, Y, mY and vY filled too. */
static mfr_model *make_implicit_model(int32_t k, int32_t n_users, int32_t n_items)
{
    mfr_model *m = make_model(k, n_users, n_items);
    mfr_error err = {0};
    assert_int_equal(mfr_model_alloc_implicit(m, &err), MFR_OK);
    m->cfg.implicit = 0.75;
    float *arrays[4] = {m->P, m->Y, m->state[MFR_MODEL_IMPLICIT][0], m->state[MFR_MODEL_IMPLICIT][1]};
    int32_t rows[4] = {n_users, n_items, n_items, n_items};
    for (int a = 0; a < 4; a++)
        for (int32_t r = 0; r < rows[a]; r++)
            for (int32_t j = 0; j < k; j++)
                arrays[a][(size_t)r * m->k_pad + j] = (float)(a + 7) * 0.1f - (float)r * 0.29f + (float)j * 0.013f;
    for (int32_t r = 0; r < n_items; r++)
        for (int32_t j = 0; j < k; j++) m->state[MFR_MODEL_IMPLICIT][1][(size_t)r * m->k_pad + j] = fabsf(m->state[MFR_MODEL_IMPLICIT][1][(size_t)r * m->k_pad + j]);
    return m;
}

/* mfr_model_memory_bytes: every array of the model (each rounded up to a
 * cache line), the two id maps and the ranking prior's offsets, what a
 * copy allocates for them (what --early-stop's copy adds to the run's
 * estimated peak). */
static void test_memory_bytes_counts_every_array(void **state)
{
    (void)state;
    mfr_model *models[] = {make_model(3, 4, 5), make_implicit_model(3, 4, 5), make_implicit_model(17, 6, 2)};
    for (size_t x = 0; x < sizeof models / sizeof *models; x++) {
        const mfr_model *m = models[x];
        struct mfr_model_array a[MFR_MODEL_MAX_ARRAYS];
        const int n = mfr_model_arrays(m, a);
        uint64_t want = ((uint64_t)m->n_users + (uint64_t)m->n_items) * sizeof(int64_t);
        for (int i = 0; i < n; i++) want += ((uint64_t)a[i].rows * (uint64_t)m->k_pad * sizeof(float) + 63) / 64 * 64;
        assert_true(mfr_model_memory_bytes(m) == want);
        /* a ranking prior's offsets, one float per movie and one more */
        models[x]->rank_offset = calloc((size_t)m->n_items + 1, sizeof(float));
        assert_non_null(m->rank_offset);
        assert_true(mfr_model_memory_bytes(m) == want + ((uint64_t)m->n_items + 1) * sizeof(float));
        mfr_model_destroy(models[x]);
    }
    assert_true(mfr_model_memory_bytes(NULL) == 0);
}

/* mfr_model_copy_into: the values of another epoch into the copy kept so
 * far, in its own arrays (--early-stop's best model; a new copy at every
 * better epoch grew the run's memory), and only into a copy's shape. */
static void test_copy_into_reuses_the_arrays(void **state)
{
    (void)state;
    mfr_error err = {0};
    mfr_model *m = make_implicit_model(3, 4, 5), *c = NULL;
    assert_int_equal(mfr_model_copy(m, &c, &err), MFR_OK);
    const float *u = c->U, *y = c->Y, *mv = c->state[MFR_MODEL_ITEMS][1];
    m->U[1] += 1.0f, m->Y[2] -= 0.5f, m->state[MFR_MODEL_ITEMS][1][3] = 9.0f, m->epochs = 77;
    mfr_fault_alloc_at(INT64_MAX); /* counts the allocations */
    assert_int_equal(mfr_model_copy_into(c, m, &err), MFR_OK);
    const int64_t made = mfr_fault_alloc_count();
    mfr_fault_alloc_at(0);
    assert_true(made <= 3); /* the provenance's strings, no array */
    assert_ptr_equal(c->U, u);
    assert_ptr_equal(c->Y, y);
    assert_ptr_equal(c->state[MFR_MODEL_ITEMS][1], mv);
    assert_models_equal(m, c);
    assert_true(mfr_model_checksum(m) == mfr_model_checksum(c));
    /* out of memory for the provenance: dst is left as it was, not with
     * src's factors under its old epoch count and provenance */
    const uint64_t kept = mfr_model_checksum(c);
    m->U[1] += 1.0f, m->epochs = 78;
    mfr_fault_alloc_at(1);
    assert_int_equal(mfr_model_copy_into(c, m, &err), MFR_ERR_NOMEM);
    mfr_fault_alloc_at(0);
    assert_true(mfr_model_checksum(c) == kept);
    assert_int_equal(mfr_model_epochs(c), 77);
    mfr_model *other = make_model(3, 4, 5); /* no implicit arrays */
    assert_int_equal(mfr_model_copy_into(other, m, &err), MFR_ERR_MISMATCH);
    tu_expect_in(err.message, "src has implicit-feedback factors and dst has none");
    /* a copy without optimizer state (mfr_model_load_weights'): named, not
     * "is not users 0.. of one of 3 x 4 (2)" */
    mfr_model *lean = make_implicit_model(3, 4, 5);
    for (int g = 0; g < MFR_MODEL_N_GROUPS; g++)
        for (int32_t x = 0; x < lean->n_state; x++) mfr_aligned_free(lean->state[g][x]), lean->state[g][x] = NULL;
    lean->n_state = 0; /* what mfr_model_load_weights leaves */
    assert_int_equal(mfr_model_copy_into(lean, m, &err), MFR_ERR_MISMATCH);
    tu_expect_in(err.message, "dst keeps 0 optimizer state arrays per group and src 2");
    assert_int_equal(mfr_model_copy_into(m, lean, &err), MFR_ERR_MISMATCH);
    tu_expect_in(err.message, "mfr_model_load_weights");
    mfr_model_destroy(lean);
    mfr_model *wide = make_implicit_model(4, 4, 5);
    assert_int_equal(mfr_model_copy_into(wide, m, &err), MFR_ERR_MISMATCH);
    assert_int_equal(mfr_model_copy_into(NULL, m, &err), MFR_ERR_INVALID);
    /* the same shape with the ranking prior's counts on one side only: the
     * message names that, not the shapes ("k 5 is not a copy of ... k 5") */
    c->rank_offset = calloc((size_t)c->n_items + 1, sizeof(float));
    assert_non_null(c->rank_offset);
    assert_int_equal(mfr_model_copy_into(c, m, &err), MFR_ERR_MISMATCH);
    tu_expect_in(err.message, "item counts are set on dst but not on src");
    mfr_model_destroy(wide);
    mfr_model_destroy(other);
    mfr_model_destroy(c);
    mfr_model_destroy(m);
}

/* A model with implicit feedback: P, Y and their moments follow vV; every
 * byte counts (a cut anywhere is corrupt) and the checksum covers P and Y. */
static void test_implicit_roundtrip(void **state)
{
    (void)state;
    mfr_error err = {0};
    mfr_model *m = make_implicit_model(3, 4, 5);
    mfr_model *plain = make_model(3, 4, 5);
    char *p1 = tu_path(tmp_dir, "imp1.mfr"), *p2 = tu_path(tmp_dir, "imp2.mfr");
    char *pc = tu_path(tmp_dir, "impcut.mfr"), *pp = tu_path(tmp_dir, "plain.mfr");
    assert_int_equal(mfr_model_save(m, p1, &err), MFR_OK);
    assert_int_equal(mfr_model_save(plain, pp, &err), MFR_OK);
    mfr_model *l = NULL;
    assert_int_equal(mfr_model_load(p1, &l, &err), MFR_OK);
    assert_models_equal(m, l);
    assert_true(mfr_model_checksum(m) == mfr_model_checksum(l));
    assert_true(mfr_model_checksum(m) != mfr_model_checksum(plain)); /* P and Y count */
    mfr_model *c = NULL;
    assert_int_equal(mfr_model_copy(l, &c, &err), MFR_OK);
    assert_models_equal(m, c);
    assert_int_equal(mfr_model_save(c, p2, &err), MFR_OK);
    size_t n1, n2, np;
    char *b1 = tu_read_file(p1, &n1), *b2 = tu_read_file(p2, &n2), *bp = tu_read_file(pp, &np);
    assert_int_equal(n1, n2);
    assert_memory_equal(b1, b2, n1);
    /* 4 k floats more per user (P) and 3 x 4 k per item (Y, mY, vY) */
    assert_int_equal(n1, np + 4 * 3 * (4 + 3 * 5));
    for (size_t cut = np - 16; cut < n1; cut += 7) {
        tu_write_file(tmp_dir, "impcut.mfr", b1, cut);
        mfr_model *t = NULL;
        assert_int_equal(mfr_model_load(pc, &t, &err), MFR_ERR_CORRUPT);
        assert_null(t);
    }
    /* saving refuses a model whose implicit flag and arrays disagree */
    m->cfg.implicit = 0.0;
    assert_int_equal(mfr_model_save(m, p2, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "implicit"));
    free(b1);
    free(b2);
    free(bp);
    mfr_model_destroy(c);
    mfr_model_destroy(l);
    mfr_model_destroy(m);
    mfr_model_destroy(plain);
    free(p1);
    free(p2);
    free(pc);
    free(pp);
}

/* Saves a fresh make_model(3, 2, 3) under `name`; returns the file bytes. */
static unsigned char *small_model_file(const char *name, size_t *len)
{
    mfr_model *m = make_model(3, 2, 3);
    char *path = tu_path(tmp_dir, name);
    mfr_error err = {0};
    assert_int_equal(mfr_model_save(m, path, &err), MFR_OK);
    unsigned char *bytes = (unsigned char *)tu_read_file(path, len);
    assert_non_null(bytes);
    free(path);
    mfr_model_destroy(m);
    return bytes;
}

static void put_le32(unsigned char *b, uint32_t v)
{
    for (int s = 0; s < 4; s++) b[s] = (unsigned char)(v >> (8 * s));
}

static uint32_t get_le32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
           (uint32_t)b[3] << 24;
}

/* Rewrites the trailing checksum of a model file image. */
static void fix_checksum(unsigned char *bytes, size_t len)
{
    uint64_t h = mfr_model_file_sum(bytes, len - 8);
    for (int s = 0; s < 8; s++) bytes[len - 8 + s] = (unsigned char)(h >> (8 * s));
}

/* ------------------------------------------------------------------ */
/* In-memory model                                                      */
/* ------------------------------------------------------------------ */

/* Optimizer state follows the optimizer: SGD models store none, and SGD
 * files written when every model carried Adam's moments still load (and
 * save back to the same bytes); a model whose state does not match its
 * optimizer is not saved. */
static void test_optimizer_state_in_files(void **state)
{
    (void)state;
    mfr_error err = {0};
    char *legacy = tu_path(tmp_dir, "sgd-legacy.mfr"), *lean = tu_path(tmp_dir, "sgd.mfr");
    char *again = tu_path(tmp_dir, "sgd-again.mfr"), *bad = tu_path(tmp_dir, "adam-bare.mfr");
    mfr_model *m = make_model(3, 4, 5); /* Adam's two state arrays, filled */
    m->cfg.optimizer = MFR_OPTIMIZER_SGD;
    assert_int_equal(mfr_model_save(m, legacy, &err), MFR_OK);
    mfr_model *l = NULL;
    assert_int_equal(mfr_model_load(legacy, &l, &err), MFR_OK);
    assert_int_equal(l->n_state, 2);
    assert_models_equal(m, l);
    assert_int_equal(mfr_model_save(l, again, &err), MFR_OK);
    size_t n1, n2, n3;
    char *b1 = tu_read_file(legacy, &n1), *b2 = tu_read_file(again, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(b1, b2, n1);

    mfr_model *sgd = NULL;
    assert_int_equal(mfr_model_alloc(3, 0, 4, 5, &sgd, &err), MFR_OK);
    sgd->cfg = m->cfg;
    sgd->epochs = m->epochs;
    sgd->data_fingerprint = m->data_fingerprint;
    free(sgd->split_spec);
    free(sgd->data_dir);
    sgd->split_spec = strdup(m->split_spec);
    sgd->data_dir = strdup(m->data_dir);
    memcpy(sgd->user_ids, m->user_ids, sizeof(int64_t) * 4);
    memcpy(sgd->item_ids, m->item_ids, sizeof(int64_t) * 5);
    memcpy(sgd->U, m->U, sizeof(float) * 4 * (size_t)m->k_pad);
    memcpy(sgd->V, m->V, sizeof(float) * 5 * (size_t)m->k_pad);
    assert_int_equal(mfr_model_save(sgd, lean, &err), MFR_OK);
    char *b3 = tu_read_file(lean, &n3);
    assert_int_equal(n1 - n3, 2 * 4 * 3 * (4 + 5)); /* two arrays, 4 bytes x k x (users + items) */
    mfr_model_destroy(l);
    l = NULL;
    assert_int_equal(mfr_model_load(lean, &l, &err), MFR_OK);
    assert_int_equal(l->n_state, 0);
    assert_memory_equal(l->U, sgd->U, sizeof(float) * 4 * (size_t)m->k_pad);
    assert_true(mfr_model_checksum(l) == mfr_model_checksum(m));

    sgd->cfg.optimizer = MFR_OPTIMIZER_ADAM; /* Adam without its moments */
    assert_int_equal(mfr_model_save(sgd, bad, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "state arrays"));
    assert_false(tu_exists(bad));
    mfr_model_destroy(l);
    mfr_model_destroy(sgd);
    mfr_model_destroy(m);
    free(b1), free(b2), free(b3);
    free(legacy), free(lean), free(again), free(bad);
}

static void test_alloc_defaults(void **state)
{
    (void)state;
    mfr_model *m = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_model_alloc(5, 0, 3, 4, &m, &err), MFR_OK);
    assert_int_equal(mfr_model_alloc_state(m, 2, &err), MFR_OK);
    assert_int_equal(mfr_model_k(m), 5);
    assert_int_equal(m->k_pad, mfr_pad_k(5));
    assert_int_equal(mfr_model_n_users(m), 3);
    assert_int_equal(mfr_model_n_items(m), 4);
    assert_int_equal(mfr_model_epochs(m), 0);
    assert_string_equal(mfr_model_split_spec(m), "");
    assert_string_equal(mfr_model_data_dir(m), "");
    assert_true(mfr_model_data_fingerprint(m) == 0);
    assert_int_equal(mfr_model_user_id(m, 0), 1);
    assert_int_equal(mfr_model_user_id(m, 2), 3);
    assert_int_equal(mfr_model_item_id(m, 3), 4);
    assert_int_equal(mfr_model_user_id(m, 3), -1);
    assert_int_equal(mfr_model_item_id(m, -1), -1);
    assert_int_equal((uintptr_t)m->U % 64, 0);
    assert_int_equal((uintptr_t)m->state[MFR_MODEL_ITEMS][1] % 64, 0);
    for (size_t x = 0; x < (size_t)3 * m->k_pad; x++) assert_true(m->U[x] == 0.0f);
    mfr_config cfg, def;
    mfr_model_config(m, &cfg, NULL);
    mfr_config_default(&def);
    assert_int_equal(cfg.k, 5);
    assert_int_equal(cfg.n_threads, 0);
    assert_true(cfg.max_memory == 0);
    assert_true(cfg.seed == def.seed);
    assert_true(mfr_model_bytes(5, 0, 0, 2, 3, 4) >= (size_t)(3 * 3 + 3 * 4) * 8 * sizeof(float) + 7 * 8);
    /* implicit feedback adds P (users) and Y, mY, vY (items) */
    assert_true(mfr_model_bytes(5, 0, 1, 2, 3, 4) >= mfr_model_bytes(5, 0, 0, 2, 3, 4) +
                                                      (size_t)(3 + 3 * 4) * 8 * sizeof(float));
    mfr_model_destroy(m);
    mfr_model_destroy(NULL);

    assert_int_equal(mfr_model_alloc(0, 0, 3, 4, &m, &err), MFR_ERR_INVALID);
    assert_null(m);
    assert_non_null(strstr(err.message, "k must be"));
    assert_int_equal(mfr_model_alloc(4, 0, 0, 4, &m, &err), MFR_ERR_INVALID);
    assert_int_equal(mfr_model_alloc(4, 0, 3, -1, &m, &err), MFR_ERR_INVALID);
    assert_true(mfr_model_bytes(0, 0, 0, 2, 1, 1) == 0);
    assert_true(mfr_model_bytes(1, 0, 0, 2, 0, 1) == 0);
}

static void test_accessors_null(void **state)
{
    (void)state;
    assert_int_equal(mfr_model_k(NULL), -1);
    assert_int_equal(mfr_model_n_users(NULL), -1);
    assert_null(mfr_model_split_spec(NULL));
    mfr_load_options opt;
    mfr_load_options_default(&opt);
    assert_null(mfr_model_data_source(NULL, &opt));
    assert_int_equal(opt.format, MFR_FORMAT_AUTO); /* untouched */
    assert_int_equal(mfr_model_user_id(NULL, 0), -1);
    assert_true(isnan(mfr_model_predict(NULL, 0, 0)));
    float v[4];
    assert_int_equal(mfr_model_user_vector(NULL, 0, v, NULL), MFR_ERR_INVALID);
}

static void test_predict_and_vectors(void **state)
{
    (void)state;
    mfr_model *m = NULL;
    assert_int_equal(mfr_model_alloc(3, 0, 2, 2, &m, NULL), MFR_OK);
    const float u0[3] = {1.0f, 2.0f, 3.0f}, u1[3] = {-1.0f, 0.5f, 0.0f};
    const float i0[3] = {0.5f, 0.25f, -1.0f}, i1[3] = {2.0f, 2.0f, 2.0f};
    memcpy(row_u(m, 0), u0, sizeof u0);
    memcpy(row_u(m, 1), u1, sizeof u1);
    memcpy(row_i(m, 0), i0, sizeof i0);
    memcpy(row_i(m, 1), i1, sizeof i1);
    assert_true(mfr_model_predict(m, 0, 0) == 1.0f * 0.5f + 2.0f * 0.25f + 3.0f * -1.0f);
    assert_true(mfr_model_predict(m, 0, 1) == 12.0f);
    assert_true(mfr_model_predict(m, 1, 0) == -0.375f);
    assert_true(mfr_model_predict(m, 1, 1) == -1.0f);
    assert_true(isnan(mfr_model_predict(m, 2, 0)));
    assert_true(isnan(mfr_model_predict(m, 0, -1)));

    float out[3];
    assert_int_equal(mfr_model_user_vector(m, 1, out, NULL), MFR_OK);
    assert_memory_equal(out, u1, sizeof u1);
    assert_int_equal(mfr_model_item_vector(m, 0, out, NULL), MFR_OK);
    assert_memory_equal(out, i0, sizeof i0);
    assert_int_equal(mfr_model_user_vector(m, 2, out, NULL), MFR_ERR_INVALID);
    assert_int_equal(mfr_model_item_vector(m, -1, out, NULL), MFR_ERR_INVALID);
    mfr_model_destroy(m);
}

static void test_evaluate(void **state)
{
    (void)state;
    mfr_model *m = NULL;
    assert_int_equal(mfr_model_alloc(2, 0, 2, 2, &m, NULL), MFR_OK);
    /* predictions: (0,0)=1, (0,1)=2, (1,0)=3, (1,1)=6 */
    row_u(m, 0)[0] = 1.0f;
    row_u(m, 1)[0] = 1.0f;
    row_u(m, 1)[1] = 2.0f;
    row_i(m, 0)[0] = 1.0f;
    row_i(m, 0)[1] = 1.0f;
    row_i(m, 1)[0] = 2.0f;
    row_i(m, 1)[1] = 2.0f;
    int32_t user[4] = {0, 0, 1, 1}, item[4] = {0, 1, 0, 1};
    float rating[4] = {2.0f, 2.0f, 1.0f, 5.0f}; /* errors -1, 0, 2, 1 */
    struct mfr_ratings r = {.n = 4, .user = user, .item = item, .rating = rating};
    mfr_metrics mt = {0};
    mfr_error err = {0};
    assert_int_equal(mfr_model_evaluate(m, &r, &mt, &err), MFR_OK);
    assert_int_equal(mt.n, 4);
    assert_true(mt.mse == 6.0 / 4.0);
    assert_true(mt.rmse == sqrt(1.5));
    assert_true(mt.mae == 1.0);

    r.n = 0;
    assert_int_equal(mfr_model_evaluate(m, &r, &mt, &err), MFR_ERR_INVALID);
    r.n = 4;
    item[2] = 2;
    assert_int_equal(mfr_model_evaluate(m, &r, &mt, &err), MFR_ERR_MISMATCH);
    assert_non_null(strstr(err.message, "rating 2"));
    assert_non_null(strstr(err.message, "item index 2"));
    item[2] = 0;
    user[3] = -1;
    assert_int_equal(mfr_model_evaluate(m, &r, &mt, &err), MFR_ERR_MISMATCH);
    assert_non_null(strstr(err.message, "user index -1"));
    assert_int_equal(mfr_model_evaluate(m, NULL, &mt, &err), MFR_ERR_INVALID);
    mfr_model_destroy(m);
}

/* A prediction by its definition (model_priv.h): eight lane partials of
 * fmaf over the k_pad floats, then lane l + l + 4, l + l + 2, 0 + 1. */
static float lane_dot(const float *a, const float *b, int32_t k_pad)
{
    float acc[8] = {0};
    for (int32_t c = 0; c < k_pad; c += 8)
        for (int l = 0; l < 8; l++) acc[l] = fmaf(a[c + l], b[c + l], acc[l]);
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

/* mfr_eval_chunk_sums is its definition bit for bit (eight lanes, x in
 * lane x % 8, each lane's square then add, fabs; the lanes as a fixed
 * tree), for every length 0..40 (the tails), with infinities, -0.0,
 * tiny and huge values; and a change of lane order would show. */
static void test_chunk_sums_definition(void **state)
{
    (void)state;
    double e[40];
    for (int x = 0; x < 40; x++)
        e[x] = (x % 7 == 3) ? -0.0 : (x % 11 == 5) ? 1e300 : (x % 13 == 8) ? -1e-300 : (x - 17.25) / 3.0;
    for (int with_inf = 0; with_inf < 2; with_inf++) {
        if (with_inf) e[21] = -INFINITY;
        for (int64_t n = 0; n <= 40; n++) {
            double s[8] = {0}, a[8] = {0};
            for (int64_t x = 0; x < n; x++) s[x % 8] += e[x] * e[x], a[x % 8] += fabs(e[x]);
            const double want_sq = ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
            const double want_ab = ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
            double sq = 0.0, ab = 0.0;
            mfr_eval_chunk_sums(e, n, &sq, &ab);
            assert_memory_equal(&sq, &want_sq, sizeof sq);
            assert_memory_equal(&ab, &want_ab, sizeof ab);
        }
    }
    /* the lane order matters for these values: a sequential sum differs */
    double seq = 0.0, sq = 0.0, ab = 0.0;
    const double f[16] = {1e16, 1, -1e16, 1, 3, 1e-3, 7, 5, 1e8, 2, 1, 1, 1, 1, 1, 1};
    for (int x = 0; x < 16; x++) seq += fabs(f[x]);
    mfr_eval_chunk_sums(f, 16, &sq, &ab);
    assert_true(seq != ab);
}

/* The parallel evaluation gives, for 1, 2, 3 and 7 threads, exactly the
 * bits of the plain loop of its definition (float dot product in lane
 * order, double error; sums in chunks of 4096 ratings, eight lanes a
 * chunk combined as a tree, the chunks in order), over several blocks of
 * ratings and a tail; a bad index late in the set is still the first one
 * reported. */
static void test_evaluate_same_bits_any_threads(void **state)
{
    (void)state;
    enum { NU = 5000, NI = 700, K = 13, N = 2 * 262144 + 12345 };
    mfr_model *m = NULL;
    assert_int_equal(mfr_model_alloc(K, 1, NU, NI, &m, NULL), MFR_OK);
    for (int32_t u = 0; u < NU; u++)
        for (int32_t j = 0; j < m->k_row; j++) row_u(m, u)[j] = (float)((u * 7 + j * 13) % 101) / 37.0f - 1.3f;
    for (int32_t i = 0; i < NI; i++)
        for (int32_t j = 0; j < m->k_row; j++) row_i(m, i)[j] = (float)((i * 11 + j * 5) % 89) / 53.0f - 0.7f;
    int32_t *user = malloc(sizeof(int32_t) * N), *item = malloc(sizeof(int32_t) * N);
    float *rating = malloc(sizeof(float) * N);
    double sq = 0.0, ab = 0.0, lane_sq[8], lane_ab[8];
    for (int64_t x = 0; x < N; x++) {
        user[x] = (int32_t)((x * 2654435761u) % NU);
        item[x] = (int32_t)((x * 40503u + 7) % NI);
        rating[x] = (float)(1 + x % 5);
        double e = (double)lane_dot(row_u(m, user[x]), row_i(m, item[x]), m->k_pad) - (double)rating[x];
        if (x % 4096 == 0)
            for (int l = 0; l < 8; l++) lane_sq[l] = lane_ab[l] = 0.0;
        lane_sq[x % 4096 % 8] += e * e;
        lane_ab[x % 4096 % 8] += fabs(e);
        if (x % 4096 == 4095 || x == N - 1) {
            sq += ((lane_sq[0] + lane_sq[4]) + (lane_sq[2] + lane_sq[6])) +
                  ((lane_sq[1] + lane_sq[5]) + (lane_sq[3] + lane_sq[7]));
            ab += ((lane_ab[0] + lane_ab[4]) + (lane_ab[2] + lane_ab[6])) +
                  ((lane_ab[1] + lane_ab[5]) + (lane_ab[3] + lane_ab[7]));
        }
    }
    struct mfr_ratings r = {.n = N, .user = user, .item = item, .rating = rating};
    const int threads[] = {1, 2, 3, 7};
    for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
        mfr_metrics mt = {0};
        mfr_error err = {0};
        mfr_set_threads(threads[t]);
        assert_int_equal(mfr_model_evaluate(m, &r, &mt, &err), MFR_OK);
        assert_memory_equal(&mt.mse, &(double){sq / N}, sizeof(double));
        assert_memory_equal(&mt.mae, &(double){ab / N}, sizeof(double));
        int32_t keep_i = item[N - 5], keep_u = user[N - 2];
        item[N - 5] = NI, user[N - 2] = -1;
        assert_int_equal(mfr_model_evaluate(m, &r, &mt, &err), MFR_ERR_MISMATCH);
        char want[64];
        snprintf(want, sizeof want, "rating %d: item index %d", N - 5, NI);
        assert_non_null(strstr(err.message, want));
        item[N - 5] = keep_i, user[N - 2] = keep_u;
        /* Bad indices in several blocks and in several threads' parts of
         * one block: the first in rating order is named, whichever thread
         * met it first. */
        const int64_t at[][3] = {{262144 + 200000, 262144 + 5, 2 * 262144 + 3},
                                 {200001, 262144 + 1, N - 1},
                                 {N - 1, 262143, 131073}};
        for (int c = 0; c < 3; c++) {
            int32_t keep[3];
            int64_t first = N;
            for (int q = 0; q < 3; q++) {
                keep[q] = user[at[c][q]], user[at[c][q]] = NU + q;
                if (at[c][q] < first) first = at[c][q];
            }
            assert_int_equal(mfr_model_evaluate(m, &r, &mt, &err), MFR_ERR_MISMATCH);
            snprintf(want, sizeof want, "rating %lld: user index %d", (long long)first,
                     (int)user[first]);
            assert_non_null(strstr(err.message, want));
            for (int q = 0; q < 3; q++) user[at[c][q]] = keep[q];
        }
        assert_int_equal(mfr_model_evaluate(m, &r, &mt, &err), MFR_OK);
        assert_memory_equal(&mt.mse, &(double){sq / N}, sizeof(double));
    }
    mfr_set_threads(0);
    free(user), free(item), free(rating);
    mfr_model_destroy(m);
}

static void test_checksum(void **state)
{
    (void)state;
    mfr_model *m = NULL;
    assert_int_equal(mfr_model_alloc(1, 0, 1, 1, &m, NULL), MFR_OK);
    assert_int_equal(mfr_model_alloc_state(m, 2, NULL), MFR_OK);
    row_u(m, 0)[0] = 1.0f; /* 0x3f800000 */
    row_i(m, 0)[0] = -2.0f; /* 0xc0000000 */
    const unsigned char le[8] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0};
    uint64_t want = mfr_fnv1a(MFR_FNV_INIT, le, sizeof le);
    assert_true(mfr_model_checksum(m) == want);
    /* Padding lanes and moments are not part of the checksum. */
    row_u(m, 0)[1] = 7.0f;
    m->state[MFR_MODEL_USERS][0][0] = 3.0f;
    assert_true(mfr_model_checksum(m) == want);
    row_i(m, 0)[0] = 2.0f;
    assert_true(mfr_model_checksum(m) != want);
    mfr_model_destroy(m);
}

static void test_check_dataset(void **state)
{
    (void)state;
    mfr_model *m = make_model(2, 2, 3);
    int64_t uids[2] = {100, 103}, iids[3] = {-5, -3, -1};
    struct mfr_dataset ds = {0};
    ds.n_users = 2;
    ds.n_items = 3;
    ds.user_ids = uids;
    ds.item_ids = iids;
    ds.fingerprint = m->data_fingerprint;
    mfr_error err = {0};
    assert_int_equal(mfr_model_check_dataset(m, &ds, &err), MFR_OK);

    ds.fingerprint ^= 1;
    assert_int_equal(mfr_model_check_dataset(m, &ds, &err), MFR_ERR_MISMATCH);
    assert_non_null(strstr(err.message, "fingerprint"));
    m->data_fingerprint = 0; /* unknown: only the id maps are compared */
    assert_int_equal(mfr_model_check_dataset(m, &ds, &err), MFR_OK);

    iids[1] = 42;
    assert_int_equal(mfr_model_check_dataset(m, &ds, &err), MFR_ERR_MISMATCH);
    assert_non_null(strstr(err.message, "item index 1"));
    iids[1] = -3;
    uids[0] = 1;
    assert_int_equal(mfr_model_check_dataset(m, &ds, &err), MFR_ERR_MISMATCH);
    assert_non_null(strstr(err.message, "user index 0"));
    uids[0] = 100;
    ds.n_items = 2;
    assert_int_equal(mfr_model_check_dataset(m, &ds, &err), MFR_ERR_MISMATCH);
    assert_non_null(strstr(err.message, "3 items"));
    ds.n_items = 3;
    ds.n_users = 5;
    assert_int_equal(mfr_model_check_dataset(m, &ds, &err), MFR_ERR_MISMATCH);
    assert_non_null(strstr(err.message, "users"));
    mfr_model_destroy(m);
}

/* ------------------------------------------------------------------ */
/* Model files                                                          */
/* ------------------------------------------------------------------ */

/* What the temporary-file observer was told, in order. */
static char g_seen_tmp[3][4096];
static int g_n_seen;

static void record_tmp(const char *tmp)
{
    if (g_n_seen < 3) snprintf(g_seen_tmp[g_n_seen], sizeof g_seen_tmp[0], "%s", tmp ? tmp : "(null)");
    g_n_seen++;
}

/* A save tells the observer "" just before it creates its temporary file
 * (a signal handler waits from there), its name (PATH.tmpXXXXXX, there
 * while it writes) and then NULL, once it is renamed into place. */
static void test_tmp_observer(void **state)
{
    (void)state;
    mfr_error err = {0};
    mfr_model *m = make_model(3, 4, 5);
    char *p = tu_path(tmp_dir, "obs.mfr");
    g_n_seen = 0;
    mfr_set_tmp_observer(record_tmp);
    assert_int_equal(mfr_model_save(m, p, &err), MFR_OK);
    mfr_set_tmp_observer(NULL);
    assert_int_equal(g_n_seen, 3);
    assert_string_equal(g_seen_tmp[0], "");
    assert_true(strncmp(g_seen_tmp[1], p, strlen(p)) == 0 && !strncmp(g_seen_tmp[1] + strlen(p), ".tmp", 4));
    assert_false(tu_exists(g_seen_tmp[1])); /* renamed */
    assert_string_equal(g_seen_tmp[2], "(null)");
    assert_int_equal(mfr_model_save(m, p, &err), MFR_OK); /* no observer: nothing told */
    assert_int_equal(g_n_seen, 3);
    free(p);
    mfr_model_destroy(m);
}

static void test_save_load_roundtrip(void **state)
{
    (void)state;
    mfr_error err = {0};
    const int32_t ks[] = {1, 3, 8, 9, 17};
    for (size_t t = 0; t < sizeof ks / sizeof *ks; t++) {
        mfr_model *m = make_model(ks[t], 4, 5);
        char *p1 = tu_path(tmp_dir, "rt1.mfr"), *p2 = tu_path(tmp_dir, "rt2.mfr");
        char *p3 = tu_path(tmp_dir, "rt3.mfr");
        assert_int_equal(mfr_model_save(m, p1, &err), MFR_OK);
        assert_int_equal(mfr_model_save(m, p2, &err), MFR_OK);
        mfr_model *l = NULL;
        assert_int_equal(mfr_model_load(p1, &l, &err), MFR_OK);
        assert_models_equal(m, l);
        assert_true(mfr_model_checksum(m) == mfr_model_checksum(l));
        mfr_config cfg;
        mfr_model_config(l, &cfg, NULL);
        assert_int_equal(cfg.n_threads, 0);
        assert_true(cfg.max_memory == 0);
        assert_true(cfg.seed == UINT64_C(0xfedcba9876543210));
        /* the -0.0f sign bit survived */
        assert_true(signbit(l->state[MFR_MODEL_USERS][0][0]));

        /* Two saves, and a save of the loaded copy, are byte-identical. */
        assert_int_equal(mfr_model_save(l, p3, &err), MFR_OK);
        size_t n1, n2, n3;
        char *b1 = tu_read_file(p1, &n1), *b2 = tu_read_file(p2, &n2);
        char *b3 = tu_read_file(p3, &n3);
        assert_int_equal(n1, n2);
        assert_int_equal(n1, n3);
        assert_memory_equal(b1, b2, n1);
        assert_memory_equal(b1, b3, n1);
        free(b1);
        free(b2);
        free(b3);
        mfr_model_destroy(l);
        mfr_model_destroy(m);
        free(p1);
        free(p2);
        free(p3);
    }
}

/* The file checksum of format version 2 exactly as docs/MODEL_FORMAT.md
 * states it, written out plainly (one pass, no streaming). */
static uint64_t spec_checksum(const unsigned char *b, size_t n)
{
    const uint64_t P = UINT64_C(0x9e3779b97f4a7c15);
    uint64_t lane[4] = {1, 2, 3, 4};
    size_t full = n / 32 * 32;
    for (size_t g = 0; g < full; g += 32)
        for (int j = 0; j < 4; j++) {
            uint64_t w = 0;
            for (int x = 0; x < 8; x++) w |= (uint64_t)b[g + 8 * (size_t)j + (size_t)x] << (8 * x);
            lane[j] = (lane[j] ^ w) * P;
            lane[j] ^= lane[j] >> 29;
        }
    uint64_t h = (uint64_t)n * P;
    for (size_t x = full; x < n; x++) h = (h ^ b[x]) * UINT64_C(0x100000001b3);
    for (int j = 0; j < 4; j++) {
        h ^= lane[j];
        h *= P;
        h ^= h >> 32;
    }
    return h;
}

/* The streaming hash gives the one-pass value however the bytes are cut. */
static void test_hash_streaming(void **state)
{
    (void)state;
    unsigned char b[300];
    for (size_t x = 0; x < sizeof b; x++) b[x] = (unsigned char)(x * 37 + 11);
    for (size_t n = 0; n <= sizeof b; n += 7) {
        uint64_t want = spec_checksum(b, n);
        assert_true(mfr_hash64(0, b, n) == want);
        for (size_t cut = 1; cut < 70; cut += 3) {
            struct mfr_hash h;
            mfr_hash_init(&h, 0);
            for (size_t at = 0; at < n; at += cut) mfr_hash_update(&h, b + at, at + cut <= n ? cut : n - at);
            assert_true(mfr_hash_final(&h) == want);
        }
    }
    /* any one changed bit changes it */
    uint64_t base = spec_checksum(b, sizeof b);
    for (size_t x = 0; x < sizeof b; x += 13) {
        b[x] ^= 4;
        assert_true(mfr_hash64(0, b, sizeof b) != base);
        b[x] ^= 4;
    }
}

/* A version 1 file (FNV-1a 64 checksum), as earlier builds wrote, still
 * loads, into the same model; with a version 2 checksum it is corrupt. */
static void test_version1_reads(void **state)
{
    (void)state;
    size_t len;
    unsigned char *b = small_model_file("v1.mfr", &len);
    char *p2 = put_bytes("v2.mfr", b, len);
    put_le32(b + 8, 1);
    uint64_t h = mfr_fnv1a(MFR_FNV_INIT, b, len - 8);
    for (int s = 0; s < 8; s++) b[len - 8 + s] = (unsigned char)(h >> (8 * s));
    char *p1 = put_bytes("v1.mfr", b, len);
    mfr_model *m1 = NULL, *m2 = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_model_load(p1, &m1, &err), MFR_OK);
    assert_int_equal(mfr_model_load(p2, &m2, &err), MFR_OK);
    assert_true(mfr_model_checksum(m1) == mfr_model_checksum(m2));
    assert_int_equal(mfr_model_epochs(m1), mfr_model_epochs(m2));
    mfr_model_destroy(m1);
    mfr_model_destroy(m2);
    free(p1);
    /* version 1 with the version 2 checksum */
    h = spec_checksum(b, len - 8);
    for (int s = 0; s < 8; s++) b[len - 8 + s] = (unsigned char)(h >> (8 * s));
    p1 = put_bytes("v1bad.mfr", b, len);
    assert_int_equal(mfr_model_load(p1, &m1, &err), MFR_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "checksum mismatch"));
    free(p1);
    free(p2);
    free(b);
}

/* The layout documented in docs/MODEL_FORMAT.md, checked field by field. */
static void test_file_layout(void **state)
{
    (void)state;
    size_t len;
    unsigned char *b = small_model_file("layout.mfr", &len);
    assert_memory_equal(b, "MFRECMDL", 8);
    assert_int_equal(get_le32(b + 8), 2);
    uint32_t header_size = get_le32(b + 12);
    assert_int_equal(get_le32(b + 16), 3); /* k */
    assert_int_equal(get_le32(b + 20), 2); /* n_users */
    assert_int_equal(get_le32(b + 24), 3); /* n_items */
    assert_int_equal(get_le32(b + 28), 17); /* epochs, low half */
    assert_int_equal(get_le32(b + 44), 17); /* configuration records */
    /* 17 records: 6 int32 values, 10 doubles and the seed; two strings */
    size_t want_header = 48 + 6 * 12 + 11 * 16 + 4 + strlen("sklearn:300:0.25") + 4 +
                         strlen("/data/ml-100k");
    assert_int_equal(header_size, want_header);
    assert_int_equal(len, want_header + 5 * 8 + 3 * 4 * 3 * 5 + 8);
    uint64_t h = spec_checksum(b, len - 8), stored = 0;
    for (int s = 0; s < 8; s++) stored |= (uint64_t)b[len - 8 + s] << (8 * s);
    assert_true(h == stored);
    free(b);
}

/* mfr_model_load_weights (the read-only commands' load): the same factors,
 * ids and checksum as mfr_model_load without the optimizer state, every
 * byte of the file still checked (a bad moment or a flipped state byte
 * is corrupt), and such a model is not saved (its state is missing). */
static void test_load_weights(void **state)
{
    (void)state;
    mfr_error err = {0};
    mfr_model *m = make_implicit_model(3, 4, 5);
    char *path = tu_path(tmp_dir, "weights.mfr"), *again = tu_path(tmp_dir, "weights-again.mfr");
    assert_int_equal(mfr_model_save(m, path, &err), MFR_OK);
    mfr_model *w = NULL;
    assert_int_equal(mfr_model_load_weights(path, &w, &err), MFR_OK);
    assert_int_equal(w->n_state, 0);
    for (int g = 0; g < MFR_MODEL_N_GROUPS; g++)
        for (int s = 0; s < MFR_MODEL_MAX_STATE; s++) assert_null(w->state[g][s]);
    assert_true(mfr_model_checksum(w) == mfr_model_checksum(m));
    assert_memory_equal(w->U, m->U, sizeof(float) * 4 * (size_t)m->k_pad);
    assert_memory_equal(w->V, m->V, sizeof(float) * 5 * (size_t)m->k_pad);
    assert_memory_equal(w->P, m->P, sizeof(float) * 4 * (size_t)m->k_pad);
    assert_memory_equal(w->Y, m->Y, sizeof(float) * 5 * (size_t)m->k_pad);
    assert_memory_equal(w->user_ids, m->user_ids, sizeof(int64_t) * 4);
    assert_memory_equal(w->item_ids, m->item_ids, sizeof(int64_t) * 5);
    assert_string_equal(w->split_spec, m->split_spec);
    assert_int_equal(mfr_model_save(w, again, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "state arrays"));
    assert_false(tu_exists(again));
    mfr_model_destroy(w);
    w = NULL;

    size_t len;
    unsigned char *b = (unsigned char *)tu_read_file(path, &len);
    const uint32_t header_size = get_le32(b + 12);
    /* vU[0][0]: after the ids, U, V and mU (k = 3 floats a row) */
    const size_t vu_at = header_size + 8 * (4 + 5) + 4 * 3 * (4 + 5 + 4);
    assert_true(vu_at + 4 < len);
    b[vu_at + 1] ^= 0x40; /* a state byte: the checksum catches it */
    tu_write_file(tmp_dir, "weights.mfr", (const char *)b, len);
    assert_int_equal(mfr_model_load_weights(path, &w, &err), MFR_ERR_CORRUPT);
    assert_null(w);
    assert_non_null(strstr(err.message, "checksum mismatch"));
    b[vu_at + 1] ^= 0x40;
    put_le32(b + vu_at, 0xbf800000u); /* vU[0][0] = -1, a valid checksum */
    fix_checksum(b, len);
    tu_write_file(tmp_dir, "weights.mfr", (const char *)b, len);
    assert_int_equal(mfr_model_load_weights(path, &w, &err), MFR_ERR_CORRUPT);
    assert_null(w);
    assert_non_null(strstr(err.message, "vU[0][0]"));
    tu_write_file(tmp_dir, "weights.mfr", (const char *)b, len - 1); /* truncated */
    assert_int_equal(mfr_model_load_weights(path, &w, &err), MFR_ERR_CORRUPT);
    assert_null(w);
    free(b);
    mfr_model_destroy(m);
    free(path), free(again);
}

static void test_truncated_at_every_byte(void **state)
{
    (void)state;
    size_t len;
    unsigned char *b = small_model_file("full.mfr", &len);
    char *path = tu_path(tmp_dir, "trunc.mfr");
    for (size_t cut = 0; cut < len; cut++) {
        tu_write_file(tmp_dir, "trunc.mfr", (const char *)b, cut);
        mfr_model *m = (mfr_model *)(uintptr_t)1;
        mfr_error err = {0};
        int rc = mfr_model_load(path, &m, &err);
        if (rc != MFR_ERR_CORRUPT) fprintf(stderr, "cut at %zu: %s\n", cut, err.message);
        assert_int_equal(rc, MFR_ERR_CORRUPT);
        assert_null(m);
        assert_non_null(strstr(err.message, path));
    }
    free(path);
    free(b);
}

static void test_flipped_byte_anywhere(void **state)
{
    (void)state;
    size_t len;
    unsigned char *b = small_model_file("orig.mfr", &len);
    char *path = tu_path(tmp_dir, "flip.mfr");
    const unsigned char masks[] = {0x01, 0x80, 0xff};
    for (size_t at = 0; at < len; at++)
        for (size_t x = 0; x < sizeof masks; x++) {
            b[at] ^= masks[x];
            tu_write_file(tmp_dir, "flip.mfr", (const char *)b, len);
            b[at] ^= masks[x];
            mfr_model *m = NULL;
            mfr_error err = {0};
            int rc = mfr_model_load(path, &m, &err);
            if (rc != MFR_ERR_CORRUPT)
                fprintf(stderr, "flip %02x at %zu: %s\n", masks[x], at, err.message);
            assert_int_equal(rc, MFR_ERR_CORRUPT);
            assert_null(m);
            assert_non_null(strstr(err.message, path));
        }
    /* A body byte flip is caught by the checksum. */
    b[len - 20] ^= 0x10;
    tu_write_file(tmp_dir, "flip.mfr", (const char *)b, len);
    mfr_model *m = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_model_load(path, &m, &err), MFR_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "checksum mismatch: file is corrupted"));
    free(path);
    free(b);
}

static void test_trailing_bytes(void **state)
{
    (void)state;
    size_t len;
    unsigned char *b = small_model_file("trail.mfr", &len);
    unsigned char *more = malloc(len + 1);
    memcpy(more, b, len);
    more[len] = 0;
    char *path = put_bytes("trail2.mfr", more, len + 1);
    mfr_model *m = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_model_load(path, &m, &err), MFR_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "trailing"));
    free(path);
    free(more);
    free(b);
}

static void test_foreign_files(void **state)
{
    (void)state;
    mfr_model *m = NULL;
    mfr_error err = {0};

    size_t len;
    unsigned char *b = small_model_file("magic.mfr", &len);
    b[0] = 'X';
    char *path = put_bytes("magic.mfr", b, len);
    assert_int_equal(mfr_model_load(path, &m, &err), MFR_ERR_CORRUPT);
    char want[600];
    snprintf(want, sizeof want, "%s is not an mfrec model file", path);
    assert_string_equal(err.message, want);
    free(path);
    free(b);

    path = put_bytes("u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n", 40);
    assert_int_equal(mfr_model_load(path, &m, &err), MFR_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "is not an mfrec model file"));
    free(path);

    /* a training checkpoint, the usual mix-up, is named as one */
    path = put_bytes("run.ckpt", "MFRECCKP\x01\0\0\0\x03\0\0\0 and its sections", 32);
    assert_int_equal(mfr_model_load(path, &m, &err), MFR_ERR_CORRUPT);
    snprintf(want, sizeof want, "%s is a training checkpoint, not a model file", path);
    tu_expect_in(err.message, want);
    free(path);

    path = put_bytes("empty.mfr", "", 0);
    assert_int_equal(mfr_model_load(path, &m, &err), MFR_ERR_CORRUPT);
    free(path);

    /* A future version is refused with a message that says so. */
    b = small_model_file("v3.mfr", &len);
    put_le32(b + 8, 3);
    fix_checksum(b, len);
    path = put_bytes("v3.mfr", b, len);
    assert_int_equal(mfr_model_load(path, &m, &err), MFR_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "unsupported model format version 3"));
    free(path);
    free(b);

    path = tu_path(tmp_dir, "does-not-exist.mfr");
    assert_int_equal(mfr_model_load(path, &m, &err), MFR_ERR_IO);
    assert_non_null(strstr(err.message, path));
    assert_null(m);
    free(path);

    assert_int_equal(mfr_model_load(tmp_dir, &m, &err), MFR_ERR_IO); /* a directory */
}

/* Huge sizes in an otherwise valid header are refused before allocating. */
static void test_absurd_sizes(void **state)
{
    (void)state;
    size_t len;
    unsigned char *b = small_model_file("sizes.mfr", &len);
    const struct {
        size_t off;
        uint32_t value;
        const char *msg;
    } cases[] = {
        {16, 0, "k = 0"},
        {16, 5000, "k = 5000"},
        {20, 0, "n_users = 0"},
        {20, 0x80000000u, "n_users = -2147483648"},
        {24, 0x7fffffffu, "truncated or its header is corrupt"},
        {20, 1, "trailing bytes after the"},
        {32, 0x80000000u, "epoch count"},
        {12, 20, "header size 20"},
        {12, 0xffffffffu, "header size"},
        {44, 1000, "configuration records"},
    };
    char *path = tu_path(tmp_dir, "sizes2.mfr");
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        unsigned char *copy = malloc(len);
        memcpy(copy, b, len);
        put_le32(copy + cases[c].off, cases[c].value);
        fix_checksum(copy, len);
        tu_write_file(tmp_dir, "sizes2.mfr", (const char *)copy, len);
        mfr_model *m = NULL;
        mfr_error err = {0};
        assert_int_equal(mfr_model_load(path, &m, &err), MFR_ERR_CORRUPT);
        if (!strstr(err.message, cases[c].msg)) fprintf(stderr, "%s\n", err.message);
        assert_non_null(strstr(err.message, cases[c].msg));
        free(copy);
    }
    free(path);
    free(b);
}

/* A file whose checksum is right but whose factors hold NaN, or whose string
 * length points past the header, is still refused. */
static void test_bad_values_with_valid_checksum(void **state)
{
    (void)state;
    size_t len;
    unsigned char *b = small_model_file("nan.mfr", &len);
    uint32_t header_size = get_le32(b + 12);
    size_t u_at = header_size + 5 * 8; /* U[0][0] */
    put_le32(b + u_at + 4, 0x7fc00000u); /* U[0][1] = NaN */
    fix_checksum(b, len);
    char *path = put_bytes("nan.mfr", b, len);
    mfr_model *m = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_model_load(path, &m, &err), MFR_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "U[0][1]"));
    free(path);
    free(b);

    b = small_model_file("str.mfr", &len);
    header_size = get_le32(b + 12);
    size_t dir_len_at = header_size - strlen("/data/ml-100k") - 4;
    assert_int_equal(get_le32(b + dir_len_at), strlen("/data/ml-100k"));
    put_le32(b + dir_len_at, 1000);
    fix_checksum(b, len);
    path = put_bytes("str.mfr", b, len);
    assert_int_equal(mfr_model_load(path, &m, &err), MFR_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "data dir length"));
    free(path);

    put_le32(b + dir_len_at, strlen("/data/ml-100k"));
    b[dir_len_at + 4] = 0; /* a NUL inside the string */
    fix_checksum(b, len);
    path = put_bytes("str.mfr", b, len);
    assert_int_equal(mfr_model_load(path, &m, &err), MFR_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "NUL"));
    free(path);
    free(b);
}

/* A file whose checksum is right but whose recorded settings are outside
 * the ranges training accepts (a learning rate of -5, beta1 of 7) is
 * refused, naming the setting. */
static void test_recorded_settings_out_of_range(void **state)
{
    (void)state;
    const struct {
        double lr, beta1;
        const char *name;
    } cases[] = {{-5.0, 0.9, "lr"}, {1e-3, 7.0, "beta1"}};
    for (size_t t = 0; t < sizeof cases / sizeof *cases; t++) {
        mfr_model *m = make_model(3, 2, 3);
        m->cfg.lr = cases[t].lr;
        m->cfg.beta1 = cases[t].beta1;
        char *path = tu_path(tmp_dir, "range.mfr");
        mfr_error err = {0};
        assert_int_equal(mfr_model_save(m, path, &err), MFR_OK);
        mfr_model *back = NULL;
        assert_int_equal(mfr_model_load(path, &back, &err), MFR_ERR_CORRUPT);
        assert_null(back);
        assert_non_null(strstr(err.message, "out of range"));
        assert_non_null(strstr(err.message, cases[t].name));
        free(path);
        mfr_model_destroy(m);
    }
}

/* Builds a file image from `b` with the configuration records replaced by
 * `records` (n_records of them, rec_len bytes), header size and checksum
 * fixed. */
static unsigned char *replace_records(const unsigned char *b, size_t len,
                                      const unsigned char *records, size_t rec_len,
                                      uint32_t n_records, size_t *out_len)
{
    uint32_t header_size = get_le32(b + 12);
    size_t old_rec_len = 6 * 12 + 11 * 16;
    size_t n = len - old_rec_len + rec_len;
    unsigned char *o = malloc(n);
    memcpy(o, b, 48);
    memcpy(o + 48, records, rec_len);
    memcpy(o + 48 + rec_len, b + 48 + old_rec_len, len - 48 - old_rec_len);
    put_le32(o + 12, (uint32_t)(header_size - old_rec_len + rec_len));
    put_le32(o + 44, n_records);
    fix_checksum(o, n);
    *out_len = n;
    return o;
}

/* test_config_records: a model file `b` (len bytes) with a bad implicit
 * weight is refused. */
static void check_config_implicit_corrupt(const unsigned char *b, size_t len)
{
    /* implicit (tag 17) decides which arrays follow: a negative or NaN
     * weight is corrupt, not a model without them */
    size_t n;
    mfr_model *m = NULL;
    mfr_error err = {0};
    const double bad[2] = {-1.0, NAN};
    for (int x = 0; x < 2; x++) {
        unsigned char r2[32] = {0};
        put_le32(r2 + 0, 1);
        put_le32(r2 + 4, 4);
        put_le32(r2 + 8, 3);
        put_le32(r2 + 12, 17);
        put_le32(r2 + 16, 8);
        uint64_t bits;
        memcpy(&bits, &bad[x], 8);
        put_le32(r2 + 20, (uint32_t)bits);
        put_le32(r2 + 24, (uint32_t)(bits >> 32));
        unsigned char *o2 = replace_records(b, len, r2, 28, 2, &n);
        char *p2 = put_bytes("cfg_imp.mfr", o2, n);
        assert_int_equal(mfr_model_load(p2, &m, &err), MFR_ERR_CORRUPT);
        if (!strstr(err.message, "implicit")) fail_msg("%s", err.message);
        assert_null(m);
        free(o2);
        free(p2);
    }
}

/* A model of b (len bytes) with records rec (k, then an unknown tag 500
 * of 5 bytes) and bytes after its arrays, the parts a newer mfrec adds
 * with a new tag (as implicit feedback and the softmax section were): the
 * message names the unknown record and the newer writer, not a corrupt
 * header (what a reader from before them said). A model record (from 1000
 * on) counts the same; without an unknown record the bytes stay a corrupt
 * header or an appended file. */
static void check_newer_records_named(const unsigned char *b, size_t len, unsigned char *rec)
{
    size_t n;
    mfr_model *m = NULL;
    mfr_error err = {0};
    char *path;
    for (int x = 0; x < 2; x++) {
        put_le32(rec + 12, x ? 1003 : 500);
        unsigned char *o2 = replace_records(b, len, rec, 25, 2, &n);
        unsigned char *o3 = calloc(n + 12, 1);
        memcpy(o3, o2, n - 8);
        fix_checksum(o3, n + 12);
        path = put_bytes("cfg2n.mfr", o3, n + 12);
        assert_int_equal(mfr_model_load(path, &m, &err), MFR_ERR_CORRUPT);
        assert_null(m);
        tu_expect_in(err.message, x ? "12 trailing bytes after" : "cfg2n.mfr: 12 trailing bytes after");
        tu_expect_in(err.message, x ? "and record 1003, which this build does not know: a newer mfrec "
                                      "wrote the model with parts this build cannot read"
                                    : "and record 500, which this build does not know: a newer mfrec "
                                      "wrote the model with parts this build cannot read");
        free(path);
        free(o3);
        free(o2);
    }
    put_le32(rec + 12, 500);
    unsigned char *o3 = calloc(len + 12, 1);
    memcpy(o3, b, len - 8);
    fix_checksum(o3, len + 12);
    path = put_bytes("cfg2t.mfr", o3, len + 12);
    assert_int_equal(mfr_model_load(path, &m, &err), MFR_ERR_CORRUPT);
    tu_expect_in(err.message, "12 trailing bytes after");
    tu_expect_in(err.message, "(a corrupt header, or another file appended)");
    free(path);
    free(o3);
}

/* Missing tags read as defaults, unknown tags are skipped, a known tag
 * with the wrong length or twice is refused. */
static void test_config_records(void **state)
{
    (void)state;
    size_t len, n;
    unsigned char *b = small_model_file("cfg.mfr", &len);
    mfr_config def;
    mfr_config_default(&def);
    mfr_model *m = NULL;
    mfr_error err = {0};

    check_config_implicit_corrupt(b, len);

    /* Only k (tag 1) and an unknown tag 500 with 5 bytes. */
    unsigned char rec[64] = {0};
    put_le32(rec + 0, 1);
    put_le32(rec + 4, 4);
    put_le32(rec + 8, 3);
    put_le32(rec + 12, 500);
    put_le32(rec + 16, 5);
    memcpy(rec + 20, "abcde", 5);
    unsigned char *o = replace_records(b, len, rec, 25, 2, &n);
    char *path = put_bytes("cfg2.mfr", o, n);
    assert_int_equal(mfr_model_load(path, &m, &err), MFR_OK);
    mfr_config cfg;
    mfr_model_config(m, &cfg, NULL);
    assert_int_equal(cfg.k, 3);
    assert_memory_equal(&cfg.lr, &def.lr, sizeof(double));
    assert_memory_equal(&cfg.init_std, &def.init_std, sizeof(double));
    assert_true(cfg.seed == def.seed);
    assert_int_equal(cfg.n_shards, def.n_shards);
    assert_int_equal(cfg.n_threads, 0);
    assert_true(cfg.max_memory == 0);
    assert_int_equal(m->epochs, 17);
    mfr_model_destroy(m);
    m = NULL;
    free(path);
    free(o);
    check_newer_records_named(b, len, rec);

    /* No records at all: k comes from the defaults and must match. */
    o = replace_records(b, len, rec, 0, 0, &n);
    path = put_bytes("cfg3.mfr", o, n);
    assert_int_equal(mfr_model_load(path, &m, &err), def.k == 3 ? MFR_OK : MFR_ERR_CORRUPT);
    mfr_model_destroy(m);
    m = NULL;
    free(o);
    free(path);

    /* lr (tag 2, a double) with 4 bytes. */
    put_le32(rec + 12, 2);
    put_le32(rec + 16, 4);
    o = replace_records(b, len, rec, 24, 2, &n);
    path = put_bytes("cfg4.mfr", o, n);
    assert_int_equal(mfr_model_load(path, &m, &err), MFR_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "lr"));
    free(o);
    free(path);

    /* lr = NaN. */
    put_le32(rec + 16, 8);
    put_le32(rec + 20, 0);
    put_le32(rec + 24, 0x7ff80000u);
    o = replace_records(b, len, rec, 28, 2, &n);
    path = put_bytes("cfg4b.mfr", o, n);
    assert_int_equal(mfr_model_load(path, &m, &err), MFR_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "lr is not finite"));
    free(o);
    free(path);

    /* k twice. */
    put_le32(rec + 12, 1);
    put_le32(rec + 16, 4);
    put_le32(rec + 20, 3);
    o = replace_records(b, len, rec, 24, 2, &n);
    path = put_bytes("cfg5.mfr", o, n);
    assert_int_equal(mfr_model_load(path, &m, &err), MFR_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "twice"));
    free(o);
    free(path);

    /* k in the configuration differs from the sizes' k. */
    put_le32(rec + 8, 4);
    o = replace_records(b, len, rec, 12, 1, &n);
    path = put_bytes("cfg6.mfr", o, n);
    assert_int_equal(mfr_model_load(path, &m, &err), MFR_ERR_CORRUPT);
    assert_non_null(strstr(err.message, "configuration k"));
    free(o);
    free(path);
    free(b);
}

/* The data source record (tag 256): written only when the training load
 * named a rating file, read back with its format, separator and header
 * rule; a file without it (every model saved before it existed, and every
 * model of a directory dataset) gives its data directory; a malformed or
 * repeated record is corrupt. */
static void test_data_source_record(void **state)
{
    (void)state;
    mfr_error err = {0};
    mfr_model *m = make_model(3, 2, 3), *l = NULL;
    mfr_load_options opt;
    mfr_load_options_default(&opt);
    opt.sep = 'x';
    assert_string_equal(mfr_model_data_source(m, &opt), "/data/ml-100k");
    assert_int_equal(opt.format, MFR_FORMAT_AUTO);
    assert_int_equal(opt.sep, 0);
    size_t plain_len, len;
    unsigned char *plain = small_model_file("src0.mfr", &plain_len);

    m->data_file = strdup("/data/ratings;v2.txt");
    m->data_format = MFR_FORMAT_DELIMITED;
    m->data_sep = ';';
    m->data_header = MFR_HEADER_NO;
    char *path = tu_path(tmp_dir, "src.mfr");
    assert_int_equal(mfr_model_save(m, path, &err), MFR_OK);
    unsigned char *b = (unsigned char *)tu_read_file(path, &len);
    /* one more record: tag, length, 3 u32 and the path */
    size_t rec = 8 + 12 + strlen(m->data_file);
    assert_int_equal(len, plain_len + rec);
    assert_int_equal(get_le32(b + 44), 18);
    assert_int_equal(get_le32(b + 12), get_le32(plain + 12) + rec);
    assert_int_equal(mfr_model_load(path, &l, &err), MFR_OK);
    assert_models_equal(m, l);
    mfr_load_options_default(&opt);
    opt.cache = MFR_CACHE_NEVER;
    assert_string_equal(mfr_model_data_source(l, &opt), "/data/ratings;v2.txt");
    assert_int_equal(opt.format, MFR_FORMAT_DELIMITED);
    assert_int_equal(opt.sep, ';');
    assert_int_equal(opt.header, MFR_HEADER_NO);
    assert_int_equal(opt.cache, MFR_CACHE_NEVER); /* the other fields are left alone */
    assert_string_equal(mfr_model_data_dir(l), "/data/ml-100k");
    mfr_model *c = NULL;
    assert_int_equal(mfr_model_copy(l, &c, &err), MFR_OK);
    assert_string_equal(mfr_model_data_source(c, NULL), "/data/ratings;v2.txt");
    mfr_model_destroy(c);
    mfr_model_destroy(l);
    l = NULL;

    /* Malformed: a format that is no format, a record too short for its
     * fixed part, an empty path, a NUL in the path; then the record twice. */
    size_t at = 48 + 6 * 12 + 11 * 16; /* the source record follows the 17 fields */
    const struct { size_t off; uint32_t v; } pokes[] = {
        {at + 8, 9}, {at + 4, 5}, {at + 4, 12}, {at + 20, 0},
    };
    for (size_t x = 0; x < sizeof pokes / sizeof *pokes; x++) {
        unsigned char *o = malloc(len);
        memcpy(o, b, len);
        if (x == 3) o[pokes[x].off] = 0; /* one byte of the path */
        else put_le32(o + pokes[x].off, pokes[x].v);
        fix_checksum(o, len);
        char *p2 = put_bytes("src_bad.mfr", o, len);
        assert_int_equal(mfr_model_load(p2, &l, &err), MFR_ERR_CORRUPT);
        assert_null(l);
        free(o);
        free(p2);
    }
    unsigned char *o = malloc(len + rec);
    memcpy(o, b, at + rec);
    memcpy(o + at + rec, b + at, len - at); /* the record, twice */
    put_le32(o + 44, 19);
    put_le32(o + 12, get_le32(b + 12) + (uint32_t)rec);
    fix_checksum(o, len + rec);
    char *p3 = put_bytes("src_twice.mfr", o, len + rec);
    assert_int_equal(mfr_model_load(p3, &l, &err), MFR_ERR_CORRUPT);
    if (!strstr(err.message, "data source record appears twice")) fail_msg("%s", err.message);
    free(o);
    free(p3);
    free(b);
    free(plain);
    free(path);
    mfr_model_destroy(m);
}

/* A model trained on a canonical split records its files' fingerprint
 * (MODEL_TAG_SPLIT_PIN, only when set: other models keep their bytes). */
static void test_split_pin_record(void **state)
{
    (void)state;
    mfr_error err = {0};
    mfr_model *m = make_model(3, 2, 3), *l = NULL;
    size_t plain_len, len;
    unsigned char *plain = small_model_file("pin0.mfr", &plain_len);
    m->split_pin = UINT64_C(0xfeedbeef12345678);
    char *path = tu_path(tmp_dir, "pin.mfr");
    assert_int_equal(mfr_model_save(m, path, &err), MFR_OK);
    unsigned char *b = (unsigned char *)tu_read_file(path, &len);
    assert_int_equal(len, plain_len + 16); /* tag, length, u64 */
    assert_int_equal(get_le32(b + 44), 18);
    assert_int_equal(mfr_model_load(path, &l, &err), MFR_OK);
    assert_models_equal(m, l);
    mfr_model *c = NULL;
    assert_int_equal(mfr_model_copy(l, &c, &err), MFR_OK);
    assert_true(c->split_pin == m->split_pin);
    mfr_model_destroy(c);
    mfr_model_destroy(l);
    l = NULL;
    /* a pin of 0 (no pin is written as no record) and a wrong length */
    size_t at = 48 + 6 * 12 + 11 * 16; /* the record follows the 17 fields */
    assert_int_equal(get_le32(b + at), 1002);
    for (int x = 0; x < 2; x++) {
        unsigned char *o = malloc(len);
        memcpy(o, b, len);
        if (x == 0) memset(o + at + 8, 0, 8);
        else put_le32(o + at + 4, 4);
        fix_checksum(o, len);
        char *p2 = put_bytes("pin_bad.mfr", o, len);
        assert_int_equal(mfr_model_load(p2, &l, &err), MFR_ERR_CORRUPT);
        assert_null(l);
        free(o);
        free(p2);
    }
    free(b);
    free(plain);
    free(path);
    mfr_model_destroy(m);
}

static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static void test_save_failures(void **state)
{
    (void)state;
    mfr_model *m = make_model(2, 2, 2);
    mfr_error err = {0};
    char *path = tu_path(tmp_dir, "no-such-dir/model.mfr");
    assert_int_equal(mfr_model_save(m, path, &err), MFR_ERR_IO);
    assert_non_null(strstr(err.message, path));
    assert_false(tu_exists(path));
    free(path);

    /* A message over the error's buffer (a path of 600 bytes, twice in
     * it) keeps its end: the file's name and the cause, not only the start
     * of the path. */
    char long_name[603]; /* three names of 200 bytes */
    memset(long_name, 'd', 602);
    long_name[200] = long_name[401] = '/';
    long_name[602] = '\0';
    char *long_dir = tu_path(tmp_dir, long_name);
    path = tu_path(long_dir, "missing/model.mfr");
    assert_int_equal(mfr_model_save(m, path, &err), MFR_ERR_IO);
    const size_t len = strlen(err.message), cause = strlen("model.mfr.tmpXXXXXX): No such file or directory");
    assert_true(len < sizeof err.message);
    assert_true(len > cause);
    assert_string_equal(err.message + len - cause, "model.mfr.tmpXXXXXX): No such file or directory");
    assert_non_null(strstr(err.message, "bytes cut) ..."));
    assert_true(!strncmp(err.message, "cannot create the temporary file for ", 37));
    free(path);
    free(long_dir);

    /* The cut falls between UTF-8 characters, not inside one: names of
     * two-byte characters (99 'é' each, 198 bytes), whatever the offsets. */
    for (int shift = 0; shift < 2; shift++) {
        char utf[700];
        size_t u = 0;
        for (int part = 0; part < 3; part++) {
            if (shift && part == 0) utf[u++] = 'x'; /* moves every offset by one byte */
            for (int k = 0; k < 99; k++) utf[u++] = (char)0xC3, utf[u++] = (char)0xA9;
            utf[u++] = '/';
        }
        utf[u - 1] = '\0';
        long_dir = tu_path(tmp_dir, utf);
        path = tu_path(long_dir, "missing/model.mfr");
        assert_int_equal(mfr_model_save(m, path, &err), MFR_ERR_IO);
        assert_non_null(strstr(err.message, "bytes cut) ..."));
        for (const unsigned char *p = (const unsigned char *)err.message; *p; p++) {
            if (*p < 0x80) continue;
            /* a lead byte of this test's characters, then its continuation */
            if (*p != 0xC3 || p[1] != 0xA9) fail_msg("a character cut in two at byte %d: %s",
                                                    (int)((const char *)p - err.message), err.message);
            p++;
        }
        free(path);
        free(long_dir);
    }

    /* Non-finite factors are refused before anything is written. */
    char *sub = tu_path(tmp_dir, "nan-dir");
    char cmd[700];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", sub);
    assert_int_equal(system(cmd), 0);
    path = tu_path(sub, "model.mfr");
    row_i(m, 1)[1] = INFINITY;
    assert_int_equal(mfr_model_save(m, path, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "V[1][1]"));
    assert_int_equal(dir_entries(sub), 0);
    row_i(m, 1)[1] = 0.5f;
    m->state[MFR_MODEL_USERS][1][1] = -1.0f;
    assert_int_equal(mfr_model_save(m, path, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "vU[0][1]"));
    m->state[MFR_MODEL_USERS][1][1] = 1.0f;
    m->cfg.eps = NAN;
    assert_int_equal(mfr_model_save(m, path, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "eps"));
    m->cfg.eps = 1e-8;
    assert_int_equal(dir_entries(sub), 0);

    /* Overwriting an existing file replaces it and leaves no temp file. */
    tu_write_file(sub, "model.mfr", "old", 3);
    assert_int_equal(mfr_model_save(m, path, &err), MFR_OK);
    assert_int_equal(dir_entries(sub), 1);
    mfr_model *l = NULL;
    assert_int_equal(mfr_model_load(path, &l, &err), MFR_OK);
    assert_models_equal(m, l);
    mfr_model_destroy(l);
    free(path);
    free(sub);

    assert_int_equal(mfr_model_save(NULL, "x", &err), MFR_ERR_INVALID);
    assert_int_equal(mfr_model_load("x", NULL, &err), MFR_ERR_INVALID);
    mfr_model_destroy(m);
}

/* A file of several writeback chunks (common.c starts the disk's writes
 * every 8 MiB while it writes) reads back whole; a write that fails after
 * the first chunks (a file size limit: EFBIG) fails the save with its
 * cause, leaves no temporary file and keeps the file it would replace. */
/* A save into a directory its writer may write but not read (mode 0333,
 * a drop box): the file is renamed in place, and the directory cannot be
 * opened to sync it. That was MFR_ERR_IO ("cannot sync directory") with
 * the new file at path, against "on failure nothing is left at path". As
 * an unprivileged user in a child when the test runs as root (root opens
 * any directory). */
static void test_save_into_write_only_dir(void **state)
{
    (void)state;
    char *top = tu_mkdtemp();
    assert_int_equal(chmod(top, 0711), 0);
    char *dir = tu_path(top, "drop-box");
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(chmod(dir, 0333), 0);
    char *path = tu_path(dir, "a.npy");
    const pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(77);
        /* nobody may not reach it (a TMPDIR under a 0700 home): not what is tested */
        if (access(dir, W_OK | X_OK) != 0) _exit(77);
        const float a[4] = {1, 2, 3, 4};
        mfr_error err = {0};
        const int rc = mfr_npy_write_f32(path, 2, 2, a, &err);
        if (rc != MFR_OK) fprintf(stderr, "%s\n", err.message);
        _exit(rc == MFR_OK ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(chmod(dir, 0700), 0);
    if (WEXITSTATUS(status) == 77) skip(); /* root that may not become nobody, or nobody kept out */
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_true(tu_exists(path));
    free(path);
    free(dir);
    tu_rmtree(top);
    free(top);
}

static void test_save_large_and_write_error(void **state)
{
    (void)state;
    mfr_model *m = make_model(16, 40000, 40000); /* 6 arrays, 15.4 MB */
    mfr_error err = {0};
    char *sub = tu_path(tmp_dir, "large");
    assert_int_equal(mkdir(sub, 0755), 0);
    char *path = tu_path(sub, "model.mfr"), *path2 = tu_path(sub, "other.mfr");
    assert_int_equal(mfr_model_save(m, path, &err), MFR_OK);
    size_t n;
    char *bytes = tu_read_file(path, &n);
    assert_true(n > (size_t)15 << 20);
    mfr_model *l = NULL;
    assert_int_equal(mfr_model_load(path, &l, &err), MFR_OK);
    assert_models_equal(m, l);
    mfr_model_destroy(l);

    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)12 << 20;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    const int rc_new = mfr_model_save(m, path2, &err);
    char msg_new[sizeof err.message];
    memcpy(msg_new, err.message, sizeof msg_new);
    const int rc_old = mfr_model_save(m, path, &err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);
    assert_int_equal(rc_new, MFR_ERR_IO);
    assert_non_null(strstr(msg_new, path2));
    assert_non_null(strstr(msg_new, strerror(EFBIG)));
    assert_int_equal(rc_old, MFR_ERR_IO);
    assert_int_equal(dir_entries(sub), 1); /* the first file, no temporary one */
    size_t n2;
    char *again = tu_read_file(path, &n2);
    assert_int_equal(n2, n);
    assert_memory_equal(again, bytes, n);
    free(again);
    free(bytes);
    free(path);
    free(path2);
    free(sub);
    mfr_model_destroy(m);
}

/* A writer that ignores its writes' results, as one that checks the
 * stream only at the end, and whose later calls change errno. */
static int write_past_limit(FILE *f, void *ctx, mfr_error *err)
{
    (void)ctx, (void)err;
    static char block[256 << 10];
    (void)fwrite(block, 1, sizeof block, f);
    errno = ENOENT;
    return MFR_OK;
}

/* A failed write is reported with its own cause, not with the errno that
 * the writer's later calls left (the stream's buffer is empty at the end,
 * so the final flush writes nothing to set errno again). */
static void test_write_error_keeps_its_cause(void **state)
{
    (void)state;
    char *path = tu_path(tmp_dir, "limit.bin");
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)100 << 10;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    mfr_error err = {0};
    const int rc = mfr_write_atomic(path, write_past_limit, NULL, &err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);
    assert_int_equal(rc, MFR_ERR_IO);
    tu_expect_in(err.message, strerror(EFBIG));
    assert_int_equal(access(path, F_OK), -1);
    free(path);
}

/* ------------------------------------------------------------------ */
/* NumPy .npy                                                           */
/* ------------------------------------------------------------------ */

/* A numpy.save(np.arange(6, dtype='<f4').reshape(2, 3) / 2) image, built by
 * hand: magic, version 1.0, header length 118, the dict padded to 128 bytes
 * in all, then 6 little-endian float32 values 0, 0.5, 1, 1.5, 2, 2.5. */
static size_t hand_npy(unsigned char *out, const char *dict, unsigned major, size_t n_data)
{
    size_t pre = major == 1 ? 10 : 12, dlen = strlen(dict);
    size_t total = (pre + dlen + 1 + 63) / 64 * 64, hlen = total - pre;
    memcpy(out, "\x93NUMPY", 6);
    out[6] = (unsigned char)major;
    out[7] = 0;
    out[8] = (unsigned char)hlen;
    out[9] = (unsigned char)(hlen >> 8);
    if (major == 2) out[10] = out[11] = 0;
    memset(out + pre, ' ', hlen);
    memcpy(out + pre, dict, dlen);
    out[total - 1] = '\n';
    /* 0.5 * x as float32: 0x00000000, 0x3f000000, 0x3f800000, 0x3fc00000,
     * 0x40000000, 0x40200000 */
    const uint32_t bits[6] = {0x00000000u, 0x3f000000u, 0x3f800000u,
                              0x3fc00000u, 0x40000000u, 0x40200000u};
    for (size_t x = 0; x < n_data; x++) put_le32(out + total + 4 * x, bits[x % 6]);
    return total + 4 * n_data;
}

static const char *dict_2x3 = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";

static void test_npy_read_hand_made(void **state)
{
    (void)state;
    unsigned char buf[512];
    for (unsigned major = 1; major <= 2; major++) {
        size_t n = hand_npy(buf, dict_2x3, major, 6);
        assert_int_equal(n, 128 + 24);
        char *path = put_bytes("hand.npy", buf, n);
        int64_t rows, cols;
        float *data = NULL;
        mfr_error err = {0};
        assert_int_equal(mfr_npy_read_f32(path, &rows, &cols, &data, &err), MFR_OK);
        assert_int_equal(rows, 2);
        assert_int_equal(cols, 3);
        for (int x = 0; x < 6; x++) assert_true(data[x] == 0.5f * (float)x);
        mfr_free(data);
        free(path);
    }
    /* Key order, double quotes and no trailing comma are accepted too. */
    size_t n = hand_npy(buf, "{\"shape\": (2,3), \"fortran_order\": False, \"descr\": \"<f4\"}",
                        1, 6);
    char *path = put_bytes("hand2.npy", buf, n);
    int64_t rows, cols;
    float *data = NULL;
    assert_int_equal(mfr_npy_read_f32(path, &rows, &cols, &data, NULL), MFR_OK);
    assert_int_equal(rows * cols, 6);
    mfr_free(data);
    free(path);
}

static void expect_npy_reject(const char *name, const unsigned char *buf, size_t n,
                              int status, const char *msg)
{
    char *path = put_bytes(name, buf, n);
    int64_t rows = 9, cols = 9;
    float *data = (float *)(uintptr_t)1;
    mfr_error err = {0};
    int rc = mfr_npy_read_f32(path, &rows, &cols, &data, &err);
    if (rc != status || !strstr(err.message, msg))
        fprintf(stderr, "%s: rc %d, message: %s\n", name, rc, err.message);
    assert_int_equal(rc, status);
    assert_non_null(strstr(err.message, msg));
    assert_non_null(strstr(err.message, path));
    assert_null(data);
    assert_int_equal(rows, 0);
    free(path);
}

static void test_npy_rejects(void **state)
{
    (void)state;
    unsigned char buf[512];
    size_t n;
    n = hand_npy(buf, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", 1, 12);
    expect_npy_reject("f8.npy", buf, n, MFR_ERR_UNSUPPORTED, "'<f8'");
    n = hand_npy(buf, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", 1, 6);
    expect_npy_reject("be.npy", buf, n, MFR_ERR_UNSUPPORTED, "'>f4'");
    n = hand_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3), }", 1, 6);
    expect_npy_reject("3d.npy", buf, n, MFR_ERR_UNSUPPORTED, "3 dimensions");
    n = hand_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", 1, 6);
    expect_npy_reject("1d.npy", buf, n, MFR_ERR_UNSUPPORTED, "1 dimension");
    n = hand_npy(buf, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", 1, 6);
    expect_npy_reject("fortran.npy", buf, n, MFR_ERR_UNSUPPORTED, "Fortran");
    n = hand_npy(buf, dict_2x3, 1, 6);
    expect_npy_reject("short.npy", buf, n - 1, MFR_ERR_PARSE, "truncated");
    expect_npy_reject("short2.npy", buf, n - 24, MFR_ERR_PARSE, "truncated");
    expect_npy_reject("header.npy", buf, 100, MFR_ERR_PARSE, "truncated");
    expect_npy_reject("tiny.npy", buf, 9, MFR_ERR_PARSE, "truncated");
    n = hand_npy(buf, dict_2x3, 1, 7);
    expect_npy_reject("long.npy", buf, n, MFR_ERR_PARSE, "trailing");
    n = hand_npy(buf, dict_2x3, 3, 6);
    expect_npy_reject("v3.npy", buf, n, MFR_ERR_UNSUPPORTED, "version 3.0");
    n = hand_npy(buf, "{'descr': '<f4', 'shape': (2, 3), }", 1, 6);
    expect_npy_reject("nokey.npy", buf, n, MFR_ERR_PARSE, "fortran_order");
    n = hand_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", 1,
                 6);
    expect_npy_reject("extra.npy", buf, n, MFR_ERR_PARSE, "'x'");
    n = hand_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)", 1, 6);
    expect_npy_reject("open.npy", buf, n, MFR_ERR_PARSE, "malformed");
    n = hand_npy(buf,
                 "{'descr': '<f4', 'fortran_order': False, "
                 "'shape': (99999999999999999999, 3), }",
                 1, 6);
    expect_npy_reject("huge.npy", buf, n, MFR_ERR_TOO_LARGE, "64 bits");
    n = hand_npy(buf,
                 "{'descr': '<f4', 'fortran_order': False, "
                 "'shape': (4611686018427387904, 4611686018427387904), }",
                 1, 6);
    expect_npy_reject("huge2.npy", buf, n, MFR_ERR_TOO_LARGE, "too large");
    expect_npy_reject("text.npy", (const unsigned char *)"hello, world\n", 13, MFR_ERR_PARSE,
                      "not a NumPy");

    int64_t rows, cols;
    float *data;
    mfr_error err = {0};
    char *path = tu_path(tmp_dir, "missing.npy");
    assert_int_equal(mfr_npy_read_f32(path, &rows, &cols, &data, &err), MFR_ERR_IO);
    assert_non_null(strstr(err.message, path));
    free(path);
}

static void test_npy_write_roundtrip(void **state)
{
    (void)state;
    const int64_t shapes[][2] = {{2, 3}, {1, 1}, {7, 30}, {0, 4}, {1000, 17}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int64_t r = shapes[s][0], c = shapes[s][1];
        size_t count = (size_t)(r * c);
        float *a = malloc((count ? count : 1) * sizeof(float));
        for (size_t x = 0; x < count; x++) a[x] = (float)x * 0.37f - 5.0f;
        if (count > 1) a[1] = -0.0f;
        char *path = tu_path(tmp_dir, "rt.npy");
        mfr_error err = {0};
        assert_int_equal(mfr_npy_write_f32(path, r, c, a, &err), MFR_OK);
        int64_t rr, cc;
        float *b = NULL;
        assert_int_equal(mfr_npy_read_f32(path, &rr, &cc, &b, &err), MFR_OK);
        assert_int_equal(rr, r);
        assert_int_equal(cc, c);
        if (count) assert_memory_equal(a, b, count * sizeof(float));
        mfr_free(b);
        /* a range of rows (what a rank of an MPI run reads of U.npy): the
         * same floats; a range outside the shape reads nothing, the shape
         * tells */
        for (int64_t lo = 0; lo <= r; lo += r / 3 + 1) {
            int64_t hi = lo + r / 2 + 1 < r ? lo + r / 2 + 1 : r;
            b = NULL;
            assert_int_equal(mfr_npy_read_f32_rows(path, lo, hi, &rr, &cc, &b, &err), MFR_OK);
            assert_int_equal(rr, r);
            assert_int_equal(cc, c);
            if (hi > lo && c) assert_memory_equal(a + lo * c, b, (size_t)((hi - lo) * c) * sizeof(float));
            mfr_free(b);
        }
        b = NULL;
        assert_int_equal(mfr_npy_read_f32_rows(path, 0, r + 1, &rr, &cc, &b, &err), MFR_OK);
        assert_int_equal(rr, r);
        mfr_free(b);
        assert_int_equal(mfr_npy_read_f32_rows(path, 2, 1, &rr, &cc, &b, &err), MFR_ERR_INVALID);
        free(a);
        free(path);
    }

    /* The exact bytes numpy.save writes for a 2x3 float32 array. */
    unsigned char want[512];
    size_t n_want = hand_npy(want, dict_2x3, 1, 6);
    const float a[6] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 2.5f};
    char *path = tu_path(tmp_dir, "exact.npy");
    assert_int_equal(mfr_npy_write_f32(path, 2, 3, a, NULL), MFR_OK);
    size_t n;
    char *got = tu_read_file(path, &n);
    assert_int_equal(n, n_want);
    assert_memory_equal(got, want, n);
    assert_int_equal((10 + (got[8] & 0xff) + ((got[9] & 0xff) << 8)) % 64, 0);
    free(got);
    free(path);

    mfr_error err = {0};
    path = tu_path(tmp_dir, "no-such-dir/x.npy");
    assert_int_equal(mfr_npy_write_f32(path, 2, 3, a, &err), MFR_ERR_IO);
    assert_false(tu_exists(path));
    free(path);
    assert_int_equal(mfr_npy_write_f32("x.npy", -1, 3, a, &err), MFR_ERR_INVALID);
    assert_int_equal(mfr_npy_write_f32("x.npy", 2, 3, NULL, &err), MFR_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_defaults),
        cmocka_unit_test(test_accessors_null),
        cmocka_unit_test(test_predict_and_vectors),
        cmocka_unit_test(test_evaluate),
        cmocka_unit_test(test_chunk_sums_definition),
        cmocka_unit_test(test_evaluate_same_bits_any_threads),
        cmocka_unit_test(test_checksum),
        cmocka_unit_test(test_check_dataset),
        cmocka_unit_test(test_save_load_roundtrip),
        cmocka_unit_test(test_tmp_observer),
        cmocka_unit_test(test_file_layout),
        cmocka_unit_test(test_hash_streaming),
        cmocka_unit_test(test_version1_reads),
        cmocka_unit_test(test_implicit_roundtrip),
        cmocka_unit_test(test_copy_into_reuses_the_arrays),
        cmocka_unit_test(test_memory_bytes_counts_every_array),
        cmocka_unit_test(test_optimizer_state_in_files),
        cmocka_unit_test(test_load_weights),
        cmocka_unit_test(test_truncated_at_every_byte),
        cmocka_unit_test(test_flipped_byte_anywhere),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_foreign_files),
        cmocka_unit_test(test_absurd_sizes),
        cmocka_unit_test(test_bad_values_with_valid_checksum),
        cmocka_unit_test(test_recorded_settings_out_of_range),
        cmocka_unit_test(test_config_records),
        cmocka_unit_test(test_data_source_record),
        cmocka_unit_test(test_split_pin_record),
        cmocka_unit_test(test_save_failures),
        cmocka_unit_test(test_save_into_write_only_dir),
        cmocka_unit_test(test_save_large_and_write_error),
        cmocka_unit_test(test_write_error_keeps_its_cause),
        cmocka_unit_test(test_npy_read_hand_made),
        cmocka_unit_test(test_npy_rejects),
        cmocka_unit_test(test_npy_write_roundtrip),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
