#!/usr/bin/env bash
# e2e/fuzz_gguf.sh — a bounded libFuzzer run of the GGUF reader (FUZZ_GGUF_SECONDS, default 30).
exec bash "$(dirname "$0")/../fuzz/run_gguf.sh" "${FUZZ_GGUF_SECONDS:-30}"
