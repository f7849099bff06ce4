/* test_denoise_pages.c — a precision mode drops the file-mapped pages of the weights it has
 * packed (model_set_precision -> model_release_weight), and nothing changes but the memory:
 *   - bf16 and int8 logits of a checkpoint loaded from a file (safetensors and GGUF), whose
 *     packed matrices' pages were dropped, equal bit for bit those of the same weights held in
 *     malloc'd memory (model_new), where nothing may be dropped;
 *   - the malloc'd weights are byte-identical after packing (madvise(MADV_DONTNEED) on private
 *     anonymous memory would have zeroed them) and their model reports 0 bytes released;
 *   - the released bytes cover every packed matrix (all but page-rounding), the process's
 *     file-backed resident set (RssFile) falls by about that much, and f32 releases nothing;
 *   - back at f32 the logits equal the f32 logits before packing, bit for bit (the dropped
 *     pages are read again from the file), and packing again from them gives the same packs.
 * Needs oneDNN at run time (kpack_available); without it the checks are skipped with a note. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testlib.h"
#include "model/model.h"

enum { NT = 2 + 9 * 2 + 1, SEQ = 9 };

static llada_config_t cfg_of(bool tied) {
    llada_config_t c;
    llada_config_default(&c);
    c.d_model = 256;
    c.n_layers = 2;
    c.n_heads = c.n_kv_heads = 4;
    c.head_dim = 64;
    c.mlp_hidden_size = 768;
    c.vocab_size = c.embedding_size = 4096;
    c.weight_tying = tied;
    c.mask_token_id = 4095;
    c.eos_token_id = c.pad_token_id = 4093;
    c.eot_token_id = 4094;
    c.bos_token_id = 4092;
    c.dtype = WT_F32;
    return c;
}

/* Every tensor of a LLaDA model (the head only when untied); returns the count. */
static int tensors(model_t *m, wtensor_t **all) {
    int n = 0;
    all[n++] = &m->w.wte;
    all[n++] = &m->w.ln_f;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        llada_layer_t *L = &m->w.layers[l];
        wtensor_t *t[9] = {&L->attn_norm, &L->q_proj,  &L->k_proj,  &L->v_proj, &L->attn_out,
                           &L->ff_norm,   &L->ff_proj, &L->up_proj, &L->ff_out};
        for (int i = 0; i < 9; i++) all[n++] = t[i];
    }
    if (!m->cfg.weight_tying) all[n++] = &m->w.lm_head;
    return n;
}

static size_t tbytes(const wtensor_t *w) { return (size_t)w->rows * wtype_bytes(w->type, (size_t)w->cols); }

/* Bytes of the packed matrices (every 2-D tensor but an untied embedding). */
static size_t packed_bytes(model_t *m) {
    wtensor_t *all[NT];
    int n = tensors(m, all);
    size_t b = 0;
    for (int i = 0; i < n; i++)
        if (all[i]->rows > 1 && (all[i] != &m->w.wte || m->cfg.weight_tying)) b += tbytes(all[i]);
    return b;
}

