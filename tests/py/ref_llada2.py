"""ref_llada2.py — independent numpy reference of LLaDA 2.x (BailingMoeV2 trained for block
diffusion; llada.md §4.4): its forward pass and ports of the published generate() of
LLaDA 2.0 (threshold decoding per block) and LLaDA 2.1 (plus token editing), written from
modeling_llada2_moe.py's description, not from the C code.

Forward (float64): word_embeddings; per layer RMSNorm; fused query_key_value (+ bias), its
output split into Hq | Hkv | Hkv heads of head_dim; per-head RMSNorm of q and k
(query_layernorm / key_layernorm); partial RoPE: rotate_half on the first
rd = int(head_dim * partial_rotary_factor) channels with inv_freq = theta^(-arange(0, rd, 2)/rd),
the rest passed through; GQA attention where a query at p sees keys j with
j // 32 <= p // 32; attention.dense (+ bias, use_bias defaults to true) + residual;
RMSNorm; layers >= first_k_dense_replace: the MoE (scores = sigmoid(x W_gate^T); choice on
scores + expert_bias: group score = sum of the two best of each of n_group groups, keep the
topk_group best groups, top-k experts inside them; weights = chosen unbiased scores /
(sum + 1e-20) * routed_scaling_factor; sum of weighted expert SwiGLUs + the shared experts'
SwiGLU), earlier layers a SwiGLU; final RMSNorm; lm_head (or the tied embedding).

Generation (batch 1, temperature 0: x0 = argmax, x0_p its softmax probability):
generate20: canvas = prompt + masks up to whole blocks of 32 from position 0; blocks from
prompt // 32; per block up to `steps` iterations, breaking when the block has no masks:
quota = block // steps (+1 for the first block % steps); the masks with x0_p > threshold
when at least the quota, else the quota's most confident (ties to the lower position);
after a block, stop when EOS appears after the prompt. With eos_early_stop (generate()'s
flag, default off): after a step whose committed tokens include EOS, find the first EOS of
the canvas up to the block end (from position 0, the prompt included, as published); when
no mask lies between the prompt's end and it, the run returns at once. `block` is
generate()'s block_length (32 by default; the attention mask's block too). Deliberate difference: at
temperature 0 the 2.0 code as published in ZHZisZZ/dllm draws from softmax(logits) at
temperature 1 (its docstring says 0 is greedy; 2.1's code takes the argmax); greedy here.
generate21: per block, loop: no masks -> post_steps += 1, stop when post_steps >
max_post_steps; one forward; M2T: masks with x0_p > threshold if at least num_to_transfer
of them, else the num_to_transfer most confident; T2T: non-mask, non-prompt positions of the
block with x0_p > editing_threshold and x0 != current token take x0; stop when the block had
no masks and nothing was edited. After a block, stop when it is complete and EOS appears
after the prompt (eos_early_stop).
"""
import numpy as np
import ref_llada

load = ref_llada.load
BLOCK = 32


