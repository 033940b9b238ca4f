/* prog.c — a program as a library user writes it, built by tests/install
 * against an install of mfrec through pkg-config alone (no OpenMP flags):
 * synthesizes a small dataset into DIR, loads it, trains, saves the model,
 * loads it back and recommends. Prints "ok" and exits 0 when every step
 * works and the reloaded model has the trained factors. */
#include <mfrec.h>
#include <mfrec_softmax.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, const mfr_error *err)
{
    fprintf(stderr, "prog: %s: %s: %s\n", what, mfr_status_str(err->status), err->message);
    return 1;
}

static int train_and_save(const mfr_dataset *ds, const mfr_split *sp, const char *path,
                          uint64_t *sum, mfr_error *err)
{
    mfr_config cfg;
    mfr_config_default(&cfg);
    cfg.k = 8;
    cfg.bias = 1;
    cfg.lr = 0.01;
    cfg.init_std = 0.1;
    mfr_trainer *tr = NULL;
    int rc = mfr_trainer_create(&cfg, ds, mfr_split_train(sp), mfr_split_spec(sp), &tr, err);
    for (int e = 0; rc == MFR_OK && e < 20; e++) rc = mfr_trainer_step(tr, NULL, err);
    mfr_metrics mt;
    if (rc == MFR_OK) rc = mfr_model_evaluate(mfr_trainer_model(tr), mfr_split_test(sp), &mt, err);
    if (rc == MFR_OK && !(mt.n > 0 && mt.rmse > 0 && mt.rmse < 2))
        rc = MFR_ERR_DATA, snprintf(err->message, sizeof err->message, "test RMSE %g", mt.rmse);
    if (rc == MFR_OK) rc = mfr_model_save(mfr_trainer_model(tr), path, err);
    if (rc == MFR_OK) *sum = mfr_model_checksum(mfr_trainer_model(tr));
    mfr_trainer_destroy(tr);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) return 2;
    char path[4096];
    snprintf(path, sizeof path, "%s/model.mfr", argv[1]);
    mfr_error err = {0};
    mfr_synth_options so;
    mfr_synth_options_default(&so);
    so.n_users = 200, so.n_items = 100, so.n_ratings = 4000;
    if (mfr_synth_write(&so, argv[1], &err) != MFR_OK) return fail("synth", &err);
    mfr_softmax_config sc;
    mfr_softmax_config_default(&sc);
    if (mfr_softmax_config_validate(&sc, &err) != MFR_OK) return fail("softmax config", &err);
    mfr_dataset *ds = NULL;
    mfr_split *sp = NULL;
    mfr_model *m = NULL;
    uint64_t sum = 0;
    int32_t items[5], n = 0;
    if (mfr_dataset_load(argv[1], NULL, &ds, &err) != MFR_OK) return fail("load", &err);
    int bad = mfr_split_create(ds, "random:0.2", 1, &sp, &err) != MFR_OK ? fail("split", &err)
              : train_and_save(ds, sp, path, &sum, &err) != MFR_OK    ? fail("train", &err)
              : mfr_model_load(path, &m, &err) != MFR_OK              ? fail("reload", &err)
              : mfr_model_recommend(m, 0, 5, MFR_MEASURE_DOT, NULL, items, NULL, &n, &err)
                  ? fail("recommend", &err)
                  : 0;
    if (strcmp(mfr_version(), MFR_VERSION_STRING) != 0) {
        fprintf(stderr, "prog: the installed library is %s, its header %s\n", mfr_version(),
                MFR_VERSION_STRING);
        bad = 1;
    }
    if (!bad && (mfr_model_checksum(m) != sum || n != 5)) {
        fprintf(stderr, "prog: the reloaded model differs, or %d items recommended\n", (int)n);
        bad = 1;
    }
    mfr_model_destroy(m);
    mfr_split_destroy(sp);
    mfr_dataset_destroy(ds);
    if (!bad) printf("ok: %s %s\n", MFR_VERSION_STRING, mfr_status_str(MFR_OK));
    return bad;
}
