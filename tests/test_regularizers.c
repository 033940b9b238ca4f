/*
 * test_regularizers.c — the trainer's full gradient (MSE + L2 + gravity,
 * with and without biases, bias L2, implicit feedback) against central
 * finite differences of the loss computed here in double, and the reported
 * loss parts against the same formulas. The gradient is read back from one plain gradient-descent step
 * with lr = 1 (p1 = p0 - g), so the test sees exactly what the optimizer got.
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
#include "model_priv.h" /* P and Y of implicit feedback */
#include "test_util.h"

enum { NU = 5, NI = 6, K = 3 };

struct problem {
    /* with implicit feedback U holds P, and U_u = P_u + |R(u)|^-1/2 sum Y_j */
    double U[NU][K], V[NI][K], bu[NU], bi[NI], Y[NI][K];
    int bias;
    double l2, grav, l2f, lb, imp, mu;
    double gb, l1, drop; /* gravity_bias, l1_items, item_prior_drop */
    int64_t n;
    int32_t *u, *i;
    float *r;
};

/* The users' effective vectors Z (U itself without implicit feedback). */
static void effective_users(const struct problem *p, double Z[NU][K])
{
    for (int a = 0; a < NU; a++) {
        int cnt = 0;
        double s[K] = {0};
        for (int64_t j = 0; j < p->n; j++)
            if (p->u[j] == a) {
                cnt++;
                for (int c = 0; c < K; c++) s[c] += p->Y[p->i[j]][c];
            }
        for (int c = 0; c < K; c++)
            Z[a][c] = p->U[a][c] + (p->imp > 0 && cnt ? s[c] / sqrt((double)cnt) : 0.0);
    }
}

static double loss_of(const struct problem *p)
{
    double Z[NU][K];
    effective_users(p, Z);
    double gbias = 0, l1 = 0; /* Σ (b_i + <Z_u, V_i>)², Σ |V| */
    for (int a = 0; a < NU; a++)
        for (int b = 0; b < NI; b++) {
            double d = p->bias ? p->bi[b] : 0.0;
            for (int c = 0; c < K; c++) d += Z[a][c] * p->V[b][c];
            gbias += d * d;
        }
    for (int b = 0; b < NI; b++)
        for (int c = 0; c < K; c++) l1 += fabs(p->V[b][c]);
    double mse = 0;
    for (int64_t j = 0; j < p->n; j++) {
        double pred = p->bias ? p->bu[p->u[j]] + p->bi[p->i[j]] : 0.0;
        for (int c = 0; c < K; c++) pred += Z[p->u[j]][c] * p->V[p->i[j]][c];
        mse += (pred - p->r[j]) * (pred - p->r[j]);
    }
    mse /= (double)p->n;
    double su = 0, sv = 0, grav = 0;
    for (int a = 0; a < NU; a++)
        for (int c = 0; c < K; c++) su += p->U[a][c] * p->U[a][c];
    for (int b = 0; b < NI; b++)
        for (int c = 0; c < K; c++) sv += p->V[b][c] * p->V[b][c];
    for (int a = 0; a < NU; a++)
        for (int b = 0; b < NI; b++) {
            double d = 0;
            for (int c = 0; c < K; c++) d += Z[a][c] * p->V[b][c];
            grav += d * d;
        }
    double freq = 0;
    for (int64_t j = 0; j < p->n; j++)
        for (int c = 0; c < K; c++)
            freq += p->U[p->u[j]][c] * p->U[p->u[j]][c] + p->V[p->i[j]][c] * p->V[p->i[j]][c];
    double sb = 0, sbi = 0, sy = 0;
    for (int a = 0; a < NU; a++) sb += p->bu[a] * p->bu[a];
    const double prior = p->mu - p->drop; /* where the movie biases are pulled */
    for (int b = 0; b < NI; b++) sbi += (p->bi[b] - prior) * (p->bi[b] - prior);
    for (int b = 0; b < NI; b++)
        for (int c = 0; c < K; c++) sy += p->Y[b][c] * p->Y[b][c];
    return mse + p->l2 * (su / NU + sv / NI) + p->grav / (NU * NI) * grav + p->l2f * freq / (double)p->n +
           p->lb * (sb / NU + sbi / NI) + p->imp * sy / NI + p->gb / (NU * NI) * gbias + p->l1 * l1 / NI;
}

