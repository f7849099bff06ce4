/* convert.c — scalar conversions between f32 and the 16-bit weight formats (bf16, f16).
 * Plain portable code: bf16 is the top half of an f32 (round-to-nearest-even on the way
 * down); f16 is IEEE binary16 with subnormals. Used when weights are read or written. */
#include <string.h>
#include <immintrin.h>
#include "kernels.h"
#include "quant.h"

size_t wtype_size(wtype_t t) {
    KERN_ASSERT((unsigned)t <= WT_F16);
    return t == WT_F32 ? 4 : 2;
}

int wtype_block(wtype_t t) {
    KERN_ASSERT((unsigned)t < WT_N);
    return t <= WT_F16 ? 1 : t <= WT_Q4_0 || t >= WT_Q5_0 ? 32 : 256;
}

size_t wtype_bytes(wtype_t t, size_t n) {
    static const unsigned bytes[WT_N] = {4, 2, 2, 34, 18, 144, 210, 176, 22, 24};
    KERN_ASSERT((unsigned)t < WT_N && n % (size_t)wtype_block(t) == 0);
    return n / (size_t)wtype_block(t) * bytes[t];
}

const char *wtype_name(wtype_t t) {
    switch (t) {
    case WT_F32: return "f32";
    case WT_BF16: return "bf16";
    case WT_F16: return "f16";
    case WT_Q8_0: return "q8_0";
    case WT_Q4_0: return "q4_0";
    case WT_Q4_K: return "q4_k";
    case WT_Q6_K: return "q6_k";
    case WT_Q5_K: return "q5_k";
    case WT_Q5_0: return "q5_0";
    case WT_Q5_1: return "q5_1";
    case WT_N: break;
    }
    return "?";
}

float bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: normalise */
            exp = 127 - 15 + 1;
            while (!(man & 0x400u)) {
                man <<= 1;
                exp--;
            }
            u = sign | (exp << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);  /* NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* overflow -> inf */
    if (a < 0x38800000u) {                                   /* subnormal / zero */
        if (a < 0x33000000u) return (uint16_t)sign;          /* < half min subnormal */
        uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - e; /* 14 .. 24 */
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1u))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = ((a >> 13) - (112u << 10));
    uint32_t rem = a & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) r++;
    return (uint16_t)(sign | r);
}

__attribute__((target("avx512f"))) static void bf16_f32_512(float *dst, const uint16_t *s, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(s + i)));
        _mm512_storeu_si512(dst + i, _mm512_slli_epi32(v, 16));
    }
    uint32_t *d = (uint32_t *)dst;
    for (; i < n; i++) d[i] = (uint32_t)s[i] << 16;
}

void wconvert_f32(float *dst, const void *src, wtype_t t, size_t n) {
    KERN_ASSERT((unsigned)t < WT_N && (n == 0 || (dst && src)));
    if (wtype_is_quant(t)) {
        dequant_ref(dst, src, t, n);
        return;
    }
    static int avx512 = -1;
    if (avx512 < 0) {
        __builtin_cpu_init();
        avx512 = __builtin_cpu_supports("avx512f") ? 1 : 0;
    }
    if (t == WT_F32) {
        memcpy(dst, src, n * 4);
    } else if (t == WT_BF16 && avx512) {
        bf16_f32_512(dst, src, n);
    } else if (t == WT_BF16) {
        const uint16_t *s = src;
        uint32_t *d = (uint32_t *)dst;
        for (size_t i = 0; i < n; i++) d[i] = (uint32_t)s[i] << 16;
    } else {
        const uint16_t *s = src;
        for (size_t i = 0; i < n; i++) dst[i] = f16_to_f32(s[i]);
    }
}
