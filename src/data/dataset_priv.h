/*
 * dataset_priv.h — the layout of ratings, datasets and splits, shared by
 * the loaders (movielens.c), splits (split.c), the trainer and the model.
 */
#ifndef MFR_DATASET_PRIV_H
#define MFR_DATASET_PRIV_H

#include "common_priv.h"

/* Ratings in dense indices, structure of arrays. `ts` may be NULL.
 * `borrowed`: the arrays belong to someone else (a dataset's mapped cache
 * file) and mfr_ratings_destroy frees only the struct. `mapped`: they are
 * a read-only file mapping, whose pages a pass may release behind itself
 * (mfr_release_mapped).
 *
 * A view (`skip` non-NULL, mfr_split_create_lean): the n ratings are the
 * rows f < base_n of the arrays with skip[f] == 0, in row order, nothing
 * copied; block_base[b] is the row of rating b * MFR_VIEW_BLOCK. The
 * trainer, the evaluation and the accessors read views (mfr_ratings_rows);
 * the view owns skip and block_base. */
struct mfr_ratings {
    int64_t n;
    int32_t *user;
    int32_t *item;
    float *rating;
    int64_t *ts;
    /* ts is a shared mapping of this many bytes of an unlinked file (the
     * first run's parse, mfr_ratings_alloc_spilled), not heap memory; 0: heap */
    size_t ts_spill_len;
    bool borrowed;
    bool mapped;
    const unsigned char *skip;
    int64_t base_n;
    int64_t *block_base;
    /* a view's identity, never reused (mfr_ratings_row's cursor) */
    uint64_t view_id;
    /* A part of a canonical split (u1..u5, ua, ub): a fingerprint of both
     * of its files' ratings, which a model trained on it records (its
     * split pin); 0 for every other rating set. */
    uint64_t split_pin;
};

#define MFR_VIEW_BLOCK ((int64_t)1 << 16)

/* The row of the arrays that holds rating idx (idx itself unless r is a
 * view). */
int64_t mfr_ratings_row(const mfr_ratings *r, int64_t idx);
/* A new view's view_id (1, 2, ...; 0: not a view). */
uint64_t mfr_ratings_new_view_id(void);

/* Copies ratings [lo, hi) of r (a view or not) into user, item, rating;
 * returns the row after the last one read. */
int64_t mfr_ratings_gather(const mfr_ratings *r, int64_t lo, int64_t hi, int32_t *user, int32_t *item,
                           float *rating);

/* mfr_ratings_gather of a view's cnt ratings from row f on (f the row of
 * the first, as mfr_ratings_row gives it; cheaper than mfr_ratings_row,
 * which scans from its view block's start, when a caller reads on). */
int64_t mfr_ratings_gather_rows(const mfr_ratings *r, int64_t f, int64_t cnt, int32_t *user, int32_t *item,
                                float *rating);

/* mfr_ratings_alloc with the timestamps in a shared mapping of an unlinked
 * file made in dir, on ext2/3/4 or XFS only, its blocks reserved
 * (fallocate, so that a full disk cannot fault a write later): a large
 * first-run parse then holds 12 bytes a rating instead of 20, the
 * timestamps' pages leaving memory behind the parse (mfr_ratings_release_ts)
 * and staying in the page cache for the cache writer. MFR_ERR_UNSUPPORTED,
 * nothing allocated, when the file cannot be made or reserved there; else
 * as mfr_ratings_alloc. */
int mfr_ratings_alloc_spilled(int64_t n, const char *dir, mfr_ratings **out, mfr_error *err);

/* When r->ts is spilled: releases its resident pages of rows [lo, hi). */
void mfr_ratings_release_ts(const mfr_ratings *r, int64_t lo, int64_t hi);

/* When r's arrays are mapped: releases their pages of rows [lo, hi). */
void mfr_ratings_release_rows(const mfr_ratings *r, int64_t lo, int64_t hi);
/* Rows [lo, hi) of the arrays a pass reads (MFR_ROWS_* or'd) of a mapped
 * r, mapped in before the pass reads them again after a release
 * (mfr_populate_mapped). */
enum { MFR_ROWS_USER = 1, MFR_ROWS_ITEM = 2, MFR_ROWS_RATING = 4, MFR_ROWS_TS = 8 };
#define MFR_ROWS_UIR (MFR_ROWS_USER | MFR_ROWS_ITEM | MFR_ROWS_RATING)
void mfr_ratings_populate_rows(const mfr_ratings *r, int64_t lo, int64_t hi, unsigned arrays);

/* Rows of the arrays behind r: base_n for a view, else n. */
static inline int64_t mfr_ratings_rows(const mfr_ratings *r) { return r->skip ? r->base_n : r->n; }

/* Allocates a ratings set of n entries (arrays uninitialized, ts included). */
int mfr_ratings_alloc(int64_t n, mfr_ratings **out, mfr_error *err);

