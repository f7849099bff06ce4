/* unicode.h — UTF-8 decoding and the Unicode classes the pre-tokenizers need.
 *
 * Classes come from tok/unicode_tables.c (generated from HF tokenizers' own regex engine by
 * scripts/gen_unicode_tables.js, Unicode 16.0) and are expanded once into a flat byte table,
 * one byte of UNI_* bits per code point, so a class test is one load.
 */
#ifndef TOK_UNICODE_H
#define TOK_UNICODE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

enum {
    UNI_L = 1,
    UNI_N = 2,
    UNI_M = 4,
    UNI_WS = 8, /* \p{L} \p{N} \p{M} \s */
    UNI_LU = 16,
    UNI_LL = 32,
    UNI_LT = 64,
    UNI_LM = 128, /* letter subcategories (Lo = L minus these) */
};

typedef struct {
    int bit;
    const uint32_t (*r)[2];
    size_t n;
} uni_range_table_t;
extern const uni_range_table_t UNI_TABLES[];
extern const int UNI_NTABLES;

/* Flat class table (0x110000 entries), built on first use (thread-safe). */
extern const uint8_t *uni_class_tab;
void uni_init(void);
static inline uint8_t uni_class(uint32_t cp) { return cp < 0x110000 ? uni_class_tab[cp] : 0; }

/* Decode one code point from valid UTF-8 at s (n bytes left, n >= 1); sets *len. */
static inline uint32_t utf8_dec(const uint8_t *s, size_t n, int *len) {
    uint8_t c = s[0];
    if (c < 0x80 || n < 2) {
        *len = 1;
        return c;
    }
    if (c < 0xE0) {
        *len = 2;
        return ((uint32_t)(c & 0x1F) << 6) | (s[1] & 0x3F);
    }
    if (c < 0xF0 || n < 4) {
        *len = 3;
        return ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    }
    *len = 4;
    return ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) | ((uint32_t)(s[2] & 0x3F) << 6) |
           (s[3] & 0x3F);
}
/* Encode cp as UTF-8 into out (>= 4 bytes); returns the length. */
int utf8_enc(uint32_t cp, uint8_t *out);

/* Length of the longest valid UTF-8 prefix of s[0..n) (n if all valid). */
size_t utf8_valid_prefix(const uint8_t *s, size_t n);
/* Length of one maximal invalid subpart at s (>= 1): what WHATWG / Rust from_utf8_lossy /
 * Python 'replace' turn into one U+FFFD. */
size_t utf8_invalid_len(const uint8_t *s, size_t n);
/* Copy s[0..n) to a new NUL-terminated buffer, invalid sequences replaced by U+FFFD
 * (maximal-subpart rule). *outlen gets the length. Caller frees. NULL on OOM. */
uint8_t *utf8_sanitize(const uint8_t *s, size_t n, size_t *outlen);

#endif
