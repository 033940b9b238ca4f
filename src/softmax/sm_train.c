/*
 * sm_train.c — training the softmax model: batches of users, gradients in
 * parallel, a reduction in fixed order and the optimizer (Adagrad, Adam).
 *
 * DESIGN (ownership and order; the model bytes depend on the seed, the
 * data and the configuration, never on the thread count). Every parameter
 * is shared by all users, so a step's gradient is a sum over the batch's
 * examples, taken in example order (users ascending, then labels) into one
 * dense gradient vector, with no per-thread or per-shard buffers. The
 * examples go through in fixed chunks of SM_BATCH_EX (a memory bound, not
 * a thread count; the result does not depend on it either), each chunk in
 * one parallel region's phases, after the step's users' whole-list sums
 * (each user's own, in parallel; see "Leave-one-out pooling" below):
 *  A. per group of four examples, in parallel (any thread): the pooling
 *     (the user's sums less the label's rows), the forward pass, the
 *     logits from V transposed (built once per step,
 *     so that the logits of four examples are a small matrix product that
 *     reads V once), the cross-entropy and its gradient ds in place (with
 *     negatives "unrated", the features' logits set to minus infinity
 *     first: out of the softmax),
 *     du = sum_i ds_i V_i (four at once), and the MLP's backward pass down
 *     to the pooled input (dx only): all into the examples' own slots.
 *  B. V's gradient, row-parallel: thread-owned row blocks, each row i
 *     gV[i] = sum over the chunk's examples b ascending of ds_b[i] u_b,
 *     continuing the previous chunk's sums.
 *  C. serially, example by example: the MLP's weight gradients
 *     (dy x^T), the pooling's scatter into the embedding tables (the
 *     label's rows at each example, the user's rows after the user's last
 *     example, which may come in a later chunk), and the loss (double).
 * Then the optimizer's elementwise update over fixed parameter chunks (in
 * parallel; dense, so Adam's moments decay on every row as in PyTorch).
 * A step of one chunk with untied tables (the usual mini-batch) replaces
 * B, C and the update by the owner phase: each thread owns fixed rows of
 * every table and of V, makes their whole gradient (the same chains),
 * updates them at once and leaves vt and a zero gradient for the next
 * step; on a team of two, the pair mode splits the step by what each
 * thread owns instead (thread 0 all of V, thread 1 the rest), so that V
 * never moves between the cores (pair_phase).
 * So each parameter's gradient is one chain over the examples in order:
 * the mathematics of a serial loop of mfr_sm_example into one buffer
 * (not its rounding: the pooling goes through the users' sums), with
 * tied tables V's logit gradient of a chunk before the pooling's; a
 * non-finite loss cancels the step before the update.
 *
 * Feature dropout (feature_dropout > 0): a user's movie at row position p
 * is left out of the user's features in epoch e (1-based) when
 * rng(seed, MFR_RNG_SM_DROPOUT, e << 40 | p) < feature_dropout. Whoever
 * makes a user's sums first draws the user's row into tr->keep (a byte per
 * row position, written by that thread alone, read after the barrier or,
 * in the pair mode, by the same thread), then sums the kept movies only;
 * an example subtracts its label only when the label is kept, and the
 * pooling's scatter skips the dropped rows. A pure function of (seed, e,
 * p): the bytes still do not depend on the thread count.
 */
#include <math.h>
#include <omp.h>
#include <sched.h>
#include <string.h>

#include "bytes_priv.h"
#include "kern_priv.h"
#include "rng_priv.h"
#include "softmax_priv.h"

enum { SM_DEFAULT_SHARDS = 16, SM_CHUNK = 4096, SM_BATCH_EX = 64, SM_ROWS = 64, SM_FUSE_ROWS = 8 };

/* One feature table as the pooling sees it: f (0 movies, 1 genres, 2
 * years), its offset and width in theta, its columns in h_0. */
struct pool_blk {
    int f;
    int64_t offset;
    int32_t dim, col;
};

struct mfr_sm_trainer {
    mfr_softmax_config cfg;
    struct mfr_sm_layout lay;
    struct mfr_sm_items items;
    int32_t n_users;
    int64_t *row_ptr; /* n_users + 1: training movies by user, ascending */
    int32_t *movie;
    uint8_t *label_ok; /* beside movie when label_min_rating > 0: may be a label */
    int32_t *n_labels; /* n_users: the movies of the user that may be labels */
    uint8_t *keep;     /* beside movie when feature_dropout > 0: kept in this step's
                        * features (the step's users' rows only; user_sums fills them) */
    int64_t drop_e;    /* the step's epoch, 1-based: feature dropout's draws */
    int32_t max_nf;   /* longest row (a user's n_u) */
    float *theta, *state[2];
    float *grad;      /* n_params: the step's gradient */
    float *vt;        /* k x ldt: V transposed, rebuilt at each step */
    int64_t ldt;
    float *slot;      /* SM_BATCH_EX x slot_floats: one example's scratch, dy's, d0 */
    int32_t *ids;     /* SM_BATCH_EX x ids_per_slot */
    float *gtmp;      /* n_threads x gtmp_floats: the owner phase's gradient of 8 rows of V */
    int64_t gtmp_floats;
    struct pool_blk blk[3]; /* the feature tables in pooling order */
    int n_blk;
    int64_t w0p;      /* width[0] rounded up to 16 floats */
    float *usum;      /* group_users x w0p: the step's users' whole-list sums */
    int32_t *ucount;  /* group_users x 3: their row counts per table */
    float *gcur;      /* w0p: phase C's sum of t for the current user */
    float *tg;        /* n_threads x w0p: the owner phase's sums of t */
    int32_t step_u0, step_u1; /* the step's users */
    int64_t n_ex;     /* the step's examples */
    int32_t *ex_user, *ex_label; /* max_ex: the step's examples in order */
    int64_t max_ex;   /* the most examples of one group */
    double ex_loss[SM_BATCH_EX];
    float weight;     /* the step's 1 / examples */
    int32_t n_shards; /* the configuration's, reported only (no shard buffers) */
    int32_t n_groups, group_users;
    int32_t *order;   /* n_groups */
    mfr_softmax_step *steps; /* n_groups: the last epoch's steps */
    int32_t n_steps;
    int64_t scratch_floats, slot_floats, ids_per_slot;
    int64_t epoch, t; /* epochs done, optimizer steps done */
    int n_threads;
    int no_fuse;      /* tests: never update V in phase B */
    int vt_ok;        /* vt is V transposed (the last step rebuilt it, or prepared) */
    int grad_ok;      /* the gradient is zero outside V's rows */
    int64_t seq;      /* steps run through step_region (the pair mode's flags) */
    int64_t fwd_seq[SM_BATCH_EX / 4], du_seq[SM_BATCH_EX / 4]; /* group g's u, du ready */
    const struct mfr_kernel_set *kern;
    const struct mfr_sm_kern *sm_kern;
    uint64_t need_bytes, peak_bytes; /* the budget check's: this trainer's, and with `beside` */
};

int32_t mfr_sm_label_index(uint64_t seed, int64_t epoch, int32_t u, int64_t n_u)
{
    uint64_t r = mfr_rng_u64(seed, MFR_RNG_SM_LABEL, (uint64_t)epoch << 32 | (uint32_t)u);
    return (int32_t)(r % (uint64_t)n_u);
}

int mfr_sm_dropout_keep(uint64_t seed, double rate, int64_t e, int64_t p)
{
    return !(mfr_rng_uniform(seed, MFR_RNG_SM_DROPOUT, (uint64_t)e << 40 | (uint64_t)p) < rate);
}

const struct mfr_sm_layout *mfr_sm_trainer_layout(const mfr_sm_trainer *tr) { return &tr->lay; }
const float *mfr_sm_trainer_params(const mfr_sm_trainer *tr) { return tr->theta; }
int32_t mfr_sm_trainer_n_groups(const mfr_sm_trainer *tr) { return tr->n_groups; }
int32_t mfr_sm_trainer_n_shards(const mfr_sm_trainer *tr) { return tr->n_shards; }

