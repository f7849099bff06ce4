/* model.h — a checkpoint in memory: config, weights, load/save, forward pass.
 *
 * Everything about a checkpoint lives in model/: config parsing, the tensor sources
 * (safetensors today, GGUF next), binding, the family registry (family.h: LLaDA today;
 * issue 14 adds others) and each family's forward graph. denoise and train both use it.
 *
 * What the sampler may use is this file only: fwd_scratch_new, model_forward_hidden (the
 * hidden states of a batch), model_head (the LM head on chosen rows), and the config's ids
 * and sizes (mask/eos/eot/pad ids, vocab and embedding size, d_model). It never includes
 * model/family.h nor reads m->w (tests/e2e/layout.sh checks). model_forward_hidden and
 * model_head dispatch through the model's family (family.c) to its graph.
 *
 * model_load reads a Hugging Face model folder (config.json + model.safetensors, or shards
 * listed in model.safetensors.index.json), finds the family from config.json, memory-maps
 * the tensor data (bf16, f16 or f32, used in place; nothing is expanded to f32 as a whole)
 * and validates every name, shape, dtype and byte range against the files. model_save
 * writes the same layout (single file), used by `train` for checkpoints. LLaDA's tensor
 * names (llada.md §2.2; model/llada.c):
 *   model.transformer.wte.weight                      [vocab, d]
 *   model.transformer.blocks.N.attn_norm.weight        [d]
 *   model.transformer.blocks.N.{q,k,v}_proj.weight     [Hq*hd | Hkv*hd, d]
 *   model.transformer.blocks.N.attn_out.weight         [d, Hq*hd]
 *   model.transformer.blocks.N.ff_norm.weight          [d]
 *   model.transformer.blocks.N.{ff_proj,up_proj}.weight [ffn, d]   (ff_proj = gate, SiLU)
 *   model.transformer.blocks.N.ff_out.weight           [d, ffn]
 *   model.transformer.ln_f.weight                      [d]
 *   model.transformer.ff_out.weight                    [vocab, d]  (absent when weight_tying)
 */
#ifndef LLADA_MODEL_H
#define LLADA_MODEL_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include "lerr.h"
#include "kernels.h"

/* The transformer config every family fills (LLaDA's keys: llada.md §2.1). A family that
 * needs more (biases, QK-norm, experts, ...) adds optional fields whose zero value means
 * "absent", so the others are unaffected. */
