/* load.c — load, validate, create and save LLaDA checkpoints (HF folder layout).
 *
 * Every expected tensor (names of llada.md §2.2, derived from the config) must be present
 * exactly once with the exact shape and a float dtype; anything unexpected is an error, so a
 * checkpoint with features this engine would ignore (biases, q/k norms) never loads
 * silently. Data stays in the read-only mmap; tensors whose offset is misaligned for their
 * element size are copied once into owned memory.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "model/model.h"
#include "safetensors.h"

#define MAX_OWNED 4096

typedef struct {
    st_file_t **files;
    int nfiles;
    void **owned;      /* malloc'd buffers (weights of model_new, realigned copies) */
    int nowned;
} model_priv_t;

typedef struct {
    char name[96];
    int ndim;
    int64_t shape[2];
    wtensor_t *dst;
} tspec_t;

/* The tensors a config implies, in file order. Returns the count (specs has room for
 * 9 * n_layers + 3). */
static int tensor_specs(const llada_config_t *c, llada_weights_t *w, tspec_t *s) {
    int n = 0, d = c->d_model, qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
#define ADD(nm, nd, r, cl, dp) do { snprintf(s[n].name, sizeof s[n].name, "%s", nm); \
    s[n].ndim = nd; s[n].shape[0] = r; s[n].shape[1] = cl; s[n].dst = dp; n++; } while (0)
    ADD("model.transformer.wte.weight", 2, c->embedding_size, d, &w->wte);
    for (int l = 0; l < c->n_layers; l++) {
        llada_layer_t *L = &w->layers[l];
        char b[64];
        struct { const char *nm; int nd; int64_t r, cl; wtensor_t *dp; } t[9] = {
            {"attn_norm", 1, d, 1, &L->attn_norm}, {"q_proj", 2, qd, d, &L->q_proj},
            {"k_proj", 2, kvd, d, &L->k_proj}, {"v_proj", 2, kvd, d, &L->v_proj},
            {"attn_out", 2, d, qd, &L->attn_out}, {"ff_norm", 1, d, 1, &L->ff_norm},
            {"ff_proj", 2, c->mlp_hidden_size, d, &L->ff_proj},
            {"up_proj", 2, c->mlp_hidden_size, d, &L->up_proj},
            {"ff_out", 2, d, c->mlp_hidden_size, &L->ff_out}};
        for (int i = 0; i < 9; i++) {
            snprintf(b, sizeof b, "model.transformer.blocks.%d.%s.weight", l, t[i].nm);
            ADD(b, t[i].nd, t[i].r, t[i].cl, t[i].dp);
        }
    }
    ADD("model.transformer.ln_f.weight", 1, d, 1, &w->ln_f);
    if (!c->weight_tying) ADD("model.transformer.ff_out.weight", 2, c->embedding_size, d, &w->lm_head);
#undef ADD
    return n;
}

