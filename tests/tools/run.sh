#!/bin/bash
# run.sh — the user-facing scripts in tools/: their usage errors, exit
# statuses and failed steps, on a tiny synthetic dataset (a few seconds).
# Usage: run.sh SOURCE_ROOT   (MFREC_BIN: the mfrec binary)
# shellcheck disable=SC2016 # single-quoted awk programs and eval strings
set -u
TOP=$1
MFREC=${MFREC_BIN:?set MFREC_BIN}
# shellcheck source=tests/checks.sh
. "$(dirname "$0")/../checks.sh"
# a command whose reader stops before its first line (| true); its status
early_reader() { "$@" | true; return "${PIPESTATUS[0]}"; }
# a command started with its standard output closed (>&-)
closed_stdout() { "$@" >&-; }
status() { # EXPECTED_STATUS, then a command: its status is EXPECTED_STATUS
    local want=$1 rc
    shift
    "$@" >"$W/out" 2>&1
    rc=$?
    [ "$rc" -eq "$want" ] || { echo "  exit status $rc, expected $want:"; sed 's/^/  | /' "$W/out"; return 1; }
}
# a tiny dataset with a planted model, in a directory whose name has a space
D="$W/da ta"
"$MFREC" synth --users 120 --items 90 --ratings 3000 --rank 3 --seed 5 --out "$D" >/dev/null ||
    { echo "FAIL: mfrec synth"; exit 1; }

# --- tools/time-to-accuracy
if command -v gnuplot >/dev/null 2>&1; then
    tta() { MFREC=$MFREC DATA=$D THREADS=1 EPOCHS=10 sh "$TOP/tools/time-to-accuracy" "$@"; }
    O="$W/tt a"
    check "time-to-accuracy: a run succeeds" status 0 tta "$O"
    check "time-to-accuracy: .dat has two numeric columns" \
        awk 'NF != 2 || $1 !~ /^[0-9.e+-]+$/ || $2 !~ /^[0-9.e+-]+$/ { bad = 1 } END { exit bad || NR < 2 }' \
        "$O/time_to_accuracy.dat"
    cp "$O/time_to_accuracy.dat" "$W/dat.before"
    check "time-to-accuracy: an OUT_DIR with a double quote draws the charts" status 0 tta "$W/q\"o"
    check "time-to-accuracy: ... both of them" test -s "$W/q\"o/time_to_accuracy.png" -a -s "$W/q\"o/time_to_accuracy.svg"
    check "time-to-accuracy: a failed train is exit 1" status 1 tta "$O" -- --out "$W/none/x.mfr"
    check "time-to-accuracy: ... and leaves the earlier results" cmp -s "$W/dat.before" "$O/time_to_accuracy.dat"
    # a train flag, THREADS or EPOCHS that train refuses failed the run, exit
    # 1, after the 10M-rating set was made (minutes): exit 2 before it
    tta_new() { env MFREC="$MFREC" DATA="$W/tta none" THREADS=1 EPOCHS=10 "$@" sh "$TOP/tools/time-to-accuracy" "$W/tta out" -- --dim 4; }
    check "time-to-accuracy: an unknown train flag is exit 2" status 2 tta "$O" -- --no-such-flag
    check "time-to-accuracy: ... named" grep -q "^time-to-accuracy: mfrec train: unknown option --no-such-flag" "$W/out"
    check "time-to-accuracy: ... and leaves the earlier results" cmp -s "$W/dat.before" "$O/time_to_accuracy.dat"
    # --init-from: the run gives no --init-std of its own, which train refuses beside it (exit 2)
    if ! { "$MFREC" train --data "$D" --split random:0.1 --bias --dim 32 --epochs 2 --quiet --out "$W/tta-init.mfr" &&
        "$MFREC" export --model "$W/tta-init.mfr" --out "$W/tta init" --as npy; } >/dev/null; then
        echo "FAIL: the --init-from arrays"
        fail=1
    fi
    check "time-to-accuracy: --init-from runs (no --init-std of its own)" \
        status 0 tta "$W/tta-if" -- --init-from "$W/tta init/U.npy,$W/tta init/V.npy"
    check "time-to-accuracy: ... and logs its epochs" test -s "$W/tta-if/time_to_accuracy.dat"
    check "time-to-accuracy: so does --init-from=U,V" \
        status 0 tta "$W/tta-if" -- "--init-from=$W/tta init/U.npy,$W/tta init/V.npy"
    check "time-to-accuracy: --init-std and --init-from of the user's are still exit 2" \
        status 2 tta "$O" -- --init-std 0.2 --init-from "$W/tta init/U.npy,$W/tta init/V.npy"
    check "time-to-accuracy: ... train's own message" grep -q "^time-to-accuracy: mfrec train: --init-std draws" "$W/out"
    for knob in THREADS=0 EPOCHS=abc; do
        check "time-to-accuracy: $knob is exit 2" status 2 tta_new "$knob"
        check "time-to-accuracy: ... before the data or OUT_DIR is made" test ! -e "$W/tta none" -a ! -e "$W/tta out"
    done
    check "time-to-accuracy: an unknown option is exit 2" status 2 tta --no-such-flag
    check "time-to-accuracy: flags without -- are exit 2" status 2 tta "$O" --epochs 3
    # '-- FLAGS' without OUT_DIR: the default OUT_DIR, not a directory named '--'
    check "time-to-accuracy: -- first takes the default OUT_DIR" \
        status 1 env MFREC=/nonexistent sh "$TOP/tools/time-to-accuracy" -- --epochs 3
    check "time-to-accuracy: ... (a missing binary is named)" grep -q "/nonexistent not found" "$W/out"
    # --- tools/tta-vs-libmf: an OUT with a space (it split gnuplot's
    # "< awk ... FILE" command: exit 1 and an empty OUT.png left behind)
    "$MFREC" train --data "$D" --split random:0.1 --epochs 3 --log-every 1 --no-train-eval \
        --log-json "$W/r 1.jsonl" >/dev/null
    printf '0.5 0 0.9 0.95 1\n1.0 1 0.8 0.85 1\n' >"$W/lib 1.txt"
    mkdir -p "$W/tt b"
    check "tta-vs-libmf: an OUT with a space and quotes succeeds" \
        status 0 sh "$TOP/tools/tta-vs-libmf" "$W/tt b/c'm\"p" "$W/r 1.jsonl" -- "$W/lib 1.txt"
    check "tta-vs-libmf: ... its CSV has the 3 + 2 records" test "$(wc -l <"$W/tt b/c'm\"p.csv")" -eq 6
    check "tta-vs-libmf: ... and both charts" test -s "$W/tt b/c'm\"p.png" -a -s "$W/tt b/c'm\"p.svg"
    check "tta-vs-libmf: a missing input is exit 1" status 1 sh "$TOP/tools/tta-vs-libmf" "$W/tt b/x" "$W/none.jsonl"
    check "tta-vs-libmf: a file with no record is exit 1" status 1 sh "$TOP/tools/tta-vs-libmf" "$W/tt b/x" "$W/lib 1.txt"
    check "tta-vs-libmf: ... and named" grep -q "lib 1.txt holds no mfrec record" "$W/out"
    check "tta-vs-libmf: ... and nothing is written" test ! -e "$W/tt b/x.csv" -a ! -e "$W/tt b/x.png"
    check "tta-vs-libmf: no input is exit 2" status 2 sh "$TOP/tools/tta-vs-libmf" "$W/tt b/x"
else
    echo "skip: time-to-accuracy (no gnuplot)"
fi
# tools/tta-vs-libmf without arguments: a usage error naming the tool
# (${1:?} was "line N: 1: usage ...": exit 1 under bash, 2 under dash)
check "tta-vs-libmf: no arguments is exit 2" status 2 sh "$TOP/tools/tta-vs-libmf"
check "tta-vs-libmf: ... named" grep -q "^tta-vs-libmf: OUT is required" "$W/out"
check "tta-vs-libmf: ... under bash too" status 2 bash "$TOP/tools/tta-vs-libmf"

# --- tools/reference: --help does nothing else; a bad train flag stops it
# after the build, before the data is fetched. A copy of the script in a
# tree whose setup and meson are stubs and whose build holds this mfrec.
R="$W/ref tree"
mkdir -p "$R/tools" "$R/build/tools" "$W/stub"
cp "$TOP/tools/reference" "$R/tools/"
printf '#!/bin/sh\nexit 0\n' >"$R/tools/setup"
printf '#!/bin/sh\nexit 0\n' >"$W/stub/meson"
printf '#!/bin/sh\necho FETCHED >"$(dirname "$0")/../fetched"; exit 1\n' >"$R/tools/fetch-movielens"
chmod +x "$R/tools/reference" "$R/tools/setup" "$W/stub/meson" "$R/tools/fetch-movielens"
ln -s "$MFREC" "$R/build/tools/mfrec"
ref() { env -u MFREC_DATA PATH="$W/stub:$PATH" "$R/tools/reference" "$@"; }
check "reference: --help is exit 0" status 0 ref --threads 1 --help
check "reference: ... prints the script's description" grep -q "^The main job" "$W/out"
check "reference: ... and builds nothing" test ! -e "$R/fetched" -a ! -e "$R/results"
check "reference: an unknown train flag is exit 2" status 2 ref --threads 1 --no-such-flag
check "reference: ... named by mfrec train" grep -q "^tools/reference: mfrec train: unknown option --no-such-flag" "$W/out"
check "reference: ... before the data is fetched or results/ made" test ! -e "$R/fetched" -a ! -e "$R/results"
check "reference: a bad value is exit 2" status 2 ref --dim 0
# with the run's own flags: --plot draws the training MSE that --no-train-eval leaves out
check "reference: a flag at odds with the script's own is exit 2" status 2 ref --no-train-eval
check "reference: ... named by mfrec train" grep -q "^tools/reference: mfrec train: --plot draws the training MSE" "$W/out"
check "reference: ... before the data is fetched or results/ made" test ! -e "$R/fetched" -a ! -e "$R/results"
# the flags the script sets itself: mfrec takes the last one given, and the
# evaluation read the script's (an earlier run's model, exit 0)
for f in --out=my.model "--split u1" "--data d" "--log-json l.jsonl" "--plot p"; do
    # shellcheck disable=SC2086 # a flag and its value
    check "reference: its own ${f%% *} is exit 2" status 2 ref --threads 1 $f
    f=${f%% *}
    check "reference: ... named" grep -q "^tools/reference: ${f%%=*} is the script's own" "$W/out"
    check "reference: ... before the data is fetched or results/ made" test ! -e "$R/fetched" -a ! -e "$R/results"
done
check "reference: valid flags go on (no download: the synthetic fallback)" status 0 ref --threads 1 --epochs 2
check "reference: ... (the fetch ran)" test -e "$R/fetched"
# a data/ml-100k that fetch-movielens refuses (a damaged file) is no
# "could not be downloaded": it trained on synthetic data, exit 0
rm -rf "$R/results" && mkdir -p "$R/data/ml-100k"
check "reference: a data/ml-100k that fetch-movielens refuses is exit 1" status 1 ref --threads 1 --epochs 2
check "reference: ... named" grep -q "^tools/reference: $R/data/ml-100k is not a usable copy of MovieLens 100K" "$W/out"
check "reference: ... and nothing trained on synthetic data" eval '! grep -q SYNTHETIC "$W/out" && test ! -e "$R/results"'
rmdir "$R/data/ml-100k"

# --- tools/perf-report: a missing binary or data stops it before anything runs
check "perf-report: a missing binary is exit 1" status 1 env MFREC=/nonexistent bash "$TOP/tools/perf-report"
check "perf-report: ... and named" grep -q "/nonexistent not found" "$W/out"
check "perf-report: missing data is exit 1" \
    status 1 env MFREC="$MFREC" MFREC_BENCH="$MFREC" MFREC_DATA="$W/none" bash "$TOP/tools/perf-report"
check "perf-report: ... and named" grep -q "no MovieLens 100K in $W/none" "$W/out"
# relative paths in the environment are the caller's (the script cds to
# the tree: a MFREC_DATA=ml-100k that was there read as the tree's)
pr_here() { (cd "$W" && env "$@" bash "$TOP/tools/perf-report"); }
check "perf-report: a relative MFREC is the caller's" status 1 pr_here MFREC=no-mfrec
check "perf-report: ... and named by its full path" grep -q "^perf-report: $W/no-mfrec not found" "$W/out"
check "perf-report: a relative MFREC_DATA is the caller's" \
    status 1 pr_here MFREC="$MFREC" MFREC_BENCH="$MFREC" MFREC_DATA=none
check "perf-report: ... and named by its full path" grep -q "no MovieLens 100K in $W/none " "$W/out"
# a failed step is exit 1 whatever it returned (it exited with the step's
# status: a 2 read as perf-report's usage error). A copy of the script in a
# tree whose first step, bench-reference, exits 2.
PT="$W/pr tree"
mkdir -p "$PT/tools"
cp "$TOP/tools/perf-report" "$PT/tools/"
printf '#!/bin/sh\nexit 2\n' >"$PT/tools/bench-reference"
chmod +x "$PT/tools/bench-reference"
check "perf-report: a failed step is exit 1, whatever its status" \
    status 1 env MFREC="$MFREC" MFREC_BENCH="$MFREC" MFREC_DATA="$D" bash "$PT/tools/perf-report"
check "perf-report: ... and said" grep -q "^perf-report: FAILED at line [0-9]*; docs/perf is incomplete" "$W/out"

# --- tools/bench-reference: outputs checked before the runs, never into the data
if command -v python3 >/dev/null 2>&1; then
ML="$W/ml"
mkdir -p "$ML" && echo "1	1	5	1" >"$ML/u.data" && cp "$ML/u.data" "$W/u.data.before"
# what both Python benchmarks check before a run: NAME, then the function
# that runs the script with the data
# (an output it may not write and missing data were exit 2: what the disk
# holds is a runtime error, 1, as in mfrec and every tools/ script)
bench_arg_checks() {
    check "$1: --csv onto the data's u.data is exit 1" status 1 "$2" --csv "$ML/u.data"
    check "$1: ... named" grep -q "^$1: --csv $ML/u.data is in the data directory" "$W/out"
    check "$1: ... and u.data is kept" cmp -s "$W/u.data.before" "$ML/u.data"
    check "$1: --markdown onto a device is exit 1" status 1 "$2" --markdown /dev/full
    check "$1: --csv in a missing directory is exit 1" status 1 "$2" --csv "$W/none/x.csv"
    check "$1: missing data is exit 1" status 1 "$2" --data "$W/none"
    check "$1: ... named" grep -q "^$1: .*$W/none" "$W/out"
    check "$1: a bad --threads is exit 2" status 2 "$2" --threads 1,x
    check "$1: a usage error comes first (exit 2)" status 2 "$2" --data "$W/none" --threads 1,x
    check "$1: --csv and --markdown on one file is exit 2" status 2 "$2" --csv "$W/same.txt" --markdown "$W/same.txt"
}
br() { python3 "$TOP/tools/bench-reference" --mfrec "$MFREC" --data "$ML" "$@"; }
bench_arg_checks bench-reference br
# a missing binary is a runtime error (1) in every tools/ script: the build, not the arguments
check "bench-reference: a missing binary is exit 1" status 1 br --mfrec "$W/none/mfrec"
check "bench-reference: ... and named" grep -q "^bench-reference: $W/none/mfrec not found" "$W/out"
# the table's Command line names the data and the binary it measured
if python3 -c 'import torch' 2>/dev/null; then
    check "bench-reference: a tiny run succeeds" status 0 br --data "$D" --threads 1 --runs 1 --torch-runs 1 --epochs 2
    check "bench-reference: ... its Command names --data and --mfrec" \
        grep -qF -- "--data '$D' --mfrec $MFREC --threads 1 --runs 1" "$W/out"
