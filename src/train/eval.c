/*
 * eval.c — the trainer's parallel evaluation (mfr_trainer_evaluate): the
 * per-epoch validation of `mfrec train --log-every 1` must cost a small
 * fraction of an epoch, and mfr_model_evaluate is one thread in rating
 * order.
 *
 * Each prediction is the model's (mfr_model_predict: float sum over the row
 * in lane order, no FMA), so every error is the same as in
 * mfr_model_evaluate. The squares and absolute values are summed in double
 * per block of MFR_EVAL_BLOCK ratings, and the block sums in block order:
 * the blocks depend on the rating count only, so the result is the same for
 * any thread count (it may differ from mfr_model_evaluate's rating-order
 * sum in the last bits).
 */
#include <math.h>
#include <omp.h>

#include "dataset_priv.h"
#include "train_priv.h"

/* Ratings per partial sum. */
#define MFR_EVAL_BLOCK 8192

#if defined(__SSE__)
#include <xmmintrin.h>
/* Four predictions at once, vectorized across the four ratings: the
 * products of four lanes of each rating are transposed so that one vector
 * add adds lane j of all four, in lane order: each sum is predict_unchecked's
 * float chain. The padding lanes (k_row..k_pad) are zero: adding a zero
 * product leaves a sum that started at +0 unchanged, so all k_pad lanes are
 * added. */
static void predict4(const mfr_model *m, const int32_t *user, const int32_t *item, float out[4])
{
    const size_t k_pad = (size_t)m->k_pad;
    const float *u0 = m->U + (size_t)user[0] * k_pad, *v0 = m->V + (size_t)item[0] * k_pad;
    const float *u1 = m->U + (size_t)user[1] * k_pad, *v1 = m->V + (size_t)item[1] * k_pad;
    const float *u2 = m->U + (size_t)user[2] * k_pad, *v2 = m->V + (size_t)item[2] * k_pad;
    const float *u3 = m->U + (size_t)user[3] * k_pad, *v3 = m->V + (size_t)item[3] * k_pad;
    __m128 s = _mm_setzero_ps();
    for (size_t j = 0; j < k_pad; j += 4) {
        __m128 p0 = _mm_mul_ps(_mm_loadu_ps(u0 + j), _mm_loadu_ps(v0 + j));
        __m128 p1 = _mm_mul_ps(_mm_loadu_ps(u1 + j), _mm_loadu_ps(v1 + j));
        __m128 p2 = _mm_mul_ps(_mm_loadu_ps(u2 + j), _mm_loadu_ps(v2 + j));
        __m128 p3 = _mm_mul_ps(_mm_loadu_ps(u3 + j), _mm_loadu_ps(v3 + j));
        _MM_TRANSPOSE4_PS(p0, p1, p2, p3);
        s = _mm_add_ps(s, p0);
        s = _mm_add_ps(s, p1);
        s = _mm_add_ps(s, p2);
        s = _mm_add_ps(s, p3);
    }
    _mm_storeu_ps(out, s);
}
/* The rows of four ratings ahead: the ratings of a random split visit U's
 * rows in random order, so each one is a cache miss without it. */
static void prefetch4(const mfr_model *m, const int32_t *user, const int32_t *item)
{
    const size_t k_pad = (size_t)m->k_pad;
    for (int q = 0; q < 4; q++) {
        const char *u = (const char *)(m->U + (size_t)user[q] * k_pad);
        const char *v = (const char *)(m->V + (size_t)item[q] * k_pad);
        for (size_t off = 0; off < k_pad * sizeof(float); off += 64) {
            _mm_prefetch(u + off, _MM_HINT_T0);
            _mm_prefetch(v + off, _MM_HINT_T0);
        }
    }
}
#else
static void prefetch4(const mfr_model *m, const int32_t *user, const int32_t *item)
{
    (void)m, (void)user, (void)item;
}

/* Four independent float chains, each predict_unchecked's order. */
static void predict4(const mfr_model *m, const int32_t *user, const int32_t *item, float out[4])
{
    const size_t k_pad = (size_t)m->k_pad;
    for (int q = 0; q < 4; q++) out[q] = 0.0f;
    for (int32_t j = 0; j < m->k_row; j++)
        for (int q = 0; q < 4; q++)
            out[q] += m->U[(size_t)user[q] * k_pad + (size_t)j] * m->V[(size_t)item[q] * k_pad + (size_t)j];
}
#endif

