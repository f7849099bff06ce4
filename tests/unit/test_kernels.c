/* test_kernels.c — the fast CPU kernels against their plain references and closed forms:
 * bf16/f16 conversions (exact cases, rounding), matmul (f32/bf16/f16, odd shapes, accumulate)
 * vs the double loop, attention (MHA/GQA, padding mask, causal) and the fused attention_flash (every
 * ISA of the CPU) vs the double reference, RoPE vs
 * the rotation formula, RMSNorm, softmax/log-softmax, SwiGLU, the counter RNG's range and
 * mean, the parallel-for covering every index once, the shape checks (a bad call aborts
 * naming file, line and condition) and the per-thread scratch reuse. */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include "testlib.h"
#include "kernels.h"
#include "crng.h"

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return ((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static double max_rel(const float *a, const float *b, size_t n) {
    double m = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(b[i]) > r) r = fabs(b[i]);
        if (fabs(a[i] - b[i]) > m) m = fabs(a[i] - b[i]);
    }
    return r > 0 ? m / r : m;
}

static void test_convert(void) {
    CHECK(bf16_to_f32(0x3f80) == 1.0f, "bf16 1.0");
    CHECK(f32_to_bf16(1.0f) == 0x3f80, "f32->bf16 1.0");
    CHECK(f32_to_bf16(1.00390625f) == 0x3f80, "bf16 ties to even (down)"); /* 1 + 2^-8 */
    CHECK(f32_to_bf16(1.01171875f) == 0x3f82, "bf16 ties to even (up)");   /* 1 + 3*2^-8 */
    CHECK(isnan(bf16_to_f32(f32_to_bf16(NAN))), "bf16 NaN stays NaN");
    CHECK(f16_to_f32(0x3c00) == 1.0f && f16_to_f32(0xc000) == -2.0f, "f16 basic values");
    CHECK(f16_to_f32(0x0001) == ldexpf(1, -24), "f16 smallest subnormal");
    CHECK(f16_to_f32(0x7bff) == 65504.0f, "f16 max");
    int bad = 0;
    for (unsigned h = 0; h < 65536; h++) {
        if ((h & 0x7c00) == 0x7c00) continue; /* inf/nan */
        if (f32_to_f16(f16_to_f32((uint16_t)h)) != h) bad++;
    }
    CHECK(bad == 0, "f16 round trip of every finite half (%d bad)", bad);
    CHECK(f32_to_f16(1e6f) == 0x7c00, "f16 overflow to inf");
}

static void fill_w(void *w, wtype_t t, float *f32, size_t n, unsigned *s) {
    for (size_t i = 0; i < n; i++) {
        float v = frand(s);
        if (t == WT_F32) ((float *)w)[i] = v;
        else if (t == WT_BF16) ((uint16_t *)w)[i] = f32_to_bf16(v);
        else ((uint16_t *)w)[i] = f32_to_f16(v);
        f32[i] = v;
    }
}

static void test_matmul(void) {
    unsigned s = 7;
    int shapes[][3] = {{1, 1, 1}, {3, 17, 5}, {37, 129, 64}, {5, 300, 2000}};
    for (int t = 0; t < 3; t++)
        for (int k = 0; k < 4; k++) {
            int M = shapes[k][0], N = shapes[k][1], K = shapes[k][2];
            float *x = malloc(sizeof(float) * M * K), *wf = malloc(sizeof(float) * N * K);
            void *w = malloc(4 * (size_t)N * K);
            float *y = malloc(sizeof(float) * M * N), *yr = malloc(sizeof(float) * M * N);
            for (int i = 0; i < M * K; i++) x[i] = frand(&s);
            fill_w(w, (wtype_t)t, wf, (size_t)N * K, &s);
            wtensor_t W = {(wtype_t)t, w, N, K};
            for (int i = 0; i < M * N; i++) y[i] = yr[i] = frand(&s);
            matmul(y, x, &W, M, true);
            matmul_ref(yr, x, &W, M, true);
            CHECK(max_rel(y, yr, (size_t)M * N) < 1e-5, "matmul %s %dx%dx%d accumulate: rel %g", wtype_name((wtype_t)t),
                  M, N, K, max_rel(y, yr, (size_t)M * N));
            matmul(y, x, &W, M, false);
            matmul_ref(yr, x, &W, M, false);
            CHECK(max_rel(y, yr, (size_t)M * N) < 1e-5, "matmul %s %dx%dx%d", wtype_name((wtype_t)t), M, N, K);
            free(x);
            free(wf);
            free(w);
            free(y);
            free(yr);
        }
}

