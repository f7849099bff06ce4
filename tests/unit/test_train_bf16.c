/* test_train_bf16.c — train --precision bf16: (1) kernels' gemm_bf16 (oneDNN) against its plain
 * reference gemm_bf16_ref for every transpose combination, with and without accumulation, on
 * odd and training-sized shapes; (2) the bf16 training step (train/step.c) against the f32
 * step on a 2-layer GQA model of width 64: loss and every tensor's gradient, norm-wise; (3) the
 * vector-exp ops the bf16 step uses (SwiGLU forward and backward, attention softmax,
 * cross-entropy) against their libm references in bwd_ops.h: the vector exp is within 2 ulp of
 * expf and sums run in fp32 lanes, so 1e-5 relative to each output's magnitude (about 100 ulp)
 * is ample, and any formula slip misses it by far; (4) the bf16 step's fused ops (bwd_bf16.c:
 * RMSNorm, RoPE, SwiGLU, softmax, cross-entropy writing bf16) against their references at
 * every dispatch level, within one bf16 ulp (see fused_ops).
 *
 * Tolerances. (1) Both sides read the same bf16 inputs; they differ only in summation (fp32
 * vs double), so |C - ref| <= 1e-5 * Σ_k |a_k b_k| (fp32 unit roundoff 6e-8 times the depth of
 * a blocked sum, with margin) — a wrong transpose or stride misses it by orders of magnitude.
 * (2) bf16 keeps an 8-bit mantissa: each rounding has relative error <= 2^-9 (0.2%); a product
 * of two rounded factors <= 2^-8; along a gradient's chain (two layers, forward and backward)
 * about a dozen roundings compound with random signs, so the norm-wise error of a tensor's
 * gradient is expected near 1% and must stay under 4%; the loss (a sum over many positions)
 * within 1%. Switching the step back to f32 must give the f32 results bit for bit.
 * Without oneDNN (a build lacking it, or libdnnl missing) the test checks that gemm_bf16 and
 * tstep_set_precision refuse with a reason, and skips the numeric parts. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "train/step.h"
#include "bwd_ops.h"
#include "kernels.h"
#include "testlib.h"

static uint64_t rng = 88172645463325252ull;
static double urand(void) { /* xorshift64, uniform in [-1, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 4503599627370496.0 - 1.0;
}

static void gemm_case(int M, int N, int K, bool ta, bool tb, bool acc) {
    size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N;
    float *af = malloc(na * 4), *bfl = malloc(nb * 4), *c = malloc(nc * 4), *r = malloc(nc * 4);
    uint16_t *a = malloc(na * 2), *b = malloc(nb * 2);
    for (size_t i = 0; i < na; i++) af[i] = (float)urand();
    for (size_t i = 0; i < nb; i++) bfl[i] = (float)(urand() * 3);
    for (size_t i = 0; i < nc; i++) c[i] = r[i] = (float)urand();
    bf16_round_n(a, af, na);
    bf16_round_n(b, bfl, nb);
    int rc = gemm_bf16(c, a, b, M, N, K, ta, tb, acc);
    gemm_bf16_ref(r, a, b, M, N, K, ta, tb, acc);
    double worst = 0;
    for (int m = 0; m < M && rc == 0; m++)
        for (int n = 0; n < N; n++) {
            double mag = 0;
            for (int k = 0; k < K; k++) {
                float x = bf16_to_f32(ta ? a[(size_t)k * M + m] : a[(size_t)m * K + k]);
                float y = bf16_to_f32(tb ? b[(size_t)n * K + k] : b[(size_t)k * N + n]);
                mag += fabs((double)x * y);
            }
            double err = fabs((double)c[(size_t)m * N + n] - r[(size_t)m * N + n]) / (mag + 1e-30);
            if (err > worst) worst = err;
        }
    CHECK(rc == 0 && worst <= 1e-5, "gemm_bf16 %dx%dx%d ta %d tb %d acc %d: rc %d, worst error %.3g of sum|ab| (%s)",
          M, N, K, ta, tb, acc, rc, worst, gemm_bf16_impl());
    free(af);
    free(bfl);
    free(c);
    free(r);
    free(a);
    free(b);
}

/* max |a - b| / (|b| + floor) over n */
static double maxrel(const float *a, const float *b, size_t n, double floor) {
    double w = 0;
    for (size_t i = 0; i < n; i++) w = fmax(w, fabs((double)a[i] - b[i]) / (fabs((double)b[i]) + floor));
    return w;
}

