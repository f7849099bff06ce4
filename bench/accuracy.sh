#!/usr/bin/env bash
# bench/accuracy.sh — what --cache, threshold decoding and --precision cost in accuracy on a task
# we can score (issue 12 §3). Reproducible end to end (deterministic given the seed):
#   1. data: scripts/wordtask_data.py — "reverse: w1..w5" -> "w5..w1" and "copy: w1..w12" ->
#      "w1..w12" over 24 one-token words, 20,000 SFT items, 100 held-out items per task;
#   2. model: a tiny LLaDA (d 128, 4 layers, 1.9 M parameters) trained from scratch with
#      `train` on `mask --sft` records (two masks per item): 3,000 steps of 16 x 48 tokens at
#      lr 2e-3, then 3,000 more from those weights at lr 1e-3 (each ~10–15 min of one core under
#      nice; after the first stage copy was at 95% and reverse at 32%); kept in WORK and reused
#      when WORK/model.done exists;
#   3. generation: denoise at T = 0, 16 tokens in 2 blocks of 8, 16 steps, batch 20, 1 thread,
#      for {none, prefix, dual} x {low_confidence, threshold:0.9} x {f32, bf16, int8}: exact
#      match per task (the text before EOS/EOT equals the reference), agreement of the
#      generated tokens with the exact path (none, low_confidence, f32), tokens per forward pass
#      (16 / mean NFE) and tokens/s (generated tokens incl. EOS padding / wall time of the run,
#      model load included);
#   4. the bundled model's held-out likelihood per precision: the ELBO bound of
#      `mask --likelihood --mc 8 --batch 8 --seed 3 | denoise --score --precision P | mask
#      --reduce` on windows of 160 tokens of the held-out verses (every 100th KJV verse, as
#      pipelines/train-default holds them out; needs `bible`, else skipped).
# Env: ACC_TRAIN=1 to train the task model when WORK has none (`make bench` skips this script
# otherwise), ACC_WORK (default build/accuracy), ACC_STEPS (3000 per stage), ACC_NICE (10).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
: "${LLADA_BIN:=$root/bin}"
: "${PYTHON:=/usr/bin/python3}"
export PATH="$LLADA_BIN:$PATH"
work=${ACC_WORK:-$root/build/accuracy}
steps=${ACC_STEPS:-3000}
N="nice -n ${ACC_NICE:-10}"
tokdir=$root/models/default
mkdir -p "$work"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

# 1-2. data and the task model
if [ ! -f "$work/model.done" ] && [ "${ACC_TRAIN:-0}" != 1 ]; then
    echo "accuracy: no trained task model in $work: ACC_TRAIN=1 bench/accuracy.sh trains one (~30 min of a core)"
    exit 0
fi
if [ ! -f "$work/model.done" ]; then
    "$PYTHON" "$root/scripts/wordtask_data.py" "$work/data" --seed 1 || exit 1
    tok --model "$tokdir" -q --jsonl --chat --no-gen-prompt -i "$work/data/sft.jsonl" -o "$work/pairs.mp" || exit 1
    for s in 1 2; do mask --model "$tokdir" -q --sft --length 48 --seed "$s" -i "$work/pairs.mp" || exit 1; done >"$work/sft.mp"
    rm -rf "$work/stage1" "$work/model"
    opt=(--threads 1 --batch 16 --steps "$steps" --weight-decay 0.1 --clip 1.0 --log-every 100 --save-every 500 -q)
    $N train --tokenizer "$tokdir" --d-model 128 --n-layers 4 --n-heads 4 --mlp 384 "${opt[@]}" --lr 2e-3 \
        --seed 1 --log "$work/loss1.csv" --out "$work/stage1" -i "$work/sft.mp" || exit 1
    $N train --init "$work/stage1" "${opt[@]}" --lr 1e-3 --seed 2 --log "$work/loss2.csv" --out "$work/model" \
        -i "$work/sft.mp" || exit 1
    touch "$work/model.done"
fi
tok --model "$tokdir" -q --jsonl --chat -i "$work/data/test.jsonl" -o "$work/test.mp" || exit 1

# 3. the 18 decoding modes
"$PYTHON" - "$work" "${ACC_NICE:-10}" <<'PY' || exit 1
import json, subprocess, sys, time
work, nice = sys.argv[1], sys.argv[2]
ans = open(f"{work}/data/test.ans").read().splitlines()
task = open(f"{work}/data/test.task").read().splitlines()
G = 16
def run(cache, pol, prec):
    args = ["nice", "-n", nice, "denoise", "--model", f"{work}/model", "--gen-length", str(G), "--steps", str(G),
            "--block-length", "8", "--temperature", "0", "--batch", "20", "--threads", "1", "--json", "-q",
            "--cache", cache, "--remasking", pol, "--precision", prec, "-i", f"{work}/test.mp"]
    t0 = time.time()
    p = subprocess.run(args, capture_output=True)
    dt = time.time() - t0
    if p.returncode:
        raise SystemExit(f"denoise {' '.join(args[3:])}: {p.stderr.decode()[:300]}")
    d = subprocess.run(["detok", "-r", "--json"], input=p.stdout, capture_output=True, check=True).stdout
    recs = [json.loads(l) for l in d.decode().splitlines() if '"tokens"' in l]
    return [r["tokens"]["data"] for r in recs], [r.get("text", "").strip() for r in recs], \
        sum(r["nfe"] for r in recs) / len(recs), dt
