/*
 * test_formats.c — unit tests of the MovieLens 1M/10M (.dat), 20M+ (.csv)
 * and generic delimited loaders, format detection and --format-style
 * overrides, the rating range each format implies, malformed input in
 * every format ("file:line" in the message), reading further rating files
 * in a dataset's own syntax, large raw ids, and the binary dataset cache
 * (used when valid, ignored when stale, racy or corrupt, identical to the
 * parsed dataset; a first run's timestamps spilled to a file give the same
 * dataset and cache).
 *
 * Every dataset is tiny, made up, and written into a fresh temporary
 * directory by the test itself.
 */
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <dirent.h>

#include "dataset_priv.h"
#include "loader_priv.h"
#include "mfrec.h"
#include "test_util.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

/* Expects the load to fail with `status` and both needles in the message. */
static void load_fails(const char *dir, const mfr_load_options *opt, int status,
                       const char *needle, const char *needle2)
{
    mfr_dataset *ds = NULL;
    mfr_error err = {0};
    int rc = mfr_dataset_load(dir, opt, &ds, &err);
    if (rc != status || ds != NULL || !strstr(err.message, needle) ||
        (needle2 && !strstr(err.message, needle2)))
        fail_msg("expected status %d with '%s'%s%s, got %d: \"%s\"", status, needle,
                 needle2 ? " and " : "", needle2 ? needle2 : "", rc, err.message);
}

static mfr_load_options opts(int32_t format)
{
    mfr_load_options o;
    mfr_load_options_default(&o);
    o.format = format;
    return o;
}

/* Sets the modification time of dir/name to `ago` seconds in the past. */
static void set_mtime(const char *dir, const char *name, int ago)
{
    char *p = tu_path(dir, name);
    struct timespec t[2];
    clock_gettime(CLOCK_REALTIME, &t[0]);
    t[0].tv_sec -= ago;
    t[1] = t[0];
    assert_int_equal(utimensat(AT_FDCWD, p, t, 0), 0);
    free(p);
}

/* Sets the modification time of dir/name to `sec` (seconds since 1970). */
static void set_mtime_at(const char *dir, const char *name, time_t sec)
{
    char *p = tu_path(dir, name);
    struct timespec t[2] = {{sec, 0}, {sec, 0}};
    assert_int_equal(utimensat(AT_FDCWD, p, t, 0), 0);
    free(p);
}

/* Every accessor of a and b agrees, ratings included. */
static void assert_same_dataset(const mfr_dataset *a, const mfr_dataset *b)
{
    assert_true(mfr_dataset_fingerprint(a) == mfr_dataset_fingerprint(b));
    assert_int_equal(mfr_dataset_n_users(a), mfr_dataset_n_users(b));
    assert_int_equal(mfr_dataset_n_items(a), mfr_dataset_n_items(b));
    assert_int_equal(mfr_dataset_format(a), mfr_dataset_format(b));
    assert_string_equal(mfr_dataset_dir(a), mfr_dataset_dir(b));
    float alo, ahi, blo, bhi;
    mfr_dataset_rating_range(a, &alo, &ahi);
    mfr_dataset_rating_range(b, &blo, &bhi);
    assert_true(alo == blo && ahi == bhi);
    assert_int_equal(mfr_dataset_n_genres(a), mfr_dataset_n_genres(b));
    for (int32_t g = 0; g < mfr_dataset_n_genres(a); g++)
        assert_string_equal(mfr_dataset_genre_name(a, g), mfr_dataset_genre_name(b, g));
    for (int32_t i = 0; i < mfr_dataset_n_items(a); i++) {
        assert_int_equal(mfr_dataset_item_id(a, i), mfr_dataset_item_id(b, i));
        assert_string_equal(mfr_dataset_item_title(a, i), mfr_dataset_item_title(b, i));
        assert_string_equal(mfr_dataset_item_date(a, i), mfr_dataset_item_date(b, i));
        assert_int_equal(mfr_dataset_item_year(a, i), mfr_dataset_item_year(b, i));
        assert_int_equal(mfr_dataset_item_genres(a, i), mfr_dataset_item_genres(b, i));
    }
    for (int32_t u = 0; u < mfr_dataset_n_users(a); u++) {
        assert_int_equal(mfr_dataset_user_id(a, u), mfr_dataset_user_id(b, u));
        assert_int_equal(mfr_dataset_user_age(a, u), mfr_dataset_user_age(b, u));
        assert_int_equal(mfr_dataset_user_sex(a, u), mfr_dataset_user_sex(b, u));
        assert_string_equal(mfr_dataset_user_occupation(a, u),
                            mfr_dataset_user_occupation(b, u));
        assert_string_equal(mfr_dataset_user_zip(a, u), mfr_dataset_user_zip(b, u));
    }
    const mfr_ratings *ra = mfr_dataset_ratings(a), *rb = mfr_dataset_ratings(b);
    assert_int_equal(mfr_ratings_count(ra), mfr_ratings_count(rb));
    for (int64_t k = 0; k < mfr_ratings_count(ra); k++) {
        int32_t ua, ia, ub, ib;
        float va, vb;
        int64_t ta, tb;
        mfr_ratings_get(ra, k, &ua, &ia, &va, &ta, NULL);
        mfr_ratings_get(rb, k, &ub, &ib, &vb, &tb, NULL);
        assert_int_equal(ua, ub);
        assert_int_equal(ia, ib);
        assert_true(va == vb);
        assert_int_equal(ta, tb);
    }
}

static int32_t genre_index(const mfr_dataset *ds, const char *name)
{
    for (int32_t g = 0; g < mfr_dataset_n_genres(ds); g++)
        if (!strcmp(mfr_dataset_genre_name(ds, g), name)) return g;
    fail_msg("genre '%s' not found", name);
    return -1;
}

static uint32_t bit(const mfr_dataset *ds, const char *name)
{
    return UINT32_C(1) << genre_index(ds, name);
}

/* ------------------------------------------------------------------ */
/* Fixtures                                                             */
/* ------------------------------------------------------------------ */

/* ML-1M: latin-1 movies.dat (one title contains "::"), users.dat. Movie 7
 * has no rating; user 9 has no rating. */
static const char ml1m_ratings[] = "1::10::5::978300760\n"
                                   "1::20::3::978302109\n"
                                   "2::10::4::978301968\n"
                                   "3::30::1::978300275\n";
static const char ml1m_movies[] = "10::Caf\xe9 Society (1995)::Comedy|Drama\n"
                                  "20::Toy Story (1995)::Animation|Children's|Comedy\n"
                                  "30::Star Trek::The Movie (1979)::Sci-Fi|Action\n"
                                  "7::Silent (1920)::\n";
static const char ml1m_users[] = "1::F::1::10::48067\n"
                                 "2::M::56::16::70072\n"
                                 "3::M::25::15::55117-1234\n"
                                 "9::F::45::0::02460\n";

static char *write_ml1m(void)
{
    char *dir = tu_mkdtemp();
    tu_write_file(dir, "ratings.dat", ml1m_ratings, (size_t)-1);
    tu_write_file(dir, "movies.dat", ml1m_movies, (size_t)-1);
    tu_write_file(dir, "users.dat", ml1m_users, (size_t)-1);
    return dir;
}

/* ML-10M: half stars, UTF-8 titles, no users.dat. */
static const char ml10m_ratings[] = "5::100::0.5::1111\n"
                                    "5::200::4.5::1112\n"
                                    "6::100::5::1113\n"
                                    "6::300::2.5::1114\n";
static const char ml10m_movies[] = "100::Am\xc3\xa9lie (2001)::Comedy|Romance\n"
                                   "200::Some Film (2005)::(no genres listed)\n"
                                   "300::Imax Thing (2009)::Documentary|IMAX\n";

/* ML-20M+: CSV with headers, quoted titles. */
static const char csv_ratings[] = "userId,movieId,rating,timestamp\n"
                                  "1,1,4.0,964982703\n"
                                  "1,3,4.5,964981247\n"
                                  "2,2,0.5,964982224\n"
                                  "3,4,3.5,964983815\n";
static const char csv_movies[] =
    "movieId,title,genres\n"
    "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n"
    "2,\"American President, The (1995)\",Comedy|Drama|Romance\n"
    "3,\"Dr. Strangelove, or \"\"The Bomb\"\" (1964)\",Comedy|War\n"
    "4,Generic (2015),(no genres listed)\n"
    "5,Big Screen (2010),Action|IMAX\n";

/* ------------------------------------------------------------------ */
/* ML-1M / ML-10M                                                       */
/* ------------------------------------------------------------------ */

