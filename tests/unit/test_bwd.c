/* test_bwd.c — every training op's backward (kernels/bwd_*.c) against central finite
 * differences of an independent double-precision forward written here from the LLaDA
 * architecture description (llada.md §2.3). The loss probed is L = Σ c·y with fixed random c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "bwd_ops.h"
#include "testlib.h"

static unsigned long long rng = 88172645463325252ULL;
static double urand(void) /* xorshift64*, uniform in [-1, 1) */
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (double)((rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0 * 2 - 1;
}
static double *drand_vec(int n, double s) {
    double *v = malloc(sizeof(double) * n);
    for (int i = 0; i < n; i++) v[i] = s * urand();
    return v;
}
static float *to_f(const double *d, int n) {
    float *f = malloc(sizeof(float) * n);
    for (int i = 0; i < n; i++) f[i] = (float)d[i];
    return f;
}

/* Compare an analytic gradient (float) with central differences of loss() w.r.t. p[0..n). */
typedef double (*loss_fn)(void);
static void fd_check(const char *what, loss_fn loss, double *p, int n, const float *g) {
    double worst = 0, h = 1e-6;
    for (int i = 0; i < n; i++) {
        double keep = p[i];
        p[i] = keep + h;
        double lp = loss();
        p[i] = keep - h;
        double lm = loss();
        p[i] = keep;
        double fd = (lp - lm) / (2 * h), err = fabs(fd - g[i]) / (1e-3 + fabs(fd));
        if (err > worst) worst = err;
    }
    CHECK(worst < 2e-3, "%s: worst relative error %g", what, worst);
}

/* ---- linear ---- */
enum { N = 6, DI = 5, DO = 7 };
static double *lx, *lw, *lc;
static double loss_linear(void) {
    double L = 0;
    for (int n = 0; n < N; n++)
        for (int o = 0; o < DO; o++) {
            double y = 0;
            for (int i = 0; i < DI; i++) y += lx[n * DI + i] * lw[o * DI + i];
            L += lc[n * DO + o] * y;
        }
    return L;
}
static void test_linear(void) {
    lx = drand_vec(N * DI, 1);
    lw = drand_vec(DO * DI, 1);
    lc = drand_vec(N * DO, 1);
    float *x = to_f(lx, N * DI), *w = to_f(lw, DO * DI), *c = to_f(lc, N * DO), y[N * DO];
    float dx[N * DI] = {0}, dw[DO * DI] = {0};
    tr_linear_fwd(x, w, y, N, DI, DO);
    double L = 0;
    for (int i = 0; i < N * DO; i++) L += lc[i] * y[i];
    CHECK_NEAR(L, loss_linear(), 1e-4, "linear forward");
    tr_linear_bwd(c, x, w, dx, dw, N, DI, DO);
    fd_check("linear dx", loss_linear, lx, N * DI, dx);
    fd_check("linear dW", loss_linear, lw, DO * DI, dw);
    free(x);
    free(w);
    free(c);
    free(lx);
    free(lw);
    free(lc);
}

/* ---- RMSNorm ---- */
enum { RD = 9 };
static double *rx, *rw, *rc;
static double loss_rms(void) {
    double L = 0;
    for (int n = 0; n < N; n++) {
        double ss = 0;
        for (int i = 0; i < RD; i++) ss += rx[n * RD + i] * rx[n * RD + i];
        double r = 1 / sqrt(ss / RD + 1e-5);
        for (int i = 0; i < RD; i++) L += rc[n * RD + i] * rx[n * RD + i] * r * rw[i];
    }
    return L;
}
static void test_rmsnorm(void) {
    rx = drand_vec(N * RD, 2);
    rw = drand_vec(RD, 1);
    rc = drand_vec(N * RD, 1);
    float *x = to_f(rx, N * RD), *w = to_f(rw, RD), *c = to_f(rc, N * RD), y[N * RD], ri[N];
    float dx[N * RD] = {0}, dw[RD] = {0};
    tr_rmsnorm_fwd(x, w, y, ri, N, RD, 1e-5f);
    double L = 0;
    for (int i = 0; i < N * RD; i++) L += rc[i] * y[i];
    CHECK_NEAR(L, loss_rms(), 1e-4, "rmsnorm forward");
    tr_rmsnorm_bwd(c, x, w, ri, dx, dw, N, RD);
    fd_check("rmsnorm dx", loss_rms, rx, N * RD, dx);
    fd_check("rmsnorm dw", loss_rms, rw, RD, dw);
    free(x);
    free(w);
    free(c);
    free(rx);
    free(rw);
    free(rc);
}

/* ---- RoPE (half split) ---- */
enum { RT = 3, RNH = 2, RHD = 8 };
static double *px, *pc;
static double loss_rope(void) {
    double L = 0;
    for (int n = 0; n < N; n++)
        for (int h = 0; h < RNH; h++)
            for (int i = 0; i < RHD / 2; i++) {
                double a = (n % RT) * pow(10000.0, -2.0 * i / RHD);
                int b0 = (n * RNH + h) * RHD + i, b1 = b0 + RHD / 2;
                L += pc[b0] * (px[b0] * cos(a) - px[b1] * sin(a));
                L += pc[b1] * (px[b1] * cos(a) + px[b0] * sin(a));
            }
    return L;
}
static void test_rope(void) {
    int n = N * RNH * RHD;
    px = drand_vec(n, 1);
    pc = drand_vec(n, 1);
    float *x = to_f(px, n), *dx = to_f(pc, n), cs[RT * RHD];
    tr_rope_table(cs, RT, RHD, 10000.0);
    tr_rope_fwd(x, cs, N, RT, RNH, RHD);
    double L = 0;
    for (int i = 0; i < n; i++) L += pc[i] * x[i];
    CHECK_NEAR(L, loss_rope(), 1e-4, "rope forward");
    tr_rope_bwd(dx, cs, N, RT, RNH, RHD);
    fd_check("rope dx", loss_rope, px, n, dx);
    free(x);
    free(dx);
    free(px);
    free(pc);
}

/* ---- attention (one head slice of wider rows, bidirectional and causal) ---- */
enum { AT = 5, AHD = 4, ALDQ = 12, ALDK = 8 };
static double *aq, *ak, *av, *ac;
static int acausal;
static double loss_attn(void) {
    double L = 0, s[AT];
    for (int i = 0; i < AT; i++) {
        double mx = -1e300, z = 0;
        for (int j = 0; j < AT; j++) {
            s[j] = 0;
            for (int d = 0; d < AHD; d++) s[j] += aq[i * ALDQ + d] * ak[j * ALDK + d];
            s[j] = (acausal && j > i) ? -INFINITY : s[j] / sqrt(AHD);
            if (s[j] > mx) mx = s[j];
        }
        for (int j = 0; j < AT; j++) z += exp(s[j] - mx);
        for (int d = 0; d < AHD; d++) {
            double o = 0;
            for (int j = 0; j < AT; j++) o += exp(s[j] - mx) / z * av[j * ALDK + d];
            L += ac[i * ALDQ + d] * o;
        }
    }
    return L;
}
static void test_attn(int causal) {
    acausal = causal;
    aq = drand_vec(AT * ALDQ, 1.5);
    ak = drand_vec(AT * ALDK, 1.5);
    av = drand_vec(AT * ALDK, 1);
    ac = drand_vec(AT * ALDQ, 1);
    float *q = to_f(aq, AT * ALDQ), *k = to_f(ak, AT * ALDK), *v = to_f(av, AT * ALDK);
    float *c = to_f(ac, AT * ALDQ), o[AT * ALDQ], P[AT * AT], sc[AT * AT];
    float dq[AT * ALDQ] = {0}, dk[AT * ALDK] = {0}, dv[AT * ALDK] = {0};
    tr_attn_fwd(q, k, v, o, P, AT, AHD, ALDQ, ALDK, 1.0f / sqrtf(AHD), causal);
    double L = 0;
    for (int i = 0; i < AT; i++)
        for (int d = 0; d < AHD; d++) L += ac[i * ALDQ + d] * o[i * ALDQ + d];
    CHECK_NEAR(L, loss_attn(), 1e-4, causal ? "causal attention forward" : "attention forward");
    tr_attn_bwd(c, q, k, v, P, dq, dk, dv, AT, AHD, ALDQ, ALDK, 1.0f / sqrtf(AHD), sc);
    fd_check(causal ? "causal attn dq" : "attn dq", loss_attn, aq, AT * ALDQ, dq);
    fd_check(causal ? "causal attn dk" : "attn dk", loss_attn, ak, AT * ALDK, dk);
    fd_check(causal ? "causal attn dv" : "attn dv", loss_attn, av, AT * ALDK, dv);
    free(q);
    free(k);
    free(v);
    free(c);
    free(aq);
    free(ak);
    free(av);
    free(ac);
}

/* ---- SwiGLU ---- */
enum { SN = 20 };
static double *sg, *su, *sc2;
static double loss_swiglu(void) {
    double L = 0;
    for (int i = 0; i < SN; i++) L += sc2[i] * sg[i] / (1 + exp(-sg[i])) * su[i];
    return L;
}
static void test_swiglu(void) {
    sg = drand_vec(SN, 4);
    su = drand_vec(SN, 2);
    sc2 = drand_vec(SN, 1);
    float *g = to_f(sg, SN), *u = to_f(su, SN), *c = to_f(sc2, SN), a[SN], dg[SN] = {0}, du[SN] = {0};
    tr_swiglu_fwd(g, u, a, SN);
    double L = 0;
    for (int i = 0; i < SN; i++) L += sc2[i] * a[i];
    CHECK_NEAR(L, loss_swiglu(), 1e-4, "swiglu forward");
    tr_swiglu_bwd(c, g, u, dg, du, SN);
    fd_check("swiglu dg", loss_swiglu, sg, SN, dg);
    fd_check("swiglu du", loss_swiglu, su, SN, du);
    free(g);
    free(u);
    free(c);
    free(sg);
    free(su);
    free(sc2);
}

/* ---- embedding (ids repeat, so gradients must accumulate) ---- */
enum { EV = 4, ED = 3 };
static double *ee, *ecc;
static const int32_t eids[N] = {2, 0, 2, 3, 2, 0};
static double loss_embed(void) {
    double L = 0;
    for (int n = 0; n < N; n++)
        for (int i = 0; i < ED; i++) L += ecc[n * ED + i] * ee[eids[n] * ED + i];
    return L;
}
static void test_embed(void) {
    ee = drand_vec(EV * ED, 1);
    ecc = drand_vec(N * ED, 1);
    float *E = to_f(ee, EV * ED), *c = to_f(ecc, N * ED), h[N * ED], dE[EV * ED] = {0};
    tr_embed_fwd(E, eids, h, N, ED);
    CHECK(h[3 * ED + 1] == E[3 * ED + 1], "embedding gathers row 3");
    tr_embed_bwd(c, eids, dE, N, ED);
    fd_check("embedding dE", loss_embed, ee, EV * ED, dE);
    free(E);
    free(c);
    free(ee);
    free(ecc);
}

/* ---- weighted cross-entropy ---- */
enum { XV = 11 };
static double *xz;
static const int32_t xy[N] = {3, 0, 10, 5, 5, 7};
static const float xw[N] = {0.5f, 0.0f, 2.0f, 1.0f, 0.25f, 3.0f};
static double loss_xent(void) {
    double L = 0;
    for (int n = 0; n < N; n++) {
        if (xw[n] == 0) continue;
        double s = 0;
        for (int i = 0; i < XV; i++) s += exp(xz[n * XV + i]);
        L += xw[n] * (log(s) - xz[n * XV + xy[n]]);
    }
    return L;
}
static void test_xent(void) {
    xz = drand_vec(N * XV, 4);
    float *z = to_f(xz, N * XV), ce[N];
    double L = tr_xent_fwd_bwd(z, xy, xw, N, XV, ce);
    CHECK_NEAR(L, loss_xent(), 1e-4, "cross-entropy value");
    CHECK(ce[1] == 0.0f, "zero-weight row has no CE");
    fd_check("cross-entropy dz", loss_xent, xz, N * XV, z);
    free(z);
    free(xz);
}

int main(void) {
    test_linear();
    test_rmsnorm();
    test_rope();
    test_attn(0);
    test_attn(1);
    test_swiglu();
    test_embed();
    test_xent();
    return TEST_SUMMARY();
}
