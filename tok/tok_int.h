/* tok_int.h — the tokenizer's internal representation, shared by the tok/ library files
 * (load.c builds it; encode.c, bpe.c, added.c, pretok.c, normalize.c, decode.c use it). */
#ifndef TOK_INT_H
#define TOK_INT_H

#include "tokenizer.h"
#include "hmap.h"
#include "scan.h"

/* ---- normalizers ---- */
enum { NORM_NFC = 1, NORM_PREPEND, NORM_REPLACE, NORM_LOWERCASE, NORM_STRIP };
typedef struct {
    int kind;
    char *a;
    size_t alen;
    char *b;
    size_t blen;
    bool left, right;
} norm_op_t;

/* ---- pre-tokenizers ---- */
enum { PT_SPLIT = 1, PT_BYTELEVEL, PT_METASPACE, PT_DIGITS };
enum { SB_ISOLATED = 0, SB_REMOVED, SB_MERGED_PREV, SB_MERGED_NEXT, SB_CONTIGUOUS };
enum { PS_ALWAYS = 0, PS_FIRST, PS_NEVER };
typedef struct {
    int kind;
    /* Split: hand scanner, PCRE2 regex, or literal string */
    scan_kind_t scan;
    void *re, *md; /* pcre2_code_8 *, pcre2_match_data_8 * */
    char *lit;
    size_t litlen;
    int behavior;
    bool invert;
    /* ByteLevel */
    bool add_prefix_space, use_regex;
    /* Metaspace */
    char repl[8];
    int repl_len;
    int prepend_scheme;
    bool split;
    /* Digits */
    bool individual;
} pt_step_t;

/* ---- decoders ---- */
enum { DEC_BYTELEVEL = 1, DEC_BYTEFALLBACK, DEC_FUSE, DEC_STRIP, DEC_REPLACE, DEC_METASPACE };
typedef struct {
    int kind;
    char *a;
    size_t alen;
    char *b;
    size_t blen;     /* Replace pattern/content; Strip content */
    int start, stop; /* Strip */
    char repl[8];
    int repl_len;
    int prepend_scheme; /* Metaspace */
} dec_step_t;

/* ---- added tokens ---- */
typedef struct {
    char *content;
    size_t len; /* as matched (normalized form for normalized tokens) */
    int32_t id;
    bool special, lstrip, rstrip, single_word, normalized;
} added_t;
/* Byte trie for leftmost-longest matching. */
typedef struct {
    int32_t child, sibling, term;
    uint8_t byte;
} trie_node_t;
typedef struct {
    trie_node_t *nodes;
    int n, cap;
    int32_t root[256]; /* first node for each first byte, -1 none */
} trie_t;

/* ---- piece caches ---- */
/* Hot cache: one 64-byte line per slot holding the piece (<= 23 bytes) and its ids (<= 8),
 * so a hit costs one cache line. */
typedef struct {
    uint64_t h;
    uint8_t kb[24];
    int32_t ids[8];
} hot_slot_t; /* kb = {len, bytes...} */
#define HOT_SLOTS (1u << 16)
/* Overflow cache (direct-mapped, bounded) for pieces up to 64 bytes / any number of ids. */
typedef struct {
    uint64_t h;
    uint32_t koff, klen, toff, ntok;
} cache_slot_t;
typedef struct {
    cache_slot_t *slots;
    uint32_t mask;
    uint8_t *keys;
    size_t klen, kcap;
    int32_t *toks;
    size_t tlen, tcap;
} piece_cache_t;

