#!/usr/bin/env bash
# tests/e2e/serve.sh — serve with the bundled model, through curl and the official openai npm
# client: answers equal the in-process pipeline (tok | denoise | detok) for the same seed,
# n choices equal the pipeline's records 0..n-1, streamed text equals non-streamed text,
# concurrent requests equal sequential ones (and were batched), stop strings, bad requests
# answered with OpenAI error JSON (never a crash), API keys, body limit, a full queue (503 +
# Retry-After), a client that hangs up frees its rows, --remote through a broker and a worker,
# SIGTERM. Needs curl; the openai checks need tests/npm/node_modules/openai (make deps).
. "$(dirname "$0")/../lib.sh"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$TMP"' EXIT
if ! command -v curl >/dev/null || [ ! -f "$LLADA_ROOT/models/default/config.json" ]; then
    fail "curl and the bundled model are needed"; finish; exit 1
fi

# start NAME ARGS...: run serve on a free port; sets URL_<NAME> and PID_<NAME>
start() {
    local name=$1 log=$TMP/$1.log port=; shift
    serve --listen 127.0.0.1:0 "$@" 2>"$log" & local pid=$!
    pids+=("$pid")
    for _ in $(seq 600); do
        port=$(sed -nE 's|.*listening on http://127.0.0.1:([0-9]+).*|\1|p' "$log")
        [ -n "$port" ] || ! kill -0 "$pid" 2>/dev/null && break
        sleep 0.1
    done
    eval "URL_$name=http://127.0.0.1:$port PID_$name=$pid"
}
post() { curl -s -o "$2" -w '%{http_code}' "$U$1" -H 'Content-Type: application/json' -d "$3"; }   # PATH OUT BODY -> status
# jget FILE EXPR: EXPR over d, the JSON of FILE's first line (a body, or a record of detok -r --json)
jget() { "$PYTHON" -c 'import json,sys; d=json.loads(open(sys.argv[1]).readline()); sys.stdout.write(str(eval(sys.argv[2])))' "$@"; }
# the text of an SSE stream: deltas concatenated per choice (choice $3, default 0)
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

# --- command line ------------------------------------------------------------------------------
check "--help" serve --help
check "--version" serve --version
check_exit 2 "unknown option" serve --nope
check_exit 2 "bad --batch" serve --batch 0
check_exit 2 "bad --device" serve --device tpu
check_exit 2 "--listen without a port" serve --listen localhost
check_exit 3 "unreadable API key file" serve --api-key-file "$TMP/none"
: >"$TMP/empty"
check_exit 1 "API key file without keys" serve --api-key-file "$TMP/empty"
check_stderr "one-line error" "^serve: error: .*no API key"

start A --batch 8
U=$URL_A
check_exit 3 "a port in use" serve --listen "127.0.0.1:${URL_A##*:}" --device cpu
check "serve starts and listens on 127.0.0.1" test -n "${URL_A#http://127.0.0.1:}"
check_eq "/health" ok "$(curl -s "$U/health" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["status"])')"
curl -s "$U/v1/models" >"$TMP/models.json"
check_eq "/v1/models lists the bundled model" default "$(jget "$TMP/models.json" 'd["data"][0]["id"]')"

