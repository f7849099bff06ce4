/* load.c — tokenizer.json -> tokenizer_t.
 *
 * Everything HF's format allows for BPE models is either implemented or refused with an error
 * that names the JSON path ("$.pre_tokenizer.pretokenizers[1].type: unsupported \"Whitespace\""),
 * so a file is never silently tokenized differently. A byte-level model (pre-tokenizer ending in
 * ByteLevel) gets its vocabulary converted to raw bytes here, so encoding never maps bytes to the
 * GPT-2 alphabet and back.
 *
 * tok_load_file keeps the vocabulary and merge tables of files of 1 MB or more in a binary cache
 * (cache.c): a later load of the same content maps them and parses only the rest of the JSON
 * (a few kB), through the same code as a full load.
 */
#include "tok_int.h"
#include "cache.h"
#include "json.h"
#include "mem.h"
#include "nfc.h"
#include "unicode.h"
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int bad(lerr_t *e, const char *path, const char *fmt, const char *arg) {
    char m[400];
    snprintf(m, sizeof m, fmt, arg);
    return lerr_set(e, EXIT_DATA, "tokenizer.json %s: %s", path, m);
}
static inline bool jv_is_str(const jv_t *x) { return jv_is(x, JV_STR); }
static inline bool jv_is_arr(const jv_t *x) { return jv_is(x, JV_ARR); }
static inline bool jv_is_obj(const jv_t *x) { return jv_is(x, JV_OBJ); }

static const char *type_of(const jv_t *o) {
    const jv_t *t = jv_get(o, "type");
    return jv_is_str(t) ? jv_str(t) : NULL;
}
static bool getb(const jv_t *o, const char *k, bool dflt) {
    const jv_t *v = jv_get(o, k);
    return jv_bool(v, dflt);
}
static char *sdup(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}
/* A one-character replacement string (Metaspace). */
static int one_char(const jv_t *v, char *out, int *len, const char *path, lerr_t *e) {
    if (!jv_is_str(v)) return bad(e, path, "%s", "must be a string");
    size_t n = jv_len(v);
    if (n < 1 || n > 4) return bad(e, path, "%s", "must be one character");
    memcpy(out, jv_str(v), n);
    *len = (int)n;
    return 0;
}

/* ---- normalizer ---- */
static int add_norm(tokenizer_t *t, norm_op_t op) {
    norm_op_t *x = realloc(t->norm, (t->n_norm + 1) * sizeof *x);
    if (!x) return -1;
    t->norm = x;
    t->norm[t->n_norm++] = op;
    return 0;
}
static int load_norm(tokenizer_t *t, const jv_t *o, const char *path, lerr_t *e) {
    char p[256];
    if (jv_is_null(o)) return 0;
    const char *ty = type_of(o);
    if (!ty) return bad(e, path, "%s", "missing \"type\"");
    norm_op_t op = {0};
    if (!strcmp(ty, "Sequence")) {
        const jv_t *a = jv_get(o, "normalizers");
        if (!jv_is_arr(a)) return bad(e, path, "%s", "Sequence without \"normalizers\" array");
        for (size_t i = 0; i < jv_size(a); i++) {
            snprintf(p, sizeof p, "%s.normalizers[%zu]", path, i);
            if (load_norm(t, jv_at(a, i), p, e)) return -1;
        }
        return 0;
    } else if (!strcmp(ty, "NFC")) op.kind = NORM_NFC;
    else if (!strcmp(ty, "Prepend")) {
        const jv_t *v = jv_get(o, "prepend");
        if (!jv_is_str(v)) return bad(e, path, "%s", "Prepend without \"prepend\" string");
        op.kind = NORM_PREPEND;
        op.alen = jv_len(v);
        op.a = sdup(jv_str(v), op.alen);
    } else if (!strcmp(ty, "Replace")) {
        const jv_t *pat = jv_get(o, "pattern"), *c = jv_get(o, "content");
        const jv_t *s = jv_get(pat, "String");
        if (!jv_is_str(s) || !jv_is_str(c)) {
            snprintf(p, sizeof p, "%s.pattern", path);
            return bad(e, p, "%s", "only {\"String\": ...} patterns are supported in a Replace normalizer");
        }
        op.kind = NORM_REPLACE;
        op.alen = jv_len(s);
        op.a = sdup(jv_str(s), op.alen);
        op.blen = jv_len(c);
        op.b = sdup(jv_str(c), op.blen);
    } else if (!strcmp(ty, "Strip")) {
        op.kind = NORM_STRIP;
        op.left = getb(o, "strip_left", true);
        op.right = getb(o, "strip_right", true);
    } else {
        snprintf(p, sizeof p, "%s.type", path);
        return bad(e, p, "unsupported normalizer \"%s\"", ty);
    }
    if (add_norm(t, op)) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    return 0;
}

