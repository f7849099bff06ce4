#!/usr/bin/env python3
"""quant_kl.py FOLDER LABEL=FILE.gguf ... — how far quantised GGUF files of the model in FOLDER
(a safetensors folder: the f32 original) are from it: KL(f32 ‖ file) of the next-token
distributions of `denoise --logits`, averaged over every position, on a fixed prompt set.

Prompt set: 16 windows of 96 tokens of KJV text (every 250th line of tok_corpora's KJV corpus,
tokenized by the bundled tokenizer, concatenated and cut), a quarter of the positions replaced by
the mask token (numpy seed 5); the same set for every file. Each file runs with the exact product
(LLADA_QMATMUL=f32: only the weights' quantisation) and with the default int8 kernels.
Prints one line per file: label, bytes, KL exact, KL int8, KL on masked positions (exact)."""
import os, subprocess, sys
import numpy as np
import msgpack

root = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(root, "tests", "py"))
import tok_corpora

binp = os.environ.get("LLADA_BIN", os.path.join(root, "bin"))
folder, files = sys.argv[1], [a.split("=", 1) for a in sys.argv[2:]]
WIN, NWIN = 96, 16


def prompts():
    text = open(tok_corpora.corpus_paths()["kjv"], encoding="utf-8", errors="replace").read().splitlines()
    lines = "\n".join(l for l in text[::250] if len(l) > 20)
    p = subprocess.run([os.path.join(binp, "tok"), "-m", folder, "--ids"], input=lines.encode(), stdout=subprocess.PIPE,
                       check=True)
    ids = np.array([int(t) for t in p.stdout.split()], np.int32)
    if ids.size < WIN * NWIN:
        raise SystemExit(f"quant_kl: error: only {ids.size} tokens of text")
    toks = ids[: WIN * NWIN].reshape(NWIN, WIN).copy()
    mask_id = int(__import__("json").load(open(os.path.join(folder, "config.json")))["mask_token_id"])
    rng = np.random.default_rng(5)
    masked = rng.random(toks.shape) < 0.25
    toks[masked] = mask_id
    return toks, masked


def logits(model, toks, env):
    rec = b"".join(msgpack.packb({"kind": "tokens", "tokens": {"dtype": "i4", "shape": [WIN], "data": r.astype("<i4").tobytes()}},
                                 use_bin_type=True) for r in toks)
    e = dict(os.environ)
    e.update(env)
    p = subprocess.run([os.path.join(binp, "denoise"), "--logits", "--model", model], input=rec, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=e)
    if p.returncode:
        raise SystemExit(f"quant_kl: error: denoise on {model}: {p.stderr.decode()[:300]}")
    up = msgpack.Unpacker(raw=False)
    up.feed(p.stdout)
    out = [np.frombuffer(x["logits"]["data"], "<f4").reshape(x["logits"]["shape"]) for x in up if x.get("kind") != "end"]
    return np.stack(out).astype(np.float64)


def logsm(a):
    a = a - a.max(-1, keepdims=True)
    return a - np.log(np.exp(a).sum(-1, keepdims=True))


def kl(p, q, sel=None):
    lp, lq = logsm(p), logsm(q)
    k = (np.exp(lp) * (lp - lq)).sum(-1)
    return float(k[sel].mean() if sel is not None else k.mean())


toks, masked = prompts()
ref = logits(folder, toks, {"LLADA_QMATMUL": "f32"})
print(f"# prompt set: {NWIN} x {WIN} tokens, {int(masked.sum())} masked; KL(f32 || file), mean over positions")
print(f"{'file':<28} {'bytes':>10} {'KL exact':>10} {'KL int8':>10} {'KL masked':>10}")
for label, path in files:
    ex = logits(path, toks, {"LLADA_QMATMUL": "f32"})
    fa = logits(path, toks, {})
    print(f"{label:<28} {os.path.getsize(path):>10} {kl(ref, ex):>10.3e} {kl(ref, fa):>10.3e} {kl(ref, ex, masked):>10.3e}")
