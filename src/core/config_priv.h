/*
 * config_priv.h — the private half of the configuration table in config.c:
 * where each field lives in mfr_config and its model-file tag, for the
 * model reader and writer (model_io.c). The public half is
 * mfr_config_field in mfrec.h.
 */
#ifndef MFR_CONFIG_PRIV_H
#define MFR_CONFIG_PRIV_H

#include "common_priv.h"

/* How mfr_config_validate checks a field. The messages are part of the
 * API (tests and users match them), so each rule has one fixed wording. */
enum mfr_config_check {
    MFR_CHECK_NONE,     /* every value is valid (seed, max_memory) */
    MFR_CHECK_RANGE,    /* int32 in vmin..vmax */
    MFR_CHECK_POSITIVE, /* finite and > 0 */
    MFR_CHECK_NONNEG,   /* finite and >= 0 */
    MFR_CHECK_UNIT,     /* in [0, 1) */
    MFR_CHECK_ENUM,     /* an index of value_names */
    MFR_CHECK_FLAG,     /* 0 or 1 */
};

/*
 * One row of the table. `field` comes first so that the public descriptor
 * handed out by mfr_config_field_at converts back to its row.
 */
struct mfr_config_row {
    mfr_config_field field;
    size_t offset; /* offsetof(mfr_config, member) */
    size_t size;   /* sizeof the member, checked against field.type */
    /* Model-file tag: never reused, and written in increasing order; 0 for
     * execution-only fields, which files never hold. */
    uint32_t tag;
    enum mfr_config_check check;
    int32_t vmin, vmax; /* MFR_CHECK_RANGE */
    /* The default; every default is an integer below 2^53 or a double, so
     * one double holds each exactly. */
    double def;
};

/* The row of model-file tag `tag`, or NULL for a tag this build does not
 * know (0 included). */
const struct mfr_config_row *mfr_config_row_by_tag(uint32_t tag);
/* One past the largest tag in the table; tags 1..end-1 all have a row. */
uint32_t mfr_config_tag_end(void);

/* The member of a row, typed; MFR_ASSERT on a row of another type. */
int32_t *mfr_config_i32(mfr_config *cfg, const struct mfr_config_row *row);
uint64_t *mfr_config_u64(mfr_config *cfg, const struct mfr_config_row *row);
double *mfr_config_f64(mfr_config *cfg, const struct mfr_config_row *row);

/* Copies src's execution-only fields (those that never change results:
 * threads, the memory budget) into dst, leaving the others as they are. */
void mfr_config_copy_execution(mfr_config *dst, const mfr_config *src);

#endif
