#!/usr/bin/env bash
# tests/e2e/reversal.sh — pipelines/reversal at a toy size (40 couplets, 1-layer d 32 models,
# a few steps: well under a minute) and its scorer against hand-computed values. Checks the
# structure of the outputs: the split (test lines in no SFT item, either direction; each SFT
# pair present forward and reversed), one generation per test item for both models and both
# directions, the AR generations equal to what denoise --causal gives again, and results.json.
# The numbers of the real study: docs/reversal.md.
source "$(dirname "$0")/../lib.sh"
command -v bible >/dev/null || { echo "# skip: bible (bible-kjv) not installed"; finish; exit 0; }
W=$TMP/rev

# 1. the pipeline end to end at a toy size
check "pipelines/reversal (toy)" "$LLADA_ROOT/pipelines/reversal" --work "$W" --limit 40 --test 10 \
    --d-model 32 --n-layers 1 --n-heads 2 --mlp 64 --pre-steps 12 --sft-steps 8 --gen-length 8
"$PYTHON" - "$W" >"$TMP/split.txt" <<'PY'
import json, sys
w = sys.argv[1]
items = [json.loads(l)["messages"] for l in open(w + "/data/sft.jsonl")]
fwd = {(m[0]["content"][len("next: "):], m[1]["content"]) for m in items if m[0]["content"].startswith("next: ")}
rev = {(m[1]["content"], m[0]["content"][len("previous: "):]) for m in items if m[0]["content"].startswith("previous: ")}
sft_lines = {x for p in fwd | rev for x in p}
tq = {d: [json.loads(l)["messages"][0]["content"] for l in open(w + "/data/test-%s.jsonl" % d)] for d in ("fwd", "rev")}
ta = {d: [l.rstrip("\n") for l in open(w + "/data/test-%s.ans" % d)] for d in ("fwd", "rev")}
test_lines = {q.split(": ", 1)[1] for d in tq for q in tq[d]} | set(ta["fwd"]) | set(ta["rev"])
same_pairs = [(q[len("next: "):], a) for q, a in zip(tq["fwd"], ta["fwd"])] == \
             [(a, q[len("previous: "):]) for q, a in zip(tq["rev"], ta["rev"])]
print(len(items), len(fwd), len(rev), fwd == rev, len(ta["fwd"]), same_pairs, len(sft_lines & test_lines))
PY
check_eq "split: 30 SFT pairs both ways, 10 test pairs, no test line in an SFT item" \
    "60 30 30 True 10 True 0" "$(cat "$TMP/split.txt")"
for m in mdm ar; do for d in fwd rev; do
    check_eq "gen-$m-$d.txt: one line per test item" 10 "$(grep -c '' "$W/gen-$m-$d.txt")"
done; done
check_eq "results.json: both models, 10 items, 9 scores each (mean inside its CI)" "ar:10:9 mdm:10:9" "$("$PYTHON" -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(" ".join("%s:%d:%d" % (m, r[m]["n"], sum(len(v) == 3 and v[1] <= v[0] <= v[2] for k, v in r[m].items() if isinstance(v, list)))
               for m in sorted(r)))' "$W/results.json")"
denoise --model "$W/sft-ar" --causal --gen-length 8 --steps 8 --block-length 1 --threads 1 -q \
    -i "$W/test-fwd.mp" | detok -r --json | "$PYTHON" -c '
import sys, json
for l in sys.stdin:
    r = json.loads(l)
    if "text" in r: print(r["text"].replace("\n", " ").strip())' >"$TMP/again.txt"
check "AR generations reproduce (denoise --causal is deterministic)" cmp "$TMP/again.txt" "$W/gen-ar-fwd.txt"
check_exit 2 "unknown option: usage error" "$LLADA_ROOT/pipelines/reversal" --bogus

# 2. the scorer against hand-computed values
S=$TMP/score; mkdir -p "$S/data"
printf '%s\n' "A wise son maketh a glad father" "the fear of the LORD" "Go to the ant" >"$S/data/test-fwd.ans"
printf '%s\n' "A wise son maketh a glad father" "the fear of God" "" >"$S/gen-x-fwd.txt"
printf '%s\n' "one two" "three" "four five six" >"$S/data/test-rev.ans"
printf '%s\n' "one two" "three" " four five six " >"$S/gen-x-rev.txt"
# fwd: EM 1,0,0; F1 1, 2(3/4)(3/5)/(3/4+3/5) = 2/3 ("the fear of" shared), 0 -> 33.3, 55.6
# rev: EM 1,1,1 (surrounding spaces stripped); F1 1,1,1; gap F1 = 55.6 - 100 = -44.4
# chance fwd (gen i vs ref i+1): F1("A wise ...", "the fear of the LORD") 0, F1("the fear of God",
# "Go to the ant") = 2(1/4)(1/4)/(1/2) = 1/4, F1("", "A wise ...") 0 -> 8.3
check "scorer runs" "$PYTHON" "$LLADA_ROOT/scripts/reversal_score.py" --work "$S" --models x --json "$S/r.json" --boot 2000
check_eq "scorer: hand-computed means" "33.3 100.0 55.6 100.0 -44.4 8.3 0.0" "$("$PYTHON" -c '
import json, sys
r = json.load(open(sys.argv[1]))["x"]
print(" ".join("%.1f" % (100 * r[k][0]) for k in ("em_fwd", "em_rev", "f1_fwd", "f1_rev", "f1_gap")),
      "%.1f %.1f" % (100 * r["f1_chance_fwd"], 100 * r["f1_chance_rev"]))' "$S/r.json")"
# lift (F1 own reference - mean F1 against the other references): fwd 1 - 0, 2/3 - (0 + 1/4)/2 =
# 13/24, 0 - 0 -> 51.4; rev 1, 1, 1 -> 100.0; gap -48.6
check_eq "scorer: hand-computed retrieval above chance" "51.4 100.0 -48.6" "$("$PYTHON" -c '
import json, sys
r = json.load(open(sys.argv[1]))["x"]
print(" ".join("%.1f" % (100 * r[k][0]) for k in ("f1_lift_fwd", "f1_lift_rev", "f1_lift_gap")))' "$S/r.json")"
check_eq "scorer: constant scores have a zero-width CI; varying ones do not" "True True" "$("$PYTHON" -c '
import json, sys
r = json.load(open(sys.argv[1]))["x"]
print(r["em_rev"][1] == r["em_rev"][2] == 1.0, r["f1_fwd"][1] < r["f1_fwd"][0] < r["f1_fwd"][2])' "$S/r.json")"
head -n 2 "$S/gen-x-rev.txt" >"$S/short.txt" && mv "$S/short.txt" "$S/gen-x-rev.txt"
check_exit 1 "scorer: a generation file of the wrong length is a data error" \
    "$PYTHON" "$LLADA_ROOT/scripts/reversal_score.py" --work "$S" --models x
finish
