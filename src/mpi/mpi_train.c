/*
 * mpi_train.c — the training step across MPI ranks (include/mfrec_mpi.h,
 * docs/MPI.md).
 *
 * DESIGN
 * Each rank holds the whole trainer of one process (same CSR, same shard
 * cut, which depend on the data and configuration only) and runs the phases
 * of step.c on its own shards [s_lo, s_hi):
 *
 *  reg_sums    user partial sums of its shards, all-gathered; item blocks'
 *              on every rank; then the reduction in shard / block order.
 *  user_grads  its shards only: their users' gradients, loss slots and
 *              shard item buffers (owner mode: their ratings' residuals).
 *  loss        the S loss slots are all-gathered (copies), then summed in
 *              shard order by mfr_phase_loss, as in one process.
 *  items       a pipelined ring in chunks of mt->chunk floats: rank 0 sums
 *              its buffers (kern->sum_buffers), sends the partial sum to
 *              rank 1, which adds its shards' buffers in shard order and
 *              passes it on; rank P-1 broadcasts the total. Each float of gV
 *              is therefore ((b_0 + b_1) + b_2) + ... + b_{S-1}, the same
 *              additions in the same order as kern->sum_buffers in one
 *              process, so the same bits.
 *              --reduce owner: the ring carries, per item, the running sum
 *              of its CSC column in user order (continue_column: the
 *              item_grad kernels' groups of four and tail, a group cut at
 *              a rank boundary carried as pending members; messages hold
 *              only the pending ones, pack_columns), and the last rank
 *              broadcasts it; then every rank updates the item rows.
 *  implicit    Y's gradient around the same column ring (rows gZ, weights
 *              c_u), broadcast, then Y's update on every rank and U derived
 *              for this rank's users.
 *  update      this rank's users only (struct mfr_step's user range: the
 *              other users' rows here are stale copies, never read), and
 *              every item row, replicated: identical updates on every rank.
 *  check       the same rows per rank, then the lowest bad array across
 *              ranks (MPI_MIN).
 *
 * MPI calls are made outside OpenMP parallel regions (MPI_THREAD_FUNNELED
 * is enough). Errors come back as MFR_ERR_IO (MPI_ERRORS_RETURN on comm).
 */
#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <omp.h>
#include <string.h>

#include "dataset_priv.h"
#include "mfrec_mpi.h"
#include "train_priv.h"

/* Floats per ring message: about V / P, within 16 KiB .. 256 KiB. The
 * first chunk crosses P - 1 hops before the pipeline is full, so the ring
 * takes (P - 2 + n_chunks) hop times; at many ranks smaller chunks shorten
 * that fill more than their extra latency costs (docs/PERFORMANCE.md: the
 * best chunk is sqrt(V alpha / ((P - 2) beta)), 16-32 KiB at 128 nodes on
 * 10-100 Gb/s). A multiple of 64 floats keeps every chunk's start aligned
 * for the kernels. The sums are elementwise, so the chunk size never
 * changes a bit of the result. */
#define MPI_CHUNK_MIN 4096
#define MPI_CHUNK_MAX 65536

struct mfr_mpi_trainer {
    mfr_trainer *tr;
    MPI_Comm comm;
    int rank, size;
    int32_t s_lo, s_hi;   /* this rank's shards */
    int64_t chunk;        /* floats per ring message */
    int *slot_count, *slot_disp; /* loss slots per rank (doubles) */
    int *row_count, *row_disp;   /* user-row floats per rank */
    int *reg_count, *reg_disp;   /* regularizer user partials per rank (doubles) */
    double mpi_seconds;          /* inside MPI calls: transfers and waits */
    /* --reduce owner, implicit feedback: each item's CSC positions of this
     * rank's users [col_lo[i], col_hi[i]) and the column ring's slots. */
    int64_t *col_lo, *col_hi;
    float *col_buf, *col_msg; /* working slots; compact messages (chunk by chunk) */
};

