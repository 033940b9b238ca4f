/*
 * model_io.c — reads and writes model files (format version 2, specified in
 * docs/MODEL_FORMAT.md).
 *
 * DESIGN
 * - Everything is little-endian and encoded byte by byte, so files are the
 *   same on every host. Rows are written unpadded (k floats): k_pad is an
 *   in-memory detail that may change between builds.
 * - The file holds nothing that varies between runs (no time, no thread
 *   count, no memory budget, no padding bytes), so two saves of equal models
 *   are byte-identical and a model's file is part of the determinism
 *   contract.
 * - The configuration is a list of tagged records (u32 tag, u32 length,
 *   value). A reader fills missing tags with mfr_config_default() values and
 *   skips tags it does not know, so fields can be added without a new
 *   version.
 * - Loading never trusts the file. It checks magic, version and header size,
 *   parses the header with bounds checks, validates every size, and compares
 *   the exact file length the sizes imply with the real one BEFORE it
 *   allocates anything. It then streams the body into the model while
 *   hashing, and accepts the model only when the trailing checksum of every
 *   preceding byte (mfr_hash; FNV-1a 64 in version 1 files) matches and
 *   every factor and moment is finite. Every failure names the file.
 * - Saving goes through mfr_write_atomic (temporary file, fsync, rename).
 */
#define _POSIX_C_SOURCE 200809L /* fseeko */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes_priv.h"
#include "config_priv.h"
#include "model_priv.h"
#include "softmax_priv.h"

/* Version 2 differs from 1 only in the file checksum: mfr_hash instead of
 * FNV-1a 64, eight times faster (a 10M-rating model is 86 MB); both are
 * read, version 2 is written. */
#define MODEL_VERSION 2u
#define MODEL_VERSION_FNV 1u
/* magic, version, header size, k, n_users, n_items, epochs, fingerprint,
 * config record count */
#define MODEL_FIXED_BYTES 48u
/* the fixed part and the two string lengths with empty strings and no
 * configuration record */
#define MODEL_MIN_HEADER (MODEL_FIXED_BYTES + 8u)
#define MODEL_MAX_HEADER (1u << 20)
/* Longest split spec / data dir a file may hold; keeps the header small. */
#define MODEL_MAX_STRING MFR_MODEL_MAX_STRING
/* Largest embedding dimension, as documented for mfr_config.k. */
#define MODEL_MAX_K MFR_MAX_K
/* Model records: tags from 1000 on describe the model, not an mfr_config
 * field, and are written only for a softmax model (so matrix factorization
 * files keep their bytes): its kind (i32, 1 = softmax) and the length of
 * its softmax section (u64), which follows the arrays. */
#define MODEL_TAG_KIND 1000u
#define MODEL_TAG_SOFTMAX_BYTES 1001u
/* u64: the split pin (model_priv.h), written only when not 0 */
#define MODEL_TAG_SPLIT_PIN 1002u

/* Configuration records: tags, types and member offsets come from the
 * table in config.c (config_priv.h). A tag is never reused; n_threads and
 * max_memory have none on purpose (they describe the machine, not the
 * model). A record holds an i32 (int32, enum and flag fields), an f64 or a
 * u64. */
enum record_type { REC_I32, REC_F64, REC_U64 };

/* Records that are not configuration fields, tagged far above the table's
 * tags so that the writer's tag order holds and an older reader skips
 * them as unknown. The data source: u32 format (enum mfr_format), u32
 * separator byte, u32 header rule (enum mfr_header), then the rating
 * file's path (the rest of the record, 1..MODEL_MAX_STRING bytes, no NUL);
 * written only when the training load named a file (mfr_model_data_source). */
#define MODEL_TAG_DATA_SOURCE 256u
#define SOURCE_FIXED_BYTES 12u

static enum record_type record_type(const struct mfr_config_row *row)
{
    switch (row->field.type) {
    case MFR_CONFIG_DOUBLE: return REC_F64;
    case MFR_CONFIG_UINT64: return REC_U64;
    case MFR_CONFIG_INT32:
    case MFR_CONFIG_ENUM:
    case MFR_CONFIG_FLAG: return REC_I32;
    default: MFR_ASSERT(0 && "no record type for this field"); return REC_U64;
    }
}

static uint32_t record_len(enum record_type t) { return t == REC_I32 ? 4u : 8u; }

/* The row of a tag the writer emits: tags 1..end-1 all exist. */
static const struct mfr_config_row *tagged_row(uint32_t tag)
{
    const struct mfr_config_row *row = mfr_config_row_by_tag(tag);
    MFR_ASSERT(row != NULL);
    return row;
}

/* Tags 1..17 are the fields of the format's first version and are always
 * written. A field added later is written only when it differs from its
 * default, so that a new option left off changes no model file (a reader
 * gives missing tags their defaults). */
#define MODEL_ALWAYS_TAGS 17u

static bool record_written(const struct mfr_config_row *row, const mfr_config *cfg)
{
    if (row->tag <= MODEL_ALWAYS_TAGS) return true;
    mfr_config c = *cfg; /* the accessors take a non-const config */
    switch (record_type(row)) {
    case REC_I32: return *mfr_config_i32(&c, row) != (int32_t)row->def;
    case REC_F64: return mfr_f64_bits(*mfr_config_f64(&c, row)) != mfr_f64_bits(row->def);
    default: return *mfr_config_u64(&c, row) != (uint64_t)row->def;
    }
}

/* The number of records written for m, and their bytes. */
static uint32_t records_of(const mfr_model *m, size_t *bytes)
{
    uint32_t n = 0;
    *bytes = 0;
    for (uint32_t tag = 1; tag < mfr_config_tag_end(); tag++) {
        const struct mfr_config_row *row = tagged_row(tag);
        if (!record_written(row, &m->cfg)) continue;
        n++;
        *bytes += 8 + record_len(record_type(row));
    }
    if (m->data_file) {
        n++;
        *bytes += 8 + SOURCE_FIXED_BYTES + strlen(m->data_file);
    }
    return n;
}

/* ------------------------------------------------------------------ */
/* Saving                                                               */
/* ------------------------------------------------------------------ */

/* Rows are encoded and written (or read and decoded) this many bytes at a
 * time: few calls, and the block stays in L2. */
#define ROW_BLOCK_BYTES ((size_t)64 << 10)

struct writer {
    const mfr_model *m;
    const char *path;
    uint32_t header_size;
    struct mfr_hash h; /* of every byte written so far */
    uint64_t *outer; /* NULL, or a checksum of an enclosing file (a checkpoint) */
    unsigned char *row; /* scratch: block_rows encoded rows (k * 4 bytes each) */
    int32_t block_rows;
};

/* The records of a model: its configuration's and data source's, then the
 * softmax records. */
