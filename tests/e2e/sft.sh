#!/usr/bin/env bash
# tests/e2e/sft.sh — SFT end to end on a task where learning is unambiguous: "reverse: w1 w2 w3 w4"
# -> "= w4 w3 w2 w1" over 16 one-token words, as chat messages. tok --chat | mask --sft records
# (prompt never masked, EOS padding counted in answer_len and masked); a tiny model SFT'd from
# scratch, and one pre-trained on the prompts only; greedy denoise | detok on held-out prompts
# (sequences not in the train split) must reach high exact-match accuracy after SFT and stay low
# without it, and denoise must give the prompt back unchanged. One thread, ~35 s (docs/train.md,
# "SFT end to end").
source "$(dirname "$0")/../lib.sh"
MODEL=$LLADA_ROOT/models/default              # its tokenizer (vocab 4096) and special ids only
NET=(--tokenizer "$MODEL" --d-model 64 --n-layers 2 --n-heads 4 --batch 16 --lr 3e-3 --threads 1 -q)
N_TRAIN=2000 N_HELD=100 LEN=32 GEN=9          # prompt 23 tokens; answer 6 (= 4 words <|eot_id|>) + 3 EOS

# the task: train and held-out splits of distinct word sequences, as {"messages": [...]} lines
"$PYTHON" - "$TMP" "$N_TRAIN" "$N_HELD" <<'PY'
import json, random, sys
d, n_train, n_held = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
words = "the and of to that in he shall unto for his they be is him not".split()
rng = random.Random(7); seqs = []; seen = set()
while len(seqs) < n_train + n_held:
    s = tuple(rng.choice(words) for _ in range(4))
    if s not in seen: seen.add(s); seqs.append(s)
user = lambda s: {"role": "user", "content": "reverse: " + " ".join(s)}
answer = lambda s: "= " + " ".join(reversed(s))
with open(d + "/train.jsonl", "w") as f, open(d + "/prompts.jsonl", "w") as g:
    for s in seqs[:n_train]:
        print(json.dumps({"messages": [user(s), {"role": "assistant", "content": answer(s)}]}), file=f)
        print(json.dumps({"messages": [user(s)]}), file=g)
with open(d + "/held.jsonl", "w") as f, open(d + "/held.ans", "w") as g:
    for s in seqs[n_train:]:
        print(json.dumps({"messages": [user(s)]}), file=f); print(answer(s), file=g)
PY

# 1. data: chat template without the generation header (the answer ends with <|eot_id|>), then
# 8 noise draws of every pair (seeds 1..8) = 16,000 SFT records of LEN tokens
check "tok --chat pairs" tok --jsonl --chat --no-gen-prompt -i "$TMP/train.jsonl" -o "$TMP/pairs.mp"
for s in 1 2 3 4 5 6 7 8; do mask --sft --length $LEN --seed $s -i "$TMP/pairs.mp"; done >"$TMP/sft.mp"
check "SFT shard of $((8 * N_TRAIN)) records" test "$(rec -i "$TMP/sft.mp" --json | grep -c '"kind":"masked"')" -eq $((8 * N_TRAIN))
"$PYTHON" - "$TMP/sft.mp" >"$TMP/inv.txt" <<'PY'
import sys, msgpack, numpy as np
arr = lambda t: np.frombuffer(t["data"], "<" + t["dtype"])
MASK, EOS, EOT = 4092, 4091, 4095
bad = []; n = 0; frac = []
for r in msgpack.Unpacker(open(sys.argv[1], "rb"), raw=False):
    if r.get("kind") != "masked": continue
    n += 1; x0, xt, P = arr(r["x0"]), arr(r["xt"]), r["prompt_len"]
    if not (xt[:P] == x0[:P]).all(): bad.append("prompt masked")
    if r["answer_len"] != len(x0) - P: bad.append("answer_len excludes padding")
    if x0[P + 5] != EOT or not (x0[P + 6:] == EOS).all(): bad.append("not EOT + EOS padding")
    m = xt == MASK
    if not ((xt == x0) | m).all() or m.sum() != r["n_masked"]: bad.append("xt is not x0 with masks")
    frac.append(m[P + 6:].mean())
print(n, "ok" if not bad else bad[0], "padding masked" if np.mean(frac) > 0.3 else "padding never masked")
PY
check_eq "SFT records: prompt unmasked, answer_len counts EOS padding, padding masked" \
    "$((8 * N_TRAIN)) ok padding masked" "$(cat "$TMP/inv.txt")"

