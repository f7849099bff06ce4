/* config.c — config.json reading helpers shared by the model families: typed keys (config.h)
 * and the parts of a config every Hugging Face-style family reads alike (family.h:
 * family_hf_sizes, family_parse_ids). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "model/config.h"
#include "model/family.h"

int cfg_int(json_t *o, const char *k, long long lo, long long hi, long long *out, lerr_t *e) {
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return lerr_set(e, EXIT_DATA, "config.json: \"%s\" must be an integer in [%lld, %lld]", k, lo, hi);
    *out = json_integer_value(v);
    return 1;
}

int cfg_num(json_t *o, const char *k, double *out, lerr_t *e) {
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) <= 0)
        return lerr_set(e, EXIT_DATA, "config.json: \"%s\" must be a positive number", k);
    *out = json_number_value(v);
    return 1;
}

int cfg_bool(json_t *o, const char *k, bool *out, lerr_t *e) {
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) return lerr_set(e, EXIT_DATA, "config.json: \"%s\" must be true or false", k);
    *out = json_is_true(v);
    return 0;
}

int cfg_need_bool(json_t *o, const char *k, bool want, lerr_t *e) {
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) return lerr_set(e, EXIT_DATA, "config.json: \"%s\" must be true or false", k);
    if (json_is_true(v) != want)
        return lerr_set(e, EXIT_DATA, "config.json: unsupported setting \"%s\": %s (only %s is implemented)", k,
                        want ? "false" : "true", want ? "true" : "false");
    return 0;
}

int cfg_need_str(json_t *o, const char *k, const char *const *allowed, lerr_t *e) {
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v)) return lerr_set(e, EXIT_DATA, "config.json: \"%s\" must be a string", k);
    for (int i = 0; allowed[i]; i++)
        if (!strcasecmp(json_string_value(v), allowed[i])) return 0;
    return lerr_set(e, EXIT_DATA, "config.json: unsupported setting \"%s\": \"%s\" (supported: %s)", k,
                    json_string_value(v), allowed[0]);
}

int cfg_need_null(json_t *o, const char *k, lerr_t *e) {
    json_t *v = json_object_get(o, k);
    if (v && !json_is_null(v)) return lerr_set(e, EXIT_DATA, "config.json: unsupported setting \"%s\"", k);
    return 0;
}

char *cfg_read_file(const char *path, size_t max, size_t *len, lerr_t *e) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        lerr_set(e, EXIT_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    int err = ferror(f);
    fclose(f);
    if (!buf || err || n > max) {
        free(buf);
        lerr_set(e, err ? EXIT_IO : EXIT_DATA, "%s: %s", path, err ? "read error" : "file too large");
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

json_t *cfg_open(const char *json, size_t len, const char *const *need, int n_need, const char *what, lerr_t *e) {
    json_error_t je;
    json_t *o = json_loadb(json, len, 0, &je);
    if (!o) {
        lerr_set(e, EXIT_DATA, "config.json: line %d: %s", je.line, je.text);
        return NULL;
    }
    if (!json_is_object(o)) {
        lerr_set(e, EXIT_DATA, "config.json: not a JSON object");
        json_decref(o);
        return NULL;
    }
    for (int i = 0; i < n_need; i++)
        if (!json_object_get(o, need[i])) {
            lerr_set(e, EXIT_DATA, "config.json: missing \"%s\" (not %s %s config)", need[i],
                     strchr("AEIOU", what[0]) ? "an" : "a", what);
            json_decref(o);
            return NULL;
        }
    return o;
}

int family_hf_sizes(llada_config_t *c, json_t *o, lerr_t *e) {
    static const struct {
        const char *key;
        size_t field;
    } K[] = {
        {"hidden_size", offsetof(llada_config_t, d_model)},
        {"num_hidden_layers", offsetof(llada_config_t, n_layers)},
        {"num_attention_heads", offsetof(llada_config_t, n_heads)},
        {"num_key_value_heads", offsetof(llada_config_t, n_kv_heads)},
        {"vocab_size", offsetof(llada_config_t, vocab_size)},
        {"max_position_embeddings", offsetof(llada_config_t, max_sequence_length)},
    };
    long long v;
    for (int i = 0; i < ARRAY_LEN(K); i++) {
        if (i == 3) c->n_kv_heads = c->n_heads; /* absent: multi-head attention */
        int r = cfg_int(o, K[i].key, 1, 1 << 30, &v, e);
        if (r < 0) return -1;
        if (r) *(int *)((char *)c + K[i].field) = (int)v;
    }
    c->embedding_size = c->vocab_size; /* HF: vocab_size is the embedding's rows */
    return cfg_num(o, "rope_theta", &c->rope_theta, e) < 0 || cfg_num(o, "rms_norm_eps", &c->rms_norm_eps, e) < 0 ? -1
                                                                                                                  : 0;
}

