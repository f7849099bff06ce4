/* family.h — model families: one table of operations per architecture the engine runs.
 *
 * Internal to model/ and to code that needs one family's layout (train's LLaDA parameter
 * layout, the CUDA backend); the sampler sees a model only through model.h (forward,
 * head, the config's ids and sizes) and never includes this file (tests/e2e/layout.sh).
 *
 * A family says
 *   - how its checkpoints are recognised: config.json "model_type", else "architectures";
 *   - how its config.json is read and written (into the shared transformer config,
 *     llada_config_t; a family adds optional fields there when it needs them);
 *   - which tensors a config implies, under which names and shapes, and where each binds
 *     in the shared transformer weights (llada_weights_t; optional tensors stay {0});
 *   - which forward graph runs it: hidden states, then the LM head on chosen rows.
 * Where the tensors come from is not the family's business: a model_source_t (source.h)
 * presents named tensors (safetensors folders today; GGUF files, issue 13, next) and
 * load.c binds the family's list against it, family-agnostically.
 *
 * Families: LLaDA (llada.c), Dream / Qwen2 (dream.c: q/k/v biases, logits shifted by one
 * position, the timestep schedule), LLaDA-MoE (llada_moe.c: MoE FFN of moe.c, QK-norm), SDAR
 * (sdar.c: Qwen3, block-causal attention of blockattn.c, block cache of blockcache.c), LLaDA2
 * (llada2.c: BailingMoeV2 — fused q/k/v, partial RoPE, sigmoid group-limited MoE routing —
 * and block diffusion as SDAR). Dense variants reuse the dense graph
 * (forward.c) with optional tensors / flags; MoE ones bring their FFN.
 */
#ifndef LLADA_MODEL_FAMILY_H
#define LLADA_MODEL_FAMILY_H

#include <jansson.h>
#include <stddef.h>
#include "model/model.h"

#define ARRAY_LEN(a) ((int)(sizeof(a) / sizeof *(a)))

/* One tensor a config implies: its name in the checkpoint, shape, and where it binds. */
typedef struct {
    char name[96];
    int ndim;         /* 1 or 2 */
    int64_t shape[2]; /* 2-D: [rows, cols]; 1-D: [n, unused] */
    wtensor_t *dst;
} model_tensor_spec_t;

struct model_family {
    const char *name;                 /* registry name, e.g. "llada" */
    const char *display;              /* in messages, e.g. "LLaDA" */
    const char *const *model_types;   /* config.json "model_type" values it accepts (NULL-ended) */
    const char *const *architectures; /* config.json "architectures" entries it accepts */

    /* The attention block (cfg.attn_block) is generate()'s block_length argument rather than a
     * config.json key (LLaDA 2.x): a folder's generation_config.json "block_length" sets it
     * (model_load; 1..max_position_embeddings, else EXIT_DATA), else the family default. */
    bool block_from_gencfg;

    /* config.json text -> config (defaults first). A key asking for something this family's
     * graph does not implement is an error naming the key (EXIT_DATA). */
    int (*config_parse)(llada_config_t *c, const char *json, size_t len, lerr_t *e);
    /* config -> config.json text (malloc'd, NUL-terminated; NULL on OOM). */
    char *(*config_to_json)(const llada_config_t *c);

    /* Upper bound of the number of tensors a config implies (room for tensor_specs). */
    int (*max_tensors)(const llada_config_t *c);
    /* The tensors a config implies, in file order, bound to fields of w (w->layers has
     * c->n_layers entries). Returns their count. When c->weight_tying, the LM head is not
     * listed and the loader sets w->lm_head = w->wte. */
    int (*tensor_specs)(const llada_config_t *c, llada_weights_t *w, model_tensor_spec_t *s);

    /* The forward graph (model.h documents the contract of both). */
    int (*forward_hidden)(const model_t *m, fwd_scratch_t *s, const int32_t *tokens, const uint8_t *keep, int B, int L,
                          float *hidden, lerr_t *e);
    void (*head)(const model_t *m, const float *hidden, int n, float *logits);
    /* The graph with a KV cache on rows [r0, r1) (model.h: model_forward_cached); NULL when
     * the family has none (denoise --cache is then refused). */
    int (*forward_cached)(const model_t *m, fwd_scratch_t *s, fwd_cache_t *kv, const int32_t *tokens,
                          const uint8_t *keep, int B, int L, int r0, int r1, float *hidden, lerr_t *e);
};

/* Prepacked GEMM weights of a precision mode (model_set_precision, precision.c): one pack per
 * linear weight of each layer (MoE layers: each expert's three and the shared expert's; the
 * router stays as stored) and the LM head; forward.c's linear(), blockcache.c and moe.c use
 * them when present. */
