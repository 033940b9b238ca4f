/*
 * kern_avx2.c — the AVX2 + FMA kernels (compiled with -mavx2 -mfma, called
 * only after mfr_cpu_has_avx2()). Same accumulation order as kern_ref.c
 * (kern_priv.h), so results are bit-identical to the reference. The user
 * and item passes are in kern_pass_body.h, which kern_avx512.c compiles
 * again with AVX-512F for the "avx512" set defined below.
 */
#include <immintrin.h>
#include <string.h>

#include "kern_gram.h"
#include "kern_pass_body.h"
#include "kern_priv.h"

static void avx2_sum_buffers(float *restrict out, const float *restrict base, int64_t stride,
                             int32_t n_bufs, int64_t n)
{
    /* Buffer by buffer into out (the caller's chunk stays in L1): one
     * sequential stream at a time instead of n_bufs interleaved ones. Each
     * element still sees buf0 + buf1 + ... in buffer order. */
    for (int64_t x = 0; x < n; x += MFR_LANES) _mm256_store_ps(out + x, _mm256_load_ps(base + x));
    for (int32_t b = 1; b < n_bufs; b++) {
        const float *buf = base + (size_t)b * (size_t)stride;
        for (int64_t x = 0; x < n; x += MFR_LANES)
            _mm256_store_ps(out + x, _mm256_add_ps(_mm256_load_ps(out + x), _mm256_load_ps(buf + x)));
    }
}

/* NaN lanes of `acc` where some x or-ed into it (as x - x: 0 for a finite
 * x, NaN for an inf or NaN) was not finite. */
static inline __m256 or_nonfinite(__m256 acc, __m256 x)
{
    return _mm256_or_ps(acc, _mm256_sub_ps(x, x));
}

static inline unsigned any_nan(__m256 acc, unsigned bit)
{
    return _mm256_movemask_ps(_mm256_cmp_ps(acc, acc, _CMP_UNORD_Q)) ? bit : 0u;
}

static unsigned avx2_adam(float *restrict p, float *restrict m, float *restrict v,
                          const float *restrict g, int64_t n, const struct mfr_adam_coef *c)
{
    __m256 bad_p = _mm256_setzero_ps(), bad_m = bad_p, bad_v = bad_p;
    const __m256 b1 = _mm256_set1_ps(c->beta1), w1 = _mm256_set1_ps(c->w1);
    const __m256 b2 = _mm256_set1_ps(c->beta2), w2 = _mm256_set1_ps(c->w2);
    const __m256 step = _mm256_set1_ps(c->step), inv_bc2 = _mm256_set1_ps(c->inv_bc2);
    const __m256 eps = _mm256_set1_ps(c->eps);
    for (int64_t x = 0; x < n; x += MFR_LANES) {
        __m256 gx = _mm256_load_ps(g + x);
        __m256 mx = _mm256_add_ps(_mm256_mul_ps(b1, _mm256_load_ps(m + x)), _mm256_mul_ps(w1, gx));
        __m256 vx = _mm256_add_ps(_mm256_mul_ps(b2, _mm256_load_ps(v + x)),
                                  _mm256_mul_ps(w2, _mm256_mul_ps(gx, gx)));
        __m256 denom = _mm256_add_ps(_mm256_mul_ps(_mm256_sqrt_ps(vx), inv_bc2), eps);
        _mm256_store_ps(m + x, mx);
        _mm256_store_ps(v + x, vx);
        __m256 px = _mm256_sub_ps(_mm256_load_ps(p + x), _mm256_mul_ps(step, _mm256_div_ps(mx, denom)));
        _mm256_store_ps(p + x, px);
        bad_p = or_nonfinite(bad_p, px), bad_m = or_nonfinite(bad_m, mx), bad_v = or_nonfinite(bad_v, vx);
    }
    return any_nan(bad_p, MFR_NONFINITE_BIT(0)) | any_nan(bad_m, MFR_NONFINITE_BIT(1)) |
           any_nan(bad_v, MFR_NONFINITE_BIT(2));
}

static unsigned avx2_sgd(float *restrict p, const float *restrict g, int64_t n, float lr)
{
    const __m256 vlr = _mm256_set1_ps(lr);
    __m256 bad = _mm256_setzero_ps();
    for (int64_t x = 0; x < n; x += MFR_LANES) {
        __m256 px = _mm256_sub_ps(_mm256_load_ps(p + x), _mm256_mul_ps(vlr, _mm256_load_ps(g + x)));
        _mm256_store_ps(p + x, px);
        bad = or_nonfinite(bad, px);
    }
    return any_nan(bad, MFR_NONFINITE_BIT(0));
}

