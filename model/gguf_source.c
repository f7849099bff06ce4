/* gguf_source.c — a GGUF file (gguf.h) as a model_source_t (source.h) and its metadata as a
 * config (issue 13).
 *
 * Architectures as llama.cpp names them in general.architecture, one table row each: the
 * family it runs as, the name map between its GGUF tensors and the family's, and whether Q/K
 * rows are permuted.
 *   llada      -> LLaDA (llada.c): token_embd -> model.transformer.wte, blk.N.attn_q ->
 *                 model.transformer.blocks.N.q_proj, ...; llama.cpp's converter permutes the rows
 *                 of Q and K within each head for its interleaved RoPE (HF row a·hd/2 + i is
 *                 stored at row 2i + a); this source undoes that into a copy it owns (whole rows,
 *                 so quantised blocks move unchanged; the original's pages are then dropped) and
 *                 the graph keeps its half-split RoPE.
 *   dream      -> Dream (dream.c), HF Qwen2 names: blk.N.attn_q.{weight,bias} ->
 *                 model.layers.N.self_attn.q_proj.{weight,bias}, ffn_gate -> mlp.gate_proj, ...
 *   llada-moe  -> LLaDA-MoE (llada_moe.c), the same names plus attn_{q,k}_norm -> self_attn.
 *                 {q,k}_norm, ffn_gate_inp -> mlp.gate (the router), exp_probs_b.bias ->
 *                 mlp.expert_bias, ffn_{gate,up,down}_shexp -> shared_expert.*, and the experts
 *                 merged into one 3-D tensor per layer and matrix, blk.N.ffn_gate_exps [E][F][d]
 *                 (ggml ne {d, F, E}) -> model.layers.N.mlp.experts.X.gate_proj [F][d]: each
 *                 expert a contiguous slice, viewed in place.
 *   llada2     -> LLaDA 2.x (llada2.c), as the converter of llama.cpp's draft PR #17454 writes
 *                 it (BailingMoeV2 names): attn_qkv -> attention.query_key_value (fused, not
 *                 permuted), attn_{q,k}_norm -> attention.{query,key}_layernorm, attn_output ->
 *                 attention.dense, ffn_gate_inp / exp_probs_b.bias -> mlp.gate.{weight,
 *                 expert_bias}, ffn_*_shexp -> mlp.shared_experts.*, experts stacked as for
 *                 llada-moe; keys TextModel's and BailingMoeV2's (expert counts, groups,
 *                 leading_dense_block_count, expert_weights_scale, rope.dimension_count the
 *                 rotary part of the head); read only (gguf_arch_name gives NULL: no --quantize).
 * All but llada use NEOX (half-split) RoPE in llama.cpp (llama_model_rope_type): no permutation.
 * Dimensions come innermost first in GGUF (ne[0] = columns) and are reversed into the
 * family's [rows, cols]. Hyper-parameters: LLaDA's from "<arch>.*" keys directly; Dream's,
 * LLaDA-MoE's and LLaDA2's become the config.json their family parses (so every check of the family
 * applies), with what llama.cpp keeps only in the tensors (biases, QK-norm, the router's expert
 * bias, which layers are MoE, the shared expert's width) read from which tensors exist.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/family.h"
#include "model/gguf.h"
#include "model/source.h"

/* One tensor name: the family's and the GGUF one, "%d" standing for the layer (and, in the
 * family's name of a merged expert tensor, then the expert). */
typedef struct {
    const char *fam, *gguf;
    int expert;
} name_map_t;

static const name_map_t LLADA_MAP[] = {
    {"model.transformer.wte.weight", "token_embd.weight", 0},
    {"model.transformer.ln_f.weight", "output_norm.weight", 0},
    {"model.transformer.ff_out.weight", "output.weight", 0},
    {"model.transformer.blocks.%d.attn_norm.weight", "blk.%d.attn_norm.weight", 0},
    {"model.transformer.blocks.%d.q_proj.weight", "blk.%d.attn_q.weight", 0},
    {"model.transformer.blocks.%d.k_proj.weight", "blk.%d.attn_k.weight", 0},
    {"model.transformer.blocks.%d.v_proj.weight", "blk.%d.attn_v.weight", 0},
    {"model.transformer.blocks.%d.attn_out.weight", "blk.%d.attn_output.weight", 0},
    {"model.transformer.blocks.%d.ff_norm.weight", "blk.%d.ffn_norm.weight", 0},
    {"model.transformer.blocks.%d.ff_proj.weight", "blk.%d.ffn_gate.weight", 0},
    {"model.transformer.blocks.%d.up_proj.weight", "blk.%d.ffn_up.weight", 0},
    {"model.transformer.blocks.%d.ff_out.weight", "blk.%d.ffn_down.weight", 0},
    {NULL, NULL, 0},
};