static uint32_t model_records(const mfr_model *m, size_t *bytes)
{
    uint32_t n = records_of(m, bytes);
    if (m->sm) {
        n += 2;
        *bytes += (8 + 4) + (8 + 8);
    }
    if (m->split_pin) {
        n++;
        *bytes += 8 + 8;
    }
    return n;
}

static int w_put(struct writer *w, FILE *f, const void *p, size_t n, mfr_error *err)
{
    if (n == 0) return MFR_OK;
    if (fwrite(p, 1, n, f) != n)
        return mfr_seterr(err, MFR_ERR_IO, "cannot write %s: %s", w->path, strerror(errno));
    mfr_hash_update(&w->h, p, n);
    if (w->outer) *w->outer = mfr_fnv1a(*w->outer, p, n);
    return MFR_OK;
}

static int w_u32(struct writer *w, FILE *f, uint32_t v, mfr_error *err)
{
    unsigned char b[4];
    mfr_put_le32(b, v);
    return w_put(w, f, b, sizeof b, err);
}

static int w_u64(struct writer *w, FILE *f, uint64_t v, mfr_error *err)
{
    unsigned char b[8];
    mfr_put_le64(b, v);
    return w_put(w, f, b, sizeof b, err);
}

static int w_string(struct writer *w, FILE *f, const char *s, mfr_error *err)
{
    size_t n = strlen(s);
    int rc = w_u32(w, f, (uint32_t)n, err);
    if (rc == MFR_OK) rc = w_put(w, f, s, n, err);
    return rc;
}

/* The data source record (see MODEL_TAG_DATA_SOURCE). */
static int w_source(struct writer *w, FILE *f, const mfr_model *m, mfr_error *err)
{
    size_t n = strlen(m->data_file);
    int rc = w_u32(w, f, MODEL_TAG_DATA_SOURCE, err);
    if (rc == MFR_OK) rc = w_u32(w, f, (uint32_t)(SOURCE_FIXED_BYTES + n), err);
    if (rc == MFR_OK) rc = w_u32(w, f, (uint32_t)m->data_format, err);
    if (rc == MFR_OK) rc = w_u32(w, f, (uint32_t)m->data_sep, err);
    if (rc == MFR_OK) rc = w_u32(w, f, (uint32_t)m->data_header, err);
    if (rc == MFR_OK) rc = w_put(w, f, m->data_file, n, err);
    return rc;
}

/* Writes `rows` rows of the k real floats of a k_pad-strided array,
 * w->block_rows rows per write. */
static int w_rows(struct writer *w, FILE *f, const float *a, int32_t rows, mfr_error *err)
{
    const mfr_model *m = w->m;
    const size_t row_bytes = 4 * (size_t)m->k_row;
    for (int32_t r0 = 0; r0 < rows; r0 += w->block_rows) {
        int32_t nr = rows - r0 < w->block_rows ? rows - r0 : w->block_rows;
        for (int32_t r = 0; r < nr; r++) {
            const float *src = a + (size_t)(r0 + r) * (size_t)m->k_pad;
            unsigned char *dst = w->row + (size_t)r * row_bytes;
            for (int32_t j = 0; j < m->k_row; j++) mfr_put_le32(dst + 4 * (size_t)j, mfr_f32_bits(src[j]));
        }
        int rc = w_put(w, f, w->row, (size_t)nr * row_bytes, err);
        if (rc != MFR_OK) return rc;
    }
    return MFR_OK;
}

static int write_model(FILE *f, void *ctx, mfr_error *err)
{
    struct writer *w = ctx;
    const mfr_model *m = w->m;
    int rc = w_put(w, f, MFR_MODEL_MAGIC, MFR_MAGIC_LEN, err);
    if (rc == MFR_OK) rc = w_u32(w, f, MODEL_VERSION, err);
    if (rc == MFR_OK) rc = w_u32(w, f, w->header_size, err);
    if (rc == MFR_OK) rc = w_u32(w, f, (uint32_t)m->k, err);
    if (rc == MFR_OK) rc = w_u32(w, f, (uint32_t)m->n_users, err);
    if (rc == MFR_OK) rc = w_u32(w, f, (uint32_t)m->n_items, err);
    if (rc == MFR_OK) rc = w_u64(w, f, (uint64_t)m->epochs, err);
    if (rc == MFR_OK) rc = w_u64(w, f, m->data_fingerprint, err);
    uint32_t tag_end = mfr_config_tag_end();
    size_t record_bytes;
    if (rc == MFR_OK) rc = w_u32(w, f, model_records(m, &record_bytes), err);
    /* Records in tag order: the bytes depend on the values only. */
    mfr_config c = m->cfg; /* a copy: the accessors take a non-const config */
    for (uint32_t tag = 1; tag < tag_end && rc == MFR_OK; tag++) {
        const struct mfr_config_row *row = tagged_row(tag);
        if (!record_written(row, &m->cfg)) continue;
        enum record_type type = record_type(row);
        rc = w_u32(w, f, tag, err);
        if (rc == MFR_OK) rc = w_u32(w, f, record_len(type), err);
        if (rc != MFR_OK) break;
        if (type == REC_I32)
            rc = w_u32(w, f, (uint32_t)*mfr_config_i32(&c, row), err);
        else if (type == REC_F64)
            rc = w_u64(w, f, mfr_f64_bits(*mfr_config_f64(&c, row)), err);
        else
            rc = w_u64(w, f, *mfr_config_u64(&c, row), err);
    }
    if (rc == MFR_OK && m->data_file) rc = w_source(w, f, m, err);
    if (m->sm && rc == MFR_OK) {
        rc = w_u32(w, f, MODEL_TAG_KIND, err);
        if (rc == MFR_OK) rc = w_u32(w, f, 4, err);
        if (rc == MFR_OK) rc = w_u32(w, f, MFR_MODEL_KIND_SOFTMAX, err);
        if (rc == MFR_OK) rc = w_u32(w, f, MODEL_TAG_SOFTMAX_BYTES, err);
        if (rc == MFR_OK) rc = w_u32(w, f, 8, err);
        if (rc == MFR_OK) rc = w_u64(w, f, mfr_sm_net_bytes(m->sm), err);
    }
    if (m->split_pin && rc == MFR_OK) {
        rc = w_u32(w, f, MODEL_TAG_SPLIT_PIN, err);
        if (rc == MFR_OK) rc = w_u32(w, f, 8, err);
        if (rc == MFR_OK) rc = w_u64(w, f, m->split_pin, err);
    }
    if (rc == MFR_OK) rc = w_string(w, f, m->split_spec, err);
    if (rc == MFR_OK) rc = w_string(w, f, m->data_dir, err);
    for (int32_t u = 0; u < m->n_users && rc == MFR_OK; u++)
        rc = w_u64(w, f, (uint64_t)m->user_ids[u], err);
    for (int32_t i = 0; i < m->n_items && rc == MFR_OK; i++)
        rc = w_u64(w, f, (uint64_t)m->item_ids[i], err);
    struct mfr_model_array arrays[MFR_MODEL_MAX_ARRAYS];
    int n_arrays = mfr_model_arrays(m, arrays);
    for (int a = 0; a < n_arrays && rc == MFR_OK; a++)
        rc = w_rows(w, f, arrays[a].a, arrays[a].rows, err);
    if (m->sm && rc == MFR_OK) {
        uint64_t n = mfr_sm_net_bytes(m->sm);
        unsigned char *buf = mfr_malloc((size_t)n);
        if (!buf) return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory writing a softmax model");
        mfr_sm_net_encode(m->sm, buf);
        rc = w_put(w, f, buf, (size_t)n, err);
        free(buf);
    }
    if (rc == MFR_OK) rc = w_u64(w, f, mfr_hash_final(&w->h), err); /* of everything before */
    return rc;
}