static void vec_ops(void) {
    enum { SN = 1000, XN = 7, XV = 333, AT = 37, AHD = 16 };
    static float g[SN], u[SN], da[SN], a1[SN], a2[SN], dg1[SN], dg2[SN], du1[SN], du2[SN];
    for (int i = 0; i < SN; i++) {
        g[i] = (float)(urand() * 12), u[i] = (float)urand(), da[i] = (float)urand();
        dg1[i] = dg2[i] = (float)urand(), du1[i] = du2[i] = (float)urand();
    }
    tr_swiglu_fwd(g, u, a1, SN);
    swiglu(a2, g, u, SN);
    CHECK(maxrel(a2, a1, SN, 1e-3) < 1e-5, "vector SwiGLU forward vs tr_swiglu_fwd: %.3g", maxrel(a2, a1, SN, 1e-3));
    tr_swiglu_bwd(da, g, u, dg1, du1, SN);
    swiglu_bwd(da, g, u, dg2, du2, SN);
    double e = fmax(maxrel(dg2, dg1, SN, 1e-3), maxrel(du2, du1, SN, 1e-3));
    CHECK(e < 1e-5, "vector SwiGLU backward vs tr_swiglu_bwd: %.3g", e);
    static float z1[XN * XV], z2[XN * XV], w[XN], ce1[XN], ce2[XN];
    int32_t y[XN];
    for (int i = 0; i < XN * XV; i++) z1[i] = z2[i] = (float)(urand() * 8);
    for (int n = 0; n < XN; n++) y[n] = (n * 41) % XV, w[n] = n == 3 ? 0.0f : 0.25f + 0.1f * n;
    double L1 = tr_xent_fwd_bwd(z1, y, w, XN, XV, ce1), L2 = tr_xent_fwd_bwd_vec(z2, y, w, XN, XV, ce2);
    CHECK(fabs(L2 - L1) <= 1e-5 * fabs(L1) && maxrel(ce2, ce1, XN, 1e-3) < 1e-5 && maxrel(z2, z1, XN * XV, 1e-4) < 1e-5,
          "vector cross-entropy vs tr_xent_fwd_bwd: loss %.9g vs %.9g, gradient %.3g", L2, L1,
          maxrel(z2, z1, XN * XV, 1e-4));
    static float q[AT * 32], k[AT * 32], v[AT * 32], o1[AT * 32], o2[AT * 32], P1[AT * AT], P2[AT * AT];
    for (int i = 0; i < AT * 32; i++) q[i] = (float)(urand() * 2), k[i] = (float)(urand() * 2), v[i] = (float)urand();
    for (int causal = 0; causal < 2; causal++) {
        tr_attn_fwd(q, k, v, o1, P1, AT, AHD, 32, 32, 0.25f, causal);
        tr_attn_fwd_vec(q, k, v, o2, P2, AT, AHD, 32, 32, 0.25f, causal);
        double ep = maxrel(P2, P1, AT * AT, 1e-4), eo = 0;
        for (int t = 0; t < AT; t++) /* |out| <= max|v| = 1 (P's rows sum to 1): absolute error */
            for (int d = 0; d < AHD; d++) eo = fmax(eo, fabs((double)o2[t * 32 + d] - o1[t * 32 + d]));
        CHECK(ep < 1e-5 && eo < 1e-6, "vector attention softmax (causal %d) vs tr_attn_fwd: P %.3g, out %.3g", causal,
              ep, eo);
    }
}