/* rc = call, its seconds added to mt->mpi_seconds. */
#define TIMED(mt, rc, call)                    \
    do {                                       \
        double t0_ = MPI_Wtime();              \
        (rc) = (call);                         \
        (mt)->mpi_seconds += MPI_Wtime() - t0_; \
    } while (0)

static int mpi_err(mfr_error *err, int rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "error %d", rc);
    return mfr_seterr(err, MFR_ERR_IO, "MPI %s failed: %s", what, msg);
}

/* What the ranks cannot run yet: NULL when supported. */
static const char *unsupported(const mfr_trainer *tr)
{
    if (tr->als) return "alternating least squares (--optimizer als)";

    return NULL;
}

static int shard_of_rank(const mfr_mpi_trainer *mt, int r)
{
    return (int)((int64_t)r * mt->tr->n_shards / mt->size);
}

static int plan_counts(mfr_mpi_trainer *mt, mfr_error *err)
{
    const mfr_trainer *tr = mt->tr;
    const int P = mt->size;
    int **a[6] = {&mt->slot_count, &mt->slot_disp, &mt->row_count, &mt->row_disp, &mt->reg_count, &mt->reg_disp};
    for (int x = 0; x < 6; x++)
        if (!(*a[x] = mfr_calloc((size_t)P, sizeof(int)))) return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory");
    const int64_t stride = (int64_t)tr->reg_user_stride;
    if (stride * tr->n_shards > INT_MAX)
        return mfr_seterr(err, MFR_ERR_TOO_LARGE, "MPI: more than %d regularizer partial sums", INT_MAX);
    const int64_t k_pad = tr->model->k_pad;
    for (int r = 0; r < P; r++) {
        int32_t lo = shard_of_rank(mt, r), hi = shard_of_rank(mt, r + 1);
        int64_t u_lo = tr->shard_first[lo], u_hi = tr->shard_first[hi];
        if ((u_hi - u_lo) * k_pad > INT_MAX || u_hi * k_pad > INT_MAX)
            return mfr_seterr(err, MFR_ERR_TOO_LARGE, "MPI: more than %d floats of user rows", INT_MAX);
        mt->slot_count[r] = (hi - lo) * MFR_TRAIN_LOSS_STRIDE;
        mt->slot_disp[r] = lo * MFR_TRAIN_LOSS_STRIDE;
        mt->row_count[r] = (int)((u_hi - u_lo) * k_pad);
        mt->row_disp[r] = (int)(u_lo * k_pad);
        mt->reg_count[r] = (int)((hi - lo) * stride);
        mt->reg_disp[r] = (int)(lo * stride);
    }
    return MFR_OK;
}

/* Floats per item in the owner ring: the running row, then up to three
 * pending members of a group of four (their weights, then their rows). */
static int64_t col_slot(const mfr_trainer *tr) { return 4 * (int64_t)tr->model->k_pad + 4; }

/* --reduce owner and implicit feedback: where this rank's users sit in each
 * item's column (the CSC lists an item's users in ascending order, so they
 * are contiguous). */
static int plan_columns(mfr_mpi_trainer *mt, mfr_error *err)
{
    const mfr_trainer *tr = mt->tr;
    if (tr->reduce != MFR_REDUCE_OWNER && !tr->implicit) return MFR_OK;
    const int32_t n = tr->model->n_items, u_lo = tr->shard_first[mt->s_lo], u_hi = tr->shard_first[mt->s_hi];
    if (col_slot(tr) * n > INT_MAX)
        return mfr_seterr(err, MFR_ERR_TOO_LARGE, "MPI: more than %d floats of item columns", INT_MAX);
    mt->col_lo = mfr_malloc(sizeof(int64_t) * (size_t)n);
    mt->col_hi = mfr_malloc(sizeof(int64_t) * (size_t)n);
    mt->col_buf = mfr_malloc(sizeof(float) * (size_t)(col_slot(tr) * n));
    mt->col_msg = mfr_malloc(sizeof(float) * (size_t)(col_slot(tr) * n));
    if (!mt->col_lo || !mt->col_hi || !mt->col_buf || !mt->col_msg)
        return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory");
    for (int32_t i = 0; i < n; i++) {
        int64_t b = tr->csc.col_ptr[i], e = tr->csc.col_ptr[i + 1];
        while (b < e && tr->csc.user[b] < u_lo) b++;
        int64_t h = b;
        while (h < e && tr->csc.user[h] < u_hi) h++;
        mt->col_lo[i] = b;
        mt->col_hi[i] = h;
    }
    return MFR_OK;
}