void mfr_sm_trainer_destroy(mfr_sm_trainer *tr)
{
    if (!tr) return;
    mfr_sm_items_free(&tr->items);
    free(tr->row_ptr);
    free(tr->movie);
    free(tr->label_ok);
    free(tr->n_labels);
    free(tr->keep);
    mfr_aligned_free(tr->theta);
    mfr_aligned_free(tr->state[0]);
    mfr_aligned_free(tr->state[1]);
    mfr_aligned_free(tr->grad);
    mfr_aligned_free(tr->vt);
    mfr_aligned_free(tr->slot);
    free(tr->ids);
    mfr_aligned_free(tr->gtmp);
    mfr_aligned_free(tr->usum);
    free(tr->ucount);
    mfr_aligned_free(tr->gcur);
    mfr_aligned_free(tr->tg);
    free(tr->ex_user);
    free(tr->ex_label);
    free(tr->order);
    free(tr->steps);
    free(tr);
}

static int copy_items(const struct mfr_sm_items *src, struct mfr_sm_items *dst, mfr_error *err)
{
    *dst = *src;
    size_t n = (size_t)src->n_items, np = (size_t)src->genre_ptr[src->n_items];
    dst->year_bucket = mfr_malloc(sizeof(int32_t) * n);
    dst->genre_ptr = mfr_malloc(sizeof(int32_t) * (n + 1));
    dst->genre = mfr_malloc(sizeof(int32_t) * (np ? np : 1));
    if (!dst->year_bucket || !dst->genre_ptr || !dst->genre)
        return mfr_seterr(err, MFR_ERR_NOMEM, "softmax trainer: out of memory");
    memcpy(dst->year_bucket, src->year_bucket, sizeof(int32_t) * n);
    memcpy(dst->genre_ptr, src->genre_ptr, sizeof(int32_t) * (n + 1));
    memcpy(dst->genre, src->genre, sizeof(int32_t) * np);
    return MFR_OK;
}

/* The training movies by user (counting sort, then each row sorted),
 * with, under label_min_rating, which of them may be labels. */
static int build_rows(mfr_sm_trainer *tr, const int32_t *users, const int32_t *items,
                      const float *ratings, int64_t n, mfr_error *err)
{
    int32_t N = tr->n_users, M = tr->items.n_items;
    const int filter = tr->cfg.label_min_rating > 0.0;
    if (filter && n > 0 && !ratings)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "softmax trainer: label_min_rating needs the ratings' values");
    tr->row_ptr = mfr_calloc((size_t)N + 1, sizeof(int64_t));
    tr->movie = mfr_malloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
    tr->n_labels = mfr_calloc((size_t)N, sizeof(int32_t));
    if (filter) tr->label_ok = mfr_malloc((size_t)(n > 0 ? n : 1));
    if (tr->cfg.feature_dropout > 0.0) tr->keep = mfr_malloc((size_t)(n > 0 ? n : 1));
    if (!tr->row_ptr || !tr->movie || !tr->n_labels || (filter && !tr->label_ok) ||
        (tr->cfg.feature_dropout > 0.0 && !tr->keep))
        return mfr_seterr(err, MFR_ERR_NOMEM, "softmax trainer: out of memory");
    for (int64_t x = 0; x < n; x++) {
        if (users[x] < 0 || users[x] >= N || items[x] < 0 || items[x] >= M)
            return mfr_seterr(err, MFR_ERR_MISMATCH,
                              "softmax trainer: pair %lld (%d, %d) outside %d users x %d items",
                              (long long)x, users[x], items[x], N, M);
        tr->row_ptr[users[x] + 1]++;
    }
    for (int32_t u = 0; u < N; u++) tr->row_ptr[u + 1] += tr->row_ptr[u];
    int64_t *fill = mfr_malloc(sizeof(int64_t) * ((size_t)N + 1));
    if (!fill) return mfr_seterr(err, MFR_ERR_NOMEM, "softmax trainer: out of memory");
    memcpy(fill, tr->row_ptr, sizeof(int64_t) * ((size_t)N + 1));
    for (int64_t x = 0; x < n; x++) {
        const int64_t at = fill[users[x]]++;
        tr->movie[at] = items[x];
        /* in the ratings' own (float) precision: a rating read as 3.3
         * is at least a threshold of 3.3 */
        if (filter) tr->label_ok[at] = ratings[x] >= (float)tr->cfg.label_min_rating;
    }
    free(fill);
    tr->max_nf = 1;
    for (int32_t u = 0; u < N; u++) {
        int32_t *row = tr->movie + tr->row_ptr[u];
        uint8_t *ok = filter ? tr->label_ok + tr->row_ptr[u] : NULL;
        int64_t len = tr->row_ptr[u + 1] - tr->row_ptr[u];
        for (int64_t a = 1; a < len; a++) /* insertion sort: rows are short */
            for (int64_t b = a; b > 0 && row[b - 1] > row[b]; b--) {
                int32_t t = row[b];
                row[b] = row[b - 1];
                row[b - 1] = t;
                if (ok) {
                    uint8_t o = ok[b];
                    ok[b] = ok[b - 1];
                    ok[b - 1] = o;
                }
            }
        if (len > tr->max_nf) tr->max_nf = (int32_t)len;
        if (len < 2) continue; /* no features beside a label: no example */
        for (int64_t j = 0; j < len; j++) tr->n_labels[u] += ok ? ok[j] : 1;
    }
    return MFR_OK;
}

/* May row position j of user u (absolute, in tr->movie) be a label? */
static int may_label(const mfr_sm_trainer *tr, int64_t j)
{
    return !tr->label_ok || tr->label_ok[j];
}

/* The examples of users [u0, u1): their count for the batch weight. */
static int64_t count_examples(const mfr_sm_trainer *tr, int32_t u0, int32_t u1)
{
    int64_t c = 0;
    for (int32_t u = u0; u < u1; u++)
        c += tr->cfg.all_pairs ? tr->n_labels[u] : tr->n_labels[u] > 0;
    return c;
}

/* Whether some example has a negative under negatives "unrated": a user
 * with a label who did not rate every movie in training. */
static bool any_negative(const mfr_sm_trainer *tr)
{
    for (int32_t u = 0; u < tr->n_users; u++)
        if (tr->n_labels[u] > 0 && tr->row_ptr[u + 1] - tr->row_ptr[u] < tr->items.n_items) return true;
    return false;
}

/* MFR_OK when the rows (build_rows) give something to learn from, else
 * MFR_ERR_INVALID saying why: no example at all, or under negatives
 * "unrated" no example with a negative (each softmax over its label
 * alone: loss 0, no gradient). Either way the model would be its random
 * start. */
static int check_learnable(const mfr_sm_trainer *tr, mfr_error *err)
{
    const mfr_softmax_config *cfg = &tr->cfg;
    const bool none = count_examples(tr, 0, tr->n_users) == 0;
    if (none && cfg->label_min_rating > 0.0)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "softmax trainer: label_min_rating (--min-label-rating) %.9g leaves no "
                          "examples: no user has a movie rated at least that besides another rated "
                          "movie",
                          (double)(float)cfg->label_min_rating);
    if (none)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "softmax trainer: no examples: no user has two rated movies in the "
                          "training ratings (one is the label, the others its features)");
    if (cfg->negatives == MFR_SOFTMAX_NEG_UNRATED && !any_negative(tr))
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "softmax trainer: negatives (--negatives) unrated leaves no example a "
                          "negative: every user with a label rated all %d movies in training, so "
                          "each softmax holds its label alone (loss 0) and nothing is learned "
                          "(negatives all learns from them)",
                          (int)tr->items.n_items);
    return MFR_OK;
}

/* The float width of one layer's vector in a slot (16-float aligned). */
static int64_t slot_width(const mfr_sm_trainer *tr) { return (tr->lay.max_width + 15) / 16 * 16; }

/* The bytes of the training rows (build_rows) of n pairs: row_ptr and
 * its temporary copy, movie, n_labels and the label and dropout marks. */
static double rows_bytes(const mfr_softmax_config *cfg, int32_t n_users, int64_t n)
{
    const double N = n_users, b = 2.0 * (N + 1) * 8 + (double)n * 4 + N * 4;
    return b + (cfg->label_min_rating > 0.0 ? (double)n : 0) + (cfg->feature_dropout > 0.0 ? (double)n : 0);
}

/* The buffers' sizes (in tr) from the layout, max_nf and max_ex, and the
 * bytes alloc_buffers takes for them. */