static void test_matmul_bf16(void) {
    if (!matmul_bf16_available()) {
        CHECK(1, "no AVX512_BF16: kernel not used");
        return;
    }
    unsigned s = 19;
    int shapes[][3] = {{1, 1, 1}, {3, 5, 33}, {7, 130, 100}, {24, 67, 4099}};
    for (int k = 0; k < 4; k++) {
        int M = shapes[k][0], N = shapes[k][1], K = shapes[k][2];
        float *x = malloc(sizeof(float) * M * K), *wf = malloc(sizeof(float) * N * K);
        uint16_t *w = malloc(2 * (size_t)N * K);
        float *y = malloc(sizeof(float) * M * N), *yr = malloc(sizeof(float) * M * N);
        for (int i = 0; i < M * K; i++) x[i] = frand(&s);
        fill_w(w, WT_BF16, wf, (size_t)N * K, &s);
        wtensor_t W = {WT_BF16, w, N, K};
        for (int i = 0; i < M * N; i++) y[i] = yr[i] = frand(&s);
        CHECK(matmul_bf16(y, x, &W, M, true) == 0, "matmul_bf16 runs");
        matmul_ref(yr, x, &W, M, true);
        double r = max_rel(y, yr, (size_t)M * N);
        CHECK(r < 1e-4, "matmul_bf16 %dx%dx%d (hi/lo split keeps ~fp32 accuracy): rel %g", M, N, K, r);
        free(x);
        free(wf);
        free(w);
        free(y);
        free(yr);
    }
}

static void test_matmul_amx(void) {
    if (!matmul_amx_available()) {
        CHECK(1, "no AMX: kernel not used");
        return;
    }
    unsigned s = 23;
    int shapes[][3] = {{1, 1, 2}, {17, 45, 33}, {37, 64, 100}, {70, 33, 1025}};
    for (int k = 0; k < 4; k++) {
        int M = shapes[k][0], N = shapes[k][1], K = shapes[k][2];
        float *x = malloc(sizeof(float) * M * K), *wf = malloc(sizeof(float) * N * K);
        uint16_t *w = malloc(2 * (size_t)N * K);
        float *y = malloc(sizeof(float) * M * N), *yr = malloc(sizeof(float) * M * N);
        for (int i = 0; i < M * K; i++) x[i] = frand(&s);
        fill_w(w, WT_BF16, wf, (size_t)N * K, &s);
        wtensor_t W = {WT_BF16, w, N, K};
        for (int i = 0; i < M * N; i++) y[i] = yr[i] = frand(&s);
        CHECK(matmul_amx(y, x, &W, M, true) == 0, "matmul_amx runs");
        matmul_ref(yr, x, &W, M, true);
        double r = max_rel(y, yr, (size_t)M * N);
        CHECK(r < 1e-4, "matmul_amx %dx%dx%d accumulate (hi/lo split): rel %g", M, N, K, r);
        matmul_amx(y, x, &W, M, false);
        matmul_ref(yr, x, &W, M, false);
        r = max_rel(y, yr, (size_t)M * N);
        CHECK(r < 1e-4, "matmul_amx %dx%dx%d: rel %g", M, N, K, r);
        free(x);
        free(wf);
        free(w);
        free(y);
        free(yr);
    }
}

