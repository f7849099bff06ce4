/* pretok.c — pre-tokenization of one text section, then the model on each piece.
 *
 * Fast path: when the pipeline is one known regex family followed by byte mapping (Llama 3,
 * Qwen, LLaDA, GPT-2), the hand scanner's pieces go straight to the BPE model. Otherwise the
 * steps run in order over a list of pieces (offsets into a work buffer): Split (hand scanner,
 * PCRE2 or literal; all five behaviours and invert), ByteLevel (prefix space, GPT-2 regex),
 * Metaspace (replace, prepend scheme, split) and Digits, with HF's semantics
 * (pre_tokenizers/ and normalizer.rs split() in HF tokenizers). Byte mapping itself never materializes: a
 * byte-level model works on raw bytes (its vocabulary was converted at load).
 */
#define _GNU_SOURCE /* memmem */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tok_int.h"
#include "unicode.h"
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    size_t off, len;
    bool first;
} piece_t;
typedef struct {
    piece_t *v;
    size_t n, cap;
} pieces_t;
typedef struct {
    size_t a, b;
    bool m;
} mspan_t;
typedef struct {
    mspan_t *v;
    size_t n, cap;
} mspans_t;

static int ppush(pieces_t *p, size_t off, size_t len, bool first) {
    if (!len) return 0;
    if (p->n == p->cap) {
        size_t c = p->cap ? p->cap * 2 : 64;
        piece_t *x = realloc(p->v, c * sizeof *x);
        if (!x) return -1;
        p->v = x;
        p->cap = c;
    }
    p->v[p->n++] = (piece_t){off, len, first};
    return 0;
}
static int mpush(mspans_t *m, size_t a, size_t b, bool is_match) {
    if (a == b) return 0;
    if (m->n == m->cap) {
        size_t c = m->cap ? m->cap * 2 : 64;
        mspan_t *x = realloc(m->v, c * sizeof *x);
        if (!x) return -1;
        m->v = x;
        m->cap = c;
    }
    m->v[m->n++] = (mspan_t){a, b, is_match};
    return 0;
}

/* ---- PCRE2 ---- */
#define WS_CLASS "\\t-\\r \\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}"
/* Rewrite \s / \S to Unicode White_Space exactly (PCRE2's UCP \s also has U+180E). */
static char *fix_ws(const char *p, lerr_t *e) {
    size_t n = strlen(p);
    char *o = malloc(n * 80 + 1);
    if (!o) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    size_t j = 0;
    int in_class = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\\' && i + 1 < n) {
            char c = p[i + 1];
            if (c == 's' || c == 'S') {
                if (in_class && c == 'S') {
                    free(o);
                    lerr_set(e, EXIT_DATA, "regex: \\S inside a character class is not supported");
                    return NULL;
                }
                const char *r = in_class ? WS_CLASS : (c == 's' ? "[" WS_CLASS "]" : "[^" WS_CLASS "]");
                memcpy(o + j, r, strlen(r));
                j += strlen(r);
                i++;
                continue;
            }
            o[j++] = p[i];
            o[j++] = p[++i];
            continue;
        }
        if (p[i] == '[' && !in_class) {
            in_class = 1;
            o[j++] = p[i];
            if (i + 1 < n && p[i + 1] == '^') o[j++] = p[++i];
            if (i + 1 < n && p[i + 1] == ']') o[j++] = p[++i];
            continue;
        }
        if (p[i] == ']' && in_class) in_class = 0;
        o[j++] = p[i];
    }
    o[j] = 0;
    return o;
}

int split_compile_regex(pt_step_t *st, const char *pattern, lerr_t *e) {
    char *fixed = fix_ws(pattern, e);
    if (!fixed) return -1;
    int err;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)fixed, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &off, NULL);
    free(fixed);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return lerr_set(e, EXIT_DATA, "regex does not compile at offset %zu: %s", (size_t)off, (char *)msg);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if JIT is unavailable */
    st->re = re;
    st->md = pcre2_match_data_create_from_pattern(re, NULL);
    if (!st->md) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    return 0;
}

void pt_step_free(pt_step_t *st) {
    if (st->md) pcre2_match_data_free(st->md);
    if (st->re) pcre2_code_free(st->re);
    free(st->lit);
    memset(st, 0, sizeof *st);
}

