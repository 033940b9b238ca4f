/*
 * sm_kern_avx512.c — the AVX2 set compiled with AVX-512F as well: the
 * logits of four examples, their du and V's gradient rows in 512-bit
 * registers (sm_kern_body.h; one pass over V's 35 columns instead of two,
 * twice the floats per FMA), the same fmaf chains, so the same bits.
 * Chosen when the CPU has AVX-512F (mfr_sm_kern_for).
 */
#define SM_SET avx512
#define SM_SET_NAME "avx512"
#include "sm_kern_set.h"
