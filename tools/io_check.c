/*
 * io_check.c — the rules every output path of a command obeys, checked
 * before the command does its work (see cli.h):
 *
 * - an output is never one of the run's inputs (compared by device and
 *   inode, so another spelling or a hard link of u.data is still u.data);
 *   a directory given as input (--data DIR) counts with every dataset file
 *   directly inside it, since the loader may read any of them, and so does
 *   a rating file given as --data with the dataset files beside it
 *   (--data DIR/u.data reads DIR/u.item), but a model or checkpoint
 *   alone;
 * - a new output in such a data directory never takes a dataset file's
 *   name (u1.base, ratings.dat): the next load would read it;
 * - two outputs of one run never name the same file;
 * - an output never replaces anything but a regular file: not a directory,
 *   device, FIFO or socket, and not a symbolic link (the atomic rename
 *   would replace the link, not its target; give the target's path);
 * - an output is never named .mfrec-cache, the dataset cache's name: the
 *   cache of that directory may be written by this very run, after the
 *   checks, or by a later load that would replace the output;
 * - an empty name is a usage error, a missing or read-only directory a
 *   runtime error, both before any data is loaded or trained on.
 *
 * Multi-file outputs (split, export, synth, --plot) go through a stage:
 * the files are written into a fresh temporary directory inside the output
 * directory and renamed into place only once every one of them is
 * complete. The files they replace are moved aside into that directory
 * first and put back if any later step fails (a rename, the report on
 * standard output), so a failed run leaves the previous set as it was.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

struct file_id {
    dev_t dev;
    ino_t ino;
};

/* One output: its directory's identity and its name there (the file may
 * not exist yet), and the flag that named it. */
struct out_entry {
    struct file_id dir;
    char *base;
    const char *flag;
};

/* A growable set of file identities. */
struct file_ids {
    struct file_id *v;
    size_t n, cap;
};

/* The run's inputs and outputs so far (one command per process). */
static struct file_ids g_inputs;
static struct out_entry g_outputs[64];
static size_t g_n_outputs;
/* An input could not be noted (out of memory): no output can be checked
 * against the inputs, so none is allowed (one noted as lost let
 * `train --out DIR/u.data` replace the data it read) */
static bool g_inputs_lost;
/* The directories whose dataset files are inputs (--data DIR, the
 * directory of --data FILE): a new dataset-named output there would be
 * read by the next load of the data (check_not_dataset_name). */
static struct file_ids g_data_dirs;

/* Adds st's file to set; out of memory, notes the inputs as lost. */
static void ids_add(struct file_ids *set, const struct stat *st)
{
    if (set->n == set->cap) {
        size_t cap = set->cap ? 2 * set->cap : 64;
        struct file_id *n = realloc(set->v, cap * sizeof *n);
        if (!n) {
            g_inputs_lost = true;
            return;
        }
        set->v = n;
        set->cap = cap;
    }
    set->v[set->n++] = (struct file_id){st->st_dev, st->st_ino};
}

static bool ids_have(const struct file_ids *set, const struct stat *st)
{
    for (size_t k = 0; k < set->n; k++)
        if (set->v[k].dev == st->st_dev && set->v[k].ino == st->st_ino) return true;
    return false;
}

static void ids_free(struct file_ids *set)
{
    free(set->v);
    *set = (struct file_ids){0};
}

/* Whether descriptor fd is open on st's file. */
static bool fd_is(int fd, const struct stat *st)
{
    struct stat fs;
    return fstat(fd, &fs) == 0 && fs.st_dev == st->st_dev && fs.st_ino == st->st_ino;
}

/* Notes an input (path: its name for messages). Standard output opened
 * on it (`mfrec stats --data d >> d/u.data`, as `cat f >> f`) would write
 * into the file being read, or read back: stdout_is_input makes every
 * write to it fail, naming the file, before the first one. Standard error
 * opened on it (`2>> d/u.item`) would take the run's warnings and errors:
 * stderr_is_input makes its writes fail too, and the run is refused
 * (io_input's callers, stderr_input_refusal), since a run whose messages
 * go nowhere cannot say what went wrong. */
static void add_input_id(const char *path, const struct stat *st)
{
    ids_add(&g_inputs, st);
    if (!S_ISREG(st->st_mode)) return;
    if (fd_is(STDOUT_FILENO, st)) stdout_is_input(path);
    if (fd_is(STDERR_FILENO, st)) stderr_is_input(path);
}

static bool is_input(const struct stat *st) { return ids_have(&g_inputs, st); }

void io_reset(void)
{
    ids_free(&g_inputs);
    ids_free(&g_data_dirs);
    g_inputs_lost = false;
    for (size_t k = 0; k < g_n_outputs; k++) free(g_outputs[k].base);
    g_n_outputs = 0;
}

/* Whether a file of a data directory is one a load of it may read: a
 * rating, metadata or canonical split file of the MovieLens layouts, or
 * the dataset cache. Other files there (a model or chart an earlier run
 * wrote, notes) are no input: counting them made the same command fail
 * the second time ("--out DIR/m.model is one of this run's inputs"). */
static bool dataset_file_name(const char *n)
{
    static const char *const names[] = {
        "u.data",     "u.item",     "u.user",      "u.genre",   "u.occupation", "u.info",
        "ua.base",    "ua.test",    "ub.base",     "ub.test",   "ratings.dat",  "movies.dat",
        "users.dat",  "ratings.csv", "movies.csv", "tags.csv",  "links.csv",
    };
    for (size_t k = 0; k < sizeof names / sizeof *names; k++)
        if (!strcmp(n, names[k])) return true;
    if (n[0] == 'u' && n[1] >= '1' && n[1] <= '9' && (!strcmp(n + 2, ".base") || !strcmp(n + 2, ".test")))
        return true;
    return !strncmp(n, ".mfrec-cache", strlen(".mfrec-cache"));
}

