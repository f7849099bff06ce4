/* bundle.c — open a HF model folder's tokenizer files (see bundle.h). */
#include "bundle.h"
#include "paths.h"
#include "tok_gguf.h"
#include "model/gguf.h"
#include "chat.h"
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A token given as "str" or {"content": "str"}; its id or -1. */
static int32_t token_of(const tokenizer_t *t, json_t *v) {
    if (json_is_object(v)) v = json_object_get(v, "content");
    if (!json_is_string(v)) return -1;
    return tok_token_id(t, json_string_value(v), json_string_length(v));
}
/* Owned copy of a token's string ("str" or {"content": "str"}); NULL if none. */
static char *token_str(json_t *v) {
    if (json_is_object(v)) v = json_object_get(v, "content");
    return json_is_string(v) ? strndup(json_string_value(v), json_string_length(v)) : NULL;
}
static char *id_str(const tokenizer_t *t, int32_t id) {
    size_t n;
    const char *s = id >= 0 ? tok_id_token(t, id, &n) : NULL;
    return s ? strndup(s, n) : NULL;
}

/* tokenizer_config.json's chat_template: a string, or a list of {"name", "template"} (the
 * "default" one, else the first); NULL when absent. */
static char *config_template(json_t *tc) {
    json_t *ct = json_object_get(tc, "chat_template");
    if (json_is_string(ct)) return strndup(json_string_value(ct), json_string_length(ct));
    json_t *pick = NULL;
    for (size_t i = 0; json_is_array(ct) && i < json_array_size(ct); i++) {
        json_t *o = json_array_get(ct, i), *nm = json_object_get(o, "name");
        if (!json_is_string(json_object_get(o, "template"))) continue;
        if (!pick || (json_is_string(nm) && !strcmp(json_string_value(nm), "default"))) pick = o;
    }
    json_t *tp = pick ? json_object_get(pick, "template") : NULL;
    return tp ? strndup(json_string_value(tp), json_string_length(tp)) : NULL;
}

/* DIR/chat_template.jinja (newer transformers save the template there); NULL when absent. */
static char *jinja_file(const char *dir) {
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/chat_template.jinja", dir);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            char *x = realloc(buf, cap = cap * 2 + 8192);
            if (!x) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = x;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (!r || n > (16u << 20)) break;
    }
    fclose(f);
    buf[n] = 0;
    return buf;
}

static void add_stop(tok_bundle_t *b, int32_t id) {
    if (id < 0) return;
    for (int i = 0; i < b->nstop; i++)
        if (b->stop[i] == id) return;
    if (b->nstop < 8) b->stop[b->nstop++] = id;
}

/* A GGUF file: the tokenizer its metadata describes, ids from tokenizer.ggml.*. */
static int open_gguf(tok_bundle_t *b, const char *path, lerr_t *e) {
    gguf_file_t *f = gguf_open(path, e);
    if (!f) return -1;
    size_t len;
    tok_gguf_ids_t ids;
    char *json = tok_gguf_json(f, &len, &ids, e);
    gguf_str_t ct;
    lerr_t ign = {0}; /* a chat template of the wrong type is ignored, as a missing one */
    if (json && gguf_get_str(f, "tokenizer.chat_template", &ct, &ign) == 1 &&
        !(b->chat_template = strndup(ct.s, ct.len))) {
        free(json);
        json = NULL;
        lerr_set(e, EXIT_INTERNAL, "out of memory");
    }
    gguf_close(&f);
    if (!json) return -1;
    b->tok = tok_load_json(json, len, e);
    free(json);
    if (!b->tok) return lerr_wrap(e, "%s", path);
    b->bos_id = ids.bos;
    b->eos_id = ids.eos;
    b->bos_token = id_str(b->tok, ids.bos);
    b->eos_token = id_str(b->tok, ids.eos);

    b->mask_id = ids.mask >= 0 ? ids.mask : tok_token_id(b->tok, "<|mdm_mask|>", 12);
    add_stop(b, ids.eos);
    add_stop(b, ids.eot);
    add_stop(b, tok_token_id(b->tok, "<|eot_id|>", 10));
    add_stop(b, tok_token_id(b->tok, "<|im_end|>", 10));
    return 0;
}

