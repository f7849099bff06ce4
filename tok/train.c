/* train.c — byte-level BPE trainer (see train.h).
 *
 * Data: distinct words (byte strings from the pre-tokenizer) with counts; each word is a
 * symbol array. Pair statistics live in a hash map (pair -> index) with, per pair, a count and
 * the list of words containing it; a max-heap of (count, pair) is validated lazily on pop.
 * Applying a merge rewrites only the words in that pair's list, subtracting their old pairs and
 * adding the new ones, so each merge costs the size of the words it touches.
 */
#define _GNU_SOURCE /* memmem */
#include "train.h"
#include "chat.h"
#include "tok_int.h"
#include "unicode.h"
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *BPE_DEFAULT_SPECIALS[] = {"<|startoftext|>",     "<|endoftext|>",     "<|mdm_mask|>",
                                      "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"};
const int BPE_N_DEFAULT_SPECIALS = 6;

typedef struct {
    int32_t *s;
    int32_t n;
    int64_t count;
} word_t;
typedef struct {
    int32_t *w;
    int32_t n, cap;
} ivec_t;
typedef struct {
    int64_t count;
    uint64_t pair;
} hitem_t;
typedef struct {
    int64_t count;
    uint64_t key;
    ivec_t words;
} pair_t; /* words may repeat */

struct bpe_trainer {
    bpe_train_opts_t o;
    smap_t wmap; /* word bytes -> word index */
    word_t *words;
    size_t nw, capw;
    /* tokens: bytes of each learned token */
    uint8_t **tb;
    uint32_t *tl;
    int ntok, captok;
    smap_t tmap; /* token bytes -> id (merges may re-create a token) */
    uint64_t *merges;
    int nmerges, capm;
    /* pair statistics */
    umap_t pmap; /* pair -> index */
    pair_t *pairs;
    size_t np, capp;
    hitem_t *heap;
    size_t nh, caph;
    uint32_t *stamp;
    uint32_t epoch;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *x = realloc(*p, c * elem);
    if (!x) return -1;
    *p = x;
    *cap = c;
    return 0;
}

