#!/usr/bin/env python3
"""test_gguf_arch.py — GGUF files of the Dream, LLaDA-MoE and LLaDA 2.x architectures (issue 13)
against the safetensors originals and independent numpy references.

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
  4. LLaDA 2.x ("llada2", the converter of llama.cpp's draft PR #17454; make_tiny_llada2.py's
     checkpoints, two of its presets and two with widths Q8_0 / k-quant blocks fill):
     gguf_writer.llada2_to_gguf files — F32 gives the safetensors logits (rel <= 1e-6) and
     ref_llada2's; Q8_0 (with the converter's F16 fallback where 32-blocks do not fit), Q4_K and
     Q6_K, and Q4_K_M with llama-quantize's Q5_K attn_qkv (gguf_writer's mix: ffn_down* and the
     head Q6_K, the rest Q4_K) vs ref_llada2 on the weights the file holds (exact product, <= 1e-4; int8 kernels: the
     median row <= 3e-2, a near-tied router may flip a few rows); experts swapped inside the
     stacked tensors and q/k rows permuted per head give other logits; generation with the block
     cache (2.0 threshold, 2.1 token editing) equal for the F32 file, the folder and
     ref_llada2's generate(); Q4_K / Q5_K / Q4_K_M of a model with expert rows of 128, which
     llama-quantize writes in Q5_0 / Q5_1 / Q8_0 (its fallback; bench/llamacpp_llada2.py), vs
     ref_llada2 as above; one-line refusals (exit 1): expert_count missing, contradicted by
     the tensors (key 6 / 8 stacked; key 8 / 7 stacked), softmax gating, top-k not renormalised,
     an MTP layer, no mask id outside the Ling vocabulary, a tensor in a type still unsupported
     (attn_qkv in Q4_1; a stacked ffn_down_exps in Q3_K), named as the file names it (blk.N.*).
"""
import os, subprocess, sys, tempfile
import numpy as np
import msgpack

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fixtures"))
from pylib import check, summary, tool, ROOT, arr, unarr, run_denoise, denoise_logits as logits
import ref_dream, ref_llada_moe, ref_llada2
import gguf_writer as gw
import make_tiny_dream, make_tiny_moe, make_tiny_llada2

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


# 4. LLaDA 2.x ("llada2"): files as the converter of llama.cpp PR #17454 writes them
L2 = {  # name: (make_tiny_llada2 preset, types written besides F32)
    "llada2_f32": (make_tiny_llada2.PRESETS["llada2_f32"], ("q8_0",)),     # widths 48/12/40: F16 fallback
    "llada2_bias_f32": (make_tiny_llada2.PRESETS["llada2_bias_f32"], ("q8_0",)),
    "llada2_q8": (dict(d=64, layers=3, H=4, KV=2, hd=24, E=8, G=4, TG=2, k=3, Fe=32, S=1, Fd=64, first=1, V=96,
                       use_bias=False, dtype="f32", shards=1), ("q8_0",)),
    "llada2_k": (dict(d=256, layers=2, H=4, KV=2, hd=64, E=4, G=2, TG=1, k=2, Fe=256, S=1, Fd=256, first=1, V=64,
                      use_bias=False, dtype="f32", shards=1), ("q8_0", "q4_k", "q6_k", "q4_k_m")),
    # expert rows of 128 (and the shared expert's): llama-quantize's fallback, Q5_0 from Q4_K, Q5_1 from
    # Q5_K, Q8_0 from Q6_K (gguf_writer's Q4_K_M mix puts every ffn_down* in Q6_K)
    "llada2_odd": (dict(d=256, layers=2, H=4, KV=2, hd=64, E=4, G=2, TG=1, k=2, Fe=128, S=1, Fd=256, first=1, V=64,
                        use_bias=False, dtype="f32", shards=1), ("q4_k", "q5_k", "q4_k_m")),
}


def l2_tokens(cfg, seed):
    t = np.random.default_rng(seed).integers(0, cfg["vocab_size"] - 3, size=70)   # three blocks of 32
    t[[2, 9, 33, 40, 66]] = cfg["mask_token_id"]
    return t


