/* config.c — LLaDA config.json <-> llada_config_t.
 *
 * Accepts the keys of the HF LLaDA config (llada.md §2.1). A key whose value asks for
 * something this engine does not implement is an error naming the key, so a variant
 * checkpoint never runs silently wrong. Keys that only matter for training or other
 * engines (dropouts, init_*, flash_attention, precision, auto_map, ...) are ignored.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "model/model.h"

void llada_config_default(llada_config_t *c) {
    *c = (llada_config_t){
        .d_model = 4096, .n_layers = 32, .n_heads = 32, .n_kv_heads = 32, .head_dim = 128,
        .mlp_hidden_size = 12288, .vocab_size = 126464, .embedding_size = 126464,
        .max_sequence_length = 4096, .rope_theta = 500000.0, .rms_norm_eps = 1e-5,
        .weight_tying = false, .mask_token_id = 126336, .eos_token_id = 126081,
        .pad_token_id = 126081, .eot_token_id = 126348, .bos_token_id = 126080,
        .dtype = WT_BF16,
    };
}

/* Integer key: 1 found, 0 absent or null, -1 wrong type (error set). */
static int get_int(json_t *o, const char *k, long long lo, long long hi, long long *out, lerr_t *e) {
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return lerr_set(e, EXIT_DATA, "config.json: \"%s\" must be an integer in [%lld, %lld]", k, lo, hi);
    *out = json_integer_value(v);
    return 1;
}

static int get_num(json_t *o, const char *k, double *out, lerr_t *e) {
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) <= 0)
        return lerr_set(e, EXIT_DATA, "config.json: \"%s\" must be a positive number", k);
    *out = json_number_value(v);
    return 1;
}

/* A boolean key that must equal `want` when present (null = absent). */
static int need_bool(json_t *o, const char *k, bool want, lerr_t *e) {
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v))
        return lerr_set(e, EXIT_DATA, "config.json: \"%s\" must be true or false", k);
    if (json_is_true(v) != want)
        return lerr_set(e, EXIT_DATA, "config.json: unsupported setting \"%s\": %s (only %s is implemented)",
                        k, want ? "false" : "true", want ? "true" : "false");
    return 0;
}

/* A string key that must be one of `allowed` (NULL-terminated) when present. */
static int need_str(json_t *o, const char *k, const char *const *allowed, lerr_t *e) {
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) return lerr_set(e, EXIT_DATA, "config.json: \"%s\" must be a string", k);
    for (int i = 0; allowed[i]; i++) if (!strcasecmp(json_string_value(v), allowed[i])) return 0;
    return lerr_set(e, EXIT_DATA, "config.json: unsupported setting \"%s\": \"%s\" (supported: %s)",
                    k, json_string_value(v), allowed[0]);
}

static int check_unsupported(json_t *o, lerr_t *e) {
    static const char *const ln[] = {"rms", NULL}, *const act[] = {"silu", "swiglu", NULL},
        *const blk[] = {"llama", NULL}, *const mt[] = {"llada", NULL};
    if (need_bool(o, "rope", true, e) || need_bool(o, "alibi", false, e) ||
        need_bool(o, "include_bias", false, e) || need_bool(o, "include_qkv_bias", false, e) ||
        need_bool(o, "bias_for_layer_norm", false, e) ||
        need_bool(o, "attention_layer_norm", false, e) ||
        need_bool(o, "layer_norm_with_affine", true, e) || need_bool(o, "scale_logits", false, e) ||
        need_bool(o, "input_emb_norm", false, e) || need_bool(o, "use_cache", false, e))
        return -1;
    if (need_str(o, "layer_norm_type", ln, e) || need_str(o, "activation_type", act, e) ||
        need_str(o, "block_type", blk, e) || need_str(o, "model_type", mt, e))
        return -1;
    long long g = 1;
    if (get_int(o, "block_group_size", 1, 1 << 20, &g, e) < 0) return -1;
    if (g != 1) return lerr_set(e, EXIT_DATA, "config.json: unsupported setting \"block_group_size\": %lld", g);
    json_t *v = json_object_get(o, "clip_qkv");
    if (v && !json_is_null(v)) return lerr_set(e, EXIT_DATA, "config.json: unsupported setting \"clip_qkv\"");
    v = json_object_get(o, "rope_scaling");
    if (v && !json_is_null(v)) return lerr_set(e, EXIT_DATA, "config.json: unsupported setting \"rope_scaling\"");
    return 0;
}

static int parse_sizes(llada_config_t *c, json_t *o, lerr_t *e) {
    long long v;
    const long long BIG = 1 << 30;
    int r;
#define INT_KEY(key, lo, field) \
    if ((r = get_int(o, key, lo, BIG, &v, e)) < 0) return -1; else if (r) c->field = (int)v;
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
    if (get_num(o, "mlp_ratio", &ratio, e) < 0) return -1;
    if ((r = get_int(o, "mlp_hidden_size", 1, BIG, &v, e)) < 0) return -1;
    if (r) c->mlp_hidden_size = (int)v;
    else if (ratio > 0) c->mlp_hidden_size = (int)(ratio * c->d_model);
    if (get_num(o, "rope_theta", &c->rope_theta, e) < 0) return -1;
    if (get_num(o, "rms_norm_eps", &c->rms_norm_eps, e) < 0) return -1;
#undef INT_KEY
    return 0;
}