/* HF Qwen2 / OLMoE names (Dream, LLaDA-MoE) <-> llama.cpp's (gguf-py constants / tensor_mapping). */
static const name_map_t QWEN_MAP[] = {
    {"model.embed_tokens.weight", "token_embd.weight", 0},
    {"model.norm.weight", "output_norm.weight", 0},
    {"lm_head.weight", "output.weight", 0},
    {"model.layers.%d.input_layernorm.weight", "blk.%d.attn_norm.weight", 0},
    {"model.layers.%d.self_attn.q_proj.weight", "blk.%d.attn_q.weight", 0},
    {"model.layers.%d.self_attn.q_proj.bias", "blk.%d.attn_q.bias", 0},
    {"model.layers.%d.self_attn.k_proj.weight", "blk.%d.attn_k.weight", 0},
    {"model.layers.%d.self_attn.k_proj.bias", "blk.%d.attn_k.bias", 0},
    {"model.layers.%d.self_attn.v_proj.weight", "blk.%d.attn_v.weight", 0},
    {"model.layers.%d.self_attn.v_proj.bias", "blk.%d.attn_v.bias", 0},
    {"model.layers.%d.self_attn.o_proj.weight", "blk.%d.attn_output.weight", 0},
    {"model.layers.%d.self_attn.o_proj.bias", "blk.%d.attn_output.bias", 0},
    {"model.layers.%d.self_attn.q_norm.weight", "blk.%d.attn_q_norm.weight", 0},
    {"model.layers.%d.self_attn.k_norm.weight", "blk.%d.attn_k_norm.weight", 0},
    {"model.layers.%d.post_attention_layernorm.weight", "blk.%d.ffn_norm.weight", 0},
    {"model.layers.%d.mlp.gate_proj.weight", "blk.%d.ffn_gate.weight", 0},
    {"model.layers.%d.mlp.up_proj.weight", "blk.%d.ffn_up.weight", 0},
    {"model.layers.%d.mlp.down_proj.weight", "blk.%d.ffn_down.weight", 0},
    {"model.layers.%d.mlp.gate.weight", "blk.%d.ffn_gate_inp.weight", 0},
    {"model.layers.%d.mlp.expert_bias", "blk.%d.exp_probs_b.bias", 0},
    {"model.layers.%d.mlp.experts.%d.gate_proj.weight", "blk.%d.ffn_gate_exps.weight", 1},
    {"model.layers.%d.mlp.experts.%d.up_proj.weight", "blk.%d.ffn_up_exps.weight", 1},
    {"model.layers.%d.mlp.experts.%d.down_proj.weight", "blk.%d.ffn_down_exps.weight", 1},
    {"model.layers.%d.shared_expert.gate_proj.weight", "blk.%d.ffn_gate_shexp.weight", 0},
    {"model.layers.%d.shared_expert.up_proj.weight", "blk.%d.ffn_up_shexp.weight", 0},
    {"model.layers.%d.shared_expert.down_proj.weight", "blk.%d.ffn_down_shexp.weight", 0},
    {NULL, NULL, 0},
};

/* LLaDA 2.x (BailingMoeV2 names) <-> llama.cpp PR #17454's (gguf-py constants MODEL_ARCH.LLADA2,
 * tensor_mapping's bailingmoe2 rows); q/k/v stay fused (attn_qkv), unpermuted. */
static const name_map_t LLADA2_MAP[] = {
    {"model.word_embeddings.weight", "token_embd.weight", 0},
    {"model.norm.weight", "output_norm.weight", 0},
    {"lm_head.weight", "output.weight", 0},
    {"model.layers.%d.input_layernorm.weight", "blk.%d.attn_norm.weight", 0},
    {"model.layers.%d.attention.query_key_value.weight", "blk.%d.attn_qkv.weight", 0},
    {"model.layers.%d.attention.query_key_value.bias", "blk.%d.attn_qkv.bias", 0},
    {"model.layers.%d.attention.query_layernorm.weight", "blk.%d.attn_q_norm.weight", 0},
    {"model.layers.%d.attention.key_layernorm.weight", "blk.%d.attn_k_norm.weight", 0},
    {"model.layers.%d.attention.dense.weight", "blk.%d.attn_output.weight", 0},
    {"model.layers.%d.attention.dense.bias", "blk.%d.attn_output.bias", 0},
    {"model.layers.%d.post_attention_layernorm.weight", "blk.%d.ffn_norm.weight", 0},
    {"model.layers.%d.mlp.gate_proj.weight", "blk.%d.ffn_gate.weight", 0},
    {"model.layers.%d.mlp.up_proj.weight", "blk.%d.ffn_up.weight", 0},
    {"model.layers.%d.mlp.down_proj.weight", "blk.%d.ffn_down.weight", 0},
    {"model.layers.%d.mlp.gate.weight", "blk.%d.ffn_gate_inp.weight", 0},
    {"model.layers.%d.mlp.gate.expert_bias", "blk.%d.exp_probs_b.bias", 0},
    {"model.layers.%d.mlp.experts.%d.gate_proj.weight", "blk.%d.ffn_gate_exps.weight", 1},
    {"model.layers.%d.mlp.experts.%d.up_proj.weight", "blk.%d.ffn_up_exps.weight", 1},
    {"model.layers.%d.mlp.experts.%d.down_proj.weight", "blk.%d.ffn_down_exps.weight", 1},
    {"model.layers.%d.mlp.shared_experts.gate_proj.weight", "blk.%d.ffn_gate_shexp.weight", 0},
    {"model.layers.%d.mlp.shared_experts.up_proj.weight", "blk.%d.ffn_up_shexp.weight", 0},
    {"model.layers.%d.mlp.shared_experts.down_proj.weight", "blk.%d.ffn_down_shexp.weight", 0},
    {NULL, NULL, 0},
};

typedef struct {
    const char *arch; /* general.architecture */
    const model_family_t *fam;
    const name_map_t *map;
    int permute_qk; /* Q/K rows in llama.cpp's interleaved-RoPE order */
    int read_only;  /* read, never written by --quantize (gguf_write.c has no metadata for it) */
} gguf_arch_t;

static const gguf_arch_t *arch_table(size_t *n) {
    static gguf_arch_t t[4];
    t[0] = (gguf_arch_t){"llada", &model_family_llada, LLADA_MAP, 1, 0};
    t[1] = (gguf_arch_t){"dream", &model_family_dream, QWEN_MAP, 0, 0};
    t[2] = (gguf_arch_t){"llada-moe", &model_family_llada_moe, QWEN_MAP, 0, 0};
    t[3] = (gguf_arch_t){"llada2", &model_family_llada2, LLADA2_MAP, 0, 1};
    *n = 4;
    return t;
}

static const gguf_arch_t *arch_of_family(const model_family_t *fam) {
    size_t n;
    const gguf_arch_t *t = arch_table(&n);
    for (size_t i = 0; i < n; i++)
        if (t[i].fam == fam) return &t[i];
    return NULL;
}

const char *gguf_arch_name(const model_family_t *fam) {
    const gguf_arch_t *a = arch_of_family(fam);
    return a && !a->read_only ? a->arch : NULL;
}

/* s against pattern p whose "%d"s each match a decimal number 0..99999 (no sign, no leading
 * zero); the numbers into v[] (at most 2). 1 on a full match. */
