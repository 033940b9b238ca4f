/*
 * test_softmax_train.c — the softmax trainer: parameters byte-identical
 * for 1, 2, 3 and 7 threads (Adagrad and Adam, mini-batches, every
 * feature, one label per user or all leave-one-out pairs); one step equal
 * to the serial sum of the examples' gradients followed by the optimizer's
 * formula; training that learns a planted cluster structure.
 */
#include <math.h>
#include <omp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rng_priv.h"
#include "kern_priv.h"
#include "sm_kern_priv.h"
#include "softmax_priv.h"

enum { NU = 61, NI = 40, NG = 5, CL = 4 };

/* Users in CL clusters; a user of cluster c rates 6..13 movies, almost all
 * from the 10 movies of cluster c (movie i is in cluster i / 10, and has
 * that cluster's genre, a second one when i % 3 == 0, none for the last
 * movie). */
struct data {
    int32_t users[NU * 16], items[NU * 16];
    float ratings[NU * 16]; /* 1..5, a user's cluster movies rated higher */
    int64_t n;
    struct mfr_sm_items it;
};

static void make_data(struct data *d)
{
    uint32_t genres[NI];
    int32_t years[NI];
    for (int i = 0; i < NI; i++) {
        genres[i] = i == NI - 1 ? 0u : (uint32_t)(1u << (i / 10)) | (i % 3 == 0 ? 16u : 0u);
        years[i] = i % 7 == 0 ? 0 : 1980 + i / 10 * 5 + i % 5;
    }
    mfr_error err = {0};
    assert_int_equal(mfr_sm_items_build(NI, NG, genres, years, &d->it, &err), MFR_OK);
    d->n = 0;
    for (int u = 0; u < NU - 3; u++) {
        int c = u % CL, n_u = 6 + (int)(mfr_rng_u64(1, 100, (uint64_t)u) % 8);
        uint64_t used = 0;
        for (int x = 0; x < 64 && n_u > 0; x++) {
            uint64_t r = mfr_rng_u64(1, 101, (uint64_t)(u * 64 + x));
            int i = (r % 10 == 0) ? (int)(r / 10 % NI) : c * 10 + (int)(r / 10 % 10);
            if (used >> i & 1) continue;
            used |= UINT64_C(1) << i;
            d->ratings[d->n] = (float)(1 + (r >> 20) % 3 + (i / 10 == c ? 2 : 0));
            d->users[d->n] = u, d->items[d->n] = i, d->n++;
            n_u--;
        }
    }
    /* User NU-3 rates movie 5 and movie NI-1, which has no genres: with 5
     * the label, the genre mean is over no rows. User NU-2 has a single
     * movie (no example), user NU-1 none. */
    d->ratings[d->n] = 4, d->users[d->n] = NU - 3, d->items[d->n] = 5, d->n++;
    d->ratings[d->n] = 2, d->users[d->n] = NU - 3, d->items[d->n] = NI - 1, d->n++;
    d->ratings[d->n] = 5, d->users[d->n] = NU - 2, d->items[d->n] = 3, d->n++;
}

static mfr_softmax_config base_config(int optimizer)
{
    mfr_softmax_config c;
    mfr_softmax_config_default(&c);
    c.k = 6, c.dim_movie = 5, c.dim_genre = 2, c.dim_year = 3;
    c.features = MFR_SOFTMAX_FEAT_MOVIES | MFR_SOFTMAX_FEAT_GENRES | MFR_SOFTMAX_FEAT_YEARS;
    c.n_hidden = 2, c.hidden[0] = 9, c.hidden[1] = 7;
    c.optimizer = optimizer;
    c.lr = optimizer == MFR_SOFTMAX_OPT_ADAM ? 0.01 : 0.1;
    c.batch_users = 16;
    c.n_shards = 5;
    c.seed = 77;
    return c;
}

static float *train_copy(const struct data *d, const mfr_softmax_config *c, int threads,
                         int epochs, double *last_loss, int64_t *n_params)
{
    mfr_error err = {0};
    mfr_sm_trainer *tr = NULL;
    int st = mfr_sm_trainer_create(c, NU - 1, &d->it, d->users, d->items, d->ratings, d->n, NULL, threads, &tr,
                                   &err);
    if (st) fail_msg("%s", err.message);
    double loss = 0;
    for (int e = 0; e < epochs; e++) {
        st = mfr_sm_trainer_epoch(tr, &loss, &err);
        if (st) fail_msg("%s", err.message);
    }
    const struct mfr_sm_layout *lay = mfr_sm_trainer_layout(tr);
    *n_params = lay->n_params;
    float *out = malloc(sizeof(float) * (size_t)lay->n_params);
    memcpy(out, mfr_sm_trainer_params(tr), sizeof(float) * (size_t)lay->n_params);
    if (last_loss) *last_loss = loss;
    mfr_sm_trainer_destroy(tr);
    return out;
}

