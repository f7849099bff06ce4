#!/usr/bin/env python3
"""test_denoise_cache.py — denoise --cache prefix|dual against the independent numpy
reference of the same approximation (ref_llada.forward_rows / generate(cache=...), written
from issue 12's description): generated tokens and reveal steps equal exactly at T = 0 (and
at T > 0 with the shared counter RNG) on random tiny models whose LM head std keeps
near-ties away (make_tiny_ckpt.py, as test_denoise_parity.py). Cases: several blocks,
--cache-refresh, batches of different prompt lengths (left padding + key mask), CFG (cond
and uncond caches), low_confidence, random and threshold remasking, a remask policy served
over ZeroMQ; the six other policies with the cache (equal to --cache none when every step
recomputes the whole canvas, and local equal to served over ZeroMQ). Also: --cache none is byte-identical to no flag, the reference's cached runs
really differ from the exact sampler somewhere (so the comparison can fail), bad values are
usage errors (exit 2).
"""
import os, shutil, subprocess, sys, tempfile, time
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from pylib import check, summary, tool, ROOT, arr, unarr, run_denoise
import ref_llada as ref
import msgpack


FLAG = {"logits_eos_inf": "--logits-eos-inf", "confidence_eos_eot_inf": "--confidence-eos-eot-inf",
        "fixed_eos": "--fixed-eos"}


def cli_args(kw, batch):
    a = ["--steps", str(kw["steps"]), "--gen-length", str(kw["gen_length"]),
         "--block-length", str(kw["block_length"]), "--batch", str(batch)]
    a += [f for k, f in FLAG.items() if kw.get(k)]
    for k, f in (("remasking", "--remasking"), ("seed", "--seed"), ("temperature", "--temperature"),
                 ("cfg_scale", "--cfg")):
        if k in kw:
            a += [f, str(kw[k])]
    return a

PY = sys.executable
TMP = tempfile.mkdtemp(prefix="denoise_cache_")
subprocess.run([PY, os.path.join(ROOT, "tests/fixtures/make_tiny_ckpt.py"), TMP, "--seed", "7"], check=True)

CASES = [
    ("mha_f32", [[5, 9, 17, 3]], dict(steps=12, gen_length=12, block_length=4)),
    ("mha_f32", [[5, 9, 17, 3]], dict(steps=6, gen_length=12, block_length=4)),
    ("mha_f32", [[5, 9, 17, 3]], dict(steps=16, gen_length=16, block_length=8, cache_refresh=3)),
    ("mha_f32", [[5, 9, 17, 3]], dict(steps=8, gen_length=8, block_length=4, cfg_scale=1.5)),
    ("mha_f32", [[5, 9, 17, 3]], dict(steps=12, gen_length=12, block_length=4, remasking="random", seed=11)),
    ("mha_f32", [[5, 9, 17, 3]], dict(steps=12, gen_length=12, block_length=4, temperature=0.7, seed=5)),
    ("mha_f32", [[5, 9, 17, 3]], dict(steps=12, gen_length=12, block_length=4, remasking="threshold:0.3")),
    ("gqa_bf16", [[1, 2, 3], [4, 5], [7, 8, 9, 10, 11]], dict(steps=12, gen_length=12, block_length=4)),
    ("gqa_bf16", [[1, 2, 3], [4, 5]], dict(steps=8, gen_length=8, block_length=4, cfg_scale=0.5)),
    ("tied_f32", [[3, 1, 4, 1, 5]], dict(steps=16, gen_length=16, block_length=4, confidence_eos_eot_inf=True)),
    ("odd_f16", [[6, 7], [8]], dict(steps=8, gen_length=12, block_length=3, remasking="threshold:0.2")),
    ("mha_bf16", [[9, 8, 7, 6, 5], [4, 3]], dict(steps=8, gen_length=16, block_length=8, cfg_scale=0.3,
                                               logits_eos_inf=True, cache_refresh=2)),
]


def ref_kwargs(kw, mode):
    k = dict(kw)
    k["cache"] = mode
    return k


def cache_args(kw, mode, batch):
    a = cli_args({k: v for k, v in kw.items() if k != "cache_refresh"}, batch) + ["--cache", mode]
    if kw.get("cache_refresh"):
        a += ["--cache-refresh", str(kw["cache_refresh"])]
    return a


differs = 0
for i, (name, prompts, kw) in enumerate(CASES):
    d = os.path.join(TMP, name)
    cfg, W = ref.load(d)
    exact = ref.generate(cfg, W, prompts, **{k: v for k, v in kw.items() if k != "cache_refresh"})[0]
    for mode in ("prefix", "dual"):
        x, reveal, _ = ref.generate(cfg, W, prompts, **ref_kwargs(kw, mode))
        differs += not np.array_equal(x, exact)
        label = f"cache {mode} {i} {name} " + ",".join(f"{k}={v}" for k, v in kw.items()) + f" B={len(prompts)}"
        try:
            outs = run_denoise([{"kind": "tokens", "tokens": arr(p), "id": j} for j, p in enumerate(prompts)],
                               ["--model", d] + cache_args(kw, mode, len(prompts)))
        except RuntimeError as e:
            check(False, label, e)
            continue
        ok, why, G = len(outs) == len(prompts), "", kw["gen_length"]
        for j, r in enumerate(outs):
            gt, gr = unarr(r["tokens"]), unarr(r["reveal_step"])
            if not (np.array_equal(gt, x[j, -G:]) and np.array_equal(gr, reveal[j, -G:])):
                ok, why = False, f"row {j}: tokens {list(gt)} vs {list(x[j, -G:])}; reveal {list(gr)} vs {list(reveal[j, -G:])}"
        check(ok, label, why)
