/*
 * test_checkpoint.c — the checkpoint format and resume in the library:
 * a run interrupted at epoch 7, saved, loaded and resumed with another
 * thread count writes the model file an uninterrupted run writes, for
 * every training option under both reductions; the run state comes back
 * unchanged; any flipped byte, truncation or forged length is refused as
 * corrupt; a resume with another configuration, split or dataset is
 * refused naming each difference; a checkpoint loaded as a shell (the
 * MPI ranks' --resume) reads a part's rows from the file, checked.
 */
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "checkpoint_priv.h"
#include "mfrec.h"
#include "mfrec_softmax.h"
#include "model_priv.h"
#include "test_util.h"

struct fixture {
    char *dir;
    mfr_dataset *ds;
    mfr_split *split;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = tu_mkdtemp();
    char *data = tu_path(f->dir, "data");
    int rc = tu_synth(data, 90, 60, 2000, 7, &f->ds);
    free(data);
    if (rc != 0 || mfr_split_create(f->ds, "random:0.2", 5, &f->split, NULL) != MFR_OK) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    mfr_split_destroy(f->split);
    mfr_dataset_destroy(f->ds);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static mfr_trainer *make(struct fixture *f, const mfr_config *cfg)
{
    mfr_trainer *tr = NULL;
    mfr_error err = {0};
    if (mfr_trainer_create(cfg, f->ds, mfr_split_train(f->split), mfr_split_spec(f->split), &tr,
                           &err) != MFR_OK)
        fail_msg("trainer_create: %s", err.message);
    return tr;
}

static void steps(mfr_trainer *tr, int n)
{
    mfr_error err = {0};
    for (int e = 0; e < n; e++)
        if (mfr_trainer_step(tr, NULL, &err) != MFR_OK) fail_msg("step: %s", err.message);
}

static char *model_bytes(struct fixture *f, const mfr_model *m, size_t *len)
{
    char *path = tu_path(f->dir, "model.bin");
    mfr_error err = {0};
    if (mfr_model_save(m, path, &err) != MFR_OK) fail_msg("save: %s", err.message);
    char *b = tu_read_file(path, len);
    free(path);
    return b;
}

static void save(struct fixture *f, mfr_trainer *tr, const mfr_run_state *run, const char *name)
{
    char *path = tu_path(f->dir, name);
    mfr_error err = {0};
    if (mfr_trainer_save_checkpoint(tr, run, path, &err) != MFR_OK)
        fail_msg("save_checkpoint: %s", err.message);
    free(path);
}

/* A checkpoint NAME of a trainer of the default configuration with
 * dimension k (into *cfg) after n_steps epochs, its run state 9 epochs
 * with no best model. */
static void save_plain(struct fixture *f, mfr_config *cfg, int32_t k, int n_steps, const char *name)
{
    mfr_config_default(cfg);
    cfg->k = k;
    mfr_trainer *tr = make(f, cfg);
    steps(tr, n_steps);
    mfr_run_state run = {.epochs = 9, .best_val = INFINITY};
    save(f, tr, &run, name);
    mfr_trainer_destroy(tr);
}

/* Little-endian fields of n bytes, as the file holds them. */
static uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int x = n - 1; x >= 0; x--) v = v << 8 | p[x];
    return v;
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int x = 0; x < n; x++) p[x] = (unsigned char)(v >> (8 * x));
}

static mfr_checkpoint *load(struct fixture *f, const char *name)
{
    char *path = tu_path(f->dir, name);
    mfr_checkpoint *c = NULL;
    mfr_error err = {0};
    if (mfr_checkpoint_load(path, &c, &err) != MFR_OK) fail_msg("load: %s", err.message);
    free(path);
    return c;
}

/* 15 uninterrupted epochs against 7, a checkpoint, and 8 resumed with
 * another thread count (and the other kernel set's name recorded). */
static void check_resume_identical(struct fixture *f, const mfr_config *cfg)
{
    mfr_trainer *a = make(f, cfg);
    steps(a, 15);
    size_t la, lb;
    char *want = model_bytes(f, mfr_trainer_model(a), &la);
    mfr_trainer_destroy(a);

    mfr_config c1 = *cfg;
    c1.n_threads = 1;
    mfr_trainer *b = make(f, &c1);
    steps(b, 7);
    mfr_run_state run = {.epochs = 15, .best_val = INFINITY};
    save(f, b, &run, "ck");
    mfr_loss before;
    mfr_trainer_last_loss(b, &before, NULL);
    mfr_trainer_destroy(b);

    mfr_checkpoint *ck = load(f, "ck");
    mfr_config c3 = *cfg;
    c3.n_threads = 3;
    mfr_trainer *r = NULL;
    mfr_error err = {0};
    if (mfr_trainer_resume(ck, &c3, f->ds, mfr_split_train(f->split), mfr_split_spec(f->split), &r,
                           &err) != MFR_OK)
        fail_msg("resume: %s", err.message);
    mfr_loss after;
    mfr_trainer_last_loss(r, &after, NULL);
    assert_memory_equal(&before, &after, sizeof before);
    assert_int_equal(mfr_model_epochs(mfr_trainer_model(r)), 7);
    steps(r, 8);
    char *got = model_bytes(f, mfr_trainer_model(r), &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(want, got, la);
    free(want);
    free(got);
    mfr_trainer_destroy(r);
    mfr_checkpoint_destroy(ck);
}

static void test_resume_is_bit_identical(void **state)
{
    struct fixture *f = *state;
    for (int reduce = MFR_REDUCE_SHARD; reduce <= MFR_REDUCE_OWNER; reduce++) {
        mfr_config cfg;
        mfr_config_default(&cfg);
        cfg.k = 5, cfg.lr = 0.01, cfg.reduce = reduce;
        check_resume_identical(f, &cfg); /* plain Adam */
        mfr_config o = cfg;
        o.bias = 1, o.l2 = 0.1, o.l2_freq = 0.05, o.l2_bias = 0.02, o.implicit = 0.5,
        o.gravity = 2.0, o.l1_items = 0.01;
        check_resume_identical(f, &o); /* every term */
        o = cfg;
        o.optimizer = MFR_OPTIMIZER_SGD, o.lr = 0.5, o.bias = 1, o.l2 = 0.05;
        check_resume_identical(f, &o);
    }
}

/* The run state, the best model and the log come back as saved. */
/* b (len bytes, a checkpoint) given its FNV-1a checksum again. */
static void resum(unsigned char *b, size_t len)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t x = 0; x + 8 < len; x++) h = (h ^ b[x]) * UINT64_C(0x100000001b3);
    put_le(b + len - 8, h, 8);
}

