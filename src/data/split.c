/*
 * split.c — training/test splits of a dataset (the "Splits" section of
 * mfrec.h).
 *
 * Four kinds of spec:
 *
 *   "sklearn:SEED[:FRACTION]"  bit-for-bit scikit-learn's
 *       train_test_split(ratings, test_size=FRACTION, random_state=SEED), so
 *       that results can be compared with the teaching notebook that trains
 *       on exactly that split. sklearn (ShuffleSplit._iter_indices) does
 *           perm = RandomState(SEED).permutation(n)
 *           test = perm[:n_test], train = perm[n_test:n_test + n_train]
 *       with, for a float test_size and no train_size
 *       (_validate_shuffle_split),
 *           n_test = ceil(FRACTION * n)   (in double)
 *           n_train = n - n_test
 *       and an error when n_train is 0. (floor((1 - FRACTION) * n) is
 *       what sklearn uses only when a train_size is given, which this spec
 *       never does; checked against sklearn 1.2.1.) Both parts keep the permutation's
 *       order. The permutation is NumPy's legacy one (mt19937.c).
 *
 *   "u1".."u5", "ua", "ub"  the canonical MovieLens files <dir>/NAME.base
 *       (train) and <dir>/NAME.test (test), read through the dataset's id
 *       maps.
 *
 *   "random:FRACTION"  the project's own holdout: a Fisher-Yates permutation
 *       driven by the counter-based RNG (stream MFR_RNG_SPLIT, one counter
 *       value per draw, rejections included), its first round(FRACTION * n)
 *       entries are the test rows; each part then keeps file order. It
 *       depends only on (seed, n, FRACTION). The draws, the partition and
 *       the copies run in parallel (mark_test_rows, count_marks,
 *       gather_marked, train_view) with the same result for any thread
 *       count. A lean split's test part has no timestamps; nor have a
 *       lean sklearn split's two copies.
 *
 *   "none"  every rating trains, in file order; the test part is empty
 *       (a final model trained on all the data, or on the training file
 *       of another tool's split).
 *
 * Numbers in specs are parsed and printed in the "C" numeric locale (set
 * for the calling thread only, then restored), so a spec means the same
 * thing under any locale and the normalized fraction is the shortest
 * decimal that reads back as the same double (what Python's repr prints).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "bytes_priv.h"
#include "csort_priv.h"
#include "csr_priv.h"
#include "dataset_priv.h"
#include "mt19937_priv.h"
#include "rng_priv.h"

#define SKLEARN_DEFAULT_FRACTION 0.25
#define SPEC_EXPECTED                                                                      \
    "expected \"sklearn:SEED[:TEST_FRACTION]\" (SEED in 0..4294967295, fraction in "       \
    "(0, 1)), \"u1\"..\"u5\", \"ua\", \"ub\", \"random:FRACTION\" (fraction in (0, 1)) or "      \
    "\"none\" (every rating trains)"

/* Longest normalized spec: "sklearn:4294967295:" plus a %.17g double. */
#define SPEC_MAX 64

static const char *const canonical_names[] = {"u1", "u2", "u3", "u4", "u5", "ua", "ub"};

/* ------------------------------------------------------------------ */
/* Spec parsing                                                         */
/* ------------------------------------------------------------------ */

/* Parses a decimal unsigned 32-bit number: digits only, the whole of
 * text[0..len). Returns false when empty, not all digits or too large. */
static bool parse_u32(const char *text, size_t len, uint32_t *out)
{
    if (len == 0 || len > 10) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9') return false;
        v = v * 10 + (uint64_t)(text[i] - '0');
    }
    if (v > UINT32_MAX) return false;
    *out = (uint32_t)v;
    return true;
}

/* Parses a fraction in the open interval (0, 1) from the whole of `text`.
 * The caller has switched the thread to the "C" numeric locale. Leading
 * signs and blanks are refused so that only plain numbers are accepted. */
static bool parse_fraction(const char *text, double *out)
{
    if (!((text[0] >= '0' && text[0] <= '9') || text[0] == '.')) return false;
    char *end = NULL;
    errno = 0;
    double f = strtod(text, &end);
    if (end == text || *end != '\0' || errno == ERANGE || !isfinite(f) || !mfr_text_is_decimal(text, strlen(text)))
        return false;
    if (!(f > 0.0 && f < 1.0)) return false;
    *out = f;
    return true;
}

static int bad_fraction(const char *spec, mfr_error *err)
{
    /* "random:0.5:3": a field too many, not a bad fraction */
    const char *first = strchr(spec, ':'), *second = first ? strchr(first + 1, ':') : NULL;
    if (second && (strncmp(spec, "random:", 7) == 0 || strchr(second + 1, ':')))
        return mfr_seterr(err, MFR_ERR_INVALID, "bad split spec \"%s\": too many ':' fields; " SPEC_EXPECTED,
                          spec);
    return mfr_seterr(err, MFR_ERR_INVALID,
                      "bad split spec \"%s\": the test fraction must be a number in (0, 1); " SPEC_EXPECTED,
                      spec);
}

