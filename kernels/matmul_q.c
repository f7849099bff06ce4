/* matmul_q.c — y = x · Wᵀ for GGUF block-quantised weights (Q8_0, Q4_0, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K) with int8
 * dot products, reading the weights as stored (quant.h; reference: quant.c's matmul_q_ref).
 *
 * The activations are quantised once per call to int8 with one scale per 32 (dx = amax/127).
 * Each weight row is unpacked into a small per-thread buffer as unsigned bytes u (u8, 0..255)
 * with, per group of 16 weights, a scale s_g and an offset c_g such that w = s_g u - c_g:
 *   Q8_0 u = q + 128, s = d, c = 128 d      Q4_0 u = nibble, s = d, c = 8 d
 *   Q4_K u = nibble, s = d sc_j, c = dmin m_j   Q6_K u = 6-bit q, s = d sc_g, c = 32 d sc_g
 *   Q5_K u = 5-bit q, s = d sc_j, c = dmin m_j
 *   Q5_0 u = 5-bit q, s = d, c = 16 d        Q5_1 u = 5-bit q, s = d, c = -m
 * so Σ_k w_k x_k = Σ_g s_g dx_g Σ_{k∈g} u_k xq_k − Σ_g c_g (dx_g Σ_{k∈g} xq_k). The integer sums
 * come from VPDPBUSD (u8 × s8 → i32, four products per lane; AVX512-VNNI) or VPMADDUBSW +
 * VPMADDWD (AVX2; there Q8_0 keeps q signed and uses the sign trick, since 255 × 127 × 2
 * overflows the i16 pair sum). Each i32 lane covers 4 weights of one group: it is converted to
 * f32 and scaled by s_g dx_g (a per-lane vector); the offsets are one short f32 dot per row.
 * Unpacked rows (8 at a time) are reused over every activation row (tiles of 4), so the weights
 * are read from memory once per call and the activations once per 8 weight rows. Threads split
 * the weight rows.
 * With AVX512-VNNI, Q4_K, Q5_K, Q6_K and Q8_0 go to matmul_qk.c instead (llama.cpp's arithmetic:
 * integer sub-block scales, one float step per super-block, a broadcast-weight register tile);
 * this file's per-row kernels remain for Q4_0, Q5_0 and Q5_1 (which matmul_qk does not take), for AVX2
 * and as kern_set_qisa(2)'s comparison.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <immintrin.h>
#include "quant.h"

static int g_isa = -1, g_cap = -1;

static int isa_best(void) {
    const char *e = getenv("LLADA_QMATMUL");
    if (e && !strcmp(e, "f32")) return 0; /* matmul() then dequantises panels: the exact product */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
        return 3;
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1 : 0;
}

int kern_qisa(void) {
    if (g_isa < 0) g_isa = isa_best();
    return g_cap >= 0 && g_cap < g_isa ? g_cap : g_isa;
}

void kern_set_qisa(int isa) { g_cap = isa; }

/* ---- activations: int8 per 32, lane scales, group sums ---- */
typedef struct {
    int8_t *xq; /* [Mp][K] */
    float *xl;  /* [Mp][K/4]: dx of each 4-weight lane */
    float *xc;  /* [Mp][K/16]: dx * Σ xq over the group */
} qact_t;

static void quant_act(const float *x, int M, int Mp, int K, qact_t *a) {
    memset(a->xq, 0, (size_t)Mp * K);
    memset(a->xl, 0, (size_t)Mp * K / 4 * sizeof(float));
    memset(a->xc, 0, (size_t)Mp * K / 16 * sizeof(float));
    for (int m = 0; m < M; m++) {
        const float *xr = x + (size_t)m * K;
        int8_t *q = a->xq + (size_t)m * K;
        for (int b = 0; b < K; b += 32) {
            float amax = 0;
            for (int k = b; k < b + 32; k++) amax = fmaxf(amax, fabsf(xr[k]));
            float dx = amax / 127, id = dx > 0 ? 1 / dx : 0;
            for (int k = b; k < b + 32; k++) q[k] = (int8_t)lrintf(xr[k] * id);
            for (int l = b / 4; l < b / 4 + 8; l++) a->xl[(size_t)m * K / 4 + l] = dx;
            for (int g = b / 16; g < b / 16 + 2; g++) {
                int s = 0;
                for (int k = 16 * g; k < 16 * g + 16; k++) s += q[k];
                a->xc[(size_t)m * K / 16 + g] = dx * (float)s;
            }
        }
    }
}

