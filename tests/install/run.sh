#!/bin/bash
# tests/install/run.sh — the library as a product installed for other
# programs: its exported symbols, its headers compiled alone, and a program
# built against an install through pkg-config alone.
# Usage: run.sh BUILD_DIR SOURCE_DIR MESON CC [CXX]
#   MESON, CC and CXX are commands (words separated by spaces). The test
#   program gets the sanitizers the library was built with.
set -u
build=$1 src=$2
read -ra meson <<<"$3"
read -ra cc <<<"$4"
read -ra cxx <<<"${5:-}"
# shellcheck source=tests/checks.sh
. "$(dirname "$0")/../checks.sh"
here=$(cd "$(dirname "$0")" && pwd)
for t in nm readelf; do
    command -v "$t" >/dev/null || { echo "skip: $t not found"; exit 77; }
done
lib=$build/libmfrec.so
san=()
undef=$(nm -D --undefined-only "$lib")
for s in address:asan undefined:ubsan thread:tsan; do
    case $undef in *" __${s#*:}_"*) san+=("-fsanitize=${s%:*}") ;; esac
done

# Every exported symbol is a function named mfr_*: no internal function,
# no compiler-made global (a named OpenMP critical section's lock).
others=$(nm -D --defined-only "$lib" | awk '$2 != "T" || $3 !~ /^mfr_/')
check "only mfr_ functions exported" test -z "$others"
[ -z "$others" ] || echo "$others"
check "soname libmfrec.so.0" sh -c "readelf -d '$lib' | grep -q 'SONAME.*\[libmfrec\.so\.0\]'"

# Each installed header compiles alone, pedantic, as C99, C11, C17 and C++.
for h in mfrec.h mfrec_softmax.h; do
    for std in c99 c11 c17; do
        check "$h alone as $std" "${cc[@]}" -std=$std -Wall -Wextra -pedantic -Werror \
            -fsyntax-only -I"$src/include" -x c - <<<"#include <$h>"
    done
    if [ ${#cxx[@]} -gt 0 ]; then
        check "$h alone as C++11" "${cxx[@]}" -std=c++11 -Wall -Wextra -pedantic -Werror \
            -fsyntax-only -I"$src/include" -x c++ - <<<"#include <$h>"
    fi
done
# Their doc comments are valid for clang's -Wdocumentation (a "<u, v>" reads
# as an HTML tag, "@k" as a command), which projects that include them use.
if command -v clang >/dev/null; then
    for h in mfrec.h mfrec_softmax.h; do
        check "$h clean under clang -Wdocumentation" clang -std=c11 -Wdocumentation \
            -Wdocumentation-unknown-command -Werror -fsyntax-only -I"$src/include" -x c - \
            <<<"#include <$h>"
    done
else
    # said, not silent: tools/setup installs clang only for --fuzz and
    # --tsan, so .ci/run's gcc builds run this test without it
    echo "note: clang not found, the headers' -Wdocumentation check is left out"
fi

# An install into a scratch root: the public headers only, the library
# with its links, mfrec.pc; a program built with `pkg-config --cflags
# --libs mfrec` and nothing else runs.
inst=$W/root
check "meson install" "${meson[@]}" install -C "$build" --no-rebuild --quiet --destdir "$inst"
headers=$(find "$inst" -name '*.h' -printf '%f\n' | sort | tr '\n' ' ')
case $headers in
'mfrec.h mfrec_softmax.h ' | 'mfrec.h mfrec_mpi.h mfrec_softmax.h ') ok=true ;;
*) ok=false ;;
esac
check "installed headers: the public ones only ($headers)" $ok
pc=$(find "$inst" -name mfrec.pc)
if [ -z "$pc" ]; then
    check "mfrec.pc installed" false
elif ! command -v pkg-config >/dev/null; then
    echo "skip: pkg-config not found, the program is not built"
    untested=true
else
    export PKG_CONFIG_SYSROOT_DIR=$inst PKG_CONFIG_PATH=${pc%/*}
    ver=$(pkg-config --modversion mfrec)
    check "pkg-config's version $ver is MFR_VERSION_STRING" \
        grep -q "^#define MFR_VERSION_STRING \"$ver\"" "$src/include/mfrec.h"
    read -ra flags <<<"$(pkg-config --cflags --libs mfrec)"
    check "a program builds against the install" "${cc[@]}" -std=c11 -Wall -Wextra -Werror \
        "${san[@]}" -o "$W/prog" "$here/prog.c" "${flags[@]}"
    check "it runs: synthesize, load, train, save, reload, recommend" \
        env LD_LIBRARY_PATH="$(dirname "$(find "$inst" -name libmfrec.so)")" "$W/prog" "$W/data"
fi
# a part left out is a skip, not a pass (the rest still fails the test)
[ "$fail" = 0 ] && [ "${untested:-false}" = true ] && exit 77
exit "$fail"
