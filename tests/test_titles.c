/*
 * test_titles.c — mfr_dataset_find_title: "#ID", exact titles (case,
 * year left out, MovieLens' trailing article typed in front), substrings,
 * ambiguity (every candidate reported), and the closest titles for a near
 * miss. Runs on a tiny hand-made ML-100K-layout dataset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_util.h"

static const char *const titles[] = {
    "Heat (1995)",                                               /* 1 */
    "Heat Wave (1990)",                                          /* 2 */
    "Usual Suspects, The (1995)",                                /* 3 */
    "Chasing Amy (1997)",                                        /* 4 */
    "Chasing Amy (1997)",                                        /* 5 */
    "City of Lost Children, The (Cit\xe9 des enfants perdus, La) (1995)", /* 6 */
    "Star Wars (1977)",                                          /* 7 */
    "Appartement, L' (1996)",                                    /* 8 */
    "Good, the Bad and the Ugly, The (1966)",                    /* 9 */
    "Mis\xe9rables, Les (1995)",                                  /* 10: u.item is Latin-1 */
    "Birds, The (1963)",                                         /* 11 */
    "Birds (1963)",                                              /* 12: 11 without its article */
    "Big (1988)",                                                /* 13 */
    "#Horror (2015)",                                            /* 14: MovieLens' latest */
    "#1 Cheerleader Camp (2010)",                                /* 15 */
};
enum { N = sizeof titles / sizeof *titles };

static char *g_dir;
static mfr_dataset *g_ds;

