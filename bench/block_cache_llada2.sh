#!/usr/bin/env bash
# bench/block_cache_llada2.sh — block diffusion (LLaDA 2.x): per-token time of generation with
# the exact block cache (a step computes only its block over the cached K/V) vs recomputing
# the whole canvas every step (--no-block-cache), on a random LLaDA2-layout model (d 256, 4
# layers, the first dense (FFN 768), then MoE with 16 experts of 128 in 4 groups, top-4 of the
# best 2 groups, a shared expert; 4 query heads of 64 over 2 KV heads, partial RoPE;
# vocabulary 4096; block 32), prompt 32, 8 denoising steps per block (LLaDA 2.0's threshold
# decoding, dynamic:0.95), one thread, process CPU time. Start-up and model load (a --logits run on the prompt) is subtracted; best of 3. Checks both give the
# same tokens. Prints one line per generation length.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
: "${LLADA_BIN:=$root/bin}"
: "${PYTHON:=/usr/bin/python3}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PYTHON" "$root/tests/fixtures/make_tiny_llada2.py" "$tmp/m" --custom d=256,layers=4,H=4,KV=2,hd=64,E=16,G=4,TG=2,k=4,Fe=128,S=1,Fd=768,first=1,V=4096
LLADA_BIN=$LLADA_BIN "$PYTHON" - "$tmp/m" <<'PY'
import msgpack, numpy as np, os, resource, subprocess, sys, time
model, den = sys.argv[1], os.path.join(os.environ["LLADA_BIN"], "denoise")
rec = msgpack.packb({"kind": "tokens", "tokens": {"dtype": "i4", "shape": [32],
                     "data": np.arange(10, 42, dtype="<i4").tobytes()}}, use_bin_type=True)
STEPS = lambda G: ["--steps", str(8 * G // 32)]
def cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
def run(G, extra):
    best, toks = 1e9, None
    for _ in range(3):
        t = cpu()
        p = subprocess.run([den, "--model", model, "--gen-length", str(G), "--threads", "1"] + extra,
                           input=rec, capture_output=True, check=True)
        best = min(best, cpu() - t)
        up = msgpack.Unpacker(raw=False); up.feed(p.stdout)
        toks = [r for r in up if r.get("kind") != "end"][0]["tokens"]["data"]
    return best, toks
base = 1e9
for _ in range(3):
    t = cpu()
    subprocess.run([den, "--model", model, "--logits", "--threads", "1"], input=rec, capture_output=True, check=True)
    base = min(base, cpu() - t)
name = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"# {name}, 1 thread, process CPU time (user + system; a loaded machine skews wall time), start-up {base:.2f} s subtracted")
for G in (64, 256, 512):
    (c, tc), (f, tf) = run(G, STEPS(G)), run(G, ["--no-block-cache"] + STEPS(G))
    c, f = c - base, f - base
    print(f"gen {G}: block cache {c / G * 1e3:.1f} ms/token, full recompute {f / G * 1e3:.1f} ms/token, "
          f"{f / c:.1f}x, same tokens: {tc == tf}")
PY
