/*
 * common.c — status names, error formatting, aligned allocation, hashing
 * and atomic file writes used throughout the library.
 */
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bytes_priv.h"
#include "common_priv.h"
#include "rng_priv.h"

static const char *const status_names[] = {
    [0] = "ok",
    [1] = "invalid argument",
    [2] = "I/O error",
    [3] = "parse error",
    [4] = "out of memory",
    [5] = "too large",
    [6] = "corrupt model file",
    [7] = "training diverged",
    [8] = "mismatch",
    [9] = "unsupported",
    [10] = "not found",
    [11] = "wrong call order",
    [12] = "not enough data",
};

const char *mfr_status_str(int status)
{
    if (status > 0 || status < -(int)(sizeof status_names / sizeof *status_names - 1))
        return "unknown status";
    return status_names[-status];
}

void mfr_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "mfrec: internal error: assertion `%s' failed at %s:%d\n", expr, file,
            line);
    abort();
}

/* The bytes of a message over the buffer that are kept from its end: the
 * cause after a long path ("...: File too large"), and the path's last
 * part, the file's name. */
#define MESSAGE_TAIL_KEPT 200

bool mfr_c_locale_begin(struct mfr_c_locale *l)
{
    l->c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (l->c == (locale_t)0) return false;
    l->old = uselocale(l->c);
    return true;
}

void mfr_c_locale_end(struct mfr_c_locale *l)
{
    if (l->c == (locale_t)0) return;
    uselocale(l->old);
    freelocale(l->c);
    l->c = (locale_t)0;
}

/* not inlined: gcc -O3 with UBSan's null checks took fmt for a possible NULL in
 * its callers (-Werror=format-truncation) */
__attribute__((noinline)) int mfr_vformat_c(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct mfr_c_locale l;
    const bool c = mfr_c_locale_begin(&l);
    const int n = vsnprintf(buf, size, fmt, ap);
    if (c) mfr_c_locale_end(&l);
    return n;
}