/* The offset of the run section's header in b (len bytes, a checkpoint),
 * checking that the sections fill the file up to its checksum. */
static size_t run_section_at(const unsigned char *b, size_t len)
{
    size_t at = 16, run_at = 0;
    const uint32_t sections = (uint32_t)get_le(b + 12, 4);
    for (uint32_t x = 0; x < sections; x++) {
        if (get_le(b + at, 4) == 2) run_at = at;
        at += 16 + (size_t)get_le(b + at + 8, 8);
    }
    assert_true(run_at > 0 && at + 8 == len);
    return run_at;
}

/* A run without no_train_eval writes the 14 records of a file from
 * before record 15, which the builds of that time read. */
static void check_run_without_record_15(struct fixture *f, mfr_trainer *tr, mfr_run_state run)
{
    run.no_train_eval = 0;
    save(f, tr, &run, "ck14");
    char *ck = tu_path(f->dir, "ck14");
    size_t len;
    unsigned char *b = (unsigned char *)tu_read_file(ck, &len);
    assert_non_null(b);
    const size_t run_at = run_section_at(b, len);
    assert_int_equal(get_le(b + run_at + 8, 8), 4 + 16 * 14);
    assert_int_equal(get_le(b + run_at + 16, 4), 14);
    free(b);
    free(ck);
    mfr_checkpoint *c = load(f, "ck14");
    mfr_run_state got;
    assert_int_equal(mfr_checkpoint_run(c, &got, NULL), MFR_OK);
    assert_int_equal(got.no_train_eval, 0);
    assert_int_equal(got.epochs, 40);
    mfr_checkpoint_destroy(c);
}