static int match(const char *p, const char *s, int *v) {
    int k = 0;
    while (*p) {
        if (p[0] == '%' && p[1] == 'd') {
            if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9') || k == 2) return 0;
            long x = 0;
            while (*s >= '0' && *s <= '9') {
                x = x * 10 + (*s++ - '0');
                if (x > 99999) return 0;
            }
            v[k++] = (int)x;
            p += 2;
        } else if (*p++ != *s++) return 0;
    }
    return *s == 0;
}

int gguf_name_of(const model_family_t *fam, const char *family_name, char *out, size_t n, int *expert) {
    const gguf_arch_t *a = arch_of_family(fam);
    if (!a) return -1;
    for (const name_map_t *m = a->map; m->fam; m++) {
        int v[2] = {0, 0};
        if (!match(m->fam, family_name, v)) continue;
        snprintf(out, n, m->gguf, v[0]);
        *expert = m->expert ? v[1] : -1;
        return 0;
    }
    return -1;
}

/* One tensor as the family sees it: a whole GGUF tensor, or one expert's slice of a merged one. */
typedef struct {
    char *name; /* the family's name (owned); the GGUF name when it maps to none */
    int64_t ti; /* GGUF tensor index */
    int expert; /* slice index, or -1 */
    int64_t shape[2];
} gview_t;

typedef struct {
    gguf_file_t *f;
    const gguf_arch_t *arch;
    int n_heads, n_kv_heads;
    gview_t *v;
    int nv;
    void **owned; /* un-permuted Q/K copies */
    int nowned;
} gsrc_t;

static int wtype_of(uint32_t g) {
    switch (g) {
    case GGML_F32: return WT_F32;
    case GGML_F16: return WT_F16;
    case GGML_BF16: return WT_BF16;
    case GGML_Q8_0: return WT_Q8_0;
    case GGML_Q4_0: return WT_Q4_0;
    case GGML_Q4_K: return WT_Q4_K;
    case GGML_Q5_K: return WT_Q5_K;
    case GGML_Q6_K: return WT_Q6_K;
    case GGML_Q5_0: return WT_Q5_0;
    case GGML_Q5_1: return WT_Q5_1;
    default: return -1;
    }
}

static void gsrc_close(void *ctx) {
    gsrc_t *s = ctx;
    if (!s) return;
    for (int i = 0; s->v && i < s->nv; i++) free(s->v[i].name);
    for (int i = 0; i < s->nowned; i++) free(s->owned[i]);
    free(s->v);
    free(s->owned);
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
    if (!row_bytes) return out; /* zero-width rows: nothing to move, and ne[1] may be 2^62 of them */
    for (int64_t h = 0; h < heads; h++)
        for (int64_t a = 0; a < 2; a++)
            for (int64_t i = 0; i < hd / 2; i++)
                memcpy(out + (size_t)(h * hd + a * hd / 2 + i) * row_bytes,
                       in + (size_t)(h * hd + 2 * i + a) * row_bytes, row_bytes);
    return out;
}

static int gsrc_find(void *ctx, const char *name, model_tview_t *out, lerr_t *e) {
    gsrc_t *s = ctx;
    for (int i = 0; i < s->nv; i++) {
        gview_t *v = &s->v[i];
        if (strcmp(v->name, name)) continue;
        const gguf_tensor_t *t = &s->f->t[v->ti];
        int wt = wtype_of(t->type);
        if (v->expert >= 0) { /* one expert of ne {cols, rows, E}: a contiguous slice */
            size_t per = t->nbytes / (size_t)t->ne[2];
            *out = (model_tview_t){
                t->name, ggml_type_name(t->type), wt, 2, v->shape, (const uint8_t *)t->data + per * (size_t)v->expert,
                per};
            return 1;
        }
        if (t->ndim > 2 || (t->ndim == 2 && t->ne[1] < 1))
            return lerr_set(e, EXIT_DATA, "%s: tensor \"%s\": %d dimensions (1 or 2 expected)", s->f->path, t->name,
                            t->ndim);
        const void *data = t->data;
        int q = strstr(t->name, ".attn_q.weight") != NULL, k = strstr(t->name, ".attn_k.weight") != NULL;
        if (s->arch->permute_qk && (q || k) && t->ndim == 2 && wt >= 0) {
            int heads = q ? s->n_heads : s->n_kv_heads;
            if (heads <= 0 || t->ne[1] % (2 * heads))
                return lerr_set(e, EXIT_DATA, "%s: tensor \"%s\": %lld rows do not split into %d heads of an even size",
                                s->f->path, t->name, (long long)t->ne[1], heads);
            void *c = s->nowned < 2 * 4096 ? unpermute(t, heads, wtype_bytes((wtype_t)wt, (size_t)t->ne[0])) : NULL;
            if (!c) return lerr_set(e, EXIT_INTERNAL, "out of memory");
            s->owned[s->nowned++] = c;
            data = c;
            if (s->f->mapped) /* the permuted original is not read again: drop its pages */
                model_drop_pages(s->f->map, s->f->size, t->data, t->nbytes);
        }
        *out = (model_tview_t){t->name, ggml_type_name(t->type), wt, t->ndim, v->shape, data, t->nbytes};
        return 1;
    }
    return 0;
}

static size_t gsrc_release(void *ctx, const void *p, size_t n) {
    gsrc_t *s = ctx;
    return s->f->mapped ? model_drop_pages(s->f->map, s->f->size, p, n) : 0;
}

static int gsrc_count(void *ctx) { return ((gsrc_t *)ctx)->nv; }
static const char *gsrc_name_at(void *ctx, int i) { return ((gsrc_t *)ctx)->v[i].name; }

static const gguf_arch_t *arch_of_file(const gguf_file_t *f) {
    gguf_str_t a;
    lerr_t e = {0};
    size_t n;
    const gguf_arch_t *t = arch_table(&n);
    if (gguf_get_str(f, "general.architecture", &a, &e) != 1) return NULL;
    for (size_t i = 0; i < n; i++)
        if (a.len == strlen(t[i].arch) && !memcmp(a.s, t[i].arch, a.len)) return &t[i];
    return NULL;
}

