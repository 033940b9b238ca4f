/*
 * mfrec.h — the public API of mfrec, a deterministic multithreaded
 * matrix-factorization trainer and movie recommender.
 *
 * This is the only installed header. Every exported name starts with `mfr_`,
 * every macro and enum value with `MFR_`. Long-lived objects are opaque
 * handles; destroy functions accept NULL, and so do the functions that
 * fill an options or configuration struct with its defaults (*_default),
 * which then do nothing. Accessors without an error argument accept a NULL
 * handle or an index out of range and return a value no valid call gives
 * where there is one (-1 for an id, NULL for a pointer), else 0.
 *
 * Errors: functions that can fail return an `int` status (`MFR_OK` = 0,
 * errors negative, see `enum mfr_status`) and, when given a non-NULL
 * `mfr_error *err`, fill it with the status and a message that names the
 * cause (file and line for parse errors, field and value for bad
 * configuration). The library never prints and never calls exit().
 *
 * Thread-safety: handles are not internally locked. Const accessors on a
 * handle may be called from several threads at once; anything that takes a
 * non-const handle must not run concurrently with other calls on it.
 * Separate handles may be used from separate threads at once (two trainers
 * trained at the same time write the bytes each writes alone). The library
 * runs its parallel work on OpenMP teams of its own and never changes the
 * calling program's OpenMP settings (no omp_set_* call) or the calling
 * thread's CPU affinity; a thread count left at 0 follows the calling
 * thread's omp_get_max_threads() (omp_set_num_threads, else
 * OMP_NUM_THREADS, else the core count).
 *
 * Determinism: for one build, one dataset, one seed and one configuration,
 * training produces bit-identical factors and model files for every thread
 * count (see docs/DETERMINISM.md).
 */
#ifndef MFREC_H
#define MFREC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define MFR_API
#else
#define MFR_API __attribute__((visibility("default")))
#endif

/** The release of this header. mfr_version() gives the release of the
 *  library a program runs against; a program linked to the shared library
 *  can compare the two. */
#define MFR_VERSION_STRING "0.1.0"

/* ------------------------------------------------------------------ */
/* Status codes and errors                                              */
/* ------------------------------------------------------------------ */

/** Status codes. Values are never reused. */
enum mfr_status {
    MFR_OK = 0,
    MFR_ERR_INVALID = -1,     /**< bad argument or configuration value */
    MFR_ERR_IO = -2,          /**< a file could not be opened, read or written */
    MFR_ERR_PARSE = -3,       /**< malformed input file (message names file:line) */
    MFR_ERR_NOMEM = -4,       /**< an allocation failed */
    MFR_ERR_TOO_LARGE = -5,   /**< a size overflows or exceeds the memory budget */
    MFR_ERR_CORRUPT = -6,     /**< model file truncated, corrupted or foreign */
    MFR_ERR_DIVERGED = -7,    /**< the loss became non-finite */
    MFR_ERR_MISMATCH = -8,    /**< model and dataset (or arrays) do not match */
    MFR_ERR_UNSUPPORTED = -9, /**< feature not available on this CPU or build */
    MFR_ERR_NOT_FOUND = -10,  /**< a named entity (id, title, file) does not exist */
    MFR_ERR_STATE = -11,      /**< call made in the wrong order */
    MFR_ERR_DATA = -12,       /**< valid arguments the data cannot satisfy (too few ratings) */
};

/**
 * Returns a static, human-readable name for a status code; never NULL
 * ("unknown status" for values that are not codes).
 */
MFR_API const char *mfr_status_str(int status);

/** Filled by functions that fail; `message` is always NUL-terminated. */
typedef struct mfr_error {
    int status;
    char message[512];
} mfr_error;

/* ------------------------------------------------------------------ */
/* Log callbacks                                                        */
/* ------------------------------------------------------------------ */

/** Severity of a message passed to a log callback. */
enum mfr_log_level {
    MFR_LOG_WARN = 1, /**< something went wrong and was worked around */
    MFR_LOG_INFO = 2, /**< progress worth knowing, nothing wrong */
};

/**
 * A log callback: `user` is the pointer registered with it, `level` an
 * enum mfr_log_level, `msg` one line (no trailing newline) valid only
 * during the call. The library never prints: a program that wants warnings
 * on stderr registers a callback that prints them.
 */
typedef void (*mfr_log_fn)(void *user, int level, const char *msg);

/* ------------------------------------------------------------------ */
/* Ratings and datasets                                                 */
/* ------------------------------------------------------------------ */

/**
 * A set of ratings in dense 0-based indices: user u in [0, n_users),
 * item i in [0, n_items), a float rating and the file's timestamp.
 */
typedef struct mfr_ratings mfr_ratings;

/** A dataset: ratings, dense id maps, movie and user metadata. */
typedef struct mfr_dataset mfr_dataset;

/** Rating file formats (mfr_load_options.format). */
enum mfr_format {
    MFR_FORMAT_AUTO = 0,      /**< from the files present (see mfr_dataset_load) */
    MFR_FORMAT_ML100K = 1,    /**< u.data, u.item, u.user, u.genre, u.occupation */
    MFR_FORMAT_ML1M = 2,      /**< ML-1M / ML-10M: ratings.dat, movies.dat, users.dat */
    MFR_FORMAT_CSV = 3,       /**< ML-20M / 25M / 32M / latest: ratings.csv, movies.csv */
    MFR_FORMAT_DELIMITED = 4, /**< one "user SEP item SEP rating [SEP timestamp]" file */
};

/** Header line of the delimited format (mfr_load_options.header). */
enum mfr_header {
    MFR_HEADER_AUTO = 0, /**< line 1 is a header when its first field is not an integer */
    MFR_HEADER_YES = 1,  /**< line 1 is a header and is skipped */
    MFR_HEADER_NO = 2,   /**< every line is a rating */
};

/** Use of the binary dataset cache (mfr_load_options.cache). */
enum mfr_cache {
    MFR_CACHE_AUTO = 0,   /**< read and write it when the rating file has at least
                               MFR_CACHE_AUTO_BYTES bytes */
    MFR_CACHE_NEVER = 1,  /**< neither read nor write a cache */
    MFR_CACHE_ALWAYS = 2, /**< read and write it whatever the size */
};

/** Rating files of at least this many bytes are cached under MFR_CACHE_AUTO:
 *  ML-100K (1.9 MB) and up, whose text load (parse, id maps, fingerprint)
 *  costs several times the mapped cache's (docs/PERFORMANCE.md). */
#define MFR_CACHE_AUTO_BYTES ((int64_t)1 << 20)

/**
 * Options for reading rating files. Fill with mfr_load_options_default();
 * new fields are only ever added at the end, and a zero-initialized field
 * means its default.
 */
typedef struct mfr_load_options {
    /** Accepted rating range. The defaults (1, 5), or (0, 0), mean "the
     *  format decides": 1..5 for ML-100K and ML-1M (ratings.dat with
     *  users.dat), 0.5..5 for ML-10M (ratings.dat without users.dat) and
     *  the CSV format, any finite rating for the delimited format. Any other
     *  finite range is used as given. */
    float min_rating; /**< default 1 */
    float max_rating; /**< default 5 */
    int32_t format;   /**< enum mfr_format, default MFR_FORMAT_AUTO */
    /** Delimited format: the separator byte, or 0 (default) to detect it
     *  from line 1 (the first of tab, ',', ';', '|', ' ' that occurs). A
     *  byte that may occur in a number or a quoted field is refused
     *  (mfr_separator_ok). */
    char sep;
    int32_t header;           /**< delimited format: enum mfr_header, default AUTO */
    /** The rating file, relative to the directory unless absolute; NULL
     *  (default) for the format's own name (u.data, ratings.dat,
     *  ratings.csv). Required by the delimited format unless `dir` names
     *  the file itself. */
    const char *ratings_file;
    int32_t cache;            /**< enum mfr_cache, default MFR_CACHE_AUTO */
    /** Where the cache lives; NULL (default) for DIR/MFR_CACHE_FILE. */
    const char *cache_path;
    /** Receives problems the load works around instead of failing on (a
     *  dataset cache that cannot be written, with its path and the cause;
     *  as MFR_LOG_INFO, a line 1 taken as a header because header was left
     *  to be detected, unless it names known columns: "FILE:1: ..."),
     *  one NUL-terminated line without a trailing newline per call, on the
     *  calling thread, during mfr_dataset_load only. NULL (default): such
     *  problems are not reported (the library never prints). */
    mfr_log_fn log;
    void *log_user; /**< passed to `log` unchanged; default NULL */
    /** Bytes a text parse may hold (0, the default: no limit): parsing a
     *  rating file holds 20 bytes a rating (ids, rating, timestamp) until
     *  the dataset is built, so a file with more lines than the budget
     *  allows is refused with MFR_ERR_TOO_LARGE after its lines are
     *  counted, before the arrays are allocated (training's own budget,
     *  mfr_config.max_memory, is checked when the trainer is made) */
    uint64_t max_memory;
} mfr_load_options;

/** The dataset cache's file name in the data directory; caches beside it
 *  (the MPI build's user-ordered one) add a suffix to it. */
#define MFR_CACHE_FILE ".mfrec-cache"

/** Fills `opt` with the defaults documented above. */
MFR_API void mfr_load_options_default(mfr_load_options *opt);
/** 1 when `sep` may separate the fields of a delimited rating file: an
 *  ASCII space, tab or punctuation byte other than '"', '.', '-' and '+'
 *  (letters and digits may be part of a number such as 1e0 or of an id). */
MFR_API int mfr_separator_ok(char sep);

/**
 * Loads a dataset from directory `dir` (or from a rating file: `dir` may
 * name the file itself, whose directory then holds the metadata files).
 * The format is `opt->format`, or with MFR_FORMAT_AUTO: a file is known by
 * its name (u.data and ML-100K's splits u1.base .. ub.test, ratings.csv,
 * ratings.dat and any other name ending in ".dat" (ML1M), anything else
 * delimited; a delimited file of u.data lines
 * with u.item, u.user or u.genre beside it, whose metadata is then not
 * read, is said through `log`, MFR_LOG_INFO), a
 * directory by the one of u.data, ratings.dat, ratings.csv it holds (a
 * directory with two of them is MFR_ERR_INVALID: either could be meant).
 *
 *   ML100K  `u.data` (tab separated: user, item, rating[, timestamp]);
 *           optional `u.item`, `u.user`, `u.genre`, `u.occupation` (pipe
 *           separated; a file's text that is valid UTF-8 is kept, else it
 *           is read as latin-1 and converted to UTF-8, as for ML1M).
 *   ML1M    `ratings.dat` ("UserID::MovieID::Rating::Timestamp"); optional
 *           `movies.dat` ("MovieID::Title::Genres", genres '|' separated)
 *           and `users.dat` ("UserID::Gender::Age::Occupation::Zip-code",
 *           occupation a number 0..20 named as in the ML-1M README). Text
 *           that is valid UTF-8 is kept, else it is read as latin-1.
 *   CSV     `ratings.csv` (header "userId,movieId,rating,timestamp");
 *           optional `movies.csv` ("movieId,title,genres", titles quoted
 *           with "" escapes; "(no genres listed)" is a genre name).
 *   DELIMITED  one file "user SEP item SEP rating [SEP timestamp]" with the
 *           separator and header of the options; spaces around fields are
 *           ignored (unless the separator is a space); no metadata.
 *
 * Genres: ML-100K's come from u.genre (or its 19 defaults); the other
 * formats list the genre names their movie file uses, in the MovieLens
 * order (Action, Adventure, Animation, Children's/Children, Comedy, Crime,
 * Documentary, Drama, Fantasy, Film-Noir, Horror, Musical, Mystery,
 * Romance, Sci-Fi, Thriller, War, Western), then any others in byte order
 * (e.g. "(no genres listed)", IMAX); more than 32 is a parse error.
 *
 * Raw ids (positive, up to INT64_MAX) are re-indexed densely from 0 in
 * ascending id order over the union of the ids of the rating and metadata
 * files. A (user, item) pair rated twice is an error.
 *
 * Cache: when `opt->cache` allows it, a successful parse writes a binary
 * copy of the dataset (atomically; a failure to write does not fail the
 * load and is reported as one MFR_LOG_WARN through `opt->log`) and
 * later loads read it instead of the text while the options and every
 * source file's size and modification time are unchanged. A stale or
 * corrupt cache is ignored and rewritten. A dataset read from the cache is
 * identical to the parsed one (same fingerprint, ids, metadata).
 *
 * `opt` may be NULL for the defaults. On failure *out is NULL and nothing
 * is allocated. Errors: MFR_ERR_INVALID (options, an empty `dir`, or the
 * delimited format without a file), MFR_ERR_IO (a missing or unreadable
 * file, no rating file to detect), MFR_ERR_PARSE ("file:line: ..."),
 * MFR_ERR_NOMEM, MFR_ERR_TOO_LARGE. Ranges bound ratings; steps (whole or
 * half stars) are not checked.
 */
