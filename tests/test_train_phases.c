/*
 * test_train_phases.c — the trainer's parts alone: the phase functions of
 * train_priv.h called one by one (outside any parallel region, and inside
 * one of three threads) give the same bytes as mfr_trainer_step; the
 * regularizer term table's layout, loss parts and coefficients; the
 * optimizer table; the one place that decides the shard count.
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
    int rc = tu_synth(data, 120, 90, 3000, 5, &f->ds);
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

static mfr_trainer *make(const struct fixture *f, const mfr_config *cfg)
{
    mfr_trainer *tr = NULL;
    mfr_error err = {0};
    int rc = mfr_trainer_create(cfg, f->ds, mfr_dataset_ratings(f->ds), NULL, &tr, &err);
    if (rc != MFR_OK) fail_msg("trainer: %s", err.message);
    return tr;
}

/* One step as the sequence of phases, with `threads` threads (0: outside
 * any parallel region). */
static int step_by_phases(mfr_trainer *tr, int threads, double *loss)
{
    struct mfr_step st;
    mfr_step_begin(tr, &st);
    if (threads == 0) {
        mfr_phase_reg_sums(tr, &st);
        mfr_phase_user_grads(tr, &st);
        mfr_phase_loss_items(tr, &st);
        mfr_phase_implicit(tr, &st);
        mfr_phase_update(tr, &st);
        mfr_phase_derive(tr, &st);
        mfr_phase_check(tr, &st);
    } else {
#pragma omp parallel num_threads(threads)
        {
            mfr_phase_reg_sums(tr, &st);
            mfr_phase_user_grads(tr, &st);
            mfr_phase_loss_items(tr, &st);
            mfr_phase_implicit(tr, &st);
            mfr_phase_update(tr, &st);
            mfr_phase_derive(tr, &st);
            mfr_phase_check(tr, &st);
        }
    }
    return mfr_step_end(tr, &st, loss, NULL);
}

static void assert_same_arrays(const mfr_model *a, const mfr_model *b)
{
    struct mfr_model_array x[MFR_MODEL_MAX_ARRAYS], y[MFR_MODEL_MAX_ARRAYS];
    int n = mfr_model_arrays(a, x);
    assert_int_equal(n, mfr_model_arrays(b, y));
    for (int i = 0; i < n; i++) {
        assert_int_equal(x[i].rows, y[i].rows);
        assert_memory_equal(x[i].a, y[i].a, sizeof(float) * (size_t)x[i].rows * (size_t)a->k_pad);
    }
}

static void check_phases_match_step(const struct fixture *f, const mfr_config *cfg)
{
    for (int threads = 0; threads <= 3; threads += 3) {
        mfr_trainer *whole = make(f, cfg), *parts = make(f, cfg);
        for (int e = 0; e < 4; e++) {
            double lw = 0.0, lp = 0.0;
            assert_int_equal(mfr_trainer_step(whole, &lw, NULL), MFR_OK);
            assert_int_equal(step_by_phases(parts, threads, &lp), MFR_OK);
            assert_memory_equal(&lw, &lp, sizeof lw);
        }
        assert_same_arrays(mfr_trainer_model(whole), mfr_trainer_model(parts));
        assert_int_equal(mfr_model_epochs(mfr_trainer_model(parts)), 4);
        mfr_trainer_destroy(whole);
        mfr_trainer_destroy(parts);
    }
}

static void test_phases_owner_every_term(void **state)
{
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 6, cfg.bias = 1, cfg.l2 = 0.2, cfg.l2_freq = 0.1, cfg.gravity = 0.5, cfg.l2_bias = 0.3;
    cfg.implicit = 0.4, cfg.lr = 0.01, cfg.reduce = MFR_REDUCE_OWNER, cfg.n_threads = 2;
    check_phases_match_step(*state, &cfg);
}