static void check_threads(mfr_softmax_config c)
{
    struct data d;
    make_data(&d);
    int64_t P = 0, P2 = 0;
    float *one = train_copy(&d, &c, 1, 3, NULL, &P);
    static const int threads[] = {2, 3, 7};
    for (int t = 0; t < 3; t++) {
        float *other = train_copy(&d, &c, threads[t], 3, NULL, &P2);
        assert_int_equal(P, P2);
        if (memcmp(one, other, sizeof(float) * (size_t)P) != 0)
            fail_msg("%d threads give other parameters than 1 thread", threads[t]);
        free(other);
    }
    /* A different seed moves the parameters (the comparison can fail). */
    c.seed++;
    float *seeded = train_copy(&d, &c, 1, 3, NULL, &P2);
    assert_true(memcmp(one, seeded, sizeof(float) * (size_t)P) != 0);
    free(seeded);
    free(one);
    mfr_sm_items_free(&d.it);
}

/* The AVX2 kernel set (and the AVX-512 one, where the CPU has it) trains
 * the reference set's bytes. */
static void test_kernel_sets_same_training(void **state)
{
    (void)state;
    if (!mfr_cpu_has_avx2()) skip();
    struct data d;
    make_data(&d);
    float *out[3];
    int64_t P = 0;
    const struct mfr_sm_kern *sets[3] = {&mfr_sm_kern_ref, &mfr_sm_kern_avx2, &mfr_sm_kern_avx512};
    const int n_sets = mfr_cpu_has_avx512f() ? 3 : 2;
    for (int set = 0; set < n_sets; set++) {
        mfr_softmax_config c = base_config(MFR_SOFTMAX_OPT_ADAGRAD);
        mfr_error err = {0};
        mfr_sm_trainer *tr = NULL;
        assert_int_equal(mfr_sm_trainer_create(&c, NU - 1, &d.it, d.users, d.items, d.ratings, d.n, NULL, 2,
                                               &tr, &err),
                         MFR_OK);
        mfr_sm_trainer_set_kernels(tr, sets[set]);
        for (int e = 0; e < 2; e++) assert_int_equal(mfr_sm_trainer_epoch(tr, NULL, &err), MFR_OK);
        P = mfr_sm_trainer_layout(tr)->n_params;
        out[set] = malloc(sizeof(float) * (size_t)P);
        memcpy(out[set], mfr_sm_trainer_params(tr), sizeof(float) * (size_t)P);
        mfr_sm_trainer_destroy(tr);
    }
    for (int set = 1; set < n_sets; set++)
        assert_memory_equal(out[0], out[set], sizeof(float) * (size_t)P);
    for (int set = 0; set < n_sets; set++) free(out[set]);
    mfr_sm_items_free(&d.it);
}

/* V's rows updated inside the gradient pass (a step of one chunk of
 * examples: the owner phase, or at 2 threads the pair mode) give the
 * bytes of the separate update pass: parameters and optimizer state,
 * Adam and Adagrad, with and without weight decay, mini-batches and the
 * full batch, at 1, 2 and 3 threads. */
static void check_fused(mfr_softmax_config c, int threads)
{
    struct data d;
    make_data(&d);
    float *out[2][3];
    int64_t P = 0, steps[2];
    for (int fuse = 0; fuse < 2; fuse++) {
        mfr_error err = {0};
        mfr_sm_trainer *tr = NULL;
        assert_int_equal(mfr_sm_trainer_create(&c, NU, &d.it, d.users, d.items, d.ratings, d.n, NULL,
                                               threads, &tr, &err),
                         MFR_OK);
        mfr_sm_trainer_set_fuse(tr, fuse);
        for (int e = 0; e < 3; e++) assert_int_equal(mfr_sm_trainer_epoch(tr, NULL, &err), MFR_OK);
        P = mfr_sm_trainer_layout(tr)->n_params;
        const float *st[2];
        int n_st = mfr_sm_trainer_state(tr, st, &steps[fuse]);
        for (int a = 0; a < 3; a++) {
            const float *src = a == 0 ? mfr_sm_trainer_params(tr) : a <= n_st ? st[a - 1] : NULL;
            out[fuse][a] = calloc((size_t)P, sizeof(float));
            if (src) memcpy(out[fuse][a], src, sizeof(float) * (size_t)P);
        }
        mfr_sm_trainer_destroy(tr);
    }
    assert_int_equal(steps[0], steps[1]);
    for (int a = 0; a < 3; a++) {
        assert_memory_equal(out[0][a], out[1][a], sizeof(float) * (size_t)P);
        free(out[0][a]), free(out[1][a]);
    }
    mfr_sm_items_free(&d.it);
}

static void test_fused_update_same_bytes(void **state)
{
    (void)state;
    for (int threads = 1; threads <= 3; threads++) {
        mfr_softmax_config c = base_config(MFR_SOFTMAX_OPT_ADAM);
        check_fused(c, threads);
        c.weight_decay = 0.05;
        check_fused(c, threads);
        c = base_config(MFR_SOFTMAX_OPT_ADAGRAD);
        check_fused(c, threads);
        c.batch_users = 0; /* one step of all 59 examples: still one chunk */
        check_fused(c, threads);
    }
}

