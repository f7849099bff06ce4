#!/usr/bin/env bash
# cluster.sh — distributed generation on loopback: broker + workers + client give exactly
# the single-process results in input order (user fields kept), backpressure with a tiny
# queue and window, CURVE admits listed clients and workers only, bad records and absent
# brokers are clean errors.
. "$(dirname "$0")/../lib.sh"
NREC=12
. "$(dirname "$0")/cluster.lib"
reference
check "reference: $NREC results" test "$(grep -c '"tokens"' "$TMP/ref.jsonl")" -eq $NREC

start_broker
start_worker; start_worker
check "two workers register" wait_ready 2
denoise --remote "$FRONT" -q --json < "$TMP/in.mp" > "$TMP/out.jsonl"
check "2 workers: identical to the single-process run, input order" cmp "$TMP/ref.jsonl" "$TMP/out.jsonl"
denoise --remote "$FRONT" -q --json --window 1 < "$TMP/in.mp" > "$TMP/out1.jsonl"
check "window 1: identical" cmp "$TMP/ref.jsonl" "$TMP/out1.jsonl"
# a bad record in the middle: the stage fails with the worker's data error (exit 1)
$PYTHON - "$TMP/in.mp" "$TMP/bad.mp" <<'PY'
import sys, msgpack
recs = list(msgpack.Unpacker(open(sys.argv[1], "rb"), raw=False))
recs.insert(2, {"kind": "tokens", "v": 1, "tokens": {"dtype": "i4", "shape": [2], "data": b"\x01\x00\x00\x00\xff\xff\x00\x00"}})
open(sys.argv[2], "wb").write(b"".join(msgpack.packb(r) for r in recs))
PY
check_exit 1 "bad record: exit 1" denoise --remote "$FRONT" -q --json < "$TMP/bad.mp"
check_stderr "bad record: names the record" '^denoise: error: record 2'
stop_broker
check "load balancing: both workers were given requests" \
    test "$(grep -Ec 'worker [01] \(2 slots\) was given [1-9]' "$BLOG")" -eq 2

# backpressure: the broker holds 2 requests, the client keeps 3 in flight
start_broker --queue 2
start_worker
wait_ready 1
denoise --remote "$FRONT" -q --json --window 3 < "$TMP/in.mp" > "$TMP/bp.jsonl"
check "queue 2, window 3: identical" cmp "$TMP/ref.jsonl" "$TMP/bp.jsonl"
stop_broker
for p in "${WPIDS[@]}"; do kill "$p" 2>/dev/null; done; WPIDS=()

# workers take the KV-cache options like the other sampler options (issue 12)
denoise $SAMP --cache dual --cache-refresh 4 --threads 1 -q --json < "$TMP/in.mp" > "$TMP/refc.jsonl"
start_broker
start_worker --cache dual --cache-refresh 4
wait_ready 1
denoise --remote "$FRONT" -q --json < "$TMP/in.mp" > "$TMP/outc.jsonl"
check "--cache dual worker: identical to the single-process cached run" cmp "$TMP/refc.jsonl" "$TMP/outc.jsonl"
check "--cache dual changes the answers of this model (the check can fail)" bash -c "! cmp -s $TMP/ref.jsonl $TMP/refc.jsonl"
stop_broker
for p in "${WPIDS[@]}"; do kill "$p" 2>/dev/null; done; WPIDS=()

# a broker without workers answers queued requests with an error after its --timeout
start_broker --timeout 700
check_exit 4 "broker without workers: exit 4" denoise --remote "$FRONT" -q --json < "$TMP/in.mp"
check_stderr "broker without workers: message" 'no worker connected to the broker for 700 ms'
stop_broker

# no broker: exit 4 after the timeout
check_exit 4 "no broker: exit 4" denoise --remote "tcp://127.0.0.1:9" --timeout 800 -q --json < "$TMP/in.mp"
check_stderr "no broker: message" 'broker tcp://127.0.0.1:9 silent for 800 ms'
check_exit 2 "broker without --backend: usage" denoise --broker tcp://127.0.0.1:0

# CURVE: broker admits alice (client) and w1 (worker); mallory is refused
( cd "$TMP" && remask --keygen broker -q && remask --keygen alice -q && remask --keygen w1 -q && remask --keygen mallory -q )
mkdir "$TMP/allow" && cp "$TMP/alice.pub" "$TMP/w1.pub" "$TMP/allow/"
start_broker --key "$TMP/broker.key" --allow "$TMP/allow"
start_worker --key "$TMP/w1.key" --server-key "$TMP/broker.pub"
check "CURVE: listed worker registers" wait_ready 1
denoise --remote "$FRONT" --key "$TMP/alice.key" --server-key "$TMP/broker.pub" -q --json < "$TMP/in.mp" > "$TMP/cv.jsonl"
check "CURVE: listed client gets identical results" cmp "$TMP/ref.jsonl" "$TMP/cv.jsonl"
check_exit 4 "CURVE: unknown client refused (exit 4)" denoise --remote "$FRONT" --key "$TMP/mallory.key" --server-key "$TMP/broker.pub" --timeout 1000 -q --json < "$TMP/in.mp"
check_exit 4 "CURVE: plaintext client refused (exit 4)" denoise --remote "$FRONT" --timeout 1000 -q --json < "$TMP/in.mp"
stop_broker
check "CURVE: the broker counted the refused handshakes" grep -Eq 'refused [1-9]' "$BLOG"

# the documented recipe: pipelines/cluster keys / broker / worker / run
CL=$LLADA_ROOT/pipelines/cluster
check "recipe: keys" "$CL" keys "$TMP/k" worker client
check "recipe: allow-list holds worker and client" test -f "$TMP/k/allow/worker.pub" -a -f "$TMP/k/allow/client.pub" -a ! -e "$TMP/k/allow/broker.pub"
PF=$(free_port) PB=$(free_port)
"$CL" broker --keys "$TMP/k" --bind 127.0.0.1 --front "$PF" --back "$PB" --heartbeat 200 2>"$TMP/rb.log" & PIDS+=($!)
"$CL" worker 127.0.0.1 --keys "$TMP/k" --back "$PB" $SAMP --threads 1 -q 2>/dev/null & PIDS+=($!)
BLOG=$TMP/rb.log
check "recipe: worker registers" wait_ready 1
"$CL" run 127.0.0.1 --keys "$TMP/k" --front "$PF" -q --json < "$TMP/in.mp" > "$TMP/recipe.jsonl"
check "recipe: identical results" cmp "$TMP/ref.jsonl" "$TMP/recipe.jsonl"
check_exit 2 "recipe: unknown command" "$CL" frobnicate
finish
