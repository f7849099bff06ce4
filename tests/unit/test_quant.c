/* test_quant.c — GGUF block-quantised weights (kernels/quant.h, issue 13):
 *   - quantise → dequantise round trips stay within each format's step (d/2 per weight, with the
 *     scales' own f16/6-bit rounding allowed for), and hand-built blocks decode to the values the
 *     layouts in quant.h describe (independent of quant.c's packing);
 *   - matmul_q on every ISA (AVX512-VNNI, AVX2, plain) equals matmul_q_ref (same int8-activation
 *     arithmetic) to f32 rounding: |Δ| <= 2e-6 Σ|w x|;
 *   - matmul_q_ref is within the int8-activation bound of the exact product (matmul_ref on the
 *     dequantised weights): |Δ| <= Σ_b amax(x_b)/254 Σ_{k∈b}|w_k| (+ rounding);
 *   - matmul() on quantised weights without the integer kernels (dequantised panels + sgemm)
 *     equals matmul_ref;
 *   - matmul_qk (isa 3: Q4_K, Q5_K, Q6_K, Q8_0 with llama.cpp's super-block activation scales and
 *     integer sub-block scales, AVX512-VNNI tile) equals matmul_qk_ref to f32 rounding, and
 *     matmul_qk_ref is within its int8 bound (amax per super-block: 256, Q8_0 32) of the exact
 *     product; M up to 70 covers 1, 2 and partial groups of 16 rows, N the short last tile of 4;
 *     M 1..8 runs matmul_qk_rows (weights straight from the blocks; Q8_0 too in variant 2), every
 *     row count with and without accumulate, both variants (matmul_qk_set_rows 2 and 1), the
 *     dispatch checked too; M >= 16 the tile.
 *   - Q5_K: a hand-built block (each sub-block's fifth bit from its own qh bit), round trips,
 *     search and every kernel above, as the other types; no non-finite decode on edge blocks.
 *   - Q5_0 / Q5_1 (llama-quantize's fallback for rows of 32-multiples): hand-built blocks (bit j of
 *     the little-endian u32 qh is bit 4 of value j, values j and j+16 share qs[j]), round trips,
 *     search, and the per-row int8 kernels of matmul_q (matmul_qk does not take them; checked).
 *   - quantize_search (searched scales) is never worse than quantize_ref on any block (squared error
 *     of the reference decoding), and clearly better in total on Gaussian / trained-looking rows.
 * Shapes include K % 64 == 32 (the masked tail), M not a multiple of 4, N below the thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "kernels.h"
#include "quant.h"
#include "testlib.h"

static uint64_t g_rng = 88172645463325252ull;
static float frand(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float)((g_rng >> 11) * (1.0 / 9007199254740992.0)) * 2 - 1;
}

static const wtype_t TYPES[] = {WT_Q8_0, WT_Q4_0, WT_Q4_K, WT_Q6_K, WT_Q5_K, WT_Q5_0, WT_Q5_1};

/* Q5_K: half a step (range / 31) plus a little for the 6-bit sub-scale's and the f16 scales'
 * rounding: 0.81 step in all (measured worst 0.50 step round to nearest, 0.57 searched). */
#define Q5K_TOL(step, range, amax) (0.5 * (step) + 0.01 * (range) + 1e-6)

