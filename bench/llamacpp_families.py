#!/usr/bin/env python3
"""llamacpp_families.py OUTDIR — our `dream` and `llada-moe` GGUF files in llama.cpp (issue 13).

Writes two small random checkpoints with the bundled model's tokenizer (vocabulary 4096, its
special ids): Dream (d 64, 2 layers, GQA 4/2, q/k/v biases, FFN 128) and LLaDA-MoE (d 64, 2
layers, GQA 4/2, QK-norm, every layer 8 experts top-2 of width 32: llama.cpp's llada-moe graph
has no dense layers), with the
fixtures' writers (tests/fixtures/make_tiny_{dream,moe}.py); converts each with `denoise
--quantize` to F32 and Q8_0; generates greedily from the same prompt with llama.cpp's
llama-diffusion-cli and with `denoise`, and compares the generated text (llama.cpp prints text
only; both detokenise without special tokens). llama-diffusion-cli's --temp 0 still draws each
token from the softmax (its chain always ends in a seeded dist sampler), so greedy needs --top-k
1; then every candidate's confidence is 1 and ties go to the leftmost position: one block over
the canvas, G steps = argmax at the leftmost masked position each step, the whole canvas
recomputed. `denoise --block-length 1 --steps G --temperature 0` is the same decoding.
LLAMACPP_DIR points at a built llama.cpp (docs/gguf.md). Prints one line per file; exit 1 when a
file does not load in llama.cpp."""
import json, os, re, shutil, subprocess, sys
import numpy as np

root = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(root, "tests", "fixtures"))
import st_checkpoint as st
import make_tiny_dream as md
import make_tiny_moe as mm

binp = os.environ.get("LLADA_BIN", os.path.join(root, "bin"))
lcli = os.path.join(os.environ["LLAMACPP_DIR"], "build", "bin", "llama-diffusion-cli")
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
bundled = os.path.join(root, "models", "default")
bc = json.load(open(os.path.join(bundled, "config.json")))
PROMPT = "In the beginning God created the heaven and the earth."
L = int(os.environ.get("FAMILIES_CANVAS", "96"))
# llama-diffusion-cli always applies a chat template, ChatML when the file has none (ours carries
# none), then tokenizes with the vocabulary's add-special rule: our side tokenizes the same text.
CHATML = "<|im_start|>user\n" + PROMPT + "<|im_end|>\n<|im_start|>assistant\n"


def with_tokenizer(folder):
    c = json.load(open(os.path.join(folder, "config.json")))
    for k in ("mask_token_id", "eos_token_id", "pad_token_id", "bos_token_id"):
        c[k] = bc[k]
    json.dump(c, open(os.path.join(folder, "config.json"), "w"), indent=2)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(bundled, f), os.path.join(folder, f))


def make(name):
    d = os.path.join(out, name)
    if os.path.exists(os.path.join(d, "config.json")):
        return d
    rng = np.random.default_rng(11)
    if name == "dream":
        p = dict(d=64, layers=2, H=4, KV=2, F=128, V=4096, dtype="f32", shards=1)
        st.write_checkpoint(d, md.dream_config(p), md.tensor_list(p, rng), "f32", 1, md.dream_place)
    else:
        p = dict(d=64, layers=2, H=4, KV=2, E=8, k=2, Fe=32, Fd=128, V=4096, freq=[1, 1], qkn=True, dtype="f32", shards=1)
        st.write_checkpoint(d, mm.moe_config(p), mm.tensor_list(p, rng), "f32", 1, st.layer_place)
    with_tokenizer(d)
    return d


def run(cmd, inp=None, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run(cmd, input=inp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)


def ours(gguf, special, env=None):
    add = [] if special else ["--no-add-special"]
    t = run([os.path.join(binp, "tok"), "-m", gguf] + add, CHATML.encode())
    n = len(run([os.path.join(binp, "tok"), "-m", gguf, "--ids"] + add, CHATML.encode()).stdout.split())
    G = L - n
    g = run([os.path.join(binp, "denoise"), "--model", gguf, "--gen-length", str(G), "--steps", str(G), "--block-length",
             "1", "--temperature", "0", "--threads", "2"], t.stdout, env)
    if g.returncode:
        return n, None, g.stderr.decode().strip()
    d = run([os.path.join(binp, "detok"), "-m", gguf, "--no-stop"], g.stdout)
    return n, d.stdout.decode().rstrip("\n"), ""


def llama(gguf, steps):
    """One block covering the whole canvas L (its block schedule needs L % block == 0) and
    `steps` = the generated length: one token per step."""
    p = run([lcli, "-m", gguf, "-p", PROMPT, "-t", "1", "-tb", "1", "--seed", "1", "-ub", str(L), "-b", str(L), "-c",
             str(L), "--diffusion-steps", str(steps), "--diffusion-block-length", str(L), "--temp", "0", "--top-k", "1"])
    err = p.stderr.decode(errors="replace")
    if p.returncode:
        tail = [l for l in err.splitlines() if "error" in l.lower() or "failed" in l.lower()]
        return None, (tail[-1] if tail else err[-300:]).strip()
    # the generated text is the last line of its log
    lines = [l for l in err.splitlines() if l.strip()]
    return (lines[-1] if lines else ""), err


status = 0
for fam in ("dream", "llada-moe"):
    folder = make(fam)
    for t in ("f32", "q8_0"):
        gguf = os.path.join(out, f"{fam}-{t}.gguf")
        if not os.path.exists(gguf):
            q = run([os.path.join(binp, "denoise"), "--model", folder, "--quantize", t, gguf])
            if q.returncode:
                print(f"{fam} {t}: denoise --quantize failed: {q.stderr.decode().strip()}")
                status = 1
                continue
        for special in (False,):
            n, o, oerr = ours(gguf, special)
            l, lerr = llama(gguf, L - n)
            if l is None:
                print(f"{fam} {t}: llama.cpp does not load it: {lerr}")
                status = 1
                break
            with open(gguf + ".llama.log", "w") as f:
                f.write(lerr)
            for mode, env in (("int8 kernels", {}), ("exact product", {"LLADA_QMATMUL": "f32"})):
                if mode != "int8 kernels":
                    if t == "f32":
                        continue
                    _, o, oerr = ours(gguf, special, env)
                o, l = (o or "").strip(), l.strip()
                k = next((i for i in range(min(len(o), len(l))) if o[i] != l[i]), min(len(o), len(l)))
                print(f"{fam} {t}, ours with {mode} (prompt {n} tokens, {L - n} generated, one per step): "
                      + ("IDENTICAL" if o == l else f"DIFFER after {k} equal characters")
                      + f"\n   ours:      {o!r}{(' (' + oerr + ')') if oerr else ''}\n   llama.cpp: {l!r}")
sys.exit(status)
