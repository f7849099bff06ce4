#!/usr/bin/env bash
# bench/roofline.sh — roofline of the quantised matmul at small row counts (issue 13: "at small
# row counts decoding is bandwidth-bound; report achieved GB/s of weight reads against a measured
# streaming-read bandwidth, target >= 0.7"). One thread, process CPU time, all in one run:
#   - the streaming read of 512 MB per CPU-second (bench/gguf_bench.c stream), before and after:
#     the best of 1, 2, 4 and 8 interleaved streams (one core of the Zen 5 this was written on reads
#     26-32 GB/s from one stream and 33-42 from four, and a kernel reading weights at 40 GB/s was
#     measured against the lower figure);
#   - the VNNI int8 peak: VPDPBUSD throughput of one thread (16 independent register chains;
#     gguf_bench vnni), in int8 multiply-adds per CPU-second;
#   - y = x·Wᵀ (matmul(), the dispatch decoding uses) on N x 4096 random weights of q4_k,
#     q5_k, q6_k, q8_0 at rows M = 1, 2, 4, 8, 16, 32. N is 65536 (151-285 MB): with 16384 rows
#     (38-71 MB) part of the weights stayed in the L3 between repetitions and the fractions came out
#     above what the DRAM gives (q6_k at 1 row 1.15 of the stream).
# For each (type, M): weight GB/s per CPU-second and its fraction of the streaming read; int8
# multiply-adds (M·N·K) per CPU-second and the fraction of the VNNI peak; the roof min(stream,
# peak / (M · weights per byte)) and the fraction of it reached.
# ROOF_REPS (5), ROOF_N (65536), ROOF_K (4096), ROOF_NICE (10), ROOF_TYPES ("q4_k q5_k q6_k q8_0").
# ROOF_ROWS: matmul_qk's kernels at 1-8 rows to compare in the same run (matmul_qk_set_rows: 0 its
# 16-row tile, 1 the first matmul_qk_rows kernels, 2 the current ones, -1 the default = 2), e.g.
# ROOF_ROWS="1 -1" (before / after); M 16 and 32 only for -1. The "kernel" column says which ran
# (tile where the rows kernels do not take that type and M).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
: "${PYTHON:=/usr/bin/python3}"
cache=${LLADA_BENCH_CACHE:-$root/build/bench}
mkdir -p "$cache"
N="nice -n ${ROOF_NICE:-10}"
cc -O2 -march=x86-64-v2 -I"$root" -I"$root/common" -I"$root/kernels" -o "$cache/gguf_bench" "$root/bench/gguf_bench.c" \
    "$root/build/rel/libkernels.a" "$root/build/rel/libcommon.a" -lopenblas -lm -lpthread || exit 1
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); 1 thread"
export GGUF_BENCH_THREADS=1
o=$cache/roofline.json
# ROOF_ROUNDS (3) rounds; in each, every type's runs are bracketed by a streaming read, and its
# fractions are taken against the better of the two (the machine is shared: its bandwidth moved
# between 20 and 35 GB/s within minutes); the table gives the median over the rounds and the range.
{
    $N "$cache/gguf_bench" vnni || exit 1
    for r in $(seq "${ROOF_ROUNDS:-3}"); do
        echo "{\"round\": $r}"
        $N "$cache/gguf_bench" vnni || exit 1 # the peak too moves with the other tenants: best of all rounds
        for t in ${ROOF_TYPES:-q4_k q5_k q6_k q8_0}; do
            $N "$cache/gguf_bench" stream 512 || exit 1
            for v in ${ROOF_ROWS:--1}; do
                ms="1 2 4 8"
                [ "$v" = -1 ] && ms="1 2 4 8 16 32"
                GGUF_BENCH_ROWS=$v $N "$cache/gguf_bench" roofline $t "${ROOF_N:-65536}" "${ROOF_K:-4096}" "${ROOF_REPS:-5}" $ms || exit 1
            done
        done
        $N "$cache/gguf_bench" stream 512 || exit 1
    done
    $N "$cache/gguf_bench" vnni
} >"$o" || exit 1
"$PYTHON" - "$o" <<'PY'
import json, statistics, sys
rs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
pk = max(r["int8_gmacs_per_cpu_s"] for r in rs if "vnni_ginstr_per_cpu_s" in r)
streams = [i for i, r in enumerate(rs) if "cpu_gbps" in r]
per_byte = {"q4_k": 256 / 144, "q5_k": 256 / 176, "q6_k": 256 / 210, "q8_0": 32 / 34}
kname = {-1: "rows v2", 0: "tile", 1: "rows v1", 2: "rows v2"}
runs = {}  # (type, M, kernel) -> [(GB/s, local stream, cpu ms, G MAC/s)]
for i, r in enumerate(rs):
    if "type" not in r:
        continue
    before = max(k for k in streams if k < i)
    after = min(k for k in streams if k > i)
    st = max(rs[before]["cpu_gbps"], rs[after]["cpu_gbps"])
    k = kname.get(r.get("rows", -1), str(r.get("rows"))) if r.get("rows_kernel") else "tile"
    runs.setdefault((r["type"], r["M"], k), []).append(
        (r["weight_gbps_per_cpu_s"], st, r["cpu_ms_best"], r["int8_gmacs_per_cpu_s"]))
sts = [rs[k]["cpu_gbps"] for k in streams]
med = statistics.median
print(f"streaming read {min(sts):.1f}-{max(sts):.1f} GB/s per CPU-second across the run; VNNI peak {pk:.0f} G int8 "
      f"multiply-adds per CPU-second ({pk / 64:.2f} G VPDPBUSD/s); "
      f"{max(len(v) for v in runs.values())} rounds, medians (range of the fraction)")
print("  type   M  kernel   cpu-ms   GB/s  of stream (range)      G MAC/s  of peak    roof GB/s  of roof  bound")
for (t, m, k), v in runs.items():
    g, st = med(x[0] for x in v), med(x[1] for x in v)
    fr = [x[0] / x[1] for x in v]
    mac = med(x[3] for x in v)
    roof = min(st, pk / (m * per_byte[t]))
    print(f"  {t:5s} {m:3d}  {k:7s} {med(x[2] for x in v):8.2f} {g:6.2f}   {med(fr):5.2f} ({min(fr):.2f}-{max(fr):.2f})"
          f"   {mac:8.1f}   {mac / pk:6.2f}    {roof:8.2f}   {g / roof:6.2f}  {'memory' if roof == st else 'compute'}")
PY
