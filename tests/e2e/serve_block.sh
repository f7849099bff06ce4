#!/usr/bin/env bash
# tests/e2e/serve_block.sh — block-diffusion models (SDAR; denoise/bdsample.c) through the batch
# path, serve and the cluster: a tiny random SDAR checkpoint (tests/fixtures/make_tiny_sdar.py,
# the bundled model's vocabulary size, its lm_head scaled up so the model is confident and
# SDAR's official dynamic:0.85 differs from low_confidence) with the bundled tokenizer.
# References are denoise's own single-record runs (--batch 1), which py/test_denoise_sdar
# checks token-exact against a numpy port of SDAR's generate: a batch of records of different
# prompt lengths gives the same records as one at a time (lockstep batches: every sampler path,
# rows in different blocks); serve's answers equal
# tok | denoise | detok (default options: the model's official remasking, as denoise);
# a stream equals the whole answer; a cluster worker's records are byte-identical to the
# local run. A stop string that ends the first row mid-batch leaves the other rows unchanged.
. "$(dirname "$0")/../lib.sh"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$TMP"' EXIT
if ! command -v curl >/dev/null || [ ! -f "$LLADA_ROOT/models/default/tokenizer.json" ]; then
    fail "curl and the bundled tokenizer are needed"; finish; exit 1
fi
M=$TMP/sdar
"$PYTHON" "$LLADA_ROOT/tests/fixtures/make_tiny_sdar.py" "$M" --seed 5 \
    --custom d=32,layers=2,H=4,KV=2,hd=12,F=72,V=4096,blk=4 >/dev/null
cp "$LLADA_ROOT"/models/default/{tokenizer.json,tokenizer_config.json} "$M/"
"$PYTHON" - "$M/model.safetensors" <<'PY'
import json, struct, sys, numpy as np
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
t = h["lm_head.weight"]
assert t["dtype"] == "F32"
s, e = (8 + n + o for o in t["data_offsets"])
w = np.frombuffer(bytes(b[s:e]), "<f4") * 60
b[s:e] = w.astype("<f4").tobytes()
open(p, "wb").write(b)
PY
jget() { "$PYTHON" -c 'import json,sys; d=json.loads(open(sys.argv[1]).readline()); sys.stdout.write(str(eval(sys.argv[2])))' "$@"; }
# texts FILE: the "text" of each record of detok -r --json, as a JSON list
texts() { "$PYTHON" -c 'import json,sys; print(json.dumps([json.loads(l)["text"] for l in open(sys.argv[1]) if "text" in l]))' "$1"; }

# --- batch: records of different prompt lengths in one run = one at a time ---------------------
printf 'And God said\nIn the beginning God created the heaven\nLight\nAnd the earth was\n' | tok -m "$M" --lines >"$TMP/p.rec"
denoise --model "$M" --gen-length 12 -q --json <"$TMP/p.rec" >"$TMP/b1.jsonl"
denoise --model "$M" --gen-length 12 --batch 3 -q --json <"$TMP/p.rec" >"$TMP/b3.jsonl"
check_eq "4 records, --batch 3 (prompts of 1..8 tokens) equal --batch 1 byte for byte" "$(cat "$TMP/b1.jsonl")" "$(cat "$TMP/b3.jsonl")"
denoise --model "$M" --gen-length 12 --steps 6 --temperature 0.8 --seed 4 -q --json <"$TMP/p.rec" >"$TMP/t1.jsonl"
denoise --model "$M" --gen-length 12 --steps 6 --temperature 0.8 --seed 4 --batch 4 -q --json <"$TMP/p.rec" >"$TMP/t4.jsonl"
check_eq "T=0.8, --batch 4 equals --batch 1 (per-record draws)" "$(cat "$TMP/t1.jsonl")" "$(cat "$TMP/t4.jsonl")"
check_eq "4 records" 4 "$(grep -c '"tokens"' "$TMP/b3.jsonl")"
# lockstep (rows share each forward): longer runs whose rows sit in different blocks and finish
# at different ticks; every sampler path gives each record its --batch 1 bytes (tokens, reveal
# steps, nfe)
for args in "--gen-length 24 --steps 12" "--gen-length 24 --no-block-cache" \
    "--gen-length 20 --remasking dynamic:0.5 --edit-threshold 0.3" "--gen-length 24 --eos-early-stop" \
    "--gen-length 16 --remasking low_confidence --temperature 0.7 --seed 9"; do
    # shellcheck disable=SC2086
    denoise --model "$M" $args -q --json <"$TMP/p.rec" >"$TMP/l1.jsonl"
    # shellcheck disable=SC2086
    denoise --model "$M" $args --batch 4 -q --json <"$TMP/p.rec" >"$TMP/l4.jsonl"
    check_eq "lockstep --batch 4 equals --batch 1 byte for byte: $args" "$(cat "$TMP/l1.jsonl")" "$(cat "$TMP/l4.jsonl")"
