/*
 * ranking_priv.h — the ranking evaluation of metrics.c for any scorer: the
 * model (mfr_model_ranking) and the EASE baseline (ease.c) share the
 * candidates, the relevant items, the top-k lists and the metric sums, so
 * their numbers are comparable by construction.
 */
#ifndef MFR_RANKING_PRIV_H
#define MFR_RANKING_PRIV_H

#include <stdint.h>

#include "common_priv.h"

/* Scores user u's candidates into score[0..n_items): at least every item i
 * with train_mark[i] != u (the others are never read). items[0..n) are u's
 * training items in the order of the train ratings (duplicates kept). */
typedef void (*mfr_ranking_score_fn)(const void *ctx, int32_t u, const int32_t *items, int64_t n,
                                     const int32_t *train_mark, float *score);

/* The most users a mfr_ranking_score_group_fn scores at once. */
#define MFR_RANKING_GROUP 8

/* Scores users[0..n) (1 <= n <= MFR_RANKING_GROUP, ascending) into
 * scores[g][0..n_items), every item: a scorer whose cost is reading its
 * item factors reads them once for the group. */
typedef void (*mfr_ranking_score_group_fn)(const void *ctx, const int32_t *users, int n,
                                           float *const *scores);

/* How mfr_ranking_run scores: `one` a user at a time, or `group` (when
 * not NULL) up to MFR_RANKING_GROUP users at a time, with `ctx`. */
struct mfr_ranking_scorer {
    mfr_ranking_score_fn one;
    mfr_ranking_score_group_fn group;
    const void *ctx;
};

/* mfr_model_ranking's evaluation (definitions in include/mfrec.h) for
 * n_users x n_items, with `scorer` in place of the model, over n_threads
 * threads: with more than 1, the scorer is called from several threads at
 * once, users in no particular order (it must only read its ctx); with 1,
 * on this thread, users in ascending order. The results do not depend on
 * n_threads, nor on whether users are scored one at a time or in groups
 * (each user's scores are the same either way). */
int mfr_ranking_run(const mfr_ratings *train, const mfr_ratings *test, int32_t n_users,
                    int32_t n_items, int32_t n_top, const struct mfr_ranking_scorer *scorer,
                    int n_threads, mfr_ranking *model_out, mfr_ranking *popularity_out,
                    mfr_error *err);

#endif
