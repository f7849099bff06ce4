#!/usr/bin/env python3
"""llamacpp_llada2.py OUTDIR [TYPE ...] — LLaDA 2.x GGUF files made by llama.cpp's own
llama-quantize, read by this engine (issue 13).

Upstream llama.cpp has no LLaDA 2 support: LLAMACPP_DIR must point at a build of the fork with
draft PR #17454's "llada2" (wsbagnsv1/llama.cpp; docs/gguf.md, "llama.cpp as a reference"),
binaries in $LLAMACPP_DIR/build/bin; only llama-quantize is used.

Three small random LLaDA 2.x checkpoints (tests/fixtures/make_tiny_llada2.py), each written as an
F32 GGUF by the test writer (tests/fixtures/gguf_writer.py llada2_to_gguf: the PR's converter
layout, fused attn_qkv, stacked experts):
  k     every width a multiple of 256 (d 256, 3 layers of which the first is dense with FFN 512,
        4/2 heads of 64, 8 experts in 4 groups top-2 of width 256, one shared expert), so the
        K-quants apply everywhere, as in LLaDA2.0-mini (d 2048, widths 512 / 5120);
  odd   the same with expert width 128: llama-quantize falls back for the ffn_down* rows (Q4_K ->
        Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0);
  all   k's sizes with every expert used (top-8 of 8, one group): no expert choice that a rounding
        can flip, so its int8 rows show the activation rounding alone.
llama-quantize makes TYPE files (default Q8_0 Q4_K_M Q5_K_M Q6_K) from each F32 file. For each
file: the tensor types are printed and compared with the rule of the fork's src/llama-quant.cpp
(llama_tensor_get_type; rule_type() below); if it holds a type we read, `denoise --logits` with
the exact product (LLADA_QMATMUL=f32) must equal tests/py/ref_llada2.py on numpy's own decoding
of the file's weights (rel <= 1e-4), and with the default int8 kernels rel <= 3e-2 for the median
row, as in tests/py/test_gguf_arch.py (the int8 activation rounding flips near-tied top-2 choices
of the sigmoid router, and those rows differ by far more; the max row and the rows above the
bound are printed); KL(f32 original || the file's weights) and KL(f32 original || denoise int8)
printed. A file holding a type we do not read must be refused with one line naming it (exit 1).
One "ok - " / "not ok - " line per file; exit 1 when any check fails."""
import os, subprocess, sys
import numpy as np

root = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(root, "tests", "py"))
sys.path.insert(0, os.path.join(root, "tests", "fixtures"))
from pylib import denoise_logits   # noqa: E402  (LLADA_BIN picks the tools)
import ref_llada2                   # noqa: E402
import gguf_writer as gw            # noqa: E402
import make_tiny_llada2 as mk       # noqa: E402

# ggml types llama-quantize may write that gguf_writer neither writes nor decodes (reading only:
# the type id and block size, to list them): ggml.h's enum and ggml.c's type traits
for _n, _id, _b in (("q4_1", 3, (32, 20)), ("q8_1", 9, (32, 36)), ("q2_k", 10, (256, 84)),
                    ("q3_k", 11, (256, 110)), ("iq4_nl", 20, (32, 18)), ("iq4_xs", 23, (256, 136))):
    gw.GGML.setdefault(_n, _id)
    gw.BLOCK.setdefault(_n, _b)