/* Writes the shortest %g text of f (at most 17 digits) that strtod reads
 * back as f. The caller has switched to the "C" numeric locale. */
static void format_fraction(double f, char *buf, size_t cap)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, f);
        if (strtod(buf, NULL) == f) return;
    }
}

enum split_kind { SPLIT_SKLEARN, SPLIT_CANONICAL, SPLIT_RANDOM, SPLIT_NONE };

struct split_params {
    enum split_kind kind;
    uint32_t sklearn_seed;
    double fraction;
    const char *canonical; /* one of canonical_names */
    char spec[SPEC_MAX];   /* normalized */
};

/* Parses `spec` into p (thread in the "C" numeric locale). Returns MFR_OK or
 * MFR_ERR_INVALID with a message naming the spec and what is expected. */
static int parse_spec(const char *spec, struct split_params *p, mfr_error *err)
{
    memset(p, 0, sizeof *p);
    for (size_t c = 0; c < sizeof canonical_names / sizeof *canonical_names; c++) {
        if (strcmp(spec, canonical_names[c]) == 0) {
            p->kind = SPLIT_CANONICAL;
            p->canonical = canonical_names[c];
            snprintf(p->spec, sizeof p->spec, "%s", canonical_names[c]);
            return MFR_OK;
        }
    }

    if (strcmp(spec, "none") == 0) {
        p->kind = SPLIT_NONE;
        snprintf(p->spec, sizeof p->spec, "none");
        return MFR_OK;
    }

    char frac_text[32];
    if (strncmp(spec, "sklearn:", 8) == 0) {
        const char *seed_text = spec + 8;
        const char *colon = strchr(seed_text, ':');
        size_t seed_len = colon ? (size_t)(colon - seed_text) : strlen(seed_text);
        if (!parse_u32(seed_text, seed_len, &p->sklearn_seed))
            return mfr_seterr(err, MFR_ERR_INVALID,
                              "bad split spec \"%s\": the sklearn seed must be a decimal "
                              "integer in 0..4294967295; " SPEC_EXPECTED,
                              spec);
        p->fraction = SKLEARN_DEFAULT_FRACTION;
        if (colon && !parse_fraction(colon + 1, &p->fraction)) return bad_fraction(spec, err);
        p->kind = SPLIT_SKLEARN;
        format_fraction(p->fraction, frac_text, sizeof frac_text);
        snprintf(p->spec, sizeof p->spec, "sklearn:%" PRIu32 ":%s", p->sklearn_seed,
                 frac_text);
        return MFR_OK;
    }

    if (strncmp(spec, "random:", 7) == 0) {
        if (!parse_fraction(spec + 7, &p->fraction)) return bad_fraction(spec, err);
        p->kind = SPLIT_RANDOM;
        format_fraction(p->fraction, frac_text, sizeof frac_text);
        snprintf(p->spec, sizeof p->spec, "random:%s", frac_text);
        return MFR_OK;
    }

    return mfr_seterr(err, MFR_ERR_INVALID, "unknown split spec \"%s\"; " SPEC_EXPECTED,
                      spec);
}

/* ------------------------------------------------------------------ */
/* Building the parts                                                   */
/* ------------------------------------------------------------------ */

/* A new rating set of the rows of src listed at rows[first .. first +
 * count), in that order (the sklearn split's parts, in permutation order);
 * the row indices are 4 bytes wide unless `wide` (8). A NULL src->ts
 * copies as timestamp 0; without `keep_ts` the copy has no timestamps
 * (read as 0). */
static int gather_rows(const mfr_ratings *src, const void *rows, int64_t first, int64_t count, bool wide,
                       bool keep_ts, mfr_ratings **out, mfr_error *err)
{
    mfr_ratings *r = NULL;
    int rc = mfr_ratings_alloc(count, &r, err);
    if (rc != MFR_OK) return rc;
    if (!keep_ts) free(r->ts), r->ts = NULL;
    const int64_t *rows64 = (const int64_t *)rows + first;
    const uint32_t *rows32 = (const uint32_t *)rows + first;
#pragma omp parallel for schedule(static) num_threads(mfr_setup_threads()) if (count >= MFR_SETUP_PAR_MIN)
    for (int64_t k = 0; k < count; k++) {
        const int64_t row = wide ? rows64[k] : (int64_t)rows32[k];
        MFR_ASSERT(row >= 0 && row < src->n);
        r->user[k] = src->user[row];
        r->item[k] = src->item[row];
        r->rating[k] = src->rating[row];
        if (r->ts) r->ts[k] = src->ts ? src->ts[row] : 0;
    }
    *out = r;
    return MFR_OK;
}

