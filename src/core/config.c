/*
 * config.c — the table of configuration fields, and the defaults,
 * validation and text parsing derived from it. Defaults reproduce the
 * teaching notebook's experiment (Adam, lr 1e-3, dim 30, N(0, 1) init).
 *
 * DESIGN
 * - One row per mfr_config member holds everything said about that field
 *   (flag, type, ranges, default, model-file tag, help), so adding a field
 *   means adding a row; model_io.c reads the tags and member offsets from
 *   here (config_priv.h) and the mfrec tool its flags and help (mfrec.h).
 * - Rows are in the order mfr_config_validate has always checked fields,
 *   so the first error reported for a configuration stays the same.
 * - Two ranges per field: the wider one mfr_config_validate accepts, and
 *   the one mfr_config_set accepts from text, which leaves out 0
 *   ("automatic") for shards and threads, as mfrec's flags always have.
 * - Text is read and written in the "C" numeric locale, switched for the
 *   calling thread only (uselocale), so no process-wide state changes.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "config_priv.h"
#include "mfrec_build_info.h"

static const char *const reduce_names[] = {"auto", "shard", "owner"};
static const char *const kernels_names[] = {"auto", "ref", "avx2", "avx512"};
static const char *const optimizer_names[] = {"adam", "sgd", "als"};

/* The member's offset and size, so that each row names its member once. */
#define MEMBER(m) .offset = offsetof(mfr_config, m), .size = sizeof(((mfr_config *)0)->m)