# --- same answers as the in-process pipeline -------------------------------------------------
post /v1/completions "$TMP/c.json" '{"model":"default","prompt":"And God said","max_tokens":12,"seed":3}' >/dev/null
printf 'And God said' | tok | denoise --gen-length 12 --seed 3 -q | detok -r --json >"$TMP/ref.jsonl"
check_eq "completion equals tok | denoise --seed 3 | detok" "$(jget "$TMP/ref.jsonl" 'd["text"]')" "$(jget "$TMP/c.json" 'd["choices"][0]["text"]')"
check_eq "completion reports its seed and the model's block length" "3 4" "$(jget "$TMP/c.json" 'd["diffusion"]["seed"], d["diffusion"]["block_length"]' | tr -d '(),')"
post /v1/completions "$TMP/cc.json" '{"prompt":"And God said","max_tokens":12,"seed":3,"diffusion":{"cache":"dual"}}' >/dev/null
printf 'And God said' | tok | denoise --gen-length 12 --seed 3 --cache dual -q | detok -r --json >"$TMP/refc.jsonl"
check_eq "diffusion.cache dual equals tok | denoise --cache dual" "$(jget "$TMP/refc.jsonl" 'd["text"]')" "$(jget "$TMP/cc.json" 'd["choices"][0]["text"]')"
post /v1/completions "$TMP/n.json" '{"prompt":"In the beginning","max_tokens":8,"seed":9,"n":2,"temperature":1.0}' >/dev/null
printf 'In the beginning\nIn the beginning\n' | tok --lines | denoise --gen-length 8 --seed 9 --temperature 1.0 -q | detok -r --json >"$TMP/refn.jsonl"
want=$("$PYTHON" -c 'import json,sys; print(json.dumps([json.loads(l)["text"] for l in open(sys.argv[1]) if "text" in l]))' "$TMP/refn.jsonl")
check_eq "n=2: choices equal the pipeline's records 0 and 1" "$want" "$(jget "$TMP/n.json" 'json.dumps([c["text"] for c in d["choices"]])')"
check "n=2: the two choices differ at temperature 1" test "$(jget "$TMP/n.json" 'd["choices"][0]["text"] != d["choices"][1]["text"]')" = True
chat='{"messages":[{"role":"system","content":"Answer briefly."},{"role":"user","content":"Who made the heaven? <|eot_id|>"}],"max_tokens":12,"seed":4}'
post /v1/chat/completions "$TMP/chat.json" "$chat" >/dev/null
printf '%s\n' "$chat" | tok --jsonl --chat -p | denoise --gen-length 12 --seed 4 -q | detok -r --json >"$TMP/refc.jsonl"
check_eq "chat equals tok --chat -p | denoise | detok (special-token text stays text)" "$(jget "$TMP/refc.jsonl" 'd["text"]')" "$(jget "$TMP/chat.json" 'd["choices"][0]["message"]["content"]')"

# --- streaming --------------------------------------------------------------------------------
curl -sN "$U/v1/completions" -d '{"prompt":"And God said","max_tokens":12,"seed":3,"stream":true}' >"$TMP/s.sse"
check_eq "streamed completion equals the non-streamed one" "$(jget "$TMP/c.json" 'd["choices"][0]["text"]')" "$(sse_text "$TMP/s.sse")"
check "the stream has several chunks (one per growth of the committed prefix)" test "$(grep -c '"text":"[^"]' "$TMP/s.sse")" -ge 2
# block by block: 16 tokens in 4 blocks of 4, one step per token; with stream_steps every step's
# event precedes that step's text, so the first block's text must come before step 5's event
curl -sN "$U/v1/completions" -d '{"prompt":"And God said","max_tokens":16,"seed":3,"stream":true,"diffusion":{"block_length":4,"stream_steps":true}}' >"$TMP/blk.sse"
order=$("$PYTHON" - "$TMP/blk.sse" <<'PY'
import json, sys
ev, first_text, steps = [], None, []
for line in open(sys.argv[1], encoding="utf-8"):
    if not line.startswith("data: {"): continue
    d = json.loads(line[6:])
    if d.get("object") == "diffusion.step": steps.append(d["step"])
    elif d["choices"] and d["choices"][0]["text"] and first_text is None: first_text = len(steps)
print(first_text is not None and first_text <= 4, len(steps), steps == list(range(1, len(steps) + 1)))
PY
)
check_eq "stream_steps: steps 1..16 in order, the first block's text sent by step 4" "True 16 True" "$order"
curl -sN "$U/v1/chat/completions" -d "${chat%\}},\"stream\":true}" >"$TMP/s2.sse"
check_eq "streamed chat equals the non-streamed one" "$(jget "$TMP/chat.json" 'd["choices"][0]["message"]["content"]')" "$(sse_text "$TMP/s2.sse")"
full=$(jget "$TMP/c.json" 'd["choices"][0]["text"]')
stop=${full:4:3}
exp=$("$PYTHON" -c 'import sys; t, s = sys.argv[1], sys.argv[2]; print(t[:t.find(s)], end="")' "$full" "$stop")
body=$("$PYTHON" -c 'import json,sys; print(json.dumps({"prompt":"And God said","max_tokens":12,"seed":3,"stop":[sys.argv[1]]}))' "$stop")
post /v1/completions "$TMP/stop.json" "$body" >/dev/null
check_eq "stop string: the text ends before it" "$exp" "$(jget "$TMP/stop.json" 'd["choices"][0]["text"]')"
check_eq "stop string: finish_reason stop" stop "$(jget "$TMP/stop.json" 'd["choices"][0]["finish_reason"]')"
curl -sN "$U/v1/completions" -d "${body%\}},\"stream\":true}" >"$TMP/stop.sse"
check_eq "stop string: streamed text equals non-streamed" "$exp" "$(sse_text "$TMP/stop.sse")"

# --- concurrent requests equal sequential ones, and share batches --------------------------------
prompts=("And God said" "The LORD is my shepherd; I shall not" "Blessed are" "And it came to pass that" "Jesus wept")
for i in "${!prompts[@]}"; do post /v1/completions "$TMP/seq$i.json" "{\"prompt\":\"${prompts[$i]}\",\"max_tokens\":8,\"seed\":$i}" >/dev/null; done
b0=$(curl -s "$U/health" | "$PYTHON" -c 'import json,sys; d=json.load(sys.stdin); print(d["batches"])')
for i in "${!prompts[@]}"; do post /v1/completions "$TMP/con$i.json" "{\"prompt\":\"${prompts[$i]}\",\"max_tokens\":8,\"seed\":$i}" >/dev/null & done
wait_jobs() { for p in $(jobs -p); do case " ${pids[*]} " in *" $p "*) ;; *) wait "$p";; esac; done; }
wait_jobs
same=0
for i in "${!prompts[@]}"; do cmp -s <(jget "$TMP/seq$i.json" 'd["choices"][0]["text"]') <(jget "$TMP/con$i.json" 'd["choices"][0]["text"]') && same=$((same + 1)); done
check_eq "5 concurrent requests (different prompt lengths and seeds) equal the sequential answers" 5 "$same"
b1=$(curl -s "$U/health" | "$PYTHON" -c 'import json,sys; d=json.load(sys.stdin); print(d["batches"])')
check "the 5 concurrent requests ran in fewer than 5 batches ($((b1 - b0)))" test $((b1 - b0)) -lt 5

