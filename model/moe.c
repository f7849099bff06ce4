/* moe.c — the sparse mixture-of-experts FFN of LLaDA-MoE (OLMoE-derived; llada.md §4.3), a
 * step of the transformer graph in forward.c for layers whose config marks them MoE.
 *
 * Per token: router logits = xn · routerᵀ; probabilities = softmax over the experts (fp32 in
 * the reference, double here, stored as float); plus expert_bias when the checkpoint has one
 * (added to the probabilities, before the selection); the top-k experts by that value (ties
 * to the lower expert index) each contribute value × SwiGLU_e(xn), with no renormalisation
 * (the published code hard-codes norm_topk_prob False). A shared SwiGLU expert, when present,
 * is added for every token.
 *
 * LLaDA2's router (BailingMoeV2, cfg.router_sigmoid; modeling_llada2_moe.py LLaDA2MoeGate):
 * scores = sigmoid(logits) in fp32; the choice ranks scores + expert_bias: the experts split
 * into n_group consecutive groups, a group's rank is the sum of its two best biased scores,
 * the topk_group best groups stay (ties to the lower group) and the top-k experts among
 * theirs are chosen (ties to the lower expert); their weights are the unbiased scores,
 * divided by their sum + 1e-20 when k > 1, times routed_scaling_factor. Experts run batched: the rows routed to expert e are gathered,
 * multiplied with e's matrices (kernels' matmul, or e's bf16 / int8 packs under a precision
 * mode; the router always runs on its stored weights) and scattered back with their weights.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "model/family.h"

struct moe_scratch {
    int T, E, k, F, d;
    float *logits;          /* [T][E] */
    int *sel;               /* [T][k] */
    float *w;               /* [T][k] */
    int *rows;              /* [T] tokens routed to the current expert */
    float *rw;              /* [T] their weights */
    float *xg, *g, *u, *yg; /* [T][d], [T][F], [T][F], [T][d] */
};

moe_scratch_t *moe_scratch_new(const llada_config_t *c, int T) {
    moe_scratch_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->T = T;
    s->E = c->n_experts;
    s->k = c->n_experts_per_tok;
    s->d = c->d_model;
    s->F = c->expert_hidden_size > c->shared_expert_hidden_size ? c->expert_hidden_size : c->shared_expert_hidden_size;
    size_t t = (size_t)(T > 0 ? T : 1);
    s->logits = malloc(t * s->E * sizeof *s->logits);
    s->sel = malloc(t * s->k * sizeof *s->sel);
    s->w = malloc(t * s->k * sizeof *s->w);
    s->rows = malloc(t * sizeof *s->rows);
    s->rw = malloc(t * sizeof *s->rw);
    s->xg = malloc(t * s->d * sizeof *s->xg);
    s->g = malloc(t * s->F * sizeof *s->g);
    s->u = malloc(t * s->F * sizeof *s->u);
    s->yg = malloc(t * s->d * sizeof *s->yg);
    if (!s->logits || !s->sel || !s->w || !s->rows || !s->rw || !s->xg || !s->g || !s->u || !s->yg)
        moe_scratch_destroy(&s);
    return s;
}

void moe_scratch_destroy(moe_scratch_t **sp) {
    moe_scratch_t *s = sp ? *sp : NULL;
    if (!s) return;
    free(s->logits);
    free(s->sel);
    free(s->w);
    free(s->rows);
    free(s->rw);
    free(s->xg);
    free(s->g);
    free(s->u);
    free(s->yg);
    free(s);
    *sp = NULL;
}

/* Softmax (+ bias) of one token's router logits, then its top-k (value desc, index asc). */
static void route(const float *lg, const float *bias, int E, int k, int *sel, float *w) {
    double mx = -INFINITY, sum = 0;
    float p[MODEL_MAX_EXPERTS];
    for (int e = 0; e < E; e++)
        if (lg[e] > mx) mx = lg[e];
    for (int e = 0; e < E; e++) sum += exp((double)lg[e] - mx);
    for (int e = 0; e < E; e++) p[e] = (float)(exp((double)lg[e] - mx) / sum) + (bias ? bias[e] : 0.0f);
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int e = 0; e < E; e++) {
            bool taken = false;
            for (int i = 0; i < j; i++) taken |= sel[i] == e;
            if (!taken && (best < 0 || p[e] > p[best])) best = e;
        }
        sel[j] = best;
        w[j] = p[best];
    }
}

