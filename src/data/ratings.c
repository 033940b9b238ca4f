/*
 * ratings.c — the rating set (struct mfr_ratings): allocation, access,
 * destruction, and writing it back as a u.data-format text file.
 *
 * Ratings are stored as a structure of arrays in dense indices (see
 * dataset_priv.h). Writing maps the dense indices back to the dataset's raw
 * ids, so a written file can be read again with mfr_dataset_read_ratings().
 *
 * The text is the same under every locale: numbers are formatted by hand
 * (integers and short decimals directly; other ratings through "%e", of
 * which only the ASCII digits and the exponent are used), so a process that
 * set LC_NUMERIC to a comma locale still writes "3.5". The library never
 * calls setlocale().
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "dataset_priv.h"
#include "parse_priv.h"

/* mfr_ratings_alloc; without `with_ts` r->ts is left NULL (the caller
 * sets it). */
static int ratings_alloc(int64_t n, bool with_ts, mfr_ratings **out, mfr_error *err)
{
    if (!out) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_ratings_alloc: out is NULL");
    *out = NULL;
    if (n < 0)
        return mfr_seterr(err, MFR_ERR_INVALID, "rating count must be >= 0, got %" PRId64,
                          n);
    /* Allocate at least one entry so that every array pointer is non-NULL. */
    uint64_t cnt = n == 0 ? 1 : (uint64_t)n;
    size_t b4, b8;
    if (cnt > SIZE_MAX || !mfr_mul_size((size_t)cnt, sizeof(int32_t), &b4) ||
        !mfr_mul_size((size_t)cnt, sizeof(int64_t), &b8))
        return mfr_seterr(err, MFR_ERR_TOO_LARGE,
                          "%" PRId64 " ratings do not fit in the address space", n);

    mfr_ratings *r = mfr_calloc(1, sizeof *r);
    if (!r) goto fail;
    r->n = n;
    r->user = mfr_malloc(b4);
    r->item = mfr_malloc(b4);
    r->rating = mfr_malloc(b4); /* sizeof(float) == sizeof(int32_t), checked below */
    r->ts = with_ts ? mfr_malloc(b8) : NULL;
    if (!r->user || !r->item || !r->rating || (with_ts && !r->ts)) goto fail;
    *out = r;
    return MFR_OK;

fail:
    mfr_ratings_destroy(r);
    return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory allocating %" PRId64 " ratings",
                      n);
}

int mfr_ratings_alloc(int64_t n, mfr_ratings **out, mfr_error *err) { return ratings_alloc(n, true, out, err); }

_Static_assert(sizeof(float) == sizeof(int32_t), "float must be 32 bits");

int64_t mfr_ratings_count(const mfr_ratings *r) { return r ? r->n : -1; }

uint64_t mfr_ratings_new_view_id(void)
{
    static _Atomic uint64_t next = 1;
    return atomic_fetch_add(&next, 1);
}

/* The last row found on this thread, of which view: a caller reading a
 * view rating after rating (mfr_ratings_get in a loop) takes the next row
 * from there instead of scanning from its block's start, which cost up to
 * MFR_VIEW_BLOCK marks a rating (10M ratings read in order took 10 minutes
 * instead of a fraction of a second). */
static _Thread_local struct {
    uint64_t view_id;
    int64_t idx, row;
} g_row_cursor;

int64_t mfr_ratings_row(const mfr_ratings *r, int64_t idx)
{
    if (!r->skip) return idx;
    int64_t f;
    if (g_row_cursor.view_id == r->view_id && g_row_cursor.idx == idx - 1 && idx % MFR_VIEW_BLOCK != 0) {
        for (f = g_row_cursor.row + 1; r->skip[f]; f++) {}
    } else {
        f = r->block_base[idx / MFR_VIEW_BLOCK];
        for (int64_t left = idx % MFR_VIEW_BLOCK;; f++)
            if (!r->skip[f] && left-- == 0) break;
    }
    g_row_cursor.view_id = r->view_id;
    g_row_cursor.idx = idx;
    g_row_cursor.row = f;
    return f;
}