# --- bad requests: OpenAI error JSON, never a crash ----------------------------------------------
bad() {  # STATUS PARAM PATH BODY NAME
    local got
    got=$(post "$3" "$TMP/err.json" "$4")
    if [ "$got" = "$1" ] && [ "$(jget "$TMP/err.json" 'd["error"]["param"]')" = "$2" ] &&
       [ -n "$(jget "$TMP/err.json" 'd["error"]["message"]')" ]; then pass "$5 -> $1"; else fail "$5" "status $got: $(head -c 300 "$TMP/err.json")"; fi
}
bad 400 None /v1/completions '{"prompt": "x",' "malformed JSON"
bad 400 None /v1/completions '[1,2]' "not an object"
bad 400 prompt /v1/completions '{"max_tokens":4}' "no prompt"
bad 400 prompt /v1/completions '{"prompt":{"a":1}}' "prompt of the wrong type"
bad 400 prompt /v1/completions '{"prompt":[1,99999999]}' "token id outside the vocabulary"
bad 400 max_tokens /v1/completions '{"prompt":"x","max_tokens":"8"}' "max_tokens as a string"
bad 400 max_tokens /v1/completions '{"prompt":"x","max_tokens":100000}' "max_tokens above the limit"
bad 400 temperature /v1/completions '{"prompt":"x","temperature":-1}' "negative temperature"
bad 400 n /v1/completions '{"prompt":"x","n":1000}' "n above the limit"
bad 400 stop /v1/completions '{"prompt":"x","stop":["a","b","c","d","e"]}' "five stop strings"
bad 400 diffusion /v1/completions '{"prompt":"x","diffusion":{"stepz":4}}' "unknown diffusion option"
bad 400 diffusion /v1/completions '{"prompt":"x","max_tokens":10,"diffusion":{"block_length":4}}' "block length not dividing max_tokens"
check_eq "... the message names the request's fields (one resolver with denoise, issue 11)" \
    "max_tokens 10 is not a multiple of diffusion.block_length 4" "$(jget "$TMP/err.json" 'd["error"]["message"]')"
