/*
 * bench_kernels.c — the kernels of kern_priv.h, portable reference and
 * AVX2, over k = 8..256 (k_pad = k: every k is a multiple of 8).
 *
 * Setup builds a block shaped like a slice of ML-100K: 128 users with 96
 * distinct random items each (12,288 ratings) over 1,682 items, its CSR and
 * CSC; for the reduction and the optimizer, the 19 shard buffers and the
 * 943 + 1,682 factor rows of a full ML-100K model. Before timing, the AVX2
 * case runs each kernel once on the same inputs as the reference and
 * skips, with the first differing index, unless the outputs are equal bit
 * for bit (the contract of kern_priv.h).
 *
 * Per pass (one timed iteration), with k floats per row and n = nnz:
 *   dot          u . V[i] for every item i:
 *                  ratings = n_items, flops = 2k n_items,
 *                  bytes = 4k n_items (the V rows; u stays in L1)
 *   dot_rows     the same dots in one dot_rows call (recommend's scoring:
 *                eight rows side by side), the same amounts
 *   user_grad    every user's user_grad, owner mode (resid) or shard mode
 *                (gV, zeroed once per pass as the trainer zeroes a shard's
 *                buffer):
 *                  flops per rating = 2k (dot) + 4 (e, g, e^2 and the loss
 *                  add) + 2k (gu += g V[i]) [+ 2k shard: gV[i] += g u]
 *                  bytes per rating = 4k (V row) + 8 (item, rating)
 *                  + 4 (resid) owner | + 8k (gV row read and written) shard
 *                  bytes per user = 8k (u read, gu written)
 *                  + 4k n_items per pass in shard mode (the zeroing)
 *   item_grad    every item's item_grad over the CSC:
 *                  flops per rating = 2k
 *                  bytes per rating = 4k (U row) + 16 (user, pos, resid)
 *                  bytes per item = 4k (gv written)
 *   sum_buffers  the item gradient from 19 shard buffers, n_f = 1682 k:
 *                  flops = 18 n_f, bytes = 4 (19 + 1) n_f
 *   adam         (943 + 1682) k parameters, per element:
 *                  flops = 13 (m: 3, v: 4, sqrt, /, +, /, *, -: 6)
 *                  bytes = 28 (p, m, v, g read; p, m, v written)
 *   sgd          same size, per element: flops = 2, bytes = 12
 *   eval_errors  the block's ratings in CSR order, e = dot - rating in
 *                double (model_eval.c's kernel):
 *                  flops per rating = 2k + 1, bytes per rating = 8k (the
 *                  two rows) + 12 (user, item, rating) + 8 (e)
 * The byte counts are the data each pass must touch once (no cache reuse
 * assumed, no write-allocate traffic): a lower bound on memory traffic.
 */
#include <stdio.h>
#include <string.h>

#include "bench_util.h"
#include "csr_priv.h"
#include "kern_priv.h"

enum kern_op { OP_DOT, OP_DOT_ROWS, OP_USER_OWNER, OP_USER_SHARD, OP_ITEM, OP_SUM, OP_ADAM, OP_SGD, OP_EVAL };

#define KB_USERS 128
#define KB_PER_USER 96
#define KB_ITEMS 1682
#define KB_SHARDS 19
#define KB_MODEL_ROWS (943 + 1682)

/* Inputs of every kernel for one k. */
struct kern_data {
    int32_t k;
    struct mfr_csr csr;
    struct mfr_csc csc;
    float *U, *V;      /* KB_USERS x k, KB_ITEMS x k */
    float *resid;      /* nnz, for item_grad */
    int32_t *row_user; /* nnz: each CSR rating's user, for eval_errors */
    float *bufs;       /* KB_SHARDS x KB_ITEMS x k */
    float *p0, *m0, *v0, *g; /* KB_MODEL_ROWS x k */
    size_t n_param;
};

/* Outputs of one kernel set (compared between sets, then overwritten). */
struct kern_out {
    double loss;
    float *a;          /* dots, gU or item gradients or the sum */
    float *b;          /* gV (shard mode) or resid (owner mode) */
    float *p, *m, *v;  /* optimizer state */
    size_t n_a, n_b;
};

