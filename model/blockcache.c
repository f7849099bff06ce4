/* blockcache.c — the exact block cache of block-diffusion models (model.h:
 * model_block_forward): per layer the post-RoPE K and V of every position up to the cached
 * length, and a forward of whole blocks at positions p0.. that computes only their rows.
 * Same steps as forward.c's graph (RMSNorm, q/k/v + optional biases, per-head q/k norm,
 * RoPE at absolute positions, block-causal attention over cache + block (blockattn.c),
 * output projection, dense or MoE FFN, final RMSNorm). Buffers are allocated once, for
 * max_len positions; a forward allocates nothing.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "model/family.h"

struct model_block_cache {
    int max_len, len, n_layers;
    float **k, **v; /* [n_layers][max_len][kvd] */
    float *x, *xn, *q, *kb, *vb, *ao, *gate, *up, *scores, *cos_t, *sin_t;
    int32_t *pos;
    moe_scratch_t *moe;
};

model_block_cache_t *model_block_cache_new(const model_t *m, int max_len, lerr_t *e) {
    const llada_config_t *c = &m->cfg;
    size_t T = (size_t)max_len, d = c->d_model, qd = (size_t)c->n_heads * c->head_dim,
           kvd = (size_t)c->n_kv_heads * c->head_dim, f = c->mlp_hidden_size;
    model_block_cache_t *kc = calloc(1, sizeof *kc);
    if (!kc) goto oom;
    kc->max_len = max_len;
    kc->n_layers = c->n_layers;
    kc->k = calloc((size_t)c->n_layers, sizeof *kc->k);
    kc->v = calloc((size_t)c->n_layers, sizeof *kc->v);
    if (!kc->k || !kc->v) goto oom;
    for (int l = 0; l < c->n_layers; l++)
        if (!(kc->k[l] = malloc(T * kvd * sizeof(float))) || !(kc->v[l] = malloc(T * kvd * sizeof(float)))) goto oom;
    float **bufs[] = {&kc->x,    &kc->xn, &kc->q,      &kc->kb,    &kc->vb,   &kc->ao,
                      &kc->gate, &kc->up, &kc->scores, &kc->cos_t, &kc->sin_t};
    size_t sizes[] = {
        T * d, T * d, T * qd, T * kvd, T * kvd, T * qd, T * f, T * f, T, T * c->head_dim / 2, T * c->head_dim / 2};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        if (!(*bufs[i] = malloc((sizes[i] ? sizes[i] : 1) * sizeof(float)))) goto oom;
    if (!(kc->pos = malloc(T * sizeof *kc->pos))) goto oom;
    if (c->n_experts > 0 && !(kc->moe = moe_scratch_new(c, max_len))) goto oom;
    rope_tables(kc->cos_t, kc->sin_t, max_len, model_rope_dim(c), c->rope_theta);
    return kc;
oom:
    model_block_cache_destroy(&kc);
    lerr_set(e, EXIT_INTERNAL, "out of memory for a block cache of %d positions", max_len);
    return NULL;
}

void model_block_cache_destroy(model_block_cache_t **cp) {
    model_block_cache_t *kc = cp ? *cp : NULL;
    if (!kc) return;
    for (int l = 0; l < kc->n_layers; l++) {
        if (kc->k) free(kc->k[l]);
        if (kc->v) free(kc->v[l]);
    }
    free(kc->k);
    free(kc->v);
    float *bufs[] = {kc->x, kc->xn, kc->q, kc->kb, kc->vb, kc->ao, kc->gate, kc->up, kc->scores, kc->cos_t, kc->sin_t};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
    free(kc->pos);
    moe_scratch_destroy(&kc->moe);
    free(kc);
    *cp = NULL;
}

static void add_bias(float *y, const wtensor_t *b, int T, int n) {
    if (!b->data) return;
    float bf[256];
    for (int i0 = 0; i0 < n; i0 += 256) {
        int k = n - i0 < 256 ? n - i0 : 256;
        wconvert_f32(bf, (const char *)b->data + (size_t)i0 * wtype_size(b->type), b->type, (size_t)k);
        for (int t = 0; t < T; t++)
            for (int i = 0; i < k; i++) y[(size_t)t * n + i0 + i] += bf[i];
    }
}

