/*
 * mt19937_priv.h — the 32-bit Mersenne Twister exactly as NumPy's legacy
 * `numpy.random.RandomState` runs it, and the legacy `permutation(n)` built
 * on it.
 *
 * Why: the "sklearn:SEED" split must return the very rows that
 * scikit-learn's train_test_split(random_state=SEED) returns, and sklearn
 * draws them from `RandomState(SEED).permutation(n)`. Only the pieces that
 * path uses are reproduced; everything here is a bit-exact port, so every
 * change must keep tests/test_split.c's golden values (taken from NumPy
 * itself) passing.
 *
 * The generator state is explicit (no globals); it is not thread-safe per
 * object, but separate objects are independent.
 */
#ifndef MFR_MT19937_PRIV_H
#define MFR_MT19937_PRIV_H

#include <stdint.h>

#include "mfrec.h"

#define MFR_MT19937_N 624

struct mfr_mt19937 {
    uint32_t key[MFR_MT19937_N];
    int pos; /* next word of key to temper; MFR_MT19937_N: regenerate first */
};

/* Matsumoto and Nishimura's init_genrand(seed), as NumPy's
 * RandomState(seed) does for an integer seed in 0..2^32-1. */
void mfr_mt19937_seed(struct mfr_mt19937 *mt, uint32_t seed);

/* The next 32-bit output (genrand_int32; NumPy's next_uint32). */
uint32_t mfr_mt19937_next32(struct mfr_mt19937 *mt);

/* Two outputs as one 64-bit word, first one high (NumPy's next_uint64). */
uint64_t mfr_mt19937_next64(struct mfr_mt19937 *mt);

/* A uniform integer in [0, max] by NumPy's legacy random_interval: draw
 * (32-bit words while max <= 0xffffffff, else 64-bit), keep the bits under
 * the smallest all-ones mask >= max, reject values above max. */
uint64_t mfr_mt19937_interval(struct mfr_mt19937 *mt, uint64_t max);

/* Fills perm[0..n) with RandomState(seed).permutation(n): perm = 0..n-1,
 * then for i = n-1 down to 1 swap perm[i] with perm[interval(i)].
 * n >= 0; perm has room for n entries (may be NULL when n == 0). */
void mfr_mt19937_permutation(uint32_t seed, int64_t *perm, int64_t n);
/* The same permutation in 4-byte entries (n <= UINT32_MAX): half the
 * memory, for the ranks of an MPI run that each make it (split.c). */
void mfr_mt19937_permutation32(uint32_t seed, uint32_t *perm, int64_t n);

#endif
