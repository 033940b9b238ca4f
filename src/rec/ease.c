/*
 * ease.c — the EASE baseline (Steck, "Embarrassingly Shallow Autoencoders
 * for Sparse Data", 2019): a closed-form item-item model that ranking
 * models are judged against beside the popularity baseline.
 *
 * On the binary user x item matrix X of the training ratings (a rating of
 * any value is a 1; a repeated pair counts once), or (mfr_ease_fit_ratings)
 * on the ratings themselves (X_ui = u's rating of i; of a repeated pair the
 * last in the training order):
 *   G = XᵀX + λI,   P = G⁻¹,   B = I - P diag(1/diag P)
 * i.e. B_ij = -P_ij / P_jj off the diagonal and B_jj = 0; user u's score of
 * item j is (X B)_uj = Σ_{i rated by u} B_ij.
 *
 * DESIGN (determinism for any thread count)
 *   Everything is double. G holds integer counts plus λ: exact, so the
 *   order it is summed in does not matter. With ratings, each G_ab is
 *   summed over the users in ascending order, by one thread. P comes from the Cholesky factor
 *   G = LLᵀ, then M = L⁻ᵀ (row c of M is column c of L⁻¹) and P = MᵀM...
 *   written as P_ab = Σ_{k >= max(a,b)} M_ak M_bk. Each element of L, M and
 *   P is one dot product computed by one thread in a fixed order (dot()
 *   below: four interleaved partial sums, then (s0 + s1) + (s2 + s3)); the
 *   threads only decide which elements they compute, so the bytes of B do
 *   not depend on the thread count. Scores sum B's rows in ascending item
 *   order. Cost: about n³/2 multiply-adds (n = n_items; ML-100K: 2.4e9,
 *   seconds) and 2 n² doubles of memory.
 *
 * Names: n n_items, G/L/P/B the matrices above (row-major n x n).
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "dataset_priv.h"
#include "ranking_priv.h"

struct mfr_ease {
    int32_t n_users, n_items;
    double lambda;
    bool ratings; /* X holds the ratings, not 1s */
    double *B; /* n x n, row-major, zero diagonal */
};

