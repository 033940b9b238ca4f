/*
 * step.c — one full-batch training step, as a sequence of named phases.
 *
 * DESIGN
 * mfr_trainer_step runs one OpenMP parallel region; every thread calls the
 * phases below in order, and each phase splits its work with orphaned
 * `omp for` loops. Who owns which memory:
 *
 *  reg_sums     shards / item blocks write their own partial slots; one
 *               thread sums them in shard / block order (reg_priv.h).
 *  user_grads   a shard writes only its users' gradient rows (gU, and gZ
 *               with implicit feedback), its loss slot, and its own item
 *               buffer (shard mode) or its ratings' residuals (owner mode).
 *  loss         one thread sums the loss slots in shard order.
 *  items        owner mode: a thread owns whole items: it sums an item's
 *               residual * U[user] in CSC (user) order, adds the item's
 *               regularizer terms and updates the item's row at once
 *               (nothing later in the step reads V). Shard mode: a thread
 *               owns a range of gV and sums the shard buffers in shard
 *               order, then items add their regularizer terms.
 *  implicit     a thread owns whole items of Y: gradient over the CSC from
 *               the complete gZ, then the update (Y is next read in derive).
 *  update       threads own disjoint chunks of the users' rows (and V in
 *               shard mode) and of their optimizer state.
 *  derive       implicit feedback: a thread owns whole users of U.
 *
 * Every float sum has an order fixed by the data (shard index, user order,
 * rating order), never by the threads, so the factors are bit-identical for
 * any thread count. A gradient step allocates nothing (an ALS step
 * allocates its solvers' scratch first, als.c).
 *
 * Implicit feedback (SVD++): the parameters are P and Y and the model's U
 * is derived, U_u = P_u + c_u Σ_{j in R(u)} Y_j with c_u = |R(u)|^-1/2, so
 * every pass reads U unchanged; user_grads keeps each user's dLoss/dU_u
 * (data and prediction terms such as gravity) in gZ before P's own terms
 * are added, and implicit sums dLoss/dY_j = Σ_{u rated j} c_u gZ_u.
 *
 * Biases live in two extra lanes of each row (common_priv.h): their
 * constant lanes get a zero gradient, so they stay exactly 1.
 */
#include <float.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "train_priv.h"

void mfr_step_begin(const mfr_trainer *tr, struct mfr_step *st)
{
    memset(st, 0, sizeof *st);
    st->bad_array = -1;
    st->user_end = tr->model->n_users;
    st->scale = (float)(2.0 / (double)tr->nnz_all);
    st->opt.kern = tr->kern;
    tr->opt->begin(&tr->cfg, tr->model->epochs + 1, &st->opt);
    mfr_reg_coefs(&tr->reg_ctx, st->coef);
    st->user_coef = mfr_reg_coef_merge(st->coef[MFR_REG_ROW_P], &st->coef[MFR_REG_ROW_U]);
}

/* ---- regularizer sums ---- */

static void reg_partials(const mfr_trainer *tr, int user_side, int32_t first, int32_t end, double *part)
{
    for (int t = 0; t < MFR_REG_N_TERMS; t++) {
        const struct mfr_reg_term *term = &mfr_reg_terms[t];
        size_t len = user_side ? term->user_len(&tr->cfg, tr->model->k) : term->item_len(&tr->cfg, tr->model->k);
        if (!len || !term->active(&tr->cfg)) continue;
        if (user_side) term->user_partial(&tr->reg_ctx, first, end, part + tr->reg_user_off[t]);
        else term->item_partial(&tr->reg_ctx, first, end, part + tr->reg_item_off[t]);
    }
}

/* sum[x] = Σ_p part[p][x] over n_parts in order. */
static void sum_parts(double *sum, const double *part, int32_t n_parts, size_t stride)
{
    if (!stride) return;
    memset(sum, 0, sizeof(double) * stride);
    for (int32_t p = 0; p < n_parts; p++)
        for (size_t x = 0; x < stride; x++) sum[x] += part[(size_t)p * stride + x];
}

/* Row `row` of a partial-sum array. A side without partial sums has stride
 * 0 and no array (NULL): NULL + 0 is undefined behaviour (UBSan, found by
 * fuzz_foldin's fixture training), so it stays NULL, never read. */
static double *part_row(double *part, size_t row, size_t stride)
{
    return stride ? part + row * stride : NULL;
}