static double fd(struct problem *p, double *x)
{
    const double h = 1e-6;
    double keep = *x;
    *x = keep + h;
    double lp = loss_of(p);
    *x = keep - h;
    double lm = loss_of(p);
    *x = keep;
    return (lp - lm) / (2 * h);
}

static void check_close(const char *what, int a, int b, double got, double want)
{
    if (fabs(got - want) > 2e-4 * fmax(1.0, fabs(want)))
        fail_msg("%s[%d][%d]: trainer gradient %.8g, finite difference %.8g", what, a, b, got, want);
}

/* run_case_reduce: the model `m` before the step has Y (into `Y0`, and
 * `p`'s) where imp > 0, and its user vectors are the effective ones. */
static void check_implicit_start(struct problem *p, const mfr_model *m, double imp, float *Y0)
{
    if (imp > 0) {
        assert_non_null(m->Y);
        for (int b = 0; b < NI; b++)
            for (int c = 0; c < K; c++) {
                Y0[b * K + c] = m->Y[(size_t)b * m->k_pad + c];
                p->Y[b][c] = Y0[b * K + c];
                assert_true(Y0[b * K + c] != 0.0f); /* initialized from the seed */
            }
        /* the model's user vectors are the effective ones */
        double Z[NU][K];
        effective_users(p, Z);
        float row[K];
        for (int a = 0; a < NU; a++) {
            assert_int_equal(mfr_model_user_vector(m, a, row, NULL), MFR_OK);
            for (int c = 0; c < K; c++) assert_true(fabs(row[c] - Z[a][c]) < 1e-5);
        }
    } else {
        assert_null(m->Y);
    }
}

/* run_case_reduce: the model `m` after one step from U0, V0, Y0 (the
 * problem `p` at the start) moved each parameter by the finite-difference
 * gradient of `p`'s loss. */
static void check_step_gradients(struct problem *p, const mfr_model *m, const float *U0, const float *V0,
                                 const float *Y0, int bias, double imp)
{
    float row[K];
    for (int a = 0; a < NU; a++) {
        assert_int_equal(mfr_model_user_vector(m, a, row, NULL), MFR_OK);
        if (imp > 0) memcpy(row, m->P + (size_t)a * m->k_pad, sizeof row); /* P's step */
        for (int c = 0; c < K; c++) check_close("U", a, c, (double)U0[a * K + c] - row[c], fd(p, &p->U[a][c]));
        if (bias) check_close("b_u", a, 0, p->bu[a] - mfr_model_user_bias(m, a), fd(p, &p->bu[a]));
    }
    for (int b = 0; b < NI; b++) {
        assert_int_equal(mfr_model_item_vector(m, b, row, NULL), MFR_OK);
        for (int c = 0; c < K; c++) check_close("V", b, c, (double)V0[b * K + c] - row[c], fd(p, &p->V[b][c]));
        if (bias) check_close("b_i", b, 0, p->bi[b] - mfr_model_item_bias(m, b), fd(p, &p->bi[b]));
        for (int c = 0; c < K && imp > 0; c++)
            check_close("Y", b, c, (double)Y0[b * K + c] - m->Y[(size_t)b * m->k_pad + c], fd(p, &p->Y[b][c]));
    }
    if (imp > 0) { /* U was derived again from the stepped P and Y */
        for (int a = 0; a < NU; a++)
            for (int c = 0; c < K; c++) p->U[a][c] = m->P[(size_t)a * m->k_pad + c];
        for (int b = 0; b < NI; b++)
            for (int c = 0; c < K; c++) p->Y[b][c] = m->Y[(size_t)b * m->k_pad + c];
        double Z[NU][K];
        effective_users(p, Z);
        for (int a = 0; a < NU; a++) {
            assert_int_equal(mfr_model_user_vector(m, a, row, NULL), MFR_OK);
            for (int c = 0; c < K; c++) assert_true(fabs(row[c] - Z[a][c]) < 1e-5);
        }
    }
}