static const struct mfr_config_row rows[] = {
    {{.name = "k", .flag = "--dim", .metavar = "K", .type = MFR_CONFIG_INT32,
      .group = MFR_CONFIG_GROUP_MODEL, .lo = 1, .hi = MFR_MAX_K,
      .help = "embedding dimension"},
     MEMBER(k), .tag = 1, .check = MFR_CHECK_RANGE, .vmin = 1, .vmax = MFR_MAX_K, .def = 30},
    {{.name = "lr", .flag = "--lr", .metavar = "X", .type = MFR_CONFIG_DOUBLE,
      .group = MFR_CONFIG_GROUP_OPTIMIZER, .lo = 1e-12, .hi = 1e6,
      .help = "learning rate (Adam's, or the descent step)"},
     MEMBER(lr), .tag = 2, .check = MFR_CHECK_POSITIVE, .def = 1e-3},
    {{.name = "beta1", .flag = "--beta1", .metavar = "X", .type = MFR_CONFIG_DOUBLE,
      .group = MFR_CONFIG_GROUP_OPTIMIZER, .lo = 0, .hi = 0.999999,
      .help = "Adam's first-moment decay"},
     MEMBER(beta1), .tag = 3, .check = MFR_CHECK_UNIT, .def = 0.9},
    {{.name = "beta2", .flag = "--beta2", .metavar = "X", .type = MFR_CONFIG_DOUBLE,
      .group = MFR_CONFIG_GROUP_OPTIMIZER, .lo = 0, .hi = 0.9999999,
      .help = "Adam's second-moment decay"},
     MEMBER(beta2), .tag = 4, .check = MFR_CHECK_UNIT, .def = 0.999},
    {{.name = "eps", .flag = "--eps", .metavar = "X", .type = MFR_CONFIG_DOUBLE,
      .group = MFR_CONFIG_GROUP_OPTIMIZER, .lo = 1e-30, .hi = 1,
      .help = "Adam's denominator constant"},
     MEMBER(eps), .tag = 5, .check = MFR_CHECK_POSITIVE, .def = 1e-8},
    {{.name = "init_std", .flag = "--init-std", .metavar = "X", .type = MFR_CONFIG_DOUBLE,
      .group = MFR_CONFIG_GROUP_MODEL, .lo = 0, .hi = 1e6,
      .help = "std of the N(0, X^2) initialization"},
     MEMBER(init_std), .tag = 6, .check = MFR_CHECK_NONNEG, .def = 1.0},
    {{.name = "seed", .flag = "--seed", .metavar = "S", .type = MFR_CONFIG_UINT64,
      .group = MFR_CONFIG_GROUP_MODEL,
      .help = "initialization (and random: split) seed"},
     MEMBER(seed), .tag = 7, .check = MFR_CHECK_NONE, .def = 300},
    {{.name = "n_shards", .flag = "--shards", .metavar = "N", .type = MFR_CONFIG_INT32,
      .group = MFR_CONFIG_GROUP_EXECUTION, .lo = 1, .hi = 65536, .help = "user shards",
      .default_help = "derived from the data"},
     MEMBER(n_shards), .tag = 8, .check = MFR_CHECK_RANGE, .vmin = 0, .vmax = 65536},
    {{.name = "reduce", .flag = "--reduce", .metavar = "auto|shard|owner", .type = MFR_CONFIG_ENUM,
      .group = MFR_CONFIG_GROUP_EXECUTION, .lo = MFR_REDUCE_AUTO, .hi = MFR_REDUCE_OWNER,
      .value_names = reduce_names, .n_values = 3,
      .help = "item-gradient reduction; auto: shard buffers when they are at most 32 bytes per "
              "training rating, else item owners (docs/PERFORMANCE.md)"},
     MEMBER(reduce), .tag = 9, .check = MFR_CHECK_ENUM, .def = MFR_REDUCE_AUTO},
    {{.name = "kernels", .flag = "--kernels", .metavar = "auto|ref|avx2|avx512",
      .type = MFR_CONFIG_ENUM, .group = MFR_CONFIG_GROUP_EXECUTION, .lo = MFR_KERNELS_AUTO,
      .hi = MFR_KERNELS_AVX512, .value_names = kernels_names, .n_values = 4,
      .help = "kernel set (results are identical); auto: avx512 on CPUs with AVX-512F, else avx2, else ref"},
     MEMBER(kernels), .tag = 10, .check = MFR_CHECK_ENUM, .def = MFR_KERNELS_AUTO},
    {{.name = "n_threads", .flag = "--threads", .metavar = "N", .type = MFR_CONFIG_INT32,
      .group = MFR_CONFIG_GROUP_EXECUTION, .lo = 1, .hi = MFR_MAX_THREADS, .execution_only = 1,
      .help = "worker threads",
      .default_help = "measured: 1 or $OMP_NUM_THREADS, else all cores, the faster"},
     MEMBER(n_threads), .check = MFR_CHECK_RANGE, .vmin = 0, .vmax = MFR_MAX_THREADS},
    {{.name = "max_memory", .flag = "--max-memory", .metavar = "SIZE",
      .type = MFR_CONFIG_BYTES, .group = MFR_CONFIG_GROUP_EXECUTION, .execution_only = 1,
      .help = "refuse configurations needing more memory", .default_help = "RAM"},
     MEMBER(max_memory), .check = MFR_CHECK_NONE},
    {{.name = "l2", .flag = "--l2", .metavar = "X", .type = MFR_CONFIG_DOUBLE,
      .group = MFR_CONFIG_GROUP_MODEL, .lo = 0, .hi = 1e9,
      .help = "L2 weight: X (1/N sum |U_u|^2 + 1/M sum |V_i|^2)"},
     MEMBER(l2), .tag = 11, .check = MFR_CHECK_NONNEG},
    {{.name = "gravity", .flag = "--gravity", .metavar = "X", .type = MFR_CONFIG_DOUBLE,
      .group = MFR_CONFIG_GROUP_MODEL, .lo = 0, .hi = 1e9,
      .help = "gravity weight: X/(M N) sum_u sum_i <U_u, V_i>^2"},
     MEMBER(gravity), .tag = 12, .check = MFR_CHECK_NONNEG},
    {{.name = "l2_freq", .flag = "--l2-freq", .metavar = "X", .type = MFR_CONFIG_DOUBLE,
      .group = MFR_CONFIG_GROUP_MODEL, .lo = 0, .hi = 1e9,
      .help = "rating-weighted L2: X/|R| sum over ratings of |U_u|^2 + |V_i|^2"},
     MEMBER(l2_freq), .tag = 15, .check = MFR_CHECK_NONNEG},
    {{.name = "bias", .flag = "--bias", .metavar = "", .type = MFR_CONFIG_FLAG,
      .group = MFR_CONFIG_GROUP_MODEL, .lo = 0, .hi = 1,
      .help = "learn user and movie biases (prediction b_u + b_i + <U_u, V_i>)"},
     MEMBER(bias), .tag = 13, .check = MFR_CHECK_FLAG},
    {{.name = "l2_bias", .flag = "--l2-bias", .metavar = "X", .type = MFR_CONFIG_DOUBLE,
      .group = MFR_CONFIG_GROUP_MODEL, .lo = 0, .hi = 1e9,
      .help = "bias L2 (needs --bias): X (1/N sum b_u^2 + 1/M sum (b_i-mu)^2)"},
     MEMBER(l2_bias), .tag = 16, .check = MFR_CHECK_NONNEG},
    {{.name = "implicit", .flag = "--implicit", .metavar = "X", .type = MFR_CONFIG_DOUBLE,
      .group = MFR_CONFIG_GROUP_MODEL, .lo = 0, .hi = 1e9,
      .help = "implicit feedback (SVD++) with L2 X/M sum |Y_j|^2; 0: off"},
     MEMBER(implicit), .tag = 17, .check = MFR_CHECK_NONNEG},
    {{.name = "l1_items", .flag = "--l1-items", .metavar = "X", .type = MFR_CONFIG_DOUBLE,
      .group = MFR_CONFIG_GROUP_MODEL, .lo = 0, .hi = 1e9,
      .help = "L1 on the movie vectors: X/M sum_i |V_i|_1"},
     MEMBER(l1_items), .tag = 18, .check = MFR_CHECK_NONNEG},
    {{.name = "gravity_bias", .flag = "--gravity-bias", .metavar = "X", .type = MFR_CONFIG_DOUBLE,
      .group = MFR_CONFIG_GROUP_MODEL, .lo = 0, .hi = 1e9,
      .help = "gravity on ranking scores, item bias included: X/(M N) sum (b_i+<U,V>)^2"},
     MEMBER(gravity_bias), .tag = 19, .check = MFR_CHECK_NONNEG},
    {{.name = "item_prior_drop", .flag = "--item-prior-drop", .metavar = "X", .type = MFR_CONFIG_DOUBLE,
      .group = MFR_CONFIG_GROUP_MODEL, .lo = 0, .hi = 1e9,
      .help = "bias L2 pulls movie biases towards mu - X, not mu (needs --l2-bias)"},
     MEMBER(item_prior_drop), .tag = 21, .check = MFR_CHECK_NONNEG},
    {{.name = "rank_prior", .flag = "--rank-prior", .metavar = "X", .type = MFR_CONFIG_DOUBLE,
      .group = MFR_CONFIG_GROUP_MODEL, .lo = 0, .hi = 100,
      .help = "rank a user's movies by score + X ln(1 + training ratings): a popularity prior "
              "(not used in training or predictions)"},
     MEMBER(rank_prior), .tag = 22, .check = MFR_CHECK_NONNEG},
    {{.name = "optimizer", .flag = "--optimizer", .metavar = "adam|sgd|als",
      .type = MFR_CONFIG_ENUM, .group = MFR_CONFIG_GROUP_OPTIMIZER, .lo = MFR_OPTIMIZER_ADAM,
      .hi = MFR_OPTIMIZER_ALS, .value_names = optimizer_names, .n_values = 3,
      .help = "Adam, plain full-batch gradient descent, or alternating least squares (needs "
              "--l2 or --l2-freq; no gravity, L1 or implicit feedback)"},
     MEMBER(optimizer), .tag = 14, .check = MFR_CHECK_ENUM, .def = MFR_OPTIMIZER_ADAM},
    {{.name = "als_cg", .flag = "--als-cg", .metavar = "N", .type = MFR_CONFIG_INT32,
      .group = MFR_CONFIG_GROUP_OPTIMIZER, .lo = 0, .hi = 64,
      .help = "with --optimizer als: N conjugate-gradient iterations per row, from its current "
              "value, instead of the exact solve (0)"},
     MEMBER(als_cg), .tag = 20, .check = MFR_CHECK_RANGE, .vmin = 0, .vmax = 64, .def = 0},
};

