#!/usr/bin/env bash
# bench/llamacpp.sh — llama.cpp as a reference on the same GGUF files (issues 12 and 13).
#
#   LLAMACPP_DIR=/path/to/llama.cpp bash bench/llamacpp.sh
#
# llama.cpp is never part of this repository: build it yourself (docs/gguf.md, "llama.cpp as a
# reference": cmake -DGGML_NATIVE=ON, targets llama-diffusion-cli and llama-quantize) and point
# LLAMACPP_DIR at its tree (binaries in $LLAMACPP_DIR/build/bin). Everything runs with
# LLAMACPP_THREADS threads (default 2) on both sides, under nice, interleaved, best of
# LLAMACPP_REPS (default 1):
#   model  a random LLaDA checkpoint of the 105M shape (d 768, 12 layers, 12 heads, FFN 2304)
#          with the bundled model's tokenizer and vocabulary (4096), written by
#          `denoise --quantize` as F32, Q8_0 and Q4_K_M GGUF files (one file per type, read by
#          both programs);
#   (a/c)  per-step time of the exact mode at canvas LLAMACPP_CANVAS (default 128): ours
#          `denoise --bench L` (the whole canvas + the LM head on every row, what
#          llama-diffusion-cli does each step) against llama-diffusion-cli's own "time per step"
#          (-ub L, 4 steps, block 32, greedy), per file type;
#   (b)    per generated token, prompt 32 + 128 generated, blocks of 32, 2 threads: ours with
#          `--cache dual --remasking threshold:0.9` (wall time of the whole run, model load
#          included, / 128) against llama-diffusion-cli's time per step at canvas 160 (10 steps
#          timed; at steps = generated tokens it commits one token per step, the whole canvas
#          every step, so its time per token is its time per step);
#   (q)    llama-quantize makes Q8_0 and Q4_K_M files from our F32 GGUF of the bundled model;
#          bench/llamacpp_check.py loads them with denoise and checks the logits against numpy
#          on the weights they hold;
#   (q5)   the same for the bundled model v2 (Q4_K_M, Q5_K_M: llama-quantize's Q5_0 / Q5_1
#          fallback for its rows; Q5_0, Q5_1; each against our --quantize file of the type);
#   (k)    KL against f32 (bench/quant_kl.py, KJV prompt set) of our rtn and searched files and
#          llama-quantize's of the same type;
#   (l2)   only with LLAMACPP_LLADA2_DIR (a build of the llama.cpp fork with draft PR #17454's
#          "llada2", whose llama-quantize knows LLaDA 2.x; upstream's does not):
#          bench/llamacpp_llada2.py quantises small random LLaDA 2.x F32 files with it (Q8_0,
#          Q4_K_M, Q5_K_M, Q6_K) and checks that denoise reads them (types, logits vs numpy, KL).
# Prints a table; the files stay in build/bench/llamacpp.
set -u
: "${LLAMACPP_DIR:?set LLAMACPP_DIR to a llama.cpp tree built with llama-diffusion-cli and llama-quantize (docs/gguf.md)}"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
: "${LLADA_BIN:=$root/bin}"
: "${PYTHON:=/usr/bin/python3}"
LCLI=$LLAMACPP_DIR/build/bin/llama-diffusion-cli
LQ=$LLAMACPP_DIR/build/bin/llama-quantize
for b in "$LCLI" "$LQ"; do [ -x "$b" ] || { echo "llamacpp.sh: no $b (build it: docs/gguf.md)" >&2; exit 3; }; done
thr=${LLAMACPP_THREADS:-2}
reps=${LLAMACPP_REPS:-1}
L=${LLAMACPP_CANVAS:-128}
N="nice -n ${LLAMACPP_NICE:-10}"
cache=${LLADA_BENCH_CACHE:-$root/build/bench}/llamacpp
mkdir -p "$cache"
commit=$(cat "$LLAMACPP_DIR/COMMIT" 2>/dev/null || git -C "$LLAMACPP_DIR" rev-parse HEAD 2>/dev/null || echo unknown)
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $thr threads"
echo "llama.cpp: $LLAMACPP_DIR, commit $commit"

# ---- the model: 105M-shaped random LLaDA with the bundled tokenizer
m=$cache/m105
if [ ! -f "$m/config.json" ]; then
    $N "$PYTHON" "$root/tests/fixtures/make_tiny_ckpt.py" "$m" --custom \
        d_model=768,n_layers=12,n_heads=12,n_kv_heads=12,mlp_hidden_size=2304,vocab_size=4096 --dtype f32 || exit 1
    "$PYTHON" - "$m" "$root/models/default" <<'PY' || exit 1
import json, shutil, sys
m, b = sys.argv[1], sys.argv[2]
c, bc = json.load(open(m + "/config.json")), json.load(open(b + "/config.json"))
for k in ("mask_token_id", "eos_token_id", "pad_token_id", "bos_token_id"):
    c[k] = bc[k]
json.dump(c, open(m + "/config.json", "w"), indent=2)
for f in ("tokenizer.json", "tokenizer_config.json"):
    shutil.copy(b + "/" + f, m + "/" + f)
