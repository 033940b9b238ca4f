/*
 * mpi_load.c — the user-ordered cache made by every rank from its slice of
 * the rating file (docs/MPI.md, "Each rank parsing its slice of a text
 * file").
 *
 * DESIGN
 * No rank parses or holds the whole rating file. Rank r of P maps the file
 * and parses chunk r of P of its body, cut as the threads of one process
 * cut it (loader.c: mfr_rating_chunk_cut), with its own id maps (raw ids
 * kept). An exclusive scan of the chunks' newlines numbers its lines; the
 * chunks' outcomes (ratings, trailing blank line, first error), gathered,
 * are judged in rank order exactly as the threads' chunks are, so every
 * rank returns one process's message. The dense ids are the sorted union
 * of every rank's distinct raw ids and rank 0's metadata ids (gathered);
 * the fingerprint is hashed in file order by a chain through the ranks.
 * The ratings then go, 16 bytes each, to the rank owning their user (an
 * equal share of the ratings in user order, the blocks mpi_data.c reads);
 * sources arrive in rank order, which is file order, so a stable counting
 * sort by user gives the cache's record order, and the duplicate check of
 * one process runs on what a rank received (a user's ratings are all on
 * one rank; the first duplicate in file order over the ranks wins). The
 * ranks write their records into rank 0's temporary file by name; each
 * hashes the 1 MiB blocks that start in its bytes (reading back a block's
 * tail written by the next rank), rank 0 gathers the hashes and writes
 * the head: mfr_users_cache_write's bytes, renamed into place by
 * mfr_write_atomic_tmp (nothing half-written is ever visible).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "dataset_priv.h"
#include "mpi_priv.h"
#include "users_cache_priv.h"

/* One rating on its way to its user's rank. */
struct xrec {
    int32_t user, item;
    float rating;
    uint32_t index; /* in file order */
};
_Static_assert(sizeof(struct xrec) == 16, "exchange records are 16 bytes");

