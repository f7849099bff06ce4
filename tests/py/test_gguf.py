#!/usr/bin/env python3
"""test_gguf.py — GGUF checkpoints (issue 13) against independent numpy references.

A random LLaDA checkpoint (GQA, 2 layers, d 256, ffn 512) is written as GGUF files by
tests/fixtures/gguf_writer.py (numpy, from the format description; Q and K rows permuted the way
llama.cpp's converter does) in every supported type, and `denoise --logits --model FILE.gguf`
is compared with ref_llada.forward on
  1. the dequantised weights the file holds (numpy's decoding), with the exact product
     (LLADA_QMATMUL=f32: dequantised panels + sgemm): max|Δ|/max|ref| <= 1e-4;
  2. the same with the default int8-activation kernels: <= 3e-2, and the mean KL(ref || C) per
     position printed and bounded;
  3. the f32 original: the KL per type is printed (quantisation error) and bounded loosely.
The f32 GGUF file must give the safetensors logits (rel <= 1e-5): the Q/K un-permutation is
right; a file written without the permutation must not (the check can fail). `denoise --quantize`
files of every written type (q5_k and q5_k_m included) read back by numpy give the C logits, with
KL(f32 || file) printed; `--quantize-method
search` is no worse than `rtn` on any block (numpy's decoding), here and on the bundled model;
row lengths that no block of the type divides fall back as in llama-quantize (Q4_K -> Q5_0, Q5_K -> Q5_1,
Q6_K -> Q8_0, then F16), and the head of q4_0 / q5_0 / q5_1 / the K_M mixes is Q6_K. Q5_0 / Q5_1,
also in llama-quantize's K-quant fallback for rows that 256 does not divide (files of nothing but
Q5_0 or Q5_1 + Q8_0). Other layouts:
general.alignment 64, tied embeddings, version 2. Damaged files exit 1 with one error line.
"""
import os, shutil, struct, subprocess, sys, tempfile
import numpy as np
import msgpack

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fixtures"))
from pylib import check, summary, tool, ROOT, arr, denoise_logits as logits
import ref_llada as ref
import gguf_writer as gw

TMP = tempfile.mkdtemp(prefix="gguf_test_")
CK = os.path.join(TMP, "ck")
subprocess.run([sys.executable, os.path.join(ROOT, "tests/fixtures/make_tiny_ckpt.py"), CK, "--custom",
                "d_model=256,n_layers=2,n_heads=4,n_kv_heads=2,mlp_hidden_size=512,vocab_size=300",
                "--dtype", "f32", "--seed", "5"], check=True)
cfg, W = ref.load(CK)


def kl(p_logits, q_logits):
    """mean over positions of KL(softmax p || softmax q)."""
    lp = p_logits - p_logits.max(-1, keepdims=True)
    lp -= np.log(np.exp(lp).sum(-1, keepdims=True))
    lq = q_logits - q_logits.max(-1, keepdims=True)
    lq -= np.log(np.exp(lq).sum(-1, keepdims=True))
    return float((np.exp(lp) * (lp - lq)).sum(-1).mean())


def rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


rng = np.random.default_rng(11)
toks = rng.integers(0, cfg["vocab_size"], size=24)
toks[[3, 7, 8, 20]] = cfg["mask_token_id"]
orig = ref.forward(cfg, W, toks[None])[0]
st = logits(CK, toks)
check(rel(st, orig) <= 1e-4, f"safetensors original vs reference (rel {rel(st, orig):.1e})")

# KL bounds of the quantised weights vs the f32 original on this random model (loose: they catch a
# broken format, not a slightly worse quantiser), and of the int8-activation kernels vs exact.
KL_MAX = {"f32": 1e-9, "f16": 1e-6, "bf16": 1e-4, "q8_0": 1e-3, "q6_k": 1e-2, "q5_k": 0.05, "q4_0": 0.15,
          "q4_k": 0.15, "q4_k_m": 0.1, "q5_0": 0.05, "q5_1": 0.05}
