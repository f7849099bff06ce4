/* rowops.c — the row-wise forward ops: RMSNorm, RoPE (half-split), residual add,
 * softmax / log-softmax, embedding gather (SwiGLU and the vector exp: vmath.c). fp32 in and out with double accumulations where
 * a sum decides accuracy. Simple loops the compiler vectorises; they are a few percent of
 * the forward's time next to the GEMMs. */
#include <math.h>
#include <string.h>
#include "kernels.h"

/* Weight element i of a 1-D wtensor as float. */
static inline float wget(const wtensor_t *w, int i) {
    switch (w->type) {
    case WT_F32: return ((const float *)w->data)[i];
    case WT_BF16: return bf16_to_f32(((const uint16_t *)w->data)[i]);
    default: return f16_to_f32(((const uint16_t *)w->data)[i]);
    }
}

void rmsnorm_fwd(float *y, float *rstd, const float *x, const wtensor_t *w, int M, int D, float eps) {
    KERN_ASSERT(M >= 0 && D > 0 && eps >= 0);
    if (w) KERN_ASSERT_WEIGHT(w);
    KERN_ASSERT(!w || w->rows * w->cols == D);
    float wf[D > 0 ? D : 1];
    if (w)
        for (int i = 0; i < D; i++) wf[i] = wget(w, i);
    for (int m = 0; m < M; m++) {
        const float *xr = x + (size_t)m * D;
        float *yr = y + (size_t)m * D;
        double ss = 0;
        for (int i = 0; i < D; i++) ss += (double)xr[i] * xr[i];
        float r = (float)(1.0 / sqrt(ss / D + eps));
        if (rstd) rstd[m] = r;
        if (w)
            for (int i = 0; i < D; i++) yr[i] = (xr[i] * r) * wf[i];
        else
            for (int i = 0; i < D; i++) yr[i] = xr[i] * r;
    }
}

void rmsnorm(float *y, const float *x, const wtensor_t *w, int M, int D, float eps) {
    rmsnorm_fwd(y, NULL, x, w, M, D, eps);
}

void rope_tables(float *cos_t, float *sin_t, int L, int head_dim, double theta) {
    KERN_ASSERT(L >= 0 && head_dim > 0 && head_dim % 2 == 0 && theta > 0);
    int half = head_dim / 2;
    for (int i = 0; i < half; i++) {
        /* HF: inv_freq = 1 / theta^(arange(0, hd, 2)/hd), computed in fp32 there; the angle
         * pos*inv_freq is evaluated in double here and rounded once. */
        double inv = 1.0 / pow(theta, (double)(2 * i) / head_dim);
        for (int p = 0; p < L; p++) {
            double a = p * inv;
            cos_t[(size_t)p * half + i] = (float)cos(a);
            sin_t[(size_t)p * half + i] = (float)sin(a);
        }
    }
}

void rope_apply(float *x, int T, int n_heads, int hd, const float *cos_t, const float *sin_t, const int32_t *pos) {
    rope_apply_part(x, T, n_heads, hd, hd, cos_t, sin_t, pos);
}

void rope_apply_part(float *x, int T, int n_heads, int hd, int rd, const float *cos_t, const float *sin_t,
                     const int32_t *pos) {
    KERN_ASSERT(T >= 0 && n_heads > 0 && hd > 0 && rd > 0 && rd <= hd && rd % 2 == 0);
    int half = rd / 2;
    for (int t = 0; t < T; t++) {
        int p = pos ? pos[t] : t;
        const float *c = cos_t + (size_t)p * half, *s = sin_t + (size_t)p * half;
        for (int h = 0; h < n_heads; h++) {
            float *v = x + ((size_t)t * n_heads + h) * hd;
            for (int i = 0; i < half; i++) {
                float a = v[i], b = v[i + half];
                v[i] = a * c[i] - b * s[i];
                v[i + half] = b * c[i] + a * s[i];
            }
        }
    }
}

void residual_add(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

void softmax_rows(float *x, int M, int N) {
    KERN_ASSERT(M >= 0 && N >= 0);
    for (int m = 0; m < M; m++) {
        float *r = x + (size_t)m * N, mx = vmax_f32(r, N);
        if (mx == -INFINITY) {
            memset(r, 0, (size_t)N * sizeof *r);
            continue;
        }
        float inv = 1.0f / vexp_sub_sum(r, N, mx);
        for (int i = 0; i < N; i++) r[i] *= inv;
    }
}

void log_softmax_rows(float *x, int M, int N) {
    KERN_ASSERT(M >= 0 && N > 0);
    for (int m = 0; m < M; m++) {
        float *r = x + (size_t)m * N, mx = -INFINITY;
        for (int i = 0; i < N; i++)
            if (r[i] > mx) mx = r[i];
        double s = 0;
        for (int i = 0; i < N; i++) s += exp((double)r[i] - mx);
        float lse = (float)(mx + log(s));
        for (int i = 0; i < N; i++) r[i] -= lse;
    }
}

void embed(float *out, const wtensor_t *E, const int32_t *tokens, int T) {
    KERN_ASSERT_WEIGHT(E);
    KERN_ASSERT(T >= 0);
    int D = (int)E->cols;
    size_t rb = wtype_bytes(E->type, (size_t)D);
    for (int t = 0; t < T; t++) KERN_ASSERT(tokens[t] >= 0 && tokens[t] < E->rows);
    for (int t = 0; t < T; t++)
        wconvert_f32(out + (size_t)t * D, (const uint8_t *)E->data + (size_t)tokens[t] * rb, E->type, (size_t)D);
}