/* Round trip: every weight within the format's quantisation step of the original. */
static void test_roundtrip(wtype_t t, int search) {
    enum { N = 4096 };
    static float x[N], y[N];
    static uint8_t q[N * 2];
    for (int i = 0; i < N; i++) x[i] = frand() * (i % 512 < 256 ? 1.0f : 0.01f) + (i % 1024 < 512 ? 0 : 0.3f);
    if (search) quantize_search(q, x, t, N);
    else quantize_ref(q, x, t, N);
    wconvert_f32(y, q, t, N);
    int blk = t == WT_Q6_K ? 16 : 32, bad = 0;
    double worst = 0;
    for (int b = 0; b < N; b += blk) {
        float lo = 0, hi = 0, amax = 0;
        for (int k = b; k < b + blk; k++) {
            lo = fminf(lo, x[k]);
            hi = fmaxf(hi, x[k]);
            amax = fmaxf(amax, fabsf(x[k]));
        }
        /* the step of one quantised level in this block (Q4_K: its range / 15), plus the error
         * from the scales' rounding (f16 super-scale, 6-bit / 8-bit sub-scales) */
        double step = t == WT_Q8_0   ? amax / 127.0
                      : t == WT_Q4_0 ? amax / 8.0
                      : t == WT_Q5_0 ? amax / 16.0
                      : t == WT_Q5_1 ? (hi - lo) / 31.0
                      : t == WT_Q4_K ? (hi - lo) / 15.0
                      : t == WT_Q5_K ? (hi - lo) / 31.0
                                     : amax / 32.0;
        double tol = t == WT_Q8_0   ? 0.5 * step + 1e-3 * amax
                     : t == WT_Q4_0 ? step + 1e-3 * amax /* levels -8..7: +amax clamps a full step */
                     : t == WT_Q5_0 ? step + 1e-3 * amax /* levels -16..15: the same clamp */
                     : t == WT_Q5_1 ? 0.5 * step + 1e-3 * amax /* + f16 rounding of d and m */
                     : t == WT_Q5_K ? Q5K_TOL(step, hi - lo, amax)
                                    : 0.5 * step + 0.06 * (hi - lo) + 0.02 * amax + 1e-6;
        if (search) tol *= 1.25; /* a searched scale may clip an extreme value a little for less error elsewhere */
        for (int k = b; k < b + blk; k++) {
            double err = fabs((double)y[k] - x[k]);
            if (err > tol) bad++;
            if (err / (tol > 0 ? tol : 1) > worst) worst = err / (tol > 0 ? tol : 1);
        }
    }
    CHECK(bad == 0, "%s round trip (%s): %d weights outside their step (worst %.2f of tol)", wtype_name(t),
          search ? "search" : "rtn", bad, worst);
}

/* A Q5_0 (q51 0: d = 2) or Q5_1 (q51 1: d = 1, m = -0.5) block by hand: values 0, 16, 9, 25, 31, 21
 * get levels 19, 25, 31, 0, 16, 5 (each through its own qh bit), every other value level 0. */
static void q5_block(uint8_t *b, int q51) {
    memset(b, 0, 24);
    uint8_t *qh = b + (q51 ? 4 : 2), *qs = b + (q51 ? 8 : 6);
    b[1] = q51 ? 0x3c : 0x40;
    if (q51) b[3] = 0xb8;
    qs[0] = 0x93;   /* w0 nibble 3, w16 nibble 9 */
    qh[0] = 0x01;   /* bit 0: w0 q = 19 */
    qh[2] = 0x01;   /* bit 16 (byte 2, bit 0): w16 q = 25 */
    qs[9] = 0x0f;   /* w9 nibble 15, w25 nibble 0 */
    qh[1] = 0x02;   /* bit 9 (byte 1, bit 1): w9 q = 31 */
    qh[3] = 0x80;   /* bit 31: w31 q = 16 (nibble 0) */
    qs[5] = 0x50;   /* w21 nibble 5, no high bit: q = 5 */
}

