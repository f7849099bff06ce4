/* hmap.c — string -> int32 and u64 -> u64 open-addressing hash maps (see hmap.h). */
#include "hmap.h"
#include "mem.h"
#include <stdlib.h>

static uint64_t pow2_for(size_t n) {
    uint64_t c = 16;
    while (c < n * 2) c <<= 1;
    return c;
}

int smap_init(smap_t *m, size_t n) {
    memset(m, 0, sizeof *m);
    uint64_t c = pow2_for(n);
    m->slots = tok_big_alloc(c * sizeof *m->slots, 1);
    m->mask = c - 1;
    /* entries and key bytes for n keys of ~8 bytes up front (they grow if needed) */
    m->ent = tok_big_alloc((n ? n : 1) * sizeof *m->ent, 0);
    m->cap_e = m->ent ? (uint32_t)(n ? n : 1) : 0;
    m->arena = tok_big_alloc(n * 8 + 64, 0);
    m->acap = m->arena ? n * 8 + 64 : 0;
    if (!m->slots || !m->ent || !m->arena) {
        smap_free(m);
        return -1;
    }
    return 0;
}

void smap_free(smap_t *m) {
    if (!m->borrowed) {
        free(m->slots);
        free(m->ent);
        free(m->arena);
    }
    memset(m, 0, sizeof *m);
}

static int smap_grow(smap_t *m) {
    uint64_t c = (m->mask + 1) * 2;
    smap_slot_t *s = tok_big_alloc(c * sizeof *s, 1);
    if (!s) return -1;
    for (uint32_t e = 0; e < m->n; e++) {
        uint64_t hv = hm_hash(m->arena + m->ent[e].koff, m->ent[e].klen), i = hv & (c - 1);
        while (s[i].e) i = (i + 1) & (c - 1);
        s[i].e = e + 1;
        s[i].h = (uint32_t)hv;
    }
    free(m->slots);
    m->slots = s;
    m->mask = c - 1;
    return 0;
}

static int smap_room(smap_t *m, size_t len) {
    if ((uint64_t)(m->n + 1) * 2 > m->mask + 1 && smap_grow(m)) return -1;
    if (m->n == m->cap_e) {
        uint32_t c = m->cap_e ? m->cap_e * 2 : 64;
        struct smap_ent *x = realloc(m->ent, c * sizeof *x);
        if (!x) return -1;
        m->ent = x;
        m->cap_e = c;
    }
    if (m->alen + len > m->acap) {
        size_t c = m->acap ? m->acap * 2 : 4096;
        while (c < m->alen + len) c *= 2;
        uint8_t *a = realloc(m->arena, c);
        if (!a) return -1;
        m->arena = a;
        m->acap = c;
    }
    return 0;
}

int32_t smap_get_h(const smap_t *m, const void *key, size_t len, uint64_t hv) {
    uint64_t i = hv & m->mask;
    for (;;) {
        smap_slot_t s = m->slots[i];
        if (!s.e) return -1;
        if (s.h == (uint32_t)hv) {
            const struct smap_ent *x = &m->ent[s.e - 1];
            if (x->klen == len && hm_keq(m->arena + x->koff, key, len)) return x->val;
        }
        i = (i + 1) & m->mask;
    }
}

void smap_get_many(const smap_t *m, int n, const uint8_t *const *keys, const size_t *lens, const uint64_t *hv,
                   int32_t *out) {
    enum { MISS = -1, PROBE = -2 }; /* out[] while in flight: a candidate entry index, or these */
    for (int i = 0; i < n; i++) {   /* pass 1: the first slot with the hash's low bits (the
                                          probe run is short, mostly in the same cache line) */
        uint64_t at = hv[i] & m->mask;
        out[i] = PROBE;
        for (int k = 0; k < 8; k++, at = (at + 1) & m->mask) {
            smap_slot_t s = m->slots[at];
            if (!s.e) {
                out[i] = MISS;
                break;
            }
            if (s.h == (uint32_t)hv[i]) {
                out[i] = (int32_t)(s.e - 1);
                __builtin_prefetch(&m->ent[s.e - 1]);
                break;
            }
        }
    }
    for (int i = 0; i < n; i++) /* pass 2: the entry's key bytes */
        if (out[i] >= 0) __builtin_prefetch(m->arena + m->ent[out[i]].koff);
    for (int i = 0; i < n; i++) { /* pass 3: compare; anything else takes the plain path */
        if (out[i] == MISS) continue;
        if (out[i] >= 0) {
            const struct smap_ent *x = &m->ent[out[i]];
            if (x->klen == lens[i] && hm_keq(m->arena + x->koff, keys[i], lens[i])) {
                out[i] = x->val;
                continue;
            }
        }
        out[i] = smap_get_h(m, keys[i], lens[i], hv[i]);
    }
}

int smap_put_h(smap_t *m, const void *key, size_t len, int32_t val, uint64_t hv) {
    if (m->borrowed || len > UINT32_MAX || smap_room(m, len)) return -1;
    uint64_t i = hv & m->mask;
    for (;;) {
        smap_slot_t s = m->slots[i];
        if (!s.e) break;
        struct smap_ent *x = &m->ent[s.e - 1];
        if (s.h == (uint32_t)hv && x->klen == len && hm_keq(m->arena + x->koff, key, len)) {
            x->val = val;
            return 0;
        }
        i = (i + 1) & m->mask;
    }
    uint32_t e = m->n++;
    if (len) memcpy(m->arena + m->alen, key, len);
    m->ent[e] = (struct smap_ent){(uint32_t)m->alen, (uint32_t)len, val};
    m->alen += len;
    m->slots[i].e = e + 1;
    m->slots[i].h = (uint32_t)hv;
    return 0;
}

int umap_init(umap_t *m, size_t n) {
    memset(m, 0, sizeof *m);
    uint64_t c = 16;
    while (c < n + n / 2) c <<= 1; /* load <= 2/3: half the memory of pow2_for, still short probes */
    m->s = tok_big_alloc(c * sizeof *m->s, 1);
    m->mask = c - 1;
    m->n = 0;
    if (!m->s) {
        umap_free(m);
        return -1;
    }
    return 0;
}

void umap_free(umap_t *m) {
    if (!m->borrowed) free(m->s);
    memset(m, 0, sizeof *m);
}

static int umap_grow(umap_t *m) {
    umap_t g;
    if (umap_init(&g, (m->mask + 1) * 2)) return -1;
    for (uint64_t i = 0; i <= m->mask; i++)
        if (m->s[i].k) umap_put(&g, m->s[i].k - 1, m->s[i].v);
    umap_free(m);
    *m = g;
    return 0;
}

int umap_put(umap_t *m, uint64_t key, uint64_t val) {
    if (m->borrowed) return -1;
    if ((m->n + 1) * 3 > (m->mask + 1) * 2 && umap_grow(m)) return -1;
    uint64_t k = key + 1, i = hm_mix(key) & m->mask;
    while (m->s[i].k && m->s[i].k != k) i = (i + 1) & m->mask;
    if (!m->s[i].k) m->n++;
    m->s[i].k = k;
    m->s[i].v = val;
    return 0;
}
