#!/usr/bin/env bash
# bench/agree.sh — what --cache / --precision / threshold decoding change on a trained model
# (issue 12 §3, the part that needs no new training): the bundled KJV model (models/default:
# v2 since 2026-12-07, 14.65 M parameters; docs/denoise.md's numbers are v1's, 7.2 M), 16 prompts, 64 tokens in blocks of 32, T = 0. For {none, prefix, dual} x
# {low_confidence, threshold:0.9} x {f32, bf16, int8}: agreement of the generated tokens with
# the exact sampler (none, low_confidence, f32), tokens per forward pass, and tokens/s
# (wall time of the whole denoise run, model load included; 1 thread). Exact-match accuracy on
# a scored task needs an SFT-trained task model, which this script does not build.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
: "${LLADA_BIN:=$root/bin}"
: "${PYTHON:=/usr/bin/python3}"
exec "$PYTHON" - "$LLADA_BIN" "$root/models/default" <<'PY'
import json, subprocess, sys, time
bin_, model = sys.argv[1], sys.argv[2]
prompts = ["And God said", "In the beginning", "The LORD is my shepherd", "And it came to pass",
           "Blessed are the", "Then Jesus said unto them", "And the king", "Hear, O Israel",
           "For God so loved", "And Moses spake", "The heavens declare", "And he said unto me",
           "Now the serpent", "Thus saith the LORD", "And the children of Israel", "In my Father's house"]
toks = subprocess.run([f"{bin_}/tok", "--lines", "--model", model], input="\n".join(prompts).encode() + b"\n",
                      capture_output=True, check=True).stdout
def run(cache, pol, prec):
    args = [f"{bin_}/denoise", "--model", model, "--gen-length", "64", "--steps", "64", "--block-length", "32",
            "--temperature", "0", "--batch", "16", "--threads", "1", "--json", "-q", "--cache", cache,
            "--remasking", pol, "--precision", prec]
    t0 = time.time()
    p = subprocess.run(args, input=toks, capture_output=True)
    dt = time.time() - t0
    if p.returncode:
        raise SystemExit(f"denoise {' '.join(args[1:])}: {p.stderr.decode()[:300]}")
    recs = [json.loads(l) for l in p.stdout.decode().splitlines() if '"tokens"' in l]
    return [r["tokens"]["data"] for r in recs], sum(r["nfe"] for r in recs) / len(recs), dt
ref, _, _ = run("none", "low_confidence", "f32")
n = sum(len(t) for t in ref)
print(f"bundled model, {len(prompts)} prompts x 64 tokens, blocks of 32, T=0, 1 thread")
print(f"  {'cache':6s} {'policy':15s} {'prec':5s} {'agree':>7s} {'tok/fwd':>8s} {'tok/s':>7s}")
for cache in ("none", "prefix", "dual"):
    for pol in ("low_confidence", "threshold:0.9"):
        for prec in ("f32", "bf16", "int8"):
            out, nfe, dt = run(cache, pol, prec)
            agree = sum(a == b for x, y in zip(out, ref) for a, b in zip(x, y)) / n
            print(f"  {cache:6s} {pol:15s} {prec:5s} {agree * 100:6.1f}% {64 / nfe:8.2f} {n / dt:7.0f}")
PY
