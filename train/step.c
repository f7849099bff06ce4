/* step.c — training forward + backward of a LLaDA transformer (see step.h), built from the
 * fp32 ops in kernels/bwd_ops.h. Matrix products (attention included) go to the BLAS, which
 * threads them; every other op (RMSNorm, RoPE, SwiGLU, embedding, cross-entropy) is spread
 * over threads in fixed chunks (par_ops.h), so any thread count gives identical results.
 * In bf16 mode (tstep_set_precision; layer_fwd_b, layer_bwd_b, head_loss_b) the projections
 * and the LM head — forward, dx and dW — run as bf16 x bf16 -> fp32 GEMMs on oneDNN
 * (kernels.h gemm_bf16): the fp32 weights are rounded to bf16 copies at the start of each
 * step; every GEMM input is rounded once, by the op that produces it (bwd_ops.h tr_*_bf16:
 * RMSNorm, RoPE, SwiGLU and its backward, the softmax and its backward, the cross-entropy
 * write bf16 directly, RMSNorm's backward the rounded residual gradient beside the fp32 one;
 * MHA attention's O, dO and dV come out of their GEMMs as bf16, gemm_bf16_batched_b16),
 * and the forward activations' bf16 copies are kept for the dW products. q|k|v and gate|up
 * are one bf16 weight matrix each, so their backward dx (and, with G's adjacent layout, dW)
 * is one GEMM; products into otherwise-zero buffers write instead of accumulating, and the
 * residual adds ride in the next RMSNorm. With MHA (n_kv_heads == n_heads) attention's five
 * products run as batched bf16 GEMMs over (sequence, head) too, q|k|v as one projection, P
 * and dS rounded once each (GQA keeps attention fp32: dK/dV would sum over a group, which a
 * batched GEMM cannot). Norms, softmax, loss and the optimiser compute in fp32; the SwiGLU,
 * the attention softmax and the cross-entropy use kernels' vector exp (vmath.c, within 2 ulp
 * of expf) in that mode, the f32 mode libm's, bit for bit as before. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "step.h"
#include "par.h"
#include "par_ops.h"
#include "bwd_ops.h"
#include "kernels.h"

typedef struct {
    float *x_in, *a1, *r1, *q, *k, *v, *o, *P, *x_mid, *a2, *r2, *g, *u, *act;
    uint16_t *a1b, *ob, *a2b, *actb; /* bf16 mode: the GEMM inputs, rounded once */
    uint16_t *qb, *kb, *vb, *Pb;     /* bf16 mode, MHA: attention's inputs (after RoPE), P */
} tacts_t;

typedef struct { /* bf16 mode: one layer's weight matrices rounded to bf16 */
    uint16_t *wq, *wk, *wv, *wo, *wg, *wu, *wd;
} blayer_t;

struct tstep {
    llada_config_t c;
    int B, T, threads, Dq, Dkv, F;
    tacts_t *L;                                /* per layer */
    float *h, *af, *rf, *cs;                   /* final hidden, normed, 1/rms, rope table */
    float *sel, *logits, *dsel, *wsel, *cesel; /* compacted head rows */
    int32_t *tsel, *rowsel;
    float *dh, *dA, *dq, *dk, *dv, *dF1, *dF2, *da, *scratch, *partial;
    float *block; /* one allocation for all of the above */
    /* bf16 mode (NULL until tstep_set_precision(s, TPREC_BF16)) */
    int bf16, fail;
    blayer_t *BL;
    uint16_t *headb, *selb, *gb; /* head weights, head input rows, an output gradient */
    uint16_t *dSb, *dOb;         /* MHA attention: dS and the output gradient, rounded */
    uint16_t *afb, *dhb;         /* final norm's output; the residual gradient dh, rounded */
    uint16_t *gub, *dqkvb;       /* [dg du] as [N][2F]; [dq dk dv] as [N][Dq+2Dkv] */
    float *dPf;                  /* MHA attention: dP, [B][H][T][T] */
    float *qkvf;                 /* MHA: the fused q|k|v projection, [N][Dq+2Dkv] */
    uint16_t *bblock;            /* one allocation for all bf16 buffers */
};

static float *carve(float **p, size_t n) {
    float *r = *p;
    *p += (n + 15) & ~(size_t)15;
    return r;
}

