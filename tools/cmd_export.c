/*
 * cmd_export.c — `mfrec export`: a trained model's embeddings for other
 * tools. As NumPy arrays (U.npy, V.npy, float32, row = dense index, plus
 * the raw ids of the rows as text) for notebooks, and as vectors.tsv +
 * metadata.tsv for the TensorFlow Embedding Projector
 * (projector.tensorflow.org: "Load", vectors then metadata).
 *
 * Every file is written atomically, so an interrupted export never leaves
 * a half-written file behind under the final name. Floats are printed with
 * %.9g, which round-trips every float32, in the C locale.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "movie_list.h"
#include "output.h"

static const char export_help[] =
    "Usage: mfrec export --model MODEL [--data DIR] [--as npy|tsv|both] --out OUTDIR\n"
    "\n"
    "Writes a model's embeddings into OUTDIR (created if missing, in a\n"
    "directory that exists; a lone OUTDIR argument is accepted too).\n"
    "Output formats (--as):\n"
    "  npy   U.npy (users x k) and V.npy (movies x k), float32, row r = dense\n"
    "        index r; user_ids.txt and item_ids.txt give the raw id of each row;\n"
    "        with a model trained with --bias also user_bias.npy and\n"
    "        item_bias.npy (n x 1); with --implicit also Y.npy (movies x k),\n"
    "        the implicit factors (U.npy then holds the effective user vectors\n"
    "        P_u + |R(u)|^-1/2 sum of Y_j that predictions use)\n"
    "  tsv   vectors.tsv (one movie per line, k tab-separated values) and\n"
    "        metadata.tsv (header movie, title, genres, ratings; movie = its\n"
    "        raw id; title empty for a movie without one, which other\n"
    "        outputs show as #ID (untitled); genres joined with '|';\n"
    "        ratings = the movie's training ratings, the model's split, as\n"
    "        in every list), ready for the TensorFlow Embedding Projector;\n"
    "        fields are split on tabs only, never quoted (a tab or line\n"
    "        break in a title becomes a space): read them with quoting\n"
    "        off (Python csv.QUOTE_NONE, pandas quoting=3), or a '\"' in a\n"
    "        title is taken for a quote\n"
    "  both  all of the above (default)\n"
    "\n";

static const char export_help_end[] =
    "\n"
    "An npy export removes the arrays of that list that an earlier export left\n"
    "in OUTDIR and this model does not have (user_bias.npy, item_bias.npy,\n"
    "Y.npy), so that the directory holds one model; it says which. Only an\n"
    "array such as an export writes is removed (2-D float32; one column for\n"
    "a bias): another file of that name (another NumPy array, a link, a\n"
    "pipe) and one of the run's inputs (the model file, the data) make the\n"
    "export refuse, OUTDIR left as it was. An export of one format (--as npy or\n"
    "tsv) names the other format's files an earlier export left there, which\n"
    "it does not rewrite (a file of such a name that is one of the run's\n"
    "inputs, the data or the model, is none; an export never writes over one).\n"
    "The dataset must be the one the model was trained on (its fingerprint is\n"
    "checked).\n"
    "Exit status: 0 ok, 1 runtime error, 2 usage error.\n";

/* Writes a text buffer to dir/name atomically (mode 0666 less the umask,
 * as write_file_atomic gives any new file). */
static int write_text(const char *dir, const char *name, struct json_log *t)
{
    char *path = path_join(dir, name);
    int rc = path ? jlog_write(path, t, NULL) : runtime_error("out of memory");
    free(path);
    free(t->buf);
    memset(t, 0, sizeof *t);
    return rc;
}

/* A text file written in pieces through a temporary name in its directory,
 * renamed into place when complete (as write_file_atomic, without the
 * whole text in memory: vectors.tsv of 200k movies x 256 is 600 MB). */
struct text_stream {
    FILE *f;
    char *path, *tmp;
    bool ok;
    int e;
};

/* Text held before it goes to the file. */
#define TEXT_PIECE ((size_t)1 << 20)