else
    echo "skip: bench-reference's tiny run (no torch)"
fi

# --- tools/bench-setup: --out and the inputs checked before the benchmark
bs() { python3 "$TOP/tools/bench-setup" --base "$MFREC" --new "$MFREC" --s10m "$D" --ml100k "$ML" "$@"; }
touch "$W/exists.csv"
check "bench-setup: an existing --out is exit 1 before any run" status 1 bs --out "$W/exists.csv"
check "bench-setup: ... (said at once)" grep -q "exists; not replacing it" "$W/out"
check "bench-setup: a missing --base is exit 1" status 1 bs --base "$W/none/mfrec"
check "bench-setup: ... and named" grep -q "^bench-setup: --base $W/none/mfrec is not an executable file" "$W/out"
check "bench-setup: --rounds 0 is exit 2" status 2 bs --rounds 0
# a thread count that mfrec refuses (here past OMP_THREAD_LIMIT, which the
# script cannot know) is mfrec's usage error: exit 2 before the header (it
# was exit 1, the command printed unquoted), the command as it can be pasted
check "bench-setup: a --threads count mfrec refuses is exit 2" \
    status 2 env OMP_THREAD_LIMIT=1 python3 "$TOP/tools/bench-setup" --base "$MFREC" --new "$MFREC" --ml100k "$D" \
    --threads 1,2 --rounds 1
check "bench-setup: ... before the header, the command quoted" \
    eval 'grep -qF -- "bench-setup: mfrec refused $MFREC train --data '\''$D'\'' --epochs 1 --quiet --threads 2 (a usage error, exit 2)" "$W/out" &&
          grep -q "OMP_THREAD_LIMIT=1 lets OpenMP start at most 1 thread" "$W/out" && ! grep -q "^case " "$W/out"'
check "bench-setup: --threshold -5% is exit 2, the threshold's own message" status 2 bs --threshold -5%
check "bench-setup: ... named" grep -q "argument --threshold: must be a number of at least 0 (0.05, or 5%), not '-5%'" "$W/out"
mkdir -p "$W/no-ratings"
check "bench-setup: an --ml100k without a rating file is exit 1 before any run" status 1 bs --ml100k "$W/no-ratings"
check "bench-setup: ... said at once, naming it" \
    eval 'grep -q "^bench-setup: --ml100k $W/no-ratings holds no rating file (u.data, " "$W/out" && ! grep -q "^case " "$W/out"'
check "bench-setup: a usage error comes first (exit 2)" status 2 bs --ml100k "$W/no-ratings" --rounds 0
# --first-run's 10m-text rows remove the dataset cache before every run: in
# a private directory of links to --s10m's files, never the user's own
# cache in --s10m (it was deleted, then written again by the next run: the
# same bytes, a new file). A rating file of 1 MiB or more, so that the runs
# (--data-cache auto) cache it; its cache is made beforehand.
S="$W/s 10m"
if ! { "$MFREC" synth --users 300 --items 200 --ratings 60000 --rank 3 --seed 5 --out "$S" >/dev/null &&
    "$MFREC" stats --data "$S" --data-cache always >/dev/null && cp "$S/.mfrec-cache" "$W/cache.before"; }; then
    echo "FAIL: the --s10m fixture"
    fail=1
fi
same_cache() { # the file made above, never removed or replaced
    cmp -s "$W/cache.before" "$S/.mfrec-cache" && [ "$(stat -c '%i %y' "$S/.mfrec-cache")" = "$cache_id" ]
}
cache_id=$(stat -c '%i %y' "$S/.mfrec-cache")
rm -rf "$W/tmpd" && mkdir "$W/tmpd"
check "bench-setup: a --first-run benchmark succeeds" \
    status 0 env TMPDIR="$W/tmpd" python3 "$TOP/tools/bench-setup" --base "$MFREC" --new "$MFREC" --s10m "$S" \
    --ml100k "$D" --rounds 1 --threads 1 --first-run --out "$W/bs.csv"
check "bench-setup: ... with its 10m-text rows" grep -Eq "^10m-text +1  epoch_ms .* (same|noisy|slower)$" "$W/out"
check "bench-setup: ... in --out too" grep -q "^10m-text,1,base,[0-9.]*,[0-9.]*," "$W/bs.csv"
check "bench-setup: ... and --s10m's own cache is kept" same_cache
check "bench-setup: ... and nothing left in TMPDIR" test -z "$(find "$W/tmpd" -mindepth 1)"

# --- tools/bench-setup's verdicts, on fake builds whose train reports give
# known numbers. mkfake FILE COMMIT OUTSIDE_MS EPOCH_MS SWING SLEEP: a fake
# mfrec that answers --version with COMMIT and reports these times (+0.1% a
# run, so that no two tie; SWING=1: the time outside the epochs swings
# 0.7..1.3 by run) after SLEEP seconds (the whole process's time)
mkfake() {
    cat >"$1" <<FAKE
#!/bin/sh
[ "\$1" = --version ] && { echo "mfrec 0.1.0 (commit $2; gcc fake)"; exit 0; }
n=\$(cat "$1.count" 2>/dev/null || echo 0); echo \$((n + 1)) >"$1.count"
sleep $6
awk -v k="\$n" -v o=$3 -v e=$4 -v s=$5 'BEGIN {
    split("0.7 1.3 0.8 1.2 1.0", sw, " "); f = 1 + 0.001 * k
    if (s) o = o * sw[k % 5 + 1]
    printf "time: 0.1 s wall, %.6f ms/epoch, 1e+08 ratings/s, threads 1\n", e * f
    printf "setup time: load 1.0 ms; %.6f ms of 0.100 s outside the epochs\n", o * f
    printf "memory: peak RSS %.6f MiB; training buffers 3.0 MiB\n", 20 * f }'
