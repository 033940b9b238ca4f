/*
 * parse_priv.h — text-parsing helpers shared by the dataset loaders
 * (movielens.c, movielens_dat.c, movielens_csv.c, delimited.c, dataset.c):
 * whole-file reading, line and field iteration, locale-independent number
 * parsing, latin-1 / UTF-8 text fields, "path:line: " error messages, and
 * the raw id -> provisional index map.
 *
 * Every helper here treats its input as untrusted: a malformed field is a
 * status with a message, never an assertion. Nothing here prints.
 */
#ifndef MFR_PARSE_PRIV_H
#define MFR_PARSE_PRIV_H

#include <string.h>

#include "dataset_priv.h"

/* ------------------------------------------------------------------ */
/* Error messages                                                       */
/* ------------------------------------------------------------------ */

/* Sets a MFR_ERR_PARSE message "path:line: <fmt>" and returns the status. */
int mfr_parse_err(mfr_error *err, const char *path, int64_t line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* MFR_OK when s[0..n), line `line` of path, holds no NUL byte; else a
 * MFR_ERR_PARSE message naming the first one's column (a binary or damaged
 * file: a model or checkpoint given as ratings), for the errors a NUL
 * causes (a broken field, no separator on line 1) to be named for it. */
int mfr_parse_nul(mfr_error *err, const char *path, int64_t line, const char *s, size_t n);

/* A rating file without a rating, named on line 1: empty, or holding its
 * header alone (the file has no line after it). */
int mfr_parse_no_ratings(mfr_error *err, const char *path, bool header);

/* Sets "out of memory <what>" and returns MFR_ERR_NOMEM. */
int mfr_nomem(mfr_error *err, const char *what);

/* Copies an untrusted field into buf (>= 40 bytes) for a message, at most
 * 32 bytes of text then "..." when cut: a tab as \t, any other byte outside
 * printable ASCII (a control byte, DEL, a non-ASCII byte) as \xHH, as the
 * CLI shows such bytes in paths. */
const char *mfr_show(const char *s, size_t n, char *buf);

/* ------------------------------------------------------------------ */
/* Files, lines, fields                                                 */
/* ------------------------------------------------------------------ */

struct mfr_text_file {
    char *path; /* malloc'd */
    char *data; /* size bytes plus a NUL; NULL when an optional file is absent */
    size_t size;
    bool mapped; /* data is a read-only mapping of the file */
};

/* Files at least this large are memory-mapped rather than read (see
 * mfr_text_file_read); truncating such a file in place while a load reads
 * it is not supported (the process would fault), as for the dataset cache. */
#define MFR_TEXT_MAP_MIN ((int64_t)1 << 20)

/*
 * Reads the file dir/name (just `name` when dir is NULL or name is
 * absolute) into f. When `optional` is set and the file does not exist,
 * returns MFR_OK with f->data NULL. f->path is set whenever MFR_OK is
 * returned; on an error f is left empty (freeing it is still harmless).
 * Errors: MFR_ERR_IO (naming the path), MFR_ERR_NOMEM.
 */
int mfr_text_file_read(const char *dir, const char *name, bool optional,
                       struct mfr_text_file *f, mfr_error *err);
void mfr_text_file_free(struct mfr_text_file *f);

/* dir/name (name alone when dir is NULL or name is absolute), malloc'd;
 * NULL when out of memory. */
char *mfr_path_join(const char *dir, const char *name);

/* Counts the lines of f: an upper bound on its records. */
size_t mfr_count_lines(const struct mfr_text_file *f);
/* The '\n' bytes in p[0..n). */
size_t mfr_count_newlines(const char *p, size_t n);

/* Iterates over the lines of a buffer; `line` is the 1-based number of the
 * line last returned. A trailing '\r' is stripped (CRLF files), and a last
 * line without '\n' counts as a line. */
struct mfr_line_iter {
    const char *p, *end;
    int64_t line;
    int64_t blank; /* first blank line seen (mfr_record_next), 0 when none */
};

static inline struct mfr_line_iter mfr_lines(const struct mfr_text_file *f)
{
    return (struct mfr_line_iter){f->data, f->data + f->size, 0, 0};
}

static inline bool mfr_line_next(struct mfr_line_iter *it, const char **s, size_t *n)
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

/*
 * The next non-empty line of a record file, where blank lines are allowed
 * only at the end. Returns 1 with the line in s[0..n), 0 at the end, or
 * MFR_ERR_PARSE "path:line: blank line before the end of the file".
 */
int mfr_record_next(struct mfr_line_iter *it, const char *path, const char **s, size_t *n,
                    mfr_error *err);

struct mfr_field {
    const char *s;
    size_t n;
};

/*
 * Splits s[0..n) at every occurrence of the separator sep[0..sep_len)
 * (sep_len 1 or 2, e.g. "\t" or "::"). Stores the first `max` fields and
 * returns the total number of fields (at most n + 1).
 */
static inline size_t mfr_split_fields(const char *s, size_t n, const char *sep,
                                      size_t sep_len, struct mfr_field *fields, size_t max)
{
    size_t count = 0;
    const char *end = s + n, *from = s;
    for (;;) {
        const char *q = memchr(from, sep[0], (size_t)(end - from));
        if (q && sep_len == 2 && (end - q < 2 || q[1] != sep[1])) {
            from = q + 1; /* a lone first byte of a two-byte separator */
            continue;
        }
        const char *e = q ? q : end;
        if (count < max) fields[count] = (struct mfr_field){s, (size_t)(e - s)};
        count++;
        if (!q) return count;
        s = from = q + sep_len;
    }
}

