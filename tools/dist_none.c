/* dist_none.c — dist.h without MPI: one process, rank 0 of 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dist.h"

/* Launched by mpirun with several ranks, this build would train the whole
 * model on every rank and every rank would write the same outputs. */
int dist_begin(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    const char *n = cli_mpirun_ranks();
    if (cli_other_rank()) {
        if (n) return EXIT_RUNTIME; /* rank 0 says why, once */
        /* a PMIx launcher gives no count: rank 0 cannot tell it is not alone */
        return runtime_error("launched as rank %s of a parallel job whose launcher gives no rank count, but "
                             "this mfrec was built without MPI: every rank would train the whole model alone; "
                             "build with meson setup -Dmpi=enabled (docs/MPI.md) or run one process",
                             cli_launch_rank());
    }
    if (n)
        return runtime_error("launched by mpirun with %s ranks, but this mfrec was built without MPI: every "
                             "rank would train the whole model alone; build with meson setup -Dmpi=enabled "
                             "(docs/MPI.md) or run one process",
                             n);
    return EXIT_OK;
}
bool dist_on(void) { return false; }
int dist_rank(void) { return 0; }
int dist_size(void) { return 1; }
int dist_trainer_create(const mfr_config *cfg, const mfr_dataset *ds, const mfr_ratings *train, const char *spec,
                        mfr_trainer **tr, mfr_error *err)
{
    return mfr_trainer_create(cfg, ds, train, spec, tr, err);
}
int dist_trainer_resume(const mfr_checkpoint *c, const mfr_config *cfg, const mfr_dataset *ds,
                        const mfr_ratings *train, const char *spec, mfr_trainer **tr, mfr_error *err)
{
    return mfr_trainer_resume(c, cfg, ds, train, spec, tr, err);
}
int dist_trainer_read(const mfr_checkpoint *c, const mfr_config *cfg, const char *dir, const char *spec,
                      uint64_t seed, mfr_trainer **tr, mfr_error *err)
{
    *tr = NULL;
    return MFR_ERR_UNSUPPORTED; /* one process loads the data whole */
}
const mfr_dataset *dist_dataset(void) { return NULL; }
const char *dist_split_spec(void) { return NULL; }
int64_t dist_data_count(int which) { return -1; }
int dist_evaluate_own(int which, const mfr_model *m, mfr_metrics *out, mfr_error *err)
{
    if (err) { /* never called: dist_trainer_read never succeeds here */
        err->status = MFR_ERR_STATE;
        snprintf(err->message, sizeof err->message, "no per-rank data without MPI");
    }
    return MFR_ERR_STATE;
}
void dist_trainer_free(mfr_trainer *tr) { mfr_trainer_destroy(tr); }
int dist_init_from(mfr_trainer *tr, const char *upath, const char *vpath, mfr_error *err)
{
    int64_t ur = 0, uc = 0, vr = 0, vc = 0;
    float *U = NULL, *V = NULL;
    int rc = mfr_npy_read_f32(upath, &ur, &uc, &U, err);
    if (rc == MFR_OK) rc = mfr_npy_read_f32(vpath, &vr, &vc, &V, err);
    if (rc == MFR_OK) rc = mfr_trainer_set_factors(tr, U, ur, uc, V, vr, vc, err);
    mfr_free(U);
    mfr_free(V);
    return rc;
}
int dist_step(mfr_trainer *tr, double *loss, mfr_error *err) { return mfr_trainer_step(tr, loss, err); }

int dist_data_mse(mfr_trainer *tr, const mfr_model *m, double *mse, mfr_error *err)
{
    return mfr_trainer_data_mse(tr, m, mse, err);
}
int dist_gather(void) { return EXIT_OK; }
const mfr_model *dist_model(const mfr_trainer *tr) { return mfr_trainer_model(tr); }
int dist_trainer_evaluate(const mfr_trainer *tr, const mfr_ratings *r, mfr_metrics *out, mfr_error *err)
{
    return mfr_trainer_evaluate(tr, r, out, err);
}
int dist_gather_model(const mfr_model *m, mfr_model **whole)
{
    *whole = NULL;
    return EXIT_OK;
}
int dist_checkpoint_load(const char *path, mfr_checkpoint **c, mfr_error *err)
{
    return mfr_checkpoint_load(path, c, err);
}
int dist_part_best(const mfr_checkpoint *c, mfr_model **out, mfr_error *err)
{
    mfr_run_state run;
    *out = NULL;
    int rc = mfr_checkpoint_run(c, &run, err);
    return rc != MFR_OK || !run.best ? rc : mfr_model_copy(run.best, out, err);
}
int dist_save_checkpoint(const mfr_trainer *tr, const mfr_run_state *run, const char *path, mfr_error *err)
{
    return mfr_trainer_save_checkpoint(tr, run, path, err);
}
int dist_evaluate(const mfr_model *model, const mfr_ratings *r, mfr_metrics *out, mfr_error *err)
{
    return mfr_model_evaluate(model, r, out, err);
}
int dist_same_status(int rc) { return rc; }
int dist_agree(bool *stop, int *sig) { return EXIT_OK; }
void dist_report(bool print, int64_t epochs, double train_seconds) {}
int dist_end(int rc) { return rc; }