static void test_attention(void) {
    unsigned s = 11;
    int cfgs[][4] = {{9, 4, 4, 8}, {16, 6, 2, 4}, {5, 3, 1, 6}, {70, 2, 1, 4}}; /* L, Hq, Hkv, hd */
    for (int c = 0; c < 4; c++)
        for (int mode = 0; mode < 4; mode++) { /* bit 0: padding keys; bit 1: causal */
            int masked = mode & 1, causal = mode >> 1;
            int L = cfgs[c][0], Hq = cfgs[c][1], Hkv = cfgs[c][2], hd = cfgs[c][3];
            size_t nq = (size_t)L * Hq * hd, nk = (size_t)L * Hkv * hd;
            float *q = malloc(4 * nq), *k = malloc(4 * nk), *v = malloc(4 * nk), *o = malloc(4 * nq),
                  *orf = malloc(4 * nq), *att = malloc(4 * attention_scratch_floats(L, Hq));
            uint8_t keep[128];
            for (size_t i = 0; i < nq; i++) q[i] = 2 * frand(&s);
            for (size_t i = 0; i < nk; i++) {
                k[i] = 2 * frand(&s);
                v[i] = frand(&s);
            }
            for (int j = 0; j < L; j++) keep[j] = !masked || j >= 2;
            attention(o, q, k, v, L, Hq, Hkv, hd, masked ? keep : NULL, causal, att, NULL);
            attention_ref(orf, q, k, v, L, Hq, Hkv, hd, masked ? keep : NULL, causal);
            CHECK(max_rel(o, orf, nq) < 1e-5, "attention L%d Hq%d Hkv%d hd%d mask%d causal%d: rel %g", L, Hq, Hkv, hd,
                  masked, causal, max_rel(o, orf, nq));
            CHECK(!causal || !masked || (isfinite(o[0]) && isfinite(o[nq - 1])),
                  "causal: a padding query (all its earlier keys padding) stays finite");
            if (causal && !masked) { /* row i == bidirectional attention over the prefix 0..i */
                double worst = 0;
                for (int i = 0; i < L; i++) {
                    attention_ref(orf, q, k, v, i + 1, Hq, Hkv, hd, NULL, 0);
                    double r = max_rel(o + (size_t)i * Hq * hd, orf + (size_t)i * Hq * hd, (size_t)Hq * hd);
                    if (r > worst) worst = r;
                }
                CHECK(worst < 1e-5, "causal row i == attention over the first i+1 positions (L%d): rel %g", L, worst);
            }
            if (masked) { /* padding keys must not matter to real queries: change them */
                for (int d = 0; d < Hkv * hd; d++) {
                    k[d] = 100;
                    v[d] = -100;
                }
                attention(orf, q, k, v, L, Hq, Hkv, hd, keep, causal, att, NULL);
                size_t real = 2 * (size_t)Hq * hd; /* causal: padding queries see themselves */
                CHECK(max_rel(o + real, orf + real, nq - real) < 1e-6, "padding keys are hidden (causal%d)", causal);
            }
            free(q);
            free(k);
            free(v);
            free(o);
            free(orf);
            free(att);
        }
}

/* attention_rows: a band of query rows against all keys equals those rows of the full
 * attention (same scratch) and the double-precision reference. */
static void test_attention_rows(void) {
    unsigned s = 5;
    int cfgs[][6] = {{70, 4, 4, 8, 3, 9}, {16, 6, 2, 4, 0, 16}, {130, 3, 1, 6, 64, 66}}; /* L Hq Hkv hd r0 r1 */
    for (int c = 0; c < 3; c++) {
        int L = cfgs[c][0], Hq = cfgs[c][1], Hkv = cfgs[c][2], hd = cfgs[c][3], r0 = cfgs[c][4], n = cfgs[c][5] - r0;
        size_t qs = (size_t)Hq * hd, nq = (size_t)L * qs, nk = (size_t)L * Hkv * hd;
        float *q = malloc(4 * nq), *k = malloc(4 * nk), *v = malloc(4 * nk), *o = malloc(4 * nq),
              *orow = malloc(4 * nq), *oref = malloc(4 * nq), *att = malloc(4 * attention_scratch_floats(L, Hq));
        uint8_t keep[256];
        for (size_t i = 0; i < nq; i++) q[i] = 2 * frand(&s);
        for (size_t i = 0; i < nk; i++) {
            k[i] = 2 * frand(&s);
            v[i] = frand(&s);
        }
        for (int j = 0; j < L; j++) keep[j] = j >= c;
        attention(o, q, k, v, L, Hq, Hkv, hd, keep, 0, att, NULL);
        attention_rows(orow, q + r0 * qs, n, k, v, L, Hq, Hkv, hd, keep, att);
        attention_rows_ref(oref, q + r0 * qs, n, k, v, L, Hq, Hkv, hd, keep);
        double rf = max_rel(orow, o + r0 * qs, (size_t)n * qs), rr = max_rel(orow, oref, (size_t)n * qs);
        CHECK(rf < 1e-6 && rr < 1e-5, "attention_rows L%d rows [%d,%d): rel %g vs full, %g vs ref", L, r0, r0 + n, rf,
              rr);
        free(q);
        free(k);
        free(v);
        free(o);
        free(orow);
        free(oref);
        free(att);
    }
}

