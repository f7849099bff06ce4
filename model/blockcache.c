/* blockcache.c — the exact block cache of block-diffusion models (model.h:
 * model_block_forward): per layer the post-RoPE K and V of every position up to the cached
 * length, and a forward of whole blocks at positions p0.. that computes only their rows.
 * Same steps as forward.c's graph (RMSNorm, q/k/v + optional biases, per-head q/k norm,
 * RoPE at absolute positions, block-causal attention over cache + block (blockattn.c),
 * output projection, dense or MoE FFN, final RMSNorm). Buffers are allocated once, for
 * max_len positions; a forward allocates nothing. model_block_forward_rows runs several
 * caches' rows in lockstep: every projection and the FFN over all rows' tokens at once (the
 * weights read once), RoPE, the K/V append and attention per row against its own cache.
 * Under a precision mode (model_set_precision) the linear layers run through the model's
 * prepacked bf16 / int8 weights, as forward.c's graph does.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "model/family.h"

/* Work buffers of a forward over `rows` token rows (a cache's own, or a lockstep batch's). */
struct model_block_scratch {
    int rows;
    float *x, *xn, *q, *kb, *vb, *ao, *gate, *up;
    int32_t *pos;
    moe_scratch_t *moe;
};

struct model_block_cache {
    int max_len, len, n_layers;
    float **k, **v; /* [n_layers][max_len][kvd] */
    float *scores, *cos_t, *sin_t;
    model_block_scratch_t s; /* for max_len rows (prefill, single-row steps) */
};

static void scratch_free(model_block_scratch_t *s) {
    float *bufs[] = {s->x, s->xn, s->q, s->kb, s->vb, s->ao, s->gate, s->up};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
    free(s->pos);
    moe_scratch_destroy(&s->moe);
    memset(s, 0, sizeof *s);
}

/* 0, or -1 on OOM (s partly filled: scratch_free). */
static int scratch_init(model_block_scratch_t *s, const llada_config_t *c, int rows) {
    size_t T = (size_t)rows, d = c->d_model, qd = (size_t)c->n_heads * c->head_dim,
           kvd = (size_t)c->n_kv_heads * c->head_dim, f = c->mlp_hidden_size;
    s->rows = rows;
    float **bufs[] = {&s->x, &s->xn, &s->q, &s->kb, &s->vb, &s->ao, &s->gate, &s->up};
    size_t sizes[] = {T * d, T * d, T * qd, T * kvd, T * kvd, T * qd, T * f, T * f};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        if (!(*bufs[i] = malloc((sizes[i] ? sizes[i] : 1) * sizeof(float)))) return -1;
    if (!(s->pos = malloc(T * sizeof *s->pos))) return -1;
    if (c->n_experts > 0 && !(s->moe = moe_scratch_new(c, rows))) return -1;
    return 0;
}

model_block_scratch_t *model_block_scratch_new(const model_t *m, int rows, lerr_t *e) {
    model_block_scratch_t *s = calloc(1, sizeof *s);
    if (s && !scratch_init(s, &m->cfg, rows)) return s;
    if (s) scratch_free(s);
    free(s);
    lerr_set(e, EXIT_INTERNAL, "out of memory for a lockstep batch of %d rows", rows);
    return NULL;
}

void model_block_scratch_destroy(model_block_scratch_t **sp) {
    if (!sp || !*sp) return;
    scratch_free(*sp);
    free(*sp);
    *sp = NULL;
}

