/*
 * rng_priv.h — a counter-based generator: every random number is a pure
 * function of (seed, stream, index), so no result depends on which thread
 * drew it or in what order. The mixing function is SplitMix64's finalizer
 * applied to a combination of the key words (passes BigCrush as a counter
 * generator when the index increments).
 */
#ifndef MFR_RNG_PRIV_H
#define MFR_RNG_PRIV_H

#include <stdint.h>

/* Streams (purposes) used by the library; values are part of the
 * determinism contract: never renumber. */
enum mfr_rng_stream {
    MFR_RNG_INIT_U = 1,
    MFR_RNG_INIT_V = 2,
    MFR_RNG_INIT_Y = 4, /* implicit factors */
    MFR_RNG_TSNE = 5,   /* t-SNE start (analysis.c) */
    MFR_RNG_SPLIT = 3,
    MFR_RNG_SYNTH = 16, /* synth.c uses 16..31 */
    MFR_RNG_SM_INIT = 40,  /* softmax model parameters (src/softmax) */
    MFR_RNG_SM_LABEL = 41, /* softmax labels: (epoch, user) */
    MFR_RNG_SM_ORDER = 42, /* softmax mini-batch order per epoch */
    MFR_RNG_SM_DROPOUT = 43, /* softmax feature dropout: (epoch << 40 | row position) */
};

/* SplitMix64's finalizer: the mixing step of every generator and hash here. */
static inline uint64_t mfr_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* 64 random bits for (seed, stream, index). */
uint64_t mfr_rng_u64(uint64_t seed, uint64_t stream, uint64_t index);
/* Uniform double in [0, 1) with 53 random bits. */
double mfr_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index);
/* Standard normal draw (Marsaglia's polar method; draws 2p and 2p + 1 are
 * the two halves of one pair). Integer and IEEE basic operations only, so
 * the bits are the same on every platform and C library. */
double mfr_rng_normal(uint64_t seed, uint64_t stream, uint64_t index);
/* Both draws of pair p at once: out[0] = mfr_rng_normal(seed, stream, 2p),
 * out[1] = mfr_rng_normal(seed, stream, 2p + 1), for the cost of one. */
void mfr_rng_normal_pair(uint64_t seed, uint64_t stream, uint64_t pair, double out[2]);
/* Pairs first_pair .. first_pair + n_pairs - 1 into out[0 .. 2 n_pairs),
 * each equal to mfr_rng_normal_pair's, several at a time (the stream's
 * key made once, the logarithms interleaved): the initialization's path. */
void mfr_rng_normal_pairs(uint64_t seed, uint64_t stream, uint64_t first_pair, int64_t n_pairs,
                          double *out);
/* ln(x) for a positive normal double from basic operations only, within a
 * few ulp (rng.c); what the polar method uses instead of libm's log. */
double mfr_rng_log(double x);

#endif
