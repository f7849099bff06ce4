/* matmul.c — y = x · Wᵀ for f32 / bf16 / f16 weights on top of OpenBLAS sgemm.
 *
 * f32 weights go straight to sgemm. 16-bit weights are converted to f32 one panel of rows
 * at a time (about 16 MB: few, wide sgemm calls; it stays in L3 while sgemm reuses it); the
 * whole matrix is never expanded, so an 8B bf16 checkpoint runs in its own mmap plus a few
 * MB. The conversion costs one pass over the weights per call, i.e. 1/(2M) of the flops.
 * bf16 weights take faster routes where the CPU has them: matmul_bf16.c (AVX-512-BF16, few
 * rows) and matmul_amx.c (AMX tiles, more rows); the panel path is the portable fallback.
 * Quantised (GGUF) weights take matmul_q.c's int8 kernels up to MATMUL_Q_MAX_M rows (matmul_qk.c's, for
 * Q4_K / Q5_K / Q6_K / Q8_0 with AVX512-VNNI, up to MATMUL_QK_MAX_M); panels
 * dequantised by quant.c's references above that, without AVX2, or when LLADA_QMATMUL=f32 asks
 * for the exact product.
 * matmul_ref is the plain reference the tests compare against.
 */
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include "kernels.h"
#include "quant.h"

void kgemm_nt(int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb, float beta, float *C,
              int ldc) {
    KERN_ASSERT(M >= 0 && N >= 0 && K >= 0 && lda >= K && ldb >= K && ldc >= N);
    if (M <= 0 || N <= 0) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void kgemm_nn(int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb, float beta, float *C,
              int ldc) {
    KERN_ASSERT(M >= 0 && N >= 0 && K >= 0 && lda >= K && ldb >= N && ldc >= N);
    if (M <= 0 || N <= 0) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void matmul(float *y, const float *x, const wtensor_t *W, int M, bool accumulate) {
    KERN_ASSERT_WEIGHT(W);
    KERN_ASSERT(M >= 0 && (M == 0 || (x && y)));
    if (M <= 0 || W->rows <= 0) return;
    if (W->type == WT_F32) {
        int N = (int)W->rows, K = (int)W->cols;
        kgemm_nt(M, N, K, 1.0f, x, K, W->data, K, accumulate ? 1.0f : 0.0f, y, N);
        return;
    }
    if (wtype_is_quant(W->type) && kern_qisa() > 0 &&
        M <= (kern_qisa() >= 3 && matmul_qk_supports(W->type) ? MATMUL_QK_MAX_M : MATMUL_Q_MAX_M) &&
        matmul_q(y, x, W, M, accumulate) == 0)
        return;
    if (W->type == WT_BF16 && M <= MATMUL_BF16_MAX_M && matmul_bf16_available() &&
        matmul_bf16(y, x, W, M, accumulate) == 0)
        return;
    if (W->type == WT_BF16 && M > MATMUL_BF16_MAX_M && matmul_amx_available() &&
        matmul_amx(y, x, W, M, accumulate) == 0)
        return;
    matmul_panels(y, x, W, M, accumulate);
}

void matmul_panels(float *y, const float *x, const wtensor_t *W, int M, bool accumulate) {
    KERN_ASSERT_WEIGHT(W);
    KERN_ASSERT(M >= 0 && (M == 0 || (x && y)));
    int N = (int)W->rows, K = (int)W->cols;
    float beta = accumulate ? 1.0f : 0.0f;
    if (M <= 0 || N <= 0) return;
    /* panel rows: ~16 MB of f32 (few, wide sgemm calls), at least 64, at most N */
    int nb = (int)((16u << 20) / (4u * (unsigned)(K > 0 ? K : 1)));
    if (nb < 64) nb = 64;
    if (nb > N) nb = N;
    float *panel = kern_scratch(KERN_SCRATCH_PANEL, (size_t)nb * K * sizeof(float));
    if (!panel) { /* out of memory: fall back to the slow path rather than fail */
        matmul_ref(y, x, W, M, accumulate);
        return;
    }
    const uint8_t *w = W->data;
    size_t rb = wtype_bytes(W->type, (size_t)K);
    for (int n0 = 0; n0 < N; n0 += nb) {
        int nn = N - n0 < nb ? N - n0 : nb;
        /* single-threaded on purpose: OpenBLAS's idle workers spin on the other cores
         * right after a call, and a parallel conversion fights them (measured 3x slower) */
        wconvert_f32(panel, w + (size_t)n0 * rb, W->type, (size_t)nn * K);
        kgemm_nt(M, nn, K, 1.0f, x, K, panel, K, beta, y + n0, N);
    }
}

/* Element k of row n of W as float (quantised rows: dequantised into `row` once per n). */
static float wat(const wtensor_t *W, int n, int k, float *row, int *row_n) {
    size_t i = (size_t)n * W->cols + k;
    switch (W->type) {
    case WT_F32: return ((const float *)W->data)[i];
    case WT_BF16: return bf16_to_f32(((const uint16_t *)W->data)[i]);
    case WT_F16: return f16_to_f32(((const uint16_t *)W->data)[i]);
    default:
        if (*row_n != n) {
            dequant_ref(row, (const uint8_t *)W->data + wtype_bytes(W->type, (size_t)W->cols) * n, W->type,
                        (size_t)W->cols);
            *row_n = n;
        }
        return row[k];
    }
}

/* No buffer at all: it is also matmul_panels' way out when the panel cannot be had. */
void matmul_ref(float *y, const float *x, const wtensor_t *W, int M, bool accumulate) {
    KERN_ASSERT_WEIGHT(W);
    KERN_ASSERT(M >= 0 && (M == 0 || (x && y)));
    int N = (int)W->rows, K = (int)W->cols, row_n = -1;
    float row[wtype_is_quant(W->type) && K > 0 ? K : 1];
    for (int n = 0; n < N; n++)
        for (int m = 0; m < M; m++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)x[(size_t)m * K + k] * wat(W, n, k, row, &row_n);
            y[(size_t)m * N + n] = (float)(accumulate ? y[(size_t)m * N + n] + s : s);
        }
}
