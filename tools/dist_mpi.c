/*
 * dist_mpi.c — dist.h over MPI (include/mfrec_mpi.h). MPI starts only when
 * a launcher started the process (cli_launch_rank: Open MPI's
 * OMPI_COMM_WORLD_RANK, Hydra's PMI_RANK, PMIx's PMIX_RANK), so an MPI
 * build run alone behaves as the default build.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "dist.h"
#include "mfrec_mpi.h"

static bool g_on;
static int g_rank, g_size = 1;
static mfr_mpi_trainer *g_mt;
/* dist_end's agreement alone: a collective of its own, which no rank can
 * mistake for one another rank still waits in. */
static MPI_Comm g_end = MPI_COMM_NULL;

/* The first rank whose arguments differ from rank 0's (FNV-1a of each
 * with its NUL), or -1: a rank with other flags takes other collectives
 * (another reading path, a refusal of its own) and the job hangs.
 * --threads is per rank (README, "Running on a cluster": a node's cores;
 * the bytes do not depend on it), so it and its value are left out. */
static int other_command(int argc, char **argv)
{
    unsigned long long h = 14695981039346656037ULL, h0;
    for (int i = 0; i < argc; i++) {
        if (!strncmp(argv[i], "--threads=", 10)) continue;
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            i++;
            continue;
        }
        for (const char *c = argv[i];; c++) {
            h = (h ^ (unsigned char)*c) * 1099511628211ULL;
            if (!*c) break;
        }
    }
    h0 = h;
    if (MPI_Bcast(&h0, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD) != MPI_SUCCESS) return -1;
    int mine = h0 != h ? g_rank : g_size, first = g_size;
    if (MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS) return -1;
    return first < g_size ? first : -1;
}

int dist_begin(int argc, char **argv)
{
    if (!cli_launch_rank()) return EXIT_OK;
    /* read before MPI_Init: Open MPI's singleton sets PMIX_RANK to 0 */
    const bool other = cli_other_rank();
    char rank[32];
    snprintf(rank, sizeof rank, "%s", cli_launch_rank());
    int provided = 0;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return runtime_error("MPI_Init_thread failed");
    g_on = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    if (MPI_Comm_dup(MPI_COMM_WORLD, &g_end) != MPI_SUCCESS) return runtime_error("MPI_Comm_dup failed");
    MPI_Comm_set_errhandler(g_end, MPI_ERRORS_RETURN);
    cli_errors_hold(g_rank != 0); /* dist_end prints what rank 0 does not */
    if (provided < MPI_THREAD_FUNNELED) return runtime_error("MPI does not allow OpenMP threads (FUNNELED)");
    /* another MPI's launcher (Hydra's PMI_SIZE): each rank would be a
     * world of one and train the whole model alone */
    const char *n = cli_mpirun_ranks();
    if (n && g_size == 1)
        return runtime_error("launched with %s ranks, but MPI sees a world of 1: the launcher is not of the MPI "
                             "this mfrec was built with (docs/MPI.md); use its mpirun",
                             n);
    /* a PMIx launcher gives no count: a rank past 0 in a world of 1 is
     * the same mistake (rank 0 cannot tell, as in a build without MPI) */
    if (g_size == 1 && other)
        return runtime_error("launched as rank %s of a parallel job, but MPI sees a world of 1: the launcher is "
                             "not of the MPI this mfrec was built with (docs/MPI.md); use its mpirun",
                             rank);
    const int other_rank = other_command(argc, argv);
    if (other_rank >= 0)
        return runtime_error("MPI rank %d was started with other arguments than rank 0: every rank must run the "
                             "same mfrec train command (docs/MPI.md)",
                             other_rank);
    return EXIT_OK;
}

bool dist_on(void) { return g_on; }
int dist_rank(void) { return g_rank; }
int dist_size(void) { return g_size; }

