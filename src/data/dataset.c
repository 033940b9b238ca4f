/*
 * dataset.c — the public dataset entry points of mfrec.h: load options,
 * mfr_dataset_load (which works out the format, the files and the rating
 * range, consults the binary cache, and hands the parsing to one format
 * loader), mfr_dataset_read_ratings, destruction and the accessors.
 *
 * DESIGN
 *
 * Resolution. A load first turns (dir, options) into a directory, a rating
 * file name, a format and an accepted rating range, so that the format
 * loaders (movielens.c, movielens_dat.c, movielens_csv.c, delimited.c)
 * never guess: see resolve_source() and resolve_range().
 *
 * Cache. When the options allow it (see enum mfr_cache), the load builds a
 * key from the resolved options and the size and modification time of
 * every file the format reads, and tries the cache (dataset_cache.c)
 * before parsing; after a successful parse it writes the cache. The cache
 * never changes the result: a dataset read from it is field for field the
 * parsed one. Failing to write it is not an error.
 */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#ifdef __GLIBC__
#include <malloc.h> /* malloc_trim */
#endif
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "users_cache_priv.h"


void mfr_load_options_default(mfr_load_options *opt)
{
    if (!opt) return;
    memset(opt, 0, sizeof *opt);
    opt->min_rating = 1.0f;
    opt->max_rating = 5.0f;
    opt->format = MFR_FORMAT_AUTO;
    opt->header = MFR_HEADER_AUTO;
    opt->cache = MFR_CACHE_AUTO;
}

const char *mfr_format_name(int32_t format)
{
    switch (format) {
    case MFR_FORMAT_AUTO: return "auto";
    case MFR_FORMAT_ML100K: return "ml-100k";
    case MFR_FORMAT_ML1M: return "ml-1m";
    case MFR_FORMAT_CSV: return "csv";
    case MFR_FORMAT_DELIMITED: return "delimited";
    default: return "unknown";
    }
}

static int check_options(const mfr_load_options *opt, mfr_error *err)
{
    if (!isfinite(opt->min_rating) || !isfinite(opt->max_rating) ||
        opt->min_rating > opt->max_rating)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "min_rating..max_rating must be a finite range, got %g..%g",
                          (double)opt->min_rating, (double)opt->max_rating);
    if (opt->format < MFR_FORMAT_AUTO || opt->format > MFR_FORMAT_DELIMITED)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "format must be 0..%d (enum mfr_format), got %" PRId32,
                          MFR_FORMAT_DELIMITED, opt->format);
    if (opt->header < MFR_HEADER_AUTO || opt->header > MFR_HEADER_NO)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "header must be 0..2 (enum mfr_header), got %" PRId32, opt->header);
    if (opt->cache < MFR_CACHE_AUTO || opt->cache > MFR_CACHE_ALWAYS)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "cache must be 0..2 (enum mfr_cache), got %" PRId32, opt->cache);
    unsigned char c = (unsigned char)opt->sep;
    if (c && !mfr_separator_ok(opt->sep))
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "sep must be 0 (detect) or a space, tab or punctuation byte that cannot occur "
                          "in a number, got 0x%02X",
                          c);
    if (opt->ratings_file && !opt->ratings_file[0])
        return mfr_seterr(err, MFR_ERR_INVALID, "ratings_file must not be empty");
    if (opt->cache_path && !opt->cache_path[0])
        return mfr_seterr(err, MFR_ERR_INVALID, "cache_path must not be empty");
    return MFR_OK;
}

/* ------------------------------------------------------------------ */
/* Resolution                                                           */
/* ------------------------------------------------------------------ */

/* 1 when dir/name exists, 0 when not, -1 when its path cannot be made
 * (out of memory: not the same as a missing file). A symbolic link counts
 * even when broken or looping: the rating file is there, and reading it
 * says what is wrong (not "no rating file", nor the other layout's). */
