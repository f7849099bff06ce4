#!/usr/bin/env bash
# e2e/fuzz.sh — bounded libFuzzer runs: the record decoder (FUZZ_RUNS, default 200000) and the
# checkpoint readers, tokenizer.json loader, remask wire format and chat-template interpreter
# (FUZZ_RUNS_OTHER, default 20000).
d=$(dirname "$0")/../fuzz
out=$(bash "$d/run.sh" "${FUZZ_RUNS:-200000}" record; bash "$d/run.sh" "${FUZZ_RUNS_OTHER:-20000}" model_files tokenizer remask_wire chat_template)
echo "$out" | grep -v 'passed, .* failed'
p=$(echo "$out" | grep -oE '^[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
f=$(echo "$out" | grep -oE '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
echo "$p passed, $f failed"
[ "$f" -eq 0 ]
