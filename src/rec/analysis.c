/*
 * analysis.c — looking at trained embeddings: the Euclidean norm of every
 * user or item vector, a principal component analysis (PCA) that maps the
 * embeddings to a few coordinates, and t-SNE, a non-linear 2-D map that
 * keeps neighbourhoods (2-D pictures of the movie space, `mfrec project`).
 * t-SNE is the exact O(n^2) algorithm, sequential like the PCA, so that a
 * picture is bit-identical from run to run.
 *
 * Notation: n rows (users or items), k columns (the embedding dimension),
 * n_comp components kept. x_rj is row r, column j.
 *
 * DESIGN
 * PCA here is the textbook route, chosen for being exact and reproducible
 * rather than fast: column means and the k x k sample covariance
 * (divisor n - 1) are accumulated in double in row order, then the
 * covariance is diagonalized with the cyclic Jacobi method (rotations in the
 * fixed order p < q, row by row), which yields every eigenpair to full
 * double precision without any random start vector. Cost: O(n k^2) for the
 * covariance and O(k^3) per Jacobi sweep (typically 6-10 sweeps), which is
 * instant for the usual k <= 256 and slow but correct near the k = 4096
 * limit. Everything is single-threaded and sequential, so results are
 * bit-identical from run to run.
 *
 * Eigenvectors are only defined up to sign; each axis is flipped so that
 * its component of largest magnitude (the first one on ties) is positive,
 * which makes pictures from the same model identical every time. Equal
 * eigenvalues are ordered by their diagonal position after the sweeps.
 */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "model_priv.h"
#include "rng_priv.h"

/* Largest k accepted by mfr_pca_compute, as for mfr_config.k. */
#define PCA_MAX_K MFR_MAX_K
/* Jacobi stops when the off-diagonal mass is this small a fraction of the
 * matrix's squared Frobenius norm (about machine epsilon squared), or after
 * PCA_MAX_SWEEPS sweeps; quadratic convergence needs far fewer. */
#define PCA_OFF_TOL 1e-30
#define PCA_MAX_SWEEPS 100

/* ------------------------------------------------------------------ */
/* Norms                                                                */
/* ------------------------------------------------------------------ */

/* Resolves `factors` to a padded row array; NULL (with err) for an
 * unknown value. */
static const float *factor_rows(const mfr_model *m, int factors, int32_t *n_rows, mfr_error *err)
{
    if (factors == MFR_FACTORS_USERS) {
        *n_rows = m->n_users;
        return m->U;
    }
    if (factors == MFR_FACTORS_ITEMS) {
        *n_rows = m->n_items;
        return m->V;
    }
    mfr_seterr(err, MFR_ERR_INVALID, "factors must be MFR_FACTORS_USERS (0) or MFR_FACTORS_ITEMS (1), got %d",
               factors);
    return NULL;
}

int mfr_model_norms(const mfr_model *m, int factors, double *out, mfr_error *err)
{
    if (!m || !out)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_model_norms: %s is NULL", !m ? "model" : "out");
    int32_t n = 0;
    const float *rows = factor_rows(m, factors, &n, err);
    if (!rows) return MFR_ERR_INVALID;
    for (int32_t r = 0; r < n; r++) {
        const float *x = rows + (size_t)r * (size_t)m->k_pad;
        double s = 0;
        for (int32_t j = 0; j < m->k; j++) s += (double)x[j] * (double)x[j];
        out[r] = sqrt(s);
    }
    return MFR_OK;
}

/* ------------------------------------------------------------------ */
/* Jacobi eigen-decomposition                                           */
/* ------------------------------------------------------------------ */

/*
 * Diagonalizes the symmetric k x k row-major matrix `a` in place: on return
 * its diagonal holds the eigenvalues and column c of `v` (k x k, row-major,
 * overwritten) the unit eigenvector of a[c][c]. The off-diagonal entries are
 * left near zero. Returns the number of sweeps made.
 *
 * One rotation J(p, q, theta) zeroes a_pq; A' = J^T A J touches rows and
 * columns p and q only (Golub & Van Loan, algorithm 8.4.3, with the stable
 * tangent t = sgn(th) / (|th| + sqrt(th^2 + 1)), th = (a_qq - a_pp) / 2a_pq).
 */