static void test_phases_shard_sgd(void **state)
{
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 9, cfg.l2 = 0.1, cfg.gravity = 1.0, cfg.optimizer = MFR_OPTIMIZER_SGD, cfg.lr = 0.5;
    cfg.reduce = MFR_REDUCE_SHARD, cfg.n_shards = 7, cfg.n_threads = 2;
    check_phases_match_step(*state, &cfg);
}

/* mfr_trainer_data_mse is the next step's loss data term bit for bit,
 * for either kernel set and any thread count, and agrees with an
 * evaluation of the training set to float rounding. */
static void check_data_mse(const struct fixture *f, const mfr_config *base)
{
    enum { STEPS = 5 };
    double first[STEPS + 1];
    const int kernels[2] = {MFR_KERNELS_REF, MFR_KERNELS_AUTO};
    for (int run = 0; run < 4; run++) {
        mfr_config cfg = *base;
        cfg.kernels = kernels[run % 2];
        cfg.n_threads = run < 2 ? 1 : 3;
        mfr_trainer *tr = make(f, &cfg);
        for (int e = 0; e <= STEPS; e++) {
            double d = -1.0;
            mfr_error err = {0};
            assert_int_equal(mfr_trainer_data_mse(tr, NULL, &d, &err), MFR_OK);
            mfr_metrics mt;
            assert_int_equal(mfr_trainer_evaluate(tr, mfr_dataset_ratings(f->ds), &mt, &err), MFR_OK);
            assert_true(d > 0.0 && fabs(d - mt.mse) <= 1e-6 * mt.mse);
            if (run == 0) first[e] = d;
            assert_memory_equal(&d, &first[e], sizeof d); /* kernels and threads alike */
            if (e == STEPS) break;
            assert_int_equal(mfr_trainer_step(tr, NULL, &err), MFR_OK);
            mfr_loss lp;
            assert_int_equal(mfr_trainer_last_loss(tr, &lp, &err), MFR_OK);
            assert_memory_equal(&d, &lp.mse, sizeof d);
        }
        /* a copy of the model (an early-stopping run's best epoch) has the
         * data term it had on the trainer, after the trainer moves on */
        mfr_model *copy = NULL;
        assert_int_equal(mfr_model_copy(mfr_trainer_model(tr), &copy, NULL), MFR_OK);
        double at_copy, later, of_copy;
        assert_int_equal(mfr_trainer_data_mse(tr, NULL, &at_copy, NULL), MFR_OK);
        assert_int_equal(mfr_trainer_step(tr, NULL, NULL), MFR_OK);
        assert_int_equal(mfr_trainer_data_mse(tr, NULL, &later, NULL), MFR_OK);
        assert_int_equal(mfr_trainer_data_mse(tr, copy, &of_copy, NULL), MFR_OK);
        assert_memory_equal(&of_copy, &at_copy, sizeof of_copy);
        assert_true(later != at_copy);
        mfr_model_destroy(copy);
        /* the pass leaves the training unchanged: a twin without it steps alike */
        mfr_trainer *twin = make(f, &cfg);
        for (int e = 0; e <= STEPS; e++) assert_int_equal(mfr_trainer_step(twin, NULL, NULL), MFR_OK);
        assert_same_arrays(mfr_trainer_model(tr), mfr_trainer_model(twin));
        mfr_trainer_destroy(twin);
        mfr_trainer_destroy(tr);
    }
}

static void test_data_mse_owner_every_term(void **state)
{
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 6, cfg.bias = 1, cfg.l2 = 0.2, cfg.l2_freq = 0.1, cfg.gravity = 0.5, cfg.l2_bias = 0.3;
    cfg.implicit = 0.4, cfg.lr = 0.01, cfg.reduce = MFR_REDUCE_OWNER;
    check_data_mse(*state, &cfg);
}

