/*
 * gen_seeds.c — writes the seed corpora of the fuzz targets into
 * OUT_DIR/<target>/: valid inputs made by the project itself (the synthetic
 * data generator, a model trained on it, the library's own .npy and cache
 * writers, hand-written fixtures, command lines from the docs). Never
 * MovieLens data. Deterministic: run again, same bytes (tools/fuzz --seeds
 * regenerates fuzz/corpus/).
 *
 * Usage: fuzz_gen_seeds OUT_DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "mfrec_softmax.h"

static const char *g_out;

/* Writes OUT/target/name = selector byte (when >= 0) + data. */
static void seed(const char *target, const char *name, int selector, const void *data,
                 size_t size)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", g_out, target);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", g_out, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || (selector >= 0 && fputc(selector, f) == EOF) ||
        (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        fz_fail(path, NULL);
}

static void seed_str(const char *target, const char *name, int selector, const char *text)
{
    seed(target, name, selector, text, strlen(text));
}

/* The contents of a file, malloc'd (NUL-terminated); *size its length. */
static char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) fz_fail(path, NULL);
    size_t cap = 1 << 20;
    char *buf = malloc(cap + 1);
    *size = buf ? fread(buf, 1, cap, f) : 0;
    fclose(f);
    if (!buf || *size == cap) fz_fail("slurp", NULL);
    buf[*size] = '\0';
    return buf;
}

static void formats(const char *ml100k)
{
    const char *names[] = {"u.data", "u.item", "u.user", "u.genre", "u.occupation"};
    /* seed files are not named like MovieLens files, even made-up ones */
    const char *seed_names[] = {"seed-u-data", "seed-u-item", "seed-u-user", "seed-u-genre",
                                "seed-u-occupation"};
    for (int k = 0; k < 5; k++) {
        size_t n;
        char *text = slurp(fz_path(0, ml100k, names[k]), &n);
        seed("fuzz_ml100k", seed_names[k], k, text, n);
        if (k == 0) {
            seed("fuzz_delimited", "tab-no-header", 1 | (2 << 3), text, n);
            size_t head = n < 200 ? n : 200;
            while (head > 0 && text[head - 1] != '\n') head--; /* whole lines */
            seed("fuzz_read_ratings", "ml100k", 0, text, head);
        }
        free(text);
    }
    for (int k = 0; fz_ml1m_names[k]; k++) seed_str("fuzz_ml1m", fz_ml1m_names[k], k, fz_ml1m_text[k]);
    for (int k = 0; fz_csv_names[k]; k++) seed_str("fuzz_csv", fz_csv_names[k], k, fz_csv_text[k]);
    seed_str("fuzz_delimited", "comma-header", 2 | (1 << 3), "user,item,rating,ts\n7,3,4.5,1\n7,4,2,2\n9,3,1,3\n");
    seed_str("fuzz_delimited", "detect-semicolon-range", 0 | 32, "7; 3; 9.5\n7; 4; 0\n 9 ;3;10\n");
    seed_str("fuzz_delimited", "space-crlf", 5 | (2 << 3), "1 2 3\r\n2 2 4\r\n");
    seed_str("fuzz_read_ratings", "ml1m", 1, "1::20::3::978300760\n3::10::5::1\n");
    seed_str("fuzz_read_ratings", "csv", 2, "userId,movieId,rating,timestamp\n2,20,3.5,1\n");
    seed_str("fuzz_read_ratings", "delimited", 3, "5;9;2\n6;9;4.5\n");
    seed_str("fuzz_read_ratings", "u.data-tabs", 3, "5\t9\t2\t0\n");
}

static void npy(void)
{
    const float x[12] = {0.5f, -1, 2, 3, 4, 5, 6, 7, 8, 9, 1e-3f, -0.25f};
    const char *path = fz_path(0, fz_dir(), "x.npy");
    mfr_error err = {0};
    for (int rows = 1; rows <= 3; rows += 2) {
        if (mfr_npy_write_f32(path, rows, 12 / rows, x, &err) != MFR_OK)
            fz_fail("mfr_npy_write_f32", &err);
        size_t n;
        char *bytes = slurp(path, &n);
        seed("fuzz_npy", rows == 1 ? "1x12" : "3x4", -1, bytes, n);
        free(bytes);
    }
}