static float predict1(const mfr_model *m, int32_t u, int32_t i)
{
    const float *pu = m->U + (size_t)u * (size_t)m->k_pad, *pi = m->V + (size_t)i * (size_t)m->k_pad;
    float s = 0.0f;
    for (int32_t j = 0; j < m->k_row; j++) s += pu[j] * pi[j];
    return s;
}

/* Squared and absolute errors of ratings [b, e), summed in rating order. */
static void block_sums(const mfr_model *m, const mfr_ratings *r, int64_t b, int64_t e, double *sq,
                       double *ab)
{
    double s = 0.0, a = 0.0;
    int64_t x = b;
    for (; x + 4 <= e; x += 4) {
        float p[4];
        if (x + 12 <= e) prefetch4(m, r->user + x + 8, r->item + x + 8);
        predict4(m, r->user + x, r->item + x, p);
        for (int q = 0; q < 4; q++) {
            double d = (double)p[q] - (double)r->rating[x + q];
            s += d * d;
            a += fabs(d);
        }
    }
    for (; x < e; x++) {
        double d = (double)predict1(m, r->user[x], r->item[x]) - (double)r->rating[x];
        s += d * d;
        a += fabs(d);
    }
    *sq = s;
    *ab = a;
}

/* The first rating of [b, e) whose index is outside the model, or e. */
static int64_t first_bad(const mfr_model *m, const mfr_ratings *r, int64_t b, int64_t e)
{
    for (int64_t x = b; x < e; x++)
        if (r->user[x] < 0 || r->user[x] >= m->n_users || r->item[x] < 0 || r->item[x] >= m->n_items)
            return x;
    return e;
}

int mfr_trainer_evaluate(const mfr_trainer *tr, const mfr_ratings *r, mfr_metrics *out, mfr_error *err)
{
    if (!tr || !r || !out)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_trainer_evaluate: %s is NULL",
                          !tr ? "trainer" : !r ? "ratings" : "out");
    if (r->n <= 0) return mfr_seterr(err, MFR_ERR_INVALID, "cannot evaluate on an empty rating set (0 ratings)");
    const mfr_model *m = tr->model;
    const int64_t n_blocks = (r->n + MFR_EVAL_BLOCK - 1) / MFR_EVAL_BLOCK;
    double *part = mfr_malloc(sizeof(double) * 2 * (size_t)n_blocks);
    int64_t *bad = mfr_malloc(sizeof(int64_t) * (size_t)n_blocks);
    if (!part || !bad) {
        mfr_free(part);
        mfr_free(bad);
        return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory");
    }
#pragma omp parallel for schedule(dynamic, 1) num_threads(tr->n_threads)
    for (int64_t blk = 0; blk < n_blocks; blk++) {
        int64_t b = blk * MFR_EVAL_BLOCK, e = r->n - b < MFR_EVAL_BLOCK ? r->n : b + MFR_EVAL_BLOCK;
        bad[blk] = first_bad(m, r, b, e);
        if (bad[blk] == e) block_sums(m, r, b, e, &part[2 * blk], &part[2 * blk + 1]);
    }
    double sq = 0.0, ab = 0.0;
    int rc = MFR_OK;
    for (int64_t blk = 0; blk < n_blocks && rc == MFR_OK; blk++) {
        int64_t b = blk * MFR_EVAL_BLOCK, e = r->n - b < MFR_EVAL_BLOCK ? r->n : b + MFR_EVAL_BLOCK;
        if (bad[blk] != e) {
            int64_t x = bad[blk];
            rc = mfr_seterr(err, MFR_ERR_MISMATCH, "rating %lld: (user %d, item %d) is outside the model's %d users x %d items",
                            (long long)x, (int)r->user[x], (int)r->item[x], (int)m->n_users, (int)m->n_items);
            break;
        }
        sq += part[2 * blk];
        ab += part[2 * blk + 1];
    }
    mfr_free(part);
    mfr_free(bad);
    if (rc != MFR_OK) return rc;
    out->n = r->n;
    out->mse = sq / (double)r->n;
    out->rmse = sqrt(out->mse);
    out->mae = ab / (double)r->n;
    return MFR_OK;
}