/* Returns the first row/column of a non-finite value (or, when
 * nonneg is set, a negative one) in a k_pad-strided array, or false. */
static bool find_bad(const float *a, int32_t rows, int32_t k, int32_t k_pad, bool nonneg,
                     int32_t *bad_r, int32_t *bad_j)
{
    for (int32_t r = 0; r < rows; r++)
        for (int32_t j = 0; j < k; j++) {
            float v = a[(size_t)r * (size_t)k_pad + (size_t)j];
            if (!isfinite(v) || (nonneg && v < 0.0f)) {
                *bad_r = r;
                *bad_j = j;
                return true;
            }
        }
    return false;
}

/* A data source the reader accepts: a named format, a separator byte, a
 * header rule and a path of 1..MODEL_MAX_STRING bytes. */
static bool source_valid(uint32_t format, uint32_t sep, uint32_t header, size_t path_len)
{
    return format >= MFR_FORMAT_ML100K && format <= MFR_FORMAT_DELIMITED && sep <= 255 &&
           header <= MFR_HEADER_NO && path_len >= 1 && path_len <= MODEL_MAX_STRING;
}

/* Checks that a model is something mfr_model_load would accept. */
static int check_saveable(const mfr_model *m, const char *path, mfr_error *err)
{
    if (m->k < 1 || m->k > MODEL_MAX_K || m->n_users < 1 || m->n_items < 1 ||
        m->epochs < 0 || m->k_row != m->k + 2 * m->cfg.bias || m->k_pad < m->k_row)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "cannot save %s: bad model sizes (k=%d, %d users, %d items, "
                          "%lld epochs)",
                          path, (int)m->k, (int)m->n_users, (int)m->n_items,
                          (long long)m->epochs);
    if (m->cfg.k != m->k)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "cannot save %s: the model's k (%d) differs from its "
                          "configuration's k (%d)",
                          path, (int)m->k, (int)m->cfg.k);
    mfr_config c = m->cfg;
    for (uint32_t tag = 1; tag < mfr_config_tag_end(); tag++) {
        const struct mfr_config_row *row = tagged_row(tag);
        if (record_type(row) == REC_F64 && !isfinite(*mfr_config_f64(&c, row)))
            return mfr_seterr(err, MFR_ERR_INVALID,
                              "cannot save %s: configuration %s is not finite", path,
                              row->field.name);
    }
    const char *strs[2] = {m->split_spec, m->data_dir};
    const char *snames[2] = {"split spec", "data dir"};
    for (int s = 0; s < 2; s++)
        if (!strs[s] || strlen(strs[s]) > MODEL_MAX_STRING)
            return mfr_seterr(err, MFR_ERR_INVALID,
                              "cannot save %s: the %s is missing or longer than %u bytes",
                              path, snames[s], MODEL_MAX_STRING);
    if (m->data_file && !source_valid(m->data_format, m->data_sep, m->data_header,
                                      strlen(m->data_file)))
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "cannot save %s: the data file is empty or longer than %u bytes, or "
                          "its format (%d, separator %d, header %d) is not one of enum mfr_format",
                          path, MODEL_MAX_STRING, (int)m->data_format, (int)m->data_sep,
                          (int)m->data_header);
    if ((m->cfg.implicit > 0.0) != (m->Y != NULL))
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "cannot save %s: implicit is %g but the implicit factors are %s", path,
                          m->cfg.implicit, m->Y ? "present" : "missing");
    int32_t n_state = mfr_model_state_count(m->cfg.optimizer);
    if (m->n_state != n_state && !(m->cfg.optimizer == MFR_OPTIMIZER_SGD && m->n_state == MFR_MODEL_MAX_STATE))
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "cannot save %s: optimizer %d keeps %d state arrays per group, the model has %d",
                          path, (int)m->cfg.optimizer, (int)n_state, (int)m->n_state);
    struct mfr_model_array arrays[MFR_MODEL_MAX_ARRAYS];
    int n_arrays = mfr_model_arrays(m, arrays);
    for (int a = 0; a < n_arrays; a++) {
        int32_t r, j;
        if (find_bad(arrays[a].a, arrays[a].rows, m->k_row, m->k_pad, arrays[a].nonneg, &r, &j))
            return mfr_seterr(err, MFR_ERR_INVALID,
                              "cannot save %s: %s[%d][%d] = %g is not %s", path,
                              arrays[a].name, (int)r, (int)j,
                              (double)arrays[a].a[(size_t)r * (size_t)m->k_pad + (size_t)j],
                              arrays[a].nonneg ? "finite and non-negative" : "finite");
    }
    return MFR_OK;
}

/* The header's size for m (the fixed part, the records and the strings). */
static uint32_t header_size_of(const mfr_model *m)
{
    size_t record_bytes;
    model_records(m, &record_bytes);
    size_t header = MODEL_MIN_HEADER + strlen(m->split_spec) + strlen(m->data_dir) + record_bytes;
    MFR_ASSERT(header <= MODEL_MAX_HEADER);
    return (uint32_t)header;
}

/* Writes the bytes of m's file (checked saveable) to f. */
static int write_checked(const mfr_model *m, FILE *f, const char *path, uint64_t *outer, mfr_error *err)
{
    struct writer w = {.m = m, .path = path, .header_size = header_size_of(m), .outer = outer};
    mfr_hash_init(&w.h, 0);
    w.block_rows = (int32_t)(ROW_BLOCK_BYTES / (4 * (size_t)m->k_row));
    if (w.block_rows < 1) w.block_rows = 1;
    w.row = mfr_malloc(4 * (size_t)m->k_row * (size_t)w.block_rows);
    if (!w.row) return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory writing %s", path);
    int rc = write_model(f, &w, err);
    free(w.row);
    return rc;
}

int mfr_model_write(const mfr_model *m, FILE *f, const char *path, uint64_t *outer, mfr_error *err)
{
    int rc = check_saveable(m, path, err);
    return rc != MFR_OK ? rc : write_checked(m, f, path, outer, err);
}