/* --precision GEMMs: oneDNN packs vs the plain references of the same rule (tolerance: the
 * fp32 vs double order of summation), and vs the f32 product (the precision loss itself). */
static void test_kpack(void) {
    int8_t q[5];
    float v[5] = {1.0f, -2.54f, 0.0f, 2.54f / 127.0f * 2.5f, 2.54f};
    float sc = quant_row_s8(q, v, 5);
    CHECK(fabsf(sc - 2.54f / 127) < 1e-9f && q[1] == -127 && q[4] == 127 && q[2] == 0 && q[0] == 50 && q[3] == 2,
          "quant_row_s8: scale max/127, ends at +-127, round half to even (%d %d %d %d %d)", q[0], q[1], q[2], q[3],
          q[4]);
    float z[3] = {0, 0, 0};
    CHECK(quant_row_s8(q, z, 3) == 0 && q[0] == 0, "quant_row_s8: zero row");
    if (!kpack_available()) {
        wtensor_t W = {WT_F32, z, 1, 3};
        CHECK(kpack_new(&W, KPREC_BF16) == NULL, "built without oneDNN: no packs");
        return;
    }
    { /* kpack_in_prepare's vectorised bf16 rounding == f32_to_bf16, ties, NaN, inf included */
        float sp[12] = {1.0f,   1.00390625f, 1.01171875f, -1.00390625f, 3.4028235e38f, -0.0f,
                        1e-40f, INFINITY,    -INFINITY,   NAN,          -NAN,          0.3f};
        uint32_t snan = 0x7f800001u;
        memcpy(&sp[11], &snan, 4);
        kpack_in_t in;
        int ok = !kpack_in_prepare(&in, sp, 3, 4, KPREC_BF16);
        for (int i = 0; ok && i < 12; i++) ok = ((const uint16_t *)in.src)[i] == f32_to_bf16(sp[i]);
        CHECK(ok, "kpack_in_prepare bf16 == f32_to_bf16 on ties, NaN, inf, denormals");
    }
    unsigned s = 17;
    int shapes[][3] = {{1, 40, 64}, {7, 96, 200}, {70, 130, 64}, {33, 17, 300}}; /* M N K */
    for (int c = 0; c < 4; c++)
        for (int wt = 0; wt < 2; wt++) {
            int M = shapes[c][0], N = shapes[c][1], K = shapes[c][2];
            float *x = malloc(4 * (size_t)M * K), *wf = malloc(4 * (size_t)N * K), *y = malloc(4 * (size_t)M * N),
                  *yr = malloc(4 * (size_t)M * N), *yf = malloc(4 * (size_t)M * N);
            uint16_t *wb = malloc(2 * (size_t)N * K);
            for (size_t i = 0; i < (size_t)M * K; i++) x[i] = 2 * frand(&s);
            for (size_t i = 0; i < (size_t)N * K; i++) {
                wf[i] = frand(&s);
                wb[i] = f32_to_bf16(wf[i]);
                wf[i] = bf16_to_f32(wb[i]);
            }
            wtensor_t W = {wt ? WT_BF16 : WT_F32, wt ? (void *)wb : (void *)wf, N, K};
            matmul_ref(yf, x, &W, M, false);
            for (int prec = KPREC_BF16; prec <= KPREC_INT8; prec++) {
                const char *pn = prec == KPREC_BF16 ? "bf16" : "int8";
                kpack_t *P = kpack_new(&W, prec);
                CHECK(P != NULL, "kpack_new %s %dx%d", pn, N, K);
                if (!P) continue;
                for (int acc = 0; acc < 2; acc++) {
                    for (size_t i = 0; i < (size_t)M * N; i++) y[i] = yr[i] = acc ? 0.25f * (float)i / N : 0;
                    int rc = kpack_matmul(y, x, P, M, acc);
                    (prec == KPREC_BF16 ? matmul_bf16in_ref : matmul_int8_ref)(yr, x, &W, M, acc);
                    double r = max_rel(y, yr, (size_t)M * N);
                    CHECK(rc == 0 && r < 2e-5, "kpack %s (%s) %dx%dx%d w%s acc%d vs reference: rel %g", pn,
                          kpack_impl(P), M, N, K, wtype_name(W.type), acc, r);
                }
                kpack_matmul(y, x, P, M, false);
                double r = max_rel(y, yf, (size_t)M * N), tol = prec == KPREC_BF16 ? 1e-2 : 4e-2;
                CHECK(r < tol, "kpack %s %dx%dx%d vs f32: rel %g < %g", pn, M, N, K, r, tol);
                /* x converted once, read by two packs (the forward's Q/K/V, gate/up): the same
                 * bits as kpack_matmul on each */
                wtensor_t W2 = {W.type, W.data, N / 2 ? N / 2 : 1, K};
                kpack_t *P2 = kpack_new(&W2, prec);
                kpack_in_t in;
                int rc = !P2 || kpack_in_prepare(&in, x, M, K, prec);
                rc = rc || kpack_matmul_in(yr, &in, P, false);
                float *y2 = malloc(4 * (size_t)M * N), *y2r = malloc(4 * (size_t)M * N);
                rc = rc || !y2 || !y2r || kpack_matmul_in(y2, &in, P2, false) || kpack_matmul(y2r, x, P2, M, false) ||
                     kpack_matmul(y, x, P, M, false);
                CHECK(!rc && !memcmp(y, yr, 4 * (size_t)M * N) && !memcmp(y2, y2r, 4 * (size_t)M * W2.rows),
                      "kpack_in_prepare + kpack_matmul_in %s %dx%dx%d on two packs == kpack_matmul", pn, M, N, K);
                free(y2);
                free(y2r);
                kpack_free(&P2);
                kpack_free(&P);
            }
            free(x);
            free(wf);
            free(wb);
            free(y);
            free(yr);
            free(yf);
        }
}

