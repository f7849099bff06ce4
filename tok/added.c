/* added.c — added tokens: leftmost-longest matching over a byte trie, with HF's rules
 * (tokenizer/added_vocabulary.rs): single_word keeps a match only between non-word chars,
 * lstrip/rstrip swallow neighbouring whitespace, and with TOK_SPECIAL_AS_TEXT a matched
 * special token is dropped back into the text (HF encode_special_tokens). */
#include "tok_int.h"
#include "unicode.h"
#include <stdlib.h>
#include <string.h>

static int32_t new_node(trie_t *tr, uint8_t b) {
    if (tr->n == tr->cap) {
        int c = tr->cap ? tr->cap * 2 : 256;
        trie_node_t *x = realloc(tr->nodes, c * sizeof *x);
        if (!x) return -1;
        tr->nodes = x;
        tr->cap = c;
    }
    tr->nodes[tr->n] = (trie_node_t){-1, -1, -1, b};
    return tr->n++;
}

int trie_add(trie_t *tr, const char *s, size_t n, int32_t term) {
    if (!tr->nodes && !tr->n)
        for (int i = 0; i < 256; i++) tr->root[i] = -1;
    if (!n) return 0;
    const uint8_t *u = (const uint8_t *)s;
    int32_t cur = tr->root[u[0]];
    if (cur < 0) {
        if ((cur = new_node(tr, u[0])) < 0) return -1;
        tr->root[u[0]] = cur;
    }
    for (size_t i = 1; i < n; i++) {
        int32_t c = tr->nodes[cur].child;
        while (c >= 0 && tr->nodes[c].byte != u[i]) c = tr->nodes[c].sibling;
        if (c < 0) {
            if ((c = new_node(tr, u[i])) < 0) return -1;
            tr->nodes[c].sibling = tr->nodes[cur].child;
            tr->nodes[cur].child = c;
        }
        cur = c;
    }
    if (tr->nodes[cur].term < 0) tr->nodes[cur].term = term; /* duplicate content: first wins */
    return 0;
}

void trie_free(trie_t *tr) {
    free(tr->nodes);
    memset(tr, 0, sizeof *tr);
    for (int i = 0; i < 256; i++) tr->root[i] = -1;
}

/* Longest match at s[i]: returns its added index and sets *end, or -1. */
static int32_t longest(const trie_t *tr, const uint8_t *s, size_t n, size_t i, size_t *end) {
    int32_t cur = tr->root[s[i]], best = -1;
    size_t j = i + 1;
    for (;;) {
        if (tr->nodes[cur].term >= 0) {
            best = tr->nodes[cur].term;
            *end = j;
        }
        if (j >= n) break;
        int32_t c = tr->nodes[cur].child;
        while (c >= 0 && tr->nodes[c].byte != s[j]) c = tr->nodes[c].sibling;
        if (c < 0) break;
        cur = c;
        j++;
    }
    return best;
}

/* Rust char::is_alphanumeric() || '_' (approximated by \p{L} | \p{N} | marks; used only by
 * single_word tokens). */
static bool word_char(uint32_t cp) { return cp == '_' || (uni_class(cp) & (UNI_L | UNI_N)); }
static uint32_t prev_cp(const uint8_t *s, size_t i) {
    size_t j = i;
    do j--;
    while (j && (s[j] & 0xC0) == 0x80);
    int l;
    return utf8_dec(s + j, i - j, &l);
}

static int push(spans_t *o, size_t a, size_t b, int32_t added) {
    if (o->n == o->cap) {
        size_t c = o->cap ? o->cap * 2 : 16;
        span_t *x = realloc(o->v, c * sizeof *x);
        if (!x) return -1;
        o->v = x;
        o->cap = c;
    }
    o->v[o->n++] = (span_t){a, b, added};
    return 0;
}

int added_split(const tokenizer_t *t, const trie_t *tr, const char *str, size_t n, unsigned flags, spans_t *out) {
    const uint8_t *s = (const uint8_t *)str;
    size_t start_off = 0, i = 0;
    int only = -1; /* the single first byte of every token (e.g. '<'), or -1 */
    for (int b = 0; b < 256 && only != -2; b++)
        if (tr->n && tr->root[b] >= 0) only = only == -1 ? b : -2;
    if (tr->n)
        while (i < n) {
            if (only >= 0) { /* all tokens start with one byte: memchr to it */
                const uint8_t *f = memchr(s + i, only, n - i);
                if (!f) break;
                i = f - s;
            } else if (tr->root[s[i]] < 0) {
                i++;
                continue;
            }
            size_t end = 0;
            int32_t k = longest(tr, s, n, i, &end);
            if (k < 0) {
                i++;
                continue;
            }
            size_t start = i, stop = end;
            i = end;
            const added_t *a = &t->added[k];
            if ((flags & TOK_SPECIAL_AS_TEXT) && a->special) continue;
            if (a->single_word) {
                int l;
                bool sp = start == 0 || !word_char(prev_cp(s, start));
                bool ep = stop == n || !word_char(utf8_dec(s + stop, n - stop, &l));
                if (!sp || !ep) continue;
            }
            if (a->lstrip) {
                size_t ns = start;
                while (ns > 0) {
                    size_t j = ns;
                    do j--;
                    while (j && (s[j] & 0xC0) == 0x80);
                    int l;
                    if (!(uni_class(utf8_dec(s + j, ns - j, &l)) & UNI_WS)) break;
                    ns = j;
                }
                start = ns > start_off ? ns : start_off;
            }
            if (a->rstrip) {
                while (stop < n) {
                    int l;
                    uint32_t cp = utf8_dec(s + stop, n - stop, &l);
                    if (!(uni_class(cp) & UNI_WS)) break;
                    stop += l;
                }
            }
            if (start > start_off && push(out, start_off, start, -1)) return -1;
            if (push(out, start, stop, k)) return -1;
            start_off = stop;
        }
    if (start_off < n && push(out, start_off, n, -1)) return -1;
    return 0;
}