enum { N_ROWS = (int)(sizeof rows / sizeof *rows) };

/* The row of a descriptor handed out by mfr_config_field_at, else NULL. */
static const struct mfr_config_row *row_of(const mfr_config_field *f)
{
    for (int r = 0; r < N_ROWS; r++)
        if (&rows[r].field == f) return &rows[r];
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Private accessors (config_priv.h)                                    */
/* ------------------------------------------------------------------ */

static void *member(mfr_config *cfg, const struct mfr_config_row *row, size_t size)
{
    MFR_ASSERT(row->size == size);
    return (char *)cfg + row->offset;
}

int32_t *mfr_config_i32(mfr_config *cfg, const struct mfr_config_row *row)
{
    int32_t t = row->field.type;
    MFR_ASSERT(t == MFR_CONFIG_INT32 || t == MFR_CONFIG_ENUM || t == MFR_CONFIG_FLAG);
    return member(cfg, row, sizeof(int32_t));
}

uint64_t *mfr_config_u64(mfr_config *cfg, const struct mfr_config_row *row)
{
    int32_t t = row->field.type;
    MFR_ASSERT(t == MFR_CONFIG_UINT64 || t == MFR_CONFIG_BYTES);
    return member(cfg, row, sizeof(uint64_t));
}

double *mfr_config_f64(mfr_config *cfg, const struct mfr_config_row *row)
{
    MFR_ASSERT(row->field.type == MFR_CONFIG_DOUBLE);
    return member(cfg, row, sizeof(double));
}

const struct mfr_config_row *mfr_config_row_by_tag(uint32_t tag)
{
    for (int r = 0; tag != 0 && r < N_ROWS; r++)
        if (rows[r].tag == tag) return &rows[r];
    return NULL;
}

uint32_t mfr_config_tag_end(void)
{
    uint32_t end = 1;
    for (int r = 0; r < N_ROWS; r++)
        if (rows[r].tag >= end) end = rows[r].tag + 1;
    return end;
}

/* ------------------------------------------------------------------ */
/* Defaults and validation                                              */
/* ------------------------------------------------------------------ */

void mfr_config_default(mfr_config *cfg)
{
    if (!cfg) return;
    *cfg = (mfr_config){0};
    for (int r = 0; r < N_ROWS; r++) {
        const struct mfr_config_row *row = &rows[r];
        switch (row->field.type) {
        case MFR_CONFIG_DOUBLE: *mfr_config_f64(cfg, row) = row->def; break;
        case MFR_CONFIG_UINT64:
        case MFR_CONFIG_BYTES: *mfr_config_u64(cfg, row) = (uint64_t)row->def; break;
        default: *mfr_config_i32(cfg, row) = (int32_t)row->def; break;
        }
    }
}

/* "0 (default), 1 (shard) or 2 (owner)" into buf. */
static void enum_choices(const mfr_config_field *f, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int v = 0; v < f->n_values && len < size; v++) {
        const char *sep = v == 0 ? "" : v + 1 == f->n_values ? " or " : ", ";
        int n = snprintf(buf + len, size - len, "%s%d (%s)", sep, v, f->value_names[v]);
        if (n < 0) break;
        len += (size_t)n;
    }
}

