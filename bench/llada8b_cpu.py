#!/usr/bin/env python3
"""llada8b_cpu.py — CPU seconds per reverse step of LLaDA-8B, from 8B-shaped layers.

Not part of `make bench` (it writes 4.7 GB): python3 bench/llada8b_cpu.py [CACHE_DIR] [THREADS]
Writes checkpoints with LLaDA-8B's exact layer shapes and random bf16 weights (d 4096, 32 heads,
FFN 12288; streamed to disk a chunk at a time) into CACHE_DIR (default build/bench): 1 layer with
the full 126,464-token vocabulary, and 1 and 4 layers with a 256-token one. `denoise` runs on each
at canvas 288 (a 32-token prompt, gen length 256 in one block, temperature 0) with 2 and 4 steps;
the process CPU time difference per step leaves out start-up and loading (best of ROUNDS
interleaved rounds for each). One layer = (4 layers - 1 layer) / 3 at the small vocabulary; the
rest of a step (embedding, final norm, the LM head on the block's masked positions, the sampler)
= full-vocabulary 1-layer step - one layer. LLaDA-8B's step = rest + 32 layers. Peak RSS is
printed too. Process CPU time is used because the build machines are shared: with THREADS = 1
it is the work itself; wall time on an idle machine is at best CPU time / threads.
"""
import json, os, resource, struct, subprocess, sys, time
import numpy as np

root = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(root, "tests", "fixtures"))
from make_tiny_ckpt import llada_config

cache = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "build", "bench")
threads = sys.argv[2] if len(sys.argv) > 2 else "1"
denoise = os.path.join(os.environ.get("LLADA_BIN", os.path.join(root, "bin")), "denoise")
D, F = 4096, 12288
ROUNDS = int(os.environ.get("ROUNDS", "2"))


def write(out, nl, V):
    if os.path.exists(os.path.join(out, "done")):
        return
    os.makedirs(out, exist_ok=True)
    p = dict(d_model=D, n_layers=nl, n_heads=32, n_kv_heads=32, mlp_hidden_size=F, vocab_size=V, dtype="bf16", llada_ids=V == 126464)
    json.dump(llada_config(p), open(os.path.join(out, "config.json"), "w"), indent=2)
    shapes = [("model.transformer.wte.weight", (V, D), 1.0)]
    for l in range(nl):
        b = f"model.transformer.blocks.{l}."
        shapes += [(b + "attn_norm.weight", (D,), None)] + [(b + n, (D, D), D ** -.5) for n in ("q_proj.weight", "k_proj.weight", "v_proj.weight", "attn_out.weight")]
        shapes += [(b + "ff_norm.weight", (D,), None), (b + "ff_proj.weight", (F, D), D ** -.5),
                   (b + "up_proj.weight", (F, D), D ** -.5), (b + "ff_out.weight", (D, F), F ** -.5)]
    shapes += [("model.transformer.ln_f.weight", (D,), None), ("model.transformer.ff_out.weight", (V, D), 2 * D ** -.5)]
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, s, _ in shapes:
        n = int(np.prod(s)) * 2
        header[name] = {"dtype": "BF16", "shape": list(s), "data_offsets": [off, off + n]}
        off += n
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    rng = np.random.default_rng(1)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for name, s, std in shapes:
            n = int(np.prod(s))
            for i in range(0, n, 1 << 24):
                m = min(1 << 24, n - i)
                a = 1.0 + 0.1 * rng.standard_normal(m, dtype=np.float32) if std is None else std * rng.standard_normal(m, dtype=np.float32)
                f.write((a.view(np.uint32) >> 16).astype(np.uint16).tobytes())   # truncated to bf16: fine for timing
    open(os.path.join(out, "done"), "w").close()


def run(model, steps):
    rec = json.dumps({"kind": "tokens", "tokens": {"dtype": "i4", "shape": [32], "data": list(range(100, 132))}}) + "\n"
    r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.time()
    p = subprocess.run([denoise, "--model", model, "--json", "-q", "--threads", threads, "--device", "cpu",
                        "--gen-length", "256", "--block-length", "256", "--steps", str(steps), "--temperature", "0"],
                       input=rec.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode:
        sys.exit(f"denoise failed: {p.stderr.decode()[:300]}")
    return (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), time.time() - t0


cpu = subprocess.run(["sh", "-c", "lscpu | sed -n 's/^Model name: *//p'"], stdout=subprocess.PIPE, text=True).stdout.strip()
print(f"CPU: {cpu}; {os.cpu_count()} CPUs; threads {threads}")
models = {(1, 126464): None, (1, 256): None, (4, 256): None}
for nl, V in models:
    models[(nl, V)] = m = os.path.join(cache, f"llada8b_shape_l{nl}_v{V}")
    write(m, nl, V)
best = {}
for r in range(ROUNDS):
    for key, m in models.items():
        for steps in (2, 4):
            c, w = run(m, steps)
            best[key, steps] = min(best.get((key, steps), 1e9), c)
per = {key: (best[key, 4] - best[key, 2]) / 2 for key in models}
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
for (nl, V), v in per.items():
    print(f"{nl} layer(s), vocabulary {V}: {v:.2f} s CPU per step (best of {ROUNDS}: {best[(nl, V), 2]:.1f} s at 2 steps, {best[(nl, V), 4]:.1f} s at 4)")
layer = (per[4, 256] - per[1, 256]) / 3
rest = per[1, 126464] - layer
print(f"peak RSS of the runs: {rss:.0f} MB")
print(f"one 8B layer at canvas 288: {layer:.2f} s CPU; the rest of a step: {rest:.2f} s; "
      f"LLaDA-8B (32 layers): {rest + 32 * layer:.1f} s CPU per step")
