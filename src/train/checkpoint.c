/*
 * checkpoint.c — a training run on disk: writing the trainer's state and a
 * run state, reading them back verified, and a trainer that continues from
 * them (format: docs/CHECKPOINTS.md).
 *
 * DESIGN
 * - A checkpoint is a list of sections: the trainer's model as a complete
 *   model file (model_io.c writes and verifies it, with its own checksum),
 *   the run state as tagged records, the best epoch's model (another model
 *   file) and the caller's log, then an FNV-1a 64 of every preceding byte.
 *   Reusing the model file keeps one writer and one verifier for factors,
 *   optimizer state, configuration and provenance.
 * - Everything a step reads that is not derived from the data and the
 *   configuration is in the model (parameters, optimizer state, step count)
 *   or in the last loss; bias_mean, implicit weights and item counts are
 *   recomputed from the training ratings by mfr_trainer_create. A resumed
 *   trainer is therefore a new trainer whose model arrays are replaced.
 * - Loading hashes the whole file first (one pass), then parses it,
 *   checking every length against what is left of the file before reading
 *   or allocating, so a forged length cannot cause a large allocation.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bytes_priv.h"
#include "checkpoint_priv.h"
#include "config_priv.h"
#include "dataset_priv.h"
#include "softmax_priv.h"
#include "train_priv.h"

#define CKPT_VERSION 1u
#define CKPT_PREAMBLE 16u /* magic, version, section count */
#define CKPT_SECTION_HEAD 16u /* tag, reserved, length */
#define CKPT_MAX_LOG (UINT64_C(1) << 30)
#define CKPT_MAX_RUN 4096u /* bytes of run records, far more than written */

enum section { SEC_TRAINER = 1, SEC_RUN = 2, SEC_BEST = 3, SEC_LOG = 4, SEC_SOFTMAX = 5, SEC_END };
static const char *const section_names[SEC_END] = {"", "trainer model", "run state", "best model",
                                                   "log", "softmax optimizer state"};
#define SM_STATE_HEAD 24u /* arrays, reserved, steps, parameters */

/* The run records: the public run state's scalars, the trainer's last
 * loss and the training ratings' fingerprint. */
struct run_rec {
    int64_t epochs, early_stop, best_epoch, log_every, checkpoint_every, train_nnz;
    double best_val, elapsed_s, train_s;
    double loss[4]; /* mfr_loss: total, mse, l2, gravity */
    uint64_t train_hash;
    int64_t no_train_eval;
};

enum rec_type { R_I64, R_F64, R_U64 };
static const struct run_field {
    uint32_t tag;
    const char *name;
    enum rec_type type;
    size_t off;
} run_fields[] = {
    {1, "epochs", R_I64, offsetof(struct run_rec, epochs)},
    {2, "early_stop", R_I64, offsetof(struct run_rec, early_stop)},
    {3, "best_epoch", R_I64, offsetof(struct run_rec, best_epoch)},
    {4, "best_val", R_F64, offsetof(struct run_rec, best_val)},
    {5, "log_every", R_I64, offsetof(struct run_rec, log_every)},
    {6, "checkpoint_every", R_I64, offsetof(struct run_rec, checkpoint_every)},
    {7, "elapsed_s", R_F64, offsetof(struct run_rec, elapsed_s)},
    {8, "train_s", R_F64, offsetof(struct run_rec, train_s)},
    {9, "loss_total", R_F64, offsetof(struct run_rec, loss[0])},
    {10, "loss_mse", R_F64, offsetof(struct run_rec, loss[1])},
    {11, "loss_l2", R_F64, offsetof(struct run_rec, loss[2])},
    {12, "loss_gravity", R_F64, offsetof(struct run_rec, loss[3])},
    {13, "train_nnz", R_I64, offsetof(struct run_rec, train_nnz)},
    {14, "train_hash", R_U64, offsetof(struct run_rec, train_hash)},
    {15, "no_train_eval", R_I64, offsetof(struct run_rec, no_train_eval)},
};
/* Files written before tag 15 hold the first 14 records; the missing one
 * reads as 0. */
#define N_RUN_FIELDS_V1 14u
#define N_RUN_FIELDS (sizeof run_fields / sizeof *run_fields)
#define RUN_BYTES (4u + N_RUN_FIELDS * 16u) /* count, then tag, length, 8 bytes each */

/* A checkpoint loaded as a shell (mfr_ckpt_load_shell): its models' user
 * rows stay in the file, kept open, and each part reads its own. */
struct ckpt_shell {
    FILE *f;
    char *path;
    uint64_t base[2]; /* where the trainer and the best model start in the file */
    uint64_t user_off[2][MFR_MODEL_MAX_ARRAYS]; /* their arrays, from there */
    struct mfr_ckpt_id id; /* the file as loaded */
    int64_t rows_read;     /* users' rows of the trainer model read into parts */
};

struct mfr_checkpoint {
    mfr_model *model, *best;
    struct ckpt_shell *sh; /* NULL: the models are whole */
    struct run_rec run;
    char *log;
    size_t log_len;
    /* the softmax optimizer section (n_state 0: none) */
    int32_t n_state;
    int64_t steps, n_params;
    float *state; /* n_state x n_params */
};

/* FNV-1a of the training ratings in CSR order (user offsets, items,
 * ratings), encoded little-endian: another split or rating set differs. */
uint64_t mfr_ckpt_hash_offsets(uint64_t h, const int64_t *row_ptr, int64_t n)
{
    unsigned char b[8];
    for (int64_t u = 0; u < n; u++) {
        mfr_put_le64(b, (uint64_t)row_ptr[u]);
        h = mfr_fnv1a(h, b, 8);
    }
    return h;
}

uint64_t mfr_ckpt_hash_ratings(uint64_t h, const struct mfr_csr *c)
{
    unsigned char b[8];
    for (int64_t j = 0; j < c->nnz; j++) {
        mfr_put_le32(b, (uint32_t)c->item[j]);
        mfr_put_le32(b + 4, mfr_f32_bits(c->rating[j]));
        h = mfr_fnv1a(h, b, 8);
    }
    return h;
}

static uint64_t train_hash(const struct mfr_csr *c)
{
    return mfr_ckpt_hash_ratings(mfr_ckpt_hash_offsets(MFR_FNV_INIT, c->row_ptr, (int64_t)c->n_users + 1), c);
}

/* Checks the values of a run state (saving, and loading a file): counts
 * >= 0, times finite and >= 0, the loss finite, best_val a number >= 0
 * (an MSE; +inf: no best yet). A negative one, which no epoch can beat,
 * made a resumed run with early stopping stop after its patience. */