static int exists_in(const char *dir, const char *name)
{
    char *p = mfr_path_join(dir, name);
    if (!p) return -1;
    struct stat st;
    int ok = lstat(p, &st) == 0;
    free(p);
    return ok;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* The format a rating file's name implies. */
static int32_t format_of_name(const char *name)
{
    const char *b = base_name(name);
    size_t n = strlen(b);
    if (!strcmp(b, "u.data")) return MFR_FORMAT_ML100K;
    /* ML-100K's own splits: u1.base .. u5.test, ua.base .. ub.test */
    if (n == 7 && b[0] == 'u' && ((b[1] >= '1' && b[1] <= '5') || b[1] == 'a' || b[1] == 'b') &&
        (!strcmp(b + 2, ".base") || !strcmp(b + 2, ".test")))
        return MFR_FORMAT_ML100K;
    if (!strcmp(b, "ratings.csv")) return MFR_FORMAT_CSV;
    if (n >= 4 && !strcmp(b + n - 4, ".dat")) return MFR_FORMAT_ML1M;
    return MFR_FORMAT_DELIMITED;
}

/* 1 when the first line of the rating file dir/name is a u.data line:
 * 3 or 4 tab-separated unsigned integers (user, item, whole-star rating,
 * timestamp); 0 when not or unreadable (the parser then says why), -1 when
 * out of memory. Opened as the parser opens it (mfr_open_regular): a FIFO
 * named as the rating file blocked fopen forever. */
static int u_data_line(const char *dir, const char *name)
{
    char *p = mfr_path_join(dir, name);
    if (!p) return -1;
    int fd;
    const int rc = mfr_open_regular(p, &fd, NULL);
    free(p);
    FILE *fp = rc == MFR_OK ? fdopen(fd, "rb") : NULL;
    if (!fp) {
        if (rc == MFR_OK) close(fd);
        return 0;
    }
    char b[128];
    size_t n = fread(b, 1, sizeof b, fp);
    fclose(fp);
    const char *nl = memchr(b, '\n', n);
    if (!nl && n == sizeof b) return 0; /* longer than any u.data line */
    if (nl) n = (size_t)(nl - b);
    if (n && b[n - 1] == '\r') n--;
    int fields = 1;
    bool digit = false;
    for (size_t k = 0; k < n; k++) {
        if (b[k] == '\t') {
            if (!digit) return 0;
            fields++;
            digit = false;
        } else if (b[k] >= '0' && b[k] <= '9') {
            digit = true;
        } else {
            return 0;
        }
    }
    return digit && (fields == 3 || fields == 4);
}

/* A rating file of u.data lines named other than ML-100K's names (a split
 * of u.data saved beside u.item, say) is read as delimited, its
 * directory's ML-100K metadata unread: said through the log, with the
 * flag that reads it (taking such a file for ML-100K would hold it to
 * ML-100K's whole stars and movie list, and refuse a TSV of half stars
 * that happens to lie beside a u.item). MFR_ERR_NOMEM or MFR_OK. */
static int note_metadata_beside(const char *dir, const char *name, const mfr_load_options *opt)
{
    if (!opt->log || (opt->sep && opt->sep != '\t') || opt->header == MFR_HEADER_YES) return MFR_OK;
    static const char *const meta[] = {"u.item", "u.user", "u.genre"};
    int there = 0;
    size_t k = 0;
    for (; k < sizeof meta / sizeof *meta && !there; k++)
        if ((there = exists_in(dir, meta[k])) < 0) return MFR_ERR_NOMEM;
    if (!there) return MFR_OK;
    int line = u_data_line(dir, name);
    if (line < 0) return MFR_ERR_NOMEM;
    if (line)
        mfr_log(opt->log, opt->log_user, MFR_LOG_INFO,
                "%s/%s is read as a delimited rating file, without the %s beside it (its name is not "
                "ML-100K's); --format ml-100k reads it as ML-100K, titles, genres and users included",
                dir, name, meta[k - 1]);
    return MFR_OK;
}

static const char *default_ratings_name(int32_t format)
{
    switch (format) {
    case MFR_FORMAT_ML100K: return "u.data";
    case MFR_FORMAT_ML1M: return "ratings.dat";
    case MFR_FORMAT_CSV: return "ratings.csv";
    default: return NULL;
    }
}

/*
 * Works out the directory (*dir_out, malloc'd), the rating file
 * (*name_out, malloc'd, relative to the directory or absolute) and the
 * format (opt->format, resolved in place) of a load of `path`.
 */
static int resolve_source(const char *path, mfr_load_options *opt, char **dir_out,
                          char **name_out, bool *named, mfr_error *err)
{
    *dir_out = *name_out = NULL;
    const char *name = opt->ratings_file;
    struct stat st;
    if (stat(path, &st) != 0)
        return mfr_seterr(err, MFR_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) { /* a FIFO or device: never read */
        const char *kind = S_ISFIFO(st.st_mode)                        ? "a FIFO"
                           : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                                                                        : "a special file";
        return mfr_seterr(err, MFR_ERR_IO,
                          "cannot read %s: it is %s, not a rating file or a directory", path, kind);
    }
    if (!name && S_ISREG(st.st_mode)) {
        /* `path` names the rating file; its directory holds the rest. */
        const char *slash = strrchr(path, '/');
        size_t dl = slash ? (size_t)(slash - path) : 1;
        if (slash == path) dl = 1; /* "/file": the root */
        *dir_out = mfr_malloc(dl + 1);
        if (!*dir_out) return mfr_nomem(err, "loading a dataset");
        memcpy(*dir_out, slash ? path : ".", dl);
        (*dir_out)[dl] = '\0';
        name = slash ? slash + 1 : path;
    } else {
        *dir_out = mfr_strdup(path);
        if (!*dir_out) return mfr_nomem(err, "loading a dataset");
    }

    if (opt->format == MFR_FORMAT_AUTO) {
        if (name) {
            opt->format = format_of_name(name);
            if (opt->format == MFR_FORMAT_DELIMITED && note_metadata_beside(*dir_out, name, opt) != MFR_OK)
                return mfr_nomem(err, "loading a dataset");
        } else {
            static const int32_t probe[] = {MFR_FORMAT_ML100K, MFR_FORMAT_ML1M, MFR_FORMAT_CSV};
            static const char *const layout[] = {"ML-100K", "ML-1M/10M", "ML-20M and later"};
            size_t first = 0;
            for (size_t k = 0; k < 3; k++) {
                int there = exists_in(*dir_out, default_ratings_name(probe[k]));
                if (there < 0) return mfr_nomem(err, "loading a dataset");
                if (!there) continue;
                /* two layouts in one directory: reading either silently
                 * could be the wrong one */
                if (opt->format != MFR_FORMAT_AUTO)
                    return mfr_seterr(err, MFR_ERR_INVALID,
                                      "%s holds two rating files, %s (%s) and %s (%s): name the "
                                      "format to read",
                                      path, default_ratings_name(probe[first]), layout[first],
                                      default_ratings_name(probe[k]), layout[k]);
                opt->format = probe[k];
                first = k;
            }
            if (opt->format == MFR_FORMAT_AUTO)
                return mfr_seterr(err, MFR_ERR_IO,
                                  "no rating file in %s: expected u.data (ML-100K), "
                                  "ratings.dat (ML-1M/10M) or ratings.csv (ML-20M and "
                                  "later); give the format and file for other layouts",
                                  path);
        }
    }
    *named = name != NULL;
    if (!name) name = default_ratings_name(opt->format);
    if (!name)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "the delimited format needs a rating file: set ratings_file or "
                          "pass the file itself instead of %s",
                          path);
    *name_out = mfr_strdup(name);
    return *name_out ? MFR_OK : mfr_nomem(err, "loading a dataset");
}

