/* llada2.c — the LLaDA 2.x family (inclusionAI/LLaDA2.0-mini, LLaDA2.1-mini, -flash;
 * llada.md §4.4, field-2026.md): a BailingMoeV2 transformer trained for block diffusion, its
 * config.json keys (LLaDA2MoeConfig), its tensor names. Registered in family.c. Facts from
 * the published modeling_llada2_moe.py (docs/models.md).
 *
 * Graph: forward.c's transformer with
 *   - a fused q/k/v projection (attention.query_key_value, rows q | k | v, optional bias
 *     use_qkv_bias), split by the loader into views (family.c model_split_fused);
 *   - per-head RMSNorm of q and k before RoPE (use_qk_norm, class default true);
 *   - partial RoPE: only the first int(head_dim * partial_rotary_factor) channels of a head
 *     rotate (half-split within them, HF rotate_half), frequencies from that width;
 *   - attention.dense, the output projection, with a bias when use_bias (class default true);
 *   - layers >= first_k_dense_replace (when num_experts is set) a MoE FFN (moe.c): sigmoid
 *     router with expert_bias, group-limited top-k (n_group, topk_group), renormalised
 *     weights times routed_scaling_factor, plus a shared SwiGLU expert of
 *     moe_intermediate_size * num_shared_experts; earlier layers a SwiGLU of
 *     intermediate_size;
 *   - block-causal attention (blockattn.c) over blocks of 32 tokens (the generate() default
 *     block_length; a folder's generation_config.json "block_length" replaces it, load.c)
 *     tiled from position 0; the sampler is denoise/bdsample.c (LLaDA 2.0's
 *     threshold decoding, 2.1's token editing), the exact block cache blockcache.c.
 * Logits are not shifted (LLaDA2 predicts each position from its own row).
 *
 * Config keys: hidden_size, num_hidden_layers, num_attention_heads, num_key_value_heads,
 * head_dim, vocab_size, intermediate_size, moe_intermediate_size, num_experts,
 * num_experts_per_tok, num_shared_experts, n_group, topk_group, routed_scaling_factor,
 * first_k_dense_replace, use_qkv_bias, use_bias, use_qk_norm, rms_norm_eps, rope_theta,
 * partial_rotary_factor, max_position_embeddings, tie_word_embeddings, pad/eos/mask_token_id
 * (EOS 156892 and mask 156895, generate()'s defaults, only for the 157184-token Ling
 * vocabulary). Refused by name: hidden_act other than silu, rope_scaling, score_function
 * other than sigmoid, norm_head true. Ignored as the published forward ignores them:
 * norm_topk_prob (always renormalised for k > 1), rotary_dim (the width comes from
 * partial_rotary_factor), sliding_window / use_sliding_window (not applied by the attention
 * generate() uses), dropouts, router_dtype (the router runs in fp32 here as there).
 * Tensors: model.word_embeddings; model.layers.N.{input_layernorm,
 * attention.query_key_value.{weight[,bias]}, attention.{query,key}_layernorm,
 * attention.dense.{weight[,bias]}, post_attention_layernorm}; MoE layers:
 * mlp.gate.{weight,expert_bias}, mlp.experts.E.{gate,up,down}_proj,
 * mlp.shared_experts.{gate,up,down}_proj; dense layers: mlp.{gate,up,down}_proj;
 * model.norm, lm_head (absent when tied).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/config.h"
#include "model/family.h"

/* LLaDA2.0-mini's published sizes and generate()'s ids and thresholds. */
static void llada2_default(llada_config_t *c) {
    *c = (llada_config_t){
        .d_model = 2048,
        .n_layers = 20,
        .n_heads = 16,
        .n_kv_heads = 4,
        .head_dim = 128,
        .mlp_hidden_size = 5120,
        .vocab_size = 157184,
        .embedding_size = 157184,
        .max_sequence_length = 16384,
        .rope_theta = 10000,
        .rms_norm_eps = 1e-5,
        .mask_token_id = 156895,
        .eos_token_id = 156892,
        .pad_token_id = 156892,
        .eot_token_id = -1,
        .bos_token_id = -1,
        .dtype = WT_BF16,
        .qk_norm = true,
        .out_bias = true,
        .n_experts = 256,
        .n_experts_per_tok = 8,
        .expert_hidden_size = 512,
        .router_sigmoid = true,
        .router_expert_bias = true,
        .n_group = 8,
        .topk_group = 4,
        .routed_scaling = 2.5,
        .attn_block = 32,
        .default_policy = "dynamic:0.95",
    };
}

