/* decode.c — ids -> text, as HF decode: ids to token strings (added vocabulary first; ids
 * without a string are dropped), optional skipping of special tokens, then the decoder chain
 * (ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace; no decoder joins with " ").
 * Invalid UTF-8 after ByteLevel becomes U+FFFD per maximal invalid subpart (Rust
 * from_utf8_lossy); ByteFallback gives one U+FFFD per byte of an invalid run, as HF does.
 * Fast path: decoder == ByteLevel uses per-id byte strings precomputed at load.
 */
#include "tok_int.h"
#include "mem.h"
#include "unicode.h"
#include <stdlib.h>
#include <string.h>

static uint16_t b2c_[256];
static int16_t c2b_[0x180];
static void alphabet_init(void) {
    static int done;
    if (done) return;
    int k = 0;
    for (int b = 0; b < 256; b++) {
        bool keep = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        b2c_[b] = keep ? (uint16_t)b : (uint16_t)(0x100 + k++);
    }
    for (int c = 0; c < 0x180; c++) c2b_[c] = -1;
    for (int b = 0; b < 256; b++) c2b_[b2c_[b]] = (int16_t)b;
    done = 1;
}
const uint16_t *byte_to_char(void) {
    alphabet_init();
    return b2c_;
}
int char_to_byte(uint32_t cp) {
    alphabet_init();
    return cp < 0x180 ? c2b_[cp] : -1;
}
const int16_t *char_to_byte_table(void) {
    alphabet_init();
    return c2b_;
}

/* Bytes of one token under the ByteLevel decoder: mapped if every char is in the alphabet,
 * else the token's own UTF-8. */
static int bytelevel_token(const char *s, size_t n, tok_str_t *o) {
    size_t start = o->n;
    const uint8_t *u = (const uint8_t *)s;
    for (size_t i = 0; i < n;) {
        int l;
        uint32_t cp = utf8_dec(u + i, n - i, &l);
        int b = char_to_byte(cp);
        if (b < 0) {
            o->n = start;
            return tok_str_append(o, s, n);
        }
        uint8_t c = (uint8_t)b;
        if (tok_str_append(o, &c, 1)) return -1;
        i += l;
    }
    return 0;
}

static int lossy_append(const uint8_t *s, size_t n, tok_str_t *o) {
    size_t v = utf8_valid_prefix(s, n);
    if (v == n) return tok_str_append(o, s, n);
    size_t ln;
    uint8_t *c = utf8_sanitize(s, n, &ln);
    if (!c) return -1;
    int rc = tok_str_append(o, c, ln);
    free(c);
    return rc;
}

/* Build the ByteLevel fast-path table (id -> bytes). Done on the first decode, so tools that
 * only encode do not pay for it at load. */
int decode_prepare(tokenizer_t *t, lerr_t *e) {
    alphabet_init();
    if (t->dec_bytes || !(t->n_dec == 1 && t->dec[0].kind == DEC_BYTELEVEL)) return 0;
    tok_str_t all = {0};
    t->dec_off = malloc(t->n_ids * sizeof *t->dec_off);
    t->dec_len = malloc(t->n_ids * sizeof *t->dec_len);
    if (!t->dec_off || !t->dec_len) goto oom;
    for (int32_t id = 0; id < t->n_ids; id++) {
        t->dec_off[id] = (uint32_t)all.n;
        if (t->id_str[id] && bytelevel_token(t->id_str[id], t->id_len[id], &all)) goto oom;
        t->dec_len[id] = (uint32_t)(all.n - t->dec_off[id]);
    }
    if (tok_str_append(&all, "", 0)) goto oom; /* never NULL, even when empty */
    t->dec_bytes = (uint8_t *)all.p;
    return 0;
oom:
    tok_str_free(&all);
    free(t->dec_off);
    free(t->dec_len);
    t->dec_off = t->dec_len = NULL;
    return lerr_set(e, EXIT_INTERNAL, "out of memory");
}