static void data_free(struct kern_data *d)
{
    mfr_csr_free(&d->csr);
    mfr_csc_free(&d->csc);
    bench_free(d->U);
    bench_free(d->V);
    bench_free(d->resid);
    free(d->row_user);
    bench_free(d->bufs);
    bench_free(d->p0);
    bench_free(d->m0);
    bench_free(d->v0);
    bench_free(d->g);
    memset(d, 0, sizeof *d);
}

/* Builds the inputs `op` needs; returns 0 on success, else fills msg. */
static int data_make(struct kern_data *d, enum kern_op op, int32_t k, char *msg, size_t len)
{
    memset(d, 0, sizeof *d);
    d->k = k;
    size_t kk = (size_t)k;
    if (op == OP_SUM) {
        d->bufs = bench_alloc_floats((size_t)KB_SHARDS * KB_ITEMS * kk);
        if (!d->bufs) goto nomem;
        bench_fill(d->bufs, (size_t)KB_SHARDS * KB_ITEMS * kk, 11, -1e-3f, 1e-3f);
        return 0;
    }
    if (op == OP_ADAM || op == OP_SGD) {
        d->n_param = (size_t)KB_MODEL_ROWS * kk;
        d->p0 = bench_alloc_floats(d->n_param);
        d->m0 = bench_alloc_floats(d->n_param);
        d->v0 = bench_alloc_floats(d->n_param);
        d->g = bench_alloc_floats(d->n_param);
        if (!d->p0 || !d->m0 || !d->v0 || !d->g) goto nomem;
        bench_fill(d->p0, d->n_param, 12, -1.0f, 1.0f);
        bench_fill(d->m0, d->n_param, 13, -1e-3f, 1e-3f);
        bench_fill(d->v0, d->n_param, 14, 0.0f, 1e-6f);
        bench_fill(d->g, d->n_param, 15, -1e-3f, 1e-3f);
        return 0;
    }

    /* KB_PER_USER distinct items per user; ratings 1..5. */
    int64_t n = (int64_t)KB_USERS * KB_PER_USER;
    int32_t *users = malloc(sizeof(int32_t) * (size_t)n);
    int32_t *items = malloc(sizeof(int32_t) * (size_t)n);
    float *ratings = malloc(sizeof(float) * (size_t)n);
    unsigned char *seen = calloc(KB_ITEMS, 1);
    int ok = users && items && ratings && seen;
    uint64_t rs = 42;
    for (int32_t u = 0; ok && u < KB_USERS; u++) {
        int64_t base = (int64_t)u * KB_PER_USER;
        for (int j = 0; j < KB_PER_USER; j++) {
            int32_t i;
            do i = (int32_t)(bench_rand(&rs) % KB_ITEMS);
            while (seen[i]);
            seen[i] = 1;
            users[base + j] = u;
            items[base + j] = i;
            ratings[base + j] = (float)(1 + bench_rand(&rs) % 5);
        }
        for (int j = 0; j < KB_PER_USER; j++) seen[items[base + j]] = 0;
    }
    mfr_error err = {0};
    if (ok && mfr_csr_build(KB_USERS, KB_ITEMS, n, users, items, ratings, 0, &d->csr, &err) != MFR_OK)
        ok = 0;
    if (ok && mfr_csc_build(&d->csr, 0, &d->csc, &err) != MFR_OK) ok = 0;
    free(users);
    free(items);
    free(ratings);
    free(seen);
    if (!ok) {
        snprintf(msg, len, "setup failed: %s", err.message[0] ? err.message : "out of memory");
        data_free(d);
        return -1;
    }
    /* Factors of a trained-looking scale: predictions near the ratings. */
    float s = 2.0f / (float)k;
    d->U = bench_alloc_floats((size_t)KB_USERS * kk);
    d->V = bench_alloc_floats((size_t)KB_ITEMS * kk);
    d->resid = bench_alloc_floats((size_t)n);
    d->row_user = malloc(sizeof(int32_t) * (size_t)n);
    if (!d->U || !d->V || !d->resid || !d->row_user) goto nomem;
    for (int32_t u = 0; u < KB_USERS; u++)
        for (int64_t x = d->csr.row_ptr[u]; x < d->csr.row_ptr[u + 1]; x++) d->row_user[x] = u;
    bench_fill(d->U, (size_t)KB_USERS * kk, 1, 0.0f, 2.0f);
    bench_fill(d->V, (size_t)KB_ITEMS * kk, 2, 0.0f, 2.0f * s);
    bench_fill(d->resid, (size_t)n, 3, -1e-4f, 1e-4f);
    return 0;
nomem:
    snprintf(msg, len, "setup failed: out of memory");
    data_free(d);
    return -1;
}

