#!/usr/bin/env bash
# tests/e2e/mask.sh — mask's command line: modes, ids from config.json, *.mp.lz4 shards equal
# to the stdout stream (and readable by the lz4 CLI), a socket output, union of shards, and
# every documented error with its exit code.
. "$(dirname "$0")/../lib.sh"
IDS="--mask-id 126336 --eos-id 126081"
"$PYTHON" - "$TMP" <<'P'
import sys, msgpack, numpy as np
d = sys.argv[1]
t = lambda a: {"dtype": "i4", "shape": [len(a)], "data": np.asarray(a, dtype="<i4").tobytes()}
rng = np.random.default_rng(0)
with open(d + "/docs.mp", "wb") as f:
    for i in range(200):
        f.write(msgpack.packb({"kind": "tokens", "tokens": t(rng.integers(0, 1000, rng.integers(1, 900))), "id": i}))
with open(d + "/pairs.mp", "wb") as f:
    for i in range(50):
        f.write(msgpack.packb({"kind": "tokens", "prompt": t(rng.integers(0, 90, 4)), "tokens": t(rng.integers(0, 90, 6)), "id": i}))
open(d + "/notok.mp", "wb").write(msgpack.packb({"kind": "tokens", "text": "no tokens"}))
open(d + "/f4.mp", "wb").write(msgpack.packb({"kind": "tokens", "tokens": {"dtype": "f4", "shape": [1], "data": b"\0\0\0\0"}}))
open(d + "/empty_ans.mp", "wb").write(msgpack.packb({"kind": "tokens", "prompt": t([1, 2]), "tokens": t([])}))
open(d + "/trunc.mp", "wb").write(msgpack.packb({"kind": "tokens", "tokens": t(range(100))})[:-7])
P
mkdir -p "$TMP/model" "$TMP/badmodel" "$TMP/nomask"
echo '{"mask_token_id": 7, "eos_token_id": [5, 6]}' > "$TMP/model/config.json"
echo '{"mask_token_id": 7, ' > "$TMP/badmodel/config.json"
echo '{"eos_token_id": 5}' > "$TMP/nomask/config.json"

# modes and outputs
check "pretrain to stdout" sh -c "mask --pretrain $IDS --length 512 < '$TMP/docs.mp' > '$TMP/pt.mp'"
check "pretrain to .mp.lz4" mask --pretrain $IDS --length 512 -i "$TMP/docs.mp" -o "$TMP/pt.mp.lz4"
check "lz4 -dc of the shard = the stdout stream" sh -c "lz4 -dc '$TMP/pt.mp.lz4' | cmp -s - '$TMP/pt.mp'"
check_eq "shard decodes with lz4 -dc and counts" "$(rec -i "$TMP/pt.mp" -c -o /dev/null 2>&1 | grep -Eo '[0-9]+' | head -1)" \
    "$(lz4 -dc "$TMP/pt.mp.lz4" | rec -c -o /dev/null 2>&1 | grep -Eo '[0-9]+' | head -1)"
# --shuffle: byte-planed typed arrays; our readers undo it (the stream decodes to the plain one),
# and an independent reader (Python lz4.frame + numpy) recovers x0 from the planes
check "pretrain --bitmap --shuffle to .mp.lz4" mask --pretrain --bitmap --shuffle $IDS --length 512 -i "$TMP/docs.mp" -o "$TMP/sh.mp.lz4"
check "pretrain --bitmap to stdout" sh -c "mask --pretrain --bitmap $IDS --length 512 < '$TMP/docs.mp' > '$TMP/bm.mp'"
check "shuffled shard decodes to the unshuffled stream" bash -c "rec -i '$TMP/sh.mp.lz4' | cmp -s - <(rec -i '$TMP/bm.mp')"
check "shuffled shard is smaller" test "$(stat -c %s "$TMP/sh.mp.lz4")" -lt "$(lz4 -c "$TMP/bm.mp" | wc -c)"
check "pipe and shard agree under --shuffle" bash -c "mask --pretrain --bitmap --shuffle $IDS --length 512 < '$TMP/docs.mp' | cmp -s - <(lz4 -dc '$TMP/sh.mp.lz4')"
check "Python reader unshuffles x0" "$PYTHON" - "$TMP/sh.mp.lz4" "$TMP/bm.mp" <<'P'
import sys, lz4.frame, msgpack, numpy as np
def arr(t):
    a = np.frombuffer(t["data"], np.uint8)
    if t.get("filter") == "shuffle":
        a = a.reshape(np.dtype(t["dtype"]).itemsize, -1).T.ravel()
    return a.view("<" + t["dtype"])
