#!/usr/bin/env bash
# bench/llada2_real_shapes.sh — a LLaDA2.0-mini-shaped load: the published config.json (hidden
# 2048, 16/4 heads of 128, vocabulary 157184, 256 experts of 512 in 8 groups, top-8 of 4
# groups, a shared expert, layer 0 dense with FFN 5120) cut to 2 layers (one dense, one MoE),
# random bf16 weights in 2 shards (2.9 GB, written streaming), the Ling ids left to their
# defaults. Then: denoise --logits on 40 tokens (time, peak RSS: the weights are mapped, not
# copied), and 64 generated tokens with the block cache and with full recompute (time, same
# tokens). Wall time. Needs ~3 GB of disk under $TMPDIR. One thread.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
: "${LLADA_BIN:=$root/bin}"
: "${PYTHON:=/usr/bin/python3}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PYTHON" - "$tmp/m" <<'PY'
import json, os, struct, sys
import numpy as np
out = sys.argv[1]
os.makedirs(out)
d, H, KV, hd, V, E, Fe, Fd = 2048, 16, 4, 128, 157184, 256, 512, 5120
cfg = {"architectures": ["LLaDA2MoeModelLM"], "model_type": "llada2_moe", "first_k_dense_replace": 1,
       "head_dim": hd, "hidden_act": "silu", "hidden_size": d, "intermediate_size": Fd,
       "max_position_embeddings": 32768, "moe_intermediate_size": Fe, "n_group": 8, "norm_head": False,
       "norm_topk_prob": True, "num_attention_heads": H, "num_experts": E, "num_experts_per_tok": 8,
       "num_hidden_layers": 2, "num_key_value_heads": KV, "num_shared_experts": 1, "pad_token_id": 156892,
       "partial_rotary_factor": 0.5, "rms_norm_eps": 1e-06, "rope_theta": 600000, "rotary_dim": 64,
       "routed_scaling_factor": 2.5, "score_function": "sigmoid", "tie_word_embeddings": False, "topk_group": 4,
       "use_bias": False, "use_qkv_bias": False, "use_qk_norm": True, "vocab_size": V}
json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=2)
T = []   # (name, shape, std, shard)
T.append(("model.word_embeddings.weight", (V, d), 1.0, 0))
for l in range(2):
    b = f"model.layers.{l}."
    T += [(b + "input_layernorm.weight", (d,), None, l), (b + "attention.query_key_value.weight", ((H + 2 * KV) * hd, d), d ** -0.5, l),
          (b + "attention.query_layernorm.weight", (hd,), None, l), (b + "attention.key_layernorm.weight", (hd,), None, l),
          (b + "attention.dense.weight", (d, H * hd), (H * hd) ** -0.5, l), (b + "post_attention_layernorm.weight", (d,), None, l)]
    mlp = lambda p, F: [(p + "gate_proj.weight", (F, d), d ** -0.5, l), (p + "up_proj.weight", (F, d), d ** -0.5, l),
                        (p + "down_proj.weight", (d, F), F ** -0.5, l)]
    if l == 0:
        T += mlp(b + "mlp.", Fd)
    else:
        T += [(b + "mlp.gate.weight", (E, d), 0.05, l), (b + "mlp.gate.expert_bias", (E,), 0.01, l)]
        for x in range(E):
            T += mlp(b + f"mlp.experts.{x}.", Fe)
        T += mlp(b + "mlp.shared_experts.", Fe)
T += [("model.norm.weight", (d,), None, 1), ("lm_head.weight", (V, d), d ** -0.5, 1)]
rng = np.random.default_rng(7)
names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
for s, fn in enumerate(names):
    mine = [t for t in T if t[3] == s]
    hdr, off = {"__metadata__": {"format": "pt"}}, 0
    for nm, shp, _, _ in mine:
        n = int(np.prod(shp)) * 2
        hdr[nm] = {"dtype": "BF16", "shape": list(shp), "data_offsets": [off, off + n]}
        off += n
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(os.path.join(out, fn), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for nm, shp, std, _ in mine:
            rows = shp[0]
            cols = shp[1] if len(shp) > 1 else 1
            for r0 in range(0, rows, 8192):
                r1 = min(rows, r0 + 8192)
                a = (1.0 + 0.1 * rng.standard_normal((r1 - r0) * cols)) if std is None else rng.standard_normal((r1 - r0) * cols) * std
                f.write((a.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16).tobytes())
json.dump({"metadata": {"total_size": 0}, "weight_map": {t[0]: names[t[3]] for t in T}},
          open(os.path.join(out, "model.safetensors.index.json"), "w"), indent=2)
PY
du -sh "$tmp/m"
LLADA_BIN=$LLADA_BIN "$PYTHON" - "$tmp/m" <<'PY'
import msgpack, numpy as np, os, resource, subprocess, sys, time
model, den = sys.argv[1], os.path.join(os.environ["LLADA_BIN"], "denoise")
def rec(n):
    return msgpack.packb({"kind": "tokens", "tokens": {"dtype": "i4", "shape": [n],
                          "data": np.arange(1000, 1000 + n, dtype="<i4").tobytes()}}, use_bin_type=True)
def run(args, inp):
    t = time.time()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", den, "--model", model, "--threads", "1"] + args, input=inp,
                       capture_output=True)
    if p.returncode:
        sys.exit(f"denoise {args}: {p.stderr.decode()}")
    up = msgpack.Unpacker(raw=False); up.feed(p.stdout)
    r = [x for x in up if x.get("kind") != "end"][0]
    return time.time() - t, int(p.stderr.decode().split()[-1]) // 1024, r
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"# {cpu}, 1 thread")
t, rss, r = run(["--logits"], rec(40))
lg = np.frombuffer(r["logits"]["data"], dtype="<f4").reshape(r["logits"]["shape"])
print(f"--logits 40 tokens: shape {list(lg.shape)}, finite {bool(np.isfinite(lg).all())}, {t:.1f} s, peak RSS {rss} MB")
tc, rc_, a = run(["--gen-length", "64"], rec(20))
tf, rf, b = run(["--gen-length", "64", "--no-block-cache"], rec(20))
same = a["tokens"]["data"] == b["tokens"]["data"] and a["reveal_step"]["data"] == b["reveal_step"]["data"]
print(f"generate 64 after 20 (2.0 default, dynamic:0.95, 32 steps/block): block cache {tc:.1f} s (RSS {rc_} MB, "
      f"nfe {a['nfe']}), full recompute {tf:.1f} s (RSS {rf} MB); same tokens and steps: {same}")
PY
