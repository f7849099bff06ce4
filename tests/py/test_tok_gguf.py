#!/usr/bin/env python3
"""test_tok_gguf.py — `tok -m FILE.gguf` (issue 13): a tokenizer rebuilt from GGUF metadata gives
the same ids as the original tokenizer.json.

Each tokenizer.json is written into a GGUF file's tokenizer.ggml.* keys the way llama.cpp's
converter stores them (tests/fixtures/gguf_writer.py: tokens in id order, token types, "a b"
merges, the pre-tokenizer's name), and `tok --ids` on the GGUF is compared with `tok --ids` on the
tokenizer.json (itself checked against HF tokenizers by test_tok_parity) over corpus documents
and adversarial strings: the bundled model's tokenizer, a tokenizer with LLaDA-8B's exact layout
(126,080 BPE tokens, 269 specials, LLaDA's regex -> "bailingmoe"), and Qwen3's (NFC, Qwen2 regex,
pair merges, non-special added tokens -> "qwen2"). Also: special ids reach detok (EOS stops),
damaged tokenizer metadata is one error line, exit 1.

LLaDA 2.x / Ling 2.0 GGUF files (tokenizer.ggml.pre "bailingmoe2"): a small Ling-style
tokenizer.json learned here by `tok train` goes into a GGUF as that name, and `tok -m` on it must
give HF tokenizers' (npm) ids for the original file over corpus documents with their newlines,
adversarial strings and Ling chat text; the same GGUF read as "llama-bpe", "qwen2" or "gpt2" must
not, so the corpus tells those pre-tokenizers apart.
"""
import json, os, subprocess, sys, tempfile, struct
sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fixtures"))
from pylib import check, summary, tool, ROOT
import tok_corpora as tc
import gguf_writer as gw

TMP = tempfile.mkdtemp(prefix="tok_gguf_")
docs = tc.adversarial()
for name, path in sorted(tc.corpus_paths().items()):
    docs += tc.docs_of(open(path, "rb").read(), 60000)
text = "".join(d.replace("\n", " ") + "\n" for d in docs if "\0" not in d).encode()