/* Blocks built by hand from the layouts of quant.h decode to the values they spell. */
static void test_layouts(void) {
    float y[256];
    uint8_t b[210];
    memset(b, 0, sizeof b);
    b[0] = 0x00;
    b[1] = 0x40; /* f16 2.0 */
    b[2] = 0x05;
    b[3] = 0xfb; /* q = 5, -5 */
    dequant_q8_0_ref(y, b, 32);
    CHECK(y[0] == 10 && y[1] == -10 && y[2] == 0, "q8_0 layout: %g %g %g", y[0], y[1], y[2]);
    memset(b, 0, sizeof b);
    b[0] = 0x00;
    b[1] = 0x3c; /* d = 1 */
    b[2] = 0xf1; /* w0 = 1 - 8, w16 = 15 - 8 */
    dequant_q4_0_ref(y, b, 32);
    CHECK(y[0] == -7 && y[16] == 7 && y[1] == -8, "q4_0 layout: %g %g %g", y[0], y[16], y[1]);
    memset(b, 0, sizeof b);
    b[0] = 0x00;
    b[1] = 0x3c;
    b[2] = 0x00;
    b[3] = 0x38; /* d = 1, dmin = 0.5 */
    b[4] = 2;
    b[8] = 4; /* sub-block 0: sc 2, m 4 */
    b[4 + 8] = 0x53;
    b[4 + 0] |= 0x40;
    b[4 + 4] |= 0x80;  /* sub-block 4: sc 3 | 1<<4 = 19, m 5 | 2<<4 = 37 */
    b[16] = 0x07;      /* w0 = 7 (sub 0), w32 = 0 (sub 1) */
    b[16 + 64] = 0x03; /* chunk 2 low nibble: w128 (sub 4) = 3 */
    dequant_q4_k_ref(y, b, 256);
    CHECK(y[0] == 2 * 7 - 0.5f * 4 && y[1] == -2 && y[128] == 19 * 3 - 0.5f * 37, "q4_k layout: %g %g %g", y[0], y[1],
          y[128]);
    memset(b, 0, sizeof b);
    b[208] = 0x00;
    b[209] = 0x3c; /* d = 1 */
    for (int g = 0; g < 16; g++) b[192 + g] = (uint8_t)(g + 1);
    b[0] = 0x21;              /* w0 low = 1, w64 low = 2 */
    b[128] = 0x02 | 0x3 << 6; /* w0 high = 2 -> 33; w96 high = 3 -> 48 */
    b[64 + 32] = 0x05;        /* half 1: w128+32 = 160 low = 5 */
    dequant_q6_k_ref(y, b, 256);
    CHECK(y[0] == 1 * (33 - 32) && y[64] == 5 * (2 - 32) && y[96] == 7 * (48 - 32) && y[160] == 11 * (5 - 32) &&
              y[17] == 2 * -32,
          "q6_k layout: %g %g %g %g %g", y[0], y[64], y[96], y[160], y[17]);
    /* Q5_K: d, dmin, scales[12] at 4 (Q4_K's packing), qh[32] at 16, qs[128] at 48 */
    memset(b, 0, sizeof b);
    b[1] = 0x3c;
    b[3] = 0x38; /* d = 1, dmin = 0.5 */
    b[4] = 2 | 0x40;
    b[8] = 4 | 0x80;   /* sub-block 0: sc 2, m 4 (bits 6-7: sub-block 4's high bits) */
    b[4 + 8] = 0x53;   /* sub-block 4: sc 3 | 1<<4 = 19, m 5 | 2<<4 = 37 */
    b[4 + 3] = 5;
    b[8 + 3] = 1;      /* sub-block 3: sc 5, m 1 */
    b[4 + 11] = 0x21;  /* sub-block 7: sc 1, m 2 */
    b[48] = 0x07;      /* w0 low nibble 7 ... */
    b[16] = 0x01 | 0x10; /* ... qh[0] bit 0 -> q 23; bit 4: sub-block 4's w128 */
    b[18] = 0x04;      /* qh[2] bit 2 (sub-block 2's w66) must not reach w2 (sub-block 0) */
    b[48 + 32 + 5] = 0x90; /* chunk 1 high nibble 9 = sub-block 3, value 5 (w101) ... */
    b[16 + 5] = 0x08;  /* ... + qh[5] bit 3 -> q 25 */
    b[48 + 64] = 0x03; /* chunk 2 low nibble 3 = w128 (sub-block 4), with qh[0] bit 4 -> q 19 */
    b[48 + 96 + 31] = 0xf0;
    b[16 + 31] = 0x80; /* w255: sub-block 7, value 31, nibble 15 + bit 7 -> q 31 */
    dequant_q5_k_ref(y, b, 256);
    CHECK(y[0] == 2 * 23 - 0.5f * 4 && y[1] == -2 && y[2] == -2 && y[101] == 5 * 25 - 0.5f * 1 &&
              y[128] == 19 * 19 - 0.5f * 37 && y[255] == 1 * 31 - 0.5f * 2 && y[32] == 0 && y[66] == 0,
          "q5_k layout: %g %g %g %g %g %g %g %g", y[0], y[1], y[2], y[101], y[128], y[255], y[32], y[66]);
    /* Q5_0 (d at 0, qh at 2, qs[16] at 6) and Q5_1 (d at 0, m at 2, qh at 4, qs at 8), built by
     * q5_block: q j = qs[j] & 15 | bit j of qh (a little-endian u32) << 4, q j+16 = qs[j] >> 4 | bit
     * j+16 << 4; Q5_0 w = d (q - 16) with d = 2, Q5_1 w = d q + m with d = 1, m = -0.5 */
    for (int t5 = 0; t5 < 2; t5++) {
        wtype_t t = t5 ? WT_Q5_1 : WT_Q5_0;
        q5_block(b, t5);
        if (t5) dequant_q5_1_ref(y, b, 32);
        else dequant_q5_0_ref(y, b, 32);
        static const int at[8] = {0, 16, 9, 25, 31, 21, 1, 5}, q[8] = {19, 25, 31, 0, 16, 5, 0, 0};
        int bad = 0;
        for (int i = 0; i < 8; i++) bad += y[at[i]] != (t5 ? (float)q[i] - 0.5f : 2.0f * (float)(q[i] - 16));
        CHECK(bad == 0, "%s layout: w0 %g w16 %g w9 %g w25 %g w31 %g w21 %g w1 %g w5 %g", wtype_name(t), y[0], y[16],
              y[9], y[25], y[31], y[21], y[1], y[5]);
        /* the kernels' own unpacking on every ISA: the row times one-hot x reads each weight */
        float x[32], out;
        wtensor_t W = {t, b, 1, 32};
        bad = 0;
        for (int isa = kern_qisa(); isa >= 0; isa--) {
            kern_set_qisa(isa);
            for (int k = 0; k < 32; k++) {
                for (int i = 0; i < 32; i++) x[i] = i == k ? 1.0f : 0.0f;
                CHECK(matmul_q(&out, x, &W, 1, false) == 0, "matmul_q ran");
                if (fabsf(out - y[k]) > 1e-5f * (1 + fabsf(y[k]))) bad++;
            }
        }
        kern_set_qisa(-1);
        CHECK(bad == 0, "%s layout: matmul_q on every ISA reads the hand-built block's 32 weights (%d wrong)",
              wtype_name(t), bad);
    }
    CHECK(!matmul_qk_supports(WT_Q5_0) && !matmul_qk_supports(WT_Q5_1) && wtype_block(WT_Q5_0) == 32 &&
              wtype_block(WT_Q5_1) == 32 && wtype_bytes(WT_Q5_0, 64) == 44 && wtype_bytes(WT_Q5_1, 64) == 48,
          "q5_0 / q5_1: blocks of 32 in 22 / 24 bytes, the per-row kernels (not matmul_qk)");
}

