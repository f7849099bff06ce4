"""test_docs.py — the documentation refers only to things a user has.

Over README.md and docs/*.md: every relative Markdown link resolves; every path into the tree
that a doc names (common/…, tests/…, pipelines/…, docs/…, …) exists, build outputs (bin/,
build/) and files the docs' own commands create excepted; no doc cites the documents this
project was built from and a user does not get (the reference notes llada.md, tokenizer
reference, engineering.md, "the seed", issue numbers).
"""
import glob, os, re, sys

sys.path.insert(0, os.path.dirname(__file__))
from pylib import check, summary, ROOT

os.chdir(ROOT)
files = ["README.md"] + sorted(glob.glob("docs/*.md"))
TOPS = {"bench", "common", "denoise", "detok", "dist", "docs", "eval", "kernels", "mask", "model", "models",
        "pipelines", "remask", "scripts", "serve", "tests", "tok", "train", "rec"}
CREATED = {"models/kjv", "tok/s"}           # made by a command shown in the doc; a unit
bad_links, bad_paths, bad_refs = [], [], []
for f in files:
    s = open(f, encoding="utf-8").read()
    created = CREATED | set(re.findall(r"--local-dir\s+(\S+)", s))   # downloads the doc shows
    for m in re.finditer(r"\]\(([^)#\s]+)(#[^)]*)?\)", s):
        p = m.group(1)
        if "://" in p or p.startswith("mailto:"):
            continue
        if not os.path.exists(os.path.normpath(os.path.join(os.path.dirname(f), p))):
            bad_links.append(f"{f}: {p}")
    for m in re.finditer(r"(?<![\w/.~$-])((?:[\w.*-]+/)+[\w.*-]*[\w*])", s):
        p = m.group(1)
        if p.split("/")[0] not in TOPS or p in created or "://" in s[max(0, m.start() - 10):m.start()]:
            continue
        if not glob.glob(p):
            bad_paths.append(f"{f}: {p}")
    for pat in (r"llada\.md", r"engineering\.md", r"field-2026", r"peers\.md", r"shared/reference",
                r"\bthe seed's\b", r"\bissue \d+", r"HELPERS\.md"):
        for m in re.finditer(pat, s):
            bad_refs.append(f"{f}: {m.group(0)}")
check(not bad_links, "every relative link resolves", bad_links)
check(not bad_paths, "every path into the tree exists", bad_paths)
check(not bad_refs, "no citation of documents a user does not have", bad_refs)
summary()
