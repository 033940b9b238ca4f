/*
 * sm_checkpoint.c — checkpoints of softmax training runs: the model (with
 * its network and epoch count), the optimizer state and step count, and
 * the run state, in the checkpoint format of src/train/checkpoint.c; and a
 * trainer that resumes from one with the bits of the uninterrupted run.
 */
#include <stdio.h>
#include <string.h>

#include "checkpoint_priv.h"
#include "model_priv.h"
#include "softmax_priv.h"

int mfr_softmax_trainer_save_checkpoint(const mfr_softmax_trainer *t, const mfr_run_state *run,
                                        const char *path, mfr_error *err)
{
    if (!t || !run || !path)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_softmax_trainer_save_checkpoint: %s is NULL",
                          !t ? "trainer" : !run ? "run" : "path");
    if (run->best_epoch != 0 || run->best || run->early_stop != 0)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "cannot save %s: a softmax run has no early stopping", path);
    const mfr_sm_trainer *tr = mfr_softmax_trainer_core_const(t);
    mfr_model *m = NULL;
    int st = mfr_softmax_trainer_model(t, &m, err);
    if (st != MFR_OK) return st;
    struct mfr_ckpt_parts p = {.model = m, .loss = {mfr_softmax_trainer_last_loss(t), 0, 0, 0},
                               .n_params = mfr_sm_trainer_layout(tr)->n_params};
    p.train_hash = mfr_sm_trainer_pairs_hash(tr, &p.train_nnz);
    p.n_state = mfr_sm_trainer_state(tr, p.state, &p.steps);
    st = mfr_ckpt_save(&p, run, path, err);
    mfr_model_destroy(m);
    return st;
}

/* "FLAG is A, the checkpoint's B", with all digits when %g shows no
 * difference. */
static void diff_double(struct mfr_ckpt_diffs *d, const char *flag, double a, double b)
{
    char x[32], y[32];
    mfr_format_c(x, sizeof x, "%g", a);
    mfr_format_c(y, sizeof y, "%g", b);
    if (!strcmp(x, y)) {
        mfr_format_c(x, sizeof x, "%.17g", a);
        mfr_format_c(y, sizeof y, "%.17g", b);
    }
    mfr_ckpt_diff_add(d, "%s is %s, the checkpoint's %s", flag, x, y);
}

/* The values of the named fields as their flags spell them. */
static const char *optimizer_name(int32_t v)
{
    return v == MFR_SOFTMAX_OPT_ADAM ? "adam" : v == MFR_SOFTMAX_OPT_ADAGRAD ? "adagrad" : "?";
}
static const char *init_name(int32_t v)
{
    return v == MFR_SOFTMAX_INIT_HE ? "he" : v == MFR_SOFTMAX_INIT_COLAB ? "colab" : "?";
}
static const char *negatives_name(int32_t v)
{
    return v == MFR_SOFTMAX_NEG_UNRATED ? "unrated" : v == MFR_SOFTMAX_NEG_ALL ? "all" : "?";
}

static void features_str(int32_t bits, char *out, size_t cap)
{
    snprintf(out, cap, "%s%s%s", bits & MFR_SOFTMAX_FEAT_MOVIES ? "movies" : "",
             bits & MFR_SOFTMAX_FEAT_GENRES ? ",genres" : "", bits & MFR_SOFTMAX_FEAT_YEARS ? ",years" : "");
}

static void hidden_str(const mfr_softmax_config *c, char *out, size_t cap)
{
    size_t at = 0;
    out[0] = 0;
    for (int32_t l = 0; l < c->n_hidden && at < cap; l++)
        at += (size_t)snprintf(out + at, cap - at, "%s%d", l ? "," : "", (int)c->hidden[l]);
    if (c->n_hidden == 0) snprintf(out, cap, "none");
}

/* Every field of the softmax configuration that changes results and
 * differs between cfg and the checkpoint's ck, named by its flag. Not
 * n_shards (--shards): the trainer has no shard buffers, so it changes
 * nothing, and the resume keeps the checkpoint's. */