MFR_API int mfr_dataset_load(const char *dir, const mfr_load_options *opt,
                             mfr_dataset **out, mfr_error *err);
MFR_API void mfr_dataset_destroy(mfr_dataset *ds);

/*
 * Dataset accessors read the dataset only (thread-safe). Misuse never reads
 * as a plausible value: a NULL dataset or an index out of range gives -1
 * for counts, indices, ids, years and ages, NULL for strings (where ""
 * means "not in the files"), '\0' for the sex, NaN for the rating range and
 * 0 for the genre bits and the fingerprint.
 */

/** Users (items) of the dataset; -1 when ds is NULL. */
MFR_API int32_t mfr_dataset_n_users(const mfr_dataset *ds);
MFR_API int32_t mfr_dataset_n_items(const mfr_dataset *ds);
/** All ratings of u.data, in file order. Owned by the dataset; NULL when
 *  ds is NULL. */
MFR_API const mfr_ratings *mfr_dataset_ratings(const mfr_dataset *ds);
/** The directory the dataset was loaded from (absolute when possible);
 *  NULL when ds is NULL. */
MFR_API const char *mfr_dataset_dir(const mfr_dataset *ds);
/** A 64-bit fingerprint of the id maps and all ratings (0 when ds is NULL). */
MFR_API uint64_t mfr_dataset_fingerprint(const mfr_dataset *ds);
/** The format the dataset was read in (enum mfr_format, never AUTO); -1
 *  when ds is NULL. */
MFR_API int32_t mfr_dataset_format(const mfr_dataset *ds);
/** A static name for a format: "auto", "ml-100k", "ml-1m", "csv",
 *  "delimited" ("unknown" for other values); never NULL. */
MFR_API const char *mfr_format_name(int32_t format);
/** The dataset's rating scale (see mfr_load_options); either pointer may
 *  be NULL. For the delimited format with the default range it is the
 *  smallest and largest rating of the file. NaN when ds is NULL. */
MFR_API void mfr_dataset_rating_range(const mfr_dataset *ds, float *min_rating,
                                      float *max_rating);

/** Raw (file) id of dense user index u, or -1 when out of range. */
MFR_API int64_t mfr_dataset_user_id(const mfr_dataset *ds, int32_t u);
MFR_API int64_t mfr_dataset_item_id(const mfr_dataset *ds, int32_t i);
/** Returned by mfr_dataset_user_index / item_index for an unknown id. */
#define MFR_INDEX_UNKNOWN (-1)
/** Returned by mfr_dataset_user_index / item_index when ds is NULL. */
#define MFR_INDEX_INVALID (-2)
/** Dense index of a raw id: MFR_INDEX_UNKNOWN (-1) when the id is not in
 *  the dataset, MFR_INDEX_INVALID (-2) when ds is NULL. */
MFR_API int32_t mfr_dataset_user_index(const mfr_dataset *ds, int64_t raw_id);
MFR_API int32_t mfr_dataset_item_index(const mfr_dataset *ds, int64_t raw_id);

/** UTF-8 title of item i ("" when u.item is absent or lists no title;
 *  NULL when i is out of range). */
MFR_API const char *mfr_dataset_item_title(const mfr_dataset *ds, int32_t i);
/** How mfr_dataset_find_title matched (its *match_out). */
enum mfr_title_match {
    MFR_TITLE_NONE = 0,      /**< nothing matched: the items are the closest titles */
    MFR_TITLE_ID = 1,        /**< "#ID": the movie with that raw id */
    MFR_TITLE_EXACT = 2,     /**< the whole title (with or without its year) */
    MFR_TITLE_SUBSTRING = 3, /**< the text occurs in the title */
};

/**
 * Finds the movies a person means by `text`, in this order: "#ID" (a raw
 * movie id, written [-]DIGITS as in rating files; other text starting
 * with '#' is a title's, "#Horror (2015)"); titles equal to the
 * text; titles containing it; and when
 * nothing matches, the closest titles as suggestions. Comparisons ignore
 * case (ASCII and Latin-1) and Latin-1 accents ("Miserables" finds
 * "Misérables"); a title is compared as written, with MovieLens' trailing
 * article moved to the front ("Usual Suspects, The (1995)" also reads "The
 * Usual Suspects (1995)") and with it left out ("Usual Suspects (1995)"),
 * and an exact match may leave out the final " (YEAR)"; when some titles
 * equal the text as written and others only in an article form ("Fargo
 * (1996)" and "Fargo, The (1996)" for "fargo"), the first are the matches.
 * `*match_out` gets the enum mfr_title_match of the first rule that
 * matched (MFR_TITLE_NONE when none did). Matches: *n_out gets their
 * number and items_out their first min(n, max_out) dense indices in index
 * order (several mean the text is ambiguous). No match: items_out gets up
 * to max_out titles by increasing distance (ties: lower index): the edit
 * distance to the whole title, or to its closest part plus one (for a text
 * of four bytes or more), keeping only those within two of the closest
 * and none more edits away than half the text's length or two, whichever is more (no near miss);
 * *n_out their number (0 when max_out is 0 or no movie has a title).
 * Errors: MFR_ERR_INVALID (NULL pointer, max_out < 0), MFR_ERR_NOMEM.
 * Reads the dataset only; deterministic.
 */
MFR_API int mfr_dataset_find_title(const mfr_dataset *ds, const char *text, int32_t *items_out,
                                   int32_t max_out, int32_t *n_out, int *match_out,
                                   mfr_error *err);
/** Release date text as in u.item ("" when unknown; NULL out of range). */
MFR_API const char *mfr_dataset_item_date(const mfr_dataset *ds, int32_t i);
/** Release year, 0 when unknown, -1 when i is out of range. */
MFR_API int32_t mfr_dataset_item_year(const mfr_dataset *ds, int32_t i);
/** Bit g set when item i has genre g (g < mfr_dataset_n_genres); 0 when
 *  i is out of range. */
MFR_API uint32_t mfr_dataset_item_genres(const mfr_dataset *ds, int32_t i);
/** Genre names of the dataset (-1 when ds is NULL), genre g's name (NULL
 *  when g is out of range). */
MFR_API int32_t mfr_dataset_n_genres(const mfr_dataset *ds);
MFR_API const char *mfr_dataset_genre_name(const mfr_dataset *ds, int32_t g);
/** User metadata from u.user; age 0, sex '?', "" when absent from the
 *  files; age -1, sex '\0', NULL when u is out of range. */
MFR_API int32_t mfr_dataset_user_age(const mfr_dataset *ds, int32_t u);
MFR_API char mfr_dataset_user_sex(const mfr_dataset *ds, int32_t u);
MFR_API const char *mfr_dataset_user_occupation(const mfr_dataset *ds, int32_t u);
MFR_API const char *mfr_dataset_user_zip(const mfr_dataset *ds, int32_t u);

/**
 * Reads a rating file (`path`), mapping raw ids through the dataset's id
 * maps. Whatever the dataset's format, the file's separator is detected
 * from line 1 as a --data rating file's is: the dataset's own separator
 * ("::" for ML-1M/10M, ',' for CSV, the delimited format's) when the line
 * has it, else u.data's tab (what mfr_ratings_write writes, and the
 * canonical u1.base.. split files), else the first of "::", ',', ';', '|'
 * and space that it holds (none: an error). A first line whose first field
 * starts with a letter is a header (not in the "::" syntax), whose column
 * names must not put the columns in another order. An
 * unknown id, a malformed line, a duplicate pair or a rating outside the
 * dataset's range is an error naming the file and line.
 */
MFR_API int mfr_dataset_read_ratings(const mfr_dataset *ds, const char *path,
                                     mfr_ratings **out, mfr_error *err);

/** What mfr_dataset_read_known_ratings left out. */
typedef struct mfr_unknown_ratings {
    int64_t n;          /**< ratings left out */
    int64_t n_user;     /**< of them, those whose user the dataset lacks */
    int64_t n_item;     /**< those whose item it lacks (a rating may count in both) */
    int64_t first_line; /**< the file's line of the first one; 0 when n is 0 */
} mfr_unknown_ratings;

/**
 * mfr_dataset_read_ratings for ratings that may name users or items the
 * dataset does not have (the test part of a split written by `mfrec
 * split`, whose training part became the dataset): those ratings are left
 * out and counted in *left_out instead of failing. Their lines are still
 * checked for syntax and range. A file with no rating left is an error
 * naming the first unknown line.
 */
MFR_API int mfr_dataset_read_known_ratings(const mfr_dataset *ds, const char *path,
                                           mfr_ratings **out, mfr_unknown_ratings *left_out,
                                           mfr_error *err);

/** Number of ratings; -1 when r is NULL. */
MFR_API int64_t mfr_ratings_count(const mfr_ratings *r);
/** Reads rating `idx` (0 <= idx < count); any output pointer may be NULL
 *  (timestamp 0 when the file has none). MFR_ERR_INVALID for a NULL r or
 *  idx out of range, the outputs then untouched. Thread-safe. */
MFR_API int mfr_ratings_get(const mfr_ratings *r, int64_t idx, int32_t *user,
                            int32_t *item, float *rating, int64_t *timestamp,
                            mfr_error *err);
/**
 * Counts the ratings of `a` whose (user, item) pair also occurs in `b`
 * (dense indices of one dataset) into *n_common, and the index in `a` of
 * the first one into *first_a (-1 when none). Used to refuse a test set
 * that repeats training ratings. MFR_ERR_INVALID (NULL), MFR_ERR_NOMEM.
 */
MFR_API int mfr_ratings_overlap(const mfr_ratings *a, const mfr_ratings *b, int64_t *n_common,
                                int64_t *first_a, mfr_error *err);
/**
 * Writes `r` in u.data format (tab separated, whatever the dataset's own
 * format) with the dataset's raw ids, atomically
 * (temporary file, fsync, rename): on failure nothing is left at `path`.
 * A `path` that is one of the files `ds` was read from (its rating file or
 * a metadata file beside it, through any name) is MFR_ERR_INVALID and is
 * left as it is.
 */
MFR_API int mfr_ratings_write(const mfr_ratings *r, const mfr_dataset *ds,
                              const char *path, mfr_error *err);
MFR_API void mfr_ratings_destroy(mfr_ratings *r);

/* ------------------------------------------------------------------ */
/* Splits                                                               */
/* ------------------------------------------------------------------ */

typedef struct mfr_split mfr_split;

/**
 * Splits a dataset into a training and a test (validation) part.
 * `spec` is one of:
 *   "sklearn:SEED[:TEST_FRACTION]"  exactly the rows of scikit-learn's
 *        train_test_split(ratings, test_size=FRACTION (0.25),
 *        random_state=SEED), in the order sklearn returns them;
 *   "u1".."u5", "ua", "ub"  the canonical files of the dataset directory;
 *   "random:FRACTION"  the project's own seeded holdout (uses `seed`);
 *   "none"  every rating in the training part, in file order; the test
 *        part is empty.
 * The default of the command-line tool is "sklearn:300".
 */
