/* rng.h — counter-based random numbers for the forward process: draws depend only on a key.
 *
 * Every random draw `mask` makes for output unit k (a packed sequence, an SFT pair, one Monte-
 * Carlo sample) comes from a generator keyed by (seed, stream, k, purpose). Nothing is carried
 * from one unit to the next, so the draws for unit k are the same whichever process, shard or
 * machine produces it: `--shard I/N` over N processes gives exactly the records of one process.
 *
 * The generator is SplitMix64 (Steele, Lea & Flood 2014; passes BigCrush) run from a state
 * derived by hashing the key: output i = mix64(state + (i+1)·γ). It is cheap (one 64-bit
 * multiply-xorshift chain per 64 bits), which keeps per-token Bernoulli draws branch-light.
 */
#ifndef LLADA_KEYRNG_H
#define LLADA_KEYRNG_H

#include <stdint.h>

/* What a draw is for: separate purposes never share a stream. */
enum {
    RNG_T = 1,         /* t ~ U(0,1] of a sequence */
    RNG_CROP = 2,      /* the 1% crop decision and the cropped length */
    RNG_TOKENS = 3,    /* per-token Bernoulli masks */
    RNG_LL_OFFSET = 4, /* the stratified offset k of a likelihood batch */
    RNG_LL_PERM = 5,   /* the permutation choosing l masked answer tokens */
};

typedef struct {
    uint64_t state;
} mrng_t;

/* The SplitMix64 finaliser (a bijection on 64 bits). */
static inline uint64_t mrng_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Key a generator by (seed, stream, index, purpose). */
void mrng_init(mrng_t *r, uint64_t seed, uint64_t stream, uint64_t index, uint32_t purpose);
/* Same with a sub-index (e.g. the batch or sample number inside a likelihood group). */
void mrng_init_sub(mrng_t *r, uint64_t seed, uint64_t stream, uint64_t index, uint64_t sub, uint32_t purpose);

static inline uint64_t mrng_u64(mrng_t *r) {
    r->state += 0x9E3779B97F4A7C15ULL;
    return mrng_mix64(r->state);
}

/* Uniform in (0, 1]: 53 random bits, never 0. */
static inline double mrng_uniform_open0(mrng_t *r) {
    return (double)((mrng_u64(r) >> 11) + 1) * (1.0 / 9007199254740992.0);
}

/* Uniform in [0, 1). */
static inline double mrng_uniform(mrng_t *r) { return (double)(mrng_u64(r) >> 11) * (1.0 / 9007199254740992.0); }

/* Unbiased integer in [0, n) for n >= 1 (Lemire's multiply-and-reject). */
uint64_t mrng_below(mrng_t *r, uint64_t n);

#endif
