/*
 * cmd_similar.c — `mfrec similar` (the nearest neighbours of a movie found
 * by title) and `mfrec norms` (the movies with the largest embedding norms
 * beside their training rating counts, and the norm histogram). Both name
 * movies by the dataset's ids and titles, take the list flags of
 * movie_list.h and print a table, JSON or CSV. The library's scoring and
 * top-k are single-threaded and deterministic.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mfrec_softmax.h"
#include "movie_list.h"
#include "output.h"
#include "plot.h"

/* ------------------------------------------------------------------ */
/* mfrec similar                                                        */
/* ------------------------------------------------------------------ */

static const char similar_help[] =
    "Usage: mfrec similar --model MODEL [--data DIR] --movie TEXT [--top N]\n"
    "                     [--measure dot|cosine] [--min-ratings N] [--json|--csv]\n"
    "\n"
    "The nearest neighbours of a movie in the model's embedding space (the\n"
    "embedding lanes only, biases left out). TEXT is \"#ID\" or a title: an\n"
    "exact title first (ignoring case; the year may be left out; \"The Usual\n"
    "Suspects\" finds \"Usual Suspects, The (1995)\"), else a unique title\n"
    "containing TEXT; an ambiguous TEXT lists the candidates, an unknown one\n"
    "the closest titles (those a few edits away).\n"
    "\n";

static const char similar_help_end[] =
    "\n"
    "Equal scores list the lower movie index first. The output is the same\n"
    "for every thread count. Huge factors whose float dot product overflows\n"
    "(a norm of inf in norms) get it in double: the cosine is the true one,\n"
    "a dot inf or -inf (null in --json, an empty --csv field).\n"
    "Exit status: 0 ok, 1 runtime error (unknown or ambiguous title, bad\n"
    "data), 2 usage error.\n";

/* Prints the neighbours of q (a table, JSON or CSV). */
static void print_similar(const struct movie_ctx *c, const struct list_opts *o,
                          const char *model_path, int32_t q, const struct movie_list *l)
{
    char g[512], t[64];
    const mfr_dataset *ds = c->ds;
    if (o->csv) {
        print_list_csv(c, l);
    } else if (o->json) {
        json_open_model(model_path);
        printf(",\"movie\":%lld,\"title\":", (long long)mfr_dataset_item_id(ds, q));
        json_title(ds, q);
        fputs(",\"genres\":", stdout);
        json_genres(ds, q);
        printf(",\"ratings\":%lld,\"measure\":\"%s\",\"top\":%d,\"min_ratings\":%lld,\"items\":",
               (long long)c->counts[q], measure_name(o->measure), (int)o->top,
               (long long)o->min_ratings);
        print_list_json(c, l);
        printf("}\n");
    } else {
        printf("movie %lld: %s  [%s], %lld training rating%s\n",
               (long long)mfr_dataset_item_id(ds, q), item_title(ds, q, t, sizeof t),
               item_genres(ds, q, "-", g, sizeof g), (long long)c->counts[q], PL(c->counts[q]));
        printf("nearest %d by %s", (int)o->top, measure_name(o->measure));
        if (o->min_ratings)
            printf(", movies with fewer than %lld training rating%s left out", (long long)o->min_ratings,
                   PL(o->min_ratings));
        putchar('\n');
        if (l->n == 0) { /* no table of headers only */
            printf("no other movie qualifies\n");
            return;
        }
        if (l->n < o->top)
            printf("(only %d other movie%s qualif%s)\n", (int)l->n, PL(l->n), l->n == 1 ? "ies" : "y");
        print_list_table(c, l);
    }
}

/* Says that the neighbours of a movie (id item_id) without a rating in the
 * model's training split tell nothing of it: a gradient step keeps such a
 * row's random start, and ALS solves it to zero (`zero`), against which
 * every movie scores 0. A softmax model trains every movie's row as a
 * negative of every example, rated or not: no note there. */
static void note_untrained_movie(int64_t item_id, bool zero)
{
    fprintf(stderr,
            "%s: note: movie %lld has no rating in the model's training split, so its neighbours "
            "say nothing of it: %s\n",
            g_cmd, (long long)item_id,
            zero ? "its vector is zero (training solved it from no rating), every movie scores 0 "
                   "and the list is in the dataset's movie order"
                 : "they come from its vector's random start");
}

