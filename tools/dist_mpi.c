/*
 * dist_mpi.c — dist.h over MPI (include/mfrec_mpi.h). MPI starts only when
 * mpirun launched the process (Open MPI sets OMPI_COMM_WORLD_SIZE, PMIx
 * PMIX_RANK), so an MPI build run alone behaves as the default build.
 */
#include <stdlib.h>

#include "cli.h"
#include "dist.h"
#include "mfrec_mpi.h"

static bool g_on;
static int g_rank, g_size = 1;
static mfr_mpi_trainer *g_mt;

int dist_begin(void)
{
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMIX_RANK")) return EXIT_OK;
    int provided = 0;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return runtime_error("MPI_Init_thread failed");
    g_on = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    if (provided < MPI_THREAD_FUNNELED) return runtime_error("MPI does not allow OpenMP threads (FUNNELED)");
    return EXIT_OK;
}

bool dist_on(void) { return g_on; }
int dist_rank(void) { return g_rank; }
int dist_size(void) { return g_size; }

int dist_attach(mfr_trainer *tr)
{
    if (!g_on) return EXIT_OK;
    mfr_error err = {0};
    if (mfr_mpi_trainer_create(tr, MPI_COMM_WORLD, &g_mt, &err) != MFR_OK) return lib_error(&err);
    return EXIT_OK;
}

int dist_step(mfr_trainer *tr, double *loss, mfr_error *err)
{
    return g_mt ? mfr_mpi_trainer_step(g_mt, loss, err) : mfr_trainer_step(tr, loss, err);
}

int dist_gather(void)
{
    mfr_error err = {0};
    if (g_mt && mfr_mpi_trainer_gather(g_mt, &err) != MFR_OK) return lib_error(&err);
    return EXIT_OK;
}

int dist_gather_model(mfr_model *m)
{
    mfr_error err = {0};
    if (g_mt && mfr_mpi_trainer_gather_model(g_mt, m, &err) != MFR_OK) return lib_error(&err);
    return EXIT_OK;
}

int dist_evaluate(const mfr_model *model, const mfr_ratings *r, mfr_metrics *out, mfr_error *err)
{
    return g_mt ? mfr_mpi_trainer_evaluate(g_mt, r, out, err) : mfr_model_evaluate(model, r, out, err);
}

int dist_agree(bool *stop, int *sig)
{
    if (!g_on) return EXIT_OK;
    int mine[2] = {*stop, *sig}, all[2];
    if (MPI_Allreduce(mine, all, 2, MPI_INT, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS)
        return runtime_error("MPI: the ranks could not agree on stopping (MPI_Allreduce failed)");
    *stop = all[0] != 0;
    *sig = all[1];
    return EXIT_OK;
}

void dist_report(bool print, int64_t epochs, double train_seconds)
{
    if (!g_mt || epochs < 1) return;
    /* per rank: seconds inside MPI calls, and the rest of its step time */
    const double comm = mfr_mpi_trainer_mpi_seconds(g_mt);
    double mine[2] = {comm, train_seconds - comm}, lo[2] = {0.0, 0.0}, hi[2] = {0.0, 0.0};
    if (MPI_Reduce(mine, lo, 2, MPI_DOUBLE, MPI_MIN, 0, MPI_COMM_WORLD) != MPI_SUCCESS ||
        MPI_Reduce(mine, hi, 2, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD) != MPI_SUCCESS || g_rank || !print)
        return;
    const double per = 1e3 / (double)epochs;
    printf("mpi: %d ranks; in MPI calls (transfers, waits) %.4f to %.4f ms/epoch per rank, computing "
           "%.4f to %.4f, of %.4f ms/epoch on rank 0\n",
           g_size, lo[0] * per, hi[0] * per, lo[1] * per, hi[1] * per, train_seconds * per);
}

int dist_end(int rc)
{
    mfr_mpi_trainer_destroy(g_mt);
    g_mt = NULL;
    if (!g_on) return rc;
    g_on = false;
    if (rc != EXIT_OK && rc != EXIT_INTERRUPTED) {
        fflush(stdout);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, rc); /* ends every rank: none waits on this one */
    }
    MPI_Finalize();
    return rc;
}
