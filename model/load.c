/* load.c — load, validate, create and save checkpoints of any family (family.h).
 *
 * The family lists every tensor its config implies (names, shapes, where each binds); the
 * binder checks each against a tensor source (source.h: the safetensors files of an HF
 * folder, or a GGUF file when the path names a file): present exactly once, the exact shape, a float dtype; anything else in
 * the source is an error, so a checkpoint with features the graph would ignore (biases,
 * q/k norms) never loads silently. Data stays in the read-only mapping; tensors whose
 * offset is misaligned for their element size are copied once into owned memory.
 * model_release_weight drops the mapped pages of a weight a precision mode has packed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "model/config.h"
#include "model/family.h"
#include "model/gencfg.h"
#include "model/gguf.h"
#include "model/source.h"
#include "safetensors.h"

#define MAX_OWNED 4096

typedef struct {
    model_source_t src;
    void **owned; /* malloc'd buffers (weights of model_new, realigned copies) */
    int nowned;
} model_priv_t;

static int own(model_priv_t *p, void *buf) {
    if (p->nowned >= MAX_OWNED) return -1;
    p->owned[p->nowned++] = buf;
    return 0;
}

static model_t *model_alloc(const model_family_t *f, const llada_config_t *cfg) {
    model_t *m = calloc(1, sizeof *m);
    model_priv_t *p = calloc(1, sizeof *p);
    if (!m || !p) {
        free(m);
        free(p);
        return NULL;
    }
    m->priv = p;
    m->cfg = *cfg;
    m->family = f;
    m->w.layers = calloc((size_t)cfg->n_layers, sizeof *m->w.layers);
    p->owned = calloc(MAX_OWNED, sizeof *p->owned);
    if (!m->w.layers || !p->owned) {
        model_destroy(&m);
        return NULL;
    }
    return m;
}

void model_destroy(model_t **mp) {
    model_t *m = mp ? *mp : NULL;
    if (!m) return;
    model_packs_free(m);
    model_priv_t *p = m->priv;
    if (p) {
        if (p->src.close) p->src.close(p->src.ctx);
        for (int i = 0; i < p->nowned; i++) free(p->owned[i]);
        free(p->owned);
        free(p);
    }
    free(m->w.layers);
    free(m->dir);
    free(m);
    *mp = NULL;
}

size_t model_drop_pages(const void *map, size_t map_len, const void *p, size_t n) {
    uintptr_t m0 = (uintptr_t)map, q = (uintptr_t)p;
    if (!map || !p || q < m0 || q - m0 > map_len || n > map_len - (q - m0)) return 0;
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE), a = (q + pg - 1) & ~(pg - 1), b = (q + n) & ~(pg - 1);
    if (b <= a || madvise((void *)a, b - a, MADV_DONTNEED)) return 0;
    return b - a;
}

size_t model_release_weight(model_t *m, const wtensor_t *W) {
    model_priv_t *p = m->priv;
    if (!W->data || !p || !p->src.release) return 0;
    return p->src.release(p->src.ctx, W->data, (size_t)W->rows * wtype_bytes(W->type, (size_t)W->cols));
}

