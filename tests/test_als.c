/*
 * test_als.c — --optimizer als: after a step every item row is the exact
 * minimizer of its part of the loss (checked against a direct Gaussian
 * elimination of the item's least-squares problem built here from the
 * ratings, and by its gradient), the conjugate-gradient variant converges
 * to the same rows, the loss never increases, model bytes are the same for
 * any thread count and kernel set, and unsupported configurations are
 * refused.
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

#include "common_priv.h"
#include "mfrec.h"
#include "test_util.h"

static char *g_dir;
static mfr_dataset *g_ds;
static mfr_split *g_sp;

static int setup(void **state)
{
    (void)state;
    g_dir = tu_mkdtemp();
    char *data = tu_path(g_dir, "data");
    int rc = tu_synth(data, 300, 120, 9000, 7, &g_ds);
    free(data);
    if (rc != 0) return -1;
    return mfr_split_create(g_ds, "random:0.2", 5, &g_sp, NULL) == MFR_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    mfr_split_destroy(g_sp);
    mfr_dataset_destroy(g_ds);
    tu_rmtree(g_dir);
    free(g_dir);
    return 0;
}

static void als_config(mfr_config *cfg, int bias, int cg)
{
    mfr_config_default(cfg);
    cfg->optimizer = MFR_OPTIMIZER_ALS;
    cfg->k = 6;
    cfg->init_std = 0.3;
    cfg->l2 = 0.02;
    cfg->l2_freq = 0.05;
    cfg->bias = bias;
    cfg->l2_bias = bias ? 0.01 : 0.0;
    cfg->als_cg = cg;
}

static mfr_trainer *train(const mfr_config *cfg, int epochs, double *losses)
{
    mfr_trainer *tr = NULL;
    mfr_error err = {0};
    if (mfr_trainer_create(cfg, g_ds, mfr_split_train(g_sp), NULL, &tr, &err) != MFR_OK)
        fail_msg("trainer_create: %s", err.message);
    for (int e = 0; e < epochs; e++) {
        double loss;
        if (mfr_trainer_step(tr, &loss, &err) != MFR_OK) fail_msg("step: %s", err.message);
        if (losses) losses[e] = loss;
    }
    return tr;
}

/* Solves the n x n system A x = b by Gaussian elimination with partial
 * pivoting (A and b destroyed). */
static void gauss_solve(double *A, double *b, int n, double *x)
{
    for (int c = 0; c < n; c++) {
        int piv = c;
        for (int r = c + 1; r < n; r++)
            if (fabs(A[r * n + c]) > fabs(A[piv * n + c])) piv = r;
        for (int j = 0; j < n; j++) {
            double t = A[c * n + j];
            A[c * n + j] = A[piv * n + j];
            A[piv * n + j] = t;
        }
        double t = b[c];
        b[c] = b[piv];
        b[piv] = t;
        for (int r = c + 1; r < n; r++) {
            double f = A[r * n + c] / A[c * n + c];
            for (int j = c; j < n; j++) A[r * n + j] -= f * A[c * n + j];
            b[r] -= f * b[c];
        }
    }
    for (int r = n - 1; r >= 0; r--) {
        double s = b[r];
        for (int j = r + 1; j < n; j++) s -= A[r * n + j] * x[j];
        x[r] = s / A[r * n + r];
    }
}

/* Item i's row after a step, against the minimizer of its loss terms:
 *   Σ_{u rated i} (r - b_u - b_i - <U_u, V_i>)² + λ_f |V_i|² + λ_b (b_i - (μ - δ))²
 * (δ: item_prior_drop)
 * with λ_f = l2 |R| / M + l2_freq n_i and λ_b = l2_bias |R| / M (the loss
 * times |R|, docs/PERFORMANCE.md), solved here from the ratings. Returns
 * the largest difference over the items. */
