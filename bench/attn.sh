#!/usr/bin/env bash
# bench/attn.sh — the fused attention kernel (kernels/attn_flash.c, online softmax over 64 x 64
# tiles) against the tiled one (kernels/attention.c: sgemm + masked softmax over 64 x L score
# tiles) in the same run, one thread, at canvases 256, 1024 and 2048, with LLaDA-8B's heads
# (32 x 128) and the 105M-shaped bench model's (12 x 64). Per case: the full canvas (what the
# bf16/int8 forward runs), one 64-query tile (best of many short runs: the uncontended rate on
# a shared machine) and a cache step's band of 32 queries (what --cache prefix/dual runs).
# ATTN_LENGTHS overrides the canvases.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
: "${PYTHON:=/usr/bin/python3}"
cache=${LLADA_BENCH_CACHE:-$root/build/bench}
mkdir -p "$cache"
cc -O2 -march=x86-64-v2 -I"$root" -I"$root/common" -I"$root/kernels" -o "$cache/attn_bench" "$root/bench/attn_bench.c" \
    "$root/build/rel/libkernels.a" "$root/build/rel/libcommon.a" -lopenblas -lm -lpthread -ldl || exit 1
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
out=$cache/attn.json
: >"$out"
for L in ${ATTN_LENGTHS:-256 1024 2048}; do
    for h in "32 32 128" "12 12 64"; do
        nice -n "${ATTN_NICE:-10}" "$cache/attn_bench" $h "$L" 3 >>"$out" || exit 1
    done
done
"$PYTHON" - "$out" <<'PY'
import json, sys
isa = {0: "plain", 1: "AVX2", 2: "AVX-512"}
print(f"  {'heads x hd':>10s} {'L':>5s} {'case':>5s} {'tiled GF/s':>11s} {'fused GF/s':>11s} {'speedup':>8s} {'max rel diff':>13s}")
for l in open(sys.argv[1]):
    r = json.loads(l)
    for c in ("full", "tile", "band"):
        x = r[c]
        print(f"  {r['Hq']:>4d} x {r['hd']:<3d} {r['L']:5d} {c:>5s} {x['tiled_gflops']:11.1f} {x['flash_gflops']:11.1f} "
              f"{x['tiled_s'] / x['flash_s']:7.2f}x {x['max_rel']:13.2g}")
print(f"  fused kernel ISA: {isa[r['isa']]}; 1 thread; full = whole canvas (best of 3), tile = 64 queries (best of 30),"
      " band = 32 queries (a cache step)")
PY
