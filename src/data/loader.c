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
 * Parallel parse. A rating file is cut into one line-aligned chunk a
 * thread; a first pass counts each chunk's lines, so each chunk writes its
 * ratings at their file-order positions and numbers its lines exactly.
 * Chunks map ids through maps of their own, merged afterwards chunk by
 * chunk in file order (which is the first-appearance order of the whole
 * file), and keep their first error; the first chunk in file order with an
 * error decides. Well-formed lines take a one-pass fast path; anything else
 * goes field by field, which words every message.
 *
 * Duplicates. A (user, item) pair rated twice is found without hashing
 * pairs: one bit a pair when the pairs are few, else the rating indices
 * are bucketed by user (a parallel stable counting sort), then each bucket
 * marks its items in an array indexed by item. The error reported is the
 * duplicate whose second line comes first in the file, so the message is
 * the same on every run and thread count.
 *
 * Ownership. The loader owns what it collects until mfr_loader_finish moves
 * it into the dataset (setting the loader's pointers to NULL), so that
 * mfr_loader_free is always safe and frees exactly what was not moved.
 */
#include <ctype.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include "csort_priv.h"
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

/* The values of one rating line, raw ids not yet mapped. */
struct rating_rec {
    int64_t uid, iid, ts;
    float v;
};

/* Whether a field reads as a number written with a decimal comma ("3,5"),
 * as spreadsheets write them in many locales: digits, one ',', digits. */
static int decimal_comma(struct mfr_field f)
{
    const char *c = memchr(f.s, ',', f.n);
    if (!c || c == f.s || (size_t)(c - f.s) + 1 == f.n) return 0;
    for (size_t k = 0; k < f.n; k++)
        if (f.s + k != c && (f.s[k] < '0' || f.s[k] > '9')) return 0;
    return 1;
}

static int parse_fields(const char *path, int64_t line, const char *s, size_t n,
                        const struct mfr_rating_syntax *syn, float min_r, float max_r,
                        struct rating_rec *out, mfr_error *err);

/* The first field of s[0..n) that opens a quote at its start and closes it
 * past a separator ("3,5" split at its comma), or false: the fields are
 * split at every separator, so such a field is a broken field whose error
 * would name a piece of it. */
static bool quoted_sep(const char *s, size_t n, const char *sep, struct mfr_field *f)
{
    const size_t ns = strlen(sep);
    for (size_t k = 0; k < n; k++) {
        const bool start = k == 0 || (k >= ns && !memcmp(s + k - ns, sep, ns));
        if (!start || s[k] != '"') continue;
        const char *q = memchr(s + k + 1, '"', n - k - 1);
        if (!q) return false;
        const size_t len = (size_t)(q - (s + k)) + 1;
        for (size_t j = k + 1; j + ns <= k + len - 1; j++)
            if (!memcmp(s + j, sep, ns)) {
                *f = (struct mfr_field){s + k, len};
                return true;
            }
        k += len - 1;
    }
    return false;
}

/* Parses the non-empty line s[0..n), line `line` of path, field by field
 * with a message for every way it can be wrong; a line that fails and
 * holds a NUL byte is named for the NUL (a binary or damaged file), not
 * for the field it broke. */
static int parse_line(const char *path, int64_t line, const char *s, size_t n,
                      const struct mfr_rating_syntax *syn, float min_r, float max_r,
                      struct rating_rec *out, mfr_error *err)
{
    int rc = parse_fields(path, line, s, n, syn, min_r, max_r, out, err);
    if (rc != MFR_OK && memchr(s, 0, n)) return mfr_parse_nul(err, path, line, s, n);
    struct mfr_field q;
    if (rc != MFR_OK && syn->unquote && quoted_sep(s, n, syn->sep, &q)) {
        char b[40], sb[8];
        const struct mfr_field in = {q.s + 1, q.n - 2};
        size_t before = 0; /* separators before the field: 2 for the rating */
        for (const char *p = s; (p = memchr(p, syn->sep[0], (size_t)(q.s - p))) != NULL; p++) before++;
        const bool rating_comma = before == 2 && decimal_comma(in) && !strcmp(syn->sep, ",");
        return mfr_parse_err(err, path, line, "field %s holds the separator %s: fields are split at every one, "
                             "quoted or not%s",
                             mfr_show(q.s, q.n, b), sep_name(syn->sep, sb),
                             rating_comma ? "; the decimal point is '.', not ','" : "");
    }
    return rc;
}

static int parse_fields(const char *path, int64_t line, const char *s, size_t n,
                      const struct mfr_rating_syntax *syn, float min_r, float max_r,
                      struct rating_rec *out, mfr_error *err)
{
    char b[40], sb[8];
    struct mfr_field fl[5];
    while (n && s[n - 1] == ' ') n--; /* spaces ending a line, in every syntax */
    size_t nf = mfr_split_fields(s, n, syn->sep, strlen(syn->sep), fl, 5);
    if (nf < 3 || nf > 4)
        return mfr_parse_err(err, path, line,
                             "expected 3 or 4 %s-separated fields (user, item, rating, "
                             "timestamp), got %zu",
                             sep_name(syn->sep, sb), nf);
    if (syn->trim)
        for (size_t k = 0; k < nf; k++) fl[k] = mfr_unquote(mfr_trim(fl[k]));
    else if (syn->unquote)
        for (size_t k = 0; k < nf; k++) fl[k] = mfr_unquote(fl[k]);
    int rc;
    out->ts = 0;
    if ((rc = mfr_id_field(path, line, "user id", fl[0], &out->uid, err)) != MFR_OK ||
        (rc = mfr_id_field(path, line, "item id", fl[1], &out->iid, err)) != MFR_OK)
        return rc;
    enum mfr_num st = mfr_parse_float(fl[2].s, fl[2].n, &out->v);
    if (st != MFR_NUM_OK)
        return mfr_parse_err(err, path, line,
                             st == MFR_NUM_RANGE        ? "rating %s is out of float range"
                             : decimal_comma(fl[2]) ? "rating '%s' is not a number: the decimal point is '.', "
                                                      "not ','"
                                                    : "rating '%s' is not a number",
                             mfr_show(fl[2].s, fl[2].n, b));
    if (!(out->v >= min_r && out->v <= max_r))
        return mfr_parse_err(err, path, line, "rating %s outside %g..%g",
                             mfr_show(fl[2].s, fl[2].n, b), (double)min_r, (double)max_r);
    if (syn->step > 0.0f && out->v / syn->step != floorf(out->v / syn->step))
        return mfr_parse_err(err, path, line, "rating %s is off the data's scale (%s from %g to %g)",
                             mfr_show(fl[2].s, fl[2].n, b), syn->step == 1.0f ? "whole stars" : "half stars",
                             (double)min_r, (double)max_r);
    if (nf == 4 && (st = mfr_parse_i64(fl[3].s, fl[3].n, &out->ts)) != MFR_NUM_OK)
        return mfr_parse_err(err, path, line,
                             st == MFR_NUM_RANGE ? "timestamp %s does not fit in int64"
                                                 : "timestamp '%s' is not an integer",
                             mfr_show(fl[3].s, fl[3].n, b));
    /* after the fields, so that a broken field is named for itself */
    if (syn->fields && nf != (size_t)syn->fields)
        return mfr_parse_err(err, path, line,
                             nf == 3 ? "3 fields (user, item, rating) where the file's first rating line has 4: "
                                       "its timestamp is missing"
                                     : "4 fields (user, item, rating, timestamp) where the file's first rating "
                                       "line has 3, without a timestamp");
    return MFR_OK;
}

/* Consumes at most `max` ASCII digits at *p into *v; returns how many. */
static inline int take_digits(const char **p, uint64_t *v, int max)
{
    const char *s = *p;
    uint64_t x = 0;
    int k = 0;
    for (; k < max && (unsigned char)(s[k] - '0') <= 9; k++) x = x * 10 + (unsigned)(s[k] - '0');
    *p = s + k;
    *v = x;
    return k;
}

static inline bool take_sep(const char **p, char s0, char s1)
{
    if ((*p)[0] != s0 || (s1 && (*p)[1] != s1)) return false;
    *p += s1 ? 2 : 1;
    return true;
}

/*
 * The common case of a rating line at *p, in one pass without a call:
 * "ID SEP ID SEP RATING [SEP TIMESTAMP] [spaces] [\r] (\n | end)" with ids of 1 to
 * 18 digits and not 0, a rating of digits with at most one '.' (at most 7
 * digits in all) inside min_r..max_r, a timestamp of 1 to 18 digits.
 * Returns true with *p past the line's '\n'; false (nothing consumed) for
 * anything else, which parse_line then takes field by field: this path
 * accepts nothing parse_line refuses and yields the same values (the
 * rating is mfr_parse_float's short-decimal case, one correctly rounded
 * division). Reads stop at '\n' or at the NUL after the file, never past.
 */
static inline bool parse_line_fast(const char **pp, const char *end, char s0, char s1,
                                   float min_r, float max_r, float step, int fields, struct rating_rec *out)
{
    static const float pow10f[] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f, 1e6f, 1e7f};
    static const uint32_t pow10u[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000};
    const char *p = *pp;
    uint64_t uid, iid, m, frac, ts = 0;
    if (!take_digits(&p, &uid, 18) || !uid || !take_sep(&p, s0, s1) ||
        !take_digits(&p, &iid, 18) || !iid || !take_sep(&p, s0, s1))
        return false;
    const char *r0 = p;
    int di = take_digits(&p, &m, 7), df = 0;
    if (*p == '.') {
        p++;
        df = take_digits(&p, &frac, 7 - di);
        m = m * pow10u[df] + frac;
    }
    if (di + df == 0) return false;
#if FLT_EVAL_METHOD == 0
    (void)r0;
    float v = df ? (float)m / pow10f[df] : (float)m;
#else
    float v;
    if (mfr_parse_float(r0, (size_t)(p - r0), &v) != MFR_NUM_OK) return false;
#endif
    if (!(v >= min_r && v <= max_r)) return false;
    if (step > 0.0f && v / step != floorf(v / step)) return false; /* parse_line says why */
    const bool has_ts = take_sep(&p, s0, s1);
    if (has_ts && !take_digits(&p, &ts, 18)) return false;
    if (fields && has_ts != (fields == 4)) return false; /* parse_line says why */
    while (*p == ' ') p++; /* spaces ending the line, as parse_fields drops them */
    if (*p == '\r') p++;
    if (p < end) {
        if (*p != '\n') return false;
        p++;
    }
    *pp = p;
    *out = (struct rating_rec){(int64_t)uid, (int64_t)iid, (int64_t)ts, v};
    return true;
}