int dist_trainer_create(const mfr_config *cfg, const mfr_dataset *ds, const mfr_ratings *train, const char *spec,
                        mfr_trainer **tr, mfr_error *err)
{
    if (!g_on) return mfr_trainer_create(cfg, ds, train, spec, tr, err);
    int rc = mfr_mpi_trainer_create(cfg, ds, train, spec, MPI_COMM_WORLD, &g_mt, err);
    *tr = mfr_mpi_trainer_part(g_mt);
    return rc;
}

int dist_trainer_resume(const mfr_checkpoint *c, const mfr_config *cfg, const mfr_dataset *ds,
                        const mfr_ratings *train, const char *spec, mfr_trainer **tr, mfr_error *err)
{
    if (!g_on) return mfr_trainer_resume(c, cfg, ds, train, spec, tr, err);
    int rc = mfr_mpi_trainer_resume(c, cfg, ds, train, spec, MPI_COMM_WORLD, &g_mt, err);
    *tr = mfr_mpi_trainer_part(g_mt);
    return rc;
}

int dist_trainer_read(const mfr_checkpoint *c, const mfr_config *cfg, const char *dir, const char *spec,
                      uint64_t seed, mfr_trainer **tr, mfr_error *err)
{
    *tr = NULL;
    if (!g_on) return MFR_ERR_UNSUPPORTED;
    int rc = mfr_mpi_trainer_create_read(c, cfg, dir, data_load_options(), spec, seed, MPI_COMM_WORLD, &g_mt, err);
    *tr = mfr_mpi_trainer_part(g_mt);
    return rc;
}

const mfr_dataset *dist_dataset(void) { return mfr_mpi_trainer_dataset(g_mt); }
const char *dist_split_spec(void) { return mfr_mpi_trainer_split_spec(g_mt); }
int64_t dist_data_count(int which) { return mfr_mpi_trainer_data_count(g_mt, which); }

int dist_evaluate_own(int which, const mfr_model *m, mfr_metrics *out, mfr_error *err)
{
    return mfr_mpi_trainer_evaluate_own(g_mt, which, m, out, err);
}

void dist_trainer_free(mfr_trainer *tr)
{
    if (!g_mt) mfr_trainer_destroy(tr); /* else the MPI trainer's, freed by dist_end */
}

int dist_init_from(mfr_trainer *tr, const char *upath, const char *vpath, mfr_error *err)
{
    int32_t lo = 0, hi = 0;
    if (g_mt) mfr_mpi_trainer_user_range(g_mt, &lo, &hi);
    int64_t ur = 0, uc = 0, vr = 0, vc = 0;
    float *U = NULL, *V = NULL;
    int rc = g_mt ? mfr_npy_read_f32_rows(upath, lo, hi, &ur, &uc, &U, err) : mfr_npy_read_f32(upath, &ur, &uc, &U, err);
    if (rc == MFR_OK) rc = mfr_npy_read_f32(vpath, &vr, &vc, &V, err);
    if (rc == MFR_OK)
        rc = g_mt ? mfr_mpi_trainer_set_factors_rows(g_mt, U, ur, uc, V, vr, vc, err)
                  : mfr_trainer_set_factors(tr, U, ur, uc, V, vr, vc, err);
    mfr_free(U);
    mfr_free(V);
    return rc;
}

int dist_step(mfr_trainer *tr, double *loss, mfr_error *err)
{
    return g_mt ? mfr_mpi_trainer_step(g_mt, loss, err) : mfr_trainer_step(tr, loss, err);
}

int dist_data_mse(mfr_trainer *tr, const mfr_model *m, double *mse, mfr_error *err)
{
    return g_mt ? mfr_mpi_trainer_data_mse(g_mt, m, mse, err) : mfr_trainer_data_mse(tr, m, mse, err);
}

int dist_gather(void)
{
    mfr_error err = {0};
    if (g_mt && mfr_mpi_trainer_gather(g_mt, &err) != MFR_OK) return lib_error(&err);
    return EXIT_OK;
}

