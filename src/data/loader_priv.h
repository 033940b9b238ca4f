/*
 * loader_priv.h — what the format loaders share while they build a dataset
 * (loader.c): the rating-file parser for every separated syntax, the
 * metadata records collected before ids are renumbered, the genre list of
 * the .dat/.csv formats, duplicate detection, and the final assembly of a
 * struct mfr_dataset.
 *
 * A load goes: dataset.c resolves the format, the file names and the rating
 * range into a struct mfr_loader; one format loader (movielens.c,
 * movielens_dat.c, movielens_csv.c, delimited.c) parses its files into it
 * with provisional indices (first-appearance order); mfr_loader_finish
 * renumbers everything in ascending raw-id order and moves it into the
 * dataset. On failure mfr_loader_free releases whatever was collected.
 */
#ifndef MFR_LOADER_PRIV_H
#define MFR_LOADER_PRIV_H

#include <sys/types.h>

#include "parse_priv.h"

#define MFR_MAX_GENRES 32 /* bits of the uint32_t genre mask */

/* ------------------------------------------------------------------ */
/* Rating files                                                         */
/* ------------------------------------------------------------------ */

/* The syntax of a rating file: "user SEP item SEP rating [SEP timestamp]". */
struct mfr_rating_syntax {
    char sep[3];    /* "\t", "::", ",", or any single byte; NUL-terminated */
    bool header;    /* line 1 is a header and is skipped */
    bool trim;      /* strip spaces around fields (separators other than ' '), then the
                       quotes of a field quoted whole ("5") */
    float step;     /* ratings are multiples of it (a MovieLens scale), 0: any */
    int fields;     /* 3 or 4: every line has as many as the first rating line
                       (mfr_rating_fields); 0: any of the two */
    bool unquote;   /* without trim (a space separator), still the quotes of a
                       field quoted whole: a delimited file's numbers may be
                       quoted with any separator */
};

/* The field count (3 or 4) of f's first rating line under syn's separator,
 * header and trailing spaces; 0 when it has neither (its parse says why)
 * or the file has no rating line. A line with a timestamp in a file whose
 * first line has none, or the reverse, is then refused: a damaged or cut
 * line, whose rating would otherwise get timestamp 0 unnoticed. */
int mfr_rating_fields(const struct mfr_text_file *f, const struct mfr_rating_syntax *syn);

/* The step of the MovieLens rating scales under the default range: whole
 * stars (ML-100K, ML-1M), half stars (ML-10M, the CSV releases); 0 for a
 * delimited file or a range set by the caller. */
float mfr_rating_step(const mfr_load_options *opt);

/* How a rating file's raw ids become indices: through growing id maps
 * (loading a dataset) or through a finished dataset (unknown ids fail). */
struct mfr_rating_ids {
    struct mfr_id_map *users, *items; /* loading */
    const mfr_dataset *ds;            /* reading through a dataset */
    bool keep_unknown;                /* with ds: an unknown id is stored as -1, not an error */
    uint64_t budget;                  /* bytes the parse may hold, 0: no limit */
    /* a directory for the timestamps of a large parse (mfr_ratings_alloc_spilled:
     * the dataset cache's, which is about to be written), or NULL */
    const char *spill_dir;
};

/* The number of ratings from which a parse given a spill directory moves
 * the timestamps to a file (default 4M: 32 MiB); n < 0 restores the
 * default. Process-wide, for tests. */
void mfr_set_spill_min(int64_t n);

/*
 * Parses a rating file into *out, in file order, mapping ids through
 * `ids`. Ratings outside min_r..max_r are errors. Rating k comes from line
 * k + 1 + header: blank lines are allowed only at the end. Every error
 * names "path:line".
 */
int mfr_parse_ratings(const struct mfr_text_file *f, const struct mfr_rating_syntax *syn,
                      const struct mfr_rating_ids *ids, float min_r, float max_r,
                      mfr_ratings **out, mfr_error *err);

