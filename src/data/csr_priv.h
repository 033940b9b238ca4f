/*
 * csr_priv.h — compressed sparse rows of the training ratings (by user),
 * the transposed index by item (CSC) used by the item-owner reduction, and
 * the cut of the users into shards of contiguous users balanced by rating
 * count.
 */
#ifndef MFR_CSR_PRIV_H
#define MFR_CSR_PRIV_H

#include "common_priv.h"

/* Ratings grouped by user; within a user, items ascending. Training
 * results therefore depend on the set of ratings, not on their file order. */
struct mfr_csr {
    int32_t n_users, n_items;
    int64_t nnz;
    int64_t *row_ptr; /* n_users + 1 */
    int32_t *item;    /* nnz */
    float *rating;    /* nnz */
};

/* Per item, its ratings' users (ascending) and positions in the CSR. */
struct mfr_csc {
    int64_t *col_ptr; /* n_items + 1 */
    int32_t *user;    /* nnz */
    int64_t *pos;     /* nnz: index into the CSR arrays */
};

/* Bytes the builders below allocate (0 on overflow). */
size_t mfr_csr_bytes(int32_t n_users, int64_t nnz);
size_t mfr_csc_bytes(int32_t n_items, int64_t nnz);

/* Builds the CSR of n ratings (indices must be in range: checked, and a
 * violation is MFR_ERR_MISMATCH) on n_threads threads (0: the setup
 * default); the bytes do not depend on the thread count. */
int mfr_csr_build(int32_t n_users, int32_t n_items, int64_t n, const int32_t *users,
                  const int32_t *items, const float *ratings, int n_threads, struct mfr_csr *out,
                  mfr_error *err);
/* The same from a rating set, which may be a view (dataset_priv.h); a
 * mapped input's pages are released behind the pass. A set of at most
 * MFR_CSR_TWO_PASS_MAX ratings (ML-100K) is sorted by item, then by user,
 * through a 12-byte-a-rating copy; larger ones are sorted by user, then
 * each row by item (radix), with no copy: since the row sort is a radix
 * sort that is faster from about a million ratings (1M set, 1 thread:
 * trainer phase 47 -> 38 ms; 10M: 745-1036 -> 366-389 ms and 100 MiB less
 * peak). The same bytes either way. */
#define MFR_CSR_TWO_PASS_MAX ((int64_t)1 << 18)
/* mfr_csr_build_ratings with the path chosen (two_pass or not): for tests. */
int mfr_csr_build_path(int32_t n_users, int32_t n_items, const mfr_ratings *r, int n_threads, bool two_pass,
                       struct mfr_csr *out, mfr_error *err);
int mfr_csr_build_ratings(int32_t n_users, int32_t n_items, const mfr_ratings *r, int n_threads,
                          struct mfr_csr *out, mfr_error *err);
void mfr_csr_free(struct mfr_csr *c);

int mfr_csc_build(const struct mfr_csr *csr, int n_threads, struct mfr_csc *out, mfr_error *err);
void mfr_csc_free(struct mfr_csc *c);

/* Default shard count for a data size: ceil(nnz / 4096) clamped to
 * 1..128 and to n_users. Depends on the data only. */
int32_t mfr_shards_default(int32_t n_users, int64_t nnz);

/* The shard count of a training run, the one place that decides it:
 * `requested` (the configuration's n_shards) when non-zero, else
 * mfr_shards_default, capped for shard buffers (shard_buffers: the
 * shard-buffer reduction, whose memory and time grow with S x M x k_pad);
 * clamped to 1..n_users. Depends on the data and configuration only, never
 * on the thread count. */
int32_t mfr_shards_count(int32_t requested, int shard_buffers, int32_t n_users, int32_t n_items,
                         int32_t k_pad, int64_t nnz);

/* Cuts users into n_shards contiguous ranges [first[s], first[s+1]) with
 * balanced rating counts: shard s starts at the first user whose CSR
 * offset reaches s * nnz / n_shards. first has n_shards + 1 entries. */
void mfr_shards_cut(const struct mfr_csr *csr, int32_t n_shards, int32_t *first);

#endif