/* ---- weight rows: u8 values, per-lane scales, per-group offsets ---- */
typedef struct {
    uint8_t *u; /* [K] */
    float *ws;  /* [K/16]: s_g */
    float *wc;  /* [K/16]: c_g */
} qrow_t;

static float h2f(const uint8_t *p) { return f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }

static void set_group(qrow_t *r, int g, float s, float c) {
    r->ws[g] = s;
    r->wc[g] = c;
}

/* The groups of a Q4_K / Q5_K super-block at i: s = d sc_j, c = dmin m_j for both 16s of sub-block j. */
static void kq_groups(qrow_t *r, int i, const uint8_t *s, float d, float dmin) {
    for (int j = 0; j < 8; j++) {
        int sc, m;
        q4k_scale_min(s, j, &sc, &m);
        set_group(r, (i + 32 * j) / 16, d * (float)sc, dmin * (float)m);
        set_group(r, (i + 32 * j) / 16 + 1, d * (float)sc, dmin * (float)m);
    }
}

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

/* A Q5_0 / Q5_1 block's 32 levels from qh (u32, bit j = bit 4 of value j) and qs into u[0..32). */
static void q5_unpack(uint8_t *u, const uint8_t *qh, const uint8_t *qs) {
    uint32_t h = rd32(qh);
    for (int k = 0; k < 16; k++) {
        u[k] = (uint8_t)((qs[k] & 15) | (h >> k & 1) << 4);
        u[16 + k] = (uint8_t)((qs[k] >> 4) | (h >> (k + 16) & 1) << 4);
    }
}

/* signed_q8: Q8_0 keeps q as int8 and c = 0 (the AVX2 sign-trick path). */
static void unpack_row(qrow_t *r, const uint8_t *b, wtype_t t, int K, bool signed_q8) {
    switch (t) {
    case WT_Q8_0:
        for (int i = 0; i < K; i += 32, b += 34) {
            float d = h2f(b);
            uint8_t flip = signed_q8 ? 0 : 0x80;
            for (int k = 0; k < 32; k++) r->u[i + k] = b[2 + k] ^ flip;
            set_group(r, i / 16, d, signed_q8 ? 0 : 128 * d);
            set_group(r, i / 16 + 1, d, signed_q8 ? 0 : 128 * d);
        }
        break;
    case WT_Q4_0:
        for (int i = 0; i < K; i += 32, b += 18) {
            float d = h2f(b);
            for (int k = 0; k < 16; k++) {
                r->u[i + k] = b[2 + k] & 15;
                r->u[i + 16 + k] = b[2 + k] >> 4;
            }
            set_group(r, i / 16, d, 8 * d);
            set_group(r, i / 16 + 1, d, 8 * d);
        }
        break;
    case WT_Q5_0:
        for (int i = 0; i < K; i += 32, b += 22) {
            float d = h2f(b);
            q5_unpack(r->u + i, b + 2, b + 6);
            set_group(r, i / 16, d, 16 * d);
            set_group(r, i / 16 + 1, d, 16 * d);
        }
        break;
    case WT_Q5_1:
        for (int i = 0; i < K; i += 32, b += 24) {
            float d = h2f(b), m = h2f(b + 2);
            q5_unpack(r->u + i, b + 4, b + 8);
            set_group(r, i / 16, d, -m);
            set_group(r, i / 16 + 1, d, -m);
        }
        break;
    case WT_Q4_K:
        for (int i = 0; i < K; i += 256, b += 144) {
            float d = h2f(b), dmin = h2f(b + 2);
            const uint8_t *s = b + 4, *q = b + 16;
            for (int c = 0; c < 4; c++, q += 32) {
                uint8_t *o = r->u + i + 64 * c;
                for (int l = 0; l < 32; l++) {
                    o[l] = q[l] & 15;
                    o[32 + l] = q[l] >> 4;
                }
            }
            for (int j = 0; j < 8; j++) {
                int sc, m;
                q4k_scale_min(s, j, &sc, &m);
                set_group(r, (i + 32 * j) / 16, d * (float)sc, dmin * (float)m);
                set_group(r, (i + 32 * j) / 16 + 1, d * (float)sc, dmin * (float)m);
            }
        }
        break;
    case WT_Q5_K:
        for (int i = 0; i < K; i += 256, b += 176) {
            float d = h2f(b), dmin = h2f(b + 2);
            const uint8_t *s = b + 4, *qh = b + 16, *q = b + 48;
            for (int c = 0; c < 4; c++, q += 32) {
                uint8_t *o = r->u + i + 64 * c;
                for (int l = 0; l < 32; l++) {
                    o[l] = (uint8_t)((q[l] & 15) | (qh[l] >> (2 * c) & 1) << 4);
                    o[32 + l] = (uint8_t)((q[l] >> 4) | (qh[l] >> (2 * c + 1) & 1) << 4);
                }
            }
            kq_groups(r, i, s, d, dmin);
        }
        break;
    default: /* Q6_K */
        for (int i = 0; i < K; i += 256, b += 210) {
            float d = h2f(b + 208);
            const uint8_t *ql = b, *qh = b + 128;
            const int8_t *sc = (const int8_t *)(b + 192);
            for (int h = 0; h < 2; h++, ql += 64, qh += 32) {
                uint8_t *o = r->u + i + 128 * h;
                for (int l = 0; l < 32; l++) {
                    o[l] = (uint8_t)((ql[l] & 15) | (qh[l] & 3) << 4);
                    o[l + 32] = (uint8_t)((ql[l + 32] & 15) | (qh[l] >> 2 & 3) << 4);
                    o[l + 64] = (uint8_t)((ql[l] >> 4) | (qh[l] >> 4 & 3) << 4);
                    o[l + 96] = (uint8_t)((ql[l + 32] >> 4) | (qh[l] >> 6) << 4);
                }
            }
            for (int g = 0; g < 16; g++) set_group(r, i / 16 + g, d * sc[g], 32 * d * sc[g]);
        }
        break;
    }
}

