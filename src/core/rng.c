/*
 * rng.c — the counter-based generator of rng_priv.h.
 *
 * DESIGN: normal draws use only integer operations and IEEE basic
 * operations (+, −, ×, ÷, sqrt: all correctly rounded, so every conforming
 * platform gives the same bits under -ffp-contract=off). They used to come
 * from Box-Muller with libm's log and cos, whose last bits differ between C
 * libraries; the logarithm is now computed here (mfr_rng_log).
 */
#include <math.h>
#include <string.h>

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

/*
 * ln(x) for a positive normal double, from basic operations only.
 * x = 2^e · m with m in [√½, √2); ln m = 2 atanh(f), f = (m − 1)/(m + 1),
 * |f| ≤ 0.1716, so f² ≤ 0.02944 and the series 2(f + f³/3 + … + f²³/23)
 * leaves a truncation error below 0.02944^12/25 < 2^-64 relative. ln 2 is
 * split so that e · LN2_HI is exact (LN2_HI has 32 significant bits, |e| <
 * 2^11). The result is within a few ulp of the true logarithm
 * (tests/test_rng.c checks ≤ 4 ulp against libm over the whole range the
 * polar method uses).
 */
double mfr_rng_log(double x)
{
    static const double LN2_HI = 0x1.62e42feep-1, LN2_LO = 0x1.a39ef35793c76p-33;
    static const double SQRT_HALF = 0x1.6a09e667f3bcdp-1;
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int e = (int)((bits >> 52) & 0x7ff) - 1023;
    bits = (bits & UINT64_C(0x000fffffffffffff)) | UINT64_C(0x3ff0000000000000); /* m in [1, 2) */
    double m;
    memcpy(&m, &bits, sizeof m);
    if (m > 2.0 * SQRT_HALF) { /* keep m in [√½, √2) so |f| stays small */
        m *= 0.5;
        e += 1;
    }
    double f = (m - 1.0) / (m + 1.0);
    double f2 = f * f;
    /* Horner over 1/(2j+1), j = 11 .. 1. */
    double p = 1.0 / 23.0;
    for (int j = 10; j >= 1; j--) p = p * f2 + 1.0 / (double)(2 * j + 1);
    double lnm = 2.0 * f + 2.0 * f * (f2 * p);
    return ((double)e * LN2_HI + ((double)e * LN2_LO + lnm));
}

/*
 * Marsaglia's polar method: (x, y) uniform in [−1, 1)², kept when
 * 0 < s = x² + y² < 1; then x·t and y·t with t = √(−2 ln s / s) are two
 * independent N(0, 1) draws. Exact up to the rounding of ln and √ and the
 * 53-bit grid of the uniforms. Draws 2p and 2p + 1 share pair p, whose
 * attempts read a SplitMix64 sequence started from the pair's own key, so
 * every draw is a pure function of (seed, stream, index) however many
 * attempts it takes (on average 4/π).
 */
void mfr_rng_normal_pair(uint64_t seed, uint64_t stream, uint64_t pair, double out[2])
{
    static const uint64_t GAMMA = UINT64_C(0x9e3779b97f4a7c15);
    uint64_t h = mfr_rng_u64(seed, stream, pair);
    for (;;) {
        double x = (double)(mix64(h += GAMMA) >> 11) * 0x1.0p-52 - 1.0;
        double y = (double)(mix64(h += GAMMA) >> 11) * 0x1.0p-52 - 1.0;
        double s = x * x + y * y;
        if (s >= 1.0 || s == 0.0) continue;
        double t = sqrt(-2.0 * mfr_rng_log(s) / s);
        out[0] = x * t;
        out[1] = y * t;
        return;
    }
}

double mfr_rng_normal(uint64_t seed, uint64_t stream, uint64_t index)
{
    double z[2];
    mfr_rng_normal_pair(seed, stream, index >> 1, z);
    return z[index & 1];
}
