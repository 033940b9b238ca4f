/*
 * model_priv.h — the in-memory model: padded, 64-byte aligned factor rows,
 * Adam moments, the configuration and the id maps. The trainer owns one
 * and updates it in place; model_io.c reads and writes the file format
 * (docs/MODEL_FORMAT.md).
 */
#ifndef MFR_MODEL_PRIV_H
#define MFR_MODEL_PRIV_H

#include "common_priv.h"

struct mfr_model {
    mfr_config cfg;       /* n_threads and max_memory are zeroed: not model state */
    int32_t k;            /* user-visible dimension */
    /* Floats of state per row: k, or k + 2 with cfg.bias, where lanes k and
     * k + 1 hold (b_u, 1) in U's rows and (1, b_i) in V's rows, so that the
     * dot product over the row is b_u + b_i + <U_u, V_i>. */
    int32_t k_row;
    int32_t k_pad;        /* row stride in floats, a multiple of MFR_LANES >= k_row */
    int32_t n_users, n_items;
    int64_t epochs;       /* Adam steps taken */
    float *U, *V;         /* n_users x k_pad, n_items x k_pad; padding lanes zero */
    float *mU, *vU;       /* Adam first and second moments, same layout */
    float *mV, *vV;
    /* Implicit feedback (cfg.implicit > 0, else NULL): U_u = P_u +
     * |R(u)|^-1/2 Σ_{j in R(u)} Y_j is derived, P holds the users' free
     * parameters (same layout as U; mU and vU are P's moments), Y the items'
     * implicit factors (k lanes used, bias lanes zero) with moments mY, vY. */
    float *P;
    float *Y, *mY, *vY;
    int64_t *user_ids;    /* dense -> raw id */
    int64_t *item_ids;
    char *split_spec;     /* "" when unknown */
    char *data_dir;       /* "" when unknown */
    uint64_t data_fingerprint;
};

/* Allocates a model with zeroed factors and moments and 1-based identity id
 * maps; bias (0 or 1) adds the two bias lanes (k_row = k + 2 bias) and sets
 * their constant lanes to 1. */
int mfr_model_alloc(int32_t k, int32_t bias, int32_t n_users, int32_t n_items, mfr_model **out,
                    mfr_error *err);
/* Allocates P (a copy of U), Y, mY and vY (zero) for cfg.implicit > 0. */
int mfr_model_alloc_implicit(mfr_model *m, mfr_error *err);
/* Bytes mfr_model_alloc (and, with implicit, mfr_model_alloc_implicit)
 * would allocate, or 0 on overflow. */
size_t mfr_model_bytes(int32_t k, int32_t bias, int implicit, int32_t n_users, int32_t n_items);

/* One factor or moment array of the model. */
struct mfr_model_array {
    const char *name;
    float *a;     /* rows x k_pad */
    int32_t rows;
    int nonneg;   /* a second moment: must be >= 0 */
};
#define MFR_MODEL_MAX_ARRAYS 10
/* The model's arrays in file order: U, V, mU, vU, mV, vV, then with
 * implicit feedback P, Y, mY, vY. Returns how many. */
int mfr_model_arrays(const mfr_model *m, struct mfr_model_array out[MFR_MODEL_MAX_ARRAYS]);

#endif