static void test_run_state_round_trip(void **state)
{
    struct fixture *f = *state;
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 4;
    mfr_trainer *tr = make(f, &cfg);
    steps(tr, 3);
    mfr_model *best = NULL;
    assert_int_equal(mfr_model_copy(mfr_trainer_model(tr), &best, NULL), MFR_OK);
    steps(tr, 2);
    const char log[] = "{\"epoch\":1}\n\0binary";
    mfr_run_state run = {.epochs = 40, .early_stop = 6, .best_epoch = 3, .best_val = 0.75,
                         .log_every = 2, .checkpoint_every = 5, .elapsed_s = 1.5, .train_s = 1.25,
                         .best = best, .log = log, .log_len = sizeof log, .no_train_eval = 1};
    save(f, tr, &run, "ck");
    mfr_checkpoint *c = load(f, "ck");
    mfr_run_state got;
    assert_int_equal(mfr_checkpoint_run(c, &got, NULL), MFR_OK);
    assert_int_equal(got.epochs, 40);
    assert_int_equal(got.early_stop, 6);
    assert_int_equal(got.best_epoch, 3);
    assert_true(got.best_val == 0.75);
    assert_int_equal(got.log_every, 2);
    assert_int_equal(got.checkpoint_every, 5);
    assert_int_equal(got.no_train_eval, 1);
    assert_true(got.elapsed_s == 1.5 && got.train_s == 1.25);
    assert_int_equal(got.log_len, sizeof log);
    assert_memory_equal(got.log, log, sizeof log);
    assert_int_equal(mfr_model_checksum(got.best), mfr_model_checksum(best));
    assert_int_equal(mfr_model_epochs(got.best), 3);
    assert_int_equal(mfr_model_checksum(mfr_checkpoint_model(c)),
                     mfr_model_checksum(mfr_trainer_model(tr)));
    assert_int_equal(mfr_model_epochs(mfr_checkpoint_model(c)), 5);
    mfr_checkpoint_destroy(c);

    /* A file written before run record 15 (no_train_eval): its 14
     * records load, the 15th as 0. Made from this one: the record dropped,
     * the counts and the checksum rewritten. */
    char *ck = tu_path(f->dir, "ck");
    size_t len;
    unsigned char *b = (unsigned char *)tu_read_file(ck, &len);
    assert_non_null(b);
    const size_t run_at = run_section_at(b, len);
    const size_t n_rec = (size_t)get_le(b + run_at + 16, 4), rec_end = run_at + 16 + 4 + 16 * n_rec;
    assert_int_equal(n_rec, 15);
    assert_int_equal(get_le(b + rec_end - 16, 4), 15); /* the last record is tag 15 */
    memmove(b + rec_end - 16, b + rec_end, len - rec_end);
    len -= 16;
    put_le(b + run_at + 8, get_le(b + run_at + 8, 8) - 16, 8);
    put_le(b + run_at + 16, 14, 4);
    resum(b, len);
    tu_write_file(f->dir, "ck_v14", (const char *)b, len);
    free(b);
    free(ck);
    c = load(f, "ck_v14");
    assert_int_equal(mfr_checkpoint_run(c, &got, NULL), MFR_OK);
    assert_int_equal(got.no_train_eval, 0);
    assert_int_equal(got.epochs, 40);
    assert_int_equal(got.best_epoch, 3);
    assert_int_equal(got.log_len, sizeof log);
    mfr_checkpoint_destroy(c);

    check_run_without_record_15(f, tr, run);

    /* a best model without best_epoch, and a NaN score, are refused */
    mfr_error err = {0};
    char *path = tu_path(f->dir, "bad");
    run.best_epoch = 0;
    assert_int_equal(mfr_trainer_save_checkpoint(tr, &run, path, &err), MFR_ERR_INVALID);
    run.best_epoch = 3, run.best_val = NAN;
    assert_int_equal(mfr_trainer_save_checkpoint(tr, &run, path, &err), MFR_ERR_INVALID);
    tu_expect_in(err.message, "best_val");
    /* an MSE is never negative: a best_val below 0 (-inf too) no epoch
     * beats, and a resumed run stopped early on it */
    run.best_val = -1.0;
    assert_int_equal(mfr_trainer_save_checkpoint(tr, &run, path, &err), MFR_ERR_INVALID);
    tu_expect_in(err.message, "best_val = -1 is not a number >= 0");
    run.best_val = -INFINITY;
    assert_int_equal(mfr_trainer_save_checkpoint(tr, &run, path, &err), MFR_ERR_INVALID);
    tu_expect_in(err.message, "best_val");
    run.best_val = 0.75, run.no_train_eval = 2;
    assert_int_equal(mfr_trainer_save_checkpoint(tr, &run, path, &err), MFR_ERR_INVALID);
    tu_expect_in(err.message, "no_train_eval = 2 is not 0 or 1");
    /* a best epoch after the trainer's own: the reader refuses it as
     * corrupt, so the writer refuses it too (it wrote a file that did not
     * load) */
    run.no_train_eval = 1;
    mfr_trainer *early = make(f, &cfg);
    steps(early, 2);
    assert_int_equal(mfr_trainer_save_checkpoint(early, &run, path, &err), MFR_ERR_INVALID);
    tu_expect_in(err.message, "best_epoch (3)");
    mfr_trainer_destroy(early);
    assert_false(tu_exists(path));
    free(path);
    mfr_model_destroy(best);
    mfr_trainer_destroy(tr);
}

/* A trainer whose last step diverged has no state to save, and the error
 * says so. A rejected step (a non-finite loss: nothing updated) left its
 * loss as the trainer's last, and the save blamed "run state loss_total
 * = inf", a record the caller never gave; a step that wrote its parameters
 * (broken_epoch) was refused for the value it left ("U[0][0] = inf is not
 * finite"), which said nothing of the divergence, and would have been
 * written where those stayed finite. Nothing is written. */
static void test_save_after_divergence(void **state)
{
    struct fixture *f = *state;
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 4;
    mfr_trainer *tr = make(f, &cfg);
    const int32_t nu = mfr_dataset_n_users(f->ds), ni = mfr_dataset_n_items(f->ds);
    float *U = malloc(sizeof(float) * 4 * (size_t)nu), *V = malloc(sizeof(float) * 4 * (size_t)ni);
    for (int32_t x = 0; x < 4 * nu; x++) U[x] = 1e30f; /* predictions overflow: the loss is inf */
    for (int32_t x = 0; x < 4 * ni; x++) V[x] = 1e30f;
    mfr_error err = {0};
    assert_int_equal(mfr_trainer_set_factors(tr, U, nu, 4, V, ni, 4, &err), MFR_OK);
    assert_int_equal(mfr_trainer_step(tr, NULL, &err), MFR_ERR_DIVERGED);
    char *path = tu_path(f->dir, "diverged");
    mfr_run_state run = {.epochs = 9, .best_val = INFINITY};
    assert_int_equal(mfr_trainer_save_checkpoint(tr, &run, path, &err), MFR_ERR_STATE);
    tu_expect_in(err.message, "the last step (epoch 1) diverged (training loss inf) and was rejected, so there "
                              "is no valid state to save");
    assert_null(strstr(err.message, "loss_total"));
    assert_false(tu_exists(path));
    mfr_trainer_destroy(tr);
    free(U), free(V);

    /* an update that overflowed was applied: the parameters are unusable */
    cfg.lr = 1e300;
    tr = make(f, &cfg);
    assert_int_equal(mfr_trainer_step(tr, NULL, &err), MFR_ERR_DIVERGED);
    assert_int_equal(mfr_trainer_save_checkpoint(tr, &run, path, &err), MFR_ERR_STATE);
    tu_expect_in(err.message, "the trainer diverged at epoch 1, whose step left its parameters unusable, so "
                              "there is no valid state to save");
    assert_false(tu_exists(path));
    mfr_trainer_destroy(tr);

    /* ALS: a row system that is not positive definite leaves the rows
     * solved before it (finite) and the epoch not counted */
    tu_write_file(f->dir, "als.tsv", "1\t1\t3e38\n1\t2\t-3e38\n2\t1\t3e38\n2\t2\t3e38\n3\t1\t-3e38\n",
                  (size_t)-1);
    char *file = tu_path(f->dir, "als.tsv");
    mfr_load_options lo;
    mfr_load_options_default(&lo);
    lo.format = MFR_FORMAT_DELIMITED;
    lo.cache = MFR_CACHE_NEVER;
    mfr_dataset *ds = NULL;
    assert_int_equal(mfr_dataset_load(file, &lo, &ds, &err), MFR_OK);
    mfr_config_default(&cfg);
    cfg.k = 2;
    cfg.optimizer = MFR_OPTIMIZER_ALS;
    cfg.l2 = 0.1;
    assert_int_equal(mfr_trainer_create(&cfg, ds, mfr_dataset_ratings(ds), NULL, &tr, &err), MFR_OK);
    assert_int_equal(mfr_trainer_step(tr, NULL, &err), MFR_ERR_DIVERGED);
    assert_int_equal(mfr_trainer_save_checkpoint(tr, &run, path, &err), MFR_ERR_STATE);
    tu_expect_in(err.message, "the trainer diverged at epoch 1");
    assert_false(tu_exists(path));
    mfr_trainer_destroy(tr);
    mfr_dataset_destroy(ds);
    free(file), free(path);
}

