/*
 * movielens.c — the MovieLens 100K layout: u.data (tab separated ratings),
 * u.genre, u.occupation, u.item and u.user (pipe separated; each file's
 * text is kept when the whole file is valid UTF-8 and read as latin-1,
 * converted to UTF-8, otherwise: mfr_detect_encoding, as for movies.dat).
 * The shared machinery (rating parser, id maps, duplicate checks,
 * renumbering) is in loader.c and parse.c; the public load entry point and
 * the accessors are in dataset.c.
 *
 * Input is never trusted: every malformed line is a MFR_ERR_PARSE whose
 * message starts with "PATH:LINE: " (1-based), and a missing or unreadable
 * file is MFR_ERR_IO. Only u.data is required; u.item and u.user add ids
 * to the union that defines the dense indices.
 */
#include <inttypes.h>
#include <string.h>
#include <strings.h>

#include "loader_priv.h"

/* The 19 genres of ML-100K, used when u.genre is absent. */
static const char *const default_genres[] = {
    "unknown",     "Action", "Adventure", "Animation", "Children's", "Comedy",  "Crime",
    "Documentary", "Drama",  "Fantasy",   "Film-Noir", "Horror",     "Musical", "Mystery",
    "Romance",     "Sci-Fi", "Thriller",  "War",       "Western",
};
#define N_DEFAULT_GENRES ((int32_t)(sizeof default_genres / sizeof *default_genres))
#define ITEM_FIXED_FIELDS 5

const char *const mfr_ml100k_files[] = {"u.genre", "u.occupation", "u.item", "u.user", NULL};

/* Reads u.genre ("name|index" lines, blank lines ignored), or installs the
 * ML-100K names when it is absent. Indices must be exactly 0..n-1. */
static int load_genres(struct mfr_loader *ld, mfr_error *err)
{
    struct mfr_text_file f;
    int rc = mfr_text_file_read(ld->dir, "u.genre", true, &f, err);
    if (rc != MFR_OK) goto done;
    ld->genres = mfr_calloc(MFR_MAX_GENRES, sizeof *ld->genres);
    if (!ld->genres) {
        rc = mfr_nomem(err, "reading genres");
        goto done;
    }
    if (!f.data) {
        ld->n_genres = N_DEFAULT_GENRES;
        for (int32_t g = 0; g < N_DEFAULT_GENRES; g++) {
            ld->genres[g] = mfr_strdup(default_genres[g]);
            if (!ld->genres[g]) {
                rc = mfr_nomem(err, "reading genres");
                goto done;
            }
        }
        goto done;
    }
    enum mfr_encoding enc;
    if ((rc = mfr_detect_encoding(&f, &enc, err)) != MFR_OK) goto done;
    int64_t line_of[MFR_MAX_GENRES] = {0};
    int32_t n = 0;
    struct mfr_line_iter it = mfr_lines(&f);
    const char *s;
    size_t len;
    char b[40];
    /* blank lines only at the end (the canonical file ends with one) */
    while ((rc = mfr_record_next(&it, f.path, &s, &len, err)) == 1) {
        rc = MFR_OK;
        struct mfr_field fl[2];
        size_t nf = mfr_split_fields(s, len, "|", 1, fl, 2);
        if (nf != 2) {
            rc = mfr_parse_err(err, f.path, it.line,
                               "expected 2 '|'-separated fields (name, index), got %zu", nf);
            goto done;
        }
        int64_t g;
        if (mfr_parse_u63(fl[1].s, fl[1].n, &g) != MFR_NUM_OK || g >= MFR_MAX_GENRES) {
            rc = mfr_parse_err(err, f.path, it.line,
                               "genre index '%s' is not an integer in 0..%d",
                               mfr_show(fl[1].s, fl[1].n, b), MFR_MAX_GENRES - 1);
            goto done;
        }
        if (line_of[g]) {
            rc = mfr_parse_err(err, f.path, it.line,
                               "duplicate genre index %" PRId64 " (first on line %" PRId64 ")",
                               g, line_of[g]);
            goto done;
        }
        if (fl[0].n == 0) {
            rc = mfr_parse_err(err, f.path, it.line, "empty genre name");
            goto done;
        }
        if ((rc = mfr_text_field(f.path, it.line, "genre name", fl[0], enc,
                                 &ld->genres[g], err)) != MFR_OK)
            goto done;
        /* A name twice: two columns nobody can tell apart, also when only
         * the case differs (`project --genre` ignores case). */
        for (int32_t h = 0; h < MFR_MAX_GENRES; h++)
            if (line_of[h] && !strcasecmp(ld->genres[h], ld->genres[g])) {
                rc = strcmp(ld->genres[h], ld->genres[g])
                         ? mfr_loader_genre_case_error(err, f.path, it.line, ld->genres[g], ld->genres[h], line_of[h])
                         : mfr_parse_err(err, f.path, it.line, "duplicate genre name '%s' (first on line %" PRId64 ")",
                                         mfr_show(ld->genres[g], strlen(ld->genres[g]), b), line_of[h]);
                goto done;
            }
        line_of[g] = it.line;
        if (g + 1 > n) n = (int32_t)g + 1;
    }
    if (rc != MFR_OK) goto done;
    if (n == 0) {
        rc = mfr_parse_err(err, f.path, 1, "file is empty (no genres)");
        goto done;
    }
    for (int32_t g = 0; g < n; g++) {
        if (!line_of[g]) {
            rc = mfr_seterr(err, MFR_ERR_PARSE,
                            "%s: genre index %" PRId32
                            " is missing (indices must be 0..%" PRId32 ")",
                            f.path, g, n - 1);
            goto done;
        }
    }
    ld->n_genres = n;
    ld->genres_from_file = true;
done:
    mfr_text_file_free(&f);
    return rc;
}

