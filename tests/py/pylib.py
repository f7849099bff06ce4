"""tests/py/pylib.py — tiny check/summary helpers for Python reference tests.

Use Debian's /usr/bin/python3 (numpy, msgpack, lz4, zmq from Debian packages).
Every test script ends with summary(), which prints "N passed, N failed" and exits 1 on failure.
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


def summary():
    print(f"{_passed} passed, {_failed} failed")
    sys.exit(1 if _failed else 0)
