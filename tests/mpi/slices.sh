#!/bin/bash
# tests/mpi/slices.sh — each rank parses its slice of the rating file and
# the ranks write the user-ordered cache together (docs/MPI.md, "Each rank
# parsing its slice of a text file"): at -np 1..4 the cache's bytes equal
# the whole-dataset writer's (tests/mpi/users_cache.c) and the model bytes
# one process's, for u.data, a delimited file with a header line and
# ratings.csv (with a movies.csv id no rating uses); a malformed line, a
# rating out of range, a blank line (inside a slice, and ending rank 2's
# slice before rank 3's ratings) and a duplicate whose two ratings lie in
# rank 0's and rank 3's slices are refused with one process's message on
# every rank and no cache file left; a file of a few long lines puts the
# slice boundaries inside lines at -np 4.
# usage: MFREC_BIN=mfrec MFREC_USERS_CACHE=users_cache slices.sh MPI_BUILT(true|false)
# Exit 77 (meson: skipped) without an MPI build or without mpirun.
. "$(dirname "$0")/common.sh" "${1:-false}" slices
U=${MFREC_USERS_CACHE:?set MFREC_USERS_CACHE}

# The three layouts, from one synthetic set (8000 ratings, 200 users).
"$M" synth --users 200 --items 120 --ratings 8000 --rank 4 --seed 5 --out "$T/u" >/dev/null || exit 1
mkdir -p "$T/d" "$T/c"
{ echo "user;item;rating"; awk -F'\t' '{ print $1 ";" $2 ";" $3 }' "$T/u/u.data"; } >"$T/d/r.txt"
{ echo "userId,movieId,rating,timestamp"
  awk -F'\t' '{ r = $3 - ($1 % 2) * 0.5; if (r < 0.5) r = 0.5; print $1 "," $2 "," r "," $4 }' "$T/u/u.data"; } \
    >"$T/c/ratings.csv"
{ echo "movieId,title,genres"; for i in $(seq 1 120) 5000; do echo "$i,Movie $i (1999),Drama|Comedy"; done; } \
    >"$T/c/movies.csv"

# The cache's bytes at -np 1..4 against the whole-dataset writer's.
same_cache() { # DATA TAG [NP...]
    local data=$1 tag=$2 p
    shift 2
    "$U" whole "$data" "$T/ref-$tag" || { bad "$tag: the whole-dataset writer failed"; return; }
    for p in "$@"; do
        rm -f "$T/got-$tag"
        if ! timeout 120 "${MPIRUN[@]}" -np "$p" "$U" ranks "$data" "$T/got-$tag" >"$T/log" 2>&1; then
            bad "$tag: -np $p failed:"; tail -3 "$T/log"
        elif cmp -s "$T/ref-$tag" "$T/got-$tag"; then echo "ok: $tag: -np $p: the ranks' cache has the whole-dataset writer's bytes"
        else bad "$tag: -np $p: the ranks' cache differs from the whole-dataset writer's"; fi
    done
}
same_cache "$T/u" u.data 1 2 3 4
same_cache "$T/d/r.txt" delimited 1 2 3 4
same_cache "$T/c" ratings.csv 1 2 3 4

# Training: the cache written by the ranks (none before), one process's model.
for spec in "$T/u:$T/u:u.data" "$T/d/r.txt:$T/d:delimited" "$T/c:$T/c:ratings.csv"; do
    IFS=: read -r data dir tag <<<"$spec"
    tr=(train --data "$data" --shards 7 --epochs 3 --bias --quiet --threads 1)
    "$M" "${tr[@]}" --data-cache never --out "$T/one.bin" >/dev/null || { bad "$tag: one process"; continue; }
    for p in 2 3 4; do
        rm -f "$dir"/.mfrec-cache*
        if ! timeout 120 "${MPIRUN[@]}" -np $p "$M" "${tr[@]}" --out "$T/p.bin" >"$T/log" 2>&1; then
            bad "$tag: mpirun -np $p failed:"; tail -3 "$T/log"
        elif ! cmp -s "$T/one.bin" "$T/p.bin"; then bad "$tag: -np $p: model differs from one process's"
        elif ! cmp -s "$dir/.mfrec-cache.users" "$T/ref-$tag"; then
            bad "$tag: -np $p: the cache train wrote differs from the whole-dataset writer's"
        else echo "ok: $tag: mpirun -np $p train: one process's model bytes, the whole-dataset writer's cache"; fi
    done
