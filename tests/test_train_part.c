/*
 * test_train_part.c — a trainer of part of the users (an MPI rank's,
 * mfr_trainer_create_part) against the whole trainer, without MPI: the
 * part holds the users of shards [s_lo, s_hi) of the whole cut, and its
 * initial rows, its users' gradients, loss slots and shard buffers are the
 * whole trainer's bits for those users and shards (the MPI step adds only
 * the exchanges, tests/mpi/run.sh); it allocates less; a model's part
 * round-trips through mfr_model_copy_part.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dataset_priv.h"
#include "mfrec.h"
#include "test_util.h"
#include "train_priv.h"

struct fixture {
    char *dir;
    mfr_dataset *ds;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = tu_mkdtemp();
    char *data = tu_path(f->dir, "data");
    int rc = tu_synth(data, 150, 70, 4000, 6, &f->ds);
    free(data);
    if (rc != 0) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    mfr_dataset_destroy(f->ds);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* The ratings of users [lo, hi) of r, in r's order, users counted from lo. */
static mfr_ratings *slice(const mfr_ratings *r, int32_t lo, int32_t hi)
{
    int64_t n = 0;
    for (int64_t j = 0; j < r->n; j++) n += r->user[j] >= lo && r->user[j] < hi;
    mfr_ratings *out = NULL;
    assert_int_equal(mfr_ratings_alloc(n, &out, NULL), MFR_OK);
    int64_t x = 0;
    for (int64_t j = 0; j < r->n; j++) {
        if (r->user[j] < lo || r->user[j] >= hi) continue;
        out->user[x] = r->user[j] - lo;
        out->item[x] = r->item[j];
        out->rating[x] = r->rating[j];
        out->ts[x++] = r->ts[j];
    }
    return out;
}

/* The part of shards [s_lo, s_hi) of the whole trainer w: the numbers it
 * takes from the whole data are w's (an MPI rank computes them from the
 * whole training set's counts, src/mpi/mpi_part.c). */
static mfr_trainer *make_part(const struct fixture *f, const mfr_config *cfg, const mfr_trainer *w, int32_t s_lo,
                              int32_t s_hi)
{
    const struct mfr_train_part part = {.user_lo = w->shard_first[s_lo], .user_hi = w->shard_first[s_hi],
                                        .shard_lo = s_lo, .shard_hi = s_hi, .n_shards = w->n_shards,
                                        .shard_first = w->shard_first, .nnz = w->csr.nnz,
                                        .item_count = w->item_count, .bias_mean = w->bias_mean};
    mfr_ratings *mine = slice(mfr_dataset_ratings(f->ds), part.user_lo, part.user_hi);
    mfr_trainer *p = NULL;
    mfr_error err = {0};
    if (mfr_trainer_create_part(cfg, f->ds, mine, NULL, &part, &p, &err) != MFR_OK) fail_msg("part: %s", err.message);
    mfr_ratings_destroy(mine);
    return p;
}

static void assert_rows(const float *part, const float *whole, int64_t first_row, int64_t rows, int32_t k_pad)
{
    assert_memory_equal(part, whole + first_row * k_pad, sizeof(float) * (size_t)(rows * k_pad));
}

/* What the MPI step does before its exchanges, on the part and the whole:
 * regularizer partials (the other shards' copied in, as the all-gather
 * does), then the part's shards' user gradients. */
static void user_side(mfr_trainer *w, mfr_trainer *p, int32_t s_lo, int32_t s_hi, struct mfr_step *sw,
                      struct mfr_step *sp)
{
    mfr_step_begin(w, sw);
    mfr_step_begin(p, sp);
    mfr_reg_partials(w, 0, w->n_shards);
    mfr_reg_partials(p, s_lo, s_hi);
    if (p->reg_user_stride)
        for (int32_t s = 0; s < w->n_shards; s++)
            if (s < s_lo || s >= s_hi)
                memcpy(p->reg_user_part + (size_t)s * p->reg_user_stride,
                       w->reg_user_part + (size_t)s * w->reg_user_stride, sizeof(double) * p->reg_user_stride);
    if (w->reg) mfr_reg_reduce(w, sw);
    if (p->reg) mfr_reg_reduce(p, sp);
    for (int32_t s = 0; s < w->n_shards; s++) mfr_shard_user_grads(w, sw, s);
    for (int32_t s = s_lo; s < s_hi; s++) mfr_shard_user_grads(p, sp, s);
}

