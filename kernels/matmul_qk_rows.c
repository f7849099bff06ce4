/* matmul_qk_rows.c — y = x · Wᵀ for Q4_K, Q5_K, Q6_K and Q8_0 weights at 1 to QK_ROWS_MAX activation rows
 * (decoding a few tokens), where matmul_qk's 16-row register tile would spend as long on one row
 * as on sixteen (bench/roofline.sh). Same arithmetic as matmul_qk and its reference
 * matmul_qk_ref: the activations to int8 with one scale per 256 values (Q8_0: 32), integer sums
 * per sub-block, the sub-block scales, mins / offsets from per-sub-block activation sums.
 *
 * Two variants (matmul_qk_set_rows; both tested against matmul_qk_ref):
 *   2 (the default) — "variant 2" below: every weight zmm uses the same lane -> sub-block map, so
 *     per row and super-block all VPDPBUSD go into one accumulator and the scales are one float
 *     multiply per lane; loops unrolled so the accumulators stay in registers; weight lines
 *     prefetched. docs/gguf.md's roofline: 0.8-0.9 of the streaming read at 2 rows, ~0.6 at 4.
 *   1 — the first rows kernels, kept as the benchmarks' "before": each weight super-block read
 *     once, straight from the mapped file: its 128 quant bytes as two zmm, nibbles split with
 *     AND / shift into four zmm of 64 unsigned values (low nibbles of bytes 0..63 are values
 *     0..31 and 64..95, high nibbles 32..63 and 96..127; the second zmm likewise + 128); the
 *     activations laid out once per call in that order, so one VPDPBUSD multiplies 64 weights by
 *     64 activations of one row, 16 i32 lanes holding two sub-blocks. Q5_K adds each value's
 *     fifth bit: qh's 32 bytes broadcast to both halves of a zmm, bit j of qh[l] (sub-block j's
 *     value l) tested per byte (VPTESTMB against 1 << j, a different j in each half) and 16
 *     added where set. The eight 6-bit scales decoded with 32-bit masks and spread to the lanes
 *     (VPERMD); per row the lane sums multiplied by them (VPMULLD) and converted once per
 *     super-block, the mins' term Σ m_j Σx_j likewise on eight lanes. Q8_0: two blocks per zmm,
 *     |w| against the activations negated where w < 0. Q6_K: rows_q6's comment. (Its f16 scales
 *     go through the out-of-line f16_to_f32, so every live zmm is spilled twice per super-block,
 *     and its per-row loops are not unrolled: accumulators in memory; both left as they were.)
 * Threads split the weight rows.
 */
#include <math.h>
#include <string.h>
#include <immintrin.h>
#include "quant.h"

#define TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

typedef struct {
    float *y;
    const uint8_t *w;
    const int8_t *xa;  /* [M][K] int8 activations (Q4_K / Q5_K: each 256 in the nibble order above) */
    const float *dx;   /* K-quants: [M][K/256]; Q8_0: [M][K/4], each 32-block's scale on its 8 lanes */
    const int32_t *bs; /* Q4_K / Q5_K: [M][K/32] Σ q per 32 values (natural order); Q6_K per 16 */
    int M, N, K, nthreads;
    size_t rb;
    wtype_t t;
    bool acc;
} qr_job_t;

/* The 6-bit scales (sc) and mins (mn) of a Q4_K block's 12 scale bytes, 8 bytes each (the layout
 * of quant.h: j < 4 low 6 bits of s[j] / s[j+4]; j >= 4 the nibbles of s[j+4] with the top two
 * bits of s[j-4] / s[j]). */
static inline void q4k_scales8(const uint8_t *s, uint64_t *sc, uint64_t *mn) {
    uint32_t w0, w1, w2;
    memcpy(&w0, s, 4);
    memcpy(&w1, s + 4, 4);
    memcpy(&w2, s + 8, 4);
    uint32_t s_lo = w0 & 0x3f3f3f3fu, m_lo = w1 & 0x3f3f3f3fu;
    uint32_t s_hi = (w2 & 0x0f0f0f0fu) | ((w0 >> 6) & 0x03030303u) << 4;
    uint32_t m_hi = ((w2 >> 4) & 0x0f0f0f0fu) | ((w1 >> 6) & 0x03030303u) << 4;
    *sc = s_lo | (uint64_t)s_hi << 32;
    *mn = m_lo | (uint64_t)m_hi << 32;
}

/* The same as bytes [sc_0..sc_7, m_0..m_7] with vector operations (s: the 12 scale bytes and 4
 * more that are read and ignored): bytes 0-3 / 8-11 s[j] / s[j+4] & 63; bytes 4-7 / 12-15 the low /
 * high nibble of s[j+4] with the top two bits of s[j-4] / s[j] above. */
TGT static inline __m128i q4k_scales16(const uint8_t *s) {
    __m128i v = _mm_loadu_si128((const __m128i *)s);
    __m128i t1 = _mm_shuffle_epi8(v, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11)),
            t2 = _mm_shuffle_epi8(v, _mm_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7));
    __m128i lo = _mm_and_si128(_mm_srlv_epi32(t1, _mm_setr_epi32(0, 0, 0, 4)),
                               _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
    return _mm_or_si128(lo, _mm_and_si128(_mm_srli_epi16(t2, 2), _mm_set1_epi8(0x30)));
}

/* The horizontal sum of v into y[m][n] (+= with accumulate). */
TGT static inline void put(const qr_job_t *j, int m, int n, __m256 h) {
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    float v = _mm_cvtss_f32(q), *o = j->y + (size_t)m * j->N + n;
    *o = j->acc ? *o + v : v;
}
#define HALVES(v) _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)))

