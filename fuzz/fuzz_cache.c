/*
 * fuzz_cache.c — the binary dataset cache reader (mfr_cache_load).
 *
 * Input: a cache file without its key (and the key's padding): the 64-byte
 * header, then the payload. The target inserts the key of its own fixture dataset after the
 * header (and writes that key's length into the header), because a key is
 * full of paths and times that differ between machines and runs; a cache
 * whose key differs is never read past the key (nothing to fuzz there).
 * The fuzz build (-Dfuzz=enabled) also accepts any payload checksum (see
 * FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION in src/data/dataset_cache.c) so
 * that mutations reach the checks behind it; a replay build checks it.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "loader_priv.h"

#define HEADER_BYTES 64
#define KEY_LEN_OFFSET 16 /* magic[8], version u32, order u32, key_len u64 */
#define ALIGN 64          /* the key area and the arrays are aligned to 64 bytes */

static const struct mfr_cache_key *cache_key(void)
{
    static struct mfr_cache_key key;
    if (key.bytes) return &key;
    const char *dir = fz_path(1, fz_dir(), "data");
    fz_fixture_dataset(dir);
    mfr_load_options opt = fz_load_options(MFR_FORMAT_ML100K);
    opt.cache = MFR_CACHE_ALWAYS;
    mfr_error err = {0};
    if (mfr_cache_key_build(dir, "u.data", mfr_ml100k_files, &opt, &key, &err) != MFR_OK)
        fz_fail("mfr_cache_key_build", &err);
    key.newest_change_ns = INT64_MIN; /* never "racy": the file is written just now */
    return &key;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct mfr_cache_key *key = cache_key();
    /* the key is followed by zero bytes up to a multiple of 64 */
    size_t key_area = (key->len + ALIGN - 1) / ALIGN * ALIGN;
    size_t n = size + (size >= HEADER_BYTES ? key_area : 0);
    uint8_t *buf = calloc(n ? n : 1, 1);
    if (!buf) return 0;
    if (size >= HEADER_BYTES) {
        uint64_t key_len = key->len;
        memcpy(buf, data, HEADER_BYTES);
        memcpy(buf + KEY_LEN_OFFSET, &key_len, 8);
        memcpy(buf + HEADER_BYTES, key->bytes, key->len);
        memcpy(buf + HEADER_BYTES + key_area, data + HEADER_BYTES, size - HEADER_BYTES);
    } else if (size) {
        memcpy(buf, data, size);
    }
    const char *path = fz_path(2, fz_dir(), "cache");
    fz_write(path, buf, n);
    free(buf);
    mfr_dataset *ds = NULL;
    int rc = mfr_cache_load(path, key, &ds);
    fz_report("fuzz_cache", rc, NULL);
    if (rc == MFR_OK) fz_touch_dataset(ds);
    else if (ds) abort();
    mfr_dataset_destroy(ds);
    return 0;
}