int64_t mfr_ratings_gather(const mfr_ratings *r, int64_t lo, int64_t hi, int32_t *user, int32_t *item,
                           float *rating)
{
    if (lo >= hi) return mfr_ratings_row(r, lo < r->n ? lo : r->n - 1);
    if (!r->skip) {
        memcpy(user, r->user + lo, sizeof *user * (size_t)(hi - lo));
        memcpy(item, r->item + lo, sizeof *item * (size_t)(hi - lo));
        memcpy(rating, r->rating + lo, sizeof *rating * (size_t)(hi - lo));
        return hi;
    }
    return mfr_ratings_gather_rows(r, mfr_ratings_row(r, lo), hi - lo, user, item, rating);
}

int64_t mfr_ratings_gather_rows(const mfr_ratings *r, int64_t f, int64_t cnt, int32_t *user, int32_t *item,
                                float *rating)
{
    for (int64_t x = 0; x < cnt; f++) { /* no branch on the marks: a skipped row is overwritten */
        user[x] = r->user[f];
        item[x] = r->item[f];
        rating[x] = r->rating[f];
        x += !r->skip[f];
    }
    return f;
}

/* The bytes of r's arrays: their share of the mapping, which the release
 * and populate helpers weigh. */
static size_t mapped_bytes(const mfr_ratings *r)
{
    return (size_t)mfr_ratings_rows(r) * (12 + (r->ts ? 8 : 0));
}

void mfr_ratings_release_rows(const mfr_ratings *r, int64_t lo, int64_t hi)
{
    if (!r->mapped || hi <= lo) return;
    const size_t n = (size_t)(hi - lo), whole = mapped_bytes(r);
    mfr_release_mapped(r->user + lo, n * sizeof *r->user, whole);
    mfr_release_mapped(r->item + lo, n * sizeof *r->item, whole);
    mfr_release_mapped(r->rating + lo, n * sizeof *r->rating, whole);
    if (r->ts) mfr_release_mapped(r->ts + lo, n * sizeof *r->ts, whole);
}

void mfr_ratings_populate_rows(const mfr_ratings *r, int64_t lo, int64_t hi, unsigned arrays)
{
    if (!r->mapped || hi <= lo) return;
    const size_t n = (size_t)(hi - lo), whole = mapped_bytes(r);
    if (arrays & MFR_ROWS_USER) mfr_populate_mapped(r->user + lo, n * sizeof *r->user, whole);
    if (arrays & MFR_ROWS_ITEM) mfr_populate_mapped(r->item + lo, n * sizeof *r->item, whole);
    if (arrays & MFR_ROWS_RATING) mfr_populate_mapped(r->rating + lo, n * sizeof *r->rating, whole);
    if ((arrays & MFR_ROWS_TS) && r->ts) mfr_populate_mapped(r->ts + lo, n * sizeof *r->ts, whole);
}

int mfr_ratings_get(const mfr_ratings *r, int64_t idx, int32_t *user, int32_t *item,
                    float *rating, int64_t *timestamp, mfr_error *err)
{
    if (!r) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_ratings_get: ratings is NULL");
    if (idx < 0 || idx >= r->n)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "mfr_ratings_get: index %" PRId64 " is outside 0..%" PRId64, idx,
                          r->n - 1);
    idx = mfr_ratings_row(r, idx);
    if (user) *user = r->user[idx];
    if (item) *item = r->item[idx];
    if (rating) *rating = r->rating[idx];
    if (timestamp) *timestamp = r->ts ? r->ts[idx] : 0;
    return MFR_OK;
}

/* An unlinked, read-write file in dir, or -1: O_TMPFILE where the file
 * system has it, else a named temporary file removed at once. */