static void check_part(const struct fixture *f, const mfr_config *cfg)
{
    mfr_trainer *w = NULL;
    mfr_error err = {0};
    assert_int_equal(mfr_trainer_create(cfg, f->ds, mfr_dataset_ratings(f->ds), NULL, &w, &err), MFR_OK);
    assert_true(w->n_shards >= 4);
    const int32_t s_lo = 1, s_hi = 3, u_lo = w->shard_first[s_lo], u_hi = w->shard_first[s_hi];
    mfr_trainer *p = make_part(f, cfg, w, s_lo, s_hi);
    const mfr_model *mw = w->model, *mp = p->model;
    const int32_t kp = mw->k_pad, n = u_hi - u_lo;
    assert_int_equal(mp->n_users, n);
    assert_int_equal(p->n_shards, w->n_shards);
    assert_true(p->mem_bytes < w->mem_bytes);
    /* the initial rows: the part's users' and every item's */
    assert_rows(mp->U, mw->U, u_lo, n, kp);
    assert_rows(mp->V, mw->V, 0, mw->n_items, kp);
    if (mw->P) assert_rows(mp->P, mw->P, u_lo, n, kp);
    struct mfr_step sw, sp;
    user_side(w, p, s_lo, s_hi, &sw, &sp);
    assert_memory_equal(&sw.scale, &sp.scale, sizeof sw.scale);
    assert_rows(p->gU, w->gU, u_lo, n, kp);
    for (int32_t s = s_lo; s < s_hi; s++) {
        assert_memory_equal(&p->shard_loss[(size_t)s * MFR_TRAIN_LOSS_STRIDE],
                            &w->shard_loss[(size_t)s * MFR_TRAIN_LOSS_STRIDE], sizeof(double));
        if (w->shard_gV)
            assert_rows(p->shard_gV + (size_t)(s - s_lo) * (size_t)mw->n_items * (size_t)kp,
                        w->shard_gV + (size_t)s * (size_t)mw->n_items * (size_t)kp, 0, mw->n_items, kp);
    }
    if (w->resid) /* owner mode: the part's ratings' residuals, in CSR order */
        assert_memory_equal(p->resid, w->resid + w->csr.row_ptr[u_lo], sizeof(float) * (size_t)p->csr.nnz);
    mfr_trainer_destroy(p);
    mfr_trainer_destroy(w);
}

static void test_part_shard_bias_regularizers(void **state)
{
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 6;
    cfg.bias = 1;
    cfg.l2 = 0.05;
    cfg.l2_freq = 0.03;
    cfg.gravity = 0.01;
    cfg.n_shards = 5;
    cfg.reduce = MFR_REDUCE_SHARD;
    check_part(*state, &cfg);
}

static void test_part_owner_implicit_sgd(void **state)
{
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 5;
    cfg.implicit = 0.1;
    cfg.l2_bias = 0.0;
    cfg.optimizer = MFR_OPTIMIZER_SGD;
    cfg.n_shards = 6;
    cfg.reduce = MFR_REDUCE_OWNER;
    check_part(*state, &cfg);
}

/* A part whose users have no training ratings at all (an MPI rank of users
 * whose ratings all fell in the test split): only the first 2 users train,
 * so with 20 shards the last one holds the other 148 users and nothing to
 * train on. The part holds 0 ratings (empty CSR, CSC and residuals); its
 * users' gradients (the regularizers' alone), loss slot and shard buffer
 * are the whole trainer's, and the rest of the step runs on it. */
