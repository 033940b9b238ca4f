/*
 * csr.c — CSR and CSC builders and the user sharding (see csr_priv.h).
 * Both builders are counting sorts: O(nnz + n) time, no comparisons.
 */
#include <string.h>

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

int mfr_csr_build(int32_t n_users, int32_t n_items, int64_t n, const int32_t *users,
                  const int32_t *items, const float *ratings, struct mfr_csr *out,
                  mfr_error *err)
{
    memset(out, 0, sizeof *out);
    int64_t *by_item = NULL, *item_ptr = NULL;
    if (mfr_csr_bytes(n_users, n) == 0 || n_items < 0)
        return mfr_seterr(err, MFR_ERR_TOO_LARGE, "CSR of %lld ratings overflows",
                          (long long)n);
    for (int64_t j = 0; j < n; j++) {
        if (users[j] < 0 || users[j] >= n_users || items[j] < 0 || items[j] >= n_items)
            return mfr_seterr(err, MFR_ERR_MISMATCH,
                              "rating %lld has (user %d, item %d) outside %d x %d",
                              (long long)j, (int)users[j], (int)items[j], (int)n_users,
                              (int)n_items);
    }
    out->n_users = n_users;
    out->n_items = n_items;
    out->nnz = n;
    out->row_ptr = mfr_calloc((size_t)n_users + 1, sizeof(int64_t));
    out->item = mfr_malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    out->rating = mfr_malloc(sizeof(float) * (size_t)(n ? n : 1));
    item_ptr = mfr_calloc((size_t)n_items + 1, sizeof(int64_t));
    by_item = mfr_malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    if (!out->row_ptr || !out->item || !out->rating || !item_ptr || !by_item) goto nomem;

    /* Pass 1: order the ratings by item (stable). Pass 2: a stable sort of
     * that order by user leaves each user's items ascending. */
    for (int64_t j = 0; j < n; j++) item_ptr[items[j] + 1]++;
    for (int32_t i = 0; i < n_items; i++) item_ptr[i + 1] += item_ptr[i];
    for (int64_t j = 0; j < n; j++) by_item[item_ptr[items[j]]++] = j;

    for (int64_t j = 0; j < n; j++) out->row_ptr[users[j] + 1]++;
    for (int32_t u = 0; u < n_users; u++) out->row_ptr[u + 1] += out->row_ptr[u];
    /* item_ptr is reused as the per-user cursor. */
    int64_t *fill = mfr_realloc(item_ptr, sizeof(int64_t) * ((size_t)n_users + 1));
    if (!fill) goto nomem;
    item_ptr = fill;
    memcpy(fill, out->row_ptr, sizeof(int64_t) * ((size_t)n_users + 1));
    for (int64_t q = 0; q < n; q++) {
        int64_t j = by_item[q];
        int64_t dst = fill[users[j]]++;
        out->item[dst] = items[j];
        out->rating[dst] = ratings[j];
    }
    free(item_ptr);
    free(by_item);
    return MFR_OK;
nomem:
    free(item_ptr);
    free(by_item);
    mfr_csr_free(out);
    return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory building the CSR of %lld ratings",
                      (long long)n);
}

int mfr_csc_build(const struct mfr_csr *csr, struct mfr_csc *out, mfr_error *err)
{
    memset(out, 0, sizeof *out);
    int64_t nnz = csr->nnz;
    int64_t *fill = NULL;
    out->col_ptr = mfr_calloc((size_t)csr->n_items + 1, sizeof(int64_t));
    out->user = mfr_malloc(sizeof(int32_t) * (size_t)(nnz ? nnz : 1));
    out->pos = mfr_malloc(sizeof(int64_t) * (size_t)(nnz ? nnz : 1));
    fill = mfr_malloc(sizeof(int64_t) * ((size_t)csr->n_items + 1));
    if (!out->col_ptr || !out->user || !out->pos || !fill) {
        free(fill);
        mfr_csc_free(out);
        return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory building the CSC of %lld ratings",
                          (long long)nnz);
    }
    for (int64_t j = 0; j < nnz; j++) out->col_ptr[csr->item[j] + 1]++;
    for (int32_t i = 0; i < csr->n_items; i++) out->col_ptr[i + 1] += out->col_ptr[i];
    memcpy(fill, out->col_ptr, sizeof(int64_t) * ((size_t)csr->n_items + 1));
    /* Walking the CSR in user order keeps each item's users ascending. */
    for (int32_t u = 0; u < csr->n_users; u++) {
        for (int64_t j = csr->row_ptr[u]; j < csr->row_ptr[u + 1]; j++) {
            int64_t dst = fill[csr->item[j]]++;
            out->user[dst] = u;
            out->pos[dst] = j;
        }
    }
    free(fill);
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