static void test_threads_adagrad(void **state)
{
    (void)state;
    check_threads(base_config(MFR_SOFTMAX_OPT_ADAGRAD));
}

static void test_threads_adam(void **state)
{
    (void)state;
    check_threads(base_config(MFR_SOFTMAX_OPT_ADAM));
}

static void test_threads_all_pairs_full_batch(void **state)
{
    (void)state;
    mfr_softmax_config c = base_config(MFR_SOFTMAX_OPT_ADAM);
    c.all_pairs = 1;
    c.batch_users = 0;
    c.n_shards = 0;
    check_threads(c);
}

static void test_threads_tied_tables(void **state)
{
    (void)state;
    mfr_softmax_config c = base_config(MFR_SOFTMAX_OPT_ADAM);
    c.tie_tables = 1;
    c.dim_movie = c.k;
    check_threads(c);
    c.optimizer = MFR_SOFTMAX_OPT_ADAGRAD, c.lr = 0.1, c.all_pairs = 1;
    check_threads(c);
}

/* All pairs in groups of 6 users: 36-78 examples a step, so an epoch mixes
 * steps of one chunk (the owner phase, which leaves V transposed and the
 * gradient zero for the next step) with steps of two (phases B and C,
 * which leave neither): the bytes still match 1 thread's, and the
 * separate update's. */
static void test_threads_mixed_steps(void **state)
{
    (void)state;
    mfr_softmax_config c = base_config(MFR_SOFTMAX_OPT_ADAM);
    c.all_pairs = 1;
    c.batch_users = 6;
    struct data d;
    make_data(&d);
    mfr_error err = {0};
    mfr_sm_trainer *tr = NULL;
    assert_int_equal(mfr_sm_trainer_create(&c, NU - 1, &d.it, d.users, d.items, d.ratings, d.n, NULL, 2, &tr,
                                           &err),
                     MFR_OK);
    assert_int_equal(mfr_sm_trainer_epoch(tr, NULL, &err), MFR_OK);
    mfr_softmax_step steps[16];
    int32_t n = mfr_sm_trainer_steps(tr, steps, 16), small = 0, large = 0;
    for (int32_t s = 0; s < n && s < 16; s++) {
        small += steps[s].examples <= 64;
        large += steps[s].examples > 64;
    }
    assert_true(small > 0 && large > 0);
    mfr_sm_trainer_destroy(tr);
    mfr_sm_items_free(&d.it);
    check_threads(c);
    for (int threads = 1; threads <= 3; threads++) check_fused(c, threads);
}

/* A non-finite loss (a NaN in V makes a logit NaN)
 * fails the step with MFR_ERR_DIVERGED before any update, for 1 thread, 2
 * (the pair mode) and 3 (the owner phase): the parameters and the step
 * count stay the initial ones. After the error, a finite V steps again and
 * gives the bytes of a trainer that never saw the error (the flags that
 * let a step skip the transpose and the zeroing stay right). */
static void test_threads_diverged(void **state)
{
    (void)state;
    struct data d;
    make_data(&d);
    mfr_softmax_config c = base_config(MFR_SOFTMAX_OPT_ADAM);
    for (int threads = 1; threads <= 3; threads++) {
        mfr_error err = {0};
        mfr_sm_trainer *tr = NULL, *ref = NULL;
        assert_int_equal(mfr_sm_trainer_create(&c, NU - 1, &d.it, d.users, d.items, d.ratings, d.n, NULL,
                                               threads, &ref, &err),
                         MFR_OK);
        const struct mfr_sm_layout *lay = mfr_sm_trainer_layout(ref);
        const int64_t P = lay->n_params;
        float *th = malloc(sizeof(float) * (size_t)P);
        memcpy(th, mfr_sm_trainer_params(ref), sizeof(float) * (size_t)P);
        const float v0 = th[lay->V.offset + 3];
        th[lay->V.offset + 3] = NAN;
        assert_int_equal(mfr_sm_trainer_create(&c, NU - 1, &d.it, d.users, d.items, d.ratings, d.n, th,
                                               threads, &tr, &err),
                         MFR_OK);
        assert_int_equal(mfr_sm_trainer_step_group(tr, 0, 1, NULL, &err), MFR_ERR_DIVERGED);
        assert_memory_equal(th, mfr_sm_trainer_params(tr), sizeof(float) * (size_t)P);
        const float *sv[2];
        int64_t steps = -1;
        mfr_sm_trainer_state(tr, sv, &steps);
        assert_int_equal(steps, 0);
        th[lay->V.offset + 3] = v0; /* the reference's parameters, state zero */
        mfr_sm_trainer_restore(tr, th, sv, 0, 0);
        for (int g = 0; g < 3; g++) {
            assert_int_equal(mfr_sm_trainer_step_group(tr, 0, g, NULL, &err), MFR_OK);
            assert_int_equal(mfr_sm_trainer_step_group(ref, 0, g, NULL, &err), MFR_OK);
        }
        assert_memory_equal(mfr_sm_trainer_params(ref), mfr_sm_trainer_params(tr),
                            sizeof(float) * (size_t)P);
        free(th);
        mfr_sm_trainer_destroy(tr);
        mfr_sm_trainer_destroy(ref);
    }
    mfr_sm_items_free(&d.it);
}

