/*
 * users_cache.c — the user-ordered cache written two ways, for
 * tests/mpi/run.sh (docs/MPI.md, "Each rank parsing its slice of a text
 * file"): `users_cache ranks DATA OUT` under mpirun, every rank parsing
 * its slice and writing its part (mfr_mpi_users_cache_build); `users_cache
 * whole DATA OUT` in one process, from the whole dataset
 * (mfr_users_cache_write, what rank 0 wrote before). DATA: a dataset
 * directory or a rating file, default load options. A failure prints
 * "error: MESSAGE" (ranks: "rank R: error: MESSAGE", on every rank) and
 * exits 1.
 */
#include <stdio.h>
#include <string.h>

#include "mpi_priv.h"
#include "users_cache_priv.h"

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[1], "ranks") != 0 && strcmp(argv[1], "whole") != 0)) {
        fprintf(stderr, "usage: users_cache ranks|whole DATA OUT\n");
        return 2;
    }
    const bool ranks = !strcmp(argv[1], "ranks");
    int rank = 0;
    if (ranks) {
        MPI_Init(&argc, &argv);
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    }
    mfr_error err = {0};
    struct mfr_load_id id;
    int rc = mfr_dataset_load_id(argv[2], NULL, &id, &err);
    if (rc == MFR_OK && ranks) {
        rc = mfr_mpi_users_cache_build(MPI_COMM_WORLD, argv[2], NULL, &id, argv[3], &err);
    } else if (rc == MFR_OK) {
        mfr_load_options o;
        mfr_load_options_default(&o);
        o.cache = MFR_CACHE_NEVER;
        mfr_dataset *ds = NULL;
        rc = mfr_dataset_load(argv[2], &o, &ds, &err);
        if (rc == MFR_OK) rc = mfr_users_cache_write(argv[3], &id.key, ds, &err);
        mfr_dataset_destroy(ds);
    }
    mfr_load_id_free(&id); /* (zeroed when it failed) */
    if (rc != MFR_OK && ranks) fprintf(stderr, "rank %d: error: %s\n", rank, err.message);
    else if (rc != MFR_OK) fprintf(stderr, "error: %s\n", err.message);
    if (ranks) MPI_Finalize();
    return rc == MFR_OK ? 0 : 1;
}
