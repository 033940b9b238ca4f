/*
 * test_api.c — misuse of the public API: NULL handles, bad configuration
 * (the right code and a message naming the field), calls in the wrong
 * order, the memory budget, and the status table; what a program that
 * links the library sees of its threads and of the lifetimes of its inputs.
 */
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mfrec.h"
#include "mfrec_softmax.h"
#include "test_util.h"

static void test_status_strings(void **state)
{
    (void)state;
    for (int s = 0; s >= -11; s--) {
        const char *msg = mfr_status_str(s);
        assert_non_null(msg);
        assert_true(strlen(msg) > 0);
        assert_string_not_equal(msg, "unknown status");
    }
    assert_string_equal(mfr_status_str(1), "unknown status");
    assert_string_equal(mfr_status_str(-1000), "unknown status");
    assert_string_equal(mfr_status_str(MFR_ERR_PARSE), "parse error");
}

/* The library reports the release of the header it was built with: the
 * same as the one this test was compiled with, and dotted numbers. */
static void test_version_matches_header(void **state)
{
    (void)state;
    assert_string_equal(mfr_version(), MFR_VERSION_STRING);
    unsigned major, minor, patch;
    char tail;
    assert_int_equal(sscanf(mfr_version(), "%u.%u.%u%c", &major, &minor, &patch, &tail), 3);
    assert_non_null(strstr(mfr_build_info(), "flags:"));
}

/* mfr_build_commit: 12 hex digits (and -dirty), or "unknown"; in a git
 * checkout, the commit checked out (the header is made again at every
 * build, so a commit after the configure is not missed) */
static void test_build_commit(void **state)
{
    (void)state;
    const char *c = mfr_build_commit();
    if (!strcmp(c, "unknown")) return;
    const size_t hex = strspn(c, "0123456789abcdef"); /* 12, more when a prefix is ambiguous */
    assert_true(hex >= 12 && hex <= 40);
    assert_true(c[hex] == '\0' || !strcmp(c + hex, "-dirty"));
    const char *src = getenv("MFREC_TEST_SRCDIR");
    if (!src) return;
    char cmd[4096], head[64] = "";
    snprintf(cmd, sizeof cmd, "git -C '%s' rev-parse --short=12 HEAD 2>/dev/null", src);
    FILE *p = popen(cmd, "r");
    if (!p) return;
    const bool got = fgets(head, sizeof head, p) != NULL;
    if (pclose(p) == 0 && got) assert_memory_equal(c, head, 12);
}

static void test_destroy_accepts_null(void **state)
{
    (void)state;
    mfr_dataset_destroy(NULL);
    mfr_ratings_destroy(NULL);
    mfr_split_destroy(NULL);
    mfr_model_destroy(NULL);
    mfr_trainer_destroy(NULL);
    mfr_free(NULL);
    assert_null(mfr_trainer_model(NULL));
    /* NULL for a pointer, as the header's rule says (they gave "") */
    assert_null(mfr_trainer_kernels_name(NULL));
    assert_null(mfr_trainer_reduce_name(NULL));
    assert_null(mfr_trainer_reduce_reason(NULL));
    /* and the *_default fillers (mfr_config_default and
     * mfr_softmax_config_default dereferenced it, unlike the other three) */
    mfr_config_default(NULL);
    mfr_softmax_config_default(NULL);
    mfr_load_options_default(NULL);
    mfr_synth_options_default(NULL);
    mfr_tsne_options_default(NULL);
}

static void expect_bad(mfr_config cfg, const char *field)
{
    mfr_error err = {0};
    assert_int_equal(mfr_config_validate(&cfg, &err), MFR_ERR_INVALID);
    assert_int_equal(err.status, MFR_ERR_INVALID);
    if (strncmp(err.message, field, strlen(field)) != 0)
        fail_msg("message '%s' does not name field %s", err.message, field);
}

static void test_config_validation_names_field(void **state)
{
    (void)state;
    mfr_config d;
    mfr_config_default(&d);
    mfr_error err = {0};
    assert_int_equal(mfr_config_validate(&d, &err), MFR_OK);
    assert_int_equal(d.k, 30);
    assert_true(d.lr == 1e-3 && d.beta1 == 0.9 && d.beta2 == 0.999 && d.eps == 1e-8);
    mfr_config c = d;
    c.k = 0;
    expect_bad(c, "k must be in 1..4096, got 0");
    c = d, c.k = 5000, expect_bad(c, "k");
    c = d, c.lr = -1, expect_bad(c, "lr");
    c = d, c.lr = 0.0 / 0.0, expect_bad(c, "lr");
    c = d, c.beta1 = 1.0, expect_bad(c, "beta1");
    c = d, c.beta2 = -0.1, expect_bad(c, "beta2");
    c = d, c.eps = 0, expect_bad(c, "eps");
    c = d, c.init_std = -1, expect_bad(c, "init_std");
    c = d, c.n_shards = -2, expect_bad(c, "n_shards");
    c = d, c.reduce = 7, expect_bad(c, "reduce");
    c = d, c.kernels = -1, expect_bad(c, "kernels");
    c = d, c.n_threads = -1, expect_bad(c, "n_threads");
    assert_int_equal(mfr_config_validate(NULL, &err), MFR_ERR_INVALID);
}

/* How many members of mfr_config differ between a and b (the test's own
 * list of members, to check the library's table against). */
static int members_differ(const mfr_config *a, const mfr_config *b)
{
    return (a->k != b->k) + (a->lr != b->lr) + (a->beta1 != b->beta1) +
           (a->beta2 != b->beta2) + (a->eps != b->eps) + (a->init_std != b->init_std) +
           (a->seed != b->seed) + (a->n_shards != b->n_shards) + (a->reduce != b->reduce) +
           (a->kernels != b->kernels) + (a->n_threads != b->n_threads) +
           (a->max_memory != b->max_memory) + (a->l2 != b->l2) + (a->gravity != b->gravity) +
           (a->bias != b->bias) + (a->optimizer != b->optimizer) + (a->l2_freq != b->l2_freq) +
           (a->l2_bias != b->l2_bias) + (a->implicit != b->implicit) + (a->l1_items != b->l1_items) +
           (a->gravity_bias != b->gravity_bias) + (a->als_cg != b->als_cg) +
           (a->item_prior_drop != b->item_prior_drop) + (a->rank_prior != b->rank_prior);
}

/* A settable text for f that differs from its default. */
static const char *other_value(const mfr_config_field *f, char *buf, size_t size)
{
    switch (f->type) {
    case MFR_CONFIG_FLAG: return NULL;
    case MFR_CONFIG_UINT64: return "12345";
    case MFR_CONFIG_BYTES: return "512M";
    case MFR_CONFIG_ENUM: return f->value_names[(int)f->hi];
    case MFR_CONFIG_INT32: snprintf(buf, size, "%d", (int)f->hi); return buf;
    default: snprintf(buf, size, "%.17g", f->hi); return buf;
    }
}