static int check_run(const struct run_rec *r, const char *path, int status, mfr_error *err)
{
    for (size_t x = 0; x < N_RUN_FIELDS; x++) {
        const struct run_field *f = &run_fields[x];
        const char *src = (const char *)r + f->off;
        if (f->type == R_I64) {
            int64_t v;
            memcpy(&v, src, sizeof v);
            if (v < 0)
                return mfr_seterr(err, status, "%s: run state %s = %lld is negative", path, f->name,
                                  (long long)v);
            if (f->off == offsetof(struct run_rec, no_train_eval) && v > 1)
                return mfr_seterr(err, status, "%s: run state %s = %lld is not 0 or 1", path, f->name,
                                  (long long)v);
        } else if (f->type == R_F64) {
            double v;
            memcpy(&v, src, sizeof v);
            bool time = f->off == offsetof(struct run_rec, elapsed_s) ||
                        f->off == offsetof(struct run_rec, train_s);
            bool best = f->off == offsetof(struct run_rec, best_val);
            if (best ? !(v >= 0) : !isfinite(v) || (time && v < 0))
                return mfr_seterr(err, status, "%s: run state %s = %g is not %s", path, f->name, v,
                                  best ? "a number >= 0" : time ? "finite and >= 0" : "finite");
        }
    }
    return MFR_OK;
}

/* What the sections must agree on, one definition for the writer and the
 * loader, so that no writer call makes a file its loader refuses (the
 * writer checked the best model alone, not the softmax section): a best
 * model exactly when best_epoch > 0, at that epoch (at most the trainer
 * model's), of its shape and kind (a softmax one beside a matrix
 * factorization trainer would be resumed as that run's best); a softmax
 * trainer model with its optimizer state, of its optimizer and size,
 * without a best model (no early stopping) and with its one loss part.
 * True when they agree, else false with what does not in why (size cap),
 * for the caller's message. */
