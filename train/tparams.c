/* tparams.c — flat fp32 parameter layout of a LLaDA model, its initialisation, and the
 * conversion to / from denoise's model_t for HF-format checkpoints. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "tparams.h"
#include "keyrng.h"

#define RNG_INIT 101u /* mrng purpose for parameter initialisation */

static size_t layer_count(const llada_config_t *c) {
    size_t d = c->d_model, q = (size_t)c->n_heads * c->head_dim, kv = (size_t)c->n_kv_heads * c->head_dim,
           f = c->mlp_hidden_size;
    return d + q * d + 2 * kv * d + d * q + d + 3 * f * d;
}

size_t tparams_count(const llada_config_t *c) {
    size_t V = c->embedding_size, d = c->d_model;
    return 2 * V * d + d + (size_t)c->n_layers * layer_count(c);
}

int tparams_bind(const llada_config_t *c, float *base, tview_t *v) {
    size_t d = c->d_model, q = (size_t)c->n_heads * c->head_dim, kv = (size_t)c->n_kv_heads * c->head_dim,
           f = c->mlp_hidden_size;
    v->layer = calloc(c->n_layers, sizeof(tlayer_t));
    if (!v->layer) return -1;
    float *p = base;
    v->wte = p;
    p += (size_t)c->embedding_size * d;
    for (int l = 0; l < c->n_layers; l++) {
        tlayer_t *L = &v->layer[l];
        L->attn_norm = p;
        p += d;
        L->wq = p;
        p += q * d;
        L->wk = p;
        p += kv * d;
        L->wv = p;
        p += kv * d;
        L->wo = p;
        p += d * q;
        L->ff_norm = p;
        p += d;
        L->wg = p;
        p += f * d;
        L->wu = p;
        p += f * d;
        L->wd = p;
        p += d * f;
    }
    v->ln_f = p;
    p += d;
    v->head = p;
    p += (size_t)c->embedding_size * d;
    v->n = (size_t)(p - base);
    return 0;
}

void tparams_unbind(tview_t *v) {
    free(v->layer);
    v->layer = NULL;
}

void tparams_decay_mask(const llada_config_t *c, uint8_t *mask) {
    /* bind over a fake base at address 0 + 1 float, then mark norm ranges 0 */
    size_t n = tparams_count(c), d = c->d_model;
    memset(mask, 1, n);
    size_t off = (size_t)c->embedding_size * d, lc = layer_count(c);
    size_t q = (size_t)c->n_heads * c->head_dim, kv = (size_t)c->n_kv_heads * c->head_dim;
    for (int l = 0; l < c->n_layers; l++, off += lc) {
        memset(mask + off, 0, d);                                  /* attn_norm */
        memset(mask + off + d + q * d + 2 * kv * d + d * q, 0, d); /* ff_norm */
    }
    memset(mask + off, 0, d); /* ln_f */
}

static void fill_normal(float *w, size_t n, double std, mrng_t *r) {
    for (size_t i = 0; i < n; i += 2) {
        double u1 = mrng_uniform_open0(r), u2 = mrng_uniform(r), m = std * sqrt(-2 * log(u1));
        w[i] = (float)(m * cos(2 * M_PI * u2));
        if (i + 1 < n) w[i + 1] = (float)(m * sin(2 * M_PI * u2));
    }
}

static void fill_ones(float *w, size_t n) {
    for (size_t i = 0; i < n; i++) w[i] = 1.0f;
}

void tparams_init(const llada_config_t *c, float *base, double std, uint64_t seed) {
    tview_t v;
    if (tparams_bind(c, base, &v)) return;
    size_t d = c->d_model, q = (size_t)c->n_heads * c->head_dim, kv = (size_t)c->n_kv_heads * c->head_dim,
           f = c->mlp_hidden_size, V = c->embedding_size;
    double ostd = std / sqrt(2.0 * c->n_layers);
    uint64_t idx = 0;
    mrng_t r;
#define NORMAL(ptr, n, s) (mrng_init(&r, seed, 0, idx++, RNG_INIT), fill_normal(ptr, n, s, &r))
    NORMAL(v.wte, V * d, std);
    for (int l = 0; l < c->n_layers; l++) {
        tlayer_t *L = &v.layer[l];
        fill_ones(L->attn_norm, d);
        fill_ones(L->ff_norm, d);
        NORMAL(L->wq, q * d, std);
        NORMAL(L->wk, kv * d, std);
        NORMAL(L->wv, kv * d, std);
        NORMAL(L->wo, d * q, ostd);
        NORMAL(L->wg, f * d, std);
        NORMAL(L->wu, f * d, std);
        NORMAL(L->wd, d * f, ostd);
    }
    fill_ones(v.ln_f, d);
    NORMAL(v.head, V * d, std);
#undef NORMAL
    tparams_unbind(&v);
}
