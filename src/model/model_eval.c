/*
 * model_eval.c — mfr_model_evaluate: MSE, RMSE and MAE of a model over a
 * rating set, in parallel, with the same bits for any thread count.
 *
 * The error of one rating is (double)prediction - (double)rating, the
 * prediction mfr_model_predict_unchecked's (the kernels' dot product);
 * squares and absolute values are summed in double as model_priv.h
 * defines (mfr_eval_chunk_sums: chunks of 4096 ratings, eight lanes in
 * each, the chunks' sums in order). Each thread computes whole chunks,
 * eight ratings' dot products side by side, and their sums; one thread
 * adds the chunks' sums in order at the end. Which thread computes a
 * chunk does not change a bit.
 */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "csort_priv.h"
#include "dataset_priv.h"
#include "kern_priv.h"
#include "model_priv.h"

#define EVAL_BLOCK 262144 /* ratings between two releases of a mapped set's pages read */
#define EVAL_THREADS_MIN (16 * MFR_EVAL_SUM_CHUNK) /* fewer: one thread (no fork) */

/* Two lanes of doubles (GCC and Clang vector extensions: SSE2 on x86-64,
 * the target's own vectors or scalar code elsewhere). The loop below is
 * lane for lane the scalar definition (each lane's square, then its add;
 * fabs by clearing the sign bit), written this way because the compiler
 * left that loop scalar, and it was a fifth of an ML-100K evaluation. */
typedef double v2d __attribute__((vector_size(16)));
typedef uint64_t v2u __attribute__((vector_size(16)));

