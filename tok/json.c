/* json.c — in-place JSON parser for tokenizer.json (see json.h). Iterative over a node array;
 * nesting depth is bounded (128). The buffer must have a NUL at buf[len] (strtod stops there).
 * As strict as HF's loader (serde_json over a Rust String) where that matters: the text must be
 * UTF-8, and a \u escape of a lone surrogate is an error. */
#include "json.h"
#include "mem.h"
#include "unicode.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *p, *end, *base;
    const char *msg;
    jdoc_t *d;
    unsigned opts;
    int skip;     /* depth of the raw table being skipped (0: none) */
    size_t model; /* node of the first $.model object (0: none yet) */
    bool seen[2]; /* $.model.vocab / $.model.merges already taken raw */
    int line;
    const char *lstart; /* newlines passed (only whitespace has them), the last one's end */
} jp_t;

static jv_t *node(jp_t *j, int type) {
    jdoc_t *d = j->d;
    if (d->n == d->cap) {
        size_t c = d->cap ? d->cap * 2 : 4096;
        jv_t *x = realloc(d->nodes, c * sizeof *x);
        if (!x) {
            j->msg = "out of memory";
            return NULL;
        }
        d->nodes = x;
        d->cap = c;
    }
    jv_t *v = &d->nodes[d->n++];
    memset(v, 0, sizeof *v);
    v->type = (uint8_t)type;
    v->span = 1;
    return v;
}

static void ws(jp_t *j) {
    for (; j->p < j->end; j->p++) {
        char c = *j->p;
        if (c == '\n') {
            j->line++;
            j->lstart = j->p + 1;
            j->p = (char *)jspaces(j->p + 1, j->end) - 1;
        } else if (c != ' ' && c != '\r' && c != '\t') break;
    }
}

static int hex4(const char *s, uint32_t *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) return -1;
        *v = *v * 16 + (uint32_t)d;
    }
    return 0;
}

/* String at j->p (just after the quote): decoded in place, NUL-terminated. */
static int str(jp_t *j, jv_t *v) {
    char *o = j->p, *s = j->p;
    const unsigned char *q = (const unsigned char *)s, *end = (const unsigned char *)j->end;
    q = (const unsigned char *)jstr_span((const char *)q, (const char *)end);
    if (q < end && *q == '"') { /* no escapes: the common case */
        v->u.s = s;
        v->n = (uint32_t)((const char *)q - s);
        j->p = (char *)q + 1;
        *(char *)q = 0;
        return 0;
    }
    while (s < j->end && *s != '"') {
        if ((unsigned char)*s < 0x20) {
            j->msg = "control character in string";
            return -1;
        }
        if (*s != '\\') {
            *o++ = *s++;
            continue;
        }
        if (s + 1 >= j->end) break;
        char c = s[1];
        s += 2;
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            uint32_t cp, lo;
            if (s + 4 > j->end || hex4(s, &cp)) {
                j->msg = "bad \\u escape";
                return -1;
            }
            s += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && s + 6 <= j->end && s[0] == '\\' && s[1] == 'u' && !hex4(s + 2, &lo) &&
                lo >= 0xDC00 && lo < 0xE000) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                s += 6;
            } else if (cp >= 0xD800 && cp < 0xE000) {
                j->msg = "lone surrogate in a \\u escape";
                j->p = s;
                return -1;
            }
            o += utf8_enc(cp, (uint8_t *)o);
            break;
        }
        default: j->msg = "bad escape"; return -1;
        }
    }
    if (s >= j->end) {
        j->msg = "unterminated string";
        return -1;
    }
    v->u.s = j->p;
    v->n = (uint32_t)(o - j->p);
    *o = 0;
    j->p = s + 1;
    return 0;
}

/* The string at j->p (just after the quote) checked as str() checks it, without writing: the
 * same errors at the same positions. */
