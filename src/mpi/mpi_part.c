/*
 * mpi_part.c — a rank's part of the trainer (include/mfrec_mpi.h,
 * docs/MPI.md, "What a rank holds").
 *
 * DESIGN
 * The shard cut is the single-process one: it needs the whole data's
 * per-user training counts (O(users)) and its rating count. Rank r of P
 * takes the shards [r S / P, (r+1) S / P) (rank_shards: a range holding
 * users when the cut has empty shards), hence the users [u_lo, u_hi),
 * and builds a trainer of those users only (mfr_trainer_create_part):
 * their ratings in a CSR (and CSC), their rows of U (P), their optimizer
 * state, gradients, residuals and the shard buffers of its own shards.
 * Item arrays, the O(S) loss and regularizer slots and the per-item counts
 * are whole on every rank (replicated items, docs/MPI.md). What the step
 * needs of the whole data comes with the part: the rating count (the
 * gradient's scale), the items' rating counts (with regularizers) and the
 * training mean (with biases), summed in the whole training set's rating
 * order as one process does: from the caller's whole training set
 * (mfr_mpi_trainer_create), or, with each rank reading its users only
 * (mfr_mpi_trainer_create_read, mpi_data.c), reduced exactly over the
 * ranks.
 *
 * Rank 0 also holds the whole model (mt->full) for output: the gathers
 * fill its user rows from every rank and copy the item rows, and it is
 * what rank 0 logs, checkpoints and saves.
 */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "bytes_priv.h"
#include "checkpoint_priv.h"
#include "csr_priv.h"
#include "dataset_priv.h"
#include "mpi_priv.h"

int mfr_mpi_err(mfr_error *err, int rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "error %d", rc);
    return mfr_seterr(err, MFR_ERR_IO, "MPI %s failed: %s", what, msg);
}

/* What the whole training set gives every rank: the users' CSR offsets
 * (the shard cut, the fingerprint), the items' rating counts, the mean. */
struct whole {
    int64_t *row_ptr;     /* n_users + 1 */
    int64_t *item_count;  /* n_items */
    float mean;
    int64_t nnz;          /* training ratings */
};

static int whole_of(const mfr_dataset *ds, const mfr_ratings *train, struct whole *w, mfr_error *err)
{
    if (train->n < 1) return mfr_seterr(err, MFR_ERR_INVALID, "the training set has no ratings");
    w->row_ptr = mfr_calloc((size_t)ds->n_users + 1, sizeof(int64_t));
    w->item_count = mfr_calloc((size_t)ds->n_items + 1, sizeof(int64_t));
    if (!w->row_ptr || !w->item_count) return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory");
    double sum = 0.0; /* in rating order, as trainer.c's trainer_init */
    for (int64_t j = 0; j < train->n; j++) {
        if ((uint32_t)train->user[j] >= (uint32_t)ds->n_users || (uint32_t)train->item[j] >= (uint32_t)ds->n_items)
            return mfr_seterr(err, MFR_ERR_MISMATCH, "training rating %lld is outside the dataset", (long long)j);
        w->row_ptr[train->user[j] + 1]++;
        w->item_count[train->item[j]]++;
        sum += train->rating[j];
    }
    for (int32_t u = 0; u < ds->n_users; u++) w->row_ptr[u + 1] += w->row_ptr[u];
    w->mean = train->n ? (float)(sum / (double)train->n) : 0.0f;
    w->nnz = train->n;
    return MFR_OK;
}

/* The ratings of users [u_lo, u_hi), in the training set's order, their
 * users counted from u_lo: user, item and rating only (the CSR's), a
 * transient copy of the part's ratings, with the set's split pin (a
 * canonical split's, which the trainer's model records). */
static int part_ratings(const mfr_ratings *train, int32_t u_lo, int32_t u_hi, int64_t n, mfr_ratings **out,
                        mfr_error *err)
{
    mfr_ratings *r = *out = mfr_calloc(1, sizeof *r);
    const size_t len = (size_t)(n > 0 ? n : 1);
    if (!r || !(r->user = mfr_malloc(sizeof(int32_t) * len)) || !(r->item = mfr_malloc(sizeof(int32_t) * len)) ||
        !(r->rating = mfr_malloc(sizeof(float) * len)))
        return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory copying %lld ratings of this rank", (long long)n);
    r->n = n;
    r->split_pin = train->split_pin;
    int64_t x = 0;
    for (int64_t j = 0; j < train->n; j++) {
        if (train->user[j] < u_lo || train->user[j] >= u_hi) continue;
        r->user[x] = train->user[j] - u_lo;
        r->item[x] = train->item[j];
        r->rating[x++] = train->rating[j];
    }
    MFR_ASSERT(x == n);
    return MFR_OK;
}

