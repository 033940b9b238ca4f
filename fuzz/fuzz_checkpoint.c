/*
 * fuzz_checkpoint.c — the checkpoint reader (mfr_checkpoint_load_buffer),
 * then what `train --resume` reads from a loaded checkpoint: its model's
 * configuration and its run state (log bytes, best model).
 *
 * Input: the whole file. As fuzz_model.c does for model files, the target
 * rewrites the checksums the writer computes, so that mutations get past
 * them: the trailing checksum of each model section (a complete model
 * file, found by walking the section heads while they are in bounds; its
 * format version's, mfr_model_file_sum) and then the file's own trailing
 * FNV-1a 64 (docs/CHECKPOINTS.md).
 */
#include <stdlib.h>
#include <string.h>

#include "common_priv.h"
#include "fuzz.h"
#include "model_priv.h"

#define PREAMBLE 16     /* magic, version, section count */
#define SECTION_HEAD 16 /* tag u32, reserved u32, length u64 */

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int b = 7; b >= 0; b--) v = v << 8 | p[b];
    return v;
}

/* Sets the 8 bytes at p[n], little-endian, to the checksum of p[0..n).
 * A checkpoint ends with the FNV-1a 64 of its bytes; a model file inside
 * it with the checksum of its format version. */
static void seal(uint8_t *p, size_t n, bool model)
{
    uint64_t h = model ? mfr_model_file_sum(p, n) : mfr_fnv1a(MFR_FNV_INIT, p, n);
    for (int b = 0; b < 8; b++) p[n + (size_t)b] = (uint8_t)(h >> (8 * b));
}

static void fix_checksums(uint8_t *buf, size_t size)
{
    if (size < PREAMBLE + 8) return;
    size_t end = size - 8, pos = PREAMBLE;
    while (end - pos >= SECTION_HEAD) {
        uint64_t len = get_le64(buf + pos + 8);
        pos += SECTION_HEAD;
        if (len > end - pos) break;
        if (len >= 16 && memcmp(buf + pos, "MFRECMDL", 8) == 0) seal(buf + pos, (size_t)len - 8, true);
        pos += (size_t)len;
    }
    seal(buf, end, false);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    fix_checksums(buf, size);
    mfr_checkpoint *c = NULL;
    mfr_error err = {0};
    int rc = mfr_checkpoint_load_buffer(buf, size, "fuzz.ckpt", &c, &err);
    free(buf); /* the checkpoint must not keep pointers into the input */
    fz_report("fuzz_checkpoint", rc, &err);
    if (rc == MFR_OK) {
        mfr_config cfg;
        mfr_run_state run;
        const mfr_model *m = mfr_checkpoint_model(c);
        if (!m || mfr_model_config(m, &cfg, &err) != MFR_OK ||
            mfr_checkpoint_run(c, &run, &err) != MFR_OK)
            abort();
        for (size_t k = 0; k < run.log_len; k++) fz_sink += (unsigned char)run.log[k];
        if ((run.best_epoch > 0) != (run.best != NULL)) abort();
        if (run.best) fz_sink += mfr_model_predict(run.best, 0, 0);
    } else if (c || err.message[0] == '\0') {
        abort();
    }
    mfr_checkpoint_destroy(c);
    return 0;
}