/* The same as q5_unpack with AVX2: the nibbles as Q4_0's, the 32 bits of qh spread to one byte
 * each (byte j takes byte j/8 of qh, tests bit j%8) and moved to bit 4. */
__attribute__((target("avx2"))) static inline void q5_unpack_avx2(uint8_t *u, const uint8_t *qh, const uint8_t *qs) {
    __m128i q = _mm_loadu_si128((const __m128i *)qs);
    __m128i lo = _mm_and_si128(q, _mm_set1_epi8(15)), hi = _mm_and_si128(_mm_srli_epi16(q, 4), _mm_set1_epi8(15));
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, /* lane 0: bytes 0, 1 */
                                            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3); /* lane 1: 2, 3 */
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    __m256i h = _mm256_shuffle_epi8(_mm256_set1_epi32((int)rd32(qh)), spread);
    h = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(h, bit), bit), _mm256_set1_epi8(16));
    _mm256_store_si256((__m256i *)u, _mm256_or_si256(_mm256_set_m128i(hi, lo), h));
}

/* The same with AVX2 for the byte work (scales stay scalar: a few per 32 weights). */
__attribute__((target("avx2"))) static void unpack_row_avx2(qrow_t *r, const uint8_t *b, wtype_t t, int K,
                                                            bool signed_q8) {
    const __m256i flip = _mm256_set1_epi8(signed_q8 ? 0 : (char)0x80);
    switch (t) {
    case WT_Q8_0:
        for (int i = 0; i < K; i += 32, b += 34) {
            float d = h2f(b);
            _mm256_store_si256((__m256i *)(r->u + i),
                               _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(b + 2)), flip));
            set_group(r, i / 16, d, signed_q8 ? 0 : 128 * d);
            set_group(r, i / 16 + 1, d, signed_q8 ? 0 : 128 * d);
        }
        break;
    case WT_Q4_0:
        for (int i = 0; i < K; i += 32, b += 18) {
            float d = h2f(b);
            __m128i q = _mm_loadu_si128((const __m128i *)(b + 2));
            __m128i lo = _mm_and_si128(q, _mm_set1_epi8(15)),
                    hi = _mm_and_si128(_mm_srli_epi16(q, 4), _mm_set1_epi8(15));
            _mm256_store_si256((__m256i *)(r->u + i), _mm256_set_m128i(hi, lo));
            set_group(r, i / 16, d, 8 * d);
            set_group(r, i / 16 + 1, d, 8 * d);
        }
        break;
    case WT_Q5_0:
        for (int i = 0; i < K; i += 32, b += 22) {
            float d = h2f(b);
            q5_unpack_avx2(r->u + i, b + 2, b + 6);
            set_group(r, i / 16, d, 16 * d);
            set_group(r, i / 16 + 1, d, 16 * d);
        }
        break;
    case WT_Q5_1:
        for (int i = 0; i < K; i += 32, b += 24) {
            float d = h2f(b), m = h2f(b + 2);
            q5_unpack_avx2(r->u + i, b + 4, b + 8);
            set_group(r, i / 16, d, -m);
            set_group(r, i / 16 + 1, d, -m);
        }
        break;
    case WT_Q4_K:
        for (int i = 0; i < K; i += 256, b += 144) {
            float d = h2f(b), dmin = h2f(b + 2);
            const uint8_t *s = b + 4, *q = b + 16;
            q4k_unpack_avx2(r->u + i, q);
            for (int j = 0; j < 8; j++) {
                int sc, m;
                q4k_scale_min(s, j, &sc, &m);
                set_group(r, (i + 32 * j) / 16, d * (float)sc, dmin * (float)m);
                set_group(r, (i + 32 * j) / 16 + 1, d * (float)sc, dmin * (float)m);
            }
        }
        break;
    case WT_Q5_K:
        for (int i = 0; i < K; i += 256, b += 176) {
            q5k_unpack_avx2(r->u + i, b + 16, b + 48);
            kq_groups(r, i, b + 4, h2f(b), h2f(b + 2));
        }
        break;
    default: /* Q6_K */
        for (int i = 0; i < K; i += 256, b += 210) {
            float d = h2f(b + 208);
            const int8_t *sc = (const int8_t *)(b + 192);
            q6k_unpack_avx2(r->u + i, b);
            for (int g = 0; g < 16; g++) set_group(r, i / 16 + g, d * sc[g], 32 * d * sc[g]);
        }
        break;
    }
}

