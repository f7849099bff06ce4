/* gguf_source.c — a GGUF file (gguf.h) as a model_source_t (source.h) and its metadata as a
 * config (issue 13).
 *
 * Architectures as llama.cpp names them in general.architecture; one table row each: the family
 * it runs as, and how its GGUF tensor names map to the family's (llada: token_embd ->
 * model.transformer.wte, blk.N.attn_q -> model.transformer.blocks.N.q_proj, ...). Dimensions
 * come innermost first in GGUF (ne[0] = columns) and are reversed into the family's [rows,
 * cols]. llama.cpp's converter permutes the rows of Q and K within each head for its
 * interleaved RoPE (HF row a·hd/2 + i is stored at row 2i + a); this source undoes that into a
 * copy it owns (whole rows, so quantised blocks move unchanged; the original's pages are then
 * dropped from memory), and the graph keeps its half-split RoPE. Hyper-parameters come from "<arch>.*" keys and tokenizer.ggml.* ids.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "model/family.h"
#include "model/gguf.h"
#include "model/source.h"

/* Block tensors: family suffix <-> GGUF suffix (LLaDA; llada.md §2.2 and llama.cpp's names). */
static const char *const LLADA_BLK[][2] = {
    {"attn_norm", "attn_norm"}, {"q_proj", "attn_q"}, {"k_proj", "attn_k"}, {"v_proj", "attn_v"},
    {"attn_out", "attn_output"}, {"ff_norm", "ffn_norm"}, {"ff_proj", "ffn_gate"},
    {"up_proj", "ffn_up"}, {"ff_out", "ffn_down"},
};
static const char *const LLADA_TOP[][2] = {
    {"model.transformer.wte.weight", "token_embd.weight"},
    {"model.transformer.ln_f.weight", "output_norm.weight"},
    {"model.transformer.ff_out.weight", "output.weight"},
};

typedef struct {
    gguf_file_t *f;
    int n_heads, n_kv_heads;
    char **fam_names;      /* [nt]: the family's name of each GGUF tensor (owned) */
    void **owned;          /* un-permuted Q/K copies */
    int nowned;
    int64_t *shape;        /* [nt][2] family shapes */
} gsrc_t;

/* GGUF name -> family name (malloc'd; the GGUF name itself when it maps to nothing). */
static char *to_family(const char *g) {
    char buf[160];
    for (size_t i = 0; i < sizeof LLADA_TOP / sizeof *LLADA_TOP; i++)
        if (!strcmp(g, LLADA_TOP[i][1])) return strdup(LLADA_TOP[i][0]);
    int layer, n = 0;
    char suffix[64];
    if (sscanf(g, "blk.%d.%63[a-z_].weight%n", &layer, suffix, &n) == 2 && g[n] == 0 && layer >= 0)
        for (size_t i = 0; i < sizeof LLADA_BLK / sizeof *LLADA_BLK; i++)
            if (!strcmp(suffix, LLADA_BLK[i][1])) {
                snprintf(buf, sizeof buf, "model.transformer.blocks.%d.%s.weight", layer, LLADA_BLK[i][0]);
                return strdup(buf);
            }
    return strdup(g);
}

int gguf_llada_name(const char *fam, char *out, size_t n) {
    for (size_t i = 0; i < sizeof LLADA_TOP / sizeof *LLADA_TOP; i++)
        if (!strcmp(fam, LLADA_TOP[i][0])) { snprintf(out, n, "%s", LLADA_TOP[i][1]); return 0; }
    int layer, end = 0;
    char suffix[64];
    if (sscanf(fam, "model.transformer.blocks.%d.%63[a-z_].weight%n", &layer, suffix, &end) == 2 && fam[end] == 0)
        for (size_t i = 0; i < sizeof LLADA_BLK / sizeof *LLADA_BLK; i++)
            if (!strcmp(suffix, LLADA_BLK[i][0])) { snprintf(out, n, "blk.%d.%s.weight", layer, LLADA_BLK[i][1]); return 0; }
    return -1;
}