static void test_ml1m(void **state)
{
    (void)state;
    char *dir = write_ml1m();
    mfr_dataset *ds = tu_load_ok(dir, NULL);
    assert_int_equal(mfr_dataset_format(ds), MFR_FORMAT_ML1M);
    assert_string_equal(mfr_format_name(mfr_dataset_format(ds)), "ml-1m");
    float lo, hi;
    mfr_dataset_rating_range(ds, &lo, &hi);
    assert_true(lo == 1.0f && hi == 5.0f);

    /* Users 1, 2, 3 (ratings) and 9 (users.dat); items 7, 10, 20, 30. */
    assert_int_equal(mfr_dataset_n_users(ds), 4);
    assert_int_equal(mfr_dataset_n_items(ds), 4);
    assert_int_equal(mfr_dataset_user_id(ds, 3), 9);
    assert_int_equal(mfr_dataset_item_id(ds, 0), 7);
    assert_int_equal(mfr_ratings_count(mfr_dataset_ratings(ds)), 4);
    int32_t u, i;
    float r;
    int64_t ts;
    mfr_ratings_get(mfr_dataset_ratings(ds), 3, &u, &i, &r, &ts, NULL);
    assert_int_equal(mfr_dataset_user_id(ds, u), 3);
    assert_int_equal(mfr_dataset_item_id(ds, i), 30);
    assert_true(r == 1.0f);
    assert_int_equal(ts, 978300275);

    /* latin-1 -> UTF-8, a title with "::", years, empty genres. */
    assert_string_equal(mfr_dataset_item_title(ds, 1), "Caf\xc3\xa9 Society (1995)");
    assert_int_equal(mfr_dataset_item_year(ds, 1), 1995);
    assert_string_equal(mfr_dataset_item_title(ds, 3), "Star Trek::The Movie (1979)");
    assert_int_equal(mfr_dataset_item_year(ds, 3), 1979);
    assert_string_equal(mfr_dataset_item_date(ds, 3), "");
    assert_int_equal(mfr_dataset_item_genres(ds, 0), 0);

    /* Genres in the MovieLens order, only those used. */
    const char *want[] = {"Action", "Animation", "Children's", "Comedy", "Drama", "Sci-Fi"};
    assert_int_equal(mfr_dataset_n_genres(ds), 6);
    for (int32_t g = 0; g < 6; g++) assert_string_equal(mfr_dataset_genre_name(ds, g), want[g]);
    assert_int_equal(mfr_dataset_item_genres(ds, 2),
                     bit(ds, "Animation") | bit(ds, "Children's") | bit(ds, "Comedy"));
    assert_int_equal(mfr_dataset_item_genres(ds, 3), bit(ds, "Sci-Fi") | bit(ds, "Action"));

    /* users.dat: gender, age code, occupation number -> README name, zip. */
    assert_int_equal(mfr_dataset_user_sex(ds, 0), 'F');
    assert_int_equal(mfr_dataset_user_age(ds, 0), 1);
    assert_string_equal(mfr_dataset_user_occupation(ds, 0), "K-12 student");
    assert_string_equal(mfr_dataset_user_occupation(ds, 1), "self-employed");
    assert_string_equal(mfr_dataset_user_zip(ds, 2), "55117-1234");
    assert_string_equal(mfr_dataset_user_occupation(ds, 3), "other or not specified");
    mfr_dataset_destroy(ds);

    /* ML-1M is 1..5: half a star is out of range by default. */
    tu_write_file(dir, "ratings.dat", "1::10::0.5::1\n", (size_t)-1);
    load_fails(dir, NULL, MFR_ERR_PARSE, "ratings.dat:1:", "outside 1..5");
    /* ... unless the caller widens the range. */
    mfr_load_options o = opts(MFR_FORMAT_AUTO);
    o.min_rating = 0.5f;
    ds = tu_load_ok(dir, &o);
    mfr_dataset_rating_range(ds, &lo, &hi);
    assert_true(lo == 0.5f && hi == 5.0f);
    mfr_dataset_destroy(ds);
    tu_rmtree(dir);
    free(dir);
}

static void test_ml10m(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    tu_write_file(dir, "ratings.dat", ml10m_ratings, (size_t)-1);
    tu_write_file(dir, "movies.dat", ml10m_movies, (size_t)-1);
    mfr_dataset *ds = tu_load_ok(dir, NULL);
    assert_int_equal(mfr_dataset_format(ds), MFR_FORMAT_ML1M);
    float lo, hi;
    mfr_dataset_rating_range(ds, &lo, &hi);
    assert_true(lo == 0.5f && hi == 5.0f);
    float r;
    mfr_ratings_get(mfr_dataset_ratings(ds), 0, NULL, NULL, &r, NULL, NULL);
    assert_true(r == 0.5f);
    mfr_ratings_get(mfr_dataset_ratings(ds), 1, NULL, NULL, &r, NULL, NULL);
    assert_true(r == 4.5f);
    /* Valid UTF-8 is kept as is. */
    assert_string_equal(mfr_dataset_item_title(ds, 0), "Am\xc3\xa9lie (2001)");
    /* ML order first, then the others in byte order. */
    const char *want[] = {"Comedy", "Documentary", "Romance", "(no genres listed)", "IMAX"};
    assert_int_equal(mfr_dataset_n_genres(ds), 5);
    for (int32_t g = 0; g < 5; g++) assert_string_equal(mfr_dataset_genre_name(ds, g), want[g]);
    assert_int_equal(mfr_dataset_item_genres(ds, 1), bit(ds, "(no genres listed)"));
    /* No users.dat: no user metadata. */
    assert_int_equal(mfr_dataset_user_sex(ds, 0), '?');
    assert_string_equal(mfr_dataset_user_occupation(ds, 0), "");
    mfr_dataset_destroy(ds);

    tu_write_file(dir, "ratings.dat", "5::100::0.25::1\n", (size_t)-1);
    load_fails(dir, NULL, MFR_ERR_PARSE, "ratings.dat:1:", "outside 0.5..5");
    tu_rmtree(dir);
    free(dir);
}

/* ------------------------------------------------------------------ */
/* ML-20M+ CSV                                                          */
/* ------------------------------------------------------------------ */

static void test_csv(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    tu_write_file(dir, "ratings.csv", csv_ratings, (size_t)-1);
    tu_write_file(dir, "movies.csv", csv_movies, (size_t)-1);
    mfr_dataset *ds = tu_load_ok(dir, NULL);
    assert_int_equal(mfr_dataset_format(ds), MFR_FORMAT_CSV);
    assert_string_equal(mfr_format_name(MFR_FORMAT_CSV), "csv");
    float lo, hi;
    mfr_dataset_rating_range(ds, &lo, &hi);
    assert_true(lo == 0.5f && hi == 5.0f);
    assert_int_equal(mfr_dataset_n_users(ds), 3);
    assert_int_equal(mfr_dataset_n_items(ds), 5);
    assert_int_equal(mfr_ratings_count(mfr_dataset_ratings(ds)), 4);
    float r;
    int64_t ts;
    mfr_ratings_get(mfr_dataset_ratings(ds), 2, NULL, NULL, &r, &ts, NULL);
    assert_true(r == 0.5f);
    assert_int_equal(ts, 964982224);

    assert_string_equal(mfr_dataset_item_title(ds, 1), "American President, The (1995)");
    assert_int_equal(mfr_dataset_item_year(ds, 1), 1995);
    assert_string_equal(mfr_dataset_item_title(ds, 2),
                        "Dr. Strangelove, or \"The Bomb\" (1964)");
    assert_int_equal(mfr_dataset_item_year(ds, 2), 1964);
    const char *want[] = {"Action",  "Adventure", "Animation", "Children",           "Comedy",
                          "Drama",   "Fantasy",   "Romance",   "War", "(no genres listed)",
                          "IMAX"};
    assert_int_equal(mfr_dataset_n_genres(ds), 11);
    for (int32_t g = 0; g < 11; g++)
        assert_string_equal(mfr_dataset_genre_name(ds, g), want[g]);
    assert_int_equal(mfr_dataset_item_genres(ds, 2), bit(ds, "Comedy") | bit(ds, "War"));
    assert_int_equal(mfr_dataset_item_genres(ds, 3), bit(ds, "(no genres listed)"));
    assert_int_equal(mfr_dataset_item_genres(ds, 4), bit(ds, "Action") | bit(ds, "IMAX"));
    mfr_dataset_destroy(ds);
    /* Genres of a dataset's own, further than one edit from MovieLens'
     * (two for long names), are genres like any other. */
    tu_write_file(dir, "movies.csv",
                  "movieId,title,genres\n1,A (1995),Music|Biography\n2,B (1996),Docs|Wars\n",
                  (size_t)-1);
    ds = tu_load_ok(dir, NULL);
    assert_int_equal(mfr_dataset_n_genres(ds), 4);
    mfr_dataset_destroy(ds);
    /* a MovieLens genre in another case, spelled so throughout, is kept */
    tu_write_file(dir, "movies.csv", "movieId,title,genres\n1,A (1995),sci-fi\n2,B (1996),sci-fi|comedy\n",
                  (size_t)-1);
    ds = tu_load_ok(dir, NULL);
    assert_int_equal(mfr_dataset_n_genres(ds), 2);
    mfr_dataset_destroy(ds);
    tu_rmtree(dir);
    free(dir);
}

/* Numbers quoted whole ("5", as spreadsheets and QUOTE_ALL writers emit
 * them) read as the plain numbers, in ratings.csv and in a delimited file;
 * a quote that does not enclose the whole field is still an error that
 * shows it. */
