/* step.c — training forward + backward of a LLaDA transformer (see step.h), built from the
 * fp32 ops in kernels/bwd_ops.h. Matrix products (attention included) go to the BLAS, which
 * threads them; every other op (RMSNorm, RoPE, SwiGLU, embedding, cross-entropy) is spread
 * over threads in fixed chunks (par_ops.h), so any thread count gives identical results.
 * In bf16 mode (tstep_set_precision) the projections and the LM head — forward, dx and dW —
 * run as bf16 x bf16 -> fp32 GEMMs on oneDNN (kernels.h gemm_bf16): the fp32 weights are
 * rounded to bf16 copies at the start of each step, each GEMM input activation once in the
 * forward (kept for the dW products of the backward), each output gradient once in the
 * backward. With MHA (n_kv_heads == n_heads) attention's five products run as batched bf16
 * GEMMs over (sequence, head) too, the probabilities P and dS rounded once each (GQA keeps
 * them fp32: dK/dV would sum over a group, which a batched GEMM cannot). Norms, softmax,
 * loss and the optimiser stay fp32; the
 * SwiGLU, the attention softmax and the cross-entropy use kernels' vector exp (vmath.c,
 * within 2 ulp of expf) in that mode, the f32 mode libm's, bit for bit as before. */
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
    float *dPf;                  /* MHA attention: dP, then dS, [B][H][T][T] */
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