static int bind_tensor(model_priv_t *p, const model_tensor_spec_t *s, lerr_t *e) {
    model_tview_t t;
    int found = p->src.find(p->src.ctx, s->name, &t, e);
    if (found < 0) return -1;
    if (!found) return lerr_set(e, EXIT_DATA, "missing tensor \"%s\"", s->name);
    int wt = t.type;
    if (wt < 0) /* named as the file names it (a GGUF's blk.N.*: what llama-quantize printed) */
        return lerr_set(e, EXIT_DATA, "tensor \"%s\": dtype %s is not BF16, F16, F32%s", t.name, t.dtype,
                        ", Q8_0, Q4_0, Q5_0, Q5_1, Q4_K, Q5_K or Q6_K");
    if (s->ndim == 1 && wtype_is_quant((wtype_t)wt))
        return lerr_set(e, EXIT_DATA, "tensor \"%s\": a quantised (%s) vector", s->name, t.dtype);
    if (s->ndim == 2 && s->shape[1] % wtype_block((wtype_t)wt))
        return lerr_set(e, EXIT_DATA, "tensor \"%s\": %lld columns do not fill %s blocks", s->name,
                        (long long)s->shape[1], t.dtype);
    if (t.ndim != s->ndim || t.shape[0] != s->shape[0] || (s->ndim == 2 && t.shape[1] != s->shape[1]))
        return lerr_set(e, EXIT_DATA,
                        "tensor \"%s\": shape [%lld%s%lld] does not match the config (expected [%lld%s%lld])", s->name,
                        (long long)t.shape[0], t.ndim > 1 ? ", " : "", t.ndim > 1 ? (long long)t.shape[1] : 0LL,
                        (long long)s->shape[0], s->ndim > 1 ? ", " : "", s->ndim > 1 ? (long long)s->shape[1] : 0LL);
    const void *data = t.data;
    if ((uintptr_t)data %
        (wtype_is_quant((wtype_t)wt) ? 2 : wtype_size((wtype_t)wt))) { /* misaligned in the file: copy */
        void *c = malloc(t.nbytes ? t.nbytes : 1);
        if (!c || own(p, c)) {
            free(c);
            return lerr_set(e, EXIT_INTERNAL, "out of memory");
        }
        memcpy(c, data, t.nbytes);
        data = c;
    }
    *s->dst = (wtensor_t){(wtype_t)wt, data, s->shape[0], s->ndim == 2 ? s->shape[1] : s->shape[0]};
    if (s->ndim == 1) s->dst->rows = 1;
    return 0;
}

static int bind_all(model_t *m, lerr_t *e) {
    model_priv_t *p = m->priv;
    const model_family_t *f = m->family;
    model_tensor_spec_t *s = calloc((size_t)f->max_tensors(&m->cfg), sizeof *s);
    if (!s) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    int n = f->tensor_specs(&m->cfg, &m->w, s), rc = -1, total = p->src.count(p->src.ctx);
    for (int i = 0; i < n; i++)
        if (bind_tensor(p, &s[i], e)) goto out;
    if (total != n) { /* name the first unexpected tensor */
        for (int j = 0; j < total; j++) {
            const char *name = p->src.name_at(p->src.ctx, j);
            int known = 0;
            for (int i = 0; i < n && !known; i++) known = !strcmp(s[i].name, name);
            if (!known) {
                lerr_set(e, EXIT_DATA, "unexpected tensor \"%s\" (not part of a %s model with this config%s)", name,
                         f->display, m->cfg.weight_tying ? "; weight_tying is true" : "");
                goto out;
            }
        }
    }
    if (m->cfg.weight_tying) m->w.lm_head = m->w.wte;
    model_split_fused(&m->cfg, &m->w);
    m->cfg.dtype = m->w.wte.type;
    rc = 0;
out:
    free(s);
    return rc;
}