/* ---- pre-tokenizer ---- */
static int add_pt(tokenizer_t *t, pt_step_t st) {
    pt_step_t *x = realloc(t->pt, (t->n_pt + 1) * sizeof *x);
    if (!x) return -1;
    t->pt = x;
    t->pt[t->n_pt++] = st;
    return 0;
}
static int prepend_scheme(const jv_t *o, const char *path, lerr_t *e) {
    const jv_t *ps = jv_get(o, "prepend_scheme");
    if (jv_is_str(ps)) {
        const char *s = jv_str(ps);
        if (!strcmp(s, "always")) return PS_ALWAYS;
        if (!strcmp(s, "first")) return PS_FIRST;
        if (!strcmp(s, "never")) return PS_NEVER;
        return bad(e, path, "unknown prepend_scheme \"%s\"", s) ? -1 : -1;
    }
    return getb(o, "add_prefix_space", true) ? PS_ALWAYS : PS_NEVER;
}
static int load_pt(tokenizer_t *t, const jv_t *o, const char *path, lerr_t *e) {
    char p[256];
    if (jv_is_null(o)) return 0;
    const char *ty = type_of(o);
    if (!ty) return bad(e, path, "%s", "missing \"type\"");
    pt_step_t st = {0};
    if (!strcmp(ty, "Sequence")) {
        const jv_t *a = jv_get(o, "pretokenizers");
        if (!jv_is_arr(a)) return bad(e, path, "%s", "Sequence without \"pretokenizers\" array");
        for (size_t i = 0; i < jv_size(a); i++) {
            snprintf(p, sizeof p, "%s.pretokenizers[%zu]", path, i);
            if (load_pt(t, jv_at(a, i), p, e)) return -1;
        }
        return 0;
    } else if (!strcmp(ty, "Split")) {
        st.kind = PT_SPLIT;
        const jv_t *pat = jv_get(o, "pattern");
        const jv_t *re = jv_get(pat, "Regex"), *s = jv_get(pat, "String");
        const char *beh = jv_str(jv_get(o, "behavior"));
        static const char *B[] = {"Isolated", "Removed", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
        st.behavior = -1;
        for (int i = 0; beh && i < 5; i++)
            if (!strcmp(beh, B[i])) st.behavior = i;
        snprintf(p, sizeof p, "%s.behavior", path);
        if (st.behavior < 0) return bad(e, p, "unsupported split behavior \"%s\"", beh ? beh : "(missing)");
        st.invert = getb(o, "invert", false);
        if (jv_is_str(re)) {
            st.scan = scan_detect(jv_str(re));
            if (!st.scan) {
                snprintf(p, sizeof p, "%s.pattern.Regex", path);
                if (split_compile_regex(&st, jv_str(re), e)) return lerr_wrap(e, "tokenizer.json %s", p);
            }
        } else if (jv_is_str(s)) {
            st.litlen = jv_len(s);
            st.lit = sdup(jv_str(s), st.litlen);
        } else {
            snprintf(p, sizeof p, "%s.pattern", path);
            return bad(e, p, "%s", "must be {\"Regex\": ...} or {\"String\": ...}");
        }
    } else if (!strcmp(ty, "ByteLevel")) {
        st.kind = PT_BYTELEVEL;
        st.add_prefix_space = getb(o, "add_prefix_space", true);
        st.use_regex = getb(o, "use_regex", true);
    } else if (!strcmp(ty, "Metaspace")) {
        st.kind = PT_METASPACE;
        const jv_t *r = jv_get(o, "replacement");
        if (r && one_char(r, st.repl, &st.repl_len, path, e)) return -1;
        if (!r) {
            memcpy(st.repl, "\xE2\x96\x81", 3);
            st.repl_len = 3;
        }
        if ((st.prepend_scheme = prepend_scheme(o, path, e)) < 0) return -1;
        st.split = getb(o, "split", true);
    } else if (!strcmp(ty, "Digits")) {
        st.kind = PT_DIGITS;
        st.individual = getb(o, "individual_digits", false);
    } else {
        snprintf(p, sizeof p, "%s.type", path);
        return bad(e, p, "unsupported pre-tokenizer \"%s\"", ty);
    }
    if (add_pt(t, st)) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    return 0;
}

/* ---- decoder ---- */
static int add_dec(tokenizer_t *t, dec_step_t d) {
    dec_step_t *x = realloc(t->dec, (t->n_dec + 1) * sizeof *x);
    if (!x) return -1;
    t->dec = x;
    t->dec[t->n_dec++] = d;
    return 0;
}
static int load_dec(tokenizer_t *t, const jv_t *o, const char *path, lerr_t *e) {
    char p[256];
    if (jv_is_null(o)) return 0;
    t->has_decoder = true;
    const char *ty = type_of(o);
    if (!ty) return bad(e, path, "%s", "missing \"type\"");
    dec_step_t d = {0};
    if (!strcmp(ty, "Sequence")) {
        const jv_t *a = jv_get(o, "decoders");
        if (!jv_is_arr(a)) return bad(e, path, "%s", "Sequence without \"decoders\" array");
        for (size_t i = 0; i < jv_size(a); i++) {
            snprintf(p, sizeof p, "%s.decoders[%zu]", path, i);
            if (load_dec(t, jv_at(a, i), p, e)) return -1;
        }
        return 0;
    } else if (!strcmp(ty, "ByteLevel")) d.kind = DEC_BYTELEVEL;
    else if (!strcmp(ty, "ByteFallback")) d.kind = DEC_BYTEFALLBACK;
    else if (!strcmp(ty, "Fuse")) d.kind = DEC_FUSE;
    else if (!strcmp(ty, "Strip")) {
        const jv_t *c = jv_get(o, "content");
        if (!jv_is_str(c)) return bad(e, path, "%s", "Strip without \"content\"");
        d.kind = DEC_STRIP;
        d.alen = jv_len(c);
        d.a = sdup(jv_str(c), d.alen);
        d.start = (int)jv_int(jv_get(o, "start"));
        d.stop = (int)jv_int(jv_get(o, "stop"));
    } else if (!strcmp(ty, "Replace")) {
        const jv_t *s = jv_get(jv_get(o, "pattern"), "String"), *c = jv_get(o, "content");
        if (!jv_is_str(s) || !jv_is_str(c)) {
            snprintf(p, sizeof p, "%s.pattern", path);
            return bad(e, p, "%s", "only {\"String\": ...} patterns are supported in a Replace decoder");
        }
        d.kind = DEC_REPLACE;
        d.alen = jv_len(s);
        d.a = sdup(jv_str(s), d.alen);
        d.blen = jv_len(c);
        d.b = sdup(jv_str(c), d.blen);
    } else if (!strcmp(ty, "Metaspace")) {
        d.kind = DEC_METASPACE;
        const jv_t *r = jv_get(o, "replacement");
        if (r && one_char(r, d.repl, &d.repl_len, path, e)) return -1;
        if (!r) {
            memcpy(d.repl, "\xE2\x96\x81", 3);
            d.repl_len = 3;
        }
        if ((d.prepend_scheme = prepend_scheme(o, path, e)) < 0) return -1;
    } else {
        snprintf(p, sizeof p, "%s.type", path);
        return bad(e, p, "unsupported decoder \"%s\"", ty);
    }
    if (add_dec(t, d)) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    return 0;
}

/* ---- post-processor ---- */
static int add_post(tokenizer_t *t, bool seq, const int32_t *ids, int n) {
    void *x = realloc(t->post, (t->n_post + 1) * sizeof *t->post);
    if (!x) return -1;
    t->post = x;
    t->post[t->n_post].seq = seq;
    t->post[t->n_post].n = n;
    t->post[t->n_post].ids = n ? malloc(n * sizeof(int32_t)) : NULL;
    if (n && !t->post[t->n_post].ids) return -1;
    if (n) memcpy(t->post[t->n_post].ids, ids, n * sizeof(int32_t));
    t->n_post++;
    return 0;
}
static int load_template(tokenizer_t *t, const jv_t *o, const char *path, lerr_t *e) {
    char p[256];
    const jv_t *single = jv_get(o, "single"), *sp = jv_get(o, "special_tokens");
    if (!jv_is_arr(single)) return bad(e, path, "%s", "TemplateProcessing without \"single\" array");
    for (size_t i = 0; i < jv_size(single); i++) {
        const jv_t *it = jv_at(single, i), *st = jv_get(it, "SpecialToken"), *sq = jv_get(it, "Sequence");
        snprintf(p, sizeof p, "%s.single[%zu]", path, i);
        if (sq) {
            if (add_post(t, true, NULL, 0)) return lerr_set(e, EXIT_INTERNAL, "out of memory");
            continue;
        }
        const char *name = jv_str(jv_get(st, "id"));
        const jv_t *ids = jv_get(jv_get(sp, name ? name : ""), "ids");
        if (!name || !jv_is_arr(ids)) return bad(e, p, "%s", "special token not found in special_tokens");
        int32_t v[64];
        int n = 0;
        for (size_t k = 0; k < jv_size(ids) && n < 64; k++) v[n++] = (int32_t)jv_int(jv_at(ids, k));
        if (add_post(t, false, v, n)) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    }
    t->has_post = true;
    return 0;
}
static int load_post(tokenizer_t *t, const jv_t *o, const char *path, lerr_t *e) {
    char p[256];
    if (jv_is_null(o)) return 0;
    const char *ty = type_of(o);
    if (!ty) return bad(e, path, "%s", "missing \"type\"");
    if (!strcmp(ty, "ByteLevel")) return 0; /* offsets only */
    if (!strcmp(ty, "Sequence")) {
        const jv_t *a = jv_get(o, "processors");
        if (!jv_is_arr(a)) return bad(e, path, "%s", "Sequence without \"processors\" array");
        for (size_t i = 0; i < jv_size(a); i++) {
            snprintf(p, sizeof p, "%s.processors[%zu]", path, i);
            if (t->has_post && jv_get(jv_at(a, i), "type") && strcmp(type_of(jv_at(a, i)), "ByteLevel"))
                return bad(e, p, "%s", "more than one id-adding post-processor");
            if (load_post(t, jv_at(a, i), p, e)) return -1;
        }
        return 0;
    }
    if (!strcmp(ty, "TemplateProcessing")) return load_template(t, o, path, e);
    if (!strcmp(ty, "RobertaProcessing") || !strcmp(ty, "BertProcessing")) {
        const jv_t *cls = jv_get(o, "cls"), *sep = jv_get(o, "sep");
        if (!jv_is_arr(cls) || !jv_is_arr(sep)) return bad(e, path, "%s", "missing cls/sep");
        int32_t c = (int32_t)jv_int(jv_at(cls, 1)), s = (int32_t)jv_int(jv_at(sep, 1));
        if (add_post(t, false, &c, 1) || add_post(t, true, NULL, 0) || add_post(t, false, &s, 1))
            return lerr_set(e, EXIT_INTERNAL, "out of memory");
        t->has_post = true;
        return 0;
    }
    snprintf(p, sizeof p, "%s.type", path);
    return bad(e, p, "unsupported post-processor \"%s\"", ty);
}

/* ---- model ---- */
static bool in_arena(const tokenizer_t *t, const char *p) {
    return t->sarena && p >= t->sarena && p < t->sarena + t->sarena_cap;
}
static bool in_map(const tokenizer_t *t, const char *p) {
    return t->map && p >= (const char *)t->map && p < (const char *)t->map + t->map_len;
}
/* id strings live in the arena, the mapped cache, or (rarely) their own allocation */
static void free_id_str(const tokenizer_t *t, char *p) {
    if (!in_arena(t, p) && !in_map(t, p)) free(p);
}

static int set_id_str(tokenizer_t *t, int32_t id, const char *s, size_t n) {
    if (id < 0 || id >= t->n_ids) return -1;
    free_id_str(t, t->id_str[id]);
    if (t->sarena_len + n + 1 <= t->sarena_cap) {
        char *p = t->sarena + t->sarena_len;
        memcpy(p, s, n);
        p[n] = 0;
        t->sarena_len += n + 1;
        t->id_str[id] = p;
    } else if (!(t->id_str[id] = sdup(s, n))) return -1;
    t->id_len[id] = (uint32_t)n;
    return 0;
}

/* Byte-level: token string -> raw bytes; 0 if every char is in the alphabet. */
static int to_bytes(const char *s, size_t n, uint8_t *out, size_t *olen) {
    const uint8_t *u = (const uint8_t *)s;
    const int16_t *c2b = char_to_byte_table(); /* alphabet chars are all below U+0180 */
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int l;
        if (u[i] < 0x80) {
            cp = u[i];
            l = 1;
        } else if (u[i] >= 0xC2 && u[i] <= 0xC5 && i + 1 < n) {
            cp = ((uint32_t)(u[i] & 0x1F) << 6) | (u[i + 1] & 0x3F);
            l = 2;
        } else return -1;
        int b = c2b[cp];
        if (b < 0) return -1;
        out[k++] = (uint8_t)b;
        i += l;
    }
    *olen = k;
    return 0;
}