static void test_threads_weight_decay(void **state)
{
    (void)state;
    mfr_softmax_config c = base_config(MFR_SOFTMAX_OPT_ADAM);
    c.weight_decay = 0.7;
    check_threads(c);
}

/* One Adagrad step of group 0 equals, to float rounding, the serial sum
 * of its examples' gradients (weight 1/n; mfr_sm_example, which pools
 * each example's own feature list) followed by TF1's Adagrad. The trainer
 * pools each user's list once and subtracts the label's rows instead, so
 * this checks that arithmetic in each way a step can run: full batch (one
 * chunk; all pairs: several chunks, users across chunk ends), mini-batches
 * (the owner phase; at 2 threads the pair mode), tied tables. */
/* check_step's MLP weights: the initialization's times this (the
 * embedding tables' gradients grow with them) */
static float g_mlp_scale = 1.0f;

/* check_step's serial sum: epoch 0's examples one by one at `th0`, their
 * gradients (weight 1/n) added to `g`; the loss sum, and the number of
 * examples in *n_ex_out. */
static double serial_sum(const struct data *d, const mfr_softmax_config *c, const struct mfr_sm_layout *lay,
                         const float *th0, float *g, int *n_ex_out)
{
    const int all_pairs = c->all_pairs, batch_users = c->batch_users;
    const double min_rating = c->label_min_rating, dropout = c->feature_dropout;
    /* The examples of epoch 0, serially, user by user. */
    const int users = batch_users > 0 ? batch_users : NU - 1;
    int64_t n_u[NU] = {0};
    int32_t rows[NU][16], labels[NU] = {0}; /* labels: the user's movies that may be labels */
    float rats[NU][16];
    for (int64_t x = 0; x < d->n; x++) {
        rats[d->users[x]][n_u[d->users[x]]] = d->ratings[x];
        rows[d->users[x]][n_u[d->users[x]]++] = d->items[x];
    }
    int n_ex = 0;
    int64_t row_ptr[NU] = {0}; /* the trainer's rows: users ascending */
    for (int u = 1; u < NU; u++) row_ptr[u] = row_ptr[u - 1] + n_u[u - 1];
    int dropped = 0, label_dropped = 0;
    for (int u = 0; u < users; u++) {
        for (int x = 0; x < n_u[u] && n_u[u] >= 2; x++) labels[u] += rats[u][x] >= min_rating;
        n_ex += all_pairs ? labels[u] : labels[u] > 0;
    }
    if (batch_users == 0 && min_rating == 0.0) {
        assert_int_equal(n_u[NU - 2], 1);
        assert_int_equal(n_u[NU - 3], 2);
        assert_int_equal(n_ex, all_pairs ? (int)d->n - 1 : NU - 2);
    }
    struct mfr_sm_scratch sc;
    float *buf = calloc((size_t)mfr_sm_scratch_floats(lay), sizeof(float));
    int32_t ids[16 * NG];
    mfr_sm_scratch_bind(&sc, lay, buf);
    sc.ids = ids;
    double loss = 0;
    for (int u = 0; u < users; u++) {
        if (n_u[u] < 2) continue;
        if (labels[u] == 0) continue;
        int32_t *r = rows[u];
        float *rr = rats[u];
        for (int a = 1; a < n_u[u]; a++) /* ascending, as the trainer keeps them */
            for (int b = a; b > 0 && r[b - 1] > r[b]; b--) {
                int32_t t = r[b];
                float tr_ = rr[b];
                r[b] = r[b - 1], r[b - 1] = t;
                rr[b] = rr[b - 1], rr[b - 1] = tr_;
            }
        /* one label: the pick-th of the movies that may be labels */
        int32_t pick = all_pairs ? -1 : mfr_sm_label_index(c->seed, 0, u, labels[u]);
        for (int32_t j = 0; j < n_u[u]; j++) {
            if (rr[j] < min_rating) continue;
            if (pick > 0) {
                pick--;
                continue;
            }
            if (pick == 0) pick = -2; /* this one, then no more */
            else if (pick == -2) break;
            /* feature dropout: step_group(.., epoch 0, ..) runs epoch 1 */
            int32_t F[16], n_f = 0;
            uint8_t keep[16];
            for (int x = 0; x < n_u[u]; x++) {
                const int k = mfr_sm_dropout_keep(c->seed, dropout, 1, row_ptr[u] + x);
                if (x == j) {
                    label_dropped += !k;
                    continue;
                }
                keep[n_f] = (uint8_t)k;
                dropped += !k;
                F[n_f++] = r[x];
            }
            loss += mfr_sm_example(lay, &d->it, c->features, c->negatives, th0, F, n_f,
                                   dropout > 0 ? keep : NULL, r[j], 1.0f / (float)n_ex, g, &sc);
        }
    }
    /* some features and some labels dropped (all pairs, full batch: many) */
    if (dropout > 0) assert_true(dropped > 0 && (batch_users > 0 || label_dropped > 0));
    free(buf);
    *n_ex_out = n_ex;
    return loss;
}

