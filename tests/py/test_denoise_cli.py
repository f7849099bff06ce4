#!/usr/bin/env python3
"""test_denoise_cli.py — denoise's other modes against independent computations:
--score cross-entropies (with and without CFG) vs the numpy reference forward, --history
carrying a chat the way chat.py does, seeded determinism, JSON input, usage errors."""
import os, shutil, subprocess, sys, tempfile
import numpy as np
import msgpack

sys.path.insert(0, os.path.dirname(__file__))
from pylib import check, summary, tool, ROOT
import ref_llada as ref

TMP = tempfile.mkdtemp(prefix="denoise_cli_")
subprocess.run([sys.executable, os.path.join(ROOT, "tests/fixtures/make_tiny_ckpt.py"), TMP,
                "--preset", "mha_f32", "--preset", "gqa_bf16", "--seed", "21"], check=True)
D = os.path.join(TMP, "mha_f32")
cfg, W = ref.load(D)
MASK, EOS, BOS = cfg["mask_token_id"], cfg["eos_token_id"], cfg["bos_token_id"]


def arr(a):
    a = np.asarray(a, "<i4")
    return {"dtype": "i4", "shape": list(a.shape), "data": a.tobytes()}


def unarr(m):
    return np.frombuffer(m["data"], {"i4": "<i4", "f4": "<f4"}[m["dtype"]]).reshape(m["shape"])


def run(records, args, raw=False):
    data = b"".join(msgpack.packb(r) for r in records)
    p = subprocess.run([tool("denoise"), "--model", D] + args, input=data, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if raw:
        return p
    assert p.returncode == 0, p.stderr.decode()
    up = msgpack.Unpacker(raw=False)
    up.feed(p.stdout)
    return [r for r in up if r["kind"] != "end"]


# --score: ce = sum over masked positions of -log softmax(logits)[x0]
rng = np.random.default_rng(5)
recs, want, want_cfg = [], [], []
for i in range(4):
    L = 10 if i < 3 else 7
    x0 = rng.integers(0, 90, L)
    xt = x0.copy()
    m = rng.random(L) < 0.5
    m[-1] = True
    xt[m] = MASK
    pl = 3
    recs.append({"kind": "masked", "x0": arr(x0), "xt": arr(xt), "t": 0.5, "p": 0.5, "prompt_len": pl,
                 "answer_len": L - pl, "group": i, "mc": 0})
    lg = ref.forward(cfg, W, xt[None])[0]
    un = xt.copy()
    un[:pl] = MASK
    lu = ref.forward(cfg, W, un[None])[0]

    def ce(l):
        l = l - l.max(-1, keepdims=True)
        lsm = l - np.log(np.exp(l).sum(-1, keepdims=True))
        return -sum(lsm[p, x0[p]] for p in np.nonzero(m)[0])
    want.append(ce(lg))
    want_cfg.append(ce(lu + 2.0 * (lg - lu)))
for args, w, name in ((["--score", "--batch", "2"], want, "score"), (["--score", "--cfg", "1.0"], want_cfg, "score with cfg")):
    out = run(recs, args)
    got = [r["ce"] for r in out]
    ok = len(got) == 4 and all(abs(a - b) <= 1e-4 * max(1, abs(b)) for a, b in zip(got, w))
    check(ok and all(r["n_masked"] == int((unarr(q["xt"]) == MASK).sum()) for r, q in zip(out, recs)),
          f"--score ce vs numpy ({name})", f"{got} vs {w}")
    check([r["group"] for r in out] == [0, 1, 2, 3], f"--score keeps order and fields ({name})")

# --history: turn 2's prompt = turn 1's prompt+answer without EOS, then turn 2 minus its BOS
H = os.path.join(TMP, "hist.mp")
t1 = [BOS, 5, 6, 7]
o1 = run([{"kind": "tokens", "tokens": arr(t1)}], ["--history", H, "--gen-length", "8", "--steps", "8"])[0]
full1 = list(unarr(o1["prompt"])) + list(unarr(o1["tokens"]))
t2 = [BOS, 9, 10]
o2 = run([{"kind": "tokens", "tokens": arr(t2)}], ["--history", H, "--gen-length", "8", "--steps", "8"])[0]
want_p2 = [t for t in full1 if t != EOS] + t2[1:]
check(list(unarr(o2["prompt"])) == want_p2, "--history: next prompt = previous output without EOS + turn without BOS",
      f"{list(unarr(o2['prompt']))} vs {want_p2}")
x, _, _ = ref.generate(cfg, W, [want_p2], steps=8, gen_length=8, block_length=8)
check(list(unarr(o2["tokens"])) == list(x[0, -8:]), "--history: second turn equals the reference on the joined prompt")

# determinism and seeds
r = {"kind": "tokens", "tokens": arr([1, 2, 3])}
a = run([r], ["--gen-length", "16", "--temperature", "1.0", "--seed", "3"])[0]
b = run([r], ["--gen-length", "16", "--temperature", "1.0", "--seed", "3"])[0]
c = run([r], ["--gen-length", "16", "--temperature", "1.0", "--seed", "4"])[0]
check(a["tokens"] == b["tokens"], "same seed, same tokens")
check(a["tokens"] != c["tokens"], "another seed, other tokens at T=1")
check(a["nfe"] == 16, "nfe = steps")
cf = run([r], ["--gen-length", "8", "--cfg", "1"])[0]
check(cf["nfe"] == 16, "nfe counts both CFG passes")

# JSON lines in, JSON out
p = subprocess.run([tool("denoise"), "--model", D, "--json", "--gen-length", "4"],
                   input=b'{"kind":"tokens","tokens":{"dtype":"i4","shape":[2],"data":[1,2]},"id":"x"}\n',
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
check(p.returncode == 0 and b'"id":"x"' in p.stdout and b'"reveal_step"' in p.stdout, "JSON lines round trip", p.stderr)

# usage errors (exit 2) and data errors (exit 1)
for args, code, what in ((["--remasking", "nope"], 2, "unknown policy"),
                         (["--gen-length", "8", "--block-length", "3"], 2, "gen not multiple of block"),
                         (["--gen-length", "8", "--block-length", "4", "--steps", "3"], 2, "steps not multiple of blocks"),
                         (["--temperature", "-1"], 2, "negative temperature"),
                         (["--history", H, "--batch", "2"], 2, "history with batch")):
    p = run([r], args, raw=True)
    check(p.returncode == code and p.stderr.startswith(b"denoise: error: "), f"exit {code}: {what}", p.stderr)
p = run([{"kind": "canvas", "tokens": arr([1, 2, MASK, MASK, MASK]), "prompt_len": 2}], ["--block-length", "2"], raw=True)
check(p.returncode == 1 and b"multiple" in p.stderr, "canvas whose length does not fit the blocks: exit 1", p.stderr)
p = run([{"kind": "masked"}], [], raw=True)
check(p.returncode == 1, "masked record without --score: exit 1", p.stderr)
env = dict(os.environ, LLADA_MODEL=os.path.join(TMP, "absent"))
p = subprocess.run([tool("denoise")], input=b"", stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
check(p.returncode == 3 and b"absent" in p.stderr, "LLADA_MODEL names the default model (absent: exit 3)", p.stderr)
env = dict(os.environ, LLADA_MODEL=D)
p = subprocess.run([tool("denoise"), "--gen-length", "4"], input=msgpack.packb(r), stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE, env=env)
check(p.returncode == 0 and b"reveal_step" in p.stdout, "no --model: LLADA_MODEL is used", p.stderr)

shutil.rmtree(TMP, ignore_errors=True)
summary()
