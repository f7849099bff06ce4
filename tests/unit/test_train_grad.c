/* test_train_grad.c — full-model gradient check of the training step (train/step.c) on a tiny
 * LLaDA config (GQA, 2 layers): every parameter's analytic gradient against central finite
 * differences of an independent double-precision model forward written here from the
 * architecture description (llada.md §2.3), for the bidirectional (diffusion) and causal (AR)
 * variants; plus: 2 threads give the same gradients as 1. With oneDNN, the bf16 step
 * (tstep_set_precision) against the same finite differences, norm-wise (bf16 rounds each GEMM
 * input to an 8-bit mantissa, relative error <= 2^-9 per rounding, so single gradient entries
 * can be off by several percent where they are small; the norm of the error over all
 * parameters must stay below 4%: about a dozen roundings' worth, each 2^-9 ~ 0.2%, on a chain of
 * two layers). tests/unit/test_train_bf16.c compares bf16 with f32 on a wider model. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "train/step.h"
#include "kernels.h"
#include "testlib.h"

enum { V = 11, D = 8, NL = 2, HQ = 2, HKV = 1, HD = 4, F = 12, B = 2, T = 5, N = B * T };
static llada_config_t cfg;
static double *P; /* double copy of the parameters, same flat layout */
static int32_t ids[N], tgt[N];
static float w[N];
static int causal;

static double *off(size_t *o, size_t n) {
    double *p = P + *o;
    *o += n;
    return p;
}

static void rms(const double *x, const double *g, double *y) {
    for (int n = 0; n < N; n++) {
        double ss = 0;
        for (int i = 0; i < D; i++) ss += x[n * D + i] * x[n * D + i];
        double r = 1 / sqrt(ss / D + 1e-5);
        for (int i = 0; i < D; i++) y[n * D + i] = x[n * D + i] * r * g[i];
    }
}
static void lin(const double *x, const double *W, double *y, int din, int dout) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < dout; o++) {
            double s = 0;
            for (int i = 0; i < din; i++) s += x[n * din + i] * W[o * din + i];
            y[n * dout + o] = s;
        }
}
static void rope(double *x, int nh) {
    for (int n = 0; n < N; n++)
        for (int h = 0; h < nh; h++)
            for (int i = 0; i < HD / 2; i++) {
                double a = (n % T) * pow(cfg.rope_theta, -2.0 * i / HD), c = cos(a), s = sin(a);
                double *v = x + (n * nh + h) * HD, x0 = v[i], x1 = v[i + HD / 2];
                v[i] = x0 * c - x1 * s;
                v[i + HD / 2] = x1 * c + x0 * s;
            }
}

/* The whole model in double: Σ w·CE. */
static double ref_loss(void) {
    size_t o = 0;
    double *wte = off(&o, V * D), h[N * D], a[N * D], q[N * HQ * HD], k[N * HKV * HD], v[N * HKV * HD],
           att[N * HQ * HD], t[N * D], g[N * F], u[N * F];
    for (int n = 0; n < N; n++) memcpy(h + n * D, wte + ids[n] * D, sizeof(double) * D);
    for (int l = 0; l < NL; l++) {
        double *an = off(&o, D), *wq = off(&o, HQ * HD * D), *wk = off(&o, HKV * HD * D), *wv = off(&o, HKV * HD * D),
               *wo = off(&o, D * HQ * HD), *fn = off(&o, D), *wg = off(&o, F * D), *wu = off(&o, F * D),
               *wd = off(&o, D * F);
        rms(h, an, a);
        lin(a, wq, q, D, HQ * HD);
        lin(a, wk, k, D, HKV * HD);
        lin(a, wv, v, D, HKV * HD);
        rope(q, HQ);
        rope(k, HKV);
        for (int b = 0; b < B; b++)
            for (int hh = 0; hh < HQ; hh++)
                for (int i = 0; i < T; i++) {
                    int kh = hh / (HQ / HKV);
                    double s[T], mx = -1e300, z = 0;
                    for (int j = 0; j < T; j++) {
                        s[j] = 0;
                        for (int d = 0; d < HD; d++)
                            s[j] += q[((b * T + i) * HQ + hh) * HD + d] * k[((b * T + j) * HKV + kh) * HD + d];
                        s[j] = (causal && j > i) ? -INFINITY : s[j] / sqrt(HD);
                        if (s[j] > mx) mx = s[j];
                    }
                    for (int j = 0; j < T; j++) z += exp(s[j] - mx);
                    for (int d = 0; d < HD; d++) {
                        double acc = 0;
                        for (int j = 0; j < T; j++) acc += exp(s[j] - mx) / z * v[((b * T + j) * HKV + kh) * HD + d];
                        att[((b * T + i) * HQ + hh) * HD + d] = acc;
                    }
                }
        lin(att, wo, t, HQ * HD, D);
        for (int i = 0; i < N * D; i++) h[i] += t[i];
        rms(h, fn, a);
        lin(a, wg, g, D, F);
        lin(a, wu, u, D, F);
        for (int i = 0; i < N * F; i++) g[i] = g[i] / (1 + exp(-g[i])) * u[i];
        lin(g, wd, t, F, D);
        for (int i = 0; i < N * D; i++) h[i] += t[i];
    }
    double *lnf = off(&o, D), *head = off(&o, V * D), lg[N * V], L = 0;
    rms(h, lnf, a);
    lin(a, head, lg, D, V);
    for (int n = 0; n < N; n++) {
        if (w[n] == 0) continue;
        double mx = -1e300, z = 0;
        for (int i = 0; i < V; i++) mx = lg[n * V + i] > mx ? lg[n * V + i] : mx;
        for (int i = 0; i < V; i++) z += exp(lg[n * V + i] - mx);
        L += w[n] * (mx + log(z) - lg[n * V + tgt[n]]);
    }
    return L;
}

