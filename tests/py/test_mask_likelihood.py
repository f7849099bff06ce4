"""test_mask_likelihood.py — mask --likelihood + mask --reduce against the exact bound.

A tiny numpy "model" (vocabulary of 6, fixed random weights, output depending on every
unmasked token of the canvas) plays the role of `denoise --score`: for each masked record it
adds ce = sum over masked positions of -log softmax(logits)[x0]. The exact value of the
likelihood bound that Algorithm 3 estimates,
    E_{l ~ U{1..L}} E_{S, |S| = l} [ (L / l) * sum_{i in S} log p(x0_i | x with S masked) ],
is computed by enumerating every subset S of the answer. The Monte-Carlo bound from
mask --reduce must agree within its Monte-Carlo error, and the samples must follow the
official estimator's draw: l_i = ((round_half_even(k + i L / b) - 1) mod L) + 1 per batch,
exactly l_i answer tokens masked, prompt untouched, p = l / L, k uniform on 1..L.
"""
import itertools, math, os, subprocess, sys
import numpy as np
import msgpack

sys.path.insert(0, os.path.dirname(__file__))
from pylib import check, summary, tool

MASK, EOS, V = 7, 6, 6
rng = np.random.default_rng(1234)
E = rng.normal(size=(MASK + 1, 8))          # token embeddings (mask included)
P = rng.normal(size=(32, 8)) * 0.5          # position embeddings
W = rng.normal(size=(8, V)) * 1.5           # output head


def logprobs(xt):
    """log softmax over V for every position of canvas xt (a bidirectional toy: each position
    sees the mean embedding of the whole canvas plus its own position)."""
    h = E[xt] + P[: len(xt)]
    ctx = h.mean(axis=0, keepdims=True)
    z = np.tanh(h + ctx) @ W
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def exact_bound(prompt, answer):
    x0 = np.concatenate([prompt, answer])
    L, npr = len(answer), len(prompt)
    total = 0.0
    for l in range(1, L + 1):
        acc, cnt = 0.0, 0
        for S in itertools.combinations(range(L), l):
            xt = x0.copy()
            idx = np.array(S) + npr
            xt[idx] = MASK
            lp = logprobs(xt)
            acc += (L / l) * lp[idx, x0[idx]].sum()
            cnt += 1
        total += acc / cnt
    return total / L


def tensor(a):
    a = np.asarray(a, dtype="<i4")
    return {"dtype": "i4", "shape": [len(a)], "data": a.tobytes()}


def arr(t):
    return np.frombuffer(t["data"], dtype="<i4")


def records(data):
    u = msgpack.Unpacker(raw=False)
    u.feed(data)
    return [r for r in u if r.get("kind") != "end"]


