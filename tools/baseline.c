/*
 * baseline.c — `mfrec eval --baseline ease[:LAMBDA]`: the EASE baseline of
 * include/mfrec.h (mfr_ease_*) beside the popularity baseline, for one
 * model and for the five folds of either kind.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

bool parse_baseline(const char *flag, const char *value, void *dst)
{
    double *lambda = dst;
    if (!strcmp(value, "ease")) {
        *lambda = MFR_EASE_LAMBDA_DEFAULT;
        return true;
    }
    if (strncmp(value, "ease:", 5) != 0) {
        usage_error("%s: expected ease or ease:LAMBDA, got '%s'", flag, value);
        return false;
    }
    return parse_double(flag, value + 5, 1e-9, 1e12, lambda);
}

int ease_ranking(double lambda, const mfr_ratings *train, const mfr_ratings *test,
                 int32_t n_users, int32_t n_items, int32_t k, mfr_ranking *out)
{
    mfr_error err = {0};
    mfr_ease *e = NULL;
    int rc = EXIT_OK;
    if (mfr_ease_fit(train, n_users, n_items, lambda, 0, &e, &err) != MFR_OK ||
        mfr_ease_ranking(e, train, test, k, out, &err) != MFR_OK)
        rc = runtime_error("EASE (lambda %g): %s", lambda, err.message);
    mfr_ease_destroy(e);
    return rc;
}
