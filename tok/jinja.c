/* jinja.c — a Jinja-subset interpreter for chat templates (see jinja.h).
 *
 * Three stages: preprocess (jinja2's trim_blocks / lstrip_blocks, as @huggingface/jinja does
 * them), lexing + recursive-descent parsing into an AST kept in the template's arena, and a
 * tree-walking renderer whose values all live in a per-render arena (freed in one go, so an
 * error can longjmp out from any depth without leaking). Untrusted strings carry a per-byte
 * taint mask through concatenation, slicing and the string methods.
 */
#include "jinja.h"
#include "unicode.h"
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 200          /* parser / evaluator nesting */
#define MAX_OUT (64u << 20)    /* rendered text */
#define MAX_ARENA (512u << 20) /* one render's values (and a template's parse) */
#define MAX_STEPS 50000000ull  /* loop iterations + nodes evaluated */
/* A render's budgets grow with the size of its variables (the messages: render_weight) up to
 * the MAX_ caps above: a base that every real template's render of a small conversation fits
 * many times over, plus a share per byte, so the work a request can cause is proportional to
 * its size (a 10 KB conversation: 1.6M steps, 16 MiB of text, 64 MiB of values, ~0.2 s at
 * most, where the fixed caps allowed seconds and 512 MiB). */
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define BASE_STEPS 1000000ull
#define BASE_OUT (16u << 20)
#define BASE_ARENA (64u << 20)
#else
/* fuzz builds (libFuzzer's convention, Makefile FUZZ_CFLAGS): a tenth of the bases, so an input
 * that loops to the budget costs milliseconds, not a second, and the fuzzer spends its time on
 * the interpreter's logic; the limit checks themselves are the same code either way */
#define BASE_STEPS 100000ull
#define BASE_OUT (1u << 20)
#define BASE_ARENA (8u << 20)
#endif
#define STEPS_PER_BYTE 64
#define OUT_PER_BYTE 8
#define ARENA_PER_BYTE 32

/* ---- arena ---- */
typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    max_align_t data[];
} chunk_t;
typedef struct {
    chunk_t *head;
    size_t total;
    size_t limit; /* bytes it may hold; 0: MAX_ARENA */
    bool over;    /* an allocation failed for the limit (not for malloc) */
} arena_t;

static void *arena_try(arena_t *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (!a->head || a->head->cap - a->head->used < n) {
        size_t cap = n > (1u << 16) ? n : (1u << 16);
        if (a->total + cap > (a->limit ? a->limit : MAX_ARENA)) {
            a->over = true;
            return NULL;
        }
        chunk_t *c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->next = a->head;
        c->used = 0;
        c->cap = cap;
        a->head = c;
        a->total += cap;
    }
    void *p = (char *)a->head->data + a->head->used;
    a->head->used += n;
    return p;
}
static void arena_free(arena_t *a) {
    for (chunk_t *c = a->head, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    a->head = NULL;
    a->total = 0;
}

/* ---- values ---- */
enum { V_UNDEF, V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_LIST, V_DICT, V_NS, V_METHOD, V_FUNC, V_LOOP_CYCLE };
typedef struct val val_t;
typedef struct {
    const char *p;
    size_t n;
    const uint8_t *tm;
} jstr_t; /* tm: taint per byte, NULL = none */
typedef struct {
    val_t *v;
    size_t n;
    bool tuple;
} jlist_t;
typedef struct {
    jstr_t *k;
    val_t *v;
    size_t n, cap;
} jdict_t;
struct val {
    uint8_t t;
    union {
        bool b;
        long long i;
        double f;
        jstr_t s;
        jlist_t *l;
        jdict_t *d;
        struct method *m;
        const char *fn;
    };
};
typedef struct method {
    val_t self;
    const char *name;
} method_t;

/* ---- AST ---- */
enum {
    N_BLOCK,
    N_TEXT,
    N_OUT,
    N_IF,
    N_FOR,
    N_SET,
    N_BREAK,
    N_CONTINUE,
    N_LIT,
    N_NAME,
    N_LIST,
    N_TUPLE,
    N_DICT,
    N_ATTR,
    N_INDEX,
    N_SLICE,
    N_CALL,
    N_FILTER,
    N_TEST,
    N_NOT,
    N_NEG,
    N_BIN,
    N_AND,
    N_OR,
    N_COND,
};
typedef struct node node_t;
struct node {
    int k, line;
    node_t *a, *b, *c, *d;
    node_t **kids;
    int nk, capk;
    const char **kw; /* call keyword names parallel to kids (NULL: positional) */
    const char *s;
    size_t sn;      /* text, names, operators */
    const char *s2; /* for: second target name; set: attribute */
    bool neg;       /* is not */
    val_t lit;
};

struct jinja_tpl {
    arena_t ar;
    node_t *root;
};

/* ---- lexer ---- */
enum { T_EOF, T_TEXT, T_OSTMT, T_CSTMT, T_OEXPR, T_CEXPR, T_NAME, T_STR, T_INT, T_FLOAT, T_OP };
typedef struct {
    int t, line;
    const char *p;
    size_t n;
    long long i;
    double f;
} tok_t;

typedef struct {
    arena_t *ar;
    tok_t *v;
    size_t n, cap, pos;
    lerr_t *e;
    jmp_buf jb;
    int depth;
} parser_t;

static _Noreturn void perr(parser_t *P, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static _Noreturn void perr(parser_t *P, int line, const char *fmt, ...) {
    char m[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    lerr_set(P->e, EXIT_DATA, "chat template: line %d: %s", line, m);
    longjmp(P->jb, 1);
}
static void *palloc(parser_t *P, size_t n) {
    void *p = arena_try(P->ar, n);
    if (!p) {
        lerr_set(P->e, EXIT_INTERNAL, "out of memory");
        longjmp(P->jb, 1);
    }
    memset(p, 0, n);
    return p;
}
static void push_tok(parser_t *P, tok_t t) {
    if (P->n == P->cap) {
        size_t cap = P->cap ? P->cap * 2 : 256;
        tok_t *v = realloc(P->v, cap * sizeof *v);
        if (!v) {
            lerr_set(P->e, EXIT_INTERNAL, "out of memory");
            longjmp(P->jb, 1);
        }
        P->v = v;
        P->cap = cap;
    }
    P->v[P->n++] = t;
}

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
static bool is_word(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* trim_blocks / lstrip_blocks exactly as @huggingface/jinja's preprocess: drop one trailing
 * newline; spaces/tabs at a line start before "{%", "{#" or "{-"; the newline right after
 * "%}", "#}" or "-}". */
static char *preprocess(parser_t *P, const char *s, size_t n, size_t *out_n) {
    if (n && s[n - 1] == '\n') n--;
    char *a = palloc(P, n + 1), *b = palloc(P, n + 1);
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        if (i == 0 || s[i - 1] == '\n') {
            size_t j = i;
            while (j < n && (s[j] == ' ' || s[j] == '\t')) j++;
            if (j > i && j + 1 < n && s[j] == '{' && (s[j + 1] == '#' || s[j + 1] == '%' || s[j + 1] == '-')) i = j;
        }
        a[m++] = s[i++];
    }
    size_t k = 0;
    for (size_t i = 0; i < m; i++) {
        b[k++] = a[i];
        if (a[i] == '}' && i > 0 && (a[i - 1] == '#' || a[i - 1] == '%' || a[i - 1] == '-') && i + 1 < m &&
            a[i + 1] == '\n')
            i++;
    }
    *out_n = k;
    return b;
}

/* A character for an error message: itself when printable ASCII, else \xHH. */
static const char *showc(char c, char buf[8]) {
    if (c > 0x20 && c < 0x7f) {
        buf[0] = c;
        buf[1] = 0;
    } else snprintf(buf, 8, "\\x%02x", (unsigned char)c);
    return buf;
}

static int hexval(char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

static size_t put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 63));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 63));
        o[2] = (char)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 63));
    o[2] = (char)(0x80 | (cp >> 6 & 63));
    o[3] = (char)(0x80 | (cp & 63));
    return 4;
}

static void lex(parser_t *P, const char *src, size_t n) {
    size_t i = 0;
    int line = 1, curly = 0;
    bool in_tag = false;
    int close_kind = 0;
    while (i < n) {
        if (!in_tag) {
            size_t j = i;
            while (j < n &&
                   !(src[j] == '{' && j + 1 < n && (src[j + 1] == '%' || src[j + 1] == '{' || src[j + 1] == '#')))
                j++;
            if (j > i) {
                push_tok(P, (tok_t){T_TEXT, line, src + i, j - i, 0, 0});
                for (size_t q = i; q < j; q++) line += src[q] == '\n';
                i = j;
                continue;
            }
            bool strip = i + 2 < n && src[i + 2] == '-';
            if (strip && P->n && P->v[P->n - 1].t == T_TEXT) { /* {%- {{- {#-: trim the text before */
                tok_t *t = &P->v[P->n - 1];
                while (t->n && is_ws(t->p[t->n - 1])) t->n--;
                if (!t->n) P->n--;
            }
            if (src[i + 1] == '#') {
                size_t j2 = i + 2;
                while (j2 + 1 < n && !(src[j2] == '#' && src[j2 + 1] == '}')) {
                    line += src[j2] == '\n';
                    j2++;
                }
                if (j2 + 1 >= n) perr(P, line, "a comment is not closed with #}");
                bool rs = src[j2 - 1] == '-' && j2 - 1 >= i + 2 + strip;
                i = j2 + 2;
                if (rs)
                    while (i < n && is_ws(src[i])) {
                        line += src[i] == '\n';
                        i++;
                    }
                continue;
            }
            close_kind = src[i + 1] == '%' ? T_CSTMT : T_CEXPR;
            push_tok(P, (tok_t){src[i + 1] == '%' ? T_OSTMT : T_OEXPR, line, src + i, 2, 0, 0});
            i += 2 + strip;
            in_tag = true;
            curly = 0;
            continue;
        }
        char c = src[i];
        if (is_ws(c)) {
            line += c == '\n';
            i++;
            continue;
        }
        /* closing -%} -}} %} }} */
        if (c == '-' && i + 2 < n && src[i + 2] == '}' && (src[i + 1] == '%' || src[i + 1] == '}')) {
            if ((src[i + 1] == '%') != (close_kind == T_CSTMT))
                perr(P, line, "'-%c}' closes a tag opened differently", src[i + 1]);
            push_tok(P, (tok_t){close_kind, line, src + i, 3, 0, 0});
            i += 3;
            while (i < n && is_ws(src[i])) {
                line += src[i] == '\n';
                i++;
            }
            in_tag = false;
            continue;
        }
        if (i + 1 < n && src[i + 1] == '}' && (c == '%' || (c == '}' && curly == 0))) {
            if ((c == '%') != (close_kind == T_CSTMT)) perr(P, line, "'%c}' closes a tag opened differently", c);
            push_tok(P, (tok_t){close_kind, line, src + i, 2, 0, 0});
            i += 2;
            in_tag = false;
            continue;
        }
        if (c == '\'' || c == '"') {
            size_t j = i + 1;
            char *o = palloc(P, n - i + 1);
            size_t m = 0;
            while (j < n && src[j] != c) {
                if (src[j] == '\\') {
                    if (++j >= n) break;
                    char x = src[j++];
                    switch (x) {
                    case 'n': o[m++] = '\n'; break;
                    case 't': o[m++] = '\t'; break;
                    case 'r': o[m++] = '\r'; break;
                    case 'b': o[m++] = '\b'; break;
                    case 'f': o[m++] = '\f'; break;
                    case 'v': o[m++] = '\v'; break;
                    case '0': o[m++] = '\0'; break;
                    case '\\':
                    case '\'':
                    case '"': o[m++] = x; break;
                    case 'x':
                    case 'u': {
                        int len = x == 'x' ? 2 : 4;
                        uint32_t cp = 0;
                        for (int q = 0; q < len; q++) {
                            int h = j < n ? hexval(src[j]) : -1;
                            if (h < 0) perr(P, line, "bad \\%c escape in a string literal", x);
                            cp = cp * 16 + (uint32_t)h;
                            j++;
                        }
                        m += put_utf8(o + m, cp);
                        break;
                    }
                    default: {
                        char b[8];
                        perr(P, line, "unsupported escape '\\%s' in a string literal", showc(x, b));
                    }
                    }
                    continue;
                }
                line += src[j] == '\n';
                o[m++] = src[j++];
            }
            if (j >= n) perr(P, line, "a string literal is not closed");
            push_tok(P, (tok_t){T_STR, line, o, m, 0, 0});
            i = j + 1;
            continue;
        }
        if (is_digit(c)) {
            size_t j = i;
            while (j < n && is_digit(src[j])) j++;
            bool fl = j + 1 < n && src[j] == '.' && is_digit(src[j + 1]) &&
                      !(P->n && P->v[P->n - 1].t == T_OP && P->v[P->n - 1].p[0] == '.');
            if (fl) {
                j++;
                while (j < n && is_digit(src[j])) j++;
            }
            char buf[64];
            size_t len = j - i < 63 ? j - i : 63;
            memcpy(buf, src + i, len);
            buf[len] = 0;
            tok_t t = {fl ? T_FLOAT : T_INT, line, src + i, j - i, 0, 0};
            if (fl) t.f = strtod(buf, NULL);
            else {
                if (j - i > 18) perr(P, line, "integer literal too large");
                t.i = strtoll(buf, NULL, 10);
            }
            push_tok(P, t);
            i = j;
            continue;
        }
        if (is_word(c)) {
            size_t j = i;
            while (j < n && is_word(src[j])) j++;
            push_tok(P, (tok_t){T_NAME, line, src + i, j - i, 0, 0});
            i = j;
            continue;
        }
        static const char *const ops[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "|",
                                          ".",  ",",  ":",  "(",  ")",  "[",  "]", "{", "}", "=", "<", ">"};
        size_t k;
        for (k = 0; k < sizeof ops / sizeof *ops; k++) {
            size_t l = strlen(ops[k]);
            if (i + l <= n && !memcmp(src + i, ops[k], l)) break;
        }
        if (k == sizeof ops / sizeof *ops) {
            char b[8];
            perr(P, line, "unexpected character '%s'", showc(c, b));
        }
        size_t l = strlen(ops[k]);
        if (c == '{') curly++;
        if (c == '}') curly--;
        push_tok(P, (tok_t){T_OP, line, src + i, l, 0, 0});
        i += l;
    }
    if (in_tag) perr(P, line, "a %s is not closed", close_kind == T_CSTMT ? "{% tag" : "{{ expression");
    push_tok(P, (tok_t){T_EOF, line, "", 0, 0, 0});
}