static void test_config_table_covers_every_member(void **state)
{
    (void)state;
    mfr_config d;
    mfr_config_default(&d);
    int n = mfr_config_field_count();
    assert_int_equal(n, 24); /* one per member of mfr_config */
    assert_null(mfr_config_field_at(-1));
    assert_null(mfr_config_field_at(n));
    int execution_only = 0;
    for (int i = 0; i < n; i++) {
        const mfr_config_field *f = mfr_config_field_at(i);
        assert_non_null(f);
        assert_ptr_equal(mfr_config_field_find(f->name), f);
        assert_ptr_equal(mfr_config_field_find(f->flag), f);
        assert_true(strncmp(f->flag, "--", 2) == 0 && strlen(f->help) > 0);
        execution_only += f->execution_only;
        /* each row sets exactly one member, different from the default */
        char buf[64];
        mfr_config c = d;
        mfr_error err = {0};
        assert_int_equal(mfr_config_set(&c, f->name, other_value(f, buf, sizeof buf), &err),
                         MFR_OK);
        assert_int_equal(members_differ(&c, &d), 1);
        /* format reads back to the same value */
        char text[64];
        assert_int_equal(mfr_config_format(&c, f, text, sizeof text, &err), MFR_OK);
        mfr_config back = d;
        assert_int_equal(mfr_config_set(&back, f->flag, text, &err), MFR_OK);
        assert_int_equal(members_differ(&back, &c), 0);
        if (!strcmp(f->name, "l2_bias")) c.bias = 1; /* the rules between fields */
        if (!strcmp(f->name, "optimizer") || !strcmp(f->name, "als_cg")) { /* als needs an L2 */
            c.optimizer = MFR_OPTIMIZER_ALS;
            c.l2 = 0.1;
        }
        if (!strcmp(f->name, "item_prior_drop")) c.bias = 1, c.l2_bias = 0.1;
        assert_int_equal(mfr_config_validate(&c, &err), MFR_OK);
    }
    assert_int_equal(execution_only, 2);
    assert_true(mfr_config_field_find("n_threads")->execution_only);
    assert_true(mfr_config_field_find("--max-memory")->execution_only);
    assert_null(mfr_config_field_find("--nope"));
    assert_null(mfr_config_field_find(NULL));
}

static void expect_default(const char *key, const char *text)
{
    mfr_config d;
    mfr_config_default(&d);
    char buf[64];
    assert_int_equal(mfr_config_format(&d, mfr_config_field_find(key), buf, sizeof buf, NULL),
                     MFR_OK);
    assert_string_equal(buf, text);
}

static void test_config_table_defaults(void **state)
{
    (void)state;
    expect_default("k", "30");
    expect_default("lr", "0.001");
    expect_default("beta1", "0.9");
    expect_default("beta2", "0.999");
    expect_default("eps", "1e-08");
    expect_default("init_std", "1");
    expect_default("seed", "300");
    expect_default("n_shards", "0");
    expect_default("reduce", "auto");
    expect_default("kernels", "auto");
    expect_default("n_threads", "0");
    expect_default("max_memory", "0");
    expect_default("bias", "0");
    expect_default("optimizer", "adam");
    expect_default("implicit", "0");
    assert_int_equal(mfr_config_field_find("k")->hi, MFR_MAX_K); /* 4094 with bias: mfr_config_validate */
    /* a descriptor that is not the library's, and a buffer too small */
    mfr_config d;
    mfr_config_default(&d);
    mfr_config_field copy = *mfr_config_field_find("k");
    char buf[4];
    mfr_error err = {0};
    assert_int_equal(mfr_config_format(&d, &copy, buf, sizeof buf, &err), MFR_ERR_INVALID);
    assert_int_equal(mfr_config_format(&d, mfr_config_field_find("lr"), buf, sizeof buf, &err),
                     MFR_ERR_INVALID);
    assert_int_equal(mfr_config_format(&d, mfr_config_field_find("lr"), buf, 0, &err),
                     MFR_ERR_INVALID);
}

static void expect_double_text(double d, const char *text)
{
    char buf[32];
    assert_int_equal(mfr_format_double(d, buf, sizeof buf), (int)strlen(text));
    assert_string_equal(buf, text);
    if (isfinite(d)) assert_true(strtod(buf, NULL) == d);
}

/* The shortest decimal that reads back: what JSON records and messages
 * print instead of %.17g's 0.10000000000000001 or %g's rounding. */
static void test_format_double_shortest(void **state)
{
    (void)state;
    expect_double_text(0.1, "0.1");
    expect_double_text(0.05, "0.05");
    expect_double_text(0.3, "0.3");
    expect_double_text(0.9999999, "0.9999999");
    expect_double_text(1e-8, "1e-08");
    expect_double_text(400, "400");
    expect_double_text(-20, "-20");
    expect_double_text(-0.0, "0");
    expect_double_text(1e12, "1e+12");
    expect_double_text(1.0 / 3.0, "0.3333333333333333");
    expect_double_text(2.0 / 3.0, "0.6666666666666666");
    expect_double_text(5e-324, "5e-324");
    expect_double_text(-2.2250738585072014e-308, "-2.2250738585072014e-308");
    expect_double_text(1.7976931348623157e308, "1.7976931348623157e+308");
    expect_double_text(NAN, "nan");
    expect_double_text(-INFINITY, "-inf");
    /* a buffer too small, or none */
    char buf[4];
    assert_int_equal(mfr_format_double(0.125, buf, sizeof buf), -1);
    assert_int_equal(mfr_format_double(0.125, NULL, 8), -1);
    assert_int_equal(mfr_format_double(0.125, buf, 0), -1);
    /* every double a run of random bits gives reads back, in 24 bytes */
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double d;
        memcpy(&d, &x, sizeof d);
        if (!isfinite(d)) continue;
        char t[25];
        const int n = mfr_format_double(d, t, sizeof t);
        assert_true(n > 0 && n <= 24);
        assert_true(strtod(t, NULL) == d);
    }
}

/* mfr_config_set(key, value) fails with `message` and leaves cfg as it was. */
static void expect_set_fails(const char *key, const char *value, const char *message)
{
    mfr_config d, c;
    mfr_config_default(&d);
    c = d;
    mfr_error err = {0};
    assert_int_equal(mfr_config_set(&c, key, value, &err), MFR_ERR_INVALID);
    assert_int_equal(err.status, MFR_ERR_INVALID);
    assert_string_equal(err.message, message);
    assert_int_equal(members_differ(&c, &d), 0);
}

