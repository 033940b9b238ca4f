/*
 * mpi_data.c — each rank reads only its users' ratings (docs/MPI.md,
 * "Reading only a rank's users").
 *
 * DESIGN
 * The ratings come from the user-ordered cache (users_cache_priv.h), which
 * the ranks write together beside the dataset cache when it is absent or
 * stale, each from its slice of the rating file (mpi_load.c). Every rank maps it and
 * touches its users' slice only. The split's assignment is made on every
 * rank without copying a rating (mfr_split_positions: each rating's
 * position in the test or training part, 4 bytes per rating, transient).
 * The shard cut needs every user's training count: each rank counts those
 * of a provisional block of users (an equal share of the ratings) and the
 * counts are all-gathered (8 bytes per user); the cut, hence the rank's
 * users, is then the single-process one. The rank's own ratings are
 * listed in their parts' order (a radix sort of position keys); from them:
 * the trainer's ratings (by user, in training order within a user), the
 * items' training counts (an exact integer MPI_Allreduce), the training
 * mean (the ratings placed at their training positions, +0.0f elsewhere:
 * an exact MPI_Reduce, summed by rank 0 in the training order, as one
 * process does) and the evaluations (the errors placed at their positions
 * the same way, chunk by chunk, summed by rank 0 as one process sums them).
 */
#include <limits.h>
#include <math.h>
#include <string.h>

#include "dataset_priv.h"
#include "mpi_priv.h"
#include "users_cache_priv.h"

#define EVAL_CHUNK ((int64_t)1 << 20) /* positions per reduction message */
_Static_assert(EVAL_CHUNK % MFR_EVAL_SUM_CHUNK == 0, "a message holds whole chunks of the metrics' sums");

struct mfr_mpi_own {
    int64_t n;
    uint32_t *pos; /* in its part, ascending */
    int32_t *user; /* counted from u_lo */
    int32_t *item;
    float *rating;
};

struct mfr_mpi_data {
    struct mfr_users_cache uc;
    char *path;
    char *spec;
    int64_t n, n_train, n_test, n_read;
    int64_t read_lo, read_hi; /* the provisional block's ratings (data_counts) */
    uint32_t *pos; /* the split's positions: during creation only */
    struct mfr_mpi_own own[2]; /* this rank's training and validation ratings */
};

static void own_free(struct mfr_mpi_own *o)
{
    free(o->pos);
    free(o->user);
    free(o->item);
    free(o->rating);
    memset(o, 0, sizeof *o);
}

void mfr_mpi_data_free(struct mfr_mpi_data *d)
{
    if (!d) return;
    mfr_users_cache_close(&d->uc);
    free(d->path);
    free(d->spec);
    free(d->pos);
    own_free(&d->own[0]);
    own_free(&d->own[1]);
    free(d);
}

const mfr_dataset *mfr_mpi_data_dataset(const struct mfr_mpi_data *d) { return d->uc.ds; }

/* Opens the user-ordered cache on every rank, the ranks writing it
 * together first when rank 0 finds it absent or stale (mpi_load.c: each
 * parses its slice of the rating file). A load error is returned on every
 * rank; MFR_ERR_UNSUPPORTED (the caller reads the whole data instead) when
 * the cache cannot be written or some rank cannot use it. */
static int data_cache(struct mfr_mpi_data *d, MPI_Comm comm, int rank, const char *dir,
                      const mfr_load_options *opt, mfr_error *err)
{
    struct mfr_load_id id;
    int rc = mfr_dataset_load_id(dir, opt, &id, err);
    if (rc == MFR_OK && !(d->path = mfr_users_cache_path(id.cache_path))) rc = MFR_ERR_NOMEM;
    int ok = rc == MFR_OK, all = 0, fresh = 1;
    int mrc = MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm); /* every rank resolved the load */
    if (mrc == MPI_SUCCESS && all) {
        if (rank == 0) fresh = mfr_users_cache_open(d->path, &id, &d->uc) == MFR_OK;
        mrc = MPI_Bcast(&fresh, 1, MPI_INT, 0, comm);
    }
    if (mrc == MPI_SUCCESS && all && !fresh) {
        rc = mfr_mpi_users_cache_build(comm, dir, opt, &id, d->path, err);
        if (rc == MFR_OK && rank == 0) ok = mfr_users_cache_open(d->path, &id, &d->uc) == MFR_OK;
        if (rc != MFR_OK) {
            mfr_load_id_free(&id);
            return rc; /* the same on every rank */
        }
    }
    if (mrc == MPI_SUCCESS && all && rank != 0) ok = mfr_users_cache_open(d->path, &id, &d->uc) == MFR_OK;
    if (mrc == MPI_SUCCESS && all) mrc = MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
    mfr_load_id_free(&id);
    if (mrc != MPI_SUCCESS) return mfr_mpi_err(err, mrc, "agreement on the dataset cache");
    return all ? MFR_OK : mfr_seterr(err, MFR_ERR_UNSUPPORTED, "the user-ordered dataset cache cannot be used");
}