struct save_ctx {
    const mfr_model *m;
    const char *path;
};

static int save_cb(FILE *f, void *ctx, mfr_error *err)
{
    const struct save_ctx *c = ctx;
    return write_checked(c->m, f, c->path, NULL, err);
}

/* Writes m to path atomically (docs/MODEL_FORMAT.md). On failure nothing is
 * left at path (an existing file there is untouched). */
int mfr_model_save(const mfr_model *m, const char *path, mfr_error *err)
{
    if (!m || !path)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_model_save: %s is NULL",
                          !m ? "model" : "path");
    int rc = check_saveable(m, path, err);
    if (rc != MFR_OK) return rc;
    struct save_ctx c = {m, path};
    return mfr_write_atomic(path, save_cb, &c, err);
}

/* ------------------------------------------------------------------ */
/* Loading                                                              */
/* ------------------------------------------------------------------ */

/* Bounds-checked cursor over the header bytes. */
struct cursor {
    const unsigned char *p;
    size_t len, pos;
};

static bool c_take(struct cursor *c, size_t n, const unsigned char **out)
{
    if (n > c->len - c->pos) return false;
    *out = c->p + c->pos;
    c->pos += n;
    return true;
}

static bool c_u32(struct cursor *c, uint32_t *v)
{
    const unsigned char *b;
    if (!c_take(c, 4, &b)) return false;
    *v = mfr_get_le32(b);
    return true;
}

static bool c_u64(struct cursor *c, uint64_t *v)
{
    const unsigned char *b;
    if (!c_take(c, 8, &b)) return false;
    *v = mfr_get_le64(b);
    return true;
}

/* Reads a u32-length-prefixed string into a fresh NUL-terminated copy. */
static int c_string(struct cursor *c, const char *path, const char *what, char **out,
                    mfr_error *err)
{
    uint32_t n;
    const unsigned char *b;
    if (!c_u32(c, &n))
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s: header ends inside the %s length",
                          path, what);
    if (n > c->len - c->pos)
        return mfr_seterr(err, MFR_ERR_CORRUPT,
                          "%s: %s length %u runs past the end of the %zu-byte header", path,
                          what, n, c->len);
    (void)c_take(c, n, &b);
    if (memchr(b, 0, n))
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s: the %s contains a NUL byte", path, what);
    char *s = mfr_malloc((size_t)n + 1);
    if (!s) return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory reading %s", path);
    memcpy(s, b, n);
    s[n] = 0;
    *out = s;
    return MFR_OK;
}

/* What the header says, before anything is allocated. */
struct header {
    int32_t k, n_users, n_items;
    int64_t epochs;
    uint64_t fingerprint;
    mfr_config cfg;
    char *split_spec, *data_dir;
    char *data_file; /* the data source record, NULL when absent */
    int32_t data_format, data_sep, data_header;
    int32_t kind;      /* enum mfr_model_kind (MODEL_TAG_KIND) */
    uint64_t sm_bytes; /* the softmax section's length, 0 without */
    uint64_t split_pin; /* MODEL_TAG_SPLIT_PIN, 0 without */
    uint32_t unknown_tag; /* the first record skipped as a newer mfrec's, 0: none */
};

/* A model record (tag >= 1000) into h; MFR_ERR_CORRUPT for a bad length
 * or a repeat. Unknown model tags are skipped like unknown fields. */
static int parse_model_record(uint32_t tag, uint32_t len, const unsigned char *v,
                              const char *path, struct header *h, mfr_error *err)
{
    bool kind = tag == MODEL_TAG_KIND;
    if (tag == MODEL_TAG_SPLIT_PIN) {
        if (len != 8 || h->split_pin || !(h->split_pin = mfr_get_le64(v)))
            return mfr_seterr(err, MFR_ERR_CORRUPT, "%s: the split record (%u bytes) is malformed or repeats",
                              path, len);
        return MFR_OK;
    }
    if (!kind && tag != MODEL_TAG_SOFTMAX_BYTES) { /* a newer mfrec's */
        if (!h->unknown_tag) h->unknown_tag = tag;
        return MFR_OK;
    }
    if (len != (kind ? 4u : 8u) || (kind ? h->kind != -1 : h->sm_bytes != UINT64_MAX))
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s: model record %u has %u bytes or repeats",
                          path, tag, len);
    if (kind)
        h->kind = (int32_t)mfr_get_le32(v);
    else
        h->sm_bytes = mfr_get_le64(v);
    return MFR_OK;
}

/* The data source record's value v (len bytes) into h. */
static int parse_source(const unsigned char *v, uint32_t len, const char *path, struct header *h,
                        mfr_error *err)
{
    if (h->data_file)
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s: the data source record appears twice", path);
    uint32_t format = len >= SOURCE_FIXED_BYTES ? mfr_get_le32(v) : 0;
    uint32_t sep = len >= SOURCE_FIXED_BYTES ? mfr_get_le32(v + 4) : 0;
    uint32_t header = len >= SOURCE_FIXED_BYTES ? mfr_get_le32(v + 8) : 0;
    size_t n = len >= SOURCE_FIXED_BYTES ? len - SOURCE_FIXED_BYTES : 0;
    if (!source_valid(format, sep, header, n) || memchr(v + SOURCE_FIXED_BYTES, 0, n))
        return mfr_seterr(err, MFR_ERR_CORRUPT,
                          "%s: the data source record (%u bytes) is malformed", path, len);
    if (!(h->data_file = mfr_malloc(n + 1)))
        return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory reading %s", path);
    memcpy(h->data_file, v + SOURCE_FIXED_BYTES, n);
    h->data_file[n] = 0;
    h->data_format = (int32_t)format;
    h->data_sep = (int32_t)sep;
    h->data_header = (int32_t)header;
    return MFR_OK;
}

