/*
 * als.c — alternating least squares (--optimizer als): one step solves
 * every user's row exactly with the items fixed, then every item's row with
 * the new users fixed, each a least-squares problem of the training loss
 * restricted to that row:
 *
 *   min over (w, b) of  Σ_r (t_r − <w, x_r> − b)²  +  λ_f |w|²  +  λ_b (b − prior)²
 *
 * where, multiplying the loss (MSE over |R| ratings plus the L2 terms of
 * reg_terms.c) by |R|, a row with n ratings has λ_f = l2 |R| / rows +
 * l2_freq n and λ_b = l2_bias |R| / rows (prior 0 for b_u, μ - item_prior_drop for b_i): the
 * exact minimizer of the same loss the gradient optimizers descend, so the
 * loss never increases. Gravity, L1 and implicit feedback are not
 * quadratic per row in this form; mfr_config_validate refuses them.
 *
 * Determinism: a row's normal equations are summed in CSR (users) or CSC
 * (items) order and solved by a Cholesky factorization in double, all
 * within one thread, and no row reads another row of its own side, so the
 * result does not depend on which thread solves which row.
 */
#include <math.h>
#include <omp.h>
#include <stdbool.h>
#include <string.h>

#include "train_priv.h"

/* One thread's scratch: A (k1 x kp floats), rhs and four gathered rows
 * (kp floats each), the system in double (k1 x k1) and its solution. */
struct als_scratch {
    float *A, *rhs, *x;
    double *M, *y;
    float *w, *r, *p, *ap; /* conjugate gradient: kp floats each */
};

/* The per-row problem's shape and constants of one side. */
struct als_side {
    int32_t k, k1, kp;   /* factors, unknowns (k + bias), padded row */
    double lam_rows;     /* l2 |R| / rows: the λ_f part every row has */
    double lam_freq;     /* l2_freq: the λ_f part per rating */
    double lam_b, prior; /* the bias unknown's L2 and its prior */
};

static int scratch_alloc(struct als_scratch *s, int32_t k1, int32_t kp)
{
    s->A = mfr_aligned_calloc(sizeof(float) * (size_t)k1 * (size_t)kp);
    s->rhs = mfr_aligned_calloc(sizeof(float) * (size_t)kp);
    s->x = mfr_aligned_calloc(sizeof(float) * 4 * (size_t)kp);
    s->M = mfr_aligned_calloc(sizeof(double) * (size_t)k1 * (size_t)k1);
    s->y = mfr_aligned_calloc(sizeof(double) * (size_t)k1);
    float **cg[4] = {&s->w, &s->r, &s->p, &s->ap};
    bool ok = s->A && s->rhs && s->x && s->M && s->y;
    for (int v = 0; v < 4; v++) ok = (*cg[v] = mfr_aligned_calloc(sizeof(float) * (size_t)kp)) && ok;
    return ok ? MFR_OK : MFR_ERR_NOMEM;
}

static void scratch_free(struct als_scratch *s)
{
    mfr_aligned_free(s->A);
    mfr_aligned_free(s->rhs);
    mfr_aligned_free(s->x);
    mfr_aligned_free(s->M);
    mfr_aligned_free(s->y);
    mfr_aligned_free(s->w);
    mfr_aligned_free(s->r);
    mfr_aligned_free(s->p);
    mfr_aligned_free(s->ap);
}

/* Solves one row from its summed normal equations (A, rhs over n ratings)
 * into s->y; 0 when the system is singular. */
static int solve_row(const mfr_trainer *tr, const struct als_side *sd, struct als_scratch *s, int64_t n)
{
    const int32_t k1 = sd->k1;
    const double lam_f = sd->lam_rows + sd->lam_freq * (double)n;
    for (int32_t a = 0; a < k1; a++) {
        for (int32_t b = a; b < k1; b++) s->M[(size_t)a * k1 + b] = s->A[(size_t)a * sd->kp + b];
        s->M[(size_t)a * k1 + a] += a < sd->k ? lam_f : sd->lam_b;
        s->y[a] = s->rhs[a];
    }
    if (k1 > sd->k) s->y[sd->k] += sd->lam_b * sd->prior;
    return tr->kern->chol_solve(s->M, s->y, k1, k1);
}

static void sums_reset(const struct als_side *sd, struct als_scratch *s)
{
    memset(s->A, 0, sizeof(float) * (size_t)sd->k1 * (size_t)sd->kp);
    memset(s->rhs, 0, sizeof(float) * (size_t)sd->kp);
}