static void test_csv_quoted_numbers(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    tu_write_file(dir, "ratings.csv",
                  "userId,movieId,rating,timestamp\n"
                  "\"1\",\"10\",\"4.5\",\"964982703\"\n"
                  " \"1\" , 20 ,\"3\", 964982224\n"
                  "2,10,5,964982931\n",
                  (size_t)-1);
    mfr_dataset *ds = tu_load_ok(dir, NULL);
    assert_int_equal(mfr_dataset_n_users(ds), 2);
    assert_int_equal(mfr_dataset_n_items(ds), 2);
    int32_t u, i;
    float r;
    int64_t ts;
    mfr_ratings_get(mfr_dataset_ratings(ds), 0, &u, &i, &r, &ts, NULL);
    assert_int_equal(mfr_dataset_user_id(ds, u), 1);
    assert_int_equal(mfr_dataset_item_id(ds, i), 10);
    assert_true(r == 4.5f);
    assert_int_equal(ts, 964982703);
    mfr_ratings_get(mfr_dataset_ratings(ds), 1, &u, &i, &r, &ts, NULL);
    assert_int_equal(mfr_dataset_item_id(ds, i), 20);
    assert_true(r == 3.0f);
    mfr_dataset_destroy(ds);

    static const struct {
        const char *line, *needle;
    } bad[] = {
        {"\"1\",10,\"4.5\n", "rating '\"4.5' is not a number"},
        {"\"1\",10,\"4\"5\"\n", "rating '\"4\"5\"' is not a number"},
        {"\"\",10,4\n", "user id '' is not a positive integer"},
        {"1\",10,4\n", "user id '1\"' is not a positive integer"},
        /* a quoted separator: named as the whole field, not as its pieces */
        {"\"1\",\"10\",\"4,5\"\n", "field \"4,5\" holds the separator ','"},
        {"\"1\",\"10\",\"4,5\",\"964982703\"\n", "the decimal point is '.', not ','"},
        {"1,\"10,11\",4\n", "field \"10,11\" holds the separator ',': fields are split at every one, quoted or not"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        char text[128];
        snprintf(text, sizeof text, "userId,movieId,rating\n2,10,5\n%s", bad[k].line);
        tu_write_file(dir, "ratings.csv", text, (size_t)-1);
        mfr_load_options o = opts(MFR_FORMAT_AUTO);
        load_fails(dir, &o, MFR_ERR_PARSE, "ratings.csv:3:", bad[k].needle);
    }

    tu_write_file(dir, "scores.txt", "\"42\";\"77\";\"7.5\"\n\"43\";77;1\n", (size_t)-1);
    mfr_load_options o = opts(MFR_FORMAT_DELIMITED);
    o.sep = ';';
    o.ratings_file = "scores.txt";
    ds = tu_load_ok(dir, &o);
    mfr_ratings_get(mfr_dataset_ratings(ds), 0, &u, &i, &r, &ts, NULL);
    assert_int_equal(mfr_dataset_user_id(ds, u), 42);
    assert_int_equal(mfr_dataset_item_id(ds, i), 77);
    assert_true(r == 7.5f);
    mfr_dataset_destroy(ds);

    /* A space separates fields that are not trimmed, but a number quoted
     * whole is a number there too ("delimited files"), given or detected. */
    tu_write_file(dir, "scores.txt", "\"42\" \"77\" \"7.5\"\n\"43\" 77 1\n", (size_t)-1);
    for (int detect = 0; detect < 2; detect++) {
        o = opts(MFR_FORMAT_DELIMITED);
        o.sep = detect ? 0 : ' ';
        o.ratings_file = "scores.txt";
        ds = tu_load_ok(dir, &o);
        assert_int_equal(mfr_ratings_count(mfr_dataset_ratings(ds)), 2);
        mfr_ratings_get(mfr_dataset_ratings(ds), 0, &u, &i, &r, &ts, NULL);
        assert_int_equal(mfr_dataset_user_id(ds, u), 42);
        assert_int_equal(mfr_dataset_item_id(ds, i), 77);
        assert_true(r == 7.5f);
        mfr_dataset_destroy(ds);
    }
    /* an unbalanced quote is still named */
    tu_write_file(dir, "scores.txt", "42 77 \"7.5\n", (size_t)-1);
    o = opts(MFR_FORMAT_DELIMITED);
    o.sep = ' ';
    o.ratings_file = "scores.txt";
    load_fails(dir, &o, MFR_ERR_PARSE, "scores.txt:1:", "rating '\"7.5' is not a number");
    tu_rmtree(dir);
    free(dir);
}

/* A header of column names with fewer fields than the rating lines:
 * which column is which is unclear (pandas takes the first for an index),
 * so it is refused, detected or given (:header); a header of other text is
 * taken as it is. */
static void test_header_narrower_than_lines(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    static const struct {
        const char *text;
        int32_t header;
        const char *needle;
    } hw[] = {
        {"userId,movieId,rating\n1,2,3,4\n", MFR_HEADER_AUTO, "the header names 3 ','-separated columns, where the rating lines have 4"},
        {"user,item\n1,2,3\n", MFR_HEADER_YES, "the header names 2 ','-separated columns, where the rating lines have 3"},
        {"my ratings\n1,2,3\n", MFR_HEADER_YES, NULL},
        {"userId,movieId,rating,timestamp\n1,2,3\n", MFR_HEADER_AUTO, NULL},
    };
    for (size_t k = 0; k < sizeof hw / sizeof *hw; k++) {
        tu_write_file(dir, "scores.txt", hw[k].text, (size_t)-1);
        mfr_load_options o = opts(MFR_FORMAT_DELIMITED);
        o.ratings_file = "scores.txt";
        o.sep = ',';
        o.header = hw[k].header;
        if (hw[k].needle) {
            load_fails(dir, &o, MFR_ERR_PARSE, "scores.txt:1:", hw[k].needle);
        } else {
            mfr_dataset *ds = tu_load_ok(dir, &o);
            assert_int_equal(mfr_ratings_count(mfr_dataset_ratings(ds)), 1);
            mfr_dataset_destroy(ds);
        }
    }
    tu_rmtree(dir);
    free(dir);
}

/* ------------------------------------------------------------------ */
/* Generic delimited                                                    */
/* ------------------------------------------------------------------ */

static void test_delimited(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    /* ';' with a header, spaces around fields, a 1..10 scale, huge ids. */
    tu_write_file(dir, "scores.txt",
                  "user;item;score\n"
                  "9000000000123 ; 77 ; 7.5\n"
                  "42;9000000000999;10\n"
                  "9000000000123;9000000000999;1\n",
                  (size_t)-1);
    mfr_load_options o = opts(MFR_FORMAT_DELIMITED);
    o.sep = ';';
    o.ratings_file = "scores.txt";
    mfr_dataset *ds = tu_load_ok(dir, &o);
    assert_int_equal(mfr_dataset_format(ds), MFR_FORMAT_DELIMITED);
    assert_int_equal(mfr_dataset_n_users(ds), 2);
    assert_int_equal(mfr_dataset_n_items(ds), 2);
    assert_int_equal(mfr_dataset_user_id(ds, 0), 42);
    assert_int_equal(mfr_dataset_user_id(ds, 1), INT64_C(9000000000123));
    assert_int_equal(mfr_dataset_user_index(ds, INT64_C(9000000000123)), 1);
    assert_int_equal(mfr_dataset_item_index(ds, INT64_C(9000000000999)), 1);
    int32_t u, i;
    float r;
    int64_t ts;
    mfr_ratings_get(mfr_dataset_ratings(ds), 0, &u, &i, &r, &ts, NULL);
    assert_int_equal(u, 1);
    assert_int_equal(i, 0);
    assert_true(r == 7.5f);
    assert_int_equal(ts, 0);
    /* The default range accepts any finite rating and reports what was read. */
    float lo, hi;
    mfr_dataset_rating_range(ds, &lo, &hi);
    assert_true(lo == 1.0f && hi == 10.0f);
    assert_int_equal(mfr_dataset_n_genres(ds), 0);
    assert_string_equal(mfr_dataset_item_title(ds, 0), "");
    uint64_t fp = mfr_dataset_fingerprint(ds);
    mfr_dataset_destroy(ds);

    /* The separator and header are detected; passing the file as the path. */
    char *file = tu_path(dir, "scores.txt");
    ds = tu_load_ok(file, NULL);
    assert_true(mfr_dataset_fingerprint(ds) == fp);
    assert_non_null(strstr(mfr_dataset_dir(ds), "mfrec-test-"));
    mfr_dataset_destroy(ds);

    /* Tab, no header, timestamps. */
    tu_write_file(dir, "plain.tsv", "3\t1\t2\t100\n1\t2\t5\t200\n", (size_t)-1);
    char *tsv = tu_path(dir, "plain.tsv");
    o = opts(MFR_FORMAT_AUTO);
    o.header = MFR_HEADER_NO;
    ds = tu_load_ok(tsv, &o);
    assert_int_equal(mfr_dataset_format(ds), MFR_FORMAT_DELIMITED);
    assert_int_equal(mfr_dataset_n_users(ds), 2);
    mfr_ratings_get(mfr_dataset_ratings(ds), 1, &u, &i, &r, &ts, NULL);
    assert_int_equal(mfr_dataset_user_id(ds, u), 1);
    assert_int_equal(ts, 200);
    mfr_dataset_destroy(ds);

    /* A forced header skips a numeric first line. */
    o.header = MFR_HEADER_YES;
    ds = tu_load_ok(tsv, &o);
    assert_int_equal(mfr_ratings_count(mfr_dataset_ratings(ds)), 1);
    mfr_dataset_destroy(ds);

    /* An explicit range is used as given. */
    o = opts(MFR_FORMAT_DELIMITED);
    o.ratings_file = "plain.tsv";
    o.min_rating = 1;
    o.max_rating = 4;
    load_fails(dir, &o, MFR_ERR_PARSE, "plain.tsv:2:", "outside 1..4");

    free(tsv);
    free(file);
    tu_rmtree(dir);
    free(dir);
}

/* ------------------------------------------------------------------ */
/* Detection and overrides                                              */
/* ------------------------------------------------------------------ */

/* test_detection: loads from `dir` with invalid options fail; which
 * separators are accepted. */
static void check_invalid_options(const char *dir)
{
    /* Invalid options name the field. */
    mfr_load_options o = opts(7);
    load_fails(dir, &o, MFR_ERR_INVALID, "format", NULL);
    o = opts(MFR_FORMAT_AUTO);
    o.header = 3;
    load_fails(dir, &o, MFR_ERR_INVALID, "header", NULL);
    o = opts(MFR_FORMAT_AUTO);
    o.cache = -1;
    load_fails(dir, &o, MFR_ERR_INVALID, "cache", NULL);
    o = opts(MFR_FORMAT_AUTO);
    o.sep = '7';
    load_fails(dir, &o, MFR_ERR_INVALID, "sep", NULL);
    o.sep = 'e'; /* 1e0 is a rating */
    load_fails(dir, &o, MFR_ERR_INVALID, "sep", NULL);
    for (const char *ok = ",;|: \t#/"; *ok; ok++) assert_true(mfr_separator_ok(*ok));
    for (const char *bad = "0795.-+\"eExXnN\n\r\x7f\x80"; *bad; bad++) assert_false(mfr_separator_ok(*bad));
}

static void test_detection(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    /* Nothing to detect: an I/O error that names the expected files. */
    load_fails(dir, NULL, MFR_ERR_IO, "u.data", "ratings.csv");
    /* The delimited format needs a file. */
    mfr_load_options o = opts(MFR_FORMAT_DELIMITED);
    load_fails(dir, &o, MFR_ERR_INVALID, "delimited", NULL);
    /* A broken or looping u.data link is the rating file, not "none": the
     * error says what is wrong with it. */
    char *link = tu_path(dir, "u.data");
    assert_int_equal(symlink("u.data", link), 0);
    load_fails(dir, NULL, MFR_ERR_IO, "u.data", "symbolic links");
    assert_int_equal(unlink(link), 0);
    assert_int_equal(symlink("/nonexistent/u.data", link), 0);
    load_fails(dir, NULL, MFR_ERR_IO, "u.data", "No such file");
    assert_int_equal(unlink(link), 0);
    free(link);

    /* ratings.csv alone: CSV. */
    tu_write_file(dir, "ratings.csv", csv_ratings, (size_t)-1);
    mfr_dataset *ds = tu_load_ok(dir, NULL);
    assert_int_equal(mfr_dataset_format(ds), MFR_FORMAT_CSV);
    mfr_dataset_destroy(ds);
    /* Two rating files: either could be meant, so neither is read. */
    tu_write_file(dir, "ratings.dat", ml1m_ratings, (size_t)-1);
    load_fails(dir, NULL, MFR_ERR_INVALID, "holds two rating files, ratings.dat (ML-1M/10M) and ratings.csv",
               NULL);
    tu_write_file(dir, "u.data", "1\t1\t3\t0\n", (size_t)-1);
    load_fails(dir, NULL, MFR_ERR_INVALID, "holds two rating files, u.data (ML-100K) and ratings.dat", NULL);
    o = opts(MFR_FORMAT_ML100K);
    ds = tu_load_ok(dir, &o);
    assert_int_equal(mfr_dataset_format(ds), MFR_FORMAT_ML100K);
    assert_int_equal(mfr_ratings_count(mfr_dataset_ratings(ds)), 1);
    mfr_dataset_destroy(ds);
    /* The format overrides detection. */
    o = opts(MFR_FORMAT_CSV);
    ds = tu_load_ok(dir, &o);
    assert_int_equal(mfr_dataset_format(ds), MFR_FORMAT_CSV);
    assert_int_equal(mfr_ratings_count(mfr_dataset_ratings(ds)), 4);
    mfr_dataset_destroy(ds);
    o = opts(MFR_FORMAT_ML1M);
    ds = tu_load_ok(dir, &o);
    assert_int_equal(mfr_dataset_format(ds), MFR_FORMAT_ML1M);
    mfr_dataset_destroy(ds);
    /* A file path: the format from its name, metadata from its directory. */
    char *path = tu_path(dir, "ratings.dat");
    tu_write_file(dir, "movies.dat", ml1m_movies, (size_t)-1);
    ds = tu_load_ok(path, NULL);
    assert_int_equal(mfr_dataset_format(ds), MFR_FORMAT_ML1M);
    assert_string_equal(mfr_dataset_item_title(ds, 2), "Toy Story (1995)");
    mfr_dataset_destroy(ds);
    /* ML-100K's split files are ML-100K by name: u.item gives the titles,
     * and the scale is whole stars. */
    char *split = tu_path(dir, "u3.base");
    tu_write_file(dir, "u.genre", "unknown|0\nB-movie|1\n", (size_t)-1);
    tu_write_file(dir, "u.item", "5|Caf\xe9 (1995)|01-Jan-1995||u|0|1\n", (size_t)-1);
    tu_write_file(dir, "u3.base", "1\t5\t4\t0\n2\t42\t3\t0\n", (size_t)-1);
    ds = tu_load_ok(split, NULL);
    assert_int_equal(mfr_dataset_format(ds), MFR_FORMAT_ML100K);
    assert_string_equal(mfr_dataset_item_title(ds, mfr_dataset_item_index(ds, 5)), "Caf\xc3\xa9 (1995)");
    mfr_dataset_destroy(ds);
    tu_write_file(dir, "u3.base", "1\t5\t3.5\t0\n", (size_t)-1);
    load_fails(split, NULL, MFR_ERR_PARSE, "u3.base:1:", NULL);
    free(split);
    split = tu_path(dir, "u6.base"); /* not one of ML-100K's: delimited */
    tu_write_file(dir, "u6.base", "1\t5\t3.5\t0\n", (size_t)-1);
    ds = tu_load_ok(split, NULL);
    assert_int_equal(mfr_dataset_format(ds), MFR_FORMAT_DELIMITED);
    mfr_dataset_destroy(ds);
    free(split);
    /* A CSV file read as the delimited format: no metadata. */
    o = opts(MFR_FORMAT_DELIMITED);
    o.ratings_file = "ratings.csv";
    ds = tu_load_ok(dir, &o);
    assert_int_equal(mfr_dataset_n_items(ds), 4);
    assert_string_equal(mfr_dataset_item_title(ds, 0), "");
    mfr_dataset_destroy(ds);
    free(path);

    check_invalid_options(dir);

    /* Zero-initialized options mean the defaults (detection: one rating file left). */
    for (const char *f = "ratings.dat\0ratings.csv\0"; *f; f += strlen(f) + 1) {
        char *p = tu_path(dir, f);
        assert_int_equal(remove(p), 0);
        free(p);
    }
    mfr_load_options z = {0};
    ds = tu_load_ok(dir, &z);
    assert_int_equal(mfr_dataset_format(ds), MFR_FORMAT_ML100K);
    mfr_dataset_destroy(ds);
    tu_rmtree(dir);
    free(dir);
}

/* ------------------------------------------------------------------ */
/* Malformed input                                                      */
/* ------------------------------------------------------------------ */

struct bad_case {
    const char *file, *text; /* written over the good dataset of `format` */
    int32_t format;
    const char *needle, *needle2;
};

static const struct bad_case bad_cases[] = {
    {"ratings.dat", "1::10::5::1\n1::20::3::2\n2::10\n", MFR_FORMAT_ML1M, "ratings.dat:3:",
     "got 2"},
    {"ratings.dat", "1::10::5::1\n1::20::3\n", MFR_FORMAT_ML1M, "ratings.dat:2:", "its timestamp is missing"},
    {"ratings.dat", "1::10::5::1\n1::20:3::1\n", MFR_FORMAT_ML1M, "ratings.dat:2:", "20:3"},
    {"ratings.dat", "1::10::6::1\n", MFR_FORMAT_ML1M, "ratings.dat:1:", "outside"},
    {"ratings.dat", "1::10::5::1\n\n2::10::5::1\n", MFR_FORMAT_ML1M, "ratings.dat:2:", "blank"},
    {"ratings.dat", "1::10::5::1\n2::20::5::1\n1::10::2::3\n", MFR_FORMAT_ML1M,
     "ratings.dat:3:", "first on line 1"},
    {"movies.dat", "10::No genres\n", MFR_FORMAT_ML1M, "movies.dat:1:", "3 '::'"},
    {"movies.dat", "10::A (1990)::Drama\n10::B (1991)::Drama\n", MFR_FORMAT_ML1M,
     "movies.dat:2:", "duplicate item id 10"},
    {"movies.dat", "10::A (1990)::Drama||War\n", MFR_FORMAT_ML1M, "movies.dat:1:", "empty genre"},
    {"movies.dat", "x::A (1990)::Drama\n", MFR_FORMAT_ML1M, "movies.dat:1:", "item id"},
    /* ratings off the layouts' scales: whole stars (ML-100K, ML-1M with
     * its users.dat), half stars (the CSV releases) */
    {"u.data", "1\t1\t4\t5\n1\t2\t3.5\t5\n", MFR_FORMAT_ML100K, "u.data:2:",
     "rating 3.5 is off the data's scale (whole stars from 1 to 5)"},
    {"ratings.dat", "1::10::5::1\n1::20::3.5::1\n", MFR_FORMAT_ML1M, "ratings.dat:2:", "3.5 is off the data's scale (whole stars"},
    {"ratings.csv", "userId,movieId,rating,timestamp\n1,1,2.25,5\n", MFR_FORMAT_CSV, "ratings.csv:2:",
     "rating 2.25 is off the data's scale (half stars from 0.5 to 5)"},
    /* UTF-8 beside a latin-1 byte: neither reading gives every title */
    {"movies.dat", "10::Am\xc3\xa9lie (2001)::Comedy\n20::Caf\xe9 (2000)::Drama\n", MFR_FORMAT_ML1M,
     "movies.dat:2:", "byte 0xE9 is not UTF-8, but line 1 is"},
    {"movies.csv", "movieId,title,genres\n1,Caf\xe9 (2000),Drama\n2,Am\xc3\xa9lie (2001),Comedy\n",
     MFR_FORMAT_CSV, "movies.csv:2:", "but line 3 is: a file mixing two encodings"},
    {"movies.dat", "10::A\x01::Drama\n", MFR_FORMAT_ML1M, "movies.dat:1:", "0x01"},
    {"users.dat", "1::F::1::21::48067\n", MFR_FORMAT_ML1M, "users.dat:1:", "0..20"},
    {"users.dat", "1::X::1::2::48067\n", MFR_FORMAT_ML1M, "users.dat:1:", "sex"},
    {"users.dat", "1::F::1::2\n", MFR_FORMAT_ML1M, "users.dat:1:", "got 4"},
    {"users.dat", "1::F::0::2::1\n", MFR_FORMAT_ML1M, "users.dat:1:", "age"},
    {"ratings.csv", "userId,movieId,rating,timestamp\n1,1,4,1\n1,1,3,2\n", MFR_FORMAT_CSV,
     "ratings.csv:3:", "first on line 2"},
    {"ratings.csv", "userId,movieId,rating,timestamp\n1,1,5.5,1\n", MFR_FORMAT_CSV,
     "ratings.csv:2:", "outside 0.5..5"},
    {"ratings.csv", "userId,movieId,rating,timestamp\n", MFR_FORMAT_CSV, "ratings.csv:1:",
     "header alone"},
    {"ratings.csv", "userId,movieId,rating,timestamp\n1;1;4;1\n", MFR_FORMAT_CSV,
     "ratings.csv:2:", "got 1"},
    {"movies.csv", "movieId,title,genres\n1,\"Open (1995),Drama\n", MFR_FORMAT_CSV,
     "movies.csv:2:", "not closed"},
    {"movies.csv", "movieId,title,genres\n1,A, The (1995),Drama\n", MFR_FORMAT_CSV,
     "movies.csv:2:", "got 4"},
    {"movies.csv", "movieId,title,genres\n1,\"A\"x,Drama\n", MFR_FORMAT_CSV, "movies.csv:2:",
     "unexpected 'x' after the closing quote at column 6"},
    /* a control byte is named as \xHH, not '?' */
    {"movies.csv", "movieId,title,genres\n1,\"A\"\x01,Drama\n", MFR_FORMAT_CSV, "movies.csv:2:",
     "unexpected '\\x01' after the closing quote at column 6"},
    {"movies.csv",
     "movieId,title,genres\n1,Many (2000),a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p|q|r|s|t|u|v|w|x|y|z|"
     "a1|b1|c1|d1|e1|f1|g1\n",
     MFR_FORMAT_CSV, "movies.csv:2:", "at most 32"},
    /* project --genre ignores case: two genres it could not tell apart */
    {"movies.csv", "movieId,title,genres\n1,A (1995),Drama\n2,B (1996),Comedy|drama\n", MFR_FORMAT_CSV,
     "movies.csv:3:", "'drama' differs only in case from the earlier 'Drama'"},
    /* a genre one edit from a MovieLens genre is a typo, not a genre */
    {"movies.csv", "movieId,title,genres\n1,A (1995),Drama\n2,B (1996),Comdy|Drama\n", MFR_FORMAT_CSV,
     "movies.csv:3:", "genre 'Comdy' is not a MovieLens genre but one edit from 'Comedy'"},
    {"movies.dat", "1::A (1995)::Documentry\n", MFR_FORMAT_ML1M, "movies.dat:1:",
     "genre 'Documentry' is not a MovieLens genre but one edit from 'Documentary'"},
    {"movies.dat", "1::A (1995)::thriler\n", MFR_FORMAT_ML1M, "movies.dat:1:",
     "one edit from 'Thriller'"},
    {"r.txt", "1;2;3\n1;x;3\n", MFR_FORMAT_DELIMITED, "r.txt:2:", "item id"},
    {"r.txt", "1 2 3\n1 3 nan\n", MFR_FORMAT_DELIMITED, "r.txt:2:", "nan"},
    {"r.txt", "1:2:3\n", MFR_FORMAT_DELIMITED, "r.txt:1:", "separator"},
    /* a header naming the columns in another order: refused, not read
     * with users and movies swapped (known names, any case and '_') */
    {"r.txt", "movieId,userId,rating\n10,1,4\n", MFR_FORMAT_DELIMITED, "r.txt:1:",
     "the header names column 1 'movieId', where this file has the user"},
    {"r.txt", "user\tRating\tmovie_id\n1\t4\t10\n", MFR_FORMAT_DELIMITED, "r.txt:1:",
     "column 2 'Rating', where this file has the movie"},
    {"ratings.csv", "userId,movieId,timestamp,rating\n1,1,964982703,4.0\n", MFR_FORMAT_CSV,
     "ratings.csv:1:", "column 3 'timestamp', where this file has the rating"},
    {"movies.csv", "movieId,genres,title\n1,Drama,A (1999)\n", MFR_FORMAT_CSV, "movies.csv:1:",
     "column 2 'genres', where this file has the title (its columns, in this order: movie, title, genres)"},
    {"r.txt", "1,2,3\n1,2,4\n", MFR_FORMAT_DELIMITED, "r.txt:2:", "duplicate"},
    {"r.txt", "1,2,3,4,5\n", MFR_FORMAT_DELIMITED, "r.txt:1:", "got 5"},
    {"r.txt", "1,2,3,x\n", MFR_FORMAT_DELIMITED, "r.txt:1:", "timestamp"},
};

static void test_bad_inputs(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof bad_cases / sizeof *bad_cases; k++) {
        const struct bad_case *c = &bad_cases[k];
        char *dir = tu_mkdtemp();
        mfr_load_options o = opts(c->format);
        if (c->format == MFR_FORMAT_ML1M) {
            tu_write_file(dir, "ratings.dat", ml1m_ratings, (size_t)-1);
            tu_write_file(dir, "movies.dat", ml1m_movies, (size_t)-1);
            tu_write_file(dir, "users.dat", ml1m_users, (size_t)-1);
        } else if (c->format == MFR_FORMAT_CSV) {
            tu_write_file(dir, "ratings.csv", csv_ratings, (size_t)-1);
            tu_write_file(dir, "movies.csv", csv_movies, (size_t)-1);
        } else {
            o.ratings_file = c->file;
        }
        tu_write_file(dir, c->file, c->text, (size_t)-1);
        mfr_dataset *ds = NULL;
        mfr_error err = {0};
        int rc = mfr_dataset_load(dir, &o, &ds, &err);
        if (rc != MFR_ERR_PARSE || ds || !strstr(err.message, c->needle) ||
            (c->needle2 && !strstr(err.message, c->needle2)))
            fail_msg("bad case %zu (%s): status %d, message \"%s\"", k, c->file, rc,
                     err.message);
        tu_rmtree(dir);
        free(dir);
    }
}