static int jacobi_eigen(double *a, double *v, int32_t k)
{
    const size_t kk = (size_t)k;
    for (size_t r = 0; r < kk; r++)
        for (size_t c = 0; c < kk; c++) v[r * kk + c] = r == c ? 1.0 : 0.0;

    int sweep = 0;
    for (; sweep < PCA_MAX_SWEEPS; sweep++) {
        double off = 0, frob = 0;
        for (size_t p = 0; p < kk; p++) {
            frob += a[p * kk + p] * a[p * kk + p];
            for (size_t q = p + 1; q < kk; q++) off += a[p * kk + q] * a[p * kk + q];
        }
        frob += 2 * off;
        if (off == 0 || off <= PCA_OFF_TOL * frob) break;

        for (size_t p = 0; p + 1 < kk; p++) {
            for (size_t q = p + 1; q < kk; q++) {
                double apq = a[p * kk + q];
                if (apq == 0) continue;
                double app = a[p * kk + p], aqq = a[q * kk + q];
                double th = (aqq - app) / (2 * apq);
                double t;
                if (fabs(th) > 1e150) /* th^2 would overflow; t ~ 1/(2 th) */
                    t = 1 / (2 * th);
                else
                    t = (th >= 0 ? 1.0 : -1.0) / (fabs(th) + sqrt(th * th + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;

                a[p * kk + p] = app - t * apq;
                a[q * kk + q] = aqq + t * apq;
                a[p * kk + q] = a[q * kk + p] = 0;
                for (size_t r = 0; r < kk; r++) {
                    if (r == p || r == q) continue;
                    double arp = a[r * kk + p], arq = a[r * kk + q];
                    double nrp = c * arp - s * arq, nrq = s * arp + c * arq;
                    a[r * kk + p] = a[p * kk + r] = nrp;
                    a[r * kk + q] = a[q * kk + r] = nrq;
                }
                for (size_t r = 0; r < kk; r++) {
                    double vrp = v[r * kk + p], vrq = v[r * kk + q];
                    v[r * kk + p] = c * vrp - s * vrq;
                    v[r * kk + q] = s * vrp + c * vrq;
                }
            }
        }
    }
    return sweep;
}

/* ------------------------------------------------------------------ */
/* PCA                                                                  */
/* ------------------------------------------------------------------ */

void mfr_pca_destroy(mfr_pca *p)
{
    if (!p) return;
    free(p->coords);
    free(p->axes);
    free(p->variance);
    free(p->explained);
    free(p->mean);
    free(p);
}

/* Allocates n_elems doubles (zeroed) with an overflow check; NULL on failure. */
static double *alloc_doubles(size_t n_elems)
{
    size_t bytes;
    if (!mfr_mul_size(n_elems ? n_elems : 1, sizeof(double), &bytes)) return NULL;
    return mfr_calloc(1, bytes);
}

/* Column means of the n rows into p->mean, then the sample covariance
 * (divisor n - 1; 1 when n = 1) into cov (k x k, zeroed), its upper
 * triangle accumulated in double in row order and mirrored; d is
 * n_threads x k doubles of scratch. Sets p->total_variance to the trace.
 *
 * The O(n k^2) cross products run on n_threads threads, each owning a band
 * of cov's rows (cut so that the bands hold about equal shares of the
 * triangle) and reading every centered row itself: each element still sums
 * the rows in order, so the bits do not depend on the thread count. */
static void pca_covariance(const float *x, int64_t n, size_t kk, size_t stride, mfr_pca *p,
                           double *cov, double *d, int n_threads)
{
    for (int64_t r = 0; r < n; r++) {
        const float *row = x + (size_t)r * stride;
        for (size_t j = 0; j < kk; j++) p->mean[j] += (double)row[j];
    }
    for (size_t j = 0; j < kk; j++) p->mean[j] /= (double)n;
    const double half = (double)kk * (double)(kk + 1) / 2.0;
#pragma omp parallel num_threads(n_threads) if (n_threads > 1)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        /* rows a of cov whose triangle rows (kk - a entries each) fall in
         * [t, t + 1) / nt of the whole */
        size_t lo = 0, hi = 0;
        double before = 0.0;
        for (size_t a = 0; a < kk; a++) {
            if (before < half * t / nt) lo = a + 1;
            if (before < half * (t + 1) / nt) hi = a + 1;
            before += (double)(kk - a);
        }
        if (t == nt - 1) hi = kk;
        double *dt = d + (size_t)t * kk;
        for (int64_t r = 0; lo < hi && r < n; r++) {
            const float *row = x + (size_t)r * stride;
            for (size_t j = lo; j < kk; j++) dt[j] = (double)row[j] - p->mean[j];
            for (size_t a = lo; a < hi; a++) {
                double da = dt[a];
                double *crow = cov + a * kk;
                for (size_t b = a; b < kk; b++) crow[b] += da * dt[b];
            }
        }
    }
    const double divisor = n > 1 ? (double)(n - 1) : 1.0;
    for (size_t a = 0; a < kk; a++)
        for (size_t b = a; b < kk; b++) {
            cov[a * kk + b] /= divisor;
            cov[b * kk + a] = cov[a * kk + b];
        }
    p->total_variance = 0;
    for (size_t j = 0; j < kk; j++) p->total_variance += cov[j * kk + j];
}

/* From the diagonalized covariance (eigenvalues on cov's diagonal, the
 * eigenvectors in vec's columns) keeps p->n_comp axes by decreasing
 * eigenvalue, ties to the lower index, each signed so that its
 * largest-magnitude component (first on ties) is positive. used: k bytes
 * of zeroed scratch. */
static void pca_pick_axes(const double *cov, const double *vec, size_t kk, mfr_pca *p,
                          char *used)
{
    for (int32_t c = 0; c < p->n_comp; c++) {
        size_t best = kk;
        for (size_t j = 0; j < kk; j++)
            if (!used[j] && (best == kk || cov[j * kk + j] > cov[best * kk + best])) best = j;
        used[best] = 1;
        double lambda = cov[best * kk + best];
        p->variance[c] = lambda > 0 ? lambda : 0; /* rounding can leave -1e-17 */
        p->explained[c] = p->total_variance > 0 ? p->variance[c] / p->total_variance : 0;
        size_t arg = 0;
        for (size_t j = 1; j < kk; j++)
            if (fabs(vec[j * kk + best]) > fabs(vec[arg * kk + best])) arg = j;
        double sign = vec[arg * kk + best] < 0 ? -1.0 : 1.0;
        double *axis = p->axes + (size_t)c * kk;
        for (size_t j = 0; j < kk; j++) axis[j] = sign * vec[j * kk + best];
    }
}

/* Coordinates of every centered row on the kept axes, into p->coords
 * (summed in double in index order); d is k doubles of scratch. */
static void pca_project(const float *x, int64_t n, size_t kk, size_t stride, mfr_pca *p,
                        double *d)
{
    for (int64_t r = 0; r < n; r++) {
        const float *row = x + (size_t)r * stride;
        for (size_t j = 0; j < kk; j++) d[j] = (double)row[j] - p->mean[j];
        for (int32_t c = 0; c < p->n_comp; c++) {
            const double *axis = p->axes + (size_t)c * kk;
            double s = 0;
            for (size_t j = 0; j < kk; j++) s += d[j] * axis[j];
            p->coords[(size_t)r * (size_t)p->n_comp + (size_t)c] = s;
        }
    }
}

/*
 * The PCA of n rows of k floats, each row starting `stride` floats after the
 * previous one (stride >= k; the model's padded rows use k_pad).
 */
static int pca_rows(const float *x, int64_t n, int32_t k, size_t stride, int32_t n_comp,
                    mfr_pca **out, mfr_error *err)
{
    const size_t kk = (size_t)k;
    size_t n_coords, k2;
    size_t coord_bytes; /* the largest array, in bytes: n x n_comp doubles overflowed there */
    if (!mfr_mul_size((size_t)n, (size_t)n_comp, &n_coords) || !mfr_mul_size(kk, kk, &k2) ||
        !mfr_mul_size(n_coords, sizeof(double), &coord_bytes))
        return mfr_seterr(err, MFR_ERR_TOO_LARGE, "PCA of %lld x %d: size overflows",
                          (long long)n, (int)k);
    /* a NaN would spread through the covariance to every coordinate */
    for (int64_t r = 0; r < n; r++)
        for (int32_t c = 0; c < k; c++)
            if (!isfinite(x[(size_t)r * stride + (size_t)c]))
                return mfr_seterr(err, MFR_ERR_INVALID, "PCA: x[%lld][%d] is not finite", (long long)r,
                                  (int)c);

    double *cov = NULL, *vec = NULL, *d = NULL;
    char *used = NULL;
    int rc = MFR_OK;
    mfr_pca *p = mfr_calloc(1, sizeof *p);
    if (!p) goto nomem;
    p->n = n;
    p->k = k;
    p->n_comp = n_comp;
    p->coords = alloc_doubles(n_coords);
    p->axes = alloc_doubles((size_t)n_comp * kk);
    p->variance = alloc_doubles((size_t)n_comp);
    p->explained = alloc_doubles((size_t)n_comp);
    p->mean = alloc_doubles(kk);
    cov = alloc_doubles(k2);
    vec = alloc_doubles(k2);
    /* the covariance's threads (mfr_set_threads, as the data's load): at
     * most one per row of it */
    int n_threads = mfr_setup_threads();
    if ((size_t)n_threads > kk) n_threads = (int)kk;
    d = alloc_doubles((size_t)n_threads * kk);
    used = mfr_calloc(kk, 1);
    if (!p->coords || !p->axes || !p->variance || !p->explained || !p->mean || !cov || !vec ||
        !d || !used)
        goto nomem;

    pca_covariance(x, n, kk, stride, p, cov, d, n_threads);
    jacobi_eigen(cov, vec, k);
    pca_pick_axes(cov, vec, kk, p, used);
    pca_project(x, n, kk, stride, p, d);
    *out = p;
    p = NULL;
    goto done;
nomem:
    rc = mfr_seterr(err, MFR_ERR_NOMEM, "out of memory for the PCA of %lld x %d", (long long)n,
                    (int)k);
done:
    mfr_pca_destroy(p);
    free(cov);
    free(vec);
    free(d);
    free(used);
    return rc;
}

/* Checks the arguments common to both PCA entry points. */
static int pca_check(int64_t n, int32_t k, int32_t n_comp, mfr_pca **out, mfr_error *err)
{
    if (!out) return mfr_seterr(err, MFR_ERR_INVALID, "PCA: out is NULL");
    *out = NULL;
    if (n < 1) return mfr_seterr(err, MFR_ERR_INVALID, "PCA needs at least 1 row, got %lld", (long long)n);
    if (k < 1 || k > PCA_MAX_K)
        return mfr_seterr(err, MFR_ERR_INVALID, "PCA: k must be in 1..%d, got %d", PCA_MAX_K, (int)k);
    if (n_comp < 1 || n_comp > k)
        return mfr_seterr(err, MFR_ERR_INVALID, "PCA: n_comp must be in 1..%d (k), got %d", (int)k,
                          (int)n_comp);
    return MFR_OK;
}

int mfr_pca_compute(const float *x, int64_t n, int32_t k, int32_t n_comp, mfr_pca **out,
                    mfr_error *err)
{
    int rc = pca_check(n, k, n_comp, out, err);
    if (rc != MFR_OK) return rc;
    if (!x) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_pca_compute: x is NULL");
    return pca_rows(x, n, k, (size_t)k, n_comp, out, err);
}

int mfr_model_pca(const mfr_model *m, int factors, int32_t n_comp, mfr_pca **out,
                  mfr_error *err)
{
    if (out) *out = NULL;
    if (!m) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_model_pca: model is NULL");
    int32_t n = 0;
    const float *rows = factor_rows(m, factors, &n, err);
    if (!rows) return MFR_ERR_INVALID;
    int rc = pca_check(n, m->k, n_comp, out, err);
    if (rc != MFR_OK) return rc;
    return pca_rows(rows, n, m->k, (size_t)m->k_pad, n_comp, out, err);
}

/* ------------------------------------------------------------------ */
/* t-SNE                                                                */
/* ------------------------------------------------------------------ */

/* Early exaggeration: factor and length; momentum before and after. */
#define TSNE_EXAGGERATION 12.0
#define TSNE_EXAGGERATION_ITERS 250
#define TSNE_MOMENTUM_EARLY 0.5
#define TSNE_MOMENTUM_LATE 0.8
#define TSNE_MIN_GAIN 0.01
/* Bisection on the precision of each row's Gaussian: stop when the
 * entropy is within this of log(perplexity), or after TSNE_BISECT steps. */
#define TSNE_ENTROPY_TOL 1e-5
#define TSNE_BISECT 100
/* Floor of the symmetrized affinities, as in the reference implementation. */
#define TSNE_P_FLOOR 1e-12

void mfr_tsne_options_default(mfr_tsne_options *o)
{
    if (!o) return;
    o->perplexity = 30.0;
    o->iterations = 1000;
    o->learning_rate = 0.0; /* auto */
    o->seed = 1;
}

/* Row i of the conditional affinities P(j|i) into p (n doubles, p[i] = 0)
 * from the squared distances d (n doubles): the Gaussian precision beta is
 * bisected until the row's entropy (nats) is log(perplexity). */
static void tsne_row(const double *d, int64_t n, int64_t i, double log_perp, double *p)
{
    double beta = 1.0, lo = 0.0, hi = INFINITY;
    /* Shift by the nearest distance so exp() cannot underflow to all zeros. */
    double dmin = INFINITY;
    for (int64_t j = 0; j < n; j++)
        if (j != i && d[j] < dmin) dmin = d[j];
    for (int step = 0; step < TSNE_BISECT; step++) {
        double sum = 0.0, dot = 0.0;
        for (int64_t j = 0; j < n; j++) {
            p[j] = j == i ? 0.0 : exp(-(d[j] - dmin) * beta);
            sum += p[j];
            dot += (d[j] - dmin) * p[j];
        }
        /* H = log(sum) + beta <d - dmin>_p */
        double h = log(sum) + beta * dot / sum;
        for (int64_t j = 0; j < n; j++) p[j] /= sum;
        double diff = h - log_perp;
        if (fabs(diff) < TSNE_ENTROPY_TOL) break;
        if (diff > 0) { /* too flat: sharpen */
            lo = beta;
            beta = isinf(hi) ? beta * 2.0 : (beta + hi) / 2.0;
        } else {
            hi = beta;
            beta = (beta + lo) / 2.0;
        }
    }
}

/* Checks every argument of mfr_tsne_compute; on success *lr is the
 * learning rate to use (the automatic one for 0). */
static int tsne_check(const float *x, int64_t n, int32_t k, const mfr_tsne_options *opt,
                      const double *coords_out, double *lr, mfr_error *err)
{
    if (!x || !opt || !coords_out)
        return mfr_seterr(err, MFR_ERR_INVALID, "t-SNE: %s is NULL",
                          !x ? "x" : !opt ? "options" : "coords_out");
    if (n < 2 || n > MFR_TSNE_MAX_ROWS)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "t-SNE needs 2..%d rows (its affinity matrix is n x n), got %lld",
                          MFR_TSNE_MAX_ROWS, (long long)n);
    if (k < 1 || k > PCA_MAX_K)
        return mfr_seterr(err, MFR_ERR_INVALID, "t-SNE: k must be in 1..%d, got %d", PCA_MAX_K, (int)k);
    if (!(opt->perplexity >= 1.0) || !(opt->perplexity < (double)n))
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "t-SNE: the perplexity must be at least 1 and below the number of rows "
                          "(%lld), got %g",
                          (long long)n, opt->perplexity);
    if (opt->iterations < 1 || opt->iterations > 100000)
        return mfr_seterr(err, MFR_ERR_INVALID, "t-SNE: iterations must be in 1..100000, got %d",
                          (int)opt->iterations);
    if (!(opt->learning_rate >= 0.0) || !isfinite(opt->learning_rate))
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "t-SNE: the learning rate must be finite and >= 0 (0: automatic), got %g",
                          opt->learning_rate);
    /* automatic: n / (4 x exaggeration), at least 50 (Belkina et al. 2019);
     * 200 on a few hundred points throws some out of their clusters */
    *lr = opt->learning_rate;
    if (*lr == 0.0) *lr = fmax((double)n / (4.0 * TSNE_EXAGGERATION), 50.0);
    for (int64_t v = 0; v < n * k; v++)
        if (!isfinite(x[v]))
            return mfr_seterr(err, MFR_ERR_INVALID, "t-SNE: x[%lld][%lld] is not finite",
                              (long long)(v / k), (long long)(v % k));
    return MFR_OK;
}