/* A GGUF file: family and config from its metadata, tensors from the file. */
static model_t *load_gguf(const char *path, lerr_t *e) {
    gguf_file_t *f = gguf_open(path, e);
    if (!f) return NULL;
    llada_config_t cfg;
    const model_family_t *fam = NULL;
    if (gguf_model_config(f, &cfg, &fam, e)) {
        gguf_close(&f);
        return NULL;
    }
    model_t *m = model_alloc(fam, &cfg);
    if (!m || !(m->dir = strdup(path))) {
        gguf_close(&f);
        model_destroy(&m);
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    if (gguf_source_open(&((model_priv_t *)m->priv)->src, f, &cfg, e) || bind_all(m, e)) {
        if (e && e->code == EXIT_DATA && !strstr(e->msg, path)) lerr_wrap(e, "%s", path);
        model_destroy(&m);
        return NULL;
    }
    return m;
}

/* family.h block_from_gencfg: DIR/generation_config.json's "block_length" is the attention
 * block of c (EXIT_DATA when outside 1..max_position_embeddings). */
static int gencfg_block(const char *dir, llada_config_t *c, lerr_t *e) {
    gencfg_t g;
    if (gencfg_read(dir, &g, e)) return -1;
    if (g.block_length <= 0) return 0;
    if (g.block_length > c->max_sequence_length)
        return lerr_set(e, EXIT_DATA,
                        "%s/generation_config.json: \"block_length\" %d (the attention block) exceeds "
                        "max_position_embeddings %d",
                        dir, g.block_length, c->max_sequence_length);
    c->attn_block = g.block_length;
    return 0;
}

model_t *model_load(const char *dir, lerr_t *e) {
    char path[4096];
    struct stat st;
    if (stat(dir, &st) == 0 && S_ISREG(st.st_mode)) return load_gguf(dir, e);
    size_t len;
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *txt = cfg_read_file(path, 1u << 20, &len, e);
    if (!txt) return NULL;
    llada_config_t cfg;
    const model_family_t *f = model_family_detect(txt, len, e);
    int rc = f ? f->config_parse(&cfg, txt, len, e) : -1;
    free(txt);
    if (rc) {
        lerr_wrap(e, "%s", dir);
        return NULL;
    }
    if (f->block_from_gencfg && gencfg_block(dir, &cfg, e)) return NULL;
    model_t *m = model_alloc(f, &cfg);
    if (!m || !(m->dir = strdup(dir))) {
        model_destroy(&m);
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    if (st_source_open(&((model_priv_t *)m->priv)->src, dir, e) || bind_all(m, e)) {
        if (e && e->code == EXIT_DATA && !strstr(e->msg, dir)) lerr_wrap(e, "%s", dir);
        model_destroy(&m);
        return NULL;
    }
    return m;
}

model_t *model_new(const llada_config_t *cfg, lerr_t *e) {
    const model_family_t *f = &model_family_llada;
    model_t *m = model_alloc(f, cfg);
    if (!m) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    model_priv_t *p = m->priv;
    model_tensor_spec_t *s = calloc((size_t)f->max_tensors(cfg), sizeof *s);
    int n = s ? f->tensor_specs(cfg, &m->w, s) : 0;
    for (int i = 0; s && i < n; i++) {
        size_t numel = (size_t)s[i].shape[0] * (s[i].ndim == 2 ? (size_t)s[i].shape[1] : 1);
        void *buf = calloc(numel ? numel : 1, wtype_size(cfg->dtype));
        if (!buf || own(p, buf)) {
            free(buf);
            free(s);
            s = NULL;
            break;
        }
        *s[i].dst = (wtensor_t){cfg->dtype, buf, s[i].ndim == 2 ? s[i].shape[0] : 1,
                                s[i].ndim == 2 ? s[i].shape[1] : s[i].shape[0]};
    }
    if (!s) {
        model_destroy(&m);
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    free(s);
    if (cfg->weight_tying) m->w.lm_head = m->w.wte;
    return m;
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
    const model_family_t *f = m->family;
    llada_config_t cfg = m->cfg;
    cfg.dtype = dtype;
    int cap = f->max_tensors(&cfg);
    model_tensor_spec_t *s = calloc((size_t)cap, sizeof *s);
    st_out_t *o = calloc((size_t)cap, sizeof *o);
    char *json = f->config_to_json(&cfg);
    char tmp[4096], fin[4096];
    int rc = -1;
    if (!s || !o || !json) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        goto out;
    }
    /* the specs only point at m->w's tensors, which are read, never written */
    int n = f->tensor_specs(&cfg, (llada_weights_t *)&m->w, s);
    for (int i = 0; i < n; i++)
        o[i] = (st_out_t){s[i].name, dtype, s[i].ndim, {s[i].shape[0], s[i].shape[1]}, s[i].dst->data, s[i].dst->type};
    snprintf(tmp, sizeof tmp, "%s/model.safetensors.tmp", dir);
    snprintf(fin, sizeof fin, "%s/model.safetensors", dir);
    if (st_write(tmp, o, n, e)) goto out;
    if (rename(tmp, fin)) {
        lerr_set(e, EXIT_IO, "%s: %s", fin, strerror(errno));
        goto out;
    }
    snprintf(tmp, sizeof tmp, "%s/config.json.tmp", dir);
    snprintf(fin, sizeof fin, "%s/config.json", dir);
    if (write_text(tmp, json, e)) goto out;
    if (rename(tmp, fin)) {
        lerr_set(e, EXIT_IO, "%s: %s", fin, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    free(s);
    free(o);
    free(json);
    return rc;
}
