/* bpe.c — the BPE model: one pre-tokenized piece -> token ids, as HF's BPE does it.
 *
 * Steps: piece cache lookup; `ignore_merges` whole-piece lookup; initial symbols (one per byte
 * in byte-level space, else one per UTF-8 character, with byte_fallback / unk / fuse_unk);
 * then repeatedly merge the adjacent pair of lowest merge rank, leftmost on ties.
 * Two merge loops give the same result: a plain O(n^2) scan (bpe_merge_linear, the reference,
 * fastest for the short pieces of real text) and a binary heap over a linked list
 * (bpe_merge_heap, HF's algorithm, O(n log n) for long pieces such as a 1 MB "word").
 */
#include "tok_int.h"
#include "unicode.h"
#include <stdlib.h>
#include <string.h>

#define LINEAR_MAX 96
#define CACHE_MAX_KEY 64
#define CACHE_SLOTS (1u << 16)

static inline int pair_lookup(const tokenizer_t *t, int32_t a, int32_t b, uint32_t *rank, int32_t *nid) {
    uint64_t v;
    if (a < 0 || b < 0 || !umap_get(&t->merges, ((uint64_t)(uint32_t)a << 32) | (uint32_t)b, &v)) return 0;
    *rank = (uint32_t)(v >> 32); *nid = (int32_t)(uint32_t)v;
    return 1;
}

int bpe_merge_linear(const tokenizer_t *t, int32_t *sym, int n) {
    uint32_t rk[LINEAR_MAX + 1];
    int32_t nid[LINEAR_MAX + 1];
    uint32_t *r = rk; int32_t *ni = nid;
    if (n > LINEAR_MAX) {  /* callers use the heap beyond this; keep the reference general */
        r = malloc(n * sizeof *r); ni = malloc(n * sizeof *ni);
        if (!r || !ni) { free(r); free(ni); return -1; }
    }
    for (int i = 0; i + 1 < n; i++)
        if (!pair_lookup(t, sym[i], sym[i + 1], &r[i], &ni[i])) r[i] = UINT32_MAX;
    while (n > 1) {
        int best = -1; uint32_t br = UINT32_MAX;
        for (int i = 0; i + 1 < n; i++)
            if (r[i] < br) { br = r[i]; best = i; }
        if (best < 0) break;
        sym[best] = ni[best];
        int tail = n - best - 2;            /* symbols after the removed one */
        memmove(sym + best + 1, sym + best + 2, tail * sizeof *sym);
        if (tail > 1) {                      /* pairs after the merged one shift left by one */
            memmove(r + best + 1, r + best + 2, (tail - 1) * sizeof *r);
            memmove(ni + best + 1, ni + best + 2, (tail - 1) * sizeof *ni);
        }
        n--;
        if (best > 0 && !pair_lookup(t, sym[best - 1], sym[best], &r[best - 1], &ni[best - 1]))
            r[best - 1] = UINT32_MAX;
        if (best + 1 < n && !pair_lookup(t, sym[best], sym[best + 1], &r[best], &ni[best]))
            r[best] = UINT32_MAX;
    }
    if (r != rk) { free(r); free(ni); }
    return n;
}

/* Heap entry ordered by (rank, pos). */
typedef struct { uint32_t rank; int32_t pos; int32_t nid; } hent_t;
static inline int hless(const hent_t *a, const hent_t *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}
static void hpush(hent_t *h, size_t *n, hent_t x) {
    size_t i = (*n)++;
    while (i) { size_t p = (i - 1) / 2; if (!hless(&x, &h[p])) break; h[i] = h[p]; i = p; }
    h[i] = x;
}
static hent_t hpop(hent_t *h, size_t *n) {
    hent_t top = h[0], x = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && hless(&h[c + 1], &h[c])) c++;
        if (!hless(&h[c], &x)) break;
        h[i] = h[c]; i = c;
    }
    if (*n) h[i] = x;
    return top;
}

static int scratch(tokenizer_t *t, size_t n) {
    if (n <= t->sym_cap) return 0;
    size_t c = t->sym_cap ? t->sym_cap : 256;
    while (c < n) c *= 2;
    int32_t *s = realloc(t->sym, c * sizeof *s); if (!s) return -1; t->sym = s;
    int32_t *p = realloc(t->prev, c * sizeof *p); if (!p) return -1; t->prev = p;
    int32_t *x = realloc(t->next, c * sizeof *x); if (!x) return -1; t->next = x;
    void *h = realloc(t->heap, 2 * c * sizeof(hent_t)); if (!h) return -1; t->heap = h;
    t->sym_cap = c;
    return 0;
}