report = []
for t in ["f32", "f16", "bf16", "q8_0", "q6_k", "q5_k", "q4_0", "q4_k", "q4_k_m", "q5_0", "q5_1"]:
    path = os.path.join(TMP, f"m-{t}.gguf")
    deq = gw.llada_to_gguf(cfg, W, path, t)
    want = ref.forward(cfg, deq, toks[None])[0]
    try:
        exact = logits(path, toks, {"LLADA_QMATMUL": "f32"})
        fast = logits(path, toks)
    except RuntimeError as e:
        check(False, f"{t}: denoise --logits", e)
        continue
    r1, r2 = rel(exact, want), rel(fast, want)
    check(exact.shape == want.shape and r1 <= 1e-4, f"{t}: logits vs dequantised-f32 reference, exact product (rel {r1:.1e} <= 1e-4)")
    k_int8 = kl(want, fast)
    check(r2 <= 3e-2 and k_int8 <= 1e-3, f"{t}: int8-activation kernels vs dequantised reference (rel {r2:.1e} <= 3e-2, KL {k_int8:.1e} <= 1e-3)")
    k_w, k_all = kl(orig, want), kl(orig, fast)
    check(k_w <= KL_MAX[t], f"{t}: KL(f32 original || dequantised) {k_w:.2e} <= {KL_MAX[t]:.0e}")
    report.append((t, os.path.getsize(path), k_w, k_all, r1, r2))
    if t == "f32":
        check(rel(exact, st) <= 1e-5, f"f32 GGUF (Q/K permuted by the writer) equals the safetensors logits (rel {rel(exact, st):.1e})")

print("# type      bytes   KL(orig||dequant)  KL(orig||denoise)  rel exact  rel int8")
for t, n, a, b, r1, r2 in report:
    print(f"# {t:7s} {n:8d}   {a:16.3e}  {b:17.3e}  {r1:9.1e}  {r2:8.1e}")

# without the converter's permutation the logits differ: the un-permutation is what matched
saved = gw.permute_rows
gw.permute_rows = lambda w, heads: w
path = os.path.join(TMP, "noperm.gguf")
gw.llada_to_gguf(cfg, W, path, "f32")
gw.permute_rows = saved
r = rel(logits(path, toks), st)
check(r > 1e-3, f"a file written without the Q/K permutation gives other logits (rel {r:.1e} > 1e-3)")

# other layouts: alignment 64, tied embeddings, version 2
path = os.path.join(TMP, "al64.gguf")
deq = gw.llada_to_gguf(cfg, W, path, "q8_0", alignment=64)
r = rel(logits(path, toks, {"LLADA_QMATMUL": "f32"}), ref.forward(cfg, deq, toks[None])[0])
check(r <= 1e-4, f"general.alignment 64 (rel {r:.1e})")
tcfg = dict(cfg, weight_tying=True)
tW = {k: v for k, v in W.items() if k != "model.transformer.ff_out.weight"}
path = os.path.join(TMP, "tied.gguf")
deq = gw.llada_to_gguf(tcfg, tW, path, "q4_k")
r = rel(logits(path, toks, {"LLADA_QMATMUL": "f32"}), ref.forward(tcfg, deq, toks[None])[0])
check(r <= 1e-4, f"tied embeddings, no output.weight (rel {r:.1e})")
raw = bytearray(open(os.path.join(TMP, "m-q8_0.gguf"), "rb").read())
v2 = bytearray(raw)
v2[4:8] = struct.pack("<I", 2)
open(os.path.join(TMP, "v2.gguf"), "wb").write(v2)
check(np.array_equal(logits(os.path.join(TMP, "v2.gguf"), toks), logits(os.path.join(TMP, "m-q8_0.gguf"), toks)),
      "version 2 header reads as version 3")


# `denoise --quantize TYPE OUT.gguf`: the file read back by numpy (gguf_writer.read/dequantize), Q/K
# rows un-permuted here, is within each type's step of the original and gives the C logits (exact
# product <= 1e-4, int8 kernels <= 3e-2); KL(f32 original || our file) printed and bounded (KL_MAX)
rev = {v: k for k, v in gw.NAMES.items()}
KL_MAX.update({"q5_k_m": 0.05})
# llama-quantize's general.file_type, and which tensors its Q4_K_M / Q5_K_M rule puts in Q6_K for
# 2 layers (use_more_bits(i, 2): layer 1 only) — the head, layer 1's attn_v and ffn_down
FTYPE = {"q8_0": 7, "q4_k": 14, "q4_k_m": 15, "q5_k": 16, "q5_k_m": 17, "q6_k": 18, "q4_0": 2, "bf16": 32, "q5_0": 8,
         "q5_1": 9}
