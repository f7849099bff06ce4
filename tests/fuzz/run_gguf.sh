#!/usr/bin/env bash
# tests/fuzz/run_gguf.sh [SECONDS] — builds fuzz_gguf (the GGUF reader, issue 13) and runs it
# over the seed corpus (tests/fuzz/corpus/gguf, made by make_gguf_corpus.py) for SECONDS
# (default FUZZ_SECONDS or 60); prints the execution count and "N passed, N failed".
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-${FUZZ_SECONDS:-60}}
cd "$root" && make -s build/fuzz/fuzz_gguf >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
work=$(mktemp -d)
cp "$root"/tests/fuzz/corpus/gguf/* "$work"/
log=$work/log
nice -n 19 "$root/build/fuzz/fuzz_gguf" -max_total_time="$secs" -max_len=16384 -rss_limit_mb=1024 -timeout=10 -artifact_prefix="$work/" "$work" >"$log" 2>&1; rc=$?
execs=$(grep -oE 'Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' | tail -n 1)
echo "fuzz_gguf: ${execs:-0} executions in ${secs}s, exit $rc"
[ "$rc" -ne 0 ] && { tail -n 40 "$log"; mkdir -p "$root/build/fuzz/crashes"; cp "$work"/crash-* "$root/build/fuzz/crashes/" 2>/dev/null; }
rm -rf "$work"
if [ "$rc" -eq 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; exit 1; fi
