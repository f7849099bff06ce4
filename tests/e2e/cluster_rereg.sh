#!/usr/bin/env bash
# cluster_rereg.sh — issue 18 item 5: a worker dropped by the broker while SIGSTOPped in the
# middle of a batch registers again, after SIGCONT, with its real slot count (READY), not with
# the free slots of its first heartbeat; and it leaves no stale duplicate registration.
. "$(dirname "$0")/../lib.sh"
NREC=24
. "$(dirname "$0")/cluster.lib"
reference
start_broker
start_worker --batch 4
check "the worker registers with 4 slots" wait_ready 1
denoise --remote "$FRONT" -q --json < "$TMP/in.mp" > "$TMP/s.jsonl" & CPID=$!
check "the worker is generating" wait_busy "${WPIDS[0]}"
kill -STOP "${WPIDS[0]}"
for _ in $(seq 100); do grep -q 'missed its heartbeats' "$BLOG" && break; sleep 0.05; done
check "the broker dropped it" grep -q 'missed its heartbeats' "$BLOG"
sleep 0.3
kill -CONT "${WPIDS[0]}"
wait $CPID; rc=$?
check_eq "client exit status" 0 "$rc"
check "output byte-identical to the single-process run" cmp "$TMP/ref.jsonl" "$TMP/s.jsonl"
stop_broker
sed 's/^/# /' "$BLOG" | grep -E 'ready with|was given|registered'
check_eq "it registered twice, both times with 4 slots" "2 0" \
    "$(grep -c 'ready with 4 slots' "$BLOG") $(grep -Ec 'ready with [0-35-9][0-9]* slots' "$BLOG")"
check_eq "never two registrations at once (one process: always worker 0)" 0 "$(grep -Ec 'worker [1-9][0-9]* ready' "$BLOG")"
check_eq "one registration at the end, with 4 slots" "1 1" \
    "$(grep -c 'was given' "$BLOG") $(grep -c 'worker 0 (4 slots) was given' "$BLOG")"

# deterministic halves. A fake worker (python3-zmq): READY 4, silent until dropped, then
# heartbeats saying 1 free slot (as a woken, busy worker would), then READY 4 again.
start_broker
for _ in $(seq 100); do [ "$(grep -c 'bound' "$BLOG" 2>/dev/null)" -ge 2 ] && break; sleep 0.05; done
$PYTHON - "$BACK" <<'PY'
import sys, struct, time, zmq
s = zmq.Context().socket(zmq.DEALER)
s.connect(sys.argv[1])
s.send_multipart([b"READY", struct.pack("<I", 4)])
time.sleep(2.0)                      # 10 heartbeat intervals: dropped
for _ in range(5):
    s.send_multipart([b"HB", struct.pack("<I", 1)]); time.sleep(0.2)
s.send_multipart([b"READY", struct.pack("<I", 4)])
time.sleep(0.5)
PY
stop_broker
check "fake: dropped while silent" grep -q 'missed its heartbeats' "$BLOG"
check_eq "fake: a heartbeat from an unknown identity does not register it (no '1 slots')" 0 "$(grep -c 'ready with 1 slots' "$BLOG")"
check_eq "fake: READY registers it again with its 4 slots" 2 "$(grep -c 'ready with 4 slots' "$BLOG")"

# A real worker before a fake broker that never answers: it reconnects every 3 intervals,
# and every READY carries the same identity, so a broker replaces its registration.
BACK=tcp://127.0.0.1:$(free_port)
$PYTHON - "$BACK" > "$TMP/ids" <<'PY' &
import sys, time, zmq
s = zmq.Context().socket(zmq.ROUTER)
s.setsockopt(zmq.ROUTER_HANDOVER, 1)
s.bind(sys.argv[1])
end, ids = time.time() + 60, []     # a loaded machine may take long to start the worker:
while time.time() < end:            # watch for 5 s from its first READY
    if s.poll(100):
        m = s.recv_multipart()
        if m[1] == b"READY":
            if not ids: end = time.time() + 5
            ids.append(m[0])
print(len(ids), len(set(ids)))
PY
FB=$!
start_worker
wait $FB
kill "${WPIDS[-1]}" 2>/dev/null
read -r nready nids < "$TMP/ids"
check "real worker: it sent READY again after the broker's silence ($nready)" test "${nready:-0}" -ge 2
check_eq "real worker: always with the same identity" 1 "$nids"
finish
