"""test_mask_ll_counts.py — mask --likelihood's stratified counts against torch's float32 arithmetic.

get_log_likelihood.py draws, per batch of b samples with offset k ~ U{1..L},
    x = torch.round(torch.linspace(float(k), k + (b - 1) * (L / b), steps=b)).long()
    l = ((x - 1) % L) + 1
in torch's default dtype, float32. This file emulates that with numpy float32 values, written
from the torch sources (ATen RangeFactories, CPU kernel and CUDA kernel alike):
  end   = float32(float32(k) + float32((b-1) * (L/b)))      # int64 tensor + Python float
  step  = float32((end - start) / float32(b - 1))
  x[i]  = start + step*i            for i <  b // 2      (one rounding: a fused multiply-add,
          end - step*(b - 1 - i)    for i >= b // 2       as nvcc and the -mfma CPU kernels do)
  round half to even.
The fused value is computed exactly in float64 (a 24-bit step times a small integer plus a
float32 endpoint fits in 53 bits) and rounded once to float32. For every batch of every pair
the counts written by mask (n_masked, in mc order) must equal the emulation; powers of two must
equal exact arithmetic; and the run must contain batches where float32 and exact arithmetic
differ (else this test could not tell the two apart).
"""
import os, subprocess, sys
import numpy as np
import msgpack

sys.path.insert(0, os.path.dirname(__file__))
from pylib import check, summary, tool

f32 = np.float32
MASK = 1000


def torch_counts(L, b, k):
    start = f32(k)
    end = f32(start + f32((b - 1) * (L / b)))
    if b == 1:
        v = np.array([start], dtype=f32)
    else:
        step = f32((end - start) / f32(b - 1))
        i = np.arange(b)
        lo = np.float64(start) + np.float64(step) * i
        hi = np.float64(end) - np.float64(step) * (b - 1 - i)
        v = np.where(i < b // 2, lo, hi).astype(f32)
    x = np.rint(v).astype(np.int64)          # numpy rint: half to even, as torch.round
    return list(((x - 1) % L) + 1)


def exact_counts(L, b, k):
    x = np.rint(k + np.arange(b) * (L / b)).astype(np.int64)
    return list(((x - 1) % L) + 1)


def tensor(a):
    a = np.asarray(a, dtype="<i4")
    return {"dtype": "i4", "shape": [len(a)], "data": a.tobytes()}


lengths = list(range(1, 33)) + [47, 100, 250] + [5] * 24 + [7] * 24 + [12] * 12
inp = b"".join(msgpack.packb({"kind": "tokens", "prompt": tensor([1, 2]), "tokens": tensor(np.arange(L) % 50)})
               for L in lengths)
NB = 8
total = differ = 0
for b in [3, 5, 6, 7, 10, 12, 24, 48, 4, 16, 64]:
    p = subprocess.run([tool("mask"), "--likelihood", "--mc", str(NB * b), "--batch", str(b), "--seed", str(b),
                        "--mask-id", str(MASK)], input=inp, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if not check(p.returncode == 0, f"mask --likelihood --batch {b} runs", p.stderr.decode(errors="replace")):
        continue
    u = msgpack.Unpacker(raw=False)
    u.feed(p.stdout)
    by = {}
    for r in u:
        if r.get("kind") == "end":
            continue
        by.setdefault((r["group"], r["mc"] // b), []).append((r["mc"], r["n_masked"]))
    ok, pow2 = True, (b & (b - 1)) == 0
    bad = None
    for (g, j), rs in by.items():
        rs.sort()
        got = [n for _, n in rs]
        L = lengths[g]
        k = got[0]                            # l_0 = round(k) = k
        want = torch_counts(L, b, k)
        total += 1
        differ += want != exact_counts(L, b, k)
        if got != want or (pow2 and want != exact_counts(L, b, k)):
            ok, bad = False, (L, b, k, got, want)
    check(ok and len(by) == NB * len(lengths), f"--batch {b}: every batch's counts equal torch float32 linspace/round"
          + (" (and exact k + i L/b)" if pow2 else ""), bad)
check(differ > 0, "some batches differ between float32 and exact arithmetic (the test can tell them apart)",
      f"{differ} of {total}")
print(f"# {differ} of {total} batches differ from exact arithmetic")
summary()