/* Gathers feature row q: `k` factors of `src`, then the constant 1 of the
 * bias unknown; zero padding. */
static void gather(const struct als_side *sd, struct als_scratch *s, int q, const float *src)
{
    float *x = s->x + (size_t)q * (size_t)sd->kp;
    memcpy(x, src, sizeof(float) * (size_t)sd->k);
    if (sd->k1 > sd->k) x[sd->k] = 1.0f;
}

/* Adds the gathered rows 0..nq-1 (the rest zeroed) with targets t. */
static void flush(const mfr_trainer *tr, const struct als_side *sd, struct als_scratch *s, int nq,
                  float t[4])
{
    for (int q = nq; q < 4; q++) {
        memset(s->x + (size_t)q * (size_t)sd->kp, 0, sizeof(float) * (size_t)sd->kp);
        t[q] = 0.0f;
    }
    tr->kern->gram4(s->A, s->rhs, s->x, t, sd->k1, sd->kp);
}

/* ---- conjugate gradient (--als-cg N) ----
 *
 * N iterations of conjugate gradient on the row's normal equations, from
 * the row's current value, without forming them: each iteration is one
 * pass over the row's ratings (<x_j, p> then an axpy), against the k²
 * Gram sums and the k³ factorization of the exact solve. The iterate is the
 * row itself with its constant lane (U's 1 that multiplies b_i, V's 1 that
 * multiplies b_u) set to 0, so that <x_j, w> over the other side's whole
 * row x_j is the prediction without the other side's bias, which the
 * target takes off instead: every vector is read in place, nothing is
 * gathered. */
struct cg_row {
    const float *base;    /* the other side's rows */
    const int32_t *idx;   /* their indices, in CSR or CSC order */
    const float *rating;  /* the ratings (by pos when pos is not NULL) */
    const int64_t *pos;
    int64_t n;
    int32_t other_bias;   /* the other side's bias lane, or -1 */
    int32_t bias_unknown; /* this side's bias lane, or -1 */
    int32_t const_lane;   /* this side's constant-1 lane, or -1 */
};

/* Zeroes the lanes that are not unknowns (k and above, but the bias). */
static void cg_mask(const struct als_side *sd, const struct cg_row *cr, float *v)
{
    for (int32_t c = sd->k; c < sd->kp; c++)
        if (c != cr->bias_unknown) v[c] = 0.0f;
}

/* out += Λ v (- Λ prior at the bias lane when `prior`). */
static void cg_reg(const struct als_side *sd, const struct cg_row *cr, float lam_f, const float *v,
                   float sign, float *out)
{
    for (int32_t c = 0; c < sd->k; c++) out[c] = out[c] + sign * (lam_f * v[c]);
    if (cr->bias_unknown >= 0)
        out[cr->bias_unknown] = out[cr->bias_unknown] + sign * ((float)sd->lam_b * v[cr->bias_unknown]);
}

/* Runs the iterations on `row`; returns the loss part Σ (rating - pred)²
 * at the row's value before them. */
static double cg_solve(const mfr_trainer *tr, const struct als_side *sd, const struct cg_row *cr,
                       struct als_scratch *s, float *row, int iters)
{
    const struct mfr_kernel_set *kn = tr->kern;
    const int32_t kp = sd->kp;
    const float lam_f = (float)(sd->lam_rows + sd->lam_freq * (double)cr->n);
    memcpy(s->w, row, sizeof(float) * (size_t)kp);
    if (cr->const_lane >= 0) s->w[cr->const_lane] = 0.0f;
    memset(s->r, 0, sizeof(float) * (size_t)kp);
    double loss = kn->cg_resid(s->w, cr->base, kp, cr->idx, cr->rating, cr->pos, cr->n, cr->other_bias, s->r);
    cg_mask(sd, cr, s->r);
    cg_reg(sd, cr, lam_f, s->w, -1.0f, s->r); /* r = b - A w */
    if (cr->bias_unknown >= 0)
        s->r[cr->bias_unknown] = s->r[cr->bias_unknown] + (float)(sd->lam_b * sd->prior);
    memcpy(s->p, s->r, sizeof(float) * (size_t)kp);
    float rs = kn->dot8(s->r, s->r, kp);
    for (int it = 0; it < iters && rs > 0.0f; it++) {
        memset(s->ap, 0, sizeof(float) * (size_t)kp);
        kn->cg_apply(s->p, cr->base, kp, cr->idx, cr->n, s->ap);
        cg_mask(sd, cr, s->ap);
        cg_reg(sd, cr, lam_f, s->p, 1.0f, s->ap);
        const float pap = kn->dot8(s->p, s->ap, kp);
        if (!(pap > 0.0f)) break;
        const float alpha = rs / pap;
        for (int32_t c = 0; c < kp; c++) {
            s->w[c] = s->w[c] + alpha * s->p[c];
            s->r[c] = s->r[c] - alpha * s->ap[c];
        }
        const float rs_new = kn->dot8(s->r, s->r, kp);
        const float beta = rs_new / rs;
        for (int32_t c = 0; c < kp; c++) s->p[c] = s->r[c] + beta * s->p[c];
        rs = rs_new;
    }
    for (int32_t c = 0; c < sd->k; c++) row[c] = s->w[c];
    if (cr->bias_unknown >= 0) row[cr->bias_unknown] = s->w[cr->bias_unknown];
    return loss;
}