static int wtype_of(uint32_t g) {
    switch (g) {
    case GGML_F32: return WT_F32;
    case GGML_F16: return WT_F16;
    case GGML_BF16: return WT_BF16;
    case GGML_Q8_0: return WT_Q8_0;
    case GGML_Q4_0: return WT_Q4_0;
    case GGML_Q4_K: return WT_Q4_K;
    case GGML_Q6_K: return WT_Q6_K;
    default: return -1;
    }
}

static void gsrc_close(void *ctx) {
    gsrc_t *s = ctx;
    if (!s) return;
    for (int64_t i = 0; s->fam_names && i < s->f->nt; i++) free(s->fam_names[i]);
    for (int i = 0; i < s->nowned; i++) free(s->owned[i]);
    free(s->fam_names);
    free(s->owned);
    free(s->shape);
    gguf_close(&s->f);
    free(s);
}

/* Rows of Q or K back into HF order: within each head of hd rows, HF row a*hd/2 + i from GGUF
 * row 2i + a. */
static void *unpermute(const gguf_tensor_t *t, int heads, size_t row_bytes) {
    int64_t rows = t->ne[1], hd = rows / heads;
    uint8_t *out = malloc(t->nbytes ? t->nbytes : 1);
    if (!out) return NULL;
    const uint8_t *in = t->data;
    for (int64_t h = 0; h < heads; h++)
        for (int64_t a = 0; a < 2; a++)
            for (int64_t i = 0; i < hd / 2; i++)
                memcpy(out + (size_t)(h * hd + a * hd / 2 + i) * row_bytes,
                       in + (size_t)(h * hd + 2 * i + a) * row_bytes, row_bytes);
    return out;
}

static int gsrc_find(void *ctx, const char *name, model_tview_t *out, lerr_t *e) {
    gsrc_t *s = ctx;
    for (int64_t i = 0; i < s->f->nt; i++) {
        if (strcmp(s->fam_names[i], name)) continue;
        const gguf_tensor_t *t = &s->f->t[i];
        if (t->ndim > 2 || (t->ndim == 2 && t->ne[1] < 1))
            return lerr_set(e, EXIT_DATA, "%s: tensor \"%s\": %d dimensions (1 or 2 expected)", s->f->path, t->name, t->ndim);
        int wt = wtype_of(t->type);
        int64_t *sh = s->shape + 2 * i;
        sh[0] = t->ndim == 2 ? t->ne[1] : t->ne[0];
        sh[1] = t->ne[0];
        const void *data = t->data;
        int q = strstr(t->name, ".attn_q.") != NULL, k = strstr(t->name, ".attn_k.") != NULL;
        if ((q || k) && t->ndim == 2 && wt >= 0) {
            int heads = q ? s->n_heads : s->n_kv_heads;
            if (heads <= 0 || t->ne[1] % (2 * heads))
                return lerr_set(e, EXIT_DATA, "%s: tensor \"%s\": %lld rows do not split into %d heads of an even size",
                                s->f->path, t->name, (long long)t->ne[1], heads);
            void *c = s->nowned < 2 * 4096 ? unpermute(t, heads, wtype_bytes((wtype_t)wt, (size_t)t->ne[0])) : NULL;
            if (!c) return lerr_set(e, EXIT_INTERNAL, "out of memory");
            s->owned[s->nowned++] = c;
            data = c;
            if (s->f->mapped) {   /* the permuted original is not read again: drop its pages */
                uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE), a = ((uintptr_t)t->data + pg - 1) & ~(pg - 1),
                          b = ((uintptr_t)t->data + t->nbytes) & ~(pg - 1);
                if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
            }
        }
        *out = (model_tview_t){name, ggml_type_name(t->type), wt, t->ndim, sh, data, t->nbytes};
        return 1;
    }
    return 0;
}