FAKE
    chmod +x "$1"
}
BF="$W/bs fake"
mkdir -p "$BF"
mkfake "$BF/old" aaaa11112222 10 1.0 0 0.1
mkfake "$BF/same" bbbb33334444 10 1.0 0 0.1
mkfake "$BF/slow" cccc55556666 10 1.2 0 0.4  # epochs 20% slower, the process 0.3 s longer
mkfake "$BF/swing-old" dddd77778888 10 1.0 1 0.1
mkfake "$BF/swing-new" eeee99990000 10 1.0 1 0.1
printf '#!/bin/sh\necho "no such option" >&2; exit 2\n' >"$BF/not-mfrec" && chmod +x "$BF/not-mfrec"
# no --s10m: ML-100K alone, 5 rounds (the fewest whose U test reaches p 0.0079)
bsf() { rm -f "$BF"/*.count && python3 "$TOP/tools/bench-setup" --ml100k "$ML" --threads 1 --rounds 5 "$@"; }
check "bench-setup: two builds of the same speed are exit 0" status 0 bsf --base "$BF/old" --new "$BF/same"
check "bench-setup: ... the header names each build's commit (from --version)" \
    eval 'grep -q "^base $BF/old: commit aaaa11112222 (mfrec 0.1.0" "$W/out" &&
          grep -q "^new  $BF/same: commit bbbb33334444 (mfrec 0.1.0" "$W/out"'
check "bench-setup: ... and that without --s10m only the ML-100K case runs" \
    eval 'grep -q "^cases ml100k (no --s10m: only the ML-100K case runs)" "$W/out" && ! grep -q "^10m" "$W/out"'
same_rows() {
    local m
    for m in outside_ms epoch_ms rss_mib; do
        grep -Eq "^ml100k +1  $m +[0-9.]+ [a-zA-Z]+ +[0-9.]+ [a-zA-Z]+ +[-+]0\.[0-9]% +[01]\.[0-9]{4} +0\.[0-9]%  same$" "$W/out" || return 1
    done
}
check "bench-setup: ... a row per measure: medians, change, p, spread, verdict" same_rows
check "bench-setup: ... and the same with --strict at a threshold nothing reaches" \
    status 0 bsf --base "$BF/old" --new "$BF/same" --strict --threshold 1000%
check "bench-setup: epochs 20% slower are exit 0 without --strict" status 0 bsf --base "$BF/old" --new "$BF/slow"
check "bench-setup: ... and exit 3 with --strict" status 3 bsf --base "$BF/old" --new "$BF/slow" --strict
check "bench-setup: ... its epoch_ms row slower, p 0.0079 (5 vs 5 runs apart)" \
    grep -Eq "^ml100k +1  epoch_ms +1\.00[0-9] ms +1\.20[0-9] ms +\+20\.[0-9]% +0\.0079 +0\.[0-9]%  slower$" "$W/out"
# (the whole process's time is real: slower, or noisy on a busy machine, never the same)
check "bench-setup: ... its whole-process row too" grep -Eq "^ml100k +1  wall_s .*  (slower|noisy)$" "$W/out"
check "bench-setup: ... its time outside the epochs the same" grep -Eq "^ml100k +1  outside_ms .*  same$" "$W/out"
check "bench-setup: ... and the slower rows named" \
    grep -Eq "^[12] row\(s\) slower \(or larger\) than base by more than 5% \(U test p < 0\.05\): (ml100k/1 wall_s, )?ml100k/1 epoch_ms$" "$W/out"
# a reader gone before the first line: the verdict's status, no traceback
# (it was exit 1, a BrokenPipeError's)
check "bench-setup: ... also when its reader stops early" \
    eval 'status 3 early_reader bsf --base "$BF/old" --new "$BF/slow" --strict &&
          ! grep -q -e Traceback -e "Exception ignored" "$W/out"'
check "bench-setup: ... also with its standard output closed (>&-)" \
    eval 'status 3 closed_stdout bsf --base "$BF/old" --new "$BF/slow" --strict &&
          ! grep -q -e Traceback -e "Exception ignored" "$W/out"'
# a time that swings by run in both builds: the same medians, too wide a spread
check "bench-setup: a spread wider than the threshold is exit 0" status 0 bsf --base "$BF/swing-old" --new "$BF/swing-new"
check "bench-setup: ... its row too noisy to tell" grep -Eq "^ml100k +1  outside_ms .* +(4[0-9]|5[0-9])\.[0-9]%  noisy$" "$W/out"
# (wall_s may join it on a busy machine: the fakes' whole processes are real)
check "bench-setup: ... and named" grep -Eq "^[12] row\(s\) too noisy to tell a 5% slowdown \(.*\): (.*, )?ml100k/1 outside_ms(,|$)" "$W/out"
check "bench-setup: ... exit 3 with --strict" status 3 bsf --base "$BF/swing-old" --new "$BF/swing-new" --strict --threshold 0.4
check "bench-setup: ... and exit 0 above the spread" status 0 bsf --base "$BF/swing-old" --new "$BF/swing-new" --strict --threshold 0.9
# 3 rounds: the U test's p is 0.1 at least, so 20% slower is "noisy", said
check "bench-setup: 3 rounds, 20% slower is exit 3 with --strict" status 3 bsf --base "$BF/old" --new "$BF/slow" --strict --rounds 3
check "bench-setup: ... the header says no row can be called slower" \
    grep -q "^note: 3 rounds cannot reach p < 0.05 (the smallest p-value of 3 vs 3 runs is 0.1): no row can be called slower; use --rounds 4 or more$" "$W/out"
check "bench-setup: ... its epoch_ms row noisy, not slower" grep -Eq "^ml100k +1  epoch_ms .* \+20\.[0-9]% +0\.1000 .*  noisy$" "$W/out"
# --out: the medians, each build's commit, spreads, and the pair's change, p and verdict
check "bench-setup: --out with the comparison" status 0 bsf --base "$BF/old" --new "$BF/slow" --out "$W/bsf.csv"
bs_col() { # ROW (2: base, 3: new) COLUMN: the CSV's field
    awk -F, -v r="$1" -v c="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) k = i } NR == r { print (k ? $k : "NO COLUMN") }' "$W/bsf.csv"
}
check "bench-setup: ... its header" test "$(head -1 "$W/bsf.csv")" = \
    "case,threads,build,outside_ms,wall_s,epoch_ms,rss_mib,val_over_epoch,commit,$(for m in outside_ms wall_s epoch_ms rss_mib val_over_epoch; do printf '%s_spread,%s_change,%s_p,%s_verdict,' $m $m $m $m; done | sed 's/,$//')"
check "bench-setup: ... a row a build, with its commit" \
    eval 'test "$(bs_col 2 build) $(bs_col 2 commit) $(bs_col 3 build) $(bs_col 3 commit)" = "base aaaa11112222 new cccc55556666" && test "$(wc -l <"$W/bsf.csv")" -eq 3'
check "bench-setup: ... the pair's verdicts" \
    test "$(bs_col 3 epoch_ms_verdict) $(bs_col 3 epoch_ms_p) $(bs_col 2 epoch_ms_verdict) $(bs_col 3 outside_ms_verdict)" = "slower 0.00793651 slower same"
check "bench-setup: ... the change" awk -v c="$(bs_col 3 epoch_ms_change)" 'BEGIN { exit !(c > 0.19 && c < 0.21) }'
check "bench-setup: ... ml100k has no val_over_epoch" test -z "$(bs_col 3 val_over_epoch)$(bs_col 3 val_over_epoch_verdict)"
# an --out made by another run during the benchmark: kept, and said (it
# was a traceback after the whole benchmark); no temporary file left
printf '#!/bin/sh\n[ "$1" != train ] || [ -e "%s" ] || echo theirs >"%s"\nexec "%s" "$@"\n' \
    "$W/taken.csv" "$W/taken.csv" "$BF/same" >"$BF/taker" && chmod +x "$BF/taker"
check "bench-setup: an --out made during the benchmark is exit 1" \
    status 1 bsf --base "$BF/old" --new "$BF/taker" --out "$W/taken.csv" --rounds 2
check "bench-setup: ... named, without a traceback" \
    eval 'grep -q "^bench-setup: --out $W/taken.csv was made during the benchmark; not replacing it" "$W/out" &&
          ! grep -q Traceback "$W/out"'
check "bench-setup: ... and kept" grep -qx theirs "$W/taken.csv"
check "bench-setup: ... no temporary file beside it" test -z "$(find "$W" -maxdepth 1 -name '.bench-setup-*')"
check "bench-setup: a --base that does not answer --version is exit 1 (as a missing one)" \
    status 1 bsf --base "$BF/not-mfrec" --new "$BF/old"
check "bench-setup: ... named, before any run" \
    eval 'grep -q "not-mfrec --version failed (exit 2): is it mfrec?" "$W/out" && test ! -e "$BF/old.count"'
check "bench-setup: a bad --threshold is exit 2" status 2 bsf --base "$BF/old" --new "$BF/old" --threshold x
check "bench-setup: --first-run without --s10m is exit 2" status 2 bsf --base "$BF/old" --new "$BF/old" --first-run
check "bench-setup: ... named, before any run" \
    eval 'grep -q "first-run needs --s10m" "$W/out" && test ! -e "$BF/old.count"'

# --- tools/bench-softmax-torch: arguments and outputs checked before the runs
# (a --csv in the data directory replaced its u.data after the benchmark; a
# bad --threads, a missing --build or a failed run ended in a traceback)
bst() { python3 "$TOP/tools/bench-softmax-torch" --build "$(dirname "$(dirname "$MFREC")")" --data "$ML" "$@"; }
bench_arg_checks bench-softmax-torch bst
check "bench-softmax-torch: --runs 0 is exit 2" status 2 bst --runs 0
check "bench-softmax-torch: a missing build is exit 1" status 1 bst --build "$W/none"
check "bench-softmax-torch: ... and named" grep -q "$W/none/tools/mfrec not found" "$W/out"
check "bench-softmax-torch: a failed mfrec run is exit 1, named, no traceback" \
    status 1 bst --split u1 --runs 1 --threads 1 --epochs 1 --csv "$W/bst.csv"
check "bench-softmax-torch: ... (the command is named)" grep -q "^bench-softmax-torch: .*mfrec train .* failed (exit 1)" "$W/out"
check "bench-softmax-torch: ... and no results written" test ! -e "$W/bst.csv"

# --- tools/sklearn-split.py, tools/notebook-reference.py: bad data is one
# line naming the file (and its line), exit 1; it was a NumPy traceback.
# notebook-reference reads the data before it imports torch.
one_line() { test "$(wc -l <"$W/out")" -eq 1 && grep -q "$1" "$W/out"; }
BD="$W/bad data"
mkdir -p "$BD" "$W/no data" "$W/one rating"
printf '1\t2\t5\t100\n1\tx\t4\t3\n' >"$BD/u.data"
printf '1\t2\t5\t100\n' >"$W/one rating/u.data"
if /usr/bin/python3 -c 'import numpy, sklearn' 2>/dev/null; then
    ssp() { /usr/bin/python3 "$TOP/tools/sklearn-split.py" --seed 1 --out "$W/ssp" "$@"; }
    check "sklearn-split.py: a bad rating is exit 1" status 1 ssp --data "$BD"
    check "sklearn-split.py: ... one line naming the file and line" \
        one_line "^sklearn-split.py: $BD/u.data:2: 'x' is not a whole number$"
    check "sklearn-split.py: a missing u.data is exit 1" status 1 ssp --data "$W/no data"
    check "sklearn-split.py: ... one line naming it" one_line "^sklearn-split.py: $W/no data/u.data: No such file"
    check "sklearn-split.py: too few ratings to split is exit 1" status 1 ssp --data "$W/one rating"
    check "sklearn-split.py: ... one line naming the file" one_line "^sklearn-split.py: $W/one rating/u.data: With n_samples=1"
    check "sklearn-split.py: a --test-size out of (0, 1) is exit 2" status 2 ssp --data "$D" --test-size 1.5
else
    echo "skip: sklearn-split.py's bad data (no numpy or sklearn for /usr/bin/python3)"
fi
if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
    nbr() { /usr/bin/python3 "$TOP/tools/notebook-reference.py" --epochs 1 "$@"; }
    check "notebook-reference.py: a bad rating is exit 1" status 1 nbr --data "$BD"
    check "notebook-reference.py: ... one line naming the file and line" \
        one_line "^notebook-reference.py: $BD/u.data:2: 'x' is not a whole number$"
    printf '1|a\nx|b\n' >"$BD/u.item" && printf '1\t2\t5\t100\n' >"$BD/u.data"
    check "notebook-reference.py: a bad u.item id is exit 1" status 1 nbr --data "$BD"
    check "notebook-reference.py: ... one line naming the file and line" \
        one_line "^notebook-reference.py: $BD/u.item:2: field 1 is not an id"
    check "notebook-reference.py: a missing u.data is exit 1" status 1 nbr --data "$W/no data"
    check "notebook-reference.py: ... one line naming it" \
        one_line "^notebook-reference.py: $W/no data/u.data: No such file"
    check "notebook-reference.py: an --init-from that is no array is exit 1" \
        status 1 nbr --data "$D" --init-from "$BD/u.data,$BD/u.item"
    check "notebook-reference.py: ... one line naming it" one_line "^notebook-reference.py: --init-from: $BD/u.data: "
    check "notebook-reference.py: three --init-from files are exit 2" status 2 nbr --data "$D" --init-from a,b,c
else
    echo "skip: notebook-reference.py's bad data (no numpy for /usr/bin/python3)"
fi

# --- tools/perf-compare: exit 1 means "slower"; a bad revision is a usage error
check "perf-compare: an unknown revision is exit 2" status 2 python3 "$TOP/tools/perf-compare" no-such-revision-xyz
# The whole compare on fake builds: a copy of the script in a scratch git
# repository, a meson whose "compile" writes a fake mfrec_bench. The fake
# times two benchmarks, a CPU-clock one and a /real_time one, at 100 +- 1
# on both clocks; in the working tree's build FAKE_SLOW=NAME=REAL,CPU
# multiplies one's times. Needs compare.py and scipy.
if [ -f /usr/share/benchmark/compare.py ] && /usr/bin/python3 -c 'import scipy.stats' 2>/dev/null; then
    P="$W/pc tree"
    mkdir -p "$P/tools" "$W/pc-stub"
    cp "$TOP/tools/perf-compare" "$TOP/tools/perfstats.py" "$P/tools/"
    git -C "$P" init -q && git -C "$P" add tools &&
        git -C "$P" -c user.name=t -c user.email=t@t commit -qm fake || echo "FAIL: perf-compare's scratch repository"
    cat >"$W/pc-stub/fake-bench" <<'FAKE'
import json, os, random, sys
NAMES = ["kern/x/k:32", "train/y/threads:2/real_time", "train/z/threads:1/real_time"]
args = sys.argv[1:]
if os.environ.get("MFREC_BENCH_MIN_TIME"):
    sys.exit("MFREC_BENCH_MIN_TIME reached the benchmark: it overrides --min-time")
if "--benchmark_list_tests" in args:
    print("\n".join(NAMES))
    sys.exit(0)
out = [a.split("=", 1)[1] for a in args if a.startswith("--benchmark_out=")][0]
slow = {}
if SIDE == "head" and os.environ.get("FAKE_SLOW"):
    name, f = os.environ["FAKE_SLOW"].split("=")
    slow[name] = [float(x) for x in f.split(",")]
# FAKE_NOISY=NAME: that benchmark's times swing by run, the same swings in
# both trees (a counter file a tree), so its medians agree and its spread is wide
swing = 1.0
if os.environ.get("FAKE_NOISY"):
    counter = os.path.join(os.environ["FAKE_COUNTS"], SIDE)
    k = int(open(counter).read()) if os.path.exists(counter) else 0
    open(counter, "w").write(str(k + 1))
    swing = [0.7, 1.3, 0.8, 1.2, 1.0][k % 5]
bs = []
for n in NAMES:
    real, cpu = slow.get(n, (1.0, 1.0))
    if n == os.environ.get("FAKE_NOISY"):
        real, cpu = real * swing, cpu * swing
    bs.append({"name": n, "run_name": n, "run_type": "iteration", "repetitions": 1,
               "repetition_index": 0, "threads": 1, "iterations": 1000, "time_unit": "ns",
               "real_time": real * random.uniform(99, 101), "cpu_time": cpu * random.uniform(99, 101)})
with open(out, "w") as f:
    json.dump({"context": {"date": "x", "num_cpus": 1}, "benchmarks": bs}, f)
FAKE
    cat >"$W/pc-stub/meson" <<'FAKE'
#!/bin/sh
# meson setup BUILD SRC ... | meson compile -C BUILD mfrec_bench
case $1 in
setup) exit 0 ;;
compile)
    side=head
    case $3 in *build-base) side=base ;; esac
    mkdir -p "$3/benchmarks"
    [ -z "${FAKE_BUILT:-}" ] || : >"$FAKE_BUILT"
    { echo '#!/usr/bin/python3'; echo "SIDE = '$side'"; cat "$(dirname "$0")/fake-bench"; } >"$3/benchmarks/mfrec_bench"
    chmod +x "$3/benchmarks/mfrec_bench" ;;
esac
FAKE
    chmod +x "$W/pc-stub/meson"
    # FAKE_SLOW's value (empty: none), then perf-compare's own arguments
    pcmp() { env PATH="$W/pc-stub:$PATH" FAKE_SLOW="$1" python3 "$P/tools/perf-compare" HEAD --repeat 5 "${@:2}"; }
    check "perf-compare: the same times are exit 0" status 0 pcmp ""
    check "perf-compare: ... and its work directory is removed" \
        sh -c '[ -z "$(git -C "$1" worktree list | sed 1d)" ]' _ "$P"
    # a busy machine: twice the wall time at the same CPU time was "slower"
    check "perf-compare: a CPU-clock case's wall time is not its time (exit 0)" \
        status 0 pcmp kern/x/k:32=2,1
    check "perf-compare: a CPU-clock case 50% slower on its clock is exit 1" \
        status 1 pcmp kern/x/k:32=1,1.5
    check "perf-compare: ... and named with its clock" grep -q "^  kern/x/k:32: +[45][0-9]\.[0-9]% CPU time" "$W/out"
    # a reader gone before the first line: still "slower" (it was exit 2,
    # an internal error with a BrokenPipeError's traceback)
    check "perf-compare: ... also when its reader stops early" \
        eval 'status 1 early_reader pcmp kern/x/k:32=1,1.5 && ! grep -q -e Traceback -e "Exception ignored" "$W/out"'
    check "perf-compare: a /real_time case 50% slower on the wall clock is exit 1" \
        status 1 pcmp train/y/threads:2/real_time=1.5,1
    check "perf-compare: ... and named with its clock" \
        grep -q "^  train/y/threads:2/real_time: +[45][0-9]\.[0-9]% wall time" "$W/out"
    # one thread: its CPU time is its work, its wall time the machine's load
    check "perf-compare: a threads:1 case's doubled wall time at the same CPU time is exit 0" \
        status 0 pcmp train/z/threads:1/real_time=2,1
    check "perf-compare: a threads:1 case 50% slower in CPU time is exit 1" \
        status 1 pcmp train/z/threads:1/real_time=1,1.5
    check "perf-compare: ... and named with its clock" \
        grep -q "^  train/z/threads:1/real_time: +[45][0-9]\.[0-9]% CPU time" "$W/out"
    check "perf-compare: ... in the medians table too" \
        grep -Eq "^train/z/threads:1/real_time +CPU .* +\+[45][0-9]\.[0-9]% .* slower$" "$W/out"
    # a spread wider than the threshold: "too noisy to tell", exit 3 with --strict
    mkdir -p "$W/pc-counts"
    pcmp_noisy() { env FAKE_NOISY=kern/x/k:32 FAKE_COUNTS="$W/pc-counts" PATH="$W/pc-stub:$PATH" \
        python3 "$P/tools/perf-compare" HEAD --repeat 5 "$@"; }
    check "perf-compare: a noisy benchmark that is not slower is exit 0" status 0 pcmp_noisy
    check "perf-compare: ... named too noisy to tell" \
        grep -q "^1 benchmark(s) too noisy to tell a 5% slowdown (a spread above it, or a change past it without significance): kern/x/k:32$" "$W/out"
    check "perf-compare: ... and exit 3 with --strict" status 3 pcmp_noisy --strict
    check "perf-compare: an exported MFREC_BENCH_MIN_TIME does not reach the runs" \
        status 0 env MFREC_BENCH_MIN_TIME=9 PATH="$W/pc-stub:$PATH" FAKE_SLOW= python3 "$P/tools/perf-compare" HEAD --repeat 5
    # compare.py without scipy failed only after every build and run
    mkdir -p "$W/no-scipy/scipy" && echo 'raise ImportError("No module named scipy")' >"$W/no-scipy/scipy/__init__.py"
    rm -f "$W/pc-built"
    pcmp_no_scipy() { PYTHONPATH="$W/no-scipy" FAKE_BUILT="$W/pc-built" pcmp ""; }
    check "perf-compare: compare.py without scipy is exit 2" status 2 pcmp_no_scipy
    check "perf-compare: ... said" grep -q "compare.py does not run (ImportError: No module named scipy)" "$W/out"
    check "perf-compare: ... before any build" test ! -e "$W/pc-built"
    # an unforeseen failure (here a --keep DIR whose bench-data is a file:
    # os.makedirs raised) was a traceback and exit 1, "slower", to CI
    mkdir -p "$W/pc-keep" && : >"$W/pc-keep/bench-data"
    check "perf-compare: an unexpected error is exit 2, not 1" status 2 pcmp "" --keep "$W/pc-keep"
    check "perf-compare: ... said" grep -q "^perf-compare: internal error (above); exit status 2" "$W/out"
else
    echo "skip: perf-compare's compare (no compare.py or scipy)"
fi

# --- tools/perfstats.py: the statistics perf-compare, bench-setup and
# sweep-compare share. The U test's p-values are scipy's (which compare.py
# uses) where scipy is installed; a few known values everywhere.
check "perfstats: known U-test p-values, spreads and verdicts" python3 -B -c '
import sys
sys.path.insert(0, sys.argv[1])
import perfstats as s
p = s.mannwhitney_p
assert abs(p([1, 2, 3, 4], [5, 6, 7, 8]) - 2 / 70) < 1e-12
assert abs(p([1, 2, 3, 4, 5], [1.5, 2.5, 3.5, 4.5, 5.5]) - 0.6904761904761905) < 1e-12
assert abs(p([1] * 4, [2] * 4) - 0.013123806784370733) < 1e-12  # ties: the normal approximation
assert p([1, 1, 1], [1, 1, 1]) == 1.0 and p([], [1]) is None
assert abs(s.spread([0.7, 0.8, 1.0, 1.2, 1.3]) - 0.5) < 1e-12 and s.spread([1, 2, 3]) == 0.0
assert s.verdict(0.2, 0.01, 0.0, 0.05, 0.05) == "slower" and s.verdict(0.2, 0.1, 0.0, 0.05, 0.05) == "noisy"
assert s.verdict(0.0, 0.9, 0.5, 0.05, 0.05) == "noisy" and s.verdict(0.01, 0.01, 0.01, 0.05, 0.05) == "same"
assert s.threshold("5%") == 0.05 and s.threshold("0.1") == 0.1 and s.threshold("500%") == 5.0
try:
    s.threshold("5")
    raise SystemExit("a bare 5 was taken as 500%")
except __import__("argparse").ArgumentTypeError as e:
    assert "would be 500%: write 5% (or 0.05)" in str(e), e
' "$TOP/tools"
if /usr/bin/python3 -c 'import scipy.stats' 2>/dev/null; then
    check "perfstats: mannwhitney_p is scipy.stats.mannwhitneyu's (ties and sizes 1..12)" /usr/bin/python3 -B -c '
import random, sys
sys.path.insert(0, sys.argv[1])
from scipy.stats import mannwhitneyu
from perfstats import mannwhitney_p
random.seed(1)
for _ in range(2000):
    n1, n2 = random.randint(1, 12), random.randint(1, 12)
    pool = [random.randint(1, 5) for _ in range(3)] if random.random() < 0.3 else None
    f = lambda: random.choice(pool) if pool else random.random()
    x, y = [f() for _ in range(n1)], [f() + random.choice([0, 0.3]) for _ in range(n2)]
    want = mannwhitneyu(x, y, alternative="two-sided").pvalue
    assert abs(mannwhitney_p(x, y) - want) <= 1e-9, (x, y, want)
' "$TOP/tools"
else
    echo "skip: perfstats against scipy (no scipy)"
fi

# --- tools/sweep-compare: two sweep CSVs joined on their configuration.
# Small CSVs of the sweep's columns that it reads (and a quoted field with
# a comma, as the sweep writes compiler_flags): threads 1,2 x dim 8,16, 3
# repeats; sw_csv FILE COMMIT [EPOCHS]: the old sweep's rows, on stdin
# lines "threads dim ms process" edits (a "-" line drops that configuration)
SWH="dataset,kind,threads,dim,reduce,kernels,shards_requested,repeat,ms_per_epoch_median,process_s,setup_fraction,epochs,compiler_flags,commit"
sw_csv() {
    local f=$1 commit=$2 epochs=${3:-20}
    echo "$SWH" >"$f"
    awk -v c="$commit" -v e="$epochs" '
        NF == 4 { ms[$1 " " $2] = $3; pr[$1 " " $2] = $4; next }
        NF == 3 && $1 == "-" { drop[$2 " " $3] = 1; next }
        END {
            base["1 8"] = 1.0; base["2 8"] = 0.6; base["1 16"] = 2.0; base["2 16"] = 1.2
            proc["1 8"] = 0.5; proc["2 8"] = 0.4; proc["1 16"] = 0.9; proc["2 16"] = 0.7
            split("1 8,2 8,1 16,2 16", order, ",")
            for (i = 1; i <= 4; i++) {
                k = order[i]; if (k in drop) continue
                m = (k in ms) ? ms[k] : base[k]; p = (k in pr) ? pr[k] : proc[k]
                split(k, tk, " ")
                for (r = 1; r <= 3; r++)
                    printf "/d,mf,%s,%s,owner,auto,auto,%d,%.4f,%.4f,0.4,%s,\"gcc, -O3\",%s\n",
                        tk[1], tk[2], r, m * (1 + 0.05 * (r - 2)), p, e, c
            }
            for (k in ms) if (!(k in base)) { split(k, tk, " ")
                printf "/d,mf,%s,%s,owner,auto,auto,1,%.4f,%.4f,0.4,%s,\"gcc, -O3\",%s\n", tk[1], tk[2], ms[k], pr[k], e, c }
        }' >>"$f"
}
SC="$W/sc"
mkdir -p "$SC"
sw_csv "$SC/old.csv" aaaa11112222 </dev/null
sw_csv "$SC/same.csv" bbbb33334444 </dev/null
printf '2 16 1.56 0.7\n' | sw_csv "$SC/slow.csv" cccc55556666       # ms/epoch +30%
printf '1 8 1.0 0.6\n' | sw_csv "$SC/proc.csv" dddd77778888         # the whole process +20%
printf -- '- 2 16\n4 8 0.5 0.3\n' | sw_csv "$SC/moved.csv" eeee99990000
sw_csv "$SC/epochs.csv" ffff00001111 50 </dev/null
scmp() { python3 "$TOP/tools/sweep-compare" "$@"; }
check "sweep-compare: the same times are exit 0 with --strict" status 0 scmp "$SC/old.csv" "$SC/same.csv" --strict
check "sweep-compare: ... both commits named" \
    eval 'grep -q "^old: $SC/old.csv: commit aaaa11112222, 4 configuration(s), 3 repeat(s) each$" "$W/out" &&
          grep -q "^new: $SC/same.csv: commit bbbb33334444, 4 configuration(s), 3 repeat(s) each$" "$W/out"'
check "sweep-compare: ... the configuration columns named, the fixed ones once" \
    grep -q "^configuration: threads, dim (the same in every row: kind mf, reduce owner, kernels auto, shards_requested auto)$" "$W/out"
check "sweep-compare: ... a row a configuration: medians, change, no spread of 3 repeats, process, setup, verdict" \
    eval 'test "$(grep -Ec "^[12] +(8|16) +[0-9.]+ +[0-9.]+ +\+0\.0% +- +[0-9.]+ +[0-9.]+ +\+0\.0% +40\.0% +40\.0%  same$" "$W/out")" -eq 4'
check "sweep-compare: ... the medians of the repeats" grep -Eq "^2 +16 +1\.2 +1\.2 " "$W/out"
check "sweep-compare: ms/epoch 30% slower is exit 0 without --strict" status 0 scmp "$SC/old.csv" "$SC/slow.csv"
check "sweep-compare: ... its row slower" grep -Eq "^2 +16 +1\.2 +1\.56 +\+30\.0% .*  slower$" "$W/out"
check "sweep-compare: ... the others the same" test "$(grep -c "  same$" "$W/out")" -eq 3
check "sweep-compare: ... named" \
    grep -q "^1 configuration(s) slower than $SC/old.csv by more than 5%: threads=2 dim=16 (+30.0% ms/epoch)$" "$W/out"
check "sweep-compare: ... exit 3 with --strict" status 3 scmp "$SC/old.csv" "$SC/slow.csv" --strict
check "sweep-compare: ... exit 0 with --strict under a threshold of 40%" status 0 scmp "$SC/old.csv" "$SC/slow.csv" --strict --threshold 40%
check "sweep-compare: ... and of 0.4" status 0 scmp "$SC/old.csv" "$SC/slow.csv" --strict --threshold 0.4
# a negative threshold, -5%, was argparse's "expected one argument" (taken for
# an option), while --threshold=-5% had the check's own message: both that
for t in "--threshold -5%" "--threshold=-5%" "--threshold -0.05"; do
    # shellcheck disable=SC2086 # a flag and its value
    check "sweep-compare: $t is exit 2" status 2 scmp "$SC/old.csv" "$SC/slow.csv" $t
    check "sweep-compare: ... named" grep -q "^sweep-compare: error: argument --threshold: must be a number of at least 0 (0.05, or 5%), not '-" "$W/out"
done
check "sweep-compare: --threshold before another option still wants a value" status 2 scmp "$SC/old.csv" "$SC/slow.csv" --threshold --strict
check "sweep-compare: ... said" grep -q "argument --threshold: expected one argument" "$W/out"
check "sweep-compare: the whole process 20% slower is slower too (exit 3 with --strict)" \
    status 3 scmp "$SC/old.csv" "$SC/proc.csv" --strict
check "sweep-compare: ... named" grep -q "threads=1 dim=8 (+20.0% whole process)$" "$W/out"
# a reader that stops before the first line (| true): the status is the
# comparison's (it was 0, the broken pipe's, with --strict)
check "sweep-compare: ... exit 3 with --strict when its reader stops early" \
    status 3 early_reader scmp "$SC/old.csv" "$SC/slow.csv" --strict
check "sweep-compare: ... quietly" eval '! grep -q -e Traceback -e "Exception ignored" "$W/out"'
check "sweep-compare: ... and with its standard output closed (>&-)" \
    eval 'status 3 closed_stdout scmp "$SC/old.csv" "$SC/slow.csv" --strict &&
          ! grep -q -e Traceback -e "Exception ignored" "$W/out"'
# a standard output that cannot be written (a full disk) is a runtime error,
# named: it was a traceback (then exit 2; perf-compare's 2, its 1 is "slower")
to_full() { "$@" >/dev/full; }
check "sweep-compare: standard output on a full device is exit 1" \
    status 1 to_full scmp "$SC/old.csv" "$SC/slow.csv" --strict
check "sweep-compare: ... named, without a traceback" \
    eval 'grep -qx "sweep-compare: cannot write standard output: No space left on device" "$W/out" &&
          ! grep -q -e Traceback -e "Exception ignored" "$W/out"'
check "sweep-compare: ... --help too" status 1 to_full scmp --help
check "perf-compare: standard output on a full device is exit 2 (not 1, slower)" \
    status 2 to_full python3 "$TOP/tools/perf-compare" --help
# a CSV saved by a spreadsheet starts with a byte order mark: its header's
# first column, dataset, read as "\ufeffdataset", so that another dataset
# went unnoted (and a CSV that starts with kind was refused)
{ printf '\357\273\277'; sed '2,$s|^/d,|/e,|' "$SC/old.csv"; } >"$SC/bom.csv"
check "sweep-compare: a CSV with a byte order mark is read (exit 0)" status 0 scmp "$SC/bom.csv" "$SC/old.csv" --strict
check "sweep-compare: ... its first column too" grep -qx "note: dataset differs: /e (old) and /d (new)" "$W/out"
check "sweep-compare: configurations of one file only are listed (exit 0)" status 0 scmp "$SC/old.csv" "$SC/moved.csv"
check "sweep-compare: ... the old one's" grep -q "^only in $SC/old.csv (1): threads=2 dim=16 (line 11)$" "$W/out"
check "sweep-compare: ... the new one's" grep -q "^only in $SC/moved.csv (1): threads=4 dim=8 (line 11)$" "$W/out"
check "sweep-compare: ... and the 3 common compared" grep -q "^no configuration slower than .* (3 compared)$" "$W/out"
check "sweep-compare: settings that differ are noted" status 0 scmp "$SC/old.csv" "$SC/epochs.csv"
check "sweep-compare: ... named with both values" grep -q "^note: epochs differs: 20 (old) and 50 (new)$" "$W/out"
# 4 repeats a side: the spread (relative IQR) is given
{ echo "$SWH"; for r in 1 2 3 4 5; do echo "/d,mf,3,8,owner,auto,auto,$r,$(echo "1.0 1.0 1.2 1.0 0.8" | cut -d" " -f$r),0.5,0.4,20,x,aaaa"; done; } >"$SC/five.csv"
check "sweep-compare: 5 repeats have a spread" status 0 scmp "$SC/five.csv" "$SC/five.csv"
check "sweep-compare: ... the relative IQR" grep -Eq "^3 +8 +1 +1 +\+0\.0% +20\.0% " "$W/out"
check "sweep-compare: ... too wide for a 5% change: noisy" grep -Eq "^3 +8 .* 20\.0% .*  noisy$" "$W/out"
check "sweep-compare: ... said" grep -q "^1 configuration(s) too noisy to tell a 5% slowdown (a spread above it): threads=3 dim=8$" "$W/out"
check "sweep-compare: ... exit 3 with --strict" status 3 scmp "$SC/five.csv" "$SC/five.csv" --strict
check "sweep-compare: ... the same under a threshold of 25% (exit 0 with --strict)" \
    eval 'status 0 scmp "$SC/five.csv" "$SC/five.csv" --strict --threshold 25% && grep -Eq "^3 +8 .*  same$" "$W/out"'
# a blank last line (a hand-edited or concatenated file) is no row
{ cat "$SC/old.csv"; echo; } >"$SC/blank.csv"
check "sweep-compare: a blank line is skipped" eval 'status 0 scmp "$SC/blank.csv" "$SC/old.csv" --strict &&
    grep -q "^old: $SC/blank.csv: commit aaaa11112222, 4 configuration(s), 3 repeat(s) each$" "$W/out"'
# an epoch too short for %.6f ms (0.000000) is a time, not a malformed row
awk -F, -v OFS=, '$3 == 1 && $4 == 8 { $9 = "0.000000" } 1' "$SC/old.csv" >"$SC/zero.csv"
check "sweep-compare: a per-epoch time of 0 is compared (exit 0)" status 0 scmp "$SC/zero.csv" "$SC/zero.csv" --strict
check "sweep-compare: ... as no change" grep -Eq "^1 +8 +0 +0 +\+0\.0% " "$W/out"
check "sweep-compare: from 0 to a time is slower (exit 3 with --strict)" status 3 scmp "$SC/zero.csv" "$SC/old.csv" --strict
check "sweep-compare: ... shown +inf%" grep -Eq "^1 +8 +0 +[0-9.]+ +\+inf% .*  slower$" "$W/out"
# a real sweep's CSV against itself: its commit is the binary's
if "$MFREC" sweep --data "$D" --threads 1 --dims 4,8 --epochs 2 --repeat 2 --out "$SC/real.csv" --quiet >/dev/null 2>&1; then
    check "sweep-compare: a real sweep's CSV against itself is exit 0 with --strict" status 0 scmp "$SC/real.csv" "$SC/real.csv" --strict
    check "sweep-compare: ... its commit is mfrec --version's" \
        grep -q "^old: .*: commit $("$MFREC" --version | sed -n 's/.*(commit \([^;]*\);.*/\1/p'), 2 configuration(s), 2 repeat(s) each$" "$W/out"
    check "sweep-compare: ... its 2 rows the same" test "$(grep -Ec "^1 +[48] .*  same$" "$W/out")" -eq 2
else
    echo "FAIL: sweep-compare: the real sweep"; fail=1
fi
# malformed CSVs: bad data, exit 1 (it was 2, a usage error's), the file
# and the line named, no traceback
bad_csv() { # NAME, then the message expected; the CSV on stdin
    cat >"$SC/$1.csv"
    if status 1 scmp "$SC/old.csv" "$SC/$1.csv" && grep -qF "sweep-compare: $SC/$1.csv: $2" "$W/out" &&
        ! grep -q Traceback "$W/out"; then
        return 0
    fi
    sed 's/^/  | /' "$W/out"
    return 1
}
check "sweep-compare: an empty file is exit 1" bad_csv empty "line 1: no header" </dev/null
sed 's/,commit$//; s/,aaaa11112222$//' "$SC/old.csv" >"$SC/nocommit.csv"
check "sweep-compare: a sweep from before the commit column is compared" status 0 scmp "$SC/nocommit.csv" "$SC/old.csv"
check "sweep-compare: ... its commit named unknown" \
    grep -q "^old: $SC/nocommit.csv: commit unknown (no commit column: a sweep from before session 45), " "$W/out"
check "sweep-compare: a header without threads and dim is exit 1" bad_csv nodim "line 1: no column threads, dim in the header" \
    < <(sed '1s/,threads,dim,/,t,d,/' "$SC/old.csv")
check "sweep-compare: a column named twice is exit 1" bad_csv twice "line 1: column 'dim' named twice" \
    < <(sed '1s/,epochs,/,dim,/' "$SC/old.csv")
check "sweep-compare: a row short of a field is exit 1" bad_csv short "line 3: 13 fields, the header has 14" \
    < <(sed '3s/,owner,/,/' "$SC/old.csv")
check "sweep-compare: a row with a field too many is exit 1" bad_csv long "line 3: 15 fields, the header has 14" \
    < <(sed '3s/,owner,/,owner,x,/' "$SC/old.csv")
check "sweep-compare: a time that is no number is exit 1" bad_csv nan "line 4: ms_per_epoch_median 'fast' is not a number" \
    < <(awk -F, -v OFS=, 'NR == 4 { $9 = "fast" } 1' "$SC/old.csv")
check "sweep-compare: an empty process time is exit 1" bad_csv noproc "line 2: process_s '' is not a number" \
    < <(awk -F, -v OFS=, 'NR == 2 { $10 = "" } 1' "$SC/old.csv")
check "sweep-compare: a threads of x is exit 1" bad_csv threads "line 5: threads 'x' is not an integer" \
    < <(awk -F, -v OFS=, 'NR == 5 { $3 = "x" } 1' "$SC/old.csv")
# a quoted field with a line break (compiler flags): a record of two lines,
# so the malformed row after it is named by its file line, not its record
check "sweep-compare: a bad row after a two-line record is named by its file line" \
    bad_csv twoline "line 4: threads 'x' is not an integer" \
    < <(awk -F, -v OFS=, 'NR == 2 { sub(/"gcc, -O3"/, "\"gcc,\n-O3\"") } NR == 3 { $3 = "x" } 1' "$SC/old.csv")
check "sweep-compare: a configuration and repeat twice is exit 1" \
    bad_csv dup "line 3: configuration kind=mf threads=1 dim=8 reduce=owner kernels=auto shards_requested=auto, repeat 1, again (first at line 2)" \
    < <(awk -F, -v OFS=, 'NR == 3 { $8 = 1 } 1' "$SC/old.csv")
check "sweep-compare: rows of two commits are exit 1" bad_csv commits "line 13: commit zzzz differs from line 2's aaaa11112222" \
    < <(sed '13s/aaaa11112222$/zzzz/' "$SC/old.csv")
check "sweep-compare: a header alone is exit 1" bad_csv header "no rows after the header" < <(head -1 "$SC/old.csv")
check "sweep-compare: a missing file is exit 1" status 1 scmp "$SC/none.csv" "$SC/old.csv"
check "sweep-compare: ... named" grep -q "^sweep-compare: $SC/none.csv: cannot read it" "$W/out"
check "sweep-compare: no configuration in common is exit 1" status 1 scmp "$SC/old.csv" "$SC/five.csv"
check "sweep-compare: ... said" grep -q "have no configuration in common: nothing to compare" "$W/out"
check "sweep-compare: one file is exit 2" status 2 scmp "$SC/old.csv"
check "sweep-compare: a bad --threshold is exit 2" status 2 scmp "$SC/old.csv" "$SC/same.csv" --threshold -1
else
    echo "skip: bench-reference, bench-setup, perf-compare (no python3)"
fi

# --- benchmarks/: a skip (exit 0, no time: perf-compare read it as -100%) is
# only for a CPU without the instruction set (or too small a machine:
# bench_train.c's err.message); a failed setup or a result that
# differs from the reference is mfr_bench_fail (exit 1; bench_shim.h)
check "benchmarks: mfr_bench_skip only for a missing instruction set" \
    eval '! grep -h "mfr_bench_skip(st," "$TOP"/benchmarks/*.c | grep -v -e "lacks" -e "no AVX" -e "err.message"'

# --- tools/reference: a MFREC_DATA without u.data is an error before anything
# runs (it fell back to a download, then to synthetic data saying
# "MFREC_DATA is not set", and exited 0)
check "reference: MFREC_DATA without u.data is exit 1" status 1 env MFREC_DATA="$W/no data" sh "$TOP/tools/reference"
check "reference: ... and named" grep -q "MFREC_DATA=$W/no data holds no u.data" "$W/out"
check "reference: ... before setup or a download" eval '! grep -q -e "tools/setup" -e fetch-movielens "$W/out"'

# --- tools/test: meson test's own exit status counts (it was lost in a pipe
# into tee). Hermetic: fake meson and dpkg-query, so that nothing is set up,
# built or installed; the fake `meson test` prints an all-ok summary and fails.
mkdir -p "$W/fake"
cat >"$W/fake/meson" <<'FAKE'
#!/bin/sh
[ "$1" != test ] && exit 0
printf 'Ok:                 5\nFail:               0\nSkipped:            0\n'
exit 1
FAKE
printf '#!/bin/sh\nprintf "install ok installed"\n' >"$W/fake/dpkg-query"
chmod +x "$W/fake/meson" "$W/fake/dpkg-query"
check "test: a failing meson test is a failure" status 1 env PATH="$W/fake:$PATH" sh "$TOP/tools/test" "$W/build"
check "test: two build directories are exit 2" status 2 env PATH="$W/fake:$PATH" sh "$TOP/tools/test" "$W/b1" "$W/b2"
check "test: an unknown option is exit 2" status 2 env PATH="$W/fake:$PATH" sh "$TOP/tools/test" --no-such-option
check "test: --help is exit 0" status 0 sh "$TOP/tools/test" --help
check "test: ... and prints the usage" grep -q "^Usage: tools/test" "$W/out"
check "race-check: --help is exit 0 (it was taken as a build directory: a traceback)" \
    status 0 sh "$TOP/tools/race-check" --help
check "race-check: ... and prints the usage" grep -q "^Usage: tools/race-check" "$W/out"
check "race-check: an unknown option is exit 2" status 2 sh "$TOP/tools/race-check" --no-such-option
check "race-check: meson test's arguments without -- are exit 2" status 2 sh "$TOP/tools/race-check" "$W/b1" "$W/b2"
# a failing test ended race-check under set -e before meson's status was
# written ("cat: ....rc: No such file", no summary). A copy in a tree whose
# setup is a stub, a fake meson whose one determinism test fails, and a
# fake clang naming an LLVM whose Archer is installed.
archer=$(find /usr/lib -maxdepth 3 -path '/usr/lib/llvm-*/lib/libarcher.so' 2>/dev/null | head -n 1)
if [ -n "$archer" ]; then
    RC="$W/rc tree"
    mkdir -p "$RC/tools" "$RC/build-tsan/meson-logs" "$W/rc-fake"
    cp "$TOP/tools/race-check" "$RC/tools/"
    printf '#!/bin/sh\nexit 0\n' >"$RC/tools/setup"
    : >"$RC/build-tsan/meson-logs/testlog.txt"
    major=${archer#/usr/lib/llvm-}
    printf '#!/bin/sh\necho %s.0.0\n' "${major%%/*}" >"$W/rc-fake/clang"
    cat >"$W/rc-fake/meson" <<'FAKE'
#!/bin/sh
case $1 in
introspect) echo '[{"suite": ["mfrec:determinism"], "cmd": ["/b/tests/test_x"]}]' ;;
test) printf 'Ok:                 3\nFail:               1\nSkipped:            0\n'; exit 1 ;;
esac
FAKE
    chmod +x "$RC/tools/race-check" "$RC/tools/setup" "$W/rc-fake/clang" "$W/rc-fake/meson"
    check "race-check: a failing test is exit 1" status 1 env PATH="$W/rc-fake:$PATH" "$RC/tools/race-check"
    check "race-check: ... with meson's counts" grep -qx "3 passed, 1 failed, 0 skipped" "$W/out"
    check "race-check: ... and no missing status file" eval '! grep -q "No such file" "$W/out"'