static int str_skip(jp_t *j) {
    const char *s = j->p, *end = j->end;
    for (;;) {
        const unsigned char *q = (const unsigned char *)s;
        q = (const unsigned char *)jstr_span((const char *)q, end);
        s = (const char *)q;
        if (s >= end) {
            j->msg = "unterminated string";
            return -1;
        }
        if (*s == '"') {
            j->p = (char *)s + 1;
            return 0;
        }
        if ((unsigned char)*s < 0x20) {
            j->msg = "control character in string";
            return -1;
        }
        if (s + 1 >= end) {
            j->p = j->end;
            return 0;
        } /* as str(): a final backslash ends it */
        char c = s[1];
        s += 2;
        switch (c) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't': break;
        case 'u': {
            uint32_t cp, lo;
            if (s + 4 > end || hex4(s, &cp)) {
                j->msg = "bad \\u escape";
                return -1;
            }
            s += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && s + 6 <= end && s[0] == '\\' && s[1] == 'u' && !hex4(s + 2, &lo) &&
                lo >= 0xDC00 && lo < 0xE000)
                s += 6;
            else if (cp >= 0xD800 && cp < 0xE000) {
                j->msg = "lone surrogate in a \\u escape";
                j->p = (char *)s;
                return -1;
            }
            break;
        }
        default: j->msg = "bad escape"; return -1;
        }
    }
}

size_t jstr_decode(char *q, const char *end, char **after) {
    jp_t j = {.p = q, .end = (char *)end};
    jv_t v;
    if (str(&j, &v)) {
        *after = (char *)end;
        return 0;
    } /* not reached on text jdoc_parse accepted */
    *after = j.p;
    return v.n;
}

static bool digit(const char *q, const char *end) { return q < end && *q >= '0' && *q <= '9'; }

/* A number in RFC 8259 syntax: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
const char *jnum_scan(const char *s, const char *end, double *val, bool *integral_out) {
    const char *q = s;
    if (q < end && *q == '-') q++;
    if (!digit(q, end)) return NULL;
    long long iv = 0;
    if (*q == '0') q++;
    else
        while (digit(q, end)) {
            if (q - s < 18) iv = iv * 10 + (*q - '0');
            q++;
        }
    bool integral = true;
    if (q < end && *q == '.') {
        integral = false;
        q++;
        if (!digit(q, end)) return NULL;
        while (digit(q, end)) q++;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        integral = false;
        q++;
        if (q < end && (*q == '+' || *q == '-')) q++;
        if (!digit(q, end)) return NULL;
        while (digit(q, end)) q++;
    }
    if (val) {
        if (integral && q - s < 18) *val = (double)(*s == '-' ? -iv : iv);
        else *val = strtod(s, NULL); /* the text is a valid number; it ends at q */
    }
    *integral_out = integral;
    return q;
}

static int num(jp_t *j, jv_t *v) {
    bool integral;
    const char *q = jnum_scan(j->p, j->end, v ? &v->u.num : NULL, &integral);
    if (!q) {
        j->msg = "bad number";
        return -1;
    }
    if (v) {
        if (integral) v->flags = JV_F_INT;
        v->off = (uint32_t)(j->p - j->base);
        v->n = (uint32_t)(q - j->p);
    }
    j->p = (char *)q;
    return 0;
}

static int lit(jp_t *j, const char *w, int type) {
    size_t n = strlen(w);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n)) {
        j->msg = "invalid literal";
        return -1;
    }
    j->p += n;
    return j->skip || node(j, type) ? 0 : -1;
}

static bool is_key(const jv_t *k, const char *w) {
    size_t n = strlen(w);
    return k->n == n && !memcmp(k->u.s, w, n);
}

/* With JD_RAW_TABLES: is the value about to be parsed (first character c) the first
 * $.model.vocab object or $.model.merges array? Returns 0 / 1 for which, -1 for neither. */
static int raw_table(jp_t *j, const size_t *stack, int depth, char c) {
    if (!(j->opts & JD_RAW_TABLES) || j->skip || depth != 2) return -1;
    const jv_t *n = j->d->nodes;
    if (n[stack[0]].type != JV_OBJ || n[stack[1]].type != JV_OBJ || !is_key(&n[stack[1] - 1], "model")) return -1;
    if (!j->model) j->model = stack[1];
    if (j->model != stack[1]) return -1;
    const jv_t *key = &n[j->d->n - 1];
    int w = c == '{' && is_key(key, "vocab") ? 0 : c == '[' && is_key(key, "merges") ? 1 : -1;
    if (w < 0 || j->seen[w]) return -1;
    j->seen[w] = true;
    return w;
}

#define MAXDEPTH 128
/* Iterative: stack[] holds each open container's node (SIZE_MAX inside a raw table, which
 * makes no nodes), cnt[] the keys and values it has so far. */