static double size_buffers(mfr_sm_trainer *tr)
{
    const double P = (double)tr->lay.n_params, X = SM_BATCH_EX, T = tr->n_threads;
    tr->scratch_floats = (mfr_sm_scratch_floats(&tr->lay) + 15) / 16 * 16;
    /* the scratch, then dy for each layer and d0 (slot_dy) */
    tr->slot_floats = tr->scratch_floats + slot_width(tr) * (tr->lay.n_layers + 1);
    tr->ids_per_slot = (int64_t)tr->items.max_genres * tr->max_nf;
    tr->ldt = ((int64_t)tr->lay.V.rows + 15) / 16 * 16;
    tr->gtmp_floats = ((int64_t)SM_FUSE_ROWS * tr->lay.V.cols + 31) / 16 * 16;
    tr->w0p = ((int64_t)tr->lay.width[0] + 15) / 16 * 16;
    const double states = tr->cfg.optimizer == MFR_SOFTMAX_OPT_ADAM ? 2 : 1;
    return 4.0 * (P * (2 + states) + (double)tr->ldt * tr->lay.V.cols + X * (double)tr->slot_floats +
                  X * (double)tr->ids_per_slot + T * (double)tr->gtmp_floats +
                  (double)tr->group_users * ((double)tr->w0p + 3) + (1 + T) * (double)tr->w0p +
                  2.0 * (double)tr->max_ex + tr->n_groups) +
           (double)sizeof(mfr_softmax_step) * tr->n_groups;
}

/* The memory budget (cfg.max_memory, else the physical memory) against
 * the trainer's `need` bytes (`at_least`: a lower bound, before the rows
 * are known) and the caller's `beside`: MFR_ERR_TOO_LARGE naming both,
 * before the bytes are allocated. */
static int check_budget(mfr_sm_trainer *tr, double need, double beside, bool at_least, mfr_error *err)
{
    const uint64_t budget = tr->cfg.max_memory ? tr->cfg.max_memory : mfr_physical_memory();
    const double peak = need + beside;
    tr->need_bytes = need < 0x1p63 ? (uint64_t)need : UINT64_MAX;
    tr->peak_bytes = peak < 0x1p63 ? (uint64_t)peak : UINT64_MAX;
    if (!budget || peak <= (double)budget) return MFR_OK;
    char a[16], b[16], c[16];
    return mfr_seterr(err, MFR_ERR_TOO_LARGE,
                      "softmax training needs %s%s (parameters, optimizer state, training rows and "
                      "buffers) and %s beside them (ratings, dataset), more than the memory budget "
                      "of %s (%s)",
                      at_least ? "at least " : "", mfr_size_text(need, a), mfr_size_text(beside, b), mfr_size_text((double)budget, c),
                      tr->cfg.max_memory ? "max_memory, --max-memory"
                                         : "the physical memory; --max-memory sets another");
}

/* The buffers, at the sizes size_buffers set (after the rows: max_nf, max_ex). */
static int alloc_buffers(mfr_sm_trainer *tr, mfr_error *err)
{
    int64_t P = tr->lay.n_params, X = SM_BATCH_EX;
    size_t vb;
    if (!mfr_mul_size((size_t)tr->ldt, (size_t)tr->lay.V.cols * sizeof(float), &vb))
        return mfr_seterr(err, MFR_ERR_TOO_LARGE, "softmax trainer: buffer sizes overflow");
    tr->theta = mfr_aligned_calloc((size_t)P * sizeof(float));
    tr->state[0] = mfr_aligned_calloc((size_t)P * sizeof(float));
    if (tr->cfg.optimizer == MFR_SOFTMAX_OPT_ADAM)
        tr->state[1] = mfr_aligned_calloc((size_t)P * sizeof(float));
    tr->grad = mfr_aligned_calloc((size_t)P * sizeof(float));
    tr->vt = mfr_aligned_calloc(vb);
    tr->slot = mfr_aligned_calloc((size_t)(X * tr->slot_floats) * sizeof(float));
    tr->ids = mfr_malloc(sizeof(int32_t) * (size_t)(X * tr->ids_per_slot));
    tr->gtmp = mfr_aligned_calloc(sizeof(float) * (size_t)tr->n_threads * (size_t)tr->gtmp_floats);
    tr->usum = mfr_aligned_calloc(sizeof(float) * (size_t)tr->group_users * (size_t)tr->w0p);
    tr->ucount = mfr_malloc(sizeof(int32_t) * 3 * (size_t)tr->group_users);
    tr->gcur = mfr_aligned_calloc(sizeof(float) * (size_t)tr->w0p);
    tr->tg = mfr_aligned_calloc(sizeof(float) * (size_t)tr->n_threads * (size_t)tr->w0p);
    tr->ex_user = mfr_malloc(sizeof(int32_t) * (size_t)tr->max_ex);
    tr->ex_label = mfr_malloc(sizeof(int32_t) * (size_t)tr->max_ex);
    tr->order = mfr_malloc(sizeof(int32_t) * (size_t)tr->n_groups);
    tr->steps = mfr_malloc(sizeof(mfr_softmax_step) * (size_t)tr->n_groups);
    if (!tr->theta || !tr->state[0] || (tr->cfg.optimizer == MFR_SOFTMAX_OPT_ADAM && !tr->state[1]) ||
        !tr->grad || !tr->vt || !tr->slot || !tr->ids || !tr->gtmp || !tr->usum ||
        !tr->ucount || !tr->gcur || !tr->tg ||
        !tr->ex_user || !tr->ex_label || !tr->order || !tr->steps)
        return mfr_seterr(err, MFR_ERR_NOMEM, "softmax trainer: out of memory (%lld parameters)",
                          (long long)P);
    if (tr->cfg.optimizer == MFR_SOFTMAX_OPT_ADAGRAD)
        for (int64_t x = 0; x < P; x++) tr->state[0][x] = (float)tr->cfg.adagrad_init;
    return MFR_OK;
}

int mfr_sm_trainer_create(const mfr_softmax_config *cfg, int32_t n_users,
                          const struct mfr_sm_items *items, const int32_t *users,
                          const int32_t *items_of, const float *ratings, int64_t n,
                          const float *theta0, int n_threads, mfr_sm_trainer **out,
                          mfr_error *err)
{
    return mfr_sm_trainer_create_beside(cfg, n_users, items, users, items_of, ratings, n, theta0,
                                        n_threads, 0.0, out, err);
}