/* The rating file `name` (absolute, or relative to dir) as an absolute
 * path, symbolic links resolved when it can be; NULL when out of memory. */
static char *source_file(const char *dir, const char *name)
{
    char *joined = mfr_path_join(dir, name);
    if (!joined) return NULL;
    char *real = realpath(joined, NULL);
    if (!real) return joined;
    free(joined);
    return real;
}

/* The accepted range (opt) and reported scale (*lo, *hi) of a resolved load. */
static void resolve_range(const char *dir, mfr_load_options *opt, float *lo, float *hi)
{
    bool decide = (opt->min_rating == 1.0f && opt->max_rating == 5.0f) ||
                  (opt->min_rating == 0.0f && opt->max_rating == 0.0f);
    if (decide) {
        switch (opt->format) {
        case MFR_FORMAT_ML100K:
            opt->min_rating = 1.0f;
            break;
        case MFR_FORMAT_ML1M: /* ML-1M has users.dat and whole stars, ML-10M neither */
            opt->min_rating = exists_in(dir, "users.dat") ? 1.0f : 0.5f;
            break;
        case MFR_FORMAT_CSV:
            opt->min_rating = 0.5f;
            break;
        default: /* delimited: any finite rating; the scale is what was read */
            opt->min_rating = -FLT_MAX;
            opt->max_rating = FLT_MAX;
            break;
        }
        if (opt->format != MFR_FORMAT_DELIMITED) opt->max_rating = 5.0f;
    }
    *lo = opt->min_rating;
    *hi = opt->max_rating;
}

static const char *const *meta_files(int32_t format)
{
    static const char *const none[] = {NULL};
    switch (format) {
    case MFR_FORMAT_ML100K: return mfr_ml100k_files;
    case MFR_FORMAT_ML1M: return mfr_ml1m_files;
    case MFR_FORMAT_CSV: return mfr_csv_files;
    default: return none;
    }
}

/* ------------------------------------------------------------------ */
/* Loading                                                              */
/* ------------------------------------------------------------------ */

/* The format's loader: its rating file, then its metadata files. */
static int run_loader(struct mfr_loader *ld, mfr_error *err)
{
    switch (ld->opt.format) {
    case MFR_FORMAT_ML100K: return mfr_load_ml100k(ld, err);
    case MFR_FORMAT_ML1M: return mfr_load_ml1m(ld, err);
    case MFR_FORMAT_CSV: return mfr_load_csv(ld, err);
    default: return mfr_load_delimited(ld, err);
    }
}

/* Whether the reported scale of a load with options o is the ratings'
 * range (the delimited format with the default range) rather than o's. */
static bool scale_from_data(const mfr_load_options *o)
{
    return o->format == MFR_FORMAT_DELIMITED && o->min_rating == -FLT_MAX;
}

/* Parses the text of a resolved load into ds. */
static int parse_dataset(const char *dir, const char *name, const mfr_load_options *opt, const char *spill_dir,
                         mfr_dataset *ds, mfr_error *err)
{
    struct mfr_loader ld = {.dir = dir, .ratings_name = name, .opt = *opt, .spill_dir = spill_dir};
    int rc = run_loader(&ld, err);
    if (rc == MFR_OK) rc = mfr_loader_finish(&ld, ds, err);
    if (rc == MFR_OK) {
        ds->opt = ld.opt; /* with the separator and header the loader settled on */
        if (scale_from_data(&ds->opt)) {
            const mfr_ratings *r = ds->ratings;
            ds->scale_min = ds->scale_max = r->rating[0];
            for (int64_t k = 1; k < r->n; k++) {
                if (r->rating[k] < ds->scale_min) ds->scale_min = r->rating[k];
                if (r->rating[k] > ds->scale_max) ds->scale_max = r->rating[k];
            }
        }
    }
    mfr_loader_free(&ld);
    return rc;
}

/* The ratings of the cache just written replace ds's parsed arrays (the
 * same values, checked by the cache's load): the run then reads a
 * read-only mapping whose pages its passes release behind them instead of
 * keeping 20 bytes a rating on the heap. Anything amiss keeps the arrays. */
