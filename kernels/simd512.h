/* simd512.h — AVX-512 helpers shared by the vector kernels (vmath.c, gemm_bf16.c, bwd_bf16.c):
 * the Cephes exp (within 2 ulp of expf over the clamped range; test_kernels compares it with
 * libm) and f32 -> bf16 rounding of 16 lanes with the same bits as f32_to_bf16 (round to
 * nearest even, NaN kept quiet), by integer ops or, on AVX512-BF16 CPUs, VCVTNEPS2BF16.
 * Callers select these paths at run time with __builtin_cpu_supports. */
#ifndef LLADA_SIMD512_H
#define LLADA_SIMD512_H

#include <immintrin.h>
#include <stdint.h>

__attribute__((target("avx512f"))) static inline __m512 exp512(__m512 x) {
    const __m512 lo = _mm512_set1_ps(-87.3f), hi = _mm512_set1_ps(88.3f);
    __m512 xc = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), xc);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    __m512 y = _mm512_scalef_ps(p, n);
    /* -inf (masked keys) and anything below the range -> exactly 0 */
    __mmask16 tiny = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
    return _mm512_mask_blend_ps(tiny, y, _mm512_setzero_ps());
}

/* 16 floats rounded to bf16 (as f32_to_bf16), packed into 16 uint16 lanes. */
__attribute__((target("avx512f"))) static inline __m256i bf16_round16(__m512 x) {
    const __m512i k7fff = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1), q = _mm512_set1_epi32(0x40),
                  abs = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
    __m512i u = _mm512_castps_si512(x), hi = _mm512_srli_epi32(u, 16);
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, k7fff), _mm512_and_si512(hi, one)), 16);
    __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, abs), inf);
    r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(hi, q));
    return _mm512_cvtepi32_epi16(r);
}

/* The same with VCVTNEPS2BF16 (AVX512-BF16; one instruction): it rounds as f32_to_bf16, NaN
 * included, but flushes fp32 denormals to ±0, so a vector holding any denormal takes the
 * integer path instead: the bits equal bf16_round16's always. Only for CPUs with avx512bf16. */
__attribute__((target("avx512f,avx512bf16"))) static inline __m256i bf16_round16_hw(__m512 x) {
    __m512i a = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(0x7fffffff));
    /* 0 < |x| < 2^-126  <=>  |x|bits - 1 < 0x7fffff (unsigned) */
    if (_mm512_cmplt_epu32_mask(_mm512_sub_epi32(a, _mm512_set1_epi32(1)), _mm512_set1_epi32(0x7fffff)))
        return bf16_round16(x);
    return (__m256i)_mm512_cvtneps_pbh(x);
}

#endif
