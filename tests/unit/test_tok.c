/* test_tok.c — unit tests of the tokenizer core against independent references:
 *  - hand scanners vs PCRE2 running the very regexes they replace (random strings over a pool
 *    of characters whose classes are the same in PCRE2's Unicode 14 and our Unicode 16);
 *  - BPE plain-scan merge loop vs the heap merge loop (HF's algorithm) on random merge tables;
 *  - UTF-8 repair vs the Unicode Standard's worked example (ch. 3, "U+FFFD substitution of
 *    maximal subparts"), and load errors naming JSON paths. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include "testlib.h"
#include "tok/tok_int.h"
#include "tok/unicode.h"
#include "tok/json.h"

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint32_t rnd(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return (uint32_t)(rng >> 11); }

static const uint32_t POOL[] = {
    'a', 'b', 'Z', 's', 't', 'd', 'm', 'l', 'r', 'e', 'v', 'S', 'T', 'L', 'E', '\'', '\'', ' ', ' ', ' ',
    '\t', '\n', '\r', '\v', '\f', '0', '7', '.', ',', '!', '/', '-', '(', '_', 0xA0, 0x3000, 0x2003,
    0xE9, 0xDF, 0x3A9, 0x436, 0x4E2D, 0x3042, 0x663, 0x2460, 0xB2, 0xBD, 0x2163, 0x301, 0x308, 0x2014,
    0x2026, 0xAB, 0x1F600, 0x200D, 0x17F, 0x212A, 0x1C5, 0x2B0, 0xAA, 0x85, 0x2028,
};

static size_t random_text(uint8_t *buf) {
    size_t n = 0, len = rnd() % 40;
    for (size_t i = 0; i < len; i++) n += utf8_enc(POOL[rnd() % (sizeof POOL / sizeof *POOL)], buf + n);
    return n;
}

static void test_scanners(void) {
    for (int k = SCAN_GPT2; k <= SCAN_O200K; k++) {
        int err; PCRE2_SIZE off;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)scan_pattern(k), PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &off, NULL);
        CHECK(re, "%s regex compiles", scan_name(k));
        if (!re) continue;
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
        int bad = 0;
        for (int it = 0; it < 20000 && bad < 3; it++) {
            uint8_t s[200];
            size_t n = random_text(s);
            for (size_t i = 0; i < n;) {
                int rc = pcre2_match(re, s, n, i, 0, md, NULL);
                size_t want = rc > 0 ? pcre2_get_ovector_pointer(md)[1] - i : 0;
                size_t got = scan_next(k, s + i, n - i);
                if (rc <= 0 || pcre2_get_ovector_pointer(md)[0] != i || want != got) {
                    bad++;
                    CHECK(0, "%s: at byte %zu of a %zu-byte string: scanner %zu bytes, PCRE2 %zu", scan_name(k), i, n, got, want);
                    break;
                }
                i += got;
            }
        }
        CHECK(bad == 0, "%s scanner == PCRE2 on 20000 random strings", scan_name(k));
        pcre2_match_data_free(md);
        pcre2_code_free(re);
    }
    CHECK(scan_detect(scan_pattern(SCAN_QWEN2)) == SCAN_QWEN2, "LLaDA's possessive regex detected as the Qwen2 family");
    CHECK(scan_detect("\\s+|x") == SCAN_NONE, "an unknown regex is not taken for a known one");
}

/* A tokenizer with vocabulary a..h plus every merge result, random merges. */
static tokenizer_t *random_bpe(int nmerges) {
    char *json = malloc(1 << 20);
    size_t k = (size_t)sprintf(json, "{\"model\":{\"type\":\"BPE\",\"vocab\":{");
    char tok[512][64]; int n = 0;
    for (int c = 0; c < 8; c++) { tok[n][0] = (char)('a' + c); tok[n][1] = 0; n++; }
    char merges[1 << 16]; size_t mk = 0;
    for (int m = 0; m < nmerges && n < 500; m++) {
        int a = rnd() % n, b = rnd() % n;
        if (strlen(tok[a]) + strlen(tok[b]) >= 60) continue;
        char cat[128]; snprintf(cat, sizeof cat, "%s%s", tok[a], tok[b]);
        int dup = 0;
        for (int i = 0; i < n; i++) if (!strcmp(tok[i], cat)) dup = 1;
        mk += sprintf(merges + mk, "%s\"%s %s\"", mk ? "," : "", tok[a], tok[b]);
        if (!dup) strcpy(tok[n++], cat);
    }
    for (int i = 0; i < n; i++) k += sprintf(json + k, "%s\"%s\":%d", i ? "," : "", tok[i], i);
    k += sprintf(json + k, "},\"merges\":[%s]}}", merges);
    lerr_t e = {0};
    tokenizer_t *t = tok_load_json(json, k, &e);
    CHECK(t, "random BPE loads: %s", e.msg);
    free(json);
    return t;
}

