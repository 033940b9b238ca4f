/*
 * test_determinism.c — the determinism contract: the same data, seed and
 * configuration give byte-identical model files for 1, 2, 3, 4 and 7
 * threads and across runs; both reductions agree to 1e-6 relative; the
 * reference and AVX2 kernels give identical factors; another shard count
 * still converges; the first team's spread leaves every thread's
 * affinity as it was.
 */
#include <math.h>
#include <omp.h>
#include <sched.h>
#include <sys/types.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common_priv.h"
#include "kern_priv.h"
#include "mfrec.h"
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
    mfr_synth_options o;
    mfr_synth_options_default(&o);
    o.n_users = 300, o.n_items = 200, o.n_ratings = 9000, o.seed = 11;
    mfr_error err = {0};
    char *data = tu_path(f->dir, "data");
    if (mfr_synth_write(&o, data, &err) != MFR_OK ||
        mfr_dataset_load(data, NULL, &f->ds, &err) != MFR_OK ||
        mfr_split_create(f->ds, "random:0.2", 5, &f->split, &err) != MFR_OK) {
        fprintf(stderr, "setup failed: %s\n", err.message);
        return -1;
    }
    free(data);
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

/* Trains `epochs` steps; returns the trainer (caller destroys). */
static mfr_trainer *train(struct fixture *f, const mfr_config *cfg, int epochs, double *last_loss)
{
    mfr_trainer *tr = NULL;
    mfr_error err = {0};
    if (mfr_trainer_create(cfg, f->ds, mfr_split_train(f->split), mfr_split_spec(f->split), &tr,
                           &err) != MFR_OK)
        fail_msg("trainer_create: %s", err.message);
    for (int e = 0; e < epochs; e++) {
        double loss;
        assert_int_equal(mfr_trainer_step(tr, &loss, NULL), MFR_OK);
        if (last_loss) *last_loss = loss;
    }
    return tr;
}

static char *train_to_bytes(struct fixture *f, const mfr_config *cfg, int epochs, size_t *len)
{
    mfr_trainer *tr = train(f, cfg, epochs, NULL);
    char *path = tu_path(f->dir, "model.bin");
    mfr_error err = {0};
    assert_int_equal(mfr_model_save(mfr_trainer_model(tr), path, &err), MFR_OK);
    char *bytes = tu_read_file(path, len);
    assert_non_null(bytes);
    remove(path);
    free(path);
    mfr_trainer_destroy(tr);
    return bytes;
}

/* Every term on at once: biases and their L2, implicit feedback (whose Y
 * pass and derived U add reductions of their own), L2 and gravity. */
static void set_all_terms(mfr_config *cfg)
{
    cfg->bias = 1;
    cfg->l2_bias = 0.05;
    cfg->item_prior_drop = 0.5;
    cfg->implicit = 0.5;
    cfg->l2 = 0.1;
    cfg->l2_freq = 0.05;
    cfg->gravity = 0.3;
}

static void check_thread_counts(struct fixture *f, int reduce, int all_terms)
{
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 13; /* not a multiple of the vector width */
    cfg.lr = 0.01;
    cfg.reduce = reduce;
    if (all_terms) set_all_terms(&cfg);
    cfg.n_threads = 1;
    size_t len1;
    char *ref = train_to_bytes(f, &cfg, 12, &len1);
    const int threads[] = {2, 3, 4, 7, 16, 1};
    for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
        cfg.n_threads = threads[t];
        size_t len;
        char *got = train_to_bytes(f, &cfg, 12, &len);
        assert_int_equal(len, len1);
        if (memcmp(ref, got, len) != 0)
            fail_msg("model bytes differ between 1 and %d threads (reduce %d, all terms %d)",
                     threads[t], reduce, all_terms);
        free(got);
    }
    free(ref);
}

static void test_owner_identical_across_threads(void **state)
{
    check_thread_counts(*state, MFR_REDUCE_OWNER, 0);
}