static void test_matmul(wtype_t t, int M, int N, int K) {
    float *w = malloc((size_t)N * K * 4), *wd = malloc((size_t)N * K * 4), *x = malloc((size_t)M * K * 4);
    float *yr = malloc((size_t)M * N * 4), *yq = malloc((size_t)M * N * 4), *ye = malloc((size_t)M * N * 4);
    uint8_t *q = malloc(wtype_bytes(t, (size_t)N * K));
    for (size_t i = 0; i < (size_t)N * K; i++) w[i] = frand() * 0.1f;
    for (size_t i = 0; i < (size_t)M * K; i++) x[i] = frand() * (i % 97 == 0 ? 8 : 1);
    quantize_ref(q, w, t, (size_t)N * K);
    wconvert_f32(wd, q, t, (size_t)N * K);
    wtensor_t W = {t, q, N, K};
    matmul_q_ref(yr, x, &W, M, false);
    matmul_ref(ye, x, &W, M, false);
    /* int8-activation bound of ref vs exact, and the scale for rounding tolerances */
    int bad_bound = 0;
    double *mag = malloc((size_t)M * N * sizeof *mag);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double bound = 0, ab = 0;
            for (int b = 0; b < K; b += 32) {
                float amax = 0;
                double sw = 0;
                for (int k = b; k < b + 32; k++) {
                    amax = fmaxf(amax, fabsf(x[(size_t)m * K + k]));
                    sw += fabs(wd[(size_t)n * K + k]);
                    ab += fabs(wd[(size_t)n * K + k] * x[(size_t)m * K + k]);
                }
                bound += amax / 254.0 * sw;
            }
            mag[(size_t)m * N + n] = ab;
            if (fabs(yr[(size_t)m * N + n] - ye[(size_t)m * N + n]) > bound * 1.0001 + 1e-6 * ab) bad_bound++;
        }
    CHECK(bad_bound == 0, "%s M=%d N=%d K=%d: int8 activations outside their bound at %d outputs", wtype_name(t), M, N,
          K, bad_bound);
    /* matmul_qk's reference: the same bound with one activation scale per super-block */
    float *yk = malloc((size_t)M * N * 4);
    int qk = matmul_qk_supports(t), ab = t == WT_Q8_0 ? 32 : 256;
    if (qk) {
        matmul_qk_ref(yk, x, &W, M, false);
        int bad = 0;
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                double bound = 0, ab2 = 0;
                for (int b = 0; b < K; b += ab) {
                    float amax = 0;
                    double sw = 0;
                    for (int k = b; k < b + ab; k++) {
                        amax = fmaxf(amax, fabsf(x[(size_t)m * K + k]));
                        sw += fabs(wd[(size_t)n * K + k]);
                        ab2 += fabs(wd[(size_t)n * K + k] * x[(size_t)m * K + k]);
                    }
                    bound += amax / 254.0 * sw;
                }
                if (fabs(yk[(size_t)m * N + n] - ye[(size_t)m * N + n]) > bound * 1.0001 + 1e-6 * ab2) bad++;
            }
        CHECK(bad == 0, "%s M=%d N=%d K=%d: matmul_qk_ref outside its super-block int8 bound at %d outputs",
              wtype_name(t), M, N, K, bad);
    }
    int best = kern_qisa();
    for (int isa = best; isa >= 0; isa--) {
        kern_set_qisa(isa);
        for (int acc = 0; acc < 2; acc++) {
            for (int i = 0; i < M * N; i++) yq[i] = acc ? 1.5f : NAN;
            CHECK(matmul_q(yq, x, &W, M, acc) == 0, "matmul_q ran");
            int bad = 0;
            double worst = 0;
            const float *want = isa >= 3 && qk ? yk : yr;
            for (int i = 0; i < M * N; i++) {
                double ref = want[i] + (acc ? 1.5 : 0), err = fabs(yq[i] - ref), tol = 2e-6 * mag[i] + 1e-6;
                if (!(err <= tol)) bad++;
                if (err / tol > worst) worst = err / tol;
            }
            CHECK(bad == 0, "%s isa %d M=%d N=%d K=%d acc=%d: %d outputs differ from %s (worst %.2f tol)",
                  wtype_name(t), isa, M, N, K, acc, bad, isa >= 3 && qk ? "matmul_qk_ref" : "matmul_q_ref", worst);
        }
    }
    /* without the integer kernels matmul() dequantises panels for sgemm: exact to f32 rounding */
    kern_set_qisa(0);
    {
        matmul(yq, x, &W, M, false);
        int bad = 0;
        for (int i = 0; i < M * N; i++)
            if (!(fabs(yq[i] - ye[i]) <= 1e-5 * mag[i] + 1e-6)) bad++;
        CHECK(bad == 0, "%s matmul M=%d (panels): %d outputs differ from matmul_ref", wtype_name(t), M, bad);
    }
    kern_set_qisa(-1);
    free(yk);
    free(mag);
    free(w);
    free(wd);
    free(x);
    free(yr);
    free(yq);
    free(ye);
    free(q);
}

