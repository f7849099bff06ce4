/* prec_ref.c — the reduced-precision GEMM rules of denoise --precision (kernels.h, "reduced-precision
 * GEMMs"): symmetric int8 quantisation of a row (scale = max|v| / 127, q = round-to-nearest-
 * even(v / scale), all in fp32) clamped to [-127, 127]; an all-zero row gets scale 0 and q = 0), and the
 * plain references the fast oneDNN paths (gemm_dnnl.c) are tested against:
 *   matmul_bf16in_ref: x and W rounded to bf16, products summed in double;
 *   matmul_int8_ref:   x quantised per row, W per output row (channel), the integer dot
 *                      product in int64, y = dot * sx[m] * sw[n].
 */
#include <math.h>
#include "kernels.h"

float quant_row_s8(int8_t *q, const float *v, int n) {
    float mx = 0;
    for (int i = 0; i < n; i++) mx = fmaxf(mx, fabsf(v[i]));
    if (!(mx > 0)) {
        for (int i = 0; i < n; i++) q[i] = 0;
        return 0;
    }
    float s = mx / 127.0f;
    for (int i = 0; i < n; i++) { /* a correctly rounded fp32 division: reproducible anywhere */
        float r = nearbyintf(v[i] / s);
        q[i] = (int8_t)(r > 127 ? 127 : r < -127 ? -127 : r);
    }
    return s;
}

/* Row n of W as floats (any storage type, block-quantised ones dequantised). */
static void w_row(float *dst, const wtensor_t *W, int64_t n) {
    wconvert_f32(dst, (const char *)W->data + (size_t)n * wtype_bytes(W->type, (size_t)W->cols), W->type,
                 (size_t)W->cols);
}

void matmul_bf16in_ref(float *y, const float *x, const wtensor_t *W, int M, bool accumulate) {
    int N = (int)W->rows, K = (int)W->cols;
    float wr[K > 0 ? K : 1];
    for (int n = 0; n < N; n++) {
        w_row(wr, W, n);
        for (int m = 0; m < M; m++) {
            double s = 0;
            for (int k = 0; k < K; k++)
                s += (double)bf16_to_f32(f32_to_bf16(x[(size_t)m * K + k])) * bf16_to_f32(f32_to_bf16(wr[k]));
            y[(size_t)m * N + n] = (float)(s + (accumulate ? y[(size_t)m * N + n] : 0));
        }
    }
}

void matmul_int8_ref(float *y, const float *x, const wtensor_t *W, int M, bool accumulate) {
    int N = (int)W->rows, K = (int)W->cols;
    int8_t qx[K > 0 ? K : 1], qw[K > 0 ? K : 1];
    float wr[K > 0 ? K : 1];
    for (int n = 0; n < N; n++) {
        w_row(wr, W, n);
        float sw = quant_row_s8(qw, wr, K);
        for (int m = 0; m < M; m++) {
            float sx = quant_row_s8(qx, x + (size_t)m * K, K);
            int64_t dot = 0;
            for (int k = 0; k < K; k++) dot += (int64_t)qx[k] * qw[k];
            double v = (double)dot * sx * sw;
            y[(size_t)m * N + n] = (float)(v + (accumulate ? y[(size_t)m * N + n] : 0));
        }
    }
}