static bool parts_agree(const mfr_model *m, const mfr_model *b, int64_t best_epoch, int32_t n_state,
                        int64_t n_params, const double loss[4], char *why, size_t cap)
{
    if (best_epoch > m->epochs || (best_epoch > 0) != (b != NULL) ||
        (b && (b->epochs != best_epoch || b->k != m->k || b->n_users != m->n_users ||
               b->n_items != m->n_items || (b->sm != NULL) != (m->sm != NULL)))) {
        mfr_format_c(why, cap,
                     "the best model does not match best_epoch (%lld) and the trainer's model (%lld epochs): "
                     "it is given exactly when best_epoch > 0, at that epoch count, with the trainer "
                     "model's users, items, k and kind",
                     (long long)best_epoch, (long long)m->epochs);
        return false;
    }
    const struct mfr_sm_net *net = m->sm;
    if ((net != NULL) != (n_state > 0) ||
        (net && (n_params != net->lay.n_params || b ||
                 n_state != (net->cfg.optimizer == MFR_SOFTMAX_OPT_ADAM ? 2 : 1) || loss[1] != 0 ||
                 loss[2] != 0 || loss[3] != 0))) {
        mfr_format_c(why, cap, "the %s does not match the %s model it is saved with", section_names[SEC_SOFTMAX],
                     net ? "softmax" : "matrix factorization");
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Writing                                                              */
/* ------------------------------------------------------------------ */

struct ckpt_writer {
    const struct mfr_ckpt_parts *p;
    const mfr_run_state *run;
    struct run_rec rec;
    const char *path;
    uint64_t h; /* FNV-1a of every byte written so far */
};

static int cw_put(struct ckpt_writer *w, FILE *f, const void *p, size_t n, mfr_error *err)
{
    if (n && fwrite(p, 1, n, f) != n)
        return mfr_seterr(err, MFR_ERR_IO, "cannot write %s: %s", w->path, strerror(errno));
    w->h = mfr_fnv1a(w->h, p, n);
    return MFR_OK;
}

static int cw_section(struct ckpt_writer *w, FILE *f, enum section tag, uint64_t len,
                      mfr_error *err)
{
    unsigned char b[CKPT_SECTION_HEAD];
    mfr_put_le32(b, (uint32_t)tag);
    mfr_put_le32(b + 4, 0);
    mfr_put_le64(b + 8, len);
    return cw_put(w, f, b, sizeof b, err);
}

/* Record 15 (no_train_eval) is written only when it is 1: a file without
 * it reads as 0, so a run without --no-train-eval keeps the bytes it had
 * before the record existed, which the builds of that time resume (they
 * refuse a 15th record) to the same model, as model files write a later
 * tag only when it is not its default. A softmax checkpoint holds it
 * always: the softmax trainer's rounding changed in those builds' time
 * (6bdc873, December 4 2026), so that one of them would resume it into a
 * model that neither build's uninterrupted run gives; refused, it is
 * resumed by a build of this arithmetic. */
static int cw_run(struct ckpt_writer *w, FILE *f, mfr_error *err)
{
    unsigned char b[RUN_BYTES];
    const size_t n = w->rec.no_train_eval || w->p->n_state > 0 ? N_RUN_FIELDS : N_RUN_FIELDS_V1;
    mfr_put_le32(b, (uint32_t)n);
    for (size_t x = 0; x < n; x++) {
        unsigned char *p = b + 4 + 16 * x;
        const char *src = (const char *)&w->rec + run_fields[x].off;
        uint64_t v;
        if (run_fields[x].type == R_F64) {
            double d;
            memcpy(&d, src, sizeof d);
            v = mfr_f64_bits(d);
        } else {
            memcpy(&v, src, sizeof v); /* int64 and uint64 share the bits */
        }
        mfr_put_le32(p, run_fields[x].tag);
        mfr_put_le32(p + 4, 8);
        mfr_put_le64(p + 8, v);
    }
    int rc = cw_section(w, f, SEC_RUN, 4u + 16u * n, err);
    return rc != MFR_OK ? rc : cw_put(w, f, b, 4u + 16u * n, err);
}

/* The test hook of mfr_trainer_save_checkpoint: a slow write, so that a
 * test can kill the process between writing and renaming. */
static void test_slow_write(FILE *f)
{
    const char *ms = getenv("MFREC_TEST_SLOW_CHECKPOINT");
    long v = ms ? strtol(ms, NULL, 10) : 0;
    if (v <= 0) return;
    fflush(f);
    struct timespec ts = {v / 1000, (v % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

/* The softmax optimizer section: its head, then each array's floats. */
static int cw_softmax(struct ckpt_writer *w, FILE *f, mfr_error *err)
{
    const struct mfr_ckpt_parts *p = w->p;
    unsigned char b[4096];
    uint64_t len = SM_STATE_HEAD + 4u * (uint64_t)p->n_state * (uint64_t)p->n_params;
    int rc = cw_section(w, f, SEC_SOFTMAX, len, err);
    mfr_put_le32(b, (uint32_t)p->n_state);
    mfr_put_le32(b + 4, 0);
    mfr_put_le64(b + 8, (uint64_t)p->steps);
    mfr_put_le64(b + 16, (uint64_t)p->n_params);
    if (rc == MFR_OK) rc = cw_put(w, f, b, SM_STATE_HEAD, err);
    for (int32_t a = 0; a < p->n_state && rc == MFR_OK; a++)
        for (int64_t x = 0; x < p->n_params && rc == MFR_OK;) {
            size_t n = 0;
            for (; n < sizeof b / 4 && x < p->n_params; n++, x++)
                mfr_put_le32(b + 4 * n, mfr_f32_bits(p->state[a][x]));
            rc = cw_put(w, f, b, 4 * n, err);
        }
    return rc;
}

static int write_checkpoint(FILE *f, void *ctx, mfr_error *err)
{
    struct ckpt_writer *w = ctx;
    const mfr_run_state *run = w->run;
    const mfr_model *best = run->best_epoch > 0 ? run->best : NULL;
    uint32_t n_sections = 2u + (best != NULL) + (run->log_len > 0) + (w->p->n_state > 0);
    unsigned char b[CKPT_PREAMBLE];
    memcpy(b, MFR_CKPT_MAGIC, MFR_MAGIC_LEN);
    mfr_put_le32(b + 8, CKPT_VERSION);
    mfr_put_le32(b + 12, n_sections);
    int rc = cw_put(w, f, b, sizeof b, err);
    if (rc == MFR_OK) rc = cw_section(w, f, SEC_TRAINER, mfr_model_file_size(w->p->model), err);
    if (rc == MFR_OK) rc = mfr_model_write(w->p->model, f, w->path, &w->h, err);
    if (rc == MFR_OK) rc = cw_run(w, f, err);
    if (rc == MFR_OK && w->p->n_state > 0) rc = cw_softmax(w, f, err);
    if (rc == MFR_OK && best) rc = cw_section(w, f, SEC_BEST, mfr_model_file_size(best), err);
    if (rc == MFR_OK && best) rc = mfr_model_write(best, f, w->path, &w->h, err);
    if (rc == MFR_OK && run->log_len) rc = cw_section(w, f, SEC_LOG, run->log_len, err);
    if (rc == MFR_OK && run->log_len) rc = cw_put(w, f, run->log, run->log_len, err);
    if (rc != MFR_OK) return rc;
    mfr_put_le64(b, w->h);
    if (fwrite(b, 1, 8, f) != 8)
        return mfr_seterr(err, MFR_ERR_IO, "cannot write %s: %s", w->path, strerror(errno));
    test_slow_write(f);
    return MFR_OK;
}

int mfr_ckpt_save(const struct mfr_ckpt_parts *p, const mfr_run_state *run, const char *path,
                  mfr_error *err)
{
    const mfr_model *m = p->model;
    struct ckpt_writer w = {.p = p, .run = run, .path = path, .h = MFR_FNV_INIT};
    /* A step whose loss was not finite was rejected (step.c: no update, no
     * epoch counted), but its loss is the trainer's last. The parameters
     * are the previous epoch's, and a resumed run would take the same step
     * and diverge the same way: check_run blamed "run state loss_total =
     * inf", a record the caller never gave. */
    if (!isfinite(p->loss[0]))
        return mfr_seterr(err, MFR_ERR_STATE,
                          "cannot save %s: the last step (epoch %lld) diverged (training loss %s) and was "
                          "rejected, so there is no valid state to save: a run resumed from it would "
                          "diverge again at that step (the last checkpoint written before it holds the run)",
                          path, (long long)m->epochs + 1, isnan(p->loss[0]) ? "NaN" : "inf");
    w.rec = (struct run_rec){run->epochs, run->early_stop, run->best_epoch, run->log_every,
                             run->checkpoint_every, p->train_nnz, run->best_val, run->elapsed_s,
                             run->train_s, {p->loss[0], p->loss[1], p->loss[2], p->loss[3]},
                             p->train_hash, run->no_train_eval};
    int rc = check_run(&w.rec, path, MFR_ERR_INVALID, err);
    if (rc != MFR_OK) return rc;
    /* what cr_consistent refuses to load */
    char why[300];
    if (!parts_agree(m, run->best, run->best_epoch, p->n_state, p->n_params, p->loss, why, sizeof why))
        return mfr_seterr(err, MFR_ERR_INVALID, "cannot save %s: %s", path, why);
    if ((run->log_len && !run->log) || run->log_len > CKPT_MAX_LOG)
        return mfr_seterr(err, MFR_ERR_INVALID, "cannot save %s: the log is NULL or over 1 GiB",
                          path);
    return mfr_write_atomic(path, write_checkpoint, &w, err);
}

int mfr_ckpt_refuse_broken(const mfr_trainer *tr, const char *path, mfr_error *err)
{
    /* checked first: a non-finite value it left was refused by the model
     * check, which named the value ("U[0][0] = inf") and not the cause, and
     * finite ones would have been written, half a step to resume from */
    if (tr->broken_epoch > 0)
        return mfr_seterr(err, MFR_ERR_STATE,
                          "cannot save %s: the trainer diverged at epoch %lld, whose step left its "
                          "parameters unusable, so there is no valid state to save (the last checkpoint "
                          "written before it holds the run)",
                          path, (long long)tr->broken_epoch);
    return MFR_OK;
}

int mfr_trainer_save_checkpoint(const mfr_trainer *tr, const mfr_run_state *run, const char *path,
                                mfr_error *err)
{
    if (!tr || !run || !path)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_trainer_save_checkpoint: %s is NULL",
                          !tr ? "trainer" : !run ? "run" : "path");
    int rc = mfr_ckpt_refuse_broken(tr, path, err);
    if (rc != MFR_OK) return rc;
    struct mfr_ckpt_parts p = {.model = tr->model, .train_nnz = tr->csr.nnz,
                               .train_hash = train_hash(&tr->csr),
                               .loss = {tr->last.total, tr->last.mse, tr->last.l2,
                                        tr->last.gravity}};
    return mfr_ckpt_save(&p, run, path, err);
}

/* ------------------------------------------------------------------ */
/* Reading                                                              */
/* ------------------------------------------------------------------ */

struct ckpt_reader {
    FILE *f;
    const char *name;
    uint64_t len, pos; /* the file's length and the read position */
    /* a shell (mfr_ckpt_load_shell): user rows left in the file, and
     * whether the checksums are verified */
    bool shell, verify;
    uint64_t sum; /* the stored checksum */
    char sec_name[600]; /* "NAME (trainer model)": model sections' messages */
};

static int cr_read(struct ckpt_reader *r, void *buf, size_t n, mfr_error *err)
{
    if (n > r->len - r->pos)
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s is truncated at byte %llu", r->name,
                          (unsigned long long)r->len);
    if (n && fread(buf, 1, n, r->f) != n)
        return mfr_seterr(err, ferror(r->f) ? MFR_ERR_IO : MFR_ERR_CORRUPT,
                          "cannot read %s: %s", r->name,
                          ferror(r->f) ? strerror(errno) : "it shrank while read");
    r->pos += n;
    return MFR_OK;
}

/* For the checksum-mismatch message: the bytes that n_sections sections
 * and the checksum need, from the heads that lie inside the file (each
 * of a known tag, once, with its reserved field 0); 0 when that is not
 * the shape of a cut-short checkpoint, which a changed byte gives as well:
 * a section count out of range, a bad head, or sections that end just
 * where a whole file's checksum starts (a changed count). */
static uint64_t cr_needed(struct ckpt_reader *r, uint32_t n_sections)
{
    if (n_sections < 2 || n_sections >= SEC_END) return 0;
    uint64_t pos = CKPT_PREAMBLE;
    uint32_t seen = 0;
    for (uint32_t s = 0; s < n_sections && pos <= r->len; s++) {
        if (s > 0 && pos == r->len - 8) return 0; /* the file is whole: its count is wrong */
        unsigned char h[CKPT_SECTION_HEAD];
        uint64_t len = 0;
        if (pos + CKPT_SECTION_HEAD <= r->len) {
            if (fseeko(r->f, (off_t)pos, SEEK_SET) != 0 || fread(h, 1, sizeof h, r->f) != sizeof h)
                return 0;
            const uint32_t tag = mfr_get_le32(h);
            if (tag < 1 || tag >= SEC_END || (seen >> tag & 1u) || mfr_get_le32(h + 4) != 0) return 0;
            seen |= 1u << tag;
            len = mfr_get_le64(h + 8);
        }
        pos += CKPT_SECTION_HEAD;
        pos = len > UINT64_MAX - pos ? UINT64_MAX : pos + len;
    }
    return pos > UINT64_MAX - 8 ? UINT64_MAX : pos + 8;
}

/* MFR_ERR_CORRUPT for a file whose first bytes b[0..n) are not a
 * checkpoint's magic; a model file (a common mix-up with --resume) is
 * named as one. */
static int not_checkpoint(const char *path, const unsigned char *b, size_t n, mfr_error *err)
{
    if (n >= MFR_MAGIC_LEN && memcmp(b, MFR_MODEL_MAGIC, MFR_MAGIC_LEN) == 0)
        return mfr_seterr(err, MFR_ERR_CORRUPT,
                          "%s is a model file, not a checkpoint: a run is resumed from the file "
                          "that train --checkpoint FILE wrote",
                          path);
    return mfr_seterr(err, MFR_ERR_CORRUPT, "%s is not an mfrec checkpoint file", path);
}

/* Magic and version, then the checksum over the whole file; leaves the
 * position after the preamble with *n_sections read. */
static int cr_verify(struct ckpt_reader *r, uint32_t *n_sections, mfr_error *err)
{
    unsigned char b[CKPT_PREAMBLE];
    size_t first = r->len < sizeof b ? (size_t)r->len : sizeof b;
    int rc = cr_read(r, b, first, err);
    if (rc != MFR_OK) return rc;
    if (first < MFR_MAGIC_LEN || memcmp(b, MFR_CKPT_MAGIC, MFR_MAGIC_LEN) != 0)
        return not_checkpoint(r->name, b, first, err);
    if (r->len < CKPT_PREAMBLE + 8)
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s is truncated: %llu bytes", r->name,
                          (unsigned long long)r->len);
    if (mfr_get_le32(b + 8) != CKPT_VERSION)
        return mfr_seterr(err, MFR_ERR_CORRUPT,
                          "%s: unsupported checkpoint format version %u (this build reads %u)",
                          r->name, mfr_get_le32(b + 8), CKPT_VERSION);
    *n_sections = mfr_get_le32(b + 12);
    unsigned char chunk[65536];
    if (r->shell && !r->verify) { /* the stored checksum only: rank 0 verified the file */
        if (fseeko(r->f, (off_t)(r->len - 8), SEEK_SET) != 0)
            return mfr_seterr(err, MFR_ERR_IO, "cannot seek in %s: %s", r->name, strerror(errno));
        r->pos = r->len - 8;
        if ((rc = cr_read(r, chunk, 8, err)) != MFR_OK) return rc;
        r->sum = mfr_get_le64(chunk);
    } else {
        uint64_t h = mfr_fnv1a(MFR_FNV_INIT, b, sizeof b);
        while (r->pos < r->len - 8) {
            uint64_t left = r->len - 8 - r->pos;
            size_t n = left < sizeof chunk ? (size_t)left : sizeof chunk;
            if ((rc = cr_read(r, chunk, n, err)) != MFR_OK) return rc;
            h = mfr_fnv1a(h, chunk, n);
        }
        if ((rc = cr_read(r, chunk, 8, err)) != MFR_OK) return rc;
        r->sum = mfr_get_le64(chunk);
        if (r->sum != h) {
            uint64_t need = cr_needed(r, *n_sections);
            if (need > r->len) /* a cut, or a changed length in the last head read */
                return mfr_seterr(err, MFR_ERR_CORRUPT,
                                  "%s: checksum mismatch: the file is truncated or corrupted (%llu "
                                  "bytes, where its %u section heads need at least %llu)",
                                  r->name, (unsigned long long)r->len, *n_sections,
                                  (unsigned long long)need);
            return mfr_seterr(err, MFR_ERR_CORRUPT, "%s: checksum mismatch: file is corrupted", r->name);
        }
    }
    if (fseeko(r->f, CKPT_PREAMBLE, SEEK_SET) != 0)
        return mfr_seterr(err, MFR_ERR_IO, "cannot seek in %s: %s", r->name, strerror(errno));
    r->pos = CKPT_PREAMBLE;
    return MFR_OK;
}

/* The run records: every known tag exactly once, each 8 bytes. */
static int cr_run(struct ckpt_reader *r, uint64_t len, struct run_rec *out, mfr_error *err)
{
    unsigned char b[CKPT_MAX_RUN];
    if (len > sizeof b || len < 4)
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s: run state of %llu bytes", r->name,
                          (unsigned long long)len);
    int rc = cr_read(r, b, (size_t)len, err);
    if (rc != MFR_OK) return rc;
    uint32_t n = mfr_get_le32(b), seen = 0;
    if (n > N_RUN_FIELDS && len == 4 + 16 * (uint64_t)n) /* the checksum held: a newer writer */
        return mfr_seterr(err, MFR_ERR_CORRUPT,
                          "%s: run state holds %u records, where this build knows %u: the "
                          "checkpoint was written by a newer mfrec, which must resume it",
                          r->name, n, (unsigned)N_RUN_FIELDS);
    if ((n != N_RUN_FIELDS && n != N_RUN_FIELDS_V1) || len != 4 + 16 * (uint64_t)n)
        return mfr_seterr(err, MFR_ERR_CORRUPT,
                          "%s: run state holds %u records in %llu bytes, expected %u in %u", r->name,
                          n, (unsigned long long)len, (unsigned)N_RUN_FIELDS, (unsigned)RUN_BYTES);
    for (uint32_t x = 0; x < n; x++) {
        const unsigned char *p = b + 4 + 16 * (size_t)x;
        uint32_t tag = mfr_get_le32(p);
        if (tag < 1 || tag > n || mfr_get_le32(p + 4) != 8 || (seen >> tag & 1u))
            return mfr_seterr(err, MFR_ERR_CORRUPT,
                              "%s: run state record %u (tag %u, %u bytes) is unknown, repeated or "
                              "malformed", r->name, x, tag, mfr_get_le32(p + 4));
        seen |= 1u << tag;
        const struct run_field *f = &run_fields[tag - 1];
        uint64_t v = mfr_get_le64(p + 8);
        memcpy((char *)out + f->off, &v, sizeof v); /* f64 bits as stored */
    }
    return check_run(out, r->name, MFR_ERR_CORRUPT, err);
}

static int cr_model(struct ckpt_reader *r, mfr_checkpoint *c, enum section tag, uint64_t len, mfr_error *err)
{
    snprintf(r->sec_name, sizeof r->sec_name, "%s (%s)", r->name, section_names[tag]);
    mfr_model **out = tag == SEC_TRAINER ? &c->model : &c->best;
    const int x = tag == SEC_BEST;
    if (c->sh) c->sh->base[x] = r->pos;
    int rc = c->sh ? mfr_model_read_shell(r->f, r->sec_name, len, r->verify, out, c->sh->user_off[x], err)
                   : mfr_model_read(r->f, r->sec_name, len, out, err);
    if (rc == MFR_OK) r->pos += len;
    return rc;
}

/* The softmax optimizer section: a head whose counts match its length,
 * then n_state x n_params finite floats (checked against the model by
 * cr_consistent). */
static int cr_softmax(struct ckpt_reader *r, uint64_t len, mfr_checkpoint *c, mfr_error *err)
{
    unsigned char b[4096];
    if (len < SM_STATE_HEAD)
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s: %s of %llu bytes", r->name,
                          section_names[SEC_SOFTMAX], (unsigned long long)len);
    int rc = cr_read(r, b, SM_STATE_HEAD, err);
    if (rc != MFR_OK) return rc;
    uint32_t n = mfr_get_le32(b);
    uint64_t steps = mfr_get_le64(b + 8), np = mfr_get_le64(b + 16);
    if (n < 1 || n > 2 || mfr_get_le32(b + 4) != 0 || steps > INT64_MAX || np == 0 ||
        np > (len - SM_STATE_HEAD) / 4 / n || len != SM_STATE_HEAD + 4 * n * np)
        return mfr_seterr(err, MFR_ERR_CORRUPT,
                          "%s: %s announces %u arrays of %llu floats in %llu bytes", r->name,
                          section_names[SEC_SOFTMAX], n, (unsigned long long)np,
                          (unsigned long long)len);
    if (!(c->state = mfr_malloc((size_t)(len - SM_STATE_HEAD))))
        return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory reading %s", r->name);
    c->n_state = (int32_t)n, c->steps = (int64_t)steps, c->n_params = (int64_t)np;
    for (uint64_t x = 0, total = n * np; x < total;) {
        size_t k = total - x < sizeof b / 4 ? (size_t)(total - x) : sizeof b / 4;
        if ((rc = cr_read(r, b, 4 * k, err)) != MFR_OK) return rc;
        for (size_t y = 0; y < k; y++, x++) {
            c->state[x] = mfr_bits_f32(mfr_get_le32(b + 4 * y));
            if (!isfinite(c->state[x]))
                return mfr_seterr(err, MFR_ERR_CORRUPT, "%s: %s value %llu is not finite",
                                  r->name, section_names[SEC_SOFTMAX], (unsigned long long)x);
        }
    }
    return MFR_OK;
}

