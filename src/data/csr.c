/*
 * csr.c — CSR and CSC builders and the user sharding (see csr_priv.h).
 * Both builders are counting sorts in parallel over chunks of ratings with
 * per-chunk histograms merged in chunk order (csort_priv.h); every pass
 * reads its input in order and writes through the chunks' cursors (no
 * scattered reads); the CSR's rows are then sorted by item, each by one
 * thread (a small set's are ordered by a by-item pass first instead:
 * csr_priv.h). The same bytes for any thread count.
 */
#include <string.h>

#include "csort_priv.h"
#include "csr_priv.h"
#include "dataset_priv.h"

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

/* Rows of at most this length are sorted by insertion (measured: it
 * matches the radix sort at about 24 and wins below). */
#define ROW_INSERTION_MAX 24

/* The bytes of an item index a row sort looks at: the digits of the
 * largest index, n_items - 1. */
static int item_digit_passes(int32_t n_items)
{
    int passes = 1;
    while (passes < 4 && ((uint32_t)(n_items > 0 ? n_items - 1 : 0) >> (8 * passes)) != 0) passes++;
    return passes;
}

/* Sorts a row's (item, rating) pairs by item, stably, with scratch ti/tr
 * of the row's length: insertion for short rows, else a least-significant-
 * digit radix sort over the item's bytes (`passes` of them), which is
 * stable. Against the bottom-up merge sort it replaced: 90 pairs 3.1 ->
 * 0.57 us, 200 pairs 8.4 -> 1.2 us (50k items; the merges' branches were
 * mispredicted). */
static void sort_row(int32_t *item, float *rating, int64_t len, int passes, int32_t *ti, float *tr)
{
    int64_t sorted = 1;
    while (sorted < len && item[sorted - 1] <= item[sorted]) sorted++;
    if (sorted == len) return;
    if (len <= ROW_INSERTION_MAX) {
        for (int64_t a = sorted; a < len; a++) {
            int32_t ki = item[a];
            float kr = rating[a];
            int64_t b = a;
            for (; b > 0 && item[b - 1] > ki; b--) item[b] = item[b - 1], rating[b] = rating[b - 1];
            item[b] = ki, rating[b] = kr;
        }
        return;
    }
    int32_t *si = item, *di = ti;
    float *sr = rating, *dr = tr;
    for (int p = 0; p < passes; p++) {
        const int shift = 8 * p;
        int64_t at[256] = {0};
        for (int64_t x = 0; x < len; x++) at[((uint32_t)si[x] >> shift) & 255]++;
        int64_t sum = 0;
        for (int d = 0; d < 256; d++) {
            const int64_t c = at[d];
            at[d] = sum, sum += c;
        }
        for (int64_t x = 0; x < len; x++) {
            const int64_t o = at[((uint32_t)si[x] >> shift) & 255]++;
            di[o] = si[x], dr[o] = sr[x];
        }
        int32_t *xi = si;
        float *xr = sr;
        si = di, sr = dr, di = xi, dr = xr;
    }
    if (si != item) {
        memcpy(item, si, sizeof *item * (size_t)len);
        memcpy(rating, sr, sizeof *rating * (size_t)len);
    }
}

/* Each user's row sorted by item (stable), rows in parallel: the order the
 * rows get does not depend on which thread sorts them. */
static int sort_rows(struct mfr_csr *out, int n_threads)
{
    int64_t longest = 0;
    for (int32_t u = 0; u < out->n_users; u++)
        if (out->row_ptr[u + 1] - out->row_ptr[u] > longest) longest = out->row_ptr[u + 1] - out->row_ptr[u];
    if (longest <= ROW_INSERTION_MAX) longest = 0;
    const int passes = item_digit_passes(out->n_items);
    int bad = 0;
#pragma omp parallel num_threads(n_threads) if (out->nnz >= MFR_SETUP_PAR_MIN) reduction(| : bad)
    {
        int32_t *ti = longest ? mfr_malloc(sizeof *ti * (size_t)longest) : NULL;
        float *tr = longest ? mfr_malloc(sizeof *tr * (size_t)longest) : NULL;
        bad = longest && (!ti || !tr);
#pragma omp for schedule(dynamic, 4096)
        for (int32_t u = 0; u < out->n_users; u++) {
            const int64_t b = out->row_ptr[u], len = out->row_ptr[u + 1] - b;
            if (!bad || len <= ROW_INSERTION_MAX) sort_row(out->item + b, out->rating + b, len, passes, ti, tr);
        }
        free(ti), free(tr);
    }
    return bad ? MFR_ERR_NOMEM : MFR_OK;
}

/* Rows between releases of a mapped input's pages. */
#define RELEASE_ROWS ((int64_t)1 << 20)

/* The error for row `bad` of r outside n_users x n_items (named by its
 * index in r: a view's skipped rows do not count); frees out. */
