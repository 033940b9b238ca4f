/*
 * sm_kern_avx2.c — the softmax kernels compiled for AVX2 + FMA (bodies in
 * sm_kern_body.h): the same operations in the same order as the reference,
 * with fmaf as an instruction, so the same bits.
 */
#include "sm_kern_body.h"

static void mfr_sm_pool_avx2(float *restrict out, const float *restrict table, int32_t dim,
                     const int32_t *restrict idx, int32_t n)
{
    sm_pool_body(out, table, dim, idx, n);
}

static void mfr_sm_pool_back_avx2(float *restrict gtable, int32_t dim, const int32_t *restrict idx,
                          int32_t n, const float *restrict d, int32_t lo, int32_t hi)
{
    sm_pool_back_body(gtable, dim, idx, n, d, lo, hi);
}

static void mfr_sm_linear_avx2(float *restrict y, const float *restrict W, const float *restrict b,
                       const float *restrict x, int32_t n_out, int32_t n_in)
{
    sm_linear_body(y, W, b, x, n_out, n_in);
}

static void mfr_sm_linear_back_avx2(float *restrict dx, float *restrict gW, float *restrict gb,
                            const float *restrict W, const float *restrict x,
                            const float *restrict dy, int32_t n_out, int32_t n_in)
{
    sm_linear_back_body(dx, gW, gb, W, x, dy, n_out, n_in);
}

static void mfr_sm_relu_avx2(float *restrict h, const float *restrict z, int32_t n)
{
    sm_relu_body(h, z, n);
}

static void mfr_sm_relu_back_avx2(float *restrict dz, const float *restrict z, const float *restrict dh,
                          int32_t n)
{
    sm_relu_back_body(dz, z, dh, n);
}

static void mfr_sm_logits_avx2(float *restrict s, const float *restrict u,
                                  const float *restrict V, int32_t M, int32_t k)
{
    sm_logits_body(s, u, V, M, k);
}

static double mfr_sm_xent_avx2(float *restrict s, int32_t M, int32_t y, float weight)
{
    return sm_xent_body(s, M, y, weight);
}

static void mfr_sm_logits_back_avx2(float *restrict du, float *restrict gV, const float *restrict ds,
                            const float *restrict u, const float *restrict V, int32_t M,
                            int32_t k)
{
    sm_logits_back_body(du, gV, ds, u, V, M, k);
}

static void mfr_sm_adagrad_avx2(float *restrict p, float *restrict acc, const float *restrict g,
                        int64_t n, float lr)
{
    sm_adagrad_body(p, acc, g, n, lr);
}

static void mfr_sm_logits_t4_avx2(float *restrict s, int64_t lds, const float *restrict U, int64_t ldu,
                          const float *restrict Vt, int64_t ldt, int32_t M, int32_t k)
{
    sm_logits_t4_body(s, lds, U, ldu, Vt, ldt, M, k);
}

static void mfr_sm_logits_du4_avx2(float *restrict du, int64_t lddu, const float *restrict ds, int64_t lds,
                           const float *restrict V, int32_t M, int32_t k)
{
    sm_logits_du4_body(du, lddu, ds, lds, V, M, k);
}

static void mfr_sm_outer_rows_avx2(float *restrict gV, const float *restrict ds, int64_t lds,
                           const float *restrict U, int64_t ldu, int32_t nb, int32_t i0,
                           int32_t i1, int32_t k, int add)
{
    sm_outer_rows_body(gV, ds, lds, U, ldu, nb, i0, i1, k, add);
}

static void mfr_sm_transpose_avx2(float *restrict Vt, int64_t ldt, const float *restrict V, int32_t i0,
                          int32_t i1, int32_t k)
{
    sm_transpose_body(Vt, ldt, V, i0, i1, k);
}

const struct mfr_sm_kern mfr_sm_kern_avx2 = {
    .name = "avx2",
    .pool = mfr_sm_pool_avx2,
    .pool_back = mfr_sm_pool_back_avx2,
    .linear = mfr_sm_linear_avx2,
    .linear_back = mfr_sm_linear_back_avx2,
    .relu = mfr_sm_relu_avx2,
    .relu_back = mfr_sm_relu_back_avx2,
    .logits = mfr_sm_logits_avx2,
    .xent = mfr_sm_xent_avx2,
    .logits_back = mfr_sm_logits_back_avx2,
    .adagrad = mfr_sm_adagrad_avx2,
    .logits_t4 = mfr_sm_logits_t4_avx2,
    .logits_du4 = mfr_sm_logits_du4_avx2,
    .transpose = mfr_sm_transpose_avx2,
    .outer_rows = mfr_sm_outer_rows_avx2,
};