/* A row of n weights of kind k: 0 uniform, 1 Gaussian, 2 heavy-tailed (Gaussian / sqrt(uniform)),
 * 3 "trained-looking" (Gaussian with per-32 magnitudes spread over 30x, a nonzero mean on some
 * blocks and rare 10x outliers), 4 norm-like (1 + 0.05 g), 5 edge blocks (zeros, constants,
 * one nonzero value, f16-subnormal and large magnitudes). */
static float grand(void) {
    float u = (frand() + 1) * 0.5f, v = (frand() + 1) * 0.5f;
    return sqrtf(-2 * logf(u > 1e-12f ? u : 1e-12f)) * cosf(6.2831853f * v);
}
static void make_row(float *x, int n, int k) {
    for (int i = 0; i < n; i++) {
        float g = grand();
        switch (k) {
        case 0: x[i] = frand() * 0.1f; break;
        case 1: x[i] = g * 0.02f; break;
        case 2: x[i] = g * 0.02f / sqrtf(0.02f + (frand() + 1) * 0.5f); break;
        case 3: {
            uint64_t h = (uint64_t)(i / 32) * 0x9E3779B97F4A7C15ull;
            float mag = 0.003f * powf(30.0f, (float)(h >> 40 & 1023) / 1023.0f);
            x[i] = g * mag + ((h >> 20 & 7) == 0 ? mag : 0) + (frand() > 0.995f ? 10 * mag * g : 0);
            break;
        }
        case 4: x[i] = 1 + 0.05f * g; break;
        default: {
            int blk = (i / 256) % 6;
            x[i] = blk == 0 ? 0 : blk == 1 ? 0.25f : blk == 2 ? -3.0f : blk == 3 ? (i % 256 == 7 ? 1.5f : 0)
                 : blk == 4 ? g * 1e-6f : g * 300.0f;
        }
        }
    }
}