bpe_trainer_t *bpe_trainer_new(const bpe_train_opts_t *o, lerr_t *e) {
    bpe_trainer_t *t = calloc(1, sizeof *t);
    if (!t || smap_init(&t->wmap, 1 << 16) || smap_init(&t->tmap, 1024) || umap_init(&t->pmap, 1 << 16)) {
        bpe_trainer_destroy(&t);
        lerr_set(e, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    t->o = *o;
    if (t->o.min_frequency < 1) t->o.min_frequency = 1;
    uni_init();
    return t;
}

void bpe_trainer_destroy(bpe_trainer_t **tp) {
    bpe_trainer_t *t = tp ? *tp : NULL;
    if (!t) return;
    for (size_t i = 0; i < t->nw; i++) free(t->words[i].s);
    for (int i = 0; i < t->ntok; i++) free(t->tb[i]);
    for (size_t i = 0; i < t->np; i++) free(t->pairs[i].words.w);
    free(t->words);
    free(t->tb);
    free(t->tl);
    free(t->merges);
    free(t->pairs);
    free(t->heap);
    free(t->stamp);
    smap_free(&t->wmap);
    smap_free(&t->tmap);
    umap_free(&t->pmap);
    free(t);
    *tp = NULL;
}

static int add_word(bpe_trainer_t *t, const uint8_t *p, size_t n) {
    int32_t w = smap_get(&t->wmap, p, n);
    if (w >= 0) {
        t->words[w].count++;
        return 0;
    }
    if (grow((void **)&t->words, &t->capw, t->nw + 1, sizeof *t->words)) return -1;
    word_t *x = &t->words[t->nw];
    x->s = malloc(n * sizeof *x->s);
    if (!x->s) return -1;
    for (size_t i = 0; i < n; i++) x->s[i] = p[i]; /* byte b is token id b */
    x->n = (int32_t)n;
    x->count = 1;
    if (smap_put(&t->wmap, p, n, (int32_t)t->nw)) return -1;
    t->nw++;
    return 0;
}

int bpe_trainer_feed(bpe_trainer_t *t, const char *text, size_t len, lerr_t *e) {
    size_t cl = len;
    uint8_t *clean = utf8_sanitize((const uint8_t *)text, len, &cl);
    if (!clean) return lerr_set(e, EXIT_INTERNAL, "out of memory");
    const uint8_t *s = clean;
    for (size_t i = 0; i < cl;) {
        /* the section up to the next special token (specials are never learned) */
        size_t end = cl, skip = 0;
        for (int k = 0; k < t->o.nspecials; k++) {
            size_t sl = strlen(t->o.specials[k]);
            const uint8_t *f = sl ? memmem(s + i, cl - i, t->o.specials[k], sl) : NULL;
            if (f && (size_t)(f - s) < end) {
                end = f - s;
                skip = sl;
            }
        }
        for (size_t j = i; j < end;) {
            size_t l = scan_next(t->o.scan, s + j, end - j);
            if (add_word(t, s + j, l)) {
                free(clean);
                return lerr_set(e, EXIT_INTERNAL, "out of memory");
            }
            j += l;
        }
        i = end + skip;
    }
    free(clean);
    return 0;
}

/* ---- tokens ---- */
static int add_token(bpe_trainer_t *t, const uint8_t *b, uint32_t n) {
    if (t->ntok == t->captok) {
        int c = t->captok ? t->captok * 2 : 1024;
        uint8_t **x = realloc(t->tb, c * sizeof *x);
        if (!x) return -1;
        t->tb = x;
        uint32_t *y = realloc(t->tl, c * sizeof *y);
        if (!y) return -1;
        t->tl = y;
        t->captok = c;
    }
    if (!(t->tb[t->ntok] = malloc(n ? n : 1))) return -1;
    memcpy(t->tb[t->ntok], b, n);
    t->tl[t->ntok] = n;
    if (smap_put(&t->tmap, b, n, t->ntok)) return -1;
    return t->ntok++;
}

/* ---- pair statistics ---- */
static inline uint64_t pkey(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b; }

static int heap_push(bpe_trainer_t *t, int64_t c, uint64_t p) {
    if (grow((void **)&t->heap, &t->caph, t->nh + 1, sizeof *t->heap)) return -1;
    size_t i = t->nh++;
    hitem_t x = {c, p};
    while (i) {
        size_t q = (i - 1) / 2;
        hitem_t *y = &t->heap[q];
        if (y->count > c || (y->count == c && y->pair < p)) break;
        t->heap[i] = *y;
        i = q;
    }
    t->heap[i] = x;
    return 0;
}
static hitem_t heap_pop(bpe_trainer_t *t) {
    hitem_t top = t->heap[0], x = t->heap[--t->nh];
    size_t i = 0, n = t->nh;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && (t->heap[c + 1].count > t->heap[c].count ||
                          (t->heap[c + 1].count == t->heap[c].count && t->heap[c + 1].pair < t->heap[c].pair)))
            c++;
        if (t->heap[c].count < x.count || (t->heap[c].count == x.count && t->heap[c].pair > x.pair)) break;
        t->heap[i] = t->heap[c];
        i = c;
    }
    if (n) t->heap[i] = x;
    return top;
}

/* Pair index, created if absent. -1 on OOM. */
static int64_t pair_index(bpe_trainer_t *t, uint64_t k) {
    uint64_t v;
    if (umap_get(&t->pmap, k, &v)) return (int64_t)v;
    if (grow((void **)&t->pairs, &t->capp, t->np + 1, sizeof *t->pairs)) return -1;
    t->pairs[t->np] = (pair_t){0, k, {0}};
    if (umap_put(&t->pmap, k, t->np)) return -1;
    return (int64_t)t->np++;
}

static int iv_push(ivec_t *v, int32_t x) {
    if (v->n == v->cap) {
        int32_t c = v->cap ? v->cap * 2 : 4;
        int32_t *y = realloc(v->w, c * sizeof *y);
        if (!y) return -1;
        v->w = y;
        v->cap = c;
    }
    v->w[v->n++] = x;
    return 0;
}

/* Add sign * count of word w's adjacent pairs to the statistics (sign > 0 also records w in
 * each pair's word list and pushes the new counts on the heap). */
