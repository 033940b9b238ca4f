/*
 * npy.c — reads and writes 2-D float32 NumPy .npy files, the exchange format
 * for factor matrices (initial factors from Python, exported embeddings).
 *
 * Only what the project needs is supported: dtype '<f4' (little-endian
 * float32), C order, two dimensions, format versions 1.0 and 2.0. Anything
 * else is rejected with a message naming the file and what was found. The
 * header is a Python dict literal; the parser below accepts exactly the
 * subset NumPy writes (quoted keys, a quoted descr, True/False, a tuple of
 * non-negative integers), in any key order, and never trusts a length in
 * the file: the data size implied by the shape must equal the bytes that
 * follow the header.
 *
 * Writing produces a version 1.0 file whose header (magic, version, length
 * and dict, padded with spaces and ending in '\n') is a multiple of 64
 * bytes, as numpy.save does; it goes through mfr_write_atomic.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common_priv.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
/* Largest header we accept (NumPy's own reader limit is 10000 bytes by
 * default; 2-D headers are well under 200). */
#define NPY_MAX_HEADER 65536u

/* ------------------------------------------------------------------ */
/* Header dict parsing                                                  */
/* ------------------------------------------------------------------ */

struct npy_parser {
    const char *s;
    size_t len, pos;
    const char *path;
    mfr_error *err;
};

static void p_skip_ws(struct npy_parser *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                               p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

/* Skips white space, then consumes ch when it is next. */
static bool p_accept(struct npy_parser *p, char ch)
{
    p_skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ch) {
        p->pos++;
        return true;
    }
    return false;
}

static int p_syntax(struct npy_parser *p, const char *expected)
{
    return mfr_seterr(p->err, MFR_ERR_PARSE,
                      "%s: malformed .npy header: expected %s at header byte %zu", p->path,
                      expected, p->pos);
}

/* A quoted string (single or double quotes, no escapes) into out[cap]. */
static int p_string(struct npy_parser *p, char *out, size_t cap)
{
    p_skip_ws(p);
    if (p->pos >= p->len || (p->s[p->pos] != '\'' && p->s[p->pos] != '"'))
        return p_syntax(p, "a quoted string");
    char q = p->s[p->pos++];
    size_t start = p->pos;
    while (p->pos < p->len && p->s[p->pos] != q) {
        if (p->s[p->pos] == '\\') return p_syntax(p, "a string without escapes");
        p->pos++;
    }
    if (p->pos >= p->len) return p_syntax(p, "a closing quote");
    size_t n = p->pos - start;
    p->pos++;
    if (n >= cap) n = cap - 1; /* long values are wrong anyway; keep a prefix */
    memcpy(out, p->s + start, n);
    out[n] = 0;
    return MFR_OK;
}

/* A non-negative decimal integer that fits int64. */
static int p_int(struct npy_parser *p, int64_t *out)
{
    p_skip_ws(p);
    if (p->pos >= p->len || !isdigit((unsigned char)p->s[p->pos]))
        return p_syntax(p, "a non-negative integer");
    int64_t v = 0;
    while (p->pos < p->len && isdigit((unsigned char)p->s[p->pos])) {
        int d = p->s[p->pos++] - '0';
        if (v > (INT64_MAX - d) / 10)
            return mfr_seterr(p->err, MFR_ERR_TOO_LARGE,
                              "%s: .npy shape dimension does not fit in 64 bits", p->path);
        v = v * 10 + d;
    }
    /* Python 2 era writers appended 'L' to longs. */
    if (p->pos < p->len && p->s[p->pos] == 'L') p->pos++;
    *out = v;
    return MFR_OK;
}