int mfr_format_c(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const int n = mfr_vformat_c(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

int mfr_seterr(mfr_error *err, int status, const char *fmt, ...)
{
    if (!err) return status;
    err->status = status;
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    const int n = mfr_vformat_c(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    /* A message over the buffer (a path of hundreds of bytes) keeps its
     * start and its end: cut at the end, it lost the cause and the file's
     * name. Plain malloc, outside the fault hook's count: without the
     * memory the message stays cut at the end. */
    char *whole = n > 0 && (size_t)n >= sizeof err->message ? malloc((size_t)n + 1) : NULL;
    if (whole) {
        mfr_vformat_c(whole, (size_t)n + 1, fmt, ap2);
        char cut[48]; /* its length with n bytes cut, then with those that are */
        size_t head = sizeof err->message - 1 - MESSAGE_TAIL_KEPT -
                      (size_t)snprintf(cut, sizeof cut, "... (%d bytes cut) ...", n);
        size_t tail = (size_t)n - MESSAGE_TAIL_KEPT;
        /* whole UTF-8 characters on both sides (a long title's) */
        while (head > 0 && ((unsigned char)whole[head] & 0xC0) == 0x80) head--;
        while (tail < (size_t)n && ((unsigned char)whole[tail] & 0xC0) == 0x80) tail++;
        const int c = snprintf(cut, sizeof cut, "... (%zu bytes cut) ...", tail - head);
        memcpy(err->message, whole, head);
        memcpy(err->message + head, cut, (size_t)c);
        memcpy(err->message + head + (size_t)c, whole + tail, (size_t)n - tail + 1);
        free(whole);
    }
    va_end(ap2);
    return status;
}

void mfr_log(mfr_log_fn log, void *user, int level, const char *fmt, ...)
{
    if (!log) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    mfr_vformat_c(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log(user, level, msg);
}

/* The allocation-failure hook. Integer atomics: allocations may happen on
 * several threads, and the count must stay exact. */
static _Atomic int64_t fault_at, fault_count;

void mfr_fault_alloc_at(int64_t n)
{
    atomic_store(&fault_count, 0);
    atomic_store(&fault_at, n);
}

int64_t mfr_fault_alloc_count(void) { return atomic_load(&fault_count); }

static bool fault_hit(void)
{
    if (atomic_load_explicit(&fault_at, memory_order_relaxed) == 0) return false;
    return atomic_fetch_add(&fault_count, 1) + 1 == atomic_load(&fault_at);
}

/* Large buffers (ratings, CSR/CSC, factors, shard buffers) are first
 * touched through page faults, which took a quarter of a 10M run's setup on
 * this project's VM; transparent huge pages make them 512 times fewer.
 * Only advice: contents, alignment and free() are unchanged. */
enum { HUGE_PAGE = 2u << 20 };

static void *advise_huge(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
    if (p && n >= 2 * (size_t)HUGE_PAGE) {
        uintptr_t a = ((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
        uintptr_t e = ((uintptr_t)p + n) & ~(uintptr_t)(HUGE_PAGE - 1);
        if (e > a) (void)madvise((void *)a, e - a, MADV_HUGEPAGE);
    }
#endif
    return p;
}

/* Drops the resident pages wholly inside [p, p + n) of a read-only file
 * mapping (a dataset cache's arrays): the next access reads them again
 * from the page cache. Streaming passes call it behind themselves so that
 * a mapped file never becomes resident whole. Never for heap memory. */
void mfr_release_mapped(const void *p, size_t n, size_t whole)
{
    if (whole < MFR_RELEASE_MIN_BYTES) return;
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)p + page - 1) & ~(uintptr_t)(page - 1);
    uintptr_t e = ((uintptr_t)p + n) & ~(uintptr_t)(page - 1);
    if (p && e > a) (void)madvise((void *)a, e - a, MADV_DONTNEED);
}

void mfr_populate_mapped(const void *p, size_t n, size_t whole)
{
#ifdef MADV_POPULATE_READ
    if (whole < MFR_RELEASE_MIN_BYTES || !p || n == 0) return;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), a = (uintptr_t)p & ~(page - 1);
    (void)madvise((void *)a, (uintptr_t)p + n - a, MADV_POPULATE_READ);
#else
    (void)p, (void)n, (void)whole;
#endif
}

void *mfr_malloc(size_t n) { return fault_hit() ? NULL : advise_huge(malloc(n), n); }
void *mfr_calloc(size_t count, size_t size)
{
    if (fault_hit()) return NULL;
    void *p = calloc(count, size);
    return p ? advise_huge(p, count * size) : NULL;
}
void *mfr_realloc(void *p, size_t n) { return fault_hit() ? NULL : advise_huge(realloc(p, n), n); }
char *mfr_strdup(const char *s) { return fault_hit() ? NULL : strdup(s); }
char *mfr_strndup(const char *s, size_t n) { return fault_hit() ? NULL : strndup(s, n); }

void *mfr_aligned_calloc(size_t bytes)
{
    size_t rounded = (bytes + 63) / 64 * 64;
    if (rounded < bytes) return NULL;
    if (rounded == 0) rounded = 64;
    size_t align = rounded >= 2 * (size_t)HUGE_PAGE ? HUGE_PAGE : 64;
    if (align > 64) rounded = (rounded + align - 1) / align * align;
    void *p = fault_hit() ? NULL : advise_huge(aligned_alloc(align, rounded), rounded);
    if (p) mfr_zero_parallel(p, rounded);
    return p;
}

void mfr_aligned_free(void *p) { free(p); }

void mfr_free(void *p) { free(p); }

uint64_t mfr_fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

#define HASH_P UINT64_C(0x9e3779b97f4a7c15)

void mfr_hash_init(struct mfr_hash *h, uint64_t seed)
{
    for (int j = 0; j < 4; j++) h->lane[j] = seed ^ (uint64_t)(j + 1);
    h->n = 0;
}

/* Folds whole 32-byte groups of p into the lanes. */
static void hash_groups(uint64_t lane[4], const unsigned char *p, size_t groups)
{
    uint64_t l0 = lane[0], l1 = lane[1], l2 = lane[2], l3 = lane[3];
    for (size_t g = 0; g < groups; g++, p += 32) {
        l0 = (l0 ^ mfr_get_le64(p)) * HASH_P, l0 ^= l0 >> 29;
        l1 = (l1 ^ mfr_get_le64(p + 8)) * HASH_P, l1 ^= l1 >> 29;
        l2 = (l2 ^ mfr_get_le64(p + 16)) * HASH_P, l2 ^= l2 >> 29;
        l3 = (l3 ^ mfr_get_le64(p + 24)) * HASH_P, l3 ^= l3 >> 29;
    }
    lane[0] = l0, lane[1] = l1, lane[2] = l2, lane[3] = l3;
}

void mfr_hash_update(struct mfr_hash *h, const void *data, size_t n)
{
    const unsigned char *p = data;
    size_t used = (size_t)(h->n % 32);
    h->n += n;
    if (used > 0) {
        size_t take = 32 - used < n ? 32 - used : n;
        memcpy(h->tail + used, p, take);
        p += take, n -= take;
        if (used + take < 32) return;
        hash_groups(h->lane, h->tail, 1);
    }
    hash_groups(h->lane, p, n / 32);
    memcpy(h->tail, p + n / 32 * 32, n % 32);
}

uint64_t mfr_hash_final(const struct mfr_hash *h)
{
    uint64_t r = h->n * HASH_P;
    for (size_t k = 0; k < h->n % 32; k++) r = (r ^ h->tail[k]) * UINT64_C(0x100000001b3);
    for (int j = 0; j < 4; j++) {
        r ^= h->lane[j];
        r *= HASH_P;
        r ^= r >> 32;
    }
    return r;
}

uint64_t mfr_hash64(uint64_t seed, const void *data, size_t n)
{
    struct mfr_hash h;
    mfr_hash_init(&h, seed);
    mfr_hash_update(&h, data, n);
    return mfr_hash_final(&h);
}

uint64_t mfr_physical_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES);
    long page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0) return 0;
    return (uint64_t)pages * (uint64_t)page;
}

