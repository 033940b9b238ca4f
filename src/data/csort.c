/*
 * csort.c — the parallel stable counting sort of csort_priv.h. Integer
 * work only: the offsets are exact whatever
 * the chunking, so every thread count gives the same bytes.
 */
#include <omp.h>
#include <string.h>

#include "csort_priv.h"


int mfr_csort_init(struct mfr_csort *cs, int64_t n, int32_t n_keys, int n_threads)
{
    memset(cs, 0, sizeof *cs);
    cs->n = n;
    cs->n_keys = n_keys;
    cs->n_threads = n_threads > 0 ? n_threads : mfr_setup_threads();
    int64_t chunks = cs->n_threads;
    if (chunks > n / MFR_SETUP_PAR_MIN) chunks = n / MFR_SETUP_PAR_MIN;
    int64_t cells = n > ((int64_t)1 << 20) ? n : ((int64_t)1 << 20);
    if (n_keys > 0 && chunks > cells / n_keys) chunks = cells / n_keys;
    cs->n_chunks = chunks < 1 ? 1 : (int32_t)chunks;
    cs->off = mfr_calloc((size_t)cs->n_chunks * ((size_t)n_keys + 1), sizeof(int64_t));
    return cs->off ? MFR_OK : MFR_ERR_NOMEM;
}

void mfr_csort_free(struct mfr_csort *cs)
{
    free(cs->off);
    cs->off = NULL;
}

void mfr_csort_count(struct mfr_csort *cs, const int32_t *key, const int64_t *via)
{
    const int32_t C = cs->n_chunks;
#pragma omp parallel for schedule(static, 1) num_threads(cs->n_threads) if (C > 1)
    for (int32_t c = 0; c < C; c++) {
        int64_t *row = mfr_csort_row(cs, c);
        const int64_t end = mfr_csort_begin(cs, c + 1);
        if (via)
            for (int64_t q = mfr_csort_begin(cs, c); q < end; q++) row[key[via[q]]]++;
        else
            for (int64_t q = mfr_csort_begin(cs, c); q < end; q++) row[key[q]]++;
    }
}

/* Keys [lo, hi) of part p of P equal parts. */
static void key_range(const struct mfr_csort *cs, int p, int P, int32_t *lo, int32_t *hi)
{
    *lo = (int32_t)((int64_t)cs->n_keys * p / P);
    *hi = (int32_t)((int64_t)cs->n_keys * (p + 1) / P);
}

void mfr_csort_offsets(struct mfr_csort *cs, int64_t *ptr)
{
    const int32_t C = cs->n_chunks;
    /* One part per thread: part sums, their exclusive scan, then each part
     * assigns its keys' offsets from its base. */
    int P = cs->n_keys < 65536 ? 1 : cs->n_threads;
    int64_t base[1025];
    if (P > 1024) P = 1024;
#pragma omp parallel num_threads(P) if (P > 1)
    {
        int p = omp_get_thread_num(), np = omp_get_num_threads();
        int32_t lo, hi;
        key_range(cs, p, np, &lo, &hi);
        int64_t sum = 0;
        for (int32_t c = 0; c < C; c++) {
            const int64_t *row = mfr_csort_row(cs, c);
            for (int32_t k = lo; k < hi; k++) sum += row[k];
        }
        base[p + 1] = sum;
#pragma omp barrier
#pragma omp single
        {
            base[0] = 0;
            for (int x = 1; x <= np; x++) base[x] += base[x - 1];
        }
        int64_t run = base[p];
        for (int32_t k = lo; k < hi; k++) {
            if (ptr) ptr[k] = run;
            for (int32_t c = 0; c < C; c++) {
                int64_t *cell = mfr_csort_row(cs, c) + k, count = *cell;
                *cell = run;
                run += count;
            }
        }
    }
    if (ptr) ptr[cs->n_keys] = cs->n;
}
