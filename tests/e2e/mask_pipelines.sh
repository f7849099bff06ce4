#!/usr/bin/env bash
# tests/e2e/mask_pipelines.sh — pipelines/likelihood and pipelines/eval-choice from text, with
# a real tokenizer (tok train) and a tiny random LLaDA checkpoint whose special ids match it:
# the text path must give exactly the bounds of the pre-tokenised path on the ids that
# `tok --ids` gives for the prompt and for prompt + answer (lm-eval's split), and eval-choice
# must report one verdict per question and the accuracy of those verdicts.
. "$(dirname "$0")/../lib.sh"
P=$LLADA_ROOT/pipelines
M=$TMP/m
tok train -q -o "$M" -v 320 /usr/share/common-licenses/GPL-3 || { fail "tok train"; finish; exit; }
"$PYTHON" "$LLADA_ROOT/tests/fixtures/make_tiny_ckpt.py" "$M" --custom d_model=32,n_layers=2,n_heads=4,mlp_hidden_size=64,vocab_size=320 >/dev/null
ids() { printf '%s' "$1" | tok -m "$M" --ids; }
bos=$(ids '<|startoftext|>') eos=$(ids '<|endoftext|>') msk=$(ids '<|mdm_mask|>') eot=$(ids '<|eot_id|>')
"$PYTHON" - "$M/config.json" "$bos" "$eos" "$msk" "$eot" <<'EOF'
import json, sys
p, bos, eos, msk, eot = sys.argv[1], *map(int, sys.argv[2:])
c = json.load(open(p))
c.update(bos_token_id=bos, eos_token_id=eos, pad_token_id=eos, mask_token_id=msk, eot_token_id=eot)
json.dump(c, open(p, "w"))
EOF
OPT=(--model "$M" --mc 32 --seed 3 --threads 1)

# likelihood: text arguments vs the same ids given as tokens
out=$("$P/likelihood" "${OPT[@]}" "This program is free " "software")
check "likelihood from text runs" test -n "$out"
"$PYTHON" - "$TMP/pair.mp" "$(ids 'This program is free')" "$(ids 'This program is free software')" <<'EOF'
import sys, msgpack, numpy as np
c = [int(x) for x in sys.argv[2].split()]
w = [int(x) for x in sys.argv[3].split()]
t = lambda a: {"dtype": "i4", "shape": [len(a)], "data": np.asarray(a, dtype="<i4").tobytes()}
open(sys.argv[1], "wb").write(msgpack.packb({"kind": "tokens", "prompt": t(c), "tokens": t(w[len(c):])}))
EOF
ref=$("$P/likelihood" "${OPT[@]}" --tokens < "$TMP/pair.mp")
check_eq "text path = token path on tok's ids (trailing space moved to the answer)" "$ref" "$(cut -f1-4 <<<"$out")"
bound=$(cut -f2 <<<"$out")
check "bound is a negative finite number" awk -v b="$bound" 'BEGIN { exit !(b < 0 && b > -1e6) }'

# several pairs as JSON lines, ids carried
printf '%s\n' '{"prompt": "You may copy", "answer": " the program", "id": "a"}' \
    '{"prompt": "GNU", "answer": " General Public License", "id": "b"}' > "$TMP/pairs.jsonl"
out=$("$P/likelihood" "${OPT[@]}" < "$TMP/pairs.jsonl")
check_eq "one line per JSON pair with its id" "0 a|1 b" "$(awk -F'\t' '{ printf "%s%s %s", (NR > 1 ? "|" : ""), $1, $5 }' <<<"$out")"
check "likelihood --json writes records" sh -c "'$P/likelihood' --model '$M' --mc 16 --threads 1 --json < '$TMP/pairs.jsonl' | grep -q '\"kind\":\"likelihood\"'"

# eval-choice: verdicts are consistent with the reported accuracy
printf '%s\n' '{"context": "This License applies to", "choices": [" any program", " bananas"], "answer": 0}' \
    '{"context": "the GNU", "choices": [" General", " xyzzy", " Public"], "answer": 2}' \
    '{"context": "free", "choices": [" software", " beer"], "answer": 0}' > "$TMP/q.jsonl"
out=$("$P/eval-choice" "${OPT[@]}" < "$TMP/q.jsonl")
check_eq "a verdict per question + accuracy" 4 "$(wc -l <<<"$out")"
ncorrect=$(grep -c 'correct$' <<<"$out")
check_eq "accuracy line matches the verdicts" "accuracy	$(awk -v c="$ncorrect" 'BEGIN { printf "%.4f", c / 3 }')	$ncorrect/3" "$(tail -n 1 <<<"$out")"
# errors propagate with their exit codes
check_exit 1 "bad question (answer out of range)" sh -c "echo '{\"context\": \"a\", \"choices\": [\"b\"], \"answer\": 3}' | '$P/eval-choice' --model '$M' --mc 1"
# a failure part-way prints nothing on stdout (issue 11 defect 4): the first question is fine,
# the second is bad; before, its verdict was already out
printf '%s\n' '{"context": "free", "choices": [" software", " beer"], "answer": 0}' \
    '{"context": "a", "choices": ["b"], "answer": 3}' > "$TMP/bad2.jsonl"
"$P/eval-choice" --model "$M" --mc 1 < "$TMP/bad2.jsonl" > "$TMP/bad2.out" 2>"$TMP/bad2.err"; rc=$?
check_eq "eval-choice failing part-way: exit 1" 1 "$rc"
check_eq "... and nothing on stdout" 0 "$(wc -c < "$TMP/bad2.out")"
check "... the error named eval-choice" grep -q '^eval-choice: error: ' "$TMP/bad2.err"
check_exit 2 "unknown option" "$P/likelihood" --bogus
check_exit 2 "one argument" "$P/likelihood" "only a prompt"
finish
