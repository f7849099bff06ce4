/* bpe.c — the BPE model: one pre-tokenized piece -> token ids, as HF's BPE does it.
 *
 * Steps: piece cache lookup; `ignore_merges` whole-piece lookup; initial symbols (one per byte
 * in byte-level space, else one per UTF-8 character, with byte_fallback / unk / fuse_unk);
 * then repeatedly merge the adjacent pair of lowest merge rank, leftmost on ties.
 * Two merge loops give the same result: a plain O(n^2) scan (bpe_merge_linear, the reference,
 * fastest for the short pieces of real text) and a binary heap over a linked list
 * (bpe_merge_heap, HF's algorithm, O(n log n) for long pieces such as a 1 MB "word").
 * Pieces over 64 bytes (whole lines, in files without a pre-tokenizer) are first cut where no
 * merge can ever cross (see "long pieces" below), so the parts hit the piece caches;
 * bpe_piece_whole, the reference, merges them whole.
 */
#include "tok_int.h"
#include "mem.h"
#include "unicode.h"
#include <stdlib.h>
#include <string.h>

#define LINEAR_MAX 96
#define CACHE_MAX_KEY 64
#define CACHE_SLOTS (1u << 16)

static inline int pair_lookup(const tokenizer_t *t, int32_t a, int32_t b, uint32_t *rank, int32_t *nid) {
    uint64_t v;
    if (a < 0 || b < 0 || !umap_get(&t->merges, ((uint64_t)(uint32_t)a << 32) | (uint32_t)b, &v)) return 0;
    *rank = (uint32_t)(v >> 32);
    *nid = (int32_t)(uint32_t)v;
    return 1;
}

int bpe_merge_linear(const tokenizer_t *t, int32_t *sym, int n) {
    uint32_t rk[LINEAR_MAX + 1];
    int32_t nid[LINEAR_MAX + 1];
    uint32_t *r = rk;
    int32_t *ni = nid;
    if (n > LINEAR_MAX) { /* callers use the heap beyond this; keep the reference general */
        r = malloc(n * sizeof *r);
        ni = malloc(n * sizeof *ni);
        if (!r || !ni) {
            free(r);
            free(ni);
            return -1;
        }
    }
    for (int i = 0; i + 1 < n; i++)
        if (!pair_lookup(t, sym[i], sym[i + 1], &r[i], &ni[i])) r[i] = UINT32_MAX;
    while (n > 1) {
        int best = -1;
        uint32_t br = UINT32_MAX;
        for (int i = 0; i + 1 < n; i++)
            if (r[i] < br) {
                br = r[i];
                best = i;
            }
        if (best < 0) break;
        sym[best] = ni[best];
        int tail = n - best - 2; /* symbols after the removed one */
        memmove(sym + best + 1, sym + best + 2, tail * sizeof *sym);
        if (tail > 1) { /* pairs after the merged one shift left by one */
            memmove(r + best + 1, r + best + 2, (tail - 1) * sizeof *r);
            memmove(ni + best + 1, ni + best + 2, (tail - 1) * sizeof *ni);
        }
        n--;
        if (best > 0 && !pair_lookup(t, sym[best - 1], sym[best], &r[best - 1], &ni[best - 1]))
            r[best - 1] = UINT32_MAX;
        if (best + 1 < n && !pair_lookup(t, sym[best], sym[best + 1], &r[best], &ni[best])) r[best] = UINT32_MAX;
    }
    if (r != rk) {
        free(r);
        free(ni);
    }
    return n;
}