/* ------------------------------------------------------------------ */
/* Further rating files                                                 */
/* ------------------------------------------------------------------ */

static void test_read_ratings(void **state)
{
    (void)state;
    char *dir = write_ml1m();
    mfr_dataset *ds = tu_load_ok(dir, NULL);
    mfr_ratings *r = NULL;
    mfr_error err = {0};
    /* The dataset's own "::" syntax ... */
    tu_write_file(dir, "r1.test", "2::20::2::5\n3::10::4::6\n", (size_t)-1);
    char *p = tu_path(dir, "r1.test");
    assert_int_equal(mfr_dataset_read_ratings(ds, p, &r, &err), MFR_OK);
    assert_int_equal(mfr_ratings_count(r), 2);
    mfr_ratings_destroy(r);
    /* ... and u.data format, as mfr_ratings_write writes it. */
    char *w = tu_path(dir, "all.data");
    assert_int_equal(mfr_ratings_write(mfr_dataset_ratings(ds), ds, w, &err), MFR_OK);
    char *text = tu_read_file(w, NULL);
    assert_non_null(strstr(text, "3\t30\t1\t978300275\n"));
    free(text);
    assert_int_equal(mfr_dataset_read_ratings(ds, w, &r, &err), MFR_OK);
    assert_int_equal(mfr_ratings_count(r), 4);
    mfr_ratings_destroy(r);
    /* Unknown ids and the dataset's range are enforced. */
    tu_write_file(dir, "r1.test", "2::20::2::5\n4::10::4::6\n", (size_t)-1);
    assert_int_equal(mfr_dataset_read_ratings(ds, p, &r, &err), MFR_ERR_PARSE);
    assert_non_null(strstr(err.message, "r1.test:2:"));
    assert_non_null(strstr(err.message, "unknown user id 4"));
    mfr_dataset_destroy(ds);
    free(p);
    free(w);
    tu_rmtree(dir);
    free(dir);

    /* CSV: a header is skipped and line numbers count it. */
    dir = tu_mkdtemp();
    tu_write_file(dir, "ratings.csv", csv_ratings, (size_t)-1);
    ds = tu_load_ok(dir, NULL);
    tu_write_file(dir, "test.csv", "userId,movieId,rating,timestamp\n1,1,4,1\n2,2,0.5,1\n1,1,3,1\n",
                  (size_t)-1);
    p = tu_path(dir, "test.csv");
    assert_int_equal(mfr_dataset_read_ratings(ds, p, &r, &err), MFR_ERR_PARSE);
    assert_non_null(strstr(err.message, "test.csv:4:"));
    assert_non_null(strstr(err.message, "first on line 2"));
    tu_write_file(dir, "test.csv", "1,1,4,1\n2,2,0.5,1\n", (size_t)-1);
    assert_int_equal(mfr_dataset_read_ratings(ds, p, &r, &err), MFR_OK);
    assert_int_equal(mfr_ratings_count(r), 2);
    mfr_ratings_destroy(r);
    mfr_dataset_destroy(ds);
    free(p);
    tu_rmtree(dir);
    free(dir);
}