/* A cache of the dataset in dir, with its key and padding cut out (see
 * fuzz_cache.c). */
static void cache(const char *dir, int32_t format, const char *name)
{
    const char *path = fz_path(2, fz_dir(), "seed.cache");
    mfr_load_options opt = fz_load_options(format);
    opt.cache = MFR_CACHE_ALWAYS;
    opt.cache_path = path;
    mfr_dataset *ds = NULL;
    mfr_error err = {0};
    if (mfr_dataset_load(dir, &opt, &ds, &err) != MFR_OK) fz_fail("cache seed", &err);
    mfr_dataset_destroy(ds);
    size_t n;
    unsigned char *bytes = (unsigned char *)slurp(path, &n);
    uint64_t key_len;
    memcpy(&key_len, bytes + 16, 8);
    uint64_t key_area = (key_len + 63) / 64 * 64; /* the key and its zero padding */
    if (n < 64 + key_area) fz_fail("cache seed: short file", NULL);
    memmove(bytes + 64, bytes + 64 + key_area, n - 64 - key_area);
    seed("fuzz_cache", name, -1, bytes, n - key_area);
    free(bytes);
    fz_unlink(path);
}

static void model_and_foldin(const char *ml100k)
{
    const char *path = fz_path(2, fz_dir(), "seed.mfr");
    fz_fixture_model(ml100k, path);
    size_t n;
    char *bytes = slurp(path, &n);
    seed("fuzz_model", "bias-implicit", -1, bytes, n);
    free(bytes);

    mfr_load_options opt = fz_load_options(MFR_FORMAT_ML100K);
    mfr_dataset *ds = NULL;
    mfr_error err = {0};
    if (mfr_dataset_load(ml100k, &opt, &ds, &err) != MFR_OK) fz_fail("foldin seed", &err);
    char text[1024];
    snprintf(text, sizeof text, "%s=4,%s=2.5", mfr_dataset_item_title(ds, 0),
             mfr_dataset_item_title(ds, 3));
    seed_str("fuzz_foldin", "rate", 0, text);
    snprintf(text, sizeof text, "%s=1", mfr_dataset_item_title(ds, 5));
    seed_str("fuzz_foldin", "rate-lambda-cosine", 6, text);
    snprintf(text, sizeof text, "%s=5\n%lld\t3\n\n%lld\t1.5\n", mfr_dataset_item_title(ds, 1),
             (long long)mfr_dataset_item_id(ds, 2), (long long)mfr_dataset_item_id(ds, 4));
    seed_str("fuzz_foldin", "ratings-file", 1, text);
    mfr_dataset_destroy(ds);
}

/* Checkpoints: one without, one with a best model and a log. */
static void checkpoint(const char *ml100k)
{
    const char *path = fz_path(2, fz_dir(), "seed.ckpt");
    mfr_dataset *ds = NULL;
    mfr_trainer *tr = fz_fixture_trainer(ml100k, &ds);
    mfr_model *best = NULL;
    mfr_error err = {0};
    if (mfr_model_copy(mfr_trainer_model(tr), &best, &err) != MFR_OK) fz_fail("copy", &err);
    static const char log[] = "{\"epoch\": 1, \"train_mse\": 1.5}\n{\"epoch\": 2}\n";
    mfr_run_state run = {.epochs = 5, .log_every = 1, .checkpoint_every = 2};
    for (int with_best = 0; with_best < 2; with_best++) {
        if (with_best) {
            run.early_stop = 3;
            run.best_epoch = mfr_model_epochs(best);
            run.best_val = 0.75;
            run.best = best;
            run.log = log;
            run.log_len = sizeof log - 1;
        }
        if (mfr_trainer_save_checkpoint(tr, &run, path, &err) != MFR_OK)
            fz_fail("mfr_trainer_save_checkpoint", &err);
        size_t n;
        char *bytes = slurp(path, &n);
        seed("fuzz_checkpoint", with_best ? "best-and-log" : "plain", -1, bytes, n);
        free(bytes);
    }
    mfr_model_destroy(best);
    mfr_trainer_destroy(tr);
    /* a softmax run's: its model and optimizer section, and a log */
    mfr_softmax_config sc;
    mfr_softmax_config_default(&sc);
    sc.k = 3, sc.dim_movie = 3, sc.hidden[0] = 4, sc.optimizer = MFR_SOFTMAX_OPT_ADAM;
    mfr_softmax_trainer *st = NULL;
    if (mfr_softmax_trainer_create(&sc, ds, mfr_dataset_ratings(ds), "", 1, &st, &err) != MFR_OK ||
        mfr_softmax_trainer_epoch(st, NULL, &err) != MFR_OK)
        fz_fail("softmax trainer", &err);
    mfr_run_state sm_run = {.epochs = 5, .log_every = 1, .checkpoint_every = 1, .log = log,
                            .log_len = sizeof log - 1};
    if (mfr_softmax_trainer_save_checkpoint(st, &sm_run, path, &err) != MFR_OK)
        fz_fail("mfr_softmax_trainer_save_checkpoint", &err);
    size_t n;
    char *bytes = slurp(path, &n);
    seed("fuzz_checkpoint", "softmax", -1, bytes, n);
    free(bytes);
    mfr_softmax_trainer_destroy(st);
    mfr_dataset_destroy(ds);
}