typedef struct {
    int d_model, n_layers, n_heads, n_kv_heads, head_dim;
    int mlp_hidden_size; /* mlp_hidden_size, else mlp_ratio * d_model */
    int vocab_size;      /* tokenizer vocab (config "vocab_size") */
    int embedding_size;  /* rows of wte / ff_out (>= vocab_size) */
    int max_sequence_length;
    double rope_theta;
    double rms_norm_eps;
    bool weight_tying;
    int32_t mask_token_id; /* 126336 for LLaDA, 5 for iLLaDA */
    int32_t eos_token_id;  /* 126081 */
    int32_t pad_token_id;  /* 126081 */
    int32_t eot_token_id;  /* 126348 (<|eot_id|>); -1 when unknown */
    int32_t bos_token_id;  /* 126080; -1 when unknown */
    wtype_t dtype;         /* storage type of the weights as loaded */
    /* Family traits the sampler honours (zero = LLaDA's behaviour). */
    bool logits_shift;   /* Dream: the output at position i predicts token i+1, so
                                   position p's logits come from hidden row p-1 (row 0 reuses
                                   its own); see model_logits_row */
    bool causal;         /* causal attention (query i sees keys <= i): a train
                                   --objective ar checkpoint run by denoise --causal, which
                                   also sets logits_shift (row p-1 predicts token p) */
    int schedule;        /* the official sampler's per-step count (model_schedule_t) */
    double schedule_eps; /* MODEL_SCHED_TIMESTEP: the final timestep (Dream's eps) */
    bool qkv_bias;       /* q/k/v projections carry biases (Qwen2 / Dream) */
    /* Optional graph features (zero = absent; LLaDA-MoE uses them). */
    bool out_bias;                 /* the attention output projection carries a bias */
    bool qk_norm;                  /* per-head RMSNorm (weight [head_dim]) on q and k before RoPE */
    float clip_qkv;                /* > 0: q, k, v clamped to [-clip, clip] (after the norms) */
    int n_experts;                 /* > 0: sparse MoE FFN in the layers of moe_layers */
    int n_experts_per_tok;         /* top-k */
    int expert_hidden_size;        /* each expert's SwiGLU width */
    int shared_expert_hidden_size; /* > 0: a shared SwiGLU expert added in MoE layers */
    uint64_t moe_layers;           /* bit l: layer l's FFN is the MoE (else dense, mlp_hidden_size) */
    bool router_expert_bias;       /* expert_bias [n_experts] added to the router probabilities */
    /* LLaDA2 (BailingMoeV2) routing, moe.c: sigmoid scores, expert_bias added for the choice
     * only, group-limited top-k (n_group groups ranked by the sum of their two best biased
     * scores, the best topk_group kept), the chosen unbiased scores renormalised (top-k > 1)
     * and scaled by routed_scaling. router_sigmoid false: LLaDA-MoE's softmax router. */
    bool router_sigmoid;
    int n_group, topk_group;
    double routed_scaling;
    int rope_dim;               /* > 0: partial rotary, only the first rope_dim of each head's
                                   head_dim channels rotate (half-split within them, inverse
                                   frequencies from rope_dim; LLaDA2: head_dim / 2); 0: all */
    int attn_block;             /* > 0: block diffusion (SDAR): attention is block-causal over
                                   blocks of this size tiled from position 0 (a query sees its own
                                   block and every earlier one), generation goes block by block
                                   and finished blocks' K/V are exact (model_block_forward) */
    const char *default_policy; /* the official sampler's remasking when the user names none and
                                   generation_config.json has no "alg" (SDAR: "dynamic:0.85");
                                   NULL: low_confidence */
} llada_config_t;

/* Most experts a layer may have (LLaDA2: 256) and most layers with a MoE choice (moe_layers). */
#define MODEL_MAX_EXPERTS 256
#define MODEL_MAX_MOE_LAYERS 64

/* How many masked positions the official sampler commits per step. */
typedef enum {
    MODEL_SCHED_LINEAR = 0,   /* LLaDA: each block's masks spread evenly over its steps,
                                   the remainder to the earliest steps (llada.md §1.1) */
    MODEL_SCHED_TIMESTEP = 1, /* Dream: t = linspace(1, eps, steps+1) in float32; step i
                                   commits int(n_masked * (1 - t[i+1]/t[i])) of the masks
                                   left, all of them at the last step (llada.md §4.5) */
} model_schedule_t;

/* The hidden-state row whose LM head gives position p's token prediction: p, or p-1 for a
 * shifted-logits family (row 0 reuses its own). Positions are canvas indices, padding
 * included, as the official code shifts the padded batch. */
static inline int model_logits_row(const llada_config_t *c, int p) { return c->logits_shift && p > 0 ? p - 1 : p; }

/* Channels of each head that rotate (RoPE): rope_dim when partial, else head_dim. */
static inline int model_rope_dim(const llada_config_t *c) { return c->rope_dim > 0 ? c->rope_dim : c->head_dim; }

/* ---- the LLaDA family's config.json (model/llada.c); train builds LLaDA configs ---- */
/* Defaults of LLaDA-8B (llada.md §2.1). */
void llada_config_default(llada_config_t *c);
/* Parse config.json text. Unknown keys are ignored; keys with values this engine does not
 * implement (alibi true, include_bias true, attention_layer_norm true, block_type other
 * than "llama", activation other than silu/swiglu, layer_norm_type other than rms, ...) are
 * an error naming the key. EXIT_DATA on error. */
int llada_config_parse(llada_config_t *c, const char *json, size_t len, lerr_t *e);
/* Serialise as a LLaDA config.json (malloc'd NUL-terminated string, caller frees). */
char *llada_config_to_json(const llada_config_t *c);