/* Rating files smaller than this are parsed on one thread (the parse
 * takes about 5 ms a MiB on one core). */
#define MFR_PARSE_CHUNK_MIN ((size_t)1 << 20)

/*
 * mfr_parse_ratings over n_chunks line-aligned pieces of the file, parsed
 * in parallel on up to mfr_setup_threads() threads, then put together in
 * file order: the same ratings, provisional indices and first error
 * (file:line) as one pass over the file, for any n_chunks. `fast` takes
 * well-formed lines on the one-pass fast path (tests turn it off to
 * compare with the field-by-field parse). mfr_parse_ratings picks one
 * chunk per thread, each at least MFR_PARSE_CHUNK_MIN bytes.
 */
int mfr_parse_ratings_chunked(const struct mfr_text_file *f, const struct mfr_rating_syntax *syn,
                              const struct mfr_rating_ids *ids, float min_r, float max_r,
                              int n_chunks, bool fast, mfr_ratings **out, mfr_error *err);

/*
 * One line-aligned piece of a rating file's body and what its parse found:
 * a thread's chunk (mfr_parse_ratings_chunked) or an MPI rank's slice
 * (src/mpi/mpi_load.c, docs/MPI.md "Each rank parsing its slice").
 */
struct mfr_rating_chunk {
    const char *p, *end;
    int64_t first;  /* index of its first rating: the lines before it, less the header */
    int64_t lines;  /* its '\n' bytes */
    int64_t count;  /* ratings parsed */
    int64_t blank;  /* first line of the blank lines that end it, 0 when none */
    int rc;         /* MFR_OK, or its first error, in err */
    mfr_error err;
    struct mfr_id_map users, items; /* loading: raw id -> chunk index */
    int32_t *to_user, *to_item;     /* chunk index -> provisional index, NULL: same */
    bool release; /* a mapped file's text dropped behind the count and the parse
                     whatever the file's size (an MPI rank reads its slice once) */
};

/* The body of a rating file: after the header line when syn->header. */
const char *mfr_ratings_body(const struct mfr_text_file *f, const struct mfr_rating_syntax *syn);
/* Chunk t of nc of f's body, cut as mfr_parse_ratings_chunked cuts it for
 * nc threads (reading only the bytes up to its two boundaries' '\n'), its
 * lines counted (c->release set: its text is released behind the count
 * and the parse); the caller sets c->first. */
void mfr_rating_chunk_cut(const struct mfr_text_file *f, const struct mfr_rating_syntax *syn, int t, int nc,
                          struct mfr_rating_chunk *c);
/* Parses chunk c on the fast path with the field-by-field messages, ids
 * into the chunk's own maps (c->users.raw keeps the raw ids), into *out
 * (malloc'd, no timestamps; indices of the chunk's maps; the caller
 * destroys it). Its parse error, if any, is in c->rc and c->err (the first
 * in its lines); returns MFR_ERR_NOMEM or MFR_OK. */
int mfr_rating_chunk_parse(const struct mfr_text_file *f, const struct mfr_rating_syntax *syn, float min_r,
                           float max_r, struct mfr_rating_chunk *c, mfr_ratings **out, mfr_error *err);
void mfr_rating_chunk_free(struct mfr_rating_chunk *c);

/* The first repeated (user, item) pair of r: *second the smallest index
 * of a rating repeating an earlier pair, *first that pair's first rating
 * (-1 when every pair is unique). MFR_ERR_NOMEM or MFR_OK. */
int mfr_find_duplicate(const mfr_ratings *r, int32_t n_users, int32_t n_items, int64_t *first, int64_t *second);
/* The message of a duplicate on `line` first rated on `first_line`. */
int mfr_duplicate_err(mfr_error *err, const char *path, int64_t line, int64_t user_raw, int64_t item_raw,
                      int64_t first_line);