/* A token string as a vocabulary key: itself, or for byte-level models its bytes (written to
 * buf, >= n bytes); NULL if it has a character outside the byte alphabet. */
static const uint8_t *model_key(const tokenizer_t *t, const char *s, size_t n, uint8_t *buf, size_t *klen) {
    if (!t->byte_level) {
        *klen = n;
        return (const uint8_t *)s;
    }
    return to_bytes(s, n, buf, klen) ? NULL : buf;
}

/* ---- the raw tables ----
 * $.model.vocab and $.model.merges come from jdoc_parse as raw text (valid JSON, checked there)
 * and are read here straight into the hash tables: no node per entry. A reader walks the text
 * between the brackets; keys are decoded in place (the document never looks at that text). */
typedef struct {
    char *p, *end;
} rd_t;
static rd_t reader(const jv_t *raw) { return (rd_t){(char *)raw->u.s + 1, (char *)raw->u.s + raw->off - 1}; }
static inline void rd_ws(rd_t *r) {
    for (; r->p < r->end; r->p++) {
        char c = *r->p;
        if (c == '\n') r->p = (char *)jspaces(r->p + 1, r->end) - 1;
        else if (c != ' ' && c != '\r' && c != '\t') break;
    }
}
/* The next member's start (after the comma); false at the closing bracket. */
static inline bool rd_next(rd_t *r) {
    rd_ws(r);
    if (r->p < r->end && *r->p == ',') {
        r->p++;
        rd_ws(r);
    }
    return r->p < r->end;
}
/* Past the closing quote of the string whose text starts at p (valid JSON). */
static char *skip_str(char *p, const char *end) {
    for (;;) {
        p = (char *)jstr_span(p, end); /* (no control characters: the text is valid) */
        if (p >= end) return (char *)end;
        if (*p == '"') return p + 1;
        p += 2; /* an escape: \" or \\ must not end or start anything; \uXXXX's digits are plain */
    }
}
/* The value of a vocabulary entry at r->p: 1 and *id if it is an integer, else 0. */
static int rd_int(rd_t *r, long long *id) {
    double v;
    bool integral;
    const char *q = *r->p == '-' || (*r->p >= '0' && *r->p <= '9') ? jnum_scan(r->p, r->end, &v, &integral) : NULL;
    if (!q || !integral || v != floor(v)) return 0;
    /* saturating, as jv_int */
    *id = v >= 9.2e18 ? (long long)9.2e18 : v <= -9.2e18 ? -(long long)9.2e18 : (long long)v;
    r->p = (char *)q;
    return 1;
}

/* Every vocabulary id an integer in range (the first that is not is reported, in file order);
 * the highest in *vmax. Reads only. */
static int vocab_ids(const jv_t *vocab, int32_t *vmax, lerr_t *e) {
    rd_t r = reader(vocab);
    while (rd_next(&r)) {
        char *k = r.p + 1;
        r.p = skip_str(k, r.end);
        rd_ws(&r);
        r.p++;
        rd_ws(&r); /* ':' */
        long long id;
        int ok = rd_int(&r, &id);
        if (!ok || id < 0 || id > INT32_MAX - 1) {
            char *after;
            jstr_decode(k, r.end, &after); /* the token, for the message */
            return bad(e, "$.model.vocab",
                       ok ? "id of token \"%s\": out of range" : "id of token \"%s\": wrong type (must be an integer)",
                       k);
        }
        if (id > *vmax) *vmax = (int32_t)id;
    }
    return 0;
}

/* Vocabulary inserts in batches of 32 (keys and hashes first, prefetching their slots). Keys
 * are decoded in place, their strings kept for decoding, then (byte-level models) converted to
 * bytes in place: the bytes are never longer than the characters. */