/* Floats needed (or, with base != NULL, carve them). */
static size_t layout(tstep_t *s, float *base) {
    size_t N = (size_t)s->B * s->T, D = s->c.d_model, V = s->c.embedding_size;
    size_t Dq = s->Dq, Dkv = s->Dkv, F = s->F, H = s->c.n_heads, T = s->T;
    float *p = base ? base : (float *)64, *p0 = p;
    for (int l = 0; l < s->c.n_layers; l++) {
        tacts_t a;
        a.x_in = carve(&p, N * D);
        a.a1 = carve(&p, N * D);
        a.r1 = carve(&p, N);
        a.q = carve(&p, N * Dq);
        a.k = carve(&p, N * Dkv);
        a.v = carve(&p, N * Dkv);
        a.o = carve(&p, N * Dq);
        a.P = carve(&p, (size_t)s->B * H * T * T);
        a.x_mid = carve(&p, N * D);
        a.a2 = carve(&p, N * D);
        a.r2 = carve(&p, N);
        a.g = carve(&p, N * F);
        a.u = carve(&p, N * F);
        a.act = carve(&p, N * F);
        if (base) s->L[l] = a;
    }
    float *h = carve(&p, N * D), *af = carve(&p, N * D), *rf = carve(&p, N);
    float *cs = carve(&p, T * s->c.head_dim), *sel = carve(&p, N * D), *lg = carve(&p, N * V);
    float *dsel = carve(&p, N * D), *wsel = carve(&p, N), *cesel = carve(&p, N);
    float *tsel = carve(&p, N), *rowsel = carve(&p, N);
    float *dh = carve(&p, N * D), *dA = carve(&p, N * D), *dq = carve(&p, N * Dq);
    float *dk = carve(&p, N * Dkv), *dv = carve(&p, N * Dkv), *dF1 = carve(&p, N * F);
    float *dF2 = carve(&p, N * F), *da = carve(&p, N * Dq), *sc = carve(&p, T * T);
    float *part = carve(&p, (size_t)PAR_CHUNKS * D);
    if (base) {
        s->h = h;
        s->af = af;
        s->rf = rf;
        s->cs = cs;
        s->sel = sel;
        s->logits = lg;
        s->dsel = dsel;
        s->wsel = wsel;
        s->cesel = cesel;
        s->tsel = (int32_t *)tsel;
        s->rowsel = (int32_t *)rowsel;
        s->dh = dh;
        s->dA = dA;
        s->dq = dq;
        s->dk = dk;
        s->dv = dv;
        s->dF1 = dF1;
        s->dF2 = dF2;
        s->da = da;
        s->scratch = sc;
        s->partial = part;
    }
    return (size_t)(p - p0);
}

tstep_t *tstep_new(const llada_config_t *c, int B, int T, int threads, lerr_t *e) {
    tstep_t *s = calloc(1, sizeof(*s));
    if (!s) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    s->c = *c;
    s->B = B;
    s->T = T;
    s->threads = threads;
    s->Dq = c->n_heads * c->head_dim;
    s->Dkv = c->n_kv_heads * c->head_dim;
    s->F = c->mlp_hidden_size;
    s->L = calloc(c->n_layers, sizeof(tacts_t));
    size_t n = layout(s, NULL);
    s->block = s->L ? aligned_alloc(64, ((n * sizeof(float)) + 63) & ~(size_t)63) : NULL;
    if (!s->block) {
        lerr_set(e, EXIT_INTERNAL, "out of memory for a %dx%d training batch (%.1f GB)", B, T, n * 4e-9);
        tstep_destroy(&s);
        return NULL;
    }
    layout(s, s->block);
    tr_rope_table(s->cs, T, c->head_dim, c->rope_theta);
    return s;
}

/* bf16 buffers: weights (q|k|v and gate|up each one matrix), activations kept for the
 * backward, the backward's rounded gradients. */
static int alloc_bf16(tstep_t *s) {
    size_t N = (size_t)s->B * s->T, D = s->c.d_model, V = s->c.embedding_size, F = s->F;
    size_t Dq = s->Dq, Dkv = s->Dkv, E = Dq + 2 * Dkv, nl = s->c.n_layers;
    size_t wl = E * D + D * Dq + 3 * F * D, al = N * (2 * D + Dq + F);
    size_t PT = (size_t)s->B * s->c.n_heads * s->T * s->T;
    al += N * (Dq + 2 * Dkv) + PT;
    /* + up to 31 elements of padding per carve: 13 per layer, 9 more */
    size_t n = nl * (wl + al) + V * D + N * D + N * V + PT + N * Dq + 2 * N * D + 2 * N * F + N * E +
               32 * (13 * nl + 9);
    if (!s->dPf && !(s->dPf = aligned_alloc(64, (PT * 4 + 63) & ~(size_t)63))) return -1;
    if (!s->qkvf && !(s->qkvf = aligned_alloc(64, (N * E * 4 + 63) & ~(size_t)63))) return -1;
    if (!s->BL && !(s->BL = calloc(nl ? nl : 1, sizeof(blayer_t)))) return -1;
    if (!(s->bblock = aligned_alloc(64, (n * 2 + 63) & ~(size_t)63))) return -1;
    uint16_t *p = s->bblock;
#define BCARVE(dst, cnt) (dst = p, p += ((cnt) + 31) & ~(size_t)31)
    for (size_t l = 0; l < nl; l++) {
        blayer_t *b = &s->BL[l];
        tacts_t *a = &s->L[l];
        BCARVE(b->wq, E * D);
        b->wk = b->wq + Dq * D;
        b->wv = b->wk + Dkv * D;
        BCARVE(b->wo, D * Dq);
        BCARVE(b->wg, 2 * F * D);
        b->wu = b->wg + F * D;
        BCARVE(b->wd, D * F);
        BCARVE(a->a1b, N * D);
        BCARVE(a->ob, N * Dq);
        BCARVE(a->a2b, N * D);
        BCARVE(a->actb, N * F);
        BCARVE(a->qb, N * Dq);
        BCARVE(a->kb, N * Dkv);
        BCARVE(a->vb, N * Dkv);
        BCARVE(a->Pb, PT);
    }
    BCARVE(s->headb, V * D);
    BCARVE(s->selb, N * D);
    BCARVE(s->gb, N * V);
    BCARVE(s->dSb, PT);
    BCARVE(s->dOb, N * Dq);
    BCARVE(s->afb, N * D);
    BCARVE(s->dhb, N * D);
    BCARVE(s->gub, 2 * N * F);
    BCARVE(s->dqkvb, N * E);
#undef BCARVE
    return 0;
}