/* Q4_K (q5 0, 144-byte blocks) and Q5_K (q5 1, 176-byte blocks: qh at 16, qs at 48). */
TGT static inline __attribute__((always_inline)) void rows_q4k(const qr_job_t *j, int n, const int MR, const int q5) {
    const int K = j->K, nb = K / 256, bb = q5 ? 176 : 144, qo = q5 ? 48 : 16;
    const uint8_t *b = j->w + (size_t)n * j->rb;
    const __m512i m4 = _mm512_set1_epi8(15);
    const __m512i i0 = _mm512_set_epi32(2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0),
                  i1 = _mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),
                  i2 = _mm512_set_epi32(6, 6, 6, 6, 6, 6, 6, 6, 4, 4, 4, 4, 4, 4, 4, 4),
                  i3 = _mm512_set_epi32(7, 7, 7, 7, 7, 7, 7, 7, 5, 5, 5, 5, 5, 5, 5, 5);
    /* Q5_K: the qh bit of each value's sub-block, per half (l0: sub-blocks 0 | 2, h0: 1 | 3, l1: 4 | 6,
     * h1: 5 | 7) */
    const __m512i p0 = _mm512_inserti64x4(_mm512_set1_epi8(1), _mm256_set1_epi8(4), 1), sixteen = _mm512_set1_epi8(16);
    __m512 fa[QK_ROWS_MAX];
    __m256 fm[QK_ROWS_MAX];
    for (int m = 0; m < MR; m++) {
        fa[m] = _mm512_setzero_ps();
        fm[m] = _mm256_setzero_ps();
    }
    for (int blk = 0; blk < nb; blk++, b += bb) {
        float d = f16_to_f32((uint16_t)(b[0] | b[1] << 8)), dmin = f16_to_f32((uint16_t)(b[2] | b[3] << 8));
        uint64_t sc, mn;
        q4k_scales8(b + 4, &sc, &mn);
        __m512i scv = _mm512_cvtepu8_epi32(_mm_cvtsi64_si128((long long)sc));
        __m512i s0 = _mm512_permutexvar_epi32(i0, scv), s1 = _mm512_permutexvar_epi32(i1, scv),
                s2 = _mm512_permutexvar_epi32(i2, scv), s3 = _mm512_permutexvar_epi32(i3, scv);
        __m256i mnv = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)mn));
        __m512i q0 = _mm512_loadu_si512(b + qo), q1 = _mm512_loadu_si512(b + qo + 64);
        __m512i l0 = _mm512_and_si512(q0, m4), h0 = _mm512_and_si512(_mm512_srli_epi16(q0, 4), m4),
                l1 = _mm512_and_si512(q1, m4), h1 = _mm512_and_si512(_mm512_srli_epi16(q1, 4), m4);
        if (q5) {
            __m512i H = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(b + 16)));
            l0 = _mm512_mask_add_epi8(l0, _mm512_test_epi8_mask(H, p0), l0, sixteen);
            h0 = _mm512_mask_add_epi8(h0, _mm512_test_epi8_mask(H, _mm512_add_epi8(p0, p0)), h0, sixteen);
            l1 = _mm512_mask_add_epi8(l1, _mm512_test_epi8_mask(H, _mm512_slli_epi16(p0, 4)), l1, sixteen);
            h1 = _mm512_mask_add_epi8(h1, _mm512_test_epi8_mask(H, _mm512_slli_epi16(p0, 5)), h1, sixteen);
        }
        for (int m = 0; m < MR; m++) {
            const int8_t *xa = j->xa + (size_t)m * K + (size_t)blk * 256;
            const __m512i z = _mm512_setzero_si512();
            __m512i t = _mm512_mullo_epi32(_mm512_dpbusd_epi32(z, l0, _mm512_loadu_si512(xa)), s0);
            t = _mm512_add_epi32(t, _mm512_mullo_epi32(_mm512_dpbusd_epi32(z, h0, _mm512_loadu_si512(xa + 64)), s1));
            t = _mm512_add_epi32(t, _mm512_mullo_epi32(_mm512_dpbusd_epi32(z, l1, _mm512_loadu_si512(xa + 128)), s2));
            t = _mm512_add_epi32(t, _mm512_mullo_epi32(_mm512_dpbusd_epi32(z, h1, _mm512_loadu_si512(xa + 192)), s3));
            float dx = j->dx[(size_t)m * nb + blk];
            fa[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(t), _mm512_set1_ps(d * dx), fa[m]);
            __m256i o = _mm256_mullo_epi32(mnv, _mm256_loadu_si256((const __m256i *)(j->bs + (size_t)m * (K / 32) + blk * 8)));
            fm[m] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(o), _mm256_set1_ps(dmin * dx), fm[m]);
        }
    }
    for (int m = 0; m < MR; m++) put(j, m, n, _mm256_sub_ps(HALVES(fa[m]), fm[m]));
}


/* Q8_0, two 34-byte blocks per zmm: |w| as the unsigned operand and the activations negated where
 * w < 0 (so VPDPBUSD sums w·x exactly; |-128| = 128 fits u8), lanes 0-7 block A, 8-15 block B,
 * scaled by d_w · dx per lane. K % 64 == 0. */
TGT static inline __attribute__((always_inline)) void rows_q8(const qr_job_t *j, int n, const int MR) {
    const int K = j->K;
    const uint8_t *b = j->w + (size_t)n * j->rb;
    __m512 fa[QK_ROWS_MAX];
    for (int m = 0; m < MR; m++) fa[m] = _mm512_setzero_ps();
    const __m512i z = _mm512_setzero_si512();
    for (int p = 0; p < K / 64; p++, b += 68) {
        __m512i w = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(b + 2))),
                                       _mm256_loadu_si256((const __m256i *)(b + 36)), 1);
        __m512i aw = _mm512_abs_epi8(w);
        __mmask64 neg = _mm512_movepi8_mask(w);
        __m512 dw = _mm512_mask_blend_ps((__mmask16)0xff00, _mm512_set1_ps(_cvtsh_ss((uint16_t)(b[0] | b[1] << 8))),
                                         _mm512_set1_ps(_cvtsh_ss((uint16_t)(b[34] | b[35] << 8))));
        for (int m = 0; m < MR; m++) {
            __m512i x = _mm512_loadu_si512(j->xa + (size_t)m * K + 64 * p);
            __m512i dot = _mm512_dpbusd_epi32(z, aw, _mm512_mask_sub_epi8(x, neg, z, x));
            __m512 sc = _mm512_mul_ps(dw, _mm512_loadu_ps(j->dx + (size_t)m * (K / 4) + 16 * p));
            fa[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), sc, fa[m]);
        }
    }
    for (int m = 0; m < MR; m++) put(j, m, n, HALVES(fa[m]));
}

/* Q6_K: per 128-value half, ql's 64 bytes and qh's 32 give values 0..63 (low nibbles | qh bits
 * 0-1 / 2-3 << 4) and 64..127 (high nibbles | qh bits 4-5 / 6-7 << 4) in natural order, as four
 * lanes per 16-value group; lane sums × the group's int8 scale, the -32 offset from per-16
 * activation sums (Σ_g 32 sc_g Σx_g). */
TGT static inline __attribute__((always_inline)) void rows_q6(const qr_job_t *j, int n, const int MR) {
    const int K = j->K, nb = K / 256;
    const uint8_t *b = j->w + (size_t)n * j->rb;
    const __m512i m4 = _mm512_set1_epi8(15), m2 = _mm512_set1_epi8(3);
    const __m512i ix0 = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0), four = _mm512_set1_epi32(4);
    __m512 fa[QK_ROWS_MAX];
    for (int m = 0; m < MR; m++) fa[m] = _mm512_setzero_ps();
    for (int blk = 0; blk < nb; blk++, b += 210) {
        float d = _cvtsh_ss((uint16_t)(b[208] | b[209] << 8));
        __m512i sc = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b + 192)));
        __m512i u[4], s[4];
        for (int h = 0; h < 2; h++) {
            __m512i L = _mm512_loadu_si512(b + 64 * h);
            __m256i qh = _mm256_loadu_si256((const __m256i *)(b + 128 + 32 * h));
            __m512i H = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
            u[2 * h] = _mm512_or_si512(_mm512_and_si512(L, m4), _mm512_slli_epi16(_mm512_and_si512(H, m2), 4));
            u[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(L, 4), m4),
                                           _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(H, 4), m2), 4));
        }
        __m512i ix = ix0;
        for (int c = 0; c < 4; c++, ix = _mm512_add_epi32(ix, four)) s[c] = _mm512_permutexvar_epi32(ix, sc);
        for (int m = 0; m < MR; m++) {
            const int8_t *xa = j->xa + (size_t)m * K + (size_t)blk * 256;
            const __m512i z = _mm512_setzero_si512();
            __m512i t = _mm512_mullo_epi32(_mm512_dpbusd_epi32(z, u[0], _mm512_loadu_si512(xa)), s[0]);
            t = _mm512_add_epi32(t, _mm512_mullo_epi32(_mm512_dpbusd_epi32(z, u[1], _mm512_loadu_si512(xa + 64)), s[1]));
            t = _mm512_add_epi32(t, _mm512_mullo_epi32(_mm512_dpbusd_epi32(z, u[2], _mm512_loadu_si512(xa + 128)), s[2]));
            t = _mm512_add_epi32(t, _mm512_mullo_epi32(_mm512_dpbusd_epi32(z, u[3], _mm512_loadu_si512(xa + 192)), s[3]));
            __m512i off = _mm512_mullo_epi32(sc, _mm512_loadu_si512(j->bs + (size_t)m * (K / 16) + blk * 16));
            t = _mm512_sub_epi32(t, _mm512_slli_epi32(off, 5));
            fa[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(t), _mm512_set1_ps(d * j->dx[(size_t)m * nb + blk]), fa[m]);
        }
    }
    for (int m = 0; m < MR; m++) put(j, m, n, HALVES(fa[m]));
}