static double item_rows_vs_direct(const mfr_trainer *tr, const mfr_config *cfg)
{
    const mfr_model *m = mfr_trainer_model(tr);
    const mfr_ratings *r = mfr_split_train(g_sp);
    const int64_t nnz = mfr_ratings_count(r);
    const int k = cfg->k, n = k + (cfg->bias ? 1 : 0);
    const int32_t M = mfr_model_n_items(m);
    double mean = 0.0;
    for (int64_t x = 0; x < nnz; x++) {
        float v;
        mfr_ratings_get(r, x, NULL, NULL, &v, NULL, NULL);
        mean += v;
    }
    mean /= (double)nnz;
    double worst = 0.0;
    for (int32_t i = 0; i < M; i += 7) {
        double A[64] = {0}, b[8] = {0}, sol[8];
        int64_t cnt = 0;
        for (int64_t x = 0; x < nnz; x++) {
            int32_t u, it;
            float v;
            mfr_ratings_get(r, x, &u, &it, &v, NULL, NULL);
            if (it != i) continue;
            cnt++;
            float uv[8];
            mfr_model_user_vector(m, u, uv, NULL);
            double f[8];
            for (int c = 0; c < k; c++) f[c] = uv[c];
            if (cfg->bias) f[k] = 1.0;
            double t = v - (cfg->bias ? mfr_model_user_bias(m, u) : 0.0);
            for (int a = 0; a < n; a++) {
                b[a] += t * f[a];
                for (int c = 0; c < n; c++) A[a * n + c] += f[a] * f[c];
            }
        }
        if (cnt == 0) continue;
        double lam_f = cfg->l2 * (double)nnz / M + cfg->l2_freq * (double)cnt;
        for (int a = 0; a < k; a++) A[a * n + a] += lam_f;
        if (cfg->bias) {
            double lam_b = cfg->l2_bias * (double)nnz / M;
            A[k * n + k] += lam_b;
            b[k] += lam_b * ((double)(float)mean - cfg->item_prior_drop);
        }
        gauss_solve(A, b, n, sol);
        float got[8];
        mfr_model_item_vector(m, i, got, NULL);
        for (int c = 0; c < k; c++)
            if (fabs(got[c] - sol[c]) > worst) worst = fabs(got[c] - sol[c]);
        if (cfg->bias && fabs(mfr_model_item_bias(m, i) - sol[k]) > worst)
            worst = fabs(mfr_model_item_bias(m, i) - sol[k]);
    }
    return worst;
}

static void test_item_rows_are_the_direct_solution(void **state)
{
    (void)state;
    for (int bias = 0; bias <= 1; bias++) {
        mfr_config cfg;
        als_config(&cfg, bias, 0);
        cfg.n_threads = 2;
        for (int epochs = 1; epochs <= 3; epochs += 2) {
            mfr_trainer *tr = train(&cfg, epochs, NULL);
            double worst = item_rows_vs_direct(tr, &cfg);
            print_message("bias %d, %d epochs: largest difference %.3g\n", bias, epochs, worst);
            assert_true(worst < 2e-4); /* float sums of the normal equations */
            mfr_trainer_destroy(tr);
        }
    }
    /* the biases' prior moved by item_prior_drop, with a strong bias L2 so
     * that the move shows in the solution */
    mfr_config cfg;
    als_config(&cfg, 1, 0);
    cfg.l2_bias = 1.0;
    cfg.item_prior_drop = 1.5;
    mfr_trainer *tr = train(&cfg, 1, NULL);
    assert_true(item_rows_vs_direct(tr, &cfg) < 2e-4);
    cfg.item_prior_drop = 0.0; /* the solution without the drop is another one */
    assert_true(item_rows_vs_direct(tr, &cfg) > 1e-2);
    mfr_trainer_destroy(tr);
}

static void test_cg_converges_to_the_exact_rows(void **state)
{
    (void)state;
    mfr_config cfg;
    als_config(&cfg, 1, 30);
    mfr_trainer *tr = train(&cfg, 2, NULL);
    double worst = item_rows_vs_direct(tr, &cfg);
    print_message("30 CG iterations: largest difference %.3g\n", worst);
    assert_true(worst < 1e-3);
    mfr_trainer_destroy(tr);
    /* one iteration is far from it after one step */
    cfg.als_cg = 1;
    tr = train(&cfg, 1, NULL);
    assert_true(item_rows_vs_direct(tr, &cfg) > 1e-3);
    mfr_trainer_destroy(tr);
}

static void test_loss_never_increases(void **state)
{
    (void)state;
    for (int cg = 0; cg <= 3; cg += 3) {
        mfr_config cfg;
        als_config(&cfg, 1, cg);
        double loss[12];
        mfr_trainer *tr = train(&cfg, 12, loss);
        for (int e = 1; e < 12; e++) assert_true(loss[e] <= loss[e - 1] * (1.0 + 1e-6));
        assert_true(loss[11] < 0.5 * loss[0]);
        mfr_trainer_destroy(tr);
    }
}

static uint64_t checksum_after(const mfr_config *cfg, int epochs)
{
    mfr_trainer *tr = train(cfg, epochs, NULL);
    uint64_t c = mfr_model_checksum(mfr_trainer_model(tr));
    mfr_trainer_destroy(tr);
    return c;
}

