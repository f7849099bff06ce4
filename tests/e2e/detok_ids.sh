#!/usr/bin/env bash
# tests/e2e/detok_ids.sh — issue 18 item 6: detok refuses ids the tokenizer has no token for
# (negative, or at/beyond its vocabulary) with a one-line error, exit 1, naming where; with
# --skip-unknown it drops them as HF's decode does (reference: HF tokenizers via npm,
# tests/npm/hf_ref.js). `detok --ids` errors are one line.
. "$(dirname "$0")/../lib.sh"
TJ=$LLADA_ROOT/models/default/tokenizer.json
V=$(detok --help >/dev/null; "$PYTHON" -c "import json,sys; t=json.load(open('$TJ')); ids=[v for v in t['model']['vocab'].values()]+[a['id'] for a in t.get('added_tokens',[])]; print(max(ids)+1)")
rec_of() { printf '{"kind":"tokens","tokens":{"dtype":"i4","shape":[%d],"data":[%s]}}\n' "$(tr ',' '\n' <<<"$1" | wc -l)" "$1"; }

for bad in -1 "$V" 2147483647; do
    check_exit 1 "records: id $bad is an error" bash -c "$(declare -f rec_of); rec_of '40,41,$bad,42' | detok"
    check_stderr "records: id $bad: where and what" "^detok: error: record 1: \"tokens\"\\[2\\]: id $bad is not in the tokenizer's vocabulary of $V ids"
    check_eq "records: id $bad: one line" 1 "$(wc -l < "$ERR_FILE")"
    check_exit 1 "--ids: id $bad is an error" bash -c "echo '40 41 $bad 42' | detok --ids"
    check_stderr "--ids: id $bad: where" "^detok: error: line 1, word 3: id $bad "
    check_eq "--ids: id $bad: one line" 1 "$(wc -l < "$ERR_FILE")"
done
check_exit 1 "i8 ids beyond int32 are an error" bash -c \
    "printf '{\"kind\":\"tokens\",\"tokens\":{\"dtype\":\"i8\",\"shape\":[2],\"data\":[40,4294967336]}}\n' | detok"
check_exit 1 "--prompt ids are checked too" bash -c \
    "printf '{\"kind\":\"tokens\",\"prompt\":{\"dtype\":\"i4\",\"shape\":[1],\"data\":[-7]},\"tokens\":{\"dtype\":\"i4\",\"shape\":[1],\"data\":[40]}}\n' | detok --prompt"
check_exit 1 "--records: an error, and no output file" bash -c "$(declare -f rec_of); rec_of '40,$V' | detok --records -o '$TMP/r.mp'"
check_eq "--records: nothing left" "" "$(ls "$TMP" | grep '^r\.mp' || true)"
check_exit 1 "--ids: a word that is not a number" bash -c "echo '40 4x1 42' | detok --ids"
check_stderr "--ids: names the word only" '^detok: error: line 1: not a token id: "4x1"$'
check_eq "--ids: that error is one line" 1 "$(wc -l < "$ERR_FILE")"

# --skip-unknown: as HF drops them (HF's decode takes u32 ids: the reference gets the ones >= 0)
ids="72,101,$V,108,108,$((V + 5)),111,32,119"
want=$(node -e '
const path = require("path");
const { Tokenizer } = require(path.join(process.argv[1], "tests/npm/node_modules/tokenizers"));
(async () => { const t = Tokenizer.fromFile(process.argv[2]);
  process.stdout.write(await t.decode(process.argv[3].split(",").map(Number), true)); })();
' "$LLADA_ROOT" "$TJ" "$ids")
got=$(rec_of "-3,$ids" | detok --skip-unknown)
check_eq "--skip-unknown equals HF decode (skip_special) of the same ids" "$want" "$got"
check "the reference decoded something" test -n "$want"
got=$(echo "${ids//,/ } -3" | detok --ids --skip-unknown)
check_eq "--ids --skip-unknown too" "$want" "$got"
check_eq "valid ids unchanged by the check" "$(echo '72 101 108' | detok --ids --skip-unknown)" "$(echo '72 101 108' | detok --ids)"
finish