/* LLaDA2: sigmoid scores, biased group-limited choice, renormalised unbiased weights. */
static void route_sigmoid(const llada_config_t *c, const float *lg, const float *bias, int *sel, float *w) {
    int E = c->n_experts, k = c->n_experts_per_tok, G = c->n_group, per = E / G;
    float sc[MODEL_MAX_EXPERTS], rk[MODEL_MAX_EXPERTS], gs[MODEL_MAX_EXPERTS];
    bool gkeep[MODEL_MAX_EXPERTS] = {0};
    for (int e = 0; e < E; e++) {
        sc[e] = (float)(1.0 / (1.0 + exp(-(double)lg[e])));
        rk[e] = sc[e] + (bias ? bias[e] : 0.0f);
    }
    for (int g = 0; g < G; g++) { /* a group's rank: the sum of its two best biased scores */
        float b1 = -INFINITY, b2 = -INFINITY;
        for (int e = g * per; e < (g + 1) * per; e++) {
            if (rk[e] > b1) {
                b2 = b1;
                b1 = rk[e];
            } else if (rk[e] > b2) b2 = rk[e];
        }
        gs[g] = b1 + b2;
    }
    for (int j = 0; j < c->topk_group; j++) {
        int best = -1;
        for (int g = 0; g < G; g++)
            if (!gkeep[g] && (best < 0 || gs[g] > gs[best])) best = g;
        gkeep[best] = true;
    }
    float sum = 0;
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int e = 0; e < E; e++) {
            bool taken = !gkeep[e / per];
            for (int i = 0; i < j && !taken; i++) taken = sel[i] == e;
            if (!taken && (best < 0 || rk[e] > rk[best])) best = e;
        }
        sel[j] = best;
        w[j] = sc[best];
        sum += sc[best];
    }
    for (int j = 0; j < k; j++) w[j] = (k > 1 ? w[j] / (sum + 1e-20f) : w[j]) * (float)c->routed_scaling;
}

/* y[M][d] = SwiGLU(xs) through gate/up [F][d] and down [d][F] (or their packs P[3], each may
 * be NULL); g, u scratch [M][F]. 0, or -1 when a reduced-precision GEMM failed. */
static int swiglu_mlp(float *y, const float *xs, const wtensor_t *gate, const wtensor_t *up, const wtensor_t *down,
                      kpack_t *const P[3], int M, int F, float *g, float *u, bool accumulate) {
    if (model_linear(g, xs, gate, P[0], M, false) || model_linear(u, xs, up, P[1], M, false)) return -1;
    swiglu(g, g, u, (size_t)M * F);
    return model_linear(y, g, down, P[2], M, accumulate);
}

int moe_ffn(const llada_config_t *c, const llada_layer_t *ly, const model_layer_packs_t *pk, const float *xn, float *x,
            int T, moe_scratch_t *s) {
    int E = c->n_experts, k = c->n_experts_per_tok, d = c->d_model, F = c->expert_hidden_size;
    float bias[MODEL_MAX_EXPERTS];
    if (ly->router_bias.data) wconvert_f32(bias, ly->router_bias.data, ly->router_bias.type, (size_t)E);
    matmul(s->logits, xn, &ly->router, T, false);
    for (int t = 0; t < T; t++)
        if (c->router_sigmoid)
            route_sigmoid(c, s->logits + (size_t)t * E, ly->router_bias.data ? bias : NULL, s->sel + (size_t)t * k,
                          s->w + (size_t)t * k);
        else
            route(s->logits + (size_t)t * E, ly->router_bias.data ? bias : NULL, E, k, s->sel + (size_t)t * k,
                  s->w + (size_t)t * k);
    for (int e = 0; e < E; e++) {
        int n = 0;
        for (int t = 0; t < T; t++)
            for (int j = 0; j < k; j++)
                if (s->sel[(size_t)t * k + j] == e) {
                    s->rows[n] = t;
                    s->rw[n] = s->w[(size_t)t * k + j];
                    n++;
                }
        if (!n) continue;
        for (int i = 0; i < n; i++) memcpy(s->xg + (size_t)i * d, xn + (size_t)s->rows[i] * d, (size_t)d * sizeof *xn);
        kpack_t *ep[3] = {NULL, NULL, NULL};
        if (pk && pk->exp_gate) ep[0] = pk->exp_gate[e], ep[1] = pk->exp_up[e], ep[2] = pk->exp_down[e];
        if (swiglu_mlp(s->yg, s->xg, &ly->exp_gate[e], &ly->exp_up[e], &ly->exp_down[e], ep, n, F, s->g, s->u, false))
            return -1;
        for (int i = 0; i < n; i++) {
            float *xr = x + (size_t)s->rows[i] * d, wv = s->rw[i];
            const float *yr = s->yg + (size_t)i * d;
            for (int j = 0; j < d; j++) xr[j] += wv * yr[j];
        }
    }
    if (ly->sh_gate.data) { /* shared expert: every token */
        kpack_t *sp[3] = {pk ? pk->sh_gate : NULL, pk ? pk->sh_up : NULL, pk ? pk->sh_down : NULL};
        return swiglu_mlp(x, xn, &ly->sh_gate, &ly->sh_up, &ly->sh_down, sp, T, c->shared_expert_hidden_size, s->g,
                          s->u, true);
    }
    return 0;
}