/* Fails with "path:LINE2: duplicate rating ... (first on line LINE1)" when a
 * (user, item) pair repeats; raw ids come from user_raw / item_raw; rating k
 * is on line k + first_line. */
int mfr_check_duplicates(const char *path, const mfr_ratings *r, int32_t n_users,
                         int32_t n_items, const int64_t *user_raw, const int64_t *item_raw,
                         int64_t first_line, mfr_error *err);

/* True when the first line of f looks like a header: its first field
 * (split at syn->sep, trimmed) is not an unsigned integer. */
bool mfr_first_line_is_header(const struct mfr_text_file *f, const char *sep);
/* True when every field of line 1 of f (split at sep) is a column name a
 * header is known to use (userId, movieId, item, rating, timestamp, ...:
 * header_column in loader.c). */
bool mfr_header_names_columns(const struct mfr_text_file *f, const char *sep);
/* A header line (line 1 of f) that names one of its first n columns as
 * another of `columns` (the file's columns, in order: "user", "movie",
 * "rating", "timestamp", "title", "genres") is an error naming it: a file
 * whose movie ids come first would otherwise load with users and movies
 * swapped. Names not known pass. */
int mfr_check_header(const struct mfr_text_file *f, const char *sep, const char *const *columns, int n,
                     mfr_error *err);
/* MFR_OK unless line 1 of f is a header (syn->header) of column names only
 * (mfr_header_names_columns) with fewer fields than the first rating line:
 * then a parse error naming line 1, since which column is which is unclear
 * (pandas takes the first for an index). */
int mfr_check_header_width(const struct mfr_text_file *f, const struct mfr_rating_syntax *syn, mfr_error *err);

/* ------------------------------------------------------------------ */
/* Metadata records                                                     */
/* ------------------------------------------------------------------ */

/* The first member of every metadata record: which id, from which line. */
struct mfr_rec_head {
    int32_t prov; /* provisional index of the record's raw id */
    int64_t line;
};

struct mfr_item_rec {
    struct mfr_rec_head head;
    struct mfr_item_meta meta;
};

struct mfr_user_rec {
    struct mfr_rec_head head;
    int32_t age;
    char sex;
    char zip[16];
    int32_t occ;      /* index into the loader's occupations, -1 when unknown */
    char *occupation; /* ML-100K: the name until resolved (UTF-8), else NULL */
};

/* Everything a load holds until the dataset is complete. */
struct mfr_loader {
    const char *dir;          /* the dataset directory */
    const char *ratings_name; /* the rating file, relative to dir or absolute */
    mfr_load_options opt;     /* resolved: format, range, sep, header */
    const char *spill_dir;    /* mfr_rating_ids.spill_dir, or NULL */
    struct mfr_id_map users, items;
    mfr_ratings *ratings; /* provisional indices until finish */
    struct mfr_item_rec *item_recs;
    size_t n_item_recs, cap_item_recs;
    struct mfr_user_rec *user_recs;
    size_t n_user_recs, cap_user_recs;
    char **genres; /* n_genres names (MFR_MAX_GENRES slots once allocated) */
    int32_t n_genres;
    bool genres_from_file; /* u.genre was read (else the default list) */
    char **occs;
    int32_t n_occs;
    /* The rating file is parsed elsewhere (each MPI rank its slice,
     * mfr_dataset_load_text): mfr_loader_read_ratings only settles the
     * syntax and keeps the file open here. */
    bool ratings_elsewhere;
    struct mfr_text_file rfile;
    struct mfr_rating_syntax rsyn;
};

void mfr_loader_free(struct mfr_loader *ld);
/* Frees v[0..n) and v (NULL is fine). */
void mfr_free_strings(char **v, int32_t n);

