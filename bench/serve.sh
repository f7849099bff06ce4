#!/usr/bin/env bash
# bench/serve.sh — a bounded load test of serve on loopback: N requests (default 200), C at a
# time (default 8), each a completion of GEN tokens (default 16) from the bundled model, with
# latency percentiles and throughput; against in-process denoise on the same prompts and
# generation length with --batch C in the same run (the work the server does, without HTTP,
# JSON, tokenization per request and queueing), run once before and once after the server so
# that the machine's changing load hits both sides. EOS is blocked on both sides (--logits-eos-inf),
# so every answer runs all its steps: serve would otherwise drop rows that reached EOS early,
# which in-process denoise cannot, and the ratio would mix that in. Env: SERVE_BENCH_N,
# SERVE_BENCH_C, SERVE_BENCH_GEN, SERVE_BENCH_BATCH (serve's --batch, default C: 1 shows what
# batching concurrent requests gains).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
: "${LLADA_BIN:=$root/bin}"
: "${PYTHON:=/usr/bin/python3}"
export PATH="$LLADA_BIN:$PATH"
N=${SERVE_BENCH_N:-200} C=${SERVE_BENCH_C:-8} GEN=${SERVE_BENCH_GEN:-16}
BATCH=${SERVE_BENCH_BATCH:-$C}
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
echo "cpu: $(lscpu | sed -nE 's/^Model name: *//p' | head -n 1), cores: $(nproc), load average: $(cut -d' ' -f1-3 /proc/loadavg)"

"$PYTHON" - "$N" >"$tmp/prompts.txt" <<'PY'
import sys, random
r = random.Random(5)
who = ["Moses", "the LORD", "Abraham", "the people", "David", "Jesus", "the king", "Israel"]
verb = ["said unto", "went up to", "spake to", "called", "blessed", "heard"]
for i in range(int(sys.argv[1])):
    words = ["And", r.choice(who), r.choice(verb), r.choice(who)] + ["and"] * r.randrange(0, 3) + [r.choice(who)] * r.randrange(0, 2)
    print(" ".join(words))
PY

local_run() {   # seconds of in-process generation of the same work
    local t0=$(date +%s%N)
    tok --lines <"$tmp/prompts.txt" | denoise --gen-length "$GEN" --batch "$C" --logits-eos-inf -q >/dev/null
    echo $(( $(date +%s%N) - t0 ))
}
tl1=$(local_run)
serve --listen 127.0.0.1:0 --batch "$BATCH" --queue $((N + C)) 2>"$tmp/serve.log" & pid=$!
for _ in $(seq 600); do port=$(sed -nE 's|.*listening on http://127.0.0.1:([0-9]+).*|\1|p' "$tmp/serve.log"); [ -n "$port" ] && break; sleep 0.1; done
[ -n "$port" ] || { echo "serve did not start: $(cat "$tmp/serve.log")"; exit 1; }

"$PYTHON" - "http://127.0.0.1:$port" "$tmp/prompts.txt" "$C" "$GEN" >"$tmp/load.json" <<'PY'
import json, sys, threading, time, urllib.request
url, prompts, conc, gen = sys.argv[1], open(sys.argv[2]).read().splitlines(), int(sys.argv[3]), int(sys.argv[4])
lat, toks, errors, lock, nxt, ends = [], [0], [0], threading.Lock(), [0], {}
def worker():
    while True:
        with lock:
            i = nxt[0]; nxt[0] += 1
        if i >= len(prompts): return
        body = json.dumps({"prompt": prompts[i], "max_tokens": gen, "seed": i, "diffusion": {"logits_eos_inf": True}}).encode()
        t = time.perf_counter()
        try:
            d = json.load(urllib.request.urlopen(urllib.request.Request(url + "/v1/completions", body, {"Content-Type": "application/json"})))
            dt = time.perf_counter() - t
            with lock: lat.append(dt); toks[0] += gen; ends[d["choices"][0]["finish_reason"]] = ends.get(d["choices"][0]["finish_reason"], 0) + 1
        except Exception:
            with lock: errors[0] += 1
t0 = time.perf_counter()
th = [threading.Thread(target=worker) for _ in range(conc)]
for x in th: x.start()
for x in th: x.join()
wall = time.perf_counter() - t0
health = json.load(urllib.request.urlopen(url + "/health"))
print(json.dumps({"lat": sorted(lat), "wall": wall, "tokens": toks[0], "errors": errors[0], "health": health, "ends": ends}))
PY
kill $pid; wait $pid 2>/dev/null; pid=

tl2=$(local_run)

"$PYTHON" - "$tmp/load.json" "$tl1" "$tl2" "$N" "$C" "$GEN" "$BATCH" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); l1, l2 = int(sys.argv[2]) / 1e9, int(sys.argv[3]) / 1e9
local = (l1 + l2) / 2
n, c, gen = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
lat = d["lat"]
pct = lambda p: lat[min(len(lat) - 1, int(p / 100 * len(lat)))] if lat else float("nan")
h = d["health"]
print("serve --batch %d, %d requests of %d tokens, %d concurrent, loopback: latency p50 %.2f s, p90 %.2f s, p99 %.2f s, max %.2f s; "
      "%.2f req/s, %.1f tokens/s; %d errors; %d batches, %.1f rows per batch; finish reasons %s"
      % (int(sys.argv[7]), n, gen, c, pct(50), pct(90), pct(99), lat[-1] if lat else float("nan"), len(lat) / d["wall"],
         d["tokens"] / d["wall"], d["errors"], h["batches"], h["batched_rows"] / max(1, h["batches"]), d["ends"]))
print("in-process denoise --batch %d on the same prompts: %.1f s before, %.1f s after (mean %.1f tokens/s) | "
      "serve / in-process throughput %.2f" % (c, l1, l2, n * gen / local, (d["tokens"] / d["wall"]) / (n * gen / local)))
PY
