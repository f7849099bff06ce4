/* dream.c — the Dream family (Dream-v0-Base/Instruct-7B, DiffuCoder, Dream-Coder; llada.md
 * §4.5): a Qwen2 / Qwen2.5 transformer run bidirectionally, its config.json keys, its tensor
 * names and its traits for the sampler. Registered in family.c.
 *
 * Graph: the dense transformer of forward.c with biases on the q/k/v projections (Qwen2;
 * "attention_bias": false drops them, as Llama-based Dream conversions set), GQA, half-split
 * RoPE (theta 1e6 for Dream-7B), RMSNorm eps 1e-6, SwiGLU. Traits the sampler honours
 * through the config (model.h): shifted logits (position i's prediction is the head of
 * hidden row i-1, row 0 its own), the timestep schedule of Dream's diffusion_generate
 * (eps 1e-3). With left padding Dream counts RoPE positions from each row's first real
 * token (cumsum(attention_mask) - 1) where the dense graph counts from the row start: the
 * same for every real token up to one constant offset, which RoPE's scores (functions of
 * position differences only) cancel, and the padding is hidden as keys; no flag needed.
 *
 * Config keys: hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
 * num_key_value_heads, vocab_size, max_position_embeddings, rope_theta, rms_norm_eps,
 * tie_word_embeddings, mask/bos/eos/pad_token_id. Keys whose value asks for something this
 * graph does not compute (rope_scaling, sliding windows, another activation, a head_dim
 * other than hidden_size / heads, partial rotary, mrope, ...) are an error naming the key.
 * Tensors (HF Qwen2 names): model.embed_tokens, model.layers.N.{input_layernorm,
 * self_attn.{q,k,v}_proj.{weight,bias}, self_attn.o_proj, post_attention_layernorm,
 * mlp.{gate,up,down}_proj}, model.norm, lm_head (absent when tied).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/config.h"
#include "model/family.h"

/* Dream-v0-Instruct-7B's config (sizes of Qwen2.5-7B, Dream's special ids). */
static void dream_default(llada_config_t *c) {
    *c = (llada_config_t){
        .d_model = 3584,
        .n_layers = 28,
        .n_heads = 28,
        .n_kv_heads = 4,
        .head_dim = 128,
        .mlp_hidden_size = 18944,
        .vocab_size = 152064,
        .embedding_size = 152064,
        .max_sequence_length = 131072,
        .rope_theta = 1e6,
        .rms_norm_eps = 1e-6,
        .weight_tying = false,
        .mask_token_id = 151666,
        .eos_token_id = 151643,
        .pad_token_id = 151643,
        .eot_token_id = 151645,
        .bos_token_id = 151643,
        .dtype = WT_BF16,
        .logits_shift = true,
        .schedule = MODEL_SCHED_TIMESTEP,
        .schedule_eps = 1e-3,
        .qkv_bias = true,
    };
}

static int check_unsupported(json_t *o, lerr_t *e) {
    static const char *const act[] = {"silu", NULL}, *const mt[] = {"dream", NULL};
    if (cfg_need_str(o, "hidden_act", act, e) || cfg_need_str(o, "model_type", mt, e) ||
        cfg_need_null(o, "rope_scaling", e) || cfg_need_bool(o, "use_sliding_window", false, e) ||
        cfg_need_bool(o, "use_mrope", false, e) || cfg_need_bool(o, "mlp_bias", false, e) ||
        cfg_need_null(o, "num_experts", e))
        return -1;
    double prf = 1;
    if (cfg_num(o, "partial_rotary_factor", &prf, e) < 0) return -1;
    if (prf != 1) return lerr_set(e, EXIT_DATA, "config.json: unsupported setting \"partial_rotary_factor\": %g", prf);
    return 0;
}

static int parse_sizes(llada_config_t *c, json_t *o, lerr_t *e) {
    long long v;
    int r;
    if (family_hf_sizes(c, o, e) || (r = cfg_int(o, "intermediate_size", 1, 1 << 30, &v, e)) < 0) return -1;
    if (r) c->mlp_hidden_size = (int)v;
    if (c->d_model % c->n_heads)
        return lerr_set(e, EXIT_DATA, "config.json: \"hidden_size\" %d is not a multiple of \"num_attention_heads\" %d",
                        c->d_model, c->n_heads);
    if (c->n_heads % c->n_kv_heads)
        return lerr_set(e, EXIT_DATA,
                        "config.json: \"num_attention_heads\" %d is not a multiple of \"num_key_value_heads\" %d",
                        c->n_heads, c->n_kv_heads);
    c->head_dim = c->d_model / c->n_heads;
    if ((r = cfg_int(o, "head_dim", 1, 1 << 30, &v, e)) < 0) return -1;
    if (r && v != c->head_dim)
        return lerr_set(e, EXIT_DATA, "config.json: unsupported setting \"head_dim\": %lld (hidden_size / heads = %d)",
                        v, c->head_dim);
    if (c->head_dim % 2) return lerr_set(e, EXIT_DATA, "config.json: head size %d must be even for RoPE", c->head_dim);
    return 0;
}