/* The process's resident file-backed bytes (/proc/self/status RssFile), -1 when unreadable. */
static long long rss_file(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "RssFile: %lld kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

static float *logits(const model_t *m) {
    static const int32_t tok[SEQ] = {1, 2, 4095, 4095, 3, 4095, 77, 4095, 900};
    float *o = malloc(sizeof(float) * SEQ * 4096);
    lerr_t e = {0};
    CHECK(o && model_forward_logits(m, tok, NULL, 1, SEQ, o, &e) == 0, "forward: %s", e.msg);
    return o;
}

static bool same(const float *a, const float *b) { return a && b && !memcmp(a, b, sizeof(float) * SEQ * 4096); }

static void *bufs[NT]; /* in_memory's weight copies (a GGUF keeps its vectors in F32) */

/* A model_new copy of `src` whose weights are malloc'd copies of src's (same types). */
static model_t *in_memory(model_t *src) {
    lerr_t e = {0};
    llada_config_t c = src->cfg;
    model_t *m = model_new(&c, &e);
    CHECK(m != NULL, "model_new: %s", e.msg);
    if (!m) return NULL;
    wtensor_t *a[NT], *b[NT];
    int n = tensors(src, a);
    tensors(m, b);
    for (int i = 0; i < n; i++) {
        CHECK(a[i]->rows == b[i]->rows && a[i]->cols == b[i]->cols && (bufs[i] = malloc(tbytes(a[i]))),
              "tensor %d: same shape, memory", i);
        if (!bufs[i]) continue;
        memcpy(bufs[i], a[i]->data, tbytes(a[i]));
        *b[i] = (wtensor_t){a[i]->type, bufs[i], a[i]->rows, a[i]->cols};
    }
    if (c.weight_tying) m->w.lm_head = m->w.wte;
    return m;
}

/* Load `path`, compare each precision against the in-memory copy, check the pages. A GGUF
 * (gguf) holds its Q/K matrices un-permuted in owned copies, which are never released. */
static void check_file(const char *path, const char *what, bool gguf) {
    lerr_t e = {0};
    model_t *f = model_load(path, &e);
    CHECK(f != NULL, "%s: model_load: %s", what, e.msg);
    if (!f) return;
    model_t *h = in_memory(f);
    if (!h) {
        model_destroy(&f);
        return;
    }
    wtensor_t *ht[NT];
    int n = tensors(h, ht);
    size_t total = 0;
    for (int i = 0; i < n; i++) total += tbytes(ht[i]);
    unsigned char *copy = malloc(total), *q = copy;
    for (int i = 0; copy && i < n; q += tbytes(ht[i]), i++) memcpy(q, ht[i]->data, tbytes(ht[i]));

    float *f32 = logits(f), *hf32 = logits(h);
    CHECK(same(f32, hf32), "%s: f32 logits of the file model equal the in-memory model's", what);
    free(hf32);
    size_t want = packed_bytes(f), pg = (size_t)sysconf(_SC_PAGESIZE);
    for (int l = 0; gguf && l < f->cfg.n_layers; l++)
        want -= tbytes(&f->w.layers[l].q_proj) + tbytes(&f->w.layers[l].k_proj);
    CHECK(model_set_precision(f, MODEL_PREC_F32, &e) == 0 && model_precision_released(f) == 0,
          "%s: f32 packs nothing and releases nothing", what);
    static const char *const PN[] = {"f32", "bf16", "int8"};
    for (int p = MODEL_PREC_BF16; p <= MODEL_PREC_INT8; p++) {
        CHECK(model_set_precision(h, p, &e) == 0, "%s: in-memory %s: %s", what, PN[p], e.msg);
        CHECK(model_precision_released(h) == 0, "%s: in-memory %s: nothing released (%zu bytes)", what, PN[p],
              model_precision_released(h));
        float *hl = logits(h), *before = logits(f); /* f at f32 reads (refaults) every weight */
        long long r0 = rss_file();
        CHECK(model_set_precision(f, p, &e) == 0, "%s: %s: %s", what, PN[p], e.msg);
        long long r1 = rss_file();
        size_t rel = model_precision_released(f);
        /* every packed matrix loses at most the two partial pages at its ends */
        CHECK(rel <= want && rel + 2 * pg * (size_t)(2 + 7 * f->cfg.n_layers) >= want,
              "%s: %s: released %zu of %zu packed bytes", what, PN[p], rel, want);
        CHECK(r0 >= 0 && r1 >= 0 && r0 - r1 >= (long long)rel * 3 / 4,
              "%s: %s: RssFile %lld -> %lld bytes after releasing %zu", what, PN[p], r0, r1, rel);
        float *fl = logits(f);
        CHECK(same(fl, hl), "%s: %s logits of the released file model equal the in-memory model's", what, PN[p]);
        CHECK(same(before, f32), "%s: f32 logits before %s equal the first f32 logits", what, PN[p]);
        free(hl);
        free(fl);
        free(before);
        CHECK(model_set_precision(f, MODEL_PREC_F32, &e) == 0 && model_precision_released(f) == 0, "%s: back to f32",
              what);
        float *again = logits(f);
        CHECK(same(again, f32), "%s: f32 logits after %s (pages read again from the file) are unchanged", what, PN[p]);
        free(again);
    }
    q = copy;
    int intact = copy != NULL;
    for (int i = 0; copy && i < n; q += tbytes(ht[i]), i++) intact &= !memcmp(q, ht[i]->data, tbytes(ht[i]));
    CHECK(intact, "%s: the in-memory weights are unchanged after packing", what);
    free(copy);
    free(f32);
    model_destroy(&h);
    for (int i = 0; i < NT; i++) {
        free(bufs[i]);
        bufs[i] = NULL;
    }
    model_destroy(&f);
}

static void run(bool tied) {
    lerr_t e = {0};
    llada_config_t c = cfg_of(tied);
    model_t *m = model_new(&c, &e);
    CHECK(m != NULL, "model_new: %s", e.msg);
    if (!m) return;
    wtensor_t *all[NT];
    int n = tensors(m, all);
    unsigned s = 11;
    for (int i = 0; i < n; i++) {
        float *d = (float *)all[i]->data, sc = all[i]->rows == 1 ? 0.1f : 0.06f;
        for (int64_t j = 0; j < all[i]->rows * all[i]->cols; j++) {
            s = s * 1103515245u + 12345u;
            d[j] = (all[i]->rows == 1 ? 1.0f : 0.0f) + sc * (((s >> 8) & 0xffff) / 32768.0f - 1.0f);
        }
    }
    char dir[] = "/tmp/test_denoise_pages_XXXXXX", gg[64], label[64];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    CHECK(model_save(m, dir, WT_BF16, &e) == 0, "model_save: %s", e.msg);
    snprintf(label, sizeof label, "safetensors bf16%s", tied ? ", tied" : "");
    check_file(dir, label, false);
    snprintf(gg, sizeof gg, "%s/m.gguf", dir);
    CHECK(model_save_gguf(m, gg, "bf16", true, &e) == 0, "model_save_gguf: %s", e.msg);
    snprintf(label, sizeof label, "gguf bf16%s", tied ? ", tied" : "");
    check_file(gg, label, true);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "cleanup");
    model_destroy(&m);
}

int main(void) {
    lerr_t e = {0};
    llada_config_t c = cfg_of(false);
    model_t *probe = model_new(&c, &e);
    int ok = probe && model_set_precision(probe, MODEL_PREC_BF16, &e) == 0;
    model_destroy(&probe);
    if (!ok) {
        printf("# skipped: %s\n", e.msg);
        return TEST_SUMMARY();
    }
    run(false);
    run(true);
    return TEST_SUMMARY();
}