/* The symmetrized input affinities into P (n x n): conditional affinities
 * row by row (squared distances in double into d, n doubles of scratch),
 * then P = (P + P^T) / 2n floored at TSNE_P_FLOOR off the diagonal. */
static void tsne_affinities(const float *x, int64_t n, int32_t k, double perplexity, double *P,
                            double *d)
{
    const double log_perp = log(perplexity);
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * (size_t)k;
        for (int64_t j = 0; j < n; j++) {
            const float *xj = x + (size_t)j * (size_t)k;
            double s = 0.0;
            for (int32_t c = 0; c < k; c++) {
                double t = (double)xi[c] - (double)xj[c];
                s += t * t;
            }
            d[j] = s;
        }
        tsne_row(d, n, i, log_perp, P + (size_t)i * (size_t)n);
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++) {
            double s = (P[(size_t)i * n + j] + P[(size_t)j * n + i]) / (2.0 * (double)n);
            if (s < TSNE_P_FLOOR) s = TSNE_P_FLOOR;
            P[(size_t)i * n + j] = P[(size_t)j * n + i] = s;
        }
}

/* The picture and the descent's state, n doubles each (one allocation,
 * zeroed): coordinates y, last update u, gains g, attraction a and
 * repulsion r sums, per axis 0 and 1. */