int gguf_source_open(model_source_t *src, gguf_file_t *f, const llada_config_t *c, lerr_t *e) {
    *src = (model_source_t){0};
    gsrc_t *s = calloc(1, sizeof *s);
    if (!s) {
        gguf_close(&f);
        return lerr_set(e, EXIT_INTERNAL, "out of memory");
    }
    s->f = f;
    s->n_heads = c->n_heads;
    s->n_kv_heads = c->n_kv_heads;
    if (!(s->arch = arch_of_file(f))) {
        gsrc_close(s);
        return lerr_set(e, EXIT_DATA, "%s: unsupported architecture", f->path);
    }
    int64_t nv = 0;
    for (int64_t i = 0; i < f->nt; i++)
        nv += f->t[i].ndim == 3 && f->t[i].ne[2] >= 1 && f->t[i].ne[2] <= MODEL_MAX_EXPERTS ? f->t[i].ne[2] : 1;
    if (nv > (1 << 24)) {
        gsrc_close(s);
        return lerr_set(e, EXIT_DATA, "%s: too many tensors", f->path);
    }
    s->v = calloc((size_t)nv + 1, sizeof *s->v);
    s->owned = calloc(2 * 4096, sizeof *s->owned);
    if (!s->v || !s->owned) goto oom;
    for (int64_t i = 0; i < f->nt; i++) {
        const gguf_tensor_t *t = &f->t[i];
        const name_map_t *hit = NULL;
        int v[2] = {0, 0};
        for (const name_map_t *m = s->arch->map; m->fam && !hit; m++)
            if (match(m->gguf, t->name, v)) hit = m;
        if (hit && hit->expert && t->ndim == 3 && t->ne[2] >= 1 && t->ne[2] <= MODEL_MAX_EXPERTS && t->ne[1] >= 1) {
            for (int x = 0; x < (int)t->ne[2]; x++) {
                char buf[160];
                snprintf(buf, sizeof buf, hit->fam, v[0], x);
                gview_t *g = &s->v[s->nv];
                if (!(g->name = strdup(buf))) goto oom;
                *g = (gview_t){g->name, i, x, {t->ne[1], t->ne[0]}};
                s->nv++;
            }
            continue;
        }
        char buf[160];
        if (hit && !hit->expert) snprintf(buf, sizeof buf, hit->fam, v[0]);
        gview_t *g = &s->v[s->nv];
        if (!(g->name = strdup(hit && !hit->expert ? buf : t->name))) goto oom;
        /* a merged expert tensor that is not 3-D keeps its GGUF name: "unexpected tensor" */
        *g = (gview_t){g->name, i, -1, {t->ndim == 2 ? t->ne[1] : t->ne[0], t->ne[0]}};
        s->nv++;
    }
    *src = (model_source_t){s, gsrc_find, gsrc_count, gsrc_name_at, gsrc_close, gsrc_release};
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
    if (v < lo || v > (1 << 30))
        return lerr_set(e, EXIT_DATA, "%s: key \"%s\": %lld out of range", f->path, k, (long long)v);
    *out = (int)v;
    return 1;
}

static int get_id(const gguf_file_t *f, const char *key, int32_t *out, lerr_t *e) {
    int64_t v;
    int r = gguf_get_int(f, key, &v, e);
    if (r < 0) return -1;
    if (r && (v < 0 || v > INT32_MAX))
        return lerr_set(e, EXIT_DATA, "%s: key \"%s\": %lld is not a token id", f->path, key, (long long)v);
    if (r) *out = (int32_t)v;
    return 0;
}

/* Checks every architecture shares: causal attention off, diffusion.shift_logits as the family
 * needs it (`shift`; absent is fine), no RoPE scaling. */
static int diffusion_checks(const gguf_file_t *f, const char *arch, int shift, lerr_t *e) {
    char k[128];
    int64_t v = 0;
    snprintf(k, sizeof k, "%s.attention.causal", arch);
    if (gguf_get_int(f, k, &v, e) < 0) return -1;
    if (v) return lerr_set(e, EXIT_DATA, "%s: %s is true (diffusion models attend bidirectionally)", f->path, k);
    int r = gguf_get_int(f, "diffusion.shift_logits", &v, e);
    if (r < 0) return -1;
    if (r && !!v != shift)
        return lerr_set(e, EXIT_DATA, "%s: diffusion.shift_logits is %s (%s models %s their logits)", f->path,
                        v ? "true" : "false", arch, shift ? "shift" : "do not shift");
    gguf_str_t st;
    snprintf(k, sizeof k, "%s.rope.scaling.type", arch);
    if ((r = gguf_get_str(f, k, &st, e)) < 0) return -1;
    if (r && !(st.len == 4 && !memcmp(st.s, "none", 4)))
        return lerr_set(e, EXIT_DATA, "%s: key \"%s\": RoPE scaling is not supported", f->path, k);
    return 0;
}

/* diffusion_checks, and head size = key_length = value_length = rope dims = d / heads. */
static int common_checks(const gguf_file_t *f, const char *arch, int shift, int d, int heads, lerr_t *e) {
    if (diffusion_checks(f, arch, shift, e)) return -1;
    if (d % heads) return lerr_set(e, EXIT_DATA, "%s: %d heads do not divide embedding_length %d", f->path, heads, d);
    const char *dims[] = {"rope.dimension_count", "attention.key_length", "attention.value_length"};
    for (int i = 0; i < 3; i++) {
        int x = d / heads;
        if (get_i(f, arch, dims[i], 1, &x, 0, e) < 0) return -1;
        if (x != d / heads)
            return lerr_set(e, EXIT_DATA,
                            "%s: key \"%s.%s\" %d: only a head size of embedding_length / head_count (%d) is supported",
                            f->path, arch, dims[i], x, d / heads);
    }
    return 0;
}