/* The writer refuses what its loader refuses (one check, parts_agree):
 * a softmax optimizer section beside a matrix factorization model was
 * written, and the load then refused the file as corrupt; a best model of
 * the softmax kind beside a matrix factorization trainer, of its shape,
 * was written and loaded as the run's best. Nothing is written. */
static void test_writer_refuses_what_loader_refuses(void **state)
{
    struct fixture *f = *state;
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 4;
    mfr_trainer *tr = make(f, &cfg);
    steps(tr, 2);
    char *path = tu_path(f->dir, "mixed");
    mfr_error err = {0};
    float state_[8] = {0};
    struct mfr_ckpt_parts p = {.model = mfr_trainer_model(tr), .train_nnz = 1, .n_state = 1, .steps = 2,
                               .n_params = 8, .state = {state_}};
    mfr_run_state run = {.epochs = 9, .best_val = INFINITY};
    assert_int_equal(mfr_ckpt_save(&p, &run, path, &err), MFR_ERR_INVALID);
    tu_expect_in(err.message, "the softmax optimizer state does not match the matrix factorization model");
    assert_false(tu_exists(path));

    /* a softmax model of the trainer's users, items and k as the best */
    mfr_softmax_config sc;
    mfr_softmax_config_default(&sc);
    sc.k = 4;
    mfr_softmax_trainer *st = NULL;
    assert_int_equal(mfr_softmax_trainer_create(&sc, f->ds, mfr_split_train(f->split), NULL, 1, &st, &err), MFR_OK);
    assert_int_equal(mfr_softmax_trainer_epoch(st, NULL, &err), MFR_OK);
    mfr_model *sm = NULL;
    assert_int_equal(mfr_softmax_trainer_model(st, &sm, &err), MFR_OK);
    assert_int_equal(mfr_model_k(sm), 4);
    assert_int_equal(mfr_model_n_users(sm), mfr_model_n_users(mfr_trainer_model(tr)));
    assert_int_equal(mfr_model_n_items(sm), mfr_model_n_items(mfr_trainer_model(tr)));
    run.best_epoch = mfr_model_epochs(sm), run.best_val = 0.5, run.best = sm;
    assert_int_equal(mfr_trainer_save_checkpoint(tr, &run, path, &err), MFR_ERR_INVALID);
    tu_expect_in(err.message, "the best model does not match best_epoch (");
    tu_expect_in(err.message, "with the trainer model's users, items, k and kind");
    assert_false(tu_exists(path));
    mfr_model_destroy(sm);
    mfr_softmax_trainer_destroy(st);
    mfr_trainer_destroy(tr);
    free(path);
}

/* Loading b (len bytes) as NAME is refused as corrupt, the message
 * holding msg. */
static void expect_refused(struct fixture *f, const unsigned char *b, size_t len, const char *name,
                           const char *msg)
{
    tu_write_file(f->dir, name, (const char *)b, len);
    char *p = tu_path(f->dir, name);
    mfr_checkpoint *c = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_checkpoint_load(p, &c, &err), MFR_ERR_CORRUPT);
    assert_null(c);
    tu_expect_in(err.message, msg);
    free(p);
}

/* A checkpoint from a newer mfrec (a run record, a section or more
 * sections than this build knows, under a valid checksum) is named as
 * one, not as damage ("run state holds 16 records in 260 bytes, expected
 * 15 in 244"): a colleague's older build says what to do. Made from one
 * of this build: the new parts appended, counts and checksum rewritten. */
