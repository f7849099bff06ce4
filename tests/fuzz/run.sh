#!/usr/bin/env bash
# tests/fuzz/run.sh [RUNS] — builds the libFuzzer target and runs it over the seed corpus for
# RUNS executions (default 200000); prints the execution count and "N passed, N failed".
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-200000}
cd "$root" && make -s fuzz >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
work=$(mktemp -d)
cp "$root"/tests/fuzz/corpus/* "$work"/ 2>/dev/null
log=$work/log
"$root/build/fuzz/fuzz_record" -runs="$runs" -max_total_time="${FUZZ_SECONDS:-60}" -max_len=4096 -rss_limit_mb=1024 "$work" >"$log" 2>&1; rc=$?
execs=$(grep -oE 'Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' | tail -n 1)
echo "fuzz_record: ${execs:-0} executions, exit $rc"
[ "$rc" -ne 0 ] && tail -n 30 "$log"
rm -rf "$work"
if [ "$rc" -eq 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; exit 1; fi