/* path's directory part ("." when none) in a new string, and its name. */
static char *split_dir(const char *path, const char **base)
{
    const char *slash = strrchr(path, '/');
    *base = slash ? slash + 1 : path;
    if (!slash) return strdup(".");
    size_t n = (size_t)(slash - path);
    while (n > 0 && path[n - 1] == '/') n--; /* "a//b": a */
    return n ? strndup(path, n) : strdup("/");
}

/* The first of path's leading directories that exists and is not a
 * directory ("m.mfr" of "m.mfr/sub/x": what an ENOTDIR is about), in a new
 * string; NULL when there is none. */
static char *file_in_path(const char *path)
{
    char *p = strdup(path);
    for (char *s = p ? strchr(p + 1, '/') : NULL; s; s = strchr(s + 1, '/')) {
        struct stat st;
        *s = '\0';
        if (stat(p, &st) == 0 && !S_ISDIR(st.st_mode)) return p;
        *s = '/';
    }
    free(p);
    return NULL;
}

/* The refusal of flag's path when stat(dir) failed (dir: path itself or
 * its directory): a file on the way is named, as "m.mfr is not a
 * directory", where the system says only "Not a directory". */
static int stat_dir_error(const char *flag, const char *path, const char *dir)
{
    const int e = errno;
    char *file = e == ENOTDIR ? file_in_path(dir) : NULL;
    int rc = file                ? runtime_error("%s %s: %s is not a directory", flag, path, file)
             : strcmp(path, dir) ? runtime_error("%s %s: directory %s: %s", flag, path, dir, strerror(e))
                                 : runtime_error("%s %s: %s", flag, path, strerror(e));
    free(file);
    return rc;
}

/* Notes the regular files directly inside dir that a load may read
 * (dataset_file_name). */
static void add_dataset_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) { /* a directory that stat found but cannot be listed now (no memory, no descriptor) */
        if (errno == ENOMEM || errno == EMFILE || errno == ENFILE) g_inputs_lost = true;
        return;
    }
    struct stat ds;
    if (fstat(dirfd(d), &ds) == 0) ids_add(&g_data_dirs, &ds);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!dataset_file_name(e->d_name)) continue;
        const size_t n_dir = strlen(dir), n_name = strlen(e->d_name);
        char *p = malloc(n_dir + n_name + 2);
        if (!p) {
            g_inputs_lost = true;
            break;
        }
        /* not sprintf: gcc's -Wformat-overflow took dir for NULL here under
         * the sanitizers at -O3 */
        memcpy(p, dir, n_dir);
        p[n_dir] = '/';
        memcpy(p + n_dir + 1, e->d_name, n_name + 1);
        struct stat fs;
        if (stat(p, &fs) == 0 && S_ISREG(fs.st_mode)) add_input_id(p, &fs);
        free(p);
    }
    closedir(d);
}

/* path, and a directory's dataset files; a data path (siblings) also the
 * dataset files beside a file. */
static void note_input_files(const char *path, bool siblings)
{
    struct stat st;
    if (!path || stat(path, &st) != 0) return; /* the reader reports it */
    add_input_id(path, &st);
    if (S_ISDIR(st.st_mode)) {
        add_dataset_files(path);
        return;
    }
    if (!siblings) return;
    /* A rating file named as --data (DIR/u.data, or any name with
     * --format ml-100k) is loaded with the metadata beside it (DIR/u.item,
     * movies.dat): those are inputs too, whatever the file's name. */
    const char *base;
    char *dir = split_dir(path, &base);
    if (dir) add_dataset_files(dir);
    else g_inputs_lost = true;
    free(dir);
}

/* A model, checkpoint or array file is read alone: the dataset-named files
 * beside it (an earlier run's `--out work/ratings.csv` beside
 * work/m.mfr) are no input, or the same command failed the second time. */
int io_input(const char *path)
{
    note_input_files(path, false);
    return stderr_input_refusal();
}

int io_input_data(const char *path)
{
    note_input_files(path, true);
    return stderr_input_refusal();
}

/* A usage error when base is the dataset cache's name, or that of a cache
 * beside it (.mfrec-cache.users). */
static int check_not_cache(const char *flag, const char *path, const char *base)
{
    if (strncmp(base, MFR_CACHE_FILE, strlen(MFR_CACHE_FILE)) != 0) return EXIT_OK;
    return usage_error("%s %s: " MFR_CACHE_FILE "* is the name of mfrec's dataset caches, which loading data "
                       "writes; choose another name",
                       flag, path);
}

/* Whether s is a temporary file's tail: ".tmp" and six letters or digits
 * (mfr_write_atomic's, whose stale-file scan goes by the name alone). */
