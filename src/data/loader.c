/*
 * loader.c — the parts of loading a dataset that do not depend on the file
 * format (see loader_priv.h): parsing separated rating files, duplicate
 * detection, metadata records, the genre list of the .dat/.csv formats,
 * the final dense renumbering and the dataset fingerprint.
 *
 * DESIGN
 *
 * Dense indices. Raw ids are positive int64 values; dense user (item)
 * indices are 0.. in ascending raw-id order over the union of the ids seen
 * in the rating file and the user (item) metadata file. While the files are
 * parsed, each new raw id gets a provisional index (first-appearance order)
 * from a hash map (struct mfr_id_map), and ratings and records store
 * provisional indices. Once every file is read, the distinct ids are
 * sorted, and the ratings and metadata are renumbered in place. Looking a
 * raw id up in a finished dataset is a binary search over the sorted ids.
 *
 * Duplicates. A (user, item) pair rated twice is found without hashing
 * pairs: the rating indices are bucketed by user (a stable counting sort),
 * then each bucket marks its items in an array indexed by item. The error
 * reported is the duplicate whose second line comes first in the file, so
 * the message is the same on every run.
 *
 * Ownership. The loader owns what it collects until mfr_loader_finish moves
 * it into the dataset (setting the loader's pointers to NULL), so that
 * mfr_loader_free is always safe and frees exactly what was not moved.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "loader_priv.h"

/* ------------------------------------------------------------------ */
/* Rating files                                                         */
/* ------------------------------------------------------------------ */

/* "tab", "space", or the separator in quotes, for messages. */
static const char *sep_name(const char *sep, char *buf)
{
    if (!strcmp(sep, "\t")) return "tab";
    if (!strcmp(sep, " ")) return "space";
    snprintf(buf, 8, "'%s'", sep);
    return buf;
}

static int map_id(const struct mfr_rating_ids *ids, bool user, const char *path,
                  int64_t line, int64_t raw, int32_t *idx, mfr_error *err)
{
    const char *what = user ? "user" : "item";
    if (ids->ds) {
        *idx = user ? mfr_find_id(ids->ds->user_ids, ids->ds->n_users, raw)
                    : mfr_find_id(ids->ds->item_ids, ids->ds->n_items, raw);
        if (*idx < 0)
            return mfr_parse_err(err, path, line, "unknown %s id %" PRId64, what, raw);
        return MFR_OK;
    }
    int rc = mfr_id_map_get_or_add(user ? ids->users : ids->items, raw, idx);
    return rc == MFR_OK ? rc : mfr_id_map_err(rc, err, path, what);
}

