/*
 * bench_softmax.c — one softmax example's forward and backward pass
 * (mfr_sm_example: pooling, one hidden ReLU layer of k, the final layer,
 * the 1,682-wide logits, the log-sum-exp cross-entropy and every gradient)
 * with the reference and the AVX2 kernel sets, over k (the output, movie
 * and hidden widths alike). The model is shaped like ML-100K's (1,682
 * movies); each pass runs 64 examples whose 60 feature movies are drawn
 * from a seeded generator. Before timing, the AVX2 case runs the same
 * examples as the reference and skips unless the gradients are equal bit
 * for bit (sm_kern_priv.h's contract).
 *
 * Per example, with M = 1,682 and k: flops ~ 6 M k (logits 2Mk, their
 * gradient into V 2Mk and into u 2Mk) + the MLP's 6 k^2 + the pooling;
 * bytes ~ 16 M k (V read twice, its gradient read and written): counted as
 * ratings = examples.
 *
 * softmax_step/{ref,avx2}: the trainer's own optimizer step
 * (mfr_sm_trainer_step_group, one thread: V's transpose, the batch kernels
 * logits_t4, xent, logits_du4 and outer_rows, the MLP, the pooling's
 * scatter and Adam over every parameter) on batches of 16 users with 60
 * movies each, the shape of --preset softmax's round-1 steps on ML-100K;
 * ratings = examples. Before timing, one step with each set from the same
 * start must give the same parameters bit for bit.
 */
#include <string.h>

#include "bench_util.h"
#include "rng_priv.h"
#include "softmax_priv.h"

enum { SB_ITEMS = 1682, SB_EXAMPLES = 64, SB_FEATURES = 60 };

struct sm_bench {
    const char *name;
    int avx2;
};

static const struct sm_bench sm_benches[] = {
    {"softmax_example/ref", 0},
    {"softmax_example/avx2", 1},
};

/* Runs the 64 examples into grad; returns the loss sum. */
static double run_examples(const struct mfr_sm_layout *lay, const struct mfr_sm_items *it,
                           const float *theta, const int32_t *F, float *grad,
                           struct mfr_sm_scratch *sc)
{
    double loss = 0;
    for (int e = 0; e < SB_EXAMPLES; e++)
        loss += mfr_sm_example(lay, it, MFR_SOFTMAX_FEAT_MOVIES, MFR_SOFTMAX_NEG_ALL, theta,
                               F + e * SB_FEATURES, SB_FEATURES, NULL, (e * 37) % SB_ITEMS,
                               1.0f / SB_EXAMPLES, grad, sc);
    return loss;
}

static void bm_softmax(struct mfr_bench_state *st, const void *ctx)
{
    const struct sm_bench *b = ctx;
    if (b->avx2 && !mfr_cpu_has_avx2()) {
        mfr_bench_skip(st, "no AVX2/FMA on this CPU");
        return;
    }
    int32_t k = (int32_t)mfr_bench_arg(st, 0);
    mfr_softmax_config c;
    mfr_softmax_config_default(&c);
    c.k = c.dim_movie = c.hidden[0] = k;
    uint32_t bits[SB_ITEMS] = {0};
    int32_t years[SB_ITEMS] = {0};
    struct mfr_sm_items it;
    struct mfr_sm_layout lay;
    mfr_error err = {0};
    if (mfr_sm_items_build(SB_ITEMS, 1, bits, years, &it, &err) != MFR_OK ||
        mfr_sm_layout_make(&c, SB_ITEMS, it.n_genres, it.n_years, &lay, &err) != MFR_OK) {
        mfr_bench_fail(st, "setup failed");
        return;
    }
    float *theta = bench_alloc_floats((size_t)lay.n_params);
    float *g0 = bench_alloc_floats((size_t)lay.n_params), *g = bench_alloc_floats((size_t)lay.n_params);
    float *buf = bench_alloc_floats((size_t)mfr_sm_scratch_floats(&lay));
    static int32_t F[SB_EXAMPLES * SB_FEATURES], ids[SB_FEATURES];
    mfr_sm_init(&lay, 1, MFR_SOFTMAX_INIT_COLAB, theta);
    for (int x = 0; x < SB_EXAMPLES * SB_FEATURES; x++)
        F[x] = (int32_t)(mfr_rng_u64(2, 3, (uint64_t)x) % SB_ITEMS);
    struct mfr_sm_scratch sc;
    mfr_sm_scratch_bind(&sc, &lay, buf);
    sc.ids = ids;
    sc.kern = &mfr_sm_kern_ref;
    run_examples(&lay, &it, theta, F, g0, &sc);
    sc.kern = b->avx2 ? &mfr_sm_kern_avx2 : &mfr_sm_kern_ref;
    run_examples(&lay, &it, theta, F, g, &sc);
    if (memcmp(g0, g, sizeof(float) * (size_t)lay.n_params) != 0) {
        mfr_bench_fail(st, "the AVX2 gradient differs from the reference's");
    } else {
        while (mfr_bench_keep_running(st)) bench_sink += run_examples(&lay, &it, theta, F, g, &sc);
        double mk = (double)SB_ITEMS * k;
        bench_report(st, SB_EXAMPLES, SB_EXAMPLES * 16.0 * mk,
                     SB_EXAMPLES * (6.0 * mk + 6.0 * k * k));
    }
    bench_free(theta), bench_free(g0), bench_free(g), bench_free(buf);
    mfr_sm_items_free(&it);
}

