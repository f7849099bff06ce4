#!/usr/bin/python3
"""tests/py/test_tok_load.py — load-time validation of tokenizer.json like HF's loader.

Each variant of a small valid file (bad types, invalid UTF-8, lone surrogates, missing added-
token fields, non-integer ids, empty added-token content, JSON syntax HF refuses) is loaded by
HF tokenizers (npm, tests/npm/hf_ref.js) and by tok: tok must accept exactly what HF accepts
(exit 0, and then the same ids as HF), refuse the rest with exit 1, and for the cases below say
what is wrong ("wrong type", "missing", "out of range") at the right JSON path."""
import json, os, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(__file__))
from pylib import check, summary, tool
import tok_corpora as C


def added(i, content, **kw):
    a = {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
    a.update(kw)
    return a


def base():
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [added(4, "<s>")],
            "normalizer": None, "pre_tokenizer": None, "post_processor": None, "decoder": None,
            "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                      "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                      "vocab": {"a": 0, "b": 1, "ab": 2, "<unk>": 3}, "merges": ["a b"]}}


def variant(edit=None, raw=None):
    j = base()
    if edit:
        edit(j)
    b = json.dumps(j).encode()
    for old, new in (raw or []):
        assert old in b, old
        b = b.replace(old, new, 1)
    return b


def without(d, k):
    d.pop(k)


V = {  # name: (file bytes, expected message regex for tok when refused or None)
    "valid": (variant(), None),
    "model.type missing": (variant(lambda j: without(j["model"], "type")), None),
    "model.type 5": (variant(lambda j: j["model"].update(type=5)), r"\$\.model\.type: wrong type"),
    "model.type BPE5": (variant(lambda j: j["model"].update(type="BPE5")), r"\$\.model\.type: unsupported"),
    "invalid UTF-8 in a vocabulary key": (variant(raw=[(b'"ab": 2', b'"a\xff": 2')]), r"invalid UTF-8"),
    "invalid UTF-8 outside strings": (variant() + b" \xff", r"invalid UTF-8"),
    "BOM": (b"\xef\xbb\xbf" + variant(), None),
    "lone surrogate in added content": (variant(raw=[(b'"<s>"', b'"\\ud800"')]), r"lone surrogate"),
    "lone low surrogate in a vocabulary key": (variant(raw=[(b'"ab": 2', b'"\\udc00": 2')]), r"lone surrogate"),
    "surrogate pair in added content": (variant(raw=[(b'"<s>"', b'"\\ud83d\\ude00"')]), None),
    "empty added content": (variant(lambda j: j["added_tokens"].insert(0, added(5, ""))), None),
    "added content 12": (variant(lambda j: j["added_tokens"][0].update(content=12)), r"added_tokens\[0\]\.content: wrong type"),
    "added id \"x\"": (variant(lambda j: j["added_tokens"][0].update(id="x")), r"added_tokens\[0\]\.id: wrong type"),
    "added id -1": (variant(lambda j: j["added_tokens"][0].update(id=-1)), r"added_tokens\[0\]\.id: out of range"),
    "added id 4.0": (variant(raw=[(b'"id": 4', b'"id": 4.0')]), r"added_tokens\[0\]\.id: wrong type"),
    "added single_word missing": (variant(lambda j: without(j["added_tokens"][0], "single_word")), r"added_tokens\[0\]\.single_word: missing"),
    "added special 1": (variant(lambda j: j["added_tokens"][0].update(special=1)), r"added_tokens\[0\]\.special: wrong type"),
    "added content missing": (variant(lambda j: without(j["added_tokens"][0], "content")), r"added_tokens\[0\]\.content: missing"),
    "vocabulary id 2.0": (variant(raw=[(b'"ab": 2', b'"ab": 2.0')]), r"wrong type"),
    "vocabulary id \"x\"": (variant(raw=[(b'"ab": 2', b'"ab": "x"')]), r"wrong type"),
    "vocabulary id 02": (variant(raw=[(b'"ab": 2', b'"ab": 02')]), None),
    "vocabulary id -1": (variant(raw=[(b'"ab": 2', b'"ab": -1')]), r"out of range"),
    "raw tab in a string": (variant(raw=[(b'"ab": 2', b'"a\tb": 2')]), None),
    "hexadecimal number": (variant(raw=[(b'"ab": 2', b'"ab": 0x2')]), None),
}
TEXTS = ["ab", "aab<s>b", "a<s>", "ba\U0001F600b", "<s><s>"]

tmp = tempfile.mkdtemp()
for name, (data, want) in V.items():
    path = os.path.join(tmp, "t.json")
    with open(path, "wb") as f:
        f.write(data)
    ref = C.hf({"tokenizer": path, "items": [{"text": t} for t in TEXTS]})
    p = subprocess.run([tool("tok"), "-m", path, "--jsonl", "--ids", "--no-add-special"],
                       input="".join(json.dumps({"text": t}) + "\n" for t in TEXTS).encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = p.stderr.decode()
    if "load_error" in ref:
        check(p.returncode == 1 and not p.stdout, f"{name}: refused as HF refuses it",
              f"exit {p.returncode}; HF: {ref['load_error'][:120]}")
        if want:
            import re
            check(re.search(want, err), f"{name}: the message says so", err.strip()[:200])
        continue
    if not check(p.returncode == 0, f"{name}: loaded as HF loads it", err.strip()[:200]):
        continue
    ours = [[int(x) for x in l.split()] for l in p.stdout.decode().split("\n")[:-1]]
    check(ours == ref["ids"], f"{name}: same ids as HF", f"ours {ours} HF {ref['ids']}")
summary()
