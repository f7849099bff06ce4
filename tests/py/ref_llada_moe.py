"""ref_llada_moe.py — independent numpy reference of LLaDA-MoE's forward pass (llada.md §4.3;
the published OLMoE-derived modeling code's behaviour), float64 from the stored weights,
written from that description, not from the C code.

Per layer: RMSNorm; q, k, v (+ biases with attention_bias); per-head RMSNorm of q and k over
head_dim with their own weights (qk_layernorm); clamp to ±clip_qkv; half-split RoPE at
positions 0..T-1; GQA bidirectional attention (padding hidden as keys); o_proj (+ bias) +
residual; RMSNorm; FFN + residual, where the FFN of a layer with moe_layer_freq != 0 is
    p = softmax(x · gateᵀ) over the experts (+ expert_bias); top-k experts by that value;
    y = Σ_k p_k · SwiGLU_k(x)   (no renormalisation, no scaling)   (+ SwiGLU_shared(x))
and of the others a dense SwiGLU. Final RMSNorm, lm_head (or the tied embedding). The
sampler is LLaDA's (ref_llada.generate with this forward).
"""
import numpy as np
import ref_llada

load = ref_llada.load


def _rms(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def _swiglu(x, W, prefix):
    g = x @ W[prefix + "gate_proj.weight"].T
    u = x @ W[prefix + "up_proj.weight"].T
    return ((g / (1.0 + np.exp(-g))) * u) @ W[prefix + "down_proj.weight"].T


def moe(cfg, W, b, x):
    """x (N, d) -> (N, d): the sparse MoE FFN of layer prefix b (+ its shared expert)."""
    E, K = cfg["num_experts"], cfg["num_experts_per_tok"]
    lg = x @ W[b + "mlp.gate.weight"].T
    p = np.exp(lg - lg.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    if cfg.get("moe_router_enable_expert_bias"):
        p = p + W[b + "mlp.expert_bias"]
    y = np.zeros_like(x)
    for t in range(x.shape[0]):
        top = sorted(range(E), key=lambda e: (-p[t, e], e))[:K]
        for e in top:
            y[t] += p[t, e] * _swiglu(x[t:t + 1], W, b + f"mlp.experts.{e}.")[0]
    if cfg.get("shared_expert_intermediate_size"):
        y = y + _swiglu(x, W, b + "shared_expert.")
    return y


def forward(cfg, W, tokens, attention_mask=None, bf16=False):
    tokens = np.asarray(tokens)
    B, T = tokens.shape
    d, H = cfg["hidden_size"], cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads") or H
    hd = d // H
    eps = cfg.get("rms_norm_eps", 1e-5)
    theta = cfg["rope_theta"]
    bias_on = cfg.get("attention_bias", False)
    clip = cfg.get("clip_qkv")
    kb = 0.0
    if attention_mask is not None and (np.asarray(attention_mask) == 0).any():
        kb = ((1.0 - np.asarray(attention_mask, dtype=np.float64)) * np.finfo(np.float32).min)[:, None, None, :]
    h = W["model.embed_tokens.weight"][tokens]
    for l in range(cfg["num_hidden_layers"]):
        b = f"model.layers.{l}."
        a = _rms(h, W[b + "input_layernorm.weight"], eps)

        def proj(nm):
            y = a @ W[b + f"self_attn.{nm}_proj.weight"].T
            return y + W[b + f"self_attn.{nm}_proj.bias"] if bias_on else y

        q, k, v = proj("q").reshape(B, T, H, hd), proj("k").reshape(B, T, KV, hd), proj("v").reshape(B, T, KV, hd)
        if cfg.get("qk_layernorm"):
            q = _rms(q, W[b + "self_attn.q_norm.weight"], eps)
            k = _rms(k, W[b + "self_attn.k_norm.weight"], eps)
        if clip:
            q, k, v = np.clip(q, -clip, clip), np.clip(k, -clip, clip), np.clip(v, -clip, clip)
        q, k, v = (z.transpose(0, 2, 1, 3) for z in (q, k, v))
        q, k = ref_llada._rope(q, theta), ref_llada._rope(k, theta)
        k = np.repeat(k, H // KV, axis=1)
        v = np.repeat(v, H // KV, axis=1)
        s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd) + kb
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        att = (s @ v).transpose(0, 2, 1, 3).reshape(B, T, H * hd)
        o = att @ W[b + "self_attn.o_proj.weight"].T
        h = h + (o + W[b + "self_attn.o_proj.bias"] if bias_on else o)
        f = _rms(h, W[b + "post_attention_layernorm.weight"], eps).reshape(B * T, d)
        y = moe(cfg, W, b, f) if cfg["moe_layer_freq"][l] else _swiglu(f, W, b + "mlp.")
        h = h + y.reshape(B, T, d)
    h = _rms(h, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else W["lm_head.weight"]
    return h @ head.T