static int load_vocab(tokenizer_t *t, const jv_t *vocab) {
    struct {
        const uint8_t *key;
        size_t kl;
        uint64_t h;
        int32_t id;
    } q[32];
    rd_t r = reader(vocab);
    bool more = rd_next(&r);
    while (more) {
        int nq = 0;
        for (; nq < 32 && more; more = rd_next(&r)) {
            char *k = r.p + 1;
            size_t n = jstr_decode(k, r.end, &r.p);
            rd_ws(&r);
            r.p++;
            rd_ws(&r); /* ':' */
            long long id = 0;
            rd_int(&r, &id); /* checked by vocab_ids */
            if (set_id_str(t, (int32_t)id, k, n)) return -1;
            size_t kl;
            const uint8_t *key = model_key(t, k, n, (uint8_t *)k, &kl);
            if (!key) continue; /* outside the byte alphabet: kept for decoding only */
            q[nq].key = key;
            q[nq].kl = kl;
            q[nq].id = (int32_t)id;
            q[nq].h = hm_hash(key, kl);
            smap_prefetch_put(&t->vocab, q[nq].h);
            nq++;
        }
        for (int j = 0; j < nq; j++)
            if (smap_put_h(&t->vocab, q[j].key, q[j].kl, q[j].id, q[j].h)) return -1;
    }
    return 0;
}

/* Merges in batches: keys and hashes first (prefetching the hash slots), then the lookups,
 * then the inserts, so the ~1 M random accesses into multi-MB tables overlap instead of
 * stalling one after another (the load is memory-latency bound). */
#define MBATCH 32
typedef struct {
    size_t i, ka, kb;
    const uint8_t *k;
    uint64_t ha, hb, hc;
    uint32_t rank;
} mq_t;

/* The lookups of a batch (three per merge, overlapped by smap_get_many) and the prefetch of
 * their merge-table slots; the inserts wait for the next batch (or the end, pend_flush), so the
 * prefetches have a batch's work to land. */
typedef struct {
    uint64_t k[MBATCH], v[MBATCH];
    int n;
} mpend_t;
static int pend_flush(tokenizer_t *t, mpend_t *pd, lerr_t *e) {
    for (int j = 0; j < pd->n; j++)
        if (umap_put(&t->merges, pd->k[j], pd->v[j])) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    pd->n = 0;
    return 0;
}
static int merges_batch(tokenizer_t *t, mq_t *q, int nq, mpend_t *pd, lerr_t *e) {
    const uint8_t *keys[3 * MBATCH] = {0};
    size_t lens[3 * MBATCH] = {0};
    uint64_t hv[3 * MBATCH] = {0};
    int32_t id[3 * MBATCH];
    for (int j = 0; j < nq; j++) {
        keys[3 * j] = q[j].k;
        lens[3 * j] = q[j].ka;
        hv[3 * j] = q[j].ha;
        keys[3 * j + 1] = q[j].k + q[j].ka;
        lens[3 * j + 1] = q[j].kb;
        hv[3 * j + 1] = q[j].hb;
        keys[3 * j + 2] = q[j].k;
        lens[3 * j + 2] = q[j].ka + q[j].kb;
        hv[3 * j + 2] = q[j].hc;
    }
    smap_get_many(&t->vocab, 3 * nq, keys, lens, hv, id);
    for (int j = 0; j < nq; j++)
        if (id[3 * j] < 0 || id[3 * j + 1] < 0 || id[3 * j + 2] < 0) {
            char p[64];
            snprintf(p, sizeof p, "$.model.merges[%zu]", q[j].i);
            return bad(e, p, "%s", "token not in the vocabulary");
        }
    if (pend_flush(t, pd, e)) return -1;
    for (int j = 0; j < nq; j++) {
        pd->k[j] = ((uint64_t)(uint32_t)id[3 * j] << 32) | (uint32_t)id[3 * j + 1];
        pd->v[j] = ((uint64_t)q[j].rank << 32) | (uint32_t)id[3 * j + 2];
        umap_prefetch_put(&t->merges, pd->k[j]);
    }
    pd->n = nq;
    return 0;
}

/* One merge at r->p: "a b" or ["a", "b"], decoded in place. 0 with the parts, 1 for the
 * "#version" line, -1 for anything else. */
static int merge_parts(rd_t *r, char **a, size_t *al, char **b, size_t *bl) {
    if (*r->p == '"') {
        char *s = r->p + 1;
        size_t n = jstr_decode(s, r->end, &r->p);
        if (s[0] == '#' && !strncmp(s, "#version", 8)) return 1;
        size_t sp = n; /* exactly one space (short strings: a loop beats memchr calls) */
        for (size_t i = 0; i < n; i++)
            if (s[i] == ' ') {
                if (sp < n) return -1;
                sp = i;
            }
        if (sp == n) return -1;
        *a = s;
        *al = sp;
        *b = s + sp + 1;
        *bl = n - sp - 1;
        return 0;
    }
    if (*r->p != '[') return -1;
    r->p++;
    rd_ws(r);
    if (*r->p != '"') return -1;
    *a = r->p + 1;
    *al = jstr_decode(*a, r->end, &r->p);
    rd_ws(r);
    if (*r->p != ',') return -1;
    r->p++;
    rd_ws(r);
    if (*r->p != '"') return -1;
    *b = r->p + 1;
    *bl = jstr_decode(*b, r->end, &r->p);
    rd_ws(r);
    if (*r->p != ']') return -1;
    r->p++;
    return 0;
}

/* A byte-level model's merge "a b" in one pass: the string at r->p with no escape, exactly one
 * space, and only 1- and 2-byte characters (the byte alphabet lies below U+0180), converted to
 * key bytes in place, a's then b's contiguous at the text's start (what merge_parts, model_key
 * and the memmove of load_merges make of it, without three walks over the text). 1: *ka, *kb
 * set and r->p past the closing quote; 0: such a merge has a character outside the alphabet
 * (it can never apply: skipped, as load_merges skips it); -1: not that shape, nothing written
 * (the general path takes it). The text is valid JSON (checked by the parser). */
static int merge_fast(rd_t *r, const int16_t *c2b, size_t *ka, size_t *kb) {
    const uint8_t *u = (const uint8_t *)r->p + 1;
    size_t i = 0, sp = SIZE_MAX;
    if (*r->p != '"' || u[0] == '#') return -1; /* "#version" lines: the general path */
    for (;; i++) {
        uint8_t c = u[i];
        if (c == '"') break;
        if (c == ' ') {
            if (sp != SIZE_MAX) return -1;
            sp = i;
        } else if (c == '\\' || c >= 0xC6) return -1;
        else if (c >= 0x80) i++; /* C2..C5: one continuation byte (valid UTF-8) */
    }
    if (sp == SIZE_MAX) return -1;
    uint8_t *o = (uint8_t *)r->p + 1;
    size_t k = 0, len = i;
    for (i = 0; i < len; i++) {
        if (i == sp) {
            *ka = k;
            continue;
        }
        uint8_t c = u[i];
        int b = c < 0x80 ? c2b[c] : c2b[((c & 0x1F) << 6) | (u[++i] & 0x3F)];
        if (b < 0) {
            r->p = (char *)u + len + 1;
            return 0;
        }
        o[k++] = (uint8_t)b; /* k <= i: never ahead of the reading */
    }
    *kb = k - *ka;
    r->p = (char *)u + len + 1;
    return 1;
}

