#!/usr/bin/env bash
# tests/e2e/tok.sh — tok/detok command-line behaviour: modes, records, errors and exit codes,
# stop/skip rules, colours. Uses a tokenizer trained here by `tok train` (no npm fixtures).
. "$(dirname "$0")/../lib.sh"
M=$TMP/model
{ bible "gen1:1-gen50:26" 2>/dev/null || cat /usr/share/common-licenses/GPL-3; } > "$TMP/corpus.txt"
check "tok train writes a model" tok train -q -o "$M" -v 600 "$TMP/corpus.txt"
check "tokenizer.json written" test -s "$M/tokenizer.json"
check "tokenizer_config.json has the chat template" grep -q chat_template "$M/tokenizer_config.json"
id_of() { printf '%s' "$1" | tok -m "$M" --ids; }
EOS=$(id_of '<|endoftext|>') MASK=$(id_of '<|mdm_mask|>') EOT=$(id_of '<|eot_id|>')
check_eq "special tokens follow the 600-token vocabulary" "595 596 599" "$EOS $MASK $EOT"
printf '{"eos_token_id": %s, "mask_token_id": %s}\n' "$EOS" "$MASK" > "$M/config.json"

# help, usage, errors
check "tok --help" tok --help
check "detok --help" detok --help
check_exit 2 "tok: unknown option is a usage error" tok --bogus
check_stderr "usage error names the tool" '^tok: error: '
check_exit 3 "tok: missing tokenizer file is an I/O error" tok -m "$TMP/nope/tokenizer.json" --ids </dev/null
printf '{"model": {"type": "BPE", "vocab": {}, "merges": []}, "pre_tokenizer": {"type": "Whitespace"}}' > "$TMP/bad.json"
check_exit 1 "tok: unsupported pre-tokenizer is a data error" tok -m "$TMP/bad.json" --ids </dev/null
check_stderr "the error names the JSON path" 'pre_tokenizer\.type.*Whitespace'
printf '{"model": {"type": "Unigram", "vocab": []}}' > "$TMP/uni.json"
check_exit 1 "tok: Unigram model refused" tok -m "$TMP/uni.json" --ids </dev/null
check_stderr "names model.type" 'model\.type'
printf '{"model": ' > "$TMP/trunc.json"
check_exit 1 "tok: malformed JSON is a data error" tok -m "$TMP/trunc.json" --ids </dev/null
check_exit 2 "tok train without -o" tok train "$TMP/corpus.txt"
check_exit 2 "tok train: bad --pretok" tok train -o "$TMP/x" --pretok nope "$TMP/corpus.txt"

# round trips
txt='In the beginning God created the heaven and the earth.'
check_eq "tok | detok round trip" "$txt" "$(printf '%s' "$txt" | tok -m "$M" | detok -m "$M")"
check_eq "tok --lines: one record per line" "3" "$(printf 'a\nb b\nc\n' | tok -m "$M" --lines --json | grep -c '"tokens"')"
check_eq "tok --lines | detok: lines back" "$(printf 'a\nb b\nc')" "$(printf 'a\nb b\nc\n' | tok -m "$M" --lines | detok -m "$M")"
out=$(printf '{"text": "And God said", "id": 42, "meta": {"x": [1, 2]}}\n' | tok -m "$M" --jsonl --json | head -1)
check "jsonl: user fields pass through" grep -q '"id":42' <<<"$out"
check "jsonl: nested field passes through" grep -q '"meta":{"x":\[1,2\]}' <<<"$out"
check "jsonl: text field consumed" bash -c "! grep -q '\"text\"' <<<'$out'"
check_exit 1 "jsonl without the text field" bash -c "printf '{\"x\":1}\n' | tok -m '$M' --jsonl --ids"
check_stderr "names the line and field" 'line 1: no string field "text"'
check "lz4 file output and detok -i" bash -c "printf '%s' '$txt' | tok -m '$M' -o '$TMP/t.mp.lz4' && detok -m '$M' -i '$TMP/t.mp.lz4' | grep -qx '$txt'"
check_eq "detok --records adds text" "$txt" "$(printf '%s' "$txt" | tok -m "$M" | detok -m "$M" --records --json | head -1 | $PYTHON -c 'import json,sys; print(json.loads(sys.stdin.readline())["text"])')"