int cmd_similar(int argc, char **argv)
{
    const char *model_path = NULL, *data = NULL, *movie = NULL;
    struct list_opts o = LIST_OPTS_DEFAULT;
    const struct flag_spec flags[] = {
        {.name = "--model", .value = "MODEL", .kind = FLAG_STR, .dst = &model_path,
         .help = "a model written by `mfrec train --out`"},
        {.name = "--data", .value = "DIR", .kind = FLAG_STR, .dst = &data,
         .help = "dataset for titles and genres (default: the data\n"
                 "recorded in the model: its directory, or the rating\n"
                 "file it was trained from)"},
        {.name = "--movie", .value = "TEXT", .kind = FLAG_STR, .dst = &movie,
         .help = "a title, part of one (\"aladdin\") or #ID"},
        LIST_FLAG_ROWS(&o),
        LIST_MEASURE_ROW(&o),
    };
    struct command_spec cmd = {.name = "mfrec similar", .help = similar_help,
                               .help_end = similar_help_end, .help_width = 17, .flags = flags,
                               .n_flags = sizeof flags / sizeof *flags, .data_flags = true, .threads_flag = true};
    int rc;
    if (!cli_start(&cmd, argc, argv, &rc)) return rc;
    if (!model_path) return usage_error("--model is required");
    if (!movie) return usage_error("--movie is required");
    if (!*movie) return usage_error("--movie must not be empty");
    if ((rc = list_opts_check(&o)) != EXIT_OK) return rc;

    mfr_error err = {0};
    mfr_model *m = NULL;
    mfr_dataset *ds = NULL;
    struct movie_ctx c = {0};
    int32_t *items = NULL, q = -1, n = 0;
    float *scores = NULL;
    if ((rc = load_model_and_data(model_path, data, &m, &ds, NULL)) != EXIT_OK) return rc;
    if ((rc = movie_ctx_init(&c, m, ds, o.min_ratings)) != EXIT_OK ||
        (rc = resolve_movie(&c, "--movie", movie, &q)) != EXIT_OK)
        goto done;
    warn_if_poor_ranker(m, model_path);
    int32_t n_items = mfr_model_n_items(m);
    /* the query itself is excluded through the flags too, so the top-k
     * over the flags is the library's neighbour list less the filtered */
    items = malloc((size_t)n_items * sizeof *items);
    scores = malloc((size_t)n_items * sizeof *scores);
    if (!items || !scores) {
        rc = runtime_error("out of memory");
        goto done;
    }
    float *vec = malloc((size_t)mfr_model_k(m) * sizeof *vec);
    uint8_t saved = c.too_few[q];
    c.too_few[q] = 1;
    if (!vec || mfr_model_item_vector(m, q, vec, &err) != MFR_OK ||
        mfr_model_score_items(m, vec, o.measure, scores, &err) != MFR_OK ||
        mfr_scores_top_k(scores, n_items, o.top, c.too_few, items, NULL, &n, &err) != MFR_OK)
        rc = vec ? lib_error(&err) : runtime_error("out of memory");
    c.too_few[q] = saved;
    if (rc == EXIT_OK && c.counts[q] == 0 && mfr_model_kind(m) == MFR_MODEL_KIND_MF)
        note_untrained_movie(mfr_dataset_item_id(ds, q), vector_is_zero(vec, mfr_model_k(m)));
    free(vec);
    if (rc == EXIT_OK) {
        float *top_scores = malloc(((size_t)n + 1) * sizeof *top_scores);
        if (!top_scores) {
            rc = runtime_error("out of memory");
            goto done;
        }
        for (int32_t r = 0; r < n; r++) top_scores[r] = scores[items[r]];
        struct movie_list l = {.items = items, .values = top_scores, .n = n,
                               .kind = list_value_of(m, o.measure, false)};
        print_similar(&c, &o, model_path, q, &l);
        free(top_scores);
    }
done:
    free(items);
    free(scores);
    movie_ctx_free(&c);
    mfr_dataset_destroy(ds);
    mfr_model_destroy(m);
    return rc;
}

