/* quant.h — GGUF (ggml) block-quantised weights: plain dequantisation references and the
 * fast int8 matmul on them (issue 13).
 *
 * Block layouts (little-endian, as llama.cpp's ggml-common.h lays them out; f16 = IEEE half):
 *   Q8_0  32 weights, 34 B:  f16 d; int8 q[32]                      w[i] = d q[i]
 *   Q4_0  32 weights, 18 B:  f16 d; u8 qs[16]                       w[i] = d ((qs[i] & 15) - 8),
 *                                                                   w[i+16] = d ((qs[i] >> 4) - 8)
 *   Q4_K 256 weights, 144 B: f16 d, dmin; u8 scales[12]; u8 qs[128]. Eight sub-blocks of 32, each
 *        with a 6-bit scale sc_j and 6-bit min m_j packed in scales[] (j < 4: sc = s[j] & 63,
 *        m = s[j+4] & 63; else sc = (s[j+4] & 15) | (s[j-4] >> 6) << 4, m = (s[j+4] >> 4) |
 *        (s[j] >> 6) << 4). Chunk c (0..3) of 64 weights uses qs[32c .. 32c+32): low nibbles are
 *        sub-block 2c, high nibbles sub-block 2c+1; w = d sc_j q - dmin m_j.
 *   Q6_K 256 weights, 210 B: u8 ql[128]; u8 qh[64]; int8 sc[16]; f16 d. Two halves of 128; in
 *        half h, for l < 32: q0 = ql[l] & 15 | (qh[l] & 3) << 4, q1 = ql[l+32] & 15 | (qh[l] >> 2
 *        & 3) << 4, q2 = ql[l] >> 4 | (qh[l] >> 4 & 3) << 4, q3 = ql[l+32] >> 4 | (qh[l] >> 6)
 *        << 4 give weights l, l+32, l+64, l+96 = d sc[8h + l/16 + 2r] (q_r - 32) (ql += 64,
 *        qh += 32 per half).
 *   Q5_K 256 weights, 176 B: f16 d, dmin; u8 scales[12] (as Q4_K); u8 qh[32]; u8 qs[128]. Q4_K
 *        with a fifth bit: in chunk c (0..3), for l < 32, sub-block 2c's value l is
 *        (qs[32c+l] & 15) | ((qh[l] >> 2c) & 1) << 4 and sub-block 2c+1's is (qs[32c+l] >> 4) |
 *        ((qh[l] >> (2c+1)) & 1) << 4 (bit j of qh[l] is value l of sub-block j), q in 0..31;
 *        w = d sc_j q - dmin m_j.
 *   Q5_0  32 weights, 22 B:  f16 d; u8 qh[4]; u8 qs[16]. With h = qh as a little-endian u32,
 *        q[i] = (qs[i] & 15) | (h >> i & 1) << 4, q[i+16] = (qs[i] >> 4) | (h >> (i+16) & 1) << 4
 *        (i < 16; q in 0..31), w = d (q - 16).
 *   Q5_1  32 weights, 24 B:  f16 d, m; u8 qh[4]; u8 qs[16]. q as Q5_0; w = d q + m.
 *        (llama-quantize writes Q5_0 / Q5_1 for rows that Q4_K / Q5_K blocks of 256 do not fill.)
 */
#ifndef LLADA_KERNELS_QUANT_H
#define LLADA_KERNELS_QUANT_H

#include "kernels.h"

/* y[0..n) = the n weights (n a multiple of wtype_block(t)) of quantised blocks at src. */
void dequant_q8_0_ref(float *y, const void *src, size_t n);
void dequant_q4_0_ref(float *y, const void *src, size_t n);
void dequant_q4_k_ref(float *y, const void *src, size_t n);
void dequant_q6_k_ref(float *y, const void *src, size_t n);
void dequant_q5_k_ref(float *y, const void *src, size_t n);
void dequant_q5_0_ref(float *y, const void *src, size_t n);
void dequant_q5_1_ref(float *y, const void *src, size_t n);
/* Dispatch on t (a quantised type). */
void dequant_ref(float *y, const void *src, wtype_t t, size_t n);

/* Reference quantisers (round to nearest, the simple scale choice of each format's description:
 * Q8_0/Q4_0/Q5_0 d = amax/127 resp. -max/8, -max/16; Q5_1 d = (max-min)/31, m = min; K-quants: per sub-block min/max (Q4_K / Q5_K) or largest
 * magnitude (Q6_K), then 6-bit / 8-bit scales). Used by
 * `denoise --quantize` and tests; n a multiple of the block. */
void quantize_ref(void *dst, const float *x, wtype_t t, size_t n);
/* quant_search.c: the same formats with searched scales (a ladder of candidate scales, each
 * refitted by least squares; d/dmin and the integer sub-block scales chosen for the least squared
 * error). Each block is kept only if its squared error is <= quantize_ref's, so it is never worse
 * on any block. `denoise --quantize` uses it unless --quantize-method rtn. */
