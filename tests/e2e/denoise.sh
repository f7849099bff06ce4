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

if command -v tok >/dev/null && command -v detok >/dev/null && [ -f "$LLADA_ROOT/models/default/config.json" ]; then
    out=$(printf 'The capital of France is\n' | tok | denoise --gen-length 8 --steps 8 | detok)
    check "tok | denoise | detok with defaults" test -n "$out"
fi
finish
