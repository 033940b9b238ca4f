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
        loss += mfr_sm_example(lay, it, MFR_SOFTMAX_FEAT_MOVIES, theta, F + e * SB_FEATURES,
                               SB_FEATURES, (e * 37) % SB_ITEMS, 1.0f / SB_EXAMPLES, grad, sc);
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
        mfr_bench_skip(st, "setup failed");
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
        mfr_bench_skip(st, "the AVX2 gradient differs from the reference's");
    } else {
        while (mfr_bench_keep_running(st)) bench_sink += run_examples(&lay, &it, theta, F, g, &sc);
        double mk = (double)SB_ITEMS * k;
        bench_report(st, SB_EXAMPLES, SB_EXAMPLES * 16.0 * mk,
                     SB_EXAMPLES * (6.0 * mk + 6.0 * k * k));
    }
    bench_free(theta), bench_free(g0), bench_free(g), bench_free(buf);
    mfr_sm_items_free(&it);
}

void bench_softmax_register(void)
{
    static const char *const names[] = {"k"};
    static const int64_t dims[] = {16, 35, 64, 128};
    for (size_t b = 0; b < sizeof sm_benches / sizeof sm_benches[0]; b++)
        mfr_bench_register(sm_benches[b].name, bm_softmax, &sm_benches[b], names, 1, dims, 4, 0);
}
