/* gguf_write.c — write a model as a GGUF file llama.cpp and this engine read (issue 13):
 * `denoise --quantize TYPE OUT.gguf`.
 *
 * Metadata as llama.cpp's converter writes it (general.architecture "llada", "dream" or
 * "llada-moe", <arch>.* hyper-parameters, causal false, diffusion.shift_logits (true for
 * Dream), expert counts and widths for LLaDA-MoE, tokenizer.ggml.* special ids); tensors under
 * GGUF names (gguf_source.c's tables) with dimensions innermost first, vectors and the MoE
 * router (ffn_gate_inp, never quantised by llama.cpp) in F32, matrices in the chosen type
 * (q4_k_m: llama.cpp's Q4_K_M mix — Q6_K for the LM head, and for attn_v and ffn_down* in the
 * layers its use_more_bits rule picks (the first and last eighth, and every third between);
 * Q4_K elsewhere; q5_k_m: its Q5_K_M mix, the same rule over Q5_K (llama-quant.cpp gives both
 * ftypes the same Q6_K choices for the head, attn_v and ffn_down)); each layer's experts merged into one 3-D tensor per matrix (blk.N.ffn_gate_exps, ne
 * {d, F, E}) as llama.cpp's converter stacks them. LLaDA's Q and K rows are permuted per head
 * into llama.cpp's interleaved-RoPE order (GGUF row 2i + a holds HF row a·hd/2 + i), which
 * gguf_source.c undoes on load; Dream's and LLaDA-MoE's stay (NEOX RoPE in llama.cpp).
 * Quantisation: quant_search.c's searched scales (or quant.c's round-to-nearest references),
 * over rows; threads split the rows. Written to
 * PATH.tmp and renamed, so a failure never leaves a partial file under the final name.
 * The folder's tokenizer.json goes in as llama.cpp stores a byte-level BPE (tokenizer.ggml.model
 * "gpt2", tokens in id order padded to the embedding rows with "[PAD<i>]" user-defined tokens as
 * its converter does, token types 1 normal / 3 control (special added) / 4 user-defined,
 * merges "a b", pre-tokenizer "bailingmoe" for LLaDA's regex or "qwen2" for Qwen2's); a
 * tokenizer of another kind is left out (the weights are still written).
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "model/family.h"
#include "model/gguf.h"
#include "model/source.h"
#include "quant.h"

/* ftype: llama.cpp's general.file_type (ALL_F32 0, MOSTLY_F16 1, Q4_0 2, Q8_0 7, Q5_0 8, Q5_1 9, Q4_K_S 14,
 * Q4_K_M 15, Q5_K_S 16, Q5_K_M 17, Q6_K 18, BF16 32; a pure q4_k / q5_k file says _S). */
static const struct {
    const char *name;
    int ggml;
    wtype_t wt;
    uint32_t ftype;
} QTYPES[] = {
    {"f32", GGML_F32, WT_F32, 0},     {"f16", GGML_F16, WT_F16, 1},       {"bf16", GGML_BF16, WT_BF16, 32},
    {"q8_0", GGML_Q8_0, WT_Q8_0, 7},  {"q4_0", GGML_Q4_0, WT_Q4_0, 2},    {"q4_k", GGML_Q4_K, WT_Q4_K, 14},
    {"q6_k", GGML_Q6_K, WT_Q6_K, 18}, {"q4_k_m", GGML_Q4_K, WT_Q4_K, 15}, {"q5_k", GGML_Q5_K, WT_Q5_K, 16},
    {"q5_k_m", GGML_Q5_K, WT_Q5_K, 17}, {"q5_0", GGML_Q5_0, WT_Q5_0, 8},     {"q5_1", GGML_Q5_1, WT_Q5_1, 9},
};

/* The GGML type id of a weight type this writer produces. */
static int ggml_of(wtype_t t) {
    for (size_t i = 0; i < sizeof QTYPES / sizeof *QTYPES; i++)
        if (QTYPES[i].wt == t) return QTYPES[i].ggml;
    return GGML_F16;
}