static void test_shard_identical_across_threads(void **state)
{
    check_thread_counts(*state, MFR_REDUCE_SHARD, 0);
}

static void test_all_terms_identical_across_threads(void **state)
{
    check_thread_counts(*state, MFR_REDUCE_OWNER, 1);
    check_thread_counts(*state, MFR_REDUCE_SHARD, 1);
}

static void test_reductions_agree(void **state)
{
    struct fixture *f = *state;
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 16;
    cfg.lr = 0.01;
    cfg.n_threads = 3;
    cfg.reduce = MFR_REDUCE_OWNER;
    double lo, ls;
    mfr_trainer *a = train(f, &cfg, 20, &lo);
    cfg.reduce = MFR_REDUCE_SHARD;
    mfr_trainer *b = train(f, &cfg, 20, &ls);
    assert_true(fabs(lo - ls) <= 1e-6 * fabs(lo));
    const mfr_model *ma = mfr_trainer_model(a), *mb = mfr_trainer_model(b);
    float va[16], vb[16];
    double max_rel = 0;
    for (int32_t i = 0; i < mfr_model_n_items(ma); i++) {
        mfr_model_item_vector(ma, i, va, NULL);
        mfr_model_item_vector(mb, i, vb, NULL);
        double num = 0, den = 0;
        for (int c = 0; c < 16; c++) {
            num += ((double)va[c] - vb[c]) * ((double)va[c] - vb[c]);
            den += (double)va[c] * va[c];
        }
        if (den > 0 && sqrt(num / den) > max_rel) max_rel = sqrt(num / den);
    }
    assert_true(max_rel <= 1e-6);
    mfr_trainer_destroy(a);
    mfr_trainer_destroy(b);
}

/* Every kernel set gives the reference's model bytes: AVX2, and auto
 * (the AVX-512 set where the CPU has AVX-512F; k 30 pads to 32 floats,
 * which it updates in 512-bit halves), for both reductions, with the
 * plain loss and with every term. */
static void test_kernel_sets_identical(void **state)
{
    struct fixture *f = *state;
    mfr_error err = {0};
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 30;
    cfg.kernels = MFR_KERNELS_AVX2;
    mfr_trainer *probe = NULL;
    if (mfr_trainer_create(&cfg, f->ds, mfr_split_train(f->split), NULL, &probe, &err) ==
        MFR_ERR_UNSUPPORTED)
        skip();
    mfr_trainer_destroy(probe);
    cfg.n_threads = 2;
    const char *auto_name = mfr_cpu_has_avx512f() ? "avx512" : "avx2";
    for (int terms = 0; terms <= 1; terms++) {
        if (terms) set_all_terms(&cfg);
        const int reductions[2] = {MFR_REDUCE_OWNER, MFR_REDUCE_SHARD};
        for (int x = 0; x < 2; x++) {
            cfg.reduce = reductions[x];
            cfg.kernels = MFR_KERNELS_REF;
            mfr_trainer *r = train(f, &cfg, 10, NULL);
            assert_string_equal(mfr_trainer_kernels_name(r), "ref");
            const int sets[3] = {MFR_KERNELS_AVX2, MFR_KERNELS_AUTO, MFR_KERNELS_AVX512};
            const char *const names[3] = {"avx2", auto_name, "avx512"};
            for (int k = 0; k < (mfr_cpu_has_avx512f() ? 3 : 2); k++) {
                cfg.kernels = sets[k];
                mfr_trainer *a = train(f, &cfg, 10, NULL);
                assert_string_equal(mfr_trainer_kernels_name(a), names[k]);
                if (mfr_model_checksum(mfr_trainer_model(a)) != mfr_model_checksum(mfr_trainer_model(r)))
                    fail_msg("%s differs from ref (reduce %d, all terms %d)", mfr_trainer_kernels_name(a),
                             cfg.reduce, terms);
                mfr_trainer_destroy(a);
            }
            mfr_trainer_destroy(r);
        }
    }
}

