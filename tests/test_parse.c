/*
 * test_parse.c — the parallel rating-file parse (mfr_parse_ratings_chunked,
 * loader.c): for every chunk count, on made-up files whose chunk
 * boundaries fall inside lines, with CRLF endings, blank lines, a header,
 * trimmed fields, sparse and dense ids, and several bad lines, the result
 * is the field-by-field one-pass parse's: the same ratings, the same
 * provisional ids in the same order, or the same first error (file:line)
 * word for word. And a whole dataset loads to the same bytes on 1, 2, 3
 * and 7 threads.
 *
 * Every file is made up by the test itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "loader_priv.h"
#include "mfrec.h"
#include "test_util.h"

/* ------------------------------------------------------------------ */
/* One parse and its comparison with the reference                     */
/* ------------------------------------------------------------------ */

struct parsed {
    int rc;
    mfr_error err;
    mfr_ratings *r;
    struct mfr_id_map users, items;
};

static void parsed_free(struct parsed *p)
{
    mfr_ratings_destroy(p->r);
    mfr_id_map_free(&p->users);
    mfr_id_map_free(&p->items);
    memset(p, 0, sizeof *p);
}

/* Parses `text` as file "t.data" in `chunks` chunks; `fast` as in
 * mfr_parse_ratings_chunked; ds, when set, maps the ids. */
static struct parsed parse(const char *text, const struct mfr_rating_syntax *syn, float lo,
                           float hi, const mfr_dataset *ds, int chunks, bool fast)
{
    struct parsed p;
    memset(&p, 0, sizeof p);
    size_t n = strlen(text);
    char *copy = malloc(n + 1);
    assert_non_null(copy);
    memcpy(copy, text, n + 1); /* NUL after the data, as mfr_text_file_read leaves it */
    char path[] = "t.data";
    struct mfr_text_file f = {.path = path, .data = copy, .size = n};
    struct mfr_rating_ids ids = {.users = &p.users, .items = &p.items, .ds = ds};
    p.rc = mfr_parse_ratings_chunked(&f, syn, &ids, lo, hi, chunks, fast, &p.r, &p.err);
    free(copy);
    return p;
}

/* Fails unless got is exactly want (the chunk count named in messages). */
static void expect_same(const struct parsed *want, const struct parsed *got, int chunks)
{
    if (got->rc != want->rc || (want->rc != MFR_OK && strcmp(got->err.message, want->err.message)))
        fail_msg("%d chunks: status %d '%s', want %d '%s'", chunks, got->rc, got->err.message,
                 want->rc, want->err.message);
    if (want->rc != MFR_OK) {
        assert_null(got->r);
        return;
    }
    assert_int_equal(got->r->n, want->r->n);
    size_t n = (size_t)want->r->n;
    assert_memory_equal(got->r->user, want->r->user, n * sizeof(int32_t));
    assert_memory_equal(got->r->item, want->r->item, n * sizeof(int32_t));
    assert_memory_equal(got->r->rating, want->r->rating, n * sizeof(float));
    assert_memory_equal(got->r->ts, want->r->ts, n * sizeof(int64_t));
    assert_int_equal(got->users.n, want->users.n);
    assert_int_equal(got->items.n, want->items.n);
    assert_memory_equal(got->users.raw, want->users.raw, (size_t)want->users.n * 8);
    assert_memory_equal(got->items.raw, want->items.raw, (size_t)want->items.n * 8);
}

/* Parses text in 1..max_chunks chunks (every byte a possible boundary for
 * short files) and 7, fast path on, and compares each with the one-pass
 * field-by-field parse; returns that reference (the caller frees it). */