/* bf16 buffers: weights, activations kept for the backward, one gradient scratch. */
static int alloc_bf16(tstep_t *s) {
    size_t N = (size_t)s->B * s->T, D = s->c.d_model, V = s->c.embedding_size, F = s->F;
    size_t Dq = s->Dq, Dkv = s->Dkv, nl = s->c.n_layers;
    size_t wl = Dq * D + 2 * Dkv * D + D * Dq + 3 * F * D, al = N * (2 * D + Dq + F);
    size_t g = N * V > N * F ? N * V : N * F, PT = (size_t)s->B * s->c.n_heads * s->T * s->T;
    al += N * (Dq + 2 * Dkv) + PT;
    /* + up to 31 elements of padding per carve: 15 per layer, 5 more */
    size_t n = nl * (wl + al) + V * D + N * D + g + PT + N * Dq + 32 * (15 * nl + 5);
    if (!s->dPf && !(s->dPf = aligned_alloc(64, (PT * 4 + 63) & ~(size_t)63))) return -1;
    if (!s->BL && !(s->BL = calloc(nl ? nl : 1, sizeof(blayer_t)))) return -1;
    if (!(s->bblock = aligned_alloc(64, (n * 2 + 63) & ~(size_t)63))) return -1;
    uint16_t *p = s->bblock;
#define BCARVE(dst, cnt) (dst = p, p += ((cnt) + 31) & ~(size_t)31)
    for (size_t l = 0; l < nl; l++) {
        blayer_t *b = &s->BL[l];
        tacts_t *a = &s->L[l];
        BCARVE(b->wq, Dq * D);
        BCARVE(b->wk, Dkv * D);
        BCARVE(b->wv, Dkv * D);
        BCARVE(b->wo, D * Dq);
        BCARVE(b->wg, F * D);
        BCARVE(b->wu, F * D);
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
    BCARVE(s->gb, g);
    BCARVE(s->dSb, PT);
    BCARVE(s->dOb, N * Dq);
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
    free((*ps)->bblock);
    free((*ps)->L);
    free((*ps)->block);
    free(*ps);
    *ps = NULL;
}

/* ---- the projections: fp32 BLAS, or bf16 GEMMs on the rounded copies ---- */

/* y = x·Wᵀ (x: N×Din); bf16 mode reads xb (x rounded, by the caller) and Wb. */
static void lin_fwd(tstep_t *s, const float *x, const uint16_t *xb, const float *W, const uint16_t *Wb, float *y, int N,
                    int Din, int Dout) {
    if (!s->bf16) tr_linear_fwd(x, W, y, N, Din, Dout);
    else if (gemm_bf16(y, xb, Wb, N, Dout, Din, false, true, false)) s->fail = 1;
}

/* dx += dy·W, dW += dyᵀ·x; bf16 mode rounds dy once (into s->gb) and reads xb and Wb. */
static void lin_bwd(tstep_t *s, const float *dy, const float *x, const uint16_t *xb, const float *W,
                    const uint16_t *Wb, float *dx, float *dW, int N, int Din, int Dout) {
    if (!s->bf16) {
        tr_linear_bwd(dy, x, W, dx, dW, N, Din, Dout);
        return;
    }
    bf16_round_n(s->gb, dy, (size_t)N * Dout);
    if (dx && gemm_bf16(dx, s->gb, Wb, N, Din, Dout, false, false, true)) s->fail = 1;
    if (dW && gemm_bf16(dW, s->gb, xb, Dout, Din, N, true, false, true)) s->fail = 1;
}

/* bf16 mode: round x (n floats) into xb. */
static void to_b(const tstep_t *s, uint16_t *xb, const float *x, size_t n) {
    if (s->bf16) bf16_round_n(xb, x, n);
}

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
    j->part[i] = (j->s->bf16 ? tr_xent_fwd_bwd_vec : tr_xent_fwd_bwd)(j->s->logits + lo * V, j->s->tsel + lo, j->s->wsel + lo, hi - lo, (int)V, j->s->cesel + lo);
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

typedef struct {
    float *P;
    uint16_t *Pb;
    int T, causal;
    float scale;
} sm_job_t;

static void softmax_seq(int i, void *arg) { /* one (sequence, head)'s T rows, scaled; P and Pb */
    sm_job_t *j = arg;
    for (int r = 0; r < j->T; r++) {
        size_t o = ((size_t)i * j->T + r) * j->T;
        float *p = j->P + o;
        int nk = j->causal ? r + 1 : j->T;
        for (int c = 0; c < nk; c++) p[c] *= j->scale;
        float inv = 1.0f / vexp_sub_sum(p, nk, vmax_f32(p, nk));
        for (int c = 0; c < nk; c++) p[c] *= inv;
        for (int c = nk; c < j->T; c++) p[c] = 0.0f;
        bf16_round_n(j->Pb + o, p, j->T);
    }
}

static void attn_fwd_bf16(tstep_t *s, tacts_t *a, int B, int T, int causal) {
    int H = s->c.n_heads, hd = s->c.head_dim, N = B * T;
    bf16_round_n(a->qb, a->q, (size_t)N * s->Dq);
    bf16_round_n(a->kb, a->k, (size_t)N * s->Dkv);
    bf16_round_n(a->vb, a->v, (size_t)N * s->Dkv);
    gemm_bf16_shape_t g = {{B, H}, T, T, hd, {0}, {0}, {0}};
    hs(g.sa, T, hd, s->Dq, 0);
    hs(g.sb, T, hd, s->Dkv, 1);
    ps(g.sc, H, T, 0);
    if (gemm_bf16_batched(a->P, a->qb, a->kb, &g, false)) s->fail = 1; /* S = Q·Kᵀ */
    sm_job_t sj = {a->P, a->Pb, T, causal, 1.0f / sqrtf((float)hd)};
    par_for(B * H, s->threads, softmax_seq, &sj);
    g = (gemm_bf16_shape_t){{B, H}, T, hd, T, {0}, {0}, {0}};
    ps(g.sa, H, T, 0);
    hs(g.sb, T, hd, s->Dkv, 0);
    hs(g.sc, T, hd, s->Dq, 0);
    if (gemm_bf16_batched(a->o, a->Pb, a->vb, &g, false)) s->fail = 1; /* O = P·V */
}

typedef struct {
    const float *P;
    float *dS;
    uint16_t *dSb;
    int T;
    float scale;
} sb_job_t;

/* dS = scale·P⊙(dP − rowsum(P⊙dP)) in place over dP, and rounded into dSb */
static void softmax_bwd_seq(int i, void *arg) {
    sb_job_t *j = arg;
    for (int r = 0; r < j->T; r++) {
        size_t o = ((size_t)i * j->T + r) * j->T;
        const float *p = j->P + o;
        float *d = j->dS + o, rs = 0;
        for (int c = 0; c < j->T; c++) rs += p[c] * d[c];
        for (int c = 0; c < j->T; c++) d[c] = j->scale * p[c] * (d[c] - rs);
        bf16_round_n(j->dSb + o, d, j->T);
    }
}

/* dq, dk, dv (zeroed by the caller) += attention's backward of dO = s->da. */
static void attn_bwd_bf16(tstep_t *s, tacts_t *a, int B, int T) {
    int H = s->c.n_heads, hd = s->c.head_dim, N = B * T;
    bf16_round_n(s->dOb, s->da, (size_t)N * s->Dq);
    gemm_bf16_shape_t g = {{B, H}, T, T, hd, {0}, {0}, {0}};
    hs(g.sa, T, hd, s->Dq, 0);
    hs(g.sb, T, hd, s->Dkv, 1);
    ps(g.sc, H, T, 0);
    if (gemm_bf16_batched(s->dPf, s->dOb, a->vb, &g, false)) s->fail = 1; /* dP = dO·Vᵀ */
    g = (gemm_bf16_shape_t){{B, H}, T, hd, T, {0}, {0}, {0}};
    ps(g.sa, H, T, 1);
    hs(g.sb, T, hd, s->Dq, 0);
    hs(g.sc, T, hd, s->Dkv, 0);
    if (gemm_bf16_batched(s->dv, a->Pb, s->dOb, &g, true)) s->fail = 1; /* dV += Pᵀ·dO */
    sb_job_t bj = {a->P, s->dPf, s->dSb, T, 1.0f / sqrtf((float)hd)};
    par_for(B * H, s->threads, softmax_bwd_seq, &bj);
    g = (gemm_bf16_shape_t){{B, H}, T, hd, T, {0}, {0}, {0}};
    ps(g.sa, H, T, 0);
    hs(g.sb, T, hd, s->Dkv, 0);
    hs(g.sc, T, hd, s->Dq, 0);
    if (gemm_bf16_batched(s->dq, s->dSb, a->kb, &g, true)) s->fail = 1; /* dQ += dS·K */
    ps(g.sa, H, T, 1);
    hs(g.sb, T, hd, s->Dq, 0);
    hs(g.sc, T, hd, s->Dkv, 0);
    if (gemm_bf16_batched(s->dk, s->dSb, a->qb, &g, true)) s->fail = 1; /* dK += dSᵀ·Q */
}

static void layer_fwd(tstep_t *s, const tlayer_t *W, const blayer_t *Wb, tacts_t *a, int B, int T, int causal) {
    int N = B * T, D = s->c.d_model, hd = s->c.head_dim;
    par_rmsnorm_fwd(s->threads, a->x_in, W->attn_norm, a->a1, a->r1, N, D, (float)s->c.rms_norm_eps);
    to_b(s, a->a1b, a->a1, (size_t)N * D);
    lin_fwd(s, a->a1, a->a1b, W->wq, Wb ? Wb->wq : NULL, a->q, N, D, s->Dq);
    lin_fwd(s, a->a1, a->a1b, W->wk, Wb ? Wb->wk : NULL, a->k, N, D, s->Dkv);
    lin_fwd(s, a->a1, a->a1b, W->wv, Wb ? Wb->wv : NULL, a->v, N, D, s->Dkv);
    par_rope(s->threads, a->q, s->cs, B, T, s->c.n_heads, hd, 0);
    par_rope(s->threads, a->k, s->cs, B, T, s->c.n_kv_heads, hd, 0);
    attn_job_t j = {s, a, B, T, causal, NULL};
    if (attn_bf16(s)) attn_fwd_bf16(s, a, B, T, causal);
    else
        for (int i = 0; i < B * s->c.n_kv_heads; i++) attn_fwd_one(i, &j);
    memcpy(a->x_mid, a->x_in, sizeof(float) * N * D);
    /* x_mid = x_in + o·Woᵀ (dA is free scratch during the forward) */
    to_b(s, a->ob, a->o, (size_t)N * s->Dq);
    lin_fwd(s, a->o, a->ob, W->wo, Wb ? Wb->wo : NULL, s->dA, N, s->Dq, D);
    for (size_t i = 0; i < (size_t)N * D; i++) a->x_mid[i] += s->dA[i];
    par_rmsnorm_fwd(s->threads, a->x_mid, W->ff_norm, a->a2, a->r2, N, D, (float)s->c.rms_norm_eps);
    to_b(s, a->a2b, a->a2, (size_t)N * D);
    lin_fwd(s, a->a2, a->a2b, W->wg, Wb ? Wb->wg : NULL, a->g, N, D, s->F);
    lin_fwd(s, a->a2, a->a2b, W->wu, Wb ? Wb->wu : NULL, a->u, N, D, s->F);
    par_swiglu_fwd(s->threads, s->bf16, a->g, a->u, a->act, (size_t)N * s->F);
}

/* Residual output of layer `a` into the next layer's input: out = x_mid + act·Wdᵀ. */
static void layer_out(tstep_t *s, const tlayer_t *W, const blayer_t *Wb, const tacts_t *a, float *out, int N) {
    int D = s->c.d_model;
    to_b(s, a->actb, a->act, (size_t)N * s->F);
    lin_fwd(s, a->act, a->actb, W->wd, Wb ? Wb->wd : NULL, out, N, s->F, D);
    for (size_t i = 0; i < (size_t)N * D; i++) out[i] += a->x_mid[i];
}

static void layer_bwd(tstep_t *s, const tlayer_t *W, const blayer_t *Wb, tlayer_t *G, tacts_t *a, int B, int T) {
    int N = B * T, D = s->c.d_model, hd = s->c.head_dim, F = s->F;
    size_t nf = (size_t)N * F;
    /* out = x_mid + act·Wdᵀ ; act = swiglu(g, u) ; g,u = a2·Wg,uᵀ ; a2 = rms(x_mid) */
    memset(s->dF1, 0, sizeof(float) * nf);
    lin_bwd(s, s->dh, a->act, a->actb, W->wd, Wb ? Wb->wd : NULL, s->dF1, G->wd, N, F, D);
    memset(s->dF2, 0, sizeof(float) * nf);
    float *dg = s->dF2, *du = s->dF1;
    /* dact is in dF1; act is no longer needed, so it holds dact while dF1 becomes du */
    memcpy(a->act, s->dF1, sizeof(float) * nf);
    memset(du, 0, sizeof(float) * nf);
    par_swiglu_bwd(s->threads, s->bf16, a->act, a->g, a->u, dg, du, nf);
    memset(s->dA, 0, sizeof(float) * N * D);
    lin_bwd(s, dg, a->a2, a->a2b, W->wg, Wb ? Wb->wg : NULL, s->dA, G->wg, N, D, F);
    lin_bwd(s, du, a->a2, a->a2b, W->wu, Wb ? Wb->wu : NULL, s->dA, G->wu, N, D, F);
    par_rmsnorm_bwd(s->threads, s->dA, a->x_mid, W->ff_norm, a->r2, s->dh, G->ff_norm, N, D, s->partial);
    /* x_mid = x_in + o·Woᵀ ; o = attn(rope(q), rope(k), v) ; q,k,v = a1·W*ᵀ ; a1 = rms(x_in) */
    memset(s->da, 0, sizeof(float) * N * s->Dq);
    lin_bwd(s, s->dh, a->o, a->ob, W->wo, Wb ? Wb->wo : NULL, s->da, G->wo, N, s->Dq, D);
    memset(s->dq, 0, sizeof(float) * N * s->Dq);
    memset(s->dk, 0, sizeof(float) * N * s->Dkv);
    memset(s->dv, 0, sizeof(float) * N * s->Dkv);
    attn_job_t j = {s, a, B, T, 0, s->da};
    if (attn_bf16(s)) attn_bwd_bf16(s, a, B, T);
    else
        for (int i = 0; i < B * s->c.n_kv_heads; i++) attn_bwd_one(i, &j);
    par_rope(s->threads, s->dq, s->cs, B, T, s->c.n_heads, hd, 1);
    par_rope(s->threads, s->dk, s->cs, B, T, s->c.n_kv_heads, hd, 1);
    memset(s->dA, 0, sizeof(float) * N * D);
    lin_bwd(s, s->dq, a->a1, a->a1b, W->wq, Wb ? Wb->wq : NULL, s->dA, G->wq, N, D, s->Dq);
    lin_bwd(s, s->dk, a->a1, a->a1b, W->wk, Wb ? Wb->wk : NULL, s->dA, G->wk, N, D, s->Dkv);
    lin_bwd(s, s->dv, a->a1, a->a1b, W->wv, Wb ? Wb->wv : NULL, s->dA, G->wv, N, D, s->Dkv);
    par_rmsnorm_bwd(s->threads, s->dA, a->x_in, W->attn_norm, a->r1, s->dh, G->attn_norm, N, D, s->partial);
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
    to_b(s, s->selb, s->sel, (size_t)n * D);
    lin_fwd(s, s->sel, s->selb, P->head, s->headb, s->logits, n, D, V);
    /* a fixed chunking, so the loss is summed in the same order whatever the thread count */
    xent_job_t xj = {s, n, n < 16 ? n : 16, {0}};
    par_for(xj.chunks, s->threads, xent_one, &xj);
    double loss = 0;
    for (int c = 0; c < xj.chunks; c++) loss += xj.part[c];
    if (ce_out)
        for (int i = 0; i < n; i++) ce_out[s->rowsel[i]] = s->cesel[i];
    if (G) {
        memset(s->dsel, 0, sizeof(float) * n * D);
        lin_bwd(s, s->logits, s->sel, s->selb, P->head, s->headb, s->dsel, G->head, n, D, V);
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
    for (int l = 0; l < nl; l++) {
        const blayer_t *Wb = s->bf16 ? &s->BL[l] : NULL;
        layer_fwd(s, &P->layer[l], Wb, &s->L[l], B, T, causal);
        layer_out(s, &P->layer[l], Wb, &s->L[l], l + 1 < nl ? s->L[l + 1].x_in : s->h, N);
    }
    par_rmsnorm_fwd(s->threads, s->h, P->ln_f, s->af, s->rf, N, D, (float)s->c.rms_norm_eps);
    double loss = head_loss(s, P, G, tgt, w, N, ce_out);
    if (G) {
        for (int l = nl - 1; l >= 0; l--)
            layer_bwd(s, &P->layer[l], s->bf16 ? &s->BL[l] : NULL, &G->layer[l], &s->L[l], B, T);
        par_embed_bwd(s->threads, s->dh, ids, G->wte, N, D);
    }
    if (s->fail) {
        lerr_set(e, EXIT_INTERNAL, "a bf16 GEMM failed (out of memory or a oneDNN error)");
        return NAN;
    }
    return loss;
}
