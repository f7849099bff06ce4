#!/usr/bin/env python3
"""test_denoise_moe.py — the LLaDA-MoE family (model/llada_moe.c, the MoE FFN of model/moe.c)
against the independent numpy reference ref_llada_moe.py.

1. Loading the Hugging Face layout unchanged: random tiny checkpoints in LLaDA-MoE's exact
   tensor names and LLaDAMoEConfig keys, detected from model_type "llada" + architectures
   LLaDAMoEModelLM (make_tiny_moe.py: QK-norm, dense first layer, shared expert, expert_bias,
   q/k/v/o biases, clip_qkv, tied head, sharded bf16).
2. Logits parity (`denoise --logits`): max |diff| / max |ref| <= 1e-5 (f32), <= 1e-2 (bf16).
3. Generation token- and reveal-step-exact at T=0 against LLaDA's official sampler
   (ref_llada.generate) running this forward: blocks, CFG, random remasking, left padding.
4. Bad configs: one-line errors naming the key, exit 1.
"""
import json, os, shutil, subprocess, sys, tempfile
import numpy as np
import msgpack

sys.path.insert(0, os.path.dirname(__file__))
from pylib import check, summary, tool, ROOT, arr, unarr, run_denoise
import ref_llada
import ref_llada_moe as ref

PY = sys.executable
TMP = tempfile.mkdtemp(prefix="denoise_moe_")
subprocess.run([PY, os.path.join(ROOT, "tests/fixtures/make_tiny_moe.py"), TMP, "--seed", "21"], check=True)


# ---------------------------------------------------------------- logits parity
rng = np.random.default_rng(9)
for name in sorted(os.listdir(TMP)):
    d = os.path.join(TMP, name)
    cfg, W = ref.load(d)
    toks = rng.integers(0, cfg["vocab_size"], size=15)
    toks[[1, 6, 7, 12]] = cfg["mask_token_id"]
    want = ref.forward(cfg, W, toks[None])[0]
    try:
        got = unarr(run_denoise([{"kind": "tokens", "tokens": arr(toks)}], ["--logits", "--model", d])[0]["logits"])
    except RuntimeError as e:
        check(False, f"logits {name}", e)
        continue
    rel = np.abs(got - want).max() / np.abs(want).max()
    tol = 1e-5 if name.endswith("f32") else 1e-2
    check(got.shape == want.shape and rel <= tol, f"MoE logits parity {name} (rel {rel:.2e} <= {tol})",
          f"shape {got.shape} vs {want.shape}, rel {rel}")

# the routing matters: the same checkpoint with top-1 routing gives other logits
d = os.path.join(TMP, "moe_f32")
cfg, W = ref.load(d)
toks = np.array([[3, 9, 27, 81, cfg["mask_token_id"]]])
full = ref.forward(cfg, W, toks)
cfg1 = dict(cfg, num_experts_per_tok=1)
check(np.abs(ref.forward(cfg1, W, toks) - full).max() > 1e-3 * np.abs(full).max(),
      "reference check: top-1 routing changes the logits (the test can fail)")

# ---------------------------------------------------------------- generation, T = 0
ref_llada.forward = ref.forward    # LLaDA's official sampler over this family's forward
CASES = [
    ("moe_f32", [[5, 9, 17, 3]], dict(steps=8, gen_length=8, block_length=4)),
    ("moe_f32", [[5, 9, 17, 3]], dict(steps=6, gen_length=12, block_length=12, cfg_scale=0.5)),
    ("moe_shared_f32", [[2, 4, 6]], dict(steps=8, gen_length=8, block_length=8, remasking="random", seed=3)),
    ("moe_bf16", [[1, 2, 3], [4, 5]], dict(steps=8, gen_length=8, block_length=4)),
]
for i, (name, prompts, kw) in enumerate(CASES):
    d = os.path.join(TMP, name)
    cfg, W = ref.load(d)
    cfg = dict(cfg, eot_token_id=-1)
    x, reveal, _ = ref_llada.generate(cfg, W, prompts, **kw)
    G = kw["gen_length"]
    args = ["--model", d, "--steps", str(kw["steps"]), "--gen-length", str(G), "--block-length",
            str(kw["block_length"]), "--batch", str(len(prompts))]
    for k, f in (("remasking", "--remasking"), ("seed", "--seed"), ("cfg_scale", "--cfg")):
        if k in kw:
            args += [f, str(kw[k])]
    label = f"generate {i} {name} " + ",".join(f"{k}={v}" for k, v in kw.items()) + f" B={len(prompts)}"
    try:
        outs = run_denoise([{"kind": "tokens", "tokens": arr(p)} for p in prompts], args)
    except RuntimeError as e:
        check(False, label, e)
        continue
    ok, why = len(outs) == len(prompts), f"{len(outs)} results"
    for j, r in enumerate(outs):
        gt, gr = unarr(r["tokens"]), unarr(r["reveal_step"])
        if not (np.array_equal(gt, x[j, -G:]) and np.array_equal(gr, reveal[j, -G:])):
            ok, why = False, f"row {j}: tokens {list(gt)} vs {list(x[j, -G:])}; reveal {list(gr)} vs {list(reveal[j, -G:])}"
    check(ok, label, why)


# ---------------------------------------------------------------- bad configs
def bad_config(edit, want, label):
    d = os.path.join(TMP, "bad")
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(os.path.join(TMP, "moe_f32"), d)
    c = json.load(open(os.path.join(d, "config.json")))
    edit(c)
    json.dump(c, open(os.path.join(d, "config.json"), "w"))
    p = subprocess.run([tool("denoise"), "--model", d, "--gen-length", "4"], input=b"",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = p.stderr.decode()
    check(p.returncode == 1 and err.count("\n") == 1 and want in err and err.startswith("denoise: error:"),
          f"bad config: {label}", f"rc {p.returncode}: {err!r}")


bad_config(lambda c: c.update(partial_rotary_factor=0.5), "partial_rotary_factor", "partial rotary")
bad_config(lambda c: c.update(num_experts_per_tok=9), "num_experts_per_tok", "top-k above the experts")
bad_config(lambda c: c.update(moe_layer_freq=[1, 1]), "moe_layer_freq", "moe_layer_freq of the wrong length")
bad_config(lambda c: c.update(moe_layer_freq=[1, 1, 1]), "model.layers.0.mlp.gate.weight", "dense layer declared MoE")
bad_config(lambda c: c.update(num_experts=7), "model.layers.1.mlp.gate.weight", "expert count not matching the router")
bad_config(lambda c: c.update(qk_layernorm=False), "q_norm", "q/k norms present but qk_layernorm false")
bad_config(lambda c: c.update(mask_token_id=None), "mask_token_id", "no mask id outside Ling's vocabulary")
bad_config(lambda c: c.update(hidden_act="gelu"), "hidden_act", "activation")

shutil.rmtree(TMP, ignore_errors=True)
summary()