/* ---- the bf16 step's fused ops (bwd_bf16.c) against their plain references ----
 * Each fused op computes what its reference (the fp32 op, then f32_to_bf16) computes, with
 * sums in another order (vector lanes; RMSNorm's in double) and the vector exp, so an fp32
 * result differs by a few ulp and its bf16 rounding by at most one bf16 ulp (2^-7 relative),
 * where the fp32 values straddle a rounding boundary. Tolerance for a bf16 output:
 * |a - b| <= 2^-7 |b| + floor, floor = 1e-5 of the output's scale (for the softmax backward's
 * cancellation dp - Σ p·dp); fp32 outputs: 1e-5 relative to their scale. Run at every
 * dispatch level the CPU has (plain loops, AVX-512 with integer rounding, VCVTNEPS2BF16). */
static double bf16_err(const uint16_t *a, const uint16_t *b, size_t n, double floor) {
    double w = 0;
    for (size_t i = 0; i < n; i++) {
        double x = bf16_to_f32(a[i]), y = bf16_to_f32(b[i]);
        w = fmax(w, fabs(x - y) / (ldexp(fabs(y), -7) + floor));
    }
    return w; /* <= 1: within tolerance */
}
static double absmax(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}
static double maxdiff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static void fused_ops(int level) {
    enum { FN = 11, MAXD = 384, RT = 5 };
    static float x[FN * MAXD], res[FN * MAXD], w[MAXD], xo1[FN * MAXD], xo2[FN * MAXD], r1[FN], r2[FN];
    static float dy[FN * MAXD], dx1[FN * MAXD], dx2[FN * MAXD], dw1[MAXD], dw2[MAXD];
    static uint16_t b1[2 * FN * MAXD], b2[2 * FN * MAXD];
    int Ds[2] = {384, 37};
    for (int di = 0; di < 2; di++) {
        int D = Ds[di];
        size_t n = (size_t)FN * D;
        for (size_t i = 0; i < n; i++) x[i] = (float)(urand() * 3), res[i] = (float)urand(), dy[i] = (float)urand();
        for (int i = 0; i < D; i++) w[i] = (float)(1 + 0.3 * urand());
        for (int withres = 0; withres < 2; withres++) {
            tr_rmsnorm_fwd_bf16(x, withres ? res : NULL, xo1, w, b1, r1, FN, D, 1e-5f);
            tr_rmsnorm_fwd_bf16_ref(x, withres ? res : NULL, xo2, w, b2, r2, FN, D, 1e-5f);
            double e = bf16_err(b1, b2, n, 1e-30), er = maxrel(r1, r2, FN, 0);
            CHECK(e <= 1 && er < 1e-6 && (!withres || memcmp(xo1, xo2, n * 4) == 0),
                  "isa %d: RMSNorm forward bf16 D %d res %d vs reference: y %.3g ulp-units, rinv %.3g", level, D,
                  withres, e, er);
        }
        for (size_t i = 0; i < n; i++) dx1[i] = dx2[i] = (float)urand();
        for (int i = 0; i < D; i++) dw1[i] = dw2[i] = (float)urand();
        tr_rmsnorm_bwd_bf16(dy, x, w, r2, dx1, b1, dw1, FN, D);
        tr_rmsnorm_bwd_bf16_ref(dy, x, w, r2, dx2, b2, dw2, FN, D);
        double sx = absmax(dx2, n), ex = maxdiff(dx1, dx2, n) / sx, ew = maxdiff(dw1, dw2, D) / absmax(dw2, D);
        double eb = bf16_err(b1, b2, n, 1e-5 * sx);
        CHECK(ex < 1e-5 && ew < 1e-5 && eb <= 1, "isa %d: RMSNorm backward bf16 D %d: dx %.3g, dw %.3g, dxb %.3g", level,
              D, ex, ew, eb);
    }
    /* RoPE: hd 64 (vector body) and 16 (plain loop), positions wrapping at T, row strides */
    static float cs[RT * 64];
    for (int hd = 16; hd <= 64; hd += 48) {
        int nh = 3, ldx = nh * hd + 7, ldb = nh * hd + 5;
        tr_rope_table(cs, RT, hd, 10000.0);
        for (int inv = 0; inv < 2; inv++) {
            tr_rope_bf16(x, ldx, b1, ldb, cs, FN, RT, nh, hd, inv);
            tr_rope_bf16_ref(x, ldx, b2, ldb, cs, FN, RT, nh, hd, inv);
            double e = 0;
            for (int r = 0; r < FN; r++) e = fmax(e, bf16_err(b1 + (size_t)r * ldb, b2 + (size_t)r * ldb, nh * hd, 1e-30));
            CHECK(e <= 1, "isa %d: RoPE bf16 hd %d inverse %d vs reference: %.3g", level, hd, inv, e);
        }
    }
    /* SwiGLU: F 96 and 37 (a tail), g and u rows of stride ld, outputs of stride ldo */
    for (int F = 96; F > 0; F = F == 96 ? 37 : 0) {
        int ld = F + 3, ldo = 2 * F + 1;
        for (size_t i = 0; i < (size_t)FN * ld; i++) x[i] = (float)(urand() * 10);
        tr_swiglu_fwd_bf16(x, res, ld, b1, FN, F);
        tr_swiglu_fwd_bf16_ref(x, res, ld, b2, FN, F);
        double e = bf16_err(b1, b2, (size_t)FN * F, 1e-30);
        tr_swiglu_bwd_bf16(dy, x, res, ld, b1, b1 + F, ldo, FN, F);
        tr_swiglu_bwd_bf16_ref(dy, x, res, ld, b2, b2 + F, ldo, FN, F);
        double eg = 0;
        for (int r = 0; r < FN; r++) eg = fmax(eg, bf16_err(b1 + (size_t)r * ldo, b2 + (size_t)r * ldo, 2 * F, 1e-30));
        CHECK(e <= 1 && eg <= 1, "isa %d: SwiGLU bf16 F %d vs reference: forward %.3g, backward %.3g", level, F, e, eg);
    }
    /* attention softmax rows: n 160 and 37, every causal length, a power-of-two scale and not */
    static float p1[160], p2[160], dp[160];
    for (int nn = 160; nn > 0; nn = nn == 160 ? 37 : 0) {
        double e = 0, ep = 0, eb = 0;
        for (int nk = 1; nk <= nn; nk++)
            for (int si = 0; si < 2; si++) {
                float scale = si ? 0.3f : 0.125f;
                for (int i = 0; i < nn; i++) p1[i] = p2[i] = (float)(urand() * 20);
                tr_softmax_row_bf16(p1, b1, nn, nk, scale);
                tr_softmax_row_bf16_ref(p2, b2, nn, nk, scale);
                e = fmax(e, bf16_err(b1, b2, nn, 1e-30));
                ep = fmax(ep, maxdiff(p1, p2, nn));
                for (int i = 0; i < nn; i++) dp[i] = (float)urand();
                tr_softmax_bwd_row_bf16(p2, dp, b1, nn, scale);
                tr_softmax_bwd_row_bf16_ref(p2, dp, b2, nn, scale);
                eb = fmax(eb, bf16_err(b1, b2, nn, 1e-5 * scale));
            }
        CHECK(e <= 1 && ep < 1e-6 && eb <= 1, "isa %d: softmax rows bf16 n %d vs reference: P %.3g (fp32 %.3g), dS %.3g",
              level, nn, e, ep, eb);
    }
    /* cross-entropy with the gradient rounded (V 333: a tail), a zero-weight row */
    enum { XN = 7, XV = 333 };
    static float z1[XN * XV], z2[XN * XV], xw[XN], ce1[XN], ce2[XN];
    static uint16_t g1[XN * XV], g2[XN * XV];
    int32_t y[XN];
    for (int i = 0; i < XN * XV; i++) z1[i] = z2[i] = (float)(urand() * 8);
    for (int k = 0; k < XN; k++) y[k] = (k * 41) % XV, xw[k] = k == 3 ? 0.0f : 0.25f + 0.1f * k;
    double L1 = tr_xent_fwd_bwd_bf16(z1, y, xw, XN, XV, ce1, g1), L2 = tr_xent_fwd_bwd_bf16_ref(z2, y, xw, XN, XV, ce2, g2);
    double eg = bf16_err(g1, g2, XN * XV, 1e-5);
    CHECK(fabs(L1 - L2) <= 1e-5 * fabs(L2) && maxrel(ce1, ce2, XN, 1e-3) < 1e-5 && eg <= 1,
          "isa %d: cross-entropy bf16 vs reference: loss %.9g vs %.9g, gradient %.3g", level, L1, L2, eg);
}

