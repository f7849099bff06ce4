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
        .d_model = 3584, .n_layers = 28, .n_heads = 28, .n_kv_heads = 4, .head_dim = 128,
        .mlp_hidden_size = 18944, .vocab_size = 152064, .embedding_size = 152064,
        .max_sequence_length = 131072, .rope_theta = 1e6, .rms_norm_eps = 1e-6,
        .weight_tying = false, .mask_token_id = 151666, .eos_token_id = 151643,
        .pad_token_id = 151643, .eot_token_id = 151645, .bos_token_id = 151643,
        .dtype = WT_BF16, .logits_shift = true, .schedule = MODEL_SCHED_TIMESTEP,
        .schedule_eps = 1e-3, .qkv_bias = true,
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
    if (prf != 1)
        return lerr_set(e, EXIT_DATA, "config.json: unsupported setting \"partial_rotary_factor\": %g", prf);
    return 0;
}

static int parse_sizes(llada_config_t *c, json_t *o, lerr_t *e) {
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
#undef INT_KEY
    c->embedding_size = c->vocab_size;    /* Qwen2: vocab_size is the embedding's rows */
    if (cfg_num(o, "rope_theta", &c->rope_theta, e) < 0) return -1;
    if (cfg_num(o, "rms_norm_eps", &c->rms_norm_eps, e) < 0) return -1;
    if (c->d_model % c->n_heads)
        return lerr_set(e, EXIT_DATA, "config.json: \"hidden_size\" %d is not a multiple of \"num_attention_heads\" %d",
                        c->d_model, c->n_heads);
    if (c->n_heads % c->n_kv_heads)
        return lerr_set(e, EXIT_DATA, "config.json: \"num_attention_heads\" %d is not a multiple of \"num_key_value_heads\" %d",
                        c->n_heads, c->n_kv_heads);
    c->head_dim = c->d_model / c->n_heads;
    if ((r = cfg_int(o, "head_dim", 1, BIG, &v, e)) < 0) return -1;
    if (r && v != c->head_dim)
        return lerr_set(e, EXIT_DATA, "config.json: unsupported setting \"head_dim\": %lld (hidden_size / heads = %d)",
                        v, c->head_dim);
    if (c->head_dim % 2)
        return lerr_set(e, EXIT_DATA, "config.json: head size %d must be even for RoPE", c->head_dim);
    return 0;
}

static int bool_key(json_t *o, const char *k, bool *out, lerr_t *e) {
    json_t *b = json_object_get(o, k);
    if (!b || json_is_null(b)) return 0;
    if (!json_is_boolean(b)) return lerr_set(e, EXIT_DATA, "config.json: \"%s\" must be true or false", k);
    *out = json_is_true(b);
    return 0;
}

/* Special ids: present ones must lie in the vocabulary; absent ones keep Dream's when the
 * vocabulary holds them (else -1; the mask and EOS ids are required then). */
static int parse_ids(llada_config_t *c, json_t *o, lerr_t *e) {
    const char *keys[] = {"mask_token_id", "eos_token_id", "pad_token_id", "bos_token_id"};
    int32_t *fields[] = {&c->mask_token_id, &c->eos_token_id, &c->pad_token_id, &c->bos_token_id};
    long long v;
    int r;
    for (int i = 0; i < 4; i++) {
        if ((r = cfg_int(o, keys[i], 0, c->embedding_size - 1, &v, e)) < 0) return -1;
        if (r) *fields[i] = (int32_t)v;
        else if (*fields[i] >= c->embedding_size) *fields[i] = -1;
    }
    if (c->eot_token_id >= c->embedding_size) c->eot_token_id = -1;
    if (c->mask_token_id < 0)
        return lerr_set(e, EXIT_DATA, "config.json: \"mask_token_id\" missing or outside the vocabulary");
    if (c->eos_token_id < 0)
        return lerr_set(e, EXIT_DATA, "config.json: \"eos_token_id\" missing or outside the vocabulary");
    if (c->pad_token_id < 0) c->pad_token_id = c->eos_token_id;
    return 0;
}

static int dream_config_parse(llada_config_t *c, const char *json, size_t len, lerr_t *e) {
    json_error_t je;
    dream_default(c);
    json_t *o = json_loadb(json, len, 0, &je);
    if (!o) return lerr_set(e, EXIT_DATA, "config.json: line %d: %s", je.line, je.text);
    int rc = -1;
    if (!json_is_object(o)) { lerr_set(e, EXIT_DATA, "config.json: not a JSON object"); goto out; }
    if (!json_object_get(o, "hidden_size") || !json_object_get(o, "num_hidden_layers") ||
        !json_object_get(o, "num_attention_heads") || !json_object_get(o, "vocab_size") ||
        !json_object_get(o, "intermediate_size")) {
        lerr_set(e, EXIT_DATA, "config.json: missing one of \"hidden_size\", \"num_hidden_layers\", "
                 "\"num_attention_heads\", \"intermediate_size\", \"vocab_size\" (not a Dream config)");
        goto out;
    }
    if (check_unsupported(o, e) || parse_sizes(c, o, e) ||
        bool_key(o, "tie_word_embeddings", &c->weight_tying, e) ||
        bool_key(o, "attention_bias", &c->qkv_bias, e) || parse_ids(c, o, e))
        goto out;
    rc = 0;
out:
    json_decref(o);
    return rc;
}

