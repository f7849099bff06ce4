#!/usr/bin/env bash
# tests/e2e/denoise.sh — denoise as a pipeline stage: the BLAS core-type guard re-executes
# with the right OPENBLAS_CORETYPE whatever the environment says, records stream through
# (msgpack and JSON, unknown fields kept), --help/--version, and — when tok, detok and the
# bundled model exist — `tok | denoise | detok` with defaults.
. "$(dirname "$0")/../lib.sh"
M=$TMP/tiny
"$PYTHON" "$LLADA_ROOT/tests/fixtures/make_tiny_ckpt.py" "$M" --preset mha_f32 --preset gqa_bf16 >/dev/null

want=$("$PYTHON" - <<'PY'
import re
flags = open("/proc/cpuinfo").read()
print("SkylakeX" if re.search(r"\bavx512f\b", flags) and re.search(r"\bavx512bw\b", flags) else
      "Haswell" if re.search(r"\bavx2\b", flags) else "")
PY
)
for env in "" "OPENBLAS_CORETYPE=Prescott" "OPENBLAS_CORETYPE=bogus"; do
    got=$(env $env denoise --model "$M/mha_f32" --bench 8 | sed -E 's/.*"blas_core":"([^"]*)".*/\1/')
    if [ -n "$want" ]; then check_eq "BLAS core with '${env:-no setting}' is $want" "$want" "$got"; fi
done
got=$(LLADA_NO_REEXEC=1 OPENBLAS_CORETYPE=Prescott denoise --model "$M/mha_f32" --bench 8 | sed -E 's/.*"blas_core":"([^"]*)".*/\1/')
check_eq "LLADA_NO_REEXEC=1 keeps the user's choice" "Prescott" "$got"

rec='{"kind":"tokens","tokens":{"dtype":"i4","shape":[3],"data":[1,2,3]},"meta":{"a":[1,2]}}'
out=$(printf '%s\n' "$rec" | denoise --model "$M/mha_f32" --gen-length 8 --steps 4 --block-length 4 --json)
check_eq "JSON result keeps user fields" 1 "$(grep -c '"meta":{"a":\[1,2\]}' <<<"$out")"
check_eq "result has 8 tokens and 8 reveal steps" 2 "$(grep -o '"shape":\[8\]' <<<"$out" | wc -l)"
check_eq "end record counts 1" 1 "$(grep -c '"kind":"end","v":1,"count":1' <<<"$out")"
n=$(for i in 1 2 3 4 5; do printf '%s\n' "$rec"; done | denoise --model "$M/gqa_bf16" --gen-length 4 --batch 2 --json | grep -c '"reveal_step"')
check_eq "5 records through batches of 2" 5 "$n"
check "msgpack in, msgpack out (rec reads it back)" bash -c "printf '%s\n' '$rec' | rec | denoise --model '$M/mha_f32' --gen-length 4 | rec --json | grep -q reveal_step"
check "--help" denoise --help
check "--version" denoise --version
check_exit 2 "unknown option" denoise --nope
check_exit 2 "bad --steps" denoise --steps x
check_exit 1 "garbage input" bash -c "printf 'garbage' | denoise --model '$M/mha_f32'"
check_stderr "garbage input message" "^denoise: error: "
check_exit 1 "truncated record" bash -c "printf '%s\n' '$rec' | rec | head -c 20 | denoise --model '$M/mha_f32'"

