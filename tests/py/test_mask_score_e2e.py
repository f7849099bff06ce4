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

# ---------------------------------------------------------------- the pipelines (pre-tokenised input)
def pipe(name, args, data):
    return subprocess.run([os.path.join(ROOT, "pipelines", name)] + args, input=data,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)

p = pipe("likelihood", ["--tokens", "--model", ck, "--mc", "384", "--seed", "5", "--threads", "1"], inp)
lines = [l.split("\t") for l in p.stdout.decode().splitlines()]
check(p.returncode == 0 and len(lines) == len(pairs), "pipelines/likelihood --tokens: one line per pair", p.stderr[-300:])
for i, (pr, an) in enumerate(pairs):
    if i < len(lines):
        g, b, se, n = int(lines[i][0]), float(lines[i][1]), float(lines[i][2]), int(lines[i][3])
        ex = exact_bound(pr, an, 0.0)
        check(g == i and n == len(an) and lines[i][4] == str(i) and abs(b - ex) < 4.5 * se,
              f"pipelines/likelihood pair {i}: {b:.4f} vs exact {ex:.4f} (se {se:.4f})")

# questions whose right answer is the choice with the clearly highest exact bound
recs, nq, answers = [], 0, []
while nq < 4:
    ctx = rng.integers(0, 90, 3)
    conts = [rng.integers(0, 90, 2) for _ in range(3)]
    ex = [exact_bound(ctx, c, 0.0) for c in conts]
    srt = sorted(ex)
    if srt[-1] - srt[-2] < 3.0:
        continue
    ans = int(np.argmax(ex)) if nq != 2 else int(np.argmin(ex))    # question 2: a wrong key
    answers.append(ans)
    for j, c in enumerate(conts):
        base = {"kind": "tokens", "question": nq, "choice": j, "answer": ans}
        recs.append(dict(base, tokens=tensor(ctx), part="context"))
        recs.append(dict(base, tokens=tensor(np.concatenate([ctx, c])), part="whole"))
    nq += 1
p = pipe("eval-choice", ["--tokens", "--model", ck, "--mc", "64", "--threads", "1"], b"".join(msgpack.packb(r) for r in recs))
out = p.stdout.decode().splitlines()
check(p.returncode == 0 and len(out) == 5, "pipelines/eval-choice --tokens runs", p.stderr[-300:])
if len(out) == 5:
    verdicts = [l.split("\t")[3] for l in out[:4]]
    check(verdicts == ["correct", "correct", "wrong", "correct"], "eval-choice picks the highest bound", out)
    check(out[4] == "accuracy\t0.7500\t3/4", "eval-choice accuracy line", out[4])
summary()