/* Σ_{x<n} a[x] b[x] in a fixed order whatever the caller's thread. */
static double dot(const double *a, const double *b, int64_t n)
{
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    int64_t x = 0;
    for (; x + 4 <= n; x += 4) {
        s0 += a[x] * b[x];
        s1 += a[x + 1] * b[x + 1];
        s2 += a[x + 2] * b[x + 2];
        s3 += a[x + 3] * b[x + 3];
    }
    for (; x < n; x++) s0 += a[x] * b[x];
    return (s0 + s1) + (s2 + s3);
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* A rated item: its index and, for a repeated pair, which rating is last. */
struct rated {
    int32_t item;
    float value;
    int64_t order;
};

static int cmp_rated(const void *a, const void *b)
{
    const struct rated *x = a, *y = b;
    if (x->item != y->item) return (x->item > y->item) - (x->item < y->item);
    return (x->order > y->order) - (x->order < y->order);
}

/* Sorts r[0..n) by item and keeps the last of each item's repeats (the
 * greatest order); returns the new length. */
static int64_t sort_unique_rated(struct rated *r, int64_t n)
{
    if (n == 0) return 0;
    qsort(r, (size_t)n, sizeof *r, cmp_rated);
    int64_t m = 0;
    for (int64_t x = 0; x < n; x++) {
        if (m > 0 && r[m - 1].item == r[x].item) m--;
        r[m++] = r[x];
    }
    return m;
}

/* Sorts items[0..n) and removes repeats; returns the new length. */
static int64_t sort_unique(int32_t *items, int64_t n)
{
    if (n == 0) return 0;
    qsort(items, (size_t)n, sizeof *items, cmp_i32);
    int64_t m = 1;
    for (int64_t x = 1; x < n; x++)
        if (items[x] != items[m - 1]) items[m++] = items[x];
    return m;
}

/* X as distinct items per user (ascending) and distinct users per item,
 * with X's values beside them when it holds ratings (u_val, i_val; NULL
 * for the binary X). */
struct ease_csr {
    int64_t *u_off, *i_off; /* n_users + 1, n_items + 1 */
    int32_t *u_item, *i_user;
    double *u_val, *i_val;
};

static void ease_csr_free(struct ease_csr *c)
{
    free(c->u_off);
    free(c->i_off);
    free(c->u_item);
    free(c->i_user);
    free(c->u_val);
    free(c->i_val);
}

/* One user's ratings (file order) as distinct items, ascending, their
 * last rating each: from u_item's positions b..b+n, written at `at`. */
static int64_t unique_rated(const mfr_ratings *r, const int64_t *pos, int64_t n, struct rated *tmp,
                            int32_t *items, double *vals)
{
    for (int64_t x = 0; x < n; x++)
        tmp[x] = (struct rated){.item = r->item[pos[x]], .value = r->rating[pos[x]], .order = pos[x]};
    int64_t m = sort_unique_rated(tmp, n);
    for (int64_t x = 0; x < m; x++) items[x] = tmp[x].item, vals[x] = tmp[x].value;
    return m;
}

static int ease_csr_build(const mfr_ratings *r, int32_t n_users, int32_t n_items, bool values,
                          struct ease_csr *c, mfr_error *err)
{
    c->u_off = mfr_calloc((size_t)n_users + 1, sizeof *c->u_off);
    c->i_off = mfr_calloc((size_t)n_items + 1, sizeof *c->i_off);
    c->u_item = mfr_malloc(((size_t)r->n + 1) * sizeof *c->u_item);
    c->i_user = mfr_malloc(((size_t)r->n + 1) * sizeof *c->i_user);
    int64_t *pos = NULL;
    struct rated *tmp = NULL;
    if (values) {
        c->u_val = mfr_malloc(((size_t)r->n + 1) * sizeof *c->u_val);
        c->i_val = mfr_malloc(((size_t)r->n + 1) * sizeof *c->i_val);
        pos = mfr_malloc(((size_t)r->n + 1) * sizeof *pos);
        tmp = mfr_malloc(((size_t)r->n + 1) * sizeof *tmp);
    }
    if (!c->u_off || !c->i_off || !c->u_item || !c->i_user ||
        (values && (!c->u_val || !c->i_val || !pos || !tmp))) {
        free(pos), free(tmp);
        return mfr_seterr(err, MFR_ERR_NOMEM, "EASE: out of memory for %lld ratings",
                          (long long)r->n);
    }
    for (int64_t x = 0; x < r->n; x++) c->u_off[r->user[x] + 1]++;
    for (int32_t u = 0; u < n_users; u++) c->u_off[u + 1] += c->u_off[u];
    for (int64_t x = 0; x < r->n; x++) {
        int64_t at = c->u_off[r->user[x]]++;
        c->u_item[at] = r->item[x];
        if (values) pos[at] = x;
    }
    for (int32_t u = n_users; u > 0; u--) c->u_off[u] = c->u_off[u - 1];
    c->u_off[0] = 0;
    /* distinct and ascending per user, compacted in place */
    int64_t at = 0;
    for (int32_t u = 0; u < n_users; u++) {
        int64_t b = c->u_off[u], n = c->u_off[u + 1] - b;
        c->u_off[u] = at;
        if (values) {
            at += unique_rated(r, pos + b, n, tmp, c->u_item + at, c->u_val + at);
        } else {
            memmove(c->u_item + at, c->u_item + b, (size_t)n * sizeof *c->u_item);
            at += sort_unique(c->u_item + at, n);
        }
    }
    c->u_off[n_users] = at;
    free(pos), free(tmp);
    for (int64_t x = 0; x < at; x++) c->i_off[c->u_item[x] + 1]++;
    for (int32_t i = 0; i < n_items; i++) c->i_off[i + 1] += c->i_off[i];
    for (int32_t u = 0; u < n_users; u++) /* users ascending within each item */
        for (int64_t x = c->u_off[u]; x < c->u_off[u + 1]; x++) {
            int64_t y = c->i_off[c->u_item[x]]++;
            c->i_user[y] = u;
            if (values) c->i_val[y] = c->u_val[x];
        }
    for (int32_t i = n_items; i > 0; i--) c->i_off[i] = c->i_off[i - 1];
    c->i_off[0] = 0;
    return MFR_OK;
}

/* G = XᵀX + λI into G (n x n, zeroed): integer counts, exact in any order,
 * or sums of products of ratings, each added over the users in ascending
 * order; one thread per row. */
static void ease_gram(const struct ease_csr *c, int32_t n, double lambda, int threads, double *G)
{
#pragma omp parallel for num_threads(threads) schedule(dynamic, 16)
    for (int32_t a = 0; a < n; a++) {
        double *row = G + (size_t)a * (size_t)n;
        for (int64_t y = c->i_off[a]; y < c->i_off[a + 1]; y++) {
            int32_t u = c->i_user[y];
            if (c->i_val) {
                const double ra = c->i_val[y];
                for (int64_t x = c->u_off[u]; x < c->u_off[u + 1]; x++) row[c->u_item[x]] += ra * c->u_val[x];
            } else {
                for (int64_t x = c->u_off[u]; x < c->u_off[u + 1]; x++) row[c->u_item[x]] += 1.0;
            }
        }
        row[a] += lambda;
    }
}

/* In place: the lower triangle of G becomes L with G = LLᵀ (column by
 * column; the rows below the diagonal in parallel). MFR_ERR_DATA when G is
 * not numerically positive definite. */
static int ease_cholesky(double *G, int32_t n, int threads, mfr_error *err)
{
    int bad = -1;
#pragma omp parallel num_threads(threads)
    for (int32_t j = 0; j < n; j++) {
        double *Lj = G + (size_t)j * (size_t)n;
#pragma omp single
        {
            double d = Lj[j] - dot(Lj, Lj, j);
            if (!(d > 0.0) && bad < 0) bad = j;
            Lj[j] = d > 0.0 ? sqrt(d) : 1.0;
        } /* implied barrier: every thread sees L_jj */
#pragma omp for schedule(static)
        for (int32_t i = j + 1; i < n; i++) {
            double *Li = G + (size_t)i * (size_t)n;
            Li[j] = (Li[j] - dot(Li, Lj, j)) / Lj[j];
        }
    }
    if (bad >= 0)
        return mfr_seterr(err, MFR_ERR_DATA,
                          "EASE: XᵀX + λI is not positive definite at item %d (raise lambda)",
                          (int)bad);
    return MFR_OK;
}

/* M (n x n, upper triangle written): row c holds column c of L⁻¹, by
 * forward substitution; one thread per row. */
static void ease_inverse_rows(const double *L, int32_t n, int threads, double *M)
{
#pragma omp parallel for num_threads(threads) schedule(dynamic, 8)
    for (int32_t c = 0; c < n; c++) {
        double *Mc = M + (size_t)c * (size_t)n;
        Mc[c] = 1.0 / L[(size_t)c * (size_t)n + c];
        for (int32_t i = c + 1; i < n; i++) {
            const double *Li = L + (size_t)i * (size_t)n;
            Mc[i] = -dot(Li + c, Mc + c, i - c) / Li[i];
        }
    }
}

/* P = G⁻¹ = MᵀM... as P_ab = Σ_{k >= b} M_ak M_bk for a <= b, into P (n x n,
 * both triangles); one thread per row a. */
static void ease_inverse(const double *M, int32_t n, int threads, double *P)
{
#pragma omp parallel for num_threads(threads) schedule(dynamic, 8)
    for (int32_t a = 0; a < n; a++) {
        const double *Ma = M + (size_t)a * (size_t)n;
        for (int32_t b = a; b < n; b++) {
            const double *Mb = M + (size_t)b * (size_t)n;
            P[(size_t)a * (size_t)n + b] = dot(Ma + b, Mb + b, n - b);
        }
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int32_t a = 0; a < n; a++)
        for (int32_t b = 0; b < a; b++)
            P[(size_t)a * (size_t)n + b] = P[(size_t)b * (size_t)n + a];
}

/* In place: P becomes B, B_ij = -P_ij / P_jj, B_jj = 0. diag: n doubles. */
static void ease_weights(double *P, int32_t n, double *diag)
{
    for (int32_t j = 0; j < n; j++) diag[j] = P[(size_t)j * (size_t)n + j];
    for (int32_t i = 0; i < n; i++) {
        double *row = P + (size_t)i * (size_t)n;
        for (int32_t j = 0; j < n; j++) row[j] = i == j ? 0.0 : -row[j] / diag[j];
    }
}

static int ease_check(const mfr_ratings *train, int32_t n_users, int32_t n_items, double lambda,
                      mfr_error *err)
{
    if (!train) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_ease_fit: train is NULL");
    if (n_users < 1 || n_items < 1)
        return mfr_seterr(err, MFR_ERR_INVALID, "EASE: n_users %d and n_items %d must be >= 1",
                          (int)n_users, (int)n_items);
    if (!(lambda > 0.0) || !isfinite(lambda))
        return mfr_seterr(err, MFR_ERR_INVALID, "EASE: lambda must be positive and finite, got %g",
                          lambda);
    for (int64_t x = 0; x < train->n; x++)
        if (train->user[x] < 0 || train->user[x] >= n_users || train->item[x] < 0 ||
            train->item[x] >= n_items)
            return mfr_seterr(err, MFR_ERR_MISMATCH,
                              "EASE: training rating %lld (user %d, item %d) is outside %d x %d",
                              (long long)x, (int)train->user[x], (int)train->item[x],
                              (int)n_users, (int)n_items);
    return MFR_OK;
}

static int ease_fit(const mfr_ratings *train, int32_t n_users, int32_t n_items, double lambda,
                    bool ratings, int n_threads, mfr_ease **out, mfr_error *err)
{
    const char *fn = ratings ? "mfr_ease_fit_ratings" : "mfr_ease_fit";
    if (!out) return mfr_seterr(err, MFR_ERR_INVALID, "%s: out is NULL", fn);
    *out = NULL;
    int rc = ease_check(train, n_users, n_items, lambda, err);
    if (rc == MFR_OK) rc = mfr_ratings_refuse_view(train, fn, err);
    if (rc == MFR_OK) rc = mfr_check_threads(fn, n_threads, err);
    if (rc != MFR_OK) return rc;
    size_t nn;
    if (!mfr_mul_size((size_t)n_items, (size_t)n_items, &nn) ||
        !mfr_mul_size(nn, sizeof(double), &nn))
        return mfr_seterr(err, MFR_ERR_TOO_LARGE, "EASE: %d items are too many", (int)n_items);
    /* two such matrices: refused, not attempted, when they pass the physical memory */
    const uint64_t phys = mfr_physical_memory();
    if (phys && (nn > phys / 2))
        return mfr_seterr(err, MFR_ERR_TOO_LARGE,
                          "EASE: %d x %d matrices of doubles (two, %.1f GiB) do not fit in this machine's %.1f GiB",
                          (int)n_items, (int)n_items, 2.0 * (double)nn / 1073741824.0, (double)phys / 1073741824.0);
    int threads = n_threads > 0 ? n_threads : mfr_setup_threads();
    struct ease_csr c = {0};
    mfr_ease *e = mfr_calloc(1, sizeof *e);
    double *M = mfr_malloc(nn), *diag = mfr_malloc((size_t)n_items * sizeof *diag);
    if (e) e->B = mfr_calloc(1, nn);
    if (!e || !e->B || !M || !diag) {
        rc = mfr_seterr(err, MFR_ERR_NOMEM, "EASE: out of memory for %d x %d doubles (x2)",
                        (int)n_items, (int)n_items);
        goto done;
    }
    if (ratings)
        for (int64_t x = 0; x < train->n; x++)
            if (!isfinite(train->rating[x])) {
                rc = mfr_seterr(err, MFR_ERR_DATA, "EASE: training rating %lld is not finite",
                                (long long)x);
                goto done;
            }
    if ((rc = ease_csr_build(train, n_users, n_items, ratings, &c, err)) != MFR_OK) goto done;
    ease_gram(&c, n_items, lambda, threads, e->B);
    if ((rc = ease_cholesky(e->B, n_items, threads, err)) != MFR_OK) goto done;
    ease_inverse_rows(e->B, n_items, threads, M);
    ease_inverse(M, n_items, threads, e->B);
    ease_weights(e->B, n_items, diag);
    e->n_users = n_users;
    e->n_items = n_items;
    e->lambda = lambda;
    e->ratings = ratings;
    *out = e;
    e = NULL;
done:
    ease_csr_free(&c);
    free(M);
    free(diag);
    mfr_ease_destroy(e);
    return rc;
}

int mfr_ease_fit(const mfr_ratings *train, int32_t n_users, int32_t n_items, double lambda,
                 int n_threads, mfr_ease **out, mfr_error *err)
{
    return ease_fit(train, n_users, n_items, lambda, false, n_threads, out, err);
}

int mfr_ease_fit_ratings(const mfr_ratings *train, int32_t n_users, int32_t n_items, double lambda,
                         int n_threads, mfr_ease **out, mfr_error *err)
{
    return ease_fit(train, n_users, n_items, lambda, true, n_threads, out, err);
}

int mfr_ease_uses_ratings(const mfr_ease *e) { return e && e->ratings; }

void mfr_ease_destroy(mfr_ease *e)
{
    if (!e) return;
    free(e->B);
    free(e);
}

int32_t mfr_ease_n_items(const mfr_ease *e) { return e ? e->n_items : 0; }

const double *mfr_ease_weights(const mfr_ease *e) { return e ? e->B : NULL; }

/* out = Σ_x w[x] B[items[x]] over distinct ascending items (w NULL: 1s). */
static void sum_rows(const mfr_ease *e, const int32_t *items, const double *w, int64_t m, double *out)
{
    const size_t ni = (size_t)e->n_items;
    memset(out, 0, ni * sizeof *out);
    for (int64_t x = 0; x < m; x++) {
        const double *row = e->B + (size_t)items[x] * ni;
        if (w)
            for (size_t j = 0; j < ni; j++) out[j] += w[x] * row[j];
        else
            for (size_t j = 0; j < ni; j++) out[j] += row[j];
    }
}

/* mfr_ease_scores_rated; fn names the public function called. */
static int ease_scores(const char *fn, const mfr_ease *e, const int32_t *items, const float *ratings,
                       int32_t n, double *out, mfr_error *err)
{
    if (!e || (!items && n > 0) || (e->ratings && !ratings && n > 0) || !out)
        return mfr_seterr(err, MFR_ERR_INVALID, "%s: %s is NULL", fn,
                          !e ? "the EASE" : !out ? "out" : !items ? "items" : "ratings");
    if (n < 0) return mfr_seterr(err, MFR_ERR_INVALID, "%s: n must be >= 0, got %d", fn, (int)n);
    for (int32_t x = 0; x < n; x++) {
        if (items[x] < 0 || items[x] >= e->n_items)
            return mfr_seterr(err, MFR_ERR_INVALID, "EASE: item index %d is outside 0..%d",
                              (int)items[x], (int)e->n_items - 1);
        if (e->ratings && !isfinite(ratings[x]))
            return mfr_seterr(err, MFR_ERR_INVALID, "EASE: rating %d is not finite", (int)x);
    }
    struct rated *r = mfr_malloc(((size_t)n + 1) * sizeof *r);
    int32_t *sorted = mfr_malloc(((size_t)n + 1) * sizeof *sorted);
    double *w = e->ratings ? mfr_malloc(((size_t)n + 1) * sizeof *w) : NULL;
    if (!r || !sorted || (e->ratings && !w)) {
        free(r), free(sorted), free(w);
        return mfr_seterr(err, MFR_ERR_NOMEM, "EASE: out of memory for %d items", (int)n);
    }
    for (int32_t x = 0; x < n; x++)
        r[x] = (struct rated){.item = items[x], .value = e->ratings ? ratings[x] : 1.0f, .order = x};
    int64_t m = sort_unique_rated(r, n); /* a repeated item: its last rating */
    for (int64_t x = 0; x < m; x++) {
        sorted[x] = r[x].item;
        if (w) w[x] = r[x].value;
    }
    sum_rows(e, sorted, w, m, out);
    free(r), free(sorted), free(w);
    return MFR_OK;
}

int mfr_ease_scores_rated(const mfr_ease *e, const int32_t *items, const float *ratings, int32_t n,
                          double *out, mfr_error *err)
{
    return ease_scores("mfr_ease_scores_rated", e, items, ratings, n, out, err);
}

int mfr_ease_scores(const mfr_ease *e, const int32_t *items, int32_t n, double *out,
                    mfr_error *err)
{
    if (e && e->ratings)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "mfr_ease_scores: this EASE was fitted on ratings; its scores need "
                          "them (mfr_ease_scores_rated)");
    return ease_scores("mfr_ease_scores", e, items, NULL, n, out, err);
}