static void adopt_cache(const char *cache_path, const struct mfr_cache_key *key, mfr_dataset *ds)
{
    mfr_dataset *c = NULL;
    if (mfr_cache_load(cache_path, key, &c) != MFR_OK) return;
    if (c->ratings->n == ds->ratings->n && c->n_users == ds->n_users && c->n_items == ds->n_items &&
        c->fingerprint == ds->fingerprint) {
        mfr_ratings *r = ds->ratings;
        ds->ratings = c->ratings;
        c->ratings = r;
        ds->map = c->map, ds->map_len = c->map_len;
        c->map = NULL; /* ds's now; c's destruction frees the parsed arrays */
    }
    mfr_dataset_destroy(c);
#ifdef __GLIBC__
    /* the parsed arrays, freed, stayed in the heap as resident memory (24
     * MiB above --max-memory's estimate at 2M ratings): glibc hands them
     * back to the system only when asked */
    malloc_trim(0);
#endif
}

/* Whether the rating file `name` (a path, or a name in the data
 * directory) is named as one of cache_path's temporary files, beside it or
 * not: a false match only leaves the cache unwritten. */
static bool cache_would_remove(const char *cache_path, const char *name)
{
    const char *cs = strrchr(cache_path, '/'), *ns = strrchr(name, '/');
    return mfr_is_tmp_name(ns ? ns + 1 : name, cs ? cs + 1 : cache_path);
}

/* Writes the cache of a freshly parsed ds; a failure is not an error of
 * the load: it is recorded in ds->cache_state and logged as a warning
 * naming the path and the cause. */
static void write_cache(const char *cache_path, const struct mfr_cache_key *key,
                        const mfr_load_options *o, mfr_dataset *ds)
{
    mfr_error werr = {0};
    if (mfr_cache_write(cache_path, key, ds, &werr) == MFR_OK) {
        ds->cache_state = MFR_CACHE_STATE_WRITTEN;
        adopt_cache(cache_path, key, ds);
        return;
    }
    ds->cache_state = MFR_CACHE_STATE_WRITE_FAILED;
    mfr_log(o->log, o->log_user, MFR_LOG_WARN,
            "dataset cache not written (the load goes on; --data-cache never skips it): %s", werr.message);
}

int mfr_separator_ok(char sep)
{
    const unsigned char c = (unsigned char)sep;
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    return c == ' ' || c == '\t' || (c >= 0x21 && c <= 0x7e && !alnum && !strchr("\".-+", c));
}

/* A header that the load guessed (line 1's first field starts with a
 * letter, and the caller left the header to be detected) is said once
 * through o->log, naming the file and the line taken, unless its fields
 * are all known column names (userId,movieId,rating,timestamp): a first
 * rating with a typo in its user id ("x,2,5") is otherwise dropped without
 * a word. Read again here, from the file, so that a load from the cache
 * says it too. */
static void note_guessed_header(const char *dir, const char *name, const mfr_dataset *ds,
                                const mfr_load_options *o)
{
    if (!o->log || o->header != MFR_HEADER_AUTO || ds->opt.header != MFR_HEADER_YES) return;
    char *path = mfr_path_join(dir, name), line[4096];
    int fd;
    if (!path || mfr_open_regular(path, &fd, NULL) != MFR_OK) {
        free(path);
        return;
    }
    ssize_t got; /* the first line only, not the whole (large) file */
    while ((got = read(fd, line, sizeof line - 1)) < 0 && errno == EINTR) {}
    close(fd);
    const char *nl = got > 0 ? memchr(line, '\n', (size_t)got) : NULL;
    struct mfr_text_file f = {.path = path, .data = line, .size = got > 0 ? (size_t)(nl ? nl - line : got) : 0};
    line[f.size] = '\0';
    const char sep[2] = {ds->opt.sep ? ds->opt.sep : ',', '\0'};
    struct mfr_line_iter it = mfr_lines(&f);
    const char *s;
    size_t n;
    if (mfr_line_next(&it, &s, &n) && !mfr_header_names_columns(&f, sep)) {
        char b[40];
        mfr_log(o->log, o->log_user, MFR_LOG_INFO,
                "%s:1: line 1 '%s' is taken as a header, not a rating (its first field starts with "
                "a letter); --format delimited:SEP:noheader reads it as a rating, :header takes it "
                "as a header without this note",
                path, mfr_show(s, n, b));
    }
    free(path);
}