int mfr_mpi_trainer_create(mfr_trainer *tr, MPI_Comm comm, mfr_mpi_trainer **out, mfr_error *err)
{
    if (!out) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_mpi_trainer_create: out is NULL");
    *out = NULL;
    if (!tr) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_mpi_trainer_create: trainer is NULL");
    const char *no = unsupported(tr);
    if (no) return mfr_seterr(err, MFR_ERR_UNSUPPORTED, "training over MPI does not support %s yet", no);
    int rc, rank, size;
    if ((rc = MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN)) != MPI_SUCCESS ||
        (rc = MPI_Comm_rank(comm, &rank)) != MPI_SUCCESS || (rc = MPI_Comm_size(comm, &size)) != MPI_SUCCESS)
        return mpi_err(err, rc, "communicator setup");
    if (size > tr->n_shards)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "%d MPI ranks but the data has %d shards: run at most %d ranks (or raise "
                          "--shards, in the single-process run too)",
                          size, (int)tr->n_shards, (int)tr->n_shards);
    if ((int64_t)tr->model->n_items * tr->model->k_pad > INT_MAX)
        return mfr_seterr(err, MFR_ERR_TOO_LARGE, "MPI: more than %d floats of item gradients", INT_MAX);
    mfr_mpi_trainer *mt = mfr_calloc(1, sizeof *mt);
    if (!mt) return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory");
    *mt = (mfr_mpi_trainer){.tr = tr, .comm = comm, .rank = rank, .size = size};
    mt->s_lo = shard_of_rank(mt, rank);
    mt->s_hi = shard_of_rank(mt, rank + 1);
    const int64_t v_len = (int64_t)tr->model->n_items * tr->model->k_pad;
    const int64_t per_rank = (v_len / size + 63) / 64 * 64;
    mt->chunk = per_rank < MPI_CHUNK_MIN ? MPI_CHUNK_MIN : per_rank > MPI_CHUNK_MAX ? MPI_CHUNK_MAX : per_rank;
    if ((rc = plan_counts(mt, err)) != MFR_OK || (rc = plan_columns(mt, err)) != MFR_OK) {
        mfr_mpi_trainer_destroy(mt);
        return rc;
    }
    *out = mt;
    return MFR_OK;
}

void mfr_mpi_trainer_destroy(mfr_mpi_trainer *mt)
{
    if (!mt) return;
    free(mt->slot_count);
    free(mt->slot_disp);
    free(mt->row_count);
    free(mt->row_disp);
    free(mt->reg_count);
    free(mt->reg_disp);
    free(mt->col_lo);
    free(mt->col_hi);
    free(mt->col_buf);
    free(mt->col_msg);
    free(mt);
}

/* gV[off, off+len) += this rank's shard buffers, in shard order. */
static void add_own_buffers(const mfr_mpi_trainer *mt, int64_t off, int64_t len)
{
    const mfr_trainer *tr = mt->tr;
    const int64_t v_len = (int64_t)tr->model->n_items * tr->model->k_pad;
    float *g = tr->gV + off;
    const float *base = tr->shard_gV + (size_t)mt->s_lo * (size_t)v_len + off;
    const int32_t n_own = mt->s_hi - mt->s_lo;
#pragma omp parallel for schedule(static) num_threads(tr->n_threads)
    for (int64_t x = 0; x < len; x++) {
        float s = g[x];
        for (int32_t b = 0; b < n_own; b++) s += base[(size_t)b * (size_t)v_len + (size_t)x];
        g[x] = s;
    }
}