/* gemm_bf16_batched on attention's layouts: heads as column slices of token-major matrices. */
static void batched_case(int trans_b, bool acc) {
    enum { BB = 3, H = 2, TT = 9, HD = 5, LD = H * HD };
    static float qf[BB * TT * LD], kf[BB * TT * LD], c1[BB * H * TT * TT], c2[BB * H * TT * TT];
    static uint16_t q[BB * TT * LD], k[BB * TT * LD];
    for (int i = 0; i < BB * TT * LD; i++) qf[i] = (float)urand(), kf[i] = (float)urand();
    for (int i = 0; i < BB * H * TT * TT; i++) c1[i] = c2[i] = (float)urand();
    bf16_round_n(q, qf, BB * TT * LD);
    bf16_round_n(k, kf, BB * TT * LD);
    /* trans_b: S = Q·Kᵀ (T x T per head); else Y = Qᵀ·K read as (HD x HD) per head */
    gemm_bf16_shape_t g = {{BB, H}, trans_b ? TT : HD, trans_b ? TT : HD, trans_b ? HD : TT, {0}, {0}, {0}};
    int64_t tok[4] = {(int64_t)TT * LD, HD, LD, 1}, tr[4] = {(int64_t)TT * LD, HD, 1, LD};
    for (int i = 0; i < 4; i++) {
        g.sa[i] = trans_b ? tok[i] : tr[i];
        g.sb[i] = trans_b ? tr[i] : tok[i];
    }
    int n = trans_b ? TT : HD;
    g.sc[0] = (int64_t)H * n * n, g.sc[1] = (int64_t)n * n, g.sc[2] = n, g.sc[3] = 1;
    int rc = gemm_bf16_batched(c1, q, k, &g, acc);
    gemm_bf16_batched_ref(c2, q, k, &g, acc);
    double worst = 0;
    for (int i = 0; i < BB * H * n * n; i++) worst = fmax(worst, fabs((double)c1[i] - c2[i]));
    CHECK(rc == 0 && worst < 1e-5, "gemm_bf16_batched (%s, acc %d) vs reference: %.3g (%s)",
          trans_b ? "Q·Kᵀ" : "Qᵀ·K", acc, worst, gemm_bf16_impl());
}