bad 400 diffusion.remasking /v1/completions '{"prompt":"x","diffusion":{"remasking":"nope"}}' "unknown remasking policy"
bad 400 diffusion.cache /v1/completions '{"prompt":"x","diffusion":{"cache":"full"}}' "unknown cache mode"
bad 400 diffusion.precision /v1/completions '{"prompt":"x","diffusion":{"precision":"bf16"}}' "precision per request"
bad 400 logprobs /v1/completions '{"prompt":"x","logprobs":3}' "logprobs (unsupported)"
bad 400 messages /v1/chat/completions '{"messages":[]}' "no messages"
bad 400 messages /v1/chat/completions '{"messages":[{"role":"tool","content":"x"}]}' "tool role"
bad 400 messages /v1/chat/completions '{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}' "image content"
bad 404 model /v1/chat/completions '{"model":"gpt-4","messages":[{"role":"user","content":"x"}]}' "unknown model"
check_eq "GET on a POST endpoint: 405" 405 "$(curl -s -o /dev/null -w '%{http_code}' "$U/v1/completions")"
check_eq "unknown path: 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$U/v2/nothing")"
exec 3<>"/dev/tcp/127.0.0.1/${U##*:}" && printf 'GARBAGE \x01\x02\r\n\r\n' >&3 && timeout 5 cat <&3 >/dev/null; exec 3<&- 3>&-
check_eq "still healthy after bad requests and a garbage HTTP line" ok "$(curl -s "$U/health" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["status"])')"

# --- keys, body limit, full queue, cancellation -------------------------------------------------
printf '# keys\nk-one\n  k-two  \n' >"$TMP/keys"; chmod 600 "$TMP/keys"
start B --api-key-file "$TMP/keys" --max-body 4096 --batch 2 --queue 1
U=$URL_B
check_eq "API key missing: 401" 401 "$(curl -s -o /dev/null -w '%{http_code}' "$U/v1/models")"
check_eq "API key wrong: 401" 401 "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer k-on' "$U/v1/models")"
check_eq "API key right (second line, blanks trimmed): 200" 200 "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer k-two' "$U/v1/models")"
check_eq "/health needs no key" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$U/health")"
big=$("$PYTHON" -c 'print("{\"prompt\":\"" + "a" * 5000 + "\"}")')
check_eq "body above --max-body: 413" 413 "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer k-one' "$U/v1/completions" -d "$big")"
long='{"prompt":"And God said","max_tokens":512,"diffusion":{"block_length":512}}'
for i in 1 2 3 4; do
    curl -s -D "$TMP/q$i.h" -o /dev/null --max-time 3 -H 'Authorization: Bearer k-one' "$U/v1/completions" -d "$long" &
    sleep 0.3
done
wait_jobs
check "a full queue answers 503 with Retry-After" grep -qi '^Retry-After: 1' "$TMP/q3.h" "$TMP/q4.h"
wait_free() {  # wait until no rows run; prints the seconds it took (or 'never')
    local t0 i
    t0=$(date +%s%N)
    for i in $(seq 300); do
        [ "$(curl -s "$U/health" | "$PYTHON" -c 'import json,sys; d=json.load(sys.stdin); print(d["rows_running"] + d["queued"])')" = 0 ] &&
            { echo $(( ($(date +%s%N) - t0) / 1000000 ))ms; return; }
        sleep 0.1
    done
    echo never
}
freed=$(wait_free)
check "rows of clients that timed out (hung up) are freed ($freed)" test "$freed" != never
c0=$(curl -s "$U/health" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["cancelled_rows"])')
curl -sN -H 'Authorization: Bearer k-one' "$U/v1/completions" -d '{"prompt":"And God said","max_tokens":512,"stream":true,"diffusion":{"block_length":512,"stream_steps":true}}' >"$TMP/cancel.sse" & cpid=$!
for _ in $(seq 600); do grep -q '^data: {"id"' "$TMP/cancel.sse" 2>/dev/null && break; sleep 0.1; done
kill "$cpid"; wait "$cpid" 2>/dev/null
freed=$(wait_free)
c1=$(curl -s "$U/health" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["cancelled_rows"])')
check "a streaming client that hangs up after its first chunk frees its row ($freed, 512 steps not run)" test "$freed" != never -a "$c1" -gt "$c0"
check_eq "the server answers again afterwards (with key)" 200 "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer k-one' "$U/v1/completions" -d '{"prompt":"x","max_tokens":4}')"

