#!/usr/bin/env python3
"""test_denoise_dream.py — the Dream family (Dream-v0 / DiffuCoder; model/dream.c) against
the independent numpy reference ref_dream.py.

1. Loading the Hugging Face layout unchanged: random tiny checkpoints with Dream's exact
   tensor names and config keys (make_tiny_dream.py: q/k/v biases, GQA, multi-query + tied
   head, no-bias conversions, f32 and sharded bf16).
2. Logits parity (`denoise --logits`, which emits each position's prediction, i.e. Dream's
   shifted logits): max |diff| / max |ref| <= 1e-5 for f32 weights, <= 1e-2 for bf16.
3. Generation token-exact against a port of Dream's diffusion_generate at temperature 0:
   maskgit_plus / topk_margin / entropy (our low_confidence / topk_margin / entropy), Dream's
   float32 timestep schedule (several tokens per step, truncation), batched prompts of
   different lengths (left padding: positions from each row's first real token).
4. generation_config.json: alg / eps / steps / top_p / top_k / alg_temp / temperature become
   the folder's defaults (each shown to change the result), flags override them; bad values
   are one-line errors.
5. Bad configs: one-line errors naming the key, exit 1.
"""
import json, os, shutil, subprocess, sys, tempfile
import numpy as np
import msgpack

sys.path.insert(0, os.path.dirname(__file__))
from pylib import check, summary, tool, ROOT, arr, unarr, run_denoise
import ref_dream as ref

PY = sys.executable
TMP = tempfile.mkdtemp(prefix="denoise_dream_")
subprocess.run([PY, os.path.join(ROOT, "tests/fixtures/make_tiny_dream.py"), TMP, "--seed", "11"], check=True)


# ---------------------------------------------------------------- logits parity
rng = np.random.default_rng(5)
for name in sorted(os.listdir(TMP)):
    d = os.path.join(TMP, name)
    cfg, W = ref.load(d)
    V = cfg["vocab_size"]
    toks = rng.integers(0, V, size=14)
    toks[[0, 4, 9, 13]] = cfg["mask_token_id"]
    want = ref.forward(cfg, W, toks[None])[0]
    try:
        got = unarr(run_denoise([{"kind": "tokens", "tokens": arr(toks)}], ["--logits", "--model", d])[0]["logits"])
    except RuntimeError as e:
        check(False, f"logits {name}", e)
        continue
    rel = np.abs(got - want).max() / np.abs(want).max()
    tol = 1e-5 if name.endswith("f32") else 1e-2
    check(got.shape == want.shape and rel <= tol, f"shifted logits parity {name} (rel {rel:.2e} <= {tol})",
          f"shape {got.shape} vs {want.shape}, rel {rel}")
    raw = ref.forward_raw(cfg, W, toks[None])[0]
    check(np.abs(got[1:] - raw[:-1]).max() <= tol * np.abs(raw).max() and
          np.abs(got[0] - raw[0]).max() <= tol * np.abs(raw).max(),
          f"row p is the head of hidden p-1, row 0 its own ({name})")

