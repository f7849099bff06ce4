/* forward.c — the dense transformer graph on the CPU, LLaDA's (llada.md §2.3), fp32
 * activations; families point at it from their table (family.h: dense_forward_hidden,
 * dense_head), and model.h's entry points reach it through the model's family.
 *
 * tokens [B][L] -> embedding -> n_layers x (RMSNorm, q/k/v (+ biases: Dream; per-head
 * RMSNorm and clipping: LLaDA-MoE), half-split RoPE, bidirectional attention with key
 * padding mask, output projection (+ bias) + residual, RMSNorm, SwiGLU MLP or the MoE FFN of
 * moe.c + residual) -> final RMSNorm. Optional tensors a family leaves unbound are skipped. model_head applies the LM head to selected rows only, so the
 * sampler never materialises logits it does not need. All products go through matmul()
 * (f32: OpenBLAS sgemm; bf16: AVX-512-BF16 / AMX kernels reading the weights as stored, or
 * panels converted to f32 on CPUs without them). The scratch (fwd_scratch_new) is the
 * transformer activations every graph of this file shares.
 *
 * With a precision mode (model_set_precision, precision.c) every linear layer and the LM
 * head run through their prepacked kernels/ kpack_t (bf16 or int8 GEMMs on oneDNN) instead.
 *
 * dense_forward_cached is the same graph with a KV cache (fwd_cache_t, owned here): a full
 * pass stores every layer's K/V; a partial pass computes only positions [r0, r1) of each row
 * (activations packed as B x (r1 - r0) rows in the scratch), their queries against the
 * cached K/V of the other positions (attention_flash). The full pass runs exactly the
 * uncached operations, so its hidden states are bit-identical to dense_forward_hidden's.
 *
 * Attention: attention() (tiled sgemm + softmax, the exact sums) for f32 full passes, which
 * keeps --precision f32 --cache none bit-identical to the official sampler; the fused
 * online-softmax kernel attention_flash (kernels/attn_flash.c, faster at every canvas
 * measured: bench/attn.sh) for cache steps and in the bf16/int8 modes, whose results are
 * approximate anyway. Causal (AR) models always take attention().
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "model/family.h"

struct fwd_scratch {
    int B, L;
    int failed; /* a precision-mode GEMM failed (OOM / oneDNN) in this pass */
    float *x, *xn, *q, *k, *v, *ao, *gate, *up, *att, *cos_t, *sin_t;
    moe_scratch_t *moe; /* MoE models only */
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Per-op time accumulators (seconds), read by fwd_profile(). */
static double g_prof[FWD_PROF_N];
static const char *const g_prof_names[FWD_PROF_N] = {"embed",      "rmsnorm",    "qkv_matmul", "rope",   "attention",
                                                     "out_matmul", "mlp_matmul", "swiglu",     "lm_head"};

const double *fwd_profile(const char *const **names) {
    if (names) *names = g_prof_names;
    return g_prof;
}
void fwd_profile_reset(void) { memset(g_prof, 0, sizeof g_prof); }

fwd_scratch_t *fwd_scratch_new(const model_t *m, int B, int L, lerr_t *e) {
    const llada_config_t *c = &m->cfg;
    size_t T = (size_t)B * L, d = c->d_model, qd = (size_t)c->n_heads * c->head_dim,
           kvd = (size_t)c->n_kv_heads * c->head_dim, f = c->mlp_hidden_size;
    fwd_scratch_t *s = calloc(1, sizeof *s);
    if (!s) goto oom;
    s->B = B;
    s->L = L;
    float **bufs[] = {&s->x, &s->xn, &s->q, &s->k, &s->v, &s->ao, &s->gate, &s->up, &s->att, &s->cos_t, &s->sin_t};
    size_t sizes[] = {T * d,
                      T * d,
                      T * qd,
                      T * kvd,
                      T * kvd,
                      T * qd,
                      T * f,
                      T * f,
                      attention_scratch_floats(L, c->n_heads),
                      (size_t)L * c->head_dim / 2,
                      (size_t)L * c->head_dim / 2};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t bytes = (sizes[i] * sizeof(float) + 63) & ~(size_t)63;
        if (!(*bufs[i] = aligned_alloc(64, bytes ? bytes : 64))) goto oom;
    }
    rope_tables(s->cos_t, s->sin_t, L, model_rope_dim(c), c->rope_theta);
    if (c->n_experts > 0 && !(s->moe = moe_scratch_new(c, (int)T))) goto oom;
    return s;