static int out_of_range(const mfr_ratings *r, int64_t bad, struct mfr_csr *out, mfr_error *err)
{
    int64_t idx = bad;
    for (int64_t f = 0; r->skip && f < bad; f++) idx -= r->skip[f];
    const int32_t u = r->user[bad], i = r->item[bad], nu = out->n_users, ni = out->n_items;
    mfr_csr_free(out);
    return mfr_seterr(err, MFR_ERR_MISMATCH, "rating %lld has (user %d, item %d) outside %d x %d",
                      (long long)idx, (int)u, (int)i, (int)nu, (int)ni);
}

/* A set of at most MFR_CSR_TWO_PASS_MAX ratings (out's arrays allocated):
 * pass 1 orders the rows (a view's kept ones) by item, stably, into a copy,
 * checking their range and releasing a mapped input behind it; pass 2
 * sorts the copy by user, stably, which leaves each user's items
 * ascending, ties in input order. */
static int csr_two_pass(const mfr_ratings *r, int n_threads, struct mfr_csr *out, mfr_error *err)
{
    const int64_t n = r->n, rows = mfr_ratings_rows(r);
    const unsigned char *skip = r->skip;
    const uint32_t nu = (uint32_t)out->n_users, ni = (uint32_t)out->n_items;
    struct mfr_csort by_i = {0}, by_u = {0};
    size_t n4 = sizeof(int32_t) * (size_t)(n ? n : 1);
    int32_t *tu = mfr_malloc(n4), *ti = mfr_malloc(n4);
    float *tr = mfr_malloc(n4);
    int rc = MFR_ERR_NOMEM;
    if (!tu || !ti || !tr || mfr_csort_init(&by_i, rows, out->n_items, n_threads) != MFR_OK ||
        mfr_csort_init(&by_u, n, out->n_users, n_threads) != MFR_OK)
        goto done;
    int64_t bad = rows;
#pragma omp parallel for schedule(static, 1) num_threads(n_threads) if (by_i.n_chunks > 1) reduction(min : bad)
    for (int32_t c = 0; c < by_i.n_chunks; c++) {
        int64_t *row = mfr_csort_row(&by_i, c);
        const int64_t end = mfr_csort_begin(&by_i, c + 1); /* once: the row stores may alias the sort (two divisions a row) */
        for (int64_t q = mfr_csort_begin(&by_i, c); q < end; q++) {
            if (skip && skip[q]) continue;
            if (((uint32_t)r->user[q] >= nu) | ((uint32_t)r->item[q] >= ni)) {
                if (q < bad) bad = q;
                break;
            }
            row[r->item[q]]++;
        }
    }
    if (bad < rows) {
        rc = out_of_range(r, bad, out, err);
        goto done;
    }
    mfr_csort_offsets(&by_i, NULL);
#pragma omp parallel for schedule(static, 1) num_threads(n_threads) if (by_i.n_chunks > 1)
    for (int32_t c = 0; c < by_i.n_chunks; c++) {
        int64_t *off = mfr_csort_row(&by_i, c);
        const int64_t begin = mfr_csort_begin(&by_i, c), end = mfr_csort_begin(&by_i, c + 1);
        for (int64_t q0 = begin; q0 < end; q0 += RELEASE_ROWS) {
            const int64_t q1 = q0 + RELEASE_ROWS < end ? q0 + RELEASE_ROWS : end;
            mfr_ratings_populate_rows(r, q0, q1, MFR_ROWS_UIR);
            for (int64_t q = q0; q < q1; q++) {
                if (skip && skip[q]) continue;
                int64_t dst = off[r->item[q]]++;
                tu[dst] = r->user[q], ti[dst] = r->item[q], tr[dst] = r->rating[q];
            }
            mfr_ratings_release_rows(r, q0, q1);
        }
    }
    mfr_csort_count(&by_u, tu, NULL);
    mfr_csort_offsets(&by_u, out->row_ptr);
#pragma omp parallel for schedule(static, 1) num_threads(n_threads) if (by_u.n_chunks > 1)
    for (int32_t c = 0; c < by_u.n_chunks; c++) {
        int64_t *off = mfr_csort_row(&by_u, c);
        const int64_t end = mfr_csort_begin(&by_u, c + 1); /* once: the row stores may alias the sort (two divisions a row) */
        for (int64_t q = mfr_csort_begin(&by_u, c); q < end; q++) {
            int64_t dst = off[tu[q]]++;
            out->item[dst] = ti[q], out->rating[dst] = tr[q];
        }
    }
    rc = MFR_OK;
done:
    mfr_csort_free(&by_i);
    mfr_csort_free(&by_u);
    free(tu), free(ti), free(tr);
    if (rc != MFR_ERR_NOMEM) return rc;
    mfr_csr_free(out);
    return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory building the CSR of %lld ratings", (long long)n);
}

int mfr_csr_build_ratings(int32_t n_users, int32_t n_items, const mfr_ratings *r, int n_threads,
                          struct mfr_csr *out, mfr_error *err)
{
    return mfr_csr_build_path(n_users, n_items, r, n_threads, r->n <= MFR_CSR_TWO_PASS_MAX, out, err);
}