static void test_rope(void) {
    int L = 7, H = 2, hd = 8;
    float c[7 * 4], sn[7 * 4], x[7 * 2 * 8], x0[7 * 2 * 8];
    unsigned s = 3;
    rope_tables(c, sn, L, hd, 500000.0);
    for (int i = 0; i < L * H * hd; i++) x[i] = x0[i] = frand(&s);
    rope_apply(x, L, H, hd, c, sn, NULL);
    double err = 0;
    for (int t = 0; t < L; t++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < hd / 2; i++) {
                double a = t / pow(500000.0, 2.0 * i / hd);
                const float *v = x0 + (t * H + h) * hd;
                double r0 = v[i] * cos(a) - v[i + hd / 2] * sin(a), r1 = v[i + hd / 2] * cos(a) + v[i] * sin(a);
                err = fmax(err, fmax(fabs(r0 - x[(t * H + h) * hd + i]), fabs(r1 - x[(t * H + h) * hd + i + hd / 2])));
            }
    CHECK(err < 1e-6, "rope half-split matches the rotation formula (err %g)", err);
    /* partial rotary (LLaDA2): the first rd = 4 of 8 channels rotate as a 4-wide half-split
     * RoPE with frequencies from rd, the other 4 pass through */
    int rd = 4;
    float cp[7 * 2], sp[7 * 2], xp[7 * 2 * 8];
    rope_tables(cp, sp, L, rd, 500000.0);
    memcpy(xp, x0, sizeof xp);
    rope_apply_part(xp, L, H, hd, rd, cp, sp, NULL);
    err = 0;
    bool tail = true;
    for (int t = 0; t < L; t++)
        for (int h = 0; h < H; h++) {
            const float *v = x0 + (t * H + h) * hd, *o = xp + (t * H + h) * hd;
            for (int i = 0; i < rd / 2; i++) {
                double a = t / pow(500000.0, 2.0 * i / rd);
                double r0 = v[i] * cos(a) - v[i + rd / 2] * sin(a), r1 = v[i + rd / 2] * cos(a) + v[i] * sin(a);
                err = fmax(err, fmax(fabs(r0 - o[i]), fabs(r1 - o[i + rd / 2])));
            }
            for (int i = rd; i < hd; i++) tail &= o[i] == v[i];
        }
    CHECK(err < 1e-6 && tail, "partial rope: rd channels rotate (err %g), the rest untouched", err);
    memcpy(xp, x0, sizeof xp);
    rope_apply_part(xp, L, H, hd, hd, c, sn, NULL);
    CHECK(!memcmp(xp, x, sizeof xp), "rope_apply_part with rd == hd is rope_apply");
}

