#!/bin/bash
# tests/mpi/run.sh — `mpirun -np P mfrec train` against one process
# (docs/MPI.md): the model files must be byte-identical for P = 1..4 and
# several thread counts per rank (with biases, regularizers, both optimizers); unsupported options are refused; a rank
# killed mid-run ends the job with an error in bounded time.
# usage: MFREC_BIN=path/to/mfrec run.sh MPI_BUILT(true|false)
# Exit 77 (meson: skipped) without an MPI build or without mpirun.
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
T=$(mktemp -d "${TMPDIR:-/tmp}/mfrec-mpi.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
MPIRUN=(mpirun --oversubscribe)
[ "$(id -u)" -eq 0 ] && MPIRUN+=(--allow-run-as-root)
fail=0
bad() { echo "FAIL: $*"; fail=1; }

"$M" synth --users 200 --items 120 --ratings 8000 --rank 4 --seed 5 --out "$T/data" >/dev/null || exit 1
# 7 shards: ranks get uneven shard counts (P=4: 1, 2, 2, 2).
base=(train --data "$T/data" --reduce shard --shards 7 --epochs 6 --lr 0.01 --quiet)

# threads per rank for P = 1..4 (the single-process run uses 1)
threads=(0 2 1 2 1)
for cfg in "adam" "adam --bias" "sgd --bias" "adam --bias --l2 0.05 --l2-bias 0.02 --gravity 0.01 --gravity-bias 0.01" "sgd --l2-freq 0.05"; do
    set -- $cfg
    opt=(--optimizer "$1" "${@:2}")
    [ "$1" = sgd ] && opt+=(--lr 0.05)
    tag=$(echo "$cfg" | tr -c "a-z0-9\n" _)
    ref="$T/ref-$tag.bin"
    "$M" "${base[@]}" "${opt[@]}" --threads 1 --out "$ref" >/dev/null || { bad "single-process run ($cfg)"; continue; }
    for p in 1 2 3 4; do
        out="$T/p$p-$tag.bin"
        if ! timeout 120 "${MPIRUN[@]}" -np $p "$M" "${base[@]}" "${opt[@]}" --threads ${threads[$p]} \
            --out "$out" >"$T/log" 2>&1; then
            bad "mpirun -np $p ($cfg) failed:"; tail -5 "$T/log"; continue
        fi
        if cmp -s "$ref" "$out"; then echo "ok: -np $p ($cfg, ${threads[$p]} threads/rank): same model bytes"
        else bad "-np $p ($cfg): model differs from the single-process run"; fi
    done
done

# The log: every epoch's losses and MSEs (reduced in shard order) as in one
# process; only the elapsed seconds may differ.
"$M" "${base[@]}" --bias --l2 0.05 --log-every 1 --log-json "$T/one.json" >/dev/null
timeout 120 "${MPIRUN[@]}" -np 3 "$M" "${base[@]}" --bias --l2 0.05 --log-every 1 --log-json "$T/three.json" \
    >"$T/log" 2>&1 || { bad "mpirun -np 3 --log-json failed"; tail -5 "$T/log"; }
strip() { grep '"epoch"' "$1" | sed 's/,"elapsed_s":[^}]*//'; }
if [ "$(strip "$T/one.json" | wc -l)" -ne 6 ]; then bad "--log-json: expected 6 epoch lines"
elif [ "$(strip "$T/one.json")" = "$(strip "$T/three.json")" ]; then echo "ok: -np 3 logs the same losses"
else bad "-np 3: --log-json epochs differ from one process"; fi

# Refused, with a message and nothing written.
check_refused() {
    local want=$1; shift
    rm -f "$T/no.bin"
    if timeout 60 "${MPIRUN[@]}" -np 2 "$M" "${base[@]}" "$@" --out "$T/no.bin" >"$T/log" 2>&1; then
        bad "mpirun with $* succeeded; it must be refused"
    elif ! grep -q -- "$want" "$T/log"; then
        bad "mpirun with $*: no message '$want'"; tail -5 "$T/log"
    elif [ -e "$T/no.bin" ]; then
        bad "mpirun with $*: refused but wrote the model"
    else echo "ok: $* refused ($want)"; fi
}
check_refused "does not support implicit feedback" --implicit 0.1
check_refused "pass --reduce shard" --reduce owner
check_refused "run at most 1 ranks" --shards 1
check_refused "--checkpoint is not supported under mpirun" --checkpoint "$T/ck"
check_refused "--target-rmse is not supported under mpirun" --target-rmse 0.5
check_refused "does not support alternating least squares" --optimizer als --l2 0.1
check_refused "--kind softmax is not supported under mpirun" --kind softmax

# A rank killed mid-run: mpirun must end the job with an error well before
# the 60 s timeout (124 would mean a hang).
timeout 60 "${MPIRUN[@]}" -np 2 "$M" "${base[@]}" --epochs 100000000 >"$T/log" 2>&1 &
tpid=$!
ranks=
for _ in $(seq 50); do
    sleep 0.2
    launcher=$(pgrep -P $tpid | head -1)
    [ -n "$launcher" ] && ranks=$(pgrep -P "$launcher")
    [ "$(echo "$ranks" | wc -w)" -ge 2 ] && break
done
if [ "$(echo "$ranks" | wc -w)" -lt 2 ]; then
    bad "the two ranks did not start"; kill $tpid 2>/dev/null
else
    sleep 1
    victim=$(echo "$ranks" | tail -1)
    t0=$(date +%s)
    kill -9 "$victim"
    wait $tpid
    rc=$?
    dt=$(( $(date +%s) - t0 ))
    if [ $rc -eq 0 ] || [ $rc -eq 124 ]; then bad "killed rank: mpirun exit status $rc after ${dt}s (want an error, no hang)"
    else echo "ok: a killed rank ended the job with status $rc in ${dt}s"; fi
fi

exit $fail
