#!/usr/bin/env bash
# tests/e2e/train.sh — train end to end: a tiny model overfits a fixed batch of masked records
# (diffusion and AR), resume gives bit-identical weights and optimiser state to an uninterrupted
# run, checkpoints load in denoise, and bad input gets one-line errors with the documented codes.
source "$(dirname "$0")/../lib.sh"

# Fixed masked records (p = 0.5, the same noise every step) and a token corpus, from numpy.
"$PYTHON" - "$TMP" <<'PY'
import sys, msgpack, numpy as np
d = sys.argv[1]; rng = np.random.default_rng(3); M = 31
def arr(a): return {"dtype": "i4", "shape": [len(a)], "data": np.asarray(a, "<i4").tobytes()}
recs = []
for g in range(4):
    x0 = rng.integers(0, 30, 24); xt = x0.copy(); xt[rng.random(24) < 0.5] = M
    recs.append(msgpack.packb({"kind": "masked", "v": 1, "x0": arr(x0), "xt": arr(xt), "t": 0.5,
                               "p": 0.5, "prompt_len": 0, "answer_len": 24, "group": g, "mc": 0}))
open(f"{d}/masked.mp", "wb").write(b"".join(recs))
seq = np.tile(np.arange(1, 11), 60)
open(f"{d}/corpus.mp", "wb").write(b"".join(
    msgpack.packb({"kind": "tokens", "v": 1, "tokens": arr(seq[i:i + 50])}) for i in range(0, 600, 50)))
open(f"{d}/bigid.mp", "wb").write(msgpack.packb({"kind": "tokens", "tokens": arr([1, 2, 99] * 30)}))
PY
TINY=(--vocab 32 --mask-id 31 --eos-id 30 --d-model 32 --n-layers 2 --n-heads 4 --n-kv-heads 2 --mlp 64 --batch 4 -q)
first_last() { awk -F, 'NR==2{f=$3} END{print f, $3}' "$1"; }

# 1. overfitting a fixed batch: the loss must fall below 2% of its start
check "diffusion overfits a fixed batch" train "${TINY[@]}" --steps 300 --lr 1e-2 --warmup 10 \
    --weight-decay 0 --log-every 1 --log "$TMP/d.csv" --out "$TMP/d" -i "$TMP/masked.mp"
read -r f l < <(first_last "$TMP/d.csv")
check "diffusion loss $f -> $l" awk -v f="$f" -v l="$l" 'BEGIN{exit !(l < 0.02 * f)}'
check "AR overfits a fixed batch" train "${TINY[@]}" --objective ar --steps 300 --lr 1e-2 \
    --warmup 10 --weight-decay 0 --log-every 1 --log "$TMP/a.csv" --out "$TMP/a" -i "$TMP/masked.mp"
read -r f l < <(first_last "$TMP/a.csv")
check "AR loss $f -> $l" awk -v f="$f" -v l="$l" 'BEGIN{exit !(l < 0.02 * f)}'

# mask's pretraining records (xt, and the --bitmap form) train the same
mask --pretrain --mask-id 31 --eos-id 30 --length 16 --crop 0.2 -i "$TMP/corpus.mp" -o "$TMP/pre.mp"
mask --pretrain --mask-id 31 --eos-id 30 --length 16 --crop 0.2 --bitmap -i "$TMP/corpus.mp" -o "$TMP/preb.mp"
check "trains on mask --pretrain records" train "${TINY[@]}" --steps 20 --out "$TMP/mp" -i "$TMP/pre.mp"
check "trains on mask --bitmap records" train "${TINY[@]}" --steps 20 --out "$TMP/mpb" -i "$TMP/preb.mp"
check "bitmap and xt records give the same model" cmp "$TMP/mp/model.safetensors" "$TMP/mpb/model.safetensors"