struct tsne_state {
    double *y0, *y1, *u0, *u1, *g0, *g1, *a0, *a1, *r0, *r1;
};

/* Points the state into w (10 n doubles, zeroed) and draws the start:
 * 1e-4 N(0, 1) per coordinate from (seed, MFR_RNG_TSNE), gains 1. */
static void tsne_start(struct tsne_state *st, double *w, int64_t n, uint64_t seed)
{
    st->y0 = w;
    st->y1 = w + n;
    st->u0 = w + 2 * n;
    st->u1 = w + 3 * n;
    st->g0 = w + 4 * n;
    st->g1 = w + 5 * n;
    st->a0 = w + 6 * n;
    st->a1 = w + 7 * n;
    st->r0 = w + 8 * n;
    st->r1 = w + 9 * n;
    for (int64_t i = 0; i < n; i++) {
        st->y0[i] = 1e-4 * mfr_rng_normal(seed, MFR_RNG_TSNE, (uint64_t)(2 * i));
        st->y1[i] = 1e-4 * mfr_rng_normal(seed, MFR_RNG_TSNE, (uint64_t)(2 * i + 1));
        st->g0[i] = st->g1[i] = 1.0;
    }
}

/* One pass over the pairs i < j: the Student-t kernel q = 1/(1 + |yi - yj|^2),
 * the attraction sums p q (yi - yj) into a and the repulsion sums
 * q^2 (yi - yj) into r; returns Z, the sum of q over i != j. The gradient
 * is then 4 (exag A - R / Z). */