static int text_open(struct text_stream *w, const char *dir, const char *name)
{
    *w = (struct text_stream){.ok = true};
    if (!(w->path = path_join(dir, name))) return runtime_error("out of memory");
    struct stat st; /* as write_file_atomic: replace regular files only */
    if (lstat(w->path, &st) == 0 && !S_ISREG(st.st_mode)) {
        int rc = runtime_error("%s is not a regular file; not replacing it", w->path);
        free(w->path);
        return rc;
    }
    int fd = tmp_file_create(w->path, &w->tmp);
    if (fd < 0) {
        int rc = errno == ENOMEM && !w->tmp ? runtime_error("out of memory")
                                            : runtime_error("cannot create %s: %s", w->path, strerror(errno));
        free(w->path);
        return rc;
    }
    if (!(w->f = fdopen(fd, "w"))) {
        int e = errno;
        close(fd);
        unlink(w->tmp);
        signal_cleanup_file(NULL);
        int rc = runtime_error("cannot write %s: %s", w->path, strerror(e));
        free(w->tmp), free(w->path);
        return rc;
    }
    return EXIT_OK;
}

/* Appends t's text to the file and empties t (its buffer is kept). */
static void text_put(struct text_stream *w, struct json_log *t)
{
    if (w->ok && t->len && fwrite(t->buf, 1, t->len, w->f) != t->len) w->ok = false, w->e = errno;
    t->len = 0;
}

/* Completes the file and gives it its name, or removes it after a failed
 * write. */
static int text_close(struct text_stream *w)
{
    bool ok = w->ok;
    int e = w->e;
    if (ok && (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0)) ok = false, e = errno;
    if (fclose(w->f) != 0 && ok) ok = false, e = errno;
    if (ok && rename(w->tmp, w->path) != 0) ok = false, e = errno;
    if (!ok) unlink(w->tmp);
    signal_cleanup_file(NULL);
    /* a short write that set no errno is still named */
    int rc = ok ? EXIT_OK : runtime_error("cannot write %s: %s", w->path, strerror(e ? e : EIO));
    free(w->tmp), free(w->path);
    return rc;
}

/* Writes a rows x cols float32 array to dir/name. */
static int write_npy(const char *dir, const char *name, int64_t rows, int64_t cols, const float *data)
{
    mfr_error err = {0};
    char *path = path_join(dir, name);
    if (!path) return runtime_error("out of memory");
    int rc = mfr_npy_write_f32(path, rows, cols, data, &err) == MFR_OK ? EXIT_OK : lib_error(&err);
    free(path);
    return rc;
}

/* Copies the user (items false) or item embeddings into a rows x k array. */
static float *factor_matrix(const mfr_model *m, bool items)
{
    int32_t n = items ? mfr_model_n_items(m) : mfr_model_n_users(m), k = mfr_model_k(m);
    float *a = malloc((size_t)n * (size_t)k * sizeof *a);
    if (!a) return NULL;
    for (int32_t r = 0; r < n; r++) {
        float *row = a + (size_t)r * (size_t)k;
        if (items) mfr_model_item_vector(m, r, row, NULL);
        else mfr_model_user_vector(m, r, row, NULL);
    }
    return a;
}

/* The files are written into `dir` (the staging directory); what was
 * written is said into `say` under the name `shown` (the final directory),
 * printed only once the whole set is in place. */
/* The arrays an npy export writes for some models only: in OUT, one left
 * by an earlier export of another model would sit beside this model's
 * U.npy and V.npy as if it were its. */
static const char *const npy_optional[] = {"user_bias.npy", "item_bias.npy", "Y.npy"};

static bool regular_file_at(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;
    return (size_t)snprintf(path, sizeof path, "%s/%s", dir, name) < sizeof path && lstat(path, &st) == 0 &&
           S_ISREG(st.st_mode);
}

/* stale[k]: something named npy_optional[k] is in out (of any type) but
 * this export (staged in `staged`) does not write it. */
static void find_stale(const char *staged, const char *out, bool *stale)
{
    for (size_t k = 0; k < sizeof npy_optional / sizeof *npy_optional; k++) {
        char path[4096];
        struct stat st;
        stale[k] = !regular_file_at(staged, npy_optional[k]) &&
                   (size_t)snprintf(path, sizeof path, "%s/%s", out, npy_optional[k]) < sizeof path &&
                   lstat(path, &st) == 0;
    }
}

/* Whether the regular file at path is an array such as an export writes
 * under that name: 2-D little-endian float32 (mfr_npy_read_f32's checks),
 * one column for a bias. A NumPy file of the user's (another dtype or
 * shape) is not one. */