static struct parsed check_all_chunks(const char *text, const struct mfr_rating_syntax *syn,
                                      float lo, float hi, const mfr_dataset *ds)
{
    struct parsed want = parse(text, syn, lo, hi, ds, 1, false);
    int max_chunks = (int)strlen(text) + 2;
    if (max_chunks > 90) max_chunks = 90;
    /* Every chunk count on 2 threads; a few on 1, 3 and 7 (the result
     * depends on the chunks only; oversubscribed regions are slow). */
    const int threads[] = {2, 1, 3, 7};
    for (int t = 0; t < 4; t++) {
        mfr_set_threads(threads[t]);
        for (int c = 1; c <= max_chunks; c++) {
            if (t > 0 && c != 1 && c != 2 && c != 3 && c != 7 && c != max_chunks) continue;
            struct parsed got = parse(text, syn, lo, hi, ds, c, true);
            expect_same(&want, &got, c);
            parsed_free(&got);
        }
    }
    mfr_set_threads(0);
    return want;
}

static const struct mfr_rating_syntax TAB = {"\t", false, false, 0.0f, 0, false};

/* ------------------------------------------------------------------ */
/* Well-formed files                                                    */
/* ------------------------------------------------------------------ */

/* A made-up u.data-like text of `lines` lines: ids repeat, some sparse
 * (above the direct table), ratings with and without decimals. */
static char *made_up(int lines, const char *eol, const char *sep)
{
    size_t cap = (size_t)lines * 80 + 1, len = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    static const char *const ratings[] = {"1", "3.5", "5", "2.25", "4.", "0.5", "3.000001", "1e0"};
    uint64_t x = 12345;
    for (int k = 0; k < lines; k++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        long long u = (long long)(x >> 60) + 1, i = (long long)((x >> 40) & 63) + 1;
        if (k % 17 == 3) u = 9007199254740993LL + (long long)(x >> 62); /* sparse: hashed */
        if (k % 23 == 5) i = 4000000000LL;
        len += (size_t)snprintf(s + len, cap - len, "%lld%s%lld%s%s", u, sep, i, sep,
                                ratings[(x >> 33) % 8]);
        if (k % 3) len += (size_t)snprintf(s + len, cap - len, "%s%llu", sep, (unsigned long long)(x >> 34));
        len += (size_t)snprintf(s + len, cap - len, "%s", eol);
    }
    return s;
}

static void test_well_formed_any_chunks(void **state)
{
    (void)state;
    const char *const eols[] = {"\n", "\r\n"};
    for (int e = 0; e < 2; e++) {
        char *text = made_up(60, eols[e], "\t");
        struct parsed want = check_all_chunks(text, &TAB, 0.0f, 5.0f, NULL);
        assert_int_equal(want.rc, MFR_OK);
        assert_int_equal(want.r->n, 60);
        /* the reference itself: line 2 is "ID\tID\t3.5\tTS" etc.; spot checks */
        assert_true(want.users.n > 16 && want.users.n < 30);
        parsed_free(&want);
        free(text);
    }
}