/* The first failing rank's error on every rank (its status), or MFR_OK. */
static int agree(MPI_Comm comm, int rank, int rc, mfr_error *err)
{
    int bad = rc != MFR_OK ? rank : INT_MAX, first = INT_MAX;
    if (MPI_Allreduce(&bad, &first, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS)
        return mfr_seterr(err, MFR_ERR_IO, "MPI agreement on the data failed");
    if (first == INT_MAX) return MFR_OK;
    if (rank == first && err->status == MFR_OK) err->status = rc;
    if (MPI_Bcast(err, (int)sizeof *err, MPI_BYTE, first, comm) != MPI_SUCCESS)
        return mfr_seterr(err, MFR_ERR_IO, "MPI agreement on the data failed");
    return err->status != MFR_OK ? err->status : MFR_ERR_IO;
}

/* Every rank's k words of mine into *all (P * k, rank order), the
 * allocation agreed first so that no rank is left in the gather; `what`
 * names the step in the errors. */
static int gather_words(MPI_Comm comm, int rank, int P, const int64_t *mine, int k, const char *what,
                        int64_t **all, mfr_error *err)
{
    *all = mfr_malloc(sizeof **all * (size_t)k * (size_t)P);
    int rc = agree(comm, rank, *all ? MFR_OK : mfr_nomem(err, what), err);
    if (rc == MFR_OK && MPI_Allgather(mine, k, MPI_INT64_T, *all, k, MPI_INT64_T, comm) != MPI_SUCCESS)
        rc = mfr_seterr(err, MFR_ERR_IO, "MPI gather failed %s", what);
    if (rc != MFR_OK) free(*all), *all = NULL;
    return rc;
}

static int cmp_i64(const void *a, const void *b)
{
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Sorts v[0..n) and drops repeats; returns the count left. */
static int64_t sort_unique(int64_t *v, int64_t n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_i64);
    int64_t m = 0;
    for (int64_t k = 0; k < n; k++)
        if (!m || v[k] != v[m - 1]) v[m++] = v[k];
    return m;
}

/* The ascending union over the ranks of the raw ids in a (this rank's,
 * and rank 0's extra): *ids (malloc'd), *n. */
static int union_ids(MPI_Comm comm, int rank, int P, const struct mfr_id_map *a, const struct mfr_id_map *extra,
                     int64_t **ids, int32_t *n, const char *path, const char *what, mfr_error *err)
{
    const int64_t mine = (int64_t)a->n + (extra ? extra->n : 0);
    int64_t *own = mfr_malloc(sizeof *own * (size_t)(mine + 1));
    int *cnt = mfr_malloc(sizeof *cnt * (size_t)P), *disp = mfr_malloc(sizeof *disp * (size_t)P);
    int64_t *all = NULL;
    int rc = MFR_OK, c = 0;
    if (!own || !cnt || !disp) {
        rc = mfr_nomem(err, "gathering ids");
    } else {
        memcpy(own, a->raw, sizeof *own * (size_t)a->n);
        if (extra) memcpy(own + a->n, extra->raw, sizeof *own * (size_t)extra->n);
        const int64_t distinct = sort_unique(own, mine);
        if (distinct > INT_MAX) rc = mfr_seterr(err, MFR_ERR_UNSUPPORTED, "%s: too many %s ids to gather", path, what);
        c = (int)distinct;
    }
    /* every rank enters each collective, or none: a local failure is agreed first */
    if ((rc = agree(comm, rank, rc, err)) != MFR_OK) goto done;
    if (MPI_Allgather(&c, 1, MPI_INT, cnt, 1, MPI_INT, comm) != MPI_SUCCESS) {
        rc = mfr_seterr(err, MFR_ERR_IO, "MPI gather of the %s ids failed", what);
        goto done;
    }
    int64_t total = 0;
    for (int q = 0; q < P; q++) {
        disp[q] = (int)total;
        total += cnt[q];
    }
    if (total > INT_MAX) { /* every rank sees the same counts */
        rc = mfr_seterr(err, MFR_ERR_UNSUPPORTED, "%s: too many %s ids to gather", path, what);
        goto done;
    }
    if (!(all = mfr_malloc(sizeof *all * (size_t)(total + 1)))) rc = mfr_nomem(err, "gathering ids");
    if ((rc = agree(comm, rank, rc, err)) != MFR_OK) goto done;
    if (MPI_Allgatherv(own, c, MPI_INT64_T, all, cnt, disp, MPI_INT64_T, comm) != MPI_SUCCESS) {
        rc = mfr_seterr(err, MFR_ERR_IO, "MPI gather of the %s ids failed", what);
        goto done;
    }
    total = sort_unique(all, total);
    if (total > INT32_MAX) {
        rc = mfr_seterr(err, MFR_ERR_TOO_LARGE, "%s: more than %d %s ids", path, INT32_MAX, what);
        goto done;
    }
    *n = (int32_t)total;
    *ids = all;
    all = NULL;
done:
    free(own);
    free(cnt);
    free(disp);
    free(all);
    return rc;
}

/* Renumbers the chunk's provisional indices in v[0..n) to dense ones. */
static int to_dense(const struct mfr_id_map *m, const int64_t *ids, int32_t n_ids, int32_t *v, int64_t n)
{
    int32_t *to = mfr_malloc(sizeof *to * ((size_t)m->n + 1));
    if (!to) return MFR_ERR_NOMEM;
    for (int32_t j = 0; j < m->n; j++) to[j] = mfr_find_id(ids, n_ids, m->raw[j]);
    for (int64_t k = 0; k < n; k++) v[k] = to[v[k]];
    free(to);
    return MFR_OK;
}

/* Everything the ranks share once the slices are parsed and judged. */
struct load {
    MPI_Comm comm;
    int rank, P;
    struct mfr_load_text t;
    struct mfr_rating_chunk c;
    mfr_ratings *r;     /* this rank's ratings, file order */
    int64_t first;      /* index of its first rating */
    int64_t n;          /* all ratings */
    mfr_dataset ds;     /* the head's: counts, ids, options, scale, fingerprint */
    int64_t *off;       /* n_users + 1 */
    int32_t *block;     /* P + 1: rank q owns users [block[q], block[q+1]) */
    struct xrec *got;   /* received, file order */
    int64_t m;          /* received */
    struct mfr_urec *recs; /* this rank's records, the cache's order */
};

/* Steps 1 and 2: the slice parsed; its outcome judged with the others' in
 * file order (the chunk loop of mfr_parse_ratings_chunked). */
static int load_parse(struct load *L, mfr_error *err)
{
    const struct mfr_text_file *f = &L->t.ld.rfile;
    const struct mfr_rating_syntax *syn = &L->t.ld.rsyn;
    const int64_t header = syn->header;
    if (header && f->size == 0) return mfr_parse_err(err, f->path, 1, "file is empty (no ratings)");
    mfr_rating_chunk_cut(f, syn, L->rank, L->P, &L->c);
    int64_t first = 0;
    if (MPI_Exscan(&L->c.lines, &first, 1, MPI_INT64_T, MPI_SUM, L->comm) != MPI_SUCCESS)
        return mfr_seterr(err, MFR_ERR_IO, "MPI scan of the line counts failed");
    L->c.first = L->rank ? first : 0;
    int rc = mfr_rating_chunk_parse(f, syn, L->t.ld.opt.min_rating, L->t.ld.opt.max_rating, &L->c, &L->r, err);
    if ((rc = agree(L->comm, L->rank, rc, err)) != MFR_OK) return rc;
    const int64_t mine[3] = {L->c.count, L->c.blank, L->c.rc != MFR_OK};
    int64_t *all;
    if ((rc = gather_words(L->comm, L->rank, L->P, mine, 3, "parsing ratings", &all, err)) != MFR_OK) return rc;
    int64_t n = 0, blank = 0;
    int bad = -1;
    for (int q = 0; q < L->P && bad < 0 && rc == MFR_OK; q++) {
        const int64_t count = all[3 * q], qblank = all[3 * q + 1], failed = all[3 * q + 2];
        if (blank && (count > 0 || failed))
            rc = mfr_parse_err(err, f->path, blank, "blank line before the end of the file");
        else if (failed)
            bad = q;
        else if (!blank)
            blank = qblank;
        n += count;
        if (q < L->rank) L->first += count;
    }
    free(all);
    if (bad >= 0) {
        if (L->rank == bad) *err = L->c.err;
        if (MPI_Bcast(err, (int)sizeof *err, MPI_BYTE, bad, L->comm) != MPI_SUCCESS)
            return mfr_seterr(err, MFR_ERR_IO, "MPI broadcast of a parse error failed");
        return err->status != MFR_OK ? err->status : MFR_ERR_PARSE;
    }
    if (rc != MFR_OK) return rc;
    if (n == 0) return mfr_parse_no_ratings(err, f->path, header);
    if (n > (int64_t)UINT32_MAX)
        return mfr_seterr(err, MFR_ERR_UNSUPPORTED, "%s: %lld ratings (the user-ordered cache holds up to 2^32 - 1)",
                          f->path, (long long)n);
    L->n = n;
    return MFR_OK;
}

/* Steps 3 and 4: the dense ids, the scale, the fingerprint. */
static int load_ids(struct load *L, mfr_error *err)
{
    const char *path = L->t.ld.rfile.path;
    mfr_dataset *ds = &L->ds;
    const bool meta = L->rank == 0 && L->t.meta_rc == MFR_OK; /* a failed metadata read is reported later */
    int rc = union_ids(L->comm, L->rank, L->P, &L->c.users, meta ? &L->t.ld.users : NULL, &ds->user_ids, &ds->n_users, path,
                       "user", err);
    if (rc == MFR_OK)
        rc = union_ids(L->comm, L->rank, L->P, &L->c.items, meta ? &L->t.ld.items : NULL, &ds->item_ids, &ds->n_items,
                       path, "item", err);
    if (rc != MFR_OK) return rc;
    if (to_dense(&L->c.users, ds->user_ids, ds->n_users, L->r->user, L->r->n) != MFR_OK ||
        to_dense(&L->c.items, ds->item_ids, ds->n_items, L->r->item, L->r->n) != MFR_OK)
        rc = mfr_nomem(err, "numbering ids");
    if ((rc = agree(L->comm, L->rank, rc, err)) != MFR_OK) return rc;
    ds->opt = L->t.ld.opt;
    ds->scale_min = L->t.scale_min;
    ds->scale_max = L->t.scale_max;
    if (L->t.scale_from_data) { /* exact: a minimum and a maximum in any order */
        float lo = INFINITY, hi = -INFINITY;
        for (int64_t k = 0; k < L->r->n; k++) {
            if (L->r->rating[k] < lo) lo = L->r->rating[k];
            if (L->r->rating[k] > hi) hi = L->r->rating[k];
        }
        if (MPI_Allreduce(&lo, &ds->scale_min, 1, MPI_FLOAT, MPI_MIN, L->comm) != MPI_SUCCESS ||
            MPI_Allreduce(&hi, &ds->scale_max, 1, MPI_FLOAT, MPI_MAX, L->comm) != MPI_SUCCESS)
            return mfr_seterr(err, MFR_ERR_IO, "MPI reduction of the rating scale failed");
    }
    /* the fingerprint in file order: each rank continues its predecessor's state */
    uint64_t h = 0;
    int mrc = MPI_SUCCESS;
    if (L->rank == 0)
        h = mfr_fingerprint_ids(ds->n_users, ds->n_items, ds->user_ids, ds->item_ids);
    else
        mrc = MPI_Recv(&h, 1, MPI_UINT64_T, L->rank - 1, 0, L->comm, MPI_STATUS_IGNORE);
    h = mfr_fingerprint_ratings(h, L->r);
    if (mrc == MPI_SUCCESS && L->rank + 1 < L->P) mrc = MPI_Send(&h, 1, MPI_UINT64_T, L->rank + 1, 0, L->comm);
    if (mrc == MPI_SUCCESS) mrc = MPI_Bcast(&h, 1, MPI_UINT64_T, L->P - 1, L->comm);
    if (mrc != MPI_SUCCESS) return mfr_mpi_err(err, mrc, "chain of the dataset fingerprint");
    ds->fingerprint = h;
    return MFR_OK;
}

/* The rank owning user u: the last q with block[q] <= u (empty blocks skipped). */
static int owner(const int32_t *block, int P, int32_t u)
{
    int lo = 0, hi = P - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        if (block[mid] <= u) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

/* Step 5: the users' offsets, the blocks, each rating sent to its user's rank. */
static int load_exchange(struct load *L, mfr_error *err)
{
    const int P = L->P;
    const int32_t N = L->ds.n_users;
    const mfr_ratings *r = L->r;
    int *scnt = mfr_calloc((size_t)P, sizeof *scnt), *rcnt = mfr_calloc((size_t)P, sizeof *rcnt);
    int *sdsp = mfr_calloc((size_t)P, sizeof *sdsp), *rdsp = mfr_calloc((size_t)P, sizeof *rdsp);
    int64_t *at = mfr_calloc((size_t)P, sizeof *at);
    L->off = mfr_calloc((size_t)N + 1, sizeof *L->off);
    L->block = mfr_calloc((size_t)P + 1, sizeof *L->block);
    struct xrec *send = mfr_malloc(sizeof *send * (size_t)(r->n > 0 ? r->n : 1));
    int64_t *per = mfr_calloc((size_t)P, sizeof *per);
    MPI_Datatype xt = MPI_DATATYPE_NULL;
    int rc = MFR_OK;
    if (!scnt || !rcnt || !sdsp || !rdsp || !at || !L->off || !L->block || !send || !per)
        rc = mfr_nomem(err, "exchanging ratings");
    else if (r->n > INT_MAX) /* the send counts and displacements are ints */
        rc = mfr_seterr(err, MFR_ERR_UNSUPPORTED, "more than 2^31 - 1 ratings in one rank's slice: read whole");
    if ((rc = agree(L->comm, L->rank, rc, err)) != MFR_OK) goto done;
    for (int64_t k = 0; k < r->n; k++) L->off[r->user[k] + 1]++;
    if (MPI_Allreduce(MPI_IN_PLACE, L->off + 1, N, MPI_INT64_T, MPI_SUM, L->comm) != MPI_SUCCESS) {
        rc = mfr_seterr(err, MFR_ERR_IO, "MPI reduction of the users' counts failed");
        goto done;
    }
    for (int32_t u = 0; u < N; u++) L->off[u + 1] += L->off[u];
    for (int q = 1; q < P; q++) L->block[q] = mfr_mpi_user_at(L->off, N, (int64_t)((double)L->n * q / P));
    L->block[P] = N;
    int64_t big = 0;
    for (int q = 0; q < P; q++) big |= L->off[L->block[q + 1]] - L->off[L->block[q]] > INT_MAX;
    if (big) { /* every rank sees the same offsets */
        rc = mfr_seterr(err, MFR_ERR_UNSUPPORTED, "more than 2^31 - 1 ratings to one rank: read whole");
        goto done;
    }
    for (int64_t k = 0; k < r->n; k++) per[owner(L->block, P, r->user[k])]++;
    for (int q = 0, s = 0; q < P; q++) {
        scnt[q] = (int)per[q];
        sdsp[q] = s;
        at[q] = s;
        s += scnt[q];
    }
    for (int64_t k = 0; k < r->n; k++) /* stable: file order to each rank */
        send[at[owner(L->block, P, r->user[k])]++] =
            (struct xrec){r->user[k], r->item[k], r->rating[k], (uint32_t)(L->first + k)};
    mfr_ratings_destroy(L->r); /* sent: the parse's arrays go */
    L->r = NULL;
    if (MPI_Alltoall(scnt, 1, MPI_INT, rcnt, 1, MPI_INT, L->comm) != MPI_SUCCESS) {
        rc = mfr_seterr(err, MFR_ERR_IO, "MPI exchange of the counts failed");
        goto done;
    }
    L->m = 0;
    for (int q = 0; q < P; q++) {
        rdsp[q] = (int)L->m;
        L->m += rcnt[q];
    }
    if (!(L->got = mfr_malloc(sizeof *L->got * (size_t)(L->m > 0 ? L->m : 1))))
        rc = mfr_nomem(err, "exchanging ratings");
    if ((rc = agree(L->comm, L->rank, rc, err)) != MFR_OK) goto done;
    if (MPI_Type_contiguous(16, MPI_BYTE, &xt) != MPI_SUCCESS || MPI_Type_commit(&xt) != MPI_SUCCESS ||
        MPI_Alltoallv(send, scnt, sdsp, xt, L->got, rcnt, rdsp, xt, L->comm) != MPI_SUCCESS)
        rc = mfr_seterr(err, MFR_ERR_IO, "MPI exchange of the ratings failed");
done:
    free(per);
    if (xt != MPI_DATATYPE_NULL) MPI_Type_free(&xt);
    free(scnt);
    free(rcnt);
    free(sdsp);
    free(rdsp);
    free(at);
    free(send);
    return rc;
}

/* Step 6: one process's duplicate check, its first duplicate in file order. */
static int load_duplicates(struct load *L, mfr_error *err)
{
    const int32_t u0 = L->block[L->rank], nu = L->block[L->rank + 1] - u0;
    mfr_ratings v = {.n = L->m};
    v.user = mfr_malloc(sizeof *v.user * (size_t)(L->m > 0 ? L->m : 1));
    v.item = mfr_malloc(sizeof *v.item * (size_t)(L->m > 0 ? L->m : 1));
    int64_t first = -1, second = -1;
    int rc = v.user && v.item ? MFR_OK : MFR_ERR_NOMEM;
    if (rc == MFR_OK) {
        for (int64_t k = 0; k < L->m; k++) {
            v.user[k] = L->got[k].user - u0;
            v.item[k] = L->got[k].item;
        }
        rc = mfr_find_duplicate(&v, nu, L->ds.n_items, &first, &second);
    }
    free(v.user);
    free(v.item);
    if (rc != MFR_OK) rc = mfr_nomem(err, "checking for duplicate ratings");
    if ((rc = agree(L->comm, L->rank, rc, err)) != MFR_OK) return rc;
    int64_t mine[4] = {INT64_MAX, 0, 0, 0};
    if (second >= 0) {
        const struct xrec *a = &L->got[first], *b = &L->got[second];
        mine[0] = b->index;
        mine[1] = a->index;
        mine[2] = L->ds.user_ids[b->user];
        mine[3] = L->ds.item_ids[b->item];
    }
    int64_t *all;
    if ((rc = gather_words(L->comm, L->rank, L->P, mine, 4, "checking for duplicate ratings", &all, err)) != MFR_OK)
        return rc;
    int best = 0;
    for (int q = 1; q < L->P; q++)
        if (all[4 * q] < all[4 * best]) best = q;
    const int64_t *d = all + 4 * best, line0 = 1 + L->t.ld.rsyn.header;
    if (d[0] != INT64_MAX) rc = mfr_duplicate_err(err, L->t.ld.rfile.path, d[0] + line0, d[2], d[3], d[1] + line0);
    free(all);
    return rc;
}

/* Step 7a: the received ratings as the cache's records (a stable counting
 * sort by user: file order within a user). */
static int load_records(struct load *L, mfr_error *err)
{
    const int32_t u0 = L->block[L->rank], u1 = L->block[L->rank + 1];
    int64_t *next = mfr_malloc(sizeof *next * ((size_t)(u1 - u0) + 1));
    L->recs = mfr_malloc(sizeof *L->recs * (size_t)(L->m > 0 ? L->m : 1));
    int rc = MFR_OK;
    if (!next || !L->recs) {
        rc = mfr_nomem(err, "sorting ratings by user");
    } else {
        for (int32_t u = u0; u <= u1; u++) next[u - u0] = L->off[u] - L->off[u0];
        for (int64_t k = 0; k < L->m; k++) {
            const struct xrec *x = &L->got[k];
            L->recs[next[x->user - u0]++] = (struct mfr_urec){x->item, x->rating, x->index};
        }
    }
    free(next);
    free(L->got);
    L->got = NULL;
    return agree(L->comm, L->rank, rc, err);
}

static int pio(int fd, void *buf, size_t n, int64_t at, bool write)
{
    for (size_t done = 0; done < n;) {
        const ssize_t k = write ? pwrite(fd, (const char *)buf + done, n - done, (off_t)(at + (int64_t)done))
                                : pread(fd, (char *)buf + done, n - done, (off_t)(at + (int64_t)done));
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        done += (size_t)k;
    }
    return 0;
}

/* The records' bytes of rank q: [12 off[block[q]], 12 off[block[q+1]]);
 * the hash blocks it hashes: those that start in them. */
static void rank_blocks(const struct load *L, int q, int64_t *b0, int64_t *b1)
{
    const int64_t B = MFR_USERS_HASH_BLOCK, lo = 12 * L->off[L->block[q]], hi = 12 * L->off[L->block[q + 1]];
    *b0 = (lo + B - 1) / B;
    *b1 = (hi + B - 1) / B;
    if (*b1 < *b0) *b1 = *b0;
}

struct write_ctx {
    struct load *L;
    const struct mfr_cache_key *key;
    bool named; /* rank 0: the temporary file's name was sent */
};

/* Step 7b, on every rank: its records into the file `tmp`, its blocks'
 * hashes to rank 0, which writes the head into f. */
static int write_parts(struct write_ctx *w, const char *tmp, FILE *f, mfr_error *err)
{
    struct load *L = w->L;
    const int64_t B = MFR_USERS_HASH_BLOCK;
    int64_t n_blocks;
    const int64_t recs_at = mfr_users_cache_recs_at(w->key, L->ds.n_users, L->ds.n_items, L->n, &n_blocks);
    const int64_t lo = 12 * L->off[L->block[L->rank]], total = 12 * L->n;
    int rc = MFR_OK;
    int fd = open(tmp, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || pio(fd, L->recs, (size_t)(12 * L->m), recs_at + lo, true) != 0 || fsync(fd) != 0)
        rc = mfr_seterr(err, MFR_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    if (fd >= 0 && close(fd) != 0 && rc == MFR_OK)
        rc = mfr_seterr(err, MFR_ERR_IO, "cannot close %s: %s", tmp, strerror(errno));
    if ((rc = agree(L->comm, L->rank, rc, err)) != MFR_OK) return rc;
    /* opened again once every rank has closed its writes: a network file
     * system shows them then (close-to-open) */
    if ((fd = open(tmp, O_RDONLY | O_CLOEXEC)) < 0)
        rc = mfr_seterr(err, MFR_ERR_IO, "cannot read %s back: %s", tmp, strerror(errno));
    int64_t b0, b1;
    rank_blocks(L, L->rank, &b0, &b1);
    uint64_t *mine = mfr_malloc(sizeof *mine * (size_t)(b1 - b0 + 1)), *all = NULL;
    unsigned char *buf = NULL;
    for (int64_t b = b0; b < b1 && mine && rc == MFR_OK; b++) {
        const int64_t at = b * B, len = total - at < B ? total - at : B;
        if (at + len <= lo + 12 * L->m) { /* inside this rank's records */
            mine[b - b0] = mfr_users_cache_block_hash(b, (const unsigned char *)L->recs + (at - lo), (size_t)len);
        } else if ((buf || (buf = mfr_malloc((size_t)B))) && pio(fd, buf, (size_t)len, recs_at + at, false) == 0) {
            mine[b - b0] = mfr_users_cache_block_hash(b, buf, (size_t)len); /* its tail is the next ranks' */
        } else {
            rc = mfr_seterr(err, MFR_ERR_IO, "cannot read %s back: %s", tmp, strerror(errno));
        }
    }
    free(buf);
    if (!mine) rc = mfr_nomem(err, "hashing the records");
    int *cnt = NULL, *disp = NULL;
    if (L->rank == 0 && rc == MFR_OK) {
        all = mfr_malloc(sizeof *all * (size_t)(n_blocks + 1));
        cnt = mfr_malloc(sizeof *cnt * (size_t)L->P);
        disp = mfr_malloc(sizeof *disp * (size_t)L->P);
        if (!all || !cnt || !disp) rc = mfr_nomem(err, "hashing the records");
        for (int q = 0; q < L->P && rc == MFR_OK; q++) {
            int64_t q0, q1;
            rank_blocks(L, q, &q0, &q1);
            cnt[q] = (int)(q1 - q0);
            disp[q] = (int)q0;
        }
    }
    if ((rc = agree(L->comm, L->rank, rc, err)) == MFR_OK &&
        MPI_Gatherv(mine, (int)(b1 - b0), MPI_UINT64_T, all, cnt, disp, MPI_UINT64_T, 0, L->comm) != MPI_SUCCESS)
        rc = mfr_seterr(err, MFR_ERR_IO, "MPI gather of the block hashes failed");
    if (rc == MFR_OK && L->rank == 0) {
        unsigned char *head = NULL;
        size_t len = 0;
        if (mfr_users_cache_head(w->key, &L->ds, L->n, L->off, all, &head, &len) != MFR_OK)
            rc = mfr_nomem(err, "writing the cache");
        else if (fwrite(head, 1, len, f) != len) /* at offset 0: f has written nothing yet */
            rc = mfr_seterr(err, MFR_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
        free(head);
    }
    free(mine);
    free(all);
    free(cnt);
    free(disp);
    if (fd >= 0) close(fd);
    return rc;
}

static int write_tmp(FILE *f, const char *tmp, void *arg, mfr_error *err)
{
    struct write_ctx *w = arg;
    int len = (int)strlen(tmp) + 1;
    w->named = true;
    if (MPI_Bcast(&len, 1, MPI_INT, 0, w->L->comm) != MPI_SUCCESS ||
        MPI_Bcast((void *)(uintptr_t)tmp, len, MPI_CHAR, 0, w->L->comm) != MPI_SUCCESS)
        return mfr_seterr(err, MFR_ERR_IO, "MPI broadcast of the cache's name failed");
    return write_parts(w, tmp, f, err);
}

/* Step 7: the file written by every rank, renamed into place by rank 0. */
static int load_write(struct load *L, const struct mfr_cache_key *key, const char *path, mfr_error *err)
{
    struct write_ctx w = {L, key, false};
    int rc;
    if (L->rank == 0) {
        rc = mfr_write_atomic_tmp(path, write_tmp, &w, err);
        int none = -1;
        if (!w.named) MPI_Bcast(&none, 1, MPI_INT, 0, L->comm); /* no temporary file: nothing to write */
    } else {
        int len = 0;
        char tmp[PATH_MAX + 1]; /* no allocation to fail between the two broadcasts */
        rc = MPI_Bcast(&len, 1, MPI_INT, 0, L->comm) == MPI_SUCCESS ? MFR_OK : MFR_ERR_IO;
        if (rc == MFR_OK && len > 0 && len <= (int)sizeof tmp && MPI_Bcast(tmp, len, MPI_CHAR, 0, L->comm) == MPI_SUCCESS)
            rc = write_parts(&w, tmp, NULL, err);
        else if (len > 0) /* (a name rank 0 created is shorter than PATH_MAX) */
            rc = mfr_seterr(err, MFR_ERR_IO, "MPI broadcast of the cache's name failed");
    }
    return agree(L->comm, L->rank, rc, err);
}

int mfr_mpi_users_cache_build(MPI_Comm comm, const char *dir, const mfr_load_options *opt,
                              const struct mfr_load_id *id, const char *path, mfr_error *err)
{
    struct load L = {.comm = comm};
    MPI_Comm_rank(comm, &L.rank);
    MPI_Comm_size(comm, &L.P);
    mfr_error e = {0};
    int rc = mfr_dataset_load_text(dir, opt, L.rank == 0, &L.t, &e);
    if ((rc = agree(comm, L.rank, rc, &e)) == MFR_OK) rc = load_parse(&L, &e);
    if (rc == MFR_OK) rc = load_ids(&L, &e);
    if (rc == MFR_OK) rc = load_exchange(&L, &e);
    if (rc == MFR_OK) rc = load_duplicates(&L, &e);
    if (rc == MFR_OK) { /* the metadata files' error comes after the rating file's, as in one process */
        int m = L.rank == 0 ? L.t.meta_rc : MFR_OK;
        if (L.rank == 0 && m != MFR_OK) e = L.t.meta_err;
        rc = agree(comm, L.rank, m, &e);
    }
    if (rc == MFR_OK) rc = load_records(&L, &e);
    if (rc == MFR_OK && (rc = load_write(&L, &id->key, path, &e)) != MFR_OK) { /* the caller reads whole */
        const mfr_error why = e;
        rc = mfr_seterr(&e, MFR_ERR_UNSUPPORTED, "the user-ordered cache cannot be written (%.400s)", why.message);
    }
    if (rc != MFR_OK && err) *err = e;
    mfr_load_text_free(&L.t);
    mfr_rating_chunk_free(&L.c);
    mfr_ratings_destroy(L.r);
    free(L.ds.user_ids);
    free(L.ds.item_ids);
    free(L.off);
    free(L.block);
    free(L.got);
    free(L.recs);
    return rc;
}