static void test_newer_writer_named(void **state)
{
    struct fixture *f = *state;
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 2;
    mfr_trainer *tr = make(f, &cfg);
    steps(tr, 2);
    mfr_model *best = NULL;
    assert_int_equal(mfr_model_copy(mfr_trainer_model(tr), &best, NULL), MFR_OK);
    const char log[] = "x\n";
    mfr_run_state run = {.epochs = 9, .best_val = INFINITY, .log = log, .log_len = 2,
                         .no_train_eval = 1};
    save(f, tr, &run, "ck");
    run.best = best, run.best_epoch = 2, run.best_val = 0.5, run.early_stop = 3;
    save(f, tr, &run, "ck4"); /* trainer, run, best, log */
    mfr_model_destroy(best);
    mfr_trainer_destroy(tr);
    char *path = tu_path(f->dir, "ck");
    size_t len;
    unsigned char *orig = (unsigned char *)tu_read_file(path, &len);
    assert_non_null(orig);
    free(path);

    /* a run record 16 after the 15 */
    unsigned char *b = malloc(len + 16 + 32);
    memcpy(b, orig, len);
    const size_t run_at = run_section_at(b, len);
    size_t n_rec = (size_t)get_le(b + run_at + 16, 4), rec_end = run_at + 16 + 4 + 16 * n_rec;
    assert_int_equal(n_rec, 15);
    memmove(b + rec_end + 16, b + rec_end, len - rec_end);
    put_le(b + rec_end, 16, 4), put_le(b + rec_end + 4, 8, 4), put_le(b + rec_end + 8, 1, 8);
    put_le(b + run_at + 8, get_le(b + run_at + 8, 8) + 16, 8);
    put_le(b + run_at + 16, 16, 4);
    resum(b, len + 16);
    expect_refused(f, b, len + 16, "ck16",
                   "ck16: run state holds 16 records, where this build knows 15: the checkpoint "
                   "was written by a newer mfrec, which must resume it");

    /* a section of tag 6 after the last */
    memcpy(b, orig, len);
    put_le(b + 12, get_le(b + 12, 4) + 1, 4);
    memset(b + len - 8, 0, 24);
    put_le(b + len - 8, 6, 4), put_le(b + len, 8, 8), put_le(b + len + 8, 7, 8);
    resum(b, len + 24);
    expect_refused(f, b, len + 24, "ck6",
                   "section tag 6 at byte ");
    expect_refused(f, b, len + 24, "ck6",
                   "is newer than this build reads (1 to 5): the checkpoint was written by a "
                   "newer mfrec, which must resume it");
    /* ... and one with a reserved field set stays damage */
    put_le(b + len - 4, 1, 4);
    resum(b, len + 24);
    expect_refused(f, b, len + 24, "ck6r", "section tag 6 at byte");
    expect_refused(f, b, len + 24, "ck6r", "is unknown or repeated");
    free(b);
    free(orig);

    /* 6 sections: the 4 of a run with early stopping and two new ones */
    path = tu_path(f->dir, "ck4");
    orig = (unsigned char *)tu_read_file(path, &len);
    assert_non_null(orig);
    free(path);
    assert_int_equal(get_le(orig + 12, 4), 4);
    b = malloc(len + 32);
    memcpy(b, orig, len);
    put_le(b + 12, 6, 4);
    memset(b + len - 8, 0, 40);
    put_le(b + len - 8, 6, 4), put_le(b + len + 8, 7, 4);
    resum(b, len + 32);
    expect_refused(f, b, len + 32, "ck4x",
                   "ck4x: 6 sections, where this build reads 2 to 5: the checkpoint was written "
                   "by a newer mfrec, which must resume it");
    free(b);
    free(orig);
}

/* Every single-byte change and every truncation is refused as corrupt,
 * from a file and from a buffer; nothing else is accepted. */
static void test_corruption_refused(void **state)
{
    struct fixture *f = *state;
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 2;
    mfr_trainer *tr = make(f, &cfg);
    steps(tr, 2);
    const char log[] = "x\n";
    mfr_run_state run = {.epochs = 9, .best_val = INFINITY, .log = log, .log_len = 2};
    save(f, tr, &run, "ck");
    mfr_trainer_destroy(tr);
    char *path = tu_path(f->dir, "ck");
    size_t len;
    unsigned char *b = (unsigned char *)tu_read_file(path, &len);
    mfr_checkpoint *c = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_checkpoint_load_buffer(b, len, "buf", &c, &err), MFR_OK);
    mfr_checkpoint_destroy(c);
    /* every byte of the preamble, section heads and run state, then a
     * stride through the model */
    for (size_t x = 0; x < len; x += x < 2048 ? 1 : 97) {
        b[x] ^= 0x5a;
        int rc = mfr_checkpoint_load_buffer(b, len, "buf", &c, &err);
        if (rc != MFR_ERR_CORRUPT) fail_msg("byte %zu flipped: status %d (%s)", x, rc, err.message);
        assert_null(c);
        b[x] ^= 0x5a;
    }
    for (size_t n = 0; n < len; n += n < 64 ? 1 : 211) {
        int rc = mfr_checkpoint_load_buffer(b, n, "buf", &c, &err);
        if (rc != MFR_ERR_CORRUPT) fail_msg("truncated to %zu: status %d", n, rc);
    }
    /* no bytes at all are an empty file's; NULL with a length is the caller's mistake */
    assert_int_equal(mfr_checkpoint_load_buffer(NULL, 0, "buf", &c, &err), MFR_ERR_CORRUPT);
    assert_int_equal(mfr_checkpoint_load_buffer(NULL, 10, "buf", &c, &err), MFR_ERR_INVALID);
    tu_expect_in(err.message, "mfr_checkpoint_load_buffer: data is NULL");
    assert_null(c);
    /* a model file is not a checkpoint */
    char *mpath = tu_path(f->dir, "m");
    tr = make(f, &cfg);
    assert_int_equal(mfr_model_save(mfr_trainer_model(tr), mpath, NULL), MFR_OK);
    mfr_trainer_destroy(tr);
    assert_int_equal(mfr_checkpoint_load(mpath, &c, &err), MFR_ERR_CORRUPT);
    tu_expect_in(err.message, "is a model file, not a checkpoint"); /* named, for --resume MODEL */
    int32_t kind = -1;
    assert_int_equal(mfr_checkpoint_kind(mpath, &kind, &err), MFR_ERR_CORRUPT);
    tu_expect_in(err.message, "is a model file, not a checkpoint");
    assert_int_equal(kind, -1); /* left as it was: 0 would read as a kind */
    assert_int_equal(mfr_checkpoint_load(f->dir, &c, &err), MFR_ERR_IO);
    free(mpath);
    free(path);
    free(b);
}

