#!/usr/bin/env bash
# remask.sh — the policy service: remote selection gives exactly the in-process tokens
# (several policies, and the Python policy from docs/remask.md), an absent or dying
# service is exit 4 with a clear message within the timeout, CURVE admits only listed
# clients, and the CLI's usage errors.
. "$(dirname "$0")/../lib.sh"
$PYTHON "$LLADA_ROOT/tests/fixtures/make_tiny_ckpt.py" "$TMP/ck" --preset mha_f32 >/dev/null
M=$TMP/ck/mha_f32
$PYTHON - "$TMP/in.mp" <<'PY'
import sys, msgpack, numpy as np
rng = np.random.default_rng(7)
with open(sys.argv[1], "wb") as f:
    for i in range(3):
        t = rng.integers(0, 90, size=4 + i).astype("<i4")
        f.write(msgpack.packb({"kind": "tokens", "v": 1, "id": i,
                               "tokens": {"dtype": "i4", "shape": [len(t)], "data": t.tobytes()}}))
PY
GEN="--model $M --gen-length 16 --steps 8 --block-length 8 -q --json"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT

# start a service on a free port; sets EP
serve() {
    local log=$TMP/serve.$RANDOM
    remask --serve 'tcp://127.0.0.1:*' "$@" 2>"$log" & PIDS+=($!)
    for _ in $(seq 100); do grep -q 'serving' "$log" 2>/dev/null && break; sleep 0.05; done
    EP=$(sed -n 's/.* on \(tcp:[^ ]*\)$/\1/p' "$log" | head -1)
}

for pol in low_confidence threshold:0.2 factor:3 eb:2 random topk_margin entropy; do
    serve --policy "$pol"
    denoise $GEN --remasking "$pol" --seed 3 --temperature 0.5 < "$TMP/in.mp" > "$TMP/local.jsonl"
    denoise $GEN --policy-endpoint "$EP" --seed 3 --temperature 0.5 < "$TMP/in.mp" > "$TMP/remote.jsonl"
    check "remote $pol: results" test -s "$TMP/remote.jsonl"
    check "remote $pol == in-process $pol (tokens, reveal steps, nfe)" cmp "$TMP/local.jsonl" "$TMP/remote.jsonl"
done
# adaptive: one forward per distinct reveal step; a low threshold fills 16 tokens in < 16 forwards
denoise $GEN --remasking threshold:0.01 < "$TMP/in.mp" > "$TMP/thr.jsonl"
check "threshold:0.01: nfe == reveal steps used, and < 16" $PYTHON - "$TMP/thr.jsonl" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if '"tokens"' in l]
assert len(recs) == 3
for r in recs:
    steps = r["reveal_step"]["data"]
    assert min(steps) == 0 and r["nfe"] == max(steps) + 1 == len(set(steps)), r
    assert 2 <= r["nfe"] < 16, r["nfe"]
PY

