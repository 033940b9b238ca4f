/*
 * kern_dispatch.c — picks the kernel set once, at trainer creation.
 */
#include "kern_priv.h"

bool mfr_cpu_has_avx2(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return false;
#endif
}

bool mfr_cpu_has_avx512f(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return mfr_cpu_has_avx2() && __builtin_cpu_supports("avx512f");
#else
    return false;
#endif
}

const struct mfr_kernel_set *mfr_kernels_select(int which, mfr_error *err)
{
    switch (which) {
    case MFR_KERNELS_REF:
        return &mfr_kernels_ref;
    case MFR_KERNELS_AVX2:
        if (!mfr_cpu_has_avx2()) {
            mfr_seterr(err, MFR_ERR_UNSUPPORTED, "kernels: this CPU lacks AVX2/FMA; use ref or auto");
            return NULL;
        }
        return &mfr_kernels_avx2;
    case MFR_KERNELS_AVX512:
        if (!mfr_cpu_has_avx512f()) {
            mfr_seterr(err, MFR_ERR_UNSUPPORTED, "kernels: this CPU lacks AVX-512F; use avx2 or auto");
            return NULL;
        }
        return &mfr_kernels_avx512;
    case MFR_KERNELS_AUTO: /* the widest set the CPU runs; every set gives the same bits */
        return mfr_cpu_has_avx512f() ? &mfr_kernels_avx512
               : mfr_cpu_has_avx2()  ? &mfr_kernels_avx2
                                     : &mfr_kernels_ref;
    default:
        mfr_seterr(err, MFR_ERR_INVALID, "kernels must be 0, 1, 2 or 3, got %d", which);
        return NULL;
    }
}