void mfr_reg_partials(mfr_trainer *tr, int32_t s_lo, int32_t s_hi)
{
    if (!tr->reg) return;
    const int32_t n_items = tr->model->n_items;
#pragma omp for schedule(dynamic, 1) nowait
    for (int32_t s = s_lo; s < s_hi; s++)
        reg_partials(tr, 1, tr->shard_first[s], tr->shard_first[s + 1],
                     part_row(tr->reg_user_part, (size_t)s, tr->reg_user_stride));
#pragma omp for schedule(dynamic, 1)
    for (int32_t b = 0; b < tr->n_item_blocks; b++) {
        int32_t first = b * MFR_TRAIN_ITEM_BLOCK;
        int32_t end = n_items - first < MFR_TRAIN_ITEM_BLOCK ? n_items : first + MFR_TRAIN_ITEM_BLOCK;
        reg_partials(tr, 0, first, end, part_row(tr->reg_item_part, (size_t)b, tr->reg_item_stride));
    }
}

void mfr_reg_reduce(mfr_trainer *tr, struct mfr_step *st)
{
    if (!tr->reg) return;
#pragma omp single
    {
        sum_parts(tr->reg_user_sum, tr->reg_user_part, tr->n_shards, tr->reg_user_stride);
        sum_parts(tr->reg_item_sum, tr->reg_item_part, tr->n_item_blocks, tr->reg_item_stride);
        mfr_reg_loss(&tr->reg_ctx, &st->parts.l2, &st->parts.gravity);
    }
}

void mfr_phase_reg_sums(mfr_trainer *tr, struct mfr_step *st)
{
    mfr_reg_partials(tr, 0, tr->n_shards);
    mfr_reg_reduce(tr, st);
}

/* ---- user gradients ---- */

/* User u's regularizer terms on its gradient row gu (n: u's ratings). */
static inline void user_reg_grad(mfr_trainer *tr, const struct mfr_step *st, int32_t u, float *gu, int64_t n)
{
    const mfr_model *m = tr->model;
    const size_t off = (size_t)u * (size_t)m->k_pad;
    if (!tr->implicit) {
        mfr_reg_apply(gu, m->U + off, m->k, &st->user_coef, n);
        return;
    }
    /* dLoss/dU_u (with the terms on predictions) feeds Y; P then adds its own */
    if (mfr_reg_coef_any(&st->coef[MFR_REG_ROW_U]))
        mfr_reg_apply(gu, m->U + off, m->k, &st->coef[MFR_REG_ROW_U], n);
    memcpy(tr->gZ + off, gu, sizeof(float) * (size_t)m->k_pad);
    mfr_reg_apply(gu, m->P + off, m->k, &st->coef[MFR_REG_ROW_P], n);
}

/* The rows of the first ratings of user u (the next user's, fetched while
 * the current one is computed): the kernel fetches a user's later rows
 * ahead itself, but its first groups had no lead time, which at 10M
 * ratings (nine a user) was most of them. Only rows far from the core, of
 * up to 32 floats (the kernels' unrolled widths; longer rows fetched so
 * slowed ML-100K's k-256 epoch, 24 KiB of fetches a user). */
static inline void fetch_user_start(const mfr_trainer *tr, const mfr_model *m, int32_t u, const float *gVs)
{
    if (u >= m->n_users) return;
    enum { FIRST = 12 };
    const int64_t b = tr->csr.row_ptr[u], e = tr->csr.row_ptr[u + 1];
    const int64_t end = e - b > FIRST ? b + FIRST : e;
    const size_t k_pad = (size_t)m->k_pad, row_bytes = sizeof(float) * k_pad;
    __builtin_prefetch(m->U + (size_t)u * k_pad, 0, 3);
    for (int64_t j = b; j < end; j++) {
        const size_t off = (size_t)tr->csr.item[j] * k_pad;
        for (size_t line = 0; line < row_bytes; line += 64) {
            __builtin_prefetch((const char *)(m->V + off) + line, 0, 3);
            if (gVs) __builtin_prefetch((const char *)(gVs + off) + line, 1, 3);
        }
    }
}

/* Shard s's user pass over model m: each user's kernel call in user
 * order, its squared errors summed into the shard's loss slot. With a
 * step (st): the gradients with the regularizer terms, the shard's item
 * buffer and the residuals. Without (the data term alone,
 * mfr_data_loss_slots): the kernel's loss only, the same bits (it does
 * not depend on what else the kernel writes); the gradient rows it writes
 * are scratch that the next step clears. */
