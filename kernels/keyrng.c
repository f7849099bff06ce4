/* rng.c — keying and bounded draws for the counter-based generator in rng.h. */
#include "keyrng.h"

void mrng_init(mrng_t *r, uint64_t seed, uint64_t stream, uint64_t index, uint32_t purpose) {
    /* Chain the key parts through the bijective finaliser so that every part changes every
     * bit of the state; the constants keep (0,0,0,0) away from a trivial state. */
    uint64_t h = mrng_mix64(seed ^ 0x6A09E667F3BCC909ULL);
    h = mrng_mix64(h ^ (stream + 0xBB67AE8584CAA73BULL));
    h = mrng_mix64(h ^ (index + 0x3C6EF372FE94F82BULL));
    h = mrng_mix64(h ^ ((uint64_t)purpose * 0xA54FF53A5F1D36F1ULL));
    r->state = h;
}

void mrng_init_sub(mrng_t *r, uint64_t seed, uint64_t stream, uint64_t index, uint64_t sub, uint32_t purpose) {
    mrng_init(r, seed, stream, index, purpose);
    r->state = mrng_mix64(r->state ^ (sub + 0x510E527FADE682D1ULL));
}

uint64_t mrng_below(mrng_t *r, uint64_t n) {
    if (n <= 1) return 0;
    /* 128-bit product: the high word is uniform in [0,n) once the low word passes the
     * rejection threshold (2^64 mod n). */
    unsigned __int128 m = (unsigned __int128)mrng_u64(r) * n;
    uint64_t lo = (uint64_t)m;
    if (lo < n) {
        uint64_t thr = -n % n;
        while (lo < thr) {
            m = (unsigned __int128)mrng_u64(r) * n;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}