int bpe_merge_heap(tokenizer_t *t, int32_t *sym, int n) {
    if (scratch(t, (size_t)n)) return -1;
    int32_t *prev = t->prev, *next = t->next;
    hent_t *h = t->heap; size_t hn = 0;
    for (int i = 0; i < n; i++) { prev[i] = i - 1; next[i] = i + 1 < n ? i + 1 : -1; }
    for (int i = 0; i + 1 < n; i++) {
        uint32_t r; int32_t ni;
        if (pair_lookup(t, sym[i], sym[i + 1], &r, &ni)) hpush(h, &hn, (hent_t){r, i, ni});
    }
    while (hn) {
        hent_t top = hpop(h, &hn);
        int32_t i = top.pos, j = next[i];
        if (sym[i] < 0 || j < 0) continue;              /* dead symbol or no right neighbour */
        uint32_t r; int32_t ni;
        if (!pair_lookup(t, sym[i], sym[j], &r, &ni) || ni != top.nid) continue;  /* stale */
        sym[i] = top.nid; sym[j] = -1;
        next[i] = next[j];
        if (next[j] >= 0) prev[next[j]] = i;
        if (prev[i] >= 0 && pair_lookup(t, sym[prev[i]], sym[i], &r, &ni))
            hpush(h, &hn, (hent_t){r, prev[i], ni});
        if (next[i] >= 0 && pair_lookup(t, sym[i], sym[next[i]], &r, &ni))
            hpush(h, &hn, (hent_t){r, i, ni});
    }
    int m = 0;
    for (int i = 0; i >= 0; i = next[i]) sym[m++] = sym[i];
    return m;
}

/* ---- hot piece cache ---- */
static inline void hot_key(uint8_t kb[24], const uint8_t *p, size_t n) {
    memset(kb, 0, 24); kb[0] = (uint8_t)n; memcpy(kb + 1, p, n);
}
static inline const hot_slot_t *hot_find(const tokenizer_t *t, const uint8_t kb[24], uint64_t h) {
    const hot_slot_t *s = &t->hot[h & (HOT_SLOTS - 1)];
    uint64_t a[3], b[3];
    memcpy(a, s->kb, 24); memcpy(b, kb, 24);
    return (s->h == h && a[0] == b[0] && a[1] == b[1] && a[2] == b[2]) ? s : NULL;
}
static void hot_put(tokenizer_t *t, const uint8_t kb[24], uint64_t h, const int32_t *ids, size_t k) {
    if (!t->hot && !(t->hot = calloc(HOT_SLOTS, sizeof *t->hot))) return;
    hot_slot_t *s = &t->hot[h & (HOT_SLOTS - 1)];
    s->h = h; memcpy(s->kb, kb, 24);
    for (size_t i = 0; i < 8; i++) s->ids[i] = i < k ? ids[i] : -1;
}
static int hot_emit(const hot_slot_t *s, tok_ids_t *out) {
    for (int i = 0; i < 8 && s->ids[i] >= 0; i++) if (tok_ids_push(out, s->ids[i])) return -1;
    return 0;
}

/* ---- overflow piece cache ---- */
static cache_slot_t *cache_find(tokenizer_t *t, const uint8_t *p, size_t n, uint64_t h) {
    piece_cache_t *c = &t->cache;
    if (!c->slots) return NULL;
    cache_slot_t *s = &c->slots[h & c->mask];
    if (s->h == h && s->klen == n && memcmp(c->keys + s->koff, p, n) == 0) return s;
    return NULL;
}
static void cache_put(tokenizer_t *t, const uint8_t *p, size_t n, uint64_t h, const int32_t *ids, size_t k) {
    piece_cache_t *c = &t->cache;
    if (!c->slots) {
        c->slots = calloc(CACHE_SLOTS, sizeof *c->slots);
        if (!c->slots) return;
        c->mask = CACHE_SLOTS - 1;
    }
    if (c->klen + n > (32u << 20) || c->tlen + k > (8u << 20)) {   /* bounded: start over */
        memset(c->slots, 0, CACHE_SLOTS * sizeof *c->slots); c->klen = c->tlen = 0;
    }
    if (c->klen + n > c->kcap) {
        size_t cap = c->kcap ? c->kcap * 2 : 1 << 16; while (cap < c->klen + n) cap *= 2;
        uint8_t *x = realloc(c->keys, cap); if (!x) return; c->keys = x; c->kcap = cap;
    }
    if (c->tlen + k > c->tcap) {
        size_t cap = c->tcap ? c->tcap * 2 : 1 << 14; while (cap < c->tlen + k) cap *= 2;
        int32_t *x = realloc(c->toks, cap * sizeof *x); if (!x) return; c->toks = x; c->tcap = cap;
    }
    cache_slot_t *s = &c->slots[h & c->mask];
    memcpy(c->keys + c->klen, p, n); memcpy(c->toks + c->tlen, ids, k * sizeof *ids);
    *s = (cache_slot_t){h ? h : 1, (uint32_t)c->klen, (uint32_t)n, (uint32_t)c->tlen, (uint32_t)k};
    if (!h) s->klen = UINT32_MAX;  /* h == 0 never matches a lookup; keep it unusable */
    c->klen += n; c->tlen += k;
}
void cache_free(piece_cache_t *c) { free(c->slots); free(c->keys); free(c->toks); memset(c, 0, sizeof *c); }

