"""ref_llada.py — independent numpy reference of LLaDA: checkpoint reader, forward pass and
the official sampler (ML-GSAI/LLaDA generate.py), written from ../shared/reference/llada.md
§1.1 and §2.3, not from the C code.

Forward in float64 from the stored weights. Sampler: steps, semi-autoregressive blocks with
the per-block linear schedule (remainder to the earliest steps), low_confidence / random
remasking, float64 Gumbel-max for temperature > 0, classifier-free guidance (unconditional
= every prompt position masked), logits_eos_inf and confidence_eos_eot_inf with the
official quirks (or fixed, fixed_eos=True), left padding with an attention mask.
Also Fast-dLLM's threshold decoding ("threshold:T") and approximate KV caches (cache="prefix"
or "dual", written from the description of issue 12 / peers.md §2.1, not from the C code):
forward_rows computes only positions [r0, r1) against K/V kept from the last whole-canvas
pass.

Randomness comes from the counter-based generator documented in kernels/crng.h (the one
contract shared with the C side): u(seed, stream, a, b, c, d) in (0, 1).
"""
import json, os, struct
import numpy as np

M64 = (1 << 64) - 1
GUMBEL, RANDOM_REMASK = 1, 2


# ---------------------------------------------------------------- counter RNG (crng.h)
def _mix(x):
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def crng_u01(seed, stream, a, b, c, d):
    """Vectorised over any argument (numpy broadcasting)."""
    with np.errstate(over="ignore"):
        s = np.uint64(seed & M64) ^ (np.uint64(stream) * np.uint64(0xD1B54A32D192ED03))
    h = _mix(s)
    for v in (a, b, c, d):
        h = _mix(h ^ np.asarray(v, dtype=np.uint64))
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


