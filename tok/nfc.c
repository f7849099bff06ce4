/* nfc.c — NFC normalization: decompose (table + Hangul arithmetic), canonical reordering by
 * combining class, canonical composition (standard algorithm of UAX #15). The tables are the
 * reference tool's, so results match HF tokenizers even where its Unicode version lags. */
#include "nfc.h"
#include "unicode.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum {
    SBASE = 0xAC00,
    LBASE = 0x1100,
    VBASE = 0x1161,
    TBASE = 0x11A7,
    LCOUNT = 19,
    VCOUNT = 21,
    TCOUNT = 28,
    NCOUNT = VCOUNT * TCOUNT,
    SCOUNT = LCOUNT * NCOUNT
};

static uint8_t *maybe_; /* per code point: 1 if NFC might change text around it */
static pthread_once_t once_ = PTHREAD_ONCE_INIT;
static void build(void) {
    maybe_ = calloc(0x110000, 1);
    if (!maybe_) abort();
    for (int i = 0; i < NFC_NDECOMP; i++) maybe_[NFC_DECOMP[i].cp] = 1;
    for (int i = 0; i < NFC_NCCC; i++) maybe_[NFC_CCC[i][0]] = 1;
    for (int i = 0; i < NFC_NCOMP; i++) maybe_[NFC_COMP[i][1]] = 1;
    for (uint32_t c = LBASE; c < 0x1200; c++) maybe_[c] = 1;         /* jamo */
    for (uint32_t c = SBASE; c < SBASE + SCOUNT; c++) maybe_[c] = 1; /* syllables (LV + T) */
}

static int ccc(uint32_t cp) {
    int lo = 0, hi = NFC_NCCC - 1;
    while (lo <= hi) {
        int m = (lo + hi) / 2;
        if (NFC_CCC[m][0] == cp) return (int)NFC_CCC[m][1];
        if (NFC_CCC[m][0] < cp) lo = m + 1;
        else hi = m - 1;
    }
    return 0;
}
static const nfc_decomp_t *decomp(uint32_t cp) {
    int lo = 0, hi = NFC_NDECOMP - 1;
    while (lo <= hi) {
        int m = (lo + hi) / 2;
        if (NFC_DECOMP[m].cp == cp) return &NFC_DECOMP[m];
        if (NFC_DECOMP[m].cp < cp) lo = m + 1;
        else hi = m - 1;
    }
    return NULL;
}
static uint32_t compose(uint32_t a, uint32_t b) {
    if (a >= LBASE && a < LBASE + LCOUNT && b >= VBASE && b < VBASE + VCOUNT)
        return SBASE + ((a - LBASE) * VCOUNT + (b - VBASE)) * TCOUNT;
    if (a >= SBASE && a < SBASE + SCOUNT && (a - SBASE) % TCOUNT == 0 && b > TBASE && b < TBASE + TCOUNT)
        return a + (b - TBASE);
    int lo = 0, hi = NFC_NCOMP - 1;
    while (lo <= hi) {
        int m = (lo + hi) / 2;
        const uint32_t *p = NFC_COMP[m];
        if (p[0] == a && p[1] == b) return p[2];
        if (p[0] < a || (p[0] == a && p[1] < b)) lo = m + 1;
        else hi = m - 1;
    }
    return 0;
}

typedef struct {
    uint32_t *v;
    size_t n, cap;
} cps_t;
static int cpush(cps_t *c, uint32_t x) {
    if (c->n == c->cap) {
        size_t k = c->cap ? c->cap * 2 : 256;
        uint32_t *y = realloc(c->v, k * sizeof *y);
        if (!y) return -1;
        c->v = y;
        c->cap = k;
    }
    c->v[c->n++] = x;
    return 0;
}
static int decompose(uint32_t cp, cps_t *o) {
    if (cp >= SBASE && cp < SBASE + SCOUNT) {
        uint32_t s = cp - SBASE;
        if (cpush(o, LBASE + s / NCOUNT) || cpush(o, VBASE + (s % NCOUNT) / TCOUNT)) return -1;
        return s % TCOUNT ? cpush(o, TBASE + s % TCOUNT) : 0;
    }
    const nfc_decomp_t *d = decomp(cp);
    if (!d) return cpush(o, cp);
    for (uint32_t i = 0; i < d->len; i++)
        if (cpush(o, NFC_DDATA[d->off + i])) return -1;
    return 0;
}

static int nfc_slow(const char *s, size_t n, tok_str_t *out) {
    cps_t c = {0};
    const uint8_t *u = (const uint8_t *)s;
    for (size_t i = 0; i < n;) {
        int l;
        uint32_t cp = utf8_dec(u + i, n - i, &l);
        if (decompose(cp, &c)) goto oom;
        i += l;
    }
    /* canonical ordering: stable insertion sort inside each run of non-starters */
    for (size_t i = 1; i < c.n; i++) {
        int k = ccc(c.v[i]);
        if (!k) continue;
        size_t j = i;
        uint32_t x = c.v[i];
        while (j > 0 && ccc(c.v[j - 1]) > k) {
            c.v[j] = c.v[j - 1];
            j--;
        }
        c.v[j] = x;
    }
    /* composition */
    size_t starter = (size_t)-1, w = 0;
    int last_ccc = -1;
    for (size_t i = 0; i < c.n; i++) {
        uint32_t x = c.v[i];
        int k = ccc(x);
        if (starter != (size_t)-1) {
            bool blocked = last_ccc != -1 && (last_ccc == 0 || last_ccc >= k);
            uint32_t y = blocked ? 0 : compose(c.v[starter], x);
            if (y) {
                c.v[starter] = y;
                continue;
            }
        }
        if (k == 0) {
            starter = w;
            last_ccc = -1;
        } else last_ccc = k;
        c.v[w++] = x;
    }
    for (size_t i = 0; i < w; i++) {
        uint8_t b[4];
        int l = utf8_enc(c.v[i], b);
        if (tok_str_append(out, b, l)) goto oom;
    }
    free(c.v);
    return 0;
oom:
    free(c.v);
    return -1;
}

int nfc_append(const char *s, size_t n, tok_str_t *out) {
    pthread_once(&once_, build);
    const uint8_t *u = (const uint8_t *)s;
    size_t pos = 0, i = 0, prev = 0; /* prev: start of the char before i */
    while (i < n) {
        if (u[i] < 0xCC) {
            prev = i;
            i += u[i] < 0x80 ? 1 : 2;
            continue;
        } /* < U+0300: a plain starter */
        int l;
        uint32_t cp = utf8_dec(u + i, n - i, &l);
        if (!maybe_[cp]) {
            prev = i;
            i += l;
            continue;
        }
        /* [cut, j): the char before i (a starter it may compose with) up to the next char
         * that nothing can touch; normalize that segment alone, copy the rest as is. */
        size_t cut = i > pos ? prev : i, j = i + l;
        while (j < n) {
            int m;
            uint32_t c2 = utf8_dec(u + j, n - j, &m);
            if (u[j] < 0xCC || !maybe_[c2]) break;
            j += m;
        }
        if (tok_str_append(out, s + pos, cut - pos) || nfc_slow(s + cut, j - cut, out)) return -1;
        pos = i = prev = j;
    }
    return tok_str_append(out, s + pos, n - pos);
}
