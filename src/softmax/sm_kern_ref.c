/*
 * sm_kern_ref.c — the portable reference set of the softmax kernels
 * (bodies in sm_kern_body.h), kept forever and the fallback without AVX2.
 */
#include "sm_kern_body.h"

void mfr_sm_pool_ref(float *restrict out, const float *restrict table, int32_t dim,
                     const int32_t *restrict idx, int32_t n)
{
    sm_pool_body(out, table, dim, idx, n);
}

void mfr_sm_pool_back_ref(float *restrict gtable, int32_t dim, const int32_t *restrict idx,
                          int32_t n, const float *restrict d)
{
    sm_pool_back_body(gtable, dim, idx, n, d);
}

void mfr_sm_linear_ref(float *restrict y, const float *restrict W, const float *restrict b,
                       const float *restrict x, int32_t n_out, int32_t n_in)
{
    sm_linear_body(y, W, b, x, n_out, n_in);
}

void mfr_sm_linear_back_ref(float *restrict dx, float *restrict gW, float *restrict gb,
                            const float *restrict W, const float *restrict x,
                            const float *restrict dy, int32_t n_out, int32_t n_in)
{
    sm_linear_back_body(dx, gW, gb, W, x, dy, n_out, n_in);
}

void mfr_sm_relu_ref(float *restrict h, const float *restrict z, int32_t n)
{
    sm_relu_body(h, z, n);
}

void mfr_sm_relu_back_ref(float *restrict dz, const float *restrict z, const float *restrict dh,
                          int32_t n)
{
    sm_relu_back_body(dz, z, dh, n);
}

void mfr_sm_logits_ref(float *restrict s, const float *restrict u,
                                  const float *restrict V, int32_t M, int32_t k)
{
    sm_logits_body(s, u, V, M, k);
}

double mfr_sm_xent_ref(float *restrict s, int32_t M, int32_t y, float weight)
{
    return sm_xent_body(s, M, y, weight);
}

void mfr_sm_logits_back_ref(float *restrict du, float *restrict gV, const float *restrict ds,
                            const float *restrict u, const float *restrict V, int32_t M,
                            int32_t k)
{
    sm_logits_back_body(du, gV, ds, u, V, M, k);
}

void mfr_sm_adagrad_ref(float *restrict p, float *restrict acc, const float *restrict g,
                        int64_t n, float lr)
{
    sm_adagrad_body(p, acc, g, n, lr);
}

void mfr_sm_logits_t4_ref(float *restrict s, int64_t lds, const float *restrict U, int64_t ldu,
                          const float *restrict Vt, int64_t ldt, int32_t M, int32_t k)
{
    sm_logits_t4_body(s, lds, U, ldu, Vt, ldt, M, k);
}

void mfr_sm_logits_du4_ref(float *restrict du, int64_t lddu, const float *restrict ds, int64_t lds,
                           const float *restrict V, int32_t M, int32_t k)
{
    sm_logits_du4_body(du, lddu, ds, lds, V, M, k);
}

void mfr_sm_outer_rows_ref(float *restrict gV, const float *restrict ds, int64_t lds,
                           const float *restrict U, int64_t ldu, int32_t nb, int32_t i0,
                           int32_t i1, int32_t k, int add)
{
    sm_outer_rows_body(gV, ds, lds, U, ldu, nb, i0, i1, k, add);
}

void mfr_sm_transpose_ref(float *restrict Vt, int64_t ldt, const float *restrict V, int32_t i0,
                          int32_t i1, int32_t k)
{
    sm_transpose_body(Vt, ldt, V, i0, i1, k);
}

const struct mfr_sm_kern mfr_sm_kern_ref = {
    .name = "ref",
    .pool = mfr_sm_pool_ref,
    .pool_back = mfr_sm_pool_back_ref,
    .linear = mfr_sm_linear_ref,
    .linear_back = mfr_sm_linear_back_ref,
    .relu = mfr_sm_relu_ref,
    .relu_back = mfr_sm_relu_back_ref,
    .logits = mfr_sm_logits_ref,
    .xent = mfr_sm_xent_ref,
    .logits_back = mfr_sm_logits_back_ref,
    .adagrad = mfr_sm_adagrad_ref,
    .logits_t4 = mfr_sm_logits_t4_ref,
    .logits_du4 = mfr_sm_logits_du4_ref,
    .transpose = mfr_sm_transpose_ref,
    .outer_rows = mfr_sm_outer_rows_ref,
};

const struct mfr_sm_kern *mfr_sm_kern_best(void)
{
    return mfr_cpu_has_avx512f() ? &mfr_sm_kern_avx512
           : mfr_cpu_has_avx2() ? &mfr_sm_kern_avx2
                                : &mfr_sm_kern_ref;
}