/* Parses chunk c into r (whose entry 0 is rating `base`) from rating
 * c->first on, its ids into the chunk's own maps (loading) or through
 * ids->ds; r->ts may be NULL (not kept). Stops at its first error, which is
 * the first in the chunk's line order. */
static void parse_chunk(struct mfr_rating_chunk *c, const char *path, const struct mfr_rating_syntax *syn,
                        const struct mfr_rating_ids *ids, int64_t header, float min_r,
                        float max_r, bool fast, bool mapped, size_t file_size, mfr_ratings *r,
                        int64_t base)
{
    const char s0 = syn->sep[0], s1 = syn->sep[1];
    struct mfr_line_iter it = {c->p, c->end, c->first + header, 0};
    int64_t k = c->first;
    int rc = MFR_OK;
    const char *read_from = c->p; /* a mapped file's text not yet released */
    int64_t ts_from = k;          /* the first spilled timestamp not yet released */
    if (c->release) file_size = SIZE_MAX; /* (what mfr_release_mapped weighs) */
    for (;;) {
        if (mapped && (k & 0xffff) == 0 && it.p > read_from) { /* the text read so far leaves memory */
            mfr_release_mapped(read_from, (size_t)(it.p - read_from), file_size);
            read_from = it.p;
        }
        if (r->ts_spill_len && (k & 0xffff) == 0 && k > ts_from) { /* and the timestamps written */
            mfr_ratings_release_ts(r, ts_from - base, k - base);
            ts_from = k;
        }
        struct rating_rec rec;
        if (fast && !it.blank && it.p < it.end &&
            parse_line_fast(&it.p, it.end, s0, s1, min_r, max_r, syn->step, syn->fields, &rec)) {
            it.line++;
        } else {
            const char *s;
            size_t n;
            if ((rc = mfr_record_next(&it, path, &s, &n, &c->err)) <= 0) break;
            rc = parse_line(path, it.line, s, n, syn, min_r, max_r, &rec, &c->err);
            if (rc != MFR_OK) break;
        }
        int32_t u, i;
        if (ids->ds) {
            const mfr_dataset *ds = ids->ds;
            u = mfr_find_id(ds->user_ids, ds->n_users, rec.uid);
            i = mfr_find_id(ds->item_ids, ds->n_items, rec.iid);
            if ((u < 0 || i < 0) && !ids->keep_unknown) {
                rc = mfr_parse_err(&c->err, path, it.line, "unknown %s id %" PRId64,
                                   u < 0 ? "user" : "item", u < 0 ? rec.uid : rec.iid);
                break;
            }
        } else if ((rc = mfr_id_map_get_or_add(&c->users, rec.uid, &u)) != MFR_OK) {
            rc = mfr_id_map_err(rc, &c->err, path, "user");
            break;
        } else if ((rc = mfr_id_map_get_or_add(&c->items, rec.iid, &i)) != MFR_OK) {
            rc = mfr_id_map_err(rc, &c->err, path, "item");
            break;
        }
        r->user[k - base] = u;
        r->item[k - base] = i;
        r->rating[k - base] = rec.v;
        if (r->ts) r->ts[k - base] = rec.ts;
        k++;
    }
    if (mapped && it.p > read_from) mfr_release_mapped(read_from, (size_t)(it.p - read_from), file_size);
    mfr_ratings_release_ts(r, ts_from - base, k - base);
    c->rc = rc < 0 ? rc : MFR_OK;
    c->count = k - c->first;
    c->blank = it.blank;
}