/* Offsets: Σ_g c_g xc_g. */
static float offsets(const float *wc, const float *xc, int G) {
    float s = 0;
    for (int g = 0; g < G; g++) s += wc[g] * xc[g];
    return s;
}

/* ---- the integer dot of one unpacked row with up to 4 activation rows ---- */
typedef struct {
    float *y;
    const uint8_t *w;
    qact_t a;
    uint8_t *rowbuf; /* per thread: QROWS x (u [K] + ws [K/16] + wc [K/16]), 64-byte aligned parts */
    size_t rowbuf_stride;
    wtype_t t;
    int M, Mp, N, K, nthreads, isa;
    size_t rb;
    bool acc;
} qjob_t;

static void dot_plain(const qjob_t *j, const qrow_t *r, int m0, float out[4]) {
    int K = j->K;
    for (int i = 0; i < 4; i++) {
        const int8_t *xq = j->a.xq + (size_t)(m0 + i) * K;
        const float *xl = j->a.xl + (size_t)(m0 + i) * K / 4;
        float s = 0;
        for (int l = 0; l < K / 4; l++) {
            int d = 0;
            for (int k = 4 * l; k < 4 * l + 4; k++) d += r->u[k] * xq[k];
            s += (float)d * (r->ws[l / 4] * xl[l]);
        }
        out[i] = s - offsets(r->wc, j->a.xc + (size_t)(m0 + i) * K / 16, K / 16);
    }
}