static void avx2_gram4(float *restrict A, float *restrict rhs, const float *restrict x,
                      const float *restrict t, int32_t k1, int32_t kp)
{
    mfr_gram4_body(A, rhs, x, t, k1, kp);
}

static int avx2_chol_solve(double *restrict M, double *restrict y, int32_t n, int32_t ld)
{
    return mfr_chol_body(M, y, n, ld);
}

static float avx2_dot8(const float *restrict a, const float *restrict b, int32_t kp)
{
    return mfr_dot8_body(a, b, kp);
}

static double avx2_cg_resid(const float *restrict w, const float *restrict base, int32_t kp,
                           const int32_t *restrict idx, const float *restrict rating,
                           const int64_t *restrict pos, int64_t n, int32_t bias_lane,
                           float *restrict out)
{
    return mfr_cg_resid_body(w, base, kp, idx, rating, pos, n, bias_lane, out);
}

static void avx2_cg_apply(const float *restrict p, const float *restrict base, int32_t kp,
                         const int32_t *restrict idx, int64_t n, float *restrict out)
{
    mfr_cg_apply_body(p, base, kp, idx, n, out);
}

/* hsum of eight accumulators at once, the same additions per accumulator
 * (lane l with l + 4, then l with l + 2, then 0 with 1): lane q of the
 * result is hsum(a_q). 15 shuffles for eight sums, where eight hsum calls
 * take 24 and transposing the products took 96. */
static inline __m256 hsum8(__m256 a0, __m256 a1, __m256 a2, __m256 a3, __m256 a4, __m256 a5, __m256 a6,
                           __m256 a7)
{
#define LO_HI(x, y) _mm256_add_ps(_mm256_permute2f128_ps(x, y, 0x20), _mm256_permute2f128_ps(x, y, 0x31))
    /* [x lanes 0..3 | y lanes 0..3], each lane l + l + 4 */
    const __m256 b01 = LO_HI(a0, a1), b23 = LO_HI(a2, a3), b45 = LO_HI(a4, a5), b67 = LO_HI(a6, a7);
#undef LO_HI
    /* per half: [q lanes 0, 1 | q + 2 lanes 0, 1], each lane l + l + 2 */
    const __m256 c0 = _mm256_add_ps(_mm256_shuffle_ps(b01, b23, 0x44), _mm256_shuffle_ps(b01, b23, 0xee));
    const __m256 c1 = _mm256_add_ps(_mm256_shuffle_ps(b45, b67, 0x44), _mm256_shuffle_ps(b45, b67, 0xee));
    /* lane 0 + lane 1: the sums of a0, a2, a4, a6 | a1, a3, a5, a7 */
    const __m256 s = _mm256_add_ps(_mm256_shuffle_ps(c0, c1, 0x88), _mm256_shuffle_ps(c0, c1, 0xdd));
    return _mm256_permutevar8x32_ps(s, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* Rows of RC chunks (a compile-time constant), one rating at a time: the
 * chain of avx2_dot unrolled, hsum's order. With near rows at k_pad 32
 * this runs about 30% faster than eight ratings side by side (which spill
 * their sixteen row pointers; the core overlaps successive ratings by
 * itself); at k_pad 16 about 8%; at 8 and above 32 it is slower. */
static inline __attribute__((always_inline)) void eval_rows_rc(const float *restrict U, const float *restrict V,
                                                               int RC, const int32_t *restrict user,
                                                               const int32_t *restrict item,
                                                               const float *restrict rating, int64_t n,
                                                               double *restrict e)
{
    const size_t kp = (size_t)RC * MFR_LANES;
    for (int64_t x = 0; x < n; x++) {
        const float *pu = U + (size_t)user[x] * kp, *pi = V + (size_t)item[x] * kp;
        __m256 acc = _mm256_setzero_ps();
        for (int c = 0; c < RC; c++)
            acc = _mm256_fmadd_ps(_mm256_load_ps(pu + c * MFR_LANES), _mm256_load_ps(pi + c * MFR_LANES), acc);
        e[x] = (double)hsum(acc) - (double)rating[x];
    }
}

/* Eight ratings at a time: each one's dot as avx2_dot computes it (eight
 * FMA partials, k_pad / 8 of them in a chain), the eight chains side by
 * side and reduced together by hsum8. Near rows of 16 or 32 floats go
 * through eval_rows_rc instead. */
static void avx2_eval_errors(const float *restrict U, const float *restrict V, int32_t kp,
                             const int32_t *restrict user, const int32_t *restrict item,
                             const float *restrict rating, int64_t n, int far, double *restrict e)
{
    /* With far rows, those of the ratings EVAL_AHEAD further on are fetched
     * while these are summed (at 10M ratings U's rows come from DRAM in
     * random order); near ones it would slow by a quarter. */
    enum { EVAL_AHEAD = 32 };
    if (!far && (kp == 4 * MFR_LANES || kp == 2 * MFR_LANES)) {
        if (kp == 4 * MFR_LANES) eval_rows_rc(U, V, 4, user, item, rating, n, e);
        else eval_rows_rc(U, V, 2, user, item, rating, n, e);
        return;
    }
    const size_t row_bytes = sizeof(float) * (size_t)kp;
    int64_t x = 0;
    for (; x + 8 <= n; x += 8) {
        if (far && x + EVAL_AHEAD + 8 <= n)
            for (int q = 0; q < 8; q++) {
                const char *fu = (const char *)(U + (size_t)user[x + EVAL_AHEAD + q] * (size_t)kp);
                const char *fi = (const char *)(V + (size_t)item[x + EVAL_AHEAD + q] * (size_t)kp);
                for (size_t o = 0; o < row_bytes; o += 64) {
                    _mm_prefetch(fu + o, _MM_HINT_T0);
                    _mm_prefetch(fi + o, _MM_HINT_T0);
                }
            }
#define ROWS(q)                                                  \
    const float *pu##q = U + (size_t)user[x + q] * (size_t)kp;  \
    const float *pi##q = V + (size_t)item[x + q] * (size_t)kp;  \
    __m256 a##q = _mm256_setzero_ps()
        ROWS(0); ROWS(1); ROWS(2); ROWS(3); ROWS(4); ROWS(5); ROWS(6); ROWS(7);
#undef ROWS
        for (int32_t c = 0; c < kp; c += MFR_LANES) {
#define STEP(q) a##q = _mm256_fmadd_ps(_mm256_load_ps(pu##q + c), _mm256_load_ps(pi##q + c), a##q)
            STEP(0); STEP(1); STEP(2); STEP(3); STEP(4); STEP(5); STEP(6); STEP(7);
#undef STEP
        }
        const __m256 s = hsum8(a0, a1, a2, a3, a4, a5, a6, a7), r = _mm256_loadu_ps(rating + x);
        _mm256_storeu_pd(e + x, _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(s)),
                                              _mm256_cvtps_pd(_mm256_castps256_ps128(r))));
        _mm256_storeu_pd(e + x + 4, _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(s, 1)),
                                                  _mm256_cvtps_pd(_mm256_extractf128_ps(r, 1))));
    }
    for (; x < n; x++)
        e[x] = (double)avx2_dot(U + (size_t)user[x] * (size_t)kp, V + (size_t)item[x] * (size_t)kp, kp) -
               (double)rating[x];
}