/* ------------------------------------------------------------------ */
/* mfrec norms                                                          */
/* ------------------------------------------------------------------ */

static const char norms_help[] =
    "Usage: mfrec norms --model MODEL [--data DIR] [--top N] [--min-ratings N]\n"
    "                   [--bins B] [--plot DIR] [--json|--csv]\n"
    "\n"
    "The movies with the largest embedding norms |v| (over the k embedding\n"
    "components, biases left out), with their number of training ratings,\n"
    "then the histogram of all the listed movies' norms.\n"
    "\n";

static const char norms_help_end[] =
    "\n"
    "Equal norms list the lower movie index first. --csv prints the list\n"
    "only (--bins then needs --plot); --json the list and the histogram,\n"
    "whose outer edges hold every norm (in full, as stats writes them).\n"
    "With --plot, --json and --csv name the charts written on stderr.\n"
    "A norm that overflowed (inf; null in --json) is in no bin: the title\n"
    "says how many were left out, and the bins span the finite norms. When\n"
    "no norm is finite, the histogram says so (\"no finite norm to bin\";\n"
    "--json: empty \"edges\" and \"counts\") and --plot is an error.\n"
    "When no movie has --min-ratings training ratings, the list says \"no\n"
    "movie qualifies\" (--json: empty \"items\", and a \"histogram\" with empty\n"
    "\"edges\" and \"counts\"; --csv: the header only), exit 0; with --plot\n"
    "that is an error (nothing to draw).\n"
    "Exit status: 0 ok, 1 runtime error, 2 usage error.\n";

struct norms_opts {
    const char *model_path, *data, *plot_dir;
    struct list_opts list;
    int32_t bins;
};

/* The norms, their ranking and their histogram. */
struct norms_state {
    int32_t n_items, n_top;
    int64_t n_hist, n_binned; /* eligible norms; those the bins count (the finite ones) */
    double *norms, *edges, *hist_vals;
    double max; /* the largest norm of the histogram: its last bin is closed when its edge is this */
    float *fnorms, *top_sc;
    int64_t *hist;
    int32_t *top;
};

static void norms_free(struct norms_state *st)
{
    free(st->norms);
    free(st->fnorms);
    free(st->top);
    free(st->top_sc);
    free(st->edges);
    free(st->hist);
    free(st->hist_vals);
}

/* Fills st: every movie's norm, the largest finite one of the eligible movies,
 * the histogram of the eligible movies' norms. */
static int norms_compute(struct norms_state *st, const mfr_model *m, const struct movie_ctx *c,
                         const struct norms_opts *o)
{
    mfr_error err = {0};
    int32_t n = st->n_items = mfr_model_n_items(m), want = o->list.top < n ? o->list.top : n;
    st->norms = malloc((size_t)n * sizeof *st->norms);
    st->hist_vals = malloc((size_t)n * sizeof *st->hist_vals);
    st->fnorms = malloc((size_t)n * sizeof *st->fnorms);
    st->top = malloc((size_t)want * sizeof *st->top);
    st->top_sc = malloc((size_t)want * sizeof *st->top_sc);
    st->edges = malloc(((size_t)o->bins + 1) * sizeof *st->edges);
    st->hist = malloc((size_t)o->bins * sizeof *st->hist);
    if (!st->norms || !st->hist_vals || !st->fnorms || !st->top || !st->top_sc || !st->edges ||
        !st->hist)
        return runtime_error("out of memory");
    if (mfr_model_norms(m, MFR_FACTORS_ITEMS, st->norms, &err) != MFR_OK) return lib_error(&err);
    /* rank by the double norm: floats only order, the printed value is the
     * double; ties after rounding go to the lower index */
    /* the histogram of the float norms the list prints, so that its
     * edges (9 digits, a float's) hold every printed norm */
    /* the largest finite norm: an overflowed one ("inf") is in no bin, and
     * taken as the largest it closed a last bin that ends past every norm */
    st->max = -INFINITY;
    for (int32_t i = 0; i < n; i++) {
        st->fnorms[i] = (float)st->norms[i];
        if (!c->too_few[i]) {
            const double v = (double)st->fnorms[i];
            st->hist_vals[st->n_hist++] = v;
            if (isfinite(v) && v > st->max) st->max = v;
        }
    }
    if (mfr_scores_top_k(st->fnorms, n, o->list.top, c->too_few, st->top, st->top_sc, &st->n_top,
                         &err) != MFR_OK)
        return lib_error(&err);
    for (int32_t r = 0; r < st->n_top; r++) st->top_sc[r] = (float)st->norms[st->top[r]];
    /* no eligible movie, or no finite norm among them (every one
     * overflowed): no histogram over an invented range ([0, 1] it was) */
    if (isfinite(st->max))
        st->n_binned = hist_bins(st->n_hist, st->hist_vals, o->bins, false, st->edges, st->hist);
    return EXIT_OK;
}

