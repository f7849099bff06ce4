#!/usr/bin/env python3
"""test_gguf_arch.py — GGUF files of the Dream and LLaDA-MoE architectures (issue 13) against
the safetensors originals and independent numpy references.

Tiny random checkpoints (tests/fixtures/make_tiny_{dream,moe}.py with sizes that fit Q8_0's
32-column blocks): Dream with q/k/v biases and GQA, Dream with tied embeddings and no biases,
LLaDA-MoE as llama.cpp's graph knows it (every layer MoE, QK-norm, no shared expert) and
LLaDA-MoE with everything this engine adds (a dense first layer, shared expert, expert_bias,
attention biases, clip_qkv, tied head).
  1. tests/fixtures/gguf_writer.qwen_to_gguf (numpy, from llama.cpp's converter: arch "dream" /
     "llada-moe", blk.N.* names, experts stacked into blk.N.ffn_*_exps [E, rows, cols], no Q/K
     permutation) writes F32 and Q8_0 files; `denoise --logits --model FILE.gguf` must give
     the safetensors logits (F32: rel <= 1e-6) and the numpy reference forward
     (ref_dream / ref_llada_moe) on the weights the file holds (Q8_0, exact product: <= 1e-4).
     A file whose experts 0 and 1 are swapped inside the stacked tensor gives other logits
     (the per-expert slicing is what matched).
  2. `denoise --quantize f32|q8_0 OUT.gguf` of each folder, read back by numpy: the architecture,
     the llama.cpp tensor names and shapes (3-D experts, F32 router), the keys; and the file's
     logits vs the safetensors (f32: rel <= 1e-6) / vs the reference on numpy's decoding (q8_0).
  3. Refusals, one line, exit 1: Dream with diffusion.shift_logits false, LLaDA-MoE without
     expert_count, LLaDA-MoE with renormalised top-k weights (expert_weights_norm).
"""
import os, subprocess, sys, tempfile
import numpy as np
import msgpack

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fixtures"))
from pylib import check, summary, tool, ROOT, arr, denoise_logits as logits
import ref_dream, ref_llada_moe
import gguf_writer as gw
import make_tiny_dream, make_tiny_moe

TMP = tempfile.mkdtemp(prefix="gguf_arch_")
MODELS = {
    "dream": ("dream", make_tiny_dream, ref_dream,
              dict(d=64, layers=2, H=4, KV=2, F=96, V=90, dtype="f32", shards=1)),
    "dream_tied_nobias": ("dream", make_tiny_dream, ref_dream,
                          dict(d=64, layers=1, H=2, KV=1, F=64, V=70, dtype="f32", shards=1, tied=True, bias=False)),
    "moe_llamacpp": ("llada-moe", make_tiny_moe, ref_llada_moe,
                     dict(d=64, layers=2, H=4, KV=2, E=4, k=2, Fe=32, Fd=64, V=96, freq=[1, 1], qkn=True,
                          dtype="f32", shards=1)),
    "moe_full": ("llada-moe", make_tiny_moe, ref_llada_moe,
                 dict(d=64, layers=2, H=4, KV=4, E=6, k=2, Fe=32, Fd=64, Fs=32, V=80, freq=[0, 1], qkn=True,
                      bias=True, ebias=True, clip=3.0, tied=True, dtype="f32", shards=1)),
}


def rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def try_logits(what, model, toks, env=None):
    try:
        return logits(model, toks, env)
    except RuntimeError as e:
        check(False, what, e)
        return None


