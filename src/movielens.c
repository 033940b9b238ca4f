/*
 * movielens.c — loads a dataset in the MovieLens 100K layout (u.data,
 * u.item, u.user, u.genre, u.occupation), reads further rating files through
 * a dataset's id maps, and implements the dataset accessors of mfrec.h.
 *
 * Input is never trusted: every malformed line is a MFR_ERR_PARSE whose
 * message starts with "PATH:LINE: " (1-based), and a missing or unreadable
 * file is MFR_ERR_IO. Files are read whole into memory and split by hand
 * (memchr for separators, hand-written number parsing, no sscanf), because
 * the same code must handle tens of millions of lines.
 *
 * DESIGN
 *
 * Dense indices. Raw ids are positive int64 values; dense user (item)
 * indices are 0.. in ascending raw-id order over the union of the ids seen
 * in u.data and u.user (u.item). While the files are parsed, each new raw id
 * gets a provisional index (first-appearance order) from a small open
 * addressing hash table (struct id_map), and ratings store provisional
 * indices. Once every file is read, the distinct ids are sorted, and the
 * ratings and metadata are renumbered in place. Looking a raw id up in a
 * finished dataset is a binary search over the sorted id arrays.
 *
 * Duplicates. A (user, item) pair rated twice is found without hashing
 * pairs: the rating indices are bucketed by user (a stable counting sort),
 * then each bucket marks its items in an array indexed by item. The error
 * reported is the duplicate whose second line comes first in the file, so
 * the message is the same on every run.
 *
 * Numbers. Ratings are read without strtod's locale dependence: short
 * decimals (at most 7 significant digits and 10 decimal places, i.e. every
 * rating seen in practice) are one correctly rounded float division of two
 * exact floats; anything else is rewritten as "DIGITSeEXP", which has no
 * radix character, and handed to strtof.
 *
 * Ownership. The dataset owns every array and string it points to: one
 * malloc per title, date, genre name and occupation name (NULL title or
 * date reads as ""); mfr_dataset_destroy frees them all.
 */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataset_priv.h"

/* The 19 genres of ML-100K, used when u.genre is absent. */
static const char *const default_genres[] = {
    "unknown",     "Action", "Adventure", "Animation", "Children's", "Comedy",  "Crime",
    "Documentary", "Drama",  "Fantasy",   "Film-Noir", "Horror",     "Musical", "Mystery",
    "Romance",     "Sci-Fi", "Thriller",  "War",       "Western",
};
#define N_DEFAULT_GENRES ((int32_t)(sizeof default_genres / sizeof *default_genres))
#define MAX_GENRES 32 /* bits of the uint32_t genre mask */
#define ITEM_FIXED_FIELDS 5
#define MAX_ZIP_LEN ((int)sizeof(((struct mfr_user_meta *)0)->zip) - 1)

void mfr_load_options_default(mfr_load_options *opt)
{
    if (!opt) return;
    opt->min_rating = 1.0f;
    opt->max_rating = 5.0f;
}

/* ------------------------------------------------------------------ */
/* Error messages                                                       */
/* ------------------------------------------------------------------ */

/* Sets a MFR_ERR_PARSE message "path:line: <fmt>" and returns the status. */
__attribute__((format(printf, 4, 5))) static int
parse_err(mfr_error *err, const char *path, int64_t line, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return mfr_seterr(err, MFR_ERR_PARSE, "%s:%" PRId64 ": %s", path, line, msg);
}

/* Copies at most 32 bytes of an untrusted field into buf (>= 40 bytes) for
 * a message, replacing bytes outside printable ASCII with '?'. */
static const char *show(const char *s, size_t n, char *buf)
{
    size_t k = 0;
    for (; k < n && k < 32; k++) buf[k] = (s[k] >= 0x20 && s[k] < 0x7f) ? s[k] : '?';
    if (k < n) {
        memcpy(buf + k, "...", 3);
        k += 3;
    }
    buf[k] = '\0';
    return buf;
}

static int nomem(mfr_error *err, const char *what)
{
    return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory %s", what);
}

/* ------------------------------------------------------------------ */
/* Files and lines                                                      */
/* ------------------------------------------------------------------ */

struct text_file {
    char *path; /* malloc'd */
    char *data; /* size bytes plus a NUL; NULL when an optional file is absent */
    size_t size;
};

static void text_file_free(struct text_file *f)
{
    free(f->path);
    free(f->data);
    memset(f, 0, sizeof *f);
}

/*
 * Reads the file dir/name (just `name` when dir is NULL) into f. When
 * `optional` is set and the file does not exist, returns MFR_OK with
 * f->data NULL. f->path is set whenever MFR_OK is returned.
 */
static int text_file_read(const char *dir, const char *name, bool optional,
                          struct text_file *f, mfr_error *err)
{
    memset(f, 0, sizeof *f);
    size_t dl = dir ? strlen(dir) : 0, nl = strlen(name);
    f->path = malloc(dl + nl + 2);
    if (!f->path) return nomem(err, "reading a file name");
    if (dir) {
        memcpy(f->path, dir, dl);
        f->path[dl] = '/';
        memcpy(f->path + dl + 1, name, nl + 1);
    } else {
        memcpy(f->path, name, nl + 1);
    }

    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (optional && e == ENOENT) return MFR_OK;
        return mfr_seterr(err, MFR_ERR_IO, "cannot open %s: %s", f->path, strerror(e));
    }
    int rc = MFR_OK;
    size_t cap = 1 << 16, n = 0;
    struct stat st;
    if (fstat(fd, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            rc = mfr_seterr(err, MFR_ERR_IO, "cannot read %s: is a directory", f->path);
            goto done;
        }
        if (S_ISREG(st.st_mode) && st.st_size > 0 && (uint64_t)st.st_size < SIZE_MAX - 1)
            cap = (size_t)st.st_size + 2; /* +2: the NUL, and room to see EOF */
    }
    char *buf = malloc(cap);
    if (!buf) {
        rc = mfr_seterr(err, MFR_ERR_NOMEM, "out of memory reading %s (%zu bytes)", f->path,
                        cap);
        goto done;
    }
    for (;;) {
        if (cap - n < 2) {
            size_t ncap;
            char *nb = NULL;
            if (mfr_mul_size(cap, 2, &ncap)) nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                rc = mfr_seterr(err, MFR_ERR_NOMEM, "out of memory reading %s", f->path);
                goto done;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t got = read(fd, buf + n, cap - n - 1);
        if (got < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            free(buf);
            rc = mfr_seterr(err, MFR_ERR_IO, "cannot read %s: %s", f->path, strerror(e));
            goto done;
        }
        if (got == 0) break;
        n += (size_t)got;
    }
    buf[n] = '\0';
    f->data = buf;
    f->size = n;
done:
    close(fd);
    return rc;
}