int mfr_parse_ratings(const struct mfr_text_file *f, const struct mfr_rating_syntax *syn,
                      const struct mfr_rating_ids *ids, float min_r, float max_r,
                      mfr_ratings **out, mfr_error *err)
{
    *out = NULL;
    size_t lines = mfr_count_lines(f);
    if (lines > INT64_MAX)
        return mfr_seterr(err, MFR_ERR_TOO_LARGE, "%s: too many lines", f->path);
    mfr_ratings *r = NULL;
    int rc = mfr_ratings_alloc((int64_t)lines, &r, err);
    if (rc != MFR_OK) return rc;

    const size_t sep_len = strlen(syn->sep);
    struct mfr_line_iter it = mfr_lines(f);
    const char *s;
    size_t n;
    int64_t count = 0;
    char b[40], sb[8];
    if (syn->header && !mfr_line_next(&it, &s, &n)) {
        rc = mfr_parse_err(err, f->path, 1, "file is empty (no ratings)");
        goto fail;
    }
    while ((rc = mfr_record_next(&it, f->path, &s, &n, err)) == 1) {
        struct mfr_field fl[5];
        size_t nf = mfr_split_fields(s, n, syn->sep, sep_len, fl, 5);
        if (nf < 3 || nf > 4) {
            rc = mfr_parse_err(err, f->path, it.line,
                               "expected 3 or 4 %s-separated fields (user, item, rating, "
                               "timestamp), got %zu",
                               sep_name(syn->sep, sb), nf);
            goto fail;
        }
        if (syn->trim)
            for (size_t k = 0; k < nf; k++) fl[k] = mfr_trim(fl[k]);
        int64_t uid, iid, ts = 0;
        float v;
        if ((rc = mfr_id_field(f->path, it.line, "user id", fl[0], &uid, err)) != MFR_OK ||
            (rc = mfr_id_field(f->path, it.line, "item id", fl[1], &iid, err)) != MFR_OK)
            goto fail;
        enum mfr_num st = mfr_parse_float(fl[2].s, fl[2].n, &v);
        if (st != MFR_NUM_OK) {
            rc = mfr_parse_err(err, f->path, it.line,
                               st == MFR_NUM_RANGE ? "rating %s is out of float range"
                                                   : "rating '%s' is not a number",
                               mfr_show(fl[2].s, fl[2].n, b));
            goto fail;
        }
        if (!(v >= min_r && v <= max_r)) {
            rc = mfr_parse_err(err, f->path, it.line, "rating %s outside %g..%g",
                               mfr_show(fl[2].s, fl[2].n, b), (double)min_r, (double)max_r);
            goto fail;
        }
        if (nf == 4 && (st = mfr_parse_i64(fl[3].s, fl[3].n, &ts)) != MFR_NUM_OK) {
            rc = mfr_parse_err(err, f->path, it.line,
                               st == MFR_NUM_RANGE ? "timestamp %s does not fit in int64"
                                                   : "timestamp '%s' is not an integer",
                               mfr_show(fl[3].s, fl[3].n, b));
            goto fail;
        }
        int32_t u, i;
        if ((rc = map_id(ids, true, f->path, it.line, uid, &u, err)) != MFR_OK ||
            (rc = map_id(ids, false, f->path, it.line, iid, &i, err)) != MFR_OK)
            goto fail;
        r->user[count] = u;
        r->item[count] = i;
        r->rating[count] = v;
        r->ts[count] = ts;
        count++;
    }
    if (rc < 0) goto fail; /* a blank line before the end */
    if (count == 0) {
        rc = mfr_parse_err(err, f->path, 1 + syn->header, "file is empty (no ratings)");
        goto fail;
    }
    r->n = count;
    *out = r;
    return MFR_OK;

fail:
    mfr_ratings_destroy(r);
    return rc;
}

bool mfr_first_line_is_header(const struct mfr_text_file *f, const char *sep)
{
    struct mfr_line_iter it = mfr_lines(f);
    const char *s;
    size_t n;
    if (!mfr_line_next(&it, &s, &n) || n == 0) return false;
    struct mfr_field fl[1];
    mfr_split_fields(s, n, sep, strlen(sep), fl, 1);
    /* A header names its columns: its first field starts with a letter
     * (userId, user_id, "user"). A first line that merely fails to parse
     * ("1x,2,5" or a stray byte) is data and gets its file:line error
     * instead of being dropped with its rating. */
    struct mfr_field first = mfr_trim(fl[0]);
    size_t at = first.n > 0 && first.s[0] == '"' ? 1 : 0;
    return first.n > at && isalpha((unsigned char)first.s[at]);
}

/*
 * Looks for a (user, item) pair rated twice in r (indices below n_users,
 * n_items). On MFR_OK, *second is the smallest index of a rating that
 * repeats an earlier pair and *first the index of that pair's first rating,
 * or *second is -1 when every pair is unique. Returns MFR_ERR_NOMEM when the
 * scratch arrays cannot be allocated.
 */
static int find_duplicate(const mfr_ratings *r, int32_t n_users, int32_t n_items,
                          int64_t *first, int64_t *second)
{
    *first = *second = -1;
    int64_t n = r->n;
    int64_t *start = mfr_calloc((size_t)n_users + 1, sizeof *start);
    int64_t *order = mfr_malloc((size_t)(n ? n : 1) * sizeof *order);
    int32_t *mark = mfr_malloc(((size_t)n_items + 1) * sizeof *mark);
    int64_t *where = mfr_malloc(((size_t)n_items + 1) * sizeof *where);
    int rc = MFR_ERR_NOMEM;
    if (!start || !order || !mark || !where) goto done;

    /* Stable counting sort of rating indices by user. */
    for (int64_t k = 0; k < n; k++) start[r->user[k] + 1]++;
    for (int32_t u = 0; u < n_users; u++) start[u + 1] += start[u];
    for (int64_t k = 0; k < n; k++) order[start[r->user[k]]++] = k;
    /* start[u] is now the end of bucket u, i.e. the start of bucket u + 1. */
    for (int32_t i = 0; i < n_items; i++) mark[i] = -1;
    int64_t begin = 0;
    for (int32_t u = 0; u < n_users; u++) {
        int64_t end = start[u];
        for (int64_t k = begin; k < end; k++) {
            int64_t idx = order[k];
            int32_t i = r->item[idx];
            if (mark[i] != u) {
                mark[i] = u;
                where[i] = idx;
            } else if (*second < 0 || idx < *second) {
                *second = idx;
                *first = where[i];
            }
        }
        begin = end;
    }
    rc = MFR_OK;
done:
    free(start);
    free(order);
    free(mark);
    free(where);
    return rc;
}

