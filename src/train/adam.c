/*
 * adam.c — the per-step Adam coefficients (bias corrections), computed once
 * per step in double exactly as PyTorch's Adam computes them (torch 1.13,
 * single-tensor path: m.mul_(beta1).add_(g, alpha=1-beta1)), then rounded
 * to float for the elementwise kernels (kern_*.c, `adam`).
 */
#include <math.h>

#include "kern_priv.h"

struct mfr_adam_coef mfr_adam_coef_make(double lr, double beta1, double beta2, double eps,
                                        int64_t t)
{
    double td = (double)t;
    return (struct mfr_adam_coef){
        .beta1 = (float)beta1,
        .w1 = (float)(1.0 - beta1),
        .beta2 = (float)beta2,
        .w2 = (float)(1.0 - beta2),
        .step = (float)(lr / (1.0 - pow(beta1, td))),
        .inv_bc2 = (float)(1.0 / sqrt(1.0 - pow(beta2, td))),
        .eps = (float)eps,
    };
}