static double check_step(double weight_decay, int all_pairs, int batch_users, int tie,
                         int threads, double min_rating, int32_t negatives, double dropout,
                         float **params_out)
{
    struct data d;
    make_data(&d);
    mfr_softmax_config c = base_config(MFR_SOFTMAX_OPT_ADAGRAD);
    c.batch_users = batch_users;
    c.weight_decay = weight_decay;
    c.all_pairs = all_pairs;
    c.label_min_rating = min_rating;
    c.negatives = negatives;
    c.feature_dropout = dropout;
    if (tie) c.tie_tables = 1, c.dim_movie = c.k;
    mfr_error err = {0};
    mfr_sm_trainer *tr = NULL;
    assert_int_equal(mfr_sm_trainer_create(&c, NU - 1, &d.it, d.users, d.items, d.ratings, d.n, NULL, threads,
                                           &tr, &err),
                     MFR_OK);
    const struct mfr_sm_layout *lay = mfr_sm_trainer_layout(tr);
    int64_t P = lay->n_params;
    if (g_mlp_scale != 1.0f) { /* the same trainer from larger MLP weights */
        float *th = malloc(sizeof(float) * (size_t)P);
        memcpy(th, mfr_sm_trainer_params(tr), sizeof(float) * (size_t)P);
        for (int l = 0; l < lay->n_layers; l++)
            for (int64_t x = 0; x < (int64_t)lay->W[l].rows * lay->W[l].cols; x++)
                th[lay->W[l].offset + x] *= g_mlp_scale;
        mfr_sm_trainer_destroy(tr);
        assert_int_equal(mfr_sm_trainer_create(&c, NU - 1, &d.it, d.users, d.items, d.ratings,
                                               d.n, th, threads, &tr, &err),
                         MFR_OK);
        lay = mfr_sm_trainer_layout(tr);
        free(th);
    }
    float *th0 = malloc(sizeof(float) * (size_t)P), *g = calloc((size_t)P, sizeof(float));
    memcpy(th0, mfr_sm_trainer_params(tr), sizeof(float) * (size_t)P);

    int n_ex;
    double loss = serial_sum(&d, &c, lay, th0, g, &n_ex);
    double got = 0;
    assert_int_equal(mfr_sm_trainer_step_group(tr, 0, 0, &got, &err), MFR_OK);
    if (!(fabs(got - loss / n_ex) < 1e-6 * loss / n_ex))
        fail_msg("step loss %.9g, serial %.9g", got, loss / n_ex);
    const float *th1 = mfr_sm_trainer_params(tr);
    int moved = 0, grads = 0;
    for (int64_t x = 0; x < P; x++) {
        double acc = c.adagrad_init + (double)g[x] * g[x];
        /* decoupled decay: the parameter shrinks, the gradient is the
         * one at th0 */
        double want = th0[x] * (1.0 - c.lr * weight_decay) - c.lr * g[x] / sqrt(acc);
        if (fabs(th1[x] - want) > 1e-6 + 1e-4 * fabs(th0[x] - want))
            fail_msg("parameter %lld: %.9g after the step, serial %.9g (from %.9g)",
                     (long long)x, (double)th1[x], want, (double)th0[x]);
        moved += th1[x] != th0[x];
        grads += g[x] != 0.0f;
    }
    /* a mini-batch's users touch part of the tables; the full batch most */
    assert_true(batch_users > 0 ? grads > P / 8 : moved > P / 2);
    if (params_out) { /* the parameters after the step (P floats) */
        *params_out = malloc(sizeof(float) * (size_t)P);
        memcpy(*params_out, th1, sizeof(float) * (size_t)P);
    }
    free(th0), free(g);
    mfr_sm_trainer_destroy(tr);
    mfr_sm_items_free(&d.it);
    return got;
}

static double check_step_negatives(double weight_decay, int all_pairs, int batch_users, int tie,
                                   int threads, double min_rating, int32_t negatives)
{
    return check_step(weight_decay, all_pairs, batch_users, tie, threads, min_rating, negatives,
                      0.0, NULL);
}

static void check_step_serial(double weight_decay, int all_pairs, int batch_users, int tie,
                              int threads, double min_rating)
{
    check_step_negatives(weight_decay, all_pairs, batch_users, tie, threads, min_rating,
                         MFR_SOFTMAX_NEG_ALL);
}

static void test_step_matches_serial(void **state)
{
    (void)state;
    check_step_serial(0.0, 0, 0, 0, 3, 0.0); /* one label per user, one chunk */
    check_step_serial(0.0, 1, 0, 0, 3, 0.0); /* all pairs: several chunks */
    check_step_serial(0.0, 1, 0, 0, 1, 0.0);
    for (int threads = 1; threads <= 3; threads++) {
        check_step_serial(0.0, 0, 16, 0, threads, 0.0); /* the owner phase; 2: the pair mode */
        check_step_serial(0.0, 1, 6, 0, threads, 0.0);
    }
    check_step_serial(0.0, 1, 0, 1, 2, 0.0); /* tied tables */
    check_step_serial(0.0, 0, 16, 1, 2, 0.0);
}