static void test_rows(void) {
    float x[2 * 5] = {1, 2, 3, 4, 5, -1, 0, 1, 0, -INFINITY}, y[10], w[5] = {1, 2, 1, 0.5f, 1};
    wtensor_t W = {WT_F32, w, 1, 5};
    rmsnorm(y, x, &W, 1, 5, 1e-5f);
    double r = 1 / sqrt((1 + 4 + 9 + 16 + 25) / 5.0 + 1e-5);
    CHECK_NEAR(y[1], 2 * r * 2, 1e-6, "rmsnorm weighted value");
    memcpy(y, x, sizeof x);
    softmax_rows(y, 2, 5);
    double s = 0;
    for (int i = 0; i < 5; i++) s += y[i];
    CHECK_NEAR(s, 1, 1e-6, "softmax sums to 1");
    CHECK(y[9] == 0, "softmax of -inf is 0");
    CHECK_NEAR(y[4] / y[3], exp(1), 1e-5, "softmax ratio");
    memcpy(y, x, sizeof x);
    log_softmax_rows(y, 1, 5);
    CHECK_NEAR(y[0], 1 - log(exp(1) + exp(2) + exp(3) + exp(4) + exp(5)), 1e-5, "log-softmax");
    float g[3] = {0, 1, -2}, u[3] = {3, 3, 3}, o[3];
    swiglu(o, g, u, 3);
    CHECK_NEAR(o[1], 1 / (1 + exp(-1)) * 3, 1e-6, "swiglu");
    CHECK(o[0] == 0, "swiglu(0) = 0");
}

static void test_vexp(void) {
    enum { N = 4099 };
    static float x[N], y[N];
    unsigned s = 5;
    for (int i = 0; i < N; i++) x[i] = y[i] = 40 * frand(&s);
    x[7] = y[7] = -INFINITY;
    float mx = vmax_f32(x, N), ref = -INFINITY;
    for (int i = 0; i < N; i++) ref = fmaxf(ref, x[i]);
    CHECK(mx == ref, "vmax");
    float sum = vexp_sub_sum(y, N, mx);
    double rs = 0, worst = 0;
    for (int i = 0; i < N; i++) {
        double e = exp((double)x[i] - mx);
        rs += e;
        if (e > 1e-30) worst = fmax(worst, fabs(y[i] - e) / e);
    }
    CHECK(worst < 5e-7 && y[7] == 0, "vector exp within 5e-7 relative (%g), exp(-inf) = 0", worst);
    CHECK(fabs(sum - rs) / rs < 1e-5, "vexp sum %g vs %g", sum, rs);
    float g[37], u[37], o[37];
    for (int i = 0; i < 37; i++) {
        g[i] = 10 * frand(&s);
        u[i] = frand(&s);
    }
    swiglu(o, g, u, 37);
    worst = 0;
    for (int i = 0; i < 37; i++) {
        double want = g[i] / (1 + exp(-(double)g[i])) * u[i];
        worst = fmax(worst, fabs(o[i] - want) / (fabs(want) + 1e-6));
    }
    CHECK(worst < 1e-5, "swiglu vector path %g", worst);
}

static void mark(int i, void *arg) { ((int *)arg)[i]++; }

static void test_misc(void) {
    int hits[1000] = {0}, ok = 1;
    kern_parallel_for(1000, mark, hits);
    for (int i = 0; i < 1000; i++) ok &= hits[i] == 1;
    CHECK(ok, "parallel_for runs every index exactly once");
    double sum = 0, mn = 1, mx = 0;
    for (int i = 0; i < 100000; i++) {
        double u = crng_u01(42, CRNG_GUMBEL, 1, 2, 3, (uint64_t)i);
        sum += u;
        mn = fmin(mn, u);
        mx = fmax(mx, u);
    }
    CHECK(mn > 0 && mx < 1, "crng in (0,1)");
    CHECK(fabs(sum / 100000 - 0.5) < 0.005, "crng mean %g ~ 0.5", sum / 100000);
    CHECK(crng_u01(1, 1, 0, 0, 0, 0) != crng_u01(2, 1, 0, 0, 0, 0), "seed changes draws");
}