/* Another configuration, split or dataset: MISMATCH naming each. */
static void test_mismatch_refused(void **state)
{
    struct fixture *f = *state;
    mfr_config cfg;
    save_plain(f, &cfg, 3, 2, "ck");
    mfr_checkpoint *c = load(f, "ck");
    mfr_trainer *tr = NULL;

    mfr_config other = cfg;
    other.k = 4, other.l2 = 0.5, other.n_threads = 2, other.kernels = MFR_KERNELS_REF;
    mfr_split *sp = NULL;
    assert_int_equal(mfr_split_create(f->ds, "random:0.3", 5, &sp, NULL), MFR_OK);
    mfr_error err = {0};
    assert_int_equal(mfr_trainer_resume(c, &other, f->ds, mfr_split_train(sp), mfr_split_spec(sp),
                                        &tr, &err),
                     MFR_ERR_MISMATCH);
    assert_null(tr);
    tu_expect_in(err.message, "--dim is 4, the checkpoint's 3");
    tu_expect_in(err.message, "--l2 is 0.5, the checkpoint's 0");
    tu_expect_in(err.message, "split is 'random:0.3'");
    tu_expect_in(err.message, "training ratings differ");
    assert_null(strstr(err.message, "--threads"));
    assert_null(strstr(err.message, "--kernels"));
    mfr_split_destroy(sp);

    /* another dataset */
    char *data = tu_path(f->dir, "data2");
    mfr_dataset *ds2 = NULL;
    assert_int_equal(tu_synth(data, 90, 60, 2000, 8, &ds2), 0);
    assert_int_equal(mfr_split_create(ds2, "random:0.2", 5, &sp, NULL), MFR_OK);
    assert_int_equal(mfr_trainer_resume(c, &cfg, ds2, mfr_split_train(sp), mfr_split_spec(sp), &tr,
                                        &err),
                     MFR_ERR_MISMATCH);
    tu_expect_in(err.message, "dataset:");
    mfr_split_destroy(sp);
    mfr_dataset_destroy(ds2);
    free(data);
    mfr_checkpoint_destroy(c);
}

/* A resume takes the checkpoint's split as written or normalized
 * ("random:.2" is mfr_split_spec's "random:0.2"), as mfr_model_check_split
 * does: the trainer given "random:.2" was refused its own split by a
 * resume given mfr_split_spec's form, and the other way round. The model
 * keeps recording the spec as the run wrote it. Another split is still
 * refused. */
static void test_resume_reads_the_split_as_written(void **state)
{
    struct fixture *f = *state;
    const char *const written[] = {"random:.2", "random:0.2"}, *const given[] = {"random:0.2", "random:.20"};
    for (int x = 0; x < 2; x++) {
        mfr_config cfg;
        mfr_config_default(&cfg);
        cfg.k = 3;
        mfr_trainer *tr = NULL;
        mfr_error err = {0};
        assert_int_equal(mfr_trainer_create(&cfg, f->ds, mfr_split_train(f->split), written[x], &tr, &err),
                         MFR_OK);
        steps(tr, 2);
        mfr_run_state run = {.epochs = 9, .best_val = INFINITY};
        save(f, tr, &run, "ck");
        mfr_trainer_destroy(tr);
        mfr_checkpoint *c = load(f, "ck");
        mfr_trainer *r = NULL;
        if (mfr_trainer_resume(c, &cfg, f->ds, mfr_split_train(f->split), given[x], &r, &err) != MFR_OK)
            fail_msg("resume with %s of %s: %s", given[x], written[x], err.message);
        assert_string_equal(mfr_model_split_spec(mfr_trainer_model(r)), written[x]);
        mfr_trainer_destroy(r);
        r = NULL;
        assert_int_equal(mfr_trainer_resume(c, &cfg, f->ds, mfr_split_train(f->split), "random:0.3", &r, &err),
                         MFR_ERR_MISMATCH);
        assert_null(r);
        tu_expect_in(err.message, "split is 'random:0.3'");
        mfr_checkpoint_destroy(c);
    }
}

/* A model of users [lo, hi) shaped as m's parts are (an MPI rank's). */
static mfr_model *part_of(const mfr_model *m, int32_t lo, int32_t hi)
{
    mfr_model *p = NULL;
    assert_int_equal(mfr_model_alloc(m->k, m->cfg.bias, hi - lo, m->n_items, &p, NULL), MFR_OK);
    if (m->Y) assert_int_equal(mfr_model_alloc_implicit(p, NULL), MFR_OK);
    assert_int_equal(mfr_model_alloc_state(p, m->n_state, NULL), MFR_OK);
    return p;
}

static void assert_arrays_equal(const mfr_model *a, const mfr_model *b)
{
    struct mfr_model_array x[MFR_MODEL_MAX_ARRAYS], y[MFR_MODEL_MAX_ARRAYS];
    const int n = mfr_model_arrays(a, x);
    assert_int_equal(mfr_model_arrays(b, y), n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(x[i].rows, y[i].rows);
        assert_memory_equal(x[i].a, y[i].a, sizeof(float) * (size_t)x[i].rows * (size_t)a->k_pad);
    }
}