# --- the official openai npm client ------------------------------------------------------------
if command -v node >/dev/null && [ -d "$LLADA_ROOT/tests/npm/node_modules/openai" ]; then
    node "$LLADA_ROOT/tests/npm/serve_client.js" "$URL_B" k-one default >"$TMP/node.out" 2>&1
    while IFS= read -r line; do
        case "$line" in "ok - "*) pass "openai client: ${line#ok - }" ;; "not ok - "*) fail "openai client: ${line#not ok - }" ;; esac
    done <"$TMP/node.out"
    check "openai client ran all its checks" test "$(grep -c '^ok - ' "$TMP/node.out")" -ge 13
else
    fail "openai npm client installed (tests/npm/node_modules/openai: run make deps)"
fi

# --- --remote: a server fronting a broker and a worker -------------------------------------------
port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
front=tcp://127.0.0.1:$(port) back=tcp://127.0.0.1:$(port)
denoise --broker "$front" --backend "$back" -q 2>/dev/null & pids+=($!)
denoise --worker "$back" --temperature 0 --batch 4 -q 2>/dev/null & pids+=($!)
start R --remote "$front" --timeout 20000
U=$URL_A
# both sides take the block length from the model's generation_config.json (the worker ignored
# it before issue 11, and this test asked the local side for one block to match)
post /v1/completions "$TMP/loc.json" '{"prompt":"And God said","max_tokens":8,"temperature":0}' >/dev/null
U=$URL_R
check_eq "--remote: 200" 200 "$(post /v1/completions "$TMP/rem.json" '{"prompt":"And God said","max_tokens":8}')"
check_eq "--remote: the worker's answer equals the local one (T=0, the model's block length)" "$(jget "$TMP/loc.json" 'd["choices"][0]["text"]')" "$(jget "$TMP/rem.json" 'd["choices"][0]["text"]')"
curl -sN "$U/v1/completions" -d '{"prompt":"And God said","max_tokens":8,"stream":true}' >"$TMP/rem.sse"
check_eq "--remote: a stream delivers the same text whole" "$(jget "$TMP/loc.json" 'd["choices"][0]["text"]')" "$(sse_text "$TMP/rem.sse")"
# request options travel with each row ("sampler.*" record fields) and stand above the worker's
# command line (--temperature 0): with a seed the worker keys the draws as the local server does
for body in '{"prompt":"And God said","max_tokens":8,"temperature":0.9,"seed":7,"n":2,"diffusion":{"steps":4,"block_length":4}}' \
            '{"prompt":"And God said","max_tokens":8,"temperature":1.5,"seed":11,"diffusion":{"steps":8,"remasking":"random","cfg":0.5}}' \
            '{"messages":[{"role":"user","content":"Hello"}],"max_tokens":8,"temperature":0.7,"seed":3,"n":2,"diffusion":{"block_length":2,"logits_eos_inf":true}}'; do
    path=/v1/completions; key=text
    case "$body" in *messages*) path=/v1/chat/completions; key=message ;; esac
    U=$URL_A; post $path "$TMP/loc2.json" "$body" >/dev/null
    U=$URL_R; st=$(post $path "$TMP/rem2.json" "$body")
    sel='[c["text"] if "text" in c else c["message"]["content"] for c in d["choices"]]'
    check_eq "--remote forwards request options (${body:0:70}...): the local server's choices, same seed" \
        "$(jget "$TMP/loc2.json" "$sel")" "$(jget "$TMP/rem2.json" "$sel")"
    check_eq "--remote with request options: 200 ($key)" 200 "$st"
