# checks.sh — sourced by the shell tests (tests/fetch/run.sh,
# tests/tools/run.sh): a scratch directory $W, removed on exit, and
# `check NAME CMD...`, which runs CMD, prints "ok: NAME" or "FAIL: NAME",
# and sets fail=1 on a failure.
# shellcheck shell=bash disable=SC2034 # $fail is read by the sourcing test
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail=0
check() { # NAME, then a command whose status must be 0
    local name=$1
    shift
    if "$@"; then echo "ok: $name"; else echo "FAIL: $name"; fail=1; fi
}
