"""ref_dream.py — independent numpy reference of Dream (Dream-v0 / DiffuCoder; llada.md §4.5):
its forward pass (Qwen2 layout run bidirectionally) and a port of its official sampler
(`diffusion_generate` in Dream's generation_utils.py), written from the architecture
description and that sampler's published behaviour, not from the C code.

Forward, float64 from the stored weights: embed_tokens; per layer RMSNorm (eps from the
config), q/k/v projections plus their biases (absent when "attention_bias" is false),
half-split RoPE (rotate_half) at positions cumsum(attention_mask) - 1, GQA, bidirectional
attention (padding hidden as keys), o_proj (no bias) + residual, RMSNorm, SwiGLU
(gate/up/down) + residual; final RMSNorm; lm_head (or the tied embedding). Then the shift
Dream's sampler applies: logits = concat(logits[:, :1], logits[:, :-1]).

Sampler (temperature 0, no blocks: Dream's only mode): x = prompt + max_new_tokens masks;
timesteps = torch.linspace(1, eps, steps + 1) in float32 (torch's kernels: first half
start + step*i, second half end - step*(n-1-i), each one fused multiply-add); at step i, confidence of each masked
position by `alg` (maskgit_plus: top probability; topk_margin: top1 - top2; entropy:
sum p log(p + 1e-10)), x0 = argmax; k = int(n_mask * (1 - s/t)) in float32 (every mask at
the last step), n_mask = masks in the batch / batch size; the k most confident positions
(ties to the lower position; torch.topk leaves that order unspecified) take x0. alg
"origin" (the default of Dream's generation_config.json): each masked position takes x0
when its uniform draw is < 1 - s/t (all at the last step); the draws come from the counter
RNG shared with the C side (ref_llada.crng_u01, stream 2, last counter 1) instead of
torch.rand.

Filters (generation_utils.py top_p_logits, then top_k_logits), applied before the
probabilities at any temperature: top_p sorts the logits descending, removes every token
after the first whose cumulative softmax probability exceeds top_p; top_k removes the
logits below the k-th largest; removed logits get zero probability. alg_temp > 0: instead
of the k best, the positions are drawn without replacement from softmax(confidence /
alg_temp) (torch.multinomial); drawn here as the k largest confidence / alg_temp + Gumbel
noise, -log(-log u) with u from the counter RNG (stream 3: record, step, position, 0), the
same distribution.
"""
import numpy as np
import ref_llada

load = ref_llada.load


def _rope(x, pos, theta):
    """x: (B, H, T, hd); pos (B, T) int positions; half-split rotation."""
    hd = x.shape[3]
    inv = 1.0 / theta ** (np.arange(0, hd, 2, dtype=np.float64) / hd)
    ang = pos[:, None, :, None].astype(np.float64) * inv[None, None, None, :]
    cos = np.concatenate([np.cos(ang)] * 2, -1)
    sin = np.concatenate([np.sin(ang)] * 2, -1)
    half = hd // 2
    rot = np.concatenate([-x[..., half:], x[..., :half]], -1)
    return x * cos + rot * sin