/* Whether the last bin holds its upper edge, [a, b], as stats' histograms
 * say it: not when the edge lies past the largest norm (every norm equal,
 * one movie: a range around the value, [1.73, 2.23) holding 1.73). */
static bool last_bin_closed(const struct norms_state *st, const struct norms_opts *o)
{
    return st->n_binned > 0 && st->edges[o->bins] <= st->max;
}

static void print_histogram(const struct norms_state *st, const struct norms_opts *o)
{
    int64_t peak = 1;
    for (int32_t b = 0; b < o->bins; b++)
        if (st->hist[b] > peak) peak = st->hist[b];
    /* a norm that overflowed (factors of a huge model: "inf" in the list)
     * is in no bin: said, so that the counts add up to the title's */
    if (st->n_binned == 0) { /* every norm overflowed: no bins to show */
        printf("histogram: no finite norm to bin (%lld not finite, left out)\n", (long long)st->n_hist);
        return;
    }
    printf("histogram of %lld norm%s (%d bin%s", (long long)st->n_binned, PL(st->n_binned), (int)o->bins,
           PL(o->bins));
    if (st->n_binned < st->n_hist)
        printf("; %lld not finite, left out", (long long)(st->n_hist - st->n_binned));
    printf(")\n");
    for (int32_t b = 0; b < o->bins; b++) {
        int bar = (int)((st->hist[b] * 50 + peak - 1) / peak);
        char lo[32], hi[32];
        printf("  [%9s, %9s%c %6lld%s", table_num(st->edges[b], lo), table_num(st->edges[b + 1], hi),
               b + 1 == o->bins && last_bin_closed(st, o) ? ']' : ')', (long long)st->hist[b], bar ? "  " : "");
        for (int x = 0; x < bar; x++) putchar('#');
        putchar('\n');
    }
}

static void print_norms(const struct norms_state *st, const struct movie_ctx *c,
                        const struct norms_opts *o)
{
    struct movie_list l = {.items = st->top, .values = st->top_sc, .n = st->n_top,
                           .kind = VALUE_NORM};
    if (o->list.csv) {
        print_list_csv(c, &l);
        return;
    }
    if (o->list.json) {
        json_open_model(o->model_path);
        printf(",\"dim\":%d,\"movies\":%d,\"top\":%d,\"min_ratings\":%lld,\"items\":", (int)mfr_model_k(c->m),
               (int)st->n_items, (int)o->list.top, (long long)o->list.min_ratings);
        print_list_json(c, &l);
        /* as stats' histograms; empty lists when no movie qualifies or
         * no norm is finite */
        printf(",\"histogram\":{\"edges\":[");
        for (int32_t b = 0; st->n_binned && b <= o->bins; b++) {
            printf("%s", b ? "," : "");
            /* the outer edges in full, as stats writes them: at 9 digits
             * the first could lie above the smallest norm; widened to the
             * 9-digit norms "items" prints too, so that both fall inside */
            if (b == 0 || b == o->bins) json_num(json_outer_edge(st->edges[b], b == 0, 9), JSON_EXACT);
            else json_num(st->edges[b], 9);
        }
        printf("],\"counts\":[");
        for (int32_t b = 0; st->n_binned && b < o->bins; b++) printf("%s%lld", b ? "," : "", (long long)st->hist[b]);
        printf("],\"last_bin_closed\":%s}}\n", last_bin_closed(st, o) ? "true" : "false");
        return;
    }
    printf("model %s: item embedding norms (k %d, %d movie%s", printable(o->model_path), (int)mfr_model_k(c->m),
           (int)st->n_items, PL(st->n_items));
    if (o->list.min_ratings)
        printf(", those with fewer than %lld training rating%s left out", (long long)o->list.min_ratings,
               PL(o->list.min_ratings));
    printf(")\n");
    if (st->n_top == 0) { /* no table of headers only, no histogram: as similar */
        printf("no movie qualifies\n");
        return;
    }
    printf("largest %d norm%s\n", (int)st->n_top, PL(st->n_top));
    print_list_table(c, &l);
    print_histogram(st, o);
}