struct name_idx {
    const char *name;
    int32_t idx;
};

static int cmp_name_idx(const void *a, const void *b)
{
    return strcmp(((const struct name_idx *)a)->name, ((const struct name_idx *)b)->name);
}

/* Reads u.occupation (one name per line, blank lines only at the end)
 * when present. */
static int load_occupations(struct mfr_loader *ld, mfr_error *err)
{
    struct mfr_text_file f;
    struct name_idx *sorted = NULL;
    int rc = mfr_text_file_read(ld->dir, "u.occupation", true, &f, err);
    if (rc != MFR_OK || !f.data) goto done;
    enum mfr_encoding enc;
    if ((rc = mfr_detect_encoding(&f, &enc, err)) != MFR_OK) goto done;
    size_t cap = mfr_count_lines(&f);
    if (cap > INT32_MAX) {
        rc = mfr_seterr(err, MFR_ERR_TOO_LARGE, "%s: too many lines", f.path);
        goto done;
    }
    ld->occs = mfr_calloc(cap, sizeof *ld->occs);
    int64_t *line_of = mfr_calloc(cap, sizeof *line_of);
    if (!ld->occs || !line_of) {
        free(line_of);
        rc = mfr_nomem(err, "reading occupations");
        goto done;
    }
    struct mfr_line_iter it = mfr_lines(&f);
    const char *s;
    size_t len;
    while ((rc = mfr_record_next(&it, f.path, &s, &len, err)) == 1) {
        rc = mfr_text_field(f.path, it.line, "occupation", (struct mfr_field){s, len},
                            enc, &ld->occs[ld->n_occs], err);
        if (rc != MFR_OK) break;
        line_of[ld->n_occs++] = it.line;
    }
    if (rc == MFR_OK && ld->n_occs == 0)
        rc = mfr_parse_err(err, f.path, 1, "file is empty (no occupations)");
    if (rc == MFR_OK) {
        sorted = mfr_malloc((size_t)ld->n_occs * sizeof *sorted);
        if (!sorted) rc = mfr_nomem(err, "reading occupations");
    }
    if (rc == MFR_OK) {
        for (int32_t k = 0; k < ld->n_occs; k++)
            sorted[k] = (struct name_idx){ld->occs[k], k};
        qsort(sorted, (size_t)ld->n_occs, sizeof *sorted, cmp_name_idx);
        for (int32_t k = 1; k < ld->n_occs; k++) {
            if (strcmp(sorted[k - 1].name, sorted[k].name) != 0) continue;
            int32_t a = sorted[k - 1].idx, c = sorted[k].idx;
            int32_t lo = a < c ? a : c, hi = a < c ? c : a;
            char b[40];
            rc = mfr_parse_err(err, f.path, line_of[hi],
                               "duplicate occupation '%s' (first on line %" PRId64 ")",
                               mfr_show(ld->occs[hi], strlen(ld->occs[hi]), b), line_of[lo]);
            break;
        }
    }
    free(line_of);
done:
    free(sorted);
    mfr_text_file_free(&f);
    return rc;
}

/* u.item's release date: empty (an unknown date, as for movie 267 of the
 * canonical file) or D-Mon-YYYY with a day of that month ("4-Feb-1971",
 * "01-Jan-1995"), a year 1800..2199. MFR_OK or MFR_ERR_PARSE naming it. */