/* ---- parser ---- */
static tok_t *peek(parser_t *P) { return &P->v[P->pos]; }
static tok_t *next(parser_t *P) {
    tok_t *t = &P->v[P->pos];
    if (t->t != T_EOF) P->pos++;
    return t;
}
static bool is_op(tok_t *t, const char *op) { return t->t == T_OP && t->n == strlen(op) && !memcmp(t->p, op, t->n); }
static bool is_kw(tok_t *t, const char *w) { return t->t == T_NAME && t->n == strlen(w) && !memcmp(t->p, w, t->n); }
static bool accept_op(parser_t *P, const char *op) {
    if (is_op(peek(P), op)) {
        P->pos++;
        return true;
    }
    return false;
}
static bool accept_kw(parser_t *P, const char *w) {
    if (is_kw(peek(P), w)) {
        P->pos++;
        return true;
    }
    return false;
}
static const char *tokdesc(tok_t *t) {
    switch (t->t) {
    case T_EOF: return "the end of the template";
    case T_CSTMT: return "'%}'";
    case T_CEXPR: return "'}}'";
    case T_STR: return "a string";
    case T_INT:
    case T_FLOAT: return "a number";
    case T_TEXT: return "text";
    default: return NULL;
    }
}
static _Noreturn void unexpected(parser_t *P, const char *want) {
    tok_t *t = peek(P);
    const char *d = tokdesc(t);
    if (d) perr(P, t->line, "expected %s, found %s", want, d);
    perr(P, t->line, "expected %s, found '%.*s'", want, (int)(t->n > 40 ? 40 : t->n), t->p);
}
static void expect_op(parser_t *P, const char *op) {
    if (!accept_op(P, op)) {
        char w[16];
        snprintf(w, sizeof w, "'%s'", op);
        unexpected(P, w);
    }
}
static const char *name_dup(parser_t *P, tok_t *t) {
    char *s = palloc(P, t->n + 1);
    memcpy(s, t->p, t->n);
    return s;
}
static const char *expect_name(parser_t *P) {
    if (peek(P)->t != T_NAME) unexpected(P, "a name");
    return name_dup(P, next(P));
}
static node_t *mk(parser_t *P, int k, int line) {
    node_t *x = palloc(P, sizeof *x);
    x->k = k;
    x->line = line;
    return x;
}
static void add_kid(parser_t *P, node_t *x, node_t *kid, const char *kw) {
    if (x->nk == x->capk) {
        int cap = x->capk ? x->capk * 2 : 4;
        node_t **v = palloc(P, (size_t)cap * sizeof *v);
        const char **w = palloc(P, (size_t)cap * sizeof *w);
        if (x->nk) {
            memcpy(v, x->kids, (size_t)x->nk * sizeof *v);
            memcpy(w, x->kw, (size_t)x->nk * sizeof *w);
        }
        x->kids = v;
        x->kw = w;
        x->capk = cap;
    }
    x->kw[x->nk] = kw;
    x->kids[x->nk++] = kid;
}

static node_t *p_expr(parser_t *P);
static node_t *p_unary(parser_t *P);

static void enter(parser_t *P) {
    if (++P->depth > MAX_DEPTH) perr(P, peek(P)->line, "nesting deeper than %d", MAX_DEPTH);
}

/* arguments after '(' up to ')': positional then keyword (name=expr) */
static void p_args(parser_t *P, node_t *call) {
    while (!accept_op(P, ")")) {
        const char *kw = NULL;
        if (peek(P)->t == T_NAME && is_op(&P->v[P->pos + 1], "=")) {
            kw = expect_name(P);
            P->pos++;
        }
        add_kid(P, call, p_expr(P), kw);
        if (!accept_op(P, ",")) {
            expect_op(P, ")");
            break;
        }
    }
}

static node_t *p_primary(parser_t *P) {
    tok_t *t = peek(P);
    node_t *x;
    if (t->t == T_STR) {
        next(P);
        x = mk(P, N_LIT, t->line);
        x->lit.t = V_STR;
        x->lit.s = (jstr_t){t->p, t->n, NULL};
        while (peek(P)->t == T_STR) { /* adjacent literals concatenate */
            tok_t *u = next(P);
            char *c = palloc(P, x->lit.s.n + u->n + 1);
            memcpy(c, x->lit.s.p, x->lit.s.n);
            memcpy(c + x->lit.s.n, u->p, u->n);
            x->lit.s = (jstr_t){c, x->lit.s.n + u->n, NULL};
        }
        return x;
    }
    if (t->t == T_INT || t->t == T_FLOAT) {
        next(P);
        x = mk(P, N_LIT, t->line);
        if (t->t == T_INT) {
            x->lit.t = V_INT;
            x->lit.i = t->i;
        } else {
            x->lit.t = V_FLOAT;
            x->lit.f = t->f;
        }
        return x;
    }
    if (t->t == T_NAME) {
        next(P);
        x = mk(P, N_LIT, t->line);
        if (is_kw(t, "true") || is_kw(t, "True")) {
            x->lit.t = V_BOOL;
            x->lit.b = true;
            return x;
        }
        if (is_kw(t, "false") || is_kw(t, "False")) {
            x->lit.t = V_BOOL;
            x->lit.b = false;
            return x;
        }
        if (is_kw(t, "none") || is_kw(t, "None")) {
            x->lit.t = V_NONE;
            return x;
        }
        x->k = N_NAME;
        x->s = name_dup(P, t);
        x->sn = t->n;
        return x;
    }
    if (accept_op(P, "(")) {
        if (accept_op(P, ")")) return mk(P, N_TUPLE, t->line);
        node_t *e = p_expr(P);
        if (accept_op(P, ")")) return e;
        x = mk(P, N_TUPLE, t->line);
        add_kid(P, x, e, NULL);
        while (accept_op(P, ",")) {
            if (is_op(peek(P), ")")) break;
            add_kid(P, x, p_expr(P), NULL);
        }
        expect_op(P, ")");
        return x;
    }
    if (accept_op(P, "[")) {
        x = mk(P, N_LIST, t->line);
        while (!accept_op(P, "]")) {
            add_kid(P, x, p_expr(P), NULL);
            if (!accept_op(P, ",")) {
                expect_op(P, "]");
                break;
            }
        }
        return x;
    }
    if (accept_op(P, "{")) {
        x = mk(P, N_DICT, t->line);
        while (!accept_op(P, "}")) {
            add_kid(P, x, p_expr(P), NULL);
            expect_op(P, ":");
            add_kid(P, x, p_expr(P), NULL);
            if (!accept_op(P, ",")) {
                expect_op(P, "}");
                break;
            }
        }
        return x;
    }
    unexpected(P, "an expression");
}

static node_t *p_postfix(parser_t *P, node_t *x) {
    for (;;) {
        tok_t *t = peek(P);
        if (accept_op(P, ".")) {
            node_t *y = mk(P, N_ATTR, t->line);
            y->a = x;
            if (peek(P)->t == T_INT) {
                tok_t *u = next(P);
                y->k = N_INDEX;
                y->b = mk(P, N_LIT, u->line);
                y->b->lit.t = V_INT;
                y->b->lit.i = u->i;
            } else y->s = expect_name(P);
            x = y;
        } else if (accept_op(P, "[")) {
            node_t *parts[3] = {0};
            int np = 0;
            bool slice = false;
            for (;;) {
                if (!is_op(peek(P), ":") && !is_op(peek(P), "]")) parts[np] = p_expr(P);
                if (accept_op(P, ":")) {
                    slice = true;
                    if (++np > 2) perr(P, t->line, "too many ':' in a slice");
                    continue;
                }
                break;
            }
            expect_op(P, "]");
            node_t *y = mk(P, slice ? N_SLICE : N_INDEX, t->line);
            y->a = x;
            if (slice) {
                y->b = parts[0];
                y->c = parts[1];
                y->d = parts[2];
            } else {
                if (!parts[0]) perr(P, t->line, "empty subscript");
                y->b = parts[0];
            }
            x = y;
        } else if (accept_op(P, "(")) {
            node_t *y = mk(P, N_CALL, t->line);
            y->a = x;
            p_args(P, y);
            x = y;
        } else return x;
    }
}

static node_t *p_filters(parser_t *P, node_t *x) {
    for (;;) {
        tok_t *t = peek(P);
        if (accept_op(P, "|")) {
            node_t *y = mk(P, N_FILTER, t->line);
            y->a = x;
            y->s = expect_name(P);
            if (accept_op(P, "(")) p_args(P, y);
            x = y;
        } else if (accept_kw(P, "is")) {
            node_t *y = mk(P, N_TEST, t->line);
            y->a = x;
            y->neg = accept_kw(P, "not");
            if (accept_kw(P, "none")) y->s = "none";
            else if (accept_kw(P, "true")) y->s = "true";
            else if (accept_kw(P, "false")) y->s = "false";
            else y->s = expect_name(P);
            if (accept_op(P, "(")) p_args(P, y);
            else if (peek(P)->t == T_STR || peek(P)->t == T_INT || peek(P)->t == T_FLOAT)
                add_kid(P, y, p_primary(P), NULL); /* `is eq 3`, `is sameas "x"` */
            x = y;
        } else return x;
    }
}