static void test_endings_and_blank_tail(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "1\t2\t3\n4\t5\t1.5\t99",          /* no final newline */
        "1\t2\t3\r\n4\t5\t1.5\t99\r",      /* CRLF, a final lone CR */
        "1\t2\t3\n4\t5\t1.5\n\n\n",        /* blank lines at the end */
        "1\t2\t3\r\n\r\n4\t5\t2\r\n",      /* a blank line in the middle */
        "7\t8\t4\n\n\n\n\n\n\n\n9\t9\t9\n", /* ... found far from its blank */
        "\n",
        "",
        "1\t2\t3\t\n",                      /* an empty timestamp */
        "1\t2\t3\t4\t5\n",                  /* five fields */
        "01\t002\t03.50\t-7\n",             /* leading zeros, a negative timestamp */
        "1\t2\t3\n1\t2\t4\n",               /* a repeated pair: not the parser's concern */
        "1\t2\t3 \n4\t5\t1.5\t99  \r\n6\t7\t2", /* spaces ending lines: dropped */
        "1\t2\t3 x\n",                     /* a space inside a field is no ending */
        "1\t2\t3\t \n",                    /* a field of spaces ending the line: empty */
        "1\t2\t3\x01\n",                   /* a control byte, shown as \xHH */
        "1\t2\t3\t\t\n",                    /* a tab is a separator, not a trailing blank */
        "1\t2\t3,5\n",                     /* a decimal comma: said so */
        "1\t2\t3,\n",                      /* a comma that is no decimal comma */
    };
    static const char *const want_msg[] = {
        NULL,
        NULL,
        NULL,
        "t.data:2: blank line before the end of the file",
        "t.data:2: blank line before the end of the file",
        "t.data:1: file is empty (no ratings)",
        "t.data:1: file is empty (no ratings)",
        "t.data:1: timestamp '' is not an integer",
        "t.data:1: expected 3 or 4 tab-separated fields",
        NULL,
        NULL,
        NULL,
        "t.data:1: rating '3 x' is not a number",
        "t.data:1: timestamp '' is not an integer",
        "t.data:1: rating '3\\x01' is not a number",
        "t.data:1: expected 3 or 4 tab-separated fields (user, item, rating, timestamp), got 5",
        "t.data:1: rating '3,5' is not a number: the decimal point is '.', not ','",
        "t.data:1: rating '3,' is not a number",
    };
    for (size_t k = 0; k < sizeof texts / sizeof *texts; k++) {
        struct parsed want = check_all_chunks(texts[k], &TAB, 1.0f, 9.0f, NULL);
        if (want_msg[k]) {
            assert_int_equal(want.rc, MFR_ERR_PARSE);
            tu_expect_in(want.err.message, want_msg[k]);
        } else {
            assert_int_equal(want.rc, MFR_OK);
        }
        parsed_free(&want);
    }
    /* the values themselves, where they are easy to see */
    struct parsed p = parse("01\t002\t03.50\t-7\n", &TAB, 1.0f, 9.0f, NULL, 3, true);
    assert_int_equal(p.rc, MFR_OK);
    assert_true(p.r->rating[0] == 3.5f);
    assert_int_equal(p.r->ts[0], -7);
    assert_int_equal(p.users.raw[0], 1);
    assert_int_equal(p.items.raw[0], 2);
    parsed_free(&p);
    p = parse("1\t2\t3 \n4\t5\t1.5\t99  \r\n", &TAB, 1.0f, 9.0f, NULL, 1, true);
    assert_int_equal(p.rc, MFR_OK);
    assert_int_equal(p.r->n, 2);
    assert_true(p.r->rating[0] == 3.0f && p.r->rating[1] == 1.5f);
    assert_int_equal(p.r->ts[1], 99);
    parsed_free(&p);
}