/* Command lines, arguments separated by '|' (NUL in the seed). */
static void cli(void)
{
    static const char *const lines[][2] = {
        {"train", "--data|d|--dim|8|--epochs|5|--bias|--seed=7|--lr|0.01|--out|m.mfr"},
        {"train", "--preset|notebook|--implicit|0.5|--l2=1e-3|--reduce|shard|--threads|2|--max-memory|64M"},
        {"eval", "--model|m.mfr|--test|t.data|-k|10"},
        {"eval", "--folds|--data|d|--optimizer|sgd|--kernels=ref"},
        {"split", "--data|d|--split|random:0.2|--seed|3|--out|o"},
        {"synth", "--out|o|--users|10|--items|20|--ratings|100|--rank|2|--noise|0.1"},
        {"recommend", "--model|m.mfr|--user|3|-k|5|--measure|cosine"},
        {"recommend", "--model|m.mfr|--rate|A=4,B=5|--lambda|0.5"},
        {"similar", "--model|m.mfr|--movie|first|-k|3"},
        {"norms", "--model|m.mfr|--bins|10"},
        {"stats", "--data|d|--json|--bins|5|--top|3"},
        {"project", "--model|m.mfr|--method|tsne|--out|p"},
        {"export", "--model|m.mfr|--as|npy|--out|x"},
        {"sweep", "--threads|1,2|--dims|8,16|--reduce|shard,owner|--repeat|2|--epochs|3"},
        {"train", "--help"},
        {"train", "--kind|softmax|--hidden|8,4|--features|movies,genres|--checkpoint|c|--checkpoint-every|2|--log-json|l"},
        {"train", "--resume|c|--threads|2|--epochs|9|--plot|p"},
    };
    static const char *const commands[] = {"train", "eval", "split", "synth", "recommend",
                                           "similar", "norms", "stats", "project", "export",
                                           "sweep"};
    for (size_t k = 0; k < sizeof lines / sizeof *lines; k++) {
        int cmd = 0;
        while (strcmp(commands[cmd], lines[k][0])) cmd++;
        char args[256], name[64];
        snprintf(args, sizeof args, "%s", lines[k][1]);
        size_t n = strlen(args);
        for (size_t j = 0; j < n; j++)
            if (args[j] == '|') args[j] = '\0';
        snprintf(name, sizeof name, "%s-%zu", lines[k][0], k);
        seed("fuzz_cli", name, cmd, args, n);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
        return 2;
    }
    g_out = argv[1];
    mkdir(g_out, 0755);
    char ml100k[512], ml1m[512];
    snprintf(ml100k, sizeof ml100k, "%s/ml100k", fz_dir());
    snprintf(ml1m, sizeof ml1m, "%s/ml1m", fz_dir());
    fz_fixture_dataset(ml100k);
    struct fz_fileset s;
    fz_fileset_init(&s, ml1m, 3, fz_ml1m_names, fz_ml1m_text);
    fz_fileset_free(&s);
    formats(ml100k);
    npy();
    cache(ml100k, MFR_FORMAT_ML100K, "ml100k");
    cache(ml1m, MFR_FORMAT_ML1M, "ml1m");
    model_and_foldin(ml100k);
    checkpoint(ml100k);
    cli();
    return 0;
}