# ---------------------------------------------------------------- generation, T = 0
POLICY = {"maskgit_plus": "low_confidence", "topk_margin": "topk_margin", "entropy": "entropy", "origin": "origin"}
CASES = [
    ("dream_f32", [[5, 9, 17, 3]], dict(steps=8, max_new_tokens=8, alg="maskgit_plus")),
    ("dream_f32", [[5, 9, 17, 3]], dict(steps=5, max_new_tokens=12, alg="maskgit_plus")),
    ("dream_f32", [[5, 9, 17, 3]], dict(steps=7, max_new_tokens=16, alg="topk_margin")),
    ("dream_f32", [[5, 9, 17, 3]], dict(steps=6, max_new_tokens=10, alg="entropy")),
    ("dream_f32", [[2, 4]], dict(steps=3, max_new_tokens=20, alg="maskgit_plus")),
    ("dream_tied_f32", [[3, 1, 4, 1, 5]], dict(steps=9, max_new_tokens=12, alg="maskgit_plus")),
    ("dream_nobias_f32", [[8, 6, 7]], dict(steps=4, max_new_tokens=8, alg="entropy")),
    ("dream_bf16", [[1, 2, 3], [4, 5], [7, 8, 9, 10, 11]], dict(steps=6, max_new_tokens=9, alg="maskgit_plus")),
    ("dream_bf16", [[1, 2, 3, 4, 5, 6], [9]], dict(steps=8, max_new_tokens=8, alg="topk_margin")),
    ("dream_f32", [[5, 9, 17, 3]], dict(steps=6, max_new_tokens=12, alg="origin", seed=7)),
    ("dream_bf16", [[1, 2, 3], [4, 5]], dict(steps=5, max_new_tokens=10, alg="origin", seed=3)),
    # diffusion_generate's top_p / top_k (they move the confidences at T=0) and alg_temp
    ("dream_f32", [[5, 9, 17, 3]], dict(steps=6, max_new_tokens=12, alg="maskgit_plus", top_p=0.3)),
    ("dream_f32", [[5, 9, 17, 3]], dict(steps=6, max_new_tokens=12, alg="topk_margin", top_k=3)),
    ("dream_f32", [[2, 4]], dict(steps=5, max_new_tokens=10, alg="entropy", top_p=0.5, top_k=4)),
    ("dream_bf16", [[1, 2, 3], [4, 5]], dict(steps=4, max_new_tokens=8, alg="entropy", top_k=2)),
    ("dream_f32", [[5, 9, 17, 3]], dict(steps=6, max_new_tokens=12, alg="maskgit_plus", alg_temp=0.5, seed=11)),
    ("dream_bf16", [[1, 2, 3], [4, 5]], dict(steps=5, max_new_tokens=10, alg="topk_margin", alg_temp=0.2, seed=5,
                                              top_p=0.8)),
]
FLAGS = {"top_p": "--top-p", "top_k": "--top-k", "alg_temp": "--alg-temp"}
for i, (name, prompts, kw) in enumerate(CASES):
    d = os.path.join(TMP, name)
    cfg, W = ref.load(d)
    x, reveal, padn = ref.generate(cfg, W, prompts, **kw)
    G = kw["max_new_tokens"]
    label = f"generate {i} {name} " + ",".join(f"{k}={v}" for k, v in kw.items()) + f" B={len(prompts)}"
    try:
        outs = run_denoise([{"kind": "tokens", "tokens": arr(p)} for p in prompts],
                           ["--model", d, "--steps", str(kw["steps"]), "--gen-length", str(G),
                            "--remasking", POLICY[kw["alg"]], "--batch", str(len(prompts)),
                            "--seed", str(kw.get("seed", 0))] +
                           [a for k, f in FLAGS.items() if k in kw for a in (f, str(kw[k]))])
    except RuntimeError as e:
        check(False, label, e)
        continue
    ok, why = len(outs) == len(prompts), f"{len(outs)} results"
    for j, r in enumerate(outs):
        gt, gr = unarr(r["tokens"]), unarr(r["reveal_step"])
        if not (np.array_equal(gt, x[j, -G:]) and np.array_equal(gr, reveal[j, -G:])):
            ok, why = False, f"row {j}: tokens {list(gt)} vs {list(x[j, -G:])}; reveal {list(gr)} vs {list(reveal[j, -G:])}"
    check(ok, label, why)

# the filters and alg_temp matter on these cases (so the checks above can fail)
moved = 0
for name, prompts, kw in CASES[11:]:
    cfg, W = ref.load(os.path.join(TMP, name))
    plain = {k: v for k, v in kw.items() if k not in FLAGS}
    a, ra, _ = ref.generate(cfg, W, prompts, **kw)
    b, rb, _ = ref.generate(cfg, W, prompts, **plain)
    moved += int(not (np.array_equal(a, b) and np.array_equal(ra, rb)))
check(moved >= 4, f"top_p / top_k / alg_temp change the reference's result in {moved} of {len(CASES) - 11} cases")

# batching changes nothing: the B=3 case one prompt at a time
name, prompts, kw = CASES[7]
d = os.path.join(TMP, name)
base = ["--model", d, "--steps", "6", "--gen-length", "9"]
solo = [run_denoise([{"kind": "tokens", "tokens": arr(p)}], base)[0] for p in prompts]
both = run_denoise([{"kind": "tokens", "tokens": arr(p)} for p in prompts], base + ["--batch", "3"])
check(all(np.array_equal(unarr(a["tokens"]), unarr(b["tokens"])) for a, b in zip(solo, both)),
      "Dream: batched (left-padded) generation equals one-at-a-time generation")

