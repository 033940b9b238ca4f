/*
 * topk_priv.h — the one bounded top-k heap of the library, shared by
 * recommendations (recommend.c) and ranking metrics (metrics.c).
 *
 * Order: a larger score ranks first, NaN after every number, equal scores
 * (and two NaNs) by the lower index: a strict total order on distinct
 * indices, so the kept list never depends on the scan order or on the
 * heap's shape. The heap lives in caller-supplied arrays (idx and, when
 * given, scores), the worst kept entry at the root, so a push is O(log cap)
 * and n offers cost O(n log cap); the catalogue is never sorted.
 */
#ifndef MFR_TOPK_PRIV_H
#define MFR_TOPK_PRIV_H

#include "common_priv.h"

/* Scores kept inside the struct when the caller supplies no score array. */
#define MFR_TOPK_LOCAL 256

/* A bounded heap over the caller's arrays: every parent ranks after its
 * children. When the caller wants no scores, they live in `local` (up to
 * MFR_TOPK_LOCAL entries) or in one array allocated by mfr_topk_begin and
 * freed by mfr_topk_end. */
struct mfr_topk {
    int32_t *idx;
    float *sc;
    int32_t n, cap;
    bool owned;
    float local[MFR_TOPK_LOCAL];
};

/* Starts an empty heap of capacity cap >= 1 over idx_out (cap entries) and
 * scores_out (cap entries, or NULL). MFR_ERR_NOMEM only when scores_out is
 * NULL and cap > MFR_TOPK_LOCAL; never fails otherwise. */
int mfr_topk_begin(struct mfr_topk *t, int32_t *idx_out, float *scores_out, int32_t cap,
                   mfr_error *err);

/* Offers (s, i): kept when the heap has room or it ranks before the worst
 * kept entry, which it then replaces. */
void mfr_topk_push(struct mfr_topk *t, float s, int32_t i);

/* True when (sa, ia) ranks before (sb, ib): the larger score first, NaN
 * after every number, equal scores (and two NaNs) by the lower index. */
static inline bool mfr_topk_ranks_before(float sa, int32_t ia, float sb, int32_t ib)
{
    bool na = sa != sa, nb = sb != sb; /* isnan without <math.h> */
    if (na != nb) return nb;
    if (!na && sa != sb) return sa > sb;
    return ia < ib;
}

/* mfr_topk_push with its common case inline: in a scan of a large
 * catalogue almost every offer ranks after the worst kept entry of a full
 * heap and is dropped here, without a call. Same kept entries. */
static inline void mfr_topk_offer(struct mfr_topk *t, float s, int32_t i)
{
    if (t->n == t->cap && !mfr_topk_ranks_before(s, i, t->sc[0], t->idx[0])) return;
    mfr_topk_push(t, s, i);
}

/* The positions j < n of scores sc[] that may rank before a full heap's
 * worst entry, in order, into pos (n entries); returns their count. Every
 * position when the heap has room; else those not below the worst's score
 * (equal ones and NaNs too: mfr_topk_offer decides them exactly). In a
 * scan of a large catalogue almost every score is below it: one
 * branch-free compare per item picks the few that are offered (the worst
 * only rises, so the bar of a block's start keeps every possible entry). */
static inline int32_t mfr_topk_candidates(const struct mfr_topk *t, const float *sc, int32_t n,
                                          int32_t *pos)
{
    const float bar = t->n == t->cap ? t->sc[0] : -__builtin_inff();
    int32_t c = 0, j = 0;
    for (; j + 8 <= n; j += 8) {
        int any = 0; /* eight compares the compiler does side by side */
        for (int l = 0; l < 8; l++) any |= !(sc[j + l] < bar);
        if (!any) continue;
        for (int l = 0; l < 8; l++) {
            pos[c] = j + l;
            c += !(sc[j + l] < bar);
        }
    }
    for (; j < n; j++) {
        pos[c] = j;
        c += !(sc[j] < bar);
    }
    return c;
}

/* Sorts the kept entries best first in place (heapsort), frees scores the
 * heap allocated and returns how many were kept (<= cap). */
int32_t mfr_topk_end(struct mfr_topk *t);

#endif