void quantize_search(void *dst, const float *x, wtype_t t, size_t n);
/* quant.c: the 32 levels q[0..32) (0..31) of a Q5_0 / Q5_1 block into its qh (4 B) and qs (16 B). */
void q5_pack_levels(uint8_t *qh, uint8_t *qs, const int *q);

/* y[M][N] = x[M][K] · W[N][K]ᵀ (+ y) for a quantised W, with the activations quantised to int8 per
 * 32 (one f32 scale per block, round to nearest) and integer dot products: AVX512-VNNI
 * (VPDPBUSD), else AVX2 (VPMADDUBSW). The error against the exact product is that of the int8
 * activations only: |Δy| <= Σ_blocks amax(x_b)/254 · Σ_{k∈b} |w_k| (plus f32 rounding).
 * Returns -1 (nothing done) on OOM. matmul() uses it for quantised weights when the CPU has AVX2
 * and M <= MATMUL_Q_MAX_M, unless LLADA_QMATMUL=f32 asks for the exact product (kern_qisa() 0);
 * above that it dequantises panels for sgemm. (Zen 5, 2 cores: alone, matmul_q beats the panels
 * up to 288 rows, but inside a full 288-token forward, between OpenBLAS calls, it measured 2x
 * slower than the bf16 panels; at 32 rows 1.8x faster.) */
#define MATMUL_Q_MAX_M 64
/* matmul_qk (Q4_K, Q5_K, Q6_K, Q8_0 with AVX512-VNNI) up to this many rows: on the 105M shape at canvas 128,
 * 2 threads, it took 368 ms per step (Q4_K_M) against 655 ms for dequantised panels + sgemm when
 * first measured; 53 ms since its third pass (docs/gguf.md, Kernels). */
#define MATMUL_QK_MAX_M 512
int matmul_q(float *y, const float *x, const wtensor_t *W, int M, bool accumulate);
/* The same arithmetic in plain C (int8 activations, integer block sums; the test reference). */
void matmul_q_ref(float *y, const float *x, const wtensor_t *W, int M, bool accumulate);
/* Which integer kernel matmul_q runs: 3 AVX512-VNNI with matmul_qk for Q4_K / Q5_K / Q6_K / Q8_0 (the
 * per-row kernel for Q4_0, Q5_0, Q5_1), 2 AVX512-VNNI per-row kernel (int8 activations per 32), 1 AVX2,
 * 0 plain C. kern_set_qisa caps it (tests, benchmarks; -1 restores the CPU's best). */
int kern_qisa(void);
void kern_set_qisa(int isa);

/* matmul_qk.c: llama.cpp's arithmetic for Q4_K, Q5_K, Q6_K, Q8_0 (matmul_qk_supports): activations to
 * int8 with one scale per super-block (256 values for the K-quants, ggml's q8_K; 32 for Q8_0),
 * integer sums per sub-block times the sub-block's integer scale, one float step per
 * super-block; AVX512-VNNI (callers check kern_qisa() >= 3). Error vs the exact product:
 * |Δy| <= Σ_superblocks amax/254 Σ|w| (+ f32 rounding). matmul_qk returns -1 on OOM;
 * matmul_qk_ref is its plain reference (same int8 activations, sums in double). */
int matmul_qk_supports(wtype_t t);
/* matmul_qk_rows.c: Q4_K, Q5_K, Q6_K and Q8_0 at 1..QK_ROWS_MAX rows
 * (matmul_qk dispatches to it when matmul_qk_rows_supports): the same arithmetic, each weight
 * block read once and multiplied with every row from registers (AVX512-VNNI; callers check
 * kern_qisa() >= 3). Returns -1 on OOM. matmul_qk_set_rows (benchmarks: before / after in one
 * run) picks the kernel: 0 none (matmul_qk's 16-row tile at every row count), 1 the first rows
 * kernels (Q8_0 at 1..4 rows, K % 64 == 0), 2 the current ones (the default; Q8_0 at 1..8, any
 * K); -1 restores the default. Not thread-safe: set it before running matmuls. */
#define QK_ROWS_MAX 8
void matmul_qk_set_rows(int v);
int matmul_qk_rows_supports(wtype_t t, int M, int K);
int matmul_qk_rows(float *y, const float *x, const wtensor_t *W, int M, bool accumulate);
int matmul_qk(float *y, const float *x, const wtensor_t *W, int M, bool accumulate);
void matmul_qk_ref(float *y, const float *x, const wtensor_t *W, int M, bool accumulate);
/* x[0..n) (n a multiple of 16) to int8 q: d = amax / 127, q = round(x / d) to nearest even (the
 * reference's lrintf, bit for bit); returns d. AVX512 (matmul_qk_rows.c; callers check kern_qisa() >= 3). */
float quant_block(const float *x, int n, int8_t *q);

/* Block decoding shared by the reference (quant.c) and the fast kernels (matmul_q.c,
 * matmul_qk.c), so the bit layouts are written once. */