model_block_cache_t *model_block_cache_new(const model_t *m, int max_len, lerr_t *e) {
    const llada_config_t *c = &m->cfg;
    size_t T = (size_t)max_len, kvd = (size_t)c->n_kv_heads * c->head_dim;
    model_block_cache_t *kc = calloc(1, sizeof *kc);
    if (!kc) goto oom;
    kc->max_len = max_len;
    kc->n_layers = c->n_layers;
    kc->k = calloc((size_t)c->n_layers, sizeof *kc->k);
    kc->v = calloc((size_t)c->n_layers, sizeof *kc->v);
    if (!kc->k || !kc->v) goto oom;
    for (int l = 0; l < c->n_layers; l++)
        if (!(kc->k[l] = malloc(T * kvd * sizeof(float))) || !(kc->v[l] = malloc(T * kvd * sizeof(float)))) goto oom;
    if (!(kc->scores = malloc(T * sizeof(float))) || !(kc->cos_t = malloc(T * c->head_dim / 2 * sizeof(float))) ||
        !(kc->sin_t = malloc(T * c->head_dim / 2 * sizeof(float))) || scratch_init(&kc->s, c, max_len))
        goto oom;
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
    free(kc->scores);
    free(kc->cos_t);
    free(kc->sin_t);
    scratch_free(&kc->s);
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

int model_block_forward_rows(const model_t *m, model_block_cache_t *const *kcs, int B, const int32_t *const *tokens,
                             const int *n, const int *p0, const bool *store, model_block_scratch_t *s, float *hidden,
                             lerr_t *e) {
    static const model_layer_packs_t no_packs;
    const llada_config_t *c = &m->cfg;
    int d = c->d_model, hd = c->head_dim, Hq = c->n_heads, Hkv = c->n_kv_heads, blk = c->attn_block, N = 0;
    size_t qd = (size_t)Hq * hd, kvd = (size_t)Hkv * hd;
    float eps = (float)c->rms_norm_eps;
    if (blk <= 0)
        return lerr_set(e, EXIT_INTERNAL, "model_block_forward: %s is not a block-diffusion model", m->family->display);
    for (int b = 0; b < B; b++) {
        const model_block_cache_t *kc = kcs[b];
        if (p0[b] != kc->len || n[b] <= 0 || p0[b] + n[b] > kc->max_len || p0[b] % blk || n[b] % blk)
            return lerr_set(e, EXIT_INTERNAL,
                            "model_block_forward: rows [%d, %d) do not follow the cached %d (of %d) in whole blocks",
                            p0[b], p0[b] + n[b], kc->len, kc->max_len);
        if (N + n[b] > s->rows)
            return lerr_set(e, EXIT_INTERNAL, "model_block_forward: %d rows exceed the scratch's %d", N + n[b],
                            s->rows);
        for (int t = 0; t < n[b]; t++) {
            int32_t tok = tokens[b][t];
            if (tok < 0 || tok >= c->embedding_size)
                return lerr_set(e, EXIT_DATA, "token id %d outside the model's vocabulary [0, %d)", tok,
                                c->embedding_size);
            s->pos[N + t] = p0[b] + t;
        }
        embed(s->x + (size_t)N * d, &m->w.wte, tokens[b], n[b]);
        N += n[b];
    }
    for (int l = 0; l < c->n_layers; l++) {
        const llada_layer_t *ly = &m->w.layers[l];
        const model_layer_packs_t *pk = m->packs ? &m->packs->layers[l] : &no_packs;
        rmsnorm(s->xn, s->x, &ly->attn_norm, N, d, eps);
        if (model_linear(s->q, s->xn, &ly->q_proj, pk->q_proj, N, false) ||
            model_linear(s->kb, s->xn, &ly->k_proj, pk->k_proj, N, false) ||
            model_linear(s->vb, s->xn, &ly->v_proj, pk->v_proj, N, false))
            goto gemm_failed;
        add_bias(s->q, &ly->q_bias, N, (int)qd);
        add_bias(s->kb, &ly->k_bias, N, (int)kvd);
        add_bias(s->vb, &ly->v_bias, N, (int)kvd);
        if (ly->q_norm.data) { /* per-head q/k RMSNorm (as forward.c) */
            rmsnorm(s->q, s->q, &ly->q_norm, N * Hq, hd, eps);
            rmsnorm(s->kb, s->kb, &ly->k_norm, N * Hkv, hd, eps);
        }
        if (c->clip_qkv > 0) {
            float cl = c->clip_qkv, *bb[3] = {s->q, s->kb, s->vb};
            size_t ns[3] = {(size_t)N * qd, (size_t)N * kvd, (size_t)N * kvd};
            for (int b = 0; b < 3; b++)
                for (size_t i = 0; i < ns[b]; i++) bb[b][i] = fminf(fmaxf(bb[b][i], -cl), cl);
        }
        /* per row: RoPE at its positions, its K/V into its cache, attention over its cache */
        for (int b = 0, o = 0; b < B; o += n[b++]) {
            model_block_cache_t *kc = kcs[b];
            float *q = s->q + (size_t)o * qd, *K = s->kb + (size_t)o * kvd, *Vv = s->vb + (size_t)o * kvd;
            rope_apply_part(q, n[b], Hq, hd, model_rope_dim(c), kc->cos_t, kc->sin_t, s->pos + o);
            rope_apply_part(K, n[b], Hkv, hd, model_rope_dim(c), kc->cos_t, kc->sin_t, s->pos + o);
            memcpy(kc->k[l] + (size_t)p0[b] * kvd, K, (size_t)n[b] * kvd * sizeof *K);
            memcpy(kc->v[l] + (size_t)p0[b] * kvd, Vv, (size_t)n[b] * kvd * sizeof *Vv);
            block_causal_attention(s->ao + (size_t)o * qd, q, kc->k[l], kc->v[l], n[b], p0[b], p0[b] + n[b], Hq, Hkv,
                                   hd, blk, kc->scores);
        }
        if (model_linear(s->x, s->ao, &ly->attn_out, pk->attn_out, N, true)) goto gemm_failed;
        add_bias(s->x, &ly->out_bias, N, d);
        rmsnorm(s->xn, s->x, &ly->ff_norm, N, d, eps);
        if (ly->router.data) {
            if (moe_ffn(c, ly, pk, s->xn, s->x, N, s->moe)) goto gemm_failed;
        }
        else {
            if (model_linear(s->gate, s->xn, &ly->ff_proj, pk->ff_proj, N, false) ||
                model_linear(s->up, s->xn, &ly->up_proj, pk->up_proj, N, false))
                goto gemm_failed;
            swiglu(s->gate, s->gate, s->up, (size_t)N * c->mlp_hidden_size);
            if (model_linear(s->x, s->gate, &ly->ff_out, pk->ff_out, N, true)) goto gemm_failed;
        }
    }
    if (hidden) rmsnorm(hidden, s->x, &m->w.ln_f, N, d, eps);
    for (int b = 0; b < B; b++)
        if (store[b]) kcs[b]->len = p0[b] + n[b];
    return 0;
gemm_failed: /* the caches' lengths are unchanged: the K/V written past them are not in use */
    return lerr_set(e, EXIT_INTERNAL, "a reduced-precision GEMM failed (out of memory or a oneDNN error)");
}

int model_block_forward(const model_t *m, model_block_cache_t *kc, const int32_t *tokens, int n, int p0, bool store,
                        float *hidden, lerr_t *e) {
    return model_block_forward_rows(m, &kc, 1, &tokens, &n, &p0, &store, &kc->s, hidden, e);
}