int tstep_set_precision(tstep_t *s, int prec, lerr_t *e) {
    if (prec == TPREC_F32) {
        s->bf16 = 0;
        return 0;
    }
    if (!gemm_bf16_available()) {
        lerr_set(e, EXIT_USAGE, "--precision bf16 needs oneDNN: %s", gemm_bf16_unavailable());
        return -1;
    }
    if (!s->bblock && alloc_bf16(s)) {
        lerr_set(e, EXIT_INTERNAL, "out of memory for the bf16 copies of a %dx%d training batch", s->B, s->T);
        return -1;
    }
    gemm_bf16_set_threads(s->threads);
    s->bf16 = 1;
    return 0;
}

void tstep_destroy(tstep_t **ps) {
    if (!ps || !*ps) return;
    free((*ps)->BL);
    free((*ps)->dPf);
    free((*ps)->qkvf);
    free((*ps)->bblock);
    free((*ps)->L);
    free((*ps)->block);
    free(*ps);
    *ps = NULL;
}

/* ---- the projections: fp32 BLAS, or bf16 GEMMs on the rounded copies ---- */

/* bf16 mode: the step's weight copies from the fp32 master weights P. */
static void round_weights(tstep_t *s, const tview_t *P) {
    size_t D = s->c.d_model, Dq = s->Dq, Dkv = s->Dkv, F = s->F;
    for (int l = 0; l < s->c.n_layers; l++) {
        const tlayer_t *W = &P->layer[l];
        blayer_t *b = &s->BL[l];
        bf16_round_n(b->wq, W->wq, Dq * D);
        bf16_round_n(b->wk, W->wk, Dkv * D);
        bf16_round_n(b->wv, W->wv, Dkv * D);
        bf16_round_n(b->wo, W->wo, D * Dq);
        bf16_round_n(b->wg, W->wg, F * D);
        bf16_round_n(b->wu, W->wu, F * D);
        bf16_round_n(b->wd, W->wd, D * F);
    }
    bf16_round_n(s->headb, P->head, (size_t)s->c.embedding_size * D);
}

/* ---- attention per (sequence, kv-head) group; the query heads of a group share dk/dv ---- */
typedef struct {
    tstep_t *s;
    tacts_t *a;
    int B, T, causal;
    const float *dout;
} attn_job_t;

static void attn_fwd_one(int i, void *arg) {
    attn_job_t *j = arg;
    tstep_t *s = j->s;
    int hd = s->c.head_dim, grp = s->c.n_heads / s->c.n_kv_heads;
    int b = i / s->c.n_kv_heads, kh = i % s->c.n_kv_heads;
    size_t row = (size_t)b * j->T;
    for (int h = kh * grp; h < (kh + 1) * grp; h++)
        (s->bf16 ? tr_attn_fwd_vec : tr_attn_fwd)(j->a->q + row * s->Dq + h * hd, j->a->k + row * s->Dkv + kh * hd, j->a->v + row * s->Dkv + kh * hd,
                    j->a->o + row * s->Dq + h * hd, j->a->P + ((size_t)b * s->c.n_heads + h) * j->T * j->T, j->T, hd,
                    s->Dq, s->Dkv, 1.0f / sqrtf((float)hd), j->causal);
}

static void attn_bwd_one(int i, void *arg) {
    attn_job_t *j = arg;
    tstep_t *s = j->s;
    int hd = s->c.head_dim, grp = s->c.n_heads / s->c.n_kv_heads;
    int b = i / s->c.n_kv_heads, kh = i % s->c.n_kv_heads;
    size_t row = (size_t)b * j->T;
    for (int h = kh * grp; h < (kh + 1) * grp; h++)
        tr_attn_bwd(j->dout + row * s->Dq + h * hd, j->a->q + row * s->Dq + h * hd, j->a->k + row * s->Dkv + kh * hd,
                    j->a->v + row * s->Dkv + kh * hd, j->a->P + ((size_t)b * s->c.n_heads + h) * j->T * j->T,
                    s->dq + row * s->Dq + h * hd, s->dk + row * s->Dkv + kh * hd, s->dv + row * s->Dkv + kh * hd, j->T,
                    hd, s->Dq, s->Dkv, 1.0f / sqrtf((float)hd), s->scratch);
}

/* ---- cross-entropy over row chunks ---- */
typedef struct {
    tstep_t *s;
    int n, chunks;
    double part[64];
} xent_job_t;

static void xent_one(int i, void *arg) {
    xent_job_t *j = arg;
    int lo = (int)((long)j->n * i / j->chunks), hi = (int)((long)j->n * (i + 1) / j->chunks);
    size_t V = j->s->c.embedding_size;
    if (j->s->bf16)
        j->part[i] = tr_xent_fwd_bwd_bf16(j->s->logits + lo * V, j->s->tsel + lo, j->s->wsel + lo, hi - lo, (int)V,
                                          j->s->cesel + lo, j->s->gb + lo * V);
    else
        j->part[i] = tr_xent_fwd_bwd(j->s->logits + lo * V, j->s->tsel + lo, j->s->wsel + lo, hi - lo, (int)V,
                                     j->s->cesel + lo);
}