static int cr_section(struct ckpt_reader *r, mfr_checkpoint *c, uint32_t *seen, mfr_error *err)
{
    unsigned char b[CKPT_SECTION_HEAD];
    int rc = cr_read(r, b, sizeof b, err);
    if (rc != MFR_OK) return rc;
    uint32_t tag = mfr_get_le32(b);
    uint64_t len = mfr_get_le64(b + 8);
    if (tag >= SEC_END && mfr_get_le32(b + 4) == 0) /* the checksum held: a newer writer */
        return mfr_seterr(err, MFR_ERR_CORRUPT,
                          "%s: section tag %u at byte %llu is newer than this build reads (1 to "
                          "%d): the checkpoint was written by a newer mfrec, which must resume it",
                          r->name, tag, (unsigned long long)(r->pos - sizeof b), SEC_END - 1);
    if (tag < 1 || tag >= SEC_END || (*seen >> tag & 1u) || mfr_get_le32(b + 4) != 0)
        return mfr_seterr(err, MFR_ERR_CORRUPT,
                          "%s: section tag %u at byte %llu is unknown or repeated", r->name, tag,
                          (unsigned long long)(r->pos - sizeof b));
    *seen |= 1u << tag;
    if (len > r->len - 8 - r->pos)
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s: the %s section of %llu bytes runs past the end",
                          r->name, section_names[tag], (unsigned long long)len);
    switch (tag) {
    case SEC_TRAINER: return cr_model(r, c, SEC_TRAINER, len, err);
    case SEC_BEST: return cr_model(r, c, SEC_BEST, len, err);
    case SEC_RUN: return cr_run(r, len, &c->run, err);
    case SEC_SOFTMAX: return cr_softmax(r, len, c, err);
    default:
        if (len == 0 || len > CKPT_MAX_LOG)
            return mfr_seterr(err, MFR_ERR_CORRUPT, "%s: log section of %llu bytes", r->name,
                              (unsigned long long)len);
        if (!(c->log = mfr_malloc((size_t)len)))
            return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory reading %s", r->name);
        c->log_len = (size_t)len;
        return cr_read(r, c->log, (size_t)len, err);
    }
}