else
    echo "skip: race-check's failing test (no libarcher.so)"
fi

# --- SIGTERM (or a Ctrl-C) leaves no temporary file: dash runs no EXIT trap
# on a signal, so tools/test left its copy of the dataset (16 MB of
# ML-100K) and its log in $TMPDIR, and tune-ranking its two files.
# COMMAND, run in the background with a private TMPDIR; once $W/started
# exists (the slow fake has begun), the script alone gets SIGTERM: it
# exits 143 once the fake is done, and TMPDIR is empty.
term_leaves_nothing() {
    local pid rc
    rm -rf "$W/tmpd" "$W/started" && mkdir "$W/tmpd"
    TMPDIR="$W/tmpd" "$@" >"$W/out" 2>&1 &
    pid=$!
    for _ in $(seq 100); do [ -e "$W/started" ] && break; sleep 0.1; done
    kill -TERM "$pid"
    wait "$pid"
    rc=$?
    [ "$rc" -eq 143 ] || { echo "  exit status $rc, expected 143"; sed 's/^/  | /' "$W/out"; return 1; }
    [ -z "$(find "$W/tmpd" -mindepth 1)" ] || { echo "  left in TMPDIR:"; find "$W/tmpd" -mindepth 1 -maxdepth 1 | sed 's/^/  | /'; return 1; }
}
# The same for a Ctrl-C: SIGINT to the command's process group (set -m
# gives it its own, and leaves SIGINT as it is: a background job's would
# be ignored). Exit 130, no traceback, TMPDIR empty.
int_leaves_nothing() {
    local rc
    rm -rf "$W/tmpd" "$W/started" && mkdir "$W/tmpd"
    rc=$(
        set -m
        TMPDIR="$W/tmpd" "$@" >"$W/out" 2>&1 &
        pid=$!
        for _ in $(seq 100); do [ -e "$W/started" ] && break; sleep 0.1; done
        kill -INT -- -"$pid"
        wait "$pid"
        echo $?
    )
    [ "$rc" -eq 130 ] || { echo "  exit status $rc, expected 130"; sed 's/^/  | /' "$W/out"; return 1; }
    ! grep -q -e Traceback -e KeyboardInterrupt "$W/out" || { echo "  a traceback:"; sed 's/^/  | /' "$W/out"; return 1; }
    [ -z "$(find "$W/tmpd" -mindepth 1)" ] || { echo "  left in TMPDIR:"; find "$W/tmpd" -mindepth 1 -maxdepth 1 | sed 's/^/  | /'; return 1; }
}
mkdir -p "$W/slow"
printf '#!/bin/sh\n[ "$1" != test ] && exit 0\ntouch "%s/started"; sleep 1\n' "$W" >"$W/slow/meson"
cp "$W/fake/dpkg-query" "$W/slow/"
printf '#!/bin/sh\ntouch "%s/started"; sleep 1; exit 1\n' "$W" >"$W/slow-mfrec"
chmod +x "$W/slow/meson" "$W/slow-mfrec"
echo "--dim 4" >"$W/one-setting.txt"
mkdir -p "$W/data copy" && echo "1	1	5	1" >"$W/data copy/u.data"
check "test: SIGTERM removes its dataset copy and log" \
    term_leaves_nothing env PATH="$W/slow:$PATH" MFREC_DATA="$W/data copy" sh "$TOP/tools/test" "$W/build"