/* Sub-block j (0..7) of a Q4_K block: its 6-bit scale and min from the 12 scale bytes s. */
static inline void q4k_scale_min(const uint8_t *s, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | (s[j - 4] >> 6) << 4;
        *m = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
    }
}

/* Encoding shared by the quantisers (quant.c, quant_search.c). The 6-bit scales and mins of
 * the eight sub-blocks of a Q4_K / Q5_K block into its 12 scale bytes s (q4k_scale_min's inverse). */
static inline void q4k_pack_scales(uint8_t *s, const int *sc, const int *m) {
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)(sc[j] | (sc[j + 4] >> 4) << 6);
        s[j + 4] = (uint8_t)(m[j] | (m[j + 4] >> 4) << 6);
        s[j + 8] = (uint8_t)((sc[j + 4] & 15) | (m[j + 4] & 15) << 4);
    }
}

/* The 256 levels q[0..256) of a Q4_K (0..15) or Q5_K (0..31, q5 set) block into its quant bytes
 * (b = the block: Q4_K qs at 16; Q5_K qh at 16, qs at 48). */
static inline void kq_pack_levels(uint8_t *b, int q5, const int *q) {
    uint8_t *qs = b + (q5 ? 48 : 16), *qh = b + 16;
    if (q5)
        for (int l = 0; l < 32; l++) qh[l] = 0;
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            int lo = q[64 * c + l], hi = q[64 * c + 32 + l];
            qs[32 * c + l] = (uint8_t)((lo & 15) | (hi & 15) << 4);
            if (q5) qh[l] |= (uint8_t)((lo >> 4) << (2 * c) | (hi >> 4) << (2 * c + 1));
        }
}

#if defined(__x86_64__)
#include <immintrin.h>
/* The 256 unsigned 4-bit values of a Q4_K block's 128 quant bytes q into o[0..256), in order
 * (per 64: 32 low nibbles, then 32 high). AVX2; the caller dispatches. */
__attribute__((target("avx2"))) static inline void q4k_unpack_avx2(uint8_t *o, const uint8_t *q) {
    const __m256i m4 = _mm256_set1_epi8(15);
    for (int c = 0; c < 4; c++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(q + 32 * c));
        _mm256_storeu_si256((__m256i *)(o + 64 * c), _mm256_and_si256(v, m4));
        _mm256_storeu_si256((__m256i *)(o + 64 * c + 32), _mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
    }
}

/* The 256 unsigned 5-bit values of a Q5_K block's qh (32 B) and qs (128 B) into o[0..256), in
 * order: Q4_K's nibbles with bit 2c (low nibbles) / 2c+1 (high) of qh[l] as bit 4. AVX2. */
__attribute__((target("avx2"))) static inline void q5k_unpack_avx2(uint8_t *o, const uint8_t *qh, const uint8_t *q) {
    const __m256i m4 = _mm256_set1_epi8(15), m1 = _mm256_set1_epi8(1);
    const __m256i h = _mm256_loadu_si256((const __m256i *)qh);
    for (int c = 0; c < 4; c++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(q + 32 * c));
        /* per byte: bit 2c (2c+1) of qh to bit 4 (16-bit shifts; the AND keeps each byte's own bit) */
        __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2 * c), m1), 4),
                h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2 * c + 1), m1), 4);
        _mm256_storeu_si256((__m256i *)(o + 64 * c), _mm256_or_si256(_mm256_and_si256(v, m4), h0));
        _mm256_storeu_si256((__m256i *)(o + 64 * c + 32),
                            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), h1));
    }
}

/* The 256 unsigned 6-bit values q of the Q6_K block b (ql at 0, qh at 128) into o[0..256).
 * AVX2; the caller dispatches. */
__attribute__((target("avx2"))) static inline void q6k_unpack_avx2(uint8_t *o, const uint8_t *b) {
    const __m256i m4 = _mm256_set1_epi8(15), m2 = _mm256_set1_epi8(3);
    const uint8_t *ql = b, *qh = b + 128;
    for (int h = 0; h < 2; h++, ql += 64, qh += 32, o += 128) {
        __m256i l0 = _mm256_loadu_si256((const __m256i *)ql), l1 = _mm256_loadu_si256((const __m256i *)(ql + 32)),
                hb = _mm256_loadu_si256((const __m256i *)qh);
        __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(hb, m2), 4),
                h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m2), 4),
                h2 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m2), 4),
                h3 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), m2), 4);
        _mm256_storeu_si256((__m256i *)o, _mm256_or_si256(_mm256_and_si256(l0, m4), h0));
        _mm256_storeu_si256((__m256i *)(o + 32), _mm256_or_si256(_mm256_and_si256(l1, m4), h1));
        _mm256_storeu_si256((__m256i *)(o + 64), _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), h2));
        _mm256_storeu_si256((__m256i *)(o + 96), _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), h3));
    }
}
#endif

#endif
