/*
 * movielens_csv.c — the MovieLens 20M / 25M / 32M / latest layout: CSV
 * files with a header line.
 *
 *   ratings.csv  userId,movieId,rating,timestamp   (0.5..5 in half stars)
 *   movies.csv   movieId,title,genres              (genres '|'-separated)
 *
 * Only ratings.csv is required; links.csv, tags.csv and the genome files
 * are not read. In movies.csv a field that contains a comma or a quote is
 * quoted, with "" standing for one quote (RFC 4180); fields never span
 * lines in these releases, so a quote left open at the end of a line is an
 * error. A movie without genres lists "(no genres listed)", which becomes a
 * genre name like any other (a name one edit from a MovieLens genre is
 * refused as a typo: loader.c). Text is kept when the file is valid UTF-8 and
 * read as latin-1 otherwise. Line 1 is a header when its first field is not
 * a number.
 */
#include <inttypes.h>
#include <string.h>

#include "loader_priv.h"

const char *const mfr_csv_files[] = {"movies.csv", NULL};

/*
 * Splits the CSV record s[0..n) into at most `max` fields (the count goes
 * to *nf, counting fields past `max` too). Quoted fields are unescaped into
 * `scratch` (at least n bytes). Returns MFR_OK or a MFR_ERR_PARSE naming
 * path:line and the column.
 */
static int csv_split(const char *path, int64_t line, const char *s, size_t n, char *scratch,
                     struct mfr_field *fl, size_t max, size_t *nf, mfr_error *err)
{
    size_t k = 0, count = 0, used = 0;
    for (;;) {
        struct mfr_field f;
        if (k < n && s[k] == '"') {
            size_t start = used, col = k + 1;
            k++;
            for (;;) {
                if (k >= n)
                    return mfr_parse_err(err, path, line,
                                         "quoted field opened at column %zu is not closed",
                                         col);
                if (s[k] == '"') {
                    if (k + 1 < n && s[k + 1] == '"') {
                        scratch[used++] = '"';
                        k += 2;
                        continue;
                    }
                    k++;
                    break;
                }
                scratch[used++] = s[k++];
            }
            if (k < n && s[k] != ',') {
                /* columns count from 1, as for the opening quote; a
                 * control byte is shown as \xHH, as in every message */
                char b[40];
                return mfr_parse_err(err, path, line,
                                     "unexpected '%s' after the closing quote at column %zu",
                                     mfr_show(s + k, 1, b), k + 1);
            }
            f = (struct mfr_field){scratch + start, used - start};
        } else {
            const char *q = memchr(s + k, ',', n - k);
            size_t e = q ? (size_t)(q - s) : n;
            f = (struct mfr_field){s + k, e - k};
            k = e;
        }
        if (count < max) fl[count] = f;
        count++;
        if (k >= n) break;
        k++; /* the comma */
        if (k == n) { /* a trailing comma: one more, empty field */
            if (count < max) fl[count] = (struct mfr_field){s + n, 0};
            count++;
            break;
        }
    }
    *nf = count;
    return MFR_OK;
}

/* Reads movies.csv when present. */
static int load_movies(struct mfr_loader *ld, mfr_error *err)
{
    struct mfr_text_file f;
    char *scratch = NULL;
    int rc = mfr_text_file_read(ld->dir, "movies.csv", true, &f, err);
    if (rc != MFR_OK || !f.data) goto done;
    enum mfr_encoding enc;
    if ((rc = mfr_detect_encoding(&f, &enc, err)) != MFR_OK) goto done;
    scratch = mfr_malloc(f.size + 1);
    if (!scratch) {
        rc = mfr_nomem(err, "reading movies");
        goto done;
    }
    struct mfr_line_iter it = mfr_lines(&f);
    const char *s;
    size_t n;
    const bool header = mfr_first_line_is_header(&f, ",");
    static const char *const movie_columns[] = {"movie", "title", "genres"};
    if (header && (rc = mfr_check_header(&f, ",", movie_columns, 3, err)) != MFR_OK) goto done;
    if (header) mfr_line_next(&it, &s, &n);
    while ((rc = mfr_record_next(&it, f.path, &s, &n, err)) == 1) {
        struct mfr_field fl[3];
        size_t nf = 0;
        if ((rc = csv_split(f.path, it.line, s, n, scratch, fl, 3, &nf, err)) != MFR_OK)
            goto done;
        if (nf != 3) {
            rc = mfr_parse_err(err, f.path, it.line,
                               "expected 3 comma-separated fields (movieId, title, genres), "
                               "got %zu (quote a title that contains commas)",
                               nf);
            goto done;
        }
        int64_t raw;
        struct mfr_item_rec *rec;
        if ((rc = mfr_id_field(f.path, it.line, "item id", mfr_trim(fl[0]), &raw, err)) !=
                MFR_OK ||
            (rc = mfr_loader_add_item(ld, f.path, it.line, raw, &rec, err)) != MFR_OK ||
            (rc = mfr_text_field(f.path, it.line, "title", fl[1], enc, &rec->meta.title,
                                 err)) != MFR_OK ||
            (rc = mfr_loader_genre_mask(ld, f.path, it.line, fl[2], enc, &rec->meta.genres,
                                        err)) != MFR_OK)
            goto done;
        rec->meta.year = mfr_year_of((struct mfr_field){"", 0}, fl[1]);
    }
    if (rc != 0) goto done;
    /* a header alone, named on its own line, as for ratings.csv */
    if (header && ld->n_item_recs == 0) {
        rc = mfr_parse_err(err, f.path, 1, "the file holds its header alone (no items)");
        goto done;
    }
    rc = mfr_loader_check_items(ld, f.path, err);
    if (rc == MFR_OK) mfr_loader_order_genres(ld);
done:
    free(scratch);
    mfr_text_file_free(&f);
    return rc;
}

int mfr_load_csv(struct mfr_loader *ld, mfr_error *err)
{
    int rc;
    if ((rc = mfr_loader_read_ratings(ld, ",", MFR_HEADER_AUTO, err)) != MFR_OK ||
        (rc = load_movies(ld, err)) != MFR_OK)
        return rc;
    return MFR_OK;
}
