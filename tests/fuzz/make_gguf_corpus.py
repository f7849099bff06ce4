#!/usr/bin/env python3
"""make_gguf_corpus.py OUTDIR — the seed corpus of fuzz_gguf: tiny LLaDA GGUF files (1 layer,
d 32, GQA 2/1 heads, ffn 64, vocab 40) in F32, Q8_0 and Q4_0 (Q/K permuted as llama.cpp's
converter does), one with tied embeddings and general.alignment 64, and a metadata-only file
with every value type and tokenizer-like arrays; a tiny Dream (q/k/v biases) and a tiny
LLaDA-MoE (4 experts stacked into 3-D tensors, QK-norm, shared expert, expert bias) in F32; a
tiny LLaDA 2.x (llada2, d 8: fused attn_qkv, a dense and a MoE layer, 4 sigmoid-routed experts in 2
groups, shared expert) in F32; Q5_K tensors (a d-256 LLaDA's metadata with only the embedding,
output norm and layer 0's K / V projections, in Q5_K, K rows permuted: what the fuzzer reaches —
reader, config, lookups — without a whole 256-wide model, so the seed stays under -max_len).
Written by tests/fixtures/gguf_writer.py."""
import os, sys
import numpy as np
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fixtures"))
import gguf_writer as gw
import make_tiny_llada2

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(1)
d, H, KV, F, V = 32, 2, 1, 64, 40
cfg = dict(d_model=d, n_heads=H, n_kv_heads=KV, n_layers=1, mlp_hidden_size=F, vocab_size=V,
           max_sequence_length=64, rope_theta=10000.0, rms_norm_eps=1e-5, mask_token_id=39,
           eos_token_id=38, pad_token_id=38, bos_token_id=37)
p = "model.transformer."
W = {p + "wte.weight": rng.standard_normal((V, d)), p + "ln_f.weight": np.ones(d),
     p + "ff_out.weight": rng.standard_normal((V, d))}