static double tsne_forces(const double *P, int64_t n, struct tsne_state *st)
{
    double *y0 = st->y0, *y1 = st->y1;
    double *a0 = st->a0, *a1 = st->a1, *r0 = st->r0, *r1 = st->r1;
    memset(a0, 0, sizeof(double) * 4 * (size_t)n); /* a0, a1, r0, r1 */
    double z = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double *pi = P + (size_t)i * (size_t)n;
        double ai0 = 0, ai1 = 0, ri0 = 0, ri1 = 0, zi = 0;
        for (int64_t j = i + 1; j < n; j++) {
            double dy0 = y0[i] - y0[j], dy1 = y1[i] - y1[j];
            double q = 1.0 / (1.0 + dy0 * dy0 + dy1 * dy1);
            double pq = pi[j] * q, qq = q * q;
            zi += q;
            ai0 += pq * dy0;
            ai1 += pq * dy1;
            ri0 += qq * dy0;
            ri1 += qq * dy1;
            a0[j] -= pq * dy0;
            a1[j] -= pq * dy1;
            r0[j] -= qq * dy0;
            r1[j] -= qq * dy1;
        }
        a0[i] += ai0;
        a1[i] += ai1;
        r0[i] += ri0;
        r1[i] += ri1;
        z += 2.0 * zi;
    }
    return z;
}

