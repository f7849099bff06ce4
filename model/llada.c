/* llada.c — the LLaDA family (llada.md §2): its config.json keys, its tensor names, and its
 * graph (the dense transformer of forward.c). Registered in family.c.
 *
 * Config: the keys of the HF LLaDA config (llada.md §2.1). A key whose value asks for
 * something this engine does not implement is an error naming the key, so a variant
 * checkpoint never runs silently wrong. Keys that only matter for training or other
 * engines (dropouts, init_*, flash_attention, precision, auto_map, ...) are ignored.
 * Tensors (llada.md §2.2): model.transformer.{wte, blocks.N.{attn_norm, q_proj, k_proj,
 * v_proj, attn_out, ff_norm, ff_proj, up_proj, ff_out}, ln_f, ff_out}.weight (model.h).
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "model/config.h"
#include "model/family.h"

void llada_config_default(llada_config_t *c) {
    *c = (llada_config_t){
        .d_model = 4096,
        .n_layers = 32,
        .n_heads = 32,
        .n_kv_heads = 32,
        .head_dim = 128,
        .mlp_hidden_size = 12288,
        .vocab_size = 126464,
        .embedding_size = 126464,
        .max_sequence_length = 4096,
        .rope_theta = 500000.0,
        .rms_norm_eps = 1e-5,
        .weight_tying = false,
        .mask_token_id = 126336,
        .eos_token_id = 126081,
        .pad_token_id = 126081,
        .eot_token_id = 126348,
        .bos_token_id = 126080,
        .dtype = WT_BF16,
    };
}

static int check_unsupported(json_t *o, lerr_t *e) {
    static const char *const ln[] = {"rms", NULL}, *const act[] = {"silu", "swiglu", NULL},
                             *const blk[] = {"llama", NULL}, *const mt[] = {"llada", NULL};
    if (cfg_need_bool(o, "rope", true, e) || cfg_need_bool(o, "alibi", false, e) ||
        cfg_need_bool(o, "include_bias", false, e) || cfg_need_bool(o, "include_qkv_bias", false, e) ||
        cfg_need_bool(o, "bias_for_layer_norm", false, e) || cfg_need_bool(o, "attention_layer_norm", false, e) ||
        cfg_need_bool(o, "layer_norm_with_affine", true, e) || cfg_need_bool(o, "scale_logits", false, e) ||
        cfg_need_bool(o, "input_emb_norm", false, e) || cfg_need_bool(o, "use_cache", false, e))
        return -1;
    if (cfg_need_str(o, "layer_norm_type", ln, e) || cfg_need_str(o, "activation_type", act, e) ||
        cfg_need_str(o, "block_type", blk, e) || cfg_need_str(o, "model_type", mt, e))
        return -1;
    long long g = 1;
    if (cfg_int(o, "block_group_size", 1, 1 << 20, &g, e) < 0) return -1;
    if (g != 1) return lerr_set(e, EXIT_DATA, "config.json: unsupported setting \"block_group_size\": %lld", g);
    return cfg_need_null(o, "clip_qkv", e) || cfg_need_null(o, "rope_scaling", e) ? -1 : 0;
}

static int parse_sizes(llada_config_t *c, json_t *o, lerr_t *e) {
    long long v;
    const long long BIG = 1 << 30;
    int r;
#define INT_KEY(key, lo, field) \
    if ((r = cfg_int(o, key, lo, BIG, &v, e)) < 0) return -1; \
    else if (r) c->field = (int)v;
    INT_KEY("d_model", 1, d_model)
    INT_KEY("n_layers", 1, n_layers)
    INT_KEY("n_heads", 1, n_heads)
    c->n_kv_heads = c->n_heads;
    INT_KEY("n_kv_heads", 1, n_kv_heads)
    INT_KEY("max_sequence_length", 1, max_sequence_length)
    INT_KEY("vocab_size", 1, vocab_size)
    c->embedding_size = c->vocab_size;
    INT_KEY("embedding_size", 1, embedding_size)
    json_t *mq = json_object_get(o, "multi_query_attention");
    if (mq && json_is_true(mq)) c->n_kv_heads = 1;
    double ratio = 0;
    if (cfg_num(o, "mlp_ratio", &ratio, e) < 0) return -1;
    if ((r = cfg_int(o, "mlp_hidden_size", 1, BIG, &v, e)) < 0) return -1;
    if (r) c->mlp_hidden_size = (int)v;
    else if (ratio > 0) c->mlp_hidden_size = (int)(ratio * c->d_model);
    if (cfg_num(o, "rope_theta", &c->rope_theta, e) < 0) return -1;
    if (cfg_num(o, "rms_norm_eps", &c->rms_norm_eps, e) < 0) return -1;
#undef INT_KEY
    return 0;
}

/* LLaDA-8B's ids are defaults only for LLaDA-8B's vocabulary: another one (iLLaDA's 155136
 * tokens, mask id 5) would otherwise run with a valid but wrong mask id. */
