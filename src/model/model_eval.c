/*
 * model_eval.c — mfr_model_evaluate: MSE, RMSE and MAE of a model over a
 * rating set, in parallel with the bits of the sequential definition.
 *
 * The error of one rating is (double)prediction - (double)rating, the
 * prediction the float sum of mfr_model_predict_unchecked; squares and
 * absolute values are summed in double in rating order. The predictions
 * (the O(n k) part) are computed in parallel, a block of ratings at a
 * time, eight ratings in the lanes of one vector (each still summed in its
 * own order, so the bits do not change); one thread sums each block's errors
 * in order while the next block is computed. Same result for any
 * thread count, equal to the plain sequential loop's.
 */
#include <math.h>
#include <omp.h>

#include "csort_priv.h"
#include "dataset_priv.h"
#include "kern_priv.h"
#include "model_priv.h"

#define EVAL_BLOCK 262144 /* 2 MiB of errors; few barriers even when a core is busy */

/* A view's ratings of the block being computed (dataset_priv.h), and the
 * first rating found outside the model (written under mfr_eval_bad, read
 * atomically: sum_errors' threads stop on it). */
struct gathered {
    int32_t *user, *item;
    float *rating;
    int64_t bad;
};

/* The first of n ratings whose user or item is outside the model, or n: a
 * few thousand at a time with no branch in the loop. */
static int64_t first_outside(const mfr_model *m, const int32_t *user, const int32_t *item, int64_t n)
{
    const uint32_t nu = (uint32_t)m->n_users, ni = (uint32_t)m->n_items;
    for (int64_t b = 0; b < n; b += 4096) {
        const int64_t e = b + 4096 < n ? b + 4096 : n;
        unsigned bad = 0;
        for (int64_t x = b; x < e; x++) bad |= ((uint32_t)user[x] >= nu) | ((uint32_t)item[x] >= ni);
        if (bad)
            for (int64_t x = b; x < e; x++)
                if (((uint32_t)user[x] >= nu) | ((uint32_t)item[x] >= ni)) return x;
    }
    return n;
}

/* Records rating `bad` outside the model when it is the first so far. */
static void note_bad(struct gathered *g, int64_t bad)
{
#pragma omp critical(mfr_eval_bad)
    {
        int64_t was;
#pragma omp atomic read
        was = g->bad;
        if (bad < was) {
#pragma omp atomic write
            g->bad = bad;
        }
    }
}

/* Errors of ratings [a0, a1) of r (in the block starting at lo) into
 * e[0..a1-a0): the kernel set's eval_errors (AVX2 where the CPU has it;
 * both give the bits of mfr_model_predict_unchecked). The indices are
 * checked against the model just before the kernel reads them (a view's
 * once gathered); a rating outside is noted and nothing is computed. */
static void block_errors(const struct mfr_kernel_set *kern, const mfr_model *m, const mfr_ratings *r,
                         struct gathered *g, int64_t lo, int64_t a0, int64_t a1, double *e)
{
    const int32_t *u = r->user + a0, *i = r->item + a0;
    const float *x = r->rating + a0;
    if (r->skip) {
        int32_t *gu = g->user + (a0 - lo), *gi = g->item + (a0 - lo);
        float *gr = g->rating + (a0 - lo);
        mfr_ratings_gather(r, a0, a1, gu, gi, gr);
        u = gu, i = gi, x = gr;
    }
    const int64_t bad = first_outside(m, u, i, a1 - a0);
    if (bad < a1 - a0) {
        note_bad(g, a0 + bad);
        return;
    }
    kern->eval_errors(m->U, m->V, m->k_pad, m->k_row, u, i, x, a1 - a0, e);
}

/* Releases a mapped r's pages of the rows before rating `end` (one past
 * the last block read), from *done on. */
static void release_read(const mfr_ratings *r, int64_t end, int64_t *done)
{
    if (!r->mapped) return;
    int64_t row = end >= r->n ? mfr_ratings_rows(r) : mfr_ratings_row(r, end);
    mfr_ratings_release_rows(r, *done, row);
    *done = row;
}

/* Where thread t's part of the block [lo, hi) starts: thread 0, which also
 * sums the previous block (about a third of a prediction's time per
 * rating), computes half a share, the others a whole one each. Which
 * thread computes an error does not change it. */
static inline int64_t part_start(int64_t lo, int64_t hi, int t, int nt)
{
    return t == 0 ? lo : lo + (hi - lo) * (2 * t - 1) / (2 * nt - 1);
}

/* Sums e*e and |e| over the errors of every rating, in rating order: while
 * every thread computes its part of block b, thread 0 then also sums block
 * b - 1. Stops at the first block with a rating outside the model (g->bad;
 * the sums are then meaningless). */
