/*
 * fuzz.h — what the fuzz targets share (fuzz_util.c): a scratch directory,
 * writing the fuzz input to a file there, and the small fixtures (a
 * synthetic ML-100K dataset, a model trained on it) that a target needs
 * beside the file it fuzzes.
 *
 * Every target defines LLVMFuzzerTestOneInput. Built with clang's
 * -fsanitize=fuzzer (meson -Dfuzz=enabled) it is a libFuzzer binary; built
 * with any compiler it links replay.c instead, whose main() runs the input
 * once per file of the directories it is given: `meson test` replays the
 * committed seed and regression corpora that way in every build.
 *
 * The library's parsers read paths, so the targets write each input to a
 * file in a per-process scratch directory (under /dev/shm when it exists,
 * to keep disk writes out of the loop). Nothing here prints on success.
 */
#ifndef MFR_FUZZ_H
#define MFR_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mfrec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The per-process scratch directory (created on first use, removed at
 * exit). Aborts when it cannot be made: a broken fixture, not a finding. */
const char *fz_dir(void);
/* dir/name in a static buffer per slot (slot 0..3), for fixed names. */
const char *fz_path(int slot, const char *dir, const char *name);
/* Writes data[0..size) to `path`, replacing it; aborts on failure. */
void fz_write(const char *path, const void *data, size_t size);
/* Removes `path` if it exists. */
void fz_unlink(const char *path);

/* A tiny synthetic ML-100K dataset (u.data, u.item, u.user, u.genre,
 * u.occupation) written once into `dir` (made if missing). */
void fz_fixture_dataset(const char *dir);
/* A trainer of a small model on the dataset in `dir` (fz_fixture_dataset),
 * with biases and implicit feedback, after two epochs; *ds receives the
 * dataset (the caller destroys both). */
mfr_trainer *fz_fixture_trainer(const char *dir, mfr_dataset **ds);
/* fz_fixture_trainer's model, saved to `path`. */
void fz_fixture_model(const char *dir, const char *path);
/* Load options that never touch a cache (fuzzing must not write one). */
mfr_load_options fz_load_options(int32_t format);

/*
 * A set of files in one directory, each with fixed contents, of which one
 * at a time is replaced by the fuzz input: the loaders read a rating file
 * and its metadata files together, so each is fuzzed beside valid others.
 */
struct fz_fileset {
    const char *dir;
    int n;
    const char *names[6];
    char *fixed[6]; /* malloc'd copies */
    size_t fixed_len[6];
    int replaced; /* index whose file holds fuzz input, -1 when none */
};
/* Writes files names[k] with contents text[k] (NUL-terminated) into dir. */
void fz_fileset_init(struct fz_fileset *s, const char *dir, int n, const char *const *names,
                     const char *const *text);
/* The same, taking the contents from the files already in dir. */
void fz_fileset_adopt(struct fz_fileset *s, const char *dir, int n, const char *const *names);
/* Frees the copies (the files stay). */
void fz_fileset_free(struct fz_fileset *s);
/* Restores the file replaced last, then writes data to file `k`. */
void fz_fileset_put(struct fz_fileset *s, int k, const uint8_t *data, size_t size);

/* Hand-written fixed files of the ML-1M ("::") and CSV formats, small and
 * valid, NULL-terminated lists in the order of their names. */
extern const char *const fz_ml1m_names[];
extern const char *const fz_ml1m_text[];
extern const char *const fz_csv_names[];
extern const char *const fz_csv_text[];

/* Reads dataset fields that point into its storage (titles, names), so
 * that ASan sees any bad pointer a parser left behind. */
void fz_touch_dataset(const mfr_dataset *ds);

/* With MFR_FUZZ_VERBOSE set, prints the outcome of one input to stderr
 * (to check what a corpus reaches); silent otherwise. */
void fz_report(const char *what, int rc, const mfr_error *err);

/* Where targets store what they read, so that the reads are not
 * optimized away. */
extern volatile double fz_sink;

/* Aborts with `what` and the library's message: fixtures must work. */
_Noreturn void fz_fail(const char *what, const mfr_error *err);

#endif