/* The sklearn split; see the file comment for the exact recipe. `lean`:
 * the parts carry no timestamps (training and evaluation never read
 * them; 8 of a copy's 20 bytes a rating). */
static int split_sklearn(const mfr_ratings *all, const struct split_params *p, bool lean,
                         struct mfr_split *s, mfr_error *err)
{
    int64_t n = all->n;
    /* n converts to double exactly below this bound, as it does in Python. */
    if (n > (int64_t)1 << 53)
        return mfr_seterr(err, MFR_ERR_TOO_LARGE,
                          "split %s: %" PRId64 " ratings cannot be split like sklearn "
                          "(more than 2^53)",
                          p->spec, n);
    /* Same expression and rounding as sklearn: float(test_size) * int(n). */
    double test_size = ceil(p->fraction * (double)n);
    if (n < 1 || !(test_size < (double)n))
        return mfr_seterr(err, MFR_ERR_DATA,
                          "split %s: with %" PRId64 " rating%s the training part would be "
                          "empty (sklearn refuses it too)",
                          p->spec, n, n == 1 ? "" : "s");
    int64_t n_test = (int64_t)test_size;
    int64_t n_train = n - n_test;

    /* 4-byte rows below 2^32 ratings (the same permutation: test_split):
     * half the memory the shuffle's swaps and the gathers go through */
    const bool wide = n > (int64_t)UINT32_MAX;
    size_t bytes;
    if (!mfr_mul_size((size_t)n, wide ? sizeof(int64_t) : sizeof(uint32_t), &bytes))
        return mfr_seterr(err, MFR_ERR_TOO_LARGE, "split %s: %" PRId64 " ratings is too many", p->spec, n);
    void *perm = mfr_malloc(bytes);
    if (!perm)
        return mfr_seterr(err, MFR_ERR_NOMEM, "split %s: out of memory for %" PRId64 " row indices", p->spec, n);
    if (wide)
        mfr_mt19937_permutation(p->sklearn_seed, perm, n);
    else
        mfr_mt19937_permutation32(p->sklearn_seed, perm, n);
    int rc = gather_rows(all, perm, 0, n_test, wide, !lean, &s->test, err);
    if (rc == MFR_OK) rc = gather_rows(all, perm, n_test, n_train, wide, !lean, &s->train, err);
    free(perm);
    return rc;
}

/* Unbiased uniform integer in [0, bound) (bound >= 1) from the split stream;
 * *step is the counter, advanced once per 64-bit draw. Values below
 * 2^64 mod bound are rejected, so the remaining range is a multiple of
 * bound (the arc4random_uniform method). */
static uint64_t rng_below(uint64_t seed, uint64_t *step, uint64_t bound)
{
    uint64_t min = (0 - bound) % bound;
    uint64_t x;
    do {
        x = mfr_rng_u64(seed, MFR_RNG_SPLIT, (*step)++);
    } while (x < min);
    return x % bound;
}

#define DRAW_BLOCK ((int64_t)1 << 20) /* 8 MiB of partners: few parallel regions */

/*
 * The swap partners of Fisher-Yates steps i = top, top-1, .. (count of
 * them) into j[0..count), the first draw at counter *step. The draws are
 * computed in parallel assuming that none is rejected (each counter value
 * then serves one step); from the first rejected one, if any (probability
 * below count * top / 2^64), they are drawn one by one as rng_below does.
 * Either way the values are exactly rng_below's.
 */
static void draw_partners(uint64_t seed, uint64_t *step, int64_t top, int64_t count, int64_t *j,
                          int n_threads)
{
    const uint64_t s0 = *step;
    int64_t first_reject = count;
#pragma omp parallel for schedule(static) num_threads(n_threads) reduction(min : first_reject) \
    if (count >= MFR_SETUP_PAR_MIN)
    for (int64_t k = 0; k < count; k++) {
        uint64_t bound = (uint64_t)(top - k) + 1;
        uint64_t x = mfr_rng_u64(seed, MFR_RNG_SPLIT, s0 + (uint64_t)k);
        /* x >= bound implies x >= 2^64 mod bound: no division for the check */
        if (x < bound && x < (0 - bound) % bound && k < first_reject) first_reject = k;
        j[k] = (int64_t)(x % bound);
    }
    *step = s0 + (uint64_t)first_reject;
    for (int64_t k = first_reject; k < count; k++)
        j[k] = (int64_t)rng_below(seed, step, (uint64_t)(top - k) + 1);
}

/* The steps of mark_test_rows over a row array of type T: the identity,
 * the swaps from the top (the partners' lines fetched ahead), the marks.
 * One body for 4-byte rows (n below 2^31: half the memory and cache
 * misses of 8-byte ones) and 8-byte rows. */