/* A shape tuple "(d0, d1, ...)"; stores up to 8 dims, counts them all. */
static int p_shape(struct npy_parser *p, int64_t *dims, int *ndim)
{
    if (!p_accept(p, '(')) return p_syntax(p, "'(' opening the shape");
    *ndim = 0;
    if (p_accept(p, ')')) return MFR_OK;
    for (;;) {
        int64_t d = 0;
        int rc = p_int(p, &d);
        if (rc != MFR_OK) return rc;
        if (*ndim < 8) dims[*ndim] = d;
        (*ndim)++;
        if (p_accept(p, ')')) return MFR_OK;
        if (!p_accept(p, ',')) return p_syntax(p, "',' or ')' in the shape");
        if (p_accept(p, ')')) return MFR_OK; /* "(5,)" */
    }
}

/* A Python bool literal. */
static int p_bool(struct npy_parser *p, bool *out)
{
    p_skip_ws(p);
    if (p->len - p->pos >= 4 && memcmp(p->s + p->pos, "True", 4) == 0) {
        p->pos += 4;
        *out = true;
        return MFR_OK;
    }
    if (p->len - p->pos >= 5 && memcmp(p->s + p->pos, "False", 5) == 0) {
        p->pos += 5;
        *out = false;
        return MFR_OK;
    }
    return p_syntax(p, "True or False");
}

/* Parses the dict and checks it describes a 2-D '<f4' C-order array. */
static int parse_npy_header(const char *text, size_t len, const char *path, int64_t *rows,
                            int64_t *cols, mfr_error *err)
{
    struct npy_parser p = {text, len, 0, path, err};
    char descr[32] = "";
    bool fortran = false, have_descr = false, have_fortran = false, have_shape = false;
    int64_t dims[8] = {0};
    int ndim = 0, rc;

    if (!p_accept(&p, '{')) return p_syntax(&p, "'{' opening the header dict");
    while (!p_accept(&p, '}')) {
        char key[32];
        if ((rc = p_string(&p, key, sizeof key)) != MFR_OK) return rc;
        if (!p_accept(&p, ':')) return p_syntax(&p, "':' after a key");
        if (strcmp(key, "descr") == 0 && !have_descr) {
            rc = p_string(&p, descr, sizeof descr);
            have_descr = true;
        } else if (strcmp(key, "fortran_order") == 0 && !have_fortran) {
            rc = p_bool(&p, &fortran);
            have_fortran = true;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            rc = p_shape(&p, dims, &ndim);
            have_shape = true;
        } else {
            return mfr_seterr(err, MFR_ERR_PARSE,
                              "%s: unexpected or repeated key '%s' in the .npy header", path,
                              key);
        }
        if (rc != MFR_OK) return rc;
        if (p_accept(&p, '}')) break;
        if (!p_accept(&p, ',')) return p_syntax(&p, "',' or '}' after a value");
    }
    p_skip_ws(&p);
    if (p.pos != p.len) return p_syntax(&p, "only white space after the header dict");
    if (!have_descr || !have_fortran || !have_shape)
        return mfr_seterr(err, MFR_ERR_PARSE,
                          "%s: the .npy header lacks the '%s' key", path,
                          !have_descr ? "descr" : !have_fortran ? "fortran_order" : "shape");
    if (strcmp(descr, "<f4") != 0)
        return mfr_seterr(err, MFR_ERR_UNSUPPORTED,
                          "%s: dtype '%s' is not supported: need '<f4' (little-endian "
                          "float32)",
                          path, descr);
    if (fortran)
        return mfr_seterr(err, MFR_ERR_UNSUPPORTED,
                          "%s: Fortran-order arrays are not supported: need C order "
                          "(save np.ascontiguousarray(a))",
                          path);
    if (ndim != 2)
        return mfr_seterr(err, MFR_ERR_UNSUPPORTED,
                          "%s: the array has %d dimension%s: need a 2-D (rows, cols) array",
                          path, ndim, ndim == 1 ? "" : "s");
    *rows = dims[0];
    *cols = dims[1];
    return MFR_OK;
}

