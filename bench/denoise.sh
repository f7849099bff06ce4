#!/usr/bin/env bash
# bench/denoise.sh — forward-pass speed of denoise on a ~100M-parameter LLaDA-shaped random
# model (d 768, 12 layers, 12 heads, FFN 2304 = 3d as LLaDA-8B, vocab 8192; f32 and bf16) at
# canvas 256 and 1024, beside OpenBLAS sgemm (core type set right) on the very same matrix
# shapes in the same run. Prints tokens/s, GFLOP/s, the ratio forward/GEMM-ceiling (target
# >= 0.8) and where the forward's time goes.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
: "${LLADA_BIN:=$root/bin}"
: "${PYTHON:=/usr/bin/python3}"
cache=${LLADA_BENCH_CACHE:-$root/build/bench}
sizes="d_model=768,n_layers=12,n_heads=12,mlp_hidden_size=2304,vocab_size=8192"
status=0
for dt in f32 bf16; do
    m=$cache/llada100m_$dt
    if [ ! -f "$m/config.json" ]; then
        mkdir -p "$m" && nice "$PYTHON" "$root/tests/fixtures/make_tiny_ckpt.py" "$m" --custom "$sizes" --dtype "$dt" --seed 1 || exit 1
    fi
    for L in 256 1024; do
        out=$(nice "$LLADA_BIN/denoise" --model "$m" --bench "$L") || { echo "denoise --bench failed"; status=1; continue; }
        "$PYTHON" - "$out" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
prof = ", ".join(f"{k} {v*100:.0f}%" for k, v in sorted(r["profile"].items(), key=lambda kv: -kv[1]) if v >= 0.005)
print(f"denoise forward {r['dtype']:4s} canvas {r['canvas']:4d}: {r['tokens_per_s']:7.1f} tok/s "
      f"{r['gflops']:6.1f} GFLOP/s | sgemm same shapes ({r['blas_core']}, {r['threads']} thr) "
      f"{r['gemm_gflops']:6.1f} GFLOP/s | ratio {r['ratio']:.2f} (target 0.80)")
print(f"    profile: {prof}")
PY
    done
done
exit $status