/* The sections must agree with each other (parts_agree). */
static int cr_consistent(const struct ckpt_reader *r, const mfr_checkpoint *c, uint32_t seen,
                         mfr_error *err)
{
    if (!(seen >> SEC_TRAINER & 1u) || !(seen >> SEC_RUN & 1u))
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s: the %s section is missing", r->name,
                          section_names[!(seen >> SEC_TRAINER & 1u) ? SEC_TRAINER : SEC_RUN]);
    if (r->pos != r->len - 8)
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s: %llu bytes after the last section", r->name,
                          (unsigned long long)(r->len - 8 - r->pos));
    char why[300];
    if (!parts_agree(c->model, c->best, c->run.best_epoch, c->n_state, c->n_params, c->run.loss, why, sizeof why))
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s: %s", r->name, why);
    return MFR_OK;
}

static int read_checkpoint(struct ckpt_reader *r, mfr_checkpoint **out, mfr_error *err)
{
    mfr_checkpoint *c = mfr_calloc(1, sizeof *c);
    if (!c || (r->shell && !(c->sh = mfr_calloc(1, sizeof *c->sh)))) {
        free(c);
        return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory reading %s", r->name);
    }
    uint32_t n_sections = 0, seen = 0;
    int rc = cr_verify(r, &n_sections, err);
    if (rc == MFR_OK && n_sections >= SEC_END) /* the checksum held: a newer writer */
        rc = mfr_seterr(err, MFR_ERR_CORRUPT,
                        "%s: %u sections, where this build reads 2 to %d: the checkpoint was "
                        "written by a newer mfrec, which must resume it",
                        r->name, n_sections, SEC_END - 1);
    if (rc == MFR_OK && n_sections < 2)
        rc = mfr_seterr(err, MFR_ERR_CORRUPT, "%s: %u sections, expected 2 to %d", r->name,
                        n_sections, SEC_END - 1);
    for (uint32_t s = 0; s < n_sections && rc == MFR_OK; s++) rc = cr_section(r, c, &seen, err);
    if (rc == MFR_OK) rc = cr_consistent(r, c, seen, err);
    if (rc != MFR_OK) {
        mfr_checkpoint_destroy(c);
        return rc;
    }
    *out = c;
    return MFR_OK;
}