static int llada_config(const gguf_file_t *f, llada_config_t *c, lerr_t *e) {
    const char *arch = "llada";
    llada_config_default(c);
    if (get_i(f, arch, "embedding_length", 1, &c->d_model, 1, e) < 0 ||
        get_i(f, arch, "block_count", 1, &c->n_layers, 1, e) < 0 ||
        get_i(f, arch, "attention.head_count", 1, &c->n_heads, 1, e) < 0)
        return -1;
    c->n_kv_heads = c->n_heads;
    if (get_i(f, arch, "attention.head_count_kv", 1, &c->n_kv_heads, 0, e) < 0 ||
        get_i(f, arch, "feed_forward_length", 1, &c->mlp_hidden_size, 1, e) < 0 ||
        get_i(f, arch, "context_length", 1, &c->max_sequence_length, 0, e) < 0)
        return -1;
    if (c->d_model % c->n_heads || c->n_heads % c->n_kv_heads)
        return lerr_set(e, EXIT_DATA, "%s: %d heads (%d key/value heads) do not divide embedding_length %d", f->path,
                        c->n_heads, c->n_kv_heads, c->d_model);
    c->head_dim = c->d_model / c->n_heads;
    if (common_checks(f, arch, 0, c->d_model, c->n_heads, e)) return -1;
    char k[128];
    snprintf(k, sizeof k, "%s.rope.freq_base", arch);
    if (gguf_get_num(f, k, &c->rope_theta, e) < 0) return -1;
    snprintf(k, sizeof k, "%s.attention.layer_norm_rms_epsilon", arch);
    if (gguf_get_num(f, k, &c->rms_norm_eps, e) < 0) return -1;
    if (!(c->rope_theta > 0) || !(c->rms_norm_eps > 0))
        return lerr_set(e, EXIT_DATA, "%s: rope.freq_base and layer_norm_rms_epsilon must be > 0", f->path);
    /* vocabulary: the embedding's rows; the tokenizer's size when it lists its tokens */
    const gguf_tensor_t *emb = gguf_find_tensor(f, "token_embd.weight");
    c->embedding_size = (int)emb->ne[1];
    const gguf_kv_t *toks = gguf_find_kv(f, "tokenizer.ggml.tokens");
    c->vocab_size = toks && toks->type == GGUF_ARRAY && toks->arr_n <= (uint64_t)c->embedding_size ? (int)toks->arr_n
                                                                                                   : c->embedding_size;
    if (get_i(f, arch, "vocab_size", 1, &c->vocab_size, 0, e) < 0) return -1;
    if (c->vocab_size > c->embedding_size) c->vocab_size = c->embedding_size;
    c->weight_tying = gguf_find_tensor(f, "output.weight") == NULL;
    if (get_id(f, "tokenizer.ggml.mask_token_id", &c->mask_token_id, e) ||
        get_id(f, "tokenizer.ggml.eos_token_id", &c->eos_token_id, e) ||
        get_id(f, "tokenizer.ggml.bos_token_id", &c->bos_token_id, e) ||
        get_id(f, "tokenizer.ggml.padding_token_id", &c->pad_token_id, e) ||
        get_id(f, "tokenizer.ggml.eot_token_id", &c->eot_token_id, e))
        return -1;
    if (c->mask_token_id >= c->embedding_size)
        return lerr_set(e, EXIT_DATA, "%s: mask token id %d outside the embedding (%d rows)", f->path, c->mask_token_id,
                        c->embedding_size);
    return 0;
}

/* "<arch>.<key>" (integer) into the JSON object as `jk` when present; required ones must be. */
static int json_int_key(json_t *o, const gguf_file_t *f, const char *arch, const char *key, const char *jk,
                        int required, lerr_t *e) {
    int v, r = get_i(f, arch, key, 1, &v, required, e);
    if (r > 0) json_object_set_new(o, jk, json_integer(v));
    return r < 0 ? -1 : 0;
}

static int json_num_key(json_t *o, const gguf_file_t *f, const char *arch, const char *key, const char *jk, lerr_t *e) {
    char k[128];
    double v;
    snprintf(k, sizeof k, "%s.%s", arch, key);
    int r = gguf_get_num(f, k, &v, e);
    if (r > 0) json_object_set_new(o, jk, json_real(v));
    return r < 0 ? -1 : 0;
}

static int json_id_key(json_t *o, const gguf_file_t *f, const char *key, const char *jk, lerr_t *e) {
    int32_t v = -1;
    if (get_id(f, key, &v, e)) return -1;
    if (v >= 0) json_object_set_new(o, jk, json_integer(v));
    return 0;
}

static int has_tensor(const gguf_file_t *f, const char *fmt, int layer) {
    char b[96];
    snprintf(b, sizeof b, fmt, layer);
    return gguf_find_tensor(f, b) != NULL;
}

/* The config.json o, parsed by the family (so its checks apply); errors name the file. */
static int parse_as_config(json_t *o, const gguf_file_t *f, const model_family_t *fam, llada_config_t *c, lerr_t *e) {
    char *txt = json_dumps(o, JSON_REAL_PRECISION(17));
    if (!txt) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    int rc = fam->config_parse(c, txt, strlen(txt), e);
    free(txt);
    if (rc && e) lerr_wrap(e, "%s: metadata (as %s's config.json)", f->path, fam->display);
    return rc;
}