static void test_data_mse_shard(void **state)
{
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 40, cfg.l2 = 0.1, cfg.gravity = 1.0, cfg.lr = 0.01, cfg.init_std = 0.3;
    cfg.reduce = MFR_REDUCE_SHARD, cfg.n_shards = 7;
    check_data_mse(*state, &cfg);
    cfg.k = 9, cfg.optimizer = MFR_OPTIMIZER_SGD, cfg.lr = 0.5;
    check_data_mse(*state, &cfg);
}

/* Rows far from the core (5000 items x 32 floats, and a shard buffer of
 * as much: mfr_rows_far), where the user pass also fetches the next
 * user's first rows: the same bytes as the reference kernels, which fetch
 * nothing (and, under the sanitizers, no read outside the CSR). */
static void test_far_rows_same_bytes(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), *data = tu_path(dir, "far");
    mfr_dataset *ds = NULL;
    assert_int_equal(tu_synth(data, 300, 5000, 20000, 9, &ds), 0);
    struct fixture f = {.dir = dir, .ds = ds};
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 32, cfg.lr = 0.01, cfg.reduce = MFR_REDUCE_SHARD, cfg.n_threads = 2;
    assert_true(mfr_rows_far(5000, 32, 1));
    cfg.kernels = MFR_KERNELS_REF;
    mfr_trainer *ref = make(&f, &cfg);
    cfg.kernels = MFR_KERNELS_AUTO;
    mfr_trainer *fast = make(&f, &cfg);
    for (int e = 0; e < 3; e++) {
        double a, b;
        assert_int_equal(mfr_trainer_step(ref, &a, NULL), MFR_OK);
        assert_int_equal(mfr_trainer_step(fast, &b, NULL), MFR_OK);
        assert_memory_equal(&a, &b, sizeof a);
    }
    assert_same_arrays(mfr_trainer_model(ref), mfr_trainer_model(fast));
    mfr_trainer_destroy(ref);
    mfr_trainer_destroy(fast);
    mfr_dataset_destroy(ds);
    tu_rmtree(dir);
    free(data);
    free(dir);
}

static void test_data_mse_refusals(void **state)
{
    const struct fixture *f = *state;
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 4, cfg.optimizer = MFR_OPTIMIZER_ALS, cfg.l2 = 0.1;
    mfr_trainer *tr = make(f, &cfg);
    double d;
    mfr_error err = {0};
    assert_int_equal(mfr_trainer_data_mse(tr, NULL, &d, &err), MFR_ERR_UNSUPPORTED);
    tu_expect_in(err.message, "ALS");
    assert_int_equal(mfr_trainer_data_mse(tr, NULL, NULL, &err), MFR_ERR_INVALID);
    /* a model of another shape */
    mfr_config c2;
    mfr_config_default(&c2);
    c2.k = 5;
    mfr_trainer *t5 = make(f, &c2);
    mfr_config_default(&c2);
    c2.k = 4, c2.bias = 1;
    mfr_trainer *t4b = make(f, &c2);
    c2.bias = 0;
    mfr_trainer *t4 = make(f, &c2);
    assert_int_equal(mfr_trainer_data_mse(t4, mfr_trainer_model(t5), &d, &err), MFR_ERR_MISMATCH);
    tu_expect_in(err.message, "not of the trainer's shape");
    assert_int_equal(mfr_trainer_data_mse(t4, mfr_trainer_model(t4b), &d, &err), MFR_ERR_MISMATCH);
    assert_int_equal(mfr_trainer_data_mse(t4, mfr_trainer_model(t4), &d, &err), MFR_OK);
    mfr_trainer_destroy(t5);
    mfr_trainer_destroy(t4b);
    mfr_trainer_destroy(t4);
    assert_int_equal(mfr_trainer_data_mse(NULL, NULL, &d, &err), MFR_ERR_INVALID);
    mfr_trainer_destroy(tr);
}