int mfr_check_duplicates(const char *path, const mfr_ratings *r, int32_t n_users,
                         int32_t n_items, const int64_t *user_raw, const int64_t *item_raw,
                         int64_t first_line, mfr_error *err)
{
    int64_t first, second;
    if (find_duplicate(r, n_users, n_items, &first, &second) != MFR_OK)
        return mfr_nomem(err, "checking for duplicate ratings");
    if (second < 0) return MFR_OK;
    return mfr_parse_err(err, path, second + first_line,
                         "duplicate rating for user %" PRId64 " and item %" PRId64
                         " (first on line %" PRId64 ")",
                         user_raw[r->user[second]], item_raw[r->item[second]],
                         first + first_line);
}

int mfr_loader_read_ratings(struct mfr_loader *ld, const char *sep, int32_t header,
                            mfr_error *err)
{
    struct mfr_text_file f;
    int rc = mfr_text_file_read(ld->dir, ld->ratings_name, false, &f, err);
    if (rc != MFR_OK) return rc;
    struct mfr_rating_syntax syn = {0};
    if (sep) {
        memcpy(syn.sep, sep, strlen(sep) + 1);
    } else if ((syn.sep[0] = mfr_detect_separator(&f)) == 0) {
        rc = mfr_parse_err(err, f.path, 1,
                           "cannot detect the separator (none of tab ',' ';' '|' space "
                           "occurs); give it explicitly");
        goto done;
    }
    syn.header = header == MFR_HEADER_YES ||
                 (header == MFR_HEADER_AUTO && mfr_first_line_is_header(&f, syn.sep));
    syn.trim = (ld->opt.format == MFR_FORMAT_CSV || ld->opt.format == MFR_FORMAT_DELIMITED) &&
               syn.sep[0] != ' ';
    ld->opt.sep = syn.sep[0];
    ld->opt.header = syn.header ? MFR_HEADER_YES : MFR_HEADER_NO;
    struct mfr_rating_ids ids = {.users = &ld->users, .items = &ld->items};
    rc = mfr_parse_ratings(&f, &syn, &ids, ld->opt.min_rating, ld->opt.max_rating,
                           &ld->ratings, err);
    if (rc == MFR_OK)
        rc = mfr_check_duplicates(f.path, ld->ratings, ld->users.n, ld->items.n,
                                  ld->users.raw, ld->items.raw, 1 + syn.header, err);
done:
    mfr_text_file_free(&f);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Metadata records                                                     */
/* ------------------------------------------------------------------ */

void mfr_free_strings(char **v, int32_t n)
{
    if (!v) return;
    for (int32_t k = 0; k < n; k++) free(v[k]);
    free(v);
}

void mfr_loader_free(struct mfr_loader *ld)
{
    mfr_id_map_free(&ld->users);
    mfr_id_map_free(&ld->items);
    mfr_ratings_destroy(ld->ratings);
    for (size_t k = 0; k < ld->n_item_recs; k++) {
        free(ld->item_recs[k].meta.title);
        free(ld->item_recs[k].meta.date);
    }
    free(ld->item_recs);
    for (size_t k = 0; k < ld->n_user_recs; k++) free(ld->user_recs[k].occupation);
    free(ld->user_recs);
    mfr_free_strings(ld->genres, ld->genres ? MFR_MAX_GENRES : 0);
    mfr_free_strings(ld->occs, ld->n_occs);
    ld->ratings = NULL;
    ld->item_recs = NULL;
    ld->user_recs = NULL;
    ld->genres = ld->occs = NULL;
    ld->n_item_recs = ld->n_user_recs = 0;
    ld->n_genres = ld->n_occs = 0;
}

/* Grows a record vector by one; returns the new slot (zeroed) or NULL. */
static void *rec_push(void **v, size_t *n, size_t *cap, size_t size)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64, bytes;
        if (!mfr_mul_size(ncap, size, &bytes)) return NULL;
        void *nv = mfr_realloc(*v, bytes);
        if (!nv) return NULL;
        *v = nv;
        *cap = ncap;
    }
    void *slot = (char *)*v + *n * size;
    memset(slot, 0, size);
    (*n)++;
    return slot;
}

