#!/usr/bin/python3
"""test_train_loss.py — train's objective against numpy: the loss train logs for a batch of
masked records equals the seed's formula (Σ over masked answer positions of CE / p /
answer_len, divided by the batch) computed with the numpy LLaDA forward (ref_llada.py) on the
checkpoint train wrote, for pre-training and SFT records mixed in one batch."""
import os, subprocess, sys, tempfile
import msgpack, numpy as np
sys.path.insert(0, os.path.dirname(__file__))
from pylib import check, summary, tool
import ref_llada

M, L = 31, 12
rng = np.random.default_rng(7)
def arr(a): return {"dtype": "i4", "shape": [len(a)], "data": np.asarray(a, "<i4").tobytes()}
recs = []
for pl, p in [(0, 0.3), (4, 0.6), (0, 0.9)]:
    x0 = rng.integers(0, 30, L)
    xt = x0.copy()
    m = rng.random(L) < p
    m[:pl] = False
    m[pl] = True                       # at least one masked answer position
    xt[m] = M
    recs.append(dict(x0=x0, xt=xt, pl=pl, p=p, al=L - pl))
with tempfile.TemporaryDirectory() as d:
    data = os.path.join(d, "m.mp")
    with open(data, "wb") as f:
        for r in recs:
            f.write(msgpack.packb({"kind": "masked", "x0": arr(r["x0"]), "xt": arr(r["xt"]), "p": r["p"],
                                   "prompt_len": r["pl"], "answer_len": r["al"]}))
    tiny = [tool("train"), "--vocab", "32", "--mask-id", str(M), "--eos-id", "30", "--d-model", "32",
            "--n-layers", "2", "--n-heads", "4", "--n-kv-heads", "2", "--mlp", "48", "--batch", "3", "-q",
            "-i", data]
    p1 = subprocess.run(tiny + ["--steps", "5", "--lr", "3e-3", "--out", os.path.join(d, "a")], capture_output=True)
    check(p1.returncode == 0, "train 5 steps", p1.stderr.decode()[:300])
    log = os.path.join(d, "l.csv")
    p2 = subprocess.run(tiny + ["--init", os.path.join(d, "a"), "--steps", "1", "--lr", "0", "--log-every", "1",
                                "--log", log, "--out", os.path.join(d, "b")], capture_output=True)
    check(p2.returncode == 0, "evaluate the checkpoint's loss", p2.stderr.decode()[:300])
    mine = float(open(log).read().splitlines()[1].split(",")[2])
    cfg, W = ref_llada.load(os.path.join(d, "a"))
    W = {k: v.astype(np.float64) for k, v in W.items()}
    logits = ref_llada.forward(cfg, W, np.stack([r["xt"] for r in recs]))
    lse = np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1)) + logits.max(-1)
    ref = 0.0
    for b, r in enumerate(recs):
        for i in range(L):
            if i >= r["pl"] and r["xt"][i] == M:
                ref += (lse[b, i] - logits[b, i, r["x0"][i]]) / r["p"] / r["al"] / len(recs)
    check(abs(mine - ref) < 1e-4 * abs(ref), f"diffusion loss {mine:.6f} == numpy {ref:.6f}")
    wrong = sum((lse[b, i] - logits[b, i, r["x0"][i]]) / r["p"] / L / 3
                for b, r in enumerate(recs) for i in range(L) if r["xt"][i] == M)
    check(abs(wrong - ref) > 1e-3, "the check discriminates (pre-training normalisation differs)")
summary()
