#!/bin/bash
# tests/mpi/without-mpi.sh — a build without MPI launched by mpirun
# (docs/MPI.md): with more than one rank (Open MPI's OMPI_COMM_WORLD_SIZE,
# set here as mpirun sets it) `mfrec train` must refuse, naming the build
# option, and write nothing, instead of every rank training the whole model
# alone and writing the same outputs; one rank trains as one process.
# usage: MFREC_BIN=path/to/mfrec without-mpi.sh
set -u
M=${MFREC_BIN:?set MFREC_BIN}
T=$(mktemp -d "${TMPDIR:-/tmp}/mfrec-nompi.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
fail=0
bad() { echo "FAIL: $*"; fail=1; }
"$M" synth --users 40 --items 30 --ratings 600 --seed 3 --out "$T/data" >/dev/null || exit 1
run=(train --data "$T/data" --epochs 2 --quiet)
if OMPI_COMM_WORLD_SIZE=2 OMPI_COMM_WORLD_RANK=1 "$M" "${run[@]}" --out "$T/two.bin" >"$T/log" 2>&1; then
    bad "2 ranks of a build without MPI: trained; it must refuse"
elif ! grep -q -- "-Dmpi=enabled" "$T/log"; then bad "2 ranks without MPI: no message naming -Dmpi=enabled: $(cat "$T/log")"
elif [ -e "$T/two.bin" ]; then bad "2 ranks without MPI: refused but wrote the model"
else echo "ok: a build without MPI refuses 2 mpirun ranks: $(grep -o 'built without MPI[^:]*' "$T/log" | head -1)"; fi
"$M" "${run[@]}" --out "$T/one.bin" >/dev/null || bad "one process"
if ! OMPI_COMM_WORLD_SIZE=1 OMPI_COMM_WORLD_RANK=0 "$M" "${run[@]}" --out "$T/np1.bin" >"$T/log" 2>&1; then
    bad "1 rank of a build without MPI failed: $(cat "$T/log")"
elif cmp -s "$T/one.bin" "$T/np1.bin"; then echo "ok: 1 rank of a build without MPI trains as one process"
else bad "1 rank of a build without MPI: another model than one process's"; fi
exit $fail
