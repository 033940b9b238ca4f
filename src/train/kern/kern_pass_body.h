/*
 * kern_pass_body.h — the user and item passes of the AVX2 kernels, their
 * helpers included, compiled twice: in kern_avx2.c (-mavx2 -mfma) and in
 * kern_avx512.c (also -mavx512f). With AVX-512F, gradient rows of an even
 * number of 8-float chunks (k_pad 16 and 32) are held and updated in
 * 512-bit halves: the same element-wise operations, so the same bits
 * (kern_priv.h's order), in half the instructions. The dots keep their
 * 256-bit chains, whose order the reference fixes. Measured at k 32: the
 * epoch 13% faster on 100M ratings of 2,000 movies, whose rows stay in
 * L2 (docs/PERFORMANCE.md).
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
#ifndef MFR_KERN_PASS_BODY_H
#define MFR_KERN_PASS_BODY_H

#include <immintrin.h>
#include <string.h>

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

static inline float avx2_dot(const float *a, const float *b, int32_t k_pad)
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

#ifdef __AVX512F__
/* Rows of an even number of chunks in 512-bit halves: the same operations
 * element by element as the 256-bit code, so the same bits, in half the
 * instructions (kern_avx512.c). ZMM_ROWS(RC): whether rows of RC chunks take
 * this form. */
#define ZMM_ROWS(RC) ((RC) % 2 == 0)
#define ZBCAST(v, q) _mm512_broadcastss_ps(_mm_permute_ps((v), (q) * 0x55))

/* group_term over floats c..c+15. */
static inline __m512 group_term_z(const __m512 g[4], const float *const r[4], int32_t c)
{
    __m512 p01 = _mm512_fmadd_ps(g[1], _mm512_load_ps(r[1] + c), _mm512_mul_ps(g[0], _mm512_load_ps(r[0] + c)));
    __m512 p23 = _mm512_fmadd_ps(g[3], _mm512_load_ps(r[3] + c), _mm512_mul_ps(g[2], _mm512_load_ps(r[2] + c)));
    return _mm512_add_ps(p01, p23);
}
#else
#define ZMM_ROWS(RC) 0
#endif

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
#ifdef __AVX512F__
    if (ZMM_ROWS(RC)) {
        const __m512 za = _mm512_set1_ps(a);
        for (int c = 0; c < RC / 2; c++)
            _mm512_store_ps(y + 16 * c, _mm512_fmadd_ps(za, _mm512_load_ps(x + 16 * c), _mm512_load_ps(y + 16 * c)));
        return;
    }
#endif
    __m256 va = _mm256_set1_ps(a);
    for (int c = 0; c < RC; c++)
        _mm256_store_ps(y + 8 * c, _mm256_fmadd_ps(va, _mm256_load_ps(x + 8 * c), _mm256_load_ps(y + 8 * c)));
}

/* A gradient row of RC chunks (a compile-time count) held in registers:
 * 256-bit chunks, or 512-bit halves where ZMM_ROWS(RC). */
struct grad_row {
    __m256 y[MAX_RC];
#ifdef __AVX512F__
    __m512 z[MAX_RC / 2];
#endif
};

static inline __attribute__((always_inline)) void grad_row_load(const int RC, struct grad_row *g, const float *src)
{
#ifdef __AVX512F__
    if (ZMM_ROWS(RC)) {
        for (int c = 0; c < RC / 2; c++) g->z[c] = _mm512_load_ps(src + 16 * c);
        return;
    }
#endif
    for (int c = 0; c < RC; c++) g->y[c] = _mm256_load_ps(src + 8 * c);
}

static inline __attribute__((always_inline)) void grad_row_zero(const int RC, struct grad_row *g)
{
#ifdef __AVX512F__
    if (ZMM_ROWS(RC)) {
        for (int c = 0; c < RC / 2; c++) g->z[c] = _mm512_setzero_ps();
        return;
    }
#endif
    for (int c = 0; c < RC; c++) g->y[c] = _mm256_setzero_ps();
}

static inline __attribute__((always_inline)) void grad_row_store(const int RC, const struct grad_row *g, float *dst)
{
#ifdef __AVX512F__
    if (ZMM_ROWS(RC)) {
        for (int c = 0; c < RC / 2; c++) _mm512_store_ps(dst + 16 * c, g->z[c]);
        return;
    }
#endif
    for (int c = 0; c < RC; c++) _mm256_store_ps(dst + 8 * c, g->y[c]);
}

/* A group: row += (gs0 r0 + gs1 r1) + (gs2 r2 + gs3 r3). */
static inline __attribute__((always_inline)) void grad_row_group(const int RC, struct grad_row *g, __m128 gs,
                                                                 const float *const r[4])
{
#ifdef __AVX512F__
    if (ZMM_ROWS(RC)) {
        const __m512 zb[4] = {ZBCAST(gs, 0), ZBCAST(gs, 1), ZBCAST(gs, 2), ZBCAST(gs, 3)};
        for (int c = 0; c < RC / 2; c++) g->z[c] = _mm512_add_ps(g->z[c], group_term_z(zb, r, 16 * c));
        return;
    }
#endif
    const __m256 gb[4] = {BCAST(gs, 0), BCAST(gs, 1), BCAST(gs, 2), BCAST(gs, 3)};
    for (int c = 0; c < RC; c++) g->y[c] = _mm256_add_ps(g->y[c], group_term(gb, r, 8 * c));
}

/* A tail rating: row = fma(a, r, row). */
static inline __attribute__((always_inline)) void grad_row_fma(const int RC, struct grad_row *g, float a,
                                                               const float *r)
{
#ifdef __AVX512F__
    if (ZMM_ROWS(RC)) {
        const __m512 za = _mm512_set1_ps(a);
        for (int c = 0; c < RC / 2; c++) g->z[c] = _mm512_fmadd_ps(za, _mm512_load_ps(r + 16 * c), g->z[c]);
        return;
    }
#endif
    const __m256 va = _mm256_set1_ps(a);
    for (int c = 0; c < RC; c++) g->y[c] = _mm256_fmadd_ps(va, _mm256_load_ps(r + 8 * c), g->y[c]);
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
    struct grad_row g;
    grad_row_load(RC, &g, gu);
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
        grad_row_group(RC, &g, gs, r);
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
        grad_row_fma(RC, &g, gs, v_row);
        if (WITH_GV) axpy_rc(RC, gV + (size_t)items[j] * (size_t)k_pad, gs, u_row);
        if (resid) resid[j] = gs;
    }
    grad_row_store(RC, &g, gu);
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

static double pass_user_grad(const float *restrict u_row, const float *restrict V,
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
    struct grad_row acc;
    grad_row_zero(RC, &acc);
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
        const float *r[4];
        for (int q = 0; q < 4; q++) r[q] = U + (size_t)users[j + q] * (size_t)k_pad;
        const __m128 gs = _mm_setr_ps(resid[pos[j]], resid[pos[j + 1]], resid[pos[j + 2]], resid[pos[j + 3]]);
        if (j + 8 <= n) prefetch_group(RC, U, k_pad, users + j + 4);
        grad_row_group(RC, &acc, gs, r);
    }
    for (; j < n; j++) grad_row_fma(RC, &acc, resid[pos[j]], U + (size_t)users[j] * (size_t)k_pad);
    grad_row_store(RC, &acc, gv);
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

static void pass_item_grad(float *restrict gv, const float *restrict U, int32_t k_pad,
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

#endif