#define rows_q4(j, n, MR) rows_q4k(j, n, MR, 0)
#define rows_q5(j, n, MR) rows_q4k(j, n, MR, 1)
#define ROWS_BY_M(fn)                   \
    switch (j->M) {                     \
    case 1: fn(j, n, 1); break;         \
    case 2: fn(j, n, 2); break;         \
    case 3: fn(j, n, 3); break;         \
    case 4: fn(j, n, 4); break;         \
    case 5: fn(j, n, 5); break;         \
    case 6: fn(j, n, 6); break;         \
    case 7: fn(j, n, 7); break;         \
    default: fn(j, n, 8); break;        \
    }

TGT static void worker1(int t, void *arg) {
    const qr_job_t *j = arg;
    int lo = (int)((long)j->N * t / j->nthreads), hi = (int)((long)j->N * (t + 1) / j->nthreads);
    for (int n = lo; n < hi; n++) {
        if (j->t == WT_Q4_K) ROWS_BY_M(rows_q4)
        else if (j->t == WT_Q5_K) ROWS_BY_M(rows_q5)
        else if (j->t == WT_Q6_K) ROWS_BY_M(rows_q6)
        else ROWS_BY_M(rows_q8)
    }
}

/* The first rows kernels (variant 1): activations, then worker1. */
static int rows1_run(float *y, const float *x, const wtensor_t *W, int M, bool accumulate) {
    /* q4: Q4_K or Q5_K (the same activation layout) */
    int N = (int)W->rows, K = (int)W->cols, q4 = W->type == WT_Q4_K || W->type == WT_Q5_K, q6 = W->type == WT_Q6_K;
    if (N == 0) return 0;
    size_t nd = q4 || q6 ? (size_t)K / 256 : (size_t)K / 4; /* scales per row */
    size_t xa = ((size_t)M * K + 63) & ~(size_t)63, dx = ((size_t)M * nd * 4 + 63) & ~(size_t)63,
           bs = (size_t)M * (K / 16) * 4 + 64;
    uint8_t *buf = kern_scratch(KERN_SCRATCH_QUANT, xa + dx + bs + (size_t)K);
    if (!buf) return -1;
    int8_t *xi = (int8_t *)buf, *q = (int8_t *)(buf + xa + dx + bs);
    float *dxv = (float *)(buf + xa);
    int32_t *bsv = (int32_t *)(buf + xa + dx);
    int ab = q4 || q6 ? 256 : 32; /* matmul_qk's activation blocks */
    for (int m = 0; m < M; m++) { /* int8 per ab values (amax / 127, round to nearest) */
        const float *xr = x + (size_t)m * K;
        for (int b = 0; b < K; b += ab) {
            float amax = 0;
            for (int k = b; k < b + ab; k++) amax = fmaxf(amax, fabsf(xr[k]));
            float d = amax / 127, id = d > 0 ? 1 / d : 0;
            for (int k = b; k < b + ab; k++) q[k] = (int8_t)lrintf(xr[k] * id);
            int8_t *o = xi + (size_t)m * K + b;
            if (!q4 && !q6) { /* Q8_0: natural order, the scale on the block's 8 lanes */
                memcpy(o, q + b, 32);
                for (int l = 0; l < 8; l++) dxv[(size_t)m * nd + b / 4 + l] = d;
                continue;
            }
            if (q6) { /* natural order, Σ q per 16 */
                memcpy(o, q + b, 256);
                dxv[(size_t)m * nd + b / 256] = d;
                for (int g = 0; g < 16; g++) {
                    int sum = 0;
                    for (int k = b + 16 * g; k < b + 16 * g + 16; k++) sum += q[k];
                    bsv[(size_t)m * (K / 16) + (b + 16 * g) / 16] = sum;
                }
                continue;
            }
            dxv[(size_t)m * nd + b / 256] = d;
            /* zmm c of the weights holds values (c/2)*128 + [0..32) + 32*(c&1) and + 64 */
            for (int c = 0; c < 4; c++) {
                int v0 = b + (c / 2) * 128 + 32 * (c & 1);
                memcpy(o + 64 * c, q + v0, 32);
                memcpy(o + 64 * c + 32, q + v0 + 64, 32);
            }
            for (int s = 0; s < 8; s++) {
                int sum = 0;
                for (int k = b + 32 * s; k < b + 32 * s + 32; k++) sum += q[k];
                bsv[(size_t)m * (K / 32) + (b + 32 * s) / 32] = sum;
            }
        }
    }
    int nt = kern_threads() < N ? kern_threads() : N;
    qr_job_t j = {y, W->data, xi, dxv, bsv, M, N, K, nt, wtype_bytes(W->type, (size_t)K), W->type, accumulate};
    kern_parallel_for(nt, worker1, &j);
    return 0;
}

/* ---- variant 2 (the default): one accumulator per row and super-block ----
 *
 * The weights are unpacked into zmm whose lanes all map to sub-blocks the same way (Q4_K / Q5_K:
 * two super-blocks per step, lane j / 8+j = sub-block j of the first / second, 4 values of it per
 * zmm, 8 zmm; Q6_K: lane g = group g, 4 values per zmm, 4 zmm; Q8_0: lanes 4b..4b+3 = block b of
 * four, 2 zmm), the activations laid out to match once per call (vectorised quantisation). So per
 * row the VPDPBUSD of a step accumulate into one register, and the sub-block scales are applied
 * in float to that one sum: cvt, × d·sc per lane (computed once per weight block), FMA × dx —
 * no VPMULLD, no integer adds. The mins (Q4_K / Q5_K: -dmin·m_j; Q6_K: -32·d·sc_g) are one FMA
 * against dx·Σx per sub-block, a float vector prepared with the activations. The per-row loops
 * are unrolled (#pragma GCC unroll: without it GCC -O2 kept the accumulator arrays in memory,
 * which cost more than everything else), rows interleaved per super-block in the activation
 * buffers so one pointer serves them all. Q8_0: rows2_q8's comment. */