int mfr_sm_trainer_create_beside(const mfr_softmax_config *cfg, int32_t n_users,
                                 const struct mfr_sm_items *items, const int32_t *users,
                                 const int32_t *items_of, const float *ratings, int64_t n,
                                 const float *theta0, int n_threads, double beside,
                                 mfr_sm_trainer **out, mfr_error *err)
{
    *out = NULL;
    int st = mfr_softmax_config_validate(cfg, err);
    if (st) return st;
    if (n_users < 1 || !items || n < 0 || (n > 0 && (!users || !items_of)))
        return mfr_seterr(err, MFR_ERR_INVALID, "softmax trainer: no users or no pairs");
    if (cfg->feature_dropout > 0.0 && n >= (INT64_C(1) << 40)) /* the draws' index */
        return mfr_seterr(err, MFR_ERR_TOO_LARGE,
                          "softmax trainer: feature_dropout (--feature-dropout) needs fewer than "
                          "2^40 training ratings, got %lld",
                          (long long)n);
    mfr_sm_trainer *tr = mfr_calloc(1, sizeof *tr);
    if (!tr) return mfr_seterr(err, MFR_ERR_NOMEM, "softmax trainer: out of memory");
    tr->cfg = *cfg;
    tr->n_users = n_users;
    tr->n_threads = n_threads > 0 ? n_threads : mfr_default_threads();
    if ((st = copy_items(items, &tr->items, err))) goto fail;
    if ((st = mfr_sm_layout_make(cfg, items->n_items, items->n_genres, items->n_years, &tr->lay,
                                 err)))
        goto fail;
    tr->group_users = cfg->batch_users > 0 && cfg->batch_users < n_users ? cfg->batch_users
                                                                          : n_users;
    tr->n_groups = (int32_t)((n_users + (int64_t)tr->group_users - 1) / tr->group_users);
    /* the budget before the rows, with the least the buffers can take (a
     * row of one movie, one example a group), then with the rows' sizes */
    const double items_bytes = 4.0 * (2.0 * items->n_items + 1 + items->genre_ptr[items->n_items]);
    tr->max_nf = 1, tr->max_ex = 1;
    if ((st = check_budget(tr, items_bytes + rows_bytes(cfg, n_users, n) + size_buffers(tr), beside, true,
                           err)))
        goto fail;
    if ((st = build_rows(tr, users, items_of, ratings, n, err))) goto fail;
    for (int32_t g = 0; g < tr->n_groups; g++) {
        int32_t u0 = g * tr->group_users;
        int64_t c = count_examples(tr, u0, u0 + tr->group_users < tr->n_users
                                               ? u0 + tr->group_users : tr->n_users);
        if (c > tr->max_ex) tr->max_ex = c;
    }
    if ((st = check_budget(tr, items_bytes + rows_bytes(cfg, n_users, n) + size_buffers(tr), beside, false,
                           err)))
        goto fail;
    if ((st = check_learnable(tr, err))) goto fail;
    const struct mfr_sm_block *tab[3] = {&tr->lay.movie, &tr->lay.genre, &tr->lay.year};
    for (int f = 0, col = 0; f < 3; f++)
        if (cfg->features & (1u << f)) {
            tr->blk[tr->n_blk++] = (struct pool_blk){f, tab[f]->offset, tab[f]->cols, col};
            col += tab[f]->cols;
        }
    tr->n_shards = cfg->n_shards > 0 ? cfg->n_shards : SM_DEFAULT_SHARDS;
    if (tr->n_shards > tr->group_users) tr->n_shards = tr->group_users;
    mfr_threads_spread(tr->n_threads);
    const int32_t zero_was = mfr_zero_threads_set(tr->n_threads); /* its buffers: its threads */
    st = alloc_buffers(tr, err);
    mfr_zero_threads_set(zero_was);
    if (st) goto fail;
    tr->kern = mfr_kernels_select(cfg->kernels, err);
    /* auto: the widest set (AVX-512 when the CPU has it); --kernels
     * avx512, avx2 and ref as asked (mfr_kernels_select has refused a set
     * the CPU lacks) */
    tr->sm_kern = cfg->kernels == MFR_KERNELS_AUTO     ? mfr_sm_kern_best()
                  : cfg->kernels == MFR_KERNELS_AVX512 ? &mfr_sm_kern_avx512
                  : tr->kern != &mfr_kernels_ref       ? &mfr_sm_kern_avx2
                                                       : &mfr_sm_kern_ref;
    if (!tr->kern) {
        st = MFR_ERR_UNSUPPORTED;
        goto fail;
    }
    if (theta0)
        memcpy(tr->theta, theta0, sizeof(float) * (size_t)tr->lay.n_params);
    else
        mfr_sm_init(&tr->lay, cfg->seed, cfg->hidden_init, tr->theta);
    *out = tr;
    return MFR_OK;
fail:
    mfr_sm_trainer_destroy(tr);
    return st;
}

uint64_t mfr_sm_trainer_memory_bytes(const mfr_sm_trainer *tr) { return tr ? tr->need_bytes : 0; }
uint64_t mfr_sm_trainer_peak_bytes(const mfr_sm_trainer *tr) { return tr ? tr->peak_bytes : 0; }

/* Slot x holds one example of the chunk: the scratch of
 * mfr_sm_scratch_bind, then dy[l] for l < n_layers (the gradient at layer
 * l's output, the linear map's dy) and, at l = n_layers, d0 (the gradient
 * at the pooled input h_0). */
static float *slot_of(const mfr_sm_trainer *tr, int32_t x)
{
    return tr->slot + (size_t)x * (size_t)tr->slot_floats;
}

static float *slot_dy(const mfr_sm_trainer *tr, int32_t x, int l)
{
    return slot_of(tr, x) + tr->scratch_floats + (size_t)l * (size_t)slot_width(tr);
}

static void slot_bind(const mfr_sm_trainer *tr, int32_t x, struct mfr_sm_scratch *sc)
{
    mfr_sm_scratch_bind(sc, &tr->lay, slot_of(tr, x));
    sc->ids = tr->ids + (size_t)x * (size_t)tr->ids_per_slot;
    sc->kern = tr->sm_kern;
}

/* The examples of users [u0, u1) in epoch `epoch`, in order, into
 * ex_user and ex_label (the label's position in the user's row): every
 * movie that may be a label (all pairs), or one drawn among them. */
static void fill_examples(mfr_sm_trainer *tr, int32_t u0, int32_t u1, int64_t epoch)
{
    int64_t n = 0;
    for (int32_t u = u0; u < u1; u++) {
        const int32_t m_u = tr->n_labels[u];
        if (m_u == 0) continue;
        const int64_t r0 = tr->row_ptr[u], n_u = tr->row_ptr[u + 1] - r0;
        /* one label: the pick-th of the user's possible labels */
        int32_t pick = tr->cfg.all_pairs ? -1 : mfr_sm_label_index(tr->cfg.seed, epoch, u, m_u);
        for (int64_t j = 0; j < n_u; j++) {
            if (!may_label(tr, r0 + j)) continue;
            if (pick < 0 || pick-- == 0) {
                tr->ex_user[n] = u;
                tr->ex_label[n++] = (int32_t)j;
            }
            if (pick < 0 && !tr->cfg.all_pairs) break;
        }
    }
}

/* Leave-one-out pooling. An example's features are its user's movies but
 * the label, so its pooled block of table f is (S - L) / (N - n): S the
 * sum of the rows of the user's whole list (N rows; user_sums, once per
 * step), L the sum of the label's n rows. Backward, with t = d / (N - n)
 * (d the example's gradient at that block): the label's rows get -t at
 * the example, and every row of the user's list gets the sum of t over
 * the user's examples once the user's last example is through
 * (pool_back). A user of n movies costs O(n), not the O(n^2) of pooling
 * each example's own list. */

/* The rows of table f for the movie at m (a place in tr->movie): movies
 * the movie itself, genres its genre ids, years its year bucket. */
static const int32_t *movie_rows(const mfr_sm_trainer *tr, int f, const int32_t *m, int32_t *n)
{
    const struct mfr_sm_items *it = &tr->items;
    if (f == 1) {
        *n = it->genre_ptr[*m + 1] - it->genre_ptr[*m];
        return it->genre + it->genre_ptr[*m];
    }
    *n = 1;
    return f == 2 ? it->year_bucket + *m : m;
}

/* User u's whole-list sums and row counts, one per table (u in the
 * step). With feature dropout, first which of the user's movies this
 * epoch keeps (tr->keep, drawn here once per user and step), and the sums
 * and counts of the kept ones only. */
static void user_sums(mfr_sm_trainer *tr, int32_t u)
{
    float *S = tr->usum + (size_t)(u - tr->step_u0) * (size_t)tr->w0p;
    int32_t *N = tr->ucount + (size_t)(u - tr->step_u0) * 3;
    const int32_t *row = tr->movie + tr->row_ptr[u];
    const int64_t n_u = tr->row_ptr[u + 1] - tr->row_ptr[u];
    uint8_t *keep = tr->keep ? tr->keep + tr->row_ptr[u] : NULL;
    for (int64_t j = 0; keep && j < n_u; j++)
        keep[j] = (uint8_t)mfr_sm_dropout_keep(tr->cfg.seed, tr->cfg.feature_dropout, tr->drop_e,
                                               tr->row_ptr[u] + j);
    for (int b = 0; b < tr->n_blk; b++) {
        const struct pool_blk *k = &tr->blk[b];
        float *s = S + k->col;
        const float *table = tr->theta + k->offset;
        int32_t count = 0;
        memset(s, 0, sizeof(float) * (size_t)k->dim);
        for (int64_t j = 0; j < n_u; j++) {
            if (keep && !keep[j]) continue; /* dropped this epoch */
            int32_t n;
            const int32_t *ids = movie_rows(tr, k->f, row + j, &n);
            for (int32_t q = 0; q < n; q++) {
                const float *r = table + (size_t)ids[q] * (size_t)k->dim;
                for (int32_t c = 0; c < k->dim; c++) s[c] += r[c];
            }
            count += n;
        }
        N[b] = count;
    }
}

/* The sums of the step's users that have examples (orphaned omp for, no
 * barrier). */
