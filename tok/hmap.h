/* hmap.h — the two hash maps the tokenizer lives on: byte string -> int32 (vocabularies,
 * piece cache keys) and u64 -> u64 (BPE merges: (left id, right id) -> (rank, new id)).
 * Open addressing, linear probing, power-of-two capacity, no deletion (never needed).
 */
#ifndef TOK_HMAP_H
#define TOK_HMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t hm_mix(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}
/* Fast hash of a short byte string (reads 8 bytes at a time). */
static inline uint64_t hm_hash(const void *p, size_t n) {
    const uint8_t *s = p;
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (n * 0x100000001B3ULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0x9FB21C651E98DF25ULL;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++) w |= (uint64_t)s[i] << (8 * i);
    return hm_mix(h ^ w);
}

/* Equal bytes? Inline for the short keys of a vocabulary (a libc memcmp call costs more than
 * the compare): overlapping 8- or 4-byte loads, never reading outside either key. */
static inline bool hm_keq(const uint8_t *a, const uint8_t *b, size_t n) {
    uint64_t x, y;
    if (n >= 8) {
        for (size_t i = 0; i + 8 <= n; i += 8) {
            memcpy(&x, a + i, 8);
            memcpy(&y, b + i, 8);
            if (x != y) return false;
        }
        memcpy(&x, a + n - 8, 8);
        memcpy(&y, b + n - 8, 8);
        return x == y;
    }
    if (n >= 4) {
        uint32_t u, v, w, z;
        memcpy(&u, a, 4);
        memcpy(&v, b, 4);
        memcpy(&w, a + n - 4, 4);
        memcpy(&z, b + n - 4, 4);
        return u == v && w == z;
    }
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return false;
    return true;
}

typedef struct {
    uint32_t e, h;
} smap_slot_t; /* entry index + 1 (0 = empty), low hash bits */
typedef struct {
    smap_slot_t *slots;
    uint64_t mask;
    /* entries (one struct each: a lookup touches slot, entry, key bytes) */
    struct smap_ent {
        uint32_t koff, klen;
        int32_t val;
    } * ent;
    uint32_t n, cap_e;
    uint8_t *arena;
    size_t alen, acap;
    bool borrowed; /* slots/ent/arena belong to someone else (a mapped cache file): never freed or grown */
} smap_t;

/* Initialise an empty map sized for about `n` keys. 0 ok, -1 OOM. smap_free releases. */
int smap_init(smap_t *m, size_t n);
void smap_free(smap_t *m);
/* Insert or replace. 0 ok, -1 OOM. smap_put_h takes the key's hm_hash. */
int smap_put_h(smap_t *m, const void *key, size_t len, int32_t val, uint64_t hv);
static inline int smap_put(smap_t *m, const void *key, size_t len, int32_t val) {
    return smap_put_h(m, key, len, val, hm_hash(key, len));
}
/* Value, or -1 if absent. smap_get_h takes the key's hm_hash (callers that hash once). */
int32_t smap_get_h(const smap_t *m, const void *key, size_t len, uint64_t hv);
static inline int32_t smap_get(const smap_t *m, const void *key, size_t len) {
    return smap_get_h(m, key, len, hm_hash(key, len));
}
/* n lookups at once (keys[i], lens[i], hashes hv[i]; out[i] = value or -1), the same answers as
 * smap_get_h: the first probe of each is taken in three passes (slot, entry, key bytes), each
 * prefetching what the next reads, so the cache misses of n lookups overlap. Best with the
 * slots already prefetched (smap_prefetch). */
void smap_get_many(const smap_t *m, int n, const uint8_t *const *keys, const size_t *lens, const uint64_t *hv,
                   int32_t *out);
static inline void smap_prefetch(const smap_t *m, uint64_t hv) { __builtin_prefetch(&m->slots[hv & m->mask]); }
/* Before an insert: prefetch for writing (prefetchw; a read prefetch leaves the store to miss
 * again: 280 k random inserts into an 8 MB table, 29 ns each unprefetched or read-prefetched,
 * 16-19 ns write-prefetched, on the Zen 5 VMs). */
static inline void smap_prefetch_put(const smap_t *m, uint64_t hv) { __builtin_prefetch(&m->slots[hv & m->mask], 1); }
/* Entry i's key (borrowed). */
static inline const uint8_t *smap_key(const smap_t *m, uint32_t i, size_t *len) {
    *len = m->ent[i].klen;
    return m->arena + m->ent[i].koff;
}

typedef struct {
    uint64_t k, v;
} umap_slot_t; /* k = key + 1 (0 = empty); keys < UINT64_MAX */
typedef struct {
    umap_slot_t *s;
    uint64_t mask, n;
    bool borrowed; /* as smap_t.borrowed */
} umap_t;

int umap_init(umap_t *m, size_t n);
static inline void umap_prefetch(const umap_t *m, uint64_t key) { __builtin_prefetch(&m->s[hm_mix(key) & m->mask]); }
static inline void umap_prefetch_put(const umap_t *m, uint64_t key) {
    __builtin_prefetch(&m->s[hm_mix(key) & m->mask], 1);
}
void umap_free(umap_t *m);
int umap_put(umap_t *m, uint64_t key, uint64_t val);
/* 1 and *val if present, else 0. */
static inline int umap_get(const umap_t *m, uint64_t key, uint64_t *val) {
    uint64_t k = key + 1, i = hm_mix(key) & m->mask;
    for (;;) {
        const umap_slot_t *s = &m->s[i];
        if (s->k == k) {
            *val = s->v;
            return 1;
        }
        if (!s->k) return 0;
        i = (i + 1) & m->mask;
    }
}

#endif