done
check "the records carry nfe" grep -q '"nfe"' "$TMP/l4.jsonl"
denoise --model "$M" --gen-length 12 --remasking low_confidence -q --json <"$TMP/p.rec" >"$TMP/lc.jsonl"
check "the fixture tells the official dynamic:0.85 from low_confidence" test "$(cat "$TMP/lc.jsonl")" != "$(cat "$TMP/b1.jsonl")"

# --- serve ---------------------------------------------------------------------------------------
serve --model "$M" --listen 127.0.0.1:0 --batch 4 2>"$TMP/serve.log" & pids+=($!)
for _ in $(seq 600); do
    port=$(sed -nE 's|.*listening on http://127.0.0.1:([0-9]+).*|\1|p' "$TMP/serve.log")
    [ -n "$port" ] && break
    sleep 0.1
done
U=http://127.0.0.1:$port
post() { curl -s -o "$2" -w '%{http_code}' "$U$1" -H 'Content-Type: application/json' -d "$3"; }
sse_text() {
    "$PYTHON" - "$1" "${2:-0}" <<'PY'
import json, sys
out, done = "", False
for line in open(sys.argv[1], encoding="utf-8"):
    if not line.startswith("data: "): continue
    if line.strip() == "data: [DONE]": done = True; continue
    d = json.loads(line[6:])
    for c in d.get("choices", []):
        if c["index"] == int(sys.argv[2]): out += c["text"] if "text" in c else c["delta"].get("content", "")
sys.stdout.write(out if done else "<no [DONE]>")
PY
}
printf 'And God said' | tok -m "$M" | denoise --model "$M" --gen-length 12 -q | detok -m "$M" -r --json >"$TMP/ref.jsonl"
check_eq "completion: 200" 200 "$(post /v1/completions "$TMP/c.json" '{"prompt":"And God said","max_tokens":12,"temperature":0}')"
check_eq "completion equals tok | denoise | detok" "$(jget "$TMP/ref.jsonl" 'd["text"]')" "$(jget "$TMP/c.json" 'd["choices"][0]["text"]')"
check_eq "the model's official remasking by default" "dynamic:0.85" "$(jget "$TMP/c.json" 'd["diffusion"]["remasking"]')"
post /v1/completions "$TMP/s.sse" '{"prompt":"And God said","max_tokens":12,"temperature":0,"stream":true}' >/dev/null
check_eq "a stream delivers the same text" "$(jget "$TMP/c.json" 'd["choices"][0]["text"]')" "$(sse_text "$TMP/s.sse")"
check "the stream comes in pieces (one or more blocks at a time)" test "$(grep -c '"text":"[^"]' "$TMP/s.sse")" -ge 2
denoise --model "$M" --gen-length 12 -q <"$TMP/p.rec" | detok -m "$M" -r --json >"$TMP/refp.jsonl"
prompts='["And God said","In the beginning God created the heaven","Light","And the earth was"]'
check_eq "4 prompts of different lengths: 200" 200 "$(post /v1/completions "$TMP/p.json" "{\"prompt\":$prompts,\"max_tokens\":12,\"temperature\":0}")"
check_eq "4 prompts in one batch: the choices equal the pipeline's records" "$(texts "$TMP/refp.jsonl")" \
    "$(jget "$TMP/p.json" 'json.dumps([c["text"] for c in sorted(d["choices"], key=lambda c: c["index"])])')"
# a stop string ends rows while later rows are still to run: the finished rows leave the batch
# (on_step's drop; bdsample.c compacts the rows under the one generating) and the others' answers
# do not change. The stop is a piece of the first answer; expected: each text cut before it
stop=$("$PYTHON" -c 'import json,sys; print(json.loads(sys.argv[1])[0][4:7], end="")' "$(texts "$TMP/refp.jsonl")")
want=$("$PYTHON" -c 'import json,sys; s=sys.argv[2]; print(json.dumps([t[:t.find(s)] if s in t else t for t in json.loads(sys.argv[1])]))' \
    "$(texts "$TMP/refp.jsonl")" "$stop")
body=$("$PYTHON" -c 'import json,sys; print(json.dumps({"prompt":json.loads(sys.argv[1]),"max_tokens":12,"temperature":0,"stop":[sys.argv[2]]}))' "$prompts" "$stop")
check_eq "4 prompts, stop string: 200" 200 "$(post /v1/completions "$TMP/ps.json" "$body")"
check_eq "4 prompts, stop string '$stop': each text ends before it, the others unchanged" "$want" \
    "$(jget "$TMP/ps.json" 'json.dumps([c["text"] for c in sorted(d["choices"], key=lambda c: c["index"])])')"
check_eq "4 prompts, stop string: the first row finished by stop" stop "$(jget "$TMP/ps.json" '[c for c in d["choices"] if c["index"] == 0][0]["finish_reason"]')"
printf 'In the beginning\nIn the beginning\n' | tok -m "$M" --lines | denoise --model "$M" --gen-length 8 --seed 9 --temperature 1.0 -q |
    detok -m "$M" -r --json >"$TMP/refn.jsonl"
check_eq "n=2: 200" 200 "$(post /v1/completions "$TMP/n.json" '{"prompt":"In the beginning","n":2,"max_tokens":8,"temperature":1.0,"seed":9}')"
check_eq "n=2: choices equal the pipeline's records 0 and 1" "$(texts "$TMP/refn.jsonl")" \
    "$(jget "$TMP/n.json" 'json.dumps([c["text"] for c in sorted(d["choices"], key=lambda c: c["index"])])')"
chat='{"messages":[{"role":"user","content":"Who made the light?"}]}'
printf '%s\n' "$chat" | tok -m "$M" --jsonl --chat -p | denoise --model "$M" --gen-length 12 -q | detok -m "$M" -r --json >"$TMP/refc.jsonl"
check_eq "chat: 200" 200 "$(post /v1/chat/completions "$TMP/chat.json" '{"messages":[{"role":"user","content":"Who made the light?"}],"max_tokens":12,"temperature":0}')"
check_eq "chat equals tok --chat -p | denoise | detok" "$(jget "$TMP/refc.jsonl" 'd["text"]')" "$(jget "$TMP/chat.json" 'd["choices"][0]["message"]["content"]')"
post /v1/chat/completions "$TMP/chat.sse" '{"messages":[{"role":"user","content":"Who made the light?"}],"max_tokens":12,"temperature":0,"stream":true}' >/dev/null
check_eq "chat stream equals the whole answer" "$(jget "$TMP/chat.json" 'd["choices"][0]["message"]["content"]')" "$(sse_text "$TMP/chat.sse")"

# --- cluster: a worker's records are the local run's ----------------------------------------------
free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
FRONT=tcp://127.0.0.1:$(free_port) BACK=tcp://127.0.0.1:$(free_port)
denoise --broker "$FRONT" --backend "$BACK" --heartbeat 200 -q 2>/dev/null & pids+=($!)
denoise --worker "$BACK" --model "$M" --gen-length 12 --batch 3 --heartbeat 200 -q 2>"$TMP/worker.log" & pids+=($!)
timeout 60 denoise --remote "$FRONT" -q --json <"$TMP/p.rec" >"$TMP/r.jsonl"
check_eq "cluster (worker --batch 3): records byte-identical to the local run" "$(cat "$TMP/b1.jsonl")" "$(cat "$TMP/r.jsonl")"
finish