/* Dream and LLaDA-MoE: metadata and the tensors present -> the config.json their family reads. */
static int qwen_config(const gguf_file_t *f, const gguf_arch_t *a, llada_config_t *c, lerr_t *e) {
    const char *arch = a->arch;
    int moe = a->fam == &model_family_llada_moe;
    json_t *o = json_object();
    int rc = -1, d = 0, heads = 0, layers = 0;
    if (!o) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    if (get_i(f, arch, "embedding_length", 1, &d, 1, e) < 0 ||
        get_i(f, arch, "attention.head_count", 1, &heads, 1, e) < 0 ||
        get_i(f, arch, "block_count", 1, &layers, 1, e) < 0 || common_checks(f, arch, !moe, d, heads, e))
        goto out;
    json_object_set_new(o, "model_type", json_string(moe ? "lladamoe" : "dream"));
    json_object_set_new(o, "hidden_size", json_integer(d));
    json_object_set_new(o, "num_attention_heads", json_integer(heads));
    json_object_set_new(o, "num_hidden_layers", json_integer(layers));
    const gguf_tensor_t *emb = gguf_find_tensor(f, "token_embd.weight");
    json_object_set_new(o, "vocab_size", json_integer(emb->ne[1]));
    json_object_set_new(o, "tie_word_embeddings", json_boolean(gguf_find_tensor(f, "output.weight") == NULL));
    json_object_set_new(o, "attention_bias", json_boolean(has_tensor(f, "blk.%d.attn_q.bias", 0)));
    if (json_int_key(o, f, arch, "attention.head_count_kv", "num_key_value_heads", 0, e) ||
        json_int_key(o, f, arch, "context_length", "max_position_embeddings", 0, e) ||
        json_num_key(o, f, arch, "rope.freq_base", "rope_theta", e) ||
        json_num_key(o, f, arch, "attention.layer_norm_rms_epsilon", "rms_norm_eps", e) ||
        json_id_key(o, f, "tokenizer.ggml.mask_token_id", "mask_token_id", e) ||
        json_id_key(o, f, "tokenizer.ggml.eos_token_id", "eos_token_id", e) ||
        json_id_key(o, f, "tokenizer.ggml.padding_token_id", "pad_token_id", e) ||
        json_id_key(o, f, "tokenizer.ggml.bos_token_id", "bos_token_id", e))
        goto out;
    if (!moe) {
        if (json_int_key(o, f, arch, "feed_forward_length", "intermediate_size", 1, e)) goto out;
    } else {
        if (layers > MODEL_MAX_MOE_LAYERS) {
            lerr_set(e, EXIT_DATA, "%s: %d layers; MoE models may have at most %d", f->path, layers,
                     MODEL_MAX_MOE_LAYERS);
            goto out;
        }
        if (json_int_key(o, f, arch, "expert_count", "num_experts", 1, e) ||
            json_int_key(o, f, arch, "expert_used_count", "num_experts_per_tok", 1, e) ||
            json_int_key(o, f, arch, "feed_forward_length", "dense_intermediate_size", 0, e) ||
            json_int_key(o, f, arch, "expert_feed_forward_length", "expert_intermediate_size", 0, e) ||
            json_int_key(o, f, arch, "expert_shared_feed_forward_length", "shared_expert_intermediate_size", 0, e) ||
            json_num_key(o, f, arch, "attention.clamp_kqv", "clip_qkv", e))
            goto out;
        /* what llama.cpp's graph fixes (softmax router, no renormalisation, no scaling) */
        char k[128];
        int64_t v;
        double w;
        int r;
        snprintf(k, sizeof k, "%s.expert_gating_func", arch);
        if ((r = gguf_get_int(f, k, &v, e)) < 0) goto out;
        if (r && v != 1) {
            lerr_set(e, EXIT_DATA, "%s: key \"%s\" %lld: only softmax (1) is supported", f->path, k, (long long)v);
            goto out;
        }
        snprintf(k, sizeof k, "%s.expert_weights_norm", arch);
        if ((r = gguf_get_int(f, k, &v, e)) < 0) goto out;
        if (r && v) {
            lerr_set(e, EXIT_DATA, "%s: key \"%s\" is true: renormalised top-k weights are not supported", f->path, k);
            goto out;
        }
        snprintf(k, sizeof k, "%s.expert_weights_scale", arch);
        if ((r = gguf_get_num(f, k, &w, e)) < 0) goto out;
        if (r && w != 1 && w != 0) {
            lerr_set(e, EXIT_DATA, "%s: key \"%s\" %g: scaled expert weights are not supported", f->path, k, w);
            goto out;
        }
        json_t *freq = json_array();
        int first_moe = -1, ebias = 0;
        for (int l = 0; l < layers; l++) {
            int m = has_tensor(f, "blk.%d.ffn_gate_inp.weight", l);
            json_array_append_new(freq, json_integer(m));
            if (m && first_moe < 0) first_moe = l;
            ebias |= has_tensor(f, "blk.%d.exp_probs_b.bias", l);
        }
        json_object_set_new(o, "moe_layer_freq", freq);
        json_object_set_new(o, "qk_layernorm", json_boolean(has_tensor(f, "blk.%d.attn_q_norm.weight", 0)));
        json_object_set_new(o, "moe_router_enable_expert_bias", json_boolean(ebias));
        char b[96];
        const gguf_tensor_t *t;
        if (first_moe >= 0 && !json_object_get(o, "expert_intermediate_size")) {
            snprintf(b, sizeof b, "blk.%d.ffn_gate_exps.weight", first_moe);
            if ((t = gguf_find_tensor(f, b)) && t->ndim == 3)
                json_object_set_new(o, "expert_intermediate_size", json_integer(t->ne[1]));
        }
        if (first_moe >= 0 && !json_object_get(o, "shared_expert_intermediate_size")) {
            snprintf(b, sizeof b, "blk.%d.ffn_gate_shexp.weight", first_moe);
            if ((t = gguf_find_tensor(f, b)) && t->ndim == 2)
                json_object_set_new(o, "shared_expert_intermediate_size", json_integer(t->ne[1]));
        }
    }
    rc = parse_as_config(o, f, a->fam, c, e);
out:
    json_decref(o);
    return rc;
}

/* ---- LLaDA 2.x: "llada2" as the converter of llama.cpp PR #17454 writes it ----
 * (wsbagnsv1/llama.cpp, LLaDA2MoeModel over BailingMoeV2Model): TextModel's keys, the
 * BailingMoeV2 expert keys, diffusion.shift_logits false; no key for the attention block (32,
 * the family's default, stays). What llama.cpp's loader requires is required here. */

/* "llada2.<key>" (integer >= lo) into o as jk; absent: an error when required, else dflt is
 * stored unless negative. The value in *v. */
