"""test_mask_data.py — mask --pretrain / --sft / --canvas through the CLI, checked in numpy.

Pre-training: with --crop 0 the x0 of all sequences concatenated equals the documents joined
with EOS separators (independent reconstruction), every sequence has --length tokens but the
last, xt agrees with x0 off the masks, the masked fraction follows p, and with the default
crop ~1% of sequences are cropped prefixes. SFT: the prompt is never masked, answers are
EOS-padded to --length (or the batch maximum), answer_len counts the padding, padding is
masked like the rest. Sharding: the union of N shards is byte-identical, record by record, to
one process, for every mode.
"""
import math, os, subprocess, sys
import numpy as np
import msgpack

sys.path.insert(0, os.path.dirname(__file__))
from pylib import check, summary, tool

MASK, EOS = 126336, 126081
IDS = ["--mask-id", str(MASK), "--eos-id", str(EOS)]
rng = np.random.default_rng(42)


def tensor(a):
    a = np.asarray(a, dtype="<i4")
    return {"dtype": "i4", "shape": [len(a)], "data": a.tobytes()}


def arr(t):
    return np.frombuffer(t["data"], dtype="<i4")


def raw_records(data):
    """Split a msgpack stream into (decoded, raw bytes) per record, dropping the end record."""
    u = msgpack.Unpacker(raw=False)
    u.feed(data)
    out, pos = [], 0
    for r in u:
        end = u.tell()
        if r.get("kind") != "end":
            out.append((r, data[pos:end]))
        pos = end
    return out


