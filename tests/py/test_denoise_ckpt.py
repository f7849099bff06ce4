#!/usr/bin/env python3
"""test_denoise_ckpt.py — checkpoint loading: every corrupt, truncated or mismatched
checkpoint gets its own clear one-line error and exit code (never a crash), unsupported
config settings name the key, and bad records are rejected with exit 1."""
import json, os, shutil, struct, subprocess, sys, tempfile
import msgpack
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from pylib import check, summary, tool, ROOT

PY = sys.executable
TMP = tempfile.mkdtemp(prefix="denoise_ckpt_")
subprocess.run([PY, os.path.join(ROOT, "tests/fixtures/make_tiny_ckpt.py"), TMP,
                "--preset", "mha_f32", "--preset", "gqa_bf16"], check=True)
GOOD, SHARDED = os.path.join(TMP, "mha_f32"), os.path.join(TMP, "gqa_bf16")
REC = msgpack.packb({"kind": "tokens", "tokens": {"dtype": "i4", "shape": [2],
                                                  "data": np.array([1, 2], "<i4").tobytes()}})


def denoise(model, rec=REC, extra=()):
    p = subprocess.run([tool("denoise"), "--model", model, "--gen-length", "4", *extra], input=rec,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p.returncode, p.stderr.decode()


def variant(name, src=GOOD):
    d = os.path.join(TMP, name)
    shutil.copytree(src, d)
    return d


def read_st(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def write_st(path, hdr, data):
    h = json.dumps(hdr).encode()
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + data)


def expect(name, model, code, regex, rec=REC):
    import re
    rc, err = denoise(model, rec)
    lines = err.splitlines()
    # exactly one error line; other lines may only be notices ("denoise: ...", e.g. no GPU)
    one_line = sum(l.startswith("denoise: error: ") for l in lines) == 1 and \
        all(l.startswith("denoise: ") for l in lines) and lines[-1].startswith("denoise: error: ")
    check(rc == code and re.search(regex, err) is not None and one_line, f"{name}: exit {code}, /{regex}/",
          f"exit {rc}, stderr {err!r}")


rc, err = denoise(GOOD)
check(rc == 0, "good single-file checkpoint loads", err)
rc, err = denoise(SHARDED)
check(rc == 0, "good sharded checkpoint loads", err)

st = lambda d: os.path.join(d, "model.safetensors")

d = variant("truncated")
raw = open(st(d), "rb").read()
open(st(d), "wb").write(raw[:-100])
expect("truncated data", d, 1, r"beyond the end of the file")

d = variant("short")
open(st(d), "wb").write(b"\x01\x02")
expect("file shorter than its header length", d, 1, r"too short")

d = variant("hugeheader")
open(st(d), "wb").write(struct.pack("<Q", 1 << 40) + raw[8:])
expect("header length beyond the file", d, 1, r"header length")

d = variant("badjson")
open(st(d), "wb").write(struct.pack("<Q", 10) + b"{not json}" + raw[8:])
expect("header is not JSON", d, 1, r"bad header JSON")

d = variant("missing")
hdr, data = read_st(st(GOOD))
del hdr["model.transformer.blocks.1.up_proj.weight"]
write_st(st(d), hdr, data)
expect("missing tensor", d, 1, r'missing tensor "model\.transformer\.blocks\.1\.up_proj\.weight"')

d = variant("extra")
hdr, data = read_st(st(GOOD))
hdr["model.transformer.blocks.0.q_proj.bias"] = {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}
write_st(st(d), hdr, data)
expect("unexpected tensor", d, 1, r'unexpected tensor "model\.transformer\.blocks\.0\.q_proj\.bias"')

d = variant("dtype")
hdr, data = read_st(st(GOOD))
hdr["model.transformer.ln_f.weight"]["dtype"] = "I32"
write_st(st(d), hdr, data)
expect("integer dtype", d, 1, r"ln_f\.weight.*dtype I32")

d = variant("unknown_dtype")
hdr["model.transformer.ln_f.weight"]["dtype"] = "Q4"
write_st(st(d), hdr, data)
expect("unknown dtype", d, 1, r'unknown dtype "Q4"')

d = variant("sizes")
hdr, data = read_st(st(GOOD))
e = hdr["model.transformer.ln_f.weight"]
e["data_offsets"] = [e["data_offsets"][0], e["data_offsets"][1] - 4]
write_st(st(d), hdr, data)
expect("offsets disagree with shape", d, 1, r"data bytes but shape x dtype needs")

d = variant("shape")
cfg = json.load(open(os.path.join(d, "config.json")))
cfg["mlp_hidden_size"] = 81
json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
expect("shape mismatch with config", d, 1, r"ff_proj\.weight\": shape \[80, 32\] does not match the config \(expected \[81, 32\]\)")

for key, val in (("alibi", True), ("include_bias", True), ("attention_layer_norm", True),
                 ("block_type", "sequential"), ("layer_norm_type", "default"), ("rope", False),
                 ("weight_tying", "yes"), ("n_kv_heads", 3), ("model_type", "qwen2")):
    d = variant(f"cfg_{key}")
    cfg = json.load(open(os.path.join(d, "config.json")))
    cfg[key] = val
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
    expect(f"config {key}={val}", d, 1, f'"?{key}"?')

d = variant("tied_mismatch")
cfg = json.load(open(os.path.join(d, "config.json")))
cfg["weight_tying"] = True
json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
expect("weight_tying true but LM head present", d, 1, r'unexpected tensor "model\.transformer\.ff_out\.weight".*weight_tying')

d = variant("noconfig")
os.remove(os.path.join(d, "config.json"))
expect("missing config.json", d, 3, r"config\.json: No such file")

d = variant("badconfig")
open(os.path.join(d, "config.json"), "w").write("{\"d_model\": 32,")
expect("config.json not JSON", d, 1, r"config\.json")

expect("no such model folder", os.path.join(TMP, "nope"), 3, r"No such file")

d = variant("shard_missing", SHARDED)
os.remove(os.path.join(d, "model-00002-of-00003.safetensors"))
expect("missing shard file", d, 3, r"model-00002-of-00003\.safetensors: No such file")

d = variant("shard_badname", SHARDED)
idx = json.load(open(os.path.join(d, "model.safetensors.index.json")))
idx["weight_map"]["model.transformer.ln_f.weight"] = "../../etc/passwd"
json.dump(idx, open(os.path.join(d, "model.safetensors.index.json"), "w"))
expect("shard name escaping the folder", d, 1, r"bad shard file name")

d = variant("shard_dup", SHARDED)
a, b = (os.path.join(d, f"model-0000{i}-of-00003.safetensors") for i in (1, 2))
ha, da = read_st(a)
hb, db = read_st(b)
hb["model.transformer.wte.weight"] = dict(ha["model.transformer.wte.weight"])
hb["model.transformer.wte.weight"]["data_offsets"] = [0, ha["model.transformer.wte.weight"]["data_offsets"][1] - ha["model.transformer.wte.weight"]["data_offsets"][0]]
write_st(b, hb, db + da[:hb["model.transformer.wte.weight"]["data_offsets"][1]])
expect("tensor in two shards", d, 1, r"appears in more than one file")

bad = msgpack.packb({"kind": "tokens", "tokens": {"dtype": "i4", "shape": [2],
                                                  "data": np.array([1, 5000], "<i4").tobytes()}})
expect("token id outside the vocabulary", GOOD, 1, r"token id 5000", rec=bad)
bad = msgpack.packb({"kind": "tokens", "tokens": {"dtype": "f4", "shape": [1], "data": b"\0\0\0\0"}})
expect("tokens of the wrong dtype", GOOD, 1, r"tokens", rec=bad)
bad = msgpack.packb({"kind": "canvas", "tokens": {"dtype": "i4", "shape": [2],
                                                  "data": np.array([1, 2], "<i4").tobytes()}, "prompt_len": 7})
expect("canvas prompt_len beyond its tokens", GOOD, 1, r"prompt_len", rec=bad)

shutil.rmtree(TMP, ignore_errors=True)
summary()