/* The ranks' contiguous shard ranges: [rank_first[r], rank_first[r+1]),
 * each with at least one user, in shard order. With no empty shard (the
 * usual case) rank r's first is r S / P; else the shards that hold users
 * are split so, each empty shard going with the shards before it. Any
 * contiguous ranges give the same bits (every sum runs in shard order). */
static int rank_shards(mfr_mpi_trainer *mt, int32_t S, mfr_error *err)
{
    const int P = mt->size;
    int32_t n_full = 0;
    for (int32_t s = 0; s < S; s++) n_full += mt->first[s + 1] > mt->first[s];
    if (n_full < P)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "%d MPI ranks but only %d of the data's %d shards hold users: run at most %d ranks",
                          P, (int)n_full, (int)S, (int)n_full);
    if (!(mt->rank_first = mfr_malloc(sizeof(int32_t) * ((size_t)P + 1))))
        return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory");
    mt->rank_first[0] = 0;
    mt->rank_first[P] = S;
    int r = 1;
    for (int32_t s = 0, k = 0; s < S && r < P; s++) {
        if (mt->first[s + 1] == mt->first[s]) continue;
        if (k++ == (int32_t)((int64_t)r * n_full / P)) mt->rank_first[r++] = s;
    }
    MFR_ASSERT(r == P);
    return MFR_OK;
}

/* The communicator's setup. */
static int mt_comm(mfr_mpi_trainer *mt, MPI_Comm comm, mfr_error *err)
{
    int rc;
    mt->comm = comm;
    if ((rc = MPI_Comm_set_errhandler(mt->comm, MPI_ERRORS_RETURN)) != MPI_SUCCESS ||
        (rc = MPI_Comm_rank(mt->comm, &mt->rank)) != MPI_SUCCESS ||
        (rc = MPI_Comm_size(mt->comm, &mt->size)) != MPI_SUCCESS)
        return mfr_mpi_err(err, rc, "communicator setup");
    return MFR_OK;
}

/* Every rank read the whole data itself (a file per node, or a file that
 * changed between the ranks' reads): they must hold rank 0's, or each
 * would train its users on its own ratings and the model would be one no
 * process makes. The dataset's fingerprint (counts, ids, every rating),
 * the training set's count and its canonical split's pin are compared
 * with rank 0's; the first rank that differs is named on every rank. */
static int mt_same_data(const mfr_mpi_trainer *mt, const mfr_dataset *ds, const mfr_ratings *train, mfr_error *err)
{
    const uint64_t mine[5] = {ds->fingerprint, (uint64_t)ds->n_users, (uint64_t)ds->n_items, (uint64_t)train->n,
                              train->split_pin};
    uint64_t ref[5], theirs[5];
    memcpy(ref, mine, sizeof ref);
    int rc = MPI_Bcast(ref, 5, MPI_UINT64_T, 0, mt->comm);
    int differs = memcmp(ref, mine, sizeof ref) ? mt->rank : mt->size, first = mt->size;
    if (rc == MPI_SUCCESS) rc = MPI_Allreduce(&differs, &first, 1, MPI_INT, MPI_MIN, mt->comm);
    if (rc == MPI_SUCCESS && first < mt->size) {
        memcpy(theirs, mine, sizeof theirs);
        rc = MPI_Bcast(theirs, 5, MPI_UINT64_T, first, mt->comm);
    }
    if (rc != MPI_SUCCESS) return mfr_mpi_err(err, rc, "comparison of the ranks' data");
    if (first == mt->size) return MFR_OK;
    return mfr_seterr(err, MFR_ERR_MISMATCH,
                      "MPI rank %d read other data than rank 0 (%llu users, %llu items, %llu training ratings, "
                      "fingerprint %016llx, split pin %016llx; rank 0: %llu, %llu, %llu, %016llx, %016llx): "
                      "every rank must read the same files, at the same path on every node (a shared file "
                      "system)",
                      first, (unsigned long long)theirs[1], (unsigned long long)theirs[2],
                      (unsigned long long)theirs[3], (unsigned long long)theirs[0], (unsigned long long)theirs[4],
                      (unsigned long long)ref[1], (unsigned long long)ref[2], (unsigned long long)ref[3],
                      (unsigned long long)ref[0], (unsigned long long)ref[4]);
}