static void step_user_sums(mfr_sm_trainer *tr)
{
#pragma omp for schedule(dynamic, 4) nowait
    for (int32_t u = tr->step_u0; u < tr->step_u1; u++)
        if (tr->n_labels[u] > 0) user_sums(tr, u);
}

/* Example e's pooling (from its user's sums) and forward pass, into slot x. */
static void example_forward(mfr_sm_trainer *tr, int64_t e, int32_t x)
{
    const int32_t u = tr->ex_user[e];
    const int64_t at = tr->row_ptr[u] + tr->ex_label[e];
    const int32_t *label = tr->movie + at;
    const int kept = !tr->keep || tr->keep[at]; /* a dropped label is not in the sums */
    const float *S = tr->usum + (size_t)(u - tr->step_u0) * (size_t)tr->w0p;
    const int32_t *N = tr->ucount + (size_t)(u - tr->step_u0) * 3;
    struct mfr_sm_scratch sc;
    slot_bind(tr, x, &sc);
    for (int b = 0; b < tr->n_blk; b++) {
        const struct pool_blk *k = &tr->blk[b];
        float *out = sc.h[0] + k->col;
        int32_t n_l;
        const int32_t *ids = movie_rows(tr, k->f, label, &n_l);
        if (!kept) n_l = 0; /* nothing to take out */
        if (N[b] == n_l) { /* no other rows: an empty mean */
            memset(out, 0, sizeof(float) * (size_t)k->dim);
            continue;
        }
        memcpy(out, S + k->col, sizeof(float) * (size_t)k->dim);
        for (int32_t q = 0; q < n_l; q++) {
            const float *r = tr->theta + k->offset + (size_t)ids[q] * (size_t)k->dim;
            for (int32_t c = 0; c < k->dim; c++) out[c] -= r[c];
        }
        const float inv = 1.0f / (float)(N[b] - n_l);
        for (int32_t c = 0; c < k->dim; c++) out[c] *= inv;
    }
    mfr_sm_mlp_forward(&tr->lay, tr->theta, &sc);
}

/* The pooling's gradient for the step's examples e0 .. e0 + nb - 1 (slots
 * 0 .. nb - 1) into the rows lo <= r < hi of table `only` (-1: every
 * table, every row): per example t into G (the current user's sum, kept
 * across calls) and -t into the label's rows; after a user's last
 * example, G into every row of the user's list, then G = 0. A row gets
 * its adds in example order whatever rows and tables a call covers, so
 * threads that own disjoint rows can share the work. */
static void pool_back(mfr_sm_trainer *tr, int64_t e0, int32_t nb, int only, int32_t lo,
                      int32_t hi, float *G)
{
    const int L = tr->lay.n_layers;
    for (int32_t x = 0; x < nb; x++) {
        const int64_t e = e0 + x;
        const int32_t u = tr->ex_user[e];
        const int32_t *row = tr->movie + tr->row_ptr[u], *label = row + tr->ex_label[e];
        const uint8_t *keep = tr->keep ? tr->keep + tr->row_ptr[u] : NULL;
        const int kept = !keep || keep[tr->ex_label[e]];
        const int32_t *N = tr->ucount + (size_t)(u - tr->step_u0) * 3;
        const int last = e + 1 == tr->n_ex || tr->ex_user[e + 1] != u;
        const float *d0 = slot_dy(tr, x, L);
        for (int b = 0; b < tr->n_blk; b++) {
            const struct pool_blk *k = &tr->blk[b];
            if (only >= 0 && k->f != only) continue;
            float *g = G + k->col, *gt = tr->grad + k->offset;
            const float *d = d0 + k->col;
            int32_t n_l;
            const int32_t *ids = movie_rows(tr, k->f, label, &n_l);
            if (!kept) n_l = 0; /* a dropped label: not in the features, no -t */
            if (N[b] > n_l) {
                const float inv = 1.0f / (float)(N[b] - n_l);
                for (int32_t c = 0; c < k->dim; c++) g[c] += d[c] * inv;
                for (int32_t q = 0; q < n_l; q++) {
                    if (ids[q] < lo || ids[q] >= hi) continue; /* another thread's row */
                    float *r = gt + (size_t)ids[q] * (size_t)k->dim;
                    for (int32_t c = 0; c < k->dim; c++) r[c] -= d[c] * inv;
                }
            }
            if (!last) continue;
            const int64_t n_u = tr->row_ptr[u + 1] - tr->row_ptr[u];
            for (int64_t j = 0; j < n_u; j++) {
                if (keep && !keep[j]) continue; /* dropped: no pooling gradient */
                int32_t n;
                const int32_t *rr = movie_rows(tr, k->f, row + j, &n);
                for (int32_t q = 0; q < n; q++) {
                    if (rr[q] < lo || rr[q] >= hi) continue;
                    float *r = gt + (size_t)rr[q] * (size_t)k->dim;
                    for (int32_t c = 0; c < k->dim; c++) r[c] += g[c];
                }
            }
            memset(g, 0, sizeof(float) * (size_t)k->dim);
        }
    }
}

/* Example x's MLP backward pass from du (its dy[n_layers - 1]) down to
 * d0, the input gradients only (dx; the weights' wait for phase C). */
static void example_backward(mfr_sm_trainer *tr, int32_t x)
{
    const struct mfr_sm_layout *lay = &tr->lay;
    struct mfr_sm_scratch sc;
    slot_bind(tr, x, &sc);
    for (int l = lay->n_layers - 1; l >= 0; l--) {
        float *dx = l > 0 ? sc.dz : slot_dy(tr, x, lay->n_layers);
        sc.kern->linear_back(dx, NULL, NULL, tr->theta + lay->W[l].offset, NULL,
                             slot_dy(tr, x, l), lay->width[l + 1], lay->width[l]);
        if (l > 0) sc.kern->relu_back(slot_dy(tr, x, l - 1), sc.z[l], dx, lay->width[l]);
    }
}

/* Phase A for the n <= 4 examples e0 + x0.. in slots x0.. (x0 a multiple
 * of 4): all that
 * depends on each example alone, into its slot: the forward pass, the
 * logits of four examples at once (a slot past n computes on stale data,
 * which nothing reads), the cross-entropy's gradient in place, du for
 * four at once, the MLP's backward pass down to d0. */
static void group_logits(mfr_sm_trainer *tr, int64_t e0, int32_t x0, int32_t n)
{
    const struct mfr_sm_layout *lay = &tr->lay;
    const int L = lay->n_layers;
    const int32_t M = lay->V.rows, k = lay->V.cols;
    struct mfr_sm_scratch sc;
    slot_bind(tr, x0, &sc);
    const int64_t ld = tr->slot_floats;
    sc.kern->logits_t4(sc.s, ld, sc.h[L], ld, tr->vt, tr->ldt, M, k);
    for (int32_t x = x0; x < x0 + n; x++) {
        const int32_t u = tr->ex_user[e0 + x], j = tr->ex_label[e0 + x];
        const int32_t *row = tr->movie + tr->row_ptr[u];
        float *s = slot_of(tr, x) + (sc.s - slot_of(tr, x0));
        if (tr->cfg.negatives == MFR_SOFTMAX_NEG_UNRATED) { /* the features: the row but j */
            mfr_sm_mask_logits(s, row, j);
            mfr_sm_mask_logits(s, row + j + 1, (int32_t)(tr->row_ptr[u + 1] - tr->row_ptr[u]) - j - 1);
        }
        tr->ex_loss[x] = sc.kern->xent(s, M, row[j], tr->weight);
    }
    sc.kern->logits_du4(slot_dy(tr, x0, L - 1), ld, sc.s, ld, tr->theta + lay->V.offset, M, k);
}

static void group_forward_back(mfr_sm_trainer *tr, int64_t e0, int32_t x0, int32_t n)
{
    for (int32_t x = x0; x < x0 + n; x++) example_forward(tr, e0 + x, x);
    group_logits(tr, e0, x0, n);
    for (int32_t x = x0; x < x0 + n; x++) example_backward(tr, x);
}

/* Phase C's MLP part for example x: the weight gradients (dy x^T, dy). */
static void mlp_weights(mfr_sm_trainer *tr, int32_t x)
{
    const struct mfr_sm_layout *lay = &tr->lay;
    struct mfr_sm_scratch sc;
    slot_bind(tr, x, &sc);
    float *g = tr->grad;
    for (int l = lay->n_layers - 1; l >= 0; l--)
        sc.kern->linear_back(NULL, g + lay->W[l].offset, g + lay->b[l].offset,
                             tr->theta + lay->W[l].offset, sc.h[l], slot_dy(tr, x, l),
                             lay->width[l + 1], lay->width[l]);
}