check "tune-ranking: SIGTERM removes its temporary files" \
    term_leaves_nothing env MFREC="$W/slow-mfrec" sh "$TOP/tools/tune-ranking" ndcg "$W/one-setting.txt"
# bench-setup died at SIGTERM (Python's default) with its temporary
# directory left, the private --s10m links and the models in it
if command -v python3 >/dev/null 2>&1; then
    check "bench-setup: SIGTERM removes its temporary directory" \
        term_leaves_nothing python3 "$TOP/tools/bench-setup" --base "$MFREC" --new "$W/slow-mfrec" --s10m "$S" \
        --ml100k "$D" --rounds 1 --threads 1 --first-run
    check "bench-setup: ... and --s10m's cache is kept" same_cache
fi

# mfrec_bench died at SIGTERM (the default action) with its generated set
# left in TMPDIR (mfrec-bench-ml100k-XXXXXX; for synth10m about 400 MB). A
# benchmark of the ml100k set with a long --benchmark_min_time, so that it
# still runs once the directory is there.
BENCH="$(dirname "$(dirname "$MFREC")")/benchmarks/mfrec_bench"
if [ -x "$BENCH" ]; then
    # DATA_DIR (empty: none): SIGTERM once DATA_DIR's, or TMPDIR's, ml100k
    # set has its u.data; the bench must exit 143
    bench_term() {
        local pid rc f
        rm -rf "$W/tmpd" && mkdir "$W/tmpd"
        TMPDIR="$W/tmpd" MFREC_BENCH_DATA_DIR=$1 "$BENCH" --benchmark_min_time=60 \
            --benchmark_filter='^train/shard_grad/ml100k/ref/owner/k:16$' >"$W/out" 2>&1 &
        pid=$!
        for _ in $(seq 300); do
            for f in "${1:-$W/tmpd}"/*ml100k*/u.data; do [ -e "$f" ] && break 2; done
            sleep 0.1
        done
        kill -TERM "$pid"
        wait "$pid"
        rc=$?
        [ "$rc" -eq 143 ] || { echo "  exit status $rc, expected 143"; sed 's/^/  | /' "$W/out"; return 1; }
    }
    tmpd_empty() { [ -z "$(find "$W/tmpd" -mindepth 1)" ] || { find "$W/tmpd" | sed 's/^/  | /'; return 1; }; }
    check "mfrec_bench: SIGTERM is exit 143" bench_term ""
    check "mfrec_bench: ... and removes its generated set from TMPDIR" tmpd_empty
    # a MFREC_BENCH_DATA_DIR is the user's: kept as it is
    mkdir -p "$W/bdata"
    check "mfrec_bench: SIGTERM with MFREC_BENCH_DATA_DIR is exit 143" bench_term "$W/bdata"
    check "mfrec_bench: ... and leaves its set" test -s "$W/bdata/ml100k/u.data"
    # a MFREC_BENCH_DATA_DIR whose ml100k is another dataset was timed as ml100k
    mkdir -p "$W/bwrong" && cp -r "$D" "$W/bwrong/ml100k"
    check "mfrec_bench: a kept set of another shape is exit 1" \
        status 1 env MFREC_BENCH_DATA_DIR="$W/bwrong" "$BENCH" --benchmark_filter='^train/epoch/ml100k/owner/k:32/threads:1/' \
        --benchmark_min_time=0.01
    check "mfrec_bench: ... named, with the shapes" \
        grep -q "ml100k: $W/bwrong/ml100k holds 120 users x 90 items, 3000 ratings, not this set's 943 x 1682, 75000" "$W/out"
    check "mfrec_bench: ... a kept set of the right shape is used (exit 0)" \
        status 0 env MFREC_BENCH_DATA_DIR="$W/bdata" "$BENCH" --benchmark_filter='^train/epoch/ml100k/owner/k:32/threads:1/' \
        --benchmark_min_time=0.01
    # a run that ran nothing, or whose report was lost, exited 0
    B1=(--benchmark_filter='^kern/dot/ref/k:8$' --benchmark_min_time=0.01)
    check "mfrec_bench: a --benchmark_filter selecting nothing is exit 1" status 1 "$BENCH" --benchmark_filter=no_such_bench
    check "mfrec_bench: ... named" grep -q "error: --benchmark_filter='no_such_bench' selects no benchmark" "$W/out"
    check "mfrec_bench: a filter that does not compile is exit 1" status 1 "$BENCH" --benchmark_filter='('
    check "mfrec_bench: an unknown --benchmark_out_format is exit 1" \
        status 1 "$BENCH" "${B1[@]}" --benchmark_out="$W/b.json" --benchmark_out_format=jsn
    check "mfrec_bench: ... named" grep -q "error: --benchmark_out_format (or BENCHMARK_OUT_FORMAT) must be console, json or csv, got 'jsn'" "$W/out"
    # the library takes its flags from the environment too
    check "mfrec_bench: an unknown BENCHMARK_OUT_FORMAT is exit 1" \
        status 1 env BENCHMARK_OUT_FORMAT=jsn "$BENCH" "${B1[@]}" --benchmark_out="$W/b.json"
    check "mfrec_bench: a failed write of BENCHMARK_OUT is exit 1" \
        status 1 env BENCHMARK_OUT=/dev/full "$BENCH" "${B1[@]}"
    check "mfrec_bench: ... named" grep -q "error: cannot write --benchmark_out=/dev/full" "$W/out"
    check "mfrec_bench: BENCHMARK_OUT_FORMAT=csv with --benchmark_out writes CSV" \
        status 0 env BENCHMARK_OUT_FORMAT=csv "$BENCH" "${B1[@]}" --benchmark_out="$W/b.csv"
    check "mfrec_bench: ... its header line" grep -q '^name,iterations,' "$W/b.csv"
    for fmt in json console csv; do
        check "mfrec_bench: a failed write of --benchmark_out ($fmt) is exit 1" \
            status 1 "$BENCH" "${B1[@]}" --benchmark_out=/dev/full --benchmark_out_format=$fmt
        check "mfrec_bench: ... named" grep -q "error: cannot write --benchmark_out=/dev/full" "$W/out"
    done
    bench_full() { "$BENCH" "${B1[@]}" "$@" >/dev/full; }
    check "mfrec_bench: a failed write of standard output is exit 1" status 1 bench_full
    check "mfrec_bench: ... named" grep -q "error: cannot write standard output" "$W/out"
    check "mfrec_bench: a good run is exit 0, its --benchmark_out complete" \
        eval 'status 0 "$BENCH" "${B1[@]}" --benchmark_out="$W/b.json" &&
              python3 -c "import json, sys; assert len(json.load(open(sys.argv[1]))[\"benchmarks\"]) == 1" "$W/b.json"'
else
    echo "skip: mfrec_bench's SIGTERM (no benchmarks/mfrec_bench in the build)"
fi

