/*
 * build_commit.c — mfr_build_commit(): which source the library was built
 * from, for benchmark and sweep records that must tell two builds apart.
 * The header is made again at every build (vcs_tag), so this file alone is
 * recompiled when the commit changes.
 */
#include "mfrec.h"
#include "mfrec_build_commit.h"

const char *mfr_build_commit(void) { return MFR_BUILD_COMMIT; }
