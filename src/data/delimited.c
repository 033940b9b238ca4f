/*
 * delimited.c — the generic rating format: one file of
 * "user SEP item SEP rating [SEP timestamp]" lines, with any ids (positive
 * integers up to INT64_MAX, remapped densely like every format) and no
 * metadata. The separator is the caller's (mfr_load_options.sep) or is
 * detected from line 1; line 1 is a header when the options say so or,
 * by default, when its first field is not an integer. Spaces around fields
 * are ignored unless the separator is a space. With the default rating
 * range every finite rating is accepted (dataset.c records the range read).
 */
#include <string.h>

#include "loader_priv.h"

char mfr_detect_separator(const struct mfr_text_file *f)
{
    static const char candidates[] = {'\t', ',', ';', '|', ' '};
    struct mfr_line_iter it = mfr_lines(f);
    const char *s;
    size_t n;
    if (!mfr_line_next(&it, &s, &n)) return 0;
    for (size_t k = 0; k < sizeof candidates; k++)
        if (memchr(s, candidates[k], n)) return candidates[k];
    return 0;
}

int mfr_load_delimited(struct mfr_loader *ld, mfr_error *err)
{
    char sep[2] = {ld->opt.sep, '\0'};
    return mfr_loader_read_ratings(ld, ld->opt.sep ? sep : NULL, ld->opt.header, err);
}