int32_t mfr_mpi_user_at(const int64_t *off, int32_t n_users, int64_t at)
{
    int32_t lo = 0, hi = n_users;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (off[mid] < at) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Every user's training count into row_ptr[u + 1], then the offsets: each
 * rank counts a block of users holding about n / P ratings; all-gathered. */
static int data_counts(mfr_mpi_trainer *mt, struct mfr_mpi_data *d, int64_t *row_ptr, mfr_error *err)
{
    const int32_t N = d->uc.ds->n_users;
    const int P = mt->size;
    int *cnt = mfr_malloc(sizeof(int) * (size_t)P), *disp = mfr_malloc(sizeof(int) * (size_t)P);
    if (!cnt || !disp) {
        free(cnt);
        free(disp);
        return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory");
    }
    for (int r = 0; r < P; r++) {
        int32_t a = r ? mfr_mpi_user_at(d->uc.offsets, N, (int64_t)((double)d->n * r / P)) : 0;
        int32_t b = r + 1 < P ? mfr_mpi_user_at(d->uc.offsets, N, (int64_t)((double)d->n * (r + 1) / P)) : N;
        disp[r] = a;
        cnt[r] = b - a;
    }
    for (int r = 1; r < P; r++) /* user_at is monotone: blocks are contiguous and cover [0, N) */
        MFR_ASSERT(disp[r] == disp[r - 1] + cnt[r - 1]);
    const int32_t lo = disp[mt->rank], hi = lo + cnt[mt->rank];
    const struct mfr_urec *rec;
    int rc = mfr_users_cache_slice(&d->uc, d->path, lo, hi, &rec, err);
    if (rc == MFR_OK) {
        const int64_t a = d->uc.offsets[lo];
        for (int32_t u = lo; u < hi; u++) {
            int64_t t = 0;
            for (int64_t x = d->uc.offsets[u]; x < d->uc.offsets[u + 1]; x++)
                t += d->pos[rec[x - a].index] >= (uint32_t)d->n_test;
            row_ptr[u + 1] = t;
        }
        d->read_lo = a;
        d->read_hi = d->uc.offsets[hi];
        const int mrc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, row_ptr + 1, cnt, disp, MPI_INT64_T,
                                       mt->comm);
        if (mrc != MPI_SUCCESS) rc = mfr_mpi_err(err, mrc, "gather of the users' training counts");
    }
    free(cnt);
    free(disp);
    if (rc != MFR_OK) return rc;
    row_ptr[0] = 0;
    for (int32_t u = 0; u < N; u++) row_ptr[u + 1] += row_ptr[u];
    if (row_ptr[N] != d->n_train)
        return mfr_seterr(err, MFR_ERR_DATA, "%s: the users' training counts do not add up", d->path);
    return MFR_OK;
}