/* negatives "unrated": each example's feature movies are out of its
 * softmax, in every way a step runs (the serial sum masks them in
 * mfr_sm_example, the trainer in phase A); the step's loss is below the
 * same step's over every movie. */
static void test_step_negatives_unrated(void **state)
{
    (void)state;
    const int32_t U = MFR_SOFTMAX_NEG_UNRATED, A = MFR_SOFTMAX_NEG_ALL;
    for (int threads = 1; threads <= 3; threads++) {
        assert_true(check_step_negatives(0.0, 1, 0, 0, threads, 0.0, U) <
                    check_step_negatives(0.0, 1, 0, 0, threads, 0.0, A) - 1e-3);
        check_step_negatives(0.0, 0, 16, 0, threads, 0.0, U); /* owner phase; 2: pair mode */
        check_step_negatives(0.0, 1, 6, 0, threads, 4.0, U);
    }
    check_step_negatives(0.0, 1, 0, 1, 2, 0.0, U); /* tied tables */
    check_step_negatives(0.3, 0, 16, 1, 3, 0.0, U);
}

/* Feature dropout: the trainer's step against the serial sum with each
 * example's mask (mfr_sm_dropout_keep of the step's epoch, 1), in every
 * way a step runs (one chunk, several with users across chunk ends, the
 * owner phase, the pair mode, tied tables, with negatives "unrated" and
 * label_min_rating). The same step without dropout moves the movie table
 * otherwise, by far more than the comparison's tolerance (so a trainer
 * that ignored the mask fails the serial comparison; at this
 * initialization the losses differ by only some 1e-6). */
static void test_step_feature_dropout(void **state)
{
    (void)state;
    const int32_t U = MFR_SOFTMAX_NEG_UNRATED, A = MFR_SOFTMAX_NEG_ALL;
    g_mlp_scale = 30.0f;
    for (int threads = 1; threads <= 3; threads++) {
        float *with = NULL, *without = NULL;
        const double lw = check_step(0.0, 1, 0, 0, threads, 0.0, A, 0.3, &with);
        const double lo = check_step(0.0, 1, 0, 0, threads, 0.0, A, 0.0, &without);
        assert_true(lw != lo);
        double most = 0.0;
        for (int64_t x = 0; x < 40 * 5; x++) /* the movie table: 40 x 5, first in theta */
            most = fmax(most, fabs((double)with[x] - without[x]));
        if (!(most > 1e-4)) fail_msg("the movie table moves by %.3g with dropout", most);
        free(with), free(without);
        check_step(0.0, 0, 16, 0, threads, 0.0, A, 0.3, NULL); /* owner phase; 2: pair mode */
        check_step(0.0, 1, 6, 0, threads, 0.0, U, 0.5, NULL);
        check_step(0.0, 0, 16, 0, threads, 4.0, U, 0.3, NULL);
    }
    check_step(0.0, 0, 0, 0, 2, 0.0, A, 0.9, NULL); /* most features dropped: empty means */
    check_step(0.0, 1, 0, 1, 2, 0.0, A, 0.3, NULL); /* tied tables */
    check_step(0.3, 0, 16, 1, 3, 0.0, U, 0.3, NULL);
    g_mlp_scale = 1.0f;
}

/* Feature dropout keeps the bytes the same for every thread count
 * (mini-batches with the owner phase and the pair mode, all pairs in
 * mixed steps, full batch), and changes them against no dropout. */
static void test_threads_feature_dropout(void **state)
{
    (void)state;
    mfr_softmax_config c = base_config(MFR_SOFTMAX_OPT_ADAM);
    c.feature_dropout = 0.3;
    check_threads(c);
    c.all_pairs = 1, c.batch_users = 6, c.negatives = MFR_SOFTMAX_NEG_UNRATED;
    check_threads(c);
    for (int threads = 1; threads <= 3; threads++) check_fused(c, threads);
    c.batch_users = 0;
    check_threads(c);
    struct data d;
    make_data(&d);
    int64_t P = 0;
    float *with = train_copy(&d, &c, 1, 2, NULL, &P);
    c.feature_dropout = 0.0;
    float *without = train_copy(&d, &c, 1, 2, NULL, &P);
    assert_true(memcmp(with, without, sizeof(float) * (size_t)P) != 0);
    free(with), free(without);
    mfr_sm_items_free(&d.it);
}

/* The draws: dropped with probability P, a pure function of (seed, epoch,
 * position), another mask in each epoch; 2^40 ratings are refused. */
