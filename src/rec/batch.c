/*
 * batch.c — recommendations for a range of users at once, in parallel
 * (`mfrec recommend --all-users`).
 *
 * Why here and with OpenMP: the tools have no OpenMP, and the work is an
 * independent mfr_model_recommend per user. Users are taken in groups of
 * MFR_RANK_GROUP (mfr_model_recommend_group: V read once a group, not
 * once a user); each group's lists are computed by one thread from
 * read-only inputs into its own slots of the output, each list the same as
 * mfr_model_recommend's, so the result is identical for every thread count
 * (no sums cross users).
 *
 * Memory: a CSR of the range's rated items (counting sort of `rated`,
 * O(nnz) time) and one n_items flag array per thread (a bit per user of
 * the group).
 */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "common_priv.h"
#include "model_priv.h"
#include "dataset_priv.h"

/* The rated items of users [first, first + count), grouped by user:
 * items[off[u - first] .. off[u - first + 1]). */
struct range_csr {
    int64_t *off;
    int32_t *items;
};

static int range_csr_build(const mfr_ratings *r, int32_t first, int32_t count,
                           struct range_csr *c, mfr_error *err)
{
    c->off = mfr_calloc((size_t)count + 1, sizeof *c->off);
    if (!c->off) return mfr_seterr(err, MFR_ERR_NOMEM, "batch: out of memory for %d users", (int)count);
    int64_t n = r ? r->n : 0;
    for (int64_t x = 0; x < n; x++) {
        int64_t u = (int64_t)r->user[x] - first;
        if (u >= 0 && u < count) c->off[u + 1]++;
    }
    for (int32_t u = 0; u < count; u++) c->off[u + 1] += c->off[u];
    c->items = mfr_malloc(((size_t)c->off[count] + 1) * sizeof *c->items);
    int64_t *fill = mfr_malloc(((size_t)count + 1) * sizeof *fill);
    if (!c->items || !fill) {
        free(fill);
        return mfr_seterr(err, MFR_ERR_NOMEM, "batch: out of memory for %lld rated items",
                          (long long)c->off[count]);
    }
    memcpy(fill, c->off, (size_t)count * sizeof *fill);
    for (int64_t x = 0; x < n; x++) {
        int64_t u = (int64_t)r->user[x] - first;
        if (u >= 0 && u < count) c->items[fill[u]++] = r->item[x];
    }
    free(fill);
    return MFR_OK;
}

static int batch_check(const mfr_model *m, int32_t first, int32_t count, int32_t n_top, int measure,
                       const mfr_ratings *rated, int32_t n_threads, const int32_t *items_out,
                       const int32_t *n_out, mfr_error *err)
{
    if (!m || !items_out || !n_out)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_model_recommend_users: %s is NULL",
                          !m ? "model" : !items_out ? "items_out" : "n_out");
    if (n_top < 1)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "mfr_model_recommend_users: n_top must be >= 1, got %d", (int)n_top);
    if (count < 0)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "mfr_model_recommend_users: count must be >= 0, got %d", (int)count);
    if (first < 0 || (int64_t)first + count > m->n_users)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "mfr_model_recommend_users: users %d..%lld are outside the model's "
                          "0..%d",
                          (int)first, (long long)first + count - 1, (int)m->n_users - 1);
    /* here, not only in each group's ranking: no group runs for count 0 */
    int rc = mfr_measure_check(measure, err);
    if (rc == MFR_OK) rc = mfr_check_threads("mfr_model_recommend_users", n_threads, err);
    if (rc == MFR_OK) rc = mfr_ratings_refuse_view(rated, "mfr_model_recommend_users", err);
    if (rc != MFR_OK) return rc;
    for (int64_t x = 0; rated && x < rated->n; x++)
        if (rated->user[x] < 0 || rated->user[x] >= m->n_users || rated->item[x] < 0 ||
            rated->item[x] >= m->n_items)
            return mfr_seterr(err, MFR_ERR_MISMATCH,
                              "mfr_model_recommend_users: rating %lld (user %d, item %d) is "
                              "outside the model",
                              (long long)x, (int)rated->user[x], (int)rated->item[x]);
    return MFR_OK;
}

int mfr_model_recommend_users(const mfr_model *m, int32_t first, int32_t count, int32_t n_top,
                              int measure, const mfr_ratings *rated,
                              const uint8_t *exclude_items, int32_t n_threads,
                              int32_t *items_out, float *scores_out, int32_t *n_out,
                              mfr_error *err)
{
    int rc = batch_check(m, first, count, n_top, measure, rated, n_threads, items_out, n_out, err);
    if (rc != MFR_OK) return rc;
    struct range_csr c = {0};
    if ((rc = range_csr_build(rated, first, count, &c, err)) != MFR_OK) goto done;
    const int32_t width = n_top < m->n_items ? n_top : m->n_items;
    const int32_t n_items = m->n_items;
    int threads = n_threads > 0 ? n_threads : mfr_setup_threads();
    /* the error reported is the lowest group's (-1: a thread's flags), so
     * that it does not depend on which thread failed first */
    int32_t err_grp = INT32_MAX;
    mfr_error first_err = {0};
    const int32_t n_groups = (int32_t)(((int64_t)count + MFR_RANK_GROUP - 1) / MFR_RANK_GROUP);
#pragma omp parallel num_threads(threads)
    {
        /* bit g: rated by the group's user g; bit 7: excluded for all */
        uint8_t *flags = mfr_malloc((size_t)n_items + 1);
        if (!flags) {
#pragma omp critical(mfr_batch_error)
            if (err_grp > -1) {
                err_grp = -1;
                mfr_seterr(&first_err, MFR_ERR_NOMEM, "batch: out of memory for item flags");
            }
        } else {
            for (int32_t i = 0; i < n_items; i++) flags[i] = exclude_items && exclude_items[i] ? 0x80 : 0;
        }
#pragma omp for schedule(dynamic, 8)
        for (int32_t grp = 0; grp < n_groups; grp++) {
            if (!flags) continue;
            const int32_t u0 = grp * MFR_RANK_GROUP;
            const int32_t n_g = count - u0 < MFR_RANK_GROUP ? count - u0 : MFR_RANK_GROUP;
            int32_t users[MFR_RANK_GROUP], *items[MFR_RANK_GROUP];
            float *scores[MFR_RANK_GROUP];
            uint8_t masks[MFR_RANK_GROUP];
            for (int32_t g = 0; g < n_g; g++) {
                const int32_t u = u0 + g;
                for (int64_t x = c.off[u]; x < c.off[u + 1]; x++) flags[c.items[x]] |= (uint8_t)(1u << g);
                const size_t at = (size_t)u * (size_t)width;
                users[g] = first + u, items[g] = items_out + at, masks[g] = (uint8_t)(0x80u | 1u << g);
                scores[g] = scores_out ? scores_out + at : NULL;
            }
            mfr_error e = {0};
            if (mfr_model_recommend_group(m, users, n_g, n_top, measure, flags, masks, items,
                                          scores_out ? scores : NULL, n_out + u0, &e) != MFR_OK) {
#pragma omp critical(mfr_batch_error)
                if (grp < err_grp) {
                    err_grp = grp;
                    first_err = e;
                }
            }
            for (int32_t g = 0; g < n_g; g++)
                for (int64_t x = c.off[u0 + g]; x < c.off[u0 + g + 1]; x++) flags[c.items[x]] &= 0x80;
        }
        free(flags);
    }
    if (err_grp != INT32_MAX) {
        rc = first_err.status;
        if (err) *err = first_err;
    }
done:
    free(c.off);
    free(c.items);
    return rc;
}