#define MARK_TEST_ROWS(T)                                                                             \
    do {                                                                                              \
        T *rows = rows_mem;                                                                           \
        _Pragma("omp parallel for schedule(static) num_threads(nt) if (n >= MFR_SETUP_PAR_MIN)")     \
        for (int64_t i = 0; i < n; i++) rows[i] = (T)i;                                               \
        uint64_t step = 0;                                                                            \
        for (int64_t top = n - 1; top >= n_test && top >= 1; top -= DRAW_BLOCK) {                     \
            int64_t count = top - (n_test > 1 ? n_test : 1) + 1;                                      \
            if (count > DRAW_BLOCK) count = DRAW_BLOCK;                                               \
            draw_partners(seed, &step, top, count, j, nt);                                            \
            for (int64_t k = 0; k < count; k++) {                                                     \
                if (k + 32 < count) __builtin_prefetch(&rows[j[k + 32]], 1);                          \
                int64_t i = top - k;                                                                  \
                T t = rows[i];                                                                        \
                rows[i] = rows[j[k]];                                                                 \
                rows[j[k]] = t;                                                                       \
            }                                                                                         \
        }                                                                                             \
        _Pragma("omp parallel for schedule(static) num_threads(nt) if (n >= MFR_SETUP_PAR_MIN)")     \
        for (int64_t k = 0; k < n_test; k++) is_test[rows[k]] = 1;                                    \
    } while (0)

/*
 * Marks the first n_test entries of the Fisher-Yates permutation of 0..n-1
 * (from the top, one counter value per draw) in is_test (n zero bytes).
 * Steps i < n_test only reorder positions 0..n_test-1 among themselves, so
 * they are not run: the marked set is the same. The partners are drawn a
 * block at a time in parallel; the swaps, a chain through the row array,
 * run in order. The row array (4 or 8 bytes a rating) is freed on return.
 */
static int mark_test_rows(int64_t n, int64_t n_test, uint64_t seed, unsigned char *is_test, const char *spec,
                          mfr_error *err)
{
    const bool narrow = n <= INT32_MAX;
    size_t bytes;
    if (n < 1 || !mfr_mul_size((size_t)n, narrow ? 4 : 8, &bytes))
        return mfr_seterr(err, MFR_ERR_TOO_LARGE, "split %s: %" PRId64 " ratings is too many", spec, n);
    void *rows_mem = mfr_malloc(bytes);
    int64_t *j = mfr_malloc(sizeof(int64_t) * DRAW_BLOCK);
    if (!rows_mem || !j) {
        free(rows_mem), free(j);
        return mfr_seterr(err, MFR_ERR_NOMEM, "split %s: out of memory for %" PRId64 " row indices", spec, n);
    }
    const int nt = mfr_setup_threads();
    if (narrow)
        MARK_TEST_ROWS(uint32_t);
    else
        MARK_TEST_ROWS(int64_t);
    free(j);
    free(rows_mem);
    return MFR_OK;
}
#undef MARK_TEST_ROWS

/* The random split's rows cut into chunks (one a setup thread), with the
 * test rows before each chunk; each part is then copied (or its view's
 * block starts found) chunk by chunk from is_test, in file order, without
 * a list of row indices. */
enum { MAX_CHUNKS = 256 };
struct marked_chunks {
    int chunks;
    int64_t n, tests_before[MAX_CHUNKS + 1];
};

static int64_t chunk_begin(const struct marked_chunks *mc, int c)
{
    return (int64_t)c * (mc->n / mc->chunks) + (int64_t)c * (mc->n % mc->chunks) / mc->chunks;
}

static void count_marks(int64_t n, int64_t n_test, const unsigned char *is_test, struct marked_chunks *mc)
{
    const int nt = mfr_setup_threads();
    mc->n = n;
    mc->chunks = n >= MFR_SETUP_PAR_MIN ? (nt < MAX_CHUNKS ? nt : MAX_CHUNKS) : 1;
#pragma omp parallel for schedule(static, 1) num_threads(nt) if (mc->chunks > 1)
    for (int c = 0; c < mc->chunks; c++) {
        int64_t t = 0;
        for (int64_t i = chunk_begin(mc, c); i < chunk_begin(mc, c + 1); i++) t += is_test[i];
        mc->tests_before[c + 1] = t;
    }
    mc->tests_before[0] = 0;
    for (int c = 0; c < mc->chunks; c++) mc->tests_before[c + 1] += mc->tests_before[c];
    MFR_ASSERT(mc->tests_before[mc->chunks] == n_test);
}

/* Entries of a chunk between releases of a mapped source's pages. */
#define GATHER_RELEASE ((int64_t)1 << 18)

/* Copies the rows of src whose is_test byte is `want` (count of them), in
 * file order, into a new rating set; each chunk releases a mapped
 * source's pages behind itself, so the file never becomes resident.
 * Without `keep_ts` the copy has no timestamps (read as 0). */