static int load_merges(tokenizer_t *t, const jv_t *merges, lerr_t *e) {
    char p[64];
    mq_t q[MBATCH];
    mpend_t pd = {.n = 0};
    int nq = 0;
    uint32_t rank = 0;
    rd_t r = reader(merges);
    const int16_t *c2b = t->byte_level ? char_to_byte_table() : NULL;
    for (size_t i = 0; rd_next(&r); i++) {
        /* the key bytes of a then b, contiguous at a (in place: neither grows, and b's text
         * lies after a's) */
        char *a = r.p + 1, *b;
        size_t al, bl, ka = 0, kb = 0;
        int fast = c2b ? merge_fast(&r, c2b, &ka, &kb) : -1;
        if (fast < 0) {
            int kind = merge_parts(&r, &a, &al, &b, &bl);
            if (kind == 1) continue;
            if (kind < 0) {
                snprintf(p, sizeof p, "$.model.merges[%zu]", i);
                return bad(e, p, "%s", "not \"a b\" or [\"a\", \"b\"]");
            }
            const uint8_t *pa = model_key(t, a, al, (uint8_t *)a, &ka);
            const uint8_t *pb = pa ? model_key(t, b, bl, (uint8_t *)b, &kb) : NULL;
            fast = pa && pb;
            if (fast) memmove(a + ka, pb, kb);
        }
        uint32_t r0 = rank++;
        if (!fast) continue; /* outside the byte alphabet: can never apply */
        mq_t *m = &q[nq++];
        *m = (mq_t){.i = i, .k = (const uint8_t *)a, .ka = ka, .kb = kb, .rank = r0};
        m->ha = hm_hash(m->k, ka);
        m->hb = hm_hash(m->k + ka, kb);
        m->hc = hm_hash(m->k, ka + kb);
        smap_prefetch(&t->vocab, m->ha);
        smap_prefetch(&t->vocab, m->hb);
        smap_prefetch(&t->vocab, m->hc);
        if (nq == MBATCH) {
            if (merges_batch(t, q, nq, &pd, e)) return -1;
            nq = 0;
        }
    }
    if (nq && merges_batch(t, q, nq, &pd, e)) return -1;
    return pend_flush(t, &pd, e);
}

/* The vocabulary and merges from the JSON. */
static int tables_from_json(tokenizer_t *t, const jv_t *vocab, const jv_t *merges, lerr_t *e) {
    if (smap_init(&t->vocab, jv_size(vocab)) || load_vocab(t, vocab) || umap_init(&t->merges, jv_size(merges)))
        return lerr_set(e, EXIT_INTERNAL, "out of memory");
    return load_merges(t, merges, e);
}

/* The vocabulary and merges from a cache entry: the tokenizer takes over the mapping. */
static void tables_from_cache(tokenizer_t *t, tc_view_t *c) {
    t->map = c->map;
    t->map_len = c->map_len;
    c->map = NULL;
    t->vocab = c->vocab;
    t->merges = c->merges;
    for (int32_t i = 0; i < c->n_vocab_ids; i++)
        if (c->id_off[i] != TC_NONE) {
            t->id_str[i] = (char *)c->strs + c->id_off[i];
            t->id_len[i] = c->id_len[i];
        }
}

/* The vocabulary's id strings as loaded (before added tokens), for writing a cache entry.
 * Leaves snap->off NULL when they cannot be described (a string outside the arena). */
static void take_snapshot(const tokenizer_t *t, int32_t n_ids, tc_snap_t *snap) {
    snap->off = malloc((n_ids ? n_ids : 1) * sizeof *snap->off);
    snap->len = malloc((n_ids ? n_ids : 1) * sizeof *snap->len);
    if (!snap->off || !snap->len) goto fail;
    for (int32_t i = 0; i < n_ids; i++) {
        const char *p = t->id_str[i];
        if (p && !in_arena(t, p)) goto fail;
        snap->off[i] = p ? (uint32_t)(p - t->sarena) : TC_NONE;
        snap->len[i] = t->id_len[i];
    }
    snap->n_ids = n_ids;
    snap->strs_len = t->sarena_len;
    return;
fail:
    free(snap->off);
    free(snap->len);
    snap->off = snap->len = NULL;
}

/* The model: from the JSON, or with vocabulary and merges from a cache entry (`cached`; the
 * JSON then has empty ones). `snap`: record the vocabulary's id strings for a cache entry. */