/* Phase B: V's gradient for the chunk's nb examples, row blocks taken by
 * threads (orphaned omp for, no barrier); add: continue the earlier
 * chunks' sums. */
static void vgrad_rows(mfr_sm_trainer *tr, int32_t nb, int add)
{
    const struct mfr_sm_layout *lay = &tr->lay;
    const int32_t M = lay->V.rows, k = lay->V.cols, nblk = (M + SM_ROWS - 1) / SM_ROWS;
    struct mfr_sm_scratch sc;
    slot_bind(tr, 0, &sc); /* the offsets of ds and u inside a slot */
#pragma omp for schedule(dynamic, 1) nowait
    for (int32_t r = 0; r < nblk; r++) {
        int32_t i0 = r * SM_ROWS, i1 = i0 + SM_ROWS < M ? i0 + SM_ROWS : M;
        tr->sm_kern->outer_rows(tr->grad + lay->V.offset, sc.s, tr->slot_floats,
                                sc.h[lay->n_layers], tr->slot_floats, nb, i0, i1, k, add);
    }
}

/* Before a step's examples (orphaned omp fors, no barrier): the users'
 * sums when asked, and when the last step left them otherwise, V
 * transposed into vt and the gradient zeroed outside V's rows (phase B
 * writes those). */
static void step_prepare(mfr_sm_trainer *tr, int sums, int transpose, int zero)
{
    if (sums) step_user_sums(tr);
    const struct mfr_sm_layout *lay = &tr->lay;
    const int32_t M = lay->V.rows, k = lay->V.cols, nblk = (M + SM_ROWS - 1) / SM_ROWS;
    const float *V = tr->theta + lay->V.offset;
    if (transpose) {
#pragma omp for schedule(static) nowait
        for (int32_t r = 0; r < nblk; r++) {
            int32_t i0 = r * SM_ROWS, i1 = i0 + SM_ROWS < M ? i0 + SM_ROWS : M;
            tr->sm_kern->transpose(tr->vt, tr->ldt, V, i0, i1, k);
        }
    }
    if (!zero) return;
    const int64_t P = lay->n_params, v0 = lay->V.offset, v1 = v0 + (int64_t)M * k;
    const int64_t n_chunks = (P + SM_CHUNK - 1) / SM_CHUNK;
#pragma omp for schedule(static) nowait
    for (int64_t c = 0; c < n_chunks; c++) {
        int64_t x0 = c * SM_CHUNK, x1 = x0 + SM_CHUNK < P ? x0 + SM_CHUNK : P;
        int64_t a = x1 < v0 ? x1 : v0, b = x0 > v1 ? x0 : v1;
        if (a > x0) memset(tr->grad + x0, 0, sizeof(float) * (size_t)(a - x0));
        if (x1 > b) memset(tr->grad + b, 0, sizeof(float) * (size_t)(x1 - b));
    }
}

/* The update of the floats [x0, x0 + n): decoupled weight decay, then the
 * optimizer's elementwise step. */
static void update_grad(mfr_sm_trainer *tr, int64_t x0, int64_t n, const float *g,
                        const struct mfr_adam_coef *ac)
{
    if (tr->cfg.weight_decay > 0.0) { /* decoupled (AdamW): p *= 1 - lr wd, before the step */
        const float keep = (float)(1.0 - tr->cfg.lr * tr->cfg.weight_decay);
        float *p = tr->theta + x0;
        for (int64_t x = 0; x < n; x++) p[x] *= keep;
    }
    if (tr->cfg.optimizer == MFR_SOFTMAX_OPT_ADAM && tr->sm_kern->adam)
        tr->sm_kern->adam(tr->theta + x0, tr->state[0] + x0, tr->state[1] + x0, g, n, ac);
    else if (tr->cfg.optimizer == MFR_SOFTMAX_OPT_ADAM)
        tr->kern->adam(tr->theta + x0, tr->state[0] + x0, tr->state[1] + x0, g, n, ac);
    else
        tr->sm_kern->adagrad(tr->theta + x0, tr->state[0] + x0, g, n, (float)tr->cfg.lr);
}

static void update_chunk(mfr_sm_trainer *tr, int64_t x0, int64_t n, const struct mfr_adam_coef *ac)
{
    update_grad(tr, x0, n, tr->grad + x0, ac);
}

/* The update of [x0, x1), then its gradient zeroed for the next step
 * (the owner phase: the floats are still in cache). */
static void update_zero(mfr_sm_trainer *tr, int64_t x0, int64_t x1, const struct mfr_adam_coef *ac)
{
    if (x1 <= x0) return;
    update_chunk(tr, x0, x1 - x0, ac);
    memset(tr->grad + x0, 0, sizeof(float) * (size_t)(x1 - x0));
}

/* Thread t of T's rows of a block of `rows` rows: whole groups of
 * SM_FUSE_ROWS rows, contiguous, a pure function of (rows, t, T). */
static void owned_rows(int32_t rows, int t, int T, int32_t *r0, int32_t *r1)
{
    const int64_t G = ((int64_t)rows + SM_FUSE_ROWS - 1) / SM_FUSE_ROWS;
    const int64_t a = G * t / T * SM_FUSE_ROWS, b = G * (t + 1) / T * SM_FUSE_ROWS;
    *r0 = (int32_t)(a < rows ? a : rows);
    *r1 = (int32_t)(b < rows ? b : rows);
}

/* The floats of rows [r0, r1) of block b; the last row's to the block's
 * padded end (16 floats), so that a range of groups of 8 rows is whole
 * aligned vectors. */
static int64_t rows_end(const struct mfr_sm_block *b, int32_t r)
{
    return r == b->rows ? b->offset + ((int64_t)b->rows * b->cols + 15) / 16 * 16
                        : b->offset + (int64_t)r * b->cols;
}


/* The owner phase of a step of one chunk (nb examples, finite loss,
 * tables not tied), thread t of T, no barrier inside: phases B and C and
 * the update, split by parameter rows. Each thread owns fixed groups of 8
 * rows of each embedding table and of V (owned_rows; the same rows at
 * every step, so they stay in its cache), and thread T - 1 the MLP's
 * weights. A thread makes the whole gradient of its rows, each one the
 * same chain over the examples in order as the serial phase C (the
 * tables' scatter, pool_back, skips the other threads' rows) or phase B, then
 * updates them at once and zeroes their gradient for the next step; V's
 * rows eight at a time (the gradient still in L1; the update's square
 * roots and divisions overlap the next rows' FMAs), each group then
 * transposed into vt for the next step's logits. */
static void owner_tables(mfr_sm_trainer *tr, int32_t nb, const struct mfr_adam_coef *ac, int t,
                         int T, int mlp)
{
    const struct mfr_sm_layout *lay = &tr->lay;
    const struct mfr_sm_block *tab[3] = {&lay->movie, &lay->genre, &lay->year};
    float *G = tr->tg + (size_t)omp_get_thread_num() * (size_t)tr->w0p;
    for (int b = 0; b < tr->n_blk; b++) {
        const int f = tr->blk[b].f;
        int32_t r0, r1;
        owned_rows(tab[f]->rows, t, T, &r0, &r1);
        if (r0 == r1) continue;
        pool_back(tr, 0, nb, f, r0, r1, G);
        if (f > 0) {
            update_zero(tr, rows_end(tab[f], r0), rows_end(tab[f], r1), ac);
            continue;
        }
        /* the movie table: only the rows of the step's users have a
         * gradient, so only they need zeroing again (the others are) */
        update_chunk(tr, rows_end(tab[f], r0), rows_end(tab[f], r1) - rows_end(tab[f], r0), ac);
        const int32_t dim = tab[f]->cols;
        for (int32_t u = tr->step_u0; u < tr->step_u1; u++) {
            if (tr->n_labels[u] == 0) continue; /* no examples */
            for (int64_t j = tr->row_ptr[u]; j < tr->row_ptr[u + 1]; j++)
                if (tr->movie[j] >= r0 && tr->movie[j] < r1)
                    memset(tr->grad + tab[f]->offset + (int64_t)tr->movie[j] * dim, 0,
                           sizeof(float) * (size_t)dim);
        }
    }
    if (mlp) {
        for (int32_t x = 0; x < nb; x++) mlp_weights(tr, x);
        update_zero(tr, lay->W[0].offset, lay->V.offset, ac);
    }
}

