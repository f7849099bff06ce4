/* unicode.c — flat Unicode class table and UTF-8 helpers (validation with the maximal-subpart
 * replacement rule, so invalid input is repaired exactly as Rust's from_utf8_lossy, Node's
 * Buffer.toString and Python's errors="replace" do). */
#include "unicode.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

const uint8_t *uni_class_tab;
static uint8_t *tab_;
static pthread_once_t once_ = PTHREAD_ONCE_INIT;

static void build(void) {
    tab_ = calloc(0x110000, 1);
    if (!tab_) abort(); /* 1 MiB at start-up; nothing sensible to do without it */
    for (int t = 0; t < UNI_NTABLES; t++)
        for (size_t i = 0; i < UNI_TABLES[t].n; i++)
            for (uint32_t c = UNI_TABLES[t].r[i][0]; c <= UNI_TABLES[t].r[i][1]; c++)
                tab_[c] |= (uint8_t)UNI_TABLES[t].bit;
    uni_class_tab = tab_;
}

void uni_init(void) { pthread_once(&once_, build); }

int utf8_enc(uint32_t cp, uint8_t *o) {
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = 0xC0 | (cp >> 6);
        o[1] = 0x80 | (cp & 0x3F);
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = 0xE0 | (cp >> 12);
        o[1] = 0x80 | ((cp >> 6) & 0x3F);
        o[2] = 0x80 | (cp & 0x3F);
        return 3;
    }
    o[0] = 0xF0 | (cp >> 18);
    o[1] = 0x80 | ((cp >> 12) & 0x3F);
    o[2] = 0x80 | ((cp >> 6) & 0x3F);
    o[3] = 0x80 | (cp & 0x3F);
    return 4;
}

/* Length of the valid sequence starting at s, or 0 if invalid there. */
static inline size_t seq_len(const uint8_t *s, size_t n) {
    uint8_t c = s[0];
    if (c < 0x80) return 1;
    if (c < 0xC2) return 0;
    if (c < 0xE0) return (n >= 2 && (s[1] & 0xC0) == 0x80) ? 2 : 0;
    if (c < 0xF0) {
        if (n < 3) return 0;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
        return (s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80) ? 3 : 0;
    }
    if (c < 0xF5) {
        if (n < 4) return 0;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
        return (s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80) ? 4 : 0;
    }
    return 0;
}

size_t utf8_valid_prefix(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) { /* 8 ASCII bytes at a time, or up to the first non-ASCII one */
            uint64_t w;
            memcpy(&w, s + i, 8);
            uint64_t hi = w & 0x8080808080808080ULL;
            if (!hi) {
                i += 8;
                continue;
            }
            i += (size_t)__builtin_ctzll(hi) >> 3;
        }
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        if (s[i] >= 0xC2 && s[i] < 0xE0 && i + 1 < n && (s[i + 1] & 0xC0) == 0x80) {
            i += 2;
            continue;
        } /* 2 bytes: Ġ, é */
        size_t l = seq_len(s + i, n - i);
        if (!l) return i;
        i += l;
    }
    return n;
}

size_t utf8_invalid_len(const uint8_t *s, size_t n) {
    uint8_t c = s[0];
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c < 0xE0) need = 2;
    else if (c >= 0xE0 && c < 0xF0) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c < 0xF5) {
        need = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return 1;
    size_t i = 1;
    if (i < n && i < need && s[i] >= lo && s[i] <= hi) {
        i++;
        while (i < n && i < need && (s[i] & 0xC0) == 0x80) i++;
    }
    return i;
}

uint8_t *utf8_sanitize(const uint8_t *s, size_t n, size_t *outlen) {
    size_t v = utf8_valid_prefix(s, n);
    uint8_t *o = malloc(v == n ? n + 1 : n * 3 + 1);
    if (!o) return NULL;
    memcpy(o, s, v);
    size_t j = v, i = v;
    while (i < n) {
        size_t l = seq_len(s + i, n - i);
        if (l) {
            memcpy(o + j, s + i, l);
            j += l;
            i += l;
            continue;
        }
        i += utf8_invalid_len(s + i, n - i);
        o[j++] = 0xEF;
        o[j++] = 0xBF;
        o[j++] = 0xBD;
    }
    o[j] = 0;
    *outlen = j;
    return o;
}
