# tests/mpi/common.sh — what the MPI test scripts share, sourced as
#   . "$(dirname "$0")/common.sh" MPI_BUILT(true|false) NAME
# Skips (exit 77, meson: skipped) without an MPI build or without mpirun;
# sets M (mfrec), T (a scratch directory removed on exit), MPIRUN (mpirun
# with --oversubscribe, and --allow-run-as-root as root), fail and bad().
set -u
M=${MFREC_BIN:?set MFREC_BIN}
if [ "${1:-false}" != true ]; then
    echo "SKIP: mfrec was built without MPI (meson setup -Dmpi=enabled, or tools/setup --mpi)"
    exit 77
fi
if ! command -v mpirun >/dev/null; then
    echo "SKIP: mpirun not found (tools/setup --mpi installs openmpi-bin)"
    exit 77
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/mfrec-$2.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
MPIRUN=(mpirun --oversubscribe)
[ "$(id -u)" -eq 0 ] && MPIRUN+=(--allow-run-as-root)
fail=0
bad() { echo "FAIL: $*"; fail=1; }
