#!/usr/bin/env bash
# cluster_deadline.sh — issue 18 item 3: the broker's per-request deadline (--request-timeout).
# A fake worker (python3-zmq) that sends READY and heartbeats but never answers holds the
# requests it is given; past the deadline they go to another worker, and after its second miss
# it is dropped. Alone, its requests end in an error answer (the client exits 4) instead of a
# client waiting forever behind a heartbeating broker; beside a real worker every result
# arrives exactly once and equals the single-process run.
. "$(dirname "$0")/../lib.sh"
NREC=12
. "$(dirname "$0")/cluster.lib"
reference
# fake_worker: READY with 2 slots, heartbeats every 200 ms, counts the JOBs it swallows
fake_worker() {
    $PYTHON - "$BACK" "$TMP/fake.jobs" <<'PY' &
import sys, struct, time, zmq
s = zmq.Context().socket(zmq.DEALER)
s.connect(sys.argv[1])
s.send_multipart([b"READY", struct.pack("<I", 2)])
jobs, nxt = 0, time.time()
while True:
    if s.poll(50):
        m = s.recv_multipart()
        if m[0] == b"JOB":
            jobs += 1
            open(sys.argv[2], "w").write(str(jobs))
    if time.time() >= nxt:
        s.send_multipart([b"HB", struct.pack("<I", 2)])
        nxt = time.time() + 0.2
PY
    PIDS+=($!)
}

# alone: the client gets an error within seconds, not a hang
start_broker --request-timeout 1000 --timeout 2000
fake_worker
check "the fake worker registers" wait_ready 1
s=$(date +%s%N)
timeout 30 denoise --remote "$FRONT" -q --json < "$TMP/in.mp" > "$TMP/a.jsonl" 2>"$TMP/a.err"; rc=$?
ms=$(( ($(date +%s%N) - s) / 1000000 ))
check_eq "alone: the client exits 4 (not hung: 124)" 4 "$rc"
check "alone: within 15 s (${ms} ms)" test "$ms" -lt 15000
check "alone: the broker saw the deadline pass" grep -q 'gave no answer to request .* within 1000 ms' "$BLOG"
check "alone: and dropped the worker after two misses" grep -q 'missed the request deadline twice' "$BLOG"
check "alone: the client says why" grep -Eq 'no worker connected|giving up' "$TMP/a.err"
stop_broker; kill "${PIDS[-1]}" 2>/dev/null

# beside a real worker: its requests move there, the output is exact
rm -f "$TMP/fake.jobs"
start_broker --request-timeout 3000
fake_worker
check "the fake worker registers first" wait_ready 1
start_worker
check "then a real one" wait_ready 2
denoise --remote "$FRONT" -q --json < "$TMP/in.mp" > "$TMP/b.jsonl"; rc=$?
check_eq "with a real worker: client exit status" 0 "$rc"
check "with a real worker: output byte-identical to the single-process run" cmp "$TMP/ref.jsonl" "$TMP/b.jsonl"
check "the fake worker was given requests" test "$(cat "$TMP/fake.jobs" 2>/dev/null || echo 0)" -ge 1
check "they were re-dispatched past the deadline" grep -q 'gave no answer to request .* within 3000 ms' "$BLOG"
stop_broker
check "the broker counts them" grep -Eq 're-dispatched [1-9][0-9]* \([1-9][0-9]* past --request-timeout\)' "$BLOG"


denoise --broker tcp://127.0.0.1:$(free_port) --backend tcp://127.0.0.1:$(free_port) --steps 32 2>"$TMP/d.log" & p=$!
for _ in $(seq 100); do grep -qs "request deadline" "$TMP/d.log" && break; sleep 0.05; done
kill $p; wait $p
check "the default deadline is sized from the sampler options (32 steps: 160 s)" grep -q 'request deadline 160000 ms' "$TMP/d.log"
finish
