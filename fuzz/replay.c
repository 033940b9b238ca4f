/*
 * replay.c — main() for the fuzz targets in builds without libFuzzer: runs
 * LLVMFuzzerTestOneInput once on every regular file of each directory (or
 * file) named on the command line, in name order, so that `meson test`
 * replays the committed seed and regression corpora under any compiler and
 * sanitizer. A crash or sanitizer report fails the test; the file being run
 * is printed first so a failure names its input.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    int bad = !buf || ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "%s: cannot read\n", path);
        free(buf);
        return 1;
    }
    fprintf(stderr, "replay %s (%zu bytes)\n", path, n);
    /* An exact-size copy, so that ASan catches a read past the input. */
    uint8_t *in = malloc(n ? n : 1);
    if (in && n) memcpy(in, buf, n);
    free(buf);
    LLVMFuzzerTestOneInput(in, n);
    free(in);
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        return 1;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char **grown = realloc(names, (n + 1) * sizeof *names);
        if (!grown) break;
        names = grown;
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_names);
    int bad = 0;
    for (size_t k = 0; k < n; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) bad |= run_file(path);
        free(names[k]);
    }
    free(names);
    return bad;
}

int main(int argc, char **argv)
{
    int bad = 0, runs = 0;
    for (int k = 1; k < argc; k++) {
        struct stat st;
        if (stat(argv[k], &st) != 0) {
            perror(argv[k]);
            bad = 1;
        } else {
            bad |= S_ISDIR(st.st_mode) ? run_dir(argv[k]) : run_file(argv[k]);
            runs++;
        }
    }
    if (runs == 0) fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
    return bad || runs == 0;
}
