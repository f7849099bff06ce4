/* matmul_qk.c — y = x · Wᵀ for Q4_K, Q5_K, Q6_K and Q8_0 weights with llama.cpp's arithmetic: the
 * activations quantised once per call to int8 with one scale per super-block (256 values for
 * the K-quants, as ggml's q8_K; 32 for Q8_0), integer dot products per sub-block scaled by the
 * sub-block's integer scale in the integer domain, one float conversion per super-block
 * (reference: matmul_qk_ref below, plain C, the same arithmetic in double).
 *
 * Kernel (AVX512-VNNI): a register tile of QK_NR = 4 weight rows × 32 activation rows. The
 * activations are laid out in groups of 16 rows interleaved by 4 values ([group][k/4][16 rows]
 * [4 bytes]), so one VPDPBUSD multiplies 4 weights of one row — broadcast from memory as one
 * 32-bit word — with the same 4 positions of 16 activation rows: 64 multiply-adds per
 * instruction, with no per-lane float work. Per sub-block (32 weights for Q4_K / Q5_K / Q8_0, 16 for
 * Q6_K) the i32 sums of each (weight row, row group) are multiplied by the sub-block's integer
 * scale (VPMULLD) and added to a per-super-block i32 total; Q4_K's / Q5_K's mins and Q6_K's -32 offset come
 * from the activations' sums per sub-block, kept as i16 pairs so that one VPDPWSSD takes two
 * sub-blocks against the weights' i16 pairs of mins / 32·sc; Q8_0's unsigned shift (u = q + 128)
 * from the per-16 sums. Per super-block
 * the total is converted once and scaled by d_w·d_x. Weight rows are unpacked to bytes QK_NR at a
 * time into a per-thread buffer and meet every activation row while in L1; threads split the
 * weight rows. Errors: those of the int8 activations (one scale per super-block); |Δy| <=
 * Σ_superblocks amax/254 Σ|w| against the exact product.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <immintrin.h>
#include "quant.h"

#define QK_NR 4 /* weight rows per tile */
#define QK_G 16 /* activation rows per group (one zmm of i32 lanes) */

int matmul_qk_supports(wtype_t t) { return t == WT_Q4_K || t == WT_Q5_K || t == WT_Q6_K || t == WT_Q8_0; }

static int act_block(wtype_t t) { return t == WT_Q8_0 ? 32 : 256; }

/* Two values that fit in 16 bits as one i32 word of a VPDPWSSD operand (lo in the low half). */
static inline int32_t i16_pair(int lo, int hi) { return (int32_t)((uint32_t)(uint16_t)lo | (uint32_t)(uint16_t)hi << 16); }

/* Words per activation row in qk_act_t.bs (see there). */
static int bs_words(wtype_t t, int K) { return t == WT_Q4_K || t == WT_Q5_K ? K / 64 : K / 32; }

#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

/* An f16 in memory (little-endian) to float: VCVTPH2PS (IEEE half, subnormals included; the same
 * value as f16_to_f32). */