MFR_API int mfr_split_create(const mfr_dataset *ds, const char *spec, uint64_t seed,
                             mfr_split **out, mfr_error *err);
/**
 * mfr_split_create with less memory: for a "random:" or "none" spec the training
 * part is not copied but refers to the dataset's ratings (which must
 * outlive the split), with one byte a rating marking the test rows, and
 * the test part is copied without its timestamps (mfr_ratings_get reports
 * 0); an "sklearn:" split's two parts are copied without their
 * timestamps; the other specs are copied as by mfr_split_create. Such a
 * training part is read by mfr_trainer_create, mfr_trainer_resume, mfr_trainer_evaluate,
 * mfr_model_evaluate, mfr_ratings_count and mfr_ratings_get (same results
 * as from a copy; mfr_ratings_get reads it in index order at one step a
 * rating, any other order at up to 65536 marks a rating); the other functions taking ratings (mfr_ratings_write,
 * mfr_ratings_overlap, mfr_model_ranking, mfr_model_recommend_users,
 * mfr_ease_fit, mfr_ease_fit_ratings, mfr_ease_ranking,
 * mfr_softmax_trainer_create and the MPI trainer's create, resume and
 * evaluate) refuse it (MFR_ERR_UNSUPPORTED): they need
 * mfr_split_create's copies. A dataset read from its cache file then
 * never becomes resident whole: passes over it release its pages behind
 * them.
 */
MFR_API int mfr_split_create_lean(const mfr_dataset *ds, const char *spec, uint64_t seed,
                                  mfr_split **out, mfr_error *err);
MFR_API const mfr_ratings *mfr_split_train(const mfr_split *s);
MFR_API const mfr_ratings *mfr_split_test(const mfr_split *s);
/** The normalized spec string, e.g. "sklearn:300:0.25". */
MFR_API const char *mfr_split_spec(const mfr_split *s);
MFR_API void mfr_split_destroy(mfr_split *s);

/* ------------------------------------------------------------------ */
/* Synthetic data                                                       */
/* ------------------------------------------------------------------ */

typedef struct mfr_synth_options {
    int32_t n_users;     /**< default 943 */
    int32_t n_items;     /**< default 1682 */
    int64_t n_ratings;   /**< default 100000; at most n_users * n_items */
    int32_t rank;        /**< planted rank, default 8 */
    float noise;         /**< std of Gaussian noise added before rounding, default 0.5 */
    uint64_t seed;       /**< default 1 */
    double item_zipf;    /**< Zipf exponent of item popularity, default 1.0 */
    double user_zipf;    /**< Zipf exponent of user activity, default 0.8 */
    /** bytes the generator may allocate (checked before allocating, error
     *  MFR_ERR_TOO_LARGE naming the need); 0: the machine's physical memory */
    uint64_t max_memory;
} mfr_synth_options;

MFR_API void mfr_synth_options_default(mfr_synth_options *opt);
/**
 * Writes a planted low-rank dataset in the ML-100K layout into directory
 * `dir` (created if missing): u.data, u.item, u.user, u.genre, u.occupation,
 * and planted.txt (a "# mfrec synth" line, then the planted model's RMSE,
 * rank and rating count), each file atomically. Ratings are integers 1..5;
 * every user and every item gets at least one rating when n_ratings >=
 * max(n_users, n_items). Deterministic in the options. A `dir` that
 * mfr_synth_check_dir refuses is refused the same way before anything is
 * allocated or written.
 */
MFR_API int mfr_synth_write(const mfr_synth_options *opt, const char *dir, mfr_error *err);
/**
 * MFR_OK when mfr_synth_write may write into `dir`: it does not exist (and
 * its parent is a directory, where it will be made), holds
 * none of the files synth writes, or holds files of an earlier
 * mfr_synth_write (its planted.txt starts with "# mfrec synth"). Else
 * MFR_ERR_IO naming dir when it exists and is not a directory or cannot be
 * made, or naming the file: one of synth's files that is not a regular
 * file (a directory, FIFO or symbolic link: never replaced; the message
 * says which, and is the one given when synth's files are also a dataset
 * it did not write), a dataset
 * synth did not write (its u.data,
 * say, would be replaced) or another dataset's file that the new files would
 * contradict (u1.base .. ub.test, u.info, ratings.dat, ratings.csv, ...).
 */
MFR_API int mfr_synth_check_dir(const char *dir, mfr_error *err);
/**
 * What mfr_synth_write(opt) needs, before it runs: *memory (may be NULL)
 * the bytes it allocates (what max_memory is compared with), *disk (may be
 * NULL) an upper bound of the bytes its files take (each line at its
 * longest; the real size is smaller by the shorter ids). Validates opt
 * first (NULL: the defaults): MFR_ERR_INVALID naming the field, as
 * mfr_synth_write does. Values too large for uint64 read UINT64_MAX.
 */
MFR_API int mfr_synth_estimate(const mfr_synth_options *opt, uint64_t *memory, uint64_t *disk,
                               mfr_error *err);

/* ------------------------------------------------------------------ */
/* NumPy arrays                                                         */
/* ------------------------------------------------------------------ */

/**
 * Reads a 2-D little-endian float32 (`<f4`) C-order NumPy .npy file.
 * On success *data is malloc'd (free with mfr_free).
 */
MFR_API int mfr_npy_read_f32(const char *path, int64_t *rows, int64_t *cols,
                             float **data, mfr_error *err);
/**
 * The rows [row_lo, row_hi) of such a file, after the same checks of the
 * whole file; *rows and *cols are the file's whole shape. When the range
 * is not inside the shape no data is read (*data is an empty allocation):
 * the caller's check of the shape reports it.
 */
MFR_API int mfr_npy_read_f32_rows(const char *path, int64_t row_lo, int64_t row_hi, int64_t *rows,
                                  int64_t *cols, float **data, mfr_error *err);
/** Writes a 2-D float32 .npy file atomically. */
MFR_API int mfr_npy_write_f32(const char *path, int64_t rows, int64_t cols,
                              const float *data, mfr_error *err);
/** Frees memory returned by the library (NULL is fine). */
MFR_API void mfr_free(void *p);

/* ------------------------------------------------------------------ */
/* Configuration                                                        */
/* ------------------------------------------------------------------ */

/** Largest embedding dimension k; with biases k + 2 <= MFR_MAX_K. */
#define MFR_MAX_K 4096
/** Largest k for MFR_OPTIMIZER_ALS (a k x k system per row). */
#define MFR_ALS_MAX_K 512

enum mfr_reduce {
    MFR_REDUCE_AUTO = 0,    /**< chosen from the data's shape (mfr_trainer_reduce_reason) */
    MFR_REDUCE_DEFAULT = MFR_REDUCE_AUTO, /**< the former name of MFR_REDUCE_AUTO */
    MFR_REDUCE_SHARD = 1,   /**< per-shard item buffers summed in shard order */
    MFR_REDUCE_OWNER = 2,   /**< residuals, then per-item sums over a CSC copy */
};

enum mfr_kernels {
    MFR_KERNELS_AUTO = 0, /**< the widest set the CPU runs: AVX-512 (the AVX2 set with its
                               passes in 512-bit halves), AVX2/FMA, else portable */
    MFR_KERNELS_REF = 1,  /**< portable scalar reference */
    MFR_KERNELS_AVX2 = 2, /**< AVX2 + FMA (error when unsupported) */
    MFR_KERNELS_AVX512 = 3, /**< the AVX2 set with its passes in 512-bit halves, AVX-512F
                                 (error when unsupported); the same bits as every set */
};

enum mfr_optimizer {
    MFR_OPTIMIZER_ADAM = 0, /**< Adam with PyTorch's update (lr, beta1, beta2, eps) */
    MFR_OPTIMIZER_SGD = 1,  /**< plain full-batch gradient descent: p -= lr g */
    MFR_OPTIMIZER_ALS = 2,  /**< alternating least squares: each row solved exactly (src/train/als.c) */
};

/**
 * Training configuration. Fill with mfr_config_default() first; new fields
 * are only ever added at the end.
 */
typedef struct mfr_config {
    int32_t k;           /**< embedding dimension, 1..MFR_MAX_K, default 30 */
    double lr;           /**< Adam learning rate, default 1e-3 */
    double beta1;        /**< default 0.9 */
    double beta2;        /**< default 0.999 */
    double eps;          /**< default 1e-8 */
    double init_std;     /**< std of the N(0, std^2) init, default 1.0 */
    uint64_t seed;       /**< initialization seed, default 300 */
    int32_t n_shards;    /**< 0: derived from the data (never from threads) */
    int32_t reduce;      /**< enum mfr_reduce, default MFR_REDUCE_AUTO */
    int32_t kernels;     /**< enum mfr_kernels, default MFR_KERNELS_AUTO */
    /** 0: the calling thread's omp_get_max_threads() (omp_set_num_threads,
     *  else OMP_NUM_THREADS, else the core count), measured against one
     *  (mfr_trainer_threads_auto); at most MFR_MAX_THREADS */
    int32_t n_threads;
    uint64_t max_memory; /**< bytes; 0: the machine's physical memory */
    /** L2 weight λr: adds λr (1/N Σ_u |U_u|² + 1/M Σ_i |V_i|²), default 0 */
    double l2;
    /** gravity weight λg: adds λg/(M N) Σ_u Σ_i <U_u, V_i>², default 0 */
    double gravity;
    /** 1: predict b_u + b_i + <U_u, V_i> with learned biases (b_i starts at
     *  the training mean), default 0 */
    int32_t bias;
    /** enum mfr_optimizer, default MFR_OPTIMIZER_ADAM */
    int32_t optimizer;
    /** frequency-weighted L2 λf: adds λf/|R| Σ_(u,i)∈R (|U_u|² + |V_i|²) over
     *  the training ratings R, i.e. each row weighted by its rating count
     *  (the regularization SGD matrix factorization applies), default 0 */
    double l2_freq;
    /** bias L2 λb (needs bias): adds λb (1/N Σ_u b_u² + 1/M Σ_i (b_i - μ)²),
     *  μ the training mean (where b_i starts; less item_prior_drop), default 0 */
    double l2_bias;
    /** implicit feedback (SVD++) λy: when > 0, a user's embedding is
     *  U_u = P_u + |R(u)|^-1/2 Σ_{j ∈ R(u)} Y_j over the items R(u) the user
     *  rated in training, with free parameters P (users) and Y (items), and
     *  λy/M Σ_j |Y_j|² joins the loss; --l2 and --l2-freq then weigh P.
     *  The model's user vectors (predictions, recommend, export) are the
     *  U_u; 0 (default) is plain MF */
    double implicit;
    /** L1 weight λ1 on the item vectors: adds λ1/M Σ_i Σ_a |V_ia|, pulling
     *  small movie coordinates to zero (sparse movie embeddings), default 0 */
    double l1_items;
    /** gravity on the ranking scores λs: adds λs/(M N) Σ_u Σ_i
     *  (b_i + <U_u, V_i>)², pulling what ranks a user's movies (the
     *  prediction less b_u, which is the same for all of them) towards 0 for
     *  every pair, rated or not. A movie with few ratings then keeps a low
     *  b_i, so rankings by predicted rating stop favouring rarely rated
     *  movies, while b_u stays free to fit the user's level. With bias = 0
     *  it is gravity itself; default 0 */
    double gravity_bias;
    /** optimizer als: conjugate-gradient iterations per row from its current
     *  value (0: the exact solve by Cholesky), default 0 */
    int32_t als_cg;
    /** where bias L2 pulls the movie biases, below the training mean: with
     *  it, λb's movie part is 1/M Σ_i (b_i - (μ - δ))², so a movie with few
     *  ratings keeps a bias below the mean until its ratings lift it (rarely
     *  rated movies are rated lower on average, and stop topping rankings by
     *  predicted rating). Needs l2_bias > 0; default 0 (the mean itself) */
    double item_prior_drop;
    /** popularity prior α of a user's ranking (not of training, nor of the
     *  predictions): a user's list ranks movie i by the dot score (the
     *  predicted rating on a rating model) + α ln(1 + n_i), n_i the movie's
     *  training-rating count, so a movie with a handful of high ratings
     *  no longer tops the lists of a model tuned for RMSE. Recorded in the
     *  model; the counts come from the data (mfr_model_set_item_counts;
     *  mfr_model_ranking counts its training set). Default 0 (off) */
    double rank_prior;
} mfr_config;