/* Makes a rename in path's directory durable. Filesystems that cannot
 * sync a directory (EINVAL) have nothing more to do, nor has a writer that
 * may not read the directory (mode 0333, a drop box: EACCES): the rename is
 * done, and an error then would report a save that replaced the file. */
static int sync_parent_dir(const char *dir, mfr_error *err)
{
    int rc = MFR_OK, fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0 && errno == EACCES) return MFR_OK;
    if (fd < 0 || (fsync(fd) != 0 && errno != EINVAL))
        rc = mfr_seterr(err, MFR_ERR_IO, "cannot sync directory %s: %s", dir, strerror(errno));
    if (fd >= 0) close(fd);
    return rc;
}

/* path's directory ("." when none), allocated before anything is written:
 * an allocation failure after the rename would report an error for a file
 * that was in fact replaced. */
char *mfr_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? mfr_strndup(path, slash == path ? 1 : (size_t)(slash - path)) : mfr_strdup(".");
}

const char *mfr_file_kind(mode_t m)
{
    if (S_ISREG(m)) return "a regular file";
    if (S_ISDIR(m)) return "a directory";
    if (S_ISLNK(m)) return "a symbolic link";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m) || S_ISBLK(m)) return "a device";
    if (S_ISSOCK(m)) return "a socket";
    return "a special file";
}

int mfr_open_regular(const char *path, int *fd, mfr_error *err)
{
    *fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (*fd < 0) {
        int e = errno;
        mfr_seterr(err, MFR_ERR_IO, "cannot open %s: %s", path, strerror(e));
        errno = e;
        return MFR_ERR_IO;
    }
    struct stat st;
    int rc = MFR_OK;
    if (fstat(*fd, &st) != 0)
        rc = mfr_seterr(err, MFR_ERR_IO, "cannot stat %s: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        rc = mfr_seterr(err, MFR_ERR_IO, "cannot read %s: it is %s, not a regular file", path,
                        mfr_file_kind(st.st_mode));
    else if (fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) & ~O_NONBLOCK) != 0)
        rc = mfr_seterr(err, MFR_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    if (rc != MFR_OK) {
        close(*fd);
        *fd = -1;
        errno = 0;
    }
    return rc;
}