static void run_case_reduce(int bias, double l2, double grav, double l2f, double lb, double imp,
                            double gb, double l1, double drop, int reduce)
{
    char *dir = tu_mkdtemp();
    tu_write_file(dir, "u.data",
                  "1\t1\t5\t0\n1\t3\t3\t0\n1\t6\t1\t0\n2\t2\t4\t0\n2\t3\t2\t0\n3\t1\t1\t0\n"
                  "3\t2\t5\t0\n3\t4\t4\t0\n3\t5\t3\t0\n4\t6\t2\t0\n5\t1\t4\t0\n5\t3\t4\t0\n"
                  "5\t4\t1\t0\n5\t5\t5\t0\n",
                  (size_t)-1);
    mfr_error err = {0};
    mfr_dataset *ds = NULL;
    assert_int_equal(mfr_dataset_load(dir, NULL, &ds, &err), MFR_OK);
    const mfr_ratings *all = mfr_dataset_ratings(ds);
    struct problem p = {.bias = bias, .l2 = l2, .grav = grav, .l2f = l2f, .lb = lb, .imp = imp,
                        .gb = gb, .l1 = l1, .drop = drop, .n = mfr_ratings_count(all)};
    p.u = malloc(sizeof(int32_t) * p.n);
    p.i = malloc(sizeof(int32_t) * p.n);
    p.r = malloc(sizeof(float) * p.n);
    for (int64_t j = 0; j < p.n; j++) mfr_ratings_get(all, j, &p.u[j], &p.i[j], &p.r[j], NULL, NULL);

    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = K;
    cfg.optimizer = MFR_OPTIMIZER_SGD;
    cfg.lr = 1.0;
    cfg.bias = bias;
    cfg.l2 = l2;
    cfg.gravity = grav;
    cfg.l2_freq = l2f;
    cfg.l2_bias = lb;
    cfg.implicit = imp;
    cfg.gravity_bias = gb;
    cfg.l1_items = l1;
    cfg.item_prior_drop = drop;
    cfg.reduce = reduce;
    cfg.n_threads = 2;
    mfr_trainer *tr = NULL;
    assert_int_equal(mfr_trainer_create(&cfg, ds, all, NULL, &tr, &err), MFR_OK);
    float U0[NU * K], V0[NI * K];
    for (int x = 0; x < NU * K; x++) U0[x] = (float)(0.5 * sin(1.0 + x));
    for (int x = 0; x < NI * K; x++) V0[x] = (float)(0.7 * cos(2.0 + x));
    assert_int_equal(mfr_trainer_set_factors(tr, U0, NU, K, V0, NI, K, &err), MFR_OK);
    mfr_model *m = (mfr_model *)mfr_trainer_model(tr);
    if (bias) {
        /* biases away from their start (b_u = 0, b_i = the mean), so the bias
         * L2 gradient is not trivially zero; U's bias lane is P's */
        p.mu = mfr_model_item_bias(m, 0);
        for (int a = 0; a < NU; a++) {
            float b = (float)(0.3 * sin(3.0 + a));
            m->U[(size_t)a * m->k_pad + K] = b;
            if (m->P) m->P[(size_t)a * m->k_pad + K] = b;
        }
        for (int b = 0; b < NI; b++) m->V[(size_t)b * m->k_pad + K + 1] = (float)(p.mu + 0.4 * cos(1.0 + b));
    }
    for (int a = 0; a < NU; a++) {
        for (int c = 0; c < K; c++) p.U[a][c] = U0[a * K + c];
        p.bu[a] = mfr_model_user_bias(m, a);
    }
    for (int b = 0; b < NI; b++) {
        for (int c = 0; c < K; c++) p.V[b][c] = V0[b * K + c];
        p.bi[b] = mfr_model_item_bias(m, b);
    }
    if (bias) assert_true(fabs(p.mu - 44.0 / 14.0) < 1e-6); /* the training mean */
    float Y0[NI * K] = {0};
    check_implicit_start(&p, m, imp, Y0);

    double loss;
    assert_int_equal(mfr_trainer_step(tr, &loss, NULL), MFR_OK);
    mfr_loss parts;
    assert_int_equal(mfr_trainer_last_loss(tr, &parts, NULL), MFR_OK);
    double want = loss_of(&p);
    assert_true(fabs(loss - want) <= 1e-5 * want);
    assert_true(fabs(parts.total - (parts.mse + parts.l2 + parts.gravity)) <= 1e-12 * parts.total);

    check_step_gradients(&p, m, U0, V0, Y0, bias, imp);
    mfr_trainer_destroy(tr);
    mfr_dataset_destroy(ds);
    free(p.u);
    free(p.i);
    free(p.r);
    tu_rmtree(dir);
    free(dir);
}