/* Heap entry ordered by (rank, pos). */
typedef struct {
    uint32_t rank;
    int32_t pos;
    int32_t nid;
} hent_t;
static inline int hless(const hent_t *a, const hent_t *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}
static void hpush(hent_t *h, size_t *n, hent_t x) {
    size_t i = (*n)++;
    while (i) {
        size_t p = (i - 1) / 2;
        if (!hless(&x, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
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
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = x;
    return top;
}

static int scratch(tokenizer_t *t, size_t n) {
    if (n <= t->sym_cap) return 0;
    size_t c = t->sym_cap ? t->sym_cap : 256;
    while (c < n) c *= 2;
    int32_t *s = realloc(t->sym, c * sizeof *s);
    if (!s) return -1;
    t->sym = s;
    int32_t *p = realloc(t->prev, c * sizeof *p);
    if (!p) return -1;
    t->prev = p;
    int32_t *x = realloc(t->next, c * sizeof *x);
    if (!x) return -1;
    t->next = x;
    void *h = realloc(t->heap, 2 * c * sizeof(hent_t));
    if (!h) return -1;
    t->heap = h;
    t->sym_cap = c;
    return 0;
}

int bpe_merge_heap(tokenizer_t *t, int32_t *sym, int n) {
    if (scratch(t, (size_t)n)) return -1;
    int32_t *prev = t->prev, *next = t->next;
    hent_t *h = t->heap;
    size_t hn = 0;
    for (int i = 0; i < n; i++) {
        prev[i] = i - 1;
        next[i] = i + 1 < n ? i + 1 : -1;
    }
    for (int i = 0; i + 1 < n; i++) {
        uint32_t r;
        int32_t ni;
        if (pair_lookup(t, sym[i], sym[i + 1], &r, &ni)) hpush(h, &hn, (hent_t){r, i, ni});
    }
    while (hn) {
        hent_t top = hpop(h, &hn);
        int32_t i = top.pos, j = next[i];
        if (sym[i] < 0 || j < 0) continue; /* dead symbol or no right neighbour */
        uint32_t r;
        int32_t ni;
        if (!pair_lookup(t, sym[i], sym[j], &r, &ni) || ni != top.nid) continue; /* stale */
        sym[i] = top.nid;
        sym[j] = -1;
        next[i] = next[j];
        if (next[j] >= 0) prev[next[j]] = i;
        if (prev[i] >= 0 && pair_lookup(t, sym[prev[i]], sym[i], &r, &ni)) hpush(h, &hn, (hent_t){r, prev[i], ni});
        if (next[i] >= 0 && pair_lookup(t, sym[i], sym[next[i]], &r, &ni)) hpush(h, &hn, (hent_t){r, i, ni});
    }
    int m = 0;
    for (int i = 0; i >= 0; i = next[i]) sym[m++] = sym[i];
    return m;
}

/* ---- hot piece cache ---- */
static inline void hot_key(uint8_t kb[24], const uint8_t *p, size_t n) {
    memset(kb, 0, 24);
    kb[0] = (uint8_t)n;
    memcpy(kb + 1, p, n);
}
static inline const hot_slot_t *hot_find(const tokenizer_t *t, const uint8_t kb[24], uint64_t h) {
    const hot_slot_t *s = &t->hot[h & (HOT_SLOTS - 1)];
    uint64_t a[3], b[3];
    memcpy(a, s->kb, 24);
    memcpy(b, kb, 24);
    return (s->h == h && a[0] == b[0] && a[1] == b[1] && a[2] == b[2]) ? s : NULL;
}
static void hot_put(tokenizer_t *t, const uint8_t kb[24], uint64_t h, const int32_t *ids, size_t k) {
    if (!t->hot && !(t->hot = tok_big_alloc(HOT_SLOTS * sizeof *t->hot, 1))) return;
    hot_slot_t *s = &t->hot[h & (HOT_SLOTS - 1)];
    s->h = h;
    memcpy(s->kb, kb, 24);
    for (size_t i = 0; i < 8; i++) s->ids[i] = i < k ? ids[i] : -1;
}
static int hot_emit(const hot_slot_t *s, tok_ids_t *out) {
    for (int i = 0; i < 8 && s->ids[i] >= 0; i++)
        if (tok_ids_push(out, s->ids[i])) return -1;
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
        c->slots = tok_big_alloc(CACHE_SLOTS * sizeof *c->slots, 1);
        if (!c->slots) return;
        c->mask = CACHE_SLOTS - 1;
    }
    if (c->klen + n > (32u << 20) || c->tlen + k > (8u << 20)) { /* bounded: start over */
        memset(c->slots, 0, CACHE_SLOTS * sizeof *c->slots);
        c->klen = c->tlen = 0;
    }
    if (c->klen + n > c->kcap) {
        size_t cap = c->kcap ? c->kcap * 2 : 1 << 16;
        while (cap < c->klen + n) cap *= 2;
        uint8_t *x = realloc(c->keys, cap);
        if (!x) return;
        c->keys = x;
        c->kcap = cap;
    }
    if (c->tlen + k > c->tcap) {
        size_t cap = c->tcap ? c->tcap * 2 : 1 << 14;
        while (cap < c->tlen + k) cap *= 2;
        int32_t *x = realloc(c->toks, cap * sizeof *x);
        if (!x) return;
        c->toks = x;
        c->tcap = cap;
    }
    cache_slot_t *s = &c->slots[h & c->mask];
    memcpy(c->keys + c->klen, p, n);
    memcpy(c->toks + c->tlen, ids, k * sizeof *ids);
    *s = (cache_slot_t){h ? h : 1, (uint32_t)c->klen, (uint32_t)n, (uint32_t)c->tlen, (uint32_t)k};
    if (!h) s->klen = UINT32_MAX; /* h == 0 never matches a lookup; keep it unusable */
    c->klen += n;
    c->tlen += k;
}
void cache_free(piece_cache_t *c) {
    free(c->slots);
    free(c->keys);
    free(c->toks);
    memset(c, 0, sizeof *c);
}

/* Not byte-level: the id of the character at p (its length in *cl), -1 if not in the
 * vocabulary. ASCII from a table, others through a small direct-mapped cache. */
static inline int32_t char_id(tokenizer_t *t, const uint8_t *p, size_t n, size_t *cl) {
    if (p[0] < 0x80) {
        *cl = 1;
        return t->ascii_id[p[0]];
    }
    int l;
    uint32_t cp = utf8_dec(p, n, &l);
    *cl = (size_t)l;
    if (l == 1) return smap_get(&t->vocab, p, 1); /* an invalid byte (not from tok_encode) */
    uint32_t *c = t->char_cache[cp & (CHAR_CACHE - 1)];
    if (c[0] == cp) return (int32_t)c[1];
    int32_t id = smap_get(&t->vocab, p, (size_t)l);
    c[0] = cp;
    c[1] = (uint32_t)id;
    return id;
}

/* The symbols of the character at p[i] appended at sym[*k] (HF BPE::merge_word: its id;
 * else its byte-fallback tokens; else unk, fused with an open run when fuse_unk). *unk: whether
 * an unk run is open (its symbol comes when the run ends; as in HF, byte-fallback tokens met
 * meanwhile come before it). Returns the character's length, or 0 with `e` set. */
static size_t char_symbols(tokenizer_t *t, const uint8_t *p, size_t n, size_t i, int32_t *sym, int *k, bool *unk,
                           lerr_t *e) {
    int32_t id;
    size_t cl, ulen;
    uint8_t tmp[4];
    const uint8_t *unit;
    if (t->byte_level) {
        cl = 1;
        id = t->byte_id[p[i]];
        if (id < 0) {
            ulen = utf8_enc(byte_to_char()[p[i]], tmp);
            unit = tmp;
        } else unit = p + i, ulen = 1;
    } else {
        id = char_id(t, p + i, n - i, &cl);
        unit = p + i;
        ulen = cl;
    }
    if (id >= 0) {
        if (*unk) {
            sym[(*k)++] = t->unk_id;
            *unk = false;
        }
        sym[(*k)++] = id;
        return cl;
    }
    bool fb_ok = t->byte_fallback;
    for (size_t b = 0; fb_ok && b < ulen; b++)
        if (t->fb_id[unit[b]] < 0) fb_ok = false;
    if (fb_ok) {
        for (size_t b = 0; b < ulen; b++) sym[(*k)++] = t->fb_id[unit[b]];
        return cl;
    }
    if (t->unk_id < 0) {
        lerr_set(e, EXIT_DATA,
                 "character at byte %zu of a piece is not in the vocabulary and the model has no unk_token", i);
        return 0;
    }
    if (*unk && !t->fuse_unk) sym[(*k)++] = t->unk_id;
    *unk = true;
    return cl;
}

/* Initial symbols of a piece into sym[] (room for n + 1). */
static int initial_symbols(tokenizer_t *t, const uint8_t *p, size_t n, int32_t *sym, int *nsym, lerr_t *e) {
    int k = 0;
    bool unk = false;
    for (size_t i = 0, cl; i < n; i += cl)
        if (!(cl = char_symbols(t, p, n, i, sym, &k, &unk, e))) return -1;
    if (unk) sym[k++] = t->unk_id;
    *nsym = k;
    return 0;
}

/* A piece's ids from the caches: 1 (appended), 0 (not cached), -1 (out of memory). */
static int cached(tokenizer_t *t, const uint8_t *p, size_t n, uint64_t h, tok_ids_t *out) {
    if (n <= 23) {
        uint8_t kb[24];
        hot_key(kb, p, n);
        const hot_slot_t *s = t->hot ? hot_find(t, kb, h) : NULL;
        if (s) return hot_emit(s, out) ? -1 : 1;
    }
    if (n <= CACHE_MAX_KEY) {
        cache_slot_t *s = cache_find(t, p, n, h);
        if (s) {
            for (uint32_t i = 0; i < s->ntok; i++)
                if (tok_ids_push(out, t->cache.toks[s->toff + i])) return -1;
            return 1;
        }
    }
    return 0;
}

/* Merge a piece's symbols sym[0..ns) (in place), remember the result, append it. */
static int merge_emit(tokenizer_t *t, const uint8_t *p, size_t n, uint64_t h, int32_t *sym, int ns, tok_ids_t *out) {
    int m = ns <= LINEAR_MAX ? bpe_merge_linear(t, sym, ns) : bpe_merge_heap(t, sym, ns);
    if (m < 0) return -1;
    if (n <= 23 && m <= 8) {
        uint8_t kb[24];
        hot_key(kb, p, n);
        hot_put(t, kb, h, sym, m);
    } else if (n <= CACHE_MAX_KEY) cache_put(t, p, n, h, sym, m);
    for (int i = 0; i < m; i++)
        if (tok_ids_push(out, sym[i])) return -1;
    return 0;
}

/* ---- long pieces ----
 * Files without a pre-tokenizer (Mistral / Llama 2 style) hand BPE whole lines. A merge joins a
 * symbol ending in character x with one starting in character y only if some merge rule "a b"
 * has a ending in x and b starting in y. Where no rule does, no merge ever crosses: the
 * leftmost-lowest-rank order restricted to either side is that side's own order, so cutting
 * there gives exactly the same ids, and the parts (words, mostly) hit the piece caches. The
 * (last char, first char) pairs of all rules are collected once; ids whose keys disagree on an
 * edge character act as wildcards. Not with ignore_merges (its whole-piece lookup would differ). */
#define SEAM_NONE UINT32_MAX
#define SEAM_WILD (UINT32_MAX - 1)
static uint32_t key_first(const tokenizer_t *t, const uint8_t *k, size_t n) {
    if (!n) return SEAM_WILD;
    if (t->byte_level) return k[0];
    int l;
    return utf8_dec(k, n, &l);
}
static uint32_t key_last(const tokenizer_t *t, const uint8_t *k, size_t n) {
    if (!n) return SEAM_WILD;
    if (t->byte_level) return k[n - 1];
    size_t j = n - 1;
    while (j && (k[j] & 0xC0) == 0x80) j--;
    int l;
    return utf8_dec(k + j, n - j, &l);
}
static uint32_t edge_merge(uint32_t have, uint32_t c) { return have == SEAM_NONE || have == c ? c : SEAM_WILD; }

static inline bool pair_seen(const tokenizer_t *t, uint32_t L, uint32_t F) {
    uint64_t v;
    return umap_get(&t->seam_pairs, (uint64_t)L << 32 | F, &v);
}
static bool joinable(const tokenizer_t *t, uint32_t L, uint32_t F) {
    if (L >= SEAM_WILD || F >= SEAM_WILD || pair_seen(t, L, F)) return true;
    return t->seam_wild &&
           (pair_seen(t, SEAM_WILD, F) || pair_seen(t, L, SEAM_WILD) || pair_seen(t, SEAM_WILD, SEAM_WILD));
}
static int seams_build(tokenizer_t *t) {
    size_t ni = (size_t)t->n_ids;
    t->seam_first = malloc((ni ? ni : 1) * sizeof *t->seam_first);
    t->seam_last = malloc((ni ? ni : 1) * sizeof *t->seam_last);
    if (!t->seam_first || !t->seam_last || umap_init(&t->seam_pairs, 4096)) return -1;
    for (size_t i = 0; i < ni; i++) t->seam_first[i] = t->seam_last[i] = SEAM_NONE;
    for (uint32_t i = 0; i < t->vocab.n; i++) {
        size_t kl;
        const uint8_t *k = smap_key(&t->vocab, i, &kl);
        int32_t id = t->vocab.ent[i].val;
        if (id < 0 || (size_t)id >= ni) continue;
        t->seam_first[id] = edge_merge(t->seam_first[id], key_first(t, k, kl));
        t->seam_last[id] = edge_merge(t->seam_last[id], key_last(t, k, kl));
    }
    for (uint64_t i = 0; i <= t->merges.mask; i++) {
        const umap_slot_t *sl = &t->merges.s[i];
        if (!sl->k) continue;
        uint64_t ab = sl->k - 1, a = ab >> 32, b = (uint32_t)ab;
        uint32_t L = a < ni ? t->seam_last[a] : SEAM_WILD, F = b < ni ? t->seam_first[b] : SEAM_WILD;
        if (L >= SEAM_WILD) {
            L = SEAM_WILD;
            t->seam_wild = true;
        }
        if (F >= SEAM_WILD) {
            F = SEAM_WILD;
            t->seam_wild = true;
        }
        if (umap_put(&t->seam_pairs, (uint64_t)L << 32 | F, 0)) return -1;
    }
    for (uint32_t L = 0; L < 128; L++)
        for (uint32_t F = 0; F < 128; F++)
            if (joinable(t, L, F)) t->seam_ascii[L][F >> 6] |= 1ULL << (F & 63);
    t->seam_ready = true;
    return 0;
}
/* No merge can ever join symbols a and b. */
static inline bool seam(const tokenizer_t *t, int32_t a, int32_t b) {
    uint32_t L = t->seam_last[a], F = t->seam_first[b];
    if ((L | F) < 128) return !((t->seam_ascii[L][F >> 6] >> (F & 63)) & 1);
    return !joinable(t, L, F);
}

/* Cut-and-merge one segment: symbols sym[0..k) from bytes p[0..n). */
static int segment(tokenizer_t *t, const uint8_t *p, size_t n, int k, tok_ids_t *out) {
    uint64_t h = hm_hash(p, n);
    int c = cached(t, p, n, h, out);
    return c < 0 || (!c && merge_emit(t, p, n, h, t->sym, k, out)) ? -1 : 0;
}

/* A long piece, streamed: initial symbols (as initial_symbols) go to a buffer that is cut and
 * merged at every seam, so the buffer holds one segment, not the piece. */
static int bpe_long(tokenizer_t *t, const uint8_t *p, size_t n, tok_ids_t *out, lerr_t *e) {
    if (n > INT32_MAX - 8) return lerr_set(e, EXIT_DATA, "a piece of %zu bytes is too long", n);
    if (!t->seam_ready && seams_build(t)) goto oom;
    int k = 0;      /* symbols in the buffer */
    size_t seg = 0; /* byte where the buffer's segment starts */
    bool unk = false;
    for (size_t i = 0, cl; i < n; i += cl) {
        if (scratch(t, (size_t)k + 8)) goto oom;
        int k0 = k;
        bool open = unk;
        if (!(cl = char_symbols(t, p, n, i, t->sym, &k, &unk, e))) return -1;
        /* a cut before this character's first symbol (never inside an open unk run) */
        if (!open && k0 > 0 && k > k0 && seam(t, t->sym[k0 - 1], t->sym[k0])) {
            if (segment(t, p + seg, i - seg, k0, out)) goto oom;
            memmove(t->sym, t->sym + k0, (k - k0) * sizeof *t->sym);
            k -= k0;
            seg = i;
        }
    }
    if (unk) {
        if (scratch(t, (size_t)k + 8)) goto oom;
        t->sym[k++] = t->unk_id;
    }
    if (k && segment(t, p + seg, n - seg, k, out)) goto oom;
    return 0;
oom:
    return lerr_set(e, EXIT_INTERNAL, "out of memory");
}

/* The reference for bpe_piece: the whole piece merged at once, no caches, no cuts. */
int bpe_piece_whole(tokenizer_t *t, const uint8_t *p, size_t n, tok_ids_t *out, lerr_t *e) {
    if (!n) return 0;
    if (t->ignore_merges) {
        int32_t id = smap_get(&t->vocab, p, n);
        if (id >= 0) return tok_ids_push(out, id) ? lerr_set(e, EXIT_INTERNAL, "out of memory") : 0;
    }
    if (n > INT32_MAX - 8) return lerr_set(e, EXIT_DATA, "a piece of %zu bytes is too long", n);
    if (scratch(t, n + 8)) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    int ns = 0;
    if (initial_symbols(t, p, n, t->sym, &ns, e)) return -1;
    int m = bpe_merge_heap(t, t->sym, ns);
    if (m < 0) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    for (int i = 0; i < m; i++)
        if (tok_ids_push(out, t->sym[i])) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    return 0;
}

int bpe_piece(tokenizer_t *t, const uint8_t *p, size_t n, tok_ids_t *out, lerr_t *e) {
    if (!n) return 0;
    if (n > CACHE_MAX_KEY && !t->ignore_merges) return bpe_long(t, p, n, out, e);
    uint64_t h = hm_hash(p, n);
    int c = cached(t, p, n, h, out);
    if (c) return c < 0 ? lerr_set(e, EXIT_INTERNAL, "out of memory") : 0;
    if (t->ignore_merges) { /* a whole-piece vocabulary hit skips the merges */
        int32_t id = smap_get_h(&t->vocab, p, n, h);
        if (id >= 0) {
            if (n <= 23) {
                uint8_t kb[24];
                hot_key(kb, p, n);
                hot_put(t, kb, h, &id, 1);
            }
            return tok_ids_push(out, id) ? lerr_set(e, EXIT_INTERNAL, "out of memory") : 0;
        }
    }
    if (n > INT32_MAX - 8) return lerr_set(e, EXIT_DATA, "a piece of %zu bytes is too long", n);
    if (scratch(t, n + 8)) goto oom;
    int ns = 0;
    if (initial_symbols(t, p, n, t->sym, &ns, e)) return -1;
    if (merge_emit(t, p, n, h, t->sym, ns, out)) goto oom;
    return 0;
oom:
    return lerr_set(e, EXIT_INTERNAL, "out of memory");
}
