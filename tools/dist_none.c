/* dist_none.c — dist.h without MPI: one process, rank 0 of 1. */
#include "cli.h"
#include "dist.h"

int dist_begin(void) { return EXIT_OK; }
bool dist_on(void) { return false; }
int dist_rank(void) { return 0; }
int dist_size(void) { return 1; }
int dist_attach(mfr_trainer *tr) { return EXIT_OK; }
int dist_step(mfr_trainer *tr, double *loss, mfr_error *err) { return mfr_trainer_step(tr, loss, err); }
int dist_gather(void) { return EXIT_OK; }
int dist_gather_model(mfr_model *m) { return EXIT_OK; }
int dist_evaluate(const mfr_model *model, const mfr_ratings *r, mfr_metrics *out, mfr_error *err)
{
    return mfr_model_evaluate(model, r, out, err);
}
int dist_agree(bool *stop, int *sig) { return EXIT_OK; }
void dist_report(bool print, int64_t epochs, double train_seconds) {}
int dist_end(int rc) { return rc; }