static int check_row(const mfr_config *cfg, const struct mfr_config_row *row, mfr_error *err)
{
    mfr_config *c = (mfr_config *)cfg; /* the accessors only read here */
    const char *name = row->field.name;
    int32_t i;
    double d;
    char choices[128];
    switch (row->check) {
    case MFR_CHECK_NONE: return MFR_OK;
    case MFR_CHECK_RANGE:
        i = *mfr_config_i32(c, row);
        if (i >= row->vmin && i <= row->vmax) return MFR_OK;
        return mfr_seterr(err, MFR_ERR_INVALID, "%s must be in %d..%d, got %d", name,
                          (int)row->vmin, (int)row->vmax, (int)i);
    case MFR_CHECK_POSITIVE:
        d = *mfr_config_f64(c, row);
        if (d > 0.0 && isfinite(d)) return MFR_OK;
        return mfr_seterr(err, MFR_ERR_INVALID, "%s must be a positive finite number, got %g",
                          name, d);
    case MFR_CHECK_NONNEG:
        d = *mfr_config_f64(c, row);
        if (d >= 0.0 && isfinite(d)) return MFR_OK;
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "%s must be a non-negative finite number, got %g", name, d);
    case MFR_CHECK_UNIT:
        d = *mfr_config_f64(c, row);
        if (d >= 0.0 && d < 1.0) return MFR_OK;
        return mfr_seterr(err, MFR_ERR_INVALID, "%s must be in [0, 1), got %g", name, d);
    case MFR_CHECK_ENUM:
        i = *mfr_config_i32(c, row);
        if (i >= 0 && i < row->field.n_values) return MFR_OK;
        enum_choices(&row->field, choices, sizeof choices);
        return mfr_seterr(err, MFR_ERR_INVALID, "%s must be %s, got %d", name, choices, (int)i);
    case MFR_CHECK_FLAG:
        i = *mfr_config_i32(c, row);
        if (i == 0 || i == 1) return MFR_OK;
        return mfr_seterr(err, MFR_ERR_INVALID, "%s must be 0 or 1, got %d", name, (int)i);
    }
    MFR_ASSERT(0 && "unknown check");
    return MFR_ERR_INVALID;
}