# --- tools/sweep-16core: a MFREC that is not an executable file is exit 1
# (it ran tools/setup, built build/ and swept that binary instead); the
# binary swept is recorded in machine.txt. A copy in a tree whose setup is
# a stub that records its run; a fake mfrec whose synth makes u.data and
# whose sweep does nothing.
S16="$W/s16 tree"
mkdir -p "$S16/tools"
cp "$TOP/tools/sweep-16core" "$S16/tools/"
printf '#!/bin/sh\ntouch "%s/s16-setup"; exit 1\n' "$W" >"$S16/tools/setup"
cat >"$W/fake-mfrec" <<'FAKE'
#!/bin/sh
case $1 in
--version) echo "mfrec fake" ;;
synth) while [ $# -gt 0 ]; do [ "$1" = --out ] && mkdir -p "$2" && : >"$2/u.data"; shift; done ;;
esac
FAKE
chmod +x "$S16/tools/sweep-16core" "$S16/tools/setup" "$W/fake-mfrec"
s16() { # MFREC, then the arguments
    local m=$1
    shift
    env MFREC="$m" SKIP_LARGE=1 MFREC_DATA="$W/none" "$S16/tools/sweep-16core" "$@"
}
check "sweep-16core: a MFREC that does not exist is exit 1" status 1 s16 "$W/none/mfrec" "$W/s16 res"
check "sweep-16core: ... named" grep -q "^sweep-16core: MFREC=$W/none/mfrec is not an executable file" "$W/out"
check "sweep-16core: ... nothing set up, built or made" test ! -e "$W/s16-setup" -a ! -e "$W/s16 res"
check "sweep-16core: a MFREC that is a directory is exit 1" status 1 s16 "$W" "$W/s16 res"
check "sweep-16core: a fake sweep succeeds" status 0 s16 "$W/fake-mfrec" "$W/s16 res"
check "sweep-16core: ... machine.txt names the binary" grep -qx "binary: $W/fake-mfrec" "$W/s16 res/machine.txt"
check "sweep-16core: ... a relative MFREC by its absolute path" \
    eval '(cd "$W" && status 0 s16 fake-mfrec "$W/s16 res2") && grep -qx "binary: $W/fake-mfrec" "$W/s16 res2/machine.txt"'
# a failed sweep (checksums that differ) ended the script under set -e,
# "cat: NAME.status: No such file", the other sweeps not run; the fake's
# sweeps fail, bar the check of the knobs (its data does not exist)
cat >"$W/failing-mfrec" <<FAKE
#!/bin/sh
if [ "\$1" = sweep ]; then
    case "\$*" in *"/none "*) exit 1 ;; esac
    echo "checksums differ"
    exit 1
fi
exec "$W/fake-mfrec" "\$@"
FAKE
chmod +x "$W/failing-mfrec"
mkdir -p "$W/s16 ml" && : >"$W/s16 ml/u.data"
s16_ml() { env MFREC_DATA="$W/s16 ml" MFREC="$1" SKIP_LARGE=1 "$S16/tools/sweep-16core" "$2"; }
check "sweep-16core: failed sweeps are exit 1" status 1 s16_ml "$W/failing-mfrec" "$W/s16 res3"
check "sweep-16core: ... each named, the next one run" eval 'grep -q "^sweep-16core: synth-100k failed (exit status 1)" "$W/out" &&
    grep -q "^sweep-16core: ml-100k failed (exit status 1)" "$W/out" && grep -q "checksums differ" "$W/s16 res3/ml-100k.log"'
check "sweep-16core: ... no status file left" test ! -e "$W/s16 res3/synth-100k.status" -a ! -e "$W/s16 res3/ml-100k.status"
# Ctrl-C (SIGINT to the process group) during a sweep: the sweep reports
# its complete repeats and exits 3, and the script stops after it, exit 3.
# The script and its tee died at once: the sweep's report went into a
# closed pipe and failed (no CSV, the log cut short), and the script's
# status was the shell's 130. The fake sweep reports as mfrec's does: its
# words first, then its CSV.
cat >"$W/int-mfrec" <<FAKE
#!/bin/sh
if [ "\$1" = sweep ]; then
    case "\$*" in *"/none "*) exit 1 ;; esac
    while [ \$# -gt 0 ]; do [ "\$1" = --out ] && out=\$2; shift; done
    trap 'sleep 0.3; echo "reporting the completed repeats"; echo threads >"\$out"; exit 3' INT TERM
    : >"\$SIGNAL_READY"
    while :; do sleep 0.05; done
fi
exec "$W/fake-mfrec" "\$@"
FAKE
chmod +x "$W/int-mfrec"
s16_int() { # the script in a process group of its own, SIGINT to the group once the sweep runs
    (
        set -m
        env MFREC_DATA="$W/s16 ml" MFREC="$W/int-mfrec" SIGNAL_READY="$W/s16 ready" SKIP_LARGE=1 \
            "$S16/tools/sweep-16core" "$W/s16 res5" &
        p=$!
        for _ in $(seq 200); do [ -e "$W/s16 ready" ] && break; sleep 0.05; done
        kill -INT -- "-$p"
        wait "$p"
    )
}
check "sweep-16core: Ctrl-C during a sweep is exit 3" status 3 s16_int
check "sweep-16core: ... the sweep's report logged, its CSV written, the next sweep not run" \
    eval 'grep -q "^sweep-16core: stopped by SIGINT during synth-100k" "$W/out" &&
    grep -q "^reporting the completed repeats" "$W/s16 res5/synth-100k.log" && test -s "$W/s16 res5/synth-100k.csv" &&
    test ! -e "$W/s16 res5/ml-100k.log" -a ! -e "$W/s16 res5/synth-100k.status"'
# a THREADS, DIMS, EPOCHS_* or REPEAT that mfrec sweep refuses failed every
# sweep (exit 1), after the data sets were made: exit 2, before anything
rm -rf "$S16/data"
s16_knob() { (export "${1?}" && s16 "$MFREC" "$W/s16 res4"); }
for knob in THREADS=1,x DIMS=0 EPOCHS_SMALL=abc EPOCHS_LARGE=-1 REPEAT=1e9; do
    check "sweep-16core: $knob is exit 2" status 2 s16_knob "$knob"
    check "sweep-16core: ... named" grep -q "^sweep-16core: mfrec sweep: --[a-z]* must be" "$W/out"
    check "sweep-16core: ... before anything is made" test ! -e "$W/s16 res4" -a ! -e "$S16/data"
done

# --- tools/sweep-smoke and tools/checksum-table: usage errors before any work
check "sweep-smoke: two OUT_DIRs are exit 2" status 2 env MFREC="$MFREC" sh "$TOP/tools/sweep-smoke" "$W/s1" "$W/s2"
check "sweep-smoke: ... and nothing is made" test ! -e "$W/s1"
check "sweep-smoke: a missing binary is exit 1" status 1 env MFREC="$W/none/mfrec" sh "$TOP/tools/sweep-smoke" "$W/s1"
check "sweep-smoke: ... named, nothing made" \
    eval 'grep -q "^sweep-smoke: $W/none/mfrec not found" "$W/out" && test ! -e "$W/s1"'
check "sweep-smoke: a usage error comes first (exit 2)" \
    status 2 env MFREC="$W/none/mfrec" sh "$TOP/tools/sweep-smoke" "$W/s1" "$W/s2"
check "mpi-memory: no build named is exit 2" status 2 bash "$TOP/tools/mpi-memory" "$D" 1
check "mpi-memory: ... named in the message" grep -q "no build named" "$W/out"
check "mpi-memory: a REPS that is no number is exit 2" status 2 bash "$TOP/tools/mpi-memory" "$D" x "a=$MFREC"
# no arguments at all: a usage error (exit 2) naming the tool, not bash's
# "line N: 1: usage" and exit 1 of ${1:?}
check "mpi-memory: no arguments is exit 2" status 2 bash "$TOP/tools/mpi-memory"
check "mpi-memory: ... with the usage" grep -q "^usage: tools/mpi-memory" "$W/out"
check "mpi-bench: no arguments is exit 2" status 2 bash "$TOP/tools/mpi-bench"
check "mpi-bench: ... named" grep -q "^tools/mpi-bench: one argument" "$W/out"
check "sweep-ranks: no arguments is exit 2" status 2 bash "$TOP/tools/sweep-ranks"
check "sweep-ranks: ... named" grep -q "^sweep-ranks: the mfrec binary is required" "$W/out"
# no arguments, or no data: exit 2 naming the tool, not bash's "line N: 1:"
# and exit 1 of ${1:?}
check "checksum-table: no arguments is exit 2" status 2 bash "$TOP/tools/checksum-table"
check "checksum-table: ... named" grep -q "^checksum-table: MFREC_BIN and OUTDIR are required" "$W/out"
# no data, a missing binary or an unusable OUTDIR: runtime errors, exit 1
# (data was exit 2)
check "checksum-table: no DATA_DIR nor MFREC_DATA is exit 1" \
    status 1 env -u MFREC_DATA bash "$TOP/tools/checksum-table" "$MFREC" "$W/ck"
check "checksum-table: ... named" grep -q "^checksum-table: set MFREC_DATA or pass DATA_DIR" "$W/out"
check "checksum-table: a missing binary is exit 1" status 1 bash "$TOP/tools/checksum-table" "$W/none/mfrec" "$W/ck" "$D"
check "checksum-table: missing data is exit 1" status 1 bash "$TOP/tools/checksum-table" "$MFREC" "$W/ck" "$W/none"
check "checksum-table: ... named" grep -q "^checksum-table: no MovieLens 100K in $W/none" "$W/out"
touch "$W/a file"
check "checksum-table: an OUTDIR that cannot be made is exit 1" \
    status 1 bash "$TOP/tools/checksum-table" "$MFREC" "$W/a file/sub" "$D"
check "checksum-table: ... before any run" eval '! grep -q "rc=" "$W/out"'
check "checksum-table: the data directory as OUTDIR is exit 1" \
    status 1 bash "$TOP/tools/checksum-table" "$MFREC" "$D/." "$D"
check "checksum-table: ... and nothing is written there" test ! -e "$D/synth" -a ! -e "$D/nb-owner.1.mfr"
# an OUTDIR with '#' in its name (it was a sed delimiter) gives the plain
# OUTDIR's table; the synthetic set's models record its own path
ck() { bash "$TOP/tools/checksum-table" "$MFREC" "$1" "$D" 2>&1 | grep -v '^syn-'; }
ck "$W/ck#1" >"$W/ck1.txt"
ck "$W/ck2" >"$W/ck2.txt"
check "checksum-table: an OUTDIR with '#' gives the same table" cmp -s "$W/ck1.txt" "$W/ck2.txt"
check "checksum-table: ... of every configuration" test "$(wc -l <"$W/ck1.txt")" -eq 32
# a Ctrl-C: mfrec train takes SIGINT and exits 3, which bash took for a
# handled signal and went on (a row of rc=3, then every other run, exit 0).
# The fake train does the same (once: its later runs exit at once).
cat >"$W/int-mfrec" <<FAKE
#!/bin/sh
case "\$1" in synth) mkdir -p "\$3" && : >"\$3/u.data"; exit 0 ;; esac
[ -e "$W/int-done" ] && exit 0
trap ': >"$W/int-done"; exit 3' INT
: >"$W/started"
sleep 5
FAKE
chmod +x "$W/int-mfrec"
check "checksum-table: SIGINT stops the table, exit 130" \
    int_leaves_nothing bash "$TOP/tools/checksum-table" "$W/int-mfrec" "$W/ck int" "$D"
check "checksum-table: ... named, and no row after it" \
    eval 'grep -q "^checksum-table: stopped by SIGINT" "$W/out" && ! grep -q "rc=" "$W/out"'
# bench-reference: a Ctrl-C during a run (its first, PyTorch's, which the
# script runs with /usr/bin/python3) was KeyboardInterrupt's traceback
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    br_int() { (sleep 2 && : >"$W/started") & python3 "$TOP/tools/bench-reference" "$@"; }
    check "bench-reference: SIGINT is exit 130, no traceback, its temporary directory removed" \
        int_leaves_nothing br_int --mfrec "$MFREC" --data "$D" --threads 1 --runs 1 --torch-runs 1 --epochs 100000
    check "bench-reference: ... said" grep -q "^bench-reference: interrupted; no results written" "$W/out"
else
    echo "skip: bench-reference's SIGINT (no torch for /usr/bin/python3)"
fi
# reference: a Ctrl-C during its check of the train flags left the check's
# temporary directory. A tree as above whose mfrec is slow
RS="$W/ref slow"
mkdir -p "$RS/tools" "$RS/build/tools"
cp "$TOP/tools/reference" "$R/tools/setup" "$RS/tools/" && cp "$W/slow-mfrec" "$RS/build/tools/mfrec"
check "reference: SIGINT during the flag check removes its temporary directory" \
    int_leaves_nothing env -u MFREC_DATA PATH="$W/stub:$PATH" sh "$RS/tools/reference" --threads 1
check "reference: SIGTERM there too" \
    term_leaves_nothing env -u MFREC_DATA PATH="$W/stub:$PATH" sh "$RS/tools/reference" --threads 1
# bench-softmax-torch: a Ctrl-C was KeyboardInterrupt's traceback. A build
# whose mfrec is slow (its first run, the model's --epochs 0)
if command -v python3 >/dev/null 2>&1; then
    mkdir -p "$W/slow build/tools" && cp "$W/slow-mfrec" "$W/slow build/tools/mfrec"
    check "bench-softmax-torch: SIGINT is exit 130, no traceback, its temporary directory removed" \
        int_leaves_nothing python3 "$TOP/tools/bench-softmax-torch" --build "$W/slow build" --data "$D"
    check "bench-softmax-torch: ... said" grep -q "^bench-softmax-torch: interrupted; no results written" "$W/out"
fi

# --- tools/fuzz: SIGTERM stops the fuzzers too (its INT and TERM traps only
# removed the work directory: the script went on, and the fuzzers ran out
# their SECONDS into the removed directory). A copy in a tree whose setup,
# meson and fuzz targets are stubs; each target records its pid and sleeps.
F="$W/fuzz tree"
mkdir -p "$F/tools" "$F/build-fuzz/fuzz" "$F/fuzz/corpus/fuzz_a" "$F/fuzz/corpus/fuzz_b"
cp "$TOP/tools/fuzz" "$F/tools/" && cp "$W/stub/meson" "$F/tools/setup"
for t in fuzz_a fuzz_b; do
    echo seed >"$F/fuzz/corpus/$t/s"
    printf '#!/bin/sh\necho $$ >"%s/%s.pid"; touch "%s/started"; exec sleep 30\n' "$W" "$t" "$W" >"$F/build-fuzz/fuzz/$t"
done
chmod +x "$F/tools/setup" "$F"/build-fuzz/fuzz/*
check "fuzz: SIGTERM removes its work directory" \
    term_leaves_nothing env PATH="$W/stub:$PATH" sh "$F/tools/fuzz" --parallel 2 5
# running: a process that is there and not a zombie (PID 1 may reap late)
running() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null); [ -n "$st" ] && [ "${st#Z}" = "$st" ]; }
check "fuzz: ... and stops the fuzzers" eval '! running "$(cat "$W/fuzz_a.pid")" && ! running "$(cat "$W/fuzz_b.pid")"'
check "fuzz: ... and leaves no empty findings directory" test ! -e "$F/fuzz/findings"

# --- tools/perf-compare: SIGTERM cleans up as Ctrl-C does (it was killed
# with REV's git worktree registered and its temporary builds left). A copy
# in a repository of its own; a stub meson that sleeps is the build.
if [ -f /usr/share/benchmark/compare.py ] && command -v git >/dev/null 2>&1; then
    P="$W/pc/repo"
    mkdir -p "$P/tools" "$W/pc/bin" && cp "$TOP/tools/perf-compare" "$TOP/tools/perfstats.py" "$P/tools/"
    git -C "$P" init -q && git -C "$P" add . &&
        git -C "$P" -c user.email=t@t -c user.name=t commit -qm x
    printf '#!/bin/sh\ntouch "%s/started"; exec sleep 30\n' "$W" >"$W/pc/bin/meson"
    chmod +x "$W/pc/bin/meson"
    check "perf-compare: SIGTERM removes its temporary builds" \
        term_leaves_nothing env PATH="$W/pc/bin:$PATH" python3 "$P/tools/perf-compare" HEAD
    check "perf-compare: ... and REV's worktree" test "$(git -C "$P" worktree list | wc -l)" -eq 1
    # a Ctrl-C cleaned up too, but ended in KeyboardInterrupt's traceback
    check "perf-compare: SIGINT is exit 130, no traceback, its temporary builds removed" \
        int_leaves_nothing env PATH="$W/pc/bin:$PATH" python3 "$P/tools/perf-compare" HEAD
    check "perf-compare: ... said" grep -q "^perf-compare: interrupted; no verdict" "$W/out"
    check "perf-compare: ... and REV's worktree is gone" test "$(git -C "$P" worktree list | wc -l)" -eq 1
    # A fake tree: the "build" (a fake meson on PATH) copies the tree's
    # fake-bench and its speed file into the build directory, and records
    # the source tree it was set up for as meson does, in
    # meson-info/meson-info.json. The fake bench lists and "runs" two
    # benchmarks taking SPEED ns (plus 0.1% a run, so that no two tie) and
    # logs its directory and MFREC_BENCH_DATA_DIR to $W/pcf/runs.
    Q="$W/pcf/repo"
    mkdir -p "$Q/tools" "$Q/benchmarks" "$Q/src/data" "$Q/src/core" "$W/pcf/bin"
    cp "$TOP/tools/perf-compare" "$TOP/tools/perfstats.py" "$Q/tools/"
    echo 1000 >"$Q/speed"
    for f in benchmarks/bench_train.c src/data/synth.c src/core/rng_priv.h; do echo "/* $f */" >"$Q/$f"; done
    cat >"$Q/fake-bench" <<'FAKE'