static void out_free(struct kern_out *o)
{
    bench_free(o->a);
    bench_free(o->b);
    bench_free(o->p);
    bench_free(o->m);
    bench_free(o->v);
    memset(o, 0, sizeof *o);
}

static int out_make(struct kern_out *o, enum kern_op op, const struct kern_data *d)
{
    memset(o, 0, sizeof *o);
    size_t kk = (size_t)d->k;
    switch (op) {
    case OP_DOT:
    case OP_DOT_ROWS: o->n_a = KB_ITEMS; break;
    case OP_USER_OWNER: o->n_a = KB_USERS * kk; o->n_b = (size_t)d->csr.nnz; break;
    case OP_USER_SHARD: o->n_a = KB_USERS * kk; o->n_b = KB_ITEMS * kk; break;
    case OP_ITEM: o->n_a = KB_ITEMS * kk; break;
    case OP_SUM: o->n_a = KB_ITEMS * kk; break;
    case OP_EVAL: o->n_a = 2 * (size_t)d->csr.nnz; break; /* nnz doubles */
    case OP_ADAM:
    case OP_SGD:
        o->p = bench_alloc_floats(d->n_param);
        o->m = bench_alloc_floats(d->n_param);
        o->v = bench_alloc_floats(d->n_param);
        if (!o->p || !o->m || !o->v) goto nomem;
        memcpy(o->p, d->p0, sizeof(float) * d->n_param);
        memcpy(o->m, d->m0, sizeof(float) * d->n_param);
        memcpy(o->v, d->v0, sizeof(float) * d->n_param);
        return 0;
    }
    o->a = bench_alloc_floats(o->n_a);
    o->b = o->n_b ? bench_alloc_floats(o->n_b) : NULL;
    if (!o->a || (o->n_b && !o->b)) goto nomem;
    return 0;
nomem:
    out_free(o);
    return -1;
}

/* One pass of `op` with kernel set `ks`: the timed unit. */
static void kern_pass(const struct mfr_kernel_set *ks, enum kern_op op,
                      const struct kern_data *d, struct kern_out *o)
{
    const int32_t k = d->k;
    const size_t kk = (size_t)k;
    switch (op) {
    case OP_DOT: {
        const float *u = d->U;
        double s = 0.0;
        for (int32_t i = 0; i < KB_ITEMS; i++) {
            o->a[i] = ks->dot(u, d->V + (size_t)i * kk, k);
            s += o->a[i];
        }
        o->loss = s;
        break;
    }
    case OP_DOT_ROWS: {
        ks->dot_rows(d->U, d->V, k, KB_ITEMS, o->a);
        double s = 0.0;
        for (int32_t i = 0; i < KB_ITEMS; i++) s += o->a[i];
        o->loss = s;
        break;
    }
    case OP_USER_OWNER:
    case OP_USER_SHARD: {
        const float scale = (float)(2.0 / (double)d->csr.nnz);
        const int shard = op == OP_USER_SHARD;
        double loss = 0.0;
        if (shard) memset(o->b, 0, sizeof(float) * o->n_b);
        for (int32_t u = 0; u < KB_USERS; u++) {
            float *gu = o->a + (size_t)u * kk;
            memset(gu, 0, sizeof(float) * kk);
            int64_t b = d->csr.row_ptr[u], e = d->csr.row_ptr[u + 1];
            loss += ks->user_grad(d->U + (size_t)u * kk, d->V, k, d->csr.item + b,
                                  d->csr.rating + b, e - b, scale, gu, shard ? o->b : NULL,
                                  shard ? NULL : o->b + b, mfr_rows_far(KB_ITEMS, k, shard));
        }
        o->loss = loss;
        break;
    }
    case OP_ITEM:
        for (int32_t i = 0; i < KB_ITEMS; i++) {
            int64_t b = d->csc.col_ptr[i], e = d->csc.col_ptr[i + 1];
            ks->item_grad(o->a + (size_t)i * kk, d->U, k, d->csc.user + b, d->csc.pos + b,
                          d->resid, e - b);
        }
        break;
    case OP_SUM:
        ks->sum_buffers(o->a, d->bufs, (int64_t)(KB_ITEMS * kk), KB_SHARDS,
                        (int64_t)(KB_ITEMS * kk));
        break;
    case OP_ADAM: {
        const struct mfr_adam_coef c = mfr_adam_coef_make(1e-3, 0.9, 0.999, 1e-8, 1);
        ks->adam(o->p, o->m, o->v, d->g, (int64_t)d->n_param, &c);
        break;
    }
    case OP_SGD:
        ks->sgd(o->p, d->g, (int64_t)d->n_param, 1e-3f);
        break;
    case OP_EVAL:
        ks->eval_errors(d->U, d->V, k, d->row_user, d->csr.item, d->csr.rating, d->csr.nnz, 0,
                        (double *)(void *)o->a);
        break;
    }
}

