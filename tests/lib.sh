# tests/lib.sh — helpers for shell end-to-end tests (source it; call `finish` at the end).
#   check NAME CMD...            passes when CMD exits 0
#   check_exit CODE NAME CMD...  passes when CMD exits CODE; stderr kept in $ERR_FILE
#   check_eq NAME EXPECTED ACTUAL
#   check_stderr NAME REGEX      last check_exit's stderr matches REGEX (grep -E)
#   finish                       prints "N passed, N failed", exits 1 on failures
set -u
: "${LLADA_BIN:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/bin}"
: "${LLADA_ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${PYTHON:=/usr/bin/python3}"
export PATH="$LLADA_BIN:$PATH"
T_PASS=0 T_FAIL=0
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# run alone (not from tests/run.sh): tok's binary cache into $TMP, not ~/.cache
[ -n "${LLADA_TOK_CACHE:-}" ] || export LLADA_TOK_CACHE=$TMP/tok-cache
ERR_FILE=$TMP/.stderr
pass() { T_PASS=$((T_PASS + 1)); printf 'ok - %s\n' "$1"; }
fail() { T_FAIL=$((T_FAIL + 1)); printf 'not ok - %s%s\n' "$1" "${2:+: $2}"; }
check() { local n=$1; shift; if "$@" >/dev/null 2>"$ERR_FILE"; then pass "$n"; else fail "$n" "exit $? $(head -c 300 "$ERR_FILE")"; fi; }
check_exit() {
    local want=$1 n=$2; shift 2
    "$@" >/dev/null 2>"$ERR_FILE"; local rc=$?
    if [ "$rc" -eq "$want" ]; then pass "$n"; else fail "$n" "exit $rc, want $want: $(head -c 300 "$ERR_FILE")"; fi
}
check_eq() { if [ "$2" == "$3" ]; then pass "$1"; else fail "$1" "expected [$2] got [$3]"; fi; }
check_stderr() { if grep -Eq -- "$2" "$ERR_FILE"; then pass "$1"; else fail "$1" "stderr [$(head -c 300 "$ERR_FILE")] !~ /$2/"; fi; }
finish() { printf '%d passed, %d failed\n' "$T_PASS" "$T_FAIL"; [ "$T_FAIL" -eq 0 ]; }