/* The layout holds exactly the active terms' partials. */
static void test_term_layout(void **state)
{
    const struct fixture *f = *state;
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 5;
    mfr_trainer *none = make(f, &cfg);
    assert_false(none->reg);
    assert_int_equal(none->reg_user_stride, 0);
    assert_int_equal(none->reg_item_stride, 0);
    mfr_trainer_destroy(none);

    cfg.l2_freq = 0.1, cfg.gravity = 2.0;
    mfr_trainer *tr = make(f, &cfg);
    assert_true(tr->reg);
    /* gravity: a 5 x 5 Gram per shard and per block; l2_freq: one double */
    assert_int_equal(tr->reg_user_stride, 25 + 1);
    assert_int_equal(tr->reg_item_stride, 25 + 1);
    assert_non_null(tr->reg_ctx.user_sum[MFR_REG_GRAVITY]);
    assert_null(tr->reg_ctx.user_sum[MFR_REG_L2]);
    assert_null(tr->reg_ctx.item_sum[MFR_REG_L2_Y]);
    mfr_trainer_destroy(tr);

    /* with gravity, L2 reads the Grams' traces unless implicit feedback
     * makes P differ from U */
    cfg.l2 = 0.3;
    assert_int_equal(mfr_reg_terms[MFR_REG_L2].user_len(&cfg, 5), 0);
    assert_int_equal(mfr_reg_terms[MFR_REG_L2].item_len(&cfg, 5), 0);
    cfg.implicit = 0.5;
    assert_int_equal(mfr_reg_terms[MFR_REG_L2].user_len(&cfg, 5), 1);
    assert_true(mfr_reg_any_active(&cfg));
}

/* Loss parts and coefficients from hand-set sums. */
static void test_term_loss_and_coefs(void **state)
{
    (void)state;
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 2, cfg.bias = 1, cfg.l2 = 0.5, cfg.l2_freq = 0.25, cfg.gravity = 3.0, cfg.l2_bias = 2.0;
    const double gu[4] = {1, 2, 2, 5}, gv[4] = {3, 0, 0, 4};
    const double fu = 10, fv = 6, bu = 1.5, bv = 0.5;
    struct mfr_reg_ctx x = {.cfg = &cfg, .k = 2, .k_pad = 8, .n_users = 4, .n_items = 8, .nnz = 16,
                            .mu = 3.5f};
    x.user_sum[MFR_REG_GRAVITY] = gu, x.item_sum[MFR_REG_GRAVITY] = gv;
    x.user_sum[MFR_REG_L2_FREQ] = &fu, x.item_sum[MFR_REG_L2_FREQ] = &fv;
    x.user_sum[MFR_REG_L2_BIAS] = &bu, x.item_sum[MFR_REG_L2_BIAS] = &bv;
    double l2, grav;
    mfr_reg_loss(&x, &l2, &grav);
    /* L2 from the traces 6 and 7; freq 0.25 * 16 / 16; bias 2 (1.5/4 + 0.5/8) */
    double want_l2 = (0.5 * (6.0 / 4 + 7.0 / 8) + 0.25 * (10.0 + 6.0) / 16) + (2.0 * (1.5 / 4 + 0.5 / 8) + 0.0);
    assert_memory_equal(&l2, &want_l2, sizeof l2);
    double want_grav = 3.0 / 32.0 * (1 * 3 + 5 * 4);
    assert_memory_equal(&grav, &want_grav, sizeof grav);

    struct mfr_reg_coef c[MFR_REG_N_ROWS];
    mfr_reg_coefs(&x, c);
    assert_true(c[MFR_REG_ROW_P].diag == 2.0 * 0.5 / 4);
    assert_true(c[MFR_REG_ROW_P].per_rating == 2.0 * 0.25 / 16);
    assert_true(c[MFR_REG_ROW_U].grav == 2.0 * 3.0 / 32.0);
    assert_ptr_equal(c[MFR_REG_ROW_U].gram, gv);
    assert_ptr_equal(c[MFR_REG_ROW_V].gram, gu);
    assert_true(c[MFR_REG_ROW_V].bias == 2.0 * 2.0 / 8);
    assert_int_equal(c[MFR_REG_ROW_V].bias_lane, 3);
    assert_true(c[MFR_REG_ROW_V].center == 3.5f);
    assert_false(mfr_reg_coef_any(&c[MFR_REG_ROW_Y]));

    /* applied to a row of 3 ratings: x = (1, -2, b_i = 4.5, 1) */
    float g[4] = {0, 0, 0, 0};
    const float row[4] = {1.0f, -2.0f, 1.0f, 4.5f};
    mfr_reg_apply(g, row, 2, &c[MFR_REG_ROW_V], 3);
    const double d = 2.0 * 0.5 / 8 + 2.0 * 0.25 / 16 * 3, gr = 2.0 * 3.0 / 32.0;
    assert_true(g[0] == (float)(d * 1.0 + gr * (1 * 1.0 + 2 * -2.0)));
    assert_true(g[1] == (float)(d * -2.0 + gr * (2 * 1.0 + 5 * -2.0)));
    assert_true(g[2] == 0.0f);
    assert_true(g[3] == (float)(2.0 * 2.0 / 8 * (4.5 - 3.5)));
}