MFR_API void mfr_config_default(mfr_config *cfg);
/** Checks every field; the message names the field and the value. */
MFR_API int mfr_config_validate(const mfr_config *cfg, mfr_error *err);

/*
 * Describing the fields. One table in the library lists every field of
 * mfr_config with its command-line flag, type, settable range, default,
 * help line and whether it is recorded in model files; defaults,
 * validation, the model-file records and mfrec's flags and help are all
 * derived from it, so a field is described in one place.
 */

/** How a field is stored and how mfr_config_set reads its text. */
enum mfr_config_type {
    MFR_CONFIG_INT32 = 0,  /**< int32_t; a decimal integer */
    MFR_CONFIG_UINT64 = 1, /**< uint64_t; a non-negative decimal integer */
    MFR_CONFIG_DOUBLE = 2, /**< double; a finite decimal number ("C" locale) */
    MFR_CONFIG_ENUM = 3,   /**< int32_t; one of value_names, stored as its index */
    MFR_CONFIG_FLAG = 4,   /**< int32_t 0 or 1; a flag without value sets 1 */
    MFR_CONFIG_BYTES = 5,  /**< uint64_t bytes; a size such as 1048576, 512M or 4G */
};

/** What part of training a field belongs to (orders the help). */
enum mfr_config_group {
    MFR_CONFIG_GROUP_MODEL = 0,     /**< the model and the loss */
    MFR_CONFIG_GROUP_OPTIMIZER = 1, /**< the optimizer */
    MFR_CONFIG_GROUP_EXECUTION = 2, /**< how the work is split and run */
};

/**
 * One field of mfr_config. Descriptors are static and owned by the
 * library: never free or modify them.
 */
typedef struct mfr_config_field {
    const char *name;     /**< the mfr_config member, e.g. "init_std" */
    const char *flag;     /**< mfrec's flag, e.g. "--init-std" */
    const char *metavar;  /**< the value in help lines ("X", "N", "SIZE", "adam|sgd"); "" for a flag */
    int32_t type;         /**< enum mfr_config_type */
    int32_t group;        /**< enum mfr_config_group */
    /** The range mfr_config_set accepts from text (numbers, or the indices
     *  of value_names for an enum). It may be narrower than what
     *  mfr_config_validate accepts: 0 ("automatic"), the default of
     *  n_shards and n_threads, cannot be set from text. Unused for
     *  MFR_CONFIG_UINT64 and MFR_CONFIG_BYTES. */
    double lo, hi;
    /** MFR_CONFIG_ENUM: the names of values 0..n_values-1; else NULL. */
    const char *const *value_names;
    int32_t n_values;     /**< entries in value_names (0 unless an enum) */
    /** 1: describes the machine, not the model (n_threads, max_memory):
     *  never changes results and is not recorded in model files. */
    int32_t execution_only;
    const char *help;     /**< one line, no trailing period or newline */
    /** How the default reads in help when its plain value would mislead
     *  ("derived from the data" for n_shards = 0); NULL: the value itself. */
    const char *default_help;
} mfr_config_field;

/** The number of fields in the table (one per mfr_config member). */
MFR_API int mfr_config_field_count(void);
/**
 * The i-th field, 0 <= i < mfr_config_field_count(), in the order
 * mfr_config_validate checks them; NULL when i is out of range. The
 * pointer is static (never free it) and safe to share between threads.
 */
MFR_API const mfr_config_field *mfr_config_field_at(int i);
/**
 * The field whose flag ("--init-std") or member name ("init_std") is
 * `key`; NULL when none is (or key is NULL). Static, like
 * mfr_config_field_at.
 */
MFR_API const mfr_config_field *mfr_config_field_find(const char *key);
/**
 * Parses `value` as the field named by `key` (flag or member name, see
 * mfr_config_field_find) and stores it in *cfg. The text is read in the
 * "C" numeric locale whatever the process's locale. value may be NULL only
 * for an MFR_CONFIG_FLAG field, which it sets to 1. On failure *cfg is
 * unchanged and the status is MFR_ERR_INVALID, with a message that starts
 * with `key` and quotes the value, e.g. "--dim must be an integer in
 * 1..4094, got '0'" (MFR_ERR_NOMEM when the "C" locale cannot be made).
 * Only the range of this one field is checked: call mfr_config_validate
 * for the rules between fields (l2_bias needs bias). Not thread-safe on
 * the same cfg.
 */
MFR_API int mfr_config_set(mfr_config *cfg, const char *key, const char *value,
                           mfr_error *err);
/**
 * 1 if the n bytes at s are a decimal number as rating files write them,
 * [+-]DIGITS[.DIGITS][e[+-]DIGITS] with a digit on some side of the point,
 * else 0: strtod's other forms (hexadecimal, inf, nan, leading blanks) are
 * not numbers for mfrec (mfr_config_set, the rating parsers, the CLI).
 */
MFR_API int mfr_text_is_decimal(const char *s, size_t n);
/**
 * Writes field f's value in cfg into buf (size bytes, NUL-terminated) as
 * text that mfr_config_set reads back to the same value whenever the
 * value is in the settable range: an integer, a double as
 * mfr_format_double writes it (e.g. "0.001", "20", "1e-08"), an enum
 * value's name (its number when out of range), "0"/"1" for a flag, or
 * bytes as a plain integer. Returns MFR_OK; MFR_ERR_INVALID when cfg, f or
 * buf is NULL, f is not from mfr_config_field_at/mfr_config_field_find, or
 * buf is too small (then it holds a truncated, terminated string when
 * size > 0); MFR_ERR_NOMEM when the "C" locale cannot be made. 32 bytes
 * always suffice. Thread-safe.
 */
MFR_API int mfr_config_format(const mfr_config *cfg, const mfr_config_field *f, char *buf,
                              size_t size, mfr_error *err);

/**
 * Writes d into buf (size bytes, NUL-terminated) as the shortest decimal
 * that strtod reads back as the same double, in the "C" numeric locale
 * whatever the caller's: "0.1" (where "%.17g" writes 0.10000000000000001),
 * "1e-08", a whole number of up to ten digits in full ("400", not
 * "4e+02"); -0 as "0" (read back as +0: equal, but without the sign);
 * "nan", "inf" or "-inf" when d is not finite. At most 24 bytes
 * and the NUL. Returns the length written, or -1 when buf is NULL, size is
 * too small (buf then holds a truncated, terminated string when size > 0)
 * or the "C" locale cannot be made. Thread-safe.
 */
MFR_API int mfr_format_double(double d, char *buf, size_t size);

/* ------------------------------------------------------------------ */
/* Models                                                               */
/* ------------------------------------------------------------------ */

/** Embeddings, optimizer state, configuration and id maps. */
typedef struct mfr_model mfr_model;

typedef struct mfr_metrics {
    int64_t n;    /**< ratings evaluated */
    double mse;
    double rmse;
    double mae;
} mfr_metrics;

/**
 * Loads a model file, verifying magic, version, sizes and checksum; a
 * truncated, corrupted or foreign file is MFR_ERR_CORRUPT.
 */
MFR_API int mfr_model_load(const char *path, mfr_model **out, mfr_error *err);
/**
 * Loads a model file for its read-only uses (recommendations, neighbours,
 * evaluation, export): the same checks as mfr_model_load, the whole file
 * read and its checksum verified, but the optimizer state (Adam's two
 * moments per parameter) is not kept, so the model takes a third of the
 * memory. Predictions, lists and exports are the same as from
 * mfr_model_load's model; such a model cannot be saved (MFR_ERR_INVALID:
 * its state is missing) nor go on training.
 */
MFR_API int mfr_model_load_weights(const char *path, mfr_model **out, mfr_error *err);
/**
 * Writes the model atomically (temporary file, fsync, rename). Whatever is
 * at path is replaced: the library does not know the caller's other files,
 * so the caller checks that path is none of its inputs (the data's rating
 * file, say), as mfrec's command-line tool does (tools/io_check.c). The
 * same holds for every writer that takes a path (checkpoints, .npy files).
 */
MFR_API int mfr_model_save(const mfr_model *m, const char *path, mfr_error *err);
MFR_API void mfr_model_destroy(mfr_model *m);

/*
 * Model accessors read the model only (thread-safe). Misuse never reads as
 * a plausible value: a NULL model gives -1 for counts, NULL for strings and
 * 0 for the fingerprint and checksum; an index out of range gives -1 for
 * ids and NaN for biases and predictions.
 */

/** The embedding dimension k the user asked for (never the padded row
 *  width); -1 when m is NULL. */
MFR_API int32_t mfr_model_k(const mfr_model *m);
/** Users (items) of the model; -1 when m is NULL. */
MFR_API int32_t mfr_model_n_users(const mfr_model *m);
MFR_API int32_t mfr_model_n_items(const mfr_model *m);
/** Completed training epochs (optimizer steps); -1 when m is NULL. */
MFR_API int64_t mfr_model_epochs(const mfr_model *m);
/** Copies the configuration the model was trained with into cfg;
 *  MFR_ERR_INVALID (cfg untouched) when m or cfg is NULL. */
MFR_API int mfr_model_config(const mfr_model *m, mfr_config *cfg, mfr_error *err);
/** Split spec and data directory recorded at training time ("" when
 *  unknown, NULL when m is NULL). */
MFR_API const char *mfr_model_split_spec(const mfr_model *m);
MFR_API const char *mfr_model_data_dir(const mfr_model *m);
MFR_API uint64_t mfr_model_data_fingerprint(const mfr_model *m);
/** Where the model's training data can be loaded again with
 *  mfr_dataset_load: the rating file (absolute path) when the training load
 *  named a file (a delimited file, or any format's rating file given
 *  directly or as ratings_file), else the data directory (as
 *  mfr_model_data_dir; "" when unknown). When opt is not NULL, its format,
 *  sep and header become the ones the data was read with (MFR_FORMAT_AUTO,
 *  0 and MFR_HEADER_AUTO for a directory) and its ratings_file NULL; its
 *  other fields are left as they are. NULL when m is NULL. Models saved
 *  before this was recorded give their directory. */
MFR_API const char *mfr_model_data_source(const mfr_model *m, mfr_load_options *opt);
/** Checksum of the factors (FNV-1a 64 over U then V, k floats per row, plus
 *  the two bias lanes (b_u, 1) and (1, b_i) when the model has biases; with
 *  implicit feedback then P's and Y's rows the same way). */
MFR_API uint64_t mfr_model_checksum(const mfr_model *m);
/** Copies user u's (item i's) k-float embedding into out. MFR_ERR_INVALID
 *  naming the argument for a NULL pointer or an index out of range. */
MFR_API int mfr_model_user_vector(const mfr_model *m, int32_t u, float *out, mfr_error *err);
MFR_API int mfr_model_item_vector(const mfr_model *m, int32_t i, float *out, mfr_error *err);
/** Item i's implicit-feedback factors Y_i (k floats) of a model trained
 *  with cfg.implicit > 0; MFR_ERR_INVALID without them or out of range. */
MFR_API int mfr_model_implicit_vector(const mfr_model *m, int32_t i, float *out,
                                      mfr_error *err);
