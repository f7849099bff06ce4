/* quant.c — plain C references for GGUF's block-quantised weights (quant.h): dequantisation of
 * Q8_0, Q4_0, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K, the matching reference quantisers, and matmul_q_ref (the int8-
 * activation product the fast kernels of matmul_q.c compute, in double). Written from the block
 * layouts in quant.h; every fast path is tested against these. */
#include <math.h>
#include <string.h>
#include "quant.h"

static float h2f(const uint8_t *p) { return f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }
static void f2h(uint8_t *p, float f) {
    uint16_t h = f32_to_f16(f);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

void dequant_q8_0_ref(float *y, const void *src, size_t n) {
    const uint8_t *b = src;
    for (size_t i = 0; i < n; i += 32, b += 34) {
        float d = h2f(b);
        for (int k = 0; k < 32; k++) y[i + k] = d * (float)(int8_t)b[2 + k];
    }
}

void dequant_q4_0_ref(float *y, const void *src, size_t n) {
    const uint8_t *b = src;
    for (size_t i = 0; i < n; i += 32, b += 18) {
        float d = h2f(b);
        for (int k = 0; k < 16; k++) {
            y[i + k] = d * (float)((b[2 + k] & 15) - 8);
            y[i + k + 16] = d * (float)((b[2 + k] >> 4) - 8);
        }
    }
}

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

/* The 32 five-bit levels of a Q5_0 / Q5_1 block from its qh (a little-endian u32) and qs. */
static void q5_levels(int *q, const uint8_t *qh, const uint8_t *qs) {
    uint32_t h = rd32(qh);
    for (int k = 0; k < 16; k++) {
        q[k] = (qs[k] & 15) | (int)(h >> k & 1) << 4;
        q[k + 16] = (qs[k] >> 4) | (int)(h >> (k + 16) & 1) << 4;
    }
}

void dequant_q5_0_ref(float *y, const void *src, size_t n) {
    const uint8_t *b = src;
    for (size_t i = 0; i < n; i += 32, b += 22) {
        float d = h2f(b);
        int q[32];
        q5_levels(q, b + 2, b + 6);
        for (int k = 0; k < 32; k++) y[i + k] = d * (float)(q[k] - 16);
    }
}

void dequant_q5_1_ref(float *y, const void *src, size_t n) {
    const uint8_t *b = src;
    for (size_t i = 0; i < n; i += 32, b += 24) {
        float d = h2f(b), m = h2f(b + 2);
        int q[32];
        q5_levels(q, b + 4, b + 8);
        for (int k = 0; k < 32; k++) y[i + k] = d * (float)q[k] + m;
    }
}

void dequant_q4_k_ref(float *y, const void *src, size_t n) {
    const uint8_t *b = src;
    for (size_t i = 0; i < n; i += 256, b += 144) {
        float d = h2f(b), dmin = h2f(b + 2);
        const uint8_t *sc = b + 4, *q = b + 16;
        for (int c = 0; c < 4; c++, q += 32) {
            int s0, m0, s1, m1;
            q4k_scale_min(sc, 2 * c, &s0, &m0);
            q4k_scale_min(sc, 2 * c + 1, &s1, &m1);
            for (int l = 0; l < 32; l++) {
                y[i + 64 * c + l] = d * (float)s0 * (float)(q[l] & 15) - dmin * (float)m0;
                y[i + 64 * c + 32 + l] = d * (float)s1 * (float)(q[l] >> 4) - dmin * (float)m1;
            }
        }
    }
}

void dequant_q6_k_ref(float *y, const void *src, size_t n) {
    const uint8_t *b = src;
    for (size_t i = 0; i < n; i += 256, b += 210) {
        float d = h2f(b + 208);
        const uint8_t *ql = b, *qh = b + 128;
        const int8_t *sc = (const int8_t *)(b + 192);
        for (int h = 0; h < 2; h++, ql += 64, qh += 32) {
            float *o = y + i + 128 * h;
            for (int l = 0; l < 32; l++) {
                int q0 = (ql[l] & 15) | (qh[l] & 3) << 4, q1 = (ql[l + 32] & 15) | (qh[l] >> 2 & 3) << 4,
                    q2 = (ql[l] >> 4) | (qh[l] >> 4 & 3) << 4, q3 = (ql[l + 32] >> 4) | (qh[l] >> 6) << 4;
                const int8_t *s = sc + 8 * h + l / 16;
                o[l] = d * (float)s[0] * (float)(q0 - 32);
                o[l + 32] = d * (float)s[2] * (float)(q1 - 32);
                o[l + 64] = d * (float)s[4] * (float)(q2 - 32);
                o[l + 96] = d * (float)s[6] * (float)(q3 - 32);
            }
        }
    }
}

void dequant_q5_k_ref(float *y, const void *src, size_t n) {
    const uint8_t *b = src;
    for (size_t i = 0; i < n; i += 256, b += 176) {
        float d = h2f(b), dmin = h2f(b + 2);
        const uint8_t *sc = b + 4, *qh = b + 16, *q = b + 48;
        for (int c = 0; c < 4; c++, q += 32) {
            int s0, m0, s1, m1;
            q4k_scale_min(sc, 2 * c, &s0, &m0);
            q4k_scale_min(sc, 2 * c + 1, &s1, &m1);
            for (int l = 0; l < 32; l++) {
                int lo = (q[l] & 15) | (qh[l] >> (2 * c) & 1) << 4, hi = (q[l] >> 4) | (qh[l] >> (2 * c + 1) & 1) << 4;
                y[i + 64 * c + l] = d * (float)s0 * (float)lo - dmin * (float)m0;
                y[i + 64 * c + 32 + l] = d * (float)s1 * (float)hi - dmin * (float)m1;
            }
        }
    }
}

void dequant_ref(float *y, const void *src, wtype_t t, size_t n) {
    KERN_ASSERT(wtype_is_quant(t) && n % (size_t)wtype_block(t) == 0);
    switch (t) {
    case WT_Q8_0: dequant_q8_0_ref(y, src, n); break;
    case WT_Q4_0: dequant_q4_0_ref(y, src, n); break;
    case WT_Q4_K: dequant_q4_k_ref(y, src, n); break;
    case WT_Q5_K: dequant_q5_k_ref(y, src, n); break;
    case WT_Q5_0: dequant_q5_0_ref(y, src, n); break;
    case WT_Q5_1: dequant_q5_1_ref(y, src, n); break;
    default: dequant_q6_k_ref(y, src, n); break;
    }
}

/* ---- reference quantisers ---- */

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

static void quant_q8_0(uint8_t *b, const float *x) {
    float amax = 0;
    for (int k = 0; k < 32; k++) amax = fmaxf(amax, fabsf(x[k]));
    float d = amax / 127, id = d > 0 ? 1 / d : 0;
    f2h(b, d);
    for (int k = 0; k < 32; k++) b[2 + k] = (uint8_t)(int8_t)clampi((int)lrintf(x[k] * id), -127, 127);
}

static void quant_q4_0(uint8_t *b, const float *x) {
    float amax = 0, mx = 0; /* the value of largest magnitude, with its sign */
    for (int k = 0; k < 32; k++)
        if (fabsf(x[k]) > amax) {
            amax = fabsf(x[k]);
            mx = x[k];
        }
    float d = mx / -8, id = d != 0 ? 1 / d : 0;
    f2h(b, d);
    for (int k = 0; k < 16; k++) {
        int lo = clampi((int)lrintf(x[k] * id) + 8, 0, 15), hi = clampi((int)lrintf(x[k + 16] * id) + 8, 0, 15);
        b[2 + k] = (uint8_t)(lo | hi << 4);
    }
}

void q5_pack_levels(uint8_t *qh, uint8_t *qs, const int *q) {
    uint32_t h = 0;
    for (int k = 0; k < 16; k++) {
        qs[k] = (uint8_t)((q[k] & 15) | (q[k + 16] & 15) << 4);
        h |= (uint32_t)(q[k] >> 4) << k | (uint32_t)(q[k + 16] >> 4) << (k + 16);
    }
    for (int k = 0; k < 4; k++) qh[k] = (uint8_t)(h >> 8 * k);
}

/* Q5_0 as ggml's quantize_row_q5_0_ref: d = v / -16 for the value v of largest magnitude (so v
 * maps to level 0, the long end of -16..15), levels rounded to nearest. */
static void quant_q5_0(uint8_t *b, const float *x) {
    float amax = 0, mx = 0;
    for (int k = 0; k < 32; k++)
        if (fabsf(x[k]) > amax) {
            amax = fabsf(x[k]);
            mx = x[k];
        }
    float d = mx / -16, id = d != 0 ? 1 / d : 0;
    f2h(b, d);
    int q[32];
    for (int k = 0; k < 32; k++) q[k] = clampi((int)lrintf(x[k] * id) + 16, 0, 31);
    q5_pack_levels(b + 2, b + 6, q);
}

/* Q5_1: d = (max - min) / 31, m = min; the levels rounded against the stored (f16) d and m. */
static void quant_q5_1(uint8_t *b, const float *x) {
    float lo = x[0], hi = x[0];
    for (int k = 1; k < 32; k++) {
        lo = fminf(lo, x[k]);
        hi = fmaxf(hi, x[k]);
    }
    f2h(b, (hi - lo) / 31);
    f2h(b + 2, lo);
    float d = h2f(b), m = h2f(b + 2), id = d > 0 ? 1 / d : 0;
    int q[32];
    for (int k = 0; k < 32; k++) q[k] = clampi((int)lrintf((x[k] - m) * id), 0, 31);
    q5_pack_levels(b + 4, b + 8, q);
}

/* Q4_K (nmax 15) and Q5_K (nmax 31): per sub-block the range [min(x, 0), max(x, 0)] over nmax
 * levels, d and dmin from the largest step / min over 63 (f16), the 6-bit (sc, m) rounded, the
 * levels rounded against the stored scales. */
static void quant_kq(uint8_t *b, const float *x, int nmax) {
    float scale[8], mn[8], smax = 0, mmax = 0;
    for (int j = 0; j < 8; j++) {
        float lo = 0, hi = 0; /* the range includes 0 so the min is >= 0 (stored unsigned) */
        for (int l = 0; l < 32; l++) {
            lo = fminf(lo, x[32 * j + l]);
            hi = fmaxf(hi, x[32 * j + l]);
        }
        scale[j] = (hi - lo) / (float)nmax;
        mn[j] = -lo;
        smax = fmaxf(smax, scale[j]);
        mmax = fmaxf(mmax, mn[j]);
    }
    float d = smax / 63, dmin = mmax / 63;
    f2h(b, d);
    f2h(b + 2, dmin);
    d = h2f(b); /* quantise against the stored (f16) super-scales */
    dmin = h2f(b + 2);
    int sc[8], m[8], q[256];
    for (int j = 0; j < 8; j++) {
        sc[j] = d > 0 ? clampi((int)lrintf(scale[j] / d), 0, 63) : 0;
        m[j] = dmin > 0 ? clampi((int)lrintf(mn[j] / dmin), 0, 63) : 0;
    }
    q4k_pack_scales(b + 4, sc, m);
    for (int j = 0; j < 8; j++) {
        float ds = d * (float)sc[j];
        for (int l = 0; l < 32; l++)
            q[32 * j + l] = ds > 0 ? clampi((int)lrintf((x[32 * j + l] + dmin * (float)m[j]) / ds), 0, nmax) : 0;
    }
    kq_pack_levels(b, nmax == 31, q);
}

static void quant_q6_k(uint8_t *b, const float *x) {
    float scale[16], amax = 0;
    for (int g = 0; g < 16; g++) {
        float a = 0, mx = 0;
        for (int l = 0; l < 16; l++)
            if (fabsf(x[16 * g + l]) > a) {
                a = fabsf(x[16 * g + l]);
                mx = x[16 * g + l];
            }
        scale[g] = mx / -32;
        amax = fmaxf(amax, fabsf(scale[g]));
    }
    float d = amax / 127;
    f2h(b + 208, d);
    d = h2f(b + 208);
    int8_t *sc = (int8_t *)(b + 192);
    int q[256];
    for (int g = 0; g < 16; g++) {
        sc[g] = (int8_t)(d > 0 ? clampi((int)lrintf(scale[g] / d), -127, 127) : 0);
        float ds = d * sc[g];
        for (int l = 0; l < 16; l++) q[16 * g + l] = ds != 0 ? clampi((int)lrintf(x[16 * g + l] / ds) + 32, 0, 63) : 32;
    }
    uint8_t *ql = b, *qh = b + 128;
    for (int h = 0; h < 2; h++, ql += 64, qh += 32) {
        const int *o = q + 128 * h;
        for (int l = 0; l < 32; l++) {
            ql[l] = (uint8_t)((o[l] & 15) | (o[l + 64] & 15) << 4);
            ql[l + 32] = (uint8_t)((o[l + 32] & 15) | (o[l + 96] & 15) << 4);
            qh[l] = (uint8_t)(o[l] >> 4 | (o[l + 32] >> 4) << 2 | (o[l + 64] >> 4) << 4 | (o[l + 96] >> 4) << 6);
        }
    }
}

void quantize_ref(void *dst, const float *x, wtype_t t, size_t n) {
    KERN_ASSERT(wtype_is_quant(t) && n % (size_t)wtype_block(t) == 0);
    int blk = wtype_block(t);
    size_t bb = wtype_bytes(t, (size_t)blk);
    uint8_t *o = dst;
    for (size_t i = 0; i < n; i += (size_t)blk, o += bb) {
        switch (t) {
        case WT_Q8_0: quant_q8_0(o, x + i); break;
        case WT_Q4_0: quant_q4_0(o, x + i); break;
        case WT_Q4_K: quant_kq(o, x + i, 15); break;
        case WT_Q5_K: quant_kq(o, x + i, 31); break;
        case WT_Q5_0: quant_q5_0(o, x + i); break;
        case WT_Q5_1: quant_q5_1(o, x + i); break;
        default: quant_q6_k(o, x + i); break;
        }
    }
}

/* ---- the int8-activation product, plainly ---- */

void matmul_q_ref(float *y, const float *x, const wtensor_t *W, int M, bool accumulate) {
    KERN_ASSERT_WEIGHT(W);
    KERN_ASSERT(wtype_is_quant(W->type) && M >= 0 && (M == 0 || (x && y)));
    int N = (int)W->rows, K = (int)W->cols;
    size_t rb = wtype_bytes(W->type, (size_t)K);
    float w[K > 0 ? K : 1]; /* K <= INT32_MAX is checked; rows of real models are <= 64 K */
    for (int n = 0; n < N; n++) {
        dequant_ref(w, (const uint8_t *)W->data + (size_t)n * rb, W->type, (size_t)K);
        for (int m = 0; m < M; m++) {
            const float *xr = x + (size_t)m * K;
            double s = 0;
            for (int b = 0; b < K; b += 32) {
                float amax = 0;
                for (int k = b; k < b + 32; k++) amax = fmaxf(amax, fabsf(xr[k]));
                float dx = amax / 127, id = dx > 0 ? 1 / dx : 0;
                double sb = 0;
                for (int k = b; k < b + 32; k++) sb += (double)w[k] * (double)lrintf(xr[k] * id);
                s += sb * dx;
            }
            float *o = y + (size_t)m * N + n;
            *o = (float)(accumulate ? *o + s : s);
        }
    }
}