static int parse_config(struct cursor *c, const char *path, struct header *h, mfr_error *err)
{
    mfr_config *cfg = &h->cfg;
    uint32_t n_records;
    if (!c_u32(c, &n_records))
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s: header ends before the configuration",
                          path);
    if (n_records > (c->len - c->pos) / 8)
        return mfr_seterr(err, MFR_ERR_CORRUPT,
                          "%s: %u configuration records cannot fit in the %zu-byte header",
                          path, n_records, c->len);
    /* Missing tags keep their defaults, and so do n_threads and max_memory,
     * which no file holds. */
    mfr_config_default(cfg);
    uint64_t seen = 0; /* bit t: tag t was read */
    MFR_ASSERT(mfr_config_tag_end() <= 64);
    for (uint32_t r = 0; r < n_records; r++) {
        uint32_t tag, len;
        const unsigned char *v;
        if (!c_u32(c, &tag) || !c_u32(c, &len))
            return mfr_seterr(err, MFR_ERR_CORRUPT,
                              "%s: header ends inside configuration record %u", path, r);
        if (!c_take(c, len, &v))
            return mfr_seterr(err, MFR_ERR_CORRUPT,
                              "%s: configuration record %u (tag %u) of %u bytes runs past "
                              "the end of the header",
                              path, r, tag, len);
        if (tag == 0)
            return mfr_seterr(err, MFR_ERR_CORRUPT,
                              "%s: configuration record %u has the invalid tag 0", path, r);
        if (tag == MODEL_TAG_DATA_SOURCE) {
            int rc = parse_source(v, len, path, h, err);
            if (rc != MFR_OK) return rc;
            continue;
        }
        if (tag >= MODEL_TAG_KIND) {
            int rc = parse_model_record(tag, len, v, path, h, err);
            if (rc != MFR_OK) return rc;
            continue;
        }
        const struct mfr_config_row *row = mfr_config_row_by_tag(tag);
        if (!row) { /* written by a newer mfrec: not ours to read */
            if (!h->unknown_tag) h->unknown_tag = tag;
            continue;
        }
        const char *name = row->field.name;
        if (seen >> tag & 1u)
            return mfr_seterr(err, MFR_ERR_CORRUPT,
                              "%s: configuration field %s (tag %u) appears twice", path, name,
                              tag);
        seen |= UINT64_C(1) << tag;
        enum record_type type = record_type(row);
        if (len != record_len(type))
            return mfr_seterr(err, MFR_ERR_CORRUPT,
                              "%s: configuration field %s (tag %u) has %u bytes, expected %u",
                              path, name, tag, len, record_len(type));
        if (type == REC_I32) {
            *mfr_config_i32(cfg, row) = (int32_t)mfr_get_le32(v);
        } else if (type == REC_U64) {
            *mfr_config_u64(cfg, row) = mfr_get_le64(v);
        } else {
            double d = mfr_bits_f64(mfr_get_le64(v));
            if (!isfinite(d))
                return mfr_seterr(err, MFR_ERR_CORRUPT,
                                  "%s: configuration field %s is not finite", path, name);
            *mfr_config_f64(cfg, row) = d;
        }
    }
    return MFR_OK;
}

/* Parses and validates the whole header (hdr, header_size bytes, magic and
 * version already checked). */
static int parse_header(const unsigned char *hdr, size_t header_size, const char *path,
                        struct header *h, mfr_error *err)
{
    struct cursor c = {hdr, header_size, 16};
    uint32_t k, nu, ni;
    uint64_t epochs;
    if (!c_u32(&c, &k) || !c_u32(&c, &nu) || !c_u32(&c, &ni) || !c_u64(&c, &epochs) ||
        !c_u64(&c, &h->fingerprint))
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s: header ends inside the sizes", path);
    if (k < 1 || k > MODEL_MAX_K)
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s: k = %lld is outside 1..%d", path,
                          (long long)(int32_t)k, MODEL_MAX_K);
    if (nu < 1 || nu > INT32_MAX)
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s: n_users = %lld is outside 1..%d", path,
                          (long long)(int32_t)nu, INT32_MAX);
    if (ni < 1 || ni > INT32_MAX)
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s: n_items = %lld is outside 1..%d", path,
                          (long long)(int32_t)ni, INT32_MAX);
    if (epochs > INT64_MAX)
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s: epoch count %lld is negative", path,
                          (long long)epochs);
    h->k = (int32_t)k;
    h->n_users = (int32_t)nu;
    h->n_items = (int32_t)ni;
    h->epochs = (int64_t)epochs;

    h->kind = -1;
    h->sm_bytes = UINT64_MAX;
    h->unknown_tag = 0;
    int rc = parse_config(&c, path, h, err);
    if (rc != MFR_OK) return rc;
    if (h->kind == -1) h->kind = MFR_MODEL_KIND_MF;
    if (h->sm_bytes == UINT64_MAX) h->sm_bytes = 0;
    if ((h->kind != MFR_MODEL_KIND_MF && h->kind != MFR_MODEL_KIND_SOFTMAX) ||
        (h->kind == MFR_MODEL_KIND_SOFTMAX) != (h->sm_bytes > 0))
        return mfr_seterr(err, MFR_ERR_CORRUPT,
                          "%s: model kind %d with a softmax section of %llu bytes", path,
                          (int)h->kind, (unsigned long long)h->sm_bytes);
    if (h->cfg.k != h->k)
        return mfr_seterr(err, MFR_ERR_CORRUPT,
                          "%s: configuration k = %d differs from the model's k = %d", path,
                          (int)h->cfg.k, (int)h->k);
    if (h->cfg.bias != 0 && h->cfg.bias != 1)
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s: bias flag is %d, not 0 or 1", path,
                          (int)h->cfg.bias);
    /* implicit decides which arrays follow: it must be a usable value */
    if (!(h->cfg.implicit >= 0.0) || !isfinite(h->cfg.implicit))
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s: implicit weight %g is not a finite value >= 0",
                          path, h->cfg.implicit);
    /* the checksum proves the bytes are what was written, not that a
     * writer recorded sane settings (lr -5, beta1 7): the same ranges as
     * for training */
    mfr_error verr = {0};
    if (mfr_config_validate(&h->cfg, &verr) != MFR_OK)
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s: a recorded setting is out of range: %s", path,
                          verr.message);
    rc = c_string(&c, path, "split spec", &h->split_spec, err);
    if (rc == MFR_OK) rc = c_string(&c, path, "data dir", &h->data_dir, err);
    if (rc != MFR_OK) return rc;
    if (c.pos != header_size)
        return mfr_seterr(err, MFR_ERR_CORRUPT,
                          "%s: header size is %zu bytes but its fields end at byte %zu", path,
                          header_size, c.pos);
    return MFR_OK;
}

/* Exact file length implied by the header with n_state optimizer state
 * arrays per group, or false on overflow: header + 8 (n_users + n_items)
 * + (1 + n_state) 4 k_row (n_users + n_items) + 8, and with implicit
 * feedback 4 k_row (n_users + (1 + n_state) n_items) more. */
static bool expected_length(const struct header *h, size_t header_size, int32_t n_state, uint64_t *out)
{
    uint64_t rows = (uint64_t)h->n_users + (uint64_t)h->n_items, ids, floats, total;
    if (__builtin_mul_overflow(rows, 8u, &ids)) return false;
    uint64_t k_row = (uint64_t)h->k + 2u * (uint64_t)(h->cfg.bias != 0);
    uint64_t per_row = 1u + (uint64_t)n_state; /* the parameters and their state */
    uint64_t row_groups = per_row * rows;
    if (h->cfg.implicit > 0.0) row_groups += (uint64_t)h->n_users + per_row * (uint64_t)h->n_items;
    if (__builtin_mul_overflow(row_groups, k_row * 4u, &floats)) return false;
    if (__builtin_add_overflow((uint64_t)header_size, ids, &total)) return false;
    if (__builtin_add_overflow(total, floats, &total)) return false;
    if (__builtin_add_overflow(total, 8u, &total)) return false;
    if (__builtin_add_overflow(total, h->sm_bytes, &total)) return false;
    *out = total;
    return true;
}

