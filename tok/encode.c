/* encode.c — tok_encode: the HF encode pipeline over one text.
 *
 * Order (tokenizer/mod.rs): split out added tokens that are not normalized (raw text); run the
 * normalizer on each remaining section; split out normalized added tokens; pre-tokenize each
 * section and run the BPE model per piece; then the post-processor when TOK_ADD_SPECIAL.
 */
#include "tok_int.h"
#include "unicode.h"
#include <stdlib.h>
#include <string.h>

int tok_ids_push(tok_ids_t *a, int32_t id) {
    if (a->n == a->cap) {
        size_t c = a->cap ? a->cap * 2 : 256;
        int32_t *x = realloc(a->v, c * sizeof *x);
        if (!x) return -1;
        a->v = x;
        a->cap = c;
    }
    a->v[a->n++] = id;
    return 0;
}
void tok_ids_free(tok_ids_t *a) {
    free(a->v);
    memset(a, 0, sizeof *a);
}

int tok_str_reserve(tok_str_t *s, size_t extra) {
    if (s->n + extra + 1 <= s->cap) return 0;
    size_t c = s->cap ? s->cap * 2 : 256;
    while (c < s->n + extra + 1) c *= 2;
    char *x = realloc(s->p, c);
    if (!x) return -1;
    s->p = x;
    s->cap = c;
    return 0;
}

int tok_str_append(tok_str_t *s, const void *p, size_t n) {
    if (s->n + n + 1 > s->cap) {
        size_t c = s->cap ? s->cap * 2 : 256;
        while (c < s->n + n + 1) c *= 2;
        /* p may point into s itself (pieces copied within a work buffer) */
        ptrdiff_t self =
            (s->p && (const char *)p >= s->p && (const char *)p < s->p + s->cap) ? (const char *)p - s->p : -1;
        char *x = realloc(s->p, c);
        if (!x) return -1;
        s->p = x;
        s->cap = c;
        if (self >= 0) p = x + self;
    }
    if (n) memcpy(s->p + s->n, p, n);
    s->n += n;
    s->p[s->n] = 0;
    return 0;
}
void tok_str_free(tok_str_t *s) {
    free(s->p);
    memset(s, 0, sizeof *s);
}

/* Normalize (if any), split normalized added tokens, pre-tokenize + model. */
static int encode_section(tokenizer_t *t, const char *s, size_t n, bool first, unsigned flags, tok_ids_t *out,
                          lerr_t *e) {
    if (!t->n_norm && !t->trie_norm.n) return pretok_encode(t, s, n, first, out, e);
    tok_str_t *norm = &t->norm_out; /* kept by the tokenizer: long texts reuse its pages */
    spans_t sp = {0};
    int rc = -1;
    const char *x = s;
    size_t xn = n;
    if (t->n_norm) {
        norm->n = 0;
        if (normalize(t, s, n, norm, e)) goto done;
        x = norm->p ? norm->p : "";
        xn = norm->n;
    }
    if (!t->trie_norm.n) {
        rc = pretok_encode(t, x, xn, first, out, e);
        goto done;
    }
    if (added_split(t, &t->trie_norm, x, xn, flags, &sp)) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < sp.n; i++) {
        if (sp.v[i].added >= 0) {
            if (tok_ids_push(out, t->added[sp.v[i].added].id)) goto oom;
            continue;
        }
        if (pretok_encode(t, x + sp.v[i].start, sp.v[i].end - sp.v[i].start, first && sp.v[i].start == 0, out, e))
            goto done;
    }
    rc = 0;
    goto done;
oom:
    lerr_set(e, EXIT_INTERNAL, "out of memory");
done:
    free(sp.v);
    return rc;
}

/* A template with the sequence once (HF's single-sequence templates): the ids before it are
 * inserted in place, those after it appended (no copy of a long sequence). */
static int post_in_place(const tokenizer_t *t, tok_ids_t *out, size_t from) {
    size_t pre = 0, post = 0;
    int seq = -1;
    for (int i = 0; i < t->n_post; i++) {
        if (t->post[i].seq) {
            if (seq >= 0) return 1;
            seq = i;
        } else if (seq < 0) pre += (size_t)t->post[i].n;
        else post += (size_t)t->post[i].n;
    }
    if (seq < 0) return 1;
    size_t n = out->n - from;
    for (size_t k = 0; k < pre + post; k++)
        if (tok_ids_push(out, 0)) return -1; /* room */
    memmove(out->v + from + pre, out->v + from, n * sizeof *out->v);
    int32_t *w = out->v + from;
    for (int i = 0; i < t->n_post; i++) {
        if (i == seq) {
            w += n;
            continue;
        }
        memcpy(w, t->post[i].ids, (size_t)t->post[i].n * sizeof *w);
        w += t->post[i].n;
    }
    return 0;
}

static int post_process(const tokenizer_t *t, tok_ids_t *out, size_t from) {
    int r = post_in_place(t, out, from);
    if (r <= 0) return r;
    size_t n = out->n - from;
    int32_t *seq = malloc((n ? n : 1) * sizeof *seq);
    if (!seq) return -1;
    memcpy(seq, out->v + from, n * sizeof *seq);
    out->n = from;
    for (int i = 0; i < t->n_post; i++) {
        if (t->post[i].seq) {
            for (size_t k = 0; k < n; k++)
                if (tok_ids_push(out, seq[k])) goto oom;
        } else
            for (int k = 0; k < t->post[i].n; k++)
                if (tok_ids_push(out, t->post[i].ids[k])) goto oom;
    }
    free(seq);
    return 0;
oom:
    free(seq);
    return -1;
}

int tok_encode(tokenizer_t *t, const char *text, size_t len, unsigned flags, tok_ids_t *out, lerr_t *e) {
    size_t from = out->n, clean_len = len;
    uint8_t *clean = NULL;
    if (utf8_valid_prefix((const uint8_t *)text, len) != len) {
        clean = utf8_sanitize((const uint8_t *)text, len, &clean_len);
        if (!clean) return lerr_set(e, EXIT_INTERNAL, "out of memory");
        text = (const char *)clean;
    }
    spans_t sp = {0};
    int rc = -1;
    if (added_split(t, &t->trie_raw, text, clean_len, flags, &sp)) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < sp.n; i++) {
        if (sp.v[i].added >= 0) {
            if (tok_ids_push(out, t->added[sp.v[i].added].id)) {
                lerr_set(e, EXIT_INTERNAL, "out of memory");
                goto done;
            }
            continue;
        }
        if (encode_section(t, text + sp.v[i].start, sp.v[i].end - sp.v[i].start, sp.v[i].start == 0, flags, out, e))
            goto done;
    }
    if ((flags & TOK_ADD_SPECIAL) && t->has_post && post_process(t, out, from)) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        goto done;
    }
    rc = 0;
done:
    free(sp.v);
    free(clean);
    return rc;
}