/* ---- bf16 mode with MHA (n_kv_heads == n_heads): attention as batched bf16 GEMMs over
 * (sequence, head), heads read in place as column slices of the token-major q/k/v ---- */

/* Strides (elements) of (b, h, row, col) for a head-sliced token-major matrix of width ld:
 * rows = tokens (trans 0) or the head's columns (trans 1). */
static void hs(int64_t *st, int T, int hd, int ld, int trans) {
    st[0] = (int64_t)T * ld;
    st[1] = hd;
    st[2] = trans ? 1 : ld;
    st[3] = trans ? ld : 1;
}
/* Strides of the dense [B][H][T][T] probabilities, (trans 1: read transposed). */
static void ps(int64_t *st, int H, int T, int trans) {
    st[0] = (int64_t)H * T * T;
    st[1] = (int64_t)T * T;
    st[2] = trans ? 1 : T;
    st[3] = trans ? T : 1;
}

static int attn_bf16(const tstep_t *s) { return s->bf16 && s->c.n_kv_heads == s->c.n_heads; }

static void layer_fwd(tstep_t *s, const tlayer_t *W, tacts_t *a, int B, int T, int causal) {
    int N = B * T, D = s->c.d_model, hd = s->c.head_dim;
    par_rmsnorm_fwd(s->threads, a->x_in, W->attn_norm, a->a1, a->r1, N, D, (float)s->c.rms_norm_eps);
    tr_linear_fwd(a->a1, W->wq, a->q, N, D, s->Dq);
    tr_linear_fwd(a->a1, W->wk, a->k, N, D, s->Dkv);
    tr_linear_fwd(a->a1, W->wv, a->v, N, D, s->Dkv);
    par_rope(s->threads, a->q, s->cs, B, T, s->c.n_heads, hd, 0);
    par_rope(s->threads, a->k, s->cs, B, T, s->c.n_kv_heads, hd, 0);
    attn_job_t j = {s, a, B, T, causal, NULL};
    for (int i = 0; i < B * s->c.n_kv_heads; i++) attn_fwd_one(i, &j);
    memcpy(a->x_mid, a->x_in, sizeof(float) * N * D);
    /* x_mid = x_in + o·Woᵀ (dA is free scratch during the forward) */
    tr_linear_fwd(a->o, W->wo, s->dA, N, s->Dq, D);
    for (size_t i = 0; i < (size_t)N * D; i++) a->x_mid[i] += s->dA[i];
    par_rmsnorm_fwd(s->threads, a->x_mid, W->ff_norm, a->a2, a->r2, N, D, (float)s->c.rms_norm_eps);
    tr_linear_fwd(a->a2, W->wg, a->g, N, D, s->F);
    tr_linear_fwd(a->a2, W->wu, a->u, N, D, s->F);
    par_swiglu_fwd(s->threads, 0, a->g, a->u, a->act, (size_t)N * s->F);
}

/* Residual output of layer `a` into the next layer's input: out = x_mid + act·Wdᵀ. */
static void layer_out(tstep_t *s, const tlayer_t *W, const tacts_t *a, float *out, int N) {
    int D = s->c.d_model;
    tr_linear_fwd(a->act, W->wd, out, N, s->F, D);
    for (size_t i = 0; i < (size_t)N * D; i++) out[i] += a->x_mid[i];
}

static void layer_bwd(tstep_t *s, const tlayer_t *W, tlayer_t *G, tacts_t *a, int B, int T) {
    int N = B * T, D = s->c.d_model, hd = s->c.head_dim, F = s->F;
    size_t nf = (size_t)N * F;
    /* out = x_mid + act·Wdᵀ ; act = swiglu(g, u) ; g,u = a2·Wg,uᵀ ; a2 = rms(x_mid) */
    memset(s->dF1, 0, sizeof(float) * nf);
    tr_linear_bwd(s->dh, a->act, W->wd, s->dF1, G->wd, N, F, D);
    memset(s->dF2, 0, sizeof(float) * nf);
    float *dg = s->dF2, *du = s->dF1;
    /* dact is in dF1; act is no longer needed, so it holds dact while dF1 becomes du */
    memcpy(a->act, s->dF1, sizeof(float) * nf);
    memset(du, 0, sizeof(float) * nf);
    par_swiglu_bwd(s->threads, 0, a->act, a->g, a->u, dg, du, nf);
    memset(s->dA, 0, sizeof(float) * N * D);
    tr_linear_bwd(dg, a->a2, W->wg, s->dA, G->wg, N, D, F);
    tr_linear_bwd(du, a->a2, W->wu, s->dA, G->wu, N, D, F);
    par_rmsnorm_bwd(s->threads, s->dA, a->x_mid, W->ff_norm, a->r2, s->dh, G->ff_norm, N, D, s->partial);
    /* x_mid = x_in + o·Woᵀ ; o = attn(rope(q), rope(k), v) ; q,k,v = a1·W*ᵀ ; a1 = rms(x_in) */
    memset(s->da, 0, sizeof(float) * N * s->Dq);
    tr_linear_bwd(s->dh, a->o, W->wo, s->da, G->wo, N, s->Dq, D);
    memset(s->dq, 0, sizeof(float) * N * s->Dq);
    memset(s->dk, 0, sizeof(float) * N * s->Dkv);
    memset(s->dv, 0, sizeof(float) * N * s->Dkv);
    attn_job_t j = {s, a, B, T, 0, s->da};
    for (int i = 0; i < B * s->c.n_kv_heads; i++) attn_bwd_one(i, &j);
    par_rope(s->threads, s->dq, s->cs, B, T, s->c.n_heads, hd, 1);
    par_rope(s->threads, s->dk, s->cs, B, T, s->c.n_kv_heads, hd, 1);
    memset(s->dA, 0, sizeof(float) * N * D);
    tr_linear_bwd(s->dq, a->a1, W->wq, s->dA, G->wq, N, D, s->Dq);
    tr_linear_bwd(s->dk, a->a1, W->wk, s->dA, G->wk, N, D, s->Dkv);
    tr_linear_bwd(s->dv, a->a1, W->wv, s->dA, G->wv, N, D, s->Dkv);
    par_rmsnorm_bwd(s->threads, s->dA, a->x_in, W->attn_norm, a->r1, s->dh, G->attn_norm, N, D, s->partial);
}