static bool is_export_array(const char *path, const char *name)
{
    int64_t rows = 0, cols = 0;
    float *none = NULL;
    mfr_error err = {0};
    bool ok = mfr_npy_read_f32_rows(path, 0, 0, &rows, &cols, &none, &err) == MFR_OK && rows >= 1 && cols >= 1 &&
              (strstr(name, "_bias") == NULL || cols == 1);
    mfr_free(none);
    return ok;
}

/* Before anything moves: every stale file may be removed: a NumPy array
 * (what an earlier export wrote; a file of the user's that merely has the
 * name, a link or a pipe is refused, not removed), never one of the run's
 * inputs (such as the model itself saved as OUT/Y.npy). */
static int check_stale(const char *out, const bool *stale)
{
    for (size_t k = 0; k < sizeof npy_optional / sizeof *npy_optional; k++) {
        if (!stale[k]) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", out, npy_optional[k]);
        char why[64];
        snprintf(why, sizeof why, " (to be removed: this model has no %s)", npy_optional[k]);
        int rc = io_removable("--out", path, why);
        if (rc != EXIT_OK) return rc;
        if (!regular_file_at(out, npy_optional[k]) || !is_export_array(path, npy_optional[k]))
            return runtime_error("%s is in the way: this model has no %s, and the file there is not a "
                                 "NumPy array an earlier export wrote (not removing it; move it away or "
                                 "export into another directory)",
                                 path, npy_optional[k]);
    }
    return EXIT_OK;
}

/* The stale files go with the commit (stage_retire): removed only when
 * the new set moves in, and said in the report printed after that. */
static int retire_stale(struct stage *st, const char *out, const bool *stale, struct json_log *say)
{
    for (size_t k = 0; k < sizeof npy_optional / sizeof *npy_optional; k++) {
        if (!stale[k]) continue;
        int rc = stage_retire(st, npy_optional[k]);
        if (rc != EXIT_OK) return rc;
        jlog_printf(say, "removed %s/%s: an earlier export's, which this model does not have\n", out,
                    npy_optional[k]);
    }
    return EXIT_OK;
}

/* A one-format export leaves the other format's files of an earlier
 * export as they were; they may be another model's: said, not removed
 * (they are complete files of their own export). A file of that name that
 * is one of the run's inputs (the data, vectors.tsv say, or the model) is
 * no earlier export: not named. */
static void note_other_format(const char *out, bool npy)
{
    static const char *const npy_files[] = {"U.npy", "V.npy", "user_ids.txt", "item_ids.txt",
                                            "user_bias.npy", "item_bias.npy", "Y.npy"};
    static const char *const tsv_files[] = {"vectors.tsv", "metadata.tsv"};
    const char *const *other = npy ? tsv_files : npy_files;
    const size_t n = npy ? sizeof tsv_files / sizeof *tsv_files : sizeof npy_files / sizeof *npy_files;
    char list[256] = "";
    size_t used = 0;
    for (size_t k = 0; k < n; k++) {
        char path[4096];
        if (!regular_file_at(out, other[k]) ||
            (size_t)snprintf(path, sizeof path, "%s/%s", out, other[k]) >= sizeof path || io_is_input(path))
            continue;
        int w = snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", other[k]);
        if (w > 0 && (size_t)w < sizeof list - used) used += (size_t)w;
    }
    if (used)
        fprintf(stderr,
                "%s: note: %s also holds %s from an earlier export, which this --as %s export did not rewrite: "
                "they may be another model's (--as both writes every file)\n",
                g_cmd, printable(out), list, npy ? "npy" : "tsv");
}