def forward_raw(cfg, W, tokens, attention_mask=None):
    """Unshifted logits (B, T, V) float64: output t is the model's prediction for token t+1."""
    tokens = np.asarray(tokens)
    B, T = tokens.shape
    d, H = cfg["hidden_size"], cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads") or H
    hd = d // H
    eps = cfg.get("rms_norm_eps", 1e-6)
    theta = cfg.get("rope_theta", 10000.0)
    bias_on = cfg.get("attention_bias", True)
    am = np.ones((B, T), dtype=np.int64) if attention_mask is None else np.asarray(attention_mask)
    pos = np.cumsum(am, axis=1) - 1
    pos[am == 0] = 1
    kbias = ((1.0 - am) * np.finfo(np.float32).min)[:, None, None, :]
    norm = lambda x, w: x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w
    h = W["model.embed_tokens.weight"][tokens]
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        a = norm(h, W[p + "input_layernorm.weight"])

        def proj(nm, heads):
            y = a @ W[p + f"self_attn.{nm}_proj.weight"].T
            if bias_on:
                y = y + W[p + f"self_attn.{nm}_proj.bias"]
            return y.reshape(B, T, heads, hd).transpose(0, 2, 1, 3)

        q, k, v = proj("q", H), proj("k", KV), proj("v", KV)
        q, k = _rope(q, pos, theta), _rope(k, pos, theta)
        k = np.repeat(k, H // KV, axis=1)
        v = np.repeat(v, H // KV, axis=1)
        s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd) + kbias
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        att = (s @ v).transpose(0, 2, 1, 3).reshape(B, T, H * hd)
        h = h + att @ W[p + "self_attn.o_proj.weight"].T
        f = norm(h, W[p + "post_attention_layernorm.weight"])
        g = f @ W[p + "mlp.gate_proj.weight"].T
        u = f @ W[p + "mlp.up_proj.weight"].T
        h = h + ((g / (1.0 + np.exp(-g))) * u) @ W[p + "mlp.down_proj.weight"].T
    h = norm(h, W["model.norm.weight"])
    head = W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else W["lm_head.weight"]
    return h @ head.T


def forward(cfg, W, tokens, attention_mask=None):
    """Shifted logits as Dream's sampler uses them: row t predicts token t."""
    lg = forward_raw(cfg, W, tokens, attention_mask)
    return np.concatenate([lg[:, :1], lg[:, :-1]], axis=1)


def linspace_f32(start, end, n):
    """torch.linspace(start, end, n) for float32, as torch's kernels compute it: step rounded to
    float32, then start + step*i (first half) or end - step*(n-1-i) (second half) as one fused
    multiply-add, i.e. computed exactly (a 24-bit step times a small integer plus a float32
    endpoint fits in float64) and rounded once."""
    start, end = np.float32(start), np.float32(end)
    step = np.float32((end - start) / np.float32(n - 1))
    out = np.empty(n, dtype=np.float32)
    for i in range(n):
        v = (np.float64(start) + np.float64(step) * i if i < n // 2
             else np.float64(end) - np.float64(step) * (n - 1 - i))
        out[i] = np.float32(v)
    return out


def _softmax(x):
    m = np.max(x, axis=-1, keepdims=True)
    e = np.exp(x - m)
    return e / e.sum(-1, keepdims=True)


ALG_TEMP = 3   # kernels/crng.h CRNG_ALG_TEMP


def _top_p(lg, top_p):
    out = lg.copy()
    for idx in np.ndindex(lg.shape[:-1]):
        row = lg[idx]
        order = np.argsort(-row, kind="stable")
        cum = np.cumsum(_softmax(row[order]))
        remove = cum > top_p
        remove[1:] = remove[:-1].copy()
        remove[0] = False
        out[idx + (order[remove],)] = -np.inf
    return out


def _top_k(lg, top_k):
    kth = np.sort(lg, axis=-1)[..., -top_k][..., None]
    return np.where(lg < kth, -np.inf, lg)


def generate(cfg, W, prompts, steps, max_new_tokens, alg="maskgit_plus", eps=1e-3, seed=0, top_p=None, top_k=None,
             alg_temp=0.0):
    """Dream's diffusion_generate at temperature 0. prompts: token lists (left-padded with
    pad id + attention mask when lengths differ). Returns (x, reveal, padn)."""
    mask_id = cfg["mask_token_id"]
    pad = cfg.get("pad_token_id", cfg["eos_token_id"])
    B = len(prompts)
    Lp = max(len(p) for p in prompts)
    L = Lp + max_new_tokens
    x = np.full((B, L), mask_id, dtype=np.int64)
    am = np.ones((B, L), dtype=np.int64)
    padn = np.array([Lp - len(p) for p in prompts])
    for j, p in enumerate(prompts):
        x[j, :padn[j]] = pad
        am[j, :padn[j]] = 0
        x[j, padn[j]:Lp] = p
    am_arg = am if (am == 0).any() else None
    reveal = np.full((B, L), -1, dtype=np.int64)
    ts = linspace_f32(1.0, eps, steps + 1)
    for i in range(steps):
        mask_index = x == mask_id
        logits = forward(cfg, W, x, am_arg)
        if top_p is not None and top_p < 1:
            logits = _top_p(logits, top_p)
        if top_k:
            logits = _top_k(logits, top_k)
        probs = _softmax(logits)
        x0 = np.argmax(probs, axis=-1)
        t, s = ts[i], ts[i + 1]
        if alg == "origin":
            p = np.float32(1) - s / t if i < steps - 1 else np.float32(1)
            for j in range(B):
                for q in range(L):
                    if not mask_index[j, q]:
                        continue
                    u = ref_llada.crng_u01(seed, ref_llada.RANDOM_REMASK, j, i, q - padn[j], 1)
                    if p >= 1 or u < float(p):
                        x[j, q] = x0[j, q]
                        reveal[j, q] = i
            continue
        if alg == "maskgit_plus":
            conf = probs.max(-1)
        elif alg == "topk_margin":
            srt = np.sort(probs, axis=-1)
            conf = srt[..., -1] - srt[..., -2]
        elif alg == "entropy":
            conf = np.sum(probs * np.log(probs + 1e-10), axis=-1)
        else:
            raise ValueError(alg)
        num_mask = np.float32(mask_index.sum()) / np.float32(B)
        k = int(np.float32(num_mask * (np.float32(1) - s / t))) if i < steps - 1 else int(num_mask)
        full = np.where(mask_index, conf, -np.inf)
        for j in range(B):
            if k <= 0:
                continue
            key = full[j]
            if alg_temp > 0:
                u = np.array([ref_llada.crng_u01(seed, ALG_TEMP, j, i, q - padn[j], 0) for q in range(L)])
                key = np.where(mask_index[j], full[j] / alg_temp - np.log(-np.log(u)), -np.inf)
            order = sorted(range(L), key=lambda q: (-key[q], q))[:k]
            for q in order:
                if mask_index[j, q]:
                    x[j, q] = x0[j, q]
                    reveal[j, q] = i
    return x, reveal, padn