struct plain_write {
    mfr_write_fn fn;
    void *ctx;
};

static int plain_write(FILE *f, const char *tmp, void *arg, mfr_error *err)
{
    (void)tmp;
    const struct plain_write *w = arg;
    return w->fn(f, w->ctx, err);
}

int mfr_write_atomic(const char *path, mfr_write_fn fn, void *ctx, mfr_error *err)
{
    struct plain_write w = {fn, ctx};
    return mfr_write_atomic_tmp(path, plain_write, &w, err);
}

static _Atomic(mfr_tmp_fn) g_tmp_observer;
static _Atomic(mfr_map_fn) g_map_observer;

void mfr_set_map_observer(mfr_map_fn fn) { atomic_store(&g_map_observer, fn); }

void mfr_map_observe(const char *path, const void *addr, size_t len)
{
    const mfr_map_fn fn = atomic_load(&g_map_observer);
    if (fn) fn(path, addr, len);
}

void mfr_set_tmp_observer(mfr_tmp_fn fn) { atomic_store(&g_tmp_observer, fn); }

static void tmp_observe(const char *tmp)
{
    const mfr_tmp_fn fn = atomic_load(&g_tmp_observer);
    if (fn) fn(tmp);
}

/* The tests' hook: MFREC_TEST_MAP_WAIT=MS waits, after a text file or a
 * dataset cache is mapped, until its size changes (up to MS milliseconds),
 * so that a test can cut the file short under a reader that has mapped it
 * (the program's SIGBUS report). */