MFR_API int64_t mfr_model_user_id(const mfr_model *m, int32_t u);
MFR_API int64_t mfr_model_item_id(const mfr_model *m, int32_t i);
/** A deep copy of a model (to keep the best epoch while training goes on). */
MFR_API int mfr_model_copy(const mfr_model *src, mfr_model **out, mfr_error *err);
/** Copies src's values (factors, optimizer state, epochs, provenance) into
 *  dst, a copy of src made by mfr_model_copy (the same shape), without
 *  allocating its arrays again: keeping each better epoch in one copy
 *  instead of a new one every time (whose freed 2 MiB-aligned arrays the
 *  allocator could not reuse: an early-stopping run's memory grew with
 *  every improving epoch). MFR_ERR_MISMATCH, naming the difference, for
 *  models of other shapes, other optimizer state (a model of
 *  mfr_model_load_weights has none) or implicit factors on one only, a
 *  softmax model, or ranking-prior item counts (mfr_model_set_item_counts)
 *  set on one of the two only; MFR_ERR_NOMEM. On failure dst is unchanged. */
MFR_API int mfr_model_copy_into(mfr_model *dst, const mfr_model *src, mfr_error *err);
/** Bytes of m's factor, optimizer-state and id arrays and of its ranking
 *  prior's offsets: what a copy of it (mfr_model_copy) allocates for
 *  them; 0 when m is NULL. */
MFR_API uint64_t mfr_model_memory_bytes(const mfr_model *m);
/** Learned user / item bias of a model trained with cfg.bias; 0 on a model
 *  without biases (its predictions add none); NaN when m is NULL or the
 *  index is out of range. The item bias includes the global mean: a
 *  prediction is b_u + b_i + <U_u, V_i>. */
MFR_API float mfr_model_user_bias(const mfr_model *m, int32_t u);
MFR_API float mfr_model_item_bias(const mfr_model *m, int32_t i);
/** Prediction for dense (u, i): <U_u, V_i>, plus b_u + b_i with biases;
 *  NaN when m is NULL or an index is out of range. The sum is the one the
 *  trainer and the recommenders compute (docs/DETERMINISM.md): the same
 *  bits on every CPU and in every kernel set. */
MFR_API float mfr_model_predict(const mfr_model *m, int32_t u, int32_t i);
/**
 * MSE, RMSE and MAE of the model on `r` (summed in double, in rating
 * order). Returns MFR_ERR_MISMATCH when an index is out of range, and
 * MFR_ERR_INVALID for a NULL argument, an empty rating set or a softmax
 * model (which predicts no ratings).
 */
MFR_API int mfr_model_evaluate(const mfr_model *m, const mfr_ratings *r,
                               mfr_metrics *out, mfr_error *err);
/** MFR_OK when the dataset's id maps and fingerprint match the model's. */
MFR_API int mfr_model_check_dataset(const mfr_model *m, const mfr_dataset *ds,
                                    mfr_error *err);
/**
 * MFR_OK unless the model was trained on a canonical split (u1..u5, ua, ub)
 * and `sp`, that split recreated now, comes from files whose ratings
 * differ from the ones the model was trained with (the model records a
 * fingerprint of both files' ratings, whatever their line order:
 * MFR_ERR_MISMATCH naming them). Models of other splits, and models saved
 * before the fingerprint existed, pass: their split is a function of the
 * fingerprinted data and the seed. `sp` must be the model's own split
 * (mfr_model_split_spec, as the trainer was given it or in mfr_split_spec's
 * normal form: "sklearn:1" is "sklearn:1:0.25"): another one is
 * MFR_ERR_MISMATCH. A "random:" split's seed is not part of its spec and
 * is not compared: make `sp` with the model's seed (mfr_model_config's).
 */
MFR_API int mfr_model_check_split(const mfr_model *m, const mfr_split *sp, mfr_error *err);

/* ------------------------------------------------------------------ */
/* Training                                                             */
/* ------------------------------------------------------------------ */

typedef struct mfr_trainer mfr_trainer;

/**
 * Creates a trainer for `train` (ratings of `ds`), recording `split_spec`
 * (may be NULL; at most 65536 bytes, what a model file holds, else
 * MFR_ERR_INVALID) in the model. Validates the configuration, computes every
 * buffer size with overflow checks and refuses (MFR_ERR_TOO_LARGE, with the
 * needed size) before allocating when they exceed cfg->max_memory.
 * Initializes the factors from the seed. The trainer keeps no reference to
 * cfg, ds, train or split_spec: the caller may free them once it returns
 * (a lean split's training part is read during the call only).
 */
MFR_API int mfr_trainer_create(const mfr_config *cfg, const mfr_dataset *ds,
                               const mfr_ratings *train, const char *split_spec,
                               mfr_trainer **out, mfr_error *err);
MFR_API void mfr_trainer_destroy(mfr_trainer *tr);

/**
 * Replaces the initial factors (before the first step) with row-major
 * arrays U (n_users x k) and V (n_items x k) of finite values; bias lanes
 * keep their starting values. Errors: MFR_ERR_INVALID (a NULL pointer, a
 * non-finite value; factors that could never move: U and V all zero, or
 * with the ALS optimizer V all zero, without implicit feedback, whose drawn
 * Y moves them; not checked on an MPI rank's part of the users),
 * MFR_ERR_MISMATCH (a shape), MFR_ERR_STATE once a step
 * has been applied (an epoch counted, or a first step that diverged in its
 * update).
 */
MFR_API int mfr_trainer_set_factors(mfr_trainer *tr, const float *U, int64_t u_rows,
                                    int64_t u_cols, const float *V, int64_t v_rows,
                                    int64_t v_cols, mfr_error *err);

/**
 * Runs one full-batch epoch: gradients, deterministic reduction, one
 * optimizer step. `loss` (may be NULL) receives the training loss (MSE plus
 * the regularizers, see mfr_trainer_last_loss) before the step.
 * MFR_ERR_DIVERGED, with the epoch and the loss in `err`, when it is not
 * finite (the step is not applied, and a later call fails the same way);
 * also when the step's update made a parameter non-finite, and for any
 * divergence of an ALS step (a row system not positive definite, or a
 * non-finite loss: ALS solves its rows before the loss is known): that
 * step was applied (in part), so the trainer's factors are unusable and
 * every later call returns MFR_ERR_DIVERGED naming that epoch without
 * stepping. MFR_ERR_INVALID for a NULL trainer; MFR_ERR_NOMEM when an ALS
 * step cannot allocate its solvers' scratch (nothing changed: the call may
 * be repeated).
 */
MFR_API int mfr_trainer_step(mfr_trainer *tr, double *loss, mfr_error *err);

/** The parts of the training loss (all in double). */
typedef struct mfr_loss {
    double total;   /**< mse + l2 + gravity: what the optimizer minimizes */
    double mse;     /**< mean squared error over the training ratings */
    double l2;      /**< every norm term: λr (1/N Σ|U_u|² + 1/M Σ|V_i|²), l2_freq,
                         l2_bias, implicit's λy/M Σ|Y_j|² and l1_items (the
                         terms of src/train/reg_terms.c other than gravity) */
    double gravity; /**< λg/(M N) Σ_u Σ_i <U_u, V_i>² */
} mfr_loss;

/**
 * The loss parts computed by the last mfr_trainer_step (at the parameters
 * before that step's update). All zero before the first step.
 */
MFR_API int mfr_trainer_last_loss(const mfr_trainer *tr, mfr_loss *out, mfr_error *err);

/**
 * The training objective's data term at the current factors: the mean
 * squared error over the training ratings as the next mfr_trainer_step
 * computes it (the same bits as that step's mfr_loss.mse, for any thread
 * count and kernel set), in one pass of the step's own user-gradient
 * kernel. Each error is the float prediction minus the rating, rounded to
 * float, so it can differ from mfr_trainer_evaluate's (exact in double)
 * in the last bits. A logger can take an epoch's training MSE from the
 * next step's mfr_trainer_last_loss instead and call this only when no
 * step follows. `m`: NULL for the trainer's model, or another model of its
 * shape (a copy of it, such as an early-stopping run's best epoch: its data
 * term as the step after that epoch computed it), else MFR_ERR_MISMATCH
 * (also for a softmax model, which predicts no ratings).
 * MFR_ERR_UNSUPPORTED for an ALS trainer.
 */
MFR_API int mfr_trainer_data_mse(mfr_trainer *tr, const mfr_model *m, double *mse, mfr_error *err);

/**
 * The model's MSE, RMSE and MAE on `r`: mfr_model_evaluate (the same bits)
 * on the trainer's threads rather than mfr_set_threads's count. For
 * per-epoch validation (mfrec train --log-every 1).
 */
MFR_API int mfr_trainer_evaluate(const mfr_trainer *tr, const mfr_ratings *r, mfr_metrics *out,
                                 mfr_error *err);

/** The model being trained (owned by the trainer, valid until destroy). */
MFR_API const mfr_model *mfr_trainer_model(const mfr_trainer *tr);


MFR_API int32_t mfr_trainer_n_shards(const mfr_trainer *tr);
/** Threads of the last step (before the first: the most it may use). With
 *  cfg.n_threads = 0 the trainer measures its steps at one thread and at
 *  all of them and keeps the faster (src/train/threads.c); the result is
 *  the same for any count. */
MFR_API int32_t mfr_trainer_n_threads(const mfr_trainer *tr);
/** 1 when the thread count is measured (cfg.n_threads = 0, more than one
 *  thread available), 0 when it is fixed. */
MFR_API int mfr_trainer_threads_auto(const mfr_trainer *tr);
/** "avx512", "avx2" or "ref" (auto: the set chosen for this CPU); NULL
 *  when tr is NULL (so are the two names below). */
MFR_API const char *mfr_trainer_kernels_name(const mfr_trainer *tr);
/** "shard" or "owner" ("none (als)" for ALS). */
MFR_API const char *mfr_trainer_reduce_name(const mfr_trainer *tr);
/** Why the trainer uses its reduction: "given" (cfg.reduce set), or with
 *  MFR_REDUCE_AUTO the rule's figures ("auto: shard buffers 40.0 MiB = 4.7 B
 *  per training rating <= 32"). Depends on the data and the configuration
 *  only, never on the thread count (the reductions' model bytes differ). */
MFR_API const char *mfr_trainer_reduce_reason(const mfr_trainer *tr);
/** Bytes of data, factors, optimizer state and scratch allocated. */
MFR_API uint64_t mfr_trainer_memory_bytes(const mfr_trainer *tr);
/** The run's estimated peak: mfr_trainer_memory_bytes plus what is held
 *  beside the buffers (the training ratings or a lean split's marks and
 *  test copy, the dataset's ids and metadata, build and evaluation
 *  scratch). cfg.max_memory (default: the physical memory) is compared
 *  with it before anything is allocated. */
MFR_API uint64_t mfr_trainer_peak_bytes(const mfr_trainer *tr);

/* ------------------------------------------------------------------ */
/* Checkpoints: saving a training run and resuming it exactly           */
/* (format and guarantees: docs/CHECKPOINTS.md)                         */
/* ------------------------------------------------------------------ */

/**
 * What a training loop keeps beside the trainer, saved in a checkpoint so
 * that a resumed run goes on as the uninterrupted one would. The library
 * stores the values and gives them back; what they mean is the caller's
 * (`mfrec train`'s use is in docs/CHECKPOINTS.md). Counts are >= 0 and
 * times finite and >= 0.
 */
typedef struct mfr_run_state {
    int64_t epochs;           /**< the epochs the run was asked for */
    int64_t early_stop;       /**< early-stopping patience, 0: off */
    int64_t best_epoch;       /**< the best epoch so far (at most the trainer's epochs),
                               *   0: none (then best is NULL) */
    double best_val;          /**< its validation MSE: >= 0 (INFINITY: none yet; NaN and
                               *   negative values are refused) */
    int64_t log_every;        /**< the logging interval */
    int64_t checkpoint_every; /**< the checkpoint interval */
    double elapsed_s;         /**< wall seconds the run has spent so far */
    double train_s;           /**< of which inside mfr_trainer_step */
    /** The best epoch's model (mfr_model_epochs(best) == best_epoch) when
     *  best_epoch > 0, else NULL. From mfr_checkpoint_run: owned by the
     *  checkpoint. */
    const mfr_model *best;
    /** The run's log so far (any bytes, at most 1 GiB), or NULL when
     *  log_len is 0. From mfr_checkpoint_run: owned by the checkpoint. */
    const char *log;
    size_t log_len;
    /** 1: the run skips the training-set evaluation at logged epochs
     *  (`--no-train-eval`), so that a resumed run logs what the
     *  uninterrupted one does; 0 or 1. 0 in checkpoints written before it */
    int64_t no_train_eval;
} mfr_run_state;