rng = np.random.default_rng(3)
EXACT = {"LLADA_QMATMUL": "f32"}
for name, (arch, maker, ref, preset) in MODELS.items():
    ck = os.path.join(TMP, name)
    maker.write_checkpoint(ck, preset, 17)
    cfg, W = ref.load(ck)
    toks = rng.integers(0, cfg["vocab_size"], size=16)
    toks[[2, 5, 6, 13]] = cfg["mask_token_id"]
    st = try_logits(f"{name}: safetensors logits", ck, toks)
    if st is None:
        continue
    want = ref.forward(cfg, W, toks[None])[0]
    check(rel(st, want) <= 1e-5, f"{name}: safetensors original vs numpy reference (rel {rel(st, want):.1e})")

    # 1. files in llama.cpp's converter layout, written by numpy
    for t, tol in (("f32", 1e-6), ("q8_0", 1e-4)):
        path = os.path.join(TMP, f"{name}-{t}.gguf")
        deq = gw.qwen_to_gguf(arch, cfg, W, path, t)
        got = try_logits(f"{name} {t}: denoise --model FILE.gguf", path, toks, EXACT)
        if got is None:
            continue
        if t == "f32":
            check(got.shape == st.shape and rel(got, st) <= tol,
                  f"{name}: arch {arch} F32 GGUF (numpy writer) gives the safetensors logits (rel {rel(got, st):.1e})")
        else:
            w = ref.forward(cfg, deq, toks[None])[0]
            check(rel(got, w) <= tol, f"{name}: Q8_0 GGUF vs reference on the dequantised weights (rel {rel(got, w):.1e} <= {tol})")
            fast = try_logits(f"{name} q8_0 int8 kernels", path, toks)
            if fast is not None:
                check(rel(fast, w) <= 3e-2, f"{name}: Q8_0 with the int8 kernels (rel {rel(fast, w):.1e} <= 3e-2)")
    if arch == "llada-moe":
        sw = dict(W)
        l = preset["freq"].index(1)
        for m in ("gate_proj", "up_proj", "down_proj"):
            a, b = f"model.layers.{l}.mlp.experts.0.{m}.weight", f"model.layers.{l}.mlp.experts.1.{m}.weight"
            sw[a], sw[b] = W[b], W[a]
        path = os.path.join(TMP, f"{name}-swapped.gguf")
        gw.qwen_to_gguf(arch, cfg, sw, path, "f32")
        got = try_logits(f"{name}: swapped experts", path, toks)
        if got is not None:
            check(rel(got, st) > 1e-3, f"{name}: experts 0 and 1 swapped in the stacked tensor give other logits (rel {rel(got, st):.1e})")

    # 2. our writer, read back by numpy
    for t in ("f32", "q8_0"):
        out = os.path.join(TMP, f"{name}-ours-{t}.gguf")
        p = subprocess.run([tool("denoise"), "--model", ck, "--quantize", t, out], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if not check(p.returncode == 0, f"{name}: denoise --quantize {t}", p.stderr.decode()[:300]):
            continue
        kvs, tens = gw.read(out)
        exp_names = set()
        for l in range(cfg["num_hidden_layers"]):
            b = f"model.layers.{l}."
            exp_names |= {f"blk.{l}.{v}" for k, v in gw.QWEN_NAMES.items() if b + k in W}
            if b + "mlp.experts.0.gate_proj.weight" in W:
                exp_names |= {f"blk.{l}.ffn_{m}_exps.weight" for m in ("gate", "up", "down")}
        exp_names |= {v for k, v in gw.QWEN_TOP.items() if k in W}
        ok = set(tens) == exp_names and kvs["general.architecture"] == arch and \
            kvs[f"{arch}.attention.head_count_kv"] == (cfg.get("num_key_value_heads") or cfg["num_attention_heads"]) and \
            kvs["tokenizer.ggml.mask_token_id"] == cfg["mask_token_id"] and \
            kvs["diffusion.shift_logits"] == (arch == "dream") and kvs[f"{arch}.attention.causal"] is False
        if arch == "llada-moe":
            E, Fe = cfg["num_experts"], cfg["expert_intermediate_size"]
            g = tens[f"blk.{l}.ffn_down_exps.weight"]
            r = tens[f"blk.{l}.ffn_gate_inp.weight"]
            ok = ok and kvs["llada-moe.expert_count"] == E and kvs["llada-moe.expert_used_count"] == cfg["num_experts_per_tok"] \
                and kvs["llada-moe.expert_feed_forward_length"] == Fe and g[1] == [E, cfg["hidden_size"], Fe] \
                and g[0] == t and r[0] == "f32"
        check(ok, f"{name} --quantize {t}: arch, tensor names and shapes, keys as llama.cpp spells them",
              f"{sorted(set(tens) ^ exp_names)}")
        deq = {}
        for g, (tn, shape, blob) in tens.items():
            w = gw.dequantize(blob, tn, shape)
            hf = {v: k for k, v in gw.QWEN_TOP.items()}.get(g)
            if hf is None:
                l, rest = g.split(".", 2)[1:]
                if "_exps." in rest:
                    m = {"gate": "gate_proj", "up": "up_proj", "down": "down_proj"}[rest.split("_")[1]]
                    for x in range(shape[0]):
                        deq[f"model.layers.{l}.mlp.experts.{x}.{m}.weight"] = w[x]
                    continue
                hf = f"model.layers.{l}." + {v: k for k, v in gw.QWEN_NAMES.items()}[rest]
            deq[hf] = w
        check(set(deq) == set(W), f"{name} --quantize {t}: every tensor of the original, once")
        if set(deq) != set(W):
            continue
        got = try_logits(f"{name}: our {t} file", out, toks, EXACT)
        if got is None:
            continue
        w = ref.forward(cfg, deq, toks[None])[0]
        if t == "f32":
            check(rel(got, st) <= 1e-6, f"{name}: our F32 file gives the safetensors logits (rel {rel(got, st):.1e})")
        check(rel(got, w) <= 1e-4, f"{name}: our {t} file vs reference on numpy's decoding of it (rel {rel(got, w):.1e})")


# 3. refusals
def refused(what, arch, cfg, W, edit, want):
    path = os.path.join(TMP, "bad.gguf")
    kv0 = gw.write
    gw.write = lambda p, kvs, tensors, alignment=32: kv0(p, edit(kvs), tensors, alignment)
    try:
        gw.qwen_to_gguf(arch, cfg, W, path, "f32")
    finally:
        gw.write = kv0
    p = subprocess.run([tool("denoise"), "--logits", "--model", path], input=b"", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = p.stderr.decode()
    check(p.returncode == 1 and err.count("\n") == 1 and err.startswith("denoise: error:") and want in err,
          f"{what}: exit 1, one line naming {want!r}", f"exit {p.returncode}: {err[:300]}")


cfg, W = ref_dream.load(os.path.join(TMP, "dream"))
refused("Dream with diffusion.shift_logits false", "dream", cfg, W,
        lambda kvs: kvs + [("diffusion.shift_logits", gw.BOOL, False)], "shift_logits")
cfg, W = ref_llada_moe.load(os.path.join(TMP, "moe_llamacpp"))
refused("LLaDA-MoE without expert_count", "llada-moe", cfg, W,
        lambda kvs: [kv for kv in kvs if kv[0] != "llada-moe.expert_count"], "expert_count")
refused("LLaDA-MoE with renormalised top-k", "llada-moe", cfg, W,
        lambda kvs: kvs + [("llada-moe.expert_weights_norm", gw.BOOL, True)], "expert_weights_norm")
summary()