typedef struct {
    kpack_t *q_proj, *k_proj, *v_proj, *attn_out, *ff_proj, *up_proj, *ff_out;
    kpack_t **exp_gate, **exp_up, **exp_down; /* [n_experts] in MoE layers, else NULL */
    kpack_t *sh_gate, *sh_up, *sh_down;
} model_layer_packs_t;
typedef struct model_packs {
    int prec;                    /* MODEL_PREC_BF16 / MODEL_PREC_INT8 */
    model_layer_packs_t *layers; /* [n_layers] */
    kpack_t *lm_head;
    size_t bytes;    /* the packs' bytes */
    size_t released; /* mapped weight bytes dropped after packing (model_release_weight) */
} model_packs_t;
void model_packs_free(model_t *m);
/* Drop this process's pages of weight W when they are pages of the model's read-only file
 * mapping (source.h: release), so a packed matrix is not held twice; returns the bytes
 * dropped (0 for owned buffers: model_new's weights, realigned or un-permuted copies). W stays
 * valid: a later read faults its pages in again from the file. load.c. */
size_t model_release_weight(model_t *m, const wtensor_t *W);

/* ---- helpers for a family's file (family_bind.c; config parsing: config.h) ----
 *
 * A family's tensor_specs is its names plus a table of per-layer tensors:
 *
 *     family_layer_tensor_t t[] = {
 *         FAMILY_LT("input_layernorm.weight", 1, d, 1, attn_norm, true),
 *         FAMILY_LT("self_attn.q_proj.bias", 1, qd, 1, q_bias, c->qkv_bias), ...};
 *     static const family_names_t nm = {"model.embed_tokens.weight", "model.layers.%d.%s",
 *                                       "model.norm.weight", "lm_head.weight"};
 *     return family_bind(c, w, s, &nm, t, ARRAY_LEN(t), NULL);
 *
 * Layers whose tensors vary (MoE experts, dense layers between MoE ones) pass an `extra`
 * callback that appends them after the table's tensors with family_add. */

/* Append s[*n] = {name printf(fmt, ...), ndim, shape {rows, cols}, dst}, then ++*n (the
 * caller sized s with max_tensors). */
void family_add(model_tensor_spec_t *s, int *n, wtensor_t *dst, int ndim, int64_t rows, int64_t cols, const char *fmt,
                ...) __attribute__((format(printf, 7, 8)));

/* One per-layer tensor: its name within the layer, ndim and shape, the llada_layer_t field it
 * binds (offsetof), and whether this config has it. */
typedef struct {
    const char *name;
    int ndim;
    int64_t rows, cols;
    size_t field;
    bool on;
} family_layer_tensor_t;
#define FAMILY_LT(nm, nd, r, cl, fld, on) \
    { (nm), (nd), (r), (cl), offsetof(llada_layer_t, fld), (on) }

/* The tensor names outside the layers, and the layer name format: printf(layer, l, name). */
typedef struct {
    const char *embedding, *layer, *norm, *head;
} family_names_t;

/* Appends the tensors of layer l listed in t[0..nt) whose .on is set, bound into *L. */
void family_bind_layer(model_tensor_spec_t *s, int *n, llada_layer_t *L, int l, const char *layer_fmt,
                       const family_layer_tensor_t *t, int nt);
/* After a layer's table tensors: appends that layer's variable tensors (family_add). */
typedef void (*family_layer_extra_fn)(const llada_config_t *c, llada_layer_t *L, int l, model_tensor_spec_t *s, int *n);
/* A whole tensor list in file order: the embedding [embedding_size, d_model] -> w->wte; per
 * layer the table t (then `extra`, when not NULL); the final norm [d_model] -> w->ln_f; the
 * LM head [embedding_size, d_model] -> w->lm_head unless c->weight_tying. Returns the count. */
int family_bind(const llada_config_t *c, llada_weights_t *w, model_tensor_spec_t *s, const family_names_t *nm,
                const family_layer_tensor_t *t, int nt, family_layer_extra_fn extra);

/* Config parsing a family shares (config.c; the typed-key helpers are config.h's cfg_*).
 * The Hugging Face keys hidden_size, num_hidden_layers, num_attention_heads,
 * num_key_value_heads (absent: = heads), vocab_size (= embedding_size),
 * max_position_embeddings, rope_theta, rms_norm_eps into c; keys absent keep c's values.
 * 0, or -1 with e (EXIT_DATA naming the key). */
int family_hf_sizes(llada_config_t *c, json_t *o, lerr_t *e);
/* The special ids mask/eos/pad/bos/eot_token_id: a present key (an eos list: its first
 * entry) must lie in [0, embedding_size); an absent one keeps c's default when
 * `defaults_apply` and the default lies in the vocabulary, else becomes -1. The mask and EOS
 * ids are required (`hint` says where the family's default applies); pad falls back to EOS.
 * 0, or -1 with e (EXIT_DATA). */