# the pipeline on a model with LLaDA's vocabulary and ids plus a LLaDA-layout tokenizer
tokdir=$(cd "$LLADA_ROOT/tests/py" && "$PYTHON" -c "import tok_corpora; print(tok_corpora.llada_synthetic())" 2>/dev/null)
if command -v tok >/dev/null && command -v detok >/dev/null && [ -n "$tokdir" ]; then
    "$PYTHON" "$LLADA_ROOT/tests/fixtures/make_tiny_ckpt.py" "$M" --preset llada_vocab --tokenizer "$tokdir" >/dev/null
    L=$M/llada_vocab
    out=$(printf 'The capital of France is\n' | tok -m "$L" --chat | denoise --model "$L" --gen-length 16 --steps 8 --block-length 8 2>/dev/null | detok -m "$L" --color=always)
    check_eq "tok --chat | denoise | detok --color: one coloured line" 1 "$(grep -c $'\e\\[38;5;' <<<"$out")"
    printf 'Hello\nAnd then?\n' | "$LLADA_ROOT/pipelines/chat" --model "$L" --gen-length 8 --steps 8 --block-length 4 --history "$TMP/h.mp" >"$TMP/chat.out" 2>/dev/null
    check_eq "pipelines/chat answers two turns" 2 "$(wc -l <"$TMP/chat.out")"
    hist=$(rec -i "$TMP/h.mp" --json)
    check_eq "chat history: BOS once, two user turns" "1 2" \
        "$(grep -o '126080' <<<"$hist" | wc -l) $(grep -o '126346,872,' <<<"$hist" | wc -l)"
    n=$("$LLADA_ROOT/pipelines/generate" --model "$L" --chat --gen-length 8 "Hi" "Second prompt" 2>/dev/null | wc -l)
    check_eq "pipelines/generate: one answer per prompt" 2 "$n"
fi
if command -v tok >/dev/null && command -v detok >/dev/null && [ -f "$LLADA_ROOT/models/default/config.json" ]; then
    out=$(printf 'The capital of France is\n' | tok | denoise --gen-length 8 --steps 8 2>/dev/null | detok)
    check "tok | denoise | detok with defaults (models/default)" test -n "$out"
fi
# A canvas with masks inside its prompt (infilling): every mask is filled, other tokens stay.
mid=$(sed -nE 's/.*"mask_token_id": *([0-9]+).*/\1/p' "$M/mha_f32/config.json")
printf '{"kind":"canvas","tokens":{"dtype":"i4","shape":[8],"data":[1,%s,2,3,%s,%s,%s,%s]},"prompt_len":4}\n' \
    "$mid" "$mid" "$mid" "$mid" "$mid" > "$TMP/canvas.jsonl"
out=$(denoise --model "$M/mha_f32" --json -q < "$TMP/canvas.jsonl" | head -n 1)
toks=$(sed -E 's/.*"tokens":\{[^}]*"data":\[([^]]*)\].*/\1/' <<<"$out")
check_eq "canvas: prompt is the text before the first mask" '"prompt":{"dtype":"i4","shape":[1],"data":[1]}' \
    "$(grep -oE '"prompt":\{[^}]*\}' <<<"$out")"
case ",$toks," in *",$mid,"*) fail "canvas: every mask filled" "$toks" ;; *) pass "canvas: every mask filled" ;; esac
check_eq "canvas: fixed tokens between masks kept" "2,3" "$(cut -d, -f2,3 <<<"$toks")"
# generation_config.json in the model folder sets defaults for options not given.
G=$TMP/gencfg; cp -r "$M/mha_f32" "$G"
printf '{"kind":"tokens","tokens":{"dtype":"i4","shape":[3],"data":[1,2,3]}}\n' > "$TMP/p.jsonl"
printf '{"block_length": 4, "temperature": 0.9, "eos_token_id": 7}\n' > "$G/generation_config.json"
a=$(denoise --model "$G" --gen-length 16 --json -q < "$TMP/p.jsonl")
b=$(denoise --model "$M/mha_f32" --gen-length 16 --block-length 4 --temperature 0.9 --json -q < "$TMP/p.jsonl")
c=$(denoise --model "$G" --gen-length 16 --block-length 16 --temperature 0 --json -q < "$TMP/p.jsonl")
d=$(denoise --model "$M/mha_f32" --gen-length 16 --json -q < "$TMP/p.jsonl")
case "$a" in *'"reveal_step"'*) pass "generation_config.json run produced a result" ;; *) fail "generation_config.json run produced a result" ;; esac
[ "$a" != "$d" ] && pass "generation_config.json changes the output" || fail "generation_config.json changes the output"
check_eq "generation_config.json defaults = the same flags" "$b" "$a"
check_eq "flags override generation_config.json" "$d" "$c"
# --help prints the defaults of the model in use; a notice says what the file supplied (issue 11)
check "--help: defaults of the model in use" sh -c "denoise --model '$G' --help | grep -Eq -- '--block-length +4 \(generation_config.json'"
check "--help: official defaults without the file" sh -c "denoise --model '$M/mha_f32' --help | grep -Eq -- '--temperature +0 \(argmax\) \(official default\)'"
check_eq "notice: what generation_config.json supplied" "denoise: block 4, T 0.9 (generation_config.json)" \
    "$(denoise --model "$G" --gen-length 16 --json < "$TMP/p.jsonl" 2>&1 >/dev/null)"