/* ---- the bf16 step's layers: every GEMM input is written as bf16 by the op that produces it
 * (bwd_ops.h tr_*_bf16), so no fp32 copy of a1, a2, act, q, k (MHA), dg, du, dq, dk, dh is
 * made or rounded in a second pass; q|k|v (MHA) and gate|up run as one GEMM each (their
 * bf16 weights are one matrix), and so do their dx and, where G keeps them adjacent (it
 * does: tparams.c), their dW; products that would accumulate into a zeroed buffer write it
 * instead. ---- */

/* C (+)= op(A)·op(B) with leading dimensions (bf16 mode). */
static void gemm_ld(tstep_t *s, float *C, int ldc, const uint16_t *A, int lda, bool ta, const uint16_t *B, int ldb,
                    bool tb, int M, int N, int K, bool acc) {
    gemm_bf16_shape_t g = {{1, 1}, M, N, K, {0, 0, ta ? 1 : lda, ta ? lda : 1}, {0, 0, tb ? 1 : ldb, tb ? ldb : 1},
                           {0, 0, ldc, 1}};
    if (gemm_bf16_batched(C, A, B, &g, acc)) s->fail = 1;
}

static void gemm_b(tstep_t *s, float *C, const uint16_t *A, const uint16_t *B, int M, int N, int K, bool ta, bool tb,
                   bool acc) {
    if (gemm_bf16(C, A, B, M, N, K, ta, tb, acc)) s->fail = 1;
}

/* dW (Σ rows, each dW_i is rows_i × Din at W_i) += dYᵀ·X, dY = [dY_1 .. dY_n] (bf16, N × Σ rows):
 * one GEMM when the dW_i are adjacent in memory, else one per part. */
static void dw_parts(tstep_t *s, float *const *dW, const int *rows, int parts, const uint16_t *dY, const uint16_t *X,
                     int N, int Din) {
    int tot = 0, adjacent = 1;
    for (int i = 0; i < parts; i++) {
        if (i && dW[i] != dW[i - 1] + (size_t)rows[i - 1] * Din) adjacent = 0;
        tot += rows[i];
    }
    if (adjacent) {
        gemm_b(s, dW[0], dY, X, tot, Din, N, true, false, true);
        return;
    }
    for (int i = 0, off = 0; i < parts; off += rows[i++]) gemm_ld(s, dW[i], Din, dY + off, tot, true, X, Din, false, rows[i], Din, N, true);
}

typedef struct {
    float *P;
    const float *dP;
    uint16_t *Pb;
    int T, causal;
    float scale;
} smb_job_t;

static void softmax_seq_b(int i, void *arg) { /* one (sequence, head)'s rows: P and Pb */
    smb_job_t *j = arg;
    for (int r = 0; r < j->T; r++) {
        size_t o = ((size_t)i * j->T + r) * j->T;
        tr_softmax_row_bf16(j->P + o, j->Pb + o, j->T, j->causal ? r + 1 : j->T, j->scale);
    }
}

static void softmax_bwd_seq_b(int i, void *arg) { /* dS rounded into Pb (here: dSb) */
    smb_job_t *j = arg;
    for (int r = 0; r < j->T; r++) {
        size_t o = ((size_t)i * j->T + r) * j->T;
        tr_softmax_bwd_row_bf16(j->P + o, j->dP + o, j->Pb + o, j->T, j->scale);
    }
}

/* The layer's forward. x_in = prev_mid + s->dA (the previous layer's residual branch, added
 * here with the norm) when prev_mid != NULL, else x_in is ready (the embedding). Leaves the
 * layer's FFN branch act·Wdᵀ in s->dA (tstep_run adds it into the next x_in or h). */
