#!/usr/bin/env bash
# tests/e2e/badinput.sh — issue 18 item 7: inputs that used to be accepted without a word now
# give a one-line error and exit 1: denoise --score with prompt_len > L; mask --pretrain /
# --likelihood (and --sft) with negative or out-of-vocabulary ids; a --history file with two
# records; records stating an unknown protocol version ("v": 2).
. "$(dirname "$0")/../lib.sh"
"$PYTHON" "$LLADA_ROOT/tests/fixtures/make_tiny_ckpt.py" "$TMP/tiny" --preset mha_f32 >/dev/null
M=$TMP/tiny/mha_f32
V=$("$PYTHON" -c "import json; c=json.load(open('$M/config.json')); print(max(c.get('vocab_size',0), c.get('embedding_size',0)))")
one_line() { check_eq "$1: one line" 1 "$(wc -l < "$ERR_FILE")"; }
i4() { printf '{"dtype":"i4","shape":[%d],"data":[%s]}' "$(tr ',' '\n' <<<"$1" | wc -l)" "$1"; }

# denoise --score: prompt_len beyond the sequence
sc="{\"kind\":\"masked\",\"x0\":$(i4 1,2,3,4),\"xt\":$(i4 1,2,$((V - 1)),4),\"prompt_len\":5}"
check_exit 1 "denoise --score: prompt_len 5 > L 4" bash -c "echo '$sc' | denoise --model '$M' --score"
check_stderr "denoise --score: says so" '^denoise: error: .*"prompt_len" 5 is longer than the sequence \(4 tokens\)'
one_line "denoise --score"
ok="${sc/\"prompt_len\":5/\"prompt_len\":4}"
check "denoise --score: prompt_len = L is fine" bash -c "echo '$ok' | denoise --model '$M' --score"

# mask: ids that are not token ids of the model
for mode in pretrain likelihood sft; do
    for bad in -2 "$V"; do
        if [ $mode = pretrain ]; then r="{\"kind\":\"tokens\",\"tokens\":$(i4 5,$bad,7)}"
        else r="{\"kind\":\"pair\",\"prompt\":$(i4 5,6),\"answer\":$(i4 7,$bad)}"; fi
        extra=; [ $mode = likelihood ] && extra="--mc 4"; [ $mode = sft ] && extra="--length 8"
        check_exit 1 "mask --$mode: id $bad" bash -c "echo '$r' | mask --$mode --model '$M' $extra --json"
        check_stderr "mask --$mode: id $bad named" "^mask: error: record 0: \"(tokens|answer)\"\\[1\\] = $bad is "
        one_line "mask --$mode id $bad"
    done
done
check "mask --pretrain: valid ids still pass" bash -c "echo '{\"kind\":\"tokens\",\"tokens\":$(i4 5,$((V - 1)),7)}' | mask --pretrain --model '$M' --length 4 --json"

# --history: exactly one record
h="{\"kind\":\"history\",\"tokens\":$(i4 1,2)}"
printf '%s\n%s\n' "$h" "$h" | rec -o "$TMP/h2.mp"
q="{\"kind\":\"tokens\",\"tokens\":$(i4 3,4)}"
check_exit 1 "--history with two records" bash -c "echo '$q' | denoise --model '$M' --gen-length 4 --history '$TMP/h2.mp' --json"
check_stderr "--history: says so" '^denoise: error: history .*h2.mp: holds more than one record'
one_line "--history"

# protocol version
for v in 2 0 '"1"'; do
    check_exit 1 "\"v\": $v refused by rec" bash -c "echo '{\"kind\":\"tokens\",\"v\":$v,\"tokens\":$(i4 1)}' | rec"
    check_stderr "\"v\": $v: says which" '^rec: error: record 1: protocol version "v" '
    one_line "\"v\": $v"
done
check_exit 1 "\"v\": 2 refused by denoise too" bash -c "echo '{\"kind\":\"tokens\",\"v\":2,\"tokens\":$(i4 1)}' | denoise --model '$M' --gen-length 4"
check "\"v\": 1 and no \"v\" pass" bash -c "printf '%s\n%s\n' '{\"v\":1,\"a\":1}' '{\"a\":2}' | rec --json | grep -c '\"a\"' | grep -qx 2"

# tokenizer.json with one huge id (found by tests/fuzz/fuzz_tokenizer): refused at once instead
# of allocating id tables as large as the id (a 5 KB file took > 60 s and 8 GB)
"$PYTHON" - "$LLADA_ROOT/tests/fuzz/corpus/tokenizer/bpe_bytelevel_gpt2.json" "$TMP/sparse" <<'PY'
import json, os, sys
t = json.load(open(sys.argv[1])); os.makedirs(sys.argv[2], exist_ok=True)
t["model"]["vocab"][list(t["model"]["vocab"])[-1]] = 2000000000
json.dump(t, open(sys.argv[2] + "/tokenizer.json", "w"))
PY
check_exit 1 "tokenizer.json with an id of 2e9: refused (exit 1), not 8 GB" bash -c "echo '{\"text\":\"hi\"}' | LLADA_TOK_CACHE=0 timeout 20 tok --jsonl -m '$TMP/sparse/tokenizer.json'"
check_stderr "says which id" 'id 2000000000 is far beyond the 280 tokens'
finish