void mfr_test_map_wait(int fd, off_t mapped_size)
{
    const char *ms = getenv("MFREC_TEST_MAP_WAIT");
    long left = ms ? strtol(ms, NULL, 10) : 0;
    struct stat st;
    for (; left > 0 && fstat(fd, &st) == 0 && st.st_size == mapped_size; left -= 10) {
        struct timespec ts = {0, 10000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    }
}

/* The tests' hooks: MFREC_TEST_SLOW_TMP=MS sleeps MS milliseconds between
 * creating a temporary file and telling the observer its name, where a
 * program's signal handler must wait for it (mfrec's does);
 * MFREC_TEST_SLOW_RENAME=MS between its close and its rename, where its
 * lock must still be held (remove_stale_tmps). */
static void test_sleep(const char *name)
{
    const char *ms = getenv(name);
    long v = ms ? strtol(ms, NULL, 10) : 0;
    if (v <= 0) return;
    struct timespec ts = {v / 1000, (v % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

#define WRITE_BUFFER_BYTES ((size_t)64 << 10)
/* Bytes written between two requests to start their writeback. */
#define WRITEBACK_CHUNK_BYTES ((off_t)8 << 20)

/* The temporary file behind the FILE a writer gets: its writes go to fd,
 * and each WRITEBACK_CHUNK_BYTES written are handed to the disk at once
 * (sync_file_range, which starts the writeback and does not wait), so the
 * disk works while the rest is encoded and the final fsync waits only for
 * the last chunk: a 10M-rating model's save (86 MB) spent 81 of its 125 ms
 * in fsync, after its writes. */
struct write_behind {
    int fd;
    off_t written;   /* bytes written so far */
    off_t requested; /* bytes whose writeback has been started */
    int error;       /* errno of the first failed write: the writer's own
                      * calls may change errno before the save reports it */
};

static ssize_t write_behind_write(void *cookie, const char *buf, size_t n)
{
    struct write_behind *w = cookie;
    size_t done = 0;
    while (done < n) {
        ssize_t k = write(w->fd, buf + done, n - done);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) { /* short: stdio sets the error flag */
            if (k == 0) errno = EIO; /* no errno of its own */
            if (!w->error) w->error = errno;
            return (ssize_t)done;
        }
        done += (size_t)k;
        w->written += k;
    }
#ifdef SYNC_FILE_RANGE_WRITE
    if (w->written - w->requested >= WRITEBACK_CHUNK_BYTES) {
        /* advice only: a file system without it still gets the fsync,
         * and its failure leaves errno as the writer's calls set it */
        const int e = errno;
        (void)sync_file_range(w->fd, w->requested, w->written - w->requested, SYNC_FILE_RANGE_WRITE);
        errno = e;
        w->requested = w->written;
    }
#endif
    return (ssize_t)n;
}


/* Creates tmp (ending in six X's, which are replaced) as a new file open
 * for writing, as mkstemp does, but with `mode` less the umask, as open(2)
 * and fopen give any output file (mode 0666): mkstemp's 0600 had to be
 * changed afterwards, and the library cannot read the umask safely
 * (umask(2) sets it, for every thread). */
static int create_tmp(char *tmp, mode_t mode)
{
    static const char chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    static _Atomic uint64_t counter;
    char *x = tmp + strlen(tmp) - 6;
    for (int attempt = 0; attempt < 100; attempt++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t v = mfr_mix64((uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 30 ^ (uint64_t)getpid() << 40 ^
                               atomic_fetch_add(&counter, 1) * 0x9e3779b97f4a7c15ull);
        for (int k = 0; k < 6; k++, v /= 62) x[k] = chars[v % 62];
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    errno = EEXIST;
    return -1;
}

/* A temporary file unchanged this long, whose writer's lock is gone, is a
 * dead writer's: a live one holds its lock until its rename; the age
 * covers the moment between its creation and its lock. Where no lock can
 * be taken (flock fails), no file is removed. */
enum { STALE_TMP_AGE_S = 60 };

/* Whether name is base's temporary file: base, ".tmp", six characters of
 * create_tmp's alphabet. */
static bool is_tmp_of(const char *name, const char *base, size_t base_len)
{
    if (strncmp(name, base, base_len) != 0 || strncmp(name + base_len, ".tmp", 4) != 0) return false;
    const char *x = name + base_len + 4;
    for (int k = 0; k < 6; k++)
        if (!((x[k] >= '0' && x[k] <= '9') || (x[k] >= 'A' && x[k] <= 'Z') || (x[k] >= 'a' && x[k] <= 'z')))
            return false;
    return x[6] == '\0';
}

bool mfr_is_tmp_name(const char *name, const char *base) { return is_tmp_of(name, base, strlen(base)); }

/* Removes path's temporary files (in dir, its directory) that a killed
 * writer left: those last modified min_age_s seconds ago or more whose
 * writer's lock is gone. Best effort: a file that cannot be opened, locked
 * or removed stays. */
static void remove_stale_tmps(const char *dir, const char *path, int64_t min_age_s)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const size_t base_len = strlen(base);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0) close(dfd);
        return;
    }
    const time_t now = time(NULL);
    struct dirent *e;
    while ((e = readdir(d))) {
        struct stat st, locked;
        if (!is_tmp_of(e->d_name, base, base_len) || fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode) || now - st.st_mtime < min_age_s)
            continue;
        /* read-write first: NFS emulates flock with POSIX locks, whose
         * exclusive kind needs a descriptor open for writing */
        int fd = openat(dfd, e->d_name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) fd = openat(dfd, e->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) continue;
        /* a writer alive holds its lock; the name must still be the file locked */
        if (flock(fd, LOCK_EX | LOCK_NB) == 0 && fstat(fd, &locked) == 0 &&
            fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_ino == locked.st_ino &&
            st.st_dev == locked.st_dev)
            (void)unlinkat(dfd, e->d_name, 0);
        close(fd);
    }
    closedir(d);
}

/* Whether path's directory is due for remove_stale_tmps: at a path's first
 * write in this process, then once a STALE_TMP_AGE_S. The scan reads the
 * whole directory, and a checkpoint is written every epoch: with 200k
 * files beside it (a job array's shared output directory) 100 ML-100K
 * epochs took 5.8 s instead of 0.35 s, 54 ms of readdir a write. A
 * temporary file turns stale only STALE_TMP_AGE_S after its writer's last
 * write, so a scan a minute finds each in the minute after; the paths are
 * kept as hashes in a few slots (a path pushed out is scanned again). */
enum { STALE_SCAN_SLOTS = 32 };
static struct {
    uint64_t key; /* 0: free */
    int64_t at;   /* CLOCK_MONOTONIC seconds of the last scan */
} g_stale_scans[STALE_SCAN_SLOTS];
static pthread_mutex_t g_stale_scans_lock = PTHREAD_MUTEX_INITIALIZER;

static bool stale_scan_due(const char *path)
{
    uint64_t key = 0xcbf29ce484222325ull; /* FNV-1a */
    for (const unsigned char *c = (const unsigned char *)path; *c; c++) key = (key ^ *c) * 0x100000001b3ull;
    key |= 1;
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) return true;
    const int64_t now = (int64_t)ts.tv_sec;
    bool due = true;
    pthread_mutex_lock(&g_stale_scans_lock);
    int slot = 0;
    for (int k = 0; k < STALE_SCAN_SLOTS; k++) {
        if (g_stale_scans[k].key == key) {
            slot = k;
            due = now - g_stale_scans[k].at >= STALE_TMP_AGE_S;
            break;
        }
        if (g_stale_scans[k].key == 0 || g_stale_scans[k].at < g_stale_scans[slot].at) slot = k;
    }
    if (due) {
        g_stale_scans[slot].key = key;
        g_stale_scans[slot].at = now;
    }
    pthread_mutex_unlock(&g_stale_scans_lock);
    return due;
}