static void test_other_syntaxes(void **state)
{
    (void)state;
    const struct mfr_rating_syntax dat = {"::", false, false, 0.0f, 0, false};
    char *text = made_up(40, "\n", "::");
    struct parsed want = check_all_chunks(text, &dat, 0.0f, 5.0f, NULL);
    assert_int_equal(want.rc, MFR_OK);
    parsed_free(&want);
    free(text);
    /* a lone ':' is part of a field */
    want = check_all_chunks("1::2::3\n1:2::3::4\n", &dat, 0.0f, 5.0f, NULL);
    assert_int_equal(want.rc, MFR_ERR_PARSE);
    tu_expect_in(want.err.message, "t.data:2: user id '1:2' is not a positive integer");
    parsed_free(&want);

    /* CSV with a header and spaces around fields (trimmed) */
    const struct mfr_rating_syntax csv = {",", true, true, 0.0f, 0, false};
    want = check_all_chunks("userId,movieId,rating,timestamp\r\n1, 2 ,3.5,10\r\n 3,4,5\r\n"
                            "1,4,  0.5  ,11\r\n",
                            &csv, 0.5f, 5.0f, NULL);
    assert_int_equal(want.rc, MFR_OK);
    assert_int_equal(want.r->n, 3);
    assert_true(want.r->rating[2] == 0.5f);
    parsed_free(&want);
    want = check_all_chunks("userId,movieId,rating\n", &csv, 0.5f, 5.0f, NULL);
    assert_int_equal(want.rc, MFR_ERR_PARSE);
    tu_expect_in(want.err.message, "t.data:1: the file holds its header alone (no ratings)");
    parsed_free(&want);
    want = check_all_chunks("userId,movieId,rating\n\n1,2,3\n", &csv, 0.5f, 5.0f, NULL);
    tu_expect_in(want.err.message, "t.data:2: blank line before the end of the file");
    parsed_free(&want);

    /* space-separated, not trimmed */
    const struct mfr_rating_syntax sp = {" ", false, false, 0.0f, 0, false};
    want = check_all_chunks("1 2 3\n4 5 6 7\n", &sp, 1.0f, 9.0f, NULL);
    assert_int_equal(want.rc, MFR_OK);
    parsed_free(&want);
    /* every line as many fields as the first (mfr_rating_fields), on the
     * fast path and the field-by-field one alike, in any chunks */
    const struct mfr_rating_syntax tab4 = {"\t", false, false, 0.0f, 4, false}, tab3 = {"\t", false, false, 0.0f, 3, false};
    want = check_all_chunks("1\t2\t3\t10\n2\t3\t4\t11\n3\t4\t5\n4\t5\t1\t12\n", &tab4, 1.0f, 5.0f, NULL);
    assert_int_equal(want.rc, MFR_ERR_PARSE);
    tu_expect_in(want.err.message,
                 "t.data:3: 3 fields (user, item, rating) where the file's first rating line has 4: its "
                 "timestamp is missing");
    parsed_free(&want);
    want = check_all_chunks("1\t2\t3\n2\t3\t4\n3\t4\t5\t9\n", &tab3, 1.0f, 5.0f, NULL);
    assert_int_equal(want.rc, MFR_ERR_PARSE);
    tu_expect_in(want.err.message, "t.data:3: 4 fields (user, item, rating, timestamp) where the file's first "
                                   "rating line has 3, without a timestamp");
    parsed_free(&want);
    want = check_all_chunks("1\t2\t3\t10 \r\n2\t3\t4\t11\n", &tab4, 1.0f, 5.0f, NULL);
    assert_int_equal(want.rc, MFR_OK);
    parsed_free(&want);
    /* a space ending a line is no empty field after it */
    want = check_all_chunks("1 2 3 \n4 5 6 7  \r\n", &sp, 1.0f, 9.0f, NULL);
    assert_int_equal(want.rc, MFR_OK);
    assert_int_equal(want.r->n, 2);
    assert_int_equal(want.r->ts[1], 7);
    parsed_free(&want);
    /* and the same ending in the '::' and CSV syntaxes */
    want = check_all_chunks("1::2::3::5 \n", &dat, 0.0f, 5.0f, NULL);
    assert_int_equal(want.rc, MFR_OK);
    assert_int_equal(want.r->ts[0], 5);
    parsed_free(&want);
    want = check_all_chunks("1,2,3\n2,3,4\t\n", &csv, 0.0f, 5.0f, NULL);
    assert_int_equal(want.rc, MFR_ERR_PARSE);
    tu_expect_in(want.err.message, "t.data:2: rating '4\\t' is not a number");
    parsed_free(&want);
}

/* The field count of the first rating line, which every line must then
 * have: past a header, spaces and '\r' ending the line dropped. */
