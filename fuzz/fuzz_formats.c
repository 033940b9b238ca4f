/*
 * fuzz_formats.c — the dataset loaders of the three MovieLens layouts, one
 * file at a time beside valid others. Built three times (meson passes
 * -DFZ_FORMAT=...): fuzz_ml100k (u.data, u.item, u.user, u.genre,
 * u.occupation), fuzz_ml1m (ratings.dat, movies.dat, users.dat, the "::"
 * format) and fuzz_csv (ratings.csv, movies.csv).
 *
 * Input: byte 0 picks the file (modulo the number of files); the rest is
 * that file's contents.
 */
#include <stdlib.h>

#include "fuzz.h"

#define FZ_ML100K 1
#define FZ_ML1M 2
#define FZ_CSV 3

static struct fz_fileset *files(int32_t *format)
{
    static struct fz_fileset s;
    static bool ready;
    const char *dir = fz_path(1, fz_dir(), "data");
#if FZ_FORMAT == FZ_ML100K
    static const char *const ml100k_names[] = {"u.data", "u.item", "u.user", "u.genre",
                                               "u.occupation"};
    *format = MFR_FORMAT_ML100K;
    if (!ready) {
        fz_fixture_dataset(dir);
        fz_fileset_adopt(&s, dir, 5, ml100k_names);
    }
#elif FZ_FORMAT == FZ_ML1M
    *format = MFR_FORMAT_ML1M;
    if (!ready) fz_fileset_init(&s, dir, 3, fz_ml1m_names, fz_ml1m_text);
#elif FZ_FORMAT == FZ_CSV
    *format = MFR_FORMAT_CSV;
    if (!ready) fz_fileset_init(&s, dir, 2, fz_csv_names, fz_csv_text);
#else
#error "FZ_FORMAT must be FZ_ML100K, FZ_ML1M or FZ_CSV"
#endif
    ready = true;
    return &s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int32_t format;
    struct fz_fileset *s = files(&format);
    fz_fileset_put(s, data[0] % s->n, data + 1, size - 1);
    mfr_load_options opt = fz_load_options(format);
    mfr_dataset *ds = NULL;
    mfr_error err = {0};
    int rc = mfr_dataset_load(s->dir, &opt, &ds, &err);
    fz_report("fuzz_formats", rc, &err);
    if (rc == MFR_OK) fz_touch_dataset(ds);
    else if (ds || err.message[0] == '\0') abort(); /* a failure must explain itself */
    mfr_dataset_destroy(ds);
    return 0;
}
