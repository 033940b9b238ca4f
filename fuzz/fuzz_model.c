/*
 * fuzz_model.c — the model file reader (mfr_model_load), then the calls a
 * loaded model must survive (configuration, copy, predictions, top-k,
 * fold-in).
 *
 * Input: the whole file. The target rewrites its last 8 bytes with the
 * checksum of the bytes before them that the format version they name
 * calls for (mfr_model_file_sum), as the writer does: otherwise almost
 * every mutation would stop at "checksum mismatch" (tested by test_model)
 * and the fuzzer would never reach the checks that come after it.
 */
#include <stdlib.h>
#include <string.h>

#include "common_priv.h"
#include "fuzz.h"
#include "model_priv.h"

static void exercise(const mfr_model *m)
{
    mfr_config cfg;
    mfr_error err = {0};
    if (mfr_model_config(m, &cfg, &err) != MFR_OK) abort();
    mfr_model *copy = NULL;
    if (mfr_model_copy(m, &copy, &err) == MFR_OK &&
        mfr_model_checksum(copy) != mfr_model_checksum(m))
        abort();
    mfr_model_destroy(copy);
    int32_t nu = mfr_model_n_users(m), ni = mfr_model_n_items(m), k = mfr_model_k(m);
    for (int32_t u = 0; u < nu && u < 8; u++)
        for (int32_t i = 0; i < ni && i < 8; i++) fz_sink += mfr_model_predict(m, u, i);
    int32_t top[4];
    float score[4];
    int32_t n_out = 0;
    if (nu > 0) (void)mfr_model_recommend(m, 0, 4, MFR_MEASURE_DOT, NULL, top, score, &n_out, &err);
    if (ni > 0 && k > 0) {
        int32_t items[1] = {0};
        float ratings[1] = {4.0f};
        float *vec = malloc((size_t)k * sizeof *vec), bias;
        if (vec) (void)mfr_model_fold_in(m, items, ratings, 1, 0.1, vec, &bias, &err);
        free(vec);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_path(1, fz_dir(), "model.mfr");
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    if (size >= 8) {
        uint64_t h = mfr_model_file_sum(buf, size - 8);
        for (int b = 0; b < 8; b++) buf[size - 8 + (size_t)b] = (uint8_t)(h >> (8 * b));
    }
    fz_write(path, buf, size);
    free(buf);
    mfr_model *m = NULL;
    mfr_error err = {0};
    int rc = mfr_model_load(path, &m, &err);
    fz_report("fuzz_model", rc, &err);
    if (rc == MFR_OK) exercise(m);
    else if (m || err.message[0] == '\0') abort();
    mfr_model_destroy(m);
    return 0;
}