/* Weight lines are prefetched to L1 QR_PF_FEW bytes ahead at 1-4 rows, QR_PF above. The distance
 * must cover the memory latency: at 1 row a pair of Q4_K super-blocks takes ~12 ns, so 2 KB ahead
 * was ~90 ns, short of a DRAM miss; 8 KB measured 0.83-0.87x the time at 1 row and 0.84-0.87x at 4
 * rows of Q6_K / Q8_0 with weights beyond the L3 (65536 x 4096 Q4_K, 151 MB), the same at 2 rows.
 * At 8 rows 2048 measured best (the activations take most of the L1; 1024 and 4096 slower there). */
#define QR_PF 2048
#define QR_PF_FEW 8192
#define QR_PREFETCH(p, n)                                                                                          \
    do {                                                                                                           \
        if (j->pf2) {                                                                                              \
            _Pragma("GCC unroll 8") for (int o_ = 0; o_ < (n); o_ += 64) _mm_prefetch((const char *)(p) + j->pf2 + o_, _MM_HINT_T1); \
            _Pragma("GCC unroll 8") for (int o_ = 0; o_ < (n); o_ += 64) _mm_prefetch((const char *)(p) + 512 + o_, _MM_HINT_T0); \
        } else {                                                                                                   \
            _Pragma("GCC unroll 8") for (int o_ = 0; o_ < (n); o_ += 64) _mm_prefetch((const char *)(p) + j->pf + o_, _MM_HINT_T0); \
        }                                                                                                          \
    } while (0)
/* The rows' activations of a piece of K stay in the L1 (48 KB, shared with the weight lines passing
 * through): K is cut into pieces of at most QR_XBYTES activation bytes (M x piece; 8 rows: 2048
 * values), each weight row's pieces taken in turn within a block of QR_NB rows (so the weights
 * are still read from a small window), the next block prefetched to L2 while one is computed and
 * the lines 512 bytes ahead to L1.
 * At 4 and 8 rows of 4096 x 12288 this measured 2x faster than K whole (activations 48 / 96 KB). */
#define QR_XBYTES 16384
#define QR_NB 16
/* Q8_0 above QR_Q8_M rows keeps the first round's schedule: pieces of QR_Q8_KCHUNK values, each
 * over all of the thread's rows, lines prefetched to L1 3 rows ahead. The blocks of 16 rows with
 * the L2 prefetch measured 1.15-1.25x slower there at 8 rows (and blocks of 64 with the 3-row
 * prefetch 1.2x); at 2-4 rows Q8_0 takes the schedule above (4 x 4096 x 12288: 0.75x K whole). */
#define QR_Q8_KCHUNK 2048
#define QR_Q8_M 4
/* Q8_0 at 3-4 rows: each block's dx stored on its four lanes (16 floats per group and row), so no
 * VPERMPS per row and group: 0.95x / 0.97x the time at 4 / 3 rows (1 thread, 32768 x 4096 in
 * DRAM, same-run medians of 7 rounds), but 1.07x at 1 row and 1.01x at 2, which keep 4 floats */
#define QR_Q8_DX16(M) ((M) >= 3 && (M) <= QR_Q8_M)

typedef struct {
    float *y;
    const uint8_t *w;
    /* row-interleaved per super-block (Q8_0: per group of 128), so one pointer serves all rows: */
    const uint8_t *xa; /* Q6_K [K/256][M][256] activations in the kernel's order; Q4_K / Q5_K per pair of
                          super-blocks [K/512][M][512]; Q8_0 [Kp/128][M][128], q + 128 */
    const float *dx;   /* Q6_K [K/256][M]; Q4_K / Q5_K [K/512][M][16]: dx_A on lanes 0-7, dx_B 8-15; Q8_0
                          [Kp/128][M][4]: the group's four block scales ([16], each on its 4 lanes,
                          where QR_Q8_DX16(M)) */
    const float *bsf;  /* Q4_K / Q5_K: dx·Σq per sub-block, [K/512][M][16] (lanes j, 8+j: sub-block j of A, B) */
    const int32_t *bsi; /* Q6_K: -32·Σq per group, [K/256][M][16] (lane g); the same buffer as bsf */
    int M, N, K, Kp, nthreads;
    size_t rb;
    wtype_t t;
    bool acc;
    int k0, k1;  /* the piece of K this pass covers (worker2 sets them) */
    size_t pf;   /* prefetch distance to L1 (K whole): QR_PF */
    size_t pf2;  /* K in pieces: prefetch to L2 this far ahead (the next block of rows), instead */
} qr2_job_t;

TGT static inline void put2(const qr2_job_t *j, int m, int n, __m512 v) {
    float s = _mm512_reduce_add_ps(v), *o = j->y + (size_t)m * j->N + n;
    *o = j->acc ? *o + s : s;
}

/* Q4_K (q5 0) / Q5_K (q5 1), two super-blocks A, B at a time (a zero block after an odd last one):
 * zmm c (0..7), lane j = A's sub-block j, lane 8+j = B's, values 4c..4c+3 of it: the qs dword
 * 8(j/2)+c, low nibble for even j, high for odd. Per c < 4 one two-source dword permute of A's
 * 128 quant bytes gives zmm c's lanes (low 256 bits) and zmm c+4's (high), the same of B's, two
 * 128-bit-lane shuffles put A's and B's halves together, then an AND. Q4_K keeps the odd
 * sub-blocks' high nibbles in place (the AND takes 0x0f on even lanes, 0xf0 on odd: 16x the value,
 * at most 32 x 240 x 128 per lane, exact in int32 and in the float it converts to) and gives their
 * scales a factor 1/16 (a power of two: the product rounds as before, so results are unchanged);
 * that saves a shift per zmm, 0.94x the time at 4 rows (1 thread, weights beyond the L3; 1, 2 and
 * 8 rows within the noise). Q5_K shifts per lane (0 / 4) before the AND, since its fifth bit adds
 * 16: qh dword c of A (lanes 0-7) and of B (8-15), bit j of each byte tested per lane
 * (VPTESTMB) and 16 added where set. So every lane holds one sub-block: per row and pair of
 * super-blocks 8 VPDPBUSD into one accumulator, one cvt, one × d·sc, one FMA × dx (per half, from
 * memory) and one FMA for the mins. */
static const uint8_t QR_ZERO_BLOCK[176];

/* The 128 quant bytes of pair p's blocks A and B (B: a zero block after an odd last A) as four zmm;
 * b: A's block. */
TGT static inline __attribute__((always_inline)) void q4k_pair_quants(const uint8_t *b, int p, int nb, int bb, int qo,
                                                                       __m512i q[4]) {
    const uint8_t *c2 = 2 * p + 1 < nb ? b + bb : QR_ZERO_BLOCK;
    q[0] = _mm512_loadu_si512(b + qo);
    q[1] = _mm512_loadu_si512(b + qo + 64);
    q[2] = _mm512_loadu_si512(c2 + qo);
    q[3] = _mm512_loadu_si512(c2 + qo + 64);
}