/* gemm_bf16_batched_b16: C written as bf16 into a strided slice (attention's dV layout), against
 * the fp32 reference rounded: within one bf16 ulp (2^-7 relative; the sums' order may tip a
 * rounding) plus 1e-5 of Σ|ab| for the fp32 sums' own difference; elements outside the slice
 * untouched. */
static void batched_b16_case(void) {
    enum { BB = 3, H = 2, TT = 9, HD = 5, LD = H * HD, LDC = 3 * LD };
    static float pf[BB * H * TT * TT], ref[BB * TT * LD];
    static uint16_t p[BB * H * TT * TT], d[BB * TT * LD], c[BB * TT * LDC];
    for (int i = 0; i < BB * H * TT * TT; i++) pf[i] = (float)fabs(urand());
    for (int i = 0; i < BB * TT * LD; i++) ref[i] = (float)urand();
    bf16_round_n(p, pf, BB * H * TT * TT);
    bf16_round_n(d, ref, BB * TT * LD);
    for (int i = 0; i < BB * TT * LDC; i++) c[i] = 0x7fc1; /* a NaN marker */
    /* Y = Pᵀ·dO per (b, h): P read transposed, dO and Y heads as column slices */
    gemm_bf16_shape_t g = {{BB, H}, TT, HD, TT, {(int64_t)H * TT * TT, TT * TT, 1, TT}, {(int64_t)TT * LD, HD, LD, 1},
                           {(int64_t)TT * LDC, HD, LDC, 1}};
    int rc = gemm_bf16_batched_b16(c + LD, p, d, &g);
    g.sc[0] = (int64_t)TT * LD, g.sc[2] = LD;
    gemm_bf16_batched_ref(ref, p, d, &g, false);
    double worst = 0;
    int outside = 0;
    for (int i = 0; i < BB * TT * LDC; i++) {
        int row = i / LDC, col = i % LDC;
        if (col < LD || col >= 2 * LD) {
            outside += c[i] != 0x7fc1;
            continue;
        }
        double y = ref[row * LD + col - LD], x = bf16_to_f32(c[i]);
        worst = fmax(worst, fabs(x - y) / (ldexp(fabs(y), -7) + 1e-5 * TT));
    }
    CHECK(rc == 0 && worst <= 1 && outside == 0, "gemm_bf16_batched_b16 (strided bf16 C) vs reference: %.3g of tolerance, %d written outside (%s)",
          worst, outside, gemm_bf16_impl());
}