/* ------------------------------------------------------------------ */
/* Cache                                                                */
/* ------------------------------------------------------------------ */

/* Loads with the cache forced on and checks what the cache did. */
static mfr_dataset *load_cached(const char *dir, const char *cache_path, int expect_state)
{
    mfr_load_options o = opts(MFR_FORMAT_AUTO);
    o.cache = MFR_CACHE_ALWAYS;
    o.cache_path = cache_path;
    mfr_dataset *ds = tu_load_ok(dir, &o);
    if (ds->cache_state != expect_state)
        fail_msg("cache state %d, expected %d", ds->cache_state, expect_state);
    assert_int_equal(mfr_dataset_from_cache(ds), expect_state == MFR_CACHE_STATE_READ);
    return ds;
}

/* Flips one byte of a file at `offset` from its end. */
static void flip_byte(const char *path, long from_end)
{
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, -from_end, SEEK_END), 0);
    int c = fgetc(f);
    assert_int_equal(fseek(f, -from_end, SEEK_END), 0);
    fputc(c ^ 0x20, f);
    fclose(f);
}

static void age_sources(const char *dir, const char *const *names, int ago)
{
    for (size_t k = 0; names[k]; k++) {
        char *p = tu_path(dir, names[k]);
        if (tu_exists(p)) set_mtime(dir, names[k], ago);
        free(p);
    }
}

/* What a load reported through its log callback. */
struct log_capture {
    int n, level;
    char msg[512];
};

static void capture_log(void *user, int level, const char *msg)
{
    struct log_capture *c = user;
    c->n++;
    c->level = level;
    snprintf(c->msg, sizeof c->msg, "%s", msg);
}

/* A cache that cannot be written (its parent is a regular file, which stops
 * root too) does not fail the load: one warning names the path and the
 * cause, and without a callback the load is silent and succeeds as well. */
/* A cache takes its rating file's read and write bits, whatever the
 * umask: under umask 077 it was 0600, and every other user of a shared
 * data directory got a warning at each load; a private file's cache was
 * as readable as the umask allowed. */
static void test_cache_mode(void **state)
{
    (void)state;
    char *dir = write_ml1m(), *ratings = tu_path(dir, "ratings.dat"), *cache = tu_path(dir, ".mfrec-cache");
    mfr_load_options o = opts(MFR_FORMAT_AUTO);
    o.cache = MFR_CACHE_ALWAYS;
    static const struct {
        mode_t umask, data, cache;
    } cases[] = {{077, 0644, 0644}, {022, 0600, 0600}, {0, 0640, 0640}, {022, 0755, 0644}};
    const mode_t old_mask = umask(0);
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        unlink(cache);
        assert_int_equal(chmod(ratings, cases[k].data), 0);
        umask(cases[k].umask);
        mfr_dataset *ds = tu_load_ok(dir, &o);
        assert_int_equal(ds->cache_state, MFR_CACHE_STATE_WRITTEN);
        mfr_dataset_destroy(ds);
        struct stat st;
        assert_int_equal(stat(cache, &st), 0);
        if ((st.st_mode & 07777) != cases[k].cache)
            fail_msg("case %zu: cache mode %o, want %o", k, (unsigned)(st.st_mode & 07777), (unsigned)cases[k].cache);
    }
    umask(old_mask);
    free(cache);
    free(ratings);
    tu_rmtree(dir);
    free(dir);
}

