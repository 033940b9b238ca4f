/*
 * kern_avx2.c — the AVX2 + FMA kernels (compiled with -mavx2 -mfma, called
 * only after mfr_cpu_has_avx2()). Same accumulation order as kern_ref.c
 * (kern_priv.h), so results are bit-identical to the reference.
 *
 * Where the time goes (ML-100K, k = 30, perf): the per-rating dependency
 * chains, not the FMAs. So ratings are handled four at a time: four
 * independent dot-product chains, one transposed horizontal sum giving the
 * four dots in one vector, the four squared errors summed in four double
 * lanes, and the four gradient contributions added to the running row as a
 * pairwise tree (one dependent add per group). Gradient rows of up to 32
 * floats (k <= 32) are kept in registers. The user pass is software-
 * pipelined: group j + 4's dots are issued before group j's gradient, so the
 * dot -> horizontal sum -> error chain of one group overlaps the gradient
 * work of the one before (ML-100K epoch, k = 30, 1 thread: 0.378 -> 0.328
 * ms). The rows a few groups ahead are prefetched: V (or U) lives in L2,
 * not L1 (3% on ML-100K, k = 30, 1 thread), and at 10M ratings and more in
 * L3 (PF_GROUPS_GV).
 */
#include <immintrin.h>
#include <string.h>

#include "kern_gram.h"
#include "kern_priv.h"

/* The dot's final combination for one accumulator: (l, l+4), (l, l+2), (0, 1). */
static inline float hsum(__m256 acc)
{
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_shuffle_ps(x, x, 1));
    return _mm_cvtss_f32(x);
}

/* hsum of four accumulators at once, same order per accumulator:
 * returns {hsum(a0), hsum(a1), hsum(a2), hsum(a3)}. */
static inline __m128 hsum4(__m256 a0, __m256 a1, __m256 a2, __m256 a3)
{
    __m128 x0 = _mm_add_ps(_mm256_castps256_ps128(a0), _mm256_extractf128_ps(a0, 1));
    __m128 x1 = _mm_add_ps(_mm256_castps256_ps128(a1), _mm256_extractf128_ps(a1, 1));
    __m128 x2 = _mm_add_ps(_mm256_castps256_ps128(a2), _mm256_extractf128_ps(a2, 1));
    __m128 x3 = _mm_add_ps(_mm256_castps256_ps128(a3), _mm256_extractf128_ps(a3, 1));
    /* u0 = {x0[0]+x0[2], x1[0]+x1[2], x0[1]+x0[3], x1[1]+x1[3]} */
    __m128 u0 = _mm_add_ps(_mm_unpacklo_ps(x0, x1), _mm_unpackhi_ps(x0, x1));
    __m128 u1 = _mm_add_ps(_mm_unpacklo_ps(x2, x3), _mm_unpackhi_ps(x2, x3));
    return _mm_add_ps(_mm_movelh_ps(u0, u1), _mm_movehl_ps(u1, u0));
}

static float avx2_dot(const float *a, const float *b, int32_t k_pad)
{
    __m256 acc = _mm256_setzero_ps();
    for (int32_t c = 0; c < k_pad; c += MFR_LANES)
        acc = _mm256_fmadd_ps(_mm256_load_ps(a + c), _mm256_load_ps(b + c), acc);
    return hsum(acc);
}

static inline void avx2_axpy(float *restrict y, float a, const float *restrict x, int32_t k_pad)
{
    __m256 va = _mm256_set1_ps(a);
    for (int32_t c = 0; c < k_pad; c += MFR_LANES)
        _mm256_store_ps(y + c,
                        _mm256_fmadd_ps(va, _mm256_load_ps(x + c), _mm256_load_ps(y + c)));
}

/* Lane q of v broadcast to all eight lanes. */
#define BCAST(v, q) _mm256_broadcastss_ps(_mm_permute_ps((v), (q) * 0x55))

