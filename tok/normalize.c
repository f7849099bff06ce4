/* normalize.c — the normalizers HF files use for BPE models: NFC, Prepend, Replace (literal
 * string), Strip, and Sequence of them (load.c flattens Sequence into t->norm). */
#define _GNU_SOURCE /* memmem */
#include "tok_int.h"
#include "mem.h"
#include "nfc.h"
#include "unicode.h"
#include <stdlib.h>
#include <string.h>

/* The normalizers' output is at most NORM_GROWTH x their input + NORM_SLACK bytes. Each Replace
 * multiplies the text by up to len(content)/len(pattern), so a chain of them grows it
 * exponentially: a 1 KB tokenizer.json with eight Replace "o" -> 16 x "o" asks for 8.6 GB to
 * normalize "Hello, world" (found by fuzz_tokenizer as libFuzzer's malloc limit). Real files grow
 * a text at most ~3x (Replace " " -> U+2581, NFC). Past the bound the text is refused (EXIT_DATA)
 * before anything is allocated; HF has no bound. */
#define NORM_GROWTH 16
#define NORM_SLACK ((size_t)1 << 16)

/* Every occurrence of pat replaced by rep (left to right, non-overlapping): counted first, so
 * the output is sized once. -2 when it would exceed lim bytes. */
static int replace_all(const char *s, size_t n, const char *pat, size_t pn, const char *rep, size_t rn, size_t lim,
                       tok_str_t *o) {
    if (!pn) return tok_str_append(o, s, n);
    size_t count = 0;
    for (const char *f = s, *end = s + n; (f = memmem(f, end - f, pat, pn)); f += pn) count++;
    /* count <= n / pn, so n - count * pn does not wrap; the growth term is checked by division */
    size_t keep = n - count * pn;
    if (rn && count > (lim < keep ? 0 : lim - keep) / rn) return -2;
    if (tok_str_reserve(o, keep + count * rn)) return -1;
    char *w = o->p + o->n;
    size_t last = 0;
    for (const char *f = s, *end = s + n; (f = memmem(f, end - f, pat, pn)); f += pn) {
        size_t at = (size_t)(f - s);
        memcpy(w, s + last, at - last);
        w += at - last;
        memcpy(w, rep, rn);
        w += rn;
        last = at + pn;
    }
    memcpy(w, s + last, n - last);
    w += n - last;
    o->n = (size_t)(w - o->p);
    o->p[o->n] = 0;
    return 0;
}

static int strip(const char *s, size_t n, bool left, bool right, tok_str_t *o) {
    const uint8_t *u = (const uint8_t *)s;
    size_t a = 0, b = n;
    while (left && a < b) {
        int l;
        uint32_t cp = utf8_dec(u + a, b - a, &l);
        if (!(uni_class(cp) & UNI_WS)) break;
        a += l;
    }
    while (right && b > a) {
        size_t j = b;
        do j--;
        while (j > a && (u[j] & 0xC0) == 0x80);
        int l;
        uint32_t cp = utf8_dec(u + j, b - j, &l);
        if (!(uni_class(cp) & UNI_WS)) break;
        b = j;
    }
    return tok_str_append(o, s + a, b - a);
}

/* The ops write alternately into `out` and a scratch buffer the tokenizer keeps (no copy at
 * the end, no fresh pages per call for long texts). */
int normalize(tokenizer_t *t, const char *s, size_t n, tok_str_t *out, lerr_t *e) {
    const char *cur = s;
    size_t cn = n;
    if (!t->n_norm) return tok_str_append(out, s, n) ? lerr_set(e, EXIT_INTERNAL, "out of memory") : 0;
    size_t lim = n > (SIZE_MAX - NORM_SLACK) / NORM_GROWTH ? SIZE_MAX : n * NORM_GROWTH + NORM_SLACK;
    size_t base0 = out->n; /* out may already hold text */
    /* long texts: both buffers sized once, in huge pages (the output is usually about n bytes) */
    if (n >= ((size_t)1 << 20)) {
        size_t want = n + n / 8 + 64;
        tok_str_t *bufs[2] = {out, &t->norm_scratch};
        for (int i = 0; i < 2; i++) {
            tok_str_t *b = bufs[i];
            if (b->cap >= (i ? 0 : base0) + want) continue;
            char *x = tok_big_alloc((i ? 0 : base0) + want + 1, 0);
            if (!x) break; /* the appends grow them as usual */
            if (!i && base0) memcpy(x, b->p, base0);
            free(b->p);
            b->p = x;
            b->cap = (i ? 0 : base0) + want + 1;
        }
    }
    for (int k = 0; k < t->n_norm; k++) {
        const norm_op_t *op = &t->norm[k];
        tok_str_t *b = (t->n_norm - 1 - k) % 2 == 0 ? out : &t->norm_scratch;
        size_t base = b == out ? base0 : 0;
        b->n = base;
        int rc = 0;
        switch (op->kind) {
        case NORM_NFC: rc = nfc_append(cur, cn, b); break;
        case NORM_PREPEND:
            if (cn && op->alen > lim - cn) rc = -2; /* cn <= lim (checked after each op) */
            else if (cn)
                rc = tok_str_reserve(b, op->alen + cn) || tok_str_append(b, op->a, op->alen) ||
                     tok_str_append(b, cur, cn);
            break;
        case NORM_REPLACE: rc = replace_all(cur, cn, op->a, op->alen, op->b, op->blen, lim, b); break;
        case NORM_STRIP: rc = strip(cur, cn, op->left, op->right, b); break;
        default: rc = -1;
        }
        if (!rc && b->n - base > lim) rc = -2; /* NFC and Strip: at most 3x and 1x per op */
        if (rc == -2)
            return lerr_set(e, EXIT_DATA, "the normalizers grow a %zu-byte text past %d x its length + %zu bytes",
                            n, NORM_GROWTH, NORM_SLACK);
        if (rc) return lerr_set(e, EXIT_INTERNAL, "out of memory");
        cur = b->p ? b->p + base : "";
        cn = b->n - base;
    }
    return 0;
}