PY
fi
for t in f32 q8_0 q4_k_m; do
    [ -f "$cache/m105-$t.gguf" ] || $N "$LLADA_BIN/denoise" --model "$m" --quantize $t "$cache/m105-$t.gguf" || exit 1
done
prompt="In the beginning God created the heaven and the earth. And the earth was without form, and void; and darkness"

ours_step() {   # FILE L -> ms per step (denoise --bench, best of its 5)
    $N "$LLADA_BIN/denoise" --model "$1" --threads "$thr" --bench "$2" 2>/dev/null |
        "$PYTHON" -c 'import json,sys; r=json.loads(sys.stdin.read()); print("%.1f" % (r["canvas"] / r["tokens_per_s"] * 1e3))'
}
lcpp_step() {   # FILE L STEPS -> ms per step (llama-diffusion-cli's own figure)
    $N "$LCLI" -m "$1" -p "$prompt" -t "$thr" -tb "$thr" -ub "$2" -b "$2" -c "$2" --diffusion-steps "$3" \
        --diffusion-block-length 32 --temp 0 2>&1 | sed -n 's/.*[^g] time per step: \([0-9.]*\)ms.*/\1/p' | tail -n 1
}
best() { sort -g | head -n 1; }

echo
echo "(a, c) per step, exact mode (whole canvas + logits of every row), canvas $L, $thr threads, ms (best of $reps):"
printf "  %-7s %10s %12s %8s\n" type ours llama.cpp speed-up
for t in f32 q8_0 q4_k_m; do
    o=""; l=""
    for r in $(seq "$reps"); do
        o="$o $(ours_step "$cache/m105-$t.gguf" "$L")"
        l="$l $(lcpp_step "$cache/m105-$t.gguf" "$L" 4)"
    done
    o=$(echo $o | tr ' ' '\n' | grep . | best); l=$(echo $l | tr ' ' '\n' | grep . | best)
    printf "  %-7s %10s %12s %8s\n" $t "${o:-?}" "${l:-?}" \
        "$("$PYTHON" -c "import sys; a, b = sys.argv[1:]; print(f'{float(b) / float(a):.2f}x')" "${o:-0}" "${l:-0}" 2>/dev/null)"
done

echo
echo "(b) per generated token: prompt 32 + 128 generated, blocks of 32, $thr threads, s/token (best of $reps):"
toks=$cache/prompt32.mp
"$PYTHON" - "$toks" <<'PY'
import msgpack, numpy as np, sys
a = (np.arange(32, dtype="<i4") * 37 + 11) % 4000
open(sys.argv[1], "wb").write(msgpack.packb({"kind": "tokens", "tokens": {"dtype": "i4", "shape": [32], "data": a.tobytes()}}, use_bin_type=True))
PY
for t in f32 q8_0 q4_k_m; do
    o=""; l=""
    for r in $(seq "$reps"); do
        t0=$(date +%s.%N)
        $N "$LLADA_BIN/denoise" --model "$cache/m105-$t.gguf" --threads "$thr" --gen-length 128 --block-length 32 \
            --steps 128 --cache dual --remasking threshold:0.9 <"$toks" >"$cache/gen-$t.mp" || exit 1
        o="$o $("$PYTHON" -c "import sys,time; print(f'{(time.time() - float(sys.argv[1])) / 128:.3f}')" "$t0")"
        l="$l $(lcpp_step "$cache/m105-$t.gguf" 160 10 | "$PYTHON" -c 'import sys; s=sys.stdin.read().strip(); print(f"{float(s) / 1e3:.3f}" if s else "")')"
    done
    o=$(echo $o | tr ' ' '\n' | grep . | best); l=$(echo $l | tr ' ' '\n' | grep . | best)
    printf "  %-7s ours (dual + threshold 0.9) %7s   llama.cpp %7s   %s\n" $t "${o:-?}" "${l:-?}" \
        "$("$PYTHON" -c "import sys; a, b = sys.argv[1:]; print(f'{float(b) / float(a):.2f}x')" "${o:-0}" "${l:-0}" 2>/dev/null)"
done

# (q) and (k) use the bundled model's v1 (d 256, f32; models/default until 2026-12-07), taken from
# git history: every row of it fits the K-quants' 256-blocks, while v2's rows of 384 and 1,152
# do not (its K-quant files fall back to Q5_0 / Q5_1 / Q8_0 in our writer and in llama-quantize;
# (q5) below reads those).
# LLAMACPP_KJV_MODEL=DIR picks another model folder.
kjv=${LLAMACPP_KJV_MODEL:-$cache/bundled-v1}
if [ ! -f "$kjv/model.safetensors" ]; then
    mkdir -p "$kjv"
    for f in config.json model.safetensors tokenizer.json tokenizer_config.json generation_config.json; do
        git -C "$root" show "07bcb8d:models/default/$f" >"$kjv/$f" ||
            { echo "llamacpp bench: cannot read v1 of the bundled model from git (set LLAMACPP_KJV_MODEL)" >&2; rm -rf "$kjv"; exit 1; }
    done
