/*
 * csort_priv.h — a parallel, stable counting sort by a small integer key,
 * the building block of the CSR and CSC builders and the split.
 *
 * The input positions 0..n-1 are cut into chunks of consecutive positions;
 * each chunk counts its keys into its own histogram row, and the rows are
 * turned into write offsets key by key, chunk 0 first. A chunk then writes
 * its elements, in position order, at its offsets. The result is the
 * stable sort of the positions by key whatever the chunk count, so it is
 * the same for any thread count; the chunk count only bounds the
 * histogram's memory (chunks x keys x 8 bytes).
 *
 * Usage: mfr_csort_init, mfr_csort_count (or fill cs->off by hand), then
 * mfr_csort_offsets; each chunk c then scatters its positions
 * [mfr_csort_begin(cs, c), mfr_csort_begin(cs, c + 1)) through
 * mfr_csort_row(cs, c)[key]++. mfr_csort_free at the end.
 */
#ifndef MFR_CSORT_PRIV_H
#define MFR_CSORT_PRIV_H

#include "common_priv.h"

/* Below this many elements a setup loop runs on one thread: a parallel
 * region then costs more than the loop itself, and a whole scheduling
 * quantum when another process keeps a core busy (ML-100K's 100,000
 * ratings stay on one thread). Also the smallest counting-sort chunk. */
#define MFR_SETUP_PAR_MIN ((int64_t)1 << 17)

struct mfr_csort {
    int64_t n;        /* positions */
    int32_t n_keys;   /* keys are 0..n_keys-1 */
    int32_t n_chunks; /* 1 <= n_chunks <= threads */
    int n_threads;
    int64_t *off;     /* n_chunks x n_keys: counts, then write offsets */
};

/* Chunks for n positions over n_keys keys on n_threads threads (0: the
 * setup default): one chunk per thread, but at least MFR_SETUP_PAR_MIN
 * positions per chunk, and histograms of at most max(n, 2^20) entries in all. MFR_OK or
 * MFR_ERR_NOMEM. */
int mfr_csort_init(struct mfr_csort *cs, int64_t n, int32_t n_keys, int n_threads);
void mfr_csort_free(struct mfr_csort *cs);

static inline int64_t mfr_csort_begin(const struct mfr_csort *cs, int32_t c)
{
    /* floor(c * n / n_chunks) without overflowing c * n */
    return c * (cs->n / cs->n_chunks) + c * (cs->n % cs->n_chunks) / cs->n_chunks;
}

static inline int64_t *mfr_csort_row(const struct mfr_csort *cs, int32_t c)
{
    return cs->off + (size_t)c * (size_t)cs->n_keys;
}

/* Counts key[via[q]] (via NULL: key[q]) for every position q, per chunk, in
 * parallel. Keys must be in range (the callers check them first). */
void mfr_csort_count(struct mfr_csort *cs, const int32_t *key, const int64_t *via);

/* Turns the counts into write offsets, in parallel over keys; ptr (n_keys +
 * 1 entries, may be NULL) receives each key's first position in the sorted
 * order and ptr[n_keys] = n. */
void mfr_csort_offsets(struct mfr_csort *cs, int64_t *ptr);

#endif