def run(args, inp):
    p = subprocess.run([tool("mask")] + args, input=inp, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        print("mask", args, "failed:", p.stderr.decode(errors="replace")[:300])
    return p


# ---------------------------------------------------------------- pretrain
docs = [rng.integers(0, 50000, rng.integers(1, 700)).astype(np.int32) for _ in range(300)]
docs[5] = np.append(docs[5], EOS).astype(np.int32)      # already ends with EOS: no second one
docs_in = b"".join(msgpack.packb({"kind": "tokens", "tokens": tensor(d), "id": i}) for i, d in enumerate(docs))
want = np.concatenate([np.append(d, EOS) if d[-1] != EOS else d for d in docs])
Lseq = 256
p = run(["--pretrain", "--length", str(Lseq), "--crop", "0", "--seed", "3"] + IDS, docs_in)
recs = [r for r, _ in raw_records(p.stdout)]
x0 = np.concatenate([arr(r["x0"]) for r in recs])
check(p.returncode == 0 and np.array_equal(x0, want), "pretrain: packed x0 = documents + EOS separators")
check(all(len(arr(r["x0"])) == Lseq for r in recs[:-1]) and len(arr(recs[-1]["x0"])) == len(want) % Lseq,
      "pretrain: full sequences of --length, short tail")
ok, z = True, []
for r in recs:
    a, b = arr(r["x0"]), arr(r["xt"])
    m = b == MASK
    ok &= np.array_equal(a[~m], b[~m]) and int(m.sum()) == r["n_masked"] and r["prompt_len"] == 0
    ok &= abs(r["p"] - ((1 - 1e-3) * r["t"] + 1e-3)) < 1e-12 and 0 < r["t"] <= 1 and r["cropped"] is False
    n = len(a)
    z.append((m.sum() - n * r["p"]) / math.sqrt(n * r["p"] * (1 - r["p"]) + 1e-12))
check(ok, "pretrain: xt = x0 off the masks, p = (1-eps) t + eps")
check(abs(np.mean(z)) * math.sqrt(len(z)) < 5, "pretrain: masked counts follow p", np.mean(z))
p2 = run(["--pretrain", "--length", str(Lseq), "--crop", "0", "--seed", "3", "--drop-last"] + IDS, docs_in)
check(len(raw_records(p2.stdout)) == len(want) // Lseq, "pretrain: --drop-last")
p3 = run(["--pretrain", "--length", str(Lseq), "--crop", "0", "--sep", "none"] + IDS, docs_in)
check(np.array_equal(np.concatenate([arr(r["x0"]) for r, _ in raw_records(p3.stdout)]), np.concatenate(docs)),
      "pretrain: --sep none")

# the crop: many short sequences, ~1% cropped to a prefix of length in [1, L]
many = msgpack.packb({"kind": "tokens", "tokens": tensor(np.arange(8 * 30000) % 40000)})
p = run(["--pretrain", "--length", "8", "--sep", "none", "--seed", "9"] + IDS, many)
recs = [r for r, _ in raw_records(p.stdout)]
cr = [r for r in recs if r["cropped"]]
full = np.arange(8 * 30000) % 40000
prefix_ok = all(1 <= len(arr(r["x0"])) <= 8 and np.array_equal(arr(r["x0"]), full[8 * r["group"]: 8 * r["group"] + len(arr(r["x0"]))])
                for r in cr)
check(len(recs) == 30000 and abs(len(cr) - 300) < 5 * math.sqrt(300 * 0.99), "pretrain: ~1% cropped", len(cr))
check(prefix_ok and all(r["answer_len"] == len(arr(r["x0"])) for r in recs), "pretrain: a crop is a prefix of length in [1, L]")

# ---------------------------------------------------------------- sft
pairs = [(rng.integers(0, 1000, rng.integers(1, 40)), rng.integers(0, 1000, rng.integers(1, 60))) for _ in range(400)]
pairs[3] = (pairs[3][0], np.append(pairs[3][1], EOS))
sft_in = b"".join(msgpack.packb({"kind": "tokens", "prompt": tensor(a), "tokens": tensor(b), "id": i})
                  for i, (a, b) in enumerate(pairs))
p = run(["--sft", "--length", "128", "--seed", "1"] + IDS, sft_in)
recs = [r for r, _ in raw_records(p.stdout)]
ok, prompt_masked, pad_masked, pad_total = len(recs) == len(pairs), 0, 0, 0
for r in recs:
    a, b = pairs[r["id"]]
    x0, xt = arr(r["x0"]), arr(r["xt"])
    body = np.concatenate([a, b])
    ok &= len(x0) == 128 and np.array_equal(x0[: len(body)], body) and (x0[len(body):] == EOS).all()
    ok &= r["prompt_len"] == len(a) and r["answer_len"] == 128 - len(a)
    m = xt == MASK
    ok &= np.array_equal(xt[~m], x0[~m]) and int(m.sum()) == r["n_masked"]
    prompt_masked += int(m[: len(a)].sum())
    pad_masked += int(m[len(body):].sum())
    pad_total += 128 - len(body)
check(ok, "sft: x0 = prompt + answer + EOS padding to --length, answer_len includes padding")
check(prompt_masked == 0, "sft: prompt never masked")
check(pad_masked > 0.3 * pad_total, "sft: EOS padding is masked and trained", (pad_masked, pad_total))
p = run(["--sft", "--pad-batch", "8", "--seed", "1"] + IDS, sft_in)
recs = [r for r, _ in raw_records(p.stdout)]
ok = len(recs) == len(pairs)
for bi in range(0, len(pairs), 8):
    grp = [r for r in recs if bi <= r["id"] < bi + 8]
    need = max(len(pairs[r["id"]][0]) + len(pairs[r["id"]][1]) + (0 if pairs[r["id"]][1][-1] == EOS else 1) for r in grp)
    ok &= all(len(arr(r["x0"])) == need for r in grp)
check(ok, "sft --pad-batch: padded to the longest of each batch (+1 EOS)")
p = run(["--sft", "--length", "20"] + IDS, sft_in)
check(p.returncode == 1 and b"longer than --length" in p.stderr, "sft: too long is exit 1")
p = run(["--sft", "--length", "40", "--skip-long"] + IDS, sft_in)
n_fit = sum(len(a) + len(b) + (0 if b[-1] == EOS else 1) <= 40 for a, b in pairs)
check(p.returncode == 0 and len(raw_records(p.stdout)) == n_fit, "sft --skip-long keeps the ones that fit")
# the tokens + prompt_len form
alt = b"".join(msgpack.packb({"kind": "tokens", "tokens": tensor(np.concatenate([a, b])), "prompt_len": len(a)})
               for a, b in pairs[:20])
p = run(["--sft", "--length", "128", "--seed", "1"] + IDS, alt)
p0 = run(["--sft", "--length", "128", "--seed", "1"] + IDS, sft_in)
check([arr(r["xt"]).tolist() for r, _ in raw_records(p.stdout)] ==
      [arr(r["xt"]).tolist() for r, _ in raw_records(p0.stdout)][:20], "sft: tokens+prompt_len form = prompt+tokens form")

# ---------------------------------------------------------------- canvas
p = run(["--canvas", "--gen-length", "5"] + IDS, msgpack.packb({"kind": "tokens", "tokens": tensor([1, MASK, 3]), "id": "x"}))
r = raw_records(p.stdout)[0][0]
check(arr(r["tokens"]).tolist() == [1, MASK, 3] + [MASK] * 5 and r["prompt_len"] == 3 and r["kind"] == "canvas"
      and r["id"] == "x", "canvas: prompt (inline masks kept) + gen-length masks")

# ---------------------------------------------------------------- sharding
lik_in = b"".join(msgpack.packb({"kind": "tokens", "prompt": tensor(a), "tokens": tensor(b)}) for a, b in pairs[:30])
cases = [("pretrain", ["--pretrain", "--length", "64"], docs_in), ("sft", ["--sft", "--length", "128"], sft_in),
         ("sft-batch", ["--sft", "--pad-batch", "4"], sft_in), ("likelihood", ["--likelihood", "--mc", "8", "--batch", "4"], lik_in),
         ("canvas", ["--canvas"], sft_in)]
for name, args, data in cases:
    one = raw_records(run(args + ["--seed", "11"] + IDS, data).stdout)
    union = []
    for i in range(3):
        union += raw_records(run(args + ["--seed", "11", "--shard", f"{i}/3"] + IDS, data).stdout)
    key = lambda rb: (rb[0].get("group", 0), rb[0].get("mc", 0), rb[0].get("id", 0))
    if name == "canvas":
        key = lambda rb: rb[0]["id"]
    a = sorted(one, key=key)
    b = sorted(union, key=key)
    check(len(one) > 0 and [x[1] for x in a] == [x[1] for x in b], f"shards 0..2 of 3 = one process, byte for byte ({name})")
    other = raw_records(run(args + ["--seed", "12"] + IDS, data).stdout)
    if name != "canvas":
        check([x[1] for x in other] != [x[1] for x in one], f"another seed gives other draws ({name})")

# --stream: another key part; the same stream repeats, another stream draws afresh
s0 = run(["--sft", "--length", "128", "--seed", "11", "--stream", "5"] + IDS, sft_in).stdout
s1 = run(["--sft", "--length", "128", "--seed", "11", "--stream", "5"] + IDS, sft_in).stdout
s2 = run(["--sft", "--length", "128", "--seed", "11", "--stream", "6"] + IDS, sft_in).stdout
check(s0 == s1 and s0 != s2, "--stream: same stream same bytes, other stream other draws")

# ---------------------------------------------------------------- the documented Python reader
import re, tempfile
doc = open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "data-prep.md")).read()
reader = re.findall(r"```python\n(.*?)```", doc, re.S)[0]
ns = {}
exec(reader, ns)
d = tempfile.mkdtemp()
for i in range(2):
    run(["--pretrain", "--length", "64", "--seed", "2", "--shard", f"{i}/2", "-o", f"{d}/train-{i}.mp.lz4"] + IDS, docs_in)