TGT static inline __attribute__((always_inline)) void rows2_q4k(const qr2_job_t *j, int n, const int MR, const int q5) {
    const int nb = j->K / 256, bb = q5 ? 176 : 144, qo = q5 ? 48 : 16;
    const uint8_t *b = j->w + (size_t)n * j->rb + (size_t)(j->k0 / 256) * bb;
    const __m512i idd = _mm512_set_epi32(2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m256i ssh1 = _mm256_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11),
                  ssh2 = _mm256_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7, -1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7),
                  ssr = _mm256_setr_epi32(0, 0, 0, 4, 0, 0, 0, 4),
                  smk = _mm256_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f);
    const __m512i mlane = _mm512_set_epi32(0xf0f0f0f0, 0x0f0f0f0f, 0xf0f0f0f0, 0x0f0f0f0f, 0xf0f0f0f0, 0x0f0f0f0f, 0xf0f0f0f0, 0x0f0f0f0f,
                                           0xf0f0f0f0, 0x0f0f0f0f, 0xf0f0f0f0, 0x0f0f0f0f, 0xf0f0f0f0, 0x0f0f0f0f, 0xf0f0f0f0, 0x0f0f0f0f);
    const __m512 s16 = _mm512_castsi512_ps(_mm512_set_epi32(0x3d800000, 0x3f800000, 0x3d800000, 0x3f800000, 0x3d800000, 0x3f800000, 0x3d800000, 0x3f800000,
                                                            0x3d800000, 0x3f800000, 0x3d800000, 0x3f800000, 0x3d800000, 0x3f800000, 0x3d800000, 0x3f800000));
    const __m512i m4 = _mm512_set1_epi8(15), sh = _mm512_set_epi32(4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0),
                  ix0 = _mm512_set_epi32(28, 28, 20, 20, 12, 12, 4, 4, 24, 24, 16, 16, 8, 8, 0, 0),
                  one = _mm512_set1_epi32(1), ih0 = _mm512_set_epi32(8, 8, 8, 8, 8, 8, 8, 8, 0, 0, 0, 0, 0, 0, 0, 0);
    /* lanes j and 8+j: 1 << j in every byte; 16 per byte */
    const __m512i bitj = _mm512_set_epi32(0x80808080, 0x40404040, 0x20202020, 0x10101010, 0x08080808, 0x04040404,
                                          0x02020202, 0x01010101, 0x80808080, 0x40404040, 0x20202020, 0x10101010,
                                          0x08080808, 0x04040404, 0x02020202, 0x01010101),
                  sixteen = _mm512_set1_epi8(16);
    __m512 fa[QK_ROWS_MAX], fm[QK_ROWS_MAX];
#pragma GCC unroll 8
    for (int m = 0; m < MR; m++) fa[m] = fm[m] = _mm512_setzero_ps();
    /* the next pair's quants are loaded a step early (p_end > the first p: worker2 passes k0 < k1) */
    const int p_end = (j->k1 + 511) / 512;
    __m512i nq[4];
    q4k_pair_quants(b, j->k0 / 512, nb, bb, qo, nq);
    for (int p = j->k0 / 512; p < p_end; p++, b += 2 * bb) {
        const uint8_t *a = b, *c2 = 2 * p + 1 < nb ? b + bb : QR_ZERO_BLOCK;
        QR_PREFETCH(b, 2 * bb);
        /* d, dmin of A and B (f16 pairs at a, c2) to lanes 0-7 / 8-15 */
        uint32_t hA, hB;
        memcpy(&hA, a, 4);
        memcpy(&hB, c2, 4);
        __m512 dd = _mm512_castps128_ps512(_mm_cvtph_ps(_mm_insert_epi32(_mm_cvtsi32_si128((int)hA), (int)hB, 1)));
        __m512 d = _mm512_permutexvar_ps(idd, dd), dm = _mm512_permutexvar_ps(_mm512_add_epi32(idd, one), dd);
        /* the 6-bit scales and mins of A (128-bit lane 0) and B (lane 1) at once: q4k_scales16 */
        __m256i sv = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(a + 4))),
                                             _mm_loadu_si128((const __m128i *)(c2 + 4)), 1);
        __m256i t1 = _mm256_shuffle_epi8(sv, ssh1), t2 = _mm256_shuffle_epi8(sv, ssh2);
        __m256i r = _mm256_ternarylogic_epi32(_mm256_and_si256(_mm256_srlv_epi32(t1, ssr), smk), _mm256_srli_epi16(t2, 2),
                                              _mm256_set1_epi8(0x30), 0xf8); /* lo | (hi & 0x30) */
        /* d·sc_j and dmin·m_j: lanes 0-7 A's, 8-15 B's (the mins' term subtracted below) */
        __m512 sd = _mm512_mul_ps(q5 ? d : _mm512_mul_ps(d, s16), _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_castsi256_si128(_mm256_permute4x64_epi64(r, 0x08))))),
               md = _mm512_mul_ps(dm, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_castsi256_si128(_mm256_permute4x64_epi64(r, 0x0d)))));
        __m512i a0 = nq[0], a1 = nq[1], b0 = nq[2], b1 = nq[3], u[8], ix = ix0;
        if (p + 1 < p_end) q4k_pair_quants(b + 2 * bb, p + 1, nb, bb, qo, nq); /* the next pair's, a step early */
        __m512i hab = q5 ? _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(a + 16))),
                                              _mm256_loadu_si256((const __m256i *)(c2 + 16)), 1)
                         : _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++, ix = _mm512_add_epi32(ix, one)) {
            __m512i pa = _mm512_permutex2var_epi32(a0, ix, a1), pb = _mm512_permutex2var_epi32(b0, ix, b1);
            if (q5) {
                u[c] = _mm512_and_si512(_mm512_srlv_epi32(_mm512_shuffle_i64x2(pa, pb, 0x44), sh), m4);
                u[c + 4] = _mm512_and_si512(_mm512_srlv_epi32(_mm512_shuffle_i64x2(pa, pb, 0xee), sh), m4);
            } else { /* odd sub-blocks' high nibbles stay in place (16x), their scales take 1/16 */
                u[c] = _mm512_and_si512(_mm512_shuffle_i64x2(pa, pb, 0x44), mlane);
                u[c + 4] = _mm512_and_si512(_mm512_shuffle_i64x2(pa, pb, 0xee), mlane);
            }
        }
        if (q5)
#pragma GCC unroll 8
            for (int c = 0; c < 8; c++) {
                __m512i h = _mm512_permutexvar_epi32(_mm512_add_epi32(ih0, _mm512_set1_epi32(c)), hab);
                u[c] = _mm512_mask_add_epi8(u[c], _mm512_test_epi8_mask(h, bitj), u[c], sixteen);
            }
        const uint8_t *xp = j->xa + (size_t)p * MR * 512;
        /* the rows' chains interleaved (MR independent VPDPBUSD in a row: latency 4, two per cycle) */
        __m512i acc[QK_ROWS_MAX];
#pragma GCC unroll 8
        for (int m = 0; m < MR; m++) acc[m] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u[0], _mm512_loadu_si512(xp + m * 512));
#pragma GCC unroll 8
        for (int c = 1; c < 8; c++)