static void test_cache_write_failure_is_logged(void **state)
{
    (void)state;
    char *dir = write_ml1m();
    tu_write_file(dir, "plain", "a file, not a directory\n", (size_t)-1);
    char *cache = tu_path(dir, "plain/.mfrec-cache");
    struct log_capture c = {0};
    mfr_load_options o = opts(MFR_FORMAT_AUTO);
    o.cache = MFR_CACHE_ALWAYS;
    o.cache_path = cache;
    o.log = capture_log;
    o.log_user = &c;
    mfr_dataset *ds = tu_load_ok(dir, &o);
    assert_int_equal(ds->cache_state, MFR_CACHE_STATE_WRITE_FAILED);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.level, MFR_LOG_WARN);
    tu_expect_in(c.msg, cache);
    tu_expect_in(c.msg, "Not a directory");
    mfr_dataset_destroy(ds);
    o.log = NULL;
    ds = tu_load_ok(dir, &o);
    assert_int_equal(ds->cache_state, MFR_CACHE_STATE_WRITE_FAILED);
    mfr_dataset_destroy(ds);
    /* A cache that can be written reports nothing. */
    o.log = capture_log;
    o.cache_path = NULL;
    ds = tu_load_ok(dir, &o);
    assert_int_equal(ds->cache_state, MFR_CACHE_STATE_WRITTEN);
    assert_int_equal(c.n, 1);
    mfr_dataset_destroy(ds);
    free(cache);
    tu_rmtree(dir);
    free(dir);
}

/* test_cache_round_trip: a damaged, foreign or old-format cache at `cache`
 * is not read; the text is parsed again (`parsed`) and the cache rewritten
 * where it may be. */
static void check_cache_damaged(const char *dir, const char *cache, const mfr_dataset *parsed)
{
    mfr_dataset *cached;
    /* Corrupt payload, truncated file: ignored, then rewritten. */
    flip_byte(cache, 40);
    cached = load_cached(dir, NULL, MFR_CACHE_STATE_WRITTEN);
    assert_same_dataset(parsed, cached);
    mfr_dataset_destroy(cached);
    cached = load_cached(dir, NULL, MFR_CACHE_STATE_READ);
    mfr_dataset_destroy(cached);
    assert_int_equal(truncate(cache, 100), 0);
    cached = load_cached(dir, NULL, MFR_CACHE_STATE_WRITTEN);
    mfr_dataset_destroy(cached);
    /* A damaged dataset fingerprint in the header (bytes 40..47), which
     * the dataset takes as its own and a model records: not trusted, the
     * text is parsed again (a model trained from such a cache recorded
     * the damaged value and was refused beside the real data). */
    {
        FILE *f = fopen(cache, "r+b");
        assert_non_null(f);
        assert_int_equal(fseek(f, 41, SEEK_SET), 0);
        int c = fgetc(f);
        assert_int_equal(fseek(f, 41, SEEK_SET), 0);
        fputc(c ^ 0x55, f);
        assert_int_equal(fclose(f), 0);
    }
    cached = load_cached(dir, NULL, MFR_CACHE_STATE_WRITTEN);
    assert_true(mfr_dataset_fingerprint(cached) == mfr_dataset_fingerprint(parsed));
    mfr_dataset_destroy(cached);
    cached = load_cached(dir, NULL, MFR_CACHE_STATE_READ);
    assert_true(mfr_dataset_fingerprint(cached) == mfr_dataset_fingerprint(parsed));
    mfr_dataset_destroy(cached);
    /* A file there that is not a cache (a user's, a rating file named so)
     * is ignored and left as it is: the cache is not written; an empty
     * one is replaced. */
    tu_write_file(dir, ".mfrec-cache", "not a cache", (size_t)-1);
    cached = load_cached(dir, NULL, MFR_CACHE_STATE_WRITE_FAILED);
    assert_same_dataset(parsed, cached);
    mfr_dataset_destroy(cached);
    size_t kept_len = 0;
    char *kept = tu_read_file(cache, &kept_len);
    assert_true(kept_len == 11 && !memcmp(kept, "not a cache", 11));
    free(kept);
    tu_write_file(dir, ".mfrec-cache", "", 0);
    cached = load_cached(dir, NULL, MFR_CACHE_STATE_WRITTEN);
    assert_same_dataset(parsed, cached);
    mfr_dataset_destroy(cached);
    /* A cache of format version 1 (before the aligned, block-hashed
     * layout), 2 (before genre names differing only in case were refused),
     * 3 (before a genre one edit from a MovieLens genre was) or 4 (before
     * the checksum covered the fingerprint) is not read: parsed again and
     * rewritten in the new format. */
    for (uint32_t version = 1; version <= 4; version++) {
        cached = load_cached(dir, NULL, MFR_CACHE_STATE_READ);
        mfr_dataset_destroy(cached);
        FILE *f = fopen(cache, "r+b");
        assert_non_null(f);
        assert_int_equal(fseek(f, 8, SEEK_SET), 0); /* after the magic */
        assert_int_equal(fwrite(&version, 4, 1, f), 1);
        assert_int_equal(fclose(f), 0);
        cached = load_cached(dir, NULL, MFR_CACHE_STATE_WRITTEN);
        assert_same_dataset(parsed, cached);
        mfr_dataset_destroy(cached);
        cached = load_cached(dir, NULL, MFR_CACHE_STATE_READ);
        assert_same_dataset(parsed, cached);
        mfr_dataset_destroy(cached);
    }
}

/* test_cache_round_trip: other options, changed source files: the cache is
 * not used. */
static void check_cache_stale(const char *dir, const mfr_dataset *parsed)
{
    mfr_dataset *cached;
    /* Other options make another key: the cache is not used. */
    mfr_load_options o = opts(MFR_FORMAT_AUTO);
    o.cache = MFR_CACHE_ALWAYS;
    o.min_rating = 0.5f;
    cached = tu_load_ok(dir, &o);
    assert_int_equal(cached->cache_state, MFR_CACHE_STATE_WRITTEN);
    mfr_dataset_destroy(cached);
    cached = load_cached(dir, NULL, MFR_CACHE_STATE_WRITTEN);
    mfr_dataset_destroy(cached);

    /* A changed rating file: the stale cache is not used. */
    tu_write_file(dir, "ratings.dat", "1::10::5::978300760\n2::20::1::7\n", (size_t)-1);
    set_mtime(dir, "ratings.dat", 50);
    cached = load_cached(dir, NULL, MFR_CACHE_STATE_WRITTEN);
    assert_int_equal(mfr_ratings_count(mfr_dataset_ratings(cached)), 2);
    assert_true(mfr_dataset_fingerprint(cached) != mfr_dataset_fingerprint(parsed));
    mfr_dataset_destroy(cached);
    /* Same size, same content length, only the time differs: stale too. */
    tu_write_file(dir, "ratings.dat", "1::10::4::978300760\n2::20::1::7\n", (size_t)-1);
    set_mtime(dir, "ratings.dat", 40);
    cached = load_cached(dir, NULL, MFR_CACHE_STATE_WRITTEN);
    float v;
    mfr_ratings_get(mfr_dataset_ratings(cached), 0, NULL, NULL, &v, NULL, NULL);
    assert_true(v == 4.0f);
    mfr_dataset_destroy(cached);
    cached = load_cached(dir, NULL, MFR_CACHE_STATE_READ);
    mfr_dataset_destroy(cached);
    /* Rewritten at the same size with its old mtime put back (touch -d,
     * rsync -t): stale as well (the change time is in the key). */
    char *rpath = tu_path(dir, "ratings.dat");
    struct stat before;
    assert_int_equal(stat(rpath, &before), 0);
    tu_write_file(dir, "ratings.dat", "1::10::3::978300760\n2::20::1::7\n", (size_t)-1);
    struct timespec keep[2] = {before.st_mtim, before.st_mtim};
    assert_int_equal(utimensat(AT_FDCWD, rpath, keep, 0), 0);
    free(rpath);
    cached = load_cached(dir, NULL, MFR_CACHE_STATE_WRITTEN);
    mfr_ratings_get(mfr_dataset_ratings(cached), 0, NULL, NULL, &v, NULL, NULL);
    assert_true(v == 3.0f);
    mfr_dataset_destroy(cached);
    /* A changed metadata file counts as well. */
    tu_write_file(dir, "movies.dat", "10::Renamed (1990)::Drama\n", (size_t)-1);
    set_mtime(dir, "movies.dat", 30);
    cached = load_cached(dir, NULL, MFR_CACHE_STATE_WRITTEN);
    assert_string_equal(mfr_dataset_item_title(cached, 0), "Renamed (1990)");
    mfr_dataset_destroy(cached);
    /* A metadata file that appears. (Removing users.dat changes the range.) */
    char *users = tu_path(dir, "users.dat");
    assert_int_equal(remove(users), 0);
    cached = load_cached(dir, NULL, MFR_CACHE_STATE_WRITTEN);
    assert_string_equal(mfr_dataset_user_occupation(cached, 0), "");
    mfr_dataset_destroy(cached);
    cached = load_cached(dir, NULL, MFR_CACHE_STATE_READ);
    mfr_dataset_destroy(cached);
    free(users);
}

/* test_cache_round_trip: a cache is trusted by the source files' change
 * times, not their modification times. */
static void check_cache_change_times(const char *dir, const char *cache)
{
    mfr_dataset *cached;
    /* A modification time in the future (touch -d, a clock set back): the
     * change time, which the kernel sets, decides. The cache's own time is
     * set by hand, so that no clock tick enters the test. */
    tu_write_file(dir, "users.dat", ml1m_users, (size_t)-1);
    set_mtime(dir, "users.dat", -100); /* in the future */
    cached = load_cached(dir, NULL, MFR_CACHE_STATE_WRITTEN); /* the key changed */
    mfr_dataset_destroy(cached);
    set_mtime(dir, ".mfrec-cache", -10); /* written well after the source's change */
    cached = load_cached(dir, NULL, MFR_CACHE_STATE_READ); /* before: never trusted */
    mfr_dataset_destroy(cached);
    /* Racy: a cache no later than the source's change time (the same tick)
     * is not trusted, whatever the source's modification time says. */
    struct stat src_st;
    char *users_path = tu_path(dir, "users.dat");
    assert_int_equal(stat(users_path, &src_st), 0);
    free(users_path);
    struct timespec same[2] = {src_st.st_ctim, src_st.st_ctim};
    assert_int_equal(utimensat(AT_FDCWD, cache, same, 0), 0);
    cached = load_cached(dir, NULL, MFR_CACHE_STATE_WRITTEN);
    mfr_dataset_destroy(cached);
    set_mtime(dir, "users.dat", 20);
    cached = load_cached(dir, NULL, MFR_CACHE_STATE_WRITTEN);
    mfr_dataset_destroy(cached);
    cached = load_cached(dir, NULL, MFR_CACHE_STATE_READ);
    mfr_dataset_destroy(cached);
}

