#!/usr/bin/env python3
"""pad_model.py IN OUT D HEADS MLP — writes an f32 LLaDA folder that computes the same function as
IN with the hidden size padded to D, extra attention heads (same head size) and a wider MLP, so
that every matrix has a multiple of 256 columns and Q4_K / Q6_K (256-value super-blocks) can
quantise it. For bench/accuracy_gguf.sh: the task model has d 128 / MLP 384, which no k-quant
block fits.

Why it is the same function: the extra hidden columns start at 0 (zero embedding columns) and
stay 0 (zero output rows in attn_out and ff_out); the extra heads have zero Q/K/V rows, so they
attend uniformly to zero values, and zero attn_out columns; the extra MLP units have zero gate
and up rows (silu(0)·0 = 0) and zero ff_out columns. RMSNorm over D instead of d: with the real
part x, mean(x²) over D is (d/D)·mean over d, so the norm weights are scaled by sqrt(d/D) and
eps by d/D — then x·w/sqrt(mean+eps) is unchanged. Only float summation order differs.
Reads and writes safetensors with numpy (F32 only)."""
import json, os, shutil, struct, sys
import numpy as np

src, out, D, H2, F2 = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
cfg = json.load(open(os.path.join(src, "config.json")))
d, H, F = cfg["d_model"], cfg["n_heads"], cfg["mlp_hidden_size"]
hd = d // H
if cfg.get("n_kv_heads", H) != H or D < d or H2 < H or F2 < F or D != H2 * hd:
    sys.exit(f"pad_model: error: cannot pad d {d}/{H} heads/MLP {F} to {D}/{H2}/{F2} (head size {hd}, no GQA)")
with open(os.path.join(src, "model.safetensors"), "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    hdr = json.loads(f.read(n))
    body = f.read()
W = {}
for k, v in hdr.items():
    if k == "__metadata__":
        continue
    if v["dtype"] != "F32":
        sys.exit(f"pad_model: error: {k}: dtype {v['dtype']}, want F32")
    a, b = v["data_offsets"]
    W[k] = np.frombuffer(body[a:b], dtype="<f4").reshape(v["shape"])


def pad(a, shape):
    z = np.zeros(shape, dtype=np.float32)
    z[tuple(slice(0, s) for s in a.shape)] = a
    return z


s = np.float32(np.sqrt(d / D))
P = {}
for k, a in W.items():
    t = k.rsplit(".", 2)[-2]
    if t in ("attn_norm", "ff_norm", "ln_f"):
        P[k] = pad(a * s, (D,))
    elif t in ("wte", "ff_out") and a.shape[0] == cfg["embedding_size"]:
        P[k] = pad(a, (a.shape[0], D))          # embedding / LM head: vocab rows, hidden columns
    elif t in ("q_proj", "k_proj", "v_proj", "attn_out"):
        P[k] = pad(a, (D, D))                    # heads are contiguous row groups of hd
    elif t in ("ff_proj", "up_proj"):
        P[k] = pad(a, (F2, D))
    elif t == "ff_out":
        P[k] = pad(a, (D, F2))
    else:
        sys.exit(f"pad_model: error: unknown tensor {k}")
os.makedirs(out, exist_ok=True)
header, off = {"__metadata__": {"format": "pt"}}, 0
for k, a in P.items():
    header[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
    off += a.nbytes
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
with open(os.path.join(out, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    for a in P.values():
        f.write(a.tobytes())
cfg.update(d_model=D, n_heads=H2, n_kv_heads=H2, mlp_hidden_size=F2, mlp_ratio=F2 // D,
           rms_norm_eps=cfg.get("rms_norm_eps", 1e-5) * d / D)
json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=2)
for extra in ("tokenizer.json", "tokenizer_config.json"):
    if os.path.exists(os.path.join(src, extra)):
        shutil.copy(os.path.join(src, extra), out)