check_exit 2 "options that do not fit: usage error before reading input" denoise --model "$G" --gen-length 10 --block-length 3 -i /nonexistent
check_stderr "... naming the options" '^denoise: error: --gen-length 10 is not a multiple of --block-length 3$'
check_exit 2 "steps against a generation_config.json block" denoise --model "$G" --gen-length 16 --steps 6
check_stderr "... naming where the block length came from" 'error: --steps 6 is not a multiple of the number of blocks 4 \(--gen-length 16 / --block-length 4 \(generation_config.json\)\)'
printf '{"block_length": 12}\n' > "$G/generation_config.json"
check_eq "config block length that does not divide gen length falls back to one block" "$d" \
    "$(denoise --model "$G" --gen-length 16 --json -q < "$TMP/p.jsonl")"
printf '{"temperature": "hot"}\n' > "$G/generation_config.json"
check_exit 1 "malformed generation_config.json exits 1" denoise --model "$G" -q -i "$TMP/p.jsonl" --json
check_stderr "malformed generation_config.json message" 'temperature" must be a number'
# --mask-id, --eos-id, --eot-id (issue 11 defect 5): a copy of the model whose config.json
# names other ids (and no EOT) generates, given the original ids, exactly what the original does
X=$TMP/ids; cp -r "$M/mha_f32" "$X"
"$PYTHON" - "$X/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c.update(mask_token_id=90, eos_token_id=91); c.pop("eot_token_id", None)
json.dump(c, open(sys.argv[1], "w"))
PY
printf '{"kind":"tokens","tokens":{"dtype":"i4","shape":[3],"data":[1,2,3]}}\n' > "$TMP/ids.jsonl"
flags=(--gen-length 8 --steps 8 --temperature 0.5 --confidence-eos-eot-inf --logits-eos-inf --json -i "$TMP/ids.jsonl")
ref=$(denoise --model "$M/mha_f32" "${flags[@]}" -q)
check_eq "--mask-id --eos-id --eot-id override config.json" "$ref" \
    "$(denoise --model "$X" --mask-id 95 --eos-id 93 --eot-id 94 "${flags[@]}" -q)"
denoise --model "$X" --mask-id 95 --eos-id 93 "${flags[@]}" 2>"$TMP/eot.err" >/dev/null
check "--confidence-eos-eot-inf without an EOT id: a notice, not silence" \
    grep -q '^denoise: --confidence-eos-eot-inf: the model has no EOT id (config.json eot_token_id); only EOS is affected: pass --eot-id N for EOT too$' "$TMP/eot.err"
check_eq "no notice once --eot-id is given" "" "$(denoise --model "$X" --mask-id 95 --eos-id 93 --eot-id 94 "${flags[@]}" 2>&1 >/dev/null)"
check_exit 2 "--eot-id outside the vocabulary" denoise --model "$X" --eot-id 96 "${flags[@]}"
check_stderr "... names the option and the range" '^denoise: error: --eot-id 96 is outside the model.s vocabulary \[0, 96\)$'

