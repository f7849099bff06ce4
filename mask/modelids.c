/* modelids.c — reads mask_token_id and eos_token_id from a model folder's config.json. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "modelids.h"

/* One id from `obj[key]`: an integer, or a non-empty list whose first entry is an integer. */
static int get_id(json_t *obj, const char *key, int32_t *out, const char *path, lerr_t *e) {
    json_t *v = json_object_get(obj, key);
    *out = -1;
    if (!v || json_is_null(v)) return 0;
    if (json_is_array(v) && json_array_size(v) > 0) v = json_array_get(v, 0);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
        return lerr_set(e, EXIT_DATA, "%s: \"%s\" is not a token id", path, key);
    *out = (int32_t)json_integer_value(v);
    return 0;
}

static json_t *load_config(const char *dir, char **pathp, lerr_t *e) {
    size_t n = strlen(dir) + sizeof "/config.json";
    char *path = malloc(n);
    *pathp = path;
    if (!path) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    snprintf(path, n, "%s/config.json", dir);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) {
        FILE *f = fopen(path, "rb");
        if (!f) lerr_set(e, EXIT_IO, "%s: %s", path, strerror(errno));
        else lerr_set(e, EXIT_DATA, "%s: line %d: %s", path, jerr.line, jerr.text);
        if (f) fclose(f);
    } else if (!json_is_object(root)) {
        lerr_set(e, EXIT_DATA, "%s: not a JSON object", path);
        json_decref(root);
        root = NULL;
    }
    return root;
}

int model_vocab_size(const char *dir, int64_t *vocab, lerr_t *e) {
    char *path;
    json_t *root = load_config(dir, &path, e);
    *vocab = -1;
    if (root) {
        const char *keys[] = {"vocab_size", "embedding_size"};
        for (int i = 0; i < 2; i++) {
            json_t *v = json_object_get(root, keys[i]);
            if (json_is_integer(v) && json_integer_value(v) > *vocab) *vocab = json_integer_value(v);
        }
    }
    json_decref(root);
    free(path);
    return root ? 0 : -1;
}

int model_special_ids(const char *dir, int32_t *mask_id, int32_t *eos_id, lerr_t *e) {
    size_t n = strlen(dir) + sizeof "/config.json";
    char *path = malloc(n);
    if (!path) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    snprintf(path, n, "%s/config.json", dir);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    int rc = 0;
    if (!root) {
        FILE *f = fopen(path, "rb");
        if (!f) rc = lerr_set(e, EXIT_IO, "%s: %s", path, strerror(errno));
        else rc = lerr_set(e, EXIT_DATA, "%s: line %d: %s", path, jerr.line, jerr.text);
        if (f) fclose(f);
    } else if (!json_is_object(root)) {
        rc = lerr_set(e, EXIT_DATA, "%s: not a JSON object", path);
    } else {
        rc = get_id(root, "mask_token_id", mask_id, path, e);
        if (!rc) rc = get_id(root, "eos_token_id", eos_id, path, e);
        if (!rc && *eos_id < 0) rc = get_id(root, "pad_token_id", eos_id, path, e);
    }
    json_decref(root);
    free(path);
    return rc;
}