int mfr_mpi_data_open(mfr_mpi_trainer *mt, const char *dir, const mfr_load_options *opt, const char *spec,
                      uint64_t seed, int64_t **row_ptr, mfr_error *err)
{
    *row_ptr = NULL;
    /* one rank holds every user: the whole data, as one process reads it
     * (no provisional block, no position keys: a lower peak) */
    if (mt->size == 1) return mfr_seterr(err, MFR_ERR_UNSUPPORTED, "one rank reads the whole data");
    /* the canonical splits read their own files: the whole path */
    if (!spec || (strncmp(spec, "sklearn:", 8) != 0 && strncmp(spec, "random:", 7) != 0))
        return mfr_seterr(err, MFR_ERR_UNSUPPORTED, "split %s is read whole", spec ? spec : "(none)");
    struct mfr_mpi_data *d = mt->data = mfr_calloc(1, sizeof *d);
    if (!d) return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory");
    int rc = data_cache(d, mt->comm, mt->rank, dir, opt, err);
    if (rc != MFR_OK) return rc;
    d->n = d->uc.n;
    if (!(d->pos = mfr_malloc(sizeof(uint32_t) * (size_t)d->n)))
        return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory for the split of %lld ratings", (long long)d->n);
    rc = mfr_split_positions(spec, seed, d->n, d->pos, &d->n_test, &d->spec, err);
    if (rc == MFR_ERR_INVALID) return mfr_seterr(err, MFR_ERR_UNSUPPORTED, "split %s: read whole", spec);
    if (rc != MFR_OK) return rc;
    d->n_train = d->n - d->n_test;
    if (!(*row_ptr = mfr_calloc((size_t)d->uc.ds->n_users + 1, sizeof(int64_t))))
        return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory");
    return data_counts(mt, d, *row_ptr, err);
}

/* Sorts keys[0..n) ascending (LSD radix, 16 bits a pass; tmp: n entries). */
static void radix_sort(uint64_t *keys, uint64_t *tmp, int64_t n)
{
    static int64_t count[1 << 16];
    for (int shift = 0; shift < 64; shift += 16) {
        memset(count, 0, sizeof count);
        for (int64_t x = 0; x < n; x++) count[(keys[x] >> shift) & 0xffff]++;
        int64_t at = 0;
        for (int k = 0; k < (1 << 16); k++) {
            int64_t c = count[k];
            count[k] = at;
            at += c;
        }
        for (int64_t x = 0; x < n; x++) tmp[count[(keys[x] >> shift) & 0xffff]++] = keys[x];
        memcpy(keys, tmp, sizeof *keys * (size_t)n);
    }
}

static int own_alloc(struct mfr_mpi_own *o, int64_t n)
{
    const size_t len = (size_t)(n > 0 ? n : 1);
    o->n = n;
    o->pos = mfr_malloc(sizeof *o->pos * len);
    o->user = mfr_malloc(sizeof *o->user * len);
    o->item = mfr_malloc(sizeof *o->item * len);
    o->rating = mfr_malloc(sizeof *o->rating * len);
    return o->pos && o->user && o->item && o->rating ? MFR_OK : MFR_ERR_NOMEM;
}

/* This rank's ratings of users [u_lo, u_hi), in their parts' order. */
static int data_own(mfr_mpi_trainer *mt, struct mfr_mpi_data *d, const int64_t *row_ptr, mfr_error *err)
{
    const struct mfr_urec *rec;
    int rc = mfr_users_cache_slice(&d->uc, d->path, mt->u_lo, mt->u_hi, &rec, err);
    if (rc != MFR_OK) return rc;
    const int64_t a = d->uc.offsets[mt->u_lo], m = d->uc.offsets[mt->u_hi] - a;
    const int64_t n_tr = row_ptr[mt->u_hi] - row_ptr[mt->u_lo], nt = (uint32_t)d->n_test;
    /* the ratings read: both blocks, once where they overlap */
    const int64_t lo = a < d->read_lo ? a : d->read_lo, hi = a + m > d->read_hi ? a + m : d->read_hi;
    d->n_read = a + m < d->read_lo || a > d->read_hi ? m + d->read_hi - d->read_lo : hi - lo;
    uint64_t *key = mfr_malloc(sizeof *key * (size_t)(m > 0 ? m : 1));
    uint64_t *tmp = mfr_malloc(sizeof *tmp * (size_t)(m > 0 ? m : 1));
    int32_t *who = mfr_malloc(sizeof *who * (size_t)(m > 0 ? m : 1));
    if (!key || !tmp || !who || own_alloc(&d->own[0], n_tr) != MFR_OK || own_alloc(&d->own[1], m - n_tr) != MFR_OK) {
        rc = mfr_seterr(err, MFR_ERR_NOMEM, "out of memory for this rank's %lld ratings", (long long)m);
        goto done;
    }
    /* keys: position << 32 | the record; training ones first (n_tr of them) */
    int64_t k_tr = 0, k_te = n_tr;
    for (int32_t u = mt->u_lo; u < mt->u_hi; u++)
        for (int64_t x = d->uc.offsets[u] - a; x < d->uc.offsets[u + 1] - a; x++) {
            const uint32_t p = d->pos[rec[x].index];
            who[x] = u - mt->u_lo;
            if (p >= nt) key[k_tr++] = (uint64_t)(p - nt) << 32 | (uint64_t)x;
            else key[k_te++] = (uint64_t)p << 32 | (uint64_t)x;
        }
    MFR_ASSERT(k_tr == n_tr && k_te == m);
    radix_sort(key, tmp, n_tr);
    radix_sort(key + n_tr, tmp, m - n_tr);
    for (int s = 0; s < 2; s++) {
        struct mfr_mpi_own *o = &d->own[s];
        const uint64_t *kk = key + (s ? n_tr : 0);
        for (int64_t j = 0; j < o->n; j++) {
            const int64_t x = (int64_t)(kk[j] & 0xffffffffu);
            o->pos[j] = (uint32_t)(kk[j] >> 32);
            o->user[j] = who[x];
            o->item[j] = rec[x].item;
            o->rating[j] = rec[x].rating;
        }
    }
done:
    free(key);
    free(tmp);
    free(who);
    mfr_users_cache_release(&d->uc); /* copied: its pages leave the resident set */
    free(d->pos); /* the split's positions are no longer needed */
    d->pos = NULL;
    return rc;
}