/* DIR/item_norms (histogram) and DIR/norm_vs_ratings: each listed movie's
 * norm against its training ratings, on a log axis, the picture that shows
 * whether rarely rated movies keep large embeddings. What was drawn is
 * said into `say`, printed once the charts are in place (stdout, or stderr
 * under --json and --csv). */
static int plot_norms(const struct norms_state *st, const struct movie_ctx *c,
                      const struct norms_opts *o, struct json_log *say)
{
    int rc = ensure_dir(o->plot_dir);
    if (rc != EXIT_OK) return rc;
    char model[512], title[640], xl[160];
    model_describe(c->m, o->model_path, model, sizeof model);
    char filter[96] = ""; /* the movies --min-ratings left in, as the text report says */
    if (o->list.min_ratings)
        snprintf(filter, sizeof filter, ", %lld training rating%s or more",
                 (long long)o->list.min_ratings, PL(o->list.min_ratings));
    snprintf(title, sizeof title, "Movie embedding norms of %s%s", model, filter);
    struct plot_labels lab = {title, "norm |v|", "movies"};
    if ((rc = plot_histogram(o->plot_dir, "item_norms", &lab, o->bins, st->edges, st->hist, false)) !=
        EXIT_OK)
        return rc;
    int32_t n = st->n_items, n_zero = 0;
    double *x = malloc((size_t)n * sizeof *x);
    int32_t *cat = malloc((size_t)n * sizeof *cat);
    if (!x || !cat) rc = runtime_error("out of memory");
    for (int32_t i = 0; rc == EXIT_OK && i < n; i++) {
        /* Movies left out by --min-ratings get a non-finite x: not drawn. */
        x[i] = c->too_few[i] ? NAN : (double)c->counts[i];
        cat[i] = 0;
        if (!c->too_few[i] && c->counts[i] == 0) n_zero++;
    }
    if (rc == EXIT_OK) {
        snprintf(xl, sizeof xl, "training ratings of the movie (log scale%s)",
                 n_zero ? "; movies without any are left out" : "");
        const char *names[1] = {"movies"};
        struct plot_labels slab = {title, xl, "norm |v| of the movie's embedding"};
        rc = plot_scatter(o->plot_dir, "norm_vs_ratings", &slab, n, x, st->norms, cat, 1, names, NULL,
                          true);
    }
    free(x);
    free(cat);
    if (rc == EXIT_OK)
        jlog_printf(say, "plot: %s/item_norms.png and .svg, %s/norm_vs_ratings.png%s\n", printable(o->plot_dir),
                    printable(o->plot_dir),
                    plot_svg_drawn("norm_vs_ratings") ? " and .svg" : " (no .svg: see the note)");
    return rc;
}