# Start-up (issue 11 defect 3): the tools do not link cuBLAS/cudart or OpenBLAS. OpenBLAS is
# loaded on the first GEMM (once: no re-execution for OPENBLAS_CORETYPE); the CUDA backend only
# for --device cuda, or auto on a machine with an NVIDIA driver; never for --score/--logits.
# oneDNN (and its OpenMP runtime) only for --precision bf16|int8 — except in SAN=1 builds,
# which link it (LeakSanitizer cannot scan a dlopened libgomp's TLS; Makefile).
lazy='cublas|cublasLt|cudart|openblas'
[ "${SAN:-0}" = 1 ] || lazy="$lazy|dnnl|gomp"
inits() { LD_DEBUG=files "$@" 2>&1 >/dev/null | grep -E "calling init: .*lib($lazy)\." | sed 's/.*calling init: //' | sort | uniq -c | awk '{print $1, $2}'; }
progs() { LD_DEBUG=files "$@" 2>&1 >/dev/null | grep -c 'initialize program'; }
check_eq "--version loads neither OpenBLAS nor CUDA" "" "$(inits denoise --version)"
check_eq "--help loads neither" "" "$(inits denoise --model "$M/mha_f32" --help)"
printf '{"kind":"tokens","tokens":{"dtype":"i4","shape":[3],"data":[1,2,3]}}\n' > "$TMP/one.jsonl"
gen1=(denoise --model "$M/mha_f32" --gen-length 4 --steps 4 -q -i "$TMP/one.jsonl" --json)
check_eq "a generation loads OpenBLAS once" 1 "$(inits "${gen1[@]}" | awk '/openblas/ {print $1}')"
check_eq "a generation runs as one program (no re-execution)" 1 "$(progs "${gen1[@]}")"
if [ "${SAN:-0}" != 1 ]; then
    check_eq "denoise is not linked to oneDNN or libgomp (ldd)" "" "$(ldd "$LLADA_BIN/denoise" | grep -E 'lib(dnnl|gomp)')"
    check_eq "a generation without --precision loads no oneDNN" "" "$(inits "${gen1[@]}" | grep -E 'dnnl|gomp')"
fi
if "${gen1[@]}" --precision bf16 >/dev/null 2>&1; then   # a build with oneDNN on a machine with libdnnl
    [ "${SAN:-0}" = 1 ] ||
        check_eq "--precision bf16 loads oneDNN, once" 1 "$(inits "${gen1[@]}" --precision bf16 | awk '/dnnl/ {print $1}')"
    # --bench-fast: every precision, or the one --precision names; CPU time with one thread
    bfk() { "$PYTHON" -c 'import json, sys; r = json.loads(sys.argv[1]); print(",".join(r["modes"]), r["clock"], r["bf16_full_paired_s"] > 0 and r["dnnl_bf16_s"] > 0)' "$1"; }
    check_eq "--bench-fast: every precision, one thread in CPU time" "f32,bf16,int8 cpu True" \
        "$(bfk "$(denoise --model "$M/mha_f32" --threads 1 --bench-fast 8:8:4)")"
    check_eq "--bench-fast --precision bf16: bf16 alone with its paired ceiling; 2 threads in wall time" \
        "bf16 wall True" "$(bfk "$(denoise --model "$M/mha_f32" --threads 2 --precision bf16 --bench-fast 8:8:4)")"
    # a libdnnl.so.2 that is not oneDNN (found first through LD_LIBRARY_PATH): one line, exit 2
    mkdir -p "$TMP/fakednnl"
    if ${CC:-cc} -shared -fPIC -o "$TMP/fakednnl/libdnnl.so.2" -x c /dev/null 2>/dev/null; then
        check_exit 2 "--precision int8 with a broken libdnnl" env LD_LIBRARY_PATH="$TMP/fakednnl" "${gen1[@]}" --precision int8
        check_stderr "... says so in one line" '^denoise: error: --precision int8 needs oneDNN: libdnnl.so.2 lacks dnnl_[a-z_]+: not oneDNN 2.x\?$'
        check_eq "... and nothing else" 1 "$(wc -l < "$ERR_FILE")"
    fi
else
    check_exit 2 "--precision bf16 without oneDNN is a usage error" "${gen1[@]}" --precision bf16
    check_stderr "... naming oneDNN" '^denoise: error: --precision bf16 needs oneDNN: '
fi
if [ ! -e /dev/nvidiactl ]; then
    check_eq "a CPU generation (no NVIDIA driver) loads no CUDA library" "" "$(inits "${gen1[@]}" | grep -v openblas)"
fi
printf '{"kind":"masked","v":1,"xt":{"dtype":"i4","shape":[3],"data":[1,95,3]},"x0":{"dtype":"i4","shape":[3],"data":[1,2,3]},"prompt_len":1,"p":0.5}\n' > "$TMP/m.jsonl"
check_eq "--score loads no CUDA library, whatever --device" "" \
    "$(inits env LLADA_DEVICE=cuda denoise --model "$M/mha_f32" --score -q -i "$TMP/m.jsonl" --json | grep -v openblas)"
check_eq "--logits loads no CUDA library" "" \
    "$(inits env LLADA_DEVICE=cuda denoise --model "$M/mha_f32" --logits -q -i "$TMP/one.jsonl" --json | grep -v openblas)"
finish