got = sorted((r["group"], ns["arr"](r["x0"]).tolist(), ns["arr"](r["xt"]).tolist()) for r in ns["masked_records"](d + "/train-*.mp.lz4"))
want_recs = sorted((r["group"], arr(r["x0"]).tolist(), arr(r["xt"]).tolist())
                   for r, _ in raw_records(run(["--pretrain", "--length", "64", "--seed", "2"] + IDS, docs_in).stdout))
check(len(got) > 10 and got == want_recs, "docs/data-prep.md reader reads the lz4 shards")
# the recommended shards (--bitmap --shuffle) through the same reader: x0 and the rebuilt xt equal
ns["MASK_ID"] = MASK
for i in range(2):
    run(["--pretrain", "--bitmap", "--shuffle", "--length", "64", "--seed", "2", "--shard", f"{i}/2",
         "-o", f"{d}/fast-{i}.mp.lz4"] + IDS, docs_in)
fast = [r for r in ns["masked_records"](d + "/fast-*.mp.lz4")]
got = sorted((r["group"], ns["arr"](r["x0"]).tolist(), ns["xt_of"](r).tolist()) for r in fast)
check(any(r["x0"].get("filter") == "shuffle" for r in fast) and "xt" not in fast[0] and got == want_recs,
      "docs/data-prep.md reader reads --bitmap --shuffle shards (x0 and rebuilt xt equal)")
summary()
