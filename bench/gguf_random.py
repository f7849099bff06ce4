#!/usr/bin/env python3
"""gguf_random.py OUT.gguf TYPE LAYERS VOCAB — a random-weight LLaDA-8B-shaped GGUF file (d 4096,
32 heads, FFN 12288) with LAYERS layers and VOCAB rows, for benchmarks and memory checks: every
matrix in TYPE (f32, bf16, q8_0, q4_k, q4_k_m: Q6_K for attn_v, ffn_down, output), blocks with
random quants and small valid scales (no quantiser run: an 8B file takes seconds), vectors F32
ones. Written tensor by tensor through tests/fixtures/gguf_writer.py's layout."""
import os, struct, sys
import numpy as np
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures"))
import gguf_writer as gw

out, qtype, layers, vocab = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
d, H, F = 4096, 32, 12288
rng = np.random.default_rng(0)


def blob(t, rows, cols):
    n = rows * cols
    if t == "f32":
        return (rng.standard_normal(n, np.float32) * 0.02).astype("<f4").tobytes()
    if t == "bf16":
        return ((rng.standard_normal(n, np.float32) * 0.02).view(np.uint32) >> 16).astype("<u2").tobytes()
    blk, bb = gw.BLOCK[t]
    nb = n // blk
    raw = rng.integers(0, 256, size=(nb, bb), dtype=np.uint8)
    h = lambda v: np.frombuffer(np.float16(v).tobytes(), np.uint8)
    if t == "q8_0":
        raw[:, 0:2] = h(0.0002)
    elif t == "q4_k":
        raw[:, 0:2], raw[:, 2:4] = h(0.0003), h(0.0003)
    elif t == "q6_k":
        raw[:, 208:210] = h(0.00002)
    return raw.tobytes()


def ttype(g):
    if qtype == "q4_k_m":
        return "q6_k" if any(s in g for s in ("attn_v", "ffn_down", "output.weight")) else "q4_k"
    return qtype


shapes = [("token_embd.weight", (vocab, d))]
for l in range(layers):
    shapes += [(f"blk.{l}.attn_norm.weight", (d,)), (f"blk.{l}.attn_q.weight", (d, d)), (f"blk.{l}.attn_k.weight", (d, d)),
               (f"blk.{l}.attn_v.weight", (d, d)), (f"blk.{l}.attn_output.weight", (d, d)),
               (f"blk.{l}.ffn_norm.weight", (d,)), (f"blk.{l}.ffn_gate.weight", (F, d)), (f"blk.{l}.ffn_up.weight", (F, d)),
               (f"blk.{l}.ffn_down.weight", (d, F))]
shapes += [("output_norm.weight", (d,)), ("output.weight", (vocab, d))]
kvs = [("general.architecture", gw.STRING, "llada"), ("llada.context_length", gw.U32, 4096),
       ("llada.embedding_length", gw.U32, d), ("llada.block_count", gw.U32, layers),
       ("llada.feed_forward_length", gw.U32, F), ("llada.attention.head_count", gw.U32, H),
       ("llada.attention.head_count_kv", gw.U32, H), ("llada.rope.freq_base", gw.F32, 500000.0),
       ("llada.attention.layer_norm_rms_epsilon", gw.F32, 1e-5),
       ("tokenizer.ggml.mask_token_id", gw.U32, vocab - 1), ("tokenizer.ggml.eos_token_id", gw.U32, vocab - 2)]
types = {g: ("f32" if len(s) == 1 else ttype(g)) for g, s in shapes}
sizes = {g: (int(np.prod(s)) // gw.BLOCK[types[g]][0]) * gw.BLOCK[types[g]][1] for g, s in shapes}
head = b"GGUF" + struct.pack("<IQQ", 3, len(shapes), len(kvs))
head += b"".join(gw._str(k) + struct.pack("<I", vt) + gw._value(vt, v) for k, vt, v in kvs)
off = 0
for g, s in shapes:
    head += gw._str(g) + struct.pack("<I", len(s)) + b"".join(struct.pack("<Q", n) for n in reversed(s))
    head += struct.pack("<IQ", gw.GGML[types[g]], off)
    off += (sizes[g] + 31) // 32 * 32
with open(out + ".tmp", "wb") as f:
    f.write(head + b"\0" * ((32 - len(head) % 32) % 32))
    for g, s in shapes:
        b = np.ones(s[0], "<f4").tobytes() if len(s) == 1 else blob(types[g], s[0], s[1])
        f.write(b + b"\0" * ((32 - len(b) % 32) % 32))
os.replace(out + ".tmp", out)