static int load_model(tokenizer_t *t, const jv_t *m, const jv_t *added, tc_view_t *cached, tc_snap_t *snap, lerr_t *e) {
    char p[160];
    if (!jv_is_obj(m)) return bad(e, "$.model", "%s", "missing or not an object");
    const jv_t *tyv = jv_get(m, "type"); /* optional, as in HF (old files have none) */
    if (tyv && !jv_is_str(tyv)) return bad(e, "$.model.type", "%s", "wrong type (must be a string)");
    const char *ty = jv_str(tyv);
    if (ty && strcmp(ty, "BPE")) return bad(e, "$.model.type", "unsupported model \"%s\" (only BPE)", ty);
    const jv_t *vocab = jv_get(m, "vocab"), *merges = jv_get(m, "merges");
    if (!jv_is_obj(vocab)) return bad(e, "$.model.vocab", "%s", "missing or not an object");
    if (!jv_is_arr(merges)) return bad(e, "$.model.merges", "%s", "missing or not an array");
    const jv_t *dr = jv_get(m, "dropout");
    if (dr && !jv_is_null(dr) && jv_num(dr) != 0.0)
        return bad(e, "$.model.dropout", "%s", "BPE dropout is a training-time option; must be null");
    const char *fld[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const jv_t *v = jv_get(m, fld[i]);
        if (jv_is_str(v) && jv_len(v)) {
            snprintf(p, sizeof p, "$.model.%s", fld[i]);
            return bad(e, p, "%s", "non-empty values are not supported");
        }
    }
    t->ignore_merges = getb(m, "ignore_merges", false);
    t->byte_fallback = getb(m, "byte_fallback", false);
    t->fuse_unk = getb(m, "fuse_unk", false);
    /* id space */
    int32_t vmax = -1;
    if (cached) {
        vmax = cached->n_vocab_ids - 1;
        t->n_vocab = cached->n_vocab;
    } else {
        if (!jv_is_raw(vocab) || !jv_is_raw(merges))
            return lerr_set(e, EXIT_INTERNAL, "tokenizer.json: tables not read raw");
        if (vocab_ids(vocab, &vmax, e)) return -1;
        t->n_vocab = (int32_t)jv_size(vocab);
    }
    int32_t maxid = vmax;
    const jv_t *ai = jv_first(added); /* entries were checked by check_added */
    for (size_t i = 0; i < jv_size(added); i++, ai = jv_skip(ai))
        if (jv_int(jv_get(ai, "id")) > maxid) maxid = (int32_t)jv_int(jv_get(ai, "id"));
    /* added tokens may get ids up to vocabulary size + their count (see added_id) */
    int64_t room = (int64_t)t->n_vocab + (int64_t)jv_size(added);
    if (room > INT32_MAX - 1) return bad(e, "$.model.vocab", "%s", "too many tokens");
    /* the id tables are dense (indexed by id): a few tokens with huge ids would make a 5 KB
     * file allocate gigabytes (found by tests/fuzz/fuzz_tokenizer), so ids may run at most
     * 2^20 beyond the number of tokens (real vocabularies are dense) */
    if ((int64_t)maxid > room + ((int64_t)1 << 20)) {
        char m[120];
        snprintf(m, sizeof m, "id %d is far beyond the %lld tokens (ids must stay below tokens + 1048576)", (int)maxid,
                 (long long)room);
        return bad(e, maxid > vmax ? "$.added_tokens" : "$.model.vocab", "%s", m);
    }
    t->n_ids = (int32_t)((room > maxid ? room : maxid) + 1);
    /* the three id tables in one block (id_str owns it): 13 bytes per id, so Llama 3's fit one
     * 2 MB huge page instead of touching three (each first touch of a page is costly on VMs) */
    size_t nt = (size_t)t->n_ids + 1;
    if (!(t->id_str = tok_big_alloc(nt * (sizeof *t->id_str + sizeof *t->id_len + 1), 1)))
        return lerr_set(e, EXIT_INTERNAL, "out of memory");
    t->id_len = (uint32_t *)(t->id_str + nt);
    t->id_flags = (uint8_t *)(t->id_len + nt);
    /* vocabulary, keyed in the model's input space (raw bytes for byte-level models; tokens
     * with characters outside the byte alphabet can never be formed there and are only kept
     * for decoding); merges: (left, right) -> (rank, id of the concatenation) */
    if (cached) tables_from_cache(t, cached);
    else if (tables_from_json(t, vocab, merges, e)) return -1;
    if (snap) take_snapshot(t, vmax + 1, snap);
    /* unk, byte fallback, byte alphabet ids (all looked up through the same key space) */
    uint8_t kb[256 * 2];
    const jv_t *unk = jv_get(m, "unk_token");
    size_t ul;
    const uint8_t *uk = jv_is_str(unk) && jv_len(unk) <= 256 ? model_key(t, jv_str(unk), jv_len(unk), kb, &ul) : NULL;
    t->unk_id = uk ? smap_get(&t->vocab, uk, ul) : -1;
    const uint16_t *b2c = byte_to_char();
    for (int b = 0; b < 256; b++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        t->fb_id[b] = smap_get(&t->vocab, s, 6); /* ASCII: the same in both key spaces */
        uint8_t u[4];
        int l = utf8_enc(b2c[b], u);
        size_t bl2;
        const uint8_t *bk = model_key(t, (const char *)u, l, kb, &bl2);
        t->byte_id[b] = bk ? smap_get(&t->vocab, bk, bl2) : -1;
    }
    for (int c = 0; c < 128; c++) {
        char ch = (char)c;
        t->ascii_id[c] = t->byte_level ? -1 : smap_get(&t->vocab, &ch, 1);
    }
    return 0;
}

/* Every added token entry has HF's required fields with their types (AddedToken has no serde
 * defaults): id (integer in 0..INT32_MAX-1), content (string), single_word, lstrip, rstrip,
 * normalized, special (booleans). */
static int check_added(const jv_t *a, lerr_t *e) {
    char p[160];
    if (jv_is_null(a)) return 0;
    if (!jv_is_arr(a)) return bad(e, "$.added_tokens", "%s", "wrong type (must be an array)");
    static const char *flags[] = {"single_word", "lstrip", "rstrip", "normalized", "special"};
    const jv_t *o = jv_first(a);
    for (size_t i = 0; i < jv_size(a); i++, o = jv_skip(o)) {
        snprintf(p, sizeof p, "$.added_tokens[%zu]", i);
        if (!jv_is_obj(o)) return bad(e, p, "%s", "wrong type (must be an object)");
        const jv_t *id = jv_get(o, "id"), *c = jv_get(o, "content");
        snprintf(p, sizeof p, "$.added_tokens[%zu].id", i);
        if (!id) return bad(e, p, "%s", "missing");
        if (!jv_is_int(id)) return bad(e, p, "%s", "wrong type (must be an integer)");
        if (jv_int(id) < 0 || jv_int(id) > INT32_MAX - 1) return bad(e, p, "%s", "out of range");
        snprintf(p, sizeof p, "$.added_tokens[%zu].content", i);
        if (!c) return bad(e, p, "%s", "missing");
        if (!jv_is_str(c)) return bad(e, p, "%s", "wrong type (must be a string)");
        for (int k = 0; k < 5; k++) {
            const jv_t *f = jv_get(o, flags[k]);
            snprintf(p, sizeof p, "$.added_tokens[%zu].%s", i, flags[k]);
            if (!f) return bad(e, p, "%s", "missing");
            if (!jv_is_bool(f)) return bad(e, p, "%s", "wrong type (must be true or false)");
        }
    }
    return 0;
}

/* Added tokens in the order HF registers them: by the file's id. */
typedef struct {
    const jv_t *o;
    long long id;
    size_t idx;
} added_src_t;
static int by_id(const void *x, const void *y) {
    const added_src_t *a = x, *b = y;
    return a->id < b->id ? -1 : a->id > b->id ? 1 : (a->idx > b->idx) - (a->idx < b->idx);
}

/* The id HF gives an added token (AddedVocabulary::add_tokens): the model's id when the content
 * is in the vocabulary, else the next id after the vocabulary / the largest added id. The file's
 * "id" only orders the tokens (HF merely warns when they differ). -1 on OOM. */
static int32_t added_id(tokenizer_t *t, const char *s, size_t n, int32_t *max_added) {
    uint8_t *kb = malloc(n + 1);
    if (!kb) return -1;
    size_t kl;
    const uint8_t *key = model_key(t, s, n, kb, &kl);
    int32_t id = key ? smap_get(&t->vocab, key, kl) : -1;
    free(kb);
    if (id < 0) id = (*max_added >= 0 && *max_added >= t->n_vocab) ? *max_added + 1 : t->n_vocab;
    if (id > *max_added) *max_added = id;
    return id;
}