/* Rank 0's start of the chain: its buffers summed as one process would. */
static void sum_first_buffers(const mfr_mpi_trainer *mt, int64_t off, int64_t len)
{
    const mfr_trainer *tr = mt->tr;
    const int64_t v_len = (int64_t)tr->model->n_items * tr->model->k_pad;
    const float *base = tr->shard_gV + (size_t)mt->s_lo * (size_t)v_len + off;
    const int32_t n_own = mt->s_hi - mt->s_lo;
    const int64_t per = MFR_TRAIN_CHUNK;
#pragma omp parallel for schedule(static) num_threads(tr->n_threads)
    for (int64_t c = 0; c < (len + per - 1) / per; c++) {
        int64_t n = len - c * per < per ? len - c * per : per;
        tr->kern->sum_buffers(tr->gV + off + c * per, base + c * per, v_len, n_own, n);
    }
}

/* gV = Σ_s shard_gV[s] in shard order across the ranks, on every rank. */
static int ring_reduce_items(mfr_mpi_trainer *mt, mfr_error *err)
{
    const mfr_trainer *tr = mt->tr;
    const int64_t v_len = (int64_t)tr->model->n_items * tr->model->k_pad;
    const int64_t chunk = mt->chunk, n_chunks = (v_len + chunk - 1) / chunk;
    const bool last = mt->rank == mt->size - 1;
    int rc = MPI_SUCCESS;
    MPI_Request req = MPI_REQUEST_NULL;
    for (int64_t c = 0; c < n_chunks && rc == MPI_SUCCESS; c++) {
        int64_t off = c * chunk, len = v_len - off < chunk ? v_len - off : chunk;
        if (mt->rank == 0) {
            sum_first_buffers(mt, off, len);
        } else {
            TIMED(mt, rc, MPI_Recv(tr->gV + off, (int)len, MPI_FLOAT, mt->rank - 1, (int)(c & 0x7fff),
                                    mt->comm, MPI_STATUS_IGNORE));
            if (rc != MPI_SUCCESS) break;
            add_own_buffers(mt, off, len);
        }
        if (last) continue;
        /* one send in flight: chunk c leaves while chunk c+1 is summed */
        TIMED(mt, rc, MPI_Wait(&req, MPI_STATUS_IGNORE));
        if (rc != MPI_SUCCESS) break;
        rc = MPI_Isend(tr->gV + off, (int)len, MPI_FLOAT, mt->rank + 1, (int)(c & 0x7fff), mt->comm, &req);
    }
    if (rc == MPI_SUCCESS) TIMED(mt, rc, MPI_Wait(&req, MPI_STATUS_IGNORE));
    if (rc != MPI_SUCCESS) return mpi_err(err, rc, "ring reduction of the item gradients");
    TIMED(mt, rc, MPI_Bcast(tr->gV, (int)v_len, MPI_FLOAT, mt->size - 1, mt->comm));
    if (rc != MPI_SUCCESS)
        return mpi_err(err, rc, "broadcast of the item gradients");
    return MFR_OK;
}

/* row += (g0 r0 + g1 r1) + (g2 r2 + g3 r3), each pair's second product
 * fused: the group step of the item_grad kernels (kern_priv.h). fmaf is one
 * instruction with FMA and a libm call without, hence a clone for FMA
 * machines picked at load time (fmaf is exact either way: same bits; the
 * project's -ffp-contract=off keeps g0 r0 rounded as the kernels do). */
#if defined(__GNUC__) && defined(__x86_64__)
__attribute__((target_clones("fma", "default")))
#endif
static void add_group(float *restrict acc, const float g[4], const float *const r[4], int32_t kp)
{
    for (int32_t c = 0; c < kp; c++)
        acc[c] = acc[c] + (fmaf(g[1], r[1][c], g[0] * r[0][c]) + fmaf(g[3], r[3][c], g[2] * r[2][c]));
}

/* row = fma(g, r, row): a tail rating of the item_grad kernels. */
#if defined(__GNUC__) && defined(__x86_64__)
__attribute__((target_clones("fma", "default")))
#endif
static void add_one(float *restrict acc, float g, const float *restrict r, int32_t kp)
{
    for (int32_t c = 0; c < kp; c++) acc[c] = fmaf(g, r[c], acc[c]);
}

