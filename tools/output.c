/*
 * output.c — output helpers shared by the mfrec commands (see output.h).
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "output.h"

int utf8_char_len(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    const unsigned c = p[0];
    int n;
    unsigned min, v;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) n = 2, min = 0x80, v = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) n = 3, min = 0x800, v = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) n = 4, min = 0x10000, v = c & 0x07;
    else return 0;
    for (int k = 1; k < n; k++) {
        if ((p[k] & 0xc0) != 0x80) return 0; /* also stops at the NUL */
        v = v << 6 | (p[k] & 0x3fu);
    }
    return v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff) ? 0 : n;
}

void json_fstr(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        const int n = utf8_char_len((const char *)p);
        if (n == 0) { /* JSON text is UTF-8: a byte that is not (a path's) is U+FFFD */
            fputs("\\ufffd", f);
            p++;
            continue;
        }
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fwrite(p, 1, (size_t)n, f);
        p += n;
    }
    fputc('"', f);
}

void json_str(const char *s) { json_fstr(stdout, s); }

const char *num_exact(double x, char buf[static 32])
{
    if (!isfinite(x) || mfr_format_double(x, buf, 32) < 0) return "null";
    return buf;
}

void json_num(double x, int digits)
{
    char buf[32];
    if (digits >= JSON_EXACT) fputs(num_exact(x, buf), stdout);
    else if (isfinite(x)) printf("%.*g", digits, x);
    else fputs("null", stdout);
}

const char *table_num(double v, char buf[static 32])
{
    /* 1e6: "-999999.9999", 12 characters, the widest fixed value shown */
    snprintf(buf, 32, fabs(v) < 1e6 || !isfinite(v) ? "%.4f" : "%.4g", v);
    return buf;
}

double json_outer_edge(double e, bool low, int digits)
{
    char buf[40];
    snprintf(buf, sizeof buf, "%.*g", digits, e);
    const double d = strtod(buf, NULL);
    return low ? fmin(e, d) : fmax(e, d);
}

static const char *const ranker_names[N_RANKERS] = {"model", "popularity", "ease"};
static const char *const ranking_metrics[N_RANKING_METRICS] = {"precision", "recall", "ndcg", "coverage"};

/* A ranking's metrics in their JSON order (ranking_metrics). */
static void ranking_metric_values(const mfr_ranking *r, double v[N_RANKING_METRICS])
{
    v[0] = r->precision;
    v[1] = r->recall;
    v[2] = r->ndcg;
    v[3] = r->coverage;
}

void json_rankings(const mfr_ranking *const r[N_RANKERS])
{
    fputs("\"ranking\":{", stdout);
    for (int k = 0; k < N_RANKERS && r[k]; k++) {
        double v[N_RANKING_METRICS];
        ranking_metric_values(r[k], v);
        printf("%s\"%s\":{\"users\":%lld", k ? "," : "", ranker_names[k], (long long)r[k]->users);
        for (int m = 0; m < N_RANKING_METRICS; m++) {
            printf(",\"%s\":", ranking_metrics[m]);
            json_num(v[m], JSON_EXACT);
        }
        putchar('}');
    }
    putchar('}');
}

void ranking_values(const mfr_ranking *const r[N_RANKERS], double v[N_RANKERS * N_RANKING_METRICS])
{
    for (int k = 0; k < N_RANKERS; k++) {
        double *rv = v + k * N_RANKING_METRICS;
        ranking_metric_values(r[k], rv);
        if (r[k]->users == 0)
            for (int m = 0; m < N_RANKING_METRICS; m++) rv[m] = NAN;
    }
}

void json_ranking_summary(const double *v, int n_rankers)
{
    fputs("\"ranking\":{", stdout);
    for (int k = 0; k < n_rankers; k++) {
        printf("%s\"%s\":{", k ? "," : "", ranker_names[k]);
        for (int m = 0; m < N_RANKING_METRICS; m++) {
            printf("%s\"%s\":", m ? "," : "", ranking_metrics[m]);
            json_num(v[k * N_RANKING_METRICS + m], JSON_EXACT);
        }
        putchar('}');
    }
    putchar('}');
}

