/*
 * parse.c — the text-parsing helpers every dataset loader shares (see
 * parse_priv.h): reading a file whole, numbers without the locale, latin-1
 * and UTF-8 text fields, and the raw id -> provisional index hash map.
 *
 * Files are read whole into memory and split by hand (memchr for
 * separators, hand-written number parsing, no sscanf), because the same
 * code must handle files of a hundred million lines.
 *
 * Numbers. Ratings are read without strtod's locale dependence: short
 * decimals (at most 7 significant digits and 10 decimal places, i.e. every
 * rating seen in practice) are one correctly rounded float division of two
 * exact floats; anything else is rewritten as "DIGITSeEXP", which has no
 * radix character, and handed to strtof.
 */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "parse_priv.h"

/* ------------------------------------------------------------------ */
/* Error messages                                                       */
/* ------------------------------------------------------------------ */

int mfr_parse_err(mfr_error *err, const char *path, int64_t line, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    mfr_vformat_c(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return mfr_seterr(err, MFR_ERR_PARSE, "%s:%" PRId64 ": %s", path, line, msg);
}

int mfr_parse_nul(mfr_error *err, const char *path, int64_t line, const char *s, size_t n)
{
    const char *nul = memchr(s, 0, n);
    return nul ? mfr_parse_err(err, path, line, "a NUL byte at column %zu (a binary or damaged file?)",
                               (size_t)(nul - s) + 1)
               : MFR_OK;
}

int mfr_parse_no_ratings(mfr_error *err, const char *path, bool header)
{
    return mfr_parse_err(err, path, 1, header ? "the file holds its header alone (no ratings)" : "file is empty (no ratings)");
}

int mfr_nomem(mfr_error *err, const char *what)
{
    return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory %s", what);
}

const char *mfr_show(const char *s, size_t n, char *buf)
{
    /* at most 32 bytes of text, then "..." and the NUL: 36 of buf's 40 */
    size_t k = 0, at = 0;
    for (; k < n; k++) {
        const unsigned char c = (unsigned char)s[k];
        const size_t w = c >= 0x20 && c < 0x7f ? 1 : c == '\t' ? 2 : 4;
        if (at + w > 32) break;
        if (w == 1) buf[at] = (char)c;
        else if (w == 2) memcpy(buf + at, "\\t", 2);
        else snprintf(buf + at, 5, "\\x%02X", c);
        at += w;
    }
    if (k < n) {
        memcpy(buf + at, "...", 3);
        at += 3;
    }
    buf[at] = '\0';
    return buf;
}

/* ------------------------------------------------------------------ */
/* Files and lines                                                      */
/* ------------------------------------------------------------------ */

char *mfr_path_join(const char *dir, const char *name)
{
    /* "." (a file named without a directory) adds nothing the user did
     * not type; a directory ending in '/' (the root) needs no second one */
    if (!dir || name[0] == '/' || !strcmp(dir, ".")) return mfr_strdup(name);
    size_t dl = strlen(dir), nl = strlen(name);
    const size_t sep = dl > 0 && dir[dl - 1] != '/';
    char *p = mfr_malloc(dl + nl + 2);
    if (!p) return NULL;
    memcpy(p, dir, dl);
    if (sep) p[dl] = '/';
    memcpy(p + dl + sep, name, nl + 1);
    return p;
}

void mfr_text_file_free(struct mfr_text_file *f)
{
    free(f->path);
    if (f->mapped) {
        mfr_map_observe(NULL, f->data, 0);
        munmap(f->data, f->size + 1);
    }
    else
        free(f->data);
    memset(f, 0, sizeof *f);
}

/* Encodings that would otherwise surface as a puzzling error on line 1 (or
 * a first line silently taken for a header) are named as such. */
static int text_file_check(const struct mfr_text_file *f, mfr_error *err)
{
    if (f->size >= 3 && !memcmp(f->data, "\xEF\xBB\xBF", 3))
        return mfr_parse_err(err, f->path, 1,
                             "the file starts with a UTF-8 byte-order mark (bytes EF BB BF); "
                             "save it without one");
    if (f->size >= 2 && ((unsigned char)f->data[0] == 0xFF || (unsigned char)f->data[0] == 0xFE) &&
        (unsigned char)f->data[1] == ((unsigned char)f->data[0] ^ 1))
        return mfr_parse_err(err, f->path, 1, "the file is UTF-16 text; save it as UTF-8");
    /* Looked for only in a file without '\n': a large file is not scanned
     * whole on one thread before its parallel parse. */
    const char *cr = memchr(f->data, '\n', f->size) ? NULL : memchr(f->data, '\r', f->size);
    if (cr && cr + 1 < f->data + f->size)
        return mfr_parse_err(err, f->path, 1,
                             "lines end with a bare carriage return (old Mac line endings); "
                             "convert them to \\n");
    return MFR_OK;
}

int mfr_text_file_read(const char *dir, const char *name, bool optional,
                       struct mfr_text_file *f, mfr_error *err)
{
    memset(f, 0, sizeof *f);
    f->path = mfr_path_join(dir, name);
    if (!f->path) return mfr_nomem(err, "reading a file name");

    int fd, rc = mfr_open_regular(f->path, &fd, err);
    if (rc != MFR_OK) {
        struct stat lst;
        /* absent: fine for an optional file; a link to nothing is a mistake to name */
        if (optional && errno == ENOENT)
            rc = lstat(f->path, &lst) == 0 && S_ISLNK(lst.st_mode)
                     ? mfr_seterr(err, MFR_ERR_IO, "%s is a symbolic link to a missing file", f->path)
                     : MFR_OK;
        mfr_text_file_free(f);
        return rc;
    }
    size_t cap = 1 << 16, n = 0;
    struct stat st;
    if (fstat(fd, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            rc = mfr_seterr(err, MFR_ERR_IO, "cannot read %s: is a directory", f->path);
            goto done;
        }
        if (S_ISREG(st.st_mode) && st.st_size > 0 && (uint64_t)st.st_size < SIZE_MAX - 1)
            cap = (size_t)st.st_size + 2; /* +2: the NUL, and room to see EOF */
        /* Large files are mapped, not read: a read copies the text into
         * fresh pages that the kernel first clears (on this project's VM a
         * 10M-rating file spent more time there than in its parse). The
         * bytes after the end of the last page's data are zeros, which is
         * the NUL; a size that fills its last page exactly is read. */
        long page = sysconf(_SC_PAGESIZE);
        if (S_ISREG(st.st_mode) && st.st_size >= MFR_TEXT_MAP_MIN && page > 0 &&
            (uint64_t)st.st_size < SIZE_MAX - 1 && st.st_size % page != 0) {
            void *p = mmap(NULL, (size_t)st.st_size + 1, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p != MAP_FAILED) {
                f->data = p;
                f->size = (size_t)st.st_size;
                f->mapped = true;
                mfr_map_observe(f->path, p, (size_t)st.st_size + 1);
                mfr_test_map_wait(fd, st.st_size);
                rc = text_file_check(f, err);
                goto done;
            }
        }
    }
    char *buf = mfr_malloc(cap);
    if (!buf) {
        rc = mfr_seterr(err, MFR_ERR_NOMEM, "out of memory reading %s (%zu bytes)", f->path,
                        cap);
        goto done;
    }
    for (;;) {
        if (cap - n < 2) {
            size_t ncap;
            char *nb = NULL;
            if (mfr_mul_size(cap, 2, &ncap)) nb = mfr_realloc(buf, ncap);
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
    rc = text_file_check(f, err);
done:
    close(fd);
    if (rc != MFR_OK) mfr_text_file_free(f);
    return rc;
}

size_t mfr_count_newlines(const char *p, size_t n)
{
    /* Blocks with a narrow counter, so that the compiler vectorizes the
     * compare-and-add: several bytes a cycle, where memchr per line of a
     * rating file (~20 bytes) pays a call per line. */
    size_t lines = 0;
    while (n) {
        size_t m = n < 240 ? n : 240;
        unsigned char c = 0;
        for (size_t k = 0; k < m; k++) c += p[k] == '\n';
        lines += c;
        p += m;
        n -= m;
    }
    return lines;
}

size_t mfr_count_lines(const struct mfr_text_file *f)
{
    return mfr_count_newlines(f->data, f->size) + 1;
}

int mfr_record_next(struct mfr_line_iter *it, const char *path, const char **s, size_t *n,
                    mfr_error *err)
{
    while (mfr_line_next(it, s, n)) {
        if (*n == 0) {
            if (!it->blank) it->blank = it->line;
            continue;
        }
        if (it->blank)
            return mfr_parse_err(err, path, it->blank, "blank line before the end of the file");
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Numbers                                                              */
/* ------------------------------------------------------------------ */

enum mfr_num mfr_parse_u63(const char *s, size_t n, int64_t *out)
{
    if (n == 0) return MFR_NUM_BAD;
    uint64_t v = 0;
    bool over = false;
    for (size_t k = 0; k < n; k++) {
        unsigned d = (unsigned char)s[k] - '0';
        if (d > 9) return MFR_NUM_BAD;
        if (v > ((uint64_t)INT64_MAX - d) / 10)
            over = true;
        else
            v = v * 10 + d;
    }
    if (over) return MFR_NUM_RANGE;
    *out = (int64_t)v;
    return MFR_NUM_OK;
}

enum mfr_num mfr_parse_i64(const char *s, size_t n, int64_t *out)
{
    bool neg = n > 0 && s[0] == '-';
    int64_t v;
    enum mfr_num st = mfr_parse_u63(s + neg, n - neg, &v);
    if (st == MFR_NUM_RANGE && neg && n - 1 == 19 &&
        memcmp(s + 1, "9223372036854775808", 19) == 0) {
        *out = INT64_MIN;
        return MFR_NUM_OK;
    }
    if (st != MFR_NUM_OK) return st;
    *out = neg ? -v : v;
    return MFR_NUM_OK;
}

int mfr_text_is_decimal(const char *s, size_t n)
{
    float f;
    return s && mfr_parse_float(s, n, &f) != MFR_NUM_BAD;
}

enum mfr_num mfr_parse_float(const char *s, size_t n, float *out)
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
    if (n_mant == 0) return MFR_NUM_BAD;
    if (k < n && (s[k] == 'e' || s[k] == 'E')) {
        k++;
        bool eneg = false;
        if (k < n && (s[k] == '-' || s[k] == '+')) eneg = s[k++] == '-';
        if (k == n) return MFR_NUM_BAD;
        int64_t e = 0;
        for (; k < n && s[k] >= '0' && s[k] <= '9'; k++)
            if (e < 1000000) e = e * 10 + (s[k] - '0'); /* saturate: inf or 0 anyway */
        exp10 += eneg ? -e : e;
    }
    if (k != n) return MFR_NUM_BAD;
    if (nd == 0) {
        *out = neg ? -0.0f : 0.0f;
        return MFR_NUM_OK;
    }

#if FLT_EVAL_METHOD == 0
    /* Fast path: both operands exact floats, one correctly rounded op. */
    if (nd <= 7 && !sticky && exp10 >= -10 && exp10 <= 10) {
        int32_t m = 0;
        for (int d = 0; d < nd; d++) m = m * 10 + (digits[d] - '0');
        float v = exp10 < 0 ? (float)m / pow10f[-exp10] : (float)m * pow10f[exp10];
        *out = neg ? -v : v;
        return MFR_NUM_OK;
    }
#endif
    if (sticky) digits[nd++] = '1'; /* stands for the dropped non-zero tail */
    if (sticky) exp10--;
    char text[MAX_DIGITS + 40];
    snprintf(text, sizeof text, "%s%.*se%" PRId64, neg ? "-" : "", nd, digits, exp10);
    errno = 0;
    float v = strtof(text, NULL);
    if (errno == ERANGE || !isfinite(v)) return MFR_NUM_RANGE;
    *out = v;
    return MFR_NUM_OK;
}

int mfr_id_field(const char *path, int64_t line, const char *what, struct mfr_field f,
                 int64_t *out, mfr_error *err)
{
    char b[40];
    switch (mfr_parse_u63(f.s, f.n, out)) {
    case MFR_NUM_OK:
        if (*out == 0) return mfr_parse_err(err, path, line, "%s 0 is not positive", what);
        return MFR_OK;
    case MFR_NUM_RANGE:
        return mfr_parse_err(err, path, line, "%s %s does not fit in int64", what,
                             mfr_show(f.s, f.n, b));
    default:
        return mfr_parse_err(err, path, line, "%s '%s' is not a positive integer", what,
                             mfr_show(f.s, f.n, b));
    }
}

/* ------------------------------------------------------------------ */
/* Text fields                                                          */
/* ------------------------------------------------------------------ */

/* Length of the well-formed UTF-8 sequence at s[0..n) (n >= 1, s[0] >= 0x80),
 * or 0: no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t k = 2; k < len; k++)
        if (s[k] < 0x80 || s[k] > 0xbf) return 0;
    return len;
}

/* The 1-based line of byte offset `at` of s. */
static int64_t line_of(const unsigned char *s, size_t at)
{
    int64_t line = 1;
    for (size_t k = 0; k < at; k++) line += s[k] == '\n';
    return line;
}

int mfr_detect_encoding(const struct mfr_text_file *f, enum mfr_encoding *enc, mfr_error *err)
{
    const unsigned char *s = (const unsigned char *)f->data;
    size_t n = f->size, k = 0, first_bad = SIZE_MAX, first_multi = SIZE_MAX;
    while (k < n) {
        if (s[k] < 0x80) {
            k++;
            continue;
        }
        size_t len = utf8_seq(s + k, n - k);
        if (!len) {
            if (first_bad == SIZE_MAX) first_bad = k;
            k++;
        } else {
            if (first_multi == SIZE_MAX) first_multi = k;
            k += len;
        }
        if (first_bad != SIZE_MAX && first_multi != SIZE_MAX) {
            /* Valid UTF-8 beside bytes that are not: read as latin-1 the
             * valid part would be garbled ("Am\u00c3\u00a9lie"), as UTF-8
             * the rest cannot be read. */
            return mfr_parse_err(err, f->path, line_of(s, first_bad),
                                 "byte 0x%02X is not UTF-8, but line %" PRId64
                                 " is: a file mixing two encodings (save it as UTF-8)",
                                 s[first_bad], line_of(s, first_multi));
        }
    }
    *enc = first_bad == SIZE_MAX ? MFR_ENC_UTF8 : MFR_ENC_LATIN1;
    return MFR_OK;
}

/* True for ASCII control bytes a text field may not contain (C0 and DEL). */
static bool ascii_control(unsigned char c) { return c < 0x20 || c == 0x7f; }

int mfr_text_field(const char *path, int64_t line, const char *what, struct mfr_field f,
                   enum mfr_encoding enc, char **out, mfr_error *err)
{
    const unsigned char *s = (const unsigned char *)f.s;
    size_t n = f.n, extra = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned char c = s[k];
        bool bad;
        if (enc == MFR_ENC_LATIN1) {
            bad = ascii_control(c) || (c >= 0x80 && c <= 0x9f);
            extra += c >= 0x80;
        } else {
            /* Well-formed by mfr_detect_encoding; C1 controls are U+0080..
             * U+009F, i.e. 0xC2 followed by 0x80..0x9F. */
            bad = ascii_control(c) || (c == 0xc2 && k + 1 < n && s[k + 1] <= 0x9f);
        }
        if (bad)
            return mfr_parse_err(err, path, line, "invalid byte 0x%02X in %s (byte %zu)", c,
                                 what, k + 1);
    }
    char *p = mfr_malloc(n + extra + 1); /* n + extra <= 2n < SIZE_MAX: n is a line length */
    if (!p) return mfr_nomem(err, "converting text");
    size_t j = 0;
    for (size_t k = 0; k < n; k++) {
        unsigned char c = s[k];
        if (c < 0x80 || enc == MFR_ENC_UTF8) {
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

int32_t mfr_year_of(struct mfr_field date, struct mfr_field title)
{
    const char *s = date.s;
    size_t n = date.n;
    if (n >= 4 && (n == 4 || s[n - 5] == '-')) {
        int64_t y;
        if (mfr_parse_u63(s + n - 4, 4, &y) == MFR_NUM_OK) return (int32_t)y;
    }
    s = title.s;
    n = title.n;
    while (n && s[n - 1] == ' ') n--;
    if (n >= 6 && s[n - 1] == ')' && s[n - 6] == '(') {
        int64_t y;
        if (mfr_parse_u63(s + n - 5, 4, &y) == MFR_NUM_OK) return (int32_t)y;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Raw id -> provisional index                                          */
/* ------------------------------------------------------------------ */

void mfr_id_map_free(struct mfr_id_map *m)
{
    free(m->direct);
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

/* Puts every hashed key below `below` into the direct table, and the
 * others into a fresh table of ncap slots (a power of two, more than twice
 * what stays). MFR_ERR_NOMEM on failure, leaving m as it was. */
static int id_map_rehash(struct mfr_id_map *m, size_t ncap, uint64_t below)
{
    struct mfr_id_slot *slots = mfr_calloc(ncap, sizeof *slots);
    if (!slots) return MFR_ERR_NOMEM;
    size_t kept = 0;
    for (size_t s = 0; s < m->cap; s++) {
        struct mfr_id_slot e = m->slots[s];
        if (!e.key) continue;
        if ((uint64_t)e.key < below) {
            m->direct[e.key] = e.val + 1;
            continue;
        }
        size_t h = id_hash(e.key, ncap);
        while (slots[h].key) h = (h + 1) & (ncap - 1);
        slots[h] = e;
        kept++;
    }
    free(m->slots);
    m->slots = slots;
    m->cap = ncap;
    m->n_hashed = kept;
    return MFR_OK;
}

/* Direct slots allowed for a map of n ids: at most 32 bytes an id beyond
 * the first 2^16 keys, so that sparse ids (say, 64-bit hashes) stay hashed. */
static uint64_t direct_limit(int32_t n) { return ((uint64_t)n + 1) * 8 + (UINT64_C(1) << 16); }

/* Extends the direct table to cover `key` (< direct_limit). */
static int id_map_grow_direct(struct mfr_id_map *m, uint64_t key)
{
    uint64_t want = m->n_direct ? 2 * (uint64_t)m->n_direct : 4096;
    if (want <= key) want = key + 1;
    if (want > direct_limit(m->n)) want = direct_limit(m->n);
    if (want > SIZE_MAX / sizeof *m->direct) return MFR_ERR_NOMEM;
    int32_t *d = mfr_realloc(m->direct, (size_t)want * sizeof *d);
    if (!d) return MFR_ERR_NOMEM;
    memset(d + m->n_direct, 0, (size_t)(want - m->n_direct) * sizeof *d);
    m->direct = d;
    size_t old = m->n_direct;
    m->n_direct = (size_t)want;
    /* Keys now below n_direct leave the hash: a key is in one place only. */
    if (m->n_hashed) {
        int rc = id_map_rehash(m, m->cap, want);
        if (rc != MFR_OK) m->n_direct = old; /* the new part is still zero */
        return rc;
    }
    return MFR_OK;
}

int mfr_id_map_lookup(struct mfr_id_map *m, int64_t key, int32_t *idx)
{
    uint64_t k = (uint64_t)key;
    if (k < m->n_direct) {
        if (m->direct[k]) {
            *idx = m->direct[k] - 1;
            return MFR_OK;
        }
    } else if (m->n_hashed) {
        size_t h = id_hash(key, m->cap);
        for (; m->slots[h].key; h = (h + 1) & (m->cap - 1))
            if (m->slots[h].key == key) {
                *idx = m->last_val = m->slots[h].val;
                m->last_key = key;
                return MFR_OK;
            }
    }
    /* A new id. */
    if (m->n == INT32_MAX) return MFR_ERR_TOO_LARGE;
    if ((size_t)m->n == m->raw_cap) {
        size_t ncap = m->raw_cap ? 2 * m->raw_cap : 1024;
        int64_t *raw = ncap <= SIZE_MAX / sizeof *raw ? mfr_realloc(m->raw, ncap * sizeof *raw)
                                                      : NULL;
        if (!raw) return MFR_ERR_NOMEM;
        m->raw = raw;
        m->raw_cap = ncap;
    }
    if (k >= m->n_direct && k < direct_limit(m->n)) {
        int rc = id_map_grow_direct(m, k);
        if (rc != MFR_OK) return rc;
    }
    if (k < m->n_direct) {
        m->direct[k] = m->n + 1;
    } else {
        if (m->n_hashed + 1 > m->cap / 2) {
            if (m->cap > SIZE_MAX / 64) return MFR_ERR_TOO_LARGE;
            int rc = id_map_rehash(m, m->cap ? 2 * m->cap : 1024, m->n_direct);
            if (rc != MFR_OK) return rc;
        }
        size_t h = id_hash(key, m->cap);
        while (m->slots[h].key) h = (h + 1) & (m->cap - 1);
        m->slots[h] = (struct mfr_id_slot){key, m->n};
        m->n_hashed++;
    }
    m->raw[m->n] = key;
    *idx = m->last_val = m->n++;
    m->last_key = key;
    return MFR_OK;
}

int mfr_id_map_err(int rc, mfr_error *err, const char *path, const char *what)
{
    if (rc == MFR_ERR_TOO_LARGE)
        return mfr_seterr(err, rc, "%s: more than %" PRId32 " distinct %s ids", path,
                          INT32_MAX, what);
    return mfr_nomem(err, "indexing ids");
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

int mfr_id_map_finish(const struct mfr_id_map *m, int64_t **sorted, int32_t **perm)
{
    size_t n = (size_t)m->n, cnt = n ? n : 1;
    struct id_pair *pairs = mfr_malloc(cnt * sizeof *pairs);
    *sorted = mfr_malloc(cnt * sizeof **sorted);
    *perm = mfr_malloc(cnt * sizeof **perm);
    if (!pairs || !*sorted || !*perm) {
        free(pairs);
        free(*sorted);
        free(*perm);
        *sorted = NULL;
        *perm = NULL;
        return MFR_ERR_NOMEM;
    }
    /* The direct table lists its keys in order; only the hashed ones, all
     * above it, are sorted. */
    size_t d = 0, h = 0;
    for (size_t k = 0; k < m->n_direct; k++)
        if (m->direct[k]) {
            (*sorted)[d] = (int64_t)k;
            (*perm)[m->direct[k] - 1] = (int32_t)d;
            d++;
        }
    for (size_t s = 0; s < m->cap; s++)
        if (m->slots[s].key) pairs[h++] = (struct id_pair){m->slots[s].key, m->slots[s].val};
    qsort(pairs, h, sizeof *pairs, cmp_id_pair);
    for (size_t k = 0; k < h; k++) {
        (*sorted)[d + k] = pairs[k].raw;
        (*perm)[pairs[k].prov] = (int32_t)(d + k);
    }
    free(pairs);
    return MFR_OK;
}

int32_t mfr_find_id(const int64_t *ids, int32_t n, int64_t raw)
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
