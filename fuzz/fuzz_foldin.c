/*
 * fuzz_foldin.c — the fold-in input of `mfrec recommend`: the --rate list
 * ("TITLE=R,TITLE=R,...") and the --ratings-file lines ("TITLE=RATING" or
 * "MOVIE_ID<TAB>RATING"), parsed by tools/cmd_recommend.c. The command runs
 * whole, on a small synthetic dataset and a model trained on it, with a
 * fixed command line: only the fold-in text comes from the input.
 *
 * Input: byte 0 bit 0 picks --rate (the rest, up to a NUL byte, is the
 * list) or --ratings-file (the rest is the file); bit 1 adds --lambda 0.1,
 * bit 2 --measure cosine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tools/cli.h"
#include "fuzz.h"

static char *g_data, *g_model;

static void setup(void)
{
    char *data = strdup(fz_path(1, fz_dir(), "data"));
    char *model = strdup(fz_path(1, fz_dir(), "model.mfr"));
    if (!data || !model) fz_fail("strdup", NULL);
    fz_fixture_dataset(data);
    fz_fixture_model(data, model);
    g_data = data;
    g_model = model;
    /* The recommendations themselves are not what is checked here. */
    if (!freopen("/dev/null", "w", stdout)) fz_fail("freopen", NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_data) setup();
    if (size < 1) return 0;
    char *text = malloc(size);
    if (!text) return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    /* argv strings are mutable by contract: copies, not literals */
    static char f_model[] = "--model", f_data[] = "--data", f_k[] = "-k", v_k[] = "3",
                f_rfile[] = "--ratings-file", f_rate[] = "--rate", f_lambda[] = "--lambda",
                v_lambda[] = "0.1", f_measure[] = "--measure", v_measure[] = "cosine";
    static char rfile[512];
    snprintf(rfile, sizeof rfile, "%s", fz_path(2, fz_dir(), "ratings.txt"));
    char *argv[16] = {f_model, g_model, f_data, g_data, f_k, v_k};
    int argc = 6;
    if (data[0] & 1) {
        fz_write(rfile, data + 1, size - 1);
        argv[argc++] = f_rfile;
        argv[argc++] = rfile;
    } else {
        argv[argc++] = f_rate;
        argv[argc++] = text;
    }
    if (data[0] & 2) argv[argc++] = f_lambda, argv[argc++] = v_lambda;
    if (data[0] & 4) argv[argc++] = f_measure, argv[argc++] = v_measure;
    argv[argc] = NULL;
    int rc = cmd_recommend(argc, argv);
    fz_report("recommend", rc, NULL);
    if (rc != EXIT_OK && rc != EXIT_RUNTIME && rc != EXIT_USAGE) abort();
    free(text);
    return 0;
}
