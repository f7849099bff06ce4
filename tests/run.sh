#!/usr/bin/env bash
# tests/run.sh — runs every suite and adds up their "N passed, N failed" lines.
#
# Suites: unit test binaries ($LLADA_UNIT/test_*), shell end-to-end tests (tests/e2e/*.sh),
# Python reference tests (tests/py/test_*.py). Each suite prints its own closing line
# "N passed, N failed"; a suite that dies without one counts as one failure.
# Select suites with TESTS='pattern' (a glob on the suite name).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
export LLADA_BIN=${LLADA_BIN:-$root/bin}
export LLADA_UNIT=${LLADA_UNIT:-$root/build/rel/tests}
export PYTHON=${PYTHON:-/usr/bin/python3}
export LLADA_ROOT=$root
export PATH="$LLADA_BIN:$PATH"
# tok's binary cache (tens of MB per large tokenizer.json) goes to a temporary folder removed at
# the end, not into ~/.cache, unless the caller chose one.
if [ -z "${LLADA_TOK_CACHE:-}" ]; then
    LLADA_TOK_CACHE=$(mktemp -d "${TMPDIR:-/tmp}/llada-tok-cache.XXXXXX") && export LLADA_TOK_CACHE
    trap 'rm -rf "$LLADA_TOK_CACHE"' EXIT
fi
pattern=${TESTS:-*}
total_pass=0 total_fail=0 failed_suites=()
run_suite() {  # name, command...
    local name=$1; shift
    case "$name" in $pattern) ;; *) return ;; esac
    local out rc line p f
    out=$(mktemp)
    printf '== %s\n' "$name"
    "$@" >"$out" 2>&1; rc=$?
    line=$(grep -E '^([A-Za-z]+: )?[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
    if [ -n "$line" ]; then
        p=$(sed -E 's/^([A-Za-z]+: )?([0-9]+) passed, ([0-9]+) failed.*/\2/' <<<"$line")
        f=$(sed -E 's/^([A-Za-z]+: )?([0-9]+) passed, ([0-9]+) failed.*/\3/' <<<"$line")
    else
        p=0 f=1
    fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    if [ "$f" -ne 0 ] || [ -n "${VERBOSE:-}" ]; then sed 's/^/   /' "$out" | tail -n 60; fi
    printf '   %s: %d passed, %d failed (exit %d)\n' "$name" "$p" "$f" "$rc"
    total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
    [ "$f" -ne 0 ] && failed_suites+=("$name")
    rm -f "$out"
}
for t in "$LLADA_UNIT"/test_*; do
    [ -x "$t" ] && run_suite "unit/$(basename "$t")" "$t"
done
for t in "$here"/e2e/*.sh; do
    [ -f "$t" ] && run_suite "e2e/$(basename "$t" .sh)" bash "$t"
done
for t in "$here"/py/test_*.py; do
    [ -f "$t" ] && run_suite "py/$(basename "$t" .py)" "$PYTHON" "$t"
done
[ ${#failed_suites[@]} -gt 0 ] && printf 'failed suites: %s\n' "${failed_suites[*]}"
printf '%d passed, %d failed\n' "$total_pass" "$total_fail"
[ "$total_fail" -eq 0 ]