oom:
    fwd_scratch_destroy(&s);
    lerr_set(e, EXIT_INTERNAL, "out of memory for a forward pass of %d x %d tokens", B, L);
    return NULL;
}

void fwd_scratch_destroy(fwd_scratch_t **sp) {
    fwd_scratch_t *s = sp ? *sp : NULL;
    if (!s) return;
    float *bufs[] = {s->x, s->xn, s->q, s->k, s->v, s->ao, s->gate, s->up, s->att, s->cos_t, s->sin_t};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
    moe_scratch_destroy(&s->moe);
    free(s);
    *sp = NULL;
}

/* ---- KV cache ---- */
struct fwd_cache {
    int B, L, n_layers;
    size_t kvd;
    float *k, *v; /* [n_layers][B][L][kvd] each */
};

size_t fwd_cache_bytes(const llada_config_t *c, int B, int L) {
    return (size_t)c->n_layers * B * L * 2 * c->n_kv_heads * c->head_dim * sizeof(float);
}

fwd_cache_t *fwd_cache_new(const model_t *m, int B, int L, lerr_t *e) {
    const llada_config_t *c = &m->cfg;
    fwd_cache_t *kv = calloc(1, sizeof *kv);
    size_t half = fwd_cache_bytes(c, B, L) / 2;
    if (kv) {
        *kv = (fwd_cache_t){B, L, c->n_layers, (size_t)c->n_kv_heads * c->head_dim, NULL, NULL};
        kv->k = aligned_alloc(64, (half + 63) & ~(size_t)63);
        kv->v = aligned_alloc(64, (half + 63) & ~(size_t)63);
    }
    if (!kv || !kv->k || !kv->v) {
        fwd_cache_destroy(&kv);
        lerr_set(e, EXIT_INTERNAL, "out of memory for a KV cache of %d x %d tokens (%zu MB)", B, L,
                 fwd_cache_bytes(c, B, L) >> 20);
        return NULL;
    }
    return kv;
}

void fwd_cache_destroy(fwd_cache_t **kvp) {
    fwd_cache_t *kv = kvp ? *kvp : NULL;
    if (!kv) return;
    free(kv->k);
    free(kv->v);
    free(kv);
    *kvp = NULL;
}

void fwd_cache_keep_rows(fwd_cache_t *kv, const int *src, int n) {
    size_t row = (size_t)kv->L * kv->kvd;
    for (int l = 0; l < kv->n_layers; l++)
        for (int i = 0; i < n; i++) {
            if (src[i] == i) continue;
            size_t to = ((size_t)l * kv->B + i) * row, from = ((size_t)l * kv->B + src[i]) * row;
            memmove(kv->k + to, kv->k + from, row * sizeof(float));
            memmove(kv->v + to, kv->v + from, row * sizeof(float));
        }
}

#define TIMED(slot, stmt) \
    do { \
        double t0_ = now_s(); \
        stmt; \
        g_prof[slot] += now_s() - t0_; \
    } while (0)

/* One linear layer: through its prepacked weights when the model has a precision mode
 * (model_set_precision), else matmul() on the weights as stored. */
static void linear(fwd_scratch_t *s, float *y, const float *x, const wtensor_t *W, kpack_t *P, int M, bool acc) {
    if (!P) matmul(y, x, W, M, acc);
    else if (kpack_matmul(y, x, P, M, acc)) s->failed = 1;
}

/* n linear layers that read the same x (Q/K/V, gate/up): with prepacked weights x is
 * converted to the packs' precision once (kpack_in_prepare) instead of once per GEMM; the
 * results are the same as n linear() calls. */
static void linear_shared(const model_t *m, fwd_scratch_t *s, const float *x, int M, int n, float *const *y,
                          const wtensor_t *const *W, kpack_t *const *P) {
    kpack_in_t in;
    int prep = 0; /* 0: not yet, 1: in ready, -1: failed */
    for (int i = 0; i < n; i++) {
        if (!P[i]) {
            matmul(y[i], x, W[i], M, false);
            continue;
        }
        if (!prep)
            prep = kpack_in_prepare(&in, x, M, (int)W[i]->cols,
                                    model_precision(m) == MODEL_PREC_BF16 ? KPREC_BF16 : KPREC_INT8)
                       ? -1
                       : 1;
        if (prep < 0 || kpack_matmul_in(y[i], &in, P[i], false)) s->failed = 1;
    }
}