TGT static inline float h2f(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* One activation row to int8: per block of ab values dx = amax/127, q = round(x/dx). */
static void quant_row(const float *x, int K, int ab, int8_t *q, float *dx) {
    for (int b = 0; b < K; b += ab) {
        float amax = 0;
        for (int k = b; k < b + ab; k++) amax = fmaxf(amax, fabsf(x[k]));
        float d = amax / 127, id = d > 0 ? 1 / d : 0;
        for (int k = b; k < b + ab; k++) q[k] = (int8_t)lrintf(x[k] * id);
        dx[b / ab] = d;
    }
}

/* ---- plain reference: the same int8 activations, exact sums in double ---- */
void matmul_qk_ref(float *y, const float *x, const wtensor_t *W, int M, bool accumulate) {
    KERN_ASSERT_WEIGHT(W);
    KERN_ASSERT(matmul_qk_supports(W->type) && M >= 0 && (M == 0 || (x && y)));
    int N = (int)W->rows, K = (int)W->cols, ab = act_block(W->type);
    size_t rb = wtype_bytes(W->type, (size_t)K);
    float *w = malloc((size_t)K * sizeof *w), *dx = malloc((size_t)(K / ab + 1) * sizeof *dx);
    int8_t *q = malloc((size_t)K + 1);
    KERN_ASSERT(w && dx && q);
    for (int m = 0; m < M; m++) {
        quant_row(x + (size_t)m * K, K, ab, q, dx);
        for (int n = 0; n < N; n++) {
            dequant_ref(w, (const uint8_t *)W->data + (size_t)n * rb, W->type, (size_t)K);
            double s = 0;
            for (int b = 0; b < K; b += ab) {
                double sb = 0;
                for (int k = b; k < b + ab; k++) sb += (double)w[k] * q[k];
                s += sb * dx[b / ab];
            }
            float *o = y + (size_t)m * N + n;
            *o = (float)(accumulate ? *o + s : s);
        }
    }
    free(w);
    free(dx);
    free(q);
}

/* ---- the VNNI kernel ---- */

/* Activations of one call: Mp = M rounded up to QK_G rows, zero-padded. */
typedef struct {
    int8_t *xi;  /* [G][K/4][16][4] */
    float *dx;   /* [G][K/ab][16] */
    int32_t *bs; /* [G][bs_words][16]: Q8_0 -128 Σ q per 32 (i32); Q4_K / Q5_K Σ q per 32, Q6_K per 16,
                  * as i16 pairs (unit 2p low, 2p+1 high) for VPDPWSSD against the weights' pairs */
} qk_act_t;

/* One unpacked weight row. */
typedef struct {
    uint8_t *u;  /* [K] unsigned values (Q4_K nibble, Q5_K 5-bit q, Q6_K 6-bit q, Q8_0 q + 128) */
    int32_t *sc; /* per sub-block integer scale (Q4_K / Q5_K: 6-bit sc, Q6_K: int8 sc); */
    int32_t *mn; /* i16 pairs (unit 2p low, 2p+1 high) of the offset's weights: Q4_K / Q5_K the 6-bit
                  * mins of sub-blocks 2p, 2p+1; Q6_K 32·sc of groups 2p, 2p+1 */
    float *d;    /* per super-block d (Q8_0: per 32) */
    float *dm;   /* Q4_K / Q5_K: per super-block dmin */
} qk_row_t;

typedef struct {
    float *y;
    const uint8_t *w;
    qk_act_t a;
    uint8_t *rowbuf;
    size_t rowstride, rowbytes;
    wtype_t t;
    int M, G, N, K, nthreads;
    size_t rb;
    bool acc;
} qk_job_t;


TGT static void unpack(qk_row_t *r, const uint8_t *b, wtype_t t, int K) {
    if (t == WT_Q8_0) {
        const __m256i flip = _mm256_set1_epi8((char)0x80);
        for (int i = 0; i < K; i += 32, b += 34) {
            _mm256_storeu_si256((__m256i *)(r->u + i),
                                _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(b + 2)), flip));
            r->d[i / 32] = h2f(b);
        }
    } else if (t == WT_Q4_K || t == WT_Q5_K) {
        int q5 = t == WT_Q5_K;
        for (int i = 0; i < K; i += 256, b += q5 ? 176 : 144) {
            r->d[i / 256] = h2f(b);
            r->dm[i / 256] = h2f(b + 2);
            const uint8_t *s = b + 4;
            if (q5) q5k_unpack_avx2(r->u + i, b + 16, b + 48);
            else q4k_unpack_avx2(r->u + i, b + 16);
            /* the eight 6-bit scales and mins at once (q4k_scale_min's decoding, four words wide) */
            uint32_t u[4];
            memcpy(u, s, 12);
            u[3] = ((u[2] >> 4) & 0x0f0f0f0f) | ((u[1] >> 6) & 0x03030303) << 4;
            uint32_t mins_lo = u[1] & 0x3f3f3f3f;
            u[1] = (u[2] & 0x0f0f0f0f) | ((u[0] >> 6) & 0x03030303) << 4;
            u[2] = mins_lo;
            u[0] &= 0x3f3f3f3f;
            __m128i v = _mm_loadu_si128((const __m128i *)u); /* bytes 0..7 scales, 8..15 mins */
            _mm256_storeu_si256((__m256i *)(r->sc + i / 32), _mm256_cvtepu8_epi32(v));
            _mm_storeu_si128((__m128i *)(r->mn + i / 64), _mm_cvtepu8_epi16(_mm_srli_si128(v, 8)));
        }
    } else { /* Q6_K */
        for (int i = 0; i < K; i += 256, b += 210) {
            r->d[i / 256] = h2f(b + 208);
            const int8_t *sc = (const int8_t *)(b + 192);
            q6k_unpack_avx2(r->u + i, b);
            __m128i v = _mm_loadu_si128((const __m128i *)sc);
            _mm512_storeu_si512(r->sc + i / 16, _mm512_cvtepi8_epi32(v));
            _mm256_storeu_si256((__m256i *)(r->mn + i / 32), _mm256_slli_epi16(_mm256_cvtepi8_epi16(v), 5));
        }
    }
}