#pragma GCC unroll 8
            for (int m = 0; m < MR; m++) acc[m] = _mm512_dpbusd_epi32(acc[m], u[c], _mm512_loadu_si512(xp + m * 512 + 64 * c));
#pragma GCC unroll 8
        for (int m = 0; m < MR; m++) {
            const size_t o = ((size_t)p * MR + m) * 16;
            fa[m] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(acc[m]), sd), _mm512_loadu_ps(j->dx + o), fa[m]);
            if (MR > 4) fa[m] = _mm512_fnmadd_ps(md, _mm512_loadu_ps(j->bsf + o), fa[m]); /* fewer registers */
            else fm[m] = _mm512_fnmadd_ps(md, _mm512_loadu_ps(j->bsf + o), fm[m]);
        }
    }
#pragma GCC unroll 8
    for (int m = 0; m < MR; m++) put2(j, m, n, MR > 4 ? fa[m] : _mm512_add_ps(fa[m], fm[m]));
}

/* Q6_K. zmm c, lane g = group g's values 4c..4c+3 (group g = 8h + r of half h): ql dword
 * 16h + 4(r%4) + c, low nibbles for r < 4, high for r >= 4 (one two-source dword permute, a per-lane
 * shift 0 / 4); qh dword 8h + 4(r%2) + c, bits 2(r/2)..+1 of each byte (a permute and a per-lane
 * rotate left by 4 - 2(r/2) mod 32 puts them at bits 4-5). */
TGT static inline __attribute__((always_inline)) void rows2_q6(const qr2_job_t *j, int n, const int MR) {
    const uint8_t *b = j->w + (size_t)n * j->rb + (size_t)(j->k0 / 256) * 210;
    const __m512i m4 = _mm512_set1_epi8(15), m30 = _mm512_set1_epi8(0x30), one = _mm512_set1_epi32(1);
    const __m512i ixl0 = _mm512_set_epi32(28, 24, 20, 16, 28, 24, 20, 16, 12, 8, 4, 0, 12, 8, 4, 0),
                  shl = _mm512_set_epi32(4, 4, 4, 4, 0, 0, 0, 0, 4, 4, 4, 4, 0, 0, 0, 0),
                  ixh0 = _mm512_set_epi32(12, 8, 12, 8, 12, 8, 12, 8, 4, 0, 4, 0, 4, 0, 4, 0),
                  roth = _mm512_set_epi32(30, 30, 0, 0, 2, 2, 4, 4, 30, 30, 0, 0, 2, 2, 4, 4);
    __m512 fa[QK_ROWS_MAX];
#pragma GCC unroll 8
    for (int m = 0; m < MR; m++) fa[m] = _mm512_setzero_ps();
    const int blk_end = j->k1 / 256; /* > j->k0 / 256: worker2 passes k0 < k1, multiples of 256 */
    __m512i nl0 = _mm512_loadu_si512(b), nl1 = _mm512_loadu_si512(b + 64), nqh = _mm512_loadu_si512(b + 128);
    for (int blk = j->k0 / 256; blk < blk_end; blk++, b += 210) {
        __m512 d = _mm512_set1_ps(_cvtsh_ss((uint16_t)(b[208] | b[209] << 8)));
        __m512 sd = _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b + 192)))));
        QR_PREFETCH(b, 210);
        __m512i l0 = nl0, l1 = nl1, qh = nqh;
        if (blk + 1 < blk_end) { /* the next block's quants, a step early */
            nl0 = _mm512_loadu_si512(b + 210);
            nl1 = _mm512_loadu_si512(b + 210 + 64);
            nqh = _mm512_loadu_si512(b + 210 + 128);
        }
        __m512i u[4], ixl = ixl0, ixh = ixh0;
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++, ixl = _mm512_add_epi32(ixl, one), ixh = _mm512_add_epi32(ixh, one)) {
            __m512i lo = _mm512_and_si512(_mm512_srlv_epi32(_mm512_permutex2var_epi32(l0, ixl, l1), shl), m4);
            __m512i hi = _mm512_rolv_epi32(_mm512_permutexvar_epi32(ixh, qh), roth);
            u[c] = _mm512_ternarylogic_epi32(lo, hi, m30, 0xf8); /* lo | (hi & 0x30) */
        }
        /* each row's chain starts at -32·Σx per group (the offset, exact in the integers); the rows'
         * chains interleaved */
        const uint8_t *xp = j->xa + (size_t)blk * MR * 256;
        const int32_t *ob = j->bsi + (size_t)blk * MR * 16;
        __m512i acc[QK_ROWS_MAX];
#pragma GCC unroll 8
        for (int m = 0; m < MR; m++) acc[m] = _mm512_dpbusd_epi32(_mm512_loadu_si512(ob + 16 * m), u[0], _mm512_loadu_si512(xp + m * 256));
#pragma GCC unroll 4
        for (int c = 1; c < 4; c++)
#pragma GCC unroll 8
            for (int m = 0; m < MR; m++) acc[m] = _mm512_dpbusd_epi32(acc[m], u[c], _mm512_loadu_si512(xp + m * 256 + 64 * c));
#pragma GCC unroll 8
        for (int m = 0; m < MR; m++)
            fa[m] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(acc[m]), sd), _mm512_set1_ps(j->dx[(size_t)blk * MR + m]), fa[m]);
    }
#pragma GCC unroll 8
    for (int m = 0; m < MR; m++) put2(j, m, n, fa[m]);
}

/* A group of four full Q8_0 blocks at b: the first 16 weights of each to w0 (lanes 4b..4b+3), the
 * last 16 to w1, the four f16 scales to dh's words 0-3. */
TGT static inline __attribute__((always_inline)) void q8_group(const uint8_t *b, __m512i *w0, __m512i *w1, __m128i *dh) {
    *w0 = _mm512_inserti32x4(_mm512_inserti32x4(_mm512_inserti32x4(_mm512_castsi128_si512(
                                 _mm_loadu_si128((const __m128i *)(b + 2))), _mm_loadu_si128((const __m128i *)(b + 36)), 1),
                                 _mm_loadu_si128((const __m128i *)(b + 70)), 2), _mm_loadu_si128((const __m128i *)(b + 104)), 3);
    *w1 = _mm512_inserti32x4(_mm512_inserti32x4(_mm512_inserti32x4(_mm512_castsi128_si512(
                                 _mm_loadu_si128((const __m128i *)(b + 18))), _mm_loadu_si128((const __m128i *)(b + 52)), 1),
                                 _mm_loadu_si128((const __m128i *)(b + 86)), 2), _mm_loadu_si128((const __m128i *)(b + 120)), 3);
    *dh = _mm_setr_epi16((short)(b[0] | b[1] << 8), (short)(b[34] | b[35] << 8), (short)(b[68] | b[69] << 8),
                         (short)(b[102] | b[103] << 8), 0, 0, 0, 0);
}

