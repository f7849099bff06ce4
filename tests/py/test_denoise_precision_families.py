#!/usr/bin/env python3
"""test_denoise_precision_families.py — denoise --precision bf16|int8 on the families other than
LLaDA (Dream, LLaDA-MoE, SDAR, LLaDA 2.x). test_denoise_precision.py checks LLaDA against a numpy
reference of the same precision rules; here the other families' graphs (shifted logits, MoE
experts, QK-norm, fused q/k/v, block-causal attention) run the same prepacked weights:
1. logits of each family's f32 tiny checkpoint under bf16 and int8 within 2e-3 (relative to
   max |logit|) of its own numpy reference (ref_dream, ref_llada_moe, ref_sdar, ref_llada2) run
   with the precision's GEMM rules (ref_llada.gemm) on every weight denoise packs — every 2-D
   weight but the MoE router (mlp.gate.weight), experts and the tied head included — and
   farther than that from the exact float64 reference (the precision loss is real, so the
   comparison can fail; a weight left unpacked, or one packed that should not be, moves the
   logits by about that loss). In MoE models one position of the 40 may be off: the reference
   sums in float64 and oneDNN in fp32, and where two experts' router scores nearly tie that
   difference can pick the other expert (seen once, LLaDA 2.x at bf16: one position 2.3e-3,
   all others < 1e-7);
2. block diffusion (SDAR, LLaDA 2.0) under bf16 and int8: generation with the exact block cache
   equals full recompute (--no-block-cache) in tokens, reveal steps and forward count, for a
   batch of prompts of different lengths (the cache stays exact over quantised weights).
"""
import os, subprocess, sys, tempfile
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from pylib import check, summary, ROOT, arr, unarr, run_denoise
import ref_dream, ref_llada, ref_llada_moe, ref_sdar, ref_llada2



class Packed(np.ndarray):
    """A weight denoise prepacks: `x @ w.T` follows ref_llada.gemm's rules for PREC; every
    other use of it (indexing an embedding, RMSNorm gains) is plain float64."""
    PREC = None

    def __array_ufunc__(self, ufunc, method, *inputs, **kw):
        if ufunc is np.matmul and method == "__call__" and len(inputs) == 2 and isinstance(inputs[1], Packed) \
                and not isinstance(inputs[0], Packed):
            return ref_llada.gemm(np.asarray(inputs[0]), np.asarray(inputs[1]).T, Packed.PREC)
        plain = tuple(np.asarray(i) if isinstance(i, Packed) else i for i in inputs)
        return getattr(ufunc, method)(*plain, **kw)

    def __getitem__(self, k):
        return np.asarray(self)[k]


def packed_weights(W):
    return {k: (v.view(Packed) if v.ndim == 2 and not k.endswith("mlp.gate.weight") else v) for k, v in W.items()}


PY = sys.executable
TMP = tempfile.mkdtemp(prefix="denoise_prec_fam_")
FAMILIES = [  # (fixture script, seed, checkpoint made by it, reference, MoE)
    ("make_tiny_dream.py", 11, "dream_f32", ref_dream, False),
    ("make_tiny_moe.py", 13, "moe_shared_f32", ref_llada_moe, True),
    ("make_tiny_sdar.py", 31, "sdar_tied_bf16", ref_sdar, False),
    ("make_tiny_llada2.py", 77, "llada2_f32", ref_llada2, True),
]
for script, seed, _, _, _ in FAMILIES:
    subprocess.run([PY, os.path.join(ROOT, "tests/fixtures", script), os.path.join(TMP, script[:-3]), "--seed",
                    str(seed)], check=True, stdout=subprocess.DEVNULL)


def logits(d, toks, prec):
    return unarr(run_denoise([{"kind": "tokens", "tokens": arr(toks)}],
                             ["--logits", "--model", d, "--precision", prec])[0]["logits"])


# ---------------------------------------------------------------- 1. logits
rng = np.random.default_rng(3)
for script, _, name, ref, moe in FAMILIES:
    d = os.path.join(TMP, script[:-3], name)
    if not os.path.isdir(d):
        check(False, f"fixture {name}", f"{script} made {sorted(os.listdir(os.path.join(TMP, script[:-3])))}")
        continue
    cfg, W = ref.load(d)
    toks = rng.integers(0, cfg["vocab_size"] - 3, size=40)
    toks[[2, 9, 33]] = cfg["mask_token_id"]
    exact = ref.forward(cfg, W, toks[None])[0]
    sc = np.abs(exact).max()
    f32 = logits(d, toks, "f32")
    check(np.abs(f32 - exact).max() / sc <= 1e-5, f"{name}: f32 logits equal the reference")
    PW = packed_weights(W)
    for prec in ("bf16", "int8"):
        Packed.PREC = prec
        want = ref.forward(cfg, PW, toks[None])[0]
        try:
            got = logits(d, toks, prec)
        except RuntimeError as e:
            check(False, f"{name} --precision {prec}", e)
            continue
        if got.shape != want.shape:
            check(False, f"{name} --precision {prec}: shape", f"{got.shape} vs {want.shape}")
            continue
        per = np.abs(got - want).max(axis=1) / sc             # per position
        off = int((per > 2e-3).sum())
        rel, loss = np.sort(per)[-1 - (off if moe and off <= 1 else 0)], np.abs(got - exact).max() / sc
        check(rel <= 2e-3 and loss > rel and off <= (1 if moe else 0),
              f"{name} --precision {prec}: rel {rel:.1e} <= 2e-3 vs the {prec} reference ({off} position(s) off), "
              f"{loss:.1e} vs exact")

# ---------------------------------------------------------------- 2. block cache under bf16 / int8
for script, name, gen, steps in (("make_tiny_sdar.py", "sdar_f32", 16, 8), ("make_tiny_llada2.py", "llada2_f32", 64, 16)):
    d = os.path.join(TMP, script[:-3], name)
    cfg, _ = ref_sdar.load(d)
    prompts = [[int(v) for v in np.random.default_rng(n).integers(0, cfg["vocab_size"] - 3, size=n)] for n in (3, 9, 37)]
    recs = [{"kind": "tokens", "tokens": arr(q)} for q in prompts]
    for prec in ("bf16", "int8"):
        args = ["--model", d, "--gen-length", str(gen), "--steps", str(steps), "--precision", prec, "--batch", "3"]
        try:
            a, b = run_denoise(recs, args), run_denoise(recs, args + ["--no-block-cache"])
        except RuntimeError as e:
            check(False, f"{name} {prec} generation", e)
            continue
        same = len(a) == len(b) == 3 and all(
            np.array_equal(unarr(x["tokens"]), unarr(y["tokens"])) and
            np.array_equal(unarr(x["reveal_step"]), unarr(y["reveal_step"])) and x["nfe"] == y["nfe"] for x, y in zip(a, b))
        check(same, f"{name} --precision {prec} --batch 3: block cache = full recompute (tokens, reveal steps, nfe)")

summary()