/* The group step for chunk c: (g0 r0 + g1 r1) + (g2 r2 + g3 r3). */
static inline __m256 group_term(const __m256 g[4], const float *const r[4], int32_t c)
{
    __m256 p01 = _mm256_fmadd_ps(g[1], _mm256_load_ps(r[1] + c), _mm256_mul_ps(g[0], _mm256_load_ps(r[0] + c)));
    __m256 p23 = _mm256_fmadd_ps(g[3], _mm256_load_ps(r[3] + c), _mm256_mul_ps(g[2], _mm256_load_ps(r[2] + c)));
    return _mm256_add_ps(p01, p23);
}

static inline double finish_loss(__m256d lanes, double tail)
{
    __m128d lo = _mm256_castpd256_pd128(lanes), hi = _mm256_extractf128_pd(lanes, 1);
    double l0 = _mm_cvtsd_f64(lo), l1 = _mm_cvtsd_f64(_mm_unpackhi_pd(lo, lo));
    double l2 = _mm_cvtsd_f64(hi), l3 = _mm_cvtsd_f64(_mm_unpackhi_pd(hi, hi));
    return ((l0 + l1) + (l2 + l3)) + tail;
}

/* Rows of RC vectors (k_pad = 8 RC <= 32) in registers; RC is a
 * compile-time constant at every call, so the chunk loops unroll. */
#define MAX_RC 4

/* The errors of ratings 0..3 of `items`: dot - rating, in the documented
 * order, over NC = k_pad / 8 chunks (a constant in user_grad_rc). */
static inline __attribute__((always_inline)) __m128
group_err(const int NC, const float *restrict u_row, const float *restrict V, int32_t k_pad,
          const int32_t *restrict items, const float *restrict ratings)
{
    __m256 acc[4];
    for (int q = 0; q < 4; q++) acc[q] = _mm256_setzero_ps();
    for (int c = 0; c < NC; c++)
        for (int q = 0; q < 4; q++)
            acc[q] = _mm256_fmadd_ps(_mm256_load_ps(u_row + 8 * c),
                                     _mm256_load_ps(V + (size_t)items[q] * (size_t)k_pad + 8 * c), acc[q]);
    return _mm_sub_ps(hsum4(acc[0], acc[1], acc[2], acc[3]), _mm_loadu_ps(ratings));
}

static inline __attribute__((always_inline)) void
prefetch_group(const int RC, const float *V, int32_t k_pad, const int32_t *items)
{
    for (int q = 0; q < 4; q++) {
        const char *row = (const char *)(V + (size_t)items[q] * (size_t)k_pad);
        for (int line = 0; line < RC * 32; line += 64) _mm_prefetch(row + line, _MM_HINT_T0);
    }
}

/* The same rows of the item-gradient buffer, each read, added to and
 * stored back at random over n_items rows. (__builtin_prefetch's write
 * hint: without -mprfchw gcc emits a plain read prefetch, which is what
 * was measured.) */
static inline __attribute__((always_inline)) void
prefetch_group_w(const int RC, float *gV, int32_t k_pad, const int32_t *items)
{
    for (int q = 0; q < 4; q++) {
        char *row = (char *)(gV + (size_t)items[q] * (size_t)k_pad);
        for (int line = 0; line < RC * 32; line += 64) __builtin_prefetch(row + line, 1, 3);
    }
}

/* How many four-rating groups ahead the user pass fetches its rows. With a
 * shard buffer (gV) both V and the buffer outgrow L2 from 20,000 items on,
 * and the buffer rows (read, added to, stored back) had no fetch at all:
 * its store was a third of the pass's samples. Fetching both three groups
 * ahead made the 10M shard pass 1517 -> 1216 us per shard (benchmark
 * train/shard_grad/synth10m, medians) and the 100M epoch 418-471 -> 350-353
 * ms at 2 threads; two, four and six groups measured within the noise of
 * three (docs/PERFORMANCE.md).
 * Without a buffer (the item-owner pass, small data) the pass keeps its
 * two groups, and its own compiled copy: sharing one with the buffer's
 * branches cost ML-100K's epoch 2-4%. */
#define PF_GROUPS_V 2
#define PF_GROUPS_GV 3

/* avx2_axpy over RC vectors (a compile-time count: the loop unrolls). */
static inline __attribute__((always_inline)) void
axpy_rc(const int RC, float *restrict y, float a, const float *restrict x)
{
    __m256 va = _mm256_set1_ps(a);
    for (int c = 0; c < RC; c++)
        _mm256_store_ps(y + 8 * c, _mm256_fmadd_ps(va, _mm256_load_ps(x + 8 * c), _mm256_load_ps(y + 8 * c)));
}

