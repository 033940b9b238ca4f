/*
 * sm_kern_set.h — the softmax kernel set of the vector builds, included
 * once per instruction set with SM_SET (the functions' suffix) and
 * SM_SET_NAME defined: sm_kern_avx2.c (-mavx2 -mfma) and sm_kern_avx512.c
 * (also -mavx512f, where the three batch kernels take their AVX-512 forms
 * from sm_kern_body.h; the other kernels are the same code, so the same
 * bits, compiled for the wider set).
 */
#include "sm_kern_body.h"

#define SM_CAT2(a, b) a##_##b
#define SM_CAT(a, b) SM_CAT2(a, b)
#define SM_FN(n) SM_CAT(mfr_sm_##n, SM_SET)


static void SM_FN(pool)(float *restrict out, const float *restrict table, int32_t dim,
                     const int32_t *restrict idx, int32_t n)
{
    sm_pool_body(out, table, dim, idx, n);
}

static void SM_FN(pool_back)(float *restrict gtable, int32_t dim, const int32_t *restrict idx,
                          int32_t n, const float *restrict d)
{
    sm_pool_back_body(gtable, dim, idx, n, d);
}

static void SM_FN(linear)(float *restrict y, const float *restrict W, const float *restrict b,
                       const float *restrict x, int32_t n_out, int32_t n_in)
{
    sm_linear_body(y, W, b, x, n_out, n_in);
}

static void SM_FN(linear_back)(float *restrict dx, float *restrict gW, float *restrict gb,
                            const float *restrict W, const float *restrict x,
                            const float *restrict dy, int32_t n_out, int32_t n_in)
{
    sm_linear_back_body(dx, gW, gb, W, x, dy, n_out, n_in);
}

static void SM_FN(relu)(float *restrict h, const float *restrict z, int32_t n)
{
    sm_relu_body(h, z, n);
}

static void SM_FN(relu_back)(float *restrict dz, const float *restrict z, const float *restrict dh,
                          int32_t n)
{
    sm_relu_back_body(dz, z, dh, n);
}

static void SM_FN(logits)(float *restrict s, const float *restrict u,
                                  const float *restrict V, int32_t M, int32_t k)
{
    sm_logits_body(s, u, V, M, k);
}

static double SM_FN(xent)(float *restrict s, int32_t M, int32_t y, float weight)
{
#ifdef __AVX512F__
    return sm512_xent_body(s, M, y, weight);
#else
    return sm_xent_body(s, M, y, weight);
#endif
}

static void SM_FN(logits_back)(float *restrict du, float *restrict gV, const float *restrict ds,
                            const float *restrict u, const float *restrict V, int32_t M,
                            int32_t k)
{
    sm_logits_back_body(du, gV, ds, u, V, M, k);
}

static void SM_FN(adagrad)(float *restrict p, float *restrict acc, const float *restrict g,
                        int64_t n, float lr)
{
    sm_adagrad_body(p, acc, g, n, lr);
}

static void SM_FN(logits_t4)(float *restrict s, int64_t lds, const float *restrict U, int64_t ldu,
                          const float *restrict Vt, int64_t ldt, int32_t M, int32_t k)
{
#ifdef __AVX512F__
    sm512_logits_t4_body(s, lds, U, ldu, Vt, ldt, M, k);
#else
    sm_logits_t4_body(s, lds, U, ldu, Vt, ldt, M, k);
#endif
}

static void SM_FN(logits_du4)(float *restrict du, int64_t lddu, const float *restrict ds, int64_t lds,
                           const float *restrict V, int32_t M, int32_t k)
{
#ifdef __AVX512F__
    sm512_logits_du4_body(du, lddu, ds, lds, V, M, k);
#else
    sm_logits_du4_body(du, lddu, ds, lds, V, M, k);
#endif
}

static void SM_FN(outer_rows)(float *restrict gV, const float *restrict ds, int64_t lds,
                           const float *restrict U, int64_t ldu, int32_t nb, int32_t i0,
                           int32_t i1, int32_t k, int add)
{
#ifdef __AVX512F__
    sm512_outer_rows_body(gV, ds, lds, U, ldu, nb, i0, i1, k, add);
#else
    sm_outer_rows_body(gV, ds, lds, U, ldu, nb, i0, i1, k, add);
#endif
}

#ifdef __AVX512F__
static void SM_FN(adam)(float *restrict p, float *restrict m, float *restrict v,
                        const float *restrict g, int64_t n, const struct mfr_adam_coef *c)
{
    sm512_adam_body(p, m, v, g, n, c);
}
#endif

static void SM_FN(transpose)(float *restrict Vt, int64_t ldt, const float *restrict V, int32_t i0,
                          int32_t i1, int32_t k)
{
    sm_transpose_body(Vt, ldt, V, i0, i1, k);
}

const struct mfr_sm_kern SM_CAT(mfr_sm_kern, SM_SET) = {
    .name = SM_SET_NAME,
    .pool = SM_FN(pool),
    .pool_back = SM_FN(pool_back),
    .linear = SM_FN(linear),
    .linear_back = SM_FN(linear_back),
    .relu = SM_FN(relu),
    .relu_back = SM_FN(relu_back),
    .logits = SM_FN(logits),
    .xent = SM_FN(xent),
    .logits_back = SM_FN(logits_back),
    .adagrad = SM_FN(adagrad),
#ifdef __AVX512F__
    .adam = SM_FN(adam),
#endif
    .logits_t4 = SM_FN(logits_t4),
    .logits_du4 = SM_FN(logits_du4),
    .transpose = SM_FN(transpose),
    .outer_rows = SM_FN(outer_rows),
};