/* The weights every family binds into (family.h: model_tensor_spec_t.dst); tensors a
 * family does not have stay {0}. */
typedef struct {
    wtensor_t attn_norm, q_proj, k_proj, v_proj, attn_out;
    wtensor_t ff_norm, ff_proj, up_proj, ff_out;
    wtensor_t q_bias, k_bias, v_bias; /* 1-D; present when cfg.qkv_bias */
    wtensor_t out_bias;               /* 1-D [d]; cfg.out_bias */
    wtensor_t q_norm, k_norm;         /* 1-D [head_dim]; cfg.qk_norm */
    /* MoE FFN (cfg.moe_layers has this layer): router [n_experts][d], its optional bias,
     * the experts' SwiGLU matrices and the optional shared expert. */
    wtensor_t router, router_bias;
    wtensor_t exp_gate[MODEL_MAX_EXPERTS], exp_up[MODEL_MAX_EXPERTS], exp_down[MODEL_MAX_EXPERTS];
    wtensor_t sh_gate, sh_up, sh_down;
    /* A fused q/k/v projection ([(Hq + 2 Hkv) * hd, d], rows q | k | v; LLaDA2's
     * attention.query_key_value) and its optional bias: the loader splits them into
     * q_proj/k_proj/v_proj (and q/k/v_bias) views of the same data (model_split_fused). */
    wtensor_t qkv_proj, qkv_b;
} llada_layer_t;

typedef struct {
    wtensor_t wte, ln_f, lm_head; /* lm_head == wte (same data) when weight_tying */
    llada_layer_t *layers;        /* [n_layers] */
} llada_weights_t;

typedef struct model_family model_family_t; /* model/family.h */

typedef struct model {
    llada_config_t cfg;
    llada_weights_t w;
    const model_family_t *family; /* the architecture: names, config keys, forward graph */
    char *dir;                    /* folder it was loaded from (owned) */
    /* private: mappings / owned buffers */
    void *priv;
    struct model_packs *packs; /* private: prepacked GEMM weights of model_set_precision (owned) */
} model_t;

/* Load a model folder, or a GGUF file when `dir` names a regular file (its metadata gives the
 * family and config; block-quantised tensors are used as stored). Returns a new model (free with model_destroy) or NULL with `e` set:
 * EXIT_IO when a file cannot be opened/mapped, EXIT_DATA for anything wrong in the files
 * (bad JSON, a model_type no family runs, unsupported config key, missing/extra/misshapen
 * tensor, bad dtype, offsets outside the file, header overflow). Tensors may mix
 * bf16/f16/f32; cfg.dtype is wte's. */
model_t *model_load(const char *dir, lerr_t *e);
void model_destroy(model_t **m);

/* Build a LLaDA model from a config with freshly allocated weights of cfg->dtype (zeroed;
 * the caller fills them through m->w). For training and tests. NULL on OOM / bad config. */
model_t *model_new(const llada_config_t *cfg, lerr_t *e);

/* Write dir/config.json and dir/model.safetensors (creating dir) from the model's weights,
 * in `dtype` (converted as needed; bf16/f16 rounding to nearest even). The family's names,
 * metadata {"format":"pt"}. Writes to temporary files and renames, so a crash never leaves a
 * half-written checkpoint under the final names. EXIT_IO on failure. */
int model_save(const model_t *m, const char *dir, wtype_t dtype, lerr_t *e);

/* GEMM precision of the forward (denoise --precision; model/precision.c). MODEL_PREC_F32 (the
 * default): fp32 activations and products, weights as stored (exact path). MODEL_PREC_BF16:
 * every linear layer and the LM head take bf16 inputs (activations rounded at each GEMM) with
 * fp32 accumulation, as the official bf16 model. MODEL_PREC_INT8: weights quantised per output
 * channel (symmetric int8), activations per row at each GEMM, int32 accumulation. Either
 * prepacks every weight matrix once, now (the packs are owned by the model: bytes in
 * model_precision_bytes), and drops each packed matrix's pages of the file mapping
 * (model_precision_released). Attention, norms and the residual stream stay fp32. EXIT_USAGE
 * when this build has no oneDNN, EXIT_INTERNAL on OOM (the model is left at f32). */
