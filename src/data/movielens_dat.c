/*
 * movielens_dat.c — the MovieLens 1M and 10M layout: "::"-separated .dat
 * files.
 *
 *   ratings.dat  UserID::MovieID::Rating::Timestamp  (1M: 1..5, 10M: 0.5..5)
 *   movies.dat   MovieID::Title::Genres              (genres '|'-separated)
 *   users.dat    UserID::Gender::Age::Occupation::Zip-code   (1M only)
 *
 * Only ratings.dat is required. The text of movies.dat and users.dat is
 * kept when the whole file is valid UTF-8 and read as latin-1 otherwise
 * (ML-1M ships latin-1, later releases UTF-8). A title may itself contain
 * "::" in principle, so a movie line is split at its first and last "::".
 * Occupations are numbers 0..20 whose names come from the ML-1M README.
 * Errors name "path:line" as everywhere else (see loader_priv.h).
 */
#include <inttypes.h>
#include <string.h>

#include "loader_priv.h"

const char *const mfr_ml1m_files[] = {"movies.dat", "users.dat", NULL};

/* The occupations of ML-1M's users.dat, by number (its README). */
static const char *const ml1m_occupations[] = {
    "other or not specified", "academic/educator",    "artist",
    "clerical/admin",         "college/grad student", "customer service",
    "doctor/health care",     "executive/managerial", "farmer",
    "homemaker",              "K-12 student",         "lawyer",
    "programmer",             "retired",              "sales/marketing",
    "scientist",              "self-employed",        "technician/engineer",
    "tradesman/craftsman",    "unemployed",           "writer",
    NULL,
};
#define N_ML1M_OCCUPATIONS 21

/* Finds the first and the last "::" of s[0..n): *a and *b are their
 * offsets; false when there are fewer than two. */
static bool outer_separators(const char *s, size_t n, size_t *a, size_t *b)
{
    size_t k = 0;
    for (; k + 1 < n; k++)
        if (s[k] == ':' && s[k + 1] == ':') break;
    if (k + 1 >= n) return false;
    *a = k;
    for (k = n - 2; k > *a + 1; k--)
        if (s[k] == ':' && s[k + 1] == ':') break;
    if (k <= *a + 1) return false;
    *b = k;
    return true;
}

/* Reads movies.dat when present. */
static int load_movies(struct mfr_loader *ld, mfr_error *err)
{
    struct mfr_text_file f;
    int rc = mfr_text_file_read(ld->dir, "movies.dat", true, &f, err);
    if (rc != MFR_OK || !f.data) goto done;
    enum mfr_encoding enc;
    if ((rc = mfr_detect_encoding(&f, &enc, err)) != MFR_OK) goto done;
    struct mfr_line_iter it = mfr_lines(&f);
    const char *s;
    size_t n;
    while ((rc = mfr_record_next(&it, f.path, &s, &n, err)) == 1) {
        size_t a, b;
        if (!outer_separators(s, n, &a, &b)) {
            rc = mfr_parse_err(err, f.path, it.line,
                               "expected 3 '::'-separated fields (id, title, genres)");
            goto done;
        }
        struct mfr_field id = {s, a}, title = {s + a + 2, b - a - 2},
                         genres = {s + b + 2, n - b - 2};
        int64_t raw;
        struct mfr_item_rec *rec;
        if ((rc = mfr_id_field(f.path, it.line, "item id", id, &raw, err)) != MFR_OK ||
            (rc = mfr_loader_add_item(ld, f.path, it.line, raw, &rec, err)) != MFR_OK ||
            (rc = mfr_text_field(f.path, it.line, "title", title, enc, &rec->meta.title,
                                 err)) != MFR_OK ||
            (rc = mfr_loader_genre_mask(ld, f.path, it.line, genres, enc, &rec->meta.genres,
                                        err)) != MFR_OK)
            goto done;
        rec->meta.year = mfr_year_of((struct mfr_field){"", 0}, title);
    }
    if (rc != 0) goto done;
    rc = mfr_loader_check_items(ld, f.path, err);
    if (rc == MFR_OK) mfr_loader_order_genres(ld);
done:
    mfr_text_file_free(&f);
    return rc;
}

/* Reads users.dat when present. */
static int load_users(struct mfr_loader *ld, mfr_error *err)
{
    struct mfr_text_file f;
    int rc = mfr_text_file_read(ld->dir, "users.dat", true, &f, err);
    if (rc != MFR_OK || !f.data) goto done;
    if ((rc = mfr_loader_set_occupations(ld, ml1m_occupations, err)) != MFR_OK) goto done;
    struct mfr_line_iter it = mfr_lines(&f);
    const char *s;
    size_t n;
    char b[40];
    while ((rc = mfr_record_next(&it, f.path, &s, &n, err)) == 1) {
        struct mfr_field fl[5];
        size_t nf = mfr_split_fields(s, n, "::", 2, fl, 5);
        if (nf != 5) {
            rc = mfr_parse_err(err, f.path, it.line,
                               "expected 5 '::'-separated fields (id, gender, age, "
                               "occupation, zip), got %zu",
                               nf);
            goto done;
        }
        int64_t raw, occ;
        struct mfr_user_rec *rec;
        if ((rc = mfr_id_field(f.path, it.line, "user id", fl[0], &raw, err)) != MFR_OK ||
            (rc = mfr_loader_add_user(ld, f.path, it.line, raw, &rec, err)) != MFR_OK ||
            (rc = mfr_user_fields(f.path, it.line, fl[2], fl[1], fl[4], rec, err)) != MFR_OK)
            goto done;
        if (mfr_parse_u63(fl[3].s, fl[3].n, &occ) != MFR_NUM_OK ||
            occ >= N_ML1M_OCCUPATIONS) {
            rc = mfr_parse_err(err, f.path, it.line,
                               "occupation '%s' is not an integer in 0..%d",
                               mfr_show(fl[3].s, fl[3].n, b), N_ML1M_OCCUPATIONS - 1);
            goto done;
        }
        rec->occ = (int32_t)occ;
    }
    if (rc != 0) goto done;
    rc = mfr_loader_check_users(ld, f.path, err);
done:
    mfr_text_file_free(&f);
    return rc;
}

int mfr_load_ml1m(struct mfr_loader *ld, mfr_error *err)
{
    int rc;
    if ((rc = mfr_loader_read_ratings(ld, "::", MFR_HEADER_NO, err)) != MFR_OK ||
        (rc = load_movies(ld, err)) != MFR_OK || (rc = load_users(ld, err)) != MFR_OK)
        return rc;
    return MFR_OK;
}