static int gsrc_count(void *ctx) { return (int)((gsrc_t *)ctx)->f->nt; }
static const char *gsrc_name_at(void *ctx, int i) { return ((gsrc_t *)ctx)->fam_names[i]; }

int gguf_source_open(model_source_t *src, gguf_file_t *f, const llada_config_t *c, lerr_t *e) {
    *src = (model_source_t){0};
    gsrc_t *s = calloc(1, sizeof *s);
    if (!s) { gguf_close(&f); return lerr_set(e, EXIT_INTERNAL, "out of memory"); }
    s->f = f;
    s->n_heads = c->n_heads;
    s->n_kv_heads = c->n_kv_heads;
    s->fam_names = calloc((size_t)f->nt + 1, sizeof *s->fam_names);
    s->shape = calloc(2 * (size_t)f->nt + 2, sizeof *s->shape);
    s->owned = calloc(2 * 4096, sizeof *s->owned);
    if (!s->fam_names || !s->shape || !s->owned) goto oom;
    for (int64_t i = 0; i < f->nt; i++) if (!(s->fam_names[i] = to_family(f->t[i].name))) goto oom;
    *src = (model_source_t){s, gsrc_find, gsrc_count, gsrc_name_at, gsrc_close};
    return 0;
oom:
    gsrc_close(s);
    return lerr_set(e, EXIT_INTERNAL, "out of memory");
}

/* ---- metadata -> config ---- */

static int get_i(const gguf_file_t *f, const char *arch, const char *key, int lo, int *out, int required, lerr_t *e) {
    char k[128];
    int64_t v;
    snprintf(k, sizeof k, "%s.%s", arch, key);
    int r = gguf_get_int(f, k, &v, e);
    if (r < 0) return -1;
    if (r == 0) return required ? lerr_set(e, EXIT_DATA, "%s: missing key \"%s\"", f->path, k) : 0;
    if (v < lo || v > (1 << 30)) return lerr_set(e, EXIT_DATA, "%s: key \"%s\": %lld out of range", f->path, k, (long long)v);
    *out = (int)v;
    return 0;
}

static int get_id(const gguf_file_t *f, const char *key, int32_t *out, lerr_t *e) {
    int64_t v;
    int r = gguf_get_int(f, key, &v, e);
    if (r < 0) return -1;
    if (r && (v < 0 || v > INT32_MAX)) return lerr_set(e, EXIT_DATA, "%s: key \"%s\": %lld is not a token id", f->path, key, (long long)v);
    if (r) *out = (int32_t)v;
    return 0;
}