void mfr_config_copy_execution(mfr_config *dst, const mfr_config *src)
{
    for (int r = 0; r < N_ROWS; r++)
        if (rows[r].field.execution_only)
            memcpy((char *)dst + rows[r].offset, (const char *)src + rows[r].offset, rows[r].size);
}

/* ALS minimizes a loss that is quadratic in each row: L2 terms only, and
 * some L2 so that a row with fewer ratings than k has a unique solution. */
static int validate_als(const mfr_config *cfg, mfr_error *err)
{
    const char *const names[] = {"gravity", "gravity_bias", "l1_items", "implicit"};
    const double values[] = {cfg->gravity, cfg->gravity_bias, cfg->l1_items, cfg->implicit};
    for (int t = 0; t < 4; t++)
        if (values[t] > 0.0)
            return mfr_seterr(err, MFR_ERR_INVALID,
                              "optimizer als solves L2-regularized least squares: %s (%g) must be 0",
                              names[t], values[t]);
    if (!(cfg->l2 > 0.0) && !(cfg->l2_freq > 0.0))
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "optimizer als needs l2 or l2_freq > 0 (a row with fewer ratings than k "
                          "has no unique solution without it)");
    if (cfg->k > MFR_ALS_MAX_K)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "optimizer als solves a k x k system per row: k must be at most %d, got %d",
                          MFR_ALS_MAX_K, (int)cfg->k);
    return MFR_OK;
}

int mfr_config_validate(const mfr_config *cfg, mfr_error *err)
{
    if (!cfg) return mfr_seterr(err, MFR_ERR_INVALID, "config is NULL");
    for (int r = 0; r < N_ROWS; r++) {
        int rc = check_row(cfg, &rows[r], err);
        if (rc != MFR_OK) return rc;
    }
    /* Rules between fields, after every field is known to be in range. */
    if (cfg->l2_bias > 0.0 && !cfg->bias)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "l2_bias (%g) regularizes the biases: it needs bias = 1", cfg->l2_bias);
    if (cfg->als_cg > 0 && cfg->optimizer != MFR_OPTIMIZER_ALS)
        return mfr_seterr(err, MFR_ERR_INVALID, "als_cg (%d) applies to optimizer als only",
                          (int)cfg->als_cg);
    if (cfg->optimizer == MFR_OPTIMIZER_ALS) {
        int rc = validate_als(cfg, err);
        if (rc != MFR_OK) return rc;
    }
    if (cfg->item_prior_drop > 0.0 && !(cfg->l2_bias > 0.0))
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "item_prior_drop (%g) moves where bias L2 pulls: it needs l2_bias > 0",
                          cfg->item_prior_drop);
    if (cfg->k + 2 * cfg->bias > MFR_MAX_K)
        return mfr_seterr(err, MFR_ERR_INVALID, "k must be at most %d with bias, got %d",
                          MFR_MAX_K - 2, (int)cfg->k);
    return MFR_OK;
}