int mfr_loader_add_item(struct mfr_loader *ld, const char *path, int64_t line, int64_t raw,
                        struct mfr_item_rec **rec, mfr_error *err)
{
    int32_t prov;
    int rc = mfr_id_map_get_or_add(&ld->items, raw, &prov);
    if (rc != MFR_OK) return mfr_id_map_err(rc, err, path, "item");
    *rec = rec_push((void **)&ld->item_recs, &ld->n_item_recs, &ld->cap_item_recs,
                    sizeof **rec);
    if (!*rec) return mfr_nomem(err, "reading items");
    (*rec)->head = (struct mfr_rec_head){prov, line};
    return MFR_OK;
}

int mfr_loader_add_user(struct mfr_loader *ld, const char *path, int64_t line, int64_t raw,
                        struct mfr_user_rec **rec, mfr_error *err)
{
    int32_t prov;
    int rc = mfr_id_map_get_or_add(&ld->users, raw, &prov);
    if (rc != MFR_OK) return mfr_id_map_err(rc, err, path, "user");
    *rec = rec_push((void **)&ld->user_recs, &ld->n_user_recs, &ld->cap_user_recs,
                    sizeof **rec);
    if (!*rec) return mfr_nomem(err, "reading users");
    (*rec)->head = (struct mfr_rec_head){prov, line};
    (*rec)->occ = -1;
    return MFR_OK;
}

/* Fails when two of the n records (each `stride` bytes, starting with a
 * struct mfr_rec_head) have the same raw id. */
static int check_unique_ids(const char *path, const char *what, const struct mfr_id_map *m,
                            const void *recs, size_t n, size_t stride, mfr_error *err)
{
    if (n == 0) return mfr_parse_err(err, path, 1, "file is empty (no %ss)", what);
    int64_t *seen = mfr_calloc((size_t)m->n + 1, sizeof *seen);
    if (!seen) return mfr_nomem(err, "checking ids");
    int rc = MFR_OK;
    for (size_t k = 0; k < n; k++) {
        const struct mfr_rec_head *h = (const void *)((const char *)recs + k * stride);
        int32_t p = h->prov;
        int64_t l = h->line;
        if (seen[p]) {
            rc = mfr_parse_err(err, path, l,
                               "duplicate %s id %" PRId64 " (first on line %" PRId64 ")",
                               what, m->raw[p], seen[p]);
            break;
        }
        seen[p] = l;
    }
    free(seen);
    return rc;
}

int mfr_loader_check_items(struct mfr_loader *ld, const char *path, mfr_error *err)
{
    return check_unique_ids(path, "item", &ld->items, ld->item_recs, ld->n_item_recs,
                            sizeof *ld->item_recs, err);
}

int mfr_loader_check_users(struct mfr_loader *ld, const char *path, mfr_error *err)
{
    return check_unique_ids(path, "user", &ld->users, ld->user_recs, ld->n_user_recs,
                            sizeof *ld->user_recs, err);
}

int mfr_user_fields(const char *path, int64_t line, struct mfr_field age, struct mfr_field sex,
                    struct mfr_field zip, struct mfr_user_rec *rec, mfr_error *err)
{
    enum { MAX_ZIP_LEN = (int)sizeof rec->zip - 1 };
    char b[40];
    int64_t a;
    if (mfr_parse_u63(age.s, age.n, &a) != MFR_NUM_OK || a < 1 || a > 150)
        return mfr_parse_err(err, path, line, "age '%s' is not an integer in 1..150",
                             mfr_show(age.s, age.n, b));
    if (sex.n != 1 || (sex.s[0] != 'M' && sex.s[0] != 'F'))
        return mfr_parse_err(err, path, line, "sex '%s' is not M or F",
                             mfr_show(sex.s, sex.n, b));
    if (zip.n > (size_t)MAX_ZIP_LEN)
        return mfr_parse_err(err, path, line, "zip code '%s' is longer than %d bytes",
                             mfr_show(zip.s, zip.n, b), MAX_ZIP_LEN);
    for (size_t k = 0; k < zip.n; k++)
        if (zip.s[k] < 0x20 || zip.s[k] >= 0x7f)
            return mfr_parse_err(err, path, line, "invalid byte 0x%02X in zip code (byte %zu)",
                                 (unsigned char)zip.s[k], k + 1);
    rec->age = (int32_t)a;
    rec->sex = sex.s[0];
    memcpy(rec->zip, zip.s, zip.n);
    return MFR_OK;
}