/* Both item-gradient reductions apply every term. */
static void run_case_drop(int bias, double l2, double grav, double l2f, double lb, double imp, double gb,
                          double l1, double drop)
{
    run_case_reduce(bias, l2, grav, l2f, lb, imp, gb, l1, drop, MFR_REDUCE_OWNER);
    run_case_reduce(bias, l2, grav, l2f, lb, imp, gb, l1, drop, MFR_REDUCE_SHARD);
}

static void run_case_all(int bias, double l2, double grav, double l2f, double lb, double imp, double gb,
                         double l1)
{
    run_case_drop(bias, l2, grav, l2f, lb, imp, gb, l1, 0.0);
}

static void run_case(int bias, double l2, double grav, double l2f, double lb, double imp)
{
    run_case_all(bias, l2, grav, l2f, lb, imp, 0.0, 0.0);
}

/* gravity_bias: (b_i + <U, V>)² over every pair; b_u takes no part. */
static void test_gravity_bias(void **state)
{
    (void)state;
    run_case_all(1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.9, 0.0);
    run_case_all(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.9, 0.0); /* without biases it is gravity */
}

static void test_l1_items(void **state) { (void)state; run_case_all(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.35); }

/* item_prior_drop: the movie biases pulled towards μ - δ, not μ. */
static void test_item_prior_drop(void **state)
{
    (void)state;
    run_case_drop(1, 0.0, 0.0, 0.0, 0.7, 0.0, 0.0, 0.0, 0.8);
}

/* Every term at once, with biases and implicit feedback. */
static void test_every_term(void **state)
{
    (void)state;
    run_case_drop(1, 0.2, 0.5, 0.3, 0.4, 0.6, 0.7, 0.25, 0.5);
}

static void test_mse_only(void **state) { (void)state; run_case(0, 0.0, 0.0, 0.0, 0.0, 0.0); }
static void test_l2(void **state) { (void)state; run_case(0, 0.3, 0.0, 0.0, 0.0, 0.0); }
static void test_l2_freq(void **state) { (void)state; run_case(0, 0.0, 0.0, 0.4, 0.0, 0.0); }
static void test_gravity(void **state) { (void)state; run_case(0, 0.0, 0.8, 0.0, 0.0, 0.0); }
static void test_all_terms_with_bias(void **state) { (void)state; run_case(1, 0.2, 0.5, 0.3, 0.0, 0.0); }
static void test_bias_only(void **state) { (void)state; run_case(1, 0.0, 0.0, 0.0, 0.0, 0.0); }
static void test_bias_l2(void **state) { (void)state; run_case(1, 0.0, 0.0, 0.0, 0.7, 0.0); }
static void test_implicit(void **state) { (void)state; run_case(0, 0.0, 0.0, 0.0, 0.0, 0.6); }
/* every term at once: P's L2 terms, gravity on the effective U, Y's L2 */
static void test_implicit_all_terms(void **state) { (void)state; run_case(1, 0.2, 0.5, 0.3, 0.4, 0.6); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mse_only),
        cmocka_unit_test(test_l2),
        cmocka_unit_test(test_l2_freq),
        cmocka_unit_test(test_gravity),
        cmocka_unit_test(test_all_terms_with_bias),
        cmocka_unit_test(test_bias_only),
        cmocka_unit_test(test_bias_l2),
        cmocka_unit_test(test_implicit),
        cmocka_unit_test(test_implicit_all_terms),
        cmocka_unit_test(test_gravity_bias),
        cmocka_unit_test(test_l1_items),
        cmocka_unit_test(test_item_prior_drop),
        cmocka_unit_test(test_every_term),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
