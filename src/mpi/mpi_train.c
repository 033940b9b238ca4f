/*
 * mpi_train.c — the training step across MPI ranks (include/mfrec_mpi.h,
 * docs/MPI.md).
 *
 * DESIGN
 * Each rank holds the trainer of its part (mpi_part.c: the users of its
 * shards [s_lo, s_hi) of the single-process cut, every item) and runs the
 * phases of step.c on it:
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

#include "mpi_priv.h"

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

/* rc = call, its seconds added to mt->mpi_seconds. */
#define TIMED(mt, rc, call)                    \
    do {                                       \
        double t0_ = MPI_Wtime();              \
        (rc) = (call);                         \
        (mt)->mpi_seconds += MPI_Wtime() - t0_; \
    } while (0)

/* The loss slots, user rows and regularizer partials of every rank, by
 * the whole data's shard cut. */
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
        int32_t lo = mt->rank_first[r], hi = mt->rank_first[r + 1];
        int64_t u_lo = mt->first[lo], u_hi = mt->first[hi];
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
 * item's column of the whole data (the CSC lists an item's users in
 * ascending order, so they are contiguous): after the ratings of the ranks
 * before (an exclusive prefix sum of exact integers), of col_len in all. */
static int plan_columns(mfr_mpi_trainer *mt, mfr_error *err)
{
    const mfr_trainer *tr = mt->tr;
    if (tr->reduce != MFR_REDUCE_OWNER && !tr->implicit) return MFR_OK;
    const int32_t n = tr->model->n_items;
    if (col_slot(tr) * n > INT_MAX)
        return mfr_seterr(err, MFR_ERR_TOO_LARGE, "MPI: more than %d floats of item columns", INT_MAX);
    mt->col_lo = mfr_calloc((size_t)n, sizeof(int64_t));
    mt->col_hi = mfr_malloc(sizeof(int64_t) * (size_t)n);
    mt->col_len = mfr_malloc(sizeof(int64_t) * (size_t)n);
    mt->col_buf = mfr_malloc(sizeof(float) * (size_t)(col_slot(tr) * n));
    mt->col_msg = mfr_malloc(sizeof(float) * (size_t)(col_slot(tr) * n));
    if (!mt->col_lo || !mt->col_hi || !mt->col_len || !mt->col_buf || !mt->col_msg)
        return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory");
    for (int32_t i = 0; i < n; i++) mt->col_hi[i] = tr->csc.col_ptr[i + 1] - tr->csc.col_ptr[i];
    int rc = MPI_Exscan(mt->col_hi, mt->col_lo, n, MPI_INT64_T, MPI_SUM, mt->comm);
    if (rc == MPI_SUCCESS) rc = MPI_Allreduce(mt->col_hi, mt->col_len, n, MPI_INT64_T, MPI_SUM, mt->comm);
    if (rc != MPI_SUCCESS) return mfr_mpi_err(err, rc, "count of the item columns");
    if (mt->rank == 0) memset(mt->col_lo, 0, sizeof(int64_t) * (size_t)n); /* Exscan leaves rank 0's undefined */
    for (int32_t i = 0; i < n; i++) mt->col_hi[i] += mt->col_lo[i];
    return MFR_OK;
}

int mfr_mpi_plan(mfr_mpi_trainer *mt, mfr_error *err)
{
    const mfr_trainer *tr = mt->tr;
    if ((int64_t)tr->model->n_items * tr->model->k_pad > INT_MAX)
        return mfr_seterr(err, MFR_ERR_TOO_LARGE, "MPI: more than %d floats of item gradients", INT_MAX);
    const int64_t v_len = (int64_t)tr->model->n_items * tr->model->k_pad;
    const int64_t per_rank = (v_len / mt->size + 63) / 64 * 64;
    mt->chunk = per_rank < MPI_CHUNK_MIN ? MPI_CHUNK_MIN : per_rank > MPI_CHUNK_MAX ? MPI_CHUNK_MAX : per_rank;
    int rc = plan_counts(mt, err);
    return rc != MFR_OK ? rc : plan_columns(mt, err);
}