/* A checkpoint loaded as a shell (mfr_ckpt_load_shell, the MPI ranks'
 * --resume) holds no user rows; a part reads its own rows from the file
 * (those of the whole load), and a trainer resumed from it (all users, as
 * one rank) is the one resumed from the whole load, verified or not. */
static void test_shell_reads_rows(void **state)
{
    struct fixture *f = *state;
    for (int c = 0; c < 2; c++) {
        mfr_config cfg;
        mfr_config_default(&cfg);
        cfg.k = 5, cfg.lr = 0.01, cfg.bias = 1;
        if (c == 0) cfg.implicit = 0.5, cfg.l2 = 0.1;
        else cfg.optimizer = MFR_OPTIMIZER_SGD, cfg.lr = 0.5;
        mfr_trainer *tr = make(f, &cfg);
        steps(tr, 2);
        mfr_model *best = NULL;
        assert_int_equal(mfr_model_copy(mfr_trainer_model(tr), &best, NULL), MFR_OK);
        steps(tr, 2);
        mfr_run_state run = {.epochs = 9, .early_stop = 3, .best_epoch = 2, .best_val = 0.5, .best = best};
        save(f, tr, &run, "ck");
        mfr_trainer_destroy(tr);
        mfr_model_destroy(best);
        char *path = tu_path(f->dir, "ck");
        mfr_checkpoint *whole = load(f, "ck");
        mfr_run_state wrun;
        assert_int_equal(mfr_checkpoint_run(whole, &wrun, NULL), MFR_OK);
        mfr_error err = {0};
        mfr_trainer *want = NULL;
        assert_int_equal(mfr_trainer_resume(whole, &cfg, f->ds, mfr_split_train(f->split), mfr_split_spec(f->split),
                                            &want, &err), MFR_OK);
        assert_int_equal(mfr_ckpt_rows_read(whole), -1);
        const mfr_model *wm = mfr_checkpoint_model(whole);
        const int32_t lo = 17, hi = 61;
        for (int verify = 0; verify < 2; verify++) {
            mfr_checkpoint *sh = NULL;
            if (mfr_ckpt_load_shell(path, verify, &sh, &err) != MFR_OK) fail_msg("shell: %s", err.message);
            const mfr_model *sm = mfr_checkpoint_model(sh);
            assert_null(sm->U); /* no user rows in memory */
            assert_int_equal(sm->n_users, wm->n_users);
            assert_memory_equal(sm->user_ids, wm->user_ids, sizeof(int64_t) * (size_t)wm->n_users);
            for (int b = 0; b < 2; b++) { /* the trainer model's part, then the best model's */
                mfr_model *got = part_of(wm, lo, hi), *exp = part_of(wm, lo, hi);
                assert_int_equal(mfr_ckpt_read_part(sh, b, got, lo, &err), MFR_OK);
                assert_int_equal(mfr_model_copy_part(exp, b ? wrun.best : wm, lo, &err), MFR_OK);
                assert_arrays_equal(got, exp);
                assert_int_equal(got->epochs, b ? 2 : 4);
                mfr_model_destroy(got);
                mfr_model_destroy(exp);
            }
            assert_int_equal(mfr_ckpt_rows_read(sh), hi - lo); /* the trainer model's rows only */
            mfr_trainer *r = NULL;
            if (mfr_trainer_resume(sh, &cfg, f->ds, mfr_split_train(f->split), mfr_split_spec(f->split), &r, &err) !=
                MFR_OK)
                fail_msg("resume from the shell: %s", err.message);
            assert_int_equal(mfr_ckpt_rows_read(sh), hi - lo + wm->n_users);
            assert_arrays_equal(mfr_trainer_model(r), mfr_trainer_model(want));
            assert_int_equal(mfr_model_checksum(mfr_trainer_model(r)), mfr_model_checksum(mfr_trainer_model(want)));
            mfr_trainer_destroy(r);
            mfr_checkpoint_destroy(sh);
        }
        mfr_trainer_destroy(want);
        mfr_checkpoint_destroy(whole);
        free(path);
    }
}

/* Writes b (len bytes) to dir/name and returns its path. */
static char *write_copy(struct fixture *f, const char *name, const unsigned char *b, size_t len)
{
    tu_write_file(f->dir, name, (const char *)b, len);
    return tu_path(f->dir, name);
}

/* A shell loaded with verify checks both checksums over every byte (the
 * user rows it does not keep included); one loaded without relies on
 * that, but still refuses a non-finite user row when a part reads it, and
 * a file changed since it was loaded. */
/* A checkpoint cut short is named as truncated (with the bytes its
 * sections need), at any length past the preamble; a changed byte inside,
 * in the section count or a section head included, stays a plain
 * checksum mismatch. */
