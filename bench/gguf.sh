#!/usr/bin/env bash
# bench/gguf.sh — GGUF quantised weights (issue 13) against bf16 / f32 on LLaDA-8B-shaped layers
# (d 4096, FFN 12288, 32 MHA heads), all in one run under nice:
#   1. streaming-read bandwidth of this machine (1 and all threads; bench/gguf_bench.c), wall
#      and per CPU-second;
#   1b. bandwidth of the int8 kernels at 32 rows on 1 thread, per CPU-second, against the
#      streaming read per CPU-second of the same run: matmul_qk (llama.cpp's arithmetic, qisa 3)
#      and the per-row kernels (qisa 2) on 4096x4096 and 12288x4096 weights of Q8_0, Q4_K, Q6_K;
#   2. the seven matmuls of one layer at M = 32 rows (a cached block) and 288 (a full canvas):
#      ms per layer and achieved weight-read GB/s, per type (f32, bf16, q8_0, q4_k);
#   3. per-step time of `denoise --bench` on 2-layer random GGUF files (bench/gguf_random.py,
#      vocab 4096) at canvas 32 and 288, per type;
#   4. peak RSS of a full LLaDA-8B-shaped Q4_K_M file (32 layers, vocab 126464, random weights)
#      for one forward of 32 tokens (GGUF_BENCH_RSS=0 skips: it writes a 4.9 GB file once).
# Numbers are wall-clock bests and, beside them, process CPU time (steadier on a shared machine).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
: "${LLADA_BIN:=$root/bin}"
: "${PYTHON:=/usr/bin/python3}"
cache=${LLADA_BENCH_CACHE:-$root/build/bench}
mkdir -p "$cache"
N="nice -n ${GGUF_BENCH_NICE:-10}"
cc -O2 -march=x86-64-v2 -I"$root" -I"$root/common" -I"$root/kernels" -o "$cache/gguf_bench" "$root/bench/gguf_bench.c" \
    "$root/build/rel/libkernels.a" "$root/build/rel/libcommon.a" -lopenblas -lm -lpthread || exit 1
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
$N "$cache/gguf_bench" stream 1024 >"$cache/stream.json" || exit 1
reps=${GGUF_BENCH_REPS:-3}
GGUF_BENCH_THREADS=1 $N "$cache/gguf_bench" stream 512 >"$cache/stream1.json" || exit 1
: >"$cache/bw.json"
for t in q8_0 q4_k q6_k; do
    for isa in 2 3; do
        for s in "4096 4096" "12288 4096"; do
            GGUF_BENCH_THREADS=1 GGUF_BENCH_QISA=$isa $N "$cache/gguf_bench" matmul $t 32 $s $((reps + 2)) >>"$cache/bw.json" || exit 1
        done
    done
done
GGUF_BENCH_THREADS=1 $N "$cache/gguf_bench" stream 512 >>"$cache/stream1.json" || exit 1
[ "${GGUF_BENCH_BW_ONLY:-0}" = 1 ] && skip=1 || skip=0
: >"$cache/mm.json"
[ $skip = 1 ] || for M in 32 288; do
    for t in f32 bf16 q8_0 q4_k; do
        for s in "4096 4096" "12288 4096" "4096 12288"; do
            $N "$cache/gguf_bench" matmul $t $M $s $reps >>"$cache/mm.json" || exit 1
        done
    done
done
: >"$cache/step.json"
[ $skip = 1 ] || for t in bf16 q8_0 q4_k; do
    f=$cache/r2_$t.gguf
    [ -f "$f" ] || $N "$PYTHON" "$here/gguf_random.py" "$f" $t 2 4096 || exit 1
    for L in 32 288; do
        $N "$LLADA_BIN/denoise" --model "$f" --bench $L >>"$cache/step.json" || exit 1
    done
done
rss=""
if [ $skip = 0 ] && [ "${GGUF_BENCH_RSS:-1}" != 0 ]; then
    f=$cache/r32_q4_k_m.gguf
    [ -f "$f" ] || $N "$PYTHON" "$here/gguf_random.py" "$f" q4_k_m 32 126464 || exit 1
    rss=$f
