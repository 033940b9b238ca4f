/*
 * kern_ref.c — the portable scalar reference kernels. They follow the
 * accumulation order documented in kern_priv.h lane for lane, so the
 * vectorized sets can be checked against them bit for bit. Kept forever,
 * also as the fallback on CPUs without AVX2.
 */
#include <math.h>
#include <string.h>

#include "kern_gram.h"
#include "kern_priv.h"

static float ref_dot(const float *a, const float *b, int32_t k_pad)
{
    float acc[MFR_LANES] = {0};
    for (int32_t c = 0; c < k_pad; c += MFR_LANES)
        for (int l = 0; l < MFR_LANES; l++) acc[l] = fmaf(a[c + l], b[c + l], acc[l]);
    float s4[4], s2[2];
    for (int l = 0; l < 4; l++) s4[l] = acc[l] + acc[l + 4];
    for (int l = 0; l < 2; l++) s2[l] = s4[l] + s4[l + 2];
    return s2[0] + s2[1];
}

static inline void ref_axpy(float *restrict y, float a, const float *restrict x, int32_t k_pad)
{
    for (int32_t c = 0; c < k_pad; c++) y[c] = fmaf(a, x[c], y[c]);
}

/* row += (g0 r0 + g1 r1) + (g2 r2 + g3 r3), the group step of kern_priv.h. */
static inline void ref_add_group(float *restrict row, const float g[4], const float *const r[4],
                                 int32_t k_pad)
{
    for (int32_t c = 0; c < k_pad; c++) {
        float p01 = fmaf(g[1], r[1][c], g[0] * r[0][c]);
        float p23 = fmaf(g[3], r[3][c], g[2] * r[2][c]);
        row[c] = row[c] + (p01 + p23);
    }
}

static double ref_user_grad(const float *restrict u_row, const float *restrict V, int32_t k_pad,
                            const int32_t *restrict items, const float *restrict ratings,
                            int64_t n, float scale, float *restrict gu, float *restrict gV,
                            float *restrict resid, int far)
{
    (void)far; /* no prefetch here: the reference is the definition */
    double lane[4] = {0, 0, 0, 0}, tail = 0.0;
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
        const float *rows[4];
        float g[4];
        for (int q = 0; q < 4; q++) {
            rows[q] = V + (size_t)items[j + q] * (size_t)k_pad;
            float e = ref_dot(u_row, rows[q], k_pad) - ratings[j + q];
            lane[q] += (double)e * (double)e;
            g[q] = scale * e;
        }
        ref_add_group(gu, g, rows, k_pad);
        for (int q = 0; q < 4; q++) {
            if (gV) ref_axpy(gV + (size_t)items[j + q] * (size_t)k_pad, g[q], u_row, k_pad);
            if (resid) resid[j + q] = g[q];
        }
    }
    for (; j < n; j++) {
        const float *v_row = V + (size_t)items[j] * (size_t)k_pad;
        float e = ref_dot(u_row, v_row, k_pad) - ratings[j];
        tail += (double)e * (double)e;
        float g = scale * e;
        ref_axpy(gu, g, v_row, k_pad);
        if (gV) ref_axpy(gV + (size_t)items[j] * (size_t)k_pad, g, u_row, k_pad);
        if (resid) resid[j] = g;
    }
    return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + tail;
}

static void ref_item_grad(float *restrict gv, const float *restrict U, int32_t k_pad,
                          const int32_t *restrict users, const int64_t *restrict pos,
                          const float *restrict resid, int64_t n)
{
    memset(gv, 0, sizeof(float) * (size_t)k_pad);
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
        const float *rows[4];
        float g[4];
        for (int q = 0; q < 4; q++) {
            rows[q] = U + (size_t)users[j + q] * (size_t)k_pad;
            g[q] = resid[pos[j + q]];
        }
        ref_add_group(gv, g, rows, k_pad);
    }
    for (; j < n; j++) ref_axpy(gv, resid[pos[j]], U + (size_t)users[j] * (size_t)k_pad, k_pad);
}