/* Matches of a Split step inside s[0..n), as spans covering s (is_match after invert). */
static int find_matches(const pt_step_t *st, const char *s, size_t n, mspans_t *m, lerr_t *e) {
    size_t prev = 0;
    m->n = 0;
    if (st->scan) {
        for (size_t i = 0; i < n;) {
            size_t l = scan_next(st->scan, (const uint8_t *)s + i, n - i);
            if (mpush(m, i, i + l, true)) goto oom;
            i += l;
        }
        prev = n;
    } else if (st->re) {
        size_t at = 0;
        while (at <= n) {
            int rc = pcre2_match(st->re, (PCRE2_SPTR)s, n, at, PCRE2_NO_UTF_CHECK, st->md, NULL);
            if (rc == PCRE2_ERROR_NOMATCH) break;
            if (rc < 0) return lerr_set(e, EXIT_DATA, "regex match failed (PCRE2 error %d)", rc);
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(st->md);
            size_t a = ov[0], b = ov[1];
            if (a == b) { /* empty match: skip one character */
                if (a >= n) break;
                int l;
                utf8_dec((const uint8_t *)s + a, n - a, &l);
                at = a + l;
                continue;
            }
            if (mpush(m, prev, a, false) || mpush(m, a, b, true)) goto oom;
            prev = at = b;
        }
    } else if (st->kind == PT_DIGITS || st->kind == PT_METASPACE) {
        /* char-predicate patterns: each \p{N} char (Rust is_numeric) / each replacement char is one match */
        for (size_t i = 0; i < n;) {
            bool hit;
            size_t l = 1;
            if (st->kind == PT_DIGITS) {
                int cl;
                hit = uni_class(utf8_dec((const uint8_t *)s + i, n - i, &cl)) & UNI_N;
                l = cl;
            } else {
                hit = n - i >= (size_t)st->repl_len && !memcmp(s + i, st->repl, st->repl_len);
                if (hit) l = st->repl_len;
            }
            if (!hit) {
                int cl;
                utf8_dec((const uint8_t *)s + i, n - i, &cl);
                l = cl;
            }
            if (hit) {
                if (mpush(m, prev, i, false) || mpush(m, i, i + l, true)) goto oom;
                prev = i + l;
            }
            i += l;
        }
    } else if (st->litlen) {
        for (size_t i = 0; i + st->litlen <= n;) {
            const char *f = memmem(s + i, n - i, st->lit, st->litlen);
            if (!f) break;
            size_t a = f - s;
            if (mpush(m, prev, a, false) || mpush(m, a, a + st->litlen, true)) goto oom;
            prev = i = a + st->litlen;
        }
    }
    if (mpush(m, prev, n, false)) goto oom;
    if (st->invert)
        for (size_t i = 0; i < m->n; i++) m->v[i].m = !m->v[i].m;
    return 0;
oom:
    return lerr_set(e, EXIT_INTERNAL, "out of memory");
}

/* Apply a split behaviour to the spans (HF SplitDelimiterBehavior), emitting pieces. */
static int apply_behavior(int beh, const mspans_t *m, size_t base, bool first, pieces_t *out) {
    size_t start = out->n;
    bool prevm = false;
    for (size_t i = 0; i < m->n; i++) {
        const mspan_t *s = &m->v[i];
        bool fst = first && s->a == 0;
        switch (beh) {
        case SB_ISOLATED:
            if (ppush(out, base + s->a, s->b - s->a, fst)) return -1;
            break;
        case SB_REMOVED:
            if (!s->m && ppush(out, base + s->a, s->b - s->a, fst)) return -1;
            break;
        case SB_MERGED_PREV:
            if (s->m && !prevm && out->n > start) out->v[out->n - 1].len = base + s->b - out->v[out->n - 1].off;
            else if (ppush(out, base + s->a, s->b - s->a, fst)) return -1;
            break;
        case SB_CONTIGUOUS:
            if (s->m == prevm && out->n > start) out->v[out->n - 1].len = base + s->b - out->v[out->n - 1].off;
            else if (ppush(out, base + s->a, s->b - s->a, fst)) return -1;
            break;
        case SB_MERGED_NEXT: /* a match glues onto a following non-match span */
            if (s->m && i + 1 < m->n && !m->v[i + 1].m) {
                if (ppush(out, base + s->a, m->v[i + 1].b - s->a, fst)) return -1;
                prevm = false;
                i++;
                continue;
            }
            if (ppush(out, base + s->a, s->b - s->a, fst)) return -1;
            break;
        }
        prevm = s->m;
    }
    return 0;
}