# the schedule's per-step counts: Dream's float32 timestep rule, not LLaDA's linear one
r = run_denoise([{"kind": "tokens", "tokens": arr([5, 9])}],
                ["--model", os.path.join(TMP, "dream_f32"), "--steps", "5", "--gen-length", "12"])[0]
counts = np.bincount(unarr(r["reveal_step"]), minlength=5).tolist()
ts = ref.linspace_f32(1.0, 1e-3, 6)
n, want = 12, []
for i in range(5):
    k = int(np.float32(np.float32(n) * (np.float32(1) - ts[i + 1] / ts[i]))) if i < 4 else n
    want.append(k)
    n -= k
check(counts == want, f"per-step commits follow the timestep schedule {want}", f"got {counts}")
r2 = run_denoise([{"kind": "tokens", "tokens": arr([5, 9])}],
                 ["--model", os.path.join(TMP, "dream_f32"), "--steps", "4", "--gen-length", "12",
                  "--schedule", "linear"])[0]
check(np.bincount(unarr(r2["reveal_step"]), minlength=4).tolist() == [3, 3, 3, 3],
      "--schedule linear overrides the model's schedule")

# Dream's generation_config.json: "alg" picks the policy (origin: its default), "eps" the schedule
d = os.path.join(TMP, "dream_f32")
cfg, W = ref.load(d)
x, reveal, _ = ref.generate(cfg, W, [[5, 9, 17, 3]], steps=6, max_new_tokens=12, alg="origin", eps=0.05, seed=4)
json.dump({"alg": "origin", "eps": 0.05, "temperature": 0.0, "steps": 512, "top_p": None},
          open(os.path.join(d, "generation_config.json"), "w"))
r = run_denoise([{"kind": "tokens", "tokens": arr([5, 9, 17, 3])}],
                ["--model", d, "--steps", "6", "--gen-length", "12", "--seed", "4"])[0]
check(np.array_equal(unarr(r["tokens"]), x[0, -12:]) and np.array_equal(unarr(r["reveal_step"]), reveal[0, -12:]),
      "generation_config.json alg=origin, eps=0.05 become the defaults (equal to the reference)")
x2, rv2, _ = ref.generate(cfg, W, [[5, 9, 17, 3]], steps=6, max_new_tokens=12, alg="entropy", eps=0.05)
r = run_denoise([{"kind": "tokens", "tokens": arr([5, 9, 17, 3])}],
                ["--model", d, "--steps", "6", "--gen-length", "12", "--remasking", "entropy"])[0]
check(np.array_equal(unarr(r["tokens"]), x2[0, -12:]) and np.array_equal(unarr(r["reveal_step"]), rv2[0, -12:]),
      "--remasking overrides the generation_config alg (eps still applies)")
json.dump({"alg": "fancy"}, open(os.path.join(d, "generation_config.json"), "w"))
p = subprocess.run([tool("denoise"), "--model", d, "--gen-length", "4"], input=b"", stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE)
check(p.returncode == 1 and b"alg" in p.stderr and p.stderr.count(b"\n") == 1, "unknown alg: one-line error",
      p.stderr.decode())
os.remove(os.path.join(d, "generation_config.json"))

# generation_config.json's steps / top_p / top_k / alg_temp / temperature (DreamGenerationConfig's
# keys) are the defaults of a Dream folder; each changes the result, and its flag overrides it.
P, G = [5, 9, 17, 3], 12
BASE = dict(steps=G, max_new_tokens=G, alg="maskgit_plus")  # no file: steps = the generation length
GC_CASES = [  # (file keys, the reference's kwargs for them, overriding flags, the reference's kwargs then)
    ({"steps": 4}, dict(steps=4), ["--steps", "6"], dict(steps=6)),
    ({"top_p": 0.3}, dict(top_p=0.3), ["--top-p", "1"], {}),
    ({"top_k": 2}, dict(top_k=2), ["--top-k", "0"], {}),
    ({"alg_temp": 0.5}, dict(alg_temp=0.5), ["--alg-temp", "0"], {}),
    ({"top_p": 0.5, "top_k": 4, "steps": 6, "alg": "entropy"}, dict(top_p=0.5, top_k=4, steps=6, alg="entropy"),
     ["--top-p", "0.8", "--top-k", "3"], dict(top_p=0.8, top_k=3, steps=6, alg="entropy")),
]
ref_base = ref.generate(cfg, W, [P], **BASE)