static void run_case(int is_causal, const float *params, size_t np) {
    causal = is_causal;
    lerr_t e = {0};
    tview_t pv, gv, gv2;
    float *p = malloc(sizeof(float) * np), *gr = calloc(np, sizeof(float)), *gr2 = calloc(np, sizeof(float));
    memcpy(p, params, sizeof(float) * np);
    tparams_bind(&cfg, p, &pv);
    tparams_bind(&cfg, gr, &gv);
    tparams_bind(&cfg, gr2, &gv2);
    tstep_t *s1 = tstep_new(&cfg, B, T, 1, &e), *s2 = tstep_new(&cfg, B, T, 2, &e);
    float ce[N];
    double L = tstep_run(s1, &pv, &gv, ids, tgt, w, B, T, causal, ce, &e);
    double L2 = tstep_run(s2, &pv, &gv2, ids, tgt, w, B, T, causal, NULL, &e);
    /* bf16 (when oneDNN is here): gradients into gr3 */
    int bf = gemm_bf16_available();
    float *gr3 = calloc(np, sizeof(float));
    double L3 = NAN;
    if (bf) {
        tview_t gv3;
        tparams_bind(&cfg, gr3, &gv3);
        tstep_t *s3 = tstep_new(&cfg, B, T, 1, &e);
        CHECK(tstep_set_precision(s3, TPREC_BF16, &e) == 0, "bf16 step: %s", e.msg);
        L3 = tstep_run(s3, &pv, &gv3, ids, tgt, w, B, T, causal, NULL, &e);
        tstep_destroy(&s3);
        tparams_unbind(&gv3);
    }
    double e3 = 0, n3 = 0;
    for (size_t i = 0; i < np; i++) P[i] = params[i];
    double R = ref_loss();
    CHECK(fabs(L - R) < 1e-5 * (1 + fabs(R)), "%s loss %.9g vs double reference %.9g",
          causal ? "causal" : "bidirectional", L, R);
    CHECK(L == L2 && memcmp(gr, gr2, sizeof(float) * np) == 0, "2 threads == 1 thread");
    CHECK(ce[1] == 0.0f && ce[0] > 0.0f, "per-position CE only where w != 0");
    double worst = 0, h = 1e-5;
    size_t worst_i = 0;
    for (size_t i = 0; i < np; i++) {
        double keep = P[i];
        P[i] = keep + h;
        double lp = ref_loss();
        P[i] = keep - h;
        double lm = ref_loss();
        P[i] = keep;
        double fd = (lp - lm) / (2 * h), err = fabs(fd - gr[i]) / (1e-4 + fabs(fd));
        if (err > worst) worst = err, worst_i = i;
        e3 += (gr3[i] - fd) * (gr3[i] - fd);
        n3 += fd * fd;
    }
    if (bf) {
        CHECK(fabs(L3 - R) < 1e-2 * (1 + fabs(R)), "%s bf16 loss %.6g vs double reference %.6g",
              causal ? "causal" : "bidirectional", L3, R);
        CHECK(sqrt(e3 / n3) < 4e-2, "%s bf16 gradient vs finite differences: norm-wise rel. error %.3g",
              causal ? "causal" : "bidirectional", sqrt(e3 / n3));
        printf("# %s bf16: loss %.6f, gradient norm-wise rel. error %.2e vs finite differences\n",
               causal ? "causal" : "bidirectional", L3, sqrt(e3 / n3));
    } else {
        printf("# bf16 not checked: %s\n", gemm_bf16_unavailable());
    }
    free(gr3);
    CHECK(worst < 1e-2, "%s full-model gradient: worst rel. error %g at param %zu (of %zu)",
          causal ? "causal" : "bidirectional", worst, worst_i, np);
    printf("# %s: loss %.6f, worst gradient rel. error %.2e over %zu params\n", causal ? "causal" : "bidirectional", L,
           worst, np);
    tstep_destroy(&s1);
    tstep_destroy(&s2);
    tparams_unbind(&pv);
    tparams_unbind(&gv);
    tparams_unbind(&gv2);
    free(p);
    free(gr);
    free(gr2);
}

int main(void) {
    memset(&cfg, 0, sizeof cfg);
    cfg.d_model = D;
    cfg.n_layers = NL;
    cfg.n_heads = HQ;
    cfg.n_kv_heads = HKV;
    cfg.head_dim = HD;
    cfg.mlp_hidden_size = F;
    cfg.vocab_size = V;
    cfg.embedding_size = V;
    cfg.max_sequence_length = T;
    cfg.rope_theta = 10000.0;
    cfg.rms_norm_eps = 1e-5;
    size_t np = tparams_count(&cfg);
    float *params = malloc(sizeof(float) * np);
    tparams_init(&cfg, params, 0.5, 7);
    tview_t pv;
    tparams_bind(&cfg, params, &pv);
    CHECK(pv.n == np, "layout covers %zu floats", np);
    for (int l = 0; l < NL; l++) /* non-trivial norm weights so their gradients are probed */
        for (int i = 0; i < D; i++)
            pv.layer[l].attn_norm[i] = 0.8f + 0.05f * i, pv.layer[l].ff_norm[i] = 1.2f - 0.04f * i;
    tparams_unbind(&pv);
    P = malloc(sizeof(double) * np);
    for (int n = 0; n < N; n++) {
        ids[n] = (n * 7 + 3) % V;
        tgt[n] = (n * 5 + 1) % V;
        w[n] = (n % 3 == 1) ? 0.0f : 0.1f + 0.05f * n;
    }
    run_case(0, params, np);
    run_case(1, params, np);
    free(P);
    free(params);
    return TEST_SUMMARY();
}
