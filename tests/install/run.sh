#!/bin/bash
# tests/install/run.sh — the library as a product installed for other
# programs: its exported symbols and its headers compiled alone.
# Usage: run.sh BUILD_DIR SOURCE_DIR CC [CXX]
#   CC and CXX are commands (words separated by spaces).
set -u
build=$1 src=$2
read -ra cc <<<"$3"
read -ra cxx <<<"${4:-}"
# shellcheck source=tests/checks.sh
. "$(dirname "$0")/../checks.sh"
for t in nm readelf; do
    command -v "$t" >/dev/null || { echo "skip: $t not found"; exit 77; }
done
lib=$build/libmfrec.so

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
fi

exit "$fail"