int family_parse_ids(llada_config_t *c, json_t *o, bool defaults_apply, const char *hint, lerr_t *e);
/* The writing side of family_hf_sizes, for a family's config_to_json: a new object (the caller
 * owns it) with architectures [arch], model_type, the keys family_hf_sizes reads (vocab_size =
 * embedding_size), hidden_act "silu", rope_scaling null and tie_word_embeddings. The family adds
 * its own keys, then family_hf_json_finish adds the special ids and returns the text. */
json_t *family_hf_json_new(const char *arch, const char *model_type, const llada_config_t *c);
/* Adds mask/eos/pad_token_id to o, takes ownership of o (freed here) and returns its indented
 * text (the caller frees it; NULL when out of memory). */
char *family_hf_json_finish(json_t *o, const llada_config_t *c);

/* ---- the registry (family.c) ---- */

/* Every family, NULL-terminated. */
const model_family_t *const *model_family_list(void);
/* The family registered as `name`, or NULL. */
const model_family_t *model_family_find(const char *name);
/* The family a config.json belongs to: its "model_type" when present, else the first of its
 * "architectures" a family accepts, else LLaDA (configs that predate both keys). NULL with
 * `e` (EXIT_DATA) for bad JSON or a model_type / architectures no family accepts. */
const model_family_t *model_family_detect(const char *json, size_t len, lerr_t *e);
/* Split every layer's fused q/k/v projection (and bias) into q_proj/k_proj/v_proj (q/k/v_bias)
 * views of the same data: rows [0, Hq*hd), [Hq*hd, (Hq+Hkv)*hd), the rest. No-op for layers
 * without one. The loader calls it after binding. */
void model_split_fused(const llada_config_t *c, llada_weights_t *w);
/* Parameters a config implies for a family: the sum of its tensors' sizes (a tied matrix
 * counts once). -1 on OOM. */
int64_t model_family_n_params(const model_family_t *f, const llada_config_t *c);

/* ---- the families (one file each) ---- */
extern const model_family_t model_family_llada;     /* llada.c */
extern const model_family_t model_family_dream;     /* dream.c: Dream / DiffuCoder (Qwen2) */
extern const model_family_t model_family_llada_moe; /* llada_moe.c: LLaDA-MoE (sparse MoE FFN) */
extern const model_family_t model_family_sdar;      /* sdar.c: SDAR (Qwen3, block diffusion) */
extern const model_family_t model_family_llada2;    /* llada2.c: LLaDA 2.x (BailingMoeV2, block diffusion) */

/* ---- graphs a family can point at ---- */
/* The dense pre-norm transformer of forward.c (LLaDA's, llada.md §2.3). */
int dense_forward_hidden(const model_t *m, fwd_scratch_t *s, const int32_t *tokens, const uint8_t *keep, int B, int L,
                         float *hidden, lerr_t *e);
void dense_head(const model_t *m, const float *hidden, int n, float *logits);
int dense_forward_cached(const model_t *m, fwd_scratch_t *s, fwd_cache_t *kv, const int32_t *tokens,
                         const uint8_t *keep, int B, int L, int r0, int r1, float *hidden, lerr_t *e);
/* Block-causal attention (blockattn.c): Lq queries at positions q0.. over keys 0..Lk-1, a
 * query at p seeing keys j with j/blk <= p/blk. q [Lq][Hq*hd], k, v [Lk][Hkv*hd], out
 * [Lq][Hq*hd]; scores: Lk floats of scratch. */
void block_causal_attention(float *out, const float *q, const float *k, const float *v, int Lq, int q0, int Lk, int Hq,
                            int Hkv, int hd, int blk, float *scores);
/* One linear layer y (+)= x W^T through pack P (a precision mode) when there is one, else
 * matmul() on W as stored; 0, or -1 when the reduced-precision GEMM failed (OOM / oneDNN).
 * Shared by blockcache.c and moe.c (forward.c's linear() records the failure in its scratch). */
static inline int model_linear(float *y, const float *x, const wtensor_t *W, kpack_t *P, int M, bool acc) {
    if (!P) {
        matmul(y, x, W, M, acc);
        return 0;
    }
    return kpack_matmul(y, x, P, M, acc);
}

/* The sparse MoE FFN step (moe.c) the dense graph runs in layers whose router is bound:
 * x[T][d] += MoE(xn) (+ the shared expert's SwiGLU(xn)). Scratch sized for T tokens. pk: the
 * layer's precision packs (experts run through them when present), or NULL. 0, or -1 when a
 * reduced-precision GEMM failed (OOM / oneDNN; x is then partly updated). */
typedef struct moe_scratch moe_scratch_t;
moe_scratch_t *moe_scratch_new(const llada_config_t *c, int T); /* NULL on OOM */
void moe_scratch_destroy(moe_scratch_t **s);
int moe_ffn(const llada_config_t *c, const llada_layer_t *ly, const model_layer_packs_t *pk, const float *xn, float *x,
            int T, moe_scratch_t *s);

#endif