/* Item i's column continued over this rank's users: Σ weight[pos] ·
 * rows[user] with the additions of the item_grad kernels: from the
 * column's start, groups of four (add_group); the last (n mod 4) ratings
 * one at a time, row = fma(g, r, row). A group cut at a rank boundary waits in the slot as pending
 * members until the rank that holds its last member adds it. `slot`: the
 * running row (k_pad), three weights and a spare, three pending rows. */
static void continue_column(const mfr_mpi_trainer *mt, int32_t i, const float *rows, const float *weight,
                            float *slot)
{
    const mfr_trainer *tr = mt->tr;
    const int32_t kp = tr->model->k_pad;
    const int64_t b = tr->csc.col_ptr[i], e = tr->csc.col_ptr[i + 1], full = b + (e - b) / 4 * 4;
    const int64_t hi = mt->col_hi[i];
    float *acc = slot, *pg = slot + kp, *prow = slot + kp + 4;
#define MEMBER(j, q) (g[q] = weight[tr->csc.pos[j]], r[q] = rows + (size_t)tr->csc.user[j] * (size_t)kp)
    float g[4];
    const float *r[4];
    int64_t j = mt->col_lo[i];
    /* a group begun on the ranks before: kept, or completed here */
    for (; j < hi && j < full && (j - b) % 4 != 0; j++) {
        const int q = (int)((j - b) % 4);
        MEMBER(j, 3);
        if (q < 3) {
            pg[q] = g[3];
            memcpy(prow + (size_t)q * (size_t)kp, r[3], sizeof(float) * (size_t)kp);
            continue;
        }
        for (int x = 0; x < 3; x++) g[x] = pg[x], r[x] = prow + (size_t)x * (size_t)kp;
        add_group(acc, g, r, kp);
    }
    for (; j + 4 <= hi && j + 4 <= full; j += 4) { /* whole groups of this rank */
        for (int q = 0; q < 4; q++) MEMBER(j + q, q);
        add_group(acc, g, r, kp);
    }
    for (; j < hi; j++) { /* a group the next ranks complete, or the tail */
        MEMBER(j, 0);
        if (j >= full) {
            add_one(acc, g[0], r[0], kp);
            continue;
        }
        const int q = (int)((j - b) % 4);
        pg[q] = g[0];
        memcpy(prow + (size_t)q * (size_t)kp, r[0], sizeof(float) * (size_t)kp);
    }
#undef MEMBER
}

/* Members of item i's group of four pending at CSC position x (a rank
 * boundary): those after the column's last whole group begun before x,
 * none in the tail (added one at a time). */
static int pending_at(const mfr_trainer *tr, int32_t i, int64_t x)
{
    const int64_t b = tr->csc.col_ptr[i], e = tr->csc.col_ptr[i + 1];
    return x < b + (e - b) / 4 * 4 ? (int)((x - b) % 4) : 0;
}

/* Chunk [i0, i1)'s slots to (to_msg) or from the compact message between
 * two ranks: per item the running row, then only its pending members'
 * weights and rows, their count known to both ranks from the boundary
 * position at[i] (col_hi on the sender, the same col_lo on the receiver).
 * msg NULL: only the message's length in floats. */
static int64_t pack_columns(const mfr_mpi_trainer *mt, int32_t i0, int32_t i1, const int64_t *at, float *slots,
                            float *msg, bool to_msg)
{
    const int32_t kp = mt->tr->model->k_pad;
    const int64_t slot = col_slot(mt->tr);
    int64_t n = 0;
    for (int32_t i = i0; i < i1; i++) {
        const int np = pending_at(mt->tr, i, at[i]);
        float *sl = slots + (size_t)(i - i0) * (size_t)slot;
        const size_t part[3] = {(size_t)kp, (size_t)np, (size_t)np * (size_t)kp};
        float *in_slot[3] = {sl, sl + kp, sl + kp + 4};
        for (int x = 0; msg && x < 3; n += (int64_t)part[x], x++)
            memcpy(to_msg ? msg + n : in_slot[x], to_msg ? in_slot[x] : msg + n, sizeof(float) * part[x]);
        if (!msg) n += (int64_t)(part[0] + part[1] + part[2]);
    }
    return n;
}

