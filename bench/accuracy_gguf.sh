#!/usr/bin/env bash
# bench/accuracy_gguf.sh — what GGUF quantisation costs on the scored task of bench/accuracy.sh
# (issue 13: Q8_0 within 0.5 point, Q4_K within 2 points of f32). Uses the task model that
# bench/accuracy.sh trains (WORK/model, WORK/model.done; skipped when there is none):
#   1. `denoise --model WORK/model --quantize T` for T in q8_0, q4_0. The task model is d 128 /
#      MLP 384, which no 256-value k-quant super-block fits, so bench/pad_model.py first writes
#      WORK/model256: the same function with d 256, 8 heads (4 of them zero), MLP 512 (zero
#      units), norm weights and eps rescaled; it is quantised as q8_0, q6_k, q4_k, q4_k_m (the
#      zero padding fills whole 32-value sub-blocks, so the real weights get Q4_K's own
#      sub-block scales and mins; only the super-block's shared 6-bit scale range spans 4 real
#      sub-blocks of 8 instead of 8);
#   2. the same exact-sampler decoding as bench/accuracy.sh (T = 0, 16 tokens in 2 blocks of 8,
#      16 steps, --cache none, batch 20, 1 thread, --precision f32) with low_confidence and
#      threshold:0.9, on the f32 folders and on each GGUF file: exact match per task and the
#      agreement of the generated tokens with the f32 folder under the same policy (and how many
#      tokens and items differ). Each GGUF
#      file runs twice: "exact" (LLADA_QMATMUL=f32: dequantised weights, sgemm) and "int8"
#      (--batch 1, so every matmul has <= 64 rows and takes the int8-activation kernels of
#      kernels/matmul_q.c / matmul_qk.c, the path decoding uses).
# Env: ACC_WORK (default build/accuracy, shared with bench/accuracy.sh), ACC_NICE (10).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
: "${LLADA_BIN:=$root/bin}"
: "${PYTHON:=/usr/bin/python3}"
export PATH="$LLADA_BIN:$PATH"
work=${ACC_WORK:-$root/build/accuracy}
N="nice -n ${ACC_NICE:-10}"
tokdir=$root/models/default
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
if [ ! -f "$work/model.done" ]; then
    echo "accuracy_gguf: no trained task model in $work: ACC_TRAIN=1 bench/accuracy.sh trains one (~30 min of a core)"
    exit 0
fi
[ -f "$work/test.mp" ] || tok --model "$tokdir" -q --jsonl --chat -i "$work/data/test.jsonl" -o "$work/test.mp" || exit 1
"$PYTHON" "$here/pad_model.py" "$work/model" "$work/model256" 256 8 512 || exit 1
mkdir -p "$work/gguf"
for t in q8_0 q4_0; do $N denoise --model "$work/model" --quantize "$t" "$work/gguf/task-$t.gguf" || exit 1; done
for t in q8_0 q6_k q4_k q4_k_m; do
    $N denoise --model "$work/model256" --quantize "$t" "$work/gguf/task256-$t.gguf" || exit 1
done

"$PYTHON" - "$work" "${ACC_NICE:-10}" <<'PY' || exit 1
import json, os, subprocess, sys, time
work, nice = sys.argv[1], sys.argv[2]
ans = open(f"{work}/data/test.ans").read().splitlines()
task = open(f"{work}/data/test.task").read().splitlines()
G = 16
def run(model, pol, path):
    # path "exact": LLADA_QMATMUL=f32 (dequantised panels + sgemm, the exact product of the stored
    # weights); "int8": batch 1, so every matmul has <= 64 rows and takes the int8 kernels
    env = dict(os.environ, LLADA_QMATMUL="f32") if path == "exact" else dict(os.environ)
    args = ["nice", "-n", nice, "denoise", "--model", model, "--gen-length", str(G), "--steps", str(G),
            "--block-length", "8", "--temperature", "0", "--batch", "20" if path == "exact" else "1",
            "--threads", "1", "--json", "-q",
            "--cache", "none", "--remasking", pol, "--precision", "f32", "-i", f"{work}/test.mp"]
    t0 = time.time()
    p = subprocess.run(args, capture_output=True, env=env)
    dt = time.time() - t0
    if p.returncode:
        raise SystemExit(f"denoise {' '.join(args[3:])}: {p.stderr.decode()[:300]}")
    d = subprocess.run(["detok", "-r", "--json"], input=p.stdout, capture_output=True, check=True).stdout
    recs = [json.loads(l) for l in d.decode().splitlines() if '"tokens"' in l]
    return [r["tokens"]["data"] for r in recs], [r.get("text", "").strip() for r in recs], dt
models = [("f32 (safetensors, d 128)", f"{work}/model", "exact"),
          ("f32, padded to d 256", f"{work}/model256", "exact")]
for path in ("exact", "int8"):
    models += [("q8_0", f"{work}/gguf/task-q8_0.gguf", path), ("q4_0", f"{work}/gguf/task-q4_0.gguf", path)]
    models += [(f"{t}, padded", f"{work}/gguf/task256-{t}.gguf", path) for t in ("q8_0", "q6_k", "q4_k_m", "q4_k")]
rows, ref = [], {}
for pol in ("low_confidence", "threshold:0.9"):
    for name, path, mm in models:
        toks, text, dt = run(path, pol, mm)
        ref.setdefault(pol, toks)
        n = sum(len(t) for t in toks)
        em = {t: [x == y for x, y, k in zip(text, ans, task) if k == t] for t in ("reverse", "copy")}
        rows.append(dict(model=name, bytes=os.path.getsize(path if path.endswith(".gguf") else f"{path}/model.safetensors"),
                         matmul=mm, policy=pol, exact_reverse=sum(em["reverse"]) / len(em["reverse"]),
                         exact_copy=sum(em["copy"]) / len(em["copy"]),
                         exact_all=sum(em["reverse"] + em["copy"]) / len(ans),
                         agree=sum(a == b for x, y in zip(toks, ref[pol]) for a, b in zip(x, y)) / n,
                         diff_tokens=sum(a != b for x, y in zip(toks, ref[pol]) for a, b in zip(x, y)),
                         diff_items=sum(x != y for x, y in zip(toks, ref[pol])), s=dt))
json.dump(rows, open(f"{work}/accuracy_gguf.json", "w"), indent=1)
print(f"task model ({work}/model), {len(ans)} held-out items ({len(ans) // 2} reverse-5, {len(ans) // 2} copy-12), "
      f"{G} tokens in blocks of 8, T=0, --cache none, --precision f32, batch 20, 1 thread")
print(f"  {'weights':25s} {'bytes':>9s} {'matmul':6s} {'policy':15s} {'exact':>6s} {'vs f32':>7s} {'rev':>6s} {'copy':>6s} {'agree':>7s} {'differ':>9s} {'s':>5s}")
base = {}
for r in rows:
    b = base.setdefault(r["policy"], r["exact_all"])
    print(f"  {r['model']:25s} {r['bytes']:9d} {r['matmul']:6s} {r['policy']:15s} {r['exact_all'] * 100:5.1f}% {(r['exact_all'] - b) * 100:+6.1f} "
          f"{r['exact_reverse'] * 100:5.1f}% {r['exact_copy'] * 100:5.1f}% {r['agree'] * 100:6.1f}% {r['diff_tokens']:3d}/{r['diff_items']:<3d}  {r['s']:5.0f}")
print(f"  differ: generated tokens / items that differ from the f32 folder's under the same policy ({len(ans) * G} tokens)")
PY