/* The refusals, the shard cut and this rank's range. */
static int mt_begin(mfr_mpi_trainer *mt, const mfr_config *cfg, const mfr_dataset *ds, const struct whole *w,
                    int64_t nnz, mfr_error *err)
{
    int rc;
    if (cfg->optimizer == MFR_OPTIMIZER_ALS)
        return mfr_seterr(err, MFR_ERR_UNSUPPORTED,
                          "training over MPI does not support alternating least squares (--optimizer als) yet");
    const int32_t S = mfr_trainer_plan_shards(cfg, ds, nnz, NULL);
    if (mt->size > S)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "%d MPI ranks but the data has %d shards: run at most %d ranks (or raise "
                          "--shards, in the single-process run too)",
                          mt->size, (int)S, (int)S);
    if (!(mt->first = mfr_malloc(sizeof(int32_t) * ((size_t)S + 1))))
        return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory");
    const struct mfr_csr counts = {.n_users = ds->n_users, .n_items = ds->n_items, .nnz = nnz,
                                   .row_ptr = w->row_ptr};
    mfr_shards_cut(&counts, S, mt->first);
    mt->n_users = ds->n_users;
    if ((rc = rank_shards(mt, S, err)) != MFR_OK) return rc;
    mt->s_lo = mt->rank_first[mt->rank];
    mt->s_hi = mt->rank_first[mt->rank + 1];
    mt->u_lo = mt->first[mt->s_lo];
    mt->u_hi = mt->first[mt->s_hi];
    return MFR_OK;
}

/* This rank's trainer, of its users' ratings in `train` (the whole set). */
static int mt_part(mfr_mpi_trainer *mt, const mfr_config *cfg, const mfr_dataset *ds, const mfr_ratings *train,
                   const char *split_spec, const struct whole *w, mfr_error *err)
{
    const struct mfr_train_part part = {.user_lo = mt->u_lo, .user_hi = mt->u_hi, .shard_lo = mt->s_lo,
                                        .shard_hi = mt->s_hi,
                                        .n_shards = mfr_trainer_plan_shards(cfg, ds, w->nnz, NULL),
                                        .shard_first = mt->first, .nnz = w->nnz,
                                        .item_count = w->item_count, .bias_mean = w->mean};
    if (mt->data || (mt->u_lo == 0 && mt->u_hi == ds->n_users)) /* its own, or one rank's: all of them */
        return mfr_trainer_create_part(cfg, ds, train, split_spec, &part, &mt->tr, err);
    mfr_ratings *mine = NULL;
    int rc = part_ratings(train, mt->u_lo, mt->u_hi, w->row_ptr[mt->u_hi] - w->row_ptr[mt->u_lo], &mine, err);
    if (rc == MFR_OK) rc = mfr_trainer_create_part(cfg, ds, mine, split_spec, &part, &mt->tr, err);
    mfr_ratings_destroy(mine);
    return rc;
}

/* The whole training set's fingerprint, as one process's checkpoint has
 * it: the offsets, then each rank's ratings in turn (a chain of ranks). */
static int mt_hash(mfr_mpi_trainer *mt, const struct whole *w, mfr_error *err)
{
    uint64_t h = MFR_FNV_INIT;
    int rc = MPI_SUCCESS;
    if (mt->rank == 0)
        h = mfr_ckpt_hash_offsets(h, w->row_ptr, (int64_t)mt->n_users + 1);
    else
        rc = MPI_Recv(&h, 1, MPI_UINT64_T, mt->rank - 1, 1, mt->comm, MPI_STATUS_IGNORE);
    h = mfr_ckpt_hash_ratings(h, &mt->tr->csr);
    if (rc == MPI_SUCCESS && mt->rank < mt->size - 1) rc = MPI_Send(&h, 1, MPI_UINT64_T, mt->rank + 1, 1, mt->comm);
    if (rc == MPI_SUCCESS) rc = MPI_Bcast(&h, 1, MPI_UINT64_T, mt->size - 1, mt->comm);
    if (rc != MPI_SUCCESS) return mfr_mpi_err(err, rc, "fingerprint of the training ratings");
    mt->train_hash = h;
    return MFR_OK;
}

/* Rank 0's whole model: the trainer's shape, every user's id. One rank's
 * part is the whole trainer: its model serves (mt_whole). */
static int mt_full(mfr_mpi_trainer *mt, const mfr_dataset *ds, mfr_error *err)
{
    if (mt->rank != 0 || mt->size == 1) return MFR_OK;
    const mfr_model *t = mt->tr->model;
    int rc = mfr_model_alloc(t->k, t->cfg.bias, ds->n_users, t->n_items, &mt->full, err);
    if (rc == MFR_OK && t->P) rc = mfr_model_alloc_implicit(mt->full, err);
    if (rc == MFR_OK) rc = mfr_model_alloc_state(mt->full, t->n_state, err);
    if (rc != MFR_OK) return rc;
    memcpy(mt->full->user_ids, ds->user_ids, sizeof(int64_t) * (size_t)ds->n_users);
    memcpy(mt->full->item_ids, t->item_ids, sizeof(int64_t) * (size_t)t->n_items);
    return MFR_OK;
}