static int gather_marked(const mfr_ratings *src, const unsigned char *is_test, unsigned char want,
                         const struct marked_chunks *mc, int64_t count, bool keep_ts, mfr_ratings **out,
                         mfr_error *err)
{
    mfr_ratings *r = NULL;
    int rc = mfr_ratings_alloc(count, &r, err);
    if (rc != MFR_OK) return rc;
    if (!keep_ts) free(r->ts), r->ts = NULL;
#pragma omp parallel for schedule(static, 1) num_threads(mfr_setup_threads()) if (mc->chunks > 1)
    for (int c = 0; c < mc->chunks; c++) {
        const int64_t b = chunk_begin(mc, c), e = chunk_begin(mc, c + 1);
        int64_t k = want ? mc->tests_before[c] : b - mc->tests_before[c];
        for (int64_t i0 = b; i0 < e; i0 += GATHER_RELEASE) {
            const int64_t i1 = i0 + GATHER_RELEASE < e ? i0 + GATHER_RELEASE : e;
            mfr_ratings_populate_rows(src, i0, i1, MFR_ROWS_UIR | (r->ts ? MFR_ROWS_TS : 0u));
            for (int64_t i = i0; i < i1; i++) {
                if (is_test[i] != want) continue;
                r->user[k] = src->user[i];
                r->item[k] = src->item[i];
                r->rating[k] = src->rating[i];
                if (r->ts) r->ts[k] = src->ts ? src->ts[i] : 0;
                k++;
            }
            mfr_ratings_release_rows(src, i0, i1);
        }
    }
    *out = r;
    return MFR_OK;
}

/* The training part as a view of all (dataset_priv.h): the rows whose
 * is_test byte is 0 (n_train of them); each view block's first row is
 * found chunk by chunk. Takes is_test, even on failure. */
static int train_view(const mfr_ratings *all, int64_t n_train, const struct marked_chunks *mc,
                      unsigned char *is_test, mfr_ratings **out, mfr_error *err)
{
    const int64_t n_blocks = (n_train + MFR_VIEW_BLOCK - 1) / MFR_VIEW_BLOCK;
    mfr_ratings *v = mfr_calloc(1, sizeof *v);
    int64_t *base = mfr_malloc(sizeof *base * (size_t)(n_blocks + 1));
    if (!v || !base) {
        free(v), free(base), free(is_test);
        return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory splitting the ratings");
    }
#pragma omp parallel for schedule(static, 1) num_threads(mfr_setup_threads()) if (mc->chunks > 1)
    for (int c = 0; c < mc->chunks; c++) {
        const int64_t b = chunk_begin(mc, c), e = chunk_begin(mc, c + 1);
        int64_t k = b - mc->tests_before[c]; /* training rows before this chunk */
        for (int64_t i = b; i < e; i++)
            if (!is_test[i]) {
                if (k % MFR_VIEW_BLOCK == 0) base[k / MFR_VIEW_BLOCK] = i;
                k++;
            }
    }
    *v = (mfr_ratings){.n = n_train, .user = all->user, .item = all->item, .rating = all->rating, .ts = all->ts,
                       .borrowed = true, .mapped = all->mapped, .skip = is_test, .base_n = all->n,
                       .block_base = base, .view_id = mfr_ratings_new_view_id()};
    *out = v;
    return MFR_OK;
}

static int split_marked(const mfr_ratings *all, const struct split_params *p, int64_t n_test, uint64_t seed,
                        bool lean, struct mfr_split *s, mfr_error *err);

/* The project's own seeded holdout; see the file comment. `lean`: the
 * training part is a view of the dataset's ratings, not a copy, and the
 * test part carries no timestamps (the lean split's are read by training
 * and evaluation only). */
static int split_random(const mfr_ratings *all, const struct split_params *p, uint64_t seed, bool lean,
                        struct mfr_split *s, mfr_error *err)
{
    int64_t n = all->n;
    double test_size = round(p->fraction * (double)n);
    if (!(test_size >= 1.0 && test_size < (double)n))
        return mfr_seterr(err, MFR_ERR_DATA,
                          "split %s: with %" PRId64 " rating%s the %s part would be empty",
                          p->spec, n, n == 1 ? "" : "s", test_size < 1.0 ? "test" : "training");
    return split_marked(all, p, (int64_t)test_size, seed, lean, s, err);
}

/* The parts of a split that marks n_test rows at random (none when
 * n_test is 0: split none, whose test part is empty): see split_random. */
static int split_marked(const mfr_ratings *all, const struct split_params *p, int64_t n_test, uint64_t seed,
                        bool lean, struct mfr_split *s, mfr_error *err)
{
    const int64_t n = all->n, n_train = n - n_test;
    unsigned char *is_test = mfr_calloc((size_t)n, 1);
    if (!is_test) return mfr_seterr(err, MFR_ERR_NOMEM, "split %s: out of memory", p->spec);
    int rc = n_test ? mark_test_rows(n, n_test, seed, is_test, p->spec, err) : MFR_OK;
    struct marked_chunks mc;
    if (rc == MFR_OK) {
        count_marks(n, n_test, is_test, &mc);
        rc = gather_marked(all, is_test, 1, &mc, n_test, !lean, &s->test, err);
    }
    if (rc == MFR_OK && lean) {
        rc = train_view(all, n_train, &mc, is_test, &s->train, err);
        is_test = NULL; /* the view's */
    } else if (rc == MFR_OK) {
        rc = gather_marked(all, is_test, 0, &mc, n_train, true, &s->train, err);
    }
    free(is_test);
    return rc;
}

