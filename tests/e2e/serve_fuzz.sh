#!/usr/bin/env bash
# e2e/serve_fuzz.sh — a bounded libFuzzer run (nice -n 19) of serve's request parser over the
# seed requests in tests/fuzz/corpus/serve_request with a JSON key dictionary: FUZZ_SECONDS (default
# 30) or FUZZ_RUNS (default 2000000), whichever ends first. Prints the execution count.
. "$(dirname "$0")/../lib.sh"
cd "$LLADA_ROOT" && make -s build/fuzz/fuzz_serve_request >/dev/null 2>"$TMP/build.log" ||
    { fail "build the serve request fuzzer" "$(tail -n 5 "$TMP/build.log")"; finish; exit 1; }
mkdir -p "$TMP/corpus" && cp tests/fuzz/corpus/serve_request/* "$TMP/corpus/"
nice -n 19 build/fuzz/fuzz_serve_request -runs="${FUZZ_RUNS:-2000000}" -max_total_time="${FUZZ_SECONDS:-30}" \
    -max_len=2048 -rss_limit_mb=1024 -timeout=10 -dict=tests/fuzz/serve_request.dict "$TMP/corpus" >"$TMP/log" 2>&1; rc=$?
execs=$(grep -oE 'Done [0-9]+ runs' "$TMP/log" | grep -oE '[0-9]+' | tail -n 1)
echo "fuzz_serve_request: ${execs:-0} executions in ${FUZZ_SECONDS:-30} s at most, corpus $(ls "$TMP/corpus" | wc -l) inputs, exit $rc"
[ "$rc" -ne 0 ] && tail -n 30 "$TMP/log"
check_eq "request parser fuzzing finds no crash, leak or bad result" 0 "$rc"
check "the fuzzer ran (${execs:-0} executions)" test "${execs:-0}" -gt 1000
finish