int family_parse_ids(llada_config_t *c, json_t *o, bool defaults_apply, const char *hint, lerr_t *e) {
    static const char *const keys[] = {"mask_token_id", "eos_token_id", "pad_token_id", "bos_token_id", "eot_token_id"};
    int32_t *fields[] = {&c->mask_token_id, &c->eos_token_id, &c->pad_token_id, &c->bos_token_id, &c->eot_token_id};
    for (int i = 0; i < ARRAY_LEN(keys); i++) {
        json_t *x = json_object_get(o, keys[i]);
        if (x && json_is_array(x)) x = json_array_get(x, 0); /* eos lists: the first */
        if (x && !json_is_null(x)) {
            if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) >= c->embedding_size)
                return lerr_set(e, EXIT_DATA, "config.json: \"%s\" outside the vocabulary [0, %d)", keys[i],
                                c->embedding_size);
            *fields[i] = (int32_t)json_integer_value(x);
        } else if (!defaults_apply || *fields[i] >= c->embedding_size) *fields[i] = -1;
    }
    if (c->mask_token_id < 0)
        return lerr_set(e, EXIT_DATA, "config.json: \"mask_token_id\" missing (%s; this vocabulary has %d tokens)",
                        hint, c->vocab_size);
    if (c->eos_token_id < 0) return lerr_set(e, EXIT_DATA, "config.json: \"eos_token_id\" missing");
    if (c->pad_token_id < 0) c->pad_token_id = c->eos_token_id;
    return 0;
}

json_t *family_hf_json_new(const char *arch, const char *model_type, const llada_config_t *c) {
    json_t *o = json_object(), *a = json_array();
    json_array_append_new(a, json_string(arch));
    json_object_set_new(o, "architectures", a);
    json_object_set_new(o, "model_type", json_string(model_type));
    json_object_set_new(o, "hidden_size", json_integer(c->d_model));
    json_object_set_new(o, "num_hidden_layers", json_integer(c->n_layers));
    json_object_set_new(o, "num_attention_heads", json_integer(c->n_heads));
    json_object_set_new(o, "num_key_value_heads", json_integer(c->n_kv_heads));
    json_object_set_new(o, "vocab_size", json_integer(c->embedding_size));
    json_object_set_new(o, "max_position_embeddings", json_integer(c->max_sequence_length));
    json_object_set_new(o, "hidden_act", json_string("silu"));
    json_object_set_new(o, "rope_theta", json_real(c->rope_theta));
    json_object_set_new(o, "rms_norm_eps", json_real(c->rms_norm_eps));
    json_object_set_new(o, "rope_scaling", json_null());
    json_object_set_new(o, "tie_word_embeddings", json_boolean(c->weight_tying));
    return o;
}

char *family_hf_json_finish(json_t *o, const llada_config_t *c) {
    json_object_set_new(o, "mask_token_id", json_integer(c->mask_token_id));
    json_object_set_new(o, "eos_token_id", json_integer(c->eos_token_id));
    json_object_set_new(o, "pad_token_id", json_integer(c->pad_token_id));
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(o);
    return s;
}