static int parse(jp_t *j) {
    size_t stack[MAXDEPTH];
    uint32_t cnt[MAXDEPTH];
    bool obj[MAXDEPTH];
    int depth = 0;
    bool need_value = true;
    for (;;) {
        ws(j);
        if (j->p >= j->end) {
            j->msg = "unexpected end of input";
            return -1;
        }
        if (need_value) {
            char c = *j->p;
            if (c == '{' || c == '[') {
                if (depth == MAXDEPTH) {
                    j->msg = "nesting too deep";
                    return -1;
                }
                if (j->skip) stack[depth] = SIZE_MAX;
                else {
                    int raw = raw_table(j, stack, depth, c);
                    jv_t *v = node(j, c == '{' ? JV_OBJ : JV_ARR);
                    if (!v) return -1;
                    stack[depth] = j->d->n - 1;
                    if (raw >= 0) {
                        j->skip = depth + 1;
                        v->flags = JV_F_RAW;
                        v->u.s = j->p;
                    }
                }
                obj[depth] = c == '{';
                cnt[depth] = 0;
                depth++;
                j->p++;
                ws(j);
                if (j->p < j->end && *j->p == (c == '{' ? '}' : ']')) {
                    j->p++;
                    depth--;
                    goto closed;
                }
                if (c == '{' && (j->p >= j->end || *j->p != '"')) {
                    j->msg = "expected a key";
                    return -1;
                }
                continue;
            }
            if (j->skip) {
                if (c == '"') {
                    j->p++;
                    if (str_skip(j)) return -1;
                } else if (c == '-' || (c >= '0' && c <= '9')) {
                    if (num(j, NULL)) return -1;
                } else if (c == 't') {
                    if (lit(j, "true", JV_TRUE)) return -1;
                } else if (c == 'f') {
                    if (lit(j, "false", JV_FALSE)) return -1;
                } else if (c == 'n') {
                    if (lit(j, "null", JV_NULL)) return -1;
                } else {
                    j->msg = "unexpected character";
                    return -1;
                }
                goto completed;
            }
            jv_t *v;
            if (c == '"') {
                if (!(v = node(j, JV_STR))) return -1;
                j->p++;
                if (str(j, v)) return -1;
            } else if (c == '-' || (c >= '0' && c <= '9')) {
                if (!(v = node(j, JV_NUM)) || num(j, v)) return -1;
            } else if (c == 't') {
                if (lit(j, "true", JV_TRUE)) return -1;
            } else if (c == 'f') {
                if (lit(j, "false", JV_FALSE)) return -1;
            } else if (c == 'n') {
                if (lit(j, "null", JV_NULL)) return -1;
            } else {
                j->msg = "unexpected character";
                return -1;
            }
        }
        goto completed;
    closed: /* the container at level depth just closed */
        if (stack[depth] != SIZE_MAX) {
            jv_t *top = &j->d->nodes[stack[depth]];
            top->n = obj[depth] ? cnt[depth] / 2 : cnt[depth];
            if (j->skip == depth + 1) { /* a raw table: no children; its text in u.s, off */
                j->skip = 0;
                top->off = (uint32_t)(j->p - top->u.s);
            } else top->span = (uint32_t)(j->d->n - stack[depth]);
        }
    completed: /* a value (or an object key) just ended inside level depth - 1 */
        need_value = false;
        if (!depth) return 0;
        cnt[depth - 1]++;
        ws(j);
        if (j->p >= j->end) {
            j->msg = "unexpected end of input";
            return -1;
        }
        {
            bool o = obj[depth - 1];
            char c = *j->p++;
            if (o && (cnt[depth - 1] & 1)) {
                if (c != ':') {
                    j->msg = "expected ':'";
                    return -1;
                }
                need_value = true;
                continue;
            }
            if (c == ',') {
                ws(j);
                if (o && (j->p >= j->end || *j->p != '"')) {
                    j->msg = "expected a key";
                    return -1;
                }
                need_value = true;
                continue;
            }
            if (c != (o ? '}' : ']')) {
                j->msg = "expected ',' or a closing bracket";
                return -1;
            }
            depth--;
            goto closed;
        }
    }
}