/* Q8_0, four 34-byte blocks per group: zmm 0 = the first 16 weights of each (lanes 4b..4b+3),
 * zmm 1 the last 16; the last group of a row may hold fewer blocks (zeros after). The activations
 * + 128 are VPDPBUSD's unsigned operand, the weights its signed one; each accumulator starts at
 * -128·Σw (per 8 weights from VPSADBW of w + 128, once per group for every row), which removes
 * what the +128 adds. dx: four floats per group and row, spread to the lanes by VPERMPS (the
 * activations of 8 rows then still fit the L1); at 3-4 rows sixteen, already spread (QR_Q8_DX16).
 * The next full group's weights and scales are loaded a step early (as the K-quants' quants):
 * weights beyond the L3, 1 thread, same-run medians new/old time 0.79 / 0.73 / 0.73-0.78 / 0.82
 * at 1 / 2 / 4 / 8 rows (3 rows within the noise). */
TGT static inline __attribute__((always_inline)) void rows2_q8(const qr2_job_t *j, int n, const int MR) {
    const int K = j->K;
    const uint8_t *b = j->w + (size_t)n * j->rb + (size_t)(j->k0 / 128) * 136;
    const __m512i c128 = _mm512_set1_epi8((char)0x80), z = _mm512_setzero_si512(),
                  c2048 = _mm512_set_epi32(0, 2048, 0, 2048, 0, 2048, 0, 2048, 0, 2048, 0, 2048, 0, 2048, 0, 2048);
    const __m512i ix = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    __m512 fa[QK_ROWS_MAX];
#pragma GCC unroll 8
    for (int m = 0; m < MR; m++) fa[m] = _mm512_setzero_ps();
    const int g_end = (j->k1 + 127) / 128, full_end = K / 128; /* groups below full_end hold 4 blocks */
    __m512i nw0 = _mm512_setzero_si512(), nw1 = nw0;
    __m128i ndh = _mm_setzero_si128();
    if (j->k0 / 128 < full_end) q8_group(b, &nw0, &nw1, &ndh);
    for (int g = j->k0 / 128; g < g_end; g++, b += 4 * 34) {
        int nbk = (K - 128 * g) / 32 < 4 ? (K - 128 * g) / 32 : 4;
        QR_PREFETCH(b, 136);
        __m512i w0, w1;
        __m128i dh;
        if (nbk == 4) {
            w0 = nw0, w1 = nw1, dh = ndh;
            if (g + 1 < g_end && g + 1 < full_end) q8_group(b + 136, &nw0, &nw1, &ndh); /* the next group's, a step early */
        } else { /* the row's tail: nbk blocks, the rest zero */
            uint8_t t0[64] = {0}, t1[64] = {0};
            uint16_t h[8] = {0};
            for (int k = 0; k < nbk; k++) {
                memcpy(t0 + 16 * k, b + 34 * k + 2, 16);
                memcpy(t1 + 16 * k, b + 34 * k + 18, 16);
                h[k] = (uint16_t)(b[34 * k] | b[34 * k + 1] << 8);
            }
            w0 = _mm512_loadu_si512(t0);
            w1 = _mm512_loadu_si512(t1);
            dh = _mm_loadu_si128((const __m128i *)h);
        }
        /* per 64-bit lane: 128·(16·128 - Σ(w + 128)) over its 8 + 8 weights = -128·Σw */
        __m512i sad = _mm512_add_epi64(_mm512_sad_epu8(_mm512_xor_si512(w0, c128), z), _mm512_sad_epu8(_mm512_xor_si512(w1, c128), z));
        __m512i neg = _mm512_slli_epi32(_mm512_sub_epi32(c2048, sad), 7);
        __m512 dw = _mm512_permutexvar_ps(ix, _mm512_castps128_ps512(_mm_cvtph_ps(dh))); /* d_b on lanes 4b.. */
#pragma GCC unroll 8
        for (int m = 0; m < MR; m++) {
            const uint8_t *xa = j->xa + ((size_t)g * MR + m) * 128;
            __m512i a = _mm512_dpbusd_epi32(neg, _mm512_loadu_si512(xa), w0);
            a = _mm512_dpbusd_epi32(a, _mm512_loadu_si512(xa + 64), w1);
            __m512 dx = QR_Q8_DX16(MR) ? _mm512_loadu_ps(j->dx + ((size_t)g * MR + m) * 16)
                                      : _mm512_permutexvar_ps(ix, _mm512_castps128_ps512(_mm_loadu_ps(j->dx + ((size_t)g * MR + m) * 4)));
            fa[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a), _mm512_mul_ps(dw, dx), fa[m]);
        }
    }
#pragma GCC unroll 8
    for (int m = 0; m < MR; m++) put2(j, m, n, fa[m]);
}

#define rows2_q4(j, n, MR) rows2_q4k(j, n, MR, 0)
#define rows2_q5(j, n, MR) rows2_q4k(j, n, MR, 1)

/* The schedule both workers start from: K in pieces of M·piece <= QR_XBYTES activation bytes (a
 * multiple of 512), within blocks of QR_NB weight rows; sets j's prefetch distances, returns the
 * piece. */
static int qr2_schedule(qr2_job_t *j) {
    int piece = QR_XBYTES / j->M / 512 * 512;
    if (piece >= j->K) piece = j->K;
    j->pf = j->M <= 4 ? QR_PF_FEW : QR_PF;
    j->pf2 = piece < j->K ? (size_t)QR_NB * j->rb : 0;
    return piece;
}

TGT static void worker2(int t, void *arg) {
    qr2_job_t jc = *(const qr2_job_t *)arg, *j = &jc;
    int lo = (int)((long)j->N * t / j->nthreads), hi = (int)((long)j->N * (t + 1) / j->nthreads);
    int piece = qr2_schedule(j);
    bool acc0 = j->acc;
    for (int n0 = lo; n0 < hi; n0 += QR_NB) {
        int n1 = n0 + QR_NB < hi ? n0 + QR_NB : hi;
        for (int k0 = 0; k0 < j->K; k0 += piece) {
            j->k0 = k0;
            j->k1 = k0 + piece < j->K ? k0 + piece : j->K;
            j->acc = acc0 || k0; /* later pieces add to y */
            for (int n = n0; n < n1; n++) {
                if (j->t == WT_Q4_K) ROWS_BY_M(rows2_q4)
                else if (j->t == WT_Q5_K) ROWS_BY_M(rows2_q5)
                else ROWS_BY_M(rows2_q6)
            }
        }
    }
}

/* Q8_0's worker: worker2's schedule at 2-4 rows, above that QR_Q8_KCHUNK's (its own function: the
 * 8-row loop then compiles as in the first round) */
TGT static void worker2_q8(int t, void *arg) {
    qr2_job_t jc = *(const qr2_job_t *)arg, *j = &jc;
    int lo = (int)((long)j->N * t / j->nthreads), hi = (int)((long)j->N * (t + 1) / j->nthreads);
    int piece = qr2_schedule(j), nblk = QR_NB;
    if (j->M > QR_Q8_M && j->K > QR_Q8_KCHUNK) {
        /* Q8_0 above QR_Q8_M rows: pieces of QR_Q8_KCHUNK values, each over all of this thread's
         * rows, the lines prefetched to L1 3 rows ahead */
        piece = QR_Q8_KCHUNK;
        j->pf = 3 * j->rb;
        j->pf2 = 0;
        nblk = hi - lo;
    }
    bool acc0 = j->acc;
    for (int n0 = lo; n0 < hi; n0 += nblk) {
        int n1 = n0 + nblk < hi ? n0 + nblk : hi;
        for (int k0 = 0; k0 < j->K; k0 += piece) {
            j->k0 = k0;
            j->k1 = k0 + piece < j->K ? k0 + piece : j->K;
            j->acc = acc0 || k0; /* later pieces add to y */
            for (int n = n0; n < n1; n++) ROWS_BY_M(rows2_q8)
        }
    }
}