const mfr_model *dist_model(const mfr_trainer *tr)
{
    return g_mt ? mfr_mpi_trainer_model(g_mt) : mfr_trainer_model(tr);
}

int dist_trainer_evaluate(const mfr_trainer *tr, const mfr_ratings *r, mfr_metrics *out, mfr_error *err)
{
    /* the same sums for any thread count: the whole model's are one process's */
    return g_mt ? mfr_model_evaluate(mfr_mpi_trainer_model(g_mt), r, out, err) : mfr_trainer_evaluate(tr, r, out, err);
}

int dist_gather_model(const mfr_model *m, mfr_model **whole)
{
    mfr_error err = {0};
    *whole = NULL;
    if (g_mt && mfr_mpi_trainer_gather_model(g_mt, m, whole, &err) != MFR_OK) return lib_error(&err);
    return EXIT_OK;
}

int dist_checkpoint_load(const char *path, mfr_checkpoint **c, mfr_error *err)
{
    return g_on ? mfr_mpi_checkpoint_load(path, MPI_COMM_WORLD, c, err) : mfr_checkpoint_load(path, c, err);
}

int dist_part_best(const mfr_checkpoint *c, mfr_model **out, mfr_error *err)
{
    if (g_mt) return mfr_mpi_trainer_part_best(g_mt, c, out, err);
    mfr_run_state run;
    *out = NULL;
    int rc = mfr_checkpoint_run(c, &run, err);
    return rc != MFR_OK || !run.best ? rc : mfr_model_copy(run.best, out, err);
}

int dist_save_checkpoint(const mfr_trainer *tr, const mfr_run_state *run, const char *path, mfr_error *err)
{
    return g_mt ? mfr_mpi_trainer_save_checkpoint(g_mt, run, path, err)
                : mfr_trainer_save_checkpoint(tr, run, path, err);
}

int dist_evaluate(const mfr_model *model, const mfr_ratings *r, mfr_metrics *out, mfr_error *err)
{
    return g_mt ? mfr_mpi_trainer_evaluate(g_mt, r, out, err) : mfr_model_evaluate(model, r, out, err);
}