static void test_cache_round_trip(void **state)
{
    (void)state;
    static const char *const ml1m_names[] = {"ratings.dat", "movies.dat", "users.dat", NULL};
    char *dir = write_ml1m();
    age_sources(dir, ml1m_names, 100);
    char *cache = tu_path(dir, ".mfrec-cache");

    /* Parsed, cache written; then read from the cache, identical. */
    mfr_dataset *parsed = load_cached(dir, NULL, MFR_CACHE_STATE_WRITTEN);
    assert_true(tu_exists(cache));
    mfr_dataset *cached = load_cached(dir, NULL, MFR_CACHE_STATE_READ);
    assert_same_dataset(parsed, cached);
    /* The cached dataset reads further files like the parsed one. */
    mfr_ratings *r = NULL;
    mfr_error err = {0};
    tu_write_file(dir, "r1.test", "2::20::2::5\n", (size_t)-1);
    char *p = tu_path(dir, "r1.test");
    assert_int_equal(mfr_dataset_read_ratings(cached, p, &r, &err), MFR_OK);
    mfr_ratings_destroy(r);
    free(p);
    mfr_dataset_destroy(cached);

    /* Never: the cache is neither read nor written. */
    mfr_load_options o = opts(MFR_FORMAT_AUTO);
    o.cache = MFR_CACHE_NEVER;
    cached = tu_load_ok(dir, &o);
    assert_int_equal(cached->cache_state, MFR_CACHE_STATE_UNUSED);
    mfr_dataset_destroy(cached);
    /* Auto: these files are far below MFR_CACHE_AUTO_BYTES. */
    cached = tu_load_ok(dir, NULL);
    assert_int_equal(cached->cache_state, MFR_CACHE_STATE_UNUSED);
    mfr_dataset_destroy(cached);

    check_cache_damaged(dir, cache, parsed);
    check_cache_stale(dir, parsed);
    check_cache_change_times(dir, cache);

    mfr_dataset_destroy(parsed);
    free(cache);
    tu_rmtree(dir);
    free(dir);
}

/* A cache big enough for several 1 MiB checksum blocks per array, written
 * with 3 threads, reads back (same checksum, same dataset) with 1 and 7. */
/* Resets the process-wide knobs a test may leave set when an assertion
 * stops it early. */
static int reset_knobs(void **state)
{
    (void)state;
    mfr_set_spill_min(-1);
    mfr_set_threads(0);
    return 0;
}

/* One dataset of test_cache_range_checks: every poke at every position in
 * where[], a bad one refused (the text parsed again), a good one read. */
static void range_checks_on(int64_t n_ratings, const int64_t *where, int n_where)
{
    char *dir = tu_mkdtemp(), *data = tu_path(dir, "data"), *cache = tu_path(dir, "c");
    static const char *const names[] = {"u.data", "u.item", "u.user", "u.genre", "u.occupation", NULL};
    assert_int_equal(tu_synth(data, 4000, 900, n_ratings, 5, NULL), 0);
    age_sources(data, names, 100);
    mfr_load_options never = opts(MFR_FORMAT_AUTO);
    never.cache = MFR_CACHE_NEVER;
    mfr_dataset *parsed = tu_load_ok(data, &never);
    const uint32_t nu = (uint32_t)mfr_dataset_n_users(parsed), ni = (uint32_t)mfr_dataset_n_items(parsed);
    float lo, hi;
    mfr_dataset_rating_range(parsed, &lo, &hi);
    const float values[] = {hi + 1.0f, lo - 0.5f, (float)NAN, -(float)INFINITY, hi, lo};
    uint32_t bits[6];
    memcpy(bits, values, sizeof bits);
    const struct {
        int section;
        uint32_t bits;
        bool bad;
    } pokes[] = {{0, nu, true},          {1, ni, true},          {0, UINT32_MAX, true},  {1, (uint32_t)-5, true},
                 {2, bits[0], true},     {2, bits[1], true},     {2, bits[2], true},     {2, bits[3], true},
                 {0, nu - 1, false},     {1, ni - 1, false},     {2, bits[4], false},    {2, bits[5], false}};
    for (size_t q = 0; q < sizeof pokes / sizeof pokes[0]; q++)
        for (int w = 0; w < n_where; w++) {
            mfr_set_threads(w % 2 ? 3 : 1);
            mfr_dataset_destroy(load_cached(data, cache, MFR_CACHE_STATE_WRITTEN));
            assert_int_equal(mfr_cache_poke(cache, pokes[q].section, where[w], pokes[q].bits), MFR_OK);
            mfr_dataset *ds = load_cached(data, cache, pokes[q].bad ? MFR_CACHE_STATE_WRITTEN : MFR_CACHE_STATE_READ);
            if (pokes[q].bad) assert_same_dataset(parsed, ds); /* parsed again */
            mfr_dataset_destroy(ds);
            assert_int_equal(unlink(cache), 0);
        }
    /* the poke helper itself refuses what it cannot do */
    mfr_dataset_destroy(load_cached(data, cache, MFR_CACHE_STATE_WRITTEN));
    assert_int_equal(mfr_cache_poke(cache, 3, 0, 0), MFR_ERR_IO);
    assert_int_equal(mfr_cache_poke(cache, 0, n_ratings, 0), MFR_ERR_IO);
    assert_int_equal(mfr_cache_poke(data, 0, 0, 0), MFR_ERR_IO);
    mfr_set_threads(0);
    mfr_dataset_destroy(parsed);
    tu_rmtree(dir);
    free(dir), free(data), free(cache);
}

/* A cache whose checksum matches but whose ratings index outside the
 * dataset, or hold a rating outside its range (above, below, NaN, -inf),
 * is not used (the load's range checks, run on each checksum block): the
 * text is parsed again and the cache rewritten. The bad value goes in the
 * first, a middle and the last, partial, 1 MiB block of 600000 ratings
 * (262144 to a block: the parallel path), at 1 and 3 threads, and in a
 * set of one block each (the single-block path); values at the edges of
 * their ranges are accepted. */
static void test_cache_range_checks(void **state)
{
    (void)state;
    const int64_t big[] = {3, 500000, 599999}, small[] = {0, 49999};
    range_checks_on(600000, big, 3);
    range_checks_on(50000, small, 2);
}

/* The names in dir (not "." and ".."), sorted, joined by spaces. */
static void dir_names(const char *dir, char *out, size_t cap)
{
    char *names[8];
    int n = 0;
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            assert_true(n < 8);
            names[n++] = strdup(e->d_name);
        }
    closedir(d);
    for (int a = 1; a < n; a++) /* insertion sort */
        for (int b = a; b > 0 && strcmp(names[b - 1], names[b]) > 0; b--) {
            char *t = names[b];
            names[b] = names[b - 1], names[b - 1] = t;
        }
    size_t used = 0;
    out[0] = 0;
    for (int k = 0; k < n; k++) {
        size_t len = strlen(names[k]);
        assert_true(used + len + 2 <= cap);
        if (k) out[used++] = ' ';
        memcpy(out + used, names[k], len + 1);
        used += len;
        free(names[k]);
    }
}

/* A parse whose cache is about to be written keeps its timestamps in an
 * unlinked file of the cache's directory (mfr_ratings_alloc_spilled): the same
 * dataset and the same cache bytes as timestamps on the heap, for any
 * thread count (the parse's chunks release their pages behind them), and
 * no file is left behind. When the cache then cannot be written, the
 * dataset goes on with the spilled timestamps. */
/* Whether dir's file system takes spilled timestamps (ext2/3/4, XFS). */
static bool spills_in(const char *dir)
{
    mfr_ratings *r = NULL;
    mfr_error err = {0};
    int rc = mfr_ratings_alloc_spilled(1000, dir, &r, &err);
    if (rc == MFR_OK) assert_true(r->ts_spill_len == 8000);
    mfr_ratings_destroy(r);
    return rc == MFR_OK;
}

/* A temporary directory whose file system takes spilled timestamps: the
 * usual one ($TMPDIR or /tmp), else one in the working directory (the build
 * tree); NULL when neither does (a tmpfs /tmp and an unusual build file
 * system). */
static char *spill_dir_for_test(void)
{
    char *dir = tu_mkdtemp();
    if (spills_in(dir)) return dir;
    tu_rmtree(dir);
    free(dir);
    char here[] = "mfrec-spill-test-XXXXXX";
    if (!mkdtemp(here)) return NULL;
    char *abs = realpath(here, NULL);
    if (abs && spills_in(abs)) return abs;
    tu_rmtree(here);
    free(abs);
    return NULL;
}