static void layer_fwd_b(tstep_t *s, const tlayer_t *W, const blayer_t *Wb, tacts_t *a, const float *prev_mid, int B,
                        int T, int causal) {
    int N = B * T, D = s->c.d_model, hd = s->c.head_dim, H = s->c.n_heads, Dq = s->Dq, Dkv = s->Dkv, F = s->F;
    int E = Dq + 2 * Dkv;
    float eps = (float)s->c.rms_norm_eps;
    if (prev_mid) par_rmsnorm_fwd_b(s->threads, prev_mid, s->dA, a->x_in, W->attn_norm, a->a1b, a->r1, N, D, eps);
    else par_rmsnorm_fwd_b(s->threads, a->x_in, NULL, NULL, W->attn_norm, a->a1b, a->r1, N, D, eps);
    if (attn_bf16(s)) {
        gemm_b(s, s->qkvf, a->a1b, Wb->wq, N, E, D, false, true, false); /* q|k|v = a1·Wqkvᵀ */
        par_rope_b(s->threads, s->qkvf, E, a->qb, Dq, s->cs, B, T, H, hd, 0);
        par_rope_b(s->threads, s->qkvf + Dq, E, a->kb, Dkv, s->cs, B, T, s->c.n_kv_heads, hd, 0);
        bf16_round_rows(a->vb, Dkv, s->qkvf + Dq + Dkv, E, N, Dkv);
        gemm_bf16_shape_t g = {{B, H}, T, T, hd, {0}, {0}, {0}};
        hs(g.sa, T, hd, Dq, 0);
        hs(g.sb, T, hd, Dkv, 1);
        ps(g.sc, H, T, 0);
        if (gemm_bf16_batched(a->P, a->qb, a->kb, &g, false)) s->fail = 1; /* S = Q·Kᵀ */
        smb_job_t sj = {a->P, NULL, a->Pb, T, causal, 1.0f / sqrtf((float)hd)};
        par_for(B * H, s->threads, softmax_seq_b, &sj);
        g = (gemm_bf16_shape_t){{B, H}, T, hd, T, {0}, {0}, {0}};
        ps(g.sa, H, T, 0);
        hs(g.sb, T, hd, Dkv, 0);
        hs(g.sc, T, hd, Dq, 0);
        if (gemm_bf16_batched_b16(a->ob, a->Pb, a->vb, &g)) s->fail = 1; /* O = P·V, as bf16 */
    } else { /* GQA: the projections in bf16, attention in fp32 */
        gemm_b(s, a->q, a->a1b, Wb->wq, N, Dq, D, false, true, false);
        gemm_b(s, a->k, a->a1b, Wb->wk, N, Dkv, D, false, true, false);
        gemm_b(s, a->v, a->a1b, Wb->wv, N, Dkv, D, false, true, false);
        par_rope(s->threads, a->q, s->cs, B, T, H, hd, 0);
        par_rope(s->threads, a->k, s->cs, B, T, s->c.n_kv_heads, hd, 0);
        attn_job_t j = {s, a, B, T, causal, NULL};
        for (int i = 0; i < B * s->c.n_kv_heads; i++) attn_fwd_one(i, &j);
        bf16_round_n(a->ob, a->o, (size_t)N * Dq);
    }
    gemm_b(s, s->dA, a->ob, Wb->wo, N, D, Dq, false, true, false); /* x_mid = x_in + o·Woᵀ */
    par_rmsnorm_fwd_b(s->threads, a->x_in, s->dA, a->x_mid, W->ff_norm, a->a2b, a->r2, N, D, eps);
    gemm_b(s, a->g, a->a2b, Wb->wg, N, F, D, false, true, false);
    gemm_b(s, a->u, a->a2b, Wb->wu, N, F, D, false, true, false);
    par_swiglu_fwd_b(s->threads, a->g, a->u, F, a->actb, N, F);
    gemm_b(s, s->dA, a->actb, Wb->wd, N, D, F, false, true, false); /* the FFN branch act·Wdᵀ */
}

/* On entry dh holds the gradient at the layer's output and s->dhb its rounding; on return,
 * the same at its input. */