static node_t *p_unary(parser_t *P) {
    tok_t *t = peek(P);
    enter(P);
    node_t *x;
    if (accept_op(P, "-")) {
        x = mk(P, N_NEG, t->line);
        x->a = p_unary(P);
    } else if (accept_op(P, "+")) x = p_unary(P);
    else x = p_filters(P, p_postfix(P, p_primary(P)));
    P->depth--;
    return x;
}
static node_t *bin(parser_t *P, int line, const char *op, node_t *a, node_t *b) {
    node_t *x = mk(P, N_BIN, line);
    x->s = op;
    x->a = a;
    x->b = b;
    return x;
}
static node_t *p_pow(parser_t *P) {
    node_t *x = p_unary(P);
    while (is_op(peek(P), "**")) {
        int l = next(P)->line;
        x = bin(P, l, "**", x, p_unary(P));
    }
    return x;
}
static node_t *p_mul(parser_t *P) {
    node_t *x = p_pow(P);
    for (;;) {
        tok_t *t = peek(P);
        const char *op = is_op(t, "*") ? "*" : is_op(t, "/") ? "/" : is_op(t, "//") ? "//" : is_op(t, "%") ? "%" : NULL;
        if (!op) return x;
        next(P);
        x = bin(P, t->line, op, x, p_pow(P));
    }
}
static node_t *p_concat(parser_t *P) {
    node_t *x = p_mul(P);
    while (is_op(peek(P), "~")) {
        int l = next(P)->line;
        x = bin(P, l, "~", x, p_mul(P));
    }
    return x;
}
static node_t *p_add(parser_t *P) {
    node_t *x = p_concat(P);
    for (;;) {
        tok_t *t = peek(P);
        const char *op = is_op(t, "+") ? "+" : is_op(t, "-") ? "-" : NULL;
        if (!op) return x;
        next(P);
        x = bin(P, t->line, op, x, p_concat(P));
    }
}
static node_t *p_compare(parser_t *P) {
    node_t *x = p_add(P);
    for (;;) {
        tok_t *t = peek(P);
        const char *op = NULL;
        static const char *const cmp[] = {"==", "!=", "<=", ">=", "<", ">"};
        for (int k = 0; k < 6 && !op; k++)
            if (is_op(t, cmp[k])) op = cmp[k];
        if (op) next(P);
        else if (accept_kw(P, "in")) op = "in";
        else if (is_kw(t, "not") && is_kw(&P->v[P->pos + 1], "in")) {
            P->pos += 2;
            op = "not in";
        } else return x;
        x = bin(P, t->line, op, x, p_add(P));
    }
}
static node_t *p_not(parser_t *P) {
    tok_t *t = peek(P);
    if (accept_kw(P, "not")) {
        enter(P);
        node_t *x = mk(P, N_NOT, t->line);
        x->a = p_not(P);
        P->depth--;
        return x;
    }
    return p_compare(P);
}
static node_t *p_and(parser_t *P) {
    node_t *x = p_not(P);
    while (is_kw(peek(P), "and")) {
        int l = next(P)->line;
        node_t *y = mk(P, N_AND, l);
        y->a = x;
        y->b = p_not(P);
        x = y;
    }
    return x;
}
static node_t *p_or(parser_t *P) {
    node_t *x = p_and(P);
    while (is_kw(peek(P), "or")) {
        int l = next(P)->line;
        node_t *y = mk(P, N_OR, l);
        y->a = x;
        y->b = p_and(P);
        x = y;
    }
    return x;
}
static node_t *p_expr(parser_t *P) {
    enter(P);
    node_t *x = p_or(P);
    while (is_kw(peek(P), "if")) {
        int l = next(P)->line;
        node_t *y = mk(P, N_COND, l);
        y->a = x;
        y->b = p_or(P);
        if (accept_kw(P, "else")) y->c = p_or(P);
        x = y;
    }
    P->depth--;
    return x;
}

static void expect_close(parser_t *P) {
    if (peek(P)->t != T_CSTMT) unexpected(P, "'%}'");
    next(P);
}

/* Statements up to one of the `ends` keywords (NULL-terminated) at a {% tag; returns which. */
static node_t *p_body(parser_t *P, const char *const *ends, int *which);

static node_t *p_if(parser_t *P, int line) {
    node_t *x = mk(P, N_IF, line);
    x->a = p_expr(P);
    expect_close(P);
    static const char *const ends[] = {"elif", "else", "endif", NULL};
    int w;
    x->b = p_body(P, ends, &w);
    if (w == 0) {
        int l = P->v[P->pos - 1].line;
        x->c = mk(P, N_BLOCK, l);
        add_kid(P, x->c, p_if(P, l), NULL);
        return x;
    }
    if (w == 1) {
        expect_close(P);
        static const char *const e2[] = {"endif", NULL};
        x->c = p_body(P, e2, &w);
    }
    expect_close(P);
    return x;
}

static node_t *p_body(parser_t *P, const char *const *ends, int *which) {
    enter(P);
    node_t *blk = mk(P, N_BLOCK, peek(P)->line);
    for (;;) {
        tok_t *t = next(P);
        if (t->t == T_EOF) {
            if (ends) {
                int k = 0;
                while (ends[k + 1]) k++;
                perr(P, t->line, "missing {%% %s %%}", ends[k]);
            }
            break;
        }
        if (t->t == T_TEXT) {
            node_t *x = mk(P, N_TEXT, t->line);
            x->s = t->p;
            x->sn = t->n;
            add_kid(P, blk, x, NULL);
            continue;
        }
        if (t->t == T_OEXPR) {
            node_t *x = mk(P, N_OUT, t->line);
            x->a = p_expr(P);
            if (peek(P)->t != T_CEXPR) unexpected(P, "'}}'");
            next(P);
            add_kid(P, blk, x, NULL);
            continue;
        }
        if (t->t != T_OSTMT) perr(P, t->line, "unexpected %s", tokdesc(t) ? tokdesc(t) : "token");
        tok_t *kw = peek(P);
        if (kw->t != T_NAME) unexpected(P, "a statement name");
        for (int k = 0; ends && ends[k]; k++)
            if (is_kw(kw, ends[k])) {
                next(P);
                *which = k;
                P->depth--;
                return blk;
            }
        next(P);
        if (is_kw(kw, "if")) add_kid(P, blk, p_if(P, kw->line), NULL);
        else if (is_kw(kw, "for")) {
            node_t *x = mk(P, N_FOR, kw->line);
            x->s = expect_name(P);
            if (accept_op(P, ",")) x->s2 = expect_name(P);
            if (is_op(peek(P), ",")) perr(P, kw->line, "unsupported: unpacking into more than two loop variables");
            if (!accept_kw(P, "in")) unexpected(P, "'in'");
            x->a = p_or(P); /* no conditional expression here: `if` filters the loop */
            if (accept_kw(P, "if")) x->d = p_or(P);
            if (accept_kw(P, "recursive")) perr(P, kw->line, "unsupported: recursive loops");
            expect_close(P);
            static const char *const ends[] = {"endfor", "else", NULL};
            int w;
            x->b = p_body(P, ends, &w);
            if (w == 1) {
                expect_close(P);
                static const char *const e2[] = {"endfor", NULL};
                x->c = p_body(P, e2, &w);
            }
            expect_close(P);
            add_kid(P, blk, x, NULL);
        } else if (is_kw(kw, "set")) {
            node_t *x = mk(P, N_SET, kw->line);
            x->s = expect_name(P);
            if (accept_op(P, ".")) x->s2 = expect_name(P);
            if (is_op(peek(P), ",")) perr(P, kw->line, "unsupported: {%% set %%} of several names");
            if (!accept_op(P, "=")) {
                if (peek(P)->t == T_CSTMT) perr(P, kw->line, "unsupported: block {%% set %%} ... {%% endset %%}");
                unexpected(P, "'='");
            }
            x->b = p_expr(P);
            expect_close(P);
            add_kid(P, blk, x, NULL);
        } else if (is_kw(kw, "break") || is_kw(kw, "continue")) {
            add_kid(P, blk, mk(P, is_kw(kw, "break") ? N_BREAK : N_CONTINUE, kw->line), NULL);
            expect_close(P);
        } else if (is_kw(kw, "generation") || is_kw(kw, "endgeneration")) {
            expect_close(P); /* transformers' assistant-mask markers: no output */
        } else if (ends && (is_kw(kw, "endif") || is_kw(kw, "endfor") || is_kw(kw, "else") || is_kw(kw, "elif"))) {
            perr(P, kw->line, "unexpected {%% %.*s %%}", (int)kw->n, kw->p);
        } else {
            perr(P, kw->line, "unsupported statement {%% %.*s %%}", (int)(kw->n > 30 ? 30 : kw->n), kw->p);
        }
    }
    P->depth--;
    return blk;
}

/* Well-formed UTF-8 (the string functions decode code points): 0, or the 1-based line of the
 * first bad byte. */
static int bad_utf8_line(const char *s, size_t n) {
    const uint8_t *u = (const uint8_t *)s;
    int line = 1;
    for (size_t i = 0; i < n;) {
        uint8_t c = u[i];
        if (c < 0x80) {
            line += c == '\n';
            i++;
            continue;
        }
        size_t len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (!len || i + len > n) return line;
        for (size_t k = 1; k < len; k++)
            if ((u[i + k] & 0xC0) != 0x80) return line;
        if ((c == 0xE0 && u[i + 1] < 0xA0) || (c == 0xF0 && u[i + 1] < 0x90) || (c == 0xF4 && u[i + 1] > 0x8F))
            return line;
        i += len;
    }
    return 0;
}

jinja_tpl_t *jinja_parse(const char *src, size_t n, lerr_t *e) {
    int bad = bad_utf8_line(src, n);
    if (bad) {
        lerr_set(e, EXIT_DATA, "chat template: line %d: not valid UTF-8", bad);
        return NULL;
    }
    jinja_tpl_t *t = calloc(1, sizeof *t);
    if (!t) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    parser_t P = {.ar = &t->ar, .e = e};
    if (setjmp(P.jb)) {
        free(P.v);
        jinja_free(&t);
        return NULL;
    }
    size_t m;
    const char *s = preprocess(&P, src, n, &m);
    lex(&P, s, m);
    t->root = p_body(&P, NULL, NULL);
    free(P.v);
    return t;
}

void jinja_free(jinja_tpl_t **t) {
    if (!t || !*t) return;
    arena_free(&(*t)->ar);
    free(*t);
    *t = NULL;
}

/* ---- renderer ---- */
typedef struct var {
    const char *k;
    size_t kn;
    val_t v;
    struct var *next;
} var_t;
typedef struct scope {
    var_t *vars;
    struct scope *up;
} scope_t;

typedef struct {
    arena_t ar;
    tok_str_t *out, *taint;
    lerr_t *e;
    jmp_buf jb;
    int depth;
    unsigned long long steps, max_steps; /* max_steps, max_out: this render's budgets */
    size_t max_out, out0; /* out0: the output's length before this render */
    int line;
    int brk; /* 1 break, 2 continue pending */
} rctx_t;