/* The type a matrix of `cols` columns gets instead of t when t's blocks do not fill its rows:
 * llama-quantize's convert_incompatible_tensor (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0), then
 * F16 when that block does not fit either; t itself when it fits. */
static wtype_t fallback_type(wtype_t t, int64_t cols) {
    if (cols % wtype_block(t) == 0) return t;
    wtype_t f = t == WT_Q4_K ? WT_Q5_0 : t == WT_Q5_K ? WT_Q5_1 : t == WT_Q6_K ? WT_Q8_0 : WT_F16;
    return cols % wtype_block(f) ? WT_F16 : f;
}

int model_gguf_type_ok(const char *name) {
    for (size_t i = 0; i < sizeof QTYPES / sizeof *QTYPES; i++)
        if (!strcmp(QTYPES[i].name, name)) return 1;
    return 0;
}

/* ---- a growing byte buffer for the header ---- */
typedef struct {
    uint8_t *p;
    size_t n, cap;
    int oom;
} buf_t;

static void put(buf_t *b, const void *s, size_t n) {
    if (b->oom || n == 0) return; /* an empty array may come with a null pointer */
    if (b->n + n > b->cap) {
        size_t c = b->cap ? b->cap * 2 : 4096;
        while (c < b->n + n) c *= 2;
        uint8_t *q = realloc(b->p, c);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = c;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}
static void put_u32(buf_t *b, uint32_t v) {
    uint8_t x[4];
    for (int i = 0; i < 4; i++) x[i] = (uint8_t)(v >> 8 * i);
    put(b, x, 4);
}
static void put_u64(buf_t *b, uint64_t v) {
    uint8_t x[8];
    for (int i = 0; i < 8; i++) x[i] = (uint8_t)(v >> 8 * i);
    put(b, x, 8);
}
static void put_str(buf_t *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void kv_u32(buf_t *b, const char *k, uint32_t v) {
    put_str(b, k);
    put_u32(b, GGUF_U32);
    put_u32(b, v);
}
static void kv_f32(buf_t *b, const char *k, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    put_str(b, k);
    put_u32(b, GGUF_F32);
    put_u32(b, u);
}
static void kv_bool(buf_t *b, const char *k, int v) {
    uint8_t x = (uint8_t)v;
    put_str(b, k);
    put_u32(b, GGUF_BOOL);
    put(b, &x, 1);
}
static void kv_str(buf_t *b, const char *k, const char *v) {
    put_str(b, k);
    put_u32(b, GGUF_STRING);
    put_str(b, v);
}

/* ---- the tokenizer ---- */
static const char LLADA_RE[] = "'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}+|\\p{N}| "
                               "?[^\\s\\p{L}\\p{N}]++[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+";
static const char QWEN2_RE[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
                               "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* The Split regex of a tokenizer.json's pre-tokenizer, or NULL. */
static const char *split_regex(json_t *pt) {
    json_t *l = json_object_get(pt, "pretokenizers");
    size_t i;
    json_t *p;
    json_array_foreach(
        l, i,
        p) if (json_is_string(json_object_get(p, "type")) &&
               !strcmp(json_string_value(json_object_get(p, "type")),
                       "Split")) return json_string_value(json_object_get(json_object_get(p, "pattern"), "Regex"));
    return NULL;
}

/* tokenizer.ggml.* key/values from dir/tokenizer.json into b (count added to *nkv). 0 also when
 * there is no usable tokenizer (nothing added); -1 on OOM. */
static int tokenizer_kvs(buf_t *b, const char *dir, int rows, int *nkv, lerr_t *e) {
    char path[4200];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    json_t *t = json_load_file(path, 0, NULL), *m = json_object_get(t, "model");
    json_t *vocab = json_object_get(m, "vocab"), *merges = json_object_get(m, "merges"),
           *added = json_object_get(t, "added_tokens");
    const char *re = split_regex(json_object_get(t, "pre_tokenizer")), *pre = NULL;
    if (re && !strcmp(re, LLADA_RE)) pre = "bailingmoe";
    if (re && !strcmp(re, QWEN2_RE)) pre = "qwen2";
    const char *mt = json_string_value(json_object_get(m, "type"));
    if (!pre || !mt || strcmp(mt, "BPE") || !json_is_object(vocab) || !json_is_array(merges) ||
        json_is_true(json_object_get(m, "byte_fallback"))) {
        json_decref(t);
        return 0;
    }
    int n = rows;
    const char *k;
    json_t *v;
    size_t i;
    json_object_foreach(vocab, k, v) if (json_integer_value(v) >= n) n = (int)json_integer_value(v) + 1;
    json_array_foreach(added, i, v) if (json_integer_value(json_object_get(v, "id")) >= n) n =
        (int)json_integer_value(json_object_get(v, "id")) + 1;
    const char **str = calloc((size_t)n, sizeof *str);
    int32_t *type = calloc((size_t)n, sizeof *type);
    if (!str || !type) {
        free(str);
        free(type);
        json_decref(t);
        return lerr_set(e, EXIT_INTERNAL, "out of memory");
    }
    json_object_foreach(vocab, k, v) {
        json_int_t id = json_integer_value(v);
        if (id >= 0 && id < n) {
            str[id] = k;
            type[id] = 1;
        }
    }
    json_array_foreach(added, i, v) {
        json_int_t id = json_integer_value(json_object_get(v, "id"));
        const char *c = json_string_value(json_object_get(v, "content"));
        if (id >= 0 && id < n && c) {
            str[id] = c;
            type[id] = json_is_true(json_object_get(v, "special")) ? 3 : 4;
        }
    }
    kv_str(b, "tokenizer.ggml.model", "gpt2");
    kv_str(b, "tokenizer.ggml.pre", pre);
    put_str(b, "tokenizer.ggml.tokens");
    put_u32(b, GGUF_ARRAY);
    put_u32(b, GGUF_STRING);
    put_u64(b, (uint64_t)n);
    for (int id = 0; id < n; id++) {
        char pad[32];
        if (!str[id]) {
            snprintf(pad, sizeof pad, "[PAD%d]", id);
            type[id] = 4;
        }
        put_str(b, str[id] ? str[id] : pad);
    }
    put_str(b, "tokenizer.ggml.token_type");
    put_u32(b, GGUF_ARRAY);
    put_u32(b, GGUF_I32);
    put_u64(b, (uint64_t)n);
    for (int id = 0; id < n; id++) put_u32(b, (uint32_t)type[id]);
    put_str(b, "tokenizer.ggml.merges");
    put_u32(b, GGUF_ARRAY);
    put_u32(b, GGUF_STRING);
    put_u64(b, json_array_size(merges));
    json_array_foreach(merges, i, v) {
        if (json_is_string(v)) {
            put_str(b, json_string_value(v));
            continue;
        }
        const char *a = json_string_value(json_array_get(v, 0)), *c = json_string_value(json_array_get(v, 1));
        size_t la = a ? strlen(a) : 0, lc = c ? strlen(c) : 0;
        put_u64(b, la + 1 + lc);
        put(b, a ? a : "", la);
        put(b, " ", 1);
        put(b, c ? c : "", lc);
    }
    *nkv += 5;
    free(str);
    free(type);
    json_decref(t);
    return 0;
}

/* ---- tensors ---- */
typedef struct {
    char gname[96];
    const wtensor_t *src; /* merged experts: src[0 .. nexp-1] (consecutive in llada_layer_t) */
    int nexp;             /* experts merged into dimension 3, or 1 */
    int ndim;
    int64_t rows, cols;
    int ggml;
    wtype_t wt;
    int heads; /* > 0: permute rows for interleaved RoPE */
    uint64_t off, nbytes;
} otensor_t;

typedef struct {
    const otensor_t *t;
    uint8_t *out;
    int nthreads;
    bool search; /* quantize_search, else quantize_ref */
    int oom;
} qjob_t;

/* llama.cpp's Q4_K_M / Q5_K_M rule for attn_v / ffn_down: more bits in layer i of n when it is in
 * the first or last eighth or every third layer between (its use_more_bits). */
static int more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

/* The HF row stored at GGUF row g of a permuted tensor. */
static int64_t src_row(const otensor_t *t, int64_t g) {
    if (t->heads <= 0) return g;
    int64_t hd = t->rows / t->heads, h = g / hd, j = g % hd;
    return h * hd + (j % 2) * (hd / 2) + j / 2;
}

static void quant_rows(int th, void *arg) {
    qjob_t *j = arg;
    const otensor_t *t = j->t;
    int64_t all = t->rows * t->nexp, lo = all * th / j->nthreads, hi = all * (th + 1) / j->nthreads;
    size_t srb = wtype_bytes(t->src->type, (size_t)t->cols), orb = wtype_bytes(t->wt, (size_t)t->cols);
    float *row = malloc((size_t)t->cols * sizeof *row);
    if (!row) {
        j->oom = 1;
        return;
    }
    for (int64_t g = lo; g < hi; g++) {
        const wtensor_t *src = t->src + g / t->rows;
        wconvert_f32(row, (const uint8_t *)src->data + (size_t)src_row(t, g % t->rows) * srb, src->type,
                     (size_t)t->cols);
        uint8_t *o = j->out + (size_t)g * orb;
        if (t->wt == WT_F32) memcpy(o, row, orb);
        else if (t->wt == WT_BF16 || t->wt == WT_F16)
            for (int64_t k = 0; k < t->cols; k++) {
                uint16_t h = t->wt == WT_BF16 ? f32_to_bf16(row[k]) : f32_to_f16(row[k]);
                o[2 * k] = (uint8_t)h;
                o[2 * k + 1] = (uint8_t)(h >> 8);
            }
        else if (j->search) quantize_search(o, row, t->wt, (size_t)t->cols);
        else quantize_ref(o, row, t->wt, (size_t)t->cols);
    }
    free(row);
}

int model_save_gguf(const model_t *m, const char *path, const char *qtype, bool search, lerr_t *e) {
    const model_family_t *f = m->family;
    const llada_config_t *c = &m->cfg;
    size_t qi = 0;
    while (qi < sizeof QTYPES / sizeof *QTYPES && strcmp(QTYPES[qi].name, qtype)) qi++;
    if (qi == sizeof QTYPES / sizeof *QTYPES) return lerr_set(e, EXIT_USAGE, "unknown GGUF type \"%s\"", qtype);
    const char *arch = gguf_arch_name(f);
    if (!arch)
        return lerr_set(e, EXIT_DATA, "GGUF output is for LLaDA, Dream and LLaDA-MoE models (this is %s)", f->display);
    int permute = !strcmp(arch, "llada"), moe = f == &model_family_llada_moe;
    int cap = f->max_tensors(c);
    model_tensor_spec_t *s = calloc((size_t)cap, sizeof *s);
    otensor_t *ot = calloc((size_t)cap, sizeof *ot);
    buf_t h = {0};
    char tmp[4200];
    FILE *fp = NULL;
    uint8_t *data = NULL;
    int rc = -1;
    if (!s || !ot) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        goto out;
    }
    int n = f->tensor_specs(c, (llada_weights_t *)&m->w, s), nfallback = 0;
    const uint32_t align = 32;
    uint64_t off = 0;
    int nt = 0;
    for (int i = 0; i < n; i++) {
        otensor_t *t = &ot[nt];
        int x;
        if (gguf_name_of(f, s[i].name, t->gname, sizeof t->gname, &x)) {
            lerr_set(e, EXIT_INTERNAL, "no GGUF name for \"%s\"", s[i].name);
            goto out;
        }
        if (x > 0) { /* a later expert: part of the merged tensor its expert 0 opened */
            int k = nt - 1;
            while (k >= 0 && strcmp(ot[k].gname, t->gname)) k--;
            if (k < 0 || ot[k].src + x != s[i].dst || ot[k].nexp <= x) {
                lerr_set(e, EXIT_INTERNAL, "expert tensor \"%s\" out of order", s[i].name);
                goto out;
            }
            continue;
        }
        nt++;
        t->src = s[i].dst;
        t->nexp = x == 0 ? c->n_experts : 1;
        t->ndim = x == 0 ? 3 : s[i].ndim;
        t->rows = s[i].ndim == 2 ? s[i].shape[0] : 1;
        t->cols = s[i].ndim == 2 ? s[i].shape[1] : s[i].shape[0];
        t->ggml = GGML_F32;
        t->wt = WT_F32;
        if (t->ndim >= 2 && !strstr(t->gname, ".ffn_gate_inp.")) {
            t->ggml = QTYPES[qi].ggml;
            t->wt = QTYPES[qi].wt;
            int layer = !strncmp(t->gname, "blk.", 4) ? atoi(t->gname + 4) : -1;
            int mix = !strcmp(qtype, "q4_k_m") || !strcmp(qtype, "q5_k_m");
            int legacy = !strcmp(qtype, "q4_0") || !strcmp(qtype, "q5_0") || !strcmp(qtype, "q5_1");
            if (!strcmp(t->gname, "output.weight") && (mix || legacy)) {
                /* llama-quant.cpp's head rule for these ftypes: Q6_K (Q8_0 below where 256 does not
                 * divide the rows) */
                t->ggml = GGML_Q6_K;
                t->wt = WT_Q6_K;
            } else if (mix && (strstr(t->gname, ".attn_v.") || strstr(t->gname, ".ffn_down")) && layer >= 0 &&
                       more_bits(layer, c->n_layers)) {
                t->ggml = GGML_Q6_K;
                t->wt = WT_Q6_K;
            }
            wtype_t fb = fallback_type(t->wt, t->cols);
            if (fb != t->wt) {
                t->wt = fb;
                t->ggml = ggml_of(fb);
                nfallback++;
            }
            if (permute && strstr(t->gname, ".attn_q.")) t->heads = c->n_heads;
            if (permute && strstr(t->gname, ".attn_k.")) t->heads = c->n_kv_heads;
        }
        t->nbytes = wtype_bytes(t->wt, (size_t)t->cols) * (uint64_t)t->rows * (uint64_t)t->nexp;
        t->off = off;
        off += (t->nbytes + align - 1) / align * align;
    }
    n = nt;
    int nkv = 17 + (c->bos_token_id >= 0) + (c->eot_token_id >= 0) +
              (moe ? 3 + (c->shared_expert_hidden_size > 0) + (c->clip_qkv > 0) : 0);
    buf_t kb = {0};
    if (m->dir && tokenizer_kvs(&kb, m->dir, c->embedding_size, &nkv, e)) {
        free(kb.p);
        goto out;
    }
    put(&h, "GGUF", 4);
    put_u32(&h, 3);
    put_u64(&h, (uint64_t)n);
    put_u64(&h, (uint64_t)nkv);
    put(&h, kb.p, kb.n);
    h.oom |= kb.oom;
    free(kb.p);
    char k[128];
#define AK(key) (snprintf(k, sizeof k, "%s.%s", arch, key), k)
    kv_str(&h, "general.architecture", arch);
    kv_str(&h, "general.name", arch);
    kv_u32(&h, "general.file_type", QTYPES[qi].ftype);
    kv_u32(&h, AK("context_length"), (uint32_t)c->max_sequence_length);
    kv_u32(&h, AK("embedding_length"), (uint32_t)c->d_model);
    kv_u32(&h, AK("block_count"), (uint32_t)c->n_layers);
    kv_u32(&h, AK("feed_forward_length"), (uint32_t)c->mlp_hidden_size);
    kv_u32(&h, AK("attention.head_count"), (uint32_t)c->n_heads);
    kv_u32(&h, AK("attention.head_count_kv"), (uint32_t)c->n_kv_heads);
    kv_u32(&h, AK("rope.dimension_count"), (uint32_t)c->head_dim);
    kv_f32(&h, AK("rope.freq_base"), (float)c->rope_theta);
    kv_f32(&h, AK("attention.layer_norm_rms_epsilon"), (float)c->rms_norm_eps);
    kv_bool(&h, AK("attention.causal"), 0);
    kv_bool(&h, "diffusion.shift_logits", c->logits_shift);
    if (moe) {
        kv_u32(&h, AK("expert_count"), (uint32_t)c->n_experts);
        kv_u32(&h, AK("expert_used_count"), (uint32_t)c->n_experts_per_tok);
        kv_u32(&h, AK("expert_feed_forward_length"), (uint32_t)c->expert_hidden_size);
        if (c->shared_expert_hidden_size > 0)
            kv_u32(&h, AK("expert_shared_feed_forward_length"), (uint32_t)c->shared_expert_hidden_size);
        if (c->clip_qkv > 0) kv_f32(&h, AK("attention.clamp_kqv"), c->clip_qkv);
    }
#undef AK
    kv_u32(&h, "tokenizer.ggml.mask_token_id", (uint32_t)c->mask_token_id);
    kv_u32(&h, "tokenizer.ggml.eos_token_id", (uint32_t)c->eos_token_id);
    kv_u32(&h, "tokenizer.ggml.padding_token_id", (uint32_t)c->pad_token_id);
    if (c->bos_token_id >= 0) kv_u32(&h, "tokenizer.ggml.bos_token_id", (uint32_t)c->bos_token_id);
    if (c->eot_token_id >= 0) kv_u32(&h, "tokenizer.ggml.eot_token_id", (uint32_t)c->eot_token_id);
    for (int i = 0; i < n; i++) {
        put_str(&h, ot[i].gname);
        put_u32(&h, (uint32_t)ot[i].ndim);
        put_u64(&h, (uint64_t)ot[i].cols);
        if (ot[i].ndim >= 2) put_u64(&h, (uint64_t)ot[i].rows);
        if (ot[i].ndim == 3) put_u64(&h, (uint64_t)ot[i].nexp);
        put_u32(&h, (uint32_t)ot[i].ggml);
        put_u64(&h, ot[i].off);
    }
    static const uint8_t zeros[64];
    put(&h, zeros, (align - h.n % align) % align);
    if (h.oom) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        goto out;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!(fp = fopen(tmp, "wb"))) {
        lerr_set(e, EXIT_IO, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    int bad = fwrite(h.p, 1, h.n, fp) != h.n;
    for (int i = 0; i < n && !bad; i++) {
        otensor_t *t = &ot[i];
        free(data);
        if (!(data = malloc(t->nbytes ? t->nbytes : 1))) {
            lerr_set(e, EXIT_INTERNAL, "out of memory");
            goto out;
        }
        int64_t all = t->rows * t->nexp;
        qjob_t j = {t, data, kern_threads() < all ? kern_threads() : (int)all, search, 0};
        kern_parallel_for(j.nthreads, quant_rows, &j);
        if (j.oom) {
            lerr_set(e, EXIT_INTERNAL, "out of memory");
            goto out;
        }
        bad = fwrite(data, 1, t->nbytes, fp) != t->nbytes ||
              fwrite(zeros, 1, (align - t->nbytes % align) % align, fp) != (align - t->nbytes % align) % align;
    }
    int err = errno;
    if (fclose(fp) && !bad) {
        bad = 1;
        err = errno;
    }
    fp = NULL;
    if (bad) {
        lerr_set(e, EXIT_IO, "%s: write failed: %s", tmp, strerror(err));
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path)) {
        lerr_set(e, EXIT_IO, "%s: %s", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = nfallback;
out:
    if (fp) {
        fclose(fp);
        unlink(tmp);
    }
    free(data);
    free(h.p);
    free(s);
    free(ot);
    return rc;
}
