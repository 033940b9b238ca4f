/*
 * fuzz_delimited.c — the generic delimited rating file
 * ("user SEP item SEP rating [SEP timestamp]") with every separator and
 * header option.
 *
 * Input: byte 0 picks the options (bits 0-2 the separator: detect, tab,
 * ',', ';', '|', ' ', ':', 'x'; bits 3-4 the header: auto, yes, no, auto;
 * bit 5 a fixed rating range 0..10 instead of the file's own); the rest is
 * the file.
 */
#include <stdlib.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char seps[8] = {0, '\t', ',', ';', '|', ' ', ':', 'x'};
    static const int32_t headers[4] = {MFR_HEADER_AUTO, MFR_HEADER_YES, MFR_HEADER_NO,
                                       MFR_HEADER_AUTO};
    if (size < 1) return 0;
    const char *dir = fz_dir();
    fz_write(fz_path(1, dir, "ratings.txt"), data + 1, size - 1);
    mfr_load_options opt = fz_load_options(MFR_FORMAT_DELIMITED);
    opt.sep = seps[data[0] & 7];
    opt.header = headers[(data[0] >> 3) & 3];
    if (data[0] & 32) {
        opt.min_rating = 0;
        opt.max_rating = 10;
    }
    opt.ratings_file = "ratings.txt";
    mfr_dataset *ds = NULL;
    mfr_error err = {0};
    int rc = mfr_dataset_load(dir, &opt, &ds, &err);
    fz_report("fuzz_delimited", rc, &err);
    if (rc == MFR_OK) fz_touch_dataset(ds);
    else if (ds || err.message[0] == '\0') abort();
    mfr_dataset_destroy(ds);
    return 0;
}