static _Noreturn void rerr(rctx_t *R, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static _Noreturn void rerr(rctx_t *R, const char *fmt, ...) {
    char m[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    lerr_set(R->e, EXIT_DATA, "chat template: line %d: %s", R->line, m);
    longjmp(R->jb, 1);
}
static void *ralloc(rctx_t *R, size_t n) {
    void *p = arena_try(&R->ar, n ? n : 1);
    if (!p) {
        if (R->ar.over) rerr(R, "the template needs more than %zu MiB for its values", R->ar.limit >> 20);
        lerr_set(R->e, EXIT_INTERNAL, "out of memory");
        longjmp(R->jb, 1);
    }
    return p;
}

static const char *tname(const val_t *v) {
    static const char *const n[] = {"undefined", "none", "boolean",   "integer", "float",    "string",
                                    "list",      "dict", "namespace", "method",  "function", "function"};
    if (v->t == V_LIST && v->l->tuple) return "tuple";
    return n[v->t];
}

static val_t mkstr(const char *p, size_t n, const uint8_t *tm) {
    val_t v = {.t = V_STR};
    v.s = (jstr_t){p, n, tm};
    return v;
}
static val_t mkint(long long i) {
    val_t v = {.t = V_INT};
    v.i = i;
    return v;
}
static val_t mkbool(bool b) {
    val_t v = {.t = V_BOOL};
    v.b = b;
    return v;
}
static val_t mkfloat(double f) {
    val_t v = {.t = V_FLOAT};
    v.f = f;
    return v;
}
static const val_t UNDEF = {.t = V_UNDEF};

/* string builder in the arena */
typedef struct {
    char *p;
    uint8_t *tm;
    size_t n, cap;
    bool tainted;
} sb_t;
static void sb_put(rctx_t *R, sb_t *b, const char *p, size_t n, const uint8_t *tm) {
    if (!n) {
        if (tm) b->tainted = true;
        return;
    } /* an empty piece (''.strip()) into an empty builder: no memcpy from / to NULL */
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->n + n) cap *= 2;
        char *q = ralloc(R, cap);
        uint8_t *t = ralloc(R, cap);
        if (b->n) {
            memcpy(q, b->p, b->n);
            memcpy(t, b->tm, b->n);
        }
        b->p = q;
        b->tm = t;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    if (tm) {
        memcpy(b->tm + b->n, tm, n);
        b->tainted = true;
    } else memset(b->tm + b->n, 0, n);
    b->n += n;
}
static void sb_c(rctx_t *R, sb_t *b, const char *s) { sb_put(R, b, s, strlen(s), NULL); }
static val_t sb_val(sb_t *b) { return mkstr(b->n ? b->p : "", b->n, b->tainted ? b->tm : NULL); }

/* ---- JSON input ---- */
static val_t from_json(rctx_t *R, json_t *j, bool taint, int depth) {
    if (depth > MAX_DEPTH) rerr(R, "input nested deeper than %d", MAX_DEPTH);
    val_t v = {0};
    switch (json_typeof(j)) {
    case JSON_NULL: v.t = V_NONE; break;
    case JSON_TRUE: return mkbool(true);
    case JSON_FALSE: return mkbool(false);
    case JSON_INTEGER: return mkint((long long)json_integer_value(j));
    case JSON_REAL: return mkfloat(json_real_value(j));
    case JSON_STRING: {
        size_t n = json_string_length(j);
        uint8_t *tm = NULL;
        if (taint && n) {
            tm = ralloc(R, n);
            memset(tm, 1, n);
        }
        return mkstr(json_string_value(j), n, tm);
    }
    case JSON_ARRAY: {
        v.t = V_LIST;
        v.l = ralloc(R, sizeof *v.l);
        v.l->n = json_array_size(j);
        v.l->tuple = false;
        v.l->v = ralloc(R, (v.l->n ? v.l->n : 1) * sizeof(val_t));
        for (size_t i = 0; i < v.l->n; i++) v.l->v[i] = from_json(R, json_array_get(j, i), taint, depth + 1);
        break;
    }
    case JSON_OBJECT: {
        v.t = V_DICT;
        v.d = ralloc(R, sizeof *v.d);
        size_t n = json_object_size(j);
        v.d->n = 0;
        v.d->cap = n ? n : 1;
        v.d->k = ralloc(R, v.d->cap * sizeof *v.d->k);
        v.d->v = ralloc(R, v.d->cap * sizeof *v.d->v);
        const char *k;
        json_t *x;
        json_object_foreach(j, k, x) {
            v.d->k[v.d->n] = (jstr_t){k, strlen(k), NULL};
            v.d->v[v.d->n++] = from_json(R, x, taint, depth + 1);
        }
        break;
    }
    }
    return v;
}

/* ---- helpers ---- */
static bool truthy(const val_t *v) {
    switch (v->t) {
    case V_UNDEF:
    case V_NONE: return false;
    case V_BOOL: return v->b;
    case V_INT: return v->i != 0;
    case V_FLOAT: return v->f != 0;
    case V_STR: return v->s.n > 0;
    case V_LIST: return v->l->n > 0;
    case V_DICT: return v->d->n > 0;
    default: return true;
    }
}
static bool str_eq(const jstr_t *a, const jstr_t *b) { return a->n == b->n && !memcmp(a->p, b->p, a->n); }
static bool veq(const val_t *a, const val_t *b) {
    bool an = a->t == V_INT || a->t == V_FLOAT || a->t == V_BOOL,
         bn = b->t == V_INT || b->t == V_FLOAT || b->t == V_BOOL;
    if (an && bn) {
        double x = a->t == V_FLOAT ? a->f : a->t == V_INT ? (double)a->i : a->b;
        double y = b->t == V_FLOAT ? b->f : b->t == V_INT ? (double)b->i : b->b;
        if (a->t != V_FLOAT && b->t != V_FLOAT) return (a->t == V_INT ? a->i : a->b) == (b->t == V_INT ? b->i : b->b);
        return x == y;
    }
    if (a->t != b->t) return false;
    switch (a->t) {
    case V_UNDEF:
    case V_NONE: return true;
    case V_STR: return str_eq(&a->s, &b->s);
    case V_LIST:
        if (a->l->n != b->l->n) return false;
        for (size_t i = 0; i < a->l->n; i++)
            if (!veq(&a->l->v[i], &b->l->v[i])) return false;
        return true;
    case V_DICT:
    case V_NS:
        if (a->d->n != b->d->n) return false;
        for (size_t i = 0; i < a->d->n; i++) {
            size_t j = 0;
            while (j < b->d->n && !str_eq(&a->d->k[i], &b->d->k[j])) j++;
            if (j == b->d->n || !veq(&a->d->v[i], &b->d->v[j])) return false;
        }
        return true;
    default: return a == b;
    }
}
static val_t *dict_get(jdict_t *d, const char *k, size_t kn) {
    for (size_t i = 0; i < d->n; i++)
        if (d->k[i].n == kn && !memcmp(d->k[i].p, k, kn)) return &d->v[i];
    return NULL;
}
static void dict_set(rctx_t *R, jdict_t *d, const char *k, size_t kn, val_t v) {
    val_t *p = dict_get(d, k, kn);
    if (p) {
        *p = v;
        return;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 4;
        jstr_t *nk = ralloc(R, cap * sizeof *nk);
        val_t *nv = ralloc(R, cap * sizeof *nv);
        if (d->n) {
            memcpy(nk, d->k, d->n * sizeof *nk);
            memcpy(nv, d->v, d->n * sizeof *nv);
        }
        d->k = nk;
        d->v = nv;
        d->cap = cap;
    }
    d->k[d->n] = (jstr_t){k, kn, NULL};
    d->v[d->n++] = v;
}
static jdict_t *new_dict(rctx_t *R) {
    jdict_t *d = ralloc(R, sizeof *d);
    memset(d, 0, sizeof *d);
    return d;
}
static val_t new_list(rctx_t *R, size_t n, bool tuple) {
    val_t v = {.t = V_LIST};
    v.l = ralloc(R, sizeof *v.l);
    v.l->n = n;
    v.l->tuple = tuple;
    v.l->v = ralloc(R, (n ? n : 1) * sizeof(val_t));
    return v;
}

/* code points: byte offset of the i-th code point (clamped to n) and count */
static size_t cp_count(const jstr_t *s) {
    size_t c = 0;
    for (size_t i = 0; i < s->n; i++) c += ((uint8_t)s->p[i] & 0xC0) != 0x80;
    return c;
}
/* Byte offset of the code point after the one at byte offset i (i < s->n). */
static size_t cp_next(const jstr_t *s, size_t i) {
    i++;
    while (i < s->n && ((uint8_t)s->p[i] & 0xC0) == 0x80) i++;
    return i;
}
static size_t cp_off(const jstr_t *s, size_t k) {
    size_t i = 0;
    for (; i < s->n && k; k--) i = cp_next(s, i);
    return i;
}
static jstr_t sub(const jstr_t *s, size_t a, size_t b) { /* byte range */
    return (jstr_t){s->p + a, b - a, s->tm ? s->tm + a : NULL};
}
/* Python str.isspace(): White_Space plus U+001C..U+001F */
static bool py_space(uint32_t cp) { return (cp >= 0x1C && cp <= 0x1F) || (uni_class(cp) & UNI_WS); }
static bool in_chars(uint32_t cp, const jstr_t *chars) {
    for (size_t i = 0; i < chars->n;) {
        int l;
        uint32_t c = utf8_dec((const uint8_t *)chars->p + i, chars->n - i, &l);
        if (c == cp) return true;
        i += l > 0 ? (size_t)l : 1;
    }
    return false;
}
static jstr_t strip(const jstr_t *s, const jstr_t *chars, bool left, bool right) {
    const uint8_t *u = (const uint8_t *)s->p;
    size_t a = 0, b = s->n;
    while (left && a < b) {
        int l;
        uint32_t c = utf8_dec(u + a, b - a, &l);
        if (chars ? !in_chars(c, chars) : !py_space(c)) break;
        a += l > 0 ? (size_t)l : 1;
    }
    while (right && b > a) {
        size_t j = b;
        do j--;
        while (j > a && (u[j] & 0xC0) == 0x80);
        int l;
        uint32_t c = utf8_dec(u + j, b - j, &l);
        if (chars ? !in_chars(c, chars) : !py_space(c)) break;
        b = j;
    }
    return sub(s, a, b);
}
static bool starts(const jstr_t *s, const jstr_t *p) { return s->n >= p->n && !memcmp(s->p, p->p, p->n); }
static bool ends(const jstr_t *s, const jstr_t *p) { return s->n >= p->n && !memcmp(s->p + s->n - p->n, p->p, p->n); }
static const char *memfind(const char *h, size_t hn, const char *n, size_t nn) {
    if (!nn) return h;
    for (size_t i = 0; i + nn <= hn; i++)
        if (h[i] == n[0] && !memcmp(h + i, n, nn)) return h + i;
    return NULL;
}

/* ASCII case mapping only (non-ASCII letters are copied unchanged: enough for role names). */
static val_t casemap(rctx_t *R, const jstr_t *s, int mode) { /* 0 lower 1 upper 2 capitalize 3 title */
    char *o = ralloc(R, s->n + 1);
    bool prev_alpha = false;
    for (size_t i = 0; i < s->n; i++) {
        char c = s->p[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        bool up = mode == 1 || (mode == 2 && i == 0) || (mode == 3 && !prev_alpha);
        if (up && c >= 'a' && c <= 'z') c = (char)(c - 32);
        else if (!up && c >= 'A' && c <= 'Z') c = (char)(c + 32);
        prev_alpha = alpha;
        o[i] = c;
    }
    return mkstr(o, s->n, s->tm);
}

static void tostr(rctx_t *R, sb_t *b, const val_t *v, int depth);
static void json_dump(rctx_t *R, sb_t *b, const val_t *v, int indent, int level);

static void repr_str(rctx_t *R, sb_t *b, const jstr_t *s) {
    bool dq = memchr(s->p, '\'', s->n) && !memchr(s->p, '"', s->n);
    sb_c(R, b, dq ? "\"" : "'");
    for (size_t i = 0; i < s->n; i++) {
        char c = s->p[i];
        char e[8] = {0};
        if (c == '\\') strcpy(e, "\\\\");
        else if (c == '\n') strcpy(e, "\\n");
        else if (c == '\r') strcpy(e, "\\r");
        else if (c == '\t') strcpy(e, "\\t");
        else if (c == '\'' && !dq) strcpy(e, "\\'");
        else if ((unsigned char)c < 0x20 || c == 0x7f) snprintf(e, sizeof e, "\\x%02x", (unsigned char)c);
        if (e[0]) sb_put(R, b, e, strlen(e), NULL);
        else sb_put(R, b, &c, 1, s->tm ? s->tm + i : NULL);
    }
    sb_c(R, b, dq ? "\"" : "'");
}

static void fmt_float(char *buf, size_t n, double f) {
    if (isnan(f)) {
        snprintf(buf, n, "nan");
        return;
    }
    if (isinf(f)) {
        snprintf(buf, n, f > 0 ? "inf" : "-inf");
        return;
    }
    for (int p = 1; p <= 17; p++) { /* shortest repr that round-trips, as Python's repr */
        snprintf(buf, n, "%.*g", p, f);
        if (strtod(buf, NULL) == f) break;
    }
    if (!strpbrk(buf, ".eni")) strncat(buf, ".0", n - strlen(buf) - 1);
}

/* str(v) as Python prints it in a template */
static void tostr(rctx_t *R, sb_t *b, const val_t *v, int depth) {
    char buf[64];
    if (depth > MAX_DEPTH) rerr(R, "value nested deeper than %d", MAX_DEPTH);
    switch (v->t) {
    case V_UNDEF: return;
    case V_NONE: sb_c(R, b, "None"); return;
    case V_BOOL: sb_c(R, b, v->b ? "True" : "False"); return;
    case V_INT:
        snprintf(buf, sizeof buf, "%lld", v->i);
        sb_c(R, b, buf);
        return;
    case V_FLOAT:
        fmt_float(buf, sizeof buf, v->f);
        sb_c(R, b, buf);
        return;
    case V_STR: sb_put(R, b, v->s.p, v->s.n, v->s.tm); return;
    case V_LIST:
        sb_c(R, b, v->l->tuple ? "(" : "[");
        for (size_t i = 0; i < v->l->n; i++) {
            if (i) sb_c(R, b, ", ");
            if (v->l->v[i].t == V_STR) repr_str(R, b, &v->l->v[i].s);
            else tostr(R, b, &v->l->v[i], depth + 1);
        }
        sb_c(R, b, v->l->tuple ? (v->l->n == 1 ? ",)" : ")") : "]");
        return;
    case V_DICT:
    case V_NS:
        sb_c(R, b, v->t == V_NS ? "<Namespace {" : "{");
        for (size_t i = 0; i < v->d->n; i++) {
            if (i) sb_c(R, b, ", ");
            repr_str(R, b, &v->d->k[i]);
            sb_c(R, b, ": ");
            if (v->d->v[i].t == V_STR) repr_str(R, b, &v->d->v[i].s);
            else tostr(R, b, &v->d->v[i], depth + 1);
        }
        sb_c(R, b, v->t == V_NS ? "}>" : "}");
        return;
    default: rerr(R, "cannot print a %s", tname(v));
    }
}

/* json.dumps(v, ensure_ascii=False, indent=indent) as transformers' tojson does */
static void json_str(rctx_t *R, sb_t *b, const jstr_t *s) {
    sb_c(R, b, "\"");
    for (size_t i = 0; i < s->n; i++) {
        unsigned char c = (unsigned char)s->p[i];
        char e[8] = {0};
        if (c == '"') strcpy(e, "\\\"");
        else if (c == '\\') strcpy(e, "\\\\");
        else if (c == '\n') strcpy(e, "\\n");
        else if (c == '\r') strcpy(e, "\\r");
        else if (c == '\t') strcpy(e, "\\t");
        else if (c == '\b') strcpy(e, "\\b");
        else if (c == '\f') strcpy(e, "\\f");
        else if (c < 0x20) snprintf(e, sizeof e, "\\u%04x", c);
        if (e[0]) sb_put(R, b, e, strlen(e), NULL);
        else sb_put(R, b, s->p + i, 1, s->tm ? s->tm + i : NULL);
    }
    sb_c(R, b, "\"");
}
static void json_nl(rctx_t *R, sb_t *b, int indent, int level) {
    sb_c(R, b, "\n");
    for (int i = 0; i < indent * level; i++) sb_c(R, b, " ");
}
static void json_dump(rctx_t *R, sb_t *b, const val_t *v, int indent, int level) {
    char buf[64];
    if (level > MAX_DEPTH) rerr(R, "value nested deeper than %d", MAX_DEPTH);
    switch (v->t) {
    case V_UNDEF: rerr(R, "tojson of an undefined value");
    case V_NONE: sb_c(R, b, "null"); return;
    case V_BOOL: sb_c(R, b, v->b ? "true" : "false"); return;
    case V_INT:
        snprintf(buf, sizeof buf, "%lld", v->i);
        sb_c(R, b, buf);
        return;
    case V_FLOAT:
        if (isnan(v->f) || isinf(v->f)) sb_c(R, b, isnan(v->f) ? "NaN" : v->f > 0 ? "Infinity" : "-Infinity");
        else {
            fmt_float(buf, sizeof buf, v->f);
            sb_c(R, b, buf);
        }
        return;
    case V_STR: json_str(R, b, &v->s); return;
    case V_LIST:
        sb_c(R, b, "[");
        for (size_t i = 0; i < v->l->n; i++) {
            if (i) sb_c(R, b, indent >= 0 ? "," : ", ");
            if (indent >= 0) json_nl(R, b, indent, level + 1);
            json_dump(R, b, &v->l->v[i], indent, level + 1);
        }
        if (indent >= 0 && v->l->n) json_nl(R, b, indent, level);
        sb_c(R, b, "]");
        return;
    case V_DICT:
    case V_NS:
        sb_c(R, b, "{");
        for (size_t i = 0; i < v->d->n; i++) {
            if (i) sb_c(R, b, indent >= 0 ? "," : ", ");
            if (indent >= 0) json_nl(R, b, indent, level + 1);
            json_str(R, b, &v->d->k[i]);
            sb_c(R, b, ": ");
            json_dump(R, b, &v->d->v[i], indent, level + 1);
        }
        if (indent >= 0 && v->d->n) json_nl(R, b, indent, level);
        sb_c(R, b, "}");
        return;
    default: rerr(R, "tojson of a %s", tname(v));
    }
}

static val_t to_string_val(rctx_t *R, const val_t *v) {
    if (v->t == V_STR) return *v;
    sb_t b = {0};
    tostr(R, &b, v, 0);
    return sb_val(&b);
}

/* ---- evaluation ---- */
static val_t eval(rctx_t *R, scope_t *sc, const node_t *x);
static void exec_block(rctx_t *R, scope_t *sc, const node_t *blk);

static void step(rctx_t *R) {
    if (++R->steps > R->max_steps) rerr(R, "the template runs too long (more than %llu steps)", R->max_steps);
}

static val_t *lookup(scope_t *sc, const char *k, size_t kn) {
    for (; sc; sc = sc->up)
        for (var_t *v = sc->vars; v; v = v->next)
            if (v->kn == kn && !memcmp(v->k, k, kn)) return &v->v;
    return NULL;
}
static void bind(rctx_t *R, scope_t *sc, const char *k, size_t kn, val_t v) {
    for (var_t *x = sc->vars; x; x = x->next)
        if (x->kn == kn && !memcmp(x->k, k, kn)) {
            x->v = v;
            return;
        }
    var_t *x = ralloc(R, sizeof *x);
    x->k = k;
    x->kn = kn;
    x->v = v;
    x->next = sc->vars;
    sc->vars = x;
}

static long long want_int(rctx_t *R, const val_t *v, const char *what) {
    if (v->t == V_INT) return v->i;
    if (v->t == V_BOOL) return v->b;
    rerr(R, "%s must be an integer, not %s", what, tname(v));
}
static const jstr_t *want_str(rctx_t *R, const val_t *v, const char *what) {
    if (v->t != V_STR) rerr(R, "%s must be a string, not %s", what, tname(v));
    return &v->s;
}

/* Python slice indices over a sequence of length n */
static void slice_idx(rctx_t *R, const val_t *a, const val_t *b, const val_t *c, long long n, long long *start,
                      long long *stop, long long *stp) {
    long long st = c && c->t != V_NONE && c->t != V_UNDEF ? want_int(R, c, "a slice step") : 1;
    if (st == 0) rerr(R, "slice step cannot be zero");
    long long lo, hi;
    bool has_a = a && a->t != V_NONE && a->t != V_UNDEF, has_b = b && b->t != V_NONE && b->t != V_UNDEF;
    if (st > 0) {
        lo = has_a ? want_int(R, a, "a slice index") : 0;
        hi = has_b ? want_int(R, b, "a slice index") : n;
        if (lo < 0) {
            lo += n;
            if (lo < 0) lo = 0;
        } else if (lo > n) lo = n;
        if (hi < 0) {
            hi += n;
            if (hi < 0) hi = 0;
        } else if (hi > n) hi = n;
    } else {
        lo = has_a ? want_int(R, a, "a slice index") : n - 1;
        hi = has_b ? want_int(R, b, "a slice index") : -1;
        if (has_a) {
            if (lo < 0) {
                lo += n;
                if (lo < 0) lo = -1;
            } else if (lo >= n) lo = n - 1;
        }
        if (has_b) {
            if (hi < 0) {
                hi += n;
                if (hi < 0) hi = -1;
            } else if (hi >= n) hi = n - 1;
        }
    }
    *start = lo;
    *stop = hi;
    *stp = st;
}

static val_t do_slice(rctx_t *R, const val_t *obj, const val_t *a, const val_t *b, const val_t *c) {
    long long lo, hi, st;
    if (obj->t == V_LIST) {
        long long n = (long long)obj->l->n;
        slice_idx(R, a, b, c, n, &lo, &hi, &st);
        size_t cnt = 0;
        for (long long i = lo; st > 0 ? i < hi : i > hi; i += st) cnt++;
        val_t r = new_list(R, cnt, obj->l->tuple);
        cnt = 0;
        for (long long i = lo; st > 0 ? i < hi : i > hi; i += st) r.l->v[cnt++] = obj->l->v[i];
        return r;
    }
    if (obj->t == V_STR) {
        long long n = (long long)cp_count(&obj->s);
        slice_idx(R, a, b, c, n, &lo, &hi, &st);
        if (st == 1) {
            if (hi <= lo) return mkstr("", 0, NULL);
            size_t x = cp_off(&obj->s, (size_t)lo), y = cp_off(&obj->s, (size_t)hi);
            jstr_t s = sub(&obj->s, x, y);
            return mkstr(s.p, s.n, s.tm);
        }
        /* each code point's byte offset, found once (cp_off per index would be quadratic) */
        size_t *off = ralloc(R, ((size_t)n + 1) * sizeof *off);
        for (size_t i = 0, x = 0; i <= (size_t)n; i++) {
            off[i] = x;
            if (i < (size_t)n) x = cp_next(&obj->s, x);
        }
        sb_t sb = {0};
        for (long long i = lo; st > 0 ? i < hi : i > hi; i += st)
            sb_put(R, &sb, obj->s.p + off[i], off[i + 1] - off[i], obj->s.tm ? obj->s.tm + off[i] : NULL);
        return sb_val(&sb);
    }
    rerr(R, "cannot slice a %s", tname(obj));
}

static val_t getattr_(rctx_t *R, const val_t *obj, const char *k, size_t kn);

static val_t do_index(rctx_t *R, const val_t *obj, const val_t *key) {
    if (obj->t == V_LIST || obj->t == V_STR) {
        if (key->t != V_INT && key->t != V_BOOL) {
            if (key->t == V_STR) return getattr_(R, obj, key->s.p, key->s.n);
            rerr(R, "%s indices must be integers, not %s", tname(obj), tname(key));
        }
        long long i = want_int(R, key, "an index");
        long long n = obj->t == V_LIST ? (long long)obj->l->n : (long long)cp_count(&obj->s);
        if (i < 0) i += n;
        if (i < 0 || i >= n) return UNDEF; /* jinja2: an undefined value, an error only when used */
        if (obj->t == V_LIST) return obj->l->v[i];
        size_t x = cp_off(&obj->s, (size_t)i), y = cp_off(&obj->s, (size_t)i + 1);
        jstr_t s = sub(&obj->s, x, y);
        return mkstr(s.p, s.n, s.tm);
    }
    if (obj->t == V_DICT || obj->t == V_NS) {
        if (key->t != V_STR) { /* dict keys from JSON are strings */
            return UNDEF;
        }
        val_t *v = dict_get(obj->d, key->s.p, key->s.n);
        return v ? *v : UNDEF;
    }
    if (obj->t == V_UNDEF) rerr(R, "cannot index an undefined value");
    if (obj->t == V_NONE) rerr(R, "cannot index none");
    rerr(R, "cannot index a %s", tname(obj));
}

static const char *const STR_METHODS[] = {"startswith", "endswith", "strip",   "lstrip", "rstrip",     "split",
                                          "upper",      "lower",    "replace", "title",  "capitalize", "count",
                                          "find",       "join",     "rsplit",  NULL};
static const char *const DICT_METHODS[] = {"items", "keys", "values", "get", NULL};

static val_t getattr_(rctx_t *R, const val_t *obj, const char *k, size_t kn) {
    if (obj->t == V_DICT || obj->t == V_NS) {
        val_t *v = dict_get(obj->d, k, kn);
        if (v) return *v;
        if (obj->t == V_DICT)
            for (int i = 0; DICT_METHODS[i]; i++)
                if (strlen(DICT_METHODS[i]) == kn && !memcmp(DICT_METHODS[i], k, kn)) {
                    method_t *m = ralloc(R, sizeof *m);
                    m->self = *obj;
                    m->name = DICT_METHODS[i];
                    val_t r = {.t = V_METHOD};
                    r.m = m;
                    return r;
                }
        return UNDEF;
    }
    if (obj->t == V_STR) {
        for (int i = 0; STR_METHODS[i]; i++)
            if (strlen(STR_METHODS[i]) == kn && !memcmp(STR_METHODS[i], k, kn)) {
                method_t *m = ralloc(R, sizeof *m);
                m->self = *obj;
                m->name = STR_METHODS[i];
                val_t r = {.t = V_METHOD};
                r.m = m;
                return r;
            }
        return UNDEF;
    }
    if (obj->t == V_UNDEF) rerr(R, "'%.*s' of an undefined value", (int)(kn > 40 ? 40 : kn), k);
    if (obj->t == V_NONE) rerr(R, "'%.*s' of none", (int)(kn > 40 ? 40 : kn), k);
    return UNDEF;
}

typedef struct {
    val_t *v;
    const char **kw;
    int n;
} args_t;

static val_t kwarg(const args_t *a, const char *name, int pos) {
    for (int i = 0; i < a->n; i++)
        if (a->kw[i] && !strcmp(a->kw[i], name)) return a->v[i];
    int p = 0;
    for (int i = 0; i < a->n; i++)
        if (!a->kw[i]) {
            if (p == pos) return a->v[i];
            p++;
        }
    return UNDEF;
}
static int npos(const args_t *a) {
    int p = 0;
    for (int i = 0; i < a->n; i++) p += !a->kw[i];
    return p;
}

static val_t split_str(rctx_t *R, const jstr_t *s, const val_t *sepv, long long maxsplit) {
    size_t cap = 8, n = 0;
    val_t *parts = ralloc(R, cap * sizeof *parts);
#define PUSH(js) \
    do { \
        if (n == cap) { \
            val_t *q = ralloc(R, cap * 2 * sizeof *q); \
            memcpy(q, parts, n * sizeof *q); \
            parts = q; \
            cap *= 2; \
        } \
        jstr_t _s = (js); \
        parts[n++] = mkstr(_s.p, _s.n, _s.tm); \
    } while (0)
    if (sepv->t == V_UNDEF || sepv->t == V_NONE) {
        size_t i = 0;
        const uint8_t *u = (const uint8_t *)s->p;
        for (;;) {
            while (i < s->n) {
                int l;
                uint32_t c = utf8_dec(u + i, s->n - i, &l);
                if (!py_space(c)) break;
                i += l > 0 ? (size_t)l : 1;
            }
            if (i >= s->n) break;
            if (maxsplit >= 0 && (long long)n >= maxsplit) {
                jstr_t rest = sub(s, i, s->n);
                PUSH(strip(&rest, NULL, false, true));
                break;
            }
            size_t j = i;
            while (j < s->n) {
                int l;
                uint32_t c = utf8_dec(u + j, s->n - j, &l);
                if (py_space(c)) break;
                j += l > 0 ? (size_t)l : 1;
            }
            PUSH(sub(s, i, j));
            i = j;
        }
    } else {
        const jstr_t *sep = want_str(R, sepv, "split()'s separator");
        if (!sep->n) rerr(R, "split(): empty separator");
        size_t i = 0;
        for (;;) {
            const char *f =
                (maxsplit < 0 || (long long)n < maxsplit) ? memfind(s->p + i, s->n - i, sep->p, sep->n) : NULL;
            if (!f) {
                PUSH(sub(s, i, s->n));
                break;
            }
            size_t j = (size_t)(f - s->p);
            PUSH(sub(s, i, j));
            i = j + sep->n;
        }
    }
#undef PUSH
    val_t r = new_list(R, n, false);
    memcpy(r.l->v, parts, n * sizeof *parts);
    return r;
}

static val_t replace_str(rctx_t *R, const jstr_t *s, const jstr_t *a, const jstr_t *b, long long count) {
    sb_t sb = {0};
    size_t i = 0;
    long long done = 0;
    if (!a->n) { /* Python: insert b between code points (and at both ends) */
        for (size_t k = 0; k <= s->n;) {
            if (count < 0 || done < count) {
                sb_put(R, &sb, b->p, b->n, b->tm);
                done++;
            }
            if (k == s->n) break;
            size_t e = k + 1;
            while (e < s->n && ((uint8_t)s->p[e] & 0xC0) == 0x80) e++;
            sb_put(R, &sb, s->p + k, e - k, s->tm ? s->tm + k : NULL);
            k = e;
        }
        return sb_val(&sb);
    }
    for (;;) {
        const char *f = (count < 0 || done < count) ? memfind(s->p + i, s->n - i, a->p, a->n) : NULL;
        if (!f) {
            sb_put(R, &sb, s->p + i, s->n - i, s->tm ? s->tm + i : NULL);
            break;
        }
        size_t j = (size_t)(f - s->p);
        sb_put(R, &sb, s->p + i, j - i, s->tm ? s->tm + i : NULL);
        sb_put(R, &sb, b->p, b->n, b->tm);
        i = j + a->n;
        done++;
    }
    return sb_val(&sb);
}

static val_t call_method(rctx_t *R, const method_t *m, const args_t *a) {
    const char *n = m->name;
    if (m->self.t == V_DICT) {
        jdict_t *d = m->self.d;
        if (!strcmp(n, "get")) {
            val_t k = kwarg(a, "key", 0), def = kwarg(a, "default", 1);
            if (k.t != V_STR) return def.t == V_UNDEF ? (val_t){.t = V_NONE} : def;
            val_t *v = dict_get(d, k.s.p, k.s.n);
            return v ? *v : def.t == V_UNDEF ? (val_t){.t = V_NONE} : def;
        }
        val_t r = new_list(R, d->n, false);
        for (size_t i = 0; i < d->n; i++) {
            val_t key = mkstr(d->k[i].p, d->k[i].n, d->k[i].tm);
            if (!strcmp(n, "keys")) r.l->v[i] = key;
            else if (!strcmp(n, "values")) r.l->v[i] = d->v[i];
            else {
                val_t t = new_list(R, 2, true);
                t.l->v[0] = key;
                t.l->v[1] = d->v[i];
                r.l->v[i] = t;
            }
        }
        return r;
    }
    const jstr_t *s = &m->self.s;
    if (!strcmp(n, "startswith") || !strcmp(n, "endswith")) {
        val_t p = kwarg(a, "prefix", 0);
        bool st = n[0] == 's';
        if (p.t == V_STR) return mkbool(st ? starts(s, &p.s) : ends(s, &p.s));
        if (p.t == V_LIST) {
            for (size_t i = 0; i < p.l->n; i++) {
                const jstr_t *q = want_str(R, &p.l->v[i], "a startswith/endswith tuple element");
                if (st ? starts(s, q) : ends(s, q)) return mkbool(true);
            }
            return mkbool(false);
        }
        rerr(R, "%s() needs a string or a tuple of strings, not %s", n, tname(&p));
    }
    if (!strcmp(n, "strip") || !strcmp(n, "lstrip") || !strcmp(n, "rstrip")) {
        val_t c = kwarg(a, "chars", 0);
        const jstr_t *chars = c.t == V_UNDEF || c.t == V_NONE ? NULL : want_str(R, &c, "strip()'s argument");
        jstr_t r = strip(s, chars, n[0] != 'r', n[0] != 'l');
        return mkstr(r.p, r.n, r.tm);
    }
    if (!strcmp(n, "split") || !strcmp(n, "rsplit")) {
        val_t sep = kwarg(a, "sep", 0), mx = kwarg(a, "maxsplit", 1);
        long long maxsplit = mx.t == V_UNDEF ? -1 : want_int(R, &mx, "maxsplit");
        if (n[0] == 'r' && maxsplit >= 0) rerr(R, "unsupported: rsplit() with maxsplit");
        return split_str(R, s, &sep, maxsplit);
    }
    if (!strcmp(n, "upper")) return casemap(R, s, 1);
    if (!strcmp(n, "lower")) return casemap(R, s, 0);
    if (!strcmp(n, "capitalize")) return casemap(R, s, 2);
    if (!strcmp(n, "title")) return casemap(R, s, 3);
    if (!strcmp(n, "replace")) {
        val_t x = kwarg(a, "old", 0), y = kwarg(a, "new", 1), c = kwarg(a, "count", 2);
        return replace_str(R, s, want_str(R, &x, "replace()'s first argument"),
                           want_str(R, &y, "replace()'s second argument"),
                           c.t == V_UNDEF || c.t == V_NONE ? -1 : want_int(R, &c, "replace()'s count"));
    }
    if (!strcmp(n, "count") || !strcmp(n, "find")) {
        val_t x = kwarg(a, "sub", 0);
        const jstr_t *q = want_str(R, &x, "the substring");
        if (n[0] == 'f') {
            const char *f = memfind(s->p, s->n, q->p, q->n);
            if (!f) return mkint(-1);
            jstr_t pre = {s->p, (size_t)(f - s->p), NULL};
            return mkint((long long)cp_count(&pre));
        }
        if (!q->n) return mkint((long long)cp_count(s) + 1);
        long long c = 0;
        for (size_t i = 0;;) {
            const char *f = memfind(s->p + i, s->n - i, q->p, q->n);
            if (!f) break;
            c++;
            i = (size_t)(f - s->p) + q->n;
        }
        return mkint(c);
    }
    if (!strcmp(n, "join")) {
        val_t l = kwarg(a, "iterable", 0);
        if (l.t != V_LIST) rerr(R, "join() needs a list, not %s", tname(&l));
        sb_t sb = {0};
        for (size_t i = 0; i < l.l->n; i++) {
            if (i) sb_put(R, &sb, s->p, s->n, s->tm);
            sb_put(R, &sb, want_str(R, &l.l->v[i], "a join() element")->p, l.l->v[i].s.n, l.l->v[i].s.tm);
        }
        return sb_val(&sb);
    }
    rerr(R, "unsupported method %s()", n);
}

static val_t call_global(rctx_t *R, const char *fn, const args_t *a) {
    if (!strcmp(fn, "raise_exception")) {
        val_t m = kwarg(a, "message", 0);
        val_t s = to_string_val(R, &m);
        char msg[301];
        size_t n = s.s.n > 300 ? 300 : s.s.n;
        for (size_t i = 0; i < n; i++) msg[i] = (unsigned char)s.s.p[i] < 0x20 ? ' ' : s.s.p[i]; /* one line */
        msg[n] = 0;
        rerr(R, "raise_exception: %s", msg);
    }
    if (!strcmp(fn, "namespace")) {
        val_t r = {.t = V_NS};
        r.d = new_dict(R);
        for (int i = 0; i < a->n; i++) {
            if (!a->kw[i]) {
                if (a->v[i].t == V_DICT) {
                    for (size_t k = 0; k < a->v[i].d->n; k++)
                        dict_set(R, r.d, a->v[i].d->k[k].p, a->v[i].d->k[k].n, a->v[i].d->v[k]);
                    continue;
                }
                rerr(R, "namespace() takes keyword arguments");
            }
            dict_set(R, r.d, a->kw[i], strlen(a->kw[i]), a->v[i]);
        }
        return r;
    }
    if (!strcmp(fn, "range")) {
        int p = npos(a);
        if (p < 1 || p > 3) rerr(R, "range() takes 1 to 3 arguments");
        val_t x0 = kwarg(a, "", 0), x1 = kwarg(a, "", 1), x2 = kwarg(a, "", 2);
        long long lo = 0, hi, st = 1;
        if (p == 1) hi = want_int(R, &x0, "range()'s argument");
        else {
            lo = want_int(R, &x0, "range()'s start");
            hi = want_int(R, &x1, "range()'s stop");
        }
        if (p == 3) st = want_int(R, &x2, "range()'s step");
        if (!st) rerr(R, "range() step cannot be zero");
        long long cnt = st > 0 ? (hi > lo ? (hi - lo + st - 1) / st : 0) : (lo > hi ? (lo - hi - st - 1) / -st : 0);
        if (cnt > 10000000) rerr(R, "range() of %lld items is too long", cnt);
        val_t r = new_list(R, (size_t)cnt, false);
        for (long long i = 0; i < cnt; i++) r.l->v[i] = mkint(lo + i * st);
        return r;
    }
    rerr(R, "unsupported function %s()", fn);
}

static long long length_of(rctx_t *R, const val_t *v) {
    switch (v->t) {
    case V_STR: return (long long)cp_count(&v->s);
    case V_LIST: return (long long)v->l->n;
    case V_DICT:
    case V_NS: return (long long)v->d->n;
    case V_UNDEF: return 0;
    default: rerr(R, "length of a %s", tname(v));
    }
}

static val_t filter(rctx_t *R, const char *f, val_t v, const args_t *a) {
    if (!strcmp(f, "trim")) {
        if (v.t == V_UNDEF) return mkstr("", 0, NULL);
        val_t s = to_string_val(R, &v);
        val_t c = kwarg(a, "chars", 0);
        jstr_t r = strip(&s.s, c.t == V_UNDEF || c.t == V_NONE ? NULL : want_str(R, &c, "trim's argument"), true, true);
        return mkstr(r.p, r.n, r.tm);
    }
    if (!strcmp(f, "length") || !strcmp(f, "count")) return mkint(length_of(R, &v));
    if (!strcmp(f, "upper") || !strcmp(f, "lower") || !strcmp(f, "capitalize") || !strcmp(f, "title")) {
        val_t s = to_string_val(R, &v);
        return casemap(R, &s.s, f[0] == 'u' ? 1 : f[0] == 'l' ? 0 : f[0] == 'c' ? 2 : 3);
    }
    if (!strcmp(f, "string")) return to_string_val(R, &v);
    if (!strcmp(f, "safe") || !strcmp(f, "e") || !strcmp(f, "escape")) {
        if (f[0] != 's') rerr(R, "unsupported filter '%s'", f);
        return v;
    }
    if (!strcmp(f, "tojson")) {
        val_t ind = kwarg(a, "indent", 0);
        sb_t sb = {0};
        json_dump(R, &sb, &v, ind.t == V_UNDEF || ind.t == V_NONE ? -1 : (int)want_int(R, &ind, "tojson's indent"), 0);
        return sb_val(&sb);
    }
    if (!strcmp(f, "first") || !strcmp(f, "last")) {
        if (v.t == V_STR) {
            size_t n = cp_count(&v.s);
            if (!n) return UNDEF;
            val_t i = mkint(f[0] == 'f' ? 0 : (long long)n - 1);
            return do_index(R, &v, &i);
        }
        if (v.t != V_LIST) rerr(R, "%s of a %s", f, tname(&v));
        if (!v.l->n) return UNDEF;
        return v.l->v[f[0] == 'f' ? 0 : v.l->n - 1];
    }
    if (!strcmp(f, "reverse")) {
        if (v.t == V_STR) {
            val_t m1 = mkint(-1);
            return do_slice(R, &v, NULL, NULL, &m1);
        }
        if (v.t != V_LIST) rerr(R, "reverse of a %s", tname(&v));
        val_t r = new_list(R, v.l->n, false);
        for (size_t i = 0; i < v.l->n; i++) r.l->v[i] = v.l->v[v.l->n - 1 - i];
        return r;
    }
    if (!strcmp(f, "list")) {
        if (v.t == V_LIST) {
            val_t r = new_list(R, v.l->n, false);
            memcpy(r.l->v, v.l->v, v.l->n * sizeof(val_t));
            return r;
        }
        if (v.t == V_DICT) {
            method_t m = {v, "keys"};
            args_t none = {0};
            return call_method(R, &m, &none);
        }
        if (v.t == V_STR) { /* one pass (indexing each character would be quadratic) */
            size_t n = cp_count(&v.s);
            val_t r = new_list(R, n, false);
            for (size_t i = 0, x = 0; i < n; i++) {
                size_t y = cp_next(&v.s, x);
                jstr_t c = sub(&v.s, x, y);
                r.l->v[i] = mkstr(c.p, c.n, c.tm);
                x = y;
            }
            return r;
        }
        rerr(R, "list of a %s", tname(&v));
    }
    if (!strcmp(f, "join")) {
        if (v.t != V_LIST) rerr(R, "join of a %s", tname(&v));
        val_t sep = kwarg(a, "d", 0);
        const jstr_t *d = sep.t == V_UNDEF ? &(jstr_t){"", 0, NULL} : want_str(R, &sep, "join's separator");
        sb_t sb = {0};
        for (size_t i = 0; i < v.l->n; i++) {
            if (i) sb_put(R, &sb, d->p, d->n, d->tm);
            tostr(R, &sb, &v.l->v[i], 0);
        }
        return sb_val(&sb);
    }
    if (!strcmp(f, "default") || !strcmp(f, "d")) {
        val_t def = kwarg(a, "default_value", 0), boolean = kwarg(a, "boolean", 1);
        bool use = v.t == V_UNDEF || (truthy(&boolean) && !truthy(&v));
        return use ? (def.t == V_UNDEF ? mkstr("", 0, NULL) : def) : v;
    }
    if (!strcmp(f, "int")) {
        if (v.t == V_INT) return v;
        if (v.t == V_FLOAT) return mkint((long long)v.f);
        if (v.t == V_BOOL) return mkint(v.b);
        if (v.t == V_STR) {
            char buf[64];
            size_t n = v.s.n < 63 ? v.s.n : 63;
            memcpy(buf, v.s.p, n);
            buf[n] = 0;
            char *end;
            long long i = strtoll(buf, &end, 10);
            return mkint(*end ? 0 : i);
        }
        return mkint(0);
    }
    if (!strcmp(f, "float")) {
        if (v.t == V_INT) return mkfloat((double)v.i);
        if (v.t == V_FLOAT) return v;
        if (v.t == V_STR) {
            char buf[64];
            size_t n = v.s.n < 63 ? v.s.n : 63;
            memcpy(buf, v.s.p, n);
            buf[n] = 0;
            char *end;
            double d = strtod(buf, &end);
            return mkfloat(*end ? 0 : d);
        }
        return mkfloat(0);
    }
    if (!strcmp(f, "abs")) {
        if (v.t == V_INT) return mkint(v.i < 0 ? -v.i : v.i);
        if (v.t == V_FLOAT) return mkfloat(fabs(v.f));
        rerr(R, "abs of a %s", tname(&v));
    }
    if (!strcmp(f, "items")) {
        if (v.t != V_DICT) rerr(R, "items of a %s", tname(&v));
        method_t m = {v, "items"};
        args_t none = {0};
        return call_method(R, &m, &none);
    }
    if (!strcmp(f, "replace")) {
        val_t s = to_string_val(R, &v);
        method_t m = {s, "replace"};
        return call_method(R, &m, a);
    }
    rerr(R, "unsupported filter '%s'", f);
}

static bool test(rctx_t *R, const char *t, const val_t *v, const args_t *a) {
    if (!strcmp(t, "defined")) return v->t != V_UNDEF;
    if (!strcmp(t, "undefined")) return v->t == V_UNDEF;
    if (!strcmp(t, "none")) return v->t == V_NONE;
    if (!strcmp(t, "string")) return v->t == V_STR;
    if (!strcmp(t, "number")) return v->t == V_INT || v->t == V_FLOAT;
    if (!strcmp(t, "integer")) return v->t == V_INT;
    if (!strcmp(t, "float")) return v->t == V_FLOAT;
    if (!strcmp(t, "boolean")) return v->t == V_BOOL;
    if (!strcmp(t, "true")) return v->t == V_BOOL && v->b;
    if (!strcmp(t, "false")) return v->t == V_BOOL && !v->b;
    if (!strcmp(t, "mapping")) return v->t == V_DICT;
    if (!strcmp(t, "sequence")) return v->t == V_LIST || v->t == V_STR || v->t == V_DICT;
    if (!strcmp(t, "iterable")) return v->t == V_LIST || v->t == V_STR || v->t == V_DICT;
    if (!strcmp(t, "callable")) return v->t == V_METHOD || v->t == V_FUNC;
    if (!strcmp(t, "odd") || !strcmp(t, "even")) {
        long long i = want_int(R, v, "the operand of odd/even");
        return (i % 2 != 0) == (t[0] == 'o');
    }
    if (!strcmp(t, "lower") || !strcmp(t, "upper")) {
        if (v->t != V_STR) return false;
        for (size_t i = 0; i < v->s.n; i++) {
            char c = v->s.p[i];
            if (t[0] == 'l' ? (c >= 'A' && c <= 'Z') : (c >= 'a' && c <= 'z')) return false;
        }
        return true;
    }
    if (!strcmp(t, "eq") || !strcmp(t, "equalto") || !strcmp(t, "sameas") || !strcmp(t, "ne")) {
        val_t o = kwarg(a, "other", 0);
        bool eq = veq(v, &o);
        return t[0] == 'n' ? !eq : eq;
    }
    if (!strcmp(t, "in")) {
        val_t o = kwarg(a, "seq", 0);
        if (o.t == V_LIST) {
            for (size_t i = 0; i < o.l->n; i++)
                if (veq(v, &o.l->v[i])) return true;
            return false;
        }
        if (o.t == V_STR && v->t == V_STR) return memfind(o.s.p, o.s.n, v->s.p, v->s.n) != NULL;
        if (o.t == V_DICT && v->t == V_STR) return dict_get(o.d, v->s.p, v->s.n) != NULL;
        return false;
    }
    rerr(R, "unsupported test 'is %s'", t);
}

static args_t eval_args(rctx_t *R, scope_t *sc, const node_t *x) {
    args_t a = {0};
    a.n = x->nk;
    if (x->nk) {
        a.v = ralloc(R, (size_t)x->nk * sizeof *a.v);
        for (int i = 0; i < x->nk; i++) a.v[i] = eval(R, sc, x->kids[i]);
    }
    a.kw = x->kw;
    return a;
}

static double num(const val_t *v) { return v->t == V_FLOAT ? v->f : v->t == V_INT ? (double)v->i : v->b; }
static bool isnum(const val_t *v) { return v->t == V_INT || v->t == V_FLOAT || v->t == V_BOOL; }

static int cmp_vals(rctx_t *R, const val_t *a, const val_t *b, const char *op) {
    if (isnum(a) && isnum(b)) {
        double x = num(a), y = num(b);
        return x < y ? -1 : x > y;
    }
    if (a->t == V_STR && b->t == V_STR) {
        size_t n = a->s.n < b->s.n ? a->s.n : b->s.n;
        int c = memcmp(a->s.p, b->s.p, n); /* UTF-8 byte order = code point order */
        return c ? (c < 0 ? -1 : 1) : a->s.n < b->s.n ? -1 : a->s.n > b->s.n;
    }
    rerr(R, "'%s' between %s and %s", op, tname(a), tname(b));
}

static val_t binop(rctx_t *R, const char *op, val_t a, val_t b) {
    if (!strcmp(op, "==")) return mkbool(veq(&a, &b));
    if (!strcmp(op, "!=")) return mkbool(!veq(&a, &b));
    if (!strcmp(op, "in") || !strcmp(op, "not in")) {
        bool neg = op[0] == 'n', r;
        if (b.t == V_UNDEF) return mkbool(neg);
        if (b.t == V_LIST) {
            r = false;
            for (size_t i = 0; i < b.l->n && !r; i++) r = veq(&a, &b.l->v[i]);
        } else if (b.t == V_STR)
            r = memfind(b.s.p, b.s.n, want_str(R, &a, "the left side of 'in' a string")->p, a.s.n) != NULL;
        else if (b.t == V_DICT || b.t == V_NS) r = a.t == V_STR && dict_get(b.d, a.s.p, a.s.n);
        else rerr(R, "'in' a %s", tname(&b));
        return mkbool(r != neg);
    }
    if (!strcmp(op, "~")) {
        sb_t sb = {0};
        tostr(R, &sb, &a, 0);
        tostr(R, &sb, &b, 0);
        return sb_val(&sb);
    }
    if (a.t == V_UNDEF || b.t == V_UNDEF) rerr(R, "'%s' with an undefined value", op);
    if (!strcmp(op, "<") || !strcmp(op, ">") || !strcmp(op, "<=") || !strcmp(op, ">=")) {
        int c = cmp_vals(R, &a, &b, op);
        return mkbool(op[0] == '<' ? (op[1] ? c <= 0 : c < 0) : (op[1] ? c >= 0 : c > 0));
    }
    if (!strcmp(op, "+")) {
        if (a.t == V_STR && b.t == V_STR) {
            if (!a.s.n) return b;
            if (!b.s.n) return a;
            sb_t sb = {0};
            sb_put(R, &sb, a.s.p, a.s.n, a.s.tm);
            sb_put(R, &sb, b.s.p, b.s.n, b.s.tm);
            return sb_val(&sb);
        }
        if (a.t == V_LIST && b.t == V_LIST) {
            val_t r = new_list(R, a.l->n + b.l->n, false);
            memcpy(r.l->v, a.l->v, a.l->n * sizeof(val_t));
            memcpy(r.l->v + a.l->n, b.l->v, b.l->n * sizeof(val_t));
            return r;
        }
    }
    if (isnum(&a) && isnum(&b)) {
        bool fl = a.t == V_FLOAT || b.t == V_FLOAT;
        /* a float's union bytes are not a bool: read .b only for V_BOOL (UBSan, fuzz_chat_template) */
        long long x = a.t == V_INT ? a.i : a.t == V_BOOL ? a.b : 0, y = b.t == V_INT ? b.i : b.t == V_BOOL ? b.b : 0;
        double fx = num(&a), fy = num(&b);
        switch (op[0]) {
        case '+': return fl ? mkfloat(fx + fy) : mkint((long long)((unsigned long long)x + (unsigned long long)y));
        case '-': return fl ? mkfloat(fx - fy) : mkint((long long)((unsigned long long)x - (unsigned long long)y));
        case '*':
            if (op[1] == '*') {
                if (!fl && y >= 0) {
                    long long r = 1;
                    for (long long i = 0; i < y && i < 64; i++)
                        r = (long long)((unsigned long long)r * (unsigned long long)x);
                    return mkint(r);
                }
                return mkfloat(pow(fx, fy));
            }
            return fl ? mkfloat(fx * fy) : mkint((long long)((unsigned long long)x * (unsigned long long)y));
        case '/':
            if (fy == 0) rerr(R, "division by zero");
            if (op[1] == '/') {
                if (fl) return mkfloat(floor(fx / fy));
                if (x == INT64_MIN && y == -1) rerr(R, "integer overflow");
                long long q = x / y;
                if ((x % y != 0) && ((x < 0) != (y < 0))) q--;
                return mkint(q);
            }
            return mkfloat(fx / fy);
        case '%':
            if (fy == 0) rerr(R, "modulo by zero");
            if (fl) {
                double m = fmod(fx, fy);
                if (m != 0 && ((m < 0) != (fy < 0))) m += fy;
                return mkfloat(m);
            }
            if (x == INT64_MIN && y == -1) return mkint(0);
            {
                long long m = x % y;
                if (m != 0 && ((m < 0) != (y < 0))) m += y;
                return mkint(m);
            }
        }
    }
    if (!strcmp(op, "*") && ((a.t == V_STR && b.t == V_INT) || (a.t == V_INT && b.t == V_STR))) {
        const val_t *s = a.t == V_STR ? &a : &b;
        long long k = a.t == V_INT ? a.i : b.i;
        if (k > 0 && (unsigned long long)k * s->s.n > R->max_out) rerr(R, "string repetition too long");
        sb_t sb = {0};
        for (long long i = 0; i < k; i++) sb_put(R, &sb, s->s.p, s->s.n, s->s.tm);
        return sb_val(&sb);
    }
    rerr(R, "'%s' between %s and %s", op, tname(&a), tname(&b));
}

static val_t eval(rctx_t *R, scope_t *sc, const node_t *x) {
    step(R);
    if (++R->depth > MAX_DEPTH) rerr(R, "expression nested deeper than %d", MAX_DEPTH);
    int saved = R->line;
    R->line = x->line;
    val_t r;
    switch (x->k) {
    case N_LIT: r = x->lit; break;
    case N_NAME: {
        val_t *v = lookup(sc, x->s, x->sn);
        if (v) r = *v;
        else if (!strcmp(x->s, "raise_exception") || !strcmp(x->s, "namespace") || !strcmp(x->s, "range")) {
            r.t = V_FUNC;
            r.fn = x->s;
        } else r = UNDEF;
        break;
    }
    case N_LIST:
    case N_TUPLE:
        r = new_list(R, (size_t)x->nk, x->k == N_TUPLE);
        for (int i = 0; i < x->nk; i++) r.l->v[i] = eval(R, sc, x->kids[i]);
        break;
    case N_DICT:
        r.t = V_DICT;
        r.d = new_dict(R);
        for (int i = 0; i + 1 < x->nk; i += 2) {
            val_t k = eval(R, sc, x->kids[i]);
            if (k.t != V_STR) rerr(R, "dict keys must be strings");
            dict_set(R, r.d, k.s.p, k.s.n, eval(R, sc, x->kids[i + 1]));
        }
        break;
    case N_ATTR: {
        val_t o = eval(R, sc, x->a);
        R->line = x->line;
        r = getattr_(R, &o, x->s, strlen(x->s));
        break;
    }
    case N_INDEX: {
        val_t o = eval(R, sc, x->a), k = eval(R, sc, x->b);
        R->line = x->line;
        r = do_index(R, &o, &k);
        break;
    }
    case N_SLICE: {
        val_t o = eval(R, sc, x->a), a = x->b ? eval(R, sc, x->b) : UNDEF, b = x->c ? eval(R, sc, x->c) : UNDEF,
              c = x->d ? eval(R, sc, x->d) : UNDEF;
        R->line = x->line;
        r = do_slice(R, &o, &a, &b, &c);
        break;
    }
    case N_CALL: {
        val_t f = eval(R, sc, x->a);
        args_t a = eval_args(R, sc, x);
        R->line = x->line;
        if (f.t == V_METHOD) r = call_method(R, f.m, &a);
        else if (f.t == V_FUNC) r = call_global(R, f.fn, &a);
        else if (f.t == V_UNDEF)
            rerr(R, "call of an undefined function%s%s", x->a->k == N_NAME ? " " : "",
                 x->a->k == N_NAME   ? x->a->s
                 : x->a->k == N_ATTR ? ""
                                     : "");
        else rerr(R, "a %s is not callable", tname(&f));
        break;
    }
    case N_FILTER: {
        val_t v = eval(R, sc, x->a);
        args_t a = eval_args(R, sc, x);
        R->line = x->line;
        r = filter(R, x->s, v, &a);
        break;
    }
    case N_TEST: {
        val_t v = eval(R, sc, x->a);
        args_t a = eval_args(R, sc, x);
        R->line = x->line;
        r = mkbool(test(R, x->s, &v, &a) != x->neg);
        break;
    }
    case N_NOT: {
        val_t v = eval(R, sc, x->a);
        r = mkbool(!truthy(&v));
        break;
    }
    case N_NEG: {
        val_t v = eval(R, sc, x->a);
        R->line = x->line;
        if (v.t == V_INT) r = mkint((long long)(0ull - (unsigned long long)v.i));
        else if (v.t == V_FLOAT) r = mkfloat(-v.f);
        else if (v.t == V_BOOL) r = mkint(-(long long)v.b);
        else rerr(R, "unary '-' of a %s", tname(&v));
        break;
    }
    case N_AND: {
        val_t a = eval(R, sc, x->a);
        r = truthy(&a) ? eval(R, sc, x->b) : a;
        break;
    }
    case N_OR: {
        val_t a = eval(R, sc, x->a);
        r = truthy(&a) ? a : eval(R, sc, x->b);
        break;
    }
    case N_COND: {
        val_t c = eval(R, sc, x->b);
        r = truthy(&c) ? eval(R, sc, x->a) : x->c ? eval(R, sc, x->c) : UNDEF;
        break;
    }
    case N_BIN: {
        val_t a = eval(R, sc, x->a), b = eval(R, sc, x->b);
        R->line = x->line;
        r = binop(R, x->s, a, b);
        break;
    }
    default: rerr(R, "internal: bad expression node %d", x->k);
    }
    R->line = saved;
    R->depth--;
    return r;
}

static void emit(rctx_t *R, const char *p, size_t n, const uint8_t *tm) {
    if (!n) return;
    if (R->out->n - R->out0 + n > R->max_out) rerr(R, "the rendered text exceeds %zu bytes", R->max_out);
    if (tok_str_append(R->out, p, n)) {
        lerr_set(R->e, EXIT_INTERNAL, "out of memory");
        longjmp(R->jb, 1);
    }
    if (R->taint) {
        if (tok_str_reserve(R->taint, n)) {
            lerr_set(R->e, EXIT_INTERNAL, "out of memory");
            longjmp(R->jb, 1);
        }
        if (tm) memcpy(R->taint->p + R->taint->n, tm, n);
        else memset(R->taint->p + R->taint->n, 0, n);
        R->taint->n += n;
    }
}

static void exec_for(rctx_t *R, scope_t *sc, const node_t *x) {
    val_t it = eval(R, sc, x->a);
    R->line = x->line;
    val_t items;
    if (it.t == V_LIST) items = it;
    else if (it.t == V_DICT) {
        method_t m = {it, "keys"};
        args_t none = {0};
        items = call_method(R, &m, &none);
    } else if (it.t == V_STR) {
        args_t none = {0};
        items = filter(R, "list", it, &none);
    } else if (it.t == V_UNDEF) items = new_list(R, 0, false);
    else rerr(R, "cannot loop over a %s", tname(&it));
    /* the `if` filter decides which items the loop sees (and what loop.length counts) */
    size_t n = items.l->n;
    val_t *sel = items.l->v;
    if (x->d) {
        sel = ralloc(R, (n ? n : 1) * sizeof *sel);
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            scope_t s2 = {NULL, sc};
            if (x->s2) {
                if (items.l->v[i].t != V_LIST || items.l->v[i].l->n != 2)
                    rerr(R, "cannot unpack into two loop variables");
                bind(R, &s2, x->s, strlen(x->s), items.l->v[i].l->v[0]);
                bind(R, &s2, x->s2, strlen(x->s2), items.l->v[i].l->v[1]);
            } else bind(R, &s2, x->s, strlen(x->s), items.l->v[i]);
            val_t c = eval(R, &s2, x->d);
            if (truthy(&c)) sel[k++] = items.l->v[i];
        }
        n = k;
    }
    if (!n) {
        if (x->c) {
            scope_t s2 = {NULL, sc};
            exec_block(R, &s2, x->c);
        }
        return;
    }
    /* One `loop` object per loop, updated in place (as Jinja2's LoopContext), and the loop's
     * variables bound in nodes made once: an iteration itself allocates nothing, so a long
     * loop's memory does not grow with its length (render budgets, jinja_render). */
    val_t loop = {.t = V_DICT};
    loop.d = new_dict(R);
    var_t *lv = ralloc(R, 3 * sizeof *lv);
    for (size_t i = 0; i < n; i++) {
        step(R);
        scope_t s2 = {NULL, sc};
        dict_set(R, loop.d, "index", 5, mkint((long long)i + 1));
        dict_set(R, loop.d, "index0", 6, mkint((long long)i));
        dict_set(R, loop.d, "revindex", 8, mkint((long long)(n - i)));
        dict_set(R, loop.d, "revindex0", 9, mkint((long long)(n - i - 1)));
        dict_set(R, loop.d, "first", 5, mkbool(i == 0));
        dict_set(R, loop.d, "last", 4, mkbool(i + 1 == n));
        dict_set(R, loop.d, "length", 6, mkint((long long)n));
        dict_set(R, loop.d, "previtem", 8, i ? sel[i - 1] : UNDEF);
        dict_set(R, loop.d, "nextitem", 8, i + 1 < n ? sel[i + 1] : UNDEF);
        /* as bind() into the empty s2 would: a later name shadows an earlier equal one */
        lv[0] = (var_t){.k = "loop", .kn = 4, .v = loop, .next = NULL};
        if (x->s2) {
            if (sel[i].t != V_LIST || sel[i].l->n != 2) rerr(R, "cannot unpack into two loop variables");
            lv[1] = (var_t){.k = x->s, .kn = strlen(x->s), .v = sel[i].l->v[0], .next = &lv[0]};
            lv[2] = (var_t){.k = x->s2, .kn = strlen(x->s2), .v = sel[i].l->v[1], .next = &lv[1]};
            s2.vars = &lv[2];
        } else {
            lv[1] = (var_t){.k = x->s, .kn = strlen(x->s), .v = sel[i], .next = &lv[0]};
            s2.vars = &lv[1];
        }
        exec_block(R, &s2, x->b);
        if (R->brk == 1) {
            R->brk = 0;
            break;
        }
        R->brk = 0;
    }
}

static void exec_block(rctx_t *R, scope_t *sc, const node_t *blk) {
    if (++R->depth > MAX_DEPTH) rerr(R, "blocks nested deeper than %d", MAX_DEPTH);
    for (int i = 0; i < blk->nk && !R->brk; i++) {
        const node_t *x = blk->kids[i];
        step(R);
        R->line = x->line;
        switch (x->k) {
        case N_TEXT: emit(R, x->s, x->sn, NULL); break;
        case N_OUT: {
            val_t v = eval(R, sc, x->a);
            sb_t sb = {0};
            tostr(R, &sb, &v, 0);
            emit(R, sb.p, sb.n, sb.tainted ? sb.tm : NULL);
            break;
        }
        case N_IF: {
            val_t c = eval(R, sc, x->a);
            if (truthy(&c)) exec_block(R, sc, x->b);
            else if (x->c) exec_block(R, sc, x->c);
            break;
        }
        case N_FOR: exec_for(R, sc, x); break;
        case N_SET: {
            val_t v = eval(R, sc, x->b);
            R->line = x->line;
            if (x->s2) {
                val_t *ns = lookup(sc, x->s, strlen(x->s));
                if (!ns || ns->t != V_NS) rerr(R, "{%% set %s.%s %%}: '%s' is not a namespace", x->s, x->s2, x->s);
                dict_set(R, ns->d, x->s2, strlen(x->s2), v);
            } else bind(R, sc, x->s, strlen(x->s), v);
            break;
        }
        case N_BREAK: R->brk = 1; break;
        case N_CONTINUE: R->brk = 2; break;
        case N_BLOCK: exec_block(R, sc, x); break;
        default: rerr(R, "internal: bad statement node %d", x->k);
        }
    }
    R->depth--;
}

/* The size a render's budgets grow with: bytes of every string and key, 16 per value. Deeper
 * than from_json accepts counts nothing (from_json refuses it). */
static size_t render_weight(json_t *j, int depth) {
    size_t w = 16;
    if (!j || depth > MAX_DEPTH + 1) return 0;
    switch (json_typeof(j)) {
    case JSON_STRING: return w + json_string_length(j);
    case JSON_ARRAY:
        for (size_t i = 0; i < json_array_size(j); i++) w += render_weight(json_array_get(j, i), depth + 1);
        return w;
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        json_object_foreach(j, k, x) w += strlen(k) + render_weight(x, depth + 1);
        return w;
    }
    default: return w;
    }
}