/* Run fn in a child with stderr captured: true when it died of SIGABRT and said `want`. */
static bool aborts_saying(void (*fn)(void), const char *want) {
    int pfd[2];
    if (pipe(pfd)) return false;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit none = {0, 0};
        setrlimit(RLIMIT_CORE, &none); /* no core file for the expected abort */
        dup2(pfd[1], 2);
        close(pfd[0]);
        fn();
        _exit(0);
    }
    close(pfd[1]);
    char buf[512] = {0};
    size_t n = 0;
    ssize_t k;
    while (n < sizeof buf - 1 && (k = read(pfd[0], buf + n, sizeof buf - 1 - n)) > 0) n += (size_t)k;
    close(pfd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    bool ok = WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT && strstr(buf, want) != NULL;
    if (!ok) printf("# child status %d, stderr: %s\n", st, buf);
    return ok;
}

static void bad_rmsnorm(void) { /* a weight of 4 elements for rows of 5 */
    float x[5] = {1, 2, 3, 4, 5}, y[5], w[4] = {1, 1, 1, 1};
    wtensor_t W = {WT_F32, w, 1, 4};
    rmsnorm(y, x, &W, 1, 5, 1e-5f);
}
static void bad_attention(void) { /* 3 query heads cannot share 2 KV heads */
    float q[3 * 4], k[2 * 4], v[2 * 4], o[3 * 4], att[64];
    memset(q, 0, sizeof q);
    memset(k, 0, sizeof k);
    memset(v, 0, sizeof v);
    attention(o, q, k, v, 1, 3, 2, 4, NULL, 0, att, NULL);
}
static void bad_embed(void) { /* token 3 of a 3-row table */
    float e[3 * 2] = {0}, out[2];
    wtensor_t E = {WT_F32, e, 3, 2};
    int32_t t = 3;
    embed(out, &E, &t, 1);
}
static void bad_gemm(void) { /* lda shorter than K */
    float a[4] = {0}, b[4] = {0}, c[4];
    kgemm_nt(1, 1, 4, 1.0f, a, 2, b, 4, 0.0f, c, 1);
}

static void test_checks(void) {
    CHECK(aborts_saying(bad_rmsnorm, "rowops.c:"), "rmsnorm with a wrong-sized weight aborts in rowops.c");
    CHECK(aborts_saying(bad_rmsnorm, "kernel check failed: !w || w->rows * w->cols == D"),
          "the message names the condition");
    CHECK(aborts_saying(bad_attention, "Hq % Hkv == 0"), "attention with Hq not a multiple of Hkv aborts");
    CHECK(aborts_saying(bad_embed, "tokens[t] < E->rows"), "embed of a token outside the table aborts");
    CHECK(aborts_saying(bad_gemm, "lda >= K"), "kgemm_nt with lda < K aborts");
}

/* kern_scratch: one buffer per slot and thread, reused while large enough. */
static void test_scratch(void) {
    void *a = kern_scratch(KERN_SCRATCH_PANEL, 1000), *b = kern_scratch(KERN_SCRATCH_PANEL, 500);
    CHECK(a && a == b && (uintptr_t)a % 64 == 0, "a smaller request reuses the 64-byte aligned buffer");
    void *c = kern_scratch(KERN_SCRATCH_SPLIT, 1000);
    CHECK(c && c != a, "slots are separate buffers");
    void *d = kern_scratch(KERN_SCRATCH_PANEL, 1 << 20);
    CHECK(d != NULL, "a larger request grows the buffer");
    memset(d, 1, 1 << 20);
}

/* attention_flash: every ISA this CPU has (plain, AVX2, AVX-512) against the double reference
 * (within 2e-6 relative) and against the plain loop, on shapes that hit a partial key tile, a
 * partial query tile, a key tile hidden entirely (the first 70 keys padding), GQA, and head
 * sizes that are not a multiple of the vector width (they take the plain loop). */