static bool part_shaped(const mfr_mpi_trainer *mt, const mfr_model *m);

/* Where a build's ratings come from: the whole training set `train` of
 * `ds`, or (dir non-NULL) this rank's users read by mpi_data.c. */
struct source {
    const mfr_dataset *ds;
    const mfr_ratings *train;
    const char *spec;
    const char *dir;
    const mfr_load_options *opt;
    uint64_t seed;
};

/* The whole data's counts and this rank's ratings (*mine, the caller's)
 * read by mpi_data.c: the shard cut needs every user's training count
 * first (row_ptr), the rank's ratings need the cut. */
static int mt_read(mfr_mpi_trainer *mt, const mfr_config *made, struct whole *w, mfr_ratings **mine,
                   mfr_error *err)
{
    const mfr_dataset *ds = mfr_mpi_data_dataset(mt->data);
    int64_t n_train;
    mfr_mpi_data_counts(mt->data, NULL, &n_train, NULL, NULL);
    w->nnz = n_train;
    if (!(w->item_count = mfr_calloc((size_t)ds->n_items + 1, sizeof(int64_t))))
        return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory");
    int rc = mt_begin(mt, made, ds, w, n_train, err);
    if (rc != MFR_OK) return rc;
    return mfr_mpi_data_part(mt, w->row_ptr, w->item_count, made->bias, &w->mean, mine, err);
}

/* Creation and resume: the part, then (resume) the checkpoint's rows. */
static int mt_build(const mfr_checkpoint *ck, const mfr_config *cfg, const struct source *src, MPI_Comm comm,
                    mfr_mpi_trainer **out, mfr_error *err)
{
    mfr_mpi_trainer *mt = mfr_calloc(1, sizeof *mt);
    if (!mt) return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory");
    struct whole w = {NULL, NULL, 0.0f, 0};
    struct mfr_ckpt_diffs d = {.n = 0};
    mfr_config made = *cfg;
    bool data_ok = true;
    mfr_ratings *mine = NULL;
    const mfr_dataset *ds = src->ds;
    const char *spec = src->spec;
    int rc = mt_comm(mt, comm, err);
    if (rc == MFR_OK && src->dir &&
        (rc = mfr_mpi_data_open(mt, src->dir, src->opt, src->spec, src->seed, &w.row_ptr, err)) == MFR_OK) {
        ds = mfr_mpi_data_dataset(mt->data);
        spec = mfr_mpi_data_spec(mt->data);
    }
    if (rc == MFR_OK && !mt->data) rc = mt_same_data(mt, ds, src->train, err); /* each rank's whole data */
    if (rc == MFR_OK && ck) rc = mfr_ckpt_resume_begin(ck, cfg, ds, src->train, spec, &made, &d, &data_ok, err);
    if (rc == MFR_OK && data_ok && (rc = mfr_config_validate(&made, err)) == MFR_OK) {
        if (mt->data)
            rc = mt_read(mt, &made, &w, &mine, err);
        else if ((rc = whole_of(ds, src->train, &w, err)) == MFR_OK)
            rc = mt_begin(mt, &made, ds, &w, w.nnz, err);
        if (rc == MFR_OK)
            rc = mt_part(mt, &made, ds, mine ? mine : src->train, spec, &w, err);
        mfr_ratings_destroy(mine);
        if (rc == MFR_OK) rc = mt_hash(mt, &w, err);
    }
    if (rc == MFR_OK && ck) rc = mfr_ckpt_resume_end(mt->tr, ck, &d, mt->train_hash, err);
    mt->ckpt_rows = ck ? mfr_ckpt_rows_read(ck) : -1;
    if (rc == MFR_OK && (rc = mfr_mpi_plan(mt, err)) == MFR_OK) rc = mt_full(mt, ds, err);
    free(w.row_ptr);
    free(w.item_count);
    if (rc != MFR_OK) {
        mfr_mpi_trainer_destroy(mt);
        return rc;
    }
    *out = mt;
    return MFR_OK;
}