static int parse_ids(llada_config_t *c, json_t *o, lerr_t *e) {
    long long v;
    int r;
    const char *keys[] = {"mask_token_id", "eos_token_id", "pad_token_id", "eot_token_id", "bos_token_id"};
    int32_t *fields[] = {&c->mask_token_id, &c->eos_token_id, &c->pad_token_id, &c->eot_token_id,
                         &c->bos_token_id};
    for (int i = 0; i < 5; i++) {
        if ((r = get_int(o, keys[i], 0, c->embedding_size - 1, &v, e)) < 0) return -1;
        if (r) *fields[i] = (int32_t)v;
        else if (*fields[i] >= c->embedding_size) *fields[i] = i == 2 ? c->eos_token_id : -1;
    }
    if (c->mask_token_id < 0 || c->mask_token_id >= c->embedding_size)
        return lerr_set(e, EXIT_DATA, "config.json: \"mask_token_id\" missing or outside the vocabulary");
    if (c->eos_token_id < 0 || c->eos_token_id >= c->embedding_size)
        return lerr_set(e, EXIT_DATA, "config.json: \"eos_token_id\" missing or outside the vocabulary");
    if (c->pad_token_id < 0) c->pad_token_id = c->eos_token_id;
    return 0;
}

static int check_shapes(const llada_config_t *c, lerr_t *e) {
    if (c->d_model % c->n_heads)
        return lerr_set(e, EXIT_DATA, "config.json: \"d_model\" %d is not a multiple of \"n_heads\" %d",
                        c->d_model, c->n_heads);
    if (c->n_heads % c->n_kv_heads)
        return lerr_set(e, EXIT_DATA, "config.json: \"n_heads\" %d is not a multiple of \"n_kv_heads\" %d",
                        c->n_heads, c->n_kv_heads);
    if ((c->d_model / c->n_heads) % 2)
        return lerr_set(e, EXIT_DATA, "config.json: head size d_model/n_heads = %d must be even for RoPE",
                        c->d_model / c->n_heads);
    if (c->embedding_size < c->vocab_size)
        return lerr_set(e, EXIT_DATA, "config.json: \"embedding_size\" %d < \"vocab_size\" %d",
                        c->embedding_size, c->vocab_size);
    if (c->mlp_hidden_size <= 0) return lerr_set(e, EXIT_DATA, "config.json: \"mlp_hidden_size\" missing");
    return 0;
}

int llada_config_parse(llada_config_t *c, const char *json, size_t len, lerr_t *e) {
    json_error_t je;
    llada_config_default(c);
    json_t *o = json_loadb(json, len, 0, &je);
    if (!o) return lerr_set(e, EXIT_DATA, "config.json: line %d: %s", je.line, je.text);
    int rc = -1;
    if (!json_is_object(o)) { lerr_set(e, EXIT_DATA, "config.json: not a JSON object"); goto out; }
    if (!json_object_get(o, "d_model") || !json_object_get(o, "n_layers") ||
        !json_object_get(o, "n_heads") || !json_object_get(o, "vocab_size")) {
        lerr_set(e, EXIT_DATA, "config.json: missing one of \"d_model\", \"n_layers\", \"n_heads\", \"vocab_size\" (not a LLaDA config)");
        goto out;
    }
    if (check_unsupported(o, e) || parse_sizes(c, o, e)) goto out;
    json_t *wt = json_object_get(o, "weight_tying");
    if (wt && !json_is_null(wt) && !json_is_boolean(wt)) {
        lerr_set(e, EXIT_DATA, "config.json: \"weight_tying\" must be true or false");
        goto out;
    }
    c->weight_tying = wt && json_is_true(wt);
    if (!json_object_get(o, "mlp_hidden_size") && !json_object_get(o, "mlp_ratio"))
        c->mlp_hidden_size = 4 * c->d_model;
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
    SETI("d_model", c->d_model); SETI("n_layers", c->n_layers); SETI("n_heads", c->n_heads);
    SETI("n_kv_heads", c->n_kv_heads); SETI("mlp_hidden_size", c->mlp_hidden_size);
    SETI("mlp_ratio", c->d_model ? (c->mlp_hidden_size + c->d_model - 1) / c->d_model : 4);
    SETI("vocab_size", c->vocab_size); SETI("embedding_size", c->embedding_size);
    SETI("max_sequence_length", c->max_sequence_length);
    json_object_set_new(o, "activation_type", json_string("silu"));
    json_object_set_new(o, "block_type", json_string("llama"));
    SETI("block_group_size", 1);
    SETB("rope", true);
    json_object_set_new(o, "rope_theta", json_real(c->rope_theta));
    SETB("rope_full_precision", true); SETB("alibi", false); SETB("flash_attention", false);
    json_object_set_new(o, "layer_norm_type", json_string("rms"));
    json_object_set_new(o, "rms_norm_eps", json_real(c->rms_norm_eps));
    SETB("layer_norm_with_affine", true); SETB("bias_for_layer_norm", false);
    SETB("attention_layer_norm", false); SETB("include_bias", false);
    SETB("include_qkv_bias", false); SETB("weight_tying", c->weight_tying);
    SETB("scale_logits", false); SETB("input_emb_norm", false); SETB("use_cache", false);
    SETI("mask_token_id", c->mask_token_id); SETI("eos_token_id", c->eos_token_id);
    SETI("pad_token_id", c->pad_token_id);
    if (c->eot_token_id >= 0) SETI("eot_token_id", c->eot_token_id);
    if (c->bos_token_id >= 0) SETI("bos_token_id", c->bos_token_id);
#undef SETI
#undef SETB
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(o);
    return s;
}