static int parse_moe(llada_config_t *c, json_t *o, lerr_t *e) {
    long long v;
    int r, first_dense = 0, shared = 0;
    json_t *ne = json_object_get(o, "num_experts");
    if (!ne || json_is_null(ne)) { /* num_experts None: every layer dense */
        c->n_experts = 0;
        c->moe_layers = 0;
        return 0;
    }
#define INT_KEY(key, lo, hi, dst) \
    if ((r = cfg_int(o, key, lo, hi, &v, e)) < 0) return -1; \
    else if (r) dst = (int)v;
    INT_KEY("num_experts", 1, MODEL_MAX_EXPERTS, c->n_experts)
    INT_KEY("num_experts_per_tok", 1, MODEL_MAX_EXPERTS, c->n_experts_per_tok)
    INT_KEY("moe_intermediate_size", 1, 1 << 30, c->expert_hidden_size)
    INT_KEY("num_shared_experts", 0, 1 << 10, shared)
    INT_KEY("n_group", 1, MODEL_MAX_EXPERTS, c->n_group)
    INT_KEY("topk_group", 1, MODEL_MAX_EXPERTS, c->topk_group)
    INT_KEY("first_k_dense_replace", 0, 1 << 30, first_dense)
#undef INT_KEY
    if (!json_object_get(o, "moe_intermediate_size"))
        return lerr_set(e, EXIT_DATA, "config.json: \"num_experts\" needs \"moe_intermediate_size\"");
    if (cfg_num(o, "routed_scaling_factor", &c->routed_scaling, e) < 0) return -1;
    int E = c->n_experts, G = c->n_group;
    if (E % G || E / G < 2)
        return lerr_set(e, EXIT_DATA,
                        "config.json: \"num_experts\" %d must split into \"n_group\" %d groups of at "
                        "least 2 experts",
                        E, G);
    if (c->topk_group > G)
        return lerr_set(e, EXIT_DATA, "config.json: \"topk_group\" %d > \"n_group\" %d", c->topk_group, G);
    if (c->n_experts_per_tok > c->topk_group * (E / G))
        return lerr_set(e, EXIT_DATA,
                        "config.json: \"num_experts_per_tok\" %d > the %d experts of \"topk_group\" %d "
                        "groups",
                        c->n_experts_per_tok, c->topk_group * (E / G), c->topk_group);
    c->shared_expert_hidden_size = c->expert_hidden_size * shared;
    if (c->n_layers > MODEL_MAX_MOE_LAYERS)
        return lerr_set(e, EXIT_DATA, "config.json: %d layers; MoE models may have at most %d", c->n_layers,
                        MODEL_MAX_MOE_LAYERS);
    c->moe_layers = 0;
    for (int l = first_dense; l < c->n_layers; l++) c->moe_layers |= 1ULL << l;
    return 0;
}

