/*
 * synth.c — planted low-rank datasets in the MovieLens 100K layout (the
 * "Synthetic data" section of mfrec.h).
 *
 * Why: tests, benchmarks and scaling runs need data of any size whose true
 * structure is known, so that a rank >= `rank` factorization can be checked
 * to recover it, without shipping MovieLens. The files look like ML-100K to
 * every reader: u.data, u.item, u.user, u.genre and u.occupation.
 *
 * Model (all draws from the counter RNG of rng_priv.h, so every number is a
 * pure function of the options):
 *
 *   P_u, Q_i ~ N(0, I_rank), b_u ~ N(0, 0.3^2), b_i ~ N(0, 0.35^2)
 *   score(u, i) = 3.6 + b_u + b_i + 0.9 * <P_u, Q_i> / sqrt(rank)
 *                 + noise * N(0, 1)
 *   rating = clamp(round(score), 1, 5)
 *
 * The low-rank term has variance ~0.81, the biases ~0.21 together, so the
 * planted factors dominate; after rounding and clamping the ratings have
 * mean ~3.5 and standard deviation ~1.1, as in ML-100K.
 *
 * DESIGN
 *
 * Who rates what. Item popularity is Zipf-like: the item with popularity
 * rank r (1-based; ranks are a random permutation of item ids) has weight
 * proportional to 1/r^item_zipf. Weights are stored as integers (scaled so
 * that their sum stays below 2^62, every weight >= 1) so that removing an
 * item from the sampling tree and putting it back is exact. User degrees
 * follow 1/r^user_zipf over a random permutation of users, scaled by a
 * bisection on the scale factor so that clamp(c * w, lo, n_items) sums to
 * n_ratings, floored, and the remainder handed out in activity order: the
 * sum is exactly n_ratings, every user has >= 1 rating when
 * n_ratings >= n_users and no user more than n_items.
 *
 * Coverage. When n_ratings >= n_items every item is first given to one
 * user: a random permutation of the items is cut into consecutive blocks,
 * user u taking min(d_u, t - 1) items, plus one for the first users (by id)
 * with d_u >= t until the count is exact, where t is the smallest level
 * with sum_u min(d_u, t) >= n_items. This is the round-robin "one item per user
 * per pass" assignment written in closed form, so no per-user state is
 * needed. The rest of each user's ratings are drawn by popularity.
 *
 * Sampling without replacement, per user. While the items the user already
 * has hold less than half the total weight, items are drawn in O(1) from
 * an alias table and duplicates rejected with a bitmap (>= 1/2 acceptance,
 * so at most 2 expected draws per rating). Once they hold half or more (a
 * heavy user, or a steep Zipf exponent where a few items hold most of the
 * mass) rejection would crawl, so the user's items are subtracted from a
 * Fenwick tree over the integer weights and the remaining draws are exact,
 * one O(log n_items) descent per rating. The tree and the bitmap are
 * restored item by item afterwards (exactly: integer weights), so a user
 * costs O(d_u log n_items) at worst, whatever its degree.
 *
 * Internally items are indexed by popularity rank, not by id (weights,
 * tables, bitmap, factors, biases; ids only at output), so the items most
 * draws hit are contiguous and cache-resident; the rows of the rest are
 * prefetched as soon as they are chosen. On a 10M-rating, 1M x 1M run, cache misses on the
 * id-indexed factor rows and Fenwick descents took ~60% of the time (perf).
 *
 * Memory is O(n_users + n_items * rank + max degree), about 25 MB for
 * 100M ratings of 700k users x 100k items: users are generated
 * and written one at a time (their factors are drawn on the fly), never the
 * whole rating list. Output is formatted by hand into a 1 MiB buffer.
 *
 * Determinism. Per-user draws use a per-user key (stream SYNTH+7 indexed by
 * the user) as the seed of the draw, noise and timestamp streams, so the
 * counter of one user never depends on how many draws another user
 * rejected. Streams used: MFR_RNG_SYNTH + 0..14. The output depends on the
 * options and on the libm of the build (pow, log, cos), as the trainer's
 * does.
 *
 * Files are written with mfr_write_atomic, metadata first and u.data last,
 * so a failure never leaves a half-written file and a missing u.data marks
 * an incomplete directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "common_priv.h"
#include "rng_priv.h"

/* Streams, relative to MFR_RNG_SYNTH. Never renumber (determinism). */
enum {
    S_ITEM_FACTOR = 0, /* Q, normal, index i * rank + d */
    S_USER_FACTOR = 1, /* P, normal, index u * rank + d */
    S_ITEM_BIAS = 2,   /* normal, index i */
    S_USER_BIAS = 3,   /* normal, index u */
    S_ITEM_PERM = 4,   /* popularity ranks, Fisher-Yates */
    S_USER_PERM = 5,   /* activity ranks, Fisher-Yates */
    S_COVER_PERM = 6,  /* order in which items are handed out for coverage */
    S_USER_KEY = 7,    /* per-user key, index u */
    S_DRAW = 8,        /* keyed by the user key: item draws */
    S_NOISE = 9,       /* keyed by the user key: rating noise (normal) */
    S_TIME = 10,       /* keyed by the user key: timestamp offsets */
    S_USER_SPAN = 11,  /* user's active window, index 2u and 2u + 1 */
    S_ITEM_META = 12,  /* release date and genres, index 4i + k */
    S_USER_AGE = 13,   /* normal, index u */
    S_USER_META = 14,  /* sex, occupation, zip, index 4u + k */
};

#define SYNTH_MAX_RANK 1024
#define SYNTH_MAX_ZIPF 5.0
#define SYNTH_MEAN 3.6
#define SYNTH_SCALE 0.9 /* weight of the low-rank term */
#define SYNTH_USER_BIAS_STD 0.3
#define SYNTH_ITEM_BIAS_STD 0.35
/* ML-100K's first and last timestamps (1997-09-20 .. 1998-04-22). */
#define SYNTH_T_FIRST INT64_C(874724710)
#define SYNTH_T_LAST INT64_C(893286638)
#define SYNTH_DAY 86400

#define BUF_BYTES ((size_t)1 << 20)
#define LINE_MAX_BYTES 512 /* longest line any writer emits, with room */

static const char *const genre_names[19] = {
    "unknown", "Action",    "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror",     "Musical", "Mystery",
    "Romance", "Sci-Fi",    "Thriller",  "War",       "Western",
};

static const char *const occupation_names[21] = {
    "administrator", "artist",     "doctor",    "educator",  "engineer",   "entertainment",
    "executive",     "healthcare", "homemaker", "lawyer",    "librarian",  "marketing",
    "none",          "other",      "programmer", "retired",  "salesman",   "scientist",
    "student",       "technician", "writer",
};

