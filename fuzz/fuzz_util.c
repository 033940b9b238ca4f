/*
 * fuzz_util.c — scratch files and fixtures for the fuzz targets (fuzz.h).
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

static char g_dir[256];
volatile double fz_sink;

_Noreturn void fz_fail(const char *what, const mfr_error *err)
{
    fprintf(stderr, "fuzz fixture: %s: %s\n", what, err ? err->message : strerror(errno));
    abort();
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path) != 0 && errno != ENOENT;
}

static void rm_dir(void)
{
    if (g_dir[0]) nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void fz_report(const char *what, int rc, const mfr_error *err)
{
    static int verbose = -1;
    if (verbose < 0) verbose = getenv("MFR_FUZZ_VERBOSE") != NULL;
    if (verbose)
        fprintf(stderr, "  %s: %s%s%s\n", what, mfr_status_str(rc), err ? ": " : "",
                err ? err->message : "");
}

const char *fz_dir(void)
{
    if (g_dir[0]) return g_dir;
    struct stat st;
    const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
                               access("/dev/shm", W_OK) == 0
                           ? "/dev/shm"
                           : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    snprintf(g_dir, sizeof g_dir, "%s/mfrec-fuzz-XXXXXX", base);
    if (!mkdtemp(g_dir)) {
        g_dir[0] = '\0';
        fz_fail("mkdtemp", NULL);
    }
    atexit(rm_dir);
    return g_dir;
}

const char *fz_path(int slot, const char *dir, const char *name)
{
    static char buf[4][512];
    if (slot < 0 || slot > 3 ||
        (size_t)snprintf(buf[slot], sizeof buf[slot], "%s/%s", dir, name) >= sizeof buf[slot])
        fz_fail("fz_path", NULL);
    return buf[slot];
}

void fz_write(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) fz_fail(path, NULL);
}

void fz_unlink(const char *path)
{
    if (unlink(path) != 0 && errno != ENOENT) fz_fail(path, NULL);
}

mfr_load_options fz_load_options(int32_t format)
{
    mfr_load_options opt;
    mfr_load_options_default(&opt);
    opt.format = format;
    opt.cache = MFR_CACHE_NEVER;
    return opt;
}

void fz_fixture_dataset(const char *dir)
{
    mfr_synth_options so;
    mfr_synth_options_default(&so);
    so.n_users = 12;
    so.n_items = 16;
    so.n_ratings = 60;
    so.rank = 2;
    mfr_error err = {0};
    if (mfr_synth_write(&so, dir, &err) != MFR_OK) fz_fail("mfr_synth_write", &err);
}

mfr_trainer *fz_fixture_trainer(const char *dir, mfr_dataset **ds)
{
    mfr_load_options opt = fz_load_options(MFR_FORMAT_ML100K);
    mfr_trainer *tr = NULL;
    mfr_error err = {0};
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 3;
    cfg.n_threads = 1;
    if (mfr_config_set(&cfg, "bias", "1", &err) != MFR_OK ||
        mfr_config_set(&cfg, "implicit", "0.5", &err) != MFR_OK)
        fz_fail("mfr_config_set", &err);
    if (mfr_dataset_load(dir, &opt, ds, &err) != MFR_OK) fz_fail("mfr_dataset_load", &err);
    if (mfr_trainer_create(&cfg, *ds, mfr_dataset_ratings(*ds), NULL, &tr, &err) != MFR_OK)
        fz_fail("mfr_trainer_create", &err);
    for (int e = 0; e < 2; e++)
        if (mfr_trainer_step(tr, NULL, &err) != MFR_OK) fz_fail("mfr_trainer_step", &err);
    return tr;
}

void fz_fixture_model(const char *dir, const char *path)
{
    mfr_dataset *ds = NULL;
    mfr_trainer *tr = fz_fixture_trainer(dir, &ds);
    mfr_error err = {0};
    if (mfr_model_save(mfr_trainer_model(tr), path, &err) != MFR_OK)
        fz_fail("mfr_model_save", &err);
    mfr_trainer_destroy(tr);
    mfr_dataset_destroy(ds);
}

/* ------------------------------------------------------------------ */
/* File sets                                                            */
/* ------------------------------------------------------------------ */

static void fileset_write(const struct fz_fileset *s, int k, const void *data, size_t size)
{
    fz_write(fz_path(0, s->dir, s->names[k]), data, size);
}