static inline __attribute__((always_inline)) void shard_user_pass(mfr_trainer *tr, const struct mfr_step *st,
                                                                  const mfr_model *m, int32_t s)
{
    const size_t k_pad = (size_t)m->k_pad, v_len = (size_t)m->n_items * k_pad;
    float *gVs = st && tr->shard_gV ? tr->shard_gV + (size_t)(s - tr->shard_lo) * v_len : NULL;
    float *resid = st ? tr->resid : NULL;
    const float scale = st ? st->scale : (float)(2.0 / (double)tr->nnz_all);
    if (gVs) memset(gVs, 0, sizeof(float) * v_len);
    double loss = 0.0;
    const int far = mfr_rows_far(m->n_items, m->k_pad, gVs != NULL);
    const int fetch_next = far && m->k_pad <= 32;
    if (fetch_next) fetch_user_start(tr, m, tr->shard_first[s], gVs);
    for (int32_t u = tr->shard_first[s]; u < tr->shard_first[s + 1]; u++) {
        float *gu = tr->gU + (size_t)u * k_pad;
        memset(gu, 0, sizeof(float) * k_pad);
        int64_t b = tr->csr.row_ptr[u], e = tr->csr.row_ptr[u + 1];
        if (fetch_next && u + 1 < tr->shard_first[s + 1]) fetch_user_start(tr, m, u + 1, gVs);
        loss += tr->kern->user_grad(m->U + (size_t)u * k_pad, m->V, m->k_pad, tr->csr.item + b,
                                    tr->csr.rating + b, e - b, scale, gu, gVs, resid ? resid + b : NULL, far);
        if (!st) continue;
        if (tr->reg) user_reg_grad(tr, st, u, gu, e - b);
        if (m->cfg.bias) gu[mfr_lane_user_one(m->k)] = 0.0f;
    }
    tr->shard_loss[(size_t)s * MFR_TRAIN_LOSS_STRIDE] = loss;
}

void mfr_shard_user_grads(mfr_trainer *tr, const struct mfr_step *st, int32_t s)
{
    shard_user_pass(tr, st, tr->model, s);
}

void mfr_data_loss_slots(mfr_trainer *tr, const mfr_model *m, int32_t s_lo, int32_t s_hi)
{
#pragma omp parallel for schedule(dynamic, 1) num_threads(tr->n_threads)
    for (int32_t s = s_lo; s < s_hi; s++) shard_user_pass(tr, NULL, m, s);
}

double mfr_data_mse_of_slots(const mfr_trainer *tr)
{
    double sq = 0.0;
    for (int32_t s = 0; s < tr->n_shards; s++) sq += tr->shard_loss[(size_t)s * MFR_TRAIN_LOSS_STRIDE];
    return sq / (double)tr->nnz_all;
}

/* Shards and item owners are handed out dynamically: a thread whose core is
 * busy with another process takes fewer of them (each writes only its own
 * slots, so the result does not depend on which thread ran what). */
void mfr_phase_user_grads(mfr_trainer *tr, struct mfr_step *st)
{
#pragma omp for schedule(dynamic, 1)
    for (int32_t s = 0; s < tr->n_shards; s++) mfr_shard_user_grads(tr, st, s);
}

/* The step's loss from the shards' slots, summed in shard order; returns
 * whether it is finite. Only `record` stores it in st. */
static int loss_from_slots(const mfr_trainer *tr, struct mfr_step *st, int record)
{
    const double mse = mfr_data_mse_of_slots(tr), total = mse + st->parts.l2 + st->parts.gravity;
    const int finite = isfinite(total);
    if (record) st->parts.mse = mse, st->parts.total = total, st->finite = finite;
    return finite;
}

void mfr_phase_loss(mfr_trainer *tr, struct mfr_step *st)
{
#pragma omp single
    loss_from_slots(tr, st, 1);
}

/* ---- item gradients ---- */

/* Item i's regularizer terms on its gradient row gv; zeroes the constant lane. */
static inline void item_reg_grad(const mfr_trainer *tr, const struct mfr_step *st, int32_t i, float *gv)
{
    const mfr_model *m = tr->model;
    if (tr->reg)
        mfr_reg_apply(gv, m->V + (size_t)i * (size_t)m->k_pad, m->k, &st->coef[MFR_REG_ROW_V],
                      tr->item_count[i]);
    if (m->cfg.bias) gv[mfr_lane_item_one(m->k)] = 0.0f;
}