#!/usr/bin/env python3
import json, os, re, sys
here = os.path.dirname(os.path.abspath(__file__))
args = dict(a.split("=", 1) if "=" in a else (a, "") for a in sys.argv[1:])
names = [n for n in ("BM_fake/1", "BM_fake/2") if re.search(args.get("--benchmark_filter", ""), n)]
if "--benchmark_list_tests" in args:
    if os.environ.get("FAKE_BENCH_CRASH"):
        sys.exit(134)
    print("\n".join(names))
    sys.exit(0)
with open(os.path.join(here, "count"), "a+") as f:
    f.seek(0)
    k = len(f.read())
    f.write(".")
with open(os.environ["FAKE_BENCH_LOG"], "a") as f:
    f.write(f"{here} {os.environ.get('MFREC_BENCH_DATA_DIR', '-')}\n")
with open(os.path.join(here, "speed")) as f:
    t = float(f.read()) * (1 + 0.001 * k)
with open(args["--benchmark_out"], "w") as f:
    if not os.environ.get("FAKE_BENCH_EMPTY"):
        json.dump({"context": {}, "benchmarks": [
            {"name": n, "run_name": n, "run_type": "iteration", "repetitions": 1, "repetition_index": 0,
             "threads": 1, "iterations": 100, "real_time": t, "cpu_time": t, "time_unit": "ns"}
            for n in names]}, f)
FAKE
    chmod +x "$Q/fake-bench"
    cat >"$W/pcf/bin/meson" <<'FAKE'
#!/bin/sh
echo "$*" >>"$FAKE_MESON_LOG"
case $1 in
setup)
    [ "$2" = --wipe ] && shift
    mkdir -p "$2/meson-info" "$2/benchmarks" && : >"$2/build.ninja" &&
        printf '{"directories": {"source": "%s", "build": "%s"}}\n' "$3" "$2" >"$2/meson-info/meson-info.json" ;;
compile)
    src=$(sed 's/.*"source": "\([^"]*\)".*/\1/' "$3/meson-info/meson-info.json")
    cp "$src/fake-bench" "$src/speed" "$3/benchmarks/" && mv "$3/benchmarks/fake-bench" "$3/benchmarks/mfrec_bench" ;;
esac
FAKE
    chmod +x "$W/pcf/bin/meson"
    git -C "$Q" init -q && git -C "$Q" add . && git -C "$Q" -c user.email=t@t -c user.name=t commit -qm x
    export FAKE_MESON_LOG="$W/pcf/meson.log" FAKE_BENCH_LOG="$W/pcf/runs"
    pcf() { # DIR (the repository of the copy to run), then its arguments
        local d=$1
        shift
        rm -f "$FAKE_MESON_LOG" "$FAKE_BENCH_LOG"
        env PATH="$W/pcf/bin:$PATH" python3 "$d/tools/perf-compare" HEAD --min-time 0.01 "$@"
    }
    one_line() {
        if [ "$(wc -l <"$W/out")" -ne 1 ] || grep -q Traceback "$W/out"; then sed 's/^/  | /' "$W/out"; return 1; fi
    }
    nothing_built() { test ! -e "$FAKE_MESON_LOG"; }
    # 1. a --repeat whose U test can never reach --alpha (it ran, and
    # exited 0 whatever the times)
    echo 25000 >"$Q/speed"
    check "perf-compare: --repeat 3 is exit 2 (its U test never reaches alpha 0.05)" status 2 pcf "$Q" --repeat 3
    check "perf-compare: ... said in one line" one_line
    check "perf-compare: ... naming --repeat, --alpha and the smallest p" \
        grep -q -e "--repeat 3 .*--alpha 0.05.* is 0.1 " "$W/out"
    check "perf-compare: ... before any build" nothing_built
    check "perf-compare: --repeat 2 is exit 2, p 0.333" status 2 pcf "$Q" --repeat 2
    check "perf-compare: ... named" grep -q "is 0.333 " "$W/out"
    check "perf-compare: --repeat 9 at --alpha 0.0003 is exit 2 (p 0.000412)" status 2 pcf "$Q" --alpha 0.0003
    check "perf-compare: a 25x slower tree at --repeat 4 is exit 1" status 1 pcf "$Q" --repeat 4
    check "perf-compare: ... both benchmarks named" grep -q "^2 benchmark(s) slower" "$W/out"
    check "perf-compare: --repeat 3 at --alpha 0.2 is allowed (exit 1)" status 1 pcf "$Q" --repeat 3 --alpha 0.2
    for a in "--alpha 0" "--alpha 1" "--alpha nan" "--alpha -0.1" "--threshold -0.01" "--threshold nan" "--threshold 5" "--min-time 0"; do
        # shellcheck disable=SC2086 # the option and its value
        check "perf-compare: $a is exit 2 before any build" eval 'status 2 pcf "$Q" $a && one_line && nothing_built'
    done
    if /usr/bin/python3 -c 'import scipy' 2>/dev/null; then
        # the bound is what compare.py's U test gives at its extreme
        check "perf-compare: its smallest p-values are scipy's mannwhitneyu's, n = 2..14" /usr/bin/python3 -c '
import sys, importlib.machinery, importlib.util
from scipy.stats import mannwhitneyu
ld = importlib.machinery.SourceFileLoader("pc", sys.argv[1])
pc = importlib.util.module_from_spec(importlib.util.spec_from_loader("pc", ld))
ld.exec_module(pc)
for n in range(2, 15):
    p = mannwhitneyu(list(range(n)), list(range(n, 2 * n)), alternative="two-sided").pvalue
    assert abs(pc.min_pvalue(n) - p) <= 1e-9 * p, (n, pc.min_pvalue(n), p)
' "$Q/tools/perf-compare"
    fi
    echo 1000 >"$Q/speed"
    # 3. setup mistakes are exit 2 in one line, no traceback (exit 1 is "slower")
    check "perf-compare: a --keep that is a file is exit 2" status 2 pcf "$Q" --keep "$W/a file"
    check "perf-compare: ... said in one line" one_line
    check "perf-compare: ... before any build" nothing_built
    check "perf-compare: a --filter matching nothing is exit 2" status 2 pcf "$Q" --filter no_such_bench
    check "perf-compare: ... named" grep -q "^perf-compare: --filter 'no_such_bench' matches no benchmark" "$W/out"
    check "perf-compare: ... no traceback" eval '! grep -q Traceback "$W/out"'
    check "perf-compare: ... before the second build or any run" \
        eval 'test "$(grep -c ^compile "$FAKE_MESON_LOG")" -eq 1 && test ! -e "$FAKE_BENCH_LOG"'
    pcf_crash() { FAKE_BENCH_CRASH=1 pcf "$@"; }
    check "perf-compare: a bench that fails before it lists anything is exit 2" \
        status 2 pcf_crash "$Q" --filter /2
    check "perf-compare: ... as a failed command, not as a filter matching nothing" \
        eval 'grep -q "^perf-compare: command failed: " "$W/out" && ! grep -q "matches no benchmark" "$W/out"'
    check "perf-compare: a --filter matching some runs them (exit 0)" status 0 pcf "$Q" --repeat 4 --filter /2
    pcf_empty() { FAKE_BENCH_EMPTY=1 pcf "$@"; }
    check "perf-compare: an empty benchmark result is exit 2" status 2 pcf_empty "$Q" --repeat 4
    check "perf-compare: ... naming the run, no traceback" \
        eval 'grep -q "^perf-compare: HEAD.s run 1/4: its result .*base-0.json is empty" "$W/out" && ! grep -q Traceback "$W/out"'
    # 3b. renamed benchmarks: compare.py compares only the names both trees
    # have, so with none in common (the working tree's 25x slower) it found
    # nothing slower and perf-compare said so, exit 0
    R3="$W/pcf/clone3"
    git clone -q "$Q" "$R3"
    echo 25000 >"$R3/speed"
    sed -i 's|"BM_fake/1", "BM_fake/2"|"BM_new/1", "BM_new/2"|' "$R3/fake-bench"
    check "perf-compare: no benchmark in common with REV is exit 2" status 2 pcf "$R3" --repeat 4
    check "perf-compare: ... no traceback" eval '! grep -q Traceback "$W/out"'
    check "perf-compare: ... named" grep -q "^perf-compare: HEAD and the working tree have no benchmark in common" "$W/out"
    check "perf-compare: ... before any run" test ! -e "$FAKE_BENCH_LOG"
    sed -i 's|"BM_new/1", "BM_new/2"|"BM_fake/1", "BM_new/2"|' "$R3/fake-bench"
    check "perf-compare: some benchmarks in common are compared (exit 1: slower)" status 1 pcf "$R3" --repeat 4
    check "perf-compare: ... the others named as not compared" \
        eval 'grep -q "1 benchmark(s) only in HEAD: BM_fake/2" "$W/out" &&
              grep -q "1 benchmark(s) only in the working tree: BM_new/2" "$W/out"'
    # 3c. a benchmark the working tree skips (error_occurred, real_time 0):
    # read as -100%, it passed as faster (exit 0)
    R4="$W/pcf/clone4"
    git clone -q "$Q" "$R4"
    sed -i 's|"time_unit": "ns"}|"time_unit": "ns", **({"error_occurred": True, "error_message": "lacks AVX2", "real_time": 0} if n == os.environ.get("FAKE_SKIP") else {})}|' "$R4/fake-bench"
    pcf_skip() { FAKE_SKIP=BM_fake/2 pcf "$@"; }
    check "perf-compare: a benchmark the working tree skips is exit 2" status 2 pcf_skip "$R4" --repeat 4
    check "perf-compare: ... named with its message" grep -q "BM_fake/2 (by the working tree: lacks AVX2)" "$W/out"
    check "perf-compare: ... no traceback" eval '! grep -q Traceback "$W/out"'
    # both trees' fake-bench skip it
    git -C "$R4" -c user.email=t@t -c user.name=t commit -qam skip
    check "perf-compare: one both trees skip is not compared (exit 0)" status 0 pcf_skip "$R4" --repeat 4
    check "perf-compare: ... and named" grep -q "1 benchmark(s) skipped by both trees: BM_fake/2" "$W/out"
    # one the working tree skips in its first run only: no steady result to
    # compare (it was named as skipped by both and compared on its other runs)
    R5="$W/pcf/clone5"
    git clone -q "$R4" "$R5"
    sed -i 's|if n == os.environ.get("FAKE_SKIP") else|if n == os.environ.get("FAKE_SKIP") and k == 0 else|' "$R5/fake-bench"
    check "perf-compare: a benchmark skipped in some runs of a tree only is exit 2" status 2 pcf_skip "$R5" --repeat 4
    check "perf-compare: ... named" grep -q "BM_fake/2 was skipped in 1 of 4 runs of the working tree" "$W/out"
    # 4. a relative --keep from outside the repository is the caller's
    # (git worktree add took it in the repository: failed, an empty directory left there)
    mkdir -p "$W/pcf/elsewhere"
    check "perf-compare: a relative --keep from outside the repository works" \
        eval '(cd "$W/pcf/elsewhere" && status 0 pcf "$Q" --repeat 4 --keep k)'
    check "perf-compare: ... its builds are there" test -x "$W/pcf/elsewhere/k/build-head/benchmarks/mfrec_bench"
    check "perf-compare: ... nothing is made in the repository" test ! -e "$Q/k"
    check "perf-compare: ... and REV's worktree is gone" test "$(git -C "$Q" worktree list | wc -l)" -eq 1
    # 5. the runs share the generated data: one MFREC_BENCH_DATA_DIR in
    # --keep for both trees while their generators are the same
    K="$W/pcf/keep"
    check "perf-compare: a run with --keep (exit 0)" status 0 pcf "$Q" --repeat 4 --keep "$K"
    same_data_dir() {
        awk '{ print $2 }' "$FAKE_BENCH_LOG" | sort -u >"$W/dirs"
        [ "$(wc -l <"$W/dirs")" -eq 1 ] && grep -q "^$K/bench-data/" "$W/dirs" && test -d "$(cat "$W/dirs")"
    }
    check "perf-compare: ... every run has one MFREC_BENCH_DATA_DIR, in --keep" same_data_dir
    # 2. --keep used from another clone: its builds were set up for the first
    # clone, and meson compile built that tree. The second clone's working
    # tree is 25x slower, and its bench_train.c differs.
    R2="$W/pcf/clone2"
    git clone -q "$Q" "$R2"
    echo 25000 >"$R2/speed"
    echo "/* changed */" >>"$R2/benchmarks/bench_train.c"
    check "perf-compare: a --keep used from another clone builds this clone (exit 1: slower)" \
        status 1 pcf "$R2" --repeat 4 --keep "$K"
    check "perf-compare: ... (its build is set up again, said)" grep -q "build-head was set up for $Q; setting it up again" "$W/out"
    check "perf-compare: ... with meson setup --wipe" grep -q "^setup --wipe $K/build-head $R2 " "$FAKE_MESON_LOG"
    check "perf-compare: ... and its build is this clone's" grep -qx 25000 "$K/build-head/benchmarks/speed"
    # 5. bench_train.c differs: the trees' data directories differ too
    check "perf-compare: ... each tree its own MFREC_BENCH_DATA_DIR (generators differ)" \
        eval 'test "$(grep "^$K/build-base/" "$FAKE_BENCH_LOG" | awk "{ print \$2 }" | sort -u | wc -l)" -eq 1 &&
              test "$(awk "{ print \$2 }" "$FAKE_BENCH_LOG" | sort -u | wc -l)" -eq 2'
else
    echo "skip: perf-compare's SIGTERM (no compare.py or git)"
fi

