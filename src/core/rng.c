/*
 * rng.c — the counter-based generator of rng_priv.h.
 */
#include <math.h>

#include "rng_priv.h"

static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

uint64_t mfr_rng_u64(uint64_t seed, uint64_t stream, uint64_t index)
{
    /* Three rounds keyed by each word keep nearby keys uncorrelated. */
    uint64_t h = mix64(seed + UINT64_C(0x9e3779b97f4a7c15));
    h = mix64(h ^ (stream * UINT64_C(0xd1b54a32d192ed03)));
    return mix64(h + index * UINT64_C(0x9e3779b97f4a7c15));
}

double mfr_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index)
{
    return (double)(mfr_rng_u64(seed, stream, index) >> 11) * 0x1.0p-53;
}

double mfr_rng_normal(uint64_t seed, uint64_t stream, uint64_t index)
{
    /* Two independent uniforms from the two halves of the index space. */
    uint64_t a = mfr_rng_u64(seed, stream, 2 * index);
    uint64_t b = mfr_rng_u64(seed, stream, 2 * index + 1);
    double u1 = ((double)(a >> 11) + 1.0) * 0x1.0p-53; /* (0, 1] */
    double u2 = (double)(b >> 11) * 0x1.0p-53;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