/* Per-pass amounts of the header comment. */
static void kern_amounts(enum kern_op op, const struct kern_data *d, double *ratings,
                         double *bytes, double *flops)
{
    const double k = d->k, n = (double)d->csr.nnz, np = (double)d->n_param;
    const double nf = (double)KB_ITEMS * k;
    *ratings = *bytes = *flops = 0.0;
    switch (op) {
    case OP_DOT:
    case OP_DOT_ROWS:
        *ratings = KB_ITEMS;
        *flops = 2.0 * k * KB_ITEMS;
        *bytes = 4.0 * k * KB_ITEMS;
        break;
    case OP_USER_OWNER:
        *ratings = n;
        *flops = n * (4.0 * k + 4.0);
        *bytes = n * (4.0 * k + 12.0) + KB_USERS * 8.0 * k;
        break;
    case OP_USER_SHARD:
        *ratings = n;
        *flops = n * (6.0 * k + 4.0);
        *bytes = n * (12.0 * k + 8.0) + KB_USERS * 8.0 * k + 4.0 * nf;
        break;
    case OP_ITEM:
        *ratings = n;
        *flops = n * 2.0 * k;
        *bytes = n * (4.0 * k + 16.0) + 4.0 * nf;
        break;
    case OP_SUM:
        *flops = (KB_SHARDS - 1) * nf;
        *bytes = 4.0 * (KB_SHARDS + 1) * nf;
        break;
    case OP_ADAM:
        *flops = 13.0 * np;
        *bytes = 28.0 * np;
        break;
    case OP_SGD:
        *flops = 2.0 * np;
        *bytes = 12.0 * np;
        break;
    case OP_EVAL:
        *ratings = n;
        *flops = n * (2.0 * k + 1.0);
        *bytes = n * (8.0 * k + 20.0);
        break;
    }
}

/* First index where two float arrays differ bitwise, or -1. */
static int64_t first_diff(const float *x, const float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(x + i, y + i, sizeof(float)) != 0) return (int64_t)i;
    return -1;
}

/* Runs `ks` and the reference once on the same inputs; 0 when every output
 * is bit-identical, else fills msg. */
static int check_against_ref(const struct mfr_kernel_set *ks, enum kern_op op,
                             const struct kern_data *d, char *msg, size_t len)
{
    struct kern_out r, t;
    if (out_make(&r, op, d) != 0) {
        snprintf(msg, len, "check: out of memory");
        return -1;
    }
    if (out_make(&t, op, d) != 0) {
        out_free(&r);
        snprintf(msg, len, "check: out of memory");
        return -1;
    }
    kern_pass(&mfr_kernels_ref, op, d, &r);
    kern_pass(ks, op, d, &t);
    const char *what = NULL;
    int64_t at = -1;
    if (memcmp(&r.loss, &t.loss, sizeof r.loss) != 0) what = "loss";
    else if ((at = first_diff(r.a, t.a, r.n_a)) >= 0) what = "output";
    else if (r.b && (at = first_diff(r.b, t.b, r.n_b)) >= 0) what = op == OP_USER_SHARD ? "gV" : "resid";
    else if (r.p && (at = first_diff(r.p, t.p, d->n_param)) >= 0) what = "p";
    else if (r.m && (at = first_diff(r.m, t.m, d->n_param)) >= 0) what = "m";
    else if (r.v && (at = first_diff(r.v, t.v, d->n_param)) >= 0) what = "v";
    if (what)
        snprintf(msg, len, "%s differs from ref: %s at index %lld (k=%d)", ks->name, what,
                 (long long)at, (int)d->k);
    out_free(&r);
    out_free(&t);
    return what ? -1 : 0;
}

