#!/usr/bin/env bash
# tests/fuzz/campaign.sh TARGET RUNS [SECONDS] — one long fuzzing run for the execution counts
# in tests/fuzz/COUNTS.md: the FUZZ_FAST=1 build (build/fuzz-fast/, UBSan without ASan) grows a
# working corpus in build/fuzz-work/TARGET (seeded from tests/fuzz/corpus/TARGET the first time,
# kept between runs) for RUNS executions or SECONDS (default 7200), under nice -n 19. Each run's log
# is a new file, build/fuzz/logs/TARGET-<UTC start>.log (never overwritten; the commit it ran on is
# its first line), a crashing input build/fuzz-work/TARGET-crash-*; build/fuzz-work/runs.txt
# gathers one line per run. FUZZ_TIMEOUT (default 10) is libFuzzer's -timeout, in wall-clock
# seconds: on a loaded machine under nice 19 a unit that takes 2.6 s of CPU can take 30 s
# (for merge, default 30). Afterwards
# `tests/fuzz/campaign.sh TARGET merge` replays the working corpus under the ASan+UBSan build and
# merges into tests/fuzz/corpus/TARGET the inputs that add coverage (-merge=1). Targets: record serve_request
# model_files tokenizer remask_wire gguf chat_template.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
t=${1:?target}; runs=${2:?runs or merge}; secs=${3:-7200}
case $t in
record | remask_wire) maxlen=4096 ;;
serve_request) maxlen=2048 ;;
model_files | chat_template) maxlen=8192 ;;
tokenizer | gguf) maxlen=16384 ;;
*) echo "campaign.sh: error: unknown target $t" >&2; exit 2 ;;
esac
extra=()
[ "$t" = serve_request ] && extra=(-dict="$root/tests/fuzz/serve_request.dict")
work=$root/build/fuzz-work/$t
cd "$root" || exit 3
if [ "$runs" = merge ]; then
    make -s "build/fuzz/fuzz_$t" >/dev/null || exit 1
    # replay every working input under ASan+UBSan first (a crash here is a defect the fast
    # build could not see), then minimise into the committed corpus
    ASAN_OPTIONS=quarantine_size_mb=16 "build/fuzz/fuzz_$t" -runs=0 -rss_limit_mb=2048 -timeout="${FUZZ_TIMEOUT:-30}" \
        -artifact_prefix="$work-asan-" "$work" >"$work.replay.log" 2>&1 || { tail -n 30 "$work.replay.log"; exit 1; }
    # the committed inputs (named seeds, regress-*) stay; working inputs that add coverage join
    before=$(ls "tests/fuzz/corpus/$t" | wc -l)
    "build/fuzz/fuzz_$t" -merge=1 -max_len=$maxlen -rss_limit_mb=2048 -timeout="${FUZZ_TIMEOUT:-30}" "tests/fuzz/corpus/$t" \
        "$work" >"$work.merge.log" 2>&1 || { tail -n 30 "$work.merge.log"; exit 1; }
    echo "$t: $before + $(( $(ls "tests/fuzz/corpus/$t" | wc -l) - before )) inputs," \
        "$(du -sk --apparent-size "tests/fuzz/corpus/$t" | cut -f1) KB"
    exit 0
fi
make -s FUZZ_FAST=1 "build/fuzz-fast/fuzz_$t" >/dev/null || exit 1
if [ ! -d "$work" ]; then mkdir -p "$work" && cp "tests/fuzz/corpus/$t"/* "$work"/; fi
start=$(date -u +%FT%TZ)
mkdir -p build/fuzz/logs
log=build/fuzz/logs/$t-$start.log
[ -e "$log" ] && { echo "campaign.sh: error: $log exists" >&2; exit 3; }
commit=$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD 2>/dev/null || echo +dirty)
echo "commit $commit timeout ${FUZZ_TIMEOUT:-10}" >"$log"
nice -n 19 "build/fuzz-fast/fuzz_$t" -runs="$runs" -max_total_time="$secs" -max_len=$maxlen \
    -rss_limit_mb=2048 -timeout="${FUZZ_TIMEOUT:-10}" -print_final_stats=1 -artifact_prefix="$work-" "${extra[@]}" \
    "$work" >>"$log" 2>&1; rc=$?
execs=$(grep -oE 'Done [0-9]+ runs in [0-9]+' "$log" | tail -n 1)
units=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -n 1)
echo "$t: $start .. $(date -u +%FT%TZ) on $commit: ${execs:-no Done line}, executed units ${units:-?}, exit $rc, log $log" |
    tee -a "$root/build/fuzz-work/runs.txt"
exit $rc