/* Counts the lines of f: an upper bound on its records. */
static size_t count_lines(const struct text_file *f)
{
    size_t lines = 1;
    for (size_t k = 0; k < f->size; k++) lines += f->data[k] == '\n';
    return lines;
}

/* Iterates over the lines of a buffer; `line` is the 1-based number of the
 * line last returned. A trailing '\r' is stripped (CRLF files), and a last
 * line without '\n' counts as a line. */
struct line_iter {
    const char *p, *end;
    int64_t line;
};

static bool line_next(struct line_iter *it, const char **s, size_t *n)
{
    if (it->p >= it->end) return false;
    const char *nl = memchr(it->p, '\n', (size_t)(it->end - it->p));
    const char *e = nl ? nl : it->end;
    *s = it->p;
    *n = (size_t)(e - it->p);
    if (*n && (*s)[*n - 1] == '\r') (*n)--;
    it->p = nl ? nl + 1 : it->end;
    it->line++;
    return true;
}

struct field {
    const char *s;
    size_t n;
};

/* Splits s[0..n) at `sep`. Stores the first `max` fields and returns the
 * total number of fields (saturating at SIZE_MAX is impossible: <= n + 1). */
static size_t split_fields(const char *s, size_t n, char sep, struct field *fields,
                           size_t max)
{
    size_t count = 0;
    const char *end = s + n;
    for (;;) {
        const char *q = memchr(s, sep, (size_t)(end - s));
        const char *e = q ? q : end;
        if (count < max) fields[count] = (struct field){s, (size_t)(e - s)};
        count++;
        if (!q) return count;
        s = q + 1;
    }
}

/* ------------------------------------------------------------------ */
/* Numbers                                                              */
/* ------------------------------------------------------------------ */

enum num_status { NUM_OK, NUM_BAD, NUM_RANGE };

/* Parses a non-empty run of ASCII digits into [0, INT64_MAX]. */
static enum num_status parse_u63(const char *s, size_t n, int64_t *out)
{
    if (n == 0) return NUM_BAD;
    uint64_t v = 0;
    bool over = false;
    for (size_t k = 0; k < n; k++) {
        unsigned d = (unsigned char)s[k] - '0';
        if (d > 9) return NUM_BAD;
        if (v > ((uint64_t)INT64_MAX - d) / 10)
            over = true;
        else
            v = v * 10 + d;
    }
    if (over) return NUM_RANGE;
    *out = (int64_t)v;
    return NUM_OK;
}

/* Parses an optionally '-' signed decimal integer into int64. */
static enum num_status parse_i64(const char *s, size_t n, int64_t *out)
{
    bool neg = n > 0 && s[0] == '-';
    int64_t v;
    enum num_status st = parse_u63(s + neg, n - neg, &v);
    if (st == NUM_RANGE && neg && n - 1 == 19 &&
        memcmp(s + 1, "9223372036854775808", 19) == 0) {
        *out = INT64_MIN;
        return NUM_OK;
    }
    if (st != NUM_OK) return st;
    *out = neg ? -v : v;
    return NUM_OK;
}

/*
 * Parses [+-]digits[.digits][(e|E)[+-]digits] (at least one mantissa
 * digit) into the nearest float, independently of the locale. NUM_RANGE
 * when the value overflows or underflows float.
 */
static enum num_status parse_float(const char *s, size_t n, float *out)
{
    static const float pow10f[] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f,
                                   1e6f, 1e7f, 1e8f, 1e9f, 1e10f};
    enum { MAX_DIGITS = 48 };
    size_t k = 0;
    bool neg = false;
    if (k < n && (s[k] == '-' || s[k] == '+')) neg = s[k++] == '-';

    /* Significant digits (leading zeros skipped), at most MAX_DIGITS kept;
     * the value is 0.DIGITS... rescaled by exp10 below. */
    char digits[MAX_DIGITS + 2];
    int nd = 0, n_mant = 0;
    int64_t exp10 = 0; /* value = DIGITS * 10^exp10 */
    bool sticky = false, seen_point = false;
    for (; k < n; k++) {
        char c = s[k];
        if (c == '.' && !seen_point) {
            seen_point = true;
            continue;
        }
        if (c < '0' || c > '9') break;
        n_mant++;
        if (nd == 0 && c == '0') {
            if (seen_point) exp10--;
            continue;
        }
        if (nd < MAX_DIGITS) {
            digits[nd++] = c;
            if (seen_point) exp10--;
        } else {
            if (c != '0') sticky = true;
            if (!seen_point) exp10++;
        }
    }
    if (n_mant == 0) return NUM_BAD;
    if (k < n && (s[k] == 'e' || s[k] == 'E')) {
        k++;
        bool eneg = false;
        if (k < n && (s[k] == '-' || s[k] == '+')) eneg = s[k++] == '-';
        if (k == n) return NUM_BAD;
        int64_t e = 0;
        for (; k < n && s[k] >= '0' && s[k] <= '9'; k++)
            if (e < 1000000) e = e * 10 + (s[k] - '0'); /* saturate: inf or 0 anyway */
        exp10 += eneg ? -e : e;
    }
    if (k != n) return NUM_BAD;
    if (nd == 0) {
        *out = neg ? -0.0f : 0.0f;
        return NUM_OK;
    }

#if FLT_EVAL_METHOD == 0
    /* Fast path: both operands exact floats, one correctly rounded op. */
    if (nd <= 7 && !sticky && exp10 >= -10 && exp10 <= 10) {
        int32_t m = 0;
        for (int d = 0; d < nd; d++) m = m * 10 + (digits[d] - '0');
        float v = exp10 < 0 ? (float)m / pow10f[-exp10] : (float)m * pow10f[exp10];
        *out = neg ? -v : v;
        return NUM_OK;
    }
#endif
    if (sticky) digits[nd++] = '1'; /* stands for the dropped non-zero tail */
    if (sticky) exp10--;
    char text[MAX_DIGITS + 40];
    snprintf(text, sizeof text, "%s%.*se%" PRId64, neg ? "-" : "", nd, digits, exp10);
    errno = 0;
    float v = strtof(text, NULL);
    if (errno == ERANGE || !isfinite(v)) return NUM_RANGE;
    *out = v;
    return NUM_OK;
}

/* ------------------------------------------------------------------ */
/* Text fields                                                          */
/* ------------------------------------------------------------------ */

