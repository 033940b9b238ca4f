/*
 * csr.c — CSR and CSC builders and the user sharding (see csr_priv.h).
 * Both builders are counting sorts in parallel over chunks of ratings with
 * per-chunk histograms merged in chunk order (csort_priv.h); every pass
 * reads its input in order and writes through the chunks' cursors (no
 * scattered reads). The same bytes for any thread count.
 */
#include <string.h>

#include "csort_priv.h"
#include "csr_priv.h"

size_t mfr_csr_bytes(int32_t n_users, int64_t nnz)
{
    size_t a, b, total;
    if (n_users < 0 || nnz < 0) return 0;
    if (!mfr_mul_size((size_t)n_users + 1, sizeof(int64_t), &a)) return 0;
    if (!mfr_mul_size((size_t)nnz, sizeof(int32_t) + sizeof(float), &b)) return 0;
    if (!mfr_add_size(a, b, &total)) return 0;
    return total;
}

size_t mfr_csc_bytes(int32_t n_items, int64_t nnz)
{
    size_t a, b, total;
    if (n_items < 0 || nnz < 0) return 0;
    if (!mfr_mul_size((size_t)n_items + 1, sizeof(int64_t), &a)) return 0;
    if (!mfr_mul_size((size_t)nnz, sizeof(int32_t) + sizeof(int64_t), &b)) return 0;
    if (!mfr_add_size(a, b, &total)) return 0;
    return total;
}

void mfr_csr_free(struct mfr_csr *c)
{
    if (!c) return;
    free(c->row_ptr);
    free(c->item);
    free(c->rating);
    memset(c, 0, sizeof *c);
}

void mfr_csc_free(struct mfr_csc *c)
{
    if (!c) return;
    free(c->col_ptr);
    free(c->user);
    free(c->pos);
    memset(c, 0, sizeof *c);
}

/* The first index j of users[]/items[] outside n_users x n_items, or n. */
static int64_t first_out_of_range(int32_t n_users, int32_t n_items, int64_t n,
                                  const int32_t *users, const int32_t *items, int n_threads)
{
    int64_t bad = n;
#pragma omp parallel for schedule(static) reduction(min : bad) num_threads(n_threads) \
    if (n >= MFR_SETUP_PAR_MIN)
    for (int64_t j = 0; j < n; j++)
        if (((uint32_t)users[j] >= (uint32_t)n_users) | ((uint32_t)items[j] >= (uint32_t)n_items))
            if (j < bad) bad = j;
    return bad;
}

/* The ratings ordered by item (stable): a scatter through per-chunk
 * offsets into the structure of arrays t. */
struct by_item {
    int32_t *user, *item;
    float *rating;
};

int mfr_csr_build(int32_t n_users, int32_t n_items, int64_t n, const int32_t *users,
                  const int32_t *items, const float *ratings, int n_threads, struct mfr_csr *out,
                  mfr_error *err)
{
    memset(out, 0, sizeof *out);
    struct mfr_csort by_i = {0}, by_u = {0};
    struct by_item t = {NULL, NULL, NULL};
    if (mfr_csr_bytes(n_users, n) == 0 || n_items < 0)
        return mfr_seterr(err, MFR_ERR_TOO_LARGE, "CSR of %lld ratings overflows",
                          (long long)n);
    n_threads = n_threads > 0 ? n_threads : mfr_setup_threads();
    int64_t j = first_out_of_range(n_users, n_items, n, users, items, n_threads);
    if (j < n)
        return mfr_seterr(err, MFR_ERR_MISMATCH,
                          "rating %lld has (user %d, item %d) outside %d x %d", (long long)j,
                          (int)users[j], (int)items[j], (int)n_users, (int)n_items);
    out->n_users = n_users;
    out->n_items = n_items;
    out->nnz = n;
    size_t n4 = sizeof(int32_t) * (size_t)(n ? n : 1);
    out->row_ptr = mfr_malloc(sizeof(int64_t) * ((size_t)n_users + 1));
    out->item = mfr_malloc(n4);
    out->rating = mfr_malloc(n4);
    t.user = mfr_malloc(n4);
    t.item = mfr_malloc(n4);
    t.rating = mfr_malloc(n4);
    if (!out->row_ptr || !out->item || !out->rating || !t.user || !t.item || !t.rating ||
        mfr_csort_init(&by_i, n, n_items, n_threads) != MFR_OK ||
        mfr_csort_init(&by_u, n, n_users, n_threads) != MFR_OK)
        goto nomem;

    /* Pass 1: the ratings ordered by item (stable), copied whole, so that
     * pass 2 reads them in order. Pass 2: a stable sort of that order by
     * user leaves each user's items ascending (ties in input order). Both
     * read sequentially and write through per-chunk cursors. */
    mfr_csort_count(&by_i, items, NULL);
    mfr_csort_offsets(&by_i, NULL);
#pragma omp parallel for schedule(static, 1) num_threads(n_threads) if (by_i.n_chunks > 1)
    for (int32_t c = 0; c < by_i.n_chunks; c++) {
        int64_t *off = mfr_csort_row(&by_i, c);
        for (int64_t q = mfr_csort_begin(&by_i, c); q < mfr_csort_begin(&by_i, c + 1); q++) {
            int64_t dst = off[items[q]]++;
            t.user[dst] = users[q];
            t.item[dst] = items[q];
            t.rating[dst] = ratings[q];
        }
    }
    mfr_csort_free(&by_i);
    mfr_csort_count(&by_u, t.user, NULL);
    mfr_csort_offsets(&by_u, out->row_ptr);
#pragma omp parallel for schedule(static, 1) num_threads(n_threads) if (by_u.n_chunks > 1)
    for (int32_t c = 0; c < by_u.n_chunks; c++) {
        int64_t *off = mfr_csort_row(&by_u, c);
        for (int64_t q = mfr_csort_begin(&by_u, c); q < mfr_csort_begin(&by_u, c + 1); q++) {
            int64_t dst = off[t.user[q]]++;
            out->item[dst] = t.item[q];
            out->rating[dst] = t.rating[q];
        }
    }
    mfr_csort_free(&by_u);
    free(t.user), free(t.item), free(t.rating);
    return MFR_OK;
nomem:
    mfr_csort_free(&by_i);
    mfr_csort_free(&by_u);
    free(t.user), free(t.item), free(t.rating);
    mfr_csr_free(out);
    return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory building the CSR of %lld ratings",
                      (long long)n);
}