static int export_npy(const mfr_model *m, const char *dir, const char *shown, struct json_log *say)
{
    const int32_t nu = mfr_model_n_users(m), ni = mfr_model_n_items(m), k = mfr_model_k(m);
    float *U = factor_matrix(m, false), *V = factor_matrix(m, true);
    float *bu = NULL, *bi = NULL;
    struct json_log t = {0};
    int rc = EXIT_OK;
    if (!U || !V) { rc = runtime_error("out of memory"); goto done; }
    if ((rc = write_npy(dir, "U.npy", nu, k, U)) != EXIT_OK) goto done;
    if ((rc = write_npy(dir, "V.npy", ni, k, V)) != EXIT_OK) goto done;
    for (int32_t u = 0; u < nu; u++) jlog_printf(&t, "%lld\n", (long long)mfr_model_user_id(m, u));
    if ((rc = write_text(dir, "user_ids.txt", &t)) != EXIT_OK) goto done;
    for (int32_t i = 0; i < ni; i++) jlog_printf(&t, "%lld\n", (long long)mfr_model_item_id(m, i));
    if ((rc = write_text(dir, "item_ids.txt", &t)) != EXIT_OK) goto done;
    jlog_printf(say, "wrote %s/U.npy (%d x %d), %s/V.npy (%d x %d), %s/user_ids.txt, %s/item_ids.txt\n",
                shown, (int)nu, (int)k, shown, (int)ni, (int)k, shown, shown);
    mfr_config cfg;
    mfr_model_config(m, &cfg, NULL);
    if (cfg.bias) {
        bu = malloc((size_t)nu * sizeof *bu);
        bi = malloc((size_t)ni * sizeof *bi);
        if (!bu || !bi) { rc = runtime_error("out of memory"); goto done; }
        for (int32_t u = 0; u < nu; u++) bu[u] = mfr_model_user_bias(m, u);
        for (int32_t i = 0; i < ni; i++) bi[i] = mfr_model_item_bias(m, i);
        if ((rc = write_npy(dir, "user_bias.npy", nu, 1, bu)) != EXIT_OK) goto done;
        if ((rc = write_npy(dir, "item_bias.npy", ni, 1, bi)) != EXIT_OK) goto done;
        jlog_printf(say, "wrote %s/user_bias.npy (%d x 1), %s/item_bias.npy (%d x 1)\n", shown, (int)nu,
                    shown, (int)ni);
    }
    if (cfg.implicit > 0) { /* V's buffer is free again */
        for (int32_t i = 0; i < ni; i++) mfr_model_implicit_vector(m, i, V + (size_t)i * (size_t)k, NULL);
        if ((rc = write_npy(dir, "Y.npy", ni, k, V)) != EXIT_OK) goto done;
        jlog_printf(say, "wrote %s/Y.npy (%d x %d)\n", shown, (int)ni, (int)k);
    }
done:
    free(t.buf);
    free(U);
    free(V);
    free(bu);
    free(bi);
    return rc;
}

static int export_tsv(const mfr_model *m, const mfr_dataset *ds, const char *dir, const char *shown,
                      struct json_log *say)
{
    const int32_t ni = mfr_model_n_items(m), k = mfr_model_k(m);
    float *V = factor_matrix(m, true);
    struct movie_ctx c;
    struct json_log t = {0};
    int rc = movie_ctx_init(&c, m, ds, 0);
    if (rc != EXIT_OK) goto done;
    if (!V) { rc = runtime_error("out of memory"); goto done; }
    struct text_stream w;
    if ((rc = text_open(&w, dir, "vectors.tsv")) != EXIT_OK) goto done;
    for (int32_t i = 0; i < ni; i++) {
        const float *row = V + (size_t)i * (size_t)k;
        for (int32_t j = 0; j < k; j++) jlog_printf(&t, "%s%.9g", j ? "\t" : "", (double)row[j]);
        jlog_printf(&t, "\n");
        if (t.len >= TEXT_PIECE) text_put(&w, &t);
    }
    text_put(&w, &t);
    if ((rc = text_close(&w)) != EXIT_OK) goto done;

    jlog_printf(&t, "movie\ttitle\tgenres\tratings\n");
    for (int32_t i = 0; i < ni; i++) {
        jlog_printf(&t, "%lld\t", (long long)mfr_dataset_item_id(ds, i));
        tsv_field(&t, mfr_dataset_item_title(ds, i)); /* empty: untitled */
        jlog_printf(&t, "\t");
        tsv_genres(&t, ds, i);
        jlog_printf(&t, "\t%lld\n", (long long)c.counts[i]);
    }
    if ((rc = write_text(dir, "metadata.tsv", &t)) != EXIT_OK) goto done;
    jlog_printf(say, "wrote %s/vectors.tsv (%d x %d) and %s/metadata.tsv (movie, title, genres, ratings)\n",
                shown, (int)ni, (int)k, shown);
done:
    free(t.buf);
    free(V);
    movie_ctx_free(&c);
    return rc;
}

/* The output directory, given once: as OUTDIR or as --out DIR. */
static bool set_out_dir(const char **out, const char *dir)
{
    if (*out) {
        usage_error("only one output directory, got '%s' and '%s'", *out, dir);
        return false;
    }
    *out = dir;
    return true;
}

