/*
 * mt19937.c — the Mersenne Twister and NumPy's legacy permutation; see
 * mt19937_priv.h for why they exist and what they must match.
 *
 * The generator follows the reference mt19937ar.c (Matsumoto & Nishimura,
 * 2002) and NumPy's numpy/random/src/mt19937/mt19937.c; the interval and
 * shuffle follow numpy/random/src/legacy and mtrand.pyx (_shuffle_raw).
 */
#include "mt19937_priv.h"

#define MT_M 397
#define MT_MATRIX_A UINT32_C(0x9908b0df)
#define MT_UPPER UINT32_C(0x80000000)
#define MT_LOWER UINT32_C(0x7fffffff)

void mfr_mt19937_seed(struct mfr_mt19937 *mt, uint32_t seed)
{
    mt->key[0] = seed;
    for (uint32_t i = 1; i < MFR_MT19937_N; i++) {
        uint32_t prev = mt->key[i - 1];
        mt->key[i] = UINT32_C(1812433253) * (prev ^ (prev >> 30)) + i;
    }
    mt->pos = MFR_MT19937_N;
}

/* Regenerates all N words of the state at once (the reference's
 * "generate N words at one time"). */
static void mt_generate(struct mfr_mt19937 *mt)
{
    uint32_t *k = mt->key;
    int i;
    for (i = 0; i < MFR_MT19937_N - MT_M; i++) {
        uint32_t y = (k[i] & MT_UPPER) | (k[i + 1] & MT_LOWER);
        k[i] = k[i + MT_M] ^ (y >> 1) ^ ((y & 1u) ? MT_MATRIX_A : 0u);
    }
    for (; i < MFR_MT19937_N - 1; i++) {
        uint32_t y = (k[i] & MT_UPPER) | (k[i + 1] & MT_LOWER);
        k[i] = k[i + (MT_M - MFR_MT19937_N)] ^ (y >> 1) ^ ((y & 1u) ? MT_MATRIX_A : 0u);
    }
    uint32_t y = (k[MFR_MT19937_N - 1] & MT_UPPER) | (k[0] & MT_LOWER);
    k[MFR_MT19937_N - 1] = k[MT_M - 1] ^ (y >> 1) ^ ((y & 1u) ? MT_MATRIX_A : 0u);
    mt->pos = 0;
}

/* Tempering: the output word of a state word. */
static uint32_t temper(uint32_t y)
{
    y ^= y >> 11;
    y ^= (y << 7) & UINT32_C(0x9d2c5680);
    y ^= (y << 15) & UINT32_C(0xefc60000);
    return y ^ (y >> 18);
}

uint32_t mfr_mt19937_next32(struct mfr_mt19937 *mt)
{
    if (mt->pos >= MFR_MT19937_N) mt_generate(mt);
    return temper(mt->key[mt->pos++]);
}

uint64_t mfr_mt19937_next64(struct mfr_mt19937 *mt)
{
    uint64_t hi = mfr_mt19937_next32(mt);
    uint64_t lo = mfr_mt19937_next32(mt);
    return hi << 32 | lo;
}

uint64_t mfr_mt19937_interval(struct mfr_mt19937 *mt, uint64_t max)
{
    if (max == 0) return 0;
    uint64_t mask = max;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    mask |= mask >> 32;
    uint64_t value;
    if (max <= UINT64_C(0xffffffff)) {
        while ((value = (mfr_mt19937_next32(mt) & mask)) > max) {
        }
    } else {
        while ((value = (mfr_mt19937_next64(mt) & mask)) > max) {
        }
    }
    return value;
}

/* The permutation's generator: the state regenerated and all N words
 * tempered into out[] at once (both loops vectorize), then read in order:
 * the same stream as mfr_mt19937_next32, without a call and a branch per
 * word. */
struct mt_block {
    struct mfr_mt19937 mt;
    uint32_t out[MFR_MT19937_N];
    int pos; /* next word of out; MFR_MT19937_N: refill first */
};

static void block_fill(struct mt_block *b)
{
    mt_generate(&b->mt);
    for (int k = 0; k < MFR_MT19937_N; k++) b->out[k] = temper(b->mt.key[k]);
    b->mt.pos = MFR_MT19937_N;
    b->pos = 0;
}

static void block_seed(struct mt_block *b, uint32_t seed)
{
    mfr_mt19937_seed(&b->mt, seed);
    b->pos = MFR_MT19937_N;
}

static uint32_t block_next32(struct mt_block *b)
{
    if (b->pos >= MFR_MT19937_N) block_fill(b);
    return b->out[b->pos++];
}

/* The shuffle's swap partners of i, i - 1, ..., i - cnt + 1 into j[]: a
 * partner depends on the stream and i only, never on the array, so a
 * block of them is drawn first and the swaps then fetch their targets
 * ahead (on 10M elements each swap was a cache miss in a chain).
 *
 * Below 2^32 each word is tried without a branch: it is kept (and the
 * next partner's turn comes) when its masked value is at most i - q,
 * NumPy's rejection loop unrolled over the stream; the rejections (about
 * a quarter of the words) were mispredicted branches. */
enum { PERM_BLOCK = 256, PERM_AHEAD = 16 };
static int64_t draw_partners(struct mt_block *b, int64_t i, int64_t *j)
{
    const int64_t cnt = i < PERM_BLOCK ? i : PERM_BLOCK;
    int64_t q = 0;
    for (; q < cnt && i - q > (int64_t)UINT32_MAX; q++) { /* n > 2^32: 64-bit words */
        const uint64_t max = (uint64_t)(i - q), mask = UINT64_MAX >> __builtin_clzll(max);
        uint64_t v;
        do {
            const uint64_t hi = block_next32(b);
            v = (hi << 32 | block_next32(b)) & mask;
        } while (v > max);
        j[q] = (int64_t)v;
    }
    while (q < cnt) {
        if (b->pos >= MFR_MT19937_N) block_fill(b);
        int pos = b->pos;
        for (; pos < MFR_MT19937_N && q < cnt; pos++) {
            const uint32_t max = (uint32_t)(i - q), v = b->out[pos] & (UINT32_MAX >> __builtin_clz(max));
            j[q] = v;
            q += v <= max;
        }
        b->pos = pos;
    }
    return cnt;
}

void mfr_mt19937_permutation(uint32_t seed, int64_t *perm, int64_t n)
{
    struct mt_block b;
    block_seed(&b, seed);
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    int64_t j[PERM_BLOCK];
    for (int64_t i = n - 1; i >= 1;) {
        const int64_t cnt = draw_partners(&b, i, j);
        for (int64_t q = 0; q < cnt; q++, i--) {
            if (q + PERM_AHEAD < cnt) __builtin_prefetch(&perm[j[q + PERM_AHEAD]], 1);
            int64_t t = perm[i];
            perm[i] = perm[j[q]];
            perm[j[q]] = t;
        }
    }
}

void mfr_mt19937_permutation32(uint32_t seed, uint32_t *perm, int64_t n)
{
    struct mt_block b;
    block_seed(&b, seed);
    for (int64_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
    int64_t j[PERM_BLOCK];
    for (int64_t i = n - 1; i >= 1;) {
        const int64_t cnt = draw_partners(&b, i, j);
        for (int64_t q = 0; q < cnt; q++, i--) {
            if (q + PERM_AHEAD < cnt) __builtin_prefetch(&perm[j[q + PERM_AHEAD]], 1);
            uint32_t t = perm[i];
            perm[i] = perm[j[q]];
            perm[j[q]] = t;
        }
    }
}
