#!/usr/bin/env python3
"""test_denoise_llada2.py — LLaDA 2.x (model/llada2.c: BailingMoeV2 with fused q/k/v, partial
RoPE, sigmoid group-limited MoE routing; block-causal attention of blockattn.c), its samplers
(denoise/bdsample.c: LLaDA 2.0's threshold decoding per block, 2.1's token editing) and the
exact block cache (model/blockcache.c), against the independent numpy reference
ref_llada2.py.

1. Tiny random checkpoints in the exact published names and keys (make_tiny_llada2.py:
   head_dim != hidden/heads, shared experts, first layer dense, q/k/v and dense biases, tied,
   sharded bf16).
2. Logits parity (`denoise --logits`): <= 1e-5 rel f32, 1e-2 bf16; the block mask is real.
3. Generation token-, reveal-step- and NFE-exact vs the ports of generate() at T=0, with the
   block cache and with --no-block-cache (full recompute).
4. LLaDA 2.0's eos_early_stop (--eos-early-stop) mid-block return, and the attention block
   from generation_config.json's block_length, against the same reference.
5. One-line errors for bad configs.
"""
import json, os, shutil, subprocess, sys, tempfile
import numpy as np
import msgpack

sys.path.insert(0, os.path.dirname(__file__))
from pylib import check, summary, tool, ROOT
import ref_llada2 as ref

PY = sys.executable
TMP = tempfile.mkdtemp(prefix="denoise_llada2_")
subprocess.run([PY, os.path.join(ROOT, "tests/fixtures/make_tiny_llada2.py"), TMP, "--seed", "77"], check=True)


def arr(a):
    a = np.asarray(a, dtype="<i4")
    return {"dtype": "i4", "shape": list(a.shape), "data": a.tobytes()}


def unarr(m):
    dt = {"i4": "<i4", "f4": "<f4", "f8": "<f8"}[m["dtype"]]
    return np.frombuffer(m["data"], dtype=dt).reshape(m["shape"])


