/* family.c — the registry of model families (family.h) and the public forward entry points
 * of model.h, which dispatch through a model's family. Adding a family = one file with its
 * model_family_t and one line in FAMILIES. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>
#include "model/family.h"

static const model_family_t *const FAMILIES[] = {&model_family_llada, &model_family_dream,  &model_family_llada_moe,
                                                 &model_family_sdar,  &model_family_llada2, NULL};

const model_family_t *const *model_family_list(void) { return FAMILIES; }

const model_family_t *model_family_find(const char *name) {
    for (int i = 0; FAMILIES[i]; i++)
        if (!strcmp(FAMILIES[i]->name, name)) return FAMILIES[i];
    return NULL;
}

static bool listed(const char *const *list, const char *s) {
    for (int i = 0; list && list[i]; i++)
        if (!strcasecmp(list[i], s)) return true;
    return false;
}

/* "a, b, c": every family's values of one recognition key (for error messages). */
static void supported(char *buf, size_t n, bool archs) {
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; FAMILIES[i]; i++) {
        const char *const *l = archs ? FAMILIES[i]->architectures : FAMILIES[i]->model_types;
        for (int j = 0; l && l[j] && at < n; j++)
            at += (size_t)snprintf(buf + at, n - at, "%s%s", at ? ", " : "", l[j]);
    }
}

static const model_family_t *by_key(json_t *o, lerr_t *e) {
    char sup[256];
    json_t *mt = json_object_get(o, "model_type"), *ar = json_object_get(o, "architectures");
    if (mt && !json_is_null(mt)) {
        if (!json_is_string(mt)) {
            lerr_set(e, EXIT_DATA, "config.json: \"model_type\" must be a string");
            return NULL;
        }
        for (int i = 0; FAMILIES[i]; i++)
            if (listed(FAMILIES[i]->model_types, json_string_value(mt))) {
                /* a family sharing another's model_type (LLaDA-MoE says "llada") is told
                 * apart by an architecture only it lists */
                size_t k;
                json_t *a;
                if (json_is_array(ar))
                    json_array_foreach(
                        ar, k,
                        a) for (int j = 0; json_is_string(a) && FAMILIES[j];
                                j++) if (j != i && listed(FAMILIES[j]->architectures, json_string_value(a)) &&
                                         !listed(FAMILIES[i]->architectures, json_string_value(a))) return FAMILIES[j];
                return FAMILIES[i];
            }
        supported(sup, sizeof sup, false);
        lerr_set(e, EXIT_DATA, "config.json: unsupported setting \"model_type\": \"%s\" (supported: %s)",
                 json_string_value(mt), sup);
        return NULL;
    }
    if (json_is_array(ar) && json_array_size(ar) > 0) {
        size_t k;
        json_t *a;
        json_array_foreach(
            ar, k, a) for (int i = 0; json_is_string(a) && FAMILIES[i];
                           i++) if (listed(FAMILIES[i]->architectures, json_string_value(a))) return FAMILIES[i];
        supported(sup, sizeof sup, true);
        a = json_array_get(ar, 0);
        lerr_set(e, EXIT_DATA, "config.json: unsupported \"architectures\": %s (supported: %s)",
                 json_is_string(a) ? json_string_value(a) : "(not a string)", sup);
        return NULL;
    }
    return &model_family_llada; /* configs that predate both keys */
}

const model_family_t *model_family_detect(const char *json, size_t len, lerr_t *e) {
    json_error_t je;
    json_t *o = json_loadb(json, len, 0, &je);
    if (!o) {
        lerr_set(e, EXIT_DATA, "config.json: line %d: %s", je.line, je.text);
        return NULL;
    }
    const model_family_t *f = NULL;
    if (!json_is_object(o)) lerr_set(e, EXIT_DATA, "config.json: not a JSON object");
    else f = by_key(o, e);
    json_decref(o);
    return f;
}

/* rows [r0, r0 + n) of a 2-D weight, or elements [r0, r0 + n) of a 1-D one, as a view */
static wtensor_t rows_of(const wtensor_t *t, int64_t r0, int64_t n, bool vec) {
    if (vec) return (wtensor_t){t->type, (const char *)t->data + (size_t)r0 * wtype_size(t->type), 1, n};
    return (wtensor_t){t->type, (const char *)t->data + (size_t)r0 * wtype_bytes(t->type, (size_t)t->cols), n, t->cols};
}

void model_split_fused(const llada_config_t *c, llada_weights_t *w) {
    int64_t qd = (int64_t)c->n_heads * c->head_dim, kvd = (int64_t)c->n_kv_heads * c->head_dim;
    for (int l = 0; l < c->n_layers; l++) {
        llada_layer_t *L = &w->layers[l];
        if (L->qkv_proj.data) {
            L->q_proj = rows_of(&L->qkv_proj, 0, qd, false);
            L->k_proj = rows_of(&L->qkv_proj, qd, kvd, false);
            L->v_proj = rows_of(&L->qkv_proj, qd + kvd, kvd, false);
        }
        if (L->qkv_b.data) {
            L->q_bias = rows_of(&L->qkv_b, 0, qd, true);
            L->k_bias = rows_of(&L->qkv_b, qd, kvd, true);
            L->v_bias = rows_of(&L->qkv_b, qd + kvd, kvd, true);
        }
    }
}

int64_t model_family_n_params(const model_family_t *f, const llada_config_t *c) {
    llada_weights_t w = {.layers = calloc((size_t)c->n_layers + 1, sizeof *w.layers)};
    model_tensor_spec_t *s = calloc((size_t)f->max_tensors(c), sizeof *s);
    int64_t total = -1;
    if (w.layers && s) {
        int n = f->tensor_specs(c, &w, s);
        total = 0;
        for (int i = 0; i < n; i++) total += s[i].shape[0] * (s[i].ndim == 2 ? s[i].shape[1] : 1);
    }
    free(w.layers);
    free(s);
    return total;
}

int64_t model_n_params(const llada_config_t *c) { return model_family_n_params(&model_family_llada, c); }

const char *model_family_name(const model_t *m) { return m->family->name; }

int model_forward_hidden(const model_t *m, fwd_scratch_t *s, const int32_t *tokens, const uint8_t *keep, int B, int L,
                         float *hidden, lerr_t *e) {
    return m->family->forward_hidden(m, s, tokens, keep, B, L, hidden, e);
}

int model_forward_cached(const model_t *m, fwd_scratch_t *s, fwd_cache_t *kv, const int32_t *tokens,
                         const uint8_t *keep, int B, int L, int r0, int r1, float *hidden, lerr_t *e) {
    if (!m->family->forward_cached)
        return lerr_set(e, EXIT_USAGE, "the %s family has no KV-cache forward (use --cache none)", m->family->display);
    return m->family->forward_cached(m, s, kv, tokens, keep, B, L, r0, r1, hidden, e);
}

void model_head(const model_t *m, const float *hidden, int n, float *logits) { m->family->head(m, hidden, n, logits); }