enum { V = 50, D = 64, NL = 2, HQ = 4, HD = 16, F = 96, B = 2, T = 12, N = B * T };

/* Norm-wise relative difference of a against b over n floats. */
static double relerr(const float *a, const float *b, size_t n) {
    double e = 0, s = 0;
    for (size_t i = 0; i < n; i++) e += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), s += (double)b[i] * b[i];
    return s > 0 ? sqrt(e / s) : sqrt(e);
}

/* HKV == HQ (MHA) also runs attention's products in bf16 (step.c), HKV < HQ keeps them fp32. */
static void step_case(int causal, int HKV) {
    llada_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.d_model = D;
    cfg.n_layers = NL;
    cfg.n_heads = HQ;
    cfg.n_kv_heads = HKV;
    cfg.head_dim = HD;
    cfg.mlp_hidden_size = F;
    cfg.vocab_size = cfg.embedding_size = V;
    cfg.max_sequence_length = T;
    cfg.rope_theta = 10000.0;
    cfg.rms_norm_eps = 1e-5;
    size_t np = tparams_count(&cfg);
    float *p = malloc(np * 4), *g32 = calloc(np, 4), *g16 = calloc(np, 4), *g16b = calloc(np, 4), *g32b = calloc(np, 4);
    tparams_init(&cfg, p, 0.1, 11);
    int32_t ids[N], tgt[N];
    float w[N];
    for (int n = 0; n < N; n++) {
        ids[n] = (n * 13 + 5) % V;
        tgt[n] = (n * 17 + 2) % V;
        w[n] = n % 4 == 3 ? 0.0f : 0.05f;
    }
    lerr_t e = {0};
    tview_t pv, gv32, gv16, gv16b, gv32b;
    tparams_bind(&cfg, p, &pv);
    tparams_bind(&cfg, g32, &gv32);
    tparams_bind(&cfg, g16, &gv16);
    tparams_bind(&cfg, g16b, &gv16b);
    tparams_bind(&cfg, g32b, &gv32b);
    tstep_t *s = tstep_new(&cfg, B, T, 1, &e);
    double L32 = tstep_run(s, &pv, &gv32, ids, tgt, w, B, T, causal, NULL, &e);
    CHECK(tstep_set_precision(s, TPREC_BF16, &e) == 0, "bf16 on: %s", e.msg);
    double L16 = tstep_run(s, &pv, &gv16, ids, tgt, w, B, T, causal, NULL, &e);
    double L16b = tstep_run(s, &pv, &gv16b, ids, tgt, w, B, T, causal, NULL, &e);
    CHECK(tstep_set_precision(s, TPREC_F32, &e) == 0, "bf16 off");
    double L32b = tstep_run(s, &pv, &gv32b, ids, tgt, w, B, T, causal, NULL, &e);
    char what[64];
    snprintf(what, sizeof what, "%s %s", causal ? "causal" : "bidirectional", HKV == HQ ? "MHA" : "GQA");
    CHECK(L16 == L16b && memcmp(g16, g16b, np * 4) == 0, "%s bf16 step is deterministic", what);
    CHECK(L32 == L32b && memcmp(g32, g32b, np * 4) == 0, "%s f32 after bf16 equals f32, bit for bit", what);
    CHECK(fabs(L16 - L32) <= 1e-2 * fabs(L32), "%s bf16 loss %.6f vs f32 %.6f", what, L16, L32);
    /* per tensor: walk the flat layout with the views' pointers */
    struct {
        const char *name;
        float *a, *b;
        size_t n;
    } t[3 + 9 * NL];
    int nt = 0;
#define T_ADD(nm, fa, fb, cnt) t[nt++] = (typeof(t[0])){nm, fa, fb, cnt}
    T_ADD("wte", gv16.wte, gv32.wte, (size_t)V * D);
    T_ADD("lm_head", gv16.head, gv32.head, (size_t)V * D);
    T_ADD("ln_f", gv16.ln_f, gv32.ln_f, D);
    for (int l = 0; l < NL; l++) {
        tlayer_t *a = &gv16.layer[l], *b = &gv32.layer[l];
        T_ADD("attn_norm", a->attn_norm, b->attn_norm, D);
        T_ADD("q", a->wq, b->wq, (size_t)HQ * HD * D);
        T_ADD("k", a->wk, b->wk, (size_t)HKV * HD * D);
        T_ADD("v", a->wv, b->wv, (size_t)HKV * HD * D);
        T_ADD("attn_out", a->wo, b->wo, (size_t)D * HQ * HD);
        T_ADD("ff_norm", a->ff_norm, b->ff_norm, D);
        T_ADD("ff_proj", a->wg, b->wg, (size_t)F * D);
        T_ADD("up_proj", a->wu, b->wu, (size_t)F * D);
        T_ADD("ff_out", a->wd, b->wd, (size_t)D * F);
    }
#undef T_ADD
    double worst = 0;
    const char *wn = "";
    for (int i = 0; i < nt; i++) {
        double r = relerr(t[i].a, t[i].b, t[i].n);
        if (r > worst) worst = r, wn = t[i].name;
    }
    double all = relerr(g16, g32, np);
    CHECK(worst < 4e-2, "%s bf16 gradients vs f32: worst tensor %s %.3g (norm-wise)", what, wn, worst);
    printf("# %s: loss f32 %.6f bf16 %.6f; gradient rel. error all %.2e, worst tensor %s %.2e\n", what, L32, L16,
           all, wn, worst);
    tstep_destroy(&s);
    tparams_unbind(&pv);
    tparams_unbind(&gv32);
    tparams_unbind(&gv16);
    tparams_unbind(&gv16b);
    tparams_unbind(&gv32b);
    free(p);
    free(g32);
    free(g16);
    free(g16b);
    free(g32b);
}