/* ---- general chain over a list of token strings ---- */
typedef struct {
    tok_str_t buf;
    size_t *off, *len;
    size_t n, cap;
} tlist_t;
static int tl_push(tlist_t *l, const char *s, size_t n) {
    if (l->n == l->cap) {
        size_t c = l->cap ? l->cap * 2 : 64;
        size_t *a = realloc(l->off, c * sizeof *a);
        if (!a) return -1;
        l->off = a;
        size_t *b = realloc(l->len, c * sizeof *b);
        if (!b) return -1;
        l->len = b;
        l->cap = c;
    }
    l->off[l->n] = l->buf.n;
    l->len[l->n] = n;
    l->n++;
    return tok_str_append(&l->buf, s, n);
}
static void tl_free(tlist_t *l) {
    tok_str_free(&l->buf);
    free(l->off);
    free(l->len);
    memset(l, 0, sizeof *l);
}
/* Room for n entries and `bytes` of text, each in one allocation (huge pages when large). */
static int tl_reserve(tlist_t *l, size_t n, size_t bytes) {
    if (n > l->cap) {
        size_t *a = tok_big_alloc(n * sizeof *a, 0), *b = tok_big_alloc(n * sizeof *b, 0);
        if (!a || !b) {
            free(a);
            free(b);
            return -1;
        }
        if (l->n) {
            memcpy(a, l->off, l->n * sizeof *a);
            memcpy(b, l->len, l->n * sizeof *b);
        }
        free(l->off);
        free(l->len);
        l->off = a;
        l->len = b;
        l->cap = n;
    }
    if (l->buf.n + bytes + 1 > l->buf.cap) {
        char *x = tok_big_alloc(l->buf.n + bytes + 1, 0);
        if (!x) return -1;
        if (l->buf.n) memcpy(x, l->buf.p, l->buf.n);
        free(l->buf.p);
        l->buf.p = x;
        l->buf.cap = l->buf.n + bytes + 1;
    }
    return 0;
}

/* The general chain's two lists and its buffer, kept by the tokenizer between calls (a long
 * decode would otherwise grow them, and fault their pages in, every time). */
struct dec_scratch {
    tlist_t a, b;
    tok_str_t tmp;
};
void decode_free(tokenizer_t *t) {
    if (!t->dscr) return;
    tl_free(&t->dscr->a);
    tl_free(&t->dscr->b);
    tok_str_free(&t->dscr->tmp);
    free(t->dscr);
    t->dscr = NULL;
}
#define TS(l, i) ((l)->buf.p + (l)->off[i])