static int setup(void **state)
{
    (void)state;
    g_dir = tu_mkdtemp();
    tu_write_titled_dataset(g_dir, titles, N, 3);
    g_ds = tu_load_ok(g_dir, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mfr_dataset_destroy(g_ds);
    tu_rmtree(g_dir);
    free(g_dir);
    return 0;
}

/* Looks `text` up; checks the match kind and the raw ids found. */
static void expect(const char *text, int kind, int n, const long *ids)
{
    int32_t items[8], n_out = -1;
    int match = -1;
    mfr_error err = {0};
    assert_int_equal(mfr_dataset_find_title(g_ds, text, items, 8, &n_out, &match, &err), MFR_OK);
    if (match != kind || n_out != n) fail_msg("'%s': match %d, %d items (want %d, %d)", text, match, (int)n_out, kind, n);
    for (int x = 0; x < n && x < 8; x++)
        assert_int_equal(mfr_dataset_item_id(g_ds, items[x]), ids[x]);
}

static void test_exact_and_substring(void **state)
{
    (void)state;
    expect("heat (1995)", MFR_TITLE_EXACT, 1, (long[]){1});
    expect("Heat", MFR_TITLE_EXACT, 1, (long[]){1}); /* the year may be left out */
    expect("hea", MFR_TITLE_SUBSTRING, 2, (long[]){1, 2});
    expect("Chasing Amy", MFR_TITLE_EXACT, 2, (long[]){4, 5});
    expect("#7", MFR_TITLE_ID, 1, (long[]){7});
    expect("#77", MFR_TITLE_NONE, 0, NULL);
    expect("#x", MFR_TITLE_NONE, 0, NULL);
    /* an id is written as in rating files: no blank, no '+' (strtoll took
     * both for movie 7) */
    expect("# 7", MFR_TITLE_NONE, 0, NULL);
    expect("#+7", MFR_TITLE_NONE, 0, NULL);
    expect("#07", MFR_TITLE_ID, 1, (long[]){7});
}

/* Text starting with '#' that is no "#ID" is a title's: "#Horror (2015)"
 * could not be named by its title (a malformed id); "#1" stays the id. */
static void test_titles_starting_with_hash(void **state)
{
    (void)state;
    expect("#Horror (2015)", MFR_TITLE_EXACT, 1, (long[]){14});
    expect("#horror", MFR_TITLE_EXACT, 1, (long[]){14});
    expect("#1 Cheerleader Camp (2010)", MFR_TITLE_EXACT, 1, (long[]){15});
    expect("#1 Cheer", MFR_TITLE_SUBSTRING, 1, (long[]){15});
    expect("#1", MFR_TITLE_ID, 1, (long[]){1});
    expect("#Horrr", MFR_TITLE_NONE, 1, (long[]){14});
}

/* Text ending right at the end of its memory is read to its NUL and no
 * further: "" and "#" as the last bytes before an unmapped page (the "#ID"
 * check read text[1] of "" before it looked at text[0]). */
static void test_text_read_to_its_end(void **state)
{
    (void)state;
    const long page = sysconf(_SC_PAGESIZE);
    char *mem = mmap(NULL, 2 * (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(mem != MAP_FAILED);
    assert_int_equal(mprotect(mem + page, (size_t)page, PROT_NONE), 0);
    int32_t items[8], n = -1;
    int match = -1;
    mfr_error err = {0};
    char *empty = mem + page - 1, *hash = mem + page - 2;
    *empty = '\0';
    assert_int_equal(mfr_dataset_find_title(g_ds, empty, items, 8, &n, &match, &err), MFR_OK);
    hash[0] = '#'; /* a part of "#Horror (2015)" */
    assert_int_equal(mfr_dataset_find_title(g_ds, hash, items, 8, &n, &match, &err), MFR_OK);
    munmap(mem, 2 * (size_t)page);
}

static void test_articles(void **state)
{
    (void)state;
    expect("The Usual Suspects", MFR_TITLE_EXACT, 1, (long[]){3});
    expect("the usual suspects (1995)", MFR_TITLE_EXACT, 1, (long[]){3});
    expect("Usual Suspects, The", MFR_TITLE_EXACT, 1, (long[]){3});
    expect("The Usual", MFR_TITLE_SUBSTRING, 1, (long[]){3});
    expect("The City of Lost Children", MFR_TITLE_SUBSTRING, 1, (long[]){6});
    expect("L'Appartement", MFR_TITLE_EXACT, 1, (long[]){8});
    expect("The Good, the Bad and the Ugly", MFR_TITLE_EXACT, 1, (long[]){9});
    /* left out, the article still leaves the whole title: exact, not a
     * substring of it and of "Heat"-like longer titles alike */
    expect("Usual Suspects", MFR_TITLE_EXACT, 1, (long[]){3});
    expect("usual suspects (1995)", MFR_TITLE_EXACT, 1, (long[]){3});
    expect("Appartement", MFR_TITLE_EXACT, 1, (long[]){8});
    expect("Misérables", MFR_TITLE_EXACT, 1, (long[]){10});
}

/* A title equal to the text as written is meant over one equal only with
 * its article left out: "Birds (1963)" was ambiguous with "Birds, The
 * (1963)", which could be named while the other could not. */
static void test_as_written_wins(void **state)
{
    (void)state;
    expect("Birds (1963)", MFR_TITLE_EXACT, 1, (long[]){12});
    expect("birds", MFR_TITLE_EXACT, 1, (long[]){12});
    expect("Birds, The (1963)", MFR_TITLE_EXACT, 1, (long[]){11});
    expect("The Birds", MFR_TITLE_EXACT, 1, (long[]){11});
    expect("Bird", MFR_TITLE_SUBSTRING, 2, (long[]){11, 12});
    /* the same title twice stays ambiguous */
    expect("Chasing Amy (1997)", MFR_TITLE_EXACT, 2, (long[]){4, 5});
}

/* Case is ignored for Latin-1's accented letters too (typed as UTF-8). */
static void test_accented_case(void **state)
{
    (void)state;
    expect("Les Mis\xc3\xa9rables", MFR_TITLE_EXACT, 1, (long[]){10});
    expect("LES MIS\xc3\x89RABLES", MFR_TITLE_EXACT, 1, (long[]){10});
    expect("mis\xc3\x89rables", MFR_TITLE_EXACT, 1, (long[]){10}); /* the article left out */
    expect("mis\xc3\x89r", MFR_TITLE_SUBSTRING, 1, (long[]){10});
    /* typed without its accents */
    expect("Les Miserables", MFR_TITLE_EXACT, 1, (long[]){10});
    expect("MISER", MFR_TITLE_SUBSTRING, 1, (long[]){10});
}

static void test_near_misses_and_errors(void **state)
{
    (void)state;
    int32_t items[3], n;
    int match;
    mfr_error err = {0};
    assert_int_equal(mfr_dataset_find_title(g_ds, "Star Warz", items, 3, &n, &match, &err), MFR_OK);
    assert_int_equal(match, MFR_TITLE_NONE);
    /* one edit from Star Wars; every other title is more than two behind */
    assert_int_equal(n, 1);
    assert_int_equal(mfr_dataset_item_id(g_ds, items[0]), 7);
    /* a near miss of a part of a long title finds it ("Wallace and Gromit"
     * for "Wallace & Gromit: The Best of Aardman Animation") */
    assert_int_equal(mfr_dataset_find_title(g_ds, "Enfants Perdsu", items, 3, &n, &match, &err), MFR_OK);
    assert_int_equal(match, MFR_TITLE_NONE);
    assert_int_equal(mfr_dataset_item_id(g_ds, items[0]), 6);
    assert_int_equal(mfr_dataset_find_title(g_ds, "Usaul Suspects", items, 1, &n, &match, &err),
                     MFR_OK);
    assert_int_equal(match, MFR_TITLE_NONE);
    assert_int_equal(mfr_dataset_item_id(g_ds, items[0]), 3);
    /* a text no title is near (every one more edits away than half its
     * length) gets no suggestions: noise is no near miss */
    assert_int_equal(mfr_dataset_find_title(g_ds, "zzzzqqq", items, 3, &n, &match, &err), MFR_OK);
    assert_int_equal(match, MFR_TITLE_NONE);
    assert_int_equal(n, 0);
    /* two letters swapped (two edits) in a text of three is a near miss */
    assert_int_equal(mfr_dataset_find_title(g_ds, "Bgi", items, 3, &n, &match, &err), MFR_OK);
    assert_int_equal(match, MFR_TITLE_NONE);
    assert_true(n >= 1);
    assert_int_equal(mfr_dataset_item_id(g_ds, items[0]), 13);
    /* two edits in nine bytes is one */
    assert_int_equal(mfr_dataset_find_title(g_ds, "Star Wras", items, 3, &n, &match, &err), MFR_OK);
    assert_int_equal(match, MFR_TITLE_NONE);
    assert_true(n >= 1);
    assert_int_equal(mfr_dataset_item_id(g_ds, items[0]), 7);
    /* max_out 0: only the count */
    assert_int_equal(mfr_dataset_find_title(g_ds, "heat", NULL, 0, &n, &match, &err), MFR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(mfr_dataset_find_title(g_ds, "zzz", NULL, 0, &n, &match, &err), MFR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(mfr_dataset_find_title(NULL, "x", items, 3, &n, &match, &err), MFR_ERR_INVALID);
    assert_int_equal(mfr_dataset_find_title(g_ds, "x", items, -1, &n, &match, &err), MFR_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_and_substring),
        cmocka_unit_test(test_titles_starting_with_hash),
        cmocka_unit_test(test_text_read_to_its_end),
        cmocka_unit_test(test_articles),
        cmocka_unit_test(test_as_written_wins),
        cmocka_unit_test(test_accented_case),
        cmocka_unit_test(test_near_misses_and_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