int mfr_dataset_load(const char *dir, const mfr_load_options *opt, mfr_dataset **out,
                     mfr_error *err)
{
    if (!out) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_dataset_load: out is NULL");
    *out = NULL;
    if (!dir) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_dataset_load: dir is NULL");
    if (!*dir) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_dataset_load: dir must not be empty");
    mfr_load_options o;
    mfr_load_options_default(&o);
    if (opt) o = *opt;
    int rc = check_options(&o, err);
    if (rc != MFR_OK) return rc;

    char *ddir = NULL, *name = NULL, *cache_path = NULL, *spill_dir = NULL;
    struct mfr_cache_key key = {0};
    mfr_dataset *ds = NULL;
    bool named = false;
    if ((rc = resolve_source(dir, &o, &ddir, &name, &named, err)) != MFR_OK) goto fail;
    float lo, hi;
    resolve_range(ddir, &o, &lo, &hi);

    bool use_cache = false;
    if (o.cache != MFR_CACHE_NEVER) {
        cache_path = o.cache_path ? mfr_strdup(o.cache_path) : mfr_path_join(ddir, MFR_CACHE_FILE);
        if (!cache_path) {
            rc = mfr_nomem(err, "loading a dataset");
            goto fail;
        }
        /* A rating file that cannot be stat'ed fails in the parser with a
         * proper message; the cache is simply not used then. */
        if (mfr_cache_key_build(ddir, name, meta_files(o.format), &o, &key, NULL) == MFR_OK)
            use_cache = o.cache == MFR_CACHE_ALWAYS || key.ratings_bytes >= MFR_CACHE_AUTO_BYTES;
    }
    if (use_cache) (void)mfr_cache_load(cache_path, &key, &ds); /* else ds stays NULL */
    if (!ds) {
        ds = mfr_calloc(1, sizeof *ds);
        if (!ds) {
            rc = mfr_nomem(err, "loading a dataset");
            goto fail;
        }
        ds->scale_min = lo;
        ds->scale_max = hi;
        /* A cache about to be written takes the parse's timestamps from its
         * own directory's disk (mfr_ratings_alloc_spilled), not from memory. */
        spill_dir = use_cache ? mfr_parent_dir(cache_path) : NULL;
        if ((rc = parse_dataset(ddir, name, &o, spill_dir, ds, err)) != MFR_OK) goto fail;
        if (use_cache && cache_would_remove(cache_path, name)) {
            /* the cache's write removes its stale temporary files by their
             * name alone: a rating file named as one went with them */
            ds->cache_state = MFR_CACHE_STATE_WRITE_FAILED;
            mfr_log(o.log, o.log_user, MFR_LOG_WARN,
                    "dataset cache not written: the rating file %s/%s has the name of a temporary file of "
                    "%s, which writing the cache would remove; rename the rating file to use the cache",
                    ddir, name, cache_path);
        } else if (use_cache) {
            write_cache(cache_path, &key, &o, ds);
        }
    }
    note_guessed_header(ddir, name, ds, &o);
    ds->opt.ratings_file = NULL; /* the caller's strings and callback are not kept */
    ds->opt.cache_path = NULL;
    ds->opt.log = NULL;
    ds->opt.log_user = NULL;
    ds->dir = realpath(ddir, NULL);
    if (!ds->dir) ds->dir = mfr_strdup(ddir);
    if (named && ds->dir) ds->file = source_file(ds->dir, name);
    if (!ds->dir || (named && !ds->file)) {
        rc = mfr_nomem(err, "loading a dataset");
        goto fail;
    }
    *out = ds;
    ds = NULL;
    rc = MFR_OK;
fail:
    mfr_dataset_destroy(ds);
    mfr_cache_key_free(&key);
    free(cache_path);
    free(spill_dir);
    free(ddir);
    free(name);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Further rating files                                                 */
/* ------------------------------------------------------------------ */

/* Whether line s[0..n) holds separator sep (one or two bytes). */
static bool line_has_sep(const char *s, size_t n, const char *sep)
{
    for (size_t k = 0; k < n; k++)
        if (s[k] == sep[0] && (!sep[1] || (k + 1 < n && s[k + 1] == sep[1]))) return true;
    return false;
}

/* The syntax of a rating file read through ds (see mfr_dataset_read_ratings):
 * its separator from line 1 (spaces ending it ignored) as a --data file's
 * is detected, whatever the dataset's format: the dataset's own separator
 * when the line has it, else u.data's tab, else the first of '::', ',',
 * ';', '|', space it holds; none is an error naming the file. A header is
 * detected (and its column names checked) as for --data, except in the
 * '::' syntax of ratings.dat, which has none. */
static int read_syntax(const mfr_dataset *ds, const struct mfr_text_file *f, struct mfr_rating_syntax *out,
                       mfr_error *err)
{
    struct mfr_rating_syntax syn = {0};
    char own[3] = "";
    switch (ds->opt.format) {
    case MFR_FORMAT_ML1M: memcpy(own, "::", 3); break;
    case MFR_FORMAT_CSV: own[0] = ','; break;
    case MFR_FORMAT_DELIMITED: own[0] = ds->opt.sep; break;
    default: break;
    }
    struct mfr_line_iter it = mfr_lines(f);
    const char *s = "";
    size_t n = 0;
    mfr_line_next(&it, &s, &n);
    while (n && s[n - 1] == ' ') n--;
    static const char *const others[] = {"\t", "::", ",", ";", "|", " "};
    if (own[0] && line_has_sep(s, n, own)) {
        memcpy(syn.sep, own, sizeof own);
    } else {
        for (size_t k = 0; k < sizeof others / sizeof *others && !syn.sep[0]; k++)
            if (line_has_sep(s, n, others[k])) memcpy(syn.sep, others[k], strlen(others[k]) + 1);
    }
    if (!syn.sep[0]) {
        if (n == 0) { /* an empty file: the parse says so */
            memcpy(syn.sep, "\t", 2);
            *out = syn;
            return MFR_OK;
        }
        const int rc = mfr_parse_nul(err, f->path, 1, s, n); /* a binary file, named as one */
        if (rc != MFR_OK) return rc;
        return mfr_parse_err(err, f->path, 1,
                             "cannot detect the separator (none of tab '::' ',' ';' '|' space "
                             "occurs)");
    }
    const bool dat = !strcmp(syn.sep, "::"), own_sep = !strcmp(syn.sep, own);
    /* u.data (a tab that is not the dataset's own) and .dat fields are
     * taken as they are; the other separators' fields are unquoted (a number
     * quoted whole), and trimmed of spaces unless the separator is one */
    syn.unquote = !dat && (syn.sep[0] != '\t' || (own_sep && ds->opt.format != MFR_FORMAT_ML100K));
    syn.trim = syn.unquote && syn.sep[0] != ' ';
    syn.header = !dat && mfr_first_line_is_header(f, syn.sep);
    static const char *const rating_columns[] = {"user", "movie", "rating", "timestamp"};
    if (syn.header) {
        int rc = mfr_check_header(f, syn.sep, rating_columns, 4, err);
        if (rc == MFR_OK) rc = mfr_check_header_width(f, &syn, err);
        if (rc != MFR_OK) return rc;
    }
    *out = syn;
    return MFR_OK;
}

/* Drops the ratings that the parse marked unknown (-1), keeping the
 * others' order; counts them into *lo. orig[j] gets the index that kept
 * rating j had before (its line less the header's), for messages. */
static void drop_unknown(mfr_ratings *r, int64_t *orig, mfr_unknown_ratings *lo)
{
    int64_t w = 0;
    for (int64_t k = 0; k < r->n; k++) {
        const bool no_user = r->user[k] < 0, no_item = r->item[k] < 0;
        if (no_user || no_item) {
            if (!lo->n) lo->first_line = k; /* made a line below */
            lo->n++;
            lo->n_user += no_user;
            lo->n_item += no_item;
            continue;
        }
        r->user[w] = r->user[k];
        r->item[w] = r->item[k];
        r->rating[w] = r->rating[k];
        if (r->ts) r->ts[w] = r->ts[k];
        orig[w++] = k;
    }
    r->n = w;
}

/* mfr_dataset_read_ratings, and with lo (not NULL) its lenient twin:
 * ratings of unknown users or items left out and counted into *lo. */
static int read_ratings(const mfr_dataset *ds, const char *path, mfr_ratings **out,
                        mfr_unknown_ratings *lo, int64_t *line_of_first, mfr_error *err)
{
    struct mfr_text_file f;
    mfr_ratings *r = NULL;
    int64_t *orig = NULL;
    int rc = mfr_text_file_read(NULL, path, false, &f, err);
    if (rc != MFR_OK) goto done;
    struct mfr_rating_syntax syn;
    if ((rc = read_syntax(ds, &f, &syn, err)) != MFR_OK) goto done;
    syn.step = mfr_rating_step(&ds->opt);
    syn.fields = mfr_rating_fields(&f, &syn);
    struct mfr_rating_ids ids = {.ds = ds, .keep_unknown = lo != NULL};
    if ((rc = mfr_parse_ratings(&f, &syn, &ids, ds->opt.min_rating, ds->opt.max_rating, &r,
                                err)) != MFR_OK)
        goto done;
    const int64_t first_line = 1 + syn.header;
    if (line_of_first) *line_of_first = first_line;
    if (lo) {
        if (!(orig = malloc((size_t)r->n * sizeof *orig))) {
            rc = mfr_nomem(err, "reading a rating file");
            goto done;
        }
        drop_unknown(r, orig, lo);
        if (lo->n) lo->first_line += first_line;
        if (r->n == 0) {
            rc = lo->n == 1 ? mfr_parse_err(err, f.path, lo->first_line,
                                            "the file's one rating names a user or an item that "
                                            "the dataset does not have")
                            : mfr_parse_err(err, f.path, lo->first_line,
                                            "each of the file's %" PRId64 " ratings names a user or "
                                            "an item that the dataset does not have (this is the first)",
                                            lo->n);
            goto done;
        }
    }
    int64_t first, second;
    if (mfr_find_duplicate(r, ds->n_users, ds->n_items, &first, &second) != MFR_OK) {
        rc = mfr_nomem(err, "checking for duplicate ratings");
        goto done;
    }
    if (second >= 0) {
        rc = mfr_duplicate_err(err, f.path, (orig ? orig[second] : second) + first_line,
                               ds->user_ids[r->user[second]], ds->item_ids[r->item[second]],
                               (orig ? orig[first] : first) + first_line);
        goto done;
    }
    *out = r;
    r = NULL;
done:
    free(orig);
    mfr_ratings_destroy(r);
    mfr_text_file_free(&f);
    return rc;
}

int mfr_dataset_read_ratings(const mfr_dataset *ds, const char *path, mfr_ratings **out,
                             mfr_error *err)
{
    if (!out)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_dataset_read_ratings: out is NULL");
    *out = NULL;
    if (!ds || !path)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "mfr_dataset_read_ratings: dataset and path must not be NULL");
    return read_ratings(ds, path, out, NULL, NULL, err);
}