int mfr_csr_build_path(int32_t n_users, int32_t n_items, const mfr_ratings *r, int n_threads, bool two_pass,
                       struct mfr_csr *out, mfr_error *err)
{
    memset(out, 0, sizeof *out);
    struct mfr_csort by_u = {0};
    const int64_t n = r->n, rows = mfr_ratings_rows(r);
    const unsigned char *skip = r->skip;
    if (mfr_csr_bytes(n_users, n) == 0 || n_items < 0)
        return mfr_seterr(err, MFR_ERR_TOO_LARGE, "CSR of %lld ratings overflows",
                          (long long)n);
    n_threads = n_threads > 0 ? n_threads : mfr_setup_threads();
    out->n_users = n_users;
    out->n_items = n_items;
    out->nnz = n;
    size_t n4 = sizeof(int32_t) * (size_t)(n ? n : 1);
    out->row_ptr = mfr_malloc(sizeof(int64_t) * ((size_t)n_users + 1));
    out->item = mfr_malloc(n4);
    out->rating = mfr_malloc(n4);
    if (!out->row_ptr || !out->item || !out->rating) goto nomem;
    if (two_pass) return csr_two_pass(r, n_threads, out, err);
    if (mfr_csort_init(&by_u, rows, n_users, n_threads) != MFR_OK) goto nomem;

    /* A stable counting sort by user of the rows in order (skipping a
     * view's skipped rows), each row then sorted by item, stably: each
     * user's items ascending, ties in input order. No copy of the input:
     * it is read in order twice, a mapped input's pages released behind. */
    int64_t bad = rows; /* the first row outside n_users x n_items */
#pragma omp parallel for schedule(static, 1) num_threads(n_threads) if (by_u.n_chunks > 1) reduction(min : bad)
    for (int32_t c = 0; c < by_u.n_chunks; c++) {
        int64_t *row = mfr_csort_row(&by_u, c);
        const int64_t begin = mfr_csort_begin(&by_u, c), end = mfr_csort_begin(&by_u, c + 1);
        int64_t first = rows;
        for (int64_t q0 = begin; q0 < end && first == rows; q0 += RELEASE_ROWS) {
            const int64_t q1 = q0 + RELEASE_ROWS < end ? q0 + RELEASE_ROWS : end;
            mfr_ratings_populate_rows(r, q0, q1, MFR_ROWS_USER | MFR_ROWS_ITEM);
            for (int64_t q = q0; q < q1; q++) {
                if (skip && skip[q]) continue;
                if (((uint32_t)r->user[q] >= (uint32_t)n_users) | ((uint32_t)r->item[q] >= (uint32_t)n_items)) {
                    first = q;
                    break;
                }
                row[r->user[q]]++;
            }
            mfr_ratings_release_rows(r, q0, q1);
        }
        if (first < bad) bad = first;
    }
    if (bad < rows) {
        mfr_csort_free(&by_u);
        return out_of_range(r, bad, out, err);
    }
    mfr_csort_offsets(&by_u, out->row_ptr);
    out->row_ptr[n_users] = n; /* (the offsets end at the rows read: a view's skipped ones too) */
#pragma omp parallel for schedule(static, 1) num_threads(n_threads) if (by_u.n_chunks > 1)
    for (int32_t c = 0; c < by_u.n_chunks; c++) {
        int64_t *off = mfr_csort_row(&by_u, c);
        const int64_t begin = mfr_csort_begin(&by_u, c), end = mfr_csort_begin(&by_u, c + 1);
        for (int64_t q0 = begin; q0 < end; q0 += RELEASE_ROWS) {
            const int64_t q1 = q0 + RELEASE_ROWS < end ? q0 + RELEASE_ROWS : end;
            mfr_ratings_populate_rows(r, q0, q1, MFR_ROWS_UIR);
            for (int64_t q = q0; q < q1; q++) {
                if (skip && skip[q]) continue;
                int64_t dst = off[r->user[q]]++;
                out->item[dst] = r->item[q];
                out->rating[dst] = r->rating[q];
            }
            mfr_ratings_release_rows(r, q0, q1);
        }
    }
    mfr_csort_free(&by_u);
    if (sort_rows(out, n_threads) != MFR_OK) goto nomem;
    return MFR_OK;
nomem:
    mfr_csort_free(&by_u);
    mfr_csr_free(out);
    return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory building the CSR of %lld ratings",
                      (long long)n);
}

int mfr_csr_build(int32_t n_users, int32_t n_items, int64_t n, const int32_t *users,
                  const int32_t *items, const float *ratings, int n_threads, struct mfr_csr *out,
                  mfr_error *err)
{
    const mfr_ratings r = {.n = n, .user = (int32_t *)(uintptr_t)users, .item = (int32_t *)(uintptr_t)items,
                           .rating = (float *)(uintptr_t)ratings, .borrowed = true};
    return mfr_csr_build_ratings(n_users, n_items, &r, n_threads, out, err);
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