int mfr_mpi_trainer_create(const mfr_config *cfg, const mfr_dataset *ds, const mfr_ratings *train,
                           const char *split_spec, MPI_Comm comm, mfr_mpi_trainer **out, mfr_error *err)
{
    if (!out) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_mpi_trainer_create: out is NULL");
    *out = NULL;
    if (!cfg || !ds || !train)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_mpi_trainer_create: %s is NULL",
                          !cfg ? "cfg" : !ds ? "dataset" : "ratings");
    /* a lean split's training part: its arrays hold the test rows too */
    const int view = mfr_ratings_refuse_view(train, "mfr_mpi_trainer_create", err);
    if (view != MFR_OK) return view;
    const struct source src = {.ds = ds, .train = train, .spec = split_spec};
    return mt_build(NULL, cfg, &src, comm, out, err);
}

int mfr_mpi_trainer_resume(const mfr_checkpoint *c, const mfr_config *cfg, const mfr_dataset *ds,
                           const mfr_ratings *train, const char *split_spec, MPI_Comm comm, mfr_mpi_trainer **out,
                           mfr_error *err)
{
    if (!out) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_mpi_trainer_resume: out is NULL");
    *out = NULL;
    if (!c || !cfg || !ds || !train)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_mpi_trainer_resume: %s is NULL",
                          !c ? "checkpoint" : !cfg ? "cfg" : !ds ? "dataset" : "ratings");
    /* a lean split's training part: its arrays hold the test rows too */
    const int view = mfr_ratings_refuse_view(train, "mfr_mpi_trainer_resume", err);
    if (view != MFR_OK) return view;
    const struct source src = {.ds = ds, .train = train, .spec = split_spec};
    return mt_build(c, cfg, &src, comm, out, err);
}

int mfr_mpi_trainer_create_read(const mfr_checkpoint *c, const mfr_config *cfg, const char *dir,
                                const mfr_load_options *opt, const char *split_spec, uint64_t split_seed,
                                MPI_Comm comm, mfr_mpi_trainer **out, mfr_error *err)
{
    if (!out) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_mpi_trainer_create_read: out is NULL");
    *out = NULL;
    if (!cfg || !dir)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_mpi_trainer_create_read: %s is NULL", !cfg ? "cfg" : "dir");
    const struct source src = {.spec = split_spec, .dir = dir, .opt = opt, .seed = split_seed};
    return mt_build(c, cfg, &src, comm, out, err);
}

const mfr_dataset *mfr_mpi_trainer_dataset(const mfr_mpi_trainer *mt)
{
    return mt && mt->data ? mfr_mpi_data_dataset(mt->data) : NULL;
}

const char *mfr_mpi_trainer_split_spec(const mfr_mpi_trainer *mt)
{
    return mt && mt->data ? mfr_mpi_data_spec(mt->data) : NULL;
}

int64_t mfr_mpi_trainer_data_count(const mfr_mpi_trainer *mt, int which)
{
    int64_t c[5] = {-1, -1, -1, -1, mt ? mt->ckpt_rows : -1};
    if (mt && mt->data && which >= 0 && which < 4) mfr_mpi_data_counts(mt->data, &c[0], &c[1], &c[2], &c[3]);
    return which >= 0 && which < 5 ? c[which] : -1;
}

int mfr_mpi_trainer_evaluate_own(mfr_mpi_trainer *mt, int which, const mfr_model *m, mfr_metrics *out,
                                 mfr_error *err)
{
    if (!mt || !out || (which != 0 && which != 1))
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_mpi_trainer_evaluate_own: bad arguments");
    if (!mt->data) return mfr_seterr(err, MFR_ERR_STATE, "the trainer's data was not read per rank");
    if (m && !part_shaped(mt, m))
        return mfr_seterr(err, MFR_ERR_MISMATCH, "mfr_mpi_trainer_evaluate_own: not the part's shape");
    return mfr_mpi_data_evaluate(mt, which, m ? m : mt->tr->model, out, err);
}

void mfr_mpi_trainer_destroy(mfr_mpi_trainer *mt)
{
    if (!mt) return;
    mfr_trainer_destroy(mt->tr);
    mfr_model_destroy(mt->full);
    mfr_mpi_data_free(mt->data);
    void *a[] = {mt->first, mt->rank_first, mt->slot_count, mt->slot_disp, mt->row_count, mt->row_disp, mt->reg_count,
                 mt->reg_disp, mt->col_lo, mt->col_hi, mt->col_len, mt->col_buf, mt->col_msg};
    for (size_t x = 0; x < sizeof a / sizeof *a; x++) free(a[x]);
    free(mt);
}

mfr_trainer *mfr_mpi_trainer_part(const mfr_mpi_trainer *mt) { return mt ? mt->tr : NULL; }