/**
 * Writes the trainer's whole state (the model with its optimizer state and
 * step count, the last loss, a fingerprint of the training ratings) and
 * `run` to `path`, atomically: a temporary file in the same directory,
 * fsync, rename, fsync of the directory, so that an existing file at path
 * stays valid until the new one is complete. The bytes depend only on the
 * state (never on the thread count), except elapsed_s and train_s.
 * MFR_ERR_INVALID for a bad argument or run state, MFR_ERR_STATE after a
 * step that diverged (MFR_ERR_DIVERGED: there is no valid state to save,
 * and a run resumed from it would diverge again), MFR_ERR_IO when writing
 * fails (nothing is left at path then but the old file). Test hook: when
 * the environment variable MFREC_TEST_SLOW_CHECKPOINT is a number of
 * milliseconds, the writer sleeps that long between writing the temporary
 * file and renaming it.
 */
MFR_API int mfr_trainer_save_checkpoint(const mfr_trainer *tr, const mfr_run_state *run,
                                        const char *path, mfr_error *err);

/** A loaded, verified checkpoint. */
typedef struct mfr_checkpoint mfr_checkpoint;

/**
 * Loads and verifies a checkpoint file: magic, version, every length
 * against the file's size before allocating, the file's checksum, each
 * model section as mfr_model_load verifies a model file, and the run
 * state's values. MFR_ERR_IO when the file cannot be read or is not a
 * regular file, MFR_ERR_CORRUPT (the message names the file and the
 * fault) for anything else wrong. On failure *out is NULL.
 */
MFR_API int mfr_checkpoint_load(const char *path, mfr_checkpoint **out, mfr_error *err);
/**
 * As mfr_checkpoint_load for the `len` bytes at `data` (e.g. a fuzzer's
 * input); `name` (may be NULL: "<buffer>") names it in messages. The
 * bytes are not kept. No bytes (len 0) are CORRUPT, as an empty file
 * is; `data` NULL with a length is MFR_ERR_INVALID.
 */
MFR_API int mfr_checkpoint_load_buffer(const void *data, size_t len, const char *name,
                                       mfr_checkpoint **out, mfr_error *err);
MFR_API void mfr_checkpoint_destroy(mfr_checkpoint *c);
/** The trainer's model at the checkpoint: its configuration, provenance
 *  (split spec, data directory and fingerprint) and epoch count. Owned by
 *  the checkpoint. */
MFR_API const mfr_model *mfr_checkpoint_model(const mfr_checkpoint *c);
/** The run state saved with the checkpoint (pointers owned by it). */
MFR_API int mfr_checkpoint_run(const mfr_checkpoint *c, mfr_run_state *out, mfr_error *err);

/**
 * The kind of run a checkpoint file holds (enum mfr_model_kind of
 * mfrec_softmax.h: 0 matrix factorization, 1 softmax), read from its
 * section heads without loading or verifying it (mfr_checkpoint_load
 * does), so that a tool can pick the trainer to resume with.
 * MFR_ERR_CORRUPT when the file is not a checkpoint; MFR_ERR_IO. On failure
 * *kind is left as it was.
 */
MFR_API int mfr_checkpoint_kind(const char *path, int32_t *kind, mfr_error *err);

/**
 * Creates a trainer that continues the run saved in `c`: later steps give
 * the bits the uninterrupted run would have, whatever the thread count.
 * `cfg` must equal the checkpoint's configuration in every field except
 * those that never change results (n_threads, max_memory) and `kernels`
 * (the kernel sets give identical bits; the model keeps recording the
 * checkpoint's value). `ds` must be the checkpoint's dataset (id maps and
 * fingerprint), `split_spec` its split (as the run wrote it or spelled
 * otherwise: "random:.2" is "random:0.2"; the model keeps the run's
 * spelling), and `train` give the same training ratings. Otherwise MFR_ERR_MISMATCH with a message that names every
 * difference, e.g. "--dim is 64, the checkpoint's 30; split ...". Other
 * errors as mfr_trainer_create.
 */
MFR_API int mfr_trainer_resume(const mfr_checkpoint *c, const mfr_config *cfg,
                               const mfr_dataset *ds, const mfr_ratings *train,
                               const char *split_spec, mfr_trainer **out, mfr_error *err);

/* ------------------------------------------------------------------ */
/* Recommendations: scores, top-k, neighbours, fold-in (recommend.c)    */
/* ------------------------------------------------------------------ */

/*
 * Similarity measures of a query (a user's embedding u, an item's v_q, or a
 * folded-in vector) and a candidate item embedding v_i:
 *   MFR_MEASURE_DOT     <q, v_i>; for a user query on a model trained with
 *                       biases, b_u + b_i + <u, v_i>: the predicted rating;
 *                       between two items, the k embedding lanes only;
 *   MFR_MEASURE_COSINE  <q, v_i> / (|q| |v_i|) over the k embedding lanes
 *                       (biases never enter), in [-1, 1]: the candidate
 *                       rows are normalized (so is the query, which does
 *                       not change the ranking); a zero-norm (or
 *                       non-finite) row or query scores 0.
 * Dot products use the kernels' float dot in its documented lane order
 * (identical for every kernel set, and mfr_model_predict's value); norms are
 * summed in double in index order and the cosine division is done in double,
 * rounded to float (a dot that overflows in float, of finite rows, is taken
 * in double in index order instead: a dot score is then +-inf by its true
 * sign, never NaN, and a cosine stays in [-1, 1]). Items are
 * scored on the calling thread, so scores and rankings are identical on every
 * run and for every thread count.
 */
enum mfr_measure {
    MFR_MEASURE_DOT = 0,
    MFR_MEASURE_COSINE = 1,
};

/**
 * The `n_top` best of `n` scores, best first, without sorting all of them
 * (a bounded heap of min(n_top, n) entries: O(n log n_top)). Larger scores rank
 * first; NaN ranks after every number; equal scores rank by index, lower
 * first. `exclude` (n flags, may be NULL) skips index i when
 * exclude[i] != 0. `idx_out` and `scores_out` (may be NULL) must hold
 * min(n_top, n) entries; *n_out receives how many were written: min(n_top, number
 * of indices not excluded), so an n_top larger than n is fine.
 * Errors: MFR_ERR_INVALID for n < 0, n_top < 1 or a NULL required pointer;
 * MFR_ERR_NOMEM only when scores_out is NULL and n_top > 256. Thread-safe.
 */
MFR_API int mfr_scores_top_k(const float *scores, int32_t n, int32_t n_top,
                             const uint8_t *exclude, int32_t *idx_out, float *scores_out,
                             int32_t *n_out, mfr_error *err);

/**
 * Scores every item against the embedding `query` (mfr_model_k(m) floats;
 * no biases) with `measure` (enum mfr_measure) into `scores_out` (n_items
 * floats). Errors: MFR_ERR_INVALID (NULL pointer, unknown measure),
 * MFR_ERR_NOMEM. Reads the model only: thread-safe; deterministic.
 */
MFR_API int mfr_model_score_items(const mfr_model *m, const float *query, int measure,
                                  float *scores_out, mfr_error *err);

/**
 * The top-`n_top` items for dense user index `user` (0 <= user < n_users)
 * under `measure`, best first, as dense item indices (map them with
 * mfr_model_item_id or mfr_dataset_item_id). `exclude` (n_items flags, may
 * be NULL) removes items, e.g. those the user has rated. `items_out` and
 * `scores_out` (may be NULL) hold min(n_top, n_items) entries; *n_out gets the
 * count written (fewer than n_top when the catalogue, less the excluded items,
 * is smaller). Ties are broken by the lower item index. The catalogue is
 * never sorted: a bounded heap keeps the best n_top.
 * Errors: MFR_ERR_INVALID naming the argument (user out of range, n_top < 1,
 * unknown measure, NULL pointer) or, for a model with a ranking prior
 * (mfr_config.rank_prior) ranked by dot, saying that its item counts are not
 * set (mfr_model_set_item_counts), MFR_ERR_NOMEM. Reads the model only:
 * several threads may call it on one model at once; deterministic.
 */
MFR_API int mfr_model_recommend(const mfr_model *m, int32_t user, int32_t n_top, int measure,
                                const uint8_t *exclude, int32_t *items_out,
                                float *scores_out, int32_t *n_out, mfr_error *err);

/**
 * Gives a model whose configuration has a ranking prior (rank_prior α > 0)
 * its movies' training-rating counts `counts` (n_items values >= 0): from
 * then on a user's dot ranking (mfr_model_recommend, _vector, _users) scores
 * movie i as the dot score + offset_i, offset_i = (float)(α ln(1 + n_i)),
 * and scores_out holds that sum (the predicted rating is the score less
 * offset_i: mfr_model_rank_offsets). Without the counts such a model's user
 * rankings fail with MFR_ERR_INVALID saying so. A model without a prior
 * ignores the call (MFR_OK). Not thread-safe against rankings on the same
 * model; the offsets are not saved with the model (they are the data's).
 */
MFR_API int mfr_model_set_item_counts(mfr_model *m, const int64_t *counts, mfr_error *err);

/** The ranking offsets set by mfr_model_set_item_counts (n_items floats),
 *  or NULL when the model has no prior or no counts yet. */
MFR_API const float *mfr_model_rank_offsets(const mfr_model *m);

/**
 * As mfr_model_recommend for a user given as an embedding `user_vec`
 * (mfr_model_k(m) floats) and a bias `user_bias` (used by the dot measure
 * on a model with biases, ignored otherwise), e.g. from mfr_model_fold_in.
 */
MFR_API int mfr_model_recommend_vector(const mfr_model *m, const float *user_vec,
                                       float user_bias, int32_t n_top, int measure,
                                       const uint8_t *exclude, int32_t *items_out,
                                       float *scores_out, int32_t *n_out, mfr_error *err);

/**
 * Recommendations for the `count` users first .. first + count - 1 (dense
 * indices), in parallel on `n_threads` OpenMP threads (0: mfr_set_threads's
 * count on the calling thread, else OMP_NUM_THREADS, else the core count):
 * for each user, mfr_model_recommend's list with the
 * items of `exclude_items` (n_items flags, may be NULL) and the user's own
 * items in `rated` (ratings with dense indices, e.g. the training ratings;
 * may be NULL) left out. User r's list (r = user - first) is written to
 * items_out[r * w ..] and scores_out[r * w ..] (may be NULL), w =
 * min(n_top, n_items), and its length to n_out[r]. Each list is computed by
 * one thread from read-only inputs, so the output is identical for every
 * thread count. Errors: MFR_ERR_INVALID (NULL pointer, n_top < 1, count < 0,
 * users outside the model, unknown measure, n_threads outside
 * 0..MFR_MAX_THREADS), MFR_ERR_MISMATCH (a rating outside
 * the model), MFR_ERR_UNSUPPORTED (`rated` is a lean split's training
 * part), MFR_ERR_NOMEM. Reads the model only.
 */
MFR_API int mfr_model_recommend_users(const mfr_model *m, int32_t first, int32_t count,
                                      int32_t n_top, int measure, const mfr_ratings *rated,
                                      const uint8_t *exclude_items, int32_t n_threads,
                                      int32_t *items_out, float *scores_out, int32_t *n_out,
                                      mfr_error *err);