def l2_quantised(name, cfg, path, t, deq, toks):
    got = try_logits(f"{name} {t}", path, toks, EXACT)
    if got is None:
        return
    w = ref_llada2.forward(cfg, deq, toks[None])[0]
    tens = gw.read(path)[1]
    kinds = sorted({v[0] for v in tens.values()})
    if t == "q4_k_m":   # llama-quantize's Q4_K_M rule for a fused q/k/v: Q5_K
        qkv = {g: v[0] for g, v in tens.items() if ".attn_qkv." in g}
        check(qkv and set(qkv.values()) == {"q5_k"}, f"{name}: q4_k_m file stores attn_qkv in Q5_K", qkv)
    if name == "llada2_odd":   # rows of 128 in ffn_down_exps / _shexp
        fb = {g: v[0] for g, v in tens.items() if ".ffn_down_exps." in g or ".ffn_down_shexp." in g}
        q5 = {"q4_k": "q5_0", "q5_k": "q5_1", "q4_k_m": "q8_0"}[t]
        check(len(fb) == 2 and set(fb.values()) == {q5}, f"{name}: {t} file stores the 128-wide ffn_down_exps / "
                                                         f"_shexp in {q5.upper()}, as llama-quantize does", fb)
    check(rel(got, w) <= 1e-4, f"{name}: llada2 {t} GGUF ({'/'.join(kinds)}) vs ref_llada2 on the weights it holds "
                               f"(rel {rel(got, w):.1e} <= 1e-4)")
    fast = try_logits(f"{name} {t} int8 kernels", path, toks)
    if fast is not None:   # a near-tied router choice may flip at a few positions: the median row
        r = np.abs(fast - w).max(1) / np.abs(w).max()
        check(np.median(r) <= 3e-2, f"{name}: {t} with the int8 kernels (median row rel {np.median(r):.1e} <= 3e-2; "
                                    f"max {r.max():.1e}, {int((r > 3e-2).sum())} of {len(r)} rows above)")


def l2_case(name, preset, types):
    ck = os.path.join(TMP, name)
    make_tiny_llada2.write_checkpoint(ck, preset, 29)
    cfg, W = ref_llada2.load(ck)
    toks = l2_tokens(cfg, 4)
    st = try_logits(f"{name}: safetensors logits", ck, toks)
    if st is None:
        return None
    path = os.path.join(TMP, f"{name}-f32.gguf")
    gw.llada2_to_gguf(cfg, W, path, "f32")
    got = try_logits(f"{name}: llada2 F32 GGUF", path, toks)
    if got is not None:
        want = ref_llada2.forward(cfg, W, toks[None])[0]
        check(got.shape == st.shape and rel(got, st) <= 1e-6 and rel(got, want) <= 1e-5,
              f"{name}: llada2 F32 GGUF gives the safetensors logits (rel {rel(got, st):.1e} <= 1e-6; "
              f"ref_llada2 {rel(got, want):.1e} <= 1e-5)")
    for t in types:
        path = os.path.join(TMP, f"{name}-{t}.gguf")
        l2_quantised(name, cfg, path, t, gw.llada2_to_gguf(cfg, W, path, t), toks)
    return cfg, W, st, toks


for name, (preset, types) in L2.items():
    got = l2_case(name, preset, types)
    if name == "llada2_q8":
        q8 = got


def l2_other(what, cfg, W, st, toks, edit):
    path = os.path.join(TMP, "l2-other.gguf")
    gw.llada2_to_gguf(cfg, edit(dict(W)), path, "f32")
    got = try_logits(what, path, toks)
    if got is not None:
        check(rel(got, st) > 1e-3, f"llada2_q8: {what} gives other logits (rel {rel(got, st):.1e})")


def swap_experts(W, l=1):
    for m in ("gate_proj", "up_proj", "down_proj"):
        a, b = f"model.layers.{l}.mlp.experts.0.{m}.weight", f"model.layers.{l}.mlp.experts.1.{m}.weight"
        W[a], W[b] = W[b], W[a]
    return W


def permute_qk(W, cfg):   # LLaMA's interleaved-RoPE row order inside q and k (not what this converter does)
    H, KV, hd = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    for l in range(cfg["num_hidden_layers"]):
        n = f"model.layers.{l}.attention.query_key_value.weight"
        q, k, v = np.split(W[n], [H * hd, (H + KV) * hd])
        W[n] = np.concatenate([gw.permute_rows(q, H), gw.permute_rows(k, KV), v])
    return W


if q8 is not None:
    cfg, W, st, toks = q8
    l2_other("experts 0 and 1 swapped inside the stacked tensors", cfg, W, st, toks, swap_experts)
    l2_other("q/k rows permuted per head (as LLaMA's converter would)", cfg, W, st, toks, lambda w: permute_qk(w, cfg))



def l2_gen(model, prompt, args):
    r = run_denoise([{"kind": "tokens", "tokens": arr(prompt)}], ["--model", model] + args)[0]
    return list(unarr(r["tokens"])), list(unarr(r["reveal_step"])), r["nfe"]


