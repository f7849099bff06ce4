"""tests/py/pylib.py — tiny check/summary helpers for Python reference tests.

Use Debian's /usr/bin/python3 (numpy, msgpack, lz4, zmq from Debian packages).
Every test script ends with summary(), which prints "N passed, N failed" and exits 1 on failure.
Record helpers shared by the denoise tests: arr()/unarr() build and read the typed arrays of a
record (common/record.h), run_denoise() pipes msgpack records through denoise.
"""
import os, subprocess, sys

ROOT = os.environ.get("LLADA_ROOT") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("LLADA_BIN") or os.path.join(ROOT, "bin")
_passed = 0
_failed = 0
if not os.environ.get("LLADA_TOK_CACHE"):   # run alone: tok's binary cache not into ~/.cache
    import atexit, shutil, tempfile
    os.environ["LLADA_TOK_CACHE"] = tempfile.mkdtemp(prefix="llada-tok-cache.")
    atexit.register(shutil.rmtree, os.environ["LLADA_TOK_CACHE"], True)


def check(cond, name, detail=""):
    global _passed, _failed
    if cond:
        _passed += 1
        print(f"ok - {name}")
    else:
        _failed += 1
        print(f"not ok - {name}{': ' + str(detail) if detail else ''}")
    return cond


def tool(name):
    return os.path.join(BIN, name)


def run(args, input=None, check_rc=None):
    """Run a tool; returns CompletedProcess with bytes stdout/stderr."""
    p = subprocess.run(args, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p


def arr(a, dt="i4"):
    """A record's typed array {dtype, shape, data} of a (little-endian i4 or f4)."""
    import numpy as np
    a = np.asarray(a, dtype={"i4": "<i4", "f4": "<f4"}[dt])
    return {"dtype": dt, "shape": list(a.shape), "data": a.tobytes()}


def unarr(m):
    """The numpy array of a record's typed array (i4, f4 or f8)."""
    import numpy as np
    return np.frombuffer(m["data"], dtype={"i4": "<i4", "f4": "<f4", "f8": "<f8"}[m["dtype"]]).reshape(m["shape"])


def run_denoise(records, args, expect_rc=0):
    """Pipe records (dicts) through `denoise ARGS` as msgpack; the output records without the end
    record. A non-zero exit raises RuntimeError with its stderr, unless expect_rc != 0: then the
    CompletedProcess is returned for the caller to check."""
    import msgpack
    data = b"".join(msgpack.packb(r, use_bin_type=True) for r in records)
    p = subprocess.run([tool("denoise")] + args, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if expect_rc != 0:
        return p
    if p.returncode != 0:
        raise RuntimeError(f"denoise {' '.join(args)}: exit {p.returncode}: {p.stderr.decode()[:300]}")
    up = msgpack.Unpacker(raw=False)
    up.feed(p.stdout)
    return [r for r in up if r.get("kind") != "end"]


def summary():
    print(f"{_passed} passed, {_failed} failed")
    sys.exit(1 if _failed else 0)


def denoise_logits(model, toks, env=None):
    """`denoise --logits --model MODEL` on one tokens record; the logits as float64 [L, V].
    env adds to the environment (e.g. LLADA_QMATMUL). A non-zero exit raises RuntimeError."""
    import msgpack
    import numpy as np
    rec = msgpack.packb({"kind": "tokens", "tokens": arr(toks)}, use_bin_type=True)
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([tool("denoise"), "--logits", "--model", model], input=rec, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=e)
    if p.returncode:
        raise RuntimeError(f"exit {p.returncode}: {p.stderr.decode()[:300]}")
    up = msgpack.Unpacker(raw=False)
    up.feed(p.stdout)
    r = [x for x in up if x.get("kind") != "end"][0]["logits"]
    return np.frombuffer(r["data"], "<f4").reshape(r["shape"]).astype(np.float64)