/* Opened non-blocking and checked on the descriptor (mfr_open_regular): a
 * FIFO or device put at path is refused, never waited on, even if it
 * replaced a regular file between a check and the open. */
static int open_checkpoint(const char *path, FILE **f, mfr_error *err)
{
    int fd, rc = mfr_open_regular(path, &fd, err);
    if (rc != MFR_OK) return rc;
    if (!(*f = fdopen(fd, "rb"))) {
        close(fd);
        return mfr_seterr(err, MFR_ERR_NOMEM, "out of memory opening %s", path);
    }
    return MFR_OK;
}

/* Opens r->name, measures it (*st) and reads it into *out; r->f stays open
 * (NULL when it could not be opened) for the caller to close or keep. */
static int load_file(struct ckpt_reader *r, struct stat *st, mfr_checkpoint **out, mfr_error *err)
{
    int rc = open_checkpoint(r->name, &r->f, err);
    if (rc != MFR_OK) return rc;
    if (fstat(fileno(r->f), st) != 0)
        return mfr_seterr(err, MFR_ERR_IO, "cannot stat %s: %s", r->name, strerror(errno));
    r->len = (uint64_t)st->st_size;
    return read_checkpoint(r, out, err);
}

int mfr_checkpoint_load(const char *path, mfr_checkpoint **out, mfr_error *err)
{
    if (!out) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_checkpoint_load: out is NULL");
    *out = NULL;
    if (!path) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_checkpoint_load: path is NULL");
    struct ckpt_reader r = {.name = path};
    struct stat st;
    int rc = load_file(&r, &st, out, err);
    if (r.f) fclose(r.f);
    return rc;
}

int mfr_ckpt_load_shell(const char *path, bool verify, mfr_checkpoint **out, mfr_error *err)
{
    *out = NULL;
    struct ckpt_reader r = {.name = path, .shell = true, .verify = verify};
    struct stat st;
    int rc = load_file(&r, &st, out, err);
    if (rc == MFR_OK && !((*out)->sh->path = mfr_strdup(path)))
        rc = mfr_seterr(err, MFR_ERR_NOMEM, "out of memory reading %s", path);
    if (rc != MFR_OK) {
        mfr_checkpoint_destroy(*out);
        *out = NULL;
        if (r.f) fclose(r.f);
        return rc;
    }
    struct ckpt_shell *sh = (*out)->sh;
    sh->f = r.f;
    sh->id = (struct mfr_ckpt_id){(uint64_t)st.st_size, (uint64_t)st.st_ino, (uint64_t)st.st_mtim.tv_sec,
                                  (uint64_t)st.st_mtim.tv_nsec, r.sum};
    return MFR_OK;
}

bool mfr_ckpt_shell_id(const mfr_checkpoint *c, struct mfr_ckpt_id *id)
{
    if (c && c->sh) *id = c->sh->id;
    return c && c->sh;
}

int64_t mfr_ckpt_rows_read(const mfr_checkpoint *c) { return c && c->sh ? c->sh->rows_read : -1; }

int mfr_ckpt_read_part(const mfr_checkpoint *c, bool best, mfr_model *dst, int32_t user_lo, mfr_error *err)
{
    const mfr_model *src = best ? c->best : c->model;
    int rc = mfr_model_copy_part(dst, src, user_lo, err); /* a shell's item arrays and the rest */
    if (rc != MFR_OK || !c->sh) return rc;
    struct ckpt_shell *sh = c->sh;
    /* the file is still the one loaded (and, under MPI, verified by rank 0):
     * not rewritten in place since (a new file would be another inode, not
     * the descriptor held here) */
    struct stat st;
    if (fstat(fileno(sh->f), &st) != 0)
        return mfr_seterr(err, MFR_ERR_IO, "cannot stat %s: %s", sh->path, strerror(errno));
    if ((uint64_t)st.st_size != sh->id.size || (uint64_t)st.st_mtim.tv_sec != sh->id.mtime_s ||
        (uint64_t)st.st_mtim.tv_nsec != sh->id.mtime_ns)
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s changed while it was read (its size or time)", sh->path);
    char name[600];
    snprintf(name, sizeof name, "%s (%s)", sh->path, section_names[best ? SEC_BEST : SEC_TRAINER]);
    rc = mfr_model_read_user_rows(sh->f, name, sh->base[best], sh->user_off[best], dst, user_lo, err);
    if (rc == MFR_OK && !best) sh->rows_read += dst->n_users;
    return rc;
}