static void test_config_set_checks_ranges(void **state)
{
    (void)state;
    expect_set_fails("--dim", "0", "--dim must be an integer in 1..4096, got '0'");
    expect_set_fails("k", "4097", "k must be an integer in 1..4096, got '4097'");
    expect_set_fails("--dim", "3x", "--dim must be an integer in 1..4096, got '3x'");
    expect_set_fails("--threads", "0", "--threads must be an integer in 1..1024, got '0'");
    expect_set_fails("--lr", "abc", "--lr must be a number in [1e-12, 1000000], got 'abc'");
    expect_set_fails("--beta1", "1", "--beta1 must be a number in [0, 0.999999], got '1'");
    /* the bounds as they are: "%g" rounded 0.9999999 to "[0, 1]", which 1 is in */
    expect_set_fails("--beta2", "1", "--beta2 must be a number in [0, 0.9999999], got '1'");
    expect_set_fails("--l2", "nan", "--l2 must be a number in [0, 1000000000], got 'nan'");
    expect_set_fails("--seed", "-1", "--seed must be a non-negative integer, got '-1'");
    expect_set_fails("--max-memory", "0", "--max-memory must be a size such as 512M or 4G, got '0'");
    expect_set_fails("--optimizer", "rmsprop", "--optimizer must be adam, sgd or als, got 'rmsprop'");
    expect_set_fails("--reduce", "default", "--reduce must be auto, shard or owner, got 'default'");
    expect_set_fails("--kernels", "sse", "--kernels must be auto, ref, avx2 or avx512, got 'sse'");
    expect_set_fails("--bias", "2", "--bias must be an integer in 0..1, got '2'");
    expect_set_fails("--lr", NULL, "--lr needs a value");
    expect_set_fails("--nope", "1", "'--nope' is neither a configuration field nor its flag");

    mfr_config c;
    mfr_config_default(&c);
    mfr_error err = {0};
    assert_int_equal(mfr_config_set(NULL, "k", "3", &err), MFR_ERR_INVALID);
    assert_int_equal(mfr_config_set(&c, NULL, "3", &err), MFR_ERR_INVALID);
    assert_int_equal(mfr_config_set(&c, "--bias", NULL, &err), MFR_OK);
    assert_int_equal(c.bias, 1);
    assert_int_equal(mfr_config_set(&c, "--max-memory", "1.5k", &err), MFR_OK);
    assert_true(c.max_memory == 1536);
    /* every binary unit up to exbibytes (2048T was read but 2P refused) */
    assert_int_equal(mfr_config_set(&c, "--max-memory", "2P", &err), MFR_OK);
    assert_true(c.max_memory == (uint64_t)1 << 51);
    assert_int_equal(mfr_config_set(&c, "--max-memory", "15EB", &err), MFR_OK);
    assert_true(c.max_memory == (uint64_t)15 << 60);
    /* anything below 16E (15.9E was refused at 1.8e19 bytes) */
    assert_int_equal(mfr_config_set(&c, "--max-memory", "15.9E", &err), MFR_OK);
    assert_true(c.max_memory == (uint64_t)(15.9 * 1152921504606846976.0));
    expect_set_fails("--max-memory", "16E", "--max-memory must be a size such as 512M or 4G, got '16E'");
    expect_set_fails("--max-memory", "15.99999999999999999E",
                     "--max-memory must be a size such as 512M or 4G, got '15.99999999999999999E'");
    /* what mfr_config_format writes reads back to the same value: bytes
     * past 2^53 (read through a double: 2^53 + 1 became 2^53, UINT64_MAX
     * was refused) and subnormal doubles (strtod's ERANGE refused 5e-324) */
    const uint64_t sizes[] = {((uint64_t)1 << 53) + 1, UINT64_MAX - 1, UINT64_MAX};
    const mfr_config_field *mm = mfr_config_field_find("max_memory");
    for (size_t x = 0; x < sizeof sizes / sizeof *sizes; x++) {
        char text[32];
        mfr_config a;
        mfr_config_default(&a);
        a.max_memory = sizes[x];
        assert_int_equal(mfr_config_format(&a, mm, text, sizeof text, &err), MFR_OK);
        c.max_memory = 0;
        assert_int_equal(mfr_config_set(&c, "--max-memory", text, &err), MFR_OK);
        assert_true(c.max_memory == sizes[x]);
    }
    expect_set_fails("--max-memory", "18446744073709551616",
                     "--max-memory must be a size such as 512M or 4G, got '18446744073709551616'");
    expect_set_fails("--max-memory", "00", "--max-memory must be a size such as 512M or 4G, got '00'");
    {
        char text[32];
        mfr_config a;
        mfr_config_default(&a);
        a.l2 = 4.9406564584124654e-324;
        assert_int_equal(mfr_config_format(&a, mfr_config_field_find("l2"), text, sizeof text, &err),
                         MFR_OK);
        assert_int_equal(mfr_config_set(&c, "--l2", text, &err), MFR_OK);
        assert_true(c.l2 == a.l2);
        c.l2 = 0;
    }
    expect_set_fails("--l2", "1e-400", "--l2 must be a number in [0, 1000000000], got '1e-400', which is too small for a double (it underflows to 0)");
    expect_set_fails("--l2", "1e400", "--l2 must be a number in [0, 1000000000], got '1e400'");
    expect_set_fails("--rank-prior", "101", "--rank-prior must be a number in [0, 100], got '101'"); /* bounds as written */
    assert_int_equal(mfr_config_set(&c, "init_std", "0.05", &err), MFR_OK);
    assert_true(c.init_std == 0.05);
    assert_int_equal(mfr_config_set(&c, "--reduce", "shard", &err), MFR_OK);
    assert_int_equal(c.reduce, MFR_REDUCE_SHARD);
    /* what set accepts, validate accepts: the rules between fields aside */
    c.bias = 0;
    assert_int_equal(mfr_config_set(&c, "--l2-bias", "0.5", &err), MFR_OK);
    assert_int_equal(mfr_config_validate(&c, &err), MFR_ERR_INVALID);
    tu_expect_in(err.message, "l2_bias (0.5) regularizes the biases: it needs bias = 1");
    mfr_config_default(&c);
    c.bias = 1;
    assert_int_equal(mfr_config_set(&c, "--item-prior-drop", "1", &err), MFR_OK);
    assert_int_equal(mfr_config_validate(&c, &err), MFR_ERR_INVALID);
    tu_expect_in(err.message, "item_prior_drop (1) moves where bias L2 pulls: it needs l2_bias > 0");
    mfr_config_default(&c);
    c.reduce = 7;
    assert_int_equal(mfr_config_validate(&c, &err), MFR_ERR_INVALID);
    assert_string_equal(err.message, "reduce must be 0 (auto), 1 (shard) or 2 (owner), got 7");
    mfr_config_default(&c);
    c.k = MFR_MAX_K;
    c.bias = 1;
    assert_int_equal(mfr_config_validate(&c, &err), MFR_ERR_INVALID);
    assert_string_equal(err.message, "k must be at most 4094 with bias, got 4096");
}