static void test_dropout_draws(void **state)
{
    (void)state;
    int dropped = 0, same = 0;
    for (int64_t p = 0; p < 10000; p++) {
        const int k = mfr_sm_dropout_keep(5, 0.3, 2, p);
        assert_int_equal(k, mfr_sm_dropout_keep(5, 0.3, 2, p));
        assert_int_equal(k, !(mfr_rng_uniform(5, MFR_RNG_SM_DROPOUT, UINT64_C(2) << 40 | (uint64_t)p) < 0.3));
        assert_true(mfr_sm_dropout_keep(5, 0.0, 2, p));
        dropped += !k;
        same += k == mfr_sm_dropout_keep(5, 0.3, 3, p);
    }
    assert_true(dropped > 2800 && dropped < 3200);
    assert_true(same < 9000); /* 0.58 of them expected */
    struct data d;
    make_data(&d);
    mfr_softmax_config c = base_config(MFR_SOFTMAX_OPT_ADAM);
    c.feature_dropout = 0.3;
    mfr_error err = {0};
    mfr_sm_trainer *tr = NULL;
    assert_int_equal(mfr_sm_trainer_create(&c, NU, &d.it, d.users, d.items, d.ratings,
                                           INT64_C(1) << 40, NULL, 1, &tr, &err),
                     MFR_ERR_TOO_LARGE);
    assert_null(tr);
    assert_non_null(strstr(err.message, "fewer than 2^40 training ratings"));
    mfr_sm_items_free(&d.it);
}

/* label_min_rating: only the movies rated 4 or 5 are labels (all of them,
 * or one drawn among them), every rated movie stays a feature. */
static void test_step_label_min_rating(void **state)
{
    (void)state;
    for (int threads = 1; threads <= 3; threads += 2) {
        check_step_serial(0.0, 1, 0, 0, threads, 4.0);
        check_step_serial(0.0, 0, 0, 0, threads, 4.0);
        check_step_serial(0.0, 1, 6, 0, threads, 4.0);
        check_step_serial(0.0, 0, 16, 0, threads, 5.0);
    }
}

/* The threshold is compared in the ratings' float precision: a rating
 * read as 3.3 (3.2999999523 as a float) reaches a threshold of 3.3. A
 * threshold no rating reaches is refused; without a threshold, data with
 * no examples (one movie a user) is not. */
static void test_label_threshold(void **state)
{
    (void)state;
    struct data d;
    make_data(&d);
    for (int64_t x = 0; x < d.n; x++) d.ratings[x] = x % 2 ? 3.3f : 1.1f;
    mfr_softmax_config c = base_config(MFR_SOFTMAX_OPT_ADAM);
    c.all_pairs = 1;
    c.label_min_rating = 3.3;
    mfr_error err = {0};
    mfr_sm_trainer *tr = NULL;
    assert_int_equal(mfr_sm_trainer_create(&c, NU - 1, &d.it, d.users, d.items, d.ratings, d.n,
                                           NULL, 1, &tr, &err),
                     MFR_OK);
    assert_int_equal(mfr_sm_trainer_epoch(tr, NULL, &err), MFR_OK);
    mfr_softmax_step steps[8];
    int32_t n = mfr_sm_trainer_steps(tr, steps, 8);
    int64_t examples = 0;
    for (int32_t s = 0; s < n && s < 8; s++) examples += steps[s].examples;
    int64_t want = 0; /* the 3.3 ratings of users with two movies or more */
    int32_t per_user[NU] = {0};
    for (int64_t x = 0; x < d.n; x++) per_user[d.users[x]]++;
    for (int64_t x = 0; x < d.n; x++) want += x % 2 && per_user[d.users[x]] >= 2;
    assert_true(want > 0);
    assert_int_equal(examples, want);
    mfr_sm_trainer_destroy(tr);
    c.label_min_rating = 3.31;
    assert_int_equal(mfr_sm_trainer_create(&c, NU - 1, &d.it, d.users, d.items, d.ratings, d.n,
                                           NULL, 1, &tr, &err),
                     MFR_ERR_INVALID);
    assert_null(tr);
    c.label_min_rating = 0.0;
    int32_t one_user[NU], one_item[NU];
    for (int u = 0; u < NU; u++) one_user[u] = u, one_item[u] = u % NI;
    /* one rating a user: no example at all, nothing to learn (the model
     * would be its random start) */
    assert_int_equal(mfr_sm_trainer_create(&c, NU, &d.it, one_user, one_item, NULL, NU, NULL, 1,
                                           &tr, &err),
                     MFR_ERR_INVALID);
    assert_null(tr);
    assert_non_null(strstr(err.message, "no examples: no user has two rated movies"));
    mfr_sm_items_free(&d.it);
}

/* Negatives "unrated" where every user with a label rated every movie:
 * each softmax holds its label alone (loss 0, no gradient), nothing to
 * learn, refused as data with no examples is; one user short of one movie
 * gives examples a negative, and trains. */