static void test_optimizer_table(void **state)
{
    (void)state;
    const struct mfr_optim *adam = mfr_optim_find(MFR_OPTIMIZER_ADAM), *sgd = mfr_optim_find(MFR_OPTIMIZER_SGD);
    assert_non_null(adam);
    assert_non_null(sgd);
    assert_null(mfr_optim_find(99));
    assert_int_equal(adam->n_state, 2);
    assert_int_equal(sgd->n_state, 0);

    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.lr = 0.5;
    struct mfr_opt_step s = {.kern = &mfr_kernels_ref};
    sgd->begin(&cfg, 1, &s);
    float p[16], g[16];
    for (int x = 0; x < 16; x++) p[x] = (float)x, g[x] = (float)(x % 3);
    struct mfr_param_group grp = {"test", p, {NULL, NULL}, 2};
    mfr_opt_update(sgd, &s, &grp, 8, g, 8); /* the second row only */
    for (int x = 0; x < 16; x++) assert_true(p[x] == (x < 8 ? (float)x : (float)x - 0.5f * (float)(x % 3)));
}

static void test_shard_count(void **state)
{
    (void)state;
    assert_int_equal(mfr_shards_count(5, 0, 100, 50, 8, 1000000), 5);          /* requested */
    assert_int_equal(mfr_shards_count(500, 0, 100, 50, 8, 1000000), 100);      /* at most a user each */
    assert_int_equal(mfr_shards_count(0, 0, 1000, 50, 8, 75000), mfr_shards_default(1000, 75000));
    /* shard buffers of 20,000 items x 32 floats: 32 MiB / 2.5 MiB = 13, rounded up to 16 */
    assert_int_equal(mfr_shards_count(0, 1, 200000, 20000, 32, 10000000), 16);
    assert_int_equal(mfr_shards_count(0, 0, 200000, 20000, 32, 10000000), 128);
    assert_int_equal(mfr_shards_count(0, 1, 0, 10, 8, 0), 1);
}

/* L1 on the items: one SGD step with lr 1 moves every item coordinate by
 * exactly λ1/M sign(V) more than the same step without it, the users not at
 * all, and the loss part is λ1/M Σ|V|. */
