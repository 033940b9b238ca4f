/*
 * test_softmax_model.c — the softmax model as an mfr_model: trained through
 * the public API (include/mfrec_softmax.h) on a synthetic dataset, saved
 * and loaded (same bytes on a second save, same vectors and network), its
 * user vectors equal to the fold-in of their training movies, rating
 * metrics refused, a damaged softmax section refused, matrix
 * factorization models still of kind mf, and checkpoints: a resumed
 * trainer continues with the uninterrupted one's bits at another thread
 * count, differences are named, forged optimizer sections are refused;
 * tied tables and weight decay (section version 2, while a model without
 * them keeps version 1).
 */
#include <math.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bytes_priv.h"
#include "kern_priv.h"
#include "mfrec.h"
#include "mfrec_softmax.h"
#include "model_priv.h"
#include "softmax_priv.h"
#include "test_util.h"

struct fixture {
    char *dir;
    mfr_dataset *ds;
    mfr_split *split;
    mfr_model *model;
};

/* The network of every test here. */
static void sm_config(mfr_softmax_config *c)
{
    mfr_softmax_config_default(c);
    c->k = 6, c->dim_movie = 5, c->n_hidden = 2, c->hidden[0] = 8, c->hidden[1] = 7;
    c->features = MFR_SOFTMAX_FEAT_MOVIES | MFR_SOFTMAX_FEAT_GENRES | MFR_SOFTMAX_FEAT_YEARS;
    c->optimizer = MFR_SOFTMAX_OPT_ADAM, c->lr = 0.01, c->batch_users = 32;
    c->hidden_init = MFR_SOFTMAX_INIT_HE;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = tu_mkdtemp();
    char *data = tu_path(f->dir, "data");
    if (tu_synth(data, 80, 50, 1500, 5, &f->ds) != 0) return -1;
    free(data);
    mfr_error err = {0};
    if (mfr_split_create(f->ds, "random:0.1", 3, &f->split, &err) != MFR_OK) {
        fprintf(stderr, "%s\n", err.message);
        return -1;
    }
    mfr_softmax_config c;
    sm_config(&c);
    mfr_softmax_trainer *tr = NULL;
    if (mfr_softmax_trainer_create(&c, f->ds, mfr_split_train(f->split), "random:0.1", 2, &tr,
                                   &err) != MFR_OK) {
        fprintf(stderr, "%s\n", err.message);
        return -1;
    }
    for (int e = 0; e < 3; e++)
        if (mfr_softmax_trainer_epoch(tr, NULL, &err) != MFR_OK) return -1;
    int st = mfr_softmax_trainer_model(tr, &f->model, &err);
    mfr_softmax_trainer_destroy(tr);
    *state = f;
    return st == MFR_OK ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    mfr_model_destroy(f->model);
    mfr_split_destroy(f->split);
    mfr_dataset_destroy(f->ds);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void test_kind_and_config(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(mfr_model_kind(f->model), MFR_MODEL_KIND_SOFTMAX);
    assert_int_equal(mfr_model_k(f->model), 6);
    assert_int_equal(mfr_model_epochs(f->model), 3);
    mfr_softmax_config c;
    mfr_error err = {0};
    assert_int_equal(mfr_model_softmax_config(f->model, &c, &err), MFR_OK);
    assert_int_equal(c.n_hidden, 2);
    assert_int_equal(c.hidden[1], 7);
    assert_int_equal(c.batch_users, 32);
    assert_int_equal(c.hidden_init, MFR_SOFTMAX_INIT_HE);
    assert_int_equal(mfr_model_kind(NULL), -1);
}

/* A user's stored vector is the network's output for all their training
 * movies, which is what the fold-in computes (ratings ignored). */
static void test_user_vector_is_fold_in(void **state)
{
    struct fixture *f = *state;
    const mfr_ratings *tr = mfr_split_train(f->split);
    int32_t user = -1, items[64];
    float ratings[64];
    int n = 0;
    /* The training movies of the first training rating's user. */
    for (int64_t x = 0; x < mfr_ratings_count(tr); x++) {
        int32_t u, i;
        float r;
        mfr_ratings_get(tr, x, &u, &i, &r, NULL, NULL);
        if (user < 0) user = u;
        if (u == user && n < 64) items[n] = i, ratings[n] = r, n++;
    }
    assert_true(n >= 2);
    /* ascending, the order the trainer pools in */
    for (int a = 1; a < n; a++)
        for (int b = a; b > 0 && items[b - 1] > items[b]; b--) {
            int32_t t = items[b];
            items[b] = items[b - 1], items[b - 1] = t;
        }
    float want[6], got[6], fold[6], bias = 7;
    mfr_error err = {0};
    assert_int_equal(mfr_model_user_vector(f->model, user, want, &err), MFR_OK);
    assert_int_equal(mfr_model_softmax_user(f->model, items, n, got, &err), MFR_OK);
    assert_memory_equal(want, got, sizeof want);
    assert_int_equal(mfr_model_fold_in(f->model, items, ratings, n, 0.1, fold, &bias, &err), MFR_OK);
    assert_memory_equal(want, fold, sizeof want);
    assert_true(bias == 0.0f);
    /* out of memory for the network's pass: no output is written (the
     * bias was set to 0 before the pass) */
    bias = 7;
    mfr_fault_alloc_at(1);
    assert_int_equal(mfr_model_fold_in(f->model, items, ratings, n, 0.1, fold, &bias, &err), MFR_ERR_NOMEM);
    mfr_fault_alloc_at(0);
    assert_true(bias == 7.0f);
    int32_t bad = 50;
    assert_int_equal(mfr_model_softmax_user(f->model, &bad, 1, got, &err), MFR_ERR_INVALID);
}

static void test_rating_metrics_refused(void **state)
{
    struct fixture *f = *state;
    mfr_metrics m;
    mfr_error err = {0};
    assert_int_equal(mfr_model_evaluate(f->model, mfr_split_test(f->split), &m, &err),
                     MFR_ERR_INVALID);
    tu_expect_in(err.message, "does not predict ratings");
}

static void test_save_load_bytes(void **state)
{
    struct fixture *f = *state;
    char *a = tu_path(f->dir, "a.mfr"), *b = tu_path(f->dir, "b.mfr");
    mfr_error err = {0};
    assert_int_equal(mfr_model_save(f->model, a, &err), MFR_OK);
    mfr_model *m = NULL;
    if (mfr_model_load(a, &m, &err) != MFR_OK) fail_msg("%s", err.message);
    assert_int_equal(mfr_model_kind(m), MFR_MODEL_KIND_SOFTMAX);
    assert_true(mfr_model_checksum(m) == mfr_model_checksum(f->model));
    mfr_softmax_config lc;
    assert_int_equal(mfr_model_softmax_config(m, &lc, &err), MFR_OK);
    assert_int_equal(lc.hidden_init, MFR_SOFTMAX_INIT_HE);
    assert_int_equal(mfr_model_save(m, b, &err), MFR_OK);
    size_t la, lb;
    char *ba = tu_read_file(a, &la), *bb = tu_read_file(b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(ba, bb, la);
    /* The loaded network computes the same users. */
    int32_t items[3] = {1, 4, 9};
    float x[6], y[6];
    assert_int_equal(mfr_model_softmax_user(m, items, 3, x, &err), MFR_OK);
    assert_int_equal(mfr_model_softmax_user(f->model, items, 3, y, &err), MFR_OK);
    assert_memory_equal(x, y, sizeof x);
    /* A copy keeps the network. */
    mfr_model *c = NULL;
    assert_int_equal(mfr_model_copy(m, &c, &err), MFR_OK);
    assert_int_equal(mfr_model_kind(c), MFR_MODEL_KIND_SOFTMAX);
    assert_int_equal(mfr_model_softmax_user(c, items, 3, x, &err), MFR_OK);
    assert_memory_equal(x, y, sizeof x);
    mfr_model_destroy(c);
    mfr_model_destroy(m);

    /* One flipped byte in the softmax section (just before the checksum):
     * the checksum catches it; a cut file is truncated. */
    ba[la - 9] ^= 0x40;
    tu_write_file(f->dir, "bad.mfr", ba, la);
    char *bad = tu_path(f->dir, "bad.mfr");
    assert_int_equal(mfr_model_load(bad, &m, &err), MFR_ERR_CORRUPT);
    tu_expect_in(err.message, "checksum");
    tu_write_file(f->dir, "bad.mfr", bb, lb - 20);
    assert_int_equal(mfr_model_load(bad, &m, &err), MFR_ERR_CORRUPT);
    assert_null(m);
    free(a), free(b), free(ba), free(bb), free(bad);
}

/* The model file b (len bytes) given its checksum again and written as
 * NAME: its load is refused as corrupt, the message holding msg. */
static void expect_forged_refused(struct fixture *f, unsigned char *b, size_t len, const char *name,
                                  const char *msg)
{
    mfr_put_le64(b + len - 8, mfr_model_file_sum(b, len - 8));
    tu_write_file(f->dir, name, (const char *)b, len);
    char *p = tu_path(f->dir, name);
    mfr_model *m = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_model_load(p, &m, &err), MFR_ERR_CORRUPT);
    assert_null(m);
    tu_expect_in(err.message, msg);
    free(p);
}

/* A section with a valid checksum but bad contents is still refused, with
 * the section named: a negative first year, a parameter set to NaN, a k
 * that differs from the model's. */
static void test_forged_section(void **state)
{
    struct fixture *f = *state;
    char *a = tu_path(f->dir, "f.mfr");
    mfr_error err = {0};
    assert_int_equal(mfr_model_save(f->model, a, &err), MFR_OK);
    size_t len;
    char *orig = tu_read_file(a, &len);
    size_t start = len - 8 - (size_t)mfr_sm_net_bytes(f->model->sm);
    static const struct {
        size_t at;     /* byte offset in the section */
        uint32_t value;
        const char *msg;
    } cases[] = {
        {4 + 4 * 16, 0xfffffffbu, "year"},         /* year_min -5 */
        {140 + 8 * 50 + 4 * 3, 0x7fc00000u, "not finite"}, /* a parameter NaN */
        {4 + 4 * 17, 2, "hidden_init"},             /* no such initialization */
        {4, 7, "does not fit"},                     /* k 7, the model's is 6 */
        /* a newer mfrec's version, named as one (not as damage) */
        {0, 6, "softmax section version 6 is newer than this build reads (1 to 5): the model was "
               "written by a newer mfrec"},
        {0, 0, "version 0 is not 1, 2, 3, 4 or 5"}, /* no version */
        {0, 2, "softmax section"},                  /* version 2 over version 1 bytes */
        {0, 3, "softmax section"},                  /* version 3 over version 1 bytes */
        {0, 4, "softmax section"},                  /* version 4 over version 1 bytes */
        {0, 5, "softmax section"},                  /* version 5 over version 1 bytes */
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        unsigned char *b = malloc(len);
        memcpy(b, orig, len);
        mfr_put_le32(b + start + cases[c].at, cases[c].value);
        expect_forged_refused(f, b, len, "forged.mfr", cases[c].msg);
        free(b);
    }
    free(orig);
    free(a);
}

/* A model of one epoch with configuration c, saved, loaded back (its
 * configuration into *loaded) and saved again: the same bytes. Returns
 * the section version the file holds; *out is the model. */
static uint32_t save_load_round_trip(struct fixture *f, const mfr_softmax_config *c,
                                     mfr_softmax_config *loaded, mfr_model **out)
{
    mfr_error err = {0};
    mfr_softmax_trainer *tr = NULL;
    assert_int_equal(mfr_softmax_trainer_create(c, f->ds, mfr_split_train(f->split), "random:0.1",
                                                1, &tr, &err),
                     MFR_OK);
    assert_int_equal(mfr_softmax_trainer_epoch(tr, NULL, &err), MFR_OK);
    mfr_model *m = NULL, *back = NULL;
    assert_int_equal(mfr_softmax_trainer_model(tr, &m, &err), MFR_OK);
    mfr_softmax_trainer_destroy(tr);
    char *a = tu_path(f->dir, "rt.mfr"), *b = tu_path(f->dir, "rt2.mfr");
    assert_int_equal(mfr_model_save(m, a, &err), MFR_OK);
    if (mfr_model_load(a, &back, &err) != MFR_OK) fail_msg("%s", err.message);
    assert_int_equal(mfr_model_softmax_config(back, loaded, &err), MFR_OK);
    assert_int_equal(mfr_model_save(back, b, &err), MFR_OK);
    size_t la, lb;
    char *ba = tu_read_file(a, &la), *bb = tu_read_file(b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(ba, bb, la);
    size_t start = la - 8 - (size_t)mfr_sm_net_bytes(m->sm);
    uint32_t version = mfr_get_le32((const unsigned char *)ba + start);
    free(a), free(b), free(ba), free(bb);
    mfr_model_destroy(back);
    *out = m;
    return version;
}

/* Tied tables and weight decay: a version-2 section that loads back with
 * both set and saves the same bytes; the fixture's model (neither) writes
 * version 1. */
static void test_tied_save_load(void **state)
{
    struct fixture *f = *state;
    mfr_error err = {0};
    mfr_softmax_config c, lc;
    mfr_softmax_config_default(&c);
    c.k = 6, c.dim_movie = 6, c.tie_tables = 1, c.n_hidden = 1, c.hidden[0] = 8;
    c.weight_decay = 0.25;
    c.optimizer = MFR_SOFTMAX_OPT_ADAM, c.lr = 0.01, c.batch_users = 32;
    mfr_model *m = NULL;
    assert_int_equal(save_load_round_trip(f, &c, &lc, &m), 2);
    /* V is the movie table */
    assert_true(m->sm->lay.movie.offset == m->sm->lay.V.offset);
    assert_int_equal(lc.tie_tables, 1);
    assert_true(lc.weight_decay == 0.25);
    mfr_model_destroy(m);
    /* the untied fixture: version 1 */
    char *a = tu_path(f->dir, "t.mfr");
    assert_int_equal(mfr_model_save(f->model, a, &err), MFR_OK);
    size_t la;
    char *ba = tu_read_file(a, &la);
    size_t start = la - 8 - (size_t)mfr_sm_net_bytes(f->model->sm);
    assert_int_equal(mfr_get_le32((const unsigned char *)ba + start), 1);
    free(a), free(ba);
}

/* label_min_rating: a version-3 section that loads back with it and saves
 * the same bytes; a threshold no rating reaches leaves no example and is
 * refused when the trainer is made. */
static void test_label_min_rating_save_load(void **state)
{
    struct fixture *f = *state;
    mfr_error err = {0};
    mfr_softmax_config c, lc;
    sm_config(&c);
    c.label_min_rating = 4.0;
    mfr_model *m = NULL;
    assert_int_equal(save_load_round_trip(f, &c, &lc, &m), 3);
    assert_true(lc.label_min_rating == 4.0);
    mfr_model_destroy(m);
    mfr_softmax_trainer *tr = NULL;
    c.label_min_rating = 6.0; /* the ratings are 1..5 */
    assert_int_equal(mfr_softmax_trainer_create(&c, f->ds, mfr_split_train(f->split), "random:0.1",
                                                1, &tr, &err),
                     MFR_ERR_INVALID);
    assert_null(tr);
    tu_expect_in(err.message, "label_min_rating (--min-label-rating) 6 leaves no examples");
}

/* negatives "unrated": a version-4 section (with label_min_rating, which
 * version 3 added, kept before it) that loads back with both and saves
 * the same bytes; a forged value of the field is refused, named. */
static void test_negatives_save_load(void **state)
{
    struct fixture *f = *state;
    mfr_error err = {0};
    mfr_softmax_config c, lc;
    sm_config(&c);
    c.negatives = MFR_SOFTMAX_NEG_UNRATED;
    mfr_model *m = NULL;
    assert_int_equal(save_load_round_trip(f, &c, &lc, &m), 4);
    assert_int_equal(lc.negatives, MFR_SOFTMAX_NEG_UNRATED);
    assert_true(lc.label_min_rating == 0.0);
    mfr_model_destroy(m);
    c.label_min_rating = 4.0;
    assert_int_equal(save_load_round_trip(f, &c, &lc, &m), 4);
    assert_int_equal(lc.negatives, MFR_SOFTMAX_NEG_UNRATED);
    assert_true(lc.label_min_rating == 4.0);

    char *a = tu_path(f->dir, "neg.mfr");
    assert_int_equal(mfr_model_save(m, a, &err), MFR_OK);
    size_t len;
    unsigned char *b = (unsigned char *)tu_read_file(a, &len);
    size_t start = len - 8 - (size_t)mfr_sm_net_bytes(m->sm);
    const size_t at = 4 + 4 * 19 + 8 * 7; /* after the f64 label_min_rating */
    assert_int_equal(mfr_get_le32(b + start + at), MFR_SOFTMAX_NEG_UNRATED);
    static const struct {
        uint32_t value;
        const char *msg;
    } cases[] = {{2, "negatives must be in"}, {0, "version 4 with"}};
    for (size_t x = 0; x < sizeof cases / sizeof *cases; x++) {
        mfr_put_le32(b + start + at, cases[x].value);
        expect_forged_refused(f, b, len, "neg-forged.mfr", cases[x].msg);
    }
    free(b), free(a);
    mfr_model_destroy(m);
}

/* feature_dropout: a version-5 section (negatives, which version 4
 * added, kept before it, written as 0 when off) that loads back and saves
 * the same bytes; forged values of the field (1, negative, NaN, 0 under
 * version 5) are refused, named. */
static void test_feature_dropout_save_load(void **state)
{
    struct fixture *f = *state;
    mfr_error err = {0};
    mfr_softmax_config c, lc;
    sm_config(&c);
    c.feature_dropout = 0.3;
    mfr_model *m = NULL;
    assert_int_equal(save_load_round_trip(f, &c, &lc, &m), 5);
    assert_true(lc.feature_dropout == 0.3);
    assert_int_equal(lc.negatives, MFR_SOFTMAX_NEG_ALL);
    mfr_model_destroy(m);
    c.negatives = MFR_SOFTMAX_NEG_UNRATED, c.label_min_rating = 4.0;
    assert_int_equal(save_load_round_trip(f, &c, &lc, &m), 5);
    assert_true(lc.feature_dropout == 0.3 && lc.label_min_rating == 4.0);
    assert_int_equal(lc.negatives, MFR_SOFTMAX_NEG_UNRATED);

    char *a = tu_path(f->dir, "drop.mfr");
    assert_int_equal(mfr_model_save(m, a, &err), MFR_OK);
    size_t len;
    unsigned char *b = (unsigned char *)tu_read_file(a, &len);
    size_t start = len - 8 - (size_t)mfr_sm_net_bytes(m->sm);
    const size_t at = 4 + 4 * 19 + 8 * 7 + 4; /* after the i32 negatives */
    assert_int_equal(mfr_get_le32(b + start + at - 4), MFR_SOFTMAX_NEG_UNRATED);
    assert_true(mfr_bits_f64(mfr_get_le64(b + start + at)) == 0.3);
    static const struct {
        double value;
        const char *msg;
    } cases[] = {{1.0, "feature_dropout (--feature-dropout) must be at least 0 and below 1"},
                 {-0.25, "feature_dropout"},
                 {NAN, "feature_dropout"},
                 {INFINITY, "feature_dropout"},
                 {0.0, "version 5 with"}};
    for (size_t x = 0; x < sizeof cases / sizeof *cases; x++) {
        mfr_put_le64(b + start + at, mfr_f64_bits(cases[x].value));
        expect_forged_refused(f, b, len, "drop-forged.mfr", cases[x].msg);
    }
    free(b), free(a);
    mfr_model_destroy(m);
    /* off: the bytes of before (version 1 for this configuration) */
    c.feature_dropout = 0.0, c.negatives = MFR_SOFTMAX_NEG_ALL, c.label_min_rating = 0.0;
    assert_int_equal(save_load_round_trip(f, &c, &lc, &m), 1);
    mfr_model_destroy(m);
}

static mfr_softmax_trainer *sm_trainer(struct fixture *f, const mfr_softmax_config *c, int threads)
{
    mfr_softmax_trainer *tr = NULL;
    mfr_error err = {0};
    if (mfr_softmax_trainer_create(c, f->ds, mfr_split_train(f->split), "random:0.1", threads, &tr,
                                   &err) != MFR_OK)
        fail_msg("%s", err.message);
    return tr;
}

static void sm_epochs(mfr_softmax_trainer *tr, int n)
{
    mfr_error err = {0};
    for (int e = 0; e < n; e++)
        if (mfr_softmax_trainer_epoch(tr, NULL, &err) != MFR_OK) fail_msg("%s", err.message);
}

static uint64_t sm_checksum(const mfr_softmax_trainer *tr)
{
    mfr_model *m = NULL;
    assert_int_equal(mfr_softmax_trainer_model(tr, &m, NULL), MFR_OK);
    uint64_t h = mfr_model_checksum(m);
    mfr_model_destroy(m);
    return h;
}

/* A checkpoint after 2 epochs, resumed at 3 threads for 2 more, gives the
 * model of 4 uninterrupted epochs at 1 thread; a trainer of another
 * configuration is refused with the field named, and so is the matrix
 * factorization resume. */
static void test_checkpoint_resume(void **state)
{
    struct fixture *f = *state;
    mfr_softmax_config c;
    sm_config(&c);
    mfr_softmax_trainer *tr = sm_trainer(f, &c, 1);
    sm_epochs(tr, 2);
    char *path = tu_path(f->dir, "sm.ck");
    mfr_run_state run = {.epochs = 4, .log_every = 1, .checkpoint_every = 2, .log = "x\n",
                         .log_len = 2};
    mfr_error err = {0};
    assert_int_equal(mfr_softmax_trainer_save_checkpoint(tr, &run, path, &err), MFR_OK);
    double loss2 = mfr_softmax_trainer_last_loss(tr);
    sm_epochs(tr, 2);
    uint64_t want = sm_checksum(tr);
    /* Its run state holds record 15 (no_train_eval) although it is 0,
     * unlike a matrix factorization checkpoint's: the builds from before
     * the record, which refuse it, include those of another softmax
     * rounding (6bdc873), which would resume the run into another model. */
    size_t ck_len;
    unsigned char *ck_b = (unsigned char *)tu_read_file(path, &ck_len);
    assert_non_null(ck_b);
    size_t at = 16;
    bool found = false;
    for (uint32_t x = 0; x < mfr_get_le32(ck_b + 12); x++) {
        if (mfr_get_le32(ck_b + at) == 2) {
            assert_int_equal(mfr_get_le32(ck_b + at + 16), 15);
            assert_int_equal(mfr_get_le32(ck_b + at + 16 + 4 + 16 * 14), 15);
            found = true;
        }
        at += 16 + (size_t)mfr_get_le64(ck_b + at + 8);
    }
    assert_true(found && at + 8 == ck_len);
    free(ck_b);
    mfr_softmax_trainer_destroy(tr);

    int32_t kind = -1;
    assert_int_equal(mfr_checkpoint_kind(path, &kind, &err), MFR_OK);
    assert_int_equal(kind, MFR_MODEL_KIND_SOFTMAX);
    mfr_checkpoint *ck = NULL;
    assert_int_equal(mfr_checkpoint_load(path, &ck, &err), MFR_OK);
    assert_int_equal(mfr_model_kind(mfr_checkpoint_model(ck)), MFR_MODEL_KIND_SOFTMAX);
    mfr_softmax_trainer *res = NULL;
    assert_int_equal(mfr_softmax_trainer_resume(ck, &c, f->ds, mfr_split_train(f->split),
                                                "random:0.1", 3, &res, &err), MFR_OK);
    assert_true(mfr_softmax_trainer_last_loss(res) == loss2);
    sm_epochs(res, 2);
    assert_true(sm_checksum(res) == want);
    mfr_softmax_trainer_destroy(res);
    /* n_shards changes nothing for this trainer: another is accepted, gives
     * the same bits, and the model keeps the checkpoint's; so is the split
     * written otherwise ("random:.10" is "random:0.1", which the model
     * keeps recording; it was refused as another split) */
    mfr_softmax_config shards = c;
    shards.n_shards = 5;
    if (mfr_softmax_trainer_resume(ck, &shards, f->ds, mfr_split_train(f->split), "random:.10", 2,
                                   &res, &err) != MFR_OK)
        fail_msg("%s", err.message);
    sm_epochs(res, 2);
    assert_true(sm_checksum(res) == want);
    mfr_model *rm = NULL;
    assert_int_equal(mfr_softmax_trainer_model(res, &rm, NULL), MFR_OK);
    mfr_softmax_config got;
    assert_int_equal(mfr_model_softmax_config(rm, &got, NULL), MFR_OK);
    assert_int_equal(got.n_shards, c.n_shards);
    assert_string_equal(mfr_model_split_spec(rm), "random:0.1");
    mfr_model_destroy(rm);
    mfr_softmax_trainer_destroy(res);

    mfr_softmax_config other = c;
    other.lr = 0.02, other.hidden[1] = 9, other.weight_decay = 0.5;
    assert_int_equal(mfr_softmax_trainer_resume(ck, &other, f->ds, mfr_split_train(f->split),
                                                "random:0.2", 1, &res, &err), MFR_ERR_MISMATCH);
    assert_null(res);
    tu_expect_in(err.message, "--lr is 0.02, the checkpoint's 0.01");
    tu_expect_in(err.message, "--hidden is 8,9, the checkpoint's 8,7");
    tu_expect_in(err.message, "--weight-decay is 0.5, the checkpoint's 0");
    tu_expect_in(err.message, "split is 'random:0.2'");
    /* a bad thread count is the argument's error, named before the data
     * are compared (here they differ too) */
    assert_int_equal(mfr_softmax_trainer_resume(ck, &other, f->ds, mfr_split_train(f->split),
                                                "random:0.2", -1, &res, &err), MFR_ERR_INVALID);
    assert_null(res);
    tu_expect_in(err.message, "mfr_softmax_trainer_resume: n_threads must be in 0..1024");
    mfr_config mf;
    mfr_config_default(&mf);
    mfr_trainer *mtr = NULL;
    assert_int_equal(mfr_trainer_resume(ck, &mf, f->ds, mfr_split_train(f->split), "random:0.1",
                                        &mtr, &err), MFR_ERR_MISMATCH);
    tu_expect_in(err.message, "softmax run");
    mfr_checkpoint_destroy(ck);
    /* a softmax run has no early stopping: no best model to save */
    tr = sm_trainer(f, &c, 1);
    mfr_run_state bad = run;
    bad.early_stop = 3;
    assert_int_equal(mfr_softmax_trainer_save_checkpoint(tr, &bad, path, &err), MFR_ERR_INVALID);
    mfr_softmax_trainer_destroy(tr);
    free(path);
}

/* The offset of section `tag`'s contents in a checkpoint's bytes. */
static size_t ck_section(const unsigned char *b, size_t len, uint32_t tag)
{
    size_t at = 16;
    for (uint32_t s = 0; s < mfr_get_le32(b + 12) && at + 16 <= len; s++) {
        if (mfr_get_le32(b + at) == tag) return at + 16;
        at += 16 + (size_t)mfr_get_le64(b + at + 8);
    }
    fail_msg("no section %u", tag);
    return 0;
}

/* A run of configuration c checkpointed after 2 of 4 epochs (1 thread),
 * resumed at `threads`, ends with the uninterrupted run's model; a resume
 * with `other` is refused with a message holding `diff`. */
static void resume_matches(struct fixture *f, const mfr_softmax_config *c, int threads,
                           const mfr_softmax_config *other, const char *diff)
{
    mfr_softmax_trainer *tr = sm_trainer(f, c, 1);
    sm_epochs(tr, 2);
    char *path = tu_path(f->dir, "resume.ck");
    mfr_run_state run = {.epochs = 4, .log_every = 1, .checkpoint_every = 2, .log = "x\n",
                         .log_len = 2};
    mfr_error err = {0};
    assert_int_equal(mfr_softmax_trainer_save_checkpoint(tr, &run, path, &err), MFR_OK);
    sm_epochs(tr, 2);
    uint64_t want = sm_checksum(tr);
    mfr_softmax_trainer_destroy(tr);
    mfr_checkpoint *ck = NULL;
    assert_int_equal(mfr_checkpoint_load(path, &ck, &err), MFR_OK);
    mfr_softmax_trainer *res = NULL;
    if (mfr_softmax_trainer_resume(ck, c, f->ds, mfr_split_train(f->split), "random:0.1", threads,
                                   &res, &err) != MFR_OK)
        fail_msg("%s", err.message);
    sm_epochs(res, 2);
    assert_true(sm_checksum(res) == want);
    mfr_softmax_trainer_destroy(res);
    res = NULL;
    assert_int_equal(mfr_softmax_trainer_resume(ck, other, f->ds, mfr_split_train(f->split),
                                                "random:0.1", 1, &res, &err), MFR_ERR_MISMATCH);
    assert_null(res);
    tu_expect_in(err.message, diff);
    mfr_checkpoint_destroy(ck);
    free(path);
}

/* Tied tables with weight decay resume as the uninterrupted run. */
static void test_checkpoint_resume_tied(void **state)
{
    mfr_softmax_config c;
    sm_config(&c);
    c.tie_tables = 1, c.dim_movie = c.k, c.weight_decay = 0.2;
    mfr_softmax_config untied = c;
    untied.tie_tables = 0;
    resume_matches(*state, &c, 2, &untied, "no --tie here, --tie in the checkpoint");
}

/* Feature dropout draws by the run's epoch number: resumed at 3 threads,
 * the uninterrupted run's model; another rate is refused, named. The
 * dropout changes the run (else the check could not fail). */
static void test_checkpoint_resume_dropout(void **state)
{
    struct fixture *f = *state;
    mfr_softmax_config c;
    sm_config(&c);
    c.feature_dropout = 0.3;
    mfr_softmax_config off = c;
    off.feature_dropout = 0.0;
    mfr_softmax_trainer *a = sm_trainer(f, &c, 1), *b = sm_trainer(f, &off, 1);
    sm_epochs(a, 4);
    sm_epochs(b, 4);
    assert_true(sm_checksum(a) != sm_checksum(b));
    mfr_softmax_trainer_destroy(a);
    mfr_softmax_trainer_destroy(b);
    resume_matches(f, &c, 3, &off, "--feature-dropout is 0, the checkpoint's 0.3");
}

static void test_checkpoint_forged(void **state)
{
    struct fixture *f = *state;
    mfr_softmax_config c;
    sm_config(&c);
    mfr_softmax_trainer *tr = sm_trainer(f, &c, 2);
    sm_epochs(tr, 1);
    char *path = tu_path(f->dir, "forge.ck");
    mfr_run_state run = {.epochs = 4, .log_every = 1, .checkpoint_every = 1};
    assert_int_equal(mfr_softmax_trainer_save_checkpoint(tr, &run, path, NULL), MFR_OK);
    mfr_softmax_trainer_destroy(tr);
    size_t len;
    unsigned char *orig = (unsigned char *)tu_read_file(path, &len);
    size_t sec = ck_section(orig, len, 5);
    static const struct {
        size_t at;
        uint32_t value;
        const char *msg;
    } cases[] = {
        {0, 1, "announces"},           /* one array in the length of two */
        {0, 3, "announces"},           /* no optimizer keeps three */
        {4, 1, "announces"},           /* the reserved word */
        {16, 7, "announces"},          /* another parameter count */
        {24 + 4 * 5, 0x7f800000u, "not finite"}, /* an infinite moment */
    };
    for (size_t x = 0; x < sizeof cases / sizeof *cases; x++) {
        unsigned char *b = malloc(len);
        memcpy(b, orig, len);
        mfr_put_le32(b + sec + cases[x].at, cases[x].value);
        mfr_put_le64(b + len - 8, mfr_fnv1a(MFR_FNV_INIT, b, len - 8));
        mfr_checkpoint *ck = NULL;
        mfr_error err = {0};
        assert_int_equal(mfr_checkpoint_load_buffer(b, len, "forged", &ck, &err), MFR_ERR_CORRUPT);
        assert_null(ck);
        if (!strstr(err.message, cases[x].msg))
            fail_msg("case %zu: '%s' not in '%s'", x, cases[x].msg, err.message);
        free(b);
    }
    free(orig);
    free(path);
}

static void test_mf_model_kind(void **state)
{
    struct fixture *f = *state;
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 3;
    cfg.n_threads = 1;
    mfr_trainer *tr = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_trainer_create(&cfg, f->ds, mfr_split_train(f->split), NULL, &tr, &err),
                     MFR_OK);
    assert_int_equal(mfr_model_kind(mfr_trainer_model(tr)), MFR_MODEL_KIND_MF);
    mfr_softmax_config c;
    assert_int_equal(mfr_model_softmax_config(mfr_trainer_model(tr), &c, &err), MFR_ERR_INVALID);
    mfr_trainer_destroy(tr);
}

/* A softmax model of the trainer's shape is not a model whose data term
 * mfr_trainer_data_mse can compute (its scores are logits): refused, as
 * mfr_model_evaluate refuses it. It computed an MSE of logits. */
static void test_data_mse_refuses_softmax(void **state)
{
    struct fixture *f = *state;
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = mfr_model_k(f->model);
    cfg.n_threads = 1;
    mfr_trainer *tr = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_trainer_create(&cfg, f->ds, mfr_split_train(f->split), NULL, &tr, &err),
                     MFR_OK);
    double mse = -1.0;
    assert_int_equal(mfr_trainer_data_mse(tr, f->model, &mse, &err), MFR_ERR_MISMATCH);
    assert_non_null(strstr(err.message, "softmax model, which does not predict ratings"));
    assert_true(mse == -1.0);
    assert_int_equal(mfr_trainer_data_mse(tr, NULL, &mse, &err), MFR_OK);
    mfr_trainer_destroy(tr);
}