/* quantize_search against quantize_ref: on every block the searched block's squared error (both
 * decoded by dequant_ref) is <= round to nearest's; the decoded weights are finite and within the
 * format's step (test_roundtrip's tolerance); on Gaussian and trained-looking rows the total error
 * falls by at least `gain` (so a search that kept round to nearest everywhere fails). */
static void test_search(wtype_t t) {
    enum { N = 256 * 48 };
    static float x[N], yr[N], ys[N];
    static uint8_t qr[N * 2], qs[N * 2];
    int blk = wtype_block(t);
    for (int k = 0; k < 6; k++) {
        make_row(x, N, k);
        quantize_ref(qr, x, t, N);
        quantize_search(qs, x, t, N);
        dequant_ref(yr, qr, t, N);
        dequant_ref(ys, qs, t, N);
        int worse = 0, nonfinite = 0, better = 0;
        double er = 0, es = 0;
        for (int b = 0; b < N; b += blk) {
            double br = 0, bs = 0;
            for (int i = b; i < b + blk; i++) {
                br += ((double)yr[i] - x[i]) * ((double)yr[i] - x[i]);
                bs += ((double)ys[i] - x[i]) * ((double)ys[i] - x[i]);
                nonfinite += !isfinite(ys[i]) + !isfinite(yr[i]);
            }
            worse += !(bs <= br);
            better += bs < br;
            er += br;
            es += bs;
        }
        CHECK(worse == 0 && nonfinite == 0, "%s search, rows of kind %d: %d of %d blocks worse than round to nearest, %d non-finite",
              wtype_name(t), k, worse, N / blk, nonfinite);
        double gain = t == WT_Q4_K || t == WT_Q5_K ? 0.88 : t == WT_Q4_0 || t == WT_Q5_0 ? 0.96 : 0.95;
        if (k == 1 || k == 3) {
            printf("# %s kind %d: search/rtn squared error %.3f\n", wtype_name(t), k, es / er);
            CHECK(es <= gain * er, "%s search, rows of kind %d: squared error %.3e vs round to nearest %.3e (ratio %.3f <= %.2f; %d blocks better)",
                  wtype_name(t), k, es, er, es / er, gain, better);
        } else printf("# %s kind %d: search/rtn squared error %.3f (%d of %d blocks better)\n", wtype_name(t), k, er > 0 ? es / er : 1.0, better, N / blk);
    }
}