static void test_rating_fields(void **state)
{
    (void)state;
    const struct {
        const char *text, *sep;
        bool header;
        int want;
    } cases[] = {
        {"1\t2\t3\t4\n1\t3\t5\n", "\t", false, 4},
        {"1\t2\t3 \r\n", "\t", false, 3},
        {"userId,movieId,rating\n1,2,3,4\n", ",", true, 4},
        {"userId,movieId,rating\n", ",", true, 0},
        {"1::2::3::4::5\n", "::", false, 0},
        {"1::2\n", "::", false, 0},
        {"", "\t", false, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        char path[] = "t.data";
        struct mfr_text_file f = {.path = path, .data = (char *)cases[c].text, .size = strlen(cases[c].text)};
        struct mfr_rating_syntax syn = {.header = cases[c].header};
        memcpy(syn.sep, cases[c].sep, strlen(cases[c].sep) + 1);
        if (mfr_rating_fields(&f, &syn) != cases[c].want)
            fail_msg("case %zu: %d fields, want %d", c, mfr_rating_fields(&f, &syn), cases[c].want);
    }
}

/* ------------------------------------------------------------------ */
/* Errors: the first bad line in file order, whatever the chunks        */
/* ------------------------------------------------------------------ */

/* made_up(lines) with line `at` (1-based) replaced by `bad`. */
static char *with_line(const char *text, int at, const char *bad)
{
    size_t n = strlen(text), bl = strlen(bad);
    char *s = malloc(n + bl + 2);
    assert_non_null(s);
    const char *p = text;
    for (int l = 1; l < at; l++) p = strchr(p, '\n') + 1;
    const char *q = strchr(p, '\n');
    size_t head = (size_t)(p - text);
    memcpy(s, text, head);
    memcpy(s + head, bad, bl);
    strcpy(s + head + bl, q);
    return s;
}

/* Line `at` (1-based) of text without its '\n', malloc'd. */
static char *line_copy(const char *text, int at)
{
    const char *p = text;
    for (int l = 1; l < at; l++) p = strchr(p, '\n') + 1;
    size_t n = (size_t)(strchr(p, '\n') - p);
    char *s = malloc(n + 1);
    assert_non_null(s);
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static void test_first_error_wins(void **state)
{
    (void)state;
    char *base = made_up(50, "\n", "\t");
    struct {
        int at;
        const char *bad;
    } edits[] = {{44, "1\t2\tx"}, {31, "0\t5\t3"}, {12, "3\t4\t7"}, {27, ""}};
    /* Each round adds a bad line earlier than the others: the message must
     * always name the earliest, including from a later chunk's view. */
    static const char *const want[] = {
        "t.data:44: rating 'x' is not a number",
        "t.data:31: user id 0 is not positive",
        "t.data:12: rating 7 outside 0..5",
        "t.data:12: rating 7 outside 0..5",
    };
    char *text = base;
    for (int k = 0; k < 4; k++) {
        char *next = with_line(text, edits[k].at, edits[k].bad);
        if (text != base) free(text);
        text = next;
        struct parsed p = check_all_chunks(text, &TAB, 0.0f, 5.0f, NULL);
        assert_int_equal(p.rc, MFR_ERR_PARSE);
        assert_string_equal(p.err.message, want[k]);
        parsed_free(&p);
    }
    free(text);
    /* a blank line (27) before every other error */
    text = with_line(base, 27, "");
    char *t2 = with_line(text, 40, "1\t2\t3\t4\t5");
    struct parsed p = check_all_chunks(t2, &TAB, 0.0f, 5.0f, NULL);
    assert_string_equal(p.err.message, "t.data:27: blank line before the end of the file");
    parsed_free(&p);
    free(t2);
    /* blank lines 27..30 then only good lines: the blank error names 27 */
    t2 = with_line(text, 28, "");
    char *t3 = with_line(t2, 29, "\r");
    p = check_all_chunks(t3, &TAB, 0.0f, 5.0f, NULL);
    assert_string_equal(p.err.message, "t.data:27: blank line before the end of the file");
    parsed_free(&p);
    free(t3);
    free(t2);
    free(text);
    free(base);
}

static void test_through_a_dataset(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    tu_write_file(dir, "r.tsv", "1\t10\t3\n2\t20\t4\n3\t30\t5\n9007199254740993\t10\t1\n",
                  (size_t)-1);
    mfr_load_options opt;
    mfr_load_options_default(&opt);
    opt.format = MFR_FORMAT_DELIMITED;
    opt.ratings_file = "r.tsv";
    opt.cache = MFR_CACHE_NEVER;
    mfr_dataset *ds = tu_load_ok(dir, &opt);
    struct parsed p = check_all_chunks("3\t10\t1\n9007199254740993\t30\t2\r\n1\t20\t5\n", &TAB, 1.0f,
                                       5.0f, ds);
    assert_int_equal(p.rc, MFR_OK);
    assert_int_equal(p.r->user[1], 3); /* the largest raw id is dense index 3 */
    assert_int_equal(p.r->item[1], 2);
    parsed_free(&p);
    p = check_all_chunks("3\t10\t1\n1\t20\t5\n2\t40\t3\n4\t10\t2\n", &TAB, 1.0f, 5.0f, ds);
    assert_string_equal(p.err.message, "t.data:3: unknown item id 40");
    parsed_free(&p);
    mfr_dataset_destroy(ds);
    tu_rmtree(dir);
    free(dir);
}

/* ------------------------------------------------------------------ */
/* A whole dataset on 1, 2, 3 and 7 threads                             */
/* ------------------------------------------------------------------ */

/* `lines` CRLF lines "user,item,rating,ts" with every (user, item) pair
 * once: 64 items a user, in an order that differs by user; a few sparse
 * (hashed) user and item ids. */
static char *made_up_unique(int lines)
{
    size_t cap = (size_t)lines * 64 + 1, len = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    static const char *const ratings[] = {"1", "3.5", "5", "2.25", "4.", "0.5", "3.000001", "1e0"};
    for (int k = 0; k < lines; k++) {
        long long u = k / 64 + 1, j = ((k % 64) * 37 + u * 53) % 4096;
        if (u % 101 == 7) u += 9007199254740000LL;
        long long i = j < 4000 ? j + 1 : 4000000000LL + j;
        len += (size_t)snprintf(s + len, cap - len, "%lld,%lld,%s,%d\r\n", u, i,
                                ratings[(k * 7 + u) % 8], 880000000 + k);
    }
    return s;
}

static void test_dataset_any_threads(void **state)
{
    (void)state;
    /* 8 MiB and more: a chunk a thread (MFR_PARSE_CHUNK_MIN) up to 7, and
     * the mapped-file path */
    int lines = 400000;
    char *text = made_up_unique(lines);
    assert_true(strlen(text) > 7 * MFR_PARSE_CHUNK_MIN);
    char *dir = tu_mkdtemp();
    tu_write_file(dir, "r.csv", text, (size_t)-1);
    mfr_load_options opt;
    mfr_load_options_default(&opt);
    opt.format = MFR_FORMAT_DELIMITED;
    opt.ratings_file = "r.csv";
    opt.cache = MFR_CACHE_NEVER;
    opt.min_rating = 0.0f;
    mfr_dataset *ds[4];
    const int threads[] = {1, 2, 3, 7};
    for (int t = 0; t < 4; t++) {
        mfr_set_threads(threads[t]);
        ds[t] = tu_load_ok(dir, &opt);
    }
    mfr_set_threads(0);
    assert_int_equal(ds[0]->ratings->n, lines);
    assert_int_equal(ds[0]->n_users, (lines + 63) / 64);
    assert_true(ds[0]->n_items > 4000); /* the duplicate check's sort path, not its bitmap */
    for (int t = 1; t < 4; t++) {
        assert_int_equal(mfr_dataset_fingerprint(ds[t]), mfr_dataset_fingerprint(ds[0]));
        assert_int_equal(ds[t]->n_users, ds[0]->n_users);
        assert_int_equal(ds[t]->n_items, ds[0]->n_items);
        assert_memory_equal(ds[t]->user_ids, ds[0]->user_ids, (size_t)ds[0]->n_users * 8);
        assert_memory_equal(ds[t]->item_ids, ds[0]->item_ids, (size_t)ds[0]->n_items * 8);
        const mfr_ratings *a = ds[0]->ratings, *b = ds[t]->ratings;
        assert_int_equal(b->n, a->n);
        assert_memory_equal(b->user, a->user, (size_t)a->n * 4);
        assert_memory_equal(b->item, a->item, (size_t)a->n * 4);
        assert_memory_equal(b->rating, a->rating, (size_t)a->n * 4);
        assert_memory_equal(b->ts, a->ts, (size_t)a->n * 8);
    }
    /* the mapped file's last line without its CRLF: the zeros after the
     * data in the last page end it */
    size_t len = strlen(text);
    tu_write_file(dir, "r.csv", text, len - 2);
    mfr_set_threads(2);
    mfr_dataset *nocrlf = tu_load_ok(dir, &opt);
    mfr_set_threads(0);
    assert_int_equal(mfr_dataset_fingerprint(nocrlf), mfr_dataset_fingerprint(ds[0]));
    mfr_dataset_destroy(nocrlf);
    /* two repeated pairs: the earlier repeat is named, with its first line */
    char *line100 = line_copy(text, 100), *line200k = line_copy(text, 200000);
    char *d1 = with_line(text, 350000, line200k), *d2 = with_line(d1, 300000, line100);
    tu_write_file(dir, "r.csv", d2, (size_t)-1);
    for (int t = 0; t < 4; t++) {
        mfr_set_threads(threads[t]);
        mfr_dataset *d = NULL;
        mfr_error err = {0};
        assert_int_equal(mfr_dataset_load(dir, &opt, &d, &err), MFR_ERR_PARSE);
        tu_expect_in(err.message, "r.csv:300000: duplicate rating for user 2 and item ");
        tu_expect_in(err.message, "(first on line 100)");
    }
    /* a repeat of a user far into the file alone: the duplicate check's
     * later ranges of users are searched too */
    tu_write_file(dir, "r.csv", d1, (size_t)-1);
    for (int t = 0; t < 4; t += 3) {
        mfr_set_threads(threads[t]);
        mfr_dataset *d = NULL;
        mfr_error err = {0};
        assert_int_equal(mfr_dataset_load(dir, &opt, &d, &err), MFR_ERR_PARSE);
        tu_expect_in(err.message, "r.csv:350000: duplicate rating for user ");
        tu_expect_in(err.message, "(first on line 200000)");
    }
    free(line100), free(line200k), free(d1), free(d2);
    /* and a bad line near the end names its line whatever the threads */
    char *bad = strstr(text + strlen(text) - 200, "\r\n") + 2;
    bad[0] = 'x';
    tu_write_file(dir, "r.csv", text, (size_t)-1);
    for (int t = 0; t < 4; t++) {
        mfr_set_threads(threads[t]);
        mfr_dataset *d = NULL;
        mfr_error err = {0};
        assert_int_equal(mfr_dataset_load(dir, &opt, &d, &err), MFR_ERR_PARSE);
        int line = 1;
        for (const char *p = text; p < bad; p++) line += *p == '\n';
        char want[64];
        snprintf(want, sizeof want, "r.csv:%d: user id 'x", line);
        tu_expect_in(err.message, want);
    }
    mfr_set_threads(0);
    for (int t = 0; t < 4; t++) mfr_dataset_destroy(ds[t]);
    tu_rmtree(dir);
    free(dir);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_well_formed_any_chunks),
        cmocka_unit_test(test_endings_and_blank_tail),
        cmocka_unit_test(test_other_syntaxes),
        cmocka_unit_test(test_rating_fields),
        cmocka_unit_test(test_first_error_wins),
        cmocka_unit_test(test_through_a_dataset),
        cmocka_unit_test(test_dataset_any_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