/* ------------------------------------------------------------------ */
/* Reading                                                              */
/* ------------------------------------------------------------------ */

/* Reads a 2-D '<f4' C-order .npy file (format 1.0 or 2.0). On success
 * *data is malloc'd (rows * cols floats, at least one byte allocated even
 * for an empty array; free with mfr_free). On failure the outputs are
 * rows = cols = 0 and data = NULL. */
static int truncated_header(FILE *f, const char *path, mfr_error *err)
{
    return ferror(f) ? mfr_seterr(err, MFR_ERR_IO, "cannot read %s", path)
                     : mfr_seterr(err, MFR_ERR_PARSE, "%s: the .npy header is truncated", path);
}

/* The magic and version; *pre_len and *header_len from the preamble. */
static int npy_preamble(FILE *f, const char *path, uint64_t file_len, size_t *pre_len, uint64_t *header_len,
                        mfr_error *err)
{
    unsigned char pre[12];
    size_t got = fread(pre, 1, 10, f);
    if (got < 8 || memcmp(pre, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
        return ferror(f) ? mfr_seterr(err, MFR_ERR_IO, "cannot read %s", path)
                         : mfr_seterr(err, MFR_ERR_PARSE, "%s is not a NumPy .npy file", path);
    unsigned major = pre[6], minor = pre[7];
    if (major == 1 && minor == 0) {
        *pre_len = 10;
        if (got < 10) return truncated_header(f, path, err);
        *header_len = (uint64_t)pre[8] | (uint64_t)pre[9] << 8;
    } else if (major == 2 && minor == 0) {
        *pre_len = 12;
        if (got < 10 || fread(pre + 10, 1, 2, f) != 2) return truncated_header(f, path, err);
        *header_len = (uint64_t)pre[8] | (uint64_t)pre[9] << 8 | (uint64_t)pre[10] << 16 |
                      (uint64_t)pre[11] << 24;
    } else {
        return mfr_seterr(err, MFR_ERR_UNSUPPORTED,
                          "%s: .npy format version %u.%u is not supported (need 1.0 or 2.0)", path, major,
                          minor);
    }
    if (*header_len > NPY_MAX_HEADER)
        return mfr_seterr(err, MFR_ERR_PARSE, "%s: .npy header length %llu exceeds %u bytes", path,
                          (unsigned long long)*header_len, NPY_MAX_HEADER);
    if (*pre_len + *header_len > file_len) return truncated_header(f, path, err);
    return MFR_OK;
}

/* The header dictionary's shape (r, c). */
static int npy_shape(FILE *f, const char *path, uint64_t header_len, int64_t *r, int64_t *c, mfr_error *err)
{
    char *text = mfr_malloc((size_t)header_len + 1);
    if (!text) return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory reading %s", path);
    int rc;
    if (fread(text, 1, (size_t)header_len, f) != header_len) {
        rc = truncated_header(f, path, err);
    } else if (text[header_len] = 0, memchr(text, 0, (size_t)header_len)) {
        rc = mfr_seterr(err, MFR_ERR_PARSE, "%s: the .npy header contains a NUL byte", path);
    } else {
        rc = parse_npy_header(text, (size_t)header_len, path, r, c, err);
    }
    free(text);
    return rc;
}

/* Reads want bytes of little-endian float32 data into a new array. */
static int npy_data(FILE *f, const char *path, uint64_t want, float **out, mfr_error *err)
{
    unsigned char *bytes = mfr_malloc(want ? (size_t)want : 1);
    if (!bytes)
        return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory reading %s (%llu bytes)", path,
                          (unsigned long long)want);
    if (fread(bytes, 1, (size_t)want, f) != want) {
        free(bytes);
        return ferror(f) ? mfr_seterr(err, MFR_ERR_IO, "cannot read %s: %s", path, strerror(errno))
                         : mfr_seterr(err, MFR_ERR_PARSE, "%s is truncated", path);
    }
    /* Decode little-endian in place (an identity on little-endian hosts). */
    float *x = (float *)(void *)bytes;
    for (size_t e = 0; e < (size_t)want / 4; e++) {
        const unsigned char *b = bytes + 4 * e;
        uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        memcpy(&x[e], &u, sizeof u);
    }
    *out = x;
    return MFR_OK;
}

/* Preamble, header and data of an open .npy file. */
/* The whole array, or (row_lo >= 0) its rows [row_lo, row_hi) only: after
 * the same checks of the whole file, a seek past the rows before them. */
static int npy_read(FILE *f, const char *path, int64_t row_lo, int64_t row_hi, int64_t *rows, int64_t *cols,
                    float **data, mfr_error *err)
{
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
        return mfr_seterr(err, MFR_ERR_IO, "%s is not a readable regular file", path);
    uint64_t file_len = (uint64_t)st.st_size, header_len = 0;
    size_t pre_len = 0;
    int64_t r = 0, c = 0;
    int rc = npy_preamble(f, path, file_len, &pre_len, &header_len, err);
    if (rc == MFR_OK) rc = npy_shape(f, path, header_len, &r, &c, err);
    if (rc != MFR_OK) return rc;
    /* The shape must account for exactly the bytes after the header. */
    uint64_t data_len = file_len - pre_len - header_len, want;
    if (__builtin_mul_overflow((uint64_t)r, (uint64_t)c, &want) || __builtin_mul_overflow(want, 4u, &want) ||
        want > SIZE_MAX)
        return mfr_seterr(err, MFR_ERR_TOO_LARGE, "%s: shape (%lld, %lld) is too large", path, (long long)r,
                          (long long)c);
    if (data_len != want)
        return mfr_seterr(err, MFR_ERR_PARSE,
                          "%s: shape (%lld, %lld) needs %llu bytes of float32 data but the "
                          "file has %llu after the header (%s)",
                          path, (long long)r, (long long)c, (unsigned long long)want,
                          (unsigned long long)data_len, data_len < want ? "truncated" : "trailing bytes");
    if (row_lo >= 0) { /* rows outside the shape: none read, the caller sees the shape */
        const bool in = row_lo <= row_hi && row_hi <= r;
        const uint64_t row_bytes = (uint64_t)c * 4u;
        if (in && fseeko(f, (off_t)(pre_len + header_len + (uint64_t)row_lo * row_bytes), SEEK_SET) != 0)
            return mfr_seterr(err, MFR_ERR_IO, "cannot seek in %s: %s", path, strerror(errno));
        want = in ? (uint64_t)(row_hi - row_lo) * row_bytes : 0;
    }
    if ((rc = npy_data(f, path, want, data, err)) != MFR_OK) return rc;
    *rows = r;
    *cols = c;
    return MFR_OK;
}

/* Opens path (a regular file) and reads rows [row_lo, row_hi), or all of
 * them when both are -1 (arguments checked by the caller). */
static int npy_open_read(const char *path, int64_t row_lo, int64_t row_hi, int64_t *rows, int64_t *cols,
                         float **data, mfr_error *err)
{
    *rows = *cols = 0;
    *data = NULL;
    int fd, rc = mfr_open_regular(path, &fd, err);
    if (rc != MFR_OK) return rc;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory opening %s", path);
    }
    rc = npy_read(f, path, row_lo, row_hi, rows, cols, data, err);
    fclose(f);
    return rc;
}