/* The tile's registers are spelled out (a compiler keeps arrays of vectors in memory when
 * they are indexed in loops): weight rows 0..3 (N0..N3), groups 0..1. */
#define FOR_N(X) X(0) X(1) X(2) X(3)

/* nk steps of 4 values from k4 on: a<n>_<g> += bytes of row n × 16 activation rows of group g. */
#define DOT_STEPS(nk) \
    _Pragma("GCC unroll 8") for (int s_ = 0; s_ < (nk); s_++, k4++) { \
        __m512i x0 = _mm512_loadu_si512(x0p + (size_t)k4 * 64); \
        __m512i x1 = MR > 1 ? _mm512_loadu_si512(x1p + (size_t)k4 * 64) : x0; \
        FOR_N(DOT1) \
    }
#define DOT1(n) \
    { \
        __m512i w = _mm512_set1_epi32(*(const int32_t *)(u##n + 4 * k4)); \
        a##n##_0 = _mm512_dpbusd_epi32(a##n##_0, w, x0); \
        if (MR > 1) a##n##_1 = _mm512_dpbusd_epi32(a##n##_1, w, x1); \
    }
#define ZERO_A(n) __m512i a##n##_0 = _mm512_setzero_si512(), a##n##_1 = a##n##_0;
#define ZERO_T(n) __m512i t##n##_0 = _mm512_setzero_si512(), t##n##_1 = t##n##_0;
/* t += a × the sub-block's integer scale */
#define SCALE(n) \
    { \
        __m512i sc = _mm512_set1_epi32(r[n].sc[si]); \
        t##n##_0 = _mm512_add_epi32(t##n##_0, _mm512_mullo_epi32(a##n##_0, sc)); \
        if (MR > 1) t##n##_1 = _mm512_add_epi32(t##n##_1, _mm512_mullo_epi32(a##n##_1, sc)); \
    }

/* One tile: QK_NR unpacked rows × MR (1 or 2) groups starting at group g0; f[n][g] += result. */
TGT static inline __attribute__((always_inline)) void tile(const qk_job_t *j, const qk_row_t *r, int g0, const int MR,
                                                           __m512 f[QK_NR][2]) {
    const int K = j->K, K4 = K / 4;
    const int8_t *x0p = j->a.xi + (size_t)g0 * K4 * 64, *x1p = x0p + (size_t)K4 * 64;
    const int nw = bs_words(j->t, K);
    const int32_t *bs0 = j->a.bs + (size_t)g0 * nw * QK_G, *bs1 = bs0 + (size_t)nw * QK_G;
    const int ab = act_block(j->t);
    const float *dx0 = j->a.dx + (size_t)g0 * (K / ab) * QK_G, *dx1 = dx0 + (size_t)(K / ab) * QK_G;
    const uint8_t *u0 = r[0].u, *u1 = r[1].u, *u2 = r[2].u, *u3 = r[3].u;
    const int kq = j->t == WT_Q4_K || j->t == WT_Q5_K; /* 8 sub-blocks of 32 with mins */
    int k4 = 0;
    for (int blk = 0; blk < K / ab; blk++) {
        __m512 dxv0 = _mm512_loadu_ps(dx0 + (size_t)blk * QK_G),
               dxv1 = MR > 1 ? _mm512_loadu_ps(dx1 + (size_t)blk * QK_G) : dxv0;
        __m512i tot[QK_NR][2], off[QK_NR][2];
        if (j->t == WT_Q8_0) { /* one sub-block of 32 = the super-block; u = q + 128 */
            /* the sums start from -128 Σx (the shift's correction), so they end as Σ q x */
            const __m512i c0 = _mm512_loadu_si512(bs0 + (size_t)blk * QK_G),
                          c1 = MR > 1 ? _mm512_loadu_si512(bs1 + (size_t)blk * QK_G) : c0;
#define INIT_A(n) __m512i a##n##_0 = c0, a##n##_1 = c1;
            FOR_N(INIT_A)
#undef INIT_A
            DOT_STEPS(8)
#define Q8OUT(n) \
    tot[n][0] = a##n##_0; \
    tot[n][1] = a##n##_1;
            FOR_N(Q8OUT)
#undef Q8OUT
            for (int n = 0; n < QK_NR; n++) {
                __m512 dw = _mm512_set1_ps(r[n].d[blk]);
                f[n][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(tot[n][0]), _mm512_mul_ps(dw, dxv0), f[n][0]);
                if (MR > 1) f[n][1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(tot[n][1]), _mm512_mul_ps(dw, dxv1), f[n][1]);
            }
            continue;
        }
        FOR_N(ZERO_T)
        if (kq) {
            for (int sb = 0; sb < 8; sb++) {
                FOR_N(ZERO_A)
                DOT_STEPS(8)
                int si = blk * 8 + sb;
                FOR_N(SCALE)
            }
        } else {
            for (int sb = 0; sb < 16; sb++) {
                FOR_N(ZERO_A)
                DOT_STEPS(4)
                int si = blk * 16 + sb;
                FOR_N(SCALE)
            }
        }
#define TOUT(n) \
    tot[n][0] = t##n##_0; \
    tot[n][1] = t##n##_1;
        FOR_N(TOUT)
#undef TOUT
        /* offsets: Q4_K / Q5_K Σ_j m_j Σx_j (scaled by dmin); Q6_K Σ_g 32 sc_g Σx_g (scaled by d):
         * one VPDPWSSD per pair of units (4 pairs per super-block for Q4_K / Q5_K, 8 for Q6_K) */
        const int np = kq ? 4 : 8;
        const int32_t *b0 = bs0 + (size_t)blk * np * QK_G, *b1 = bs1 + (size_t)blk * np * QK_G;
        for (int n = 0; n < QK_NR; n++) {
            __m512i o0 = _mm512_setzero_si512(), o1 = o0;
            for (int p = 0; p < np; p++) {
                __m512i mv = _mm512_set1_epi32(r[n].mn[blk * np + p]);
                o0 = _mm512_dpwssd_epi32(o0, mv, _mm512_loadu_si512(b0 + p * QK_G));
                if (MR > 1) o1 = _mm512_dpwssd_epi32(o1, mv, _mm512_loadu_si512(b1 + p * QK_G));
            }
            off[n][0] = o0;
            off[n][1] = o1;
        }
        for (int n = 0; n < QK_NR; n++) {
            __m512 dw = _mm512_set1_ps(r[n].d[blk]);
            if (kq) {
                __m512 dm = _mm512_set1_ps(r[n].dm[blk]);
                f[n][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(tot[n][0]), _mm512_mul_ps(dw, dxv0), f[n][0]);
                f[n][0] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(off[n][0]), _mm512_mul_ps(dm, dxv0), f[n][0]);
                if (MR > 1) {
                    f[n][1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(tot[n][1]), _mm512_mul_ps(dw, dxv1), f[n][1]);
                    f[n][1] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(off[n][1]), _mm512_mul_ps(dm, dxv1), f[n][1]);
                }
            } else {
                f[n][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(tot[n][0], off[n][0])),
                                          _mm512_mul_ps(dw, dxv0), f[n][0]);
                if (MR > 1)
                    f[n][1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(tot[n][1], off[n][1])),
                                              _mm512_mul_ps(dw, dxv1), f[n][1]);
            }
        }
    }
}

