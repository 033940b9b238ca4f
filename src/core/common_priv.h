/*
 * common_priv.h — helpers shared by every library file: error reporting,
 * checked size arithmetic, aligned allocation, assertions and hashing.
 */
#ifndef MFR_COMMON_PRIV_H
#define MFR_COMMON_PRIV_H

#include <locale.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

#include "mfrec.h"

/* Internal invariant check: prints the expression with file and line, then
 * aborts. Never used for user input. */
#define MFR_ASSERT(x)                                                           \
    do {                                                                        \
        if (!(x)) mfr_assert_fail(#x, __FILE__, __LINE__);                      \
    } while (0)

_Noreturn void mfr_assert_fail(const char *expr, const char *file, int line);

/* Fills err (when non-NULL) and returns status, so callers can write
 * `return mfr_seterr(err, MFR_ERR_PARSE, "%s:%d: ...", path, line);`. */
int mfr_seterr(mfr_error *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Formats one message and passes it to `log` (when non-NULL) with `user`
 * and `level` (enum mfr_log_level); messages longer than 511 bytes are
 * truncated. The library's only way to report a problem it works around. */
void mfr_log(mfr_log_fn log, void *user, int level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The "C" numeric locale for the calling thread only (uselocale), so that
 * numbers read and written by the library have a '.' whatever a host
 * program set with setlocale; begin is false (nothing switched) when the
 * locale cannot be made, and end restores the thread's locale. */
struct mfr_c_locale {
    locale_t c, old;
};
bool mfr_c_locale_begin(struct mfr_c_locale *l);
void mfr_c_locale_end(struct mfr_c_locale *l);

/* vsnprintf and snprintf in the "C" numeric locale: the library's messages
 * spell numbers as its flags and files do ("lr 1.5", not "lr 1,5" under a
 * host program's decimal comma). */
int mfr_vformat_c(char *buf, size_t size, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
int mfr_format_c(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Checked size arithmetic: return false on overflow. */
/* A size for messages, in buf (16 bytes are enough): "12.3 MiB", or
 * "512.0 KiB" or "900 bytes" below a MiB (a budget of 1K is not "0.0 MiB"). */
static inline const char *mfr_size_text(double bytes, char buf[16])
{
    if (bytes >= 1048576.0) mfr_format_c(buf, 16, "%.1f MiB", bytes / 1048576.0);
    else if (bytes >= 1024.0) mfr_format_c(buf, 16, "%.1f KiB", bytes / 1024.0);
    else mfr_format_c(buf, 16, "%.0f byte%s", bytes, bytes == 1.0 ? "" : "s");
    return buf;
}

static inline bool mfr_mul_size(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool mfr_add_size(size_t a, size_t b, size_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

/* 64-byte aligned allocation (zeroed through mfr_zero_parallel), freed
 * with mfr_aligned_free. */
void *mfr_aligned_calloc(size_t bytes);

/* The thread count of the library's setup work (load, split, CSR, model
 * evaluation, zeroing) for calls that take none: mfr_set_threads's value
 * on this thread, else the OpenMP default (setup_threads.c). */
int mfr_setup_threads(void);

/* MFR_OK when n is a thread count a call may be given (0..MFR_MAX_THREADS,
 * 0 meaning its default), else MFR_ERR_INVALID naming fn and n. */
int mfr_check_threads(const char *fn, int64_t n, mfr_error *err);

/* OMP_NUM_THREADS (else the cores), capped by OMP_THREAD_LIMIT: the count
 * a call given none runs on, so that it reports the threads it has. */
int mfr_default_threads(void);

/* Once per process for each larger team: starts OpenMP's team of n threads
 * with each worker moved to its own CPU where the scheduler had stacked it
 * on the master's (setup_threads.c says why). mfr_setup_threads and the
 * trainers call it before their first parallel region. */
void mfr_threads_spread(int32_t n);

/* memset(p, 0, n); a large block outside a parallel region is cleared on
 * several threads: the count mfr_zero_threads_set gave on this thread, else
 * mfr_setup_threads(). */
void mfr_zero_parallel(void *p, size_t n);

/* A call that takes its own thread count (a trainer) sets it for the
 * zeroing of what it allocates on this thread, and restores the returned
 * previous value after (n <= 0: none). */
int32_t mfr_zero_threads_set(int32_t n);
/* Every allocation of the library goes through these (free() releases
 * them), so that a test can make the Nth one fail: mfr_fault_alloc_at(n)
 * with n > 0 fails exactly the nth allocation from now (0: none);
 * mfr_fault_alloc_count() is how many were made since. Process-wide and
 * for tests only (tests/test_faults.c). */
void *mfr_malloc(size_t n);
/* Releases n bytes at p of a file mapping of `whole` bytes (read-only, or
 * shared: its written pages stay in the page cache), when
 * the mapping is at least MFR_RELEASE_MIN_BYTES: below that it stays
 * resident, since each later pass would fault its pages in again (on this
 * project's VM a fault costs microseconds; docs/PERFORMANCE.md). */
#define MFR_RELEASE_MIN_BYTES ((size_t)1 << 30)
void mfr_release_mapped(const void *p, size_t n, size_t whole);

/* The counterpart for a pass that reads such a mapping again after
 * releasing it: maps the file pages of [p, p + n) in one call instead of
 * a fault per 64 KiB (fault-around), ~60,000 faults in a 100M run's
 * split and CSR passes. Same threshold; advice only (kernels before 5.14
 * refuse it and the reads fault as before). */
void mfr_populate_mapped(const void *p, size_t n, size_t whole);
void *mfr_calloc(size_t count, size_t size);
void *mfr_realloc(void *p, size_t n);
char *mfr_strdup(const char *s);
char *mfr_strndup(const char *s, size_t n);
void mfr_fault_alloc_at(int64_t n);
int64_t mfr_fault_alloc_count(void);
void mfr_aligned_free(void *p);

/* Embedding rows are padded to this many floats (one AVX2 vector). */
#define MFR_LANES 8
static inline int32_t mfr_pad_k(int32_t k)
{
    return (k + MFR_LANES - 1) / MFR_LANES * MFR_LANES;
}

/* The bias lanes (cfg.bias) after a row's k embedding lanes: a user row is
 * [.., b_u, 1] and an item row [.., 1, b_i], so that the dot product over
 * the row adds b_u + b_i. The constant lanes stay exactly 1. */
static inline int32_t mfr_lane_user_bias(int32_t k) { return k; }
static inline int32_t mfr_lane_user_one(int32_t k) { return k + 1; }
static inline int32_t mfr_lane_item_one(int32_t k) { return k; }
static inline int32_t mfr_lane_item_bias(int32_t k) { return k + 1; }

/* FNV-1a 64-bit, streaming: start with MFR_FNV_INIT. */
#define MFR_FNV_INIT UINT64_C(0xcbf29ce484222325)
uint64_t mfr_fnv1a(uint64_t h, const void *data, size_t n);

/* A fast 64-bit hash (about 32 bytes per five cycles, against FNV-1a's byte
 * per four): four independent lanes over little-endian 64-bit words, each
 * step a bijection of its lane, then the tail bytes FNV-style and a final
 * mix (docs/MODEL_FORMAT.md, "file checksum", gives it exactly). Streaming:
 * the result depends on the bytes only, not on how they were split into
 * mfr_hash_update calls. The model file's checksum from format version 2,
 * and the dataset cache's. */
struct mfr_hash {
    uint64_t lane[4];
    uint64_t n;              /* bytes hashed so far */
    unsigned char tail[32];  /* the n % 32 bytes not yet in a full word group */
};
void mfr_hash_init(struct mfr_hash *h, uint64_t seed);
void mfr_hash_update(struct mfr_hash *h, const void *data, size_t n);
uint64_t mfr_hash_final(const struct mfr_hash *h);
uint64_t mfr_hash64(uint64_t seed, const void *data, size_t n); /* init, update, final */

/* Physical memory of the machine in bytes (0 when unknown). */
uint64_t mfr_physical_memory(void);

/* Writes a file atomically: the callback writes into a temporary file in the
 * same directory, which is then flushed, fsync'ed and renamed onto `path`,
 * and the directory is fsync'ed so that the rename survives a crash.
 * On any failure the temporary file is removed and `path` is untouched. */
typedef int (*mfr_write_fn)(FILE *f, void *ctx, mfr_error *err);
int mfr_write_atomic(const char *path, mfr_write_fn fn, void *ctx, mfr_error *err);
/* Tells the program's observer (mfr_set_map_observer) that an input file
 * is mapped at addr (path), or no longer (path NULL). */
void mfr_map_observe(const char *path, const void *addr, size_t len);
/* The tests' hook MFREC_TEST_MAP_WAIT=MS: waits after a mapping until fd's size changes. */
void mfr_test_map_wait(int fd, off_t mapped_size);
/* The same, the temporary file (and so the file) of permission bits
 * mode (& 0777) from its creation on, whatever the umask or a replaced
 * file's bits. */
int mfr_write_atomic_mode(const char *path, mode_t mode, mfr_write_fn fn, void *ctx, mfr_error *err);

/* The directory part of path (malloc'd; "." without a slash), or NULL. */
char *mfr_parent_dir(const char *path);
/* Whether file name `name` is one of the temporary names of a file named
 * `base` (base ".tmp" and six letters or digits), which a write of base
 * removes once stale (mfr_write_atomic). */
bool mfr_is_tmp_name(const char *name, const char *base);
/* The same, fn told the temporary file's name (other processes write parts
 * of it by name before fn returns: src/mpi/mpi_load.c). */
typedef int (*mfr_write_tmp_fn)(FILE *f, const char *tmp, void *ctx, mfr_error *err);
int mfr_write_atomic_tmp(const char *path, mfr_write_tmp_fn fn, void *ctx, mfr_error *err);
/* Opens path for reading into *fd, refusing anything but a regular file
 * before a byte is read: the open itself is non-blocking, since a FIFO
 * would block it (or the reads) forever and a device such as /dev/zero
 * never ends. MFR_OK, or MFR_ERR_IO naming the path (errno is ENOENT when
 * the file does not exist). */
int mfr_open_regular(const char *path, int *fd, mfr_error *err);
/* What a file of mode m (st_mode, from stat or lstat) is, for a message:
 * "a directory", "a symbolic link", "a FIFO", "a device", "a socket", "a
 * regular file", or "a special file". */
const char *mfr_file_kind(mode_t m);

/* Edit distance (insertions, deletions, substitutions of bytes) between
 * a[0..an) and b[0..bn), or with `part` between a and the closest part of
 * b; row holds bn + 1 ints. */
int mfr_edit_distance(const char *a, size_t an, const char *b, size_t bn, bool part, int *row);

#endif