# 2. models: SFT from scratch on the SFT records; for contrast, pre-training only on the prompts
# as a corpus (the same template and words, never an answer)
check "tok --chat prompts corpus" tok --jsonl --chat --no-gen-prompt -i "$TMP/prompts.jsonl" -o "$TMP/corpus.mp"
check "pre-train 300 steps" train "${NET[@]}" --seq $LEN --sep-eos --steps 300 --out "$TMP/pre" -i "$TMP/corpus.mp"
t0=$(date +%s%N)
check "SFT 1500 steps" train "${NET[@]}" --steps 1500 --log-every 100 --log "$TMP/sft.csv" \
    --out "$TMP/sft" -i "$TMP/sft.mp"
printf '# SFT: %.1f s, loss %s\n' "$(( ($(date +%s%N) - t0) / 1000000 ))e-3" \
    "$(awk -F, 'NR==2{f=$3} END{print f " -> " $3}' "$TMP/sft.csv")"

# 3. greedy generation on held-out prompts; exact match of detok's text (records, since an
# untrained model's text may hold newlines)
check "tok --chat held-out prompts" tok --jsonl --chat -i "$TMP/held.jsonl" -o "$TMP/held.mp"
accuracy() {  # model -> percent exact match; generations in $TMP/gen-<name>.mp and .txt
    local name; name=$(basename "$1")
    denoise --model "$1" --gen-length $GEN --threads 1 -q -i "$TMP/held.mp" -o "$TMP/gen-$name.mp" &&
    detok -r --json -i "$TMP/gen-$name.mp" | "$PYTHON" -c '
import sys, json
want = [l.rstrip("\n") for l in open(sys.argv[1])]
got = [json.loads(l)["text"] for l in sys.stdin if "\"text\"" in l]
open(sys.argv[2], "w").write("".join(g.replace("\n", " ") + "\n" for g in got))
print(100 * sum(g == w for g, w in zip(got, want)) // len(want) if len(got) == len(want) else -1)
' "$TMP/held.ans" "$TMP/gen-$name.txt"
}
acc_pre=$(accuracy "$TMP/pre") acc_sft=$(accuracy "$TMP/sft")
echo "# held-out exact match: pre-trained only $acc_pre%, after SFT $acc_sft% (of $N_HELD)"
paste "$TMP/gen-sft.txt" "$TMP/held.ans" | head -n 3 | sed 's/^/# gen | want: /'
check "after SFT: $acc_sft% >= 80%" test "${acc_sft:-0}" -ge 80
check "pre-trained only: $acc_pre% <= 10%" test "${acc_pre:--1}" -ge 0 -a "${acc_pre:-100}" -le 10
check_eq "one answer per held-out prompt" "$N_HELD" "$(grep -c '' "$TMP/gen-sft.txt")"

# 4. the prompt comes back unchanged, every mask is filled, and the answer ends with <|eot_id|>
# then EOS padding
"$PYTHON" - "$TMP/held.mp" "$TMP/gen-sft.mp" >"$TMP/keep.txt" <<'PY'
import sys, msgpack, numpy as np
arr = lambda t: np.frombuffer(t["data"], "<" + t["dtype"])
ins = [r for r in msgpack.Unpacker(open(sys.argv[1], "rb"), raw=False) if r.get("kind") == "tokens"]
outs = [r for r in msgpack.Unpacker(open(sys.argv[2], "rb"), raw=False) if r.get("kind") == "tokens"]
same = sum(len(arr(i["tokens"])) == o["prompt_len"] and (arr(i["tokens"]) == arr(o["prompt"])).all()
           for i, o in zip(ins, outs))
filled = all((arr(o["tokens"]) != 4092).all() for o in outs)
ends = sum(arr(o["tokens"])[5] == 4095 and (arr(o["tokens"])[6:] == 4091).all() for o in outs)
print(len(ins), len(outs), same if filled else -1, "%d%%" % (100 * ends // max(len(outs), 1)))
PY
read -r n_in n_out n_same ends <"$TMP/keep.txt"
check_eq "every held-out prompt kept token for token, no mask left" "$N_HELD $N_HELD $N_HELD" "$n_in $n_out $n_same"
check "after SFT the answer ends <|eot_id|> + EOS padding ($ends)" test "${ends%\%}" -ge 80
finish