def run_denoise(records, args, expect_rc=0):
    data = b"".join(msgpack.packb(r, use_bin_type=True) for r in records)
    p = subprocess.run([tool("denoise")] + args, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if expect_rc != 0:
        return p
    if p.returncode != 0:
        raise RuntimeError(f"denoise {' '.join(args)}: exit {p.returncode}: {p.stderr.decode()[:300]}")
    up = msgpack.Unpacker(raw=False)
    up.feed(p.stdout)
    return [r for r in up if r.get("kind") != "end"]


def logits(d, toks):
    return unarr(run_denoise([{"kind": "tokens", "tokens": arr(toks)}], ["--logits", "--model", d])[0]["logits"])


# ---------------------------------------------------------------- logits
rng = np.random.default_rng(5)
for name in sorted(os.listdir(TMP)):
    d = os.path.join(TMP, name)
    cfg, W = ref.load(d)
    toks = rng.integers(0, cfg["vocab_size"], size=70)     # three blocks of 32, the last partial
    toks[[2, 9, 33, 40, 66]] = cfg["mask_token_id"]
    want = ref.forward(cfg, W, toks[None])[0]
    got = logits(d, toks)
    rel = np.abs(got - want).max() / np.abs(want).max()
    tol = 1e-5 if name.endswith("f32") else 1e-2
    check(got.shape == want.shape and rel <= tol, f"logits parity {name} (rel {rel:.2e} <= {tol})")
d = os.path.join(TMP, "llada2_f32")
cfg, W = ref.load(d)
toks = rng.integers(0, cfg["vocab_size"], size=50)
t2 = toks.copy()
t2[40] = (t2[40] + 1) % cfg["vocab_size"]     # block 1 (positions 32..63)
a, b = logits(d, toks), logits(d, t2)
check(np.array_equal(a[:32], b[:32]) and np.abs(a[32:] - b[32:]).max() > 1e-4,
      "block-causal (block 32): a token changes its own block's logits, never an earlier block's")

# ---------------------------------------------------------------- generation
def gen(d, prompt, G, args):
    return run_denoise([{"kind": "tokens", "tokens": arr(prompt)}], ["--model", d, "--gen-length", str(G)] + args)[0]


def check_same(label, r, x, rv, nfe, P, G):
    ok, why = same(r, x, rv, nfe, P, G)
    check(ok, label, why)


def same(r, x, rv, nfe, P, G):
    gt, gr = unarr(r["tokens"]), unarr(r["reveal_step"])
    ok = np.array_equal(gt, x[P:P + G]) and np.array_equal(gr, rv[P:P + G]) and r["nfe"] == nfe
    return ok, f"tokens {list(gt)} vs {list(x[P:P + G])}; reveal {list(gr)} vs {list(rv[P:P + G])}; nfe {r['nfe']} vs {nfe}"


# LLaDA 2.0: generate(steps=S per block, threshold) == --steps S*G/32 --remasking dynamic:threshold
CASES20 = [  # (checkpoint, prompt length, gen length, steps per block, threshold)
    ("llada2_f32", 5, 40, 8, 0.05),
    ("llada2_f32", 32, 32, 32, 0.5),      # prompt ends on a block boundary
    ("llada2_f32", 40, 24, 4, 0.2),
    ("llada2_bias_f32", 9, 64, 16, 0.1),
    ("llada2_bf16", 7, 64, 16, 0.08),
]
for i, (name, P, G, S, thr) in enumerate(CASES20):
    d = os.path.join(TMP, name)
    cfg, W = ref.load(d)
    prompt = [int(v) for v in np.random.default_rng(10 + i).integers(0, cfg["vocab_size"] - 3, size=P)]
    x, rv, nfe = ref.generate20(cfg, W, prompt, G, S, thr)
    for mode in ([], ["--no-block-cache"]):
        label = f"2.0 generate {i} {name} P={P} G={G} steps/block={S} threshold {thr} {'full recompute' if mode else 'block cache'}"
        try:
            r = gen(d, prompt, G, ["--steps", str(S * G // 32), "--remasking", f"dynamic:{thr}"] + mode)
        except RuntimeError as e:
            check(False, label, e)
            continue
        check(*same(r, x, rv, nfe, P, G)[:1], label, same(r, x, rv, nfe, P, G)[1])

# the default remasking of LLaDA2 models is generate()'s threshold 0.95 (dynamic:0.95)
d = os.path.join(TMP, "llada2_f32")
cfg, W = ref.load(d)
prompt = [4, 8, 15, 16, 23]
x, rv, nfe = ref.generate20(cfg, W, prompt, 32, 32, 0.95)
r = gen(d, prompt, 32, [])
check_same("no --remasking: generate()'s threshold 0.95, 32 steps per block", r, x, rv, nfe, 5, 32)

# LLaDA 2.1 token editing: generate(threshold, editing_threshold, max_post_steps)
CASES21 = [  # (checkpoint, prompt length, gen length, threshold, editing_threshold, max_post_steps)
    ("llada2_f32", 5, 40, 0.1, 0.05, 16),
    ("llada2_f32", 32, 32, 0.3, 0.0, 3),     # S mode's editing threshold 0
    ("llada2_bias_f32", 9, 30, 0.05, 0.1, 16),
    ("llada2_bf16", 7, 40, 0.7, 0.5, 16),     # the card's Q mode
]
edits_seen = 0
for i, (name, P, G, thr, ethr, post) in enumerate(CASES21):
    d = os.path.join(TMP, name)
    cfg, W = ref.load(d)
    prompt = [int(v) for v in np.random.default_rng(20 + i).integers(0, cfg["vocab_size"] - 3, size=P)]
    x, rv, nfe = ref.generate21(cfg, W, prompt, G, thr, ethr, post)
    x0, _, nfe0 = ref.generate21(cfg, W, prompt, G, thr, 1.0, post)
    edits_seen += int(not np.array_equal(x, x0) or nfe != nfe0)
    for mode in ([], ["--no-block-cache"]):
        label = (f"2.1 generate {i} {name} P={P} G={G} threshold {thr} editing {ethr} post {post} "
                 f"{'full recompute' if mode else 'block cache'}")
        try:
            r = gen(d, prompt, G, ["--remasking", f"dynamic:{thr}", "--edit-threshold", str(ethr),
                                   "--max-post-steps", str(post)] + mode)
        except RuntimeError as e:
            check(False, label, e)
            continue
        check(*same(r, x, rv, nfe, P, G)[:1], label, same(r, x, rv, nfe, P, G)[1])
check(edits_seen >= 2, f"token editing changes the result in {edits_seen} of {len(CASES21)} cases (the test can fail)")

# --batch: records of different prompt lengths in one run, each its own reference (bdsample.h:
# rows run in lockstep, each unpadded); 2.1 token editing (Q mode), block cache
d = os.path.join(TMP, "llada2_f32")
cfg, W = ref.load(d)
prompts = [[int(v) for v in np.random.default_rng(40 + k).integers(0, cfg["vocab_size"] - 3, size=n)] for k, n in
           enumerate((3, 11, 1))]
try:
    rs = run_denoise([{"kind": "tokens", "tokens": arr(q)} for q in prompts],
                     ["--model", d, "--gen-length", "40", "--remasking", "dynamic:0.1", "--edit-threshold", "0.05",
                      "--batch", "3"])
    ok = len(rs) == 3 and all(same(r, *ref.generate21(cfg, W, q, 40, 0.1, 0.05, 16), len(q), 40)[0]
                              for r, q in zip(rs, prompts))
    check(ok, "--batch 3, 2.1 token editing, prompts of 1..11 tokens: every record equals its reference")
except RuntimeError as e:
    check(False, "--batch 3, 2.1 token editing", e)

# lockstep batches (bdsample.c: one forward per tick over every unfinished row): 2.0 rows at
# different blocks (prompts of 3, 40, 70 and 11 tokens start in blocks 0, 1, 2, 0) each equal
# their own reference, with the block cache and full recompute
prompts = [[int(v) for v in np.random.default_rng(60 + k).integers(0, cfg["vocab_size"] - 3, size=n)] for k, n in
           enumerate((3, 40, 70, 11))]
refs = [ref.generate20(cfg, W, q, 48, 12, 0.2) for q in prompts]
for mode in ([], ["--no-block-cache"]):
    label = f"--batch 4, 2.0, rows in blocks 0..2 {'full recompute' if mode else 'block cache'}"
    try:
        rs = run_denoise([{"kind": "tokens", "tokens": arr(q)} for q in prompts],
                         ["--model", d, "--gen-length", "48", "--steps", str(12 * 48 // 32), "--remasking",
                          "dynamic:0.2", "--batch", "4"] + mode)
        bad = [j for j, (r, q, w) in enumerate(zip(rs, prompts, refs)) if not same(r, *w, len(q), 48)[0]]
        check(len(rs) == 4 and not bad, label + ": every record equals its reference (tokens, reveal, nfe)",
              f"rows {bad} differ")
    except RuntimeError as e:
        check(False, label, e)
check(len({w[2] for w in refs}) > 1, "the batch's rows need different numbers of forwards (the test can fail)")

# canvas records with fixed tokens in the generated region (one row's block 1 entirely fixed:
# it ends with no step) in a lockstep batch equal the same records one at a time
mask_id = cfg["mask_token_id"]
canv = []
for k, P in enumerate((5, 13, 29)):
    t = np.full(P + 64, mask_id, dtype=np.int64)
    t[:P] = np.random.default_rng(90 + k).integers(0, cfg["vocab_size"] - 3, size=P)
    fixed = {0: [8, 9, 40], 1: list(range(32, 64)), 2: [30, 31, 70]}[k]
    t[fixed] = [(3 * f) % (cfg["vocab_size"] - 3) for f in fixed]
    canv.append({"kind": "canvas", "tokens": arr(t), "prompt_len": P})
args = ["--model", d, "--gen-length", "64", "--steps", "16", "--remasking", "dynamic:0.3"]
try:
    one = [run_denoise([c_], args)[0] for c_ in canv]
    many = run_denoise(canv, args + ["--batch", "3"])
    ok = len(many) == 3 and all(np.array_equal(unarr(a["tokens"]), unarr(b["tokens"])) and
                                np.array_equal(unarr(a["reveal_step"]), unarr(b["reveal_step"])) and
                                a["nfe"] == b["nfe"] for a, b in zip(one, many))
    check(ok, f"canvas records with fixed tokens (a whole block fixed): --batch 3 equals --batch 1 "
              f"(nfe {[r['nfe'] for r in one]})")
    r1 = unarr(one[1]["reveal_step"])
    check((r1[32 - 13:64 - 13] == -1).all() and (unarr(one[1]["tokens"])[32 - 13:64 - 13] == [(3 * f) % (cfg["vocab_size"] - 3) for f in range(32, 64)]).all(),
          "the fixed block keeps its tokens, never revealed")
except RuntimeError as e:
    check(False, "canvas records in a lockstep batch", e)

# EOS after a block stops the run: name as EOS a token the first generated block holds
d = os.path.join(TMP, "llada2_f32")
cfg, W = ref.load(d)
prompt = [7, 3, 9, 1]
x, _, _ = ref.generate20(cfg, W, prompt, 96, 32, 0.95)
stop_tok = int(x[10])
ed = os.path.join(TMP, "llada2_eos")
shutil.copytree(d, ed)
c = json.load(open(os.path.join(ed, "config.json")))
c["eos_token_id"] = stop_tok
json.dump(c, open(os.path.join(ed, "config.json"), "w"))
cfg2 = dict(cfg, eos_token_id=stop_tok)
x2, rv2, nfe2 = ref.generate20(cfg2, W, prompt, 96, 32, 0.95)
r = gen(ed, prompt, 96, [])
ok, why = same(r, x2, rv2, nfe2, 4, 96)
check(ok and (x2[32:100] == cfg["mask_token_id"]).all(),
      "EOS in a block stops generation after it; later blocks stay masks (as the reference)", why)
x3, rv3, nfe3 = ref.generate21(cfg2, W, prompt, 96, 0.7, 0.5, 16)
r = gen(ed, prompt, 96, ["--remasking", "dynamic:0.7", "--edit-threshold", "0.5"])
ok, why = same(r, x3, rv3, nfe3, 4, 96)
check(ok and (x3[32:100] == cfg["mask_token_id"]).all(), "2.1: EOS in a settled block stops generation (eos_early_stop)", why)

# LLaDA 2.0's eos_early_stop (--eos-early-stop): the run returns right after a step that commits
# EOS when no mask lies between the prompt and the canvas' first EOS. Name as EOS tokens of the
# first generated block until one makes the early return change the result (fewer forwards).
x, _, _ = ref.generate20(cfg, W, prompt, 96, 32, 0.95)
found = None
for pos in range(4, 32):
    cfg2 = dict(cfg, eos_token_id=int(x[pos]))
    early = ref.generate20(cfg2, W, prompt, 96, 32, 0.95, eos_early_stop=True)
    plain = ref.generate20(cfg2, W, prompt, 96, 32, 0.95)
    if early[2] < plain[2]:
        found = (int(x[pos]), early, plain)
        break
check(found is not None, "some EOS token makes the early return change the reference (the test can fail)")
if found:
    c["eos_token_id"] = found[0]
    json.dump(c, open(os.path.join(ed, "config.json"), "w"))
    xe, rve, nfee = found[1]
    for mode in ([], ["--no-block-cache"]):
        r = gen(ed, prompt, 96, ["--eos-early-stop"] + mode)
        check_same(f"--eos-early-stop returns mid-block as generate() (nfe {nfee} < {found[2][2]}) "
                   f"{'full recompute' if mode else 'block cache'}", r, xe, rve, nfee, 4, 96)
    check_same("without --eos-early-stop: the block-end stop only", gen(ed, prompt, 96, []), *found[2], 4, 96)
    # generate() searches the first EOS from position 0: an EOS in the prompt makes any
    # committed EOS return at once
    # committed EOS return at once (tokens that give an early return with it in the prompt)
    hit = None
    for t in sorted(set(int(v) for v in x[4:36])):
        pe = prompt[:2] + [t] + prompt[2:]
        cq = dict(cfg, eos_token_id=t)
        q = ref.generate20(cq, W, pe, 96, 32, 0.95, eos_early_stop=True)
        if q[2] < ref.generate20(cq, W, pe, 96, 32, 0.95)[2] and (q[0][5:] == cfg["mask_token_id"]).any():
            hit = (t, pe, q)
            break
    check(hit is not None, "an EOS in the prompt gives an early return with masks left (the test can fail)")
    if hit:
        c["eos_token_id"] = hit[0]
        json.dump(c, open(os.path.join(ed, "config.json"), "w"))
        check_same(f"--eos-early-stop with EOS in the prompt (nfe {hit[2][2]})",
                   gen(ed, hit[1], 96, ["--eos-early-stop"]), *hit[2], 5, 96)
    # in a lockstep batch: the row that returns early leaves, the others go on to their ends
    bp = [prompt, [5, 1, 9, 2, 6, 3, 8], prompt[:3]]
    c["eos_token_id"] = found[0]
    json.dump(c, open(os.path.join(ed, "config.json"), "w"))
    cq = dict(cfg, eos_token_id=found[0])
    bw = [ref.generate20(cq, W, q, 96, 32, 0.95, eos_early_stop=True) for q in bp]
    rs = run_denoise([{"kind": "tokens", "tokens": arr(q)} for q in bp],
                     ["--model", ed, "--gen-length", "96", "--eos-early-stop", "--batch", "3"])
    bad = [j for j, (r, q, w) in enumerate(zip(rs, bp, bw)) if not same(r, *w, len(q), 96)[0]]
    check(len(rs) == 3 and not bad, f"--eos-early-stop --batch 3 (nfe {[w[2] for w in bw]}): every row its reference",
          f"rows {bad} differ")
p = run_denoise([{"kind": "tokens", "tokens": arr([1, 2])}], ["--model", d, "--gen-length", "8", "--eos-early-stop",
                                                              "--edit-threshold", "0.5"], expect_rc=2)
err = p.stderr.decode()
check(p.returncode == 2 and err.count("\n") == 1 and "--eos-early-stop" in err, "--eos-early-stop with 2.1 editing: one-line usage error", err)

# the attention block is generate()'s block_length: a folder's generation_config.json sets it
bd16 = os.path.join(TMP, "llada2_block16")
shutil.copytree(d, bd16)
json.dump({"block_length": 16}, open(os.path.join(bd16, "generation_config.json"), "w"))
toks = rng.integers(0, cfg["vocab_size"] - 3, size=40)
t2 = toks.copy()
t2[20] = (t2[20] + 1) % (cfg["vocab_size"] - 3)   # block 1 of 16 (positions 16..31)
a, b = logits(bd16, toks), logits(bd16, t2)
want = ref.forward(cfg, W, toks[None], block=16)[0]
check(np.array_equal(a[:16], b[:16]) and np.abs(a[16:32] - b[16:32]).max() > 1e-4 and
      np.abs(a - want).max() / np.abs(want).max() <= 1e-5,
      "generation_config.json block_length 16: block-causal over 16 (logits equal the reference's)")
pr = [int(v) for v in np.random.default_rng(77).integers(0, cfg["vocab_size"] - 3, size=5)]
x16, rv16, nfe16 = ref.generate20(cfg, W, pr, 48, 8, 0.3, block=16)
x32, _, _ = ref.generate20(cfg, W, pr, 48, 8, 0.3)
check(not np.array_equal(x16[5:53], x32[5:53]), "block 16 changes the reference's generation (the test can fail)")
for mode in ([], ["--no-block-cache"]):
    r = gen(bd16, pr, 48, ["--steps", str(8 * 48 // 16), "--remasking", "dynamic:0.3"] + mode)
    check_same(f"block 16 from generation_config.json: generate(block_length=16) "
               f"{'full recompute' if mode else 'block cache'}", r, x16, rv16, nfe16, 5, 48)
# Dream's sampler keys are not LLaDA2's (its generate() counts steps per block): ignored here
json.dump({"block_length": 16, "steps": 3, "top_k": 1, "top_p": 0.1, "alg_temp": 2.0},
          open(os.path.join(bd16, "generation_config.json"), "w"))
r = gen(bd16, pr, 48, ["--steps", str(8 * 48 // 16), "--remasking", "dynamic:0.3"])
check_same("a LLaDA2 folder's generation_config.json steps / top_k / top_p / alg_temp (Dream's keys) are not read",
           r, x16, rv16, nfe16, 5, 48)
for bad, want_msg in [({"block_length": 100000}, "max_position_embeddings"), ({"block_length": 0}, "block_length"),
                      ({"block_length": "big"}, "block_length")]:
    json.dump(bad, open(os.path.join(bd16, "generation_config.json"), "w"))
    q = subprocess.run([tool("denoise"), "--model", bd16, "--gen-length", "4"], input=b"", stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    e = q.stderr.decode()
    check(q.returncode == 1 and e.count("\n") == 1 and want_msg in e and e.startswith("denoise: error:"),
          f"generation_config.json {bad}: one-line error", f"rc {q.returncode}: {e!r}")

p = run_denoise([{"kind": "tokens", "tokens": arr([1, 2])}], ["--model", d, "--gen-length", "8", "--cfg", "1"],
                expect_rc=2)
err = p.stderr.decode()
check(p.returncode == 2 and err.count("\n") == 1 and "--cfg" in err,
      "--cfg: generate() has no guidance, one-line usage error", err)
p = run_denoise([{"kind": "tokens", "tokens": arr([1, 2])}], ["--model", d, "--gen-length", "8", "--batch", "1",
                                                              "--max-post-steps", "3"], expect_rc=2)
err = p.stderr.decode()
check(p.returncode == 2 and err.startswith("denoise: error: ") and "--edit-threshold" in err.split("\n")[0],
      "--max-post-steps alone: usage error", err)
p = run_denoise([{"kind": "tokens", "tokens": arr([1, 2])}], ["--model", d, "--gen-length", "8",
                                                              "--edit-threshold", "1.5"], expect_rc=2)
err = p.stderr.decode()
check(p.returncode == 2 and "--edit-threshold" in err.split("\n")[0], "--edit-threshold 1.5: usage error", err)
ld = os.path.join(TMP, "llada")   # token editing needs a block-diffusion model
subprocess.run([PY, os.path.join(ROOT, "tests/fixtures/make_tiny_ckpt.py"), ld, "--preset", "mha_f32"], check=True,
               stdout=subprocess.DEVNULL)
ld = os.path.join(ld, "mha_f32") if os.path.isdir(os.path.join(ld, "mha_f32")) else ld
p = run_denoise([{"kind": "tokens", "tokens": arr([1, 2])}], ["--model", ld, "--gen-length", "8",
                                                              "--edit-threshold", "0.5"], expect_rc=2)
err = p.stderr.decode()
check(p.returncode == 2 and err.count("\n") == 1 and "block-diffusion" in err, "--edit-threshold on LLaDA: one-line error",
      err)


# ---------------------------------------------------------------- errors
def bad_config(edit, want, label, src="llada2_f32"):
    bd = os.path.join(TMP, "bad")
    shutil.rmtree(bd, ignore_errors=True)
    shutil.copytree(os.path.join(TMP, src), bd)
    c = json.load(open(os.path.join(bd, "config.json")))
    edit(c)
    json.dump(c, open(os.path.join(bd, "config.json"), "w"))
    q = subprocess.run([tool("denoise"), "--model", bd, "--gen-length", "4"], input=b"",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    e = q.stderr.decode()
    check(q.returncode == 1 and e.count("\n") == 1 and want in e, f"bad config: {label}", f"rc {q.returncode}: {e!r}")


bad_config(lambda c: c.update(rope_scaling={"type": "yarn", "factor": 2.0}), "rope_scaling", "rope_scaling")
bad_config(lambda c: c.update(score_function="softmax"), "score_function", "softmax router")
bad_config(lambda c: c.update(norm_head=True), "norm_head", "norm_head")
bad_config(lambda c: c.update(n_group=3), "n_group", "experts not splitting into groups")
bad_config(lambda c: c.update(topk_group=5), "topk_group", "topk_group > n_group")
bad_config(lambda c: c.update(partial_rotary_factor=0.25), "partial_rotary_factor", "odd rotary width")
bad_config(lambda c: c.update(head_dim=16), "query_key_value", "head_dim not matching the tensors")
bad_config(lambda c: c.update(use_bias=True), "attention.dense.bias", "use_bias without the bias tensor")
bad_config(lambda c: c.pop("use_bias"), "attention.dense.bias", "use_bias absent: the class default true")
bad_config(lambda c: c.pop("intermediate_size"), "intermediate_size", "dense layer without intermediate_size")
bad_config(lambda c: c.pop("mask_token_id"), "mask_token_id", "no mask id outside Ling's vocabulary")
bad_config(lambda c: c.update(num_shared_experts=0), "shared_experts", "shared expert tensors without num_shared_experts")

shutil.rmtree(TMP, ignore_errors=True)
summary()