fi
echo
echo "(q) llama-quantize on our F32 GGUF of the bundled model, read by denoise:"
b32=$cache/bundled-f32.gguf
[ -f "$b32" ] || $N "$LLADA_BIN/denoise" --model "$kjv" --quantize f32 "$b32" || exit 1
status=0
for q in Q8_0 Q4_K_M; do
    lq=$cache/bundled-llamacpp-$q.gguf
    $N "$LQ" "$b32" "$lq" $q >"$cache/quantize-$q.log" 2>&1 || { echo "  llama-quantize $q failed (see $cache/quantize-$q.log)"; status=1; continue; }
    ours=$cache/bundled-ours-$(echo $q | tr 'A-Z' 'a-z').gguf
    [ -f "$ours" ] || $N "$LLADA_BIN/denoise" --model "$kjv" --quantize "$(echo $q | tr 'A-Z' 'a-z')" "$ours" || exit 1
    $N "$PYTHON" "$here/llamacpp_check.py" "$kjv" "$lq" "$ours" | sed "s/^/  /"; [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
done

echo
echo "(q5) llama-quantize on our F32 GGUF of the bundled model v2 (rows of 384 / 1,152: its K-quant"
echo "     rows fall back to Q5_0 / Q5_1), read by denoise; each also against our --quantize file of the type:"
v2=$root/models/default
b2=$cache/bundled-v2-f32.gguf
[ -f "$b2" ] || $N "$LLADA_BIN/denoise" --model "$v2" --quantize f32 "$b2" || exit 1
for q in Q4_K_M Q5_K_M Q5_0 Q5_1; do
    lq=$cache/bundled-v2-llamacpp-$q.gguf
    $N "$LQ" "$b2" "$lq" $q >"$cache/quantize-v2-$q.log" 2>&1 || { echo "  llama-quantize $q failed (see $cache/quantize-v2-$q.log)"; status=1; continue; }
    t=$(echo $q | tr 'A-Z' 'a-z')   # ours: written afresh (the writer's type rules may have changed)
    $N "$LLADA_BIN/denoise" --quiet --model "$v2" --quantize $t "$cache/bundled-v2-ours-$t.gguf" || exit 1
    set -- "$cache/bundled-v2-ours-$t.gguf"
    $N "$PYTHON" "$here/llamacpp_check.py" "$v2" "$lq" "$@" | sed "s/^/  /"; [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
done

echo "(k) KL(f32 || file) on a KJV prompt set (bench/quant_kl.py): our --quantize-method rtn and"
echo "    search against llama-quantize's file of the same type (--pure for Q4_K, Q5_K and Q4_0: one"
echo "    type throughout, like ours; Q4_K_M / Q5_K_M: the same tensor mix):"
set --
for q in Q4_K_M Q4_K Q5_K_M Q5_K Q6_K Q4_0 Q8_0; do
    t=$(echo $q | tr 'A-Z' 'a-z')
    pure=; case $q in Q4_K|Q5_K|Q4_0) pure=--pure ;; esac
    lq=$cache/bundled-llamacpp$pure-$q.gguf
    [ -f "$lq" ] || $N "$LQ" $pure "$b32" "$lq" $q >"$cache/quantize$pure-$q.log" 2>&1 || { echo "  llama-quantize $q failed"; status=1; continue; }
    for m in rtn search; do
        [ -f "$cache/bundled-$m-$t.gguf" ] || $N "$LLADA_BIN/denoise" --model "$kjv" --quantize $t \
            --quantize-method $m "$cache/bundled-$m-$t.gguf" || exit 1
        set -- "$@" "ours-$m-$t=$cache/bundled-$m-$t.gguf"
    done
    set -- "$@" "llama.cpp-$q=$lq"
done
$N "$PYTHON" "$here/quant_kl.py" "$kjv" "$@" | sed "s/^/  /"; [ "${PIPESTATUS[0]}" -eq 0 ] || status=1

echo
if [ -n "${LLAMACPP_LLADA2_DIR:-}" ]; then
    echo "(l2) LLaDA 2.x files made by the llada2 fork's llama-quantize ($LLAMACPP_LLADA2_DIR, commit" \
        "$(cat "$LLAMACPP_LLADA2_DIR/COMMIT" 2>/dev/null || git -C "$LLAMACPP_LLADA2_DIR" rev-parse HEAD 2>/dev/null || echo unknown)), read by denoise:"
    LLAMACPP_DIR=$LLAMACPP_LLADA2_DIR LLAMACPP_NICE=${LLAMACPP_NICE:-10} LLADA_BIN=$LLADA_BIN \
        $N "$PYTHON" "$here/llamacpp_llada2.py" "$cache/llada2" | sed 's/^/  /'
    [ "${PIPESTATUS[0]}" = 0 ] || status=1
else
    echo "(l2) skipped: set LLAMACPP_LLADA2_DIR to a build of the llada2 fork (docs/gguf.md)"
fi
exit $status