fi
"$PYTHON" - "$cache" "$LLADA_BIN/denoise" "$rss" <<'PY'
import json, os, resource, subprocess, sys
cache, denoise, rss = sys.argv[1], sys.argv[2], sys.argv[3]
load = lambda f: [json.loads(l) for l in open(os.path.join(cache, f)) if l.strip()]
stream = {r["stream_threads"]: r["gbps"] for r in load("stream.json")}
nt = max(stream)
print(f"streaming read: {stream[1]:.1f} GB/s (1 thread), {stream[nt]:.1f} GB/s ({nt} threads)")
s1 = load("stream1.json")
sc = max(r["cpu_gbps"] for r in s1)
print(f"1 thread, per CPU-second: streaming read {sc:.2f} GB/s (best of {len(s1)} runs: before and after the kernels)")
print("int8 kernels at M = 32 rows, 1 thread (weight GB/s per CPU-second; best of the reps):")
print("  type  kernel                 cpu-ms 4096x4096  cpu-ms 12288x4096   GB/s   of stream")
bw = load("bw.json")
for t in ("q8_0", "q4_k", "q6_k"):
    for isa, nm in ((2, "per-row (qisa 2)"), (3, "matmul_qk (qisa 3)")):
        rs = {(r["N"], r["K"]): r for r in bw if r["type"] == t and r["qisa"] == isa}
        if len(rs) < 2:
            continue
        a, b = rs[(4096, 4096)], rs[(12288, 4096)]
        g = (a["weight_mb"] + b["weight_mb"]) / (a["cpu_ms_best"] + b["cpu_ms_best"])
        print(f"  {t:5s} {nm:20s} {a['cpu_ms_best']:14.2f} {b['cpu_ms_best']:17.2f}   {g:5.2f}   {g / sc:6.2f}")
mm = load("mm.json")
if not mm:
    sys.exit(0)
print("one 8B-shaped layer (7 matmuls: 4 x 4096x4096, 2 x 12288x4096, 1 x 4096x12288):")
print("    M  type   weights MB   ms/layer  cpu-ms   weight GB/s  of stream  vs bf16")
base = {}
for M in (32, 288):
    for t in ("f32", "bf16", "q8_0", "q4_k"):
        rs = {(r["N"], r["K"]): r for r in mm if r["M"] == M and r["type"] == t}
        w = [4, 2, 1]
        keys = [(4096, 4096), (12288, 4096), (4096, 12288)]
        ms = sum(c * rs[k]["ms_best"] for c, k in zip(w, keys))
        cpu = sum(c * rs[k]["cpu_ms_best"] for c, k in zip(w, keys))
        mb = sum(c * rs[k]["weight_mb"] for c, k in zip(w, keys))
        if t == "bf16":
            base[M] = ms
        gbps = mb / ms
        rel = f"{base[M] / ms:5.2f}x" if M in base else "   - "
        print(f"  {M:3d}  {t:5s} {mb:9.0f}   {ms:9.1f}  {cpu:7.1f}   {gbps:8.2f}    {gbps / stream[nt]:6.2f}    {rel}")
print("per step, denoise --bench on a 2-layer 8B-shaped GGUF (vocab 4096; per layer = step / 2, LM head included):")
print("  canvas  type   ms/step  tok/s  matmul share")
for r in load("step.json"):
    ms = r["canvas"] / r["tokens_per_s"] * 1e3
    share = sum(v for k, v in r["profile"].items() if "matmul" in k or k == "lm_head")
    print(f"  {r['canvas']:6d}  {r['dtype']:5s} {ms:8.1f} {r['tokens_per_s']:6.1f}  {share:5.2f}")
if rss:
    import msgpack, numpy as np
    a = np.arange(32, dtype="<i4") % 1000
    rec = msgpack.packb({"kind": "tokens", "tokens": {"dtype": "i4", "shape": [32], "data": a.tobytes()}}, use_bin_type=True)
    p = subprocess.run([denoise, "--logits", "--model", rss], input=rec, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 ** 2
    print(f"peak RSS, LLaDA-8B-shaped Q4_K_M ({os.path.getsize(rss) / 1e9:.2f} GB file), one forward of 32 tokens: "
          f"{peak:.2f} GiB (target <= 6 GB){'' if p.returncode == 0 else ' FAILED: ' + p.stderr.decode()[:200]}")
PY
