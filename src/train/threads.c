/*
 * threads.c — the default thread count (cfg.n_threads = 0): measured, not
 * assumed. A step's result is the same for any thread count (the
 * determinism contract), so the trainer may change it between steps; it
 * runs the candidates (1 thread and all of them) on alternating early
 * steps, keeps the faster one, and tries the other again after
 * MFR_THREADS_REPROBE steps, or 32 times as many steps as the other is
 * slower (so that a try costs about 3% of the time), twice as many after
 * each try that confirms the choice, so that small data (where the barriers cost
 * more than the second core gives) and a core taken by another process
 * (where every barrier waits for the descheduled thread) fall back to one
 * thread, and the threads come back when they pay again.
 */
#include <omp.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "train_priv.h"

/* Steps between two tries of the count not in use: at least, and at most. */
#define MFR_THREADS_REPROBE 32
#define MFR_THREADS_REPROBE_MAX (INT64_C(1) << 20)
/* Step 1 runs all threads, step 2 one (step 0, one thread, first-touch of
 * every buffer, is not timed): the many only once, as they may be the slow
 * ones (with the other core busy, an ML-100K step took 120-150 ms on two
 * threads against 0.6 ms on one). */
#define MFR_THREADS_PROBE 2

void mfr_threads_init(mfr_trainer *tr, int32_t requested)
{
    struct mfr_thread_tuner *t = &tr->tuner;
    *t = (struct mfr_thread_tuner){0};
    t->max = requested > 0 ? requested : mfr_default_threads();
    t->on = requested == 0 && t->max > 1;
    t->est[0] = t->est[1] = -1.0;
    t->interval = MFR_THREADS_REPROBE;
    t->next_try = -1; /* set after the probes */
    tr->n_threads = t->max;
}

/* Candidate c: 0 is one thread, 1 all of them. */
static int32_t count_of(const struct mfr_thread_tuner *t, int c) { return c ? t->max : 1; }

/* Steps to the next try: the interval, and at least 32 x the slowdown of
 * the count not in use. */
static int64_t spacing(const struct mfr_thread_tuner *t)
{
    const double a = t->est[0], b = t->est[1];
    const double ratio = a > 0.0 && b > 0.0 ? (a > b ? a / b : b / a) : 1.0;
    double n = 32.0 * ratio;
    if (n < (double)t->interval) n = (double)t->interval;
    if (n > (double)MFR_THREADS_REPROBE_MAX) n = (double)MFR_THREADS_REPROBE_MAX;
    return (int64_t)n;
}

int32_t mfr_threads_pick(mfr_trainer *tr)
{
    struct mfr_thread_tuner *t = &tr->tuner;
    if (!t->on) return tr->n_threads;
    const int64_t s = t->steps;
    int c;
    if (s <= MFR_THREADS_PROBE) c = (int)(s == 1);
    else c = t->est[0] < t->est[1] ? 0 : 1; /* the faster one */
    if (s == t->next_try) c = !c; /* try the other */
    t->cur = c;
    tr->n_threads = count_of(t, c);
    return tr->n_threads;
}

void mfr_threads_done(mfr_trainer *tr, double seconds)
{
    struct mfr_thread_tuner *t = &tr->tuner;
    if (!t->on) return;
    const int64_t s = t->steps++;
    double *e = &t->est[t->cur];
    if (s == 0) return;
    if (*e < 0.0 || s <= MFR_THREADS_PROBE) {
        *e = *e < 0.0 || seconds < *e ? seconds : *e; /* probes: the best */
        if (s == MFR_THREADS_PROBE) t->next_try = s + spacing(t);
        return;
    }
    if (s == t->next_try) { /* a try of the other */
        *e = 0.5 * *e + 0.5 * seconds;
        const bool confirmed = t->est[!t->cur] <= *e;
        t->interval = confirmed ? 2 * t->interval : MFR_THREADS_REPROBE;
        t->next_try = s + spacing(t);
    } else {
        *e = 0.8 * *e + 0.2 * seconds;
    }
}

double mfr_threads_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