static char *dream_config_to_json(const llada_config_t *c) {
    json_t *o = json_object();
    json_t *arch = json_array();
    json_array_append_new(arch, json_string("DreamModel"));
    json_object_set_new(o, "architectures", arch);
    json_object_set_new(o, "model_type", json_string("Dream"));
#define SETI(k, v) json_object_set_new(o, k, json_integer(v))
    SETI("hidden_size", c->d_model); SETI("intermediate_size", c->mlp_hidden_size);
    SETI("num_hidden_layers", c->n_layers); SETI("num_attention_heads", c->n_heads);
    SETI("num_key_value_heads", c->n_kv_heads); SETI("vocab_size", c->embedding_size);
    SETI("max_position_embeddings", c->max_sequence_length);
    json_object_set_new(o, "hidden_act", json_string("silu"));
    json_object_set_new(o, "rope_theta", json_real(c->rope_theta));
    json_object_set_new(o, "rms_norm_eps", json_real(c->rms_norm_eps));
    json_object_set_new(o, "rope_scaling", json_null());
    json_object_set_new(o, "use_sliding_window", json_false());
    json_object_set_new(o, "tie_word_embeddings", json_boolean(c->weight_tying));
    json_object_set_new(o, "attention_bias", json_boolean(c->qkv_bias));
    json_object_set_new(o, "use_cache", json_false());
    SETI("mask_token_id", c->mask_token_id); SETI("eos_token_id", c->eos_token_id);
    SETI("pad_token_id", c->pad_token_id);
    if (c->bos_token_id >= 0) SETI("bos_token_id", c->bos_token_id);
#undef SETI
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(o);
    return s;
}

/* ---- tensors ---- */

static int max_tensors(const llada_config_t *c) { return 12 * c->n_layers + 3; }

static int tensor_specs(const llada_config_t *c, llada_weights_t *w, model_tensor_spec_t *s) {
    int n = 0, d = c->d_model, qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim,
        f = c->mlp_hidden_size;
#define ADD(nm, nd, r, cl, dp) do { snprintf(s[n].name, sizeof s[n].name, "%s", nm); \
    s[n].ndim = nd; s[n].shape[0] = r; s[n].shape[1] = cl; s[n].dst = dp; n++; } while (0)
    ADD("model.embed_tokens.weight", 2, c->embedding_size, d, &w->wte);
    for (int l = 0; l < c->n_layers; l++) {
        llada_layer_t *L = &w->layers[l];
        char b[96];
        struct { const char *nm; int nd; int64_t r, cl; wtensor_t *dp; bool on; } t[12] = {
            {"input_layernorm.weight", 1, d, 1, &L->attn_norm, true},
            {"self_attn.q_proj.weight", 2, qd, d, &L->q_proj, true},
            {"self_attn.q_proj.bias", 1, qd, 1, &L->q_bias, c->qkv_bias},
            {"self_attn.k_proj.weight", 2, kvd, d, &L->k_proj, true},
            {"self_attn.k_proj.bias", 1, kvd, 1, &L->k_bias, c->qkv_bias},
            {"self_attn.v_proj.weight", 2, kvd, d, &L->v_proj, true},
            {"self_attn.v_proj.bias", 1, kvd, 1, &L->v_bias, c->qkv_bias},
            {"self_attn.o_proj.weight", 2, d, qd, &L->attn_out, true},
            {"post_attention_layernorm.weight", 1, d, 1, &L->ff_norm, true},
            {"mlp.gate_proj.weight", 2, f, d, &L->ff_proj, true},
            {"mlp.up_proj.weight", 2, f, d, &L->up_proj, true},
            {"mlp.down_proj.weight", 2, d, f, &L->ff_out, true}};
        for (int i = 0; i < 12; i++) {
            if (!t[i].on) continue;
            snprintf(b, sizeof b, "model.layers.%d.%s", l, t[i].nm);
            ADD(b, t[i].nd, t[i].r, t[i].cl, t[i].dp);
        }
    }
    ADD("model.norm.weight", 1, d, 1, &w->ln_f);
    if (!c->weight_tying) ADD("lm_head.weight", 2, c->embedding_size, d, &w->lm_head);
#undef ADD
    return n;
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