static void layer_bwd_b(tstep_t *s, const tlayer_t *W, const blayer_t *Wb, tlayer_t *G, tacts_t *a, int B, int T) {
    int N = B * T, D = s->c.d_model, hd = s->c.head_dim, H = s->c.n_heads, Dq = s->Dq, Dkv = s->Dkv, F = s->F;
    int E = Dq + 2 * Dkv;
    /* out = x_mid + act·Wdᵀ: dact = dh·Wd, dWd += dhᵀ·act */
    gemm_b(s, s->dF1, s->dhb, Wb->wd, N, F, D, false, false, false);
    gemm_b(s, G->wd, s->dhb, a->actb, D, F, N, true, false, true);
    /* act = swiglu(g, u): [dg du] rounded, then dA = [dg du]·[Wg;Wu], d[Wg;Wu] += [dg du]ᵀ·a2 */
    par_swiglu_bwd_b(s->threads, s->dF1, a->g, a->u, F, s->gub, s->gub + F, 2 * F, N, F);
    gemm_b(s, s->dA, s->gub, Wb->wg, N, D, 2 * F, false, false, false);
    dw_parts(s, (float *[]){G->wg, G->wu}, (int[]){F, F}, 2, s->gub, a->a2b, N, D);
    par_rmsnorm_bwd_b(s->threads, s->dA, a->x_mid, W->ff_norm, a->r2, s->dh, s->dhb, G->ff_norm, N, D, s->partial);
    /* x_mid = x_in + o·Woᵀ: dWo += dhᵀ·o; dO = dh·Wo (MHA: as bf16, attention's only use) */
    gemm_b(s, G->wo, s->dhb, a->ob, D, Dq, N, true, false, true);
    if (attn_bf16(s)) { /* dq, dk, dv written whole by the products */
        gemm_bf16_shape_t g = {{1, 1}, N, Dq, D, {0, 0, D, 1}, {0, 0, Dq, 1}, {0, 0, Dq, 1}};
        if (gemm_bf16_batched_b16(s->dOb, s->dhb, Wb->wo, &g)) s->fail = 1;
        g = (gemm_bf16_shape_t){{B, H}, T, T, hd, {0}, {0}, {0}};
        hs(g.sa, T, hd, Dq, 0);
        hs(g.sb, T, hd, Dkv, 1);
        ps(g.sc, H, T, 0);
        if (gemm_bf16_batched(s->dPf, s->dOb, a->vb, &g, false)) s->fail = 1; /* dP = dO·Vᵀ */
        g = (gemm_bf16_shape_t){{B, H}, T, hd, T, {0}, {0}, {0}};
        ps(g.sa, H, T, 1);
        hs(g.sb, T, hd, Dq, 0);
        hs(g.sc, T, hd, E, 0);
        if (gemm_bf16_batched_b16(s->dqkvb + Dq + Dkv, a->Pb, s->dOb, &g)) s->fail = 1; /* dV = Pᵀ·dO, as bf16 */
        smb_job_t bj = {a->P, s->dPf, s->dSb, T, 0, 1.0f / sqrtf((float)hd)};
        par_for(B * H, s->threads, softmax_bwd_seq_b, &bj);
        g = (gemm_bf16_shape_t){{B, H}, T, hd, T, {0}, {0}, {0}};
        ps(g.sa, H, T, 0);
        hs(g.sb, T, hd, Dkv, 0);
        hs(g.sc, T, hd, Dq, 0);
        if (gemm_bf16_batched(s->dq, s->dSb, a->kb, &g, false)) s->fail = 1; /* dQ = dS·K */
        ps(g.sa, H, T, 1);
        hs(g.sb, T, hd, Dq, 0);
        hs(g.sc, T, hd, Dkv, 0);
        if (gemm_bf16_batched(s->dk, s->dSb, a->qb, &g, false)) s->fail = 1; /* dK = dSᵀ·Q */
    } else {
        gemm_b(s, s->da, s->dhb, Wb->wo, N, Dq, D, false, false, false);
        memset(s->dq, 0, sizeof(float) * N * Dq);
        memset(s->dk, 0, sizeof(float) * N * Dkv);
        memset(s->dv, 0, sizeof(float) * N * Dkv);
        attn_job_t j = {s, a, B, T, 0, s->da};
        for (int i = 0; i < B * s->c.n_kv_heads; i++) attn_bwd_one(i, &j);
        bf16_round_rows(s->dqkvb + Dq + Dkv, E, s->dv, Dkv, N, Dkv);
    }
    /* [dq dk dv] with RoPE's inverse rotation, rounded into one [N][E] matrix */
    par_rope_b(s->threads, s->dq, Dq, s->dqkvb, E, s->cs, B, T, H, hd, 1);
    par_rope_b(s->threads, s->dk, Dkv, s->dqkvb + Dq, E, s->cs, B, T, s->c.n_kv_heads, hd, 1);
    gemm_b(s, s->dA, s->dqkvb, Wb->wq, N, D, E, false, false, false); /* dA = [dq dk dv]·Wqkv */
    dw_parts(s, (float *[]){G->wq, G->wk, G->wv}, (int[]){Dq, Dkv, Dkv}, 3, s->dqkvb, a->a1b, N, D);
    par_rmsnorm_bwd_b(s->threads, s->dA, a->x_in, W->attn_norm, a->r1, s->dh, s->dhb, G->attn_norm, N, D, s->partial);
}

/* The bf16 step's LM head + loss (head_loss's bf16 counterpart): the final norm's output was
 * written as bf16 (s->afb); its selected rows are gathered, the gradient rounded by the
 * cross-entropy itself. */
static double head_loss_b(tstep_t *s, const tview_t *P, const tview_t *G, const int32_t *tgt, const float *w, int N,
                          float *ce_out) {
    int D = s->c.d_model, V = s->c.embedding_size, n = 0;
    for (int i = 0; i < N; i++) {
        if (w[i] == 0.0f) continue;
        memcpy(s->selb + (size_t)n * D, s->afb + (size_t)i * D, sizeof(uint16_t) * D);
        s->tsel[n] = tgt[i];
        s->wsel[n] = w[i];
        s->rowsel[n++] = i;
    }
    if (ce_out) memset(ce_out, 0, sizeof(float) * N);
    if (G) memset(s->dh, 0, sizeof(float) * N * D);
    if (n == 0) {
        if (G) memset(s->dhb, 0, sizeof(uint16_t) * N * D);
        return 0.0;
    }
    gemm_b(s, s->logits, s->selb, s->headb, n, V, D, false, true, false);
    xent_job_t xj = {s, n, n < 16 ? n : 16, {0}};
    par_for(xj.chunks, s->threads, xent_one, &xj); /* bf16 mode: the gradient into s->gb */
    double loss = 0;
    for (int c = 0; c < xj.chunks; c++) loss += xj.part[c];
    if (ce_out)
        for (int i = 0; i < n; i++) ce_out[s->rowsel[i]] = s->cesel[i];
    if (G) {
        gemm_b(s, s->dsel, s->gb, s->headb, n, D, V, false, false, false);
        gemm_b(s, G->head, s->gb, s->selb, V, D, n, true, false, true);
        memset(s->dA, 0, sizeof(float) * N * D);
        for (int i = 0; i < n; i++)
            memcpy(s->dA + (size_t)s->rowsel[i] * D, s->dsel + (size_t)i * D, sizeof(float) * D);
        par_rmsnorm_bwd_b(s->threads, s->dA, s->h, P->ln_f, s->rf, s->dh, s->dhb, G->ln_f, N, D, s->partial);
    }
    return loss;
}

