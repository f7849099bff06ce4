/* json.h — a small read-only JSON DOM for tokenizer.json (a 10 MB file parses in a few tens of
 * milliseconds; jansson took 0.4-0.5 s, most of the load time).
 *
 * The parser decodes strings in place in the caller's buffer (escapes never grow), so the
 * document borrows that buffer. Nodes live in one array in document order; every node knows
 * how many nodes its subtree spans, so siblings are reached in O(1) and arrays are iterated
 * with jv_first / jv_next. Object children alternate key, value.
 *
 * With JD_RAW_TABLES the two big tables of a tokenizer.json ($.model.vocab, $.model.merges: 99%
 * of a 10 MB file) are checked but get no nodes: each is one "raw" node (JV_F_RAW) that counts
 * its members and points at its text, which the caller reads with jstr_decode / jnum_scan
 * straight into its own tables (no tree of ~500 k nodes to allocate and walk).
 */
#ifndef TOK_JSON_H
#define TOK_JSON_H
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

enum { JV_NULL, JV_FALSE, JV_TRUE, JV_NUM, JV_STR, JV_ARR, JV_OBJ };
enum {
    JV_F_INT = 1, /* flags: a number written as an integer (no fraction or exponent) */
    JV_F_RAW = 2
}; /* a raw table: n members, no child nodes; text at u.s, off bytes */
enum { JD_RAW_TABLES = 1 };
typedef struct jv {
    uint8_t type, flags;
    uint32_t n;    /* string bytes, children (arrays: elements; objects: key/value pairs), or
                         a number's length in the source text */
    uint32_t span; /* nodes in this subtree including itself */
    uint32_t off;  /* numbers: offset of their text in the source buffer; raw tables: length
                         of their text (u.s: its start, the opening bracket) */
    union {
        const char *s;
        double num;
    } u;
} jv_t;
typedef struct {
    jv_t *nodes;
    size_t n, cap;
    const char *base;
} jdoc_t;

/* Parse buf[0..len) (modified in place; must outlive the document; at most 4 GB). Returns the root, or NULL
 * with *line / *col / msg (static string) set. jdoc_free releases the nodes. */
const jv_t *jdoc_parse(jdoc_t *d, char *buf, size_t len, int *line, int *col, const char **msg);
/* The same with options (JD_RAW_TABLES). The text of a raw table is left as it was (valid JSON;
 * the document never writes into it), for the caller to decode in place. */
const jv_t *jdoc_parse_opts(jdoc_t *d, char *buf, size_t len, unsigned opts, int *line, int *col, const char **msg);
/* Reading a raw table's text. jstr_decode: the string whose opening quote is at q[-1], decoded
 * in place and NUL-terminated at q; returns its length, *after = just past the closing quote.
 * jnum_scan: the number at s (end: the text's end): returns its end (NULL if not a number),
 * *val (when val is not NULL) and *integral (written without fraction or exponent). */
size_t jstr_decode(char *q, const char *end, char **after);
const char *jnum_scan(const char *s, const char *end, double *val, bool *integral);
void jdoc_free(jdoc_t *d);

/* The JSON text of node v (numbers as written in the source; strings re-escaped), except that
 * raw tables and the nodes in empty[0..nempty) are written as {} / []. Malloc'd, NUL-terminated, length in
 * *len; NULL when out of memory. */
char *jv_dump(const jdoc_t *d, const jv_t *v, const jv_t *const *empty, int nempty, size_t *len);

/* Scanning helpers (inline: they run once per token of a 10 MB file).
 * jstr_span: the first byte in [p, end) that ends a plain run of string text ('"', '\\' or a
 * control character below 0x20), or end; jstr_span_ref is the byte loop it must equal (16 bytes
 * at a time with SSE2, where the x86-64 baseline has it). jspaces: past the spaces at p (the
 * indentation of pretty-printed files; 8 at a time). */
static inline const char *jstr_span_ref(const char *p, const char *end) {
    while (p < end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20) p++;
    return p;
}
static inline const char *jstr_span(const char *p, const char *end) {
#ifdef __SSE2__
    const __m128i q = _mm_set1_epi8('"'), b = _mm_set1_epi8('\\'), c = _mm_set1_epi8(0x1F);
    while (end - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)p);
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, q), _mm_cmpeq_epi8(x, b)),
                                   _mm_cmpeq_epi8(_mm_max_epu8(x, c), c)); /* x <= 0x1F */
        int m = _mm_movemask_epi8(hit);
        if (m) return p + __builtin_ctz((unsigned)m);
        p += 16;
    }
#endif
    return jstr_span_ref(p, end);
}
static inline const char *jspaces(const char *p, const char *end) {
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        uint64_t x = w ^ 0x2020202020202020ULL; /* little-endian: the first non-space is the lowest */
        if (x) return p + (__builtin_ctzll(x) >> 3);
        p += 8;
    }
    while (p < end && *p == ' ') p++;
    return p;
}

/* Accessors: all accept NULL and return NULL / 0 / false / dflt for a missing or mistyped node. */
const jv_t *jv_get(const jv_t *obj, const char *key); /* object member (first match) */
const jv_t *jv_at(const jv_t *arr, size_t i);         /* i-th element, O(i) */
/* (a raw table has members but no nodes: jv_get / jv_at / jv_first find nothing in it) */
static inline const jv_t *jv_first(const jv_t *c) {
    return c && c->n && !(c->flags & JV_F_RAW) && (c->type == JV_ARR || c->type == JV_OBJ) ? c + 1 : NULL;
}
static inline bool jv_is_raw(const jv_t *x) { return x && (x->flags & JV_F_RAW); }
static inline const jv_t *jv_skip(const jv_t *x) { return x + x->span; }
static inline size_t jv_size(const jv_t *c) { return c && (c->type == JV_ARR || c->type == JV_OBJ) ? c->n : 0; }
static inline bool jv_is(const jv_t *x, int type) { return x && x->type == type; }
static inline bool jv_is_null(const jv_t *x) { return !x || x->type == JV_NULL; }
static inline bool jv_is_bool(const jv_t *x) { return x && (x->type == JV_TRUE || x->type == JV_FALSE); }
static inline const char *jv_str(const jv_t *x) { return x && x->type == JV_STR ? x->u.s : NULL; }
static inline size_t jv_len(const jv_t *x) { return x && x->type == JV_STR ? x->n : 0; }
static inline double jv_num(const jv_t *x) { return x && x->type == JV_NUM ? x->u.num : 0; }
bool jv_is_int(const jv_t *x); /* a number written as an integer */
/* saturating: a number beyond long long (1.6e98 from fuzz_tokenizer) is clamped, not UB */
static inline long long jv_int(const jv_t *x) {
    if (!x || x->type != JV_NUM) return 0;
    double v = x->u.num;
    return v >= 9.2e18 ? (long long)9.2e18 : v <= -9.2e18 ? -(long long)9.2e18 : (long long)v;
}
static inline bool jv_bool(const jv_t *x, bool dflt) { return jv_is_bool(x) ? x->type == JV_TRUE : dflt; }
#endif