/* The first NULL of a reader's arguments, for its message; NULL if none. */
static const char *null_arg(const char *path, const int64_t *rows, const int64_t *cols, float **data)
{
    return !path ? "path" : !rows ? "rows" : !cols ? "cols" : !data ? "data" : NULL;
}

int mfr_npy_read_f32(const char *path, int64_t *rows, int64_t *cols, float **data,
                     mfr_error *err)
{
    const char *null = null_arg(path, rows, cols, data);
    if (null) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_npy_read_f32: %s is NULL", null);
    return npy_open_read(path, -1, -1, rows, cols, data, err);
}

int mfr_npy_read_f32_rows(const char *path, int64_t row_lo, int64_t row_hi, int64_t *rows, int64_t *cols,
                          float **data, mfr_error *err)
{
    const char *null = null_arg(path, rows, cols, data);
    if (null) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_npy_read_f32_rows: %s is NULL", null);
    if (row_lo < 0 || row_hi < row_lo)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "mfr_npy_read_f32_rows: rows [%lld, %lld) are not a range 0 <= row_lo <= row_hi",
                          (long long)row_lo, (long long)row_hi);
    return npy_open_read(path, row_lo, row_hi, rows, cols, data, err);
}

/* ------------------------------------------------------------------ */
/* Writing                                                              */
/* ------------------------------------------------------------------ */

