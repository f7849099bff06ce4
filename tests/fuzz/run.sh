#!/usr/bin/env bash
# tests/fuzz/run.sh [RUNS] [TARGET...] — builds the libFuzzer targets and runs each over its
# seed corpus for RUNS executions (default 200000; FUZZ_SECONDS caps each run, default 60);
# prints each target's execution count and "N passed, N failed" (one check per target).
# Targets (tests/fuzz/README.md): record model_files tokenizer remask_wire chat_template (default: all).
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
runs=${1:-200000}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(record model_files tokenizer remask_wire chat_template)
cd "$root" && make -s fuzz >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
pass=0 fail=0
for t in "${targets[@]}"; do
    case $t in
    record) maxlen=4096 ;;
    model_files) maxlen=8192 ;;
    tokenizer) maxlen=16384 ;;
    remask_wire) maxlen=4096 ;;
    chat_template) maxlen=8192 ;;
    *) echo "unknown target $t"; fail=$((fail + 1)); continue ;;
    esac
    work=$(mktemp -d)
    cp "$root/tests/fuzz/corpus/$t"/* "$work"/ 2>/dev/null
    log=$work/log
    "$root/build/fuzz/fuzz_$t" -runs="$runs" -max_total_time="${FUZZ_SECONDS:-60}" -max_len=$maxlen -rss_limit_mb=1024 \
        -timeout=10 -artifact_prefix="$work/" "$work" >"$log" 2>&1; rc=$?
    execs=$(grep -oE 'Done [0-9]+ runs' "$log" | grep -oE '[0-9]+' | tail -n 1)
    echo "fuzz_$t: ${execs:-0} executions, exit $rc"
    if [ "$rc" -eq 0 ]; then pass=$((pass + 1)); else
        fail=$((fail + 1)); tail -n 30 "$log"
        # keep the failing input for a regression test
        mkdir -p "$root/build/fuzz/crashes" && cp "$work"/crash-* "$work"/timeout-* "$work"/leak-* "$work"/oom-* "$root/build/fuzz/crashes/" 2>/dev/null
    fi
    rm -rf "$work"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