static bool is_tmp_tail(const char *s)
{
    if (strncmp(s, ".tmp", 4) != 0 || strlen(s + 4) != 6) return false;
    for (s += 4; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z'))) return false;
    return true;
}

/* A usage error when base is the name of another file's temporary file
 * (NAME.tmp and six letters or digits, mfr_write_atomic's): a write of
 * NAME removes such a file once it is a minute old and unlocked, taking it
 * for a killed writer's (a model saved as m.mfr.tmpRun001 went at the next
 * `train --out m.mfr`). */
static int check_not_tmp_name(const char *flag, const char *path, const char *base)
{
    const size_t n = strlen(base), tail = sizeof ".tmpXXXXXX" - 1;
    if (n <= tail || !is_tmp_tail(base + n - tail)) return EXIT_OK;
    return usage_error("%s %s: the name of a temporary file of %.*s (NAME.tmpXXXXXX), which a later write of %.*s "
                       "removes once it is a minute old; choose another name",
                       flag, path, (int)(strlen(path) - tail), path, (int)(strlen(path) - tail), path);
}

/* A usage error when base ends as a compressed file's name does: mfrec
 * writes its outputs uncompressed, so a reader that trusts the name (zcat,
 * pandas) would fail on the file. */
static int check_not_compressed(const char *flag, const char *path, const char *base)
{
    static const char *const compressed[] = {".gz", ".bz2", ".xz", ".zst", ".lz4", ".zip", ".Z"};
    const size_t n = strlen(base);
    for (size_t k = 0; k < sizeof compressed / sizeof *compressed; k++) {
        const size_t e = strlen(compressed[k]);
        if (n <= e || strcasecmp(base + n - e, compressed[k]) != 0) continue;
        /* the name to write instead, unless what is left is no file name
         * ("..gz" would leave ".", "-.gz" the refused "-") */
        const int stem = (int)(n - e);
        const bool usable =
            !(stem == 1 && (base[0] == '.' || base[0] == '-')) && !(stem == 2 && !strncmp(base, "..", 2));
        return usage_error("%s %s: names a compressed (%s) file, but mfrec writes it uncompressed%s%.*s%s", flag, path,
                           base + n - e, usable ? "; write " : "", usable ? (int)(strlen(path) - e) : 0, path,
                           usable ? " and compress it afterwards" : "");
    }
    return EXIT_OK;
}

/* An error when path would be a new file or directory named as a dataset
 * file (u1.base, ratings.dat; dataset_file_name) in a data directory of
 * this run: the next load of the data reads it (a model as u1.base broke
 * --split u1, one as ratings.dat beside u.data, or --plot's directory as
 * ratings.csv, made the directory hold two rating files), and the same
 * command then failed the second time, the file being one of its inputs.
 * An existing file is an input already (check_existing). */
static int check_not_dataset_name(const char *flag, const char *path, const char *dir, const char *base,
                                  const struct stat *dir_st)
{
    struct stat st;
    if (!dataset_file_name(base) || !ids_have(&g_data_dirs, dir_st) || lstat(path, &st) == 0) return EXIT_OK;
    return runtime_error("%s %s: %s is the name of a dataset file, in %s, a data directory of this run: a later "
                         "load of the data would read it; choose another name",
                         flag, path, base, dir);
}

static const char *kind_of(mode_t m)
{
    if (S_ISDIR(m)) return "a directory";
    if (S_ISLNK(m)) return "a symbolic link (give the path of its target)";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m) || S_ISBLK(m)) return "a device";
    if (S_ISREG(m)) return "a regular file";
    return "not a regular file";
}

/* The suffix of the temporary file that every output is written to
 * before it is renamed into place (mfr_write_atomic). */
#define TMP_SUFFIX ".tmpXXXXXX"

/* A name that the directory takes but its temporary file's would not;
 * a path that the system takes but its temporary file's would not (over
 * PATH_MAX with the suffix: found only once the work was done, after a
 * whole training). */
static int check_tmp_name(const char *flag, const char *path, const char *dir, const char *base)
{
    const size_t path_len = strlen(path);
    if (path_len + strlen(TMP_SUFFIX) >= PATH_MAX)
        return runtime_error("%s %s: a path of %zu bytes leaves no room for the temporary file it is written "
                             "to first (PATH" TMP_SUFFIX ", under %d bytes): choose a path of at most %zu bytes",
                             flag, path, path_len, PATH_MAX, (size_t)PATH_MAX - 1 - strlen(TMP_SUFFIX));
    errno = 0;
    const long name_max = pathconf(dir, _PC_NAME_MAX);
    const size_t len = strlen(base);
    if (name_max <= 0 || len + strlen(TMP_SUFFIX) <= (size_t)name_max) return EXIT_OK;
    return runtime_error("%s %s: a name of %zu bytes leaves no room for the temporary file it is written "
                         "to first (NAME" TMP_SUFFIX ", at most %ld bytes in %s): choose a name of at most %zu bytes",
                         flag, path, len, name_max, dir, (size_t)name_max - strlen(TMP_SUFFIX));
}

/* Whether name is one of base's temporary files: base and a temporary
 * file's tail (is_tmp_tail). */
static bool is_tmp_of(const char *name, const char *base)
{
    const size_t n = strlen(base);
    return strncmp(name, base, n) == 0 && is_tmp_tail(name + n);
}

/* An error when one of the run's inputs lies in dir under a name of base's
 * temporary files: writing base removes such a file once it is a minute
 * old and unlocked, taking it for a killed writer's (`train --resume
 * ck.tmpAbC123 --checkpoint ck`, resuming from a killed run's leftover,
 * lost that file at the first checkpoint). Staged outputs (--plot, split)
 * are refused too: the name is reserved, as for an output (a later direct
 * write of the path would remove the file). A directory that cannot be
 * listed is not scanned by the writer either. */
static int check_no_input_as_tmp(const char *flag, const char *path, const char *dir, const char *base)
{
    if (!g_inputs.n) return EXIT_OK;
    DIR *d = opendir(dir);
    if (!d) return EXIT_OK;
    int rc = EXIT_OK;
    struct dirent *e;
    while (rc == EXIT_OK && (e = readdir(d))) {
        if (!is_tmp_of(e->d_name, base)) continue;
        struct stat st; /* the writer removes a regular file, never a link */
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) && is_input(&st))
            rc = runtime_error("%s %s: this run's input %s/%s has the name of a temporary file of %s "
                               "(NAME.tmpXXXXXX), which a write of %s removes once it is a minute old; rename "
                               "the input or choose another output",
                               flag, path, dir, e->d_name, path, path);
    }
    closedir(d);
    return rc;
}

/* The kernel's pseudo file systems, whose directories pass access(W_OK)
 * for root but hold no regular files mfrec could make: the name of the
 * one dir is on, or NULL. */
