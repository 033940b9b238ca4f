/*
 * stop_signal.c — SIGINT and SIGTERM during training (`train`, both model
 * kinds; docs/CHECKPOINTS.md): the first lets the current epoch finish so
 * that the command can write a checkpoint and exit with EXIT_INTERRUPTED;
 * a second exits at once, except during a save, which it lets complete.
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

volatile sig_atomic_t g_stop_signal;
/* Whether a file is being saved; a second signal received during it. */
static volatile sig_atomic_t g_saving, g_exit_after_save;

/* Runs on any thread (OpenMP's workers included, so masking signals in
 * the main thread would not defer it): it only sets flags, or ends the
 * process at once on a second signal when no save is under way. */
static void on_stop_signal(int sig)
{
    if (!g_stop_signal)
        g_stop_signal = sig;
    else if (g_saving)
        g_exit_after_save = sig; /* the save completes, then we exit */
    else
        _exit(128 + sig); /* the second: at once, nothing written */
}

void stop_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

void stop_signals_saving(bool begin)
{
    g_saving = begin;
    if (!begin && g_exit_after_save) _exit(128 + g_exit_after_save);
}

const char *stop_signal_name(void)
{
    return g_stop_signal == SIGINT ? "SIGINT" : "SIGTERM";
}