DECODED = {"f32", "f16", "bf16", "q8_0", "q4_0", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k"}   # gguf_writer.dequantize
READ = DECODED                                                            # model/gguf.c's types

lq_bin = os.path.join(os.environ.get("LLAMACPP_DIR", ""), "build", "bin", "llama-quantize")
if len(sys.argv) < 2 or not os.access(lq_bin, os.X_OK):
    sys.exit(f"usage: LLAMACPP_DIR=<llada2 fork build> {sys.argv[0]} OUTDIR [TYPE ...] (no {lq_bin}: docs/gguf.md)")
nice = ["nice", "-n", os.environ.get("LLAMACPP_NICE", "19")]
out = sys.argv[1]
types = sys.argv[2:] or ["Q8_0", "Q4_K_M", "Q5_K_M", "Q6_K"]
os.makedirs(out, exist_ok=True)
BASE = dict(d=256, layers=3, H=4, KV=2, hd=64, E=8, G=4, TG=2, k=2, Fe=256, S=1, Fd=512, first=1, V=160,
            use_bias=False, dtype="f32", shards=1)
MODELS = {"k": BASE, "odd": dict(BASE, Fe=128), "all": dict(BASE, G=1, TG=1, k=8)}


def use_more_bits(i, n):
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def rule_type(g, shape, ftype, n_layer, n_expert):
    """The type llama_tensor_get_type (fork 6896bc30, src/llama-quant.cpp) gives tensor g of a
    llada2 file for Q8_0 / Q4_K_M / Q5_K_M / Q6_K without imatrix or overrides; the tensors it
    leaves alone (1-D, *_norm.weight, ffn_gate_inp) keep F32."""
    if len(shape) == 1 or g.endswith("_norm.weight") or ".ffn_gate_inp." in g:
        return "f32"
    base = {"Q8_0": "q8_0", "Q4_K_M": "q4_k", "Q5_K_M": "q5_k", "Q6_K": "q6_k"}[ftype]
    t = base
    if g == "output.weight":
        t = "q8_0" if base == "q8_0" or shape[-1] % 256 else "q6_k"
        return t
    layer = int(g.split(".")[1]) if g.startswith("blk.") else -1
    if ".attn_qkv." in g:
        t = {"Q4_K_M": "q5_k", "Q5_K_M": "q6_k"}.get(ftype, base)
    elif "ffn_down" in g:    # every ffn_down* (dense, experts, shared): the layer from the name
        if ftype in ("Q4_K_M", "Q5_K_M") and use_more_bits(layer, n_layer):
            t = "q6_k"
    elif "attn_output.weight" in g and n_expert == 8 and ftype == "Q4_K_M":
        t = "q5_k"
    blk = gw.BLOCK[t][0]
    if shape[-1] % blk:   # convert_incompatible_tensor
        t = {"q4_k": "q5_0", "q5_k": "q5_1", "q6_k": "q8_0"}.get(t, t)
        if shape[-1] % gw.BLOCK.get(t, (32,))[0]:
            t = "f16"
    return t


def hf_names(g, shape):
    """GGUF tensor g -> [(HF name, index into a stacked [E, rows, cols] tensor or None)]."""
    top = {v: k for k, v in gw.LLADA2_TOP.items()}
    if g in top:
        return [(top[g], None)]
    _, l, rest = g.split(".", 2)
    if "_exps." in rest:
        m = {"gate": "gate_proj", "up": "up_proj", "down": "down_proj"}[rest.split("_")[1]]
        return [(f"model.layers.{l}.mlp.experts.{x}.{m}.weight", x) for x in range(shape[0])]
    return [(f"model.layers.{l}." + {v: k for k, v in gw.LLADA2_NAMES.items()}[rest], None)]


def kl(p, q):
    lp = p - p.max(-1, keepdims=True)
    lp -= np.log(np.exp(lp).sum(-1, keepdims=True))
    lq = q - q.max(-1, keepdims=True)
    lq -= np.log(np.exp(lq).sum(-1, keepdims=True))
    return float((np.exp(lp) * (lp - lq)).sum(-1).mean())


def rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def denoise_err(path):
    p = subprocess.run([os.path.join(os.environ.get("LLADA_BIN", os.path.join(root, "bin")), "denoise"), "--logits",
                        "--model", path], input=b"", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p.returncode, p.stderr.decode(errors="replace")


fails = 0


def report(ok, line, details=()):
    global fails
    fails += not ok
    print(("ok - " if ok else "not ok - ") + line)
    for d in details:
        print("    " + d)


EXACT = {"LLADA_QMATMUL": "f32"}
for mname, preset in MODELS.items():
    ck = os.path.join(out, f"llada2-{mname}")
    if not os.path.exists(os.path.join(ck, "config.json")):
        mk.write_checkpoint(ck, preset, 29)
    cfg, W = ref_llada2.load(ck)
    f32 = os.path.join(out, f"llada2-{mname}-F32.gguf")
    if not os.path.exists(f32):
        gw.llada2_to_gguf(cfg, W, f32, "f32")
    toks = np.random.default_rng(4).integers(0, cfg["vocab_size"] - 3, size=70)   # three attention blocks
    toks[[2, 9, 33, 40, 66]] = cfg["mask_token_id"]
    orig = ref_llada2.forward(cfg, W, toks[None])[0]
    n_layer = cfg["num_hidden_layers"]
    print(f"# {mname}: d {cfg['hidden_size']}, {n_layer} layers ({cfg['first_k_dense_replace']} dense, FFN "
          f"{cfg['intermediate_size']}), {cfg['num_attention_heads']}/{cfg['num_key_value_heads']} heads of "
          f"{cfg['head_dim']}, {cfg['num_experts']} experts top-{cfg['num_experts_per_tok']} of width "
          f"{cfg['moe_intermediate_size']}, {cfg['num_shared_experts']} shared, vocabulary {cfg['vocab_size']}")
    for ftype in types:
        name = f"llada2-{mname}-{ftype}.gguf"
        path = os.path.join(out, name)
        q = subprocess.run(nice + [lq_bin, f32, path, ftype], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        open(path + ".log", "wb").write(q.stdout)
        if q.returncode:
            tail = [l for l in q.stdout.decode(errors="replace").splitlines() if l.strip()][-3:]
            report(False, f"{name}: llama-quantize {ftype} failed (exit {q.returncode})", tail)
            continue
        kvs, tens = gw.read(path)
        have = {g: tn for g, (tn, _, _) in tens.items()}
        counts = {}
        for tn in have.values():
            counts[tn] = counts.get(tn, 0) + 1
        summary = f"file_type {kvs.get('general.file_type')}; " + \
            ", ".join(f"{k} x{v}" for k, v in sorted(counts.items()))
        want_t = {g: rule_type(g, sh, ftype, n_layer, cfg["num_experts"]) for g, (_, sh, _) in tens.items()}
        off_rule = [f"{g} {have[g]} (rule: {want_t[g]})" for g in sorted(have) if have[g] != want_t[g]]
        by_type = {}
        for g in sorted(have):
            if have[g] != "f32":
                by_type.setdefault(have[g], []).append(g)
        details = [f"{t}: " + ", ".join(gs) for t, gs in sorted(by_type.items())]
        unread = sorted({t for t in have.values() if t not in READ})
        if off_rule:
            details = ["types not as llama-quant.cpp's rule: " + "; ".join(off_rule)] + details
        if unread:
            rc, err = denoise_err(path)
            one = rc == 1 and err.count("\n") == 1 and err.startswith("denoise: error:") and \
                any(t.upper() in err for t in unread)
            report(one and not off_rule, f"{name} ({summary}): holds {'/'.join(t.upper() for t in unread)}, not read "
                                         f"here: refused, exit {rc}, {err.count(chr(10))} line(s): {err.strip()[:200]}",
                   details)
            continue
        deq = {}
        for g, (tn, shape, blob) in tens.items():
            w = gw.dequantize(blob, tn, shape)
            for hf, x in hf_names(g, shape):
                deq[hf] = w if x is None else w[x]
        if set(deq) != set(W):
            report(False, f"{name}: tensors differ from the original's", [str(sorted(set(deq) ^ set(W)))[:300]])
            continue
        want = ref_llada2.forward(cfg, deq, toks[None])[0]
        try:
            exact = denoise_logits(path, toks, EXACT)
            fast = denoise_logits(path, toks)
        except RuntimeError as e:
            report(False, f"{name} ({summary}): denoise --logits: {e}", details)
            continue
        rows = np.abs(fast - want).max(1) / np.abs(want).max()
        ok = not off_rule and rel(exact, want) <= 1e-4 and np.median(rows) <= 3e-2
        report(ok, f"{name} ({summary}): exact rel {rel(exact, want):.1e} (<= 1e-4); int8 rel {rows.max():.1e} "
                   f"(median row {np.median(rows):.1e} <= 3e-2, {int((rows > 3e-2).sum())}/{len(rows)} rows above); "
                   f"KL(f32 || file) {kl(orig, want):.2e}, KL(f32 || denoise int8) {kl(orig, fast):.2e}", details)
sys.exit(1 if fails else 0)
