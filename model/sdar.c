/* sdar.c — the SDAR family (JetAstra/SDAR-*-Chat, TraDo; llada.md §4, field-2026.md): a
 * Qwen3 transformer trained for block diffusion, its config.json keys, its tensor names.
 * Registered in family.c. Default remasking: generate.py's low_confidence_dynamic with
 * confidence_threshold 0.85 (remask policy dynamic:0.85).
 *
 * Graph: forward.c's transformer with per-head RMSNorm on q and k before RoPE (Qwen3),
 * head_dim from the config (q width n_heads * head_dim may differ from hidden_size), no
 * biases unless "attention_bias" (then q/k/v/o), and block-causal attention
 * (blockattn.c): blocks of `block_size` tokens (default 4, SDAR's block_length) tiled from
 * position 0, each seeing itself and the earlier ones. Its sampler is SDAR's
 * block_diffusion_generate (denoise/bdsample.c), reached through cfg.attn_block.
 *
 * Config keys (Qwen3Config / SDARConfig): hidden_size, intermediate_size, num_hidden_layers,
 * num_attention_heads, num_key_value_heads, head_dim, vocab_size, max_position_embeddings,
 * rope_theta, rms_norm_eps, tie_word_embeddings, attention_bias, block_size, mask/eos/pad/
 * bos_token_id (mask 151669 and EOS 151645 are defaults only for Qwen3's 151936-token
 * vocabulary). Refused by name: hidden_act other than silu, rope_scaling, sliding windows.
 * Tensors (HF Qwen3 names): model.embed_tokens, model.layers.N.{input_layernorm,
 * self_attn.{q,k,v,o}_proj, self_attn.{q,k}_norm, post_attention_layernorm,
 * mlp.{gate,up,down}_proj}, model.norm, lm_head (absent when tied).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/config.h"
#include "model/family.h"

static void sdar_default(llada_config_t *c) {
    *c = (llada_config_t){
        .d_model = 2560,
        .n_layers = 36,
        .n_heads = 32,
        .n_kv_heads = 8,
        .head_dim = 128,
        .mlp_hidden_size = 9728,
        .vocab_size = 151936,
        .embedding_size = 151936,
        .max_sequence_length = 32768,
        .rope_theta = 1e6,
        .rms_norm_eps = 1e-6,
        .weight_tying = true,
        .mask_token_id = 151669,
        .eos_token_id = 151645,
        .pad_token_id = 151643,
        .eot_token_id = 151645,
        .bos_token_id = -1,
        .dtype = WT_BF16,
        .qk_norm = true,
        .attn_block = 4,
        .default_policy = "dynamic:0.85",
    };
}

static int parse(llada_config_t *c, json_t *o, lerr_t *e) {
    static const char *const act[] = {"silu", NULL}, *const mt[] = {"sdar", NULL};
    if (cfg_need_str(o, "hidden_act", act, e) || cfg_need_str(o, "model_type", mt, e) ||
        cfg_need_null(o, "rope_scaling", e) || cfg_need_bool(o, "use_sliding_window", false, e))
        return -1;
    long long v;
    int r;
    if (family_hf_sizes(c, o, e)) return -1;
#define INT_KEY(key, lo, field) \
    if ((r = cfg_int(o, key, lo, 1 << 30, &v, e)) < 0) return -1; \
    else if (r) c->field = (int)v;
    INT_KEY("intermediate_size", 1, mlp_hidden_size)
    INT_KEY("block_size", 1, attn_block)
    c->head_dim = c->d_model / c->n_heads;
    INT_KEY("head_dim", 2, head_dim)
#undef INT_KEY
    if (c->n_heads % c->n_kv_heads || c->head_dim % 2)
        return lerr_set(e, EXIT_DATA,
                        "config.json: \"num_attention_heads\" %d not a multiple of \"num_key_value_heads\" "
                        "%d, or odd \"head_dim\" %d",
                        c->n_heads, c->n_kv_heads, c->head_dim);
    c->weight_tying = false;
    if (cfg_bool(o, "tie_word_embeddings", &c->weight_tying, e) || cfg_bool(o, "attention_bias", &c->qkv_bias, e))
        return -1;
    c->out_bias = c->qkv_bias;
    /* special ids: Qwen3's defaults only for its vocabulary */
    return family_parse_ids(c, o, c->vocab_size == 151936,
                            "SDAR's 151669 applies only to the 151936-token Qwen3 vocabulary", e);
}