/* out (n_items x k_pad, on every rank) = every item's Σ over its whole
 * column of weight[pos] · rows[user], the ranks' users in order along the
 * ring (chunks of items), then broadcast: V's gradient with item owners
 * (residuals, U), Y's with implicit feedback (c_u, dLoss/dU). */
static int ring_reduce_columns(mfr_mpi_trainer *mt, const float *rows, const float *weight, float *out,
                               mfr_error *err)
{
    const mfr_trainer *tr = mt->tr;
    const int32_t n_items = tr->model->n_items, kp = tr->model->k_pad;
    const int64_t slot = col_slot(tr), per = mt->chunk / slot > 0 ? mt->chunk / slot : 1;
    const bool last = mt->rank == mt->size - 1;
    int rc = MPI_SUCCESS;
    MPI_Request req = MPI_REQUEST_NULL;
    for (int32_t i0 = 0; i0 < n_items && rc == MPI_SUCCESS; i0 += (int32_t)per) {
        const int32_t i1 = n_items - i0 < per ? n_items : i0 + (int32_t)per;
        float *buf = mt->col_buf + (size_t)i0 * (size_t)slot, *msg = mt->col_msg + (size_t)i0 * (size_t)slot;
        if (mt->rank == 0) {
            memset(buf, 0, sizeof(float) * (size_t)((i1 - i0) * slot));
        } else {
            const int len = (int)pack_columns(mt, i0, i1, mt->col_lo, buf, NULL, false);
            TIMED(mt, rc, MPI_Recv(msg, len, MPI_FLOAT, mt->rank - 1, (int)((i0 / per) & 0x7fff), mt->comm,
                                   MPI_STATUS_IGNORE));
            if (rc != MPI_SUCCESS) break;
            pack_columns(mt, i0, i1, mt->col_lo, buf, msg, false);
        }
#pragma omp parallel for schedule(static, 16) num_threads(tr->n_threads)
        for (int32_t i = i0; i < i1; i++) continue_column(mt, i, rows, weight, buf + (size_t)(i - i0) * (size_t)slot);
        if (last) {
            for (int32_t i = i0; i < i1; i++)
                memcpy(out + (size_t)i * (size_t)kp, buf + (size_t)(i - i0) * (size_t)slot, sizeof(float) * (size_t)kp);
            continue;
        }
        TIMED(mt, rc, MPI_Wait(&req, MPI_STATUS_IGNORE));
        const int len = (int)pack_columns(mt, i0, i1, mt->col_hi, buf, msg, true);
        if (rc == MPI_SUCCESS)
            rc = MPI_Isend(msg, len, MPI_FLOAT, mt->rank + 1, (int)((i0 / per) & 0x7fff), mt->comm, &req);
    }
    if (rc == MPI_SUCCESS) TIMED(mt, rc, MPI_Wait(&req, MPI_STATUS_IGNORE));
    if (rc != MPI_SUCCESS) return mpi_err(err, rc, "ring reduction of the item columns");
    TIMED(mt, rc, MPI_Bcast(out, (int)((int64_t)n_items * kp), MPI_FLOAT, mt->size - 1, mt->comm));
    return rc == MPI_SUCCESS ? MFR_OK : mpi_err(err, rc, "broadcast of the item gradients");
}

/* --reduce owner updates the item rows in its item pass (step.c), so
 * mfr_phase_update leaves them: here, as elementwise as there. */
static void update_items(mfr_trainer *tr, const struct mfr_step *st)
{
    if (!st->finite) return;
    const int64_t v_len = (int64_t)tr->model->n_items * tr->model->k_pad;
#pragma omp for schedule(static)
    for (int64_t off = 0; off < v_len; off += MFR_TRAIN_CHUNK)
        mfr_opt_update(tr->opt, &st->opt, &tr->group[MFR_GROUP_ITEMS], off, tr->gV,
                       v_len - off < MFR_TRAIN_CHUNK ? v_len - off : MFR_TRAIN_CHUNK);
}