# 2. resume == uninterrupted (corpus mode: windows and masks are keyed by step)
common=("${TINY[@]}" --seq 16 --steps 40 --save-every 7 -i "$TMP/corpus.mp")
check "uninterrupted run" train "${common[@]}" --out "$TMP/full"
check "first half" train "${common[@]}" --stop-after 20 --out "$TMP/half"
check "resumed second half" train "${common[@]}" --resume --out "$TMP/half"
check "resumed weights identical" cmp "$TMP/full/model.safetensors" "$TMP/half/model.safetensors"
# train_state.bin: magic, n, checksum, step, tokens (40 bytes), elapsed seconds (8), m, v
check "resumed step/checksum identical" cmp -n 40 "$TMP/full/train_state.bin" "$TMP/half/train_state.bin"
check "resumed AdamW moments identical" cmp -i 48 "$TMP/full/train_state.bin" "$TMP/half/train_state.bin"
check "--init continues from a model folder" train "${common[@]}" --init "$TMP/full" --steps 3 \
    --log-every 1 --log "$TMP/init.csv" --out "$TMP/init"
check "scratch run for comparison" train "${common[@]}" --steps 3 --log-every 1 --log "$TMP/scratch.csv" --out "$TMP/scratch"
check "--init starts from the trained weights" awk -F, 'FNR == 2 { v[NR == FNR] = $3 } END { exit !(v[1] < v[0] - 0.3) }' \
    "$TMP/init.csv" "$TMP/scratch.csv"
check "--config creates the model a config.json describes" train "${common[@]}" --steps 2 \
    --config "$TMP/full/config.json" --out "$TMP/cfg"
check "same config written back" cmp "$TMP/full/config.json" "$TMP/cfg/config.json"
check "2 threads run" train "${common[@]}" --threads 2 --steps 5 --out "$TMP/t2"

# 3. the checkpoint is a model folder denoise loads
"$PYTHON" - "$TMP" <<'PY'
import sys, msgpack, numpy as np
x = np.array([1, 2, 3, 4, 31, 31, 7, 8], "<i4")
open(sys.argv[1] + "/canvas.mp", "wb").write(msgpack.packb(
    {"kind": "canvas", "tokens": {"dtype": "i4", "shape": [8], "data": x.tobytes()}, "prompt_len": 4}))
PY
check "denoise loads the checkpoint" denoise --model "$TMP/full" -i "$TMP/canvas.mp" -o "$TMP/gen.mp"

# 3b. train's held-out bound == mask --likelihood | denoise --score | mask --reduce on the same
# windows (same stratified draws keyed by seed/group; independent CE and reduction code)
"$PYTHON" - "$TMP" <<'PY'
import sys, msgpack, numpy as np
def arr(a): return {"dtype": "i4", "shape": [len(a)], "data": np.asarray(a, "<i4").tobytes()}
ev = np.random.default_rng(1).integers(0, 30, 16 * 5)
open(sys.argv[1] + "/ev.mp", "wb").write(msgpack.packb({"kind": "tokens", "tokens": arr(ev)}))
open(sys.argv[1] + "/evw.mp", "wb").write(b"".join(
    msgpack.packb({"kind": "tokens", "tokens": arr(ev[i * 16:(i + 1) * 16])}) for i in range(5)))
PY
check "train with --eval" train "${TINY[@]}" --seq 16 --steps 30 --seed 3 --eval "$TMP/ev.mp" \
    --eval-mc 8 --log "$TMP/ev.csv" --out "$TMP/ev" -i "$TMP/corpus.mp"
mine=$(tail -n 1 "$TMP/ev.csv" | cut -d, -f8)
ref=$(mask --likelihood --mc 8 --batch 8 --seed 3 --mask-id 31 -i "$TMP/evw.mp" |
      denoise --model "$TMP/ev" --score | mask --reduce --json |
      "$PYTHON" -c 'import sys, json; b = [json.loads(l)["bound"] for l in sys.stdin if "\"likelihood\"" in l]; print(-sum(b) / len(b) / 16)')
