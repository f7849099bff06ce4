#!/usr/bin/env bash
# cluster_defaults.sh — issue 11 defect 1: with the bundled model and no sampler options, a
# 2-worker cluster writes exactly what a local run writes. The bundled model's
# generation_config.json sets block length 4 and temperature 0.8; a worker that ignored it
# sampled with one block and wrote different text. Also: the workers and the local run say
# where those values came from (one notice line), and -q silences it.
. "$(dirname "$0")/../lib.sh"
if [ ! -f "$LLADA_ROOT/models/default/config.json" ] || [ -n "${LLADA_MODEL:-}" ]; then
    echo "skip: no bundled model (or LLADA_MODEL set)"; finish; exit; fi
NREC=4
printf 'The capital of France is\nOnce upon a time\nIn the beginning\nHello\n' | tok -l > "$TMP/in.mp"
denoise --threads 1 --json < "$TMP/in.mp" > "$TMP/ref.jsonl" 2>"$TMP/local.err"
check "local run: $NREC results" test "$(grep -c '"reveal_step"' "$TMP/ref.jsonl")" -eq $NREC
check_eq "local run: one notice naming generation_config.json" \
    "denoise: block 4, T 0.8 (generation_config.json)" "$(cat "$TMP/local.err")"
check_eq "-q silences the notice" "" "$(denoise --threads 1 -q --gen-length 4 < "$TMP/in.mp" 2>&1 >/dev/null)"

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
free_port() { $PYTHON -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
FRONT=tcp://127.0.0.1:$(free_port) BACK=tcp://127.0.0.1:$(free_port) BLOG=$TMP/broker.log
denoise --broker "$FRONT" --backend "$BACK" --heartbeat 200 2>"$BLOG" & PIDS+=($!)
for w in 1 2; do   # no --model, no sampler options: what a user starting a worker types
    denoise --worker "$BACK" --threads 1 --batch 2 --heartbeat 200 2>"$TMP/worker$w.err" & PIDS+=($!)
done
for _ in $(seq 200); do [ "$(grep -c 'ready with' "$BLOG")" -ge 2 ] && break; sleep 0.05; done
check "two workers with the bundled model register" test "$(grep -c 'ready with' "$BLOG")" -ge 2
denoise --remote "$FRONT" -q --json < "$TMP/in.mp" > "$TMP/out.jsonl"
check "2-worker cluster, bundled model, no sampler options: identical to the local run" \
    cmp "$TMP/ref.jsonl" "$TMP/out.jsonl"
check "a worker says where its block length and temperature come from" \
    grep -qx 'denoise: block 4, T 0.8 (generation_config.json)' "$TMP/worker1.err"
# the same with an explicit --gen-length and --steps (still no block length or temperature)
denoise --threads 1 -q --json --gen-length 16 --steps 8 < "$TMP/in.mp" > "$TMP/ref16.jsonl"
kill "${PIDS[1]}" "${PIDS[2]}" 2>/dev/null
denoise --worker "$BACK" --threads 1 --batch 2 --heartbeat 200 --gen-length 16 --steps 8 -q & PIDS+=($!)
denoise --worker "$BACK" --threads 1 --batch 2 --heartbeat 200 --gen-length 16 --steps 8 -q & PIDS+=($!)
denoise --remote "$FRONT" -q --json < "$TMP/in.mp" > "$TMP/out16.jsonl"
check "cluster with --gen-length 16 --steps 8: identical to the local run" cmp "$TMP/ref16.jsonl" "$TMP/out16.jsonl"
finish