int mfr_checkpoint_load_buffer(const void *data, size_t len, const char *name, mfr_checkpoint **out,
                               mfr_error *err)
{
    if (!out) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_checkpoint_load_buffer: out is NULL");
    *out = NULL;
    if (!name) name = "<buffer>";
    if (!data && len > 0) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_checkpoint_load_buffer: data is NULL");
    if (len == 0) /* an empty file's bytes (fmemopen refuses an empty buffer) */
        return mfr_seterr(err, MFR_ERR_CORRUPT, "%s is not an mfrec checkpoint file", name);
    struct ckpt_reader r = {.name = name, .len = len};
    if (!(r.f = fmemopen((void *)data, len, "rb")))
        return mfr_seterr(err, MFR_ERR_NOMEM, "cannot read %s: %s", name, strerror(errno));
    int rc = read_checkpoint(&r, out, err);
    fclose(r.f);
    return rc;
}

void mfr_checkpoint_destroy(mfr_checkpoint *c)
{
    if (!c) return;
    if (c->sh) {
        if (c->sh->f) fclose(c->sh->f);
        free(c->sh->path);
        free(c->sh);
    }
    mfr_model_destroy(c->model);
    mfr_model_destroy(c->best);
    free(c->log);
    free(c->state);
    free(c);
}

const mfr_model *mfr_checkpoint_model(const mfr_checkpoint *c) { return c ? c->model : NULL; }

void mfr_ckpt_parts_of(const mfr_checkpoint *c, struct mfr_ckpt_parts *out)
{
    const double *l = c->run.loss;
    *out = (struct mfr_ckpt_parts){.model = c->model, .train_nnz = c->run.train_nnz,
                                   .train_hash = c->run.train_hash, .loss = {l[0], l[1], l[2], l[3]},
                                   .n_state = c->n_state, .steps = c->steps,
                                   .n_params = c->n_params};
    for (int32_t a = 0; a < c->n_state; a++) out->state[a] = c->state + (size_t)a * (size_t)c->n_params;
}

int mfr_checkpoint_kind(const char *path, int32_t *kind, mfr_error *err)
{
    if (!path || !kind)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_checkpoint_kind: %s is NULL", !path ? "path" : "kind");
    FILE *f = NULL;
    int rc = open_checkpoint(path, &f, err);
    if (rc != MFR_OK) return rc;
    unsigned char b[CKPT_PREAMBLE];
    int32_t k = MFR_MODEL_KIND_MF;
    size_t got = fread(b, 1, sizeof b, f);
    if (got != sizeof b || memcmp(b, MFR_CKPT_MAGIC, MFR_MAGIC_LEN) != 0) rc = not_checkpoint(path, b, got, err);
    uint32_t n = rc == MFR_OK ? mfr_get_le32(b + 12) : 0;
    for (uint32_t s = 0; s < n && s < SEC_END; s++) {
        if (fread(b, 1, CKPT_SECTION_HEAD, f) != CKPT_SECTION_HEAD) break; /* the load will say */
        if (mfr_get_le32(b) == SEC_SOFTMAX) k = MFR_MODEL_KIND_SOFTMAX;
        uint64_t len = mfr_get_le64(b + 8);
        if (len > INT64_MAX || fseeko(f, (off_t)len, SEEK_CUR) != 0) break;
    }
    fclose(f);
    if (rc == MFR_OK) *kind = k; /* a failure leaves it as it was: 0 is a kind */
    return rc;
}

int mfr_checkpoint_run(const mfr_checkpoint *c, mfr_run_state *out, mfr_error *err)
{
    if (!c || !out)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_checkpoint_run: %s is NULL",
                          !c ? "checkpoint" : "out");
    const struct run_rec *r = &c->run;
    *out = (mfr_run_state){r->epochs, r->early_stop, r->best_epoch, r->best_val, r->log_every,
                           r->checkpoint_every, r->elapsed_s, r->train_s, c->best, c->log,
                           c->log_len, r->no_train_eval};
    return MFR_OK;
}

/* ------------------------------------------------------------------ */
/* Resuming                                                             */
/* ------------------------------------------------------------------ */

void mfr_ckpt_diff_add(struct mfr_ckpt_diffs *d, const char *fmt, ...)
{
    enum { MORE = 24 }; /* room kept for "; and N more" */
    char entry[sizeof d->buf];
    va_list ap;
    va_start(ap, fmt);
    int n = mfr_vformat_c(entry, sizeof entry, fmt, ap);
    va_end(ap);
    const size_t sep = d->len ? 2 : 0;
    if (n >= 0 && d->len + sep + (size_t)n + MORE < sizeof d->buf) {
        if (sep) memcpy(d->buf + d->len, "; ", 2);
        memcpy(d->buf + d->len + sep, entry, (size_t)n + 1);
        d->len += sep + (size_t)n;
    } else {
        d->dropped++;
    }
    d->n++;
    if (d->dropped) /* rewritten after the whole entries at each drop */
        snprintf(d->buf + d->len, sizeof d->buf - d->len, "%sand %d more", d->len ? "; " : "", d->dropped);
}

void mfr_ckpt_diff_switch(struct mfr_ckpt_diffs *d, const char *flag, bool here, bool in_checkpoint)
{
    mfr_ckpt_diff_add(d, "%s%s here, %s%s in the checkpoint", here ? "" : "no ", flag, in_checkpoint ? "" : "no ",
                      flag);
}

/* Every field that changes results and differs between cfg and the
 * checkpoint's ck. kernels may differ: both sets give the same bits. A
 * shard count or reduction given where the checkpoint's is derived from
 * the data (nnz training ratings of ds; nnz < 0: unknown here) is no
 * difference when it is what the run derived; otherwise the message says
 * what that was. */
static void config_diffs(const mfr_config *cfg, const mfr_config *ck, const mfr_dataset *ds, int64_t nnz,
                         struct mfr_ckpt_diffs *d)
{
    const bool shards_given = nnz >= 0 && ck->n_shards == 0 && cfg->n_shards > 0;
    const bool reduce_given = nnz >= 0 && ck->reduce == MFR_REDUCE_AUTO && cfg->reduce != MFR_REDUCE_AUTO;
    if (shards_given || reduce_given) {
        int32_t reduce = MFR_REDUCE_AUTO;
        const int32_t shards = mfr_trainer_plan_shards(ck, ds, nnz, &reduce);
        d->derived_shards = shards_given && cfg->n_shards == shards;
        d->derived_reduce = reduce_given && cfg->reduce == reduce;
        if (shards_given && !d->derived_shards)
            mfr_ckpt_diff_add(d, "--shards is %d, the checkpoint's derived from the data (%d)",
                              (int)cfg->n_shards, (int)shards);
        if (reduce_given && !d->derived_reduce)
            mfr_ckpt_diff_add(d, "--reduce is %s, the checkpoint's auto (%s)",
                              cfg->reduce == MFR_REDUCE_SHARD ? "shard" : "owner",
                              reduce == MFR_REDUCE_SHARD ? "shard" : "owner");
    }
    for (int i = 0; i < mfr_config_field_count(); i++) {
        const mfr_config_field *f = mfr_config_field_at(i);
        if (f->execution_only || !strcmp(f->name, "kernels")) continue;
        if ((shards_given && !strcmp(f->name, "n_shards")) || (reduce_given && !strcmp(f->name, "reduce")))
            continue; /* compared above */
        char a[64], b[64];
        if (mfr_config_format(cfg, f, a, sizeof a, NULL) != MFR_OK ||
            mfr_config_format(ck, f, b, sizeof b, NULL) != MFR_OK || strcmp(a, b) != 0) {
            if (f->type == MFR_CONFIG_FLAG)
                mfr_ckpt_diff_switch(d, f->flag, strcmp(a, "0") != 0, strcmp(b, "0") != 0);
            else
                mfr_ckpt_diff_add(d, "%s is %s, the checkpoint's %s", f->flag, a, b);
        }
    }
}