/* Item i's row of `grad`: Σ over its ratings, in CSC (user) order, of the
 * rating's weight times its user's row of `rows`. Returns i's rating count. */
static inline int64_t csc_item_grad(const mfr_trainer *tr, int32_t i, float *grad, const float *rows,
                                    const float *weight)
{
    int64_t b = tr->csc.col_ptr[i], e = tr->csc.col_ptr[i + 1];
    tr->kern->item_grad(grad + (size_t)i * (size_t)tr->model->k_pad, rows, tr->model->k_pad,
                        tr->csc.user + b, tr->csc.pos + b, weight, e - b);
    return e - b;
}

/* Ors a thread's update masks into the step's, before the loop's barrier
 * (mfr_phase_check reads them after the next one). */
static void add_bad_mask(struct mfr_step *st, int group, unsigned bad)
{
    if (bad) {
#pragma omp atomic
        st->bad_mask[group] |= bad;
    }
}

static void items_by_owner(mfr_trainer *tr, struct mfr_step *st, int finite)
{
    const mfr_model *m = tr->model;
    unsigned bad = 0;
#pragma omp for schedule(dynamic, 32) nowait
    for (int32_t i = 0; i < m->n_items; i++) {
        const int64_t off = (int64_t)i * m->k_pad;
        csc_item_grad(tr, i, tr->gV, m->U, tr->resid);
        item_reg_grad(tr, st, i, tr->gV + off);
        if (finite)
            bad |= mfr_opt_update(tr->opt, &st->opt, &tr->group[MFR_GROUP_ITEMS], off, tr->gV, m->k_pad);
    }
    add_bad_mask(st, MFR_GROUP_ITEMS, bad);
#pragma omp barrier
}

static void items_by_shard_buffers(mfr_trainer *tr, const struct mfr_step *st)
{
    const mfr_model *m = tr->model;
    const int64_t v_len = (int64_t)m->n_items * m->k_pad;
#pragma omp for schedule(static)
    for (int64_t ch = 0; ch < (v_len + MFR_TRAIN_CHUNK - 1) / MFR_TRAIN_CHUNK; ch++) {
        int64_t off = ch * MFR_TRAIN_CHUNK;
        int64_t len = v_len - off < MFR_TRAIN_CHUNK ? v_len - off : MFR_TRAIN_CHUNK;
        tr->kern->sum_buffers(tr->gV + off, tr->shard_gV + off, v_len, tr->n_shards, len);
    }
    mfr_items_reg_terms(tr, st);
}

void mfr_items_reg_terms(mfr_trainer *tr, const struct mfr_step *st)
{
    const mfr_model *m = tr->model;
    if (!tr->reg && !m->cfg.bias) return;
#pragma omp for schedule(static)
    for (int32_t i = 0; i < m->n_items; i++) item_reg_grad(tr, st, i, tr->gV + (size_t)i * (size_t)m->k_pad);
}

/* The loss (every thread sums the slots itself, the same bits, instead of
 * waiting for one thread: a barrier fewer; thread 0 records it, read by
 * the other threads after the item pass's barrier), then the item pass. */
void mfr_phase_loss_items(mfr_trainer *tr, struct mfr_step *st)
{
    const int finite = loss_from_slots(tr, st, omp_get_thread_num() == 0);
    if (tr->reduce == MFR_REDUCE_OWNER) items_by_owner(tr, st, finite);
    else items_by_shard_buffers(tr, st);
}

/* Y's row i from its data gradient in gY (n: i's ratings): the
 * regularizer terms, no bias lanes, the update. */
static inline void implicit_item(mfr_trainer *tr, const struct mfr_step *st, int32_t i, int64_t n)
{
    const mfr_model *m = tr->model;
    const int64_t off = (int64_t)i * m->k_pad;
    float *gy = tr->gY + off;
    mfr_reg_apply(gy, m->Y + off, m->k, &st->coef[MFR_REG_ROW_Y], n);
    for (int32_t x = m->k; x < m->k_row; x++) gy[x] = 0.0f; /* Y has no bias lanes */
    if (st->finite) mfr_opt_update(tr->opt, &st->opt, &tr->group[MFR_GROUP_Y], off, tr->gY, m->k_pad);
}