static int fwd_failed(fwd_scratch_t *s, lerr_t *e) {
    if (!s->failed) return 0;
    s->failed = 0;
    return lerr_set(e, EXIT_INTERNAL, "a reduced-precision GEMM failed (out of memory or a oneDNN error)");
}

static const model_layer_packs_t NO_PACKS;
static const model_layer_packs_t *layer_packs(const model_t *m, int l) {
    return m->packs ? &m->packs->layers[l] : &NO_PACKS;
}

/* y[t][i] += b[i] for T rows of n (b: a 1-D weight of any storage type; absent = no-op). */
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

/* LLaDA-MoE's extras between the projections and RoPE: per-head RMSNorm of q and k
 * (qk_layernorm), then q, k, v clamped to [-clip_qkv, clip_qkv]. */
static void qk_norm_clip(const llada_config_t *c, fwd_scratch_t *s, const llada_layer_t *ly, int T) {
    int hd = c->head_dim;
    size_t qn = (size_t)T * c->n_heads * hd, kn = (size_t)T * c->n_kv_heads * hd;
    if (ly->q_norm.data) {
        rmsnorm(s->q, s->q, &ly->q_norm, T * c->n_heads, hd, (float)c->rms_norm_eps);
        rmsnorm(s->k, s->k, &ly->k_norm, T * c->n_kv_heads, hd, (float)c->rms_norm_eps);
    }
    if (c->clip_qkv > 0) {
        float cl = c->clip_qkv, *bufs[3] = {s->q, s->k, s->v};
        size_t ns[3] = {qn, kn, kn};
        for (int b = 0; b < 3; b++)
            for (size_t i = 0; i < ns[b]; i++) bufs[b][i] = fminf(fmaxf(bufs[b][i], -cl), cl);
    }
}

/* Attention sublayer of layer l on positions [r0, r0 + n) of each of the B rows (activations
 * packed [B][n]); n == L is the whole canvas. kv (NULL: no cache) receives the fresh K/V of
 * those positions, and with n < L the queries attend to kv's K/V of all L positions. */