const jv_t *jdoc_parse_opts(jdoc_t *d, char *buf, size_t len, unsigned opts, int *line, int *col, const char **msg) {
    memset(d, 0, sizeof *d);
    d->base = buf;
    jp_t j = {.p = buf, .end = buf + len, .base = buf, .d = d, .opts = opts, .line = 1, .lstart = buf};
    /* tokenizer.json: ~1 node per 17 bytes, but none for raw tables; more grow by doubling */
    d->cap = opts & JD_RAW_TABLES ? 4096 : len / 16 + 64;
    if (!(d->nodes = tok_big_alloc(d->cap * sizeof *d->nodes, 0))) d->cap = 0;
    if (len > UINT32_MAX) {
        *line = *col = 1;
        *msg = "larger than 4 GB";
        return NULL;
    }
    size_t valid = utf8_valid_prefix((const uint8_t *)buf, len);
    if (valid < len) { /* nothing decoded yet: count in the text */
        j.p = buf + valid;
        j.msg = "invalid UTF-8";
        for (char *p = buf; p < j.p; p++)
            if (*p == '\n') {
                j.line++;
                j.lstart = p + 1;
            }
    } else if (parse(&j) == 0) {
        ws(&j);
        if (j.p == j.end) return d->nodes;
        j.msg = "trailing characters";
    }
    /* the position in the original text (strings before it are decoded in place by now, and a
     * decoded \n must not count as a line) */
    *line = j.line;
    *col = (int)(j.p - j.lstart) + 1;
    *msg = j.msg;
    jdoc_free(d);
    return NULL;
}

const jv_t *jdoc_parse(jdoc_t *d, char *buf, size_t len, int *line, int *col, const char **msg) {
    return jdoc_parse_opts(d, buf, len, 0, line, col, msg);
}

void jdoc_free(jdoc_t *d) {
    free(d->nodes);
    memset(d, 0, sizeof *d);
}

const jv_t *jv_get(const jv_t *o, const char *key) {
    if (!o || o->type != JV_OBJ || (o->flags & JV_F_RAW)) return NULL;
    size_t kl = strlen(key);
    const jv_t *k = o + 1;
    for (uint32_t i = 0; i < o->n; i++) {
        const jv_t *v = k + 1;
        if (k->n == kl && !memcmp(k->u.s, key, kl)) return v;
        k = v + v->span;
    }
    return NULL;
}

const jv_t *jv_at(const jv_t *a, size_t i) {
    if (!a || a->type != JV_ARR || (a->flags & JV_F_RAW) || i >= a->n) return NULL;
    const jv_t *x = a + 1;
    while (i--) x += x->span;
    return x;
}

bool jv_is_int(const jv_t *x) { return x && x->type == JV_NUM && (x->flags & JV_F_INT) && x->u.num == floor(x->u.num); }

/* ---- writing ---- */
typedef struct {
    char *p;
    size_t n, cap;
    bool oom;
} jbuf_t;
static void put(jbuf_t *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap * 2 : 4096;
        while (c < b->n + n + 1) c *= 2;
        char *x = realloc(b->p, c);
        if (!x) {
            b->oom = true;
            return;
        }
        b->p = x;
        b->cap = c;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void put_str(jbuf_t *b, const char *s, size_t n) {
    put(b, "\"", 1);
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        put(b, s + from, i - from);
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(b, esc, 2);
        } else {
            static const char hx[] = "0123456789abcdef";
            memcpy(esc, "\\u00", 4);
            esc[4] = hx[c >> 4];
            esc[5] = hx[c & 15];
            put(b, esc, 6);
        }
        from = i + 1;
    }
    put(b, s + from, n - from);
    put(b, "\"", 1);
}
static void dump(jbuf_t *b, const jdoc_t *d, const jv_t *v, const jv_t *const *empty, int nempty) {
    bool raw = v->flags & JV_F_RAW; /* its members are not in the document */
    for (int i = 0; i < nempty && !raw; i++) raw = v == empty[i];
    if (raw) {
        put(b, v->type == JV_OBJ ? "{}" : "[]", 2);
        return;
    }
    switch (v->type) {
    case JV_NULL: put(b, "null", 4); break;
    case JV_TRUE: put(b, "true", 4); break;
    case JV_FALSE: put(b, "false", 5); break;
    case JV_NUM: put(b, d->base + v->off, v->n); break;
    case JV_STR: put_str(b, v->u.s, v->n); break;
    default: {
        bool obj = v->type == JV_OBJ;
        put(b, obj ? "{" : "[", 1);
        const jv_t *c = v + 1;
        for (uint32_t i = 0; i < v->n; i++) {
            if (i) put(b, ",", 1);
            if (obj) {
                put_str(b, c->u.s, c->n);
                put(b, ":", 1);
                c++;
            }
            dump(b, d, c, empty, nempty);
            c += c->span;
        }
        put(b, obj ? "}" : "]", 1);
    }
    }
}
char *jv_dump(const jdoc_t *d, const jv_t *v, const jv_t *const *empty, int nempty, size_t *len) {
    jbuf_t b = {0};
    dump(&b, d, v, empty, nempty);
    put(&b, "", 0);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.n;
    return b.p;
}