static int load_added(tokenizer_t *t, const jv_t *a, lerr_t *e) {
    trie_free(&t->trie_raw);
    trie_free(&t->trie_norm);
    if (!a || jv_is_null(a)) return 0;
    size_t na = jv_size(a);
    t->added = calloc(na + 1, sizeof *t->added);
    added_src_t *src = calloc(na + 1, sizeof *src);
    if (!t->added || !src) {
        free(src);
        return lerr_set(e, EXIT_INTERNAL, "out of memory");
    }
    const jv_t *o = jv_first(a);
    for (size_t i = 0; i < na; i++, o = jv_skip(o)) src[i] = (added_src_t){o, jv_int(jv_get(o, "id")), i};
    qsort(src, na, sizeof *src, by_id);
    int32_t max_added = -1;
    int rc = 0;
    for (size_t k = 0; k < na && !rc; k++) {
        o = src[k].o;
        const jv_t *c = jv_get(o, "content");
        const char *s = jv_str(c);
        size_t n = jv_len(c);
        if (!n) continue; /* HF skips a token with empty content: it gets no id */
        bool dup = false; /* HF skips a token whose content is already added */
        for (int j = 0; j < t->n_added && !dup; j++)
            dup = t->id_len[t->added[j].id] == n && !memcmp(t->id_str[t->added[j].id], s, n);
        if (dup) continue;
        added_t *x = &t->added[t->n_added];
        if ((x->id = added_id(t, s, n, &max_added)) < 0 || x->id >= t->n_ids) {
            rc = lerr_set(e, EXIT_INTERNAL, "out of memory");
            break;
        }
        x->special = getb(o, "special", false);
        x->lstrip = getb(o, "lstrip", false);
        x->rstrip = getb(o, "rstrip", false);
        x->single_word = getb(o, "single_word", false);
        x->normalized = getb(o, "normalized", !x->special);
        if (set_id_str(t, x->id, s, n)) {
            rc = lerr_set(e, EXIT_INTERNAL, "out of memory");
            break;
        }
        t->id_flags[x->id] |= ID_ADDED | (x->special ? ID_SPECIAL : 0);
        if (x->normalized && t->n_norm) { /* match the normalized form of the content */
            tok_str_t ns = {0};
            if ((rc = normalize(t, s, n, &ns, e))) break;
            x->content = ns.p ? ns.p : sdup("", 0);
            x->len = ns.n;
        } else {
            x->content = sdup(s, n);
            x->len = n;
        }
        if (!x->content ||
            trie_add(x->normalized && t->n_norm ? &t->trie_norm : &t->trie_raw, x->content, x->len, t->n_added))
            rc = lerr_set(e, EXIT_INTERNAL, "out of memory");
        t->n_added++;
    }
    free(src);
    return rc;
}

/* Decide the byte-level mode and the fast paths from the pre-tokenizer steps. */
static int finish_pt(tokenizer_t *t, lerr_t *e) {
    for (int i = 0; i < t->n_pt; i++)
        if (t->pt[i].kind == PT_BYTELEVEL) {
            if (i != t->n_pt - 1) {
                char p[96];
                snprintf(p, sizeof p, "$.pre_tokenizer (step %d)", i);
                return bad(e, p, "%s", "ByteLevel must be the last pre-tokenizer step");
            }
            t->byte_level = true;
        }
    pt_step_t *s = t->pt;
    if (t->n_pt == 0) t->fast_none = true;
    else if (t->n_pt == 1 && s[0].kind == PT_BYTELEVEL && !s[0].add_prefix_space)
        s[0].use_regex ? (void)(t->fast_scan = SCAN_GPT2) : (void)(t->fast_none = true);
    else if (t->n_pt == 2 && s[0].kind == PT_SPLIT && s[0].scan && s[0].behavior == SB_ISOLATED && !s[0].invert &&
             s[1].kind == PT_BYTELEVEL && !s[1].add_prefix_space && !s[1].use_regex)
        t->fast_scan = s[0].scan;
    return 0;
}

/* A cache entry to write once the load has succeeded: the skeleton and the id snapshot. */
typedef struct {
    tc_snap_t snap;
    char *skel;
    size_t skel_len;
} pending_t;

/* Parse the JSON in place (buf[len] must be 0) and build the tokenizer; with `cached`, its
 * vocabulary and merges come from that cache entry. With `pend`, also collect what a cache
 * entry needs (pend->skel stays NULL when that is not possible). */
static tokenizer_t *load_buffer(char *buf, size_t len, tc_view_t *cached, pending_t *pend, lerr_t *e) {
    uni_init();
    jdoc_t doc;
    int line, col;
    const char *msg;
    const jv_t *root = jdoc_parse_opts(&doc, buf, len, JD_RAW_TABLES, &line, &col, &msg);
    if (!root) {
        lerr_set(e, EXIT_DATA, "tokenizer.json: line %d column %d: %s", line, col, msg);
        return NULL;
    }
    tokenizer_t *t = calloc(1, sizeof *t);
    if (!t) {
        jdoc_free(&doc);
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    if (!jv_is_obj(root)) {
        bad(e, "$", "%s", "not a JSON object");
        goto fail;
    }
    /* token strings: every one is a JSON string of the file, so the file's size bounds them */
    if (!(t->sarena = tok_big_alloc(len + 1, 0))) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        goto fail;
    }
    t->sarena_cap = len + 1;
    const char *keys[] = {"truncation", "padding"};
    for (int i = 0; i < 2; i++) {
        const jv_t *v = jv_get(root, keys[i]);
        if (!jv_is_null(v)) {
            char p[32];
            snprintf(p, sizeof p, "$.%s", keys[i]);
            bad(e, p, "%s", "must be null (set it in the calling program instead)");
            goto fail;
        }
    }
    const jv_t *model = jv_get(root, "model");
    if (load_norm(t, jv_get(root, "normalizer"), "$.normalizer", e) ||
        load_pt(t, jv_get(root, "pre_tokenizer"), "$.pre_tokenizer", e) || finish_pt(t, e) ||
        check_added(jv_get(root, "added_tokens"), e) ||
        load_model(t, model, jv_get(root, "added_tokens"), cached, pend ? &pend->snap : NULL, e) ||
        load_added(t, jv_get(root, "added_tokens"), e) ||
        load_post(t, jv_get(root, "post_processor"), "$.post_processor", e) ||
        load_dec(t, jv_get(root, "decoder"), "$.decoder", e))
        goto fail;
    if (pend && pend->snap.off) {
        const jv_t *tables[2] = {jv_get(model, "vocab"), jv_get(model, "merges")};
        pend->skel = jv_dump(&doc, root, tables, 2, &pend->skel_len);
    }
    jdoc_free(&doc);
    return t;
fail:
    jdoc_free(&doc);
    tok_destroy(&t);
    return NULL;
}

tokenizer_t *tok_load_json(const char *json, size_t len, lerr_t *e) {
    char *buf = malloc(len + 1);
    if (!buf) {
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    memcpy(buf, json, len);
    buf[len] = 0;
    tokenizer_t *t = load_buffer(buf, len, NULL, NULL, e);
    free(buf);
    return t;
}

/* What this build makes of a fixed small tokenizer.json (byte-level and not, merges, an added
 * token): if a change to the loader alters the tables (key conversion, hashing, layout), entries
 * written before it stop matching. Computed once per process (~0.1 ms). */
static uint64_t build_fingerprint(void) {
    static uint64_t fp;
    if (fp) return fp;
    static const char *canary[2] = {
        "{\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":false},"
        "\"model\":{\"vocab\":{\"a\":0,\"b\":1,\"ab\":2,\"\u0120\":3,\"\u0120a\":4,\"\u00e9\":5,\"\u00c3\":6},"
        "\"merges\":[\"a b\",[\"\u0120\",\"a\"]]}}",
        "{\"added_tokens\":[{\"id\":9,\"content\":\"<s>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,"
        "\"normalized\":false,\"special\":true}],\"model\":{\"vocab\":{\"a\":0,\"\u2581\":1,\"\u2581a\":2,\"<0x41>\":3}"
        ","
        "\"merges\":[\"\u2581 a\"],\"byte_fallback\":true}}"};
    tc_hash_t h;
    tc_hash_init(&h, 1);
    for (int k = 0; k < 2; k++) {
        lerr_t e = {0};
        tokenizer_t *t = tok_load_json(canary[k], strlen(canary[k]), &e);
        if (!t) {
            tc_hash_update(&h, "x", 1);
            continue;
        }
        tc_hash_update(&h, t->vocab.slots, (t->vocab.mask + 1) * sizeof *t->vocab.slots);
        tc_hash_update(&h, t->vocab.ent, t->vocab.n * sizeof *t->vocab.ent);
        tc_hash_update(&h, t->vocab.arena, t->vocab.alen);
        tc_hash_update(&h, t->merges.s, (t->merges.mask + 1) * sizeof *t->merges.s);
        for (int32_t i = 0; i < t->n_ids; i++) {
            uint32_t l = t->id_str[i] ? t->id_len[i] : UINT32_MAX;
            tc_hash_update(&h, &l, sizeof l);
            if (t->id_str[i]) tc_hash_update(&h, t->id_str[i], l);
        }
        tc_hash_update(&h, &t->n_vocab, sizeof t->n_vocab);
        tok_destroy(&t);
    }
    fp = tc_hash_final(&h) | 1;
    return fp;
}