enum { SS_USERS = 64, SS_BATCH = 16 };

/* A trainer on SS_USERS users x SB_FEATURES + 1 seeded movies each. */
static mfr_sm_trainer *step_trainer(int32_t k, int32_t kernels, const struct mfr_sm_items *it)
{
    static int32_t users[SS_USERS * (SB_FEATURES + 1)], movies[SS_USERS * (SB_FEATURES + 1)];
    int64_t n = 0;
    for (int32_t u = 0; u < SS_USERS; u++)
        for (int32_t j = 0; j <= SB_FEATURES; j++, n++) {
            users[n] = u; /* distinct movies: a stride coprime to 1,682 */
            movies[n] = (int32_t)((mfr_rng_u64(4, 5, (uint64_t)u) + (uint64_t)j * 97) % SB_ITEMS);
        }
    mfr_softmax_config c;
    mfr_softmax_config_default(&c);
    c.k = c.dim_movie = c.hidden[0] = k;
    c.optimizer = MFR_SOFTMAX_OPT_ADAM, c.lr = 0.01, c.batch_users = SS_BATCH;
    c.kernels = kernels;
    mfr_sm_trainer *tr = NULL;
    mfr_error err = {0};
    if (mfr_sm_trainer_create(&c, SS_USERS, it, users, movies, NULL, n, NULL, 1, &tr, &err) != MFR_OK)
        return NULL;
    return tr;
}

static void bm_softmax_step(struct mfr_bench_state *st, const void *ctx)
{
    const struct sm_bench *b = ctx;
    if (b->avx2 && !mfr_cpu_has_avx2()) {
        mfr_bench_skip(st, "no AVX2/FMA on this CPU");
        return;
    }
    int32_t k = (int32_t)mfr_bench_arg(st, 0);
    uint32_t bits[SB_ITEMS] = {0};
    int32_t years[SB_ITEMS] = {0};
    struct mfr_sm_items it;
    mfr_error err = {0};
    if (mfr_sm_items_build(SB_ITEMS, 1, bits, years, &it, &err) != MFR_OK) {
        mfr_bench_fail(st, "setup failed");
        return;
    }
    mfr_sm_trainer *ref = step_trainer(k, MFR_KERNELS_REF, &it);
    mfr_sm_trainer *tr = step_trainer(k, b->avx2 ? MFR_KERNELS_AVX2 : MFR_KERNELS_REF, &it);
    double l0 = 0, l1 = 0;
    if (!ref || !tr || mfr_sm_trainer_step_group(ref, 0, 0, &l0, &err) != MFR_OK ||
        mfr_sm_trainer_step_group(tr, 0, 0, &l1, &err) != MFR_OK) {
        mfr_bench_fail(st, "setup failed");
    } else if (memcmp(mfr_sm_trainer_params(ref), mfr_sm_trainer_params(tr),
                      sizeof(float) * (size_t)mfr_sm_trainer_layout(tr)->n_params) != 0) {
        mfr_bench_fail(st, "the AVX2 step differs from the reference's");
    } else {
        int32_t g = 0, G = mfr_sm_trainer_n_groups(tr);
        while (mfr_bench_keep_running(st)) {
            double l;
            mfr_sm_trainer_step_group(tr, 0, g, &l, &err);
            bench_sink += l;
            g = (g + 1) % G;
        }
        double mk = (double)SB_ITEMS * k;
        bench_report(st, SS_BATCH, SS_BATCH * 16.0 * mk, SS_BATCH * (6.0 * mk + 6.0 * k * k));
    }
    mfr_sm_trainer_destroy(ref), mfr_sm_trainer_destroy(tr);
    mfr_sm_items_free(&it);
}

static const struct sm_bench sm_step_benches[] = {
    {"softmax_step/ref", 0},
    {"softmax_step/avx2", 1},
};

void bench_softmax_register(void)
{
    static const char *const names[] = {"k"};
    static const int64_t dims[] = {16, 35, 64, 128};
    for (size_t b = 0; b < sizeof sm_benches / sizeof sm_benches[0]; b++)
        mfr_bench_register(sm_benches[b].name, bm_softmax, &sm_benches[b], names, 1, dims, 4, 0);
    for (size_t b = 0; b < sizeof sm_step_benches / sizeof sm_step_benches[0]; b++)
        mfr_bench_register(sm_step_benches[b].name, bm_softmax_step, &sm_step_benches[b], names,
                           1, dims, 4, 0);
}
