#!/usr/bin/env python3
"""llamacpp_check.py FOLDER LQ.gguf [ORIG.gguf] — a GGUF file quantised by llama.cpp's own
llama-quantize (from our F32/F16 GGUF of the LLaDA safetensors FOLDER) read by this engine:
`denoise --logits --model LQ.gguf` with the exact product (LLADA_QMATMUL=f32) against the numpy
forward (tests/py/ref_llada.py) on the weights the file holds, decoded by numpy
(tests/fixtures/gguf_writer.py: Q8_0 / Q4_0 / Q5_0 / Q5_1 / Q4_K / Q5_K / Q6_K / F16 / F32 as the format describes,
Q/K rows un-permuted), and with the default int8 kernels; the KL against the f32 original.
Prints one line per check ("ok - ..." / "not ok - ...") and the tensor types llama-quantize chose;
exit 1 when a check fails. Run by bench/llamacpp.sh."""
import os, subprocess, sys
import numpy as np
import msgpack

root = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(root, "tests", "py"))
sys.path.insert(0, os.path.join(root, "tests", "fixtures"))
import ref_llada as ref
import gguf_writer as gw

folder, lq = sys.argv[1], sys.argv[2]
denoise = os.path.join(os.environ.get("LLADA_BIN", os.path.join(root, "bin")), "denoise")
cfg, W = ref.load(folder)
kvs, tens = gw.read(lq)
types = {}
for g, (tn, _, _) in tens.items():
    types[tn] = types.get(tn, 0) + 1
print(f"# {os.path.basename(lq)}: general.file_type {kvs.get('general.file_type')}, tensor types "
      + ", ".join(f"{k} x{v}" for k, v in sorted(types.items())))
rev = {v: k for k, v in gw.NAMES.items()}
deq = {}
for g, (tn, shape, blob) in tens.items():
    w = gw.dequantize(blob, tn, shape)
    if ".attn_q." in g or ".attn_k." in g:
        heads = cfg["n_heads"] if ".attn_q." in g else (cfg.get("n_kv_heads") or cfg["n_heads"])
        w = w.reshape(heads, shape[0] // heads // 2, 2, -1).swapaxes(1, 2).reshape(shape)
    top = {"token_embd.weight": "model.transformer.wte.weight", "output_norm.weight": "model.transformer.ln_f.weight",
           "output.weight": "model.transformer.ff_out.weight"}
    deq[top[g] if g in top else f"model.transformer.blocks.{g.split('.')[1]}.{rev[g.split('.')[2]]}.weight"] = w


def logits(model, toks, env=None):
    a = np.asarray(toks, "<i4")
    rec = msgpack.packb({"kind": "tokens", "tokens": {"dtype": "i4", "shape": list(a.shape), "data": a.tobytes()}},
                        use_bin_type=True)
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([denoise, "--logits", "--model", model], input=rec, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)
    if p.returncode:
        raise RuntimeError(p.stderr.decode()[:300])
    up = msgpack.Unpacker(raw=False)
    up.feed(p.stdout)
    r = [x for x in up if x.get("kind") != "end"][0]["logits"]
    return np.frombuffer(r["data"], "<f4").reshape(r["shape"]).astype(np.float64)


def kl(p, q):
    lp = p - p.max(-1, keepdims=True)
    lp -= np.log(np.exp(lp).sum(-1, keepdims=True))
    lq = q - q.max(-1, keepdims=True)
    lq -= np.log(np.exp(lq).sum(-1, keepdims=True))
    return float((np.exp(lp) * (lp - lq)).sum(-1).mean())


fails = 0


def check(ok, what):
    global fails
    fails += not ok
    print(("ok - " if ok else "not ok - ") + what)


rng = np.random.default_rng(7)
toks = rng.integers(0, cfg["vocab_size"], size=32)
toks[[3, 9, 10, 30]] = cfg["mask_token_id"]
check(set(deq) == set(W), "every tensor of the original, once")
want = ref.forward(cfg, deq, toks[None])[0]
orig = ref.forward(cfg, W, toks[None])[0]
try:
    exact = logits(lq, toks, {"LLADA_QMATMUL": "f32"})
    fast = logits(lq, toks)
except RuntimeError as e:
    check(False, f"denoise --logits --model {os.path.basename(lq)}: {e}")
    sys.exit(1)
rel = lambda a, b: float(np.abs(a - b).max() / np.abs(b).max())
check(rel(exact, want) <= 1e-4, f"logits, exact product, vs numpy on the file's dequantised weights: rel {rel(exact, want):.1e} (<= 1e-4)")
check(rel(fast, want) <= 3e-2, f"logits, int8 kernels, vs the same: rel {rel(fast, want):.1e} (<= 3e-2), KL {kl(want, fast):.1e}")
print(f"# KL(f32 original || llama-quantize's weights) {kl(orig, want):.2e}; || denoise (int8 kernels) {kl(orig, fast):.2e}")
if len(sys.argv) > 3:
    ours = logits(sys.argv[3], toks, {"LLADA_QMATMUL": "f32"})
    print(f"# KL(f32 original || our --quantize file of the same type) {kl(orig, ours):.2e}")
sys.exit(1 if fails else 0)