static int parse(llada_config_t *c, json_t *o, lerr_t *e) {
    static const char *const act[] = {"silu", NULL}, *const sf[] = {"sigmoid", NULL};
    if (cfg_need_str(o, "hidden_act", act, e) || cfg_need_null(o, "rope_scaling", e) ||
        cfg_need_str(o, "score_function", sf, e) || cfg_need_bool(o, "norm_head", false, e))
        return -1;
    long long v;
    int r;
    if (family_hf_sizes(c, o, e)) return -1;
    if ((r = cfg_int(o, "intermediate_size", 1, 1 << 30, &v, e)) < 0) return -1;
    if (r) c->mlp_hidden_size = (int)v;
    c->head_dim = c->d_model / c->n_heads;
    if ((r = cfg_int(o, "head_dim", 2, 1 << 30, &v, e)) < 0) return -1;
    if (r) c->head_dim = (int)v;
    if (c->n_heads % c->n_kv_heads)
        return lerr_set(e, EXIT_DATA,
                        "config.json: \"num_attention_heads\" %d not a multiple of \"num_key_value_heads\" %d",
                        c->n_heads, c->n_kv_heads);
    double prf = 0.5;
    if (cfg_num(o, "partial_rotary_factor", &prf, e) < 0) return -1;
    c->rope_dim = (int)(c->head_dim * prf); /* HF: int(head_dim * partial_rotary_factor) */
    if (prf > 1 || c->rope_dim < 2 || c->rope_dim % 2)
        return lerr_set(e, EXIT_DATA,
                        "config.json: \"partial_rotary_factor\" %g of \"head_dim\" %d gives %d rotary "
                        "channels (must be even, 2..head_dim)",
                        prf, c->head_dim, c->rope_dim);
    if (c->rope_dim == c->head_dim) c->rope_dim = 0;
    if (cfg_bool(o, "tie_word_embeddings", &c->weight_tying, e) || cfg_bool(o, "use_qkv_bias", &c->qkv_bias, e) ||
        cfg_bool(o, "use_bias", &c->out_bias, e) || cfg_bool(o, "use_qk_norm", &c->qk_norm, e))
        return -1;
    if (parse_moe(c, o, e)) return -1;
    uint64_t all = c->n_layers >= 64 ? ~0ULL : (1ULL << c->n_layers) - 1;
    if (c->moe_layers != all && !json_object_get(o, "intermediate_size"))
        return lerr_set(e, EXIT_DATA,
                        "config.json: dense layers (first_k_dense_replace, or no num_experts) need "
                        "\"intermediate_size\"");
    /* special ids: generate()'s EOS 156892 and mask 156895 only for the Ling vocabulary */
    return family_parse_ids(c, o, c->vocab_size == 157184,
                            "LLaDA2's 156895 applies only to the 157184-token Ling vocabulary", e);
}

static int llada2_config_parse(llada_config_t *c, const char *json, size_t len, lerr_t *e) {
    static const char *const need[] = {"hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size"};
    llada2_default(c);
    json_t *o = cfg_open(json, len, need, ARRAY_LEN(need), "LLaDA2", e);
    if (!o) return -1;
    int rc = parse(c, o, e);
    json_decref(o);
    return rc;
}

static char *llada2_config_to_json(const llada_config_t *c) {
    json_t *o = family_hf_json_new("LLaDA2MoeModelLM", "llada2_moe", c);
#define SETI(k, v) json_object_set_new(o, k, json_integer(v))
    SETI("intermediate_size", c->mlp_hidden_size);
    SETI("head_dim", c->head_dim);
    if (c->n_experts > 0) {
        int first = 0;
        while (first < c->n_layers && !((c->moe_layers >> first) & 1)) first++;
        SETI("num_experts", c->n_experts);
        SETI("num_experts_per_tok", c->n_experts_per_tok);
        SETI("moe_intermediate_size", c->expert_hidden_size);
        SETI("num_shared_experts", c->expert_hidden_size ? c->shared_expert_hidden_size / c->expert_hidden_size : 0);
        SETI("n_group", c->n_group);
        SETI("topk_group", c->topk_group);
        SETI("first_k_dense_replace", first);
        json_object_set_new(o, "routed_scaling_factor", json_real(c->routed_scaling));
        json_object_set_new(o, "score_function", json_string("sigmoid"));
    } else json_object_set_new(o, "num_experts", json_null());
    json_object_set_new(o, "use_qkv_bias", json_boolean(c->qkv_bias));
    json_object_set_new(o, "use_bias", json_boolean(c->out_bias));
    json_object_set_new(o, "use_qk_norm", json_boolean(c->qk_norm));
    json_object_set_new(o, "partial_rotary_factor", json_real((double)model_rope_dim(c) / c->head_dim));
#undef SETI
    return family_hf_json_finish(o, c);
}

static int max_tensors(const llada_config_t *c) { return c->n_layers * (14 + 3 * c->n_experts) + 3; }

