"""test_mask_score_e2e.py — the likelihood pipeline end to end on a real (tiny) LLaDA checkpoint:
mask --likelihood | denoise --score | mask --reduce, against the exact bound enumerated with
the numpy reference forward pass (tests/py/ref_llada.py, written from the architecture
description), with and without classifier-free guidance (unconditional = prompt masked,
logits = un + (cfg + 1)(cond - un), as get_log_likelihood.py).
"""
import itertools, math, os, subprocess, sys, tempfile
import numpy as np
import msgpack

sys.path.insert(0, os.path.dirname(__file__))
from pylib import check, summary, tool, ROOT
import ref_llada

tmp = tempfile.mkdtemp()
subprocess.run([sys.executable, os.path.join(ROOT, "tests/fixtures/make_tiny_ckpt.py"), tmp, "--preset", "mha_f32"],
               check=True, stdout=subprocess.DEVNULL)
ck = os.path.join(tmp, "mha_f32")
cfg, W = ref_llada.load(ck)
MASK = cfg["mask_token_id"]


def logsoftmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def exact_bound(prompt, answer, cfg_scale):
    x0 = np.concatenate([prompt, answer])
    L, npr = len(answer), len(prompt)
    subsets = [S for l in range(1, L + 1) for S in itertools.combinations(range(L), l)]
    xts = np.repeat(x0[None], len(subsets), 0)
    for i, S in enumerate(subsets):
        xts[i, np.array(S) + npr] = MASK
    z = ref_llada.forward(cfg, W, xts)
    if cfg_scale > 0:
        un = xts.copy()
        un[:, :npr] = MASK
        zu = ref_llada.forward(cfg, W, un)
        z = zu + (cfg_scale + 1) * (z - zu)
    lp = logsoftmax(z)
    per_l = {}
    for i, S in enumerate(subsets):
        idx = np.array(S) + npr
        per_l.setdefault(len(S), []).append((L / len(S)) * lp[i, idx, x0[idx]].sum())
    return np.mean([np.mean(v) for v in per_l.values()])


def tensor(a):
    a = np.asarray(a, dtype="<i4")
    return {"dtype": "i4", "shape": [len(a)], "data": a.tobytes()}


rng = np.random.default_rng(3)
pairs = [(rng.integers(0, 90, 3), rng.integers(0, 90, 5)), (rng.integers(0, 90, 2), rng.integers(0, 90, 4))]
inp = b"".join(msgpack.packb({"kind": "tokens", "prompt": tensor(p), "tokens": tensor(a), "id": i})
               for i, (p, a) in enumerate(pairs))
for cfg_scale in (0.0, 1.0):
    sh = (f"'{tool('mask')}' --likelihood --model '{ck}' --mc 384 --batch 16 --seed 5 | "
          f"'{tool('denoise')}' --score --model '{ck}' --cfg {cfg_scale} --threads 1 | '{tool('mask')}' --reduce")
    p = subprocess.run(["bash", "-o", "pipefail", "-c", sh], input=inp, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if not check(p.returncode == 0, f"cfg {cfg_scale}: mask | denoise --score | mask --reduce runs", p.stderr.decode(errors="replace")[-400:]):
        continue
    u = msgpack.Unpacker(raw=False)
    u.feed(p.stdout)
    out = {r["id"]: r for r in u if r.get("kind") == "likelihood"}
    for i, (pr, an) in enumerate(pairs):
        ex = exact_bound(pr, an, cfg_scale)
        r = out.get(i)
        if not check(r is not None, f"cfg {cfg_scale} pair {i}: bound written"):
            continue
        z = (r["bound"] - ex) / max(r["se"], 1e-9)
        check(abs(z) < 4.5, f"cfg {cfg_scale} pair {i}: bound {r['bound']:.4f} vs exact {ex:.4f} (se {r['se']:.4f}, z {z:.2f})")
summary()