__attribute__((target("avx2,fma"))) static void dot_avx2(const qjob_t *j, const qrow_t *r, int m0, float out[4]) {
    int K = j->K;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    const int8_t *xq = j->a.xq + (size_t)m0 * K;
    const float *xl = j->a.xl + (size_t)m0 * K / 4;
    bool sg = j->t == WT_Q8_0;
    for (int c = 0; c < K; c += 32) {
        __m256i u = _mm256_load_si256((const __m256i *)(r->u + c));
        __m256i ua = sg ? _mm256_sign_epi8(u, u) : u;
        __m256 s = _mm256_permutevar8x32_ps(
            _mm256_castps128_ps256(_mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)(r->ws + c / 16)))),
            _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1));
        for (int i = 0; i < 4; i++) {
            __m256i xv = _mm256_loadu_si256((const __m256i *)(xq + (size_t)i * K + c));
            if (sg) xv = _mm256_sign_epi8(xv, u);
            __m256i d = _mm256_madd_epi16(_mm256_maddubs_epi16(ua, xv), ones);
            __m256 sc = _mm256_mul_ps(s, _mm256_loadu_ps(xl + (size_t)i * K / 4 + c / 4));
            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), sc, acc[i]);
        }
    }
    int G = K / 16;
    for (int i = 0; i < 4; i++) {
        const float *xc = j->a.xc + (size_t)(m0 + i) * G;
        __m256 o = _mm256_setzero_ps();
        int g = 0;
        for (; g + 8 <= G; g += 8) o = _mm256_fmadd_ps(_mm256_loadu_ps(r->wc + g), _mm256_loadu_ps(xc + g), o);
        acc[i] = _mm256_sub_ps(acc[i], o);
        __m128 v = _mm_add_ps(_mm256_castps256_ps128(acc[i]), _mm256_extractf128_ps(acc[i], 1));
        v = _mm_add_ps(v, _mm_movehl_ps(v, v));
        v = _mm_add_ss(v, _mm_movehdup_ps(v));
        out[i] = _mm_cvtss_f32(v) - offsets(r->wc + g, xc + g, G - g);
    }
}

#define TGT512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
TGT512 static void dot_vnni(const qjob_t *j, const qrow_t *r, int m0, float out[4]) {
    int K = j->K;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    const int8_t *x0 = j->a.xq + (size_t)m0 * K, *x1 = x0 + K, *x2 = x1 + K, *x3 = x2 + K;
    const float *l0 = j->a.xl + (size_t)m0 * K / 4, *l1 = l0 + K / 4, *l2 = l1 + K / 4, *l3 = l2 + K / 4;
    const __m512i gidx = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    for (int c = 0; c < K; c += 64) {
        __mmask64 bm = K - c >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (K - c)) - 1);
        __mmask16 lm = K - c >= 64 ? 0xffff : (__mmask16)((1u << ((K - c) / 4)) - 1);
        __m512i u = _mm512_maskz_loadu_epi8(bm, r->u + c);
        __m512 s = _mm512_permutexvar_ps(
            gidx, _mm512_castps128_ps512(
                      _mm_maskz_loadu_ps((__mmask8)(K - c >= 64 ? 15 : (1u << ((K - c) / 16)) - 1), r->ws + c / 16)));
        const __m512i z = _mm512_setzero_si512();
#define ROW(A, X, L) \
    A = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_dpbusd_epi32(z, u, _mm512_maskz_loadu_epi8(bm, X + c))), \
                        _mm512_mul_ps(s, _mm512_maskz_loadu_ps(lm, L + c / 4)), A)
        ROW(a0, x0, l0);
        ROW(a1, x1, l1);
        ROW(a2, x2, l2);
        ROW(a3, x3, l3);
#undef ROW
    }
    /* minus the offsets Σ_g c_g xc_g */
    int G = K / 16;
    const float *c0 = j->a.xc + (size_t)m0 * G, *c1 = c0 + G, *c2 = c1 + G, *c3 = c2 + G;
    for (int g = 0; g < G; g += 16) {
        __mmask16 gm = G - g >= 16 ? 0xffff : (__mmask16)((1u << (G - g)) - 1);
        __m512 wc = _mm512_maskz_loadu_ps(gm, r->wc + g);
        a0 = _mm512_fnmadd_ps(wc, _mm512_maskz_loadu_ps(gm, c0 + g), a0);
        a1 = _mm512_fnmadd_ps(wc, _mm512_maskz_loadu_ps(gm, c1 + g), a1);
        a2 = _mm512_fnmadd_ps(wc, _mm512_maskz_loadu_ps(gm, c2 + g), a2);
        a3 = _mm512_fnmadd_ps(wc, _mm512_maskz_loadu_ps(gm, c3 + g), a3);
    }
    out[0] = _mm512_reduce_add_ps(a0);
    out[1] = _mm512_reduce_add_ps(a1);
    out[2] = _mm512_reduce_add_ps(a2);
    out[3] = _mm512_reduce_add_ps(a3);
}

