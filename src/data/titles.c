/*
 * titles.c — finding a movie by what a person types: "#ID", an exact
 * title, a part of one, and, when nothing matches, the closest titles.
 *
 * Why in the library: every command that names a movie (recommend --rate,
 * --ratings-file, similar --movie) must resolve it the same way, and the
 * rules are tested once here.
 *
 * MovieLens writes a leading article after the title ("Usual Suspects, The
 * (1995)", "Cité des enfants perdus, La (1995)"), while people type it in
 * front. Each title is therefore compared in two forms, as written and with
 * the article moved to the front ("The Usual Suspects (1995)"), and each of
 * them with and without a final " (YEAR)". Comparisons ignore case for
 * ASCII and for the accented capitals of Latin-1 (À..Þ, as UTF-8: the
 * letters MovieLens titles use), so "MISÉRABLES" finds "Misérables", and
 * accents (é as e), so "Miserables" finds it too.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common_priv.h"
#include "mfrec.h"

/* Articles MovieLens moves behind the title (English, French, Spanish,
 * Italian, German, Portuguese, Scandinavian). */
static const char *const articles[] = {"the", "a",   "an",  "les", "la", "le",  "l'", "il",
                                       "el",  "los", "las", "der", "die", "das", "une", "un",
                                       "lo",  "i",   "o",   "os",  "det", "den", "en"};

static int lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* in[0..n) into out in lower case: ASCII letters, and U+00C0..U+00DE but
 * U+00D7 (UTF-8 C3 80..C3 9E, lower case 20 above): the same length. */
static size_t lower_copy(char *out, const char *in, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        const unsigned char c = (unsigned char)in[j], d = j + 1 < n ? (unsigned char)in[j + 1] : 0;
        if (c == 0xC3 && d >= 0x80 && d <= 0x9E && d != 0x97) {
            out[j] = (char)c;
            out[++j] = (char)(d + 0x20);
        } else {
            out[j] = (char)lower(c);
        }
    }
    return n;
}

/* True when s[0..n) is one of the articles, ignoring case. */
static bool is_article(const char *s, size_t n)
{
    for (size_t a = 0; a < sizeof articles / sizeof *articles; a++) {
        size_t len = strlen(articles[a]);
        if (len != n) continue;
        size_t j = 0;
        while (j < n && lower((unsigned char)s[j]) == articles[a][j]) j++;
        if (j == n) return true;
    }
    return false;
}

/* Folds the accented lower-case Latin-1 letters of s (UTF-8 C3 A0..C3 BF)
 * to their ASCII letter in place, so that "Les Miserables" finds
 * "Misérables, Les (1995)": both sides are folded. Letters without one
 * (æ, ð, þ, ß) and ÷ stay. */
static void fold_accents(char *s)
{
    static const char base[] = "aaaaaa?ceeeeiiii?nooooo?ouuuuy?y"; /* C3 A0 .. C3 BF */
    char *o = s;
    for (const char *p = s; *p; p++) {
        const unsigned char c = (unsigned char)p[0], d = (unsigned char)p[1];
        if (c == 0xC3 && d >= 0xA0 && d <= 0xBF && base[d - 0xA0] != '?') {
            *o++ = base[d - 0xA0];
            p++;
        } else {
            *o++ = *p;
        }
    }
    *o = 0;
}

/* Writes the lower-case forms of `title` with its trailing article moved to
 * the front into out and dropped into bare (strlen(title) + 2 bytes each):
 * "Terminator, The (1984)" gives "the terminator (1984)" and "terminator
 * (1984)"; false (out and bare unchanged) when the title has no ", ARTICLE"
 * followed by " (" or its end. */
static bool article_forms(const char *title, char *out, char *bare)
{
    for (const char *c = strstr(title, ", "); c; c = strstr(c + 1, ", ")) {
        const char *w = c + 2, *e = w;
        while (*e && *e != ' ' && *e != '(' && *e != ',') e++;
        if (!(*e == 0 || (e[0] == ' ' && e[1] == '(')) || !is_article(w, (size_t)(e - w)))
            continue;
        size_t n = 0, wl = (size_t)(e - w);
        n += lower_copy(out + n, w, wl);
        if (w[wl - 1] != '\'') out[n++] = ' ';
        n += lower_copy(out + n, title, (size_t)(c - title));
        n += lower_copy(out + n, e, strlen(e));
        out[n] = 0;
        n = lower_copy(bare, title, (size_t)(c - title));
        n += lower_copy(bare + n, e, strlen(e));
        bare[n] = 0;
        return true;
    }
    return false;
}

/* Length of s without a final " (YEAR)" (four digits). */
static size_t len_without_year(const char *s)
{
    size_t n = strlen(s);
    if (n >= 7 && s[n - 7] == ' ' && s[n - 6] == '(' && s[n - 1] == ')') {
        for (size_t j = n - 5; j < n - 1; j++)
            if (s[j] < '0' || s[j] > '9') return n;
        return n - 7;
    }
    return n;
}

