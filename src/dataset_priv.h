/*
 * dataset_priv.h — the layout of ratings, datasets and splits, shared by
 * the loaders (movielens.c), splits (split.c), the trainer and the model.
 */
#ifndef MFR_DATASET_PRIV_H
#define MFR_DATASET_PRIV_H

#include "common_priv.h"

/* Ratings in dense indices, structure of arrays. `ts` may be NULL. */
struct mfr_ratings {
    int64_t n;
    int32_t *user;
    int32_t *item;
    float *rating;
    int64_t *ts;
};

/* Allocates a ratings set of n entries (arrays uninitialized, ts included). */
int mfr_ratings_alloc(int64_t n, mfr_ratings **out, mfr_error *err);

struct mfr_item_meta {
    char *title;    /* UTF-8 */
    char *date;     /* release date text, may be "" */
    int32_t year;   /* 0 when unknown */
    uint32_t genres;
};

struct mfr_user_meta {
    int32_t age;
    char sex;
    int32_t occupation; /* index into occupations, -1 when unknown */
    char zip[16];
};

struct mfr_dataset {
    char *dir;
    mfr_load_options opt;
    int32_t n_users, n_items;
    int64_t *user_ids; /* dense -> raw, ascending */
    int64_t *item_ids;
    mfr_ratings *ratings; /* u.data, file order */
    struct mfr_item_meta *items; /* n_items entries, always allocated */
    struct mfr_user_meta *users; /* n_users entries, always allocated */
    int32_t n_genres;
    char **genre_names;
    int32_t n_occupations;
    char **occupations;
    uint64_t fingerprint;
};

struct mfr_split {
    char *spec;
    mfr_ratings *train;
    mfr_ratings *test;
};

#endif