/* Rank 0's whole model (NULL on the other ranks). */
static mfr_model *mt_whole(const mfr_mpi_trainer *mt)
{
    return mt->rank != 0 ? NULL : mt->full ? mt->full : mt->tr->model;
}

const mfr_model *mfr_mpi_trainer_model(const mfr_mpi_trainer *mt) { return mt ? mt_whole(mt) : NULL; }

int mfr_mpi_trainer_set_factors(mfr_mpi_trainer *mt, const float *U, int64_t u_rows, int64_t u_cols,
                                const float *V, int64_t v_rows, int64_t v_cols, mfr_error *err)
{
    if (!mt) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_mpi_trainer_set_factors: trainer is NULL");
    /* this rank's rows of the whole U; a U of the wrong shape goes as is, to be refused below */
    bool whole = U && u_rows == mt->n_users && u_cols == mt->tr->model->k;
    const float *mine = whole ? U + (size_t)mt->u_lo * (size_t)u_cols : U;
    return mfr_mpi_trainer_set_factors_rows(mt, mine, u_rows, u_cols, V, v_rows, v_cols, err);
}

void mfr_mpi_trainer_user_range(const mfr_mpi_trainer *mt, int32_t *lo, int32_t *hi)
{
    *lo = mt ? mt->u_lo : 0;
    *hi = mt ? mt->u_hi : 0;
}

int mfr_mpi_trainer_set_factors_rows(mfr_mpi_trainer *mt, const float *U_mine, int64_t u_rows, int64_t u_cols,
                                     const float *V, int64_t v_rows, int64_t v_cols, mfr_error *err)
{
    if (!mt) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_mpi_trainer_set_factors_rows: trainer is NULL");
    const mfr_model *m = mt->tr->model;
    if (U_mine && (u_rows != mt->n_users || u_cols != m->k))
        return mfr_seterr(err, MFR_ERR_MISMATCH, "U has shape (%lld, %lld), expected (%d, %d)", (long long)u_rows,
                          (long long)u_cols, (int)mt->n_users, (int)m->k);
    return mfr_trainer_set_factors(mt->tr, U_mine, mt->u_hi - mt->u_lo, u_cols, V, v_rows, v_cols, err);
}

/* Rank 0's `full` gets every rank's rows of `m`'s user arrays (m: a model
 * of the part's shape) and, from its own m, the item arrays, the
 * configuration, the step count and the provenance. */
static int gather_into(mfr_mpi_trainer *mt, const mfr_model *m, mfr_model *full, mfr_error *err)
{
    struct mfr_model_array mine[MFR_MODEL_MAX_ARRAYS], all[MFR_MODEL_MAX_ARRAYS];
    const int n = mfr_model_arrays(m, mine);
    if (full) MFR_ASSERT(mfr_model_arrays(full, all) == n);
    for (int a = 0; a < n; a++) {
        if (!mine[a].users) {
            if (full) memcpy(all[a].a, mine[a].a, sizeof(float) * (size_t)mine[a].rows * (size_t)m->k_pad);
            continue;
        }
        const int rc = MPI_Gatherv(mine[a].a, mt->row_count[mt->rank], MPI_FLOAT, full ? all[a].a : NULL,
                                   mt->row_count, mt->row_disp, MPI_FLOAT, 0, mt->comm);
        if (rc != MPI_SUCCESS) return mfr_mpi_err(err, rc, "gather of the user rows");
    }
    if (!full) return MFR_OK;
    full->cfg = m->cfg;
    full->epochs = m->epochs;
    full->data_fingerprint = m->data_fingerprint;
    return mfr_model_copy_provenance(full, m, err);
}

int mfr_mpi_trainer_gather(mfr_mpi_trainer *mt, mfr_error *err)
{
    if (!mt) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_mpi_trainer_gather: trainer is NULL");
    return mt->size == 1 ? MFR_OK : gather_into(mt, mt->tr->model, mt->full, err);
}

/* m has the part's shape (a copy of its model). */
static bool part_shaped(const mfr_mpi_trainer *mt, const mfr_model *m)
{
    const mfr_model *t = mt->tr->model;
    return m->n_users == t->n_users && m->n_items == t->n_items && m->k_pad == t->k_pad &&
           m->n_state == t->n_state && !m->P == !t->P;
}

int mfr_mpi_trainer_gather_model(mfr_mpi_trainer *mt, const mfr_model *m, mfr_model **full, mfr_error *err)
{
    if (!mt || !m || !full)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_mpi_trainer_gather_model: %s is NULL",
                          !mt ? "trainer" : !m ? "model" : "full");
    *full = NULL;
    if (!part_shaped(mt, m))
        return mfr_seterr(err, MFR_ERR_MISMATCH, "mfr_mpi_trainer_gather_model: not the part's shape");
    if (mt->size == 1) return mfr_model_copy(m, full, err); /* m is whole */
    int rc = mt->full ? mfr_model_copy(mt->full, full, err) : MFR_OK;
    if (rc == MFR_OK) rc = gather_into(mt, m, *full, err);
    if (rc != MFR_OK) {
        mfr_model_destroy(*full);
        *full = NULL;
    }
    return rc;
}

