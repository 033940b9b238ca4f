/*
 * fuzz_cli.c — the command-line parser of every `mfrec` command: the flag
 * tables and their value parsers (tools/cli.c), the training flags
 * (tools/train_opts.c) and each command's own table. The tools' sources are
 * compiled into this target with -DMFR_CLI_PARSE_ONLY, so cli_start
 * returns before a command runs: nothing is loaded or written.
 *
 * Input: byte 0 picks the command (modulo their number); the rest is its
 * arguments, separated by NUL bytes (at most 64).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tools/cli.h"
#include "fuzz.h"

static const struct {
    const char *name;
    int (*run)(int, char **);
} commands[] = {
    {"train", cmd_train},     {"eval", cmd_eval},     {"split", cmd_split},
    {"synth", cmd_synth},     {"recommend", cmd_recommend}, {"similar", cmd_similar},
    {"norms", cmd_norms},     {"stats", cmd_stats},   {"project", cmd_project},
    {"export", cmd_export},   {"sweep", cmd_sweep},
};
#define N_COMMANDS (sizeof commands / sizeof *commands)
#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool quiet;
    if (!quiet) { /* --help and usage errors: not what is being checked */
        quiet = freopen("/dev/null", "w", stdout) != NULL;
    }
    if (size < 1) return 0;
    size_t n = size - 1;
    char *text = malloc(n + 1); /* the arguments, each NUL-terminated */
    if (!text) return 0;
    memcpy(text, data + 1, n);
    text[n] = '\0';
    char *argv[MAX_ARGS + 1];
    int argc = 0;
    for (size_t off = 0; off < n && argc < MAX_ARGS; off += strlen(text + off) + 1)
        argv[argc++] = text + off;
    argv[argc] = NULL;
    int rc = commands[data[0] % N_COMMANDS].run(argc, argv);
    fz_report(commands[data[0] % N_COMMANDS].name, rc, NULL);
    if (rc != EXIT_OK && rc != EXIT_USAGE) abort(); /* parsing alone never fails otherwise */
    free(text);
    return 0;
}