/*
 * Reads ld->ratings_name into ld->ratings (range from ld->opt) and checks
 * it for duplicate pairs. `sep` is the separator, or NULL to detect it
 * (mfr_detect_separator); `header` an enum mfr_header. Spaces around
 * fields are trimmed for the CSV and delimited formats (unless the
 * separator is a space), and a number quoted whole is unquoted (with any
 * separator). The separator byte and the header decision are
 * recorded in ld->opt.sep and ld->opt.header (YES or NO).
 */
int mfr_loader_read_ratings(struct mfr_loader *ld, const char *sep, int32_t header,
                            mfr_error *err);

/* Appends a zeroed item (user) record for raw id `raw` read at `line` of
 * `path`; *rec points at it. Errors: MFR_ERR_NOMEM, MFR_ERR_TOO_LARGE. */
int mfr_loader_add_item(struct mfr_loader *ld, const char *path, int64_t line, int64_t raw,
                        struct mfr_item_rec **rec, mfr_error *err);
int mfr_loader_add_user(struct mfr_loader *ld, const char *path, int64_t line, int64_t raw,
                        struct mfr_user_rec **rec, mfr_error *err);
/* Fails when two item (user) records have the same raw id, naming both
 * lines; an empty file ("file is empty (no items)") is an error too. */
int mfr_loader_check_items(struct mfr_loader *ld, const char *path, mfr_error *err);
int mfr_loader_check_users(struct mfr_loader *ld, const char *path, mfr_error *err);

/* Checks and stores a user's age (integer 1..150), sex (M or F) and zip
 * code (at most 15 printable ASCII bytes) in rec. */
int mfr_user_fields(const char *path, int64_t line, struct mfr_field age, struct mfr_field sex,
                    struct mfr_field zip, struct mfr_user_rec *rec, mfr_error *err);

/* Copies the NULL-terminated list `names` into ld->occs. */
int mfr_loader_set_occupations(struct mfr_loader *ld, const char *const *names,
                               mfr_error *err);

/* The error for genre name `name` at path:line that differs only in case
 * from the earlier `earlier` (on line earlier_line of the same file, or
 * 0: unknown): `project --genre` looks genres up ignoring case, so the two
 * could not be told apart. Returns MFR_ERR_PARSE. */
int mfr_loader_genre_case_error(mfr_error *err, const char *path, int64_t line, const char *name,
                                const char *earlier, int64_t earlier_line);

/*
 * Genres by name (the .dat and .csv movie files): mfr_loader_genre_mask
 * turns a '|'-separated list into a mask over the names seen so far, in
 * first-seen order (a new name is added; more than MFR_MAX_GENRES, a
 * name differing only in case from an earlier one, or one edit from a
 * MovieLens genre, is an error at that line). mfr_loader_order_genres then puts the names in the
 * MovieLens order (Action, Adventure, Animation, Children's, Children,
 * Comedy, Crime, Documentary, Drama, Fantasy, Film-Noir, Horror, Musical,
 * Mystery, Romance, Sci-Fi, Thriller, War, Western, then any others in
 * byte order) and rewrites every item's mask to match.
 */
int mfr_loader_genre_mask(struct mfr_loader *ld, const char *path, int64_t line,
                          struct mfr_field list, enum mfr_encoding enc, uint32_t *mask,
                          mfr_error *err);
void mfr_loader_order_genres(struct mfr_loader *ld);

/* Renumbers everything densely and moves it into ds (n_users, n_items, ids,
 * ratings, items, users, genres, occupations, fingerprint). */
int mfr_loader_finish(struct mfr_loader *ld, mfr_dataset *ds, mfr_error *err);

/* FNV-1a 64 over n_users, n_items (int32), the raw user then item ids
 * (int64), then every rating's dense user, dense item (int32) and rating
 * (float bits), all little-endian, ratings in file order. */
uint64_t mfr_dataset_compute_fingerprint(const mfr_dataset *ds);
/* Its two parts: the counts and ids (a fresh hash), then the ratings of r
 * in order continuing state h (a rating file hashed slice by slice in file
 * order, each slice continuing the state the previous one left). */
