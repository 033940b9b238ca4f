/*
 * mpi_pingpong.c — the link costs the MPI cost model is fitted to
 * (docs/PERFORMANCE.md, "Training over MPI: cost model"): the one-way time
 * of a message of n bytes between ranks 0 and 1 (half a ping-pong round
 * trip), for n from 8 B to 64 MiB, as t(n) = alpha + beta * n, and the
 * time of an MPI_Bcast of n bytes from the last rank to all, as the ring's
 * final broadcast takes. Built only with -Dmpi=enabled; run by hand:
 *
 *   mpirun -np 2 bldm/benchmarks/mpi_pingpong [REPEATS]
 *
 * Rank 0 prints one CSV line per size: op,ranks,bytes,median_us,min_us
 * (the median and the fastest of REPEATS timed exchanges after 3 untimed).
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One exchange of n bytes: ping-pong between 0 and 1 (one-way seconds),
 * or a broadcast from the last rank. */
static double once(char *buf, int n, int rank, int size, int bcast)
{
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    if (bcast) {
        MPI_Bcast(buf, n, MPI_BYTE, size - 1, MPI_COMM_WORLD);
    } else if (rank == 0) {
        MPI_Send(buf, n, MPI_BYTE, 1, 0, MPI_COMM_WORLD);
        MPI_Recv(buf, n, MPI_BYTE, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else if (rank == 1) {
        MPI_Recv(buf, n, MPI_BYTE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Send(buf, n, MPI_BYTE, 0, 0, MPI_COMM_WORLD);
    }
    double t = MPI_Wtime() - t0;
    double worst = t;
    /* a broadcast is over when the slowest rank has its copy */
    MPI_Allreduce(&t, &worst, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return bcast ? worst : worst / 2.0;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int reps = argc > 1 ? atoi(argv[1]) : 20;
    if (size < 2 || reps < 1) {
        if (rank == 0) fprintf(stderr, "usage: mpirun -np P (>= 2) mpi_pingpong [REPEATS >= 1]\n");
        MPI_Finalize();
        return 2;
    }
    const int max_n = 64 << 20;
    char *buf = malloc((size_t)max_n);
    double *t = malloc(sizeof(double) * (size_t)reps);
    if (!buf || !t) MPI_Abort(MPI_COMM_WORLD, 1);
    memset(buf, 1, (size_t)max_n);
    if (rank == 0) printf("op,ranks,bytes,median_us,min_us\n");
    for (int bcast = 0; bcast < 2; bcast++) {
        for (int n = 8; n <= max_n; n *= 4) {
            for (int r = 0; r < 3; r++) once(buf, n, rank, size, bcast);
            for (int r = 0; r < reps; r++) t[r] = once(buf, n, rank, size, bcast);
            qsort(t, (size_t)reps, sizeof *t, cmp_double);
            if (rank == 0)
                printf("%s,%d,%d,%.3f,%.3f\n", bcast ? "bcast" : "oneway", size, n, 1e6 * t[reps / 2],
                       1e6 * t[0]);
        }
    }
    free(buf);
    free(t);
    MPI_Finalize();
    return 0;
}