void mfr_phase_implicit(mfr_trainer *tr, struct mfr_step *st)
{
    if (!tr->implicit) return;
#pragma omp for schedule(static, 16)
    for (int32_t i = 0; i < tr->model->n_items; i++)
        implicit_item(tr, st, i, csc_item_grad(tr, i, tr->gY, tr->gZ, tr->imp_w));
}

void mfr_phase_implicit_finish(mfr_trainer *tr, struct mfr_step *st)
{
    if (!tr->implicit) return;
#pragma omp for schedule(static, 16)
    for (int32_t i = 0; i < tr->model->n_items; i++)
        implicit_item(tr, st, i, tr->csc.col_ptr[i + 1] - tr->csc.col_ptr[i]);
}

/* ---- update and derive ---- */

void mfr_phase_update(mfr_trainer *tr, struct mfr_step *st)
{
    if (!st->finite) return;
    const mfr_model *m = tr->model;
    /* users' rows from u_base: whole rows of k_pad floats, so the kernels'
     * lanes (elementwise updates) meet the same floats as from row 0 */
    const int64_t u_base = (int64_t)st->user_first * m->k_pad;
    const int64_t u_len = (int64_t)(st->user_end - st->user_first) * m->k_pad;
    const int64_t v_len = (int64_t)m->n_items * m->k_pad;
    const int64_t u_chunks = (u_len + MFR_TRAIN_CHUNK - 1) / MFR_TRAIN_CHUNK;
    /* In owner mode V was updated with its gradient; U's rows only here. */
    const int64_t n_chunks =
        u_chunks + (tr->reduce == MFR_REDUCE_SHARD ? (v_len + MFR_TRAIN_CHUNK - 1) / MFR_TRAIN_CHUNK : 0);
    unsigned bad[2] = {0, 0}; /* users, items */
#pragma omp for schedule(static) nowait
    for (int64_t ch = 0; ch < n_chunks; ch++) {
        int is_u = ch < u_chunks;
        int64_t off = (is_u ? ch : ch - u_chunks) * MFR_TRAIN_CHUNK;
        int64_t len = (is_u ? u_len : v_len) - off;
        if (len > MFR_TRAIN_CHUNK) len = MFR_TRAIN_CHUNK;
        bad[!is_u] |= mfr_opt_update(tr->opt, &st->opt, &tr->group[is_u ? MFR_GROUP_USERS : MFR_GROUP_ITEMS],
                                     off + (is_u ? u_base : 0), is_u ? tr->gU : tr->gV, len);
    }
    add_bad_mask(st, MFR_GROUP_USERS, bad[0]);
    add_bad_mask(st, MFR_GROUP_ITEMS, bad[1]);
#pragma omp barrier
}

/* U_u = P_u + c_u Σ_{j in R(u)} Y_j, the Y rows summed in CSR order lane
 * by lane in float (then scaled and added to P once), with `acc` (k_pad
 * floats) as scratch. Y's bias lanes are zero, so U's equal P's. */
static void derive_user(mfr_trainer *tr, int32_t u, float *acc)
{
    const mfr_model *m = tr->model;
    const size_t k_pad = (size_t)m->k_pad;
    int64_t b = tr->csr.row_ptr[u], e = tr->csr.row_ptr[u + 1];
    const float *p = m->P + (size_t)u * k_pad;
    float *out = m->U + (size_t)u * k_pad;
    if (b == e) {
        memcpy(out, p, sizeof(float) * k_pad);
        return;
    }
    memset(acc, 0, sizeof(float) * k_pad);
    for (int64_t j = b; j < e; j++) {
        const float *y = m->Y + (size_t)tr->csr.item[j] * k_pad;
        for (size_t x = 0; x < k_pad; x++) acc[x] += y[x];
    }
    const float c = tr->imp_w[b];
    for (size_t x = 0; x < k_pad; x++) out[x] = p[x] + c * acc[x];
}

void mfr_derive_users(mfr_trainer *tr)
{
    const size_t k_pad = (size_t)tr->model->k_pad;
#pragma omp for schedule(static, 16)
    for (int32_t u = 0; u < tr->model->n_users; u++) derive_user(tr, u, tr->gZ + (size_t)u * k_pad);
}