/* ------------------------------------------------------------------ */
/* The public table                                                     */
/* ------------------------------------------------------------------ */

int mfr_config_field_count(void) { return N_ROWS; }

const mfr_config_field *mfr_config_field_at(int i)
{
    return i >= 0 && i < N_ROWS ? &rows[i].field : NULL;
}

const mfr_config_field *mfr_config_field_find(const char *key)
{
    if (!key) return NULL;
    for (int r = 0; r < N_ROWS; r++)
        if (!strcmp(rows[r].field.flag, key) || !strcmp(rows[r].field.name, key))
            return &rows[r].field;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Text                                                                 */
/* ------------------------------------------------------------------ */

/* The messages below are the ones mfrec printed before the table existed
 * (tools/cli.c's parse_i64, parse_u64, parse_double and parse_bytes); the
 * tests and users' scripts match them. */

static int set_int(const char *key, const mfr_config_field *f, const char *s, int64_t *out,
                   mfr_error *err)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || (double)v < f->lo || (double)v > f->hi)
        return mfr_seterr(err, MFR_ERR_INVALID, "%s must be an integer in %lld..%lld, got '%s'",
                          key, (long long)f->lo, (long long)f->hi, s);
    *out = v;
    return MFR_OK;
}

static int set_u64(const char *key, const char *s, uint64_t *out, mfr_error *err)
{
    char *end = NULL;
    errno = 0;
    /* strtoull would quietly wrap "-1" around to 2^64 - 1 */
    unsigned long long v = s[0] == '-' ? 0 : strtoull(s, &end, 10);
    if (s[0] != '-' && errno == ERANGE && end != s && !*end)
        return mfr_seterr(err, MFR_ERR_INVALID, "%s must be an integer in 0..%llu, got '%s'", key,
                          (unsigned long long)UINT64_MAX, s);
    if (s[0] == '-' || errno || end == s || *end)
        return mfr_seterr(err, MFR_ERR_INVALID, "%s must be a non-negative integer, got '%s'",
                          key, s);
    *out = v;
    return MFR_OK;
}

/* The shortest "%g" text that strtod reads back as d (the caller is in
 * the "C" numeric locale): a range's bounds and the values are printed as
 * they are, not rounded ("%g" wrote --beta2's 0.9999999 as 1, "%.17g" 0.1
 * as 0.10000000000000001), and a whole number of up to ten digits in full
 * ("100", not "1e+02"). */
static int shortest_text(double d, char *buf, size_t size)
{
    if (!buf || size == 0) return -1; /* (gcc's format checks under UBSan see a NULL buf otherwise) */
    if (d == floor(d) && fabs(d) < 1e10) return snprintf(buf, size, "%.0f", d == 0.0 ? 0.0 : d);
    int n = 0;
    for (int prec = 1; prec <= 17; prec++) {
        n = snprintf(buf, size, "%.*g", prec, d);
        if (n >= 0 && (size_t)n < size && strtod(buf, NULL) == d) break;
    }
    return n;
}

int mfr_format_double(double d, char *buf, size_t size)
{
    if (!buf || size == 0) return -1;
    struct mfr_c_locale l;
    if (!mfr_c_locale_begin(&l)) return -1;
    int n = shortest_text(d, buf, size);
    mfr_c_locale_end(&l);
    return n >= 0 && (size_t)n < size ? n : -1;
}