int cmd_norms(int argc, char **argv)
{
    struct norms_opts o = {.list = LIST_OPTS_DEFAULT, .bins = 20};
    const struct flag_spec flags[] = {
        {.name = "--model", .value = "MODEL", .kind = FLAG_STR, .dst = &o.model_path,
         .help = "a model written by `mfrec train --out`"},
        {.name = "--data", .value = "DIR", .kind = FLAG_STR, .dst = &o.data,
         .help = "dataset for titles and rating counts (default: the\n"
                 "data recorded in the model: its directory, or the\n"
                 "rating file it was trained from)"},
        LIST_FLAG_ROWS(&o.list),
        {.name = "--bins", .value = "B", .kind = FLAG_I32, .dst = &o.bins, .lo = 1, .hi = 1000,
         .help = "histogram bins, equal width from the smallest to the\n"
                 "largest norm (default 20; norms all the same to a\n"
                 "millionth get the range of 0.5 on either side)"},
        {.name = "--plot", .value = "DIR", .kind = FLAG_STR, .dst = &o.plot_dir,
         .help = "also draw, with gnuplot, DIR/item_norms (the histogram)\n"
                 "and DIR/norm_vs_ratings (each movie's norm against its\n"
                 "training ratings), as .png and .svg (plus .dat and .gp;\n"
                 "no .svg past 100,000 points: MFREC_SVG_MAX_POINTS)"},
    };
    struct command_spec cmd = {.name = "mfrec norms", .help = norms_help,
                               .help_end = norms_help_end, .help_width = 17, .flags = flags,
                               .n_flags = sizeof flags / sizeof *flags, .data_flags = true, .threads_flag = true};
    int rc;
    if (!cli_start(&cmd, argc, argv, &rc)) return rc;
    if (!o.model_path) return usage_error("--model is required");
    if ((rc = list_opts_check(&o.list)) != EXIT_OK) return rc;
    /* --csv prints the list alone: --bins would change nothing there (as
     * project refuses --bins without --plot); with --plot it shapes item_norms */
    if (o.list.csv && !o.plot_dir && cli_flag_given("--bins"))
        return usage_error("--bins only changes the histogram, which --csv leaves out: "
                           "it needs the table, --json or --plot DIR");
    /* The directory at once; its files once the inputs are known. */
    static const char *const charts[] = {"item_norms", "norm_vs_ratings", NULL};
    if (o.plot_dir && ((rc = note_model_inputs(o.model_path, o.data)) != EXIT_OK || /* before its errors */
                       (rc = plot_preflight()) != EXIT_OK ||
                       (rc = io_output_dir("--plot", o.plot_dir)) != EXIT_OK))
        return rc;
    mfr_model *m = NULL;
    mfr_dataset *ds = NULL;
    struct movie_ctx c = {0};
    struct norms_state st = {0};
    if ((rc = load_model_and_data(o.model_path, o.data, &m, &ds, NULL)) != EXIT_OK) return rc;
    if (o.plot_dir) rc = plot_outputs_check(o.plot_dir, charts);
    /* No eligible movie: an empty list (exit 0), as similar and recommend
     * print; but --plot asked for charts that have nothing to draw. */
    if (rc == EXIT_OK && (rc = movie_ctx_init(&c, m, ds, o.list.min_ratings)) == EXIT_OK &&
        c.n_eligible == 0 && o.plot_dir)
        rc = runtime_error("no movie has at least %lld training rating%s (--min-ratings; the model's split): "
                           "--plot has no norms to draw",
                           (long long)o.list.min_ratings, PL(o.list.min_ratings));
    if (rc == EXIT_OK && (rc = norms_compute(&st, m, &c, &o)) == EXIT_OK && o.plot_dir && st.n_hist)
        rc = plot_norms_check(st.n_hist, st.hist_vals, "listed"); /* as no eligible movie: nothing written */
    if (rc == EXIT_OK) {
        /* the charts are drawn (staged) before the list is printed: a
         * chart that cannot be drawn fails the run with nothing on stdout;
         * their report follows the list once they are in place, so that a
         * commit that fails names no chart as written (it was printed
         * before the list, and stayed when the charts were put back) */
        bool staged = false;
        struct json_log say = {0};
        if (o.plot_dir && (rc = plot_stage_begin(o.plot_dir)) == EXIT_OK) {
            staged = true;
            rc = plot_norms(&st, &c, &o, &say);
        }
        if (rc == EXIT_OK) print_norms(&st, &c, &o);
        if (staged) {
            if (rc == EXIT_OK) rc = jlog_check(&say, "this run's report");
            /* --json and --csv keep stdout to their format: the charts
             * on stderr, as stats --json --plot says them */
            const bool quiet = o.list.json || o.list.csv;
            rc = plot_stage_end_report(rc, quiet ? NULL : say.buf);
            if (rc == EXIT_OK && quiet && say.buf) fputs(say.buf, stderr);
        }
        free(say.buf);
    }
    norms_free(&st);
    movie_ctx_free(&c);
    mfr_dataset_destroy(ds);
    mfr_model_destroy(m);
    return rc;
}