def l2_generation(cfg, W, ck, path):
    """Block-diffusion generation with the block cache: the F32 GGUF equals the folder and the
    ports of generate() (attention block 32: the converter writes no key for it)."""
    prompt = [int(v) for v in np.random.default_rng(8).integers(0, cfg["vocab_size"] - 3, size=5)]
    cases = [("2.0, 8 steps per block, threshold 0.6", ["--steps", "10", "--remasking", "dynamic:0.6"],
              ref_llada2.generate20(cfg, W, prompt, 40, 8, 0.6)),
             ("2.1 token editing, threshold 0.1, editing 0.05", ["--remasking", "dynamic:0.1", "--edit-threshold",
                                                                 "0.05"], ref_llada2.generate21(cfg, W, prompt, 40, 0.1, 0.05, 16))]
    for what, args, (x, rv, nfe) in cases:
        try:
            a, b = (l2_gen(m, prompt, ["--gen-length", "40"] + args) for m in (path, ck))
        except RuntimeError as e:
            check(False, f"llada2 generation {what}", e)
            continue
        want = (list(x[5:45]), list(rv[5:45]), nfe)
        check(a == b and a == want, f"llada2_q8: {what}, block cache: F32 GGUF = safetensors folder = ref_llada2 "
                                    f"(tokens, reveal steps, {a[2]} forwards)", f"{a} / {b} / {want}")


if q8 is not None:
    l2_generation(q8[0], q8[1], os.path.join(TMP, "llada2_q8"), os.path.join(TMP, "llada2_q8-f32.gguf"))


def l2_refused(what, path, want):
    p = subprocess.run([tool("denoise"), "--logits", "--model", path], input=b"", stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    err = p.stderr.decode()
    check(p.returncode == 1 and err.count("\n") == 1 and err.startswith("denoise: error:") and want in err,
          f"llada2 {what}: exit 1, one line naming {want!r}", f"exit {p.returncode}: {err[:300]}")


def l2_bad(what, cfg, W, edit, want, qtype="f32", ncfg=None):
    """A file with the keys edited (edit: kvs -> kvs), or its experts stacked by ncfg."""
    path = os.path.join(TMP, "l2-bad.gguf")
    gw.llada2_to_gguf(ncfg or cfg, W, path, qtype, kvs=edit(gw.llada2_kvs(cfg, qtype)))
    l2_refused(what, path, want)


def set_kv(key, vt, v):
    return lambda kvs: [kv for kv in kvs if kv[0] != key] + [(key, vt, v)]


if q8 is not None:
    cfg, W = q8[0], q8[1]
    l2_bad("without expert_count", cfg, W, lambda kvs: [kv for kv in kvs if kv[0] != "llada2.expert_count"],
           "llada2.expert_count")
    l2_bad("with expert_count 6 (the tensors hold 8)", cfg, W, set_kv("llada2.expert_count", gw.U32, 6),
           "llada2.expert_count")
    l2_bad("with 7 experts stacked (expert_count 8)", cfg, W, lambda kvs: kvs,
           "\"blk.1.ffn_gate_exps.weight\": 7 experts", ncfg=dict(cfg, num_experts=7))
    l2_bad("with softmax gating", cfg, W, set_kv("llada2.expert_gating_func", gw.U32, 1), "expert_gating_func")
    l2_bad("with top-k weights not renormalised", cfg, W, set_kv("llada2.expert_weights_norm", gw.BOOL, False),
           "expert_weights_norm")
    l2_bad("with an MTP layer", cfg, W, set_kv("llada2.nextn_predict_layers", gw.U32, 1), "nextn_predict_layers")
    l2_bad("without a mask id (not the Ling vocabulary)", cfg, W,
           lambda kvs: [kv for kv in kvs if kv[0] != "tokenizer.ggml.mask_token_id"], "tokenizer.ggml.mask_token_id")


def l2_typed(what, cfg, W, gname, t, want):
    """A file whose tensor gname is stored as zero blocks of type t."""
    path, w0 = os.path.join(TMP, "l2-typed.gguf"), gw.write

    def hook(p, kvs, tensors, alignment=32):
        blk, nb = gw.BLOCK[t]
        w0(p, kvs, [(g, t, sh, b"\0" * (int(np.prod(sh)) // blk * nb)) if g == gname else (g, tt, sh, raw)
                    for g, tt, sh, raw in tensors], alignment)
    gw.write = hook
    try:
        gw.llada2_to_gguf(cfg, W, path, "f32")
    finally:
        gw.write = w0
    l2_refused(what, path, want)


k = os.path.join(TMP, "llada2_k")
if os.path.isdir(k):
    cfg, W = ref_llada2.load(k)
    l2_typed("with attn_qkv in Q4_1 (a type still unsupported)", cfg, W, "blk.0.attn_qkv.weight", "q4_1",
             '"blk.0.attn_qkv.weight": dtype Q4_1 is not')
    l2_typed("with a stacked ffn_down_exps in Q3_K (a type still unsupported)", cfg, W,
             "blk.1.ffn_down_exps.weight", "q3_k", '"blk.1.ffn_down_exps.weight": dtype Q3_K is not')
summary()