static void sum_errors(const struct mfr_kernel_set *kern, const mfr_model *m, const mfr_ratings *r,
                       int n_threads, double *buf, struct gathered *g, double *sq, double *ab)
{
    const int64_t n = r->n, n_blocks = (n + EVAL_BLOCK - 1) / EVAL_BLOCK;
    double s = 0.0, a = 0.0;
    int64_t released = 0;
    if (n_threads < 2 || n_blocks < 2) {
        for (int64_t b = 0; b < n_blocks && g->bad == n; b++) {
            int64_t lo = b * EVAL_BLOCK, hi = lo + EVAL_BLOCK < n ? lo + EVAL_BLOCK : n;
            block_errors(kern, m, r, g, lo, lo, hi, buf);
            if (g->bad < n) break;
            for (int64_t x = 0; x < hi - lo; x++) s += buf[x] * buf[x], a += fabs(buf[x]);
            release_read(r, hi, &released);
        }
        *sq = s, *ab = a;
        return;
    }
#pragma omp parallel num_threads(n_threads)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        /* step b: block b computed into buf[b % 2], block b - 1 summed */
        for (int64_t b = 0; b <= n_blocks; b++) {
            double *cur = buf + (b % 2) * EVAL_BLOCK, *prev = buf + ((b + 1) % 2) * EVAL_BLOCK;
            if (b < n_blocks) {
                int64_t lo = b * EVAL_BLOCK, hi = lo + EVAL_BLOCK < n ? lo + EVAL_BLOCK : n;
                int64_t a0 = part_start(lo, hi, t, nt), a1 = part_start(lo, hi, t + 1, nt);
                block_errors(kern, m, r, g, lo, a0, a1, cur + (a0 - lo));
            }
            if (t == 0 && b > 0) {
                int64_t lo = (b - 1) * EVAL_BLOCK, hi = lo + EVAL_BLOCK < n ? lo + EVAL_BLOCK : n;
                for (int64_t x = 0; x < hi - lo; x++) s += prev[x] * prev[x], a += fabs(prev[x]);
                release_read(r, hi, &released);
            }
#pragma omp barrier
            /* a bad index of block b or before: every thread sees it here
             * (a faster thread may already be checking block b + 1, whose
             * finds are not counted until after the next barrier) */
            int64_t seen;
#pragma omp atomic read
            seen = g->bad;
            if (seen < n && seen < (b + 1) * EVAL_BLOCK) break;
        }
    }
    *sq = s, *ab = a;
}

int mfr_model_evaluate_threads(const mfr_model *m, const mfr_ratings *r, int n_threads, mfr_metrics *out,
                               mfr_error *err)
{
    if (!m || !r || !out)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_model_evaluate: %s is NULL",
                          !m ? "model" : !r ? "ratings" : "out");
    if (m->sm)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "a softmax model ranks movies and does not predict ratings: no "
                          "rating metrics (MSE, RMSE, MAE); use the ranking metrics");
    if (r->n <= 0)
        return mfr_seterr(err, MFR_ERR_INVALID, "cannot evaluate on an empty rating set (0 ratings)");
    const int nt = r->n > EVAL_BLOCK ? (n_threads > 0 ? n_threads : mfr_setup_threads()) : 1;
    double *buf = mfr_malloc(sizeof(double) * 2 * EVAL_BLOCK);
    const size_t gn = r->skip ? EVAL_BLOCK : 1;
    struct gathered g = {mfr_malloc(sizeof(int32_t) * gn), mfr_malloc(sizeof(int32_t) * gn),
                         mfr_malloc(sizeof(float) * gn), r->n};
    if (!buf || !g.user || !g.item || !g.rating) {
        free(buf), free(g.user), free(g.item), free(g.rating);
        return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory evaluating the model");
    }
    double sq = 0.0, ab = 0.0;
    sum_errors(mfr_kernels_select(MFR_KERNELS_AUTO, NULL), m, r, nt, buf, &g, &sq, &ab);
    free(buf), free(g.user), free(g.item), free(g.rating);
    if (g.bad < r->n) {
        const int64_t f = mfr_ratings_row(r, g.bad);
        const bool user = r->user[f] < 0 || r->user[f] >= m->n_users;
        return mfr_seterr(err, MFR_ERR_MISMATCH, "rating %lld: %s index %d is outside the model's 0..%d",
                          (long long)g.bad, user ? "user" : "item", (int)(user ? r->user[f] : r->item[f]),
                          (int)(user ? m->n_users : m->n_items) - 1);
    }
    double n = (double)r->n;
    out->n = r->n;
    out->mse = sq / n;
    out->rmse = sqrt(out->mse);
    out->mae = ab / n;
    return MFR_OK;
}

int mfr_model_evaluate(const mfr_model *m, const mfr_ratings *r, mfr_metrics *out, mfr_error *err)
{
    return mfr_model_evaluate_threads(m, r, 0, out, err);
}