/* gV[off, off+len) += this rank's shard buffers, in shard order. */
static void add_own_buffers(const mfr_mpi_trainer *mt, int64_t off, int64_t len)
{
    const mfr_trainer *tr = mt->tr;
    const int64_t v_len = (int64_t)tr->model->n_items * tr->model->k_pad;
    float *g = tr->gV + off;
    const float *base = tr->shard_gV + off; /* buffer 0: shard s_lo */
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
    const float *base = tr->shard_gV + off; /* buffer 0: shard s_lo */
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
    if (rc != MPI_SUCCESS) return mfr_mpi_err(err, rc, "ring reduction of the item gradients");
    TIMED(mt, rc, MPI_Bcast(tr->gV, (int)v_len, MPI_FLOAT, mt->size - 1, mt->comm));
    if (rc != MPI_SUCCESS)
        return mfr_mpi_err(err, rc, "broadcast of the item gradients");
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
 * running row (k_pad), three weights and a spare, three pending rows.
 * Positions x count in the whole column; this rank's own CSC column holds
 * x in [col_lo[i], col_hi[i]) at j = b + x - col_lo[i]. */
static void continue_column(const mfr_mpi_trainer *mt, int32_t i, const float *rows, const float *weight,
                            float *slot)
{
    const mfr_trainer *tr = mt->tr;
    const int32_t kp = tr->model->k_pad;
    const int64_t full = mt->col_len[i] / 4 * 4, hi = mt->col_hi[i];
    const int64_t at = tr->csc.col_ptr[i] - mt->col_lo[i]; /* j = at + x */
    float *acc = slot, *pg = slot + kp, *prow = slot + kp + 4;
#define MEMBER(x, q) \
    (g[q] = weight[tr->csc.pos[at + (x)]], r[q] = rows + (size_t)tr->csc.user[at + (x)] * (size_t)kp)
    float g[4];
    const float *r[4];
    int64_t x = mt->col_lo[i];
    /* a group begun on the ranks before: kept, or completed here */
    for (; x < hi && x < full && x % 4 != 0; x++) {
        const int q = (int)(x % 4);
        MEMBER(x, 3);
        if (q < 3) {
            pg[q] = g[3];
            memcpy(prow + (size_t)q * (size_t)kp, r[3], sizeof(float) * (size_t)kp);
            continue;
        }
        for (int y = 0; y < 3; y++) g[y] = pg[y], r[y] = prow + (size_t)y * (size_t)kp;
        add_group(acc, g, r, kp);
    }
    for (; x + 4 <= hi && x + 4 <= full; x += 4) { /* whole groups of this rank */
        for (int q = 0; q < 4; q++) MEMBER(x + q, q);
        add_group(acc, g, r, kp);
    }
    for (; x < hi; x++) { /* a group the next ranks complete, or the tail */
        MEMBER(x, 0);
        if (x >= full) {
            add_one(acc, g[0], r[0], kp);
            continue;
        }
        const int q = (int)(x % 4);
        pg[q] = g[0];
        memcpy(prow + (size_t)q * (size_t)kp, r[0], sizeof(float) * (size_t)kp);
    }
#undef MEMBER
}

/* Members of item i's group of four pending at position x of its whole
 * column (a rank boundary): those after the column's last whole group
 * begun before x, none in the tail (added one at a time). */
static int pending_at(const mfr_mpi_trainer *mt, int32_t i, int64_t x)
{
    return x < mt->col_len[i] / 4 * 4 ? (int)(x % 4) : 0;
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
        const int np = pending_at(mt, i, at[i]);
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
    if (rc != MPI_SUCCESS) return mfr_mpi_err(err, rc, "ring reduction of the item columns");
    TIMED(mt, rc, MPI_Bcast(out, (int)((int64_t)n_items * kp), MPI_FLOAT, mt->size - 1, mt->comm));
    return rc == MPI_SUCCESS ? MFR_OK : mfr_mpi_err(err, rc, "broadcast of the item gradients");
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
        if (rc != MPI_SUCCESS) return mfr_mpi_err(err, rc, "gather of the regularizer sums");
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
    if (rc != MPI_SUCCESS) return mfr_mpi_err(err, rc, "divergence check");
    st->bad_array = low == INT_MAX ? -1 : low;
    return MFR_OK;
}

int mfr_mpi_trainer_step(mfr_mpi_trainer *mt, double *loss_out, mfr_error *err)
{
    if (!mt) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_mpi_trainer_step: trainer is NULL");
    mfr_trainer *tr = mt->tr;
    /* every rank saw the same divergence (check_across): all refuse alike */
    if (tr->broken_epoch > 0) return mfr_step_refuse_broken(tr, err);
    struct mfr_step st;
    mfr_step_begin(tr, &st); /* the part's users: this rank's own */
    int rc = reg_sums(mt, &st, err);
    if (rc != MFR_OK) return rc;
    own_user_grads(mt, &st);
    TIMED(mt, rc, MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, tr->shard_loss, mt->slot_count,
                                 mt->slot_disp, MPI_DOUBLE, mt->comm));
    if (rc != MPI_SUCCESS) return mfr_mpi_err(err, rc, "gather of the loss slots");
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

int mfr_mpi_trainer_data_mse(mfr_mpi_trainer *mt, const mfr_model *m, double *mse, mfr_error *err)
{
    if (!mt || !mse)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_mpi_trainer_data_mse: %s is NULL", !mt ? "trainer" : "mse");
    mfr_trainer *tr = mt->tr;
    int rc = mfr_data_pass_ok(tr, m, "mfr_mpi_trainer_data_mse", err);
    if (rc != MFR_OK) return rc;
    mfr_data_loss_slots(tr, m ? m : tr->model, mt->s_lo, mt->s_hi);
    TIMED(mt, rc, MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, tr->shard_loss, mt->slot_count,
                                 mt->slot_disp, MPI_DOUBLE, mt->comm));
    if (rc != MPI_SUCCESS) return mfr_mpi_err(err, rc, "gather of the loss slots");
    *mse = mfr_data_mse_of_slots(tr); /* every rank: the same slots in shard order */
    return MFR_OK;
}

double mfr_mpi_trainer_mpi_seconds(const mfr_mpi_trainer *mt) { return mt ? mt->mpi_seconds : 0.0; }