/* Replaces the new trainer's state with the checkpoint's (a part's: its
 * users' rows). */
static int restore(mfr_trainer *tr, const mfr_checkpoint *c, mfr_error *err)
{
    mfr_model *m = tr->model;
    const mfr_model *src = c->model;
    struct mfr_model_array dst_a[MFR_MODEL_MAX_ARRAYS], src_a[MFR_MODEL_MAX_ARRAYS];
    int n = mfr_model_arrays(m, dst_a);
    if (mfr_model_arrays(src, src_a) != n || m->k_pad != src->k_pad)
        return mfr_seterr(err, MFR_ERR_MISMATCH,
                          "cannot resume: the checkpoint holds %d arrays, this trainer %d",
                          mfr_model_arrays(src, src_a), n);
    MFR_ASSERT(m->n_items == src->n_items && tr->n_users_all == src->n_users); /* same data */
    /* the recorded provenance stays that of the run, and the recorded
     * configuration with its kernels, so the file's bytes do not change */
    int rc = mfr_ckpt_read_part(c, false, m, tr->user_lo, err);
    if (rc != MFR_OK) return rc;
    const double *l = c->run.loss;
    tr->last = (mfr_loss){l[0], l[1], l[2], l[3]};
    return MFR_OK;
}

bool mfr_ckpt_check_data(const mfr_checkpoint *c, const mfr_dataset *ds, const mfr_ratings *train,
                         const char *split_spec, struct mfr_ckpt_diffs *d)
{
    mfr_error e = {0};
    bool data_ok = mfr_model_check_dataset(c->model, ds, &e) == MFR_OK;
    if (!data_ok) mfr_ckpt_diff_add(d, "dataset: %s", e.message);
    /* as written or normalized ("random:.2" is "random:0.2"), as
     * mfr_model_check_split takes them */
    if (!mfr_split_specs_same(split_spec ? split_spec : "", c->model->split_spec))
        mfr_ckpt_diff_add(d, "split is '%s', the checkpoint's '%s'", split_spec ? split_spec : "",
                          c->model->split_spec);
    /* the same canonical split, from files that changed since: the
     * validation part too (early stopping and the log compare with it) */
    else if (c->model->split_pin && train && train->split_pin != c->model->split_pin)
        mfr_ckpt_diff_add(d, "split %s: %s.base or %s.test changed since the checkpoint", c->model->split_spec,
                          c->model->split_spec, c->model->split_spec);
    return data_ok;
}

int mfr_ckpt_resume_begin(const mfr_checkpoint *c, const mfr_config *cfg, const mfr_dataset *ds,
                          const mfr_ratings *train, const char *split_spec, mfr_config *made,
                          struct mfr_ckpt_diffs *d, bool *data_ok, mfr_error *err)
{
    if (c->model->sm)
        return mfr_seterr(err, MFR_ERR_MISMATCH,
                          "the checkpoint is of a softmax run, not matrix factorization: resume it as "
                          "one (mfrec train --resume FILE alone takes the checkpoint's kind)");
    *d = (struct mfr_ckpt_diffs){.n = 0};
    config_diffs(cfg, &c->model->cfg, ds, train ? mfr_ratings_count(train) : -1, d);
    *data_ok = mfr_ckpt_check_data(c, ds, train, split_spec, d);
    /* With a configuration that differs (perhaps one no trainer accepts,
     * such as l2_bias without bias), the trainer that only compares the
     * training ratings is made with the checkpoint's, so that every
     * difference is still named. */
    *made = *cfg;
    if (d->n) {
        *made = c->model->cfg;
        mfr_config_copy_execution(made, cfg);
    }
    if (d->derived_shards) made->n_shards = 0; /* derived as the run's was */
    if (d->derived_reduce) made->reduce = MFR_REDUCE_AUTO;
    return MFR_OK;
}

int mfr_ckpt_resume_end(mfr_trainer *tr, const mfr_checkpoint *c, struct mfr_ckpt_diffs *d, uint64_t train_hash,
                        mfr_error *err)
{

    if (tr && (tr->nnz_all != c->run.train_nnz || train_hash != c->run.train_hash))
        mfr_ckpt_diff_add(d, tr->nnz_all == c->run.train_nnz
                                 ? "the training ratings differ (other ratings, as many: %lld)"
                                 : "the training ratings differ (%lld ratings, the checkpoint's %lld)",
                          (long long)tr->nnz_all, (long long)c->run.train_nnz);
    if (d->n) return mfr_seterr(err, MFR_ERR_MISMATCH, "the run differs from the checkpoint's: %s", d->buf);
    return restore(tr, c, err);
}

int mfr_trainer_resume(const mfr_checkpoint *c, const mfr_config *cfg, const mfr_dataset *ds,
                       const mfr_ratings *train, const char *split_spec, mfr_trainer **out,
                       mfr_error *err)
{
    if (!out) return mfr_seterr(err, MFR_ERR_INVALID, "mfr_trainer_resume: out is NULL");
    *out = NULL;
    if (!c || !cfg || !ds || !train)
        return mfr_seterr(err, MFR_ERR_INVALID, "mfr_trainer_resume: %s is NULL",
                          !c ? "checkpoint" : !cfg ? "cfg" : !ds ? "dataset" : "ratings");
    struct mfr_ckpt_diffs d;
    mfr_config made;
    bool data_ok;
    int rc = mfr_ckpt_resume_begin(c, cfg, ds, train, split_spec, &made, &d, &data_ok, err);
    if (rc != MFR_OK) return rc;
    mfr_trainer *tr = NULL;
    if (data_ok && (rc = mfr_trainer_create(&made, ds, train, split_spec, &tr, err)) != MFR_OK)
        return rc;
    if ((rc = mfr_ckpt_resume_end(tr, c, &d, tr ? train_hash(&tr->csr) : 0, err)) != MFR_OK) {
        mfr_trainer_destroy(tr);
        return rc;
    }
    *out = tr;
    return MFR_OK;
}
