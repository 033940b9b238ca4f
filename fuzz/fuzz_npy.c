/*
 * fuzz_npy.c — the .npy reader behind `train --init-from` (2-D
 * little-endian float32, C order). Input: the whole file.
 */
#include <stdlib.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_path(1, fz_dir(), "init.npy");
    fz_write(path, data, size);
    int64_t rows = -1, cols = -1;
    float *x = NULL;
    mfr_error err = {0};
    int rc = mfr_npy_read_f32(path, &rows, &cols, &x, &err);
    fz_report("fuzz_npy", rc, &err);
    if (rc == MFR_OK) {
        if (rows < 0 || cols < 0 || (uint64_t)rows * (uint64_t)cols * 4 > size) abort();
        for (int64_t k = 0; k < rows * cols; k++) fz_sink += x[k]; /* every element readable */
    } else if (x || err.message[0] == '\0') {
        abort();
    }
    mfr_free(x);
    return 0;
}
