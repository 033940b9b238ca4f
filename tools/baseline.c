/*
 * baseline.c — `mfrec eval --baseline ease[:LAMBDA]` (or ease-ratings): the
 * EASE baseline of include/mfrec.h (mfr_ease_*) beside the popularity
 * baseline, for one model and for the five folds of either kind.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "output.h"

bool parse_baseline(const char *flag, const char *value, void *dst)
{
    struct ease_baseline *b = dst;
    static const char *const names[2] = {"ease", "ease-ratings"};
    for (int k = 1; k >= 0; k--) {
        const size_t len = strlen(names[k]);
        if (strncmp(value, names[k], len) != 0 || (value[len] != 0 && value[len] != ':')) continue;
        b->ratings = k == 1;
        if (!value[len]) {
            b->lambda = b->ratings ? MFR_EASE_RATINGS_LAMBDA_DEFAULT : MFR_EASE_LAMBDA_DEFAULT;
            return true;
        }
        char what[64]; /* "--baseline ease:LAMBDA must be ...", not "--baseline must be a number" */
        snprintf(what, sizeof what, "%s %s:LAMBDA", flag, names[k]);
        return parse_double(what, value + len + 1, 1e-9, 1e12, &b->lambda);
    }
    usage_error("%s: expected ease[:LAMBDA] or ease-ratings[:LAMBDA], got '%s'", flag, value);
    return false;
}

int ease_ranking(const struct ease_baseline *b, const mfr_ratings *train, const mfr_ratings *test,
                 int32_t n_users, int32_t n_items, int32_t k, mfr_ranking *out)
{
    mfr_error err = {0};
    mfr_ease *e = NULL;
    int rc = EXIT_OK;
    int fit = b->ratings ? mfr_ease_fit_ratings(train, n_users, n_items, b->lambda, 0, &e, &err)
                         : mfr_ease_fit(train, n_users, n_items, b->lambda, 0, &e, &err);
    if (fit != MFR_OK || mfr_ease_ranking(e, train, test, k, out, &err) != MFR_OK)
        rc = runtime_error("EASE (%slambda %g): %s", b->ratings ? "on ratings, " : "", b->lambda,
                           err.message);
    mfr_ease_destroy(e);
    return rc;
}

int ease_fits_memory(const struct ease_baseline *b, int32_t n_items, uint64_t max_memory)
{
    if (!(b->lambda > 0)) return EXIT_OK;
    const uint64_t need = 2u * (uint64_t)n_items * (uint64_t)n_items * sizeof(double); /* n_items < 2^31 */
    const uint64_t budget = memory_budget(max_memory);
    if (budget > 0 && need > budget) {
        char a[32], c[32];
        return runtime_error("--baseline %s needs %s for its %d x %d matrices (two, of doubles), more than %s %s",
                             b->ratings ? "ease-ratings" : "ease", size_text(need, a), (int)n_items, (int)n_items,
                             max_memory ? "--max-memory" : "this machine's memory,", size_text(budget, c));
    }
    return EXIT_OK;
}

void ease_baseline_say(const struct ease_baseline *b, const char *fitted_on)
{
    printf("EASE%s: lambda %g, fitted on %s\n", b->ratings ? " on ratings" : "", b->lambda, fitted_on);
}

void ease_baseline_json(const struct ease_baseline *b)
{
    fputs(",\"ease_lambda\":", stdout);
    json_num(b->lambda, JSON_EXACT);
    printf(",\"ease_input\":\"%s\"", b->ratings ? "ratings" : "binary");
}