static bool is_gguf(const char *p) {
    char m[4];
    FILE *f = fopen(p, "rb");
    bool r = f && fread(m, 1, 4, f) == 4 && !memcmp(m, "GGUF", 4);
    if (f) fclose(f);
    return r;
}

tok_bundle_t *tok_bundle_open(const char *path, lerr_t *e) {
    char *def = NULL;
    if (!path) {
        if (!(def = default_model_dir())) {
            lerr_set(e, EXIT_USAGE, "no model given and no bundled default model found (use --model DIR)");
            return NULL;
        }
        path = def;
    }
    tok_bundle_t *b = calloc(1, sizeof *b);
    char file[PATH_MAX + 32];
    if (!b) {
        free(def);
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    b->bos_id = b->eos_id = b->mask_id = -1;
    bool dir = is_dir(path);
    if (dir) {
        b->dir = strdup(path);
        snprintf(file, sizeof file, "%s/tokenizer.json", path);
    } else {
        snprintf(file, sizeof file, "%s", path);
        const char *sl = strrchr(path, '/');
        b->dir = sl ? strndup(path, sl - path) : strdup(".");
    }
    if (b->dir && !dir && is_gguf(path)) { /* a GGUF path is never the default folder */
        int rc = open_gguf(b, path, e);
        free(def);
        if (rc) {
            tok_bundle_destroy(&b);
            return NULL;
        }
        return b;
    }
    free(def); /* path points into def when no path was given: not used below (file holds it) */
    if (!b->dir || !(b->tok = tok_load_file(file, e))) {
        tok_bundle_destroy(&b);
        return NULL;
    }
    snprintf(file, sizeof file, "%s/tokenizer_config.json", b->dir);
    json_t *tc = json_load_file(file, 0, NULL);
    if (tc) {
        b->bos_id = token_of(b->tok, json_object_get(tc, "bos_token"));
        b->eos_id = token_of(b->tok, json_object_get(tc, "eos_token"));
        b->bos_token = token_str(json_object_get(tc, "bos_token"));
        b->eos_token = token_str(json_object_get(tc, "eos_token"));
        b->chat_template = config_template(tc);
        json_decref(tc);
    }
    if (!b->chat_template) b->chat_template = jinja_file(b->dir);
    snprintf(file, sizeof file, "%s/config.json", b->dir);
    json_t *cf = json_load_file(file, 0, NULL);
    if (cf) {
        json_t *eos = json_object_get(cf, "eos_token_id"), *m = json_object_get(cf, "mask_token_id");
        if (json_is_integer(eos)) b->eos_id = (int32_t)json_integer_value(eos);
        for (size_t i = 0; json_is_array(eos) && i < json_array_size(eos); i++) {
            if (i == 0) b->eos_id = (int32_t)json_integer_value(json_array_get(eos, 0));
            add_stop(b, (int32_t)json_integer_value(json_array_get(eos, i)));
        }
        if (json_is_integer(m)) b->mask_id = (int32_t)json_integer_value(m);
        json_decref(cf);
    }
    if (b->mask_id < 0) b->mask_id = tok_token_id(b->tok, "<|mdm_mask|>", 12);
    add_stop(b, b->eos_id);
    add_stop(b, tok_token_id(b->tok, "<|eot_id|>", 10));
    add_stop(b, tok_token_id(b->tok, "<|im_end|>", 10));
    return b;
}

void tok_bundle_destroy(tok_bundle_t **bp) {
    if (!bp || !*bp) return;
    tok_destroy(&(*bp)->tok);
    chat_bundle_free(*bp);
    free((*bp)->chat_template);
    free((*bp)->bos_token);
    free((*bp)->eos_token);
    free((*bp)->dir);
    free(*bp);
    *bp = NULL;
}

bool tok_bundle_is_stop(const tok_bundle_t *b, int32_t id) {
    for (int i = 0; i < b->nstop; i++)
        if (b->stop[i] == id) return true;
    return false;
}