def gen_run(extra):
    r = run_denoise([{"kind": "tokens", "tokens": arr(P)}], ["--model", d, "--gen-length", str(G)] + extra)[0]
    return unarr(r["tokens"]), unarr(r["reveal_step"])


def same(got, want):
    return np.array_equal(got[0], want[0][0, -G:]) and np.array_equal(got[1], want[1][0, -G:])


for keys, kw, flag, kw_flag in GC_CASES:
    json.dump(dict(keys, temperature=0.0), open(os.path.join(d, "generation_config.json"), "w"))
    want = ref.generate(cfg, W, [P], **dict(BASE, **kw))
    check(not (np.array_equal(want[0], ref_base[0]) and np.array_equal(want[1], ref_base[1])),
          f"generation_config {keys} changes the reference's result")
    got = gen_run([])
    check(same(got, want), f"generation_config {keys} become the defaults (equal to the reference)",
          f"{list(got[0])} vs {list(want[0][0, -G:])}")
    got = gen_run(flag)
    want = ref.generate(cfg, W, [P], **dict(BASE, **kw_flag))
    check(same(got, want), f"{' '.join(flag)} overrides generation_config {keys}",
          f"{list(got[0])} vs {list(want[0][0, -G:])}")
# temperature: 0.9 samples (so differs from argmax here); --temperature 0 gives the reference back
json.dump({"temperature": 0.9}, open(os.path.join(d, "generation_config.json"), "w"))
got = gen_run(["--seed", "3"])
check(not np.array_equal(got[0], ref_base[0][0, -G:]), "generation_config temperature 0.9 changes the result")
check(same(gen_run(["--temperature", "0"]), ref_base), "--temperature 0 overrides generation_config temperature")
for bad, key in [({"steps": 0}, "steps"), ({"top_p": 1.5}, "top_p"), ({"top_k": -1}, "top_k"),
                 ({"top_k": 2.5}, "top_k"), ({"alg_temp": "hot"}, "alg_temp")]:
    json.dump(bad, open(os.path.join(d, "generation_config.json"), "w"))
    p = subprocess.run([tool("denoise"), "--model", d, "--gen-length", "4"], input=b"", stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    check(p.returncode == 1 and f'"{key}"'.encode() in p.stderr and p.stderr.count(b"\n") == 1,
          f"generation_config {bad}: one-line error naming the key", p.stderr.decode())
json.dump({"steps": 5}, open(os.path.join(d, "generation_config.json"), "w"))
p = subprocess.run([tool("denoise"), "--model", d, "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
check(b"--steps          5 (generation_config.json" in p.stdout, "--help lists the folder's steps default")
os.remove(os.path.join(d, "generation_config.json"))

# ---------------------------------------------------------------- bad configs
def bad_config(edit, want, label):
    d = os.path.join(TMP, "bad")
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(os.path.join(TMP, "dream_f32"), d)
    c = json.load(open(os.path.join(d, "config.json")))
    edit(c)
    json.dump(c, open(os.path.join(d, "config.json"), "w"))
    p = subprocess.run([tool("denoise"), "--model", d, "--gen-length", "4"], input=b"",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = p.stderr.decode()
    check(p.returncode == 1 and err.count("\n") == 1 and want in err and err.startswith("denoise: error:"),
          f"bad config: {label}", f"rc {p.returncode}: {err!r}")


bad_config(lambda c: c.update(rope_scaling={"type": "yarn", "factor": 4.0}), "rope_scaling", "rope_scaling")
bad_config(lambda c: c.update(use_sliding_window=True), "use_sliding_window", "sliding window")
bad_config(lambda c: c.update(hidden_act="gelu"), "hidden_act", "activation")
bad_config(lambda c: c.update(head_dim=16), "head_dim", "head_dim")
bad_config(lambda c: c.update(mask_token_id=c["vocab_size"]), "mask_token_id", "mask id outside the vocabulary")
bad_config(lambda c: c.update(vocab_size=c["vocab_size"] + 1), "model.embed_tokens.weight",
           "vocab_size not matching the embedding")
bad_config(lambda c: c.update(attention_bias=False), "bias", "biases present but attention_bias false")
bad_config(lambda c: c.pop("hidden_size"), "hidden_size", "missing size key")

shutil.rmtree(TMP, ignore_errors=True)
summary()