/* dir/name + suffix, malloc'd, or NULL. */
static char *join_path(const char *dir, const char *name, const char *suffix)
{
    size_t len = strlen(dir) + 1 + strlen(name) + strlen(suffix) + 1;
    char *path = mfr_malloc(len);
    if (path) snprintf(path, len, "%s/%s%s", dir, name, suffix);
    return path;
}

/* A split file's ratings must be the dataset's: a u1.base left beside a
 * replaced u.data (synth --out into a copy of ML-100K, say) would train on
 * other data than the model's fingerprint names. */
static int check_in_dataset(const mfr_dataset *ds, const struct mfr_csr *all, const char *spec, const char *path,
                            const mfr_ratings *part, int64_t first_line, mfr_error *err)
{
    int64_t bad = -1;
    float was = NAN;
    for (int64_t x = 0; x < part->n && bad < 0; x++) {
        /* the user's row of the dataset is sorted by item */
        const int32_t *row = all->item + all->row_ptr[part->user[x]];
        const int64_t len = all->row_ptr[part->user[x] + 1] - all->row_ptr[part->user[x]];
        int64_t lo = 0, hi = len;
        while (lo < hi) {
            const int64_t mid = lo + (hi - lo) / 2;
            if (row[mid] < part->item[x]) lo = mid + 1;
            else hi = mid;
        }
        if (lo < len && row[lo] == part->item[x]) {
            const float r = all->rating[all->row_ptr[part->user[x]] + lo];
            if (r != part->rating[x]) bad = x, was = r;
        } else {
            bad = x;
        }
    }
    if (bad < 0) return MFR_OK;
    const long long u = (long long)mfr_dataset_user_id(ds, part->user[bad]),
                    i = (long long)mfr_dataset_item_id(ds, part->item[bad]);
    if (isnan(was))
        return mfr_seterr(err, MFR_ERR_DATA,
                          "%s:%" PRId64 ": the rating of user %lld, movie %lld is not among the dataset's "
                          "ratings: the files of split %s belong to other data",
                          path, bad + first_line, u, i, spec);
    return mfr_seterr(err, MFR_ERR_DATA,
                      "%s:%" PRId64 ": user %lld gives movie %lld the rating %g, the dataset %g: "
                      "the files of split %s belong to other data",
                      path, bad + first_line, u, i, (double)part->rating[bad], (double)was, spec);
}

/* A fingerprint of a canonical split's two files as read: what its models
 * record, so that files changed later are told apart from the ones trained
 * on. A set fingerprint: the sum of each rating's mixed (dense user, item,
 * rating bits), per part, so that the same ratings in another line order
 * (which train the same model) keep it. Never 0 (0 means "no pin"). */
static uint64_t canonical_pin(const mfr_ratings *train, const mfr_ratings *test)
{
    const mfr_ratings *parts[2] = {train, test};
    uint64_t h = UINT64_C(0x6d66726563706e31); /* "mfrecpn1" */
    for (int p = 0; p < 2; p++) {
        uint64_t sum = 0;
        for (int64_t x = 0; x < parts[p]->n; x++) {
            const uint64_t key = (uint64_t)(uint32_t)parts[p]->user[x] << 32 | (uint32_t)parts[p]->item[x];
            sum += mfr_mix64(mfr_mix64(key ^ (uint64_t)p << 63) + mfr_f32_bits(parts[p]->rating[x]));
        }
        h = mfr_mix64(h ^ mfr_mix64(sum + (uint64_t)parts[p]->n));
    }
    return h ? h : 1;
}

