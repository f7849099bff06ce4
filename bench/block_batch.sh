#!/usr/bin/env bash
# bench/block_batch.sh — block diffusion in lockstep batches (denoise/bdsample.c): CPU time of
# 4 records generated with --batch 4 (one forward per tick over every unfinished row: the
# projections, FFN and LM head over all rows' blocks at once, attention per row against its own
# block cache) vs --batch 1 (the same records one after another), in the same run, on random
# LLaDA2-layout (block 32, as bench/block_cache_llada2.sh: d 256, 4 layers, MoE of 16 experts
# of 128, vocabulary 4096) and SDAR-layout (block 4: d 256, 4 layers, 4 heads of 64 over 2 KV,
# FFN 768, vocabulary 4096) models, and a wider bf16 LLaDA2-layout one (d 512, 2 layers, the
# second MoE with 64 experts of 256, top-8 of 4 of 8 groups, a shared expert; 8 query heads of
# 64 over 2 KV; vocabulary 32768; 120 MB). Prompts of 8, 20, 33 and 45 tokens (rows in different
# blocks), 128 generated tokens each, 8 denoising steps per block (LLaDA2, dynamic:0.95) or 4
# (SDAR, dynamic:0.85), one thread, process CPU time, best of 3, start-up (a --logits run of one token)
# subtracted. Checks both give byte-identical records (tokens, reveal steps, nfe). A last case
# measures the shared prefill: the SDAR model with prompts of 500, 520, 540 and 560 tokens and 8
# generated tokens, where the prompts' blocks are most of the work (one forward of all four
# prompts with --batch 4, one per prompt with --batch 1).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
: "${LLADA_BIN:=$root/bin}"
: "${PYTHON:=/usr/bin/python3}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PYTHON" "$root/tests/fixtures/make_tiny_llada2.py" "$tmp/l2" \
    --custom d=256,layers=4,H=4,KV=2,hd=64,E=16,G=4,TG=2,k=4,Fe=128,S=1,Fd=768,first=1,V=4096 >/dev/null
"$PYTHON" "$root/tests/fixtures/make_tiny_llada2.py" "$tmp/l2mid" \
    --custom d=512,layers=2,H=8,KV=2,hd=64,E=64,G=8,TG=4,k=8,Fe=256,S=1,Fd=1536,first=1,V=32768,bf16=1 >/dev/null
"$PYTHON" "$root/tests/fixtures/make_tiny_sdar.py" "$tmp/sdar" --seed 5 \
    --custom d=256,layers=4,H=4,KV=2,hd=64,F=768,V=4096,blk=4 >/dev/null
LLADA_BIN=$LLADA_BIN "$PYTHON" - "$tmp/l2" "$tmp/sdar" "$tmp/l2mid" <<'PY'
import msgpack, numpy as np, os, resource, subprocess, sys
den = os.path.join(os.environ["LLADA_BIN"], "denoise")
G = 128
def records(lengths):
    return b"".join(msgpack.packb({"kind": "tokens", "tokens": {"dtype": "i4", "shape": [n],
                                   "data": (np.arange(n, dtype="<i4") % 3000 + 10).astype("<i4").tobytes()}},
                                  use_bin_type=True) for n in lengths)
def cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
def run(model, recs, G, extra):
    best, out = 1e9, None
    for _ in range(3):
        t = cpu()
        p = subprocess.run([den, "--model", model, "--gen-length", str(G), "--threads", "1"] + extra,
                           input=recs, capture_output=True, check=True)
        best, out = min(best, cpu() - t), p.stdout
    return best, out
name = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"# {name}, 1 thread, process CPU time (user + system), start-up subtracted, best of 3; 4 records")
short, long_ = records((8, 20, 33, 45)), records((500, 520, 540, 560))
for label, model, recs, G, steps in (
        ("LLaDA2 layout, block 32, 128 tokens", sys.argv[1], short, G, 8 * G // 32),
        ("SDAR layout, block 4, 128 tokens", sys.argv[2], short, G, 4 * G // 4),
        ("LLaDA2 layout bf16, d 512, 64 experts, vocabulary 32768, block 32, 128 tokens", sys.argv[3], short, G,
         8 * G // 32),
        ("SDAR layout, prompts of 500-560 tokens, 8 generated (prefill)", sys.argv[2], long_, 8, 8)):
    base = 1e9
    for _ in range(3):
        t = cpu()
        subprocess.run([den, "--model", model, "--logits", "--threads", "1"], input=records((1,)), capture_output=True,
                       check=True)
        base = min(base, cpu() - t)
    (s1, o1), (s4, o4) = (run(model, recs, G, ["--steps", str(steps), "--batch", str(b)]) for b in (1, 4))
    s1, s4 = s1 - base, s4 - base
    print(f"{label}: --batch 1 {s1:.2f} s, --batch 4 {s4:.2f} s, {s1 / s4:.2f}x, identical records: {o1 == o4}")
PY