int main(void) {
    test_layouts();
    for (size_t i = 0; i < sizeof TYPES / sizeof *TYPES; i++) test_search(TYPES[i]);
    for (size_t i = 0; i < sizeof TYPES / sizeof *TYPES; i++) {
        test_roundtrip(TYPES[i], 0);
        test_roundtrip(TYPES[i], 1);
    }
    for (size_t i = 0; i < sizeof TYPES / sizeof *TYPES; i++) {
        wtype_t t = TYPES[i];
        int small = wtype_block(t) == 32;
        test_matmul(t, 1, 7, 256);
        test_matmul(t, 5, 33, small ? 288 : 512);
        test_matmul(t, 17, 3, small ? 96 : 768);
        test_matmul(t, 70, 19, 256);
        test_matmul(t, 32, 9, 1024);
        test_matmul(t, 16, 4, small ? 64 : 256);
        /* 1..8 rows: matmul_qk_rows (each count is its own unrolled kernel), both variants (2, the
         * default, then 1, the first kernels the benchmarks compare with); K of 1-3 super-blocks
         * (Q4_K / Q5_K's pairs with a zero partner) or 1-8 Q8_0 blocks (groups of 4 with a tail) */
        for (int v = 2; v >= 1; v--) {
            matmul_qk_set_rows(v);
            if (t == WT_Q4_K || t == WT_Q5_K || t == WT_Q6_K || (t == WT_Q8_0 && v == 2))
                for (int M = 1; M <= 8; M++)
                    CHECK(matmul_qk_rows_supports(t, M, small ? 32 * M : 256), "%s M=%d takes matmul_qk_rows (variant %d)",
                          wtype_name(t), M, v);
            for (int M = 1; M <= 8; M++) test_matmul(t, M, 3 + 2 * M, small ? 32 * M : 256 * (M % 3 + 1));
            if (wtype_block(t) == 256) test_matmul(t, 4, 5, 256 * 16); /* a realistic row: 16 super-blocks */
            /* long rows above 4 rows (variant 2 cuts Q8_0's K into pieces of 2048: 16 + 9 groups of 128
             * with a one-block tail; K-quants: 11 super-blocks, an odd last pair) */
            test_matmul(t, 8, 5, small ? 32 * 101 : 256 * 11);
            test_matmul(t, 5, 3, small ? 32 * 128 : 256 * 16);
            /* Q8_0 at 2-4 rows over many full groups (each loaded a step early) ending in a tail:
             * K whole (25 groups + 1 block), and in two pieces of 4096 at 4 rows (32 groups + 2
             * blocks) */
            if (small) {
                test_matmul(t, 2, 5, 32 * 101);
                test_matmul(t, 4, 3, 32 * 130);
            }
        }
        matmul_qk_set_rows(-1);
    }
    printf("quant isa: %d\n", kern_qisa());
    return TEST_SUMMARY();
}
