/* quant.c — the low-precision GEMM rules of denoise --precision (kernels.h, "reduced-precision
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
    for (int i = 0; i < n; i++) {   /* a correctly rounded fp32 division: reproducible anywhere */
        float r = nearbyintf(v[i] / s);
        q[i] = (int8_t)(r > 127 ? 127 : r < -127 ? -127 : r);
    }
    return s;
}

static float w_at(const wtensor_t *W, size_t i) {
    float v;
    wconvert_f32(&v, (const char *)W->data + i * wtype_size(W->type), W->type, 1);
    return v;
}

void matmul_bf16in_ref(float *y, const float *x, const wtensor_t *W, int M, bool accumulate) {
    int N = (int)W->rows, K = (int)W->cols;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = 0;
            for (int k = 0; k < K; k++)
                s += (double)bf16_to_f32(f32_to_bf16(x[(size_t)m * K + k])) *
                     bf16_to_f32(f32_to_bf16(w_at(W, (size_t)n * K + k)));
            y[(size_t)m * N + n] = (float)(s + (accumulate ? y[(size_t)m * N + n] : 0));
        }
}

void matmul_int8_ref(float *y, const float *x, const wtensor_t *W, int M, bool accumulate) {
    int N = (int)W->rows, K = (int)W->cols;
    int8_t qx[K > 0 ? K : 1], qw[K > 0 ? K : 1];
    float wr[K > 0 ? K : 1];
    for (int n = 0; n < N; n++) {
        for (int k = 0; k < K; k++) wr[k] = w_at(W, (size_t)n * K + k);
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