/* The finished tile f (QK_NR weight rows × mr groups of QK_G activation rows) into y: per
 * activation row, nb contiguous outputs (n0 .. n0+nb). */
TGT static void store_tile(const qk_job_t *j, __m512 f[QK_NR][2], int g, int mr, int n0, int nb) {
    float o[QK_NR][2 * QK_G];
    for (int n = 0; n < QK_NR; n++)
        for (int k = 0; k < mr; k++) _mm512_storeu_ps(o[n] + k * QK_G, f[n][k]);
    int m0 = g * QK_G, m1 = m0 + mr * QK_G < j->M ? m0 + mr * QK_G : j->M;
    for (int m = m0; m < m1; m++) {
        float *p = j->y + (size_t)m * j->N + n0;
        if (nb == QK_NR) {
            __m128 v = _mm_setr_ps(o[0][m - m0], o[1][m - m0], o[2][m - m0], o[3][m - m0]);
            _mm_storeu_ps(p, j->acc ? _mm_add_ps(_mm_loadu_ps(p), v) : v);
        } else
            for (int n = 0; n < nb; n++) p[n] = j->acc ? p[n] + o[n][m - m0] : o[n][m - m0];
    }
}

TGT static void worker(int t, void *arg) {
    const qk_job_t *j = arg;
    int tiles = (j->N + QK_NR - 1) / QK_NR;
    int lo = (int)((long)tiles * t / j->nthreads) * QK_NR, hi = (int)((long)tiles * (t + 1) / j->nthreads) * QK_NR;
    if (hi > j->N) hi = j->N;
    const int K = j->K;
    qk_row_t r[QK_NR];
    for (int i = 0; i < QK_NR; i++) {
        uint8_t *p = j->rowbuf + (size_t)t * j->rowstride + (size_t)i * j->rowbytes;
        size_t ub = ((size_t)K + 63) & ~(size_t)63, nb = ((size_t)K / 16 + 16) * 4;
        r[i] = (qk_row_t){p, (int32_t *)(p + ub), (int32_t *)(p + ub + nb), (float *)(p + ub + 2 * nb),
                          (float *)(p + ub + 3 * nb)};
    }
    for (int n0 = lo; n0 < hi; n0 += QK_NR) {
        int nb = hi - n0 < QK_NR ? hi - n0 : QK_NR;
        for (int i = 0; i < QK_NR; i++) /* a short last tile repeats its last row (not stored) */
            unpack(&r[i], j->w + (size_t)(n0 + (i < nb ? i : nb - 1)) * j->rb, j->t, K);
        /* the next tile's weight rows start streaming in while this one computes */
        if (n0 + QK_NR < hi) {
            const char *p = (const char *)(j->w + (size_t)(n0 + QK_NR) * j->rb);
            size_t len = (size_t)(hi - n0 - QK_NR < QK_NR ? hi - n0 - QK_NR : QK_NR) * j->rb;
            for (size_t o = 0; o < len; o += 64) _mm_prefetch(p + o, _MM_HINT_T1);
        }
        for (int g = 0; g < j->G;) {
            __m512 f[QK_NR][2];
            for (int n = 0; n < QK_NR; n++) f[n][0] = f[n][1] = _mm512_setzero_ps();
            int mr = j->G - g >= 2 ? 2 : 1;
            if (mr == 2) tile(j, r, g, 2, f);
            else tile(j, r, g, 1, f);
            store_tile(j, f, g, mr, n0, nb);
            g += mr;
        }
    }
}