static int set_double(const char *key, const mfr_config_field *f, const char *s, double *out,
                      mfr_error *err)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    /* ERANGE for a subnormal result too (5e-324, what mfr_config_format
     * writes for it): only an overflow or an underflow to 0 is refused */
    const bool range_err = errno == ERANGE ? !isfinite(v) || v == 0.0 : errno != 0;
    if (range_err || end == s || *end || !isfinite(v) || v < f->lo || v > f->hi || !mfr_text_is_decimal(s, strlen(s))) {
        char lo[32], hi[32];
        shortest_text(f->lo, lo, sizeof lo);
        shortest_text(f->hi, hi, sizeof hi);
        /* a number inside the range may still be too small for a double */
        const bool under = errno == ERANGE && v == 0.0 && end != s && !*end && mfr_text_is_decimal(s, strlen(s));
        return mfr_seterr(err, MFR_ERR_INVALID, "%s must be a number in [%s, %s], got '%s'%s", key, lo, hi, s,
                          under ? ", which is too small for a double (it underflows to 0)" : "");
    }
    *out = v == 0.0 ? 0.0 : v; /* -0 is 0: the same model bytes */
    return MFR_OK;
}

/* Sizes like 512M, 4G, 1048576 (binary multiples; 0 is refused). */
static int set_bytes(const char *key, const char *s, uint64_t *out, mfr_error *err)
{
    char *end;
    /* Plain digits, as mfr_config_format writes bytes: exact up to
     * UINT64_MAX (through a double, 2^53 + 1 read back as 2^53, and
     * UINT64_MAX was refused) */
    if (s[0] >= '0' && s[0] <= '9' && s[strspn(s, "0123456789")] == '\0') {
        errno = 0;
        unsigned long long n = strtoull(s, &end, 10);
        if (errno || n == 0)
            return mfr_seterr(err, MFR_ERR_INVALID, "%s must be a size such as 512M or 4G, got '%s'",
                              key, s);
        *out = n;
        return MFR_OK;
    }
    errno = 0;
    double v = strtod(s, &end);
    const bool decimal = mfr_text_is_decimal(s, (size_t)(end - s));
    double mult = 1;
    if (end != s) {
        switch (*end) {
        case 'k': case 'K': mult = 1024.0; end++; break;
        case 'm': case 'M': mult = 1048576.0; end++; break;
        case 'g': case 'G': mult = 1073741824.0; end++; break;
        case 't': case 'T': mult = 1099511627776.0; end++; break;
        case 'p': case 'P': mult = 1125899906842624.0; end++; break;
        case 'e': case 'E': mult = 1152921504606846976.0; end++; break;
        default: break;
        }
        if (*end == 'B' || *end == 'b') end++;
    }
    /* v * mult < 1 would round to 0, which means "no limit"; anything
     * below 2^64 (16E) fits a uint64_t (the bound was 1.8e19, about
     * 15.6E, so 15.9E was refused) */
    if (errno || end == s || *end || !decimal || !(v * mult >= 1.0) || !(v * mult < 18446744073709551616.0))
        return mfr_seterr(err, MFR_ERR_INVALID, "%s must be a size such as 512M or 4G, got '%s'",
                          key, s);
    *out = (uint64_t)(v * mult);
    return MFR_OK;
}

/* An enum value by name, among the settable ones (lo..hi). */
static int set_enum(const char *key, const mfr_config_field *f, const char *s, int32_t *out,
                    mfr_error *err)
{
    int lo = (int)f->lo, hi = (int)f->hi;
    for (int v = lo; v <= hi; v++)
        if (!strcmp(s, f->value_names[v])) {
            *out = v;
            return MFR_OK;
        }
    char names[128];
    size_t len = 0;
    names[0] = '\0';
    for (int v = lo; v <= hi && len < sizeof names; v++) {
        const char *sep = v == lo ? "" : v == hi ? " or " : ", ";
        int n = snprintf(names + len, sizeof names - len, "%s%s", sep, f->value_names[v]);
        if (n < 0) break;
        len += (size_t)n;
    }
    return mfr_seterr(err, MFR_ERR_INVALID, "%s must be %s, got '%s'", key, names, s);
}