# specials, EOS/EOT stop, mask token
ids=$(printf 'God<|eot_id|>light<|endoftext|>dark' | tok -m "$M" --ids)
check "special tokens recognised in text" grep -q " $EOT .* $EOS " <<<" $ids "
check_eq "detok stops at the first EOT/EOS" "God" "$(tok -m "$M" --ids <<<'God<|eot_id|>light' | detok -m "$M" --ids)"
check_eq "detok --no-stop skips specials" "Godlightdark" "$(printf 'God<|eot_id|>light<|endoftext|>dark' | tok -m "$M" --ids | detok -m "$M" --ids --no-stop)"
check_eq "detok --all shows everything" "God<|eot_id|>light<|endoftext|>dark" "$(printf 'God<|eot_id|>light<|endoftext|>dark' | tok -m "$M" --ids | detok -m "$M" --ids --all)"
check "<|mdm_mask|> in text is the mask id" grep -qw "$MASK" <<<"$(printf 'The <|mdm_mask|> sat' | tok -m "$M" --ids)"
check "--plain-specials: no mask id" bash -c "! printf 'The <|mdm_mask|> sat' | tok -m '$M' --ids -p | grep -qw $MASK"
check_eq "--plain-specials round trip" "The <|mdm_mask|> sat" "$(printf 'The <|mdm_mask|> sat' | tok -m "$M" -p | detok -m "$M")"
check_eq "invalid UTF-8 becomes U+FFFD" "$(printf 'a\xef\xbf\xbdb')" "$(printf 'a\xffb' | tok -m "$M" | detok -m "$M")"
check_exit 1 "detok: record without tokens" bash -c "printf '{\"kind\":\"x\"}\n' | detok -m '$M' --json"
check_stderr "names the missing field" 'no "tokens"'
check_exit 1 "detok --ids: junk" bash -c "echo '1 x 2' | detok -m '$M' --ids"

# colour by reveal_step (denoise output): later steps darker; never on a pipe by default
rec='{"kind":"tokens","tokens":{"dtype":"i4","shape":[3],"data":[65,66,67]},"reveal_step":{"dtype":"i4","shape":[3],"data":[0,5,10]}}'
col=$(printf '%s\n' "$rec" | detok -m "$M" --json --color=always)
check "--color=always shades by reveal_step" grep -q $'\x1b\\[38;5;255mA.*\x1b\\[38;5;248mB.*\x1b\\[38;5;240mC' <<<"$col"
check_eq "no colour on a pipe by default" "ABC" "$(printf '%s\n' "$rec" | detok -m "$M" --json)"
check_exit 2 "--color=bogus" detok -m "$M" --color=bogus </dev/null
prec='{"kind":"tokens","prompt":{"dtype":"i4","shape":[2],"data":[72,105]},"tokens":{"dtype":"i4","shape":[2],"data":[33,33]}}'
check_eq "detok --prompt decodes the prompt before the answer" "Hi!!" "$(printf '%s\n' "$prec" | detok -m "$M" --json --prompt)"
check_eq "detok without --prompt: the answer only" "!!" "$(printf '%s\n' "$prec" | detok -m "$M" --json)"
printf 'one' > "$TMP/a.txt"; printf 'two' > "$TMP/b.txt"
check_eq "tok FILE FILE: one record per file" "$(printf 'one\ntwo')" "$(tok -m "$M" "$TMP/a.txt" "$TMP/b.txt" | detok -m "$M")"
check_eq "tok -i FILE" "one" "$(tok -m "$M" -i "$TMP/a.txt" | detok -m "$M")"
check_exit 3 "missing input file is an I/O error" tok -m "$M" "$TMP/none.txt"
for mode in --ids --json ""; do   # every input is checked before anything is written
    tok -m "$M" $mode "$TMP/a.txt" "$TMP/none.txt" >"$TMP/partial" 2>/dev/null; rc=$?
    check_eq "tok $mode FILE MISSING: exit 3, nothing written" "3:0" "$rc:$(wc -c <"$TMP/partial")"
done
check_exit 3 "tok FILE FOLDER: exit 3" tok -m "$M" --ids "$TMP/a.txt" "$TMP"
check_stderr "names the folder" 'Is a directory'
# a --json stream (which ends with an end record) feeds tok --jsonl directly
a=$(printf '{"text":"In the beginning"}\n' | tok -m "$M" --jsonl --json | grep -v '"kind":"end"')
b=$(printf '{"text":"In the beginning"}\n' | tok -m "$M" --jsonl --json | tok -m "$M" --jsonl --field kind --json 2>&1 | grep -c '"kind":"end"')
check_eq "tok --jsonl skips end records" 1 "$b"
check_eq "tok --jsonl text with U+0000 is accepted" 0 "$(printf '{"text":"a\\u0000b"}\n' | tok -m "$M" --jsonl --json >/dev/null 2>&1; echo $?)"
finish
