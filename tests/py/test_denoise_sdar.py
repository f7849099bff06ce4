#!/usr/bin/env python3
"""test_denoise_sdar.py — block diffusion: the SDAR family (model/sdar.c, block-causal
attention in model/blockattn.c), its sampler (denoise/bdsample.c: SDAR's
block_diffusion_generate) and the exact block cache (model/blockcache.c), against the
independent numpy reference ref_sdar.py.

1. Tiny random checkpoints in SDAR's exact names and keys (make_tiny_sdar.py: GQA, head_dim
   != hidden/heads, QK-norm, block 4 and 8, tied, sharded bf16).
2. Logits parity of the block-causal forward (`denoise --logits`): <= 1e-5 rel f32, 1e-2 bf16;
   the mask is real (a later token does not move an earlier block's logits, it does move its
   own block's).
3. Generation token- and reveal-step-exact vs the port of block_diffusion_generate at T=0,
   low_confidence_static (--remasking low_confidence) and low_confidence_dynamic
   (--remasking dynamic:T), prompts ending inside a block and on a block boundary, with the
   block cache and with --no-block-cache (full recompute): the cache is exact.
4. Stopping at EOS after a block; --batch over prompts of different lengths; one-line errors
   for --cfg, bad configs.
"""
import json, os, shutil, subprocess, sys, tempfile
import numpy as np
import msgpack

sys.path.insert(0, os.path.dirname(__file__))
from pylib import check, summary, tool, ROOT, arr, unarr, run_denoise
import ref_sdar as ref

PY = sys.executable
TMP = tempfile.mkdtemp(prefix="denoise_sdar_")
subprocess.run([PY, os.path.join(ROOT, "tests/fixtures/make_tiny_sdar.py"), TMP, "--seed", "31"], check=True)


def logits(d, toks):
    return unarr(run_denoise([{"kind": "tokens", "tokens": arr(toks)}], ["--logits", "--model", d])[0]["logits"])


# ---------------------------------------------------------------- logits
rng = np.random.default_rng(4)
for name in sorted(os.listdir(TMP)):
    d = os.path.join(TMP, name)
    cfg, W = ref.load(d)
    toks = rng.integers(0, cfg["vocab_size"], size=19)
    toks[[2, 9, 10, 17]] = cfg["mask_token_id"]
    want = ref.forward(cfg, W, toks[None])[0]
    got = logits(d, toks)
    rel = np.abs(got - want).max() / np.abs(want).max()
    tol = 1e-5 if name.endswith("f32") else 1e-2
    check(got.shape == want.shape and rel <= tol, f"block-causal logits parity {name} (rel {rel:.2e} <= {tol})")
d = os.path.join(TMP, "sdar_f32")
cfg, W = ref.load(d)
toks = rng.integers(0, cfg["vocab_size"], size=12)
t2 = toks.copy()
t2[9] = (t2[9] + 1) % cfg["vocab_size"]     # block 2 (positions 8..11) with block 4
a, b = logits(d, toks), logits(d, t2)
check(np.array_equal(a[:8], b[:8]) and np.abs(a[8:] - b[8:]).max() > 1e-4,
      "block-causal: a token changes its own block's logits, never an earlier block's")