/* base + per_byte * w, at most cap (no overflow for any w). */
static unsigned long long budget(unsigned long long base, unsigned long long per_byte, size_t w,
                                 unsigned long long cap) {
    return w >= (cap - base) / per_byte ? cap : base + per_byte * w;
}

int jinja_render(const jinja_tpl_t *t, json_t *trusted, json_t *untrusted, tok_str_t *out, tok_str_t *taint,
                 lerr_t *e) {
    uni_init(); /* the class table strip() and split() read */
    size_t w = render_weight(trusted, 0) + render_weight(untrusted, 0);
    rctx_t R = {.out = out, .taint = taint, .e = e, .out0 = out->n};
    R.max_steps = budget(BASE_STEPS, STEPS_PER_BYTE, w, MAX_STEPS);
    R.max_out = (size_t)budget(BASE_OUT, OUT_PER_BYTE, w, MAX_OUT);
    R.ar.limit = (size_t)budget(BASE_ARENA, ARENA_PER_BYTE, w, MAX_ARENA);
    size_t taint0 = taint ? taint->n : 0;
    if (setjmp(R.jb)) {
        arena_free(&R.ar);
        out->n = R.out0;
        if (taint) taint->n = taint0;
        return -1;
    }
    scope_t top = {NULL, NULL};
    json_t *objs[2] = {trusted, untrusted};
    for (int k = 0; k < 2; k++) {
        if (!objs[k]) continue;
        if (!json_is_object(objs[k])) rerr(&R, "the variables must be a JSON object");
        const char *key;
        json_t *v;
        json_object_foreach(objs[k], key, v) bind(&R, &top, key, strlen(key), from_json(&R, v, k == 1, 0));
    }
    exec_block(&R, &top, t->root);
    if (out->n && tok_str_reserve(out, 0) == 0) out->p[out->n] = 0;
    arena_free(&R.ar);
    return 0;
}