static void test_negatives_unrated_none_left(void **state)
{
    (void)state;
    struct data d;
    make_data(&d);
    enum { FU = 3 };
    int32_t users[FU * NI], items[FU * NI];
    for (int32_t x = 0; x < FU * NI; x++) users[x] = x / NI, items[x] = x % NI;
    mfr_softmax_config c = base_config(MFR_SOFTMAX_OPT_ADAM);
    c.negatives = MFR_SOFTMAX_NEG_UNRATED;
    mfr_error err = {0};
    mfr_sm_trainer *tr = NULL;
    assert_int_equal(mfr_sm_trainer_create(&c, FU, &d.it, users, items, NULL, FU * NI, NULL, 1, &tr, &err),
                     MFR_ERR_INVALID);
    assert_null(tr);
    assert_non_null(strstr(err.message, "negatives (--negatives) unrated leaves no example a negative"));
    c.negatives = MFR_SOFTMAX_NEG_ALL;
    assert_int_equal(mfr_sm_trainer_create(&c, FU, &d.it, users, items, NULL, FU * NI, NULL, 1, &tr, &err),
                     MFR_OK);
    mfr_sm_trainer_destroy(tr);
    tr = NULL;
    c.negatives = MFR_SOFTMAX_NEG_UNRATED;
    assert_int_equal(mfr_sm_trainer_create(&c, FU, &d.it, users, items, NULL, FU * NI - 1, NULL, 1, &tr,
                                           &err),
                     MFR_OK);
    assert_int_equal(mfr_sm_trainer_epoch(tr, NULL, &err), MFR_OK);
    mfr_sm_trainer_destroy(tr);
    mfr_sm_items_free(&d.it);
}

/* With weight decay 0.5 and lr 0.1, every parameter first shrinks by 5%. */
static void test_step_weight_decay(void **state)
{
    (void)state;
    check_step_serial(0.5, 0, 0, 0, 3, 0.0);
}

/* The planted clusters are learnable: a model that knows nothing is at
 * ln 40 = 3.69 nats; one that knows the user's cluster (10 movies, 90% of
 * a user's movies) and spreads the rest over the other 30 movies reaches
 * about 0.9 ln(10 / 0.9) + 0.1 ln(300) = 2.74. After 100 epochs of every
 * leave-one-out pair (Adam) the training loss must be below the midpoint
 * of ln 40 and ln 9.5, 2.97. */
static void test_learns_clusters(void **state)
{
    (void)state;
    struct data d;
    make_data(&d);
    mfr_softmax_config c = base_config(MFR_SOFTMAX_OPT_ADAM);
    c.lr = 0.03;
    c.all_pairs = 1;
    double first = 0, last = 0;
    int64_t P;
    free(train_copy(&d, &c, 2, 1, &first, &P));
    free(train_copy(&d, &c, 2, 100, &last, &P));
    assert_true(fabs(first - log((double)NI)) < 0.1);
    if (!(last < 0.5 * (log(40.0) + log(9.5)))) /* 2.97 */
        fail_msg("loss %.4f after 60 epochs (start %.4f)", last, first);
    mfr_sm_items_free(&d.it);
}

static void test_labels(void **state)
{
    (void)state;
    int count[7] = {0};
    for (int e = 0; e < 700; e++) {
        int32_t j = mfr_sm_label_index(5, e, 12, 7);
        assert_true(j >= 0 && j < 7);
        assert_int_equal(j, mfr_sm_label_index(5, e, 12, 7));
        count[j]++;
    }
    for (int j = 0; j < 7; j++) assert_true(count[j] > 60 && count[j] < 140);
}

static void test_bad_pairs(void **state)
{
    (void)state;
    struct data d;
    make_data(&d);
    mfr_softmax_config c = base_config(MFR_SOFTMAX_OPT_ADAM);
    d.items[3] = NI;
    mfr_error err = {0};
    mfr_sm_trainer *tr = NULL;
    assert_int_equal(mfr_sm_trainer_create(&c, NU, &d.it, d.users, d.items, d.ratings, d.n, NULL, 1, &tr,
                                           &err),
                     MFR_ERR_MISMATCH);
    assert_null(tr);
    assert_non_null(strstr(err.message, "pair 3"));
    mfr_sm_items_free(&d.it);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernel_sets_same_training),
        cmocka_unit_test(test_fused_update_same_bytes),
        cmocka_unit_test(test_threads_adagrad),
        cmocka_unit_test(test_threads_adam),
        cmocka_unit_test(test_threads_all_pairs_full_batch),
        cmocka_unit_test(test_threads_tied_tables),
        cmocka_unit_test(test_threads_weight_decay),
        cmocka_unit_test(test_threads_mixed_steps),
        cmocka_unit_test(test_threads_diverged),
        cmocka_unit_test(test_step_weight_decay),
        cmocka_unit_test(test_step_matches_serial),
        cmocka_unit_test(test_step_label_min_rating),
        cmocka_unit_test(test_step_negatives_unrated),
        cmocka_unit_test(test_step_feature_dropout),
        cmocka_unit_test(test_threads_feature_dropout),
        cmocka_unit_test(test_dropout_draws),
        cmocka_unit_test(test_label_threshold),
        cmocka_unit_test(test_negatives_unrated_none_left),
        cmocka_unit_test(test_learns_clusters),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_bad_pairs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