check(differs > 0, f"the cached reference differs from the exact sampler in {differs} of {2 * len(CASES)} runs "
      "(the comparison can fail)")

# --cache none: byte-identical to the default
name, prompts, kw = CASES[7]
d = os.path.join(TMP, name)
recs = [{"kind": "tokens", "tokens": arr(p), "id": j} for j, p in enumerate(prompts)]
a = run_denoise(recs, ["--model", d] + cli_args(kw, 3))
b = run_denoise(recs, ["--model", d] + cli_args(kw, 3) + ["--cache", "none"])
check(a == b, "--cache none equals no --cache flag")

# batched == one at a time, with the dual cache
solo = [run_denoise([r], ["--model", d] + cache_args(kw, "dual", 1))[0] for r in recs]
both = run_denoise(recs, ["--model", d] + cache_args(kw, "dual", 3))
check(all(np.array_equal(unarr(s["tokens"]), unarr(t["tokens"])) for s, t in zip(solo, both)),
      "dual cache: batched generation equals one-at-a-time")

# a remask policy served over ZeroMQ (remote policy) with the cache
name, prompts, kw = CASES[6]
d = os.path.join(TMP, name)
cfg, W = ref.load(d)
x, _, _ = ref.generate(cfg, W, prompts, **ref_kwargs(kw, "dual"))
ep = f"ipc://{TMP}/policy.sock"
srv = subprocess.Popen([tool("remask"), "--serve", ep, "--policy", kw["remasking"]], stderr=subprocess.DEVNULL)
try:
    time.sleep(0.3)
    out = run_denoise([{"kind": "tokens", "tokens": arr(prompts[0])}],
                      ["--model", d, "--policy-endpoint", ep] + cache_args(kw, "dual", 1))
    check(np.array_equal(unarr(out[0]["tokens"]), x[0, -kw["gen_length"]:]), "dual cache with a remote threshold policy")
except RuntimeError as e:
    check(False, "dual cache with a remote threshold policy", e)
finally:
    srv.terminate()
    srv.wait()

# every other remask policy with the cache. The policies see only the candidates' summaries
# (confidence, margin, entropy, tokens), the same structs with or without the cache, so: (a)
# with the whole canvas recomputed at every step (--cache-refresh 1) the cached sampler equals
# --cache none exactly, policy by policy; (b) a dual-cache run with the policy served over
# ZeroMQ by `remask --serve` equals the local one. Block steps are fixed or adaptive per policy.
name, prompts = "gqa_bf16", [[1, 2, 3], [4, 5], [7, 8, 9, 10, 11]]
d = os.path.join(TMP, name)
kw = dict(steps=12, gen_length=12, block_length=4, seed=3)
recs = [{"kind": "tokens", "tokens": arr(p), "id": j} for j, p in enumerate(prompts)]
moved = 0
for pol in ("factor:0.5", "topk_margin", "entropy", "eb:0.5", "origin", "dynamic:0.3"):
    base = ["--model", d] + cli_args(dict(kw, remasking=pol), len(prompts))
    try:
        exact = run_denoise(recs, base)
        for mode in ("prefix", "dual"):
            full = run_denoise(recs, base + ["--cache", mode, "--cache-refresh", "1"])
            check(full == exact, f"{pol}: --cache {mode} --cache-refresh 1 equals --cache none")
        local = run_denoise(recs, base + ["--cache", "dual"])
        moved += local != exact
    except RuntimeError as e:
        check(False, f"{pol} with the cache", e)
        continue
    ep = f"ipc://{TMP}/policy_{pol.split(':')[0]}.sock"
    srv = subprocess.Popen([tool("remask"), "--serve", ep, "--policy", pol], stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        remote = run_denoise(recs, ["--policy-endpoint", ep] + [a for a in base if a != "--remasking" and a != pol]
                             + ["--cache", "dual"])
        check([unarr(r["tokens"]).tolist() for r in remote] == [unarr(r["tokens"]).tolist() for r in local] and
              [unarr(r["reveal_step"]).tolist() for r in remote] == [unarr(r["reveal_step"]).tolist() for r in local],
              f"{pol}: dual cache, policy served over ZeroMQ equals the local policy")
    except RuntimeError as e:
        check(False, f"{pol}: dual cache with a remote policy", e)
    finally:
        srv.terminate()
        srv.wait()
check(moved > 0, f"the dual cache changes the output for {moved} of 6 policies (the checks above can fail)")

# usage errors
for bad in (["--cache", "full"], ["--cache-refresh", "0"]):
    p = subprocess.run([tool("denoise"), "--model", d] + bad, input=b"", capture_output=True)
    check(p.returncode == 2 and p.stderr.decode().startswith("denoise: error:"), f"{' '.join(bad)} is a usage error",
          p.stderr.decode()[:200])

shutil.rmtree(TMP, ignore_errors=True)
summary()