int gguf_model_config(const gguf_file_t *f, llada_config_t *c, const model_family_t **fam, lerr_t *e) {
    gguf_str_t a;
    int r = gguf_get_str(f, "general.architecture", &a, e);
    if (r < 0) return -1;
    if (r == 0) return lerr_set(e, EXIT_DATA, "%s: no general.architecture", f->path);
    char arch[64];
    if (a.len != 5 || memcmp(a.s, "llada", 5)) {
        size_t n = a.len < 48 ? (size_t)a.len : 48;
        for (size_t i = 0; i < n; i++) arch[i] = a.s[i] >= 0x20 && a.s[i] < 0x7f ? a.s[i] : '?';
        arch[n] = 0;
        return lerr_set(e, EXIT_DATA, "%s: architecture \"%s\" is not supported (supported: llada)", f->path, arch);
    }
    strcpy(arch, "llada");
    *fam = &model_family_llada;
    llada_config_default(c);
    if (get_i(f, arch, "embedding_length", 1, &c->d_model, 1, e) || get_i(f, arch, "block_count", 1, &c->n_layers, 1, e) ||
        get_i(f, arch, "attention.head_count", 1, &c->n_heads, 1, e))
        return -1;
    c->n_kv_heads = c->n_heads;
    if (get_i(f, arch, "attention.head_count_kv", 1, &c->n_kv_heads, 0, e) ||
        get_i(f, arch, "feed_forward_length", 1, &c->mlp_hidden_size, 1, e) ||
        get_i(f, arch, "context_length", 1, &c->max_sequence_length, 0, e))
        return -1;
    if (c->d_model % c->n_heads || c->n_heads % c->n_kv_heads)
        return lerr_set(e, EXIT_DATA, "%s: %d heads (%d key/value heads) do not divide embedding_length %d", f->path,
                        c->n_heads, c->n_kv_heads, c->d_model);
    c->head_dim = c->d_model / c->n_heads;
    int rd = c->head_dim;
    if (get_i(f, arch, "rope.dimension_count", 1, &rd, 0, e)) return -1;
    if (rd != c->head_dim)
        return lerr_set(e, EXIT_DATA, "%s: partial RoPE (rope.dimension_count %d, head size %d) is not supported", f->path, rd, c->head_dim);
    char k[128];
    snprintf(k, sizeof k, "%s.rope.freq_base", arch);
    if (gguf_get_num(f, k, &c->rope_theta, e) < 0) return -1;
    snprintf(k, sizeof k, "%s.attention.layer_norm_rms_epsilon", arch);
    if (gguf_get_num(f, k, &c->rms_norm_eps, e) < 0) return -1;
    if (!(c->rope_theta > 0) || !(c->rms_norm_eps > 0)) return lerr_set(e, EXIT_DATA, "%s: rope.freq_base and layer_norm_rms_epsilon must be > 0", f->path);
    int64_t causal = 0;
    snprintf(k, sizeof k, "%s.attention.causal", arch);
    if (gguf_get_int(f, k, &causal, e) < 0) return -1;
    if (causal) return lerr_set(e, EXIT_DATA, "%s: %s is true (LLaDA attends bidirectionally)", f->path, k);
    int64_t shift = 0;
    if (gguf_get_int(f, "diffusion.shift_logits", &shift, e) < 0) return -1;
    if (shift) return lerr_set(e, EXIT_DATA, "%s: diffusion.shift_logits is true (not a LLaDA model)", f->path);
    /* vocabulary: the embedding's rows; the tokenizer's size when it lists its tokens */
    const gguf_tensor_t *emb = gguf_find_tensor(f, "token_embd.weight");
    if (!emb || emb->ndim != 2 || emb->ne[1] > (1 << 30)) return lerr_set(e, EXIT_DATA, "%s: no 2-D token_embd.weight", f->path);
    c->embedding_size = (int)emb->ne[1];
    const gguf_kv_t *toks = gguf_find_kv(f, "tokenizer.ggml.tokens");
    c->vocab_size = toks && toks->type == GGUF_ARRAY && toks->arr_n <= (uint64_t)c->embedding_size ? (int)toks->arr_n : c->embedding_size;
    if (get_i(f, arch, "vocab_size", 1, &c->vocab_size, 0, e)) return -1;
    if (c->vocab_size > c->embedding_size) c->vocab_size = c->embedding_size;
    c->weight_tying = gguf_find_tensor(f, "output.weight") == NULL;
    if (get_id(f, "tokenizer.ggml.mask_token_id", &c->mask_token_id, e) ||
        get_id(f, "tokenizer.ggml.eos_token_id", &c->eos_token_id, e) ||
        get_id(f, "tokenizer.ggml.bos_token_id", &c->bos_token_id, e) ||
        get_id(f, "tokenizer.ggml.padding_token_id", &c->pad_token_id, e) ||
        get_id(f, "tokenizer.ggml.eot_token_id", &c->eot_token_id, e))
        return -1;
    if (c->mask_token_id >= c->embedding_size)
        return lerr_set(e, EXIT_DATA, "%s: mask token id %d outside the embedding (%d rows)", f->path, c->mask_token_id, c->embedding_size);
    return 0;
}