static const char *const month_names[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                             "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void mfr_synth_options_default(mfr_synth_options *opt)
{
    if (!opt) return;
    memset(opt, 0, sizeof *opt);
    opt->n_users = 943;
    opt->n_items = 1682;
    opt->n_ratings = 100000;
    opt->rank = 8;
    opt->noise = 0.5f;
    opt->seed = 1;
    opt->item_zipf = 1.0;
    opt->user_zipf = 0.8;
}

/* ------------------------------------------------------------------ */
/* Random helpers                                                       */
/* ------------------------------------------------------------------ */

static inline uint64_t rng_u64(uint64_t seed, int stream, uint64_t index)
{
    return mfr_rng_u64(seed, (uint64_t)(MFR_RNG_SYNTH + stream), index);
}

/* Box-Muller on two uniforms of the same key. The trainer's initialization
 * moved to the libm-free mfr_rng_normal; synthetic data keeps this draw so
 * that every recorded synthetic set (tests/data/torch_golden, the 10M and
 * 100M measurements) keeps its bytes. Like the Zipf weights' pow below, it
 * depends on libm's last bits. */
static double rng_normal(uint64_t seed, int stream, uint64_t index)
{
    uint64_t st = (uint64_t)(MFR_RNG_SYNTH + stream);
    uint64_t a = mfr_rng_u64(seed, st, 2 * index), b = mfr_rng_u64(seed, st, 2 * index + 1);
    double u1 = ((double)(a >> 11) + 1.0) * 0x1.0p-53; /* (0, 1] */
    double u2 = (double)(b >> 11) * 0x1.0p-53;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* High 64 bits of the 128-bit product a * b (portable, no __int128). */
static inline uint64_t mulhi64(uint64_t a, uint64_t b)
{
    uint64_t a_lo = (uint32_t)a, a_hi = a >> 32;
    uint64_t b_lo = (uint32_t)b, b_hi = b >> 32;
    uint64_t lo_lo = a_lo * b_lo, hi_lo = a_hi * b_lo;
    uint64_t lo_hi = a_lo * b_hi, hi_hi = a_hi * b_hi;
    uint64_t cross = (lo_lo >> 32) + (uint32_t)hi_lo + lo_hi;
    return hi_hi + (hi_lo >> 32) + (cross >> 32);
}

/* Uniform integer in [0, n) from 64 random bits (multiply-shift; the bias
 * is below n / 2^64). n >= 1. */
static inline uint64_t below(uint64_t bits, uint64_t n) { return mulhi64(bits, n); }

/* Fills perm[0..n) with a permutation of 0..n-1 drawn by Fisher-Yates on
 * stream `stream` (draw j uses index j). */
static void random_permutation(int32_t *perm, int32_t n, uint64_t seed, int stream)
{
    for (int32_t j = 0; j < n; j++) perm[j] = j;
    for (int32_t j = n - 1; j > 0; j--) {
        int32_t k = (int32_t)below(rng_u64(seed, stream, (uint64_t)j), (uint64_t)j + 1);
        int32_t t = perm[j];
        perm[j] = perm[k];
        perm[k] = t;
    }
}

/* ------------------------------------------------------------------ */
/* Fenwick tree over integer item weights                               */
/* ------------------------------------------------------------------ */

/* tree[1..n] (1-based); tree[0] unused. Item i (0-based) is node i + 1. */
static void fen_build(uint64_t *tree, const uint64_t *w, int32_t n)
{
    tree[0] = 0;
    for (int32_t i = 1; i <= n; i++) tree[i] = w[i - 1];
    for (int64_t i = 1; i <= n; i++) {
        int64_t j = i + (i & -i);
        if (j <= n) tree[j] += tree[i];
    }
}

static inline void fen_add(uint64_t *tree, int32_t n, int32_t item, uint64_t delta)
{
    /* Unsigned wrap-around makes "add -w" exact. */
    for (int64_t j = (int64_t)item + 1; j <= n; j += j & -j) tree[j] += delta;
}

/* The item whose cumulative weight interval contains x (x < current total):
 * the smallest item with prefix sum > x. Items of weight 0 are never
 * returned. `top` is the largest power of two <= n. */
static inline int32_t fen_find(const uint64_t *tree, int32_t n, int64_t top, uint64_t x)
{
    int64_t pos = 0;
    for (int64_t step = top; step > 0; step >>= 1) {
        int64_t nx = pos + step;
        if (nx <= n && tree[nx] <= x) {
            pos = nx;
            x -= tree[nx];
        }
    }
    return (int32_t)pos;
}

/* ------------------------------------------------------------------ */
/* Alias table (Walker/Vose) over the same weights                      */
/* ------------------------------------------------------------------ */

/* Column j of n: keep j when the fraction part of the draw is below thr
 * (a probability scaled to 2^64), else take alias. */
typedef struct alias_entry {
    uint64_t thr;
    int32_t alias;
} alias_entry;

/* Builds tab[0..n) for weights w (sum total) with Vose's method. `work` is
 * n int32 of scratch (small columns grow from the front, large ones from
 * the back); `p` is n doubles of scratch. Deterministic: fixed order. */
static void alias_build(alias_entry *tab, const uint64_t *w, uint64_t total, int32_t n,
                        int32_t *work, double *p)
{
    int32_t n_small = 0, n_large = 0;
    for (int32_t j = 0; j < n; j++) {
        p[j] = (double)w[j] * (double)n / (double)total;
        if (p[j] < 1.0)
            work[n_small++] = j;
        else
            work[n - 1 - n_large++] = j;
    }
    while (n_small > 0 && n_large > 0) {
        int32_t sm = work[--n_small];
        int32_t lg = work[n - n_large]; /* top of the large stack */
        tab[sm].thr = (uint64_t)(p[sm] * 0x1.0p64); /* p < 1 here */
        tab[sm].alias = lg;
        p[lg] = (p[lg] + p[sm]) - 1.0;
        if (p[lg] < 1.0) {
            n_large--;
            work[n_small++] = lg;
        }
    }
    /* What is left is full (up to rounding): always keep the column. */
    while (n_small > 0) {
        int32_t j = work[--n_small];
        tab[j].thr = UINT64_MAX;
        tab[j].alias = j;
    }
    while (n_large > 0) {
        int32_t j = work[n - n_large--];
        tab[j].thr = UINT64_MAX;
        tab[j].alias = j;
    }
}

/* One draw from 64 random bits: the high half of bits * n picks the
 * column, the low half is the uniform fraction compared with thr. */
static inline int32_t alias_draw(const alias_entry *tab, int32_t n, uint64_t bits)
{
    uint64_t j = mulhi64(bits, (uint64_t)n);
    uint64_t frac = bits * (uint64_t)n;
    return frac < tab[j].thr ? (int32_t)j : tab[j].alias;
}

/* ------------------------------------------------------------------ */
/* Output buffer                                                        */
/* ------------------------------------------------------------------ */

/* What every file writer gets as its mfr_write_atomic context. */
typedef struct file_ctx {
    struct synth *s;
    const char *path; /* for messages */
} file_ctx;

typedef struct out_buf {
    FILE *f;
    const char *path; /* for messages */
    char *buf;
    size_t len;
} out_buf;

static int ob_flush(out_buf *ob, mfr_error *err)
{
    if (ob->len > 0 && fwrite(ob->buf, 1, ob->len, ob->f) != ob->len)
        return mfr_seterr(err, MFR_ERR_IO, "cannot write %s: %s", ob->path, strerror(errno));
    ob->len = 0;
    return MFR_OK;
}

/* Makes room for one line; returns the write position or NULL on error. */
static inline char *ob_line(out_buf *ob, mfr_error *err)
{
    if (BUF_BYTES - ob->len < LINE_MAX_BYTES && ob_flush(ob, err) != MFR_OK) return NULL;
    return ob->buf + ob->len;
}

static inline void ob_commit(out_buf *ob, const char *end)
{
    ob->len = (size_t)(end - ob->buf);
}

/* Decimal digits of v at p; returns the end. */
static inline char *put_u64(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) *p++ = tmp[--n];
    return p;
}

/* v with exactly `width` digits, zero padded (v < 10^width). */
static inline char *put_padded(char *p, uint64_t v, int width)
{
    for (int k = width - 1; k >= 0; k--) {
        p[k] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

static inline char *put_str(char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

/* ------------------------------------------------------------------ */
/* Generator state                                                      */
/* ------------------------------------------------------------------ */

typedef struct synth {
    mfr_synth_options opt;
    int32_t n_users, n_items, rank;

    /* Item-side arrays are indexed by popularity rank r (0 = most
     * popular), not by id, so the items most draws hit are contiguous
     * and stay in cache; ids appear only in the output (item_of). */
    int32_t *item_of; /* n_items: item id of rank r */
    float *q;         /* n_items x rank item factors, by rank */
    float *item_bias; /* n_items, by rank */
    uint64_t *w;      /* n_items integer popularity weights, by rank */
    uint64_t *tree;   /* n_items + 1, Fenwick tree over w */
    alias_entry *alias; /* n_items, alias table over w */
    uint64_t total;   /* sum of w */
    int64_t top;      /* largest power of two <= n_items */

    int32_t *deg;   /* n_users ratings per user */
    int32_t max_deg;
    int32_t *cover; /* n_items coverage order (ranks), NULL when not covering */
    int32_t cover_level; /* t: users take min(d_u, t - 1) ... */
    int64_t cover_extra; /* ... plus one for the first cover_extra users with d_u >= t */

    uint64_t *bitmap; /* n_items bits by rank, all clear between users */
    int32_t *chosen;  /* max_deg item ranks of the current user */
    double *p_u;      /* rank factors of the current user */
    char *buf;        /* BUF_BYTES output buffer */
    double planted_sq; /* sum over ratings of (noise-free planted score - rating)^2 */
} synth;

static void synth_free(synth *s)
{
    free(s->item_of);
    free(s->q);
    free(s->item_bias);
    free(s->w);
    free(s->tree);
    free(s->alias);
    free(s->deg);
    free(s->cover);
    free(s->bitmap);
    free(s->chosen);
    free(s->p_u);
    free(s->buf);
}

/* malloc of n elements of `size` bytes with an overflow check; sets *status
 * on failure (TOO_LARGE on overflow, NOMEM when malloc fails). */
static void *alloc_array(size_t n, size_t size, const char *what, int *status,
                         mfr_error *err)
{
    size_t bytes;
    if (!mfr_mul_size(n, size, &bytes)) {
        *status = mfr_seterr(err, MFR_ERR_TOO_LARGE, "synthetic %s: %zu x %zu bytes overflows",
                             what, n, size);
        return NULL;
    }
    void *p = mfr_malloc(bytes ? bytes : 1);
    if (!p)
        *status = mfr_seterr(err, MFR_ERR_NOMEM, "out of memory allocating synthetic %s (%zu bytes)",
                             what, bytes);
    return p;
}

static int validate(const mfr_synth_options *o, mfr_error *err)
{
    if (o->n_users < 1)
        return mfr_seterr(err, MFR_ERR_INVALID, "n_users must be >= 1, got %d", (int)o->n_users);
    if (o->n_items < 1)
        return mfr_seterr(err, MFR_ERR_INVALID, "n_items must be >= 1, got %d", (int)o->n_items);
    /* Both are positive int32, so the product fits in int64. */
    int64_t max_ratings = (int64_t)o->n_users * (int64_t)o->n_items;
    if (o->n_ratings < 1 || o->n_ratings > max_ratings)
        return mfr_seterr(err, MFR_ERR_INVALID, "n_ratings must be in 1..%lld, got %lld",
                          (long long)max_ratings, (long long)o->n_ratings);
    if (o->rank < 1 || o->rank > SYNTH_MAX_RANK)
        return mfr_seterr(err, MFR_ERR_INVALID, "rank must be in 1..%d, got %d",
                          SYNTH_MAX_RANK, (int)o->rank);
    if (!isfinite(o->noise) || !(o->noise >= 0.0f))
        return mfr_seterr(err, MFR_ERR_INVALID, "noise must be finite and >= 0, got %g",
                          (double)o->noise);
    if (!(o->item_zipf >= 0.0 && o->item_zipf <= SYNTH_MAX_ZIPF))
        return mfr_seterr(err, MFR_ERR_INVALID, "item_zipf must be in [0, 5], got %g",
                          o->item_zipf);
    if (!(o->user_zipf >= 0.0 && o->user_zipf <= SYNTH_MAX_ZIPF))
        return mfr_seterr(err, MFR_ERR_INVALID, "user_zipf must be in [0, 5], got %g",
                          o->user_zipf);
    return MFR_OK;
}

/* Popularity ranks, integer weights and the Fenwick tree over them, item
 * factors and biases (drawn by item id, stored by rank). */
static void setup_items(synth *s, int32_t *work, double *p)
{
    const int32_t n = s->n_items;
    const uint64_t seed = s->opt.seed;
    const double a = s->opt.item_zipf;

    double h = 0.0;
    for (int32_t r = 1; r <= n; r++) h += pow((double)r, -a);
    /* Sum of floor(scale / r^a) <= 2^61, plus 1 per item: below 2^62. */
    double scale = 0x1.0p61 / h;
    random_permutation(s->item_of, n, seed, S_ITEM_PERM);
    uint64_t total = 0;
    for (int32_t r = 0; r < n; r++) {
        s->w[r] = (uint64_t)(scale * pow((double)r + 1.0, -a)) + 1;
        total += s->w[r];
    }
    s->total = total;
    fen_build(s->tree, s->w, n);
    alias_build(s->alias, s->w, total, n, work, p);
    int64_t top = 1;
    while (top * 2 <= n) top *= 2;
    s->top = top;

    const int32_t rank = s->rank;
    for (int32_t r = 0; r < n; r++) {
        uint64_t i = (uint64_t)s->item_of[r];
        for (int32_t d = 0; d < rank; d++)
            s->q[(size_t)r * (size_t)rank + (size_t)d] =
                (float)rng_normal(seed, S_ITEM_FACTOR, i * (uint64_t)rank + (uint64_t)d);
        s->item_bias[r] = (float)(SYNTH_ITEM_BIAS_STD * rng_normal(seed, S_ITEM_BIAS, i));
    }
}

/* Sum over ranks of clamp(c * w_r, lo, hi). */
static double degree_sum(const double *w, int32_t n, double c, double lo, double hi)
{
    double sum = 0.0;
    for (int32_t r = 0; r < n; r++) {
        double d = c * w[r];
        sum += d < lo ? lo : d > hi ? hi : d;
    }
    return sum;
}

/* Degrees by activity rank into dr[0..n) (nonincreasing), summing exactly
 * to n_ratings, each in [lo, hi]. wtmp holds n doubles of scratch. */
static void degrees_by_rank(int32_t *dr, double *wtmp, int32_t n, int64_t n_ratings,
                            int32_t lo, int32_t hi, double zipf)
{
    for (int32_t r = 0; r < n; r++) wtmp[r] = pow((double)r + 1.0, -zipf);
    /* Bisection on the scale c: degree_sum is continuous and nondecreasing,
     * 0-ish at c = 0 and n * hi >= n_ratings at c = hi / w_min. */
    double c_lo = 0.0, c_hi = (double)hi / wtmp[n - 1];
    for (int it = 0; it < 200; it++) {
        double mid = 0.5 * (c_lo + c_hi);
        if (mid <= c_lo || mid >= c_hi) break;
        if (degree_sum(wtmp, n, mid, lo, hi) < (double)n_ratings)
            c_lo = mid;
        else
            c_hi = mid;
    }
    int64_t sum = 0;
    for (int32_t r = 0; r < n; r++) {
        double d = c_hi * wtmp[r];
        d = d < lo ? lo : d > hi ? hi : d;
        dr[r] = (int32_t)floor(d);
        sum += dr[r];
    }
    /* Hand out the rounding remainder to the most active users first (or
     * take back an excess from the least active), keeping dr nonincreasing
     * and within [lo, hi]. Feasible since n * lo <= n_ratings <= n * hi. */
    while (sum < n_ratings)
        for (int32_t r = 0; r < n && sum < n_ratings; r++)
            if (dr[r] < hi) {
                dr[r]++;
                sum++;
            }
    while (sum > n_ratings)
        for (int32_t r = n - 1; r >= 0 && sum > n_ratings; r--)
            if (dr[r] > lo) {
                dr[r]--;
                sum--;
            }
}

/* User degrees (deg by user id) and the coverage plan. perm and dr are
 * n_users int32 scratch, wtmp n_users doubles. */
static void setup_users(synth *s, int32_t *perm, int32_t *dr, double *wtmp)
{
    const int32_t n = s->n_users;
    const int64_t nr = s->opt.n_ratings;
    int32_t lo = nr >= n ? 1 : 0;
    degrees_by_rank(dr, wtmp, n, nr, lo, s->n_items, s->opt.user_zipf);
    random_permutation(perm, n, s->opt.seed, S_USER_PERM); /* perm[rank] = user */
    int32_t max_deg = 0;
    for (int32_t r = 0; r < n; r++) {
        s->deg[perm[r]] = dr[r];
        if (dr[r] > max_deg) max_deg = dr[r];
    }
    s->max_deg = max_deg;

    if (s->cover) {
        /* Smallest t with sum_u min(d_u, t) >= n_items; exists because the
         * sum at t = max_deg is n_ratings >= n_items. */
        int32_t t_lo = 1, t_hi = max_deg;
        while (t_lo < t_hi) {
            int32_t mid = t_lo + (t_hi - t_lo) / 2;
            int64_t g = 0;
            for (int32_t u = 0; u < n; u++) g += s->deg[u] < mid ? s->deg[u] : mid;
            if (g >= s->n_items)
                t_hi = mid;
            else
                t_lo = mid + 1;
        }
        int64_t below_t = 0; /* sum_u min(d_u, t - 1) < n_items */
        for (int32_t u = 0; u < n; u++)
            below_t += s->deg[u] < t_lo - 1 ? s->deg[u] : t_lo - 1;
        s->cover_level = t_lo;
        s->cover_extra = s->n_items - below_t;
    }
}

/* ------------------------------------------------------------------ */
/* u.data                                                               */
/* ------------------------------------------------------------------ */

static inline bool bit_test(const uint64_t *bm, int32_t i)
{
    return (bm[(uint32_t)i >> 6] >> ((uint32_t)i & 63)) & 1;
}
static inline void bit_set(uint64_t *bm, int32_t i)
{
    bm[(uint32_t)i >> 6] |= UINT64_C(1) << ((uint32_t)i & 63);
}
static inline void bit_clear(uint64_t *bm, int32_t i)
{
    bm[(uint32_t)i >> 6] &= ~(UINT64_C(1) << ((uint32_t)i & 63));
}

/* Starts loading what the rating loop will read of item rank i: choosing a
 * user's items and rating them are separate passes, so for the rare
 * (uncached) items the loads overlap the remaining draws. */
static inline void prefetch_item(const synth *s, int32_t i)
{
    __builtin_prefetch(s->q + (size_t)i * (size_t)s->rank);
    __builtin_prefetch(s->item_bias + i);
    __builtin_prefetch(s->item_of + i);
}

/* Picks the d distinct items of user u into s->chosen: first its coverage
 * block cover[*cover_pos ..], then popularity draws keyed by ukey (see
 * DESIGN). Leaves the chosen items' bits set and, when it switched to
 * exact sampling, their weights removed from the tree (*exact = true). */
static void choose_items(synth *s, int32_t d, int32_t n_cover, int64_t *cover_pos,
                         uint64_t ukey, bool *exact)
{
    const int32_t n_items = s->n_items;
    int32_t *chosen = s->chosen;
    int32_t n = 0;
    uint64_t mass = 0; /* weight of the items chosen so far */

    for (int32_t k = 0; k < n_cover; k++) {
        int32_t i = s->cover[*cover_pos + k];
        chosen[n++] = i;
        bit_set(s->bitmap, i);
        mass += s->w[i];
        prefetch_item(s, i);
    }
    *cover_pos += n_cover;

    bool ex = false;
    uint64_t remaining = s->total; /* tree total while exact */
    uint64_t j = 0;                /* draw counter of this user */
    while (n < d) {
        if (!ex && mass >= s->total - mass) {
            /* The user's items hold >= 1/2 of the weight: rejection would
             * slow down, so remove them and sample exactly. */
            ex = true;
            for (int32_t k = 0; k < n; k++) fen_add(s->tree, n_items, chosen[k], -s->w[chosen[k]]);
            remaining = s->total - mass;
        }
        uint64_t bits = rng_u64(ukey, S_DRAW, j++);
        if (!ex) {
            int32_t i = alias_draw(s->alias, n_items, bits);
            if (bit_test(s->bitmap, i)) continue; /* duplicate: reject */
            chosen[n++] = i;
            bit_set(s->bitmap, i);
            mass += s->w[i];
            prefetch_item(s, i);
        } else {
            int32_t i = fen_find(s->tree, n_items, s->top, below(bits, remaining));
            MFR_ASSERT(!bit_test(s->bitmap, i));
            chosen[n++] = i;
            bit_set(s->bitmap, i);
            prefetch_item(s, i);
            fen_add(s->tree, n_items, i, -s->w[i]);
            remaining -= s->w[i];
        }
    }
    *exact = ex;
}

static int write_data(FILE *f, void *ctx, mfr_error *err)
{
    file_ctx *dc = ctx;
    synth *s = dc->s;
    const uint64_t seed = s->opt.seed;
    const int32_t rank = s->rank;
    const double dot_scale = SYNTH_SCALE / sqrt((double)rank);
    const double noise = (double)s->opt.noise;
    out_buf ob = {f, dc->path, s->buf, 0};

    int64_t cover_pos = 0, cover_extra_left = s->cover_extra;
    for (int32_t u = 0; u < s->n_users; u++) {
        int32_t d = s->deg[u];
        if (d == 0) continue;

        /* Coverage share: min(d, t - 1), plus one while extras remain. */
        int32_t n_cover = 0;
        if (s->cover) {
            int32_t t = s->cover_level;
            n_cover = d < t - 1 ? d : t - 1;
            if (d >= t && cover_extra_left > 0) {
                n_cover++;
                cover_extra_left--;
            }
        }

        uint64_t ukey = rng_u64(seed, S_USER_KEY, (uint64_t)u);
        bool exact;
        choose_items(s, d, n_cover, &cover_pos, ukey, &exact);

        for (int32_t k = 0; k < rank; k++)
            s->p_u[k] = rng_normal(seed, S_USER_FACTOR, (uint64_t)u * (uint64_t)rank + (uint64_t)k);
        double b_u = SYNTH_USER_BIAS_STD * rng_normal(seed, S_USER_BIAS, (uint64_t)u);

        /* The user rates within a window of 1 hour to 30 days inside the
         * ML-100K time range. */
        int64_t span = 3600 + (int64_t)below(rng_u64(seed, S_USER_SPAN, 2 * (uint64_t)u),
                                             30 * SYNTH_DAY - 3600);
        int64_t start = SYNTH_T_FIRST +
                        (int64_t)below(rng_u64(seed, S_USER_SPAN, 2 * (uint64_t)u + 1),
                                       (uint64_t)(SYNTH_T_LAST - SYNTH_T_FIRST - span));

        for (int32_t k = 0; k < d; k++) {
            int32_t i = s->chosen[k]; /* popularity rank */
            const float *q = s->q + (size_t)i * (size_t)rank;
            double dot = 0.0;
            for (int32_t c = 0; c < rank; c++) dot += s->p_u[c] * (double)q[c];
            double clean = SYNTH_MEAN + b_u + (double)s->item_bias[i] + dot_scale * dot;
            double score = clean;
            if (noise > 0.0) score += noise * rng_normal(ukey, S_NOISE, (uint64_t)k);
            int r = score < 1.5 ? 1 : score < 2.5 ? 2 : score < 3.5 ? 3 : score < 4.5 ? 4 : 5;
            s->planted_sq += (clean - r) * (clean - r);
            int64_t ts = start + (int64_t)below(rng_u64(ukey, S_TIME, (uint64_t)k), (uint64_t)span);

            char *p = ob_line(&ob, err);
            if (!p) return err ? err->status : MFR_ERR_IO;
            p = put_u64(p, (uint64_t)u + 1);
            *p++ = '\t';
            p = put_u64(p, (uint64_t)s->item_of[i] + 1);
            *p++ = '\t';
            *p++ = (char)('0' + r);
            *p++ = '\t';
            p = put_u64(p, (uint64_t)ts);
            *p++ = '\n';
            ob_commit(&ob, p);
        }

        /* Restore the tree and the bitmap for the next user. */
        for (int32_t k = 0; k < d; k++) {
            int32_t i = s->chosen[k];
            bit_clear(s->bitmap, i);
            if (exact) fen_add(s->tree, s->n_items, i, s->w[i]);
        }
    }
    return ob_flush(&ob, err);
}

/* The first bytes of planted.txt: what marks a directory as synth's. */
static const char SYNTH_MARK[] = "# mfrec synth";

/* planted.txt before the data files: the mark alone (ctx: its path) */
static int write_mark(FILE *f, void *ctx, mfr_error *err)
{
    if (fprintf(f, "%s: writing (the planted RMSE comes with the last file)\n", SYNTH_MARK) < 0)
        return mfr_seterr(err, MFR_ERR_IO, "cannot write %s", (const char *)ctx);
    return MFR_OK;
}

/* planted.txt: the planted model's own RMSE on the ratings it produced (the
 * floor a learned model can approach), written after u.data. Plain
 * "key value" lines, printed without locale dependence. */
static int write_planted(FILE *f, void *ctx, mfr_error *err)
{
    file_ctx *pc = ctx;
    synth *s = pc->s;
    double rmse = sqrt(s->planted_sq / (double)s->opt.n_ratings);
    /* %.6f with the C locale's '.': the library never calls setlocale, but a
     * host program may have; format the digits by hand to be safe. */
    char num[64];
    int64_t micro = (int64_t)llround(rmse * 1e6);
    snprintf(num, sizeof num, "%lld.%06lld", (long long)(micro / 1000000), (long long)(micro % 1000000));
    if (fprintf(f,
                "%s: the noise-free planted score's RMSE against the ratings\n"
                "planted_rmse %s\nrank %d\nratings %lld\n",
                SYNTH_MARK, num, (int)s->rank, (long long)s->opt.n_ratings) < 0)
        return mfr_seterr(err, MFR_ERR_IO, "cannot write %s", pc->path);
    return MFR_OK;
}

/* ------------------------------------------------------------------ */
/* Metadata files                                                       */
/* ------------------------------------------------------------------ */

static int write_item(FILE *f, void *ctx, mfr_error *err)
{
    file_ctx *mc = ctx;
    synth *s = mc->s;
    const uint64_t seed = s->opt.seed;
    out_buf ob = {f, mc->path, s->buf, 0};
    for (int32_t i = 0; i < s->n_items; i++) {
        uint64_t base = 4 * (uint64_t)i;
        uint64_t x = rng_u64(seed, S_ITEM_META, base);
        /* Mostly the 1990s, as in ML-100K; the rest 1930..1989. */
        int year = below(x, 10) < 6 ? 1990 + (int)below(x << 8, 9) : 1930 + (int)below(x << 8, 60);
        uint64_t y = rng_u64(seed, S_ITEM_META, base + 1);
        int day = 1 + (int)below(y, 28);
        int month = (int)below(y << 16, 12);
        /* One to three genres among 1..18 ("unknown" stays 0). */
        uint64_t g = rng_u64(seed, S_ITEM_META, base + 2);
        uint32_t genres = 0;
        int count = 1 + (int)(g % 3);
        for (int c = 0; c < count; c++) genres |= 1u << (1 + (int)((g >> (8 + 16 * c)) % 18));

        char *p = ob_line(&ob, err);
        if (!p) return err ? err->status : MFR_ERR_IO;
        uint64_t id = (uint64_t)i + 1;
        p = put_u64(p, id);
        p = put_str(p, "|Synthetic Movie ");
        p = put_u64(p, id);
        p = put_str(p, " (");
        p = put_padded(p, (uint64_t)year, 4);
        p = put_str(p, ")|");
        p = put_padded(p, (uint64_t)day, 2);
        *p++ = '-';
        p = put_str(p, month_names[month]);
        *p++ = '-';
        p = put_padded(p, (uint64_t)year, 4);
        p = put_str(p, "||http://example.invalid/");
        p = put_u64(p, id);
        for (int c = 0; c < 19; c++) {
            *p++ = '|';
            *p++ = (genres >> c) & 1 ? '1' : '0';
        }
        *p++ = '\n';
        ob_commit(&ob, p);
    }
    return ob_flush(&ob, err);
}

static int write_user(FILE *f, void *ctx, mfr_error *err)
{
    file_ctx *mc = ctx;
    synth *s = mc->s;
    const uint64_t seed = s->opt.seed;
    out_buf ob = {f, mc->path, s->buf, 0};
    for (int32_t u = 0; u < s->n_users; u++) {
        double a = 32.0 + 11.0 * rng_normal(seed, S_USER_AGE, (uint64_t)u);
        int age = a < 7.0 ? 7 : a > 73.0 ? 73 : (int)floor(a + 0.5);
        uint64_t base = 4 * (uint64_t)u;
        char sex = below(rng_u64(seed, S_USER_META, base), 100) < 71 ? 'M' : 'F';
        int occ = (int)below(rng_u64(seed, S_USER_META, base + 1), 21);
        uint64_t zip = below(rng_u64(seed, S_USER_META, base + 2), 100000);

        char *p = ob_line(&ob, err);
        if (!p) return err ? err->status : MFR_ERR_IO;
        p = put_u64(p, (uint64_t)u + 1);
        *p++ = '|';
        p = put_u64(p, (uint64_t)age);
        *p++ = '|';
        *p++ = sex;
        *p++ = '|';
        p = put_str(p, occupation_names[occ]);
        *p++ = '|';
        p = put_padded(p, zip, 5);
        *p++ = '\n';
        ob_commit(&ob, p);
    }
    return ob_flush(&ob, err);
}

static int write_genre(FILE *f, void *ctx, mfr_error *err)
{
    file_ctx *mc = ctx;
    out_buf ob = {f, mc->path, mc->s->buf, 0};
    for (int g = 0; g < 19; g++) {
        char *p = ob_line(&ob, err);
        if (!p) return err ? err->status : MFR_ERR_IO;
        p = put_str(p, genre_names[g]);
        *p++ = '|';
        p = put_u64(p, (uint64_t)g);
        *p++ = '\n';
        ob_commit(&ob, p);
    }
    return ob_flush(&ob, err);
}

static int write_occupation(FILE *f, void *ctx, mfr_error *err)
{
    file_ctx *mc = ctx;
    out_buf ob = {f, mc->path, mc->s->buf, 0};
    for (int o = 0; o < 21; o++) {
        char *p = ob_line(&ob, err);
        if (!p) return err ? err->status : MFR_ERR_IO;
        p = put_str(p, occupation_names[o]);
        *p++ = '\n';
        ob_commit(&ob, p);
    }
    return ob_flush(&ob, err);
}

/* ------------------------------------------------------------------ */
/* Entry point                                                          */
/* ------------------------------------------------------------------ */

/* Creates dir when missing; an existing directory is fine. */
static int ensure_dir(const char *dir, mfr_error *err)
{
    if (mkdir(dir, 0755) == 0) return MFR_OK;
    int e = errno;
    struct stat st;
    if (e == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) return MFR_OK;
    if (e == EEXIST)
        return mfr_seterr(err, MFR_ERR_IO, "cannot create directory %s: exists and is not a directory",
                          dir);
    return mfr_seterr(err, MFR_ERR_IO, "cannot create directory %s: %s", dir, strerror(e));
}

/* The memory mfr_synth_write allocates below (in double: no overflow). */
static double memory_bytes(const mfr_synth_options *o)
{
    const synth *s = NULL; /* for the element sizes only */
    const double nu = (double)o->n_users, ni = (double)o->n_items;
    const double per_item = (double)(sizeof *s->item_of + sizeof *s->item_bias + sizeof *s->w +
                                     sizeof *s->tree + sizeof *s->alias + sizeof *s->cover +
                                     sizeof *s->chosen) +
                            (double)o->rank * (double)sizeof *s->q + 1.0 / 8;
    const double per_user = (double)(sizeof *s->deg + sizeof(int32_t));
    const double scratch = (nu > ni ? nu : ni) * (double)(sizeof(int32_t) + sizeof(double));
    return ni * per_item + nu * per_user + scratch + (double)BUF_BYTES;
}

static double digits(int64_t n)
{
    double d = 1;
    for (; n >= 10; n /= 10) d++;
    return d;
}

/* An upper bound of the bytes the files take (in double: no overflow),
 * from the longest line each writer emits: ids of the largest id's width,
 * a nine-digit timestamp (SYNTH_T_FIRST..SYNTH_T_LAST), the longest
 * occupation, and the fixed text of write_item and write_planted. */
static double disk_bytes(const mfr_synth_options *o)
{
    const double du = digits(o->n_users), di = digits(o->n_items);
    size_t occ = 0, names = 0;
    for (int k = 0; k < 21; k++) {
        size_t n = strlen(occupation_names[k]);
        occ = n > occ ? n : occ;
        names += n + 1;
    }
    for (int g = 0; g < 19; g++) names += strlen(genre_names[g]) + 4;
    const double data_line = du + di + 14;  /* u \t i \t r \t 9-digit time \n */
    const double item_line = 3 * di + 100; /* id, title, date, URL, 19 genre flags */
    const double user_line = du + (double)occ + 13; /* id|age|sex|occupation|zip */
    return (double)o->n_ratings * data_line + (double)o->n_items * item_line +
           (double)o->n_users * user_line + (double)names + 256 /* planted.txt */;
}

static uint64_t to_bytes(double x) { return x >= 0x1p64 ? UINT64_MAX : (uint64_t)ceil(x); }

int mfr_synth_estimate(const mfr_synth_options *opt, uint64_t *memory, uint64_t *disk,
                       mfr_error *err)
{
    mfr_synth_options defaults;
    if (!opt) {
        mfr_synth_options_default(&defaults);
        opt = &defaults;
    }
    int rc = validate(opt, err);
    if (rc != MFR_OK) return rc;
    if (memory) *memory = to_bytes(memory_bytes(opt));
    if (disk) *disk = to_bytes(disk_bytes(opt));
    return MFR_OK;
}

/* The memory budget, checked before the first allocation, like training. */
static int check_budget(const mfr_synth_options *o, mfr_error *err)
{
    const double need = memory_bytes(o);
    const uint64_t budget = o->max_memory ? o->max_memory : mfr_physical_memory();
    char a[16], b[16];
    if (budget && need > (double)budget)
        return mfr_seterr(err, MFR_ERR_TOO_LARGE,
                          "synthetic data of %d users and %d items needs %s, more than "
                          "the memory budget of %s",
                          (int)o->n_users, (int)o->n_items, mfr_size_text(need, a), mfr_size_text((double)budget, b));
    return MFR_OK;
}

/* True when dir/planted.txt is a regular file that starts with the mark.
 * Opened non-blocking and read only when regular: a FIFO of that name
 * blocked the check in open (it is no mark, like any other non-regular
 * file). */
static bool has_synth_mark(const char *path)
{
    char head[sizeof SYNTH_MARK - 1];
    const int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    const bool marked = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
                        read(fd, head, sizeof head) == (ssize_t)sizeof head && !memcmp(head, SYNTH_MARK, sizeof head);
    if (fd >= 0) close(fd);
    return marked;
}

/* mfr_synth_write's mkdir makes one level: dir must be a directory, or
 * missing with a directory as its parent. Checked with the files, so that
 * a path it cannot use is refused before the setup allocates anything
 * (and mfr_synth_check_dir's OK means the write can go ahead). `path` has
 * room for dir. */
static int check_dir_path(const char *dir, char *path, size_t cap, mfr_error *err)
{
    struct stat st;
    if (stat(dir, &st) == 0)
        return S_ISDIR(st.st_mode) ? MFR_OK
                                   : mfr_seterr(err, MFR_ERR_IO,
                                                "cannot create directory %s: exists and is not a directory",
                                                dir);
    if (errno != ENOENT)
        return mfr_seterr(err, MFR_ERR_IO, "cannot create directory %s: %s", dir, strerror(errno));
    snprintf(path, cap, "%s", dir);
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') path[--n] = '\0';
    char *slash = strrchr(path, '/');
    if (!slash) snprintf(path, cap, ".");
    else slash[slash == path] = '\0'; /* "/x": the parent is "/" */
    if (stat(path, &st) != 0)
        return mfr_seterr(err, MFR_ERR_IO, "cannot create directory %s: %s: %s", dir, path,
                          strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return mfr_seterr(err, MFR_ERR_IO, "cannot create directory %s: %s is not a directory", dir,
                          path);
    return MFR_OK;
}

int mfr_synth_check_dir(const char *dir, mfr_error *err)
{
    if (!dir || !*dir) return mfr_seterr(err, MFR_ERR_INVALID, "dir must be a non-empty path");
    static const char *const ours[] = {"u.data", "u.item", "u.user", "u.genre", "u.occupation"};
    /* another dataset's files, which new ones would contradict (folds of
     * other ratings, other layouts the loader would prefer or mix in) */
    static const char *const others[] = {
        "u1.base", "u1.test", "u2.base", "u2.test", "u3.base", "u3.test", "u4.base", "u4.test",
        "u5.base", "u5.test", "ua.base", "ua.test", "ub.base", "ub.test", "u.info", "ratings.dat",
        "movies.dat", "users.dat", "ratings.csv", "movies.csv"};
    const size_t cap = strlen(dir) + 32;
    char *path = malloc(cap);
    if (!path) return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory");
    struct stat st;
    int rc = check_dir_path(dir, path, cap, err);
    for (size_t f = 0; f < sizeof others / sizeof *others && rc == MFR_OK; f++) {
        snprintf(path, cap, "%s/%s", dir, others[f]);
        if (lstat(path, &st) == 0)
            rc = mfr_seterr(err, MFR_ERR_IO,
                            "%s holds %s, a file of another dataset that synth would leave beside its new files: "
                            "choose a new directory or one without a dataset",
                            dir, path);
    }
    /* The writers refuse to replace what is not a regular file; refused
     * here, before planted.txt's early mark replaces an earlier synth's,
     * so that such a directory is left whole rather than half rewritten. */
    const size_t n_ours = sizeof ours / sizeof *ours;
    const char *found = NULL;
    for (size_t f = 0; f <= n_ours && rc == MFR_OK; f++) {
        snprintf(path, cap, "%s/%s", dir, f < n_ours ? ours[f] : "planted.txt");
        if (lstat(path, &st) != 0) continue;
        if (!S_ISREG(st.st_mode)) /* named as what it is: a directory, a FIFO, ... */
            rc = mfr_seterr(err, MFR_ERR_IO, "%s holds %s, %s where synth writes a regular file: not replacing it",
                            dir, path, mfr_file_kind(st.st_mode));
        else if (!found && f < n_ours)
            found = ours[f];
    }
    /* a planted.txt of the user's own, without a dataset, is theirs too
     * (checked only when the files above passed: a planted.txt that is a
     * directory is no mark either, and its refusal above is the one that
     * says what is wrong, not "no planted.txt of mfrec synth") */
    snprintf(path, cap, "%s/planted.txt", dir);
    const bool planted = rc == MFR_OK && lstat(path, &st) == 0;
    if (rc == MFR_OK && (found || planted) && !has_synth_mark(path))
        rc = found ? mfr_seterr(err, MFR_ERR_IO,
                                "%s holds a dataset (%s/%s) that synth did not write (no planted.txt of mfrec "
                                "synth): it would be replaced; choose a new directory or one without a dataset",
                                dir, dir, found)
                   : mfr_seterr(err, MFR_ERR_IO,
                                "%s holds %s, a file that synth did not write (it does not start as mfrec "
                                "synth's planted.txt): it would be replaced; choose a new directory",
                                dir, path);
    free(path);
    return rc;
}

/*
 * Contract: `opt` NULL means the defaults; `dir` must be a non-empty path
 * whose parent exists, and pass mfr_synth_check_dir. Validates every option
 * (MFR_ERR_INVALID naming the field and value) and allocates everything
 * before writing anything. On success dir holds planted.txt, u.genre,
 * u.occupation, u.item, u.user and u.data; on failure files already
 * completed stay (planted.txt's mark among them), none is half-written.
 */
int mfr_synth_write(const mfr_synth_options *opt, const char *dir, mfr_error *err)
{
    mfr_synth_options defaults;
    if (!opt) {
        mfr_synth_options_default(&defaults);
        opt = &defaults;
    }
    if (!dir || !*dir)
        return mfr_seterr(err, MFR_ERR_INVALID, "dir must be a non-empty path");
    int rc = validate(opt, err);
    if (rc != MFR_OK || (rc = mfr_synth_check_dir(dir, err)) != MFR_OK) return rc;

    synth s;
    memset(&s, 0, sizeof s);
    if ((rc = check_budget(opt, err)) != MFR_OK) return rc;
    s.opt = *opt;
    s.n_users = opt->n_users;
    s.n_items = opt->n_items;
    s.rank = opt->rank;
    /* Scratch for setup: max(n_users, n_items) int32 and doubles, and
     * n_users degrees by activity rank. */
    int32_t *work = NULL, *deg_by_rank = NULL;
    double *dwork = NULL;
    char *path = NULL;
    rc = MFR_OK;

    const size_t nu = (size_t)s.n_users, ni = (size_t)s.n_items;
    const size_t n_work = nu > ni ? nu : ni;
    const size_t dir_len = strlen(dir);
    size_t q_len;
    if (!mfr_mul_size(ni, (size_t)s.rank, &q_len)) {
        rc = mfr_seterr(err, MFR_ERR_TOO_LARGE, "synthetic item factors: %zu x %d overflows", ni,
                        (int)s.rank);
        goto fail;
    }
    if (!(s.item_of = alloc_array(ni, sizeof *s.item_of, "item ranks", &rc, err))) goto fail;
    if (!(s.q = alloc_array(q_len, sizeof *s.q, "item factors", &rc, err))) goto fail;
    if (!(s.item_bias = alloc_array(ni, sizeof *s.item_bias, "item biases", &rc, err))) goto fail;
    if (!(s.w = alloc_array(ni, sizeof *s.w, "item weights", &rc, err))) goto fail;
    if (!(s.tree = alloc_array(ni + 1, sizeof *s.tree, "item tree", &rc, err))) goto fail;
    if (!(s.alias = alloc_array(ni, sizeof *s.alias, "alias table", &rc, err))) goto fail;
    if (!(s.bitmap = mfr_calloc((ni + 63) / 64, sizeof *s.bitmap))) {
        rc = mfr_seterr(err, MFR_ERR_NOMEM, "out of memory allocating synthetic item bitmap");
        goto fail;
    }
    if (!(s.deg = alloc_array(nu, sizeof *s.deg, "user degrees", &rc, err))) goto fail;
    if (!(s.p_u = alloc_array((size_t)s.rank, sizeof *s.p_u, "user factors", &rc, err))) goto fail;
    if (!(s.buf = alloc_array(BUF_BYTES, 1, "output buffer", &rc, err))) goto fail;
    if (opt->n_ratings >= opt->n_items &&
        !(s.cover = alloc_array(ni, sizeof *s.cover, "coverage order", &rc, err)))
        goto fail;

    if (!(work = alloc_array(n_work, sizeof *work, "scratch", &rc, err))) goto fail;
    if (!(dwork = alloc_array(n_work, sizeof *dwork, "scratch", &rc, err))) goto fail;
    if (!(deg_by_rank = alloc_array(nu, sizeof *deg_by_rank, "user degrees", &rc, err)))
        goto fail;
    setup_items(&s, work, dwork);
    if (s.cover) random_permutation(s.cover, s.n_items, opt->seed, S_COVER_PERM);
    setup_users(&s, work, deg_by_rank, dwork);
    free(work);
    free(dwork);
    free(deg_by_rank);
    work = deg_by_rank = NULL;
    dwork = NULL;
    if (!(s.chosen = alloc_array((size_t)s.max_deg, sizeof *s.chosen, "user items", &rc, err)))
        goto fail;

    rc = ensure_dir(dir, err);
    if (rc != MFR_OK) goto fail;

    if (!(path = alloc_array(dir_len + 32, 1, "path", &rc, err))) goto fail;
    /* the mark first, so that a run cut short (a full disk) leaves files
     * that a second run may replace; the planted RMSE over it at the end */
    snprintf(path, dir_len + 32, "%s/planted.txt", dir);
    if ((rc = mfr_write_atomic(path, write_mark, path, err)) != MFR_OK) goto fail;
    static const struct {
        const char *name;
        mfr_write_fn fn;
    } files[] = {
        {"u.genre", write_genre}, {"u.occupation", write_occupation}, {"u.item", write_item},
        {"u.user", write_user},   {"u.data", write_data}, {"planted.txt", write_planted},
    };
    for (size_t k = 0; k < sizeof files / sizeof *files; k++) {
        snprintf(path, dir_len + 32, "%s/%s", dir, files[k].name);
        file_ctx ctx = {&s, path};
        rc = mfr_write_atomic(path, files[k].fn, &ctx, err);
        if (rc != MFR_OK) goto fail;
    }

fail:
    free(path);
    free(work);
    free(dwork);
    free(deg_by_rank);
    synth_free(&s);
    return rc;
}