/* The items' training counts (exact integers summed over the ranks) and
 * the training mean in one process's order. */
static int data_whole(mfr_mpi_trainer *mt, struct mfr_mpi_data *d, int32_t n_items, int64_t *item_count,
                      float *mean, mfr_error *err)
{
    const struct mfr_mpi_own *o = &d->own[0];
    for (int64_t j = 0; j < o->n; j++) item_count[o->item[j]]++;
    int rc = MPI_Allreduce(MPI_IN_PLACE, item_count, n_items, MPI_INT64_T, MPI_SUM, mt->comm);
    if (rc != MPI_SUCCESS) return mfr_mpi_err(err, rc, "reduction of the items' training counts");
    if (!mean) return MFR_OK; /* no biases: the trainer does not use it */
    float *buf = mfr_malloc(sizeof(float) * (size_t)EVAL_CHUNK);
    if (!buf) return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory");
    double sum = 0.0; /* in rating order, as trainer.c's trainer_init */
    int64_t j = 0;
    for (int64_t c0 = 0; c0 < d->n_train && rc == MPI_SUCCESS; c0 += EVAL_CHUNK) {
        const int64_t len = d->n_train - c0 < EVAL_CHUNK ? d->n_train - c0 : EVAL_CHUNK;
        memset(buf, 0, sizeof(float) * (size_t)len); /* +0.0f: x + 0.0f == x, exactly, in any order */
        for (; j < o->n && (int64_t)o->pos[j] < c0 + len; j++) buf[o->pos[j] - c0] = o->rating[j];
        rc = MPI_Reduce(mt->rank ? buf : MPI_IN_PLACE, buf, (int)len, MPI_FLOAT, MPI_SUM, 0, mt->comm);
        if (mt->rank == 0)
            for (int64_t x = 0; x < len; x++) sum += buf[x];
    }
    free(buf);
    *mean = (float)(sum / (double)d->n_train);
    if (rc == MPI_SUCCESS) rc = MPI_Bcast(mean, 1, MPI_FLOAT, 0, mt->comm);
    return rc == MPI_SUCCESS ? MFR_OK : mfr_mpi_err(err, rc, "reduction of the training mean");
}