/* Maps chunk c's local ids into the loader's maps, in the chunk's order of
 * first appearance, so that chunk by chunk in file order every id gets the
 * provisional index the one-pass parse gives it. The first chunk with ids
 * finds a map empty and simply hands its own over. */
static int merge_ids(struct mfr_id_map *global, struct mfr_id_map *local, int32_t **to,
                     const char *path, const char *what, mfr_error *err)
{
    if (global->n == 0) {
        mfr_id_map_free(global);
        *global = *local;
        memset(local, 0, sizeof *local);
        return MFR_OK;
    }
    *to = mfr_malloc(((size_t)local->n + 1) * sizeof **to);
    if (!*to) return mfr_nomem(err, "indexing ids");
    for (int32_t j = 0; j < local->n; j++) {
        int rc = mfr_id_map_get_or_add(global, local->raw[j], &(*to)[j]);
        if (rc != MFR_OK) return mfr_id_map_err(rc, err, path, what);
    }
    return MFR_OK;
}

/* Where chunk t of nc of the text [body, end) starts: the first line start
 * at or past its share's start (monotone in t: a line longer than a share
 * leaves the chunks it spans empty). Reads the bytes up to that '\n' only. */
static const char *chunk_start(const char *body, const char *end, size_t nc, size_t t)
{
    if (t == 0) return body;
    if (t >= nc) return end;
    const size_t size = (size_t)(end - body);
    const char *b = body + (size / nc) * t + (size % nc) * t / nc;
    if (b[-1] != '\n') {
        const char *nl = memchr(b, '\n', (size_t)(end - b));
        b = nl ? nl + 1 : end;
    }
    return b;
}

/* Counts chunk c's '\n' bytes into c->lines (a mapped file's pages
 * released behind the count). */
static void count_chunk(const struct mfr_text_file *f, struct mfr_rating_chunk *c)
{
    const size_t step = !f->mapped ? SIZE_MAX : c->release ? (size_t)8 << 20 : (size_t)64 << 20;
    for (const char *q = c->p, *next; q < c->end; q = next) {
        const size_t len = (size_t)(c->end - q) < step ? (size_t)(c->end - q) : step;
        next = q + len;
        c->lines += (int64_t)mfr_count_newlines(q, len);
        if (f->mapped) mfr_release_mapped(q, len, c->release ? SIZE_MAX : f->size);
    }
}

/* Cuts the text [body, end of f) into nc chunks (chunk_start) and counts
 * their lines in parallel; sets each chunk's first line and returns the
 * lines of the whole text. */
static int64_t cut_chunks(const struct mfr_text_file *f, const char *body, struct mfr_rating_chunk *ch, size_t nc,
                          int threads)
{
    const char *end = f->data + f->size;
    for (size_t t = 0; t < nc; t++) {
        ch[t].p = chunk_start(body, end, nc, t);
        ch[t].end = chunk_start(body, end, nc, t + 1);
    }
#pragma omp parallel for schedule(static, 1) num_threads(threads) if (threads > 1)
    for (size_t t = 0; t < nc; t++) count_chunk(f, &ch[t]);
    int64_t lines = 0;
    for (size_t t = 0; t < nc; t++) {
        ch[t].first = lines;
        lines += ch[t].lines;
    }
    if (body < end && end[-1] != '\n') lines++; /* a last line without '\n' */
    return lines;
}

const char *mfr_ratings_body(const struct mfr_text_file *f, const struct mfr_rating_syntax *syn)
{
    const char *end = f->data + f->size, *nl = syn->header ? memchr(f->data, '\n', f->size) : NULL;
    return !syn->header ? f->data : nl ? nl + 1 : end;
}

void mfr_rating_chunk_cut(const struct mfr_text_file *f, const struct mfr_rating_syntax *syn, int t, int nc,
                          struct mfr_rating_chunk *c)
{
    memset(c, 0, sizeof *c);
    const char *body = mfr_ratings_body(f, syn), *end = f->data + f->size;
    size_t n = (size_t)nc;
    if (n > (size_t)(end - body)) n = (size_t)(end - body) ? (size_t)(end - body) : 1; /* as the threads' cut */
    c->p = chunk_start(body, end, n, (size_t)t);
    c->end = chunk_start(body, end, n, (size_t)t + 1);
    c->release = true;
    count_chunk(f, c);
}