# the Python policy printed in docs/remask.md, run as written
sed -n '/^```python$/,/^```$/p' "$LLADA_ROOT/docs/remask.md" | sed '1d;$d' > "$TMP/policy.py"
PORT=$($PYTHON -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
$PYTHON "$TMP/policy.py" "tcp://127.0.0.1:$PORT" & PIDS+=($!)
denoise $GEN < "$TMP/in.mp" > "$TMP/local.jsonl"
denoise $GEN --policy-endpoint "tcp://127.0.0.1:$PORT" --timeout 10000 < "$TMP/in.mp" > "$TMP/py.jsonl"
check "docs' Python policy gives the in-process low_confidence tokens" cmp "$TMP/local.jsonl" "$TMP/py.jsonl"

# a policy answering a position that is not a candidate: exit 4, named
PORT2=$($PYTHON -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
$PYTHON - "tcp://127.0.0.1:$PORT2" <<'PY' & PIDS+=($!)
import sys, zmq, msgpack
s = zmq.Context().socket(zmq.REP); s.bind(sys.argv[1])
while True:
    q = msgpack.unpackb(s.recv())
    s.send(msgpack.packb({"kind": "remask_ready", "v": 1, "id": q["id"], "policy": "bad", "adaptive": False}
                         if q["kind"] == "remask_hello" else {"kind": "remask_chosen", "v": 1, "id": q["id"], "chosen": [99999]}))
PY
check_exit 4 "policy answering a non-candidate: exit 4" denoise $GEN --policy-endpoint "tcp://127.0.0.1:$PORT2" --timeout 10000 < "$TMP/in.mp"
check_stderr "policy answering a non-candidate: message" 'remask policy chose position 99999, which is not a candidate'

# nothing listening: exit 4 within the timeout, naming the endpoint
t0=$(date +%s%N)
check_exit 4 "absent service: exit 4" denoise $GEN --policy-endpoint "tcp://127.0.0.1:9" --timeout 700 < "$TMP/in.mp"
check_stderr "absent service: message" '^denoise: error: remask service tcp://127.0.0.1:9 did not answer within 700 ms'
check "absent service: gave up within 5 s" test $(( ($(date +%s%N) - t0) / 1000000 )) -lt 5000

# a service that dies mid-generation (after 5 answers): exit 4 naming the step
serve --max-requests 5
check_exit 4 "service dies mid-generation: exit 4" denoise $GEN --policy-endpoint "$EP" --timeout 1000 < "$TMP/in.mp"
check_stderr "service dies mid-generation: message names the step" 'did not answer within 1000 ms \(step [0-9]+, record [0-9]+\)'

# a bad request gets a remask_error and the service keeps serving
serve
check "bad request -> remask_error, service still answers" $PYTHON - "$EP" <<'PY'
import sys, zmq, msgpack
s = zmq.Context().socket(zmq.REQ); s.setsockopt(zmq.RCVTIMEO, 3000); s.connect(sys.argv[1])
s.send(msgpack.packb({"kind": "remask_select", "id": 9, "seed": 0})); r = msgpack.unpackb(s.recv())
assert r["kind"] == "remask_error" and r["id"] == 9 and r["code"] == 1, r
s.send(b"\xc1garbage"); r = msgpack.unpackb(s.recv()); assert r["kind"] == "remask_error", r
s.send(msgpack.packb({"kind": "remask_hello", "id": 1, "policy": "nope"})); r = msgpack.unpackb(s.recv())
assert r["kind"] == "remask_error" and "unknown" in r["error"], r
s.send(msgpack.packb({"kind": "remask_hello", "id": 2, "policy": "eb:0.5"})); r = msgpack.unpackb(s.recv())
assert r == {"kind": "remask_ready", "v": 1, "id": 2, "policy": "eb", "adaptive": True}, r
PY

# CURVE: listed client works, unknown client refused
cd "$TMP" && remask --keygen srv -q && remask --keygen alice -q && remask --keygen mallory -q && cd - >/dev/null
mkdir "$TMP/allow" && cp "$TMP/alice.pub" "$TMP/allow/"
check "keygen: secret key file is private" test "$(stat -c %a "$TMP/srv.key")" = 600
check_exit 3 "keygen refuses to overwrite" remask --keygen "$TMP/srv"
serve --key "$TMP/srv.key" --allow "$TMP/allow"
denoise $GEN < "$TMP/in.mp" > "$TMP/local.jsonl"
denoise $GEN --policy-endpoint "$EP" --key "$TMP/alice.key" --server-key "$TMP/srv.pub" < "$TMP/in.mp" > "$TMP/curve.jsonl"
check "CURVE: allowed client gets identical results" cmp "$TMP/local.jsonl" "$TMP/curve.jsonl"
check_exit 4 "CURVE: unknown client refused (exit 4)" denoise $GEN --policy-endpoint "$EP" --key "$TMP/mallory.key" --server-key "$TMP/srv.pub" --timeout 800 < "$TMP/in.mp"
check_exit 4 "CURVE: plaintext client refused (exit 4)" denoise $GEN --policy-endpoint "$EP" --timeout 800 < "$TMP/in.mp"

check_exit 2 "remask: no mode is a usage error" remask
check_exit 2 "remask: unknown policy" remask --serve tcp://127.0.0.1:0 --policy nope
check_stderr "remask: unknown policy message" "^remask: error: unknown remasking policy 'nope'"
check_exit 2 "denoise: bad policy parameter" denoise $GEN --remasking threshold:2 < "$TMP/in.mp"
check "remask --list names the new policies" sh -c "remask --list | grep -qx eb && remask --list | grep -qx topk_margin"
finish