void mfr_remove_stale_tmps(const char *path)
{
    if (!path || !*path || !stale_scan_due(path)) return;
    char *dir = mfr_parent_dir(path);
    if (dir) remove_stale_tmps(dir, path, STALE_TMP_AGE_S);
    free(dir);
}

/* mode: the temporary file's permission bits from its creation on, or -1:
 * a replaced file's (0666 less the umask for a new one). */
static int write_atomic(const char *path, int mode, mfr_write_tmp_fn fn, void *ctx, mfr_error *err)
{
    /* The rename below replaces whatever is at path: only a regular file may
     * be there (a symbolic link would be replaced, not its target; a device
     * such as /dev/null would become a regular file). */
    struct stat st;
    if (!*path) return mfr_seterr(err, MFR_ERR_INVALID, "the output path is empty");
    const bool have_old = lstat(path, &st) == 0;
    if (have_old && !S_ISREG(st.st_mode))
        return mfr_seterr(err, MFR_ERR_IO, "%s is not a regular file; not replacing it", path);
    /* a file replaced keeps its permission bits (a private model stays
     * private, also while it is written), never setuid, setgid or sticky */
    const mode_t old_mode = have_old ? st.st_mode & 0777 : 0;
    size_t len = strlen(path);
    char *dir = mfr_parent_dir(path);
    char *tmp = dir ? mfr_malloc(len + 16) : NULL;
    if (!tmp) {
        free(dir);
        return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory writing %s", path);
    }
    snprintf(tmp, len + 16, "%s.tmpXXXXXX", path);
    /* a writer of path killed mid-write (SIGKILL, the OOM killer, a
     * scheduler's time limit) left its temporary file for good: a dataset
     * cache's is as large as the cache, in the data directory */
    if (stale_scan_due(path)) remove_stale_tmps(dir, path, STALE_TMP_AGE_S);
    tmp_observe(""); /* about to be created */
    /* the bits asked for, else a replaced file's; a new file's: the umask's */
    const int bits = mode >= 0 ? mode : have_old ? (int)old_mode : -1;
    int fd = create_tmp(tmp, bits >= 0 ? (mode_t)bits : 0666);
    if (fd < 0) {
        int e = errno;
        tmp_observe(NULL);
        free(tmp);
        free(dir);
        return mfr_seterr(err, MFR_ERR_IO, "cannot create the temporary file for %s (%s.tmpXXXXXX): %s", path,
                          path, strerror(e));
    }
    if (bits >= 0) (void)fchmod(fd, (mode_t)bits); /* the bits the umask took */
    /* held until the rename: the file is in use (remove_stale_tmps,
     * which removes nothing where flock is not supported) */
    (void)flock(fd, LOCK_EX | LOCK_NB);
    test_sleep("MFREC_TEST_SLOW_TMP");
    tmp_observe(tmp);
    struct write_behind wb = {.fd = fd};
    /* no close function: fclose leaves fd open, to be synced and closed below */
    FILE *f = fopencookie(&wb, "wb", (cookie_io_functions_t){.write = write_behind_write});
    if (!f) {
        int e = errno;
        close(fd);
        unlink(tmp);
        tmp_observe(NULL);
        free(tmp);
        free(dir);
        return mfr_seterr(err, MFR_ERR_IO, "cannot write %s: %s", path, strerror(e));
    }
    /* 64 KiB a write(2), not stdio's st_blksize (4 KiB), around each
     * 64 KiB block of a model's rows: 15 writes for an ML-100K model
     * instead of 45. Optional: without the memory, stdio's own buffer (so
     * plain malloc, outside the fault hook's count of failing calls). */
    char *buf = malloc(WRITE_BUFFER_BYTES);
    if (buf) (void)setvbuf(f, buf, _IOFBF, WRITE_BUFFER_BYTES);
    int rc = fn(f, tmp, ctx, err);
    if (rc == MFR_OK && (fflush(f) != 0 || ferror(f)))
        rc = mfr_seterr(err, MFR_ERR_IO, "cannot write %s: %s", path, strerror(wb.error ? wb.error : errno));
    /* after a good fflush it has nothing left to write; after a failure it
     * flushes into the temporary file, which is removed */
    if (fclose(f) != 0 && rc == MFR_OK)
        rc = mfr_seterr(err, MFR_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    if (rc == MFR_OK && fsync(fd) != 0)
        rc = mfr_seterr(err, MFR_ERR_IO, "cannot sync %s: %s", path, strerror(errno));
    /* the lock is held until the rename, by a duplicate of fd (it shares
     * the lock): released at the close, a writer whose last write was a
     * minute before (a slow fsync of a large cache) would leave its file
     * unlocked and old until the rename, for another writer of the path to
     * remove ('cannot rename PATH.tmpXXXXXX to PATH: No such file or
     * directory'). Without a descriptor to spare, released at the close. */
    const int keep = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (close(fd) != 0 && rc == MFR_OK)
        rc = mfr_seterr(err, MFR_ERR_IO, "cannot close %s: %s", path, strerror(errno));
    free(buf);
    if (rc == MFR_OK) test_sleep("MFREC_TEST_SLOW_RENAME");
    if (rc == MFR_OK && rename(tmp, path) != 0)
        rc = mfr_seterr(err, MFR_ERR_IO, "cannot rename %s to %s: %s", tmp, path,
                        strerror(errno));
    if (rc != MFR_OK) unlink(tmp);
    if (keep >= 0) close(keep);
    tmp_observe(NULL);
    free(tmp);
    if (rc == MFR_OK) rc = sync_parent_dir(dir, err);
    free(dir);
    return rc;
}

int mfr_write_atomic_tmp(const char *path, mfr_write_tmp_fn fn, void *ctx, mfr_error *err)
{
    return write_atomic(path, -1, fn, ctx, err);
}

int mfr_write_atomic_mode(const char *path, mode_t mode, mfr_write_fn fn, void *ctx, mfr_error *err)
{
    struct plain_write w = {fn, ctx};
    return write_atomic(path, (int)(mode & 0777), plain_write, &w, err);
}

/* Edit distance (insertions, deletions, substitutions of bytes) between
 * a[0..an) and b[0..bn), or with `part` between a and the closest part of
 * b (what is left of b before and after that part is free); row holds
 * bn + 1 ints. */
int mfr_edit_distance(const char *a, size_t an, const char *b, size_t bn, bool part, int *row)
{
    for (size_t j = 0; j <= bn; j++) row[j] = part ? 0 : (int)j;
    for (size_t i = 1; i <= an; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= bn; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    int best = row[bn];
    for (size_t j = 0; part && j < bn; j++)
        if (row[j] < best) best = row[j];
    return best;
}