struct mfr_item_meta {
    char *title;    /* UTF-8 */
    char *date;     /* release date text, may be "" */
    int32_t year;   /* 0 when unknown */
    uint32_t genres;
};

struct mfr_user_meta {
    int32_t age;
    char sex;
    int32_t occupation; /* index into occupations, -1 when unknown */
    char zip[16];
};

struct mfr_dataset {
    char *dir;
    /* The rating file, absolute, when the load named one (the path given
     * was the file, or options.ratings_file was set); NULL when it read the
     * format's own file in dir. Models record it (mfr_model_data_source). */
    char *file;
    mfr_load_options opt;
    int32_t n_users, n_items;
    int64_t *user_ids; /* dense -> raw, ascending */
    int64_t *item_ids;
    mfr_ratings *ratings; /* u.data, file order */
    struct mfr_item_meta *items; /* n_items entries, always allocated */
    struct mfr_user_meta *users; /* n_users entries, always allocated */
    int32_t n_genres;
    char **genre_names;
    int32_t n_occupations;
    char **occupations;
    uint64_t fingerprint;
    /* The rating scale mfr_dataset_rating_range reports: the format's (or
     * the caller's) range, or for the delimited format with the default
     * range the smallest and largest rating read. opt.min_rating..
     * opt.max_rating is what further rating files must lie in. */
    float scale_min, scale_max;
    int32_t cache_state; /* enum mfr_cache_state */
    /* The mapped cache file the ratings' arrays live in (dataset_cache.c),
     * unmapped by mfr_dataset_destroy; NULL for a parsed dataset. */
    void *map;
    size_t map_len;
};

/* What the binary cache did during a load (dataset_cache.c). */
enum mfr_cache_state {
    MFR_CACHE_STATE_UNUSED = 0,       /* not consulted (MFR_CACHE_NEVER, small file) */
    MFR_CACHE_STATE_READ = 1,         /* the dataset came from the cache */
    MFR_CACHE_STATE_WRITTEN = 2,      /* parsed, then the cache was written */
    MFR_CACHE_STATE_WRITE_FAILED = 3, /* parsed; writing the cache failed (ignored) */
};

/* Drops the resident pages of a dataset's mapped cache file of 64 MiB or
 * more (nothing for a parsed dataset or a smaller cache): its contents do
 * not change, a later access reads them again from the page cache. Lowers
 * the peak memory of a run that has copied what it needs (the split's
 * parts). */
void mfr_dataset_release_pages(const mfr_dataset *ds);
/* The bytes of ds's mapped cache file that stay resident through a run:
 * the whole mapping when mfr_dataset_release_pages leaves it (under 64
 * MiB: its load's checksum pass read every page), else 0. */
size_t mfr_dataset_resident_map_bytes(const mfr_dataset *ds);

/* True when ds was loaded from the binary cache rather than parsed. */
bool mfr_dataset_from_cache(const mfr_dataset *ds);

/* mfr_dataset_read_ratings, with *first_line set to the line of the
 * file's first rating (1, or 2 after a header): rating k is on line
 * k + *first_line. */
int mfr_dataset_read_ratings_at(const mfr_dataset *ds, const char *path, mfr_ratings **out,
                                int64_t *first_line, mfr_error *err);

/* True when `path` is (as a file: device and inode) one of the files ds was
 * read from, its rating file or a metadata file beside it: a writer given
 * the dataset never replaces them (dataset.c). */
bool mfr_dataset_reads_file(const mfr_dataset *ds, const char *path);

/* MFR_ERR_UNSUPPORTED naming fn when r is a lean split's training part (a
 * view: its arrays hold the test rows too) and fn reads the arrays
 * directly; MFR_OK otherwise (ratings.c). */
int mfr_ratings_refuse_view(const mfr_ratings *r, const char *fn, mfr_error *err);

/* Where each of n ratings (in file order) goes in the parts
 * mfr_split_create makes of them, without copying a rating: pos[f] <
 * *n_test: the f-th rating is test rating pos[f]; else it is training rating
 * pos[f] - *n_test. The parts are those of the dataset's own ratings, so
 * only the sklearn and random specs (which depend on n and the seed only);
 * a canonical spec is MFR_ERR_UNSUPPORTED. n <= 2^31 - 1 (MFR_ERR_TOO_LARGE
 * above). *spec_out (optional) gets the normalized spec (malloc'd). Peak
 * memory: 8 n bytes for sklearn (pos and the permutation), 13 n for random. */
int mfr_split_positions(const char *spec, uint64_t seed, int64_t n, uint32_t *pos, int64_t *n_test,
                        char **spec_out, mfr_error *err);

/* true when the split specs a and b, each as written or normalized
 * ("random:.2", "random:0.2"), are the same split. */
bool mfr_split_specs_same(const char *a, const char *b);

struct mfr_split {
    char *spec;
    mfr_ratings *train;
    mfr_ratings *test;
};

#endif