static inline __attribute__((always_inline)) double
user_grad_rc(const int RC, const int WITH_GV, const float *restrict u_row, const float *restrict V, int32_t k_pad,
             const int32_t *restrict items, const float *restrict ratings, int64_t n,
             float scale, float *restrict gu, float *restrict gV, float *restrict resid)
{
    /* The dots of group j + 4 are issued before group j's gradient (file
     * comment). The gradient row stays in registers; the user row is a
     * memory operand of the dot FMAs (from L1): holding it in registers
     * too made gcc spill with 16 vector registers (0.346 vs 0.334 ms). */
    const int PF = WITH_GV ? PF_GROUPS_GV : PF_GROUPS_V;
    __m256 g[MAX_RC];
    for (int c = 0; c < RC; c++) g[c] = _mm256_load_ps(gu + 8 * c);
    const __m128 vscale = _mm_set1_ps(scale);
    __m256d lanes = _mm256_setzero_pd();
    double tail = 0.0;
    int64_t j = 0;
    __m128 e_next = _mm_setzero_ps();
    if (n >= 4) {
        for (int64_t p = 4; p < 4 * PF && p + 4 <= n; p += 4) {
            prefetch_group(RC, V, k_pad, items + p);
            if (WITH_GV) prefetch_group_w(RC, gV, k_pad, items + p);
        }
        e_next = group_err(RC, u_row, V, k_pad, items, ratings);
    }
    for (; j + 4 <= n; j += 4) {
        const __m128 e = e_next;
        if (j + 8 <= n) {
            if (j + 4 * PF + 4 <= n) {
                prefetch_group(RC, V, k_pad, items + j + 4 * PF);
                if (WITH_GV) prefetch_group_w(RC, gV, k_pad, items + j + 4 * PF);
            }
            e_next = group_err(RC, u_row, V, k_pad, items + j + 4, ratings + j + 4);
        }
        const float *r[4];
        for (int q = 0; q < 4; q++) r[q] = V + (size_t)items[j + q] * (size_t)k_pad;
        __m256d ed = _mm256_cvtps_pd(e);
        lanes = _mm256_add_pd(lanes, _mm256_mul_pd(ed, ed));
        __m128 gs = _mm_mul_ps(vscale, e);
        __m256 gb[4] = {BCAST(gs, 0), BCAST(gs, 1), BCAST(gs, 2), BCAST(gs, 3)};
        for (int c = 0; c < RC; c++) g[c] = _mm256_add_ps(g[c], group_term(gb, r, 8 * c));
        if (WITH_GV) {
            float gq[4];
            _mm_storeu_ps(gq, gs);
            for (int q = 0; q < 4; q++) axpy_rc(RC, gV + (size_t)items[j + q] * (size_t)k_pad, gq[q], u_row);
        }
        if (resid) _mm_storeu_ps(resid + j, gs);
    }
    for (; j < n; j++) {
        const float *v_row = V + (size_t)items[j] * (size_t)k_pad;
        __m256 acc = _mm256_setzero_ps();
        for (int c = 0; c < RC; c++)
            acc = _mm256_fmadd_ps(_mm256_load_ps(u_row + 8 * c), _mm256_load_ps(v_row + 8 * c), acc);
        float e = hsum(acc) - ratings[j];
        tail += (double)e * (double)e;
        float gs = scale * e;
        __m256 vg = _mm256_set1_ps(gs);
        for (int c = 0; c < RC; c++) g[c] = _mm256_fmadd_ps(vg, _mm256_load_ps(v_row + 8 * c), g[c]);
        if (WITH_GV) axpy_rc(RC, gV + (size_t)items[j] * (size_t)k_pad, gs, u_row);
        if (resid) resid[j] = gs;
    }
    for (int c = 0; c < RC; c++) _mm256_store_ps(gu + 8 * c, g[c]);
    return finish_loss(lanes, tail);
}

