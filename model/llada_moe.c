/* llada_moe.c — the LLaDA-MoE family (inclusionAI/LLaDA-MoE-7B-A1B-Base/-Instruct;
 * llada.md §4.3): an OLMoE-style transformer run bidirectionally, its config.json keys, its
 * tensor names. Registered in family.c. Its sampler is LLaDA's (linear schedule, no shift).
 *
 * Graph: forward.c's transformer with per-head RMSNorm on q and k before RoPE
 * (qk_layernorm), optional biases on q/k/v/o (attention_bias), optional clipping (clip_qkv),
 * and in the layers whose moe_layer_freq entry is non-zero the MoE FFN of moe.c (softmax
 * router, optional expert_bias added to the probabilities, top-k without renormalisation,
 * optional shared expert); other layers a dense SwiGLU of dense_intermediate_size.
 *
 * Config keys (LLaDAMoEConfig): hidden_size, num_hidden_layers, num_attention_heads,
 * num_key_value_heads, vocab_size, dense_intermediate_size, expert_intermediate_size,
 * shared_expert_intermediate_size, num_experts, num_experts_per_tok, moe_layer_freq,
 * qk_layernorm, attention_bias, clip_qkv, moe_router_enable_expert_bias, rope_theta,
 * rms_norm_eps, max_position_embeddings, tie_word_embeddings, mask/eos/pad/bos_token_id.
 * The published forward ignores norm_topk_prob, moe_router_score_function,
 * routed_scaling_factor and router_num_group/topk_group (softmax, no renormalisation, no
 * scaling, no groups); so does this one. Refused by name: hidden_act other than silu,
 * rope_scaling, partial_rotary_factor other than 1 (or the class default -1).
 * Recognised by architectures "LLaDAMoEModelLM" (its config says model_type "llada") or
 * model_type "lladamoe".
 * Tensors: model.embed_tokens; model.layers.N.{input_layernorm, post_attention_layernorm,
 * self_attn.{q,k,v,o}_proj.{weight[,bias]}, self_attn.{q,k}_norm}; MoE layers:
 * mlp.gate.weight [E, d], mlp.expert_bias [E], mlp.experts.E.{gate,up,down}_proj.weight,
 * shared_expert.{gate,up,down}_proj.weight; dense layers: mlp.{gate,up,down}_proj.weight;
 * model.norm, lm_head.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/config.h"
#include "model/family.h"

/* LLaDA-MoE-7B-A1B's published sizes (llada.md §4.3) and Ling-2.0 special ids. */
static void moe_default(llada_config_t *c) {
    *c = (llada_config_t){
        .d_model = 2048,
        .n_layers = 16,
        .n_heads = 16,
        .n_kv_heads = 16,
        .head_dim = 128,
        .mlp_hidden_size = 8192,
        .vocab_size = 157184,
        .embedding_size = 157184,
        .max_sequence_length = 8192,
        .rope_theta = 50000,
        .rms_norm_eps = 1e-5,
        .mask_token_id = 156895,
        .eos_token_id = 156892,
        .pad_token_id = 156892,
        .eot_token_id = -1,
        .bos_token_id = -1,
        .dtype = WT_BF16,
        .qk_norm = true,
        .n_experts = 64,
        .n_experts_per_tok = 8,
        .expert_hidden_size = 1024,
    };
}

static int check_unsupported(json_t *o, lerr_t *e) {
    static const char *const act[] = {"silu", NULL};
    if (cfg_need_str(o, "hidden_act", act, e) || cfg_need_null(o, "rope_scaling", e)) return -1;
    double prf = 1;
    json_t *p = json_object_get(o, "partial_rotary_factor");
    if (p && json_is_number(p) && json_number_value(p) == -1) return 0; /* the class default: unset */
    if (cfg_num(o, "partial_rotary_factor", &prf, e) < 0) return -1;
    if (prf != 1) return lerr_set(e, EXIT_DATA, "config.json: unsupported setting \"partial_rotary_factor\": %g", prf);
    return 0;
}