static int count_word(bpe_trainer_t *t, int32_t w, int sign) {
    word_t *x = &t->words[w];
    for (int32_t i = 0; i + 1 < x->n; i++) {
        int64_t p = pair_index(t, pkey(x->s[i], x->s[i + 1]));
        if (p < 0) return -1;
        pair_t *q = &t->pairs[p];
        q->count += sign * x->count;
        if (sign > 0 && (iv_push(&q->words, w) || heap_push(t, q->count, q->key))) return -1;
    }
    return 0;
}

/* Replace every non-overlapping (a, b), left to right, by id c in word w. */
static void merge_word(word_t *x, int32_t a, int32_t b, int32_t c) {
    int32_t k = 0;
    for (int32_t i = 0; i < x->n; i++) {
        if (i + 1 < x->n && x->s[i] == a && x->s[i + 1] == b) {
            x->s[k++] = c;
            i++;
        } else x->s[k++] = x->s[i];
    }
    x->n = k;
}

static int apply_merge(bpe_trainer_t *t, int64_t p, int32_t c) {
    int32_t a = (int32_t)(t->pairs[p].key >> 32), b = (int32_t)(uint32_t)t->pairs[p].key;
    ivec_t ws = t->pairs[p].words;
    t->pairs[p].words = (ivec_t){0};
    t->epoch++;
    int rc = 0;
    for (int32_t i = 0; i < ws.n && !rc; i++) {
        int32_t w = ws.w[i];
        if (t->stamp[w] == t->epoch) continue;
        t->stamp[w] = t->epoch;
        rc = count_word(t, w, -1);
        merge_word(&t->words[w], a, b, c);
        rc = rc || count_word(t, w, +1);
    }
    free(ws.w);
    return rc;
}

int bpe_trainer_train(bpe_trainer_t *t, lerr_t *e) {
    for (int b = 0; b < 256; b++) {
        uint8_t x = (uint8_t)b;
        if (add_token(t, &x, 1) < 0) goto oom;
    }
    if (!(t->stamp = calloc(t->nw ? t->nw : 1, sizeof *t->stamp))) goto oom;
    for (size_t w = 0; w < t->nw; w++)
        if (count_word(t, (int32_t)w, +1)) goto oom;
    int target = t->o.vocab_size - t->o.nspecials;
    while (t->ntok < target && t->nh) {
        hitem_t top = heap_pop(t);
        uint64_t v;
        if (!umap_get(&t->pmap, top.pair, &v)) continue;
        int64_t cur = t->pairs[v].count;
        if (cur != top.count) {
            if (cur > 0 && heap_push(t, cur, top.pair)) goto oom;
            continue;
        }
        if (cur < t->o.min_frequency) break;
        int32_t a = (int32_t)(top.pair >> 32), b = (int32_t)(uint32_t)top.pair;
        uint32_t n = t->tl[a] + t->tl[b];
        uint8_t *buf = malloc(n);
        if (!buf) goto oom;
        memcpy(buf, t->tb[a], t->tl[a]);
        memcpy(buf + t->tl[a], t->tb[b], t->tl[b]);
        int32_t c = smap_get(&t->tmap, buf, n);
        if (c < 0) c = add_token(t, buf, n);
        free(buf);
        if (c < 0) goto oom;
        if (t->nmerges == t->capm) {
            int cm = t->capm ? t->capm * 2 : 1024;
            uint64_t *m = realloc(t->merges, cm * sizeof *m);
            if (!m) goto oom;
            t->merges = m;
            t->capm = cm;
        }
        t->merges[t->nmerges++] = top.pair;
        if (apply_merge(t, (int64_t)v, c)) goto oom;
    }
    return 0;
oom:
    return lerr_set(e, EXIT_INTERNAL, "out of memory");
}

void bpe_trainer_stats(const bpe_trainer_t *t, int *ntokens, int *nmerges, size_t *nwords) {
    if (ntokens) *ntokens = t->ntok;
    if (nmerges) *nmerges = t->nmerges;
    if (nwords) *nwords = t->nw;
}
int bpe_trainer_special_id(const bpe_trainer_t *t, int i) { return t->ntok + i; }

/* ---- writing tokenizer.json ---- */

/* Token bytes -> byte-level alphabet string (new jansson string). */
static json_t *alpha(const uint8_t *b, uint32_t n) {
    const uint16_t *b2c = byte_to_char();
    char *s = malloc(2 * n + 1);
    if (!s) return NULL;
    size_t k = 0;
    for (uint32_t i = 0; i < n; i++) k += utf8_enc(b2c[b[i]], (uint8_t *)s + k);
    json_t *j = json_stringn(s, k);
    free(s);
    return j;
}