/* Activations into the interleaved layout (once per call): each row to int8 per block
 * (quant_block, the reference's rounding), its 4-byte words spread to their slots of the group,
 * dx per block, the sums of bs (per 16 from SAD of the bytes flipped to unsigned, less 16 · 128). */
TGT static void prep_act(const float *x, int M, int G, int K, wtype_t t, qk_act_t *a, int8_t *q, float *dx) {
    const int ab = act_block(t);
    memset(a->xi, 0, (size_t)G * QK_G * K);
    memset(a->dx, 0, (size_t)G * QK_G * (K / ab) * sizeof(float));
    const int nw = bs_words(t, K);
    memset(a->bs, 0, (size_t)G * QK_G * nw * sizeof(int32_t));
    const __m128i flip = _mm_set1_epi8((char)0x80);
    for (int m = 0; m < M; m++) {
        int g = m / QK_G, i = m % QK_G;
        for (int b = 0; b < K; b += ab) dx[b / ab] = quant_block(x + (size_t)m * K + b, ab, q + b);
        int32_t *xi = (int32_t *)(a->xi + (size_t)g * QK_G * K) + i;
        for (int k4 = 0; k4 < K / 4; k4++) {
            int32_t w;
            memcpy(&w, q + 4 * k4, 4);
            xi[(size_t)k4 * QK_G] = w;
        }
        for (int b = 0; b < K / ab; b++) a->dx[((size_t)g * (K / ab) + b) * QK_G + i] = dx[b];
        int32_t *bs = a->bs + (size_t)g * nw * QK_G + i;
        int per = t == WT_Q4_K || t == WT_Q5_K ? 4 : 2; /* sums of 16 per word */
        for (int w = 0; w < nw; w++) {
            int s16[4];
            for (int h = 0; h < per; h++) {
                __m128i v = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(q + 16 * (w * per + h))), flip);
                __m128i sad = _mm_sad_epu8(v, _mm_setzero_si128());
                s16[h] = _mm_cvtsi128_si32(sad) + _mm_extract_epi32(sad, 2) - 16 * 128;
            }
            bs[(size_t)w * QK_G] = t == WT_Q8_0 ? -128 * (s16[0] + s16[1])
                                   : per == 2  ? i16_pair(s16[0], s16[1])
                                               : i16_pair(s16[0] + s16[1], s16[2] + s16[3]);
        }
    }
}