static void owner_vrows(mfr_sm_trainer *tr, int32_t nb, const struct mfr_adam_coef *ac, int32_t r0,
                        int32_t r1)
{
    const struct mfr_sm_layout *lay = &tr->lay;
    const int32_t k = lay->V.cols;
    struct mfr_sm_scratch sc;
    slot_bind(tr, 0, &sc); /* the offsets of ds and u inside a slot */
    /* the gradient of 8 rows into a buffer of the thread's own, which
     * stays in L1 (V's part of grad is not used in this mode) */
    float *g = tr->gtmp + (size_t)omp_get_thread_num() * (size_t)tr->gtmp_floats;
    for (int32_t i = r0; i < r1; i += SM_FUSE_ROWS) {
        const int32_t j = i + SM_FUSE_ROWS < r1 ? i + SM_FUSE_ROWS : r1;
        tr->sm_kern->outer_rows(g, sc.s + i, tr->slot_floats, sc.h[lay->n_layers],
                                tr->slot_floats, nb, 0, j - i, k, 0);
        const int64_t x0 = rows_end(&lay->V, i), n = rows_end(&lay->V, j) - x0;
        if (n > (int64_t)(j - i) * k) /* V's padding: a zero gradient */
            memset(g + (j - i) * k, 0, sizeof(float) * (size_t)(n - (int64_t)(j - i) * k));
        update_grad(tr, x0, n, g, ac);
        tr->sm_kern->transpose(tr->vt, tr->ldt, tr->theta + lay->V.offset, i, j, k);
    }
}

static void owner_phase(mfr_sm_trainer *tr, int32_t nb, const struct mfr_adam_coef *ac, int t,
                        int T)
{
    int32_t r0, r1;
    owner_tables(tr, nb, ac, t, T, t == T - 1);
    owned_rows(tr->lay.V.rows, t, T, &r0, &r1);
    owner_vrows(tr, nb, ac, r0, r1);
}

/* The sum of the chunk's nb example losses in example order (phase C's
 * sum for a step of one chunk). */
static double chunk_loss(const mfr_sm_trainer *tr, int32_t nb)
{
    double sum = 0.0;
    for (int32_t x = 0; x < nb; x++) sum += tr->ex_loss[x];
    return sum;
}

/* Waits for the other thread's flag: spins a while (the usual wait is a
 * few microseconds), then yields the core, in case the other thread
 * waits for it (more threads than free cores). */