int mfr_mpi_trainer_part_model(const mfr_mpi_trainer *mt, const mfr_model *whole, mfr_model **out, mfr_error *err)
{
    if (!mt || !whole || !out)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_mpi_trainer_part_model: %s is NULL",
                          !mt ? "trainer" : !whole ? "model" : "out");
    int rc = mfr_model_copy(mt->tr->model, out, err);
    if (rc == MFR_OK && (rc = mfr_model_copy_part(*out, whole, mt->u_lo, err)) != MFR_OK) {
        mfr_model_destroy(*out);
        *out = NULL;
    }
    return rc;
}

int mfr_mpi_trainer_part_best(const mfr_mpi_trainer *mt, const mfr_checkpoint *c, mfr_model **out, mfr_error *err)
{
    if (!mt || !c || !out)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_mpi_trainer_part_best: %s is NULL",
                          !mt ? "trainer" : !c ? "checkpoint" : "out");
    *out = NULL;
    mfr_run_state run;
    int rc = mfr_checkpoint_run(c, &run, err);
    if (rc != MFR_OK || !run.best) return rc;
    if ((rc = mfr_model_copy(mt->tr->model, out, err)) == MFR_OK &&
        (rc = mfr_ckpt_read_part(c, true, *out, mt->u_lo, err)) != MFR_OK) {
        mfr_model_destroy(*out);
        *out = NULL;
    }
    return rc;
}

/* The collective load (mfrec_mpi.h): rank 0 verifies the whole file and
 * broadcasts its verdict (status and message) and what names the file; the
 * other ranks then read the same file without hashing it and refuse one
 * that differs; any rank's failure fails every rank. */
int mfr_mpi_checkpoint_load(const char *path, MPI_Comm comm, mfr_checkpoint **out, mfr_error *err)
{
    if (!out) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_mpi_checkpoint_load: out is NULL");
    *out = NULL;
    if (!path) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_mpi_checkpoint_load: path is NULL");
    int rank, rc;
    if ((rc = MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN)) != MPI_SUCCESS ||
        (rc = MPI_Comm_rank(comm, &rank)) != MPI_SUCCESS)
        return mfr_mpi_err(err, rc, "communicator setup");
    mfr_error verdict = {0};
    struct mfr_ckpt_id id = {0}, mine = {0};
    if (rank == 0 && mfr_ckpt_load_shell(path, true, out, &verdict) == MFR_OK)
        mfr_ckpt_shell_id(*out, &id);
    if ((rc = MPI_Bcast(&verdict, sizeof verdict, MPI_BYTE, 0, comm)) != MPI_SUCCESS ||
        (rc = MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, comm)) != MPI_SUCCESS) {
        mfr_checkpoint_destroy(*out);
        *out = NULL;
        return mfr_mpi_err(err, rc, "broadcast of the checkpoint's verdict");
    }
    if (verdict.status != MFR_OK) { /* every rank reports rank 0's finding */
        if (err) *err = verdict;
        return verdict.status;
    }
    int st = MFR_OK;
    if (rank != 0 && (st = mfr_ckpt_load_shell(path, false, out, err)) == MFR_OK) {
        mfr_ckpt_shell_id(*out, &mine);
        if (memcmp(&mine, &id, sizeof id) != 0)
            st = mfr_seterr(err, MFR_ERR_CORRUPT,
                            "%s on this rank is not the file rank 0 verified (size %llu, inode %llu, time %llu.%09llu, "
                            "checksum %016llx there; %llu, %llu, %llu.%09llu, %016llx here): put the same file at "
                            "the same path on every node",
                            path, (unsigned long long)id.size, (unsigned long long)id.ino,
                            (unsigned long long)id.mtime_s, (unsigned long long)id.mtime_ns,
                            (unsigned long long)id.sum, (unsigned long long)mine.size, (unsigned long long)mine.ino,
                            (unsigned long long)mine.mtime_s, (unsigned long long)mine.mtime_ns,
                            (unsigned long long)mine.sum);
    }
    int failed = st != MFR_OK ? rank + 1 : 0, first = 0; /* the failing ranks have their own message */
    if ((rc = MPI_Allreduce(&failed, &first, 1, MPI_INT, MPI_MAX, comm)) != MPI_SUCCESS)
        st = mfr_mpi_err(err, rc, "agreement on the checkpoint");
    else if (st == MFR_OK && first)
        st = mfr_seterr(err, MFR_ERR_IO, "%s: rank %d could not read it (its message says why)", path, first - 1);
    if (st != MFR_OK) {
        mfr_checkpoint_destroy(*out);
        *out = NULL;
    }
    return st;
}

