/* pack.c — document packing into fixed-length sequences (see pack.h). Full sequences that lie
 * inside one document are emitted straight from the caller's array without a copy. */
#include <stdlib.h>
#include <string.h>
#include "pack.h"

struct packer {
    size_t length, fill;
    int32_t sep;
    bool drop_last;
    pack_emit_fn emit;
    void *ctx;
    uint64_t count;
    int32_t *buf; /* the sequence being assembled: buf[0..fill) */
};

packer_t *packer_new(size_t length, int32_t sep, bool drop_last, pack_emit_fn emit, void *ctx, lerr_t *e) {
    packer_t *p = calloc(1, sizeof *p);
    if (p) p->buf = malloc((length ? length : 1) * sizeof *p->buf);
    if (!p || !p->buf || length == 0) {
        if (p) free(p->buf);
        free(p);
        lerr_set(e, length ? EXIT_INTERNAL : EXIT_USAGE, length ? "out of memory" : "sequence length must be >= 1");
        return NULL;
    }
    p->length = length;
    p->sep = sep;
    p->drop_last = drop_last;
    p->emit = emit;
    p->ctx = ctx;
    return p;
}

void packer_destroy(packer_t **pp) {
    if (!pp || !*pp) return;
    free((*pp)->buf);
    free(*pp);
    *pp = NULL;
}

static int emit(packer_t *p, const int32_t *seq, size_t n, lerr_t *e) {
    p->count++;
    return p->emit(p->ctx, seq, n, e);
}

/* Append tok[0..n) to the sequence stream. */
static int append(packer_t *p, const int32_t *tok, size_t n, lerr_t *e) {
    while (n > 0) {
        if (p->fill == 0 && n >= p->length) { /* whole sequence inside the input: no copy */
            if (emit(p, tok, p->length, e)) return -1;
            tok += p->length;
            n -= p->length;
            continue;
        }
        size_t k = p->length - p->fill;
        if (k > n) k = n;
        memcpy(p->buf + p->fill, tok, k * sizeof *tok);
        p->fill += k;
        tok += k;
        n -= k;
        if (p->fill == p->length) {
            p->fill = 0;
            if (emit(p, p->buf, p->length, e)) return -1;
        }
    }
    return 0;
}

int packer_push(packer_t *p, const int32_t *tok, size_t n, lerr_t *e) {
    if (n == 0) return 0; /* an empty document adds nothing, not a lone separator */
    if (append(p, tok, n, e)) return -1;
    if (p->sep >= 0 && tok[n - 1] != p->sep) return append(p, &p->sep, 1, e);
    return 0;
}

int packer_finish(packer_t *p, lerr_t *e) {
    size_t n = p->fill;
    p->fill = 0;
    if (n == 0 || p->drop_last) return 0;
    return emit(p, p->buf, n, e);
}

uint64_t packer_count(const packer_t *p) { return p->count; }