static int unlinked_file(const char *dir)
{
#ifdef O_TMPFILE
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) return fd;
#endif
    char *path = mfr_path_join(dir, ".mfrec-spill-XXXXXX");
    int tmp = path ? mkostemp(path, O_CLOEXEC) : -1;
    if (tmp >= 0) unlink(path);
    free(path);
    return tmp;
}

/* Whether a file on fd's file system may hold the spilled timestamps: a
 * local disk file system whose fallocate reserves the blocks, so that a
 * page written later cannot fail (ext2/3/4, XFS). Not tmpfs or ramfs (the
 * file would be memory, and no less of it), not copy-on-write file systems
 * (btrfs, ZFS: fallocate promises no space for rewrites), not network file
 * systems (NFS keeps an unlinked open file as a visible .nfs file). */
static bool spill_fs(int fd)
{
    struct statfs st;
    if (fstatfs(fd, &st) != 0) return false;
    const unsigned long type = (unsigned long)st.f_type;
    return type == 0xEF53ul /* ext2/3/4 */ || type == 0x58465342ul /* XFS */;
}

int mfr_ratings_alloc_spilled(int64_t n, const char *dir, mfr_ratings **out, mfr_error *err)
{
    *out = NULL;
    size_t len;
    if (n <= 0 || !mfr_mul_size((size_t)n, sizeof(int64_t), &len)) return MFR_ERR_UNSUPPORTED;
    int fd = unlinked_file(dir);
    if (fd < 0) return MFR_ERR_UNSUPPORTED;
    void *p = MAP_FAILED;
    if (spill_fs(fd) && fallocate(fd, 0, 0, (off_t)len) == 0)
        p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd); /* the mapping keeps the file */
    if (p == MAP_FAILED) return MFR_ERR_UNSUPPORTED;
    int rc = ratings_alloc(n, false, out, err);
    if (rc != MFR_OK) {
        munmap(p, len);
        return rc;
    }
    (*out)->ts = p;
    (*out)->ts_spill_len = len;
    return MFR_OK;
}

void mfr_ratings_release_ts(const mfr_ratings *r, int64_t lo, int64_t hi)
{
    if (r->ts_spill_len && hi > lo)
        mfr_release_mapped(r->ts + lo, (size_t)(hi - lo) * sizeof *r->ts, SIZE_MAX);
}

void mfr_ratings_destroy(mfr_ratings *r)
{
    if (!r) return;
    if (!r->borrowed) {
        free(r->user);
        free(r->item);
        free(r->rating);
        if (r->ts_spill_len)
            munmap(r->ts, r->ts_spill_len);
        else
            free(r->ts);
    }
    free((void *)(uintptr_t)r->skip);
    free(r->block_base);
    free(r);
}

/* ------------------------------------------------------------------ */
/* Locale-independent number formatting                                 */
/* ------------------------------------------------------------------ */

/* Writes v in decimal into out (at least 21 bytes); returns the length. */
static size_t format_i64(char *out, int64_t v)
{
    char tmp[24];
    size_t n = 0;
    /* Work on the magnitude as unsigned so INT64_MIN does not overflow. */
    uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + m % 10);
        m /= 10;
    } while (m);
    size_t len = 0;
    if (v < 0) out[len++] = '-';
    while (n) out[len++] = tmp[--n];
    return len;
}

/*
 * Writes the shortest decimal text that reads back as exactly r (finite)
 * into out (at least 48 bytes); returns the length. Integral values below
 * 1e15 print as integers ("3", "-0"), others in plain notation ("3.5",
 * "0.001") or, for very large or small magnitudes, as "1.5e20".
 *
 * The shortest digit string is found by asking "%.*e" for 1, 2, ... 9
 * significant digits (9 always round-trips a float) and reading each
 * candidate back with strtof from an integer-mantissa form such as "35e-1",
 * which has no radix character and so parses the same in every locale.
 */