/* One gradient step from the forces (exaggeration exag, momentum mom,
 * learning rate lr, kernel sum z) with per-coordinate gains, then the
 * picture is re-centred on its mean. */
static void tsne_step(struct tsne_state *st, int64_t n, double exag, double mom, double lr,
                      double z)
{
    double *y0 = st->y0, *y1 = st->y1, *u0 = st->u0, *u1 = st->u1, *g0 = st->g0, *g1 = st->g1;
    double m0 = 0.0, m1 = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double gr0 = 4.0 * (exag * st->a0[i] - st->r0[i] / z);
        double gr1 = 4.0 * (exag * st->a1[i] - st->r1[i] / z);
        /* gains grow where the gradient turned against the last step */
        g0[i] = (gr0 > 0) != (u0[i] > 0) ? g0[i] + 0.2 : g0[i] * 0.8;
        g1[i] = (gr1 > 0) != (u1[i] > 0) ? g1[i] + 0.2 : g1[i] * 0.8;
        if (g0[i] < TSNE_MIN_GAIN) g0[i] = TSNE_MIN_GAIN;
        if (g1[i] < TSNE_MIN_GAIN) g1[i] = TSNE_MIN_GAIN;
        u0[i] = mom * u0[i] - lr * g0[i] * gr0;
        u1[i] = mom * u1[i] - lr * g1[i] * gr1;
        y0[i] += u0[i];
        y1[i] += u1[i];
        m0 += y0[i];
        m1 += y1[i];
    }
    m0 /= (double)n;
    m1 /= (double)n;
    for (int64_t i = 0; i < n; i++) {
        y0[i] -= m0;
        y1[i] -= m1;
    }
}