int mfr_dataset_read_known_ratings(const mfr_dataset *ds, const char *path, mfr_ratings **out,
                                   mfr_unknown_ratings *left_out, mfr_error *err)
{
    if (!out || !left_out)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "mfr_dataset_read_known_ratings: out and left_out must not be NULL");
    *out = NULL;
    *left_out = (mfr_unknown_ratings){0};
    if (!ds || !path)
        return mfr_seterr(err, MFR_ERR_INVALID,
                          "mfr_dataset_read_known_ratings: dataset and path must not be NULL");
    return read_ratings(ds, path, out, left_out, NULL, err);
}

int mfr_dataset_read_ratings_at(const mfr_dataset *ds, const char *path, mfr_ratings **out,
                                int64_t *first_line, mfr_error *err)
{
    *out = NULL;
    return read_ratings(ds, path, out, NULL, first_line, err);
}

/* ------------------------------------------------------------------ */
/* Destruction and accessors                                            */
/* ------------------------------------------------------------------ */

void mfr_dataset_destroy(mfr_dataset *ds)
{
    if (!ds) return;
    free(ds->dir);
    free(ds->file);
    free(ds->user_ids);
    free(ds->item_ids);
    mfr_ratings_destroy(ds->ratings);
    if (ds->items) {
        for (int32_t i = 0; i < ds->n_items; i++) {
            free(ds->items[i].title);
            free(ds->items[i].date);
        }
        free(ds->items);
    }
    free(ds->users);
    mfr_free_strings(ds->genre_names, ds->n_genres);
    mfr_free_strings(ds->occupations, ds->n_occupations);
    if (ds->map) {
        mfr_map_observe(NULL, ds->map, 0);
        munmap(ds->map, ds->map_len);
    }
    free(ds);
}