uint64_t mfr_fingerprint_ids(int32_t n_users, int32_t n_items, const int64_t *user_ids, const int64_t *item_ids);
uint64_t mfr_fingerprint_ratings(uint64_t h, const mfr_ratings *r);

/* ------------------------------------------------------------------ */
/* Format loaders (one per file)                                        */
/* ------------------------------------------------------------------ */

/* movielens.c: u.data (ld->ratings_name), u.genre, u.occupation, u.item,
 * u.user. */
int mfr_load_ml100k(struct mfr_loader *ld, mfr_error *err);
/* movielens_dat.c: ratings.dat (ld->ratings_name), movies.dat, users.dat. */
int mfr_load_ml1m(struct mfr_loader *ld, mfr_error *err);
/* movielens_csv.c: ratings.csv (ld->ratings_name), movies.csv. */
int mfr_load_csv(struct mfr_loader *ld, mfr_error *err);
/* delimited.c: ld->ratings_name only; resolves ld->opt.sep and header. */
int mfr_load_delimited(struct mfr_loader *ld, mfr_error *err);
/* delimited.c: detects the separator from the first line of f (tab, ',',
 * ';', '|', ' '), 0 when none occurs. */
char mfr_detect_separator(const struct mfr_text_file *f);

/* The metadata files each format reads besides its rating file, NULL
 * terminated (the cache records their sizes and times). */
extern const char *const mfr_ml100k_files[];
extern const char *const mfr_ml1m_files[];
extern const char *const mfr_csv_files[];

/* ------------------------------------------------------------------ */
/* Binary cache (dataset_cache.c)                                       */
/* ------------------------------------------------------------------ */

/* What identifies the text a cache was built from: the dataset directory
 * (resolved), the options that shape the result and, for every file a load
 * reads (absent ones included), its name, size and modification time. An
 * opaque byte string, compared whole. */
struct mfr_cache_key {
    unsigned char *bytes;
    size_t len;
    int64_t newest_change_ns; /* the latest of the sources' min(mtime, ctime) */
    int64_t ratings_bytes;   /* size of the rating file */
    mode_t ratings_read;     /* the rating file's read and write bits, which its caches get */
};

/* Builds the key for loading `ratings_name` plus the metadata `files` of
 * `dir` with options `opt` (format resolved). MFR_ERR_NOMEM or MFR_ERR_IO
 * (the rating file cannot be stat'ed). */
int mfr_cache_key_build(const char *dir, const char *ratings_name,
                        const char *const *files, const mfr_load_options *opt,
                        struct mfr_cache_key *key, mfr_error *err);
void mfr_cache_key_free(struct mfr_cache_key *key);

/*
 * Loads the dataset from the cache file at `path` when it exists, is
 * intact, and was built from exactly `key`. Returns MFR_OK with *out set
 * (dir NULL, cache_state MFR_CACHE_STATE_READ), or MFR_ERR_NOT_FOUND when
 * the cache is absent, stale, racy, corrupt, unreadable or cannot be
 * allocated: the caller then parses the text.
 */
int mfr_cache_load(const char *path, const struct mfr_cache_key *key, mfr_dataset **out);

/* Writes the cache atomically; any failure leaves no file and is returned
 * with a message that names the cause (the load then logs it as a warning
 * and goes on: a read-only data directory is normal). */
int mfr_cache_write(const char *path, const struct mfr_cache_key *key, const mfr_dataset *ds,
                    mfr_error *err);

/* For tests of the load's range checks: sets 4-byte element `index` of
 * rating section `section` (0 user, 1 item, 2 rating) of the cache file
 * at path to `bits`, then rewrites the header's checksum to match, so
 * that only the range checks can refuse it. MFR_OK, or MFR_ERR_IO when
 * the file is not a readable cache or index is outside the section. */
int mfr_cache_poke(const char *path, int section, int64_t index, uint32_t bits);

#endif