b = p + "blocks.0."
for k, s in [("attn_norm", (d,)), ("q_proj", (d, d)), ("k_proj", (d // H * KV, d)), ("v_proj", (d // H * KV, d)),
             ("attn_out", (d, d)), ("ff_norm", (d,)), ("ff_proj", (F, d)), ("up_proj", (F, d)), ("ff_out", (d, F))]:
    W[b + k + ".weight"] = rng.standard_normal(s) * 0.2
for t in ("f32", "q8_0", "q4_0"):
    gw.llada_to_gguf(cfg, W, os.path.join(out, f"tiny-{t}.gguf"), t)
tied = {k: v for k, v in W.items() if k != p + "ff_out.weight"}
gw.llada_to_gguf(dict(cfg, weight_tying=True), tied, os.path.join(out, "tied-al64.gguf"), "q8_0", alignment=64)
kvs = [("general.architecture", gw.STRING, "llada"), ("u8", gw.U8, 7), ("i8", gw.I8, -7), ("u16", gw.U16, 700),
       ("i16", gw.I16, -700), ("u32", gw.U32, 70000), ("i32", gw.I32, -70000), ("f32", gw.F32, 0.5),
       ("bool", gw.BOOL, True), ("u64", gw.U64, 1 << 40), ("i64", gw.I64, -(1 << 40)), ("f64", gw.F64, 0.25),
       ("tokenizer.ggml.tokens", gw.ARRAY, (gw.STRING, ["a", "b", "ab", "<|mdm_mask|>"])),
       ("tokenizer.ggml.token_type", gw.ARRAY, (gw.I32, [1, 1, 1, 3])),
       ("tokenizer.ggml.merges", gw.ARRAY, (gw.STRING, ["a b"])),
       ("tokenizer.ggml.scores", gw.ARRAY, (gw.F32, [0.0, -1.0, -2.0, 0.0]))]
gw.write(os.path.join(out, "meta-only.gguf"), kvs, [])

# Dream and LLaDA-MoE (gguf_writer.qwen_to_gguf: llama.cpp's converter layout), 1 layer, d 32
Fe, E = 16, 4
qc = {"hidden_size": d, "num_attention_heads": H, "num_key_value_heads": KV, "num_hidden_layers": 1,
      "intermediate_size": F, "vocab_size": V, "max_position_embeddings": 64, "rope_theta": 10000.0,
      "rms_norm_eps": 1e-6, "mask_token_id": 39, "eos_token_id": 38, "pad_token_id": 38, "bos_token_id": 37}
q = "model.layers.0."
QW = {"model.embed_tokens.weight": rng.standard_normal((V, d)), "model.norm.weight": np.ones(d),
      "lm_head.weight": rng.standard_normal((V, d)) * 0.2, q + "input_layernorm.weight": np.ones(d),
      q + "post_attention_layernorm.weight": np.ones(d),
      q + "self_attn.q_proj.weight": rng.standard_normal((d, d)) * 0.2,
      q + "self_attn.k_proj.weight": rng.standard_normal((d // H * KV, d)) * 0.2,
      q + "self_attn.v_proj.weight": rng.standard_normal((d // H * KV, d)) * 0.2,
      q + "self_attn.o_proj.weight": rng.standard_normal((d, d)) * 0.2}
DW = dict(QW, **{q + "self_attn.q_proj.bias": rng.standard_normal(d) * 0.1,
                 q + "self_attn.k_proj.bias": rng.standard_normal(d // H * KV) * 0.1,
                 q + "self_attn.v_proj.bias": rng.standard_normal(d // H * KV) * 0.1,
                 q + "mlp.gate_proj.weight": rng.standard_normal((F, d)) * 0.2,
                 q + "mlp.up_proj.weight": rng.standard_normal((F, d)) * 0.2,
                 q + "mlp.down_proj.weight": rng.standard_normal((d, F)) * 0.2})
gw.qwen_to_gguf("dream", qc, DW, os.path.join(out, "tiny-dream-f32.gguf"), "f32")
MW = dict(QW, **{q + "self_attn.q_norm.weight": np.ones(d // H), q + "self_attn.k_norm.weight": np.ones(d // H),
                 q + "mlp.gate.weight": rng.standard_normal((E, d)) * 0.2, q + "mlp.expert_bias": np.zeros(E),
                 q + "shared_expert.gate_proj.weight": rng.standard_normal((Fe, d)) * 0.2,
                 q + "shared_expert.up_proj.weight": rng.standard_normal((Fe, d)) * 0.2,
                 q + "shared_expert.down_proj.weight": rng.standard_normal((d, Fe)) * 0.2})
for x in range(E):
    for m, s in (("gate_proj", (Fe, d)), ("up_proj", (Fe, d)), ("down_proj", (d, Fe))):
        MW[f"{q}mlp.experts.{x}.{m}.weight"] = rng.standard_normal(s) * 0.2
mc = dict(qc, num_experts=E, num_experts_per_tok=2, expert_intermediate_size=Fe, intermediate_size=None)
gw.qwen_to_gguf("llada-moe", mc, MW, os.path.join(out, "tiny-moe-f32.gguf"), "f32")

# LLaDA 2.x (gguf_writer.llada2_to_gguf: llama.cpp PR #17454's converter layout), d 8, F32
lp = dict(d=8, layers=2, H=2, KV=1, hd=4, E=4, G=2, TG=1, k=2, Fe=4, S=1, Fd=8, first=1, V=8, use_bias=False)
gw.llada2_to_gguf(make_tiny_llada2.llada2_config(lp), dict(make_tiny_llada2.tensor_list(lp, rng)),
                  os.path.join(out, "tiny-llada2-f32.gguf"), "f32")

# Q5_K: a d-256 LLaDA (16 heads of 16, one KV head), only the tensors kept below written
d5, F5, V5 = 256, 256, 4
c5 = dict(cfg, d_model=d5, n_heads=16, n_kv_heads=1, mlp_hidden_size=F5, vocab_size=V5, mask_token_id=3,
          eos_token_id=2, pad_token_id=2, bos_token_id=1)
W5 = {p + "wte.weight": rng.standard_normal((V5, d5)), p + "ln_f.weight": np.ones(d5),
      p + "ff_out.weight": rng.standard_normal((V5, d5))}
for k, s in [("attn_norm", (d5,)), ("q_proj", (d5, d5)), ("k_proj", (16, d5)), ("v_proj", (16, d5)),
             ("attn_out", (d5, d5)), ("ff_norm", (d5,)), ("ff_proj", (F5, d5)), ("up_proj", (F5, d5)),
             ("ff_out", (d5, F5))]:
    W5[b + k + ".weight"] = rng.standard_normal(s) * 0.2
keep = {"token_embd.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight", "output_norm.weight"}
write0 = gw.write
gw.write = lambda path, kvs, tensors, alignment=32: write0(path, kvs, [x for x in tensors if x[0] in keep], alignment)
try:
    gw.llada_to_gguf(c5, W5, os.path.join(out, "q5_k-kv.gguf"), "q5_k")
finally:
    gw.write = write0
