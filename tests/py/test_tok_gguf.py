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
"""
import os, subprocess, sys, tempfile, struct
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