/* The running checksum of a file being read: FNV-1a 64 in a version 1
 * file, mfr_hash from version 2. */
struct file_sum {
    uint32_t version;
    uint64_t fnv;
    struct mfr_hash h;
};

static void sum_start(struct file_sum *s, uint32_t version)
{
    s->version = version;
    s->fnv = MFR_FNV_INIT;
    mfr_hash_init(&s->h, 0);
}

static void sum_update(struct file_sum *s, const void *p, size_t n)
{
    if (s->version == MODEL_VERSION_FNV)
        s->fnv = mfr_fnv1a(s->fnv, p, n);
    else
        mfr_hash_update(&s->h, p, n);
}

static uint64_t sum_value(const struct file_sum *s)
{
    return s->version == MODEL_VERSION_FNV ? s->fnv : mfr_hash_final(&s->h);
}

uint64_t mfr_model_file_sum(const unsigned char *file, size_t n)
{
    struct file_sum s;
    sum_start(&s, n >= 12 ? mfr_get_le32(file + 8) : MODEL_VERSION);
    sum_update(&s, file, n);
    return sum_value(&s);
}

/* Reads exactly n bytes and folds them into *h. A short read is an I/O
 * error, or CORRUPT when the file shrank since it was measured. */
static int read_exact(FILE *f, const char *path, void *buf, size_t n, struct file_sum *h,
                      mfr_error *err)
{
    if (n == 0) return MFR_OK;
    if (fread(buf, 1, n, f) != n) {
        if (ferror(f))
            return mfr_seterr(err, MFR_ERR_IO, "cannot read %s: %s", path, strerror(errno));
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s is truncated (it shrank while read)",
                          path);
    }
    if (h) sum_update(h, buf, n);
    return MFR_OK;
}

/* First non-finite (or negative second-moment) value met while reading. */
struct bad_value {
    const char *array;
    int32_t row, col;
    float value;
};

/* Reads `rows` unpadded rows of k floats into the k_pad-strided array a
 * (NULL: checks and hashes them only), block_rows rows (buf's size) per
 * read. */
static int read_rows(FILE *f, const char *path, float *a, int32_t rows, int32_t k,
                     int32_t k_pad, const char *name, bool nonneg, unsigned char *buf,
                     int32_t block_rows, struct file_sum *h, struct bad_value *bad, mfr_error *err)
{
    const size_t row_bytes = 4 * (size_t)k;
    for (int32_t r0 = 0; r0 < rows; r0 += block_rows) {
        int32_t nr = rows - r0 < block_rows ? rows - r0 : block_rows;
        int rc = read_exact(f, path, buf, (size_t)nr * row_bytes, h, err);
        if (rc != MFR_OK) return rc;
        for (int32_t r = r0; r < r0 + nr; r++) {
            const unsigned char *src = buf + (size_t)(r - r0) * row_bytes;
            float *dst = a ? a + (size_t)r * (size_t)k_pad : NULL; /* NULL: checked, not kept */
            for (int32_t j = 0; j < k; j++) {
                float v = mfr_bits_f32(mfr_get_le32(src + 4 * (size_t)j));
                if (!bad->array && (!isfinite(v) || (nonneg && v < 0.0f)))
                    *bad = (struct bad_value){name, r, j, v};
                if (a) dst[j] = v;
            }
        }
    }
    return MFR_OK;
}

/* Reads `n` int64 ids. */
static int read_ids(FILE *f, const char *path, int64_t *ids, int32_t n, struct file_sum *h,
                    mfr_error *err)
{
    unsigned char b[8];
    for (int32_t x = 0; x < n; x++) {
        int rc = read_exact(f, path, b, sizeof b, h, err);
        if (rc != MFR_OK) return rc;
        ids[x] = (int64_t)mfr_get_le64(b);
    }
    return MFR_OK;
}

/* The model file being read. */
struct reader {
    const char *path;
    FILE *f;
    uint64_t file_len;
    unsigned char *hdr;
    size_t header_size;
    struct file_sum hash;
    struct header h;
    int32_t n_state;
    bool section; /* a model inside another file: bytes may follow it */
    /* mfr_model_read_shell: a shell without user rows, where each array
     * starts (user_off), and whether the user rows are verified (read,
     * hashed, checked) or skipped with the checksum. */
    bool shell, verify;
    uint64_t *user_off;
    /* mfr_model_load_weights: the optimizer state arrays are read, hashed
     * and checked like the others, but not kept (the model's n_state is
     * 0). */
    bool no_state;
};

/* Opens path, which must be a regular file, and measures it. */
static int reader_open(struct reader *r, mfr_error *err)
{
    int fd, rc = mfr_open_regular(r->path, &fd, err);
    if (rc != MFR_OK) return rc;
    r->f = fdopen(fd, "rb");
    if (!r->f) {
        close(fd);
        return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory opening %s", r->path);
    }
    struct stat st;
    if (fstat(fileno(r->f), &st) != 0)
        return mfr_seterr(err, MFR_ERR_IO, "cannot stat %s: %s", r->path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return mfr_seterr(err, MFR_ERR_IO, "%s is not a regular file", r->path);
    r->file_len = (uint64_t)st.st_size;
    return MFR_OK;
}

/* Magic, version and header size, then the whole header, bounds-checked. */
static int reader_header(struct reader *r, mfr_error *err)
{
    const char *path = r->path;
    unsigned char fixed[16];
    size_t first = r->file_len < sizeof fixed ? (size_t)r->file_len : sizeof fixed;
    int rc = read_exact(r->f, path, fixed, first, NULL, err);
    if (rc != MFR_OK) return rc;
    size_t cmp = first < MFR_MAGIC_LEN ? first : MFR_MAGIC_LEN;
    if (first == sizeof fixed && memcmp(fixed, MFR_CKPT_MAGIC, MFR_MAGIC_LEN) == 0)
        return mfr_seterr(err, MFR_ERR_CORRUPT,
                          "%s is a training checkpoint, not a model file: `mfrec train --resume %s --out "
                          "MODEL` finishes the run and writes the model",
                          path, path);
    if (r->file_len == 0 || memcmp(fixed, MFR_MODEL_MAGIC, cmp) != 0)
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s is not an mfrec model file", path);
    if (first < sizeof fixed)
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s is truncated: %llu bytes, too short for a model header",
                          path, (unsigned long long)r->file_len);
    uint32_t version = mfr_get_le32(fixed + 8);
    if (version != MODEL_VERSION && version != MODEL_VERSION_FNV)
        return mfr_seterr(err, MFR_ERR_CORRUPT,
                          "%s: unsupported model format version %u (this build reads versions %u and %u)",
                          path, version, MODEL_VERSION_FNV, MODEL_VERSION);
    uint32_t header_size = mfr_get_le32(fixed + 12);
    if (header_size < MODEL_MIN_HEADER || header_size > MODEL_MAX_HEADER)
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s: header size %u is outside %u..%u", path, header_size,
                          MODEL_MIN_HEADER, MODEL_MAX_HEADER);
    if (header_size > r->file_len)
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s is truncated: %llu bytes, shorter than its %u-byte header",
                          path, (unsigned long long)r->file_len, header_size);
    if (!(r->hdr = mfr_malloc(header_size))) return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory reading %s", path);
    r->header_size = header_size;
    memcpy(r->hdr, fixed, sizeof fixed);
    rc = read_exact(r->f, path, r->hdr + sizeof fixed, header_size - sizeof fixed, NULL, err);
    if (rc != MFR_OK) return rc;
    sum_start(&r->hash, version);
    sum_update(&r->hash, r->hdr, header_size);
    return parse_header(r->hdr, header_size, path, &r->h, err);
}