static size_t format_rating(char *out, float r)
{
    if (r == 0.0f) {
        size_t n = 0;
        if (signbit(r)) out[n++] = '-';
        out[n++] = '0';
        return n;
    }
    if (fabsf(r) < 1e15f && r == truncf(r)) return format_i64(out, (int64_t)r);

    /* Fast path for short decimals such as 3.5 or 0.25: the smallest p with
     * m / 10^p == r (both exact floats, one correctly rounded division,
     * which is also how such text is read back) gives the shortest text. */
    static const float pow10f[] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f};
    for (int p = 1; p <= 4; p++) {
        double scaled = nearbyint((double)r * pow10f[p]); /* r * 10^p is exact */
        if (fabs(scaled) >= 16777216.0) break;
        float m = (float)scaled;
        if (m / pow10f[p] != r) continue;
        int64_t im = (int64_t)fabs(scaled), ip = (int64_t)pow10f[p];
        size_t n = 0;
        if (r < 0) out[n++] = '-';
        n += format_i64(out + n, im / ip);
        out[n++] = '.';
        char frac[8];
        size_t fl = format_i64(frac, im % ip + ip); /* "1" then p digits */
        memcpy(out + n, frac + 1, fl - 1);
        return n + fl - 1; /* no trailing zero: p is minimal */
    }

    char digits[16];
    int nd = 0, e10 = 0;
    for (int prec = 1; prec <= 9; prec++) {
        char tmp[64];
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, (double)r);
        /* "-d.ddde-05": collect the digits before 'e', then the exponent. */
        const char *q = tmp;
        nd = 0;
        while (*q && *q != 'e') {
            if (*q >= '0' && *q <= '9' && nd < (int)sizeof digits) digits[nd++] = *q;
            q++;
        }
        MFR_ASSERT(*q == 'e' && nd == prec);
        q++;
        bool eneg = *q == '-';
        if (*q == '-' || *q == '+') q++;
        e10 = 0;
        while (*q >= '0' && *q <= '9') e10 = e10 * 10 + (*q++ - '0');
        if (eneg) e10 = -e10;

        char probe[48];
        snprintf(probe, sizeof probe, "%s%.*se%d", r < 0 ? "-" : "", nd, digits,
                 e10 - (nd - 1));
        if (strtof(probe, NULL) == r) break;
    }
    while (nd > 1 && digits[nd - 1] == '0') nd--;

    /* Lay out d0.d1d2... x 10^e10. */
    size_t n = 0;
    if (r < 0) out[n++] = '-';
    if (e10 >= 0 && e10 < 15) {
        for (int k = 0; k <= e10; k++) out[n++] = k < nd ? digits[k] : '0';
        if (nd > e10 + 1) {
            out[n++] = '.';
            for (int k = e10 + 1; k < nd; k++) out[n++] = digits[k];
        }
    } else if (e10 < 0 && e10 >= -6) {
        out[n++] = '0';
        out[n++] = '.';
        for (int k = 0; k < -e10 - 1; k++) out[n++] = '0';
        for (int k = 0; k < nd; k++) out[n++] = digits[k];
    } else {
        out[n++] = digits[0];
        if (nd > 1) {
            out[n++] = '.';
            for (int k = 1; k < nd; k++) out[n++] = digits[k];
        }
        out[n++] = 'e';
        n += format_i64(out + n, e10);
    }
    return n;
}

/* ------------------------------------------------------------------ */
/* Writing                                                              */
/* ------------------------------------------------------------------ */

struct write_ctx {
    const mfr_ratings *r;
    const mfr_dataset *ds;
    const char *path;
};

