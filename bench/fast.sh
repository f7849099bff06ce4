#!/usr/bin/env bash
# bench/fast.sh — what --cache and --precision buy (issue 12 §4): prompt 512 + gen 256, blocks
# of 32, on a ~105M LLaDA-shaped random bf16 model (d 768, 12 layers, FFN 2304, vocab 8192) and
# on an 8B-shaped one (LLaDA-8B's d 4096, 32 heads, FFN 12288, vocab 126464; random bf16; one
# layer, its time extrapolated to 32 layers). `denoise --bench-fast` times one step of each kind
# in each precision in the same run (exact full canvas, cache refresh, prefix and dual steps,
# the LM head) and the GEMM ceilings on the forward's shapes (OpenBLAS sgemm, oneDNN bf16, this
# toolkit's own bf16-weight path). The bf16 forward's rate line divides the better of two full
# bf16 forwards timed right after the oneDNN ceiling in each repetition by that ceiling (best of
# 3 each; the first forward after it pays for the ceiling's memory churn, JSON
# bf16_full_first_s). Per generated token (steps = gen length, so one token per
# step for low_confidence; threshold decoding divides by its tokens per step):
#   exact             = full(f32)
#   cache X, prec P   = (refresh(P) + 31 * X(P)) / 32         (a block: 1 refresh + 31 cached)
# Threads: FAST_THREADS (default 1: on a shared 2-core machine a second thread mostly measures
# the neighbours); with one thread the times are the process's CPU time, so a loaded machine
# slows the run but not the figures (much), with more they are wall time. Models are cached under build/bench. The 8B-shaped run (2.5 GB model, ~6 GB
# of memory, several minutes of a free core) runs with FAST_8B=1 only; FAST_105M=0 skips the
# 105M-shaped run. FAST_PREC=bf16 times that precision alone and prints only its rate against
# the paired oneDNN ceiling (about a fifth of the CPU time: for a loaded machine).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
: "${LLADA_BIN:=$root/bin}"
: "${PYTHON:=/usr/bin/python3}"
cache=${LLADA_BENCH_CACHE:-$root/build/bench}
thr=${FAST_THREADS:-1}
status=0
run() {   # name dir d layers heads ffn vocab
    local name=$1 m=$2
    if [ ! -f "$m/config.json" ]; then
        nice "$PYTHON" "$here/mk_shaped.py" "$m" "$3" "$4" "$5" "$6" "$7" || return 1
    fi
    local out
    out=$(nice "$LLADA_BIN/denoise" --model "$m" --threads "$thr" ${FAST_PREC:+--precision "$FAST_PREC"} \
        --bench-fast 512:256:32) || return 1
    "$PYTHON" - "$name" "$out" <<'PY'
import json, sys
name, r = sys.argv[1], json.loads(sys.argv[2])
M, nl, spb = r["modes"], r["layers"], r["block"]
scale = 32 / nl if name.startswith("8B") else 1.0          # extrapolate layers, keep the head
def t(p, k):
    v = M[p][k]
    return v if scale == 1 else (v - M[p]["head_s"]) * scale + M[p]["head_s"]
fl, lf = r["forward_flops"], r["linear_flops"]
if "f32" not in M:   # FAST_PREC: one precision, its rate against the paired ceiling only
    for p in M:
        full = r["bf16_full_paired_s"] if p == "bf16" else M[p]["full_s"]
        g, c = fl / full * 1e-9, (fl / r["dnnl_bf16_s"] * 1e-9 if r["dnnl_bf16_s"] > 0 else float("nan"))
        print(f"{name}: {nl} layer(s), canvas {r['prompt']}+{r['gen']}, {r['threads']} thread(s), "
              f"{r.get('clock', 'wall')} time: forward {p} "
              f"{g:.1f} GFLOP/s, oneDNN bf16 ceiling {c:.1f} GFLOP/s on the same shapes = {g / c:.2f}"
              + (" (timed back to back, best of each)" if p == "bf16" else ""))
    print("  JSON " + json.dumps(r))
    sys.exit(0)
exact = t("f32", "full_s")
print(f"{name}: {nl} layer(s){' (x' + format(scale, 'g') + ' -> 32 layers)' if scale != 1 else ''}, "
      f"canvas {r['prompt']}+{r['gen']}, block {spb}, {r['threads']} thread(s) ({r.get('clock', 'wall')} time), "
      f"BLAS {r['blas_core']}, "
      f"KV cache {r['cache_bytes'] * scale / 2**20:.0f} MiB")
print(f"  {'mode':26s} {'s/step':>9s} {'s/token':>9s} {'speedup':>8s}")
rows = [("exact (none, f32)", exact, exact)]
for p in M:
    for c in ("prefix", "dual"):
        step = t(p, c + "_s")
        tok = (t(p, "refresh_s") + (spb - 1) * step) / spb
        rows.append((f"cache {c}, {p}", step, tok))
    if p != "f32":
        rows.append((f"none, {p}", t(p, "full_s"), t(p, "full_s")))
for n, s, tk in rows:
    print(f"  {n:26s} {s:9.4f} {tk:9.4f} {exact / tk:7.1f}x")
for p in M:
    if p != "f32":   # the LM head's pack (vocab x d, 2 or 1 bytes + a 4-byte scale per row) is not per layer
        head = r["vocab"] * r["d_model"] * (2 if p == "bf16" else 1) + (4 * r["vocab"] if p == "int8" else 0)
        pk = (M[p]["packed_bytes"] - head) * scale + head if scale != 1 else M[p]["packed_bytes"]
        print(f"  packed {p} weights: {pk / 2**20:.0f} MiB (on top of the mapped checkpoint)")
print(f"  GEMM ceilings, one full forward's shapes: sgemm {fl / r['sgemm_s'] * 1e-9:.1f} GFLOP/s, "
      f"oneDNN bf16 {fl / r['dnnl_bf16_s'] * 1e-9:.1f} GFLOP/s; own bf16-weight path ({r['bf16_kernels']}) "
      f"{lf / r['own_bf16_linear_s'] * 1e-9:.1f} GFLOP/s on the linear shapes")
for p in M:
    full = r["bf16_full_paired_s"] if p == "bf16" else M[p]["full_s"]
    g = fl / full * 1e-9
    print(f"  forward {p}: {g:.1f} GFLOP/s = {g / (fl / r['dnnl_bf16_s'] * 1e-9):.2f} of oneDNN bf16 on the same shapes"
          + (" (timed back to back with the ceiling, best of each)" if p == "bf16" else ""))
print("  JSON " + json.dumps(r))
PY
}
[ "${FAST_105M:-1}" = 0 ] || run "105M-shaped" "$cache/fast105m_bf16" 768 12 12 2304 8192 || { echo "105M bench failed"; status=1; }
[ "${FAST_8B:-0}" = 0 ] || run "8B-shaped" "$cache/fast8b_1layer_bf16" 4096 1 32 12288 126464 || { echo "8B bench failed"; status=1; }
exit $status