check "eval bound $mine == mask|denoise|mask $ref" awk -v a="$mine" -v b="$ref" 'BEGIN{exit !(b != "" && (a-b)^2 < (1e-5*b)^2 + 1e-12)}'

# 4. errors
check_exit 2 "missing --out" train "${TINY[@]}" -i "$TMP/corpus.mp"
check_stderr "usage message" '^train: error: --out DIR is required'
check_exit 2 "bad option value" train --out "$TMP/x" --batch zero
check_exit 1 "token outside the vocabulary" train "${TINY[@]}" --out "$TMP/x" -i "$TMP/bigid.mp"
check_stderr "names the token" 'train: error: token id 99 .*vocabulary'
printf '\xc1garbage' >"$TMP/bad.mp"
check_exit 1 "malformed input" train "${TINY[@]}" --out "$TMP/x" -i "$TMP/bad.mp"
check_exit 1 "corpus shorter than a window" train "${TINY[@]}" --seq 4096 --out "$TMP/x" -i "$TMP/corpus.mp"
check_exit 3 "unwritable checkpoint folder" train "${TINY[@]}" --steps 2 --seq 8 --out /proc/nonexistent/x -i "$TMP/corpus.mp"

# 5. pipelines/train-default's command line (the recipe of the bundled model; its full run is
# ~2 hours, so only the argument handling is tested here)
TD="$LLADA_ROOT/pipelines/train-default"
check "train-default --help" sh -c "'$TD' --help | grep -q -- '--start-at N --init DIR'"
check_exit 2 "train-default: unknown option" "$TD" --bogus
check_stderr "names the option" "train-default: error: unknown option --bogus$"
check_exit 2 "train-default: --start-at out of range" "$TD" --start-at 5 --work "$TMP/td" --out "$TMP/tdo"
check_stderr "says the range" 'train-default: error: --start-at must be 1..4'
check_exit 2 "train-default: --start-at without --init" "$TD" --start-at 4 --work "$TMP/td" --out "$TMP/tdo"
check_stderr "asks for --init" 'train-default: error: --start-at 4 needs --init DIR'
# the default output is the work folder's, never the shipped model (issue 11 defect 2): a stub
# `bible` that fails stops the recipe right after it made its folders
mkdir -p "$TMP/fakebin" && printf '#!/bin/sh\nexit 7\n' > "$TMP/fakebin/bible" && chmod +x "$TMP/fakebin/bible"
check_exit 7 "train-default with a failing corpus step stops" env PATH="$TMP/fakebin:$PATH" "$TD" --work "$TMP/tdw"
check "train-default: the default --out is WORK/model" test -d "$TMP/tdw/model"
check_exit 2 "train-default: refuses an --out holding a model" "$TD" --work "$TMP/td" --out "$LLADA_ROOT/models/default"
check_stderr "... naming --force" "train-default: error: .*models/default already holds a model: pass --force"

# 6. an existing checkpoint is not overwritten without --resume or --force (issue 11 defect 2)
sum0=$(cat "$TMP/full/model.safetensors" | cksum)
check_exit 2 "rerun into a checkpoint without --resume: refused" train "${common[@]}" --out "$TMP/full"
check_eq "... with one line naming --resume and --force" \
    "train: error: $TMP/full already holds a checkpoint: pass --resume to continue it or --force to replace it" \
    "$(cat "$ERR_FILE")"
check_eq "... and the checkpoint untouched" "$sum0" "$(cat "$TMP/full/model.safetensors" | cksum)"
mkdir -p "$TMP/rel" && cp "$TMP/full/config.json" "$TMP/full/model.safetensors" "$TMP/rel/"
check_exit 2 "--resume into a model folder without train_state.bin: refused" train "${common[@]}" --resume --out "$TMP/rel"
check_stderr "... naming --force" "no train_state.bin to --resume from: pass --force"
check "--force replaces it" train "${common[@]}" --steps 2 --force --out "$TMP/rel"
finish