done
# the chat template is the model folder's own (tok/chat.h, through the same code as tok --chat -p):
# a folder whose tokenizer_config.json carries Qwen3's ChatML template (SDAR's)
mkdir -p "$TMP/fam" && cp "$LLADA_ROOT"/models/default/{tokenizer.json,config.json,generation_config.json} "$TMP/fam/"
"$PYTHON" - "$LLADA_ROOT/models/default/tokenizer_config.json" "$TMP/fam/tokenizer_config.json" "$LLADA_ROOT/tests/fixtures" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[3])
from chat_templates import TEMPLATES
c = json.load(open(sys.argv[1])); c["chat_template"] = TEMPLATES["qwen3"]
json.dump(c, open(sys.argv[2], "w"))
PY
start F --remote "$front" --model "$TMP/fam" --timeout 20000
U=$URL_F
msg='{"role":"user","content":"Hello <|eot_id|> there"}'
check_eq "a family template: chat 200" 200 "$(post /v1/chat/completions "$TMP/fam.json" "{\"messages\":[$msg],\"max_tokens\":4}")"
want=$(echo "{\"messages\":[$msg]}" | tok -m "$TMP/fam" --chat --jsonl -p --ids | wc -w)
llada=$(echo "{\"messages\":[$msg]}" | tok --chat --jsonl -p --ids | wc -w)
check_eq "a family template: the prompt is the folder's template (tok --chat -p), $want ids not LLaDA's $llada" \
    "$want" "$(jget "$TMP/fam.json" 'd["usage"]["prompt_tokens"]')"
check "the two templates give different prompts" test "$want" != "$llada"
kw='"chat_template_kwargs":{"enable_thinking":false}'
check_eq "chat_template_kwargs: 200" 200 "$(post /v1/chat/completions "$TMP/fam2.json" "{\"messages\":[$msg],\"max_tokens\":4,$kw}")"
want2=$(echo "{\"messages\":[$msg]}" | tok -m "$TMP/fam" --chat --jsonl -p --ids --template-var enable_thinking=false | wc -w)
check_eq "chat_template_kwargs reach the template (enable_thinking=false: $want2 ids, as tok --template-var)" \
    "$want2" "$(jget "$TMP/fam2.json" 'd["usage"]["prompt_tokens"]')"
check "enable_thinking=false adds the empty think block" test "$want2" -gt "$want"
U=$URL_R
bad 400 diffusion.stream_steps /v1/completions '{"prompt":"x","stream":true,"diffusion":{"stream_steps":true}}' "--remote: stream_steps refused"
bad 400 diffusion.cache /v1/completions '{"prompt":"x","diffusion":{"cache":"prefix"}}' "--remote: cache refused"
bad 400 diffusion.remasking /v1/completions '{"prompt":"x","diffusion":{"remasking":"nosuch"}}' "--remote: an unknown policy refused before it is sent"

# --- a GGUF file (denoise --quantize, same weight type as the folder) serves the same text -------------
dt=$("$PYTHON" -c 'import json,struct,sys; f=open(sys.argv[1],"rb"); n=struct.unpack("<Q",f.read(8))[0]; h=json.loads(f.read(n)); print(next(v["dtype"] for k,v in h.items() if k!="__metadata__").lower())' "$LLADA_ROOT/models/default/model.safetensors")
check "GGUF: denoise --quantize $dt writes the bundled model" denoise --model "$LLADA_ROOT/models/default" --quantize "$dt" "$TMP/m.gguf"
start G --model "$TMP/m.gguf"
U=$URL_A
body='{"prompt":"And God said","max_tokens":16,"temperature":0,"diffusion":{"block_length":4}}'
check_eq "GGUF: folder server 200" 200 "$(post /v1/completions "$TMP/gf.json" "$body")"
U=$URL_G
check_eq "GGUF: --model FILE.gguf server 200" 200 "$(post /v1/completions "$TMP/gg.json" "$body")"
check_eq "GGUF: the same text as the folder (T=0)" "$(jget "$TMP/gf.json" 'd["choices"][0]["text"]')" "$(jget "$TMP/gg.json" 'd["choices"][0]["text"]')"
check_eq "GGUF: /v1/models names the file" "m.gguf" "$(curl -s "$U/v1/models" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')"
kill -TERM "$PID_G"; wait "$PID_G"

# --- SIGTERM ends the server cleanly ---------------------------------------------------------------
kill -TERM "$PID_A"; wait "$PID_A"; rc=$?
check_eq "SIGTERM: exit 0" 0 "$rc"
check "no sanitizer or crash report in the logs" bash -c "! grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error|Segmentation' $TMP/*.log"
finish
