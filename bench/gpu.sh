#!/usr/bin/env bash
# bench/gpu.sh — the CUDA backend on an 8B-shaped LLaDA (random bf16 weights made on the GPU):
# forward ms and MFU against the cuBLAS bf16 GEMM rate measured in the same run, the GEMM /
# attention / other split, full step with summaries (tests/gpu/gpu_bench.c; docs/gpu.md).
# Prints a skip line on machines without nvcc or without a GPU. GPU_BENCH_ARGS=--quick for
# a 4-layer smoke run.
set -u
cd "${LLADA_ROOT:-$(dirname "$0")/..}"
if ! command -v nvcc >/dev/null && [ ! -x /usr/local/cuda/bin/nvcc ]; then
    echo "gpu: skipped (no nvcc: the CUDA backend is not built)"; exit 0
fi
nice make -s gpu-tests || exit 1
build/rel/tests/gpu/gpu_bench ${GPU_BENCH_ARGS:-}
rc=$?
[ "$rc" -eq 77 ] && { echo "gpu: skipped (no usable GPU)"; exit 0; }
exit $rc