int matmul_qk(float *y, const float *x, const wtensor_t *W, int M, bool accumulate) {
    KERN_ASSERT_WEIGHT(W);
    KERN_ASSERT(matmul_qk_supports(W->type) && M >= 0 && (M == 0 || (x && y)));
    int N = (int)W->rows, K = (int)W->cols, ab = act_block(W->type);
    if (M == 0 || N == 0) return 0;
    if (matmul_qk_rows_supports(W->type, M, K)) return matmul_qk_rows(y, x, W, M, accumulate);
    int G = (M + QK_G - 1) / QK_G, tiles = (N + QK_NR - 1) / QK_NR;
    int nt = kern_threads() < tiles ? kern_threads() : tiles;
    size_t xi = ((size_t)G * QK_G * K + 63) & ~(size_t)63, dx = ((size_t)G * QK_G * (K / ab) * 4 + 63) & ~(size_t)63,
           bs = ((size_t)G * QK_G * (K / 16) * 4 + 63) & ~(size_t)63, tmp = (size_t)K + (size_t)K / 32 * 4 + 128;
    size_t rowbytes = (((size_t)K + 63) & ~(size_t)63) + 4 * ((size_t)K / 16 + 16) * 4;
    size_t rowstride = QK_NR * rowbytes;
    uint8_t *buf = kern_scratch(KERN_SCRATCH_QUANT, xi + dx + bs + tmp + (size_t)nt * rowstride);
    if (!buf) return -1;
    qk_job_t j = {y,
                  W->data,
                  {(int8_t *)buf, (float *)(buf + xi), (int32_t *)(buf + xi + dx)},
                  buf + xi + dx + bs + tmp,
                  rowstride,
                  rowbytes,
                  W->type,
                  M,
                  G,
                  N,
                  K,
                  nt,
                  wtype_bytes(W->type, (size_t)K),
                  accumulate};
    prep_act(x, M, G, K, W->type, &j.a, (int8_t *)(buf + xi + dx + bs),
             (float *)(buf + xi + dx + bs + ((size_t)K + 63) / 64 * 64));
    kern_parallel_for(nt, worker, &j);
    return 0;
}
