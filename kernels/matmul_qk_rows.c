/* matmul_qk_rows.c — y = x · Wᵀ for Q4_K, Q5_K, Q6_K and Q8_0 weights at 1 to QK_ROWS_MAX activation rows
 * (decoding a few tokens), where matmul_qk's 16-row register tile would spend as long on one row
 * as on sixteen (bench/roofline.sh). Same arithmetic as matmul_qk and its reference
 * matmul_qk_ref: the activations to int8 with one scale per 256 values, integer sums per
 * 32-value sub-block times the sub-block's 6-bit scale, the mins from per-32 activation sums, one
 * float step per super-block.
 *
 * Kernel (AVX512-VNNI): each weight super-block is read once, straight from the mapped file: its
 * 128 quant bytes as two zmm, nibbles split with AND / shift into four zmm of 64 unsigned values
 * (low nibbles of bytes 0..63 are values 0..31 and 64..95, high nibbles 32..63 and 96..127; the
 * second zmm likewise + 128); the activations are laid out once per call in that order, so one
 * VPDPBUSD multiplies 64 weights by 64 activations of one row, 16 i32 lanes holding two
 * sub-blocks. Q5_K adds each value's fifth bit: qh's 32 bytes broadcast to both halves of a zmm,
 * bit j of qh[l] (sub-block j's value l) tested per byte (VPTESTMB against 1 << j, a different j
 * in each half) and 16 added where set, giving 0..31 in the same order. The eight 6-bit scales
 * are decoded with 32-bit masks and spread to the lanes (VPERMD); per row the lane sums are
 * multiplied by them (VPMULLD) and converted once per super-block, the mins' term Σ m_j Σx_j
 * likewise on eight lanes. Q8_0 (activations per 32, as matmul_qk): two blocks per zmm, |w|
 * against the activations negated where w < 0, so one VPDPBUSD gives the exact w·x sums of both
 * blocks. Q6_K: rows_q6's comment. Threads split the weight rows.
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

TGT static void worker(int t, void *arg) {
    const qr_job_t *j = arg;
    int lo = (int)((long)j->N * t / j->nthreads), hi = (int)((long)j->N * (t + 1) / j->nthreads);
    for (int n = lo; n < hi; n++) {
        if (j->t == WT_Q4_K) ROWS_BY_M(rows_q4)
        else if (j->t == WT_Q5_K) ROWS_BY_M(rows_q5)
        else if (j->t == WT_Q6_K) ROWS_BY_M(rows_q6)
        else ROWS_BY_M(rows_q8)
    }
}

static int g_rows = 1; /* matmul_qk_set_rows */
void matmul_qk_set_rows(int v) { g_rows = v < 0 ? 1 : v; }

int matmul_qk_rows_supports(wtype_t t, int M, int K) {
    if (!g_rows) return 0;
    /* Q8_0 above 4 rows: the per-row float work (a scale per 32 weights) makes matmul_qk's 16-row
     * tile faster (16384x4096, 1 thread: 8 rows 3.9 GB/s here against 5.0 there) */
    return M >= 1 && (t == WT_Q4_K || t == WT_Q5_K || t == WT_Q6_K ? M <= QK_ROWS_MAX : t == WT_Q8_0 && M <= 4 && K % 64 == 0);
}

int matmul_qk_rows(float *y, const float *x, const wtensor_t *W, int M, bool accumulate) {
    KERN_ASSERT_WEIGHT(W);
    KERN_ASSERT(matmul_qk_rows_supports(W->type, M, (int)W->cols) && x && y);
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
    kern_parallel_for(nt, worker, &j);
    return 0;
}