static void test_bpe_merge_loops(void) {
    for (int round = 0; round < 20; round++) {
        tokenizer_t *t = random_bpe(300);
        if (!t) return;
        int bad = 0;
        for (int it = 0; it < 500; it++) {
            int n = 1 + rnd() % 90;
            int32_t a[96], b[96];
            for (int i = 0; i < n; i++) a[i] = b[i] = rnd() % 8;
            int na = bpe_merge_linear(t, a, n), nb = bpe_merge_heap(t, b, n);
            if (na != nb || memcmp(a, b, na * sizeof *a)) bad++;
        }
        CHECK(bad == 0, "round %d: plain-scan merge == heap merge on 500 random words (%d differ)", round, bad);
        tok_destroy(&t);
    }
}

/* A SentencePiece-like model without pre-tokenizer: characters a b c d \u2581 \u00e9 \u4e2d,
 * byte-fallback tokens for some bytes, <unk>, random merges that mostly do not put \u2581 on
 * the right of a non-\u2581 (so long pieces have places to cut), optionally one token under a
 * second key (an id whose keys disagree on their edge characters). */
static tokenizer_t *random_spm(bool byte_fallback, bool fuse_unk, bool dup_key) {
    static const char *base[] = {"a", "b", "c", "d", "\xE2\x96\x81", "\xC3\xA9", "\xE4\xB8\xAD", "<unk>",
                                 "<0x78>", "<0xD0>", "<0xB6>", "<0x79>"};
    char (*tok)[96] = malloc(600 * sizeof *tok);
    char *json = malloc(1 << 20), *merges = malloc(1 << 16);
    int n = 0; size_t mk = 0;
    for (size_t i = 0; i < sizeof base / sizeof *base; i++) strcpy(tok[n++], base[i]);
    for (int m = 0; m < 400 && n < 590; m++) {
        int a = rnd() % n, b = rnd() % n;
        size_t la = strlen(tok[a]);
        bool right_sp = !strncmp(tok[b], "\xE2\x96\x81", 3);
        bool left_sp = la >= 3 && !strcmp(tok[a] + la - 3, "\xE2\x96\x81");
        if ((right_sp && !left_sp && rnd() % 20) || la + strlen(tok[b]) >= 90) continue;
        char cat[192]; snprintf(cat, sizeof cat, "%s%s", tok[a], tok[b]);
        int dup = 0;
        for (int i = 0; i < n; i++) if (!strcmp(tok[i], cat)) dup = 1;
        mk += sprintf(merges + mk, "%s\"%s %s\"", mk ? "," : "", tok[a], tok[b]);
        if (!dup) strcpy(tok[n++], cat);
    }
    size_t k = (size_t)sprintf(json, "{\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"byte_fallback\":%s,"
                               "\"fuse_unk\":%s,\"vocab\":{", byte_fallback ? "true" : "false", fuse_unk ? "true" : "false");
    for (int i = 0; i < n; i++) k += sprintf(json + k, "%s\"%s\":%d", i ? "," : "", tok[i], i);
    if (dup_key) k += sprintf(json + k, ",\"q\":%d", 4);   /* "q" shares \u2581's id */
    k += sprintf(json + k, "},\"merges\":[%s]}}", merges);
    lerr_t e = {0};
    tokenizer_t *t = tok_load_json(json, k, &e);
    CHECK(t, "random SentencePiece-like BPE loads: %s", e.msg);
    free(json); free(merges); free(tok);
    return t;
}

/* Long pieces are cut where no merge can cross (bpe.c); the result must equal merging the
 * whole piece (bpe_piece_whole). */
static void test_bpe_long_pieces(void) {
    static const char *pool[] = {"a", "b", "c", "d", "\xE2\x96\x81", "\xE2\x96\x81", "\xE2\x96\x81", "\xC3\xA9",
                                 "\xE4\xB8\xAD", "x", "y", "\xD0\xB6", "q", "z"};
    for (int round = 0; round < 16; round++) {
        tokenizer_t *t = random_spm(round & 1, round & 2, round & 4);
        if (!t) return;
        int bad = 0, cuts = 0;
        for (int it = 0; it < 300; it++) {
            char s[4096]; size_t n = 0, len = 70 + rnd() % 600;
            for (size_t i = 0; i < len; i++) { const char *c = pool[rnd() % (sizeof pool / sizeof *pool)]; memcpy(s + n, c, strlen(c)); n += strlen(c); }
            tok_ids_t a = {0}, b = {0};
            lerr_t e = {0};
            int ra = bpe_piece(t, (const uint8_t *)s, n, &a, &e), rb = bpe_piece_whole(t, (const uint8_t *)s, n, &b, &e);
            if (ra || rb || a.n != b.n || memcmp(a.v, b.v, a.n * sizeof *a.v)) bad++;
            tok_ids_free(&a); tok_ids_free(&b);
        }
        /* only pieces over 64 bytes were encoded, and those are never cached whole: a filled
         * hot cache means parts were cut out (else this would test nothing) */
        cuts = t->hot != NULL;
        CHECK(bad == 0 && cuts, "round %d (byte_fallback %d, fuse_unk %d, shared id %d): cut long pieces == whole-piece merge on 300 random texts (%d differ)",
              round, round & 1, (round >> 1) & 1, (round >> 2) & 1, bad);
        tok_destroy(&t);
    }
}