def _rms(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def _rope_partial(x, theta, rd):
    T = x.shape[2]
    inv = 1.0 / theta ** (np.arange(0, rd, 2, dtype=np.float64) / rd)
    ang = np.arange(T, dtype=np.float64)[:, None] * inv[None, :]
    cos = np.concatenate([np.cos(ang)] * 2, -1)
    sin = np.concatenate([np.sin(ang)] * 2, -1)
    xr, xp = x[..., :rd], x[..., rd:]
    h = rd // 2
    rot = np.concatenate([-xr[..., h:], xr[..., :h]], -1)
    return np.concatenate([xr * cos + rot * sin, xp], -1)


def _swiglu(x, W, pre):
    g = x @ W[pre + "gate_proj.weight"].T
    u = x @ W[pre + "up_proj.weight"].T
    return ((g / (1.0 + np.exp(-g))) * u) @ W[pre + "down_proj.weight"].T


def _moe(cfg, W, b, x):
    E, k, G, TG = cfg["num_experts"], cfg["num_experts_per_tok"], cfg["n_group"], cfg["topk_group"]
    per = E // G
    s = 1.0 / (1.0 + np.exp(-(x @ W[b + "mlp.gate.weight"].T)))          # (N, E)
    r = s + W[b + "mlp.gate.expert_bias"]
    out = np.zeros_like(x)
    for t in range(x.shape[0]):
        gsc = [np.sort(r[t, g * per:(g + 1) * per])[-2:].sum() for g in range(G)]
        groups = sorted(range(G), key=lambda g: (-gsc[g], g))[:TG]
        allowed = [e for e in range(E) if e // per in groups]
        sel = sorted(allowed, key=lambda e: (-r[t, e], e))[:k]
        w = s[t, sel]
        if k > 1:
            w = w / (w.sum() + 1e-20)
        w = w * cfg.get("routed_scaling_factor", 2.5)
        for e, we in zip(sel, w):
            out[t] += we * _swiglu(x[t:t + 1], W, b + f"mlp.experts.{e}.")[0]
    if cfg.get("num_shared_experts"):
        out += _swiglu(x, W, b + "mlp.shared_experts.")
    return out


def forward(cfg, W, tokens, block=BLOCK):
    tokens = np.asarray(tokens)
    B, T = tokens.shape
    d, H = cfg["hidden_size"], cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads") or H
    hd = cfg.get("head_dim") or d // H
    rd = int(hd * cfg.get("partial_rotary_factor", 0.5))
    eps, theta = cfg.get("rms_norm_eps", 1e-5), cfg.get("rope_theta", 10000.0)
    pos = np.arange(T)
    bias = np.where((pos[None, :] // block) <= (pos[:, None] // block), 0.0, -np.inf)[None, None]
    h = W["model.word_embeddings.weight"][tokens]
    for l in range(cfg["num_hidden_layers"]):
        b = f"model.layers.{l}."
        a = _rms(h, W[b + "input_layernorm.weight"], eps)
        qkv = a @ W[b + "attention.query_key_value.weight"].T
        if cfg.get("use_qkv_bias"):
            qkv = qkv + W[b + "attention.query_key_value.bias"]
        qkv = qkv.reshape(B, T, H + 2 * KV, hd)
        q, k, v = qkv[:, :, :H], qkv[:, :, H:H + KV], qkv[:, :, H + KV:]
        if cfg.get("use_qk_norm", True):
            q = _rms(q, W[b + "attention.query_layernorm.weight"], eps)
            k = _rms(k, W[b + "attention.key_layernorm.weight"], eps)
        q, k, v = (z.transpose(0, 2, 1, 3) for z in (q, k, v))
        q, k = _rope_partial(q, theta, rd), _rope_partial(k, theta, rd)
        k = np.repeat(k, H // KV, axis=1)
        v = np.repeat(v, H // KV, axis=1)
        s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd) + bias
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        att = (s @ v).transpose(0, 2, 1, 3).reshape(B, T, H * hd) @ W[b + "attention.dense.weight"].T
        if cfg.get("use_bias", True):
            att = att + W[b + "attention.dense.bias"]
        h = h + att
        f = _rms(h, W[b + "post_attention_layernorm.weight"], eps)
        if cfg.get("num_experts") is not None and l >= cfg.get("first_k_dense_replace", 0):
            h = h + _moe(cfg, W, b, f.reshape(B * T, d)).reshape(B, T, d)
        else:
            h = h + _swiglu(f, W, b + "mlp.")
    h = _rms(h, W["model.norm.weight"], eps)
    head = W["model.word_embeddings.weight"] if cfg.get("tie_word_embeddings") else W["lm_head.weight"]
    return h @ head.T


def _x0(cfg, W, x, s0, s1, block=BLOCK):
    lg = forward(cfg, W, x[None, :s1], block)[0, s0:s1]
    p = np.exp(lg - lg.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    x0 = lg.argmax(-1)
    return x0, p[np.arange(s1 - s0), x0]


def _canvas(cfg, prompt, gen_length, block=BLOCK):
    P = len(prompt)
    nb = (P + gen_length + block - 1) // block
    x = np.full(nb * block, cfg["mask_token_id"], dtype=np.int64)
    x[:P] = prompt
    return x, np.full(nb * block, -1, dtype=np.int64), nb


def generate20(cfg, W, prompt, gen_length, steps, threshold=0.95, eos_early_stop=False, block=BLOCK):
    """Returns (x [total], reveal [total], nfe); reveal = global step that wrote a position."""
    mask, eos, P = cfg["mask_token_id"], cfg["eos_token_id"], len(prompt)
    x, reveal, nb = _canvas(cfg, prompt, gen_length, block)
    steps = min(steps, gen_length)
    quota = [block // steps + (i < block % steps) for i in range(steps)]
    step = 0
    for b in range(P // block, nb):
        s0, s1 = b * block, (b + 1) * block
        for i in range(steps):
            m = x[s0:s1] == mask
            if not m.any():
                break
            x0, p = _x0(cfg, W, x, s0, s1, block)
            conf = np.where(m, p, -np.inf)
            high = [j for j in range(block) if conf[j] > threshold]
            if len(high) >= quota[i]:
                chosen = high
            else:
                chosen = sorted(np.nonzero(m)[0], key=lambda j: (-conf[j], j))[:min(quota[i], int(m.sum()))]
            for j in chosen:
                x[s0 + j] = x0[j]
                reveal[s0 + j] = step
            step += 1
            if eos_early_stop and any(x0[j] == eos for j in chosen):
                first = int(np.nonzero(x[:s1] == eos)[0][0])
                if not (x[P:first] == mask).any():
                    return x, reveal, step
        if (x[P:s1] == eos).any():
            break
    return x, reveal, step


def generate21(cfg, W, prompt, gen_length, threshold=0.7, editing_threshold=0.5, max_post_steps=16,
               num_to_transfer=1):
    mask, eos, P = cfg["mask_token_id"], cfg["eos_token_id"], len(prompt)
    x, reveal, nb = _canvas(cfg, prompt, gen_length)
    step = 0
    for b in range(P // BLOCK, nb):
        s0, s1 = b * BLOCK, (b + 1) * BLOCK
        in_prompt = np.arange(s0, s1) < P
        post = 0
        while True:
            m = x[s0:s1] == mask
            if not m.any():
                post += 1
            if post > max_post_steps:
                break
            x0, p = _x0(cfg, W, x, s0, s1)
            old = x[s0:s1].copy()
            chosen = []
            if m.any():
                conf = np.where(m, p, -np.inf)
                high = [j for j in range(BLOCK) if conf[j] > threshold]
                if len(high) >= num_to_transfer:
                    chosen = high
                else:
                    chosen = sorted(np.nonzero(m)[0], key=lambda j: (-conf[j], j))[:min(num_to_transfer, int(m.sum()))]
            edits = [j for j in range(BLOCK) if not m[j] and not in_prompt[j] and p[j] > editing_threshold
                     and x0[j] != old[j]]
            for j in list(chosen) + edits:
                x[s0 + j] = x0[j]
                reveal[s0 + j] = step
            step += 1
            if not m.any() and not edits:
                break
        g = x[P:s1]
        if not (g == mask).any() and (g == eos).any():
            break
    return x, reveal, step