int model_block_forward(const model_t *m, model_block_cache_t *kc, const int32_t *tokens, int n, int p0, bool store,
                        float *hidden, lerr_t *e) {
    const llada_config_t *c = &m->cfg;
    int d = c->d_model, hd = c->head_dim, Hq = c->n_heads, Hkv = c->n_kv_heads, blk = c->attn_block;
    size_t qd = (size_t)Hq * hd, kvd = (size_t)Hkv * hd;
    float eps = (float)c->rms_norm_eps;
    if (blk <= 0)
        return lerr_set(e, EXIT_INTERNAL, "model_block_forward: %s is not a block-diffusion model", m->family->display);
    if (p0 != kc->len || n <= 0 || p0 + n > kc->max_len || p0 % blk || n % blk)
        return lerr_set(e, EXIT_INTERNAL,
                        "model_block_forward: rows [%d, %d) do not follow the cached %d (of %d) in whole blocks", p0,
                        p0 + n, kc->len, kc->max_len);
    for (int t = 0; t < n; t++) {
        if (tokens[t] < 0 || tokens[t] >= c->embedding_size)
            return lerr_set(e, EXIT_DATA, "token id %d outside the model's vocabulary [0, %d)", tokens[t],
                            c->embedding_size);
        kc->pos[t] = p0 + t;
    }
    embed(kc->x, &m->w.wte, tokens, n);
    for (int l = 0; l < c->n_layers; l++) {
        const llada_layer_t *ly = &m->w.layers[l];
        float *K = kc->k[l] + (size_t)p0 * kvd, *Vv = kc->v[l] + (size_t)p0 * kvd;
        rmsnorm(kc->xn, kc->x, &ly->attn_norm, n, d, eps);
        matmul(kc->q, kc->xn, &ly->q_proj, n, false);
        matmul(K, kc->xn, &ly->k_proj, n, false);
        matmul(Vv, kc->xn, &ly->v_proj, n, false);
        add_bias(kc->q, &ly->q_bias, n, (int)qd);
        add_bias(K, &ly->k_bias, n, (int)kvd);
        add_bias(Vv, &ly->v_bias, n, (int)kvd);
        if (ly->q_norm.data) { /* per-head q/k RMSNorm (as forward.c) */
            rmsnorm(kc->q, kc->q, &ly->q_norm, n * Hq, hd, eps);
            rmsnorm(K, K, &ly->k_norm, n * Hkv, hd, eps);
        }
        if (c->clip_qkv > 0) {
            float cl = c->clip_qkv, *bb[3] = {kc->q, K, Vv};
            size_t ns[3] = {(size_t)n * qd, (size_t)n * kvd, (size_t)n * kvd};
            for (int b = 0; b < 3; b++)
                for (size_t i = 0; i < ns[b]; i++) bb[b][i] = fminf(fmaxf(bb[b][i], -cl), cl);
        }
        rope_apply_part(kc->q, n, Hq, hd, model_rope_dim(c), kc->cos_t, kc->sin_t, kc->pos);
        rope_apply_part(K, n, Hkv, hd, model_rope_dim(c), kc->cos_t, kc->sin_t, kc->pos);
        block_causal_attention(kc->ao, kc->q, kc->k[l], kc->v[l], n, p0, p0 + n, Hq, Hkv, hd, blk, kc->scores);
        matmul(kc->x, kc->ao, &ly->attn_out, n, true);
        add_bias(kc->x, &ly->out_bias, n, d);
        rmsnorm(kc->xn, kc->x, &ly->ff_norm, n, d, eps);
        if (ly->router.data) moe_ffn(c, ly, kc->xn, kc->x, n, kc->moe);
        else {
            matmul(kc->gate, kc->xn, &ly->ff_proj, n, false);
            matmul(kc->up, kc->xn, &ly->up_proj, n, false);
            swiglu(kc->gate, kc->gate, kc->up, (size_t)n * c->mlp_hidden_size);
            matmul(kc->x, kc->gate, &ly->ff_out, n, true);
        }
    }
    if (hidden) rmsnorm(hidden, kc->x, &m->w.ln_f, n, d, eps);
    if (store) kc->len = p0 + n;
    return 0;
}