int mfr_mpi_data_part(mfr_mpi_trainer *mt, const int64_t *row_ptr, int64_t *item_count, bool need_mean,
                      float *mean, mfr_ratings **mine, mfr_error *err)
{
    struct mfr_mpi_data *d = mt->data;
    *mine = NULL;
    int rc = data_own(mt, d, row_ptr, err);
    if (rc == MFR_OK) rc = data_whole(mt, d, d->uc.ds->n_items, item_count, need_mean ? mean : NULL, err);
    if (rc != MFR_OK) return rc;
    /* the trainer's ratings: by user, each user's in training order (a
     * stable counting sort of the training list by user) */
    const struct mfr_mpi_own *o = &d->own[0];
    mfr_ratings *r = *mine = mfr_calloc(1, sizeof *r);
    const size_t len = (size_t)(o->n > 0 ? o->n : 1);
    int64_t *next = mfr_malloc(sizeof(int64_t) * ((size_t)(mt->u_hi - mt->u_lo) + 1));
    if (!r || !next || !(r->user = mfr_malloc(sizeof(int32_t) * len)) ||
        !(r->item = mfr_malloc(sizeof(int32_t) * len)) || !(r->rating = mfr_malloc(sizeof(float) * len))) {
        free(next);
        return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory copying this rank's ratings");
    }
    r->n = o->n;
    for (int32_t u = mt->u_lo; u <= mt->u_hi; u++) next[u - mt->u_lo] = row_ptr[u] - row_ptr[mt->u_lo];
    for (int64_t j = 0; j < o->n; j++) {
        const int64_t x = next[o->user[j]]++;
        r->user[x] = o->user[j];
        r->item[x] = o->item[j];
        r->rating[x] = o->rating[j];
    }
    free(next);
    return MFR_OK;
}

void mfr_mpi_data_counts(const struct mfr_mpi_data *d, int64_t *n_all, int64_t *n_train, int64_t *n_test,
                         int64_t *n_read)
{
    if (n_all) *n_all = d->n;
    if (n_train) *n_train = d->n_train;
    if (n_test) *n_test = d->n_test;
    if (n_read) *n_read = d->n_read;
}

const char *mfr_mpi_data_spec(const struct mfr_mpi_data *d) { return d->spec; }

/* mfr_model_evaluate's metrics of the part-shaped model m over the whole
 * training (which 0) or validation (1) part: each rank's errors at their
 * positions, +0.0 elsewhere, reduced to rank 0 a chunk at a time (exact),
 * summed there as mfr_model_evaluate sums them, broadcast. */
int mfr_mpi_data_evaluate(mfr_mpi_trainer *mt, int which, const mfr_model *m, mfr_metrics *out, mfr_error *err)
{
    const struct mfr_mpi_data *d = mt->data;
    const struct mfr_mpi_own *o = &d->own[which];
    const int64_t n = which ? d->n_test : d->n_train;
    if (n <= 0) return mfr_seterr(err, MFR_ERR_INVALID, "cannot evaluate on an empty rating set (0 ratings)");
    double *buf = mfr_malloc(sizeof(double) * (size_t)EVAL_CHUNK);
    if (!buf) return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory evaluating the model");
    double s[2] = {0.0, 0.0}; /* squares, absolute values: chunk by chunk, as model_priv.h defines */
    int rc = MPI_SUCCESS;
    int64_t j = 0;
    for (int64_t c0 = 0; c0 < n && rc == MPI_SUCCESS; c0 += EVAL_CHUNK) {
        const int64_t len = n - c0 < EVAL_CHUNK ? n - c0 : EVAL_CHUNK;
        memset(buf, 0, sizeof(double) * (size_t)len);
        int64_t j1 = j;
        while (j1 < o->n && (int64_t)o->pos[j1] < c0 + len) j1++;
#pragma omp parallel for schedule(static) num_threads(mt->tr->n_threads) if (j1 - j >= 4096)
        for (int64_t q = j; q < j1; q++)
            buf[o->pos[q] - c0] =
                (double)mfr_model_predict_unchecked(m, o->user[q], o->item[q]) - (double)o->rating[q];
        j = j1;
        rc = MPI_Reduce(mt->rank ? buf : MPI_IN_PLACE, buf, (int)len, MPI_DOUBLE, MPI_SUM, 0, mt->comm);
        if (mt->rank == 0)
            for (int64_t x = 0; x < len; x += MFR_EVAL_SUM_CHUNK)
                mfr_eval_chunk_sums(buf + x, len - x < MFR_EVAL_SUM_CHUNK ? len - x : MFR_EVAL_SUM_CHUNK, &s[0],
                                    &s[1]);
    }
    free(buf);
    if (rc == MPI_SUCCESS) rc = MPI_Bcast(s, 2, MPI_DOUBLE, 0, mt->comm);
    if (rc != MPI_SUCCESS) return mfr_mpi_err(err, rc, "reduction of the errors");
    *out = (mfr_metrics){0};
    out->n = n;
    out->mse = s[0] / (double)n;
    out->rmse = sqrt(out->mse);
    out->mae = s[1] / (double)n;
    return MFR_OK;
}