/* A layer's FFN: the router (+ expert_bias), experts and shared experts of a MoE layer, else
 * a dense SwiGLU. */
static void ffn_specs(const llada_config_t *c, llada_layer_t *L, int l, model_tensor_spec_t *s, int *n) {
    int64_t d = c->d_model, E = c->n_experts;
    if ((c->moe_layers >> l) & 1) {
        int64_t F = c->expert_hidden_size, S = c->shared_expert_hidden_size;
        family_add(s, n, &L->router, 2, E, d, "model.layers.%d.mlp.gate.weight", l);
        family_add(s, n, &L->router_bias, 1, E, 1, "model.layers.%d.mlp.gate.expert_bias", l);
        for (int x = 0; x < E; x++) {
            family_add(s, n, &L->exp_gate[x], 2, F, d, "model.layers.%d.mlp.experts.%d.gate_proj.weight", l, x);
            family_add(s, n, &L->exp_up[x], 2, F, d, "model.layers.%d.mlp.experts.%d.up_proj.weight", l, x);
            family_add(s, n, &L->exp_down[x], 2, d, F, "model.layers.%d.mlp.experts.%d.down_proj.weight", l, x);
        }
        if (S > 0) {
            family_add(s, n, &L->sh_gate, 2, S, d, "model.layers.%d.mlp.shared_experts.gate_proj.weight", l);
            family_add(s, n, &L->sh_up, 2, S, d, "model.layers.%d.mlp.shared_experts.up_proj.weight", l);
            family_add(s, n, &L->sh_down, 2, d, S, "model.layers.%d.mlp.shared_experts.down_proj.weight", l);
        }
    } else {
        int64_t F = c->mlp_hidden_size;
        family_add(s, n, &L->ff_proj, 2, F, d, "model.layers.%d.mlp.gate_proj.weight", l);
        family_add(s, n, &L->up_proj, 2, F, d, "model.layers.%d.mlp.up_proj.weight", l);
        family_add(s, n, &L->ff_out, 2, d, F, "model.layers.%d.mlp.down_proj.weight", l);
    }
}

static int tensor_specs(const llada_config_t *c, llada_weights_t *w, model_tensor_spec_t *s) {
    int64_t d = c->d_model, hd = c->head_dim, qd = c->n_heads * hd, fused = (c->n_heads + 2 * c->n_kv_heads) * hd;
    const family_layer_tensor_t t[] = {FAMILY_LT("input_layernorm.weight", 1, d, 1, attn_norm, true),
                                       FAMILY_LT("attention.query_key_value.weight", 2, fused, d, qkv_proj, true),
                                       FAMILY_LT("attention.query_key_value.bias", 1, fused, 1, qkv_b, c->qkv_bias),
                                       FAMILY_LT("attention.query_layernorm.weight", 1, hd, 1, q_norm, c->qk_norm),
                                       FAMILY_LT("attention.key_layernorm.weight", 1, hd, 1, k_norm, c->qk_norm),
                                       FAMILY_LT("attention.dense.weight", 2, d, qd, attn_out, true),
                                       FAMILY_LT("attention.dense.bias", 1, d, 1, out_bias, c->out_bias),
                                       FAMILY_LT("post_attention_layernorm.weight", 1, d, 1, ff_norm, true)};
    static const family_names_t nm = {"model.word_embeddings.weight", "model.layers.%d.%s", "model.norm.weight",
                                      "lm_head.weight"};
    return family_bind(c, w, s, &nm, t, ARRAY_LEN(t), ffn_specs);
}

static const char *const MODEL_TYPES[] = {"llada2_moe", NULL};
static const char *const ARCHITECTURES[] = {"LLaDA2MoeModelLM", NULL};

const model_family_t model_family_llada2 = {
    .name = "llada2",
    .display = "LLaDA2",
    .block_from_gencfg = true,
    .model_types = MODEL_TYPES,
    .architectures = ARCHITECTURES,
    .config_parse = llada2_config_parse,
    .config_to_json = llada2_config_to_json,
    .max_tensors = max_tensors,
    .tensor_specs = tensor_specs,
    .forward_hidden = dense_forward_hidden,
    .head = dense_head,
};