static int parse_sizes(llada_config_t *c, json_t *o, lerr_t *e) {
    long long v;
    const long long BIG = 1 << 30;
    int r;
    if (family_hf_sizes(c, o, e)) return -1;
#define INT_KEY(key, lo, hi, field) \
    if ((r = cfg_int(o, key, lo, hi, &v, e)) < 0) return -1; \
    else if (r) c->field = (int)v;
    INT_KEY("dense_intermediate_size", 1, BIG, mlp_hidden_size)
    INT_KEY("expert_intermediate_size", 1, BIG, expert_hidden_size)
    INT_KEY("num_experts", 1, MODEL_MAX_EXPERTS, n_experts)
    INT_KEY("num_experts_per_tok", 1, MODEL_MAX_EXPERTS, n_experts_per_tok)
    c->shared_expert_hidden_size = 0;
    INT_KEY("shared_expert_intermediate_size", 1, BIG, shared_expert_hidden_size)
#undef INT_KEY
    if (c->n_experts_per_tok > c->n_experts)
        return lerr_set(e, EXIT_DATA, "config.json: \"num_experts_per_tok\" %d > \"num_experts\" %d",
                        c->n_experts_per_tok, c->n_experts);
    double clip = 0;
    if (cfg_num(o, "clip_qkv", &clip, e) < 0) return -1;
    c->clip_qkv = (float)clip;
    if (c->d_model % c->n_heads || c->n_heads % c->n_kv_heads)
        return lerr_set(e, EXIT_DATA,
                        "config.json: \"hidden_size\" %d, \"num_attention_heads\" %d and "
                        "\"num_key_value_heads\" %d do not divide",
                        c->d_model, c->n_heads, c->n_kv_heads);
    c->head_dim = c->d_model / c->n_heads;
    if (c->head_dim % 2) return lerr_set(e, EXIT_DATA, "config.json: head size %d must be even for RoPE", c->head_dim);
    /* moe_layer_freq: one entry per layer, 0 = dense FFN; absent = every layer MoE */
    json_t *f = json_object_get(o, "moe_layer_freq");
    if (c->n_layers > MODEL_MAX_MOE_LAYERS)
        return lerr_set(e, EXIT_DATA, "config.json: %d layers; MoE models may have at most %d", c->n_layers,
                        MODEL_MAX_MOE_LAYERS);
    c->moe_layers = c->n_layers == 64 ? ~0ULL : (1ULL << c->n_layers) - 1;
    if (f && !json_is_null(f)) {
        if (!json_is_array(f) || (int)json_array_size(f) != c->n_layers)
            return lerr_set(e, EXIT_DATA, "config.json: \"moe_layer_freq\" must list one integer per layer (%d)",
                            c->n_layers);
        c->moe_layers = 0;
        for (int l = 0; l < c->n_layers; l++) {
            json_t *x = json_array_get(f, (size_t)l);
            if (!json_is_integer(x) || json_integer_value(x) < 0)
                return lerr_set(e, EXIT_DATA, "config.json: \"moe_layer_freq\"[%d] must be an integer >= 0", l);
            if (json_integer_value(x)) c->moe_layers |= 1ULL << l;
        }
    }
    return 0;
}

static int moe_config_parse(llada_config_t *c, const char *json, size_t len, lerr_t *e) {
    static const char *const need[] = {"hidden_size", "num_hidden_layers",   "num_attention_heads",     "vocab_size",
                                       "num_experts", "num_experts_per_tok", "expert_intermediate_size"};
    moe_default(c);
    json_t *o = cfg_open(json, len, need, ARRAY_LEN(need), "LLaDA-MoE", e);
    if (!o) return -1;
    int rc = -1;
    bool qkn = false;
    c->qk_norm = false;
    /* special ids: the Ling-2.0 defaults only for its 157184-token vocabulary (the mask id
     * is reported absent from LLaDA-MoE's config.json) */
    if (check_unsupported(o, e) || parse_sizes(c, o, e) || cfg_bool(o, "tie_word_embeddings", &c->weight_tying, e) ||
        cfg_bool(o, "attention_bias", &c->qkv_bias, e) || cfg_bool(o, "qk_layernorm", &qkn, e) ||
        cfg_bool(o, "moe_router_enable_expert_bias", &c->router_expert_bias, e) ||
        family_parse_ids(c, o, c->vocab_size == 157184,
                         "LLaDA-MoE's 156895 applies only to its 157184-token vocabulary", e))
        goto out;
    c->qk_norm = qkn;
    c->out_bias = c->qkv_bias;
    if (c->moe_layers != ((c->n_layers == 64 ? ~0ULL : (1ULL << c->n_layers) - 1)) &&
        !json_object_get(o, "dense_intermediate_size")) {
        lerr_set(e, EXIT_DATA, "config.json: dense layers in \"moe_layer_freq\" need \"dense_intermediate_size\"");
        goto out;
    }
    rc = 0;
out:
    json_decref(o);
    return rc;
}

static char *moe_config_to_json(const llada_config_t *c) {
    json_t *o = family_hf_json_new("LLaDAMoEModelLM", "llada", c);
    json_t *freq = json_array();
#define SETI(k, v) json_object_set_new(o, k, json_integer(v))
    SETI("dense_intermediate_size", c->mlp_hidden_size);
    SETI("expert_intermediate_size", c->expert_hidden_size);
    if (c->shared_expert_hidden_size > 0) SETI("shared_expert_intermediate_size", c->shared_expert_hidden_size);
    else json_object_set_new(o, "shared_expert_intermediate_size", json_null());
    SETI("num_experts", c->n_experts);
    SETI("num_experts_per_tok", c->n_experts_per_tok);
    for (int l = 0; l < c->n_layers; l++) json_array_append_new(freq, json_integer((c->moe_layers >> l) & 1));
    json_object_set_new(o, "moe_layer_freq", freq);
    json_object_set_new(o, "qk_layernorm", json_boolean(c->qk_norm));
    json_object_set_new(o, "attention_bias", json_boolean(c->qkv_bias));
    json_object_set_new(o, "moe_router_enable_expert_bias", json_boolean(c->router_expert_bias));
    json_object_set_new(o, "moe_router_score_function", json_string("softmax"));
    json_object_set_new(o, "norm_topk_prob", json_false());
    if (c->clip_qkv > 0) json_object_set_new(o, "clip_qkv", json_real(c->clip_qkv));
    json_object_set_new(o, "partial_rotary_factor", json_real(1.0));
#undef SETI
    return family_hf_json_finish(o, c);
}