static void wait_seq(const int64_t *flag, int64_t seq)
{
    for (int n = 0; __atomic_load_n(flag, __ATOMIC_ACQUIRE) != seq; n++) {
        if (n >= 2000) {
            sched_yield();
            continue;
        }
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
}

/* A step of one chunk (untied tables) on a team of two, split by what
 * the threads own instead of by examples: thread 0 everything of V (the
 * logits, cross-entropy and du of each group of four examples, then V's
 * gradient, update and transpose), thread 1 the rest (each group's
 * pooling and MLP, forward and, once thread 0 has its du, backward; then
 * the tables' and the MLP's gradients and update). The two hand each
 * other a group's u and du through flags holding the step's sequence
 * number (release / acquire), so V, its moments and vt never leave
 * thread 0's cache: split by examples, both threads read all of V and
 * vt in every step and the owners rewrite them, which cost more than
 * the halved work saved. Every chain is the one of the other modes.
 * Returns the loss sum (thread 0's). */
static double pair_phase(mfr_sm_trainer *tr, int32_t nb, const struct mfr_adam_coef *ac, int t)
{
    const int64_t seq = tr->seq;
    const int32_t G = (nb + 3) / 4;
    if (t == 1) {
        for (int32_t u = tr->step_u0; u < tr->step_u1; u++)
            if (tr->n_labels[u] > 0) user_sums(tr, u);
        for (int32_t g = 0; g < G; g++) {
            for (int32_t x = 4 * g; x < nb && x < 4 * g + 4; x++) example_forward(tr, x, x);
            __atomic_store_n(&tr->fwd_seq[g], seq, __ATOMIC_RELEASE);
        }
        for (int32_t g = 0; g < G; g++) {
            wait_seq(&tr->du_seq[g], seq);
            for (int32_t x = 4 * g; x < nb && x < 4 * g + 4; x++) example_backward(tr, x);
        }
        const double s = chunk_loss(tr, nb); /* thread 0 wrote the losses before du */
        if (isfinite(s)) owner_tables(tr, nb, ac, 0, 1, 1);
        return s;
    }
    for (int32_t g = 0; g < G; g++) {
        wait_seq(&tr->fwd_seq[g], seq);
        group_logits(tr, 0, 4 * g, nb - 4 * g < 4 ? nb - 4 * g : 4);
        __atomic_store_n(&tr->du_seq[g], seq, __ATOMIC_RELEASE);
    }
    const double s = chunk_loss(tr, nb);
    if (isfinite(s)) owner_vrows(tr, nb, ac, 0, tr->lay.V.rows);
    return s;
}

/* Phase C for the chunk's nb examples e0.., serially: the MLP's weight
 * gradients, the pooling's scatter into the tables and the losses. */
static void chunk_weights(mfr_sm_trainer *tr, int64_t e0, int32_t nb, double *sum)
{
    for (int32_t x = 0; x < nb; x++) {
        mlp_weights(tr, x);
        *sum += tr->ex_loss[x];
    }
    pool_back(tr, e0, nb, -1, 0, INT32_MAX, tr->gcur);
}

/* The update of the floats [0, P) in fixed chunks, in parallel. */
static void update_range(mfr_sm_trainer *tr, int64_t P, const struct mfr_adam_coef *ac)
{
    const int64_t n_chunks = (P + SM_CHUNK - 1) / SM_CHUNK;
#pragma omp for schedule(static)
    for (int64_t c = 0; c < n_chunks; c++) {
        int64_t x0 = c * SM_CHUNK;
        update_chunk(tr, x0, P - x0 < SM_CHUNK ? P - x0 : SM_CHUNK, ac);
    }
}

/* One step in one parallel region: the users' sums (step_user_sums) and
 * a barrier, the step's n_ex examples (fill_examples) in chunks of
 * SM_BATCH_EX through phase A, then, in a step of one chunk with untied
 * tables (small batches of one label per user), the owner phase: one
 * barrier between them and none after but the region's end (on a team
 * of two, the pair mode instead: thread 1 makes the sums, no barrier).
 * When the last step was such a step too, vt and the zero gradient are
 * ready and the sums alone precede phase A. Otherwise (tied tables, several chunks, tests' no_fuse) phases B and C
 * per chunk, phase C (one thread) beside B (the others) unless the tables
 * are tied (both write V's rows: B first), and the update of every
 * parameter when the loss sum is finite. Returns the loss sum. */
static double step_region(mfr_sm_trainer *tr, int64_t n_ex, const struct mfr_adam_coef *ac)
{
    double sum = 0.0;
    const int tied = tr->lay.movie.offset == tr->lay.V.offset;
    const int owner = !tied && n_ex <= SM_BATCH_EX && !tr->no_fuse;
    const int prep_t = !tr->vt_ok, prep_z = !tr->grad_ok;
    tr->seq++;
#pragma omp parallel num_threads(tr->n_threads)
    {
        const int pair = owner && omp_get_num_threads() == 2; /* the same on both */
        if (prep_t || prep_z || !pair) { /* (the pair mode's thread 1 makes the sums) */
            step_prepare(tr, !pair, prep_t, prep_z);
#pragma omp barrier
        }
        if (pair) {
            const double s = pair_phase(tr, (int32_t)n_ex, ac, omp_get_thread_num());
#pragma omp master
            sum = s;
        }
        for (int64_t e0 = 0; !pair && e0 < n_ex; e0 += SM_BATCH_EX) {
            const int32_t nb = (int32_t)(n_ex - e0 < SM_BATCH_EX ? n_ex - e0 : SM_BATCH_EX);
#pragma omp for schedule(dynamic, 1)
            for (int32_t x = 0; x < nb; x += 4) group_forward_back(tr, e0, x, nb - x < 4 ? nb - x : 4);
            if (owner) { /* every thread reads the same sum after the barrier */
                const double s = chunk_loss(tr, nb);
                if (isfinite(s))
                    owner_phase(tr, nb, ac, omp_get_thread_num(), omp_get_num_threads());
#pragma omp master
                sum = s;
                break;
            }
            if (tied) {
                vgrad_rows(tr, nb, e0 > 0);
#pragma omp barrier
            }
#pragma omp single nowait
            chunk_weights(tr, e0, nb, &sum);
            if (!tied) vgrad_rows(tr, nb, e0 > 0);
#pragma omp barrier
        }
        if (!owner && isfinite(sum)) /* every thread reads the final sum after the barrier */
            update_range(tr, tr->lay.n_params, ac);
    }
    /* the owner phase leaves vt and the gradient ready (or, with a
     * non-finite loss, theta and the gradient untouched) */
    tr->vt_ok = tr->grad_ok = owner;
    return sum;
}

int mfr_sm_trainer_step_group(mfr_sm_trainer *tr, int64_t epoch, int32_t grp, double *loss,
                              mfr_error *err)
{
    if (grp < 0 || grp >= tr->n_groups)
        return mfr_seterr(err, MFR_ERR_INVALID, "softmax step: group %d not in 0..%d", grp,
                          tr->n_groups - 1);
    int32_t u0 = grp * tr->group_users;
    int32_t u1 = u0 + tr->group_users < tr->n_users ? u0 + tr->group_users : tr->n_users;
    int64_t n_ex = count_examples(tr, u0, u1);
    if (loss) *loss = 0.0;
    if (n_ex == 0) return MFR_OK;
    tr->weight = (float)(1.0 / (double)n_ex);
    tr->n_ex = n_ex;
    tr->step_u0 = u0;
    tr->step_u1 = u1;
    tr->drop_e = epoch + 1;
    fill_examples(tr, u0, u1, epoch);
    struct mfr_adam_coef ac = {0};
    if (tr->cfg.optimizer == MFR_SOFTMAX_OPT_ADAM)
        ac = mfr_adam_coef_make(tr->cfg.lr, tr->cfg.beta1, tr->cfg.beta2, tr->cfg.eps, tr->t + 1);
    double sum = step_region(tr, n_ex, &ac);
    if (!isfinite(sum)) /* the region skipped the update */
        return mfr_seterr(err, MFR_ERR_DIVERGED,
                          "softmax step %lld: the loss is not finite (lower --lr)",
                          (long long)tr->t + 1);
    tr->t++;
    if (loss) *loss = sum / (double)n_ex;
    return MFR_OK;
}

int mfr_sm_trainer_epoch(mfr_sm_trainer *tr, double *loss, mfr_error *err)
{
    int32_t G = tr->n_groups;
    for (int32_t i = 0; i < G; i++) tr->order[i] = i;
    for (int32_t i = G - 1; i > 0; i--) { /* Fisher-Yates, seeded by (seed, epoch, i) */
        uint64_t r = mfr_rng_u64(tr->cfg.seed, MFR_RNG_SM_ORDER, (uint64_t)tr->epoch << 32 | (uint32_t)i);
        int32_t j = (int32_t)(r % (uint64_t)(i + 1)), t = tr->order[i];
        tr->order[i] = tr->order[j];
        tr->order[j] = t;
    }
    double total = 0.0;
    int64_t n_ex = 0;
    tr->n_steps = 0;
    for (int32_t i = 0; i < G; i++) {
        int32_t grp = tr->order[i];
        int32_t u0 = grp * tr->group_users;
        int32_t u1 = u0 + tr->group_users < tr->n_users ? u0 + tr->group_users : tr->n_users;
        double l;
        int st = mfr_sm_trainer_step_group(tr, tr->epoch, grp, &l, err);
        if (st) return st;
        int64_t c = count_examples(tr, u0, u1);
        total += l * (double)c;
        n_ex += c;
        if (c > 0)
            tr->steps[tr->n_steps++] = (mfr_softmax_step){
                .step = tr->t, .group = grp, .examples = c, .loss = l};
    }
    tr->epoch++;
    if (loss) *loss = n_ex ? total / (double)n_ex : 0.0;
    return MFR_OK;
}

int64_t mfr_sm_trainer_epochs(const mfr_sm_trainer *tr) { return tr->epoch; }
const char *mfr_sm_trainer_kernels_name(const mfr_sm_trainer *tr) { return tr->sm_kern->name; }
int32_t mfr_sm_trainer_steps(const mfr_sm_trainer *tr, mfr_softmax_step *out, int32_t cap)
{
    for (int32_t x = 0; x < tr->n_steps && x < cap; x++) out[x] = tr->steps[x];
    return tr->n_steps;
}
void mfr_sm_trainer_set_kernels(mfr_sm_trainer *tr, const struct mfr_sm_kern *kern)
{
    tr->sm_kern = kern;
}
void mfr_sm_trainer_set_fuse(mfr_sm_trainer *tr, int fuse) { tr->no_fuse = !fuse; }
const mfr_softmax_config *mfr_sm_trainer_config(const mfr_sm_trainer *tr) { return &tr->cfg; }
const struct mfr_sm_items *mfr_sm_trainer_items(const mfr_sm_trainer *tr) { return &tr->items; }

int mfr_sm_trainer_user_vectors(const mfr_sm_trainer *tr, float *U, int32_t k_pad,
                                mfr_error *err)
{
    /* Each thread binds one example slot: slot = thread number, at most
     * SM_BATCH_EX threads. A user's vector depends on the user alone, so
     * the result does not depend on the thread count. */
    int nt = tr->n_threads < SM_BATCH_EX ? tr->n_threads : SM_BATCH_EX;
    int32_t k = tr->lay.V.cols;
#pragma omp parallel num_threads(nt)
    {
        int tid = omp_get_thread_num();
        struct mfr_sm_scratch sc;
        slot_bind(tr, tid, &sc);
#pragma omp for schedule(dynamic, 16)
        for (int32_t u = 0; u < tr->n_users; u++) {
            const int32_t *row = tr->movie + tr->row_ptr[u];
            int32_t n_u = (int32_t)(tr->row_ptr[u + 1] - tr->row_ptr[u]);
            mfr_sm_forward(&tr->lay, &tr->items, tr->cfg.features, tr->theta, row, n_u, &sc);
            memcpy(U + (size_t)u * (size_t)k_pad, sc.h[tr->lay.n_layers], sizeof(float) * (size_t)k);
        }
    }
    (void)err;
    return MFR_OK;
}

int32_t mfr_sm_trainer_state(const mfr_sm_trainer *tr, const float *state[2], int64_t *steps)
{
    state[0] = tr->state[0];
    state[1] = tr->state[1];
    *steps = tr->t;
    return tr->cfg.optimizer == MFR_SOFTMAX_OPT_ADAM ? 2 : 1;
}

void mfr_sm_trainer_restore(mfr_sm_trainer *tr, const float *theta, const float *const state[2],
                            int64_t epoch, int64_t steps)
{
    size_t bytes = sizeof(float) * (size_t)tr->lay.n_params;
    memcpy(tr->theta, theta, bytes);
    tr->vt_ok = 0; /* V changed */
    memcpy(tr->state[0], state[0], bytes);
    if (tr->state[1]) memcpy(tr->state[1], state[1], bytes);
    tr->epoch = epoch;
    tr->t = steps;
}

uint64_t mfr_sm_trainer_pairs_hash(const mfr_sm_trainer *tr, int64_t *n_pairs)
{
    uint64_t h = MFR_FNV_INIT;
    unsigned char b[8];
    for (int32_t u = 0; u <= tr->n_users; u++) {
        mfr_put_le64(b, (uint64_t)tr->row_ptr[u]);
        h = mfr_fnv1a(h, b, 8);
    }
    *n_pairs = tr->row_ptr[tr->n_users];
    for (int64_t j = 0; j < *n_pairs; j++) {
        mfr_put_le32(b, (uint32_t)tr->movie[j]);
        h = mfr_fnv1a(h, b, 4);
    }
    if (tr->label_ok) /* which may be labels (only then: the hash stays the one it was) */
        h = mfr_fnv1a(h, tr->label_ok, (size_t)*n_pairs);
    return h;
}
