#!/usr/bin/env python3
"""mk_shaped.py OUT d_model n_layers n_heads ffn vocab [seed] — a random LLaDA-shaped bf16
checkpoint written tensor by tensor, a slab of rows at a time (an 8B-shaped layer set with
LLaDA-8B's vocabulary is 2.5 GB per layer-and-embeddings and never held in memory whole).
Same config keys and value scales as tests/fixtures/make_tiny_ckpt.py. For bench/fast.sh."""
import json, os, struct, sys
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures"))
from make_tiny_ckpt import llada_config

out, d, nl, H, F, V = sys.argv[1], *map(int, sys.argv[2:7])
seed = int(sys.argv[7]) if len(sys.argv) > 7 else 1
p = dict(d_model=d, n_layers=nl, n_heads=H, n_kv_heads=H, mlp_hidden_size=F, vocab_size=V)
hd = d // H
specs = [("model.transformer.wte.weight", (V, d), 1.0, 0.0)]
for l in range(nl):
    b = f"model.transformer.blocks.{l}."
    specs += [(b + "attn_norm.weight", (d,), 0.1, 1.0), (b + "q_proj.weight", (H * hd, d), d ** -0.5, 0.0),
              (b + "k_proj.weight", (H * hd, d), d ** -0.5, 0.0), (b + "v_proj.weight", (H * hd, d), d ** -0.5, 0.0),
              (b + "attn_out.weight", (d, H * hd), (H * hd) ** -0.5, 0.0), (b + "ff_norm.weight", (d,), 0.1, 1.0),
              (b + "ff_proj.weight", (F, d), d ** -0.5, 0.0), (b + "up_proj.weight", (F, d), d ** -0.5, 0.0),
              (b + "ff_out.weight", (d, F), F ** -0.5, 0.0)]
specs += [("model.transformer.ln_f.weight", (d,), 0.1, 1.0), ("model.transformer.ff_out.weight", (V, d), 2.0 * d ** -0.5, 0.0)]
header, off = {"__metadata__": {"format": "pt"}}, 0
for name, shape, _, _ in specs:
    n = int(np.prod(shape)) * 2
    header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [off, off + n]}
    off += n
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * ((8 - len(h) % 8) % 8)
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(seed)
tmp = os.path.join(out, "model.safetensors.tmp")
with open(tmp, "wb") as f:
    f.write(struct.pack("<Q", len(h)))
    f.write(h)
    for name, shape, std, mean in specs:
        rows, cols = (shape[0], shape[1]) if len(shape) == 2 else (1, shape[0])
        step = max(1, (1 << 22) // cols)
        for r0 in range(0, rows, step):
            a = rng.standard_normal((min(step, rows - r0), cols), dtype=np.float32) * np.float32(std) + np.float32(mean)
            u = a.view(np.uint32)
            f.write(((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2").tobytes())
with open(os.path.join(out, "config.json"), "w") as f:
    json.dump(llada_config(p), f, indent=2)
os.replace(tmp, os.path.join(out, "model.safetensors"))
