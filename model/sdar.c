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
        .d_model = 2560, .n_layers = 36, .n_heads = 32, .n_kv_heads = 8, .head_dim = 128,
        .mlp_hidden_size = 9728, .vocab_size = 151936, .embedding_size = 151936,
        .max_sequence_length = 32768, .rope_theta = 1e6, .rms_norm_eps = 1e-6,
        .weight_tying = true, .mask_token_id = 151669, .eos_token_id = 151645,
        .pad_token_id = 151643, .eot_token_id = 151645, .bos_token_id = -1, .dtype = WT_BF16,
        .qk_norm = true, .attn_block = 4, .default_policy = "dynamic:0.85",
    };
}

static int bool_key(json_t *o, const char *k, bool *out, lerr_t *e) {
    json_t *b = json_object_get(o, k);
    if (!b || json_is_null(b)) return 0;
    if (!json_is_boolean(b)) return lerr_set(e, EXIT_DATA, "config.json: \"%s\" must be true or false", k);
    *out = json_is_true(b);
    return 0;
}

static int parse(llada_config_t *c, json_t *o, lerr_t *e) {
    static const char *const act[] = {"silu", NULL}, *const mt[] = {"sdar", NULL};
    if (cfg_need_str(o, "hidden_act", act, e) || cfg_need_str(o, "model_type", mt, e) ||
        cfg_need_null(o, "rope_scaling", e) || cfg_need_bool(o, "use_sliding_window", false, e))
        return -1;
    long long v;
    const long long BIG = 1 << 30;
    int r;
#define INT_KEY(key, lo, field) \
    if ((r = cfg_int(o, key, lo, BIG, &v, e)) < 0) return -1; else if (r) c->field = (int)v;
    INT_KEY("hidden_size", 1, d_model)
    INT_KEY("num_hidden_layers", 1, n_layers)
    INT_KEY("num_attention_heads", 1, n_heads)
    c->n_kv_heads = c->n_heads;
    INT_KEY("num_key_value_heads", 1, n_kv_heads)
    INT_KEY("intermediate_size", 1, mlp_hidden_size)
    INT_KEY("vocab_size", 1, vocab_size)
    INT_KEY("max_position_embeddings", 1, max_sequence_length)
    INT_KEY("block_size", 1, attn_block)
    c->head_dim = c->d_model / c->n_heads;
    INT_KEY("head_dim", 2, head_dim)
#undef INT_KEY
    c->embedding_size = c->vocab_size;
    if (c->n_heads % c->n_kv_heads || c->head_dim % 2)
        return lerr_set(e, EXIT_DATA, "config.json: \"num_attention_heads\" %d not a multiple of \"num_key_value_heads\" "
                        "%d, or odd \"head_dim\" %d", c->n_heads, c->n_kv_heads, c->head_dim);
    if (cfg_num(o, "rope_theta", &c->rope_theta, e) < 0 || cfg_num(o, "rms_norm_eps", &c->rms_norm_eps, e) < 0)
        return -1;
    c->weight_tying = false;
    if (bool_key(o, "tie_word_embeddings", &c->weight_tying, e) || bool_key(o, "attention_bias", &c->qkv_bias, e))
        return -1;
    c->out_bias = c->qkv_bias;
    /* special ids: Qwen3's defaults only for its vocabulary */
    const char *keys[] = {"mask_token_id", "eos_token_id", "pad_token_id", "bos_token_id"};
    int32_t *fields[] = {&c->mask_token_id, &c->eos_token_id, &c->pad_token_id, &c->bos_token_id};
    bool qwen = c->vocab_size == 151936;
    for (int i = 0; i < 4; i++) {
        if ((r = cfg_int(o, keys[i], 0, c->embedding_size - 1, &v, e)) < 0) return -1;
        if (r) *fields[i] = (int32_t)v;
        else if (!qwen) *fields[i] = -1;
    }
    if (!qwen) c->eot_token_id = -1;
    if (c->mask_token_id < 0)
        return lerr_set(e, EXIT_DATA, "config.json: \"mask_token_id\" missing (SDAR's 151669 applies only to the "
                        "151936-token Qwen3 vocabulary; this one has %d)", c->vocab_size);
    if (c->eos_token_id < 0) return lerr_set(e, EXIT_DATA, "config.json: \"eos_token_id\" missing");
    if (c->pad_token_id < 0) c->pad_token_id = c->eos_token_id;
    return 0;
}