static int l2_int(json_t *o, const gguf_file_t *f, const char *key, const char *jk, int lo, int required, int dflt,
                  int *v, lerr_t *e) {
    int x = dflt, r = get_i(f, "llada2", key, lo, &x, required, e);
    if (r < 0) return -1;
    if (r || dflt >= 0) json_object_set_new(o, jk, json_integer(x));
    if (v) *v = x;
    return 0;
}

/* Head size (attention.key_length, else d / heads; value_length equal) and rotary width
 * (rope.dimension_count = int(head_dim * partial_rotary_factor); absent: the whole head, as
 * llama.cpp reads it) -> head_dim and partial_rotary_factor. */
static int l2_head(json_t *o, const gguf_file_t *f, int d, int heads, lerr_t *e) {
    int hd = d % heads ? 0 : d / heads, vd, rd;
    if (get_i(f, "llada2", "attention.key_length", 2, &hd, !hd, e) < 0) return -1;
    vd = rd = hd;
    if (get_i(f, "llada2", "attention.value_length", 1, &vd, 0, e) < 0 ||
        get_i(f, "llada2", "rope.dimension_count", 1, &rd, 0, e) < 0)
        return -1;
    if (vd != hd)
        return lerr_set(e, EXIT_DATA, "%s: key \"llada2.attention.value_length\" %d: only the key_length (%d) is supported",
                        f->path, vd, hd);
    if (rd % 2 || rd < 2 || rd > hd)
        return lerr_set(e, EXIT_DATA, "%s: key \"llada2.rope.dimension_count\" %d: must be even, 2..%d (the head size)",
                        f->path, rd, hd);
    json_object_set_new(o, "head_dim", json_integer(hd));
    /* half a channel up, so the family's int(head_dim * factor) gives rd back exactly */
    json_object_set_new(o, "partial_rotary_factor", json_real(rd == hd ? 1.0 : (rd + 0.5) / hd));
    return 0;
}

/* What the graph does not compute: a softmax router, top-k weights not renormalised (k > 1),
 * multi-token-prediction layers, a shared expert of another width than Fe x S. */
static int l2_refuse(const gguf_file_t *f, int k, int Fe, int S, lerr_t *e) {
    int g = 0, nx = 0, sh = -1, r;
    long long want = (long long)Fe * S;
    int64_t v = 0;
    if (get_i(f, "llada2", "expert_gating_func", 0, &g, 1, e) < 0) return -1;
    if (g != 2)
        return lerr_set(e, EXIT_DATA, "%s: key \"llada2.expert_gating_func\" %d: only sigmoid (2) is supported", f->path,
                        g);
    if ((r = gguf_get_int(f, "llada2.expert_weights_norm", &v, e)) < 0) return -1;
    if (k > 1 && !v)
        return lerr_set(e, EXIT_DATA,
                        "%s: key \"llada2.expert_weights_norm\" %s: LLaDA2's router renormalises its top-k weights",
                        f->path, r ? "is false" : "is missing");
    if (get_i(f, "llada2", "nextn_predict_layers", 0, &nx, 0, e) < 0) return -1;
    if (nx)
        return lerr_set(e, EXIT_DATA, "%s: key \"llada2.nextn_predict_layers\" %d: MTP layers are not supported",
                        f->path, nx);
    if (get_i(f, "llada2", "expert_shared_feed_forward_length", 0, &sh, 0, e) < 0) return -1;
    if (sh >= 0 && sh != want)
        return lerr_set(e, EXIT_DATA,
                        "%s: key \"llada2.expert_shared_feed_forward_length\" %d: only expert_feed_forward_length x "
                        "expert_shared_count (%lld) is supported",
                        f->path, sh, want);
    return 0;
}

/* Every MoE layer's router and stacked experts hold expert_count experts. */
static int l2_expert_counts(const gguf_file_t *f, int lead, int layers, int E, lerr_t *e) {
    static const char *const names[] = {"ffn_gate_inp", "ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"};
    for (int l = lead; l < layers; l++)
        for (int i = 0; i < 4; i++) {
            char b[96];
            snprintf(b, sizeof b, "blk.%d.%s.weight", l, names[i]);
            const gguf_tensor_t *t = gguf_find_tensor(f, b);
            int64_t n = !t ? E : i == 0 ? (t->ndim == 2 ? t->ne[1] : -1) : (t->ndim == 3 ? t->ne[2] : -1);
            if (n != E)
                return lerr_set(e, EXIT_DATA, "%s: tensor \"%s\": %lld experts, key \"llada2.expert_count\" says %d",
                                f->path, b, (long long)n, E);
        }
    return 0;
}

/* The MoE keys -> num_experts, num_experts_per_tok, moe_intermediate_size, num_shared_experts,
 * first_k_dense_replace, n_group / topk_group (absent: one group), routed_scaling_factor,
 * score_function; feed_forward_length (intermediate_size) when there are dense layers. */
static int l2_moe(json_t *o, const gguf_file_t *f, int layers, lerr_t *e) {
    int E, k, Fe, S, lead, G;
    double w;
    if (l2_int(o, f, "expert_count", "num_experts", 1, 1, -1, &E, e) ||
        l2_int(o, f, "expert_used_count", "num_experts_per_tok", 1, 1, -1, &k, e) ||
        l2_int(o, f, "expert_feed_forward_length", "moe_intermediate_size", 1, 1, -1, &Fe, e) ||
        l2_int(o, f, "expert_shared_count", "num_shared_experts", 0, 1, -1, &S, e) ||
        l2_int(o, f, "leading_dense_block_count", "first_k_dense_replace", 0, 1, -1, &lead, e) ||
        l2_int(o, f, "expert_group_count", "n_group", 1, 0, 1, &G, e) ||
        l2_int(o, f, "expert_group_used_count", "topk_group", 1, G > 1, 1, NULL, e) ||
        l2_int(o, f, "feed_forward_length", "intermediate_size", 1, lead > 0, -1, NULL, e))
        return -1;
    if (layers > MODEL_MAX_MOE_LAYERS)
        return lerr_set(e, EXIT_DATA, "%s: key \"llada2.block_count\" %d: MoE models may have at most %d layers",
                        f->path, layers, MODEL_MAX_MOE_LAYERS);
    if (lead > layers)
        return lerr_set(e, EXIT_DATA, "%s: key \"llada2.leading_dense_block_count\" %d exceeds block_count %d", f->path,
                        lead, layers);
    int r = gguf_get_num(f, "llada2.expert_weights_scale", &w, e);
    if (r < 0) return -1;
    if (!r) return lerr_set(e, EXIT_DATA, "%s: missing key \"llada2.expert_weights_scale\"", f->path);
    json_object_set_new(o, "routed_scaling_factor", json_real(w));
    json_object_set_new(o, "score_function", json_string("sigmoid"));
    return l2_refuse(f, k, Fe, S, e) || l2_expert_counts(f, lead, layers, E, e) ? -1 : 0;
}

