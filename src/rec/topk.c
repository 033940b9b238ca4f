/*
 * topk.c — the bounded top-k heap behind mfr_scores_top_k, the
 * recommendation calls and the ranking metrics (order and contract in
 * topk_priv.h). One implementation, so every list the library returns
 * breaks ties and places NaN the same way.
 */
#include <math.h>

#include "topk_priv.h"

#define ranks_before mfr_topk_ranks_before

int mfr_topk_begin(struct mfr_topk *t, int32_t *idx_out, float *scores_out, int32_t cap,
                   mfr_error *err)
{
    t->idx = idx_out;
    t->sc = scores_out;
    t->n = 0;
    t->cap = cap;
    t->owned = false;
    if (!t->sc && cap <= MFR_TOPK_LOCAL) t->sc = t->local;
    if (!t->sc) {
        t->sc = mfr_malloc((size_t)cap * sizeof *t->sc);
        if (!t->sc)
            return mfr_seterr(err, MFR_ERR_NOMEM, "top-k: out of memory for %d scores",
                              (int)cap);
        t->owned = true;
    }
    return MFR_OK;
}

static inline void topk_swap(struct mfr_topk *t, int32_t a, int32_t b)
{
    int32_t ti = t->idx[a];
    t->idx[a] = t->idx[b];
    t->idx[b] = ti;
    float ts = t->sc[a];
    t->sc[a] = t->sc[b];
    t->sc[b] = ts;
}

/* Restores the heap below position p within the first n entries. */
static void topk_sift_down(struct mfr_topk *t, int32_t p, int32_t n)
{
    for (;;) {
        int32_t c = 2 * p + 1;
        if (c >= n) return;
        /* the worse of the two children */
        if (c + 1 < n && ranks_before(t->sc[c], t->idx[c], t->sc[c + 1], t->idx[c + 1])) c++;
        if (!ranks_before(t->sc[p], t->idx[p], t->sc[c], t->idx[c])) return;
        topk_swap(t, p, c);
        p = c;
    }
}

void mfr_topk_push(struct mfr_topk *t, float s, int32_t i)
{
    if (t->n < t->cap) {
        int32_t p = t->n++;
        t->sc[p] = s;
        t->idx[p] = i;
        while (p > 0) {
            int32_t parent = (p - 1) / 2;
            if (!ranks_before(t->sc[parent], t->idx[parent], s, i)) break;
            topk_swap(t, p, parent);
            p = parent;
        }
    } else if (ranks_before(s, i, t->sc[0], t->idx[0])) {
        t->sc[0] = s;
        t->idx[0] = i;
        topk_sift_down(t, 0, t->n);
    }
}

/* Heapsort: the root, the worst, goes to the end each round. */
int32_t mfr_topk_end(struct mfr_topk *t)
{
    for (int32_t e = t->n - 1; e > 0; e--) {
        topk_swap(t, 0, e);
        topk_sift_down(t, 0, e);
    }
    if (t->owned) free(t->sc);
    t->sc = NULL;
    t->owned = false;
    return t->n;
}
