/*
 * test_rng.c — the counter-based generator: the libm-free logarithm against
 * libm, the normal draws' distribution (moments, tails, a Kolmogorov-Smirnov
 * distance) and that every draw is a pure function of (seed, stream, index).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rng_priv.h"

enum { N_DRAWS = 1000000 };

/* Distance in units in the last place of `want`. */
static double ulps(double got, double want)
{
    return fabs(got - want) / (nextafter(fabs(want), INFINITY) - fabs(want));
}

/* mfr_rng_log within 4 ulp of libm's log (itself within 1 ulp; 2 measured) over the
 * range the polar method uses: (2^-106, 1), log-uniformly and near 1. */
static void test_log_accuracy(void **state)
{
    (void)state;
    double worst = 0.0;
    for (uint64_t q = 0; q < 200000; q++) {
        double u = mfr_rng_uniform(9, 1, q);
        double x = q % 2 ? ldexp(0.5 + 0.5 * u, -(int)(q % 106)) : 1.0 - ldexp(u, -(int)(q % 53));
        if (!(x > 0.0 && x < 1.0)) continue;
        double w = ulps(mfr_rng_log(x), log(x));
        if (w > worst) worst = w;
    }
    print_message("worst log error: %.3f ulp\n", worst);
    assert_true(worst <= 4.0);
    assert_true(mfr_rng_log(1.0) == 0.0);
    assert_true(fabs(mfr_rng_log(2.0) - log(2.0)) <= 1e-16);
    assert_true(fabs(mfr_rng_log(0x1p-1000) - log(0x1p-1000)) <= 1e-12);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Moments and tails of N_DRAWS draws within about 5 standard errors, and
 * the KS distance below its 0.1% critical value (1.95/√N). */
static void test_normal_distribution(void **state)
{
    (void)state;
    double *x = malloc(sizeof *x * N_DRAWS);
    assert_non_null(x);
    double s1 = 0, s2 = 0, s3 = 0, s4 = 0;
    long over3 = 0, over4 = 0;
    for (int64_t n = 0; n < N_DRAWS; n++) {
        double v = x[n] = mfr_rng_normal(2024, 7, (uint64_t)n);
        s1 += v, s2 += v * v, s3 += v * v * v, s4 += v * v * v * v;
        over3 += fabs(v) > 3.0, over4 += fabs(v) > 4.0;
    }
    double mean = s1 / N_DRAWS, var = s2 / N_DRAWS - mean * mean;
    double skew = s3 / N_DRAWS / pow(var, 1.5), kurt = s4 / N_DRAWS / (var * var);
    print_message("mean %.5f var %.5f skew %.5f kurtosis %.5f, |x|>3 %ld, |x|>4 %ld\n", mean,
                  var, skew, kurt, over3, over4);
    assert_true(fabs(mean) < 5e-3);
    assert_true(fabs(var - 1.0) < 7e-3);
    assert_true(fabs(skew) < 1.2e-2);
    assert_true(fabs(kurt - 3.0) < 2.5e-2);
    /* P(|x| > 3) = 0.0026998, P(|x| > 4) = 6.334e-5: Poisson counts ± 5σ. */
    assert_true(labs(over3 - 2700) < 5 * 52);
    assert_true(labs(over4 - 63) < 5 * 8 + 1);
    qsort(x, N_DRAWS, sizeof *x, cmp_double);
    double d = 0.0;
    for (int64_t n = 0; n < N_DRAWS; n++) {
        double cdf = 0.5 * erfc(-x[n] / sqrt(2.0));
        d = fmax(d, fmax(fabs(cdf - (double)n / N_DRAWS), fabs(cdf - (double)(n + 1) / N_DRAWS)));
    }
    print_message("KS distance %.6f (critical %.6f)\n", d, 1.95 / sqrt(N_DRAWS));
    assert_true(d < 1.95 / sqrt(N_DRAWS));
    free(x);
}

/* The two draws of a pair (2p, 2p + 1) are uncorrelated, and so are
 * neighbouring pairs. */
static void test_normal_pairs_uncorrelated(void **state)
{
    (void)state;
    const int n_pairs = 200000;
    double in_pair = 0.0, across = 0.0;
    for (int p = 0; p < n_pairs; p++) {
        double a = mfr_rng_normal(5, 1, 2 * (uint64_t)p), b = mfr_rng_normal(5, 1, 2 * (uint64_t)p + 1);
        double c = mfr_rng_normal(5, 1, 2 * (uint64_t)p + 2);
        in_pair += a * b, across += b * c;
    }
    assert_true(fabs(in_pair / n_pairs) < 5.0 / sqrt(n_pairs));
    assert_true(fabs(across / n_pairs) < 5.0 / sqrt(n_pairs));
}

/* Same key, same bits, in any order; another seed or stream, other draws. */
static void test_normal_pure_function(void **state)
{
    (void)state;
    enum { N = 4096 };
    static double fwd[N];
    for (int n = 0; n < N; n++) fwd[n] = mfr_rng_normal(11, 2, (uint64_t)n);
    int same_seed = 0, same_stream = 0;
    for (int n = N - 1; n >= 0; n--) {
        double other = mfr_rng_normal(12, 2, (uint64_t)n) + mfr_rng_normal(11, 3, (uint64_t)n);
        (void)other;
        double v = mfr_rng_normal(11, 2, (uint64_t)n);
        assert_memory_equal(&v, &fwd[n], sizeof v);
        same_seed += mfr_rng_normal(12, 2, (uint64_t)n) == v;
        same_stream += mfr_rng_normal(11, 3, (uint64_t)n) == v;
    }
    assert_int_equal(same_seed, 0);
    assert_int_equal(same_stream, 0);
}

/* mfr_rng_normal_pair gives exactly the two single draws of its pair. */
static void test_normal_pair_is_two_draws(void **state)
{
    (void)state;
    for (uint64_t p = 0; p < 20000; p++) {
        double z[2];
        mfr_rng_normal_pair(9, 2, p, z);
        double a = mfr_rng_normal(9, 2, 2 * p), b = mfr_rng_normal(9, 2, 2 * p + 1);
        assert_memory_equal(&z[0], &a, sizeof a);
        assert_memory_equal(&z[1], &b, sizeof b);
    }
}

/* The batched pairs equal the single pairs bit for bit, for every batch
 * length (whole blocks of 8 and tails), start and stream. */
static void test_normal_pairs_batch(void **state)
{
    (void)state;
    double z[2 * 40];
    for (uint64_t stream = 1; stream <= 3; stream++)
        for (uint64_t first = 0; first < 3000; first += 37)
            for (int64_t n = 0; n <= 40; n += (n < 17 ? 1 : 7)) {
                z[2 * n] = 42.0; /* not written past the batch */
                mfr_rng_normal_pairs(300, stream, first, n, z);
                for (int64_t q = 0; q < n; q++) {
                    double w[2];
                    mfr_rng_normal_pair(300, stream, first + (uint64_t)q, w);
                    assert_memory_equal(&z[2 * q], w, sizeof w);
                }
                assert_true(z[2 * n] == 42.0);
            }
}

/* Over many pairs (the vector logarithm's whole input range in practice:
 * s from about 2^-40 up to 1) the batches equal the single pairs bit for
 * bit. */
static void test_normal_pairs_batch_many(void **state)
{
    (void)state;
    enum { N = 1 << 16 };
    double *z = malloc(sizeof(double) * 2 * N);
    assert_non_null(z);
    for (uint64_t stream = 1; stream <= 4; stream++) {
        mfr_rng_normal_pairs(stream * 7919, stream, stream << 40, N, z);
        for (int64_t q = 0; q < N; q++) {
            double w[2];
            mfr_rng_normal_pair(stream * 7919, stream, (stream << 40) + (uint64_t)q, w);
            if (memcmp(&z[2 * q], w, sizeof w) != 0)
                fail_msg("stream %llu pair %lld: %a %a against %a %a", (unsigned long long)stream, (long long)q,
                         z[2 * q], z[2 * q + 1], w[0], w[1]);
        }
    }
    free(z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_accuracy),
        cmocka_unit_test(test_normal_distribution),
        cmocka_unit_test(test_normal_pairs_uncorrelated),
        cmocka_unit_test(test_normal_pair_is_two_draws),
        cmocka_unit_test(test_normal_pairs_batch),
        cmocka_unit_test(test_normal_pairs_batch_many),
        cmocka_unit_test(test_normal_pure_function),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