static json_t *bytelevel(void) {
    return json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1, "use_regex",
                     0);
}

static json_t *tokenizer_json(const bpe_trainer_t *t) {
    json_t *vocab = json_object(), *merges = json_array(), *added = json_array();
    for (int i = 0; i < t->ntok; i++) {
        json_t *s = alpha(t->tb[i], t->tl[i]);
        json_object_set_new(vocab, json_string_value(s), json_integer(i));
        json_decref(s);
    }
    for (int i = 0; i < t->nmerges; i++) {
        int32_t a = (int32_t)(t->merges[i] >> 32), b = (int32_t)(uint32_t)t->merges[i];
        json_t *x = alpha(t->tb[a], t->tl[a]), *y = alpha(t->tb[b], t->tl[b]);
        json_array_append_new(merges, json_sprintf("%s %s", json_string_value(x), json_string_value(y)));
        json_decref(x);
        json_decref(y);
    }
    for (int i = 0; i < t->o.nspecials; i++)
        json_array_append_new(added, json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", t->ntok + i, "content",
                                               t->o.specials[i], "single_word", 0, "lstrip", 0, "rstrip", 0,
                                               "normalized", 0, "special", 1));
    json_t *pre =
        t->o.scan == SCAN_GPT2
            ? json_pack("{s:s, s:b, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1,
                        "use_regex", 1)
            : json_pack("{s:s, s:[{s:s, s:{s:s}, s:s, s:b}, o]}", "type", "Sequence", "pretokenizers", "type", "Split",
                        "pattern", "Regex", scan_pattern(t->o.scan), "behavior", "Isolated", "invert", 0, bytelevel());
    json_t *model = json_pack("{s:s, s:n, s:n, s:n, s:n, s:b, s:b, s:b, s:o, s:o}", "type", "BPE", "dropout",
                              "unk_token", "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk", 0,
                              "byte_fallback", 0, "ignore_merges", 0, "vocab", vocab, "merges", merges);
    return json_pack("{s:s, s:n, s:n, s:o, s:n, s:o, s:o, s:o, s:o}", "version", "1.0", "truncation", "padding",
                     "added_tokens", added, "normalizer", "pre_tokenizer", pre, "post_processor", bytelevel(),
                     "decoder", bytelevel(), "model", model);
}

static json_t *config_json(const bpe_trainer_t *t) {
    json_t *c =
        json_pack("{s:b, s:b, s:b, s:f, s:s}", "add_bos_token", 0, "add_eos_token", 0, "clean_up_tokenization_spaces",
                  0, "model_max_length", 1e30, "tokenizer_class", "PreTrainedTokenizerFast");
    for (int i = 0; i < t->o.nspecials; i++) {
        const char *s = t->o.specials[i];
        if (!strcmp(s, "<|startoftext|>")) json_object_set_new(c, "bos_token", json_string(s));
        if (!strcmp(s, "<|endoftext|>")) {
            json_object_set_new(c, "eos_token", json_string(s));
            json_object_set_new(c, "pad_token", json_string(s));
        }
        if (!strcmp(s, "<|mdm_mask|>")) json_object_set_new(c, "mask_token", json_string(s));
    }
    json_object_set_new(c, "chat_template", json_string(CHAT_LLADA_TEMPLATE));
    return c;
}

static int write_json(json_t *j, const char *dir, const char *name, lerr_t *e) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!j) return lerr_set(e, EXIT_INTERNAL, "out of memory building %s", name);
    int rc = json_dump_file(j, tmp, JSON_INDENT(1));
    json_decref(j);
    if (rc || rename(tmp, path)) return lerr_set(e, EXIT_IO, "%s: cannot write: %s", path, strerror(errno));
    return 0;
}

int bpe_trainer_write(const bpe_trainer_t *t, const char *dir, lerr_t *e) {
    if (mkdir(dir, 0777) && errno != EEXIST) return lerr_set(e, EXIT_IO, "%s: %s", dir, strerror(errno));
    if (write_json(tokenizer_json(t), dir, "tokenizer.json", e)) return -1;
    return write_json(config_json(t), dir, "tokenizer_config.json", e);
}
