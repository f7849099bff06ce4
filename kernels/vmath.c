/* vmath.c — vectorised exp for the row operations that dominate outside the GEMMs:
 * the attention softmax (L² exps per head) and SwiGLU. AVX-512 versions selected at run time
 * (__builtin_cpu_supports), scalar fallbacks with libm. The vector exp is the Cephes
 * construction (range reduction by ln2 in two parts, degree-6 polynomial, scale by 2^n;
 * simd512.h), within 2 ulp of expf over the clamped range; test_kernels compares both paths to libm. */
#include <math.h>
#include <immintrin.h>
#include "kernels.h"
#include "simd512.h"

#define TGT __attribute__((target("avx512f")))

TGT static float exp_sub_sum_512(float *x, int n, float mx) {
    __m512 m = _mm512_set1_ps(mx), s = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i), m));
        _mm512_storeu_ps(x + i, e);
        s = _mm512_add_ps(s, e);
    }
    if (i < n) {
        __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), m));
        _mm512_mask_storeu_ps(x + i, k, e);
        s = _mm512_add_ps(s, _mm512_maskz_mov_ps(k, e));
    }
    return _mm512_reduce_add_ps(s);
}

TGT static float max_512(const float *x, int n) {
    __m512 m = _mm512_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 16 <= n; i += 16) m = _mm512_max_ps(m, _mm512_loadu_ps(x + i));
    if (i < n) {
        __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        m = _mm512_mask_max_ps(m, k, m, _mm512_maskz_loadu_ps(k, x + i));
    }
    return _mm512_reduce_max_ps(m);
}

TGT static void swiglu_512(float *out, const float *g, const float *u, size_t n) {
    size_t i = 0;
    const __m512 one = _mm512_set1_ps(1.0f);
    for (; i + 16 <= n; i += 16) {
        __m512 gv = _mm512_loadu_ps(g + i);
        __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), gv));
        __m512 y = _mm512_mul_ps(_mm512_div_ps(gv, _mm512_add_ps(one, e)), _mm512_loadu_ps(u + i));
        _mm512_storeu_ps(out + i, y);
    }
    for (; i < n; i++) out[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* a = g σ(g) u:  du += da g σ(g);  dg += da u σ(g)(1 + g(1 − σ(g))) (tr_swiglu_bwd's formula). */
TGT static void swiglu_bwd_512(const float *da, const float *g, const float *u, float *dg, float *du, size_t n) {
    size_t i = 0;
    const __m512 one = _mm512_set1_ps(1.0f);
    for (; i + 16 <= n; i += 16) {
        __m512 gv = _mm512_loadu_ps(g + i), dv = _mm512_loadu_ps(da + i);
        __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), gv))));
        __m512 dus = _mm512_mul_ps(_mm512_mul_ps(dv, gv), s);
        _mm512_storeu_ps(du + i, _mm512_add_ps(_mm512_loadu_ps(du + i), dus));
        __m512 t = _mm512_fmadd_ps(gv, _mm512_sub_ps(one, s), one);
        __m512 dgs = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(dv, _mm512_loadu_ps(u + i)), s), t);
        _mm512_storeu_ps(dg + i, _mm512_add_ps(_mm512_loadu_ps(dg + i), dgs));
    }
    for (; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-g[i]));
        du[i] += da[i] * g[i] * s;
        dg[i] += da[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
    }
}

static int have512(void) {
    static int h = -1;
    if (h < 0) {
        __builtin_cpu_init();
        h = __builtin_cpu_supports("avx512f") ? 1 : 0;
    }
    return h;
}

float vmax_f32(const float *x, int n) {
    KERN_ASSERT(n >= 0);
    if (have512()) return max_512(x, n);
    float m = -INFINITY;
    for (int i = 0; i < n; i++)
        if (x[i] > m) m = x[i];
    return m;
}

float vexp_sub_sum(float *x, int n, float mx) {
    KERN_ASSERT(n >= 0);
    if (have512()) return exp_sub_sum_512(x, n, mx);
    double s = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        s += x[i];
    }
    return (float)s;
}

void swiglu_bwd(const float *da, const float *g, const float *u, float *dg, float *du, size_t n) {
    if (have512()) {
        swiglu_bwd_512(da, g, u, dg, du, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-g[i]));
        du[i] += da[i] * g[i] * s;
        dg[i] += da[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
    }
}

void swiglu(float *out, const float *gate, const float *up, size_t n) {
    if (have512()) {
        swiglu_512(out, gate, up, n);
        return;
    }
    for (size_t i = 0; i < n; i++) out[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}