# ---------------------------------------------------------------- generation
CASES = [  # (checkpoint, prompt length, gen length, --steps, strategy, threshold)
    ("sdar_f32", 6, 10, 10, "low_confidence_static", None),
    ("sdar_f32", 8, 12, 6, "low_confidence_static", None),
    ("sdar_f32", 3, 16, 8, "low_confidence_dynamic", 0.3),
    ("sdar_f32", 5, 20, 20, "low_confidence_dynamic", 0.5),
    ("sdar_tied_bf16", 6, 10, 10, "low_confidence_static", None),
    ("sdar_tied_bf16", 8, 16, 4, "low_confidence_dynamic", 0.2),
]
for i, (name, P, G, steps, strat, thr) in enumerate(CASES):
    d = os.path.join(TMP, name)
    cfg, W = ref.load(d)
    prompt = [int(v) for v in np.random.default_rng(i).integers(0, cfg["vocab_size"] - 3, size=P)]
    D = max(1, steps * cfg["block_size"] // G)
    x, rv, nfe = ref.generate(cfg, W, prompt, G, D, strat, thr or 0.85, stop_ids=[cfg["eos_token_id"]])
    pol = "low_confidence" if strat.endswith("static") else f"dynamic:{thr}"
    for mode in ([], ["--no-block-cache"]):
        label = f"generate {i} {name} P={P} G={G} steps={steps} {pol} {'full recompute' if mode else 'block cache'}"
        try:
            r = run_denoise([{"kind": "tokens", "tokens": arr(prompt)}],
                            ["--model", d, "--gen-length", str(G), "--steps", str(steps), "--remasking", pol] + mode)[0]
        except RuntimeError as e:
            check(False, label, e)
            continue
        gt, gr = unarr(r["tokens"]), unarr(r["reveal_step"])
        check(np.array_equal(gt, x[P:P + G]) and np.array_equal(gr, rv[P:P + G]) and r["nfe"] == nfe, label,
              f"tokens {list(gt)} vs {list(x[P:P + G])}; reveal {list(gr)} vs {list(rv[P:P + G])}; nfe {r['nfe']} vs {nfe}")

# the default remasking of SDAR models is generate.py's: low_confidence_dynamic, threshold 0.85
d = os.path.join(TMP, "sdar_f32")
cfg, W = ref.load(d)
prompt = [4, 8, 15, 16, 23]
x, rv, nfe = ref.generate(cfg, W, prompt, 12, 4, "low_confidence_dynamic", 0.85, stop_ids=[cfg["eos_token_id"]])
r = run_denoise([{"kind": "tokens", "tokens": arr(prompt)}], ["--model", d, "--gen-length", "12"])[0]
check(np.array_equal(unarr(r["tokens"]), x[5:17]) and np.array_equal(unarr(r["reveal_step"]), rv[5:17]),
      "no --remasking: SDAR's low_confidence_dynamic 0.85")

# EOS after a block stops the run (generate.py's stopping_criteria_idx): name as EOS a token
# the first generated block holds, so the run must stop after that block
d = os.path.join(TMP, "sdar_f32")
cfg, W = ref.load(d)
prompt = [7, 3, 9, 1]
x, _, _ = ref.generate(cfg, W, prompt, 24, 4)
stop_tok = int(x[5])
ed = os.path.join(TMP, "sdar_eos")
shutil.copytree(d, ed)
c = json.load(open(os.path.join(ed, "config.json")))
c["eos_token_id"] = stop_tok
json.dump(c, open(os.path.join(ed, "config.json"), "w"))
cfg2 = dict(cfg, eos_token_id=stop_tok)
x2, rv2, _ = ref.generate(cfg2, W, prompt, 24, 4, stop_ids=[stop_tok])
r = run_denoise([{"kind": "tokens", "tokens": arr(prompt)}], ["--model", ed, "--gen-length", "24"])[0]
check((x2[8:28] == cfg["mask_token_id"]).all() and np.array_equal(unarr(r["tokens"]), x2[4:28]) and
      np.array_equal(unarr(r["reveal_step"]), rv2[4:28]),
      "EOS in a block stops generation after it; later blocks stay masks (as the reference)",
      f"{list(unarr(r['tokens']))} vs {list(x2[4:28])}")

# ---------------------------------------------------------------- errors
# ---------------------------------------------------------------- batch
# records of different prompt lengths in one --batch run: each is its own record's reference
# (bdsample.h: the rows run in lockstep, each unpadded with its own block tiling)
def batch_equals_reference(prompts):
    """`--batch 3` over prompts: every record equals its own reference run (tokens, reveal, nfe)."""
    rs = run_denoise([{"kind": "tokens", "tokens": arr(q)} for q in prompts],
                     ["--model", d, "--gen-length", "8", "--steps", "4", "--remasking", "low_confidence", "--batch", "3"])
    ok = len(rs) == len(prompts)
    for q, r in zip(prompts, rs):
        x, rv, nfe = ref.generate(cfg, W, q, 8, max(1, 4 * cfg["block_size"] // 8), "low_confidence_static", 0.85,
                                  stop_ids=[cfg["eos_token_id"]])
        ok = ok and np.array_equal(unarr(r["tokens"]), x[len(q):len(q) + 8]) and \
            np.array_equal(unarr(r["reveal_step"]), rv[len(q):len(q) + 8]) and r["nfe"] == nfe
    return ok


check(batch_equals_reference([[1, 2], [3], [5, 8, 13, 21, 34, 55, 1], [9, 9, 9, 9, 9]]),
      "--batch 3 over prompts of 1..7 tokens: every record equals its reference (tokens, reveal, nfe)")
# long prompts: the prompts' blocks enter the caches in shared forwards of at most 1024 tokens
# (bdsample.c PREFILL_ROWS), so 700 + 648 + 12 prompt tokens split one prompt over two forwards
rng_long = np.random.default_rng(77)
check(batch_equals_reference([[int(v) for v in rng_long.integers(0, cfg["vocab_size"] - 3, size=n)]
                              for n in (701, 650, 13)]),
      "--batch 3 over prompts of 701, 650 and 13 tokens (prefill split over forwards): each equals its reference")
p = run_denoise([{"kind": "tokens", "tokens": arr([1, 2])}], ["--model", d, "--gen-length", "8", "--cfg", "1"], expect_rc=2)
err = p.stderr.decode()
check(p.returncode in (1, 2) and err.count("\n") == 1 and "cfg" in err, "--cfg: one-line error", err)


def bad_config(edit, want, label):
    bd = os.path.join(TMP, "bad")
    shutil.rmtree(bd, ignore_errors=True)
    shutil.copytree(os.path.join(TMP, "sdar_f32"), bd)
    c = json.load(open(os.path.join(bd, "config.json")))
    edit(c)
    json.dump(c, open(os.path.join(bd, "config.json"), "w"))
    q = subprocess.run([tool("denoise"), "--model", bd, "--gen-length", "4"], input=b"",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    e = q.stderr.decode()
    check(q.returncode == 1 and e.count("\n") == 1 and want in e, f"bad config: {label}", f"rc {q.returncode}: {e!r}")


bad_config(lambda c: c.update(rope_scaling={"type": "yarn", "factor": 2.0}), "rope_scaling", "rope_scaling")
bad_config(lambda c: c.update(head_dim=8), "q_proj", "head_dim not matching the tensors")
bad_config(lambda c: c.pop("mask_token_id"), "mask_token_id", "no mask id outside Qwen3's vocabulary")
bad_config(lambda c: c.update(use_sliding_window=True), "use_sliding_window", "sliding window")

shutil.rmtree(TMP, ignore_errors=True)
summary()