/* New text for a piece (prefix space / metaspace rewrite) goes to the end of the work buffer. */
static int bytelevel_step(const pt_step_t *st, tok_str_t *buf, const pieces_t *in, pieces_t *out, mspans_t *m,
                          lerr_t *e) {
    for (size_t k = 0; k < in->n; k++) {
        piece_t p = in->v[k];
        if (st->add_prefix_space && buf->p[p.off] != ' ') {
            size_t off = buf->n;
            if (tok_str_append(buf, " ", 1) || tok_str_append(buf, buf->p + p.off, p.len)) goto oom;
            p.off = off;
            p.len++;
        }
        if (!st->use_regex) {
            if (ppush(out, p.off, p.len, p.first)) goto oom;
            continue;
        }
        pt_step_t g = {.kind = PT_SPLIT, .scan = SCAN_GPT2};
        if (find_matches(&g, buf->p + p.off, p.len, m, e)) return -1;
        if (apply_behavior(SB_ISOLATED, m, p.off, p.first, out)) goto oom;
    }
    return 0;
oom:
    return lerr_set(e, EXIT_INTERNAL, "out of memory");
}

static int metaspace_step(const pt_step_t *st, tok_str_t *buf, const pieces_t *in, pieces_t *out, mspans_t *m,
                          lerr_t *e) {
    for (size_t k = 0; k < in->n; k++) {
        piece_t p = in->v[k];
        size_t off = buf->n;
        const char *src;
        bool pre = (st->prepend_scheme == PS_ALWAYS || (st->prepend_scheme == PS_FIRST && p.first));
        /* replace ' ' by the replacement; starts_with is checked after replacing */
        size_t nl = 0;
        for (size_t i = 0; i < p.len; i++) {
            src = buf->p + p.off + i;
            if (*src == ' ') {
                if (tok_str_append(buf, st->repl, st->repl_len)) goto oom;
                nl += st->repl_len;
            } else {
                if (tok_str_append(buf, src, 1)) goto oom;
                nl++;
            }
        }
        if (pre && !(nl >= (size_t)st->repl_len && !memcmp(buf->p + off, st->repl, st->repl_len))) {
            size_t off2 = buf->n;
            if (tok_str_append(buf, st->repl, st->repl_len) || tok_str_append(buf, buf->p + off, nl)) goto oom;
            off = off2;
            nl += st->repl_len;
        }
        if (!st->split) {
            if (ppush(out, off, nl, p.first)) goto oom;
            continue;
        }
        if (find_matches(st, buf->p + off, nl, m, e)) return -1;
        if (apply_behavior(SB_MERGED_NEXT, m, off, p.first, out)) goto oom;
    }
    return 0;
oom:
    return lerr_set(e, EXIT_INTERNAL, "out of memory");
}

static int run_model(tokenizer_t *t, const char *s, size_t n, tok_ids_t *out, lerr_t *e) {
    return bpe_piece(t, (const uint8_t *)s, n, out, e);
}

int pretok_encode(tokenizer_t *t, const char *s, size_t n, bool first_section, tok_ids_t *out, lerr_t *e) {
    if (!n) return 0;
    if (t->fast_none) return run_model(t, s, n, out, e);
    if (t->fast_scan) {
        const uint8_t *u = (const uint8_t *)s;
        for (size_t i = 0; i < n;) {
            size_t l = scan_next(t->fast_scan, u + i, n - i);
            if (run_model(t, s + i, l, out, e)) return -1;
            i += l;
        }
        return 0;
    }
    tok_str_t buf = {0};
    pieces_t a = {0}, b = {0};
    mspans_t m = {0};
    int rc = -1;
    if (tok_str_append(&buf, s, n) || ppush(&a, 0, n, first_section)) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        goto done;
    }
    for (int k = 0; k < t->n_pt; k++) {
        const pt_step_t *st = &t->pt[k];
        b.n = 0;
        if (st->kind == PT_BYTELEVEL) {
            if (bytelevel_step(st, &buf, &a, &b, &m, e)) goto done;
        } else if (st->kind == PT_METASPACE) {
            if (metaspace_step(st, &buf, &a, &b, &m, e)) goto done;
        } else {
            int beh = st->kind == PT_DIGITS ? (st->individual ? SB_ISOLATED : SB_CONTIGUOUS) : st->behavior;
            for (size_t i = 0; i < a.n; i++) {
                if (find_matches(st, buf.p + a.v[i].off, a.v[i].len, &m, e)) goto done;
                if (apply_behavior(beh, &m, a.v[i].off, a.v[i].first, &b)) {
                    lerr_set(e, EXIT_INTERNAL, "out of memory");
                    goto done;
                }
            }
        }
        pieces_t x = a;
        a = b;
        b = x;
    }
    for (size_t i = 0; i < a.n; i++)
        if (run_model(t, buf.p + a.v[i].off, a.v[i].len, out, e)) goto done;
    rc = 0;
done:
    tok_str_free(&buf);
    free(a.v);
    free(b.v);
    free(m.v);
    return rc;
}
