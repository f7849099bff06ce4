/* scan.c — hand-written scanners equal to the pre-tokenizer regexes of scan.h.
 *
 * One function per family, each a direct transcription of its regex's alternatives tried in
 * order at the current position (what a backtracking engine does), with the backtracking
 * resolved in closed form: e.g. \s*[\r\n]+ ends after the LAST CR/LF of the whitespace run and
 * \s+(?!\S) gives back exactly one character unless the run reaches the section end.
 * Character classes come from the generated Unicode 16 table (unicode.h).
 */
#include "scan.h"
#include "unicode.h"
#include <string.h>

static const char *PAT[] = {
    [SCAN_GPT2] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
    [SCAN_CL100K] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
                    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    [SCAN_QWEN2] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
                   "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    [SCAN_O200K] =
        "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|"
        "'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'"
        "re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
};
/* Same pieces as QWEN2 (possessive quantifiers never give back here; verified in tokenizer.md §1.2). */
static const char *LLADA_PAT = "'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}+|\\p{N}| "
                               "?[^\\s\\p{L}\\p{N}]++[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+";

scan_kind_t scan_detect(const char *p) {
    for (int k = SCAN_GPT2; k <= SCAN_O200K; k++)
        if (strcmp(p, PAT[k]) == 0) return (scan_kind_t)k;
    if (strcmp(p, LLADA_PAT) == 0) return SCAN_QWEN2;
    /* GPT-2's regex is also written with (?i:) absent and \p{L} etc.; only exact forms count. */
    return SCAN_NONE;
}
const char *scan_pattern(scan_kind_t k) {
    return k == SCAN_QWEN2 ? LLADA_PAT : (k >= SCAN_GPT2 && k <= SCAN_O200K ? PAT[k] : NULL);
}
const char *scan_name(scan_kind_t k) {
    static const char *n[] = {"none", "gpt2", "cl100k", "qwen2", "o200k"};
    return n[k];
}
scan_kind_t scan_by_name(const char *s) {
    if (!strcmp(s, "gpt2")) return SCAN_GPT2;
    if (!strcmp(s, "cl100k") || !strcmp(s, "llama3")) return SCAN_CL100K;
    if (!strcmp(s, "qwen2") || !strcmp(s, "llada") || !strcmp(s, "ling")) return SCAN_QWEN2;
    if (!strcmp(s, "o200k")) return SCAN_O200K;
    return SCAN_NONE;
}

/* Class bits of the char at s (n >= 1 bytes); *len = its byte length. CR/LF get X_CRLF. */
enum { X_CRLF = 0x100, X_APOS = 0x200 };
static inline unsigned cls(const uint8_t *s, size_t n, int *len) {
    if (s[0] < 0x80) {
        *len = 1;
        unsigned c = uni_class_tab[s[0]];
        if (s[0] == '\r' || s[0] == '\n') c |= X_CRLF;
        return c;
    }
    return uni_class(utf8_dec(s, n, len));
}
#define IS_L(c) ((c)&UNI_L)
#define IS_N(c) ((c)&UNI_N)
#define IS_WS(c) ((c)&UNI_WS)
#define IS_PUNCT(c) (!((c) & (UNI_L | UNI_N | UNI_WS)))  /* [^\s\p{L}\p{N}] */
#define IS_PREFIX(c) (!((c) & (UNI_L | UNI_N | X_CRLF))) /* [^\r\n\p{L}\p{N}] */

/* Contraction at s (s[0] == '\''): length of 's 't 're 've 'm 'll 'd, 0 if none.
 * Case-insensitive matching uses Unicode simple case folding, which adds only U+017F (ſ) -> s. */