static int sdar_config_parse(llada_config_t *c, const char *json, size_t len, lerr_t *e) {
    json_error_t je;
    sdar_default(c);
    json_t *o = json_loadb(json, len, 0, &je);
    if (!o) return lerr_set(e, EXIT_DATA, "config.json: line %d: %s", je.line, je.text);
    int rc = -1;
    if (!json_is_object(o)) lerr_set(e, EXIT_DATA, "config.json: not a JSON object");
    else if (!json_object_get(o, "hidden_size") || !json_object_get(o, "num_hidden_layers") ||
             !json_object_get(o, "num_attention_heads") || !json_object_get(o, "vocab_size") ||
             !json_object_get(o, "intermediate_size"))
        lerr_set(e, EXIT_DATA, "config.json: missing one of \"hidden_size\", \"num_hidden_layers\", "
                 "\"num_attention_heads\", \"intermediate_size\", \"vocab_size\" (not an SDAR config)");
    else rc = parse(c, o, e);
    json_decref(o);
    return rc;
}

static char *sdar_config_to_json(const llada_config_t *c) {
    json_t *o = json_object(), *arch = json_array();
    json_array_append_new(arch, json_string("SDARForCausalLM"));
    json_object_set_new(o, "architectures", arch);
    json_object_set_new(o, "model_type", json_string("sdar"));
#define SETI(k, v) json_object_set_new(o, k, json_integer(v))
    SETI("hidden_size", c->d_model); SETI("intermediate_size", c->mlp_hidden_size);
    SETI("num_hidden_layers", c->n_layers); SETI("num_attention_heads", c->n_heads);
    SETI("num_key_value_heads", c->n_kv_heads); SETI("head_dim", c->head_dim);
    SETI("vocab_size", c->embedding_size); SETI("max_position_embeddings", c->max_sequence_length);
    SETI("block_size", c->attn_block);
    json_object_set_new(o, "hidden_act", json_string("silu"));
    json_object_set_new(o, "rope_theta", json_real(c->rope_theta));
    json_object_set_new(o, "rms_norm_eps", json_real(c->rms_norm_eps));
    json_object_set_new(o, "rope_scaling", json_null());
    json_object_set_new(o, "tie_word_embeddings", json_boolean(c->weight_tying));
    json_object_set_new(o, "attention_bias", json_boolean(c->qkv_bias));
    SETI("mask_token_id", c->mask_token_id); SETI("eos_token_id", c->eos_token_id);
    SETI("pad_token_id", c->pad_token_id);
#undef SETI
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(o);
    return s;
}

static int max_tensors(const llada_config_t *c) { return 15 * c->n_layers + 3; }

static int tensor_specs(const llada_config_t *c, llada_weights_t *w, model_tensor_spec_t *s) {
    int n = 0, d = c->d_model, hd = c->head_dim, qd = c->n_heads * hd, kvd = c->n_kv_heads * hd,
        f = c->mlp_hidden_size;
#define ADD(nd, r, cl, dp, ...) do { snprintf(s[n].name, sizeof s[n].name, __VA_ARGS__); \
    s[n].ndim = nd; s[n].shape[0] = r; s[n].shape[1] = cl; s[n].dst = dp; n++; } while (0)
    ADD(2, c->embedding_size, d, &w->wte, "model.embed_tokens.weight");
    for (int l = 0; l < c->n_layers; l++) {
        llada_layer_t *L = &w->layers[l];
        ADD(1, d, 1, &L->attn_norm, "model.layers.%d.input_layernorm.weight", l);
        ADD(2, qd, d, &L->q_proj, "model.layers.%d.self_attn.q_proj.weight", l);
        ADD(2, kvd, d, &L->k_proj, "model.layers.%d.self_attn.k_proj.weight", l);
        ADD(2, kvd, d, &L->v_proj, "model.layers.%d.self_attn.v_proj.weight", l);
        ADD(2, d, qd, &L->attn_out, "model.layers.%d.self_attn.o_proj.weight", l);
        if (c->qkv_bias) {
            ADD(1, qd, 1, &L->q_bias, "model.layers.%d.self_attn.q_proj.bias", l);
            ADD(1, kvd, 1, &L->k_bias, "model.layers.%d.self_attn.k_proj.bias", l);
            ADD(1, kvd, 1, &L->v_bias, "model.layers.%d.self_attn.v_proj.bias", l);
            ADD(1, d, 1, &L->out_bias, "model.layers.%d.self_attn.o_proj.bias", l);
        }
        ADD(1, hd, 1, &L->q_norm, "model.layers.%d.self_attn.q_norm.weight", l);
        ADD(1, hd, 1, &L->k_norm, "model.layers.%d.self_attn.k_norm.weight", l);
        ADD(1, d, 1, &L->ff_norm, "model.layers.%d.post_attention_layernorm.weight", l);
        ADD(2, f, d, &L->ff_proj, "model.layers.%d.mlp.gate_proj.weight", l);
        ADD(2, f, d, &L->up_proj, "model.layers.%d.mlp.up_proj.weight", l);
        ADD(2, d, f, &L->ff_out, "model.layers.%d.mlp.down_proj.weight", l);
    }
    ADD(1, d, 1, &w->ln_f, "model.norm.weight");
    if (!c->weight_tying) ADD(2, c->embedding_size, d, &w->lm_head, "lm_head.weight");
#undef ADD
    return n;
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
