# cluster_lib.sh — shared setup for the cluster tests (sourced after tests/lib.sh): a
# small checkpoint slow enough to interrupt, input records, the single-process reference,
# and helpers to start a broker and workers on free loopback ports and stop them by pid.
CK=$TMP/ck
$PYTHON "$LLADA_ROOT/tests/fixtures/make_tiny_ckpt.py" "$CK" \
    --custom d_model=128,n_layers=4,n_heads=4,n_kv_heads=4,mlp_hidden_size=256,vocab_size=96 --dtype f32 >/dev/null
NREC=${NREC:-30}
$PYTHON - "$TMP/in.mp" "$NREC" <<'PY'
import sys, msgpack, numpy as np
rng = np.random.default_rng(11)
with open(sys.argv[1], "wb") as f:
    for i in range(int(sys.argv[2])):
        t = rng.integers(0, 90, size=3 + i % 5).astype("<i4")
        f.write(msgpack.packb({"kind": "tokens", "v": 1, "id": i, "user": "u%d" % i,
                               "tokens": {"dtype": "i4", "shape": [len(t)], "data": t.tobytes()}}))
PY
SAMP="--model $CK --gen-length 32 --steps 32 --block-length 16 --temperature 0.7 --seed 5"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; kill -CONT "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
free_port() { $PYTHON -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
reference() { denoise $SAMP --threads 1 -q --json < "$TMP/in.mp" > "$TMP/ref.jsonl"; }
# start_broker [extra options]: sets FRONT, BACK, BLOG, BPID
start_broker() {
    FRONT=tcp://127.0.0.1:$(free_port) BACK=tcp://127.0.0.1:$(free_port) BLOG=$TMP/broker.$RANDOM
    denoise --broker "$FRONT" --backend "$BACK" --heartbeat 200 "$@" 2>"$BLOG" & BPID=$!; PIDS+=($BPID)
}
# start_worker [extra options]: appends to WPIDS
WPIDS=()
start_worker() {
    denoise --worker "$BACK" $SAMP --threads 1 --batch 2 --heartbeat 200 -q "$@" 2>>"$TMP/workers.log" &
    WPIDS+=($!); PIDS+=($!)
}
# wait_ready N: until the broker has seen N workers (5 s at most)
wait_ready() { for _ in $(seq 100); do [ "$(grep -c 'ready with' "$BLOG" 2>/dev/null)" -ge "$1" ] 2>/dev/null && return 0; sleep 0.05; done; return 1; }
# wait_busy PID: until the worker has used 0.1 s of CPU since the call, i.e. it is in the
# middle of generating (it only computes while holding requests); 10 s at most
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
wait_busy() {
    local t0; t0=$(cpu_ticks "$1")
    for _ in $(seq 500); do [ $(( $(cpu_ticks "$1") - t0 )) -ge 10 ] && return 0; sleep 0.02; done; return 1
}
stop_broker() { kill "$BPID" 2>/dev/null; wait "$BPID" 2>/dev/null; }