int dist_same_status(int rc)
{
    if (!g_on) return rc;
    int all = rc;
    if (MPI_Allreduce(&rc, &all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS)
        return runtime_error("MPI: the ranks could not agree on rank 0's checks (MPI_Allreduce failed)");
    return all;
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

/* This process's resident set now, in MiB (-1: unknown). */
static double rss_now(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = -1, resident = -1;
    if (f && fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
    if (f) fclose(f);
    return resident < 0 ? -1.0 : (double)resident * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

/* Rank 0 prints (when `print`) every rank's resident set after the epochs
 * and its peak so far: each holds its users only, rank 0 the whole model
 * too; the peak may come from loading and splitting the whole data
 * (docs/MPI.md). Collective. */
static void report_rss(bool print)
{
    struct rusage ru;
    double mine[2] = {rss_now(), getrusage(RUSAGE_SELF, &ru) == 0 ? (double)ru.ru_maxrss / 1024.0 : -1.0};
    if (g_rank != 0) {
        MPI_Send(mine, 2, MPI_DOUBLE, 0, 7, MPI_COMM_WORLD);
        return;
    }
    if (print) printf("mpi: RSS per rank after the epochs, now/peak (MiB): %.1f/%.1f", mine[0], mine[1]);
    for (int r = 1; r < g_size; r++) {
        if (MPI_Recv(mine, 2, MPI_DOUBLE, r, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE) != MPI_SUCCESS)
            mine[0] = mine[1] = -1.0;
        if (print) printf(" %.1f/%.1f", mine[0], mine[1]);
    }
    if (print) putchar('\n');
}

/* Rank 0 prints how many ratings each rank read (which 3, per-rank reading
 * only) or how many users' rows of the resumed checkpoint (which 4), of
 * `of` (docs/MPI.md). Collective. */
static void report_read(bool print, int which, const char *what, long long of)
{
    long long mine = (long long)mfr_mpi_trainer_data_count(g_mt, which), r_n;
    if (mine < 0) return; /* the same on every rank: nothing per rank to say */
    if (g_rank != 0) {
        MPI_Send(&mine, 1, MPI_LONG_LONG, 0, 8, MPI_COMM_WORLD);
        return;
    }
    if (print) printf("mpi: %s read per rank (of %lld):", what, of);
    if (print) printf(" %lld", mine);
    for (int r = 1; r < g_size; r++) {
        if (MPI_Recv(&r_n, 1, MPI_LONG_LONG, r, 8, MPI_COMM_WORLD, MPI_STATUS_IGNORE) != MPI_SUCCESS) r_n = -1;
        if (print) printf(" %lld", r_n);
    }
    if (print) putchar('\n');
}

void dist_report(bool print, int64_t epochs, double train_seconds)
{
    if (!g_mt || epochs < 1) return;
    report_rss(print);
    report_read(print, 3, "ratings", (long long)mfr_mpi_trainer_data_count(g_mt, 0));
    int32_t u_lo, u_hi; /* the users: every rank's count summed */
    mfr_mpi_trainer_user_range(g_mt, &u_lo, &u_hi);
    long long n_users = 0, part = u_hi - u_lo;
    MPI_Allreduce(&part, &n_users, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
    report_read(print, 4, "checkpoint user rows", n_users);
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

/* Seconds a rank that failed waits at the end for the others before it
 * aborts the job. Ranks that fail alike (a bad flag, a refused run, a
 * verdict rank 0 broadcast: every rank checks the same) get there within
 * moments of each other; a rank that failed alone finds the others
 * waiting in a collective, never here. */
enum { END_WAIT_S = 5 };

/* Every rank's status at the end, on g_end: true when every rank got here
 * (*failed: the largest status of a rank that failed, 0 if none did). A
 * rank that failed waits at most END_WAIT_S seconds; one that did not
 * waits as MPI_Finalize would (a rank that fails later aborts the job). */
static bool end_agree(int rc, int *failed)
{
    int mine = rc != EXIT_OK && rc != EXIT_INTERRUPTED ? rc : 0, done = 0;
    MPI_Request req;
    if (MPI_Iallreduce(&mine, failed, 1, MPI_INT, MPI_MAX, g_end, &req) != MPI_SUCCESS) return false;
    if (!mine) return MPI_Wait(&req, MPI_STATUS_IGNORE) == MPI_SUCCESS;
    const double until = MPI_Wtime() + END_WAIT_S;
    const struct timespec ms = {0, 1000000};
    while (MPI_Test(&req, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done && MPI_Wtime() < until)
        nanosleep(&ms, NULL);
    return done != 0;
}

int dist_end(int rc)
{
    mfr_mpi_trainer_destroy(g_mt);
    g_mt = NULL;
    if (!g_on) return rc;
    g_on = false;
    fflush(stdout);
    int failed = 0;
    if (!end_agree(rc, &failed)) { /* a rank failed alone: the others may wait on it forever */
        cli_errors_release(NULL);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, rc); /* ends every rank: none waits on this one */
    }
    /* every rank is here: one copy of each message, rank 0's first (a
     * rank prints only its lines that rank 0 did not), one status for all */
    char first[CLI_ERRORS_MAX];
    snprintf(first, sizeof first, "%s", cli_errors());
    cli_errors_release(MPI_Bcast(first, (int)sizeof first, MPI_CHAR, 0, g_end) == MPI_SUCCESS ? first : NULL);
    cli_errors_hold(false);
    MPI_Comm_free(&g_end);
    MPI_Finalize();
    return failed ? failed : rc;
}