rows, ref = [], None
for cache in ("none", "prefix", "dual"):
    for pol in ("low_confidence", "threshold:0.9"):
        for prec in ("f32", "bf16", "int8"):
            toks, text, nfe, dt = run(cache, pol, prec)
            if ref is None: ref = toks
            n = sum(len(t) for t in toks)
            em = {t: [x == y for x, y, k in zip(text, ans, task) if k == t] for t in ("reverse", "copy")}
            rows.append(dict(cache=cache, policy=pol, precision=prec,
                             exact_reverse=sum(em["reverse"]) / len(em["reverse"]),
                             exact_copy=sum(em["copy"]) / len(em["copy"]),
                             exact_all=sum(em["reverse"] + em["copy"]) / len(ans),
                             agree=sum(a == b for x, y in zip(toks, ref) for a, b in zip(x, y)) / n,
                             tok_per_fwd=G / nfe, tok_per_s=n / dt))
json.dump(rows, open(f"{work}/accuracy.json", "w"), indent=1)
print(f"task model ({work}/model), {len(ans)} held-out items ({len(ans) // 2} reverse-5, {len(ans) // 2} copy-12), "
      f"{G} tokens in blocks of 8, T=0, batch 20, 1 thread")
print(f"  {'cache':6s} {'policy':15s} {'prec':5s} {'exact':>6s} {'rev':>6s} {'copy':>6s} {'agree':>7s} {'tok/fwd':>8s} {'tok/s':>7s}")
for r in rows:
    print(f"  {r['cache']:6s} {r['policy']:15s} {r['precision']:5s} {r['exact_all'] * 100:5.1f}% "
          f"{r['exact_reverse'] * 100:5.1f}% {r['exact_copy'] * 100:5.1f}% {r['agree'] * 100:6.1f}% "
          f"{r['tok_per_fwd']:8.2f} {r['tok_per_s']:7.0f}")
PY

# 4. the bundled model's held-out likelihood per precision
if ! command -v bible >/dev/null; then echo "held-out likelihood: skipped ('bible' not found: apt-get install bible-kjv)"; exit 0; fi
bible -f gen1:1-rev22:21 | sed -E 's/^[^ ]+ //' | awk 'NR % 100 == 0' >"$work/heldout.txt"
tok --model "$tokdir" -q --json <"$work/heldout.txt" >"$work/heldout.jsonl" || exit 1
"$PYTHON" - "$work" <<'PY' || exit 1
import json, sys
w = sys.argv[1]
t = [x for l in open(f"{w}/heldout.jsonl") if '"tokens"' in l for x in json.loads(l)["tokens"]["data"]]
with open(f"{w}/heldout_w.jsonl", "w") as f:
    for i in range(0, len(t) - 160 + 1, 160):
        print(json.dumps({"kind": "tokens", "v": 1, "tokens": {"dtype": "i4", "shape": [160], "data": t[i:i + 160]}}), file=f)
PY
mask --model "$tokdir" -q --json --likelihood --mc 8 --batch 8 --seed 3 <"$work/heldout_w.jsonl" >"$work/heldout_ll.jsonl" || exit 1
for p in f32 bf16 int8; do
    $N denoise --model "$tokdir" --threads 1 -q --json --score --precision "$p" <"$work/heldout_ll.jsonl" |
        mask --json --reduce >"$work/heldout_$p.jsonl" || exit 1
done
"$PYTHON" - "$work" <<'PY'
import json, math, os, sys
w = sys.argv[1]
nbytes = os.path.getsize(f"{w}/heldout.txt")
print(f"bundled model, held-out verses ({nbytes} bytes), windows of 160 tokens, 8 MC samples, same masks for each precision")
print(f"  {'precision':9s} {'windows':>7s} {'nats/token':>11s} {'vs f32':>8s}")
base = None
for p in ("f32", "bf16", "int8"):
    b = [json.loads(l)["bound"] for l in open(f"{w}/heldout_{p}.jsonl") if '"likelihood"' in l]
    nt = -sum(b) / len(b) / 160
    base = nt if base is None else base
    print(f"  {p:9s} {len(b):7d} {nt:11.4f} {nt - base:+8.4f}")
PY