static int byte_token(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) || s[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

static int flush_bytes(tok_str_t *bytes, tlist_t *o) {
    if (!bytes->n) return 0;
    int rc;
    if (utf8_valid_prefix((uint8_t *)bytes->p, bytes->n) == bytes->n) rc = tl_push(o, bytes->p, bytes->n);
    else {
        rc = 0;
        for (size_t i = 0; i < bytes->n && !rc; i++) rc = tl_push(o, "\xEF\xBF\xBD", 3);
    }
    bytes->n = 0;
    return rc;
}

/* First occurrence of pat (pn >= 1 bytes) in s[0..n), or NULL: memchr to its first byte
 * (glibc's memmem costs more to set up than these few-byte tokens take to scan). */
static const char *find(const char *s, size_t n, const char *pat, size_t pn) {
    if (pn > n) return NULL;
    const char *end = s + n - pn + 1;
    for (const char *p = s; p < end && (p = memchr(p, pat[0], (size_t)(end - p))); p++)
        if (!memcmp(p, pat, pn)) return p;
    return NULL;
}

static int step(const dec_step_t *d, const tlist_t *in, tlist_t *o, tok_str_t *tmpbuf) {
    tok_str_t tmp = *tmpbuf;
    tmp.n = 0;
    int rc = 0;
    switch (d->kind) {
    case DEC_BYTELEVEL:
        for (size_t i = 0; i < in->n && !rc; i++) rc = bytelevel_token(TS(in, i), in->len[i], &tmp);
        if (!rc) {
            tok_str_t c = {0};
            rc = lossy_append((uint8_t *)tmp.p, tmp.n, &c) || tl_push(o, c.p ? c.p : "", c.n);
            tok_str_free(&c);
        }
        break;
    case DEC_BYTEFALLBACK:
        for (size_t i = 0; i < in->n && !rc; i++) {
            int b = byte_token(TS(in, i), in->len[i]);
            if (b >= 0) {
                uint8_t c = (uint8_t)b;
                rc = tok_str_append(&tmp, &c, 1);
                continue;
            }
            rc = flush_bytes(&tmp, o) || tl_push(o, TS(in, i), in->len[i]);
        }
        rc = rc || flush_bytes(&tmp, o);
        break;
    case DEC_FUSE:
        for (size_t i = 0; i < in->n && !rc; i++) rc = tok_str_append(&tmp, TS(in, i), in->len[i]);
        rc = rc || tl_push(o, tmp.p ? tmp.p : "", tmp.n);
        break;
    case DEC_STRIP:
        for (size_t i = 0; i < in->n && !rc; i++) {
            const char *s = TS(in, i);
            size_t n = in->len[i], a = 0, b = n;
            for (int k = 0; k < d->start && a + d->alen <= n && !memcmp(s + a, d->a, d->alen); k++) a += d->alen;
            for (int k = 0; k < d->stop && b >= a + d->alen && !memcmp(s + b - d->alen, d->a, d->alen); k++)
                b -= d->alen;
            rc = tl_push(o, s + a, b - a);
        }
        break;
    case DEC_REPLACE:
    case DEC_METASPACE:
        for (size_t i = 0; i < in->n && !rc; i++) {
            const char *s = TS(in, i);
            size_t n = in->len[i];
            const char *pat = d->kind == DEC_REPLACE ? d->a : d->repl;
            size_t pn = d->kind == DEC_REPLACE ? d->alen : (size_t)d->repl_len;
            const char *rep = d->kind == DEC_REPLACE ? d->b : " ";
            size_t rn = d->kind == DEC_REPLACE ? d->blen : 1;
            if (d->kind == DEC_METASPACE && i == 0 && d->prepend_scheme != PS_NEVER) rn = 0;
            tmp.n = 0;
            size_t j = 0; /* the runs between matches are copied whole */
            for (const char *f; pn && !rc && (f = find(s + j, n - j, pat, pn)); j = (size_t)(f - s) + pn)
                rc = tok_str_append(&tmp, s + j, (size_t)(f - s) - j) || tok_str_append(&tmp, rep, rn);
            rc = rc || tok_str_append(&tmp, s + j, n - j) || tl_push(o, tmp.p, tmp.n);
        }
        break;
    }
    *tmpbuf = tmp; /* kept for the next step and call */
    return rc;
}

int tok_decode(tokenizer_t *t, const int32_t *ids, size_t n, unsigned flags, tok_str_t *out, lerr_t *e) {
    bool skip = flags & TOK_SKIP_SPECIAL;
    if (decode_prepare(t, e)) return -1;
    if (t->dec_bytes) { /* fast path: ByteLevel decoder; one reservation, then memcpy */
        size_t start = out->n, total = 0;
        for (size_t i = 0; i < n; i++) {
            int32_t id = ids[i];
            if (id >= 0 && id < t->n_ids) total += t->dec_len[id];
        }
        if (tok_str_append(out, "", 0) || (total && tok_str_reserve(out, total))) goto oom;
        char *o = out->p + out->n;
        for (size_t i = 0; i < n; i++) {
            int32_t id = ids[i];
            if (id < 0 || id >= t->n_ids || (skip && (t->id_flags[id] & ID_SPECIAL))) continue;
            memcpy(o, t->dec_bytes + t->dec_off[id], t->dec_len[id]);
            o += t->dec_len[id];
        }
        out->n = o - out->p;
        out->p[out->n] = 0;
        if (utf8_valid_prefix((uint8_t *)out->p + start, out->n - start) != out->n - start) {
            size_t ln;
            uint8_t *c = utf8_sanitize((uint8_t *)out->p + start, out->n - start, &ln);
            if (!c) goto oom;
            out->n = start;
            int rc = tok_str_append(out, c, ln);
            free(c);
            if (rc) goto oom;
        }
        return 0;
    }
    if (!t->dscr && !(t->dscr = calloc(1, sizeof *t->dscr))) goto oom;
    tlist_t *a = &t->dscr->a, *b = &t->dscr->b;
    a->n = a->buf.n = b->n = b->buf.n = 0;
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < t->n_ids) total += t->id_len[ids[i]];
    if (tl_reserve(a, n, total) || tl_reserve(b, n, total + total / 4)) goto oom;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->n_ids || !t->id_str[id] || (skip && (t->id_flags[id] & ID_SPECIAL))) continue;
        if (tl_push(a, t->id_str[id], t->id_len[id])) goto oom;
    }
    if (!t->has_decoder) {
        for (size_t i = 0; i < a->n; i++)
            if ((i && tok_str_append(out, " ", 1)) || tok_str_append(out, TS(a, i), a->len[i])) goto oom;
        return 0;
    }
    for (int k = 0; k < t->n_dec; k++) {
        b->n = 0;
        b->buf.n = 0;
        if (step(&t->dec[k], a, b, &t->dscr->tmp)) goto oom;
        tlist_t *x = a;
        a = b;
        b = x;
    }
    for (size_t i = 0; i < a->n; i++)
        if (tok_str_append(out, TS(a, i), a->len[i])) goto oom;
    return 0;
oom:
    return lerr_set(e, EXIT_INTERNAL, "out of memory");
}