/* Eight contiguous rows at a time, each one's dot as avx2_dot computes it,
 * the eight chains side by side and reduced together by hsum8: q's chunk
 * is loaded once for the eight rows, and no row pointers are kept (what
 * made eight ratings side by side spill in eval_errors). */
static void avx2_dot_rows(const float *restrict q, const float *restrict rows, int32_t kp, int64_t n,
                          float *restrict out)
{
    const size_t s = (size_t)kp;
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const float *r = rows + (size_t)j * s;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        for (size_t c = 0; c < s; c += MFR_LANES) {
            const __m256 x = _mm256_load_ps(q + c);
#define STEP(k) a##k = _mm256_fmadd_ps(x, _mm256_load_ps(r + k * s + c), a##k)
            STEP(0); STEP(1); STEP(2); STEP(3); STEP(4); STEP(5); STEP(6); STEP(7);
#undef STEP
        }
        _mm256_storeu_ps(out + j, hsum8(a0, a1, a2, a3, a4, a5, a6, a7));
    }
    for (; j < n; j++) out[j] = avx2_dot(q, rows + (size_t)j * s, kp);
}

/* What the avx2 and avx512 sets share: all but the two passes. */
#define AVX2_SHARED_KERNELS                                                                             \
    .dot = avx2_dot, .sum_buffers = avx2_sum_buffers, .adam = avx2_adam, .sgd = avx2_sgd,              \
    .gram4 = avx2_gram4, .chol_solve = avx2_chol_solve, .dot8 = avx2_dot8, .cg_resid = avx2_cg_resid, \
    .cg_apply = avx2_cg_apply, .eval_errors = avx2_eval_errors, .dot_rows = avx2_dot_rows

const struct mfr_kernel_set mfr_kernels_avx2 = {
    .name = "avx2",
    .user_grad = pass_user_grad,
    .item_grad = pass_item_grad,
    AVX2_SHARED_KERNELS,
};

/* The same set with kern_avx512.c's passes (CPUs with AVX-512F). */
const struct mfr_kernel_set mfr_kernels_avx512 = {
    .name = "avx512",
    .user_grad = mfr_avx512_user_grad,
    .item_grad = mfr_avx512_item_grad,
    AVX2_SHARED_KERNELS,
};