sh = [r for r in msgpack.Unpacker(lz4.frame.open(sys.argv[1], "rb"), raw=False) if r["kind"] == "masked"]
bm = [r for r in msgpack.Unpacker(open(sys.argv[2], "rb"), raw=False) if r["kind"] == "masked"]
assert len(sh) == len(bm) > 0
assert all((r["x0"].get("filter") == "shuffle") == (r["x0"]["shape"][0] >= 16) for r in sh)
assert all((arr(a["x0"]) == arr(b["x0"])).all() and a["mask"] == b["mask"] for a, b in zip(sh, bm))
P
check "likelihood json" sh -c "mask --likelihood $IDS --mc 4 --json < '$TMP/pairs.mp' | grep -q '\"n_mc\":4'"
check "canvas" sh -c "mask --canvas $IDS --gen-length 3 --json < '$TMP/pairs.mp' | grep -q '\"kind\":\"canvas\"'"
# ids from config.json (eos given as a list: first entry)
check "ids from --model config.json" sh -c "mask --sft --model '$TMP/model' --length 16 --json < '$TMP/pairs.mp' | grep -q '5,5,5'"
# socket output: a PULL reader on a bound socket, mask connects
port=$((20000 + RANDOM % 20000))
rec -i "@tcp://127.0.0.1:$port" -o "$TMP/sock.mp" --timeout 20000 & rp=$!
check "likelihood to a socket" mask --likelihood $IDS --mc 2 -i "$TMP/pairs.mp" -o ">tcp://127.0.0.1:$port"
wait $rp
rec -i "$TMP/sock.mp" --json | grep -v '"kind":"end"' > "$TMP/sock.txt"
check "socket records = pipe records" sh -c "mask --likelihood $IDS --mc 2 --json < '$TMP/pairs.mp' | grep -v '\"kind\":\"end\"' | cmp -s - '$TMP/sock.txt'"
# shards in parallel processes: the union of the lz4 shards equals one process
for i in 0 1 2 3; do mask --pretrain $IDS --length 256 --seed 9 --shard $i/4 -i "$TMP/docs.mp" -o "$TMP/s$i.mp.lz4" & done; wait
mask --pretrain $IDS --length 256 --seed 9 -i "$TMP/docs.mp" --json | grep -v '"kind":"end"' | sort > "$TMP/one.txt"
for i in 0 1 2 3; do rec -i "$TMP/s$i.mp.lz4" --json; done | grep -v '"kind":"end"' | sort > "$TMP/union.txt"
check "4 shard files = one process" cmp -s "$TMP/one.txt" "$TMP/union.txt"
check_eq "same seed, same bytes" "$(mask --pretrain $IDS --seed 4 < "$TMP/docs.mp" | md5sum)" "$(mask --pretrain $IDS --seed 4 < "$TMP/docs.mp" | md5sum)"

# usage errors: exit 2
check_exit 2 "no mode" mask $IDS
check_stderr "no mode message" '^mask: error: choose a mode'
check_exit 2 "two modes" mask --sft --pretrain $IDS
check_exit 2 "bad shard" mask --pretrain $IDS --shard 3/3
check_exit 2 "bad eps" mask --pretrain $IDS --eps 2
check_exit 2 "mc not a multiple of batch" mask --likelihood $IDS --mc 10 --batch 4
check_exit 2 "length 0" mask --pretrain $IDS --length 0
check_exit 2 "stray argument" mask --pretrain $IDS extra
check_exit 2 "pad-batch with length" mask --sft $IDS --pad-batch 4 --length 10
check_exit 2 "unknown option" mask --pretrain --bogus
# model problems
check_exit 3 "missing model folder" mask --pretrain --model "$TMP/none"
check_stderr "names the file" 'config.json'
check_exit 1 "malformed config.json" mask --pretrain --model "$TMP/badmodel"
check_exit 1 "config without mask_token_id" mask --pretrain --model "$TMP/nomask"
check_stderr "asks for --mask-id" '--mask-id'
# bad data: exit 1
check_exit 1 "record without tokens" sh -c "mask --pretrain $IDS < '$TMP/notok.mp'"
check_stderr "one-line error" '^mask: error: record 0: .*tokens'
check_exit 1 "tokens of the wrong dtype" sh -c "mask --canvas $IDS < '$TMP/f4.mp'"
check_exit 1 "empty answer for likelihood" sh -c "mask --likelihood $IDS < '$TMP/empty_ans.mp'"
check_exit 1 "truncated input" sh -c "mask --pretrain $IDS < '$TMP/trunc.mp'"
check_exit 1 "reduce without scores" sh -c "mask --likelihood $IDS --mc 2 < '$TMP/pairs.mp' | mask --reduce"
check_stderr "names ce" 'ce'
check_exit 1 "join with an odd record count" sh -c "mask --join < '$TMP/notok.mp'"
# I/O errors: exit 3
check_exit 3 "unwritable output" mask --pretrain $IDS -i "$TMP/docs.mp" -o /nonexistent/dir/x.mp.lz4
check_exit 3 "missing input" mask --pretrain $IDS -i "$TMP/nope.mp"
finish