/* ---- tensors ---- */

static int max_tensors(const llada_config_t *c) { return c->n_layers * (20 + 3 * c->n_experts) + 3; }

/* A layer's FFN: the router, experts and shared expert of a MoE layer, else a dense SwiGLU. */
static void ffn_specs(const llada_config_t *c, llada_layer_t *L, int l, model_tensor_spec_t *s, int *n) {
    int64_t d = c->d_model, E = c->n_experts;
    if ((c->moe_layers >> l) & 1) {
        int64_t F = c->expert_hidden_size, S = c->shared_expert_hidden_size;
        family_add(s, n, &L->router, 2, E, d, "model.layers.%d.mlp.gate.weight", l);
        if (c->router_expert_bias) family_add(s, n, &L->router_bias, 1, E, 1, "model.layers.%d.mlp.expert_bias", l);
        for (int x = 0; x < E; x++) {
            family_add(s, n, &L->exp_gate[x], 2, F, d, "model.layers.%d.mlp.experts.%d.gate_proj.weight", l, x);
            family_add(s, n, &L->exp_up[x], 2, F, d, "model.layers.%d.mlp.experts.%d.up_proj.weight", l, x);
            family_add(s, n, &L->exp_down[x], 2, d, F, "model.layers.%d.mlp.experts.%d.down_proj.weight", l, x);
        }
        if (S > 0) {
            family_add(s, n, &L->sh_gate, 2, S, d, "model.layers.%d.shared_expert.gate_proj.weight", l);
            family_add(s, n, &L->sh_up, 2, S, d, "model.layers.%d.shared_expert.up_proj.weight", l);
            family_add(s, n, &L->sh_down, 2, d, S, "model.layers.%d.shared_expert.down_proj.weight", l);
        }
    } else {
        int64_t F = c->mlp_hidden_size;
        family_add(s, n, &L->ff_proj, 2, F, d, "model.layers.%d.mlp.gate_proj.weight", l);
        family_add(s, n, &L->up_proj, 2, F, d, "model.layers.%d.mlp.up_proj.weight", l);
        family_add(s, n, &L->ff_out, 2, d, F, "model.layers.%d.mlp.down_proj.weight", l);
    }
}

static int tensor_specs(const llada_config_t *c, llada_weights_t *w, model_tensor_spec_t *s) {
    int64_t d = c->d_model, hd = c->head_dim, qd = c->n_heads * hd, kvd = c->n_kv_heads * hd;
    const family_layer_tensor_t t[] = {FAMILY_LT("input_layernorm.weight", 1, d, 1, attn_norm, true),
                                       FAMILY_LT("self_attn.q_proj.weight", 2, qd, d, q_proj, true),
                                       FAMILY_LT("self_attn.k_proj.weight", 2, kvd, d, k_proj, true),
                                       FAMILY_LT("self_attn.v_proj.weight", 2, kvd, d, v_proj, true),
                                       FAMILY_LT("self_attn.o_proj.weight", 2, d, qd, attn_out, true),
                                       FAMILY_LT("self_attn.q_proj.bias", 1, qd, 1, q_bias, c->qkv_bias),
                                       FAMILY_LT("self_attn.k_proj.bias", 1, kvd, 1, k_bias, c->qkv_bias),
                                       FAMILY_LT("self_attn.v_proj.bias", 1, kvd, 1, v_bias, c->qkv_bias),
                                       FAMILY_LT("self_attn.o_proj.bias", 1, d, 1, out_bias, c->out_bias),
                                       FAMILY_LT("self_attn.q_norm.weight", 1, hd, 1, q_norm, c->qk_norm),
                                       FAMILY_LT("self_attn.k_norm.weight", 1, hd, 1, k_norm, c->qk_norm),
                                       FAMILY_LT("post_attention_layernorm.weight", 1, d, 1, ff_norm, true)};
    static const family_names_t nm = {"model.embed_tokens.weight", "model.layers.%d.%s", "model.norm.weight",
                                      "lm_head.weight"};
    return family_bind(c, w, s, &nm, t, ARRAY_LEN(t), ffn_specs);
}

/* ---- the family entry ---- */

static const char *const MODEL_TYPES[] = {"lladamoe", "llada_moe", NULL};
static const char *const ARCHITECTURES[] = {"LLaDAMoEModelLM", NULL};

const model_family_t model_family_llada_moe = {
    .name = "llada_moe",
    .display = "LLaDA-MoE",
    .model_types = MODEL_TYPES,
    .architectures = ARCHITECTURES,
    .config_parse = moe_config_parse,
    .config_to_json = moe_config_to_json,
    .max_tensors = max_tensors,
    .tensor_specs = tensor_specs,
    .forward_hidden = dense_forward_hidden,
    .head = dense_head,
};