/* True for bytes a latin-1 text field may not contain: C0 controls, DEL
 * and the C1 range 0x80-0x9F. */
static bool latin1_bad(unsigned char c)
{
    return c < 0x20 || c == 0x7f || (c >= 0x80 && c <= 0x9f);
}

/*
 * Converts latin-1 bytes to a malloc'd NUL-terminated UTF-8 string in *out.
 * Returns MFR_OK, MFR_ERR_NOMEM, or MFR_ERR_PARSE with *bad set to the
 * offset of the first byte latin1_bad() rejects (*out untouched).
 */
static int latin1_to_utf8(const char *s, size_t n, char **out, size_t *bad)
{
    size_t extra = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        if (latin1_bad(c)) {
            *bad = k;
            return MFR_ERR_PARSE;
        }
        extra += c >= 0x80;
    }
    char *p = malloc(n + extra + 1); /* n + extra <= 2n < SIZE_MAX: n is a line length */
    if (!p) return MFR_ERR_NOMEM;
    size_t j = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c < 0x80) {
            p[j++] = (char)c;
        } else {
            p[j++] = (char)(0xc0 | (c >> 6));
            p[j++] = (char)(0x80 | (c & 0x3f));
        }
    }
    p[j] = '\0';
    *out = p;
    return MFR_OK;
}

/* latin1_to_utf8 with the error message "path:line: invalid byte ... in
 * <what>". */
static int text_field(const char *path, int64_t line, const char *what, struct field f,
                      char **out, mfr_error *err)
{
    size_t bad = 0;
    int rc = latin1_to_utf8(f.s, f.n, out, &bad);
    if (rc == MFR_ERR_NOMEM) return nomem(err, "converting text");
    if (rc != MFR_OK)
        return parse_err(err, path, line, "invalid byte 0x%02X in %s (byte %zu)",
                         (unsigned char)f.s[bad], what, bad + 1);
    return MFR_OK;
}

/* Parses a positive raw id field; `what` is "user id" or "item id". */
static int id_field(const char *path, int64_t line, const char *what, struct field f,
                    int64_t *out, mfr_error *err)
{
    char b[40];
    switch (parse_u63(f.s, f.n, out)) {
    case NUM_OK:
        if (*out == 0) return parse_err(err, path, line, "%s 0 is not positive", what);
        return MFR_OK;
    case NUM_RANGE:
        return parse_err(err, path, line, "%s %s does not fit in int64", what,
                         show(f.s, f.n, b));
    default:
        return parse_err(err, path, line, "%s '%s' is not a positive integer", what,
                         show(f.s, f.n, b));
    }
}

/* The year of a date "01-Jan-1995" (its trailing "-YYYY" or a bare "YYYY"),
 * or of a title ending in "(1995)"; 0 when there is none. */
