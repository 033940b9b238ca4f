/*
 * config.c — configuration defaults and validation. Defaults reproduce the
 * teaching notebook's experiment (Adam, lr 1e-3, dim 30, N(0, 1) init).
 */
#include <math.h>

#include "common_priv.h"
#include "mfrec_build_info.h"

void mfr_config_default(mfr_config *cfg)
{
    *cfg = (mfr_config){
        .k = 30,
        .lr = 1e-3,
        .beta1 = 0.9,
        .beta2 = 0.999,
        .eps = 1e-8,
        .init_std = 1.0,
        .seed = 300,
        .n_shards = 0,
        .reduce = MFR_REDUCE_DEFAULT,
        .kernels = MFR_KERNELS_AUTO,
        .n_threads = 0,
        .max_memory = 0,
        .l2 = 0.0,
        .gravity = 0.0,
        .bias = 0,
        .optimizer = MFR_OPTIMIZER_ADAM,
        .l2_freq = 0.0,
        .l2_bias = 0.0,
        .implicit = 0.0,
    };
}

int mfr_config_validate(const mfr_config *cfg, mfr_error *err)
{
    if (!cfg) return mfr_seterr(err, MFR_ERR_INVALID, "config is NULL");
    if (cfg->k < 1 || cfg->k > 4096)
        return mfr_seterr(err, MFR_ERR_INVALID, "k must be in 1..4096, got %d", (int)cfg->k);
    if (!(cfg->lr > 0.0f) || !isfinite(cfg->lr))
        return mfr_seterr(err, MFR_ERR_INVALID, "lr must be a positive finite number, got %g",
                          (double)cfg->lr);
    if (!(cfg->beta1 >= 0.0f && cfg->beta1 < 1.0f))
        return mfr_seterr(err, MFR_ERR_INVALID, "beta1 must be in [0, 1), got %g",
                          (double)cfg->beta1);
    if (!(cfg->beta2 >= 0.0f && cfg->beta2 < 1.0f))
        return mfr_seterr(err, MFR_ERR_INVALID, "beta2 must be in [0, 1), got %g",
                          (double)cfg->beta2);
    if (!(cfg->eps > 0.0f) || !isfinite(cfg->eps))
        return mfr_seterr(err, MFR_ERR_INVALID, "eps must be a positive finite number, got %g",
                          (double)cfg->eps);
    if (!(cfg->init_std >= 0.0f) || !isfinite(cfg->init_std))
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "init_std must be a non-negative finite number, got %g",
                          (double)cfg->init_std);
    if (cfg->n_shards < 0 || cfg->n_shards > 65536)
        return mfr_seterr(err, MFR_ERR_INVALID, "n_shards must be in 0..65536, got %d",
                          (int)cfg->n_shards);
    if (cfg->reduce < MFR_REDUCE_DEFAULT || cfg->reduce > MFR_REDUCE_OWNER)
        return mfr_seterr(err, MFR_ERR_INVALID, "reduce must be 0 (default), 1 (shard) or 2 (owner), got %d",
                          (int)cfg->reduce);
    if (cfg->kernels < MFR_KERNELS_AUTO || cfg->kernels > MFR_KERNELS_AVX2)
        return mfr_seterr(err, MFR_ERR_INVALID, "kernels must be 0 (auto), 1 (ref) or 2 (avx2), got %d",
                          (int)cfg->kernels);
    if (cfg->n_threads < 0 || cfg->n_threads > 1024)
        return mfr_seterr(err, MFR_ERR_INVALID, "n_threads must be in 0..1024, got %d",
                          (int)cfg->n_threads);
    if (!(cfg->l2 >= 0.0) || !isfinite(cfg->l2))
        return mfr_seterr(err, MFR_ERR_INVALID, "l2 must be a non-negative finite number, got %g",
                          cfg->l2);
    if (!(cfg->gravity >= 0.0) || !isfinite(cfg->gravity))
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "gravity must be a non-negative finite number, got %g", cfg->gravity);
    if (!(cfg->l2_freq >= 0.0) || !isfinite(cfg->l2_freq))
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "l2_freq must be a non-negative finite number, got %g", cfg->l2_freq);
    if (cfg->bias != 0 && cfg->bias != 1)
        return mfr_seterr(err, MFR_ERR_INVALID, "bias must be 0 or 1, got %d", (int)cfg->bias);
    if (!(cfg->l2_bias >= 0.0) || !isfinite(cfg->l2_bias))
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "l2_bias must be a non-negative finite number, got %g", cfg->l2_bias);
    if (cfg->l2_bias > 0.0 && !cfg->bias)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "l2_bias (%g) regularizes the biases: it needs bias = 1", cfg->l2_bias);
    if (!(cfg->implicit >= 0.0) || !isfinite(cfg->implicit))
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "implicit must be a non-negative finite number, got %g", cfg->implicit);
    if (cfg->optimizer != MFR_OPTIMIZER_ADAM && cfg->optimizer != MFR_OPTIMIZER_SGD)
        return mfr_seterr(err, MFR_ERR_INVALID, "optimizer must be 0 (adam) or 1 (sgd), got %d",
                          (int)cfg->optimizer);
    if (cfg->k + 2 * cfg->bias > 4096)
        return mfr_seterr(err, MFR_ERR_INVALID, "k must be at most 4094 with bias, got %d",
                          (int)cfg->k);
    return MFR_OK;
}

const char *mfr_build_info(void) { return MFR_BUILD_INFO; }