/* Below this a mapped cache stays resident: a few MiB of peak memory,
 * against the madvise itself (at 2 threads a TLB shootdown to the other
 * CPU: 0.15-0.23 ms for ML-100K's 2 MiB, most of what the release could
 * save) and the faults of any later pass over the ratings. */
#define RELEASE_MIN_BYTES ((size_t)64 << 20)

void mfr_dataset_release_pages(const mfr_dataset *ds)
{
    /* a private, never written file mapping: MADV_DONTNEED only unmaps
     * the pages; the next access faults them in from the file again */
    if (ds && ds->map && ds->map_len >= RELEASE_MIN_BYTES) (void)madvise(ds->map, ds->map_len, MADV_DONTNEED);
}

size_t mfr_dataset_resident_map_bytes(const mfr_dataset *ds)
{
    return ds && ds->map && ds->map_len < RELEASE_MIN_BYTES ? ds->map_len : 0;
}

bool mfr_dataset_from_cache(const mfr_dataset *ds)
{
    return ds && ds->cache_state == MFR_CACHE_STATE_READ;
}

static bool has_user(const mfr_dataset *ds, int32_t u)
{
    return ds && u >= 0 && u < ds->n_users;
}
static bool has_item(const mfr_dataset *ds, int32_t i)
{
    return ds && i >= 0 && i < ds->n_items;
}

/* A NULL dataset or an index out of range reads as a value no dataset has
 * (-1, NULL, NaN), never as a plausible one; see include/mfrec.h. */
int32_t mfr_dataset_n_users(const mfr_dataset *ds) { return ds ? ds->n_users : -1; }
int32_t mfr_dataset_n_items(const mfr_dataset *ds) { return ds ? ds->n_items : -1; }
const mfr_ratings *mfr_dataset_ratings(const mfr_dataset *ds)
{
    return ds ? ds->ratings : NULL;
}
const char *mfr_dataset_dir(const mfr_dataset *ds) { return ds ? (ds->dir ? ds->dir : "") : NULL; }
uint64_t mfr_dataset_fingerprint(const mfr_dataset *ds) { return ds ? ds->fingerprint : 0; }
static bool same_file(const char *path, const struct stat *st)
{
    struct stat o;
    return path && stat(path, &o) == 0 && o.st_dev == st->st_dev && o.st_ino == st->st_ino;
}

bool mfr_dataset_reads_file(const mfr_dataset *ds, const char *path)
{
    struct stat st;
    if (!ds || !ds->dir || !path || stat(path, &st) != 0) return false;
    bool hit = false;
    if (ds->file) {
        hit = same_file(ds->file, &st);
    } else if (default_ratings_name(ds->opt.format)) {
        char *p = mfr_path_join(ds->dir, default_ratings_name(ds->opt.format));
        hit = same_file(p, &st);
        free(p);
    }
    for (const char *const *f = meta_files(ds->opt.format); !hit && *f; f++) {
        char *p = mfr_path_join(ds->dir, *f);
        hit = same_file(p, &st);
        free(p);
    }
    return hit;
}

int32_t mfr_dataset_format(const mfr_dataset *ds)
{
    return ds ? ds->opt.format : -1;
}

void mfr_dataset_rating_range(const mfr_dataset *ds, float *min_rating, float *max_rating)
{
    if (min_rating) *min_rating = ds ? ds->scale_min : NAN;
    if (max_rating) *max_rating = ds ? ds->scale_max : NAN;
}

int64_t mfr_dataset_user_id(const mfr_dataset *ds, int32_t u)
{
    return has_user(ds, u) ? ds->user_ids[u] : -1;
}

int64_t mfr_dataset_item_id(const mfr_dataset *ds, int32_t i)
{
    return has_item(ds, i) ? ds->item_ids[i] : -1;
}

int32_t mfr_dataset_user_index(const mfr_dataset *ds, int64_t raw_id)
{
    return ds ? mfr_find_id(ds->user_ids, ds->n_users, raw_id) : MFR_INDEX_INVALID;
}

int32_t mfr_dataset_item_index(const mfr_dataset *ds, int64_t raw_id)
{
    return ds ? mfr_find_id(ds->item_ids, ds->n_items, raw_id) : MFR_INDEX_INVALID;
}

const char *mfr_dataset_item_title(const mfr_dataset *ds, int32_t i)
{
    if (!has_item(ds, i)) return NULL;
    return ds->items[i].title ? ds->items[i].title : "";
}

const char *mfr_dataset_item_date(const mfr_dataset *ds, int32_t i)
{
    if (!has_item(ds, i)) return NULL;
    return ds->items[i].date ? ds->items[i].date : "";
}

