#!/usr/bin/env bash
# bench/cluster.sh — distributed generation on loopback, each against an in-process run of
# the same input measured in the same run: (1) broker throughput with many small requests
# (a 1-step, 1-token generation on a tiny model: the cost is messaging, not the model);
# (2) scaling from 1 to 2 workers on a model where generation dominates. The worker count
# that can actually help is bounded by the machine's free cores (printed).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
: "${LLADA_BIN:=$root/bin}"
: "${PYTHON:=/usr/bin/python3}"
export PATH="$LLADA_BIN:$PATH"
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill $p 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"' EXIT
port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s%N; }
"$PYTHON" "$root/tests/fixtures/make_tiny_ckpt.py" "$tmp/ck" --preset mha_f32 >/dev/null
ck=$tmp/ck/mha_f32
"$PYTHON" "$root/tests/fixtures/make_tiny_ckpt.py" "$tmp/mid" \
    --custom d_model=256,n_layers=4,n_heads=4,n_kv_heads=4,mlp_hidden_size=768,vocab_size=512 --dtype f32 >/dev/null
records() {  # N LEN OUT
    "$PYTHON" - "$@" <<'PY'
import sys, msgpack, numpy as np
n, L = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(3)
with open(sys.argv[3], "wb") as f:
    for i in range(n):
        t = rng.integers(0, 90, size=L).astype("<i4")
        f.write(msgpack.packb({"kind": "tokens", "v": 1, "tokens": {"dtype": "i4", "shape": [L], "data": t.tobytes()}}))
PY
}
cluster() {  # NWORKERS MODEL SAMPLER... ; sets FRONT
    local front=tcp://127.0.0.1:$(port) back=tcp://127.0.0.1:$(port) n=$1 m=$2; shift 2
    denoise --broker "$front" --backend "$back" -q 2>/dev/null & pids+=($!)
    for i in $(seq "$n"); do denoise --worker "$back" --model "$m" "$@" -q 2>/dev/null & pids+=($!); done
    FRONT=$front
    sleep 1.5
}
stop_all() { for p in "${pids[@]}"; do kill $p 2>/dev/null; done; wait 2>/dev/null; pids=(); }
echo "cores: $(nproc), load average: $(cut -d' ' -f1 /proc/loadavg)"

# (1) many small requests
N=2000
records $N 4 "$tmp/small.mp"
S="--gen-length 1 --steps 1 --block-length 1 --threads 1"
t0=$(now); denoise --model "$ck" $S --batch 16 -q < "$tmp/small.mp" > "$tmp/a.mp"; tl=$(($(now) - t0))
cluster 2 "$ck" $S --batch 16
t0=$(now); denoise --remote "$FRONT" --window 256 -q < "$tmp/small.mp" > "$tmp/b.mp"; tr=$(($(now) - t0))
stop_all
same=$(cmp -s "$tmp/a.mp" "$tmp/b.mp" && echo identical || echo DIFFERENT)
"$PYTHON" -c "
n, l, r = $N, $tl / 1e9, $tr / 1e9
print('broker, %d small requests, 2 workers: %8.0f req/s (%.0f us each) | in-process denoise %8.0f req/s | ratio %.2f | results $same'
      % (n, n / r, r / n * 1e6, n / l, (n / r) / (n / l)))"

# (2) scaling 1 -> 2 workers
N=8
records $N 16 "$tmp/mid.mp"
S="--gen-length 32 --steps 16 --block-length 32 --threads 1"
t0=$(now); denoise --model "$tmp/mid" $S --batch 1 -q < "$tmp/mid.mp" > "$tmp/a.mp"; tl=$(($(now) - t0))
for nw in 1 2; do
    cluster $nw "$tmp/mid" $S --batch 1
    t0=$(now); denoise --remote "$FRONT" -q < "$tmp/mid.mp" > "$tmp/w$nw.mp"; eval t$nw=$(($(now) - t0))
    stop_all
done
same=$(cmp -s "$tmp/a.mp" "$tmp/w1.mp" && cmp -s "$tmp/a.mp" "$tmp/w2.mp" && echo identical || echo DIFFERENT)
"$PYTHON" -c "
l, a, b = $tl / 1e9, $t1 / 1e9, $t2 / 1e9
print('scaling, %d generations (1 thread per worker): in-process %.2f s | 1 worker %.2f s (ratio %.2f) | 2 workers %.2f s (ratio %.2f) | speed-up 1->2 %.2fx | results $same'
      % ($N, l, a, a / l, b, b / l, a / b))"