int main(void) {
    vec_ops();
    for (int level = 2; level >= 0; level--) { /* every level the CPU has, from its own down */
        int have = tr_bf16_set_isa(level);
        tr_bf16_set_isa(level);
        if (level <= have) fused_ops(level);
        tr_bf16_set_isa(2);
    }
    uint16_t one = f32_to_bf16(1.0f);
    float c = 0;
    if (!gemm_bf16_available()) {
        CHECK(gemm_bf16(&c, &one, &one, 1, 1, 1, false, false, false) == -1, "no oneDNN: gemm_bf16 refuses");
        CHECK(gemm_bf16_unavailable()[0] != 0, "... and says why");
        llada_config_t cfg = {.d_model = 8, .n_layers = 1, .n_heads = 2, .n_kv_heads = 2, .head_dim = 4,
                              .mlp_hidden_size = 8, .vocab_size = 8, .embedding_size = 8, .rope_theta = 1e4};
        lerr_t e = {0};
        tstep_t *s = tstep_new(&cfg, 1, 4, 1, &e);
        CHECK(s && tstep_set_precision(s, TPREC_BF16, &e) == -1 && e.code == EXIT_USAGE &&
                  strstr(e.msg, "needs oneDNN"),
              "no oneDNN: tstep_set_precision refuses: %s", e.msg);
        tstep_destroy(&s);
        printf("# bf16 numerics not checked: %s\n", gemm_bf16_unavailable());
        return TEST_SUMMARY();
    }
    float x = 0;
    uint16_t bx;
    bf16_round_n(&bx, &x, 1);
    { /* ... on random bit patterns too: denormals (VCVTNEPS2BF16 would flush them), NaN, inf */
        enum { RN = 1 << 16 };
        static uint32_t u[RN];
        static uint16_t r[RN];
        long bad = 0;
        for (int pass = 0; pass < 3; pass++) {
            for (int i = 0; i < RN; i++) {
                rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
                u[i] = (uint32_t)rng;
                if (pass == 1) u[i] &= 0x807fffffu; /* zero exponent: denormals */
                if (pass == 2) u[i] |= 0x7f800000u; /* inf / NaN */
                if (pass == 0 && i % 7 == 0) u[i] &= 0x80ffffffu; /* denormals among normals */
            }
            bf16_round_n(r, (const float *)u, RN);
            for (int i = 0; i < RN; i++) {
                float f;
                memcpy(&f, &u[i], 4);
                bad += r[i] != f32_to_bf16(f);
            }
        }
        CHECK(bad == 0, "bf16_round_n == f32_to_bf16 on random bit patterns (denormals, NaN): %ld differ", bad);
    }
    for (int i = -3; i < 40; i++) { /* the vector rounding equals the scalar one */
        float v[4] = {(float)(urand() * pow(2, i)), -1.00390625f * i, NAN, (float)i / 3};
        uint16_t r[4];
        bf16_round_n(r, v, 4);
        int same = 1;
        for (int k = 0; k < 4; k++) same &= r[k] == f32_to_bf16(v[k]);
        if (!same || i == 39) CHECK(same, "bf16_round_n == f32_to_bf16 (i %d)", i);
    }
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int acc = 0; acc < 2; acc++) {
                gemm_case(37, 19, 53, ta, tb, acc);
                gemm_case(1, 7, 5, ta, tb, acc);
            }
    gemm_case(96, 64, 384, false, true, false); /* forward   y = x·Wᵀ   */
    gemm_case(96, 64, 384, false, false, true); /* backward dx += dy·W  */
    gemm_case(64, 48, 320, true, false, true);  /* backward dW += dyᵀ·x */
    batched_case(1, false);
    batched_case(1, true);
    batched_case(0, true);
    batched_b16_case();
    for (int hkv = 2; hkv <= HQ; hkv += HQ - 2) {
        step_case(0, hkv);
        step_case(1, hkv);
    }
    return TEST_SUMMARY();
}