static const char *pseudo_fs(const char *dir)
{
    /* statfs's f_type values (linux/magic.h; written out, as older headers
     * lack some of them) */
    static const struct {
        unsigned long magic;
        const char *name;
    } fs[] = {{0x9fa0, "proc"},           {0x62656572, "sysfs"},      {0x64626720, "debugfs"},
              {0x74726163, "tracefs"},    {0x73636673, "securityfs"}, {0x27e0eb, "cgroup"},
              {0x63677270, "cgroup2"},    {0xcafe4a11, "bpf"},        {0x6165676c, "pstore"},
              {0xde5e81e4, "efivarfs"},   {0x1cd1, "devpts"},         {0x958458f6, "hugetlbfs"},
              {0x19800202, "mqueue"},     {0x42494e4d, "binfmt_misc"}, {0x65735543, "fusectl"},
              {0x62656570, "configfs"},   {0x7655821, "resctrl"},     {0xf97cff8c, "selinuxfs"},
              {0x43415d53, "smackfs"},    {0x6e736673, "nsfs"}};
    struct statfs sf;
    if (statfs(dir, &sf) != 0) return NULL;
    for (size_t x = 0; x < sizeof fs / sizeof *fs; x++)
        if ((unsigned long)sf.f_type == fs[x].magic) return fs[x].name;
    return NULL;
}

/* An error naming dir's pseudo file system (pseudo_fs), or EXIT_OK. */
static int check_real_fs(const char *flag, const char *path, const char *dir)
{
    const char *fs = pseudo_fs(dir);
    if (!fs) return EXIT_OK;
    return runtime_error("%s %s: directory %s is on the kernel's %s file system, where mfrec cannot "
                         "make files",
                         flag, path, dir, fs);
}

/* Whether path carries the immutable or append-only attribute (chattr +i,
 * +a); filesystems without attributes have neither. A directory is looked
 * up through a symbolic link (the files go into its target), a file is
 * not (the link itself would be replaced). */
static bool locked_file(const char *path)
{
    if (access(path, W_OK) != 0 && errno == EPERM) return true; /* immutable */
    struct stat st;
    const bool dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | (dir ? O_DIRECTORY : O_NOFOLLOW));
    if (fd < 0) return false;
    int attr = 0;
    const bool locked = ioctl(fd, FS_IOC_GETFLAGS, &attr) == 0 && (attr & (FS_APPEND_FL | FS_IMMUTABLE_FL));
    close(fd);
    return locked;
}

/* An error when dir, which is to receive an output, is append-only
 * (chattr +a): a file can be made there but never renamed or removed, so
 * the temporary file or staging directory would stay behind. An immutable
 * one already fails the writable check. */
static int check_dir_unlocked(const char *flag, const char *path, const char *dir)
{
    if (!locked_file(dir)) return EXIT_OK;
    return runtime_error("%s %s: directory %s is append-only (chattr +a): mfrec writes a temporary file "
                         "there and renames it into place, which such a directory refuses",
                         flag, path, dir);
}

static int check_existing(const char *flag, const char *path, const char *verb, const char *why,
                          bool input_ok);

/* "-", standard output to many tools, would be a file or directory of that
 * name here, made where standard output was meant: refused, "./-" says it. */
static int dash_refused(const char *flag, const char *what)
{
    return usage_error("%s -: mfrec writes its outputs to files, not standard output; name a %s "
                       "('./-' for one called '-')",
                       flag, what);
}

static int inputs_lost(const char *flag, const char *path)
{
    return runtime_error("out of memory noting this run's inputs: %s %s is not written, since it could not be "
                         "checked against them",
                         flag, path);
}

/* The checks of one output file, except the uniqueness among outputs;
 * fills *dir_id. `why`: "" or a parenthesized reason after the path;
 * input_ok: the file may be one of the run's inputs (a resumed checkpoint). */
static int check_output_file(const char *flag, const char *path, struct file_id *dir_id, const char *why,
                             bool input_ok)
{
    if (!*path) return usage_error("%s needs a file name, got ''", flag);
    if (!strcmp(path, "-")) return dash_refused(flag, "file");
    if (g_inputs_lost) return inputs_lost(flag, path);
    const char *base;
    char *dir = split_dir(path, &base);
    if (!dir) return runtime_error("out of memory");
    struct stat st;
    int rc = EXIT_OK;
    if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
        rc = runtime_error("%s %s: names a directory, not a file", flag, path);
    /* a checkpoint that --resume names keeps its name: the user's file,
     * already there (or missing: the load says so), not a name given here */
    else if ((rc = check_not_cache(flag, path, base)) != EXIT_OK ||
             (!input_ok && strcmp(flag, "--resume") != 0 &&
              ((rc = check_not_compressed(flag, path, base)) != EXIT_OK ||
               (rc = check_not_tmp_name(flag, path, base)) != EXIT_OK)))
        ;
    else if (stat(dir, &st) != 0)
        rc = stat_dir_error(flag, path, dir);
    else if (!S_ISDIR(st.st_mode))
        rc = runtime_error("%s %s: %s is not a directory", flag, path, dir);
    else if (access(dir, W_OK | X_OK) != 0)
        rc = runtime_error("%s %s: directory %s is not writable: %s", flag, path, dir,
                           strerror(errno));
    else if ((rc = check_real_fs(flag, path, dir)) != EXIT_OK)
        ;
    else if ((rc = check_dir_unlocked(flag, path, dir)) != EXIT_OK)
        ;
    else if ((rc = check_no_input_as_tmp(flag, path, dir, base)) != EXIT_OK)
        ;
    else if (!input_ok && strcmp(flag, "--resume") != 0 &&
             (rc = check_not_dataset_name(flag, path, dir, base, &st)) != EXIT_OK)
        ;
    else
        rc = check_tmp_name(flag, path, dir, base);
    if (rc == EXIT_OK) *dir_id = (struct file_id){st.st_dev, st.st_ino};
    free(dir);
    if (rc != EXIT_OK) return rc;
    return check_existing(flag, path, "replace", why, input_ok);
}

/* What a command may do to an existing path (replace or remove it, `verb`;
 * `why`: "" or a parenthesized reason after the path): nothing there, or
 * a regular file that is none of the run's inputs and not immutable. */
