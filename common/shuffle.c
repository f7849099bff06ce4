/* shuffle.c — byte-shuffle filter (see shuffle.h): plain loops for any element size, and an
 * SSSE3 path for 4-byte elements (token ids, f32), the case that matters for shards. The
 * SSSE3 path handles 16 elements per iteration: pshufb gathers each 4-element vector's bytes
 * by plane (a 4x4 byte transpose), then a 4x4 transpose of 32-bit lanes lines the planes
 * up across the four vectors. Both transposes are their own inverses, so unshuffle runs the
 * same steps in the other direction. Runtime dispatch; tests/unit/test_shuffle.c compares
 * both paths with the reference.
 */
#include <string.h>
#include "shuffle.h"
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#endif

/* The plain loops over elements [from, n): the reference, and the fast paths' tails. */
static void shuffle_from(uint8_t *dst, const uint8_t *src, size_t n, size_t size, size_t from) {
    for (size_t i = from; i < n; i++)
        for (size_t k = 0; k < size; k++) dst[k * n + i] = src[i * size + k];
}

static void unshuffle_from(uint8_t *dst, const uint8_t *src, size_t n, size_t size, size_t from) {
    for (size_t i = from; i < n; i++)
        for (size_t k = 0; k < size; k++) dst[i * size + k] = src[k * n + i];
}

void shuffle_bytes_ref(uint8_t *dst, const uint8_t *src, size_t n, size_t size) { shuffle_from(dst, src, n, size, 0); }
void unshuffle_bytes_ref(uint8_t *dst, const uint8_t *src, size_t n, size_t size) {
    unshuffle_from(dst, src, n, size, 0);
}

#ifdef HAVE_X86
/* The four 16-byte rows v[0..3] become their 32-bit-lane transpose. */
__attribute__((target("ssse3"))) static inline void transpose4x32(__m128i v[4]) {
    __m128i t0 = _mm_unpacklo_epi32(v[0], v[1]), t1 = _mm_unpacklo_epi32(v[2], v[3]);
    __m128i t2 = _mm_unpackhi_epi32(v[0], v[1]), t3 = _mm_unpackhi_epi32(v[2], v[3]);
    v[0] = _mm_unpacklo_epi64(t0, t1);
    v[1] = _mm_unpackhi_epi64(t0, t1);
    v[2] = _mm_unpacklo_epi64(t2, t3);
    v[3] = _mm_unpackhi_epi64(t2, t3);
}

/* Elements [0, 16·(n/16)) of a 4-byte array; returns how many were done. */
__attribute__((target("ssse3"))) static size_t shuffle4_ssse3(uint8_t *dst, const uint8_t *src, size_t n) {
    const __m128i by_plane = _mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i v[4];
        for (int j = 0; j < 4; j++)
            v[j] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(src + 4 * i + 16 * j)), by_plane);
        transpose4x32(v);
        for (int k = 0; k < 4; k++) _mm_storeu_si128((__m128i *)(dst + k * n + i), v[k]);
    }
    return i;
}

__attribute__((target("ssse3"))) static size_t unshuffle4_ssse3(uint8_t *dst, const uint8_t *src, size_t n) {
    const __m128i by_plane = _mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i v[4];
        for (int k = 0; k < 4; k++) v[k] = _mm_loadu_si128((const __m128i *)(src + k * n + i));
        transpose4x32(v);
        for (int j = 0; j < 4; j++)
            _mm_storeu_si128((__m128i *)(dst + 4 * i + 16 * j), _mm_shuffle_epi8(v[j], by_plane));
    }
    return i;
}

static int have_ssse3(void) {
    static int cached = -1;
    if (cached < 0) cached = __builtin_cpu_supports("ssse3") ? 1 : 0;
    return cached;
}
#endif

void shuffle_bytes(uint8_t *dst, const uint8_t *src, size_t n, size_t size) {
    if (size <= 1) {
        if (n) memcpy(dst, src, n * size);
        return;
    }
    size_t done = 0;
#ifdef HAVE_X86
    if (size == 4 && have_ssse3()) done = shuffle4_ssse3(dst, src, n);
#endif
    shuffle_from(dst, src, n, size, done);
}

void unshuffle_bytes(uint8_t *dst, const uint8_t *src, size_t n, size_t size) {
    if (size <= 1) {
        if (n) memcpy(dst, src, n * size);
        return;
    }
    size_t done = 0;
#ifdef HAVE_X86
    if (size == 4 && have_ssse3()) done = unshuffle4_ssse3(dst, src, n);
#endif
    unshuffle_from(dst, src, n, size, done);
}