static void test_part_without_ratings(void **state)
{
    const struct fixture *f = *state;
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 5;
    cfg.bias = 1;
    cfg.implicit = 0.1;
    cfg.l2 = 0.05;
    cfg.gravity = 0.01;
    cfg.n_shards = 20;
    mfr_ratings *train = slice(mfr_dataset_ratings(f->ds), 0, 2);
    for (int r = 0; r < 2; r++) {
        cfg.reduce = r ? MFR_REDUCE_OWNER : MFR_REDUCE_SHARD;
        mfr_trainer *w = NULL;
        mfr_error err = {0};
        assert_int_equal(mfr_trainer_create(&cfg, f->ds, train, NULL, &w, &err), MFR_OK);
        const int32_t S = w->n_shards, u_lo = w->shard_first[S - 1];
        assert_int_equal(S, 20);
        assert_true(u_lo >= 2 && u_lo < w->model->n_users); /* the premise: users, none with ratings */
        const struct mfr_train_part part = {.user_lo = u_lo, .user_hi = w->model->n_users, .shard_lo = S - 1,
                                            .shard_hi = S, .n_shards = S, .shard_first = w->shard_first,
                                            .nnz = w->csr.nnz, .item_count = w->item_count,
                                            .bias_mean = w->bias_mean};
        mfr_ratings *none = slice(train, u_lo, part.user_hi);
        assert_int_equal(none->n, 0);
        mfr_trainer *p = NULL;
        if (mfr_trainer_create_part(&cfg, f->ds, none, NULL, &part, &p, &err) != MFR_OK)
            fail_msg("part: %s", err.message);
        mfr_ratings_destroy(none);
        assert_int_equal(p->csr.nnz, 0);
        const int32_t n = p->model->n_users, kp = p->model->k_pad;
        struct mfr_step sw, sp;
        user_side(w, p, S - 1, S, &sw, &sp);
        assert_rows(p->gU, w->gU, u_lo, n, kp);
        assert_memory_equal(&p->shard_loss[(size_t)(S - 1) * MFR_TRAIN_LOSS_STRIDE],
                            &w->shard_loss[(size_t)(S - 1) * MFR_TRAIN_LOSS_STRIDE], sizeof(double));
        if (w->shard_gV)
            assert_rows(p->shard_gV, w->shard_gV + (size_t)(S - 1) * (size_t)w->model->n_items * (size_t)kp, 0,
                        w->model->n_items, kp);
        mfr_phase_loss(p, &sp);
#pragma omp parallel num_threads(2)
        {
            mfr_phase_implicit_finish(p, &sp);
            mfr_phase_update(p, &sp);
            mfr_phase_derive(p, &sp);
            mfr_phase_check(p, &sp);
        }
        assert_int_equal(sp.bad_array, -1);
        mfr_trainer_destroy(p);
        mfr_trainer_destroy(w);
    }
    mfr_ratings_destroy(train);
}

/* A model's part: its users' rows, every item's; a part that does not fit
 * is refused. */
static void test_model_copy_part(void **state)
{
    const struct fixture *f = *state;
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 4;
    cfg.n_shards = 5;
    mfr_trainer *w = NULL;
    assert_int_equal(mfr_trainer_create(&cfg, f->ds, mfr_dataset_ratings(f->ds), NULL, &w, NULL), MFR_OK);
    double loss;
    assert_int_equal(mfr_trainer_step(w, &loss, NULL), MFR_OK); /* non-zero Adam moments */
    mfr_trainer *p = make_part(f, &cfg, w, 2, 4);
    mfr_model *dst = NULL;
    assert_int_equal(mfr_model_copy(p->model, &dst, NULL), MFR_OK);
    const int32_t u_lo = w->shard_first[2], kp = w->model->k_pad;
    assert_int_equal(mfr_model_copy_part(dst, w->model, u_lo, NULL), MFR_OK);
    assert_int_equal(dst->epochs, 1);
    assert_rows(dst->U, w->model->U, u_lo, dst->n_users, kp);
    assert_rows(dst->state[MFR_MODEL_USERS][1], w->model->state[MFR_MODEL_USERS][1], u_lo, dst->n_users, kp);
    assert_rows(dst->state[MFR_MODEL_ITEMS][0], w->model->state[MFR_MODEL_ITEMS][0], 0, dst->n_items, kp);
    mfr_error err = {0};
    assert_int_equal(mfr_model_copy_part(dst, w->model, w->model->n_users - 1, &err), MFR_ERR_MISMATCH);
    mfr_model_destroy(dst);
    mfr_trainer_destroy(p);
    mfr_trainer_destroy(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_part_shard_bias_regularizers),
        cmocka_unit_test(test_part_owner_implicit_sgd),
        cmocka_unit_test(test_part_without_ratings),
        cmocka_unit_test(test_model_copy_part),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
