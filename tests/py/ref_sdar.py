"""ref_sdar.py — independent numpy reference of SDAR (Qwen3 layout trained for block
diffusion): its forward pass with block-causal attention and a port of SDAR's
block_diffusion_generate (JetAstra/SDAR generate.py), written from their description, not
from the C code.

Forward (float64): embed; per layer RMSNorm, q/k/v projections, per-head RMSNorm of q and k
(q_norm / k_norm over head_dim), half-split RoPE at positions 0..T-1, GQA attention where a
query at position p sees keys j with j // block <= p // block, o_proj + residual, RMSNorm,
SwiGLU + residual; final RMSNorm; lm_head (or the tied embedding).

Generation (batch 1): the canvas is prompt + masks rounded up to whole blocks tiled from
position 0; the prompt's full blocks are context; each later block runs up to
denoising_steps + 1 iterations: stop when it has no masks, else take x0 = argmax and its
softmax probability as confidence; quota[step] = block // steps (+1 for the first
block % steps steps); low_confidence_static commits the quota's most confident masks,
low_confidence_dynamic every mask with confidence > threshold when they are at least the
quota, else the quota's most confident. Ties to the lower position. After each block,
generation stops when a stop id (EOS) appears after the prompt. Deliberate differences from
generate.py: greedy (it only samples: temperature 0 divides by zero there), and a quota
larger than the masks left commits only those masks (generate.py's torch.topk then also
picks non-mask positions, in an unspecified order among its -inf ties, and overwrites them).
"""
import numpy as np
import ref_llada

load = ref_llada.load


def _rms(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def forward(cfg, W, tokens):
    tokens = np.asarray(tokens)
    B, T = tokens.shape
    d, H = cfg["hidden_size"], cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads") or H
    hd = cfg.get("head_dim") or d // H
    eps, theta, blk = cfg.get("rms_norm_eps", 1e-6), cfg["rope_theta"], cfg.get("block_size", 4)
    pos = np.arange(T)
    visible = (pos[None, :] // blk) <= (pos[:, None] // blk)
    bias = np.where(visible, 0.0, -np.inf)[None, None]
    h = W["model.embed_tokens.weight"][tokens]
    for l in range(cfg["num_hidden_layers"]):
        b = f"model.layers.{l}."
        a = _rms(h, W[b + "input_layernorm.weight"], eps)
        q = (a @ W[b + "self_attn.q_proj.weight"].T).reshape(B, T, H, hd)
        k = (a @ W[b + "self_attn.k_proj.weight"].T).reshape(B, T, KV, hd)
        v = (a @ W[b + "self_attn.v_proj.weight"].T).reshape(B, T, KV, hd)
        q = _rms(q, W[b + "self_attn.q_norm.weight"], eps).transpose(0, 2, 1, 3)
        k = _rms(k, W[b + "self_attn.k_norm.weight"], eps).transpose(0, 2, 1, 3)
        v = v.transpose(0, 2, 1, 3)
        q, k = ref_llada._rope(q, theta), ref_llada._rope(k, theta)
        k = np.repeat(k, H // KV, axis=1)
        v = np.repeat(v, H // KV, axis=1)
        s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd) + bias
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        att = (s @ v).transpose(0, 2, 1, 3).reshape(B, T, H * hd)
        h = h + att @ W[b + "self_attn.o_proj.weight"].T
        f = _rms(h, W[b + "post_attention_layernorm.weight"], eps)
        g = f @ W[b + "mlp.gate_proj.weight"].T
        u = f @ W[b + "mlp.up_proj.weight"].T
        h = h + ((g / (1.0 + np.exp(-g))) * u) @ W[b + "mlp.down_proj.weight"].T
    h = _rms(h, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else W["lm_head.weight"]
    return h @ head.T


def generate(cfg, W, prompt, gen_length, denoising_steps, strategy="low_confidence_static",
             threshold=0.85, stop_ids=None):
    """Returns (x [total], reveal [total], nfe): reveal = global denoising step that committed a
    position (-1: prompt or never)."""
    blk, mask = cfg.get("block_size", 4), cfg["mask_token_id"]
    P = len(prompt)
    nb = (P + gen_length + blk - 1) // blk
    x = np.full(nb * blk, mask, dtype=np.int64)
    x[:P] = prompt
    reveal = np.full(nb * blk, -1, dtype=np.int64)
    quota = [blk // denoising_steps + (i < blk % denoising_steps) for i in range(denoising_steps)]
    step = nfe = 0
    for b in range(P // blk, nb):
        s0, s1 = b * blk, (b + 1) * blk
        for i in range(denoising_steps + 1):
            m = x[s0:s1] == mask
            if not m.any() or i == denoising_steps:   # (a committed mask id can remain)
                break
            lg = forward(cfg, W, x[None, :s1])[0, s0:s1]
            nfe += 1
            p = np.exp(lg - lg.max(-1, keepdims=True))
            p /= p.sum(-1, keepdims=True)
            x0 = lg.argmax(-1)
            conf = np.where(m, p[np.arange(blk), x0], -np.inf)
            k = min(quota[i], int(m.sum()))
            order = sorted(np.nonzero(m)[0], key=lambda j: (-conf[j], j))
            if strategy == "low_confidence_dynamic" and (conf > threshold).sum() >= quota[i]:
                chosen = [j for j in order if conf[j] > threshold]
            else:
                chosen = order[:k]
            for j in chosen:
                x[s0 + j] = x0[j]
                reveal[s0 + j] = step
            step += 1
        if stop_ids is not None and np.isin(x[P:], stop_ids).any():
            break
    return x, reveal, nfe