/* Strips ASCII spaces from both ends of a field. */
static inline struct mfr_field mfr_trim(struct mfr_field f)
{
    while (f.n && f.s[0] == ' ') {
        f.s++;
        f.n--;
    }
    while (f.n && f.s[f.n - 1] == ' ') f.n--;
    return f;
}

/* A CSV field quoted whole ("5", as spreadsheets and QUOTE_ALL writers
 * emit numbers), without the quotes; any other field as it is, so that a
 * stray or inner quote is still named in the field's error. */
static inline struct mfr_field mfr_unquote(struct mfr_field f)
{
    if (f.n < 2 || f.s[0] != '"' || f.s[f.n - 1] != '"' || memchr(f.s + 1, '"', f.n - 2)) return f;
    return (struct mfr_field){f.s + 1, f.n - 2};
}

/* ------------------------------------------------------------------ */
/* Numbers                                                              */
/* ------------------------------------------------------------------ */

enum mfr_num { MFR_NUM_OK, MFR_NUM_BAD, MFR_NUM_RANGE };

/* A non-empty run of ASCII digits into [0, INT64_MAX]. */
enum mfr_num mfr_parse_u63(const char *s, size_t n, int64_t *out);
/* An optionally '-' signed decimal integer into int64. */
enum mfr_num mfr_parse_i64(const char *s, size_t n, int64_t *out);
/*
 * [+-]digits[.digits][(e|E)[+-]digits] (at least one mantissa digit) into
 * the nearest float, independently of the locale. MFR_NUM_RANGE when the
 * value overflows or underflows float.
 */
enum mfr_num mfr_parse_float(const char *s, size_t n, float *out);

/* A positive raw id field; `what` is "user id" or "item id". */
int mfr_id_field(const char *path, int64_t line, const char *what, struct mfr_field f,
                 int64_t *out, mfr_error *err);

/* ------------------------------------------------------------------ */
/* Text                                                                 */
/* ------------------------------------------------------------------ */

/* How the bytes of a text file are decoded. */
enum mfr_encoding { MFR_ENC_LATIN1, MFR_ENC_UTF8 };

/* *enc = MFR_ENC_UTF8 when all of f is well-formed UTF-8 (ASCII
 * included), MFR_ENC_LATIN1 when none of its non-ASCII bytes form UTF-8
 * (the MovieLens 1M/10M/20M files come in either); a file with both is an
 * error naming the line of its first byte that is not UTF-8. */
int mfr_detect_encoding(const struct mfr_text_file *f, enum mfr_encoding *enc, mfr_error *err);

/*
 * Converts field f to a malloc'd NUL-terminated UTF-8 string in *out:
 * latin-1 bytes are re-encoded, UTF-8 is copied. Control characters (C0,
 * DEL, C1) are an error "path:line: invalid byte 0x.. in <what> (byte k)".
 */
int mfr_text_field(const char *path, int64_t line, const char *what, struct mfr_field f,
                   enum mfr_encoding enc, char **out, mfr_error *err);

/* The year of a date "01-Jan-1995" (its trailing "-YYYY" or a bare "YYYY"),
 * or of a title ending in "(1995)"; 0 when there is none. */
int32_t mfr_year_of(struct mfr_field date, struct mfr_field title);

/* ------------------------------------------------------------------ */
/* Raw id -> provisional index                                          */
/* ------------------------------------------------------------------ */

/* Raw id (> 0) -> provisional index, assigned in first-appearance order.
 * Small keys (the usual 1..n ids) index a direct table; the others go to
 * an open addressing hash table (0 marks an empty slot) whose slots hold
 * key and value together, so that a lookup touches one cache line. A key
 * below n_direct is never in the hash table. Zero-initialize. */
struct mfr_id_slot {
    int64_t key;
    int32_t val;
};

struct mfr_id_map {
    int32_t *direct; /* direct[key] = index + 1, 0 when absent */
    size_t n_direct;
    struct mfr_id_slot *slots;
    size_t cap; /* power of two, or 0 before the first hashed key */
    size_t n_hashed;
    int64_t *raw; /* provisional index -> raw id */
    size_t raw_cap;
    int32_t n;
    int64_t last_key; /* one-entry cache: files are often grouped by id */
    int32_t last_val;
};

void mfr_id_map_free(struct mfr_id_map *m);
/* mfr_id_map_get_or_add past its inline one-entry cache. */
int mfr_id_map_lookup(struct mfr_id_map *m, int64_t key, int32_t *idx);
/* Finds or inserts `key` (> 0). Returns MFR_OK, MFR_ERR_NOMEM, or
 * MFR_ERR_TOO_LARGE when there would be more than INT32_MAX ids. Inline
 * for the cache hit: a rating file calls it twice a line. */
static inline int mfr_id_map_get_or_add(struct mfr_id_map *m, int64_t key, int32_t *idx)
{
    if (key == m->last_key && m->n) {
        *idx = m->last_val;
        return MFR_OK;
    }
    if ((uint64_t)key < m->n_direct && m->direct[key]) {
        *idx = m->direct[key] - 1;
        return MFR_OK;
    }
    return mfr_id_map_lookup(m, key, idx);
}
/* Turns a status of mfr_id_map_get_or_add into an error message. */
int mfr_id_map_err(int rc, mfr_error *err, const char *path, const char *what);
/* Sorts the map's ids: *sorted (malloc'd, n entries) is dense -> raw and
 * *perm (malloc'd) provisional -> dense. MFR_ERR_NOMEM on failure. */
int mfr_id_map_finish(const struct mfr_id_map *m, int64_t **sorted, int32_t **perm);

/* Dense index of `raw` in the ascending array ids[0..n), or -1. */
int32_t mfr_find_id(const int64_t *ids, int32_t n, int64_t raw);

#endif