/* LM head + loss on the rows with w != 0 (compacted); backward into dh and G when G != NULL. */
static double head_loss(tstep_t *s, const tview_t *P, const tview_t *G, const int32_t *tgt, const float *w, int N,
                        float *ce_out) {
    int D = s->c.d_model, V = s->c.embedding_size, n = 0;
    for (int i = 0; i < N; i++) {
        if (w[i] == 0.0f) continue;
        memcpy(s->sel + (size_t)n * D, s->af + (size_t)i * D, sizeof(float) * D);
        s->tsel[n] = tgt[i];
        s->wsel[n] = w[i];
        s->rowsel[n++] = i;
    }
    if (ce_out) memset(ce_out, 0, sizeof(float) * N);
    if (G) memset(s->dh, 0, sizeof(float) * N * D);
    if (n == 0) return 0.0;
    tr_linear_fwd(s->sel, P->head, s->logits, n, D, V);
    /* a fixed chunking, so the loss is summed in the same order whatever the thread count */
    xent_job_t xj = {s, n, n < 16 ? n : 16, {0}};
    par_for(xj.chunks, s->threads, xent_one, &xj);
    double loss = 0;
    for (int c = 0; c < xj.chunks; c++) loss += xj.part[c];
    if (ce_out)
        for (int i = 0; i < n; i++) ce_out[s->rowsel[i]] = s->cesel[i];
    if (G) {
        memset(s->dsel, 0, sizeof(float) * n * D);
        tr_linear_bwd(s->logits, s->sel, P->head, s->dsel, G->head, n, D, V);
        memset(s->dA, 0, sizeof(float) * N * D);
        for (int i = 0; i < n; i++)
            memcpy(s->dA + (size_t)s->rowsel[i] * D, s->dsel + (size_t)i * D, sizeof(float) * D);
        par_rmsnorm_bwd(s->threads, s->dA, s->h, P->ln_f, s->rf, s->dh, G->ln_f, N, D, s->partial);
    }
    return loss;
}

double tstep_run(tstep_t *s, const tview_t *P, const tview_t *G, const int32_t *ids, const int32_t *tgt, const float *w,
                 int B, int T, int causal, float *ce_out, lerr_t *e) {
    int N = B * T, D = s->c.d_model, nl = s->c.n_layers;
    if (B > s->B || T > s->T || B < 1 || T < 1) {
        lerr_set(e, EXIT_INTERNAL, "batch %dx%d exceeds the workspace %dx%d", B, T, s->B, s->T);
        return NAN;
    }
    for (int i = 0; i < N; i++)
        if (ids[i] < 0 || ids[i] >= s->c.embedding_size || tgt[i] < 0 || tgt[i] >= s->c.embedding_size) {
            lerr_set(e, EXIT_DATA, "token id %d outside the model's vocabulary (%d)",
                     ids[i] < 0 || ids[i] >= s->c.embedding_size ? ids[i] : tgt[i], s->c.embedding_size);
            return NAN;
        }
    s->fail = 0;
    if (s->bf16) round_weights(s, P);
    tr_embed_fwd(P->wte, ids, nl ? s->L[0].x_in : s->h, N, D);
    if (s->bf16) {
        for (int l = 0; l < nl; l++)
            layer_fwd_b(s, &P->layer[l], &s->BL[l], &s->L[l], l ? s->L[l - 1].x_mid : NULL, B, T, causal);
        float eps = (float)s->c.rms_norm_eps;
        if (nl) par_rmsnorm_fwd_b(s->threads, s->L[nl - 1].x_mid, s->dA, s->h, P->ln_f, s->afb, s->rf, N, D, eps);
        else par_rmsnorm_fwd_b(s->threads, s->h, NULL, NULL, P->ln_f, s->afb, s->rf, N, D, eps);
        double loss = head_loss_b(s, P, G, tgt, w, N, ce_out);
        if (G) {
            for (int l = nl - 1; l >= 0; l--) layer_bwd_b(s, &P->layer[l], &s->BL[l], &G->layer[l], &s->L[l], B, T);
            par_embed_bwd(s->threads, s->dh, ids, G->wte, N, D);
        }
        if (s->fail) {
            lerr_set(e, EXIT_INTERNAL, "a bf16 GEMM failed (out of memory or a oneDNN error)");
            return NAN;
        }
        return loss;
    }
    for (int l = 0; l < nl; l++) {
        layer_fwd(s, &P->layer[l], &s->L[l], B, T, causal);
        layer_out(s, &P->layer[l], &s->L[l], l + 1 < nl ? s->L[l + 1].x_in : s->h, N);
    }
    par_rmsnorm_fwd(s->threads, s->h, P->ln_f, s->af, s->rf, N, D, (float)s->c.rms_norm_eps);
    double loss = head_loss(s, P, G, tgt, w, N, ce_out);
    if (G) {
        for (int l = nl - 1; l >= 0; l--) layer_bwd(s, &P->layer[l], &G->layer[l], &s->L[l], B, T);
        par_embed_bwd(s->threads, s->dh, ids, G->wte, N, D);
    }
    if (s->fail) {
        lerr_set(e, EXIT_INTERNAL, "a bf16 GEMM failed (out of memory or a oneDNN error)");
        return NAN;
    }
    return loss;
}
