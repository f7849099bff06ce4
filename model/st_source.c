/* st_source.c — the safetensors files of a Hugging Face folder as a model_source_t
 * (source.h): the shards named by model.safetensors.index.json (LLaDA-8B: 6 files,
 * irregular placement), or the single model.safetensors. Every file is mapped and
 * validated by safetensors.c; a tensor name present in two shards is an error. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "model/config.h"
#include "model/source.h"
#include "safetensors.h"

typedef struct {
    st_file_t **files;
    int nfiles;
} shards_t;

static void shards_close(void *ctx) {
    shards_t *s = ctx;
    if (!s) return;
    for (int i = 0; i < s->nfiles; i++) st_close(&s->files[i]);
    free(s->files);
    free(s);
}

static int shards_find(void *ctx, const char *name, model_tview_t *out, lerr_t *e) {
    shards_t *s = ctx;
    const st_tensor_t *hit = NULL;
    for (int i = 0; i < s->nfiles; i++) {
        const st_tensor_t *t = st_find(s->files[i], name);
        if (t && hit) return lerr_set(e, EXIT_DATA, "tensor \"%s\" appears in more than one file", name);
        if (t) hit = t;
    }
    if (!hit) return 0;
    *out = (model_tview_t){hit->name, hit->dtype, st_wtype(hit->dtype), hit->ndim, hit->shape, hit->data, hit->nbytes};
    return 1;
}

static int shards_count(void *ctx) {
    shards_t *s = ctx;
    int n = 0;
    for (int i = 0; i < s->nfiles; i++) n += s->files[i]->n;
    return n;
}

static const char *shards_name_at(void *ctx, int i) {
    shards_t *s = ctx;
    for (int f = 0; f < s->nfiles; i -= s->files[f]->n, f++)
        if (i < s->files[f]->n) return s->files[f]->t[i].name;
    return NULL;
}

static size_t shards_release(void *ctx, const void *p, size_t n) {
    shards_t *s = ctx;
    for (int i = 0; i < s->nfiles; i++) {
        size_t r = model_drop_pages(s->files[i]->map, s->files[i]->map_len, p, n);
        if (r) return r;
    }
    return 0;
}

/* Open the files the index's weight_map names (each once). */
static int open_index(shards_t *s, const char *dir, const char *path, lerr_t *e) {
    size_t len;
    char *txt = cfg_read_file(path, 64u << 20, &len, e);
    if (!txt) return -1;
    json_error_t je;
    json_t *o = json_loadb(txt, len, 0, &je), *wm = o ? json_object_get(o, "weight_map") : NULL;
    free(txt);
    int rc = -1;
    if (!json_is_object(wm)) {
        lerr_set(e, EXIT_DATA, "%s: no \"weight_map\" object", path);
        goto out;
    }
    s->files = calloc(json_object_size(wm) + 1, sizeof *s->files);
    if (!s->files) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(wm, k, v) {
        const char *fn = json_string_value(v);
        if (!fn || !*fn || strchr(fn, '/') || !strcmp(fn, "..")) {
            lerr_set(e, EXIT_DATA, "%s: bad shard file name for \"%s\"", path, k);
            goto out;
        }
        int seen = 0;
        for (int i = 0; i < s->nfiles && !seen; i++) {
            const char *b = strrchr(s->files[i]->path, '/');
            seen = !strcmp(b ? b + 1 : s->files[i]->path, fn);
        }
        if (seen) continue;
        char sp[4096];
        snprintf(sp, sizeof sp, "%s/%s", dir, fn);
        if (!(s->files[s->nfiles] = st_open(sp, e))) goto out;
        s->nfiles++;
    }
    rc = 0;
out:
    json_decref(o);
    return rc;
}

static int open_files(shards_t *s, const char *dir, lerr_t *e) {
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    struct stat st;
    if (stat(path, &st) == 0) return open_index(s, dir, path, e);
    s->files = calloc(1, sizeof *s->files);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (!s->files) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    if (!(s->files[0] = st_open(path, e))) return -1;
    s->nfiles = 1;
    return 0;
}

int st_source_open(model_source_t *src, const char *dir, lerr_t *e) {
    *src = (model_source_t){0};
    shards_t *s = calloc(1, sizeof *s);
    if (!s) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    if (open_files(s, dir, e)) {
        shards_close(s);
        return -1;
    }
    *src = (model_source_t){s, shards_find, shards_count, shards_name_at, shards_close, shards_release};
    return 0;
}