/* The regularizers' sums: user partials of this rank's shards and every
 * item block's, every rank's user partials gathered (copies), then the
 * same reduction in shard / block order as one process. */
static int reg_sums(mfr_mpi_trainer *mt, struct mfr_step *st, mfr_error *err)
{
    mfr_trainer *tr = mt->tr;
    if (!tr->reg) return MFR_OK;
#pragma omp parallel num_threads(tr->n_threads)
    mfr_reg_partials(tr, mt->s_lo, mt->s_hi);
    if (tr->reg_user_stride) {
        int rc;
        TIMED(mt, rc, MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, tr->reg_user_part, mt->reg_count,
                                     mt->reg_disp, MPI_DOUBLE, mt->comm));
        if (rc != MPI_SUCCESS) return mpi_err(err, rc, "gather of the regularizer sums");
    }
    mfr_reg_reduce(tr, st);
    return MFR_OK;
}

static void own_user_grads(mfr_mpi_trainer *mt, const struct mfr_step *st)
{
    mfr_trainer *tr = mt->tr;
#pragma omp parallel for schedule(static, 1) num_threads(tr->n_threads)
    for (int32_t s = mt->s_lo; s < mt->s_hi; s++) mfr_shard_user_grads(tr, st, s);
}

/* The lowest non-finite array index over the ranks (-1: none). */
static int check_across(mfr_mpi_trainer *mt, struct mfr_step *st, mfr_error *err)
{
    int mine = st->bad_array < 0 ? INT_MAX : st->bad_array, low;
    int rc;
    TIMED(mt, rc, MPI_Allreduce(&mine, &low, 1, MPI_INT, MPI_MIN, mt->comm));
    if (rc != MPI_SUCCESS) return mpi_err(err, rc, "divergence check");
    st->bad_array = low == INT_MAX ? -1 : low;
    return MFR_OK;
}

int mfr_mpi_trainer_step(mfr_mpi_trainer *mt, double *loss_out, mfr_error *err)
{
    if (!mt) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_mpi_trainer_step: trainer is NULL");
    mfr_trainer *tr = mt->tr;
    struct mfr_step st;
    mfr_step_begin(tr, &st);
    st.user_first = tr->shard_first[mt->s_lo]; /* this rank's users alone are updated and checked */
    st.user_end = tr->shard_first[mt->s_hi];
    int rc = reg_sums(mt, &st, err);
    if (rc != MFR_OK) return rc;
    own_user_grads(mt, &st);
    TIMED(mt, rc, MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, tr->shard_loss, mt->slot_count,
                                 mt->slot_disp, MPI_DOUBLE, mt->comm));
    if (rc != MPI_SUCCESS) return mpi_err(err, rc, "gather of the loss slots");
    mfr_phase_loss(tr, &st); /* every rank: the same slots in shard order */
    const bool owner = tr->reduce == MFR_REDUCE_OWNER;
    rc = owner ? ring_reduce_columns(mt, tr->model->U, tr->resid, tr->gV, err) : ring_reduce_items(mt, err);
    if (rc == MFR_OK && tr->implicit) rc = ring_reduce_columns(mt, tr->gZ, tr->imp_w, tr->gY, err);
    if (rc != MFR_OK) return rc;
#pragma omp parallel num_threads(tr->n_threads)
    {
        mfr_items_reg_terms(tr, &st);
        if (owner) update_items(tr, &st);
        mfr_phase_implicit_finish(tr, &st);
        mfr_phase_update(tr, &st);
        mfr_phase_derive(tr, &st);
        mfr_phase_check(tr, &st);
    }
    if ((rc = check_across(mt, &st, err)) != MFR_OK) return rc;
    return mfr_step_end(tr, &st, loss_out, err);
}

/* Rank 0's m gets every rank's rows of m's user arrays (U, P with implicit
 * feedback, optimizer state; m has the trainer's shape). */