int mfr_rating_chunk_parse(const struct mfr_text_file *f, const struct mfr_rating_syntax *syn, float min_r,
                           float max_r, struct mfr_rating_chunk *c, mfr_ratings **out, mfr_error *err)
{
    const char *end = f->data + f->size;
    const int64_t cap = c->lines + (c->end == end && c->end > c->p && end[-1] != '\n');
    mfr_ratings *r = *out = mfr_calloc(1, sizeof *r);
    const size_t len = (size_t)(cap > 0 ? cap : 1);
    if (!r || !(r->user = mfr_malloc(len * 4)) || !(r->item = mfr_malloc(len * 4)) ||
        !(r->rating = mfr_malloc(len * 4)))
        return mfr_nomem(err, "parsing ratings");
    struct mfr_rating_ids ids = {0};
    parse_chunk(c, f->path, syn, &ids, syn->header, min_r, max_r, true, f->mapped, f->size, r, c->first);
    r->n = c->count;
    return MFR_OK;
}

void mfr_rating_chunk_free(struct mfr_rating_chunk *c)
{
    mfr_id_map_free(&c->users);
    mfr_id_map_free(&c->items);
    free(c->to_user);
    free(c->to_item);
    c->to_user = c->to_item = NULL;
}

/* Ratings from which a parse with a spill directory spills its timestamps
 * (mfr_set_spill_min). */
static int64_t g_spill_min = (int64_t)1 << 22;

void mfr_set_spill_min(int64_t n) { g_spill_min = n >= 0 ? n : (int64_t)1 << 22; }

static bool spill_possible(const struct mfr_rating_ids *ids, int64_t lines)
{
    return ids->spill_dir && lines > 0 && lines >= g_spill_min;
}

int mfr_parse_ratings_chunked(const struct mfr_text_file *f, const struct mfr_rating_syntax *syn,
                              const struct mfr_rating_ids *ids, float min_r, float max_r,
                              int n_chunks, bool fast, mfr_ratings **out, mfr_error *err)
{
    *out = NULL;
    const char *body = mfr_ratings_body(f, syn), *end = f->data + f->size;
    const int64_t header = syn->header;
    if (header && f->size == 0) return mfr_parse_err(err, f->path, 1, "file is empty (no ratings)");
    const size_t size = (size_t)(end - body);
    size_t nc = n_chunks > 1 ? (size_t)n_chunks : 1;
    if (nc > size) nc = size ? size : 1;
    struct mfr_rating_chunk *ch = mfr_calloc(nc, sizeof *ch);
    if (!ch) return mfr_nomem(err, "parsing ratings");
    int threads = mfr_setup_threads();
    if ((size_t)threads > nc) threads = (int)nc;
    const int64_t lines = cut_chunks(f, body, ch, nc, threads);

    mfr_ratings *r = NULL;
    int rc = MFR_OK;
    /* The parsed arrays: user, item (4 bytes each), rating (4), timestamp
     * (8, unless spilled to a file: mfr_ratings_alloc_spilled). The budget
     * is checked before either allocation. */
    for (int per = spill_possible(ids, lines) ? 12 : 20;; per = 20) {
        const double need = (double)lines * per;
        if (ids->budget && need > (double)ids->budget) {
            char a[16], b[16];
            rc = mfr_seterr(err, MFR_ERR_TOO_LARGE,
                            "%s: parsing its %lld lines needs at least %s (%d bytes a rating), more than "
                            "the memory budget of %s (--max-memory, else the physical memory)",
                            f->path, (long long)lines, mfr_size_text(need, a), per,
                            mfr_size_text((double)ids->budget, b));
            goto done;
        }
        rc = per == 12 ? mfr_ratings_alloc_spilled(lines, ids->spill_dir, &r, err) : mfr_ratings_alloc(lines, &r, err);
        if (rc != MFR_ERR_UNSUPPORTED) break; /* no spill there: on the heap, if the budget allows */
    }
    if (rc != MFR_OK) goto done;
#pragma omp parallel for schedule(static, 1) num_threads(threads) if (threads > 1)
    for (size_t t = 0; t < nc; t++)
        parse_chunk(&ch[t], f->path, syn, ids, header, min_r, max_r, fast, f->mapped, f->size, r, 0);

    /* In file order: the first error, a blank line that has lines after it
     * in a later chunk, then the ids. */
    int64_t n = 0, blank = 0;
    for (size_t t = 0; t < nc; t++) {
        struct mfr_rating_chunk *c = &ch[t];
        if (blank && (c->count > 0 || c->rc != MFR_OK)) {
            rc = mfr_parse_err(err, f->path, blank, "blank line before the end of the file");
            goto done;
        }
        if (c->rc != MFR_OK) {
            if (err) *err = c->err;
            rc = c->rc;
            goto done;
        }
        if (!blank) blank = c->blank;
        n += c->count;
        if (ids->ds || c->count == 0) continue;
        if ((rc = merge_ids(ids->users, &c->users, &c->to_user, f->path, "user", err)) !=
                MFR_OK ||
            (rc = merge_ids(ids->items, &c->items, &c->to_item, f->path, "item", err)) != MFR_OK)
            goto done;
    }
    if (n == 0) {
        rc = mfr_parse_no_ratings(err, f->path, header);
        goto done;
    }
#pragma omp parallel for schedule(static, 1) num_threads(threads) if (threads > 1)
    for (size_t t = 0; t < nc; t++) {
        const struct mfr_rating_chunk *c = &ch[t];
        for (int64_t k = c->first; c->to_user && k < c->first + c->count; k++)
            r->user[k] = c->to_user[r->user[k]];
        for (int64_t k = c->first; c->to_item && k < c->first + c->count; k++)
            r->item[k] = c->to_item[r->item[k]];
    }
    r->n = n;
    *out = r;
    r = NULL;
done:
    for (size_t t = 0; t < nc; t++) mfr_rating_chunk_free(&ch[t]);
    free(ch);
    mfr_ratings_destroy(r);
    return rc;
}