void mfr_phase_derive(mfr_trainer *tr, struct mfr_step *st)
{
    if (!tr->implicit || !st->finite) return;
    const size_t k_pad = (size_t)tr->model->k_pad;
#pragma omp for schedule(static, 16)
    for (int32_t u = st->user_first; u < st->user_end; u++) derive_user(tr, u, tr->gZ + (size_t)u * k_pad);
}

/* ---- divergence check ---- */

enum { MFR_CHECK_MAX_ARRAYS = 1 + MFR_N_GROUPS * (1 + MFR_OPT_MAX_STATE) };

/* The arrays a step may change: each group's parameters and optimizer
 * state, and the derived U (implicit feedback). Returns their count; names
 * them for the error message. */
static int check_arrays(const mfr_trainer *tr, const struct mfr_step *st, const float **arr, int64_t *len,
                        char names[][40])
{
    int n = 0;
    const mfr_model *m = tr->model;
    for (int g = 0; g < MFR_N_GROUPS; g++) {
        const struct mfr_param_group *pg = &tr->group[g];
        if (!pg->param) continue;
        /* the users' arrays: only the step's users [user_first, user_end) */
        const int64_t first = g == MFR_GROUP_USERS ? st->user_first : 0;
        const int64_t rows = g == MFR_GROUP_USERS ? st->user_end - st->user_first : pg->rows;
        for (int s = -1; s < tr->opt->n_state; s++) {
            arr[n] = (s < 0 ? pg->param : pg->state[s]) + first * m->k_pad;
            len[n] = rows * m->k_pad;
            if (names) snprintf(names[n], 40, s < 0 ? "the %s' parameters" : "the %s' optimizer state", pg->name);
            n++;
        }
    }
    if (tr->implicit) {
        arr[n] = m->U + (size_t)st->user_first * (size_t)m->k_pad;
        len[n] = (int64_t)(st->user_end - st->user_first) * m->k_pad;
        if (names) snprintf(names[n], 40, "the derived user factors");
        n++;
    }
    return n;
}

/* 1 when x[0..n) holds an inf or NaN (exponent bits all set); integer
 * operations only, so the loop vectorizes without reordering float math. */
static int chunk_nonfinite(const float *x, int64_t n)
{
    uint32_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, x + i, sizeof b);
        bad |= (b & 0x7f800000u) == 0x7f800000u;
    }
    return (int)bad;
}

/* check_arrays' index of the first array a group's update mask flags, or
 * -1 (the same order: groups, then parameters before state). */
static int first_masked(const mfr_trainer *tr, const struct mfr_step *st)
{
    int a = 0;
    for (int g = 0; g < MFR_N_GROUPS; g++) {
        if (!tr->group[g].param) continue;
        for (int s = 0; s <= tr->opt->n_state; s++, a++)
            if (st->bad_mask[g] & MFR_NONFINITE_BIT(s)) return a;
    }
    return -1;
}

void mfr_phase_check(mfr_trainer *tr, struct mfr_step *st)
{
    if (st->masks_only) return; /* step_once reads the masks after the region's barrier */
    const float *arr[MFR_CHECK_MAX_ARRAYS];
    int64_t len[MFR_CHECK_MAX_ARRAYS], first[MFR_CHECK_MAX_ARRAYS + 1];
    const int n = check_arrays(tr, st, arr, len, NULL);
    first[0] = 0; /* chunk numbering over all arrays */
    for (int a = 0; a < n; a++) first[a + 1] = first[a] + (len[a] + MFR_TRAIN_CHUNK - 1) / MFR_TRAIN_CHUNK;
#pragma omp single
    st->bad_array = -1;
    if (!st->finite) return; /* the loss already stopped the step; every thread sees it */
    int mine = -1;
#pragma omp for schedule(static)
    for (int64_t ch = 0; ch < first[n]; ch++) {
        int a = 0;
        while (ch >= first[a + 1]) a++;
        int64_t off = (ch - first[a]) * MFR_TRAIN_CHUNK;
        int64_t cnt = len[a] - off < MFR_TRAIN_CHUNK ? len[a] - off : MFR_TRAIN_CHUNK;
        if ((mine < 0 || a < mine) && chunk_nonfinite(arr[a] + off, cnt)) mine = a;
    }
    if (mine >= 0) {
        /* rare; the minimum is the same whichever thread found what */
#pragma omp critical(mfr_phase_check)
        if (st->bad_array < 0 || mine < st->bad_array) st->bad_array = mine;
    }
#pragma omp barrier
}