/* The forms a title is compared in: as written, article-first and without
 * the article ("Terminator" is the whole of "Terminator, The (1984)"), all
 * in lower case; `n_forms` is 1 when the title has no trailing article. */
struct forms {
    char *f[3];
    int n_forms;
};

static bool forms_make(const char *title, struct forms *fm)
{
    size_t n = strlen(title);
    fm->f[0] = mfr_malloc(3 * (n + 2));
    if (!fm->f[0]) return false;
    fm->f[1] = fm->f[0] + n + 2;
    fm->f[2] = fm->f[1] + n + 2;
    lower_copy(fm->f[0], title, n + 1);
    fm->n_forms = article_forms(title, fm->f[1], fm->f[2]) ? 3 : 1;
    for (int x = 0; x < fm->n_forms; x++) fold_accents(fm->f[x]);
    return true;
}

/* True when the lower-case query q equals one of the first n_forms forms
 * (1: the title as written only), with or without its year. */
static bool forms_equal(const struct forms *fm, int n_forms, const char *q, size_t qn)
{
    for (int x = 0; x < n_forms && x < fm->n_forms; x++) {
        const char *f = fm->f[x];
        if (!strcmp(f, q) || (len_without_year(f) == qn && !strncmp(f, q, qn))) return true;
    }
    return false;
}

static bool forms_contain(const struct forms *fm, const char *q)
{
    for (int x = 0; x < fm->n_forms; x++)
        if (strstr(fm->f[x], q)) return true;
    return false;
}

/* Titles are compared up to this many bytes for suggestions, which bounds
 * the edit-distance cost of one title. */
enum { CLOSE_MAX = 200 };
/* Suggestions more edits than this behind the closest are left out. */
enum { SUGGEST_SLACK = 2 };
/* A title more edits away than half the text's length is no near miss
 * ("zzzzqqq" is none of "I.Q." and "Brazil"): never suggested. Two edits
 * always pass: a swap of two letters counts two ("Bgi" for "Big"). */
static bool too_far(int d, size_t qn)
{
    const size_t half = (qn > CLOSE_MAX ? CLOSE_MAX : qn) / 2;
    return (size_t)d > (half > 2 ? half : 2);
}

/* The distance of q to a title: the smallest edit distance between q and a
 * form without its year, or between q and a part of one plus one (a near
 * miss of a title's first words, "Wallace and Gromit" for "Wallace & Gromit:
 * The Best of Aardman Animation", counts for nearly as much as one of the
 * whole title). Only a query of four bytes or more is matched to parts:
 * shorter ones are parts of too many titles. */
static int forms_distance(const struct forms *fm, const char *q, size_t qn, int *row)
{
    int best = -1;
    for (int x = 0; x < fm->n_forms; x++) {
        size_t n = len_without_year(fm->f[x]);
        if (n > CLOSE_MAX) n = CLOSE_MAX;
        int d = mfr_edit_distance(q, qn, fm->f[x], n, false, row);
        if (qn >= 4 && n > qn) {
            int p = mfr_edit_distance(q, qn, fm->f[x], n, true, row) + 1;
            if (p < d) d = p;
        }
        if (best < 0 || d < best) best = d;
    }
    return best;
}

/* Keeps the max_out closest items in items_out/dist (ascending distance,
 * then index), *n the count kept. */
static void keep_closest(int32_t item, int d, int32_t *items_out, int *dist, int32_t max_out,
                         int32_t *n)
{
    int32_t pos = *n;
    if (pos == max_out && d >= dist[pos - 1]) return;
    if (pos < max_out) (*n)++;
    else pos--;
    while (pos > 0 && dist[pos - 1] > d) {
        items_out[pos] = items_out[pos - 1];
        dist[pos] = dist[pos - 1];
        pos--;
    }
    items_out[pos] = item;
    dist[pos] = d;
}

/* Whether text is "#ID": '#' and a raw id written as in rating files
 * ([-]DIGITS: strtoll alone also took "# 1" and "#+1" for movie 1). */
static bool is_id_text(const char *text)
{
    if (text[0] != '#') return false; /* before text[1]: "" ends at text[0] */
    const char *d = text + 1 + (text[1] == '-');
    return *d && strspn(d, "0123456789") == strlen(d);
}

/* "#ID" (is_id_text): the movie with that raw id. */
static int find_by_id(const mfr_dataset *ds, const char *text, int32_t *items_out,
                      int32_t max_out, int32_t *n_out, int *match_out)
{
    errno = 0;
    long long id = strtoll(text + 1, NULL, 10);
    int32_t i = errno ? MFR_INDEX_UNKNOWN : mfr_dataset_item_index(ds, id);
    *match_out = i >= 0 ? MFR_TITLE_ID : MFR_TITLE_NONE;
    *n_out = i >= 0 ? 1 : 0;
    if (i >= 0 && max_out > 0) items_out[0] = i;
    return MFR_OK;
}