/* prefetch_group and prefetch_group_w (when gV) for rows of any k_pad. */
static inline void prefetch_rows_any(const float *V, float *gV, int32_t k_pad, const int32_t *items)
{
    const size_t bytes = sizeof(float) * (size_t)k_pad;
    for (int q = 0; q < 4; q++) {
        const size_t off = (size_t)items[q] * (size_t)k_pad;
        for (size_t line = 0; line < bytes; line += 64) {
            _mm_prefetch((const char *)(V + off) + line, _MM_HINT_T0);
            if (gV) __builtin_prefetch((char *)(gV + off) + line, 1, 3);
        }
    }
}

/* Any k_pad: the same order with rows in memory, pipelined like
 * user_grad_rc. */
static double user_grad_any(const float *restrict u_row, const float *restrict V, int32_t k_pad,
                            const int32_t *restrict items, const float *restrict ratings,
                            int64_t n, float scale, float *restrict gu, float *restrict gV,
                            float *restrict resid, int far)
{
    const __m128 vscale = _mm_set1_ps(scale);
    __m256d lanes = _mm256_setzero_pd();
    double tail = 0.0;
    int64_t j = 0;
    const int nc = k_pad / MFR_LANES;
    /* no fetches for rows near the core (mfr_rows_far): they cost 7-11% */
    const int64_t ahead = 4 * (gV ? PF_GROUPS_GV : PF_GROUPS_V);
    for (int64_t p = 4; far && p < ahead && p + 4 <= n; p += 4) prefetch_rows_any(V, gV, k_pad, items + p);
    __m128 e_next = n >= 4 ? group_err(nc, u_row, V, k_pad, items, ratings) : _mm_setzero_ps();
    for (; j + 4 <= n; j += 4) {
        const __m128 e = e_next;
        if (far && j + ahead + 4 <= n) prefetch_rows_any(V, gV, k_pad, items + j + ahead);
        if (j + 8 <= n) e_next = group_err(nc, u_row, V, k_pad, items + j + 4, ratings + j + 4);
        const float *r[4];
        for (int q = 0; q < 4; q++) r[q] = V + (size_t)items[j + q] * (size_t)k_pad;
        __m256d ed = _mm256_cvtps_pd(e);
        lanes = _mm256_add_pd(lanes, _mm256_mul_pd(ed, ed));
        __m128 gs = _mm_mul_ps(vscale, e);
        __m256 gb[4] = {BCAST(gs, 0), BCAST(gs, 1), BCAST(gs, 2), BCAST(gs, 3)};
        for (int32_t c = 0; c < k_pad; c += MFR_LANES)
            _mm256_store_ps(gu + c, _mm256_add_ps(_mm256_load_ps(gu + c), group_term(gb, r, c)));
        float gq[4];
        _mm_storeu_ps(gq, gs);
        for (int q = 0; q < 4; q++) {
            if (gV) avx2_axpy(gV + (size_t)items[j + q] * (size_t)k_pad, gq[q], u_row, k_pad);
            if (resid) resid[j + q] = gq[q];
        }
    }
    for (; j < n; j++) {
        const float *v_row = V + (size_t)items[j] * (size_t)k_pad;
        float e = avx2_dot(u_row, v_row, k_pad) - ratings[j];
        tail += (double)e * (double)e;
        float gs = scale * e;
        avx2_axpy(gu, gs, v_row, k_pad);
        if (gV) avx2_axpy(gV + (size_t)items[j] * (size_t)k_pad, gs, u_row, k_pad);
        if (resid) resid[j] = gs;
    }
    return finish_loss(lanes, tail);
}

static double avx2_user_grad(const float *restrict u_row, const float *restrict V,
                             int32_t k_pad, const int32_t *restrict items,
                             const float *restrict ratings, int64_t n, float scale,
                             float *restrict gu, float *restrict gV, float *restrict resid, int far)
{
    /* Each row count twice: with a shard buffer and without (PF_GROUPS_GV).
     * Rows of up to 32 floats fetch ahead whether far or not: on ML-100K
     * (k 16-32) that measured no slower, with a buffer 10% faster. */
#define USER_GRAD_RC(RC)                                                                   \
    (gV ? user_grad_rc(RC, 1, u_row, V, k_pad, items, ratings, n, scale, gu, gV, resid) \
        : user_grad_rc(RC, 0, u_row, V, k_pad, items, ratings, n, scale, gu, NULL, resid))
    switch (k_pad / MFR_LANES) {
    case 1: return USER_GRAD_RC(1);
    case 2: return USER_GRAD_RC(2);
    case 3: return USER_GRAD_RC(3);
    case 4: return USER_GRAD_RC(4);
    default: return user_grad_any(u_row, V, k_pad, items, ratings, n, scale, gu, gV, resid, far);
    }
#undef USER_GRAD_RC
}