/* Special ids: tokenizer.ggml.*; without mask / EOS ids only the Ling vocabulary (157,184
 * rows) has defaults (the family's 156895 / 156892). */
static int l2_ids(json_t *o, const gguf_file_t *f, int64_t rows, lerr_t *e) {
    static const char *const need[] = {"tokenizer.ggml.mask_token_id", "tokenizer.ggml.eos_token_id"};
    for (int i = 0; i < 2 && rows != 157184; i++)
        if (!gguf_find_kv(f, need[i]))
            return lerr_set(e, EXIT_DATA,
                            "%s: missing key \"%s\" (LLaDA2's default applies only to the 157184-token Ling vocabulary)",
                            f->path, need[i]);
    return json_id_key(o, f, "tokenizer.ggml.mask_token_id", "mask_token_id", e) ||
                   json_id_key(o, f, "tokenizer.ggml.eos_token_id", "eos_token_id", e) ||
                   json_id_key(o, f, "tokenizer.ggml.padding_token_id", "pad_token_id", e) ||
                   json_id_key(o, f, "tokenizer.ggml.bos_token_id", "bos_token_id", e)
               ? -1
               : 0;
}

/* LLaDA 2.x: metadata and the tensors present (tied head, q/k/v and dense biases, QK-norm:
 * this engine's readings of a checkpoint the converter would pass through) -> LLaDA2's
 * config.json. */
static int llada2_config(const gguf_file_t *f, llada_config_t *c, lerr_t *e) {
    json_t *o = json_object();
    int rc = -1, d = 0, heads = 0, layers = 0;
    if (!o) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    if (get_i(f, "llada2", "embedding_length", 1, &d, 1, e) < 0 ||
        get_i(f, "llada2", "attention.head_count", 1, &heads, 1, e) < 0 ||
        get_i(f, "llada2", "block_count", 1, &layers, 1, e) < 0 || diffusion_checks(f, "llada2", 0, e) ||
        l2_head(o, f, d, heads, e))
        goto out;
    const gguf_tensor_t *emb = gguf_find_tensor(f, "token_embd.weight");
    json_object_set_new(o, "model_type", json_string("llada2_moe"));
    json_object_set_new(o, "hidden_size", json_integer(d));
    json_object_set_new(o, "num_attention_heads", json_integer(heads));
    json_object_set_new(o, "num_hidden_layers", json_integer(layers));
    json_object_set_new(o, "vocab_size", json_integer(emb->ne[1]));
    json_object_set_new(o, "tie_word_embeddings", json_boolean(gguf_find_tensor(f, "output.weight") == NULL));
    json_object_set_new(o, "use_qkv_bias", json_boolean(has_tensor(f, "blk.%d.attn_qkv.bias", 0)));
    json_object_set_new(o, "use_bias", json_boolean(has_tensor(f, "blk.%d.attn_output.bias", 0)));
    json_object_set_new(o, "use_qk_norm", json_boolean(has_tensor(f, "blk.%d.attn_q_norm.weight", 0)));
    if (json_int_key(o, f, "llada2", "attention.head_count_kv", "num_key_value_heads", 0, e) ||
        json_int_key(o, f, "llada2", "context_length", "max_position_embeddings", 0, e) ||
        json_num_key(o, f, "llada2", "rope.freq_base", "rope_theta", e) ||
        json_num_key(o, f, "llada2", "attention.layer_norm_rms_epsilon", "rms_norm_eps", e) ||
        l2_moe(o, f, layers, e) || l2_ids(o, f, emb->ne[1], e))
        goto out;
    rc = parse_as_config(o, f, &model_family_llada2, c, e);
out:
    json_decref(o);
    return rc;
}

int gguf_model_config(const gguf_file_t *f, llada_config_t *c, const model_family_t **fam, lerr_t *e) {
    gguf_str_t a;
    int r = gguf_get_str(f, "general.architecture", &a, e);
    if (r < 0) return -1;
    if (r == 0) return lerr_set(e, EXIT_DATA, "%s: no general.architecture", f->path);
    const gguf_arch_t *ga = arch_of_file(f);
    if (!ga) {
        char arch[64];
        size_t n = a.len < 48 ? (size_t)a.len : 48;
        for (size_t i = 0; i < n; i++) arch[i] = a.s[i] >= 0x20 && a.s[i] < 0x7f ? a.s[i] : '?';
        arch[n] = 0;
        return lerr_set(e, EXIT_DATA, "%s: architecture \"%s\" is not supported (supported: llada, dream, llada-moe, llada2)",
                        f->path, arch);
    }
    *fam = ga->fam;
    const gguf_tensor_t *emb = gguf_find_tensor(f, "token_embd.weight");
    if (!emb || emb->ndim != 2 || emb->ne[1] > (1 << 30))
        return lerr_set(e, EXIT_DATA, "%s: no 2-D token_embd.weight", f->path);
    if (ga->fam == &model_family_llada) return llada_config(f, c, e);
    return ga->fam == &model_family_llada2 ? llada2_config(f, c, e) : qwen_config(f, ga, c, e);
}