/* User u: its loss at the current factors (returned), then its new row. */
static double als_user(mfr_trainer *tr, const struct als_side *sd, struct als_scratch *s, int32_t u,
                       int *bad)
{
    mfr_model *m = tr->model;
    const size_t k_pad = (size_t)m->k_pad;
    const int bias = m->cfg.bias;
    float *row = m->U + (size_t)u * k_pad;
    const int64_t b = tr->csr.row_ptr[u], e = tr->csr.row_ptr[u + 1];
    if (b == e) { /* no ratings: the minimizer of the L2 terms alone */
        memset(row, 0, sizeof(float) * (size_t)m->k);
        if (bias) row[mfr_lane_user_bias(m->k)] = 0.0f;
        return 0.0;
    }
    if (m->cfg.als_cg > 0) {
        const struct cg_row cr = {m->V, tr->csr.item + b, tr->csr.rating + b, NULL, e - b,
                                  bias ? mfr_lane_item_bias(m->k) : -1,
                                  bias ? mfr_lane_user_bias(m->k) : -1,
                                  bias ? mfr_lane_user_one(m->k) : -1};
        return cg_solve(tr, sd, &cr, s, row, m->cfg.als_cg);
    }
    double loss = 0.0;
    sums_reset(sd, s);
    float t[4];
    int nq = 0;
    for (int64_t j = b; j < e; j++) {
        const float *v = m->V + (size_t)tr->csr.item[j] * k_pad;
        const double err = (double)tr->kern->dot(row, v, m->k_pad) - (double)tr->csr.rating[j];
        loss += err * err;
        gather(sd, s, nq, v);
        t[nq++] = tr->csr.rating[j] - (bias ? v[mfr_lane_item_bias(m->k)] : 0.0f);
        if (nq == 4) flush(tr, sd, s, nq, t), nq = 0;
    }
    if (nq) flush(tr, sd, s, nq, t);
    if (!solve_row(tr, sd, s, e - b)) {
        *bad = 1;
        return loss;
    }
    for (int32_t c = 0; c < m->k; c++) row[c] = (float)s->y[c];
    if (bias) row[mfr_lane_user_bias(m->k)] = (float)s->y[m->k];
    return loss;
}

/* Item i's new row from its ratings in CSC (user) order. */
static void als_item(mfr_trainer *tr, const struct als_side *sd, struct als_scratch *s, int32_t i,
                     int *bad)
{
    mfr_model *m = tr->model;
    const size_t k_pad = (size_t)m->k_pad;
    const int bias = m->cfg.bias;
    float *row = m->V + (size_t)i * k_pad;
    const int64_t b = tr->csc.col_ptr[i], e = tr->csc.col_ptr[i + 1];
    if (b == e) { /* no ratings: factors 0, the bias stays (no term reads it but its L2) */
        memset(row, 0, sizeof(float) * (size_t)m->k);
        return;
    }
    if (m->cfg.als_cg > 0) {
        const struct cg_row cr = {m->U, tr->csc.user + b, tr->csc_rating + b, NULL, e - b,
                                  bias ? mfr_lane_user_bias(m->k) : -1,
                                  bias ? mfr_lane_item_bias(m->k) : -1,
                                  bias ? mfr_lane_item_one(m->k) : -1};
        cg_solve(tr, sd, &cr, s, row, m->cfg.als_cg);
        return;
    }
    sums_reset(sd, s);
    float t[4];
    int nq = 0;
    for (int64_t j = b; j < e; j++) {
        const float *u = m->U + (size_t)tr->csc.user[j] * k_pad;
        gather(sd, s, nq, u);
        t[nq++] = tr->csc_rating[j] - (bias ? u[mfr_lane_user_bias(m->k)] : 0.0f);
        if (nq == 4) flush(tr, sd, s, nq, t), nq = 0;
    }
    if (nq) flush(tr, sd, s, nq, t);
    if (!solve_row(tr, sd, s, e - b)) {
        *bad = 1;
        return;
    }
    for (int32_t c = 0; c < m->k; c++) row[c] = (float)s->y[c];
    if (bias) row[mfr_lane_item_bias(m->k)] = (float)s->y[m->k];
}