def run(args, inp):
    p = subprocess.run([tool("mask")] + args, input=inp, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        print("mask", args, "failed:", p.stderr.decode(errors="replace"))
    return p


pairs = [
    (np.array([1, 2], dtype=np.int32), np.array([3, 0, 4, 5, 1], dtype=np.int32)),
    (np.array([5], dtype=np.int32), np.array([2, 2, 3, 1], dtype=np.int32)),
    (np.array([0, 3, 4], dtype=np.int32), np.array([1, 5, 0, 2, 4, 3], dtype=np.int32)),
    (np.array([], dtype=np.int32), np.array([4, 1, 0], dtype=np.int32)),
]
inp = b"".join(msgpack.packb({"kind": "tokens", "v": 1, "prompt": tensor(p), "tokens": tensor(a), "q": i})
               for i, (p, a) in enumerate(pairs))

MC, B = 512, 16
p = run(["--likelihood", "--mc", str(MC), "--batch", str(B), "--seed", "7", "--mask-id", str(MASK),
         "--eos-id", str(EOS)], inp)
check(p.returncode == 0, "mask --likelihood runs")
recs = records(p.stdout)
check(len(recs) == MC * len(pairs), "one record per MC sample", len(recs))

# --- the samples follow the official draw
draw_ok, counts_ok, k_first = True, True, []
for r in recs:
    g, mc = r["group"], r["mc"]
    prompt, answer = pairs[g]
    L, npr = len(answer), len(prompt)
    x0, xt = arr(r["x0"]), arr(r["xt"])
    m = xt == MASK
    draw_ok &= (np.array_equal(x0, np.concatenate([prompt, answer])) and not m[:npr].any()
                and np.array_equal(xt[~m], x0[~m]) and int(m.sum()) == r["n_masked"]
                and r["prompt_len"] == npr and r["answer_len"] == L and r["n_mc"] == MC
                and abs(r["p"] - r["n_masked"] / L) < 1e-15 and r["q"] == g)
by = {}
for r in recs:
    by.setdefault((r["group"], r["mc"] // B), []).append(r)
for (g, j), rs in by.items():
    rs.sort(key=lambda r: r["mc"])
    L = len(pairs[g][1])
    k = rs[0]["n_masked"]                    # l_0 = k since k is in [1, L]
    k_first.append((L, k))
    want = ((np.round(k + np.arange(B) * (L / B)).astype(int) - 1) % L) + 1   # numpy rounds half to even
    counts_ok &= [r["n_masked"] for r in rs] == list(want)
check(draw_ok, "prompt unmasked, exactly l answer tokens masked, p = l/L, user fields kept")
check(counts_ok, "stratified counts l_i = ((round(k + i L/b) - 1) mod L) + 1 per batch")

# offset k uniform on 1..L: pooled chi-square of (k - 1) / L over many groups (L = 5 pair, many seeds)
ks = []
for seed in range(40):
    q = run(["--likelihood", "--mc", "64", "--batch", "16", "--seed", str(seed), "--mask-id", str(MASK),
             "--eos-id", str(EOS)], msgpack.packb({"kind": "tokens", "prompt": tensor(pairs[0][0]), "tokens": tensor(pairs[0][1])}))
    rr = records(q.stdout)
    ks += [r["n_masked"] for r in rr if r["mc"] % 16 == 0]
cnt = np.bincount(ks, minlength=6)[1:]
chi2 = (((cnt - len(ks) / 5) ** 2) / (len(ks) / 5)).sum()
check(cnt.sum() == 160 and chi2 < 4 + 5 * math.sqrt(8) + 5, "offset k uniform on 1..L", (cnt, chi2))

# positions: with l fixed, each answer position equally likely to be masked
pos = np.zeros(5)
for r in recs:
    if r["group"] == 0 and r["n_masked"] == 2:
        pos += (arr(r["xt"]) == MASK)[2:]
chi2 = (((pos - pos.sum() / 5) ** 2) / (pos.sum() / 5)).sum()
check(pos.sum() > 100 and chi2 < 4 + 5 * math.sqrt(8) + 5, "masked positions uniform for fixed l", (pos, chi2))

# --- score with the toy model (the role of denoise --score) and reduce
scored = []
for r in recs:
    xt, x0 = arr(r["xt"]), arr(r["x0"])
    m = xt == MASK
    lp = logprobs(xt)
    r = dict(r)
    r["ce"] = float(-lp[np.where(m)[0], x0[m]].sum())
    scored.append(r)
rng2 = np.random.default_rng(5)
order = rng2.permutation(len(scored))        # the reducer must not depend on arrival order
blob = b"".join(msgpack.packb(scored[i], use_bin_type=True) for i in order)
p = run(["--reduce"], blob)
check(p.returncode == 0, "mask --reduce runs")
out = {r["group"]: r for r in records(p.stdout)}
check(sorted(out) == list(range(len(pairs))), "one likelihood record per pair")
zs = []
for g, (pr, an) in enumerate(pairs):
    ex = exact_bound(pr, an)
    r = out.get(g)
    if not check(r is not None, f"pair {g}: bound written"):
        continue
    # the same estimate computed here from the scored samples
    w = [-s["ce"] / s["p"] for s in scored if s["group"] == g]
    check(abs(r["bound"] - np.mean(w)) < 1e-9 and abs(r["se"] - np.std(w, ddof=1) / math.sqrt(len(w))) < 1e-9,
          f"pair {g}: reducer = -mean(ce/p) and its standard error")
    z = (r["bound"] - ex) / r["se"]
    zs.append(z)
    check(abs(z) < 4.5, f"pair {g}: MC bound {r['bound']:.4f} vs exact {ex:.4f} (se {r['se']:.4f}, z {z:.2f})")
    check(r["q"] == g and r["n_mc"] == MC and r["answer_len"] == len(an), f"pair {g}: fields carried")
# A wrong weight (e.g. forgetting 1/p, i.e. using the plain sum) must be detected: its value differs.
ex0 = exact_bound(*pairs[0])
naive = np.mean([-s["ce"] for s in scored if s["group"] == 0])
check(abs(naive - ex0) > 10 * out[0]["se"], "test is sensitive: unweighted estimate is far off", (naive, ex0))

# a missing sample is an error, not a silent bias
p = run(["--reduce"], b"".join(msgpack.packb(s, use_bin_type=True) for s in scored[:-1]))
check(p.returncode == 1 and b"incomplete" in p.stderr, "incomplete group is an error (exit 1)", p.stderr)
summary()