static bool parse_out_flag(const char *flag, const char *v, void *dst)
{
    (void)flag;
    trim_slashes((char *)v); /* "out/" names the directory "out", as every DIR flag */
    return set_out_dir(dst, v);
}

static int out_positional(void *ctx, const char *arg)
{
    trim_slashes((char *)arg);
    return set_out_dir(ctx, arg) ? EXIT_OK : EXIT_USAGE;
}

/* --format is the dataset format in every command; an export format given
 * there is a usage error that names --as. */
static int check_format_flags(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        const char *v = !strcmp(argv[i], "--format") && i + 1 < argc ? argv[i + 1]
                        : !strncmp(argv[i], "--format=", 9)       ? argv[i] + 9
                                                                  : NULL;
        if (v && (!strcmp(v, "npy") || !strcmp(v, "tsv") || !strcmp(v, "both")))
            return usage_error("--format names the dataset format, as in every command; the "
                               "export format is --as %s",
                               v);
    }
    return EXIT_OK;
}

int cmd_export(int argc, char **argv)
{
    const char *model_path = NULL, *data = NULL, *format = "both", *out = NULL;
    const struct flag_spec flags[] = {
        {.name = "--model", .value = "MODEL", .kind = FLAG_STR, .dst = &model_path,
         .help = "a model written by `mfrec train --out` (required)"},
        {.name = "--data", .value = "DIR", .kind = FLAG_STR, .dst = &data,
         .help = "dataset for titles and genres (default: the data\n"
                 "recorded in the model: its directory, or the rating\n"
                 "file it was trained from)"},
        {.name = "--as", .value = "F", .kind = FLAG_STR, .dst = &format,
         .help = "output format: npy, tsv or both (default)"},
        {.name = "--out", .value = "OUTDIR", .kind = FLAG_CUSTOM, .dst = &out,
         .parse = parse_out_flag, .help = "the output directory"},
    };
    struct command_spec cmd = {.name = "mfrec export", .help = export_help,
                               .help_end = export_help_end, .help_width = 15, .flags = flags,
                               .n_flags = sizeof flags / sizeof *flags, .data_flags = true, .threads_flag = true,
                               .positional = out_positional, .ctx = &out};
    int rc;
    g_cmd = cmd.name;
    if ((rc = check_format_flags(argc, argv)) != EXIT_OK) return rc;
    if (!cli_start(&cmd, argc, argv, &rc)) return rc;
    if (!model_path) return usage_error("--model is required");
    if (!out) return usage_error("an output directory is required (--out DIR)");
    bool npy = !strcmp(format, "npy") || !strcmp(format, "both");
    bool tsv = !strcmp(format, "tsv") || !strcmp(format, "both");
    if (!npy && !tsv) return usage_error("--as must be npy, tsv or both, got '%s'", format);

    mfr_model *m = NULL;
    mfr_dataset *ds = NULL;
    struct stage st = {0};
    struct json_log say = {0};
    if ((rc = load_model_and_data(model_path, data, &m, &ds, NULL)) != EXIT_OK) goto done;
    if ((rc = io_output_dir("--out", out)) != EXIT_OK) goto done;
    /* the files of one model appear together or not at all */
    if ((rc = stage_open(&st, "--out", out)) != EXIT_OK) goto done;
    if (npy) rc = export_npy(m, st.dir, printable(out), &say);
    if (rc == EXIT_OK && tsv) rc = export_tsv(m, ds, st.dir, printable(out), &say);
    bool stale[sizeof npy_optional / sizeof *npy_optional] = {0};
    if (rc == EXIT_OK) rc = stage_lock(&st); /* another run's arrays committed meanwhile are seen */
    if (rc == EXIT_OK && npy) find_stale(st.dir, out, stale);
    if (rc == EXIT_OK) rc = check_stale(out, stale);
    if (rc == EXIT_OK) rc = retire_stale(&st, printable(out), stale, &say);
    if (rc == EXIT_OK) rc = jlog_check(&say, "this run's report");
    rc = stage_commit(&st, rc, say.buf);
    if (rc == EXIT_OK && npy != tsv) note_other_format(out, npy);
done:
    free(say.buf);
    mfr_dataset_destroy(ds);
    mfr_model_destroy(m);
    return rc;
}
