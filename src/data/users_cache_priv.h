/*
 * users_cache_priv.h — the user-ordered dataset cache (dataset_cache.c):
 * a dataset's ratings sorted by user with each user's offset, so that a
 * rank of an MPI run maps the file and reads only its users' slice
 * (docs/MPI.md, "Reading only a rank's users").
 */
#ifndef MFR_USERS_CACHE_PRIV_H
#define MFR_USERS_CACHE_PRIV_H

#include "loader_priv.h"

/* What mfr_dataset_load resolves for (dir, options), without loading. */
struct mfr_load_id {
    char *cache_path;         /* the dataset cache's path (DIR/.mfrec-cache or the option) */
    char *dir;                /* the dataset's directory, resolved as the dataset records it */
    char *file;               /* the rating file the load named (absolute), or NULL */
    struct mfr_cache_key key; /* the key mfr_dataset_load builds */
};

/* MFR_OK, or the load's own errors (options, a missing rating file);
 * MFR_ERR_UNSUPPORTED when the options turn the cache off. */
int mfr_dataset_load_id(const char *dir, const mfr_load_options *opt, struct mfr_load_id *id, mfr_error *err);
void mfr_load_id_free(struct mfr_load_id *id);

/* A load whose rating file is parsed elsewhere (each MPI rank its slice,
 * src/mpi/mpi_load.c). */
struct mfr_load_text {
    struct mfr_loader ld;       /* ld.opt resolved (separator, header settled); ld.rfile, ld.rsyn */
    char *dir, *name;           /* ld's */
    float scale_min, scale_max; /* the reported scale, unless scale_from_data */
    bool scale_from_data;       /* the scale is the ratings' min and max (delimited, default range) */
    int meta_rc;                /* the metadata files' error (meta), reported after the rating file's */
    mfr_error meta_err;
};
/* Resolves (dir, opt) as mfr_dataset_load does and settles the rating
 * file's syntax (mapping the file when large: nothing parsed); `meta`: the
 * format's metadata files are read too, their ids in ld.users and ld.items. */
int mfr_dataset_load_text(const char *dir, const mfr_load_options *opt, bool meta, struct mfr_load_text *t,
                          mfr_error *err);
void mfr_load_text_free(struct mfr_load_text *t);

/* One rating of the user-ordered file: the user is implied by the offsets;
 * `index` is its position in the rating file (file order). */
struct mfr_urec {
    int32_t item;
    float rating;
    uint32_t index;
};

struct mfr_users_cache {
    mfr_dataset *ds;        /* ids, options, scale, fingerprint, dir, file; no ratings, no metadata */
    int64_t n;              /* ratings */
    const int64_t *offsets; /* n_users + 1: user u's ratings are recs[offsets[u]..offsets[u+1]) */
    /* the mapping */
    const unsigned char *map;
    size_t map_len;
    const struct mfr_urec *recs; /* not verified until mfr_users_cache_slice */
    const uint64_t *block_hash;
    int64_t n_blocks;
};

/* The user-ordered cache's path for a dataset cache path (".users" added). */
char *mfr_users_cache_path(const char *cache_path);
/* Writes it (atomically) from a whole dataset loaded with the key's load;
 * n < 2^32. */
int mfr_users_cache_write(const char *path, const struct mfr_cache_key *key, const mfr_dataset *ds, mfr_error *err);
/* The pieces of a writer that holds the records in parts (the ranks of
 * src/mpi/mpi_load.c): the records' file offset and the count of hash
 * blocks; block b's hash (its bytes: HASH_BLOCK of the records from
 * b * 2^20, fewer in the last); the bytes before the records (header, key,
 * counts, ids, offsets, block hashes: recs_at of them, malloc'd; ds gives
 * the counts, ids, resolved options, scale and fingerprint). The file is
 * head then the 12 * n bytes of records: what mfr_users_cache_write writes. */
#define MFR_USERS_HASH_BLOCK ((int64_t)1 << 20)
int64_t mfr_users_cache_recs_at(const struct mfr_cache_key *key, int32_t n_users, int32_t n_items, int64_t n,
                                int64_t *n_blocks);
uint64_t mfr_users_cache_block_hash(int64_t b, const void *block, size_t len);
int mfr_users_cache_head(const struct mfr_cache_key *key, const mfr_dataset *ds, int64_t n, const int64_t *off,
                         const uint64_t *bh, unsigned char **head, size_t *len);
/* Maps it when it exists and was built from exactly id's key: checks the
 * header, the key, the racy-source rule, the checksum of the counts, ids,
 * offsets and block hashes, and the offsets' order. MFR_ERR_NOT_FOUND
 * otherwise (absent, stale, corrupt). The ratings are not read. */
int mfr_users_cache_open(const char *path, const struct mfr_load_id *id, struct mfr_users_cache *uc);
/* The ratings of users [u_lo, u_hi), after checking the hash of every
 * block they lie in and their ranges (item, rating, index, the indices of
 * a user ascending): MFR_ERR_DATA names the file when a check fails. */
int mfr_users_cache_slice(const struct mfr_users_cache *uc, const char *path, int32_t u_lo, int32_t u_hi,
                          const struct mfr_urec **recs, mfr_error *err);
void mfr_users_cache_close(struct mfr_users_cache *uc);
/* Drops the mapping's resident pages (a later read maps them in again). */
void mfr_users_cache_release(const struct mfr_users_cache *uc);

#endif