static void test_attention_flash(void) {
    unsigned s = 17;
    int cfgs[][6] = {
        {70, 4, 4, 16, 3, 9},    {16, 6, 2, 8, 0, 16},       {130, 3, 1, 6, 64, 66}, /* L Hq Hkv hd r0 r1 */
        {300, 4, 2, 64, 0, 300}, {200, 2, 2, 128, 100, 200}, {1, 2, 1, 32, 0, 1},    {129, 2, 1, 48, 0, 129}};
    int nc = sizeof cfgs / sizeof cfgs[0];
    for (int c = 0; c < nc; c++)
        for (int masked = 0; masked < 3; masked++) { /* 0: none, 1: first 2 keys, 2: first 70 */
            int L = cfgs[c][0], Hq = cfgs[c][1], Hkv = cfgs[c][2], hd = cfgs[c][3], r0 = cfgs[c][4],
                n = cfgs[c][5] - r0;
            if (masked == 2 && L <= 70) continue;
            size_t qs = (size_t)Hq * hd, nq = (size_t)L * qs, nk = (size_t)L * Hkv * hd, no = (size_t)n * qs;
            float *q = malloc(4 * nq), *k = malloc(4 * nk), *v = malloc(4 * nk), *o = malloc(4 * no),
                  *op = malloc(4 * no), *oref = malloc(4 * no);
            uint8_t *keep = malloc(L);
            for (size_t i = 0; i < nq; i++) q[i] = 2 * frand(&s);
            for (size_t i = 0; i < nk; i++) {
                k[i] = 2 * frand(&s);
                v[i] = frand(&s);
            }
            for (int j = 0; j < L; j++) keep[j] = masked == 0 || j >= (masked == 1 ? 2 : 70);
            if (L == 1) keep[0] = 1;
            const uint8_t *kp = masked ? keep : NULL;
            attention_rows_ref(oref, q + r0 * qs, n, k, v, L, Hq, Hkv, hd, kp);
            attention_flash_with(ATT_ISA_PLAIN, op, q + r0 * qs, n, k, v, L, Hq, Hkv, hd, kp);
            CHECK(max_rel(op, oref, no) < 2e-6, "attention_flash plain L%d Hq%d Hkv%d hd%d rows [%d,%d) mask%d: rel %g",
                  L, Hq, Hkv, hd, r0, r0 + n, masked, max_rel(op, oref, no));
            for (int isa = ATT_ISA_AVX2; isa <= attention_flash_isa(); isa++) {
                attention_flash_with(isa, o, q + r0 * qs, n, k, v, L, Hq, Hkv, hd, kp);
                double rr = max_rel(o, oref, no), rp = max_rel(o, op, no);
                CHECK(rr < 2e-6 && rp < 2e-6,
                      "attention_flash isa %d L%d Hq%d Hkv%d hd%d rows [%d,%d) mask%d: "
                      "rel %g vs ref, %g vs plain",
                      isa, L, Hq, Hkv, hd, r0, r0 + n, masked, rr, rp);
            }
            attention_flash(o, q + r0 * qs, n, k, v, L, Hq, Hkv, hd, kp);
            CHECK(max_rel(o, oref, no) < 2e-6, "attention_flash (dispatched, isa %d) L%d hd%d: rel %g",
                  attention_flash_isa(), L, hd, max_rel(o, oref, no));
            free(q);
            free(k);
            free(v);
            free(o);
            free(op);
            free(oref);
            free(keep);
        }
    /* all keys hidden: the output is 0 (as attention's masked softmax gives), not NaN */
    float q[32], k[32], v[32], o[32];
    uint8_t none[2] = {0, 0};
    for (int i = 0; i < 32; i++) {
        q[i] = 1;
        k[i] = 1;
        v[i] = 1;
        o[i] = 7;
    }
    for (int isa = ATT_ISA_PLAIN; isa <= attention_flash_isa(); isa++) {
        attention_flash_with(isa, o, q, 1, k, v, 2, 1, 1, 16, none);
        int zero = 1;
        for (int i = 0; i < 16; i++) zero &= o[i] == 0;
        CHECK(zero, "attention_flash isa %d: a query with every key hidden gets 0", isa);
    }
}

int main(void) {
    test_checks();
    test_scratch();
    test_convert();
    test_matmul();
    test_matmul_bf16();
    test_matmul_amx();
    test_attention();
    test_attention_rows();
    test_attention_flash();
    test_kpack();
    test_rope();
    test_rows();
    test_misc();
    test_vexp();
    return TEST_SUMMARY();
}