static void config_diffs(const mfr_softmax_config *a, const mfr_softmax_config *b,
                         struct mfr_ckpt_diffs *d)
{
#define DIFF_I(flag, f)                                                                       \
    if (a->f != b->f)                                                                         \
        mfr_ckpt_diff_add(d, "%s is %lld, the checkpoint's %lld", flag, (long long)a->f,      \
                          (long long)b->f);
#define DIFF_D(flag, f)                                                                       \
    if (memcmp(&a->f, &b->f, sizeof a->f) != 0) diff_double(d, flag, a->f, b->f);
#define DIFF_NAMED(flag, f, name)                                                             \
    if (a->f != b->f) mfr_ckpt_diff_add(d, "%s is %s, the checkpoint's %s", flag, name(a->f), name(b->f));
    char x[128], y[128];
    DIFF_I("--dim", k)
    if (a->features != b->features) {
        features_str(a->features, x, sizeof x);
        features_str(b->features, y, sizeof y);
        mfr_ckpt_diff_add(d, "--features is %s, the checkpoint's %s", x, y);
    }
    DIFF_I("--dim-movie", dim_movie)
    DIFF_I("--dim-genre", dim_genre)
    DIFF_I("--dim-year", dim_year)
    bool same_hidden = a->n_hidden == b->n_hidden;
    for (int32_t l = 0; same_hidden && l < a->n_hidden; l++) same_hidden = a->hidden[l] == b->hidden[l];
    if (!same_hidden) {
        hidden_str(a, x, sizeof x);
        hidden_str(b, y, sizeof y);
        mfr_ckpt_diff_add(d, "--hidden is %s, the checkpoint's %s", x, y);
    }
    DIFF_NAMED("--optimizer", optimizer, optimizer_name)
    DIFF_D("--lr", lr)
    DIFF_D("beta1", beta1)
    DIFF_D("beta2", beta2)
    DIFF_D("eps", eps)
    DIFF_D("the Adagrad accumulator", adagrad_init)
    DIFF_I("--batch-users", batch_users)
    if (a->all_pairs != b->all_pairs)
        mfr_ckpt_diff_switch(d, "--all-pairs", a->all_pairs, b->all_pairs);
    if (a->seed != b->seed)
        mfr_ckpt_diff_add(d, "--seed is %llu, the checkpoint's %llu", (unsigned long long)a->seed,
                          (unsigned long long)b->seed);
    DIFF_NAMED("--hidden-init", hidden_init, init_name)
    if (a->tie_tables != b->tie_tables)
        mfr_ckpt_diff_switch(d, "--tie", a->tie_tables, b->tie_tables);
    DIFF_D("--weight-decay", weight_decay)
    DIFF_D("--min-label-rating", label_min_rating)
    DIFF_NAMED("--negatives", negatives, negatives_name)
    DIFF_D("--feature-dropout", feature_dropout)
#undef DIFF_I
#undef DIFF_D
#undef DIFF_NAMED
}

/* The first movie (dense index) whose genres or release-year bucket
 * differ between a and b, n_items when none; -1 when the tables' shapes
 * differ (genre or year counts). */
static int32_t items_differ(const struct mfr_sm_items *a, const struct mfr_sm_items *b)
{
    if (a->n_items != b->n_items || a->n_genres != b->n_genres || a->n_years != b->n_years ||
        a->year_min != b->year_min)
        return -1;
    for (int32_t i = 0; i < a->n_items; i++) {
        const int32_t na = a->genre_ptr[i + 1] - a->genre_ptr[i], nb = b->genre_ptr[i + 1] - b->genre_ptr[i];
        if (a->year_bucket[i] != b->year_bucket[i] || na != nb ||
            memcmp(a->genre + a->genre_ptr[i], b->genre + b->genre_ptr[i], sizeof *a->genre * (size_t)na))
            return i;
    }
    return a->n_items;
}

