/* normalize.c — the normalizers HF files use for BPE models: NFC, Prepend, Replace (literal
 * string), Strip, and Sequence of them (load.c flattens Sequence into t->norm). */
#define _GNU_SOURCE /* memmem */
#include "tok_int.h"
#include "nfc.h"
#include "unicode.h"
#include <stdlib.h>
#include <string.h>

static int replace_all(const char *s, size_t n, const char *pat, size_t pn, const char *rep, size_t rn,
                       tok_str_t *o) {
    size_t i = 0, last = 0;
    if (!pn) return tok_str_append(o, s, n);
    while (i + pn <= n) {
        const char *f = memmem(s + i, n - i, pat, pn);
        if (!f) break;
        size_t at = f - s;
        if (tok_str_append(o, s + last, at - last) || tok_str_append(o, rep, rn)) return -1;
        i = last = at + pn;
    }
    return tok_str_append(o, s + last, n - last);
}

static int strip(const char *s, size_t n, bool left, bool right, tok_str_t *o) {
    const uint8_t *u = (const uint8_t *)s;
    size_t a = 0, b = n;
    while (left && a < b) {
        int l; uint32_t cp = utf8_dec(u + a, b - a, &l);
        if (!(uni_class(cp) & UNI_WS)) break;
        a += l;
    }
    while (right && b > a) {
        size_t j = b; do j--; while (j > a && (u[j] & 0xC0) == 0x80);
        int l; uint32_t cp = utf8_dec(u + j, b - j, &l);
        if (!(uni_class(cp) & UNI_WS)) break;
        b = j;
    }
    return tok_str_append(o, s + a, b - a);
}

int normalize(const tokenizer_t *t, const char *s, size_t n, tok_str_t *out, lerr_t *e) {
    tok_str_t a = {0}, b = {0};
    const char *cur = s; size_t cn = n;
    for (int k = 0; k < t->n_norm; k++) {
        const norm_op_t *op = &t->norm[k];
        b.n = 0;
        int rc = 0;
        switch (op->kind) {
        case NORM_NFC: rc = nfc_append(cur, cn, &b); break;
        case NORM_PREPEND:
            rc = cn ? (tok_str_append(&b, op->a, op->alen) || tok_str_append(&b, cur, cn)) : 0;
            break;
        case NORM_REPLACE: rc = replace_all(cur, cn, op->a, op->alen, op->b, op->blen, &b); break;
        case NORM_STRIP: rc = strip(cur, cn, op->left, op->right, &b); break;
        default: rc = -1;
        }
        if (rc) { tok_str_free(&a); tok_str_free(&b); return lerr_set(e, EXIT_INTERNAL, "out of memory"); }
        tok_str_t x = a; a = b; b = x;   /* a holds the current text */
        cur = a.p ? a.p : ""; cn = a.n;
    }
    int rc = tok_str_append(out, cur, cn);
    tok_str_free(&a); tok_str_free(&b);
    return rc ? lerr_set(e, EXIT_INTERNAL, "out of memory") : 0;
}