static size_t contraction(const uint8_t *s, size_t n, int icase) {
    if (n < 2 || s[0] != '\'') return 0;
    uint8_t a = s[1], b = n >= 3 ? s[2] : 0;
    if (icase) {
        if (a == 0xC5 && b == 0xBF) return 3; /* 'ſ */
        a |= (a >= 'A' && a <= 'Z') ? 0x20 : 0;
        b |= (b >= 'A' && b <= 'Z') ? 0x20 : 0;
    }
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

static size_t run_while(const uint8_t *s, size_t n, size_t i, unsigned want, unsigned reject) {
    while (i < n) {
        int l;
        unsigned c = cls(s + i, n - i, &l);
        if (!(c & want) || (c & reject)) break;
        i += l;
    }
    return i;
}
static size_t run_punct(const uint8_t *s, size_t n, size_t i) {
    while (i < n) {
        int l;
        unsigned c = cls(s + i, n - i, &l);
        if (!IS_PUNCT(c)) break;
        i += l;
    }
    return i;
}
static size_t run_bytes(const uint8_t *s, size_t n, size_t i, const char *set) {
    while (i < n && s[i] && strchr(set, s[i])) i++;
    return i;
}

/* The three whitespace alternatives, given c0 is whitespace. crlf: try \s*[\r\n]+ first. */
static size_t ws_tail(const uint8_t *s, size_t n, int crlf) {
    size_t i = 0, last_crlf = 0, last_start = 0, nchars = 0;
    int have_crlf = 0;
    while (i < n) {
        int l;
        unsigned c = cls(s + i, n - i, &l);
        if (!IS_WS(c)) break;
        if (c & X_CRLF) {
            have_crlf = 1;
            last_crlf = i;
        }
        last_start = i;
        i += l;
        nchars++;
    }
    if (crlf && have_crlf) return last_crlf + 1; /* \s*[\r\n]+ */
    if (i == n || nchars == 1) return i;         /* \s+(?!\S) at the end, or \s+ */
    return last_start;                           /* \s+(?!\S): give back one char */
}

static size_t next_gpt2(const uint8_t *s, size_t n) {
    size_t m = contraction(s, n, 0);
    if (m) return m;
    int l0, l1 = 0;
    unsigned c0 = cls(s, n, &l0), c1 = 0;
    size_t st = 0;
    if (s[0] == ' ' && n > 1) {
        c1 = cls(s + 1, n - 1, &l1);
        st = 1;
    }
    unsigned c = st ? c1 : c0;
    if (st && !(IS_L(c1) || IS_N(c1) || IS_PUNCT(c1))) {
        st = 0;
        c = c0;
    }
    if (IS_L(c)) return run_while(s, n, st, UNI_L, 0);
    if (IS_N(c)) return run_while(s, n, st, UNI_N, 0);
    if (IS_PUNCT(c)) return run_punct(s, n, st);
    return ws_tail(s, n, 0);
}

/* cl100k (digits up to 3) and Qwen2/LLaDA (one digit). */
static size_t next_cl(const uint8_t *s, size_t n, int maxdig) {
    int l0;
    unsigned c0 = cls(s, n, &l0);
    if (s[0] == '\'') {
        size_t m = contraction(s, n, 1);
        if (m) return m;
    }
    if (IS_L(c0)) return run_while(s, n, l0, UNI_L, 0);
    if (IS_PREFIX(c0) && (size_t)l0 < n) {
        int l1;
        unsigned c1 = cls(s + l0, n - l0, &l1);
        if (IS_L(c1)) return run_while(s, n, l0 + l1, UNI_L, 0);
    }
    if (IS_N(c0)) {
        size_t i = l0;
        for (int d = 1; d < maxdig && i < n; d++) {
            int l;
            unsigned c = cls(s + i, n - i, &l);
            if (!IS_N(c)) break;
            i += l;
        }
        return i;
    }
    size_t st = IS_PUNCT(c0) ? 0 : (s[0] == ' ' && n > 1) ? 1 : (size_t)-1;
    if (st == 1) {
        int l;
        if (!IS_PUNCT(cls(s + 1, n - 1, &l))) st = (size_t)-1;
    }
    if (st != (size_t)-1) return run_bytes(s, n, run_punct(s, n, st), "\r\n");
    return ws_tail(s, n, 1);
}

/* o200k letter classes. */
#define O_A(c) (((c) & (UNI_LU | UNI_LT | UNI_LM | UNI_M)) || IS_LO(c))
#define O_B(c) (((c) & (UNI_LL | UNI_LM | UNI_M)) || IS_LO(c))
#define IS_LO(c) (((c)&UNI_L) && !((c) & (UNI_LU | UNI_LL | UNI_LT | UNI_LM)))

static size_t o_run(const uint8_t *s, size_t n, size_t i, int b) {
    while (i < n) {
        int l;
        unsigned c = cls(s + i, n - i, &l);
        if (!(b ? O_B(c) : O_A(c))) break;
        i += l;
    }
    return i;
}
static size_t prev_char(const uint8_t *s, size_t i) {
    do i--;
    while (i && (s[i] & 0xC0) == 0x80);
    return i;
}

/* [A]*[B]+ from st: end of the match, or 0 if none. */
static size_t o_alt1(const uint8_t *s, size_t n, size_t st) {
    size_t aend = o_run(s, n, st, 0);
    for (size_t k = aend;;) {
        if (k < n) {
            int l;
            unsigned c = cls(s + k, n - k, &l);
            if (O_B(c)) return o_run(s, n, k + l, 1);
        }
        if (k == st) return 0;
        k = prev_char(s, k);
    }
}

static size_t next_o200k(const uint8_t *s, size_t n) {
    int l0;
    unsigned c0 = cls(s, n, &l0);
    size_t starts[2];
    int ns = 0;
    if (IS_PREFIX(c0) && (size_t)l0 < n) starts[ns++] = l0;
    starts[ns++] = 0;
    for (int alt = 0; alt < 2; alt++)
        for (int j = 0; j < ns; j++) {
            size_t e = 0, st = starts[j];
            if (alt == 0) e = o_alt1(s, n, st);
            else {
                size_t a = o_run(s, n, st, 0);
                if (a > st) e = o_run(s, n, a, 1);
            }
            if (e) return e + contraction(s + e, n - e, 1);
        }
    if (IS_N(c0)) {
        size_t i = l0;
        for (int d = 1; d < 3 && i < n; d++) {
            int l;
            if (!IS_N(cls(s + i, n - i, &l))) break;
            i += l;
        }
        return i;
    }
    size_t st = IS_PUNCT(c0) ? 0 : (s[0] == ' ' && n > 1) ? 1 : (size_t)-1;
    if (st == 1) {
        int l;
        if (!IS_PUNCT(cls(s + 1, n - 1, &l))) st = (size_t)-1;
    }
    if (st != (size_t)-1) return run_bytes(s, n, run_punct(s, n, st), "\r\n/");
    return ws_tail(s, n, 1);
}

size_t scan_next(scan_kind_t k, const uint8_t *s, size_t n) {
    switch (k) {
    case SCAN_GPT2: return next_gpt2(s, n);
    case SCAN_CL100K: return next_cl(s, n, 3);
    case SCAN_QWEN2: return next_cl(s, n, 1);
    case SCAN_O200K: return next_o200k(s, n);
    default: {
        int l;
        utf8_dec(s, n, &l);
        return l;
    }
    }
}