static int dream_config_parse(llada_config_t *c, const char *json, size_t len, lerr_t *e) {
    static const char *const need[] = {"hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                                       "vocab_size"};
    dream_default(c);
    json_t *o = cfg_open(json, len, need, ARRAY_LEN(need), "Dream", e);
    if (!o) return -1;
    /* special ids: Dream's defaults wherever the vocabulary holds them */
    int rc = check_unsupported(o, e) || parse_sizes(c, o, e) ||
                     cfg_bool(o, "tie_word_embeddings", &c->weight_tying, e) ||
                     cfg_bool(o, "attention_bias", &c->qkv_bias, e) ||
                     family_parse_ids(c, o, true, "Dream's 151666 lies outside this vocabulary", e)
                 ? -1
                 : 0;
    json_decref(o);
    return rc;
}

static char *dream_config_to_json(const llada_config_t *c) {
    json_t *o = family_hf_json_new("DreamModel", "Dream", c);
#define SETI(k, v) json_object_set_new(o, k, json_integer(v))
    SETI("intermediate_size", c->mlp_hidden_size);
    json_object_set_new(o, "use_sliding_window", json_false());
    json_object_set_new(o, "attention_bias", json_boolean(c->qkv_bias));
    json_object_set_new(o, "use_cache", json_false());
    if (c->bos_token_id >= 0) SETI("bos_token_id", c->bos_token_id);
#undef SETI
    return family_hf_json_finish(o, c);
}

/* ---- tensors ---- */

static int max_tensors(const llada_config_t *c) { return 12 * c->n_layers + 3; }

static int tensor_specs(const llada_config_t *c, llada_weights_t *w, model_tensor_spec_t *s) {
    int64_t d = c->d_model, qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim, f = c->mlp_hidden_size;
    bool b = c->qkv_bias;
    const family_layer_tensor_t t[] = {FAMILY_LT("input_layernorm.weight", 1, d, 1, attn_norm, true),
                                       FAMILY_LT("self_attn.q_proj.weight", 2, qd, d, q_proj, true),
                                       FAMILY_LT("self_attn.q_proj.bias", 1, qd, 1, q_bias, b),
                                       FAMILY_LT("self_attn.k_proj.weight", 2, kvd, d, k_proj, true),
                                       FAMILY_LT("self_attn.k_proj.bias", 1, kvd, 1, k_bias, b),
                                       FAMILY_LT("self_attn.v_proj.weight", 2, kvd, d, v_proj, true),
                                       FAMILY_LT("self_attn.v_proj.bias", 1, kvd, 1, v_bias, b),
                                       FAMILY_LT("self_attn.o_proj.weight", 2, d, qd, attn_out, true),
                                       FAMILY_LT("post_attention_layernorm.weight", 1, d, 1, ff_norm, true),
                                       FAMILY_LT("mlp.gate_proj.weight", 2, f, d, ff_proj, true),
                                       FAMILY_LT("mlp.up_proj.weight", 2, f, d, up_proj, true),
                                       FAMILY_LT("mlp.down_proj.weight", 2, d, f, ff_out, true)};
    static const family_names_t nm = {"model.embed_tokens.weight", "model.layers.%d.%s", "model.norm.weight",
                                      "lm_head.weight"};
    return family_bind(c, w, s, &nm, t, ARRAY_LEN(t), NULL);
}

/* ---- the family entry ---- */

static const char *const MODEL_TYPES[] = {"Dream", NULL};
static const char *const ARCHITECTURES[] = {"DreamModel", NULL};

const model_family_t model_family_dream = {
    .name = "dream",
    .display = "Dream",
    .model_types = MODEL_TYPES,
    .architectures = ARCHITECTURES,
    .config_parse = dream_config_parse,
    .config_to_json = dream_config_to_json,
    .max_tensors = max_tensors,
    .tensor_specs = tensor_specs,
    .forward_hidden = dense_forward_hidden,
    .head = dense_head,
};
