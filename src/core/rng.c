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
#include <stdbool.h>
#include <string.h>

#include "rng_priv.h"

/* The (seed, stream) part of mfr_rng_u64: the same for every index. */
static inline uint64_t stream_key(uint64_t seed, uint64_t stream)
{
    uint64_t h = mfr_mix64(seed + UINT64_C(0x9e3779b97f4a7c15));
    return mfr_mix64(h ^ (stream * UINT64_C(0xd1b54a32d192ed03)));
}

uint64_t mfr_rng_u64(uint64_t seed, uint64_t stream, uint64_t index)
{
    /* Three rounds keyed by each word keep nearby keys uncorrelated. */
    return mfr_mix64(stream_key(seed, stream) + index * UINT64_C(0x9e3779b97f4a7c15));
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
static inline double rng_log(double x)
{
    static const double LN2_HI = 0x1.62e42feep-1, LN2_LO = 0x1.a39ef35793c76p-33;
    static const double SQRT_HALF = 0x1.6a09e667f3bcdp-1;
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    int e = (int)((bits >> 52) & 0x7ff) - 1023;
    bits = (bits & UINT64_C(0x000fffffffffffff)) | UINT64_C(0x3ff0000000000000); /* m in [1, 2) */
    double m;
    memcpy(&m, &bits, sizeof m);
    /* keep m in [√½, √2) so |f| stays small; a select, not a branch, so
     * that mfr_rng_normal_pairs' lanes run in step */
    const int up = m > 2.0 * SQRT_HALF;
    m = up ? m * 0.5 : m;
    e += up;
    double f = (m - 1.0) / (m + 1.0);
    double f2 = f * f;
    /* Horner over 1/(2j+1), j = 11 .. 1. */
    double p = 1.0 / 23.0;
    for (int j = 10; j >= 1; j--) p = p * f2 + 1.0 / (double)(2 * j + 1);
    double lnm = 2.0 * f + 2.0 * f * (f2 * p);
    return ((double)e * LN2_HI + ((double)e * LN2_LO + lnm));
}

double mfr_rng_log(double x) { return rng_log(x); }

/*
 * Marsaglia's polar method: (x, y) uniform in [−1, 1)², kept when
 * 0 < s = x² + y² < 1; then x·t and y·t with t = √(−2 ln s / s) are two
 * independent N(0, 1) draws. Exact up to the rounding of ln and √ and the
 * 53-bit grid of the uniforms. Draws 2p and 2p + 1 share pair p, whose
 * attempts read a SplitMix64 sequence started from the pair's own key, so
 * every draw is a pure function of (seed, stream, index) however many
 * attempts it takes (on average 4/π).
 */
static const uint64_t GAMMA = UINT64_C(0x9e3779b97f4a7c15);

/* The accepted point (x, y, s) of the pair keyed h = mfr_rng_u64(...). */
static inline void polar_point(uint64_t h, double *xo, double *yo, double *so)
{
    for (;;) {
        double x = (double)(mfr_mix64(h += GAMMA) >> 11) * 0x1.0p-52 - 1.0;
        double y = (double)(mfr_mix64(h += GAMMA) >> 11) * 0x1.0p-52 - 1.0;
        double s = x * x + y * y;
        if (s >= 1.0 || s == 0.0) continue;
        *xo = x, *yo = y, *so = s;
        return;
    }
}

void mfr_rng_normal_pair(uint64_t seed, uint64_t stream, uint64_t pair, double out[2])
{
    double x, y, s;
    polar_point(mfr_rng_u64(seed, stream, pair), &x, &y, &s);
    double t = sqrt(-2.0 * rng_log(s) / s);
    out[0] = x * t;
    out[1] = y * t;
}

/* t[q] = √(−2 ln s[q] / s[q]) for 8 lanes: rng_log's operations in the
 * same order, four lanes to a vector (AVX2). Each +, −, ×, ÷ and √ is
 * correctly rounded in a vector lane as in a scalar (no contraction: no
 * FMA in this target), so the bits are the scalar loop's (test_rng). The
 * scalar loop ran the chains one lane after another: 16% of an ML-100K
 * run's setup, ~150 cycles a pair. */
#if defined(__x86_64__) && defined(__GNUC__)
#define RNG_VECTOR_LOG 1
typedef double v4d __attribute__((vector_size(32)));
typedef int64_t v4l __attribute__((vector_size(32)));

__attribute__((target("avx2"))) static void log_sqrt8(const double *s, double *t)
{
    const double LN2_HI = 0x1.62e42feep-1, LN2_LO = 0x1.a39ef35793c76p-33;
    const double SQRT_HALF = 0x1.6a09e667f3bcdp-1;
    for (int h = 0; h < 8; h += 4) {
        v4d x;
        memcpy(&x, s + h, sizeof x);
        v4l bits;
        memcpy(&bits, &x, sizeof bits);
        v4l e = ((bits >> 52) & 0x7ff) - 1023;
        const v4l mbits = (bits & INT64_C(0x000fffffffffffff)) | INT64_C(0x3ff0000000000000);
        v4d m;
        memcpy(&m, &mbits, sizeof m);
        const v4l up = m > 2.0 * SQRT_HALF; /* -1 where m > √2 */
        const v4d half = m * 0.5;
        v4l hb, mb;
        memcpy(&hb, &half, sizeof hb);
        memcpy(&mb, &m, sizeof mb);
        mb = (hb & up) | (mb & ~up);
        memcpy(&m, &mb, sizeof m);
        e -= up;
        const v4d f = (m - 1.0) / (m + 1.0);
        const v4d f2 = f * f;
        v4d p = {1.0 / 23.0, 1.0 / 23.0, 1.0 / 23.0, 1.0 / 23.0};
        for (int j = 10; j >= 1; j--) p = p * f2 + 1.0 / (double)(2 * j + 1);
        const v4d lnm = 2.0 * f + 2.0 * f * (f2 * p);
        const v4d ed = __builtin_convertvector(e, v4d);
        const v4d lg = ed * LN2_HI + (ed * LN2_LO + lnm);
        const v4d r = -2.0 * lg / x;
        const v4d sq = __builtin_ia32_sqrtpd256(r);
        memcpy(t + h, &sq, sizeof sq);
    }
}
#endif

void mfr_rng_normal_pairs(uint64_t seed, uint64_t stream, uint64_t first_pair, int64_t n_pairs,
                          double *out)
{
#ifdef RNG_VECTOR_LOG
    const bool vec = __builtin_cpu_supports("avx2");
#endif
    enum { LANES = 8 }; /* the logarithms of 8 pairs in step: their chains overlap */
    const uint64_t key = stream_key(seed, stream);
    for (int64_t b = 0; b < n_pairs; b += LANES) {
        const int n = n_pairs - b < LANES ? (int)(n_pairs - b) : LANES;
        double x[LANES], y[LANES], s[LANES], t[LANES];
        for (int q = 0; q < LANES; q++) { /* whole blocks: the tail lanes repeat a pair */
            const uint64_t pair = first_pair + (uint64_t)b + (uint64_t)(q < n ? q : 0);
            polar_point(mfr_mix64(key + pair * GAMMA), &x[q], &y[q], &s[q]);
        }
#ifdef RNG_VECTOR_LOG
        if (vec)
            log_sqrt8(s, t);
        else
#endif
            for (int q = 0; q < LANES; q++) t[q] = sqrt(-2.0 * rng_log(s[q]) / s[q]);
        for (int q = 0; q < n; q++) {
            out[2 * (b + q)] = x[q] * t[q];
            out[2 * (b + q) + 1] = y[q] * t[q];
        }
    }
}

double mfr_rng_normal(uint64_t seed, uint64_t stream, uint64_t index)
{
    double z[2];
    mfr_rng_normal_pair(seed, stream, index >> 1, z);
    return z[index & 1];
}