enum { MODEL_PREC_F32 = 0, MODEL_PREC_BF16 = 1, MODEL_PREC_INT8 = 2 };
int model_set_precision(model_t *m, int prec, lerr_t *e);
int model_precision(const model_t *m);
size_t model_precision_bytes(const model_t *m);
/* Bytes of the checkpoint's file mapping whose pages were dropped after packing (their data
 * is read through the packs; a read of the weights refaults them from the file): 0 at f32 and
 * for weights held in memory rather than mapped (model_new, copies). */
size_t model_precision_released(const model_t *m);
/* "f32" / "bf16" / "int8" -> MODEL_PREC_*, -1 for anything else. */
int model_precision_parse(const char *name);
/* Write a LLaDA model as a GGUF file llama.cpp reads (model/gguf_write.c): type "f32", "f16",
 * "bf16", "q8_0", "q4_0", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k", "q4_k_m" (Q4_K with Q6_K for the head and, in
 * llama.cpp's use_more_bits layers, attn_v and ffn_down) or "q5_k_m" (the same over Q5_K) for the
 * matrices, F32 vectors; Q/K rows in llama.cpp's order. Via PATH.tmp + rename.
 * A matrix whose row length is not a multiple of its type's block is written as Q8_0 (F16 when
 * not a multiple of 32 either), as llama-quantize does for K-quants (its convert_incompatible_tensor
 * picks Q5_0 / Q5_1 / Q8_0; Q8_0 is never less exact). Returns the number
 * of matrices written so (>= 0), -1 with e set: EXIT_USAGE for an unknown type, EXIT_IO on write
 * errors. search: quantise with searched scales (quantize_search, never worse per block), else
 * round to nearest (quantize_ref). model_gguf_type_ok: 1 when `name` is one of the types. */
int model_save_gguf(const model_t *m, const char *path, const char *type, bool search, lerr_t *e);
int model_gguf_type_ok(const char *name);

/* Number of parameters of a LLaDA model of config c (counting a tied matrix once). */
int64_t model_n_params(const llada_config_t *c);
/* The family's registry name ("llada"). */
const char *model_family_name(const model_t *m);

/* ---- forward ---- */

/* Scratch for the forward pass, sized for up to B sequences of L tokens (private layout). */
typedef struct fwd_scratch fwd_scratch_t;
fwd_scratch_t *fwd_scratch_new(const model_t *m, int B, int L, lerr_t *e);
void fwd_scratch_destroy(fwd_scratch_t **s);

/* The forward pass up to the final RMSNorm: hidden[B][L][d_model] (caller-allocated).
 * tokens [B][L]; keep [B][L] (1 = real token, 0 = left padding hidden as a key; NULL = all
 * real). Positions are absolute 0..L-1 (not shifted for padding), as in LLaDA.
 * Tokens >= embedding_size are an error (EXIT_DATA). This is the backend seam: a GPU
 * backend replaces this function (and model_head). */
int model_forward_hidden(const model_t *m, fwd_scratch_t *s, const int32_t *tokens, const uint8_t *keep, int B, int L,
                         float *hidden, lerr_t *e);
/* KV cache of a batch (denoise --cache, Fast-dLLM's approximate block cache; docs/denoise.md):
 * every layer's K and V (after RoPE) for B rows of L positions, fp32:
 * fwd_cache_bytes = n_layers * B * L * 2 * n_kv_heads * head_dim * 4 bytes. */
typedef struct fwd_cache fwd_cache_t;
size_t fwd_cache_bytes(const llada_config_t *c, int B, int L);
/* NULL with e (EXIT_INTERNAL) on OOM. */
fwd_cache_t *fwd_cache_new(const model_t *m, int B, int L, lerr_t *e);
void fwd_cache_destroy(fwd_cache_t **kv);
/* Keep rows src[0..n) of the cache as rows 0..n (src ascending; for batches that drop rows). */
void fwd_cache_keep_rows(fwd_cache_t *kv, const int *src, int n);

