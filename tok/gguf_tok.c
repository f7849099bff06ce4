/* gguf_tok.c — a tokenizer from a GGUF file's metadata (issue 13): `tok -m FILE.gguf`.
 *
 * llama.cpp's converter stores a byte-level BPE (tokenizer.ggml.model "gpt2") as
 * tokenizer.ggml.tokens (id order), .token_type (1 normal, 2 unknown, 3 control, 4 user-defined,
 * 5 unused, 6 byte), .merges ("a b"), the special ids, and the pre-tokenizer by name
 * (tokenizer.ggml.pre). This file rebuilds the tokenizer.json those came from — vocab of the
 * normal tokens, control / user-defined tokens as added tokens (special / not), unused ids left
 * out (LLaDA's rows past its tokens have no string; llama.cpp's converter stores them as
 * user-defined "[PAD<id>]", recognised by that exact name), the named pre-tokenizer's Split regex + ByteLevel, the
 * ByteLevel decoder — and loads it with the same code as any tokenizer.json, so ids match the
 * original file's. Pre-tokenizers known: bailingmoe / bailingmoe2 / llada / llada-moe (LLaDA's
 * and Ling's regex: llama.cpp gives Ling 2.0 / LLaDA 2.x files "bailingmoe2" and splits them as
 * "bailingmoe"), qwen2 (with NFC), llama-bpe / llama3, gpt2. The GGUF container is read by
 * model/gguf.c (format only; no model code).
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include "model/gguf.h"
#include "tok_gguf.h"

static const char LLADA_RE[] = "'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}+|\\p{N}| "
                               "?[^\\s\\p{L}\\p{N}]++[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+";
static const char QWEN2_RE[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
                               "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char LLAMA3_RE[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
                                "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static const struct {
    const char *name, *re;
    int nfc, ignore_merges;
} PRES[] = {
    {"bailingmoe", LLADA_RE, 0, 0}, {"bailingmoe2", LLADA_RE, 0, 0},
    {"llada", LLADA_RE, 0, 0},      {"llada-moe", LLADA_RE, 0, 0},
    {"qwen2", QWEN2_RE, 1, 0},      {"llama-bpe", LLAMA3_RE, 0, 1},
    {"llama3", LLAMA3_RE, 0, 1},    {"gpt2", NULL, 0, 0},
};

static json_t *byte_level(int use_regex) {
    return json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1, "use_regex",
                     use_regex);
}

static int str_eq(gguf_str_t s, const char *c) { return s.len == strlen(c) && !memcmp(s.s, c, s.len); }

char *tok_gguf_json(const gguf_file_t *f, size_t *len, tok_gguf_ids_t *ids, lerr_t *e) {
    gguf_str_t model, pre = {"gpt2", 4};
    int r = gguf_get_str(f, "tokenizer.ggml.model", &model, e);
    if (r <= 0) {
        if (!r) lerr_set(e, EXIT_DATA, "%s: no tokenizer (tokenizer.ggml.model)", f->path);
        return NULL;
    }
    if (!str_eq(model, "gpt2")) {
        lerr_set(e, EXIT_DATA, "%s: tokenizer model \"%.*s\" is not supported (gpt2: byte-level BPE)", f->path,
                 (int)(model.len < 32 ? model.len : 32), model.s);
        return NULL;
    }
    if (gguf_get_str(f, "tokenizer.ggml.pre", &pre, e) < 0) return NULL;
    size_t pi = 0;
    while (pi < sizeof PRES / sizeof *PRES && !str_eq(pre, PRES[pi].name)) pi++;
    if (pi == sizeof PRES / sizeof *PRES) {
        lerr_set(e, EXIT_DATA,
                 "%s: pre-tokenizer \"%.*s\" is not known (bailingmoe, bailingmoe2, llada, qwen2, llama-bpe, gpt2)",
                 f->path, (int)(pre.len < 32 ? pre.len : 32), pre.s);
        return NULL;
    }
    const gguf_kv_t *toks = gguf_find_kv(f, "tokenizer.ggml.tokens"),
                    *types = gguf_find_kv(f, "tokenizer.ggml.token_type"),
                    *merges = gguf_find_kv(f, "tokenizer.ggml.merges");
    if (!toks || toks->type != GGUF_ARRAY || toks->arr_type != GGUF_STRING) {
        lerr_set(e, EXIT_DATA, "%s: tokenizer.ggml.tokens is not an array of strings", f->path);
        return NULL;
    }
    if (toks->arr_n > INT32_MAX) {
        lerr_set(e, EXIT_DATA, "%s: too many tokens", f->path);
        return NULL;
    }
    if (types && (types->type != GGUF_ARRAY || types->arr_type == GGUF_STRING || types->arr_type == GGUF_F32 ||
                  types->arr_type == GGUF_F64 || types->arr_n != toks->arr_n)) {
        lerr_set(e, EXIT_DATA, "%s: tokenizer.ggml.token_type is not an integer array as long as the tokens", f->path);
        return NULL;
    }
    if (!merges || merges->type != GGUF_ARRAY || merges->arr_type != GGUF_STRING) {
        lerr_set(e, EXIT_DATA, "%s: tokenizer.ggml.merges is not an array of strings", f->path);
        return NULL;
    }
    json_t *vocab = json_object(), *added = json_array(), *mg = json_array();
    char *out = NULL;
    if (!vocab || !added || !mg) goto oom;
    for (uint64_t i = 0; i < toks->arr_n; i++) {
        gguf_str_t s = gguf_arr_str(toks, i);
        int64_t ty = types ? gguf_arr_int(types, i) : 1;
        if (ty == 5) continue; /* unused: an id without a string */
        char pad[32];
        if (ty == 4 && (size_t)snprintf(pad, sizeof pad, "[PAD%llu]", (unsigned long long)i) == s.len &&
            !memcmp(pad, s.s, s.len))
            continue; /* llama.cpp's converter names ids without a string "[PAD<id>]", user-defined */
        json_t *str = json_stringn(s.s, s.len);
        if (!str) {
            lerr_set(e, EXIT_DATA, "%s: token %llu is not valid UTF-8", f->path, (unsigned long long)i);
            goto fail;
        }
        if (ty == 3 || ty == 4) {
            json_t *a =
                json_pack("{s:I, s:o, s:b, s:b, s:b, s:b, s:b}", "id", (json_int_t)i, "content", str, "single_word", 0,
                          "lstrip", 0, "rstrip", 0, "normalized", ty == 4, "special", ty == 3);
            if (!a || json_array_append_new(added, a)) goto oom;
        } else {
            char key[1024];
            if (s.len >= sizeof key) {
                json_decref(str);
                lerr_set(e, EXIT_DATA, "%s: token %llu longer than 1 kB", f->path, (unsigned long long)i);
                goto fail;
            }
            memcpy(key, s.s, s.len);
            key[s.len] = 0;
            json_decref(str);
            if (strlen(key) != s.len) {
                lerr_set(e, EXIT_DATA, "%s: token %llu contains a NUL byte", f->path, (unsigned long long)i);
                goto fail;
            }
            if (json_object_get(vocab, key)) {
                lerr_set(e, EXIT_DATA, "%s: token %llu appears twice", f->path, (unsigned long long)i);
                goto fail;
            }
            if (json_object_set_new(vocab, key, json_integer((json_int_t)i))) goto oom;
        }
    }
    for (uint64_t i = 0; i < merges->arr_n; i++) {
        gguf_str_t s = gguf_arr_str(merges, i);
        json_t *str = json_stringn(s.s, s.len);
        if (!str) {
            lerr_set(e, EXIT_DATA, "%s: merge %llu is not valid UTF-8", f->path, (unsigned long long)i);
            goto fail;
        }
        if (json_array_append_new(mg, str)) goto oom;
    }
    json_t *pt = PRES[pi].re ? json_pack("{s:s, s:[{s:s, s:{s:s}, s:s, s:b}, o]}", "type", "Sequence", "pretokenizers",
                                         "type", "Split", "pattern", "Regex", PRES[pi].re, "behavior", "Isolated",
                                         "invert", 0, byte_level(0))
                             : byte_level(1);
    json_t *m = json_pack("{s:s, s:n, s:n, s:n, s:n, s:b, s:b, s:b, s:o, s:o}", "type", "BPE", "dropout", "unk_token",
                          "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk", 0, "byte_fallback", 0,
                          "ignore_merges", PRES[pi].ignore_merges, "vocab", vocab, "merges", mg);
    vocab = mg = NULL;
    json_t *root =
        json_pack("{s:s, s:n, s:n, s:o, s:o, s:o, s:o, s:o, s:o}", "version", "1.0", "truncation", "padding",
                  "added_tokens", added, "normalizer", PRES[pi].nfc ? json_pack("{s:s}", "type", "NFC") : json_null(),
                  "pre_tokenizer", pt, "post_processor", byte_level(0), "decoder", byte_level(0), "model", m);
    added = NULL;
    if (!root) goto oom;
    out = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!out) goto oom;
    *len = strlen(out);
    ids->bos = ids->eos = ids->eot = ids->mask = -1;
    int64_t v;
    if (gguf_get_int(f, "tokenizer.ggml.bos_token_id", &v, NULL) == 1) ids->bos = (int32_t)v;
    if (gguf_get_int(f, "tokenizer.ggml.eos_token_id", &v, NULL) == 1) ids->eos = (int32_t)v;
    if (gguf_get_int(f, "tokenizer.ggml.eot_token_id", &v, NULL) == 1) ids->eot = (int32_t)v;
    if (gguf_get_int(f, "tokenizer.ggml.mask_token_id", &v, NULL) == 1) ids->mask = (int32_t)v;
    return out;
oom:
    lerr_set(e, EXIT_INTERNAL, "out of memory");
fail:
    json_decref(vocab);
    json_decref(added);
    json_decref(mg);
    return NULL;
}