int mfr_parse_ratings(const struct mfr_text_file *f, const struct mfr_rating_syntax *syn,
                      const struct mfr_rating_ids *ids, float min_r, float max_r,
                      mfr_ratings **out, mfr_error *err)
{
    size_t chunks = f->size / MFR_PARSE_CHUNK_MIN;
    int threads = mfr_setup_threads();
    if (chunks > (size_t)threads) chunks = (size_t)threads;
    return mfr_parse_ratings_chunked(f, syn, ids, min_r, max_r, chunks ? (int)chunks : 1, true,
                                     out, err);
}

/* The column a header's field names, by its usual spellings (userId,
 * user_id, "Movie ID": case, spaces, '_' and '-' ignored); NULL for a
 * name not known. */
static const char *header_column(struct mfr_field f)
{
    static const struct {
        const char *name, *column;
    } known[] = {
        {"userid", "user"},       {"user", "user"},     {"uid", "user"},        {"movieid", "movie"},
        {"movie", "movie"},       {"itemid", "movie"},  {"item", "movie"},      {"iid", "movie"},
        {"rating", "rating"},     {"score", "rating"},  {"stars", "rating"},    {"timestamp", "timestamp"},
        {"time", "timestamp"},    {"title", "title"},   {"genres", "genres"},   {"genre", "genres"},
    };
    char key[16];
    size_t k = 0;
    f = mfr_trim(f);
    for (size_t j = 0; j < f.n; j++) {
        unsigned char c = (unsigned char)f.s[j];
        if (c == '"' || c == ' ' || c == '_' || c == '-') continue;
        if (k + 1 >= sizeof key) return NULL;
        key[k++] = (char)tolower(c);
    }
    key[k] = 0;
    for (size_t j = 0; j < sizeof known / sizeof *known; j++)
        if (!strcmp(key, known[j].name)) return known[j].column;
    return NULL;
}

int mfr_check_header(const struct mfr_text_file *f, const char *sep, const char *const *columns, int n,
                     mfr_error *err)
{
    enum { MAX_COLUMNS = 4 };
    struct mfr_line_iter it = mfr_lines(f);
    const char *s;
    size_t len;
    if (n > MAX_COLUMNS || !mfr_line_next(&it, &s, &len)) return MFR_OK;
    struct mfr_field fl[MAX_COLUMNS];
    int nf = mfr_split_fields(s, len, sep, strlen(sep), fl, n);
    for (int c = 0; c < n && c < nf; c++) {
        const char *named = header_column(fl[c]);
        if (named && strcmp(named, columns[c]) != 0) {
            struct mfr_field t = mfr_trim(fl[c]);
            char order[64] = "";
            for (int j = 0; j < n; j++)
                snprintf(order + strlen(order), sizeof order - strlen(order), "%s%s", j ? ", " : "", columns[j]);
            return mfr_parse_err(err, f->path, 1,
                                 "the header names column %d '%.*s', where this file has the %s (its "
                                 "columns, in this order: %s)",
                                 c + 1, (int)(t.n > 40 ? 40 : t.n), t.s, columns[c], order);
        }
    }
    return MFR_OK;
}

int mfr_check_header_width(const struct mfr_text_file *f, const struct mfr_rating_syntax *syn, mfr_error *err)
{
    /* only a line of column names: a header taken as one (:header, or one
     * detected by its letters) may be any line of text */
    const int fields = syn->header && mfr_header_names_columns(f, syn->sep) ? mfr_rating_fields(f, syn) : 0;
    struct mfr_line_iter it = mfr_lines(f);
    const char *s;
    size_t n;
    if (!fields || !mfr_line_next(&it, &s, &n)) return MFR_OK;
    while (n && s[n - 1] == ' ') n--; /* spaces ending a line, as a rating line's */
    struct mfr_field fl[5];
    const size_t nf = mfr_split_fields(s, n, syn->sep, strlen(syn->sep), fl, 5);
    if (nf >= (size_t)fields) return MFR_OK;
    char sb[8];
    return mfr_parse_err(err, f->path, 1,
                         "the header names %zu %s-separated column%s, where the rating lines have %d: "
                         "which column is which is unclear (a reader such as pandas takes the first "
                         "for an index); name every column",
                         nf, sep_name(syn->sep, sb), nf == 1 ? "" : "s", fields);
}

bool mfr_header_names_columns(const struct mfr_text_file *f, const char *sep)
{
    struct mfr_line_iter it = mfr_lines(f);
    const char *s;
    size_t n;
    if (!mfr_line_next(&it, &s, &n)) return false;
    struct mfr_field fl[5];
    const size_t nf = mfr_split_fields(s, n, sep, strlen(sep), fl, 5);
    for (size_t k = 0; k < nf; k++)
        if (k >= 5 || !header_column(fl[k])) return false;
    return true;
}