# --- tools/sweep-ranks: every argument checked before a run (a bad --repeats
# ran nothing and replaced --csv with a header alone, exit 1 "checksums
# differ (0 values)"; "--csv --" took "--" as the file)
echo "earlier results" >"$W/ranks.csv" && cp "$W/ranks.csv" "$W/ranks.before"
sr() { bash "$TOP/tools/sweep-ranks" "$MFREC" "$@"; }
check "sweep-ranks: a bad --repeats is exit 2" status 2 sr --csv "$W/ranks.csv" --repeats x -- --data "$D"
check "sweep-ranks: ... and --csv is kept" cmp -s "$W/ranks.before" "$W/ranks.csv"
check "sweep-ranks: --csv without a value is exit 2" status 2 sr --csv -- --data "$D"
check "sweep-ranks: ... named" grep -q "^sweep-ranks: --csv needs a value" "$W/out"
check "sweep-ranks: a rank count of 0 is exit 2" status 2 sr --csv "$W/ranks.csv" --ranks "1 0" -- --data "$D"
check "sweep-ranks: --csv in a missing directory is exit 1" status 1 sr --csv "$W/none/r.csv" -- --data "$D"
check "sweep-ranks: --csv that is a directory is exit 1" status 1 sr --csv "$W" -- --data "$D"
check "sweep-ranks: a usage error comes first (exit 2)" status 2 sr --csv "$W/none/r.csv" --repeats x -- --data "$D"
check "sweep-ranks: a missing binary is exit 1" status 1 bash "$TOP/tools/sweep-ranks" "$W/none/mfrec" --csv "$W/ranks.csv"
check "sweep-ranks: ... and --csv is kept" cmp -s "$W/ranks.before" "$W/ranks.csv"
# a fake mpirun: a run that prints no checksum (all-empty checksums compared
# equal) is exit 1; a rank count given twice runs once a repeat
mkdir -p "$W/fakempi" && cat >"$W/fakempi/mpirun" <<'FAKE'
#!/bin/sh
while [ "$1" != -np ]; do shift; done
echo "np $2" >>"$FAKE_MPI_LOG"
echo "epoch 1: 1.5 ms/epoch, done"
[ -n "${FAKE_MPI_NOSUM:-}" ] || echo "model checksum 0123abcd"
FAKE
chmod +x "$W/fakempi/mpirun"
export FAKE_MPI_LOG="$W/fakempi/log"
check "sweep-ranks: a rank count given twice runs once a repeat" \
    eval 'PATH="$W/fakempi:$PATH" sr --csv "$W/ranks2.csv" --ranks "2 1 2" --repeats 2 -- --data "$D" >/dev/null 2>&1 &&
          test "$(tr "\n" " " <"$FAKE_MPI_LOG")" = "np 2 np 1 np 2 np 1 "'
check "sweep-ranks: a run that prints no checksum is exit 1" \
    status 1 env FAKE_MPI_NOSUM=1 PATH="$W/fakempi:$PATH" bash "$TOP/tools/sweep-ranks" "$MFREC" --csv "$W/ranks.csv" --ranks 1 -- --data "$D"
check "sweep-ranks: ... named, and --csv is kept" \
    eval 'grep -q "^sweep-ranks: -np 1 printed no ms/epoch or model checksum" "$W/out" && cmp -s "$W/ranks.before" "$W/ranks.csv"'

# --csv an input of the runs: the rating file (it was replaced by the CSV
# after the runs), a hard link to it, a symbolic link, an --init-from array
cp "$D/u.data" "$W/u.data.before"
ln "$D/u.data" "$W/hard-u.data" && ln -s "$D/u.data" "$W/sym-u.data"
check "sweep-ranks: --csv the data's rating file is exit 1" \
    status 1 env PATH="$W/fakempi:$PATH" bash "$TOP/tools/sweep-ranks" "$MFREC" --csv "$D/u.data" --ranks 1 -- --data "$D"
check "sweep-ranks: ... named, and the file is kept" \
    eval 'grep -q "^sweep-ranks: --csv $D/u.data is one of the runs'"'"' inputs" "$W/out" && cmp -s "$W/u.data.before" "$D/u.data"'
check "sweep-ranks: --csv a hard link to it is exit 1" \
    status 1 env PATH="$W/fakempi:$PATH" bash "$TOP/tools/sweep-ranks" "$MFREC" --csv "$W/hard-u.data" --ranks 1 -- --data="$D"
check "sweep-ranks: --csv a new split file in the data directory is exit 1" \
    status 1 env PATH="$W/fakempi:$PATH" bash "$TOP/tools/sweep-ranks" "$MFREC" --csv "$D/u1.base" --ranks 1 -- --data "$D/u.data"
check "sweep-ranks: ... and it is not made" test ! -e "$D/u1.base"
check "sweep-ranks: --csv a symbolic link is exit 1" \
    status 1 env PATH="$W/fakempi:$PATH" bash "$TOP/tools/sweep-ranks" "$MFREC" --csv "$W/sym-u.data" --ranks 1 -- --data "$D"
check "sweep-ranks: --csv an --init-from array is exit 1" \
    status 1 env PATH="$W/fakempi:$PATH" bash "$TOP/tools/sweep-ranks" "$MFREC" --csv "$W/ranks.csv" --ranks 1 -- \
    --data "$D" --init-from "$W/u.npy,$W/ranks.csv"
check "sweep-ranks: ... the files are kept" eval 'cmp -s "$W/u.data.before" "$D/u.data" && cmp -s "$W/ranks.before" "$W/ranks.csv"'
rm -f "$W/hard-u.data" "$W/sym-u.data"
# sweep-ranks' dataset_file repeats tools/io_check.c's dataset_file_name
# by hand (a shell script cannot call it): every name there is one here
sr_names() {
    sed -n '/^static bool dataset_file_name/,/^}/p' "$TOP/tools/io_check.c" | sed -n '/names\[\] = {/,/};/p' |
        grep -o '"[^"]*"' | tr -d '"'
    printf '%s\n' u1.base u9.test .mfrec-cache .mfrec-cache-v9
}
sr_agree() {
    eval "$(sed -n '/^dataset_file() {/,/^}/p' "$TOP/tools/sweep-ranks")"
    local n c=0
    for n in $(sr_names); do
        c=$((c + 1))
        dataset_file "$n" || { echo "  sweep-ranks' dataset_file lacks $n"; return 1; }
    done
    [ "$c" -ge 21 ] || { echo "  only $c names read from tools/io_check.c"; return 1; }
    ! dataset_file m.mfr || { echo "  dataset_file takes m.mfr"; return 1; }
}
check "sweep-ranks: its dataset file names are tools/io_check.c's" sr_agree

# --- tools/mpi-bench: checked before the runs (its default data was the
# shared copy under /work/shared, where the runs write a dataset cache; a
# failed run printed an empty line and the bench went on, exit 0)
check "mpi-bench: a missing binary is exit 1" status 1 bash "$TOP/tools/mpi-bench" "$W/none/mfrec"
check "mpi-bench: missing data is exit 1" status 1 env MFREC_DATA="$W/none" bash "$TOP/tools/mpi-bench" "$MFREC"
check "mpi-bench: ... and named" grep -q "no MovieLens 100K in $W/none" "$W/out"
if command -v mpirun >/dev/null 2>&1; then
    check "mpi-bench: a failed run stops it (exit 1)" \
        status 1 env MFREC_DATA="$D" bash "$TOP/tools/mpi-bench" "$W/slow-mfrec"
    check "mpi-bench: ... and says which" grep -q "^tools/mpi-bench: single1 run 1 failed" "$W/out"
fi

# --- tools/tune-ranking: no settings is a usage error, named
tune() { MFREC=$MFREC sh "$TOP/tools/tune-ranking" ndcg "$@"; }
check "tune-ranking: a missing settings file is exit 1" status 1 tune "$W/none.txt"
check "tune-ranking: ... and named" grep -q "$W/none.txt is not a readable file of settings" "$W/out"
check "tune-ranking: a missing binary is exit 1" status 1 env MFREC="$W/none/mfrec" sh "$TOP/tools/tune-ranking" ndcg
check "tune-ranking: ... and named" grep -q "^tune-ranking: $W/none/mfrec not found" "$W/out"
printf '# only a comment\n' >"$W/settings.txt"
check "tune-ranking: a file of comments only is exit 1" status 1 tune "$W/settings.txt"
check "tune-ranking: ... said" grep -q "no settings in $W/settings.txt" "$W/out"
# an unknown preset failed every setting's row, exit 1: a usage error before any row
check "tune-ranking: an unknown preset is exit 2" status 2 eval 'printf "\n" | MFREC=$MFREC sh "$TOP/tools/tune-ranking" nope'
check "tune-ranking: ... named, before any row" \
    eval 'grep -q "^tune-ranking: mfrec eval: --preset must be .*nope" "$W/out" && ! grep -q "^|" "$W/out"'
check "tune-ranking: --help is exit 0" status 0 sh "$TOP/tools/tune-ranking" --help
check "tune-ranking: ... and prints the usage (it was taken for a preset)" grep -q "^Usage: tools/tune-ranking PRESET" "$W/out"
check "tune-ranking: ... its example too, not a bare 'Example:'" grep -q "| tools/tune-ranking ndcg\$" "$W/out"
check "tune-ranking: ... and none of the script" sh -c '! grep -q "set -eu" "$1"' _ "$W/out"
check "tune-ranking: an unknown option is exit 2" status 2 sh "$TOP/tools/tune-ranking" --presett ndcg
check "tune-ranking: ... named" grep -q "unknown option --presett" "$W/out"
if command -v python3 >/dev/null 2>&1; then
    # five folds of the tiny set (line x of u.data tests fold x % 5 + 1):
    # a row read from eval --folds --json, every column a number
    F="$W/folds"
    mkdir -p "$F" && cp "$D"/u.* "$F"/
    for f in 1 2 3 4 5; do
        awk -v f="$f" 'NR % 5 == f - 1' "$D/u.data" >"$F/u$f.test"
        awk -v f="$f" 'NR % 5 != f - 1' "$D/u.data" >"$F/u$f.base"
    done
    printf -- '--epochs 2 --dim 4\n' >"$W/quick.txt"
    tune_folds() { MFREC_DATA=$F MFREC=$MFREC sh "$TOP/tools/tune-ranking" ndcg "$@"; }
    check "tune-ranking: a setting's run is exit 0" status 0 tune_folds "$W/quick.txt"
    check "tune-ranking: ... its row holds the JSON's numbers" \
        grep -Eq '^\| `--epochs 2 --dim 4` \| [0-9.]+ ± [0-9.]+( \| [0-9.]+){4} \|$' "$W/out"
fi
# a failed setting's row names it as a row that ran does: an empty line
# is "(none)" (it was ``), flags without their blanks
printf '\n  --dim x  \n' >"$W/failing.txt"
failed_rows() { MFREC_DATA="$W/none" tune "$W/failing.txt"; }
check "tune-ranking: failed settings are exit 1" status 1 failed_rows
check "tune-ranking: ... an empty one named (none)" grep -q '^| (none) | failed: ' "$W/out"
check "tune-ranking: ... the others by their flags" grep -q '^| `--dim x` | failed: ' "$W/out"
check "tune-ranking: empty standard input is exit 1" status 1 tune </dev/null
check "tune-ranking: ... said" grep -q "no settings in standard input" "$W/out"

# --- every script in tools/: --help prints its usage and does nothing else
# (sweep-16core took --help for its results directory and started a build;
# lint, checksum-table and others ran or failed on it). Run from an empty
# directory with MFREC unset, so nothing can be built or written.
mkdir -p "$W/help" "$W/help-home"
for script in "$TOP"/tools/*; do
    [ -f "$script" ] && [ -x "$script" ] || continue
    name=${script##*/}
    case $(head -c 2 "$script") in '#!') ;; *) continue ;; esac
    check "$name: --help is exit 0" status 0 env -u MFREC -u MFREC_DATA HOME="$W/help-home" \
        sh -c 'cd "$1" && exec "$2" --help' _ "$W/help" "$script"
    check "$name: ... and says how to use it" grep -qi "usage" "$W/out"
    check "$name: ... and writes nothing" sh -c '[ -z "$(ls -A "$1")" ]' _ "$W/help"
done
check "sweep-16core: an option it does not know is exit 2, not a results directory" \
    status 2 env -u MFREC sh "$TOP/tools/sweep-16core" --results
check "lint: an argument is exit 2 (it takes none)" status 2 sh "$TOP/tools/lint" --fix

# --- the exit statuses every tools/ script shares (docs/RELIABILITY.md,
# "Exit codes"): 2 for the command line, said before anything is set up,
# built or run; 1 for what the disk holds (a missing build or data)
# tools/fuzz: an --only of no target was exit 2 after the whole build; a
# target the build lacks is a runtime error (it was 2). A copy in a tree
# whose setup records its run, one committed corpus, and a fake meson.
FZ="$W/fz tree"
mkdir -p "$FZ/tools" "$FZ/fuzz/corpus/fuzz_model" "$W/fz-stub"
cp "$TOP/tools/fuzz" "$FZ/tools/"
printf '#!/bin/sh\ntouch "%s/fz-setup"\n' "$W" >"$FZ/tools/setup"
printf '#!/bin/sh\nexit 0\n' >"$W/fz-stub/meson"
chmod +x "$FZ/tools/fuzz" "$FZ/tools/setup" "$W/fz-stub/meson"
fz() { env PATH="$W/fz-stub:$PATH" sh "$FZ/tools/fuzz" --build "$W/fz-build" "$@"; }
check "fuzz: an --only of no target is exit 2" status 2 fz --only fuzz_nope
check "fuzz: ... named with the targets" grep -q "^tools/fuzz: --only fuzz_nope: no such target (fuzz/corpus: fuzz_model)" "$W/out"
for args in "--only" "--keep --seeds" "--parallel 0" "x" "5 10"; do
    # shellcheck disable=SC2086 # options and their values
    check "fuzz: $args is exit 2" status 2 fz $args
    check "fuzz: ... before setup or the build" test ! -e "$W/fz-setup"
done
check "fuzz: two SECONDS are named" eval 'fz 5 10 >/dev/null 2>"$W/out"; grep -q "^tools/fuzz: one SECONDS argument, got .5. and .10.$" "$W/out"'
check "fuzz: an option without its value is named" eval 'fz --keep --seeds >/dev/null 2>"$W/out"; grep -q "^tools/fuzz: --keep needs a value" "$W/out"'
check "fuzz: a target the build lacks is exit 1" status 1 fz --only fuzz_model 1
check "fuzz: ... named" grep -q "^tools/fuzz: no target fuzz_model in $W/fz-build" "$W/out"
# the golden-file makers: a BUILD_DIR without mfrec was the shell's 127;
# arguments past BUILD_DIR were ignored. (Nothing is written: no build.)
for g in make-softmax-golden make-torch-golden; do
    check "$g: a BUILD_DIR without mfrec is exit 1" status 1 sh "$TOP/tools/$g" "$W/none"
    check "$g: ... named" grep -q "^$g: $W/none/tools/mfrec not found" "$W/out"
    check "$g: two BUILD_DIRs are exit 2" status 2 sh "$TOP/tools/$g" "$W/none" "$W/none2"
    check "$g: an unknown option is exit 2" status 2 sh "$TOP/tools/$g" --no-such-option
done
# tools/mpi-memory ran every run of a missing build or data (rows of rc=127
# or rc=1, exit 0); a build not named NAME=path ran as one named by its path
check "mpi-memory: a build that is not NAME=path is exit 2" status 2 bash "$TOP/tools/mpi-memory" "$D" 1 "$MFREC"
check "mpi-memory: ... named" grep -q "^tools/mpi-memory: a build is NAME=path/to/mfrec, got '$MFREC'" "$W/out"
check "mpi-memory: a missing build is exit 1" status 1 bash "$TOP/tools/mpi-memory" "$D" 1 "a=$W/none/mfrec"
check "mpi-memory: ... named, before any run" \
    eval 'grep -q "^tools/mpi-memory: a: $W/none/mfrec is not an executable file" "$W/out" && ! grep -q "rc=" "$W/out"'
check "mpi-memory: missing data is exit 1" status 1 bash "$TOP/tools/mpi-memory" "$W/none" 1 "a=$MFREC"
check "mpi-memory: ... named, before any run" \
    eval 'grep -q "^tools/mpi-memory: no data at $W/none" "$W/out" && ! grep -q "rc=" "$W/out"'

# --- the docs' count of the bad-input corpus is the corpus's (run.sh's rule:
# every line but blank ones and comments is a case); it said 423 at 438
corpus_cases() { grep -cv -e '^[[:space:]]*$' -e '^#' "$TOP/tests/bad-input/cases.txt"; }
check "RELIABILITY.md: the corpus count is cases.txt's ($(corpus_cases))" \
    grep -q "tests/bad-input/\` has $(corpus_cases) cases" "$TOP/docs/RELIABILITY.md"

if [ $fail -ne 0 ]; then echo "tools scripts: FAILED"; exit 1; fi
echo "tools scripts: all ok"