static int check_existing(const char *flag, const char *path, const char *verb, const char *why,
                          bool input_ok)
{
    struct stat st;
    if (lstat(path, &st) != 0) return EXIT_OK; /* a new file, or nothing to remove */
    struct stat target;
    /* /dev/stdout and the like: naming the link's target would not help */
    if (S_ISLNK(st.st_mode) && stat(path, &target) == 0 && !S_ISREG(target.st_mode))
        return runtime_error("%s %s%s is a symbolic link to %s%s; mfrec %ss only regular files", flag, path, why,
                             kind_of(target.st_mode),
                             S_ISDIR(target.st_mode) ? "" : " (a stream such as standard output?)", verb);
    if (!S_ISREG(st.st_mode))
        return runtime_error("%s %s%s is %s; mfrec %ss only regular files", flag, path, why, kind_of(st.st_mode),
                             verb);
    if (!input_ok && is_input(&st)) return runtime_error("%s %s%s is one of this run's inputs", flag, path, why);
    /* an immutable or append-only file, which the final rename could not
     * replace (a read-only mode does not stop a rename) */
    if (locked_file(path))
        return runtime_error("%s %s%s cannot be %sd: %s (an immutable or append-only file)", flag, path, why,
                             verb, strerror(EPERM));
    return EXIT_OK;
}

/* Notes `base` in directory `dir` as the output of flag, unless another
 * flag's output is already there (a usage error). */
static int claim_output(const char *flag, const char *path, struct file_id dir, const char *base)
{
    for (size_t k = 0; k < g_n_outputs; k++) {
        const struct out_entry *o = &g_outputs[k];
        if (o->dir.dev != dir.dev || o->dir.ino != dir.ino || strcmp(o->base, base)) continue;
        if (!strcmp(o->flag, flag)) return EXIT_OK; /* checked before, by the same flag */
        return usage_error("%s %s is also the output of %s", flag, path, o->flag);
    }
    if (g_n_outputs < sizeof g_outputs / sizeof *g_outputs) {
        char *b = strdup(base);
        if (!b) return runtime_error("out of memory");
        g_outputs[g_n_outputs++] = (struct out_entry){dir, b, flag};
    }
    return EXIT_OK;
}

int io_output(const char *flag, const char *path)
{
    struct file_id dir;
    int rc = check_output_file(flag, path, &dir, "", false);
    if (rc != EXIT_OK) return rc;
    return claim_output(flag, path, dir, strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
}

/* io_output for the checkpoint a resumed run keeps writing, which is also
 * its --resume input: every check but that one. Claimed as --resume's;
 * a refusal names `flag`, the flag that gave `path`. */
static int io_output_resumed(const char *flag, const char *path)
{
    struct stat st; /* a FIFO or device: reading the checkpoint says so first */
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) return EXIT_OK;
    struct file_id dir;
    int rc = check_output_file(flag, path, &dir, " (the checkpoint this resumed run replaces)", true);
    if (rc != EXIT_OK) return rc;
    return claim_output("--resume", path, dir, strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
}

int io_output_checkpoint(const char *checkpoint, const char *resume)
{
    const char *ck = checkpoint ? checkpoint : resume;
    if (!ck) return EXIT_OK;
    /* named by the flag that gave the path: --checkpoint may name the
     * --resume file by another path (a link to it); a caller that
     * defaulted --checkpoint to --resume passes resume's own string */
    const char *flag = checkpoint && checkpoint != resume ? "--checkpoint" : "--resume";
    if (resume && io_same_file(ck, resume)) return io_output_resumed(flag, ck);
    /* without --checkpoint the file is --resume's, also when it is missing */
    return io_output(flag, ck);
}

/* io_output_dir's checks after the name's: dir exists as a writable
 * directory, or its parent does (one level is made by the writer). */
static int output_dir_usable(const char *flag, const char *dir, const char *trimmed,
                             const char *parent, const char *base)
{
    struct stat st;
    if (stat(dir, &st) == 0) {
        struct stat lst; /* a symbolic link named as such, not as its target */
        if (!S_ISDIR(st.st_mode))
            return runtime_error("%s %s is %s%s, not a directory", flag, dir,
                                 lstat(dir, &lst) == 0 && S_ISLNK(lst.st_mode) ? "a symbolic link to " : "",
                                 kind_of(st.st_mode));
        if (access(dir, W_OK | X_OK) != 0)
            return runtime_error("%s %s: directory is not writable: %s", flag, dir, strerror(errno));
        int rc = check_real_fs(flag, dir, dir);
        return rc == EXIT_OK ? check_dir_unlocked(flag, dir, dir) : rc;
    }
    if (errno != ENOENT) return stat_dir_error(flag, dir, dir);
    /* A symbolic link to nothing is no new directory: mkdir fails on it
     * (EEXIST), which was found only when the work was done (a whole
     * sweep, then "p exists and is not a directory" without the flag). */
    struct stat lst;
    if (lstat(trimmed, &lst) == 0 && S_ISLNK(lst.st_mode))
        return runtime_error("%s %s is a symbolic link to nothing (a missing target); give the path of a "
                             "directory, or of a new one",
                             flag, dir);
    /* A new directory, made by its writer (one level): its parent must be
     * there and writable now, not only when the work is done. */
    int rc = EXIT_OK;
    if (stat(parent, &st) != 0)
        rc = runtime_error("%s %s: directory %s: %s", flag, dir, parent, strerror(errno));
    else if (!S_ISDIR(st.st_mode))
        rc = runtime_error("%s %s: %s is not a directory", flag, dir, parent);
    else if (access(parent, W_OK | X_OK) != 0)
        rc = runtime_error("%s %s: directory %s is not writable: %s", flag, dir, parent,
                           strerror(errno));
    else if ((rc = check_real_fs(flag, dir, parent)) == EXIT_OK)
        rc = check_not_dataset_name(flag, dir, parent, base, &st);
    /* not also a file another flag writes (--out x --plot x) */
    if (rc == EXIT_OK) rc = claim_output(flag, dir, (struct file_id){st.st_dev, st.st_ino}, base);
    return rc;
}

/* What a directory output's files add to its path while they are staged:
 * "/.mfrec-stage-XXXXXX/", then the file's name (a chart's
 * "mean_rating_per_movie.png", export's "user_bias.npy": 32 bytes is room
 * to spare) with the temporary file's suffix or, for a file replaced,
 * ".prev-" before it (shorter). */
#define STAGED_FILE_ROOM (sizeof "/.mfrec-stage-XXXXXX/" - 1 + 32 + strlen(TMP_SUFFIX))

int io_output_dir(const char *flag, const char *dir)
{
    if (!*dir) return usage_error("%s needs a directory name, got ''", flag);
    if (!strcmp(dir, "-")) return dash_refused(flag, "directory");
    if (g_inputs_lost) return inputs_lost(flag, dir);
    /* a path the system takes but not its staged files' (found only once
     * the work was done, after a whole training for --plot) */
    if (strlen(dir) + STAGED_FILE_ROOM >= PATH_MAX)
        return runtime_error("%s %s: a path of %zu bytes leaves no room for the files written into it (their "
                             "temporary names, under %d bytes in all): choose a path of at most %zu bytes",
                             flag, dir, strlen(dir), PATH_MAX, (size_t)PATH_MAX - 1 - STAGED_FILE_ROOM);
    /* the name without trailing slashes ("out/" is out): its parent, and
     * the cache's name refused whether or not the path exists */
    char *trimmed = strdup(dir);
    if (!trimmed) return runtime_error("out of memory");
    for (size_t n = strlen(trimmed); n > 1 && trimmed[n - 1] == '/'; n--) trimmed[n - 1] = '\0';
    const char *base;
    char *parent = split_dir(trimmed, &base);
    int rc = parent ? check_not_cache(flag, dir, base) : runtime_error("out of memory");
    /* an existing directory by its real name too ("c/.mfrec-cache/.", a link to one) */
    char *real = rc == EXIT_OK ? realpath(dir, NULL) : NULL;
    if (real) {
        const char *rb = strrchr(real, '/');
        rc = check_not_cache(flag, dir, rb ? rb + 1 : real);
        free(real);
    }
    if (rc == EXIT_OK) rc = output_dir_usable(flag, dir, trimmed, parent, base);
    free(parent);
    free(trimmed);
    return rc;
}

FILE *io_open_input(const char *flag, const char *path)
{
    /* non-blocking open: a FIFO must not block it; then only a regular
     * file is read (a device such as /dev/zero never ends) */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        runtime_error("%s %s: %s", flag, path, strerror(errno));
        return NULL;
    }
    struct stat st;
    FILE *f = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        runtime_error("%s %s is %s", flag, path, kind_of(st.st_mode));
    else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0 || !(f = fdopen(fd, "r")))
        runtime_error("%s %s: %s", flag, path, strerror(errno));
    if (!f) close(fd);
    else add_input_id(path, &st);
    if (f && stderr_input_refusal() != EXIT_OK) {
        fclose(f);
        f = NULL;
    }
    return f;
}