/* Parses into *cfg; the caller has switched to the "C" numeric locale. */
static int set_field(mfr_config *cfg, const char *key, const struct mfr_config_row *row,
                     const char *value, mfr_error *err)
{
    const mfr_config_field *f = &row->field;
    int64_t i = 1;
    int rc = MFR_OK;
    switch (f->type) {
    case MFR_CONFIG_DOUBLE: return set_double(key, f, value, mfr_config_f64(cfg, row), err);
    case MFR_CONFIG_UINT64: return set_u64(key, value, mfr_config_u64(cfg, row), err);
    case MFR_CONFIG_BYTES: return set_bytes(key, value, mfr_config_u64(cfg, row), err);
    case MFR_CONFIG_ENUM: return set_enum(key, f, value, mfr_config_i32(cfg, row), err);
    case MFR_CONFIG_FLAG:
        if (value) rc = set_int(key, f, value, &i, err);
        break;
    default: rc = set_int(key, f, value, &i, err); break;
    }
    if (rc == MFR_OK) *mfr_config_i32(cfg, row) = (int32_t)i;
    return rc;
}

int mfr_config_set(mfr_config *cfg, const char *key, const char *value, mfr_error *err)
{
    const mfr_config_field *f = mfr_config_field_find(key);
    if (!cfg || !key)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_config_set: %s is NULL",
                          !cfg ? "config" : "key");
    if (!f)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "'%s' is neither a configuration field nor its flag", key);
    if (!value && f->type != MFR_CONFIG_FLAG)
        return mfr_seterr(err, MFR_ERR_INVALID, "%s needs a value", key);
    /* strtoull and strtod skip leading blanks: ' -1' became 2^64 - 1 */
    if (value && (isspace((unsigned char)value[0]) || !value[0]))
        return mfr_seterr(err, MFR_ERR_INVALID, "%s: a value may not be empty or start with a blank, got '%s'",
                          key, value);
    struct mfr_c_locale l;
    if (!mfr_c_locale_begin(&l)) return mfr_seterr(err, MFR_ERR_NOMEM, "%s: cannot create the C locale", key);
    /* Parse into a copy so that a failure leaves *cfg as it was. */
    mfr_config parsed = *cfg;
    int rc = set_field(&parsed, key, row_of(f), value, err);
    mfr_c_locale_end(&l);
    if (rc == MFR_OK) *cfg = parsed;
    return rc;
}

/* Writes the value of row in cfg; the caller is in the "C" numeric locale. */
static int format_field(const mfr_config *cfg, const struct mfr_config_row *row, char *buf,
                        size_t size)
{
    mfr_config c = *cfg; /* the accessors take a non-const config */
    const mfr_config_field *f = &row->field;
    if (f->type == MFR_CONFIG_DOUBLE) {
        return shortest_text(*mfr_config_f64(&c, row), buf, size);
    }
    if (f->type == MFR_CONFIG_UINT64 || f->type == MFR_CONFIG_BYTES)
        return snprintf(buf, size, "%llu", (unsigned long long)*mfr_config_u64(&c, row));
    int32_t v = *mfr_config_i32(&c, row);
    if (f->type == MFR_CONFIG_ENUM && v >= 0 && v < f->n_values)
        return snprintf(buf, size, "%s", f->value_names[v]);
    return snprintf(buf, size, "%d", (int)v);
}

int mfr_config_format(const mfr_config *cfg, const mfr_config_field *f, char *buf, size_t size,
                      mfr_error *err)
{
    const struct mfr_config_row *row = f ? row_of(f) : NULL;
    if (!cfg || !row || !buf || size == 0)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_config_format: %s",
                          !cfg ? "config is NULL"
                          : !row ? (f ? "not a field of the configuration table" : "field is NULL")
                          : !buf ? "buf is NULL"
                                 : "no room in buf");
    struct mfr_c_locale l;
    if (!mfr_c_locale_begin(&l)) return mfr_seterr(err, MFR_ERR_NOMEM, "%s: cannot create the C locale", f->name);
    int n = format_field(cfg, row, buf, size);
    mfr_c_locale_end(&l);
    if (n < 0 || (size_t)n >= size)
        return mfr_seterr(err, MFR_ERR_INVALID, "%s: %zu bytes are too few for its value",
                          f->name, size);
    return MFR_OK;
}

const char *mfr_build_info(void) { return MFR_BUILD_INFO; }

const char *mfr_version(void) { return MFR_LIBRARY_VERSION; }