# ---------------------------------------------------------------- checkpoint reader
def _read_st(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    hdr = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, e in hdr.items():
        if name == "__metadata__":
            continue
        b, en = e["data_offsets"]
        buf = data[b:en]
        if e["dtype"] == "F32":
            a = np.frombuffer(buf, "<f4").astype(np.float64)
        elif e["dtype"] == "F16":
            a = np.frombuffer(buf, "<f2").astype(np.float64)
        elif e["dtype"] == "BF16":
            a = (np.frombuffer(buf, "<u2").astype(np.uint32) << 16).view(np.float32).astype(np.float64)
        else:
            raise ValueError(e["dtype"])
        out[name] = a.reshape(e["shape"])
    return out


def load(dirpath):
    cfg = json.load(open(os.path.join(dirpath, "config.json")))
    idx = os.path.join(dirpath, "model.safetensors.index.json")
    W = {}
    if os.path.exists(idx):
        for fn in sorted(set(json.load(open(idx))["weight_map"].values())):
            W.update(_read_st(os.path.join(dirpath, fn)))
    else:
        W.update(_read_st(os.path.join(dirpath, "model.safetensors")))
    return cfg, W


# ---------------------------------------------------------------- forward (llada.md §2.3)
def _rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def _rope(x, theta, p0=0):
    """x: (B, H, T, hd); half-split rotation, positions p0..p0+T-1."""
    T, hd = x.shape[2], x.shape[3]
    inv = 1.0 / theta ** (np.arange(0, hd, 2, dtype=np.float64) / hd)
    ang = np.arange(p0, p0 + T, dtype=np.float64)[:, None] * inv[None, :]
    cos = np.concatenate([np.cos(ang)] * 2, -1)
    sin = np.concatenate([np.sin(ang)] * 2, -1)
    half = hd // 2
    rot = np.concatenate([-x[..., half:], x[..., :half]], -1)
    return x * cos + rot * sin


def bf16_round(x):
    """Round float64 values to the nearest bf16 (ties to even), returned as float64."""
    f = np.asarray(x, dtype=np.float32)
    u = f.view(np.uint32).astype(np.uint64)
    u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    return u.astype(np.uint32).view(np.float32).astype(np.float64)


def forward(cfg, W, tokens, attention_mask=None, bf16=False, causal=False):
    """tokens int (B, T); attention_mask (B, T) 1=keep or None -> logits float64 (B, T, V).
    causal=True: query i attends to keys j <= i only (an AR checkpoint; no padding then).
    bf16=True emulates the official bf16 model: activations rounded to bf16 wherever torch
    produces a bf16 tensor (linear outputs, the RMSNorm cast before the weight and after it,
    RoPE outputs, attention output, SiLU and its product, residual sums, logits)."""
    r = bf16_round if bf16 else (lambda v: v)
    tokens = np.asarray(tokens)
    B, T = tokens.shape
    d, H = cfg["d_model"], cfg["n_heads"]
    KV = cfg.get("n_kv_heads") or H
    hd = d // H
    eps = cfg.get("rms_norm_eps", 1e-5)
    theta = cfg.get("rope_theta", 10000.0)
    p = "model.transformer."
    h = W[p + "wte.weight"][tokens]
    norm = lambda x, w: r(r(x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)) * w)
    bias = 0.0
    if attention_mask is not None and (np.asarray(attention_mask) == 0).any():
        m = np.asarray(attention_mask, dtype=np.float64)
        bias = ((1.0 - m) * np.finfo(np.float32).min)[:, None, None, :]
    for l in range(cfg["n_layers"]):
        b = f"{p}blocks.{l}."
        a = norm(h, W[b + "attn_norm.weight"])
        q = r(a @ W[b + "q_proj.weight"].T).reshape(B, T, H, hd).transpose(0, 2, 1, 3)
        k = r(a @ W[b + "k_proj.weight"].T).reshape(B, T, KV, hd).transpose(0, 2, 1, 3)
        v = r(a @ W[b + "v_proj.weight"].T).reshape(B, T, KV, hd).transpose(0, 2, 1, 3)
        q, k = r(_rope(q, theta)), r(_rope(k, theta))
        k = np.repeat(k, H // KV, axis=1)
        v = np.repeat(v, H // KV, axis=1)
        s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd) + bias
        if causal:
            s = np.where(np.tril(np.ones((T, T), dtype=bool)), s, -np.inf)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        att = r((s @ v).transpose(0, 2, 1, 3).reshape(B, T, H * hd))
        h = r(h + r(att @ W[b + "attn_out.weight"].T))
        f = norm(h, W[b + "ff_norm.weight"])
        g = r(f @ W[b + "ff_proj.weight"].T)
        u = r(f @ W[b + "up_proj.weight"].T)
        h = r(h + r(r(r(g / (1.0 + np.exp(-g))) * u) @ W[b + "ff_out.weight"].T))
    h = norm(h, W[p + "ln_f.weight"])
    head = W[p + "wte.weight"] if cfg.get("weight_tying") else W[p + "ff_out.weight"]
    return r(h @ head.T)


def _q8(a):
    """Symmetric int8 of each row of a (last axis), in float32 like any fp32 implementation:
    scale = max|a| / 127, q = round-half-even(a / scale) clamped to +-127."""
    a = np.asarray(a, dtype=np.float32)
    mx = np.abs(a).max(-1, keepdims=True)
    sc = mx / np.float32(127.0)
    q = np.where(mx > 0, np.clip(np.rint(a / np.where(mx > 0, sc, np.float32(1))), -127, 127), 0)
    return q.astype(np.float64), sc.astype(np.float64)


def gemm(a, w, mode=None):
    """a (..., K) @ w (N, K).T in the precision mode of denoise --precision: None (float64),
    "bf16" (both operands rounded to bf16, sum in float64), "int8" (a per row and w per output
    row quantised to int8, exact integer dot, times both scales)."""
    if mode is None:
        return a @ w.T
    if mode == "bf16":
        return bf16_round(a) @ bf16_round(w).T
    qa, sa = _q8(a)
    qw, sw = _q8(w)
    return (qa @ qw.T) * sa * sw.T


def forward_rows(cfg, W, tokens, attention_mask, r0, r1, kv=None, prec=None):
    """The KV-cache forward (float64): logits (B, r1 - r0, V) of positions [r0, r1) only.
    kv None: r0 == 0 and r1 == T is required; returns (logits, kv) with kv the list of every
    layer's (k, v) after RoPE, shapes (B, KV, T, hd). kv given: the queries of [r0, r1) attend
    to all T keys, the keys/values of [r0, r1) computed now and the others taken from kv;
    returns (logits, kv) with kv unchanged. prec: the GEMM precision mode (gemm())."""
    tokens = np.asarray(tokens)
    B, T = tokens.shape
    assert kv is not None or (r0 == 0 and r1 == T)
    d, H = cfg["d_model"], cfg["n_heads"]
    KV = cfg.get("n_kv_heads") or H
    hd, n = d // H, r1 - r0
    eps = cfg.get("rms_norm_eps", 1e-5)
    theta = cfg.get("rope_theta", 10000.0)
    p = "model.transformer."
    h = W[p + "wte.weight"][tokens[:, r0:r1]]
    bias = 0.0
    if attention_mask is not None and (np.asarray(attention_mask) == 0).any():
        m = np.asarray(attention_mask, dtype=np.float64)
        bias = ((1.0 - m) * np.finfo(np.float32).min)[:, None, None, :]
    out_kv = []
    for l in range(cfg["n_layers"]):
        b = f"{p}blocks.{l}."
        a = _rmsnorm(h, W[b + "attn_norm.weight"], eps)
        q = gemm(a, W[b + "q_proj.weight"], prec).reshape(B, n, H, hd).transpose(0, 2, 1, 3)
        k = gemm(a, W[b + "k_proj.weight"], prec).reshape(B, n, KV, hd).transpose(0, 2, 1, 3)
        v = gemm(a, W[b + "v_proj.weight"], prec).reshape(B, n, KV, hd).transpose(0, 2, 1, 3)
        q, k = _rope(q, theta, r0), _rope(k, theta, r0)
        if kv is None:
            K, Vv = k, v
            out_kv.append((k, v))
        else:
            K, Vv = kv[l][0].copy(), kv[l][1].copy()
            K[:, :, r0:r1], Vv[:, :, r0:r1] = k, v
        K = np.repeat(K, H // KV, axis=1)
        Vv = np.repeat(Vv, H // KV, axis=1)
        s = q @ K.transpose(0, 1, 3, 2) / np.sqrt(hd) + bias
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        att = (s @ Vv).transpose(0, 2, 1, 3).reshape(B, n, H * hd)
        h = h + gemm(att, W[b + "attn_out.weight"], prec)
        f = _rmsnorm(h, W[b + "ff_norm.weight"], eps)
        g = gemm(f, W[b + "ff_proj.weight"], prec)
        u = gemm(f, W[b + "up_proj.weight"], prec)
        h = h + gemm(g / (1.0 + np.exp(-g)) * u, W[b + "ff_out.weight"], prec)
    h = _rmsnorm(h, W[p + "ln_f.weight"], eps)
    head = W[p + "wte.weight"] if cfg.get("weight_tying") else W[p + "ff_out.weight"]
    return gemm(h, head, prec), (out_kv if kv is None else kv)


# ---------------------------------------------------------------- sampler (llada.md §1.1)
def num_transfer_tokens(mask_index, steps):
    n = mask_index.sum(axis=1)
    base, rem = n // steps, n % steps
    out = np.repeat(base[:, None], steps, axis=1)
    for j in range(len(n)):
        out[j, :rem[j]] += 1
    return out


def _softmax(x):
    m = np.max(x, axis=-1, keepdims=True)
    e = np.exp(x - m)
    return e / e.sum(-1, keepdims=True)


def generate(cfg, W, prompts, steps=128, gen_length=128, block_length=128, temperature=0.0,
             cfg_scale=0.0, remasking="low_confidence", logits_eos_inf=False,
             confidence_eos_eot_inf=False, fixed_eos=False, seed=0, records=None, canvas=None,
             cache="none", cache_refresh=0, prec=None):
    """prompts: list of token lists (left-padded with pad id and an attention mask when their
    lengths differ), or canvas: list of full canvases of equal length (masks = to generate) with
    gen region starting at len(canvas) - gen_length. Returns (x, reveal) where reveal is -1
    for positions never committed. Randomness keyed by (record, step, unpadded position)."""
    mask_id, eos = cfg["mask_token_id"], cfg["eos_token_id"]
    eot = cfg.get("eot_token_id", 126348)
    pad = cfg.get("pad_token_id", eos)
    rows = canvas if canvas is not None else prompts
    B = len(rows)
    records = list(range(B)) if records is None else records
    if canvas is not None:
        Lmax = max(len(c) for c in canvas)
        x = np.array([[pad] * (Lmax - len(c)) + list(c) for c in canvas], dtype=np.int64)
        padn = np.array([Lmax - len(c) for c in canvas])
        Lp = Lmax - gen_length
    else:
        Lp = max(len(p) for p in prompts)
        x = np.full((B, Lp + gen_length), mask_id, dtype=np.int64)
        padn = np.array([Lp - len(p) for p in prompts])
        for j, p in enumerate(prompts):
            x[j, :padn[j]] = pad
            x[j, padn[j]:Lp] = p
    L = x.shape[1]
    am = np.ones((B, L), dtype=np.int64)
    for j in range(B):
        am[j, :padn[j]] = 0
    am_arg = am if (am == 0).any() else None
    prompt_index = x != mask_id
    reveal = np.full((B, L), -1, dtype=np.int64)
    assert gen_length % block_length == 0
    nb = gen_length // block_length
    assert steps % nb == 0
    spb = steps // nb
    step = 0
    for blk in range(nb):
        bs, be = Lp + blk * block_length, Lp + (blk + 1) * block_length
        sched = num_transfer_tokens(x[:, bs:be] == mask_id, spb)
        thr = float(remasking.split(":")[1]) if remasking.startswith("threshold") else None
        i = 0
        while (i < spb) if thr is None else (x[:, bs:be] == mask_id).any():
            mask_index = x == mask_id
            if cache != "none" or prec is not None:
                fb = np.concatenate([x, np.where(prompt_index, mask_id, x)]) if cfg_scale > 0 else x
                am_b = None if am_arg is None else (np.concatenate([am_arg, am_arg]) if cfg_scale > 0 else am_arg)
                if cache == "none" or i == 0 or (cache_refresh > 0 and i % cache_refresh == 0):
                    kept, kv = forward_rows(cfg, W, fb, am_b, 0, L, prec=prec)
                else:
                    r1 = L if cache == "prefix" else be
                    kept = kept.copy()
                    kept[:, bs:r1], _ = forward_rows(cfg, W, fb, am_b, bs, r1, kv, prec=prec)
                logits = kept[:B] if cfg_scale == 0 else kept[B:] + (cfg_scale + 1) * (kept[:B] - kept[B:])
                logits = logits.copy()
            elif cfg_scale > 0:
                un = x.copy()
                un[prompt_index] = mask_id
                both = forward(cfg, W, np.concatenate([x, un]),
                               None if am_arg is None else np.concatenate([am_arg, am_arg]))
                c, u = both[:B], both[B:]
                logits = u + (cfg_scale + 1) * (c - u)
            else:
                logits = forward(cfg, W, x, am_arg)
            if logits_eos_inf:
                logits[..., eos] = -np.inf
                if fixed_eos:
                    logits[..., eot] = -np.inf
            pos = np.arange(L)[None, :] - padn[:, None]          # unpadded positions
            if temperature > 0:
                V = logits.shape[-1]
                u01 = crng_u01(seed, GUMBEL, np.array(records)[:, None, None], step,
                               pos[:, :, None], np.arange(V)[None, None, :])
                noisy = logits - temperature * np.log(-np.log(u01))
            else:
                noisy = logits
            x0 = np.argmax(noisy, axis=-1)
            conf_logits = logits
            if confidence_eos_eot_inf and not fixed_eos:
                conf_logits = logits.copy()
                conf_logits[..., eot] = -np.inf
                if temperature == 0:        # noisy IS logits: the EOS column goes too
                    conf_logits[..., eos] = -np.inf
            if remasking == "low_confidence" or thr is not None:
                p = _softmax(conf_logits)
                x0_p = np.take_along_axis(p, x0[..., None], -1)[..., 0]
            elif remasking == "random":
                x0_p = crng_u01(seed, RANDOM_REMASK, np.array(records)[:, None], step, pos, 0)
            else:
                raise ValueError(remasking)
            if confidence_eos_eot_inf and fixed_eos:
                x0_p = np.where((x0 == eos) | (x0 == eot), -np.inf, x0_p)
            x0_p[:, be:] = -np.inf
            x0 = np.where(mask_index, x0, x)
            conf = np.where(mask_index, x0_p, -np.inf)
            for j in range(B):
                k = sched[j, i] if i < spb else 1
                if thr is not None:
                    c = sorted((-conf[j, q] for q in np.nonzero(mask_index[j] & (np.arange(L) < be))[0]))
                    k = max(1, sum(1 for v in c if -v >= thr)) if c else 0
                # candidates: masked and before the block end; highest confidence first,
                # ties to the lower position
                cand = np.nonzero(mask_index[j] & (np.arange(L) < be))[0]
                order = sorted(cand, key=lambda q: (-conf[j, q], q))[:k]
                for q in order:
                    x[j, q] = x0[j, q]
                    reveal[j, q] = step
            step += 1
            i += 1
    return x, reveal, padn
