"""test_data_prep_reader.py — the Python shard reader printed in docs/data-prep.md, run as printed.

The first ```python block of docs/data-prep.md (masked_records, arr, xt_of) is executed
verbatim; shards are written by `mask --pretrain` with and without --bitmap and --shuffle
(same seed, so the same masks); the reader must give the same x0 and xt from every variant,
equal to the plain records' own arrays decoded independently here, and the training loop's
mask test `xt == r["mask_id"]` must select exactly n_masked positions.
"""
import os, re, subprocess, sys, tempfile
import numpy as np
import msgpack

sys.path.insert(0, os.path.dirname(__file__))
from pylib import check, summary, tool, ROOT

doc = open(os.path.join(ROOT, "docs", "data-prep.md"), encoding="utf-8").read()
blocks = re.findall(r"```python\n(.*?)```", doc, re.S)
check(len(blocks) >= 2 and "def xt_of" in blocks[0], "docs/data-prep.md has the reader block")
ns = {}
exec(blocks[0], ns)
check("MASK_ID" not in doc, "the doc uses no undefined MASK_ID")
check('xt == r["mask_id"]' in blocks[1], "the training loop takes the mask id from the record")

T = tempfile.mkdtemp(prefix="dataprep_")
rng = np.random.default_rng(5)
docs = b"".join(msgpack.packb({"kind": "tokens", "tokens": {"dtype": "i4", "shape": [int(n)],
                                "data": rng.integers(0, 90, int(n)).astype("<i4").tobytes()}})
                for n in rng.integers(5, 200, 40))
variants = {"plain": [], "bitmap": ["--bitmap"], "shuffle": ["--shuffle"], "both": ["--bitmap", "--shuffle"]}
got = {}
for name, extra in variants.items():
    out = os.path.join(T, f"train-{name}.mp.lz4")
    p = subprocess.run([tool("mask"), "--pretrain", "--length", "64", "--seed", "3", "--mask-id", "99", "--eos-id", "98",
                        "-o", out] + extra, input=docs, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    check(p.returncode == 0, f"mask --pretrain {' '.join(extra)} writes a shard", p.stderr.decode(errors="replace"))
    got[name] = [(ns["arr"](r["x0"]).copy(), ns["xt_of"](r).copy(), r) for r in ns["masked_records"](out)]

# independent decode of the plain shard (no reader code)
ind = []
u = msgpack.Unpacker(raw=False)
u.feed(subprocess.run([tool("rec"), "-i", os.path.join(T, "train-plain.mp.lz4")], stdout=subprocess.PIPE).stdout)
for r in u:
    if r.get("kind") == "masked":
        ind.append((np.frombuffer(r["x0"]["data"], "<i4"), np.frombuffer(r["xt"]["data"], "<i4")))
check(len(ind) > 0 and len(got["plain"]) == len(ind), "reader yields every masked record", (len(ind), len(got["plain"])))
for name in variants:
    ok = len(got[name]) == len(ind) and all(np.array_equal(a0, b0) and np.array_equal(a1, b1)
                                           for (a0, a1, _), (b0, b1) in zip(got[name], ind))
    check(ok, f"reader on {name} records gives the plain x0 and xt")
    ok = all(r["mask_id"] == 99 and int((xt == r["mask_id"]).sum()) == r["n_masked"] for _, xt, r in got[name])
    check(ok, f"{name}: xt == r['mask_id'] marks exactly n_masked positions")
summary()
