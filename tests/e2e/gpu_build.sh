#!/usr/bin/env bash
# tests/e2e/gpu_build.sh — the CUDA backend on machines without a GPU (CI): with nvcc the CUDA
# objects are built into libcuda.a for sm_90 with embedded PTX and the GPU checks link; the
# GPU programs skip cleanly (exit 77); `denoise --device auto` falls back to the CPU with a
# one-line notice (silent with -q, and by default unless LLADA_DEVICE says otherwise) and the
# same output as --device cpu; `--device cuda`
# fails with exit 5 naming the reason; a bad --device is a usage error. Without nvcc,
# `--device cuda` is a usage error naming the missing backend. On a machine WITH a GPU the
# fallback checks are replaced by: --device cuda:f32 generates exactly what --device cpu does.
. "$(dirname "$0")/../lib.sh"
cd "$LLADA_ROOT"
NVCC=$(command -v nvcc || { [ -x /usr/local/cuda/bin/nvcc ] && echo /usr/local/cuda/bin/nvcc; })

$PYTHON tests/fixtures/make_tiny_ckpt.py "$TMP/ck" --preset mha_f32 >/dev/null
M=$TMP/ck/mha_f32
$PYTHON - "$TMP/in.mp" <<'PY'
import sys, msgpack, numpy as np
def arr(a):
    a = np.asarray(a, "<i4"); return {"dtype": "i4", "shape": list(a.shape), "data": a.tobytes()}
with open(sys.argv[1], "wb") as f:
    for i, n in enumerate([5, 9, 3]):
        f.write(msgpack.packb({"kind": "tokens", "v": 1, "tokens": arr(np.arange(n) % 90 + i)}))
PY
gen() { denoise --model "$M" --gen-length 8 --steps 4 --block-length 4 --batch 2 -i "$TMP/in.mp" --json "$@"; }
check "denoise --device cpu" gen --device cpu
gen --device cpu >"$TMP/cpu.jsonl" 2>/dev/null
check_exit 2 "bad --device is a usage error" gen --device tpu
check_stderr "bad --device message" "^denoise: error: --device must be"

if [ -z "$NVCC" ]; then
    check_exit 2 "no CUDA build: --device cuda is a usage error" gen --device cuda
    check_stderr "no CUDA build: message" "no CUDA backend"
    check "no CUDA build: --device auto runs on the CPU" gen --device auto
    finish; exit
fi

GT=${LLADA_GPU_TESTS:-}          # prebuilt GPU checks (tests/gpu/run.sh fallback): no make
if [ -z "$GT" ]; then
    V=rel; [ "${SAN:-}" = 1 ] && V=san       # the variant `make test` is running
    GT=build/$V/tests/gpu
    check "make gpu-tests (nvcc present)" nice make -s SAN="${SAN:-}" gpu-tests
    check "libcuda.a holds the backend" sh -c "nm build/$V/libcuda.a | grep -q ' T cuda_backend_step'"
    # the tools load the backend as a plugin (issue 11 defect 3): cuBLAS is not linked
    PL=$LLADA_BIN/../lib/llada/libllada-cuda.so
    check "the CUDA plugin is built" test -f "$PL"
    check "the plugin holds the backend" sh -c "nm -D --defined-only '$PL' | grep -q ' T cuda_sampler_step'"
    check_eq "denoise does not link cuBLAS/cudart" 0 "$(ldd "$LLADA_BIN/denoise" | grep -Ec 'libcu(blas|blasLt|dart)\.')"
    check "every symbol the plugin takes from denoise is exported" sh -c "nm -D --undefined-only '$PL' | awk '\$1 == \"U\" && \$2 !~ /@/ {print \$2}' | sort -u > '$TMP/pu'; nm -D --defined-only '$LLADA_BIN/denoise' | awk '{print \$3}' | sort -u > '$TMP/dd'; test -z \"\$(comm -23 '$TMP/pu' '$TMP/dd')\""
    for o in build/$V/kernels/cuda/attention.o build/$V/kernels/cuda/summarise.o; do
        check "$(basename "$o"): sm_90 code + PTX embedded" sh -c \
            "objdump -h '$o' | grep -q nv_fatbin && strings -a '$o' | grep -q 'sm_90'"
    done
fi
"$GT/gpu_check" "$M" >"$TMP/gc.out" 2>&1; rc=$?
if [ "$rc" -eq 77 ]; then
    check_eq "gpu_check without a GPU: skip line" "skip" "$(cut -d: -f1 "$TMP/gc.out")"
    check_exit 77 "gpu_bench without a GPU skips" "$GT/gpu_bench"
    check "--device auto falls back" gen --device auto
    gen --device auto >"$TMP/auto.jsonl" 2>"$TMP/auto.err"
    check_eq "fallback notice is one line" 1 "$(wc -l <"$TMP/auto.err")"
    check "fallback notice text" grep -Eq '^denoise: no usable CUDA device \(.+\); running on the CPU$' "$TMP/auto.err"
    check "fallback output equals --device cpu" cmp "$TMP/cpu.jsonl" "$TMP/auto.jsonl"
    gen --device auto -q >/dev/null 2>"$TMP/q.err"
    check_eq "-q silences the notice" 0 "$(wc -c <"$TMP/q.err")"
    gen >/dev/null 2>"$TMP/d.err"
    check_eq "the implicit default says nothing without a GPU" 0 "$(wc -c <"$TMP/d.err")"
    LLADA_DEVICE=auto gen >/dev/null 2>"$TMP/env.err"
    check "LLADA_DEVICE=auto is explicit: notice" grep -q 'running on the CPU' "$TMP/env.err"
    LLADA_DEVICE=cuda check_exit 5 "LLADA_DEVICE=cuda without a GPU: exit 5" gen
    check_exit 5 "--device cuda without a GPU: exit 5" gen --device cuda
    check_stderr "--device cuda message says so plainly" "^denoise: error: --device cuda: this machine has no usable GPU \(.+\); use --device cpu or auto$"
    cp "$ERR_FILE" "$TMP/cuda.err"
    check "... and the reason is the CUDA runtime's (the plugin loaded)" sh -c "! grep -q 'cannot load the CUDA backend' '$TMP/cuda.err'"
else
    check_eq "gpu_check on a GPU machine" 0 "$rc"
    gen --device cuda:f32 >"$TMP/gpu.jsonl" 2>/dev/null
    check "GPU (f32) output equals --device cpu" cmp "$TMP/cpu.jsonl" "$TMP/gpu.jsonl"
fi
finish
