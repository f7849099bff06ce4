/* matmul_bf16.c — y = x · Wᵀ for bf16 weights with AVX-512-BF16 dot products, for few rows.
 *
 * With few activation rows (the LM head on a step's candidates, short canvases) sgemm is
 * limited by streaming a freshly converted f32 copy of W; this kernel reads the bf16 weights
 * as stored, once. To keep fp32 accuracy the activations are split into two bf16 parts,
 * x ≈ hi + lo with hi = bf16(x), lo = bf16(x − hi) (relative error ~2^-16), and each product
 * is two VDPBF16PS (fp32 accumulation). Tiles of 4 weight rows × 4 activation rows; threads
 * split the weight rows. matmul() uses it when the CPU has AVX512_BF16 and M is small;
 * test_kernels compares it with matmul_ref. The split activations live in a per-thread
 * buffer (kern_scratch).
 */
#include <stdlib.h>
#include <string.h>
#include <immintrin.h>
#include "kernels.h"

#define TGT __attribute__((target("avx512f,avx512bw,avx512bf16")))

bool matmul_bf16_available(void) {
    static int h = -1;
    if (h < 0) {
        __builtin_cpu_init();
        h = __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw");
    }
    return h;
}

typedef struct {
    float *y;
    const uint16_t *w, *xh, *xl; /* xh/xl: [M][Kp] bf16, zero-padded to Kp (multiple of 32) */
    int M, N, K, Kp, ntiles, nthreads;
    bool acc;
} bjob_t;

/* Dot products of 4 weight rows (rows past nn repeat row 0 and are discarded) with 4
 * activation rows (x is zero-padded to a multiple of 4 rows; rows past mm discarded).
 * Fixed trip counts so the 16 accumulators stay in registers. */
TGT static void tile(const bjob_t *j, int n0, int nn, int m0, int mm) {
    __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00,
           a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
    const uint16_t *w0 = j->w + (size_t)n0 * j->K, *w1 = j->w + (size_t)(n0 + (nn > 1)) * j->K,
                   *w2 = j->w + (size_t)(n0 + (nn > 2) * 2) * j->K, *w3 = j->w + (size_t)(n0 + (nn > 3) * 3) * j->K;
    const uint16_t *h0 = j->xh + (size_t)m0 * j->Kp, *l0 = j->xl + (size_t)m0 * j->Kp;
    size_t s = (size_t)j->Kp;
    for (int k = 0; k < j->Kp; k += 32) {
        int left = j->K - k;
        __mmask32 km = left >= 32 ? 0xffffffffu : (__mmask32)((1u << left) - 1);
        __m512bh b0 = (__m512bh)_mm512_maskz_loadu_epi16(km, w0 + k),
                 b1 = (__m512bh)_mm512_maskz_loadu_epi16(km, w1 + k),
                 b2 = (__m512bh)_mm512_maskz_loadu_epi16(km, w2 + k),
                 b3 = (__m512bh)_mm512_maskz_loadu_epi16(km, w3 + k);
#define ROW(c, A0, A1, A2, A3) \
    do { \
        __m512bh h = (__m512bh)_mm512_loadu_si512(h0 + c * s + k), l = (__m512bh)_mm512_loadu_si512(l0 + c * s + k); \
        A0 = _mm512_dpbf16_ps(_mm512_dpbf16_ps(A0, h, b0), l, b0); \
        A1 = _mm512_dpbf16_ps(_mm512_dpbf16_ps(A1, h, b1), l, b1); \
        A2 = _mm512_dpbf16_ps(_mm512_dpbf16_ps(A2, h, b2), l, b2); \
        A3 = _mm512_dpbf16_ps(_mm512_dpbf16_ps(A3, h, b3), l, b3); \
    } while (0)
        ROW(0, a00, a10, a20, a30);
        ROW(1, a01, a11, a21, a31);
        ROW(2, a02, a12, a22, a32);
        ROW(3, a03, a13, a23, a33);
#undef ROW
    }
    __m512 a[4][4] = {{a00, a01, a02, a03}, {a10, a11, a12, a13}, {a20, a21, a22, a23}, {a30, a31, a32, a33}};
    for (int c = 0; c < mm; c++)
        for (int r = 0; r < nn; r++) {
            float v = _mm512_reduce_add_ps(a[r][c]);
            float *o = j->y + (size_t)(m0 + c) * j->N + n0 + r;
            *o = j->acc ? *o + v : v;
        }
}

static void worker(int t, void *arg) {
    const bjob_t *j = arg;
    int lo = (int)((long)j->ntiles * t / j->nthreads), hi = (int)((long)j->ntiles * (t + 1) / j->nthreads);
    for (int nt = lo; nt < hi; nt++) {
        int n0 = nt * 4, nn = j->N - n0 < 4 ? j->N - n0 : 4;
        for (int m0 = 0; m0 < j->M; m0 += 4) tile(j, n0, nn, m0, j->M - m0 < 4 ? j->M - m0 : 4);
    }
}

int matmul_bf16(float *y, const float *x, const wtensor_t *W, int M, bool accumulate) {
    KERN_ASSERT_WEIGHT(W);
    KERN_ASSERT(W->type == WT_BF16 && M >= 0 && (M == 0 || (x && y)));
    int N = (int)W->rows, K = (int)W->cols, Kp = (K + 31) & ~31, Mp = (M + 3) & ~3;
    size_t xn = (size_t)Mp * Kp; /* elements of each of xh, xl (Kp: 64-byte rows) */
    uint16_t *xh = kern_scratch(KERN_SCRATCH_SPLIT, 2 * xn * 2);
    if (!xh) return -1;
    uint16_t *xl = xh + xn;
    memset(xh, 0, 2 * xn * 2);
    for (int m = 0; m < M; m++)
        for (int k = 0; k < K; k++) {
            float v = x[(size_t)m * K + k];
            uint16_t h = f32_to_bf16(v);
            xh[(size_t)m * Kp + k] = h;
            xl[(size_t)m * Kp + k] = f32_to_bf16(v - bf16_to_f32(h));
        }
    bjob_t j = {y, W->data, xh, xl, M, N, K, Kp, (N + 3) / 4, kern_threads(), accumulate};
    if (j.nthreads > j.ntiles) j.nthreads = j.ntiles;
    kern_parallel_for(j.nthreads, worker, &j);
    return 0;
}