static void test_utf8(void) {
    /* Unicode Standard ch. 3 (U+FFFD substitution of maximal subparts), Table 3-8's example */
    const uint8_t in[] = {0x61, 0xF1, 0x80, 0x80, 0xE1, 0x80, 0xC2, 0x62, 0x80, 0x63, 0x80, 0xBF, 0x64};
    const char *want = "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\xEF\xBF\xBD\xEF\xBF\xBD" "d";
    size_t n;
    uint8_t *o = utf8_sanitize(in, sizeof in, &n);
    CHECK(o && n == strlen(want) && !memcmp(o, want, n), "maximal-subpart replacement (Table 3-8)");
    free(o);
    const uint8_t sur[] = {0xED, 0xA0, 0x80, 'x'};   /* a surrogate: each byte is its own subpart */
    o = utf8_sanitize(sur, sizeof sur, &n);
    CHECK(o && n == 10 && o[9] == 'x', "encoded surrogate -> three U+FFFD");
    free(o);
    CHECK(utf8_valid_prefix((const uint8_t *)"abc\xC3\xA9", 5) == 5, "valid text passes");
}

static void test_load_errors(void) {
    struct { const char *json, *want; } cases[] = {
        {"{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}", "$.model.type"},
        {"{\"model\":{\"vocab\":{\"a\":0},\"merges\":[\"a b\"]}}", "$.model.merges[0]"},
        {"{\"model\":{\"vocab\":{},\"merges\":[]},\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFC\"},{\"type\":\"Lowercase\"}]}}",
         "$.normalizer.normalizers[1].type"},
        {"{\"model\":{\"vocab\":{},\"merges\":[]},\"decoder\":{\"type\":\"WordPiece\"}}", "$.decoder.type"},
        {"{\"model\":{\"vocab\":{},\"merges\":[],\"dropout\":0.1}}", "$.model.dropout"},
        {"{\"model\":{\"vocab\":{},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(\"},\"behavior\":\"Isolated\"}}",
         "$.pre_tokenizer.pattern.Regex"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        lerr_t e = {0};
        tokenizer_t *t = tok_load_json(cases[i].json, strlen(cases[i].json), &e);
        CHECK(!t && e.code == EXIT_DATA && strstr(e.msg, cases[i].want), "case %zu refused naming %s: %s", i, cases[i].want, e.msg);
        tok_destroy(&t);
    }
}

static void test_json(void) {
    char doc[] = "{\"a\": \"x\\u00e9\\ud83d\\ude00\\n\\\"\", \"b\": [1, -2.5e3, true, false, null, {}, []],"
                 " \"c\": {\"d\": [[2], 3]}, \"a\": 9}";
    jdoc_t d; int line, col; const char *msg = NULL;
    const jv_t *r = jdoc_parse(&d, doc, strlen(doc), &line, &col, &msg);
    CHECK(r && jv_size(r) == 4, "object with 4 members parses (%s)", msg ? msg : "");
    const jv_t *a = jv_get(r, "a");
    CHECK(a && jv_len(a) == 9 && !memcmp(jv_str(a), "x\xC3\xA9\xF0\x9F\x98\x80\n\"", 9), "escapes and a surrogate pair decode to UTF-8");
    const jv_t *b = jv_get(r, "b");
    CHECK(jv_size(b) == 7 && jv_int(jv_at(b, 0)) == 1 && jv_num(jv_at(b, 1)) == -2500 && jv_bool(jv_at(b, 2), false) &&
          !jv_bool(jv_at(b, 3), true) && jv_is(jv_at(b, 4), JV_NULL) && jv_is(jv_at(b, 5), JV_OBJ) && jv_size(jv_at(b, 6)) == 0,
          "array of mixed values");
    const jv_t *dd = jv_get(jv_get(r, "c"), "d");
    CHECK(jv_size(dd) == 2 && jv_int(jv_at(jv_at(dd, 0), 0)) == 2 && jv_int(jv_at(dd, 1)) == 3, "nested arrays and sibling skip");
    CHECK(jv_int(jv_get(r, "a")) == 0 && jv_is(jv_get(r, "a"), JV_STR), "duplicate key: first wins");
    jdoc_free(&d);
    const char *bad[] = {"{\"a\": }", "[1, 2,]", "{\"a\" 1}", "\"abc", "[1] x", "{\"a\": tru}", "", "[\"\\q\"]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char buf[64]; size_t n = strlen(bad[i]); memcpy(buf, bad[i], n + 1);
        CHECK(!jdoc_parse(&d, buf, n, &line, &col, &msg) && msg, "malformed JSON %zu refused", i);
    }
}

int main(void) {
    uni_init();
    test_scanners();
    test_bpe_merge_loops();
    test_bpe_long_pieces();
    test_utf8();
    test_load_errors();
    test_json();
    return TEST_SUMMARY();
}
