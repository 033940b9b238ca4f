#!/bin/bash
# run.sh — the bad-input corpus: runs every case of CASES and checks its
# exit status, the start of one of its stderr lines, and that it changed no
# file it was given and left no temporary file behind.
#
# usage: MFREC_BIN=path/to/mfrec run.sh CASES FILES_DIR
#
# A case is one line "RC | PREFIX | COMMAND": COMMAND is a bash snippet run
# in a fresh copy of a fixture (syn/: a small synthetic dataset, m.mfr: a
# model trained on it) with $M the mfrec binary, $F the corpus files and $R the repository;
# its last command's status must be RC, and a line of its stderr must start
# with PREFIX. Lines starting with '#' and blank lines are comments.
set -u
M=${MFREC_BIN:?set MFREC_BIN}
CASES=$1
R=$(cd "$(dirname "$CASES")/../.." && pwd) # the repository, for its tools/ scripts
export OMP_NUM_THREADS=1
W=$(mktemp -d)
trap 'chmod -R u+w "$W"; rm -rf "$W"' EXIT
# The corpus files, with FILE.in renamed to FILE: the repository holds no
# file named like a MovieLens file (u.data, u.item, ...), even made-up ones.
cp -a "$2" "$W/files" || { echo "cannot copy $2"; exit 1; }
find "$W/files" -name '*.in' -exec sh -c 'mv "$1" "${1%.in}"' _ {} \;
F=$W/files
S=$W/fixture
mkdir -p "$S"
"$M" synth --out "$S/syn" --users 50 --items 40 --ratings 800 --seed 1 >/dev/null &&
    "$M" train --data "$S/syn" --epochs 3 --out "$S/m.mfr" --quiet >/dev/null ||
    { echo "fixture failed"; exit 1; }

n=0 failed=0
while IFS= read -r line || [[ -n $line ]]; do
    [[ -z ${line//[[:space:]]/} || $line == \#* ]] && continue
    want=${line%%|*}; rest=${line#*|}
    prefix=${rest%%|*}; cmd=${rest#*|}
    want=${want//[[:space:]]/}
    prefix=${prefix#"${prefix%%[![:space:]]*}"}; prefix=${prefix%"${prefix##*[![:space:]]}"}
    prefix=${prefix//'$F'/$F}
    n=$((n + 1))
    T=$W/case$n
    cp -a "$S" "$T"
    (cd "$T" && find . -type f -print0 | sort -z | xargs -0 sha256sum) > "$T.sums"
    (cd "$T" && M=$M F=$F R=$R timeout 30 bash -c "$cmd") > "$T.out" 2> "$T.err" < /dev/null
    rc=$?
    why=""
    [[ $rc == "$want" ]] || why="exit $rc, expected $want"
    if [[ -z $why ]] && ! P=$prefix awk 'index($0, ENVIRON["P"]) == 1 { ok = 1 } END { exit !ok }' "$T.err"; then
        why="no stderr line starts with '$prefix'"
    fi
    if [[ -z $why ]] && ! (cd "$T" && sha256sum --quiet -c "$T.sums" >/dev/null 2>&1); then
        why="an input file of the fixture changed: $(cd "$T" && sha256sum --quiet -c "$T.sums" 2>&1 | head -3)"
    fi
    left=$(find "$T" -name '*.tmp*' -o -name '.mfrec-stage-*' 2>/dev/null | head -3)
    [[ -z $why && -n $left ]] && why="left behind: $left"
    if [[ -n $why ]]; then
        failed=$((failed + 1))
        echo "FAIL case $n: $cmd"
        echo "  $why"
        sed 's/^/  stderr: /' "$T.err" | head -5
    fi
    chmod -R u+w "$T" 2>/dev/null
    rm -rf "$T" "$T.sums" "$T.out" "$T.err"
done < "$CASES"
echo "$((n - failed)) of $n bad-input cases passed"
[[ $n -ge 60 && $failed == 0 ]]