struct fixture {
    char *dir;
    mfr_dataset *ds;
    mfr_split *split;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->dir = tu_mkdtemp();
    tu_write_file(f->dir, "u.data", "1\t1\t5\t0\n1\t2\t3\t0\n2\t1\t4\t0\n2\t3\t1\t0\n3\t2\t2\t0\n3\t3\t5\t0\n", (size_t)-1);
    mfr_error err = {0};
    if (mfr_dataset_load(f->dir, NULL, &f->ds, &err) != MFR_OK ||
        mfr_split_create(f->ds, "random:0.34", 1, &f->split, &err) != MFR_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    mfr_split_destroy(f->split);
    mfr_dataset_destroy(f->ds);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* A bad argument is named in the message, as the header's error
 * convention promises ("NULL argument", "bad argument" and "NULL argument
 * or bad row range" named none). */
static void test_argument_errors_name_the_argument(void **state)
{
    struct fixture *f = *state;
    mfr_error err;
    int64_t rows, cols, n_common;
    float *data = NULL;
#define EXPECT_MSG(call, text)                                  \
    do {                                                        \
        memset(&err, 0, sizeof err);                            \
        assert_int_equal((call), MFR_ERR_INVALID);              \
        assert_string_equal(err.message, text);                 \
    } while (0)
    EXPECT_MSG(mfr_npy_read_f32("x.npy", &rows, NULL, &data, &err), "mfr_npy_read_f32: cols is NULL");
    EXPECT_MSG(mfr_npy_read_f32_rows("x.npy", 0, 1, &rows, &cols, NULL, &err),
               "mfr_npy_read_f32_rows: data is NULL");
    EXPECT_MSG(mfr_npy_read_f32_rows("x.npy", 3, 1, &rows, &cols, &data, &err),
               "mfr_npy_read_f32_rows: rows [3, 1) are not a range 0 <= row_lo <= row_hi");
    const mfr_ratings *r = mfr_split_train(f->split);
    EXPECT_MSG(mfr_ratings_overlap(r, r, &n_common, NULL, &err), "mfr_ratings_overlap: first_a is NULL");
    int32_t kind = 0;
    EXPECT_MSG(mfr_checkpoint_kind(NULL, &kind, &err), "mfr_checkpoint_kind: path is NULL");
    mfr_softmax_config sc;
    EXPECT_MSG(mfr_model_softmax_config(NULL, &sc, &err), "mfr_model_softmax_config: model is NULL");
    float out[4];
    const int32_t items[] = {0};
    EXPECT_MSG(mfr_model_softmax_user(NULL, items, 1, out, &err), "mfr_model_softmax_user: model is NULL");
    mfr_ease *e = NULL;
    assert_int_equal(mfr_ease_fit(r, 3, 3, 1.0, 1, &e, &err), MFR_OK);
    double scores[3];
    EXPECT_MSG(mfr_ease_scores(e, NULL, 1, scores, &err), "mfr_ease_scores: items is NULL");
    EXPECT_MSG(mfr_ease_scores(e, items, -2, scores, &err), "mfr_ease_scores: n must be >= 0, got -2");
    mfr_config cfg;
    mfr_config_default(&cfg);
    char buf[32];
    EXPECT_MSG(mfr_config_format(&cfg, NULL, buf, sizeof buf, &err), "mfr_config_format: field is NULL");
    EXPECT_MSG(mfr_config_format(&cfg, mfr_config_field_at(0), NULL, 8, &err), "mfr_config_format: buf is NULL");
    /* a function that passes its arguments on names itself, not the callee
     * (these said mfr_model_evaluate and mfr_split_create), and an empty
     * directory is an argument error, not "cannot open : No such file" */
    mfr_trainer *tr = NULL;
    cfg.k = 2;
    assert_int_equal(mfr_trainer_create(&cfg, f->ds, r, NULL, &tr, &err), MFR_OK);
    mfr_metrics met;
    EXPECT_MSG(mfr_trainer_evaluate(tr, NULL, &met, &err), "mfr_trainer_evaluate: ratings is NULL");
    EXPECT_MSG(mfr_trainer_evaluate(tr, r, NULL, &err), "mfr_trainer_evaluate: out is NULL");
    mfr_trainer_destroy(tr);
    /* these said "trainer output pointer is NULL" and "dataset or ratings
     * is NULL", naming neither the function nor the argument */
    EXPECT_MSG(mfr_trainer_create(&cfg, f->ds, r, NULL, NULL, &err), "mfr_trainer_create: out is NULL");
    EXPECT_MSG(mfr_trainer_create(&cfg, f->ds, NULL, NULL, &tr, &err), "mfr_trainer_create: ratings is NULL");
    EXPECT_MSG(mfr_trainer_create(NULL, f->ds, r, NULL, &tr, &err), "mfr_trainer_create: cfg is NULL");
    assert_null(tr);
    EXPECT_MSG(mfr_trainer_resume(NULL, &cfg, f->ds, r, NULL, NULL, &err), "mfr_trainer_resume: out is NULL");
    mfr_softmax_config smc;
    mfr_softmax_config_default(&smc);
    mfr_softmax_trainer *st = NULL;
    EXPECT_MSG(mfr_softmax_trainer_create(&smc, f->ds, NULL, NULL, 1, &st, &err),
               "mfr_softmax_trainer_create: ratings is NULL");
    mfr_split *sp = NULL;
    EXPECT_MSG(mfr_split_create_lean(NULL, "none", 1, &sp, &err), "mfr_split_create_lean: dataset is NULL");
    mfr_dataset *ds = NULL;
    EXPECT_MSG(mfr_dataset_load("", NULL, &ds, &err), "mfr_dataset_load: dir must not be empty");
    assert_null(ds);
#undef EXPECT_MSG
    mfr_ease_destroy(e);
}

/* mfr_model_check_split takes the model's own split whether the trainer
 * was given the spec as written ("random:.34") or in its normal form
 * (mfr_split_spec: "random:0.34"); it said the model's own split was not
 * the model's. Another split is still a mismatch. */
static void test_check_split_reads_the_spec_as_written(void **state)
{
    struct fixture *f = *state;
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 2;
    mfr_error err;
    mfr_trainer *tr = NULL;
    assert_int_equal(mfr_trainer_create(&cfg, f->ds, mfr_split_train(f->split), "random:.34", &tr, &err),
                     MFR_OK);
    assert_string_equal(mfr_split_spec(f->split), "random:0.34");
    const mfr_model *m = mfr_trainer_model(tr);
    assert_int_equal(mfr_model_check_split(m, f->split, &err), MFR_OK);
    mfr_split *other = NULL;
    assert_int_equal(mfr_split_create(f->ds, "random:0.5", 1, &other, &err), MFR_OK);
    assert_int_equal(mfr_model_check_split(m, other, &err), MFR_ERR_MISMATCH);
    assert_string_equal(err.message, "split random:0.5 is not the model's split (random:.34)");
    mfr_split_destroy(other);
    mfr_trainer_destroy(tr);
}

static void test_trainer_misuse(void **state)
{
    struct fixture *f = *state;
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 4;
    mfr_error err = {0};
    mfr_trainer *tr = NULL;
    assert_int_equal(mfr_trainer_create(&cfg, NULL, mfr_split_train(f->split), NULL, &tr, &err),
                     MFR_ERR_INVALID);
    assert_null(tr);
    assert_int_equal(mfr_trainer_create(&cfg, f->ds, mfr_split_train(f->split), NULL, NULL, &err),
                     MFR_ERR_INVALID);
    cfg.k = -3;
    assert_int_equal(mfr_trainer_create(&cfg, f->ds, mfr_split_train(f->split), NULL, &tr, &err),
                     MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "k must be"));
    assert_null(tr);
    cfg.k = 4;
    assert_int_equal(mfr_trainer_step(NULL, NULL, NULL), MFR_ERR_INVALID);

    assert_int_equal(mfr_trainer_create(&cfg, f->ds, mfr_split_train(f->split), "random:0.34", &tr, &err),
                     MFR_OK);
    /* set_factors: wrong shape, non-finite, then after a step: wrong order */
    float U[3 * 4] = {0}, V[3 * 4] = {0};
    assert_int_equal(mfr_trainer_set_factors(tr, U, 3, 5, V, 3, 4, &err), MFR_ERR_MISMATCH);
    assert_non_null(strstr(err.message, "U has shape (3, 5), expected (3, 4)"));
    V[5] = 1.0f / 0.0f;
    assert_int_equal(mfr_trainer_set_factors(tr, U, 3, 4, V, 3, 4, &err), MFR_ERR_INVALID);
    /* all zero: no gradient would ever move them (the run trained nothing) */
    V[5] = -0.0f;
    assert_int_equal(mfr_trainer_set_factors(tr, U, 3, 4, V, 3, 4, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "U and V are all zero: zero factors have zero gradients and never move"));
    V[5] = 0.5f;
    assert_int_equal(mfr_trainer_set_factors(tr, U, 3, 4, V, 3, 4, &err), MFR_OK);
    float got[4];
    assert_int_equal(mfr_model_item_vector(mfr_trainer_model(tr), 1, got, NULL), MFR_OK);
    assert_true(got[1] == 0.5f);
    assert_int_equal(mfr_trainer_step(tr, NULL, NULL), MFR_OK);
    assert_int_equal(mfr_model_epochs(mfr_trainer_model(tr)), 1);
    assert_int_equal(mfr_trainer_set_factors(tr, U, 3, 4, V, 3, 4, &err), MFR_ERR_STATE);
    assert_string_equal(mfr_model_split_spec(mfr_trainer_model(tr)), "random:0.34");
    mfr_trainer_destroy(tr);
    /* ALS solves the users from V first: a zero V keeps every factor at 0,
     * whatever U; a zero U alone is solved from V */
    cfg.optimizer = MFR_OPTIMIZER_ALS;
    cfg.l2 = 0.1;
    assert_int_equal(mfr_trainer_create(&cfg, f->ds, mfr_split_train(f->split), NULL, &tr, &err), MFR_OK);
    for (int x = 0; x < 12; x++) U[x] = 0.5f, V[x] = 0.0f;
    assert_int_equal(mfr_trainer_set_factors(tr, U, 3, 4, V, 3, 4, &err), MFR_ERR_INVALID);
    assert_non_null(strstr(err.message, "V is all zero: ALS solves the users from V first"));
    for (int x = 0; x < 12; x++) U[x] = 0.0f, V[x] = 0.5f;
    assert_int_equal(mfr_trainer_set_factors(tr, U, 3, 4, V, 3, 4, &err), MFR_OK);
    mfr_trainer_destroy(tr);
    /* implicit feedback's Y, drawn, moves zero factors */
    mfr_config_default(&cfg);
    cfg.k = 4;
    cfg.implicit = 1.0;
    assert_int_equal(mfr_trainer_create(&cfg, f->ds, mfr_split_train(f->split), NULL, &tr, &err), MFR_OK);
    for (int x = 0; x < 12; x++) U[x] = V[x] = 0.0f;
    assert_int_equal(mfr_trainer_set_factors(tr, U, 3, 4, V, 3, 4, &err), MFR_OK);
    mfr_trainer_destroy(tr);
}

/* A split spec longer than a model file holds is refused when the trainer
 * is made: it was accepted, and only the save after the training said that
 * the model could not be written. The softmax trainer likewise. */
static void test_split_spec_too_long_for_a_model(void **state)
{
    struct fixture *f = *state;
    char *spec = malloc(65538);
    memset(spec, 's', 65537);
    spec[65537] = '\0';
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 2;
    mfr_error err = {0};
    mfr_trainer *tr = NULL;
    assert_int_equal(mfr_trainer_create(&cfg, f->ds, mfr_split_train(f->split), spec, &tr, &err),
                     MFR_ERR_INVALID);
    assert_null(tr);
    tu_expect_in(err.message, "split_spec is longer than 65536 bytes");
    mfr_softmax_config sc;
    mfr_softmax_config_default(&sc);
    mfr_softmax_trainer *st = NULL;
    assert_int_equal(mfr_softmax_trainer_create(&sc, f->ds, mfr_split_train(f->split), spec, 1, &st, &err),
                     MFR_ERR_INVALID);
    assert_null(st);
    tu_expect_in(err.message, "split_spec is longer than 65536 bytes");
    spec[65536] = '\0'; /* the longest a file holds: made, trained and saved */
    assert_int_equal(mfr_trainer_create(&cfg, f->ds, mfr_split_train(f->split), spec, &tr, &err), MFR_OK);
    assert_int_equal(mfr_trainer_step(tr, NULL, &err), MFR_OK);
    char *path = tu_path(f->dir, "long-spec.model");
    assert_int_equal(mfr_model_save(mfr_trainer_model(tr), path, &err), MFR_OK);
    free(path);
    mfr_trainer_destroy(tr);
    free(spec);
}

static void test_memory_budget_refused_before_allocating(void **state)
{
    struct fixture *f = *state;
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.max_memory = 1000; /* bytes */
    mfr_error err = {0};
    mfr_trainer *tr = NULL;
    assert_int_equal(mfr_trainer_create(&cfg, f->ds, mfr_split_train(f->split), NULL, &tr, &err),
                     MFR_ERR_TOO_LARGE);
    assert_null(tr);
    assert_non_null(strstr(err.message, "MiB"));
    assert_non_null(strstr(err.message, "memory budget"));
}

/* The estimated peak (the budget's check) counts what the run holds beside
 * the training buffers: a budget of the buffers alone is refused before
 * anything is allocated, the estimate itself is accepted. */
static void test_memory_budget_counts_the_peak(void **state)
{
    struct fixture *f = *state;
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 4;
    cfg.n_threads = 1;
    mfr_error err = {0};
    mfr_split *lean = NULL;
    mfr_trainer *tr = NULL;
    assert_int_equal(mfr_split_create_lean(f->ds, "random:0.34", 1, &lean, &err), MFR_OK);
    assert_int_equal(mfr_trainer_create(&cfg, f->ds, mfr_split_train(lean), NULL, &tr, &err), MFR_OK);
    const uint64_t buffers = mfr_trainer_memory_bytes(tr), peak = mfr_trainer_peak_bytes(tr);
    mfr_trainer_destroy(tr);
    tr = NULL;
    assert_true(buffers > 0 && peak > buffers);
    cfg.max_memory = peak;
    assert_int_equal(mfr_trainer_create(&cfg, f->ds, mfr_split_train(lean), NULL, &tr, &err), MFR_OK);
    assert_true(mfr_trainer_peak_bytes(tr) == peak);
    mfr_trainer_destroy(tr);
    tr = NULL;
    cfg.max_memory = peak - 1;
    assert_int_equal(mfr_trainer_create(&cfg, f->ds, mfr_split_train(lean), NULL, &tr, &err), MFR_ERR_TOO_LARGE);
    assert_null(tr);
    assert_non_null(strstr(err.message, "beside them"));
    cfg.max_memory = buffers; /* enough for the buffers alone: not for the run */
    assert_int_equal(mfr_trainer_create(&cfg, f->ds, mfr_split_train(lean), NULL, &tr, &err), MFR_ERR_TOO_LARGE);
    assert_null(tr);
    mfr_split_destroy(lean);
}

/* The functions that read a ratings set's arrays directly refuse a lean
 * split's training part (its arrays hold the test rows too): they read the
 * first n rows, test rows included, and gave other lists, EASE weights and
 * softmax losses than the copy with MFR_OK. */
static void test_lean_split_refused_where_unsupported(void **state)
{
    struct fixture *f = *state;
    mfr_error err = {0};
    mfr_split *lean = NULL;
    assert_int_equal(mfr_split_create_lean(f->ds, "random:0.34", 1, &lean, &err), MFR_OK);
    const mfr_ratings *view = mfr_split_train(lean), *test = mfr_split_test(lean);
    const int32_t nu = mfr_dataset_n_users(f->ds), ni = mfr_dataset_n_items(f->ds);
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 2;
    cfg.n_threads = 1;
    mfr_trainer *tr = NULL;
    assert_int_equal(mfr_trainer_create(&cfg, f->ds, view, NULL, &tr, &err), MFR_OK); /* supported */
    const mfr_model *m = mfr_trainer_model(tr);
    const char *refusal = "a lean split's training part is a view (mfr_split_create copies it)";

    mfr_ranking rk;
    assert_int_equal(mfr_model_ranking(m, view, test, 2, &rk, NULL, &err), MFR_ERR_UNSUPPORTED);
    tu_expect_in(err.message, "mfr_model_ranking: ");
    tu_expect_in(err.message, refusal);
    int32_t items[16], n_out[8];
    assert_int_equal(mfr_model_recommend_users(m, 0, nu, 2, MFR_MEASURE_DOT, view, NULL, 1, items,
                                               NULL, n_out, &err),
                     MFR_ERR_UNSUPPORTED);
    tu_expect_in(err.message, "mfr_model_recommend_users: ");
    mfr_ease *e = NULL;
    assert_int_equal(mfr_ease_fit(view, nu, ni, 1.0, 1, &e, &err), MFR_ERR_UNSUPPORTED);
    assert_null(e);
    tu_expect_in(err.message, "mfr_ease_fit: ");
    assert_int_equal(mfr_ease_fit_ratings(view, nu, ni, 1.0, 1, &e, &err), MFR_ERR_UNSUPPORTED);
    tu_expect_in(err.message, "mfr_ease_fit_ratings: ");
    assert_int_equal(mfr_ease_fit(mfr_dataset_ratings(f->ds), nu, ni, 1.0, 1, &e, &err), MFR_OK);
    assert_int_equal(mfr_ease_ranking(e, view, test, 2, &rk, &err), MFR_ERR_UNSUPPORTED);
    tu_expect_in(err.message, "mfr_ease_ranking: ");
    mfr_ease_destroy(e);
    mfr_softmax_config sc;
    mfr_softmax_config_default(&sc);
    mfr_softmax_trainer *st = NULL;
    assert_int_equal(mfr_softmax_trainer_create(&sc, f->ds, view, NULL, 1, &st, &err),
                     MFR_ERR_UNSUPPORTED);
    assert_null(st);
    tu_expect_in(err.message, "mfr_softmax_trainer_create: ");
    mfr_trainer_destroy(tr);
    mfr_split_destroy(lean);
}

/* A lean split's training part (a view of the dataset's ratings) reads as
 * the copy does and trains the same model bytes with the same metrics, over
 * several view and evaluation blocks, for any thread count. */
static void test_lean_split_matches_the_copy(void **state)
{
    (void)state;
    enum { NU = 2000, NI = 200 };
    char *dir = tu_mkdtemp();
    size_t cap = (size_t)NU * NI * 24, len = 0;
    char *text = malloc(cap);
    for (int i = 0; i < NI; i++) /* item-major: the CSR's row sort has work */
        for (int u = 0; u < NU; u++)
            len += (size_t)snprintf(text + len, cap - len, "%d\t%d\t%d\t%d\n", u + 1, NI - i,
                                    (u * 7 + i * 3) % 5 + 1, u + i);
    tu_write_file(dir, "u.data", text, len);
    free(text);
    mfr_error err = {0};
    mfr_dataset *ds = NULL;
    mfr_split *copy = NULL, *lean = NULL;
    mfr_load_options lo;
    mfr_load_options_default(&lo);
    lo.cache = MFR_CACHE_ALWAYS; /* the second load maps the cache: passes release its pages */
    assert_int_equal(mfr_dataset_load(dir, &lo, &ds, &err), MFR_OK);
    mfr_dataset_destroy(ds);
    assert_int_equal(mfr_dataset_load(dir, &lo, &ds, &err), MFR_OK);
    assert_int_equal(mfr_split_create(ds, "random:0.2", 7, &copy, &err), MFR_OK);
    assert_int_equal(mfr_split_create_lean(ds, "random:0.2", 7, &lean, &err), MFR_OK);
    const mfr_ratings *a = mfr_split_train(copy), *b = mfr_split_train(lean);
    assert_int_equal(mfr_ratings_count(a), mfr_ratings_count(b));
    assert_true(mfr_ratings_count(b) > 262144); /* more than one evaluation block */
    for (int64_t x = 0; x < mfr_ratings_count(a); x += 4099) {
        int32_t ua, ia, ub, ib;
        float ra, rb;
        int64_t ta, tb;
        assert_int_equal(mfr_ratings_get(a, x, &ua, &ia, &ra, &ta, &err), MFR_OK);
        assert_int_equal(mfr_ratings_get(b, x, &ub, &ib, &rb, &tb, &err), MFR_OK);
        assert_true(ua == ub && ia == ib && ra == rb && ta == tb);
    }
    assert_int_equal(mfr_ratings_write(b, ds, "unused", &err), MFR_ERR_UNSUPPORTED);
    uint64_t sums[2][2];
    for (int t = 0; t < 2; t++) {
        for (int v = 0; v < 2; v++) {
            mfr_config cfg;
            mfr_config_default(&cfg);
            cfg.k = 8;
            cfg.bias = 1;
            cfg.n_threads = t ? 3 : 1;
            mfr_trainer *tr = NULL;
            assert_int_equal(mfr_trainer_create(&cfg, ds, v ? b : a, "random:0.2", &tr, &err), MFR_OK);
            for (int e = 0; e < 3; e++) assert_int_equal(mfr_trainer_step(tr, NULL, &err), MFR_OK);
            mfr_metrics ma, mb;
            assert_int_equal(mfr_trainer_evaluate(tr, a, &ma, &err), MFR_OK);
            assert_int_equal(mfr_trainer_evaluate(tr, b, &mb, &err), MFR_OK);
            assert_true(ma.mse == mb.mse && ma.mae == mb.mae && ma.n == mb.n);
            sums[t][v] = mfr_model_checksum(mfr_trainer_model(tr));
            mfr_trainer_destroy(tr);
        }
    }
    assert_true(sums[0][0] == sums[0][1] && sums[1][0] == sums[1][1] && sums[0][0] == sums[1][0]);
    mfr_split_destroy(lean);
    mfr_split_destroy(copy);
    mfr_dataset_destroy(ds);
    tu_rmtree(dir);
    free(dir);
}

static void test_divergence_is_a_status(void **state)
{
    struct fixture *f = *state;
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 4;
    mfr_error err = {0};
    mfr_trainer *tr = NULL;
    assert_int_equal(mfr_trainer_create(&cfg, f->ds, mfr_split_train(f->split), NULL, &tr, &err), MFR_OK);
    float U[3 * 4], V[3 * 4];
    for (int x = 0; x < 12; x++) U[x] = V[x] = 1e30f; /* predictions overflow to inf */
    assert_int_equal(mfr_trainer_set_factors(tr, U, 3, 4, V, 3, 4, &err), MFR_OK);
    double loss;
    assert_int_equal(mfr_trainer_step(tr, &loss, &err), MFR_ERR_DIVERGED);
    assert_non_null(strstr(err.message, "non-finite"));
    assert_int_equal(mfr_model_epochs(mfr_trainer_model(tr)), 0); /* step not applied */
    mfr_trainer_destroy(tr);
}

/* A step whose update made a parameter non-finite was applied: the factors
 * are no state to go on from, so the next call says so (it used to report
 * the NaN loss of "the starting factors, before any update"). */
static void test_divergence_after_update_refuses_steps(void **state)
{
    struct fixture *f = *state;
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 4;
    cfg.lr = 1e300; /* the first update overflows; the loss before it is finite */
    mfr_error err = {0};
    mfr_trainer *tr = NULL;
    assert_int_equal(mfr_trainer_create(&cfg, f->ds, mfr_split_train(f->split), NULL, &tr, &err), MFR_OK);
    double loss = NAN;
    assert_int_equal(mfr_trainer_step(tr, &loss, &err), MFR_ERR_DIVERGED);
    assert_true(isfinite(loss));
    assert_non_null(strstr(err.message, "became non-finite"));
    /* the learning rate's fault: the starting factors are not blamed */
    assert_null(strstr(err.message, "starting factors"));
    assert_non_null(strstr(err.message, "lower the learning rate"));
    for (int again = 0; again < 2; again++) {
        memset(&err, 0, sizeof err);
        assert_int_equal(mfr_trainer_step(tr, &loss, &err), MFR_ERR_DIVERGED);
        assert_int_equal(err.status, MFR_ERR_DIVERGED);
        assert_non_null(strstr(err.message, "diverged at epoch 1"));
        assert_null(strstr(err.message, "starting factors"));
    }
    assert_int_equal(mfr_model_epochs(mfr_trainer_model(tr)), 0);
    /* no epoch counted, but the step was applied: its factors and Adam
     * moments are not the starting ones any more (set_factors said MFR_OK
     * and the trainer still refused every step) */
    float U[3 * 4] = {0}, V[3 * 4] = {0};
    assert_int_equal(mfr_trainer_set_factors(tr, U, 3, 4, V, 3, 4, &err), MFR_ERR_STATE);
    mfr_trainer_destroy(tr);
}

/* An ALS trainer (k 2, one thread, L2 0.1; cg: conjugate-gradient
 * iterations, 0 for exact solves) on the delimited ratings `text`, loaded
 * from a directory of its own. */
struct als_case {
    char *dir;
    mfr_dataset *ds;
    mfr_trainer *tr;
};

static void als_case_make(struct als_case *c, const char *text, int cg)
{
    c->dir = tu_mkdtemp();
    tu_write_file(c->dir, "r.tsv", text, (size_t)-1);
    char *file = tu_path(c->dir, "r.tsv");
    mfr_load_options lo;
    mfr_load_options_default(&lo);
    lo.format = MFR_FORMAT_DELIMITED;
    lo.cache = MFR_CACHE_NEVER;
    mfr_error err = {0};
    c->ds = NULL;
    assert_int_equal(mfr_dataset_load(file, &lo, &c->ds, &err), MFR_OK);
    free(file);
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 2;
    cfg.n_threads = 1;
    cfg.optimizer = MFR_OPTIMIZER_ALS;
    cfg.als_cg = cg;
    cfg.l2 = 0.1;
    c->tr = NULL;
    assert_int_equal(mfr_trainer_create(&cfg, c->ds, mfr_dataset_ratings(c->ds), NULL, &c->tr, &err), MFR_OK);
}

static void als_case_free(struct als_case *c)
{
    mfr_trainer_destroy(c->tr);
    mfr_dataset_destroy(c->ds);
    tu_rmtree(c->dir);
    free(c->dir);
}

/* ALS solves its rows in place: a row system that is not positive definite
 * (ratings near FLT_MAX) leaves the other rows solved and the epoch not
 * counted, so the next step refuses instead of going on from a half step. */
static void test_als_divergence_refuses_steps(void **state)
{
    (void)state;
    struct als_case c;
    als_case_make(&c, "1\t1\t3e38\n1\t2\t-3e38\n2\t1\t3e38\n2\t2\t3e38\n3\t1\t-3e38\n", 0);
    mfr_error err = {0};
    assert_int_equal(mfr_trainer_step(c.tr, NULL, &err), MFR_ERR_DIVERGED);
    tu_expect_in(err.message, "not positive definite at epoch 1");
    assert_int_equal(mfr_trainer_step(c.tr, NULL, &err), MFR_ERR_DIVERGED);
    tu_expect_in(err.message, "diverged at epoch 1");
    assert_int_equal(mfr_model_epochs(mfr_trainer_model(c.tr)), 0);
    als_case_free(&c);
}

/* ALS's conjugate-gradient solves (--als-cg) report no singular system:
 * ratings near 1e30 overflow a row, which the step's parameter check
 * finds after the rows were written (the loss before them was finite).
 * The next step refuses, and the advice is ALS's (there is no learning
 * rate to lower). */
static void test_als_non_finite_rows_refuse_steps(void **state)
{
    (void)state;
    struct als_case c;
    als_case_make(&c, "1\t1\t1e30\n1\t2\t1e30\n2\t1\t1e30\n2\t2\t1e30\n3\t1\t1e30\n", 3);
    mfr_error err = {0};
    double loss = NAN;
    assert_int_equal(mfr_trainer_step(c.tr, &loss, &err), MFR_ERR_DIVERGED);
    assert_true(isfinite(loss));
    tu_expect_in(err.message, "became non-finite (inf or NaN) at epoch 1");
    tu_expect_in(err.message, "raise the L2 penalty (--l2)");
    assert_null(strstr(err.message, "learning rate"));
    assert_int_equal(mfr_trainer_step(c.tr, &loss, &err), MFR_ERR_DIVERGED);
    tu_expect_in(err.message, "diverged at epoch 1");
    assert_int_equal(mfr_model_epochs(mfr_trainer_model(c.tr)), 0);
    als_case_free(&c);
}

/* A run as a caller's thread makes it: 10 epochs of a fixed configuration. */
struct caller_run {
    const mfr_dataset *ds;
    const mfr_ratings *train;
    uint64_t sum;
    int rc;
};

static void *caller_train(void *p)
{
    struct caller_run *r = p;
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 8;
    cfg.bias = 1;
    cfg.lr = 0.01;
    cfg.n_threads = 2;
    mfr_trainer *tr = NULL;
    r->rc = mfr_trainer_create(&cfg, r->ds, r->train, NULL, &tr, NULL);
    for (int e = 0; r->rc == MFR_OK && e < 10; e++) r->rc = mfr_trainer_step(tr, NULL, NULL);
    r->sum = mfr_model_checksum(mfr_trainer_model(tr));
    mfr_trainer_destroy(tr);
    return NULL;
}

/* The header's promises to a program that uses OpenMP and threads itself:
 * the library leaves the caller's OpenMP settings and CPU affinity as they
 * were, two trainers run at once from two of the caller's threads write the
 * bytes of one run alone, and a trainer keeps no reference to the dataset
 * or the ratings it was made from. */
static void test_callers_threads_and_lifetimes(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    mfr_dataset *ds = NULL;
    mfr_split *sp = NULL;
    assert_int_equal(tu_synth(dir, 300, 200, 6000, 3, &ds), 0);
    assert_int_equal(mfr_split_create(ds, "random:0.2", 1, &sp, NULL), MFR_OK);
    omp_set_num_threads(3);
    omp_set_dynamic(1);
    omp_set_max_active_levels(2);
    cpu_set_t cpus, cpus_after;
    assert_int_equal(sched_getaffinity(0, sizeof cpus, &cpus), 0);

    struct caller_run alone = {ds, mfr_split_train(sp), 0, -1}, a = alone, b = alone;
    caller_train(&alone);
    assert_int_equal(alone.rc, MFR_OK);
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, caller_train, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, caller_train, &b), 0);
    assert_int_equal(pthread_join(ta, NULL), 0);
    assert_int_equal(pthread_join(tb, NULL), 0);
    assert_int_equal(a.rc, MFR_OK);
    assert_int_equal(b.rc, MFR_OK);
    assert_true(a.sum == alone.sum && b.sum == alone.sum);