static struct als_side side_of(const mfr_trainer *tr, int32_t rows, double prior)
{
    const mfr_config *c = &tr->cfg;
    const double nnz = (double)tr->csr.nnz;
    struct als_side sd = {.k = c->k, .k1 = c->k + (c->bias ? 1 : 0), .lam_rows = c->l2 * nnz / rows,
                          .lam_freq = c->l2_freq, .lam_b = c->l2_bias * nnz / rows, .prior = prior};
    sd.kp = mfr_pad_k(sd.k1);
    if (c->als_cg > 0) sd.kp = mfr_pad_k(c->k + 2 * c->bias); /* whole rows: the model's k_pad */
    return sd;
}

/* Every thread's scratch, before the step changes anything: a thread
 * that could not allocate its own inside the region skipped its rows while
 * the others solved theirs, and the next call went on from that half step.
 * NULL when out of memory (nothing allocated then). */
static struct als_scratch *scratch_alloc_all(int n, int32_t k1, int32_t kp)
{
    struct als_scratch *all = mfr_calloc((size_t)n, sizeof *all);
    bool ok = all != NULL;
    for (int t = 0; ok && t < n; t++) ok = scratch_alloc(&all[t], k1, kp) == MFR_OK;
    if (ok || !all) return all;
    for (int t = 0; t < n; t++) scratch_free(&all[t]); /* calloc: unallocated ones are NULL */
    free(all);
    return NULL;
}

int mfr_als_step(mfr_trainer *tr, double *loss_out, mfr_error *err)
{
    struct mfr_step st;
    mfr_step_begin(tr, &st);
    const mfr_model *m = tr->model;
    const struct als_side su = side_of(tr, m->n_users, 0.0), si = side_of(tr, m->n_items, tr->bias_mean - tr->cfg.item_prior_drop);
    const int n_threads = tr->n_threads;
    struct als_scratch *all = scratch_alloc_all(n_threads, su.k1, su.kp);
    if (!all) return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory for the ALS solves");
    int singular = 0;
#pragma omp parallel num_threads(n_threads) reduction(| : singular)
    {
        struct als_scratch *s = &all[omp_get_thread_num()];
        mfr_phase_reg_sums(tr, &st);
#pragma omp for schedule(dynamic, 1)
        for (int32_t sh = 0; sh < tr->n_shards; sh++) {
            double loss = 0.0;
            for (int32_t u = tr->shard_first[sh]; u < tr->shard_first[sh + 1]; u++)
                loss += als_user(tr, &su, s, u, &singular);
            tr->shard_loss[(size_t)sh * MFR_TRAIN_LOSS_STRIDE] = loss;
        }
        mfr_phase_loss(tr, &st);
#pragma omp for schedule(dynamic, 64)
        for (int32_t i = 0; i < m->n_items; i++) als_item(tr, &si, s, i, &singular);
        mfr_phase_check(tr, &st);
    }
    for (int t = 0; t < n_threads; t++) scratch_free(&all[t]);
    free(all);
    if (singular) {
        tr->broken_epoch = m->epochs + 1; /* the other rows were solved */
        return mfr_seterr(err, MFR_ERR_DIVERGED,
                          "an ALS system was not positive definite at epoch %lld; raise --l2",
                          (long long)m->epochs + 1);
    }
    const int rc = mfr_step_end(tr, &st, loss_out, err);
    /* the rows were solved before the loss was known: a non-finite one
     * leaves them written, unlike a gradient step's */
    if (rc == MFR_ERR_DIVERGED) tr->broken_epoch = m->epochs + 1;
    return rc;
}