/* A load from the cache entry for this content, or NULL (no usable entry; nothing reported). */
static tokenizer_t *load_cached(const char *dir, uint64_t hash, uint64_t size) {
    tc_view_t c;
    if (!tc_open(dir, hash, size, build_fingerprint(), &c)) return NULL;
    char *skel = malloc(c.skel_len + 1);
    tokenizer_t *t = NULL;
    if (skel) {
        memcpy(skel, c.skel, c.skel_len);
        skel[c.skel_len] = 0;
        lerr_t e = {0};
        t = load_buffer(skel, c.skel_len, &c, NULL, &e); /* takes over the mapping */
        free(skel);
    }
    tc_close(&c);
    return t;
}

/* The whole file, NUL-terminated. */
static char *read_all(int fd, size_t hint, size_t *len) {
    size_t cap = hint + 65536, n = 0;
    char *buf = tok_big_alloc(cap, 0);
    for (;;) {
        if (!buf) return NULL;
        if (n + 1 == cap) {
            char *x = realloc(buf, cap *= 2);
            if (!x) free(buf);
            buf = x;
            continue;
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            free(buf);
            errno = EIO;
            return NULL;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

tokenizer_t *tok_load_file(const char *path, lerr_t *e) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st)) {
        lerr_set(e, EXIT_IO, "%s: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        lerr_set(e, EXIT_IO, "%s: %s", path, strerror(EISDIR));
        return NULL;
    }
    /* the cache is keyed by the content itself: hash it (~1 ms for 10 MB) and look */
    char *dir = S_ISREG(st.st_mode) && st.st_size >= TC_MIN_BYTES ? tc_dir() : NULL;
    if (dir) {
        uint64_t h, n;
        tokenizer_t *t = tc_hash_fd(fd, &h, &n) == 0 ? load_cached(dir, h, n) : NULL;
        if (t || lseek(fd, 0, SEEK_SET) != 0) {
            free(dir);
            close(fd);
            if (!t) lerr_set(e, EXIT_IO, "%s: %s", path, strerror(errno));
            return t;
        }
    }
    size_t n;
    char *buf = read_all(fd, S_ISREG(st.st_mode) ? (size_t)st.st_size : 0, &n);
    int err = errno;
    close(fd);
    if (!buf) {
        free(dir);
        lerr_set(e, err == EIO ? EXIT_IO : EXIT_INTERNAL, "%s: %s", path, err == EIO ? "read error" : "out of memory");
        return NULL;
    }
    /* the key is the hash of exactly the bytes parsed, so a file changing meanwhile cannot
     * leave an entry that does not match its name */
    uint64_t key = dir ? tc_hash(buf, n) : 0;
    pending_t pend = {0};
    tokenizer_t *t = load_buffer(buf, n, NULL, dir ? &pend : NULL, e);
    free(buf);
    if (!t) lerr_wrap(e, "%s", path);
    else if (pend.skel)
        tc_write(dir, key, n, build_fingerprint(), &t->vocab, &t->merges, t->n_vocab, &pend.snap, t->sarena, pend.skel,
                 pend.skel_len);
    free(pend.snap.off);
    free(pend.snap.len);
    free(pend.skel);
    free(dir);
    return t;
}

void tok_destroy(tokenizer_t **tp) {
    tokenizer_t *t = tp ? *tp : NULL;
    if (!t) return;
    smap_free(&t->vocab);
    umap_free(&t->merges);
    for (int32_t i = 0; t->id_str && i < t->n_ids; i++) free_id_str(t, t->id_str[i]);
    free(t->id_str); /* and id_len, id_flags: the same block */
    free(t->sarena);
    for (int i = 0; i < t->n_added; i++) free(t->added[i].content);
    free(t->added);
    trie_free(&t->trie_raw);
    trie_free(&t->trie_norm);
    for (int i = 0; i < t->n_norm; i++) {
        free(t->norm[i].a);
        free(t->norm[i].b);
    }
    free(t->norm);
    for (int i = 0; i < t->n_pt; i++) pt_step_free(&t->pt[i]);
    free(t->pt);
    for (int i = 0; i < t->n_dec; i++) {
        free(t->dec[i].a);
        free(t->dec[i].b);
    }
    free(t->dec);
    for (int i = 0; i < t->n_post; i++) free(t->post[i].ids);
    free(t->post);
    free(t->dec_bytes);
    free(t->dec_off);
    free(t->dec_len);
    decode_free(t);
    cache_free(&t->cache);
    free(t->hot);
    tok_str_free(&t->norm_out);
    tok_str_free(&t->norm_scratch);
    if (t->map) munmap(t->map, t->map_len);
    free(t->sym);
    free(t->prev);
    free(t->next);
    free(t->heap);
    free(t->seam_first);
    free(t->seam_last);
    umap_free(&t->seam_pairs);
    free(t);
    *tp = NULL;
}

int32_t tok_token_id(const tokenizer_t *t, const char *s, size_t n) {
    for (int i = 0; i < t->n_added; i++)
        if (t->id_len[t->added[i].id] == n && !memcmp(t->id_str[t->added[i].id], s, n)) return t->added[i].id;
    if (!t->byte_level) return smap_get(&t->vocab, s, n);
    uint8_t *b = malloc(n + 1);
    size_t bl;
    int32_t id = (b && !to_bytes(s, n, b, &bl)) ? smap_get(&t->vocab, b, bl) : -1;
    free(b);
    return id;
}
const char *tok_id_token(const tokenizer_t *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->n_ids || !t->id_str[id]) return NULL;
    if (len) *len = t->id_len[id];
    return t->id_str[id];
}
bool tok_is_special(const tokenizer_t *t, int32_t id) {
    return id >= 0 && id < t->n_ids && (t->id_flags[id] & ID_SPECIAL);
}
bool tok_is_added(const tokenizer_t *t, int32_t id) { return id >= 0 && id < t->n_ids && (t->id_flags[id] & ID_ADDED); }
int32_t tok_n_ids(const tokenizer_t *t) {
    int32_t n = t->n_ids;
    while (n > 0 && !t->id_str[n - 1]) n--;
    return n;
}
