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