/* Initial symbols of a piece, HF BPE::merge_word order (unk / byte_fallback rules). */
static int initial_symbols(tokenizer_t *t, const uint8_t *p, size_t n, int *nsym, lerr_t *e) {
    int k = 0;
    int32_t unk = -1;   /* pending unk: 1 if one is open */
    for (size_t i = 0; i < n;) {
        int32_t id; size_t cl;
        uint8_t tmp[4]; const uint8_t *unit; size_t ulen;
        if (t->byte_level) {
            cl = 1; id = t->byte_id[p[i]];
            ulen = utf8_enc(byte_to_char()[p[i]], tmp); unit = tmp;
        } else {
            int l; utf8_dec(p + i, n - i, &l); cl = l;
            unit = p + i; ulen = cl;
            id = smap_get(&t->vocab, unit, ulen);
        }
        if (id >= 0) {
            if (unk >= 0) { t->sym[k++] = t->unk_id; unk = -1; }
            t->sym[k++] = id;
        } else {
            int fb_ok = t->byte_fallback;
            for (size_t b = 0; fb_ok && b < ulen; b++) if (t->fb_id[unit[b]] < 0) fb_ok = 0;
            if (fb_ok) {
                for (size_t b = 0; b < ulen; b++) t->sym[k++] = t->fb_id[unit[b]];
            } else {
                if (t->unk_id < 0)
                    return lerr_set(e, EXIT_DATA, "character at byte %zu of a piece is not in the vocabulary and the model has no unk_token", i);
                if (unk >= 0 && !t->fuse_unk) t->sym[k++] = t->unk_id;
                unk = 1;
            }
        }
        i += cl;
    }
    if (unk >= 0) t->sym[k++] = t->unk_id;
    *nsym = k;
    return 0;
}

int bpe_piece(tokenizer_t *t, const uint8_t *p, size_t n, tok_ids_t *out, lerr_t *e) {
    if (!n) return 0;
    uint64_t h = hm_hash(p, n);
    uint8_t kb[24];
    bool hot = n <= 23;
    if (hot) {
        hot_key(kb, p, n);
        const hot_slot_t *s = t->hot ? hot_find(t, kb, h) : NULL;
        if (s) return hot_emit(s, out) ? lerr_set(e, EXIT_INTERNAL, "out of memory") : 0;
    }
    if (t->ignore_merges) {   /* a whole-piece vocabulary hit skips the merges */
        int32_t id = smap_get_h(&t->vocab, p, n, h);
        if (id >= 0) {
            if (hot) hot_put(t, kb, h, &id, 1);
            return tok_ids_push(out, id) ? lerr_set(e, EXIT_INTERNAL, "out of memory") : 0;
        }
    }
    if (n <= CACHE_MAX_KEY) {
        cache_slot_t *s = cache_find(t, p, n, h);
        if (s) {
            for (uint32_t i = 0; i < s->ntok; i++)
                if (tok_ids_push(out, t->cache.toks[s->toff + i])) goto oom;
            return 0;
        }
    }
    if (scratch(t, 4 * n + 8)) goto oom;
    int ns = 0;
    if (initial_symbols(t, p, n, &ns, e)) return -1;
    int m = ns <= LINEAR_MAX ? bpe_merge_linear(t, t->sym, ns) : bpe_merge_heap(t, t->sym, ns);
    if (m < 0) goto oom;
    if (hot && m <= 8) hot_put(t, kb, h, t->sym, m);
    else if (n <= CACHE_MAX_KEY) cache_put(t, p, n, h, t->sym, m);
    for (int i = 0; i < m; i++) if (tok_ids_push(out, t->sym[i])) goto oom;
    return 0;
oom:
    return lerr_set(e, EXIT_INTERNAL, "out of memory");
}
