#!/bin/bash
# run.sh — tools/fetch-movielens with the real files: a new directory, a
# verified one (also through a symbolic link), a partial copy completed,
# a damaged file named and kept, and (with zip installed) the zip path.
# Needs MovieLens 100K in $MFREC_DATA: skipped (77) without it.
set -u
FETCH=$1
if [[ -z ${MFREC_DATA:-} || ! -f $MFREC_DATA/u.data ]]; then
    echo "MFREC_DATA does not hold MovieLens 100K: skipped"
    exit 77
fi
# shellcheck source=tests/checks.sh
. "$(dirname "$0")/../checks.sh"
ok_all() { (cd "$1" && sha256sum --quiet -c "$(dirname "$FETCH")/ml-100k.sha256"); }

sh "$FETCH" --from "$MFREC_DATA" "$W/new" > "$W/out" 2>&1
check "a new directory is created and verified" ok_all "$W/new"
check "it says so" grep -q "ready (checksums verified)" "$W/out"
# verified: nothing is fetched (no --from: it would download otherwise)
sh "$FETCH" "$W/new" > "$W/out" 2>&1
check "a verified directory is left as it is" grep -q "is present and verified" "$W/out"
ln -s "$W/new" "$W/link"
check "a symbolic link to a verified directory is accepted" sh "$FETCH" "$W/link"
cp -r "$W/new" "$W/part"
rm "$W/part/u.item" "$W/part/u3.test"
touch "$W/part/.mfrec-cache"
check "a partial copy is completed" sh "$FETCH" --from "$MFREC_DATA" "$W/part"
check "and verifies" ok_all "$W/part"
check "its cache file is kept" test -e "$W/part/.mfrec-cache"
# a tampered source is refused, and nothing is made
mkdir "$W/bad src" && cp "$MFREC_DATA"/u* "$MFREC_DATA/README" "$W/bad src/"
echo "1	1	5	881250949" >>"$W/bad src/u.data"
sh "$FETCH" --from "$W/bad src" "$W/from bad" > "$W/out" 2>&1
rc=$?
check "a tampered u.data in --from is refused (exit 1)" test $rc -eq 1
check "and named" grep -q "^u.data: FAILED" "$W/out"
check "and no destination is made" test ! -e "$W/from bad"
cp -r "$W/new" "$W/dmg"
echo extra >> "$W/dmg/u.user"
sh "$FETCH" --from "$MFREC_DATA" "$W/dmg" > "$W/out" 2>&1
rc=$?
check "a damaged file is refused (exit 1)" test $rc -eq 1
check "and named" grep -q "dmg/u.user does not match" "$W/out"
check "and kept" grep -qx extra <(tail -n 1 "$W/dmg/u.user")
if command -v zip > /dev/null; then
    mkdir -p "$W/z/ml-100k" && cp "$MFREC_DATA"/u* "$MFREC_DATA/README" "$W/z/ml-100k/" && echo x > "$W/z/ml-100k/allbut.pl"
    (cd "$W/z" && zip -qr ../ml.zip ml-100k)
    printf '#!/bin/sh\necho tampered\n' >"$W/z/ml-100k/mku.sh" && echo "1,1,5,1" >"$W/z/ml-100k/ratings.csv"
    (cd "$W/z" && zip -qr ../ml.zip ml-100k)
    check "the zip path installs" sh "$FETCH" --from "$W/ml.zip" "$W/fromzip"
    # the zip's files without a checksum were installed beside the verified
    # ones ("ready (checksums verified)"): a tampered mku.sh, a ratings.csv
    # that makes the directory two datasets
    check "only the verified files are installed" \
        test "$(cd "$W/fromzip" && find . -mindepth 1 | sort | tr '\n' ' ')" = \
        "$(sed 's/^[0-9a-f]*  */.\//' "$(dirname "$FETCH")/ml-100k.sha256" | sort | tr '\n' ' ')"
    check "and nothing is left beside it" test -z "$(find "$W" -maxdepth 1 -name '.ml-100k.fetch.*')"
    rm "$W/fromzip/u.genre"
    check "the zip's extra files do not stop a completion" sh "$FETCH" --from "$W/ml.zip" "$W/fromzip"
    # a listed file held as a symbolic link is not taken (it is not the file)
    mkdir -p "$W/zl/ml-100k" && cp "$W/z/ml-100k"/* "$W/zl/ml-100k/"
    rm "$W/zl/ml-100k/u.info" && ln -s "$MFREC_DATA/u.info" "$W/zl/ml-100k/u.info"
    (cd "$W/zl" && zip -qry ../link.zip ml-100k)
    sh "$FETCH" --from "$W/link.zip" "$W/fromlink" > "$W/out" 2>&1
    rc=$?
    check "a zip whose u.info is a symbolic link is refused (exit 1)" test $rc -eq 1
    check "and nothing is made" test ! -e "$W/fromlink"
else
    echo "zip is not installed: the zip path is not checked here"
fi
exit $fail