int mfr_loader_set_occupations(struct mfr_loader *ld, const char *const *names,
                               mfr_error *err)
{
    int32_t n = 0;
    while (names[n]) n++;
    ld->occs = mfr_calloc((size_t)n + 1, sizeof *ld->occs);
    if (!ld->occs) return mfr_nomem(err, "listing occupations");
    for (int32_t k = 0; k < n; k++) {
        ld->occs[k] = mfr_strdup(names[k]);
        if (!ld->occs[k]) return mfr_nomem(err, "listing occupations");
        ld->n_occs = k + 1;
    }
    return MFR_OK;
}

/* ------------------------------------------------------------------ */
/* Genres by name                                                       */
/* ------------------------------------------------------------------ */

/* The MovieLens genre order; "Children's" (1M/10M) and "Children" (20M+)
 * share a place. Names not listed follow in byte order. */
static const char *const ml_genre_order[] = {
    "Action",  "Adventure", "Animation", "Children's", "Children", "Comedy",  "Crime",
    "Documentary", "Drama", "Fantasy",   "Film-Noir",  "Horror",   "Musical", "Mystery",
    "Romance", "Sci-Fi",    "Thriller",  "War",        "Western",
};
#define N_ML_GENRES ((int)(sizeof ml_genre_order / sizeof *ml_genre_order))

int mfr_loader_genre_mask(struct mfr_loader *ld, const char *path, int64_t line,
                          struct mfr_field list, enum mfr_encoding enc, uint32_t *mask,
                          mfr_error *err)
{
    *mask = 0;
    if (list.n == 0) return MFR_OK;
    if (!ld->genres) {
        ld->genres = mfr_calloc(MFR_MAX_GENRES, sizeof *ld->genres);
        if (!ld->genres) return mfr_nomem(err, "reading genres");
    }
    const char *s = list.s, *end = list.s + list.n;
    for (;;) {
        const char *q = memchr(s, '|', (size_t)(end - s));
        struct mfr_field g = {s, (size_t)((q ? q : end) - s)};
        if (g.n == 0)
            return mfr_parse_err(err, path, line, "empty genre name in the genre list");
        char *name;
        int rc = mfr_text_field(path, line, "genre name", g, enc, &name, err);
        if (rc != MFR_OK) return rc;
        int32_t k = 0;
        while (k < ld->n_genres && strcmp(ld->genres[k], name) != 0) k++;
        if (k == ld->n_genres) {
            if (k == MFR_MAX_GENRES) {
                char b[40];
                free(name);
                return mfr_parse_err(err, path, line,
                                     "genre '%s' would be genre %d: at most %d genres",
                                     mfr_show(g.s, g.n, b), MFR_MAX_GENRES + 1,
                                     MFR_MAX_GENRES);
            }
            ld->genres[k] = name;
            ld->n_genres = k + 1;
        } else {
            free(name);
        }
        *mask |= UINT32_C(1) << k;
        if (!q) return MFR_OK;
        s = q + 1;
    }
}

/* Rank of a genre name in the MovieLens order, N_ML_GENRES for others. */
static int genre_rank(const char *name)
{
    for (int k = 0; k < N_ML_GENRES; k++)
        if (!strcmp(name, ml_genre_order[k])) return k;
    return N_ML_GENRES;
}

static int cmp_genre(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    int rx = genre_rank(x), ry = genre_rank(y);
    if (rx != ry) return rx < ry ? -1 : 1;
    return strcmp(x, y);
}

void mfr_loader_order_genres(struct mfr_loader *ld)
{
    int32_t n = ld->n_genres;
    if (n == 0) return;
    char *sorted[MFR_MAX_GENRES];
    memcpy(sorted, ld->genres, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_genre);
    int32_t to[MFR_MAX_GENRES]; /* first-seen bit -> ordered bit */
    for (int32_t a = 0; a < n; a++)
        for (int32_t b = 0; b < n; b++)
            if (sorted[b] == ld->genres[a]) to[a] = b;
    for (size_t k = 0; k < ld->n_item_recs; k++) {
        uint32_t m = ld->item_recs[k].meta.genres, out = 0;
        for (int32_t g = 0; g < n; g++)
            if (m >> g & 1) out |= UINT32_C(1) << to[g];
        ld->item_recs[k].meta.genres = out;
    }
    memcpy(ld->genres, sorted, (size_t)n * sizeof *sorted);
}