static int parse_ids(llada_config_t *c, json_t *o, lerr_t *e) {
    bool llada_vocab = c->vocab_size == 126464 && c->embedding_size == 126464;
    return family_parse_ids(c, o, llada_vocab,
                            "LLaDA-8B's 126336 applies only to its 126464-token vocabulary; iLLaDA: 5", e);
}

static int check_shapes(const llada_config_t *c, lerr_t *e) {
    if (c->d_model % c->n_heads)
        return lerr_set(e, EXIT_DATA, "config.json: \"d_model\" %d is not a multiple of \"n_heads\" %d", c->d_model,
                        c->n_heads);
    if (c->n_heads % c->n_kv_heads)
        return lerr_set(e, EXIT_DATA, "config.json: \"n_heads\" %d is not a multiple of \"n_kv_heads\" %d", c->n_heads,
                        c->n_kv_heads);
    if ((c->d_model / c->n_heads) % 2)
        return lerr_set(e, EXIT_DATA, "config.json: head size d_model/n_heads = %d must be even for RoPE",
                        c->d_model / c->n_heads);
    if (c->embedding_size < c->vocab_size)
        return lerr_set(e, EXIT_DATA, "config.json: \"embedding_size\" %d < \"vocab_size\" %d", c->embedding_size,
                        c->vocab_size);
    if (c->mlp_hidden_size <= 0) return lerr_set(e, EXIT_DATA, "config.json: \"mlp_hidden_size\" missing");
    return 0;
}

int llada_config_parse(llada_config_t *c, const char *json, size_t len, lerr_t *e) {
    static const char *const need[] = {"d_model", "n_layers", "n_heads", "vocab_size"};
    llada_config_default(c);
    json_t *o = cfg_open(json, len, need, ARRAY_LEN(need), "LLaDA", e);
    if (!o) return -1;
    int rc = -1;
    if (check_unsupported(o, e) || parse_sizes(c, o, e)) goto out;
    c->weight_tying = false;
    if (cfg_bool(o, "weight_tying", &c->weight_tying, e)) goto out;
    if (!json_object_get(o, "mlp_hidden_size") && !json_object_get(o, "mlp_ratio")) c->mlp_hidden_size = 4 * c->d_model;
    if (check_shapes(c, e)) goto out;
    c->head_dim = c->d_model / c->n_heads;
    if (parse_ids(c, o, e)) goto out;
    rc = 0;
out:
    json_decref(o);
    return rc;
}