/* model_forward_hidden with a KV cache, on positions [r0, r1) of every row only.
 * r0 == 0 && r1 == L: the whole forward, exactly model_forward_hidden's result, and every
 * layer's K/V of all positions is stored in kv (a refresh). Otherwise only rows [r0, r1) are
 * computed: their queries attend to all L keys, K/V of positions outside [r0, r1) read from
 * kv as the last call left them (stale by design), the fresh K/V of [r0, r1) written into kv;
 * hidden rows [r0, r1) of every row are written, the others left untouched. tokens, keep and
 * hidden have the full [B][L] layout; s and kv sized for at least B rows of exactly L.
 * EXIT_DATA for bad tokens, EXIT_USAGE when the model's family has no cached graph. */
int model_forward_cached(const model_t *m, fwd_scratch_t *s, fwd_cache_t *kv, const int32_t *tokens,
                         const uint8_t *keep, int B, int L, int r0, int r1, float *hidden, lerr_t *e);
/* LM head on n rows of final hidden states: logits[n][embedding_size]. */
void model_head(const model_t *m, const float *hidden, int n, float *logits);
/* Convenience: full logits [B][L][embedding_size] (allocates scratch internally): row p
 * holds position p's token prediction, i.e. the LM head of model_logits_row(p) (shifted
 * for Dream). */
int model_forward_logits(const model_t *m, const int32_t *tokens, const uint8_t *keep, int B, int L, float *logits,
                         lerr_t *e);

/* ---- block diffusion (cfg.attn_block > 0): the exact block cache ----
 * Attention is block-causal, so the K/V of finished blocks never change: a step computes
 * only the current block against the cached K/V of the blocks before it (model/blockcache.c).
 * model_block_forward runs n tokens at positions p0..p0+n-1 (whole blocks; p0 must equal the
 * cached length) over the cache, block-causally among themselves; hidden [n][d_model] (NULL
 * allowed) gets their final-norm hidden states (model_head applies the LM head); store
 * appends their K/V (the cached length becomes p0+n), else the cache is unchanged. Exact:
 * equal to model_forward_hidden's rows of the full canvas up to float summation order. */
typedef struct model_block_cache model_block_cache_t;
model_block_cache_t *model_block_cache_new(const model_t *m, int max_len, lerr_t *e);
void model_block_cache_destroy(model_block_cache_t **c);
int model_block_forward(const model_t *m, model_block_cache_t *c, const int32_t *tokens, int n, int p0, bool store,
                        float *hidden, lerr_t *e);
/* Lockstep batches: B caches (rows at any positions, each with its own cache) in one pass.
 * Row b: n[b] tokens[b] at p0[b] over kc[b], as model_block_forward's rules; store[b] appends
 * its K/V. The projections and FFN run over all sum(n) tokens at once, attention per row;
 * hidden [sum n][d_model] (NULL allowed), rows in order. s: work buffers for at least
 * sum(n) tokens (model_block_scratch_new; caller owns). Each row's hidden states equal its
 * model_block_forward's up to float summation order (GEMM kernels vary with the row count). */
typedef struct model_block_scratch model_block_scratch_t;
model_block_scratch_t *model_block_scratch_new(const model_t *m, int rows, lerr_t *e);
void model_block_scratch_destroy(model_block_scratch_t **s);
int model_block_forward_rows(const model_t *m, model_block_cache_t *const *kc, int B, const int32_t *const *tokens,
                             const int *n, const int *p0, const bool *store, model_block_scratch_t *s, float *hidden,
                             lerr_t *e);

/* Cumulative wall time per forward stage (seconds since the last reset), for profiles. */
enum {
    FWD_PROF_EMBED,
    FWD_PROF_RMSNORM,
    FWD_PROF_QKV,
    FWD_PROF_ROPE,
    FWD_PROF_ATTN,
    FWD_PROF_OUT,
    FWD_PROF_MLP,
    FWD_PROF_SWIGLU,
    FWD_PROF_HEAD,
    FWD_PROF_N
};
const double *fwd_profile(const char *const **names);
void fwd_profile_reset(void);

#endif