int io_check_fold_files(const char *dir, int n_folds)
{
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return EXIT_OK; /* a rating file: its own error later */
    static const char *const part[2] = {"base", "test"};
    for (int f = 1; f <= n_folds; f++)
        for (int x = 0; x < 2; x++) {
            char path[4096], what[32];
            if ((size_t)snprintf(path, sizeof path, "%s/u%d.%s", dir, f, part[x]) >= sizeof path)
                return runtime_error("fold u%d: the path of %s/u%d.%s is too long", f, dir, f, part[x]);
            snprintf(what, sizeof what, "fold u%d:", f);
            FILE *fp = io_open_input(what, path);
            if (!fp) return EXIT_RUNTIME;
            fclose(fp);
        }
    return EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* Stages: multi-file outputs renamed into place together               */
/* ------------------------------------------------------------------ */

/* The tests' hook: MFREC_TEST_SLOW_STAGE=MS sleeps MS milliseconds where
 * a signal must wait (exit_signals_defer): between making a stage and
 * registering it, and after each file renamed into place. */
static void test_slow_stage(void)
{
    const char *ms = getenv("MFREC_TEST_SLOW_STAGE");
    long v = ms ? strtol(ms, NULL, 10) : 0;
    if (v <= 0) return;
    struct timespec ts = {v / 1000, (v % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

int stage_open(struct stage *s, const char *flag, const char *out)
{
    *s = (struct stage){.flag = flag, .out = out, .lock = -1};
    static const char stage_name[] = "/.mfrec-stage-XXXXXX";
    const size_t n_out = strlen(out);
    s->dir = malloc(n_out + sizeof stage_name);
    if (!s->dir) return runtime_error("out of memory");
    /* copied, not snprintf'd: with UBSan's null checks gcc -O3 took `out`
     * for a possible NULL there (-Werror=format-truncation) */
    memcpy(s->dir, out, n_out);
    memcpy(s->dir + n_out, stage_name, sizeof stage_name);
    struct stat st;
    s->made_out = lstat(out, &st) != 0;
    /* a signal between the mkdir calls and the registration waited for
     * nothing: it left the new directories behind */
    exit_signals_defer(true);
    int rc = ensure_dir(out);
    if (rc == EXIT_OK && !mkdtemp(s->dir)) {
        rc = runtime_error("cannot create a directory in %s: %s", out, strerror(errno));
        if (s->made_out) rmdir(out);
    }
    if (rc == EXIT_OK) {
        test_slow_stage();
        cli_stage_names(s->dir, out);
        signal_cleanup_dir(s->dir, s->made_out ? out : NULL);
    } else {
        free(s->dir);
        s->dir = NULL;
    }
    exit_signals_defer(false);
    return rc;
}

/* The previous file of OUT/name is kept as DIR/.prev-name while a commit
 * runs (a staged file's name never starts with a dot). */
#define PREV_PREFIX ".prev-"

/* The names of the staged files (the stage directory's entries), in
 * *names (n of them); NULL on failure. */
static int staged_names(const struct stage *s, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(s->dir);
    if (!d) return runtime_error("cannot read %s: %s", s->dir, strerror(errno));
    int rc = EXIT_OK;
    size_t cap = 0;
    for (struct dirent *e; rc == EXIT_OK && (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        MFR_CLI_ASSERT(e->d_name[0] != '.');
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            char **grown = realloc(*names, cap * sizeof **names);
            if (!grown) {
                rc = runtime_error("out of memory");
                break;
            }
            *names = grown;
        }
        if (!((*names)[*n] = strdup(e->d_name))) rc = runtime_error("out of memory");
        else (*n)++;
    }
    closedir(d);
    return rc;
}

static void free_names(char **names, size_t n)
{
    for (size_t k = 0; k < n; k++) free(names[k]);
    free(names);
}

int stage_retire(struct stage *s, const char *name)
{
    MFR_CLI_ASSERT(s->dir && name[0] != '.' && !strchr(name, '/'));
    char **grown = realloc(s->retire, (s->n_retire + 1) * sizeof *grown);
    if (!grown) return runtime_error("out of memory");
    s->retire = grown;
    if (!(s->retire[s->n_retire] = strdup(name))) return runtime_error("out of memory");
    s->n_retire++;
    return EXIT_OK;
}

/* One file of a commit: its name in OUT, whether it is staged (moves in)
 * or retired (goes), whether OUT held it before (kept as DIR/.prev-name),
 * and whether the staged file is in OUT now. Its three paths are made
 * before the first rename (commit_prepare), so that neither the renames
 * nor putting OUT back needs memory: a failed allocation there left a
 * previous file in a kept stage, or a replaced file without its mode. */
struct commit_file {
    const char *name;
    char *paths;                 /* one block: out, staged and prev below */
    const char *out, *in, *prev; /* OUT/name, DIR/name, DIR/.prev-name */
    bool staged, had_old, moved_in;
};

/* The stage directory now holds a previous file that could not be put
 * back: it stays. A signal (waiting while the renames run) must not remove
 * it, and messages name it by its own name. */
static void keep_stage(struct stage *s)
{
    s->keep = true;
    signal_cleanup_dir(NULL, NULL);
    cli_stage_names(NULL, NULL);
}

/* rename(from, to); 0 or errno. */
static int rename_errno(const char *from, const char *to) { return rename(from, to) == 0 ? 0 : errno; }

/* Puts OUT back as it was: the staged files that moved in go back to the
 * stage, the previous files back into OUT. A step that fails is said (the
 * previous file then stays in the stage directory, which is kept). */
static void roll_back(struct stage *s)
{
    struct commit_file *f = s->files;
    for (size_t k = 0; k < s->n_files; k++) {
        if (!f[k].moved_in) continue;
        int e = rename_errno(f[k].out, f[k].in);
        if (e == 0) {
            f[k].moved_in = false;
        } else if (f[k].had_old) {
            keep_stage(s);
            runtime_error("cannot take back %s (the previous one is kept as %s): %s", f[k].out, f[k].prev, strerror(e));
        } else {
            runtime_error("cannot take back %s, which this failed run wrote: %s", f[k].out, strerror(e));
        }
    }
    for (size_t k = 0; k < s->n_files; k++) {
        if (!f[k].had_old || f[k].moved_in) continue;
        int e = rename_errno(f[k].prev, f[k].out);
        if (e == 0) {
            f[k].had_old = false;
        } else {
            keep_stage(s);
            runtime_error("cannot put back the previous %s (it is kept as %s): %s", f[k].out, f[k].prev, strerror(e));
        }
    }
}

/* The previous files out of the way, then the staged ones in; on a
 * failure everything is put back (roll_back). No allocation: the paths
 * are made (commit_prepare). */
static int swap_in(struct stage *s)
{
    struct commit_file *f = s->files;
    struct stat st;
    int rc = EXIT_OK;
    for (size_t k = 0; k < s->n_files && rc == EXIT_OK; k++) {
        if (lstat(f[k].out, &st) != 0) continue;
        /* the staged file takes the permission bits of the one it replaces
         * (a private file stays private), as single files do
         * (tmp_file_create); never setuid, setgid or sticky bits */
        if (f[k].staged && S_ISREG(st.st_mode)) (void)chmod(f[k].in, st.st_mode & 0777);
        int e = rename_errno(f[k].out, f[k].prev);
        if (e == 0) f[k].had_old = true;
        else rc = runtime_error("cannot %s %s: %s", f[k].staged ? "replace" : "remove", f[k].out, strerror(e));
    }
    for (size_t k = 0; k < s->n_files && rc == EXIT_OK; k++) {
        if (!f[k].staged) continue;
        int e = rename_errno(f[k].in, f[k].out);
        if (e == 0) {
            f[k].moved_in = true;
            test_slow_stage();
        } else {
            rc = runtime_error("cannot move %s into place: %s", f[k].out, strerror(e));
        }
    }
    if (rc != EXIT_OK) roll_back(s);
    return rc;
}

/* The stage directory's files (leftover staged ones, previous ones) and
 * the directory itself, unless a previous file could not be put back;
 * everything in it when the commit's files were never listed. */
static void stage_remove(struct stage *s)
{
    if (!s->files) {
        remove_dir_files(s->dir);
        return;
    }
    for (size_t k = 0; k < s->n_files; k++) {
        const struct commit_file *f = &s->files[k];
        if (!s->keep || !f->had_old) unlink(f->prev);
        if (f->staged && !f->moved_in) unlink(f->in);
    }
    if (!s->keep) rmdir(s->dir);
}

int stage_check(struct stage *s)
{
    if (!s->dir) return EXIT_OK;
    char **names;
    size_t n;
    int rc = staged_names(s, &names, &n);
    for (size_t k = 0; k < n && rc == EXIT_OK; k++) {
        char *p = path_join(s->out, names[k]);
        rc = p ? io_output(s->flag, p) : runtime_error("out of memory");
        free(p);
    }
    free_names(names, n);
    return rc;
}

/* Two runs committing into one OUT at once (a job array's --plot DIR, a
 * make -j of exports) interleaved their renames: OUT ended with some files
 * of each run, both reporting success. A commit holds an exclusive lock on
 * OUT from its first rename (or from stage_lock, before the files to
 * retire are decided) to its report (or roll-back), so the runs' sets
 * replace each other whole. Advisory and best effort: -1 (no lock)
 * where OUT cannot be locked (a file system without flock). */
static int lock_out(const char *out, bool *interrupted)
{
    int fd = open(out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    /* a signal that waits already (it came earlier in the bracket) does
     * not wait for another run's lock: only one that comes during the
     * blocking flock interrupts it (no SA_RESTART) */
    int r = flock(fd, LOCK_EX | LOCK_NB);
    if (r != 0 && errno == EWOULDBLOCK)
        while (!(*interrupted = exit_signal_waiting()) && (r = flock(fd, LOCK_EX)) != 0 && errno == EINTR) {}
    if (r != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int stage_lock(struct stage *s)
{
    bool interrupted = false;
    if (s->dir && s->lock < 0) s->lock = lock_out(s->out, &interrupted);
    /* a signal came while another run held OUT: nothing moved, and the
     * bracket's end acts on it (exit_signal_waiting) */
    return interrupted ? EXIT_RUNTIME : EXIT_OK;
}

/* One commit file's paths, in one block. */
static bool commit_paths(const struct stage *s, struct commit_file *f)
{
    const size_t lo = strlen(s->out), ld = strlen(s->dir), ln = strlen(f->name);
    const size_t n_out = lo + ln + 2, n_in = ld + ln + 2;
    if (!(f->paths = malloc(n_out + n_in + n_in + sizeof PREV_PREFIX))) return false;
    char *p = f->paths;
    sprintf(p, "%s/%s", s->out, f->name);
    sprintf(p + n_out, "%s/%s", s->dir, f->name);
    sprintf(p + n_out + n_in, "%s/" PREV_PREFIX "%s", s->dir, f->name);
    f->out = p, f->in = p + n_out, f->prev = p + n_out + n_in;
    return true;
}

/* Everything a commit needs memory for, before its first rename: the final
 * paths checked, the staged files listed, every path made. */
static int commit_prepare(struct stage *s)
{
    int rc = stage_check(s);
    size_t n_staged = 0;
    if (rc == EXIT_OK) rc = staged_names(s, &s->names, &n_staged);
    s->n_names = n_staged;
    struct commit_file *f = rc == EXIT_OK ? calloc(n_staged + s->n_retire + 1, sizeof *f) : NULL;
    if (rc == EXIT_OK && !f) rc = runtime_error("out of memory");
    if (rc != EXIT_OK) return rc;
    size_t n = 0;
    for (size_t k = 0; k < n_staged; k++) f[n++] = (struct commit_file){.name = s->names[k], .staged = true};
    for (size_t k = 0; k < s->n_retire; k++) {
        for (size_t j = 0; j < n_staged; j++) MFR_CLI_ASSERT(strcmp(s->names[j], s->retire[k]) != 0);
        f[n++] = (struct commit_file){.name = s->retire[k]};
    }
    for (size_t k = 0; k < n && rc == EXIT_OK; k++)
        if (!commit_paths(s, &f[k])) rc = runtime_error("out of memory");
    s->files = f, s->n_files = n;
    if (rc != EXIT_OK) { /* nothing moved: stage_remove empties the stage as it is */
        for (size_t k = 0; k < n; k++) free(f[k].paths);
        free(f);
        s->files = NULL, s->n_files = 0;
    }
    return rc;
}

int stage_swap(struct stage *s, int rc)
{
    if (!s->dir || s->swapped) return rc;
    /* every final path is checked before the first rename, so a refused
     * one leaves the old set whole */
    if (rc == EXIT_OK) rc = commit_prepare(s);
    /* the files move together: a signal among the renames waits for them */
    exit_signals_defer(true);
    if (rc == EXIT_OK) rc = stage_lock(s);
    if (rc == EXIT_OK) rc = swap_in(s);
    s->swapped = rc == EXIT_OK;
    exit_signals_defer(false);
    return rc;
}

int stage_commit(struct stage *s, int rc, const char *report)
{
    rc = stage_swap(s, rc);
    if (!s->dir) {
        return rc == EXIT_OK ? stdout_report(report) : rc;
    }
    /* the report once the files are in place; a standard output that
     * cannot be written (a full disk, /dev/full, a closed stdout) puts the
     * previous set back, so a failed run leaves nothing of its own */
    if (rc == EXIT_OK) rc = stdout_report(report);
    if (rc != EXIT_OK && s->swapped) {
        exit_signals_defer(true);
        roll_back(s);
        exit_signals_defer(false);
    }
    if (s->lock >= 0) close(s->lock); /* releases it */
    s->lock = -1;
    stage_remove(s);
    for (size_t k = 0; k < s->n_files; k++) free(s->files[k].paths);
    free(s->files);
    free_names(s->names, s->n_names);
    for (size_t k = 0; k < s->n_retire; k++) free(s->retire[k]);
    free(s->retire);
    signal_cleanup_dir(NULL, NULL);
    cli_stage_names(NULL, NULL);
    free(s->dir);
    /* a directory made for this output goes again when nothing came of it */
    if (rc != EXIT_OK && s->made_out) rmdir(s->out);
    *s = (struct stage){.flag = s->flag, .out = s->out, .lock = -1};
    return rc;
}

int io_removable(const char *flag, const char *path, const char *why)
{
    return check_existing(flag, path, "remove", why, false);
}

bool io_is_input(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && is_input(&st);
}

bool io_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}