/* An exact match of the title as written, not of its article-moved forms:
 * a kind of scan_titles only, never reported. */
enum { TITLE_AS_WRITTEN = -1 };

/* One pass over the titles for one kind of match; `close` gathers
 * suggestions instead. */
static int scan_titles(const mfr_dataset *ds, const char *q, int kind, int32_t *items_out,
                       int32_t max_out, int32_t *n_out, int *dist, mfr_error *err)
{
    size_t qn = strlen(q);
    int *row = kind == MFR_TITLE_NONE ? mfr_malloc((CLOSE_MAX + 1) * sizeof *row) : NULL;
    if (kind == MFR_TITLE_NONE && !row)
        return mfr_seterr(err, MFR_ERR_NOMEM, "title lookup: out of memory");
    int32_t n = 0;
    int rc = MFR_OK;
    for (int32_t i = 0; i < mfr_dataset_n_items(ds) && rc == MFR_OK; i++) {
        const char *t = mfr_dataset_item_title(ds, i);
        if (!t || !*t) continue;
        struct forms fm;
        if (!forms_make(t, &fm)) {
            rc = mfr_seterr(err, MFR_ERR_NOMEM, "title lookup: out of memory");
            break;
        }
        if (kind == MFR_TITLE_NONE) {
            keep_closest(i, forms_distance(&fm, q, qn > CLOSE_MAX ? CLOSE_MAX : qn, row),
                         items_out, dist, max_out, &n);
        } else if (kind == MFR_TITLE_EXACT    ? forms_equal(&fm, fm.n_forms, q, qn)
                   : kind == TITLE_AS_WRITTEN ? forms_equal(&fm, 1, q, qn)
                                              : forms_contain(&fm, q)) {
            if (n < max_out) items_out[n] = i;
            n++;
        }
        free(fm.f[0]);
    }
    free(row);
    *n_out = n;
    return rc;
}

int mfr_dataset_find_title(const mfr_dataset *ds, const char *text, int32_t *items_out,
                           int32_t max_out, int32_t *n_out, int *match_out, mfr_error *err)
{
    if (!ds || !text || !n_out || !match_out || (max_out > 0 && !items_out) || max_out < 0)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_dataset_find_title: %s",
                          max_out < 0 ? "max_out is negative" : "a required pointer is NULL");
    *n_out = 0;
    *match_out = MFR_TITLE_NONE;
    /* other text starting with '#' is a title's ("#Horror (2015)" in
     * MovieLens' latest datasets) */
    if (is_id_text(text)) return find_by_id(ds, text, items_out, max_out, n_out, match_out);
    size_t n = strlen(text);
    char *q = mfr_malloc(n + 1);
    int *dist = mfr_malloc(((size_t)max_out + 1) * sizeof *dist);
    if (!q || !dist) {
        free(q);
        free(dist);
        return mfr_seterr(err, MFR_ERR_NOMEM, "title lookup: out of memory");
    }
    lower_copy(q, text, n + 1);
    fold_accents(q);
    /* an article typed in front is matched against the article-first form;
     * a query "Title, The" against the title as written */
    static const int kinds[] = {MFR_TITLE_EXACT, MFR_TITLE_SUBSTRING, MFR_TITLE_NONE};
    int rc = MFR_OK;
    for (size_t k = 0; k < 3 && rc == MFR_OK; k++) {
        if (kinds[k] == MFR_TITLE_NONE && max_out == 0) break;
        rc = scan_titles(ds, q, kinds[k], items_out, max_out, n_out, dist, err);
        /* suggestions far behind the closest one are noise: keep those
         * within SUGGEST_SLACK edits of it */
        if (rc == MFR_OK && kinds[k] == MFR_TITLE_NONE)
            for (int32_t x = 0; x < *n_out; x++)
                if ((x > 0 && dist[x] > dist[0] + SUGGEST_SLACK) || too_far(dist[x], strlen(q))) {
                    *n_out = x;
                    break;
                }
        /* several exact matches, some only through an article moved or
         * left out ("Fargo (1996)" is also "Fargo, The (1996)" without its
         * article): the titles equal to the text as written are meant */
        if (rc == MFR_OK && kinds[k] == MFR_TITLE_EXACT && *n_out > 1) {
            int32_t n_written = 0;
            rc = scan_titles(ds, q, TITLE_AS_WRITTEN, NULL, 0, &n_written, dist, err);
            if (rc == MFR_OK && n_written > 0 && n_written < *n_out)
                rc = scan_titles(ds, q, TITLE_AS_WRITTEN, items_out, max_out, n_out, dist, err);
        }
        if (rc == MFR_OK && *n_out > 0) {
            *match_out = kinds[k];
            break;
        }
    }
    free(q);
    free(dist);
    return rc;
}
