#!/usr/bin/env bash
# e2e/fuzz.sh — a bounded libFuzzer run of the record decoder (FUZZ_RUNS, default 200000).
exec bash "$(dirname "$0")/../fuzz/run.sh" "${FUZZ_RUNS:-200000}"