static void test_identical_across_threads_and_kernels(void **state)
{
    (void)state;
    for (int cg = 0; cg <= 2; cg += 2) {
        mfr_config cfg;
        als_config(&cfg, 1, cg);
        cfg.k = 13; /* k + bias not a multiple of the vector width */
        cfg.n_threads = 1;
        uint64_t ref = checksum_after(&cfg, 4);
        const int threads[] = {2, 3, 7};
        for (int t = 0; t < 3; t++) {
            cfg.n_threads = threads[t];
            assert_true(checksum_after(&cfg, 4) == ref);
        }
        cfg.kernels = MFR_KERNELS_AVX2;
        mfr_trainer *probe = NULL;
        if (mfr_trainer_create(&cfg, g_ds, mfr_split_train(g_sp), NULL, &probe, NULL) != MFR_OK) continue;
        mfr_trainer_destroy(probe);
        uint64_t avx2 = checksum_after(&cfg, 4);
        cfg.kernels = MFR_KERNELS_REF;
        assert_true(checksum_after(&cfg, 4) == avx2);
        assert_true(avx2 == ref);
    }
}

/* Out of memory for a step's solver scratch changes nothing: every
 * thread's scratch is allocated before a row is solved. A thread whose own
 * allocation failed inside the step skipped its rows while the others
 * solved theirs, and the next step went on from that half step. */
static void test_step_out_of_memory_changes_nothing(void **state)
{
    (void)state;
    mfr_config cfg;
    als_config(&cfg, 1, 0);
    cfg.n_threads = 3;
    const uint64_t want = checksum_after(&cfg, 1);
    mfr_trainer *tr = train(&cfg, 0, NULL);
    const uint64_t start = mfr_model_checksum(mfr_trainer_model(tr));
    for (int64_t n = 1;; n++) {
        mfr_error err = {0};
        mfr_fault_alloc_at(n);
        const int rc = mfr_trainer_step(tr, NULL, &err);
        const int64_t made = mfr_fault_alloc_count();
        mfr_fault_alloc_at(0);
        if (made < n) {
            assert_int_equal(rc, MFR_OK);
            assert_true(n > 3 * 9); /* the thread table, then nine arrays a thread */
            break;
        }
        assert_int_equal(rc, MFR_ERR_NOMEM);
        assert_true(mfr_model_checksum(mfr_trainer_model(tr)) == start);
        assert_int_equal(mfr_model_epochs(mfr_trainer_model(tr)), 0);
    }
    assert_true(mfr_model_checksum(mfr_trainer_model(tr)) == want);
    mfr_trainer_destroy(tr);
}

static void test_refused_configurations(void **state)
{
    (void)state;
    mfr_config cfg;
    mfr_error err = {0};
    double *fields[] = {&cfg.gravity, &cfg.gravity_bias, &cfg.l1_items, &cfg.implicit};
    const char *names[] = {"gravity", "gravity_bias", "l1_items", "implicit"};
    for (int f = 0; f < 4; f++) {
        als_config(&cfg, 0, 0);
        *fields[f] = 0.5;
        assert_int_equal(mfr_config_validate(&cfg, &err), MFR_ERR_INVALID);
        tu_expect_in(err.message, names[f]);
    }
    als_config(&cfg, 0, 0);
    cfg.l2 = cfg.l2_freq = 0.0;
    assert_int_equal(mfr_config_validate(&cfg, &err), MFR_ERR_INVALID);
    tu_expect_in(err.message, "needs l2 or l2_freq");
    als_config(&cfg, 0, 0);
    cfg.k = MFR_ALS_MAX_K + 1;
    assert_int_equal(mfr_config_validate(&cfg, &err), MFR_ERR_INVALID);
    tu_expect_in(err.message, "at most 512");
    mfr_config_default(&cfg);
    cfg.als_cg = 3;
    assert_int_equal(mfr_config_validate(&cfg, &err), MFR_ERR_INVALID);
    tu_expect_in(err.message, "optimizer als only");
    als_config(&cfg, 0, 3);
    assert_int_equal(mfr_config_validate(&cfg, &err), MFR_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_item_rows_are_the_direct_solution),
        cmocka_unit_test(test_cg_converges_to_the_exact_rows),
        cmocka_unit_test(test_loss_never_increases),
        cmocka_unit_test(test_identical_across_threads_and_kernels),
        cmocka_unit_test(test_step_out_of_memory_changes_nothing),
        cmocka_unit_test(test_refused_configurations),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