/* The canonical MovieLens split files. */
static int split_canonical(const mfr_dataset *ds, const struct split_params *p,
                           struct mfr_split *s, mfr_error *err)
{
    const char *dir = mfr_dataset_dir(ds);
    int rc = MFR_OK;
    int64_t common = 0, first = -1;
    struct mfr_csr all = {0};
    char *base = join_path(dir, p->canonical, ".base");
    char *test = join_path(dir, p->canonical, ".test");
    if (!base || !test) {
        rc = mfr_seterr(err, MFR_ERR_NOMEM, "split %s: out of memory", p->spec);
        goto fail;
    }
    int64_t base_line = 1, test_line = 1; /* the line of each file's first rating */
    rc = mfr_dataset_read_ratings_at(ds, base, &s->train, &base_line, err);
    if (rc != MFR_OK) goto fail;
    rc = mfr_dataset_read_ratings_at(ds, test, &s->test, &test_line, err);
    if (rc == MFR_OK)
        rc = mfr_csr_build_ratings(mfr_dataset_n_users(ds), mfr_dataset_n_items(ds), mfr_dataset_ratings(ds), 0, &all,
                                   err);
    if (rc == MFR_OK) rc = check_in_dataset(ds, &all, p->spec, base, s->train, base_line, err);
    if (rc == MFR_OK) rc = check_in_dataset(ds, &all, p->spec, test, s->test, test_line, err);
    if (rc == MFR_OK) rc = mfr_ratings_overlap(s->test, s->train, &common, &first, err);
    /* with no rating in both, the two files partition the data exactly
     * when their counts add up to its count: a truncated file does not */
    const int64_t n_all = mfr_ratings_count(mfr_dataset_ratings(ds));
    if (rc == MFR_OK && common == 0 && s->train->n + s->test->n != n_all)
        rc = mfr_seterr(err, MFR_ERR_DATA,
                        "split %s: %s and %s hold %" PRId64 " + %" PRId64 " ratings, the data %" PRId64
                        ": a MovieLens split's two files hold every rating once (is one truncated, or "
                        "left from other data?)",
                        p->spec, base, test, s->train->n, s->test->n, n_all);
    if (rc == MFR_OK) s->train->split_pin = s->test->split_pin = canonical_pin(s->train, s->test);
    /* a held-out rating that is also trained on makes every test metric a lie */
    if (rc == MFR_OK && common > 0)
        rc = mfr_seterr(err, MFR_ERR_DATA,
                        "split %s: %" PRId64 " of the %" PRId64 " ratings of %s are also in %s "
                        "(the first is rating %" PRId64 " of %s); a test file must not repeat "
                        "training ratings",
                        p->spec, common, s->test->n, test, base, first + 1, test);
fail:
    mfr_csr_free(&all);
    free(base);
    free(test);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Positions without copies (the ranks of an MPI run)                   */
/* ------------------------------------------------------------------ */

/* parse_spec with numbers read and written in the "C" locale, for this
 * thread only (uselocale), restored before returning. */
static int parse_spec_c(const char *spec, struct split_params *p, mfr_error *err)
{
    struct mfr_c_locale l;
    if (!mfr_c_locale_begin(&l)) return mfr_seterr(err, MFR_ERR_NOMEM, "split %s: cannot create the C locale", spec);
    int rc = parse_spec(spec, p, err);
    mfr_c_locale_end(&l);
    return rc;
}

/* Whether `spec` (as a caller wrote it, e.g. "sklearn:1") is a split spec
 * whose normalized form (mfr_split_spec) is `normalized` ("sklearn:1:0.25"). */
static bool spec_is(const char *spec, const char *normalized)
{
    struct split_params p;
    return spec && normalized && parse_spec_c(spec, &p, NULL) == MFR_OK && strcmp(p.spec, normalized) == 0;
}

bool mfr_split_specs_same(const char *a, const char *b)
{
    struct split_params p;
    if (!a || !b) return false;
    if (strcmp(a, b) == 0) return true;
    return parse_spec_c(b, &p, NULL) == MFR_OK && spec_is(a, p.spec);
}

int mfr_split_positions(const char *spec, uint64_t seed, int64_t n, uint32_t *pos, int64_t *n_test,
                        char **spec_out, mfr_error *err)
{
    if (spec_out) *spec_out = NULL;
    if (!spec || !pos || !n_test)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_split_positions: an argument is NULL");
    struct split_params p;
    int rc = parse_spec_c(spec, &p, err);
    if (rc != MFR_OK) return rc;
    if (p.kind == SPLIT_CANONICAL)
        return mfr_seterr(err, MFR_ERR_UNSUPPORTED, "split %s reads its own files: its parts have no positions",
                          p.spec);
    if (n < 1 || n > INT32_MAX)
        return mfr_seterr(err, MFR_ERR_TOO_LARGE, "split %s: %" PRId64 " ratings (positions need 1..2^31-1)",
                          p.spec, n);
    if (p.kind == SPLIT_NONE) { /* every rating trains, in file order */
        *n_test = 0;
        for (int64_t f = 0; f < n; f++) pos[f] = (uint32_t)f;
    } else if (p.kind == SPLIT_SKLEARN) { /* the checks and counts of split_sklearn */
        double test_size = ceil(p.fraction * (double)n);
        if (!(test_size < (double)n))
            return mfr_seterr(err, MFR_ERR_DATA,
                              "split %s: with %" PRId64 " rating%s the training part would be "
                              "empty (sklearn refuses it too)",
                              p.spec, n, n == 1 ? "" : "s");
        *n_test = (int64_t)test_size;
        /* test = perm[:n_test], train = perm[n_test:]: rating perm[k] is at
         * k. Inverted by independent stores (in place, following the
         * cycles, was a chain of dependent cache misses: 43% of a rank's
         * setup on 10M ratings). */
        uint32_t *perm = mfr_malloc(sizeof *perm * (size_t)n);
        if (!perm) return mfr_seterr(err, MFR_ERR_NOMEM, "split %s: out of memory", p.spec);
        mfr_mt19937_permutation32(p.sklearn_seed, perm, n);
#pragma omp parallel for schedule(static) num_threads(mfr_setup_threads()) if (n >= MFR_SETUP_PAR_MIN)
        for (int64_t k = 0; k < n; k++) pos[perm[k]] = (uint32_t)k;
        free(perm);
    } else { /* split_random's marks, then each part in file order */
        double test_size = round(p.fraction * (double)n);
        if (!(test_size >= 1.0 && test_size < (double)n))
            return mfr_seterr(err, MFR_ERR_DATA, "split %s: with %" PRId64 " rating%s the %s part would be empty",
                              p.spec, n, n == 1 ? "" : "s", test_size < 1.0 ? "test" : "training");
        *n_test = (int64_t)test_size;
        unsigned char *is_test = mfr_calloc((size_t)n, 1);
        if (!is_test) rc = mfr_seterr(err, MFR_ERR_NOMEM, "split %s: out of memory", p.spec);
        if (rc == MFR_OK) rc = mark_test_rows(n, *n_test, seed, is_test, p.spec, err);
        uint32_t t = 0, r = (uint32_t)*n_test;
        for (int64_t f = 0; rc == MFR_OK && f < n; f++) pos[f] = is_test[f] ? t++ : r++;
        free(is_test);
        if (rc != MFR_OK) return rc;
    }
    if (spec_out && !(*spec_out = mfr_strdup(p.spec)))
        return mfr_seterr(err, MFR_ERR_NOMEM, "split %s: out of memory", p.spec);
    return MFR_OK;
}

/* ------------------------------------------------------------------ */
/* Public API                                                           */
/* ------------------------------------------------------------------ */

/* mfr_split_create and mfr_split_create_lean. */
static int split_create(const mfr_dataset *ds, const char *spec, uint64_t seed, bool lean, mfr_split **out,
                        mfr_error *err)
{
    if (out) *out = NULL;
    if (!ds || !out)
        return mfr_seterr(err, MFR_ERR_INVALID, "%s: %s is NULL",
                          lean ? "mfr_split_create_lean" : "mfr_split_create", !ds ? "dataset" : "out");
    if (!spec) return mfr_seterr(err, MFR_ERR_INVALID, "split spec is NULL; " SPEC_EXPECTED);

    struct split_params p;
    int rc = parse_spec_c(spec, &p, err);
    if (rc != MFR_OK) return rc;

    struct mfr_split *s = mfr_calloc(1, sizeof *s);
    if (!s) return mfr_seterr(err, MFR_ERR_NOMEM, "split %s: out of memory", p.spec);
    s->spec = mfr_strdup(p.spec);
    if (!s->spec) {
        rc = mfr_seterr(err, MFR_ERR_NOMEM, "split %s: out of memory", p.spec);
        goto fail;
    }

    const mfr_ratings *all = mfr_dataset_ratings(ds);
    switch (p.kind) {
    case SPLIT_SKLEARN: rc = split_sklearn(all, &p, lean, s, err); break;
    case SPLIT_RANDOM: rc = split_random(all, &p, seed, lean, s, err); break;
    case SPLIT_CANONICAL: rc = split_canonical(ds, &p, s, err); break;
    case SPLIT_NONE: rc = split_marked(all, &p, 0, seed, lean, s, err); break;
    }
    if (rc != MFR_OK) goto fail;
    /* The parts are copies: the dataset's mapped rating pages leave this
     * process's resident memory (they stay in the page cache, and a later
     * read of the dataset's ratings maps them back in). */
    if (p.kind != SPLIT_CANONICAL) mfr_dataset_release_pages(ds);
    *out = s;
    return MFR_OK;

fail:
    mfr_split_destroy(s);
    return rc;
}

int mfr_split_create(const mfr_dataset *ds, const char *spec, uint64_t seed, mfr_split **out,
                     mfr_error *err)
{
    return split_create(ds, spec, seed, false, out, err);
}

int mfr_split_create_lean(const mfr_dataset *ds, const char *spec, uint64_t seed, mfr_split **out,
                          mfr_error *err)
{
    return split_create(ds, spec, seed, true, out, err);
}

const mfr_ratings *mfr_split_train(const mfr_split *s) { return s ? s->train : NULL; }

const mfr_ratings *mfr_split_test(const mfr_split *s) { return s ? s->test : NULL; }

const char *mfr_split_spec(const mfr_split *s) { return s ? s->spec : NULL; }

void mfr_split_destroy(mfr_split *s)
{
    if (!s) return;
    mfr_ratings_destroy(s->train);
    mfr_ratings_destroy(s->test);
    free(s->spec);
    free(s);
}