/* The exact length the sizes imply, before anything is allocated. It also
 * gives the optimizer state's array count: the optimizer's own, or for
 * SGD in files written before SGD stopped storing state, two (zero)
 * arrays per group. */
static int reader_length(struct reader *r, mfr_error *err)
{
    const struct header *h = &r->h;
    int32_t n_state = mfr_model_state_count(h->cfg.optimizer);
    uint64_t want, legacy;
    if (n_state < 0)
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s: optimizer %d is unknown", r->path, (int)h->cfg.optimizer);
    if (!expected_length(h, r->header_size, n_state, &want) ||
        !expected_length(h, r->header_size, MFR_MODEL_MAX_STATE, &legacy))
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s: sizes k=%d, %d users, %d items overflow", r->path,
                          (int)h->k, (int)h->n_users, (int)h->n_items);
    if (h->cfg.optimizer == MFR_OPTIMIZER_SGD && r->file_len == legacy) {
        r->n_state = MFR_MODEL_MAX_STATE;
        return MFR_OK;
    }
    r->n_state = n_state;
    if (r->file_len < want)
        return mfr_seterr(err, MFR_ERR_CORRUPT,
                          "%s is truncated or its header is corrupt: %llu bytes, where its header (k=%d, %d users, "
                          "%d items) implies %llu",
                          r->path, (unsigned long long)r->file_len, (int)h->k, (int)h->n_users,
                          (int)h->n_items, (unsigned long long)want);
    if (r->file_len > want && h->unknown_tag) /* as implicit feedback's arrays and the softmax
                                                 * section were to the readers before them */
        return mfr_seterr(err, MFR_ERR_CORRUPT,
                          "%s: %llu trailing bytes after the %llu bytes its header implies, and record %u, "
                          "which this build does not know: a newer mfrec wrote the model with parts this "
                          "build cannot read",
                          r->path, (unsigned long long)(r->file_len - want), (unsigned long long)want,
                          h->unknown_tag);
    if (r->file_len > want)
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s: %llu trailing bytes after the %llu bytes its header implies (a corrupt header, "
                          "or another file appended)",
                          r->path, (unsigned long long)(r->file_len - want), (unsigned long long)want);
    return MFR_OK;
}

/* The model the header describes, with its configuration and provenance. */
static int reader_model(struct reader *r, mfr_model **out, mfr_error *err)
{
    struct header *h = &r->h;
    int rc = (r->shell ? mfr_model_alloc_shell : mfr_model_alloc)(h->k, h->cfg.bias, h->n_users, h->n_items, out,
                                                                 err);
    if (rc != MFR_OK) return rc;
    mfr_model *m = *out;
    m->cfg = h->cfg;
    if (h->cfg.implicit > 0.0 && (rc = mfr_model_alloc_implicit(m, err)) != MFR_OK) return rc;
    if (!r->no_state && (rc = mfr_model_alloc_state(m, r->n_state, err)) != MFR_OK) return rc;
    m->epochs = h->epochs;
    m->data_fingerprint = h->fingerprint;
    free(m->split_spec);
    free(m->data_dir);
    m->split_spec = h->split_spec;
    m->data_dir = h->data_dir;
    m->data_file = h->data_file;
    m->data_format = h->data_format;
    m->data_sep = h->data_sep;
    m->data_header = h->data_header;
    m->split_pin = h->split_pin;
    h->split_spec = h->data_dir = h->data_file = NULL;
    return MFR_OK;
}

/* Id maps, arrays and checksum; values are checked after the checksum, so
 * that corruption is reported as such. */
static int reader_body(struct reader *r, mfr_model *m, mfr_error *err)
{
    const char *path = r->path;
    int32_t block_rows = (int32_t)(ROW_BLOCK_BYTES / (4 * (size_t)m->k_row));
    if (block_rows < 1) block_rows = 1;
    unsigned char *buf = mfr_malloc(4 * (size_t)m->k_row * (size_t)block_rows);
    if (!buf) return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory reading %s", path);
    struct bad_value bad = {0};
    int rc = read_ids(r->f, path, m->user_ids, m->n_users, &r->hash, err);
    if (rc == MFR_OK) rc = read_ids(r->f, path, m->item_ids, m->n_items, &r->hash, err);
    struct mfr_model_array arrays[MFR_MODEL_MAX_ARRAYS];
    /* the file's list of arrays; without the state, its entries are NULL
     * (m->state[..] was never allocated): read through, not kept */
    if (r->no_state) m->n_state = r->n_state;
    int n_arrays = mfr_model_arrays(m, arrays);
    if (r->no_state) m->n_state = 0;
    uint64_t off = (uint64_t)r->header_size + 8u * ((uint64_t)m->n_users + (uint64_t)m->n_items);
    for (int a = 0; a < n_arrays && rc == MFR_OK; a++) {
        const uint64_t bytes = 4u * (uint64_t)m->k_row * (uint64_t)arrays[a].rows;
        if (r->user_off) r->user_off[a] = off;
        off += bytes;
        if (!arrays[a].a && !r->verify && !r->no_state) { /* a shell's user rows, skipped */
            if (fseeko(r->f, (off_t)bytes, SEEK_CUR) != 0)
                rc = mfr_seterr(err, MFR_ERR_IO, "cannot seek in %s: %s", path, strerror(errno));
            continue;
        }
        rc = read_rows(r->f, path, arrays[a].a, arrays[a].rows, m->k_row, m->k_pad, arrays[a].name,
                       arrays[a].nonneg, buf, block_rows, &r->hash, &bad, err);
    }
    free(buf);
    if (rc != MFR_OK) return rc;
    /* The softmax section (its length was checked against the file's). */
    unsigned char *sm = NULL;
    if (r->h.sm_bytes > 0) {
        if (!(sm = mfr_malloc((size_t)r->h.sm_bytes)))
            return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory reading %s", path);
        rc = read_exact(r->f, path, sm, (size_t)r->h.sm_bytes, &r->hash, err);
    }
    unsigned char sum[8];
    if (rc == MFR_OK) rc = read_exact(r->f, path, sum, sizeof sum, NULL, err);
    if (rc == MFR_OK && (!r->shell || r->verify) && mfr_get_le64(sum) != sum_value(&r->hash))
        rc = mfr_seterr(err, MFR_ERR_CORRUPT, "%s: checksum mismatch: file is corrupted", path);
    if (rc == MFR_OK && sm)
        rc = mfr_sm_net_decode(sm, r->h.sm_bytes, m->n_items, m->k, path, &m->sm, err);
    free(sm);
    if (rc != MFR_OK) return rc;
    if (!r->section && fgetc(r->f) != EOF) /* the file grew while we read it */
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s: trailing bytes after the checksum", path);
    if (bad.array)
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s: %s[%d][%d] = %g is not %s", path, bad.array,
                          (int)bad.row, (int)bad.col, (double)bad.value,
                          bad.array[0] == 'v' ? "finite and non-negative" : "finite");
    return MFR_OK;
}