/* x[0..n) (n a multiple of 16) to int8: d = amax / 127, q = round(x / d) (to nearest even, as
 * matmul_qk_ref's lrintf); returns d. */
TGT float quant_block(const float *x, int n, int8_t *q) {
    __m512 mx = _mm512_setzero_ps();
    for (int k = 0; k < n; k += 16) mx = _mm512_max_ps(mx, _mm512_abs_ps(_mm512_loadu_ps(x + k)));
    float amax = _mm512_reduce_max_ps(mx), d = amax / 127, id = d > 0 ? 1 / d : 0;
    __m512 iv = _mm512_set1_ps(id);
    for (int k = 0; k < n; k += 16)
        _mm_storeu_si128((__m128i *)(q + k), _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + k), iv))));
    return d;
}

/* Activations of variant 2: int8 per matmul_qk's blocks (amax / 127, round to nearest), in the
 * kernels' order, with dx and (K-quants) dx·Σq per sub-block. */
TGT static int rows2_run(float *y, const float *x, const wtensor_t *W, int M, bool accumulate) {
    wtype_t t = W->type;
    int N = (int)W->rows, K = (int)W->cols, q8 = t == WT_Q8_0, q6 = t == WT_Q6_K;
    int q4 = !q8 && !q6, nb = K / 256, Kp = q8 ? (K + 127) / 128 * 128 : q4 ? (K + 511) / 512 * 512 : K;
    int q8x = q8 && QR_Q8_DX16(M) ? 4 : 1;
    size_t xa = ((size_t)M * Kp + 63) & ~(size_t)63,
           dx = (((size_t)M * (q6 ? (size_t)nb : (size_t)Kp / 32 * q8x) * 4) + 63) & ~(size_t)63,
           bs = q8 ? 0 : (size_t)M * (size_t)Kp / 16 * 4; /* bsf */
    uint8_t *buf = kern_scratch(KERN_SCRATCH_QUANT, xa + dx + bs + 256);
    if (!buf) return -1;
    uint8_t *xi = buf;
    float *dxv = (float *)(buf + xa), *bsf = (float *)(buf + xa + dx);
    int8_t q[256];
    int ab = q8 ? 32 : 256;
    if (q4) { /* an odd last super-block's partner: zeros */
        memset(xi, 0, (size_t)M * Kp);
        memset(dxv, 0, (size_t)M * Kp / 32 * sizeof(float));
        memset(bsf, 0, (size_t)M * Kp / 16 * sizeof(float));
    }
    if (q8) { /* a short last group: x = 0 (stored + 128), dx = 0 */
        memset(xi, 128, (size_t)M * Kp);
        memset(dxv, 0, (size_t)M * Kp / 32 * q8x * sizeof(float));
    }
    for (int m = 0; m < M; m++) {
        const float *xr = x + (size_t)m * K;
        for (int b0 = 0; b0 < K; b0 += ab) {
            float d = quant_block(xr + b0, ab, q);
            if (q8) { /* block i of group g: bytes 16i.. of zmm 0 and 1, its scale on lanes 4i..4i+3 */
                int g = b0 / 128, i = b0 / 32 % 4;
                uint8_t *o = xi + ((size_t)g * M + m) * 128;
                for (int k = 0; k < 32; k++) o[64 * (k / 16) + 16 * i + k % 16] = (uint8_t)(q[k] + 128);
                for (int l = 0; l < q8x; l++) dxv[(((size_t)g * M + m) * 4 + i) * q8x + l] = d;
                continue;
            }
            if (q6) {
                size_t bm = (size_t)(b0 / 256) * M + m; /* super-block b0/256 of row m */
                uint8_t *ob = xi + bm * 256;
                dxv[bm] = d;
                for (int c = 0; c < 4; c++) /* zmm c, lane g: values 16g + 4c .. +3 */
                    for (int g = 0; g < 16; g++) memcpy(ob + 64 * c + 4 * g, q + 16 * g + 4 * c, 4);
                for (int g = 0; g < 16; g++) {
                    int sum = 0;
                    for (int k = 16 * g; k < 16 * g + 16; k++) sum += q[k];
                    ((int32_t *)bsf)[bm * 16 + g] = -32 * sum;
                }
                continue;
            }
            /* Q4_K / Q5_K: super-block b0/256 is half h of pair pm; zmm c, lane 8h + s: values 32s + 4c .. +3 */
            int h = b0 / 256 % 2;
            size_t pm = (size_t)(b0 / 512) * M + m;
            uint8_t *ob = xi + pm * 512;
            for (int c = 0; c < 8; c++)
                for (int s = 0; s < 8; s++) memcpy(ob + 64 * c + 32 * h + 4 * s, q + 32 * s + 4 * c, 4);
            for (int s = 0; s < 8; s++) {
                int sum = 0;
                for (int k = 32 * s; k < 32 * s + 32; k++) sum += q[k];
                dxv[pm * 16 + 8 * h + s] = d;
                bsf[pm * 16 + 8 * h + s] = d * (float)sum;
            }
        }
    }
    int nt = kern_threads() < N ? kern_threads() : N;
    qr2_job_t j = {y, W->data, xi, dxv, bsf, (const int32_t *)bsf, M, N, K, Kp, nt, wtype_bytes(t, (size_t)K), t, accumulate};
    kern_parallel_for(nt, t == WT_Q8_0 ? worker2_q8 : worker2, &j);
    return 0;
}

static int g_rows = 2; /* matmul_qk_set_rows */
void matmul_qk_set_rows(int v) { g_rows = v < 0 ? 2 : v; }

int matmul_qk_rows_supports(wtype_t t, int M, int K) {
    if (!g_rows || M < 1) return 0;
    if (t == WT_Q4_K || t == WT_Q5_K || t == WT_Q6_K) return M <= QK_ROWS_MAX;
    if (t != WT_Q8_0) return 0;
    /* variant 1, Q8_0 above 4 rows: the per-row float work (a scale per 32 weights) made matmul_qk's
     * 16-row tile faster (16384x4096, 1 thread: 8 rows 3.9 GB/s there against 5.0 in the tile) */
    return g_rows == 1 ? M <= 4 && K % 64 == 0 : M <= QK_ROWS_MAX;
}

int matmul_qk_rows(float *y, const float *x, const wtensor_t *W, int M, bool accumulate) {
    KERN_ASSERT_WEIGHT(W);
    KERN_ASSERT(matmul_qk_rows_supports(W->type, M, (int)W->cols) && x && y);
    if (W->rows == 0) return 0;
    return g_rows == 1 ? rows1_run(y, x, W, M, accumulate) : rows2_run(y, x, W, M, accumulate);
}