struct npy_writer {
    const char *path;
    int64_t rows, cols;
    const float *data;
};

static int write_npy(FILE *f, void *ctx, mfr_error *err)
{
    const struct npy_writer *w = ctx;
    char dict[128];
    int n = snprintf(dict, sizeof dict,
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, %lld), }",
                     (long long)w->rows, (long long)w->cols);
    MFR_ASSERT(n > 0 && (size_t)n < sizeof dict);
    /* magic (6) + version (2) + length (2) + dict + spaces + '\n' = 64 * m */
    size_t total = (10 + (size_t)n + 1 + 63) / 64 * 64;
    size_t header_len = total - 10;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
                             (unsigned char)header_len, (unsigned char)(header_len >> 8)};
    char header[192];
    MFR_ASSERT(header_len <= sizeof header);
    memset(header, ' ', header_len);
    memcpy(header, dict, (size_t)n);
    header[header_len - 1] = '\n';
    if (fwrite(pre, 1, sizeof pre, f) != sizeof pre ||
        fwrite(header, 1, header_len, f) != header_len)
        goto io;
    /* Encode little-endian in blocks. */
    unsigned char block[4096];
    size_t count = (size_t)w->rows * (size_t)w->cols, fill = 0;
    for (size_t x = 0; x < count; x++) {
        uint32_t u;
        memcpy(&u, &w->data[x], sizeof u);
        for (int s = 0; s < 4; s++) block[fill++] = (unsigned char)(u >> (8 * s));
        if (fill == sizeof block) {
            if (fwrite(block, 1, fill, f) != fill) goto io;
            fill = 0;
        }
    }
    if (fill && fwrite(block, 1, fill, f) != fill) goto io;
    return MFR_OK;
io:
    return mfr_seterr(err, MFR_ERR_IO, "cannot write %s: %s", w->path, strerror(errno));
}

/* Writes data (rows x cols floats, row-major) as a version 1.0 '<f4' .npy
 * file, atomically: on failure nothing is left at path. */
int mfr_npy_write_f32(const char *path, int64_t rows, int64_t cols, const float *data,
                      mfr_error *err)
{
    if (!path) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_npy_write_f32: path is NULL");
    if (rows < 0 || cols < 0)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "cannot write %s: shape (%lld, %lld) has a negative dimension",
                          path, (long long)rows, (long long)cols);
    size_t bytes;
    if (!mfr_mul_size((size_t)rows, (size_t)cols, &bytes) ||
        !mfr_mul_size(bytes, sizeof(float), &bytes))
        return mfr_seterr(err, MFR_ERR_TOO_LARGE, "cannot write %s: shape (%lld, %lld) is "
                          "too large", path, (long long)rows, (long long)cols);
    if (bytes > 0 && !data)
        return mfr_seterr(err, MFR_ERR_INVALID, "cannot write %s: data is NULL", path);
    struct npy_writer w = {path, rows, cols, data};
    return mfr_write_atomic(path, write_npy, &w, err);
}