/* mfr_write_fn: one "user\titem\trating\tts\n" line per rating, buffered. */
static int write_lines(FILE *f, void *arg, mfr_error *err)
{
    const struct write_ctx *c = arg;
    const mfr_ratings *r = c->r;
    const mfr_dataset *ds = c->ds;
    char buf[1 << 16];
    size_t used = 0;
    for (int64_t k = 0; k < r->n; k++) {
        int32_t u = r->user[k], i = r->item[k];
        float v = r->rating[k];
        if (u < 0 || u >= ds->n_users || i < 0 || i >= ds->n_items)
            return mfr_seterr(err, MFR_ERR_MISMATCH,
                              "cannot write %s: rating %" PRId64 " has user %" PRId32
                              " / item %" PRId32 ", the dataset has %" PRId32
                              " users and %" PRId32 " items",
                              c->path, k, u, i, ds->n_users, ds->n_items);
        if (!isfinite(v))
            return mfr_seterr(err, MFR_ERR_INVALID,
                              "cannot write %s: rating %" PRId64 " is not finite", c->path,
                              k);
        if (sizeof buf - used < 160) {
            if (fwrite(buf, 1, used, f) != used) goto io_fail;
            used = 0;
        }
        char *p = buf + used;
        p += format_i64(p, ds->user_ids[u]);
        *p++ = '\t';
        p += format_i64(p, ds->item_ids[i]);
        *p++ = '\t';
        p += format_rating(p, v);
        *p++ = '\t';
        p += format_i64(p, r->ts ? r->ts[k] : 0);
        *p++ = '\n';
        used = (size_t)(p - buf);
    }
    if (used && fwrite(buf, 1, used, f) != used) goto io_fail;
    return MFR_OK;

io_fail:
    return mfr_seterr(err, MFR_ERR_IO, "cannot write %s: %s", c->path, strerror(errno));
}

int mfr_ratings_refuse_view(const mfr_ratings *r, const char *fn, mfr_error *err)
{
    if (r && r->skip)
        return mfr_seterr(err, MFR_ERR_UNSUPPORTED,
                          "%s: a lean split's training part is a view (mfr_split_create copies it)", fn);
    return MFR_OK;
}

int mfr_ratings_write(const mfr_ratings *r, const mfr_dataset *ds, const char *path,
                      mfr_error *err)
{
    if (!r || !ds || !path)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "mfr_ratings_write: ratings, dataset and path must not be NULL");
    if (r->skip)
        return mfr_seterr(err, MFR_ERR_UNSUPPORTED,
                          "mfr_ratings_write: a lean split's training part is a view (mfr_split_create copies it)");
    if (mfr_dataset_reads_file(ds, path))
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "mfr_ratings_write: %s is one of the files the dataset was read from; "
                          "not replacing it",
                          path);
    struct write_ctx c = {.r = r, .ds = ds, .path = path};
    return mfr_write_atomic(path, write_lines, &c, err);
}

/* (user, item) as one sortable key. */
static uint64_t pair_key(int32_t u, int32_t i) { return (uint64_t)(uint32_t)u << 32 | (uint32_t)i; }

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

int mfr_ratings_overlap(const mfr_ratings *a, const mfr_ratings *b, int64_t *n_common,
                        int64_t *first_a, mfr_error *err)
{
    if (!a || !b || !n_common || !first_a)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_ratings_overlap: %s is NULL",
                          !a ? "a" : !b ? "b" : !n_common ? "n_common" : "first_a");
    if (a->skip || b->skip)
        return mfr_seterr(err, MFR_ERR_UNSUPPORTED,
                          "mfr_ratings_overlap: a lean split's training part is a view (mfr_split_create copies it)");
    *n_common = 0;
    *first_a = -1;
    /* b's pairs sorted, then one binary search per rating of a */
    uint64_t *keys = mfr_malloc(sizeof *keys * (size_t)(b->n ? b->n : 1));
    if (!keys) return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory comparing two rating sets");
    for (int64_t x = 0; x < b->n; x++) keys[x] = pair_key(b->user[x], b->item[x]);
    qsort(keys, (size_t)b->n, sizeof *keys, cmp_u64);
    for (int64_t x = 0; x < a->n; x++) {
        uint64_t k = pair_key(a->user[x], a->item[x]);
        if (b->n && bsearch(&k, keys, (size_t)b->n, sizeof *keys, cmp_u64)) {
            if (*first_a < 0) *first_a = x;
            ++*n_common;
        }
    }
    free(keys);
    return MFR_OK;
}