void mfr_eval_chunk_sums(const double *e, int64_t n, double *sq, double *ab)
{
    double s[8] = {0}, a[8] = {0};
    int64_t x = 0;
    if (n >= 8) {
        const v2u no_sign = {~(UINT64_C(1) << 63), ~(UINT64_C(1) << 63)};
        v2d vs[4] = {{0}}, va[4] = {{0}};
        for (; x + 8 <= n; x += 8)
            for (int l = 0; l < 4; l++) {
                v2d v;
                memcpy(&v, e + x + 2 * l, sizeof v);
                vs[l] += v * v;
                va[l] += (v2d)((v2u)v & no_sign);
            }
        for (int l = 0; l < 4; l++)
            for (int h = 0; h < 2; h++) s[2 * l + h] = vs[l][h], a[2 * l + h] = va[l][h];
    }
    for (int l = 0; x < n; x++, l++) s[l] += e[x] * e[x], a[l] += fabs(e[x]);
    *sq += ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
    *ab += ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

/* One thread's buffers: the errors of its chunk, and a view's ratings of
 * it (dataset_priv.h) once gathered. */
struct chunk_buf {
    double *e;
    int32_t *user, *item;
    float *rating;
};

/* The first of n ratings whose user or item is outside the model, or n:
 * no branch in the loop. */
static int64_t first_outside(const mfr_model *m, const int32_t *user, const int32_t *item, int64_t n)
{
    const uint32_t nu = (uint32_t)m->n_users, ni = (uint32_t)m->n_items;
    unsigned bad = 0;
    for (int64_t x = 0; x < n; x++) bad |= ((uint32_t)user[x] >= nu) | ((uint32_t)item[x] >= ni);
    if (bad)
        for (int64_t x = 0; x < n; x++)
            if (((uint32_t)user[x] >= nu) | ((uint32_t)item[x] >= ni)) return x;
    return n;
}

/* Whether U's and V's rows are too many to stay near a core (above 2 MiB:
 * twice the L2 of this project's machine, the rest in L3), so that the
 * kernel should fetch them ahead: on ML-100K (0.3 MiB at k 30) the
 * fetches slowed it by a quarter. */
static int rows_far(const mfr_model *m)
{
    return ((size_t)m->n_users + (size_t)m->n_items) * (size_t)m->k_pad * sizeof(float) > ((size_t)2 << 20);
}

/* Records rating `bad` outside the model when it is the first so far
 * (*first only decreases; read atomically by the other threads). */
static void note_bad(int64_t *first, int64_t bad)
{
#pragma omp critical(mfr_eval_bad)
    {
        int64_t was;
#pragma omp atomic read
        was = *first;
        if (bad < was) {
#pragma omp atomic write
            *first = bad;
        }
    }
}

/* The sums of ratings [lo, hi) of r (one chunk) into sums[0..1], through
 * the kernel set's eval_errors (AVX2 where the CPU has it; both give the
 * bits of mfr_model_predict_unchecked). The indices are checked just
 * before the kernel reads them; a rating outside is noted in *first and
 * nothing is computed. */
static void chunk_sums(const struct mfr_kernel_set *kern, const mfr_model *m, const mfr_ratings *r,
                       struct chunk_buf *cb, int64_t lo, int64_t hi, int64_t *row, int64_t *first, double *sums)
{
    const int32_t *u = r->user + lo, *i = r->item + lo;
    const float *x = r->rating + lo;
    if (r->skip) {
        *row = mfr_ratings_gather_rows(r, *row, hi - lo, cb->user, cb->item, cb->rating);
        u = cb->user, i = cb->item, x = cb->rating;
    }
    const int64_t bad = first_outside(m, u, i, hi - lo);
    if (bad < hi - lo) {
        note_bad(first, lo + bad);
        return;
    }
    kern->eval_errors(m->U, m->V, m->k_pad, u, i, x, hi - lo, rows_far(m), cb->e);
    sums[0] = sums[1] = 0.0;
    mfr_eval_chunk_sums(cb->e, hi - lo, &sums[0], &sums[1]);
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

/* Every chunk's sums into sums[2c], sums[2c + 1], a block of chunks at a
 * time, a mapped set's pages released behind each block. The chunks are
 * shared dynamically (a busy core takes fewer) in groups: a view's
 * ratings are found from its view blocks' starts (mfr_ratings_row), so a
 * thread takes a view block's chunks together and reads on. Stops at the
 * first block with a rating outside the model (*first < n; the sums are
 * then meaningless). */
static void all_chunk_sums(const struct mfr_kernel_set *kern, const mfr_model *m, const mfr_ratings *r,
                           int n_threads, struct chunk_buf *cbs, int64_t *first, double *sums)
{
    const int64_t n = r->n, n_chunks = (n + MFR_EVAL_SUM_CHUNK - 1) / MFR_EVAL_SUM_CHUNK;
    const int64_t per_block = EVAL_BLOCK / MFR_EVAL_SUM_CHUNK;
    const int64_t per_group = r->skip ? MFR_VIEW_BLOCK / MFR_EVAL_SUM_CHUNK : 2;
    _Static_assert(EVAL_BLOCK % MFR_VIEW_BLOCK == 0 && MFR_VIEW_BLOCK % MFR_EVAL_SUM_CHUNK == 0,
                   "blocks hold whole view blocks, view blocks whole chunks");
    int64_t released = 0;
#pragma omp parallel num_threads(n_threads)
    {
        struct chunk_buf *cb = &cbs[omp_get_thread_num()];
        for (int64_t c0 = 0; c0 < n_chunks; c0 += per_block) {
            const int64_t c1 = c0 + per_block < n_chunks ? c0 + per_block : n_chunks;
#pragma omp for schedule(dynamic, 1)
            for (int64_t g = c0; g < c1; g += per_group) {
                int64_t row = r->skip ? mfr_ratings_row(r, g * MFR_EVAL_SUM_CHUNK) : 0;
                if (r->mapped) { /* the group's rows, in one call (released behind, read again) */
                    const int64_t x0 = g * MFR_EVAL_SUM_CHUNK, x1 = (g + per_group) * MFR_EVAL_SUM_CHUNK;
                    mfr_ratings_populate_rows(r, mfr_ratings_row(r, x0),
                                              x1 >= n ? mfr_ratings_rows(r) : mfr_ratings_row(r, x1), MFR_ROWS_UIR);
                }
                for (int64_t c = g; c < g + per_group && c < c1; c++) {
                    const int64_t lo = c * MFR_EVAL_SUM_CHUNK;
                    const int64_t hi = lo + MFR_EVAL_SUM_CHUNK < n ? lo + MFR_EVAL_SUM_CHUNK : n;
                    chunk_sums(kern, m, r, cb, lo, hi, &row, first, sums + 2 * c);
                }
            }
            /* After the barrier every bad index of this block or before is
             * noted, and one no later (a fast thread's find in the next
             * block) cannot replace it: every thread decides alike. */
            int64_t seen;
#pragma omp atomic read
            seen = *first;
            if (seen < n && seen < c1 * MFR_EVAL_SUM_CHUNK) break;
#pragma omp single nowait
            release_read(r, c1 * MFR_EVAL_SUM_CHUNK, &released);
        }
    }
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
    const int nt = r->n >= EVAL_THREADS_MIN ? (n_threads > 0 ? n_threads : mfr_setup_threads()) : 1;
    const int64_t n_chunks = (r->n + MFR_EVAL_SUM_CHUNK - 1) / MFR_EVAL_SUM_CHUNK;
    const size_t c = MFR_EVAL_SUM_CHUNK, gc = r->skip ? c : 0;
    /* per thread: errors of a chunk; a view's gathered ratings of it */
    double *errs = mfr_malloc(sizeof(double) * (size_t)nt * c);
    int32_t *ids = gc ? mfr_malloc(sizeof(int32_t) * 2 * (size_t)nt * gc) : NULL;
    float *vals = gc ? mfr_malloc(sizeof(float) * (size_t)nt * gc) : NULL;
    double *sums = mfr_malloc(sizeof(double) * 2 * (size_t)n_chunks);
    struct chunk_buf *cbs = mfr_malloc(sizeof *cbs * (size_t)nt);
    if (!errs || (gc && (!ids || !vals)) || !sums || !cbs) {
        free(errs), free(ids), free(vals), free(sums), free(cbs);
        return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory evaluating the model");
    }
    for (int t = 0; t < nt; t++) {
        const size_t g = (size_t)t * gc;
        cbs[t] = (struct chunk_buf){errs + (size_t)t * c, gc ? ids + 2 * g : NULL, gc ? ids + 2 * g + gc : NULL,
                                    gc ? vals + g : NULL};
    }
    int64_t first_bad = r->n;
    all_chunk_sums(mfr_kernels_select(MFR_KERNELS_AUTO, NULL), m, r, nt, cbs, &first_bad, sums);
    double sq = 0.0, ab = 0.0;
    if (first_bad == r->n)
        for (int64_t x = 0; x < n_chunks; x++) sq += sums[2 * x], ab += sums[2 * x + 1];
    free(errs), free(ids), free(vals), free(sums), free(cbs);
    if (first_bad < r->n) {
        const int64_t f = mfr_ratings_row(r, first_bad);
        const bool user = r->user[f] < 0 || r->user[f] >= m->n_users;
        return mfr_seterr(err, MFR_ERR_MISMATCH, "rating %lld: %s index %d is outside the model's 0..%d",
                          (long long)first_bad, user ? "user" : "item", (int)(user ? r->user[f] : r->item[f]),
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
