#!/usr/bin/env bash
# cluster_partial.sh — issue 18 item 4: when the broker dies or answers an error, the
# `denoise --remote` client first writes every result complete in input order (up to the first
# missing one), then ends its output with an error record {"kind":"err",...} in place of the end
# record, so downstream sees what was computed and can tell "incomplete" from "empty".
# The broker is a python3-zmq fake that answers some requests and then falls silent or errs.
. "$(dirname "$0")/../lib.sh"
port=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
EP=tcp://127.0.0.1:$port
"$PYTHON" - "$TMP/in.mp" <<'PY'
import sys, msgpack, numpy as np
with open(sys.argv[1], "wb") as f:
    for i in range(5):
        t = np.arange(3, dtype="<i4") + i
        f.write(msgpack.packb({"kind": "tokens", "v": 1, "id": i, "tokens": {"dtype": "i4", "shape": [3], "data": t.tobytes()}}))
PY
# fake_broker MODE: "silent" answers seq 0,1,2 then exits; "err" answers 0,1,3 and an error for 2
fake_broker() {
    "$PYTHON" - "$EP" "$1" <<'PY' &
import sys, struct, zmq
s = zmq.Context().socket(zmq.ROUTER)
s.bind(sys.argv[1])
mode, held = sys.argv[2], {}
while len(held) < 5:
    cid, cmd, seq, body = s.recv_multipart()
    held[struct.unpack("<Q", seq)[0]] = (cid, seq, body)
answer = [0, 1, 2] if mode == "silent" else [0, 1, 3]
for k in answer:
    cid, seq, body = held[k]
    s.send_multipart([cid, b"REP", seq, body])
if mode == "err":
    cid, seq, _ = held[2]
    s.send_multipart([cid, b"ERR", seq, bytes([1]) + b"record 2: nothing to generate"])
import time; time.sleep(0.5)
PY
    BP=$!
}
# records FILE: "id,id,...|kind of the last record|its code" of a msgpack stream
records() {
    "$PYTHON" - "$1" <<'PY'
import sys, msgpack
recs = list(msgpack.Unpacker(open(sys.argv[1], "rb"), raw=False))
ids = [str(r["id"]) for r in recs if r.get("kind") == "tokens"]
print(",".join(ids) + "|" + (recs[-1].get("kind", "") if recs else "") + "|" + str(recs[-1].get("code", "") if recs else ""))
PY
}

fake_broker silent
denoise --remote "$EP" --timeout 1000 --window 8 < "$TMP/in.mp" > "$TMP/s.mp" 2>"$TMP/s.err"; rc=$?
wait $BP
check_eq "broker gone: client exits 4" 4 "$rc"
check_eq "broker gone: results 0-2 written, then an error record with code 4" "0,1,2|err|4" "$(records "$TMP/s.mp")"
check_exit 4 "a reader of that stream fails (exit 4), not a silent short stream" rec -i "$TMP/s.mp" -o /dev/null
check_stderr "and says why" "upstream error: broker .* silent"

fake_broker err
denoise --remote "$EP" --timeout 1000 --window 8 < "$TMP/in.mp" > "$TMP/e.mp" 2>"$TMP/e.err"; rc=$?
wait $BP
check_eq "error answer: client exits with its code 1" 1 "$rc"
check_eq "error answer: results before the failed one, then the error record" "0,1|err|1" "$(records "$TMP/e.mp")"
check "error answer: one-line message" grep -q '^denoise: error: record 2: nothing to generate$' "$TMP/e.err"

fake_broker silent
check_exit 4 "to a file: client exits 4" denoise --remote "$EP" --timeout 1000 -i "$TMP/in.mp" -o "$TMP/f.mp"
wait $BP
check_eq "to a file: no partial file under the final name, nor a temp file" "" "$(ls "$TMP" | grep '^f\.mp')"
finish
