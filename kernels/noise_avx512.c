/* noise_avx512.c — AVX-512 version of the Bernoulli token masking in noise.c.
 *
 * Bit-identical to the scalar reference noise_bernoulli_ref: SplitMix64 draw k (state0 +
 * (k+1)·γ, mixed) supplies tokens 2k (low 32 bits) and 2k+1 (high 32 bits); eight draws in
 * one 512-bit register are, read as sixteen u32 lanes, exactly tokens i..i+15 in order. The
 * 64-bit multiplies need AVX-512DQ. tests/unit/test_mask_noise.c compares both paths.
 */
#include <immintrin.h>
#include "noise.h"

__attribute__((target("avx512f,avx512dq"))) static inline __m512i mix64x8(__m512i z) {
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 30)),
                           _mm512_set1_epi64((long long)0xBF58476D1CE4E5B9ULL));
    z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64(z, 27)),
                           _mm512_set1_epi64((long long)0x94D049BB133111EBULL));
    return _mm512_xor_si512(z, _mm512_srli_epi64(z, 31));
}

/* Masks xt[from..from + 16·blocks) from x0; advances r by 8 draws per block. Returns the count. */
__attribute__((target("avx512f,avx512dq"))) size_t noise_bernoulli_avx512(const int32_t *x0, int32_t *xt, size_t from,
                                                                          size_t blocks, uint64_t thr, int32_t mask_id,
                                                                          mrng_t *r) {
    const uint64_t G = 0x9E3779B97F4A7C15ULL;
    __m512i st =
        _mm512_add_epi64(_mm512_set1_epi64((long long)r->state),
                         _mm512_mullo_epi64(_mm512_set_epi64(8, 7, 6, 5, 4, 3, 2, 1), _mm512_set1_epi64((long long)G)));
    const __m512i step = _mm512_set1_epi64((long long)(8 * G)), mid = _mm512_set1_epi32(mask_id);
    const __m512i t32 = _mm512_set1_epi32((int)(uint32_t)(thr ? thr - 1 : 0));
    size_t count = 0;
    for (size_t b = 0; b < blocks; b++) {
        __m512i u = mix64x8(st);
        st = _mm512_add_epi64(st, step);
        __mmask16 m = thr ? _mm512_cmple_epu32_mask(u, t32) : 0; /* u < thr  <=>  u <= thr - 1 */
        size_t i = from + 16 * b;
        __m512i x = _mm512_loadu_si512((const void *)(x0 + i));
        _mm512_storeu_si512((void *)(xt + i), _mm512_mask_blend_epi32(m, x, mid));
        count += (size_t)__builtin_popcount(m);
    }
    r->state += (uint64_t)blocks * 8 * G;
    return count;
}