MIX_Q6 = {"output.weight", "blk.1.attn_v.weight", "blk.1.ffn_down.weight"}


def decode_ours(out, cfg, W):
    """numpy's reading of a file `denoise --quantize` wrote: (metadata, tensors, HF-named
    dequantised weights with Q/K rows un-permuted, worst max|Δw| / max|w| against W)."""
    kvs, tens = gw.read(out)
    deq, worst = {}, 0.0
    for g, (tn, shape, blob) in tens.items():
        w = gw.dequantize(blob, tn, shape)
        if ".attn_q." in g or ".attn_k." in g:   # undo llama.cpp's permutation: GGUF row 2i+a <- HF row a*hd/2+i
            heads = cfg["n_heads"] if ".attn_q." in g else cfg["n_kv_heads"]
            w = w.reshape(heads, shape[0] // heads // 2, 2, -1).swapaxes(1, 2).reshape(shape)
        if g == "token_embd.weight": hf = "model.transformer.wte.weight"
        elif g == "output_norm.weight": hf = "model.transformer.ln_f.weight"
        elif g == "output.weight": hf = "model.transformer.ff_out.weight"
        else:
            l, nm = g.split(".")[1], g.split(".")[2]
            hf = f"model.transformer.blocks.{l}.{rev[nm]}.weight"
        deq[hf] = w
        worst = max(worst, float(np.abs(w - W[hf]).max() / np.abs(W[hf]).max()))
    return kvs, tens, deq, worst


ours = []
for t in ["q8_0", "q4_k", "q4_k_m", "q5_k", "q5_k_m", "q6_k", "q4_0", "q5_0", "q5_1", "bf16"]:
    out = os.path.join(TMP, f"ours-{t}.gguf")
    p = subprocess.run([tool("denoise"), "--model", CK, "--quantize", t, out], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if not check(p.returncode == 0 and os.path.exists(out), f"denoise --quantize {t}", p.stderr.decode()[:300]):
        continue
    check(p.stderr == b"", f"--quantize {t}: silent when every row length fits the type's block", p.stderr.decode()[:200])
    kvs, tens, deq, worst = decode_ours(out, cfg, W)
    want_types = {"q4_k_m": {"q4_k", "q6_k", "f32"}, "q5_k_m": {"q5_k", "q6_k", "f32"}}.get(t, {t, "f32"})
    if t in ("q4_0", "q5_0", "q5_1"):    # llama-quant.cpp's head rule: Q6_K for these ftypes too
        want_types = {t, "q6_k", "f32"}
    check(set(deq) == set(W) and {tn for tn, _, _ in tens.values()} == want_types and
          tens["output.weight"][0] == ("q8_0" if t == "q8_0" else "q6_k" if t not in ("q4_k", "q5_k", "q6_k", "bf16") else t) and
          kvs["general.architecture"] == "llada" and kvs["llada.attention.head_count_kv"] == cfg["n_kv_heads"] and
          kvs["general.file_type"] == FTYPE[t],
          f"--quantize {t}: tensors, types and metadata (general.file_type {FTYPE[t]}) as llama.cpp names them")
    if t.endswith("_k_m"):
        q6 = {g for g, (tn, _, _) in tens.items() if tn == "q6_k"}
        check(q6 == MIX_Q6, f"--quantize {t}: Q6_K exactly where llama-quantize's rule puts it", sorted(q6))
    lim = {"q8_0": 0.01, "bf16": 0.01, "q6_k": 0.05, "q5_k": 0.1, "q5_k_m": 0.1, "q4_0": 0.2, "q4_k": 0.2,
           "q4_k_m": 0.2, "q5_0": 0.1, "q5_1": 0.1}[t]
    check(worst <= lim, f"--quantize {t}: weights within {lim} of max|w| after numpy's decoding (worst {worst:.3f})")
    want = ref.forward(cfg, deq, toks[None])[0]
    exact, fast = logits(out, toks, {"LLADA_QMATMUL": "f32"}), logits(out, toks)
    r, r2 = rel(exact, want), rel(fast, want)
    check(r <= 1e-4, f"--quantize {t}: denoise on our file vs reference on numpy's decoding of it (rel {r:.1e})")
    check(r2 <= 3e-2, f"--quantize {t}: int8 kernels vs the same reference (rel {r2:.1e} <= 3e-2)")
    k_w, k_all = kl(orig, want), kl(orig, fast)
    check(k_w <= KL_MAX[t], f"--quantize {t}: KL(f32 original || our file, dequantised) {k_w:.2e} <= {KL_MAX[t]:.0e}")
    ours.append((t, os.path.getsize(out), k_w, k_all, r, r2))
print("# --quantize (searched)  bytes   KL(orig||dequant)  KL(orig||denoise)  rel exact  rel int8")
for t, n, a, b, r1, r2 in ours:
    print(f"# {t:7s}             {n:8d}   {a:16.3e}  {b:17.3e}  {r1:9.1e}  {r2:8.1e}")

# Row lengths that are not a multiple of a type's block (the bundled model's d 384 and FFN 1152
# are not multiples of 256): those matrices fall back as llama-quantize's
# convert_incompatible_tensor does (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, then F16 when not a
# multiple of 32 either); the head is Q6_K for q4_k_m / q4_0 / q5_0 / q5_1 (llama-quant.cpp's
# head rule), so Q8_0 here; one note on stderr; the file reads back and gives the reference's
# logits. Here d 96 and FFN 80 (ffn_down: F16). use_more_bits(i, 2) picks layer 1 only.
CKF = os.path.join(TMP, "ckf")
subprocess.run([sys.executable, os.path.join(ROOT, "tests/fixtures/make_tiny_ckpt.py"), CKF, "--custom",
                "d_model=96,n_layers=2,n_heads=2,n_kv_heads=2,mlp_hidden_size=80,vocab_size=300",
                "--dtype", "f32", "--seed", "6"], check=True)
fcfg, fW = ref.load(CKF)
for t in ["q4_k_m", "q5_k_m", "q4_0", "q5_1"]:
    out = os.path.join(TMP, f"fallback-{t}.gguf")
    p = subprocess.run([tool("denoise"), "--model", CKF, "--quantize", t, out], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = p.stderr.decode()
    if not check(p.returncode == 0 and os.path.exists(out), f"fallback: --quantize {t} of d 96 / FFN 80", err[:300]):
        continue
    nmat = 7 * fcfg["n_layers"] + 2
    kq = t.endswith("_k_m")
    nfb = nmat if kq else fcfg["n_layers"] + 1      # q4_0 / q5_1: ffn_down (80 columns) and the Q6_K head
    check(err.count("\n") == 1 and err.startswith(f"denoise: {nfb} matrices have rows that are not a multiple of the {t} block"),
          f"fallback: --quantize {t}: one note naming the {nfb} matrices", err)
    kvs, tens, deq, worst = decode_ours(out, fcfg, fW)
    types = {g: tn for g, (tn, _, _) in tens.items()}
    base = {"q4_k_m": "q5_0", "q5_k_m": "q5_1"}.get(t, t)
    want = {g: ("f32" if g.endswith("norm.weight") else "f16" if ".ffn_down." in g else
                "q8_0" if g == "output.weight" or (kq and g == "blk.1.attn_v.weight") else base) for g in types}
    check(types == want and kvs["general.file_type"] == FTYPE[t],
          f"fallback: --quantize {t}: F16 for the 80-wide ffn_down, Q8_0 for the head"
          f"{' and layer 1 attn_v' if kq else ''}, {want['token_embd.weight']} elsewhere, file_type {FTYPE[t]}",
          sorted(g for g in types if types[g] != want[g]))
    x = rng.integers(0, fcfg["vocab_size"], size=16)
    r = rel(logits(out, x, {"LLADA_QMATMUL": "f32"}), ref.forward(fcfg, deq, x[None])[0])
    check(worst <= 0.2 and r <= 1e-4, f"fallback: --quantize {t}: logits vs reference on numpy's decoding (rel {r:.1e}, worst weight {worst:.3f})")

# llama-quantize's own fallback for K-quant rows that 256 does not divide: Q4_K -> Q5_0, Q5_K -> Q5_1,
# Q6_K -> Q8_0 (gguf_writer.tensor_type; the bundled model's 384 / 1152 are such rows). Here d 160,
# FFN 288: Q4_K_M / Q5_K_M files of nothing but Q5_0 or Q5_1 + Q8_0, and pure Q4_K / Q5_K ones.
CKL = os.path.join(TMP, "ckl")
subprocess.run([sys.executable, os.path.join(ROOT, "tests/fixtures/make_tiny_ckpt.py"), CKL, "--custom",
                "d_model=160,n_layers=2,n_heads=2,n_kv_heads=1,mlp_hidden_size=288,vocab_size=300",
                "--dtype", "f32", "--seed", "7"], check=True)
lcfg, lW = ref.load(CKL)
x = rng.integers(0, lcfg["vocab_size"], size=20)
x[[2, 5, 11]] = lcfg["mask_token_id"]
lorig = ref.forward(lcfg, lW, x[None])[0]
for t, want_types in [("q4_k_m", {"q5_0", "q8_0", "f32"}), ("q5_k_m", {"q5_1", "q8_0", "f32"}),
                      ("q4_k", {"q5_0", "f32"}), ("q5_k", {"q5_1", "f32"})]:
    path = os.path.join(TMP, f"lq-{t}.gguf")
    deq = gw.llada_to_gguf(lcfg, lW, path, t)
    kinds = {tn for tn, _, _ in gw.read(path)[1].values()}
    want = ref.forward(lcfg, deq, x[None])[0]
    try:
        exact, fast = logits(path, x, {"LLADA_QMATMUL": "f32"}), logits(path, x)
    except RuntimeError as e:
        check(False, f"llama-quantize-style {t} (d 160, FFN 288): denoise --logits", e)
        continue
    r1, r2, k2 = rel(exact, want), rel(fast, want), kl(want, fast)
    check(kinds == want_types and r1 <= 1e-4,
          f"llama-quantize-style {t} with its fallback ({'/'.join(sorted(kinds))}): exact product vs numpy's "
          f"dequantised reference (rel {r1:.1e} <= 1e-4)")
    check(r2 <= 3e-2 and k2 <= 1e-3, f"llama-quantize-style {t}: int8 kernels vs the same reference "
                                     f"(rel {r2:.1e} <= 3e-2, KL {k2:.1e} <= 1e-3)")
    print(f"# llama-quantize-style {t}: KL(f32 original || dequantised) {kl(lorig, want):.3e}, || denoise {kl(lorig, fast):.3e}")

p = subprocess.run([tool("denoise"), "--model", CK, "--quantize", "q4_1", os.path.join(TMP, "x.gguf")], stderr=subprocess.PIPE)
check(p.returncode == 2 and b"unknown type" in p.stderr, "--quantize with an unknown type: usage error (exit 2)")
p = subprocess.run([tool("denoise"), "--model", CK, "--quantize", "q8_0"], stderr=subprocess.PIPE)
check(p.returncode == 2, "--quantize without an output file: usage error (exit 2)")
p = subprocess.run([tool("denoise"), "--model", CK, "--quantize", "q8_0", os.path.join(TMP, "no/such/dir.gguf")], stderr=subprocess.PIPE)
check(p.returncode == 3 and p.stderr.decode().count("\n") == 1, "--quantize to an unwritable path: I/O error (exit 3), one line")
p = subprocess.run([tool("denoise"), "--model", CK, "--quantize", "q8_0", "--quantize-method", "best", os.path.join(TMP, "x.gguf")],
                   stderr=subprocess.PIPE)
check(p.returncode == 2 and b"unknown method" in p.stderr, "--quantize-method with an unknown method: usage error (exit 2)")


# --quantize-method search (the default) against rtn: numpy decodes both files (gguf_writer's
# dequantiser, written from the format description), and on every block the searched file's
# squared error against the original weights (our F32 file: same names and row order) is <= round
# to nearest's, with a lower total; on this random checkpoint and on the bundled model's trained
# weights.
def quantized(folder, t, method):
    out = os.path.join(TMP, f"m-{os.path.basename(folder)}-{t}-{method}.gguf")
    p = subprocess.run([tool("denoise"), "--model", folder, "--quantize", t, "--quantize-method", method, out],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode:
        raise RuntimeError(p.stderr.decode()[:300])
    return gw.read(out)[1]


# (The bundled model's rows, 384 and 1152 long, fit only the 32-blocks: its K-quant files are the
# fallback above's Q5_0 / Q5_1 / Q8_0, so it checks the 32-block types.)
for label, folder, types in [("random checkpoint", CK, ["q4_k", "q5_k", "q6_k", "q4_0", "q8_0", "q5_0", "q5_1"]),
                             ("bundled model", os.path.join(ROOT, "models", "default"), ["q4_0", "q8_0", "q5_0", "q5_1"])]:
    orig = {g: gw.dequantize(b, tn, sh) for g, (tn, sh, b) in quantized(folder, "f32", "rtn").items()}
    for t in types:
        rt, se = quantized(folder, t, "rtn"), quantized(folder, t, "search")
        worse = nblk = 0
        er = es = 0.0
        for g, (tn, sh, b) in se.items():
            if tn == "f32":
                continue
            blk = gw.BLOCK[tn][0]    # the tensor's own type (the head of q4_0 / q5_0 / q5_1 is Q6_K)
            x = orig[g].astype(np.float64).reshape(-1, blk)
            r = ((gw.dequantize(rt[g][2], tn, sh).astype(np.float64).reshape(-1, blk) - x) ** 2).sum(1)
            s_ = ((gw.dequantize(b, tn, sh).astype(np.float64).reshape(-1, blk) - x) ** 2).sum(1)
            worse += int((s_ > r).sum())
            nblk += len(r)
            er += r.sum()
            es += s_.sum()
        check(nblk > 0 and worse == 0 and es < 0.97 * er,
              f"{label}, {t}: searched scales no worse than round to nearest on all {nblk} blocks "
              f"({worse} worse), total squared error x{es / max(er, 1e-300):.3f}")


# damaged files: exit 1, one line "denoise: error: ..."
def bad(name, data, want):
    path = os.path.join(TMP, name + ".gguf")
    open(path, "wb").write(data)
    rec = msgpack.packb({"kind": "tokens", "tokens": arr(toks)}, use_bin_type=True)
    p = subprocess.run([tool("denoise"), "--logits", "--model", path], input=rec, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = p.stderr.decode()
    check(p.returncode == 1 and err.count("\n") == 1 and err.startswith("denoise: error: ") and want in err,
          f"damaged file: {name} -> exit 1, one line naming '{want}'", f"exit {p.returncode}: {err!r}")


bad("truncated", raw[:len(raw) - 100], "beyond the end of the file")
bad("header_cut", raw[:700], "truncated")
bad("magic", b"GGUX" + raw[4:], "not a GGUF file")
bad("version1", raw[:4] + struct.pack("<I", 1) + raw[8:], "version 1")
bad("bigendian", raw[:4] + struct.pack(">I", 3) + raw[8:], "big-endian")
bad("count", raw[:8] + struct.pack("<Q", 1 << 40) + raw[16:], "cannot fit")
arch = bytearray(raw)
i = arch.find(b"llada", 0, 200)
arch[i:i + 5] = b"llama"
bad("arch", bytes(arch), "architecture \"llama\" is not supported")
# a tensor offset moved off the alignment
i = raw.find(b"token_embd.weight") + len(b"token_embd.weight")
mis = bytearray(raw)
nd = struct.unpack_from("<I", mis, i)[0]
off_at = i + 4 + 8 * nd + 4
struct.pack_into("<Q", mis, off_at, struct.unpack_from("<Q", mis, off_at)[0] + 2)
bad("misaligned", bytes(mis), "not a multiple of the alignment")
ty = bytearray(raw)
struct.pack_into("<I", ty, i + 4 + 8 * nd, 99)
bad("type", bytes(ty), "unknown ggml type 99")
ty5 = bytearray(raw)
struct.pack_into("<I", ty5, i + 4 + 8 * nd, 3)   # Q4_1: known size (20 B per 32), not supported
bad("q4_1", bytes(ty5), "Q4_1")

shutil.rmtree(TMP)
summary()