static void attention_block(const model_t *m, fwd_scratch_t *s, const llada_layer_t *ly, int l, const uint8_t *keep,
                            int B, int L, int r0, int n, fwd_cache_t *kv) {
    const llada_config_t *c = &m->cfg;
    int T = B * n, d = c->d_model, hd = c->head_dim, Hq = c->n_heads, Hkv = c->n_kv_heads;
    int rd = model_rope_dim(c);
    size_t qd = (size_t)Hq * hd, kvd = (size_t)Hkv * hd, ro = (size_t)r0 * rd / 2;
    const model_layer_packs_t *pk = layer_packs(m, l);
    TIMED(FWD_PROF_RMSNORM, rmsnorm(s->xn, s->x, &ly->attn_norm, T, d, (float)c->rms_norm_eps));
    TIMED(FWD_PROF_QKV, {
        linear_shared(m, s, s->xn, T, 3, (float *const[]){s->q, s->k, s->v},
                      (const wtensor_t *const[]){&ly->q_proj, &ly->k_proj, &ly->v_proj},
                      (kpack_t *const[]){pk->q_proj, pk->k_proj, pk->v_proj});
        add_bias(s->q, &ly->q_bias, T, (int)qd);
        add_bias(s->k, &ly->k_bias, T, (int)kvd);
        add_bias(s->v, &ly->v_bias, T, (int)kvd);
        qk_norm_clip(c, s, ly, T);
    });
    TIMED(
        FWD_PROF_ROPE, for (int b = 0; b < B; b++) {
            rope_apply_part(s->q + b * n * qd, n, Hq, hd, rd, s->cos_t + ro, s->sin_t + ro, NULL);
            rope_apply_part(s->k + b * n * kvd, n, Hkv, hd, rd, s->cos_t + ro, s->sin_t + ro, NULL);
        });
    float *ck = NULL, *cv = NULL; /* this layer's cache, row 0 */
    if (kv) {
        ck = kv->k + (size_t)l * kv->B * L * kvd;
        cv = kv->v + (size_t)l * kv->B * L * kvd;
        for (int b = 0; b < B; b++) {
            memcpy(ck + ((size_t)b * L + r0) * kvd, s->k + (size_t)b * n * kvd, (size_t)n * kvd * sizeof(float));
            memcpy(cv + ((size_t)b * L + r0) * kvd, s->v + (size_t)b * n * kvd, (size_t)n * kvd * sizeof(float));
        }
    }
    if (c->attn_block > 0) { /* block diffusion (SDAR): block-causal, unpadded rows */
        TIMED(FWD_PROF_ATTN, for (int b = 0; b < B; b++) block_causal_attention(
                                 s->ao + b * L * qd, s->q + b * L * qd, s->k + b * L * kvd, s->v + b * L * kvd, L, 0, L,
                                 Hq, Hkv, hd, c->attn_block, s->att));
    } else {
        /* the fused kernel wherever bit parity with the exact sampler is not promised: cache
         * steps and the bf16/int8 modes; f32 full passes keep attention()'s exact sums */
        int fused = model_precision(m) != MODEL_PREC_F32;
        TIMED(
            FWD_PROF_ATTN, for (int b = 0; b < B; b++) {
                const uint8_t *kb = keep ? keep + (size_t)b * L : NULL;
                int pad = 0;
                for (int j = 0; kb && j < L && !pad; j++) pad = !kb[j];
                if (n == L && (c->causal || !fused))
                    attention(s->ao + b * L * qd, s->q + b * L * qd, s->k + b * L * kvd, s->v + b * L * kvd, L, Hq, Hkv,
                              hd, pad ? kb : NULL, c->causal, s->att, NULL);
                else if (n == L)
                    attention_flash(s->ao + b * L * qd, s->q + b * L * qd, L, s->k + b * L * kvd, s->v + b * L * kvd, L,
                                    Hq, Hkv, hd, pad ? kb : NULL);
                else
                    attention_flash(s->ao + b * n * qd, s->q + b * n * qd, n, ck + (size_t)b * L * kvd,
                                    cv + (size_t)b * L * kvd, L, Hq, Hkv, hd, pad ? kb : NULL);
            });
    }
    TIMED(FWD_PROF_OUT, {
        linear(s, s->x, s->ao, &ly->attn_out, pk->attn_out, T, true);
        add_bias(s->x, &ly->out_bias, T, d);
    });
}

static void mlp_block(const model_t *m, fwd_scratch_t *s, const llada_layer_t *ly, int l, int T) {
    const llada_config_t *c = &m->cfg;
    const model_layer_packs_t *pk = layer_packs(m, l);
    int d = c->d_model;
    TIMED(FWD_PROF_RMSNORM, rmsnorm(s->xn, s->x, &ly->ff_norm, T, d, (float)c->rms_norm_eps));
    if (ly->router.data) { /* a MoE layer (moe.c) */
        TIMED(FWD_PROF_MLP, if (moe_ffn(c, ly, pk, s->xn, s->x, T, s->moe)) s->failed = 1);
        return;
    }
    TIMED(FWD_PROF_MLP, {
        linear_shared(m, s, s->xn, T, 2, (float *const[]){s->gate, s->up},
                      (const wtensor_t *const[]){&ly->ff_proj, &ly->up_proj},
                      (kpack_t *const[]){pk->ff_proj, pk->up_proj});
    });
    TIMED(FWD_PROF_SWIGLU, swiglu(s->gate, s->gate, s->up, (size_t)T * c->mlp_hidden_size));
    TIMED(FWD_PROF_MLP, linear(s, s->x, s->gate, &ly->ff_out, pk->ff_out, T, true));
}

int dense_forward_hidden(const model_t *m, fwd_scratch_t *s, const int32_t *tokens, const uint8_t *keep, int B, int L,
                         float *hidden, lerr_t *e) {
    const llada_config_t *c = &m->cfg;
    int T = B * L;
    if (B > s->B || L != s->L)
        return lerr_set(e, EXIT_INTERNAL, "forward scratch sized %dx%d used for %dx%d", s->B, s->L, B, L);
    for (int t = 0; keep && c->attn_block > 0 && t < T; t++)
        if (!keep[t]) return lerr_set(e, EXIT_USAGE, "block-diffusion models run unpadded rows (--batch 1)");
    for (int t = 0; t < T; t++)
        if (tokens[t] < 0 || tokens[t] >= c->embedding_size)
            return lerr_set(e, EXIT_DATA, "token id %d outside the model's vocabulary [0, %d)", tokens[t],
                            c->embedding_size);
    TIMED(FWD_PROF_EMBED, embed(s->x, &m->w.wte, tokens, T));
    for (int l = 0; l < c->n_layers; l++) {
        attention_block(m, s, &m->w.layers[l], l, keep, B, L, 0, L, NULL);
        mlp_block(m, s, &m->w.layers[l], l, T);
    }
    TIMED(FWD_PROF_RMSNORM, rmsnorm(hidden, s->x, &m->w.ln_f, T, c->d_model, (float)c->rms_norm_eps));
    return fwd_failed(s, e);
}