/* ------------------------------------------------------------------ */
/* Assembly                                                             */
/* ------------------------------------------------------------------ */

static size_t put_le(unsigned char *p, uint64_t v, size_t bytes)
{
    for (size_t k = 0; k < bytes; k++) p[k] = (unsigned char)(v >> (8 * k));
    return bytes;
}

uint64_t mfr_dataset_compute_fingerprint(const mfr_dataset *ds)
{
    unsigned char buf[4096];
    size_t used = 0;
    uint64_t h = MFR_FNV_INIT;
    used += put_le(buf + used, (uint32_t)ds->n_users, 4);
    used += put_le(buf + used, (uint32_t)ds->n_items, 4);
    for (int pass = 0; pass < 2; pass++) {
        const int64_t *ids = pass ? ds->item_ids : ds->user_ids;
        int32_t n = pass ? ds->n_items : ds->n_users;
        for (int32_t k = 0; k < n; k++) {
            if (sizeof buf - used < 8) {
                h = mfr_fnv1a(h, buf, used);
                used = 0;
            }
            used += put_le(buf + used, (uint64_t)ids[k], 8);
        }
    }
    const mfr_ratings *r = ds->ratings;
    for (int64_t k = 0; k < r->n; k++) {
        if (sizeof buf - used < 12) {
            h = mfr_fnv1a(h, buf, used);
            used = 0;
        }
        uint32_t bits;
        memcpy(&bits, &r->rating[k], 4);
        used += put_le(buf + used, (uint32_t)r->user[k], 4);
        used += put_le(buf + used, (uint32_t)r->item[k], 4);
        used += put_le(buf + used, bits, 4);
    }
    return mfr_fnv1a(h, buf, used);
}

int mfr_loader_finish(struct mfr_loader *ld, mfr_dataset *ds, mfr_error *err)
{
    int32_t *uperm = NULL, *iperm = NULL;
    int rc = MFR_ERR_NOMEM;
    if (mfr_id_map_finish(&ld->users, &ds->user_ids, &uperm) != MFR_OK ||
        mfr_id_map_finish(&ld->items, &ds->item_ids, &iperm) != MFR_OK)
        goto done;
    ds->n_users = ld->users.n;
    ds->n_items = ld->items.n;
    ds->items = mfr_calloc((size_t)ds->n_items + 1, sizeof *ds->items);
    ds->users = mfr_calloc((size_t)ds->n_users + 1, sizeof *ds->users);
    if (!ds->items || !ds->users) goto done;

    mfr_ratings *r = ld->ratings;
    for (int64_t k = 0; k < r->n; k++) {
        r->user[k] = uperm[r->user[k]];
        r->item[k] = iperm[r->item[k]];
    }
    ds->ratings = r;
    ld->ratings = NULL;

    for (size_t k = 0; k < ld->n_item_recs; k++) {
        ds->items[iperm[ld->item_recs[k].head.prov]] = ld->item_recs[k].meta;
        ld->item_recs[k].meta.title = ld->item_recs[k].meta.date = NULL;
    }
    for (int32_t u = 0; u < ds->n_users; u++) {
        ds->users[u].sex = '?';
        ds->users[u].occupation = -1;
    }
    for (size_t k = 0; k < ld->n_user_recs; k++) {
        const struct mfr_user_rec *rec = &ld->user_recs[k];
        struct mfr_user_meta *m = &ds->users[uperm[rec->head.prov]];
        m->age = rec->age;
        m->sex = rec->sex;
        m->occupation = rec->occ;
        memcpy(m->zip, rec->zip, sizeof m->zip);
    }
    /* The dataset keeps exactly n_genres names. */
    ds->genre_names = mfr_calloc((size_t)ld->n_genres + 1, sizeof *ds->genre_names);
    if (!ds->genre_names) goto done;
    for (int32_t g = 0; g < ld->n_genres; g++) {
        ds->genre_names[g] = ld->genres[g];
        ld->genres[g] = NULL;
    }
    ds->n_genres = ld->n_genres;
    ds->n_occupations = ld->n_occs;
    ds->occupations = ld->occs;
    ld->occs = NULL;
    ld->n_occs = 0;
    ds->fingerprint = mfr_dataset_compute_fingerprint(ds);
    rc = MFR_OK;
done:
    free(uperm);
    free(iperm);
    if (rc != MFR_OK) return mfr_nomem(err, "building the dataset");
    return rc;
}