static int check_release_date(const char *path, int64_t line, struct mfr_field d, mfr_error *err)
{
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    static const int days[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (d.n == 0) return MFR_OK;
    const char *dash = memchr(d.s, '-', d.n);
    size_t dl = dash ? (size_t)(dash - d.s) : 0;
    int64_t day = 0, year = 0;
    int m = 12;
    if (dash && (dl == 1 || dl == 2) && d.n == dl + 9 && dash[4] == '-' &&
        mfr_parse_u63(d.s, dl, &day) == MFR_NUM_OK &&
        mfr_parse_u63(dash + 5, 4, &year) == MFR_NUM_OK)
        for (m = 0; m < 12 && memcmp(dash + 1, months[m], 3) != 0; m++) continue;
    const bool leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    if (m < 12 && day >= 1 && day <= days[m] - (m == 1 && !leap) && year >= 1800 && year <= 2199)
        return MFR_OK;
    char b[40];
    return mfr_parse_err(err, path, line,
                         "release date '%s' is not a date like 01-Jan-1995 (day-month-year, the "
                         "month's English abbreviation, a year 1800..2199) or empty",
                         mfr_show(d.s, d.n, b));
}

/* Reads u.item when present: "id|title|date|video date|URL|flags...". */
static int load_items(struct mfr_loader *ld, mfr_error *err)
{
    struct mfr_text_file f;
    int rc = mfr_text_file_read(ld->dir, "u.item", true, &f, err);
    if (rc != MFR_OK || !f.data) goto done;
    enum mfr_encoding enc;
    if ((rc = mfr_detect_encoding(&f, &enc, err)) != MFR_OK) goto done;
    size_t want = ITEM_FIXED_FIELDS + (size_t)ld->n_genres;
    struct mfr_line_iter it = mfr_lines(&f);
    const char *s;
    size_t len;
    char b[40];
    while ((rc = mfr_record_next(&it, f.path, &s, &len, err)) == 1) {
        struct mfr_field fl[ITEM_FIXED_FIELDS + MFR_MAX_GENRES];
        size_t nf = mfr_split_fields(s, len, "|", 1, fl, ITEM_FIXED_FIELDS + MFR_MAX_GENRES);
        if (nf != want) {
            /* the genre columns' count is u.genre's: either file may be the wrong one */
            rc = mfr_parse_err(err, f.path, it.line,
                               "expected %zu '|'-separated fields (%d, then a flag for each genre: %s "
                               "lists %d), got %zu",
                               want, ITEM_FIXED_FIELDS,
                               ld->genres_from_file ? "u.genre" : "the default list (no u.genre)",
                               (int)ld->n_genres, nf);
            goto done;
        }
        int64_t raw;
        struct mfr_item_rec *rec;
        if ((rc = mfr_id_field(f.path, it.line, "item id", fl[0], &raw, err)) != MFR_OK ||
            (rc = mfr_loader_add_item(ld, f.path, it.line, raw, &rec, err)) != MFR_OK ||
            (rc = check_release_date(f.path, it.line, fl[2], err)) != MFR_OK ||
            (rc = mfr_text_field(f.path, it.line, "title", fl[1], enc,
                                 &rec->meta.title, err)) != MFR_OK ||
            (rc = mfr_text_field(f.path, it.line, "release date", fl[2], enc,
                                 &rec->meta.date, err)) != MFR_OK)
            goto done;
        rec->meta.year = mfr_year_of(fl[2], fl[1]);
        for (int32_t g = 0; g < ld->n_genres; g++) {
            struct mfr_field x = fl[ITEM_FIXED_FIELDS + g];
            if (x.n != 1 || (x.s[0] != '0' && x.s[0] != '1')) {
                rc = mfr_parse_err(err, f.path, it.line,
                                   "genre flag %" PRId32 " (%s) is '%s', expected 0 or 1", g,
                                   ld->genres[g], mfr_show(x.s, x.n, b));
                goto done;
            }
            if (x.s[0] == '1') rec->meta.genres |= UINT32_C(1) << g;
        }
    }
    if (rc < 0) goto done; /* a blank line before the end */
    rc = mfr_loader_check_items(ld, f.path, err);
done:
    mfr_text_file_free(&f);
    return rc;
}

/* Index of occupation `name` in ld->occs via the sorted table, or -1. */
static int32_t find_occupation(const struct name_idx *sorted, int32_t n, const char *name)
{
    int32_t lo = 0, hi = n;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        int c = strcmp(sorted[mid].name, name);
        if (c == 0) return sorted[mid].idx;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/*
 * Resolves the users' occupation names to indices. With u.occupation every
 * name must be listed there; without it the list is the sorted set of names
 * u.user uses.
 */
static int resolve_occupations(struct mfr_loader *ld, const char *path, mfr_error *err)
{
    int rc = MFR_OK;
    size_t n = ld->n_user_recs;
    struct name_idx *sorted = mfr_malloc((n + (size_t)ld->n_occs + 1) * sizeof *sorted);
    if (!sorted) return mfr_nomem(err, "resolving occupations");
    if (!ld->occs) { /* no u.occupation */
        /* Collect the distinct names; ownership moves to ld->occs. */
        size_t m = 0;
        for (size_t k = 0; k < n; k++)
            if (ld->user_recs[k].occupation)
                sorted[m++] = (struct name_idx){ld->user_recs[k].occupation, 0};
        qsort(sorted, m, sizeof *sorted, cmp_name_idx);
        size_t u = 0;
        for (size_t k = 0; k < m; k++)
            if (u == 0 || strcmp(sorted[u - 1].name, sorted[k].name) != 0)
                sorted[u++] = sorted[k];
        ld->occs = mfr_calloc(u + 1, sizeof *ld->occs);
        if (!ld->occs) {
            rc = mfr_nomem(err, "resolving occupations");
            goto done;
        }
        for (size_t k = 0; k < u; k++) {
            ld->occs[k] = mfr_strdup(sorted[k].name);
            if (!ld->occs[k]) {
                rc = mfr_nomem(err, "resolving occupations");
                goto done;
            }
            ld->n_occs = (int32_t)k + 1;
        }
    }
    for (int32_t k = 0; k < ld->n_occs; k++) sorted[k] = (struct name_idx){ld->occs[k], k};
    qsort(sorted, (size_t)ld->n_occs, sizeof *sorted, cmp_name_idx);
    for (size_t k = 0; k < n; k++) {
        struct mfr_user_rec *rec = &ld->user_recs[k];
        rec->occ = -1;
        if (!rec->occupation) continue;
        rec->occ = find_occupation(sorted, ld->n_occs, rec->occupation);
        if (rec->occ < 0) {
            char b[40];
            rc = mfr_parse_err(err, path, rec->head.line,
                               "occupation '%s' is not listed in u.occupation",
                               mfr_show(rec->occupation, strlen(rec->occupation), b));
            goto done;
        }
    }
done:
    free(sorted);
    return rc;
}

/* Reads u.user when present: "id|age|sex|occupation|zip", and resolves
 * the occupation names. */
static int load_users(struct mfr_loader *ld, mfr_error *err)
{
    struct mfr_text_file f;
    int rc = mfr_text_file_read(ld->dir, "u.user", true, &f, err);
    if (rc != MFR_OK || !f.data) goto done;
    enum mfr_encoding enc;
    if ((rc = mfr_detect_encoding(&f, &enc, err)) != MFR_OK) goto done;
    struct mfr_line_iter it = mfr_lines(&f);
    const char *s;
    size_t len;
    while ((rc = mfr_record_next(&it, f.path, &s, &len, err)) == 1) {
        struct mfr_field fl[5];
        size_t nf = mfr_split_fields(s, len, "|", 1, fl, 5);
        if (nf != 5) {
            rc = mfr_parse_err(
                err, f.path, it.line,
                "expected 5 '|'-separated fields (id, age, sex, occupation, zip), got %zu",
                nf);
            goto done;
        }
        int64_t raw;
        struct mfr_user_rec *rec;
        if ((rc = mfr_id_field(f.path, it.line, "user id", fl[0], &raw, err)) != MFR_OK ||
            (rc = mfr_loader_add_user(ld, f.path, it.line, raw, &rec, err)) != MFR_OK ||
            (rc = mfr_user_fields(f.path, it.line, fl[1], fl[2], fl[4], rec, err)) != MFR_OK)
            goto done;
        if (fl[3].n && (rc = mfr_text_field(f.path, it.line, "occupation", fl[3],
                                            enc, &rec->occupation, err)) != MFR_OK)
            goto done;
    }
    if (rc < 0) goto done; /* a blank line before the end */
    rc = mfr_loader_check_users(ld, f.path, err);
    if (rc == MFR_OK) rc = resolve_occupations(ld, f.path, err);
done:
    mfr_text_file_free(&f);
    return rc;
}

int mfr_load_ml100k(struct mfr_loader *ld, mfr_error *err)
{
    int rc;
    if ((rc = mfr_loader_read_ratings(ld, "\t", MFR_HEADER_NO, err)) != MFR_OK ||
        (rc = load_genres(ld, err)) != MFR_OK || (rc = load_occupations(ld, err)) != MFR_OK ||
        (rc = load_items(ld, err)) != MFR_OK || (rc = load_users(ld, err)) != MFR_OK)
        return rc;
    return MFR_OK;
}