static char *read_small_file(const char *path, size_t max, size_t *len, lerr_t *e) {
    FILE *f = fopen(path, "rb");
    if (!f) { lerr_set(e, EXIT_IO, "%s: %s", path, strerror(errno)); return NULL; }
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

static int own(model_priv_t *p, void *buf) {
    if (p->nowned >= MAX_OWNED) return -1;
    p->owned[p->nowned++] = buf;
    return 0;
}

static model_t *model_alloc(const llada_config_t *cfg) {
    model_t *m = calloc(1, sizeof *m);
    model_priv_t *p = calloc(1, sizeof *p);
    if (!m || !p) { free(m); free(p); return NULL; }
    m->priv = p;
    m->cfg = *cfg;
    m->w.layers = calloc((size_t)cfg->n_layers, sizeof *m->w.layers);
    p->owned = calloc(MAX_OWNED, sizeof *p->owned);
    if (!m->w.layers || !p->owned) { model_destroy(&m); return NULL; }
    return m;
}

void model_destroy(model_t **mp) {
    model_t *m = mp ? *mp : NULL;
    if (!m) return;
    model_priv_t *p = m->priv;
    if (p) {
        for (int i = 0; i < p->nfiles; i++) st_close(&p->files[i]);
        free(p->files);
        for (int i = 0; i < p->nowned; i++) free(p->owned[i]);
        free(p->owned);
        free(p);
    }
    free(m->w.layers);
    free(m->dir);
    free(m);
    *mp = NULL;
}

/* Open the shard files: the index's weight_map values, or model.safetensors. */
static int open_files(model_t *m, const char *dir, lerr_t *e) {
    model_priv_t *p = m->priv;
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    struct stat st;
    if (stat(path, &st) != 0) {
        p->files = calloc(1, sizeof *p->files);
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        if (!p->files) return lerr_set(e, EXIT_INTERNAL, "out of memory");
        if (!(p->files[0] = st_open(path, e))) return -1;
        p->nfiles = 1;
        return 0;
    }
    size_t len;
    char *txt = read_small_file(path, 64u << 20, &len, e);
    if (!txt) return -1;
    json_error_t je;
    json_t *o = json_loadb(txt, len, 0, &je), *wm = o ? json_object_get(o, "weight_map") : NULL;
    free(txt);
    int rc = -1;
    if (!json_is_object(wm)) { lerr_set(e, EXIT_DATA, "%s: no \"weight_map\" object", path); goto out; }
    p->files = calloc(json_object_size(wm) + 1, sizeof *p->files);
    if (!p->files) { lerr_set(e, EXIT_INTERNAL, "out of memory"); goto out; }
    const char *k;
    json_t *v;
    json_object_foreach(wm, k, v) {
        const char *fn = json_string_value(v);
        if (!fn || !*fn || strchr(fn, '/') || !strcmp(fn, "..")) {
            lerr_set(e, EXIT_DATA, "%s: bad shard file name for \"%s\"", path, k);
            goto out;
        }
        int seen = 0;
        for (int i = 0; i < p->nfiles && !seen; i++) {
            const char *b = strrchr(p->files[i]->path, '/');
            seen = !strcmp(b ? b + 1 : p->files[i]->path, fn);
        }
        if (seen) continue;
        char sp[4096];
        snprintf(sp, sizeof sp, "%s/%s", dir, fn);
        if (!(p->files[p->nfiles] = st_open(sp, e))) goto out;
        p->nfiles++;
    }
    rc = 0;
out:
    json_decref(o);
    return rc;
}

/* Find `name` in exactly one file; NULL with error if absent or duplicated. */
static const st_tensor_t *find_once(model_priv_t *p, const char *name, lerr_t *e) {
    const st_tensor_t *hit = NULL;
    for (int i = 0; i < p->nfiles; i++) {
        const st_tensor_t *t = st_find(p->files[i], name);
        if (t && hit) { lerr_set(e, EXIT_DATA, "tensor \"%s\" appears in more than one file", name); return NULL; }
        if (t) hit = t;
    }
    if (!hit) lerr_set(e, EXIT_DATA, "missing tensor \"%s\"", name);
    return hit;
}

static int bind_tensor(model_priv_t *p, const tspec_t *s, lerr_t *e) {
    const st_tensor_t *t = find_once(p, s->name, e);
    if (!t) return -1;
    int wt = st_wtype(t->dtype);
    if (wt < 0) return lerr_set(e, EXIT_DATA, "tensor \"%s\": dtype %s is not BF16, F16 or F32", s->name, t->dtype);
    if (t->ndim != s->ndim || t->shape[0] != s->shape[0] || (s->ndim == 2 && t->shape[1] != s->shape[1]))
        return lerr_set(e, EXIT_DATA, "tensor \"%s\": shape [%lld%s%lld] does not match the config (expected [%lld%s%lld])",
                        s->name, (long long)t->shape[0], t->ndim > 1 ? ", " : "",
                        t->ndim > 1 ? (long long)t->shape[1] : 0LL, (long long)s->shape[0],
                        s->ndim > 1 ? ", " : "", s->ndim > 1 ? (long long)s->shape[1] : 0LL);
    const void *data = t->data;
    if ((uintptr_t)data % wtype_size((wtype_t)wt)) { /* misaligned in the file: copy */
        void *c = malloc(t->nbytes ? t->nbytes : 1);
        if (!c || own(p, c)) { free(c); return lerr_set(e, EXIT_INTERNAL, "out of memory"); }
        memcpy(c, data, t->nbytes);
        data = c;
    }
    *s->dst = (wtensor_t){(wtype_t)wt, data, s->shape[0], s->ndim == 2 ? s->shape[1] : s->shape[0]};
    if (s->ndim == 1) s->dst->rows = 1;
    return 0;
}

static int bind_all(model_t *m, lerr_t *e) {
    model_priv_t *p = m->priv;
    int cap = 9 * m->cfg.n_layers + 3;
    tspec_t *s = calloc((size_t)cap, sizeof *s);
    if (!s) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    int n = tensor_specs(&m->cfg, &m->w, s), rc = -1, total = 0;
    for (int i = 0; i < n; i++) if (bind_tensor(p, &s[i], e)) goto out;
    for (int f = 0; f < p->nfiles; f++) total += p->files[f]->n;
    if (total != n) { /* name the first unexpected tensor */
        for (int f = 0; f < p->nfiles; f++)
            for (int j = 0; j < p->files[f]->n; j++) {
                int known = 0;
                for (int i = 0; i < n && !known; i++) known = !strcmp(s[i].name, p->files[f]->t[j].name);
                if (!known) {
                    lerr_set(e, EXIT_DATA, "unexpected tensor \"%s\" (not part of a LLaDA model with this config%s)",
                             p->files[f]->t[j].name, m->cfg.weight_tying ? "; weight_tying is true" : "");
                    goto out;
                }
            }
    }
    if (m->cfg.weight_tying) m->w.lm_head = m->w.wte;
    m->cfg.dtype = m->w.wte.type;
    rc = 0;
out:
    free(s);
    return rc;
}

model_t *model_load(const char *dir, lerr_t *e) {
    char path[4096];
    size_t len;
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *txt = read_small_file(path, 1u << 20, &len, e);
    if (!txt) return NULL;
    llada_config_t cfg;
    int rc = llada_config_parse(&cfg, txt, len, e);
    free(txt);
    if (rc) { lerr_wrap(e, "%s", dir); return NULL; }
    model_t *m = model_alloc(&cfg);
    if (!m || !(m->dir = strdup(dir))) {
        model_destroy(&m);
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    if (open_files(m, dir, e) || bind_all(m, e)) {
        if (e && e->code == EXIT_DATA && !strstr(e->msg, dir)) lerr_wrap(e, "%s", dir);
        model_destroy(&m);
        return NULL;
    }
    return m;
}

model_t *model_new(const llada_config_t *cfg, lerr_t *e) {
    model_t *m = model_alloc(cfg);
    if (!m) { lerr_set(e, EXIT_INTERNAL, "out of memory"); return NULL; }
    model_priv_t *p = m->priv;
    tspec_t *s = calloc((size_t)(9 * cfg->n_layers + 3), sizeof *s);
    int n = s ? tensor_specs(cfg, &m->w, s) : 0;
    for (int i = 0; s && i < n; i++) {
        size_t numel = (size_t)s[i].shape[0] * (s[i].ndim == 2 ? (size_t)s[i].shape[1] : 1);
        void *buf = calloc(numel ? numel : 1, wtype_size(cfg->dtype));
        if (!buf || own(p, buf)) { free(buf); free(s); s = NULL; break; }
        *s[i].dst = (wtensor_t){cfg->dtype, buf, s[i].ndim == 2 ? s[i].shape[0] : 1,
                                s[i].ndim == 2 ? s[i].shape[1] : s[i].shape[0]};
    }
    if (!s) { model_destroy(&m); lerr_set(e, EXIT_INTERNAL, "out of memory"); return NULL; }
    free(s);
    if (cfg->weight_tying) m->w.lm_head = m->w.wte;
    return m;
}

int64_t model_n_params(const llada_config_t *c) {
    int64_t d = c->d_model, qd = (int64_t)c->n_heads * c->head_dim, kvd = (int64_t)c->n_kv_heads * c->head_dim;
    int64_t layer = 2 * d + qd * d + 2 * kvd * d + d * qd + 3 * (int64_t)c->mlp_hidden_size * d;
    return (int64_t)c->embedding_size * d * (c->weight_tying ? 1 : 2) + c->n_layers * layer + d;
}

static int write_text(const char *path, const char *s, lerr_t *e) {
    FILE *f = fopen(path, "w");
    if (!f) return lerr_set(e, EXIT_IO, "%s: %s", path, strerror(errno));
    int bad = fputs(s, f) < 0 || fputc('\n', f) < 0;
    if (fclose(f) || bad) return lerr_set(e, EXIT_IO, "%s: write failed", path);
    return 0;
}

int model_save(const model_t *m, const char *dir, wtype_t dtype, lerr_t *e) {
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) return lerr_set(e, EXIT_IO, "%s: %s", dir, strerror(errno));
    llada_config_t cfg = m->cfg;
    cfg.dtype = dtype;
    llada_weights_t w = {.layers = calloc((size_t)cfg.n_layers, sizeof *w.layers)};
    tspec_t *s = calloc((size_t)(9 * cfg.n_layers + 3), sizeof *s);
    st_out_t *o = calloc((size_t)(9 * cfg.n_layers + 3), sizeof *o);
    char *json = llada_config_to_json(&cfg);
    char tmp[4096], fin[4096];
    int rc = -1;
    if (!w.layers || !s || !o || !json) { lerr_set(e, EXIT_INTERNAL, "out of memory"); goto out; }
    int n = tensor_specs(&cfg, &w, s);
    /* map each spec back to the source wtensor by position in m->w (same order) */
    tspec_t *src = calloc((size_t)n, sizeof *src);
    if (!src) { lerr_set(e, EXIT_INTERNAL, "out of memory"); goto out; }
    tensor_specs(&cfg, (llada_weights_t *)&m->w, src);
    for (int i = 0; i < n; i++)
        o[i] = (st_out_t){s[i].name, dtype, s[i].ndim, {s[i].shape[0], s[i].shape[1]},
                          src[i].dst->data, src[i].dst->type};
    snprintf(tmp, sizeof tmp, "%s/model.safetensors.tmp", dir);
    snprintf(fin, sizeof fin, "%s/model.safetensors", dir);
    int bad = st_write(tmp, o, n, e);
    free(src);
    if (bad) goto out;
    if (rename(tmp, fin)) { lerr_set(e, EXIT_IO, "%s: %s", fin, strerror(errno)); goto out; }
    snprintf(tmp, sizeof tmp, "%s/config.json.tmp", dir);
    snprintf(fin, sizeof fin, "%s/config.json", dir);
    if (write_text(tmp, json, e)) goto out;
    if (rename(tmp, fin)) { lerr_set(e, EXIT_IO, "%s: %s", fin, strerror(errno)); goto out; }
    rc = 0;
out:
    free(w.layers);
    free(s);
    free(o);
    free(json);
    return rc;
}
