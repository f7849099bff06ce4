#!/usr/bin/env bash
# cluster_faults.sh — the failure guarantees of the broker: with three workers, kill -9 one
# while it holds requests -> every result arrives exactly once and equals the
# single-process result; SIGSTOP one -> its missed heartbeats move its work, its late
# answers after SIGCONT are dropped, and the output is still exact.
. "$(dirname "$0")/../lib.sh"
NREC=30
. "$(dirname "$0")/cluster.lib"
reference
exactly_once() {  # every input id once, in order, with the reference's tokens
    $PYTHON - "$TMP/ref.jsonl" "$1" "$NREC" <<'PY'
import json, sys
ref = [json.loads(l) for l in open(sys.argv[1]) if '"tokens"' in l]
out = [json.loads(l) for l in open(sys.argv[2]) if '"tokens"' in l]
assert [r["id"] for r in out] == list(range(int(sys.argv[3]))), [r["id"] for r in out]
assert out == ref
PY
}

# kill -9 in the middle of a batch
start_broker
start_worker; start_worker; start_worker
check "three workers register" wait_ready 3
denoise --remote "$FRONT" -q --json < "$TMP/in.mp" > "$TMP/k.jsonl" & CPID=$!
check "kill -9: the victim is generating" wait_busy "${WPIDS[1]}"
kill -9 "${WPIDS[1]}"
wait $CPID; rc=$?
check_eq "kill -9: client exit status" 0 "$rc"
check "kill -9: every result exactly once, equal to the single-process run" exactly_once "$TMP/k.jsonl"
check "kill -9: output byte-identical to the single-process run" cmp "$TMP/ref.jsonl" "$TMP/k.jsonl"
stop_broker
check "kill -9: the broker declared the worker dead and re-dispatched its requests" \
    grep -Eq 're-dispatched [1-9]' "$BLOG"
for p in "${WPIDS[@]}"; do kill "$p" 2>/dev/null; done; WPIDS=()

# SIGSTOP: heartbeats stop, work moves; after SIGCONT its stale answers are dropped
start_broker
start_worker; start_worker; start_worker
check "three workers register again" wait_ready 3
t0=$(date +%s%N)
denoise --remote "$FRONT" -q --json < "$TMP/in.mp" > "$TMP/s.jsonl" & CPID=$!
check "SIGSTOP: the victim is generating" wait_busy "${WPIDS[0]}"
kill -STOP "${WPIDS[0]}"
wait $CPID; rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check_eq "SIGSTOP: client exit status" 0 "$rc"
check "SIGSTOP: every result exactly once, equal to the single-process run" exactly_once "$TMP/s.jsonl"
check "SIGSTOP: finished in under 15 s (${ms} ms)" test "$ms" -lt 15000
kill -CONT "${WPIDS[0]}"
sleep 0.5
stop_broker
check "SIGSTOP: detected by missed heartbeats" grep -q 'missed its heartbeats' "$BLOG"
check "SIGSTOP: its requests were re-dispatched" grep -Eq 're-dispatched [1-9]' "$BLOG"
for p in "${WPIDS[@]}"; do kill -9 "$p" 2>/dev/null; done; WPIDS=()

# a worker alive but stuck: its remask service is SIGSTOPped mid-generation; after
# --timeout the worker gives up (exit 4) and the broker moves its requests
remask --serve 'tcp://127.0.0.1:*' 2>"$TMP/rm.log" & RPID=$!; PIDS+=($RPID)
for _ in $(seq 100); do grep -q serving "$TMP/rm.log" && break; sleep 0.05; done
REP=$(sed -n 's/.* on \(tcp:[^ ]*\)$/\1/p' "$TMP/rm.log")
start_broker
start_worker
start_worker --policy-endpoint "$REP" --timeout 1500
check "stuck: two workers register" wait_ready 2
denoise --remote "$FRONT" -q --json < "$TMP/in.mp" > "$TMP/h.jsonl" & CPID=$!
check "stuck: the victim is generating" wait_busy "${WPIDS[1]}"
kill -STOP "$RPID"
wait $CPID; rc=$?
check_eq "stuck: client exit status" 0 "$rc"
check "stuck: every result exactly once, equal to the single-process run" exactly_once "$TMP/h.jsonl"
wait "${WPIDS[1]}"; wrc=$?
check_eq "stuck: the stuck worker exited 4" 4 "$wrc"
check "stuck: it said why" grep -q 'worker: remask service .* did not answer within 1500 ms' "$TMP/workers.log"
kill -CONT "$RPID"
finish
