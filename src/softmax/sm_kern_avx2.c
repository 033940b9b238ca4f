/*
 * sm_kern_avx2.c — the softmax kernels compiled for AVX2 + FMA (bodies in
 * sm_kern_body.h, the set in sm_kern_set.h): the same operations in the
 * same order as the reference, with fmaf as an instruction, so the same
 * bits.
 */
#define SM_SET avx2
#define SM_SET_NAME "avx2"
#include "sm_kern_set.h"