/* The user whose row holds CSR position j (0 <= j < nnz). */
static int32_t user_of(const struct mfr_csr *csr, int64_t j)
{
    int32_t lo = 0, hi = csr->n_users - 1; /* row_ptr[lo] <= j < row_ptr[hi + 1] */
    while (lo < hi) {
        int32_t mid = lo + (hi - lo + 1) / 2;
        if (csr->row_ptr[mid] <= j)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

int mfr_csc_build(const struct mfr_csr *csr, int n_threads, struct mfr_csc *out, mfr_error *err)
{
    memset(out, 0, sizeof *out);
    int64_t nnz = csr->nnz;
    struct mfr_csort cs = {0};
    n_threads = n_threads > 0 ? n_threads : mfr_setup_threads();
    out->col_ptr = mfr_malloc(sizeof(int64_t) * ((size_t)csr->n_items + 1));
    out->user = mfr_malloc(sizeof(int32_t) * (size_t)(nnz ? nnz : 1));
    out->pos = mfr_malloc(sizeof(int64_t) * (size_t)(nnz ? nnz : 1));
    if (!out->col_ptr || !out->user || !out->pos ||
        mfr_csort_init(&cs, nnz, csr->n_items, n_threads) != MFR_OK) {
        mfr_csort_free(&cs);
        mfr_csc_free(out);
        return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory building the CSC of %lld ratings",
                          (long long)nnz);
    }
    mfr_csort_count(&cs, csr->item, NULL);
    mfr_csort_offsets(&cs, out->col_ptr);
    /* Positions in CSR (user) order keep each item's users ascending. */
#pragma omp parallel for schedule(static, 1) num_threads(n_threads) if (cs.n_chunks > 1)
    for (int32_t c = 0; c < cs.n_chunks; c++) {
        int64_t *off = mfr_csort_row(&cs, c);
        int64_t j = mfr_csort_begin(&cs, c), end = mfr_csort_begin(&cs, c + 1);
        if (j == end) continue;
        for (int32_t u = user_of(csr, j); j < end; u++) {
            for (int64_t row_end = csr->row_ptr[u + 1]; j < row_end && j < end; j++) {
                int64_t dst = off[csr->item[j]]++;
                out->user[dst] = u;
                out->pos[dst] = j;
            }
        }
    }
    mfr_csort_free(&cs);
    return MFR_OK;
}

int32_t mfr_shards_default(int32_t n_users, int64_t nnz)
{
    int64_t s = (nnz + 4095) / 4096;
    if (s < 1) s = 1;
    if (s > 128) s = 128;
    if (s > n_users && n_users > 0) s = n_users;
    return (int32_t)s;
}

int32_t mfr_shards_count(int32_t requested, int shard_buffers, int32_t n_users, int32_t n_items,
                         int32_t k_pad, int64_t nnz)
{
    int32_t n = requested ? requested : mfr_shards_default(n_users, nnz);
    if (!requested && shard_buffers) {
        /* Every shard zeroes and the reduction sums a whole n_items x k_pad
         * buffer per epoch: keep the buffers near 32 MiB, rounded up to a
         * multiple of 16 shards (which 1, 2, 4, 8 and 16 threads share
         * evenly). 10M ratings, k 32: 128 -> 32 shards; 48 shards gave
         * 61.7 / 32.6 ms/epoch at 1 / 2 threads, 32 give 58.7 / 30.4. */
        size_t row_bytes = (size_t)n_items * (size_t)k_pad * sizeof(float);
        size_t cap = row_bytes ? ((size_t)32 << 20) / row_bytes : (size_t)n;
        cap = (cap + 15) / 16 * 16;
        if (cap < 16) cap = 16;
        if ((size_t)n > cap) n = (int32_t)cap;
    }
    if (n > n_users) n = n_users;
    return n < 1 ? 1 : n;
}

void mfr_shards_cut(const struct mfr_csr *csr, int32_t n_shards, int32_t *first)
{
    int64_t nnz = csr->nnz;
    int32_t u = 0;
    first[0] = 0;
    for (int32_t s = 1; s < n_shards; s++) {
        /* floor(s * nnz / n_shards) without overflowing s * nnz. */
        int64_t target = s * (nnz / n_shards) + s * (nnz % n_shards) / n_shards;
        while (u < csr->n_users && csr->row_ptr[u] < target) u++;
        first[s] = u;
    }
    first[n_shards] = csr->n_users;
}