int32_t mfr_dataset_item_year(const mfr_dataset *ds, int32_t i)
{
    return has_item(ds, i) ? ds->items[i].year : -1;
}

uint32_t mfr_dataset_item_genres(const mfr_dataset *ds, int32_t i)
{
    return has_item(ds, i) ? ds->items[i].genres : 0;
}

int32_t mfr_dataset_n_genres(const mfr_dataset *ds) { return ds ? ds->n_genres : -1; }

const char *mfr_dataset_genre_name(const mfr_dataset *ds, int32_t g)
{
    if (!ds || g < 0 || g >= ds->n_genres) return NULL;
    return ds->genre_names[g] ? ds->genre_names[g] : "";
}

int32_t mfr_dataset_user_age(const mfr_dataset *ds, int32_t u)
{
    return has_user(ds, u) ? ds->users[u].age : -1;
}

char mfr_dataset_user_sex(const mfr_dataset *ds, int32_t u)
{
    return has_user(ds, u) ? ds->users[u].sex : '\0';
}

const char *mfr_dataset_user_occupation(const mfr_dataset *ds, int32_t u)
{
    if (!has_user(ds, u)) return NULL;
    int32_t o = ds->users[u].occupation;
    return o >= 0 && o < ds->n_occupations && ds->occupations[o] ? ds->occupations[o] : "";
}

const char *mfr_dataset_user_zip(const mfr_dataset *ds, int32_t u)
{
    return has_user(ds, u) ? ds->users[u].zip : NULL;
}

/* ------------------------------------------------------------------ */
/* The load's identity (the user-ordered cache, users_cache_priv.h)      */
/* ------------------------------------------------------------------ */

void mfr_load_id_free(struct mfr_load_id *id)
{
    free(id->cache_path);
    free(id->dir);
    free(id->file);
    mfr_cache_key_free(&id->key);
    memset(id, 0, sizeof *id);
}

void mfr_load_text_free(struct mfr_load_text *t)
{
    mfr_loader_free(&t->ld);
    free(t->dir);
    free(t->name);
    memset(t, 0, sizeof *t);
}

/* mfr_dataset_load's resolution and loader, the rating file left unparsed. */
int mfr_dataset_load_text(const char *dir, const mfr_load_options *opt, bool meta, struct mfr_load_text *t,
                          mfr_error *err)
{
    memset(t, 0, sizeof *t);
    mfr_load_options o;
    mfr_load_options_default(&o);
    if (opt) o = *opt;
    int rc = check_options(&o, err);
    bool named;
    if (rc == MFR_OK) rc = resolve_source(dir, &o, &t->dir, &t->name, &named, err);
    if (rc != MFR_OK) {
        mfr_load_text_free(t);
        return rc;
    }
    resolve_range(t->dir, &o, &t->scale_min, &t->scale_max);
    t->ld = (struct mfr_loader){.dir = t->dir, .ratings_name = t->name, .opt = o, .ratings_elsewhere = true};
    /* the rating file's syntax first: its errors are every rank's */
    struct mfr_loader *ld = &t->ld;
    switch (o.format) {
    case MFR_FORMAT_ML100K: rc = mfr_loader_read_ratings(ld, "\t", MFR_HEADER_NO, err); break;
    case MFR_FORMAT_ML1M: rc = mfr_loader_read_ratings(ld, "::", MFR_HEADER_NO, err); break;
    case MFR_FORMAT_CSV: rc = mfr_loader_read_ratings(ld, ",", MFR_HEADER_AUTO, err); break;
    default: rc = mfr_load_delimited(ld, err); break;
    }
    if (rc != MFR_OK) {
        mfr_load_text_free(t);
        return rc;
    }
    t->scale_from_data = scale_from_data(&ld->opt);
    if (meta) t->meta_rc = run_loader(ld, &t->meta_err); /* the syntax is settled: the metadata files */
    return MFR_OK;
}

/* The resolution and key of mfr_dataset_load, step for step. */
int mfr_dataset_load_id(const char *dir, const mfr_load_options *opt, struct mfr_load_id *id, mfr_error *err)
{
    memset(id, 0, sizeof *id);
    mfr_load_options o;
    mfr_load_options_default(&o);
    if (opt) o = *opt;
    int rc = check_options(&o, err);
    if (rc != MFR_OK) return rc;
    if (o.cache == MFR_CACHE_NEVER)
        return mfr_seterr(err, MFR_ERR_UNSUPPORTED, "the dataset cache is off (--data-cache never)");
    char *ddir = NULL, *name = NULL;
    bool named = false;
    if ((rc = resolve_source(dir, &o, &ddir, &name, &named, err)) == MFR_OK) {
        float lo, hi;
        resolve_range(ddir, &o, &lo, &hi);
        id->cache_path = o.cache_path ? mfr_strdup(o.cache_path) : mfr_path_join(ddir, MFR_CACHE_FILE);
        id->dir = realpath(ddir, NULL);
        if (!id->dir) id->dir = mfr_strdup(ddir);
        if (named && id->dir) id->file = source_file(id->dir, name);
        if (!id->cache_path || !id->dir || (named && !id->file))
            rc = mfr_nomem(err, "resolving a dataset");
        else
            rc = mfr_cache_key_build(ddir, name, meta_files(o.format), &o, &id->key, err);
    }
    free(ddir);
    free(name);
    if (rc != MFR_OK) mfr_load_id_free(id);
    return rc;
}