static int32_t year_of(struct field date, struct field title)
{
    const char *s = date.s;
    size_t n = date.n;
    if (n >= 4 && (n == 4 || s[n - 5] == '-')) {
        int64_t y;
        if (parse_u63(s + n - 4, 4, &y) == NUM_OK) return (int32_t)y;
    }
    s = title.s;
    n = title.n;
    while (n && s[n - 1] == ' ') n--;
    if (n >= 6 && s[n - 1] == ')' && s[n - 6] == '(') {
        int64_t y;
        if (parse_u63(s + n - 5, 4, &y) == NUM_OK) return (int32_t)y;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Raw id -> provisional index                                          */
/* ------------------------------------------------------------------ */

/* Open addressing hash table from raw id (> 0; 0 marks an empty slot) to a
 * provisional index assigned in first-appearance order. Key and value
 * share a slot so that a lookup touches one cache line. */
struct id_slot {
    int64_t key;
    int32_t val;
};

struct id_map {
    struct id_slot *slots;
    size_t cap;   /* power of two, or 0 before the first insertion */
    int64_t *raw; /* provisional index -> raw id */
    int32_t n;
    int64_t last_key; /* one-entry cache: files are often grouped by id */
    int32_t last_val;
};

static void id_map_free(struct id_map *m)
{
    free(m->slots);
    free(m->raw);
    memset(m, 0, sizeof *m);
}

static size_t id_hash(int64_t key, size_t cap)
{
    uint64_t x = (uint64_t)key;
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return (size_t)x & (cap - 1);
}

/* Doubles the table (and the raw array). MFR_ERR_NOMEM on failure. */
static int id_map_grow(struct id_map *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 1024;
    struct id_slot *slots = calloc(ncap, sizeof *slots);
    int64_t *raw = realloc(m->raw, ncap / 2 * sizeof *raw);
    if (raw) m->raw = raw;
    if (!slots || !raw) {
        free(slots);
        return MFR_ERR_NOMEM;
    }
    for (size_t s = 0; s < m->cap; s++) {
        if (!m->slots[s].key) continue;
        size_t h = id_hash(m->slots[s].key, ncap);
        while (slots[h].key) h = (h + 1) & (ncap - 1);
        slots[h] = m->slots[s];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = ncap;
    return MFR_OK;
}

/* Finds or inserts `key` (> 0). Returns MFR_OK, MFR_ERR_NOMEM, or
 * MFR_ERR_TOO_LARGE when there would be more than INT32_MAX ids. */
static int id_map_get_or_add(struct id_map *m, int64_t key, int32_t *idx)
{
    if (key == m->last_key && m->n) {
        *idx = m->last_val;
        return MFR_OK;
    }
    if ((size_t)m->n + 1 > m->cap / 2) {
        if (m->n == INT32_MAX || m->cap > SIZE_MAX / 64) return MFR_ERR_TOO_LARGE;
        int rc = id_map_grow(m);
        if (rc != MFR_OK) return rc;
    }
    size_t h = id_hash(key, m->cap);
    struct id_slot *slot = &m->slots[h];
    while (slot->key && slot->key != key) {
        h = (h + 1) & (m->cap - 1);
        slot = &m->slots[h];
    }
    if (!slot->key) {
        slot->key = key;
        slot->val = m->n;
        m->raw[m->n] = key;
        m->n++;
    }
    *idx = slot->val;
    m->last_key = key;
    m->last_val = *idx;
    return MFR_OK;
}

static int id_map_err(int rc, mfr_error *err, const char *path, const char *what)
{
    if (rc == MFR_ERR_TOO_LARGE)
        return mfr_seterr(err, rc, "%s: more than %" PRId32 " distinct %s ids", path,
                          INT32_MAX, what);
    return nomem(err, "indexing ids");
}

struct id_pair {
    int64_t raw;
    int32_t prov;
};

static int cmp_id_pair(const void *a, const void *b)
{
    int64_t x = ((const struct id_pair *)a)->raw, y = ((const struct id_pair *)b)->raw;
    return (x > y) - (x < y);
}

/* Sorts the map's ids: *sorted (malloc'd, n entries) is dense -> raw and
 * *perm (malloc'd) provisional -> dense. */
static int id_map_finish(const struct id_map *m, int64_t **sorted, int32_t **perm)
{
    size_t n = (size_t)m->n, cnt = n ? n : 1;
    struct id_pair *pairs = malloc(cnt * sizeof *pairs);
    *sorted = malloc(cnt * sizeof **sorted);
    *perm = malloc(cnt * sizeof **perm);
    if (!pairs || !*sorted || !*perm) {
        free(pairs);
        free(*sorted);
        free(*perm);
        *sorted = NULL;
        *perm = NULL;
        return MFR_ERR_NOMEM;
    }
    for (size_t k = 0; k < n; k++) pairs[k] = (struct id_pair){m->raw[k], (int32_t)k};
    qsort(pairs, n, sizeof *pairs, cmp_id_pair);
    for (size_t k = 0; k < n; k++) {
        (*sorted)[k] = pairs[k].raw;
        (*perm)[pairs[k].prov] = (int32_t)k;
    }
    free(pairs);
    return MFR_OK;
}

/* Dense index of `raw` in the ascending array ids[0..n), or -1. */
static int32_t find_id(const int64_t *ids, int32_t n, int64_t raw)
{
    int32_t lo = 0, hi = n;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (ids[mid] < raw)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && ids[lo] == raw ? lo : -1;
}

/* ------------------------------------------------------------------ */
/* Rating files                                                         */
/* ------------------------------------------------------------------ */

/* How a rating file's raw ids become indices: through growing id maps
 * (loading a dataset) or through a finished dataset (unknown ids fail). */
struct rating_ids {
    struct id_map *users, *items; /* loading */
    const mfr_dataset *ds;        /* reading through a dataset */
};

static int map_id(const struct rating_ids *ids, bool user, const char *path, int64_t line,
                  int64_t raw, int32_t *idx, mfr_error *err)
{
    const char *what = user ? "user" : "item";
    if (ids->ds) {
        *idx = user ? find_id(ids->ds->user_ids, ids->ds->n_users, raw)
                    : find_id(ids->ds->item_ids, ids->ds->n_items, raw);
        if (*idx < 0)
            return parse_err(err, path, line, "unknown %s id %" PRId64, what, raw);
        return MFR_OK;
    }
    int rc = id_map_get_or_add(user ? ids->users : ids->items, raw, idx);
    return rc == MFR_OK ? rc : id_map_err(rc, err, path, what);
}

/*
 * Parses a u.data-format file ("user\titem\trating[\ttimestamp]" lines)
 * into *out, in file order, mapping ids through `ids`. Rating k comes from
 * line k + 1: blank lines are allowed only at the end.
 */
static int parse_rating_file(const struct text_file *f, const struct rating_ids *ids,
                             float min_r, float max_r, mfr_ratings **out, mfr_error *err)
{
    *out = NULL;
    size_t lines = count_lines(f);
    if (lines > INT64_MAX)
        return mfr_seterr(err, MFR_ERR_TOO_LARGE, "%s: too many lines", f->path);
    mfr_ratings *r = NULL;
    int rc = mfr_ratings_alloc((int64_t)lines, &r, err);
    if (rc != MFR_OK) return rc;

    struct line_iter it = {f->data, f->data + f->size, 0};
    const char *s;
    size_t n;
    int64_t count = 0, blank = 0;
    char b[40];
    while (line_next(&it, &s, &n)) {
        if (n == 0) {
            if (!blank) blank = it.line;
            continue;
        }
        if (blank) {
            rc = parse_err(err, f->path, blank, "blank line before the end of the file");
            goto fail;
        }
        struct field fl[5];
        size_t nf = split_fields(s, n, '\t', fl, 5);
        if (nf < 3 || nf > 4) {
            rc = parse_err(err, f->path, it.line,
                           "expected 3 or 4 tab-separated fields (user, item, rating, "
                           "timestamp), got %zu",
                           nf);
            goto fail;
        }
        int64_t uid, iid, ts = 0;
        float v;
        if ((rc = id_field(f->path, it.line, "user id", fl[0], &uid, err)) != MFR_OK ||
            (rc = id_field(f->path, it.line, "item id", fl[1], &iid, err)) != MFR_OK)
            goto fail;
        enum num_status st = parse_float(fl[2].s, fl[2].n, &v);
        if (st != NUM_OK) {
            rc = parse_err(err, f->path, it.line,
                           st == NUM_RANGE ? "rating %s is out of float range"
                                           : "rating '%s' is not a number",
                           show(fl[2].s, fl[2].n, b));
            goto fail;
        }
        if (!(v >= min_r && v <= max_r)) {
            rc = parse_err(err, f->path, it.line, "rating %s outside %g..%g",
                           show(fl[2].s, fl[2].n, b), (double)min_r, (double)max_r);
            goto fail;
        }
        if (nf == 4 && (st = parse_i64(fl[3].s, fl[3].n, &ts)) != NUM_OK) {
            rc = parse_err(err, f->path, it.line,
                           st == NUM_RANGE ? "timestamp %s does not fit in int64"
                                           : "timestamp '%s' is not an integer",
                           show(fl[3].s, fl[3].n, b));
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
    if (count == 0) {
        rc = parse_err(err, f->path, 1, "file is empty (no ratings)");
        goto fail;
    }
    r->n = count;
    *out = r;
    return MFR_OK;

fail:
    mfr_ratings_destroy(r);
    return rc;
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
    int64_t *start = calloc((size_t)n_users + 1, sizeof *start);
    int64_t *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    int32_t *mark = malloc(((size_t)n_items + 1) * sizeof *mark);
    int64_t *where = malloc(((size_t)n_items + 1) * sizeof *where);
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

/* Fails with "path:LINE2: duplicate rating ... (first on line LINE1)" when a
 * (user, item) pair repeats; raw ids come from user_raw / item_raw. */
static int check_duplicates(const char *path, const mfr_ratings *r, int32_t n_users,
                            int32_t n_items, const int64_t *user_raw,
                            const int64_t *item_raw, mfr_error *err)
{
    int64_t first, second;
    if (find_duplicate(r, n_users, n_items, &first, &second) != MFR_OK)
        return nomem(err, "checking for duplicate ratings");
    if (second < 0) return MFR_OK;
    return parse_err(err, path, second + 1,
                     "duplicate rating for user %" PRId64 " and item %" PRId64
                     " (first on line %" PRId64 ")",
                     user_raw[r->user[second]], item_raw[r->item[second]], first + 1);
}

/* ------------------------------------------------------------------ */
/* Metadata files                                                       */
/* ------------------------------------------------------------------ */

/* The first member of every metadata record: which id, from which line. */
struct rec_head {
    int32_t prov; /* provisional index of the record's raw id */
    int64_t line;
};

struct item_rec {
    struct rec_head head;
    struct mfr_item_meta meta;
};

struct user_rec {
    struct rec_head head;
    int32_t age;
    char sex;
    char zip[16];
    char *occupation; /* UTF-8, NULL when the field is empty */
};

/* Everything a load holds until the dataset is complete. */
struct loader {
    const char *dir;
    mfr_load_options opt;
    struct id_map users, items;
    mfr_ratings *ratings; /* provisional indices until finish */
    struct item_rec *item_recs;
    size_t n_item_recs;
    struct user_rec *user_recs;
    size_t n_user_recs;
    char **genres;
    int32_t n_genres;
    char **occs;
    int32_t n_occs;
    bool occs_from_file;
};

static void free_strings(char **v, int32_t n)
{
    if (!v) return;
    for (int32_t k = 0; k < n; k++) free(v[k]);
    free(v);
}

static void loader_free(struct loader *ld)
{
    id_map_free(&ld->users);
    id_map_free(&ld->items);
    mfr_ratings_destroy(ld->ratings);
    for (size_t k = 0; k < ld->n_item_recs; k++) {
        free(ld->item_recs[k].meta.title);
        free(ld->item_recs[k].meta.date);
    }
    free(ld->item_recs);
    for (size_t k = 0; k < ld->n_user_recs; k++) free(ld->user_recs[k].occupation);
    free(ld->user_recs);
    free_strings(ld->genres, ld->n_genres);
    free_strings(ld->occs, ld->n_occs);
}

/* Reads u.genre ("name|index" lines, blank lines ignored), or installs the
 * ML-100K names when it is absent. Indices must be exactly 0..n-1. */
static int load_genres(struct loader *ld, mfr_error *err)
{
    struct text_file f;
    int rc = text_file_read(ld->dir, "u.genre", true, &f, err);
    if (rc != MFR_OK) goto done;
    ld->genres = calloc(MAX_GENRES, sizeof *ld->genres);
    if (!ld->genres) {
        rc = nomem(err, "reading genres");
        goto done;
    }
    if (!f.data) {
        ld->n_genres = N_DEFAULT_GENRES;
        for (int32_t g = 0; g < N_DEFAULT_GENRES; g++) {
            ld->genres[g] = strdup(default_genres[g]);
            if (!ld->genres[g]) {
                rc = nomem(err, "reading genres");
                goto done;
            }
        }
        goto done;
    }
    ld->n_genres = MAX_GENRES; /* so that loader_free frees every slot */
    int64_t line_of[MAX_GENRES] = {0};
    int32_t n = 0;
    struct line_iter it = {f.data, f.data + f.size, 0};
    const char *s;
    size_t len;
    char b[40];
    while (line_next(&it, &s, &len)) {
        if (len == 0) continue;
        struct field fl[2];
        size_t nf = split_fields(s, len, '|', fl, 2);
        if (nf != 2) {
            rc = parse_err(err, f.path, it.line,
                           "expected 2 '|'-separated fields (name, index), got %zu", nf);
            goto done;
        }
        int64_t g;
        if (parse_u63(fl[1].s, fl[1].n, &g) != NUM_OK || g >= MAX_GENRES) {
            rc = parse_err(err, f.path, it.line,
                           "genre index '%s' is not an integer in 0..%d",
                           show(fl[1].s, fl[1].n, b), MAX_GENRES - 1);
            goto done;
        }
        if (line_of[g]) {
            rc = parse_err(err, f.path, it.line,
                           "duplicate genre index %" PRId64 " (first on line %" PRId64 ")",
                           g, line_of[g]);
            goto done;
        }
        if (fl[0].n == 0) {
            rc = parse_err(err, f.path, it.line, "empty genre name");
            goto done;
        }
        if ((rc = text_field(f.path, it.line, "genre name", fl[0], &ld->genres[g], err)) !=
            MFR_OK)
            goto done;
        line_of[g] = it.line;
        if (g + 1 > n) n = (int32_t)g + 1;
    }
    if (n == 0) {
        rc = parse_err(err, f.path, 1, "file is empty (no genres)");
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
done:
    text_file_free(&f);
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

/* Reads u.occupation (one name per line, blank lines ignored) when present. */
static int load_occupations(struct loader *ld, mfr_error *err)
{
    struct text_file f;
    struct name_idx *sorted = NULL;
    int rc = text_file_read(ld->dir, "u.occupation", true, &f, err);
    if (rc != MFR_OK || !f.data) goto done;
    size_t cap = count_lines(&f);
    if (cap > INT32_MAX) {
        rc = mfr_seterr(err, MFR_ERR_TOO_LARGE, "%s: too many lines", f.path);
        goto done;
    }
    ld->occs = calloc(cap, sizeof *ld->occs);
    int64_t *line_of = calloc(cap, sizeof *line_of);
    if (!ld->occs || !line_of) {
        free(line_of);
        rc = nomem(err, "reading occupations");
        goto done;
    }
    ld->occs_from_file = true;
    struct line_iter it = {f.data, f.data + f.size, 0};
    const char *s;
    size_t len;
    while (line_next(&it, &s, &len)) {
        if (len == 0) continue;
        rc = text_field(f.path, it.line, "occupation", (struct field){s, len},
                        &ld->occs[ld->n_occs], err);
        if (rc != MFR_OK) break;
        line_of[ld->n_occs++] = it.line;
    }
    if (rc == MFR_OK && ld->n_occs == 0)
        rc = parse_err(err, f.path, 1, "file is empty (no occupations)");
    if (rc == MFR_OK) {
        sorted = malloc((size_t)ld->n_occs * sizeof *sorted);
        if (!sorted) rc = nomem(err, "reading occupations");
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
            rc = parse_err(err, f.path, line_of[hi],
                           "duplicate occupation '%s' (first on line %" PRId64 ")",
                           show(ld->occs[hi], strlen(ld->occs[hi]), b), line_of[lo]);
            break;
        }
    }
    free(line_of);
done:
    free(sorted);
    text_file_free(&f);
    return rc;
}

/* Grows a record vector by one; returns the new slot (zeroed) or NULL. */
static void *rec_push(void **v, size_t *n, size_t *cap, size_t size)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64, bytes;
        if (!mfr_mul_size(ncap, size, &bytes)) return NULL;
        void *nv = realloc(*v, bytes);
        if (!nv) return NULL;
        *v = nv;
        *cap = ncap;
    }
    void *slot = (char *)*v + *n * size;
    memset(slot, 0, size);
    (*n)++;
    return slot;
}

/* Fails when two of the n records (each `stride` bytes, starting with a
 * struct rec_head) have the same raw id. */
static int check_unique_ids(const char *path, const char *what, const struct id_map *m,
                            const void *recs, size_t n, size_t stride, mfr_error *err)
{
    int64_t *seen = calloc((size_t)m->n + 1, sizeof *seen);
    if (!seen) return nomem(err, "checking ids");
    int rc = MFR_OK;
    for (size_t k = 0; k < n; k++) {
        const struct rec_head *h = (const void *)((const char *)recs + k * stride);
        int32_t p = h->prov;
        int64_t l = h->line;
        if (seen[p]) {
            rc = parse_err(err, path, l,
                           "duplicate %s id %" PRId64 " (first on line %" PRId64 ")", what,
                           m->raw[p], seen[p]);
            break;
        }
        seen[p] = l;
    }
    free(seen);
    return rc;
}

/* Reads u.item when present: "id|title|date|video date|URL|flags...". */
static int load_items(struct loader *ld, mfr_error *err)
{
    struct text_file f;
    int rc = text_file_read(ld->dir, "u.item", true, &f, err);
    if (rc != MFR_OK || !f.data) goto done;
    size_t want = ITEM_FIXED_FIELDS + (size_t)ld->n_genres, cap = 0;
    struct line_iter it = {f.data, f.data + f.size, 0};
    const char *s;
    size_t len;
    int64_t blank = 0;
    char b[40];
    while (line_next(&it, &s, &len)) {
        if (len == 0) {
            if (!blank) blank = it.line;
            continue;
        }
        if (blank) {
            rc = parse_err(err, f.path, blank, "blank line before the end of the file");
            goto done;
        }
        struct field fl[ITEM_FIXED_FIELDS + MAX_GENRES];
        size_t nf = split_fields(s, len, '|', fl, ITEM_FIXED_FIELDS + MAX_GENRES);
        if (nf != want) {
            rc = parse_err(err, f.path, it.line,
                           "expected %zu '|'-separated fields, got %zu", want, nf);
            goto done;
        }
        int64_t raw;
        if ((rc = id_field(f.path, it.line, "item id", fl[0], &raw, err)) != MFR_OK)
            goto done;
        struct item_rec *rec =
            rec_push((void **)&ld->item_recs, &ld->n_item_recs, &cap, sizeof *rec);
        if (!rec) {
            rc = nomem(err, "reading items");
            goto done;
        }
        rec->head.line = it.line;
        if ((rc = id_map_get_or_add(&ld->items, raw, &rec->head.prov)) != MFR_OK) {
            rc = id_map_err(rc, err, f.path, "item");
            goto done;
        }
        if ((rc = text_field(f.path, it.line, "title", fl[1], &rec->meta.title, err)) !=
                MFR_OK ||
            (rc = text_field(f.path, it.line, "release date", fl[2], &rec->meta.date,
                             err)) != MFR_OK)
            goto done;
        rec->meta.year = year_of(fl[2], fl[1]);
        for (int32_t g = 0; g < ld->n_genres; g++) {
            struct field x = fl[ITEM_FIXED_FIELDS + g];
            if (x.n != 1 || (x.s[0] != '0' && x.s[0] != '1')) {
                rc = parse_err(err, f.path, it.line,
                               "genre flag %" PRId32 " (%s) is '%s', expected 0 or 1", g,
                               ld->genres[g], show(x.s, x.n, b));
                goto done;
            }
            if (x.s[0] == '1') rec->meta.genres |= UINT32_C(1) << g;
        }
    }
    if (ld->n_item_recs == 0) {
        rc = parse_err(err, f.path, 1, "file is empty (no items)");
        goto done;
    }
    rc = check_unique_ids(f.path, "item", &ld->items, ld->item_recs, ld->n_item_recs,
                          sizeof *ld->item_recs, err);
done:
    text_file_free(&f);
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
static int resolve_occupations(struct loader *ld, const char *path, int32_t *occ_idx,
                               mfr_error *err)
{
    int rc = MFR_OK;
    size_t n = ld->n_user_recs;
    struct name_idx *sorted = malloc((n + (size_t)ld->n_occs + 1) * sizeof *sorted);
    if (!sorted) return nomem(err, "resolving occupations");
    if (!ld->occs_from_file) {
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
        ld->occs = calloc(u + 1, sizeof *ld->occs);
        if (!ld->occs) {
            rc = nomem(err, "resolving occupations");
            goto done;
        }
        for (size_t k = 0; k < u; k++) {
            ld->occs[k] = strdup(sorted[k].name);
            if (!ld->occs[k]) {
                rc = nomem(err, "resolving occupations");
                goto done;
            }
            ld->n_occs = (int32_t)k + 1;
        }
    }
    for (int32_t k = 0; k < ld->n_occs; k++) sorted[k] = (struct name_idx){ld->occs[k], k};
    qsort(sorted, (size_t)ld->n_occs, sizeof *sorted, cmp_name_idx);
    for (size_t k = 0; k < n; k++) {
        const struct user_rec *rec = &ld->user_recs[k];
        occ_idx[k] = -1;
        if (!rec->occupation) continue;
        occ_idx[k] = find_occupation(sorted, ld->n_occs, rec->occupation);
        if (occ_idx[k] < 0) {
            char b[40];
            rc = parse_err(err, path, rec->head.line,
                           "occupation '%s' is not listed in u.occupation",
                           show(rec->occupation, strlen(rec->occupation), b));
            goto done;
        }
    }
done:
    free(sorted);
    return rc;
}

/* Reads u.user when present: "id|age|sex|occupation|zip". The resolved
 * occupation indices go to *occ_idx (malloc'd, one per record). */
static int load_users(struct loader *ld, int32_t **occ_idx, mfr_error *err)
{
    struct text_file f;
    *occ_idx = NULL;
    int rc = text_file_read(ld->dir, "u.user", true, &f, err);
    if (rc != MFR_OK || !f.data) goto done;
    size_t cap = 0;
    struct line_iter it = {f.data, f.data + f.size, 0};
    const char *s;
    size_t len;
    int64_t blank = 0;
    char b[40];
    while (line_next(&it, &s, &len)) {
        if (len == 0) {
            if (!blank) blank = it.line;
            continue;
        }
        if (blank) {
            rc = parse_err(err, f.path, blank, "blank line before the end of the file");
            goto done;
        }
        struct field fl[5];
        size_t nf = split_fields(s, len, '|', fl, 5);
        if (nf != 5) {
            rc = parse_err(
                err, f.path, it.line,
                "expected 5 '|'-separated fields (id, age, sex, occupation, zip), got %zu",
                nf);
            goto done;
        }
        int64_t raw, age;
        if ((rc = id_field(f.path, it.line, "user id", fl[0], &raw, err)) != MFR_OK)
            goto done;
        if (parse_u63(fl[1].s, fl[1].n, &age) != NUM_OK || age < 1 || age > 150) {
            rc = parse_err(err, f.path, it.line, "age '%s' is not an integer in 1..150",
                           show(fl[1].s, fl[1].n, b));
            goto done;
        }
        if (fl[2].n != 1 || (fl[2].s[0] != 'M' && fl[2].s[0] != 'F')) {
            rc = parse_err(err, f.path, it.line, "sex '%s' is not M or F",
                           show(fl[2].s, fl[2].n, b));
            goto done;
        }
        if (fl[4].n > (size_t)MAX_ZIP_LEN) {
            rc = parse_err(err, f.path, it.line, "zip code '%s' is longer than %d bytes",
                           show(fl[4].s, fl[4].n, b), MAX_ZIP_LEN);
            goto done;
        }
        for (size_t k = 0; k < fl[4].n; k++) {
            if (fl[4].s[k] < 0x20 || fl[4].s[k] >= 0x7f) {
                rc = parse_err(err, f.path, it.line,
                               "invalid byte 0x%02X in zip code (byte %zu)",
                               (unsigned char)fl[4].s[k], k + 1);
                goto done;
            }
        }
        struct user_rec *rec =
            rec_push((void **)&ld->user_recs, &ld->n_user_recs, &cap, sizeof *rec);
        if (!rec) {
            rc = nomem(err, "reading users");
            goto done;
        }
        rec->head.line = it.line;
        rec->age = (int32_t)age;
        rec->sex = fl[2].s[0];
        memcpy(rec->zip, fl[4].s, fl[4].n);
        if (fl[3].n && (rc = text_field(f.path, it.line, "occupation", fl[3],
                                        &rec->occupation, err)) != MFR_OK)
            goto done;
        if ((rc = id_map_get_or_add(&ld->users, raw, &rec->head.prov)) != MFR_OK) {
            rc = id_map_err(rc, err, f.path, "user");
            goto done;
        }
    }
    if (ld->n_user_recs == 0) {
        rc = parse_err(err, f.path, 1, "file is empty (no users)");
        goto done;
    }
    rc = check_unique_ids(f.path, "user", &ld->users, ld->user_recs, ld->n_user_recs,
                          sizeof *ld->user_recs, err);
    if (rc != MFR_OK) goto done;
    *occ_idx = malloc(ld->n_user_recs * sizeof **occ_idx);
    if (!*occ_idx) {
        rc = nomem(err, "reading users");
        goto done;
    }
    rc = resolve_occupations(ld, f.path, *occ_idx, err);
done:
    text_file_free(&f);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Fingerprint                                                          */
/* ------------------------------------------------------------------ */

static size_t put_le(unsigned char *p, uint64_t v, size_t bytes)
{
    for (size_t k = 0; k < bytes; k++) p[k] = (unsigned char)(v >> (8 * k));
    return bytes;
}

/* FNV-1a 64 over n_users, n_items (int32), the raw user then item ids
 * (int64), then every rating's dense user, dense item (int32) and rating
 * (float bits), all little-endian, ratings in file order. */
static uint64_t dataset_fingerprint(const mfr_dataset *ds)
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

/* ------------------------------------------------------------------ */
/* Loading                                                              */
/* ------------------------------------------------------------------ */

static int check_options(const mfr_load_options *opt, mfr_error *err)
{
    if (!isfinite(opt->min_rating) || !isfinite(opt->max_rating) ||
        opt->min_rating > opt->max_rating)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "min_rating..max_rating must be a finite range, got %g..%g",
                          (double)opt->min_rating, (double)opt->max_rating);
    return MFR_OK;
}

/* Renumbers everything densely and moves it into ds. */
static int loader_finish(struct loader *ld, const int32_t *occ_idx, mfr_dataset *ds,
                         mfr_error *err)
{
    int32_t *uperm = NULL, *iperm = NULL;
    int rc = MFR_ERR_NOMEM;
    if (id_map_finish(&ld->users, &ds->user_ids, &uperm) != MFR_OK ||
        id_map_finish(&ld->items, &ds->item_ids, &iperm) != MFR_OK)
        goto done;
    ds->n_users = ld->users.n;
    ds->n_items = ld->items.n;
    ds->items = calloc((size_t)ds->n_items, sizeof *ds->items);
    ds->users = calloc((size_t)ds->n_users, sizeof *ds->users);
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
        const struct user_rec *rec = &ld->user_recs[k];
        struct mfr_user_meta *m = &ds->users[uperm[rec->head.prov]];
        m->age = rec->age;
        m->sex = rec->sex;
        m->occupation = occ_idx[k];
        memcpy(m->zip, rec->zip, sizeof m->zip);
    }
    ds->n_genres = ld->n_genres;
    ds->genre_names = ld->genres;
    ld->genres = NULL;
    ds->n_occupations = ld->n_occs;
    ds->occupations = ld->occs;
    ld->occs = NULL;
    ds->fingerprint = dataset_fingerprint(ds);
    rc = MFR_OK;
done:
    free(uperm);
    free(iperm);
    if (rc != MFR_OK) return nomem(err, "building the dataset");
    return rc;
}

int mfr_dataset_load(const char *dir, const mfr_load_options *opt, mfr_dataset **out,
                     mfr_error *err)
{
    if (!out) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_dataset_load: out is NULL");
    *out = NULL;
    if (!dir) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_dataset_load: dir is NULL");
    struct loader ld = {.dir = dir};
    mfr_load_options_default(&ld.opt);
    if (opt) ld.opt = *opt;
    int rc = check_options(&ld.opt, err);
    if (rc != MFR_OK) return rc;

    struct text_file f = {0};
    int32_t *occ_idx = NULL;
    mfr_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) {
        rc = nomem(err, "loading a dataset");
        goto fail;
    }
    ds->opt = ld.opt;
    if ((rc = text_file_read(dir, "u.data", false, &f, err)) != MFR_OK) goto fail;
    struct rating_ids ids = {.users = &ld.users, .items = &ld.items};
    if ((rc = parse_rating_file(&f, &ids, ld.opt.min_rating, ld.opt.max_rating, &ld.ratings,
                                err)) != MFR_OK ||
        (rc = check_duplicates(f.path, ld.ratings, ld.users.n, ld.items.n, ld.users.raw,
                               ld.items.raw, err)) != MFR_OK)
        goto fail;
    text_file_free(&f);

    if ((rc = load_genres(&ld, err)) != MFR_OK ||
        (rc = load_occupations(&ld, err)) != MFR_OK ||
        (rc = load_items(&ld, err)) != MFR_OK ||
        (rc = load_users(&ld, &occ_idx, err)) != MFR_OK ||
        (rc = loader_finish(&ld, occ_idx, ds, err)) != MFR_OK)
        goto fail;

    ds->dir = realpath(dir, NULL);
    if (!ds->dir) ds->dir = strdup(dir);
    if (!ds->dir) {
        rc = nomem(err, "loading a dataset");
        goto fail;
    }
    free(occ_idx);
    loader_free(&ld);
    *out = ds;
    return MFR_OK;

fail:
    text_file_free(&f);
    free(occ_idx);
    loader_free(&ld);
    mfr_dataset_destroy(ds);
    return rc;
}

int mfr_dataset_read_ratings(const mfr_dataset *ds, const char *path, mfr_ratings **out,
                             mfr_error *err)
{
    if (!out)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_dataset_read_ratings: out is NULL");
    *out = NULL;
    if (!ds || !path)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "mfr_dataset_read_ratings: dataset and path must not be NULL");
    struct text_file f;
    mfr_ratings *r = NULL;
    int rc = text_file_read(NULL, path, false, &f, err);
    if (rc != MFR_OK) goto done;
    struct rating_ids ids = {.ds = ds};
    if ((rc = parse_rating_file(&f, &ids, ds->opt.min_rating, ds->opt.max_rating, &r,
                                err)) != MFR_OK)
        goto done;
    rc = check_duplicates(f.path, r, ds->n_users, ds->n_items, ds->user_ids, ds->item_ids,
                          err);
    if (rc == MFR_OK) {
        *out = r;
        r = NULL;
    }
done:
    mfr_ratings_destroy(r);
    text_file_free(&f);
    return rc;
}

void mfr_dataset_destroy(mfr_dataset *ds)
{
    if (!ds) return;
    free(ds->dir);
    free(ds->user_ids);
    free(ds->item_ids);
    mfr_ratings_destroy(ds->ratings);
    if (ds->items) {
        for (int32_t i = 0; i < ds->n_items; i++) {
            free(ds->items[i].title);
            free(ds->items[i].date);
        }
        free(ds->items);
    }
    free(ds->users);
    free_strings(ds->genre_names, ds->n_genres);
    free_strings(ds->occupations, ds->n_occupations);
    free(ds);
}

/* ------------------------------------------------------------------ */
/* Accessors                                                            */
/* ------------------------------------------------------------------ */

static bool has_user(const mfr_dataset *ds, int32_t u)
{
    return ds && u >= 0 && u < ds->n_users;
}
static bool has_item(const mfr_dataset *ds, int32_t i)
{
    return ds && i >= 0 && i < ds->n_items;
}

int32_t mfr_dataset_n_users(const mfr_dataset *ds) { return ds ? ds->n_users : 0; }
int32_t mfr_dataset_n_items(const mfr_dataset *ds) { return ds ? ds->n_items : 0; }
const mfr_ratings *mfr_dataset_ratings(const mfr_dataset *ds)
{
    return ds ? ds->ratings : NULL;
}
const char *mfr_dataset_dir(const mfr_dataset *ds) { return ds && ds->dir ? ds->dir : ""; }
uint64_t mfr_dataset_fingerprint(const mfr_dataset *ds) { return ds ? ds->fingerprint : 0; }

int64_t mfr_dataset_user_id(const mfr_dataset *ds, int32_t u)
{
    return has_user(ds, u) ? ds->user_ids[u] : -1;
}

int64_t mfr_dataset_item_id(const mfr_dataset *ds, int32_t i)
{
    return has_item(ds, i) ? ds->item_ids[i] : -1;
}

int32_t mfr_dataset_user_index(const mfr_dataset *ds, int64_t raw_id)
{
    return ds ? find_id(ds->user_ids, ds->n_users, raw_id) : -1;
}

int32_t mfr_dataset_item_index(const mfr_dataset *ds, int64_t raw_id)
{
    return ds ? find_id(ds->item_ids, ds->n_items, raw_id) : -1;
}

const char *mfr_dataset_item_title(const mfr_dataset *ds, int32_t i)
{
    return has_item(ds, i) && ds->items[i].title ? ds->items[i].title : "";
}

const char *mfr_dataset_item_date(const mfr_dataset *ds, int32_t i)
{
    return has_item(ds, i) && ds->items[i].date ? ds->items[i].date : "";
}

int32_t mfr_dataset_item_year(const mfr_dataset *ds, int32_t i)
{
    return has_item(ds, i) ? ds->items[i].year : 0;
}

uint32_t mfr_dataset_item_genres(const mfr_dataset *ds, int32_t i)
{
    return has_item(ds, i) ? ds->items[i].genres : 0;
}

int32_t mfr_dataset_n_genres(const mfr_dataset *ds) { return ds ? ds->n_genres : 0; }

const char *mfr_dataset_genre_name(const mfr_dataset *ds, int32_t g)
{
    return ds && g >= 0 && g < ds->n_genres && ds->genre_names[g] ? ds->genre_names[g] : "";
}

int32_t mfr_dataset_user_age(const mfr_dataset *ds, int32_t u)
{
    return has_user(ds, u) ? ds->users[u].age : 0;
}

char mfr_dataset_user_sex(const mfr_dataset *ds, int32_t u)
{
    return has_user(ds, u) ? ds->users[u].sex : '?';
}

const char *mfr_dataset_user_occupation(const mfr_dataset *ds, int32_t u)
{
    if (!has_user(ds, u)) return "";
    int32_t o = ds->users[u].occupation;
    return o >= 0 && o < ds->n_occupations && ds->occupations[o] ? ds->occupations[o] : "";
}

const char *mfr_dataset_user_zip(const mfr_dataset *ds, int32_t u)
{
    return has_user(ds, u) ? ds->users[u].zip : "";
}
