/*
 * analysis.c — looking at trained embeddings: the Euclidean norm of every
 * user or item vector, and a principal component analysis (PCA) that maps
 * the embeddings to a few coordinates (2-D pictures of the movie space,
 * `mfrec project`).
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
#include <string.h>

#include "model_priv.h"

/* Largest k accepted by mfr_pca_compute, as for mfr_config.k. */
#define PCA_MAX_K 4096
/* Jacobi stops when the off-diagonal mass is this small a fraction of the
 * matrix's squared Frobenius norm (about machine epsilon squared), or after
 * PCA_MAX_SWEEPS sweeps; quadratic convergence needs far fewer. */
#define PCA_OFF_TOL 1e-30
#define PCA_MAX_SWEEPS 100

/* ------------------------------------------------------------------ */
/* Norms                                                                */
/* ------------------------------------------------------------------ */

/* Resolves `factors` to a padded row array; NULL for an unknown value. */
static const float *factor_rows(const mfr_model *m, int factors, int32_t *n_rows)
{
    if (factors == MFR_FACTORS_USERS) {
        *n_rows = m->n_users;
        return m->U;
    }
    if (factors == MFR_FACTORS_ITEMS) {
        *n_rows = m->n_items;
        return m->V;
    }
    return NULL;
}

int mfr_model_norms(const mfr_model *m, int factors, double *out, mfr_error *err)
{
    if (!m || !out) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_model_norms: model or out is NULL");
    int32_t n = 0;
    const float *rows = factor_rows(m, factors, &n);
    if (!rows)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "factors must be MFR_FACTORS_USERS (0) or MFR_FACTORS_ITEMS (1), got %d",
                          factors);
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
    return calloc(1, bytes);
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
    if (!mfr_mul_size((size_t)n, (size_t)n_comp, &n_coords) || !mfr_mul_size(kk, kk, &k2))
        return mfr_seterr(err, MFR_ERR_TOO_LARGE, "PCA of %lld x %d: size overflows",
                          (long long)n, (int)k);

    double *cov = NULL, *vec = NULL, *d = NULL;
    char *used = NULL;
    int rc = MFR_OK;
    mfr_pca *p = calloc(1, sizeof *p);
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
    d = alloc_doubles(kk);
    used = calloc(kk, 1);
    if (!p->coords || !p->axes || !p->variance || !p->explained || !p->mean || !cov || !vec ||
        !d || !used)
        goto nomem;

    /* Column means, then the upper triangle of the covariance, row order. */
    for (int64_t r = 0; r < n; r++) {
        const float *row = x + (size_t)r * stride;
        for (size_t j = 0; j < kk; j++) p->mean[j] += (double)row[j];
    }
    for (size_t j = 0; j < kk; j++) p->mean[j] /= (double)n;
    for (int64_t r = 0; r < n; r++) {
        const float *row = x + (size_t)r * stride;
        for (size_t j = 0; j < kk; j++) d[j] = (double)row[j] - p->mean[j];
        for (size_t a = 0; a < kk; a++) {
            double da = d[a];
            double *crow = cov + a * kk;
            for (size_t b = a; b < kk; b++) crow[b] += da * d[b];
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

    jacobi_eigen(cov, vec, k);

    /* Components by decreasing eigenvalue; ties go to the lower index. */
    for (int32_t c = 0; c < n_comp; c++) {
        size_t best = kk;
        for (size_t j = 0; j < kk; j++)
            if (!used[j] && (best == kk || cov[j * kk + j] > cov[best * kk + best])) best = j;
        used[best] = 1;
        double lambda = cov[best * kk + best];
        p->variance[c] = lambda > 0 ? lambda : 0; /* rounding can leave -1e-17 */
        p->explained[c] = p->total_variance > 0 ? p->variance[c] / p->total_variance : 0;
        /* Sign: the largest-magnitude component (first on ties) is positive. */
        size_t arg = 0;
        for (size_t j = 1; j < kk; j++)
            if (fabs(vec[j * kk + best]) > fabs(vec[arg * kk + best])) arg = j;
        double sign = vec[arg * kk + best] < 0 ? -1.0 : 1.0;
        double *axis = p->axes + (size_t)c * kk;
        for (size_t j = 0; j < kk; j++) axis[j] = sign * vec[j * kk + best];
    }

    for (int64_t r = 0; r < n; r++) {
        const float *row = x + (size_t)r * stride;
        for (size_t j = 0; j < kk; j++) d[j] = (double)row[j] - p->mean[j];
        for (int32_t c = 0; c < n_comp; c++) {
            const double *axis = p->axes + (size_t)c * kk;
            double s = 0;
            for (size_t j = 0; j < kk; j++) s += d[j] * axis[j];
            p->coords[(size_t)r * (size_t)n_comp + (size_t)c] = s;
        }
    }
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
    const float *rows = factor_rows(m, factors, &n);
    if (!rows)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "factors must be MFR_FACTORS_USERS (0) or MFR_FACTORS_ITEMS (1), got %d",
                          factors);
    int rc = pca_check(n, m->k, n_comp, out, err);
    if (rc != MFR_OK) return rc;
    return pca_rows(rows, n, m->k, (size_t)m->k_pad, n_comp, out, err);
}