/* The ranking scorer: scratch for one user's scores in double; with
 * ratings, the training set's users as distinct items with their last
 * ratings (the fit's X). */
struct ease_rank_ctx {
    const mfr_ease *e;
    double *sc;
    int32_t *items;
    struct ease_csr rated;
};

static void ease_rank_scores(const void *ctx, int32_t u, const int32_t *items, int64_t n,
                             const int32_t *train_mark, float *score)
{
    const struct ease_rank_ctx *c = ctx;
    (void)train_mark;
    if (c->e->ratings) { /* u's row of X, built from the same training set */
        const int64_t b = c->rated.u_off[u];
        sum_rows(c->e, c->rated.u_item + b, c->rated.u_val + b, c->rated.u_off[u + 1] - b, c->sc);
    } else {
        memcpy(c->items, items, (size_t)n * sizeof *items);
        /* items are in range (checked by the caller): distinct, ascending */
        sum_rows(c->e, c->items, NULL, sort_unique(c->items, n), c->sc);
    }
    for (int32_t j = 0; j < c->e->n_items; j++) score[j] = (float)c->sc[j];
}

int mfr_ease_ranking(const mfr_ease *e, const mfr_ratings *train, const mfr_ratings *test,
                     int32_t n_top, mfr_ranking *out, mfr_error *err)
{
    /* out is the one result (mfr_model_ranking's two may be skipped): a
     * NULL one once returned MFR_OK having computed nothing */
    if (!e || !train || !test || !out)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_ease_ranking: %s is NULL",
                          !e ? "model" : !train ? "train" : !test ? "test" : "out");
    int view = mfr_ratings_refuse_view(train, "mfr_ease_ranking", err);
    if (view == MFR_OK) view = mfr_ratings_refuse_view(test, "mfr_ease_ranking", err);
    if (view != MFR_OK) return view;
    struct ease_rank_ctx c = {.e = e};
    c.sc = mfr_malloc((size_t)e->n_items * sizeof *c.sc);
    c.items = mfr_malloc(((size_t)train->n + 1) * sizeof *c.items);
    int rc = !c.sc || !c.items ? mfr_seterr(err, MFR_ERR_NOMEM, "EASE ranking: out of memory") : MFR_OK;
    if (rc == MFR_OK && e->ratings) {
        rc = ease_check(train, e->n_users, e->n_items, e->lambda, err);
        if (rc == MFR_OK) rc = ease_csr_build(train, e->n_users, e->n_items, true, &c.rated, err);
    }
    const struct mfr_ranking_scorer scorer = {ease_rank_scores, NULL, &c};
    if (rc == MFR_OK) rc = mfr_ranking_run(train, test, e->n_users, e->n_items, n_top, &scorer, 1, out, NULL, err);
    ease_csr_free(&c.rated);
    free(c.sc);
    free(c.items);
    return rc;
}