done

# Errors: one process's message on every rank, no cache file. A broken copy
# of u.data (8000 lines of about 18 bytes; at -np 4 rank 2 parses about
# lines 4000..6000, rank 3 the rest).
refuse() { # TAG: $T/e holds the broken data
    local tag=$1 want got
    want=$("$U" whole "$T/e" "$T/e-ref" 2>&1 >/dev/null) && { bad "$tag: one process accepted it"; return; }
    want=${want#error: }
    rm -f "$T/e-got"*
    if timeout 120 "${MPIRUN[@]}" -np 4 "$U" ranks "$T/e" "$T/e-got" >"$T/log" 2>&1; then
        bad "$tag: -np 4 accepted it"; return
    fi
    got=$(grep -c -F -x -e "rank 0: error: $want" -e "rank 1: error: $want" -e "rank 2: error: $want" \
        -e "rank 3: error: $want" "$T/log")
    if [ "$got" -ne 4 ]; then bad "$tag: not every rank gave one process's message '$want':"; cat "$T/log"
    elif ls "$T"/e-got* >/dev/null 2>&1; then bad "$tag: a cache file was left: $(ls "$T"/e-got*)"
    else echo "ok: $tag refused on every rank with one process's message: $want"; fi
    # ... and by train under mpirun (non-zero, the message, no cache beside the data)
    rm -f "$T"/e/.mfrec-cache*
    if timeout 120 "${MPIRUN[@]}" -np 4 "$M" train --data "$T/e" --shards 7 --epochs 1 --quiet --out "$T/e.bin" \
        >"$T/log" 2>&1; then bad "$tag: mpirun train accepted it"
    elif ! grep -q -F "error: $want" "$T/log"; then bad "$tag: mpirun train: no '$want'"; tail -3 "$T/log"
    elif ls "$T"/e/.mfrec-cache* >/dev/null 2>&1 || [ -e "$T/e.bin" ]; then bad "$tag: mpirun train left a file"
    else echo "ok: $tag: mpirun -np 4 train fails with the message, no cache file"; fi
}
broken() { # AWK-PROGRAM over u.data
    rm -rf "$T/e"
    cp -r "$T/u" "$T/e"
    rm -f "$T"/e/.mfrec-cache*
    awk -F'\t' "$1" "$T/u/u.data" >"$T/e/u.data"
}
broken 'NR == 4800 { print "12\tabc\t3\t0"; next } { print }'
refuse "a malformed line (line 4800, rank 2's slice)"
broken 'NR == 6800 { print $1 "\t" $2 "\t9\t" $4; next } { print }'
refuse "a rating out of range (line 6800, rank 3's slice)"
broken '{ print } NR == 4800 { print "" }'
refuse "a blank line inside rank 2's slice (line 4801)"
# 50000 blank lines after line 6000: rank 2's slice ends blank, rank 3's
# starts blank and has the ratings after them
broken '{ print } NR == 6000 { for (k = 0; k < 50000; k++) print "" }'
refuse "blank lines ending rank 2's slice before rank 3's ratings (line 6001)"
broken 'NR == 10 { u = $1; i = $2 } { print } NR == 6800 { print u "\t" i "\t1\t0" }'
refuse "a duplicate of line 10 (rank 0's slice) on line 6801 (rank 3's)"

# Long lines: at -np 4 the slice boundaries fall inside lines (8 lines of
# 5000 bytes; spaces around fields are trimmed in the delimited format).
mkdir -p "$T/l"
sp=$(printf '%5000s' '')
for u in 1 2 3 4 5 6 7 8; do echo "$u,${sp}$((u % 3 + 1)),$((u % 5 + 1))"; done >"$T/l/r.txt"
same_cache "$T/l/r.txt" long-lines 1 2 3 4

exit $fail
