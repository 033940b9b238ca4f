/*
 * dataset_cache.c — a binary copy of a parsed dataset, so that a large
 * text dataset (tens of millions of ratings) loads in about the time it
 * takes to read its arrays, instead of being parsed again.
 *
 * DESIGN
 *
 * File layout (native byte order; a marker rejects a foreign one):
 *
 *   header   64 bytes: magic "MFRCACHE", version, byte-order marker, key
 *            length, payload length, payload checksum, dataset fingerprint
 *   key      the cache key (loader_priv.h): the dataset directory, the
 *            resolved load options and the name, size and modification
 *            time of every source file; zero bytes up to a multiple of 64
 *   payload  counts and options; user ids, item ids (int64); the ratings'
 *            user, item (int32), rating (float) and timestamp (int64)
 *            arrays; a metadata blob (items, users, genre and occupation
 *            names). The counts and every array start at a multiple of 64
 *            bytes from the start of the file (zero padding), so that the
 *            arrays can be used where they are mapped.
 *
 * The checksum hashes the header's dataset fingerprint (version 5 on),
 * the counts, then each array in blocks of 1 MiB (each
 * block hashed on its own, in parallel, the block hashes then hashed in
 * order), then the blob: the same value for any thread count. Version 1
 * (one sequential hash, unaligned arrays) is not read: such a cache counts
 * as absent, and the next load parses the text and writes version 2.
 *
 * Validity. A cache is used only when its key equals, byte for byte, the
 * key of the current load, its size matches the header, the checksum of
 * the payload matches, and every index, id and string in it is in range
 * (so that a damaged or hand-made file can never produce an out-of-range
 * index later). Anything else means "no cache": the caller parses the text
 * and writes a fresh cache.
 *
 * Racy sources. File times have a granularity (the kernel's clock tick),
 * so a source file rewritten with the same size within the tick in which
 * the cache was written would look unchanged. As git does for its index,
 * a cache is not trusted when a source file's modification time and its
 * change time (st_ctim, which every write, rename or touch sets to the
 * kernel's now) are both no older than the cache file's modification time;
 * the next load re-parses and rewrites it, and from then on the cache is
 * trusted. (An ordinary same-tick rewrite of a source whose recorded
 * modification time was another moves that time, so the key no longer
 * matches; a writer that restores the old time within the same tick, such
 * as cp -p, is not caught, by this rule or the one before.) The earlier of
 * the two, not the modification time alone: touch -d can put that in the
 * future, and the cache was then never trusted, every run parsing the
 * text again.
 *
 * Reading maps the file (mmap, read-only, private) instead of reading and
 * copying it: the dataset's rating arrays are the mapped pages themselves
 * (struct mfr_ratings.borrowed), nothing is copied or zeroed, and the
 * checksum and the range checks run in parallel over the mapping. The
 * dataset keeps the mapping until mfr_dataset_destroy. mfrec replaces a
 * cache only by renaming a new file over it, which leaves a mapped old one
 * intact; truncating a cache file in place while a process uses it is not
 * supported (the process would fault). A load that parses and writes the
 * cache then reads its ratings from the new file's mapping too (adopt_cache
 * in dataset.c), so that a first run holds them no more than a later one.
 * While that parse runs, its timestamps (8 of its 20 bytes a rating) are
 * already on disk: in an unlinked file of the cache's directory
 * (mfr_ratings_alloc_spilled), whose pages the parse, the checksum and the
 * writer release behind them. At 100M ratings this took the first run's
 * peak from 1.61x to 1.33x the training buffers (docs/PERFORMANCE.md).
 *
 * Writing goes through mfr_write_atomic (temporary file, fsync, rename), so
 * a reader sees either the old cache, the new one, or none.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csort_priv.h"
#include "users_cache_priv.h"

#define CACHE_MAGIC "MFRCACHE"
/* 3: genre names differing only in case are refused by the parsers, and a
 * cache of version 2 may hold such names; it is parsed again instead.
 * 4: the same for a genre one edit from a MovieLens genre ("Comdy") and
 * for a u.item release date that is not a date.
 * 5: the checksum covers the header's dataset fingerprint too; before, a
 * damaged fingerprint was trusted, and models trained from the cache
 * recorded it (and were then refused as trained on other data).
 * 6: ML-100K's text files are read as UTF-8 when the whole file is valid
 * UTF-8 (latin-1 before): a cache of version 5 may hold a UTF-8 u.item's
 * titles decoded as latin-1, or a file mixing both that is now refused.
 * 7: a rating line with 3 fields in a file whose first rating line has 4
 * (a timestamp), or the reverse, is refused; a cache of version 6 may hold
 * such a file's ratings.
 * 8: a header of column names with fewer fields than the rating lines
 * ("userId,movieId,rating" over lines with a timestamp) is refused; a cache
 * of version 7 may hold such a file's ratings. */
#define CACHE_VERSION 8u
#define CACHE_ORDER 0x01020304u
#define HEADER_BYTES 64
#define NO_STRING UINT32_MAX /* a NULL title or date, as opposed to "" */
#define ALIGN 64
#define HASH_BLOCK ((size_t)1 << 20)
_Static_assert(MFR_USERS_HASH_BLOCK == (int64_t)HASH_BLOCK, "one block size");

static uint64_t pad_to(uint64_t n) { return (ALIGN - n % ALIGN) % ALIGN; }

/* ------------------------------------------------------------------ */
/* Growable byte buffer                                                 */
/* ------------------------------------------------------------------ */

struct buf {
    unsigned char *p;
    size_t len, cap;
    bool failed;
};