static void ref_sum_buffers(float *restrict out, const float *restrict base, int64_t stride,
                            int32_t n_bufs, int64_t n)
{
    for (int64_t x = 0; x < n; x++) {
        float s = base[x];
        for (int32_t b = 1; b < n_bufs; b++) s += base[(size_t)b * (size_t)stride + (size_t)x];
        out[x] = s;
    }
}

/* 1 when f is an inf or a NaN (all exponent bits set). */
static inline unsigned nonfinite(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return (b & 0x7f800000u) == 0x7f800000u;
}

static unsigned ref_adam(float *restrict p, float *restrict m, float *restrict v,
                         const float *restrict g, int64_t n, const struct mfr_adam_coef *c)
{
    unsigned bad = 0;
    for (int64_t x = 0; x < n; x++) {
        float gx = g[x];
        float mx = c->beta1 * m[x] + c->w1 * gx;
        float vx = c->beta2 * v[x] + c->w2 * (gx * gx);
        float denom = sqrtf(vx) * c->inv_bc2 + c->eps;
        m[x] = mx;
        v[x] = vx;
        p[x] = p[x] - c->step * (mx / denom);
        bad |= nonfinite(p[x]) * MFR_NONFINITE_BIT(0) | nonfinite(mx) * MFR_NONFINITE_BIT(1) |
               nonfinite(vx) * MFR_NONFINITE_BIT(2);
    }
    return bad;
}

static unsigned ref_sgd(float *restrict p, const float *restrict g, int64_t n, float lr)
{
    unsigned bad = 0;
    for (int64_t x = 0; x < n; x++) {
        p[x] = p[x] - lr * g[x];
        bad |= nonfinite(p[x]);
    }
    return bad * MFR_NONFINITE_BIT(0);
}

static void ref_gram4(float *restrict A, float *restrict rhs, const float *restrict x,
                      const float *restrict t, int32_t k1, int32_t kp)
{
    mfr_gram4_body(A, rhs, x, t, k1, kp);
}

static int ref_chol_solve(double *restrict M, double *restrict y, int32_t n, int32_t ld)
{
    return mfr_chol_body(M, y, n, ld);
}

static float ref_dot8(const float *restrict a, const float *restrict b, int32_t kp)
{
    return mfr_dot8_body(a, b, kp);
}

static double ref_cg_resid(const float *restrict w, const float *restrict base, int32_t kp,
                           const int32_t *restrict idx, const float *restrict rating,
                           const int64_t *restrict pos, int64_t n, int32_t bias_lane,
                           float *restrict out)
{
    return mfr_cg_resid_body(w, base, kp, idx, rating, pos, n, bias_lane, out);
}

static void ref_cg_apply(const float *restrict p, const float *restrict base, int32_t kp,
                         const int32_t *restrict idx, int64_t n, float *restrict out)
{
    mfr_cg_apply_body(p, base, kp, idx, n, out);
}

static void ref_eval_errors(const float *restrict U, const float *restrict V, int32_t kp,
                            const int32_t *restrict user, const int32_t *restrict item,
                            const float *restrict rating, int64_t n, int far, double *restrict e)
{
    (void)far;
    for (int64_t x = 0; x < n; x++)
        e[x] = (double)ref_dot(U + (size_t)user[x] * (size_t)kp, V + (size_t)item[x] * (size_t)kp, kp) -
               (double)rating[x];
}

static void ref_dot_rows(const float *restrict q, const float *restrict rows, int32_t kp, int64_t n,
                         float *restrict out)
{
    for (int64_t j = 0; j < n; j++) out[j] = ref_dot(q, rows + (size_t)j * (size_t)kp, kp);
}

const struct mfr_kernel_set mfr_kernels_ref = {
    .name = "ref",
    .dot = ref_dot,
    .user_grad = ref_user_grad,
    .item_grad = ref_item_grad,
    .sum_buffers = ref_sum_buffers,
    .adam = ref_adam,
    .sgd = ref_sgd,
    .gram4 = ref_gram4,
    .chol_solve = ref_chol_solve,
    .dot8 = ref_dot8,
    .cg_resid = ref_cg_resid,
    .cg_apply = ref_cg_apply,
    .eval_errors = ref_eval_errors,
    .dot_rows = ref_dot_rows,
};