static inline __attribute__((always_inline)) void
item_grad_rc(const int RC, float *restrict gv, const float *restrict U, int32_t k_pad,
             const int32_t *restrict users, const int64_t *restrict pos,
             const float *restrict resid, int64_t n)
{
    __m256 acc[MAX_RC];
    for (int c = 0; c < RC; c++) acc[c] = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
        const float *r[4];
        __m256 gb[4];
        for (int q = 0; q < 4; q++) {
            r[q] = U + (size_t)users[j + q] * (size_t)k_pad;
            gb[q] = _mm256_set1_ps(resid[pos[j + q]]);
        }
        if (j + 8 <= n) prefetch_group(RC, U, k_pad, users + j + 4);
        for (int c = 0; c < RC; c++) acc[c] = _mm256_add_ps(acc[c], group_term(gb, r, 8 * c));
    }
    for (; j < n; j++) {
        __m256 rb = _mm256_set1_ps(resid[pos[j]]);
        const float *u_row = U + (size_t)users[j] * (size_t)k_pad;
        for (int c = 0; c < RC; c++) acc[c] = _mm256_fmadd_ps(rb, _mm256_load_ps(u_row + 8 * c), acc[c]);
    }
    for (int c = 0; c < RC; c++) _mm256_store_ps(gv + 8 * c, acc[c]);
}

static void item_grad_any(float *restrict gv, const float *restrict U, int32_t k_pad,
                          const int32_t *restrict users, const int64_t *restrict pos,
                          const float *restrict resid, int64_t n)
{
    memset(gv, 0, sizeof(float) * (size_t)k_pad);
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
        const float *r[4];
        __m256 gb[4];
        for (int q = 0; q < 4; q++) {
            r[q] = U + (size_t)users[j + q] * (size_t)k_pad;
            gb[q] = _mm256_set1_ps(resid[pos[j + q]]);
        }
        for (int32_t c = 0; c < k_pad; c += MFR_LANES)
            _mm256_store_ps(gv + c, _mm256_add_ps(_mm256_load_ps(gv + c), group_term(gb, r, c)));
    }
    for (; j < n; j++) avx2_axpy(gv, resid[pos[j]], U + (size_t)users[j] * (size_t)k_pad, k_pad);
}

static void avx2_item_grad(float *restrict gv, const float *restrict U, int32_t k_pad,
                           const int32_t *restrict users, const int64_t *restrict pos,
                           const float *restrict resid, int64_t n)
{
    switch (k_pad / MFR_LANES) {
    case 1: item_grad_rc(1, gv, U, k_pad, users, pos, resid, n); return;
    case 2: item_grad_rc(2, gv, U, k_pad, users, pos, resid, n); return;
    case 3: item_grad_rc(3, gv, U, k_pad, users, pos, resid, n); return;
    case 4: item_grad_rc(4, gv, U, k_pad, users, pos, resid, n); return;
    default: item_grad_any(gv, U, k_pad, users, pos, resid, n); return;
    }
}

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

const struct mfr_kernel_set mfr_kernels_avx2 = {
    .name = "avx2",
    .dot = avx2_dot,
    .user_grad = avx2_user_grad,
    .item_grad = avx2_item_grad,
    .sum_buffers = avx2_sum_buffers,
    .adam = avx2_adam,
    .sgd = avx2_sgd,
    .gram4 = avx2_gram4,
    .chol_solve = avx2_chol_solve,
    .dot8 = avx2_dot8,
    .cg_resid = avx2_cg_resid,
    .cg_apply = avx2_cg_apply,
    .eval_errors = avx2_eval_errors,
};