/**
 * The `n_top` nearest items of dense item index `item` under `measure` (over
 * the embedding lanes), best first, never including `item` itself.
 * Outputs and errors as for mfr_model_recommend (arrays of
 * min(n_top, n_items) entries; at most n_items - 1 are written).
 */
MFR_API int mfr_model_similar_items(const mfr_model *m, int32_t item, int32_t n_top,
                                    int measure, int32_t *items_out, float *scores_out,
                                    int32_t *n_out, mfr_error *err);

/**
 * The base ridge strength of a fold-in: an absolute lambda, small next to
 * V_R^T V_R once a few movies are rated, enough to make the system solvable
 * with fewer ratings than dimensions. mfr_model_fold_in_lambda adds the
 * model's own L2 terms to it.
 */
#define MFR_FOLD_IN_LAMBDA_DEFAULT 0.1

/**
 * The lambda that makes a fold-in of a user with `n_user_ratings` ratings
 * solve the same per-user problem training solved (and the default of
 * `mfrec recommend --rate`):
 *   MFR_FOLD_IN_LAMBDA_DEFAULT + cfg.l2 * n_train / n_users
 *                              + cfg.l2_freq * n_user_ratings,
 * since the trainer's L2 term λr/N |U_u|^2 next to the MSE's 1/|R| weighs
 * like a ridge of λr |R| / N on one user's squared errors, and the
 * rating-weighted term like λf n_u. `n_train` is the number of training
 * ratings (|R|; <= 0 leaves the l2 term out). Gravity is not counted. For a
 * model trained without regularization this is MFR_FOLD_IN_LAMBDA_DEFAULT.
 * A NULL model gives MFR_FOLD_IN_LAMBDA_DEFAULT.
 */
MFR_API double mfr_model_fold_in_lambda(const mfr_model *m, int64_t n_train,
                                        int32_t n_user_ratings);

/**
 * Folds a new user into the model without retraining: with the item
 * embeddings (and item biases) fixed, solves the ridge least-squares problem
 *   min_u  sum_j (ratings[j] - pred(u, items[j]))^2 + lambda |u|^2
 * through its d x d normal equations (X^T X + lambda I) u = X^T t, where
 * the rows of X are the rated items' embeddings, d = mfr_model_k(m) and t
 * the ratings. On a model with biases, pred = b_u + b_i + ⟨u, v_i⟩: the
 * unknowns are u and b_u (d = k + 1, a constant 1 column, t_j = r_j - b_i,
 * b_u penalized by lambda too). The ridge pulls towards the mean of the
 * model's user vectors ū instead of zero (u = ū + p, the ridge on p, t_j
 * reduced by <ū, v_j>): a model without biases keeps the mean rating in
 * its vectors, and with a zero prior low and high ratings would give the
 * same ranking; n = 0 gives ū. On a model with implicit feedback
 * (cfg.implicit > 0) ū is the mean of the users' free parameters P plus
 * o = n^-1/2 sum_j Y[items[j]] (fixed by which movies were rated): the
 * model's own user parameterization. Accumulated in double in rating order
 * and solved by Cholesky in double; the result is rounded to float into
 * `user_vec_out` (k floats) and `*user_bias_out` (may be NULL; 0 on a
 * model without biases). `items` are dense item indices (a repeat counts
 * twice); n >= 0; with lambda > 0 any n works (n = 0 gives ū, the mean P
 * with implicit feedback).
 * Errors: MFR_ERR_INVALID naming the argument (NULL pointer, n < 0, lambda
 * negative or not finite, an item index out of range or a non-finite
 * rating at position j, singular normal equations: lambda = 0 with fewer
 * than d independent rated items), MFR_ERR_NOMEM (d*d doubles). Outputs are
 * written only on success. Reads the model only: thread-safe; deterministic.
 * On a softmax model (mfrec_softmax.h) there is no solve: the result is
 * mfr_model_softmax_user of the items (a repeat counts as in that call),
 * lambda and the ratings' values are not used (the ratings are still
 * checked) and *user_bias_out gets 0; so is mfr_model_fold_in_range's.
 */
MFR_API int mfr_model_fold_in(const mfr_model *m, const int32_t *items, const float *ratings,
                              int32_t n, double lambda, float *user_vec_out,
                              float *user_bias_out, mfr_error *err);

/**
 * The gravity (cfg.gravity, or cfg.gravity_bias without biases) from which
 * a model without biases ranks rather than predicts ratings: there the pull
 * of every user-movie pair towards 0 weighs about as much as the fit to the
 * ratings (the Colab's regularized model uses 1; `--preset ndcg` 15).
 */
#define MFR_RANKING_GRAVITY 1.0

/**
 * Whether the model's user scores are ratings: 1 for a matrix-factorization
 * model with biases, or one whose gravity and gravity_bias are below
 * MFR_RANKING_GRAVITY; 0 for one without biases trained with more gravity
 * (`--preset ndcg`), whose dot products rank movies far below the rating
 * scale, for a softmax model (its logits) and for NULL.
 */
MFR_API int mfr_model_predicts_ratings(const mfr_model *m);

/**
 * How far a ranking model's fold-in moves a rating from the middle c of the
 * rating range (mfr_model_fold_in_range).
 */
#define MFR_FOLD_IN_STRETCH 0.5

/**
 * mfr_model_fold_in for a dataset whose ratings lie in [rating_lo,
 * rating_hi] (finite, lo < hi). On a model that predicts ratings
 * (mfr_model_predicts_ratings) it is mfr_model_fold_in. On a ranking model
 * the middle c = (lo + hi) / 2 of the range splits the ratings, with s =
 * MFR_FOLD_IN_STRETCH:
 *   - a movie rated r >= c is a movie the user liked: its target is
 *     r + s (r - c) (3, 4.5, 6 for 3, 4, 5 of 1..5 stars), and with
 *     implicit feedback it enters the offset o (n^-1/2 sum of Y over the
 *     n movies rated c or more; none: no offset);
 *   - a movie rated r < c is one they disliked: its target is the score
 *     the prior user o gives it less s (c - r), and it stays out of o.
 * Such a model fits every rated movie above the unrated ones (gravity pulls
 * those to 0) and its implicit part counts a movie as watched whatever its
 * rating, so with the plain fold-in a user who rated movies low was
 * recommended more of what they rated; here those ratings pull the user
 * below the average user on those movies. The cost in ranking quality is
 * small (NDCG@10 of ML-100K's u1..u3 test users folded in from their
 * training ratings: 0.4370 against 0.4398, docs/RANKING.md). The fitted
 * score of a rated movie is a ridge fit from the prior, not its target.
 * Errors as mfr_model_fold_in's, and MFR_ERR_INVALID for a range that is
 * not finite or has lo >= hi.
 */
MFR_API int mfr_model_fold_in_range(const mfr_model *m, const int32_t *items, const float *ratings,
                                    int32_t n, double lambda, float rating_lo, float rating_hi,
                                    float *user_vec_out, float *user_bias_out, mfr_error *err);

/* ------------------------------------------------------------------ */
/* Ranking metrics (metrics.c)                                          */
/* ------------------------------------------------------------------ */

/*
 * Top-k ranking quality of a model on held-out ratings, beside a
 * most-popular baseline. Definitions (per evaluated user u, list L_u of at
 * most k items, best first):
 *   candidates   every item of the model except u's training items; every
 *                candidate is scored (mfr_model_predict's value) and the k
 *                best are kept; equal scores rank the lower item index first
 *                and a NaN score ranks below every number;
 *   relevant     distinct items u rated >= MFR_RANKING_RELEVANT in `test`
 *                that are not among u's training items (those can never be
 *                recommended); users with no relevant item are skipped;
 *   hits         relevant items in L_u;
 *   precision@k  hits / k (k even when fewer than k candidates exist);
 *   recall@k     hits / n_relevant;
 *   NDCG@k       DCG / IDCG with binary gains and a log2 discount:
 *                DCG = sum over hit positions p = 1..k of 1 / log2(p + 1),
 *                IDCG = the same sum over p = 1..min(k, n_relevant);
 *   coverage     distinct items in the evaluated users' lists / n_items.
 * precision, recall and NDCG are means over the evaluated users.
 * The popularity baseline scores each item by its number of ratings in
 * `train` (ties: lower item index) and excludes the same training items.
 */

/** Test ratings at or above this value are relevant. */
#define MFR_RANKING_RELEVANT 4.0f

typedef struct mfr_ranking {
    int32_t n_top;    /**< list length asked for (k in precision at k) */
    int64_t users;    /**< users with at least one relevant test item */
    double precision; /**< mean precision at k (NaN when users is 0) */
    double recall;    /**< mean recall at k (NaN when users is 0) */
    double ndcg;      /**< mean NDCG at k (NaN when users is 0) */
    double coverage;  /**< distinct recommended items / n_items (0 when users is 0) */
} mfr_ranking;

/**
 * Ranking metrics at `n_top` (>= 1; lists are shorter when a user has fewer
 * candidates) of model `m` on `test`, with the items of `train` excluded
 * from each user's candidates (pass the ratings the model was trained on).
 * `model_out` receives the model's metrics and `popularity_out` the
 * baseline's; either may be NULL to skip that computation. Indices outside
 * the model's ranges are MFR_ERR_MISMATCH; a lean split's training part
 * as `train` is MFR_ERR_UNSUPPORTED. Users run in parallel on
 * mfr_set_threads's count of OpenMP threads, at most one per online CPU;
 * memory O(n_users + n_items + nnz + threads x n_items) allocated and
 * freed within the call.
 * Deterministic: each user's terms are summed in double in user order, the
 * same bits for every thread count. Outputs are written only on success.
 */
MFR_API int mfr_model_ranking(const mfr_model *m, const mfr_ratings *train,
                              const mfr_ratings *test, int32_t n_top, mfr_ranking *model_out,
                              mfr_ranking *popularity_out, mfr_error *err);

/* ------------------------------------------------------------------ */
/* The EASE baseline (ease.c)                                           */
/* ------------------------------------------------------------------ */

/*
 * EASE (Steck 2019), a closed-form item-item ranking baseline: on the
 * binary user x item matrix X of the training ratings (any rating is a 1),
 * P = (XᵀX + λI)⁻¹ and B = I - P diag(1/diag P) (B_ij = -P_ij / P_jj, zero
 * diagonal); user u's score of item j is the sum of B_ij over the distinct
 * items i that u rated. Fitted with mfr_ease_fit_ratings, X holds the
 * ratings instead (X_ui = u's rating of i, the last one of a repeated
 * pair), and the score is Σ_i X_ui B_ij. Computed in double; B's bytes are
 * the same for any thread count (docs/RANKING.md, "EASE").
 */

/** The λ used when none is given: the best of a grid on ML-100K u1 only
 *  (docs/RANKING.md, "EASE"). */
#define MFR_EASE_LAMBDA_DEFAULT 400.0
/** The same for EASE on ratings (mfr_ease_fit_ratings): on 1-5 stars X's
 *  Gram matrix is about 13 times the binary one's, and so is λ's best. */
#define MFR_EASE_RATINGS_LAMBDA_DEFAULT 5000.0

typedef struct mfr_ease mfr_ease;

/**
 * Fits EASE to `train` (indices inside n_users x n_items, else
 * MFR_ERR_MISMATCH) with ridge strength lambda > 0 (MFR_ERR_INVALID
 * otherwise). n_threads 0: mfr_set_threads's count on the calling thread,
 * else OMP_NUM_THREADS or the core count; at most MFR_MAX_THREADS
 * (MFR_ERR_INVALID); it never changes the result. O(n_items³) time, 2 n_items² doubles of memory
 * (MFR_ERR_NOMEM, MFR_ERR_TOO_LARGE). MFR_ERR_DATA if the Gram matrix is
 * numerically not positive definite; MFR_ERR_UNSUPPORTED for a lean split's
 * training part.
 */
MFR_API int mfr_ease_fit(const mfr_ratings *train, int32_t n_users, int32_t n_items,
                         double lambda, int n_threads, mfr_ease **out, mfr_error *err);