static void test_cache_spilled_timestamps(void **state)
{
    (void)state;
    char *dir = spill_dir_for_test();
    if (!dir) {
        print_message("SKIP: neither $TMPDIR (or /tmp) nor the working directory is on ext2/3/4 or XFS, the "
                      "only file systems that take spilled timestamps\n");
        skip();
    }
    /* tmpfs is refused: the file would be memory, no less of it */
    struct statfs shm;
    if (statfs("/dev/shm", &shm) == 0 && (unsigned long)shm.f_type == 0x01021994ul) assert_false(spills_in("/dev/shm"));
    char *data = tu_path(dir, "data"), *cache = tu_path(dir, "c");
    static const char *const names[] = {"u.data", "u.item", "u.user", "u.genre", "u.occupation", NULL};
    /* 600k ratings: several chunks, and each chunk releases ts pages more than once */
    assert_int_equal(tu_synth(data, 4000, 900, 600000, 3, NULL), 0);
    age_sources(data, names, 100);
    mfr_load_options never = opts(MFR_FORMAT_AUTO);
    never.cache = MFR_CACHE_NEVER;
    mfr_set_spill_min(0);
    mfr_dataset *heap = tu_load_ok(data, &never); /* no cache to write: never spilled */
    assert_int_equal(mfr_dataset_ratings(heap)->ts_spill_len, 0);

    mfr_set_spill_min(INT64_MAX);
    mfr_set_threads(2);
    mfr_dataset_destroy(load_cached(data, cache, MFR_CACHE_STATE_WRITTEN));
    size_t ref_len, len;
    char *ref = tu_read_file(cache, &ref_len);
    assert_non_null(ref);
    assert_int_equal(unlink(cache), 0);

    mfr_set_spill_min(0);
    const int threads[] = {1, 2, 3};
    for (int t = 0; t < 3; t++) {
        mfr_set_threads(threads[t]);
        mfr_dataset *ds = load_cached(data, cache, MFR_CACHE_STATE_WRITTEN);
        assert_same_dataset(heap, ds);
        char *got = tu_read_file(cache, &len);
        assert_non_null(got);
        assert_int_equal(len, ref_len);
        assert_memory_equal(got, ref, len);
        free(got);
        mfr_dataset_destroy(ds);
        assert_int_equal(unlink(cache), 0);
    }

    /* --max-memory counts what the parse holds: 12 bytes a rating spilled,
     * 20 on the heap; refused before the parse, nothing cached. */
    mfr_load_options b = opts(MFR_FORMAT_AUTO);
    b.cache = MFR_CACHE_ALWAYS;
    b.cache_path = cache;
    b.max_memory = 600000 * 16;
    mfr_dataset *fits = tu_load_ok(data, &b);
    assert_same_dataset(heap, fits);
    mfr_dataset_destroy(fits);
    assert_int_equal(unlink(cache), 0);
    b.max_memory = 600000 * 11;
    load_fails(data, &b, MFR_ERR_TOO_LARGE, "(12 bytes a rating)", "memory budget");
    mfr_set_spill_min(INT64_MAX);
    b.max_memory = 600000 * 16;
    load_fails(data, &b, MFR_ERR_TOO_LARGE, "(20 bytes a rating)", "u.data: parsing its 600000 lines");
    assert_false(tu_exists(cache));
    mfr_set_spill_min(0);

    /* The cache path is a directory: the write fails, the dataset keeps the
     * spilled timestamps (whose file lives as long as their mapping). */
    char *cdir = tu_path(dir, "cdir");
    assert_int_equal(mkdir(cdir, 0755), 0);
    mfr_dataset *kept = load_cached(data, cdir, MFR_CACHE_STATE_WRITE_FAILED);
    const mfr_ratings *kr = mfr_dataset_ratings(kept);
    assert_true(kr->ts_spill_len == sizeof(int64_t) * (size_t)kr->n);
    assert_same_dataset(heap, kept);
    mfr_dataset_destroy(kept);

    char left[256];
    dir_names(dir, left, sizeof left);
    assert_string_equal(left, "cdir data");
    dir_names(cdir, left, sizeof left);
    assert_string_equal(left, "");

    mfr_set_spill_min(-1);
    mfr_set_threads(0);
    mfr_dataset_destroy(heap);
    free(ref);
    tu_rmtree(dir);
    free(dir), free(data), free(cache), free(cdir);
}

static void test_cache_any_threads(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), *data = tu_path(dir, "data"), *cache = tu_path(dir, "c");
    static const char *const names[] = {"u.data", "u.item", "u.user", "u.genre", "u.occupation", NULL};
    assert_int_equal(tu_synth(data, 4000, 900, 600000, 3, NULL), 0);
    age_sources(data, names, 100); /* older than the cache: not racy */
    mfr_set_threads(3);
    mfr_dataset *written = load_cached(data, cache, MFR_CACHE_STATE_WRITTEN);
    const mfr_ratings *w = mfr_dataset_ratings(written);
    const int threads[] = {1, 7};
    for (int t = 0; t < 2; t++) {
        mfr_set_threads(threads[t]);
        mfr_dataset *read = load_cached(data, cache, MFR_CACHE_STATE_READ);
        assert_same_dataset(written, read);
        const mfr_ratings *r = mfr_dataset_ratings(read);
        assert_int_equal(r->n, w->n);
        assert_memory_equal(r->user, w->user, sizeof(int32_t) * (size_t)w->n);
        assert_memory_equal(r->item, w->item, sizeof(int32_t) * (size_t)w->n);
        assert_memory_equal(r->rating, w->rating, sizeof(float) * (size_t)w->n);
        assert_memory_equal(r->ts, w->ts, sizeof(int64_t) * (size_t)w->n);
        mfr_dataset_destroy(read);
    }
    /* a flipped byte deep inside the timestamps: a block checksum catches
     * it. (written reads its ratings from that file's mapping since it was
     * written: a file changed in place under a run is not supported, so it
     * goes first and a plain parse is the reference.) */
    mfr_dataset_destroy(written);
    mfr_load_options o = opts(MFR_FORMAT_AUTO);
    o.cache = MFR_CACHE_NEVER;
    mfr_dataset *parsed = tu_load_ok(data, &o);
    flip_byte(cache, 1000000);
    mfr_dataset *again = load_cached(data, cache, MFR_CACHE_STATE_WRITTEN);
    assert_same_dataset(parsed, again);
    mfr_dataset_destroy(again);
    mfr_dataset_destroy(parsed);
    mfr_set_threads(0);
    tu_rmtree(dir);
    free(dir), free(data), free(cache);
}

static void test_cache_formats(void **state)
{
    (void)state;
    /* ML-100K with metadata, CSV and delimited: cache == parse. */
    static const char *const names[] = {"u.data", "u.item", "u.user", "u.genre",
                                        "ratings.csv", "movies.csv", "big.txt", NULL};
    char *dir = tu_mkdtemp();
    tu_write_file(dir, "u.data", "7\t42\t5\t1\n1000000000000\t42\t3\t2\n42\t5\t1\t3\n",
                  (size_t)-1);
    tu_write_file(dir, "u.genre", "unknown|0\nB-movie|1\n", (size_t)-1);
    tu_write_file(dir, "u.item", "5|Caf\xe9 (1995)|01-Jan-1995||u|0|1\n42|Old|||u|1|0\n",
                  (size_t)-1);
    tu_write_file(dir, "u.user", "3|25|F|artist|12345\n7|30|M|writer|T8H1N\n", (size_t)-1);
    age_sources(dir, names, 100);
    mfr_dataset *a = load_cached(dir, NULL, MFR_CACHE_STATE_WRITTEN);
    mfr_dataset *b = load_cached(dir, NULL, MFR_CACHE_STATE_READ);
    assert_same_dataset(a, b);
    assert_string_equal(mfr_dataset_item_title(b, 0), "Caf\xc3\xa9 (1995)");
    assert_string_equal(mfr_dataset_user_occupation(b, 1), "writer");
    /* Items without u.item lines keep an empty title; the canonical-split
     * reader still works on the cached dataset. */
    mfr_dataset_destroy(a);
    mfr_dataset_destroy(b);
    tu_rmtree(dir);
    free(dir);

    dir = tu_mkdtemp();
    tu_write_file(dir, "ratings.csv", csv_ratings, (size_t)-1);
    tu_write_file(dir, "movies.csv", csv_movies, (size_t)-1);
    age_sources(dir, names, 100);
    /* A user-chosen cache path. */
    char *cache = tu_path(dir, "elsewhere.bin");
    a = load_cached(dir, cache, MFR_CACHE_STATE_WRITTEN);
    assert_true(tu_exists(cache));
    char *dflt = tu_path(dir, ".mfrec-cache");
    assert_false(tu_exists(dflt));
    b = load_cached(dir, cache, MFR_CACHE_STATE_READ);
    assert_same_dataset(a, b);
    mfr_dataset_destroy(a);
    mfr_dataset_destroy(b);
    /* The same cache path for a copy of the dataset elsewhere, with the same
     * names, sizes and times: the directory differs, so it is re-parsed. */
    char *copy = tu_mkdtemp();
    tu_write_file(copy, "ratings.csv", csv_ratings, (size_t)-1);
    tu_write_file(copy, "movies.csv", csv_movies, (size_t)-1);
    set_mtime_at(dir, "ratings.csv", 1600000000);
    set_mtime_at(dir, "movies.csv", 1600000000);
    set_mtime_at(copy, "ratings.csv", 1600000000);
    set_mtime_at(copy, "movies.csv", 1600000000);
    a = load_cached(dir, cache, MFR_CACHE_STATE_WRITTEN);
    mfr_dataset_destroy(a);
    a = load_cached(dir, cache, MFR_CACHE_STATE_READ);
    b = load_cached(copy, cache, MFR_CACHE_STATE_WRITTEN);
    assert_string_not_equal(mfr_dataset_dir(a), mfr_dataset_dir(b));
    mfr_dataset_destroy(a);
    mfr_dataset_destroy(b);
    tu_rmtree(copy);
    free(copy);
    /* A cache that cannot be written is not an error. */
    a = load_cached(dir, "/nonexistent-dir/x/cache", MFR_CACHE_STATE_WRITE_FAILED);
    mfr_dataset_destroy(a);
    free(dflt);
    free(cache);
    tu_rmtree(dir);
    free(dir);

    /* Delimited: the detected separator, header and observed scale survive. */
    dir = tu_mkdtemp();
    tu_write_file(dir, "big.txt", "u|i|r\n9000000000123|1|-2.5\n5|9000000000999|7\n",
                  (size_t)-1);
    age_sources(dir, names, 100);
    char *file = tu_path(dir, "big.txt");
    a = load_cached(file, NULL, MFR_CACHE_STATE_WRITTEN);
    b = load_cached(file, NULL, MFR_CACHE_STATE_READ);
    assert_same_dataset(a, b);
    float lo, hi;
    mfr_dataset_rating_range(b, &lo, &hi);
    assert_true(lo == -2.5f && hi == 7.0f);
    mfr_ratings *r = NULL;
    mfr_error err = {0};
    tu_write_file(dir, "t.txt", "u|i|r\n5|1|100\n", (size_t)-1);
    char *t = tu_path(dir, "t.txt");
    assert_int_equal(mfr_dataset_read_ratings(b, t, &r, &err), MFR_OK);
    mfr_ratings_destroy(r);
    free(t);
    mfr_dataset_destroy(a);
    mfr_dataset_destroy(b);
    free(file);
    tu_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ml1m),
        cmocka_unit_test(test_ml10m),
        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_csv_quoted_numbers),
        cmocka_unit_test(test_header_narrower_than_lines),
        cmocka_unit_test(test_delimited),
        cmocka_unit_test(test_detection),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_read_ratings),
        cmocka_unit_test(test_cache_round_trip),
        cmocka_unit_test(test_cache_write_failure_is_logged),
        cmocka_unit_test(test_cache_mode),
        cmocka_unit_test(test_cache_formats),
        cmocka_unit_test(test_cache_any_threads),
        cmocka_unit_test_teardown(test_cache_spilled_timestamps, reset_knobs),
        cmocka_unit_test_teardown(test_cache_range_checks, reset_knobs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