static void test_repeat_runs_identical_and_seed_matters(void **state)
{
    struct fixture *f = *state;
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.n_threads = 2;
    mfr_trainer *a = train(f, &cfg, 5, NULL), *b = train(f, &cfg, 5, NULL);
    cfg.seed = 301;
    mfr_trainer *c = train(f, &cfg, 5, NULL);
    uint64_t ca = mfr_model_checksum(mfr_trainer_model(a));
    assert_true(ca == mfr_model_checksum(mfr_trainer_model(b)));
    assert_true(ca != mfr_model_checksum(mfr_trainer_model(c)));
    mfr_trainer_destroy(a);
    mfr_trainer_destroy(b);
    mfr_trainer_destroy(c);
}

static void test_other_shard_count_converges(void **state)
{
    struct fixture *f = *state;
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 8;
    cfg.lr = 0.02;
    cfg.init_std = 0.3;
    cfg.n_threads = 2;
    for (int shards = 1; shards <= 37; shards += 12) {
        cfg.n_shards = shards;
        double first, last;
        mfr_trainer *tr = train(f, &cfg, 1, &first);
        assert_int_equal(mfr_trainer_n_shards(tr), shards);
        for (int e = 0; e < 150; e++) assert_int_equal(mfr_trainer_step(tr, &last, NULL), MFR_OK);
        /* the planted data is close to low rank: the fit improves a lot */
        assert_true(last < 0.3 * first);
        mfr_trainer_destroy(tr);
    }
}

/* The default shard count of the shard reduction: the data's default,
 * capped so that the per-shard item buffers total about 32 MiB, rounded up
 * to a multiple of 16, at least 16; the owner reduction keeps the data's. */
static void test_shard_mode_default_count(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    char *data = tu_path(dir, "data");
    mfr_error err = {0};
    mfr_synth_options o;
    mfr_synth_options_default(&o);
    o.n_users = 3000;
    o.n_items = 20000;
    o.n_ratings = 400000;
    o.rank = 4;
    o.seed = 5;
    assert_int_equal(mfr_synth_write(&o, data, &err), MFR_OK);
    mfr_dataset *ds = NULL;
    assert_int_equal(mfr_dataset_load(data, NULL, &ds, &err), MFR_OK);
    const mfr_ratings *all = mfr_dataset_ratings(ds);
    int64_t nnz = mfr_ratings_count(all);
    int32_t n_items = mfr_dataset_n_items(ds);
    int32_t data_default = (int32_t)((nnz + 4095) / 4096);
    if (data_default > 128) data_default = 128;
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.n_threads = 1;
    const int32_t ks[] = {32, 8};
    for (int t = 0; t < 2; t++) {
        cfg.k = ks[t]; /* k_pad = k */
        size_t row = (size_t)n_items * (size_t)cfg.k * sizeof(float);
        int32_t cap = (int32_t)(((size_t)32 << 20) / row);
        cap = (cap + 15) / 16 * 16;
        if (cap < 16) cap = 16;
        int32_t want = data_default < cap ? data_default : cap;
        mfr_trainer *tr = NULL;
        cfg.reduce = MFR_REDUCE_SHARD;
        assert_int_equal(mfr_trainer_create(&cfg, ds, all, NULL, &tr, &err), MFR_OK);
        print_message("k %d: %d items, data default %d shards, shard mode %d (cap %d)\n", (int)cfg.k,
                      (int)n_items, (int)data_default, (int)mfr_trainer_n_shards(tr), (int)cap);
        assert_int_equal(mfr_trainer_n_shards(tr), want);
        assert_int_equal(mfr_trainer_n_shards(tr) % 16, 0);
        /* by hand: 20000 x 32 x 4 B = 2.4 MiB a buffer, 13 in 32 MiB -> 16;
         * k 8: 0.6 MiB, 52 -> 64 (below the data's 98) */
        assert_int_equal(mfr_trainer_n_shards(tr), t == 0 ? 16 : 64);
        mfr_trainer_destroy(tr);
        cfg.reduce = MFR_REDUCE_OWNER;
        assert_int_equal(mfr_trainer_create(&cfg, ds, all, NULL, &tr, &err), MFR_OK);
        assert_int_equal(mfr_trainer_n_shards(tr), data_default);
        mfr_trainer_destroy(tr);
    }
    mfr_dataset_destroy(ds);
    tu_rmtree(dir);
    free(dir);
    free(data);
}