void fz_fileset_init(struct fz_fileset *s, const char *dir, int n, const char *const *names,
                     const char *const *text)
{
    if (n > 6) fz_fail("fz_fileset_init: too many files", NULL);
    mkdir(dir, 0700);
    *s = (struct fz_fileset){.dir = dir, .n = n, .replaced = -1};
    for (int k = 0; k < n; k++) {
        s->names[k] = names[k];
        s->fixed_len[k] = strlen(text[k]);
        s->fixed[k] = strdup(text[k]);
        if (!s->fixed[k]) fz_fail("strdup", NULL);
        fileset_write(s, k, s->fixed[k], s->fixed_len[k]);
    }
}

void fz_fileset_adopt(struct fz_fileset *s, const char *dir, int n, const char *const *names)
{
    char *text[6] = {0};
    for (int k = 0; k < n && k < 6; k++) {
        const char *path = fz_path(0, dir, names[k]);
        FILE *f = fopen(path, "rb");
        if (!f) fz_fail(path, NULL);
        text[k] = calloc(1, 1 << 20);
        size_t got = text[k] ? fread(text[k], 1, (1 << 20) - 1, f) : 0;
        fclose(f);
        if (!text[k] || got == (1 << 20) - 1) fz_fail("fixture file too large", NULL);
    }
    fz_fileset_init(s, dir, n, names, (const char *const *)text);
    for (int k = 0; k < n && k < 6; k++) free(text[k]);
}

void fz_fileset_free(struct fz_fileset *s)
{
    for (int k = 0; k < s->n; k++) free(s->fixed[k]);
    s->n = 0;
}

void fz_fileset_put(struct fz_fileset *s, int k, const uint8_t *data, size_t size)
{
    if (s->replaced >= 0 && s->replaced != k)
        fileset_write(s, s->replaced, s->fixed[s->replaced], s->fixed_len[s->replaced]);
    fileset_write(s, k, data, size);
    s->replaced = k;
}

/* ------------------------------------------------------------------ */
/* Fixed files of the other formats (made up here, not MovieLens data)  */
/* ------------------------------------------------------------------ */

const char *const fz_ml1m_names[] = {"ratings.dat", "movies.dat", "users.dat", NULL};
const char *const fz_ml1m_text[] = {
    "1::10::5::978300760\n1::20::3::978302109\n2::10::4::978301968\n3::30::1::978300275\n",
    "10::First Film (1995)::Animation|Children's|Comedy\n"
    "20::Second, The (1999)::Drama\n30::Caf\xc3\xa9 (2001)::Sci-Fi|IMAX\n",
    "1::F::1::10::48067\n2::M::56::16::70072\n3::M::25::15::55117\n",
    NULL};

const char *const fz_csv_names[] = {"ratings.csv", "movies.csv", NULL};
const char *const fz_csv_text[] = {
    "userId,movieId,rating,timestamp\n1,10,4.0,964982703\n1,20,4.5,964981247\n"
    "2,10,0.5,964982224\n3,30,5.0,964983815\n",
    "movieId,title,genres\n10,First Film (1995),Adventure|Animation\n"
    "20,\"Second, The (1999)\",Comedy|Romance\n30,\"A \"\"Quoted\"\" One\",(no genres listed)\n",
    NULL};

void fz_touch_dataset(const mfr_dataset *ds)
{
    size_t sum = 0;
    for (int32_t i = 0; i < mfr_dataset_n_items(ds); i++) {
        sum += strlen(mfr_dataset_item_title(ds, i)) + strlen(mfr_dataset_item_date(ds, i));
        sum += (size_t)mfr_dataset_item_genres(ds, i);
    }
    for (int32_t u = 0; u < mfr_dataset_n_users(ds); u++)
        sum += strlen(mfr_dataset_user_occupation(ds, u)) + strlen(mfr_dataset_user_zip(ds, u));
    for (int32_t g = 0; g < mfr_dataset_n_genres(ds); g++)
        sum += strlen(mfr_dataset_genre_name(ds, g));
    const mfr_ratings *r = mfr_dataset_ratings(ds);
    for (int64_t k = 0; k < mfr_ratings_count(r); k++) {
        int32_t u, i;
        float v;
        if (mfr_ratings_get(r, k, &u, &i, &v, NULL, NULL) != MFR_OK || u < 0 ||
            u >= mfr_dataset_n_users(ds) || i < 0 || i >= mfr_dataset_n_items(ds) || v != v)
            abort(); /* a loaded dataset must hold in-range indices */
    }
    fz_sink += (double)sum;
}