/* What to change after a step that diverged: ALS has no learning rate. */
static const char *diverged_advice(const mfr_trainer *tr)
{
    return tr->als ? "raise the L2 penalty (--l2) or scale the ratings down" : "lower the learning rate";
}

int mfr_step_end(mfr_trainer *tr, const struct mfr_step *st, double *loss_out, mfr_error *err)
{
    tr->last = st->parts;
    if (loss_out) *loss_out = st->parts.total;
    /* the first step's loss is the starting factors', before any update:
     * no learning rate made it overflow */
    if (!st->finite && tr->model->epochs == 0)
        return mfr_seterr(err, MFR_ERR_DIVERGED,
                          "training loss is non-finite (%s) at the starting factors, before any update: "
                          "they are too large (init_std, --init-std; or the factors set, --init-from)",
                          isnan(st->parts.total) ? "NaN" : "inf");
    if (!st->finite)
        return mfr_seterr(err, MFR_ERR_DIVERGED,
                          "training loss became non-finite (%s) at epoch %lld; %s",
                          isnan(st->parts.total) ? "NaN" : "inf", (long long)tr->model->epochs + 1,
                          diverged_advice(tr));
    if (st->bad_array >= 0) {
        const float *arr[MFR_CHECK_MAX_ARRAYS];
        int64_t len[MFR_CHECK_MAX_ARRAYS];
        char names[MFR_CHECK_MAX_ARRAYS][40];
        check_arrays(tr, st, arr, len, names);
        tr->broken_epoch = tr->model->epochs + 1; /* the update was applied */
        /* Adam's first update moves each value by at most the learning
         * rate: below half a float's range, what overflowed there is the
         * gradient (or its square) at the starting factors, or a factor
         * itself, which no learning rate changes */
        if (tr->model->epochs == 0 && tr->cfg.optimizer == MFR_OPTIMIZER_ADAM && tr->cfg.lr < FLT_MAX / 2)
            return mfr_seterr(err, MFR_ERR_DIVERGED,
                              "%s became non-finite (inf or NaN) in the first update although the loss was "
                              "finite (%g): the gradient at the starting factors overflows a float, whatever "
                              "the learning rate; the starting factors are too large (init_std, --init-std; "
                              "or the factors set, --init-from), or the ratings are",
                              names[st->bad_array], st->parts.total);
        return mfr_seterr(err, MFR_ERR_DIVERGED,
                          "%s became non-finite (inf or NaN) at epoch %lld although the loss "
                          "was finite (%g); %s",
                          names[st->bad_array], (long long)tr->model->epochs + 1, st->parts.total,
                          diverged_advice(tr));
    }
    tr->model->epochs++;
    return MFR_OK;
}

/* One step on tr->n_threads threads. */
static int step_once(mfr_trainer *tr, double *loss_out, mfr_error *err)
{
    if (tr->als) return mfr_als_step(tr, loss_out, err);
    struct mfr_step st;
    mfr_step_begin(tr, &st);
    st.masks_only = !tr->implicit;
#pragma omp parallel num_threads(tr->n_threads)
    {
        mfr_phase_reg_sums(tr, &st);
        mfr_phase_user_grads(tr, &st);
        mfr_phase_loss_items(tr, &st);
        mfr_phase_implicit(tr, &st);
        mfr_phase_update(tr, &st);
        mfr_phase_derive(tr, &st);
        mfr_phase_check(tr, &st);
    }
    if (st.masks_only) st.bad_array = first_masked(tr, &st);
    return mfr_step_end(tr, &st, loss_out, err);
}

int mfr_step_refuse_broken(const mfr_trainer *tr, mfr_error *err)
{
    return mfr_seterr(err, MFR_ERR_DIVERGED,
                      "the trainer diverged at epoch %lld, whose step left its parameters "
                      "unusable; it cannot step again (create a new trainer)",
                      (long long)tr->broken_epoch);
}

int mfr_trainer_step(mfr_trainer *tr, double *loss_out, mfr_error *err)
{
    if (!tr) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_trainer_step: trainer is NULL");
    if (tr->broken_epoch > 0) return mfr_step_refuse_broken(tr, err);
    mfr_threads_pick(tr);
    const double t0 = mfr_threads_now();
    const int rc = step_once(tr, loss_out, err);
    mfr_threads_done(tr, mfr_threads_now() - t0);
    return rc;
}