int mean_std(const double *x, int n, int stride, double *mean, double *std)
{
    double s = 0.0;
    int used = 0;
    for (int f = 0; f < n; f++) {
        if (isnan(x[(size_t)f * (size_t)stride])) continue;
        s += x[(size_t)f * (size_t)stride];
        used++;
    }
    *mean = used ? s / used : NAN;
    double q = 0.0;
    for (int f = 0; f < n; f++) {
        if (isnan(x[(size_t)f * (size_t)stride])) continue;
        const double d = x[(size_t)f * (size_t)stride] - *mean;
        q += d * d;
    }
    *std = used > 1 ? sqrt(q / (used - 1)) : used == n ? 0.0 : NAN;
    return used;
}

int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double quantile_sorted(const double *sorted, int64_t n, double q)
{
    double pos = q * (double)(n - 1);
    int64_t lo = (int64_t)floor(pos);
    if (lo >= n - 1) return sorted[n - 1];
    return sorted[lo] + (pos - (double)lo) * (sorted[lo + 1] - sorted[lo]);
}

double median_sorted(const double *sorted, int64_t n)
{
    return n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
}

const char *item_title(const mfr_dataset *ds, int32_t item, char *buf, size_t cap)
{
    const char *t = mfr_dataset_item_title(ds, item);
    if (*t) return t;
    /* "#ID" is how a user types it back (--movie, --rate) */
    snprintf(buf, cap, "#%lld (untitled)", (long long)mfr_dataset_item_id(ds, item));
    return buf;
}

void json_title(const mfr_dataset *ds, int32_t item)
{
    const char *t = mfr_dataset_item_title(ds, item);
    if (*t) json_str(t);
    else fputs("null", stdout);
}

const char *item_genres(const mfr_dataset *ds, int32_t item, const char *none, char *buf,
                        size_t size)
{
    uint32_t g = mfr_dataset_item_genres(ds, item);
    size_t len = 0;
    buf[0] = 0;
    for (int32_t b = 0; b < mfr_dataset_n_genres(ds) && b < 32; b++) {
        if (!(g >> b & 1u)) continue;
        int w = snprintf(buf + len, size - len, "%s%s", len ? "|" : "",
                         mfr_dataset_genre_name(ds, b));
        if (w < 0 || (size_t)w >= size - len) { /* a display cut at a whole genre */
            buf[len] = 0;
            break;
        }
        len += (size_t)w;
    }
    if (!len) snprintf(buf, size, "%s", none);
    return buf;
}

void tsv_field(struct json_log *t, const char *s)
{
    for (; *s; s++) jlog_printf(t, "%c", *s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s);
}

void tsv_genres(struct json_log *t, const mfr_dataset *ds, int32_t item)
{
    const uint32_t g = mfr_dataset_item_genres(ds, item);
    bool first = true;
    for (int32_t b = 0; b < mfr_dataset_n_genres(ds) && b < 32; b++) {
        if (!(g >> b & 1u)) continue;
        if (!first) jlog_printf(t, "|");
        tsv_field(t, mfr_dataset_genre_name(ds, b));
        first = false;
    }
}

/* How many of the n folds rank a user. */
static int count_ranked(const bool *ranked, int n)
{
    int n_ranked = 0;
    for (int f = 0; f < n; f++) n_ranked += ranked[f];
    return n_ranked;
}

int folds_ranked_note(const bool *ranked, int n, char *buf, size_t size)
{
    const int n_ranked = count_ranked(ranked, n);
    int len;
    buf[0] = '\0';
    if (n_ranked == n) return n_ranked;
    if (n_ranked == 0) len = snprintf(buf, size, "over no fold (");
    else len = snprintf(buf, size, "over the %d fold%s that rank a user (", n_ranked, n_ranked == 1 ? "" : "s");
    for (int f = 0, first = 1; f < n && len >= 0 && (size_t)len < size; f++) {
        if (ranked[f]) continue;
        len += snprintf(buf + len, size - (size_t)len, "%su%d", first ? "" : ", ", f + 1);
        first = 0;
    }
    if (len >= 0 && (size_t)len < size)
        snprintf(buf + len, size - (size_t)len, ": no test rating of %g or more)", (double)MFR_RANKING_RELEVANT);
    return n_ranked;
}

void json_ranked_folds(const bool *ranked, int n)
{
    if (count_ranked(ranked, n) == n) return;
    fputs(",\"ranked_folds\":[", stdout);
    for (int f = 0, first = 1; f < n; f++) {
        if (!ranked[f]) continue;
        printf("%s\"u%d\"", first ? "" : ",", f + 1);
        first = 0;
    }
    putchar(']');
}