static void buf_put(struct buf *b, const void *data, size_t n)
{
    if (b->failed) return;
    if (b->cap - b->len < n) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap - b->len < n) {
            if (ncap > SIZE_MAX / 2) {
                b->failed = true;
                return;
            }
            ncap *= 2;
        }
        unsigned char *np = mfr_realloc(b->p, ncap);
        if (!np) {
            b->failed = true;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void buf_u32(struct buf *b, uint32_t v) { buf_put(b, &v, 4); }
static void buf_i64(struct buf *b, int64_t v) { buf_put(b, &v, 8); }

static void buf_str(struct buf *b, const char *s)
{
    if (!s) {
        buf_u32(b, NO_STRING);
        return;
    }
    size_t n = strlen(s);
    if (n >= NO_STRING) {
        b->failed = true;
        return;
    }
    buf_u32(b, (uint32_t)n);
    buf_put(b, s, n);
}

/* ------------------------------------------------------------------ */
/* Checksum                                                             */
/* ------------------------------------------------------------------ */

/* mfr_hash64 (src/core/common.c): the cache's sums were written with it
 * before it moved there, so old caches keep their sums. */
static uint64_t hash_bytes(uint64_t seed, const void *data, size_t n) { return mfr_hash64(seed, data, n); }

/* What every element of a rating section must be, checked on each block
 * right after it is hashed so that a load reads the mapping once (the
 * checks of arrays_valid, fused): int32 values below `below`, or floats in
 * lo..hi. */
enum sec_check_kind { CHECK_NONE, CHECK_INDEX, CHECK_RATING };
struct sec_check {
    enum sec_check_kind kind;
    uint32_t below;
    float lo, hi;
};

/* Whether the len bytes at p (whole 4-byte elements) pass c; no branch in
 * the loops. */
static bool block_passes(const struct sec_check *c, const unsigned char *p, size_t len)
{
    const size_t n = len / 4;
    unsigned bad = 0;
    if (c->kind == CHECK_INDEX) {
        const uint32_t *v = (const uint32_t *)(const void *)p, below = c->below;
        for (size_t i = 0; i < n; i++) bad |= v[i] >= below;
    } else if (c->kind == CHECK_RATING) {
        const float *v = (const float *)(const void *)p, lo = c->lo, hi = c->hi;
        for (size_t i = 0; i < n; i++) bad |= !((v[i] >= lo) & (v[i] <= hi));
    }
    return !bad;
}

/* Maps a block of the cache's file pages in one call rather than a fault
 * per 64 KiB (the kernel's fault-around): a 10M load took ~3,200 faults
 * in this pass, ML-100K's ~30. Every block, whatever the mapping's size
 * (mfr_populate_mapped). */
static void populate_read(const void *p, size_t n) { mfr_populate_mapped(p, n, SIZE_MAX); }

/* hash_bytes of each HASH_BLOCK-byte block of data (seeded with its
 * index), in parallel, then of the block hashes in order, 256 at a time.
 * `mapping`: the length of the read-only file mapping data lies in (0:
 * not mapped); its pages are released after each group (mfr_release_mapped
 * weighs the whole mapping, not the section), so that a cache never
 * becomes resident whole. `check` (NULL: none) is run on every block while
 * it is in the cache; a failure sets *bad. */
static uint64_t hash_blocks_mapped(uint64_t seed, const void *data, size_t n, size_t mapping,
                                   const struct sec_check *check, bool *bad)
{
    const bool mapped = mapping > 0;
    const size_t nb = (n + HASH_BLOCK - 1) / HASH_BLOCK;
    const unsigned char *p = data;
    if (nb <= 1) {
        if (mapped) populate_read(p, n);
        if (check && check->kind != CHECK_NONE && !block_passes(check, p, n)) *bad = true;
        return hash_bytes(seed, data, n);
    }
    for (size_t g = 0; g < nb; g += 256) {
        uint64_t h[256] = {0}; /* (every entry is written below) */
        const size_t cnt = nb - g < 256 ? nb - g : 256;
        /* a mapping's group in batches of 32 blocks, each released once
         * hashed: at most 32 MiB of it resident (the sums are the same) */
        const size_t batch = mapped ? 32 : 256;
        for (size_t b0 = g; b0 < g + cnt; b0 += batch) {
            const size_t b1 = b0 + batch < g + cnt ? b0 + batch : g + cnt;
            int failed = 0;
#pragma omp parallel for schedule(static) num_threads(mfr_setup_threads()) reduction(| : failed)
            for (size_t b = b0; b < b1; b++) {
                size_t len = b + 1 < nb ? HASH_BLOCK : n - b * HASH_BLOCK;
                if (mapped) populate_read(p + b * HASH_BLOCK, len);
                h[b - g] = hash_bytes(b + 1, p + b * HASH_BLOCK, len);
                if (check && check->kind != CHECK_NONE) failed |= !block_passes(check, p + b * HASH_BLOCK, len);
            }
            if (failed) *bad = true;
            if (mapped)
                mfr_release_mapped(p + b0 * HASH_BLOCK, b1 < nb ? (b1 - b0) * HASH_BLOCK : n - b0 * HASH_BLOCK, mapping);
        }
        seed = hash_bytes(seed, h, cnt * sizeof *h);
    }
    return seed;
}

static uint64_t hash_blocks(uint64_t seed, const void *data, size_t n)
{
    return hash_blocks_mapped(seed, data, n, 0, NULL, NULL);
}

/* The payload checksum: the header's dataset fingerprint (which the
 * dataset takes as its own), the counts, the arrays, the metadata blob
 * (mapping[k]: the length of the mapping array k lies in, 0 if none;
 * hash_blocks_mapped). `check` (NULL: none): each array's check, whose
 * failure sets *bad. */
static uint64_t payload_sum(uint64_t fingerprint, const void *counts, size_t counts_len, void *const *sec,
                            const size_t *sec_len, const void *meta, size_t meta_len, const size_t *mapping,
                            const struct sec_check *check, bool *bad)
{
    uint64_t sum = hash_bytes(hash_bytes(0, &fingerprint, sizeof fingerprint), counts, counts_len);
    for (int k = 0; k < 6; k++)
        sum = hash_blocks_mapped(sum, sec[k], sec_len[k], mapping[k], check ? &check[k] : NULL, bad);
    return hash_bytes(sum, meta, meta_len);
}

/* ------------------------------------------------------------------ */
/* Key                                                                  */
/* ------------------------------------------------------------------ */

void mfr_cache_key_free(struct mfr_cache_key *key)
{
    free(key->bytes);
    memset(key, 0, sizeof *key);
}

/* Appends one file's name, presence, size and time. `required`: a stat
 * failure is an error; otherwise only ENOENT is tolerated (absent), and
 * not for a symbolic link to a missing file, which the parser refuses:
 * keyed as absent, a cache written without the file was served after a
 * dangling link took its place. */
static int key_file(struct buf *b, struct mfr_cache_key *key, const char *dir,
                    const char *name, bool required, mfr_error *err)
{
    char *path = mfr_path_join(dir, name);
    if (!path) return mfr_nomem(err, "building the cache key");
    struct stat st;
    int rc = MFR_OK;
    buf_str(b, name);
    if (stat(path, &st) != 0) {
        const int e = errno;
        struct stat lst;
        if (required || e != ENOENT)
            rc = mfr_seterr(err, MFR_ERR_IO, "cannot stat %s: %s", path, strerror(e));
        else if (lstat(path, &lst) == 0) /* a link to nothing: the parser refuses it, so no cache */
            rc = mfr_seterr(err, MFR_ERR_IO, "%s is a symbolic link to a missing file", path);
        buf_u32(b, 0);
    } else if (!S_ISREG(st.st_mode)) {
        rc = mfr_seterr(err, MFR_ERR_IO, "%s is not a regular file", path);
    } else {
        int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        buf_u32(b, 1);
        buf_i64(b, (int64_t)st.st_size);
        buf_i64(b, mt);
        /* size and mtime alone trust a file rewritten at the same size with
         * its mtime set back (touch -d, rsync -t); the change time cannot be
         * set, and every write or rename moves it (and the inode) */
        buf_i64(b, (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec);
        buf_i64(b, (int64_t)st.st_ino);
        const int64_t ct = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
        const int64_t changed = mt < ct ? mt : ct; /* see "Racy sources" */
        if (changed > key->newest_change_ns) key->newest_change_ns = changed;
        if (required) key->ratings_bytes = (int64_t)st.st_size, key->ratings_read = st.st_mode & 0666;
    }
    free(path);
    return rc;
}

int mfr_cache_key_build(const char *dir, const char *ratings_name,
                        const char *const *files, const mfr_load_options *opt,
                        struct mfr_cache_key *key, mfr_error *err)
{
    memset(key, 0, sizeof *key);
    key->newest_change_ns = INT64_MIN;
    struct buf b = {0};
    /* The directory, so that a cache path shared by two copies of a
     * dataset (same names, sizes and times) never serves the wrong one. */
    char *real = realpath(dir, NULL);
    buf_str(&b, real ? real : dir);
    free(real);
    buf_u32(&b, (uint32_t)opt->format);
    buf_put(&b, &opt->min_rating, 4);
    buf_put(&b, &opt->max_rating, 4);
    buf_u32(&b, (uint32_t)(unsigned char)opt->sep);
    buf_u32(&b, (uint32_t)opt->header);
    int rc = key_file(&b, key, dir, ratings_name, true, err);
    for (size_t k = 0; rc == MFR_OK && files[k]; k++)
        rc = key_file(&b, key, dir, files[k], false, err);
    if (rc == MFR_OK && b.failed) rc = mfr_nomem(err, "building the cache key");
    if (rc != MFR_OK) {
        free(b.p);
        return rc;
    }
    key->bytes = b.p;
    key->len = b.len;
    return MFR_OK;
}

/* ------------------------------------------------------------------ */
/* Layout                                                               */
/* ------------------------------------------------------------------ */

/* The fixed part of the payload. */
struct counts {
    int32_t n_users, n_items;
    int64_t nnz;
    int32_t n_genres, n_occs;
    int32_t format, header;
    float min_rating, max_rating, scale_min, scale_max;
    int32_t sep;
    int32_t pad;
};

struct header {
    char magic[8];
    uint32_t version, order;
    uint64_t key_len, payload_len, checksum, fingerprint;
    unsigned char reserved[HEADER_BYTES - 48];
};
_Static_assert(sizeof(struct header) == HEADER_BYTES, "cache header is 64 bytes");

/* The big sections, in file order, with their sizes in bytes, and the
 * length of the file mapping each lies in (a parse's spilled timestamps,
 * whose pages are released once read), 0 for memory. */
struct sections {
    void *p[6];
    size_t n[6];
    size_t mapping[6];
};

static void sections_of(const mfr_dataset *ds, struct sections *s)
{
    const mfr_ratings *r = ds->ratings;
    size_t nnz = (size_t)r->n;
    *s = (struct sections){
        {ds->user_ids, ds->item_ids, r->user, r->item, r->rating, r->ts},
        {(size_t)ds->n_users * 8, (size_t)ds->n_items * 8, nnz * 4, nnz * 4, nnz * 4, nnz * 8},
        {0, 0, 0, 0, 0, r->ts_spill_len ? SIZE_MAX : 0},
    };
}

/* ------------------------------------------------------------------ */
/* Writing                                                              */
/* ------------------------------------------------------------------ */

struct write_ctx {
    const struct header *h;
    const struct mfr_cache_key *key;
    const struct counts *c;
    const struct sections *s;
    const struct buf *meta;
    const char *path;
};

/* Zero bytes up to the next multiple of ALIGN from the file's start. */
static bool write_pad(FILE *f, uint64_t *at)
{
    static const unsigned char zero[ALIGN];
    size_t n = (size_t)pad_to(*at);
    *at += n;
    return fwrite(zero, 1, n, f) == n;
}

static bool write_at(FILE *f, const void *p, size_t n, uint64_t *at)
{
    *at += n;
    return fwrite(p, 1, n, f) == n;
}

/* write_at of a section; one in a file mapping (`mapping` > 0) goes in
 * pieces, each released once written, so that it never becomes resident
 * whole. */
#define WRITE_PIECE HASH_BLOCK

static bool write_section(FILE *f, const void *p, size_t n, size_t mapping, uint64_t *at)
{
    if (!mapping) return write_at(f, p, n, at);
    for (size_t o = 0; o < n; o += WRITE_PIECE) {
        const size_t len = n - o < WRITE_PIECE ? n - o : WRITE_PIECE;
        if (!write_at(f, (const char *)p + o, len, at)) return false;
        mfr_release_mapped((const char *)p + o, len, mapping);
    }
    return true;
}

static int write_all(FILE *f, void *arg, mfr_error *err)
{
    const struct write_ctx *w = arg;
    uint64_t meta_len = w->meta->len, at = 0;
    bool ok = write_at(f, w->h, sizeof *w->h, &at) && write_at(f, w->key->bytes, w->key->len, &at) &&
              write_pad(f, &at) && write_at(f, w->c, sizeof *w->c, &at);
    for (int k = 0; ok && k < 6; k++)
        ok = write_pad(f, &at) && write_section(f, w->s->p[k], w->s->n[k], w->s->mapping[k], &at);
    ok = ok && write_at(f, &meta_len, 8, &at) && write_at(f, w->meta->p, w->meta->len, &at);
    return ok ? MFR_OK : mfr_seterr(err, MFR_ERR_IO, "cannot write %s: %s", w->path, strerror(errno));
}

/* The file offsets of the counts, the six arrays and the blob length, for
 * a key of key_len bytes and arrays of the sizes in s->n; returns the file
 * size (overflow-free: every size is below 2^62). */
static uint64_t layout(uint64_t key_len, const struct sections *s, uint64_t *counts_at,
                       uint64_t sec_at[6], uint64_t *meta_len_at)
{
    uint64_t at = HEADER_BYTES + key_len;
    at += pad_to(at);
    *counts_at = at;
    at += sizeof(struct counts);
    for (int k = 0; k < 6; k++) {
        at += pad_to(at);
        sec_at[k] = at;
        at += s->n[k];
    }
    *meta_len_at = at;
    return at + 8;
}

/* MFR_OK when path may be replaced by a cache: nothing is there, or a
 * regular file that starts as a cache does, with `magic` (a stale or
 * damaged one). Any other file there (a rating file named like the cache,
 * a model or list a user saved there) is never overwritten. */
static int may_replace(const char *path, const char *magic, mfr_error *err)
{
    struct stat st;
    if (lstat(path, &st) != 0) return MFR_OK;
    if (!S_ISREG(st.st_mode))
        return mfr_seterr(err, MFR_ERR_IO, "%s is not a regular file; it is left as it is", path);
    char head[8] = {0};
    FILE *f = fopen(path, "rb");
    if (!f && errno == EACCES) /* another user's, not to be replaced either */
        return mfr_seterr(err, MFR_ERR_IO, "%s cannot be read (%s); it is left as it is", path, strerror(errno));
    size_t got = f ? fread(head, 1, sizeof head, f) : 0;
    if (f) fclose(f);
    if (st.st_size == 0 || (got == sizeof head && !memcmp(head, magic, 8))) return MFR_OK;
    return mfr_seterr(err, MFR_ERR_IO, "%s exists and is not a dataset cache; it is left as it is", path);
}

/* A cache is readable by whoever can read its rating file, whatever the
 * umask of the user who happened to write it (under umask 077 the other
 * users of a shared data directory were told that the cache "is not a
 * dataset cache" at every load), and by no one else (it holds the same
 * ratings), from its temporary file's creation on: chmod'ed after the
 * rename, the cache of a private (0600) rating file was readable by
 * everyone while it was written. Without the bits (a rating file of mode
 * 000), the umask's. */
static int write_cache_file(const char *path, const struct mfr_cache_key *key, mfr_write_fn fn, void *ctx,
                            mfr_error *err)
{
    if (!key->ratings_read) return mfr_write_atomic(path, fn, ctx, err);
    return mfr_write_atomic_mode(path, (mode_t)key->ratings_read, fn, ctx, err);
}

int mfr_cache_write(const char *path, const struct mfr_cache_key *key, const mfr_dataset *ds,
                    mfr_error *err)
{
    int st = may_replace(path, CACHE_MAGIC, err);
    if (st != MFR_OK) return st;
    struct counts c = {
        .n_users = ds->n_users,
        .n_items = ds->n_items,
        .nnz = ds->ratings->n,
        .n_genres = ds->n_genres,
        .n_occs = ds->n_occupations,
        .format = ds->opt.format,
        .header = ds->opt.header,
        .min_rating = ds->opt.min_rating,
        .max_rating = ds->opt.max_rating,
        .scale_min = ds->scale_min,
        .scale_max = ds->scale_max,
        .sep = (unsigned char)ds->opt.sep,
    };
    struct buf meta = {0};
    for (int32_t i = 0; i < ds->n_items; i++) {
        const struct mfr_item_meta *m = &ds->items[i];
        buf_put(&meta, &m->year, 4);
        buf_u32(&meta, m->genres);
        buf_str(&meta, m->title);
        buf_str(&meta, m->date);
    }
    for (int32_t u = 0; u < ds->n_users; u++) {
        const struct mfr_user_meta *m = &ds->users[u];
        buf_put(&meta, &m->age, 4);
        buf_put(&meta, &m->occupation, 4);
        buf_put(&meta, &m->sex, 1);
        buf_put(&meta, m->zip, sizeof m->zip);
    }
    for (int32_t g = 0; g < ds->n_genres; g++) buf_str(&meta, ds->genre_names[g]);
    for (int32_t o = 0; o < ds->n_occupations; o++) buf_str(&meta, ds->occupations[o]);
    if (meta.failed) {
        free(meta.p);
        return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory for the cache's metadata");
    }

    struct sections s;
    sections_of(ds, &s);
    uint64_t sum = payload_sum(ds->fingerprint, &c, sizeof c, s.p, s.n, meta.p, meta.len, s.mapping, NULL, NULL);
    uint64_t counts_at, sec_at[6], meta_len_at;
    uint64_t key_area = HEADER_BYTES + key->len + pad_to(HEADER_BYTES + key->len);
    uint64_t payload = layout(key->len, &s, &counts_at, sec_at, &meta_len_at) + meta.len - key_area;

    struct header h = {.version = CACHE_VERSION,
                       .order = CACHE_ORDER,
                       .key_len = key->len,
                       .payload_len = payload,
                       .checksum = sum,
                       .fingerprint = ds->fingerprint};
    memcpy(h.magic, CACHE_MAGIC, 8);
    struct write_ctx w = {&h, key, &c, &s, &meta, path};
    int rc = write_cache_file(path, key, write_all, &w, err);
    free(meta.p);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Reading                                                              */
/* ------------------------------------------------------------------ */

/* A cursor over the metadata blob; every read is bounds-checked. */
struct cursor {
    const unsigned char *p, *end;
    bool bad;
};

static void cur_get(struct cursor *c, void *dst, size_t n)
{
    if (c->bad || (size_t)(c->end - c->p) < n) {
        c->bad = true;
        memset(dst, 0, n);
        return;
    }
    memcpy(dst, c->p, n);
    c->p += n;
}

/* A string (malloc'd, or NULL for NO_STRING when `nullable`); sets bad on
 * a short blob, an embedded NUL or an allocation failure. */
static char *cur_str(struct cursor *c, bool nullable)
{
    uint32_t n;
    cur_get(c, &n, 4);
    if (c->bad) return NULL;
    if (n == NO_STRING) {
        if (!nullable) c->bad = true;
        return NULL;
    }
    if ((size_t)(c->end - c->p) < n || memchr(c->p, '\0', n)) {
        c->bad = true;
        return NULL;
    }
    char *s = mfr_malloc((size_t)n + 1);
    if (!s) {
        c->bad = true;
        return NULL;
    }
    memcpy(s, c->p, n);
    s[n] = '\0';
    c->p += n;
    return s;
}

/* Checks the id arrays of ds, which the rest of the library searches
 * (sorted, positive). The ratings' indices and values, which it indexes
 * with, are checked with the checksum (sec_check). */
static bool ids_valid(const mfr_dataset *ds)
{
    for (int32_t k = 0; k < ds->n_users; k++)
        if (ds->user_ids[k] <= 0 || (k && ds->user_ids[k] <= ds->user_ids[k - 1])) return false;
    for (int32_t k = 0; k < ds->n_items; k++)
        if (ds->item_ids[k] <= 0 || (k && ds->item_ids[k] <= ds->item_ids[k - 1])) return false;
    return true;
}

/* Parses the metadata blob into ds; false when it is malformed. */
static bool read_meta(mfr_dataset *ds, const unsigned char *blob, size_t len)
{
    struct cursor c = {blob, blob + len, false};
    uint32_t mask_limit = ds->n_genres >= 32 ? UINT32_MAX : (UINT32_C(1) << ds->n_genres) - 1;
    for (int32_t i = 0; i < ds->n_items && !c.bad; i++) {
        struct mfr_item_meta *m = &ds->items[i];
        cur_get(&c, &m->year, 4);
        cur_get(&c, &m->genres, 4);
        m->title = cur_str(&c, true);
        m->date = cur_str(&c, true);
        if (m->genres & ~mask_limit) c.bad = true;
    }
    for (int32_t u = 0; u < ds->n_users && !c.bad; u++) {
        struct mfr_user_meta *m = &ds->users[u];
        cur_get(&c, &m->age, 4);
        cur_get(&c, &m->occupation, 4);
        cur_get(&c, &m->sex, 1);
        cur_get(&c, m->zip, sizeof m->zip);
        if (m->occupation < -1 || m->occupation >= ds->n_occupations ||
            m->zip[sizeof m->zip - 1] != '\0')
            c.bad = true;
    }
    for (int32_t g = 0; g < ds->n_genres && !c.bad; g++)
        ds->genre_names[g] = cur_str(&c, false);
    for (int32_t o = 0; o < ds->n_occupations && !c.bad; o++)
        ds->occupations[o] = cur_str(&c, false);
    return !c.bad && c.p == c.end;
}

/* The mapped file of a load in progress. */
struct mapped {
    const unsigned char *p;
    size_t len;
};

/* Checks the header and key of the mapped file m; false when the cache is
 * not one for `key` (wrong magic, version, order, size or key). */
static bool header_matches(const struct mapped *m, const struct mfr_cache_key *key, struct header *h)
{
    if (m->len < HEADER_BYTES) return false;
    memcpy(h, m->p, sizeof *h);
    uint64_t key_area = HEADER_BYTES + key->len + pad_to(HEADER_BYTES + key->len);
    return memcmp(h->magic, CACHE_MAGIC, 8) == 0 && h->version == CACHE_VERSION &&
           h->order == CACHE_ORDER && h->key_len == key->len && m->len >= key_area &&
           h->payload_len == m->len - key_area && memcmp(m->p + HEADER_BYTES, key->bytes, key->len) == 0;
}

/* The dataset described by the counts c, its arrays borrowed from the
 * mapping at sec_at; NULL when something cannot be allocated. */
/* A dataset with the cache's sizes, load options and fingerprint, and its
 * id and per-user/per-item arrays allocated (any may be NULL: the caller
 * checks); the whole and the user-ordered cache both start from it. */
static mfr_dataset *dataset_shell(const struct counts *c, const struct header *h)
{
    mfr_dataset *ds = mfr_calloc(1, sizeof *ds);
    if (!ds) return NULL;
    ds->n_users = c->n_users;
    ds->n_items = c->n_items;
    mfr_load_options_default(&ds->opt);
    ds->opt.format = c->format;
    ds->opt.header = c->header;
    ds->opt.sep = (char)c->sep;
    ds->opt.min_rating = c->min_rating;
    ds->opt.max_rating = c->max_rating;
    ds->scale_min = c->scale_min;
    ds->scale_max = c->scale_max;
    ds->fingerprint = h->fingerprint;
    ds->user_ids = mfr_malloc(((size_t)c->n_users + 1) * 8);
    ds->item_ids = mfr_malloc(((size_t)c->n_items + 1) * 8);
    ds->items = mfr_calloc((size_t)c->n_items + 1, sizeof *ds->items);
    ds->users = mfr_calloc((size_t)c->n_users + 1, sizeof *ds->users);
    return ds;
}

static mfr_dataset *dataset_from(const struct counts *c, const struct header *h, const struct mapped *m,
                                 const uint64_t sec_at[6])
{
    mfr_dataset *ds = dataset_shell(c, h);
    if (!ds) return NULL;
    ds->n_genres = c->n_genres;
    ds->n_occupations = c->n_occs;
    ds->genre_names = mfr_calloc((size_t)c->n_genres + 1, sizeof *ds->genre_names);
    ds->occupations = mfr_calloc((size_t)c->n_occs + 1, sizeof *ds->occupations);
    ds->ratings = mfr_calloc(1, sizeof *ds->ratings);
    if (!ds->user_ids || !ds->item_ids || !ds->items || !ds->users || !ds->genre_names ||
        !ds->occupations || !ds->ratings) {
        mfr_dataset_destroy(ds);
        return NULL;
    }
    memcpy(ds->user_ids, m->p + sec_at[0], (size_t)c->n_users * 8);
    memcpy(ds->item_ids, m->p + sec_at[1], (size_t)c->n_items * 8);
    mfr_ratings *r = ds->ratings;
    r->n = c->nnz;
    r->borrowed = true; /* the mapping owns them: see DESIGN */
    r->mapped = true;   /* read-only: passes may release its pages */
    r->user = (int32_t *)(uintptr_t)(m->p + sec_at[2]);
    r->item = (int32_t *)(uintptr_t)(m->p + sec_at[3]);
    r->rating = (float *)(uintptr_t)(m->p + sec_at[4]);
    r->ts = (int64_t *)(uintptr_t)(m->p + sec_at[5]);
    return ds;
}

/* Checks the counts read at c against the file size before anything is
 * allocated; fills the section offsets. */
static bool counts_fit(const struct counts *c, const struct header *h, const struct mapped *m,
                       struct sections *s, uint64_t sec_at[6], uint64_t *meta_len_at)
{
    if (c->n_users < 0 || c->n_items < 0 || c->nnz < 1 || c->n_genres < 0 ||
        c->n_genres > MFR_MAX_GENRES || c->n_occs < 0 || c->n_occs > (1 << 20) ||
        c->format <= MFR_FORMAT_AUTO || c->format > MFR_FORMAT_DELIMITED ||
        (uint64_t)c->nnz > (h->payload_len / 20) || !(c->min_rating <= c->max_rating))
        return false;
    size_t nnz = (size_t)c->nnz;
    *s = (struct sections){{NULL},
                           {(size_t)c->n_users * 8, (size_t)c->n_items * 8, nnz * 4, nnz * 4, nnz * 4, nnz * 8},
                           {0}};
    uint64_t counts_at;
    return layout(h->key_len, s, &counts_at, sec_at, meta_len_at) <= m->len;
}

/* The tests' hook MFREC_TEST_MAP_FAULTS=N (with MFREC_TEST_MAP_WAIT): once
 * the mapped cache was cut short, N threads read its last byte at once,
 * as the parallel setup's would, so that N SIGBUS handlers run together
 * (mfrec's must report the error once, on one line). */
static void test_map_faults(const unsigned char *p, size_t len)
{
    const char *v = getenv("MFREC_TEST_MAP_FAULTS");
    const int n = v ? atoi(v) : 0;
    if (n < 2 || len == 0) return;
    unsigned sum = 0;
#pragma omp parallel num_threads(n) reduction(+ : sum)
    {
#pragma omp barrier
        sum += ((const volatile unsigned char *)p)[len - 1];
    }
    (void)sum;
}

int mfr_cache_load(const char *path, const struct mfr_cache_key *key, mfr_dataset **out)
{
    *out = NULL;
    int fd;
    if (mfr_open_regular(path, &fd, NULL) != MFR_OK) return MFR_ERR_NOT_FOUND;
    struct mapped m = {NULL, 0};
    mfr_dataset *ds = NULL;
    struct header h;
    struct counts c;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < HEADER_BYTES) goto done;
    int64_t cache_mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    if (key->newest_change_ns >= cache_mtime) goto done; /* racy: see DESIGN */
    m.len = (size_t)st.st_size;
    void *p = mmap(NULL, m.len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) goto done;
    m.p = p;
    mfr_map_observe(path, p, m.len);
    mfr_test_map_wait(fd, st.st_size);
    test_map_faults(m.p, m.len);
    if (!header_matches(&m, key, &h)) goto done;
    uint64_t counts_at = HEADER_BYTES + key->len + pad_to(HEADER_BYTES + key->len), sec_at[6], meta_len_at;
    if (m.len < counts_at + sizeof c) goto done;
    memcpy(&c, m.p + counts_at, sizeof c);
    struct sections s;
    if (!counts_fit(&c, &h, &m, &s, sec_at, &meta_len_at)) goto done;
    uint64_t blob_len;
    memcpy(&blob_len, m.p + meta_len_at, 8);
    if (blob_len != m.len - meta_len_at - 8) goto done;
    const unsigned char *blob = m.p + meta_len_at + 8;
    for (int k = 0; k < 6; k++) s.p[k] = (void *)(uintptr_t)(m.p + sec_at[k]), s.mapping[k] = m.len;
    /* user, item: indices below the counts; rating: in the range */
    const struct sec_check check[6] = {
        [2] = {CHECK_INDEX, (uint32_t)c.n_users, 0, 0},
        [3] = {CHECK_INDEX, (uint32_t)c.n_items, 0, 0},
        [4] = {CHECK_RATING, 0, c.min_rating, c.max_rating},
    };
    bool out_of_range = false;
    uint64_t sum = payload_sum(h.fingerprint, &c, sizeof c, s.p, s.n, blob, blob_len, s.mapping, check, &out_of_range);
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    /* The fuzz build (meson -Dfuzz=enabled, docs/FUZZING.md) takes any
     * checksum, so that mutated payloads reach the range checks below. */
    sum = h.checksum;
#endif
    if (sum != h.checksum || out_of_range || !(ds = dataset_from(&c, &h, &m, sec_at)) || !ids_valid(ds) ||
        !read_meta(ds, blob, blob_len))
        goto done;
    ds->map = (void *)(uintptr_t)m.p;
    ds->map_len = m.len;
    m.p = NULL; /* the dataset's now */
    ds->cache_state = MFR_CACHE_STATE_READ;
    *out = ds;
    ds = NULL;
done:
    close(fd);
    mfr_dataset_destroy(ds); /* its ratings are borrowed: the mapping goes below */
    if (m.p) {
        mfr_map_observe(NULL, m.p, 0);
        munmap((void *)(uintptr_t)m.p, m.len);
    }
    return *out ? MFR_OK : MFR_ERR_NOT_FOUND;
}

int mfr_cache_poke(const char *path, int section, int64_t index, uint32_t bits)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return MFR_ERR_IO;
    struct stat st;
    struct mapped m = {NULL, 0};
    int rc = MFR_ERR_IO;
    if (fstat(fd, &st) != 0 || st.st_size < HEADER_BYTES || section < 0 || section > 2) goto done;
    m.len = (size_t)st.st_size;
    void *p = mmap(NULL, m.len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) goto done;
    m.p = p;
    struct header h;
    memcpy(&h, m.p, sizeof h);
    if (h.key_len > m.len) goto done;
    const uint64_t counts_at = HEADER_BYTES + h.key_len + pad_to(HEADER_BYTES + h.key_len);
    struct counts c;
    struct sections s;
    uint64_t sec_at[6], meta_len_at, blob_len;
    if (memcmp(h.magic, CACHE_MAGIC, 8) != 0 || m.len < counts_at + sizeof c) goto done;
    memcpy(&c, m.p + counts_at, sizeof c);
    if (!counts_fit(&c, &h, &m, &s, sec_at, &meta_len_at) || index < 0 || index >= c.nnz) goto done;
    memcpy((unsigned char *)p + sec_at[2 + section] + 4 * (uint64_t)index, &bits, 4);
    memcpy(&blob_len, m.p + meta_len_at, 8);
    if (blob_len != m.len - meta_len_at - 8) goto done;
    for (int k = 0; k < 6; k++) s.p[k] = (void *)(uintptr_t)(m.p + sec_at[k]);
    h.checksum = payload_sum(h.fingerprint, &c, sizeof c, s.p, s.n, m.p + meta_len_at + 8, (size_t)blob_len, s.mapping,
                             NULL, NULL);
    memcpy(p, &h, sizeof h);
    rc = msync(p, m.len, MS_SYNC) == 0 ? MFR_OK : MFR_ERR_IO;
done:
    if (m.p) munmap((void *)(uintptr_t)m.p, m.len);
    close(fd);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The user-ordered cache (users_cache_priv.h)                          */
/* ------------------------------------------------------------------ */

/*
 * Layout, beside the dataset cache at PATH.users (written under mpirun
 * when absent or stale: by the ranks from their slices of the rating file,
 * src/mpi/mpi_load.c, with the bytes mfr_users_cache_write writes from a
 * whole dataset; docs/MPI.md): the header (magic "MFRUSERS"), the key (the
 * dataset cache's), then at multiples of 64
 * bytes the counts (struct counts), user ids, item ids, the users' offsets
 * (n_users + 1 int64), the hash of each HASH_BLOCK-byte block of the
 * records, then the records (struct mfr_urec, 12 bytes: by user, file
 * order within a user). The header's checksum covers everything but the
 * records (the header's dataset fingerprint included, version 2 on), so that opening the file reads O(users + items + n / 2^20)
 * bytes; a rank then checks the blocks of its own slice only.
 */
#define USERS_MAGIC "MFRUSERS"
/* 2: the checksum covers the header's dataset fingerprint */
#define USERS_VERSION 2u

_Static_assert(sizeof(struct mfr_urec) == 12, "user-ordered records are 12 bytes");

struct users_layout {
    uint64_t counts_at, sec_at[4], recs_at, size; /* sections: user ids, item ids, offsets, block hashes */
    size_t sec_len[4];
    int64_t n_blocks;
};

static void users_layout_of(uint64_t key_len, int64_t n_users, int64_t n_items, int64_t n, struct users_layout *l)
{
    l->n_blocks = (n * 12 + (int64_t)HASH_BLOCK - 1) / (int64_t)HASH_BLOCK;
    const size_t len[4] = {(size_t)n_users * 8, (size_t)n_items * 8, ((size_t)n_users + 1) * 8,
                           (size_t)l->n_blocks * 8};
    uint64_t at = HEADER_BYTES + key_len;
    at += pad_to(at);
    l->counts_at = at;
    at += sizeof(struct counts);
    for (int k = 0; k < 4; k++) {
        at += pad_to(at);
        l->sec_at[k] = at;
        l->sec_len[k] = len[k];
        at += len[k];
    }
    at += pad_to(at);
    l->recs_at = at;
    l->size = at + (uint64_t)n * 12;
}

/* The header's checksum: the dataset fingerprint (the part dataset's),
 * the counts and the four sections. */
static uint64_t users_sum(uint64_t fingerprint, const struct counts *c, const void *const sec[4], const size_t len[4])
{
    uint64_t sum = hash_bytes(hash_bytes(7, &fingerprint, sizeof fingerprint), c, sizeof *c);
    for (int k = 0; k < 4; k++) sum = hash_blocks(sum, sec[k], len[k]);
    return sum;
}

static uint64_t users_block_hash(const unsigned char *recs, int64_t n, int64_t b)
{
    const size_t bytes = (size_t)n * 12, at = (size_t)b * HASH_BLOCK;
    return mfr_users_cache_block_hash(b, recs + at, bytes - at < HASH_BLOCK ? bytes - at : HASH_BLOCK);
}

char *mfr_users_cache_path(const char *cache_path)
{
    size_t n = strlen(cache_path);
    char *p = mfr_malloc(n + 7);
    if (p) snprintf(p, n + 7, "%s.users", cache_path);
    return p;
}

int64_t mfr_users_cache_recs_at(const struct mfr_cache_key *key, int32_t n_users, int32_t n_items, int64_t n,
                                int64_t *n_blocks)
{
    struct users_layout l;
    users_layout_of(key->len, n_users, n_items, n, &l);
    if (n_blocks) *n_blocks = l.n_blocks;
    return (int64_t)l.recs_at;
}

uint64_t mfr_users_cache_block_hash(int64_t b, const void *block, size_t len)
{
    return hash_bytes((uint64_t)b + 1, block, len);
}

int mfr_users_cache_head(const struct mfr_cache_key *key, const mfr_dataset *ds, int64_t n, const int64_t *off,
                         const uint64_t *bh, unsigned char **head, size_t *len)
{
    struct users_layout l;
    users_layout_of(key->len, ds->n_users, ds->n_items, n, &l);
    struct counts c = {
        .n_users = ds->n_users, .n_items = ds->n_items, .nnz = n, .format = ds->opt.format,
        .header = ds->opt.header, .min_rating = ds->opt.min_rating, .max_rating = ds->opt.max_rating,
        .scale_min = ds->scale_min, .scale_max = ds->scale_max, .sep = (unsigned char)ds->opt.sep,
    };
    const void *sec[4] = {ds->user_ids, ds->item_ids, off, bh};
    struct header h = {.version = USERS_VERSION, .order = CACHE_ORDER, .key_len = key->len,
                       .payload_len = l.size, .checksum = users_sum(ds->fingerprint, &c, sec, l.sec_len),
                       .fingerprint = ds->fingerprint};
    memcpy(h.magic, USERS_MAGIC, 8);
    static const unsigned char zero[ALIGN];
    struct buf b = {0};
    buf_put(&b, &h, sizeof h);
    buf_put(&b, key->bytes, key->len);
    buf_put(&b, zero, (size_t)pad_to(b.len));
    buf_put(&b, &c, sizeof c);
    for (int k = 0; k < 4; k++) {
        buf_put(&b, zero, (size_t)pad_to(b.len));
        buf_put(&b, sec[k], l.sec_len[k]);
    }
    buf_put(&b, zero, (size_t)pad_to(b.len));
    if (b.failed) {
        free(b.p);
        return MFR_ERR_NOMEM;
    }
    MFR_ASSERT(b.len == l.recs_at);
    *head = b.p;
    *len = b.len;
    return MFR_OK;
}

struct users_write {
    const unsigned char *head;
    size_t head_len;
    const struct mfr_urec *recs;
    int64_t n;
    const char *path;
};

static int users_write_all(FILE *f, void *arg, mfr_error *err)
{
    const struct users_write *w = arg;
    uint64_t at = 0;
    bool ok = write_at(f, w->head, w->head_len, &at) && write_at(f, w->recs, (size_t)w->n * 12, &at);
    return ok ? MFR_OK : mfr_seterr(err, MFR_ERR_IO, "cannot write %s: %s", w->path, strerror(errno));
}

int mfr_users_cache_write(const char *path, const struct mfr_cache_key *key, const mfr_dataset *ds, mfr_error *err)
{
    const mfr_ratings *r = ds->ratings;
    const int64_t n = r->n, N = ds->n_users;
    int st = may_replace(path, USERS_MAGIC, err);
    if (st != MFR_OK) return st;
    if (n > (int64_t)UINT32_MAX)
        return mfr_seterr(err, MFR_ERR_TOO_LARGE, "%s: %lld ratings (the user-ordered cache holds up to 2^32 - 1)",
                          path, (long long)n);
    struct users_layout l;
    users_layout_of(key->len, N, ds->n_items, n, &l);
    int64_t *off = mfr_calloc((size_t)N + 1, sizeof *off), *next = mfr_malloc(sizeof *next * ((size_t)N + 1));
    struct mfr_urec *recs = mfr_malloc(sizeof *recs * (size_t)(n > 0 ? n : 1));
    uint64_t *bh = mfr_malloc(sizeof *bh * (size_t)(l.n_blocks > 0 ? l.n_blocks : 1));
    unsigned char *head = NULL;
    size_t head_len = 0;
    int rc = MFR_OK;
    if (!off || !next || !recs || !bh) {
        rc = mfr_seterr(err, MFR_ERR_NOMEM, "out of memory writing %s", path);
        goto done;
    }
    for (int64_t k = 0; k < n; k++) off[r->user[k] + 1]++;
    for (int64_t u = 0; u < N; u++) off[u + 1] += off[u];
    memcpy(next, off, sizeof *next * ((size_t)N + 1));
    for (int64_t k = 0; k < n; k++) /* stable: file order within a user */
        recs[next[r->user[k]]++] = (struct mfr_urec){r->item[k], r->rating[k], (uint32_t)k};
#pragma omp parallel for schedule(static) num_threads(mfr_setup_threads())
    for (int64_t b = 0; b < l.n_blocks; b++) bh[b] = users_block_hash((const unsigned char *)recs, n, b);
    if (mfr_users_cache_head(key, ds, n, off, bh, &head, &head_len) != MFR_OK) {
        rc = mfr_seterr(err, MFR_ERR_NOMEM, "out of memory writing %s", path);
        goto done;
    }
    struct users_write w = {head, head_len, recs, n, path};
    rc = write_cache_file(path, key, users_write_all, &w, err);
done:
    free(off);
    free(next);
    free(recs);
    free(bh);
    free(head);
    return rc;
}

void mfr_users_cache_close(struct mfr_users_cache *uc)
{
    mfr_dataset_destroy(uc->ds);
    if (uc->map) {
        mfr_map_observe(NULL, uc->map, 0);
        munmap((void *)(uintptr_t)uc->map, uc->map_len);
    }
    memset(uc, 0, sizeof *uc);
}

void mfr_users_cache_release(const struct mfr_users_cache *uc)
{
    /* private, read-only file pages: MADV_DONTNEED only unmaps them */
    if (uc->map) (void)madvise((void *)(uintptr_t)uc->map, uc->map_len, MADV_DONTNEED);
}

/* The part dataset: what a trainer and a checkpoint need of it. */
static mfr_dataset *users_dataset(const struct counts *c, const struct header *h, const unsigned char *map,
                                  const struct users_layout *l, const struct mfr_load_id *id)
{
    mfr_dataset *ds = dataset_shell(c, h);
    if (!ds) return NULL;
    ds->cache_state = MFR_CACHE_STATE_READ;
    ds->dir = mfr_strdup(id->dir);
    ds->file = id->file ? mfr_strdup(id->file) : NULL;
    if (!ds->user_ids || !ds->item_ids || !ds->items || !ds->users || !ds->dir || (id->file && !ds->file)) {
        mfr_dataset_destroy(ds);
        return NULL;
    }
    memcpy(ds->user_ids, map + l->sec_at[0], (size_t)c->n_users * 8);
    memcpy(ds->item_ids, map + l->sec_at[1], (size_t)c->n_items * 8);
    return ds;
}

int mfr_users_cache_open(const char *path, const struct mfr_load_id *id, struct mfr_users_cache *uc)
{
    memset(uc, 0, sizeof *uc);
    int fd;
    if (mfr_open_regular(path, &fd, NULL) != MFR_OK) return MFR_ERR_NOT_FOUND;
    struct stat st;
    struct mapped m = {NULL, 0};
    struct header h;
    struct counts c;
    struct users_layout l;
    bool ok = false;
    if (fstat(fd, &st) != 0 || st.st_size < HEADER_BYTES) goto done;
    if (id->key.newest_change_ns >= (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec)
        goto done; /* racy: see DESIGN */
    m.len = (size_t)st.st_size;
    void *p = mmap(NULL, m.len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) goto done;
    m.p = p;
    mfr_map_observe(path, p, m.len);
    memcpy(&h, m.p, sizeof h);
    const uint64_t key_len = id->key.len, counts_at = HEADER_BYTES + key_len + pad_to(HEADER_BYTES + key_len);
    if (memcmp(h.magic, USERS_MAGIC, 8) != 0 || h.version != USERS_VERSION || h.order != CACHE_ORDER ||
        h.key_len != key_len || m.len < counts_at + sizeof c || h.payload_len != m.len ||
        memcmp(m.p + HEADER_BYTES, id->key.bytes, key_len) != 0)
        goto done;
    memcpy(&c, m.p + counts_at, sizeof c);
    if (c.n_users < 1 || c.n_items < 1 || c.nnz < 1 || c.nnz > (int64_t)UINT32_MAX ||
        c.format <= MFR_FORMAT_AUTO || c.format > MFR_FORMAT_DELIMITED || !(c.min_rating <= c.max_rating) ||
        (uint64_t)c.nnz > m.len / 12)
        goto done;
    users_layout_of(key_len, c.n_users, c.n_items, c.nnz, &l);
    if (l.size != m.len) goto done;
    const void *sec[4];
    for (int k = 0; k < 4; k++) sec[k] = m.p + l.sec_at[k];
    uint64_t sum = users_sum(h.fingerprint, &c, sec, l.sec_len);
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    sum = h.checksum;
#endif
    if (sum != h.checksum) goto done;
    const int64_t *uid = (const int64_t *)sec[0], *iid = (const int64_t *)sec[1], *off = (const int64_t *)sec[2];
    for (int32_t k = 0; k < c.n_users; k++)
        if (uid[k] <= 0 || (k && uid[k] <= uid[k - 1])) goto done;
    for (int32_t k = 0; k < c.n_items; k++)
        if (iid[k] <= 0 || (k && iid[k] <= iid[k - 1])) goto done;
    if (off[0] != 0 || off[c.n_users] != c.nnz) goto done;
    for (int32_t u = 0; u < c.n_users; u++)
        if (off[u + 1] < off[u]) goto done;
    if (!(uc->ds = users_dataset(&c, &h, m.p, &l, id))) goto done;
    uc->n = c.nnz;
    uc->offsets = off;
    uc->recs = (const struct mfr_urec *)(const void *)(m.p + l.recs_at);
    uc->block_hash = (const uint64_t *)sec[3];
    uc->n_blocks = l.n_blocks;
    uc->map = m.p;
    uc->map_len = m.len;
    m.p = NULL;
    ok = true;
done:
    close(fd);
    if (m.p) {
        mfr_map_observe(NULL, m.p, 0);
        munmap((void *)(uintptr_t)m.p, m.len);
    }
    return ok ? MFR_OK : MFR_ERR_NOT_FOUND;
}

int mfr_users_cache_slice(const struct mfr_users_cache *uc, const char *path, int32_t u_lo, int32_t u_hi,
                          const struct mfr_urec **recs, mfr_error *err)
{
    MFR_ASSERT(u_lo >= 0 && u_lo <= u_hi && u_hi <= uc->ds->n_users);
    const int64_t a = uc->offsets[u_lo], z = uc->offsets[u_hi];
    *recs = uc->recs + a;
    if (a == z) return MFR_OK;
    const unsigned char *base = (const unsigned char *)uc->recs;
    const int64_t b0 = a * 12 / (int64_t)HASH_BLOCK, b1 = (z * 12 - 1) / (int64_t)HASH_BLOCK;
    int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad) num_threads(mfr_setup_threads())
    for (int64_t b = b0; b <= b1; b++) bad |= users_block_hash(base, uc->n, b) != uc->block_hash[b];
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    bad = 0;
#endif
    const float lo = uc->ds->opt.min_rating, hi = uc->ds->opt.max_rating;
    const uint32_t ni = (uint32_t)uc->ds->n_items;
    for (int32_t u = u_lo; u < u_hi && !bad; u++)
        for (int64_t x = uc->offsets[u]; x < uc->offsets[u + 1]; x++) {
            const struct mfr_urec *q = &uc->recs[x];
            bad |= !((uint32_t)q->item < ni && q->rating >= lo && q->rating <= hi && (int64_t)q->index < uc->n &&
                     (x == uc->offsets[u] || q->index > q[-1].index));
        }
    return bad ? mfr_seterr(err, MFR_ERR_DATA, "%s is damaged (a checksum or range check of users %d..%d failed): "
                                               "delete it, the next run rewrites it",
                            path, (int)u_lo, (int)u_hi - 1)
               : MFR_OK;
}
