/* tokinfo.c — vocabulary size and special ids from a tokenizer.json (see tokinfo.h). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tokinfo.h"

static int is_one_of(const char *s, const char *const *names) {
    for (; *names; names++)
        if (strcmp(s, *names) == 0) return 1;
    return 0;
}

int tokinfo_read(const char *dir, tokinfo_t *t, lerr_t *e) {
    static const char *const MASK[] = {"<|mdm_mask|>", "<|mask|>", "<mask>", "[MASK]", NULL};
    static const char *const EOS[] = {"<|endoftext|>", "<|eot_id|>", "</s>", "<eos>", NULL};
    static const char *const BOS[] = {"<|startoftext|>", "<|begin_of_text|>", "<s>", "<bos>", NULL};
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) return lerr_set(e, EXIT_DATA, "%s: %s (line %d)", path, je.text, je.line);
    *t = (tokinfo_t){0, -1, -1, -1};
    json_t *vocab = json_object_get(json_object_get(root, "model"), "vocab");
    const char *key;
    json_t *val;
    int64_t mx = -1;
    json_object_foreach(vocab, key, val) if (json_is_integer(val) && json_integer_value(val) > mx) mx =
        json_integer_value(val);
    size_t i;
    json_array_foreach(json_object_get(root, "added_tokens"), i, val) {
        json_t *id = json_object_get(val, "id");
        const char *content = json_string_value(json_object_get(val, "content"));
        if (!json_is_integer(id) || !content) continue;
        int64_t v = json_integer_value(id);
        if (v > mx) mx = v;
        if (is_one_of(content, MASK) && t->mask_id < 0) t->mask_id = (int32_t)v;
        if (is_one_of(content, EOS) && t->eos_id < 0) t->eos_id = (int32_t)v;
        if (is_one_of(content, BOS) && t->bos_id < 0) t->bos_id = (int32_t)v;
    }
    json_decref(root);
    if (mx < 0 || mx >= (1 << 30)) return lerr_set(e, EXIT_DATA, "%s: no vocabulary found", path);
    t->vocab = (int32_t)(mx + 1);
    return 0;
}