float mfr_rating_step(const mfr_load_options *opt)
{
    const bool movielens = opt->format == MFR_FORMAT_ML100K || opt->format == MFR_FORMAT_ML1M ||
                           opt->format == MFR_FORMAT_CSV;
    const bool scale = (opt->min_rating == 1.0f || opt->min_rating == 0.5f) && opt->max_rating == 5.0f;
    return movielens && scale ? opt->min_rating : 0.0f;
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
 * The ratings bucketed by user (a parallel stable counting sort): ptr[u]
 * (n_users + 1 entries) is where user u's bucket starts; the bucket holds
 * the items themselves (items) or the rating indices (order), whichever is
 * not NULL. MFR_ERR_NOMEM when the histograms cannot be allocated.
 */
static int bucket_by_user(const mfr_ratings *r, int32_t n_users, int64_t *ptr, int32_t *items,
                          int64_t *order)
{
    struct mfr_csort cs;
    if (mfr_csort_init(&cs, r->n, n_users, 0) != MFR_OK) return MFR_ERR_NOMEM;
    mfr_csort_count(&cs, r->user, NULL);
    mfr_csort_offsets(&cs, ptr);
#pragma omp parallel for schedule(static, 1) num_threads(cs.n_threads) if (cs.n_chunks > 1)
    for (int32_t c = 0; c < cs.n_chunks; c++) {
        int64_t *off = mfr_csort_row(&cs, c);
        const int64_t end = mfr_csort_begin(&cs, c + 1); /* once: the row stores may alias the sort (two divisions a row) */
        for (int64_t q = mfr_csort_begin(&cs, c); q < end; q++) {
            int64_t dst = off[r->user[q]]++;
            if (items)
                items[dst] = r->item[q];
            else
                order[dst] = q;
        }
    }
    mfr_csort_free(&cs);
    return MFR_OK;
}

/*
 * Marks each user's items in P parts of about equal rating counts (split
 * at user boundaries), one a thread, over users [u_begin, u_end), whose
 * buckets hold positions [ptr[u_begin], ptr[u_end]) of items (or order),
 * stored from position `base` on. With `items`, found[p][1] is 1 when part
 * p has a repeated pair; with `order`, found[p] = {first, second} of its
 * repeat with the smallest second index (-1 when none). MFR_ERR_NOMEM when
 * a thread's marks cannot be allocated.
 */
static int mark_parts(const mfr_ratings *r, int32_t u_begin, int32_t u_end, int32_t n_items, const int64_t *ptr,
                      int64_t base, const int32_t *items, const int64_t *order, int P, int64_t (*found)[2])
{
    const int64_t k0 = ptr[u_begin], len = ptr[u_end] - k0;
    int bad = 0;
#pragma omp parallel for schedule(static, 1) num_threads(P) if (P > 1) reduction(| : bad)
    for (int p = 0; p < P; p++) {
        int32_t lo = u_begin, hi;
        const int64_t a = k0 + len * p / P, b = k0 + len * (p + 1) / P;
        while (lo < u_end && ptr[lo] < a) lo++; /* first user starting at or after a */
        hi = lo;
        while (hi < u_end && ptr[hi] < b) hi++;
        if (p == P - 1) hi = u_end;
        found[p][0] = found[p][1] = -1;
        int32_t *mark = mfr_malloc(((size_t)n_items + 1) * sizeof *mark);
        int64_t *where = order ? mfr_malloc(((size_t)n_items + 1) * sizeof *where) : NULL;
        if (!mark || (order && !where)) {
            bad = 1;
        } else {
            for (int32_t i = 0; i < n_items; i++) mark[i] = -1;
            for (int32_t u = lo; u < hi && (order || found[p][1] < 0); u++)
                for (int64_t k = ptr[u]; k < ptr[u + 1]; k++) {
                    int64_t idx = order ? order[k - base] : k;
                    int32_t i = order ? r->item[idx] : items[k - base];
                    if (mark[i] != u) {
                        mark[i] = u;
                        if (where) where[i] = idx;
                    } else if (!order) {
                        found[p][1] = 1;
                        break;
                    } else if (found[p][1] < 0 || idx < found[p][1]) {
                        found[p][1] = idx;
                        found[p][0] = where[i];
                    }
                }
        }
        free(mark);
        free(where);
    }
    return bad ? MFR_ERR_NOMEM : MFR_OK;
}

/* Ratings a range of users may bucket at once in find_duplicate: its
 * bucket array is 4 bytes a rating of the range, not of the whole file. */
#define DUP_RANGE_MIN ((int64_t)1 << 16)

/* With items: whether a user bucketed by range repeats an item (the users
 * in ranges of at most `range` ratings where a user has fewer, each range's
 * items bucketed through the chunk cursors of one counting sort and marked
 * by P threads). */
static int repeat_by_ranges(const mfr_ratings *r, int32_t n_users, int32_t n_items, int P, int64_t range,
                            bool *any)
{
    struct mfr_csort cs;
    *any = false;
    int64_t *ptr = mfr_malloc(((size_t)n_users + 1) * sizeof *ptr);
    int32_t *items = mfr_malloc((size_t)(range > 0 ? range : 1) * sizeof *items);
    if (!ptr || !items || mfr_csort_init(&cs, r->n, n_users, 0) != MFR_OK) {
        free(ptr), free(items);
        return MFR_ERR_NOMEM;
    }
    mfr_csort_count(&cs, r->user, NULL);
    mfr_csort_offsets(&cs, ptr);
    int rc = MFR_OK;
    int64_t found[64][2];
    for (int32_t u0 = 0, u1; u0 < n_users && rc == MFR_OK && !*any; u0 = u1) {
        u1 = u0 + 1; /* users while the range fits (a heavier user alone) */
        while (u1 < n_users && ptr[u1 + 1] - ptr[u0] <= range) u1++;
        const int64_t base = ptr[u0], len = ptr[u1] - base;
        int32_t *bucket = items;
        if (len > range && !(bucket = mfr_malloc((size_t)len * sizeof *bucket))) {
            rc = MFR_ERR_NOMEM;
            break;
        }
#pragma omp parallel for schedule(static, 1) num_threads(cs.n_threads) if (cs.n_chunks > 1)
        for (int32_t c = 0; c < cs.n_chunks; c++) {
            int64_t *off = mfr_csort_row(&cs, c);
            const int64_t end = mfr_csort_begin(&cs, c + 1); /* once: the row stores may alias the sort (two divisions a row) */
            for (int64_t q = mfr_csort_begin(&cs, c); q < end; q++) {
                const int32_t u = r->user[q];
                if (u >= u0 && u < u1) bucket[off[u]++ - base] = r->item[q];
            }
        }
        rc = mark_parts(r, u0, u1, n_items, ptr, base, bucket, NULL, P, found);
        for (int p = 0; p < P && rc == MFR_OK; p++) *any |= found[p][1] >= 0;
        if (bucket != items) free(bucket);
    }
    mfr_csort_free(&cs);
    free(ptr), free(items);
    return rc;
}

/*
 * Looks for a (user, item) pair rated twice in r (indices below n_users,
 * n_items). On MFR_OK, *second is the smallest index of a rating that
 * repeats an earlier pair and *first the index of that pair's first rating,
 * or *second is -1 when every pair is unique. Returns MFR_ERR_NOMEM when the
 * scratch arrays cannot be allocated.
 *
 * A small pair space (ML-100K: 1.6M pairs) gets one bit a pair, set in file
 * order, so that the first bit found set is the earliest repeat. Otherwise
 * the items are bucketed by user with the parallel stable counting sort
 * (4 bytes a rating) and each thread marks the items of a range of users;
 * only when that finds a repeat are the rating indices bucketed to name the
 * earliest one, the smallest over the threads whatever their count.
 */
int mfr_find_duplicate(const mfr_ratings *r, int32_t n_users, int32_t n_items, int64_t *first, int64_t *second)
{
    *first = *second = -1;
    const int64_t n = r->n;
    const uint64_t pairs = (uint64_t)n_users * (uint64_t)n_items;
    if (pairs / 32 <= (uint64_t)n + (UINT64_C(1) << 18)) { /* at most 4 bytes a rating + 1 MiB */
        uint64_t *bit = mfr_calloc((size_t)(pairs / 64 + 1), sizeof *bit);
        if (!bit) return MFR_ERR_NOMEM;
        for (int64_t k = 0; k < n; k++) {
            uint64_t c = (uint64_t)r->user[k] * (uint64_t)n_items + (uint64_t)r->item[k];
            uint64_t m = UINT64_C(1) << (c & 63);
            if (bit[c >> 6] & m) {
                *second = k;
                break;
            }
            bit[c >> 6] |= m;
        }
        free(bit);
        for (int64_t k = 0; *second >= 0 && *first < 0; k++)
            if (r->user[k] == r->user[*second] && r->item[k] == r->item[*second]) *first = k;
        return MFR_OK;
    }

    int P = mfr_setup_threads();
    if (P > n / MFR_SETUP_PAR_MIN) P = (int)(n / MFR_SETUP_PAR_MIN);
    if (P > 64) P = 64;
    if (P < 1) P = 1;
    int64_t found[64][2];
    int64_t *ptr = NULL, *order = NULL;
    int rc = MFR_ERR_NOMEM;
    bool any = false;
    if (repeat_by_ranges(r, n_users, n_items, P, n / 8 > DUP_RANGE_MIN ? n / 8 : DUP_RANGE_MIN, &any) != MFR_OK)
        goto done;
    if (any) {
        ptr = mfr_malloc(((size_t)n_users + 1) * sizeof *ptr);
        order = mfr_malloc((size_t)n * sizeof *order);
        if (!ptr || !order || bucket_by_user(r, n_users, ptr, NULL, order) != MFR_OK ||
            mark_parts(r, 0, n_users, n_items, ptr, 0, NULL, order, P, found) != MFR_OK)
            goto done;
        for (int p = 0; p < P; p++)
            if (found[p][1] >= 0 && (*second < 0 || found[p][1] < *second)) {
                *second = found[p][1];
                *first = found[p][0];
            }
    }
    rc = MFR_OK;
done:
    free(ptr);
    free(order);
    return rc;
}

int mfr_check_duplicates(const char *path, const mfr_ratings *r, int32_t n_users,
                         int32_t n_items, const int64_t *user_raw, const int64_t *item_raw,
                         int64_t first_line, mfr_error *err)
{
    int64_t first, second;
    if (mfr_find_duplicate(r, n_users, n_items, &first, &second) != MFR_OK)
        return mfr_nomem(err, "checking for duplicate ratings");
    if (second < 0) return MFR_OK;
    return mfr_duplicate_err(err, path, second + first_line, user_raw[r->user[second]], item_raw[r->item[second]],
                             first + first_line);
}

int mfr_duplicate_err(mfr_error *err, const char *path, int64_t line, int64_t user_raw, int64_t item_raw,
                      int64_t first_line)
{
    return mfr_parse_err(err, path, line,
                         "duplicate rating for user %" PRId64 " and item %" PRId64 " (first on line %" PRId64 ")",
                         user_raw, item_raw, first_line);
}

int mfr_rating_fields(const struct mfr_text_file *f, const struct mfr_rating_syntax *syn)
{
    struct mfr_line_iter it = mfr_lines(f);
    const char *s;
    size_t n;
    if (syn->header) mfr_line_next(&it, &s, &n);
    if (!mfr_line_next(&it, &s, &n)) return 0;
    while (n && s[n - 1] == ' ') n--;
    struct mfr_field fl[5];
    const size_t nf = mfr_split_fields(s, n, syn->sep, strlen(syn->sep), fl, 5);
    return nf == 3 || nf == 4 ? (int)nf : 0;
}

int mfr_loader_read_ratings(struct mfr_loader *ld, const char *sep, int32_t header,
                            mfr_error *err)
{
    if (ld->ratings_elsewhere && ld->rfile.path) return MFR_OK; /* settled already */
    struct mfr_text_file f;
    int rc = mfr_text_file_read(ld->dir, ld->ratings_name, false, &f, err);
    if (rc != MFR_OK) return rc;
    struct mfr_rating_syntax syn = {0};
    if (sep) {
        memcpy(syn.sep, sep, strlen(sep) + 1);
    } else if (f.size == 0) { /* nothing to detect a separator in */
        rc = mfr_parse_err(err, f.path, 1, "file is empty (no ratings)");
        goto done;
    } else if ((syn.sep[0] = mfr_detect_separator(&f)) == 0) {
        struct mfr_line_iter it = mfr_lines(&f);
        const char *s = "";
        size_t n = 0;
        mfr_line_next(&it, &s, &n);
        if (n == 0) {
            /* a blank line 1 holds no separator: the parse names the file
             * empty, or the blank line before its ratings (as for u.data) */
            syn.sep[0] = ',';
        } else {
            /* a binary file (a model given as ratings) is named as one,
             * not for the separator its NUL bytes hide */
            if ((rc = mfr_parse_nul(err, f.path, 1, s, n)) != MFR_OK) goto done;
            /* '::' cannot be given as delimited:SEP (one character) */
            bool dat = false;
            for (size_t k = 0; k + 1 < n && !dat; k++) dat = s[k] == ':' && s[k + 1] == ':';
            rc = mfr_parse_err(err, f.path, 1,
                               dat ? "cannot detect the separator (none of tab ',' ';' '|' space "
                                     "occurs): '::' separates fields as in ML-1M/10M's .dat "
                                     "files; --format dat reads them"
                                   : "cannot detect the separator (none of tab ',' ';' '|' space "
                                     "occurs); give it explicitly");
            goto done;
        }
    }
    syn.header = header == MFR_HEADER_YES ||
                 (header == MFR_HEADER_AUTO && mfr_first_line_is_header(&f, syn.sep));
    static const char *const rating_columns[] = {"user", "movie", "rating", "timestamp"};
    if (syn.header && (rc = mfr_check_header(&f, syn.sep, rating_columns, 4, err)) != MFR_OK) goto done;
    syn.unquote = ld->opt.format == MFR_FORMAT_CSV || ld->opt.format == MFR_FORMAT_DELIMITED;
    syn.trim = syn.unquote && syn.sep[0] != ' ';
    syn.step = mfr_rating_step(&ld->opt);
    syn.fields = mfr_rating_fields(&f, &syn);
    if ((rc = mfr_check_header_width(&f, &syn, err)) != MFR_OK) goto done;
    ld->opt.sep = syn.sep[0];
    ld->opt.header = syn.header ? MFR_HEADER_YES : MFR_HEADER_NO;
    if (ld->ratings_elsewhere) { /* the file and its syntax go to the caller */
        ld->rfile = f;
        ld->rsyn = syn;
        return MFR_OK;
    }
    struct mfr_rating_ids ids = {
        .users = &ld->users, .items = &ld->items, .budget = ld->opt.max_memory, .spill_dir = ld->spill_dir};
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
    mfr_text_file_free(&ld->rfile);
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

/* A new genre name one edit (two from a name of 9 bytes or more) from a
 * MovieLens genre, ignoring case, is taken for a typo of it ("Comdy",
 * "Thriler"): as a genre of its own it would split that genre's movies.
 * MFR_OK for a MovieLens genre or a name further from all of them (a
 * genre a dataset adds, "Biography"); MFR_ERR_PARSE naming the genre. */
static int check_genre_typo(const char *path, int64_t line, const char *name, mfr_error *err)
{
    static const char *const extra[] = {"IMAX", "(no genres listed)"};
    for (int k = 0; k < N_ML_GENRES; k++)
        if (!strcmp(name, ml_genre_order[k])) return MFR_OK;
    for (int k = 0; k < 2; k++)
        if (!strcmp(name, extra[k])) return MFR_OK;
    char low[64], known[64];
    size_t n = strlen(name);
    if (n >= sizeof low) return MFR_OK; /* far longer than any MovieLens genre */
    for (size_t x = 0; x <= n; x++) low[x] = (char)tolower((unsigned char)name[x]);
    int row[sizeof known + 1];
    for (int k = 0; k < N_ML_GENRES; k++) {
        size_t m = strlen(ml_genre_order[k]);
        for (size_t x = 0; x <= m; x++) known[x] = (char)tolower((unsigned char)ml_genre_order[k][x]);
        int d = mfr_edit_distance(low, n, known, m, false, row);
        /* d == 0: the genre in another case, kept as its own spelling (a
         * file mixing two spellings is refused by the case check) */
        if (m >= 5 && d >= 1 && d <= (m >= 9 ? 2 : 1)) {
            char b[40];
            return mfr_parse_err(err, path, line,
                                 "genre '%s' is not a MovieLens genre but %s from '%s': a typo? "
                                 "(a genre of its own needs a name further from MovieLens' genres)",
                                 mfr_show(name, n, b), d == 1 ? "one edit" : "two edits",
                                 ml_genre_order[k]);
        }
    }
    return MFR_OK;
}

int mfr_loader_genre_case_error(mfr_error *err, const char *path, int64_t line, const char *name,
                                const char *earlier, int64_t earlier_line)
{
    char b[40], b2[40], where[40] = "";
    if (earlier_line > 0) snprintf(where, sizeof where, " on line %" PRId64, earlier_line);
    return mfr_parse_err(err, path, line,
                         "genre name '%s' differs only in case from %s'%s'%s (genres are looked up ignoring case)",
                         mfr_show(name, strlen(name), b), earlier_line > 0 ? "" : "the earlier ",
                         mfr_show(earlier, strlen(earlier), b2), where);
}

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
        while (k < ld->n_genres && strcasecmp(ld->genres[k], name) != 0) k++;
        if (k < ld->n_genres && strcmp(ld->genres[k], name) != 0) {
            rc = mfr_loader_genre_case_error(err, path, line, name, ld->genres[k], 0);
            free(name);
            return rc;
        }
        if (k == ld->n_genres && (rc = check_genre_typo(path, line, name, err)) != MFR_OK) {
            free(name);
            return rc;
        }
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

uint64_t mfr_fingerprint_ids(int32_t n_users, int32_t n_items, const int64_t *user_ids, const int64_t *item_ids)
{
    unsigned char buf[4096];
    size_t used = 0;
    uint64_t h = MFR_FNV_INIT;
    used += put_le(buf + used, (uint32_t)n_users, 4);
    used += put_le(buf + used, (uint32_t)n_items, 4);
    for (int pass = 0; pass < 2; pass++) {
        const int64_t *ids = pass ? item_ids : user_ids;
        int32_t n = pass ? n_items : n_users;
        for (int32_t k = 0; k < n; k++) {
            if (sizeof buf - used < 8) {
                h = mfr_fnv1a(h, buf, used);
                used = 0;
            }
            used += put_le(buf + used, (uint64_t)ids[k], 8);
        }
    }
    return mfr_fnv1a(h, buf, used);
}

uint64_t mfr_fingerprint_ratings(uint64_t h, const mfr_ratings *r)
{
    unsigned char buf[4096];
    size_t used = 0;
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

/* FNV-1a runs byte by byte: the two parts hashed in turn are the one hash. */
uint64_t mfr_dataset_compute_fingerprint(const mfr_dataset *ds)
{
    return mfr_fingerprint_ratings(mfr_fingerprint_ids(ds->n_users, ds->n_items, ds->user_ids, ds->item_ids),
                                   ds->ratings);
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