/* KL(P || Q) of the picture (y0, y1), Q = q / Z over i != j. */
static double tsne_kl(const double *P, int64_t n, const double *y0, const double *y1)
{
    double zz = 0.0, kl = 0.0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            if (i == j) continue;
            double dy0 = y0[i] - y0[j], dy1 = y1[i] - y1[j];
            zz += 1.0 / (1.0 + dy0 * dy0 + dy1 * dy1);
        }
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            if (i == j) continue;
            double dy0 = y0[i] - y0[j], dy1 = y1[i] - y1[j];
            double q = 1.0 / (1.0 + dy0 * dy0 + dy1 * dy1) / zz;
            double p = P[(size_t)i * (size_t)n + (size_t)j];
            kl += p * log(p / q);
        }
    return kl;
}

int mfr_tsne_compute(const float *x, int64_t n, int32_t k, const mfr_tsne_options *opt,
                     double *coords_out, double *kl_out, mfr_error *err)
{
    double lr = 0.0;
    int rc = tsne_check(x, n, k, opt, coords_out, &lr, err);
    if (rc != MFR_OK) return rc;

    const size_t nn = (size_t)n * (size_t)n;
    double *P = mfr_malloc(nn * sizeof(double));
    double *d = mfr_malloc((size_t)n * sizeof(double));
    double *w = mfr_calloc((size_t)n * 10, sizeof(double)); /* struct tsne_state */
    if (!P || !d || !w) {
        free(P);
        free(d);
        free(w);
        return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory for the t-SNE of %lld rows (%.1f MiB)",
                          (long long)n, (double)nn * 8.0 / 1048576.0);
    }
    tsne_affinities(x, n, k, opt->perplexity, P, d);
    struct tsne_state st;
    tsne_start(&st, w, n, opt->seed);
    for (int32_t it = 0; it < opt->iterations; it++) {
        const double exag = it < TSNE_EXAGGERATION_ITERS ? TSNE_EXAGGERATION : 1.0;
        const double mom = it < TSNE_EXAGGERATION_ITERS ? TSNE_MOMENTUM_EARLY : TSNE_MOMENTUM_LATE;
        double z = tsne_forces(P, n, &st);
        tsne_step(&st, n, exag, mom, lr, z);
    }
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(st.y0[i]) || !isfinite(st.y1[i])) {
            rc = mfr_seterr(err, MFR_ERR_DIVERGED,
                            "t-SNE diverged (row %lld is not finite); lower the learning rate",
                            (long long)i);
            break;
        }
    if (rc == MFR_OK) {
        if (kl_out) *kl_out = tsne_kl(P, n, st.y0, st.y1);
        for (int64_t i = 0; i < n; i++) {
            coords_out[2 * i] = st.y0[i];
            coords_out[2 * i + 1] = st.y1[i];
        }
    }
    free(P);
    free(d);
    free(w);
    return rc;
}