int dense_forward_cached(const model_t *m, fwd_scratch_t *s, fwd_cache_t *kv, const int32_t *tokens,
                         const uint8_t *keep, int B, int L, int r0, int r1, float *hidden, lerr_t *e) {
    const llada_config_t *c = &m->cfg;
    int n = r1 - r0, d = c->d_model, T = B * n;
    if (B > s->B || L != s->L || B > kv->B || L != kv->L)
        return lerr_set(e, EXIT_INTERNAL, "forward scratch %dx%d / cache %dx%d used for %dx%d", s->B, s->L, kv->B,
                        kv->L, B, L);
    if (r0 < 0 || r1 > L || n <= 0)
        return lerr_set(e, EXIT_INTERNAL, "cached forward on rows [%d, %d) of a canvas of %d", r0, r1, L);
    for (int b = 0; b < B; b++)
        for (int t = r0; t < r1; t++) {
            int32_t tk = tokens[(size_t)b * L + t];
            if (tk < 0 || tk >= c->embedding_size)
                return lerr_set(e, EXIT_DATA, "token id %d outside the model's vocabulary [0, %d)", tk,
                                c->embedding_size);
        }
    TIMED(FWD_PROF_EMBED,
          for (int b = 0; b < B; b++) embed(s->x + (size_t)b * n * d, &m->w.wte, tokens + (size_t)b * L + r0, n));
    for (int l = 0; l < c->n_layers; l++) {
        attention_block(m, s, &m->w.layers[l], l, keep, B, L, r0, n, kv);
        mlp_block(m, s, &m->w.layers[l], l, T);
    }
    if (n == L) {
        TIMED(FWD_PROF_RMSNORM, rmsnorm(hidden, s->x, &m->w.ln_f, T, d, (float)c->rms_norm_eps));
        return fwd_failed(s, e);
    }
    TIMED(FWD_PROF_RMSNORM,
          for (int b = 0; b < B; b++) rmsnorm(hidden + ((size_t)b * L + r0) * d, s->x + (size_t)b * n * d, &m->w.ln_f,
                                              n, d, (float)c->rms_norm_eps));
    return fwd_failed(s, e);
}

void dense_head(const model_t *m, const float *hidden, int n, float *logits) {
    /* a precision-mode head that fails (OOM in its scratch) falls back to the exact product */
    TIMED(FWD_PROF_HEAD, if (!m->packs || kpack_matmul(logits, hidden, m->packs->lm_head, n, false))
                             matmul(logits, hidden, &m->w.lm_head, n, false));
}

int model_forward_logits(const model_t *m, const int32_t *tokens, const uint8_t *keep, int B, int L, float *logits,
                         lerr_t *e) {
    fwd_scratch_t *s = fwd_scratch_new(m, B, L, e);
    float *h = s ? malloc((size_t)B * L * m->cfg.d_model * sizeof *h) : NULL;
    int rc = -1;
    if (s && !h) lerr_set(e, EXIT_INTERNAL, "out of memory");
    if (h && model_forward_hidden(m, s, tokens, keep, B, L, h, e) == 0) {
        model_head(m, h, B * L, logits);
        if (m->cfg.logits_shift) /* position p predicts from row p-1: move rows up by one */
            for (int b = 0; b < B; b++)
                for (int p = L - 1; p > 0; p--)
                    memcpy(logits + ((size_t)b * L + p) * m->cfg.embedding_size,
                           logits + ((size_t)b * L + model_logits_row(&m->cfg, p)) * m->cfg.embedding_size,
                           (size_t)m->cfg.embedding_size * sizeof *logits);
        rc = 0;
    }
    free(h);
    fwd_scratch_destroy(&s);
    return rc;
}