static int gather_users(mfr_mpi_trainer *mt, mfr_model *m, mfr_error *err)
{
    for (int s = -2; s < m->n_state; s++) {
        if (s == -2 && !m->P) continue;
        float *a = s == -2 ? m->P : s < 0 ? m->U : m->state[MFR_GROUP_USERS][s];
        const int me = mt->rank;
        int rc = me == 0 ? MPI_Gatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, a, mt->row_count, mt->row_disp,
                                       MPI_FLOAT, 0, mt->comm)
                         : MPI_Gatherv(a + mt->row_disp[me], mt->row_count[me], MPI_FLOAT, NULL, NULL,
                                       NULL, MPI_FLOAT, 0, mt->comm);
        if (rc != MPI_SUCCESS) return mpi_err(err, rc, "gather of the user rows");
    }
    return MFR_OK;
}

int mfr_mpi_trainer_gather(mfr_mpi_trainer *mt, mfr_error *err)
{
    if (!mt) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_mpi_trainer_gather: trainer is NULL");
    return gather_users(mt, mt->tr->model, err);
}

int mfr_mpi_trainer_gather_model(mfr_mpi_trainer *mt, mfr_model *m, mfr_error *err)
{
    if (!mt || !m) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_mpi_trainer_gather_model: %s is NULL",
                                     !mt ? "trainer" : "model");
    const mfr_model *t = mt->tr->model;
    if (m->n_users != t->n_users || m->k_pad != t->k_pad || m->n_state != t->n_state || !m->P != !t->P)
        return mfr_seterr(err, MFR_ERR_MISMATCH, "mfr_mpi_trainer_gather_model: not the trainer's shape");
    return gather_users(mt, m, err);
}

/* Every validation error e[x] (as mfr_model_evaluate computes it) comes from
 * the rank that owns the rating's user; the others leave +0.0 there, so the
 * sum-reduce is exact in any order: x + 0.0 == x. */
static void own_errors(const mfr_mpi_trainer *mt, const mfr_ratings *r, double *e)
{
    const mfr_model *m = mt->tr->model;
    const int32_t u_lo = mt->tr->shard_first[mt->s_lo], u_hi = mt->tr->shard_first[mt->s_hi];
#pragma omp parallel for schedule(static) num_threads(mt->tr->n_threads)
    for (int64_t x = 0; x < r->n; x++) {
        const int32_t u = r->user[x];
        e[x] = u >= u_lo && u < u_hi
                   ? (double)mfr_model_predict_unchecked(m, u, r->item[x]) - (double)r->rating[x]
                   : 0.0;
    }
}

int mfr_mpi_trainer_evaluate(mfr_mpi_trainer *mt, const mfr_ratings *r, mfr_metrics *out, mfr_error *err)
{
    if (!mt || !r || !out)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_mpi_trainer_evaluate: %s is NULL",
                          !mt ? "trainer" : !r ? "ratings" : "out");
    const mfr_model *m = mt->tr->model;
    if (r->n <= 0) return mfr_seterr(err, MFR_ERR_INVALID, "cannot evaluate on an empty rating set (0 ratings)");
    for (int64_t x = 0; x < r->n; x++)
        if ((uint32_t)r->user[x] >= (uint32_t)m->n_users || (uint32_t)r->item[x] >= (uint32_t)m->n_items)
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
        return mpi_err(err, rc, "reduction of the validation errors");
    }
    double sq = 0.0, ab = 0.0; /* in rating order, as model_eval.c's sum_errors */
    for (int64_t x = 0; x < r->n; x++) sq += e[x] * e[x], ab += fabs(e[x]);
    free(e);
    const double n = (double)r->n;
    *out = (mfr_metrics){0};
    out->n = r->n;
    out->mse = sq / n;
    out->rmse = sqrt(out->mse);
    out->mae = ab / n;
    return MFR_OK;
}

double mfr_mpi_trainer_mpi_seconds(const mfr_mpi_trainer *mt) { return mt ? mt->mpi_seconds : 0.0; }