char *llada_config_to_json(const llada_config_t *c) {
    json_t *o = json_object();
    json_t *arch = json_array();
    json_array_append_new(arch, json_string("LLaDAModelLM"));
    json_object_set_new(o, "architectures", arch);
    json_object_set_new(o, "model_type", json_string("llada"));
#define SETI(k, v) json_object_set_new(o, k, json_integer(v))
#define SETB(k, v) json_object_set_new(o, k, json_boolean(v))
    SETI("d_model", c->d_model);
    SETI("n_layers", c->n_layers);
    SETI("n_heads", c->n_heads);
    SETI("n_kv_heads", c->n_kv_heads);
    SETI("mlp_hidden_size", c->mlp_hidden_size);
    SETI("mlp_ratio", c->d_model ? (c->mlp_hidden_size + c->d_model - 1) / c->d_model : 4);
    SETI("vocab_size", c->vocab_size);
    SETI("embedding_size", c->embedding_size);
    SETI("max_sequence_length", c->max_sequence_length);
    json_object_set_new(o, "activation_type", json_string("silu"));
    json_object_set_new(o, "block_type", json_string("llama"));
    SETI("block_group_size", 1);
    SETB("rope", true);
    json_object_set_new(o, "rope_theta", json_real(c->rope_theta));
    SETB("rope_full_precision", true);
    SETB("alibi", false);
    SETB("flash_attention", false);
    json_object_set_new(o, "layer_norm_type", json_string("rms"));
    json_object_set_new(o, "rms_norm_eps", json_real(c->rms_norm_eps));
    SETB("layer_norm_with_affine", true);
    SETB("bias_for_layer_norm", false);
    SETB("attention_layer_norm", false);
    SETB("include_bias", false);
    SETB("include_qkv_bias", false);
    SETB("weight_tying", c->weight_tying);
    SETB("scale_logits", false);
    SETB("input_emb_norm", false);
    SETB("use_cache", false);
    SETI("mask_token_id", c->mask_token_id);
    SETI("eos_token_id", c->eos_token_id);
    SETI("pad_token_id", c->pad_token_id);
    if (c->eot_token_id >= 0) SETI("eot_token_id", c->eot_token_id);
    if (c->bos_token_id >= 0) SETI("bos_token_id", c->bos_token_id);
#undef SETI
#undef SETB
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(o);
    return s;
}

/* ---- tensors ---- */

static int max_tensors(const llada_config_t *c) { return 9 * c->n_layers + 3; }

static int tensor_specs(const llada_config_t *c, llada_weights_t *w, model_tensor_spec_t *s) {
    int64_t d = c->d_model, qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim, f = c->mlp_hidden_size;
    const family_layer_tensor_t t[] = {
        FAMILY_LT("attn_norm", 1, d, 1, attn_norm, true), FAMILY_LT("q_proj", 2, qd, d, q_proj, true),
        FAMILY_LT("k_proj", 2, kvd, d, k_proj, true),     FAMILY_LT("v_proj", 2, kvd, d, v_proj, true),
        FAMILY_LT("attn_out", 2, d, qd, attn_out, true),  FAMILY_LT("ff_norm", 1, d, 1, ff_norm, true),
        FAMILY_LT("ff_proj", 2, f, d, ff_proj, true),     FAMILY_LT("up_proj", 2, f, d, up_proj, true),
        FAMILY_LT("ff_out", 2, d, f, ff_out, true)};
    static const family_names_t nm = {"model.transformer.wte.weight", "model.transformer.blocks.%d.%s.weight",
                                      "model.transformer.ln_f.weight", "model.transformer.ff_out.weight"};
    return family_bind(c, w, s, &nm, t, ARRAY_LEN(t), NULL);
}

/* ---- the family entry ---- */

static const char *const MODEL_TYPES[] = {"llada", NULL};
static const char *const ARCHITECTURES[] = {"LLaDAModelLM", NULL};

const model_family_t model_family_llada = {
    .name = "llada",
    .display = "LLaDA",
    .model_types = MODEL_TYPES,
    .architectures = ARCHITECTURES,
    .config_parse = llada_config_parse,
    .config_to_json = llada_config_to_json,
    .max_tensors = max_tensors,
    .tensor_specs = tensor_specs,
    .forward_hidden = dense_forward_hidden,
    .head = dense_head,
    .forward_cached = dense_forward_cached,
};
