#!/usr/bin/env python3
"""test_denoise_causal.py — denoise --causal (a train --objective ar checkpoint run left to
right) against the numpy reference (ref_llada.forward with causal=True).

1. Logits: denoise --causal --logits row p equals the reference's causal logits of row p-1
   (row 0: its own), max |diff| / max |ref| <= 1e-4 (f32 weights).
2. Greedy AR: denoise --causal --block-length 1 --steps G --gen-length G equals a plain greedy
   loop in numpy (append argmax of the causal logits of the last position, G times, on the
   prefix only: the masks to the right never enter it) token for token, and token i is
   revealed at step i; prompts of different lengths batched (left padding) equal one at a time.
3. Errors: --causal with --device cuda is a usage error.
"""
import os, subprocess, sys, tempfile
import numpy as np
import msgpack

sys.path.insert(0, os.path.dirname(__file__))
import pylib
from pylib import check, summary, tool, ROOT, arr, unarr
import ref_llada as ref

PY = sys.executable
TMP = tempfile.mkdtemp(prefix="denoise_causal_")
for preset in ("mha_f32", "tied_f32"):
    subprocess.run([PY, os.path.join(ROOT, "tests/fixtures/make_tiny_ckpt.py"), TMP, "--seed", "5",
                    "--preset", preset], check=True)


def run_denoise(prompts, args):
    return pylib.run_denoise([{"kind": "tokens", "tokens": arr(p)} for p in prompts], args)


rng = np.random.default_rng(4)
for name in ("mha_f32", "tied_f32"):
    d = os.path.join(TMP, name)
    cfg, W = ref.load(d)
    V = cfg["vocab_size"]
    # 1. logits, shifted by one row
    toks = rng.integers(0, V - 4, size=11)
    want = ref.forward(cfg, W, toks[None], causal=True)[0]
    want = np.concatenate([want[:1], want[:-1]])
    got = unarr(run_denoise([toks], ["--logits", "--causal", "--model", d])[0]["logits"])
    rel = np.abs(got - want).max() / np.abs(want).max()
    check(got.shape == want.shape and rel <= 1e-4, f"causal logits {name} (rel {rel:.2e} <= 1e-4)")
    bidir = ref.forward(cfg, W, toks[None])[0]
    check(np.abs(bidir[:-1] - want[1:]).max() > 1e-3, f"{name}: causal logits differ from bidirectional ones")
    # 2. greedy AR decoding
    G = 7
    prompts, wants = [], []
    for n in (5, 2, 9):
        while True:   # a random model may predict the mask id, which is no word: draw again
            pr = list(rng.integers(0, V - 4, size=n))
            seq = list(pr)
            for _ in range(G):
                seq.append(int(np.argmax(ref.forward(cfg, W, np.array([seq]), causal=True)[0, -1])))
            if cfg["mask_token_id"] not in seq[n:]:
                break
        prompts.append(pr); wants.append(seq[n:])
    flags = ["--causal", "--model", d, "--gen-length", str(G), "--steps", str(G), "--block-length", "1",
             "--threads", "1"]
    one = [run_denoise([pr], flags)[0] for pr in prompts]
    for j, (r, w) in enumerate(zip(one, wants)):
        got_t, got_r = list(unarr(r["tokens"])), list(unarr(r["reveal_step"]))
        check(got_t == w, f"{name} greedy AR prompt {j} (len {len(prompts[j])})", f"{got_t} vs {w}")
        check(got_r == list(range(G)), f"{name} prompt {j}: token i revealed at step i", f"{got_r}")
    batched = run_denoise(prompts, flags + ["--batch", "3"])
    check([list(unarr(r["tokens"])) for r in batched] == wants, f"{name}: batched (left padding) == one at a time")

# 3. errors
d = os.path.join(TMP, "mha_f32")
p = subprocess.run([tool("denoise"), "--causal", "--device", "cuda", "--model", d], input=b"",
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
check(p.returncode == 2 and b"CPU only" in p.stderr, "--causal --device cuda: usage error", p.stderr.decode()[:200])
sys.exit(summary())