static void test_l1_items_term(void **state)
{
    const struct fixture *f = *state;
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 4, cfg.optimizer = MFR_OPTIMIZER_SGD, cfg.lr = 1.0, cfg.init_std = 0.3;
    mfr_trainer *plain = make(f, &cfg);
    cfg.l1_items = 0.9;
    mfr_trainer *l1 = make(f, &cfg);
    const mfr_model *m = mfr_trainer_model(l1);
    const size_t n = (size_t)m->n_items * (size_t)m->k_pad;
    float *v0 = malloc(sizeof(float) * n);
    memcpy(v0, m->V, sizeof(float) * n);
    double sum_abs = 0.0;
    for (int32_t i = 0; i < m->n_items; i++)
        for (int32_t a = 0; a < m->k; a++) sum_abs += fabs((double)v0[(size_t)i * m->k_pad + a]);
    assert_int_equal(mfr_trainer_step(plain, NULL, NULL), MFR_OK);
    assert_int_equal(mfr_trainer_step(l1, NULL, NULL), MFR_OK);
    const mfr_model *p = mfr_trainer_model(plain);
    const double c = 0.9 / m->n_items;
    for (int32_t i = 0; i < m->n_items; i++)
        for (int32_t a = 0; a < m->k; a++) {
            size_t x = (size_t)i * m->k_pad + a;
            double want = -c * ((v0[x] > 0) - (v0[x] < 0));
            assert_true(fabs((double)(m->V[x] - p->V[x]) - want) < 1e-6);
        }
    assert_memory_equal(m->U, p->U, sizeof(float) * (size_t)m->n_users * m->k_pad);
    mfr_loss parts;
    assert_int_equal(mfr_trainer_last_loss(l1, &parts, NULL), MFR_OK);
    assert_true(fabs(parts.l2 - c * sum_abs) < 1e-12 * (c * sum_abs));
    free(v0);
    mfr_trainer_destroy(plain);
    mfr_trainer_destroy(l1);
}

/* Divergence is judged by the parameters and the optimizer state too: an
 * inf in one item's Adam second moment leaves the parameters and the loss
 * finite (the step divides by it), yet the step that sees it reports
 * MFR_ERR_DIVERGED naming the array; the same for one NaN in the derived
 * U of a user (implicit feedback), for 1 and 3 threads alike. A clean run
 * is not stopped. */
static void test_divergence_in_state(void **state)
{
    const struct fixture *f = *state;
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 4;
    for (int threads = 1; threads <= 3; threads += 2) {
        cfg.n_threads = threads;
        cfg.implicit = 0.0f;
        mfr_trainer *tr = make(f, &cfg);
        mfr_model *m = tr->model;
        mfr_error err = {0};
        assert_int_equal(mfr_trainer_step(tr, NULL, &err), MFR_OK);
        m->state[MFR_GROUP_ITEMS][1][7 * m->k_pad + 1] = INFINITY;
        double loss = NAN;
        assert_int_equal(mfr_trainer_step(tr, &loss, &err), MFR_ERR_DIVERGED);
        assert_true(isfinite(loss));
        assert_non_null(strstr(err.message, "the items' optimizer state"));
        assert_non_null(strstr(err.message, "epoch 2"));
        mfr_trainer_destroy(tr);

        cfg.implicit = 0.5f;
        tr = make(f, &cfg);
        m = tr->model;
        assert_int_equal(mfr_trainer_step(tr, NULL, &err), MFR_OK);
        m->Y[3 * m->k_pad] = NAN;
        assert_int_equal(mfr_trainer_step(tr, NULL, &err), MFR_ERR_DIVERGED);
        mfr_trainer_destroy(tr);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phases_owner_every_term),
        cmocka_unit_test(test_phases_shard_sgd),
        cmocka_unit_test(test_data_mse_owner_every_term),
        cmocka_unit_test(test_data_mse_shard),
        cmocka_unit_test(test_data_mse_refusals),
        cmocka_unit_test(test_far_rows_same_bytes),
        cmocka_unit_test(test_term_layout),
        cmocka_unit_test(test_term_loss_and_coefs),
        cmocka_unit_test(test_optimizer_table),
        cmocka_unit_test(test_shard_count),
        cmocka_unit_test(test_l1_items_term),
        cmocka_unit_test(test_divergence_in_state),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