static void test_truncated(void **state)
{
    struct fixture *f = *state;
    mfr_config cfg;
    save_plain(f, &cfg, 4, 1, "ck-full");
    char *path = tu_path(f->dir, "ck-full");
    size_t len;
    unsigned char *b = (unsigned char *)tu_read_file(path, &len);
    const size_t cuts[] = {len - 1, len - 8, len / 2, 40, 24};
    mfr_error err = {0};
    mfr_checkpoint *c = NULL;
    for (size_t x = 0; x < sizeof cuts / sizeof *cuts; x++) {
        char *t = write_copy(f, "ck-cut", b, cuts[x]);
        assert_int_equal(mfr_checkpoint_load(t, &c, &err), MFR_ERR_CORRUPT);
        assert_null(c);
        char want[128];
        snprintf(want, sizeof want,
                 "ck-cut: checksum mismatch: the file is truncated or corrupted (%zu bytes, where its ",
                 cuts[x]);
        tu_expect_in(err.message, want);
        free(t);
    }
    /* bytes: the section count (12), the first head's reserved field (20)
     * and its length's low byte (24), the middle of the file */
    const size_t flips[] = {12, 20, 24, len / 2};
    for (size_t x = 0; x < sizeof flips / sizeof *flips; x++) {
        b[flips[x]] ^= 1;
        char *t = write_copy(f, "ck-flip", b, len);
        b[flips[x]] ^= 1;
        assert_int_equal(mfr_checkpoint_load(t, &c, &err), MFR_ERR_CORRUPT);
        tu_expect_in(err.message, "ck-flip: checksum mismatch: file is corrupted");
        free(t);
    }
    free(b), free(path);
}

static void test_shell_damage(void **state)
{
    struct fixture *f = *state;
    mfr_config cfg;
    save_plain(f, &cfg, 4, 2, "ck"); /* no biases: k_row 4 */
    char *path = tu_path(f->dir, "ck");
    size_t len;
    unsigned char *b = (unsigned char *)tu_read_file(path, &len);
    /* U[50][1]: after the preamble and section head (32 bytes), the model's
     * header (its size at byte 12) and every id */
    const uint32_t hs = (uint32_t)b[44] | (uint32_t)b[45] << 8 | (uint32_t)b[46] << 16 | (uint32_t)b[47] << 24;
    const size_t at = 32 + hs + 8 * (size_t)(mfr_dataset_n_users(f->ds) + mfr_dataset_n_items(f->ds)) + 4 * (4 * 50 + 1);
    mfr_checkpoint *c = NULL;
    mfr_error err = {0};
    const unsigned char nan_bytes[4] = {0xff, 0xff, 0xff, 0x7f};
    unsigned char keep[4];
    memcpy(keep, b + at, 4);
    memcpy(b + at, nan_bytes, 4);
    char *dmg = write_copy(f, "ck-nan", b, len);
    memcpy(b + at, keep, 4);
    assert_int_equal(mfr_ckpt_load_shell(dmg, true, &c, &err), MFR_ERR_CORRUPT);
    tu_expect_in(err.message, "checksum mismatch");
    assert_null(c);
    assert_int_equal(mfr_ckpt_load_shell(dmg, false, &c, &err), MFR_OK); /* rank 0 would have refused it */
    mfr_trainer *r = NULL;
    assert_int_equal(mfr_trainer_resume(c, &cfg, f->ds, mfr_split_train(f->split), mfr_split_spec(f->split), &r, &err),
                     MFR_ERR_CORRUPT);
    assert_null(r);
    tu_expect_in(err.message, "U[50][1] = nan is not finite");
    mfr_checkpoint_destroy(c);
    /* changed in place after the load (its time) */
    assert_int_equal(mfr_ckpt_load_shell(path, false, &c, &err), MFR_OK);
    const struct timespec later[2] = {{.tv_sec = 1000000000, .tv_nsec = 0}, {.tv_sec = 1000000000, .tv_nsec = 0}};
    assert_int_equal(utimensat(AT_FDCWD, path, later, 0), 0);
    assert_int_equal(mfr_trainer_resume(c, &cfg, f->ds, mfr_split_train(f->split), mfr_split_spec(f->split), &r, &err),
                     MFR_ERR_CORRUPT);
    tu_expect_in(err.message, "changed while it was read");
    mfr_checkpoint_destroy(c);
    free(dmg);
    free(b);
    free(path);
}

/* The list of differences holds whole entries only, then "and N more",
 * within an error message's size. */
static void test_diffs_end_on_whole_entries(void **state)
{
    (void)state;
    struct mfr_ckpt_diffs d = {.n = 0};
    for (int x = 0; x < 30; x++) mfr_ckpt_diff_add(&d, "--field-%02d is %d, the checkpoint's %d", x, x, x + 1);
    assert_int_equal(d.n, 30);
    assert_true(strlen(d.buf) < sizeof d.buf);
    const char *more = strstr(d.buf, "; and ");
    assert_non_null(more);
    int shown = 0;
    for (const char *p = d.buf; (p = strstr(p, "--field-")); p++) shown++;
    char want[32];
    snprintf(want, sizeof want, "; and %d more", 30 - shown);
    assert_string_equal(more, want);
    /* the last entry shown is whole */
    char last[64];
    snprintf(last, sizeof last, "the checkpoint's %d; and", shown);
    tu_expect_in(d.buf, last);
    mfr_error err = {0};
    mfr_seterr(&err, MFR_ERR_MISMATCH, "the run differs from the checkpoint's: %s", d.buf);
    tu_expect_in(err.message, want); /* the whole list fits a message */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_is_bit_identical),
        cmocka_unit_test(test_run_state_round_trip),
        cmocka_unit_test(test_save_after_divergence),
        cmocka_unit_test(test_writer_refuses_what_loader_refuses),
        cmocka_unit_test(test_newer_writer_named),
        cmocka_unit_test(test_corruption_refused),
        cmocka_unit_test(test_diffs_end_on_whole_entries),
        cmocka_unit_test(test_mismatch_refused),
        cmocka_unit_test(test_resume_reads_the_split_as_written),
        cmocka_unit_test(test_shell_reads_rows),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_shell_damage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
