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
# rank 0 says why; rank 1 refuses silently (one message per job)
if OMPI_COMM_WORLD_SIZE=2 OMPI_COMM_WORLD_RANK=0 "$M" "${run[@]}" --out "$T/two.bin" >"$T/log" 2>&1; then
    bad "2 ranks of a build without MPI: trained; it must refuse"
elif ! grep -q -- "-Dmpi=enabled" "$T/log"; then bad "2 ranks without MPI: no message naming -Dmpi=enabled: $(cat "$T/log")"
elif [ -e "$T/two.bin" ]; then bad "2 ranks without MPI: refused but wrote the model"
else echo "ok: a build without MPI refuses 2 mpirun ranks: $(grep -o 'built without MPI[^:]*' "$T/log" | head -1)"; fi
if OMPI_COMM_WORLD_SIZE=2 OMPI_COMM_WORLD_RANK=1 "$M" "${run[@]}" --out "$T/two.bin" >"$T/log" 2>&1; then
    bad "rank 1 of 2 without MPI: trained; it must refuse"
elif [ -s "$T/log" ] || [ -e "$T/two.bin" ]; then bad "rank 1 of 2 without MPI: printed ($(cat "$T/log")) or wrote"
else echo "ok: rank 1 of 2 refuses silently"; fi
# The help, the version and usage errors: rank 0 alone prints them.
for c in "--help" "--version" "" "bogus" "stats --help" "stats --bogus"; do
    OMPI_COMM_WORLD_SIZE=2 OMPI_COMM_WORLD_RANK=1 "$M" $c >"$T/log" 2>&1; st1=$?
    OMPI_COMM_WORLD_SIZE=2 OMPI_COMM_WORLD_RANK=0 "$M" $c >"$T/log0" 2>&1; st0=$?
    if [ -s "$T/log" ] || [ $st1 -ne $st0 ] || [ ! -s "$T/log0" ]; then
        bad "mfrec $c as rank 1 of 2: status $st1 (rank 0: $st0), printed '$(head -c 100 "$T/log")'; rank 0 printed $(wc -c <"$T/log0") bytes"
    else echo "ok: mfrec $c: rank 0 alone prints (status $st0)"; fi
done
# Other launchers: MPICH's and Intel MPI's Hydra (PMI_SIZE, PMI_RANK) as
# mpirun; a PMIx launcher (srun --mpi=pmix, prterun) gives PMIX_RANK
# without a count, so a rank past 0 says why itself and rank 0 trains.
if PMI_SIZE=2 PMI_RANK=0 "$M" "${run[@]}" --out "$T/hy.bin" >"$T/log" 2>&1 || [ -e "$T/hy.bin" ] ||
    ! grep -q -- "with 2 ranks.*-Dmpi=enabled" "$T/log"; then
    bad "Hydra's 2 ranks (PMI_SIZE) without MPI: not refused as mpirun's: $(cat "$T/log")"
else echo "ok: a build without MPI refuses Hydra's 2 ranks (PMI_SIZE)"; fi
if PMI_SIZE=2 PMI_RANK=1 "$M" "${run[@]}" --out "$T/hy.bin" >"$T/log" 2>&1 || [ -s "$T/log" ]; then
    bad "Hydra's rank 1 of 2 without MPI: trained or printed: $(cat "$T/log")"
else echo "ok: Hydra's rank 1 of 2 refuses silently"; fi
if PMIX_RANK=1 "$M" "${run[@]}" --out "$T/px.bin" >"$T/log" 2>&1 || [ -e "$T/px.bin" ] ||
    ! grep -q -- "rank 1 of a parallel job whose launcher gives no rank count.*-Dmpi=enabled" "$T/log"; then
    bad "PMIx's rank 1 without MPI: not refused with its reason: $(cat "$T/log")"
else echo "ok: a build without MPI refuses PMIx's rank 1, saying why"; fi
if PMIX_RANK=1 "$M" stats --data "$T/data" >"$T/log" 2>&1; [ $? -ne 2 ] || ! grep -q "rank 1 of a parallel job" "$T/log"; then
    bad "stats as PMIx's rank 1: not refused (exit 2) saying why: $(cat "$T/log")"
else echo "ok: stats as PMIx's rank 1 is refused"; fi
PMIX_RANK=0 "$M" "${run[@]}" --out "$T/px0.bin" >/dev/null 2>&1 || bad "PMIx's rank 0 (its count unknown) did not train"
# Hydra's rank without its count names no variable it did not see; an
# empty count is no launch
if PMI_RANK=1 "$M" "${run[@]}" --out "$T/hr.bin" >"$T/log" 2>&1 || grep -q PMIX "$T/log"; then
    bad "PMI_RANK=1 alone: trained, or named PMIX_RANK: $(cat "$T/log")"
else echo "ok: PMI_RANK=1 without PMI_SIZE refuses"; fi
OMPI_COMM_WORLD_SIZE= OMPI_COMM_WORLD_RANK= "$M" "${run[@]}" --out "$T/em.bin" >"$T/log" 2>&1 ||
    bad "empty OMPI_COMM_WORLD_SIZE: refused as a launch: $(cat "$T/log")"
"$M" "${run[@]}" --out "$T/one.bin" >/dev/null || bad "one process"
if ! OMPI_COMM_WORLD_SIZE=1 OMPI_COMM_WORLD_RANK=0 "$M" "${run[@]}" --out "$T/np1.bin" >"$T/log" 2>&1; then
    bad "1 rank of a build without MPI failed: $(cat "$T/log")"
elif cmp -s "$T/one.bin" "$T/np1.bin"; then echo "ok: 1 rank of a build without MPI trains as one process"
else bad "1 rank of a build without MPI: another model than one process's"; fi
exit $fail