int mfr_softmax_trainer_resume(const mfr_checkpoint *c, const mfr_softmax_config *cfg,
                               const mfr_dataset *ds, const mfr_ratings *train,
                               const char *split_spec, int n_threads,
                               mfr_softmax_trainer **out, mfr_error *err)
{
    if (!out) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_softmax_trainer_resume: out is NULL");
    *out = NULL;
    if (!c || !cfg || !ds || !train)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_softmax_trainer_resume: %s is NULL",
                          !c ? "checkpoint" : !cfg ? "cfg" : !ds ? "dataset" : "ratings");
    /* a bad argument before the data's comparison, which reads every rating */
    int st = mfr_check_threads("mfr_softmax_trainer_resume", n_threads, err);
    if (st != MFR_OK) return st;
    struct mfr_ckpt_parts p;
    mfr_ckpt_parts_of(c, &p);
    const struct mfr_sm_net *net = p.model->sm;
    if (!net)
        return mfr_seterr(err, MFR_ERR_MISMATCH,
                          "the checkpoint is of a matrix factorization run, not softmax: resume it as one "
                          "(mfrec train --resume FILE alone takes the checkpoint's kind)");
    struct mfr_ckpt_diffs d = {.n = 0};
    config_diffs(cfg, &net->cfg, &d);
    bool data_ok = mfr_ckpt_check_data(c, ds, train, split_spec, &d);
    mfr_softmax_trainer *t = NULL;
    /* With another configuration the trainer (made with the checkpoint's)
     * only compares the training pairs, so that every difference is named. */
    mfr_softmax_config made = d.n ? net->cfg : *cfg;
    made.kernels = cfg->kernels;
    made.n_shards = net->cfg.n_shards; /* recorded as the uninterrupted run's */
    made.max_memory = cfg->max_memory; /* the machine's, not the run's */
    /* the checkpoint's split as the run wrote it, which split_spec may
     * spell otherwise (mfr_ckpt_check_data): the models' bytes */
    if (data_ok &&
        (st = mfr_softmax_trainer_create(&made, ds, train, p.model->split_spec, n_threads, &t, err)) != MFR_OK)
        return st;
    int64_t n_pairs = 0;
    uint64_t h = t ? mfr_sm_trainer_pairs_hash(mfr_softmax_trainer_core(t), &n_pairs) : 0;
    if (t && mfr_sm_trainer_layout(mfr_softmax_trainer_core(t))->n_params != p.n_params)
        mfr_ckpt_diff_add(&d, "the network has %lld parameters, the checkpoint's %lld",
                          (long long)mfr_sm_trainer_layout(mfr_softmax_trainer_core(t))->n_params,
                          (long long)p.n_params);
    /* the movies' genres and years (u.item): the ratings' fingerprint does
     * not cover them, and the model records them */
    const int32_t moved = t ? items_differ(mfr_sm_trainer_items(mfr_softmax_trainer_core(t)), &net->items) : 0;
    if (t && moved < 0)
        mfr_ckpt_diff_add(&d, "the movies' genres or release years differ from the checkpoint's (other "
                              "genre or year ranges)");
    else if (t && moved < net->items.n_items)
        mfr_ckpt_diff_add(&d, "the movies' genres or release years differ from the checkpoint's (movie %lld "
                              "first)",
                          (long long)mfr_dataset_item_id(ds, moved));
    if (t && (n_pairs != p.train_nnz || h != p.train_hash))
        mfr_ckpt_diff_add(&d, n_pairs == p.train_nnz ? "the training ratings differ (other pairs, as many: %lld)"
                                                     : "the training ratings differ (%lld pairs, the checkpoint's %lld)",
                          (long long)n_pairs, (long long)p.train_nnz);
    if (d.n) {
        mfr_softmax_trainer_destroy(t);
        return mfr_seterr(err, MFR_ERR_MISMATCH, "the run differs from the checkpoint's: %s",
                          d.buf);
    }
    /* the same data in another place: the model keeps recording the
     * original one, as matrix factorization's does */
    if ((st = mfr_softmax_trainer_keep_source(t, p.model, err)) != MFR_OK) {
        mfr_softmax_trainer_destroy(t);
        return st;
    }
    mfr_sm_trainer_restore(mfr_softmax_trainer_core(t), net->theta, p.state, net->epochs, p.steps);
    mfr_softmax_trainer_set_last_loss(t, p.loss[0]);
    *out = t;
    return MFR_OK;
}