/* Reads the model r describes from r->f (opened, r->file_len set). */
static int reader_run(struct reader *r, mfr_model **out, mfr_error *err)
{
    mfr_model *m = NULL;
    int rc = reader_header(r, err);
    if (rc == MFR_OK) rc = reader_length(r, err);
    if (rc == MFR_OK) rc = reader_model(r, &m, err);
    if (rc == MFR_OK) rc = reader_body(r, m, err);
    free(r->hdr);
    free(r->h.split_spec);
    free(r->h.data_dir);
    free(r->h.data_file);
    if (rc != MFR_OK) {
        mfr_model_destroy(m);
        return rc;
    }
    *out = m;
    return MFR_OK;
}

int mfr_model_read(FILE *f, const char *path, uint64_t len, mfr_model **out, mfr_error *err)
{
    *out = NULL;
    struct reader r = {.path = path, .f = f, .file_len = len, .section = true};
    return reader_run(&r, out, err);
}

int mfr_model_read_shell(FILE *f, const char *path, uint64_t len, bool verify, mfr_model **out,
                         uint64_t user_off[MFR_MODEL_MAX_ARRAYS], mfr_error *err)
{
    *out = NULL;
    struct reader r = {.path = path, .f = f, .file_len = len, .section = true, .shell = true, .verify = verify,
                       .user_off = user_off};
    return reader_run(&r, out, err);
}

int mfr_model_read_user_rows(FILE *f, const char *path, uint64_t base,
                             const uint64_t user_off[MFR_MODEL_MAX_ARRAYS], mfr_model *dst, int32_t user_lo,
                             mfr_error *err)
{
    int32_t block_rows = (int32_t)(ROW_BLOCK_BYTES / (4 * (size_t)dst->k_row));
    if (block_rows < 1) block_rows = 1;
    unsigned char *buf = mfr_malloc(4 * (size_t)dst->k_row * (size_t)block_rows);
    if (!buf) return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory reading %s", path);
    struct mfr_model_array arrays[MFR_MODEL_MAX_ARRAYS];
    const int n_arrays = mfr_model_arrays(dst, arrays);
    struct bad_value bad = {0};
    int rc = MFR_OK;
    for (int a = 0; a < n_arrays && rc == MFR_OK && !bad.array; a++) {
        if (!arrays[a].users) continue;
        const uint64_t at = base + user_off[a] + 4u * (uint64_t)dst->k_row * (uint64_t)user_lo;
        if (fseeko(f, (off_t)at, SEEK_SET) != 0)
            rc = mfr_seterr(err, MFR_ERR_IO, "cannot seek in %s: %s", path, strerror(errno));
        else
            rc = read_rows(f, path, arrays[a].a, arrays[a].rows, dst->k_row, dst->k_pad, arrays[a].name,
                           arrays[a].nonneg, buf, block_rows, NULL, &bad, err);
    }
    free(buf);
    if (rc == MFR_OK && bad.array) /* the row as the whole model numbers it */
        rc = mfr_seterr(err, MFR_ERR_CORRUPT, "%s: %s[%d][%d] = %g is not %s", path, bad.array,
                        (int)(user_lo + bad.row), (int)bad.col, (double)bad.value,
                        bad.array[0] == 'v' ? "finite and non-negative" : "finite");
    return rc;
}

uint64_t mfr_model_file_size(const mfr_model *m)
{
    struct header h = {.k = m->k, .n_users = m->n_users, .n_items = m->n_items, .cfg = m->cfg,
                       .sm_bytes = m->sm ? mfr_sm_net_bytes(m->sm) : 0};
    uint64_t len = 0;
    bool ok = expected_length(&h, header_size_of(m), m->n_state, &len);
    MFR_ASSERT(ok); /* the model exists in memory: its size fits */
    return len;
}

/* Loads and verifies a model file; see docs/MODEL_FORMAT.md for the checks.
 * On failure *out is NULL and nothing stays allocated. */
static int model_load(const char *fn, const char *path, bool no_state, mfr_model **out, mfr_error *err)
{
    if (!out) return mfr_seterr(err, MFR_ERR_INVALID, "%s: out is NULL", fn);
    *out = NULL;
    if (!path) return mfr_seterr(err, MFR_ERR_INVALID, "%s: path is NULL", fn);
    struct reader r = {.path = path, .no_state = no_state};
    int rc = reader_open(&r, err);
    if (rc == MFR_OK) rc = reader_run(&r, out, err);
    if (r.f) fclose(r.f);
    return rc;
}

int mfr_model_load(const char *path, mfr_model **out, mfr_error *err)
{
    return model_load("mfr_model_load", path, false, out, err);
}

/* The same file checks; the optimizer state (two arrays the size of the
 * factors under Adam) is checked and dropped: the read-only commands
 * never use it, and it was most of their memory. */
int mfr_model_load_weights(const char *path, mfr_model **out, mfr_error *err)
{
    return model_load("mfr_model_load_weights", path, true, out, err);
}

int mfr_model_check_split_spec(const char *who, const char *split_spec, mfr_error *err)
{
    if (!split_spec || strlen(split_spec) <= MODEL_MAX_STRING) return MFR_OK;
    return mfr_seterr(err, MFR_ERR_INVALID, "%s: split_spec is longer than %u bytes, a model file's most", who,
                      MODEL_MAX_STRING);
}