struct tokenizer {
    /* model: BPE */
    smap_t vocab;  /* model input space (bytes for byte-level) -> id */
    umap_t merges; /* (a << 32 | b) -> (rank << 32 | new id) */
    char **id_str; /* id -> token string as in the file (vocab and added), NUL-terminated;
                              in sarena (one block, never moved) or, if that is full, malloc'd */
    char *sarena;
    size_t sarena_len, sarena_cap;
    uint32_t *id_len; /* id_len and id_flags live in id_str's block (freed with it) */
    int32_t n_ids;     /* size of the id space (>= 1 + highest id with a string) */
    int32_t n_vocab;   /* entries in model.vocab (HF get_vocab_size) */
    uint8_t *id_flags; /* ID_* bits */
    bool ignore_merges, byte_fallback, fuse_unk, byte_level;
    int32_t unk_id;
    int32_t byte_id[256]; /* byte-level: id of byte b's alphabet char; -1 absent */
    int32_t fb_id[256];   /* byte_fallback: id of <0xXX>; -1 absent */
    /* added tokens */
    added_t *added;
    int n_added;
    trie_t trie_raw, trie_norm;
    /* pipeline */
    norm_op_t *norm;
    int n_norm;
    pt_step_t *pt;
    int n_pt;
    scan_kind_t fast_scan; /* pipeline == one scanner over bytes (Split+ByteLevel or ByteLevel regex) */
    bool fast_none;        /* pipeline == nothing but ByteLevel(no regex, no prefix) */
    dec_step_t *dec;
    int n_dec;
    bool has_decoder;
    /* post-processor (single sequence): items; seq marks where the sequence goes */
    struct {
        bool seq;
        int32_t *ids;
        int n;
    } * post;
    int n_post;
    bool has_post;
    /* decoding fast path (decoder == ByteLevel): id -> bytes */
    uint8_t *dec_bytes;
    uint32_t *dec_off, *dec_len;
    struct dec_scratch *dscr; /* decoder chain's buffers (decode.c) */
    /* a mapped cache entry that vocab, merges and vocabulary id strings point into (cache.c) */
    void *map;
    size_t map_len;
    /* scratch */
    tok_str_t norm_out, norm_scratch; /* normalized section; normalizer intermediate */
    piece_cache_t cache;
    hot_slot_t *hot;
    int32_t *sym;
    int32_t *prev, *next;
    size_t sym_cap;
    /* long pieces (bpe.c): cut where no merge can ever join the two sides */
    uint32_t *seam_first, *seam_last; /* id -> first / last character of its vocabulary key */
    umap_t seam_pairs;                /* {(last char of a, first char of b) of every merge a b} */
    bool seam_ready, seam_wild;       /* built; some id has keys with different edge chars */
    uint64_t seam_ascii[128][2];      /* bit F of row L: ASCII pair (L, F) can be joined */
    int32_t ascii_id[128];            /* not byte-level: id of each ASCII character, -1 none */
#define CHAR_CACHE 256
    uint32_t char_cache[CHAR_CACHE][2]; /* not byte-level: (code point, id) of recent others */
    void *heap;
    size_t heap_cap;
};
enum { ID_SPECIAL = 1, ID_ADDED = 2 };

/* bpe.c */
int bpe_piece(tokenizer_t *t, const uint8_t *p, size_t n, tok_ids_t *out, lerr_t *e);
int bpe_piece_whole(tokenizer_t *t, const uint8_t *p, size_t n, tok_ids_t *out, lerr_t *e); /* reference */
int bpe_merge_linear(const tokenizer_t *t, int32_t *sym, int n); /* reference / short pieces */
int bpe_merge_heap(tokenizer_t *t, int32_t *sym, int n);         /* long pieces */
void cache_free(piece_cache_t *c);
/* added.c */
int trie_add(trie_t *tr, const char *s, size_t n, int32_t term);
void trie_free(trie_t *tr);
typedef struct {
    size_t start, end;
    int32_t added;
} span_t; /* added < 0: plain text */
typedef struct {
    span_t *v;
    size_t n, cap;
} spans_t;
int added_split(const tokenizer_t *t, const trie_t *tr, const char *s, size_t n, unsigned flags, spans_t *out);
/* normalize.c */
int normalize(tokenizer_t *t, const char *s, size_t n, tok_str_t *out, lerr_t *e); /* appends to out */
int nfc(const char *s, size_t n, tok_str_t *out);
/* pretok.c: pre-tokenize one section and run the model on each piece */
int pretok_encode(tokenizer_t *t, const char *s, size_t n, bool first_section, tok_ids_t *out, lerr_t *e);
void pt_step_free(pt_step_t *st);
int split_compile_regex(pt_step_t *st, const char *pattern, lerr_t *e);
/* bytelevel */
const uint16_t *byte_to_char(void);      /* byte -> alphabet code point */
int char_to_byte(uint32_t cp);           /* -1 if not in the alphabet */
const int16_t *char_to_byte_table(void); /* [0x180]: code point -> byte or -1 */
/* decode.c */
int decode_prepare(tokenizer_t *t, lerr_t *e);
void decode_free(tokenizer_t *t);

#endif