int mfr_mpi_trainer_save_checkpoint(const mfr_mpi_trainer *mt, const mfr_run_state *run, const char *path,
                                    mfr_error *err)
{
    if (!mt || !run || !path)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_mpi_trainer_save_checkpoint: %s is NULL",
                          !mt ? "trainer" : !run ? "run" : "path");
    if (mt->rank != 0) return mfr_seterr(err, MFR_ERR_STATE, "only rank 0 writes the checkpoint");
    int rc = mfr_ckpt_refuse_broken(mt->tr, path, err);
    if (rc != MFR_OK) return rc;
    const mfr_loss *l = &mt->tr->last;
    struct mfr_ckpt_parts p = {.model = mt_whole(mt), .train_nnz = mt->tr->nnz_all, .train_hash = mt->train_hash,
                               .loss = {l->total, l->mse, l->l2, l->gravity}};
    return mfr_ckpt_save(&p, run, path, err);
}

/* Every validation error e[x] (as mfr_model_evaluate computes it) comes from
 * the rank that owns the rating's user; the others leave +0.0 there, so the
 * sum-reduce is exact in any order: x + 0.0 == x. */
static void own_errors(const mfr_mpi_trainer *mt, const mfr_ratings *r, double *e)
{
    const mfr_model *m = mt->tr->model;
    const int32_t u_lo = mt->u_lo, u_hi = mt->u_hi;
#pragma omp parallel for schedule(static) num_threads(mt->tr->n_threads)
    for (int64_t x = 0; x < r->n; x++) {
        const int32_t u = r->user[x];
        e[x] = u >= u_lo && u < u_hi
                   ? (double)mfr_model_predict_unchecked(m, u - u_lo, r->item[x]) - (double)r->rating[x]
                   : 0.0;
    }
}

int mfr_mpi_trainer_evaluate(mfr_mpi_trainer *mt, const mfr_ratings *r, mfr_metrics *out, mfr_error *err)
{
    if (!mt || !r || !out)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_mpi_trainer_evaluate: %s is NULL",
                          !mt ? "trainer" : !r ? "ratings" : "out");
    const int view = mfr_ratings_refuse_view(r, "mfr_mpi_trainer_evaluate", err);
    if (view != MFR_OK) return view;
    const mfr_model *m = mt->tr->model;
    if (r->n <= 0) return mfr_seterr(err, MFR_ERR_INVALID, "cannot evaluate on an empty rating set (0 ratings)");
    for (int64_t x = 0; x < r->n; x++)
        if ((uint32_t)r->user[x] >= (uint32_t)mt->n_users || (uint32_t)r->item[x] >= (uint32_t)m->n_items)
            return mfr_seterr(err, MFR_ERR_MISMATCH, "rating %lld: its user or item is outside the model",
                              (long long)x);
    double *e = mfr_malloc(sizeof(double) * (size_t)r->n);
    if (!e) return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory evaluating the model");
    own_errors(mt, r, e);
    int rc = MPI_SUCCESS;
    for (int64_t off = 0; off < r->n && rc == MPI_SUCCESS; off += INT_MAX / 2) {
        const int64_t n = r->n - off < INT_MAX / 2 ? r->n - off : INT_MAX / 2;
        rc = MPI_Allreduce(MPI_IN_PLACE, e + off, (int)n, MPI_DOUBLE, MPI_SUM, mt->comm);
    }
    if (rc != MPI_SUCCESS) {
        free(e);
        return mfr_mpi_err(err, rc, "reduction of the validation errors");
    }
    double sq = 0.0, ab = 0.0; /* as mfr_model_evaluate sums them (model_priv.h) */
    for (int64_t x = 0; x < r->n; x += MFR_EVAL_SUM_CHUNK)
        mfr_eval_chunk_sums(e + x, r->n - x < MFR_EVAL_SUM_CHUNK ? r->n - x : MFR_EVAL_SUM_CHUNK, &sq, &ab);
    free(e);
    const double n = (double)r->n;
    *out = (mfr_metrics){0};
    out->n = r->n;
    out->mse = sq / n;
    out->rmse = sqrt(out->mse);
    out->mae = ab / n;
    return MFR_OK;
}
