/* crng.h — counter-based random numbers, identical in C and in the numpy reference.
 *
 * A draw is a pure function of (seed, stream, a, b, c, d): no state, so results do not
 * depend on batching, threading or evaluation order, and tests/py/ref_llada.py reproduces
 * every draw bit for bit. Construction (all arithmetic mod 2^64, mix = SplitMix64's
 * finaliser applied to x + 0x9E3779B97F4A7C15):
 *   h = mix(seed ^ (stream * 0xD1B54A32D192ED03)); h = mix(h ^ a); h = mix(h ^ b);
 *   h = mix(h ^ c); h = mix(h ^ d)
 *   u01 = ((h >> 11) + 0.5) * 2^-53            in (0, 1), never 0 or 1
 * Streams used by denoise: Gumbel noise (a = record, b = step, c = position, d = token)
 * random remasking (a = record, b = step, c = position, d = 0) and Dream's alg_temp position
 * sampling (a = record, b = step, c = position, d = 0).
 */
#ifndef LLADA_CRNG_H
#define LLADA_CRNG_H

#include <stdint.h>

enum { CRNG_GUMBEL = 1, CRNG_RANDOM_REMASK = 2, CRNG_ALG_TEMP = 3, CRNG_USER = 16 };

/* The CUDA backend (kernels/cuda/summarise.cu) compiles these same functions for the
 * device, so GPU and CPU Gumbel noise are the same bits. */
#ifdef __CUDACC__
#define CRNG_FN static inline __host__ __device__
#else
#define CRNG_FN static inline
#endif

CRNG_FN uint64_t crng_mix(uint64_t x) {
    uint64_t z = x + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
/* Prefix hash of (seed, stream, a, b, c); finish with crng_u01_from(h, d). */
CRNG_FN uint64_t crng_prefix(uint64_t seed, uint64_t stream, uint64_t a, uint64_t b, uint64_t c) {
    uint64_t h = crng_mix(seed ^ (stream * 0xD1B54A32D192ED03ull));
    h = crng_mix(h ^ a);
    h = crng_mix(h ^ b);
    return crng_mix(h ^ c);
}
CRNG_FN double crng_u01_from(uint64_t prefix, uint64_t d) {
    uint64_t h = crng_mix(prefix ^ d);
    return ((double)(h >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}
CRNG_FN double crng_u01(uint64_t seed, uint64_t stream, uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
    return crng_u01_from(crng_prefix(seed, stream, a, b, c), d);
}

#endif