/* Weight rows are unpacked QROWS at a time; each tile of 4 activation rows then meets all of
 * them while it is in L1, so the activations are read N / QROWS times, not N times. */
#define QROWS 8

static void worker(int t, void *arg) {
    const qjob_t *j = arg;
    int lo = (int)((long)j->N * t / j->nthreads), hi = (int)((long)j->N * (t + 1) / j->nthreads);
    int K = j->K;
    size_t ub = ((size_t)K + 63) & ~(size_t)63, gb = ((size_t)K / 16 * 4 + 63) & ~(size_t)63;
    qrow_t r[QROWS];
    for (int i = 0; i < QROWS; i++) {
        uint8_t *base = j->rowbuf + (size_t)t * j->rowbuf_stride + (size_t)i * (ub + 2 * gb);
        r[i] = (qrow_t){base, (float *)(base + ub), (float *)(base + ub + gb)};
    }
    for (int n0 = lo; n0 < hi; n0 += QROWS) {
        int nb = hi - n0 < QROWS ? hi - n0 : QROWS;
        for (int i = 0; i < nb; i++) {
            const uint8_t *w = j->w + (size_t)(n0 + i) * j->rb;
            if (j->isa > 0) unpack_row_avx2(&r[i], w, j->t, K, j->isa == 1);
            else unpack_row(&r[i], w, j->t, K, false);
        }
        for (int m0 = 0; m0 < j->M; m0 += 4)
            for (int i = 0; i < nb; i++) {
                float d[4];
                if (j->isa == 2) dot_vnni(j, &r[i], m0, d);
                else if (j->isa == 1) dot_avx2(j, &r[i], m0, d);
                else dot_plain(j, &r[i], m0, d);
                for (int k = 0; k < 4 && m0 + k < j->M; k++) {
                    float *o = j->y + (size_t)(m0 + k) * j->N + n0 + i;
                    *o = j->acc ? *o + d[k] : d[k];
                }
            }
    }
}

int matmul_q(float *y, const float *x, const wtensor_t *W, int M, bool accumulate) {
    KERN_ASSERT_WEIGHT(W);
    KERN_ASSERT(wtype_is_quant(W->type) && M >= 0 && (M == 0 || (x && y)));
    int N = (int)W->rows, K = (int)W->cols, Mp = (M + 3) & ~3, isa = kern_qisa();
    if (M == 0 || N == 0) return 0;
    if (isa >= 3 && matmul_qk_supports(W->type)) return matmul_qk(y, x, W, M, accumulate);
    int nt = kern_threads() < N ? kern_threads() : N;
    size_t xq = ((size_t)Mp * K + 63) & ~(size_t)63, xl = ((size_t)Mp * K / 4 * 4 + 63) & ~(size_t)63,
           xc = ((size_t)Mp * K / 16 * 4 + 63) & ~(size_t)63;
    size_t stride = QROWS * ((((size_t)K + 63) & ~(size_t)63) + 2 * (((size_t)K / 16 * 4 + 63) & ~(size_t)63));
    uint8_t *buf = kern_scratch(KERN_SCRATCH_QUANT, xq + xl + xc + (size_t)nt * stride);
    if (!buf) return -1;
    qjob_t j = {y,
                W->data,
                {(int8_t *)buf, (float *)(buf + xq), (float *)(buf + xq + xl)},
                buf + xq + xl + xc,
                stride,
                W->type,
                M,
                Mp,
                N,
                K,
                nt,
                isa > 2 ? 2 : isa,
                wtype_bytes(W->type, (size_t)K),
                accumulate};
    quant_act(x, M, Mp, K, &j.a);
    kern_parallel_for(nt, worker, &j);
    return 0;
}