/* n_threads outside 0..MFR_MAX_THREADS is refused before anything is
 * allocated: 100000 overflowed libgomp's stack in the first epoch, and
 * sized n_threads scratch buffers before that. */
static void test_thread_count_out_of_range(void **state)
{
    struct fixture *f = *state;
    mfr_softmax_config c;
    sm_config(&c);
    const int bad[] = {-1, MFR_MAX_THREADS + 1, 100000};
    for (size_t b = 0; b < sizeof bad / sizeof *bad; b++) {
        mfr_softmax_trainer *tr = NULL;
        mfr_error err = {0};
        assert_int_equal(mfr_softmax_trainer_create(&c, f->ds, mfr_split_train(f->split),
                                                    "random:0.1", bad[b], &tr, &err),
                         MFR_ERR_INVALID);
        assert_null(tr);
        assert_non_null(strstr(err.message, "mfr_softmax_trainer_create: n_threads must be in 0..1024"));
    }
}

/* mfr_softmax_trainer_kernels_name names every set the header lists:
 * "avx512" too (the header said only "avx2" or "ref"), the widest set
 * the CPU has for MFR_KERNELS_AUTO, NULL for NULL. */
static void test_kernels_name(void **state)
{
    struct fixture *f = *state;
    mfr_softmax_config c;
    sm_config(&c);
    static const char *const names[4] = {NULL, "ref", "avx2", "avx512"};
    const bool has[4] = {true, true, mfr_cpu_has_avx2(), mfr_cpu_has_avx512f()};
    for (int32_t v = MFR_KERNELS_REF; v <= MFR_KERNELS_AVX512; v++) {
        if (!has[v]) continue;
        c.kernels = v;
        mfr_softmax_trainer *tr = sm_trainer(f, &c, 1);
        assert_string_equal(mfr_softmax_trainer_kernels_name(tr), names[v]);
        mfr_softmax_trainer_destroy(tr);
    }
    c.kernels = MFR_KERNELS_AUTO;
    mfr_softmax_trainer *tr = sm_trainer(f, &c, 1);
    assert_string_equal(mfr_softmax_trainer_kernels_name(tr),
                        has[3] ? "avx512" : has[2] ? "avx2" : "ref");
    mfr_softmax_trainer_destroy(tr);
    assert_null(mfr_softmax_trainer_kernels_name(NULL));
    assert_true(isnan(mfr_softmax_trainer_last_loss(NULL)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thread_count_out_of_range),
        cmocka_unit_test(test_kernels_name),
        cmocka_unit_test(test_data_mse_refuses_softmax),
        cmocka_unit_test(test_kind_and_config),
        cmocka_unit_test(test_user_vector_is_fold_in),
        cmocka_unit_test(test_rating_metrics_refused),
        cmocka_unit_test(test_label_min_rating_save_load),
        cmocka_unit_test(test_negatives_save_load),
        cmocka_unit_test(test_feature_dropout_save_load),
        cmocka_unit_test(test_save_load_bytes),
        cmocka_unit_test(test_forged_section),
        cmocka_unit_test(test_tied_save_load),
        cmocka_unit_test(test_mf_model_kind),
        cmocka_unit_test(test_checkpoint_resume),
        cmocka_unit_test(test_checkpoint_forged),
        cmocka_unit_test(test_checkpoint_resume_tied),
        cmocka_unit_test(test_checkpoint_resume_dropout),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
