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
    int mlp_hidden_size;        /* mlp_hidden_size, else mlp_ratio * d_model */
    int vocab_size;             /* tokenizer vocab (config "vocab_size") */
    int embedding_size;         /* rows of wte / ff_out (>= vocab_size) */
    int max_sequence_length;
    double rope_theta;
    double rms_norm_eps;
    bool weight_tying;
    int32_t mask_token_id;      /* 126336 for LLaDA, 5 for iLLaDA */
    int32_t eos_token_id;       /* 126081 */
    int32_t pad_token_id;       /* 126081 */
    int32_t eot_token_id;       /* 126348 (<|eot_id|>); -1 when unknown */
    int32_t bos_token_id;       /* 126080; -1 when unknown */
    wtype_t dtype;              /* storage type of the weights as loaded */
} llada_config_t;

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
} llada_layer_t;

typedef struct {
    wtensor_t wte, ln_f, lm_head;   /* lm_head == wte (same data) when weight_tying */
    llada_layer_t *layers;          /* [n_layers] */
} llada_weights_t;

typedef struct model_family model_family_t;   /* model/family.h */

typedef struct model {
    llada_config_t cfg;
    llada_weights_t w;
    const model_family_t *family;   /* the architecture: names, config keys, forward graph */
    char *dir;                      /* folder it was loaded from (owned) */
    /* private: mappings / owned buffers */
    void *priv;
    struct model_packs *packs;      /* private: prepacked GEMM weights of model_set_precision (owned) */
} model_t;

/* Load a model folder. Returns a new model (free with model_destroy) or NULL with `e` set:
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
 * model_precision_bytes). Attention, norms and the residual stream stay fp32. EXIT_USAGE when
 * this build has no oneDNN, EXIT_INTERNAL on OOM (the model is left at f32). */
enum { MODEL_PREC_F32 = 0, MODEL_PREC_BF16 = 1, MODEL_PREC_INT8 = 2 };
int model_set_precision(model_t *m, int prec, lerr_t *e);
int model_precision(const model_t *m);
size_t model_precision_bytes(const model_t *m);
/* "f32" / "bf16" / "int8" -> MODEL_PREC_*, -1 for anything else. */
int model_precision_parse(const char *name);

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
int model_forward_hidden(const model_t *m, fwd_scratch_t *s, const int32_t *tokens,
                         const uint8_t *keep, int B, int L, float *hidden, lerr_t *e);
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
/* Convenience: full logits [B][L][embedding_size] (allocates scratch internally). */
int model_forward_logits(const model_t *m, const int32_t *tokens, const uint8_t *keep,
                         int B, int L, float *logits, lerr_t *e);

/* Cumulative wall time per forward stage (seconds since the last reset), for profiles. */
enum { FWD_PROF_EMBED, FWD_PROF_RMSNORM, FWD_PROF_QKV, FWD_PROF_ROPE, FWD_PROF_ATTN,
       FWD_PROF_OUT, FWD_PROF_MLP, FWD_PROF_SWIGLU, FWD_PROF_HEAD, FWD_PROF_N };
const double *fwd_profile(const char *const **names);
void fwd_profile_reset(void);

#endif