def ids(model):
    p = subprocess.run([tool("tok"), "--ids", "-l", "-m", model], input=text, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p.returncode, p.stdout, p.stderr.decode()


cases = [("bundled", os.path.join(ROOT, "models", "default", "tokenizer.json"))]
try:
    cases.append(("llada-layout", os.path.join(tc.llada_synthetic(), "tokenizer.json")))
except Exception as e:  # the npm fixture is absent
    print(f"# llada-layout fixture unavailable: {e}")
if os.path.exists(tc.fixture("qwen3")):
    cases.append(("qwen3", tc.fixture("qwen3")))
for name, tj in cases:
    g = os.path.join(TMP, name + ".gguf")
    gw.write(g, [("general.architecture", gw.STRING, "llada")] + gw.tokenizer_kvs(tj), [])
    rc0, want, err0 = ids(tj)
    rc1, got, err1 = ids(g)
    n = want.count(b"\n")
    check(rc0 == 0 and rc1 == 0 and got == want and n > 100,
          f"{name}: tok -m FILE.gguf gives the tokenizer.json's ids ({n} documents, {len(text)} bytes)",
          f"exit {rc0}/{rc1} {err1[:200]}")

# LLaDA 2.x / Ling 2.0: tokenizer.ggml.pre "bailingmoe2" (llama.cpp: Ling's regex, as "bailingmoe")
LING_SPECIALS = ["<|startoftext|>", "<|endoftext|>", "[CLS]", "[gMASK]", "<|role_end|>", "<|mask|>", "<role>", "</role>"]
LING_TEXT = [
    "<role>SYSTEM</role>detailed thinking off<|role_end|><role>HUMAN</role>What's 12345 + 678?<|role_end|>"
    "<role>ASSISTANT</role><think>\n\n</think>\n\n13023<|mask|><|mask|>",
    "0 12 345 6789 1234567890 2025-09-16 3.14159e-10 1,000,000 v1.2.3 0x1F4 ２０２５年９月",
    "WE'LL it'S I'M you'Re they'D 'ſ it'ſx 'K don't   'tis o'clock",
    "a \n\n \t\n  b\r\n\r\n  c \n\n\n   \n\td\u3000\u3000e  \n",
    "for (int i = 0; i < 10; ++i) {\n\tx += a[i];  // sum\n}\n\n\ndef f(x):\n    return x**2\n",
    "\U0001F44D\U0001F3FD \U0001F1E8\U0001F1F3 \U0001F600\U0001F600 \u2764\ufe0f!",
    "北京欢迎你！２０２５年，人工智能（AI）发展迅速。「引号」『书名』",
]


def ling_tokenizer():
    """A small Ling-style tokenizer.json: a byte-level BPE learned by `tok train` on the corpora
    with digit groups of up to three (Llama 3's split, so digit-run merges exist and the
    pre-tokenizer shows in the ids), then Ling's pre-tokenizer (its regex, Isolated, ByteLevel
    without regex, no normalizer), the special tokens Ling 2.0's tokenizer_config.json and chat
    template name, and two non-special added tokens (<think>, </think>) for that token type."""
    d = os.path.join(TMP, "ling")
    src = os.path.join(TMP, "ling-train.txt")
    with open(src, "wb") as f:
        for path in sorted(tc.corpus_paths().values()):
            f.write(open(path, "rb").read()[:150000])
        f.write("\n".join(tc.adversarial() + LING_TEXT).encode())
        f.write("\nſx".encode() * 300)  # a merge "ſx": ids then show where 'ſ ends a contraction (HF folds case)
    subprocess.run([tool("tok"), "train", "-q", "-o", d, "-v", "3000", "--pretok", "llama3",
                    "--specials", ",".join(LING_SPECIALS), src], check=True)
    t = json.load(open(os.path.join(d, "tokenizer.json")))
    n = max(a["id"] for a in t["added_tokens"]) + 1
    t["added_tokens"] += [{"id": n + i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                           "normalized": True, "special": False} for i, s in enumerate(["<think>", "</think>"])]
    t["normalizer"] = None
    t["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = gw.LLADA_RE
    p = os.path.join(d, "ling.json")
    json.dump(t, open(p, "w"), ensure_ascii=False)
    return p


def jsonl_ids(model, ds):
    p = subprocess.run([tool("tok"), "-m", model, "--jsonl", "--ids", "--no-add-special"],
                       input="".join(json.dumps({"text": x}) + "\n" for x in ds).encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode:
        return p.stderr.decode()[:200]
    return [[int(x) for x in l.split()] for l in p.stdout.decode().split("\n")[:-1]]


def n_differ(got, ref):
    """Documents whose ids differ (all of them when tok failed)."""
    if isinstance(got, str) or len(got) != len(ref):
        return len(ref)
    return sum(a != b for a, b in zip(got, ref))


def ling_gguf(tj, pre):
    g = os.path.join(TMP, f"ling-{pre}.gguf")
    kv = [(k, t, pre) if k == "tokenizer.ggml.pre" else (k, t, v) for k, t, v in gw.tokenizer_kvs(tj)]
    gw.write(g, [("general.architecture", gw.STRING, "llada2")] + kv, [])
    return g


ling_tj = ling_tokenizer()
ldocs = tc.adversarial() + LING_TEXT
for name, path in sorted(tc.corpus_paths().items()):
    ldocs += tc.docs_of(open(path, "rb").read(), 60000)
ref = tc.hf({"tokenizer": ling_tj, "items": [{"text": x} for x in ldocs]})["ids"]
got = jsonl_ids(ling_gguf(ling_tj, "bailingmoe2"), ldocs)
nd = n_differ(got, ref)
detail = got if isinstance(got, str) else next((f"{nd} documents differ, first {x[:60]!r}"
                                                for x, a, b in zip(ldocs, got, ref) if a != b), "")
check(nd == 0 and len(ldocs) > 100 and sum(map(len, ref)) > 50000,
      f"bailingmoe2 (LLaDA 2.x / Ling 2.0): tok -m FILE.gguf gives HF tokenizers' ids for the original "
      f"tokenizer.json ({len(ldocs)} documents, {sum(map(len, ref))} tokens)",
      detail)
wrong = {pre: n_differ(jsonl_ids(ling_gguf(ling_tj, pre), ldocs), ref) for pre in ("llama-bpe", "qwen2", "gpt2")}
check(min(wrong.values()) > 0, "the corpus tells the pre-tokenizers apart: read as another name, the same GGUF "
      "gives other ids (documents that differ: " + ", ".join(f"{k} {v}" for k, v in wrong.items()) + ")")

# `denoise --quantize` embeds the folder's tokenizer.json the same way (bundled model)
g = os.path.join(TMP, "bundled-q8_0.gguf")
p = subprocess.run([tool("denoise"), "--model", os.path.join(ROOT, "models", "default"), "--quantize", "q8_0", g],
                   stderr=subprocess.PIPE)
rc0, want, _ = ids(os.path.join(ROOT, "models", "default"))
rc1, got, err1 = ids(g)
check(p.returncode == 0 and rc1 == 0 and got == want, "denoise --quantize embeds the tokenizer: tok -m OUT.gguf gives the same ids",
      p.stderr.decode()[:200] + err1[:200])
kvs, _ = gw.read(g)
check(kvs.get("tokenizer.ggml.pre") == "bailingmoe" and kvs.get("tokenizer.ggml.model") == "gpt2" and
      len(kvs["tokenizer.ggml.tokens"]) == len(kvs["tokenizer.ggml.token_type"]) >= 4096,
      "--quantize tokenizer metadata as llama.cpp's converter writes it (gpt2, bailingmoe, tokens padded to the embedding)")

# special ids: EOS from tokenizer.ggml.eos_token_id stops detok
g = os.path.join(TMP, "ids.gguf")
tj = os.path.join(ROOT, "models", "default", "tokenizer.json")
gw.write(g, gw.tokenizer_kvs(tj, bos=4090, eos=4091), [])
p = subprocess.run([tool("tok"), "--ids", "-m", g], input="<|endoftext|>".encode(), stdout=subprocess.PIPE)
check(p.stdout.split() == [b"4091"], "the GGUF's added tokens are special tokens", p.stdout)

# damaged metadata
def bad(name, kvs, want):
    g = os.path.join(TMP, name + ".gguf")
    gw.write(g, kvs, [])
    p = subprocess.run([tool("tok"), "--ids", "-m", g], input=b"hi", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = p.stderr.decode()
    check(p.returncode == 1 and err.count("\n") == 1 and want in err, f"damaged tokenizer metadata: {name}", f"exit {p.returncode}: {err!r}")

kv = gw.tokenizer_kvs(tj)
bad("no tokenizer", [("general.architecture", gw.STRING, "llada")], "no tokenizer")
bad("spm", [(k, t, "llama") if k == "tokenizer.ggml.model" else (k, t, v) for k, t, v in kv], "is not supported")
bad("pre", [(k, t, "klingon") if k == "tokenizer.ggml.pre" else (k, t, v) for k, t, v in kv], "pre-tokenizer \"klingon\"")
bad("types", [(k, t, (gw.I32, [1, 2])) if k == "tokenizer.ggml.token_type" else (k, t, v) for k, t, v in kv], "token_type")
summary()