    /* setup work on the library's default thread count */
    mfr_trainer *tr = NULL;
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 8;
    cfg.bias = 1;
    cfg.lr = 0.01;
    assert_int_equal(mfr_trainer_create(&cfg, ds, mfr_split_train(sp), NULL, &tr, NULL), MFR_OK);
    assert_int_equal(mfr_trainer_n_threads(tr), 3); /* the caller's omp_set_num_threads */
    int32_t items[300 * 5], n[300];
    assert_int_equal(mfr_model_recommend_users(mfr_trainer_model(tr), 0, 300, 5, MFR_MEASURE_DOT,
                                               mfr_split_train(sp), NULL, 0, items, NULL, n, NULL),
                     MFR_OK);
    mfr_split_destroy(sp);
    mfr_dataset_destroy(ds);
    for (int e = 0; e < 10; e++) assert_int_equal(mfr_trainer_step(tr, NULL, NULL), MFR_OK);
    assert_true(mfr_model_checksum(mfr_trainer_model(tr)) == alone.sum);
    mfr_trainer_destroy(tr);

    assert_int_equal(omp_get_max_threads(), 3);
    assert_int_equal(omp_get_dynamic(), 1);
    assert_int_equal(omp_get_max_active_levels(), 2);
    assert_int_equal(sched_getaffinity(0, sizeof cpus_after, &cpus_after), 0);
    assert_true(CPU_EQUAL(&cpus, &cpus_after));
    omp_set_dynamic(0);
    omp_set_max_active_levels(1);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_strings),
        cmocka_unit_test(test_version_matches_header),
        cmocka_unit_test(test_build_commit),
        cmocka_unit_test(test_destroy_accepts_null),
        cmocka_unit_test(test_config_validation_names_field),
        cmocka_unit_test(test_config_table_covers_every_member),
        cmocka_unit_test(test_config_table_defaults),
        cmocka_unit_test(test_format_double_shortest),
        cmocka_unit_test(test_config_set_checks_ranges),
        cmocka_unit_test(test_argument_errors_name_the_argument),
        cmocka_unit_test(test_trainer_misuse),
        cmocka_unit_test(test_split_spec_too_long_for_a_model),
        cmocka_unit_test(test_check_split_reads_the_spec_as_written),
        cmocka_unit_test(test_memory_budget_refused_before_allocating),
        cmocka_unit_test(test_memory_budget_counts_the_peak),
        cmocka_unit_test(test_lean_split_matches_the_copy),
        cmocka_unit_test(test_lean_split_refused_where_unsupported),
        cmocka_unit_test(test_divergence_is_a_status),
        cmocka_unit_test(test_divergence_after_update_refuses_steps),
        cmocka_unit_test(test_als_divergence_refuses_steps),
        cmocka_unit_test(test_als_non_finite_rows_refuse_steps),
        cmocka_unit_test(test_callers_threads_and_lifetimes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