/**
 * mfr_ease_fit with X holding the training ratings (a repeated pair: its
 * last rating in train's order), not 1s; MFR_ERR_DATA for a rating that is
 * not finite. Each entry of XᵀX is summed over the users in ascending
 * order, so B's bytes do not depend on the thread count for any ratings.
 */
MFR_API int mfr_ease_fit_ratings(const mfr_ratings *train, int32_t n_users, int32_t n_items,
                                 double lambda, int n_threads, mfr_ease **out, mfr_error *err);
/** 1 if e was fitted on ratings (mfr_ease_fit_ratings), else 0. */
MFR_API int mfr_ease_uses_ratings(const mfr_ease *e);
MFR_API void mfr_ease_destroy(mfr_ease *e);
MFR_API int32_t mfr_ease_n_items(const mfr_ease *e);
/** B, n_items x n_items doubles, row-major (row i: the weights from item i). */
MFR_API const double *mfr_ease_weights(const mfr_ease *e);
/**
 * The scores of every item (n_items doubles into out) for someone who
 * rated items[0..n) (repeats count once): row sums of B in ascending item
 * order. MFR_ERR_INVALID for a NULL argument or an index out of range,
 * and for an EASE fitted on ratings (mfr_ease_scores_rated).
 */
MFR_API int mfr_ease_scores(const mfr_ease *e, const int32_t *items, int32_t n, double *out,
                            mfr_error *err);
/**
 * The same for someone who gave ratings[x] to items[x] (a repeated item:
 * its last rating): Σ ratings B_i over the distinct items in ascending
 * order. For a binary EASE the ratings are ignored (may be NULL).
 * MFR_ERR_INVALID also for a rating that is not finite.
 */
MFR_API int mfr_ease_scores_rated(const mfr_ease *e, const int32_t *items, const float *ratings,
                                  int32_t n, double *out, mfr_error *err);
/**
 * mfr_model_ranking's metrics (same definitions, candidates and ties; the
 * scores rounded to float) for EASE's lists: `train` gives each user's rated
 * items (their scores' input, and excluded), `test` the relevant items.
 * For an EASE fitted on ratings, `train` gives the ratings too (the set it
 * was fitted on, so that a user's row of X is the fit's). A lean split's
 * training part as `train` is MFR_ERR_UNSUPPORTED; a NULL argument (`out`
 * included) MFR_ERR_INVALID.
 */
MFR_API int mfr_ease_ranking(const mfr_ease *e, const mfr_ratings *train,
                             const mfr_ratings *test, int32_t n_top, mfr_ranking *out,
                             mfr_error *err);

/* ------------------------------------------------------------------ */
/* Embedding analysis: norms, PCA projection (analysis.c)               */
/* ------------------------------------------------------------------ */

/** Which factor matrix of a model an analysis reads. */
enum mfr_factors {
    MFR_FACTORS_USERS = 0, /**< U: one row per user */
    MFR_FACTORS_ITEMS = 1, /**< V: one row per item */
};

/**
 * Euclidean norm of every user (`factors` = MFR_FACTORS_USERS) or item
 * (MFR_FACTORS_ITEMS) embedding: out[r] = sqrt(sum_j x_rj^2) over the k
 * components, summed in double in index order. `out` must hold
 * mfr_model_n_users(m) (or mfr_model_n_items(m)) doubles. Deterministic;
 * reads the model only.
 */
MFR_API int mfr_model_norms(const mfr_model *m, int factors, double *out, mfr_error *err);

/**
 * The result of a principal component analysis of the n rows of an n x k
 * matrix. Owned by the caller, freed with mfr_pca_destroy; fields are only
 * ever added at the end.
 */
typedef struct mfr_pca {
    int64_t n;             /**< rows analysed */
    int32_t k;             /**< columns (input dimension) */
    int32_t n_comp;        /**< components kept, 1..k */
    double *coords;        /**< n x n_comp, row-major: centered row r on axis c */
    double *axes;          /**< n_comp x k, row-major: unit principal axes */
    double *variance;      /**< n_comp: variance along each axis (eigenvalues) */
    double *explained;     /**< n_comp: variance / total_variance (0 if total is 0) */
    double *mean;          /**< k: the column means subtracted before projecting */
    double total_variance; /**< trace of the covariance matrix */
} mfr_pca;

/**
 * PCA of the rows of `x` (row-major n x k floats): subtracts the column
 * means, forms the k x k sample covariance (divisor n - 1; 1 when n = 1) in
 * double, diagonalizes it with the cyclic Jacobi method and keeps the
 * `n_comp` axes of largest variance, in decreasing order. Each axis is
 * signed so that its largest-magnitude component is positive. Requires
 * n >= 1, 1 <= k <= 4096, 1 <= n_comp <= k and finite values (else
 * MFR_ERR_INVALID, naming the first value that is not). Cost
 * O(n k^2 + k^3 * sweeps): the covariance's O(n k^2) on mfr_set_threads's
 * threads (at most k), the rest on one; bit-identical on every run and for
 * every thread count.
 * On success *out is a new result; on failure *out is NULL.
 */
MFR_API int mfr_pca_compute(const float *x, int64_t n, int32_t k, int32_t n_comp,
                            mfr_pca **out, mfr_error *err);
/**
 * mfr_pca_compute on a model's user (MFR_FACTORS_USERS) or item
 * (MFR_FACTORS_ITEMS) embeddings, row r being dense index r.
 */
MFR_API int mfr_model_pca(const mfr_model *m, int factors, int32_t n_comp, mfr_pca **out,
                          mfr_error *err);
/** Frees a PCA result (NULL is fine). */
MFR_API void mfr_pca_destroy(mfr_pca *p);

/** t-SNE settings; fill with mfr_tsne_options_default(). */
typedef struct mfr_tsne_options {
    double perplexity;    /**< effective neighbours, default 30; 1 <= p < n */
    int32_t iterations;   /**< gradient steps, default 1000 (1..100000) */
    double learning_rate; /**< default 0: automatic, max(n / 48, 50) */
    uint64_t seed;        /**< the start: 1e-4 N(0, 1) per coordinate, default 1 */
} mfr_tsne_options;
MFR_API void mfr_tsne_options_default(mfr_tsne_options *o);
/** Largest row count mfr_tsne_compute accepts (its P matrix is n x n doubles). */
#define MFR_TSNE_MAX_ROWS 8000
/**
 * Exact t-SNE (van der Maaten and Hinton, 2008) of the rows of `x`
 * (row-major n x k floats) into 2-D: Gaussian affinities in the input
 * space calibrated per row to the perplexity by bisection, symmetrized,
 * Student-t affinities in the plane, gradient descent with momentum (0.5,
 * then 0.8), per-coordinate gains and early exaggeration 12 for the first
 * 250 iterations; the picture is re-centred after every step. O(n^2)
 * memory and time per iteration, single-threaded and sequential, so the
 * result is bit-identical from run to run for the same seed. Writes n x 2
 * doubles to `coords_out` and, when `kl_out` is not NULL, the final
 * Kullback-Leibler divergence KL(P || Q). Errors (MFR_ERR_INVALID naming
 * the value): NULL pointers, n < 2, n > MFR_TSNE_MAX_ROWS, k outside
 * 1..4096, perplexity outside [1, n), iterations outside 1..100000, a
 * learning rate that is negative or not finite, a non-finite input value;
 * MFR_ERR_NOMEM; MFR_ERR_DIVERGED when the picture's coordinates became
 * non-finite (a learning rate far too large), coords_out then untouched.
 */
MFR_API int mfr_tsne_compute(const float *x, int64_t n, int32_t k, const mfr_tsne_options *opt,
                             double *coords_out, double *kl_out, mfr_error *err);

/** Compiler and flags the library was built with. */
MFR_API const char *mfr_build_info(void);
/** The git commit the library was built from: 12 hex digits (more when
 *  12 are ambiguous), with "-dirty" when tracked files differed from it at
 *  the build; "unknown" when built outside a git checkout of its own (a
 *  release tarball) or where git cannot read it. */
MFR_API const char *mfr_build_commit(void);

/** The release of the library itself (e.g. "0.1.0"): the MFR_VERSION_STRING
 *  of the header it was built with, which may differ from the one a program
 *  was compiled with when the shared library was replaced. */
MFR_API const char *mfr_version(void);

/** The most threads a call may be asked for: mfr_config.n_threads and the
 *  n_threads arguments of mfr_model_recommend_users, mfr_ease_fit and
 *  mfr_softmax_trainer_create accept 0..MFR_MAX_THREADS (MFR_ERR_INVALID
 *  otherwise); mfr_set_threads takes a larger count as this one. */
#define MFR_MAX_THREADS 1024

/**
 * Threads for the library's setup work in calls that take no thread count
 * (dataset load from the cache, splits, model evaluation and saving), for
 * calls made from the calling thread: n > 0 (at most MFR_MAX_THREADS; a
 * larger n is taken as MFR_MAX_THREADS), or 0 (or a negative n) for
 * OMP_NUM_THREADS, else the core count (the default). Results never depend
 * on it. A process that
 * will fork() children which call the library should set 1 before its own
 * calls: with more, the library starts OpenMP threads, and libgomp's thread
 * pool does not survive fork (the child's first parallel region waits for
 * the parent's threads forever).
 */
MFR_API void mfr_set_threads(int32_t n);

/**
 * The most threads OpenMP starts for one parallel region in this process
 * (OMP_THREAD_LIMIT; a very large number when unset). The library's default
 * counts (OMP_NUM_THREADS, else the cores) are capped by it; a count asked
 * for explicitly is not checked, and a larger one runs on fewer threads.
 */
MFR_API int32_t mfr_thread_limit(void);

/**
 * Every file the library writes (models, checkpoints, dataset caches,
 * arrays) is written to PATH.tmpXXXXXX and renamed over PATH when
 * complete. `fn` (NULL: none, the default) is told "" just before a
 * temporary file is created, its name once it is (NULL if it could not
 * be), and NULL once it is renamed or removed, so that a program can
 * remove it if a signal ends the process in between (what `mfrec` does on
 * SIGINT/SIGTERM: a signal between "" and the name waits for the name).
 * Called on the writing thread; process-wide.
 * A writer holds an flock on its temporary file until its rename, and
 * removes PATH's temporary files that a killed writer left (at its first
 * write of PATH in the process, then at most once a minute): those named
 * PATH.tmp and six letters or digits, regular files, unlocked and
 * unmodified for 60 seconds. A program that keeps files of such names
 * beside PATH loses them (mfrec refuses such names as outputs).
 */
typedef void (*mfr_tmp_fn)(const char *tmp_path);
MFR_API void mfr_set_tmp_observer(mfr_tmp_fn fn);
/**
 * Removes PATH's temporary files that a killed writer left, by the rule
 * above and at the same rate (at the first call for PATH in the process,
 * then at most once a minute, library writes included): for a program
 * that writes PATH itself the same way (PATH.tmpXXXXXX, flock held until
 * the rename), as `mfrec` does for its logs, tables and files committed
 * together. Best effort: what cannot be removed stays. NULL: nothing.
 */
MFR_API void mfr_remove_stale_tmps(const char *path);

/**
 * A text input of 1 MiB or more (a rating file) is mapped while it is
 * parsed, and a dataset cache while its dataset lives; another program
 * truncating one meanwhile raises SIGBUS at the first read past its new
 * end. `fn` (NULL: none, the default) is told the file's path (as the
 * library opened it), the mapping's address and length once it is mapped,
 * and NULL with the same address once it is unmapped, so that a program's
 * SIGBUS handler can name the file cut short from the fault's address
 * (what `mfrec` does). Called on the mapping thread; process-wide.
 */
typedef void (*mfr_map_fn)(const char *path, const void *addr, size_t len);
MFR_API void mfr_set_map_observer(mfr_map_fn fn);

#ifdef __cplusplus
}
#endif

#endif /* MFREC_H */