struct kern_bench {
    const char *name;
    enum kern_op op;
    int set; /* 0 ref, 1 avx2, 2 avx512 */
};

static void bm_kernel(struct mfr_bench_state *st, const void *ctx)
{
    const struct kern_bench *kb = ctx;
    const struct mfr_kernel_set *ks = &mfr_kernels_ref;
    char msg[640];
    if (kb->set == 1 && !mfr_cpu_has_avx2()) {
        mfr_bench_skip(st, "this CPU lacks AVX2/FMA");
        return;
    }
    if (kb->set == 2 && !mfr_cpu_has_avx512f()) {
        mfr_bench_skip(st, "this CPU lacks AVX-512F");
        return;
    }
    if (kb->set) ks = kb->set == 1 ? &mfr_kernels_avx2 : &mfr_kernels_avx512;
    struct kern_data d;
    struct kern_out o;
    if (data_make(&d, kb->op, (int32_t)mfr_bench_arg(st, 0), msg, sizeof msg) != 0) {
        mfr_bench_fail(st, msg);
        return;
    }
    if (ks != &mfr_kernels_ref && check_against_ref(ks, kb->op, &d, msg, sizeof msg) != 0) {
        mfr_bench_fail(st, msg);
        data_free(&d);
        return;
    }
    if (out_make(&o, kb->op, &d) != 0) {
        mfr_bench_fail(st, "setup failed: out of memory");
        data_free(&d);
        return;
    }
    kern_pass(ks, kb->op, &d, &o); /* warm the caches */

    while (mfr_bench_keep_running(st)) kern_pass(ks, kb->op, &d, &o);

    double ratings, bytes, flops;
    kern_amounts(kb->op, &d, &ratings, &bytes, &flops);
    bench_report(st, ratings, bytes, flops);
    bench_sink = o.loss + (o.a ? o.a[0] : o.p[0]);
    out_free(&o);
    data_free(&d);
}

static const struct kern_bench kern_benches[] = {
    {"kern/dot/ref", OP_DOT, 0},
    {"kern/dot/avx2", OP_DOT, 1},
    {"kern/dot_rows/ref", OP_DOT_ROWS, 0},
    {"kern/dot_rows/avx2", OP_DOT_ROWS, 1},
    {"kern/user_grad_owner/ref", OP_USER_OWNER, 0},
    {"kern/user_grad_owner/avx2", OP_USER_OWNER, 1},
    {"kern/user_grad_owner/avx512", OP_USER_OWNER, 2},
    {"kern/user_grad_shard/ref", OP_USER_SHARD, 0},
    {"kern/user_grad_shard/avx2", OP_USER_SHARD, 1},
    {"kern/user_grad_shard/avx512", OP_USER_SHARD, 2},
    {"kern/item_grad/ref", OP_ITEM, 0},
    {"kern/item_grad/avx2", OP_ITEM, 1},
    {"kern/item_grad/avx512", OP_ITEM, 2},
    {"kern/sum_buffers/ref", OP_SUM, 0},
    {"kern/sum_buffers/avx2", OP_SUM, 1},
    {"kern/adam/ref", OP_ADAM, 0},
    {"kern/adam/avx2", OP_ADAM, 1},
    {"kern/sgd/ref", OP_SGD, 0},
    {"kern/sgd/avx2", OP_SGD, 1},
    {"kern/eval_errors/ref", OP_EVAL, 0},
    {"kern/eval_errors/avx2", OP_EVAL, 1},
};

void bench_kernels_register(void)
{
    static const char *const names[] = {"k"};
    for (size_t b = 0; b < sizeof kern_benches / sizeof kern_benches[0]; b++)
        mfr_bench_register(kern_benches[b].name, bm_kernel, &kern_benches[b], names, 1,
                           bench_kernel_dims, bench_n_kernel_dims, 0);
}
