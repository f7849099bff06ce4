/* cache.h — the binary cache of a parsed tokenizer.json (cache.c): the vocabulary and merge
 * tables as they sit in memory, saved once and mapped by later loads of the same file, so a
 * process pays milliseconds instead of parsing 10 MB of JSON. Used by load.c only.
 */
#ifndef TOK_CACHE_H
#define TOK_CACHE_H

#include "hmap.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TC_NONE UINT32_MAX /* id_off of an id without a string */

/* A mapped, validated cache file. The tables point into the mapping (smap/umap marked
 * borrowed); whoever ends up owning `map` unmaps it (tc_close, or the tokenizer). */
typedef struct {
    void *map;
    size_t map_len;
    const char *skel;
    size_t skel_len; /* tokenizer.json minus model.vocab / model.merges */
    smap_t vocab;
    umap_t merges;
    const uint32_t *id_off, *id_len; /* ids 0..n_vocab_ids-1 -> strs + id_off (NUL-terminated) */
    const char *strs;
    size_t strs_len;
    int32_t n_vocab;     /* entries of model.vocab (HF get_vocab_size) */
    int32_t n_vocab_ids; /* 1 + the highest vocabulary id */
} tc_view_t;

/* The vocabulary's id strings right after they were loaded (added tokens may later replace
 * some): offsets into the tokenizer's string arena. */
typedef struct {
    uint32_t *off, *len;
    int32_t n_ids;
    size_t strs_len;
} tc_snap_t;

/* Streaming 64-bit hash (four independent multiply-rotate lanes, ~1 byte/cycle or better). */
typedef struct {
    uint64_t v[4];
    uint8_t buf[32];
    size_t nbuf;
    uint64_t total;
} tc_hash_t;
void tc_hash_init(tc_hash_t *h, uint64_t seed);
void tc_hash_update(tc_hash_t *h, const void *p, size_t n);
uint64_t tc_hash_final(const tc_hash_t *h);
uint64_t tc_hash(const void *p, size_t n);

/* Files smaller than this are parsed every time (a fraction of a millisecond). */
#define TC_MIN_BYTES (1u << 20)

/* The cache folder: $LLADA_TOK_CACHE ("" / "0" / "off": no cache), else
 * $XDG_CACHE_HOME/llada-tools, else $HOME/.cache/llada-tools. NULL: caching is off.
 * Malloc'd. */
char *tc_dir(void);

/* Hash an open file from its current position to its end: 0 and *hash, *size, or -1. */
int tc_hash_fd(int fd, uint64_t *hash, uint64_t *size);

/* Map and check the cache entry for a source of this hash and size. true: *v is usable (every
 * byte checksummed, every offset and index in range); false: absent, stale or damaged (a
 * damaged entry is left for tc_write to replace). `build`: the caller's fingerprint of how it
 * builds the tables; an entry written under another one is not used. */
bool tc_open(const char *dir, uint64_t src_hash, uint64_t src_size, uint64_t build, tc_view_t *v);
void tc_close(tc_view_t *v);

/* Write the entry for a source of this hash and size, atomically (temporary file + rename).
 * Best effort: any failure (read-only or full disk) leaves no file and is not reported. */
void tc_write(const char *dir, uint64_t src_hash, uint64_t src_size, uint64_t build, const smap_t *vocab,
              const umap_t *merges, int32_t n_vocab, const tc_snap_t *snap, const char *strs, const char *skel,
              size_t skel_len);

#endif
