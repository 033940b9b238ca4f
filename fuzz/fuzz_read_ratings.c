/*
 * fuzz_read_ratings.c — mfr_dataset_read_ratings, the reader of held-out
 * rating files (canonical split files, `eval --test`), which maps raw ids
 * through a loaded dataset and follows its syntax.
 *
 * Input: byte 0 picks the dataset (modulo 4): the synthetic ML-100K one, the
 * ML-1M ("::") and CSV fixtures, or a ';'-delimited one; the rest is the
 * rating file.
 */
#include <stdlib.h>

#include "fuzz.h"

static const mfr_dataset *dataset(int which)
{
    static mfr_dataset *ds[4];
    if (ds[which]) return ds[which];
    const char *names[] = {"ml100k", "ml1m", "csv", "delim"};
    const char *dir = fz_path(1, fz_dir(), names[which]);
    struct fz_fileset s = {.n = 0};
    mfr_load_options opt = fz_load_options(MFR_FORMAT_AUTO);
    if (which == 0) fz_fixture_dataset(dir);
    if (which == 1) fz_fileset_init(&s, dir, 3, fz_ml1m_names, fz_ml1m_text);
    if (which == 2) fz_fileset_init(&s, dir, 2, fz_csv_names, fz_csv_text);
    if (which == 3) {
        const char *const name[] = {"r.txt"}, *const text[] = {"u;i;r\n5;7;2.5\n5;9;1\n6;7;4\n"};
        fz_fileset_init(&s, dir, 1, name, text);
        opt.format = MFR_FORMAT_DELIMITED;
        opt.ratings_file = "r.txt";
    }
    mfr_error err = {0};
    if (mfr_dataset_load(dir, &opt, &ds[which], &err) != MFR_OK) fz_fail("fixture", &err);
    fz_fileset_free(&s);
    return ds[which];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const mfr_dataset *ds = dataset(data[0] % 4);
    const char *path = fz_path(2, fz_dir(), "held-out.data");
    fz_write(path, data + 1, size - 1);
    mfr_ratings *r = NULL;
    mfr_error err = {0};
    int rc = mfr_dataset_read_ratings(ds, path, &r, &err);
    fz_report("fuzz_read_ratings", rc, &err);
    if (rc == MFR_OK) {
        for (int64_t k = 0; k < mfr_ratings_count(r); k++) {
            int32_t u, i;
            if (mfr_ratings_get(r, k, &u, &i, NULL, NULL, NULL) != MFR_OK || u < 0 ||
                u >= mfr_dataset_n_users(ds) || i < 0 || i >= mfr_dataset_n_items(ds))
                abort();
        }
    } else if (r || err.message[0] == '\0') {
        abort();
    }
    mfr_ratings_destroy(r);
    return 0;
}