static int sdar_config_parse(llada_config_t *c, const char *json, size_t len, lerr_t *e) {
    static const char *const need[] = {"hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                                       "vocab_size"};
    sdar_default(c);
    json_t *o = cfg_open(json, len, need, ARRAY_LEN(need), "SDAR", e);
    if (!o) return -1;
    int rc = parse(c, o, e);
    json_decref(o);
    return rc;
}

static char *sdar_config_to_json(const llada_config_t *c) {
    json_t *o = family_hf_json_new("SDARForCausalLM", "sdar", c);
#define SETI(k, v) json_object_set_new(o, k, json_integer(v))
    SETI("intermediate_size", c->mlp_hidden_size);
    SETI("head_dim", c->head_dim);
    SETI("block_size", c->attn_block);
    json_object_set_new(o, "attention_bias", json_boolean(c->qkv_bias));
#undef SETI
    return family_hf_json_finish(o, c);
}

static int max_tensors(const llada_config_t *c) { return 15 * c->n_layers + 3; } /* biases included */

static int tensor_specs(const llada_config_t *c, llada_weights_t *w, model_tensor_spec_t *s) {
    int64_t d = c->d_model, hd = c->head_dim, qd = c->n_heads * hd, kvd = c->n_kv_heads * hd, f = c->mlp_hidden_size;
    bool b = c->qkv_bias;
    const family_layer_tensor_t t[] = {FAMILY_LT("input_layernorm.weight", 1, d, 1, attn_norm, true),
                                       FAMILY_LT("self_attn.q_proj.weight", 2, qd, d, q_proj, true),
                                       FAMILY_LT("self_attn.k_proj.weight", 2, kvd, d, k_proj, true),
                                       FAMILY_LT("self_attn.v_proj.weight", 2, kvd, d, v_proj, true),
                                       FAMILY_LT("self_attn.o_proj.weight", 2, d, qd, attn_out, true),
                                       FAMILY_LT("self_attn.q_proj.bias", 1, qd, 1, q_bias, b),
                                       FAMILY_LT("self_attn.k_proj.bias", 1, kvd, 1, k_bias, b),
                                       FAMILY_LT("self_attn.v_proj.bias", 1, kvd, 1, v_bias, b),
                                       FAMILY_LT("self_attn.o_proj.bias", 1, d, 1, out_bias, b),
                                       FAMILY_LT("self_attn.q_norm.weight", 1, hd, 1, q_norm, true),
                                       FAMILY_LT("self_attn.k_norm.weight", 1, hd, 1, k_norm, true),
                                       FAMILY_LT("post_attention_layernorm.weight", 1, d, 1, ff_norm, true),
                                       FAMILY_LT("mlp.gate_proj.weight", 2, f, d, ff_proj, true),
                                       FAMILY_LT("mlp.up_proj.weight", 2, f, d, up_proj, true),
                                       FAMILY_LT("mlp.down_proj.weight", 2, d, f, ff_out, true)};
    static const family_names_t nm = {"model.embed_tokens.weight", "model.layers.%d.%s", "model.norm.weight",
                                      "lm_head.weight"};
    return family_bind(c, w, s, &nm, t, ARRAY_LEN(t), NULL);
}

static const char *const MODEL_TYPES[] = {"sdar", NULL};
static const char *const ARCHITECTURES[] = {"SDARForCausalLM", NULL};

const model_family_t model_family_sdar = {
    .name = "sdar",
    .display = "SDAR",
    .model_types = MODEL_TYPES,
    .architectures = ARCHITECTURES,
    .config_parse = sdar_config_parse,
    .config_to_json = sdar_config_to_json,
    .max_tensors = max_tensors,
    .tensor_specs = tensor_specs,
    .forward_hidden = dense_forward_hidden,
    .head = dense_head,
};