/* Each thread of a team of n: its OS thread id and affinity. */
struct team_masks {
    int n;
    pid_t tid[16];
    cpu_set_t mask[16];
};

static void team_masks(int n, struct team_masks *tm)
{
    assert_true(n <= 16);
    int team = 0;
#pragma omp parallel num_threads(n)
    {
        const int t = omp_get_thread_num();
        tm->tid[t] = gettid();
        if (sched_getaffinity(0, sizeof tm->mask[t], &tm->mask[t]) != 0) CPU_ZERO(&tm->mask[t]);
#pragma omp single
        team = omp_get_num_threads();
    }
    assert_int_equal(team, n);
    tm->n = n;
}

/* The spread changed no thread's affinity: each thread (the same OS
 * thread: OpenMP keeps its pool) has the mask it had before. */
static void assert_masks_kept(const struct team_masks *before, const struct team_masks *after)
{
    assert_int_equal(before->n, after->n);
    for (int t = 0; t < after->n; t++)
        for (int u = 0; u < before->n; u++)
            if (before->tid[u] == after->tid[t] && !CPU_EQUAL(&before->mask[u], &after->mask[t]))
                fail_msg("thread %d (tid %d) of %d: its affinity changed", t, (int)after->tid[t], after->n);
    int same = 0; /* the pool kept its threads: the check compared something */
    for (int t = 0; t < after->n; t++) same += before->tid[t] == after->tid[t];
    assert_int_equal(same, after->n);
}

/* mfr_threads_spread moves workers by narrowing their affinity for a
 * moment: afterwards every thread has the set it had, whether it could
 * move (several CPUs) or not (bound to one: left alone), under libgomp
 * and LLVM's runtime (which give new workers different masks) and with
 * OMP_PROC_BIND; a call inside a parallel region returns at once, and so
 * does a repeat. */
static void test_spread_keeps_affinity(void **state)
{
    (void)state;
    struct team_masks before, after;
    team_masks(3, &before);
    mfr_threads_spread(3);
    team_masks(3, &after);
    assert_masks_kept(&before, &after);
    mfr_threads_spread(3);
    mfr_threads_spread(2);
    team_masks(3, &after);
    assert_masks_kept(&before, &after);
    int inner = 0;
#pragma omp parallel num_threads(2)
    {
        mfr_threads_spread(8); /* nested: nothing */
#pragma omp atomic
        inner++;
    }
    assert_int_equal(inner, 2);
    /* The master bound to one CPU: a larger team's workers stay as they are. */
    cpu_set_t all, one;
    assert_int_equal(sched_getaffinity(0, sizeof all, &all), 0);
    int first = -1;
    for (int c = 0; c < CPU_SETSIZE && first < 0; c++)
        if (CPU_ISSET(c, &all)) first = c;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    assert_int_equal(sched_setaffinity(0, sizeof one, &one), 0);
    team_masks(5, &before);
    mfr_threads_spread(5);
    team_masks(5, &after);
    assert_int_equal(sched_setaffinity(0, sizeof all, &all), 0);
    assert_masks_kept(&before, &after);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spread_keeps_affinity), /* first: its teams of 3 and 5 are the first */
        cmocka_unit_test(test_owner_identical_across_threads),
        cmocka_unit_test(test_shard_identical_across_threads),
        cmocka_unit_test(test_all_terms_identical_across_threads),
        cmocka_unit_test(test_reductions_agree),
        cmocka_unit_test(test_kernel_sets_identical),
        cmocka_unit_test(test_repeat_runs_identical_and_seed_matters),
        cmocka_unit_test(test_other_shard_count_converges),
        cmocka_unit_test(test_shard_mode_default_count),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
